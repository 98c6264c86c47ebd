"""One row per customer with every classification: RFM scores and segments, tiers, ABC class,
satisfaction, attributes. The table tags, the ranking and the CRM export read from."""

from __future__ import annotations

import numpy as np
import pandas as pd

from segkit.classify.value import abc_classes, tier_cuts, tiers
from segkit.store import same_customers

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


SATISFACTION = ("very_satisfied", "satisfied", "unsatisfied", "no_answer")


def satisfaction_classes(scores: pd.Series, very_satisfied: float = 5, satisfied: float = 4) -> pd.Series:
    """very_satisfied / satisfied / unsatisfied by score bands; no_answer where there is no score.

    >>> satisfaction_classes(pd.Series([5, 4, 2, None])).tolist()
    ['very_satisfied', 'satisfied', 'unsatisfied', 'no_answer']
    """
    codes = np.select([scores >= very_satisfied, scores >= satisfied, scores.notna()], [0, 1, 2], 3)
    return pd.Series(labelled(codes, SATISFACTION), index=scores.index, name="satisfaction")


def labelled(codes: np.ndarray, labels) -> pd.api.extensions.ExtensionArray | np.ndarray:
    """`labels[codes]` as the text column pandas makes of those strings (its default string dtype),
    built by Arrow from the few labels: a million rows of "low" / "mid" / "high" without a million
    Python strings. `codes` are integers from 0 to len(labels) - 1, one per row."""
    import pyarrow as pa

    codes = np.asarray(codes, dtype=np.intp)
    dtype = pd.Series([""]).dtype  # what pandas infers for text (Arrow-backed "str" in pandas 3)
    if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        return pd.array(pa.array(list(labels), type=pa.large_string()).take(codes), dtype=dtype)
    return np.array(list(labels), dtype=object)[codes]


def id_column(ids: pd.Series):
    """`ids.to_numpy()` as a new frame would hold it, without the index: text ids already in pandas'
    default string dtype are passed on as they are (Arrow, no million Python strings and back)."""
    return ids.array if ids.dtype == pd.Series([""]).dtype else ids.to_numpy()


def _tier_labels(values: pd.Series, settings: dict | None) -> pd.api.extensions.ExtensionArray | np.ndarray:
    """`segkit.classify.value.tiers` of `values`, as a column: the same cuts (`tier_cuts`) and the same
    comparisons, labelled from codes."""
    if values.dtype.kind not in "iuf":  # nullable or other types: value.tiers' own comparisons
        return tiers(values, **(settings or {})).array
    low, high = tier_cuts(values, **(settings or {}))
    array = values.to_numpy()
    return labelled(np.where(array > high, 2, np.where(array > low, 1, 0)), ("low", "mid", "high"))


def _abc_labels(revenue: pd.Series, cutoffs: tuple[float, float]) -> pd.api.extensions.ExtensionArray | np.ndarray:
    """`segkit.classify.value.abc_classes` as a column, by positions instead of index labels: the same
    order (largest first, ties in row order: pandas' stable descending sort), the same running sums."""
    values = revenue.to_numpy()
    if revenue.dtype.kind not in "iuf" or (revenue.dtype.kind == "f" and np.isnan(values).any()):
        # missing values go last in pandas' sort, other types have their own arithmetic: abc_classes does it
        return abc_classes(revenue, cutoffs).array
    n = len(values)
    # pandas' stable descending sort: the reversed values sorted ascending, then the order reversed
    order = (n - 1 - np.argsort(values[::-1], kind="stable"))[::-1]
    ordered = values[order]
    with np.errstate(divide="ignore", invalid="ignore"):  # no revenue at all: pandas gives NaN silently too
        before = (np.cumsum(ordered) - ordered) / ordered.sum()  # share already covered before this customer
    codes = np.empty(n, dtype=np.intp)
    codes[order] = np.where(before < cutoffs[0], 0, np.where(before < cutoffs[1], 1, 2))
    return labelled(codes, "ABC")


