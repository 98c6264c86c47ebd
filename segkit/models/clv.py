"""Repeat-buying models for customer lifetime value: BG/NBD, Pareto/NBD, Gamma-Gamma, predicted CLV.

Each model is a scikit-learn-style estimator fitted on the per-customer summary of
`segkit.models.repeat_summary.repeat_summary` (columns x, t_x, T and, for spend, mean_repeat_spend):
`__init__` stores its arguments, `fit(summary)` learns `params_`, `loglik_`, `se_` (standard errors
from the Hessian of the log-likelihood), `covariance_` (of the log-parameters) and returns self.

- BG/NBD: Fader, Hardie & Lee (2005), "Counting your customers the easy way: an alternative to the
  Pareto/NBD model", Marketing Science 24(2). Purchases Poisson(lambda) while alive, lambda ~
  Gamma(r, alpha); after each purchase the customer drops out with probability p ~ Beta(a, b).
- Pareto/NBD: Schmittlein, Morrison & Colombo (1987), Management Science 33(1); likelihood, P(alive)
  and conditional expectation as in Fader & Hardie (2005), "A note on deriving the Pareto/NBD model
  and related expressions". Lifetimes exponential(mu), mu ~ Gamma(s, beta).
- Gamma-Gamma spend: Fader, Hardie & Lee (2005), "RFM and CLV: using iso-value curves for customer
  base analysis", Journal of Marketing Research 42(4); Fader & Hardie (2013), "The Gamma-Gamma model
  of monetary value".

Numerics: the likelihoods are computed in log space, vectorised over the unique (x, t_x, T)
combinations weighted by their counts; the parameters are fitted as logarithms, with the time scale
divided by the mean age T (so the same data in days and in weeks follow the same optimisation path),
from several starting points. Above 200,000 customers the starting points are tried on a seeded
sample of 20,000 and the sample's maximum is refined on all customers by BFGS in coordinates
whitened by the sample's curvature (`_minimize_from_sample`): the same maximum, with a quarter or less of the
full likelihood evaluations (a million customers have ~590,000 distinct (x, t_x, T), so the grouping
above saves little there). The BG/NBD expectations are integrals over the dropout probability p
computed by Gauss quadrature (finite for any a, b > 0, including a + b < 1, a = 1, b = 1 and
thousands of purchases), instead of the Gaussian hypergeometric closed form, which has poles there.
The Pareto/NBD hypergeometric terms use Euler's transformation, so that the series has positive
terms, and their difference is taken in log space; where scipy's hyp2f1 fails (large parameters with
z near 1) or its argument z is too close to 1 to carry the digits needed, the tails are integrals of a
log-concave function computed by Gauss-Legendre panels placed around its peak (`_log_integral`), at a
cost that does not grow with the parameters (the power series needed millions of terms there).
BG/NBD, Gamma-Gamma and Pareto/NBD (with its limit of one dropout rate) are fitted with analytic
gradients. Pareto/NBD's is taken under the tail integral, on `_log_integral`'s own nodes (its
`moments`), so that value and gradient are one quadrature of bounded cost whatever the parameters,
or, where alpha and beta are close, from the terms of the hypergeometric series that give the value
(`_log_hyp2f1_one_and_grad`, ~50 terms there). An earlier analytic gradient, through scipy's
hypergeometric series and central differences in r and s, led a degenerate fit (six customers with
two identical histories) to parameters where the series needed millions of terms, and was reverted
(tests/test_value_scale.py fits those data). Its limits with one purchase rate keep finite-difference
gradients (their likelihoods cost little: a tail per distinct time, or a closed form). Without
heterogeneity in dropout, BG/NBD's a and b, and Pareto/NBD's s and beta, grow together without
bound: each is fitted in coordinates where that is one parameter running to its bound, and its
limit with one dropout probability or rate for everyone is used instead (a ConvergenceWarning says
so). Without heterogeneity in purchase rates, r and alpha grow together with r / alpha = lambda
fixed (the gamma mixing distribution collapses to a point mass at lambda): BG/NBD then compares its
limit with one Poisson purchase rate lambda for everyone, alone or with one dropout probability p
(`BGNBDModel._fit_limits`).
"""

from __future__ import annotations

import copy
import hashlib
import warnings
from functools import cached_property, lru_cache

import numpy as np
import pandas as pd
from numpy.polynomial.legendre import leggauss
from scipy import optimize
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1, roots_jacobi
from scipy.stats import nbinom, norm, poisson
from threadpoolctl import threadpool_limits

from segkit.errors import DataError, ParamsError
from segkit.models.repeat_summary import UNIT_DAYS, unit_days

__all__ = ["BGNBDModel", "ParetoNBDModel", "GammaGammaModel", "ConvergenceWarning", "predicted_clv",
           "holdout_check", "group_intervals", "horizon_purchases"]

_BOUND = 18.0  # log-parameters are kept in [-18, 18]; reaching it means no interior maximum
# a parameter whose standard error is above this many times its value is not pinned down by the data (on
# CDNOW subsamples of 50-200 customers, ordinary fits reach 10-32 times on s and beta, or a and b)
_LOOSE_SE = 100.0
# a fit with r above this (the purchase rates' gamma shape: their coefficient of variation is 1 / sqrt(r),
# here 18%) is compared with its limit of one purchase rate for every customer
_RIDGE_R = 30.0


class ConvergenceWarning(UserWarning):
    """A model fit did not end at an interior maximum of the likelihood (the warning says which
    limit was used instead, or what to check). Besides its text it says `model` (its name) and
    `kind`: "limit" (no heterogeneity in dropout, in purchase rates or in both: the limiting model
    was fitted instead, a proper fit that `limit_` describes; `limit` says which: "dropout", "rate"
    or "rate_and_dropout", and `detail` its fitted value), "bound" (parameters ran to the limit of the
    search; `detail` names them), "stopped" (the optimiser stopped before a maximum; `detail` is its
    message), "flat" (the log-likelihood is not concave at the fitted parameters, clearly rising
    along some direction: no standard errors) or "loose" (a maximum that the data do not pin down: a
    parameter's standard error is more than _LOOSE_SE times its value, or the log-likelihood is flat
    along it, not concave only within rounding, see `_covariance`; `detail` names them). All but
    "limit" mean the fit did not converge (`converged_` False)."""

    def __init__(self, message: str, model: str = "", kind: str = "", detail: str = "", limit: str = ""):
        super().__init__(message)
        self.model, self.kind, self.detail, self.limit = model, kind, detail, limit


# ---------------------------------------------------------------------------------------------
# input checks

def _customer_names(summary: pd.DataFrame, mask: np.ndarray) -> str:
    ids = summary["customer_id"] if "customer_id" in summary.columns else pd.Series(summary.index)
    bad = np.asarray(ids)[mask]
    shown = ", ".join(repr(str(v)) for v in bad[:3])
    more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
    return f"customer {shown}{more}"


def check_summary(summary: pd.DataFrame, columns=("x", "t_x", "T")) -> dict[str, np.ndarray]:
    """The summary's columns as float arrays, after checking that every row can be: x a whole
    number >= 0, 0 <= t_x <= T, t_x = 0 exactly when x = 0, no missing values.

    Raises DataError naming the first customers (customer_id, else the row label) that break a rule.
    """
    if not isinstance(summary, pd.DataFrame):
        raise DataError(f"summary must be a DataFrame with columns {', '.join(columns)}, "
                        f"got {type(summary).__name__}")
    missing = [c for c in columns if c not in summary.columns]
    if missing:
        raise DataError(f"summary lacks column(s) {', '.join(missing)}; make it with segkit's repeat_summary")
    out = {}
    for c in columns:
        try:
            values = summary[c].to_numpy(dtype=float)
        except (TypeError, ValueError):
            raise DataError(f"summary column {c!r} must be numeric, got {summary[c].dtype}") from None
        bad = ~np.isfinite(values)
        if bad.any():
            raise DataError(f"{_customer_names(summary, bad)}: {c} is missing or infinite; "
                            "every customer needs a number")
        out[c] = values
    if "x" in out:
        x = out["x"]
        for mask, why in ((x < 0, "x (repeat purchases) must be >= 0"),
                          (x != np.round(x), "x (repeat purchases) must be a whole number")):
            if mask.any():
                raise DataError(f"{_customer_names(summary, mask)}: {why}, got {x[mask][0]:g}")
    if "T" in out:
        T = out["T"]
        if (T < 0).any():
            raise DataError(f"{_customer_names(summary, T < 0)}: T (age) must be >= 0, got {T[T < 0][0]:g}")
    if "t_x" in out and "T" in out:
        x, t_x, T = out["x"], out["t_x"], out["T"]
        rules = ((t_x < 0, "t_x must be >= 0"),
                 (t_x > T * (1 + 1e-12), "t_x (time of the last purchase) must be <= T (age)"),
                 ((x == 0) & (t_x > 0), "t_x > 0 needs x >= 1 (a last purchase after the first)"),
                 ((x > 0) & (t_x == 0), "x >= 1 needs t_x > 0 (repeat purchases are on later days)"))
        for mask, why in rules:
            if mask.any():
                i = np.flatnonzero(mask)[0]
                raise DataError(f"{_customer_names(summary, mask)}: {why}; got x={x[i]:g}, t_x={t_x[i]:g}, "
                                f"T={T[i]:g}")
    return out


def _resolve_unit(summary: pd.DataFrame, stated: str | None, who: str) -> str:
    found = summary.attrs.get("time_unit")
    if stated is not None:
        unit_days(stated)
    if stated is not None and found is not None and stated != found:
        raise ParamsError(f"{who}: time_unit={stated!r} but the summary is in {found!r}; "
                          "make the summary in the model's unit or leave time_unit unset")
    unit = stated or found
    if unit is None:
        raise ParamsError(f"{who}: the summary does not say its time unit; pass time_unit='weeks' "
                          "(or 'days', 'months') to the model")
    return unit


def _check_fit_data(x, t_x, T, who: str) -> None:
    if len(x) < 2:
        raise DataError(f"{who} needs at least 2 customers, got {len(x)}")
    if T.max() == 0:
        raise DataError(f"{who}: all purchases are on one day (every T is 0); "
                        "choose a later calibration_end or more data")
    if x.sum() == 0:
        raise DataError(f"{who}: no customer has a repeat purchase in the calibration period "
                        f"({len(x)} customers, all x = 0); the model cannot learn how often customers buy "
                        "again: choose a later calibration_end or more data")


_KEPT_ROWS: dict = {}  # the last groupings of _unique_rows, under a digest of their columns, oldest first
_KEEP_GROUPINGS = 4


def _unique_rows(*columns: np.ndarray):
    """The distinct rows of the columns (sorted, so independent of the row order), each row's
    position among them, and how many rows each stands for.

    The last few groupings are kept under a digest of the columns: the value stage groups the same
    customers' (x, t_x, T) for BG/NBD and Pareto/NBD, and again for P(alive), the predictions and
    the intervals, between which it groups (x, T) and Gamma-Gamma's (x, spend) (0.3 s each at a
    million customers); copies are returned."""
    key = _digest(*(np.asarray(c, dtype=float) for c in columns))
    if key not in _KEPT_ROWS:
        frame = pd.DataFrame(dict(enumerate(columns)))
        codes = frame.groupby(list(frame.columns), sort=True).ngroup().to_numpy()
        counts = np.bincount(codes)
        first = np.empty(len(counts), dtype=np.int64)
        first[codes[::-1]] = np.arange(len(codes))[::-1]  # the first row of each distinct value
        while len(_KEPT_ROWS) >= _KEEP_GROUPINGS:
            _KEPT_ROWS.pop(next(iter(_KEPT_ROWS)))
        _KEPT_ROWS[key] = ([np.asarray(c)[first] for c in columns], codes, counts.astype(float))
    distinct, codes, counts = _KEPT_ROWS[key]
    return [c.copy() for c in distinct], codes.copy(), counts.copy()


def _digest(*arrays: np.ndarray) -> bytes:
    """A digest of the arrays' values (BLAKE2b, 32 bytes): a short key for results kept between calls."""
    found = hashlib.blake2b(digest_size=32)
    for a in arrays:
        a = np.ascontiguousarray(a)
        found.update(f"{a.dtype.str}{a.shape}".encode())
        found.update(a.view(np.uint8))
    return found.digest()


def _weighted_sum(weights, values):
    """sum_i weights[i] * values[i] (along the first axis) without BLAS: on a busy machine, BLAS
    threads woken for one large product slow every later step of the optimiser."""
    values = np.asarray(values)
    return (weights.reshape(-1, *[1] * (values.ndim - 1)) * values).sum(axis=0)


_KEPT_INDEX: dict = {}  # the last _Index made by _index_of, under a digest of its rows


def forget_cached() -> None:
    """Drop the kept groupings and index (`_unique_rows`, `_index_of`): a kernel handed to the next
    notebook frees them."""
    _KEPT_ROWS.clear()
    _KEPT_INDEX.clear()
    _KEPT_EDGES.clear()


def _index_of(x, t_x, T) -> "_Index":
    """`_Index(x, t_x, T)`, the last one kept under a digest of the rows: BG/NBD and Pareto/NBD are
    fitted on the same distinct rows (its sorts take 0.3 s at a million customers)."""
    key = _digest(*(np.asarray(c, dtype=float) for c in (x, t_x, T)))
    if _KEPT_INDEX.get("key") != key:
        _KEPT_INDEX.clear()
        _KEPT_INDEX.update(key=key, index=_Index(np.asarray(x, float).copy(), np.asarray(t_x, float).copy(),
                                                 np.asarray(T, float).copy()))
    return _KEPT_INDEX["index"]


