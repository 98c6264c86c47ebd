"""segkit.models.customer_value: the report's customer-value stage on the CDNOW sample."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from segkit.datasets import load_cdnow
from segkit.i18n import t
from segkit.intake.sources import connect
from segkit.models.clv import BGNBDModel, GammaGammaModel, ParetoNBDModel
from segkit.models.customer_value import customer_value, fit_value_models, slipping_valuable, value_by
from segkit.models.repeat_summary import repeat_summary

ONCE = "value.bgnbd_one_time"  # the note on one-time buyers, wherever there are some (its own test below)


@pytest.fixture(scope="module")
def sample():
    summary = repeat_summary(connect(), load_cdnow(sample=True), dt.date(1997, 9, 30))
    return summary, fit_value_models(summary, "weeks")


def test_the_models_are_the_published_ones_and_the_better_fit_is_said(sample):
    summary, models = sample
    assert models.purchases.params_["r"] == pytest.approx(0.243, abs=5e-4)
    assert models.spend.params_["p"] == pytest.approx(6.25, abs=5e-3)
    # Fader, Hardie & Lee (2005): BG/NBD -9582.4 fits the sample better than Pareto/NBD -9595.0
    assert models.better_fit == "bgnbd"
    described = models.parameters()
    assert set(described) >= {"bgnbd", "pareto_nbd", "gamma_gamma", "better_fit", "warnings"}
    assert described["bgnbd"]["loglik"] == pytest.approx(-9582.4, abs=0.05)
    compared = models.comparison()
    assert compared["better"] == "BG/NBD" and compared["pareto"] == pytest.approx(-9595.0, abs=0.05)


def test_predictions_per_customer(sample):
    summary, models = sample
    value = customer_value(summary, models, horizon=12, horizon_unit="months", alive_threshold=0.5)
    assert len(value) == len(summary) == 2357 and value["customer_id"].is_unique
    assert value[["p_alive", "expected_purchases", "expected_spend", "clv"]].notna().all().all()
    assert value["p_alive"].between(0, 1).all()
    assert (value["churn_risk"] == (value["p_alive"] < 0.5)).all()
    # 12 months is 52.18 weeks: the purchase model's own prediction over that many weeks
    weeks = models.purchases.expected_purchases(summary, 365.25 / 7).to_numpy()
    assert np.allclose(value["expected_purchases"], weeks)
    shares = value["clv_tier"].value_counts(normalize=True)
    assert shares["high"] == pytest.approx(0.2, abs=0.02) and shares["low"] == pytest.approx(0.5, abs=0.05)
    assert value.loc[value.clv_tier == "high", "clv"].min() > value.loc[value.clv_tier == "low", "clv"].max()


def test_valuable_but_slipping_and_value_by_class():
    profile = pd.DataFrame({"customer_id": list("abcd"), "segment": ["champions", "at_risk", "at_risk", "lost"],
                            "rfm_class": ["x"] * 4, "revenue": [900.0, 800.0, 50.0, 700.0],
                            "recency_days": [5, 200, 300, 400], "monetary_tier": ["high", "high", "low", "high"]})
    value = pd.DataFrame({"customer_id": list("abcd"), "p_alive": [0.9, 0.3, 0.1, 0.2],
                          "clv": [100.0, 20.0, 1.0, 5.0], "churn_risk": [False, True, True, True]})
    slipping = slipping_valuable(profile, value, alive_threshold=0.5)
    assert slipping["customer_id"].tolist() == ["b", "d"]  # high tier and P(alive) < 0.5, by revenue
    table = value_by(profile, value, "segment").set_index("segment")
    assert table.loc["at_risk", "clv_total"] == 21.0 and table.loc["at_risk", "churn_risk_share"] == 1.0
    assert table["clv_share"].sum() == pytest.approx(1.0)
    assert table.index[0] == "champions"  # the class that holds most of the future value first


def test_without_a_spend_model_there_is_no_clv_but_still_p_alive(sample):
    summary, models = sample
    no_spend = type(models)(models.purchases, None, None, "bgnbd", ["Gamma-Gamma: no spend"])
    value = customer_value(summary, no_spend)
    assert np.isnan(no_spend.comparison()["pareto"])
    assert value["clv"].isna().all() and set(value["clv_tier"]) == {"unknown"}
    assert value["p_alive"].notna().all()
    with pytest.raises(Exception, match="alive_threshold"):
        customer_value(summary, models, alive_threshold=1.5)


def test_a_spend_model_that_cannot_fit_is_left_out_with_its_reason():
    one = pd.DataFrame({"customer_id": [f"c{i}" for i in range(40)],  # one repeat buyer: Gamma-Gamma needs two
                        "x": [0] * 39 + [3], "t_x": [0.0] * 39 + [20.0], "T": [30.0] * 40,
                        "mean_repeat_spend": [0.0] * 39 + [20.0]})
    models = fit_value_models(one, "weeks", compare=False)
    assert models.spend is None and models.alternative is None
    assert any(w.startswith("Gamma-Gamma") for w in models.warnings)
    assert isinstance(models.purchases, BGNBDModel)


def test_repeat_buyers_whose_repeats_net_to_nothing_leave_the_spend_model_not_the_whole_clv():
    """A repeat order returned in full leaves a repeat buyer with a mean repeat spend of 0 (or less
    after other returns): Gamma-Gamma cannot describe it. Those customers are left out of the spend
    fit (and said), their expected spend is the population's mean; every other customer keeps a CLV."""
    summary = pd.DataFrame({"customer_id": [f"c{i}" for i in range(40)],
                            "x": [0, 1, 2, 3] * 10, "t_x": [0.0, 5.0, 10.0, 20.0] * 10, "T": [30.0] * 40,
                            "mean_repeat_spend": [0.0, -5.0, 10.0, 24.0] * 10})
    models = fit_value_models(summary, "weeks", compare=False)
    assert models.spend is not None and models.spend_left_out == 10
    value = customer_value(summary, models)
    assert value["clv"].notna().all()
    spend = value.set_index("customer_id")["expected_spend"]
    assert spend["c1"] == pytest.approx(spend["c0"])  # the left-out buyer: the population's mean, as c0's
    assert spend["c3"] > spend["c2"]
    (key, values), = [m for m in models.fit_messages("en") if m[0] == "value.spend_left_out"]
    assert values == {"count": 10}
    assert "10 repeat buyers whose repeat purchases net to zero or less" in t(key, "en", **values)
    assert "10 位复购客户" in t(key, "zh", **values)


