"""Intake: read transactions (and optional customer and survey tables) into segkit's columns.

Every source ends as the same canonical columns, whatever the company called them:
`customer_id, ordered_at` and `amount` (or `quantity` × `unit_price`) are required; `order_id,
quantity, category, product, channel, status, currency, refund_amount` are optional (`refund_amount`: the
part of the line's amount refunded, in the amount's currency and units); `source_row` is the row's line in its
file (or its number in the table), so that every row can be traced back.

Files are read as the text that was exported: values are not converted here, so that the cleaning
stage can fix what is certain, set aside what is not, and show the data owner the original text.
A PostgreSQL table is read in place: `transactions` is then a lazy Ibis table in the database,
whose columns are typed; only per-customer tables come back to Python.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import io
import itertools
import os
import re
import weakref
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

import ibis
import numpy as np
import pandas as pd

from segkit.datasets import generate_retail, load_cdnow
from segkit.errors import DataError
from segkit.intake.parsing import EXACT_FLOAT  # the largest whole number a float holds exactly
from segkit.intake.textfiles import SEPARATORS as SEPARATOR_WORDS
from segkit.intake.textfiles import (Decoded, TextTable, check_header, compression_of, inner_name, open_bytes,
                                     refuse_row_column, zip_member)
from segkit.params import CampaignTable, Database, FileTable, Source, Spark
from segkit.intake import engines as _engines  # noqa: F401 (Ibis' compile options for segkit's queries)

TRANSACTION_COLUMNS = ("customer_id", "order_id", "ordered_at", "amount", "quantity", "category", "channel")
INPUT_COLUMNS = ("customer_id", "order_id", "ordered_at", "amount", "quantity", "unit_price", "category",
                 "product", "channel", "status", "currency", "refund_amount")
REQUIRED_COLUMNS = ("customer_id", "ordered_at", "amount")
TABLE_COLUMNS = {  # the per-customer tables: columns segkit reads with a type (others pass through as given)
    "customers": {"signup_date": "date"},
    "surveys": {"answered_at": "date", "score": "number", "nps": "number"},
}
SUFFIXES = {".csv": "csv", ".txt": "csv", ".tsv": "tsv", ".tab": "tsv", ".xlsx": "excel", ".xlsm": "excel",
            ".parquet": "parquet", ".pq": "parquet", ".duckdb": "duckdb", ".ddb": "duckdb"}


# measured at 10M lines: 01's package calls peak at 1.8 GB with it (3.9 GB uncapped; 1.6 GB with 768MB, but
# then 07_cross_sell at 50M lines ran out of the engine's memory in its category mix)
DEFAULT_ENGINE_MEMORY = "1GB"


def connect(path: str | None = None) -> ibis.BaseBackend:
    """The embedded engine: an in-memory DuckDB (or a DuckDB file when `path` is given).

    Its memory is capped at `DEFAULT_ENGINE_MEMORY` (1GB) or at the environment variable
    SEGKIT_ENGINE_MEMORY (a DuckDB size such as "4GB", or a share of the machine such as "50%"):
    above it, its tables, joins, aggregates and sorts spill to a folder of this process's own in
    the system's temporary folder (removed when the process ends). DuckDB alone would take up to
    80% of the machine: a 10M-line cleaning reached 3.9 GB (and 11 GB before 01 wrote the month-start
    features month by month); with 1GB it peaks at 1.8 GB for the whole process.

    In a report's kernels (SEGKIT_BATCH set, `segkit.tuning.BATCH_VARIABLE`) DuckDB's progress bar is
    off: in a Jupyter kernel it draws an ipywidgets bar for each query over 2 s, which nobody watches
    in a batch run and which left empty output areas in the report's pages (nine in 01_cleaning at
    10M lines); interactively it stays on. In a kernel without ipywidgets (a plain install: only the
    notebook extra brings it) DuckDB draws no bar and refuses the setting: it is left alone. Raises
    DataError for a size DuckDB cannot read."""
    from segkit.tuning import BATCH_VARIABLE

    con = ibis.duckdb.connect(path or ":memory:")
    if os.environ.get(BATCH_VARIABLE):
        try:
            con.raw_sql("SET enable_progress_bar = false")
        except Exception as err:  # in a kernel without ipywidgets DuckDB draws no bar, and refuses the setting
            if "ipywidgets" not in str(err):
                raise
    memory = os.environ.get("SEGKIT_ENGINE_MEMORY") or DEFAULT_ENGINE_MEMORY
    try:
        con.raw_sql(f"SET memory_limit = '{memory.replace(chr(39), '')}'")
    except Exception as err:  # DuckDB's parser names what it could not read
        raise DataError(f"SEGKIT_ENGINE_MEMORY={memory!r} is not a memory size DuckDB reads (e.g. 2GB, 512MB, "
                        f"50%): {str(err).splitlines()[0]}") from None
    con.raw_sql(f"SET temp_directory = '{str(_spill_folder()).replace(chr(39), chr(39) * 2)}'")
    _keep_blocks(con, memory)
    return con


def _keep_blocks(con: ibis.BaseBackend, memory: str) -> None:
    """Let the engine keep the memory of its blocks, up to its cap, once it has them (DuckDB's
    `block_allocator_memory`, 0 by default: each block freed goes back to the system, and the next
    one is faulted in page by page again). On a 2-core VM that reports free memory to its host, at
    10M lines, 01's cleaning and summaries faulted 1.34M pages instead of 1.69M and spent 3.7-4.2 s
    of system time instead of 5.2-5.4 s, at the same peak (docs/benchmarks.md, "Session 28").
    Left alone by a DuckDB without the setting (before 1.2)."""
    known = con.raw_sql("SELECT count(*) FROM duckdb_settings() WHERE name = 'block_allocator_memory'").fetchone()[0]
    if known:
        con.raw_sql(f"SET block_allocator_memory = '{memory.replace(chr(39), '')}'")


@functools.cache
def _spill_folder() -> Path:
    """This process's folder for what the engine spills: its own, so that two runs at once never
    share DuckDB's temporary files; removed when the process exits."""
    import atexit
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="segkit-engine-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


@dataclass(frozen=True)
class Intake:
    """What a source gives: transactions in segkit's column names (a DataFrame, or a lazy Ibis
    table where the data stay in a database), optional per-customer tables, and the engine that
    holds the transactions (None: the embedded DuckDB). `reading` says how a transactions file was
    read (kind, compression, encoding, separator, header_line, blank_lines: lines skipped as holding
    only blanks, which the ledger does not count; parser)."""

    transactions: pd.DataFrame | ibis.Table
    customers: pd.DataFrame | None = None
    surveys: pd.DataFrame | None = None
    engine: ibis.BaseBackend | None = None
    origin: str = ""
    reading: dict = field(default_factory=dict)  # how a file was read: encoding, separator, blank_lines, ...
    attributes: pd.DataFrame | None = None  # source_row and the transaction attributes of the params, as text

    @property
    def in_database(self) -> bool:
        """Whether the transactions stay in a database segkit only reads (PostgreSQL), rather than
        in the embedded engine (a typed file read in place, or a frame)."""
        return isinstance(self.transactions, ibis.Table) and not is_embedded(self.engine)

    def reading_messages(self, lang: str = "en") -> list[tuple[str, dict]]:
        """How a file was read, as (catalogue key, values) pairs for `say_each`: a text file's encoding,
        compression and separator (in `lang`), and the lines skipped as holding only blanks; an Excel
        workbook's sheet and the row of its column names; empty for other sources."""
        from segkit.i18n import t

        read = self.reading
        if read.get("kind") == "excel" and read.get("sheet") is not None:
            others = read.get("other_sheets", 0)
            return [("cleaning.reading_sheet_others" if others else "cleaning.reading_sheet",
                     {"sheet": read["sheet"], "row": read.get("header_row", 1), **({"others": others} if others else {})})]
        if read.get("kind") not in ("csv", "tsv"):
            return []
        separator = read.get("separator")
        named = SEPARATOR_WORDS.get(separator)
        shown = t(f"separator.{named.replace(' ', '_')}", lang) if named else repr(separator)
        compression = read.get("compression")
        said = [("cleaning.reading_compressed" if compression else "cleaning.reading",
                 {"encoding": read.get("encoding") or "?", "separator": shown,
                  **({"compression": compression} if compression else {})})]
        if read.get("blank_lines"):
            said.append(("cleaning.blank_lines", {"lines": read["blank_lines"]}))
        return said


def load_source(source: Source, params_path: str | Path | None = None, time_zone: str | None = None,
                decimal: str = ".", day_first: bool | None = None) -> Intake:
    """Read the transactions and the optional `customers` and `surveys` tables of a params source.

    A relative file path in the source is read relative to the folder of `params_path` (the params
    file it was written in), so that the same params work from any working folder. `time_zone`
    (`params.cleaning.time_zone`) is the zone a database's or a Parquet file's timestamps with a
    time zone are read in (see `load_database`, `segkit.intake.typed_files`); text applies it in
    cleaning. `decimal`
    (`params.cleaning.decimal`) is the decimal mark of a text file's amounts. A CSV or TSV file,
    compressed or not, is streamed into the embedded engine and never becomes a pandas frame
    (`segkit.intake.plain_text`: a column not plainly written is text there, read by cleaning); a
    workbook, a text file with one of its columns mapped twice or two unnamed columns, and a
    compressed Parquet file are read into pandas.
    `day_first` (`params.cleaning.day_first`) is the order of day and month of the customers' and
    surveys' files' dates ("04/01/2026"); unstated, dates their column does not settle stay unread
    until 01 knows the transactions' order (`read_customer_table`, `reread_table_dates`).
    """
    if params_path is not None and source.kind == "file":
        source = _paths_relative_to(source, Path(params_path).parent)
    if source.kind == "demo":
        demo = source.demo
        data = generate_retail(demo.customers, demo.start, demo.months, seed=demo.seed, defects=demo.defects,
                               lang=demo.lang)
        return Intake(_with_source_row(data.transactions), data.customers, data.surveys, origin="demo")
    if source.kind == "cdnow":
        return Intake(_with_source_row(load_cdnow()), origin="cdnow")
    if source.kind == "file":
        spec = source.transactions
        from segkit.intake.preset_rows import engine_reads

        with _header_row_hint(spec, "source.transactions"):
            typed = _typed_file(spec, decimal, time_zone, source.preset) if engine_reads(source.preset) else None
        if typed is not None:
            tables = {name: read_customer_table(getattr(source, name), name, day_first)
                      for name in ("customers", "surveys") if getattr(source, name) is not None}
            return replace(typed, **tables)
        with _header_row_hint(spec, "source.transactions"):
            raw = read_file(spec, "source.transactions")
            transactions = to_canonical(raw, spec.columns, origin=spec.path)
        from segkit.intake.presets import matching_preset, rewrite_values

        if source.preset is not None:  # a system's layout the parsers do not read as written
            transactions = rewrite_values(transactions, source.preset)
        elif (hint := matching_preset(list(raw.columns))) is not None:  # a note names the preset (cleaning)
            transactions.attrs["preset_hint"] = hint
        tables = {name: read_customer_table(getattr(source, name), name, day_first)
                  for name in ("customers", "surveys") if getattr(source, name) is not None}
        return Intake(transactions, **tables, origin=spec.path, reading=dict(transactions.attrs.get("intake", {})),
                      attributes=row_attributes(raw, spec.attributes, spec.path))
    if source.kind == "database":
        return load_database(source.database, time_zone)
    if source.kind == "spark":
        return load_spark(source.spark, params_path)
    raise DataError(f"source.kind {source.kind!r} is not readable by this version of segkit")


