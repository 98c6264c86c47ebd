"""Customer activity over time: monthly activity, retention and repurchase rates, cohorts, churn.

The definitions live here, once; the report's retention charts and the monthly KPIs use them.

- **Active in month m**: at least one purchase dated in calendar month m.
- **Retention rate of month m**: of the customers active in month m-1, the share also active in m
  (month-over-month retention; undefined, so left out, for the first month of the data).
- **Repurchase rate of month m**: of the customers who had bought before month m, the share who
  bought again in month m.
- **Cohort**: the customers whose first purchase fell in one calendar month; a cohort's activity
  in month k after it (k = 0 is the first month) is the share of its customers active then.
- **Churned** (by inactivity): no purchase in the `window_days` days up to and including the
  as-of date, i.e. recency_days >= window_days (default 180 days).
- **Segment at the start of month m**: the customer's segment computed from the transactions up to
  the last day of month m-1 (as-of = that day), with the same standards as the run.

The transaction-level counts (one row per customer and month) run in the engine, like the
features. The cohort, KPI and retention counts of that activity run on a pandas frame of it here, or,
given the activity as an engine table (a stage file read in place, a database's or Spark's table),
in the engine (`segkit.monthly.engine_counts`), where only the counts come back.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from segkit.monthly.codes import month_date, month_groups, month_numbers, positions

if TYPE_CHECKING:  # ibis is imported where the engine is used: the monthly figures of a run's stages need none
    import ibis

_names = itertools.count(1)
ACTIVITY_COLUMNS = ("customer_id", "month", "orders", "revenue")


def monthly_activity_expr(transactions: ibis.Table) -> ibis.Table:
    """The lazy engine expression behind `monthly_activity`."""
    t = transactions
    month = t.ordered_at.truncate("M").date()
    if t.amount.type().is_decimal():  # exact sums: summed per order first, the same sums
        # lines to orders, then orders to months: two plain aggregations, no COUNT(DISTINCT) per group
        # (a missing order_id is one group of its own here, and not counted as an order, as nunique)
        per_order = t.group_by(customer_id=t.customer_id, month=month, order_id=t.order_id).aggregate(
            spend=t.amount.sum())
        return per_order.group_by(["customer_id", "month"]).aggregate(
            orders=per_order.order_id.count(), revenue=per_order.spend.sum().cast("float64"))
    return t.group_by(customer_id=t.customer_id, month=month).aggregate(
        # the exact sum, cast to float64 in the engine (correctly rounded, and fast: Python Decimals are not)
        orders=t.order_id.nunique(), revenue=t.amount.sum().cast("float64"))


def monthly_activity_table(transactions: ibis.Table) -> ibis.Table:
    """`monthly_activity` as a lazy table in the transactions' engine, with its columns and types
    (customer_id text, month a date, orders int64, revenue float64), ordered by customer_id and month
    by the engine's collation (Python's order in DuckDB: see `sorts_as_python`): for writing the
    stage from the engine (`segkit.store.save_stage`) without a pandas frame of its rows."""
    import ibis.expr.datatypes as dt_

    expr = monthly_activity_expr(transactions)
    # non-null types: ibis drops a cast to the type it already infers, and the frame's are not null
    return expr.select(customer_id=expr.customer_id.cast("string"), month=expr.month,
                       orders=expr.orders.cast(dt_.Int64(nullable=False)),
                       revenue=expr.revenue.cast(dt_.Float64(nullable=False))).order_by(["customer_id", "month"])


def month_range(transactions: ibis.Table) -> tuple[dt.date, dt.date] | None:
    """The first days of the first and last calendar months with a transaction (from `ordered_at`,
    computed in the engine), or None when there are no rows."""
    found = transactions.aggregate(first=transactions.ordered_at.min(), last=transactions.ordered_at.max()).to_pyarrow()
    first, last = found["first"][0].as_py(), found["last"][0].as_py()
    if first is None:
        return None
    return pd.Timestamp(first).to_period("M").start_time.date(), pd.Timestamp(last).to_period("M").start_time.date()


def monthly_activity(con: ibis.BaseBackend, transactions: pd.DataFrame | ibis.Table) -> pd.DataFrame:
    """One row per customer and calendar month with a purchase: customer_id, month (the month's
    first day, a date), orders (distinct orders) and revenue (currency units), sorted by customer
    and month. Computed in the engine (DuckDB for a DataFrame, or where an Ibis table lives).

    >>> from segkit.datasets import load_cdnow
    >>> from segkit.intake.sources import connect
    >>> a = monthly_activity(connect(), load_cdnow())
    >>> a.month.min().isoformat(), a.month.max().isoformat(), a.customer_id.nunique()
    ('1997-01-01', '1998-06-01', 23570)
    """
    import ibis

    expr = monthly_activity_expr(ibis.memtable(transactions) if isinstance(transactions, pd.DataFrame) else transactions)
    from segkit.intake.engines import to_frame

    frame = con.to_pandas(expr) if isinstance(transactions, pd.DataFrame) else to_frame(expr)
    frame["customer_id"] = frame["customer_id"].astype(str)
    frame["month"] = pd.to_datetime(frame["month"]).dt.date
    frame["orders"] = frame["orders"].astype("int64")
    frame["revenue"] = frame["revenue"].astype("float64")
    return frame.sort_values(["customer_id", "month"], kind="stable").reset_index(drop=True)[list(ACTIVITY_COLUMNS)]


def monthly_kpis(activity: pd.DataFrame | ibis.Table) -> pd.DataFrame:
    """One row per calendar month from the first to the last month of `activity`: active customers,
    new customers (first purchase that month), orders, revenue, average order value (revenue /
    orders), purchase frequency (orders / active customers), retention rate and repurchase rate
    (see the module's definitions; NaN where undefined: no active customers the month before).

    Columns: month (the month's first day, a date), active_customers, new_customers, orders (integers),
    revenue (currency units), avg_order_value, purchase_frequency, retention_rate, repurchase_rate
    (fractions). Counted on integer months and customer codes (`segkit.monthly.codes`); a customer
    listed twice in one month counts once. Raises ValueError for an activity without its columns or rows.
    `activity`: a frame (`monthly_activity`) or a table in its engine, counted there
    (`segkit.monthly.engine_counts.month_totals`: one row per month comes back).

    >>> from segkit.datasets import load_cdnow
    >>> from segkit.intake.sources import connect
    >>> kpis = monthly_kpis(monthly_activity(connect(), load_cdnow()))
    >>> kpis.loc[0, ["active_customers", "new_customers"]].tolist(), round(float(kpis.loc[1, "retention_rate"]), 4)
    ([7846, 7846], 0.1475)
    """
    if not isinstance(activity, pd.DataFrame):  # a table in its engine (ibis is imported only then)
        from segkit.monthly.engine_counts import kpis_from_totals, month_totals

        totals = month_totals(activity)
        if totals.empty:
            raise ValueError("activity has no rows")
        return kpis_from_totals(totals)
    _require(activity)
    number = month_numbers(activity["month"])
    first = int(number.min())
    span = int(number.max()) - first + 1
    month = number - first  # 0 .. span - 1
    customer = pd.factorize(activity["customer_id"], use_na_sentinel=False)[0].astype("int64")
    first_month = np.full(customer.max() + 1, span, dtype="int64")
    np.minimum.at(first_month, customer, month)
    new = np.bincount(first_month, minlength=span)
    known = np.cumsum(new) - new  # customers who had bought before each month
    pairs = _distinct(customer * span + month)  # distinct (customer, month), by customer then month
    who, when = np.divmod(pairs, span)
    active = np.bincount(when, minlength=span)
    follows = (who[1:] == who[:-1]) & (when[1:] == when[:-1] + 1)  # active this month and the month before
    retained = np.bincount(when[1:][follows], minlength=span)
    before = np.concatenate([[0], active[:-1]])
    # each month's rows in their original order, summed as `Series.sum` sums them (the same floats)
    order = np.argsort(month, kind="stable")
    bounds = np.searchsorted(month[order], np.arange(span + 1))
    orders_sorted = activity["orders"].iloc[order].reset_index(drop=True)
    revenue_sorted = activity["revenue"].iloc[order].reset_index(drop=True)
    orders = np.array([int(orders_sorted.iloc[a:b].sum()) for a, b in zip(bounds[:-1], bounds[1:])], dtype="int64")
    revenue = _exact_sums(revenue_sorted.to_numpy(dtype="float64"), bounds)
    with np.errstate(divide="ignore", invalid="ignore"):
        frame = pd.DataFrame({
            "month": np.array([month_date(first + m) for m in range(span)], dtype=object),
            "active_customers": active.astype("int64"), "new_customers": new.astype("int64"),
            "orders": orders, "revenue": revenue,
            "avg_order_value": np.where(orders > 0, revenue / orders, np.nan),
            "purchase_frequency": np.where(active > 0, orders / active, np.nan),
            "retention_rate": np.where(before > 0, retained / before, np.nan),
            "repurchase_rate": np.where(known > 0, (active - new) / known, np.nan),
        })
    return frame


def exact_total(values) -> float:
    """The sum of amounts (`_exact_sums` over one group): 43,690.50, not 43690.50000000001."""
    values = np.asarray(values, dtype="float64")
    return float(_exact_sums(values, np.array([0, len(values)]))[0]) if len(values) else 0.0


def _exact_sums(values: np.ndarray, bounds: np.ndarray, most_decimals: int = 6) -> np.ndarray:
    """The sums of `values[bounds[i]:bounds[i + 1]]`, exact where the values are amounts: each value is
    the nearest float to an amount of at most `k` decimals (a sum of a currency's minor units), k the
    fewest (up to `most_decimals`) that hold every value; they are summed as whole numbers of 10^-k
    (int64, exact) and each total divided once, so that 45,714.60 is 45714.6, not 45714.59999999999.
    Values with more decimals than that (not amounts) are summed as floats. A total of 2^53 units or
    more is divided as an exact fraction (still the nearest float); only when the units of all the
    values together could overflow int64 (2^62) are the values summed as floats."""
    from fractions import Fraction

    finite = values[np.isfinite(values)]
    scale = None
    for decimals in range(most_decimals + 1):
        scaled = finite * 10.0 ** decimals
        # every value read back exactly from its whole number of 10^-k (1.001 is not 1 at k = 0)
        if (np.abs(scaled).max(initial=0) < 2 ** 52 and np.abs(scaled).sum() < 2 ** 62
                and np.array_equal(np.rint(scaled) / 10.0 ** decimals, finite)):
            scale = 10 ** decimals
            break
    if scale is None or len(finite) < len(values):
        return np.array([float(values[a:b].sum()) for a, b in zip(bounds[:-1], bounds[1:])])
    units = np.rint(values * scale).astype("int64")
    totals = np.zeros(len(bounds) - 1, dtype="int64")
    filled = bounds[:-1] < bounds[1:]  # groups with rows (reduceat gives an empty one the next value)
    if filled.any():
        totals[filled] = np.add.reduceat(units, bounds[:-1][filled])
    sums = totals / scale  # correctly rounded while a total converts to a float exactly
    for at in np.flatnonzero(np.abs(totals) >= 2 ** 53):  # else one rounding to float, then a second
        sums[at] = float(Fraction(int(totals[at]), scale))
    return sums


def retention_by_segment(activity: pd.DataFrame | ibis.Table,
                         segment_at_start: pd.DataFrame | ibis.Table) -> pd.DataFrame:
    """Retention and repurchase rate per month and per segment.

    `segment_at_start` has columns month, customer_id and segment: each customer's segment at the
    start of that month (see `segments_at_month_starts`). Retention of (month m, segment s): of the
    customers active in m-1 whose segment at the start of m is s, the share active in m. Repurchase
    of (m, s): of the customers whose segment at the start of m is s (all had bought before m), the
    share who bought in m (rows without a month, segment or customer id are left out). Returns
    month, segment, base_customers, retained, retention_rate,
    customers, buyers, repurchase_rate, by month then segment; a customer listed twice in one
    (month, segment) counts once. Counted on integer months and Arrow-hashed customer ids, one
    month of `segment_at_start` at a time (at a million customers and a year of months, 10M rows:
    no array of them wider than 4 bytes a row is kept). Both as tables of one engine (the `activity`
    and `month_start_classes` stages read in place, `segkit.store.stage_tables`): counted there
    (`segkit.monthly.engine_counts.retention_cells`: one row per month and segment comes back).
    """
    import pyarrow.compute as pc

    columns = ["month", "segment", "base_customers", "retained", "retention_rate", "customers", "buyers",
               "repurchase_rate"]
    if not isinstance(activity, pd.DataFrame) and not isinstance(segment_at_start, pd.DataFrame):
        from segkit.monthly.engine_counts import retention_cells

        cells = retention_cells(activity, segment_at_start)
        with np.errstate(divide="ignore", invalid="ignore"):
            cells["retention_rate"] = np.where(cells["base_customers"] > 0,
                                               cells["retained"] / cells["base_customers"], np.nan)
            cells["repurchase_rate"] = cells["buyers"] / cells["customers"]
        return cells[columns].reset_index(drop=True)
    _require(activity)
    members = segment_at_start[["month", "customer_id", "segment"]]
    # a row without a month, segment or customer id places no customer
    kept = (members["month"].notna() & members["segment"].notna() & members["customer_id"].notna()).to_numpy()
    if not kept.all():
        members = members[kept]
    if members.empty:
        return pd.DataFrame(columns=columns)
    month = _month_numbers32(members["month"])
    segment, segments = _segment_codes(members["segment"])
    bought = month_numbers(activity["month"])
    # the active customers once (first appearance order) and each activity row's place among them
    encoded = pc.dictionary_encode(_text_ids(activity["customer_id"]))
    encoded = encoded.combine_chunks() if hasattr(encoded, "combine_chunks") else encoded
    known = encoded.dictionary
    where = np.asarray(encoded.indices.fill_null(-1), dtype="int64")
    ids = _text_ids(members["customer_id"])  # ten million ids as they are; the million known cast to their type
    member = np.asarray(pc.index_in(ids, value_set=known.cast(ids.type), skip_nulls=True).fill_null(-1),
                        dtype="int32")  # -1: never active
    del ids
    base = int(min(bought.min(), month.min())) - 1
    width = int(max(bought.max(), month.max())) - base + 1
    # who bought when: a month x customer table of flags (2 years x 1M customers: 24 MB), a month a row
    active = np.zeros((width, len(known)), dtype=bool)
    buyers_known = where >= 0
    active[bought[buyers_known] - base, where[buyers_known]] = True
    del encoded, where, buyers_known, bought
    runs = _month_runs(month)
    once = _first_in_cell(month, members["customer_id"], member, segment, len(segments), runs)
    size = len(segments)
    counts = np.zeros((4, width, size), dtype="int64")  # customers, base customers, retained, buyers
    first = {}
    for number, rows in runs:
        first[number] = members["month"].iloc[rows.start if isinstance(rows, slice) else rows[0]]
        who = member[rows]
        listed = who >= 0
        at = np.where(listed, who, 0)
        buying = listed & active[number - base][at]
        before = listed & active[number - base - 1][at]
        cell = segment[rows]
        if once is not None:
            cell = cell[once[rows]]
            buying, before = buying[once[rows]], before[once[rows]]
        row = number - base
        counts[0, row] = np.bincount(cell, minlength=size)
        counts[1, row] = np.bincount(cell[before], minlength=size)
        counts[2, row] = np.bincount(cell[before & buying], minlength=size)
        counts[3, row] = np.bincount(cell[buying], minlength=size)
    customers, base_customers, retained, buyers = counts.reshape(4, -1)
    used = np.flatnonzero(customers)
    base_customers, retained, buyers = base_customers[used], retained[used], buyers[used]
    firsts = pd.Series(first)
    with np.errstate(divide="ignore", invalid="ignore"):
        frame = pd.DataFrame({
            "month": firsts.reindex(used // size + base).to_numpy(),
            "segment": segments.take(used % size),
            "base_customers": base_customers.astype("int64"), "retained": retained.astype("int64"),
            "retention_rate": np.where(base_customers > 0, retained / base_customers, np.nan),
            "customers": customers[used].astype("int64"), "buyers": buyers.astype("int64"),
            "repurchase_rate": buyers / customers[used]})
    return frame[columns]


def _month_numbers32(months: pd.Series) -> np.ndarray:
    """`month_numbers` as int32 (year * 12 + month is far inside it); for a stage's Categorical,
    from its codes and the numbers of the categories in use, without an int64 array of every row."""
    if isinstance(months.dtype, pd.CategoricalDtype):
        codes = months.cat.codes.to_numpy()
        if len(codes) and (codes >= 0).all():
            seen = np.zeros(len(months.cat.categories), dtype=bool)
            seen[codes] = True
            used = np.flatnonzero(seen)
            numbers = np.full(len(months.cat.categories), -1, dtype="int32")
            numbers[used] = month_numbers(pd.Series(months.cat.categories[used].astype(object)))
            return numbers[codes]
    return month_numbers(months).astype("int32")


def _text_ids(ids: pd.Series):
    """Customer ids as Arrow text (`segkit.monthly.codes`' rule: compared as text), without copying
    an Arrow-backed text column into another string type."""
    import pyarrow as pa

    if not isinstance(ids.dtype, pd.StringDtype):
        ids = ids.astype("str")
    found = pa.array(ids)
    return found if pa.types.is_string(found.type) or pa.types.is_large_string(found.type) else found.cast(pa.large_string())


def _segment_codes(segments: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """`pd.factorize(segments, sort=True)` with the distinct segments as text (no missing value
    among `segments`): for a stage's Categorical, from its codes and the categories in use, in the
    categories' order, without an int64 code per row."""
    if isinstance(segments.dtype, pd.CategoricalDtype):
        codes = segments.cat.codes.to_numpy()
        used = np.zeros(len(segments.cat.categories), dtype=bool)
        used[codes] = True  # (np.bincount would first widen ten million codes to int64)
        renumber = (np.cumsum(used) - 1).astype(codes.dtype)
        categories = segments.cat.categories[used]
        return renumber[codes], pd.Index(categories.astype(categories.dtype))
    codes, uniques = pd.factorize(segments, sort=True)
    return codes, pd.Index(uniques)


def _month_runs(month: np.ndarray) -> list:
    """(month number, its rows) for each month of `month`, oldest first: slices when the months are
    in order (a stage lists them so), else arrays of row positions in their order."""
    steps = np.diff(month)
    if (steps >= 0).all():
        bounds = [0, *(np.flatnonzero(steps) + 1), len(month)]
        return [(int(month[a]), slice(a, b)) for a, b in zip(bounds[:-1], bounds[1:])]
    order = np.argsort(month, kind="stable")
    return [(int(month[rows[0]]), rows) for rows in np.split(order, np.flatnonzero(np.diff(month[order])) + 1)]


def month_starts(activity: pd.DataFrame, last: int = 12, until: dt.date | None = None) -> list[dt.date]:
    """The first days of the last `last` months of `activity` that have a month before them in the
    data (so a segment at their start exists), oldest first; with `until` (the as-of date), the months
    go on to its month even where nobody bought after the data's last month (a shop closed in August
    still has customers, and classes, on 1 August)."""
    _require(activity)
    months = activity["month"]
    if isinstance(months.dtype, pd.CategoricalDtype):  # as load_stage(categories=) gives it: the months present
        months = pd.Series(months.cat.remove_unused_categories().cat.categories)
    end = months.max() if until is None else max(months.max(), until.replace(day=1))
    return months_after_first(months.min(), end, last)


def months_after_first(first: dt.date, last: dt.date, count: int = 12) -> list[dt.date]:
    """The first days of the last `count` months from the month after `first` to `last` (first days
    of months), oldest first: the month starts that have a month of data before them."""
    return [d.date() for d in pd.date_range(first, last, freq="MS")][1:][-count:]


# What later stages read of the month-start features besides month and customer_id: the RFM scores of
# each month start (03's and 06's classes), the revenue (06's KPI trends), the last purchase (06's moves)
MONTH_START_READ = ("recency_days", "orders", "revenue", "last_purchase")


def month_start_columns(cluster_features=()) -> list[str]:
    """The month-start feature columns a report needs: MONTH_START_READ and the clustering features
    among the feature columns (06 places last month's customers in this month's cluster space); a
    customer table's extra columns have no month-start value and are left out."""
    known = _feature_names()
    return list(dict.fromkeys([*MONTH_START_READ, *(c for c in cluster_features if c in known)]))


def _feature_names() -> set[str]:
    """The per-customer feature columns (segkit.features), all of which a month start can have."""
    from segkit.features import FEATURE_CHOICES, FEATURE_COLUMNS

    return {*FEATURE_COLUMNS, *FEATURE_CHOICES}


def features_at_month_starts(con: ibis.BaseBackend, transactions: pd.DataFrame | ibis.Table, months,
                             activity_days: int = 90, minor_unit: int = 2,
                             net_negative: str = "set_aside", columns=None) -> pd.DataFrame:
    """The per-customer features (`segkit.features.customer_features`) as they stood at the start of
    each of `months` (first days of months): computed from the transactions dated up to the last day
    of the month before (as-of = that day), for the customers who had bought by then. One row per
    (month, customer): month (a date) and the feature columns, month by month in the order given,
    each month's customers sorted by customer_id. Computed in the engine, where the transactions
    live, in one query (see `month_start_features_table`), so that a database source needs no
    transactions in Python; the result is the stage that `month_start_segments` classifies. Each
    month start applies the run's rule for customers whose revenue so far is zero or less after
    netting returns (`net_negative`, as `cleaning.returns.net_negative`): left out ("set_aside") or
    scored at 0 ("floor"). `columns`: the feature columns wanted (None: all; see
    `month_start_features_table`).
    """
    import ibis

    months = list(months)
    columns = None if columns is None else _wanted_columns(columns)
    if not months:
        return pd.DataFrame(columns=["month", "customer_id"])
    table = ibis.memtable(transactions) if isinstance(transactions, pd.DataFrame) else transactions
    ordered = sorts_as_python(table)  # else sorted here: a database need not sort what Python re-sorts
    expr = month_start_features_table(table, months, activity_days, minor_unit, net_negative, order=ordered,
                                      columns=columns)
    from segkit.intake.engines import to_frame

    frame = con.to_pandas(expr) if isinstance(transactions, pd.DataFrame) else to_frame(expr)
    if frame.empty:
        return pd.DataFrame(columns=["month", "customer_id"])
    frame["customer_id"] = frame["customer_id"].astype(str)
    # each row's month as its position in `months`: the month as given (a date), and a database's
    # rows, sorted by its collation's rules, sorted here
    at = pd.Index(pd.to_datetime(months)).get_indexer(pd.to_datetime(frame["month"]))
    if not ordered:
        order = np.lexsort((frame["customer_id"].to_numpy(dtype=object), at))
        frame, at = frame.take(order), at[order]
    frame["month"] = np.array(months, dtype=object)[at]
    return frame.reset_index(drop=True)


def sorts_as_python(table: ibis.Table) -> bool:
    """Whether `table`'s engine orders text as Python does: DuckDB (embedded, or a frame's memtable)
    sorts by UTF-8 bytes, Python's order of strings; a database may sort by its collation's rules."""
    from segkit.intake.sources import is_embedded

    return _is_memtable(table) or is_embedded(table.get_backend())


def month_start_features_table(transactions: ibis.Table, months, activity_days: int = 90, minor_unit: int = 2,
                               net_negative: str = "set_aside", order: bool = True, columns=None) -> ibis.Table:
    """`features_at_month_starts` as one lazy table in the transactions' engine: columns month (date),
    customer_id, orders, revenue, first_purchase, last_purchase (timestamps), recency_days,
    tenure_days (days), avg_order_value, interval_days, orders_recent and, with a category column,
    categories; with `order`, ordered by month in the order given, then customer_id (by the engine's
    collation: Python's order in DuckDB, see `sorts_as_python`), else in no set order. `months` must
    not be empty. `columns`: the feature columns wanted besides month and customer_id (None: all);
    the others are left out, and the engine does not compute the categories or orders_recent
    unless they are wanted (at 10M lines the categories' first days are most of the summary's
    time). Raises ValueError for a name that is not a feature column."""
    months = list(months)
    columns = None if columns is None else _wanted_columns(columns)
    expr = _union(_month_start_parts(transactions, months, activity_days, minor_unit, net_negative == "floor",
                                     columns))
    return _stage_columns(expr.order_by(["month_index", "_key"]) if order else expr, months, net_negative, columns)


def month_start_features_parts(transactions: ibis.Table, months, activity_days: int = 90, minor_unit: int = 2,
                               net_negative: str = "set_aside", columns=None) -> list[ibis.Table]:
    """`month_start_features_table` as one lazy table per month of `months` (in that order), each
    ordered by customer_id: for writing the stage month by month where it is computed
    (`segkit.store.save_stage` streams the parts into one Parquet file). One query for all months
    makes the engine hold every month's joins at once: at 1M customers, 4.3 GB against 1.1 GB
    month by month, for the same CPU time. `columns`: as `month_start_features_table`'s."""
    months = list(months)
    columns = None if columns is None else _wanted_columns(columns)
    parts = _month_start_parts(transactions, months, activity_days, minor_unit, net_negative == "floor", columns)
    return [_stage_columns(part.order_by("_key"), months, net_negative, columns) for part in parts]


def _union(parts: list[ibis.Table]) -> ibis.Table:
    import ibis

    return ibis.union(*parts) if len(parts) > 1 else parts[0]


def _stage_columns(expr: ibis.Table, months: list, net_negative: str, columns=None) -> ibis.Table:
    """The month-start features' stage columns of `month_start_features_expr` rows (keeping their order):
    month, customer_id and the feature columns, or only those of `columns` among them."""
    import ibis
    import ibis.expr.datatypes as dt_
    from segkit.features import FEATURE_COLUMNS

    if net_negative != "floor":
        expr = expr.filter(expr.revenue > 0)
    month = ibis.cases(*[(expr.month_index == index, ibis.date(pd.Timestamp(start).date()))
                         for index, start in enumerate(months)])
    # cast where the engine may widen (DuckDB sums BIGINT into HUGEINT, which Parquet stores as a double);
    # a non-null type, because ibis drops a cast to the type it already infers
    counts = {name: expr[name].cast(dt_.Int64(nullable=False)) for name in ("orders", "orders_recent", "recency_days",
                                                                             "tenure_days", "categories")
              if name in expr.columns}
    days = {name: expr[name].cast(dt_.Timestamp(scale=3)) for name in ("first_purchase", "last_purchase")}
    ordered = [c for c in FEATURE_COLUMNS if c in expr.columns]
    rest = [c for c in expr.columns if c not in ordered and c not in ("month_index", "_key")]
    kept = [c for c in (*ordered, *rest) if columns is None or c == "customer_id" or c in columns]
    return expr.mutate(month=month, **counts, **days).select("month", *kept)


def month_start_features_expr(transactions: ibis.Table, months, activity_days: int = 90, minor_unit: int = 2,
                              floor_revenue: bool = False, columns=None) -> ibis.Table:
    """The union of `_month_start_parts`: one row per month start and customer who had bought by
    then, with `month_index` (the position in `months`), `_key` (a number per customer, in
    customer_id order) and the feature columns (engine types)."""
    columns = None if columns is None else _wanted_columns(columns)
    return _union(_month_start_parts(transactions, months, activity_days, minor_unit, floor_revenue, columns))


def _month_start_parts(transactions: ibis.Table, months, activity_days: int = 90, minor_unit: int = 2,
                       floor_revenue: bool = False, columns=None) -> list[ibis.Table]:
    """The lazy tables behind `features_at_month_starts`, one per month of `months`: one row per
    customer who had bought by then, with `month_index` (the position in `months`) and the features.

    Each month's features equal `customer_features` on the rows dated up to the day before the month
    start, but no month re-reads every line with distinct counts: the lines are summarised once into
    cells, one per customer and period between consecutive as-of days (the spend, exact; first and
    last day; the orders first bought in it, an order counting from its first day; the categories
    first bought in it), each carrying the customer's running totals up to it. A month start takes
    each customer's last cell up to it (a filter, no grouping) and counts the distinct orders of the
    lines in its own activity window (`activity_days`) only. In the embedded engine the cells are
    kept as temporary tables keyed by an integer per customer, numbered in customer_id order, so
    that each month joins and sorts integers. `columns` (None: all): the feature columns wanted; the
    categories and orders_recent are computed only when wanted.
    """
    import ibis
    from segkit.features import with_derived_features
    from segkit.intake.cleaning import exact_amount
    from segkit.intake.engines import drop_temporary
    from segkit.intake.sources import is_embedded

    wanted = _wanted_columns(columns)
    t = transactions
    amount = t.amount
    if not amount.type().is_decimal():
        amount = exact_amount(amount, minor_unit, float("inf"))[0]
    t = t.mutate(_day=t.ordered_at.date(), _amount=amount)
    cuts = [pd.Timestamp(month).date() - dt.timedelta(days=1) for month in months]  # each month's as-of day
    ascending = sorted(set(cuts))
    rank = {cut: position for position, cut in enumerate(ascending)}

    def period(day):  # the position of the first as-of day on or after `day` (null after the last)
        return ibis.cases(*[(day <= ibis.date(cut), position) for position, cut in enumerate(ascending)],
                          else_=ibis.null("int64"))

    days = t.group_by(customer_id=t.customer_id, day=t._day).aggregate(spend=t._amount.sum())
    days = days.mutate(period=period(days.day))
    days = days.filter(days.period.notnull())
    cells = days.group_by(["customer_id", "period"]).aggregate(
        spend=days.spend.sum(), first_day=days.day.min(), last_day=days.day.max())
    # an order's or a category's first day is a day with a line, so its cell is one of the spends'
    ordered = t.filter(t.order_id.notnull())
    orders = ordered.group_by(["customer_id", "order_id"]).aggregate(first_day=ordered._day.min())
    orders = orders.mutate(period=period(orders.first_day))
    orders = orders.group_by(["customer_id", "period"]).aggregate(_orders=orders.count())
    # DuckDB joins a missing id as one customer, as its groupings do (cleaned rows have none); a
    # database joins on equality, which it can hash (PostgreSQL cannot hash IS NOT DISTINCT FROM)
    null_safe = _is_memtable(transactions) or is_embedded(transactions.get_backend())
    cells = cells.left_join(orders, _same_cell(cells, orders, null_safe)).select(cells, orders._orders)
    has_category = "category" in t.columns and "categories" in wanted
    recent_orders = "orders_recent" in wanted
    if has_category:
        named = t.filter(t.category.notnull())
        if "returned_at" in t.columns:  # returns marked: a category cancelled in full within its order was not bought
            items = named.group_by(["customer_id", "order_id", "category"]).aggregate(
                _net=named._amount.sum(), first_day=named._day.min())
            items = items.filter(items._net > 0)
            bought = items.group_by(["customer_id", "category"]).aggregate(first_day=items.first_day.min())
        else:
            bought = named.group_by(["customer_id", "category"]).aggregate(first_day=named._day.min())
        bought = bought.mutate(period=period(bought.first_day))
        bought = bought.group_by(["customer_id", "period"]).aggregate(_kinds=bought.count())
        cells = cells.left_join(bought, _same_cell(cells, bought, null_safe)).select(cells, bought._kinds)
    # the order lines of the activity windows only: (customer, order, day) once each
    ordered = ordered.filter((ordered._day <= ibis.date(ascending[-1]))
                             & (ordered._day > ibis.date(ascending[0] - dt.timedelta(days=activity_days))))
    ordered = ordered.select("customer_id", "order_id", "_day").distinct()
    # a frame's memtable has no engine of its own yet: only a table in an engine is summarised there
    backend = t.get_backend() if len(months) > 1 and not _is_memtable(transactions) else None
    keys = None
    if backend is not None and is_embedded(backend):  # summarised once, read by every month (a database: only read)
        def kept(table):
            return backend.create_table(f"segkit_month_start_{next(_names)}", table, temp=True)

        raw = kept(cells)
        keys = raw.select("customer_id").distinct()
        # numbered in the ids' order as text (whole-number ids are numbers in the engine: `text_ids`)
        keys = kept(keys.mutate(_key=ibis.row_number().over(order_by=keys.customer_id.cast("string"))))
        # null-safe: a missing id is a customer of its own, as in a grouping (cleaned rows have none)
        cells = raw.join(keys, raw.customer_id.identical_to(keys.customer_id))
        cells = cells.select(*[raw[c] for c in raw.columns if c != "customer_id"], keys._key)
        if recent_orders:
            lines = ordered.join(keys, ordered.customer_id.identical_to(keys.customer_id))
            ordered = kept(lines.select(*[ordered[c] for c in ordered.columns if c != "customer_id"], keys._key))
    else:
        cells, ordered = (part.mutate(_key=part.customer_id.cast("string")) for part in (cells, ordered))
    # each cell with the customer's totals up to it and the next cell's period: a month start takes
    # each customer's last cell up to it, with no grouping (periods ascend with the days: a later
    # cell's days are later, so its last day is the customer's last purchase)
    history = ibis.window(group_by="_key", order_by="period")
    upto = ibis.cumulative_window(group_by="_key", order_by="period")
    totals = dict(spend=cells.spend.sum().over(upto), first_day=cells.first_day.min().over(upto),
                  last_day=cells.last_day, _orders=cells._orders.fill_null(0).sum().over(upto),
                  next_period=cells.period.lead().over(history))
    if has_category:
        totals["_kinds"] = cells._kinds.fill_null(0).sum().over(upto)
    cells = cells.select("_key", "period", **totals)
    if keys is not None:  # the totals kept; the cells they were computed from dropped
        cells = kept(cells)
        drop_temporary(raw)
    parts = []
    for index, as_of in enumerate(cuts):
        at = rank[as_of]
        last = cells.filter((cells.period <= at) & (cells.next_period.isnull() | (cells.next_period > at)))
        spend = last.spend
        values = dict(revenue=(ibis.greatest(spend, 0) if floor_revenue else spend).cast("float64"),
                      first_purchase=last.first_day, last_purchase=last.last_day, _orders=last._orders)
        if has_category:
            values["_kinds"] = last._kinds
        joined = last.select("_key", **values)
        if recent_orders:
            window = ordered.filter((ordered._day <= ibis.date(as_of))
                                    & (ordered._day > ibis.date(as_of - dt.timedelta(days=activity_days))))
            recent = window.group_by("_key").aggregate(_recent=window.order_id.nunique())
            same = joined._key.identical_to(recent._key) if null_safe else joined._key == recent._key
            joined = joined.left_join(recent, same).select(joined, recent._recent)
        if keys is not None:  # the customer's id back, in place of its number
            joined = joined.join(keys, "_key").select(keys.customer_id.cast("string").name("customer_id"), joined)
        else:
            joined = joined.mutate(customer_id=joined._key)
        counts = dict(orders=joined._orders)
        if recent_orders:
            counts["orders_recent"] = joined._recent.fill_null(0)
        if has_category:
            counts["categories"] = joined._kinds
        per_customer = joined.select("_key", "customer_id", "revenue", "first_purchase", "last_purchase", **counts)
        parts.append(with_derived_features(per_customer, as_of).mutate(month_index=ibis.literal(index, "int64")))
    return parts


def _wanted_columns(columns) -> set[str]:
    """The feature columns of the month-start features to compute: those of `columns` (None: all
    of them). Raises ValueError for a name that is not one (month and customer_id always come) and
    for a bare string (a name where names are wanted)."""
    known = _feature_names()
    if columns is None:
        return known
    if isinstance(columns, str):
        raise ValueError(f"columns must be a list of month-start feature columns, got the text {columns!r}")
    columns = set(columns)
    unknown = sorted(columns - known - {"month"})
    if unknown:
        raise ValueError(f"not month-start feature columns: {', '.join(unknown)}; they are {', '.join(sorted(known))}")
    return columns


def _same_cell(left: ibis.Table, right: ibis.Table, null_safe: bool) -> list:
    """Join keys of two per customer-and-period tables; `null_safe`: a missing id is one customer,
    as in a grouping."""
    same = left.customer_id.identical_to(right.customer_id) if null_safe else left.customer_id == right.customer_id
    return [same, left.period == right.period]


def _is_memtable(table: ibis.Table) -> bool:
    from ibis.expr.operations import InMemoryTable

    return isinstance(table.op(), InMemoryTable)


def segments_at_month_starts(con: ibis.BaseBackend, transactions: pd.DataFrame | ibis.Table, months, segment) -> pd.DataFrame:
    """Each customer's segment at the start of each of `months` (first days of months): `segment`
    is called with the per-customer features as of the last day of the month before (a function
    features -> Series of segments, e.g. the run's scorer and map) for the customers who had bought
    by then. Returns month, customer_id, segment.
    """
    return segments_from_history(features_at_month_starts(con, transactions, months), segment)


def segments_from_history(history: pd.DataFrame, segment) -> pd.DataFrame:
    """month, customer_id, segment: `segment` (features -> Series of segments) applied to each
    month's features of `history` (`features_at_month_starts`) on its own."""
    parts = [pd.DataFrame({"month": month, "customer_id": features["customer_id"].to_numpy(),
                           "segment": pd.Series(segment(features)).to_numpy()})
             for month, features in month_groups(history)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["month", "customer_id", "segment"])


def month_start_classes(history: pd.DataFrame, rfm, segment_map, class_map) -> pd.DataFrame:
    """The run's classification at each month start, both classes at once: each month of `history`
    (`features_at_month_starts`) scored and mapped with the run's standards (`rfm`, the params'
    `rfm` section: bins, method, ties, cuts, percentiles, max_tied_share; `segment_map` for the grid
    segment, `class_map` for the eight classes), the quantile cut points fitted on that month's
    customers, as the run fits them on today's (Hughes 1994's RFM quintiles, per month).

    Returns month (as given in `history`), customer_id, segment, rfm_class: one row per row of
    `history`, months oldest first, each month's customers in their order in `history`; month,
    segment and rfm_class are Categoricals (categories: the months, oldest first; the classes met,
    sorted), which at a million customers and a year of months hold 10M rows in ~160 MB instead of
    ~890 MB. Empty (with those columns) for an empty history. Raises ValueError when a month's
    features cannot be scored (see `RFMScorer.fit`).
    """
    return classify_month_groups(month_groups(history), rfm, segment_map, class_map)


def classify_month_groups(groups, rfm, segment_map, class_map) -> pd.DataFrame:
    """`month_start_classes` of (month, that month's features) pairs, oldest month first (what
    `segkit.monthly.codes.month_groups` yields, or a stage file read one month at a time)."""
    from pandas.api.types import union_categoricals

    from segkit.classify.rfm import RFMScorer, segment_customers

    months, ids, segments, classes = [], [], [], []
    for month, features in groups:
        scorer = RFMScorer(rfm.bins, method=rfm.method, ties=rfm.ties, cuts=rfm.cuts, percentiles=rfm.percentiles,
                           max_tied_share=rfm.max_tied_share).fit(features)
        scores = segment_customers(features, scorer, segment_map, class_map)[0]
        months.append(month)
        ids.append(features["customer_id"])
        segments.append(pd.Categorical(scores["segment"]))
        classes.append(pd.Categorical(scores["rfm_class"]))
    if not months:
        return pd.DataFrame(columns=["month", "customer_id", "segment", "rfm_class"])
    sizes = [len(part) for part in ids]
    month = pd.Categorical.from_codes(np.repeat(np.arange(len(months)), sizes),
                                      categories=pd.Index(months, dtype=object))
    return pd.DataFrame({"month": month, "customer_id": pd.concat(ids, ignore_index=True).array,
                         "segment": union_categoricals(segments, sort_categories=True),
                         "rfm_class": union_categoricals(classes, sort_categories=True)})


def month_start_segments(history: pd.DataFrame, rfm, segment_map, class_map, column: str = "segment") -> pd.DataFrame:
    """The run's classification at each month start (`month_start_classes`), one of its two
    classes: `column` is "segment" (the grid map) or "rfm_class" (the eight classes). Returns month,
    customer_id, segment (the chosen class, under the name segment). Raises ValueError for another
    `column`.
    """
    if column not in ("segment", "rfm_class"):
        raise ValueError(f"column must be segment or rfm_class, got {column!r}")
    classes = month_start_classes(history, rfm, segment_map, class_map)
    return pd.DataFrame({"month": classes["month"].array, "customer_id": classes["customer_id"].array,
                         "segment": classes[column].array})


def segment_retention(activity: pd.DataFrame, history: pd.DataFrame | None, rfm, segment_map, class_map,
                      column: str = "segment") -> pd.DataFrame | None:
    """Retention and repurchase rate per month and segment at the month's start (`retention_by_segment`
    over `month_start_segments`), or None when `history` (`features_at_month_starts`, the run's
    `month_start_features` stage) holds no month: the data span fewer than two months. (A report
    classifies the month starts once for 03 and 06: `segkit.monthly.shared.month_start_classes_stage`.)"""
    if history is None or history.empty:
        return None
    return retention_by_segment(activity, month_start_segments(history, rfm, segment_map, class_map, column))


def cohort_table(activity: pd.DataFrame | ibis.Table, measure: str = "share_active") -> pd.DataFrame:
    """Cohorts by first-purchase month (rows) against months since the first purchase (columns 0,
    1, 2, ...). `measure`: "share_active" (share of the cohort's customers active that month; 1.0
    in column 0), "customers" (how many were active) or "revenue" (the cohort's revenue that month).
    Cells after the data's last month are missing, not zero. `activity`: a frame (`monthly_activity`)
    or a table in its engine (the `activity` stage read in place, `segkit.store.stage_tables`, or
    `monthly_activity_table` on a database or Spark), counted there (`segkit.monthly.engine_counts`:
    only the cells come back; cohort labels are then first days of months as dates). Raises
    ValueError for another measure or an activity without its columns.
    """
    if measure not in ("share_active", "customers", "revenue"):
        raise ValueError(f"measure must be share_active, customers or revenue, got {measure!r}")
    if not isinstance(activity, pd.DataFrame):  # a table in its engine (ibis is imported only then)
        from segkit.monthly.engine_counts import cohort_cells, month_of_number

        cells = cohort_cells(activity)
        if cells.empty:
            raise ValueError("activity has no rows")
        low = int(cells["cohort"].min())
        high = int((cells["cohort"] + cells["age"]).max())
        span = high - low + 1
        values = pd.Series(cells["revenue" if measure == "revenue" else "customers"].to_numpy(),
                           index=(cells["cohort"].to_numpy() - low) * span + cells["age"].to_numpy())
        labels = pd.Series({number: month_of_number(number) for number in range(low, high + 1)})
        return _cohort_pivot(values, low, span, high, labels, measure)
    _require(activity)
    month = month_numbers(activity["month"])
    customer = pd.factorize(activity["customer_id"], use_na_sentinel=False)[0]
    first = np.full(customer.max() + 1, month.max(), dtype="int64")
    np.minimum.at(first, customer, month)
    cohort = first[customer]
    # the cohort labelled as the data give it: a first month's own value
    numbers, first_rows = np.unique(month, return_index=True)
    labels = pd.Series(activity["month"].iloc[first_rows].to_numpy(), index=numbers)
    # each row's (cohort, age) cell as one integer, cohorts and ages numbered from the first month
    low, span = int(month.min()), int(month.max() - month.min()) + 1
    cell = (cohort - low) * span + (month - cohort)
    if measure == "revenue":  # pandas' grouped sum (as pivot_table's): the same compensated sums
        values = pd.Series(activity["revenue"].to_numpy()).groupby(cell).sum()
    else:  # distinct customers counted on their integer codes, not their text ids (a missing id: none)
        known = ~activity["customer_id"].isna().to_numpy()
        # a customer's rows all share its cohort: a distinct (customer, month) counts once in its cell
        who, when = np.divmod(_distinct(customer[known].astype("int64") * span + (month[known] - low)), span)
        start = first[who] - low
        counts = np.bincount(start * span + (when - start), minlength=span * span)
        present = np.unique(cell)  # cells of missing ids only: 0 customers
        values = pd.Series(counts[present], index=present)
    return _cohort_pivot(values, low, span, int(month.max()), labels, measure)


def _cohort_pivot(values: pd.Series, low: int, span: int, last: int, labels: pd.Series, measure: str) -> pd.DataFrame:
    """The cohort table of `values` (indexed by cell: (cohort - low) * span + age, cohorts as month
    numbers from `low`), with the months after `last` (the data's last month number) missing,
    known cells without a value 0, and the cohorts labelled by `labels` (month number -> label)."""
    table = values.set_axis(pd.MultiIndex.from_arrays([values.index // span + low, values.index % span],
                                                      names=["cohort", "age"])).unstack("age")
    # every age up to the oldest: an age at which no cohort bought is a column of zeros (or unknown)
    table = table.reindex(columns=range(int(table.columns.max()) + 1))
    table.columns.name = "age"
    if measure == "share_active":
        table = table.div(table[0], axis=0)
    # months the data do not reach yet are unknown, not zero
    unknown = np.asarray(table.columns)[None, :] > (last - np.asarray(table.index))[:, None]
    if unknown.any():
        table = table.mask(unknown)
    if table.isna().to_numpy().any():
        table = table.where(unknown | table.notna().to_numpy(), 0.0)
    table.index = pd.Index(labels.reindex(table.index).to_numpy(), name="cohort")
    table.columns.name = "months_since_first"
    return table.sort_index()


def churned(features: pd.DataFrame, window_days: int = 180) -> pd.Series:
    """True for customers with no purchase in the last `window_days` days (recency_days >= window_days)."""
    if window_days < 1:
        raise ValueError(f"window_days must be >= 1, got {window_days}")
    return (features["recency_days"] >= window_days).rename("churned")


def churn_rates(profile: pd.DataFrame, by: str = "segment", window_days: int = 180) -> pd.DataFrame:
    """Per value of `by` (e.g. segment, rfm_class, cluster): customers, churned customers and the
    churn rate (churned / customers) by the inactivity window."""
    flags = churned(profile, window_days)
    grouped = profile.assign(churned=flags).groupby(by, observed=True)["churned"]
    return pd.DataFrame({"customers": grouped.size(), "churned": grouped.sum().astype("int64"),
                         "churn_rate": grouped.mean()}).reset_index()


def _first_in_cell(month: np.ndarray, ids: pd.Series, member: np.ndarray, segment: np.ndarray,
                   segments: int, runs: list) -> np.ndarray | None:
    """Flags of the rows that are the first of their (month, customer, segment), or None when that is
    all of them: a customer listed twice in one month, which a stage never does; checked on the
    customers' positions among the active (`member`), month by month (`runs`, from `_month_runs`),
    without hashing ten million keys."""
    if (member >= 0).all() and all(np.bincount(member[rows]).max() <= 1 for _, rows in runs):
        return None
    who = pd.factorize(ids.astype(str))[0]
    key = ((month.astype("int64") - month.min()) * (who.max() + 1) + who) * segments + segment
    return ~pd.Series(key).duplicated().to_numpy()


def _distinct(keys: np.ndarray) -> np.ndarray:
    """The distinct integers of `keys`, sorted (`np.unique` without its hash table, faster here)."""
    keys = np.sort(keys)
    return keys[np.concatenate([[True], keys[1:] != keys[:-1]])] if len(keys) else keys


def _require(activity: pd.DataFrame) -> None:
    missing = [c for c in ACTIVITY_COLUMNS if c not in activity.columns]
    if missing:
        raise ValueError(f"activity lacks column(s) {missing}; make it with monthly_activity()")
    if activity.empty:
        raise ValueError("activity is empty: there are no purchases to count")