def test_a_profile_that_already_carries_the_predictions_joins_them_once(sample):
    from segkit.models.customer_value import value_findings, with_value

    summary, models = sample
    value = customer_value(summary, models)
    profile = pd.DataFrame({"customer_id": value["customer_id"], "segment": "champions", "rfm_class": "x",
                            "revenue": 100.0, "recency_days": 10,
                            "monetary_tier": np.where(value["p_alive"] < 0.3, "high", "low")})
    twice = with_value(with_value(profile, value), value)
    assert list(twice.columns).count("p_alive") == 1 and len(twice) == len(profile)
    found = value_findings(twice, value, 0.5)
    assert found["slipping"] == int((value["p_alive"] < 0.3).sum())
    assert found["high"] == int((value["clv_tier"] == "high").sum()) and 0 < found["share"] < 1
    assert value_by(twice, value, "segment")["customers"].tolist() == [len(value)]


def test_value_intervals_per_segment_bracket_the_group_means(sample):
    from segkit.models.customer_value import value_stage
    from segkit.report.tables import value_interval_table

    summary, _ = sample
    stage = value_stage(summary, "weeks", horizon=12, horizon_unit="months", discount_rate=0.01)
    # two "segments": customers with repeat purchases in calibration and those without
    profile = pd.DataFrame({"customer_id": summary["customer_id"].astype(str),
                            "segment": np.where(summary["x"] > 0, "loyal", "hibernating")})
    intervals = stage.intervals(summary, profile, "segment").set_index("segment")
    assert intervals["customers"].sum() == len(summary)
    assert (intervals["expected_purchases_lower"] < intervals["expected_purchases"]).all()
    assert (intervals["expected_purchases"] < intervals["expected_purchases_upper"]).all()
    assert (intervals["clv_lower"] < intervals["clv"]).all() and (intervals["clv"] < intervals["clv_upper"]).all()
    # the group means are the means of the customers' own predictions
    value = stage.value.merge(profile, on="customer_id")
    means = value.groupby("segment")[["expected_purchases", "clv"]].mean()
    assert np.allclose(intervals.loc[means.index, ["expected_purchases", "clv"]], means)
    assert intervals.loc["loyal", "clv"] > intervals.loc["hibernating", "clv"]
    shown = value_interval_table(intervals.reset_index(), "segment", "rfm11", "zh", None).set_index("segment")
    assert list(shown.index) == ["忠诚客户", "休眠客户"]  # the map's order, in words
    assert shown.loc["忠诚客户", "clv_interval"].count("(") == 1
    assert value_stage(summary.assign(x=0, t_x=0.0), "weeks").intervals(summary, profile, "segment") is None


