"""The per-customer repeat-buying summary (x, t_x, T, mean repeat spend) that the BTYD models fit.

Computed in the engine as one Ibis expression (like `segkit.features`); only one row per customer
comes back to Python.

Definitions (Fader, Hardie & Lee 2005, "Counting your customers the easy way"):
- a *purchase occasion* is a distinct calendar day with at least one purchase by the customer (the
  models count days, not orders: two orders on one day are one occasion, their amounts add up);
- `x`: repeat purchases in the calibration period = purchase days up to and including
  `calibration_end`, minus the first one;
- `t_x`: time from the first purchase day to the last purchase day in the calibration period
  (0 when x = 0);
- `T`: time from the first purchase day to `calibration_end` (the customer's age at the end of
  calibration);
- `mean_repeat_spend`: mean of the purchase-day totals after the first (calibration period only);
  0 for a customer without repeat purchases (the Gamma-Gamma model leaves them out);
- with `observation_end`: `x_holdout` = purchase days after `calibration_end` up to and including
  `observation_end`, and `holdout_length` = `observation_end` - `calibration_end`; rows after
  `observation_end` are ignored in both periods. Customers whose first purchase is after
  `calibration_end` are not in the summary (they had no calibration period); their number is
  `summary.attrs["customers_first_seen_after_calibration"]`.
Times are in `time_unit`: days, weeks (7 days) or months (365.25 / 12 = 30.4375 days).
"""

from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import pandas as pd

from segkit.errors import DataError, ParamsError
from segkit.intake.engines import ordered_by_id, sorted_by_id, to_frame

# The length of one unit in days; a month is a mean calendar month (365.25 / 12 days).
UNIT_DAYS = {"days": 1.0, "weeks": 7.0, "months": 365.25 / 12, "years": 365.25}
SUMMARY_UNITS = ("days", "weeks", "months")
SUMMARY_COLUMNS = ("customer_id", "first_purchase", "x", "t_x", "T", "mean_repeat_spend")
HOLDOUT_COLUMNS = ("x_holdout", "holdout_length")


def unit_days(unit: str, allowed=tuple(UNIT_DAYS)) -> float:
    """Days in one `unit` ("days", "weeks", "months" = 365.25/12 days, "years" = 365.25 days)."""
    if unit not in allowed:
        raise ParamsError(f"time_unit must be one of {', '.join(allowed)}, got {unit!r}")
    return UNIT_DAYS[unit]


def repeat_summary_expr(transactions: ibis.Table, calibration_end: dt.date,
                        observation_end: dt.date | None = None) -> ibis.Table:
    """The per-customer day counts behind `repeat_summary` (lazy; times in days)."""
    t = transactions
    day = t.ordered_at.date()
    if observation_end is not None:
        t = t.filter(day <= ibis.date(observation_end))
        day = t.ordered_at.date()
    # a day of refunds alone (`refund`: see segkit.intake.as_known.as_known) is no purchase day
    refund = {"bought": t.count(where=~t.refund)} if "refund" in t.columns else {}
    days = t.group_by([t.customer_id, day.name("day")]).aggregate(spend=t.amount.sum(), **refund)
    if refund:
        days = days.filter(days.bought > 0).drop("bought")
    cal = days.day <= ibis.date(calibration_end)
    first = days.day.min()
    totals = dict(first_day=first, last_cal_day=days.day.max(where=cal), cal_days=days.day.count(where=cal),
                  cal_spend=days.spend.sum(where=cal), holdout_days=days.day.count(where=~cal))
    per_customer = _with_first_spend(transactions, days, totals)
    end = ibis.date(calibration_end)
    return per_customer.select(
        customer_id=per_customer.customer_id,
        first_day=per_customer.first_day,
        cal_days=per_customer.cal_days,
        holdout_days=per_customer.holdout_days,
        repeat_spend=(per_customer.cal_spend - per_customer.first_spend).cast("float64"),  # exact, then one rounding
        t_x_days=per_customer.last_cal_day.delta(per_customer.first_day, unit="day"),
        T_days=end.delta(per_customer.first_day, unit="day"),
    )


def _has_arg_min(table: ibis.Table) -> bool:
    """Whether the engine of `table` computes `argmin` (DuckDB's arg_min). Elsewhere (PostgreSQL has
    none) the first day's spend is joined back."""
    from segkit.intake.engines import runs_in_duckdb

    return runs_in_duckdb(table)


