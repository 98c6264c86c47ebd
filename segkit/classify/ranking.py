"""The composite customer ranking (客户群排序): a weighted score over several criteria.

Each criterion is turned into a percentile rank from 0 (worst customer) to 1 (best), so every
criterion has the same spread and a weight means what it says: a criterion with weight 0.3 decides
30% of the score. Weights are normalised to sum to 1. A customer without a value for a criterion
(no survey answer, one order so no interval) is scored on the other criteria, their weights
renormalised, rather than punished for a missing answer.

A criterion the data cannot support is left out and the other weights are renormalised: its column is
missing (no surveys, no categories), holds no value for any customer (one order each: no interval),
is not numbers, or holds one value for every customer (it cannot tell customers apart).
`criteria_support` says which and why; `used_weights` are the weights the ranking really applies.

Besides the built-in criteria (`CRITERIA`), a weight may name an extra numeric column of the profile,
such as a customer table's `income` (params `ranking.weights: {income: 0.2}`): the criterion reads
the column of that name, a higher value is better, and it is normalised like the others (percentile
rank, rescaled to 0-1). Params accept only the extra columns the customer table's map names; in
Python, any column of the profile.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# criterion -> (profile column, True when a higher value is better)
CRITERIA = {
    "frequency": ("orders", True),
    "amount": ("revenue", True),
    "interval": ("interval_days", False),
    "satisfaction": ("score", True),
    "potential": ("avg_order_value", True),
    "loyalty": ("tenure_days", True),
    "activity": ("orders_recent", True),
}


def criterion_column(criterion: str) -> tuple[str, bool]:
    """The profile column a criterion reads and whether a higher value is better: `CRITERIA` for the
    built-in ones; an extra column is read under its own name, higher is better."""
    return CRITERIA.get(criterion, (criterion, True))


def normalised_weights(weights: dict[str, float], columns=()) -> dict[str, float]:
    """The positive weights divided by their sum. Names are built-in criteria or, when `columns` (the
    profile's columns) are given, one of them (an extra criterion). Raises ValueError naming an
    unknown criterion (with the choices) or a negative weight or a sum that is not positive."""
    unknown = set(weights) - set(CRITERIA) - set(columns)
    if unknown:
        extra = "; or a numeric column of the profile" if len(columns) else ""
        raise ValueError(f"unknown ranking criteria {sorted(unknown)}; choose from {', '.join(CRITERIA)}{extra}")
    total = sum(weights.values())
    if total <= 0 or any(w < 0 for w in weights.values()):
        raise ValueError(f"weights must be >= 0 with a positive sum, got {weights}")
    return {k: v / total for k, v in weights.items() if v > 0}


def criterion_status(profile: pd.DataFrame, criterion: str) -> str:
    """"used", or why the data cannot support the criterion: "no_column", "no_values", "not_numeric"
    (an extra column of text) or "one_value"."""
    column = criterion_column(criterion)[0]
    if column not in profile.columns:
        return "no_column"
    given = profile[column]
    if given.isna().all():
        return "no_values"
    if pd.api.types.is_bool_dtype(given) or not (pd.api.types.is_numeric_dtype(given)
                                                 or pd.to_numeric(given.dropna(), errors="coerce").notna().all()):
        return "not_numeric"
    values = pd.to_numeric(given, errors="coerce").dropna()
    if values.dtype.kind in "iuf":  # one value when the smallest is the largest (no hashing of a million values)
        return "one_value" if values.min() == values.max() else "used"
    return "one_value" if values.nunique() == 1 else "used"


def criteria_support(profile: pd.DataFrame, weights: dict[str, float]) -> pd.DataFrame:
    """One row per criterion with a positive weight, largest configured weight first: criterion,
    column (the profile column it reads), weight (configured, normalised to sum to 1), status
    (`criterion_status`) and used_weight (renormalised over the criteria in use; 0 for the others).

    >>> p = pd.DataFrame({"customer_id": ["a", "b"], "orders": [1, 1], "revenue": [5.0, 9.0]})
    >>> criteria_support(p, {"amount": 3, "frequency": 1})[["criterion", "status", "used_weight"]].values.tolist()
    [['amount', 'used', 1.0], ['frequency', 'one_value', 0.0]]
    """
    rows = [{"criterion": name, "column": criterion_column(name)[0], "weight": weight,
             "status": criterion_status(profile, name)}
            for name, weight in normalised_weights(weights, profile.columns).items()]
    table = pd.DataFrame(rows, columns=["criterion", "column", "weight", "status"])
    used = table["status"] == "used"
    total = table.loc[used, "weight"].sum()
    table["used_weight"] = (table["weight"] / total).where(used, 0.0) if total > 0 else 0.0
    return table.sort_values("weight", ascending=False, kind="stable").reset_index(drop=True)


def used_weights(profile: pd.DataFrame, weights: dict[str, float]) -> dict[str, float]:
    """The weights the ranking applies: the criteria the data support, renormalised to sum to 1
    (empty when none is supported)."""
    support = criteria_support(profile, weights)
    return {r.criterion: float(r.used_weight) for r in support.itertuples() if r.status == "used"}


def rank_customers(profile: pd.DataFrame, weights: dict[str, float]) -> pd.DataFrame:
    """customer_id, one 0-1 column per criterion in use (crit_<name>), `rank_score` (0-1) and
    `rank` (1 is the best), best first. `weights` name built-in criteria or columns of `profile`
    (extra criteria: higher is better). Each criterion's values become percentile ranks rescaled to
    0-1 (the worst customer 0, the best 1; ties share their average rank). Criteria the data cannot
    support (`criteria_support`) are left out and the other weights renormalised; when none is left,
    every customer has a missing score and rank 1 (the report says why). Raises ValueError for a name
    that is neither a criterion nor a column of `profile`.

    >>> p = pd.DataFrame({"customer_id": ["a", "b", "c"], "revenue": [5.0, 9.0, 1.0], "income": [90, 10, 50]})
    >>> rank_customers(p, {"amount": 1, "income": 1})[["customer_id", "rank_score"]].round(2).values.tolist()
    [['a', 0.75], ['b', 0.5], ['c', 0.25]]
    """
    scores = rank_scores(profile, weights)
    # no criterion in use: every customer ranks 1 with no score, left in the profile's order
    return _best_first(scores) if scores.columns.str.startswith("crit_").any() else scores


def rank_scores(profile: pd.DataFrame, weights: dict[str, float]) -> pd.DataFrame:
    """`rank_customers` in the profile's row order (one row per profile row, RangeIndex): what
    `add_tags_and_rank` puts beside the profile without sorting or joining a million customers."""
    from segkit.classify.profile import id_column

    weights = used_weights(profile, weights)
    out = pd.DataFrame({"customer_id": id_column(profile["customer_id"])})
    if not weights:
        return out.assign(rank_score=float("nan"), rank=1)
    weighted = np.zeros(len(out))
    present_weight = np.zeros(len(out))
    for name, weight in weights.items():
        column, higher_is_better = criterion_column(name)
        values = pd.to_numeric(profile[column], errors="coerce").to_numpy(dtype=float)
        score = percentile_ranks(values, ascending=higher_is_better)
        low, high = np.nanmin(score), np.nanmax(score)  # at least two values: the criterion is in use
        score = (score - low) / (high - low) if high > low else score * 0 + 0.5
        out[f"crit_{name}"] = score
        weighted += np.where(np.isnan(score), 0.0, score) * weight
        present_weight += ~np.isnan(values) * weight
    with np.errstate(divide="ignore", invalid="ignore"):
        out["rank_score"] = weighted / np.where(present_weight > 0, present_weight, np.nan)
    # a customer with no value for any weighted criterion ranks last (score missing, not zero)
    out["rank"] = best_first_ranks(out["rank_score"].to_numpy())
    return out


def percentile_ranks(values: np.ndarray, ascending: bool = True) -> np.ndarray:
    """`pd.Series(values).rank(pct=True, ascending=ascending, method="average")`, bit for bit: each
    value's average rank among the non-missing values (ties share it), divided by their count; NaN
    stays NaN. Computed from the distinct values (one sort) instead of pandas' tie loop.

    >>> percentile_ranks(np.array([10.0, 20.0, 20.0, np.nan])).tolist()
    [0.3333333333333333, 0.8333333333333334, 0.8333333333333334, nan]
    """
    values = np.asarray(values, dtype=float)
    present = ~np.isnan(values)
    at, counts = _distinct_counts(values[present])
    above = np.cumsum(counts)  # rows up to and including each distinct value, ascending
    below = above - counts
    if not ascending:
        below, above = len(at) - above, len(at) - below
    # positions below+1 .. above share their mean rank (below + 1 + above) / 2, exact in float64
    average = (below + 1 + above) / 2.0
    ranks = np.full(len(values), np.nan)
    ranks[present] = average[at] / len(at)
    return ranks


def best_first_ranks(scores: np.ndarray) -> np.ndarray:
    """`pd.Series(scores).rank(ascending=False, method="min", na_option="bottom").astype(int)`: 1 plus
    the number of higher scores; a missing score after every present one."""
    scores = np.asarray(scores, dtype=float)
    present = ~np.isnan(scores)
    at, counts = _distinct_counts(scores[present])
    higher = len(at) - np.cumsum(counts)  # rows above each distinct value
    ranks = np.full(len(scores), len(at) + 1, dtype=np.int64)
    ranks[present] = higher[at] + 1
    return ranks


def _distinct_counts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For values without NaN: (each value's slot, rows per slot), slots in ascending order of value.
    Whole numbers in a short range (orders, days) are counted directly (a slot per number, some
    empty); other values are sorted once (np.unique)."""
    if len(values):
        low, high = values.min(), values.max()
        if np.isfinite(low) and np.isfinite(high) and high - low <= 4 * len(values) + 1024 \
                and (values == np.floor(values)).all():
            slots = (values - low).astype(np.intp)
            return slots, np.bincount(slots)
    _, at, counts = np.unique(values, return_inverse=True, return_counts=True)
    return at.reshape(-1), counts


def _best_first(scores: pd.DataFrame) -> pd.DataFrame:
    """`scores.sort_values(["rank", "customer_id"], kind="stable").reset_index(drop=True)`; with text ids
    held by Arrow, sorted by Arrow (stable, missing ids last, as pandas) instead of factorising them."""
    ids = scores["customer_id"]
    if isinstance(ids.dtype, pd.StringDtype) and ids.dtype.storage == "pyarrow" and len(scores):
        import pyarrow as pa
        import pyarrow.compute as pc

        table = pa.table({"rank": pa.array(scores["rank"].to_numpy()), "customer_id": pa.array(ids.array)})
        try:
            order = pc.sort_indices(table, sort_keys=[("rank", "ascending", "at_end"),
                                                      ("customer_id", "ascending", "at_end")]).to_numpy()
        except (TypeError, ValueError, pa.ArrowException):  # a pyarrow before 25 takes (name, order) pairs
            order = None
        if order is not None:
            return scores.take(order).reset_index(drop=True)
    return scores.sort_values(["rank", "customer_id"], kind="stable").reset_index(drop=True)


def top_ranked(profile: pd.DataFrame, n: int) -> pd.DataFrame:
    """The first `n` rows of `profile.sort_values(["rank", "customer_id"], kind="stable")` (the ranking
    table's customers), sorting only the rows that can be among them: those whose rank is at most the
    n-th smallest. The rows keep `profile`'s index, as sort_values does."""
    if n <= 0 or profile.empty:
        return profile.head(0)
    ranks = profile["rank"].to_numpy()
    if n < len(ranks):
        cut = np.partition(ranks, n - 1)[n - 1]
        if not np.isnan(cut):  # a missing rank sorts last: with one among the first n, sort them all
            profile = profile[ranks <= cut]
    return profile.sort_values(["rank", "customer_id"], kind="stable").head(n)
