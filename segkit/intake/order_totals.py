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

import ibis

# Orders of at least two different products (or categories, without a product column) that are needed
# before the share is read, and the share of them whose lines all carry one amount that makes the note:
# real line amounts repeat within an order now and then (two products at one price), not in 90% of orders.
MIN_ORDERS = 20
SAME_SHARE = 0.9
# The orders looked at are those of the file's first lines (by source_row): the same in every engine, and a
# 10M-line table costs what 500,000 lines do (0.1-0.5 s on two cores, against 1.6-2.7 s for all of them)
LINES_READ = 500_000


def repeated_order_total_note(clean: ibis.Table, min_orders: int = MIN_ORDERS, share: float = SAME_SHARE,
                              lines_read: int = LINES_READ) -> dict | None:
    """The note `amount_repeats_order_total` when, among the orders of `clean` (segkit's clean lines, in
    the engine) with positive lines of at least two different products (`product`, else `category`),
    at least `min_orders` are found and at least `share` of them have one and the same amount on every
    line: {"key", "orders": those orders, "of": the orders of several products, "order": an example's
    order_id, "lines": its lines, "value": its amount (float, money units), "item": "product" or
    "category"}; only the lines of source_row at most `lines_read` are looked at, and when the table
    goes on beyond them the key is `amount_repeats_order_total_first` with "read": `lines_read`. None
    otherwise, and for a table without order_id or either item column."""
    item = next((c for c in ("product", "category") if c in clean.columns), None)
    if item is None or "order_id" not in clean.columns:
        return None
    lines = clean.filter(clean.order_id.notnull() & clean[item].notnull() & (clean.amount > 0))
    if "source_row" in clean.columns:
        lines = lines.filter(lines.source_row <= lines_read)
    # min and max, not counts of distinct values: at 10M lines these take a tenth of the time
    orders = lines.group_by("order_id").aggregate(
        lines=lines.count(), first_item=lines[item].min(), last_item=lines[item].max(),
        amount=lines.amount.max(), least=lines.amount.min())
    several = orders.filter(orders.first_item != orders.last_item)
    one_amount = several.amount == several.least
    counted = several.aggregate(of=several.count(), same=one_amount.cast("int64").sum()).to_pyarrow()
    of, same = counted["of"][0].as_py() or 0, counted["same"][0].as_py() or 0
    if of < min_orders or same < share * of:
        return None
    example = (several.filter(one_amount).order_by([ibis.desc("lines"), "order_id"]).limit(1)
               .to_pyarrow().to_pylist()[0])
    beyond = "source_row" in clean.columns and (clean.source_row.max().to_pyarrow().as_py() or 0) > lines_read
    return {"key": "amount_repeats_order_total" + ("_first" if beyond else ""), **({"read": lines_read} if beyond else {}),
            "orders": int(same), "of": int(of), "order": str(example["order_id"]),
            "lines": int(example["lines"]), "value": float(example["amount"]), "item": item}
