"""The segmentation matrix (客户细分矩阵): customers on value x potential quadrants.

Value is what a customer is worth so far (revenue to date, or a predicted CLV); potential is what
they may still bring (predicted future value, growth of spend, or any numeric column the params
name). Each axis is cut in two at its median, its mean or a threshold from params; a customer is
"high" on an axis when strictly above the cut (a customer on the line is low), so the four
quadrants cover every customer exactly once:

- high value, high potential  -> "develop": keep them close, invest (VIP care, first access);
- high value, low potential   -> "maintain": protect the relationship at low cost, watch for churn;
- low value, high potential   -> "grow": move them up (cross-sell, second-order offers);
- low value, low potential    -> "economise": low-cost, automated contact.

The value x potential grid is the customer-portfolio view of marketing practice (current value
against future potential, in the spirit of portfolio matrices such as the BCG growth-share matrix,
Henderson 1970); the quadrant names and actions are in segkit/locale/messages_evaluate.yaml.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from segkit.errors import DataError, ParamsError

CUTS = ("median", "mean", "threshold")
QUADRANTS = ("develop", "maintain", "grow", "economise")  # (high, high), (high, low), (low, high), (low, low)


@dataclass(frozen=True)
class SegmentationMatrix:
    """What `segmentation_matrix` built.

    - `assignments`: customer_id, value, potential, quadrant (one of QUADRANTS), one row per customer;
    - `summary`: one row per quadrant in QUADRANTS order: quadrant, value_level, potential_level
      ("high"/"low"), customers, customer_share, revenue (sum of the value column when it is
      revenue, else of `revenue` when the frame has it), revenue_share, mean_value, mean_potential;
    - `cuts`: {"value": cut, "potential": cut} in the columns' units; `value`, `potential`: the
      columns used; `left_out`: customers without a value or a potential (not placed).
    """

    assignments: pd.DataFrame
    summary: pd.DataFrame
    cuts: dict
    value: str
    potential: str
    left_out: int


def spend_growth(activity: pd.DataFrame, as_of: dt.date, months: int = 6) -> pd.DataFrame:
    """Growth of spend per customer: revenue in the last `months` calendar months up to `as_of`
    minus revenue in the `months` before them (currency units; negative when spend fell), from
    the monthly activity (`segkit.monthly_activity`: customer_id, month, orders, revenue).
    Returns customer_id, spend_growth for every customer in `activity`.

    >>> a = pd.DataFrame({"customer_id": ["a", "a", "b"], "month": [dt.date(2024, 1, 1), dt.date(2024, 6, 1),
    ...                   dt.date(2024, 1, 1)], "orders": [1, 1, 1], "revenue": [10.0, 30.0, 50.0]})
    >>> spend_growth(a, dt.date(2024, 6, 30), months=3)["spend_growth"].tolist()
    [20.0, -50.0]
    """
    missing = [c for c in ("customer_id", "month", "revenue") if c not in activity.columns]
    if missing:
        raise DataError(f"monthly activity lacks column(s) {', '.join(missing)} needed for spend growth")
    if months < 1:
        raise ParamsError(f"evaluate.matrix_growth_months must be at least 1, got {months}")
    when = pd.DatetimeIndex(pd.to_datetime(activity["month"]))
    # months before as_of's month (0 is that month), as whole-number arithmetic: a million customers'
    # activity rows in a fraction of a second
    age = (as_of.year * 12 + as_of.month) - (when.year.to_numpy() * 12 + when.month.to_numpy())
    revenue = activity["revenue"].to_numpy(dtype=float)
    recent = np.where((age >= 0) & (age < months), revenue, 0.0)
    earlier = np.where((age >= months) & (age < 2 * months), revenue, 0.0)
    ids = activity["customer_id"]
    ids = ids if pd.api.types.is_string_dtype(ids) else ids.astype(str)
    growth = pd.Series(recent - earlier, index=activity.index).groupby(ids.to_numpy()).sum()
    return growth.rename("spend_growth").rename_axis("customer_id").reset_index()


def _cut(values: pd.Series, how: str, threshold: float | None, axis: str) -> float:
    if how not in CUTS:
        raise ParamsError(f"evaluate.matrix_cut must be one of {', '.join(CUTS)}, got {how!r}")
    if how == "threshold":
        if threshold is None:
            raise ParamsError(f"evaluate.matrix_cut threshold needs evaluate.matrix_thresholds.{axis} "
                              "(a number in the column's units)")
        return float(threshold)
    return float(getattr(values, how)())


def segmentation_matrix(frame: pd.DataFrame, value: str = "revenue", potential: str = "clv", cut: str = "median",
                        thresholds: dict | None = None) -> SegmentationMatrix:
    """Place each customer of `frame` (one row per customer: customer_id and the two columns) on the
    value x potential matrix. `value` and `potential` name numeric columns (e.g. revenue, clv,
    spend_growth from `spend_growth`, or a customer attribute); `cut` is "median", "mean" or
    "threshold" (then `thresholds` = {"value": number, "potential": number}), the same rule on
    both axes. A customer missing either value is left out and counted (`left_out`).

    Raises DataError naming a column that is missing or not numeric, or when no customer has both
    values; ParamsError for an unknown cut or a missing threshold.

    >>> f = pd.DataFrame({"customer_id": list("abcd"), "revenue": [10.0, 20, 30, 40], "clv": [5.0, 1, 9, 2]})
    >>> segmentation_matrix(f).assignments["quadrant"].tolist()
    ['grow', 'economise', 'develop', 'maintain']
    """
    for column in (value, potential):
        if column not in frame.columns:
            raise DataError(f"the segmentation matrix needs column {column!r}, which the customers lack "
                            f"(columns: {', '.join(map(str, frame.columns[:20]))}); set evaluate.matrix_value / "
                            "evaluate.matrix_potential to one they have")
        if not pd.api.types.is_numeric_dtype(frame[column]) or pd.api.types.is_bool_dtype(frame[column]):
            raise DataError(f"the segmentation matrix column {column!r} must hold numbers")
    # only the columns used: dropping rows copies what it keeps (a profile has some forty columns)
    used = list(dict.fromkeys([c for c in ("customer_id", "revenue") if c in frame.columns] + [value, potential]))
    placed = frame[used].dropna(subset=[value, potential])
    if placed.empty:
        raise DataError(f"no customer has both {value!r} and {potential!r}: the segmentation matrix is empty")
    thresholds = thresholds or {}
    cuts = {"value": _cut(placed[value].astype(float), cut, thresholds.get("value"), "value"),
            "potential": _cut(placed[potential].astype(float), cut, thresholds.get("potential"), "potential")}
    high_value = placed[value].astype(float).to_numpy() > cuts["value"]
    high_potential = placed[potential].astype(float).to_numpy() > cuts["potential"]
    quadrant = np.select([high_value & high_potential, high_value & ~high_potential, ~high_value & high_potential],
                         QUADRANTS[:3], QUADRANTS[3])
    # the ids stay a text column (through a NumPy array of objects, a million strings are rebuilt one by one)
    assignments = pd.DataFrame({"customer_id": placed["customer_id"].astype(str).reset_index(drop=True),
                                "value": placed[value].astype(float).to_numpy(),
                                "potential": placed[potential].astype(float).to_numpy(), "quadrant": quadrant})
    revenue_column = value if value == "revenue" else ("revenue" if "revenue" in placed.columns else None)
    revenue = placed[revenue_column].astype(float).to_numpy() if revenue_column else np.full(len(placed), np.nan)
    grouped = assignments.assign(revenue=revenue).groupby("quadrant")
    summary = pd.DataFrame({"quadrant": list(QUADRANTS),
                            "value_level": ["high", "high", "low", "low"],
                            "potential_level": ["high", "low", "high", "low"]})
    summary["customers"] = summary["quadrant"].map(grouped.size()).fillna(0).astype(int)
    summary["customer_share"] = summary["customers"] / len(assignments)
    summary["revenue"] = summary["quadrant"].map(grouped["revenue"].sum(min_count=1))
    total = np.nansum(revenue)
    summary["revenue_share"] = summary["revenue"] / total if total else np.nan
    summary["mean_value"] = summary["quadrant"].map(grouped["value"].mean())
    summary["mean_potential"] = summary["quadrant"].map(grouped["potential"].mean())
    return SegmentationMatrix(assignments, summary, cuts, value, potential, int(len(frame) - len(placed)))
