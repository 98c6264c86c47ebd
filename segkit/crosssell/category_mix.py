"""What each segment buys: the category (or product) mix per segment, computed in the engine.

The clean transactions stay in DuckDB (or wherever they live); only one row per group and
category comes back to Python.
"""

from __future__ import annotations

import ibis
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

    Missing or blank items are not counted; items are trimmed. Raises DataError when a column is missing.

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
    groups = ibis.memtable(segments[["customer_id", by]].dropna().astype({"customer_id": str, by: str})
                           .rename(columns={by: "group"}))
    # trimmed, as in the baskets: " toys" and "toys" are one item
    rows = table.select(customer_id=table.customer_id.cast("string"), item=table[item].cast("string").strip(),
                        amount=table.amount.cast("float64"))
    rows = rows.filter(rows.item.notnull() & (rows.item != ""))
    rows = rows.join(groups, "customer_id")
    per_group = rows.group_by("group").aggregate(customers=rows.customer_id.nunique(), group_revenue=rows.amount.sum())
    cells = rows.group_by(["group", "item"]).aggregate(buyers=rows.customer_id.nunique(), revenue=rows.amount.sum())
    overall = rows.group_by("item").aggregate(all_buyers=rows.customer_id.nunique(), all_revenue=rows.amount.sum())
    totals = rows.aggregate(all_customers=rows.customer_id.nunique(), total_revenue=rows.amount.sum())
    expr = cells.join(per_group, "group").join(overall, "item").cross_join(totals)
    run = con.to_pandas if (con is not None and isinstance(transactions, pd.DataFrame)) else (lambda e: e.to_pandas())
    return _finish_mix(run(expr), item)


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
