"""Cleaning: every input row ends in exactly one place, and the ledger counts them.

Rules run in the engine as one expression: each row gets the first rule it breaks (or none), so a
row is used or set aside for one stated reason, never lost. The quarantine keeps the row as it
came in, with its `source_row` and the reason.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis
import pandas as pd

from segkit.errors import DataError

# The order matters: a row is set aside for the first rule it breaks.
RULES = (
    "missing_customer_id",
    "missing_date",
    "missing_amount",
    "after_as_of",
    "duplicate",
    "non_positive_amount",
)


@dataclass(frozen=True)
class CleanResult:
    clean: pd.DataFrame
    quarantine: pd.DataFrame
    ledger: pd.DataFrame
    as_of: dt.date


def clean_transactions(con: ibis.BaseBackend, transactions: pd.DataFrame | ibis.Table,
                       as_of: dt.date | None = None, duplicates: str = "drop",
                       non_positive_amount: str = "set_aside") -> CleanResult:
    """Apply the cleaning rules in the engine; returns the clean rows, the quarantine and the ledger.

    `as_of` is the last day analysed (rows after it are set aside); None means the data's last day.
    `duplicates="drop"` sets aside later copies of an exactly repeated row, `"keep"` uses them.
    `non_positive_amount="set_aside"` sets aside zero and negative amounts (returns, free items),
    `"keep"` uses them, so that returns net against revenue.
    """
    table = con.create_table("raw_transactions", with_canonical_types(transactions), overwrite=True) \
        if isinstance(transactions, pd.DataFrame) else transactions
    total = int(table.count().to_pyarrow().as_py())
    if total == 0:
        raise DataError("the transactions are empty: no rows to analyse")
    if as_of is None:
        last = table.ordered_at.max().to_pyarrow().as_py()
        if last is None:
            raise DataError("no transaction has a readable date; check the date column's format")
        as_of = last.date()

    columns = [c for c in table.columns if c != "source_row"]
    copy_number = ibis.row_number().over(group_by=columns, order_by="source_row")
    tests = {
        "missing_customer_id": table.customer_id.isnull() | (table.customer_id == ""),
        "missing_date": table.ordered_at.isnull(),
        "missing_amount": table.amount.isnull(),
        "after_as_of": table.ordered_at.date() > ibis.date(as_of),
        "duplicate": copy_number > 0 if duplicates == "drop" else ibis.literal(False),
        "non_positive_amount": table.amount <= 0 if non_positive_amount == "set_aside" else ibis.literal(False),
    }
    reason = ibis.cases(*[(tests[rule], rule) for rule in RULES], else_=ibis.null(str))
    judged = table.mutate(reason=reason)

    clean = judged.filter(judged.reason.isnull()).drop("reason").order_by("source_row").to_pandas()
    quarantine = judged.filter(judged.reason.notnull()).order_by("source_row").to_pandas()
    ledger = build_ledger(total, quarantine["reason"])
    if clean.empty:
        raise DataError(f"all {total} rows were set aside ({_top_reasons(ledger)}); "
                        "see the quarantine for each row and fix the source or the column map")
    return CleanResult(clean, quarantine, ledger, as_of)


CANONICAL_TYPES = {"source_row": "int64", "customer_id": "string", "order_id": "string",
                   "ordered_at": "datetime64[us]", "amount": "float64", "quantity": "float64",
                   "category": "string", "channel": "string"}


def with_canonical_types(transactions: pd.DataFrame) -> pd.DataFrame:
    """The frame with every canonical column in its type, so that an all-missing column still has one."""
    present = {c: kind for c, kind in CANONICAL_TYPES.items() if c in transactions.columns}
    return transactions.astype(present)


def build_ledger(total: int, reasons: pd.Series) -> pd.DataFrame:
    """One row per outcome: used, and set aside per rule; the counts add up to `total`."""
    counts = reasons.value_counts()
    rows = [("set_aside", rule, int(counts.get(rule, 0))) for rule in RULES]
    used = total - sum(n for _, _, n in rows)
    ledger = pd.DataFrame([("used", "", used), *rows], columns=["outcome", "rule", "rows"])
    ledger["share"] = ledger["rows"] / total
    return ledger


def _top_reasons(ledger: pd.DataFrame) -> str:
    aside = ledger[(ledger.outcome == "set_aside") & (ledger.rows > 0)].sort_values("rows", ascending=False)
    return ", ".join(f"{r.rule}: {r.rows}" for r in aside.itertuples())