def test_holdout_stage_checks_both_purchase_models():
    from segkit.models.customer_value import holdout_stage

    holdout = repeat_summary(connect(), load_cdnow(sample=True), dt.date(1997, 9, 30),
                             observation_end=dt.date(1998, 6, 30))
    check, reason = holdout_stage(holdout, "weeks")
    assert reason is None and check["actual"].sum() == 1882
    assert {"predicted", "alternative", "predicted_mean", "alternative_mean"} <= set(check.columns)
    assert check["alternative"].sum() != pytest.approx(check["predicted"].sum(), rel=1e-6)  # two models
    assert holdout_stage(None) == (None, "no holdout period: the calibration end is not before the last day analysed")
    assert holdout_stage(None, lang="zh") == (None, "没有验证期：校准期结束日不早于分析截止日")
    check, reason = holdout_stage(holdout, transactions=False)  # a customer-level source: nothing to check
    assert check is None and reason.startswith("the data are one row per customer")


def test_value_findings_say_nothing_without_a_predicted_value():
    from segkit.models.customer_value import value_findings

    profile = pd.DataFrame({"customer_id": ["a"], "monetary_tier": ["high"], "revenue": [5.0]})
    value = pd.DataFrame({"customer_id": ["a"], "p_alive": [0.2], "clv": [np.nan], "clv_tier": ["unknown"]})
    assert value_findings(profile, value) is None and value_findings(profile, None) is None


# ---------------------------------------------------------------------------------------------
# a fit that did not converge: recorded by the stages, said on the page, never the preferred model

@pytest.fixture(scope="module")
def holdout():
    return repeat_summary(connect(), load_cdnow(sample=True), dt.date(1997, 9, 30), observation_end=dt.date(1998, 6, 30))


def in_few_steps(monkeypatch, *models, steps=2):
    """The fits of `models` (all three when none is named) with the optimiser stopped after `steps`
    iterations: a fit that does not converge, as on data the models cannot carry."""
    from types import SimpleNamespace

    from segkit.models import clv

    from scipy import optimize

    few = SimpleNamespace(OptimizeResult=optimize.OptimizeResult, minimize=lambda *args, options=None, **kwargs:
                          optimize.minimize(*args, options={**(options or {}), "maxiter": steps}, **kwargs))
    for model in models or (clv.BGNBDModel, clv.ParetoNBDModel, clv.GammaGammaModel):
        def fit(self, summary, real=model.fit):
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(clv, "optimize", few)
                return real(self, summary)
        monkeypatch.setattr(model, "fit", fit)


def shown(messages, lang):
    from segkit.report.html import say_each

    return say_each(messages, lang).markup


def test_the_holdout_check_says_which_fit_did_not_converge_and_why(monkeypatch, holdout):
    from segkit.models.customer_value import holdout_caveats, holdout_stage

    in_few_steps(monkeypatch)
    check, reason = holdout_stage(holdout, "weeks")
    assert reason is None and check["actual"].sum() == 1882  # the check is still shown, with its caveat
    caveats = check.attrs["caveats"]
    assert [(c.model, c.kind) for c in caveats] == [("BG/NBD", "stopped"), ("Pareto/NBD", "stopped")]
    assert all("fit has no interior maximum: the optimiser stopped" in c.text for c in caveats)
    assert "ITERATIONS REACHED LIMIT" in caveats[0].detail
    english, chinese = shown(holdout_caveats(check, "en"), "en"), shown(holdout_caveats(check, "zh"), "zh")
    for model in ("BG/NBD", "Pareto/NBD"):
        assert f"<strong>{model} did not converge</strong>: the optimiser used up its steps before reaching a maximum" in english
        assert f"<strong>{model} 未收敛</strong>：优化器在到达最大值之前用尽了迭代步数" in chinese
    assert "ITERATIONS" not in chinese  # the optimiser's English message is worded, not quoted
    assert "do not prefer it over a model that converged" in english and "不要优先于已收敛的模型选用它" in chinese
    assert holdout_caveats(None, "en") == []


@pytest.mark.parametrize("message, meaning", [
    ("STOP: TOTAL NO. OF ITERATIONS REACHED LIMIT", "limit"), ("STOP: TOTAL NO. OF F,G EVALUATIONS EXCEEDS LIMIT", "limit"),
    ("ABNORMAL: ", "precision"), ("WARNING: ROUNDING ERRORS PREVENT PROGRESS", "precision"),
    ("ABNORMAL_TERMINATION_IN_LNSRCH", "precision"), ("NaN result encountered.", None)])
