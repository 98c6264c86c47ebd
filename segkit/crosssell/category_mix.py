"""What each segment buys: the category (or product) mix per segment, computed in the engine.

The clean transactions stay in DuckDB (or wherever they live): they are summed there per customer
and item (`customer_items`, kept for the last engine table, as 07_cross_sell asks four questions of
one table), and only that summary comes back to Python, where the counts per group are integer
code counts.
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd

from segkit.crosssell.summaries import Purchases, mix_from_summaries
from segkit.errors import DataError

MIX_COLUMNS = ("group", "item", "customers", "buyers", "buyer_share", "revenue", "revenue_share", "index",
               "revenue_index")


def _engine_table(transactions: pd.DataFrame | ibis.Table) -> ibis.Table:
    return ibis.memtable(transactions) if isinstance(transactions, pd.DataFrame) else transactions


def _check_columns(columns, needed, what: str) -> None:
    missing = [c for c in needed if c not in columns]
    if missing:
        raise DataError(f"{what} has no {', '.join(missing)} column; "
                        + ("map it in source.transactions.columns (or set cross_sell.item)"
                           if what == "transactions" else "run 02_rfm first (it writes the segments stage)"))


def category_mix(transactions: pd.DataFrame | ibis.Table | Purchases, segments: pd.DataFrame, by: str = "segment",
                 item: str = "category", con: ibis.BaseBackend | None = None) -> pd.DataFrame:
    """The item mix of each group of customers: who buys each category, and what share of revenue it brings.

    `transactions`: the clean transactions (customer_id, amount and the `item` column), a DataFrame or
    an engine table, or a database source's per-customer summaries of them (`Purchases`, from
    `load_purchases`; the same result); `segments`: one row per customer with customer_id and the
    `by` column (segment, rfm_class, cluster_name...). Customers without a group are left out. One row per group and item:

    - `customers`: customers in the group (with a purchase); `buyers`: those who bought the item;
    - `buyer_share` = buyers / customers; `revenue`: the group's spend on the item (net of returns);
      `revenue_share`: that over the group's total spend;
    - `index` = 100 × buyer_share / (the share of all customers who bought the item): 120 means the
      group is 20% more likely than the average customer to buy it; `revenue_index` the same for
      revenue_share. (The "index" of market-research cross-tabs, as in a TGI/MRI profile.)

    Missing or blank items are not counted; items are trimmed; a sum of nothing but missing amounts is
    missing. A customer listed in two groups counts in both, and once among all customers. Raises
    DataError when a column is missing.

    >>> tx = pd.DataFrame({"customer_id": ["a", "a", "b", "c"], "category": ["x", "y", "x", "y"],
    ...                    "amount": [10.0, 30.0, 20.0, 5.0]})
    >>> seg = pd.DataFrame({"customer_id": ["a", "b", "c"], "segment": ["s1", "s1", "s2"]})
    >>> mix = category_mix(tx, seg)
    >>> mix[["group", "item", "buyers", "buyer_share", "index"]].to_string(index=False)
    'group item  buyers  buyer_share  index\\n   s1    x       2          1.0  150.0\\n   s1    y       1          0.5   75.0\\n   s2    y       1          1.0  150.0'
    """
    if isinstance(transactions, Purchases):  # a database source's per-customer summaries (01_cleaning)
        _same_item(transactions, item)
        return mix_from_summaries(transactions, segments, by)
    table = _engine_table(transactions)
    _check_columns(table.columns, ("customer_id", "amount", item), "transactions")
    _check_columns(segments.columns, ("customer_id", by), "segments")
    # one row per customer and group (a customer listed twice in one group counts once)
    groups = segments[["customer_id", by]].dropna().astype({"customer_id": str, by: str}).rename(columns={by: "group"})
    # the rows summed per customer and item first (once per engine table: `customer_items`)
    items = customer_items(table, item, cache=not isinstance(transactions, pd.DataFrame))
    run = con if (con is not None and isinstance(transactions, pd.DataFrame)) else None
    # the rows in memory or in the embedded engine: the customer items come to Python and are
    # counted as integer codes where each customer is in one group; else (a database, Spark; a
    # customer in two groups) the counts per group and item are computed in the engine
    if isinstance(transactions, pd.DataFrame) or _backend_name(table) == "duckdb":
        found = _mix_from_codes(_coded_items(items, run), groups)
        if found is not None:
            return _finish_mix(found, item)
    return _finish_mix(_engine_mix(items, groups.drop_duplicates(), run), item)


# the last engine table's `customer_items`, materialised in its engine: 07_cross_sell asks for the
# segment mix, the class mix, the distinguishing items and the customer baskets of one table
_CACHED: dict = {}


def customer_items(table: ibis.Table, item: str = "category", cache: bool = True) -> ibis.Table:
    """One row per customer and item of the clean transactions `table` (an engine table with
    customer_id, the `item` column and, where present, amount): customer_id (string), item (string,
    trimmed; missing and blank items left out) and revenue (the sum of amount, float; missing when
    the table has no amount column). An item whose lines net to zero or less (returned in full) is
    left out: it was not bought. A lazy table in `table`'s engine.

    With `cache` and a DuckDB table, the result is materialised there once (ibis `Table.cache`) and
    kept for the last table and item asked, so that the mixes and the customer baskets of one table
    read the transaction lines once. A table read again (`load_purchases`, `segkit.stage_table`) is a
    new table, so a rewritten file is never answered from the cache.
    """
    key = (table.op(), item)
    if cache and key in _CACHED:
        return _CACHED[key]
    amount = table.amount.cast("float64") if "amount" in table.columns else ibis.null("float64")
    rows = table.select("customer_id", item=table[item].cast("string").strip(), amount=amount)
    rows = rows.filter(rows.item.notnull() & (rows.item != ""))
    summed = rows.group_by(["customer_id", "item"]).aggregate(revenue=rows.amount.sum())
    # grouped by the ids as the engine keeps them (whole numbers: faster), then made text
    summed = summed.mutate(customer_id=summed.customer_id.cast("string"))
    # an item whose purchases were cancelled in full (returns netted to zero or less) was not bought
    summed = summed.filter(summed.revenue.isnull() | (summed.revenue > 0))
    if not (cache and _backend_name(table) == "duckdb"):
        return summed
    _CACHED.clear()
    # kept in customer order: the segments stage is in that order too, and looking its customers
    # up in an Index of the same ids in the same order is a comparison, not a hash of each id
    _CACHED[key] = summed.order_by("customer_id").cache()
    return _CACHED[key]


def forget_cached() -> None:
    """Drop the customer items `customer_items` keeps and their integer codes (`_coded_items`): a
    kernel handed to the next notebook frees them."""
    _CACHED.clear()
    _CODES.clear()


def is_cached(items: ibis.Table) -> bool:
    """Whether `items` is the customer items `customer_items` keeps materialised (a DuckDB table)."""
    return any(items is cached for cached in _CACHED.values())


def _backend_name(table: ibis.Table) -> str | None:
    try:
        return table.get_backend().name
    except Exception:  # noqa: BLE001 - an unbound table (a memtable) has no backend yet
        return None


def _engine_mix(items: ibis.Table, groups: pd.DataFrame, con: ibis.BaseBackend | None) -> pd.DataFrame:
    """`category_mix`'s counts and sums per group and item, computed in the engine from the customer
    items (`customer_items`) and the groups (customer_id, group; a customer may be in several)."""
    groups = ibis.memtable(groups)
    # each row of `items` is one buyer: plain counts, not COUNT(DISTINCT) over every transaction line
    rows = items.join(groups, "customer_id")
    cells = rows.group_by(["group", "item"]).aggregate(buyers=rows.count(), revenue=rows.revenue.sum())
    spend = items.group_by("customer_id").aggregate(spend=items.revenue.sum())
    buyers = spend.join(groups, "customer_id")
    per_group = buyers.group_by("group").aggregate(customers=buyers.count(), group_revenue=buyers.spend.sum())
    # the whole: each customer with a group once, whatever groups they are in
    grouped = groups.select("customer_id").distinct()
    in_any = items.semi_join(grouped, "customer_id")
    overall = in_any.group_by("item").aggregate(all_buyers=in_any.count(), all_revenue=in_any.revenue.sum())
    spenders = spend.semi_join(grouped, "customer_id")
    totals = spenders.aggregate(all_customers=spenders.count(), total_revenue=spenders.spend.sum())
    expr = cells.join(per_group, "group").join(overall, "item").cross_join(totals)
    return con.to_pandas(expr) if con is not None else expr.to_pandas()


_CODES: dict = {}  # the integer codes of the cached customer items (`_coded_items`), one entry


def _coded_items(items: ibis.Table, con: ibis.BaseBackend | None):
    """The customer items as arrays: (customer, item, revenue, customer_names, item_names): a code
    per row into the distinct customer ids (a pandas Index) and the sorted item names, and revenue
    (NaN where missing). Kept with the cached table it comes from (`customer_items`)."""
    key = items.op()
    if key in _CODES:
        return _CODES[key]
    frame = con.to_pandas(items) if con is not None else items.to_pandas()
    customer, customer_names = factorize(frame["customer_id"])
    item, item_names = pd.factorize(frame["item"], sort=True)
    coded = (customer, item, frame["revenue"].to_numpy(dtype="float64", na_value=np.nan),
             pd.Index(customer_names), [str(i) for i in item_names])
    if is_cached(items):
        _CODES.clear()
        _CODES[key] = coded
    return coded


def _mix_from_codes(coded, groups: pd.DataFrame) -> pd.DataFrame | None:
    """`_engine_mix` by counting integer codes (np.bincount) instead of joining strings: the same
    counts, and sums (missing amounts left out; a sum of nothing but missing amounts is missing, as
    in SQL). None when a customer with purchases is in `groups` twice (the engine then counts them)."""
    customer, item, revenue, customer_names, item_names = coded
    group_codes, group_names = pd.factorize(groups["group"], sort=True)
    where = _positions(customer_names, groups["customer_id"])  # the ids are unique: never None
    if len(where) and np.bincount(where[where >= 0], minlength=1).max() > 1:
        return None
    group_of = np.full(len(customer_names), -1, dtype="int64")
    group_of[where[where >= 0]] = group_codes[where >= 0]
    row_group = group_of[customer] if len(customer) else np.zeros(0, dtype="int64")
    inside = row_group >= 0
    n_groups, n_items = len(group_names), len(item_names)
    cell = row_group[inside] * n_items + item[inside]
    amounts = revenue[inside]
    known = None if not np.isnan(amounts).any() else ~np.isnan(amounts)  # None: no amount is missing
    buyers = np.bincount(cell, minlength=n_groups * n_items)
    in_group = group_of >= 0
    customers = np.bincount(group_of[in_group], minlength=n_groups)
    revenue_cell = _sql_sum(cell, amounts, n_groups * n_items, known)
    revenue_group = _sql_sum(row_group[inside], amounts, n_groups, known)
    all_buyers = np.bincount(item[inside], minlength=n_items)
    all_revenue = _sql_sum(item[inside], amounts, n_items, known)
    total = _sql_sum(np.zeros(len(amounts), dtype="int64"), amounts, 1, known)[0]
    found = np.flatnonzero(buyers > 0)
    g, i = found // n_items, found % n_items
    names = np.asarray([str(n) for n in group_names], dtype=object)
    return pd.DataFrame({
        "group": pd.array(names[g], dtype="str"), "item": pd.array(np.asarray(item_names, dtype=object)[i], dtype="str"),
        "buyers": buyers[found], "revenue": revenue_cell[found], "customers": customers[g],
        "group_revenue": revenue_group[g], "all_buyers": all_buyers[i], "all_revenue": all_revenue[i],
        "all_customers": int(in_group.sum()), "total_revenue": total,
    })


def factorize(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """`pd.factorize(values)` (codes, uniques in order of appearance), without hashing each value when
    `values` are already sorted (the customer items and the baskets come sorted from the engine):
    then a code is the number of changes before the row. Missing values: -1, as pd.factorize."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array = values.array
    arrow = array.__arrow_array__() if hasattr(array, "__arrow_array__") and len(values) > 1 else None
    if isinstance(arrow, pa.ChunkedArray):
        arrow = arrow.combine_chunks()
    if arrow is None or arrow.null_count or not pa.types.is_string(arrow.type) and not pa.types.is_large_string(arrow.type):
        codes, uniques = pd.factorize(values)
        return codes, pd.Index(uniques)
    later, earlier = arrow.slice(1), arrow.slice(0, len(arrow) - 1)
    if not pc.all(pc.greater_equal(later, earlier)).as_py():
        codes, uniques = pd.factorize(values)
        return codes, pd.Index(uniques)
    starts = np.concatenate([[True], pc.not_equal(later, earlier).to_numpy(zero_copy_only=False)])
    return np.cumsum(starts) - 1, pd.Index(values.iloc[np.flatnonzero(starts)].array)


