"""Per-customer features, computed in the engine as one Ibis expression.

The same expression runs on DuckDB (the default), PostgreSQL or Spark; only one row per customer
comes back to Python. Revenue is summed exactly, as DECIMAL amounts, and becomes a float64 only
once summed: equal purchases give equal revenue whatever the thread count or the row order.
"""

from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa

from segkit.errors import DataError
from segkit.intake.engines import ordered_by_id, runs_in_duckdb, sorted_by_id, text_ids, to_frame

FEATURE_COLUMNS = (
    "customer_id", "orders", "revenue", "first_purchase", "last_purchase",
    "recency_days", "tenure_days", "avg_order_value", "interval_days", "orders_recent",
)
# The clustering features from params may name these per-customer feature columns (beside a customer
# table's extra numeric columns): segkit.models.cluster clusters on them.
FEATURE_CHOICES = ("recency_days", "orders", "revenue", "tenure_days", "avg_order_value", "interval_days",
                   "orders_recent", "categories")


MASK_CATEGORIES = 62  # bits 0..61 of an int64: 1 << 62 still fits, and no shift reaches the sign bit


def category_kinds(table: ibis.Table) -> tuple[str, ...] | None:
    """The distinct text categories of `table` (in the engine's order), for the per-customer bit masks
    of `customer_features_expr` (bit i: `kinds[i]`); None when it has no category column, no category,
    a category that is not text, or more than MASK_CATEGORIES of them, or the table is not in DuckDB
    (the masks' shifts and bit_or are DuckDB's: PostgreSQL has no BIGINT << BIGINT); then the
    categories are counted by a distinct of (customer, category) and its join."""
    if "category" not in table.columns or not table.category.type().is_string():
        return None
    if not runs_in_duckdb(table):
        return None
    named = table.filter(table.category.notnull()).select("category").distinct().limit(MASK_CATEGORIES + 1)
    kinds = tuple(named.to_pyarrow().column("category").to_pylist())
    return kinds if 0 < len(kinds) <= MASK_CATEGORIES else None


def count_bits(masks) -> np.ndarray:
    """The number of bits set in each int64 of `masks` (each a customer's categories), as int64."""
    return np.bitwise_count(np.asarray(masks, dtype=np.int64)).astype(np.int64)


def category_bit(category: ibis.StringValue, kinds: tuple[str, ...]) -> ibis.IntegerValue:
    """Each line's category as one bit of an int64 (bit i: `kinds[i]`; missing for a missing category):
    an order's categories are the OR of its lines' bits, a customer's the OR of their orders'."""
    return ibis.literal(1).cast("int64") << ibis.literal(list(kinds)).index(category)