def repeat_summary(con: ibis.BaseBackend, transactions: pd.DataFrame | ibis.Table, calibration_end: dt.date,
                   observation_end: dt.date | None = None, time_unit: str = "weeks") -> pd.DataFrame:
    """One row per customer first seen by `calibration_end`: customer_id, first_purchase (date),
    x, t_x, T, mean_repeat_spend, and with `observation_end` also x_holdout and holdout_length
    (definitions in the module docstring; times in `time_unit`). Sorted by customer_id; the result
    does not depend on the order of the transaction rows.

    `transactions` are clean rows (customer_id, ordered_at, amount; see `segkit.intake.cleaning`)
    as a DataFrame or an engine table; with a boolean `refund` column (the rows as the calibration
    period knew them, `segkit.intake.as_known.as_known`), a day of refunds alone is no purchase
    day (its refunds, of purchases of the holdout's other days, do not count: the holdout counts days). `summary.attrs` records time_unit, calibration_end,
    observation_end and customers_first_seen_after_calibration.

    Raises ParamsError for an unknown time_unit or observation_end before calibration_end, and
    DataError when a needed column is missing or no customer bought by calibration_end.

    >>> from segkit.datasets import load_cdnow
    >>> from segkit.intake.sources import connect
    >>> s = repeat_summary(connect(), load_cdnow(sample=True), dt.date(1997, 9, 30), dt.date(1998, 6, 30))
    >>> len(s), int(s.x.sum()), int(s.x_holdout.sum()), round(float(s["T"].max()), 2)
    (2357, 2457, 1882, 38.86)
    """
    unit_days(time_unit, SUMMARY_UNITS)  # an unknown unit is refused first
    calibration_end = _as_date(calibration_end, "calibration_end")
    if observation_end is not None:
        observation_end = _as_date(observation_end, "observation_end")
        if observation_end <= calibration_end:
            raise ParamsError(f"observation_end ({observation_end}) must be after calibration_end "
                              f"({calibration_end})")
    frame = _per_customer(con, transactions, lambda source: repeat_summary_expr(source, calibration_end, observation_end))
    return _summary(frame, calibration_end, observation_end, time_unit)


def _per_customer(con: ibis.BaseBackend, transactions: pd.DataFrame | ibis.Table, expression) -> pd.DataFrame:
    """The rows of `expression(table)` (one per customer) computed where `transactions` live (a frame:
    in `con`), sorted by the engine as the ids sort once made text (not by a copy here), ids as text.
    Raises DataError when the transactions lack a column the summary needs."""
    missing = [c for c in ("customer_id", "ordered_at", "amount") if c not in transactions.columns]
    if missing:
        raise DataError(f"transactions lack column(s) {', '.join(missing)} needed for the repeat-buying summary")
    source = ibis.memtable(transactions) if isinstance(transactions, pd.DataFrame) else transactions
    expr = ordered_by_id(expression(source), source, text=True)
    frame = con.to_pandas(expr) if isinstance(transactions, pd.DataFrame) else to_frame(expr)
    frame["customer_id"] = frame["customer_id"].astype(str)
    return frame


def repeat_summaries(con: ibis.BaseBackend, transactions: pd.DataFrame | ibis.Table, as_of: dt.date,
                     calibration_end: dt.date | None = None,
                     time_unit: str = "weeks") -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """`repeat_summary(con, transactions, as_of, time_unit=...)` and, when `calibration_end` is
    given, `repeat_summary(con, transactions, calibration_end, observation_end=as_of, ...)` from
    one reading of the rows: both start from the same purchase days (one grouping by customer and
    day), each period a filtered count. The holdout summary is None when `calibration_end` is None
    or no customer bought by then. Equal to the two calls; raises what `repeat_summary` raises
    (DataError when no customer bought by `as_of`)."""
    unit_days(time_unit, SUMMARY_UNITS)  # an unknown unit is refused first
    as_of = _as_date(as_of, "as_of")
    if calibration_end is not None:
        calibration_end = _as_date(calibration_end, "calibration_end")
        if as_of <= calibration_end:
            raise ParamsError(f"observation_end ({as_of}) must be after calibration_end ({calibration_end})")
    frame = _per_customer(con, transactions, lambda source: _both_summaries_expr(source, as_of, calibration_end))
    summary = _summary(_day_counts(frame, "all"), as_of, None, time_unit)
    if calibration_end is None:
        return summary, None
    seen = frame[pd.to_datetime(frame["first_day"]) <= pd.Timestamp(as_of)]  # rows after as_of are ignored
    try:
        holdout = _summary(_day_counts(seen, "cal"), calibration_end, as_of, time_unit)
    except DataError:  # nobody bought by calibration_end: there is nothing to check
        holdout = None
    return summary, holdout


