"""What the engine can tell of a source in one aggregate, without reading its rows into Python.

- `date_span`: the first and the last date of the transactions' date column, so that `segkit report
  --month` refuses a month the data do not reach before 01_cleaning runs (`segkit.report.runner`).
- `status_counts`: the rows of each status of the transactions' status column, so that `segkit check`
  prints the notes 01 gives on the status lists (`segkit.intake.cleaning.status_list_notes`).

Both read a file where the embedded engine (DuckDB) reads it in place: a Parquet file, a DuckDB file's
table, and a CSV or TSV file (plain or gzip/zstd-compressed, UTF-8, one-character separator) through
DuckDB's own CSV reader, with the separator and the header line segkit's reader found
(`segkit.intake.textfiles.TextTable`). `date_span` also asks a PostgreSQL table (min and max of a
typed date column). Where the engine cannot read the file as segkit would (another encoding, a zip,
runs of blanks, a record DuckDB refuses), `status_counts` streams it through segkit's reader, counting
with Arrow; `date_span` says nothing (None), and 01 decides as before. An Excel workbook, Spark and the
demo data have no cheap answer: None.

`date_span` is used to refuse, so it must never refuse a month 01 would report: only dates written
plainly (ISO 8601, or year first with slashes) or typed as dates count, and any other value in the
column leaves the span unknown. Its dates are those of the column as it is (a typo dated 2099 widens
it); `MONTH_MARGIN_DAYS` of slack cover a time zone's shift of a date.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from segkit.params import FileTable, Source

# days a date may move between the column as written and 01's reading of it (a time zone's conversion)
MONTH_MARGIN_DAYS = 2
# dates written plainly: ISO 8601 (with a time or not), or year first with slashes (2025/12/03 10:00)
_PLAIN_DATE = (r"(?:\d{3}[1-9]|\d{2}[1-9]\d|\d[1-9]\d{2}|[1-9]\d{3})-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
               r"(?:[ T](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d)?)?")
_KEY = "source.transactions"
# the largest CSV or TSV file (bytes on disk) whose dates `date_span` reads: one pass of DuckDB's reader
# over 57 MB (1M lines) took 0.5-1 s on a loaded 2-core host, over 533 MB (10M lines) 8-11 s, while a
# monthly report of 10M lines takes about 130 s; beyond this, 01_cleaning decides (and leaves nothing behind)
CSV_SPAN_MAX_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class DateSpan:
    """The first and the last date of a source's transactions (`origin`: the file or table)."""

    first: dt.date
    last: dt.date
    origin: str


def date_span(source: Source, params_path: str | Path | None = None, time_zone: str | None = None
              ) -> DateSpan | None:
    """The dates the source's transactions span, from one aggregate in the engine (see the module),
    or None where that is not known cheaply and for certain (`time_zone`: `cleaning.time_zone`, the
    zone a database's timestamps are read in). Never raises: what it cannot read, the run reads and
    says."""
    try:
        if source.kind == "file" and source.preset is None:
            spec = _relative(source, params_path).transactions
            column = spec.columns.get("ordered_at", "ordered_at")  # unmapped: a column of segkit's own name
            from segkit.intake.sources import _existing_file, file_kind

            if file_kind(spec, _KEY) in ("csv", "tsv") and _existing_file(spec, _KEY).stat().st_size > CSV_SPAN_MAX_BYTES:
                return None  # a whole pass over a big text file is no cheap answer: 01 decides
            with _engine() as con:
                found = _file_relation(con, spec)
                if found is None:
                    return None
                relation, named = found
                if column not in named:
                    return None
                span = _span(con, relation, named[column])
            return DateSpan(*span, origin=spec.path) if span else None
        if source.kind == "database" and source.database is not None:
            return _database_span(source, time_zone)
    except Exception:  # noqa: BLE001 - an answer only where certain; the run says what is wrong
        return None
    return None


def status_counts(source: Source, params_path: str | Path | None = None) -> list[tuple[str, int]] | None:
    """The rows of each status of the transactions file's status column, as 01 compares them (the text
    fixes of a label applied, blanks trimmed, empty statuses and a repeated header's name left out),
    the most rows first; None without a status column, for a source that is not a file the engine or
    segkit's text reader reads (an Excel workbook, a database: `segkit check` does not contact it),
    or a file read with a preset (its system's statuses are the preset's)."""
    if source.kind != "file" or source.preset is not None:
        return None
    spec = _relative(source, params_path).transactions
    column = spec.columns.get("status", "status")  # unmapped: a column of segkit's own name, if the file has one
    from segkit.intake.sources import _existing_file, file_kind

    kind = file_kind(spec, _KEY)
    raw = None
    with _engine() as con:
        try:
            found = _file_relation(con, spec)
            if found is not None and column not in found[1]:
                return None
            if found is not None:
                relation, named = found
                expression = named[column]
                raw = con.raw_sql(f"SELECT CAST({expression} AS VARCHAR) AS s, count(*) AS n FROM {relation} "
                                  f"WHERE {expression} IS NOT NULL GROUP BY 1").fetchall()
        except Exception:  # noqa: BLE001 - a record DuckDB's reader refuses: segkit's reader below
            raw = None
    if raw is None:
        if kind not in ("csv", "tsv"):
            return None
        raw = _streamed_counts(spec, _existing_file(spec, _KEY), kind, column)
    return None if raw is None else _as_compared(raw, column)


