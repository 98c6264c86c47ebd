"""Returns and cancellations: each one netted into the purchase it cancels, and the customers that
netting leaves at zero or below set aside from scoring, counted in a customer ledger.

Computed in the engine that holds the rows (DuckDB for files, PostgreSQL in place), as joins and
window functions over the judged rows; nothing loops over rows in Python.

A cancellation line finds its purchase (`cleaning.returns.match`):

- `order_number`: the customer's order with the same number (the prefix removed);
- `product`: for exports where a cancellation is a document with its own number (`C536379` in the
  UCI Online Retail data set: negative quantity, same customer, product and unit price as an
  earlier invoice), the customer's purchase line of the same product dated on or before the
  cancellation's day. Of those, the first by: the same amount (in size: the same quantity at the
  same price), then an amount at least as large (a partial cancellation fits in it), then the same
  unit price (where the data have one), then the latest, then the latest line. Several
  cancellations may reduce one purchase line; a cancellation is never split across lines.

Netted (`action: net`), a cancellation keeps its own line (and amount, made negative) and takes
the order number and date of the purchase it cancels, so it never counts as an order and never
moves recency, for every reader of the clean rows (features, the repeat-buying summary, monthly
activity). Its own document and date stay in `return_document` and `returned_at`. A cancellation
that finds no purchase in the data (it cancels one from before the extract) still reduces revenue:
it is netted into the customer's first purchase and counted apart (`return_match: unmatched`).
One whose purchase is in the data but was set aside, for what it holds (an unreadable amount) or by
an order-level rule (its order never paid, `unpaid_order`; refunded by its status on every line,
`refunded_order`), is set aside with it (`return_of_set_aside`), not netted into the customer's
other purchases; so is the refund line of a line its status marks as refunded and set aside as the
purchase itself (the same order, and the same product, or the same amount where the refund line has
no product), where the rest of its order stays; such a line takes no refund of another order.

An order cancelled in full (`refunded_order`: its lines, cancellations netted in, sum to exactly
zero, and a cancellation found it by its number or product) was never a purchase: with
`refunded_orders: set_aside` (the default) its purchase lines and their cancellations are set aside
together, so it counts as no order, dates no purchase and starts no customer for every reader of
the clean rows, and revenue is unchanged (they net to zero). An order cancelled in part stays, at
its net amount. A cancellation that finds no purchase is netted into the customer's first purchase
that stays (one cancelled in full is none); with nothing left, it stays alone (`no_purchase`). With
`refunded_orders: keep` an order cancelled in full stays as a purchase of zero.

With `action: drop` the cancellations are set aside (rule `return`) and the purchases stay; the
same matching then tells how much of the cancelled revenue the purchases kept.

A customer whose revenue after netting is below zero (`net_negative`), exactly zero (`net_zero`:
amounts are exact decimals, so a fully cancelled purchase nets to 0, not -2e-13), or who has no
purchase line left (`no_purchase`: only cancellations) is set aside from scoring
(`net_negative: set_aside`, the default) or, with `net_negative: floor`, scored with revenue 0
(`no_purchase` customers are always set aside: there is nothing to score).
"""

from __future__ import annotations

import ibis
import pandas as pd
import pyarrow as pa

from segkit.errors import DataError
from segkit.intake.engines import to_frame

MATCHES = ("order_number", "product", "unmatched")
# Words of a status that look like a refund or return, or like an order never paid (cancelled,
# pending), compared as parts of the status in lower case: the one home of these lists. A status
# column mapped without the status lists (or with a status neither names) is noted with the statuses
# holding these first (`segkit.intake.cleaning`), as the likely values for
# `cleaning.returns.status_values` and `cleaning.unpaid_status_values`.
REFUND_STATUS_WORDS = ("refund", "return", "chargeback", "reversed", "退款", "退货", "退單", "退单", "退貨")
UNPAID_STATUS_WORDS = ("cancel", "unpaid", "not paid", "pending", "awaiting payment", "void", "failed",
                       "取消", "未付", "待付", "未支付", "待支付", "交易关闭", "交易關閉", "已关闭", "已關閉", "付款失败")
# columns the clean rows carry when returns are marked (null on purchase lines)
RETURN_COLUMNS = ("return_match", "return_of", "return_document", "returned_at")
CUSTOMER_RULES = ("net_negative", "net_zero", "no_purchase")
CUSTOMER_OUTCOMES = ("scored", "floored", "set_aside")


