"""The cohort, monthly-KPI and retention counts of the monthly activity, computed in the engine.

`segkit.monthly.activity` defines the figures (retention rate, repurchase rate, cohorts) and computes
them from a pandas frame of the activity (one row per customer and month). Here the same counts are
Ibis expressions over the activity as a table where it lives: the `activity` stage read in place by
DuckDB (`segkit.store.stage_tables`), or `monthly_activity_table` of the transactions on PostgreSQL
or Spark. Only the counts come back: one row per (cohort, months since first purchase), per month,
or per (month, segment), never one per customer.

Months are counted as whole numbers (year * 12 + month - 1). Revenue is summed as DECIMAL(38, 6) and
made a float64 once summed: exact for amounts (at most six decimals), whatever the engine's order of
addition, and equal to the pandas path's exact sums. Activity rows without a customer id are left
out (an activity stage has none: the cleaning sets such rows aside), as are rows at a month start
without a month, segment or customer id (as `retention_by_segment` leaves them out of a frame).
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.datatypes as dt_
import numpy as np
import pandas as pd

from segkit.intake.engines import to_frame

ACTIVITY_COLUMNS = ("customer_id", "month", "orders", "revenue")
_EXACT = dt_.Decimal(38, 6)


def month_number(month: ibis.DateValue) -> ibis.IntegerValue:
    """A date's calendar month as one whole number, year * 12 + month - 1 (`segkit.monthly.codes`)."""
    return month.year().cast("int64") * 12 + month.month().cast("int64") - 1


