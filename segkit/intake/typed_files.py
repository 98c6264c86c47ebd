"""Typed files (Parquet, DuckDB) read in place by the embedded engine, never as a pandas frame.

A Parquet file or a DuckDB table already holds dates as dates and amounts as numbers: nothing in it
needs the text readers of `segkit.intake.parsing`. `engine_transactions` opens such a file in an
in-memory DuckDB (streaming, in place), puts it under segkit's column names and types, and returns a
lazy Ibis table that `segkit.intake.cleaning.clean_transactions` judges in the engine, as it judges a
PostgreSQL table. Only what is text gets the text fixes, and only through its distinct values: the
values that could change (blanks at an end, characters beyond printable ASCII, an id written as an
integral float) are read by the same parsers as a text file's (`parse_id`, `parse_text`) and joined
back, so a Parquet file and the same rows as CSV give the same ids, labels and fixes.

Exact duplicates are rows whose values, every column of the file (mapped or not), are all the same:
`content` is a 64-bit hash of the typed values computed in the engine (collisions: about 1 in 2**64
per pair of rows).

Timestamps with a time zone (a Parquet column typed `timestamp[us, tz=...]`: instants, with the
zone they were written in) are read as the text path reads them (`parsing.parse_datetime`): the
wall time in the column's own zone, or, with `cleaning.time_zone`, converted to that zone in the
engine (fix `time_zone_converted` where the clock time changed).

Dates and amounts the file keeps as text stay text here: cleaning reads them in the engine, through
their distinct values, as the text path reads a CSV's (`segkit.intake.engine_parsing`). When a
column segkit reads is not typed as it needs (ids as floats or true/false, one part of an amount
derived from quantity and unit price as text and the other a number, a DuckDB file's timestamps with a time zone, which
carry no zone of their own), or the file is compressed, `engine_transactions` returns None and the file is read as before
(`segkit.intake.sources.read_file`), with its text readers and their messages.
"""

from __future__ import annotations

import re
from pathlib import Path

import ibis
import ibis.expr.datatypes as dt
import pandas as pd

from segkit.errors import DataError
from segkit.intake.parsing import FIXES, LABELS, parse_id, parse_text
from segkit.intake.textfiles import refuse_row_column
from segkit.intake import engines as _engines  # noqa: F401 (Ibis' compile options for segkit's queries)

# Text that a fix could change: empty, a blank at either end, anything beyond printable ASCII
# (invisible characters, full-width forms, text to compose under NFC) or an integral float id.
_MAY_CHANGE = r'^$|^\s|\s$|[^\x20-\x7e]|^\d+\.0+$|^="|&#?[0-9A-Za-z]+;'  # ... an Excel text formula, an HTML entity
_TEXT_COLUMNS = ("customer_id", "order_id", "category", "product", "channel", "status", "currency")
_NUMBER_COLUMNS = ("amount", "quantity", "unit_price", "refund_amount")
# ids typed as whole numbers are kept so: every query of the input (the counts, duplicate detection)
# and of the clean rows then reads integers; they become text where rows leave the engine
# (`segkit.intake.engines.text_ids`)
_ID_COLUMNS = ("customer_id", "order_id")
FILE_ROW = "segkit_file_row"  # a row's 0-based position in the file


