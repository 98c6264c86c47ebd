"""The composite customer ranking (客户群排序): a weighted score over several criteria.

Each criterion is turned into a percentile rank from 0 (worst customer) to 1 (best), so every
criterion has the same spread and a weight means what it says: a criterion with weight 0.3 decides
30% of the score. Weights are normalised to sum to 1. A customer without a value for a criterion
(no survey answer, one order so no interval) is scored on the other criteria, their weights
renormalised, rather than punished for a missing answer.
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


def normalised_weights(weights: dict[str, float]) -> dict[str, float]:
    unknown = set(weights) - set(CRITERIA)
    if unknown:
        raise ValueError(f"unknown ranking criteria {sorted(unknown)}; choose from {', '.join(CRITERIA)}")
    total = sum(weights.values())
    if total <= 0 or any(w < 0 for w in weights.values()):
        raise ValueError(f"weights must be >= 0 with a positive sum, got {weights}")
    return {k: v / total for k, v in weights.items() if v > 0}


def rank_customers(profile: pd.DataFrame, weights: dict[str, float]) -> pd.DataFrame:
    """customer_id, one 0-1 column per weighted criterion (crit_<name>), `rank_score` (0-1) and
    `rank` (1 is the best), best first. Criteria whose column the profile lacks are left out."""
    weights = {k: w for k, w in normalised_weights(weights).items() if CRITERIA[k][0] in profile.columns}
    if not weights:
        raise ValueError("none of the weighted ranking criteria is available in this data")
    out = pd.DataFrame({"customer_id": profile["customer_id"].to_numpy()})
    weighted = pd.Series(0.0, index=out.index)
    present_weight = pd.Series(0.0, index=out.index)
    for name, weight in weights.items():
        column, higher_is_better = CRITERIA[name]
        values = pd.Series(profile[column].to_numpy(dtype=float), index=out.index)
        score = values.rank(pct=True, ascending=higher_is_better, method="average")
        score = (score - score.min()) / (score.max() - score.min()) if score.max() > score.min() else score * 0 + 0.5
        out[f"crit_{name}"] = score
        weighted += score.fillna(0) * weight
        present_weight += values.notna() * weight
    out["rank_score"] = weighted / present_weight.where(present_weight > 0)
    # a customer with no value for any weighted criterion ranks last (score missing, not zero)
    out["rank"] = out["rank_score"].rank(ascending=False, method="min", na_option="bottom").astype(int)
    return out.sort_values(["rank", "customer_id"], kind="stable").reset_index(drop=True)