def net_returns(judged: ibis.Table, action: str = "net", match: str = "order_number",
                order_prefix: str | None = None, refunded_orders: str = "set_aside") -> ibis.Table:
    """Match each cancellation line of `judged` to the purchase it cancels (see the module
    docstring for the rule) and, with `action="net"`, net it there.

    `judged` has one row per input row with source_row, customer_id, order_id, ordered_at, amount
    (product and unit_price where mapped), `reason` (null on rows used) and `_return` (the line
    is marked as a return); `_return_document`, the line's order number as given. Cancellations are the
    rows marked and used (`net`) or set aside as `return` (`drop`); purchases are the other rows
    used. Returns the same rows with `return_match` (order_number, product, unmatched; null for
    other rows), `return_of` (the source_row of the purchase line, for product matches),
    `return_document` and `returned_at` (the cancellation's own order number and date); with
    `net`, a cancellation's order_id and ordered_at become those of its purchase (unmatched: the
    customer's first purchase; none: its own). With `action="net"` and `refunded_orders="set_aside"`,
    the lines of each order cancelled in full (its purchase lines and the cancellations matched to
    it sum to exactly zero) get `reason` "refunded_order" and its `detail`, and an unmatched
    cancellation is netted into the customer's first purchase that is not one of those. With `net`,
    a line its status marks as refunded at its amount as bought (`_return_own`) that has no purchase
    line to be a refund record of is set aside first (`_cancelled_by_status`). Lazy; raises
    DataError when `match="product"` and the product column is not mapped.
    """
    t = judged
    if action == "net" and "_return_own" in t.columns:
        t = _cancelled_by_status(t)
    if match == "product" and "product" not in t.columns:
        raise DataError("cleaning.returns.match: product needs the product column: map it in the column map "
                        "(columns: {product: <your column, e.g. StockCode>}), or use match: order_number")
    used = t.reason.isnull()
    cancel_rows = (t._return & used) if action == "net" else (t._return & (t.reason == "return"))
    purchases = t.filter(used & ~t._return)
    cancels = t.filter(cancel_rows.fill_null(False))

    key = cancels.order_id
    if order_prefix:  # drop mode keeps the prefix on the line; the match looks past it
        key = ibis.ifelse(key.startswith(order_prefix), key.substr(len(order_prefix)), key)
    c = cancels.select(_c_row=cancels.source_row, _c_customer=cancels.customer_id, _c_key=key,
                       _c_day=cancels.ordered_at.date(), _c_size=cancels.amount.abs(), _c_amount=cancels.amount,
                       **({"_c_product": cancels["product"]} if match == "product" else {}),
                       **({"_c_price": cancels.unit_price} if "unit_price" in t.columns else {}),
                       **({"_c_twin": cancels._return_twin.fill_null(False)} if "_return_twin" in t.columns else {}))

    if match == "product":
        p = purchases.select(_p_customer=purchases.customer_id, _p_product=purchases["product"],
                             _p_at=purchases.ordered_at, _p_row=purchases.source_row, _p_order=purchases.order_id,
                             _p_size=purchases.amount.abs(),
                             **({"_p_price": purchases.unit_price} if "unit_price" in t.columns else {}))
        pairs = c.join(p, [c._c_customer == p._p_customer, c._c_product == p._p_product,
                           p._p_at.date() <= c._c_day])
        preference = [ibis.desc((pairs._p_size == pairs._c_size).fill_null(False).cast("int32")),
                      ibis.desc((pairs._p_size >= pairs._c_size).fill_null(False).cast("int32"))]
        if "unit_price" in t.columns:
            preference.append(ibis.desc((pairs._p_price == pairs._c_price).fill_null(False).cast("int32")))
        preference += [ibis.desc(pairs._p_at), ibis.desc(pairs._p_row)]
        ranked = pairs.mutate(_rank=ibis.row_number().over(group_by=pairs._c_row, order_by=preference))
        best = ranked.filter(ranked._rank == 0)
        found = best.select(_m_row=best._c_row, _m_order=best._p_order, _m_at=best._p_at, _m_of=best._p_row,
                            _m_kept=best._p_size)
    else:
        orders = purchases.group_by([purchases.customer_id, purchases.order_id]).aggregate(
            _m_at=purchases.ordered_at.min(), _m_kept=purchases.amount.sum())
        orders = orders.select(_o_customer=orders.customer_id, _o_order=orders.order_id, _o_at=orders._m_at,
                               _o_kept=orders._m_kept)
        pairs = c.join(orders, [c._c_customer == orders._o_customer, c._c_key == orders._o_order])
        found = pairs.select(_m_row=pairs._c_row, _m_order=pairs._o_order, _m_at=pairs._o_at,
                             _m_of=ibis.null("int64"), _m_kept=pairs._o_kept)

    # a cancellation whose purchase is in the data but was set aside for what it holds (an unreadable
    # amount ...): set aside with it, not netted into the customer's other purchases. So is one that
    # takes what it was matched to (`_m_kept`: the order's lines kept, or the purchase line found by
    # product) below zero, counting the cancellations matched to the same before it (a refund in two
    # parts): it cancels a line set aside (where there is one; else it stays netted, e.g. a refund with
    # the shipping). One left join, one window and one filter: on Spark a second join and a union here
    # made every later query's plan too large to run.
    orphans = None
    if action == "net":
        # a line its status marks as refunded, set aside as the purchase itself (`_cancelled_by_status`), is
        # a purchase set aside too: the refund lines of its order leave with it, never netted elsewhere
        purchase = ~t._return.fill_null(False)
        if "status_refund" in t.columns:
            purchase = purchase | t.status_refund.fill_null(False)
        kept_aside = t.filter(t.reason.notnull() & purchase & ~t.reason.isin(_NOT_THE_PURCHASE))
        sizes = found.select("_m_row", "_m_order", "_m_of", "_m_kept")
        tried = c.left_join(sizes, c._c_row == sizes._m_row)
        so_far = tried._c_size.sum().over(ibis.cumulative_window(
            group_by=[tried._c_customer, tried._m_order, tried._m_of], order_by=tried._c_row))
        tried = tried.mutate(_so_far=so_far)
        leaving = tried._m_row.isnull() | (tried._so_far > tried._m_kept).fill_null(False)
        if "_c_twin" in c.columns:
            # a refund line of a line its status marks as refunded, set aside as the purchase itself (the same
            # order and product, or amount where it has none: `_cancelled_by_status`): it leaves with it, even
            # where the rest of the order stays (netted there, the refund was taken twice)
            leaving = leaving | tried._c_twin
        loose = tried.filter(leaving)
        orphans = _cancelling_set_aside(loose.select(*c.columns), kept_aside, match)
        c = c.filter(~c._c_row.isin(orphans._a_row))

    refunded = None
    if action == "net" and refunded_orders == "set_aside":
        refunded = _refunded_orders(c, found, purchases)
        # an unmatched cancellation is netted into a purchase that stays one
        purchases = purchases.anti_join(refunded, [purchases.customer_id == refunded._r_customer,
                                                   purchases.order_id == refunded._r_order])
    first = purchases.mutate(_n=ibis.row_number().over(group_by=purchases.customer_id,
                                                       order_by=[purchases.ordered_at, purchases.source_row]))
    first = first.filter(first._n == 0).select(_f_customer=first.customer_id, _f_order=first.order_id,
                                               _f_at=first.ordered_at)
    matched = c.left_join(found, c._c_row == found._m_row).left_join(first, c._c_customer == first._f_customer)
    matched = matched.select(
        _k_row=matched._c_row,
        _k_match=ibis.ifelse(matched._m_row.notnull(), match, "unmatched"),
        _k_order=matched._m_order.coalesce(matched._f_order),
        _k_at=matched._m_at.coalesce(matched._f_at),
        _k_of=matched._m_of.cast("int64"))

    out = t.left_join(matched, t.source_row == matched._k_row)
    is_cancel = out._k_row.notnull()
    changes = dict(
        return_match=out._k_match,
        return_of=out._k_of,
        return_document=ibis.ifelse(is_cancel, out._return_document, ibis.null("string")),
        returned_at=ibis.ifelse(is_cancel, out.ordered_at, ibis.null(out.ordered_at.type())),
    )
    if action == "net":
        changes.update(order_id=ibis.ifelse(is_cancel, out._k_order.coalesce(out.order_id), out.order_id),
                       ordered_at=ibis.ifelse(is_cancel, out._k_at.coalesce(out.ordered_at), out.ordered_at))
    out = out.mutate(**changes)
    out = out.drop(*[col for col in out.columns if col.startswith("_k_")])
    if orphans is not None:
        out = out.left_join(orphans, out.source_row == orphans._a_row)
        said = ibis.literal('cancels order "').concat(out._a_order, '", whose purchase was set aside (',
                                                        out._a_reason, ')')
        out = out.mutate(reason=ibis.ifelse(out._a_row.notnull(), "return_of_set_aside", out.reason),
                         detail=ibis.ifelse(out._a_row.notnull(), said, out.detail),
                         return_match=ibis.ifelse(out._a_row.notnull(), ibis.null("string"), out.return_match))
        out = out.drop("_a_row", "_a_order", "_a_reason")
    if action == "drop" and "_return_own" in t.columns:  # for `returns_summary`'s revenue as net counts it
        alone = _refunded_by_status(t, t.reason == "return").select("_s_row")
        out = out.left_join(alone, out.source_row == alone._s_row)
        own = out._s_row.notnull()  # the purchase itself: set aside at its amount as bought
        out = out.mutate(status_refund=own, amount=ibis.ifelse(own, out.amount.abs(), out.amount)).drop("_s_row")
    if refunded is None:
        return out
    # the purchase lines of an order cancelled in full and the cancellations matched to it (an
    # unmatched one never carries its number: it went to a purchase that stays)
    marked = out.left_join(refunded, [out.customer_id == refunded._r_customer, out.order_id == refunded._r_order])
    hit = marked._r_order.notnull() & marked.reason.isnull() & marked.return_match.fill_null("").isin(
        ["", "order_number", "product"])
    said = ibis.literal('cancelled in full (its lines net to zero): order "').concat(marked.order_id, '"')
    marked = marked.mutate(reason=ibis.ifelse(hit, "refunded_order", marked.reason),
                           detail=ibis.ifelse(hit, said, marked.detail))
    return marked.drop("_r_customer", "_r_order")