def engine_transactions(con: ibis.BaseBackend, path: Path, kind: str, columns: dict[str, str], origin: str,
                        table_name: str | None = None, key: str = "source.transactions",
                        time_zone: str | None = None, preset: str | None = None
                        ) -> tuple[ibis.Table, list[str]] | None:
    """The transactions of a Parquet file or a DuckDB file's table as a lazy table in `con` (an
    embedded DuckDB), under segkit's names: source_row (the row's 1-based position in the file),
    customer_id and the other mapped columns (ids and labels as text, after the text fixes, or ids
    as the file's whole numbers; ordered_at a timestamp; amount, quantity and unit_price as the file types them), `content` (a
    hash of the whole row) and `fixes`/`raw_customer_id` where a text fix changed a value (or
    `time_zone` converted a timestamp). Rows empty in every column are not records and are left
    out, as for any file.

    `time_zone` (`cleaning.time_zone`, an IANA name) is the zone timestamps with a time zone are
    converted to; without one they are read as the wall time in the zone they were written in.
    `preset` (`source.preset`) reads the rows as its system meant them (`in_segkit_terms`).

    Returns (table, names of the file's columns), or None when a column segkit reads is not typed as
    it needs, or the engine cannot keep the file's names apart (a Parquet file naming two columns
    alike but for case: the engine would read `amount` as `amount_1`; a column named as the engine's
    own, `names_kept_apart`, `INTERNAL`): the file is then read by the text readers. Raises DataError
    for a column named source_row in the transactions, a mapped column that is not in the file
    (listing those that are), a DuckDB file without the table, or a `time_zone` that is not a time zone.
    """
    from segkit.intake.parsing import _time_zone
    from segkit.intake.sources import mapped_columns

    _time_zone(time_zone)  # the params' zone is checked as the text path checks it (DataError)
    names = _parquet_names(path) if kind == "parquet" else None  # None: not Parquet, or not readable (`_open` says)
    if names is not None and key == "source.transactions":  # as the text readers refuse it (`refuse_row_column`)
        refuse_row_column(names, str(path))
    if names is not None and not names_kept_apart(names):
        return None
    raw = _open(con, path, kind, table_name, key)
    present = [c for c in raw.columns if c != FILE_ROW]
    if names is None and key == "source.transactions":  # a DuckDB file's table
        refuse_row_column(present, str(path))
    if any(engine_name(name).startswith(INTERNAL) for name in present):  # the preset's own columns (`preset_rows`)
        return None
    mapping, _ = mapped_columns(present, columns, origin, f"{key}.columns")
    used = {ours: raw[theirs] for ours, theirs in mapping.items() if theirs in present}
    zones = None
    if "ordered_at" in used and used["ordered_at"].type().is_timestamp() and used["ordered_at"].type().timezone:
        zones = _zones(con, path, kind, mapping["ordered_at"], time_zone)
        if zones is None:
            return None
    if not _typed_enough(used, zoned=zones is not None):
        return None
    anything = ibis.or_(*[raw[c].notnull() for c in present])
    raw = raw.filter(anything)
    content = ibis.struct({f"c{i}": raw[c] for i, c in enumerate(present)}).hash()
    return in_segkit_terms(con, raw, mapping, content, zones, preset, present), present


def in_segkit_terms(con: ibis.BaseBackend, raw: ibis.Table, mapping: dict[str, str], content: ibis.Value,
                    zones: tuple[str, str | None] | None = None, preset: str | None = None,
                    header: list[str] = (), shown: dict[str, str] | None = None) -> ibis.Table:
    """`raw` (a file's rows in `con`, typed as `_typed_enough` asks, with FILE_ROW) under segkit's
    names, with `content` (the row's hash), the text fixes applied to its text columns and the
    file's own column names recorded (`sources.with_headers`). `zones` (the zone ordered_at was
    written in, the zone to convert it to or None) where ordered_at has a time zone (`_zones`).

    `preset` (`source.preset`) reads the rows as its system meant them (`preset_rows.read_order_fields`:
    the order fields filled in, fix `filled_from_order`, their values as exported kept as
    `_as_exported_<column>` for the quarantine); without one, a file whose columns (`header`: its column
    names) are a system's export is recorded as such, for cleaning's note (`sources.with_headers`).
    `shown`: segkit's name -> the file's column, where `mapping` names the table's columns otherwise
    than the file does (`plain_text.table_names`); the details and notes name the file's."""
    from segkit.intake.preset_rows import read_order_fields
    from segkit.intake.presets import AS_EXPORTED, matching_preset

    from segkit.intake.sources import with_headers

    read = read_order_fields(raw, mapping, preset, content, FILE_ROW)
    raw, content = read.table, read.content
    present = [c for c in raw.columns if c != FILE_ROW]
    used = {ours: raw[theirs] for ours, theirs in mapping.items() if theirs in present}
    values = {"source_row": (raw[FILE_ROW] + 1).cast("int64")}
    flags = {}
    for ours, column in ((o, raw[t]) for o, t in mapping.items() if t in present):
        if ours == "ordered_at" and zones is not None:
            written, wanted = zones
            values[ours] = _wall_time(column, wanted or written)
            if wanted is not None:  # as `parsing.parse_datetime`: noted where the clock time changed
                flags["time_zone_converted"] = (values[ours] != _wall_time(column, written)).fill_null(False)
        elif ours == "ordered_at" and column.type().is_string():
            values[ours] = column  # written as text: read in the engine by cleaning (`engine_parsing`)
        elif ours == "ordered_at":
            values[ours] = column.cast("timestamp")
        elif ours in _NUMBER_COLUMNS or (ours in _ID_COLUMNS and column.type().is_integer()):
            values[ours] = column  # whole-number ids stay numbers until cleaning writes them as text
        else:
            values[ours] = column.cast("string")
    parts = [values[c] for c in ("quantity", "unit_price") if c in values]
    if "amount" not in values and len(parts) == 2 and not any(p.type().is_string() for p in parts):
        values["amount"] = _product(*parts)  # the line's amount, exact (from text: derived by cleaning, `engine_parsing`)
    if read.filled is not None:
        flags["filled_from_order"] = read.filled
    exported = {f"{AS_EXPORTED}{ours}": value for ours, value in read.exported.items()}
    table = raw.select(**values, content=content, **exported, **{f"_flag_{name}": flag for name, flag in flags.items()})
    # a whole number written as text ("-?[0-9]+") is never changed by a text fix: only the text columns are read
    texts = [ours for ours, column in used.items() if ours in _TEXT_COLUMNS and column.type().is_string()]
    # the file's own column names, for the details and notes that name a column (`sources.source_headers`)
    headers = {ours: (shown or mapping)[ours] for ours, theirs in mapping.items() if theirs in present}
    hint = matching_preset(list(header)) if preset is None and header else None
    return with_headers(_with_text_fixes(con, table, texts, list(flags)), headers, preset_hint=hint)