def _as_compared(raw, header: str) -> list[tuple[str, int]]:
    """Raw (status, rows) pairs as 01 counts them: each distinct text through the text fixes of a label
    (`parsing.parse_text`), blanks trimmed, empty left out, the same status summed; a status that is
    the column's own name (a header repeated inside the file) left out."""
    import pandas as pd

    from segkit.intake.parsing import parse_text

    raw = [(text, int(rows)) for text, rows in raw if text is not None]
    if not raw:
        return []
    fixed = parse_text(pd.Series([text for text, _ in raw], dtype="object"), labels=True).values
    counts: Counter = Counter()
    for value, (_, rows) in zip(fixed.tolist(), raw):
        if value is None or value is pd.NA or (isinstance(value, float) and value != value):
            continue
        value = str(value).strip()
        if value and value != header.strip():
            counts[value] += rows
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def _streamed_counts(spec: FileTable, path: Path, kind: str, column: str) -> list[tuple[str, int]] | None:
    """The rows of each value of `column`, the file streamed through segkit's text reader (any
    encoding, compression and separator it reads), counted batch by batch with Arrow."""
    import pyarrow.compute as pc

    from segkit.intake.sources import text_table

    table = text_table(path, spec, _KEY, kind)
    if column not in table.header():
        return None
    counts: Counter = Counter()
    for batch in table.batches():
        found = pc.value_counts(batch.column(batch.schema.get_field_index(column)))
        for value, rows in zip(found.field("values").to_pylist(), found.field("counts").to_pylist()):
            if value is not None:
                counts[value] += rows
    return list(counts.items())


def _relative(source: Source, params_path) -> Source:
    from segkit.intake.sources import _paths_relative_to

    if params_path is None:
        return source
    return _paths_relative_to(source, Path(params_path).resolve().parent)


class _engine:
    """An embedded engine of its own (`segkit.intake.sources.connect`: its memory cap), without DuckDB's
    progress bar, closed after."""

    def __enter__(self):
        from segkit.intake.sources import connect

        self.con = connect()
        try:  # no progress bar on the terminal of `segkit check` or `segkit report` for a query over 2 s
            self.con.raw_sql("SET enable_progress_bar = false")
        except Exception:  # noqa: BLE001 - a DuckDB that draws none refuses the setting
            pass
        return self.con

    def __exit__(self, *_) -> None:
        try:
            self.con.disconnect()
        except Exception:  # noqa: BLE001
            pass