def is_embedded(con: ibis.BaseBackend | None) -> bool:
    """Whether `con` is segkit's embedded engine (DuckDB, in this process), which segkit may write
    to; a database (PostgreSQL) is only read."""
    return con is None or getattr(con, "name", None) == "duckdb"


def _typed_file(spec: FileTable, decimal: str = ".", time_zone: str | None = None,
                preset: str | None = None) -> Intake | None:
    """A Parquet or DuckDB file read in place by the embedded engine (`segkit.intake.typed_files`;
    its timestamps with a time zone converted to `time_zone`),
    a plainly written CSV or TSV file read into it (`segkit.intake.plain_text`), or None when it
    must be read as text (a column segkit reads not typed or not plain; a compressed Parquet file is
    decompressed first, `_decompressed`); the
    rows read as `preset` (`source.preset`) says its system meant them (`segkit.intake.preset_rows`)."""
    from segkit.intake.typed_files import engine_transactions

    key = "source.transactions"
    path = _existing_file(spec, key)
    kind = file_kind(spec, key)
    if kind in ("csv", "tsv"):
        return _plain_text_file(spec, path, kind, key, decimal, preset)
    compression = compression_of(path)
    if kind not in ("parquet", "duckdb") or (compression and kind != "parquet"):
        return None
    if compression:  # the engine reads Parquet in place only from a file of its own: decompressed beside its spills
        path = _decompressed(path, key, spec.member)
    con = connect()
    found = engine_transactions(con, path, kind, spec.columns, spec.path, spec.table, key, time_zone, preset)
    if found is None:
        return None
    transactions, present = found
    attributes = None
    if spec.attributes:  # the attributes the params keep: only those columns come back, as text
        for ours, theirs in spec.attributes.items():
            if theirs not in present:
                raise DataError(_missing_column(spec.path, ours, theirs, present, "source.transactions.attributes"))
        attributes = engine_attributes(con, path, kind, spec)
    return Intake(transactions, engine=con, origin=spec.path, reading={"kind": kind, "compression": compression},
                  attributes=attributes)


def _decompressed(path: Path, key: str, member: str | None) -> Path:
    """A compressed Parquet file (`orders.parquet.gz`, a zip's member) decompressed, streamed, into
    this process's engine folder (`_spill_folder`, removed when the process exits), so that the
    engine reads it in place as it reads any Parquet file. Raises the reader's DataError for a file
    that cannot be decompressed."""
    import shutil

    target = _spill_folder() / f"source-{next(_DECOMPRESSED)}.parquet"
    with open_bytes(path, key, member) as stream, target.open("wb") as out:
        shutil.copyfileobj(stream, out, 1 << 20)
    return target


_DECOMPRESSED = itertools.count()


def _plain_text_file(spec: FileTable, path: Path, kind: str, key: str, decimal: str,
                     preset: str | None = None) -> Intake | None:
    """A CSV or TSV file read into the embedded engine batch by batch, when what segkit reads of it
    is plainly written (`segkit.intake.plain_text`), with the transaction attributes the params keep
    as a table there; None: read it as text."""
    from segkit.intake.plain_text import engine_text_transactions

    table = text_table(path, spec, key, kind)
    con = connect()
    found = engine_text_transactions(con, table, spec.columns, spec.path, key, decimal, spec.attributes, preset)
    if found is None:
        return None
    transactions, _, attributes = found
    return Intake(transactions, engine=con, origin=spec.path, attributes=attributes,
                  reading={"kind": kind, "compression": compression_of(path), **text_reading(table)})


def engine_attributes(con: ibis.BaseBackend, path: Path, kind: str, spec: FileTable) -> ibis.Table | pd.DataFrame:
    """The transaction attributes the params keep (`spec.attributes`, our name -> the file's column)
    with source_row, as `row_attributes` gives them (text normalised as labels, empty as missing): a
    lazy table in `con` where the file types them as text or whole numbers (the label fixes applied
    in the engine through the distinct values they change, `typed_files.labels_fixed`), else (dates,
    floats, true/false, whose text pandas writes its own way) a pandas frame of those columns."""
    from segkit.intake.typed_files import FILE_ROW, _open, labels_fixed

    raw = _open(con, path, kind, spec.table, "source.transactions")
    present = [c for c in raw.columns if c != FILE_ROW]
    raw = raw.filter(ibis.or_(*[raw[c].notnull() for c in present]))
    rows = (raw[FILE_ROW] + 1).cast("int64")
    if all(raw[theirs].type().is_string() or raw[theirs].type().is_integer() for theirs in spec.attributes.values()):
        table = raw.select(source_row=rows, **{ours: raw[theirs].cast("string") for ours, theirs in spec.attributes.items()})
        return labels_fixed(table, list(spec.attributes))
    names = list(dict.fromkeys(spec.attributes.values()))
    frame = raw.select(source_row=rows, **{n: raw[n] for n in names}).to_pandas()
    return row_attributes(frame, spec.attributes, spec.path)


def beside(folder: str | os.PathLike, path: str) -> str:
    """A path the params give relative to their own folder, its `..` steps folded (`files/../files/x.csv`
    -> `files/x.csv`, as messages show it) where that is the same file. They stay where the folder is
    a symbolic link: "params/../data" is the data beside the link's target, not beside the link."""
    joined = str(Path(folder) / path)
    folded = os.path.normpath(joined)
    try:
        same = os.path.realpath(joined) == os.path.realpath(folded)
    except (OSError, ValueError):
        same = False
    return folded if same else joined


def _paths_relative_to(source: Source, folder: Path) -> Source:
    changes = {}
    for name in ("transactions", "customers", "surveys", "campaigns"):
        table = getattr(source, name)
        if table is not None and not Path(table.path).is_absolute():
            changes[name] = table.model_copy(update={"path": beside(folder, table.path)})
    return source.model_copy(update=changes)


# -- files ------------------------------------------------------------------------------------

def file_kind(spec: FileTable, key: str = "source.transactions") -> str:
    """The format of the file: `spec.format`, else from its suffix, looking inside a compression
    suffix (`x.tsv.gz` is TSV) or at the member of a zip; an unknown suffix is read as CSV."""
    if spec.format:
        return spec.format
    path = Path(spec.path)
    name = inner_name(path, spec.member)
    if compression_of(path) == "zip" and not spec.member and path.is_file():
        name = zip_member(path, None, key)
    suffix = Path(name).suffix.lower()
    if suffix == ".xls":
        raise DataError(f"{spec.path}: the old Excel format .xls is not read; open it in Excel or WPS and "
                        "save it as .xlsx (or as CSV)")
    return SUFFIXES.get(suffix, "csv")


def read_file(spec: FileTable, key: str = "source.transactions") -> pd.DataFrame:
    """The file's table as exported, with `source_row` (its line or sheet row) first.

    CSV, TSV and Excel values are kept as text (None where empty); Parquet and DuckDB columns keep
    their types. Rows that are empty in every column are not records and are skipped; for text,
    so are lines holding only blanks and separators (counted in `attrs["intake"]["blank_lines"]`).
    A compressed file (.gz, .bz2, .xz, .zst, a .zip with one member or `spec.member`) is read as
    its content. `attrs["intake"]` also says how a text file was read (encoding, separator,
    compression, header line). `key` is where the file is named in the params, for the messages.
    """
    path = _existing_file(spec, key)
    kind = file_kind(spec, key)
    notes = {}
    if kind in ("csv", "tsv"):
        frame, notes = _read_text_table(path, spec, key, kind)
    elif kind == "excel":
        frame = _read_excel(path, spec, key)
        notes = dict(frame.attrs.get("sheet", {}))  # which sheet, the header's row
    elif kind == "parquet":
        try:
            with _whole(path, spec, key) as source:
                frame = _read_parquet(source)
        except DataError:
            raise
        except Exception as err:  # pyarrow raises several kinds for a file that is not Parquet
            raise DataError(f"{path}: not a readable Parquet file ({first_line(err)}); export it again "
                            f"or set {key}.format") from None
        _numbered(frame, 1, key, str(path))
    else:
        if compression_of(path):
            raise DataError(f"{path}: a DuckDB file is read as it is, not compressed; decompress it first")
        frame = _read_duckdb(path, spec, key)
    if len(frame.columns) <= 1:
        raise DataError(f"{path}: no columns found; check that it has a header row ({key}.header_row)")
    values = frame.drop(columns="source_row")
    out = frame[values.notna().any(axis=1).to_numpy()].reset_index(drop=True)
    out.attrs["intake"] = {"kind": kind, "compression": compression_of(path), **notes}
    return out


@contextmanager
def _whole(path: Path, spec: FileTable, key: str):
    """The file, or its decompressed content in memory (Excel and Parquet need to seek)."""
    if not compression_of(path):
        yield path
        return
    with open_bytes(path, key, spec.member) as stream:
        data = stream.read()
    yield io.BytesIO(data)


def _read_parquet(source) -> pd.DataFrame:
    """A Parquet table as pandas, its float columns as Arrow floats, so that NaN (a value that is not
    a number) and null (empty) stay apart: cleaning sets the first aside as not finite, the second
    as missing."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(source)
    frame = table.to_pandas()
    for field in table.schema:
        if pa.types.is_floating(field.type):
            frame[field.name] = pd.Series(pd.arrays.ArrowExtensionArray(table.column(field.name).combine_chunks()),
                                          index=frame.index)
    return frame


def decode(data: bytes, path: Path, encoding: str | None, key: str) -> str:
    """The text of `data` (the bytes of a file): in the stated encoding, or detected as the
    streaming reader does (see `segkit.intake.textfiles`); newlines as "\\n", no byte-order mark."""
    return "".join(Decoded(io.BytesIO(data), path, key, encoding))


def _read_text_table(path: Path, spec: FileTable, key: str, kind: str) -> tuple[pd.DataFrame, dict]:
    """A CSV/TSV-like file through the streaming reader (`segkit.intake.textfiles.TextTable`),
    gathered into one DataFrame of text, with how it was read."""
    table = text_table(path, spec, key, kind)
    frame = table.read().to_pandas()
    return frame, text_reading(table)


def text_table(path: Path, spec: FileTable, key: str, kind: str) -> TextTable:
    """The streaming reader of `spec`'s CSV or TSV file (`kind`), not read yet."""
    return TextTable(path, key=key, encoding=spec.encoding, separator=spec.separator, header_row=spec.header_row,
                     preferred="\t" if kind == "tsv" else ",", member=spec.member)


def text_reading(table: TextTable) -> dict:
    """How a text file was read, once `table` has read it: encoding, separator, header line, blank lines, parser."""
    return {"encoding": table.encoding, "separator": table.separator, "header_line": table.header_line,
            "blank_lines": table.blank_lines, "parser": table.parser}