def _product(quantity: ibis.NumericValue, price: ibis.NumericValue) -> ibis.NumericValue:
    """quantity × unit price, where the file gives no amount: exact when both are DECIMAL (widened
    first, so that the product's digits fit), else as the engine multiplies floats; cleaning rounds it
    once to the minor unit (`cleaning.exact_amount`), as the text path rounds the exact product."""
    if quantity.type().is_decimal() and price.type().is_decimal():
        wide = ibis.expr.datatypes.Decimal(38, 6)
        return quantity.cast(wide) * price.cast(wide)
    return quantity * price


@ibis.udf.scalar.builtin(name="timezone")
def _in_zone(zone: str, instant: dt.Timestamp(timezone="UTC")) -> dt.Timestamp():
    """DuckDB's timezone(zone, timestamptz): the wall time of the instant in that zone."""


_OFFSET = re.compile(r"^([+-])(\d{2}):(\d{2})$")  # Arrow's fixed-offset zones: "+05:30"


def _wall_time(instant: ibis.TimestampValue, zone: str) -> ibis.TimestampValue:
    """The wall time of `instant` (a timestamp with a time zone) in `zone`: an IANA name or a fixed
    offset as Arrow writes one ("+05:30")."""
    fixed = _OFFSET.match(zone)
    if fixed is None:
        return _in_zone(zone, instant)
    sign = 1 if fixed.group(1) == "+" else -1
    minutes = sign * (int(fixed.group(2)) * 60 + int(fixed.group(3)))
    return _in_zone("UTC", instant) + ibis.interval(minutes=minutes)


def _zones(con: ibis.BaseBackend, path: Path, kind: str, column: str, time_zone: str | None
           ) -> tuple[str, str | None] | None:
    """(the zone a Parquet file's `column` was written in, `time_zone`), or None where the engine
    cannot read it as the text path does: a DuckDB file (its timestamps with a time zone keep no zone
    of their own), a zone the engine does not know (read as text, with pandas' zones)."""
    if kind != "parquet":
        return None
    import pyarrow.parquet as pq

    written = getattr(pq.read_schema(path).field(column).type, "tz", None)
    if not written:
        return None
    known = {row[0] for row in con.raw_sql("SELECT name FROM pg_timezone_names()").fetchall()}
    if (_OFFSET.match(written) is None and written not in known) or (time_zone is not None and time_zone not in known):
        return None
    return written, time_zone