def customer_features_expr(transactions: ibis.Table, as_of: dt.date, activity_days: int = 90,
                           minor_unit: int = 2, floor_revenue: bool = False,
                           kinds: tuple[str, ...] | None = None) -> ibis.Table:
    """The per-customer feature expression (lazy): see `customer_features`. Amounts that are not
    DECIMAL yet are made exact first (rounded half away from zero to `minor_unit` decimals).
    `kinds`: the table's categories (`category_kinds`); with them, column categories is a bit mask
    of each customer's categories, to be counted (`count_bits`): one grouping of the lines, where a
    distinct of (customer, category) and its join took a quarter of the query at 10M lines.
    Without, categories is the count itself."""
    from segkit.intake.cleaning import exact_amount

    t = transactions
    amount = t.amount
    if not amount.type().is_decimal():
        amount = exact_amount(amount, minor_unit, float("inf"))[0]
    window_start = ibis.date(as_of - dt.timedelta(days=activity_days))
    # lines to orders first, then orders to customers: two plain aggregations, no COUNT(DISTINCT)
    # over the lines (an order is recent when any of its lines is: when its last line is)
    masked = kinds is not None and "category" in t.columns
    # with returns marked, a category counts where its lines of an order net to more than zero: one
    # cancelled in full within its order was not bought (one more grouping, only then)
    netted = "category" in t.columns and "returned_at" in t.columns
    per_order = t.group_by(["customer_id", "order_id"]).aggregate(
        spend=amount.sum(), first=t.ordered_at.min(), last=t.ordered_at.max(),
        **({"bits": category_bit(t.category, kinds).bit_or()} if masked and not netted else {}))
    numbered = per_order.order_id.notnull()
    revenue = per_order.spend.sum()
    metrics = dict(
        orders=per_order.count(where=numbered),
        orders_recent=per_order.count(where=numbered & (per_order["last"].date() > window_start)),
        # an exact sum; the engine's cast to float64 is correctly rounded, so equal sums, equal floats
        revenue=(ibis.greatest(revenue, 0) if floor_revenue else revenue).cast("float64"),
        first_purchase=per_order["first"].min().date(),
        last_purchase=per_order["last"].max().date(),
        **({"categories": per_order.bits.bit_or().fill_null(0)} if masked and not netted else {}),
    )
    per_customer = per_order.group_by("customer_id").aggregate(**metrics)
    if netted:
        per_customer = with_bought_categories(per_customer, t.mutate(_exact=amount), "_exact", kinds if masked else None)
    elif "category" in t.columns and not masked:
        named = t.filter(t.category.notnull()).select("customer_id", "category").distinct()
        kinds_of = named.group_by("customer_id").aggregate(_kinds=named.count())
        per_customer = per_customer.left_join(kinds_of, "customer_id").select(
            per_customer, categories=kinds_of._kinds.fill_null(0))
    return with_derived_features(per_customer, as_of)


def with_bought_categories(per_customer: ibis.Table, lines: ibis.Table, amount: str = "amount",
                           kinds: tuple[str, ...] | None = None) -> ibis.Table:
    """`per_customer` (one row per customer_id) with column categories from `lines` (customer_id,
    order_id, category and the exact `amount` column): the categories whose lines of an order net to
    more than zero (a category cancelled in full within its order was not bought), as a bit mask
    with `kinds` (`category_kinds`; counted by `count_bits`), else their count; 0 for a customer with
    none. For lines where returns are marked (netted cancellations among them)."""
    items = lines.group_by(["customer_id", "order_id", "category"]).aggregate(_net=lines[amount].sum())
    items = items.filter(items.category.notnull() & (items._net > 0))
    if kinds is not None:
        found = items.group_by("customer_id").aggregate(_found=category_bit(items.category, kinds).bit_or())
    else:
        named = items.select("customer_id", "category").distinct()
        found = named.group_by("customer_id").aggregate(_found=named.count())
    joined = per_customer.left_join(found, per_customer.customer_id == found.customer_id)
    return joined.select(*[per_customer[c] for c in per_customer.columns], categories=joined._found.fill_null(0))


def with_derived_features(per_customer: ibis.Table, as_of: dt.date) -> ibis.Table:
    """Per-customer orders, revenue, first and last purchase (dates) with what follows from them as
    of `as_of`: recency_days, tenure_days, avg_order_value and interval_days (see `customer_features`)."""
    day = ibis.date(as_of)
    return per_customer.mutate(
        recency_days=day.delta(per_customer.last_purchase, unit="day"),
        tenure_days=day.delta(per_customer.first_purchase, unit="day"),
        avg_order_value=per_customer.revenue / per_customer.orders,
        # mean days between orders; undefined for one-order customers
        interval_days=per_customer.last_purchase.delta(per_customer.first_purchase, unit="day").cast("float64")
        / (per_customer.orders - 1).nullif(0).cast("float64"),
    )


