"""The fast paths of the value models (issue 15, scale) against the straightforward computations they
replaced, on small frames with the edge cases: no repeat purchase (x = 0), the last purchase at the
end (t_x = T), a huge age T, age 0, dropout shapes B = b + x below and above the Jacobi endpoint
limit, customers without spend. Each reference below is the earlier per-row formula, written out
again here, so that a change of the fast path cannot pass by changing both."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import gammaln, roots_jacobi

from segkit.evaluate.stability import PINNED_REFERENCES
from segkit.models import clv
from segkit.models.clv import BGNBDModel, GammaGammaModel, ParetoNBDModel, predicted_clv
from segkit.models.customer_value import ValueModels, customer_value
from segkit.models.repeat_summary import UNIT_DAYS


def reference_rate_chunk(a, B, R, A, times, ju, jw):
    """The quadrature of `clv._rate_over_beta` as first written: a loop over the small B values and
    a sum per time, (1 - (A / (A + p t))^R) / p weighted per node."""
    nodes, panels = clv._NODES, clv._PANELS
    s0 = 0.01 * np.minimum(np.minimum(A / (times.max() * np.maximum(R, 1.0)), 1.0 / B), 1.0)
    edges = s0[:, None] ** (1.0 - np.arange(panels) / (panels - 1))[None, :]
    p0 = s0[:, None] * (1 + ju) / 2
    lw0 = np.log(jw) + a * np.log(s0 / 2)[:, None] + (B - 1)[:, None] * np.log1p(-p0)
    lo, hi = edges[:, :-1], edges[:, 1:]
    half, mid = (hi - lo) / 2, (hi + lo) / 2
    p1 = np.minimum(mid[..., None] + half[..., None] * clv._GL_U, 1 - 1e-16)
    lw1 = np.log(clv._GL_W) + np.log(half)[..., None] + (a - 1) * np.log(p1) + (B - 1)[:, None, None] * np.log1p(-p1)
    for b_value in np.unique(B[B < clv._ENDPOINT_B]):
        rows = B == b_value
        lu, lw = roots_jacobi(nodes, b_value - 1.0, 0.0)
        h = half[rows, -1][:, None]
        p_last = lo[rows, -1][:, None] + h * (1 + lu)
        p1[rows, -1] = p_last
        lw1[rows, -1] = np.log(lw) + b_value * np.log(h) + (a - 1) * np.log(p_last)
    p = np.concatenate([p0, p1.reshape(len(B), -1)], axis=1)
    logw = np.concatenate([lw0, lw1.reshape(len(B), -1)], axis=1)
    w = np.exp(logw - logw.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    scaled = p / A[:, None]
    return np.column_stack([np.sum(w * (-np.expm1(-R[:, None] * np.log1p(scaled * t)) / p), axis=1) for t in times])


def reference_pareto_loglik(model, v, x, t_x, T):
    """Pareto/NBD's log-likelihood per row with every term computed per row."""
    r, alpha, s, beta = v
    head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    dead = np.log(s) - np.log(r + s + x) + model._log_a0(r, alpha, s, beta, clv._Index(x, t_x, T))
    return head + np.logaddexp(alive, dead)