def test_the_optimisers_stops_are_worded_in_each_language_and_others_quoted(message, meaning):
    from segkit.models.customer_value import FitCaveat, optimiser_stop

    assert optimiser_stop(message) == meaning
    caveat = FitCaveat("BG/NBD", "stopped", message, "")
    english, chinese = caveat.reason("en"), caveat.reason("zh")
    if meaning is None:  # a message segkit does not know is given as the optimiser wrote it
        assert message in english and message in chinese and chinese.startswith("优化器在到达最大值之前停止")
    else:
        assert message.split(":")[0] not in chinese and english.startswith("the optimiser")
        assert not any(c.isascii() and c.isalpha() for c in chinese)


def test_the_value_stage_says_which_fit_did_not_converge_as_the_holdout_check_does(monkeypatch, sample):
    from segkit.models.customer_value import value_stage

    summary, _ = sample
    in_few_steps(monkeypatch, GammaGammaModel)
    stage = value_stage(summary, "weeks")
    assert [(c.model, c.kind) for c in stage.models.caveats] == [("Gamma-Gamma", "stopped")]
    recorded = stage.run_info()["not_converged"]
    assert [r["model"] for r in recorded] == ["Gamma-Gamma"] and recorded[0]["text"] in stage.run_info()["warnings"]
    assert stage.models.notes == []  # said once, as a caveat, not again as a note
    assert [key for key, _ in stage.models.fit_messages("en") if key != ONCE] == ["value.unconverged"]
    assert "<strong>Gamma-Gamma did not converge</strong>" in shown(stage.models.fit_messages("en"), "en")
    assert "<strong>Gamma-Gamma 未收敛</strong>" in shown(stage.models.fit_messages("zh"), "zh")
    assert stage.models.better_fit == "bgnbd"  # both purchase models converged: by log-likelihood


def test_a_fit_that_did_not_converge_is_not_preferred_to_one_that_did(monkeypatch, sample):
    summary, _ = sample
    in_few_steps(monkeypatch, BGNBDModel)
    models = fit_value_models(summary, "weeks", spend=False)
    assert [c.model for c in models.caveats] == ["BG/NBD"]
    # BG/NBD stopped short still has the higher log-likelihood (Pareto/NBD -9595.0), yet it did not converge
    assert models.purchases.loglik_ > models.alternative.loglik_ and models.better_fit == "pareto_nbd"
    [(key, values)] = models.comparison_messages()
    assert key == "value.models_unconverged" and values["better"] == "Pareto/NBD" and values["other"] == "BG/NBD"
    assert "BG/NBD did not converge (see below), so Pareto/NBD is preferred" in shown(models.comparison_messages(), "en")
    assert "BG/NBD 未收敛（见下文），因此尽管 Pareto/NBD 的对数似然较低" in shown(models.comparison_messages(), "zh")
    # the predictions come from the fit that converged, and the page says so
    assert models.predicting is models.alternative and models.predicting_key == "pareto_nbd"
    assert models.parameters()["predicting"] == "pareto_nbd"
    assert "the predictions use Pareto/NBD." in shown(models.comparison_messages(), "en")
    assert "预测采用 Pareto/NBD。" in shown(models.comparison_messages(), "zh")


def words_without_a_fit():
    from segkit.models.customer_value import ValueStage

    return ValueStage(None, None, "no fit").model_words("en")


def test_the_predictions_come_from_pareto_nbd_when_only_its_fit_converged(monkeypatch, sample):
    from segkit.models.customer_value import value_stage

    summary, converged = sample
    in_few_steps(monkeypatch, BGNBDModel)
    stage = value_stage(summary, "weeks")
    models = stage.models
    assert [c.model for c in models.caveats] == ["BG/NBD"] and models.predicting is models.alternative
    expected = models.alternative.p_alive(summary).to_numpy()
    assert np.allclose(stage.value["p_alive"].to_numpy(), expected)
    assert not np.allclose(expected, models.purchases.p_alive(summary).to_numpy(), atol=1e-3)
    # the converged Pareto/NBD of the comparison gives the same predictions as before: only the model changed
    assert np.allclose(stage.value["p_alive"], converged.alternative.p_alive(summary), atol=1e-6)
    intervals = stage.intervals(summary, summary.assign(segment=np.where(summary["x"] > 0, "repeat", "once")),
                                "segment").set_index("segment")
    means = stage.value.assign(segment=np.where(summary["x"] > 0, "repeat", "once")).groupby("segment")
    assert np.allclose(intervals["expected_purchases"], means["expected_purchases"].mean()[intervals.index])
    assert "Pareto/NBD" in stage.model_words("en") and "Schmittlein" in stage.model_words("zh")
    assert "BG/NBD" in words_without_a_fit() and "Fader" in words_without_a_fit()
    # both converged: BG/NBD, as the field does
    assert converged.predicting is converged.purchases and converged.parameters()["predicting"] == "bgnbd"
    assert np.allclose(customer_value(summary, converged)["p_alive"], converged.purchases.p_alive(summary))


