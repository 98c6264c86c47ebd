"""The honest next-period test: do the classes predict anything?

Classes are computed on the purchases up to the end of a calibration period (`calibration_end`,
params `evaluate.calibration_end` or `evaluate.holdout_months` before the data's end), exactly as
the report computes them on all purchases: RFM segments and the eight high/low classes from the
calibration features, and clusters from a copy of the run's clusterer refitted on them (same
method, same k). Then each class is checked against what its customers did in the holdout period
(after `calibration_end` up to `as_of`): revenue and orders per customer, the share who bought
again, and the lift over the average customer (a class's holdout revenue per customer divided by
that of all calibration customers: 2.0 means twice the average).

"High value" is then put to the test (a calibration/holdout check in the spirit of the BTYD
literature, e.g. Fader, Hardie & Lee 2005): the customers truly high in the holdout are the top
`top_share` by holdout revenue (among those who spent something); each classification predicts as
high its best classes by calibration revenue per customer, taken in that order while together they
hold at most `top_share` of the customers (at least one class). Precision, recall and F1 of that
prediction follow (scikit-learn's metrics). A baseline row predicts high from calibration revenue
alone (its top `top_share`).

Customers whose first purchase falls in the holdout had no calibration record: they cannot be
classed, are left out of every figure, and are counted (`new_in_holdout`, `new_revenue`).

The calibration period is taken as it was known at its end (`segkit.intake.as_known.as_known`): a
cancellation made after calibration_end counts on its own day (the purchase stays whole in
calibration; the refund lowers the holdout revenue and is no holdout order), and an order cancelled
in full after it counts as bought (its lines, refunded_orders.parquet, marked `refunded`:
`segkit.known_lines_table`).
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa

from segkit.errors import DataError, ParamsError
from segkit.evaluate.stability import refit_labels
from segkit.features import category_bit, category_kinds, count_bits
from segkit.intake.as_known import as_known
from segkit.intake.engines import runs_in_duckdb

SCHEMES = ("segment", "rfm_class", "cluster")  # the classifications compared, in the report's order


@dataclass(frozen=True)
class NextPeriodCheck:
    """What `next_period_check` found.

    - `classes`: one row per scheme and class: scheme ("segment", "rfm_class", "cluster"), class,
      customers, calibration_revenue (per customer), holdout_revenue (total), revenue_per_customer,
      orders_per_customer (holdout), buyer_share (share with a holdout purchase), lift;
    - `high_value`: one row per scheme plus "calibration_revenue" (the baseline): scheme,
      predicted (customers predicted high), actual (customers truly high), precision, recall, f1,
      classes (the classes predicted high, comma-separated);
    - `customers` (calibration customers checked), `new_in_holdout` (customers first buying in the
      holdout, left out) and `new_revenue` (their holdout revenue), `calibration_end`, `as_of`,
      `top_share`;
    - `labels`: customer_id and the class of each scheme (calibration), with holdout revenue and orders.
    """

    classes: pd.DataFrame
    high_value: pd.DataFrame
    labels: pd.DataFrame
    customers: int
    new_in_holdout: int
    new_revenue: float
    calibration_end: dt.date
    as_of: dt.date
    top_share: float
    periods: "Periods | None" = None  # the calibration features and holdout figures, for `compare_settings`


def split_periods(transactions: pd.DataFrame, calibration_end: dt.date,
                  as_of: dt.date | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.Index]:
    """The transactions up to and including `calibration_end` (calibration), those after it up to
    and including `as_of` (holdout; default the last purchase), and the ids of the customers whose
    first purchase is in the holdout (they are dropped from the holdout rows returned). The rows as
    the calibration period knew them (`as_known`): a cancellation after calibration_end dated on
    its own day, one after `as_of` left out, the lines of orders cancelled in full kept only when
    cancelled after calibration_end; column `refund` marks each cancellation (no purchase).

    Raises DataError when a needed column is missing or no customer bought in the calibration
    period; ParamsError when `as_of` is not after `calibration_end`.
    """
    split = _split(transactions, calibration_end, as_of)
    rows = split.rows
    return (rows[split.calibration], rows[split.holdout & ~split.new_rows], split.new)


@dataclass(frozen=True)
class _Split:
    """Row masks of `_split`: calibration rows, holdout rows, rows of customers whose first purchase
    is after calibration_end; the ids of the customers new in the holdout; the as_of used; the rows
    the masks are of (`as_known`)."""

    calibration: np.ndarray
    holdout: np.ndarray
    new_rows: np.ndarray
    new: pd.Index
    as_of: dt.date
    rows: pd.DataFrame


def _split(transactions: pd.DataFrame, calibration_end: dt.date, as_of: dt.date | None) -> _Split:
    """Row masks of the rows `as_known(transactions, calibration_end, as_of)` (returned as
    `_Split.rows`). The calibration rows are those of orders (an order number, or none, on each side
    of the boundary) with a purchase line: an order of refunds alone (a cancellation that found no
    purchase) is none. The as_of default is the last purchase; a customer's first purchase decides
    whether they are new in the holdout."""
    missing = [c for c in ("customer_id", "ordered_at", "amount") if c not in transactions.columns]
    if missing:
        raise DataError(f"the next-period test needs transaction column(s) {', '.join(missing)}")
    if as_of is None and "returned_at" in transactions.columns:  # the last purchase; no refund after it
        known = as_known(transactions, calibration_end)
        last = pd.to_datetime(known["ordered_at"])[~known["refund"].to_numpy(bool)].max()
        as_of = None if pd.isna(last) else last.date()
    transactions = as_known(transactions, calibration_end, as_of)
    ordered = pd.to_datetime(transactions["ordered_at"]).to_numpy()
    refund = transactions["refund"].to_numpy(bool)
    purchased = np.where(refund, np.datetime64("NaT"), ordered)  # the purchases' dates
    calibration_end = pd.Timestamp(calibration_end).date()
    last = pd.Series(purchased).max()
    as_of = (pd.Timestamp(last).date() if not pd.isna(last) else calibration_end) if as_of is None \
        else pd.Timestamp(as_of).date()
    if as_of <= calibration_end:
        raise ParamsError(f"evaluate.calibration_end ({calibration_end}) must be before the data's end ({as_of}): "
                          "there is no holdout period to test on")
    boundary = np.datetime64(pd.Timestamp(calibration_end) + pd.Timedelta(days=1))
    end = np.datetime64(pd.Timestamp(as_of) + pd.Timedelta(days=1))
    before = ordered < boundary
    # the orders of each side of the boundary with a purchase line
    order_ids = transactions["order_id"].astype(str).where(transactions["order_id"].notna(), None) \
        if "order_id" in transactions.columns else pd.Series(None, index=transactions.index, dtype=object)
    groups = pd.MultiIndex.from_arrays([transactions["customer_id"].astype(str), order_ids, before]).factorize()[0]
    with_purchase = np.bincount(groups, weights=~refund, minlength=groups.max() + 1 if len(groups) else 0) > 0
    calibration = before & with_purchase[groups]
    if not calibration.any():
        raise DataError(_none_before(calibration_end))
    holdout = (ordered >= boundary) & (ordered < end)
    # a customer is new in the holdout when their first purchase is after calibration_end: one
    # group-by over integer codes (a Python set of ten million ids took most of a minute)
    ids = transactions["customer_id"]
    ids = ids if pd.api.types.is_string_dtype(ids) else ids.astype(str)
    codes, uniques = pd.factorize(ids, use_na_sentinel=False)
    first = pd.Series(purchased).groupby(codes).min().to_numpy()
    new_rows = first[codes] >= boundary
    new = pd.Index(sorted(np.asarray(uniques[np.unique(codes[holdout & new_rows])], dtype=object).astype(str)),
                   name="customer_id", dtype=object)
    return _Split(calibration, holdout, new_rows, new, as_of, transactions)


def _codes(labels: pd.DataFrame, scheme: str) -> tuple[np.ndarray, pd.Index]:
    """The classes of `scheme` as integer codes in order of first appearance (-1: no class) and
    the classes: a group-by over a million class names hashes the names once here, not per table."""
    return pd.factorize(labels[scheme])


def _keys(codes: np.ndarray) -> np.ndarray:
    """Group keys of `_codes`: the codes, or floats with NaN (no group) where a class is missing."""
    return codes if (codes >= 0).all() else np.where(codes >= 0, codes, np.nan)


def _class_table(labels: pd.DataFrame, scheme: str, coded=None) -> pd.DataFrame:
    codes, uniques = coded if coded is not None else _codes(labels, scheme)
    # grouped by the codes (as pandas groups the names: by first appearance, no group for a missing class)
    grouped = labels[["revenue", "holdout_revenue", "holdout_orders"]].assign(
        bought=labels["holdout_orders"].to_numpy() > 0).groupby(_keys(codes), sort=False)
    table = pd.DataFrame({"customers": grouped.size(),
                          "calibration_revenue": grouped["revenue"].mean(),
                          "holdout_revenue": grouped["holdout_revenue"].sum(),
                          "revenue_per_customer": grouped["holdout_revenue"].mean(),
                          "orders_per_customer": grouped["holdout_orders"].mean(),
                          "buyer_share": grouped["bought"].mean()})
    table.index = uniques.take(table.index.to_numpy(dtype=np.int64)).rename(scheme)
    average = labels["holdout_revenue"].mean()
    table["lift"] = table["revenue_per_customer"] / average if average > 0 else np.nan
    table = table.sort_values("calibration_revenue", ascending=False, kind="stable")
    return table.rename_axis("class").reset_index().assign(scheme=scheme)


def _predicted_high(labels: pd.DataFrame, scheme: str, top_share: float, coded=None) -> tuple[np.ndarray, list]:
    codes, uniques = coded if coded is not None else _codes(labels, scheme)
    by_value = labels["revenue"].groupby(_keys(codes), sort=False).agg(["mean", "size"]).sort_values(
        "mean", ascending=False, kind="stable")
    shares = by_value["size"].cumsum() / len(labels)
    picked = by_value.index.to_numpy(dtype=np.int64)
    chosen = picked[(shares <= top_share + 1e-12).to_numpy()]
    chosen = chosen if len(chosen) else picked[:1]
    return np.isin(codes, chosen), list(uniques.take(chosen))


@dataclass(frozen=True)
class Periods:
    """The calibration features (`segkit.customer_features` at calibration_end) and, per calibration
    customer, holdout_orders and holdout_revenue (0 for no purchase); customers new in the holdout
    are counted in `new_in_holdout` and `new_revenue`. Built once by `calibration_periods`, then
    any classification of `features` can be checked with `check_classes`."""

    features: pd.DataFrame
    holdout: pd.DataFrame  # customer_id, holdout_orders, holdout_revenue, aligned with features
    new_in_holdout: int
    new_revenue: float
    calibration_end: dt.date
    as_of: dt.date


def _none_before(calibration_end: dt.date) -> str:
    """Why there is no calibration period: nobody had bought by its end (which the params set directly,
    or as the month end evaluate.holdout_months before the as-of date)."""
    return (f"no purchase on or before the calibration end {calibration_end} (evaluate.calibration_end, or "
            "evaluate.holdout_months months before the as-of date); set a later evaluate.calibration_end, or fewer "
            "evaluate.holdout_months")


def calibration_periods(transactions: pd.DataFrame, calibration_end: dt.date, as_of: dt.date | None = None,
                        con=None, activity_days: int = 90, minor_unit: int = 2) -> Periods:
    """Split `transactions` at `calibration_end` (`split_periods`) and compute the calibration
    features and each calibration customer's holdout orders and revenue, in the engine `con`
    (default an in-memory DuckDB). Errors as `split_periods`."""
    from segkit.features import customer_features
    from segkit.intake.sources import connect

    if isinstance(transactions, ibis.Table):
        return _engine_periods(transactions, calibration_end, as_of, activity_days, minor_unit)
    con = con or connect()
    split = _split(transactions, calibration_end, as_of)
    rows = split.rows
    refund = rows["refund"].to_numpy(bool)
    rows = rows.drop(columns="refund")
    calibration, holdout, new = rows[split.calibration], rows[split.holdout & ~split.new_rows], split.new
    as_of = split.as_of
    calibration_end = pd.Timestamp(calibration_end).date()
    features = customer_features(con, calibration, calibration_end, activity_days, minor_unit)
    after = None if holdout.empty else customer_features(con, holdout, as_of, activity_days, minor_unit)
    # the refunds of calibration purchases lower the holdout revenue; they are no holdout orders
    bought = holdout[~refund[split.holdout & ~split.new_rows]]
    orders = None if bought.empty else customer_features(con, bought, as_of, activity_days, minor_unit)
    frame = _holdout_figures(features, after, orders)
    late = split.holdout & split.new_rows  # the holdout purchases of customers new in the holdout
    new_revenue = float(pd.to_numeric(rows.loc[late, "amount"]).sum())
    return Periods(features, frame, int(len(new)), new_revenue, calibration_end, as_of)


# The engine's memory for the query started early. At 10M lines (832,387 calibration customers) the
# query alone raised its process's memory by 756 MB at its peak with the engine's usual 1GB, by 507 MB
# with 512MB and by 376 MB with 256MB, in 9.3, 9.1 and 11.7 s (session 19): it runs beside the
# notebook's other cells, whose memory adds to it.
BESIDE_ENGINE_MEMORY = "512MB"


def calibration_periods_soon(transactions: ibis.Table, calibration_end: dt.date, as_of: dt.date | None = None,
                             activity_days: int = 90, minor_unit: int = 2) -> Future:
    """`calibration_periods` of an engine table (e.g. `segkit.stage_table`'s clean transactions, in a
    DuckDB of their own) started now on a thread of its own: a `concurrent.futures.Future` of the
    `Periods` (or of the error), for `next_period_check(periods=...)`. The query runs in the engine,
    which leaves Python free: the evaluation notebook's other cells run meanwhile. `transactions`'
    connection must not be used elsewhere until the future is done."""
    from concurrent.futures import ThreadPoolExecutor

    if not isinstance(transactions, ibis.Table):
        raise TypeError("calibration_periods_soon computes in an engine: pass an ibis.Table")
    if runs_in_duckdb(transactions):  # beside other work: the engine spills sooner
        transactions._find_backend(use_default=True).raw_sql(f"SET memory_limit = '{BESIDE_ENGINE_MEMORY}'")
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="segkit-next-period")
    try:
        return pool.submit(_engine_periods, transactions, calibration_end, as_of, activity_days, minor_unit)
    finally:
        pool.shutdown(wait=False)  # the thread ends with its query


def _holdout_figures(features: pd.DataFrame, after: pd.DataFrame | None,
                     orders: pd.DataFrame | None) -> pd.DataFrame:
    """Per calibration customer (the rows of `features`, in order): customer_id, holdout_orders
    from the holdout features `orders` (of the holdout's purchases) and holdout_revenue from `after`
    (of its purchases and refunds); 0 where the customer did not buy (None: no row at all)."""
    frame = features[["customer_id"]].assign(holdout_orders=0.0, holdout_revenue=0.0)
    # each customer's row by a hash lookup of the ids (a left merge validated one to one took 0.6 s
    # at a million customers; the ids are unique in both, as customer_features makes them)
    for column, source, found_in in (("holdout_orders", "orders", orders), ("holdout_revenue", "revenue", after)):
        if found_in is None:
            continue
        where = pd.Index(found_in["customer_id"]).get_indexer(features["customer_id"])
        found = where >= 0
        values = np.full(len(frame), np.nan)
        values[found] = found_in[source].to_numpy(dtype=float)[where[found]]
        frame[column] = np.nan_to_num(values, nan=0.0)
    return frame


def _engine_periods(table: ibis.Table, calibration_end: dt.date, as_of: dt.date | None, activity_days: int,
                    minor_unit: int) -> Periods:
    """`calibration_periods` where the transactions live (an Ibis table, e.g. the run's
    clean_transactions.parquet read in place): the split, the calibration features, each
    calibration customer's holdout orders and revenue and the customers new in the holdout come
    from one query that reads the lines once (`_both_periods_expr`, on one DuckDB thread), after a
    small one that lists the categories (`segkit.features.category_kinds`: read from the category column alone);
    only one row per calibration customer comes back, sorted by customer_id."""
    missing = [c for c in ("customer_id", "ordered_at", "amount") if c not in table.columns]
    if missing:
        raise DataError(f"the next-period test needs transaction column(s) {', '.join(missing)}")
    calibration_end = pd.Timestamp(calibration_end).date()
    boundary = pd.Timestamp(calibration_end) + pd.Timedelta(days=1)
    given = None if as_of is None else pd.Timestamp(as_of).date()
    if given is not None and given <= calibration_end:
        _no_holdout(table, calibration_end, given)
    if given is None and "returned_at" in table.columns:  # the last purchase; no refund after it
        known = as_known(table, calibration_end)
        last = known.filter(~known.refund).ordered_at.max().to_pyarrow().as_py()
        given = None if last is None else last.date()
    end = None if given is None else pd.Timestamp(given) + pd.Timedelta(days=1)
    kinds = category_kinds(table)
    with _one_thread(table):
        found = _both_periods_expr(table, boundary, end, calibration_end, activity_days, minor_unit, kinds).to_pyarrow()
    if kinds is not None:  # the customers' category masks, counted
        found = found.set_column(found.schema.get_field_index("categories"), "categories",
                                 pa.array(count_bits(found.column("categories").to_numpy())))
    if found.num_rows == 0:  # no calibration customer: the reason, as the checks below would give it
        _no_holdout(table, calibration_end, given)
    totals = {name: found.column(name)[0].as_py() for name in ("_new", "_new_revenue", "_last")}
    as_of = pd.Timestamp(totals["_last"]).date() if given is None else given
    if as_of <= calibration_end:
        _no_holdout(table, calibration_end, as_of)
    frame = _as_features(found.drop_columns(["_new", "_new_revenue", "_last", "holdout_orders", "holdout_revenue"]))
    holdout = frame[["customer_id"]].assign(
        holdout_orders=found.column("holdout_orders").to_numpy().astype(float),
        holdout_revenue=np.nan_to_num(found.column("holdout_revenue").to_numpy(zero_copy_only=False), nan=0.0))
    return Periods(frame, holdout, int(totals["_new"] or 0), float(totals["_new_revenue"] or 0.0),
                   calibration_end, as_of)


@contextmanager
def _one_thread(table: ibis.Table):
    """Run the queries of the block on one DuckDB thread, then restore the thread count of the
    table's connection (another engine: unchanged). At 10M lines the grouping by order built one
    hash table per thread and merged them: one thread took about 250 MB less at its peak and less
    CPU time (5.5 against 6.7 s), for little more wall time on two idle cores and less on busy ones."""
    if not runs_in_duckdb(table):
        yield
        return
    backend = table._find_backend(use_default=True)  # a memtable runs on the default backend
    threads = backend.raw_sql("SELECT current_setting('threads')").fetchall()[0][0]
    backend.raw_sql("SET threads = 1")
    try:
        yield
    finally:
        backend.raw_sql(f"SET threads = {int(threads)}")


def _no_holdout(table: ibis.Table, calibration_end: dt.date, as_of: dt.date | None) -> None:
    """Raise the error that says why `table` has no calibration customer or no holdout period: no
    purchase at all or none by calibration_end (DataError), or as_of (given, or the last purchase)
    not after calibration_end (ParamsError). One scan; only on these error paths."""
    boundary = ibis.timestamp(pd.Timestamp(calibration_end) + pd.Timedelta(days=1))
    ends = table.aggregate(last=table.ordered_at.max(),
                           calibration=table.count(where=table.ordered_at < boundary)).to_pyarrow()
    last, in_calibration = ends.column("last")[0].as_py(), ends.column("calibration")[0].as_py()
    none_before = _none_before(calibration_end)
    if last is None:
        raise DataError(none_before)
    as_of = last.date() if as_of is None else as_of
    if as_of <= calibration_end:
        raise ParamsError(f"evaluate.calibration_end ({calibration_end}) must be before the data's end ({as_of}): "
                          "there is no holdout period to test on")
    raise DataError(none_before)


def _both_periods_expr(table: ibis.Table, boundary: pd.Timestamp, end: pd.Timestamp | None, calibration_end: dt.date,
                       activity_days: int, minor_unit: int, kinds: tuple[str, ...] | None = None) -> ibis.Table:
    """One row per calibration customer from one reading of the lines before `end` (None: every
    dated line): the calibration features of `segkit.features.customer_features_expr` (lines before
    `boundary`, as of `calibration_end`: the same per-order then per-customer sums, an order's lines
    on each side of the boundary counting as an order of that side, as when the two periods are
    split first), holdout_orders and holdout_revenue (lines from `boundary` on; missing where none),
    and three totals on every row: `_new` (customers whose lines are all after the boundary),
    `_new_revenue` (the exact sum of their holdout amounts, and of lines without a customer id,
    which match no calibration customer) and `_last` (the last line). Sorted by customer_id.
    `kinds`: the table's categories (`segkit.features.category_kinds`, at most MASK_CATEGORIES); with them, column
    categories is a bit mask of each customer's calibration categories (bit i: `kinds[i]`), to be
    counted (`segkit.features.count_bits`); without, the count itself."""
    from segkit.features import with_bought_categories, with_derived_features
    from segkit.intake.cleaning import amount_type, exact_amount

    t = as_known(table, calibration_end, None if end is None else (end - pd.Timedelta(days=1)).date())
    dated = t.ordered_at.notnull() if end is None else t.ordered_at < ibis.timestamp(end)
    exact = t.amount if t.amount.type().is_decimal() else exact_amount(t.amount, minor_unit, float("inf"))[0]
    # each category a bit: an order's categories are the OR of its lines' bits, a customer's the OR of
    # their calibration orders' bits; counted once fetched (a distinct of the customers' categories
    # and its join were a quarter of the query)
    refunds = "returned_at" in table.columns  # else no row is a refund: nothing to count apart
    # with returns marked, a category counts where its lines of an order net to more than zero
    netted = refunds and "category" in t.columns
    bit = {} if kinds is None or netted else {"bit": category_bit(t.category, kinds)}
    rows = t.filter(dated).select(
        "customer_id", "ordered_at", order_id=t.order_id if "order_id" in t.columns else ibis.null("string"),
        amount=exact, cast_amount=t.amount.cast(amount_type(minor_unit)),
        held=t.ordered_at >= ibis.timestamp(boundary), **({"refund": t.refund} if refunds else {}),
        **({"category": t.category} if netted else {}), **bit)
    per_order = rows.group_by(["customer_id", "order_id", "held"]).aggregate(
        spend=rows.amount.sum(), cast_spend=rows.cast_amount.sum(), first=rows.ordered_at.min(),
        last=rows.ordered_at.max(), **({"bits": rows.bit.bit_or()} if bit else {}),
        **({"bought": rows.count(where=~rows.refund), "last_bought": rows.ordered_at.max(where=~rows.refund)}
           if refunds else {}))
    # an order of refunds alone (a cancellation that found no purchase) is no order on either side
    purchase = per_order.bought > 0 if refunds else ibis.literal(True)
    before, after = ~per_order.held & purchase, per_order.held
    numbered = per_order.order_id.notnull()
    window_start = ibis.date(calibration_end - dt.timedelta(days=activity_days))
    per_customer = per_order.group_by("customer_id").aggregate(
        orders=per_order.count(where=numbered & before),
        orders_recent=per_order.count(where=numbered & before & (per_order["last"].date() > window_start)),
        revenue=per_order.spend.sum(where=before).cast("float64"),
        first_purchase=per_order["first"].min(where=before).date(),
        last_purchase=per_order["last"].max(where=before).date(),
        known=per_order.count(where=before),
        later=per_order.count(where=after & purchase),
        holdout_orders=per_order.count(where=numbered & after & purchase),
        holdout_revenue=per_order.spend.sum(where=after).cast("float64"),
        cast_spend=per_order.cast_spend.sum(where=after),
        last=(per_order.last_bought if refunds else per_order["last"]).max(),
        **({"categories": per_order.bits.bit_or(where=before).fill_null(0)} if bit else {}))
    if netted:  # the calibration lines' categories bought (net above zero in their order)
        per_customer = with_bought_categories(per_customer, rows.filter(~rows.held), "amount", kinds)
    elif "category" in t.columns and kinds is None:  # too many categories for a bit mask: their own count
        named = t.filter(dated & (t.ordered_at < ibis.timestamp(boundary)) & t.category.notnull()).select(
            "customer_id", "category").distinct()
        counted = named.group_by("customer_id").aggregate(kinds=named.count())
        per_customer = per_customer.left_join(counted, "customer_id").select(
            per_customer, categories=counted.kinds.fill_null(0))
    # lines without a customer id match no calibration customer (as in a join): new revenue, no new customer
    missing_id = per_customer.customer_id.isnull()
    new = (per_customer.known == 0) & (per_customer.later > 0)
    totals = per_customer.mutate(
        _new=(new & ~missing_id).cast("int64").sum().over(),
        _new_revenue=per_customer.cast_spend.sum(where=new | missing_id).over().cast("float64"),
        _last=per_customer["last"].max().over(),
        holdout_orders=ibis.ifelse(missing_id, 0, per_customer.holdout_orders),
        holdout_revenue=ibis.ifelse(missing_id, ibis.null("float64"), per_customer.holdout_revenue))
    kept = with_derived_features(totals.filter(totals.known > 0), calibration_end)
    columns = ["customer_id", "orders", "orders_recent", "revenue", "first_purchase", "last_purchase",
               *(["categories"] if "category" in t.columns else []), "recency_days", "tenure_days",
               "avg_order_value", "interval_days", "holdout_orders", "holdout_revenue", "_new", "_new_revenue", "_last"]
    kept = kept.select(columns)  # the ids as text, sorted as text (whole-number ids are numbers in the engine)
    return kept.mutate(customer_id=kept.customer_id.cast("string")).order_by(ibis.asc("customer_id", nulls_first=False))


def _as_features(found) -> pd.DataFrame:
    """The feature columns of `_both_periods_expr` (an Arrow table) as `segkit.features.customer_features`
    returns them: customer_id as text, whole-number counts as int64, dates as datetime64[s],
    FEATURE_COLUMNS first (Arrow to pandas directly: Ibis turns every column with a missing value
    into Python objects first, seconds at a million customers)."""
    from segkit.features import FEATURE_COLUMNS

    frame = found.to_pandas()
    frame["customer_id"] = frame["customer_id"].astype(str)
    for name in ("first_purchase", "last_purchase"):
        frame[name] = frame[name].astype("datetime64[s]")
    for name in ("orders", "orders_recent", "recency_days", "tenure_days"):
        frame[name] = frame[name].astype("int64")
    ordered = [c for c in FEATURE_COLUMNS if c in frame.columns]
    return frame[ordered + [c for c in frame.columns if c not in ordered]]


def check_classes(periods: Periods, classes: dict, top_share: float = 0.2) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Check classifications of the calibration customers against the holdout: `classes` is
    {scheme name: one class per row of `periods.features`}. Returns (classes table, high-value
    table) as `NextPeriodCheck` describes them (the high-value table starts with the
    calibration-revenue baseline). Raises ParamsError for a top_share outside (0, 1)."""
    if not 0 < top_share < 1:
        raise ParamsError(f"evaluate.top_share must lie strictly between 0 and 1, got {top_share}")
    labels = periods.holdout.assign(revenue=periods.features["revenue"].to_numpy(),
                                    **{name: np.asarray(values) for name, values in classes.items()})
    coded = {s: _codes(labels, s) for s in classes}
    tables = [_class_table(labels, s, coded[s]) for s in classes]
    table = pd.concat(tables, ignore_index=True)[["scheme", "class", "customers", "calibration_revenue", "holdout_revenue",
                                                  "revenue_per_customer", "orders_per_customer", "buyer_share", "lift"]]
    # truly high: the top share by holdout revenue among customers who spent in the holdout
    spent = labels["holdout_revenue"] > 0
    n_top = max(1, int(round(top_share * len(labels))))
    line = labels["holdout_revenue"].nlargest(n_top).min() if spent.any() else np.inf
    actual = (spent & (labels["holdout_revenue"] >= line)).to_numpy()
    baseline = (labels["revenue"] >= labels["revenue"].nlargest(n_top).min()).to_numpy()
    rows = []
    for scheme, predicted, chosen in [("calibration_revenue", baseline, [])] + [
            (s, *_predicted_high(labels, s, top_share, coded[s])) for s in classes]:
        rows.append({"scheme": scheme, "predicted": int(predicted.sum()), "actual": int(actual.sum()),
                     **_precision_recall_f1(actual, predicted), "classes": ", ".join(map(str, chosen))})
    return table, pd.DataFrame(rows)


def _precision_recall_f1(actual: np.ndarray, predicted: np.ndarray) -> dict:
    """Precision, recall and F1 of the boolean `predicted` against `actual`, 0 where undefined: the
    numbers of scikit-learn's precision_score, recall_score and f1_score (zero_division=0), from
    the three counts (scikit-learn checks the label sets with np.unique first: 2 s at a million)."""
    actual, predicted = np.asarray(actual, bool), np.asarray(predicted, bool)
    hits, n_predicted, n_actual = int((actual & predicted).sum()), int(predicted.sum()), int(actual.sum())
    return {"precision": hits / n_predicted if n_predicted else 0.0,
            "recall": hits / n_actual if n_actual else 0.0,
            "f1": 2.0 * hits / (n_actual + n_predicted) if n_actual + n_predicted else 0.0}


def next_period_check(transactions: pd.DataFrame, calibration_end: dt.date, as_of: dt.date | None = None,
                      scorer=5, segment_map="rfm11", class_map="cn8", clusterer=None, top_share: float = 0.2,
                      con=None, activity_days: int = 90, minor_unit: int = 2,
                      random_state: int | None = 0, periods=None) -> NextPeriodCheck:
    """Classes from the calibration period checked against the holdout (see the module).

    `transactions`: clean transactions (customer_id, order_id, ordered_at, amount), a DataFrame;
    `scorer`: an unfitted `RFMScorer` or a number of bins (it is fitted on the calibration
    features); `segment_map`, `class_map`: names or maps, as `segment_customers` takes them;
    `clusterer`: the run's fitted clusterer (refitted on the calibration features with its k), or
    None for no cluster rows. `con`: an Ibis backend (default an in-memory DuckDB). `periods`: the
    `Periods` of these arguments computed already, or a future of them (`calibration_periods_soon`;
    its errors are raised here), instead of computing them from `transactions`.

    Raises ParamsError for a top_share outside (0, 1) or calibration_end not before as_of, and
    DataError when the calibration period has no purchase.
    """
    import copy

    from segkit.classify.rfm import segment_customers

    if not 0 < top_share < 1:
        raise ParamsError(f"evaluate.top_share must lie strictly between 0 and 1, got {top_share}")
    if periods is None:
        periods = calibration_periods(transactions, calibration_end, as_of, con, activity_days, minor_unit)
    elif isinstance(periods, Future):
        periods = periods.result()
    features = periods.features
    fitted = scorer if isinstance(scorer, int) else copy.deepcopy(scorer).fit(features)  # learned on calibration
    segments, _ = segment_customers(features, fitted, segment_map, class_map)
    classes = {"segment": segments["segment"].to_numpy(), "rfm_class": segments["rfm_class"].to_numpy()}
    if clusterer is not None:
        classes["cluster"] = refit_labels(clusterer, features, random_state)
    table, high = check_classes(periods, classes, top_share)
    labels = periods.holdout.assign(revenue=features["revenue"].to_numpy(), **classes)
    return NextPeriodCheck(table, high, labels, int(len(features)), periods.new_in_holdout, periods.new_revenue,
                           periods.calibration_end, periods.as_of, float(top_share), periods)