class _Index:
    """Unique values of x and of the times (t_x and T together) with each row's place in them, so
    that the functions of x alone or of a time alone are computed once per value, not per row
    (read only once made: `_index_of` shares one between fits)."""

    def __init__(self, x, t_x, T):
        self.x, self.t_x, self.T = x, t_x, T
        self.xs, self.of_x = np.unique(x, return_inverse=True)
        self.times, where = np.unique(np.concatenate([t_x, T]), return_inverse=True)
        self.of_tx, self.of_T = where[:len(x)], where[len(x):]

    @cached_property
    def pairs(self):
        """Unique (x, time) pairs among the rows' (x, t_x) and (x, T), and each row's two places."""
        width = len(self.times)
        keys = np.concatenate([self.of_x * width + self.of_tx, self.of_x * width + self.of_T])
        unique, where = np.unique(keys, return_inverse=True)
        return self.xs[unique // width], self.times[unique % width], where[:len(self.x)], where[len(self.x):]


# ---------------------------------------------------------------------------------------------
# fitting helpers

_FTOL = 1e-14  # L-BFGS-B's relative reduction of the objective below which a run ends
# a scouting run (`_minimize`'s `scout`) ending this close (relative) to the best so far is in its basin
_SCOUT_SAME = 1e-7


def _minimize(fun, starts, bounds, jac: bool = False, stop=None, scout: float | None = None, settled=None):
    """The best of several L-BFGS-B runs (stopping early once two of them end at the same value, or
    once `stop(result)` of a run says so); `converged` when the optimiser succeeded or stopped with a
    negligible gradient (the objective is a mean per customer, so 1e-6 is tight).

    `scout`: every starting point is first run with this looser tolerance (ftol), two ending within
    `_SCOUT_SAME` (relative) of each other count as one maximum, and only the best is then run on to
    the full tolerance (`_FTOL`), unless `settled(best)` says it need not be (it is then marked
    `scouted`, for the caller to finish if it keeps it). Where the objective is flat (a likelihood
    rising ever more slowly along a ridge), a run to the full tolerance crawls for hundreds of
    evaluations to settle differences far below what the fit can tell apart."""
    def safe(theta):
        out = fun(theta)
        value = out[0] if jac else out
        if np.isfinite(value) and (not jac or np.isfinite(out[1]).all()):
            return out
        return (1e10, np.zeros(len(theta))) if jac else 1e10

    def run(start, ftol):
        # one BLAS thread: the optimiser's steps are tiny, and idle BLAS threads competing for the
        # cores made fits 2-3 times slower on a busy machine
        with np.errstate(all="ignore"), threadpool_limits(1, user_api="blas"):
            res = optimize.minimize(safe, np.asarray(start, float), jac=jac, method="L-BFGS-B", bounds=bounds,
                                    options=dict(maxiter=5000, ftol=ftol, gtol=1e-8))
        res.converged = bool(res.success or np.max(np.abs(res.jac)) < 1e-6)
        return res

    same = 1e-10 if scout is None else _SCOUT_SAME
    best, agreed = None, 0
    for start in starts:
        if agreed >= 2:  # two starting points already ended at the same maximum
            break
        res = run(start, _FTOL if scout is None else scout)
        if best is not None and abs(res.fun - best.fun) < same * max(1.0, abs(best.fun)):
            agreed += 1
        elif best is None or res.fun < best.fun:
            agreed = 1
        if best is None or res.fun < best.fun - 1e-12:
            best = res
        if stop is not None and stop(res):
            break
    if scout is not None:
        if settled is not None and settled(best):
            best.scouted = True
        else:  # run on from where it ended, to the full tolerance
            done = run(best.x, _FTOL)
            best = done if done.fun <= best.fun else best
    return best


# Above this many customers a fit first finds the maximum on a random sample of about
# _SAMPLE_CUSTOMERS of them, then refines it on all customers (see _minimize_from_sample).
_SAMPLE_ABOVE = 200_000
_SAMPLE_CUSTOMERS = 20_000


def _sample_counts(counts: np.ndarray, customers: int) -> np.ndarray:
    """Each distinct row's number of customers in a random sample of about `customers` of them (each
    customer kept with the same probability, by binomial thinning of the counts, seed 0, so the
    sample is always the same for the same data); zero for rows without a sampled customer."""
    share = min(1.0, customers / float(counts.sum()))
    return np.random.default_rng(0).binomial(np.round(counts).astype(np.int64), share).astype(float)


def _minimize_from_sample(full, sample, starts, bounds, customers: float, jac: bool = False, plain=None):
    """The maximum-likelihood fit of `_minimize(full, starts, bounds, jac)`, reached with far fewer
    evaluations of `full` when there are many customers.

    `full` is the negative mean log-likelihood of all `customers` (with its gradient when `jac`),
    `sample` the same of a random sample of them (`_sample_counts`), or None. The several starting
    points are tried on the sample (cheap); its maximum and its Hessian H (the sample's mean
    curvature, which estimates the full data's) then start a BFGS refinement on all customers in
    the coordinates phi = L^T (theta - theta_sample), L L^T = customers x H, in which the total
    log-likelihood is close to -|phi - phi*|^2 / 2 (a unit of phi is about one standard error), so
    that BFGS, starting from the identity, takes Newton steps with the sample's curvature and ends in
    a few iterations. It is the same maximum, only found from a closer start: where the sample
    fit has no interior maximum, its curvature is not positive definite, or the refinement does not
    converge inside the bounds, the plain `_minimize` on all customers is used instead (or `plain(full,
    starts, bounds)`, the model's own way on all customers, when given).
    """
    def on_all():
        return plain(full, starts, bounds) if plain is not None else _minimize(full, starts, bounds, jac)

    if sample is None:
        return on_all()
    found = _minimize(sample, starts, bounds, jac)
    lows, highs = np.array([b[0] for b in bounds], float), np.array([b[1] for b in bounds], float)
    inside = (found.x > lows + 1.0).all() and (found.x < highs - 1.0).all()
    refined = _refine(full, found.x, _curvature(sample, found.x, jac), customers, jac) \
        if found.converged and inside else None
    if refined is None or not ((refined.x > lows + 1e-3).all() and (refined.x < highs - 1e-3).all()):
        return on_all()
    return refined


def _sample_rows(columns, counts: np.ndarray):
    """The distinct rows (`columns`, first one x) and counts of the sample of `_sample_counts`,
    when there are more than _SAMPLE_ABOVE customers and the sample can carry a fit (two rows or
    more, some repeat purchases, ages above 0); else None."""
    if counts.sum() <= _SAMPLE_ABOVE:
        return None
    sampled = _sample_counts(counts, _SAMPLE_CUSTOMERS)
    keep = sampled > 0
    columns, sampled = [np.asarray(c)[keep] for c in columns], sampled[keep]
    if len(sampled) < 2 or not (columns[0] * sampled).sum() > 0 or not columns[-1].max() > 0:
        return None
    return columns, sampled


def _curvature(fun, theta: np.ndarray, jac: bool) -> np.ndarray:
    """The Hessian of `fun` at theta: central differences of its gradient when `jac`, else second
    differences of its value."""
    with np.errstate(all="ignore"), threadpool_limits(1, user_api="blas"):
        if not jac:
            return _numerical_hessian(fun, theta)
        k, h = len(theta), 1e-4
        H = np.empty((k, k))
        for i in range(k):
            step = np.eye(k)[i] * h
            H[:, i] = (fun(theta + step)[1] - fun(theta - step)[1]) / (2 * h)
        return (H + H.T) / 2


def _refine(fun, start: np.ndarray, H: np.ndarray, customers: float, jac: bool):
    """BFGS on all customers from `start`, in the coordinates whitened by `customers` x H (see
    `_minimize_from_sample`); an OptimizeResult with x (theta), fun (mean, as `fun`), converged,
    message, or None when H is not positive definite or BFGS ends with a gradient above 1e-3 (in
    these coordinates, a thousandth of a standard error from the maximum)."""
    try:
        lower = np.linalg.cholesky(customers * (H + H.T) / 2)
    except np.linalg.LinAlgError:
        return None
    back = np.linalg.inv(lower.T)  # theta = start + back @ phi
    with np.errstate(all="ignore"), threadpool_limits(1, user_api="blas"):
        first = fun(start)
        origin = first[0] if jac else first
        if not np.isfinite(origin):
            return None

        calls = [0]

        def total(phi):  # the total negative log-likelihood less its value at the start (and its gradient)
            calls[0] += 1
            if calls[0] > _REFINE_CALLS:  # not the few steps expected from so close a start
                raise _NotRefined
            out = fun(start + back @ phi)
            value = customers * ((out[0] if jac else out) - origin)
            if not np.isfinite(value) or (jac and not np.isfinite(out[1]).all()):
                return (1e10, np.zeros(len(phi))) if jac else 1e10
            return (value, back.T @ (customers * out[1])) if jac else value

        def with_differences(phi, h=1e-3):
            # forward differences, less the h / 2 that the curvature (the identity, in these
            # coordinates) adds to each: the error left is h / 2 times the sample's error in the
            # curvature, ~1e-5 standard errors, while a step of 1e-3 keeps the rounding of the
            # total (~1e-9 at a million customers) far below the 1e-4 asked of the gradient
            value = total(phi)
            steps = np.array([total(phi + h * e) for e in np.eye(len(phi))])
            return value, (steps - value) / h - h / 2

        try:
            res = optimize.minimize(total if jac else with_differences, np.zeros(len(start)), method="BFGS", jac=True,
                                    options=dict(maxiter=_REFINE_CALLS, gtol=1e-5 if jac else 1e-4))
        except _NotRefined:
            return None
    if not (res.success or np.max(np.abs(res.jac)) < 1e-3):
        return None
    return optimize.OptimizeResult(x=start + back @ res.x, fun=float(origin + res.fun / customers), converged=True,
                                   success=True, message=res.message, nit=res.nit, nfev=calls[0])


class _NotRefined(Exception):
    """The refinement took more evaluations than a close start needs (see `_refine`)."""


_REFINE_CALLS = 100  # evaluations of the full objective; a refinement takes ~10-40


def _numerical_hessian(f, theta: np.ndarray, h: float = 1e-3) -> np.ndarray:
    """Central second differences of a scalar function (the log-parameters are well scaled, so one
    step size serves all). Their rounding error, the function's over h^2 (~1e-7 for a total
    log-likelihood of a few hundred customers), exceeds the curvature along a ridge where the
    likelihood has no maximum; `_covariance` reads such a Hessian accordingly."""
    k = len(theta)
    H = np.empty((k, k))
    f0 = f(theta)
    step = np.eye(k) * h
    for i in range(k):
        H[i, i] = (f(theta + step[i]) - 2 * f0 + f(theta - step[i])) / h ** 2
        for j in range(i):
            H[i, j] = H[j, i] = (f(theta + step[i] + step[j]) - f(theta + step[i] - step[j])
                                 - f(theta - step[i] + step[j]) + f(theta - step[i] - step[j])) / (4 * h ** 2)
    return H


def _covariance(H: np.ndarray, who: str) -> tuple[np.ndarray, bool]:
    """The covariance of the log-parameters from the Hessian H (k x k) of the total negative
    log-likelihood, and whether H is positive definite (the log-likelihood concave at the fit, a
    maximum): then the covariance is the inverse of H.

    Otherwise the fit is not a maximum, and the covariance says how it fails. When no eigenvalue of
    H is below -1 / (k _LOOSE_SE^2), the log-likelihood is flat along the eigen-directions of those
    near zero, to well within what the loose check asks (it changes by under 1/2 over sqrt(k)
    _LOOSE_SE log-units), whichever their sign: as on a ridge where parameters run up together
    without a maximum (Pareto/NBD's s and beta on data without dropout change the log-likelihood
    by ~1e-8 over a factor e^4; its curvature along the ridge, ~1e-9 and changing sign with the
    step, is far below the ~1e-7 rounding error of `_numerical_hessian`, so that whether H comes
    out positive definite depends on the host's floating-point paths, and no step makes it
    reliably so). The covariance is then the inverse of |H| (each eigenvalue taken
    by its magnitude, at least the rounding of the largest): along each direction, the distance over
    which the log-likelihood changes by 1/2, up or down, hundreds of log-units along a flat one,
    whose largest component (at least 1/sqrt(k) of it) then has a standard error above _LOOSE_SE
    on the scale it is fitted in; `_loose` names it, and the fit reports kind "loose", not
    converged, whichever sign the rounding gave. When an eigenvalue is below -1 / (k _LOOSE_SE^2)
    (the log-likelihood clearly rises along its direction: a saddle), a ConvergenceWarning of kind
    "flat" says so and the covariance is infinite (standard errors not defined).
    """
    H = (H + H.T) / 2
    try:
        np.linalg.cholesky(H)
        return np.linalg.inv(H), True
    except np.linalg.LinAlgError:
        pass
    flat = 1.0 / (len(H) * _LOOSE_SE ** 2)
    values, vectors = np.linalg.eigh(H) if np.isfinite(H).all() else (np.full(len(H), -np.inf), None)
    if values.min() > -flat:
        floor = max(np.finfo(float).eps * np.abs(values).max(), np.finfo(float).tiny)
        return (vectors / np.maximum(np.abs(values), floor)) @ vectors.T, False
    warnings.warn(ConvergenceWarning(f"{who}: the log-likelihood is flat or not concave at the fitted parameters, "
                                     "so the standard errors are not defined (reported as infinite)",
                                     model=who, kind="flat"), stacklevel=4)
    return np.diag(np.full(len(H), np.inf)), False


def _loose(params: dict, se: dict, sd: np.ndarray, concave: bool) -> list[str]:
    """The parameters that the data do not pin down: a finite standard error above _LOOSE_SE times
    the value; where the Hessian was not positive definite (`_covariance`, `concave` False), also
    one whose standard error on the scale it is fitted in (log, logit for a probability) `sd` is
    above _LOOSE_SE, which names at least one parameter of each flat direction."""
    return [k for (k, v), s in zip(params.items(), sd)
            if np.isfinite(se[k]) and (se[k] > _LOOSE_SE * abs(v) or (not concave and s > _LOOSE_SE))]


def _warn_loose(who: str, loose: list[str], described: str) -> None:
    """The ConvergenceWarning of kind "loose" for the fit of `who` (at parameters `described`), naming
    the parameters `loose` (`_loose`); raised from a fit, for the caller of `fit`."""
    warnings.warn(ConvergenceWarning(f"{who} fit: the data do not pin down {', '.join(loose)} (standard error more "
                                     f"than {_LOOSE_SE:g} times the value, or the log-likelihood flat along them, at "
                                     f"{described}); the estimates are not reliable",
                                     model=who, kind="loose", detail=", ".join(loose)), stacklevel=3)


# ---------------------------------------------------------------------------------------------
# expectations over the dropout probability p ~ Beta(a, B), by composite Gauss quadrature

_NODES, _PANELS, _CHUNK = 12, 10, 1024  # chunks of rows small enough to stay in cache
_GL_U, _GL_W = leggauss(_NODES)
_ENDPOINT_B = 60.0  # below this, (1 - p)^(B-1) is rough enough at p = 1 to need its own nodes


def _rate_over_beta(a: float, B, R, A, times, gradient: bool = False):
    """E[(1 - (A / (A + p t))^R) / p] for p ~ Beta(a, B), for each row (B, R, A) and each time t.

    That is a BG/NBD customer's expected purchases in the next t periods when alive now, with
    lambda ~ Gamma(R, A) and p ~ Beta(a, B). The interval [0, 1] is cut into geometric panels
    starting below the scales of the integrand (A / (R t) and 1 / B); the first panel uses
    Gauss-Jacobi nodes for the p^(a-1) endpoint, the last one Gauss-Jacobi nodes for (1 - p)^(B-1)
    when B is small, the others Gauss-Legendre; weights are normalised in log space.
    Returns an array (rows, times); with `gradient`, also its derivatives in R, A, a and B, an
    array (4, rows, times), from the same logarithms (`_rate_chunk_gradient`): what
    `group_intervals` needs for its delta method, instead of eight integrals at perturbed parameters.
    """
    B, R, A = (np.asarray(v, float).ravel() for v in np.broadcast_arrays(B, R, A))
    times = np.atleast_1d(np.asarray(times, float))
    out = np.zeros((len(B), len(times)))
    grad = np.zeros((4, len(B), len(times))) if gradient else None
    positive = times > 0
    if positive.any():
        ju, jw = roots_jacobi(_NODES, 0.0, a - 1.0)
        for start in range(0, len(B), _CHUNK):
            rows = slice(start, start + _CHUNK)
            found = _rate_chunk(a, B[rows], R[rows], A[rows], times[positive], ju, jw, gradient)
            if gradient:
                out[rows, positive], grad[:, rows][:, :, positive] = found
            else:
                out[rows, positive] = found
    return (out, grad) if gradient else out


def _poisson_rate_over_beta(a: float, B, lam: float, times) -> np.ndarray:
    """E[(1 - exp(-lam p t)) / p] for p ~ Beta(a, B), for each row B and each time t: a customer's
    expected purchases in the next t periods when alive now, with one Poisson purchase rate lam and
    p ~ Beta(a, B) (`_rate_over_beta` in the limit R, A -> infinity with R / A = lam, as
    (A / (A + p t))^R -> exp(-lam p t)). In closed form lam t 2F2(1, a; 2, a + B; -lam t), an
    alternating series: computed instead by `_rate_over_beta`'s quadrature over p. (rows, times)"""
    B = np.asarray(B, float).ravel()
    times = np.atleast_1d(np.asarray(times, float))
    out = np.zeros((len(B), len(times)))
    positive = times > 0
    if positive.any():
        ju, jw = roots_jacobi(_NODES, 0.0, a - 1.0)
        inverse = np.full(len(B), 1.0 / lam)
        for start in range(0, len(B), _CHUNK):
            rows = slice(start, start + _CHUNK)
            out[rows, positive] = _rate_chunk(a, B[rows], None, inverse[rows], times[positive], ju, jw)
    return out


@lru_cache(maxsize=4096)
def _jacobi_last_panel(b_value: float) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Jacobi nodes and the log of their weights for (1 - p)^(b_value - 1) on the last panel
    (the same few B = b + x recur in every chunk and every call, so they are computed once)."""
    lu, lw = roots_jacobi(_NODES, b_value - 1.0, 0.0)
    return lu, np.log(lw)


def _rate_chunk(a, B, R, A, times, ju, jw, gradient: bool = False):
    # a fit at its bounds (a degenerate a, a beta of 1e5) gives nodes whose logarithms are not finite:
    # the expectation is then not a number, which the fit's caveat explains; no RuntimeWarning reaches
    # the page (a notebook shows it with this file's path and line)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return _rate_chunk_values(a, B, R, A, times, ju, jw, gradient)


def _rate_chunk_values(a, B, R, A, times, ju, jw, gradient: bool = False):
    # R None: one Poisson rate 1 / A for every row, the integrand (1 - exp(-p t / A)) / p
    s0 = 0.01 * np.minimum(np.minimum(A / (times.max() * (1.0 if R is None else np.maximum(R, 1.0))), 1.0 / B), 1.0)
    edges = s0[:, None] ** (1.0 - np.arange(_PANELS) / (_PANELS - 1))[None, :]
    p0 = s0[:, None] * (1 + ju) / 2
    lw0 = np.log(jw) + a * np.log(s0 / 2)[:, None] + (B - 1)[:, None] * np.log1p(-p0)
    lo, hi = edges[:, :-1], edges[:, 1:]
    half, mid = (hi - lo) / 2, (hi + lo) / 2
    p1 = np.minimum(mid[..., None] + half[..., None] * _GL_U, 1 - 1e-16)
    lw1 = np.log(_GL_W) + np.log(half)[..., None] + (a - 1) * np.log(p1) + (B - 1)[:, None, None] * np.log1p(-p1)
    small = np.flatnonzero(B < _ENDPOINT_B)
    if len(small):  # Jacobi nodes for (1 - p)^(B-1) on the last panel, gathered per row from each B's nodes
        values, which = np.unique(B[small], return_inverse=True)
        nodes = [_jacobi_last_panel(float(v)) for v in values]
        lu, log_lw = np.array([n[0] for n in nodes])[which], np.array([n[1] for n in nodes])[which]
        h = half[small, -1][:, None]
        p_last = lo[small, -1][:, None] + h * (1 + lu)
        p1[small, -1] = p_last
        lw1[small, -1] = log_lw + B[small][:, None] * np.log(h) + (a - 1) * np.log(p_last)
    p = np.concatenate([p0, p1.reshape(len(B), -1)], axis=1)
    logw = np.concatenate([lw0, lw1.reshape(len(B), -1)], axis=1)
    w = np.exp(logw - logw.max(axis=1, keepdims=True))
    if gradient:
        last = (small, lo[small, -1], half[small, -1]) if len(small) else None
        return _rate_chunk_gradient(a, B, R, A, times, p, w, logw.max(axis=1), s0, last)
    w /= w.sum(axis=1, keepdims=True)
    w /= p  # the integrand is (1 - (A / (A + p t))^R) / p: its 1 / p joins the weights once for all times
    scaled = p / A[:, None]
    out = np.empty((len(B), len(times)))
    term = np.empty_like(scaled)
    if R is None:
        for k, t in enumerate(times):  # expm1(-p t / A) for each node
            np.multiply(scaled, -t, out=term)
            np.expm1(term, out=term)
            out[:, k] = np.einsum("ij,ij->i", w, term)
        return -out
    minus_R = -R[:, None]
    for k, t in enumerate(times):  # in place, one buffer: expm1(-R log1p(p t / A)) for each node
        np.multiply(scaled, t, out=term)
        np.log1p(term, out=term)
        np.multiply(term, minus_R, out=term)
        np.expm1(term, out=term)
        out[:, k] = np.einsum("ij,ij->i", w, term)
    return -out


def _rate_chunk_gradient(a, B, R, A, times, p, scaled_w, top, s0, last):
    """`_rate_chunk`'s integrals I (the same numbers) and their derivatives in R, A, a and B, an
    array (4, rows, times).

    With the unnormalised weights W (`scaled_w`: exp(log W - top)), I = N / D, N = sum W g, D = sum W,
    g = (1 - (1 + z)^-R) / p, z = p t / A. In R and A only g moves: dg/dR = (1 + z)^-R log(1 + z) / p,
    dg/dA = -R (1 + z)^-(R+1) z / (A p). In a and B the weights move: on the Gauss-Legendre panels
    and the Jacobi first panel's (1 - p)^(B-1), dW/da = W log p and dW/dB = W log(1 - p), on the
    same nodes; on the panels whose Gauss-Jacobi rule holds the endpoint factor (the first for
    p^(a-1), the last for (1 - p)^(B-1) when B is small) the logarithm is singular, so there the
    panel's own sums are differenced at a and B a relative 1e-5 on either side, its edges kept.
    The derivatives of the integral, not of its quadrature at moved nodes: they differ from central
    differences of `_rate_over_beta` by its error, ~1e-9 of them."""
    rows, nodes = p.shape
    first = slice(0, _NODES)
    D = scaled_w.sum(axis=1)
    w = scaled_w / D[:, None] / p  # as _rate_chunk's: I = -sum w expm1(-R log1p(z))
    W = scaled_w / p  # unnormalised, with g's 1 / p
    log_p, log_q = np.log(p), np.log1p(-p)
    W_a, W_b = W * log_p, W * log_q
    D_a, D_b = scaled_w * log_p, scaled_w * log_q
    W_a[:, first] = D_a[:, first] = 0.0  # the first panel: differenced below
    panels = []  # (rows, first column, nodes, weights W / p, weight sum W, step, which derivative)
    step_a = 1e-5 * a
    for sign in (1.0, -1.0):
        ju, jw = roots_jacobi(_NODES, 0.0, a + sign * step_a - 1.0)
        p0 = s0[:, None] * (1 + ju) / 2
        lw0 = np.log(jw) + (a + sign * step_a) * np.log(s0 / 2)[:, None] + (B - 1)[:, None] * np.log1p(-p0)
        w0 = np.exp(lw0 - top[:, None])
        panels.append((slice(None), p0, w0 / p0, w0.sum(axis=1), sign / (2 * step_a), 2))
    if last is not None:
        small, lo, half = last
        W_b[small, -_NODES:] = D_b[small, -_NODES:] = 0.0
        for sign in (1.0, -1.0):
            Bs = B[small] * (1 + sign * 1e-5)
            values, which = np.unique(Bs, return_inverse=True)
            rules = [_jacobi_last_panel(float(v)) for v in values]
            lu, log_lw = np.array([n[0] for n in rules])[which], np.array([n[1] for n in rules])[which]
            h = half[:, None]
            pl = lo[:, None] + h * (1 + lu)
            wl = np.exp(log_lw + Bs[:, None] * np.log(h) + (a - 1) * np.log(pl) - top[small, None])
            panels.append((small, pl, wl / pl, wl.sum(axis=1), sign / (2 * B[small] * 1e-5), 3))
    D_parts = np.zeros((4, rows))
    D_parts[2], D_parts[3] = D_a.sum(axis=1), D_b.sum(axis=1)
    for where, _, _, total, factor, which in panels:
        D_parts[which, where] += factor * total
    scaled = p / A[:, None]
    minus_R = -R[:, None]
    out = np.empty((rows, len(times)))
    N_parts = np.zeros((4, rows, len(times)))
    z = np.empty_like(scaled)
    log_z = np.empty_like(scaled)
    term = np.empty_like(scaled)
    for k, t in enumerate(times):  # the same steps as _rate_chunk's for the integral: the same numbers
        np.multiply(scaled, t, out=z)
        np.log1p(z, out=log_z)
        np.multiply(log_z, minus_R, out=term)
        np.expm1(term, out=term)  # (1 + z)^-R - 1
        out[:, k] = np.einsum("ij,ij->i", w, term)
        N_parts[2, :, k] = np.einsum("ij,ij->i", W_a, term)
        N_parts[3, :, k] = np.einsum("ij,ij->i", W_b, term)
        for where, nodes_p, weights, _, factor, which in panels:
            moved = np.expm1(minus_R[where] * np.log1p(nodes_p * (t / A[where])[:, None]))
            N_parts[which, where, k] += factor * np.einsum("ij,ij->i", weights, moved)
        term += 1.0  # (1 + z)^-R
        N_parts[0, :, k] = np.einsum("ij,ij,ij->i", w, term, log_z)
        np.divide(z, z + 1.0, out=z)
        N_parts[1, :, k] = np.einsum("ij,ij,ij->i", w, term, z)
    value = -out
    grad = np.empty((4, rows, len(times)))
    grad[0] = N_parts[0]
    grad[1] = N_parts[1] * (minus_R / A[:, None])
    for i in (2, 3):  # d(N / D) = (dN - I dD) / D, N = -sum W expm1(...)
        grad[i] = (-N_parts[i] - value * D_parts[i][:, None]) / D[:, None]
    return value, grad


def _rate_fixed_p(p: float, R, A, times) -> np.ndarray:
    """(1 - (A / (A + p t))^R) / p: expected purchases in t when alive, with a known dropout p;
    an array (rows, times)."""
    R, A = (np.asarray(v, float).ravel() for v in np.broadcast_arrays(R, A))
    times = np.atleast_1d(np.asarray(times, float))
    return -np.expm1(-R[:, None] * np.log1p(p * times[None, :] / A[:, None])) / p


def _hyp2f1_one(b, c, z) -> np.ndarray:
    """2F1(1, b; c; z) for c > 1, c > b >= 0 and 0 <= z < 1 (arrays that broadcast): scipy's hyp2f1,
    and the integral of `_log_hyp2f1_one_integral` where scipy gives no finite positive value (it
    returns NaN for large c with z near 1, e.g. 2F1(1, 4; 3009; 0.91))."""
    b, c, z = (np.asarray(v, float).copy() for v in np.broadcast_arrays(b, c, z))
    value = np.asarray(hyp2f1(1.0, b, c, z), float)
    bad = ~np.isfinite(value) | (value <= 0)
    if bad.any():
        value[bad] = np.exp(_log_hyp2f1_one_integral(b[bad], c[bad], z[bad]))
    return value


def _log_hyp2f1_one_integral(b, c, z) -> np.ndarray:
    """log 2F1(1, b; c; z) for c > 1, b >= 0, 0 <= z < 1, from its Euler integral with t = 1 - exp(-v):
    2F1(1, b; c; z) = (c - 1) * integral over v >= 0 of exp(-(c - 1 - b) v - b log(1 + (1 - z) expm1(v)))
    (`_log_integral` with A = c - 1 - b, rho = 1 - z, m = b rho). Its cost does not depend on b, c or
    1 / (1 - z), where the power series needs ~ 1 / (1 - z) terms."""
    b, c, z = (np.asarray(v, float).ravel() for v in np.broadcast_arrays(b, c, z))
    rho = 1.0 - z  # exact for z >= 1/2
    return np.log(c - 1.0) + _log_integral((c - b) - 1.0, b * rho, rho)


# panel edges of `_log_integral`: where the log-integrand is these amounts below its peak, on both
# sides of the peak (within 5%), and at these distances from the real part of its complex singularities
_DROPS = np.array([1 / 64, 1 / 8, 1 / 2, 2.0, 6.0, 14.0, 26.0, 40.0, 55.0])
_NEAR_POLE = np.pi * np.array([-9.0, -3.0, -1.0, 0.0, 1.0, 3.0, 9.0])
_PANEL_U, _PANEL_W = leggauss(16)
# Pareto/NBD's tails use `_log_integral` rather than scipy's hyp2f1 where 1 - z = (alpha + u) / (beta + u)
# is below this: there scipy (1.17) is off by up to 1e-8 for b from 10 to 1000, and NaN for larger b;
# above it, within 1e-13 of `_log_integral` (see `ParetoNBDModel._log_tail`)
_NEAR_ONE = 1e-2


_SERIES_Z = 0.5  # at most this z, Pareto/NBD's tails and their derivatives come from the power series


def _log_hyp2f1_one_and_grad(b, c, z):
    """log 2F1(1, b; c; z) = log sum_n (b)_n / (c)_n z^n and its derivatives in b, c and z, for c > b > 0
    and 0 <= z <= _SERIES_Z, from the same terms: d/db = sum_n t_n sum_{j<n} 1 / (b+j), d/dc = -sum_n
    t_n sum_{j<n} 1 / (c+j), d/dz = sum_n n t_n / z, each over the sum (the terms are positive and fall
    at least as z^n, so ~55 of them carry every digit)."""
    b, c, z = (np.asarray(v, float) for v in np.broadcast_arrays(b, c, z))
    total, term = np.ones_like(z), np.ones_like(z)
    lower = np.ones_like(z)  # t_n / z, kept apart for z = 0
    over_b, over_c = np.zeros_like(z), np.zeros_like(z)
    d_b, d_c, d_z = np.zeros_like(z), np.zeros_like(z), np.zeros_like(z)
    for n in range(200):
        over_b += 1.0 / (b + n)
        over_c += 1.0 / (c + n)
        lower = term * (b + n) / (c + n)
        term = lower * z
        total += term
        d_b += term * over_b
        d_c -= term * over_c
        d_z += (n + 1) * lower
        if (term <= 1e-17 * total).all():
            break
    return np.log(total), np.array([d_b, d_c, d_z]) / total


def _log_integrand(v, A, m, rho, slope: bool = False, parts: bool = False):
    """h(v) = -A v - m log(1 + rho expm1(v)) / rho (-A v - m expm1(v) where rho = 0), and with `slope`
    h'(v) too; v >= 0 (rows, k), the parameters (rows, 1). log(1 + rho expm1(v)) by log1p (accurate
    for any rho) below v = 700, v + log(rho) above (where expm1 would overflow). With `parts` (not
    with `slope`), also psi(v) = log(1 + rho expm1(v)) / rho (expm1(v) where rho = 0), so that
    h = -A v - m psi: what `_log_panel_sum`'s moments need."""
    positive = rho > 0
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        grown = np.expm1(np.minimum(v, 700.0))
        if positive.all():  # the common cases first, without the other case's operations
            L = np.log1p(rho * grown)
            big = v >= 700.0
            if big.any():
                L[big] = (v + np.log(rho))[big]
            psi = L / rho
        elif not positive.any():
            L, psi = 0.0, grown
        else:
            safe = np.where(positive, rho, 1.0)
            L = np.where(v < 700.0, np.log1p(safe * grown), v + np.log(safe))
            psi = np.where(positive, L / safe, grown)
            L = np.where(positive, L, 0.0)
        kept = psi.copy() if parts else None
        psi *= -m
        psi -= A * v
        if parts:
            return psi, kept
        if not slope:
            return psi
        return psi, -A - m * np.exp(v - L)