# set-aside lines that are not the purchase a cancellation in the data cancels: one dated before the
# period reported (a cancellation of it is one of a purchase from before the data, as when it is missing)
_NOT_THE_PURCHASE = ("before_start",)


def _cancelling_set_aside(c: ibis.Table, aside: ibis.Table, match: str) -> ibis.Table:
    """The cancellations of `c` (not matched to a purchase used) whose purchase is among the set-aside
    lines `aside`, matched as `net_returns` matches them: `_a_row` (the cancellation's source_row),
    `_a_order` (the purchase's order) and `_a_reason` (why its line was set aside), one row each."""
    if match == "product":
        same = (c._c_product == aside["product"]) & (aside.ordered_at.date() <= c._c_day)
        if "status_refund" in aside.columns and "_c_twin" in c.columns:
            # a line set aside by its status takes only the refund lines of its own order (`_c_twin`: the same
            # product, or amount where the refund line has none), never a refund of the same product from
            # another order: that one cancels a purchase of its own and reduces revenue
            status = aside.status_refund.fill_null(False)
            same = (same & ~status) | (status & c._c_twin & (c._c_key == aside.order_id))
        pairs = c.join(aside, [c._c_customer == aside.customer_id, same])
    else:
        pairs = c.join(aside, [c._c_customer == aside.customer_id, c._c_key == aside.order_id])
    first = pairs.mutate(_n=ibis.row_number().over(group_by=pairs._c_row, order_by=[pairs.source_row]))
    first = first.filter(first._n == 0)
    return first.select(_a_row=first._c_row, _a_order=first.order_id, _a_reason=first.reason)