# DuckDB's names ignore ASCII case (`Amount` is `amount`; `Straße` and `STRASSE` stay apart)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
INTERNAL = "_segkit_"  # the prefix of the columns the engine's queries add to a file's (`preset_rows`)


def engine_name(name: str) -> str:
    """`name` as the engine compares names: ASCII letters in lower case."""
    return name.translate(_ASCII_LOWER)


def names_kept_apart(names: list[str]) -> bool:
    """Whether the engine keeps a file's column `names` apart as they are: no two that differ only in
    ASCII case, none the engine's reading of a Parquet file adds (`file_row_number`, FILE_ROW)."""
    keys = {}
    for name in names:
        key = engine_name(name)
        if key in ("file_row_number", FILE_ROW) or keys.setdefault(key, name) != name:
            return False
    return True


def _parquet_names(path: Path) -> list[str] | None:
    """The column names of the Parquet file at `path`, None where it cannot be read as Parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return list(pq.read_schema(path).names)
    except (OSError, ValueError, pa.ArrowException):
        return None


def _open(con: ibis.BaseBackend, path: Path, kind: str, table_name: str | None, key: str) -> ibis.Table:
    """The file's table in `con`, with `segkit_file_row` (0-based row position)."""
    if kind == "parquet":
        try:
            return con.read_parquet(str(path), file_row_number=True).rename({FILE_ROW: "file_row_number"})
        except Exception as err:
            raise DataError(f"{path}: not a readable Parquet file ({_first_line(err)}); export it again "
                            f"or set {key}.format") from None
    alias = f"segkit_file_{abs(hash(str(path))) % 10 ** 8}"
    try:
        con.raw_sql(f"ATTACH IF NOT EXISTS {_literal(str(path))} AS {alias} (READ_ONLY)")
    except Exception as err:
        raise DataError(f"{path}: not a readable DuckDB file ({_first_line(err)})") from None
    tables = sorted(row[0] for row in con.raw_sql(
        f"SELECT table_name FROM information_schema.tables WHERE table_catalog = {_literal(alias)}").fetchall())
    name = table_name or ("transactions" if "transactions" in tables else None)
    if name not in tables:
        from segkit.intake.sources import _listing, _name

        raise DataError(f"{path}: no table {_name(name)!r} (tables there: {_listing(tables) or 'none'}); "
                        f"set {key}.table")
    view = f"{alias}_rows"
    con.raw_sql(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT rowid AS segkit_file_row, * "
                f"FROM {alias}.main.{_identifier(name)}")
    return con.table(view)


def _typed_enough(used: dict[str, ibis.Column], zoned: bool = False) -> bool:
    """Whether every column segkit reads is typed as it needs: a date or a timestamp for ordered_at
    (with a time zone only where `zoned`: its zone is known, `_zones`), numbers for the amounts, text
    or whole numbers for the ids and labels. Dates and numbers written as text are read by cleaning
    in the engine (`segkit.intake.engine_parsing`), the parts of an amount derived from quantity and
    unit price only when both are text."""
    parts = [used[c].type().is_string() for c in ("quantity", "unit_price") if c in used]
    as_text = "amount" in used or all(parts)
    for ours, column in used.items():
        kind = column.type()
        if kind.is_string() and (ours == "ordered_at" or (ours in _NUMBER_COLUMNS and as_text)):
            continue
        if ours == "ordered_at":
            if not (kind.is_date() or (kind.is_timestamp() and (kind.timezone is None or zoned))):
                return False
        elif ours in _NUMBER_COLUMNS:
            if not kind.is_numeric() or kind.is_boolean():
                return False
        elif not (kind.is_string() or kind.is_integer()):
            return False
    return True