def _log_integral(A, m, rho, moments: bool = False):
    """log of the integral over v >= 0 of exp(h(v)), h(v) = -A v - m log(1 + rho expm1(v)) / rho
    (and its limit -A v - m expm1(v) at rho = 0), for arrays A, m >= 0, 0 <= rho <= 1 (broadcast;
    the integral must be finite: A + m / rho > 0, or m > 0 at rho = 0). A 1-d array.

    Both Pareto/NBD tails are of this form: with alpha + tau = (alpha + u) exp(v), the integral from u
    of (alpha + tau)^-k (beta + tau)^-(s+1) (rho = (alpha + u) / (beta + u), A = k - 1, m = (s+1) rho,
    when alpha < beta) and, in the limit of one dropout rate mu, of exp(-mu tau) (alpha + tau)^-k
    (rho = 0, m = mu (alpha + u)); so is 2F1(1, b; c; z) (`_log_hyp2f1_one_integral`).
    h is concave (h'' = -m exp(v) (1 - rho) / (1 + rho expm1(v))^2), so exp(h) has one peak, at v = 0 or
    where h' = 0 (in closed form). The integral is a sum over panels of 16-point Gauss-Legendre rules:
    their edges are where h is 1/64, 1/8, 1/2, 2, 6, 14, 26, 40 and 55 below its peak on either side
    (`_drop_edges`: h is concave, so the drop grows with the distance from the peak), plus, when they
    fall inside that range, the points 0, pi, 3 pi and 9 pi either side of log((1 - rho) / rho), the
    real part of h's singularities (log(1 + rho expm1(v)) = -inf at v = log((1 - rho) / rho) + i pi),
    where exp(h) turns from one exponential rate to another, so that no panel reaches too close to
    them. The cost is bounded whatever the parameters (~30 microseconds a row; the power series of 2F1
    needs ~1 / (1 - z) terms); the relative error is ~1e-12 or less, checked against scipy.integrate.quad
    in tests/test_clv.py. Raises nothing: where the integral is infinite the result is meaningless.

    With `moments`, also the means of v, psi(v) = log(1 + rho expm1(v)) / rho (expm1(v) at rho = 0)
    and g(v) = expm1(v) / (1 + rho expm1(v)) under the density exp(h) / integral, an array (3, rows),
    from the same nodes and weights as the integral: the derivatives of its logarithm, by
    differentiating under the integral (the lower limit 0 and the nodes do not move), are
    d/dA = -E[v], d/dm = -E[psi] (rho fixed) and, with b = m / rho fixed (h = -A v - b log(1 + rho
    expm1(v))), d/drho = -b E[g]. The weights are positive, so each mean is a convex combination of
    finite values (g = (1 - exp(-v)) / ((1 - rho) exp(-v) + rho), at most 1 / rho): nothing
    overflows. `ParetoNBDModel._log_tail_and_grad` and `_log_tail_limit_and_grad` use them.
    """
    A, m, rho = (np.asarray(v, float).ravel() for v in np.broadcast_arrays(A, m, rho))
    out = np.empty(len(A))
    found = np.empty((3, len(A))) if moments else None
    for start in range(0, len(A), _CHUNK):
        rows = slice(start, start + _CHUNK)
        if moments:
            out[rows], found[:, rows] = _log_integral_chunk(A[rows, None], m[rows, None], rho[rows, None], True)
        else:
            out[rows] = _log_integral_chunk(A[rows, None], m[rows, None], rho[rows, None])
    return (out, found) if moments else out


_KEPT_EDGES: dict = {}  # the last panel edges of `_log_integral_chunk`, under a digest of its rounded parameters


def _log_integral_chunk(A, m, rho, moments: bool = False):
    # the peak: h'(v) = 0 at exp(v) = -A (1 - rho) / (m + A rho), when h'(0) = -A - m > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        inside = np.log(-A * (1 - rho)) - np.log(m + A * rho)
    peak = np.where(A + m < 0, np.maximum(inside, 0.0), 0.0)
    top = _log_integrand(peak, A, m, rho)
    # the scale of h at the peak: about where it has fallen by 1
    curvature = m * np.exp(peak) * (1 - rho) / (1 + rho * np.expm1(peak)) ** 2
    scale = 1.0 / (np.abs(A + m) * (peak == 0) + np.sqrt(curvature) + 1e-300)
    before = peak[:, 0] > 0
    # the edges depend little on the parameters: those of parameters within 0.1% (an optimiser's
    # finite differences) are kept and used again
    with np.errstate(divide="ignore", invalid="ignore"):
        key = _digest(*(np.round(1000 * np.log(np.abs(v))) for v in (A, m, rho)), np.sign(A))
    if key in _KEPT_EDGES:
        right, left = _KEPT_EDGES[key]
    else:
        right = _drop_edges(peak, top, A, m, rho, scale, 1.0)
        left = np.zeros_like(right)
        if before.any():
            left[before] = _drop_edges(peak[before], top[before], A[before], m[before], rho[before], scale[before], -1.0)
        while len(_KEPT_EDGES) >= 8:
            _KEPT_EDGES.pop(next(iter(_KEPT_EDGES)))
        _KEPT_EDGES[key] = right, left
    left = np.minimum(left, peak)  # the peak is exact; the edges need only be near their drops
    right = np.maximum(right, peak)
    with np.errstate(divide="ignore", invalid="ignore"):
        pole = np.where(rho > 0, np.log1p(-rho) - np.log(rho), np.inf)
    near = np.clip(pole + _NEAR_POLE, left[:, -1:], right[:, -1:])
    close = (near[:, -1] > left[:, -1]) & (near[:, 0] < right[:, -1])
    out = np.empty(len(A))
    found = np.empty((3, len(A))) if moments else None
    # rows without a peak inside or a singularity near the range need fewer panels: grouped
    for rows in (before & close, before & ~close, ~before & close, ~before & ~close):
        if rows.any():
            parts = [left[rows]] if before[rows][0] else []
            parts += [peak[rows], right[rows]] + ([near[rows]] if close[rows][0] else [])
            edges = np.sort(np.concatenate(parts, axis=1), axis=1)
            if moments:
                summed, found[:, rows] = _log_panel_sum(edges, A[rows], m[rows], rho[rows], top[rows], True)
            else:
                summed = _log_panel_sum(edges, A[rows], m[rows], rho[rows], top[rows])
            out[rows] = top[rows, 0] + summed
    return (out, found) if moments else out


def _log_panel_sum(edges, A, m, rho, top, moments: bool = False):
    """log of the sum over the panels between `edges` (rows, edges) of the Gauss-Legendre rules for
    exp(h(v) - top); with `moments`, also the means of v, psi(v) and g(v) under the same weights
    (see `_log_integral`), an array (3, rows)."""
    half = (edges[:, 1:] - edges[:, :-1]) / 2
    nodes = (edges[:, :-1] + half)[..., None] + half[..., None] * _PANEL_U  # (rows, panels, 16)
    rows = len(A)
    if not moments:
        values = _log_integrand(nodes.reshape(rows, -1), A, m, rho) - top
        with np.errstate(under="ignore"):
            return np.log(np.einsum("ij,ij->i", np.exp(values), (half[..., None] * _PANEL_W).reshape(rows, -1)))
    v = nodes.reshape(rows, -1)
    values, psi = _log_integrand(v, A, m, rho, parts=True)
    values -= top
    with np.errstate(under="ignore", over="ignore", invalid="ignore", divide="ignore"):
        w = np.exp(values)
        w *= (half[..., None] * _PANEL_W).reshape(rows, -1)
        total = w.sum(axis=1)
        # g = expm1(v) / (1 + rho expm1(v)) = -expm1(-v) / (1 + (1 - rho) expm1(-v)): at most 1 / rho,
        # expm1(v) at rho = 0 (v capped at 700, beyond any node with a weight there)
        shrunk = np.expm1(-np.minimum(v, 700.0))
        g = -shrunk / (1.0 + (1.0 - rho) * shrunk)
        found = np.stack([np.einsum("ij,ij->i", w, v), np.einsum("ij,ij->i", w, psi),
                          np.einsum("ij,ij->i", w, g)]) / total
        return np.log(total), found


def _drop_edges(peak, top, A, m, rho, scale, side: float):
    """The v on one `side` of the peak (1: after it, -1: before it, down to 0) where h is _DROPS below
    its peak, within 5%: (rows, drops), the farthest last. The distances scale * 2^k, k = -10, -9, ...
    bracket each (h is concave: the drop grows with the distance); safeguarded Newton steps on
    log(drop) then close in. Where h does not fall so far before reaching 0, the edge is 0."""
    rows = len(peak)
    limit = np.where(side > 0, np.inf, peak)  # the largest distance
    distances, drops = [np.zeros((rows, 1))], [np.zeros((rows, 1))]
    k = -10
    while True:  # one distance per row at a time, until every row has fallen by the last drop or reached 0
        d = np.minimum(scale * 2.0 ** k, limit)
        distances.append(d)
        drops.append(top - _log_integrand(peak + side * d, A, m, rho))
        if k >= 200 or np.all((drops[-1] >= _DROPS[-1]) | (d >= limit)):
            break
        k += 1
    distances, drops = np.concatenate(distances, axis=1), np.concatenate(drops, axis=1)
    # for each drop, the first distance reaching it (the last one if none does)
    first = np.minimum((drops[:, :, None] < _DROPS).sum(axis=1), distances.shape[1] - 1)
    low = np.take_along_axis(distances, np.maximum(first - 1, 0), axis=1)
    high = np.take_along_axis(distances, first, axis=1)
    reached = np.take_along_axis(drops, first, axis=1) >= _DROPS
    d = high.copy()
    for _ in range(60):
        value, slope = _log_integrand(peak + side * d, A, m, rho, slope=True)
        fall = top - value
        with np.errstate(divide="ignore", invalid="ignore"):
            miss = np.log(fall / _DROPS)
            step = miss * fall / (-side * slope)  # Newton on log(fall) in the distance
        done = (np.abs(miss) < 0.05) | ~reached
        if done.all():
            break
        high = np.where(miss > 0, d, high)
        low = np.where(miss < 0, d, low)
        guess = d - step
        inside = np.isfinite(guess) & (guess > low) & (guess < high)
        d = np.where(done, d, np.where(inside, guess, (low + high) / 2))
    return np.where(reached, peak + side * d, np.maximum(peak + side * high, 0.0))


def _expm1_ratio(c, L):
    """(1 - exp(-c L)) / c, and its limit L at c = 0 (for Pareto/NBD's s = 1)."""
    c, L = np.broadcast_arrays(np.asarray(c, float), np.asarray(L, float))
    small = np.abs(c * L) < 1e-10
    safe_c = np.where(small, 1.0, c)
    return np.where(small, L * (1 - c * L / 2), -np.expm1(-c * L) / safe_c)


# ---------------------------------------------------------------------------------------------
# the purchase-count models