def _cancelled_by_status(t: ibis.Table) -> ibis.Table:
    """`t` with the lines that a status marks as refunded themselves set aside. A line marked by
    `status_values` at its amount as bought (`_return_own`) is either a refund record of a purchase
    line in the data (the same order has an unmarked line of the same product, or of the same
    amount where there is no product): it is netted into it as every cancellation is; or the
    purchase line itself, refunded, as marketplace exports (天猫, 京东) write it: it was never a
    purchase, and netted it would take its amount a second time from another line. Such a line is
    set aside: as `refunded_order` when no line of its order is left (the order was cancelled in
    full), else as `return`."""
    used = t.reason.isnull()
    alone = _refunded_by_status(t, used)
    bought = t.filter(used & ~t._return)
    orders = bought.select(_o_customer=bought.customer_id, _o_order=bought.order_id).distinct()
    flagged = alone.left_join(orders, [alone._s_customer == orders._o_customer, alone._s_order == orders._o_order])
    flagged = flagged.select(_s_row=flagged._s_row, _s_whole=flagged._o_order.isnull())
    # the refund lines of those lines (the same customer and order; the same product, or the same amount
    # where the refund line has no product, as refund lines often have not, or no product is mapped): they
    # leave with the line they refund (`net_returns`), never netted into the rest of the order. Found here,
    # beside the lines, as a column (`_return_twin`), not as a subquery over the result (Spark's plans)
    refunds = t.filter(used & t._return & ~t._return_own)
    same = refunds.amount.abs() == alone._s_size
    if "product" in t.columns:
        same = (refunds["product"] == alone._s_key) | (refunds["product"].isnull() & same)
    twins = refunds.semi_join(alone, [refunds.customer_id == alone._s_customer, refunds.order_id == alone._s_order,
                                      same]).select(_u_row=refunds.source_row)
    joined = t.left_join(flagged, t.source_row == flagged._s_row).left_join(twins, t.source_row == twins._u_row)
    hit = joined._s_row.notnull()
    whole = hit & joined._s_whole.fill_null(False)
    reason = ibis.cases((whole, "refunded_order"), (hit, "return"), else_=joined.reason)
    detail = ibis.cases(
        (whole, ibis.literal('cancelled in full (its status says so on every line): order "').concat(
            joined.order_id, '"')),
        (hit, ibis.literal('refunded by its status, not a purchase (the rest of the order stays): order "').concat(
            joined.order_id, '"')),
        else_=joined.detail)
    # the purchase itself, set aside at its amount as bought (marked lines were made negative, as refunds)
    amount = ibis.ifelse(hit, joined.amount.abs(), joined.amount)
    return joined.select(*[joined[c] if c != "amount" else amount.name("amount") for c in t.columns
                           if c not in ("reason", "detail")], reason=reason, detail=detail, status_refund=hit,
                         _return_twin=joined._u_row.notnull())


