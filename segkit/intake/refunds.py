"""Partial refunds written on the order line: the mapped column `refund_amount`.

Shop exports often keep a line at its amount as bought and write what was paid back beside it
(退款金额: the line was 200.00, 75.00 of it refunded, status 部分退款). Columns, in segkit's names:
`amount`, the line's amount as bought, and `refund_amount`, the part of it paid back, in the same
currency and units (DECIMAL(18, minor_unit) once exact, as `amount`); an empty refund is 0.

On a line not marked as a return (`cleaning.returns`):

- a refund above 0 and below the amount: the line counts at `amount − refund_amount` (fix
  `refund_netted`); exact, as every amount is;
- a refund of the whole amount: the line is no purchase, as a line its status marks as refunded is
  (`segkit.intake.returns._cancelled_by_status`): set aside at its net amount (0), as
  `refunded_order` when no other line of its order is used (the order was cancelled in full), else
  as `return` (the rest of the order stays);
- a refund below zero or above the amount: no refund that line can have (a sign the export writes
  the other way round, or the order's refund written on each of its lines): set aside as
  `implausible_refund`, its detail naming the column as the source does and both values.

A line marked as a return keeps that treatment (it cancels a purchase already); its refund amount
is not taken from it a second time. Everything here is an Ibis expression, the same on DuckDB,
PostgreSQL and Spark.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis

REFUND = "refund_amount"
# Words that, beside a refund word of `segkit.intake.returns.REFUND_STATUS_WORDS`, say a status is a
# partial refund (partially_refunded, 部分退款, 部分退货), compared in lower case: such a line stays a
# purchase, less what was paid back, which only a refund amount column says
PARTIAL_WORDS = ("partial", "部分")


@dataclass(frozen=True)
class RefundTests:
    """What a line's refund is, as boolean expressions (never null): `negative` and `over` (above the
    line's amount) are bad data; `netted`, a refund taken from the line (above 0, at most the amount);
    `whole`, one of those that refunds all of it."""

    negative: ibis.BooleanValue
    over: ibis.BooleanValue
    netted: ibis.BooleanValue
    whole: ibis.BooleanValue

    @property
    def implausible(self) -> ibis.BooleanValue:
        return self.negative | self.over

    @property
    def partial(self) -> ibis.BooleanValue:
        return self.netted & ~self.whole


def refund_tests(amount: ibis.DecimalValue, refund: ibis.DecimalValue, is_return: ibis.BooleanValue) -> RefundTests:
    """The tests of `refund` (a line's refund amount, exact, null when none) against `amount` (the
    line's amount as bought, exact) on the lines not marked as returns (`is_return`): a refund of 0
    or none is no refund."""
    given = ~is_return.fill_null(False) & refund.notnull() & (refund != 0)
    negative = (given & (refund < 0)).fill_null(False)
    over = (given & ~negative & (refund > amount)).fill_null(False)
    netted = (given & ~negative & ~over & amount.notnull()).fill_null(False)
    whole = (netted & (refund == amount)).fill_null(False)
    return RefundTests(negative=negative, over=over, netted=netted, whole=whole)


def net_amount(amount: ibis.DecimalValue, refund: ibis.DecimalValue, tests: RefundTests) -> ibis.DecimalValue:
    """The line's amount less its refund where one is taken (`tests.netted`), else as it is; in the
    amount's type (a difference of two DECIMAL(18, s) is exact and fits it: 0 <= refund <= amount)."""
    return ibis.ifelse(tests.netted, (amount - refund).cast(amount.type()), amount)


def implausible_refund_detail(tests: RefundTests, refund_words: ibis.StringValue,
                              amount_written: ibis.StringValue) -> ibis.StringValue:
    """The detail of a line set aside as `implausible_refund`: `refund_words` (the refund column as the
    source names it and the value, `退款金额 "-5.00"`) and why; `amount_written`, the amount as read."""
    below = refund_words.concat(" is a negative refund: write refunds as amounts paid back, above zero")
    above = refund_words.concat(" is more than the line's amount, \"", amount_written,
                                "\": a line refunds at most its amount (the order's refund on each of its lines?)")
    return ibis.ifelse(tests.negative, below, above)


def set_aside_refunded_lines(t: ibis.Table, whole: ibis.BooleanValue, refund_words: ibis.StringValue
                             ) -> ibis.Table:
    """`t` (the judged rows, with `reason`) with the lines refunded in full (`whole`) that no earlier
    rule set aside now set aside: `refunded_order` when no other line of the same customer and order
    is used (nothing of the order was kept), else `return`. Adds `refund_whole` (boolean), which marks
    them, for the notes, and `_refund_said`, their detail (null on other rows), which `refund_words`
    (the refund column as the source names it, and the value) starts. One window over the order's
    lines, the same on every engine."""
    from segkit.intake.engines import as_text

    t = t.mutate(refund_whole=(whole & t.reason.isnull()).fill_null(False))
    kept = ibis.ifelse(t.reason.isnull() & ~t.refund_whole, 1, 0)
    t = t.mutate(_refund_rest=kept.max().over(group_by=[t.customer_id, t.order_id]))
    order = ibis.literal('"').concat(as_text(t.order_id), '"')
    whole_order = t.refund_whole & (t._refund_rest == 0)
    reason = ibis.cases((whole_order, "refunded_order"), (t.refund_whole, "return"), else_=t.reason)
    said = ibis.cases(
        (whole_order, refund_words.concat(" refunds the line in full, as on every line of its order: cancelled in "
                                          "full, not a purchase: order ", order)),
        (t.refund_whole, refund_words.concat(" refunds the line in full: not a purchase (the rest of the order "
                                             "stays): order ", order)),
        else_=ibis.null(str))
    return t.mutate(reason=reason, _refund_said=said).drop("_refund_rest")


def refunds_note(judged: ibis.Table) -> dict | None:
    """The note `refunds_netted` on the refunds a `refund_amount` column gave (judged rows, after
    `judge`): the lines used at their amount less a partial refund (`lines`) and the refunds taken
    from them (`refunded`, money units, summed exactly), the lines refunded in full and set aside
    (`whole_lines`, `whole_refunded`) and the lines set aside for a refund they cannot have
    (`implausible`). None without the column, or when no line carries a refund."""
    if REFUND not in judged.columns or "refund_whole" not in judged.columns:
        return None
    netted = judged.fixes.fill_null("").contains("refund_netted") & judged.reason.isnull()
    whole = judged.refund_whole.fill_null(False)
    sums = judged.aggregate(lines=judged.count(where=netted), refunded=judged.refund_amount.sum(where=netted),
                            whole_lines=judged.count(where=whole),
                            whole_refunded=judged.refund_amount.sum(where=whole),
                            implausible=judged.count(where=judged.reason == "implausible_refund")
                            ).to_pyarrow().to_pylist()[0]
    if not (sums["lines"] or sums["whole_lines"] or sums["implausible"]):
        return None
    return {"key": "refunds_netted", "lines": int(sums["lines"]), "refunded": float(sums["refunded"] or 0),
            "whole_lines": int(sums["whole_lines"]), "whole_refunded": float(sums["whole_refunded"] or 0),
            "implausible": int(sums["implausible"])}


def partial_refunds_listed(status_values) -> dict | None:
    """The note `partial_refunds_listed` when `cleaning.returns.status_values` lists statuses that look
    like a partial refund (`is_partial`): each such line is cancelled whole as a return, though only
    part of it was paid back (`values`, as listed; `count`). None otherwise."""
    partial = [str(value) for value in status_values if is_partial(value)]
    if not partial:
        return None
    return {"key": "partial_refunds_listed", "count": len(partial), "values": ", ".join(partial)}


def looks_partial(key: ibis.StringValue) -> ibis.BooleanValue:
    """Whether a status, trimmed and in lower case (`key`), looks like a partial refund: a word of
    PARTIAL_WORDS and a refund word (partially_refunded, 部分退款; not partially_paid)."""
    from segkit.intake.returns import REFUND_STATUS_WORDS

    return ibis.or_(*[key.contains(w) for w in PARTIAL_WORDS]) & ibis.or_(*[key.contains(w) for w in REFUND_STATUS_WORDS])


def is_partial(status: str) -> bool:
    """`looks_partial` for one status in Python."""
    from segkit.intake.returns import REFUND_STATUS_WORDS

    key = str(status).strip().lower()
    return any(w in key for w in PARTIAL_WORDS) and any(w in key for w in REFUND_STATUS_WORDS)