def customer_features(con: ibis.BaseBackend, transactions: pd.DataFrame | ibis.Table,
                      as_of: dt.date, activity_days: int = 90, minor_unit: int = 2,
                      floor_revenue: bool = False) -> pd.DataFrame:
    """One row per customer: orders (distinct orders, the F of RFM), revenue (total spend, the M),
    first and last purchase dates, recency_days (days from the last purchase to `as_of`, the R),
    tenure_days (days since the first purchase), avg_order_value, interval_days (mean days between
    orders; missing for one-order customers), orders_recent (orders in the `activity_days` up to and
    including `as_of`), and categories (distinct product categories) where known.
    customer_id is text (whole-number ids as their digits), and the rows are sorted by it as Python
    sorts text ("100" before "2"; the embedded engine sorts them, a database's collation may differ, so
    there pandas sorts them): the order of segkit's other per-customer stages.

    Revenue is the exact sum of the amounts (DECIMAL with `minor_unit` decimals: amounts given as
    floats are rounded half away from zero first, as cleaning does) as the nearest float64;
    avg_order_value is that float divided by orders. Clean the transactions first
    (`segkit.clean_transactions`, which sets such lines aside): in a DataFrame, an amount that is
    not finite or does not fit DECIMAL(18, minor_unit) raises a DataError; in an engine table of
    floats, such an amount is left out of the sum.

    Returns netted by cleaning (`cleaning.returns.action: net`) are lines of the purchase they
    cancel (same order_id, same date: see `segkit.intake.returns`): they reduce revenue, never add
    an order (an order_id, or a customer-day where the data have no order number) and never move
    recency. `floor_revenue=True` (`cleaning.returns.net_negative: floor`) makes a revenue below
    zero 0; by default cleaning sets such customers aside before features are computed
    (`CleanResult.scored`), so revenue here is above zero.

    >>> from segkit.datasets import load_cdnow
    >>> from segkit.intake.sources import connect
    >>> f = customer_features(connect(), load_cdnow(), dt.date(1998, 6, 30))
    >>> len(f), int(f.orders.sum())
    (23570, 67591)
    """
    from_frame = isinstance(transactions, pd.DataFrame)
    if from_frame:  # read in place by the engine, not copied into it
        transactions = ibis.memtable(_exact_frame(transactions, minor_unit))
    # masks need DuckDB's shifts: a frame run on another backend (PostgreSQL) counts by a distinct
    kinds = category_kinds(transactions) if not from_frame or getattr(con, "name", None) == "duckdb" else None
    expr = customer_features_expr(transactions, as_of, activity_days, minor_unit, floor_revenue, kinds)
    expr = expr.select(*[c for c in FEATURE_COLUMNS if c in expr.columns],
                       *[c for c in expr.columns if c not in FEATURE_COLUMNS])
    # the ids as text, sorted as text by the engine (not by a copy here)
    expr = ordered_by_id(text_ids(expr, ("customer_id",)), transactions, text=True)
    frame = sorted_by_id(con.to_pandas(expr) if from_frame else to_frame(expr))
    frame["customer_id"] = frame["customer_id"].astype(str)
    if kinds is not None:  # the customers' category masks, counted
        frame["categories"] = count_bits(frame["categories"].to_numpy())
    for name in ("orders", "orders_recent", "recency_days", "tenure_days"):
        frame[name] = frame[name].astype("int64")
    return frame


def _exact_frame(transactions: pd.DataFrame, minor_unit: int) -> pa.Table:
    """The frame as Arrow with `amount` as exact DECIMAL(18, minor_unit) (as cleaning makes it)."""
    from segkit.intake.cleaning import AMOUNT_PRECISION
    from segkit.intake.parsing import decimal_array, to_minor_units

    frame = transactions
    if "amount" in frame.columns and not isinstance(getattr(frame["amount"].dtype, "pyarrow_dtype", None),
                                                    pa.Decimal128Type):
        number = pd.to_numeric(frame["amount"], errors="coerce").astype("float64")
        units, over = to_minor_units(number, minor_unit, limit=10 ** AMOUNT_PRECISION)
        lost = (number.notna() & units.isna()).to_numpy()
        if lost.any():
            row = int(lost.argmax())
            raise DataError(f"amount {float(number.iloc[row])!r} (row {row + 1}) is not a finite amount that fits "
                            f"DECIMAL({AMOUNT_PRECISION}, {minor_unit}); clean the transactions first "
                            "(segkit.clean_transactions sets such lines aside)")
        frame = frame.assign(amount=decimal_array(units, minor_unit))
    return pa.Table.from_pandas(frame, preserve_index=False)