def _refunded_by_status(t: ibis.Table, considered) -> ibis.Table:
    """The lines a status marks as refunded at their amount as bought (`_return_own`, among the rows
    `considered`) that have no purchase line to be a refund record of (no unmarked line used of the
    same order and product, or of the same amount where there is no product): purchases refunded,
    as marketplace exports write them. Columns _s_row (source_row), _s_customer, _s_order, _s_key, _s_size
    (the amount in size);
    lazy. With `action: drop`, `net_returns` marks them (`status_refund`) for `returns_summary`."""
    keys = [t.customer_id, t.order_id, t["product"]] if "product" in t.columns else [t.customer_id, t.order_id,
                                                                                      t.amount.abs()]
    bought = t.filter(t.reason.isnull() & ~t._return)
    twins = bought.select(_t_customer=keys[0], _t_order=keys[1], _t_key=keys[2]).distinct()
    own = t.filter(considered & t._return & t._return_own)
    own = own.select(_s_row=own.source_row, _s_customer=own.customer_id, _s_order=own.order_id,
                     _s_key=own["product"] if "product" in t.columns else own.amount.abs(), _s_size=own.amount.abs())
    return own.anti_join(twins, [own._s_customer == twins._t_customer, own._s_order == twins._t_order,
                                 own._s_key == twins._t_key])


def _refunded_orders(c: ibis.Table, found: ibis.Table, purchases: ibis.Table) -> ibis.Table:
    """The (customer, order) of each order cancelled in full (`_r_customer`, `_r_order`): its purchase
    lines and the cancellations matched to it (`found`: cancellation row -> order) sum to exactly
    zero. Lazy; the purchases summed are those of orders with a matched cancellation only (a few)."""
    matched = c.join(found, c._c_row == found._m_row)
    cancelled = matched.group_by(_x_customer=matched._c_customer, _x_order=matched._m_order).aggregate(
        _cancelled=matched._c_amount.sum())
    lines = purchases.filter(purchases.order_id.notnull())
    lines = lines.semi_join(cancelled, [lines.customer_id == cancelled._x_customer, lines.order_id == cancelled._x_order])
    bought = lines.group_by(_b_customer=lines.customer_id, _b_order=lines.order_id).aggregate(_bought=lines.amount.sum())
    both = bought.join(cancelled, [bought._b_customer == cancelled._x_customer, bought._b_order == cancelled._x_order])
    both = both.filter(both._bought + both._cancelled == 0)
    return both.select(_r_customer=both._b_customer, _r_order=both._b_order)


def customer_outcomes(clean: ibis.Table, net_negative: str = "set_aside") -> ibis.Table:
    """One row per customer of the clean rows (lazy): customer_id, purchase_lines, return_lines,
    revenue (the exact sum of the amounts, after netting), `rule` (net_negative, net_zero,
    no_purchase, or "" when revenue is above zero) and `outcome` (scored; floored, with
    `net_negative="floor"`; set_aside). A line is a purchase unless `return_match` marks it."""
    is_return = clean.return_match.notnull() if "return_match" in clean.columns else ibis.literal(False)
    per = clean.group_by("customer_id").aggregate(
        purchase_lines=clean.count(where=~is_return), return_lines=clean.count(where=is_return),
        revenue=clean.amount.sum())
    rule = ibis.cases((per.purchase_lines == 0, "no_purchase"), (per.revenue < 0, "net_negative"),
                      (per.revenue == 0, "net_zero"), else_="")
    per = per.mutate(rule=rule)
    floor = net_negative == "floor"
    outcome = ibis.cases((per.rule == "", "scored"),
                         ((per.rule != "no_purchase") & ibis.literal(floor), "floored"), else_="set_aside")
    return per.mutate(outcome=outcome)


