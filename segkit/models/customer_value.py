"""Customer value over time for the report: the models fitted on a run's repeat-buying summary,
per-customer predictions (P(alive), expected purchases, expected spend, predicted CLV, its tier,
churn risk) and the "valuable but slipping" list.

The models are those of `segkit.models.clv` (BG/NBD and Pareto/NBD for purchases, Gamma-Gamma for
spend); which purchase model fits the calibration data better is decided by the log-likelihood
(both have four parameters) and stated, and BG/NBD stays the one used for predictions (the field's
default, and the one whose holdout check the report shows).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from segkit.classify.value import tiers
from segkit.errors import DataError
from segkit.models.clv import BGNBDModel, ConvergenceWarning, GammaGammaModel, ParetoNBDModel, predicted_clv

VALUE_COLUMNS = ("customer_id", "p_alive", "expected_purchases", "expected_spend", "clv", "clv_tier", "churn_risk")


@dataclass
class ValueModels:
    """The fitted models and what the report says about them."""

    purchases: BGNBDModel
    spend: GammaGammaModel | None
    alternative: ParetoNBDModel | None
    better_fit: str  # "bgnbd" or "pareto_nbd" by log-likelihood on the calibration data
    warnings: list[str] = field(default_factory=list)

    def parameters(self) -> dict:
        """The parameters, standard errors and log-likelihoods, for run.json."""
        found = {"bgnbd": _described(self.purchases), "better_fit": self.better_fit}
        if self.alternative is not None:
            found["pareto_nbd"] = _described(self.alternative)
        if self.spend is not None:
            found["gamma_gamma"] = {**_described(self.spend),
                                    "frequency_spend_correlation": float(self.spend.frequency_spend_corr_)}
        found["warnings"] = list(self.warnings)
        return found


def _described(model) -> dict:
    return {"params": {k: float(v) for k, v in model.params_.items()},
            "se": {k: float(v) for k, v in model.se_.items()}, "loglik": float(model.loglik_)}


def fit_value_models(summary: pd.DataFrame, time_unit: str = "weeks", compare: bool = True) -> ValueModels:
    """BG/NBD on `summary` (from `repeat_summary`), Gamma-Gamma on its repeat buyers, and, when
    `compare`, Pareto/NBD for the comparison. A model that cannot be fitted on these data (no repeat
    buyers, a fit that does not converge) is left out with its reason in `warnings`, except BG/NBD,
    whose failure is the DataError it raises (the report then says why there is no prediction).
    """
    caught: list[str] = []
    with warnings.catch_warnings(record=True) as raised:
        warnings.simplefilter("always", ConvergenceWarning)
        purchases = BGNBDModel(time_unit=time_unit).fit(summary)
        spend = alternative = None
        try:
            spend = GammaGammaModel().fit(summary)
        except DataError as err:
            caught.append(f"Gamma-Gamma: {err}")
        if compare:
            try:
                alternative = ParetoNBDModel(time_unit=time_unit).fit(summary)
            except DataError as err:
                caught.append(f"Pareto/NBD: {err}")
    caught.extend(str(w.message) for w in raised if issubclass(w.category, ConvergenceWarning))
    better = "pareto_nbd" if alternative is not None and alternative.loglik_ > purchases.loglik_ else "bgnbd"
    return ValueModels(purchases, spend, alternative, better, caught)


def customer_value(summary: pd.DataFrame, models: ValueModels, horizon: int = 12, horizon_unit: str = "months",
                   discount_rate: float = 0.01, alive_threshold: float = 0.5,
                   tier_quantiles: tuple[float, float] = (0.5, 0.8)) -> pd.DataFrame:
    """One row per customer of `summary`: p_alive (BG/NBD), expected_purchases over the horizon,
    expected_spend per purchase (Gamma-Gamma; the customer's mean repeat spend weighted with the
    population's, in currency units), clv (predicted lifetime value over `horizon` `horizon_unit`,
    discounted at `discount_rate` per `horizon_unit`), clv_tier (low / mid / high by the quantiles
    of clv, as the monetary tiers) and churn_risk (p_alive below `alive_threshold`).
    Without a spend model, expected_spend and clv are missing and clv_tier is "unknown".
    """
    if not 0 < alive_threshold < 1:
        raise DataError(f"alive_threshold must lie between 0 and 1, got {alive_threshold!r}")
    purchases = models.purchases
    frame = pd.DataFrame({
        "customer_id": summary["customer_id"].astype(str).to_numpy(),
        "p_alive": purchases.p_alive(summary).to_numpy(),
        "expected_purchases": purchases.expected_purchases(summary, horizon, unit=horizon_unit).to_numpy(),
    })
    if models.spend is not None:
        frame["expected_spend"] = models.spend.expected_spend(summary).to_numpy()
        frame["clv"] = predicted_clv(summary, purchases, models.spend, horizon=horizon, horizon_unit=horizon_unit,
                                     discount_rate=discount_rate).to_numpy()
        frame["clv_tier"] = tiers(frame["clv"], quantiles=tier_quantiles).to_numpy()
    else:
        frame["expected_spend"] = np.nan
        frame["clv"] = np.nan
        frame["clv_tier"] = "unknown"
    frame["churn_risk"] = frame["p_alive"] < alive_threshold
    return frame[list(VALUE_COLUMNS)]


def slipping_valuable(profile: pd.DataFrame, value: pd.DataFrame, alive_threshold: float = 0.5) -> pd.DataFrame:
    """Valuable but slipping: customers in the high monetary tier (revenue so far) whose P(alive)
    is below `alive_threshold`, most valuable first. Columns: customer_id, segment, rfm_class,
    revenue, recency_days, p_alive, clv."""
    joined = profile.merge(value[["customer_id", "p_alive", "clv"]], on="customer_id", how="inner")
    slipping = joined[(joined["monetary_tier"] == "high") & (joined["p_alive"] < alive_threshold)]
    columns = [c for c in ("customer_id", "segment", "rfm_class", "revenue", "recency_days", "p_alive", "clv")
               if c in slipping.columns]
    return slipping.sort_values(["revenue", "customer_id"], ascending=[False, True])[columns].reset_index(drop=True)


def value_by(profile: pd.DataFrame, value: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per value of `column` (segment, rfm_class, cluster...): customers, revenue so far, predicted
    CLV (sum and share of all predicted CLV), mean P(alive) and the share at churn risk: which
    classes hold the future value."""
    joined = profile[["customer_id", column, "revenue"]].merge(value, on="customer_id", how="inner")
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