def test_fits_that_converged_and_the_limiting_model_give_no_caveat(sample, holdout):
    from test_value_fast import population

    from segkit.models.customer_value import holdout_caveats, holdout_stage

    _, models = sample
    assert models.caveats == [] and models.parameters()["not_converged"] == []
    assert [key for key, _ in models.fit_messages("en") if key != ONCE] == []
    assert [key for key, _ in models.comparison_messages()] == ["value.models"]
    check, _ = holdout_stage(holdout, "weeks")
    assert check.attrs["caveats"] == [] and holdout_caveats(check, "zh") == []
    # one dropout probability for everyone: the limiting model, a proper fit, is a note and not a caveat
    ridge = fit_value_models(population(n=3000, seed=2, r=1.0, alpha=5.0, p_fixed=0.2), "weeks", compare=False,
                             spend=False)
    assert ridge.caveats == [] and ridge.purchases.limit_
    assert [key for key, _ in ridge.fit_messages("en") if key != ONCE] == ["value.limit.bgnbd"]  # worded in each language
    assert ridge.notes == [] and ridge.fit_messages("en")[0][1]["detail"].startswith("p = ")
    english, chinese = shown(ridge.fit_messages("en"), "en"), shown(ridge.fit_messages("zh"), "zh")
    assert "<strong>BG/NBD without spread in dropout</strong>" in english and "It is a proper fit." in english
    assert "BG/NBD 的极限模型" in chinese and "grow together" not in chinese


def test_pages_that_use_the_predictions_say_when_their_models_did_not_converge(monkeypatch, sample):
    """05's matrix and 08's findings use 03's predictions: from run.json, they say when BG/NBD or
    Gamma-Gamma (the models behind them) did not converge; Pareto/NBD alone (a comparison) is not said."""
    from segkit.models.customer_value import prediction_caveats, value_stage

    summary, models = sample
    assert prediction_caveats({"value_models": models.parameters()}, "en") == []
    assert prediction_caveats({}, "en") == [] and prediction_caveats({"value_models": {"reason": "x"}}, "en") == []
    in_few_steps(monkeypatch, GammaGammaModel, BGNBDModel, ParetoNBDModel)
    info = {"value_models": value_stage(summary, "weeks").run_info()}
    assert info["value_models"]["predicting"] == "bgnbd"  # neither purchase model converged: BG/NBD
    [(key, values)] = prediction_caveats(info, "en")
    assert key == "value.unconverged_used" and values["models"] == "BG/NBD and Gamma-Gamma"
    assert "come from 03_customer_value's fit, where BG/NBD and Gamma-Gamma did not converge" in shown(
        prediction_caveats(info, "en"), "en")
    assert "其中 BG/NBD和Gamma-Gamma 未收敛" in shown(prediction_caveats(info, "zh"), "zh")
    # BG/NBD did not converge but Pareto/NBD did and made the predictions: only Gamma-Gamma is said
    switched = {"value_models": {"predicting": "pareto_nbd", "not_converged": [
        {"model": name, "kind": "stopped", "detail": "", "text": ""} for name in ("BG/NBD", "Gamma-Gamma")]}}
    assert prediction_caveats(switched, "en")[0][1]["models"] == "Gamma-Gamma"
    alone = {"value_models": {"not_converged": [{"model": "Pareto/NBD", "kind": "stopped", "detail": "", "text": ""}]}}
    assert prediction_caveats(alone, "en") == []


def test_when_neither_purchase_model_converged_the_page_says_so_and_no_limit_note_calls_a_fit_proper(
        monkeypatch, sample):
    import dataclasses

    from segkit.models.customer_value import FitCaveat

    summary, _ = sample
    in_few_steps(monkeypatch, BGNBDModel, ParetoNBDModel)
    models = fit_value_models(summary, "weeks", spend=False)
    assert {c.model for c in models.caveats} == {"BG/NBD", "Pareto/NBD"} and models.predicting is models.purchases
    [(key, values)] = models.comparison_messages()
    assert key == "value.models_none_converged"
    english, chinese = shown(models.comparison_messages(), "en"), shown(models.comparison_messages(), "zh")
    assert "Neither BG/NBD nor Pareto/NBD converged" in english and "fits these data better" not in english
    assert "which use BG/NBD, are not reliable" in english and "均未收敛" in chinese and "拟合更好（" not in chinese
    # a limiting model whose own fit then stopped short is not "a proper fit"
    limit = FitCaveat("Pareto/NBD", "limit", "mu = 0.01 per week", "Pareto/NBD ... limiting model")
    stopped = dataclasses.replace(models, limits=[limit])
    assert not [key for key, _ in stopped.fit_messages("en") if key.startswith("value.limit.")]
    converged = dataclasses.replace(stopped, caveats=[c for c in models.caveats if c.model != "Pareto/NBD"])
    assert "value.limit.pareto_nbd" in [key for key, _ in converged.fit_messages("en")]


