"""The repeat-buying models against the published CDNOW figures (tests/reference/cdnow.json says
where each comes from), simulated populations, the numerical edge cases and the refusals."""

import datetime as dt
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate
from scipy.special import betaln, hyp2f1

from segkit.datasets import load_cdnow, load_cdnow_raw
from segkit.errors import DataError, ParamsError
from segkit.intake.sources import connect
from segkit.models.clv import (BGNBDModel, ConvergenceWarning, GammaGammaModel, ParetoNBDModel, group_intervals,
                               holdout_check, predicted_clv)
from segkit.models.repeat_summary import repeat_summary

REF = json.loads((Path(__file__).parent / "reference" / "cdnow.json").read_text())["cdnow_sample"]
CAL, OBS = dt.date(1997, 9, 30), dt.date(1998, 6, 30)
PUBLISHED_BGNBD = {k: REF["bgnbd"][k] for k in ("r", "alpha", "a", "b")}


@pytest.fixture(scope="module")
def summary():
    s = repeat_summary(connect(), load_cdnow(sample=True), CAL, OBS)
    # the papers number the sample's customers 1..2357 (the file's second column)
    ids = load_cdnow_raw(sample=True).drop_duplicates("customer_id").set_index("customer_id")["sample_id"]
    s["sample_id"] = s["customer_id"].map(ids).astype(int)
    return s


@pytest.fixture(scope="module")
def summary_days():
    return repeat_summary(connect(), load_cdnow(sample=True), CAL, OBS, time_unit="days")


@pytest.fixture(scope="module")
def bgnbd(summary):
    return BGNBDModel().fit(summary)


@pytest.fixture(scope="module")
def pareto(summary):
    return ParetoNBDModel().fit(summary)


@pytest.fixture(scope="module")
def gamma_gamma(summary):
    return GammaGammaModel().fit(summary)


def first_ten(summary):
    return summary.set_index("sample_id").loc[range(1, 11)]


# ---- published figures -----------------------------------------------------------------------

def test_bgnbd_reproduces_the_published_fit(bgnbd):
    for name in ("r", "alpha", "a", "b"):  # published to 3 decimals
        assert round(bgnbd.params_[name], 3) == REF["bgnbd"][name], name
    assert round(bgnbd.loglik_, 1) == REF["bgnbd"]["loglik"]
    assert bgnbd.converged_ and bgnbd.limit_ is None and bgnbd.time_unit_ == "weeks"
    assert bgnbd.n_customers_ == 2357
    assert all(0 < bgnbd.se_[k] < bgnbd.params_[k] for k in bgnbd.params_)


def test_bgnbd_published_predictions(bgnbd, summary):
    checks = REF["bgnbd_checks"]
    one = pd.DataFrame({"x": [2], "t_x": [30.43], "T": [38.86]})
    assert round(bgnbd.expected_purchases(one, 39).iloc[0], 3) == checks["cond_expected_purchases_t39_for_x2_tx30.43_T38.86"]
    table = checks["unconditional_E_X_t"]
    # Hardie's sheet to 4 decimals; all agree to 5e-5 but E[X(78)] (1.85797 against 1.8576), asserted
    # in lifetimes to 3 decimals
    np.testing.assert_allclose(bgnbd.unconditional_expected_purchases(table["t"][:5]), table["E"][:5], atol=5e-5)
    np.testing.assert_allclose(bgnbd.unconditional_expected_purchases(table["t"]), table["E"], atol=5e-4)
    assert first_ten(summary).pipe(bgnbd.p_alive).iloc[0] == pytest.approx(checks["p_alive_customer1"], abs=5e-5)


def test_bgnbd_count_probabilities_with_the_published_parameters():
    model = BGNBDModel.from_params(PUBLISHED_BGNBD, time_unit="weeks")
    checks = REF["bgnbd_checks"]
    assert model.probability_of_purchases(0, 39) == pytest.approx(checks["P_X39_eq_0"], rel=1e-6)
    assert model.probability_of_purchases(10, 2) == pytest.approx(checks["P_X2_eq_10"], rel=1e-5)
    # the distribution adds up to one
    assert model.probability_of_purchases(np.arange(400), 39).sum() == pytest.approx(1, abs=1e-9)


def test_holdout_check_against_the_1882_actual_purchases(bgnbd, summary):
    table = holdout_check(summary, bgnbd)
    assert table["actual"].sum() == 1882 and table["customers"].sum() == 2357
    assert table["predicted"].sum() == pytest.approx(
        REF["bgnbd_checks"]["sum_cond_expected_holdout_39wk_all_customers"], abs=0.05)
    assert list(table["x"]) == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    by_x = summary.assign(g=summary["x"].clip(upper=7)).groupby("g")["x_holdout"].sum()
    np.testing.assert_array_equal(table["actual"].to_numpy(), by_x.to_numpy())
    np.testing.assert_allclose(table["actual_mean"], table["actual"] / table["customers"])
    # the model under-predicts the holdout (as in FHL 2005, fig. 4) but within 15% in total
    assert 0.85 < table["predicted"].sum() / 1882 < 1


def test_holdout_check_puts_pareto_nbd_beside_bgnbd(bgnbd, pareto, summary):
    table = holdout_check(summary, bgnbd, alternative=pareto)
    # the alternative's totals are its own conditional expectations over the 39-week holdout
    lengths = summary["holdout_length"].unique()
    assert len(lengths) == 1
    assert table["alternative"].sum() == pytest.approx(pareto.expected_purchases(summary, lengths[0]).sum(), rel=1e-9)
    np.testing.assert_allclose(table["predicted"], holdout_check(summary, bgnbd)["predicted"])
    # both models, fitted on the same 39 weeks, predict the holdout to within 15% of the 1,882 purchases
    assert 0.85 < table["alternative"].sum() / 1882 < 1.15
    np.testing.assert_allclose(table["alternative_mean"], table["alternative"] / table["customers"])


def test_top_customers_expected_next_week(bgnbd, summary):
    top = REF["bgnbd_checks"]["top5_expected_next_week"]
    by_id = summary.set_index("sample_id")
    got = bgnbd.expected_purchases(by_id, 1)
    assert list(got.sort_values(ascending=False).index[:5]) == [int(k) for k in top]
    np.testing.assert_allclose(got.loc[[int(k) for k in top]], list(top.values()), atol=5e-4)


def test_pareto_nbd_reproduces_the_published_fit(pareto):
    for name in ("r", "alpha", "s", "beta"):
        assert round(pareto.params_[name], 3) == REF["pareto_nbd"][name], name
    assert round(pareto.loglik_, 1) == REF["pareto_nbd"]["loglik"]
    assert pareto.loglik_ < REF["bgnbd"]["loglik"]  # BG/NBD fits the sample slightly better
    checks = REF["pareto_nbd"]["checks"]
    one = pd.DataFrame({"x": [26], "t_x": [30.86], "T": [31.0]})
    assert pareto.p_alive(one).iloc[0] == pytest.approx(checks["p_alive_x26_tx30.86_T31"], abs=5e-5)
    assert round(pareto.expected_purchases(one, 52).iloc[0], 2) == checks["cond_expected_52wk_x26_tx30.86_T31"]