def month_of_number(number: int) -> dt.date:
    """The first day of the month `number` (`month_number`'s inverse)."""
    return dt.date(number // 12, number % 12 + 1, 1)


def _require(activity: ibis.Table) -> None:
    missing = [c for c in ACTIVITY_COLUMNS if c not in activity.columns]
    if missing:
        raise ValueError(f"activity lacks column(s) {missing}; make it with monthly_activity_table()")
    _require_month(activity, "activity")


def _require_month(table: ibis.Table, name: str) -> None:
    """Refuse a month column that is not a date or a timestamp without a time zone: the engine would
    read a zoned timestamp's date in its session's zone (2024-01-01 00:00 UTC is 2023-12-31 in New York)."""
    kind = table.month.type()
    if not (kind.is_date() or (kind.is_timestamp() and kind.timezone is None)):
        raise ValueError(f"{name}.month is {kind}; give a date (the month's first day) or a timestamp "
                         "without a time zone")


def _customer_months(activity: ibis.Table) -> ibis.Table:
    """One row per customer and month: customer_id, m (`month_number`), orders, revenue (exact sums:
    a customer listed twice in one month is one active customer whose orders and revenue add up)."""
    a = activity.filter(activity.customer_id.notnull() & activity.month.notnull())
    return a.group_by(customer_id=a.customer_id, m=month_number(a.month.cast("date"))).aggregate(
        orders=a.orders.sum(), revenue=a.revenue.cast(_EXACT).sum())


def cohort_cells(activity: ibis.Table) -> pd.DataFrame:
    """Per (cohort, age) cell with an active customer: cohort and age (month numbers, age 0 the first
    month), customers (distinct active customers) and revenue (currency units), computed in the
    engine of `activity` (columns customer_id, month, orders, revenue); sorted by cohort and age.
    Raises ValueError for an activity without its columns."""
    _require(activity)
    per = _customer_months(activity)
    first = per.group_by("customer_id").aggregate(cohort=per.m.min())
    joined = per.join(first, "customer_id")
    cells = joined.group_by(cohort=joined.cohort, age=joined.m - joined.cohort).aggregate(
        customers=joined.count(), revenue=joined.revenue.sum().cast("float64"))
    frame = to_frame(cells.order_by(["cohort", "age"]))
    return frame.astype({"cohort": "int64", "age": "int64", "customers": "int64", "revenue": "float64"})


def month_totals(activity: ibis.Table) -> pd.DataFrame:
    """Per calendar month with a purchase: m (month number), active (distinct customers), new (first
    purchases), retained (active this month and the one before), orders and revenue, computed in the
    engine of `activity`; sorted by month. The figures `segkit.monthly.activity.monthly_kpis` reads."""
    _require(activity)
    per = _customer_months(activity)
    first = per.group_by("customer_id").aggregate(first=per.m.min())
    before = per.select(customer_id=per.customer_id, m_before=per.m + 1)  # a month's buyers, as of the next month
    marked = per.join(first, "customer_id").left_join(
        before, [per.customer_id == before.customer_id, per.m == before.m_before])
    totals = marked.group_by("m").aggregate(
        active=marked.count(), new=(marked.m == marked.first).sum(),
        retained=marked.m_before.notnull().sum(),
        orders=marked.orders.sum(), revenue=marked.revenue.sum().cast("float64"))
    frame = to_frame(totals.order_by("m"))
    return frame.fillna({"new": 0, "retained": 0, "orders": 0}).astype(
        {"m": "int64", "active": "int64", "new": "int64", "retained": "int64", "orders": "int64",
         "revenue": "float64"})


def retention_cells(activity: ibis.Table, segment_at_start: ibis.Table) -> pd.DataFrame:
    """Per (calendar month, segment) of `segment_at_start` (columns month, customer_id, segment; a
    table in the same engine as `activity`): month (its first day, a date), segment, customers, base_customers
    (also active the month before), retained (active the month before and this month) and buyers
    (active this month); a customer listed twice in one (month, segment) counts once. The counts
    `segkit.monthly.activity.retention_by_segment` reads; sorted by month and segment."""
    _require(activity)
    _require_month(segment_at_start, "segment_at_start")
    s = segment_at_start
    # a customer listed twice in one calendar month and segment (any days of it) counts once
    kept = s.filter(s.month.notnull() & s.segment.notnull() & s.customer_id.notnull())
    members = kept.select(m=month_number(kept.month.cast("date")), customer_id=kept.customer_id,
                          segment=kept.segment).distinct()
    a = activity.filter(activity.customer_id.notnull() & activity.month.notnull())
    bought = a.select(customer_id=a.customer_id, m=month_number(a.month.cast("date"))).distinct()
    now = bought.select(now_id=bought.customer_id, now_m=bought.m)
    before = bought.select(before_id=bought.customer_id, before_m=bought.m + 1)
    joined = members.left_join(now, [members.customer_id == now.now_id, members.m == now.now_m]).left_join(
        before, [members.customer_id == before.before_id, members.m == before.before_m])
    buying, was = joined.now_id.notnull(), joined.before_id.notnull()
    counts = joined.group_by(["m", "segment"]).aggregate(
        customers=joined.count(), base_customers=was.sum(), retained=(was & buying).sum(), buyers=buying.sum())
    frame = to_frame(counts.order_by(["m", "segment"]))
    # each month as its first day (a date, as the stage's)
    frame.insert(0, "month", np.array([month_of_number(int(m)) for m in frame.pop("m")], dtype=object))
    return frame.fillna({"base_customers": 0, "retained": 0, "buyers": 0}).astype(
        {"customers": "int64", "base_customers": "int64", "retained": "int64", "buyers": "int64"})


def kpis_from_totals(totals: pd.DataFrame) -> pd.DataFrame:
    """`monthly_kpis`' frame from `month_totals`: every month from the first to the last (a month
    without purchases: zeros), with the rates (NaN where undefined)."""
    first, last = int(totals["m"].min()), int(totals["m"].max())
    full = totals.set_index("m").reindex(range(first, last + 1), fill_value=0)
    active, new = full["active"].to_numpy(), full["new"].to_numpy()
    orders, revenue = full["orders"].to_numpy(), full["revenue"].to_numpy(dtype="float64")
    known = np.cumsum(new) - new  # customers who had bought before each month
    before = np.concatenate([[0], active[:-1]])
    retained = full["retained"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        return pd.DataFrame({
            "month": np.array([month_of_number(m) for m in range(first, last + 1)], dtype=object),
            "active_customers": active.astype("int64"), "new_customers": new.astype("int64"),
            "orders": orders.astype("int64"), "revenue": revenue,
            "avg_order_value": np.where(orders > 0, revenue / orders, np.nan),
            "purchase_frequency": np.where(active > 0, orders / active, np.nan),
            "retention_rate": np.where(before > 0, retained / before, np.nan),
            "repurchase_rate": np.where(known > 0, (active - new) / known, np.nan),
        })
