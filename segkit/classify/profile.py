"""One row per customer with every classification: RFM scores and segments, tiers, ABC class,
satisfaction, attributes. The table tags, the ranking and the CRM export read from."""

from __future__ import annotations

import numpy as np
import pandas as pd

from segkit.classify.value import abc_classes, tiers

# Columns a tag rule may name, with what they hold (the tag language checks names against this).
PROFILE_COLUMNS = {
    "orders": "distinct orders", "revenue": "total revenue (historical lifetime value)",
    "recency_days": "days since the last purchase", "tenure_days": "days since the first purchase",
    "avg_order_value": "revenue per order", "interval_days": "mean days between orders",
    "orders_recent": "orders in the activity window", "categories": "distinct product categories",
    "r_score": "R score", "f_score": "F score", "m_score": "M score", "segment": "RFM segment code",
    "rfm_class": "eight-class code", "frequency_tier": "low / mid / high", "monetary_tier": "low / mid / high",
"abc_class": "A / B / C", "breadth": "single / multi",
    "satisfaction": "very_satisfied / satisfied / unsatisfied / no_answer", "score": "survey score",
    "nps": "NPS answer 0-10", "customer_type": "individual / enterprise / government", "region": "region",
    "age_band": "age band", "active": "true when orders_recent > 0",
}


def satisfaction_classes(scores: pd.Series, very_satisfied: float = 5, satisfied: float = 4) -> pd.Series:
    """very_satisfied / satisfied / unsatisfied by score bands; no_answer where there is no score."""
    result = np.select([scores >= very_satisfied, scores >= satisfied, scores.notna()],
                       ["very_satisfied", "satisfied", "unsatisfied"], "no_answer")
    return pd.Series(result, index=scores.index, name="satisfaction")


def latest_answers(surveys: pd.DataFrame) -> pd.DataFrame:
    """Each customer's latest survey answer (score, nps)."""
    ordered = surveys.sort_values("answered_at", kind="stable") if "answered_at" in surveys.columns else surveys
    return ordered.groupby("customer_id", as_index=False).tail(1)[
        ["customer_id", *[c for c in ("score", "nps") if c in surveys.columns]]]


def customer_profile(features: pd.DataFrame, segments: pd.DataFrame, customers: pd.DataFrame | None = None,
                     surveys: pd.DataFrame | None = None, frequency_tier: dict | None = None,
                     monetary_tier: dict | None = None,
                     abc: tuple[float, float] = (0.8, 0.95), very_satisfied: float = 5,
                     satisfied: float = 4) -> pd.DataFrame:
    """Features + scores + segments, with tiers (frequency on orders; monetary on revenue so far, the
    historical lifetime value), ABC class, product breadth, satisfaction and customer attributes.

    Tier settings are dicts of `segkit.classify.value.tiers` arguments (method, quantiles, thresholds).
    """
    profile = features.merge(segments, on="customer_id", how="left", validate="one_to_one")
    profile["frequency_tier"] = tiers(profile["orders"], **(frequency_tier or {})).to_numpy()
    profile["monetary_tier"] = tiers(profile["revenue"], **(monetary_tier or {})).to_numpy()
    profile["abc_class"] = abc_classes(profile["revenue"], abc).to_numpy()
    if "orders_recent" in profile.columns:
        profile["active"] = profile["orders_recent"] > 0
    if "categories" in profile.columns:
        profile["breadth"] = np.where(profile["categories"] > 1, "multi", "single")
    if customers is not None:
        attributes = customers.drop_duplicates("customer_id", keep="last")
        keep = [c for c in attributes.columns if c == "customer_id" or c not in profile.columns]
        profile = profile.merge(attributes[keep], on="customer_id", how="left", validate="one_to_one")
    if surveys is not None and {"score", "nps"} & set(surveys.columns):
        profile = profile.merge(latest_answers(surveys), on="customer_id", how="left", validate="one_to_one")
        if "score" in profile.columns:
            profile["satisfaction"] = satisfaction_classes(profile["score"], very_satisfied, satisfied).to_numpy()
    return profile


def add_tags_and_rank(profile: pd.DataFrame, rules, weights: dict[str, float]) -> pd.DataFrame:
    """The profile with one boolean column per tag (tag_<name>), `tags`, `rank_score` and `rank`."""
    from segkit.classify.ranking import rank_customers
    from segkit.classify.tags import apply_tags

    tagged = apply_tags(profile, rules)
    ranked = rank_customers(profile, weights)[["customer_id", "rank_score", "rank"]]
    return (profile.merge(tagged, on="customer_id", validate="one_to_one")
            .merge(ranked, on="customer_id", validate="one_to_one"))