class _CountingModel:
    """Shared fitting and prediction plumbing of BG/NBD and Pareto/NBD."""

    _names: tuple[str, ...] = ()
    _scaled: tuple[str, ...] = ()  # parameters in time units (scaled by the time unit)
    # the limiting models: their parameters (in this order) and what they assume, in words (`limit_`)
    _limits: dict[tuple[str, ...], str] = {}
    name = ""

    def __init__(self, time_unit: str | None = None):
        self.time_unit = time_unit

    @classmethod
    def from_params(cls, params: dict, time_unit: str):
        """A model with given parameters (e.g. published ones) instead of fitted ones; it has no
        standard errors, so `group_intervals` cannot use it. The parameters of a limiting model
        (`_limits`, e.g. BG/NBD's lambda, a, b) make that limiting model."""
        model = cls(time_unit=time_unit)
        unit_days(time_unit)
        names = next((form for form in (cls._names, *cls._limits) if sorted(form) == sorted(params)), None)
        if names is None or not all(np.isfinite(v) and v > 0 for v in params.values()):
            limits = "; ".join(", ".join(form) for form in cls._limits)
            raise ParamsError(f"{cls.name} parameters must be positive numbers {', '.join(cls._names)}"
                              + (f" (or for a limiting model {limits})" if limits else "") + f", got {params}")
        model.params_ = {n: float(params[n]) for n in names}
        model.time_unit_, model.limit_, model._scale, model._form = time_unit, cls._limits.get(names), 1.0, names
        return model

    @property
    def form_(self) -> tuple[str, ...]:
        """The names of the parameters of the model in use: `_names`, or a limiting model's."""
        return self.__dict__.get("_form", self._names)

    # subclasses: _loglik_scaled(params, x, t_x, T) with params in scaled units; _starts()

    # the log-parameters theta of each form, with the time scale divided out: time units (alpha,
    # beta) are divided by the scale, rates per time unit (lambda, mu) multiplied by it; p by its logit
    _rates: tuple[str, ...] = ()  # parameters per time unit

    def _params_from_theta(self, theta, scale) -> dict:
        found = {}
        for n, v in zip(self.form_, np.asarray(theta, float)):
            value = expit(v) if n == "p" else np.exp(v)
            found[n] = float(value * scale if n in self._scaled else value / scale if n in self._rates else value)
        return found

    def _theta_from_params(self, params, scale) -> np.ndarray:
        names = next(form for form in (self._names, *self._limits) if sorted(form) == sorted(params))
        theta = []
        for n in names:
            value = params[n] / scale if n in self._scaled else params[n] * scale if n in self._rates else params[n]
            theta.append(np.log(value / (1 - value)) if n == "p" else np.log(value))
        return np.array(theta)

    def fit(self, summary: pd.DataFrame):
        """Fit by maximum likelihood on the summary's x, t_x, T (see the class docstring)."""
        unit = _resolve_unit(summary, self.time_unit, self.name)
        data = check_summary(summary)
        x, t_x, T = data["x"], data["t_x"], data["T"]
        _check_fit_data(x, t_x, T, self.name)
        scale = float(T.mean())
        # the distinct rows of the unscaled times, then scaled: the same rows in the same order (the
        # scale is positive), and the same grouping as the predictions', kept by _unique_rows
        (ux, utx, uT), _, counts = _unique_rows(x, t_x, T)
        utx, uT = utx / scale, uT / scale
        self.time_unit_, self.n_customers_, self._scale, self.limit_ = unit, int(counts.sum()), scale, None
        self._form = self._names  # a limiting model's fit (`_use_limit`) sets its own
        theta, loglik_scaled, converged, message = self._fit_scaled(ux, utx, uT, counts)
        self.params_ = self._params_from_theta(theta, scale)
        # in the summary's own time unit: each of the x purchase-time densities scales by 1 / scale
        self.loglik_ = float(loglik_scaled - x.sum() * np.log(scale))
        self.converged_ = converged
        at_bound = np.abs(theta) > _BOUND - 1e-3
        if not converged or at_bound.any():
            names = [n for n, hit in zip(self.params_, at_bound) if hit]
            detail = (f"{', '.join(names)} reached the limit of the search" if names
                      else f"the optimiser stopped ({message})")
            warnings.warn(ConvergenceWarning(f"{self.name} fit has no interior maximum: {detail}, at "
                                             f"{self._describe(self.params_)}; the estimates are not reliable",
                                             model=self.name, kind="bound" if names else "stopped",
                                             detail=", ".join(names) if names else str(message)), stacklevel=2)
            self.converged_ = False
        sd = np.sqrt(np.diag(self.covariance_))
        factors = [v * (1 - v) if k == "p" else v for k, v in self.params_.items()]  # d param / d log(-it)
        self.se_ = {k: float(f * s) for k, f, s in zip(self.params_, factors, sd)}
        # an interior maximum that the data do not pin down: the likelihood so flat along a parameter that
        # any value within hundreds of times the estimate fits as well (Pareto/NBD's beta at 3.8e7, its
        # standard error 3.4e10, on data with no dropout: every P(alive) 1.0, Lost customers included);
        # or no maximum: a Hessian that is not positive definite (flat along the parameters `_loose`
        # names, or a saddle, which `_covariance` has said) is never a converged fit
        loose = _loose(self.params_, self.se_, sd, self._concave)
        if loose and self.converged_:
            _warn_loose(self.name, loose, self._describe(self.params_))
        self.converged_ = self.converged_ and self._concave and not loose
        return self

    def _fit_scaled(self, ux, utx, uT, counts):
        """Maximise the log-likelihood on the scaled data; sets covariance_ (of the log-parameters);
        returns theta (log-parameters, scaled), the log-likelihood, converged, the optimiser's message."""
        n = counts.sum()

        def objective(ux, utx, uT, counts, index):
            def nll(theta):
                return -self._loglik_total(np.exp(theta), ux, utx, uT, counts, index) / counts.sum()
            return nll

        nll = objective(ux, utx, uT, counts, _index_of(ux, utx, uT))
        sample = _sample_rows((ux, utx, uT), counts)
        sample = objective(*sample[0], sample[1], _Index(*sample[0])) if sample is not None else None
        res = _minimize_from_sample(nll, sample, self._starts(), [(-_BOUND, _BOUND)] * len(self._names), n)
        self.covariance_, self._concave = _covariance(_numerical_hessian(lambda th: nll(th) * n, res.x), self.name)
        return res.x, -res.fun * n, res.converged, res.message

    @staticmethod
    def _likeliest_limit(limits, full_nll: float, n: float):
        """Of the fitted limiting models (`_fit_limit` results), the one to use instead of the full fit
        (mean negative log-likelihood `full_nll` of `n` customers), or None: among those as likely as the
        full fit and as the best of them (total log-likelihood, within 0.001: along a ridge the full
        model only approaches its limit), the one with fewest parameters, then the most likely."""
        best = min([full_nll] + [limit.fun for limit in limits]) * n
        likely = [limit for limit in limits if limit.fun * n <= min(best, full_nll * n) + 1e-3]
        return min(likely, key=lambda limit: (len(limit.form), limit.fun)) if likely else None

    def _loglik_total(self, v, x, t_x, T, counts, index):
        """The log-likelihood of the rows weighted by `counts` (scaled parameters `v`)."""
        return _weighted_sum(counts, self._loglik_scaled(v, x, t_x, T, index))

    @staticmethod
    def _describe(params) -> str:
        return ", ".join(f"{k}={v:.4g}" for k, v in params.items())

    def _check_fitted(self):
        if not hasattr(self, "params_"):
            raise ParamsError(f"{self.name} is not fitted yet: call fit(summary) first")

    def _predict_data(self, summary):
        self._check_fitted()
        found = summary.attrs.get("time_unit") if isinstance(summary, pd.DataFrame) else None
        if found is not None and found != self.time_unit_:
            raise ParamsError(f"{self.name} was fitted in {self.time_unit_} but the summary is in {found}; "
                              f"make the summary with time_unit={self.time_unit_!r}")
        data = check_summary(summary)
        return data["x"], data["t_x"], data["T"]

    def _t_in_model_units(self, t, unit):
        t = np.asarray(t, float)
        if unit is not None:
            t = t * unit_days(unit) / UNIT_DAYS[self.time_unit_]
        if (t < 0).any() or not np.isfinite(t).all():
            raise ParamsError(f"t must be a finite time >= 0, got {t}")
        return t

    def _counts_and_times(self, n, t, unit):
        """n (whole numbers >= 0) and t (in the model's unit) broadcast together, for P(X(t) = n)."""
        self._check_fitted()
        t = self._t_in_model_units(t, unit)
        n = np.asarray(n, float)
        if (n < 0).any() or (n != np.round(n)).any():
            raise ParamsError(f"n must be whole numbers >= 0, got {n}")
        return np.broadcast_arrays(n, t)

    def _series(self, summary, values, name):
        return pd.Series(values, index=summary.index, name=name)

    def _with_theta(self, theta):
        """A copy with other (log-)parameters: for the delta method."""
        other = copy.copy(self)
        other.params_ = self._params_from_theta(theta, self._scale)
        return other

    @property
    def theta_(self) -> np.ndarray:
        return self._theta_from_params(self.params_, self._scale)

    def log_likelihood(self, summary: pd.DataFrame) -> float:
        """The model's log-likelihood of the summary's (x, t_x, T) at its current parameters, in the
        model's time unit (equals `loglik_` on the data it was fitted on)."""
        x, t_x, T = self._predict_data(summary)
        (ux, utx, uT), _, counts = _unique_rows(x, t_x, T)
        P, form = self.params_, self.form_
        values = self._loglik_of(form)(np.array([P[n] for n in form]), ux, utx, uT)
        return float(_weighted_sum(counts, values))

    def _loglik_of(self, form):
        """The per-row log-likelihood function of the model with parameters `form` (`_names` or a
        limiting model's)."""
        return self._loglik_scaled if form == self._names else getattr(self, self._limit_logliks[form])

    def _horizon_parts(self, x, t_x, T, times, discounts):
        """Per row: the expected purchases up to the last of `times` (the first being 0) and the sum
        over periods k of discounts[k-1] x the expected purchases between times[k-1] and times[k]."""
        cumulative = self._conditional(x, t_x, T, times)
        return cumulative[:, -1], _weighted_sum(discounts, np.diff(cumulative, axis=1).T)

    # --- public predictions ---
    def expected_purchases(self, summary: pd.DataFrame, t: float, unit: str | None = None) -> pd.Series:
        """Expected purchases in the next `t` periods (model units, or `unit`) for each customer,
        given their x, t_x, T: E[Y(t) | x, t_x, T]. A Series aligned with `summary`."""
        x, t_x, T = self._predict_data(summary)
        t = float(self._t_in_model_units(t, unit))
        (ux, utx, uT), inverse, _ = _unique_rows(x, t_x, T)
        values = self._conditional(ux, utx, uT, [t])[:, 0]
        return self._series(summary, values[inverse], "expected_purchases")

    def p_alive(self, summary: pd.DataFrame) -> pd.Series:
        """Probability that each customer is still active at T, given x, t_x, T."""
        x, t_x, T = self._predict_data(summary)
        (ux, utx, uT), inverse, _ = _unique_rows(x, t_x, T)
        return self._series(summary, self._p_alive(ux, utx, uT)[inverse], "p_alive")

    def unconditional_expected_purchases(self, t, unit: str | None = None) -> np.ndarray:
        """E[X(t)]: expected purchases of a new customer in the first `t` periods (array like t)."""
        self._check_fitted()
        return self._unconditional(self._t_in_model_units(t, unit))


