"""The clean rows as they were known at an earlier date (a calibration period's end), for the tests
that must not see the future: the next-period test (`segkit.evaluate.next_period`) and the purchase
model's holdout check (`segkit.features.time_summaries`' holdout summary).

The clean rows net each cancellation into the purchase it cancels, at that purchase's date and
order (`segkit.intake.returns`), its own date kept in `returned_at`; an order cancelled in full is
set aside (`refunded_order`). Read as they are, a calibration period ending in June would hold a
March purchase already reduced by its August refund, or not at all. Here a cancellation made after
the period's end counts on its own day, flagged as a refund (no purchase), and the lines of an order
cancelled in full count when a cancellation of the order came after the period's end.

A line refunded by its status (`cleaning.returns.status_values`, set aside as `refunded_order` with
no line of its own for the refund) has no refund date: its order stays out; so does a line a
refund amount column refunds in full (`segkit.intake.refunds`).

Kept apart from `segkit.evaluate` so that the cleaning notebook reads it without scikit-learn.
"""

from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import pandas as pd

from segkit.intake import engines as _engines  # noqa: F401 (Ibis' compile options for segkit's queries)


def as_known(transactions: pd.DataFrame | ibis.Table, calibration_end: dt.date,
             as_of: dt.date | None = None) -> pd.DataFrame | ibis.Table:
    """The clean rows as they were known at the end of `calibration_end` and, for the period after
    it, at the end of `as_of` (None: everything is known by then). A DataFrame or an engine table
    (lazy); see the module docstring. Every cancellation line (one with returned_at, its own date)
    gets `refund` True, other rows False: a day or an order of refunds alone is no purchase. A
    cancellation of a purchase dated up to calibration_end but made after it gets its own date as
    ordered_at (a refund of the holdout); one made after `as_of` is dropped (not known yet). Where a
    boolean `refunded` column marks the lines of orders cancelled in full (`with_refunded`; missing
    counts as False), only the orders with such a cancellation stay (their purchase was known), and
    the column is dropped. Rows without returned_at (no returns marked) are returned as they are,
    with `refund` False."""
    boundary = pd.Timestamp(calibration_end) + pd.Timedelta(days=1)
    end = None if as_of is None else pd.Timestamp(as_of) + pd.Timedelta(days=1)
    if isinstance(transactions, ibis.Table):
        return _as_known_table(transactions, boundary, end)
    t = transactions
    flagged = t["refunded"].fillna(False).to_numpy(bool) if "refunded" in t.columns else np.zeros(len(t), bool)
    t = t.drop(columns="refunded", errors="ignore")
    if "returned_at" not in t.columns:
        return t[~flagged].assign(refund=False)
    ordered, returned = pd.to_datetime(t["ordered_at"]), pd.to_datetime(t["returned_at"])
    refund = returned.notna().to_numpy()
    crossing = ((ordered < boundary) & (returned >= boundary)).to_numpy()
    unknown = (returned >= end).to_numpy() if end is not None else np.zeros(len(t), bool)
    keep = ~unknown
    if flagged.any():
        orders = pd.MultiIndex.from_frame(t[["customer_id", "order_id"]].astype(str))
        known_bought = orders[flagged & (crossing | unknown)].unique()
        keep &= ~flagged | orders.isin(known_bought)
    return t.assign(ordered_at=ordered.where(~crossing, returned), refund=refund)[keep]


def with_refunded(lines: pd.DataFrame | ibis.Table, refunded: pd.DataFrame | ibis.Table | None
                  ) -> pd.DataFrame | ibis.Table:
    """The clean rows `lines` and the lines of the orders cancelled in full `refunded` (rule
    refunded_order, e.g. `CleanResult.refunded`; the same kind, in the same engine) in one table,
    marked by a boolean column `refunded`, for `as_known`; `lines` as they are when `refunded` is
    None. Only the columns both hold are kept."""
    if refunded is None:
        return lines
    shared = [c for c in lines.columns if c in refunded.columns]
    if isinstance(lines, pd.DataFrame):
        return pd.concat([lines[shared].assign(refunded=False), refunded[shared].assign(refunded=True)],
                         ignore_index=True)
    return lines.select(*shared, refunded=ibis.literal(False)).union(
        refunded.select(*shared, refunded=ibis.literal(True)))


def _as_known_table(t: ibis.Table, boundary: pd.Timestamp, end: pd.Timestamp | None) -> ibis.Table:
    b = ibis.timestamp(boundary)
    flagged = t.refunded.fill_null(False) if "refunded" in t.columns else None
    if "returned_at" not in t.columns:
        return (t if flagged is None else t.filter(~flagged).drop("refunded")).mutate(refund=False)

    def crossing(rows):
        return rows.returned_at.notnull() & (rows.ordered_at < b) & (rows.returned_at >= b)

    def unknown(rows):
        return rows.returned_at.notnull() & (rows.returned_at >= ibis.timestamp(end)) if end is not None \
            else ibis.literal(False)

    if flagged is not None:
        t = t.mutate(refunded=flagged)
        orders = t.filter(t.refunded & (crossing(t) | unknown(t)))
        orders = orders.select(_r_customer=orders.customer_id, _r_order=orders.order_id).distinct()
        refunded = t.filter(t.refunded)
        refunded = refunded.semi_join(orders, [refunded.customer_id == orders._r_customer,
                                               refunded.order_id == orders._r_order])
        t = t.filter(~t.refunded).union(refunded).drop("refunded")
    t = t.filter(~unknown(t).fill_null(False))
    moved = crossing(t).fill_null(False)
    return t.mutate(ordered_at=ibis.ifelse(moved, t.returned_at, t.ordered_at), refund=t.returned_at.notnull())
