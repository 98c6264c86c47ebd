"""Intake: read transactions (and optional customer and survey tables) into segkit's columns.

Every source ends as the same canonical frame, whatever the company called its columns:
`customer_id, order_id, ordered_at, amount` (required) and `quantity, category, channel`
(optional), plus `source_row`, the row's number in its source, so that every row can be traced.
Values that cannot be read as a date or a number become missing here; the cleaning stage sets
such rows aside with the reason. The engine is DuckDB, embedded, reached through Ibis.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

import ibis
import pandas as pd

from segkit.datasets import load_cdnow, generate_retail
from segkit.errors import DataError
from segkit.params import FileTable, Source

TRANSACTION_COLUMNS = ("customer_id", "order_id", "ordered_at", "amount", "quantity", "category", "channel")
REQUIRED_COLUMNS = ("customer_id", "ordered_at", "amount")


def connect(path: str | None = None) -> ibis.BaseBackend:
    """The embedded engine: an in-memory DuckDB (or a DuckDB file when `path` is given)."""
    return ibis.duckdb.connect(path or ":memory:")


@dataclass(frozen=True)
class Intake:
    """What a source gives: transactions (canonical columns) and optional per-customer tables."""

    transactions: pd.DataFrame
    customers: pd.DataFrame | None = None
    surveys: pd.DataFrame | None = None


def load_source(source: Source) -> Intake:
    """Read the transactions and the optional `customers` and `surveys` tables of a params source."""
    if source.kind == "demo":
        demo = source.demo
        data = generate_retail(demo.customers, demo.start, demo.months, seed=demo.seed, defects=demo.defects)
        return Intake(_with_source_row(data.transactions), data.customers, data.surveys)
    if source.kind == "cdnow":
        return Intake(_with_source_row(load_cdnow()))
    if source.kind == "file":
        spec = source.transactions
        transactions = to_canonical(read_file(spec), spec.columns, origin=spec.path)
        tables = {}
        for name in ("customers", "surveys"):
            table = getattr(source, name)
            if table is not None:
                frame = read_file(table).drop(columns="source_row")
                tables[name] = frame.rename(columns={theirs: ours for ours, theirs in table.columns.items()})
        return Intake(transactions, **tables)
    raise DataError(f"source.kind {source.kind!r} is not readable by this version of segkit")


def read_file(spec: FileTable) -> pd.DataFrame:
    """A CSV, TSV or Parquet file as read, every CSV value kept as text, with `source_row`."""
    path = Path(spec.path)
    if not path.is_file():
        raise DataError(f"{path}: no such file (check source.*.path in the params file)")
    kind = spec.format or {".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}.get(path.suffix.lower(), "csv")
    if kind == "parquet":
        frame = pd.read_parquet(path)
        first_row = 1
    else:
        try:
            frame = pd.read_csv(path, sep="\t" if kind == "tsv" else ",", dtype=str,
                                keep_default_na=False, na_values=[""], encoding="utf-8-sig")
        except pd.errors.EmptyDataError:
            raise DataError(f"{path}: the file is empty; export it again with a header row") from None
        except UnicodeDecodeError as err:
            raise DataError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start}); "
                            "save it as UTF-8 or state its encoding") from None
        first_row = 2  # line 1 is the header
    frame.insert(0, "source_row", range(first_row, first_row + len(frame)))
    return frame


def to_canonical(raw: pd.DataFrame, columns: dict[str, str], origin: str = "input") -> pd.DataFrame:
    """Rename the user's columns to segkit's (per the column map) and read values into their types."""
    unknown = set(columns) - set(TRANSACTION_COLUMNS)
    if unknown:
        raise DataError(f"{origin}: the column map names {sorted(unknown)}, which segkit does not use; "
                        f"map to {', '.join(TRANSACTION_COLUMNS)}")
    mapping = {ours: columns.get(ours, ours) for ours in TRANSACTION_COLUMNS}
    for ours in REQUIRED_COLUMNS:
        theirs = mapping[ours]
        if theirs not in raw.columns:
            present = [c for c in raw.columns if c != "source_row"]
            close = difflib.get_close_matches(theirs, present, n=1)
            hint = f'; did you mean "{close[0]}"?' if close else ""
            raise DataError(f'{origin}: column "{theirs}" (for {ours}) is not in the file{hint} '
                            f"(columns there: {', '.join(present)}); fix source.transactions.columns")
    out = pd.DataFrame({"source_row": raw["source_row"].to_numpy()})
    out["customer_id"] = raw[mapping["customer_id"]].astype("string").str.strip()
    out["ordered_at"] = pd.to_datetime(raw[mapping["ordered_at"]], errors="coerce", format="mixed")
    out["amount"] = pd.to_numeric(raw[mapping["amount"]], errors="coerce")
    if mapping["order_id"] in raw.columns:
        out["order_id"] = raw[mapping["order_id"]].astype("string").str.strip()
    else:  # no order number: one order per customer and day, as in the CDNOW data
        out["order_id"] = out["customer_id"] + "-" + out["ordered_at"].dt.strftime("%Y%m%d")
    for name in ("quantity", "category", "channel"):
        if mapping[name] in raw.columns:
            values = raw[mapping[name]]
            out[name] = pd.to_numeric(values, errors="coerce") if name == "quantity" else values.astype("string")
    return out[[c for c in ("source_row", *TRANSACTION_COLUMNS) if c in out.columns]]


def _with_source_row(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out.insert(0, "source_row", range(1, len(out) + 1))
    return out