def test_pareto_nbd_expectation_as_in_the_btyd_manual():
    # the BTYD manual's E[X(t)] values come from its example parameters 0.55, 10.56, 0.61, 11.64
    model = ParetoNBDModel.from_params(dict(r=0.55, alpha=10.56, s=0.61, beta=11.64), time_unit="weeks")
    np.testing.assert_allclose(model.unconditional_expected_purchases(np.arange(10)),
                               REF["pareto_nbd"]["checks"]["E_X_t_for_t0_to_9"], atol=1e-8)


def test_gamma_gamma_reproduces_the_published_fit(gamma_gamma, summary):
    ref = REF["gamma_gamma"]
    assert gamma_gamma.n_customers_ == ref["n_customers"] == 946
    assert gamma_gamma.customers_left_out_ == 2357 - 946
    assert round(gamma_gamma.params_["p"], 2) == ref["p"] and round(gamma_gamma.params_["q"], 2) == ref["q"]
    assert round(gamma_gamma.params_["gamma"], 2) == ref["gamma"]
    # the recomputation read mean spends rounded to cents (15.4477 there, 15.4435 from the exact amounts)
    for name, value in ref["recomputed_from_the_data"].items():
        assert gamma_gamma.params_[name] == pytest.approx(value, rel=5e-4)
    assert gamma_gamma.loglik_ == pytest.approx(ref["loglik_recomputed_from_the_data"], abs=0.01)
    assert gamma_gamma.frequency_spend_corr_ == pytest.approx(ref["corr_frequency_monetary"], abs=1e-5)
    spend = gamma_gamma.expected_spend(first_ten(summary))
    np.testing.assert_array_equal(spend.round(2).to_numpy(), ref["cond_expected_avg_profit_customers_1_to_10"])
    assert gamma_gamma.expected_spend(summary).mean() == pytest.approx(ref["mean_cond_expected_avg_profit_all_2357"],
                                                                       abs=1e-3)
    # customers without repeats are left out of the fit: fitting on the repeat buyers alone is the same
    again = GammaGammaModel().fit(summary[summary["x"] > 0])
    assert again.params_ == pytest.approx(gamma_gamma.params_, rel=1e-9)


def test_clv_over_12_months_converts_months_to_weeks(bgnbd, gamma_gamma, summary):
    ten = first_ten(summary)
    clv = predicted_clv(ten, bgnbd, gamma_gamma, horizon=12, horizon_unit="months", discount_rate=0.01)
    correct = np.array(REF["clv_12_months"]["customers_1_to_10"])
    # the reference steps a month as 4.345 weeks (lifetimes' freq='W'); segkit uses the mean calendar
    # month, 365.25 / 12 days = 4.348 weeks, so they agree to 0.15%
    np.testing.assert_allclose(clv.to_numpy(), correct, rtol=1.5e-3)
    # the reference fitted the published summary file (times and spends rounded to 2 decimals) and
    # stepped a month as 4.345 weeks: with both, the same discounted sum agrees to 1e-6
    half_up = {c: np.floor(summary[c] * 100 + 0.5 + 1e-9) / 100 for c in ("t_x", "T", "mean_repeat_spend")}
    rounded = summary.assign(**half_up)
    bg_rounded, gg_rounded = BGNBDModel().fit(rounded), GammaGammaModel().fit(rounded)
    ten_rounded = first_ten(rounded)
    spend = gg_rounded.expected_spend(ten_rounded).to_numpy()
    cumulative = np.column_stack([bg_rounded.expected_purchases(ten_rounded, 4.345 * k).to_numpy() for k in range(1, 13)])
    monthly = np.diff(cumulative, axis=1, prepend=0.0)
    np.testing.assert_allclose(spend * (monthly @ 1.01 ** -np.arange(1, 13)), correct, rtol=1e-6)
    # and not the lifetimes quick-start values, which took 12 months as 360 weeks
    wrong = np.array(REF["clv_lifetimes_docs"]["customers_1_to_10"])
    assert (np.abs(clv.to_numpy() / wrong - 1) > 0.2).all()


def test_clv_is_the_same_from_a_daily_or_monthly_model(bgnbd, gamma_gamma, summary, summary_days):
    weekly = predicted_clv(summary, bgnbd, gamma_gamma)
    daily = BGNBDModel().fit(summary_days)
    np.testing.assert_allclose(predicted_clv(summary_days, daily, gamma_gamma).to_numpy(), weekly.to_numpy(),
                               rtol=1e-4)
    summary_months = repeat_summary(connect(), load_cdnow(sample=True), CAL, OBS, time_unit="months")
    monthly = BGNBDModel().fit(summary_months)
    assert monthly.params_["alpha"] == pytest.approx(bgnbd.params_["alpha"] * 7 / (365.25 / 12), rel=1e-4)
    np.testing.assert_allclose(predicted_clv(summary_months, monthly, gamma_gamma).to_numpy(), weekly.to_numpy(),
                               rtol=1e-4)
    # a horizon in weeks on the weekly model: 52 weekly periods, discounted weekly
    by_week = predicted_clv(summary, bgnbd, gamma_gamma, horizon=52, horizon_unit="weeks", discount_rate=0.0)
    undiscounted = predicted_clv(summary, bgnbd, gamma_gamma, horizon=1, horizon_unit="years", discount_rate=0.0)
    assert (by_week < undiscounted).all()  # 52 weeks are a little less than 365.25 days


# ---- the same model in days and weeks; row order ----------------------------------------------

def test_days_and_weeks_give_the_same_model(bgnbd, pareto, summary, summary_days):
    daily = BGNBDModel().fit(summary_days)
    assert daily.time_unit_ == "days"
    for name in ("r", "a", "b"):
        assert daily.params_[name] == pytest.approx(bgnbd.params_[name], rel=1e-4)
    assert daily.params_["alpha"] == pytest.approx(7 * bgnbd.params_["alpha"], rel=1e-4)
    # the log-likelihood is a density of purchase times: it shifts by sum(x) * log 7
    assert daily.loglik_ == pytest.approx(bgnbd.loglik_ - summary["x"].sum() * np.log(7), abs=1e-3)
    np.testing.assert_allclose(daily.expected_purchases(summary_days, 273).to_numpy(),
                               bgnbd.expected_purchases(summary, 39).to_numpy(), rtol=1e-4)
    np.testing.assert_allclose(daily.expected_purchases(summary_days, 39, unit="weeks").to_numpy(),
                               bgnbd.expected_purchases(summary, 39).to_numpy(), rtol=1e-4)
    np.testing.assert_allclose(daily.p_alive(summary_days), bgnbd.p_alive(summary), rtol=1e-4)
    pareto_daily = ParetoNBDModel().fit(summary_days)
    assert pareto_daily.params_["beta"] == pytest.approx(7 * pareto.params_["beta"], rel=1e-3)
    assert pareto_daily.params_["s"] == pytest.approx(pareto.params_["s"], rel=1e-3)
    np.testing.assert_allclose(pareto_daily.p_alive(summary_days), pareto.p_alive(summary), rtol=1e-4)


def test_row_order_does_not_change_the_fit(bgnbd, gamma_gamma, summary):
    shuffled = summary.sample(frac=1, random_state=3)
    assert BGNBDModel().fit(shuffled).params_ == bgnbd.params_
    assert GammaGammaModel().fit(shuffled).params_ == gamma_gamma.params_
    np.testing.assert_array_equal(bgnbd.p_alive(shuffled).sort_index(), bgnbd.p_alive(summary).sort_index())