def _read_excel(path: Path, spec: FileTable, key: str, header_only: bool = False,
                max_rows: int | None = None) -> pd.DataFrame:
    try:
        import openpyxl
    except ImportError:
        raise DataError("reading Excel files needs openpyxl: pip install 'segkit[excel]'") from None
    try:
        with _whole(path, spec, key) as source:
            book = openpyxl.load_workbook(source, read_only=True, data_only=True)
    except DataError:
        raise
    except Exception as err:  # a zip or XML error: not an .xlsx file
        raise DataError(f"{path}: not a readable .xlsx workbook ({first_line(err)}); save it again from "
                        "Excel or WPS as .xlsx") from None
    try:
        if spec.sheet is not None and spec.sheet not in book.sheetnames:
            close = difflib.get_close_matches(spec.sheet, book.sheetnames, n=1)
            hint = f'; did you mean "{_name(close[0])}"?' if close else ""
            raise DataError(f'{path}: no sheet "{_name(spec.sheet)}"{hint} (sheets there: {_listing(book.sheetnames)}); '
                            f"fix {key}.sheet")
        sheet = book[spec.sheet] if spec.sheet is not None else book.worksheets[0]
        rows = sheet.iter_rows(min_row=spec.header_row, values_only=True)
        header = next(rows, None)
        if header is None or all(cell is None or str(cell).strip() == "" for cell in header):
            raise DataError(f'{path}: no header in row {spec.header_row} of sheet "{_name(sheet.title)}"; set '
                            f"{key}.header_row to the row that holds the column names")
        names = [str(cell).strip() if cell is not None and str(cell).strip() else f"Unnamed: {i}"
                 for i, cell in enumerate(header)]
        check_header(names, f'{path} sheet "{_name(sheet.title)}" row {spec.header_row}',
                     transactions=key == "source.transactions")
        # the customer id column keeps number cells as numbers: a number among zero-padded text ids is
        # an id that Excel turned into a number, which parse_id pads back (fix zero_padded_id)
        id_name = (spec.columns or {}).get("customer_id", "customer_id")
        id_at = names.index(id_name) if id_name in names else -1
        # an order number too large for the float Excel keeps stays that float: cleaning refuses it as rounded
        order_name = (spec.columns or {}).get("order_id", "order_id")
        order_at = names.index(order_name) if order_name in names else -1
        records = [] if header_only else [
            [_cell_number(cell) if i == id_at else _cell_rounded(cell) if i == order_at else _cell_text(cell)
             for i, cell in enumerate(row)]
            + [None] * (len(names) - len(row)) for row in itertools.islice(rows, max_rows)]
        read = {"sheet": sheet.title, "header_row": spec.header_row, "other_sheets": len(book.sheetnames) - 1}
    finally:
        book.close()
    frame = pd.DataFrame([r[:len(names)] for r in records], columns=names, dtype="object")
    _numbered(frame, spec.header_row + 1, key, str(path))
    frame.attrs["sheet"] = read
    return frame


def _cell_number(cell):
    """An id cell: a number stays a number (a whole float as int, but one beyond 2**53, rounded by
    the spreadsheet, as the float it is), anything else as `_cell_text`."""
    if isinstance(cell, bool) or not isinstance(cell, (int, float)):
        return _cell_text(cell)
    if isinstance(cell, float) and abs(cell) >= EXACT_FLOAT:
        return cell
    return int(cell) if isinstance(cell, int) or cell.is_integer() else cell


def _cell_rounded(cell):
    """An order-number cell: as `_cell_text`, but a float beyond 2**53 (rounded) stays that float."""
    return cell if isinstance(cell, float) and abs(cell) >= EXACT_FLOAT else _cell_text(cell)


def _cell_text(cell) -> str | None:
    """An Excel cell as the text it shows: dates in ISO form, whole numbers without ".0"."""
    if cell is None:
        return None
    if isinstance(cell, dt.datetime):
        return cell.isoformat(sep=" ")
    if isinstance(cell, (dt.date, dt.time)):
        return cell.isoformat()
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    text = str(cell)
    return text if text.strip() else None


def _read_duckdb(path: Path, spec: FileTable, key: str) -> pd.DataFrame:
    import duckdb

    try:
        con = duckdb.connect(str(path), read_only=True)
    except Exception as err:
        raise DataError(f"{path}: not a readable DuckDB file ({first_line(err)})") from None
    try:
        tables = [row[0] for row in con.execute(
            "SELECT table_name FROM information_schema.tables ORDER BY table_name").fetchall()]
        name = spec.table or ("transactions" if "transactions" in tables else None)
        if name not in tables:
            raise DataError(f"{path}: no table {_name(name)!r} (tables there: {_listing(tables) or 'none'}); "
                            f"set {key}.table")
        frame = con.table(f'"{name}"').df()
    finally:
        con.close()
    _numbered(frame, 1, key, f"{path} table {name}")
    return frame


def _numbered(frame: pd.DataFrame, first: int, key: str, where: str) -> None:
    """Number the frame's rows in place (`source_row`, from `first`). A transactions table's own
    column of that name is refused (`textfiles.refuse_row_column`); another table's is not read, and
    makes way."""
    if "source_row" in frame.columns:
        if key == "source.transactions":
            refuse_row_column([str(c) for c in frame.columns], where)
        del frame["source_row"]
    frame.insert(0, "source_row", range(first, first + len(frame)))


# The headers an export gives its lines' currency column (compared trimmed, in any case): read as segkit's
# `currency` where the column map names none, so that lines in another currency than the run's are set
# aside (`segkit.intake.cleaning.other_currency_test`) instead of summed as if they were in it
CURRENCY_HEADERS = ("currency", "currency code", "currency_code", "currencycode", "currencyisocode",
                    "currency iso code", "币种", "幣種", "币别", "幣別", "货币", "貨幣", "结算币种", "交易币种")