def _positions(keys: pd.Series, values: pd.Index) -> np.ndarray | None:
    """The position of each of `values` in `keys` (-1: not there), as `pd.Index(keys).get_indexer`;
    None when `keys` holds an id twice. Where `keys` are `values` (the same ids in the same order, as
    the segments and the sorted baskets of a run are) found by one comparison, not by hashing a
    million ids twice."""
    import pyarrow as pa
    import pyarrow.compute as pc

    left, right = keys.array, values.array
    if len(left) == len(right) and len(left) and hasattr(left, "__arrow_array__") and hasattr(right, "__arrow_array__"):
        left, right = left.__arrow_array__(), right.__arrow_array__()
        text = pa.types.is_string(left.type) or pa.types.is_large_string(left.type)
        if text and left.type == right.type and not left.null_count and not right.null_count:
            if pc.all(pc.equal(left, right)).as_py():
                return np.arange(len(values), dtype="int64")
    index = pd.Index(keys)
    if not index.is_unique:
        return None
    return index.get_indexer(values)


def _sql_sum(codes: np.ndarray, values: np.ndarray, size: int, known: np.ndarray | None) -> np.ndarray:
    """Sums of `values` per code (0..size-1) as SQL's SUM: missing values left out (`known`: the
    values not missing, None when none is), NaN where a code has no value at all."""
    if known is not None:
        codes, values = codes[known], values[known]
    sums = np.bincount(codes, weights=values, minlength=size).astype("float64")
    sums[np.bincount(codes, minlength=size) == 0] = np.nan
    return sums