def customer_ledger(outcomes: pd.DataFrame | ibis.Table, net_negative: str = "set_aside") -> pd.DataFrame:
    """The customer ledger: one row per outcome and rule (scored; floored per rule with
    `net_negative="floor"`; set aside per rule, every rule listed), with customers, share of the
    customers in, and revenue (their net revenue, before any floor). The customers add up to the
    customers in (every customer with a clean row). `outcomes` as `customer_outcomes` gives it."""
    if isinstance(outcomes, ibis.Table):
        outcomes = outcomes.group_by(["outcome", "rule"]).aggregate(
            customers=outcomes.count(), revenue=outcomes.revenue.sum().cast("float64")).to_pandas()
    elif "customers" not in outcomes.columns:
        outcomes = outcomes.assign(revenue=outcomes["revenue"].astype("float64")).groupby(
            ["outcome", "rule"], as_index=False).agg(customers=("customer_id", "size"), revenue=("revenue", "sum"))
    counted = outcomes.set_index(["outcome", "rule"])
    keys = [("scored", "")]
    if net_negative == "floor":
        keys += [("floored", rule) for rule in CUSTOMER_RULES[:2]]
    keys += [("set_aside", rule) for rule in CUSTOMER_RULES]
    stray = set(counted.index) - set(keys)
    if stray:  # an outcome the ledger does not list would break the sum: never silently
        raise ValueError(f"customer outcomes {sorted(stray)} are not in the customer ledger")
    rows = [(o, r, int(counted["customers"].get((o, r), 0)), float(counted["revenue"].get((o, r), 0.0)))
            for o, r in keys]
    ledger = pd.DataFrame(rows, columns=["outcome", "rule", "customers", "revenue"])
    ledger["customers"] = ledger["customers"].astype("int64")
    total = int(ledger["customers"].sum())
    ledger.insert(3, "share", ledger["customers"] / total if total else 0.0)
    return ledger


def settle_customers(clean: ibis.Table, net_negative: str = "set_aside"
                     ) -> tuple[ibis.Table, pd.DataFrame, pd.DataFrame]:
    """Decide which customers are scored: the clean rows of the customers scored (lazy; `clean`
    itself when no customer is set aside), the customer ledger (`customer_ledger`) and the
    customers set aside (customer_id, rule, purchase_lines, return_lines, revenue as float64),
    sorted by customer_id. Computed in the engine; only the set-aside customers come back."""
    outcomes = customer_outcomes(clean, net_negative)
    ledger = customer_ledger(outcomes, net_negative)
    aside = outcomes.filter(outcomes.outcome == "set_aside")
    aside = to_frame(aside.select("customer_id", "rule", "purchase_lines", "return_lines",
                                  revenue=aside.revenue.cast("float64")).order_by(aside.customer_id.cast("string")))
    aside_ids = aside["customer_id"].tolist()  # as the engine keeps them (a number stays a number)
    aside["customer_id"] = aside["customer_id"].astype(str)
    if aside.empty:
        return clean, ledger, aside
    from segkit.intake.engines import kept_for_reuse, runs_in_duckdb

    if runs_in_duckdb(clean):
        # the few customers set aside, as a small table: every later query of the scored rows (features,
        # summaries, monthly activity, month starts) then drops their rows with a join against it, instead
        # of deciding every customer again from all the rows (a grouping of all the lines each time)
        ids = pa.table({"customer_id": pa.array(aside_ids)})
        dropped = ibis.memtable(ids).select(customer_id=ibis._.customer_id.cast(clean.customer_id.type()))
        return clean.filter(clean.customer_id.notnull()).anti_join(dropped, "customer_id"), ledger, aside
    kept = outcomes.filter(outcomes.outcome != "set_aside").select("customer_id")
    # on Spark, the scored rows once: features, summaries and monthly activity all read them
    return kept_for_reuse(clean.semi_join(kept, "customer_id")), ledger, aside