def test_fit_does_not_mutate_the_summary(summary):
    before = summary.copy()
    BGNBDModel().fit(summary)
    GammaGammaModel().fit(summary)
    pd.testing.assert_frame_equal(summary, before)


def test_model_and_summary_units_must_agree(bgnbd, summary_days):
    with pytest.raises(ParamsError, match="fitted in weeks but the summary is in days"):
        bgnbd.p_alive(summary_days)
    with pytest.raises(ParamsError, match="time_unit='weeks' but the summary is in 'days'"):
        BGNBDModel(time_unit="weeks").fit(summary_days)
    bare = pd.DataFrame({"x": [1, 0], "t_x": [2.0, 0], "T": [3.0, 3.0]})
    with pytest.raises(ParamsError, match="does not say its time unit"):
        BGNBDModel().fit(bare)


# ---- simulated populations --------------------------------------------------------------------

def purchase_histories(lam: np.ndarray, p: np.ndarray, T: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    """x and t_x of customers buying at Poisson rates `lam` from time 0 to `T`, each dropping out
    with probability `p` after each purchase (the BG/NBD story, one array element per customer)."""
    n = len(T)
    x, t_x, now, active = np.zeros(n), np.zeros(n), np.zeros(n), np.ones(n, bool)
    while active.any():
        i = np.flatnonzero(active)
        nxt = now[i] + rng.exponential(1 / lam[i])
        late = nxt > T[i]
        active[i[late]] = False
        j, at = i[~late], nxt[~late]
        x[j] += 1
        t_x[j] = now[j] = at
        active[j[rng.random(len(j)) < p[j]]] = False
    return x, t_x


def simulate_bgnbd(n, r, alpha, a, b, rng, p_fixed=None, T_range=(20, 52)):
    """Purchase histories drawn from the BG/NBD story: first purchase at 0, Poisson(lambda)
    purchases while alive, dropout with probability p after each purchase."""
    lam = rng.gamma(r, 1 / alpha, n)
    p = np.full(n, p_fixed) if p_fixed is not None else rng.beta(a, b, n)
    T = rng.uniform(*T_range, n)
    x, t_x = purchase_histories(lam, p, T, rng)
    frame = pd.DataFrame({"x": x, "t_x": t_x, "T": T})
    frame.attrs["time_unit"] = "weeks"
    return frame


def test_fit_recovers_simulated_bgnbd_and_gamma_gamma_parameters():
    rng = np.random.default_rng(20250101)
    truth = dict(r=0.5, alpha=5.0, a=0.8, b=2.5)
    s = simulate_bgnbd(6000, **truth, rng=rng)
    model = BGNBDModel().fit(s)
    for name, value in truth.items():
        assert abs(model.params_[name] - value) < 3 * model.se_[name], (name, model.params_, model.se_)
    # spend: nu ~ Gamma(q, rate gamma), each purchase ~ Gamma(p, rate nu)
    spend_truth = dict(p=6.0, q=4.0, gamma=15.0)
    buyers = s[s["x"] > 0].copy()
    nu = rng.gamma(spend_truth["q"], 1 / spend_truth["gamma"], len(buyers))
    buyers["mean_repeat_spend"] = [rng.gamma(spend_truth["p"], 1 / v, int(k)).mean() for v, k in zip(nu, buyers["x"])]
    spend = GammaGammaModel().fit(buyers)
    for name, value in spend_truth.items():
        assert abs(spend.params_[name] - value) < 3 * spend.se_[name], (name, spend.params_, spend.se_)


def test_no_interior_maximum_gives_a_warning_and_the_limiting_model():
    # everyone drops out with the same p = 0.2: a and b run off together towards infinity
    s = simulate_bgnbd(3000, 1.0, 5.0, None, None, np.random.default_rng(1), p_fixed=0.2, T_range=(30, 52))
    with pytest.warns(ConvergenceWarning, match="a and b grow together.*limiting model"):
        model = BGNBDModel().fit(s)
    assert set(model.params_) == {"r", "alpha", "p"} and model.limit_
    assert abs(model.params_["p"] - 0.2) < 3 * model.se_["p"]
    assert model.loglik_ == pytest.approx(model.log_likelihood(s), abs=1e-6)
    # its predictions are finite and P(alive) is a probability
    assert np.isfinite(model.expected_purchases(s, 52)).all()
    assert model.p_alive(s).between(0, 1).all()
    assert np.isfinite(model.unconditional_expected_purchases([1, 52, 1000])).all()


# a segkit demo shop's holdout summary (279 customers, weeks) on which Pareto/NBD has no interior maximum:
# "x,t_x,T" per customer, the times in days. The fit took 426 s, summing the hypergeometric series of
# millions of terms along s, beta -> infinity, and ended at s=394.8, beta=7448 with a warning.
NO_SPREAD_IN_DROPOUT = """
0,0,0 0,0,2 0,0,2 0,0,2 0,0,4 0,0,4 0,0,6 0,0,6 0,0,6 0,0,7 0,0,7 0,0,8 0,0,9 0,0,10 0,0,11 0,0,12 0,0,12 0,0,13
0,0,14 0,0,14 0,0,14 0,0,14 0,0,15 0,0,15 0,0,17 0,0,19 0,0,21 0,0,26 0,0,27 0,0,27 0,0,27 0,0,28 0,0,28 0,0,28
0,0,31 0,0,35 0,0,36 0,0,40 0,0,41 0,0,41 0,0,43 0,0,43 0,0,46 0,0,46 0,0,46 0,0,47 0,0,51 0,0,53 0,0,54 0,0,55
0,0,56 0,0,57 0,0,59 0,0,59 0,0,61 0,0,62 0,0,64 0,0,65 0,0,66 0,0,67 0,0,69 0,0,69 0,0,71 0,0,71 0,0,71 0,0,72
0,0,74 0,0,78 0,0,81 0,0,83 0,0,83 0,0,85 0,0,87 0,0,89 0,0,90 0,0,94 0,0,98 0,0,100 0,0,102 0,0,103 0,0,104
0,0,105 0,0,111 0,0,113 0,0,113 0,0,114 0,0,114 0,0,117 0,0,118 0,0,119 0,0,120 0,0,120 0,0,121 0,0,125 0,0,125
0,0,125 0,0,128 0,0,129 0,0,130 0,0,130 0,0,130 0,0,130 0,0,132 0,0,138 0,0,139 0,0,140 0,0,141 0,0,143 0,0,143
0,0,143 0,0,146 0,0,146 0,0,146 0,0,152 0,0,159 0,0,159 0,0,160 0,0,162 0,0,164 0,0,164 0,0,166 0,0,170 0,0,171
0,0,177 0,0,178 0,0,178 0,0,178 0,0,180 1,1,113 1,3,128 1,4,15 1,4,91 1,5,67 1,5,150 1,6,33 1,7,115 1,8,8 1,8,12
1,8,43 1,12,139 1,14,41 1,14,152 1,17,22 1,19,57 1,19,69 1,20,87 1,20,96 1,20,152 1,20,180 1,23,40 1,28,49
1,29,44 1,29,84 1,31,57 1,32,55 1,32,96 1,37,53 1,37,136 1,40,90 1,56,129 1,59,172 1,59,176 1,63,82 1,63,172
1,64,101 1,65,120 1,66,153 1,74,153 1,77,115 1,86,176 1,90,99 1,108,112 1,116,174 2,2,8 2,4,48 2,5,18 2,8,75
2,12,83 2,13,113 2,16,70 2,16,99 2,20,39 2,20,57 2,20,124 2,21,28 2,22,35 2,26,75 2,27,175 2,31,86 2,32,156
2,33,36 2,35,159 2,36,76 2,36,102 2,37,45 2,42,99 2,43,154 2,51,67 2,54,70 2,56,94 2,60,145 2,63,121 2,68,113
2,69,127 2,73,133 2,78,142 2,80,121 2,91,106 2,123,130 3,5,115 3,15,78 3,17,19 3,24,47 3,35,36 3,37,61 3,41,138
3,51,158 3,59,64 3,69,98 3,80,82 3,83,101 3,92,138 3,112,168 3,140,163 3,147,150 4,8,21 4,24,166 4,27,157
4,31,64 4,60,60 4,63,111 4,65,104 4,87,131 4,89,146 4,109,143 4,112,125 4,113,113 5,27,83 5,31,34 5,43,61
5,50,62 5,52,62 5,61,71 5,102,135 5,151,154 5,154,180 6,46,113 6,50,60 6,57,120 6,75,81 6,81,111 6,118,120
6,130,156 7,45,134 7,68,76 7,86,99 7,143,159 7,155,179 7,158,158 8,30,124 8,104,108 9,77,78 9,110,159 9,120,121
9,132,177 10,56,59 10,78,179 11,35,153 11,36,92 11,58,60 12,86,89 12,103,141 12,110,136 13,26,151 14,163,163
18,54,130 20,89,91 20,115,119 44,151,156
"""


def no_spread_in_dropout():
    rows = np.array([[int(v) for v in row.split(",")] for row in NO_SPREAD_IN_DROPOUT.split()], float)
    frame = pd.DataFrame({"x": rows[:, 0], "t_x": rows[:, 1] / 7, "T": rows[:, 2] / 7})
    frame.attrs["time_unit"] = "weeks"
    return frame


def test_pareto_nbd_without_spread_in_dropout_uses_the_limiting_model():
    s = no_spread_in_dropout()
    assert len(s) == 279 and s["x"].sum() == 612
    # (the fit took 426 s when the series summed millions of terms per row; its time is a benchmark's to
    # measure, not a test's: see docs/benchmarks.md, session 22)
    with pytest.warns(ConvergenceWarning, match="s and beta grow together.*limiting model with one dropout rate"):
        model = ParetoNBDModel(time_unit="weeks").fit(s)
    assert set(model.params_) == {"r", "alpha", "mu"} and model.limit_
    assert model.loglik_ == pytest.approx(model.log_likelihood(s), abs=1e-6)
    P = model.params_
    # along the ridge s, beta -> infinity with s / beta = mu the full model's likelihood rises to the limit's
    def along(k):
        return ParetoNBDModel.from_params(dict(r=P["r"], alpha=P["alpha"], s=k, beta=k / P["mu"]), time_unit="weeks")

    rising = [along(k).log_likelihood(s) for k in (40.0, 400.0, 1e4, 1e5)]
    assert np.all(np.diff(rising) > 0) and rising[-1] < model.loglik_
    assert rising[-1] == pytest.approx(model.loglik_, abs=1e-3)
    # the limit's predictions are those of the full model far along the ridge
    far = along(1e7)
    np.testing.assert_allclose(model.p_alive(s), far.p_alive(s), rtol=1e-5)
    np.testing.assert_allclose(model.expected_purchases(s, 26), far.expected_purchases(s, 26), rtol=1e-5)
    np.testing.assert_allclose(model.unconditional_expected_purchases([1.0, 26.0, 520.0]),
                               far.unconditional_expected_purchases([1.0, 26.0, 520.0]), rtol=1e-5)
    np.testing.assert_allclose(model.probability_of_purchases(np.arange(4), 26),
                               far.probability_of_purchases(np.arange(4), 26), rtol=1e-5)
    assert model.probability_of_purchases(np.arange(300), 26).sum() == pytest.approx(1, abs=1e-8)
    # and everything that takes a purchase model takes it
    assert model.p_alive(s).between(0, 1).all()
    everyone = s.assign(all="all")
    table = group_intervals(everyone, "all", model).iloc[0]
    assert table["expected_purchases_lower"] < table["expected_purchases"] < table["expected_purchases_upper"]
    assert all(np.isfinite(v) and v > 0 for v in model.se_.values())
    assert ParetoNBDModel.from_params(P, time_unit="weeks").limit_


def pareto_limit_likelihood_by_integration(r, alpha, mu, x, t_x, T):
    """The limit's likelihood (one dropout rate mu) as alive-at-T plus dead-at-u, by scipy's quad."""
    from scipy.special import gammaln
    head = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    alive = -(r + x) * np.log(alpha + T) - mu * T
    top = -(r + x) * np.log(alpha + t_x) - mu * t_x
    dead = mu * integrate.quad(lambda u: np.exp(-(r + x) * np.log(alpha + u) - mu * u - top), t_x, T,
                               epsrel=1e-13, epsabs=0, limit=1000, points=[t_x + (alpha + t_x) / (r + x + 1)])[0]
    return head + (np.logaddexp(alive, top + np.log(dead)) if dead > 0 else alive)


@pytest.mark.parametrize("params", [dict(r=0.55, alpha=10.58, mu=0.05), dict(r=2.0, alpha=0.01, mu=3.0),
                                    dict(r=0.3, alpha=200.0, mu=1e-5)])
def test_pareto_limit_likelihood_agrees_with_direct_integration(params):
    model = ParetoNBDModel.from_params(params, time_unit="weeks")
    for x, t_x, T in [(0, 0.0, 30.0), (1, 2.0, 30.0), (5, 29.9, 30.0), (40, 12.0, 38.0), (3000, 50.0, 100.0),
                      (200, 10.0, 500.0)]:
        summary = pd.DataFrame({"x": [x], "t_x": [t_x], "T": [T]})
        got = model.log_likelihood(summary)
        assert got == pytest.approx(pareto_limit_likelihood_by_integration(*params.values(), x, t_x, T), rel=1e-9)
        assert 0 <= model.p_alive(summary).iloc[0] <= 1


def test_a_fit_with_a_maximum_gives_no_warning(summary, summary_days):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        for data in (summary, summary_days):  # in days the scale of alpha is 7 times larger
            assert BGNBDModel().fit(data).converged_
            assert ParetoNBDModel().fit(data).converged_
        assert GammaGammaModel().fit(summary).converged_


# ---- numerics ---------------------------------------------------------------------------------

def closed_form_expectation(r, alpha, a, b, t):
    """FHL 2005 eq. 7 (valid away from a = 1 and a + b = 1), as an independent check."""
    z = t / (alpha + t)
    return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, z))