def _same_item(purchases: Purchases, item: str) -> None:
    if purchases.item != item:
        raise ValueError(f"item={item!r}, but the summaries are of {purchases.item!r}: load them with "
                         f"load_purchases(data_dir, {item!r})")


def _finish_mix(frame: pd.DataFrame, item: str) -> pd.DataFrame:
    """The shares and indexes of `category_mix` from its counts and sums per group and item."""
    if frame.empty:
        raise DataError(f"no transaction has both a {item} and a customer in the segments: check the {item} "
                        "column and that 02_rfm ran on the same data")
    frame = frame.copy()
    frame["buyer_share"] = frame["buyers"] / frame["customers"]
    frame["revenue_share"] = frame["revenue"] / frame["group_revenue"]
    frame["index"] = 100 * frame["buyer_share"] / (frame["all_buyers"] / frame["all_customers"])
    frame["revenue_index"] = 100 * frame["revenue_share"] / (frame["all_revenue"] / frame["total_revenue"])
    for name in ("customers", "buyers"):
        frame[name] = frame[name].astype("int64")
    frame = frame.sort_values(["group", "item"], kind="stable").reset_index(drop=True)
    return frame[list(MIX_COLUMNS)]


def mix_matrix(mix: pd.DataFrame, measure: str = "index", order=None) -> pd.DataFrame:
    """`category_mix` as a matrix: one row per group (in `order` where given), one column per item,
    values of `measure` (index, buyer_share, revenue_share, revenue_index); 0 buyers: 0 (index) or 0."""
    if measure not in MIX_COLUMNS[4:] and measure != "buyer_share":
        raise ValueError(f"measure must be one of buyer_share, revenue_share, index, revenue_index, got {measure!r}")
    matrix = mix.pivot(index="group", columns="item", values=measure).fillna(0.0)
    if order is not None:
        matrix = matrix.reindex([g for g in order if g in matrix.index])
    return matrix


def distinguishing_items(transactions: pd.DataFrame | ibis.Table | Purchases, segments: pd.DataFrame, codes,
                         by: str = "segment", item: str = "category", top: int = 5, con: ibis.BaseBackend | None = None) -> pd.DataFrame:
    """The items that most set the customers of `codes` (e.g. the valuable segments) apart from all
    customers: `category_mix` with those customers as one group, sorted by index (highest first),
    at most `top` rows: item, buyers, buyer_share, index, revenue_share, revenue_index. Empty when
    no customer is in `codes`."""
    codes = set(codes)
    inside = segments[["customer_id"]].assign(group=segments[by].isin(codes).map({True: "in", False: "out"}))
    if not (inside["group"] == "in").any():
        return pd.DataFrame(columns=["item", "buyers", "buyer_share", "index", "revenue_share", "revenue_index"])
    mix = category_mix(transactions, inside, by="group", item=item, con=con)
    chosen = mix[mix["group"] == "in"].sort_values(["index", "item"], ascending=[False, True], kind="stable")
    return chosen[["item", "buyers", "buyer_share", "index", "revenue_share", "revenue_index"]].head(top).reset_index(drop=True)