def test_intervals_are_missing_not_infinite_where_the_standard_errors_are_not_defined(sample):
    import warnings

    from segkit.models import clv
    from segkit.report.tables import value_interval_table

    summary, models = sample
    grouped = summary.assign(segment=np.where(summary["x"] > 0, "champions", "hibernating"))
    flat = copy_with_covariance(models.purchases, np.full((4, 4), np.inf))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning reaches a page
        table = clv.group_intervals(grouped, "segment", flat, models.spend)
    assert table[["expected_purchases_lower", "expected_purchases_upper", "clv_lower", "clv_upper"]].isna().all().all()
    assert table["expected_purchases"].gt(0).all() and table["clv"].gt(0).all()  # the estimates stand
    shown_table = value_interval_table(table, "segment", "rfm11", "en")
    assert all(cell.endswith(" (—)") for cell in shown_table["expected_purchases_interval"])
    assert "inf" not in " ".join(shown_table["clv_interval"]) and "∞" not in " ".join(shown_table["clv_interval"])
    fitted = clv.group_intervals(grouped, "segment", models.purchases, models.spend)  # defined: bounds around
    assert (fitted["expected_purchases_lower"] < fitted["expected_purchases"]).all()
    assert (fitted["clv_upper"] > fitted["clv"]).all()


def copy_with_covariance(model, covariance):
    import copy

    changed = copy.copy(model)
    changed.covariance_ = covariance
    return changed


