"""Pareto/NBD's analytic gradient (`ParetoNBDModel._total_and_grad`, and `_limit_total_and_grad` for the
limit with one dropout rate) against careful central differences of the same objective, at ordinary
parameters, alpha above, equal to and below beta, small r and alpha, and along both ridges (s and beta,
r and alpha large), with tails from the hypergeometric series (z = 1 - rho <= 0.5) and from the
quadrature; the value against the likelihood the fit used before (`_loglik_total`, scipy's hyp2f1
where it serves); and `_log_integral`'s moments against differences of the integral."""

import numpy as np
import pytest

from segkit.models import clv
from segkit.models.clv import ParetoNBDModel

# the gradient's tolerance: each component within RTOL of the differences' (relative), or ATOL (the
# objective is a mean per customer: its gradient components are 1e-4 to 10 at these points, and a wrong
# term moves one by 1e-3 or more). Seen on this data: 1e-11 (relative) at ordinary parameters; up the
# ridges the differences' own noise, the value's rounding over the step, 1e-10 to 4e-9 (absolute).
RTOL, ATOL = 1e-7, 1e-8
# far up the ridge of one dropout rate (s = 5e4) the value rounds at ~1e-10 a customer (s log beta is
# 7e5), so the differences carry ~1e-7: there the components are checked to that noise


def scaled_rows(n=1500, seed=7):
    """Distinct (x, t_x, T) in the fit's scaled units (mean age about 1) and their counts, with the edge
    cases: no repeat purchase, the last purchase at the end (t_x = T), tiny and long ages, thousands of
    purchases."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([[0, 0, 1, 3, 2000, 40, 1], rng.negative_binomial(0.6, 0.3, n)]).astype(float)
    T = np.concatenate([[1e-4, 2.0, 1.0, 1.5, 3.0, 40.0, 1e-3], rng.uniform(0.05, 2.0, n)])
    share = np.concatenate([[0, 0, 1.0, 0.5, 0.99, 0.2, 1.0], rng.uniform(0.01, 1, n)])
    t_x = np.where(x > 0, T * share, 0.0)
    (ux, utx, uT), _, counts = clv._unique_rows(x, t_x, T)
    return ux, utx, uT, counts


def differences(f, phi, h=1e-2):
    """Central differences of f at phi, Richardson-extrapolated from steps h and h/2 (an error of order
    h^4, ~1e-12 here; smaller steps leave more of the value's rounding: at h = 1e-3 up the ridge of
    one dropout rate, 5e-9, at 1e-2 5e-10)."""
    found = []
    for k in range(len(phi)):
        step = np.zeros(len(phi))
        step[k] = 1.0

        def central(h):
            return (f(phi + h * step) - f(phi - h * step)) / (2 * h)
        found.append((4 * central(h / 2) - central(h)) / 3)
    return np.array(found)


def fresh(fun):
    """fun with `_log_integral`'s kept panel edges dropped first: each value from its own edges."""
    def call(phi):
        clv._KEPT_EDGES.clear()
        return fun(phi)
    return call


# (r, alpha, s, beta) in scaled units
POINTS = [(0.55, 0.33, 0.61, 0.36),    # CDNOW's fit: alpha < beta, z near 0 (the series; _log_tail uses hyp2f1)
          (0.55, 14.0, 1.0, 3.0),      # alpha > beta, s = 1
          (0.7, 2.0, 0.9, 2.0),        # alpha = beta
          (0.6, 3.0, 0.8, 2.0),        # alpha > beta, z = (alpha - beta) / (alpha + u) below _SERIES_Z
          (0.05, 0.01, 0.3, 0.5),      # small r and alpha
          (5.0, 0.01, 3.0, 500.0),     # rho small: scipy's hyp2f1 gives NaN
          (0.8, 2.0, 400.0, 7500.0),   # up the ridge of one dropout rate
          pytest.param((0.3, 0.5, 5e4, 2e6), id="far-up-the-ridge"),  # far up it
          (3e3, 1e4, 0.6, 1.0)]        # up the ridge of one purchase rate