class BGNBDModel(_CountingModel):
    """BG/NBD (Fader, Hardie & Lee 2005): while active, a customer buys as a Poisson process with
    rate lambda ~ Gamma(r, alpha) (alpha in time units); after each purchase they become inactive
    with probability p ~ Beta(a, b).

    `fit(summary)` needs columns x, t_x, T (see `repeat_summary`) and learns `params_` (r, alpha,
    a, b), `loglik_` (natural log, in the summary's time unit), `se_`, `covariance_` (of the
    log-parameters), `time_unit_`, `converged_` and `limit_`. When a and b grow together without
    bound (no heterogeneity in dropout), a ConvergenceWarning says so and the limiting model with
    one dropout probability p for everyone is used: `params_` is then (r, alpha, p) and
    `limit_` describes it. Likewise when r and alpha grow together (no heterogeneity in purchase
    rates: lambda ~ Gamma(r, alpha) shrinks to the one value r / alpha), the limiting model with one
    Poisson purchase rate lambda (per time unit) for everyone: `params_` (lambda, a, b); and when
    both do, one rate lambda and one dropout probability p: `params_` (lambda, p). A limiting model
    is used when it is as likely as the full fit (total log-likelihood, within 0.001), the one with
    fewest parameters among those that are.

    Raises DataError for impossible summaries (naming the customer), one customer, no repeat
    buyers, or all purchases on one day; ParamsError when the time unit is unknown.

    >>> import datetime as dt
    >>> from segkit.datasets import load_cdnow
    >>> from segkit.intake.sources import connect
    >>> from segkit.models.repeat_summary import repeat_summary
    >>> summary = repeat_summary(connect(), load_cdnow(sample=True), dt.date(1997, 9, 30))
    >>> model = BGNBDModel().fit(summary)
    >>> {k: round(v, 3) for k, v in model.params_.items()}
    {'r': 0.243, 'alpha': 4.414, 'a': 0.793, 'b': 2.426}
    >>> round(float(model.p_alive(summary).mean()), 3), round(float(model.expected_purchases(summary, 39).sum()))
    (0.813, 1653)
    """

    _names = ("r", "alpha", "a", "b")
    _scaled = ("alpha",)
    _limits = {
        ("r", "alpha", "p"): ("a and b grow without bound with a/(a+b) fixed: one dropout probability p for every "
                              "customer (no heterogeneity in dropout)"),
        ("lambda", "a", "b"): ("r and alpha grow without bound with r/alpha fixed: one purchase rate lambda for "
                               "every customer (no heterogeneity in purchase rates)"),
        ("lambda", "p"): ("r and alpha, and a and b, grow without bound with r/alpha and a/(a+b) fixed: one purchase "
                          "rate lambda and one dropout probability p for every customer (no heterogeneity in "
                          "purchase rates or in dropout)"),
    }
    _limit_logliks = {("r", "alpha", "p"): "_loglik_limit", ("lambda", "a", "b"): "_loglik_rate_limit",
                      ("lambda", "p"): "_loglik_poisson_limit"}
    _rates = ("lambda",)
    name = "BG/NBD"

    def _starts(self):
        return [np.log([1.0, 1.0, 1.0, 1.0]), np.log([0.3, 0.15, 0.8, 2.5]), np.log([2.0, 3.0, 0.3, 0.6])]

    @classmethod
    def _loglik_scaled(cls, v, x, t_x, T, index=None):
        return cls._loglik_and_grad(v, x, t_x, T, index)[0]

    @staticmethod
    def _loglik_limit(v, x, t_x, T, index=None):
        r, alpha, p = v
        head = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        alive = x * np.log1p(-p) - (r + x) * np.log(alpha + T)
        has = x > 0
        dropped = np.full(x.shape, -np.inf)
        dropped[has] = np.log(p) + (x[has] - 1) * np.log1p(-p) - (r + x[has]) * np.log(alpha + t_x[has])
        return head + np.logaddexp(alive, dropped)

    @staticmethod
    def _loglik_rate_limit(v, x, t_x, T, index=None):
        """Per-row log-likelihood of the limit r, alpha -> infinity with r / alpha = lambda (v = lambda,
        a, b): Poisson(lambda) purchases while alive, dropout p ~ Beta(a, b) after each purchase:
        B(a, b+x)/B(a, b) lambda^x exp(-lambda T) + 1{x>0} B(a+1, b+x-1)/B(a, b) lambda^x exp(-lambda t_x)
        (FHL 2005's eq. 6, where Gamma(r+x)/Gamma(r) alpha^r / (alpha+t)^(r+x) -> lambda^x exp(-lambda t))."""
        lam, a, b = v
        has = x > 0
        alive = betaln(a, b + x) - lam * T
        dropped = np.full(x.shape, -np.inf)
        dropped[has] = betaln(a + 1, b + x[has] - 1) - lam * t_x[has]
        return x * np.log(lam) - betaln(a, b) + np.logaddexp(alive, dropped)

    @staticmethod
    def _loglik_poisson_limit(v, x, t_x, T, index=None):
        """Per-row log-likelihood of both limits (v = lambda, p): Poisson(lambda) purchases while alive,
        dropout with one probability p after each purchase:
        (1-p)^x lambda^x exp(-lambda T) + 1{x>0} p (1-p)^(x-1) lambda^x exp(-lambda t_x)."""
        lam, p = v
        has = x > 0
        alive = x * np.log1p(-p) - lam * T
        dropped = np.full(x.shape, -np.inf)
        dropped[has] = np.log(p) + (x[has] - 1) * np.log1p(-p) - lam * t_x[has]
        return x * np.log(lam) + np.logaddexp(alive, dropped)

    @staticmethod
    def _loglik_and_grad(v, x, t_x, T, index=None):
        """Per-row log-likelihood and its gradient in (r, alpha, a, b) (FHL 2005, eq. 6)."""
        ix = index or _Index(x, t_x, T)
        r, alpha, a, b = v
        xs, at = ix.xs, ix.of_x
        has = xs > 0
        b_dropped = np.where(has, b + xs - 1, 1.0)  # b + x - 1 > 0 wherever it is used
        keep = betaln(a, b + xs)
        drop = np.where(has, betaln(a + 1, b_dropped), -np.inf)
        log_time, inv_time = np.log(alpha + ix.times), 1 / (alpha + ix.times)
        log_T, log_last = log_time[ix.of_T], log_time[ix.of_tx]
        rx = r + x
        alive = keep[at] - rx * log_T
        dropped = drop[at] - rx * log_last
        total = np.logaddexp(alive, dropped)
        w_alive = np.exp(alive - total)
        w_dropped = 1 - w_alive
        ll = (gammaln(r + xs) - gammaln(r))[at] + r * np.log(alpha) - betaln(a, b) + total
        psi_ab, psi_abx = digamma(a + b), digamma(a + b + xs)
        grad = np.column_stack([
            (digamma(r + xs) - digamma(r))[at] + np.log(alpha) - w_alive * log_T - w_dropped * log_last,
            r / alpha - rx * (w_alive * inv_time[ix.of_T] + w_dropped * inv_time[ix.of_tx]),
            psi_ab - digamma(a) + w_alive * (digamma(a) - psi_abx)[at] + w_dropped * (digamma(a + 1) - psi_abx)[at],
            psi_ab - digamma(b) + w_alive * (digamma(b + xs) - psi_abx)[at]
            + w_dropped * (np.where(has, digamma(b_dropped), 0.0) - psi_abx)[at],
        ])
        return ll, grad

    def _fit_scaled(self, ux, utx, uT, counts):
        # optimised in (log r, log alpha, logit m, log kappa) with m = a / (a + b), kappa = a + b:
        # a and b growing together (no interior maximum) is then one parameter running to its bound
        n = counts.sum()
        index = _index_of(ux, utx, uT)

        def natural(phi):
            m, kappa = expit(phi[2]), np.exp(phi[3])
            return np.array([np.exp(phi[0]), np.exp(phi[1]), m * kappa, (1 - m) * kappa]), m

        def objective(ux, utx, uT, counts, index):
            n = counts.sum()

            def fun(phi):
                v, m = natural(phi)
                ll, grad = self._loglik_and_grad(v, ux, utx, uT, index)
                g = -_weighted_sum(counts, grad) * v / n  # in the log-parameters
                return -_weighted_sum(counts, ll) / n, np.array([g[0], g[1], (1 - m) * g[2] - m * g[3], g[2] + g[3]])
            return fun

        fun = objective(ux, utx, uT, counts, index)
        sample = _sample_rows((ux, utx, uT), counts)
        sample = objective(*sample[0], sample[1], _Index(*sample[0])) if sample is not None else None

        def total_grad(theta):  # gradient of the total negative log-likelihood in log(r, alpha, a, b)
            v = np.exp(theta)
            return -_weighted_sum(counts, self._loglik_and_grad(v, ux, utx, uT, index)[1]) * v

        starts = [self._phi(v) for v in ([1.0, 1.0, 1.0, 1.0], [0.3, 0.15, 0.8, 2.5], [2.0, 3.0, 0.3, 0.6])]
        res = _minimize_from_sample(fun, sample, starts, [(-_BOUND, _BOUND)] * 4, n, jac=True)
        v, m = natural(res.x)
        theta = np.log(v)
        full_nll = res.fun
        chosen = self._likeliest_limit(self._fit_limits(ux, utx, uT, counts, res, v), full_nll, n)
        if chosen is not None:
            return self._use_limit(chosen, v, n)
        H = np.empty((4, 4))
        for i in range(4):  # the Hessian as central differences of the analytic gradient
            step = np.eye(4)[i] * 1e-4
            H[:, i] = (total_grad(theta + step) - total_grad(theta - step)) / 2e-4
        self.covariance_, self._concave = _covariance(H, self.name)
        return theta, -full_nll * n, res.converged, res.message

    @staticmethod
    def _phi(v):
        r, alpha, a, b = v
        return np.array([np.log(r), np.log(alpha), np.log(a / b), np.log(a + b)])

    def _fit_limits(self, ux, utx, uT, counts, res, v):
        """The limiting models that the full fit `res` (natural parameters `v`, scaled) points to, each
        fitted (`_fit_limit`): without heterogeneity in dropout when a + b runs high or to its bound
        (or the fit did not converge), in purchase rates when r runs high (above _RIDGE_R), and in
        both when the two apply, to the full fit or to one of these limits' fits."""
        dropout = v[2] + v[3] > 100 or res.x[3] > _BOUND - 1e-3 or not res.converged
        rate = v[0] > _RIDGE_R
        lam, m, kappa = np.log(v[0] / v[1]), res.x[2], min(res.x[3], _BOUND - 1)
        found = []
        if dropout:
            found.append(self._fit_limit(("r", "alpha", "p"), ux, utx, uT, counts, [res.x[:3]]))
            rate = rate or np.exp(found[-1].x[0]) > _RIDGE_R
        if rate:
            mean_rate = np.log(_weighted_sum(counts, ux) / _weighted_sum(counts, uT))
            found.append(self._fit_limit(("lambda", "a", "b"), ux, utx, uT, counts,
                                         [[lam, m, kappa], [mean_rate, np.log(0.8 / 2.5), np.log(3.3)]]))
            fit = found[-1]
            dropout = dropout or fit.x[2] > np.log(100) or not fit.converged
        if rate and dropout:
            found.append(self._fit_limit(("lambda", "p"), ux, utx, uT, counts, [[lam, m], found[-1].x[:2]]))
        return found

    def _fit_limit(self, form, ux, utx, uT, counts, starts):
        """The maximum-likelihood fit of the limiting model with parameters `form` (see `_limits`), in
        coordinates phi where a and b growing together is one parameter running to its bound: (log r,
        log alpha, logit p), (log lambda, logit a/(a+b), log(a+b)) or (log lambda, logit p), from
        `starts`. An OptimizeResult with `form`, `theta` (its log-parameters, as `_params_from_theta`
        takes them) and `total_nll` (the total negative log-likelihood in those)."""
        n = counts.sum()
        loglik = self._loglik_of(form)
        jac = form == ("r", "alpha", "mu")  # with its analytic gradient (`_limit_total_and_grad`)

        def natural(phi):
            if form == ("lambda", "a", "b"):
                m, kappa = expit(phi[1]), np.exp(phi[2])
                return np.array([np.exp(phi[0]), m * kappa, (1 - m) * kappa])
            return np.array([expit(value) if name == "p" else np.exp(value) for name, value in zip(form, phi)])

        def nll(phi):
            return -_weighted_sum(counts, loglik(natural(phi), ux, utx, uT)) / n

        bounds = [(-30, 30) if name == "p" else (-_BOUND, _BOUND) for name in form]
        starts = [np.clip(np.asarray(start, float), *np.transpose(bounds)) for start in starts]
        res = _minimize(nll, starts, bounds)
        res.form = form
        if form == ("lambda", "a", "b"):  # the log-parameters (log lambda, log a, log b)
            res.theta = np.log(natural(res.x))
            res.total_nll = lambda theta: -_weighted_sum(counts, loglik(np.exp(theta), ux, utx, uT))
        else:
            res.theta = res.x
            res.total_nll = lambda theta: nll(theta) * n
        return res

    def _use_limit(self, limit, v, n):
        """Take the limiting model `limit` (`_fit_limit`) as the fit, with its warning; `v` the full fit's
        parameters (scaled). Returns what `_fit_scaled` returns."""
        self._form, self.limit_ = limit.form, self._limits[limit.form]
        fitted = self._params_from_theta(limit.theta, self._scale)
        r, alpha, a, b = v[0], v[1] * self._scale, v[2], v[3]
        unit = self.time_unit_[:-1]
        rate = f"lambda={fitted.get('lambda', 0):.4g} per {unit}"
        if limit.form == ("r", "alpha", "p"):
            grown, which = f"a and b grow together (a={a:.3g}, b={b:.3g} and rising)", "dropout"
            detail = f"p = {fitted['p']:.4g}"
            used = f"one dropout probability p={fitted['p']:.4g}"
        elif limit.form == ("lambda", "a", "b"):
            grown, which = f"r and alpha grow together (r={r:.3g}, alpha={alpha:.3g} and rising)", "rate"
            detail = f"lambda = {fitted['lambda']:.4g} / {unit}"
            used = f"one purchase rate {rate}"
        else:
            grown = (f"r and alpha, and a and b, grow together (r={r:.3g}, alpha={alpha:.3g}, a={a:.3g}, b={b:.3g} "
                     "and rising)")
            detail, which = f"lambda = {fitted['lambda']:.4g} / {unit}, p = {fitted['p']:.4g}", "rate_and_dropout"
            used = f"one purchase rate {rate} and one dropout probability p={fitted['p']:.4g}"
        warnings.warn(ConvergenceWarning(f"BG/NBD fit has no interior maximum: {grown}; using the limiting model "
                                         f"with {used} for all customers", model=self.name, kind="limit",
                                         detail=detail, limit=which),
                      stacklevel=3)
        self.covariance_, self._concave = _covariance(_numerical_hessian(limit.total_nll, limit.theta), self.name)
        return limit.theta, -limit.fun * n, limit.converged, limit.message

    def _p_alive(self, x, t_x, T):
        """P(alive | x, t_x, T) = 1 / (1 + 1{x>0} odds), the odds of having dropped out after the last
        purchase: a / (b+x-1) ((alpha+T) / (alpha+t_x))^(r+x) (FHL 2005, eq. 9); with one dropout
        probability p / (1-p) for a / (b+x-1); with one purchase rate exp(lambda (T - t_x)) for the
        last factor (its limit as r, alpha -> infinity with r / alpha = lambda)."""
        P = self.params_
        has = x > 0
        log_odds = np.full(x.shape, -np.inf)  # odds of having dropped out after the last purchase
        if "lambda" in P:
            ratio = P["lambda"] * (T[has] - t_x[has])
        else:
            ratio = (P["r"] + x[has]) * (np.log(P["alpha"] + T[has]) - np.log(P["alpha"] + t_x[has]))
        if "p" in P:
            log_odds[has] = np.log(P["p"]) - np.log1p(-P["p"]) + ratio
        else:
            log_odds[has] = np.log(P["a"]) - np.log(P["b"] + x[has] - 1) + ratio
        return expit(-log_odds)

    def _alive_rate(self, x, T, times):
        """Expected purchases in each of `times` of a customer alive now with x repeat purchases at age
        T (arrays of rows): E[(1 - (A / (A + p t))^R) / p], R = r + x, A = alpha + T (the posterior of
        lambda), over p ~ Beta(a, b + x) (the posterior of p given alive); with one purchase rate lambda,
        E[(1 - exp(-lambda p t)) / p] (its limit); with one dropout probability, p itself. (rows, times)"""
        P = self.params_
        x, T = np.atleast_1d(np.asarray(x, float)), np.atleast_1d(np.asarray(T, float))
        if "lambda" in P and "p" in P:  # the same for every customer alive now
            rate = -np.expm1(-P["lambda"] * P["p"] * np.atleast_1d(np.asarray(times, float))) / P["p"]
            return np.tile(rate, (np.broadcast(x, T).size, 1))
        if "lambda" in P:
            x = np.broadcast_to(x, np.broadcast_shapes(x.shape, T.shape))
            return _poisson_rate_over_beta(P["a"], P["b"] + x, P["lambda"], times)
        if "p" in P:
            return _rate_fixed_p(P["p"], P["r"] + x, P["alpha"] + T, times)
        return _rate_over_beta(P["a"], P["b"] + x, P["r"] + x, P["alpha"] + T, times)

    def _conditional(self, x, t_x, T, times):
        """Expected purchases in the next t for each row and each of `times`: (rows, times).

        The rate while alive depends on (x, T) only; the distinct (x, T) of the last rows asked
        and the last rates are kept with a digest of their inputs and the parameters, because the
        report asks for the same customers at the same times again (the value stage, then its
        intervals, whose perturbed copies share the same rows), and this integral is the costly part."""
        alive, rate, where = self._alive_and_rate(x, t_x, T, times)
        return alive[:, None] * rate[where]

    def _horizon_parts(self, x, t_x, T, times, discounts):
        """Per row: the expected purchases up to the last of `times` and the discounted sum of the
        purchases in each period between `times` (as `_CountingModel._horizon_parts`), with the
        period sums taken over the distinct (x, T) before P(alive) multiplies them per row."""
        alive, rate, where = self._alive_and_rate(x, t_x, T, times)
        return alive * rate[:, -1][where], alive * _weighted_sum(discounts, np.diff(rate, axis=1).T)[where]

    def _horizon_parts_gradient(self, x, t_x, T, times, discounts):
        """The derivatives of `_horizon_parts` in the log-parameters (log r, log alpha, log a, log b):
        two arrays (4, rows), of the expected purchases up to the last of `times` and of the
        discounted ones (P(alive) by its closed form, the purchases while alive by
        `_rate_over_beta(gradient=True)`). For the full model only (not the limit with one p)."""
        P = self.params_
        r, alpha = P["r"], P["alpha"]
        x, t_x, T = (np.ascontiguousarray(v, dtype=float) for v in (x, t_x, T))
        alive, _, where = self._alive_and_rate(x, t_x, T, times)
        _, px, pT, _ = self._kept_pairs
        rate, grad = _rate_over_beta(P["a"], P["b"] + px, r + px, alpha + pT, times, gradient=True)
        grad[0] *= r  # d / d log r = r d / dR, R = r + x
        grad[1] *= alpha  # d / d log alpha = alpha d / dA, A = alpha + T
        grad[2] *= P["a"]
        grad[3] *= P["b"]  # B = b + x
        # P(alive) = expit(-log_odds): d alive = -alive (1 - alive) d log_odds (0 without repeat purchases)
        has = x > 0
        d_odds = np.zeros((4, len(x)))
        d_odds[0, has] = r * (np.log(alpha + T[has]) - np.log(alpha + t_x[has]))
        d_odds[1, has] = alpha * (r + x[has]) * (1 / (alpha + T[has]) - 1 / (alpha + t_x[has]))
        d_odds[2, has] = 1.0
        d_odds[3, has] = -P["b"] / (P["b"] + x[has] - 1)
        d_alive = -alive * (1 - alive) * d_odds
        last, periods = rate[:, -1], _weighted_sum(discounts, np.diff(rate, axis=1).T)
        d_last = grad[:, :, -1]
        d_periods = np.stack([_weighted_sum(discounts, np.diff(g, axis=1).T) for g in grad])
        d_total = d_alive * last[where] + alive * d_last[:, where]
        d_discounted = d_alive * periods[where] + alive * d_periods[:, where]
        return d_total, d_discounted

    def _alive_and_rate(self, x, t_x, T, times):
        """P(alive) per row, the expected purchases while alive per distinct (x, T) and time, and
        each row's place among the distinct (x, T)."""
        P = self.params_
        x, t_x, T = (np.ascontiguousarray(v, dtype=float) for v in (x, t_x, T))
        times = np.ascontiguousarray(np.atleast_1d(times), dtype=float)
        pairs_key = _digest(x, T)
        kept = self.__dict__.get("_kept_pairs")
        if kept is None or kept[0] != pairs_key:
            (px, pT), where, _ = _unique_rows(x, T)
            kept = self._kept_pairs = (pairs_key, px, pT, where)
        _, px, pT, where = kept
        rate_key = (tuple(P.items()), pairs_key, times.tobytes())
        kept = self.__dict__.get("_kept_rate")
        if kept is None or kept[0] != rate_key:
            kept = self._kept_rate = (rate_key, self._alive_rate(px, pT, times))
        return self._p_alive(x, t_x, T), kept[1], where

    def _unconditional(self, t):
        t = np.asarray(t, float)
        return self._alive_rate(0.0, 0.0, t.ravel())[0].reshape(t.shape)

    def probability_of_purchases(self, n, t, unit: str | None = None) -> np.ndarray:
        """P(X(t) = n): probability that a new customer makes exactly n purchases in the first t
        periods (FHL 2005, eq. 8; with one purchase rate lambda its negative binomial counts are
        Poisson(lambda t)); n and t broadcast."""
        n, t = self._counts_and_times(n, t, unit)
        P = self.params_
        # the purchases while alive in t
        counts = poisson(P["lambda"] * t) if "lambda" in P else nbinom(P["r"], P["alpha"] / (P["alpha"] + t))
        if "p" in P:
            log_keep, log_drop = n * np.log1p(-P["p"]), np.log(P["p"]) + (n - 1) * np.log1p(-P["p"])
        else:
            a, b = P["a"], P["b"]
            log_keep = betaln(a, b + n) - betaln(a, b)
            log_drop = betaln(a + 1, np.maximum(b + n - 1, 1e-300)) - betaln(a, b)
        alive = log_keep + counts.logpmf(n)
        with np.errstate(divide="ignore"):
            dropped = np.where(n > 0, log_drop + counts.logsf(n - 1), -np.inf)
        return np.exp(np.logaddexp(alive, dropped))