def returns_summary(judged: ibis.Table, action: str, match: str, net_negative: str,
                    order_prefix: str | None = None, refunded_orders: str = "set_aside") -> dict:
    """What the treatment of returns changed, from the judged rows (after `net_returns`): the
    treatment (action, match, net_negative, refunded_orders); cancellation `lines` and `documents` (distinct per
    customer) and their `amount`, and per match (order_number, product, unmatched) `lines_<match>`
    and `amount_<match>`; the purchase revenue before netting (`gross_revenue`) and the revenue of
    the rows used after it (`net_revenue`); `orders` (distinct purchase orders per customer, those
    cancelled in full among them), `orders_refunded` (orders cancelled in full, see `net_returns`) and their purchase and
    cancellation lines (`lines_refunded_purchases`, `lines_refunded_cancels`), and
    how many orders the cancellation documents would have added had they counted as orders
    (`orders_not_added`: documents whose number, with or without the prefix, is none of the
    customer's purchase orders); customers with a cancellation, and those whose last date would
    have been a cancellation (`recency_kept`). With `drop`, how much of the cancelled revenue
    cancels purchases in the data, which the purchases kept (`kept_matched`), and the revenue had
    it been netted (`revenue_if_netted`: as `net` would count it, where a line its status marks as
    refunded with no purchase line of its own is the purchase itself, `refunded_by_status`, and
    reduces no other line). Amounts are summed exactly, then given as floats. Five
    small queries in the engine."""
    t = judged
    cancels = t.filter(t.return_match.notnull())
    # lines a status marks as refunded that are the purchase itself (`net`: set aside before matching;
    # `drop`: among the cancellations): a purchase and its refund in one line
    status = t.status_refund.fill_null(False) if "status_refund" in t.columns else ibis.literal(False)
    # lines a refund amount column refunds in full (`segkit.intake.refunds`): set aside at 0, cancelled by no
    # cancellation line; the refunds note counts them
    whole = t.refund_whole.fill_null(False) if "refund_whole" in t.columns else ibis.literal(False)
    # the purchases used, and those of orders cancelled in full (set aside with their cancellations)
    purchases = t.filter((t.reason.isnull() | (t.reason == "refunded_order")) & t.return_match.isnull() & ~status
                         & ~whole)
    per_match = cancels.group_by("return_match").aggregate(lines=cancels.count(), amount=cancels.amount.abs().sum())
    per_match = {row["return_match"]: row for row in per_match.to_pyarrow().to_pylist()}
    exact = {name: per_match[name]["amount"] if name in per_match else 0 for name in MATCHES}
    summary = {"action": action, "match": match, "net_negative": net_negative, "refunded_orders": refunded_orders,
               "lines": sum(row["lines"] for row in per_match.values()), "amount": float(sum(exact.values()))}
    for name in MATCHES:
        summary[f"lines_{name}"] = int(per_match[name]["lines"]) if name in per_match else 0
        summary[f"amount_{name}"] = float(exact[name])
    # purchases, and in net mode the cancellations netted into them (an order cancelled in full too:
    # set aside together, it nets to zero; counted apart)
    refunded = t.reason == "refunded_order"
    used = t.filter((t.reason.isnull() | refunded) & ~status & ~whole)
    is_purchase = used.return_match.isnull()
    order = used.customer_id.concat("\x1f", used.order_id)
    refunded_line = used.reason == "refunded_order"
    sums = used.aggregate(gross=used.amount.sum(where=is_purchase), net=used.amount.sum(),
                          orders=order.nunique(where=is_purchase),
                          refunded=order.nunique(where=is_purchase & refunded_line),
                          refunded_purchases=used.count(where=is_purchase & refunded_line),
                          refunded_cancels=used.count(where=~is_purchase & refunded_line)
                          ).to_pyarrow().to_pylist()[0]
    gross = sums["gross"] or 0
    own = t.filter(status)
    by_status = own.aggregate(lines=own.count(), amount=own.amount.abs().sum(), orders=(
        own.customer_id.concat("\x1f", own.order_id)).nunique(where=own.reason == "refunded_order")
                              ).to_pyarrow().to_pylist()[0]
    summary["lines_by_status"] = int(by_status["lines"] or 0)
    summary["amount_by_status"] = float(by_status["amount"] or 0)
    summary["orders_by_status"] = int(by_status["orders"] or 0)
    if action == "net":  # bought, then refunded: in the purchases' total, and not in revenue
        gross += by_status["amount"] or 0
    summary["gross_revenue"] = float(gross)
    summary["net_revenue"] = float(sums["net"] or 0)
    summary["orders"] = int(sums["orders"] or 0)
    summary["orders_refunded"] = int(sums["refunded"] or 0)
    if action == "net" and refunded_orders == "keep":  # kept as purchases of zero: counted all the same
        kept = t.filter(t.reason.isnull())
        matched = kept.filter(kept.return_match.isin(["order_number", "product"]) & kept.order_id.notnull())
        matched = matched.select("customer_id", "order_id").distinct()
        lines = kept.filter(kept.return_match.fill_null("") != "unmatched").semi_join(matched, ["customer_id", "order_id"])
        nets = lines.group_by(["customer_id", "order_id"]).aggregate(_net=lines.amount.sum())
        summary["orders_refunded"] = int(nets.filter(nets._net == 0).count().to_pyarrow().as_py())
    summary["lines_refunded_purchases"] = int(sums["refunded_purchases"] or 0)
    summary["lines_refunded_cancels"] = int(sums["refunded_cancels"] or 0)
    found = cancels.aggregate(documents=cancels.customer_id.concat("\x1f", cancels.return_document).nunique(),
                              customers=cancels.customer_id.nunique()).to_pyarrow().to_pylist()[0]
    summary["documents"] = int(found["documents"] or 0)
    summary["customers_with_returns"] = int(found["customers"] or 0)
    own_orders = purchases.select(o_customer=purchases.customer_id, o_order=purchases.order_id).distinct()
    doc = cancels.return_document
    stripped = ibis.ifelse(doc.startswith(order_prefix), doc.substr(len(order_prefix)), doc) if order_prefix else doc
    docs = cancels.select(customer_id=cancels.customer_id, doc=doc, stripped=stripped).distinct()
    extra = docs.anti_join(own_orders, [docs.customer_id == own_orders.o_customer,
                                        (docs.doc == own_orders.o_order) | (docs.stripped == own_orders.o_order)])
    summary["orders_not_added"] = int(extra.count().to_pyarrow().as_py())
    last_purchase = purchases.group_by("customer_id").aggregate(last=purchases.ordered_at.max().date())
    last_cancel = cancels.group_by("customer_id").aggregate(last_return=cancels.returned_at.max().date())
    later = last_cancel.join(last_purchase, "customer_id")
    summary["recency_kept"] = int(later.filter(later.last_return > later["last"]).count().to_pyarrow().as_py())
    if action == "drop":  # the purchases keep what was cancelled; netting would have taken it off
        summary["kept_matched"] = float(exact["order_number"] + exact["product"])
        # but a line its status marks as refunded, with no purchase line of its own to reduce, is the
        # purchase itself: `net` sets it aside (never in gross here), it takes nothing off another
        alone = alone_matched = 0
        for name in ("lines_unmatched_by_status", "lines_matched_by_status", "lines_order_number_by_status"):
            summary[name] = 0
        summary["amount_unmatched_by_status"] = 0.0
        if "status_refund" in t.columns:  # marked by `net_returns`
            own = cancels.filter(cancels.status_refund)
            matched = own.return_match.isin(["order_number", "product"])
            found = own.aggregate(total=own.amount.abs().sum(), matched=own.amount.abs().sum(where=matched),
                                  lines=own.count(where=matched), unmatched=own.count(where=~matched),
                                  by_number=own.count(where=own.return_match == "order_number")
                                  ).to_pyarrow().to_pylist()[0]
            alone, alone_matched = found["total"] or 0, found["matched"] or 0
            summary["kept_matched"] = float(exact["order_number"] + exact["product"] - alone_matched)
            # among the cancellations (matched or not), but none cancels another purchase, in the data or before it
            summary["lines_unmatched_by_status"] = int(found["unmatched"] or 0)
            summary["lines_matched_by_status"] = int(found["lines"] or 0)
            summary["lines_order_number_by_status"] = int(found["by_number"] or 0)
            summary["amount_unmatched_by_status"] = float(alone - alone_matched)
        summary["revenue_if_netted"] = float(gross - sum(exact.values()) + alone)
    return summary


def suggests_product_match(summary: dict | None) -> bool:
    """Whether most cancellations found no order with their number under `match: order_number`:
    the sign of cancellations that carry their own document numbers (ERP exports)."""
    if not summary or summary["match"] != "order_number":
        return False
    # a line its status marks as refunded is the purchase itself: it has no other purchase to find
    unmatched = summary["lines_unmatched"] - summary.get("lines_unmatched_by_status", 0)
    return unmatched > summary["lines_order_number"] - summary.get("lines_order_number_by_status", 0)