@pytest.mark.parametrize("params, t", [
    (dict(r=0.243, alpha=4.414, a=0.793, b=2.426), [0.5, 39, 520]),
    (dict(r=2.0, alpha=30.0, a=3.5, b=1.5), [1, 52, 400]),
])
def test_quadrature_agrees_with_the_hypergeometric_closed_form(params, t):
    model = BGNBDModel.from_params(params, time_unit="weeks")
    expected = [closed_form_expectation(*params.values(), ti) for ti in t]
    np.testing.assert_allclose(model.unconditional_expected_purchases(t), expected, rtol=1e-7)


def expectation_by_integration(r, alpha, a, b, t):
    def integrand(p):
        return (-np.expm1(-r * np.log1p(p * t / alpha)) / p) * np.exp(
            (a - 1) * np.log(p) + (b - 1) * np.log1p(-p) - betaln(a, b))
    return integrate.quad(integrand, 0, 1, limit=200, epsrel=1e-11)[0]


@pytest.mark.parametrize("params", [dict(r=0.5, alpha=3.0, a=0.3, b=0.4),   # a + b < 1
                                    dict(r=0.5, alpha=3.0, a=1.0, b=1.0)])  # a = 1, b = 1: 2F1 poles
def test_no_nan_when_a_plus_b_below_one_or_at_one_over_long_horizons(params):
    model = BGNBDModel.from_params(params, time_unit="weeks")
    t = np.array([1.0, 52.0, 520.0, 5200.0])
    got = model.unconditional_expected_purchases(t)
    assert np.isfinite(got).all() and (np.diff(got) > 0).all()
    np.testing.assert_allclose(got, [expectation_by_integration(*params.values(), ti) for ti in t], rtol=1e-6)
    s = pd.DataFrame({"x": [0, 1, 3], "t_x": [0, 10.0, 30.0], "T": [40.0, 40.0, 40.0]})
    assert np.isfinite(model.expected_purchases(s, 5200)).all()
    assert np.isfinite(model.probability_of_purchases(np.arange(5), 52)).all()
    assert np.isfinite(model.log_likelihood(s))


