"""The value models' fit from a sample (issue 15, scale): above `clv._SAMPLE_ABOVE` customers the
starting points are tried on a seeded sample and the maximum is refined on all customers
(`clv._minimize_from_sample`). Here the thresholds are lowered so that small simulated frames take
that path, and each fit is compared with the straightforward one (every starting point on all
customers), with the edge cases: many customers without repeat purchases (x = 0), ties in
(x, t_x, T), one customer, a sample without repeat buyers, no interior maximum, a refinement that
does not end."""

import warnings

import numpy as np
import pandas as pd
import pytest

import segkit
from segkit.errors import DataError
from segkit.models import clv
from segkit.models.clv import BGNBDModel, ConvergenceWarning, GammaGammaModel, ParetoNBDModel


def population(n=3000, seed=7, r=0.6, alpha=8.0, a=0.7, b=5.0, p_fixed=None) -> pd.DataFrame:
    """A repeat summary drawn from the BG/NBD story (Fader, Hardie & Lee 2005) with Gamma-Gamma
    spend, times in whole days (so that many customers share their (x, t_x, T)), in weeks."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1 / alpha, n)
    p = np.full(n, p_fixed) if p_fixed is not None else rng.beta(a, b, n)
    T = rng.integers(1, 53, n) * 7.0
    x, t_x, now, active = np.zeros(n), np.zeros(n), np.zeros(n), np.ones(n, bool)
    while active.any():
        i = np.flatnonzero(active)
        nxt = now[i] + np.ceil(rng.exponential(7 / lam[i]))  # days, a purchase on a later day
        late = nxt > T[i]
        active[i[late]] = False
        j = i[~late]
        x[j] += 1
        t_x[j] = now[j] = nxt[~late]
        active[j[rng.random(len(j)) < p[j]]] = False
    nu = rng.gamma(4.0, 1 / 150.0, n)
    spend = np.array([rng.gamma(2.0, 1 / v, int(k)).mean() if k > 0 else 0.0 for v, k in zip(nu, x)])
    frame = pd.DataFrame({"customer_id": [f"c{i}" for i in range(n)], "x": x, "t_x": t_x / 7, "T": T / 7,
                          "mean_repeat_spend": np.round(spend, 2)})
    frame.attrs["time_unit"] = "weeks"
    return frame


@pytest.fixture
def from_sample(monkeypatch):
    """Lower the thresholds so that a few thousand customers are fitted from a sample of 600, and
    record whether each refinement ran (a refinement that returns None means the plain fit)."""
    monkeypatch.setattr(clv, "_SAMPLE_ABOVE", 1000)
    monkeypatch.setattr(clv, "_SAMPLE_CUSTOMERS", 600)
    refined = []
    original = clv._refine

    def spy(*args, **kwargs):
        found = original(*args, **kwargs)
        refined.append(found is not None)
        return found

    monkeypatch.setattr(clv, "_refine", spy)
    return refined


@pytest.fixture(scope="module")
def summary():
    return population()


def fit_quietly(model, summary):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(summary)


def assert_same_maximum(fast, plain):
    """The same maximum: the same log-likelihood (to 1e-6), parameters within a hundredth of a
    standard error of each other (the optimiser's tolerance on these few customers) and the same
    standard errors to 0.2% (second differences at the fitted point: along a flat direction, such
    as Pareto/NBD's s and beta here, they move with the point)."""
    assert fast.loglik_ == pytest.approx(plain.loglik_, abs=1e-6)
    assert set(fast.params_) == set(plain.params_)
    for name, value in plain.params_.items():
        assert abs(fast.params_[name] - value) < 0.01 * plain.se_[name], (name, fast.params_, plain.params_)
        assert fast.se_[name] == pytest.approx(plain.se_[name], rel=2e-3)


def test_the_population_has_the_edge_cases(summary):
    assert (summary["x"] == 0).mean() > 0.3  # many customers without a repeat purchase
    shared = summary.groupby(["x", "t_x", "T"]).size()
    assert len(shared) < 0.6 * len(summary) and shared.max() >= 10  # ties: customers sharing (x, t_x, T)


@pytest.mark.parametrize("model", [BGNBDModel, ParetoNBDModel, GammaGammaModel])
def test_fit_from_a_sample_is_the_plain_fit(summary, model, from_sample):
    plain_model = model() if model is GammaGammaModel else model("weeks")
    fast_model = model() if model is GammaGammaModel else model("weeks")
    with pytest.MonkeyPatch.context() as plain_patch:
        plain_patch.setattr(clv, "_SAMPLE_ABOVE", 10 ** 9)
        plain = fit_quietly(plain_model, summary)
    assert from_sample == []  # the plain fit did not sample
    fast = fit_quietly(fast_model, summary)
    assert from_sample == [True]  # the sample's maximum was refined, not replaced by the plain fit
    assert fast.converged_ and plain.converged_
    assert_same_maximum(fast, plain)
    np.testing.assert_allclose(fast.covariance_, plain.covariance_, rtol=5e-3, atol=1e-9)


def test_value_stage_from_a_sample_equals_the_plain_one(summary, from_sample):
    with pytest.MonkeyPatch.context() as plain_patch:
        plain_patch.setattr(clv, "_SAMPLE_ABOVE", 10 ** 9)
        plain = segkit.value_stage(summary)
    assert from_sample == []
    fast = segkit.value_stage(summary)
    assert from_sample == [True, True, True]  # BG/NBD, Gamma-Gamma and Pareto/NBD
    assert fast.reason is None and fast.models.better_fit == plain.models.better_fit
    pd.testing.assert_series_equal(fast.value["customer_id"], plain.value["customer_id"])
    for column in ("p_alive", "expected_purchases", "expected_spend", "clv"):
        np.testing.assert_allclose(fast.value[column], plain.value[column], rtol=1e-5, err_msg=column)
    assert (fast.value["churn_risk"] == plain.value["churn_risk"]).all()


def test_row_order_does_not_change_the_fit_from_a_sample(summary, from_sample):
    shuffled = summary.sample(frac=1.0, random_state=1).reset_index(drop=True)
    shuffled.attrs["time_unit"] = "weeks"
    first, second = (fit_quietly(BGNBDModel("weeks"), s) for s in (summary, shuffled))
    assert from_sample == [True, True]
    assert first.params_ == second.params_  # the sample is drawn from the sorted distinct rows


def test_one_customer_is_refused_on_either_path(from_sample):
    one = population(n=1)
    with pytest.raises(DataError, match="at least 2 customers"):
        BGNBDModel("weeks").fit(one)
    assert from_sample == []


def test_a_sample_without_repeat_buyers_gives_the_plain_fit(monkeypatch, from_sample):
    # 3 repeat buyers in 3,000 and a sample of 60: the seeded sample has none, so there is no
    # sample fit, and the fit is the plain one
    monkeypatch.setattr(clv, "_SAMPLE_CUSTOMERS", 60)
    summary = population(n=3000, seed=11)
    buyers = np.flatnonzero(summary["x"] > 0)
    summary.loc[buyers[3:], ["x", "t_x", "mean_repeat_spend"]] = 0.0
    scale = summary["T"].mean()
    rows, _, counts = clv._unique_rows(summary["x"].to_numpy(float), summary["t_x"].to_numpy() / scale,
                                       summary["T"].to_numpy() / scale)
    assert clv._sample_rows(rows, counts) is None
    fast = fit_quietly(BGNBDModel("weeks"), summary)
    assert from_sample == []  # nothing to refine
    monkeypatch.setattr(clv, "_SAMPLE_ABOVE", 10 ** 9)
    plain = fit_quietly(BGNBDModel("weeks"), summary)
    assert fast.params_ == plain.params_ and fast.loglik_ == plain.loglik_


def test_no_interior_maximum_gives_the_plain_fit_and_its_warning(from_sample):
    # one dropout probability for everyone: a and b run off together; the sample's fit has no interior
    # maximum, so the plain fit (and its limiting model) is used, with the same warning
    summary = population(n=3000, seed=2, r=1.0, alpha=5.0, p_fixed=0.2)
    with pytest.warns(ConvergenceWarning, match="a and b grow together"):
        fast = BGNBDModel("weeks").fit(summary)
    with pytest.MonkeyPatch.context() as plain_patch:
        plain_patch.setattr(clv, "_SAMPLE_ABOVE", 10 ** 9)
        with pytest.warns(ConvergenceWarning, match="a and b grow together"):
            plain = BGNBDModel("weeks").fit(summary)
    assert fast.limit_ and set(fast.params_) == {"r", "alpha", "p"}
    assert fast.params_ == plain.params_ and fast.loglik_ == plain.loglik_
    assert True not in from_sample  # no refinement was kept


def test_a_refinement_that_does_not_end_gives_the_plain_fit(summary, monkeypatch, from_sample):
    monkeypatch.setattr(clv, "_REFINE_CALLS", 2)  # far fewer evaluations than any refinement takes
    fast = fit_quietly(ParetoNBDModel("weeks"), summary)
    assert from_sample == [False]
    monkeypatch.setattr(clv, "_SAMPLE_ABOVE", 10 ** 9)
    plain = fit_quietly(ParetoNBDModel("weeks"), summary)
    assert fast.params_ == plain.params_ and fast.loglik_ == plain.loglik_


def test_sample_counts_thin_each_row_reproducibly():
    counts = np.array([1.0, 5.0, 200.0, 3.0, 0.0, 40.0] * 500)
    first, second = clv._sample_counts(counts, 2000), clv._sample_counts(counts, 2000)
    np.testing.assert_array_equal(first, second)  # seeded: the same sample for the same data
    assert ((first >= 0) & (first <= counts)).all() and (first == np.round(first)).all()
    assert abs(first.sum() - 2000) < 5 * np.sqrt(2000)
    np.testing.assert_array_equal(clv._sample_counts(counts, 10 ** 9), counts)  # asked for more: all of them


def test_intervals_without_the_join_equal_those_with_it(summary):
    """The run's profile lists the customers in the summary's order: the intervals then take the
    groups without a join; a profile in another order (or with customers missing) is joined. Both
    give the same table, customers without a segment left out."""
    stage = segkit.value_stage(summary)
    rng = np.random.default_rng(4)
    profile = pd.DataFrame({"customer_id": summary["customer_id"],
                            "segment": rng.choice(["champions", "at risk", "new", None], len(summary))})
    aligned = stage.intervals(summary, profile, "segment")
    joined = stage.intervals(summary, profile.sample(frac=1.0, random_state=2), "segment")
    pd.testing.assert_frame_equal(aligned, joined, rtol=1e-12)
    assert aligned["customers"].sum() == profile["segment"].notna().sum()
    assert sorted(aligned["segment"]) == ["at risk", "champions", "new"]


def test_value_ids_are_the_summary_ids_as_text(summary):
    numbered = summary.assign(customer_id=np.arange(len(summary)) * 7)
    numbered.attrs["time_unit"] = "weeks"
    for frame in (summary, numbered):
        value = segkit.value_stage(frame).value
        expected = frame["customer_id"].astype(str)
        assert value["customer_id"].dtype == expected.dtype
        assert value["customer_id"].tolist() == expected.tolist()