def edge_rows(n=3000, seed=3):
    """(x, t_x, T) with the edge cases first, then random customers."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([[0, 0, 0, 1, 5, 5, 70, 2000, 3], rng.integers(0, 90, n).astype(float)])
    T = np.concatenate([[0.0, 3.0, 1e6, 2.0, 40.0, 1e6, 80.0, 150.0, 1e-9], rng.uniform(0, 160, n)])
    t_x = np.where(x > 0, T * np.concatenate([[0, 0, 0, 1.0, 1.0, 0.5, 0.9, 1.0, 1.0], rng.uniform(0.01, 1, n)]), 0.0)
    return x.astype(float), t_x, T


def relative_gap(new, old):
    new, old = np.asarray(new, float), np.asarray(old, float)
    assert np.array_equal(np.isfinite(new), np.isfinite(old))
    finite = np.isfinite(old)
    scale = np.maximum(np.abs(old[finite]), 1e-300)
    return float(np.max(np.abs(new[finite] - old[finite]) / scale, initial=0.0))


@pytest.mark.parametrize("a, b", [(0.79, 2.4), (1.0, 1.0), (0.3, 0.2), (4.0, 75.0)])
def test_rate_over_beta_matches_the_first_quadrature(a, b):
    x, _, T = edge_rows()
    r, alpha = 0.24, 4.4
    times = 30.4375 / 7 * np.arange(13)  # a 12-month horizon in weeks, with t = 0
    new = clv._rate_over_beta(a, b + x, r + x, alpha + T, times)
    ju, jw = roots_jacobi(clv._NODES, 0.0, a - 1.0)
    old = np.zeros_like(new)
    for start in range(0, len(x), 4096):  # the first chunking
        rows = slice(start, start + 4096)
        old[rows, 1:] = reference_rate_chunk(a, (b + x)[rows], (r + x)[rows], (alpha + T)[rows], times[1:], ju, jw)
    assert np.all(new[:, 0] == 0)
    assert np.all(new[:, 1:] > 0)
    assert relative_gap(new, old) < 1e-10


def test_pareto_loglik_matches_the_per_row_formula():
    model = ParetoNBDModel()
    x, t_x, T = edge_rows(seed=5)
    (ux, utx, uT), _, _ = clv._unique_rows(x, t_x, T)
    for v in ([0.55, 10.6, 0.61, 11.7], [2.0, 3.0, 0.3, 3.0], [0.5, 0.3, 1.0, 0.35]):
        new = model._loglik_scaled(np.array(v), ux, utx, uT, clv._Index(ux, utx, uT))
        # the same operations on the same values, only once per distinct x or (x, T): equal bit for bit
        np.testing.assert_array_equal(new, reference_pareto_loglik(model, v, ux, utx, uT))


def small_summary():
    x, t_x, T = edge_rows(n=400, seed=11)
    keep = T < 1e5  # a fit needs sensible ages; the huge ones are checked in prediction below
    rng = np.random.default_rng(2)
    spend = np.where(x > 0, rng.gamma(2.0, 20.0, len(x)), 0.0)  # customers without repeats spend 0
    frame = pd.DataFrame({"customer_id": [f"c{i}" for i in range(len(x))], "x": x, "t_x": t_x, "T": T,
                          "mean_repeat_spend": spend})
    frame.attrs["time_unit"] = "weeks"
    return frame[keep].reset_index(drop=True), frame


def test_customer_value_equals_the_public_predictions():
    fit_on, frame = small_summary()
    purchases = BGNBDModel().fit(fit_on)
    spend = GammaGammaModel().fit(fit_on)
    value = customer_value(frame, ValueModels(purchases, spend, None, "bgnbd"), horizon=12, horizon_unit="months",
                           discount_rate=0.01)
    expected = purchases.expected_purchases(frame, 12, unit="months").to_numpy()
    clv_old = predicted_clv(frame, purchases, spend, horizon=12, horizon_unit="months", discount_rate=0.01).to_numpy()
    assert relative_gap(value["expected_purchases"], expected) < 1e-10
    assert relative_gap(value["clv"], clv_old) < 1e-10
    # the discounted sum of the period increments, written out: predicted_clv's definition
    step = 30.4375 / UNIT_DAYS["weeks"]
    x, t_x, T = (frame[c].to_numpy(float) for c in ("x", "t_x", "T"))
    cumulative = purchases._conditional(x, t_x, T, step * np.arange(13))
    discounted = (np.diff(cumulative, axis=1) * 1.01 ** -np.arange(1, 13)).sum(axis=1)
    assert relative_gap(value["clv"], spend.expected_spend(frame).to_numpy() * discounted) < 1e-10
    assert (value.loc[frame["x"].to_numpy() == 0, "clv"] > 0).all()  # no repeat yet: the population's spend


def test_kept_conditional_is_keyed_by_parameters_and_inputs_and_not_shared_by_mutation():
    fit_on, frame = small_summary()
    model = BGNBDModel().fit(fit_on)
    x, t_x, T = (frame[c].to_numpy(float) for c in ("x", "t_x", "T"))
    times = [1.0, 5.0]
    first = model._conditional(x, t_x, T, times)
    first[:] = -1.0  # a caller changing its copy does not change the kept one
    again = model._conditional(x, t_x, T, times)
    assert (again > 0).all()
    other = model._with_theta(model.theta_ + np.array([0.1, 0.0, 0.0, 0.0]))
    assert not np.allclose(other._conditional(x, t_x, T, times), again)  # other parameters: computed anew
    assert not np.allclose(model._conditional(x, t_x, T + 1.0, times), again)  # other ages: computed anew
    np.testing.assert_array_equal(model._conditional(x, t_x, T, times), again)


def test_pinned_references_leave_the_labels_of_a_given_k_unchanged():
    from segkit.models.cluster import RFMClusterer

    rng = np.random.default_rng(0)
    features = pd.DataFrame({"recency_days": rng.integers(0, 400, 600), "orders": rng.integers(1, 30, 600),
                             "revenue": rng.gamma(2.0, 100.0, 600)})
    full = RFMClusterer(k_min=4, k_max=4, sample_size=500, random_state=1).fit(features)
    pinned = RFMClusterer(k_min=4, k_max=4, sample_size=500, n_references=PINNED_REFERENCES, random_state=1).fit(features)
    np.testing.assert_array_equal(full.labels_, pinned.labels_)
    assert full.k_ == pinned.k_ == 4


@pytest.mark.parametrize("values", [["b", "a", "b", "c", "a"], ["Champions", "At risk", "ÄÖ", "zz", "At risk", "10", "9"],
                                    [3, 1, 2, 3], ["only"]])
def test_sorted_groups_equal_numpy_unique(values):
    labels, codes = clv._sorted_groups(pd.Series(values))
    old_labels, old_codes = np.unique(pd.Series(values).astype(str).to_numpy(), return_inverse=True)
    assert list(labels) == list(old_labels)
    np.testing.assert_array_equal(codes, old_codes)


def test_sorted_groups_of_a_categorical_column():
    values = pd.Series(pd.Categorical(["low", "high", "low", "mid"], categories=["low", "mid", "high"]))
    labels, codes = clv._sorted_groups(values)
    assert list(labels) == ["high", "low", "mid"]
    np.testing.assert_array_equal(codes, [1, 0, 1, 2])


def test_unique_rows_kept_grouping_is_keyed_by_values_and_returns_copies():
    x, t_x, T = edge_rows(n=200, seed=8)
    first = clv._unique_rows(x, t_x, T)
    first[1][:] = -1  # a caller changing its copy does not change the kept grouping
    again = clv._unique_rows(x.copy(), t_x.copy(), T.copy())
    assert (again[1] >= 0).all() and again[2].sum() == len(x)
    frame = pd.DataFrame({"x": x, "t_x": t_x, "T": T})
    expected = frame.groupby(["x", "t_x", "T"], sort=True).ngroup().to_numpy()
    np.testing.assert_array_equal(again[1], expected)
    moved = clv._unique_rows(x, t_x, T + 1.0)  # other values: grouped anew
    assert not np.array_equal(moved[0][2], again[0][2])
    two = clv._unique_rows(x, T)  # other columns: grouped anew
    assert len(two[0]) == 2 and len(two[0][0]) == len(np.unique(np.column_stack([x, T]), axis=0))


def test_bgnbd_horizon_parts_equal_the_sums_over_every_row():
    fit_on, frame = small_summary()
    model = BGNBDModel().fit(fit_on)
    x, t_x, T = (frame[c].to_numpy(float) for c in ("x", "t_x", "T"))
    times, discounts = 30.4375 / 7 * np.arange(13), 1.01 ** -np.arange(1, 13)
    total, discounted = model._horizon_parts(x, t_x, T, times, discounts)
    cumulative = model._conditional(x, t_x, T, times)  # per row, then the period sums: the first route
    np.testing.assert_array_equal(total, cumulative[:, -1])
    assert relative_gap(discounted, (np.diff(cumulative, axis=1) * discounts).sum(axis=1)) < 1e-12
    assert (discounted > 0).all() and (discounted < total).all()


def test_a_degenerate_quadrature_says_nothing_on_the_page():
    """Nodes whose logarithms are not finite (a fit at its bounds) give an expectation that is not a
    number, which the fit's caveat explains: no RuntimeWarning, which a notebook printed onto 05's
    page with segkit's file path and line."""
    import warnings

    from scipy.special import roots_jacobi

    from segkit.models.clv import _rate_chunk

    ju, jw = roots_jacobi(12, 0.0, 0.5)
    jw = jw.copy()
    jw[0], jw[1] = 0.0, -1.0  # log(0), log(-1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        found = _rate_chunk(1.5, np.array([3.0, 4.0]), np.array([1.0, 2.0]), np.array([5.0, 6.0]), np.array([10.0]),
                            ju, jw)
    assert found.shape == (2, 1)