def _both_summaries_expr(t: ibis.Table, as_of: dt.date, calibration_end: dt.date | None) -> ibis.Table:
    """Per customer, `repeat_summary_expr`'s columns for the whole period up to `as_of` (first_day
    over every row; all_days, all_repeat_spend, all_t_x_days, all_T_days) and, with
    `calibration_end`, for the calibration period and the holdout up to as_of (cal_days,
    cal_repeat_spend, cal_t_x_days, cal_T_days, holdout_days). Lazy; one grouping by customer and
    day; the spends are subtracted exactly in the engine, then made float64 (a DECIMAL column comes to
    pandas as Python objects: a million of them took seconds)."""
    day = t.ordered_at.date()
    days = t.group_by([t.customer_id, day.name("day")]).aggregate(spend=t.amount.sum())
    upto = days.day <= ibis.date(as_of)
    totals = dict(first_day=days.day.min(), all_days=days.day.count(where=upto),
                  all_spend=days.spend.sum(where=upto), all_last=days.day.max(where=upto))
    periods = {"all": (as_of, "all_last", "all_spend")}
    if calibration_end is not None:
        cal = days.day <= ibis.date(calibration_end)
        totals.update(cal_days=days.day.count(where=cal), cal_spend=days.spend.sum(where=cal),
                      cal_last=days.day.max(where=cal), holdout_days=days.day.count(where=upto & ~cal))
        periods["cal"] = (calibration_end, "cal_last", "cal_spend")
    c = _with_first_spend(t, days, totals)
    columns = {"customer_id": c.customer_id, "first_day": c.first_day}
    for name, (end, last, spend) in periods.items():
        columns.update({f"{name}_days": c[f"{name}_days"],
                        f"{name}_repeat_spend": (c[spend] - c.first_spend).cast("float64"),  # exact, then one rounding
                        f"{name}_t_x_days": c[last].delta(c.first_day, unit="day"),
                        f"{name}_T_days": ibis.date(end).delta(c.first_day, unit="day")})
    if calibration_end is not None:
        columns["holdout_days"] = c.holdout_days
    return c.select(**columns)


def _with_first_spend(t: ibis.Table, days: ibis.Table, totals: dict):
    """`days` (customer_id, day, spend) grouped by customer with `totals` (which hold first_day, the
    first purchase day) and first_spend, that day's spend: DuckDB's arg_min in the same aggregation
    (a customer's days are distinct), elsewhere the first day's row joined back."""
    if _has_arg_min(t):
        return days.group_by("customer_id").aggregate(**totals, first_spend=days.spend.argmin(days.day))
    per_customer = days.group_by("customer_id").aggregate(**totals)
    first = days.join(per_customer, [days.customer_id == per_customer.customer_id, days.day == per_customer.first_day])
    first = first.select(customer_id=days.customer_id, first_spend=days.spend)
    joined = per_customer.left_join(first, per_customer.customer_id == first.customer_id)
    return joined.select(*[per_customer[c] for c in per_customer.columns], first_spend=first.first_spend)


def _day_counts(frame: pd.DataFrame, period: str) -> pd.DataFrame:
    """`_summary`'s input (`repeat_summary_expr`'s columns) from `_both_summaries_expr`'s columns of
    one period ("all" or "cal")."""
    names = {f"{period}_{name}": name for name in ("days", "repeat_spend", "t_x_days", "T_days")}
    kept = frame[["customer_id", "first_day", *names, *(["holdout_days"] if period == "cal" else [])]]
    return kept.rename(columns={**names, f"{period}_days": "cal_days"})


def _summary(frame: pd.DataFrame, calibration_end: dt.date, observation_end: dt.date | None,
             time_unit: str) -> pd.DataFrame:
    """The summary of `repeat_summary` from the per-customer day counts of `repeat_summary_expr`."""
    scale = unit_days(time_unit, SUMMARY_UNITS)
    first_day = pd.to_datetime(frame["first_day"])
    late = first_day > pd.Timestamp(calibration_end)
    n_late = int(late.sum())
    frame = sorted_by_id(frame.loc[~late])
    if frame.empty:
        raise DataError(f"no customer bought on or before calibration_end ({calibration_end}); "
                        "choose a later calibration_end")
    x = frame["cal_days"].to_numpy(dtype="int64") - 1
    repeat_spend = frame["repeat_spend"].to_numpy(dtype=float)
    summary = pd.DataFrame({
        "customer_id": frame["customer_id"],
        "first_purchase": pd.to_datetime(frame["first_day"]).dt.date,
        "x": x,
        "t_x": frame["t_x_days"].to_numpy(dtype=float) / scale,
        "T": frame["T_days"].to_numpy(dtype=float) / scale,
        "mean_repeat_spend": np.divide(repeat_spend, x, out=np.zeros(len(x)), where=x > 0),
    })
    if observation_end is not None:
        summary["x_holdout"] = frame["holdout_days"].to_numpy(dtype="int64")
        summary["holdout_length"] = (observation_end - calibration_end).days / scale
    summary.attrs.update(time_unit=time_unit, calibration_end=calibration_end, observation_end=observation_end,
                         customers_first_seen_after_calibration=n_late)
    return summary


def _as_date(value, name: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ParamsError(f"{name} must be a date (YYYY-MM-DD), got {value!r}") from None
