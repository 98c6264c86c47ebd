"""Cross-sell from a database source: what 01_cleaning computes where the clean rows stay, so that
07_cross_sell can finish per segment in pandas (issue 14).

With `source.kind: database` the clean transactions never leave PostgreSQL, and the segments are
known only in 02_rfm. So 01_cleaning computes, in the database with Ibis, what does not need the
segments and brings back only these per-customer summaries (stages `purchase_items` and
`purchase_baskets`):

- per customer and item: revenue (the exact DECIMAL sum, then a float), lines, orders;
- per customer and basket content: how many of the customer's orders hold exactly that set of items.

From them 07 gets the same category mix, rules (support, confidence, lift) and next best category
as from the clean transactions of a file source: a customer's basket is the union of their items,
an order's basket is one of their basket contents, and a segment's counts are sums over its
customers. The basket contents (not only pair counts) are kept so that rules with two items on the
left (`cross_sell.max_items` 3) come out the same too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import ibis
import numpy as np
import pandas as pd

from segkit.intake import engines as _engines  # (and Ibis' compile options for segkit's queries)

ITEM_COLUMNS = ("category", "product")
ITEM_SUMMARY_COLUMNS = ("customer_id", "item", "revenue", "lines", "orders")
BASKET_SUMMARY_COLUMNS = ("customer_id", "items", "baskets")


@dataclass(frozen=True)
class Purchases:
    """What a customer bought, summarised per customer (no transaction rows), for one `item` column.

    `items`: one row per customer and item (ITEM_SUMMARY_COLUMNS): customer_id (str), item (str,
    trimmed, never blank), revenue (float, the currency's units, net of returns as cleaned), lines
    (transaction lines), orders (orders holding the item). `baskets`: one row per customer and
    basket content (BASKET_SUMMARY_COLUMNS): items (a tuple of distinct items, sorted) and baskets
    (how many of the customer's orders hold exactly these items; an order is `order_id`, or the
    customer's day where the order number is missing, as in `segkit.crosssell.baskets`). `also`: the
    other item columns (of ITEM_COLUMNS) the run's summaries hold items of (`load_purchases`).
    """

    item: str
    items: pd.DataFrame
    baskets: pd.DataFrame
    also: tuple[str, ...] = ()  # the other item columns whose summaries the run saved (with an item)


def purchase_summaries(table: ibis.Table, item: str = "category") -> Purchases:
    """The per-customer summaries of the clean transactions `table` (an Ibis table in its engine:
    customer_id, amount, ordered_at, order_id and the `item` column), computed in that engine; only
    the summaries come back. Rows with a missing or blank item are left out; items are trimmed.

    >>> tx = pd.DataFrame({"customer_id": ["a", "a", "a", "b"], "order_id": ["1", "1", "2", "3"],
    ...                    "ordered_at": pd.to_datetime(["2025-01-01"] * 4), "amount": [10.0, 5.0, 2.0, 4.0],
    ...                    "category": ["x", "y", "x", " x "]})
    >>> found = purchase_summaries(ibis.memtable(tx))
    >>> found.items.to_string(index=False)
    'customer_id item  revenue  lines  orders\\n          a    x     12.0      2       2\\n          a    y      5.0      1       1\\n          b    x      4.0      1       1'
    >>> [(c, list(i), n) for c, i, n in found.baskets.itertuples(index=False)]
    [('a', ['x'], 1), ('a', ['x', 'y'], 1), ('b', ['x'], 1)]
    """
    from segkit.crosssell.category_mix import _check_columns

    _check_columns(table.columns, ("customer_id", "amount", "ordered_at", item), "transactions")
    day = table.ordered_at.date().cast("string")
    order = table.order_id.cast("string").fill_null(day) if "order_id" in table.columns else day
    rows = table.select("customer_id", basket=order, item=table[item].cast("string").strip(), amount=table.amount)
    rows = rows.filter(rows.item.notnull() & (rows.item != ""))
    # one row per order and item first: both summaries start from it, and no COUNT(DISTINCT) is needed
    lines = rows.group_by(["customer_id", "basket", "item"]).aggregate(revenue=rows.amount.sum(),
                                                                         lines=rows.count(where=rows.amount > 0))
    # an item cancelled in full in its basket (its lines net to zero or less) was not bought there
    lines = lines.filter(lines.revenue > 0)
    per_item = lines.group_by(["customer_id", "item"]).aggregate(
        revenue=lines.revenue.sum().cast("float64"), lines=lines.lines.sum(), orders=lines.count())
    # each basket's items in one order, so that equal contents group together; Spark cannot order
    # inside an aggregation: there the collected array is sorted afterwards (sort_array)
    spark = getattr(table.get_backend(), "name", None) == "pyspark"
    collected = lines.item.collect().sort() if spark else lines.item.collect(order_by=lines.item)
    contents = lines.group_by(["customer_id", "basket"]).aggregate(items=collected)
    per_content = contents.group_by(["customer_id", "items"]).aggregate(baskets=contents.count())
    # grouped by the ids as the engine keeps them (whole numbers: faster), then made text
    items = _engines.text_ids(per_item, ("customer_id",)).to_pyarrow().to_pandas()
    baskets = _engines.text_ids(per_content, ("customer_id",)).to_pyarrow().to_pandas()
    return Purchases(item, _typed_items(items), _typed_baskets(baskets))


def _typed_items(items: pd.DataFrame) -> pd.DataFrame:
    frame = items.astype({"customer_id": str, "item": str, "revenue": "float64", "lines": "int64", "orders": "int64"})
    return frame.sort_values(["customer_id", "item"], kind="stable").reset_index(drop=True)[list(ITEM_SUMMARY_COLUMNS)]


def _typed_baskets(baskets: pd.DataFrame) -> pd.DataFrame:
    frame = baskets.assign(customer_id=baskets["customer_id"].astype(str),
                           items=[tuple(sorted(map(str, items))) for items in baskets["items"]],
                           baskets=baskets["baskets"].astype("int64"))
    frame = frame.assign(_key=frame["items"].map("\x1f".join))
    frame = frame.sort_values(["customer_id", "_key"], kind="stable").drop(columns="_key")
    return frame.reset_index(drop=True)[list(BASKET_SUMMARY_COLUMNS)]


def save_purchase_summaries(data_dir: str | Path, table: ibis.Table | None) -> None:
    """Save the summaries of every item column the clean `table` has (category, product) as the run's
    `purchase_items` and `purchase_baskets` stages, each row with its `item_column`; with `table`
    None (the clean rows are saved as a file) remove them, so that an earlier database run's do not
    linger. Called by `segkit.intake.cleaning.clean_and_save` for a database source."""
    from segkit.store import save_stage

    if table is None:
        save_stage(data_dir, purchase_items=None, purchase_baskets=None)
        return
    found = [purchase_summaries(table, column) for column in ITEM_COLUMNS if column in table.columns]
    items = [f.items.assign(item_column=f.item) for f in found]
    baskets = [f.baskets.assign(items=f.baskets["items"].map(list), item_column=f.item) for f in found]
    save_stage(data_dir,
               purchase_items=pd.concat(items, ignore_index=True) if items else _empty_items().assign(item_column=""),
               purchase_baskets=(pd.concat(baskets, ignore_index=True) if baskets
                                 else pd.DataFrame({"customer_id": [], "items": [], "baskets": [], "item_column": []})))


def load_purchases(data_dir: str | Path, item: str = "category") -> ibis.Table | Purchases | None:
    """What 07_cross_sell reads: the clean transactions (`clean_transactions` stage) where the run kept
    them, read in place by the embedded engine (a lazy `ibis.Table`, `segkit.stage_table`: the rows
    are never loaded into pandas), else a database source's per-customer summaries of `item`
    (`Purchases`, saved by 01_cleaning; empty when the table has no such column), else None (a run
    from before the summaries existed). Every `segkit.crosssell` function that takes transactions
    takes either."""
    from segkit.store import load_stage, stage_table

    transactions = stage_table(data_dir, "clean_transactions", optional=True)
    if transactions is not None:
        return transactions
    items = load_stage(data_dir, "purchase_items", optional=True)
    baskets = load_stage(data_dir, "purchase_baskets", optional=True)
    if items is None or baskets is None:
        return None
    also = tuple(sorted(set(items["item_column"]) - {item}))
    items = items[items["item_column"] == item].drop(columns="item_column")
    baskets = baskets[baskets["item_column"] == item].drop(columns="item_column")
    return Purchases(item, _typed_items(items) if len(items) else _empty_items(),
                     _typed_baskets(baskets) if len(baskets) else _empty_baskets(), also)


def _empty_items() -> pd.DataFrame:
    return pd.DataFrame({"customer_id": pd.Series(dtype=str), "item": pd.Series(dtype=str),
                         "revenue": pd.Series(dtype="float64"), "lines": pd.Series(dtype="int64"),
                         "orders": pd.Series(dtype="int64")})


def _empty_baskets() -> pd.DataFrame:
    return pd.DataFrame({"customer_id": pd.Series(dtype=str), "items": pd.Series(dtype=object),
                         "baskets": pd.Series(dtype="int64")})


def mix_from_summaries(purchases: Purchases, segments: pd.DataFrame, by: str = "segment") -> pd.DataFrame:
    """`category_mix` from the per-customer summaries: the same columns and numbers (sums of the
    customers' sums; a buyer is a customer with a row for the item). Not called directly: pass a
    `Purchases` to `category_mix`."""
    from segkit.crosssell.category_mix import _check_columns, _finish_mix

    _check_columns(segments.columns, ("customer_id", by), "segments")
    groups = (segments[["customer_id", by]].dropna().astype({"customer_id": str, by: str})
              .rename(columns={by: "group"}))
    rows = purchases.items.merge(groups, on="customer_id", how="inner")
    per_group = rows.groupby("group").agg(customers=("customer_id", "nunique"), group_revenue=("revenue", "sum"))
    cells = rows.groupby(["group", "item"]).agg(buyers=("customer_id", "size"), revenue=("revenue", "sum"))
    overall = rows.groupby("item").agg(all_buyers=("customer_id", "size"), all_revenue=("revenue", "sum"))
    frame = (cells.reset_index().merge(per_group.reset_index(), on="group").merge(overall.reset_index(), on="item")
             .assign(all_customers=rows["customer_id"].nunique(), total_revenue=rows["revenue"].sum()))
    return _finish_mix(frame, purchases.item)


def basket_items_from_summaries(purchases: Purchases, basket: str = "customer") -> pd.DataFrame:
    """`baskets` from the per-customer summaries: basket_id, customer_id, item, one row per basket and
    item. A customer's basket is the union of their items (basket_id: the customer); an order's
    baskets are rebuilt from the basket contents, each content as many times as the customer had
    such orders (basket_id: customer|n, since the order numbers stayed in the database). Rules and
    next best category count baskets, never name them, so they come out as from the transactions."""
    if basket == "customer":
        rows = purchases.items[["customer_id", "item"]].assign(basket_id=purchases.items["customer_id"])
    else:
        contents = purchases.baskets
        repeated = contents.loc[np.repeat(contents.index.to_numpy(), contents["baskets"].to_numpy())]
        number = repeated.groupby("customer_id", sort=False).cumcount().astype(str)
        rows = (repeated.assign(basket_id=repeated["customer_id"] + "|" + number.to_numpy())
                .explode("items").rename(columns={"items": "item"}))
    rows = rows[["basket_id", "customer_id", "item"]].astype(str)
    return rows.sort_values(["basket_id", "item"], kind="stable").reset_index(drop=True)