def time_summaries(con: ibis.BaseBackend | None, transactions: pd.DataFrame | ibis.Table, as_of: dt.date,
                   calibration_end: dt.date, time_unit: str = "weeks", history_months: int = 12,
                   activity_days: int = 90, net_negative: str = "set_aside",
                   in_engine: bool = False, month_start_columns=None,
                   holdout_lines: pd.DataFrame | ibis.Table | None = None
                   ) -> dict[str, pd.DataFrame | ibis.Table | None]:
    """The transaction-level summaries that the customer-value stage needs, computed where the
    transactions live (DuckDB, PostgreSQL), so that later notebooks read only per-customer rows:

    - `repeat_summary`: x, t_x, T, mean repeat spend per customer up to `as_of`, in `time_unit`
      (see `segkit.models.repeat_summary`);
    - `holdout_summary`: the same with calibration up to `calibration_end` and x_holdout up to
      `as_of`, for the next-period check; None when `calibration_end` is not before `as_of` or
      nobody had bought by then. Where returns are marked (a returned_at column), of the rows as the
      calibration period knew them (`segkit.intake.as_known.as_known`): `holdout_lines`, every
      clean row with the lines of the orders cancelled in full (`CleanResult.known_lines`, in the
      same engine; a customer set aside after netting may have been one then), else `transactions`;
    - `activity`: one row per customer and month with a purchase (`segkit.monthly.activity`); with
      `in_engine` and the embedded engine, a lazy ordered table (`monthly_activity_table`) that
      `segkit.store.save_stage` writes from the engine;
    - `month_start_features`: the per-customer features at the start of each of the last
      `history_months` months (`segkit.monthly.activity.features_at_month_starts`), from which the
      customer-value notebook classifies customers as they stood then (retention per segment).
      With `in_engine` and the embedded engine (DuckDB), lazy tables, one per month
      (`segkit.monthly.activity.month_start_features_parts`), that `segkit.store.save_stage` writes
      from the engine to Parquet month by month: the rows (about 10 per customer) never become a
      pandas frame, and the engine holds one month's joins at a time. `month_start_columns`: only
      these feature columns (None: all; a report passes
      `segkit.monthly.activity.month_start_columns(cluster features)`, what later stages read).
    """
    from segkit.models.repeat_summary import repeat_summaries
    from segkit.intake.sources import connect
    from segkit.monthly.activity import (features_at_month_starts, month_range, month_start_features_parts,
                                         month_starts, monthly_activity, monthly_activity_table, months_after_first,
                                         sorts_as_python)

    con = con or connect()
    span = None
    if in_engine and isinstance(transactions, ibis.Table) and sorts_as_python(transactions):
        span = month_range(transactions)
    if span is not None:  # written from the engine: the activity rows never become a pandas frame
        activity = monthly_activity_table(transactions)
        # up to the as-of date's month, even one nobody bought in (its start has customers and classes)
        months = months_after_first(span[0], max(span[1], as_of.replace(day=1)), history_months)
    else:
        activity = monthly_activity(con, transactions)
        months = month_starts(activity, history_months, until=as_of)
    if span is not None and months:
        at_starts = month_start_features_parts(transactions, months, activity_days, net_negative=net_negative,
                                               columns=month_start_columns)
    else:
        at_starts = features_at_month_starts(con, transactions, months, activity_days, net_negative=net_negative,
                                             columns=month_start_columns)
    # both summaries from one grouping of the purchase days; no holdout summary when nobody bought by
    # calibration_end (there is nothing to check). With returns marked, the holdout summary reads the
    # rows as the calibration period knew them (a cancellation after it dated on its own day, orders
    # cancelled in full after it bought): a reading of its own
    checked = calibration_end if calibration_end < as_of else None
    known = checked is not None and "returned_at" in transactions.columns
    summary, holdout = repeat_summaries(con, transactions, as_of, None if known else checked, time_unit=time_unit)
    if known:
        holdout = _holdout_summary_as_known(con, transactions if holdout_lines is None else holdout_lines, checked,
                                            as_of, time_unit)
    found = {"repeat_summary": summary, "holdout_summary": holdout, "activity": activity,
             "month_start_features": at_starts}
    for frame in found.values():  # attrs travel into Parquet metadata as JSON: dates as ISO text
        if isinstance(frame, pd.DataFrame):
            frame.attrs = {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in frame.attrs.items()}
    return found


