"""Customer value over time for the report: the models fitted on a run's repeat-buying summary,
per-customer predictions (P(alive), expected purchases, expected spend, predicted CLV, its tier,
churn risk) and the "valuable but slipping" list.

The models are those of `segkit.models.clv` (BG/NBD and Pareto/NBD for purchases, Gamma-Gamma for
spend); which purchase model fits the calibration data better is decided by the log-likelihood
(both have four parameters) among the fits that converged, and stated. BG/NBD makes the predictions
(the field's default, and the one whose holdout check the report shows) unless its fit did not
converge and Pareto/NBD's did: then Pareto/NBD makes them (`ValueModels.predicting`).

Every fit of these models for a page goes through `fit_value_models`, which records each
ConvergenceWarning: a fit that did not converge becomes a `FitCaveat` that the page states next to
the model's figures (`ValueModels.fit_messages`, `holdout_caveats`); a limiting model without
heterogeneity in dropout, in purchase rates or in both is a proper fit, and its warning a note that
says which limit was used.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from segkit.classify.value import tiers
from segkit.errors import DataError, ParamsError
from segkit.i18n import t
from segkit.store import join_stages, same_customers
from segkit.models.clv import (BGNBDModel, ConvergenceWarning, GammaGammaModel, ParetoNBDModel, horizon_purchases,
                               spend_summary)

VALUE_COLUMNS = ("customer_id", "p_alive", "expected_purchases", "expected_spend", "clv", "clv_tier", "churn_risk")
_NAMES = {"bgnbd": "BG/NBD", "pareto_nbd": "Pareto/NBD"}
_KEYS = {name: key for key, name in _NAMES.items()}  # the message keys of the limiting models' notes
# what each limit assumes (ConvergenceWarning.limit) in the key of its note: value.limit.bgnbd_rate...
_LIMIT_KEYS = {"dropout": "", "rate": "_rate", "rate_and_dropout": "_rate_and_dropout"}


@dataclass(frozen=True)
class FitCaveat:
    """A value model whose fit did not converge: `model` ("BG/NBD", "Pareto/NBD", "Gamma-Gamma"),
    `kind` ("bound", "stopped", "flat" or "loose", as `segkit.models.clv.ConvergenceWarning` says), `detail`
    (the parameters at the limit of the search, or the optimiser's message) and `text`, the warning
    as the fit wrote it. The same for a limiting model used (kind "limit", `ValueModels.limits`),
    with `limit`: which ("dropout", "rate" or "rate_and_dropout") and `detail` its fitted values."""

    model: str
    kind: str
    detail: str
    text: str
    limit: str = ""

    def reason(self, lang: str) -> str:
        """Why, in `lang`: "its parameters s, beta ran to the limit of the search"; an optimiser's stop
        that L-BFGS-B words (its step limit, or no progress for rounding errors) in the words of `lang`,
        any other with the optimiser's own message."""
        stop = optimiser_stop(self.detail) if self.kind == "stopped" else None
        if stop is not None:
            return t(f"value.unconverged_why.stopped_{stop}", lang)
        return t(f"value.unconverged_why.{self.kind}", lang, detail=self.detail)


# L-BFGS-B's messages (scipy.optimize, "STATUS: TASK") when it stops short of a maximum, by what they mean
_OPTIMISER_STOPS = (("ITERATIONS REACHED LIMIT", "limit"), ("EVALUATIONS EXCEEDS LIMIT", "limit"),
                    ("CPU EXCEEDING THE TIME LIMIT", "limit"), ("ROUNDING ERRORS", "precision"),
                    ("STP = STPM", "precision"), ("XTOL TEST SATISFIED", "precision"), ("ABNORMAL", "precision"))


def optimiser_stop(message: str) -> str | None:
    """What an L-BFGS-B stop message means: "limit" (it used up its iterations or evaluations),
    "precision" (rounding errors kept its line search from progressing), or None for another message."""
    text = str(message).upper()
    return next((meaning for words, meaning in _OPTIMISER_STOPS if words in text), None)


def caveat_messages(caveats, lang: str) -> list[tuple[str, dict]]:
    """One sentence per model whose fit did not converge (its reasons together), as (catalogue key,
    values) pairs for `segkit.report.html.say_each`: that its figures are not reliable and that it is
    not to be preferred over a model that converged. [] when every fit converged."""
    by_model: dict[str, list[str]] = {}
    for caveat in caveats:
        reasons, reason = by_model.setdefault(caveat.model, []), caveat.reason(lang)
        if reason not in reasons:
            reasons.append(reason)
    return [("value.unconverged", {"model": model, "why": t("value.unconverged_join", lang).join(reasons)})
            for model, reasons in by_model.items()]


# Below this weight of a customer's own mean spend (GammaGammaModel.own_weight_), every expected
# spend is within about 1% of the population mean, and the page says so.
POOLED_WEIGHT = 0.01
# The population's mean spend per purchase, given to every customer without a repeat purchase, at this many
# times the typical repeat buyer's (the median mean_repeat_spend) or more: the page says so (a few large
# spenders and q near 1 pull that mean up; a trial's one-time buyers got $508 beside a $44 first order)
HEAVY_TAIL_RATIO = 2.0


@dataclass
class ValueModels:
    """The fitted models and what the report says about them."""

    purchases: BGNBDModel
    spend: GammaGammaModel | None
    alternative: ParetoNBDModel | None
    better_fit: str  # "bgnbd" or "pareto_nbd": a fit that converged first, then by log-likelihood
    warnings: list[str] = field(default_factory=list)  # every reason and warning, as written
    caveats: list[FitCaveat] = field(default_factory=list)  # the fits that did not converge
    limits: list[FitCaveat] = field(default_factory=list)  # the limiting models used (kind "limit"): proper fits
    # repeat buyers whose repeat purchases net to zero or less (returns): not in the spend model, their
    # expected spend the population's mean (`spend_summary`)
    spend_left_out: int = 0
    # customers who bought once (x = 0) of all customers fitted: BG/NBD counts each of them alive
    one_time_buyers: int = 0
    customers: int = 0
    # the purchase model the params ask to predict with (`params.value.purchase_model`): "bgnbd" or "pareto_nbd"
    preferred: str = "bgnbd"

    @property
    def unconverged(self) -> set[str]:
        """The names of the models whose fit did not converge ("BG/NBD", "Pareto/NBD", "Gamma-Gamma")."""
        return {caveat.model for caveat in self.caveats}

    @property
    def predicting(self) -> BGNBDModel | ParetoNBDModel:
        """The purchase model behind P(alive), expected purchases and CLV: the one `preferred` (BG/NBD
        by default), or the other when the preferred one's fit did not converge (or Pareto/NBD could not
        be fitted) and the other's did."""
        unconverged = self.unconverged
        pareto = self.alternative is not None and "Pareto/NBD" not in unconverged
        if self.preferred == "pareto_nbd" and pareto:
            return self.alternative
        if "BG/NBD" in unconverged and pareto:
            return self.alternative
        return self.purchases

    @property
    def predicting_key(self) -> str:
        """"bgnbd" or "pareto_nbd": `predicting` as the catalogue and run.json name it."""
        return _KEYS[self.predicting.name]

    @property
    def notes(self) -> list[str]:
        """The warnings that are not caveats: why a model was left out, the limiting model used."""
        said = {caveat.text for caveat in (*self.caveats, *self.limits)}
        return [text for text in self.warnings if text not in said]

    def comparison_messages(self) -> list[tuple[str, dict]]:
        """The sentence above the parameter table, as a (catalogue key, values) pair for `say_each`:
        which purchase model fits better, with both log-likelihoods; when that is not the higher one
        (the other fit did not converge), it says so; when neither converged, that the log-likelihoods
        do not decide and the predictions are not reliable."""
        compared = self.comparison()
        if {"BG/NBD", "Pareto/NBD"} <= self.unconverged:
            return [("value.models_none_converged", compared)]  # no log-likelihood decides between them
        pareto_higher = compared["pareto"] > compared["bgnbd"]  # False without Pareto/NBD (NaN)
        if pareto_higher == (self.better_fit == "pareto_nbd"):
            return [("value.models", compared)]
        other = _NAMES["bgnbd" if self.better_fit == "pareto_nbd" else "pareto_nbd"]
        return [("value.models_unconverged", {**compared, "other": other})]

    def fit_messages(self, lang: str) -> list[tuple[str, dict]]:
        """The sentences under the parameter table, as (catalogue key, values) pairs for `say_each`:
        one per model whose fit did not converge, then the notes; [] when there is nothing to say."""
        notes = self.notes
        # the limiting model's note says it is a proper fit: not when that fit did not converge either
        limits = [(f"value.limit.{_KEYS[limit.model]}{_LIMIT_KEYS.get(limit.limit, '')}",
                   {"detail": _units_in(limit.detail, lang)})
                  for limit in self.limits if limit.model in _KEYS and limit.model not in self.unconverged]
        left_out = [("value.spend_left_out", {"count": self.spend_left_out})] if self.spend_left_out else []
        pooled = []
        spend = self.spend
        if spend is not None and "Gamma-Gamma" not in self.unconverged and spend.own_weight_ < POOLED_WEIGHT:
            P = spend.params_
            pooled = [("value.spend_pooled", {"q": P["q"], "weight": spend.own_weight_,
                                              "value": P["p"] * P["gamma"] / (P["q"] - 1)})]
        heavy = []
        if spend is not None and "Gamma-Gamma" not in self.unconverged and not pooled and spend.params_["q"] > 1:
            P = spend.params_
            mean = P["p"] * P["gamma"] / (P["q"] - 1)
            median = getattr(spend, "repeat_spend_median_", float("nan"))
            without = self.one_time_buyers  # those left out of the spend model have their own sentence
            if without and median > 0 and mean >= HEAVY_TAIL_RATIO * median:
                heavy = [("value.spend_heavy_tail", {"count": without, "value": mean, "m": median,
                                                     "ratio": mean / median, "q": P["q"]})]
        # BG/NBD's dropout comes only after a repeat purchase: a one-time buyer is alive whatever their
        # recency (Fader, Hardie & Lee 2005); P(alive) says nothing of them, and the page must say so
        once = [("value.bgnbd_one_time", {"count": self.one_time_buyers,
                                          "share": self.one_time_buyers / self.customers})] \
            if self.predicting_key == "bgnbd" and self.one_time_buyers and self.customers else []
        # the params asked for a model that cannot predict here (not fitted, or its fit did not converge)
        instead = [("value.purchase_model_instead", {"asked": _NAMES[self.preferred], "used": self.predicting.name})] \
            if self.predicting_key != self.preferred else []
        return (caveat_messages(self.caveats, lang) + limits + left_out + pooled + heavy + once + instead
                + ([("value.warning", {"text": "; ".join(notes)})] if notes else []))

    def parameters(self) -> dict:
        """The parameters, standard errors and log-likelihoods, for run.json."""
        found = {"bgnbd": _described(self.purchases), "better_fit": self.better_fit, "predicting": self.predicting_key}
        if self.alternative is not None:
            found["pareto_nbd"] = _described(self.alternative)
        if self.spend is not None:
            found["gamma_gamma"] = {**_described(self.spend),
                                    "frequency_spend_correlation": float(self.spend.frequency_spend_corr_)}
        found["warnings"] = list(self.warnings)
        found["not_converged"] = [{"model": c.model, "kind": c.kind, "detail": c.detail, "text": c.text}
                                  for c in self.caveats]
        return found

    def comparison(self) -> dict:
        """For the report's sentence: the better fit and the predicting model by name and both
        log-likelihoods (NaN where Pareto/NBD could not be fitted)."""
        return {"better": _NAMES[self.better_fit], "predicting": self.predicting.name,
                "bgnbd": float(self.purchases.loglik_),
                "pareto": float(self.alternative.loglik_) if self.alternative is not None else float("nan")}

    def parameter_table(self) -> pd.DataFrame:
        """One row per model parameter: model, parameter, estimate, standard_error."""
        rows = []
        for name, model in (("BG/NBD", self.purchases), ("Pareto/NBD", self.alternative), ("Gamma-Gamma", self.spend)):
            if model is not None:
                rows += [{"model": name, "parameter": key, "estimate": float(value),
                          "standard_error": float(model.se_.get(key, np.nan))} for key, value in model.params_.items()]
        return pd.DataFrame(rows, columns=["model", "parameter", "estimate", "standard_error"])


def _described(model) -> dict:
    return {"params": {k: float(v) for k, v in model.params_.items()},
            "se": {k: float(v) for k, v in model.se_.items()}, "loglik": float(model.loglik_)}


def fit_value_models(summary: pd.DataFrame, time_unit: str = "weeks", compare: bool = True,
                     spend: bool = True, purchase_model: str = "bgnbd") -> ValueModels:
    """BG/NBD on `summary` (from `repeat_summary`), when `spend` Gamma-Gamma on its repeat buyers,
    and, when `compare`, Pareto/NBD for the comparison. A model that cannot be fitted on these data
    (e.g. no repeat buyers) is left out with its reason in `warnings`, except BG/NBD, whose failure
    is the DataError it raises (the report then says why there is no prediction). Every
    ConvergenceWarning of the fits is in `warnings`; those of a fit that did not converge (all but
    the limiting model's) are also `caveats`, and such a fit is not the better fit over one that
    converged. `purchase_model` ("bgnbd" or "pareto_nbd", `params.value.purchase_model`) is the model
    to predict with (`ValueModels.predicting`); Pareto/NBD is then fitted whatever `compare` says, and
    where it cannot predict (not fitted, or its fit did not converge) BG/NBD does (`fit_messages` says so).
    """
    if purchase_model not in _KEYS.values():
        raise ParamsError(f"purchase_model must be one of {', '.join(_KEYS.values())}, got {purchase_model!r}")
    compare = compare or purchase_model == "pareto_nbd"
    caught: list[str] = []
    left_out = 0
    with warnings.catch_warnings(record=True) as raised:
        warnings.simplefilter("always", ConvergenceWarning)
        purchases = BGNBDModel(time_unit=time_unit).fit(summary)
        gamma_gamma = alternative = None
        if spend:
            try:
                spending, left_out = spend_summary(summary)
                gamma_gamma = GammaGammaModel().fit(spending)
            except DataError as err:
                caught.append(f"Gamma-Gamma: {err}")
        if compare:
            try:
                alternative = ParetoNBDModel(time_unit=time_unit).fit(summary)
            except DataError as err:
                caught.append(f"Pareto/NBD: {err}")
    found = [w.message for w in raised if issubclass(w.category, ConvergenceWarning)]
    for other in raised:  # recorded with the others, not to be lost: shown as they would have been
        if not issubclass(other.category, ConvergenceWarning):
            warnings.warn_explicit(other.message, other.category, other.filename, other.lineno, source=other.source)
    caught.extend(str(w) for w in found)
    caveats = [FitCaveat(w.model, w.kind, w.detail, str(w)) for w in found if w.kind != "limit"]
    limits = [FitCaveat(w.model, w.kind, w.detail, str(w), getattr(w, "limit", ""))
              for w in found if w.kind == "limit" and w.model in _KEYS]
    unconverged = {caveat.model for caveat in caveats}

    def rank(model):  # a fit that converged before one that did not, then the higher log-likelihood
        return model.name not in unconverged, model.loglik_

    better = "pareto_nbd" if alternative is not None and rank(alternative) > rank(purchases) else "bgnbd"
    models = ValueModels(purchases, gamma_gamma, alternative, better, caught, caveats, limits,
                         spend_left_out=left_out if gamma_gamma is not None else 0,
                         one_time_buyers=int((summary["x"].to_numpy() == 0).sum()), customers=len(summary),
                         preferred=purchase_model)
    return models


def customer_value(summary: pd.DataFrame, models: ValueModels, horizon: int = 12, horizon_unit: str = "months",
                   discount_rate: float = 0.01, alive_threshold: float = 0.5,
                   tier_quantiles: tuple[float, float] = (0.5, 0.8), minor_unit: int = 2) -> pd.DataFrame:
    """One row per customer of `summary`: p_alive (`models.predicting`: BG/NBD, or Pareto/NBD when
    only its fit converged), expected_purchases over the horizon,
    expected_spend per purchase (Gamma-Gamma; the customer's mean repeat spend weighted with the
    population's, in currency units), clv (predicted lifetime value over `horizon` `horizon_unit`,
    discounted at `discount_rate` per `horizon_unit`), clv_tier (`clv_tiers`: low / mid / high by the
    `tier_quantiles` of clv rounded to the currency's `minor_unit` decimals, so that customers whose
    CLV is equal to the cent share a tier; "unknown" for everyone when all are equal) and churn_risk
    (p_alive below `alive_threshold`).
    Without a spend model, expected_spend and clv are missing and clv_tier is "unknown".
    """
    if not 0 < alive_threshold < 1:
        raise DataError(f"alive_threshold must lie between 0 and 1, got {alive_threshold!r}")
    purchases = models.predicting
    # one evaluation of the purchase model gives both the horizon's purchases and the discounted
    # ones of predicted_clv (the same numbers as expected_purchases and predicted_clv)
    expected, discounted = horizon_purchases(summary, purchases, horizon, horizon_unit, discount_rate)
    frame = pd.DataFrame({
        # the ids' own array: a NumPy array of a million Python strings would be converted back
        "customer_id": summary["customer_id"].astype(str).array,
        "p_alive": purchases.p_alive(summary).to_numpy(),
        "expected_purchases": expected,
    })
    if models.spend is not None:
        frame["expected_spend"] = models.spend.expected_spend(summary).to_numpy()
        frame["clv"] = frame["expected_spend"].to_numpy() * discounted
        frame["clv_tier"] = clv_tiers(frame["clv"], tier_quantiles, minor_unit).array  # as the ids: no round trip
    else:
        frame["expected_spend"] = np.nan
        frame["clv"] = np.nan
        frame["clv_tier"] = "unknown"
    frame["churn_risk"] = frame["p_alive"] < alive_threshold
    return frame[list(VALUE_COLUMNS)]


def clv_tiers(clv: pd.Series, quantiles: tuple[float, float] = (0.5, 0.8), minor_unit: int = 2) -> pd.Series:
    """The predicted-value tier of each customer: low / mid / high by the `quantiles` of `clv` rounded
    to the currency's `minor_unit` decimals (`segkit.classify.value.tiers`: above the second cut is
    high, above the first mid). Tie policy, as RFM scoring's (`RFMScorer`): customers whose CLV is
    equal to the cent share a tier, however the models' floating point differs below it; and when
    every customer's CLV is the same (the purchase models degenerate: everyone 419.85), no tier can
    tell them apart, as a dimension where all values are equal cannot segment, so every customer's
    tier is "unknown", not a split by rounding noise nor "low" for all. A missing CLV counts as before.

    >>> clv_tiers(pd.Series([419.8504, 419.8496, 419.85, 500.0, 900.0]), (0.5, 0.8)).tolist()
    ['low', 'low', 'low', 'mid', 'high']
    >>> clv_tiers(pd.Series([419.8504, 419.8496, 419.8501])).tolist()
    ['unknown', 'unknown', 'unknown']
    """
    rounded = clv.astype(float).round(minor_unit)
    if rounded.nunique(dropna=True) <= 1:
        return pd.Series("unknown", index=clv.index)
    return tiers(rounded, quantiles=quantiles)


def slipping_valuable(profile: pd.DataFrame, value: pd.DataFrame, alive_threshold: float = 0.5) -> pd.DataFrame:
    """Valuable but slipping: customers in the high monetary tier (revenue so far) whose P(alive)
    is below `alive_threshold`, most valuable first. Columns: customer_id, segment, rfm_class,
    revenue, recency_days, p_alive, clv."""
    joined = join_stages(_without_value(profile), value, ["p_alive", "clv"])
    slipping = joined[(joined["monetary_tier"] == "high") & (joined["p_alive"] < alive_threshold)]
    columns = [c for c in ("customer_id", "segment", "rfm_class", "revenue", "recency_days", "p_alive", "clv")
               if c in slipping.columns]
    return slipping.sort_values(["revenue", "customer_id"], ascending=[False, True])[columns].reset_index(drop=True)


def value_by(profile: pd.DataFrame, value: pd.DataFrame, column: str, minor_unit: int = 2) -> pd.DataFrame:
    """Per value of `column` (segment, rfm_class, cluster...): customers, revenue so far, predicted
    CLV (sum and share of all predicted CLV), mean P(alive) and the share at churn risk: which
    classes hold the future value. The sums of money add each customer's amount as the exports
    hold it, rounded to the currency's `minor_unit` decimals, so that a reader who adds up a
    segment's customers in customers.csv gets the page's total to the cent.

    >>> profile = pd.DataFrame({"customer_id": list("abc"), "segment": ["x"] * 3, "revenue": [1.0] * 3})
    >>> value = pd.DataFrame({"customer_id": list("abc"), "clv": [10.004] * 3, "p_alive": [0.9] * 3,
    ...                       "churn_risk": [False] * 3})
    >>> float(value_by(profile, value, "segment")["clv_total"].iloc[0])  # 10.00 three times, not 30.012
    30.0
    """
    values = _without_value(value, keep=VALUE_COLUMNS)
    joined = join_stages(profile[["customer_id", column, "revenue"]], values,
                         [c for c in values.columns if c != "customer_id"])
    # as the exports write each customer's amounts (segkit.report.exports: rounded to the minor unit)
    money = [c for c in ("revenue", "clv") if c in joined.columns]
    joined = joined.assign(**{c: joined[c].astype(float).round(minor_unit) for c in money})
    grouped = joined.groupby(column, observed=True)
    table = pd.DataFrame({
        "customers": grouped.size(),
        "revenue": grouped["revenue"].sum(),
        "clv_total": grouped["clv"].sum(min_count=1),
        "p_alive": grouped["p_alive"].mean(),
        "churn_risk_share": grouped["churn_risk"].mean(),
    })
    total = table["clv_total"].sum()
    table["clv_share"] = table["clv_total"] / total if total > 0 else np.nan
    return table.sort_values("clv_total", ascending=False).reset_index()


@dataclass
class ValueStage:
    """What the customer-value notebook shows: the per-customer predictions and the fitted models,
    or, when the data cannot carry the models (e.g. no repeat buyers), `reason` says why."""

    value: pd.DataFrame | None
    models: ValueModels | None
    reason: str | None = None
    horizon: int = 12
    horizon_unit: str = "months"
    discount_rate: float = 0.01

    def model_words(self, lang: str) -> str:
        """The purchase model behind the predictions with its source, in `lang`, for the page's
        introduction ("the BG/NBD model (Fader, Hardie & Lee 2005)"); BG/NBD when nothing was fitted."""
        return t(f"value.model.{self.models.predicting_key if self.models else 'bgnbd'}", lang)

    def run_info(self) -> dict:
        """What run.json keeps: the models' parameters, or why there are none."""
        return self.models.parameters() if self.models is not None else {"reason": self.reason}

    def intervals(self, summary: pd.DataFrame, profile: pd.DataFrame, column: str, level: float = 0.9) -> pd.DataFrame | None:
        """Per value of `column` of `profile` (segment, rfm_class, cluster...): customers, mean expected
        purchases over the horizon and mean predicted CLV (currency units), each with its `level`
        interval from the parameters' uncertainty (`segkit.models.clv.group_intervals`: the delta
        method on the fitted models' covariance). None when there are no models. Customers of
        `summary` without a value of `column` are left out."""
        if self.models is None:
            return None
        from segkit.models.clv import group_intervals

        if same_customers(summary["customer_id"], profile["customer_id"]):  # a run's stages: no join
            known = profile[column].notna().to_numpy()
            joined = summary.assign(**{column: profile[column].to_numpy()})
            joined = joined if known.all() else joined[known]
        else:
            groups = profile[["customer_id", column]].dropna().astype({"customer_id": str})
            joined = summary.astype({"customer_id": str}).merge(groups, on="customer_id", how="inner",
                                                                validate="one_to_one")
        if joined.empty:
            return None
        return group_intervals(joined, column, self.models.predicting, self.models.spend, horizon=self.horizon,
                               horizon_unit=self.horizon_unit, discount_rate=self.discount_rate, level=level)


def value_stage(summary: pd.DataFrame, time_unit: str = "weeks", horizon: int = 12, horizon_unit: str = "months",
                discount_rate: float = 0.01, alive_threshold: float = 0.5,
                tier_quantiles: tuple[float, float] = (0.5, 0.8), minor_unit: int = 2,
                purchase_model: str = "bgnbd") -> ValueStage:
    """Fit the models on a run's repeat summary and predict every customer's value (see
    `fit_value_models` and `customer_value`: `minor_unit`, the currency's decimals, is where two
    customers' CLVs count as equal for their tiers; `purchase_model`, the model to predict with); a
    DataError from the data becomes `reason`."""
    try:
        models = fit_value_models(summary, time_unit, purchase_model=purchase_model)
    except DataError as err:
        return ValueStage(None, None, str(err), horizon, horizon_unit, discount_rate)
    value = customer_value(summary, models, horizon=horizon, horizon_unit=horizon_unit, discount_rate=discount_rate,
                           alive_threshold=alive_threshold, tier_quantiles=tier_quantiles, minor_unit=minor_unit)
    return ValueStage(value, models, None, horizon, horizon_unit, discount_rate)


def holdout_stage(holdout_summary: pd.DataFrame | None, time_unit: str = "weeks", lang: str = "en",
                  transactions: bool = True) -> tuple[pd.DataFrame | None, str | None]:
    """The next-period check of the purchase models: BG/NBD (and, where it can be fitted, Pareto/NBD
    as the alternative) fitted on the calibration period, their predicted holdout purchases beside
    the actual ones by calibration repeat purchases (`segkit.models.clv.holdout_check`: columns
    predicted and, for Pareto/NBD, alternative); (None, reason) when there is no holdout or no fit,
    the reason in `lang` where segkit words it (`transactions` False: the source is one row per
    customer, with no purchases over time to check against). The fits are `fit_value_models`'
    (without the spend model): `check.attrs["caveats"]` holds a `FitCaveat` for each that did not
    converge (see `holdout_caveats`)."""
    from segkit.models.clv import holdout_check

    if not transactions:
        return None, t("reason.needs_transactions", lang)
    if holdout_summary is None or holdout_summary.empty:
        return None, t("reason.no_holdout_period", lang)
    try:
        # Pareto/NBD is a bonus there: without it BG/NBD's check stands alone
        models = fit_value_models(holdout_summary, time_unit, spend=False)
    except DataError as err:
        return None, str(err)
    check = holdout_check(holdout_summary, models.purchases, alternative=models.alternative)
    check.attrs["caveats"] = list(models.caveats)
    return check, None


def predicting_name(info: dict) -> str:
    """The purchase model that made a run's predictions (03's P(alive), expected purchases and CLV), by
    name, from its run information (run.json's `value_models.predicting`): "BG/NBD" when absent."""
    return _NAMES.get((info.get("value_models") or {}).get("predicting"), "BG/NBD")


def holdout_caveats(check: pd.DataFrame | None, lang: str) -> list[tuple[str, dict]]:
    """The sentences that go next to the holdout check's figures, as (catalogue key, values) pairs
    for `say_each`: one per purchase model whose calibration fit did not converge (`holdout_stage`'s
    `check.attrs["caveats"]`); [] without a check or when both fits converged."""
    return caveat_messages(check.attrs.get("caveats", ()), lang) if check is not None else []


def prediction_caveats(info: dict, lang: str) -> list[tuple[str, dict]]:
    """The sentence for a page that uses 03's predictions (P(alive), expected purchases, CLV) when a
    model they come from (the predicting purchase model, Gamma-Gamma) did not converge in 03's fit,
    as a (catalogue key, values) pair for `say_each`; [] when they converged or the run has no value
    models. `info`: the run's run.json (`segkit.load_run_info`), where 03 keeps
    `value_models.not_converged` and `value_models.predicting` (BG/NBD when absent)."""
    fitted = info.get("value_models") or {}
    found = fitted.get("not_converged") or []
    predicting = (_NAMES.get(fitted.get("predicting"), "BG/NBD"), "Gamma-Gamma")
    models = list(dict.fromkeys(c["model"] for c in found if c.get("model") in predicting))
    if not models:
        return []
    return [("value.unconverged_used", {"models": t("value.models_and", lang).join(models)})]


def _without_value(frame: pd.DataFrame, keep=()) -> pd.DataFrame:
    # a profile may carry the predictions already (03 writes them into it): join them once
    return frame.drop(columns=[c for c in VALUE_COLUMNS if c != "customer_id" and c in frame.columns and c not in keep])


def with_value(profile: pd.DataFrame, value: pd.DataFrame | None) -> pd.DataFrame:
    """`profile` with the value columns of `value` joined on customer_id (replacing earlier ones)."""
    kept = _without_value(profile)
    if value is None:
        return kept
    return join_stages(kept, value, [c for c in value.columns if c != "customer_id"], how="left")


def value_findings(profile: pd.DataFrame, value: pd.DataFrame | None, alive_threshold: float = 0.5) -> dict | None:
    """For the case study: customers in the high predicted-value tier, their share of all predicted
    CLV, and how many valuable customers are slipping (see `slipping_valuable`); None when there is
    no predicted CLV to speak of (no value stage, no spend model, or no predicted value at all)."""
    if value is None or "clv" not in value.columns:
        return None
    total = value["clv"].sum()
    if not total > 0:
        return None
    high = value["clv_tier"] == "high"
    return {"high": int(high.sum()), "share": float(value.loc[high, "clv"].sum() / total),
            "slipping": len(slipping_valuable(profile, value, alive_threshold))}


def _units_in(detail: str, lang: str) -> str:
    """A fitted limit's values ("mu = 0.01282 / week") with the time unit in `lang` ("mu = 0.01282 /周")."""
    import re

    if lang != "zh":
        return detail
    return re.sub(r" / (day|week|month)\b", lambda found: " /" + t(f"unit.{found.group(1)}s", lang), detail)