def test_likelihood_is_finite_at_b_equal_to_one():
    model = BGNBDModel.from_params(dict(r=0.5, alpha=3.0, a=0.8, b=1.0), time_unit="weeks")
    s = pd.DataFrame({"x": [0, 1, 2], "t_x": [0, 5.0, 9.0], "T": [10.0, 10.0, 10.0]})
    assert np.isfinite(model.log_likelihood(s))
    # P(X(t) = n) over n adds up to one at b = 1 too
    assert model.probability_of_purchases(np.arange(3000), 10).sum() == pytest.approx(1, abs=1e-6)


def test_thousands_of_purchases_do_not_overflow(bgnbd, pareto):
    heavy = pd.DataFrame({"x": [5000, 5000, 3000], "t_x": [100.0, 60.0, 99.9], "T": [100.0, 100.0, 100.0]})
    for model in (bgnbd, pareto):
        alive = model.p_alive(heavy).to_numpy()
        assert np.isfinite(alive).all()
        assert alive[0] > 0.99 and alive[1] < 1e-6  # silent for 40 weeks after buying 50 a week: gone
        expected = model.expected_purchases(heavy, 10).to_numpy()
        assert np.isfinite(expected).all()
        # about 50 a week for ten weeks while alive
        assert 400 < expected[0] < 10 * 5000.3 / 100 and expected[1] < 1e-3
        assert np.isfinite(model.log_likelihood(heavy))
    # and such customers can be fitted
    many = pd.concat([heavy, pd.DataFrame({"x": [0, 1, 2] * 10, "t_x": [0, 3.0, 8.0] * 10, "T": [12.0] * 30})])
    fitted = BGNBDModel(time_unit="weeks").fit(many)
    assert np.isfinite(list(fitted.params_.values())).all()


def pareto_likelihood_by_integration(r, alpha, s, beta, x, t_x, T):
    """The Pareto/NBD likelihood as alive-at-T plus dead-at-u for u in (t_x, T], by scipy's quad
    (scaled by the integrand at t_x so that nothing overflows)."""
    from scipy.special import gammaln
    head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    top = -(r + x) * np.log(alpha + t_x) - (s + 1) * np.log(beta + t_x)
    dead = s * integrate.quad(lambda u: np.exp(-(r + x) * np.log(alpha + u) - (s + 1) * np.log(beta + u) - top),
                              t_x, T, epsrel=1e-13, epsabs=0, limit=1000,
                              points=[t_x + (alpha + t_x) / (r + x + s)])[0]
    return head + (np.logaddexp(alive, top + np.log(dead)) if dead > 0 else alive)


@pytest.mark.parametrize("params", [dict(r=0.55, alpha=10.58, s=0.61, beta=11.67),   # alpha < beta
                                    dict(r=0.55, alpha=14.0, s=1.0, beta=3.0),       # alpha > beta, s = 1
                                    dict(r=2.0, alpha=5.0, s=2.5, beta=40.0),
                                    dict(r=0.5, alpha=100.0, s=0.6, beta=1.0),
                                    dict(r=5.0, alpha=0.01, s=3.0, beta=500.0),      # scipy's 2F1 gives NaN here
                                    dict(r=0.8, alpha=2.0, s=400.0, beta=7500.0),    # along the ridge of one mu
                                    dict(r=0.3, alpha=0.5, s=5e4, beta=2e6)])
def test_pareto_likelihood_agrees_with_direct_integration(params):
    model = ParetoNBDModel.from_params(params, time_unit="weeks")
    rows = [(0, 0.0, 30.0), (1, 2.0, 30.0), (5, 29.9, 30.0), (40, 12.0, 38.0), (3000, 50.0, 100.0),
            (200, 10.0, 500.0)]
    for x, t_x, T in rows:
        summary = pd.DataFrame({"x": [x], "t_x": [t_x], "T": [T]})
        got = model.log_likelihood(summary)
        assert got == pytest.approx(pareto_likelihood_by_integration(*params.values(), x, t_x, T), rel=1e-9)
        assert 0 <= model.p_alive(summary).iloc[0] <= 1
    assert np.isfinite(model.expected_purchases(pd.DataFrame({"x": [3], "t_x": [5.0], "T": [9.0]}), 1e4)).all()


def test_hypergeometric_function_where_scipy_fails():
    from segkit.models.clv import _hyp2f1_one, _log_hyp2f1_one_integral
    assert np.isnan(hyp2f1(1.0, 4.0, 3009.0, 0.909))  # why the fallback exists
    b = np.array([4.0, 4.0, 0.7, 30.0, 1.5])
    c = np.array([3009.0, 209.0, 1.9, 32.0, 400.0])
    z = np.array([0.909, 0.98, 0.95, 0.5, 0.999])
    got = _hyp2f1_one(b, c, z)
    assert np.isfinite(got).all()
    # against the integral 2F1(1, b; c; z) = (c - 1) * integral of (1 - t)^(c-2) (1 - z t)^(-b) over [0, 1]
    for bi, ci, zi, value in zip(b, c, z, got):
        expected = (ci - 1) * integrate.quad(lambda t: (1 - t) ** (ci - 2) * (1 - zi * t) ** -bi, 0, 1,
                                             epsrel=1e-12, limit=500)[0]
        assert value == pytest.approx(expected, rel=1e-9)
    # the integral agrees with scipy where scipy has a value
    ok = np.isfinite(hyp2f1(1.0, b, c, z))
    np.testing.assert_allclose(np.exp(_log_hyp2f1_one_integral(b[ok], c[ok], z[ok])), hyp2f1(1.0, b[ok], c[ok], z[ok]),
                               rtol=1e-12)