def _holdout_summary_as_known(con, lines, calibration_end: dt.date, as_of: dt.date, time_unit: str):
    """`repeat_summary` of `lines` as the calibration period knew them, up to `as_of`; None when
    nobody had bought by calibration_end."""
    from segkit.errors import DataError
    from segkit.intake.as_known import as_known
    from segkit.models.repeat_summary import repeat_summary

    try:
        return repeat_summary(con, as_known(lines, calibration_end, as_of), calibration_end, as_of, time_unit)
    except DataError:
        return None


def most_frequent_values(con: ibis.BaseBackend | None, transactions: ibis.Table | pd.DataFrame, names,
                         attributes: pd.DataFrame | ibis.Table | None = None) -> pd.DataFrame:
    """Per customer, the most frequent value of each transaction attribute in `names` over the given
    (clean) rows: a column of the transactions (channel, category, product, ...) or of `attributes`
    (source_row and the attributes the params keep from a file, joined on source_row: a frame, or a
    table in the transactions' engine when a typed file's are read there). Ties go to the
    value bought most recently, then to the first in sort order, so the result does not depend on row
    order; missing values are not counted. One row per customer with a purchase: customer_id and one
    column per name (missing where the customer has no value). Computed in the engine.
    Raises DataError for a name that neither the transactions nor `attributes` hold.
    """
    from segkit.errors import DataError
    from segkit.intake.sources import connect

    table = ibis.memtable(transactions) if isinstance(transactions, pd.DataFrame) else transactions
    kept = ibis.memtable(attributes) if isinstance(attributes, pd.DataFrame) else attributes
    result = table.select("customer_id").distinct()
    for name in names:
        if name in table.columns:
            rows = table.select("customer_id", "ordered_at", value=table[name].cast("string"))
        elif kept is not None and name in kept.columns:
            joined = table.select("customer_id", "ordered_at", "source_row").join(
                kept.select("source_row", value=kept[name].cast("string")), "source_row")
            rows = joined.select("customer_id", "ordered_at", "value")
        else:
            raise DataError(f"{name!r} is not a column of the transactions: map it in source.transactions.columns "
                            "or keep it in source.transactions.attributes")
        rows = rows.filter(rows.value.notnull() & (rows.value.strip() != ""))
        counts = rows.group_by(["customer_id", "value"]).aggregate(n=rows.count(), last=rows.ordered_at.max())
        rank = ibis.row_number().over(group_by=counts.customer_id,
                                      order_by=[ibis.desc(counts.n), ibis.desc(counts.last), counts.value])
        best = counts.mutate(rank=rank).filter(lambda t: t["rank"] == 0).select("customer_id", **{name: "value"})
        result = result.left_join(best, "customer_id").select(result, best[name])
    result = ordered_by_id(result, table, text=True)
    frame = (con or connect()).to_pandas(result) if isinstance(transactions, pd.DataFrame) else to_frame(result)
    frame["customer_id"] = frame["customer_id"].astype(str)
    return sorted_by_id(frame)