def _join_aligned(left: pd.DataFrame, right: pd.DataFrame, key: str = "customer_id",
                  unique: bool | None = None) -> pd.DataFrame | None:
    """`left.merge(right, on=key, validate="one_to_one")` (left or inner) when `right` holds the same keys
    in the same order: its other columns put beside `left`'s, without hashing a million keys. None
    when that does not hold (different keys or order, a repeated key, a shared column): merge then.
    `unique` is what the caller already knows of `left[key]` (None: look)."""
    others = [c for c in right.columns if c != key]
    if (len(left) != len(right) or key not in left.columns or key not in right.columns
            or left.columns.has_duplicates or right.columns.has_duplicates or set(others) & set(left.columns)
            or left[key].dtype != right[key].dtype or not left[key].array.equals(right[key].array)):
        return None
    if unique is None:  # ids in ascending order (a run's stages: `same_customers`) are each there once
        unique = same_customers(left[key], right[key]) or pd.Index(left[key]).is_unique
    if not unique:
        return None
    return pd.concat([left.reset_index(drop=True), right[others].reset_index(drop=True)], axis=1)


def latest_answers(surveys: pd.DataFrame) -> pd.DataFrame:
    """Each customer's latest survey answer (score, nps): of those with a date, where there is one
    (an answer whose date could not be read is not taken as the latest)."""
    ordered = (surveys.sort_values("answered_at", kind="stable", na_position="first")
               if "answered_at" in surveys.columns else surveys)
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
    # segments are usually scored from these features, row for row: then joining is putting side by side
    profile = _join_aligned(features, segments)
    if profile is None:
        profile = features.merge(segments, on="customer_id", how="left", validate="one_to_one")
    profile["frequency_tier"] = _tier_labels(profile["orders"], frequency_tier)
    profile["monetary_tier"] = _tier_labels(profile["revenue"], monetary_tier)
    profile["abc_class"] = _abc_labels(profile["revenue"], abc)
    if "orders_recent" in profile.columns:
        profile["active"] = profile["orders_recent"] > 0
    if "categories" in profile.columns:
        profile["breadth"] = labelled(np.where(profile["categories"] > 1, 1, 0), ("single", "multi"))
    if customers is not None:
        attributes = customers.drop_duplicates("customer_id", keep="last")
        keep = [c for c in attributes.columns if c == "customer_id" or c not in profile.columns]
        profile = profile.merge(attributes[keep], on="customer_id", how="left", validate="one_to_one")
    if surveys is not None and {"score", "nps"} & set(surveys.columns):
        profile = profile.merge(latest_answers(surveys), on="customer_id", how="left", validate="one_to_one")
        if "score" in profile.columns:
            profile["satisfaction"] = satisfaction_classes(profile["score"], very_satisfied, satisfied).array
    return profile


def add_tags_and_rank(profile: pd.DataFrame, rules, weights: dict[str, float]) -> pd.DataFrame:
    """The profile with one boolean column per tag (tag_<name>), `tags`, `rank_score` and `rank`
    (`segkit.classify.tags.apply_tags`, `segkit.classify.ranking.rank_customers`), rows in the
    profile's order. Raises pandas' MergeError when a customer_id is repeated."""
    from segkit.classify.ranking import rank_customers, rank_scores
    from segkit.classify.tags import apply_tags

    tagged = apply_tags(profile, rules)
    scores = rank_scores(profile, weights)[["customer_id", "rank_score", "rank"]]  # in the profile's order
    joined = _join_aligned(profile, tagged)
    if joined is not None:
        joined = _join_aligned(joined, scores, unique=True)
    if joined is not None:
        return joined
    ranked = rank_customers(profile, weights)[["customer_id", "rank_score", "rank"]]
    return (profile.merge(tagged, on="customer_id", validate="one_to_one")
            .merge(ranked, on="customer_id", validate="one_to_one"))
