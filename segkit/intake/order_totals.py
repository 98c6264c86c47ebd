"""An order's total mapped as each line's amount: the mistake that counts an order's revenue once per line.

A shop export with one line per item often carries the order's total on every line beside the item's
own price (WooCommerce's "Order Total", 有赞's 订单实付金额). Mapped as `amount`, it multiplies each order's
revenue by its number of lines, and nothing in a single row looks wrong. Across the orders it shows:
in an order of several different products, the lines of a real line amount differ now and then; when
they are the same in nearly every such order, the column is probably the order's total. The rows are
kept as they are (a shop whose products all cost the same writes such orders too); 01 says what it
found and what to map instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import pandas as pd

from segkit.intake.engines import to_frame

# Orders of at least two different products (or categories, without a product column) that are needed
# before the share is read, and the share of them whose lines all carry one amount that makes the note:
# real line amounts repeat within an order now and then (two products at one price), not in 90% of orders.
MIN_ORDERS = 20
SAME_SHARE = 0.9
# The orders looked at are those of the file's first lines (by source_row, counted from the table's least: a
# database's rows may be numbered from anywhere): the same in every engine, and a 10M-line table costs what
# 500,000 lines do (0.1-0.5 s on two cores, against 1.6-2.7 s for all of them)
LINES_READ = 500_000


@dataclass(frozen=True)
class FirstOrders:
    """Each order of the first lines of the clean rows, read once for every note about orders (on a database
    `clean` is the whole cleaning query: each query on it cleans again). `per_order`: one row per order_id with
    `least_customer`, `most_customer` (its ids), and, with an item column, over its lines of a positive amount
    and an item: `lines`, `first_item`, `last_item` (least and greatest), `amount`, `least` (greatest and least
    amount). `item`: "product", "category" or None. `first_row`, `read`: the lines looked at are those from
    source_row `first_row` on, `read` of them when the table goes on beyond (None: all of them)."""
    per_order: pd.DataFrame
    item: str | None
    first_row: int | None
    read: int | None

    def lines_of(self, clean: ibis.Table) -> ibis.Table:
        """The lines of `clean` looked at."""
        if self.first_row is None or self.read is None:
            return clean
        return clean.filter(clean.source_row < self.first_row + self.read)


def first_orders(clean: ibis.Table, lines_read: int = LINES_READ) -> FirstOrders | None:
    """The orders of the first `lines_read` lines of `clean` (segkit's clean lines, in the engine), counted
    from its least source_row, as one per-order aggregate (`FirstOrders`); None without an order_id column or
    without rows."""
    if "order_id" not in clean.columns:
        return None
    item = next((c for c in ("product", "category") if c in clean.columns), None)
    first, read, lines = None, None, clean
    if "source_row" in clean.columns:
        bounds = clean.aggregate(first=clean.source_row.min(), last=clean.source_row.max()).to_pyarrow().to_pylist()[0]
        if bounds["first"] is None:
            return None
        first = int(bounds["first"])
        if int(bounds["last"]) >= first + lines_read:
            read = lines_read
            lines = clean.filter(clean.source_row < first + lines_read)
    lines = lines.filter(lines.order_id.notnull())
    # min and max, not counts of distinct values: at 10M lines these take a tenth of the time
    metrics = {"least_customer": lines.customer_id.min(), "most_customer": lines.customer_id.max()}
    if item is not None:
        kept = lines[item].notnull() & (lines.amount > 0)
        # the exact amounts as float64 in the engine: fetched as DECIMAL, Ibis made each a Python Decimal
        # (1.6 of the 3.6 s this took at 10M lines); equal amounts stay equal floats
        metrics.update(lines=lines.count(where=kept), first_item=lines[item].min(where=kept),
                       last_item=lines[item].max(where=kept), amount=lines.amount.max(where=kept).cast("float64"),
                       least=lines.amount.min(where=kept).cast("float64"))
    per_order = to_frame(lines.group_by("order_id").aggregate(**metrics))
    return FirstOrders(per_order, item, first, read)




def repeated_order_total_note(clean: ibis.Table, min_orders: int = MIN_ORDERS, share: float = SAME_SHARE,
                              lines_read: int = LINES_READ, orders: FirstOrders | None = None) -> dict | None:
    """The note `amount_repeats_order_total` when, among the orders of `clean` (segkit's clean lines, in
    the engine) with positive lines of at least two different products (`product`, else `category`),
    at least `min_orders` are found and at least `share` of them have one and the same amount on every
    line: {"key", "orders": those orders, "of": the orders of several products, "order": an example's
    order_id, "lines": its lines, "value": its amount (float, money units), "item": "product" or
    "category"}; only the orders of the first `lines_read` lines are looked at (`first_orders`; `orders`:
    those already read), and when the table goes on beyond them the key is `amount_repeats_order_total_first`
    with "read": `lines_read`. None otherwise, and for a table without order_id or either item column."""
    orders = orders if orders is not None else first_orders(clean, lines_read)
    if orders is None or orders.item is None:
        return None
    per = orders.per_order
    several = per[per["first_item"].notna() & per["last_item"].notna() & (per["first_item"] != per["last_item"])]
    one_amount = several["amount"] == several["least"]
    of, same = len(several), int(one_amount.sum())
    if not of or of < min_orders or same < share * of:
        return None
    example = several[one_amount].sort_values(["lines", "order_id"], ascending=[False, True]).iloc[0]
    beyond = orders.read is not None
    return {"key": "amount_repeats_order_total" + ("_first" if beyond else ""), **({"read": orders.read} if beyond else {}),
            "orders": same, "of": of, "order": str(example["order_id"]),
            "lines": int(example["lines"]), "value": float(example["amount"]), "item": orders.item}