def _count_sums(ix, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The customers' counts summed per distinct x and per (x, t_x, T) pair of `ix` (an `_Index`),
    kept on it for the same `counts` (an optimiser evaluates the same data many times)."""
    xs, at_x = ix.xs, ix.of_x
    pair_x, _, _, at_T = ix.pairs
    kept = ix.__dict__.get("_count_sums")
    if kept is None or kept[0] is not counts:
        kept = ix._count_sums = (counts, np.bincount(at_x, counts, len(xs)), np.bincount(at_T, counts, len(pair_x)))
    return kept[1], kept[2]


def _pareto_total_and_grad(ix, counts, head, d_head, alive, d_alive, log_I, d_I, log_k, d_log_k):
    """sum over rows i of counts_i [head(x_i) + log(exp(alive(x_i, T_i)) + k (I(x_i, t_x_i) - I(x_i, T_i)))]
    and its gradient (k parameters): Pareto/NBD's log-likelihood (`ParetoNBDModel._total_and_grad`,
    k = s) and its limit's (`_limit_total_and_grad`, k = mu), with `head` per distinct x of the
    index, `alive` and log I (`log_I`) per (x, time) pair, and their derivatives (k, values).

    The value as `ParetoNBDModel._loglik_total` sums it: the terms of x and of the pairs weighted by
    the counts summed over them, per row only log(1 + exp(dead - alive)), dead = log k + log(I(t_x) -
    I(T)). Its derivative is the share of the dead part, w = 1 - exp(-that), times d dead - d alive,
    and d log(I(t_x) - I(T)) = (d log I(t_x) - q d log I(T)) / (1 - q), q = I(T) / I(t_x): each row's
    weights are gathered onto the pairs (bincount), so the rows are visited a few times. Since the
    pairs' weights (alive: counts less the dead shares; the tails: w / (1 - q) and -w q / (1 - q))
    add up to the counts, the head's derivatives that do not depend on x are taken in the pairs'
    (`d_alive`, `d_I`; `d_head` has the rest): see `ParetoNBDModel._log_tail_and_grad`."""
    xs, at_x = ix.xs, ix.of_x
    pair_x, _, at_tx, at_T = ix.pairs
    per_x, per_pair = _count_sums(ix, counts)
    log_ratio = log_k + log_I - alive  # dead - alive at T per pair, with I from T
    gap = log_I[at_tx]
    gap -= log_I[at_T]
    np.maximum(gap, 0.0, out=gap)  # log(I(t_x) / I(T)) >= 0; 0 where t_x = T
    with np.errstate(over="ignore", invalid="ignore"):
        found = np.exp(log_ratio)[at_T]
        found *= np.expm1(gap)
        np.log1p(found, out=found)
    bad = np.flatnonzero(~np.isfinite(found))
    if len(bad):  # an overflow (or inf x 0): in log space
        with np.errstate(divide="ignore"):
            found[bad] = np.logaddexp(0.0, log_ratio[at_T[bad]] + gap[bad] + np.log(-np.expm1(-gap[bad])))
    total = float(np.einsum("i,i->", counts, found) + np.einsum("i,i->", per_x, head)
                  + np.einsum("i,i->", per_pair, alive))
    with np.errstate(divide="ignore", invalid="ignore"):
        dead = counts * -np.expm1(-found)  # the counts' dead shares
        on_upper = np.where(gap > 0, dead / -np.expm1(-gap), 0.0)  # w / (1 - q), 0 where there is no dead part
    n_pairs = len(pair_x)
    # w q / (1 - q) = w / (1 - q) - w: the tails' weights add up to the dead shares exactly
    by_tail = np.bincount(at_tx, on_upper, n_pairs) - np.bincount(at_T, on_upper - dead, n_pairs)
    by_alive = per_pair - np.bincount(at_T, dead, n_pairs)
    grad = (np.einsum("kj,j->k", d_head, per_x) + np.einsum("kj,j->k", d_alive, by_alive)
            + np.einsum("kj,j->k", d_I, by_tail) + dead.sum() * d_log_k)
    return total, grad


_RIDGE_S = 2.0  # a Pareto/NBD fit with s above this is compared with its limit of one dropout rate
_RIDGE_SCOUT = 1e-10  # the later starting points of a Pareto/NBD fit on all customers are scouted (`_minimize`)


class ParetoNBDModel(_CountingModel):
    """Pareto/NBD (Schmittlein, Morrison & Colombo 1987): while active, Poisson purchases with rate
    lambda ~ Gamma(r, alpha); an exponential lifetime with rate mu ~ Gamma(s, beta) (alpha and beta
    in time units). Likelihood, P(alive) and the conditional expectation as in Fader & Hardie
    (2005), "A note on deriving the Pareto/NBD model and related expressions".

    `fit(summary)` learns `params_` (r, alpha, s, beta), `loglik_`, `se_`, `covariance_`,
    `time_unit_`, `converged_` and `limit_`; the same refusals as `BGNBDModel`. It is fitted in
    (log r, log alpha, log mu, log s), mu = s / beta the mean dropout rate, with the analytic gradient
    of the log-likelihood in those coordinates (`_total_and_grad`). When s and beta grow
    together without bound (no heterogeneity in dropout: mu ~ Gamma(s, beta) shrinks to the one
    value s / beta), a ConvergenceWarning says so and the limiting model is used when it is as
    likely: lambda ~ Gamma(r, alpha) and one exponential lifetime rate mu (per time unit) for every
    customer; `params_` is then (r, alpha, mu), `limit_` describes it, and the predictions use it.
    Likewise when r and alpha grow together (no heterogeneity in purchase rates: one Poisson rate
    lambda = r / alpha for everyone): `params_` (lambda, s, beta), or (lambda, mu) when both limits
    apply; the choice among them as BGNBDModel's. Another fit whose parameters run to the limit of
    the search gives a ConvergenceWarning too.
    """

    _names = ("r", "alpha", "s", "beta")
    _scaled = ("alpha", "beta")
    name = "Pareto/NBD"

    _limits = {
        ("r", "alpha", "mu"): ("s and beta grow without bound with s/beta fixed: one dropout rate mu for every "
                               "customer (no heterogeneity in dropout)"),
        ("lambda", "s", "beta"): ("r and alpha grow without bound with r/alpha fixed: one purchase rate lambda for "
                                  "every customer (no heterogeneity in purchase rates)"),
        ("lambda", "mu"): ("r and alpha, and s and beta, grow without bound with r/alpha and s/beta fixed: one "
                           "purchase rate lambda and one dropout rate mu for every customer (no heterogeneity in "
                           "purchase rates or in dropout)"),
    }
    _limit_logliks = {("r", "alpha", "mu"): "_loglik_limit", ("lambda", "s", "beta"): "_loglik_rate_limit",
                      ("lambda", "mu"): "_loglik_poisson_limit"}
    _rates = ("mu", "lambda")

    def _starts(self):
        return [np.log([1.0, 1.0, 1.0, 1.0]), np.log([0.5, 0.3, 0.6, 0.35]), np.log([2.0, 3.0, 0.3, 3.0])]

    def _fit_scaled(self, ux, utx, uT, counts):
        # optimised in (log r, log alpha, log mu, log s) with mu = s / beta, the mean dropout rate: s and
        # beta growing together (no heterogeneity in dropout, no interior maximum) is then one parameter
        # running to its bound, as a and b for BG/NBD
        # the objective is the mean negative log-likelihood with its analytic gradient in phi, in one
        # pass (`_total_and_grad`): one evaluation an iteration where finite differences took five. Every
        # tail is now `_log_integral`'s, whose panel edges are kept between calls: dropped first, so that
        # the fit does not depend on what was computed before it (the same data, the same fit)
        _KEPT_EDGES.clear()
        n = counts.sum()

        def objective(counts, index):
            mean = counts.sum()

            def nll_and_grad(phi):
                total, grad = self._total_and_grad(np.asarray(phi, float), index, counts)
                return -total / mean, -grad / mean
            return nll_and_grad

        index = _index_of(ux, utx, uT)
        nll = objective(counts, index)
        sample = _sample_rows((ux, utx, uT), counts)
        sample = objective(sample[1], _Index(*sample[0])) if sample is not None else None
        starts = [self._phi(np.exp(start)) for start in self._starts()]
        bounds = [(-_BOUND, _BOUND)] * 4
        def plain(fun, starts, bounds):
            return self._minimize_to_ridge(fun, starts, bounds, jac=True)

        res = _minimize_from_sample(nll, sample, starts, bounds, n, jac=True, plain=plain)
        v = self._natural(res.x)
        chosen = self._likeliest_limit(self._fit_limits(ux, utx, uT, counts, res, v), res.fun, n)
        if chosen is not None:
            return self._use_limit(chosen, v, n)
        if getattr(res, "scouted", False):  # up the ridge, yet more likely than its limit: found exactly
            done = _minimize(nll, [res.x], bounds, jac=True)
            res = done if done.fun <= res.fun else res
            v = self._natural(res.x)
        theta = np.log(v)
        self.covariance_, self._concave = _covariance(_numerical_hessian(
            lambda th: -self._loglik_total(np.exp(th), ux, utx, uT, counts, index), theta), self.name)
        return theta, -res.fun * n, res.converged, res.message

    @staticmethod
    def _minimize_to_ridge(nll, starts, bounds, jac: bool = False):
        """`_minimize(nll, starts, bounds)`, one starting point at a time, also stopping once two of
        them have run up the ridge s -> infinity (s above _RIDGE_S, where the limit is compared): they
        crawl along it for hundreds of evaluations each, ending at different s of nearly the same
        likelihood, which the limit's fit then exceeds. The starts are scouted (`_RIDGE_SCOUT`), and
        the best is run on to the full tolerance unless it ended up the ridge (then `_fit_scaled` does
        it only if the full model is kept): on a ridge each run to the full tolerance took 250-650
        evaluations of the likelihood (a second or more per thousand customers), most of them settling
        differences in its tenth digit."""
        on_ridge = []

        def two_on_the_ridge(res) -> bool:
            on_ridge.append(res.x[3] > np.log(_RIDGE_S))
            return sum(on_ridge) >= 2

        return _minimize(nll, starts, bounds, jac=jac, stop=two_on_the_ridge, scout=_RIDGE_SCOUT,
                         settled=lambda res: res.x[3] > np.log(_RIDGE_S))

    @staticmethod
    def _natural(phi):
        """(r, alpha, s, beta) from phi = (log r, log alpha, log mu, log s), mu = s / beta."""
        r, alpha, mu, s = np.exp(phi)
        return np.array([r, alpha, s, s / mu])

    @staticmethod
    def _phi(v):
        r, alpha, s, beta = v
        return np.log([r, alpha, s / beta, s])

    def _fit_limits(self, ux, utx, uT, counts, res, v):
        """The limiting models that the full fit `res` (natural parameters `v`, scaled) points to, each
        fitted (`_fit_limit`): without heterogeneity in dropout when s runs high (above _RIDGE_S) or to
        its bound (or the fit did not converge), in purchase rates when r runs high (above _RIDGE_R),
        and in both when the two apply (as `BGNBDModel._fit_limits`)."""
        dropout = v[2] > _RIDGE_S or res.x[3] > _BOUND - 1e-3 or not res.converged
        rate = v[0] > _RIDGE_R
        lam = np.log(v[0] / v[1])
        found = []
        if dropout:
            found.append(self._fit_limit(("r", "alpha", "mu"), ux, utx, uT, counts, [res.x[:3], np.zeros(3)]))
            rate = rate or np.exp(found[-1].x[0]) > _RIDGE_R
        if rate:
            found.append(self._fit_limit(("lambda", "s", "beta"), ux, utx, uT, counts,
                                         [[lam, res.x[2], min(res.x[3], _BOUND - 1)], [lam, 0.0, 0.0]]))
            fit = found[-1]
            dropout = dropout or np.exp(fit.x[2]) > _RIDGE_S or fit.x[2] > _BOUND - 1e-3 or not fit.converged
        if rate and dropout:
            found.append(self._fit_limit(("lambda", "mu"), ux, utx, uT, counts, [[lam, res.x[2]], found[-1].x[:2]]))
        return found

    def _fit_limit(self, form, ux, utx, uT, counts, starts):
        """The maximum-likelihood fit of the limiting model with parameters `form` (see `_limits`) in
        (log r, log alpha, log mu), (log lambda, log mu, log s) with mu = s / beta (s and beta growing
        together is then one parameter running to its bound) or (log lambda, log mu), from `starts`;
        on a sample first when there are many customers (`_minimize_from_sample`). An OptimizeResult
        with `form`, `theta` (its log-parameters) and `total_nll` (the total negative log-likelihood in
        those), as `BGNBDModel._fit_limit`. The limit with one dropout rate is fitted with its analytic
        gradient (`_limit_total_and_grad`), the others with finite differences; the Hessian, as the
        full model's, by second differences of the per-row likelihood."""
        n = counts.sum()
        loglik = self._loglik_of(form)
        jac = form == ("r", "alpha", "mu")  # with its analytic gradient (`_limit_total_and_grad`)

        def natural(phi):
            values = np.exp(np.asarray(phi, float))
            if form == ("lambda", "s", "beta"):
                lam, mu, s = values
                return np.array([lam, s, s / mu])
            return values

        def objective(ux, utx, uT, counts, index):
            def nll(phi):
                return -_weighted_sum(counts, loglik(natural(phi), ux, utx, uT, index)) / counts.sum()

            def nll_and_grad(phi):
                total, grad = self._limit_total_and_grad(np.asarray(phi, float), index, counts)
                return -total / counts.sum(), -grad / counts.sum()
            return nll, (nll_and_grad if jac else nll)

        index = _index_of(ux, utx, uT)
        nll, fun = objective(ux, utx, uT, counts, index)  # the value alone (for the Hessian) and what is minimised
        sample = _sample_rows((ux, utx, uT), counts)
        sample = objective(*sample[0], sample[1], _Index(*sample[0]))[1] if sample is not None else None
        bounds = [(-_BOUND, _BOUND)] * len(form)
        starts = [np.clip(np.asarray(start, float), -_BOUND, _BOUND) for start in starts]
        res = _minimize_from_sample(fun, sample, starts, bounds, n, jac=jac)
        res.form = form
        if form == ("lambda", "s", "beta"):  # the log-parameters (log lambda, log s, log beta)
            res.theta = np.log(natural(res.x))
            res.total_nll = lambda theta: -_weighted_sum(counts, loglik(np.exp(theta), ux, utx, uT, index))
        else:
            res.theta = res.x
            res.total_nll = lambda theta: nll(theta) * n
        return res

    def _use_limit(self, limit, v, n):
        """Take the limiting model `limit` (`_fit_limit`) as the fit, with its warning (as
        `BGNBDModel._use_limit`)."""
        self._form, self.limit_ = limit.form, self._limits[limit.form]
        fitted = self._params_from_theta(limit.theta, self._scale)
        r, alpha, s, beta = v[0], v[1] * self._scale, v[2], v[3] * self._scale
        unit = self.time_unit_[:-1]
        if limit.form == ("r", "alpha", "mu"):
            grown, which = f"s and beta grow together (s={s:.3g}, beta={beta:.4g} and rising)", "dropout"
            used, detail = f"one dropout rate mu={fitted['mu']:.4g} per {unit}", f"mu = {fitted['mu']:.4g} / {unit}"
        elif limit.form == ("lambda", "s", "beta"):
            grown, which = f"r and alpha grow together (r={r:.3g}, alpha={alpha:.4g} and rising)", "rate"
            used = f"one purchase rate lambda={fitted['lambda']:.4g} per {unit}"
            detail = f"lambda = {fitted['lambda']:.4g} / {unit}"
        else:
            grown = (f"r and alpha, and s and beta, grow together (r={r:.3g}, alpha={alpha:.4g}, s={s:.3g}, "
                     f"beta={beta:.4g} and rising)")
            which = "rate_and_dropout"
            used = (f"one purchase rate lambda={fitted['lambda']:.4g} per {unit} and one dropout rate "
                    f"mu={fitted['mu']:.4g} per {unit}")
            detail = f"lambda = {fitted['lambda']:.4g} / {unit}, mu = {fitted['mu']:.4g} / {unit}"
        warnings.warn(ConvergenceWarning(f"Pareto/NBD fit has no interior maximum: {grown}; using the limiting model "
                                         f"with {used} for all customers", model=self.name, kind="limit",
                                         detail=detail, limit=which), stacklevel=3)
        self.covariance_, self._concave = _covariance(_numerical_hessian(limit.total_nll, limit.theta), self.name)
        return limit.theta, -limit.fun * n, limit.converged, limit.message

    @staticmethod
    def _log_tail(r, alpha, s, beta, x, u):
        """log of (r+s+x) times the integral from u to infinity of (alpha+v)^-(r+x) (beta+v)^-(s+1) dv,
        per (x, u) pair: (r+s+x) (alpha+u)^-(r+x-1) (beta+u)^-(s+1) 2F1(1, s+1; r+s+x+1; z), z = (beta -
        alpha) / (beta + u) (Euler's transformation, so that the series has positive terms; alpha and beta,
        r + x and s swap places when alpha > beta), by scipy's hyp2f1; where scipy gives no finite
        positive value, or z is within `_NEAR_ONE` of 1 (where scipy loses digits, and where a fit
        runs when s and beta grow together: 1 - z is then known only to ~1e-16 / (1 - z) from z, and
        the likelihood needs s (1 - z)), by `_log_integral` with 1 - z computed as (alpha + u) /
        (beta + u)."""
        rsx = r + s + x
        if alpha >= beta:
            z = (alpha - beta) / (alpha + u)
            front = -s * np.log(beta + u) - (r + x) * np.log(alpha + u)
            b, A, rho = r + x, s, (beta + u) / (alpha + u)
        else:
            z = (beta - alpha) / (beta + u)
            front = -(r + x - 1) * np.log(alpha + u) - (s + 1) * np.log(beta + u)
            b, A, rho = s + 1, r + x - 1, (alpha + u) / (beta + u)
        b, A, rho, z, rsx = (np.asarray(v, float) for v in np.broadcast_arrays(b, A, rho, z, rsx))
        value = np.full(b.shape, np.nan)
        far = rho >= _NEAR_ONE  # scipy is slow as well as inaccurate nearer 1: not asked there
        with np.errstate(invalid="ignore", divide="ignore"):
            value[far] = np.log(hyp2f1(1.0, b[far], rsx[far] + 1, z[far]))
        bad = ~np.isfinite(value)
        if bad.any():
            value[bad] = np.log(rsx[bad]) + _log_integral(A[bad], b[bad] * rho[bad], rho[bad])
        return front + value

    @staticmethod
    def _log_tail_limit(r, alpha, mu, x, u):
        """log of the integral from u to infinity of exp(-mu v) (alpha+v)^-(r+x) dv (the tail of
        `_log_tail` as s, beta -> infinity with s / beta = mu), by `_log_integral`."""
        x, u = np.broadcast_arrays(np.asarray(x, float), np.asarray(u, float))
        return -mu * u - (r + x - 1) * np.log(alpha + u) + _log_integral(r + x - 1, mu * (alpha + u), 0.0)

    @staticmethod
    def _log_tail_and_grad(r, alpha, s, beta, x, u):
        """log I(u), I(u) the integral from u to infinity of (alpha+t)^-(r+x) (beta+t)^-(s+1) dt, per
        (x, u) pair (`_log_tail` less log(r+s+x)), and its derivatives in (r, alpha, s, beta) plus the
        head's terms that do not depend on x, (log alpha, r / alpha, log beta, s / beta) (as
        `_pareto_total_and_grad` takes them), an array (4, pairs).

        With `_log_tail`'s substitution: when alpha < beta, alpha + t = (alpha+u) e^v, so that I(u) =
        (alpha+u)^-(r+x-1) (beta+u)^-(s+1) J, J the integral over v >= 0 of exp(-A v - b log(1 + rho
        expm1(v))) with A = r+x-1, b = s+1, rho = (alpha+u) / (beta+u); when alpha >= beta the same with
        beta + t = (beta+u) e^v, A = s, b = r+x, rho = (beta+u) / (alpha+u) (alpha = beta needs no case
        of its own: rho = 1). (r+s+x) J is 2F1(1, b; r+s+x+1; z), z = 1 - rho. Where z <= _SERIES_Z
        (alpha and beta near each other, as on CDNOW), J and its derivatives in b, c = r+s+x+1 and z
        come from the same terms of that power series (`_log_hyp2f1_one_and_grad`, ~50 terms: scipy's
        hyp2f1 has no derivatives in its parameters); elsewhere from `_log_integral`, whose
        derivatives in A, b and rho are its weighted means (d log J / dA = -E[v], / db = -E[log(1 +
        rho expm1(v))] = -rho E[psi], / drho = -b E[g]) on the same nodes as J (differentiating under
        the integral, its `moments`). Either way value and gradient are one computation. The head's
        constants are added here, per pair, so that log alpha - log(alpha+u) is computed as -log1p(u /
        alpha), r / alpha - (r+x-1) / (alpha+u) as (r u / alpha - x + 1) / (alpha+u) and s / beta -
        (s+1) / (beta+u) as (s u / beta - 1) / (beta+u): no difference of large numbers where s and
        beta (or r and alpha) run up together (the value itself has them: s log beta - s log(beta+T))."""
        x, u = (np.asarray(v, float).ravel() for v in np.broadcast_arrays(x, u))
        a_u, b_u = alpha + u, beta + u
        grad = np.empty((4, len(u)))
        rsx = r + s + x
        if alpha >= beta:
            rho, z, b, A = b_u / a_u, (alpha - beta) / a_u, r + x, np.full(len(u), s)
            front = -s * np.log(b_u) - (r + x) * np.log(a_u)
        else:
            rho, z, b, A = a_u / b_u, (beta - alpha) / b_u, np.full(len(u), s + 1.0), r + x - 1.0
            front = -(r + x - 1.0) * np.log(a_u) - (s + 1.0) * np.log(b_u)
        log_J = np.empty(len(u))
        near = z <= _SERIES_Z
        if near.any():  # log J = log 2F1 - log(r+s+x): d/db, d/dc (c = r+s+x+1) and d/dz from the series
            k = near
            log_F, (d_b, d_c, d_z) = _log_hyp2f1_one_and_grad(b[k], rsx[k] + 1.0, z[k])
            log_J[k] = log_F - np.log(rsx[k])
            if alpha >= beta:  # b = r+x: r moves b and c; s moves c; z = (alpha-beta) / (alpha+u)
                grad[0, k] = -np.log1p(u[k] / alpha) + d_b + d_c - 1.0 / rsx[k]
                grad[1, k] = (r * u[k] / alpha - x[k] + d_z * rho[k]) / a_u[k]
                grad[2, k] = -np.log1p(u[k] / beta) + d_c - 1.0 / rsx[k]
                grad[3, k] = s * u[k] / (beta * b_u[k]) - d_z / a_u[k]
            else:  # b = s+1: s moves b and c; r moves c; z = (beta-alpha) / (beta+u)
                grad[0, k] = -np.log1p(u[k] / alpha) + d_c - 1.0 / rsx[k]
                grad[1, k] = (r * u[k] / alpha - x[k] + 1.0) / a_u[k] - d_z / b_u[k]
                grad[2, k] = -np.log1p(u[k] / beta) + d_b + d_c - 1.0 / rsx[k]
                grad[3, k] = (s * u[k] / beta - 1.0 + d_z * rho[k]) / b_u[k]
        k = ~near
        if k.any():
            log_J[k], (mean_v, mean_psi, mean_g) = _log_integral(A[k], b[k] * rho[k], rho[k], moments=True)
            if alpha >= beta:
                grad[0, k] = -np.log1p(u[k] / alpha) - rho[k] * mean_psi
                grad[1, k] = (r * u[k] / alpha - x[k] + b[k] * rho[k] * mean_g) / a_u[k]
                grad[2, k] = -np.log1p(u[k] / beta) - mean_v
                grad[3, k] = s * u[k] / (beta * b_u[k]) - b[k] * mean_g / a_u[k]
            else:
                grad[0, k] = -np.log1p(u[k] / alpha) - mean_v
                grad[1, k] = (r * u[k] / alpha - x[k] + 1.0) / a_u[k] - b[k] * mean_g / b_u[k]
                grad[2, k] = -np.log1p(u[k] / beta) - rho[k] * mean_psi
                grad[3, k] = (s * u[k] / beta - 1.0 + b[k] * rho[k] * mean_g) / b_u[k]
        return front + log_J, grad

    @staticmethod
    def _log_tail_limit_and_grad(r, alpha, mu, x, u):
        """`_log_tail_limit` (log of the integral from u to infinity of exp(-mu t) (alpha+t)^-(r+x) dt)
        and its derivatives in (r, alpha, mu) plus the head's terms that do not depend on x (log alpha,
        r / alpha, 0), an array (3, pairs), as `_log_tail_and_grad`: with alpha + t = (alpha+u) e^v it
        is exp(-mu u) (alpha+u)^-(r+x-1) J, J the integral of exp(-A v - m expm1(v)), A = r+x-1, m =
        mu (alpha+u), whose derivatives are -E[v] and -E[expm1(v)] on J's own nodes."""
        x, u = (np.asarray(v, float).ravel() for v in np.broadcast_arrays(x, u))
        a_u = alpha + u
        log_J, (mean_v, mean_psi, _) = _log_integral(r + x - 1.0, mu * a_u, 0.0, moments=True)
        grad = np.empty((3, len(u)))
        grad[0] = -np.log1p(u / alpha) - mean_v
        grad[1] = (r * u / alpha - x + 1.0) / a_u - mu * mean_psi
        grad[2] = -u - a_u * mean_psi
        return -mu * u - (r + x - 1.0) * np.log(a_u) + log_J, grad

    @staticmethod
    def _log_between(tail, ix):
        """log(exp(tail at t_x) - exp(tail at T)) per row, from a tail at the index's pairs."""
        upper, lower = tail[ix.pairs[2]], tail[ix.pairs[3]]
        with np.errstate(divide="ignore"):
            return upper + np.log(-np.expm1(np.minimum(lower - upper, 0.0)))

    @classmethod
    def _log_a0(cls, r, alpha, s, beta, ix, tail=None):
        """log of (r+s+x) times the integral from t_x to T of (alpha+u)^-(r+x) (beta+u)^-(s+1) du
        (`tail`: `_log_tail` at the index's pairs, if known)."""
        x, u, _, _ = ix.pairs
        return cls._log_between(cls._log_tail(r, alpha, s, beta, x, u) if tail is None else tail, ix)

    @classmethod
    def _log_a0_limit(cls, r, alpha, mu, ix):
        """log of the integral from t_x to T of exp(-mu u) (alpha+u)^-(r+x) du (the limit's `_log_a0`)."""
        x, u, _, _ = ix.pairs
        return cls._log_between(cls._log_tail_limit(r, alpha, mu, x, u), ix)

    @classmethod
    def _loglik_limit(cls, v, x, t_x, T, index=None):
        """Per-row log-likelihood of the limiting model (s, beta -> infinity with s / beta = mu): Poisson
        purchases with rate lambda ~ Gamma(r, alpha) while alive, one exponential(mu) lifetime
        distribution for every customer: Gamma(r+x) alpha^r / Gamma(r) [exp(-mu T) (alpha+T)^-(r+x)
        + mu * integral from t_x to T of exp(-mu u) (alpha+u)^-(r+x) du] (v = r, alpha, mu)."""
        r, alpha, mu = v
        ix = index or _Index(x, t_x, T)
        xs, at_x = ix.xs, ix.of_x
        pair_x, pair_u, _, at_T = ix.pairs
        head = (gammaln(r + xs) - gammaln(r) + r * np.log(alpha))[at_x]
        alive = (-(r + pair_x) * np.log(alpha + pair_u) - mu * pair_u)[at_T]
        dead = np.log(mu) + cls._log_a0_limit(r, alpha, mu, ix)
        return head + np.logaddexp(alive, dead)

    @classmethod
    def _log_dead_rate_limit(cls, lam, s, beta, ix):
        """log of the integral from t_x to T of exp(-lambda u) (beta+u)^-(s+1) du per row: the tail of
        `_log_tail_limit` with lambda for mu, beta for alpha and s + 1 for r + x (the integral is over
        the time of death, not over the rate), once per distinct time."""
        tail = cls._log_tail_limit(s + 1.0, beta, lam, 0.0, ix.times)
        upper, lower = tail[ix.of_tx], tail[ix.of_T]
        with np.errstate(divide="ignore"):
            return upper + np.log(-np.expm1(np.minimum(lower - upper, 0.0)))

    @classmethod
    def _loglik_rate_limit(cls, v, x, t_x, T, index=None):
        """Per-row log-likelihood of the limit r, alpha -> infinity with r / alpha = lambda (v = lambda,
        s, beta): one Poisson rate lambda while alive, lifetimes exponential(mu), mu ~ Gamma(s, beta):
        lambda^x [exp(-lambda T) (beta/(beta+T))^s + s beta^s * integral from t_x to T of exp(-lambda u)
        (beta+u)^-(s+1) du] (alive at T, or dead at u after the last purchase, mixed over mu)."""
        lam, s, beta = v
        ix = index or _Index(x, t_x, T)
        alive = -lam * T - s * np.log(beta + T)
        dead = np.log(s) + cls._log_dead_rate_limit(lam, s, beta, ix)
        return x * np.log(lam) + s * np.log(beta) + np.logaddexp(alive, dead)

    @staticmethod
    def _log_odds_poisson_limit(lam, mu, t_x, T):
        """log(dead / alive) in both limits: mu / (lambda + mu) (exp((lambda + mu) (T - t_x)) - 1)."""
        k = lam + mu
        with np.errstate(divide="ignore"):
            return np.log(mu / k) + np.log(np.expm1(k * (T - t_x)))

    @classmethod
    def _loglik_poisson_limit(cls, v, x, t_x, T, index=None):
        """Per-row log-likelihood of both limits (v = lambda, mu): lambda^x [exp(-(lambda+mu) T) + mu /
        (lambda+mu) (exp(-(lambda+mu) t_x) - exp(-(lambda+mu) T))] (Schmittlein, Morrison & Colombo
        1987, given the rates)."""
        lam, mu = v
        alive = -(lam + mu) * T
        return x * np.log(lam) + alive + np.logaddexp(0.0, cls._log_odds_poisson_limit(lam, mu, t_x, T))

    def _loglik_scaled(self, v, x, t_x, T, index=None):
        r, alpha, s, beta = v
        ix = index or _Index(x, t_x, T)
        # the terms of x alone once per distinct x, those of (x, T) once per distinct pair: the same
        # numbers as per row, for far fewer rows (a million customers have ~30,000 distinct (x, T))
        xs, at_x = ix.xs, ix.of_x
        pair_x, pair_u, _, at_T = ix.pairs
        head = ((gammaln(r + xs) - gammaln(r)) + r * np.log(alpha) + s * np.log(beta))[at_x]
        alive = (-(r + pair_x) * np.log(alpha + pair_u) - s * np.log(beta + pair_u))[at_T]
        dead = (np.log(s) - np.log(r + s + xs))[at_x] + self._log_a0(r, alpha, s, beta, ix)
        return head + np.logaddexp(alive, dead)

    def _loglik_total(self, v, x, t_x, T, counts, index):
        """`_loglik_scaled` summed with the weights `counts`, its terms of x alone and of (x, T) alone
        summed per distinct x and pair (with the counts' sums over them, kept on the index), and
        per row only log(1 + exp(dead - alive) (exp(U - L) - 1)), U and L the tails from t_x and
        from T: log-sum-exp(alive, dead + U + log(1 - exp(L - U))) without the per-row logarithm
        and exponential of the difference (the same value to rounding)."""
        r, alpha, s, beta = v
        ix = index or _Index(x, t_x, T)
        xs, at_x = ix.xs, ix.of_x
        pair_x, pair_u, at_tx, at_T = ix.pairs
        per_x, per_pair = _count_sums(ix, counts)
        head = (gammaln(r + xs) - gammaln(r)) + r * np.log(alpha) + s * np.log(beta)
        alive = -(r + pair_x) * np.log(alpha + pair_u) - s * np.log(beta + pair_u)
        tail = self._log_tail(r, alpha, s, beta, pair_x, pair_u)
        # dead - alive at T per pair (x, T): log(s / (r + s + x)) + L - alive
        log_ratio = (np.log(s) - np.log(r + s + xs))[np.searchsorted(xs, pair_x)] + tail - alive
        gap = tail[at_tx]
        gap -= tail[at_T]
        np.maximum(gap, 0.0, out=gap)  # U - L >= 0; 0 where t_x = T
        with np.errstate(over="ignore", invalid="ignore"):
            found = np.exp(log_ratio)[at_T]
            found *= np.expm1(gap)
            np.log1p(found, out=found)
        bad = np.flatnonzero(~np.isfinite(found))
        if len(bad):  # an overflow (or inf x 0): log(1 + exp(c + log(exp(U - L) - 1))) in log space
            with np.errstate(divide="ignore"):
                found[bad] = np.logaddexp(0.0, log_ratio[at_T[bad]] + gap[bad] + np.log(-np.expm1(-gap[bad])))
        # sums by einsum, not BLAS: its threads, woken for one product, slow the optimiser's next steps
        return float(np.einsum("i,i->", counts, found) + np.einsum("i,i->", per_x, head)
                     + np.einsum("i,i->", per_pair, alive))

    def _total_and_grad(self, phi, ix, counts):
        """The weighted total log-likelihood (`_loglik_total`) at phi = (log r, log alpha, log mu,
        log s), mu = s / beta (the fit's coordinates, scaled units), and its gradient in phi, in one
        pass: Schmittlein, Morrison & Colombo (1987), in the form of Fader & Hardie (2005), "A note on
        deriving the Pareto/NBD model and related expressions", L = Gamma(r+x) alpha^r beta^s / Gamma(r)
        [(alpha+T)^-(r+x) (beta+T)^-s + s I(t_x, T)], I the integral from t_x to T of (alpha+u)^-(r+x)
        (beta+u)^-(s+1) du (the likelihood's integral form, as in Fader & Hardie's 2014 note on it),
        differentiated in (r, alpha, s, beta) under the integral (`_log_tail_and_grad`) and mapped to
        phi (d/d log mu = -beta d/d beta, d/d log s = s d/ds + beta d/d beta). The tails come from the
        power series or `_log_integral` (`_log_tail_and_grad`), not scipy's hyp2f1 where `_log_tail`
        uses it: the same value to ~1e-13, or to rounding of the large terms up the ridges."""
        r, alpha, s, beta = self._natural(phi)
        pair_x, pair_u, _, _ = ix.pairs
        xs = ix.xs
        head = (gammaln(r + xs) - gammaln(r)) + r * np.log(alpha) + s * np.log(beta)
        d_head = np.zeros((4, len(xs)))
        d_head[0] = digamma(r + xs) - digamma(r)
        log_a, log_b = np.log(alpha + pair_u), np.log(beta + pair_u)
        alive = -(r + pair_x) * log_a - s * log_b
        # alive's derivatives with the head's constant ones (see `_log_tail_and_grad`)
        d_alive = np.array([-np.log1p(pair_u / alpha), (r * pair_u / alpha - pair_x) / (alpha + pair_u),
                            -np.log1p(pair_u / beta), s * pair_u / (beta * (beta + pair_u))])
        log_I, d_I = self._log_tail_and_grad(r, alpha, s, beta, pair_x, pair_u)
        total, grad = _pareto_total_and_grad(ix, counts, head, d_head, alive, d_alive, log_I, d_I, np.log(s),
                                             np.array([0.0, 0.0, 1.0 / s, 0.0]))
        g_r, g_alpha, g_s, g_beta = grad
        return total, np.array([r * g_r, alpha * g_alpha, -beta * g_beta, s * g_s + beta * g_beta])

    def _limit_total_and_grad(self, phi, ix, counts):
        """The weighted total log-likelihood of the limit with one dropout rate (`_loglik_limit`) at
        phi = (log r, log alpha, log mu) (scaled units) and its gradient in phi, in one pass, as
        `_total_and_grad`: L = Gamma(r+x) alpha^r / Gamma(r) [exp(-mu T) (alpha+T)^-(r+x) + mu I(t_x,
        T)], I the integral from t_x to T of exp(-mu u) (alpha+u)^-(r+x) du (`_log_tail_limit_and_grad`)."""
        r, alpha, mu = np.exp(phi)
        pair_x, pair_u, _, _ = ix.pairs
        xs = ix.xs
        head = (gammaln(r + xs) - gammaln(r)) + r * np.log(alpha)
        d_head = np.zeros((3, len(xs)))
        d_head[0] = digamma(r + xs) - digamma(r)
        alive = -(r + pair_x) * np.log(alpha + pair_u) - mu * pair_u
        d_alive = np.array([-np.log1p(pair_u / alpha), (r * pair_u / alpha - pair_x) / (alpha + pair_u), -pair_u])
        log_I, d_I = self._log_tail_limit_and_grad(r, alpha, mu, pair_x, pair_u)
        total, grad = _pareto_total_and_grad(ix, counts, head, d_head, alive, d_alive, log_I, d_I, np.log(mu),
                                             np.array([0.0, 0.0, 1.0 / mu]))
        return total, np.array([r, alpha, mu]) * grad

    def _p_alive(self, x, t_x, T):
        P = self.params_
        if "lambda" in P and "mu" in P:  # both limits
            return expit(-self._log_odds_poisson_limit(P["lambda"], P["mu"], t_x, T))
        if "lambda" in P:  # one purchase rate: dead / alive = s e^(lambda T) (beta+T)^s * integral from t_x to T
            lam, s, beta = P["lambda"], P["s"], P["beta"]
            log_dead = self._log_dead_rate_limit(lam, s, beta, _Index(x, t_x, T))
            return expit(-(np.log(s) + log_dead + lam * T + s * np.log(beta + T)))
        r, alpha = P["r"], P["alpha"]
        if "mu" in P:  # the limit with one dropout rate mu
            mu = P["mu"]
            log_a0 = self._log_a0_limit(r, alpha, mu, _Index(x, t_x, T))
            return expit(-(np.log(mu) + mu * T + (r + x) * np.log(alpha + T) + log_a0))
        s, beta = P["s"], P["beta"]
        log_a0 = self._log_a0(r, alpha, s, beta, _Index(x, t_x, T))
        log_odds = np.log(s) - np.log(r + s + x) + (r + x) * np.log(alpha + T) + s * np.log(beta + T) + log_a0
        return expit(-log_odds)

    def _conditional(self, x, t_x, T, times):
        """P(alive) E[lambda | x, T] E[(1 - exp(-mu t)) / mu | alive at T]: E[lambda | x, T] = (r+x) /
        (alpha+T), or lambda itself with one purchase rate; mu given alive at T ~ Gamma(s, beta+T),
        whose expectation is (beta+T) (1 - ((beta+T)/(beta+T+t))^(s-1)) / (s-1), or (1 - exp(-mu t)) /
        mu with one dropout rate."""
        P = self.params_
        times = np.atleast_1d(np.asarray(times, float))[None, :]
        purchase_rate = np.full(x.shape, P["lambda"]) if "lambda" in P else (P["r"] + x) / (P["alpha"] + T)
        if "mu" in P:
            rate = purchase_rate[:, None] * _expm1_ratio(P["mu"], times)
        else:
            s, beta = P["s"], P["beta"]
            rate = (purchase_rate * (beta + T))[:, None] * _expm1_ratio(s - 1, np.log1p(times / (beta + T)[:, None]))
        return self._p_alive(x, t_x, T)[:, None] * rate

    def _unconditional(self, t):
        P = self.params_
        t = np.asarray(t, float)
        purchase_rate = P["lambda"] if "lambda" in P else P["r"] / P["alpha"]
        if "mu" in P:
            return purchase_rate * _expm1_ratio(P["mu"], t)
        return purchase_rate * P["beta"] * _expm1_ratio(P["s"] - 1, np.log1p(t / P["beta"]))

    def probability_of_purchases(self, n, t, unit: str | None = None) -> np.ndarray:
        """P(X(t) = n): probability that a new customer makes exactly n purchases in the first t
        periods; n and t broadcast. Conditioning on the rates (Schmittlein, Morrison & Colombo 1987;
        Fader & Hardie 2006, "Deriving an expression for P(X(t) = x) under the Pareto/NBD model"):
        alive through t, Poisson(lambda t) purchases; else dead at tau < t, Poisson(lambda tau).
        Mixed over lambda ~ Gamma(r, alpha) and mu ~ Gamma(s, beta) this is

            NB(n; r, alpha/(alpha+t)) (beta/(beta+t))^s
            + G(r+n)/(G(r) n!) alpha^r s beta^s * integral_0^t tau^n (alpha+tau)^-(r+n) (beta+tau)^-(s+1) dtau,

        the one-dimensional integral computed by adaptive quadrature (scipy.integrate.quad) in
        place of the paper's Gaussian hypergeometric terms, which need care to converge. In the
        limit of one dropout rate mu (`limit_`), (beta/(beta+t))^s is exp(-mu t) and s beta^s
        (beta+tau)^-(s+1) is mu exp(-mu tau).
        """
        from scipy.integrate import quad

        n, t = self._counts_and_times(n, t, unit)
        P = self.params_
        if "mu" in P:  # the limit: survival exp(-mu t), dropout density mu exp(-mu tau)
            mu = P["mu"]

            def log_survival(span):
                return -mu * span

            def log_dropout(tau):
                return np.log(mu) - mu * tau
        else:
            s, beta = P["s"], P["beta"]

            def log_survival(span):
                return s * (np.log(beta) - np.log(beta + span))

            def log_dropout(tau):
                return np.log(s) + s * np.log(beta) - (s + 1) * np.log(beta + tau)
        out = np.empty(n.shape, float)
        if "lambda" in P:  # one purchase rate: Poisson counts, (lambda tau)^n exp(-lambda tau) / n! dead at tau
            lam = P["lambda"]

            def log_count(k, span):
                return poisson.logpmf(k, lam * span)

            def log_head(k):
                return k * np.log(lam) - gammaln(k + 1)

            def log_rate_part(k, tau):
                return -lam * tau
        else:
            r, alpha = P["r"], P["alpha"]

            def log_count(k, span):
                return nbinom.logpmf(k, r, alpha / (alpha + span))

            def log_head(k):
                return gammaln(r + k) - gammaln(r) - gammaln(k + 1) + r * np.log(alpha)

            def log_rate_part(k, tau):
                return -(r + k) * np.log(alpha + tau)
        for i, (k, span) in enumerate(zip(n.ravel(), t.ravel())):
            alive = log_count(k, span) + log_survival(span)
            head = log_head(k)
            # the integrand, scaled by its largest value on [0, t] so that quad works near 1
            def log_f(tau, k=k):
                with np.errstate(divide="ignore"):
                    return k * np.log(tau) + log_rate_part(k, tau) + log_dropout(tau)
            grid = np.linspace(0.0, span, 65)[1:]
            peak = float(np.max(log_f(grid))) if span > 0 else 0.0
            integral, _ = quad(lambda tau: np.exp(log_f(tau) - peak), 0.0, span, limit=200, epsabs=0, epsrel=1e-10) \
                if span > 0 else (0.0, 0.0)
            dead = head + peak + np.log(integral) if integral > 0 else -np.inf
            out.flat[i] = np.exp(np.logaddexp(alive, dead))
        return out


