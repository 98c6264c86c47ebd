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
    weights = used_weights(profile, weights)
    out = pd.DataFrame({"customer_id": profile["customer_id"].to_numpy()})
    if not weights:
        return out.assign(rank_score=float("nan"), rank=1)
    weighted = pd.Series(0.0, index=out.index)
    present_weight = pd.Series(0.0, index=out.index)
    for name, weight in weights.items():
        column, higher_is_better = criterion_column(name)
        values = pd.Series(pd.to_numeric(profile[column], errors="coerce").to_numpy(dtype=float), index=out.index)
        score = values.rank(pct=True, ascending=higher_is_better, method="average")
        score = (score - score.min()) / (score.max() - score.min()) if score.max() > score.min() else score * 0 + 0.5
        out[f"crit_{name}"] = score
        weighted += score.fillna(0) * weight
        present_weight += values.notna() * weight
    out["rank_score"] = weighted / present_weight.where(present_weight > 0)
    # a customer with no value for any weighted criterion ranks last (score missing, not zero)
    out["rank"] = out["rank_score"].rank(ascending=False, method="min", na_option="bottom").astype(int)
    return out.sort_values(["rank", "customer_id"], kind="stable").reset_index(drop=True)