@pytest.mark.parametrize("v", POINTS)
def test_pareto_gradient_matches_central_differences(v):
    model = ParetoNBDModel()
    ux, utx, uT, counts = scaled_rows()
    index = clv._Index(ux, utx, uT)
    n = counts.sum()

    def fun(phi):
        total, grad = model._total_and_grad(phi, index, counts)
        return -total / n, -grad / n  # the fit's objective: a mean per customer

    phi = model._phi(np.array(v))
    value, grad = fresh(fun)(phi)
    # the same likelihood as before, when the tails came from scipy's hyp2f1 where it serves (to 1e-10:
    # the same terms in another order; up the ridges they are large and cancel, s log beta 7e5 a customer)
    assert -value * n == pytest.approx(model._loglik_total(np.array(v), ux, utx, uT, counts, index), rel=1e-10)
    expected = differences(fresh(lambda phi: fun(phi)[0]), phi)
    atol = 1e-6 if v[2] > 1e4 else ATOL  # the differences' noise far up the ridge (above)
    assert np.all(np.abs(grad - expected) <= RTOL * np.abs(expected) + atol), (v, grad, expected)


@pytest.mark.parametrize("v", [(0.55, 0.33, 0.05), (2.0, 0.01, 3.0), (0.3, 200.0, 1e-5), (0.5, 1.0, 1e-7),
                               (4e3, 1e4, 0.02)])
def test_pareto_limit_gradient_matches_central_differences(v):
    """The limit with one dropout rate mu, fitted in (log r, log alpha, log mu)."""
    model = ParetoNBDModel()
    ux, utx, uT, counts = scaled_rows(seed=9)
    index = clv._Index(ux, utx, uT)
    n = counts.sum()

    def fun(phi):
        total, grad = model._limit_total_and_grad(phi, index, counts)
        return -total / n, -grad / n

    phi = np.log(v)
    value, grad = fresh(fun)(phi)
    by_rows = clv._weighted_sum(counts, model._loglik_limit(np.array(v), ux, utx, uT, index))
    assert -value * n == pytest.approx(by_rows, rel=1e-10)
    expected = differences(fresh(lambda phi: fun(phi)[0]), phi)
    assert np.all(np.abs(grad - expected) <= RTOL * np.abs(expected) + ATOL), (v, grad, expected)


@pytest.mark.parametrize("A, m, rho", [(-0.7, 1e-6, 0.0), (-0.7, 3.0, 0.0), (0.3, 1e-9, 0.0), (2999.0, 40.0, 0.0),
                                       (-0.5, 5e3, 1e-7), (1e-3, 1e-3, 1e-10), (-0.45, 0.6, 0.4), (30.0, 2.0, 0.999)])
def test_log_integral_moments_are_its_derivatives(A, m, rho):
    """d log J / dA = -E[v], d log J / dm = -E[psi] (rho fixed), d log J / d rho = -b E[g] (b = m / rho
    fixed), each within 1e-7 (relative) of differences of `_log_integral` itself."""
    value, (mean_v, mean_psi, mean_g) = clv._log_integral(A, m, rho, moments=True)
    assert value[0] == pytest.approx(clv._log_integral(A, m, rho)[0], rel=1e-14, abs=1e-14)

    def log_j(a, b, r):
        clv._KEPT_EDGES.clear()
        return clv._log_integral(a, b, r)[0]

    h = 1e-4
    d_A = (log_j(A + h, m, rho) - log_j(A - h, m, rho)) / (2 * h)
    d_m = (log_j(A, m * (1 + h), rho) - log_j(A, m * (1 - h), rho)) / (2 * h * m)
    assert -mean_v[0] == pytest.approx(d_A, rel=1e-7, abs=1e-9)
    assert -mean_psi[0] == pytest.approx(d_m, rel=1e-7, abs=1e-9)
    if rho > 0:
        b, step = m / rho, h * rho
        d_rho = (log_j(A, b * (rho + step), rho + step) - log_j(A, b * (rho - step), rho - step)) / (2 * step)
        assert -b * mean_g[0] == pytest.approx(d_rho, rel=1e-7, abs=1e-9)