# ---------------------------------------------------------------------------------------------
# spend


def spend_summary(summary: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """`summary` as the spend model reads it, and how many customers it leaves out: a repeat buyer
    whose repeat purchases net to zero or less (a repeat order returned in full) has no spend the
    Gamma-Gamma model (Fader, Hardie & Lee 2005) can describe; counted as without repeats (x = 0),
    they are not in the fit and their expected spend is the population's mean. The purchase models
    keep every customer."""
    if not {"x", "mean_repeat_spend"} <= set(summary.columns):  # the model's own checks say what is missing
        return summary, 0
    x = pd.to_numeric(summary["x"], errors="coerce").to_numpy(dtype=float)
    m = pd.to_numeric(summary["mean_repeat_spend"], errors="coerce").to_numpy(dtype=float)
    out = (x > 0) & ~(np.isfinite(m) & (m > 0))
    if not out.any():
        return summary, 0
    return summary.assign(x=np.where(out, 0, summary["x"]), mean_repeat_spend=np.where(out, 0.0, m)), int(out.sum())


class GammaGammaModel:
    """Gamma-Gamma spend model (Fader, Hardie & Lee 2005, JMR; Fader & Hardie 2013): a customer's
    purchase amounts are Gamma(p, nu) with nu ~ Gamma(q, gamma) across customers (gamma in money
    units); the mean of a customer's x repeat purchases, mean_repeat_spend, is the data. It assumes
    spend independent of purchase frequency: `frequency_spend_corr_` reports their correlation
    (Pearson) among the repeat buyers.

    `fit(summary)` uses the customers with x >= 1 (the others carry no spend information and are
    left out; their number is `customers_left_out_`) and learns `params_` (p, q, gamma), `loglik_`,
    `se_`, `covariance_`, `n_customers_`, `repeat_spend_median_` (the median of the repeat buyers'
    mean_repeat_spend, money units), and `own_weight_`, the largest weight a customer's own mean
    spend gets in their expected spend (p x / (p x + q - 1) at the largest x): near zero when the fit
    finds no spread of spend between customers beyond chance (q far above p x), and every expected
    spend is then close to the population mean. Raises DataError when a repeat buyer's mean spend is zero,
    negative or missing (naming the customer) or fewer than 2 customers have repeat purchases.

    `expected_spend(summary)`: E[spend per purchase | x, mean_repeat_spend]; for customers without
    repeats the population mean p gamma / (q - 1).
    """

    name = "Gamma-Gamma"
    _names = ("p", "q", "gamma")

    def __init__(self):
        pass

    def _data(self, summary):
        x = check_summary(summary, ("x",))["x"]
        if "mean_repeat_spend" not in summary.columns:
            raise DataError("summary lacks column mean_repeat_spend; make it with segkit's repeat_summary")
        try:
            m = summary["mean_repeat_spend"].to_numpy(dtype=float)
        except (TypeError, ValueError):
            raise DataError("summary column 'mean_repeat_spend' must be numeric") from None
        m = np.where(x > 0, m, 0.0)  # customers without repeats have no mean repeat spend: not used
        missing = ~np.isfinite(m)
        if missing.any():
            raise DataError(f"{_customer_names(summary, missing)}: mean_repeat_spend is missing or infinite for a "
                            "customer with repeat purchases")
        bad = (x > 0) & (m <= 0)
        if bad.any():
            raise DataError(f"{_customer_names(summary, bad)}: mean_repeat_spend must be > 0 for a customer with "
                            f"repeat purchases, got {m[bad][0]:g}; the Gamma-Gamma model needs positive amounts "
                            "(set returns and zero-value orders aside in cleaning)")
        return x, m

    def fit(self, summary: pd.DataFrame) -> "GammaGammaModel":
        """Fit by maximum likelihood on the repeat buyers' x and mean_repeat_spend."""
        x, m = self._data(summary)
        keep = x > 0
        if keep.sum() < 2:
            raise DataError(f"Gamma-Gamma needs at least 2 customers with repeat purchases, got {int(keep.sum())}")
        x, m = x[keep], m[keep]
        scale = float(m.mean())
        (ux, um), _, counts = _unique_rows(x, m / scale)
        n = counts.sum()
        by_x = np.unique(ux, return_inverse=True)

        def nll(theta):
            return -_weighted_sum(counts, self._loglik(np.exp(theta), ux, um, by_x)) / n

        def objective(ux, um, counts, by_x):
            n = counts.sum()

            def fun(theta):
                v = np.exp(theta)
                ll, grad = self._loglik_and_grad(v, ux, um, by_x=by_x)
                return -_weighted_sum(counts, ll) / n, -_weighted_sum(counts, grad) * v / n
            return fun

        fun = objective(ux, um, counts, by_x)
        sample = _sample_rows((ux, um), counts)
        if sample is not None:
            (sx, sm), sampled = sample
            sample = objective(sx, sm, sampled, np.unique(sx, return_inverse=True))
        res = _minimize_from_sample(fun, sample, [np.log([1.0, 1.0, 1.0]), np.log([5.0, 4.0, 0.5]),
                                                  np.log([0.5, 2.0, 2.0])], [(-_BOUND, _BOUND)] * 3, n, jac=True)
        self._scale = scale
        self.params_ = self._params_from_theta(res.x, scale)
        # log-likelihood of the mean spend in money units (a density: shifts with the scale)
        self.loglik_ = float(-res.fun * n - n * np.log(scale))
        self.n_customers_ = int(n)
        self.customers_left_out_ = int((~keep).sum())
        self.frequency_spend_corr_ = float(np.corrcoef(x, m)[0, 1]) if np.ptp(x) > 0 and np.ptp(m) > 0 else 0.0
        self.repeat_spend_median_ = float(np.median(m))  # the typical repeat buyer's mean spend, money units
        # the most that any customer's own mean counts in their expected spend: p x / (p x + q - 1) at the
        # largest x; near 0 when q is far above p x (no spread of spend between customers beyond chance)
        p, q = self.params_["p"], self.params_["q"]
        self.own_weight_ = float(p * x.max() / (p * x.max() + q - 1)) if q > 1 else 1.0
        at_bound = [name for name, hit in zip(self.params_, np.abs(res.x) > _BOUND - 1e-3) if hit]
        self.converged_ = res.converged and not at_bound
        if not self.converged_:
            warnings.warn(ConvergenceWarning(f"Gamma-Gamma fit has no interior maximum "
                                             f"({_CountingModel._describe(self.params_)}); the spend estimates are "
                                             "not reliable", model=self.name, kind="bound" if at_bound else "stopped",
                                             detail=", ".join(at_bound) if at_bound else str(res.message)),
                          stacklevel=2)
        self.covariance_, concave = _covariance(_numerical_hessian(lambda th: nll(th) * n, res.x), self.name)
        sd = np.sqrt(np.diag(self.covariance_))
        self.se_ = {k: float(v * s) for (k, v), s in zip(self.params_.items(), sd)}
        if not concave:  # not a maximum: flat along the parameters `_loose` names, or a saddle (`_covariance`)
            loose = _loose(self.params_, self.se_, sd, concave)
            if loose and self.converged_:
                _warn_loose(self.name, loose, _CountingModel._describe(self.params_))
            self.converged_ = False
        return self

    @staticmethod
    def _loglik_and_grad(v, x, m, want_grad: bool = True, by_x=None):
        """Per-row log-likelihood and its gradient in (p, q, gamma); the terms in x alone are
        computed once per distinct x (`by_x`: np.unique(x, return_inverse=True), if known)."""
        p, q, gamma = v
        xs, at = by_x if by_x is not None else np.unique(x, return_inverse=True)
        pxs = p * xs
        px = pxs[at]
        log_total = np.log(gamma + x * m)
        log_xm = np.log(x * m)
        ll = ((gammaln(pxs + q) - gammaln(pxs))[at] - gammaln(q) + q * np.log(gamma) + px * log_xm - np.log(m)
              - (px + q) * log_total)
        if not want_grad:
            return ll, None
        psi = digamma(pxs + q)
        grad = np.column_stack([x * ((psi - digamma(pxs))[at] + log_xm - log_total),
                                psi[at] - digamma(q) + np.log(gamma) - log_total,
                                q / gamma - (px + q) / (gamma + x * m)])
        return ll, grad

    @classmethod
    def _loglik(cls, v, x, m, by_x=None):
        return cls._loglik_and_grad(v, x, m, want_grad=False, by_x=by_x)[0]

    def _params_from_theta(self, theta, scale):
        p, q, gamma = np.exp(np.asarray(theta, float))
        return {"p": float(p), "q": float(q), "gamma": float(gamma * scale)}

    @property
    def theta_(self) -> np.ndarray:
        P = self.params_
        return np.log([P["p"], P["q"], P["gamma"] / self._scale])

    def _with_theta(self, theta):
        other = copy.copy(self)
        other.params_ = self._params_from_theta(theta, self._scale)
        return other

    def expected_spend(self, summary: pd.DataFrame) -> pd.Series:
        """Conditional expected spend per purchase, p (gamma + x m) / (p x + q - 1), a Series
        aligned with `summary` (money units); a repeat buyer whose mean repeat spend is zero or less
        is taken as one without repeats (the population's mean: see `spend_summary`). Raises
        DataError when the fitted q <= 1 (the population mean spend is then infinite) and there are
        customers without repeats."""
        if not hasattr(self, "params_"):
            raise ParamsError("Gamma-Gamma is not fitted yet: call fit(summary) first")
        x, m = self._data(spend_summary(summary)[0])  # a repeat spend netted to zero or less: the population's
        P = self.params_
        p, q, gamma = P["p"], P["q"], P["gamma"]
        denominator = p * x + q - 1
        if (denominator <= 0).any():
            raise DataError(f"Gamma-Gamma: q={q:.3g} <= 1 means an infinite mean spend for customers with few "
                            "repeat purchases; the spend model does not fit these data")
        m = np.where(x > 0, m, 0.0)
        return pd.Series(p * (gamma + x * m) / denominator, index=summary.index, name="expected_spend")


# ---------------------------------------------------------------------------------------------
# CLV, the holdout check, intervals

def _periods(purchases, horizon, horizon_unit, discount_rate):
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise ParamsError(f"horizon must be a whole number of periods >= 1, got {horizon!r}")
    if not (isinstance(discount_rate, (int, float)) and 0 <= discount_rate < 1):
        raise ParamsError(f"discount_rate must be a rate per {horizon_unit[:-1]} from 0 to 1 (0.01 = 1%), "
                          f"got {discount_rate!r}")
    purchases._check_fitted()
    step = unit_days(horizon_unit) / UNIT_DAYS[purchases.time_unit_]
    return step * np.arange(horizon + 1), (1 + discount_rate) ** -np.arange(1, horizon + 1)


def horizon_purchases(summary: pd.DataFrame, purchases: _CountingModel, horizon: int = 12,
                      horizon_unit: str = "months", discount_rate: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Per customer of `summary`: the expected purchases over the whole horizon (as
    `purchases.expected_purchases(summary, horizon, unit=horizon_unit)`) and the discounted expected
    purchases of `predicted_clv` (sum over periods k of the purchases in period k / (1 +
    discount_rate)^k), both from one evaluation of the purchase model at the period ends, so that
    a caller needing both does not compute the expectation twice. Two float arrays aligned with
    `summary`; the same refusals as `predicted_clv`."""
    times, discounts = _periods(purchases, horizon, horizon_unit, discount_rate)
    x, t_x, T = purchases._predict_data(summary)
    (ux, utx, uT), inverse, _ = _unique_rows(x, t_x, T)
    total, discounted = purchases._horizon_parts(ux, utx, uT, times, discounts)
    return total[inverse], discounted[inverse]


def predicted_clv(summary: pd.DataFrame, purchases: _CountingModel, spend: GammaGammaModel,
                  horizon: int = 12, horizon_unit: str = "months", discount_rate: float = 0.01) -> pd.Series:
    """Predicted customer lifetime value over the next `horizon` periods of `horizon_unit`:
    sum over periods k = 1..horizon of expected spend per purchase (Gamma-Gamma) x expected
    purchases in period k (BG/NBD or Pareto/NBD) / (1 + discount_rate)^k, as in Fader, Hardie &
    Lee (2005, JMR). The horizon is converted to the purchase model's time unit: 12 months on a
    weekly model is 12 x 30.4375 / 7 = 52.18 weeks (not 12 x 30 weeks nor 12 weeks).
    `discount_rate` is per period of `horizon_unit` (0.01 = 1% a month). Money units of the spend.

    A Series aligned with `summary`. Raises ParamsError for a horizon that is not a whole number
    >= 1, a discount rate outside [0, 1) or an unknown unit.
    """
    discounted = horizon_purchases(summary, purchases, horizon, horizon_unit, discount_rate)[1]
    return pd.Series(spend.expected_spend(summary).to_numpy() * discounted, index=summary.index, name="clv")


def holdout_check(summary: pd.DataFrame, purchases: _CountingModel, max_x: int = 7,
                  alternative: _CountingModel | None = None) -> pd.DataFrame:
    """Predicted against actual purchases in the holdout period, by calibration repeat purchases
    x (0, 1, ..., max_x or more, the classic chart of Fader, Hardie & Lee 2005, fig. 4).

    Needs a summary with x_holdout and holdout_length (`repeat_summary` with observation_end).
    Columns: x (the group's label; the last is "max_x+"), customers, actual, predicted (totals in
    the holdout), actual_mean, predicted_mean (per customer); with `alternative` (a second fitted
    purchase model, e.g. Pareto/NBD beside BG/NBD) also alternative and alternative_mean.
    """
    if "x_holdout" not in summary.columns or "holdout_length" not in summary.columns:
        raise DataError("holdout_check needs x_holdout and holdout_length: make the summary with "
                        "repeat_summary(..., observation_end=...)")
    lengths = summary["holdout_length"].to_numpy(dtype=float)

    def predictions(model):
        x, t_x, T = model._predict_data(summary)
        predicted = np.zeros(len(x))
        for length in np.unique(lengths):
            rows = lengths == length
            (ux, utx, uT), inverse, _ = _unique_rows(x[rows], t_x[rows], T[rows])
            predicted[rows] = model._conditional(ux, utx, uT, [length])[inverse, 0]
        return x, predicted

    x, predicted = predictions(purchases)
    group = np.minimum(x, max_x).astype(int)
    frame = pd.DataFrame({"group": group, "actual": summary["x_holdout"].to_numpy(dtype=float),
                          "predicted": predicted})
    sums = {"customers": ("actual", "size"), "actual": ("actual", "sum"), "predicted": ("predicted", "sum")}
    if alternative is not None:
        frame["alternative"] = predictions(alternative)[1]
        sums["alternative"] = ("alternative", "sum")
    table = frame.groupby("group").agg(**sums).reset_index()
    table["actual_mean"] = table["actual"] / table["customers"]
    table["predicted_mean"] = table["predicted"] / table["customers"]
    if alternative is not None:
        table["alternative_mean"] = table["alternative"] / table["customers"]
    table.insert(0, "x", [f"{g}+" if g == max_x else str(g) for g in table.pop("group")])
    return table


def _sorted_groups(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values as text, sorted, and each row's place among them: np.unique(values as
    text, return_inverse=True), by hashing (pandas.factorize) and sorting only the distinct values,
    not a million Python strings."""
    text = values.astype(str).to_numpy()
    codes, uniques = pd.factorize(text)
    if (codes < 0).any():  # a missing value that stayed missing: leave it to np.unique's rules
        return np.unique(text, return_inverse=True)
    uniques = np.asarray(uniques, dtype=object)
    order = np.argsort(uniques, kind="stable")
    rank = np.empty(len(order), dtype=np.intp)
    rank[order] = np.arange(len(order))
    return uniques[order], rank[codes]


def group_intervals(summary: pd.DataFrame, by: str, purchases: _CountingModel, spend: GammaGammaModel | None = None,
                    horizon: int = 12, horizon_unit: str = "months", discount_rate: float = 0.01,
                    level: float = 0.9) -> pd.DataFrame:
    """Per group of `by` (a column of `summary`): customers, the mean expected purchases over the
    horizon and, with `spend`, the mean predicted CLV (as `predicted_clv`), each with a `level`
    interval. Columns: `by`, customers, expected_purchases, expected_purchases_lower,
    expected_purchases_upper, and clv, clv_lower, clv_upper.

    The intervals reflect the uncertainty of the fitted parameters by the delta method: the gradient
    of the log group mean in the log-parameters (for BG/NBD the derivatives of its expectations,
    computed with them in one pass, `_rate_over_beta(gradient=True)`; for the other models central
    differences) with the models' covariance
    (the purchase and spend models are fitted separately, so their estimates are independent),
    on the log scale so that the bounds stay positive. They do not include the randomness of the
    customers' future purchases. The bounds are missing (NaN) where they depend on a parameter whose
    standard error is not defined (infinite: a flat log-likelihood, see `_covariance`). Raises DataError for an unknown column, ParamsError for a level
    outside (0, 1) or a model without standard errors.
    """
    if by not in summary.columns:
        raise DataError(f"summary has no column {by!r} to group by")
    if not 0 < level < 1:
        raise ParamsError(f"level must be between 0 and 1 (0.9 = 90%), got {level!r}")
    for model in (purchases, spend):
        if model is not None and not hasattr(model, "covariance_"):
            raise ParamsError(f"{model.name} has no standard errors (parameters were given, not fitted): "
                              "fit it to get intervals")
    times, discounts = _periods(purchases, horizon, horizon_unit, discount_rate)
    x, t_x, T = purchases._predict_data(summary)
    labels, group_of = _sorted_groups(summary[by])
    sizes = np.bincount(group_of, minlength=len(labels)).astype(float)
    (ux, utx, uT), inverse, _ = _unique_rows(x, t_x, T)

    def group_mean(values):
        return np.bincount(group_of, values, len(labels)) / sizes

    def purchase_paths(model):  # per customer: purchases over the horizon, discounted purchases
        total, discounted = model._horizon_parts(ux, utx, uT, times, discounts)
        return total[inverse], discounted[inverse]

    def log_gradient(model, values_of, known=None):
        # central differences, except for the parameters of `known` (their row of the gradient)
        theta, h = model.theta_, 1e-4
        rows = []
        for i in range(len(theta)):
            if known is not None and i in known:
                rows.append(known[i])
                continue
            step = np.eye(len(theta))[i] * h
            rows.append((np.log(values_of(model._with_theta(theta + step)))
                         - np.log(values_of(model._with_theta(theta - step)))) / (2 * h))
        return np.array(rows)  # (parameters, groups)

    def variance(G, cov):
        with np.errstate(over="ignore", invalid="ignore"):
            return np.einsum("ig,ij,jg->g", G, np.where(np.isfinite(cov), cov, 1e300), G)

    def bounds(estimate, sd):  # (lower, upper); missing where the parameters' uncertainty is not defined
        # (an infinite standard error, stood in for by 1e300 above, that the group mean depends on)
        undefined = ~np.isfinite(sd) | (sd > 1e100)
        with np.errstate(over="ignore", invalid="ignore"):
            factor = np.exp(np.where(undefined, 0.0, z * sd))
        return np.where(undefined, np.nan, estimate / factor), np.where(undefined, np.nan, estimate * factor)

    total, discounted = purchase_paths(purchases)
    z = norm.ppf(0.5 + level / 2)
    out = pd.DataFrame({by: labels, "customers": sizes.astype(int)})
    paths = {}

    def paths_of(model):  # each perturbed purchase model is evaluated once for both quantities
        key = tuple(model.theta_)
        if key not in paths:
            paths[key] = purchase_paths(model)
        return paths[key]

    # BG/NBD's gradient from the derivatives of its integrals (one pass instead of eight at perturbed
    # parameters, see `_rate_chunk_gradient`); the other models by central differences
    analytic = isinstance(purchases, BGNBDModel) and purchases.form_ == BGNBDModel._names
    d_total = d_discounted = None
    if analytic:
        d_total, d_discounted = purchases._horizon_parts_gradient(ux, utx, uT, times, discounts)
        d_total, d_discounted = d_total[:, inverse], d_discounted[:, inverse]

    def known_rows(derivatives, values):  # d log(group mean) = d group mean / group mean
        if derivatives is None:
            return None
        mean = group_mean(values)
        return {i: group_mean(derivatives[i]) / mean for i in range(len(derivatives))}

    G = log_gradient(purchases, lambda m: group_mean(paths_of(m)[0]), known_rows(d_total, total))
    estimate, sd = group_mean(total), np.sqrt(variance(G, purchases.covariance_))
    out["expected_purchases"] = estimate
    out["expected_purchases_lower"], out["expected_purchases_upper"] = bounds(estimate, sd)
    if spend is not None:
        money = spend.expected_spend(summary).to_numpy()
        G_purchases = log_gradient(purchases, lambda m: group_mean(money * paths_of(m)[1]),
                                   known_rows(None if d_discounted is None else money * d_discounted,
                                              money * discounted))
        G_spend = log_gradient(spend, lambda m: group_mean(m.expected_spend(summary).to_numpy() * discounted))
        estimate = group_mean(money * discounted)
        sd = np.sqrt(variance(G_purchases, purchases.covariance_) + variance(G_spend, spend.covariance_))
        out["clv"] = estimate
        out["clv_lower"], out["clv_upper"] = bounds(estimate, sd)
    return out