def log_integral_by_quad(A, m, rho):
    """log of the integral over v >= 0 of exp(-A v - m log(1 - rho + rho e^v) / rho) (-A v - m (e^v - 1) at
    rho = 0) by scipy's quad on 120 geometric pieces up to where the integrand is 1e-35 of its peak
    (found on a grid), scaled by that peak."""
    def h(v):
        v = np.asarray(v, float)
        if rho == 0:
            with np.errstate(over="ignore"):
                return -A * v - m * np.expm1(v)
        grown = rho * np.expm1(np.minimum(v, 700.0))
        with np.errstate(divide="ignore"):
            large = v + np.logaddexp(np.log(rho), np.log1p(-rho) - v)
        return -A * v - m * np.where(grown < 1, np.log1p(np.minimum(grown, 1.0)), large) / rho
    grid = np.concatenate([[0.0], np.geomspace(1e-12, 1e6, 20_000)])
    values = h(grid)
    top = values.max()
    end = grid[min(np.flatnonzero(values > top - 80).max() + 1, len(grid) - 1)]
    cuts = np.unique(np.concatenate([[0.0], np.geomspace(end * 1e-12, end, 120), [grid[values.argmax()]]]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        found = sum(integrate.quad(lambda v: np.exp(h(v) - top), lo, hi, epsabs=0, epsrel=1e-13, limit=200)[0]
                    for lo, hi in zip(cuts[:-1], cuts[1:]))
    return top + np.log(found)


def test_hypergeometric_integral_near_one_with_large_parameters():
    """Near z = 1 with b and c large (where a degenerate Pareto/NBD fit goes) the power series needs
    millions of terms and scipy gives NaN: the integral's cost does not grow, and it agrees with quad."""
    from segkit.models.clv import _log_hyp2f1_one_integral
    b = np.array([31884.15115646, 31886.15115646, 4.0])
    c = np.array([31885.70882106, 31887.70882106, 3009.0])
    z = np.array([0.99999617, 0.99984334, 0.909])
    got = np.exp(_log_hyp2f1_one_integral(b, c, z))
    # the integral with t = 1 - exp(-v): (c - 1) * integral over v >= 0 of exp(-(c-1) v) (1 - z (1 - exp(-v)))^(-b)
    for bi, ci, zi, value in zip(b, c, z, got):
        expected = (ci - 1) * integrate.quad(
            lambda v: np.exp(-(ci - 1) * v - bi * np.log1p(zi * np.expm1(-v))), 0, np.inf,
            epsrel=1e-12, limit=500)[0]
        assert value == pytest.approx(expected, rel=1e-9)
    assert got[0] > 30_000  # far from the first terms' sum: the long tail was summed
    # a grid of ordinary and extreme parameters: b up to 1e8, c - b from 0.2 to 300, 1 - z down to 1e-13
    for bi in (0.3, 4.0, 3e4, 1e8):
        for gap in (0.2, 1.0, 1.7, 300.0):
            for zi in (0.0, 0.3, 0.97, 1 - 1e-5, 1 - 1e-9, 1 - 1e-13):
                ci = bi + gap
                expected = np.log(ci - 1) + log_integral_by_quad(ci - 1 - bi, bi * (1 - zi), 1 - zi) \
                    if ci > 1 else None
                if expected is None:
                    continue
                assert _log_hyp2f1_one_integral(bi, ci, zi)[0] == pytest.approx(expected, rel=1e-11, abs=1e-11), \
                    (bi, ci, zi)
                scipy_value = hyp2f1(1.0, bi, ci, zi)
                if zi < 0.99 and bi < 1e3 and np.isfinite(scipy_value):  # scipy's own range
                    assert np.exp(expected) == pytest.approx(scipy_value, rel=1e-10)


@pytest.mark.parametrize("A, m, rho", [(-0.7, 1e-6, 0.0), (-0.7, 3.0, 0.0), (0.3, 1e-9, 0.0), (2999.0, 40.0, 0.0),
                                       (-0.5, 5e3, 1e-7), (1e-3, 1e-3, 1e-10), (-0.9, 1e-8, 1e-12), (50.0, 0.0, 1.0)])
def test_log_integral_agrees_with_quad(A, m, rho):
    from segkit.models.clv import _log_integral
    assert _log_integral(A, m, rho)[0] == pytest.approx(log_integral_by_quad(A, m, rho), rel=1e-11, abs=1e-11)


def test_analytic_gradient_matches_differences():
    from scipy.optimize import check_grad
    rng = np.random.default_rng(5)
    s = simulate_bgnbd(300, 0.5, 5.0, 0.8, 2.5, rng)
    x, t_x, T = (s[c].to_numpy() for c in ("x", "t_x", "T"))

    def f(v):
        return BGNBDModel._loglik_and_grad(v, x, t_x, T)[0].sum()

    def g(v):
        return BGNBDModel._loglik_and_grad(v, x, t_x, T)[1].sum(axis=0)

    for v in ([0.5, 5.0, 0.8, 2.5], [2.0, 1.0, 0.3, 1.0], [0.3, 9.0, 4.0, 0.7]):
        assert check_grad(f, g, np.array(v)) < 1e-5 * np.abs(g(np.array(v))).max()


# ---- refusals ---------------------------------------------------------------------------------

def weekly(**columns):
    frame = pd.DataFrame({"customer_id": ["c1", "c2", "c3"], **columns})
    frame.attrs["time_unit"] = "weeks"
    return frame


@pytest.mark.parametrize("columns, words", [
    (dict(x=[1, 2, 0], t_x=[5.0, 12.0, 0.0], T=[10.0, 11.0, 10.0]), "customer 'c2': t_x (time of the last purchase) must be <= T"),
    (dict(x=[1, 0, 0], t_x=[5.0, 3.0, 0.0], T=[10.0, 11.0, 10.0]), "customer 'c2': t_x > 0 needs x >= 1"),
    (dict(x=[1, 2, 0], t_x=[5.0, 0.0, 0.0], T=[10.0, 11.0, 10.0]), "customer 'c2': x >= 1 needs t_x > 0"),
    (dict(x=[1, -2, 0], t_x=[5.0, 3.0, 0.0], T=[10.0, 11.0, 10.0]), "customer 'c2': x (repeat purchases) must be >= 0"),
    (dict(x=[1, 1.5, 0], t_x=[5.0, 3.0, 0.0], T=[10.0, 11.0, 10.0]), "customer 'c2': x (repeat purchases) must be a whole"),
    (dict(x=[1, np.nan, 0], t_x=[5.0, 3.0, 0.0], T=[10.0, 11.0, 10.0]), "customer 'c2': x is missing"),
    (dict(x=[1, 2, 0], t_x=[5.0, 3.0, 0.0], T=[10.0, -11.0, 10.0]), "customer 'c2': T (age) must be >= 0"),
    (dict(x=[0, 0, 0], t_x=[0.0, 0.0, 0.0], T=[10.0, 11.0, 10.0]), "no customer has a repeat purchase"),
    (dict(x=[0, 0, 0], t_x=[0.0, 0.0, 0.0], T=[0.0, 0.0, 0.0]), "all purchases are on one day"),
])
@pytest.mark.parametrize("model", [BGNBDModel, ParetoNBDModel])
def test_impossible_or_unusable_summaries_are_refused(columns, words, model):
    with pytest.raises(DataError) as info:
        model().fit(weekly(**columns))
    assert words in str(info.value)


def test_one_customer_and_missing_columns_are_refused():
    one = pd.DataFrame({"x": [3], "t_x": [5.0], "T": [9.0]})
    with pytest.raises(DataError, match="at least 2 customers, got 1"):
        BGNBDModel(time_unit="weeks").fit(one)
    with pytest.raises(DataError, match="lacks column.*t_x"):
        BGNBDModel(time_unit="weeks").fit(one.drop(columns="t_x"))
    with pytest.raises(ParamsError, match="time_unit must be one of"):
        BGNBDModel(time_unit="fortnights").fit(one)


def test_all_purchases_on_one_day_from_transactions():
    tx = pd.DataFrame({"customer_id": ["a", "b", "c"], "ordered_at": pd.to_datetime(["2024-03-01"] * 3),
                       "amount": [5.0, 6.0, 7.0]})
    s = repeat_summary(connect(), tx, dt.date(2024, 3, 1))
    with pytest.raises(DataError, match="all purchases are on one day"):
        BGNBDModel().fit(s)


@pytest.mark.parametrize("spend, words", [(0.0, "must be > 0"), (-4.0, "must be > 0")])
def test_gamma_gamma_refuses_zero_or_negative_spend(spend, words):
    s = weekly(x=[1, 2, 0], t_x=[5.0, 7.0, 0.0], T=[10.0, 11.0, 10.0]).assign(mean_repeat_spend=[10.0, spend, 0.0])
    with pytest.raises(DataError) as info:
        GammaGammaModel().fit(s)
    assert "customer 'c2'" in str(info.value) and words in str(info.value)


def test_gamma_gamma_needs_repeat_buyers():
    s = weekly(x=[1, 0, 0], t_x=[5.0, 0.0, 0.0], T=[10.0, 11.0, 10.0]).assign(mean_repeat_spend=[10.0, 0.0, 0.0])
    with pytest.raises(DataError, match="at least 2 customers with repeat purchases, got 1"):
        GammaGammaModel().fit(s)


@pytest.mark.parametrize("kwargs, words", [
    (dict(horizon=0), "horizon must be a whole number"),
    (dict(horizon=12.5), "horizon must be a whole number"),
    (dict(discount_rate=1.5), "discount_rate must be"),
    (dict(horizon_unit="fortnights"), "time_unit must be one of"),
])
def test_clv_arguments_are_checked(bgnbd, gamma_gamma, summary, kwargs, words):
    with pytest.raises(ParamsError) as info:
        predicted_clv(summary.head(3), bgnbd, gamma_gamma, **kwargs)
    assert words in str(info.value)


def test_unfitted_model_says_so(summary):
    with pytest.raises(ParamsError, match="not fitted yet"):
        BGNBDModel().p_alive(summary)


# ---- intervals --------------------------------------------------------------------------------

def test_group_intervals(bgnbd, gamma_gamma, summary):
    groups = summary.assign(buyer=np.where(summary["x"] > 0, "repeat", "one-off"))
    table = group_intervals(groups, "buyer", bgnbd, gamma_gamma).set_index("buyer")
    assert table["customers"].to_dict() == {"one-off": 1411, "repeat": 946}
    clv = predicted_clv(groups, bgnbd, gamma_gamma).groupby(groups["buyer"]).mean()
    np.testing.assert_allclose(table["clv"], clv.loc[table.index], rtol=1e-9)
    horizon = 12 * 365.25 / 12 / 7
    purchases = bgnbd.expected_purchases(groups, horizon).groupby(groups["buyer"]).mean()
    np.testing.assert_allclose(table["expected_purchases"], purchases.loc[table.index], rtol=1e-9)
    for name in ("expected_purchases", "clv"):
        assert (table[f"{name}_lower"] < table[name]).all() and (table[name] < table[f"{name}_upper"]).all()
    # relative widths of a few percent: 2,357 customers pin the parameters down well, not perfectly
    width = table["clv_upper"] / table["clv_lower"] - 1
    assert ((width > 0.01) & (width < 1)).all()
    wider = group_intervals(groups, "buyer", bgnbd, gamma_gamma, level=0.99).set_index("buyer")
    assert (wider["clv_upper"] > table["clv_upper"]).all() and (wider["clv_lower"] < table["clv_lower"]).all()


def test_group_intervals_widen_with_fewer_customers(summary):
    small = summary.sample(500, random_state=1)
    small.attrs = summary.attrs
    big, little = BGNBDModel().fit(summary), BGNBDModel().fit(small)
    everyone = summary.assign(all="all")
    wide = group_intervals(everyone, "all", little).iloc[0]
    narrow = group_intervals(everyone, "all", big).iloc[0]
    assert (wide["expected_purchases_upper"] / wide["expected_purchases_lower"]
            > narrow["expected_purchases_upper"] / narrow["expected_purchases_lower"])


def test_gamma_gamma_gradient_matches_differences(summary):
    from scipy.optimize import check_grad
    buyers = summary[summary["x"] > 0]
    x, m = buyers["x"].to_numpy(float), buyers["mean_repeat_spend"].to_numpy(float)
    for v in ([6.0, 3.7, 15.0], [1.0, 8.0, 2.0]):
        def f(w):
            return GammaGammaModel._loglik(w, x, m).sum()

        def g(w):
            return GammaGammaModel._loglik_and_grad(w, x, m)[1].sum(axis=0)
        assert check_grad(f, g, np.array(v)) < 1e-5 * np.abs(g(np.array(v))).max()


def test_gamma_gamma_ignores_missing_spend_of_customers_without_repeats(gamma_gamma, summary):
    blank = summary.assign(mean_repeat_spend=summary["mean_repeat_spend"].where(summary["x"] > 0))
    assert blank["mean_repeat_spend"].isna().sum() == 1411
    assert GammaGammaModel().fit(blank).params_ == pytest.approx(gamma_gamma.params_, rel=1e-9)
    np.testing.assert_allclose(gamma_gamma.expected_spend(blank), gamma_gamma.expected_spend(summary))
    with pytest.raises(DataError, match="mean_repeat_spend is missing"):
        GammaGammaModel().fit(blank.assign(mean_repeat_spend=np.nan))


def test_pareto_nbd_probability_of_n_purchases_adds_up_and_matches_a_simulation():
    params = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}  # the CDNOW sample's fit
    model = ParetoNBDModel.from_params(params, time_unit="weeks")
    n = np.arange(400)
    for t in (2.0, 39.0, 78.0):
        pmf = model.probability_of_purchases(n, t)
        assert pmf.sum() == pytest.approx(1, abs=1e-9)
        # its mean is the model's unconditional expectation (checked against the BTYD manual above)
        assert (n * pmf).sum() == pytest.approx(model.unconditional_expected_purchases(t), rel=1e-8)
    # a population drawn from the model: lambda ~ Gamma(r, alpha), lifetime ~ Exp(mu), mu ~ Gamma(s, beta)
    rng = np.random.default_rng(11)
    size, t = 400_000, 39.0
    lam = rng.gamma(params["r"], 1 / params["alpha"], size)
    lifetime = rng.exponential(1 / rng.gamma(params["s"], 1 / params["beta"], size))
    counts = rng.poisson(lam * np.minimum(lifetime, t))
    observed = np.bincount(counts, minlength=6)[:6] / size
    expected = model.probability_of_purchases(np.arange(6), t)
    standard_error = np.sqrt(expected * (1 - expected) / size)
    assert (np.abs(observed - expected) < 4 * standard_error).all()
    # units: 39 weeks stated in days is the same question
    assert model.probability_of_purchases(3, 273, unit="days") == pytest.approx(expected[3], rel=1e-9)
    with pytest.raises(ParamsError, match="whole numbers"):
        model.probability_of_purchases(1.5, t)


def _no_dropout_summary(seed: int, n: int = 600) -> pd.DataFrame:
    """Customers who buy at their own Poisson rates and never drop out, joined over two years."""
    rng = np.random.default_rng(seed)
    T = rng.uniform(10, 104, n)
    rate = rng.gamma(2.0, 1 / 40, n)
    times = [np.sort(rng.uniform(0, T[i], rng.poisson(rate[i] * T[i]))) for i in range(n)]
    return pd.DataFrame({"customer_id": [str(i) for i in range(n)], "x": [float(len(t)) for t in times],
                         "t_x": [t[-1] if len(t) else 0.0 for t in times], "T": T})


@pytest.mark.parametrize("seed", [0, 4])
def test_a_maximum_the_data_do_not_pin_down_is_no_converged_fit(seed):
    """Data without dropout: Pareto/NBD's s and beta run up together (beta at 6e5-1e7, standard errors
    hundreds of times that) while r and alpha are well fitted; the fit says so (kind "loose", its
    parameters named) instead of passing for a converged one that calls every customer alive."""
    import warnings

    with warnings.catch_warnings(record=True) as raised:
        warnings.simplefilter("always")
        model = ParetoNBDModel(time_unit="weeks").fit(_no_dropout_summary(seed))
    kinds = {(w.message.kind, w.message.detail) for w in raised if isinstance(w.message, ConvergenceWarning)}
    assert ("loose", "s, beta") in kinds and not model.converged_
    assert all(model.se_[k] > 100 * model.params_[k] for k in ("s", "beta"))
    assert all(model.se_[k] < 0.5 * model.params_[k] for k in ("r", "alpha"))  # those the data do pin down


def _tilted(real, direction, curvature):
    """A `_numerical_hessian` with `direction` (v, in the log-parameters) an eigen-direction of
    curvature c: the real Hessian H on the directions orthogonal to it, P H P + c v v' (P = I - v v')."""
    def hessian(f, theta, h=1e-3):
        H = real(f, theta, h)
        v = np.asarray(direction, float) / np.linalg.norm(direction)
        P = np.eye(len(v)) - np.outer(v, v)
        return P @ H @ P + curvature * np.outer(v, v)
    return hessian


@pytest.mark.parametrize("curvature", [-3e-7, 0.0, 3e-7])
def test_a_hessian_flat_along_a_ridge_is_a_loose_fit_whichever_sign_its_rounding_gives(monkeypatch, summary, curvature):
    """The no-dropout fit above, as on any host: the curvature along s and beta growing together at
    noise level (its sign the rounding's), r and alpha well determined. Whether the Hessian is
    positive definite or not, the fit is loose in s and beta, not converged, with finite standard
    errors for r and alpha."""
    from segkit.models import clv

    proper = ParetoNBDModel().fit(summary)
    monkeypatch.setattr(clv, "_numerical_hessian", _tilted(clv._numerical_hessian, [0, 0, 1, 1], curvature))
    with warnings.catch_warnings(record=True) as raised:
        warnings.simplefilter("always")
        model = ParetoNBDModel().fit(summary)
    kinds = {(w.message.kind, w.message.detail) for w in raised if isinstance(w.message, ConvergenceWarning)}
    assert kinds == {("loose", "s, beta")} and not model.converged_
    assert all(np.isfinite(model.se_[k]) and model.se_[k] > 100 * model.params_[k] for k in ("s", "beta"))
    assert model.params_ == proper.params_
    assert all(model.se_[k] < 0.5 * model.params_[k] for k in ("r", "alpha"))


@pytest.mark.parametrize("model_class", [ParetoNBDModel, GammaGammaModel])
def test_a_fit_where_the_likelihood_clearly_rises_is_not_converged(monkeypatch, summary, model_class):
    """A saddle (the log-likelihood rising along a direction, curvature -1): kind "flat", infinite
    standard errors, and not converged (the flat fit used to keep converged_ True)."""
    from segkit.models import clv

    k = len(model_class._names)
    monkeypatch.setattr(clv, "_numerical_hessian", _tilted(clv._numerical_hessian, np.eye(k)[0], -1.0))
    with warnings.catch_warnings(record=True) as raised:
        warnings.simplefilter("always")
        model = model_class().fit(summary)
    kinds = [w.message.kind for w in raised if isinstance(w.message, ConvergenceWarning)]
    assert kinds == ["flat"] and not model.converged_ and all(np.isinf(v) for v in model.se_.values())


def test_a_gamma_gamma_fit_flat_along_a_direction_is_loose(monkeypatch, summary):
    from segkit.models import clv

    monkeypatch.setattr(clv, "_numerical_hessian", _tilted(clv._numerical_hessian, [0, 1, 1], -3e-7))
    with warnings.catch_warnings(record=True) as raised:
        warnings.simplefilter("always")
        model = GammaGammaModel().fit(summary)
    kinds = {(w.message.kind, w.message.detail) for w in raised if isinstance(w.message, ConvergenceWarning)}
    assert kinds == {("loose", "q, gamma")} and not model.converged_


def test_the_covariance_of_a_hessian_that_is_not_positive_definite():
    """Positive definite: its inverse. Flat along a direction (an eigenvalue within 1 / (k 100^2) of
    zero, either sign): the inverse of |H|, finite, huge along it. Clearly negative: infinite, kind "flat"."""
    from segkit.models.clv import _covariance

    v = np.array([0.0, 0.0, 1.0, 1.0]) / np.sqrt(2)
    H = np.diag([800.0, 700.0, 1e-5, 1e-5]) + np.outer(v, v) * 40
    assert _covariance(H, "m")[1] and np.allclose(_covariance(H, "m")[0], np.linalg.inv(H))
    for tiny in (-3e-7, -1e-5):
        flat = H - (v @ H @ v - tiny) * np.outer(v, v)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            cov, concave = _covariance(flat, "m")
        assert not concave and np.isfinite(cov).all() and v @ cov @ v > 1e4
        assert np.sqrt(np.diag(cov))[:2] == pytest.approx(1 / np.sqrt([800.0, 700.0]))
    with pytest.warns(ConvergenceWarning, match="flat or not concave"):
        cov, concave = _covariance(H - (v @ H @ v + 1.0) * np.outer(v, v), "m")
    assert not concave and np.isinf(np.diag(cov)).all()