def _spend_summary(seed: int, spread: bool, n: int = 3000) -> pd.DataFrame:
    """Repeat buyers whose purchases are Gamma(6, nu): nu the same for everyone (no spread of
    average spend between customers) or Gamma(4, 0.1) across them."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 8, n)
    nu = rng.gamma(4.0, 1 / 0.1, n) if spread else np.full(n, 0.05)
    m = np.array([rng.gamma(6.0, 1 / v, k).mean() for v, k in zip(nu, x)])
    t_x = rng.uniform(5, 50, n)
    return pd.DataFrame({"customer_id": np.arange(n).astype(str), "x": x, "t_x": t_x, "T": t_x + rng.uniform(0, 20, n),
                         "mean_repeat_spend": m})


def test_the_page_says_when_every_expected_spend_is_the_average():
    """With no spread of spend between customers beyond chance, Gamma-Gamma's q runs far above p x
    and a customer's own mean counts for almost nothing: the page says every expected spend is close
    to the average (the trial's q = 5.4 million, ¥362.27 for everyone, unexplained); with a spread, not."""
    from segkit.params import Currency
    from segkit.report.html import say_each

    pooled = fit_value_models(_spend_summary(3, spread=False), compare=False)
    gg = pooled.spend
    assert gg.converged_ and gg.params_["q"] > 1_000 and gg.own_weight_ < 0.01
    expected = gg.expected_spend(_spend_summary(3, spread=False))
    mean = gg.params_["p"] * gg.params_["gamma"] / (gg.params_["q"] - 1)
    assert (abs(expected / mean - 1) < 0.02).all()  # everyone close to the average, as the page says
    messages = dict(pooled.fit_messages("en"))
    assert messages["value.spend_pooled"]["weight"] == pytest.approx(gg.own_weight_)
    text = say_each([("value.spend_pooled", messages["value.spend_pooled"])], "en", Currency(code="CNY", symbol="¥")).markup
    assert f"¥{mean:,.2f}" in text and "at most 0." in text
    spread = fit_value_models(_spend_summary(4, spread=True), compare=False)
    assert spread.spend.own_weight_ > 0.5 and "value.spend_pooled" not in dict(spread.fit_messages("en"))


def _heavy_tailed_summary(seed: int, q: float, n: int = 3000, once: int = 2000) -> pd.DataFrame:
    """`n` repeat buyers whose purchases are Gamma(4, nu), nu ~ Gamma(q, 20) across them (q near 1: a few
    customers spend far more than the rest), and `once` customers without a repeat purchase."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.integers(1, 8, n), np.zeros(once, dtype=int)])
    nu = rng.gamma(q, 1 / 20, n)
    m = np.concatenate([[rng.gamma(4.0, 1 / v, k).mean() for v, k in zip(nu, x[:n])], np.zeros(once)])
    t_x = np.where(x > 0, rng.uniform(5, 50, n + once), 0.0)
    return pd.DataFrame({"customer_id": np.arange(n + once).astype(str), "x": x, "t_x": t_x,
                         "T": t_x + rng.uniform(1, 20, n + once), "mean_repeat_spend": m})


def test_the_page_says_when_customers_without_repeats_get_a_mean_pulled_up_by_large_spenders():
    """Gamma-Gamma gives a customer without a repeat purchase the population's mean spend p gamma / (q - 1);
    with q near 1 a few large spenders pull it far above the typical repeat buyer's (a trial's New Customers:
    $508 beside their $44 first orders, a predicted CLV 15 times what they had spent, unexplained). The page
    says so, with the figures, in both languages; with a thin tail (q = 8), not."""
    from segkit.models.customer_value import HEAVY_TAIL_RATIO
    from segkit.params import Currency
    from segkit.report.html import say_each

    summary = _heavy_tailed_summary(5, q=1.4)
    models = fit_value_models(summary, compare=False)
    gg = models.spend
    P = gg.params_
    mean = P["p"] * P["gamma"] / (P["q"] - 1)
    median = float(summary.loc[summary["x"] > 0, "mean_repeat_spend"].median())
    assert gg.repeat_spend_median_ == pytest.approx(median)
    assert mean >= HEAVY_TAIL_RATIO * median  # the data are what the message is about
    said = dict(models.fit_messages("en"))["value.spend_heavy_tail"]
    assert said["count"] == 2000 and said["value"] == pytest.approx(mean) and said["ratio"] == pytest.approx(mean / median)
    # the customers without repeats do get that mean as their expected spend
    once = summary[summary["x"] == 0]
    assert np.allclose(gg.expected_spend(once), mean)
    currency = Currency(code="USD", symbol="$")
    text = say_each([("value.spend_heavy_tail", said)], "en", currency).markup
    assert f"${mean:,.2f}" in text and f"${median:,.2f}" in text and "2,000 customers" in text
    assert "2,000 位客户" in say_each([("value.spend_heavy_tail", said)], "zh", currency).markup
    thin = fit_value_models(_heavy_tailed_summary(6, q=8.0), compare=False)
    assert "value.spend_heavy_tail" not in dict(thin.fit_messages("en"))


def test_the_page_says_that_bgnbd_counts_every_one_time_buyer_alive(sample):
    """CDNOW's 1/10 sample, calibration to 1997-09-30: its one-time buyers. BG/NBD gives each of them P(alive)
    = 1 (it lets customers drop out only after a repeat purchase), which made a "Lost" segment read
    95.9% alive in trial 4; the page says so, with the count and share, in both languages."""
    from segkit.report.html import say_each

    summary, models = sample
    once = summary["x"].to_numpy() == 0
    assert np.allclose(models.purchases.p_alive(summary).to_numpy()[once], 1.0)
    messages = dict(models.fit_messages("en"))
    assert messages["value.bgnbd_one_time"] == {"count": int(once.sum()), "share": pytest.approx(once.mean())}
    en = say_each([("value.bgnbd_one_time", messages["value.bgnbd_one_time"])], "en").markup
    zh = say_each([("value.bgnbd_one_time", messages["value.bgnbd_one_time"])], "zh").markup
    assert f"{int(once.sum()):,} customers without a repeat purchase" in en and "没有复购" in zh
    repeat_only = fit_value_models(summary[~once].reset_index(drop=True))
    assert "value.bgnbd_one_time" not in dict(repeat_only.fit_messages("en"))


def degenerate_value(monkeypatch, clv: np.ndarray, **options) -> pd.DataFrame:
    """`customer_value` with models whose predictions make exactly `clv` (spend 1 per purchase)."""
    from types import SimpleNamespace

    import segkit.models.customer_value as module

    summary = pd.DataFrame({"customer_id": [f"c{i}" for i in range(len(clv))]})
    models = SimpleNamespace(predicting=SimpleNamespace(p_alive=lambda s: pd.Series(np.full(len(s), 0.6))),
                             spend=SimpleNamespace(expected_spend=lambda s: pd.Series(np.ones(len(s)))))
    monkeypatch.setattr(module, "horizon_purchases", lambda *args: (np.full(len(clv), 3.0), clv))
    return customer_value(summary, models, **options)


def test_clv_equal_to_the_cent_gets_one_tier_and_all_equal_no_tier(monkeypatch):
    """Trial: the purchase models degenerated and every customer's CLV was 419.85, yet high, mid and low
    tiers were handed out, split at differences of 0.0005. Equal to the cent, equal tier (as RFM scores give
    equal values equal scores); all equal, no tier can tell them apart: "unknown" for everyone."""
    noise = np.array([0.0004, -0.0004, 0.0003, -0.0003, 0.0002, -0.0002, 0.0001, -0.0001, 0.0, 0.00049])
    value = degenerate_value(monkeypatch, 419.85 + noise)
    assert value["clv"].round(2).eq(419.85).all() and set(value["clv_tier"]) == {"unknown"}
    some = np.concatenate([419.85 + noise[:6], [500.0, 600.0, 700.0, 900.0]])
    tiers = degenerate_value(monkeypatch, some).set_index(value["customer_id"])["clv_tier"]
    assert set(tiers.iloc[:6]) == {"low"} and tiers.iloc[6:].tolist() == ["mid", "mid", "high", "high"]
    # equal in the currency's own unit: yen have no decimals
    assert set(degenerate_value(monkeypatch, np.array([419.6, 420.0, 420.4]), minor_unit=0)["clv_tier"]) == {"unknown"}
    assert degenerate_value(monkeypatch, np.array([419.6, 420.0, 420.4]))["clv_tier"].tolist() == ["low", "low", "high"]


def test_value_totals_add_the_amounts_as_the_exports_hold_them():
    # the trial's 03: Champions' predicted CLV read ¥6,186,055.08 while its customers in customers.csv
    # (each CLV at the currency's decimals) add up to 6,186,055.01
    from segkit.report.tables import value_table

    profile = pd.DataFrame({"customer_id": list("abcd"), "segment": ["champions"] * 3 + ["lost"],
                            "rfm_class": ["x"] * 4, "revenue": [10.0, 20.0, 30.0, 5.0]})
    value = pd.DataFrame({"customer_id": list("abcd"), "p_alive": [0.9] * 4, "clv": [10.004, 10.004, 10.004, 0.4],
                          "churn_risk": [False] * 4})
    exported = value["clv"].round(2)  # what customers.csv holds
    table = value_by(profile, value, "segment", minor_unit=2).set_index("segment")
    assert table.loc["champions", "clv_total"] == exported[:3].sum() == pytest.approx(30.00)  # not 30.012
    assert table.loc["champions", "clv_share"] == pytest.approx(30.0 / 30.4)
    yen = value_by(profile, value, "segment", minor_unit=0).set_index("segment")  # a currency without decimals
    assert yen.loc["champions", "clv_total"] == 30.0 and yen.loc["lost", "clv_total"] == 0.0
    shown = value_table(profile, value, "segment", "rfm11", "en", minor_unit=2)
    assert shown["clv_total"].tolist() == pytest.approx([30.0, 0.4])
    assert value["clv"].tolist() == [10.004, 10.004, 10.004, 0.4]  # the input is not changed


def test_value_purchase_model_chooses_the_model_behind_the_predictions():
    """05's next-period check says the model closer to what happened is the one to trust; the params can
    now follow it (value.purchase_model), and run.json says which model predicted."""
    from segkit.models.customer_value import predicting_name, value_stage
    from segkit.params import validate_params

    summary = repeat_summary(connect(), load_cdnow(sample=True), dt.date(1998, 6, 30))
    pareto = value_stage(summary, "weeks", purchase_model="pareto_nbd")
    default = value_stage(summary, "weeks")
    assert pareto.models.predicting_key == "pareto_nbd" and default.models.predicting_key == "bgnbd"
    expected = pareto.models.alternative.p_alive(summary).to_numpy()
    np.testing.assert_allclose(pareto.value["p_alive"].to_numpy(), expected)
    assert not np.allclose(pareto.value["p_alive"].to_numpy(), default.value["p_alive"].to_numpy())
    assert predicting_name({"value_models": pareto.run_info()}) == "Pareto/NBD"
    assert predicting_name({}) == "BG/NBD"
    assert validate_params({"value": {"purchase_model": "pareto_nbd"}}).value.purchase_model == "pareto_nbd"
    # asked for, but without a Pareto/NBD fit to predict with: BG/NBD predicts
    models = fit_value_models(summary, "weeks", purchase_model="pareto_nbd")
    models.alternative = None
    assert models.predicting_key == "bgnbd"
    instead = dict(models.fit_messages("en"))["value.purchase_model_instead"]
    assert t("value.purchase_model_instead", "en", **instead).endswith("the predictions use BG/NBD.")
    assert "value.purchase_model_instead" not in dict(default.models.fit_messages("en"))