def _literal(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _identifier(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _file_relation(con, spec: FileTable) -> tuple[str, dict[str, str]] | None:
    """The transactions file as the engine reads it in place: (a FROM clause, the file's column name ->
    its expression there), or None where DuckDB does not read it as segkit does."""
    from segkit.intake.sources import _existing_file, file_kind
    from segkit.intake.textfiles import compression_of

    path = _existing_file(spec, _KEY)
    kind = file_kind(spec, _KEY)
    compression = compression_of(path)
    if kind == "parquet":
        if compression:
            return None
        relation = f"read_parquet({_literal(path)})"
        names = [row[0] for row in con.raw_sql(f"DESCRIBE SELECT * FROM {relation}").fetchall()]
        return relation, {name: _identifier(name) for name in names}
    if kind == "duckdb":
        if compression:
            return None
        con.raw_sql(f"ATTACH IF NOT EXISTS {_literal(path)} AS segkit_scan (READ_ONLY)")
        tables = {row[0] for row in con.raw_sql(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'segkit_scan'").fetchall()}
        name = spec.table or ("transactions" if "transactions" in tables else None)
        if name not in tables:
            return None
        relation = f"segkit_scan.main.{_identifier(name)}"
        names = [row[0] for row in con.raw_sql(f"DESCRIBE SELECT * FROM {relation}").fetchall()]
        return relation, {name: _identifier(name) for name in names}
    if kind in ("csv", "tsv"):
        return _csv_relation(spec, path, kind, compression)
    return None


def _csv_relation(spec: FileTable, path: Path, kind: str, compression: str | None
                  ) -> tuple[str, dict[str, str]] | None:
    """A CSV or TSV file through DuckDB's reader, its records after the header line segkit's reader
    found, split by the separator it found, every value text (c0, c1, ... by position); None for what
    DuckDB does not read as segkit does: a zip, bzip2 or xz file, an encoding stated other than UTF-8,
    a UTF-16 or UTF-32 file, lines ending in a lone CR, runs of blanks as the separator, a header name
    holding a line break."""
    import codecs

    from segkit.intake.sources import text_table
    from segkit.intake.textfiles import open_bytes

    if compression not in (None, "gzip", "zstd"):
        return None
    if spec.encoding and codecs.lookup(spec.encoding).name not in ("utf-8", "utf-8-sig"):
        return None
    with open_bytes(path, _KEY, spec.member) as stream:
        head = stream.read(1 << 16)
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")) or (b"\r" in head and b"\r\n" not in head):
        return None
    table = text_table(path, spec, _KEY, kind)
    names = table.header()
    separator = table.separator
    if not separator or len(separator) != 1 or separator == '"' or any("\n" in name or "\r" in name for name in names):
        return None
    columns = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(names)))
    relation = (f"read_csv({_literal(path)}, auto_detect = false, header = false, skip = {int(table.header_line)}, "
                f"delim = {_literal(separator)}, quote = '\"', escape = '\"', columns = {{{columns}}}, "
                f"compression = {_literal(compression or 'none')}, encoding = 'utf-8')")
    return relation, {name: f"c{i}" for i, name in enumerate(names)}


def _span(con, relation: str, expression: str) -> tuple[dt.date, dt.date] | None:
    """(first, last) date of `expression` in `relation`: a DATE or TIMESTAMP column's, or a text
    column's whose every value is written year first with its month and day in two digits each
    (2025-12-03, 2025/12/03, with a time or not), all with the same separator, so that the order of
    the text is the order of the dates (None otherwise, or when no value is there). A value of that
    shape that is no date (2025-13-45) only widens the span: the run sets it aside. One pass of
    cheap string tests (a regular expression on every value took twice as long: 1.5 s against 0.7 s
    for 1M lines on a loaded host)."""
    kind = con.raw_sql(f"DESCRIBE SELECT {expression} AS d FROM {relation}").fetchall()[0][1].upper()
    if kind == "DATE" or kind.startswith("TIMESTAMP"):
        first, last = con.raw_sql(f"SELECT min(CAST(d AS DATE)), max(CAST(d AS DATE)) FROM "
                                  f"(SELECT {expression} AS d FROM {relation})").fetchone()
        return (first, last) if first is not None and last is not None else None
    if kind != "VARCHAR":
        return None
    odd, slashed, rows, first, last = con.raw_sql(
        "SELECT count(*) FILTER (WHERE NOT (length(d) IN (10, 16, 19) AND substr(d, 5, 1) = substr(d, 8, 1) "
        "AND substr(d, 5, 1) IN ('-', '/'))), count(*) FILTER (WHERE substr(d, 5, 1) = '/'), count(*), min(d), max(d) "
        f"FROM (SELECT {expression} AS d FROM {relation}) WHERE d IS NOT NULL AND d <> ''").fetchone()
    if odd or not rows or slashed not in (0, rows):  # another layout, or - and / mixed (their order is not the dates')
        return None
    first, last = first.replace("/", "-"), last.replace("/", "-")
    if not (re.fullmatch(_PLAIN_DATE, first) and re.fullmatch(_PLAIN_DATE, last)):
        return None
    try:
        return dt.date.fromisoformat(first[:10]), dt.date.fromisoformat(last[:10])
    except ValueError:  # 2025-02-30: the readers set it aside; no span said
        return None


def _database_span(source: Source, time_zone: str | None = None) -> DateSpan | None:
    """A PostgreSQL table's span: min and max of its date column where it is typed as a date or a
    timestamp (in the session's zone, as 01 reads it); None for a text column."""
    from segkit.intake.sources import _db_table, _set_session_zone, connect_database, database_canonical

    db = source.database
    con = connect_database(db)
    try:
        _set_session_zone(con, time_zone)
        origin = f"database table {db.table}"
        table = database_canonical(_db_table(con, db.table, origin), db.columns, origin)
        kind = table.ordered_at.type()
        if not (kind.is_date() or kind.is_timestamp()):
            return None
        found = table.aggregate(first=table.ordered_at.min(), last=table.ordered_at.max()).to_pyarrow()
        first, last = found["first"][0].as_py(), found["last"][0].as_py()
    finally:
        try:
            con.disconnect()
        except Exception:  # noqa: BLE001
            pass
    if first is None or last is None:
        return None
    as_date = (lambda v: v.date() if isinstance(v, dt.datetime) else v)
    return DateSpan(as_date(first), as_date(last), origin)


def status_notes(source: Source, params_path: str | Path | None = None, rules=None) -> list[dict]:
    """The notes 01_cleaning gives on the status lists of `rules` (`params.cleaning`:
    `segkit.intake.cleaning.status_list_notes`: a listed status no row holds, statuses no list names),
    from the rows of each status of the whole transactions file (`status_counts`); [] where those are
    not counted (no status column, a workbook, a database, a preset)."""
    import pyarrow as pa

    from segkit.intake.cleaning import status_list_notes
    from segkit.params import Cleaning

    counts = status_counts(source, params_path)
    if counts is None:
        return []
    column = source.transactions.columns.get("status", "status")
    frame = pa.table({"_status": pa.array([status for status, _ in counts], pa.string()),
                      "rows": pa.array([rows for _, rows in counts], pa.int64())})
    with _engine() as con:
        table = con.create_table("segkit_status_counts", frame, temp=True, overwrite=True)
        return status_list_notes(table, rules or Cleaning(), column,
                                 refund_mapped="refund_amount" in source.transactions.columns)