def _with_text_fixes(con: ibis.BaseBackend, table: ibis.Table, columns=_TEXT_COLUMNS, flagged=()) -> ibis.Table:
    """`table` with the text fixes of `segkit.intake.parsing` applied to its text `columns` (those of
    the file typed as text: ids typed as whole numbers are text here, but no fix changes them), through a
    small table of the distinct values they change (joined only where there is one), `fixes` (the
    fixes made on each row, joined by "+" in the order of FIXES: these and the fixes `flagged`, whose
    boolean columns `_flag_<fix>` the table has and loses) and `raw_customer_id` (the id as it came,
    where it changed)."""
    found = {}
    for column in _TEXT_COLUMNS:
        if column in columns and column in table.columns and table[column].type().is_string():
            changes = _changed_values(table, column)
            if changes is not None:
                found[column] = changes
    if not found and not flagged:
        return table
    for column, changes in found.items():
        lookup = ibis.memtable(changes).rename(**{f"_raw_{column}": "raw", f"_fixed_{column}": "fixed",
                                                  f"_fixes_{column}": "fixes"})
        table = table.left_join(lookup, table[column] == lookup[f"_raw_{column}"])
        hit = table[f"_raw_{column}"].notnull()
        extra = {"raw_customer_id": ibis.ifelse(hit, table[column], ibis.null(str))} if column == "customer_id" else {}
        table = table.mutate(**{column: ibis.ifelse(hit, table[f"_fixed_{column}"], table[column])}, **extra)
    from segkit.intake.engine_parsing import merged_fixes

    fixes = merged_fixes([table[f"_fixes_{c}"].fill_null("") for c in found],
                         {name: table[f"_flag_{name}"] for name in flagged})
    return table.mutate(fixes=fixes).drop(
        *[f"_{part}_{c}" for c in found for part in ("raw", "fixed", "fixes")], *[f"_flag_{name}" for name in flagged])


def labels_fixed(table: ibis.Table, columns: list[str]) -> ibis.Table:
    """`table` with its text `columns` normalised as labels, as `parsing.parse_text(labels=True)`
    normalises a file's attributes (`sources.row_attributes`): blanks trimmed, full-width digits and
    letters made ASCII, text composed, empty as missing; through the distinct values that change."""
    for column in columns:
        changes = _changed_values(table, column, labels=True)
        if changes is None:
            continue
        lookup = ibis.memtable(changes[["raw", "fixed"]]).rename(_raw="raw", _fixed="fixed")
        joined = table.left_join(lookup, table[column] == lookup["_raw"])
        table = joined.mutate(**{column: ibis.ifelse(joined["_raw"].notnull(), joined["_fixed"], joined[column])}
                              ).drop("_raw", "_fixed")
    return table


def _changed_values(table: ibis.Table, column: str, labels: bool | None = None) -> pd.DataFrame | None:
    """The distinct values of a text column that a text fix changes: raw, fixed (missing where the
    text is empty) and fixes ("+"-joined); None when no value changes. The values read are those
    that may change, and, for ids, one all-digit value of each width, so that `parse_id` sees the
    widths its zero-padding rule looks at."""
    text = table[column]
    maybe = table.filter(text.re_search(_MAY_CHANGE)).select(raw=text).distinct()
    maybe = maybe.to_pyarrow().column("raw").to_pylist()
    if not maybe:
        return None
    sample = list(maybe)
    if column == "customer_id":
        values = table.select(raw=text).distinct()
        digits = values.filter(values.raw.re_search(r"^\d+$"))
        widths = digits.group_by(width=digits.raw.length()).aggregate(raw=digits.raw.min())
        sample += widths.to_pyarrow().column("raw").to_pylist()
    sample_text = pd.Series(sample, dtype="string")
    labels = column in LABELS if labels is None else labels
    parsed = parse_id(sample_text) if column == "customer_id" else parse_text(sample_text, labels=labels)
    fixes = pd.Series("", index=parsed.values.index, dtype="object")
    for name in FIXES:
        hit = parsed.fixes[name].astype(bool) if name in parsed.fixes else pd.Series(False, index=fixes.index)
        fixes = fixes.mask(hit, fixes + "+" + name)
    fixes = fixes.str.lstrip("+")
    out = pd.DataFrame({"raw": sample, "fixed": parsed.values.astype("object"), "fixes": fixes})
    out = out.iloc[:len(maybe)]
    changed = (out["fixed"].astype("string") != out["raw"]).fillna(True) | (out["fixes"] != "")
    out = out[changed.to_numpy()]
    if out.empty:
        return None
    return out.astype({"raw": "string", "fixed": "string", "fixes": "string"}).reset_index(drop=True)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