def column_mapping(columns: dict[str, str], present, extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Segkit's name -> the source's, for every column segkit reads (INPUT_COLUMNS and `extra`): the
    column map's, else a column of segkit's own name; `currency`, where the map names none, is also a
    column `present` whose header is one of CURRENCY_HEADERS (Shopify's "Currency", Salesforce's
    "CurrencyIsoCode", 币种)."""
    mapping = {ours: columns.get(ours, ours) for ours in (*INPUT_COLUMNS, *extra)}
    if "currency" not in columns and "currency" not in present:
        found = [c for c in present if " ".join(str(c).split()).casefold() in CURRENCY_HEADERS]
        if len(found) == 1:  # two such columns (a line's and a shop's currency): none is guessed
            mapping["currency"] = found[0]
    return mapping


def mapped_columns(present: list[str], columns: dict[str, str], origin: str, key: str,
                   extra: tuple[str, ...] = (), types: dict | None = None) -> tuple[dict[str, str], bool]:
    """Check a typed table's column map against the columns `present`: ours -> theirs for every
    column segkit reads (and `extra`), and whether the amount is derived (no amount column, but
    quantity and unit price). Raises DataError for a key segkit does not use, or a required or
    mapped column that is not there (listing those that are; `types`, the table's column types
    where known, keep a suggestion to columns of the kind needed: a number for the amount, a date
    or timestamp for ordered_at)."""
    check_column_map(columns, origin, key, extra=extra)
    mapping = column_mapping(columns, present, extra)
    derive_amount = "amount" not in columns and "amount" not in present and \
        mapping["quantity"] in present and mapping["unit_price"] in present
    wanted = dict.fromkeys(["customer_id", "ordered_at", *([] if derive_amount else ["amount"]), *columns])
    missing = [(ours, mapping[ours]) for ours in wanted if mapping[ours] not in present]
    if missing:
        raise DataError(_missing_columns(origin, missing, present, key,
                                         suggest={ours: _of_kind(present, types, ours) for ours, _ in missing}))
    return mapping, derive_amount


def _of_kind(present: list[str], types: dict | None, ours: str) -> list[str] | None:
    """The columns of `present` whose type fits `ours` (numbers for the amounts, dates or timestamps
    for ordered_at), when the types are known; None: any column may be suggested."""
    if not types or ours not in ("ordered_at", "amount", "quantity", "unit_price", "refund_amount"):
        return None
    fits = (lambda kind: kind.is_temporal()) if ours == "ordered_at" else (
        lambda kind: kind.is_numeric() and not kind.is_boolean())
    return [c for c in present if c in types and fits(types[c])]


def check_column_map(columns: dict[str, str], origin: str, key: str, extra: tuple[str, ...] = ()) -> None:
    """Refuse a column-map key that segkit does not use (the transactions' map: INPUT_COLUMNS)."""
    import difflib

    unknown = set(columns) - set(INPUT_COLUMNS) - set(extra)
    if unknown:
        near = {name: difflib.get_close_matches(str(name), [*INPUT_COLUMNS, *extra], n=1) for name in sorted(unknown)}
        hint = "; ".join(f"did you mean {found[0]!r} for {str(name)!r}?" for name, found in near.items() if found)
        raise DataError(f"{origin}: the column map names {_listing(sorted(unknown))}, which segkit does not use"
                        f"{' (' + hint + ')' if hint else ''}; map to {', '.join(INPUT_COLUMNS)} ({key})")


def check_source(source: Source, params_path: str | Path | None = None, rules=None,
                 table_dates: bool = True) -> list[dict]:
    """What `load_source` would refuse that can be known without reading the rows: a column-map key
    segkit does not use (files and databases); and, for files, a path that is not there, a format
    not read (.xls), a zip with several members and no `member`, a header that cannot be read (its
    encoding, its line, a column named twice) or that lacks a mapped column; for a database, a
    `password_env` variable that is not set; and ids a spreadsheet rounded in the transactions file's
    first CHECKED_ROWS rows (`_check_first_rows`). Reads each file's header and those rows; never
    connects to a database. With `rules` (the params' `cleaning`), a file's columns are those its rules need
    (`segkit.intake.cleaning.check_rule_columns`: returns marked by status need the status column).
    A campaigns file (`source.campaigns`, any source kind): its header against its column map, and
    its rows as 07 reads them (`_check_campaigns`: a flag that is not yes/no, an empty id, a date
    that cannot be read in either order of day and month).
    Raises the run's DataError (ParamsError for the password), with the run's message.

    Returns the notes on dates the run keeps without a date, so said, not refused: the customers' and
    surveys' files' dates that cannot be read (`_check_table_dates`; not with `table_dates` False, which
    spares reading those files whole), and the dates of those files and of the campaigns file that
    only the order of day and month leaves unread ("04/01/2026" where nothing in the file settles it:
    `dates_unsettled_check`), which the run reads in the order the transactions' dates settle, if they
    settle one."""
    # the params file's folder as a report reads it (`run_report` resolves the params path): the same paths in
    # the messages of `segkit check` and of `segkit report`
    params_path = Path(params_path).resolve() if params_path is not None else None
    notes = _check_campaigns(source, params_path, rules.day_first if rules is not None else None)
    if params_path is not None and source.kind == "file":
        source = _paths_relative_to(source, Path(params_path).parent)
    if source.kind == "database":
        db = source.database
        check_column_map(db.columns, f"database table {db.table}", "source.database.columns", extra=("source_row",))
        db.password()  # a password variable that is not set: the run's message, before the run
        return notes
    if source.kind != "file":
        return notes
    spec = source.transactions
    check_column_map(spec.columns, spec.path, "source.transactions.columns")
    with _header_row_hint(spec, "source.transactions"):
        names = read_header(spec, "source.transactions")
        canonical = to_canonical(pd.DataFrame(columns=["source_row", *names]), spec.columns, origin=spec.path)
    if not _has_rows(spec, "source.transactions"):  # said now, not by 01_cleaning once the run has started
        raise DataError(f"{spec.path}: there are no transactions: the file holds only its header; export the data "
                        "again, or check the file the params name")
    _check_first_rows(spec, "source.transactions")
    if rules is not None:
        from segkit.intake.cleaning import check_rule_columns

        try:
            check_rule_columns(rules, canonical.columns)
        except DataError as err:
            raise DataError(f"{spec.path}: {err}") from None
    row_attributes(pd.DataFrame(columns=["source_row", *names]), spec.attributes, spec.path)
    for name in ("customers", "surveys"):
        table = getattr(source, name)
        if table is not None:
            _check_table_columns(read_header(table, f"source.{name}"), table, name)
            if table_dates:
                notes += _check_table_dates(table, name, rules.day_first if rules is not None else None)
    return notes


def _check_table_dates(spec: FileTable, name: str, day_first: bool | None = None) -> list[dict]:
    """The notes 01 gives on the dates of a customers or surveys file that cannot be read
    (`unread_dates_notes`), the file read as 01 reads it, in the order `day_first` states; unstated,
    those that only the order leaves unread ("04/01/2026") are the note `dates_unsettled_check`: 01
    reads them in the transactions' order, where those settle one."""
    notes = unread_dates_notes(read_customer_table(spec, name, day_first), name)
    # of dates either order reads, what the run will do: 01 reads them in the transactions' order, if any
    return [{**note, "key": "dates_unsettled_check"} if note["key"].endswith("_unsettled") else note for note in notes]


# how many of a file's first rows `segkit check` reads, for what the header cannot show (rounded ids)
CHECKED_ROWS = 50_000


def _check_first_rows(spec: FileTable, key: str) -> None:
    """The run's refusal of ids a spreadsheet rounded (`parsing.refuse_rounded_ids`: "1.23457E+11"),
    judged on the first CHECKED_ROWS rows of a text, Excel or Parquet file, with the run's message
    (its counts those of the rows read)."""
    from segkit.intake.parsing import RoundedIds, refuse_rounded_ids_in_frame

    first = _first_rows(spec, key, CHECKED_ROWS)
    if first is None:
        return
    try:
        refuse_rounded_ids_in_frame(to_canonical(first, spec.columns, origin=spec.path))
    except RoundedIds as err:
        raise RoundedIds(f"{spec.path}: {err}") from None


def _first_rows(spec: FileTable, key: str, rows: int) -> pd.DataFrame | None:
    """The first `rows` rows of a text, Excel or Parquet file as `read_file` reads them (text, Excel's
    cells, Parquet's types), with source_row; None for a DuckDB file."""
    path = _existing_file(spec, key)
    kind = file_kind(spec, key)
    if kind in ("csv", "tsv"):
        table = text_table(path, spec, key, kind)
        table.batch_rows = min(table.batch_rows, rows)
        batches, taken = [], 0
        stream = table.batches()
        try:
            for batch in stream:
                batches.append(batch)
                taken += batch.num_rows
                if taken >= rows:
                    break
        finally:
            stream.close()
        import pyarrow as pa

        schema = pa.schema([("source_row", pa.int64()), *((name, pa.string()) for name in table.columns)])
        return pa.Table.from_batches(batches, schema=schema).slice(0, rows).to_pandas()
    if kind == "excel":
        return _read_excel(path, spec, key, max_rows=rows)
    if kind == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        with _whole(path, spec, key) as source:
            parquet = pq.ParquetFile(source)
            batch = next(parquet.iter_batches(batch_size=rows), None)
            frame = (pa.Table.from_batches([batch]) if batch is not None else parquet.schema_arrow.empty_table()
                     ).to_pandas()
        _numbered(frame, 1, key, str(path))
        return frame
    return None


# how far below the header row a file's column names are looked for when a mapped column is not there
_HEADER_ROWS_LOOKED_AT = 10


@contextmanager
def _header_row_hint(spec: FileTable, key: str) -> Iterator[None]:
    """A mapped column that is not in the file's header row (or rows longer than that header), when
    the mapped names are all in one of the next rows (a title, a date or a blank line above the
    header, as exports and Excel sheets often have): the DataError says which row and the header_row
    to set."""
    try:
        yield
    except DataError as error:
        message = str(error)
        missing = (") is not there" in message or ") are not there" in message) and "(columns there:" in message
        no_header = re.search(r': no header in row \d+ of sheet "', message) is not None
        if not missing and not no_header and not re.search(r" values, but the header \(line \d+\) names \d+ columns?;",
                                                           message):
            raise
        stop = "" if message.endswith(".") else "."
        row = None if no_header else _row_of_names(spec, key)
        if row is not None:
            raise DataError(f"{message}{stop} The column names are in row {row}: set {key}.header_row: {row}.") from None
        sheets = _sheets_with_names(spec, key)
        if not sheets:
            raise
        if len(sheets) > 1:
            listed = ", ".join(f'"{_name(sheet)}"' for sheet, _ in sheets[:5])
            raise DataError(f"{message}{stop} The columns are in several other sheets ({listed}): set {key}.sheet to "
                            "the one to read.") from None
        sheet, row = sheets[0]
        where = f'sheet "{_name(sheet)}"' + ("" if row == spec.header_row else f", row {row}")
        also = "" if row == spec.header_row else f" and {key}.header_row: {row}"
        raise DataError(f'{message}{stop} The columns are in {where}: set {key}.sheet: "{_name(sheet)}"{also}.') from None


def _row_of_names(spec: FileTable, key: str) -> int | None:
    """The first row below `spec.header_row` (of the next `_HEADER_ROWS_LOOKED_AT`) that holds every
    column the map names, for a text or Excel file; None when none does."""
    try:
        kind = file_kind(spec, key)
    except DataError:
        return None
    if kind not in ("csv", "tsv", "excel"):
        return None
    wanted = {spec.columns.get(ours, ours) for ours in ("customer_id", "ordered_at")} | set(spec.columns.values())
    for row in range(spec.header_row + 1, spec.header_row + 1 + _HEADER_ROWS_LOOKED_AT):
        try:
            names = read_header(spec.model_copy(update={"header_row": row}), key)
        except DataError:  # a blank line, or past the file's end
            continue
        if wanted <= {str(name).strip() for name in names}:
            return row
    return None


def _sheets_with_names(spec: FileTable, key: str) -> list[tuple[str, int]]:
    """The other sheets of an Excel workbook than the one `spec` reads (its `sheet`, else the first)
    that hold every column the map names in their header row or one of the next
    `_HEADER_ROWS_LOOKED_AT` rows, each with that row: (sheet, row), in the workbook's order. Empty
    for another kind of file, or a workbook that cannot be read (its own error is said then)."""
    try:
        if file_kind(spec, key) != "excel":
            return []
        import openpyxl

        with _whole(Path(spec.path), spec, key) as source:
            book = openpyxl.load_workbook(source, read_only=True, data_only=True)
    except Exception:  # the hint is a help: never a second error
        return []
    wanted = {spec.columns.get(ours, ours) for ours in ("customer_id", "ordered_at")} | set(spec.columns.values())
    read = spec.sheet if spec.sheet in book.sheetnames else book.sheetnames[0]
    found = []
    try:
        for sheet in book.worksheets:
            if sheet.title == read:
                continue
            last = spec.header_row + _HEADER_ROWS_LOOKED_AT
            for row, cells in enumerate(sheet.iter_rows(min_row=spec.header_row, max_row=last, values_only=True),
                                        start=spec.header_row):
                if wanted <= {str(cell).strip() for cell in cells if cell is not None}:
                    found.append((sheet.title, row))
                    break
    finally:
        book.close()
    return found


def _check_campaigns(source: Source, params_path: str | Path | None = None,
                     day_first: bool | None = None) -> list[dict]:
    """The campaigns file (`segkit check`), where there is one, its path read as `load_campaigns`
    reads it (beside the params file): its header against its column map, then its rows as 07 reads
    them (`read_campaigns`), so that a bad flag, id or date is said before a run, not after its first
    six notebooks. Dates are read in the order `day_first` states; unstated, dates that only the
    order leaves unread ("04/01/2026") are a note (`dates_unsettled_check`), returned: 07 reads them
    in the order 01 finds for the transactions (`run_day_first`), else leaves them without a date."""
    spec = source.campaigns
    if spec is None:
        return []
    if params_path is not None and not Path(spec.path).is_absolute():
        spec = spec.model_copy(update={"path": beside(Path(params_path).parent, spec.path)})
    _check_campaign_columns(read_header(spec, "source.campaigns"), spec)
    said = read_campaigns(spec, day_first=day_first).attrs.get("send_dates_unsettled")
    return [] if said is None else [{**said, "key": "dates_unsettled_check"}]


def _existing_file(spec: FileTable, key: str) -> Path:
    """The file's path, or the DataError for a folder or a path with nothing there: the path absolute
    and normalised (`shown_path`), with a file of a close name in its folder (or in the nearest folder
    above it that exists: `files/files/x.csv` for `files/x.csv`)."""
    path = Path(spec.path)
    if path.is_dir():
        raise DataError(f"{shown_path(path)}: is a folder, not a file; set {key}.path to the file itself")
    if not path.is_file():
        near = _near_file(path)
        hint = f" (did you mean {near[1]} in {near[0]}?)" if near else ""
        raise DataError(f"{shown_path(path)}: no such file{hint}; check {key}.path in the params file (a relative "
                        "path is read from the params file's folder)")
    return path


def shown_path(path: str | os.PathLike) -> str:
    """A path as a message shows it: absolute and normalised (`files/../files/x.csv` -> `/…/files/x.csv`),
    the same whether the params file was named by a relative path (`segkit check`) or an absolute one
    (a report's notebooks). For display only: a `..` after a symbolic link is opened as given (`beside`)."""
    return os.path.normpath(os.path.abspath(path))


# a folder with more entries than this is not searched for a close name (a message must come at once)
_NEAR_FILES_LOOKED_AT = 2_000


def _near_file(path: Path) -> tuple[str, str] | None:
    """(folder, name) of the file whose name is closest to `path`'s (difflib) in its folder, or, when
    that folder is not there, in the nearest folder above it that is; None when no name is close."""
    folder = Path(shown_path(path)).parent
    while not folder.is_dir() and folder != folder.parent:
        folder = folder.parent
    try:
        with os.scandir(folder) as entries:
            names = [entry.name for entry in itertools.islice(entries, _NEAR_FILES_LOOKED_AT) if entry.is_file()]
    except OSError:
        return None
    close = difflib.get_close_matches(path.name, names, n=1, cutoff=0.6)
    return (str(folder), close[0]) if close else None


def read_header(spec: FileTable, key: str = "source.transactions") -> list[str]:
    """The column names of the file's table, reading as little of it as the format allows."""
    path = _existing_file(spec, key)
    kind = file_kind(spec, key)
    if kind in ("csv", "tsv"):
        return text_table(path, spec, key, kind).header()
    if kind == "excel":
        return [c for c in _read_excel(path, spec, key, header_only=True).columns if c != "source_row"]
    if kind == "parquet":
        import pyarrow.parquet as pq

        try:
            with _whole(path, spec, key) as source:
                names = list(pq.read_schema(source).names)
        except DataError:
            raise
        except Exception as err:
            raise DataError(f"{path}: not a readable Parquet file ({first_line(err)}); export it again "
                            f"or set {key}.format") from None
        if key == "source.transactions":  # as the run refuses it (`_numbered`, `typed_files.engine_transactions`)
            refuse_row_column(names, str(path))
        return names
    return [c for c in read_file(spec, key).columns if c != "source_row"]  # a DuckDB table: read as the run does


def _has_rows(spec: FileTable, key: str) -> bool:
    """Whether a text or Parquet file holds a row below its header, reading no further than its first
    rows (a Parquet file's footer); True for the other formats (their run says it)."""
    path = _existing_file(spec, key)
    kind = file_kind(spec, key)
    if kind in ("csv", "tsv"):
        return text_table(path, spec, key, kind).has_rows()
    if kind == "parquet":
        import pyarrow.parquet as pq

        with _whole(path, spec, key) as source:
            return pq.ParquetFile(source).metadata.num_rows > 0
    return True


def to_canonical(raw: pd.DataFrame, columns: dict[str, str], origin: str = "input",
                 key: str = "source.transactions.columns") -> pd.DataFrame:
    """The file's columns under segkit's names (per the column map), values as exported;
    `attrs["columns"]` maps each of segkit's names read to the file's own header.

    Required: customer_id, ordered_at, and amount or both quantity and unit_price. A column the map
    names must be there; the error lists the columns that are and suggests the closest.
    """
    check_column_map(columns, origin, key)
    present = [c for c in raw.columns if c != "source_row"]
    mapping = column_mapping(columns, present)
    needed = ["customer_id", "ordered_at"]
    derive_amount = ("amount" not in columns and "amount" not in raw.columns
                     and mapping["quantity"] in raw.columns and mapping["unit_price"] in raw.columns)
    needed += [] if derive_amount else ["amount"]
    missing = [(ours, mapping[ours]) for ours in [*needed, *(c for c in columns if c not in needed)]
               if mapping[ours] not in raw.columns]
    if missing:
        raise DataError(_missing_columns(origin, missing, present, key)
                        + _separator_hint(present, raw.attrs.get("intake", {}).get("separator"), key))
    out = pd.DataFrame({"source_row": raw["source_row"].to_numpy()})
    for ours in INPUT_COLUMNS:
        if mapping[ours] in raw.columns:
            out[ours] = raw[mapping[ours]].array  # as read: Arrow floats keep NaN apart from empty
    out["content"] = row_content(raw)
    out.attrs = dict(raw.attrs)
    # the file's own header of each column read, for the notes that name a column (`cleaning.prepare`)
    out.attrs["columns"] = {ours: mapping[ours] for ours in INPUT_COLUMNS if mapping[ours] in raw.columns}
    return out


# The source's own name of each of segkit's columns, for transactions that live in an engine (a typed
# file read in place, a database table, Spark), as `attrs["columns"]` holds it for a frame: an Ibis
# table has no attrs, so the names are kept here, by the table's expression, while the table lives.
_HEADERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_PRESET_HINTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def with_headers(table: ibis.Table, headers: dict[str, str], preset_hint: str | None = None) -> ibis.Table:
    """`table` (segkit's columns, in an engine), known from now on to hold the source's columns
    `headers` (segkit's name -> the file's or the table's own name): see `source_headers`; and, with
    `preset_hint`, to be a file whose columns are that preset's export, read without it (`source_preset_hint`)."""
    _HEADERS[table.op()] = dict(headers)
    if preset_hint is not None:
        _PRESET_HINTS[table.op()] = preset_hint
    return table


def source_preset_hint(transactions: pd.DataFrame | ibis.Table) -> str | None:
    """The preset whose export the transactions' file is, where it was read without a preset
    (`presets.matching_preset`; for cleaning's note), else None: `attrs["preset_hint"]` of a frame,
    or what `with_headers` recorded for a table in an engine."""
    if isinstance(transactions, pd.DataFrame):
        return transactions.attrs.get("preset_hint")
    try:
        return _PRESET_HINTS.get(transactions.op())
    except (AttributeError, TypeError):
        return None


def source_headers(transactions: pd.DataFrame | ibis.Table) -> dict[str, str]:
    """segkit's name -> the source's own name (the file's header, the table's column) of each
    column of `transactions` that the intake read from the source: `attrs["columns"]` of a frame
    (`to_canonical`), or what `with_headers` recorded for a table in an engine. Empty when nothing
    says (a frame or a table built by hand): the details and notes then use segkit's names."""
    if isinstance(transactions, pd.DataFrame):
        return dict(transactions.attrs.get("columns", {}))
    try:
        return dict(_HEADERS.get(transactions.op(), {}))
    except (AttributeError, TypeError):
        return {}


def row_attributes(raw: pd.DataFrame, attributes: dict[str, str], origin: str = "input",
                   key: str = "source.transactions.attributes") -> pd.DataFrame | None:
    """The transaction attributes the params keep (`attributes`: our name -> the file's column), as
    text normalised as labels (blanks trimmed, full-width digits and letters made ASCII, empty as missing), with
    `source_row`; None when the params keep none. A named column that is not in the file is a
    DataError listing the columns that are."""
    from segkit.intake.parsing import parse_text

    if not attributes:
        return None
    present = [c for c in raw.columns if c != "source_row"]
    out = pd.DataFrame({"source_row": raw["source_row"].to_numpy()})
    for ours, theirs in attributes.items():
        if theirs not in raw.columns:
            raise DataError(_missing_column(origin, ours, theirs, present, key))
        out[ours] = parse_text(raw[theirs], labels=True).values.to_numpy()
    return out


def row_content(raw: pd.DataFrame) -> np.ndarray:
    """A 64-bit hash (int64) of each whole row as it came in: every column of the file, mapped or
    not, as text (missing values as NUL), without `source_row`. Two rows are exact duplicates when
    their hashes are equal, so that rows differing only in an unmapped column (a description) are
    not (collisions: about 1 in 2**64 per pair)."""
    values = raw.drop(columns="source_row", errors="ignore")
    as_given = values.astype("string").fillna("\x00")
    as_given.columns = range(len(as_given.columns))  # the hash does not depend on the names
    return pd.util.hash_pandas_object(as_given, index=False).to_numpy().view("int64")


def _separator_hint(present: list, separator: str | None, key: str) -> str:
    """When the header was read as one column that holds a separator: which one, and how to state it."""
    if len(present) != 1:
        return ""
    header = str(present[0])
    seen = [sep for sep in (",", ";", "\t", "|") if sep in header and sep != separator]
    if not seen:
        return ""
    names = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
    read_as = f" (separator: {SEPARATOR_WORDS.get(separator, repr(separator))})" if separator else ""
    table_key = key.removesuffix(".columns")
    return (f" The header was read as one column{read_as}, but it holds {names[seen[0]]}s ({seen[0]!r}): the "
            f"separator may be {names[seen[0]]}; state it as {table_key}.separator: {names[seen[0]]}.")


def _missing_column(origin: str, ours: str, theirs: str, present: list[str], key: str,
                    suggest: list[str] | None = None) -> str:
    return _missing_columns(origin, [(ours, theirs)], present, key,
                            suggest=None if suggest is None else {ours: suggest})


def _missing_columns(origin: str, missing: list[tuple[str, str]], present: list[str], key: str,
                     suggest: dict[str, list[str] | None] | None = None) -> str:
    """The message for the mapped columns (ours, theirs) that are not in `present`, all at once, each
    with the closest name there (difflib; `suggest`: per column of ours, the columns that may be
    suggested, None for any); blank headers listed by their position, not pandas' "Unnamed: 1"."""
    def near(ours: str, theirs: str) -> str:
        allowed = (suggest or {}).get(ours)
        names = [str(c) for c in (present if allowed is None else allowed) if not _blank_header(c)]
        close = difflib.get_close_matches(theirs, names, n=1, cutoff=0.5)
        return f'; did you mean "{_name(close[0])}"?' if close else ""

    looks_like_data = [c for c in present if re.fullmatch(r"[\d\s.,:/¥$-]+", str(c))]
    no_header = (f" The first row looks like data ({_listing(looks_like_data[:3])}), not column "
                 "names: add a header row, or set header_row." if looks_like_data else "")
    extra = ("" if "amount" not in {ours for ours, _ in missing}
             else " (or map quantity and unit_price: amount is then their product)")
    if len(missing) == 1:
        (ours, theirs), = missing
        return (f'{origin}: column "{_name(theirs)}" (for {ours}) is not there{near(ours, theirs)} (columns there: '
                f"{_listing(present)}); fix {key}{extra}.{no_header}")
    named = ", ".join(f'"{_name(theirs)}" (for {ours}{near(ours, theirs)})' for ours, theirs in missing)
    return (f"{origin}: columns {named} are not there (columns there: {_listing(present)}); fix {key}{extra}."
            f"{no_header}")


def _blank_header(name) -> int | None:
    """The position (from 1) of a column whose header cell was blank, which the readers name as pandas
    does ("Unnamed: 1" for the second column); None for a named column."""
    found = re.fullmatch(r"Unnamed: (\d+)", str(name))
    return int(found.group(1)) + 1 if found else None


@dataclass(frozen=True, eq=False)
class UnreadDates:
    """The dates of one column of a customers or surveys file that hold a value but were not read
    (`read_customer_table`): the file (`path`, as the params name it), the column by the file's own
    header, and for each such row its label in the frame (`index`), its row in the file (`rows`,
    source_row: a text file's line) and its text as written. `rereadable`: no order of day and month
    was stated and the column itself settled none (nor holds both), so the run's order (the
    transactions') may still read them (`reread_table_dates`). Kept in the frame's `attrs`, shared
    by the frames made from it, never copied: it is never changed."""

    path: str
    header: str
    index: tuple
    rows: tuple[int, ...]
    text: tuple[str, ...]
    rereadable: bool

    def __deepcopy__(self, memo) -> "UnreadDates":  # pandas deep-copies attrs at each step: an immutable record
        return self


def read_customer_table(spec: FileTable, name: str, day_first: bool | None = None) -> pd.DataFrame:
    """A customers or surveys file: renamed per its column map, customer_id as text, known date and
    number columns (signup_date; answered_at, score, nps) typed; other columns as exported.
    `attrs["columns"]` maps each name the map gave to the file's own header.

    Dates with day and month in numbers ("04/01/2026") are read in the order `day_first` states
    (`params.cleaning.day_first`), else as the column itself settles it (`parsing.parse_datetime`).
    A date that holds a value but is not read is missing (NaT), its row kept; `attrs["unread_dates"]`
    (column -> `UnreadDates`, only where there are some) keeps its row and text, so that 01 re-reads
    it in the transactions' order (`reread_table_dates`) and says those still unread
    (`unread_dates_notes`). A typed date column (Parquet, DuckDB) is taken as it is."""
    from segkit.intake.parsing import parse_amount, parse_datetime, parse_id

    read = read_file(spec, f"source.{name}")
    rows = read["source_row"].to_numpy()
    raw = read.drop(columns="source_row")
    _check_table_columns(list(raw.columns), spec, name)
    frame = raw.rename(columns={theirs: ours for ours, theirs in spec.columns.items()})
    frame["customer_id"] = parse_id(frame["customer_id"]).values  # the transactions' ids are read the same way
    unread = {}
    for column, kind in TABLE_COLUMNS[name].items():
        if column not in frame.columns:
            continue
        if kind != "date":
            frame[column] = parse_amount(frame[column]).values
            continue
        parsed = parse_datetime(frame[column], day_first=day_first)
        missed = parsed.unreadable().to_numpy()
        if missed.any():
            settled = parsed.note is not None and parsed.note.get("key") != "date_order_unknown"
            unread[column] = UnreadDates(spec.path, spec.columns.get(column, column), tuple(frame.index[missed]),
                                         tuple(int(r) for r in rows[missed]),
                                         tuple(str(v) for v in frame[column].to_numpy()[missed]),
                                         rereadable=day_first is None and not settled)
        frame[column] = parsed.values
    frame.attrs["columns"] = dict(spec.columns)  # for a detail that names a column (`cleaning.split_survey_answers`)
    frame.attrs["origin"] = spec.path  # for a note that names the file
    if unread:
        frame.attrs["unread_dates"] = unread
    return frame


def reread_table_dates(table: pd.DataFrame, day_first: bool | None) -> pd.DataFrame:
    """`table` (a customers or surveys table of `read_customer_table`) with the dates its own column
    did not settle read in the order `day_first` states: the run's (`run_day_first`: the params', or
    the one the transactions' dates settled); `attrs["unread_dates"]` then keeps only those still
    unread. The table itself where `day_first` is None or nothing is left to re-read; else a new
    frame (the input is not changed).

    A date column holding both orders, or whose own dates settled one, is left as read: the
    transactions' order says nothing of a file that settles its own."""
    from segkit.intake.parsing import parse_datetime

    unread = table.attrs.get("unread_dates") or {}
    if day_first is None or not any(dates.rereadable for dates in unread.values()):
        return table
    out = table.copy()
    left = {}
    for column, dates in unread.items():
        if not dates.rereadable or column not in out.columns:
            left[column] = dates
            continue
        values = parse_datetime(pd.Series(dates.text, dtype=object), day_first=day_first).values
        where = out.index.get_indexer(pd.Index(dates.index, dtype=object))
        read = values.notna().to_numpy() & (where >= 0)
        if read.any():
            column_values = out[column].copy()
            column_values.iloc[where[read]] = values.to_numpy()[read]
            out[column] = column_values
        if not read.all():
            keep = ~read
            left[column] = UnreadDates(dates.path, dates.header, tuple(np.array(dates.index, dtype=object)[keep]),
                                       tuple(np.array(dates.rows)[keep].tolist()),
                                       tuple(np.array(dates.text, dtype=object)[keep]), rereadable=False)
    out.attrs["unread_dates"] = left
    if not left:
        del out.attrs["unread_dates"]
    return out


def without_unread_dates(table: pd.DataFrame | None) -> pd.DataFrame | None:
    """`table` without `attrs["unread_dates"]` (`read_customer_table`), once its notes are taken: a
    table to save (Parquet keeps a frame's attrs as JSON, which that record is not). A new frame
    sharing its data; `table` itself where it has none, and None for None."""
    if table is None or "unread_dates" not in table.attrs:
        return table
    out = table.copy(deep=False)
    out.attrs = {key: value for key, value in table.attrs.items() if key != "unread_dates"}
    return out


def unread_dates_notes(table: pd.DataFrame | None, name: str) -> list[dict]:
    """A cleaning note for each date column of `table` (a customers or surveys table of
    `read_customer_table`, as `reread_table_dates` left it; `name`: "customers" or "surveys") that
    holds dates segkit could not read: `table_dates_unread` (customers) or `survey_dates_unread`
    (surveys, whose answers without a date are in no month's NPS), with the file, the column by the
    file's header, how many dates, the first one's row in the file and its text. Empty when every
    date was read (or for a table without `attrs["unread_dates"]`: a database's, a typed file's)."""
    if table is None:
        return []
    kind = "survey" if name == "surveys" else "table"
    notes = []
    for dates in (table.attrs.get("unread_dates") or {}).values():
        either = unsettled_dates(dates.text)  # read by both orders: unread for want of the order alone
        for key, rows in ((f"{kind}_dates_unsettled", either), (f"{kind}_dates_unread", ~either)):
            if rows.any():
                first = int(np.argmax(rows))
                notes.append({"key": key, "file": dates.path, "column": dates.header, "dates": int(rows.sum()),
                              "row": int(dates.rows[first]), "value": _name(dates.text[first])})
    return notes


def unsettled_dates(texts) -> np.ndarray:
    """Which of `texts` (dates as written that were not read) both orders of day and month read
    ("04/01/2026"): unread only because nothing stated or settled their order. The others no order
    reads ("32/13/2026"), or only the order the column did not take. As booleans."""
    from segkit.intake.parsing import parse_datetime

    values = pd.Series(list(texts), dtype=object)
    if values.empty:
        return np.zeros(0, dtype=bool)
    return (parse_datetime(values, day_first=True).values.notna().to_numpy()
            & parse_datetime(values, day_first=False).values.notna().to_numpy())


class UnreadableSendDate(DataError):
    """A campaign's send date that cannot be read (`read_campaigns`): in the order of day and month
    asked, or in any, where none was."""


def read_campaigns(spec: CampaignTable, key: str = "source.campaigns", day_first: bool | None = None) -> pd.DataFrame:
    """A campaigns file in segkit's long form: customer_id, campaign, sent_at (date sent, missing
    where not mapped), responded (bool), revenue (number, where mapped), control (bool; False where
    not mapped). The wide form (`form: wide`, one 0/1 column per campaign in `campaign_columns`)
    becomes one row per customer and campaign. Dates with day and month in numbers ("04/01/2026") are
    read in the order `day_first` states (see `run_day_first`), else as the column itself settles it
    (`parsing.parse_datetime`); where neither settles it, dates that either order reads are left
    missing (their customers then count in the run's segment) and `attrs["send_dates_unsettled"]` is
    the note that says so (`campaign_dates_unsettled`: file, column, how many, the first's row and
    text). Raises DataError naming the file, column and row (the file's line, as every message about
    a file) of a missing column, an empty customer id, a date that cannot be read (UnreadableSendDate)
    or a flag that is not yes/no."""
    from segkit.crosssell.campaigns import flags, wide_to_long
    from segkit.intake.parsing import parse_amount, parse_datetime, parse_id

    raw = read_file(spec, key)
    theirs = _check_campaign_columns([str(c) for c in raw.columns if c != "source_row"], spec, key)
    if spec.form == "wide":
        frame = raw.rename(columns={theirs["customer_id"]: "customer_id"})
        frame["customer_id"] = parse_id(frame["customer_id"]).values
        _no_empty_ids(frame, spec.path)
        return wide_to_long(frame, spec.campaign_columns, rows=frame["source_row"])
    frame = raw.rename(columns={column: ours for ours, column in theirs.items()})
    frame["customer_id"] = parse_id(frame["customer_id"]).values
    _no_empty_ids(frame, spec.path)
    unsettled = None  # the note on send dates whose order nothing settles (`unsettled_dates`)
    out = pd.DataFrame({"customer_id": frame["customer_id"].astype(str).to_numpy(),
                        "campaign": (frame["campaign"].astype(str).to_numpy() if "campaign" in frame.columns
                                     else "campaign")})
    if "sent_at" in frame.columns:
        dates = parse_datetime(frame["sent_at"], day_first=day_first).values
        unread = (dates.isna() & frame["sent_at"].notna()).to_numpy()
        if unread.any() and day_first is None:
            # written "04/01/2026" where nothing settles the order: no date for them, said (as a
            # customers file's), not the run stopped; their customers count in the run's segment
            either = np.zeros(len(unread), dtype=bool)
            either[unread] = unsettled_dates(frame["sent_at"].to_numpy()[unread])
            if either.any():
                unsettled = {"key": "campaign_dates_unsettled", "file": spec.path, "column": theirs["sent_at"],
                             "dates": int(either.sum()), "row": int(frame["source_row"].iat[int(np.argmax(either))]),
                             "value": _name(frame["sent_at"].iat[int(np.argmax(either))])}
            unread = unread & ~either
        if unread.any():
            row = int(np.argmax(unread))
            raise UnreadableSendDate(f"{spec.path} row {int(frame['source_row'].iat[row])}, column \"{theirs['sent_at']}\": "
                            f"{frame['sent_at'].iat[row]!r} is not a date segkit can read; write dates as 2025-03-01, "
                            "or, for day and month in numbers that the file alone does not settle, state their order "
                            "with cleaning.day_first (true: 04/01/2026 is 4 January; false: April 1)")
        out["sent_at"] = pd.to_datetime(dates).to_numpy()
    else:
        out["sent_at"] = pd.NaT
    rows = frame["source_row"]
    out["responded"] = flags(frame["responded"], f"{spec.path} column \"{theirs['responded']}\"", rows)
    if "revenue" in frame.columns:
        out["revenue"] = parse_amount(frame["revenue"]).values.fillna(0.0).to_numpy()
    out["control"] = (flags(frame["control"].fillna("0"), f"{spec.path} column \"{theirs['control']}\"", rows)
                      if "control" in frame.columns else False)
    if unsettled is not None:
        out.attrs["send_dates_unsettled"] = unsettled
    return out


def _check_campaign_columns(present: list[str], spec: CampaignTable, key: str = "source.campaigns") -> dict[str, str]:
    """The campaigns file's columns by segkit's names (customer_id and responded by their own names
    where not mapped); raises the DataError naming a column the file lacks (with the closest name)."""
    theirs = dict(spec.columns)
    if spec.form == "wide":
        theirs.setdefault("customer_id", "customer_id")
        for column in [theirs["customer_id"], *spec.campaign_columns]:
            if column not in present:
                raise DataError(_missing_column(spec.path, "a campaign" if column != theirs["customer_id"]
                                                else "customer_id", column, present, f"{key}.campaign_columns"))
        return theirs
    for ours in ("customer_id", "responded"):
        theirs.setdefault(ours, ours)
    for ours, column in theirs.items():
        if column not in present:
            raise DataError(_missing_column(spec.path, ours, column, present, f"{key}.columns"))
    return theirs


def _no_empty_ids(frame: pd.DataFrame, path: str) -> None:
    empty = frame["customer_id"].isna() | (frame["customer_id"].astype("string").str.strip() == "")
    if empty.any():
        row = int(frame["source_row"].iat[int(np.argmax(empty.to_numpy()))])
        raise DataError(f"{path} row {row}: the customer id is empty; every campaign row needs the customer it was "
                        "sent to")


def load_campaigns(source: Source, params_path: str | Path | None = None,
                   day_first: bool | None = None, customer_ids=None) -> pd.DataFrame | None:
    """The campaigns of a run's source in the long form (see `read_campaigns`, which reads dates with
    `day_first`): the demo's generated table, the `source.campaigns` file, or None when the source has
    none. `customer_ids` (`params.cleaning.customer_ids`) reads the ids as the transactions' are read
    (`segkit.intake.ids.same_customer_ids`), so that they join the run's customers."""
    from segkit.intake.ids import same_customer_ids

    if source.kind == "demo":
        demo = source.demo
        campaigns = generate_retail(demo.customers, demo.start, demo.months, seed=demo.seed).campaigns
        return same_customer_ids(campaigns, customer_ids)
    if source.campaigns is None:
        return None
    spec = source.campaigns
    if params_path is not None and not Path(spec.path).is_absolute():
        spec = spec.model_copy(update={"path": beside(Path(params_path).parent, spec.path)})
    campaigns = read_campaigns(spec, day_first=day_first)
    read = same_customer_ids(campaigns, customer_ids)
    read.attrs = dict(campaigns.attrs)  # the note on send dates nothing settled (`read_campaigns`)
    return read


def run_day_first(day_first: bool | None, run_info: dict) -> bool | None:
    """The order of day and month for a run's other files with dates (the campaigns): `day_first`
    (the params' `cleaning.day_first`) when stated, else the order 01 read the transactions' dates in
    when their column settled it (its note in `run_info`, run.json's `cleaning_notes`), else None."""
    if day_first is not None:
        return day_first
    orders = {note.get("key"): note for note in run_info.get("cleaning_notes") or []}
    if "date_order_day_first" in orders:
        return True
    if "date_order_month_first" in orders:
        return False
    return None


def _check_table_columns(present: list[str], spec: FileTable, name: str) -> None:
    """A customers or surveys table's mapped columns, and customer_id, must be there."""
    key = f"source.{name}.columns"
    missing = [(ours, theirs) for ours, theirs in spec.columns.items() if theirs not in present]
    if "customer_id" not in spec.columns and "customer_id" not in present:
        missing.insert(0, ("customer_id", "customer_id"))
    if missing:
        raise DataError(_missing_columns(spec.path, missing, present, key))


# -- PostgreSQL, read in place ----------------------------------------------------------------

def connect_database(db: Database) -> ibis.BaseBackend:
    """A connection to the database of `db` (password from the environment variable it names).

    The libpq options in the url's query (sslmode, sslrootcert, connect_timeout, application_name,
    options, target_session_attrs, ...) go to the connection as given; connect_timeout defaults to 10 s.
    Any failure is one DataError that names the server (never the password) and what to check.
    """
    args = db.connection_args()
    args.setdefault("connect_timeout", 10)
    where = f"{args.get('host')}:{args.get('port')}/{args.get('database', '')}"
    try:
        return ibis.postgres.connect(**args)
    except ImportError:
        raise DataError("reading PostgreSQL needs psycopg: pip install 'segkit[postgres]'") from None
    except Exception as err:
        reason = scrub(first_line(err), args.get("password"))
        if "does not support SSL" in reason:
            raise DataError(f"cannot connect to the database at {where}: the server does not accept SSL "
                            f"connections, and the url asks for sslmode={args.get('sslmode')}; ask the database's "
                            "administrator to turn SSL on, or, only on a network you trust, set sslmode=prefer "
                            "(or remove it) in source.database.url") from None
        if args.get("sslmode") or any(k.startswith("ssl") for k in args):
            ssl = " and the ssl options of the url (sslmode, sslrootcert, sslcert, sslkey: files that exist)"
        else:
            ssl = ""
        check = f"the password in ${db.password_env}, " if db.password_env else ""
        raise DataError(f"cannot connect to the database at {where} as {args.get('user', 'the default user')} "
                        f"({reason[:300]}); check that the server runs and accepts connections, source.database.url"
                        f"{ssl}, {check}and that this user may read the tables") from None


def scrub(text: str, secret: str | None) -> str:
    """`text` with the secret (if any) replaced by ***, for messages about a connection."""
    return text.replace(secret, "***") if secret else text


def _db_table(con: ibis.BaseBackend, name: str, origin: str) -> ibis.Table:
    schema, _, table = name.rpartition(".")
    try:
        return con.table(table, database=schema or None)
    except Exception:
        try:
            tables = con.list_tables(database=schema or None)
        except Exception:
            tables = []
        close = difflib.get_close_matches(table, tables, n=1)
        hint = f'; did you mean "{_name(close[0])}"?' if close else ""
        where = "" if schema else f" in the schema {_search_path(con)}"
        elsewhere = [] if schema else _schemas_with(con, table)
        if elsewhere:  # the table is there, in another schema: name it with its schema
            hint = f"; it is in {_listing([f'{found}.{table}' for found in elsewhere])}: name it so"
        raise DataError(f"{origin}: no table {_name(name)!r}{where}{hint} (tables there: "
                        f"{_listing(tables) or 'none'}); fix the table name in source.database") from None


def _search_path(con: ibis.BaseBackend) -> str:
    """The schema a table name without one is looked up in (PostgreSQL's current_schema())."""
    try:
        found = con.raw_sql("SELECT current_schema()").fetchone()
        return str(found[0]) if found and found[0] else "public"
    except Exception:
        return "public"


def _schemas_with(con: ibis.BaseBackend, table: str) -> list[str]:
    """The schemas that hold a table (or view) of that name, which the role may see."""
    try:
        cursor = con.raw_sql("SELECT table_schema FROM information_schema.tables WHERE table_name = %s "
                             "ORDER BY table_schema", params=(table,))
        return [row[0] for row in cursor.fetchall()]
    except Exception:
        return []


def database_canonical(table: ibis.Table, columns: dict[str, str], origin: str) -> ibis.Table:
    """The table under segkit's column names and types, lazily, in the database.

    The database's columns are typed: dates must be date or timestamp columns, amounts numbers
    (a text column is refused with the advice to cast it in a view). `source_row` is a mapped key
    column, or the row's number in a stable order of its values.
    """
    key = "source.database.columns"
    present = list(table.columns)
    mapping, derive_amount = mapped_columns(present, columns, origin, key, extra=("source_row",),
                                            types=dict(table.schema().items()))
    kinds = {"ordered_at": ("temporal", "a date or timestamp"), "amount": ("numeric", "a number"),
             "quantity": ("numeric", "a number"), "unit_price": ("numeric", "a number"),
             "refund_amount": ("numeric", "a number")}
    for ours, (kind, words) in kinds.items():
        theirs = mapping[ours]
        if theirs in present:
            dtype = table[theirs].type()
            if not getattr(dtype, f"is_{kind}")():
                cast = (f"CAST({theirs} AS timestamp)" if kind == "temporal" else
                        f"CAST({theirs} AS numeric), or CAST(replace(replace({theirs}, '$', ''), ',', '') AS numeric) "
                        "where the text holds a currency sign and thousands separators, as in $1,234.50")
                raise DataError(f'{origin}: column "{_name(theirs)}" (for {ours}) is {dtype}, not {words}; in the '
                                f"database the columns must be typed: read a view that casts it (e.g. {cast})")
    for ours in ("customer_id", "order_id"):  # an id is text or a number, never true/false or a record
        theirs = mapping[ours]
        if theirs in present:
            dtype = table[theirs].type()
            if dtype.is_boolean() or dtype.is_nested() or dtype.is_json():
                raise DataError(f'{origin}: column "{_name(theirs)}" (for {ours}) is {dtype}, not text or a number: '
                                f"it cannot hold ids; map the column that holds the ids in {key}")
    values = {}
    for ours in INPUT_COLUMNS:
        theirs = mapping[ours]
        if theirs not in present:
            continue
        column = table[theirs]
        if ours == "ordered_at":
            values[ours] = column.cast("timestamp")
        elif ours in ("amount", "quantity", "unit_price", "refund_amount"):
            values[ours] = column.cast("float64")
        else:
            values[ours] = column.cast("string")
    if derive_amount:
        values["amount"] = values["quantity"] * values["unit_price"]
    if mapping["source_row"] in present:
        source_row = table[mapping["source_row"]].cast("int64")
    else:
        order = [values[c] for c in ("customer_id", "order_id", "ordered_at", "amount") if c in values]
        source_row = (ibis.row_number().over(order_by=order) + 1).cast("int64")
    # the table's own column names, for the details and notes that name a column (`source_headers`)
    headers = {ours: mapping[ours] for ours in INPUT_COLUMNS if mapping[ours] in present}
    return with_headers(table.select(source_row=source_row, **values), headers)


def load_database(db: Database, time_zone: str | None = None) -> Intake:
    """Transactions as a lazy table in the database; customers and surveys (per-customer rows) read.

    A timestamp with a time zone (PostgreSQL's timestamptz: an instant) becomes the local date and
    time in `time_zone` (`cleaning.time_zone`), or, without one, in the database's own TimeZone
    setting (what psql shows its users): the session is set to that zone, so that every date the
    engine derives (the day of a purchase, its month) is the local one, not UTC's."""
    con = connect_database(db)
    _set_session_zone(con, time_zone)
    origin = f"database table {db.table}"
    transactions = database_canonical(_db_table(con, db.table, origin), db.columns, origin)
    tables = {}
    for name in ("customers", "surveys"):
        spec = getattr(db, name)
        if spec is None:
            continue
        table = _db_table(con, spec.table, f"database table {spec.table}")
        for ours, theirs in spec.columns.items():
            if theirs not in table.columns:
                raise DataError(_missing_column(f"database table {spec.table}", ours, theirs, list(table.columns),
                                                f"source.database.{name}.columns"))
        frame = table.rename({ours: theirs for ours, theirs in spec.columns.items()}).to_pandas()
        if "customer_id" not in frame.columns:
            raise DataError(_missing_column(f"database table {spec.table}", "customer_id", "customer_id",
                                            list(table.columns), f"source.database.{name}.columns"))
        frame["customer_id"] = frame["customer_id"].astype("string")
        frame.attrs["columns"] = dict(spec.columns)  # the table's own names, as for a file
        frame.attrs["origin"] = f"database table {spec.table}"
        tables[name] = frame
    return Intake(transactions, **tables, engine=con, origin=origin)


def _set_session_zone(con: ibis.BaseBackend, time_zone: str | None) -> None:
    """Set the PostgreSQL session's time zone to `time_zone`, or back to the database's own setting
    (Ibis sets its sessions to UTC): timestamps with a time zone are then cast to that local time.
    Committed, as Ibis commits its own, so that no later rollback undoes it."""
    raw = getattr(con, "con", None)
    if raw is None:  # not a psycopg connection
        return
    with raw.cursor() as cursor, raw.transaction():
        if time_zone is None:
            cursor.execute("SELECT reset_val FROM pg_settings WHERE name = 'TimeZone'")
            found = cursor.fetchone()
            time_zone = found[0] if found and found[0] else "UTC"
        cursor.execute("SELECT set_config('TimeZone', %s, false)", (time_zone,))


def _with_source_row(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out.insert(0, "source_row", range(1, len(out) + 1))
    return out


def _name(text, limit: int = 60) -> str:
    """A name from the data or the params, cut for a message (a header can be a whole line of text)."""
    text = str(text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _listing(names, shown: int = 20) -> str:
    """Names for a message: at most `shown` of them, each cut, then how many more; a column whose header
    was blank as "[blank header, column 2]", not pandas' "Unnamed: 1"."""
    names = list(names)
    text = ", ".join(_name(n, 40) if _blank_header(n) is None else f"[blank header, column {_blank_header(n)}]"
                     for n in names[:shown])
    return text + (f", … ({len(names) - shown} more)" if len(names) > shown else "")


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


# -- Spark, read in place ---------------------------------------------------------------------

def spark_session(spark: "Spark"):
    """The SparkSession of `spark` (`segkit.params.Spark`): the active one (`existing: true`, as under
    spark-submit), or one started (or joined) with `master`, `app_name` and `config`.

    A session segkit starts is quiet: the Spark JVM's own output (Java's startup notices, log lines,
    progress bars, the stack traces of its temp-folder cleanup at exit) goes to a private file, not to
    this process's stdout and stderr, which a notebook's kernel would show under the page's heading;
    its log level is ERROR and `spark.ui.showConsoleProgress` false unless `config` says otherwise.
    A session that already runs (the user's, spark-submit's) is used as it is configured.

    Raises DataError when pyspark is not installed (pip install 'segkit[spark]'), when no Java is
    found for a session segkit starts, or when `existing: true` finds no active session.
    """
    import shutil

    try:
        from pyspark import SparkConf
        from pyspark.sql import SparkSession
    except ImportError:
        raise DataError("source.kind spark needs pyspark: pip install 'segkit[spark]'") from None
    if spark.existing:
        session = SparkSession.getActiveSession()
        if session is None:
            raise DataError("source.spark.existing is true, but there is no active SparkSession: run segkit under "
                            "spark-submit (or in a notebook of the cluster), or set source.spark.master instead "
                            "(e.g. local[2] or spark://host:7077); `segkit report` runs its notebooks in kernels of "
                            "their own, where only master works (docs/spark.md)")
        return session
    java_home = os.environ.get("JAVA_HOME")
    if not (java_home and Path(java_home, "bin", "java").is_file()) and shutil.which("java") is None:
        raise DataError("Spark needs Java (17 or 21), and none was found: install it (Debian/Ubuntu: apt-get install "
                        "openjdk-17-jre-headless) or set JAVA_HOME to a Java installation")
    conf = SparkConf().setMaster(spark.master).setAppName(spark.app_name)
    conf.setAll({"spark.ui.showConsoleProgress": "false", **spark.settings()}.items())
    try:
        started = _start_spark_quietly(conf)
        session = SparkSession.builder.config(conf=conf).getOrCreate()
    except Exception as err:  # pyspark raises its own kinds when the JVM or the master cannot be reached
        raise DataError(f"cannot start Spark with master {spark.master} ({_spark_reason(err)[:300]}); check that Java "
                        "runs (java -version), that the master is reachable, and source.spark.config") from None
    if started:
        session.sparkContext.setLogLevel("ERROR")
    return session


def _start_spark_quietly(conf) -> bool:
    """Start the Spark JVM (and its SparkContext) for `conf` with the JVM's stdout and stderr in an
    unnamed temporary file: the JVM inherits this process's otherwise, and writes there directly, where
    neither a kernel nor `segkit report` can hold it back. True when it started one; False when this
    process has its JVM already (a session started before, or pyspark run by spark-submit), which
    `SparkSession.builder` then joins. A JVM that exits at once raises, with its last words."""
    import tempfile

    from pyspark import SparkContext
    from pyspark.java_gateway import launch_gateway

    if SparkContext._gateway is not None or "PYSPARK_GATEWAY_PORT" in os.environ:  # no public "is there a JVM"
        return False
    with tempfile.TemporaryFile() as output:  # the JVM keeps its own handle; the file goes when both close
        try:
            gateway = launch_gateway(conf, popen_kwargs={"stdout": output, "stderr": output})
        except Exception as err:
            output.seek(0)
            said = [line for line in output.read().decode("utf-8", "replace").splitlines() if line.strip()]
            raise RuntimeError(" / ".join(said[-3:]) or first_line(err)) from None
    SparkContext(conf=conf, gateway=gateway)  # the builder then finds it active
    return True


def load_spark(spark: "Spark", params_path: str | Path | None = None) -> Intake:
    """Transactions as a lazy Ibis table on Spark (Ibis' PySpark backend), read in place; the
    customers and surveys tables (per-customer rows) read into pandas.

    `spark` (`segkit.params.Spark`, the params' `source.spark`) names the session (see
    `spark_session`) and the table: a metastore `table` (or temporary view), or a `path` read with
    `format` (parquet, orc, delta). A relative local path is read relative to the folder of
    `params_path`. The columns are typed, as in a database (`database_canonical`): a date or
    amount column held as text is refused, with the cast to write. Every later stage
    (`segkit.clean_transactions`, features, summaries) runs in Spark; only the ledger counts, the
    set-aside rows and one row per customer come back. Raises DataError naming a table that does
    not exist (with close names), a path that is not there, a missing or untyped column.
    """
    session = spark_session(spark)
    con = spark_backend(session)
    origin = _spark_origin(spark.table, spark.path, spark.format)
    raw = _spark_read(con, session, spark.table, spark.path, spark.format, params_path, "source.spark")
    transactions = spark_canonical(raw, spark.columns, origin)
    tables = {}
    for name in ("customers", "surveys"):
        spec = getattr(spark, name)
        if spec is None:
            continue
        where = _spark_origin(spec.table, spec.path, spec.format)
        table = _spark_read(con, session, spec.table, spec.path, spec.format, params_path, f"source.spark.{name}")
        key = f"source.spark.{name}.columns"
        for ours, theirs in spec.columns.items():
            if theirs not in table.columns:
                raise DataError(_missing_column(where, ours, theirs, list(table.columns), key))
        table = table.rename({ours: theirs for ours, theirs in spec.columns.items()})
        if "customer_id" not in table.columns:
            raise DataError(_missing_column(where, "customer_id", "customer_id", list(table.columns), key))
        frame = table.to_pandas()
        frame["customer_id"] = frame["customer_id"].astype("string")
        frame.attrs["columns"] = dict(spec.columns)  # the table's own names, as for a file
        tables[name] = frame
    return Intake(transactions, **tables, engine=con, origin=origin)


def spark_canonical(table: ibis.Table, columns: dict[str, str], origin: str) -> ibis.Table:
    """A Spark table under segkit's column names and types, lazily (see `database_canonical`): the
    mapped columns must be there, dates typed as date or timestamp, amounts as numbers."""
    key = "source.spark.columns"
    present = list(table.columns)
    mapping, derive_amount = mapped_columns(present, columns, origin, key, extra=("source_row",),
                                            types=dict(table.schema().items()))
    for ours, kind, words, cast in (("ordered_at", "temporal", "a date or timestamp", "timestamp"),
                                    ("amount", "numeric", "a number", "decimal(18,2)"),
                                    ("quantity", "numeric", "a number", "double"),
                                    ("unit_price", "numeric", "a number", "decimal(18,2)"),
                                    ("refund_amount", "numeric", "a number", "decimal(18,2)")):
        theirs = mapping[ours]
        if theirs in present:
            dtype = table[theirs].type()
            if not getattr(dtype, f"is_{kind}")():
                raise DataError(f'{origin}: column "{_name(theirs)}" (for {ours}) is {dtype}, not {words}; Spark '
                                f"tables are read as typed: read a view that casts it (CREATE TEMPORARY VIEW ... AS "
                                f"SELECT ..., CAST(`{_name(theirs)}` AS {cast}) ...) or write the table with typed "
                                "columns (Parquet keeps them)")
    return database_canonical(table, columns, origin)


def _spark_origin(table: str | None, path: str | None, file_format: str) -> str:
    return f"Spark table {table}" if table else f"Spark {file_format} {path}"


def _spark_read(con, session, table: str | None, path: str | None, file_format: str,
                params_path: str | Path | None, key: str) -> ibis.Table:
    """A metastore table (or temporary view), or the files at `path` as a temporary view, as an Ibis table."""
    if table is not None:
        database, _, name = table.rpartition(".")
        try:
            return con.table(name, database=database or None)
        except Exception:
            raise DataError(_no_spark_table(session, table, key)) from None
    location = _spark_path(path, params_path)
    if "://" not in location and not Path(location).exists():
        raise DataError(f"{key}.path: {location} is not there; check the path (a relative path is read from the "
                        "params file's folder; on a cluster, use a path every executor reads, e.g. hdfs:// or s3a://)")
    try:
        frame = session.read.format(file_format).load(location)
    except Exception as err:
        reason = _spark_reason(err)
        if "DATA_SOURCE_NOT_FOUND" in reason or "Failed to find data source" in reason:
            raise DataError(f"{key}.format {file_format}: this Spark has no {file_format} reader; add it to the "
                            "session (for Delta Lake: the delta-spark package, with spark.jars.packages and "
                            "spark.sql.extensions in source.spark.config) or write the table as Parquet") from None
        if "PATH_NOT_FOUND" in reason or "does not exist" in reason:
            raise DataError(f"{key}.path: {location} is not there ({reason[:200]}); check the path") from None
        if "COLUMN_ALREADY_EXISTS" in reason:  # two columns alike but for case: Spark's names ignore case
            raise DataError(f"{key}.path: {location} names two columns alike but for case ({reason[:200]}), which "
                            "Spark does not tell apart; rename one of them in the data") from None
        raise DataError(f"{key}.path: {location} cannot be read as {file_format} ({reason[:300]}); check "
                        f"{key}.format") from None
    import uuid

    view = f"segkit_source_{uuid.uuid4().hex[:12]}"
    frame.createOrReplaceTempView(view)
    return con.table(view)


def _spark_path(path: str, params_path: str | Path | None) -> str:
    """`path` as Spark reads it: a URL (hdfs://, s3a://, file://) as given, a relative local path
    from the folder of the params file."""
    if "://" in path or params_path is None or Path(path).is_absolute():
        return path
    return beside(Path(params_path).parent, path)


def _no_spark_table(session, table: str, key: str) -> str:
    """The message for a table Spark does not know: the close names among the tables and views there."""
    database, _, name = table.rpartition(".")
    try:
        known = [t.name for t in session.catalog.listTables(database or None)]
    except Exception:  # the database itself is unknown
        known = []
        if database:
            try:
                databases = [d.name for d in session.catalog.listDatabases()]
            except Exception:
                databases = []
            close = difflib.get_close_matches(database, databases, n=1)
            hint = f'; did you mean "{_name(close[0])}"?' if close else ""
            return (f"{key}.table: Spark has no database {_name(database)!r}{hint} (databases there: "
                    f"{_listing(databases) or 'none'}); fix {key}.table")
    close = difflib.get_close_matches(name, known, n=3)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return (f"{key}.table: Spark has no table {_name(table)!r}{hint} (tables there: {_listing(known) or 'none'}); "
            f"fix {key}.table, or read files with {key}.path")


def _spark_reason(err: BaseException) -> str:
    """What Spark said, in one line: a Java error reaches Python as "An error occurred while calling
    o42.load." with the Java exception on a later line, whose message is what a reader needs."""
    text = str(err).strip()
    for line in text.splitlines()[1:]:
        found = re.match(r"[\s:]*(?:[\w.$]+(?:Exception|Error)): (.+)", line)
        if found:
            return found.group(1).strip()
    return first_line(err)


def spark_backend(session) -> ibis.BaseBackend:
    """Ibis' PySpark backend on `session`, reading results as Arrow (pyspark >= 4.0's
    `DataFrame.toArrow`): pyspark's `toPandas`, which Ibis uses, makes every timestamp nanoseconds
    and fails on a date after 2262 (a typo such as 2999, which cleaning must set aside, not crash on)."""
    from ibis.backends.pyspark import Backend

    ibis.pyspark  # noqa: B018 -- loading the backend's entry point registers ibis.options.pyspark

    class ArrowResults(Backend):
        def to_pyarrow(self, expr, /, *, params=None, limit=None, **kwargs):
            from ibis.formats.pyarrow import PyArrowData

            table = expr.as_table()
            self._run_pre_execute_hooks(table)
            sql = self.compile(table, params=params, limit=limit, **kwargs)
            with self._safe_raw_sql(sql) as query:
                if not hasattr(query, "toArrow"):  # pyspark 3.5
                    return super().to_pyarrow(expr, params=params, limit=limit, **kwargs)
                result = query.toArrow()
            return expr.__pyarrow_result__(PyArrowData.convert_table(result, table.schema()))

        def execute(self, expr, /, *, params=None, limit=None, **kwargs):
            from ibis.formats.pandas import PandasData

            table = expr.as_table()
            arrow = self.to_pyarrow(table, params=params, limit=limit, **kwargs)
            frame = PandasData.convert_table(arrow.to_pandas(), table.schema())
            return expr.__pandas_result__(frame)

    return ArrowResults().connect(session)
