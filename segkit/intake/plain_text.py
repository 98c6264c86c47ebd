"""CSV and TSV files whose columns segkit reads are plainly written, read into the embedded engine.

Most large exports write their dates as ISO 8601 (`2024-03-05 14:03:00`), their amounts as plain
numbers (`1234.50`) and their ids as digits or codes. Such a file needs none of the readers of
`segkit.intake.parsing` for its dates and amounts: `engine_text_transactions` streams it through the
same reader as any text file (`segkit.intake.textfiles.TextTable`: its encodings, separators,
compression, line numbers and refusals), checks each batch of records, and loads it into a table of
an in-memory DuckDB, typed (timestamps, DECIMAL amounts, whole-number ids as integers), batch by
batch. From there it is judged like a Parquet file read in place (`segkit.intake.typed_files`): the
transactions never become a pandas frame. Exact duplicates are rows whose text, every column of the
file, hashes alike (the hash is computed in the engine from the values as exported).

A date or an amount written any other way (another date layout, an offset, a currency sign, a
decimal comma, a thousands separator, a value that is not a date at all) turns its column into text
in the engine (read again from the file's start when rows are already in, so that every value keeps
its text as exported): cleaning reads such columns there, through their
distinct values, with the text readers' parsers (`segkit.intake.engine_parsing`), so the file still
never becomes a pandas frame; so does a whole-number id column with a code further down. Ids of 16
digits or more (order numbers of Chinese marketplaces run to 18-19) and ids a spreadsheet wrote in
scientific notation are text in the engine: cleaning refuses the rounded ones naming their first row,
and notes long ids that all end in zeros, as the text readers do (`segkit.intake.parsing`). The
engine reads a batch's columns by their position in the file and keeps a column whose name it cannot
tell apart from another's (its names ignore case: `Amount` beside `amount`) or from its own under a
name of its own (`table_names`). The file is read as before (`segkit.intake.sources.read_file`), as
text in pandas, only where one of its columns is read for two of segkit's. An amount derived from
quantity and unit price is their exact product where both are plainly written, else both are kept as
text and cleaning derives it from their text (`segkit.intake.engine_parsing`).
The transaction attributes the params keep are loaded as text beside the transactions (a copy of a
date or amount column, as written); a file read
with a preset gets the preset's reading of its rows in the engine (`segkit.intake.preset_rows`).
"""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import duckdb
import ibis
import pyarrow as pa
import pyarrow.compute as pc

from segkit.intake.typed_files import FILE_ROW, INTERNAL, engine_name, in_segkit_terms

# The layouts read here; anything else goes to the text readers.
# (fractions of a second go to the text readers, which read a time to the second)
# a day of a month and a time of a day as Python reads them: no year 0, no 24:00, no 60th second (the
# engine would read 24:00 as the next midnight, where the text readers set the line aside)
PLAIN_DATE = (r"^(?:\d{3}[1-9]|\d{2}[1-9]\d|\d[1-9]\d{2}|[1-9]\d{3})-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
              r"(?:[ T](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d)?)?$")
PLAIN_NUMBER = r"^-?\d{1,12}(?:\.\d{1,6})?$"  # fits DECIMAL(18, 6) exactly
AMOUNT_TYPE = "DECIMAL(18, 6)"
# a whole-number id that reads back as the same text (no leading zero) and is not long enough to
# have been rounded by a spreadsheet (the text path's note on 16-digit ids ending in zeros)
WHOLE_ID = r"^(?:0|[1-9]\d{0,14})$"
# names the engine's table uses itself (DuckDB's names ignore case)
RESERVED = {FILE_ROW, "segkit_content", "source_row"}
_NUMBER_COLUMNS = ("amount", "quantity", "unit_price", "refund_amount")
_ID_COLUMNS = ("customer_id", "order_id")
CONTENT = "segkit_content"
_ATTRIBUTE = "segkit_attribute_"  # the names segkit gives the attribute columns it loads (`loaded_columns`)
_COLUMN = "segkit_column_"  # a loaded column whose own name the engine cannot keep apart (`table_names`)
_POSITION = "segkit_c"  # each column of a batch as the engine reads it: by its position in the file (`_insert`)
CHUNK_ROWS = 262_144  # records per insert (1M lines read in 1.8 s, 3.4 s in the reader's ~20,000: docs/benchmarks.md)
_names = itertools.count()


class _NotPlain(Exception):
    """A batch holds values of `columns` (segkit's names) that the engine does not read as the text readers would."""

    def __init__(self, columns: list[str]):
        super().__init__(", ".join(columns))
        self.columns = columns


# the columns kept as text when a value is not plainly written, for cleaning to read
# (`segkit.intake.engine_parsing`), and the ids kept as text when one is not a whole number
_AS_TEXT = ("ordered_at", *_NUMBER_COLUMNS)


def _as_text(con: ibis.BaseBackend, name: str, columns: list[str], mapping: dict[str, str], kinds: dict[str, str],
             derived: bool, alter: bool = True) -> bool:
    """Keep the table's `columns` as text from now on (`kinds`; the table's columns too where `alter`:
    it holds no rows yet; `mapping`: segkit's name -> the table's); both parts of an amount derived
    from quantity and unit price when one of them is (cleaning derives it from their text). False
    where the file must go to the text readers instead: a column already text."""
    if derived and any(ours in _NUMBER_COLUMNS for ours in columns):
        columns = list(dict.fromkeys([*columns, *(c for c in _NUMBER_COLUMNS if c in mapping and kinds[c] != "VARCHAR")]))
    changed = False
    for ours in columns:
        if kinds[ours] == "VARCHAR":
            return False
        if ours not in _AS_TEXT and not (ours in _ID_COLUMNS and kinds[ours] == "BIGINT"):
            return False
        if alter:
            con.raw_sql(f'ALTER TABLE "{name}" ALTER COLUMN {_quoted(mapping[ours])} SET DATA TYPE VARCHAR')
        kinds[ours] = "VARCHAR"
        changed = True
    return changed


def _load(con: ibis.BaseBackend, name: str, records, present: list[str], mapping: dict[str, str],
          in_table: dict[str, str], kinds: dict[str, str], derived: bool) -> str:
    """Insert the file's `records` into the table `name`, chunk by chunk (`mapping`: segkit's name -> the
    file's column; `in_table`: -> the table's): "done" when all went in;
    "again" when the file is to be read again from its start with the columns `kinds` now keeps as
    text (a value not plainly written in a chunk after the first: the rows already in hold the
    engine's text of their values, "12.500000" for "12.5", not the file's, which the details and
    the quarantine show); "text readers" when the file must go to them (`_as_text`)."""
    inserted = False
    for chunk in _chunks(records):
        while True:
            try:
                _check(chunk, mapping, kinds)
                _insert(con, name, chunk, present, mapping, in_table, kinds)
                break
            except (_NotPlain, duckdb.ConversionException) as err:  # or a value the cast refuses (2024-02-30)
                columns = err.columns if isinstance(err, _NotPlain) else \
                    [o for o in mapping if o in _AS_TEXT and kinds[o] != "VARCHAR"]
                if not _as_text(con, name, columns, in_table, kinds, derived, alter=not inserted):
                    return "text readers"
                if inserted:
                    return "again"
        inserted = True
    return "done"


def engine_text_transactions(con: ibis.BaseBackend, table, columns: dict[str, str], origin: str,
                             key: str = "source.transactions", decimal: str = ".",
                             attributes: dict[str, str] | None = None, preset: str | None = None
                             ) -> tuple[ibis.Table, list[str], ibis.Table | None] | None:
    """The transactions of the text file `table` (a `TextTable`, not read yet) as a lazy table of
    `con` (an embedded DuckDB), under segkit's names as `typed_files.engine_transactions` gives
    them: source_row (the record's line in the file), the mapped columns (ordered_at a timestamp
    and the amounts DECIMAL(18, 6), or text where a value is not plainly written; ids whole numbers
    or text, labels text after the text fixes), `content` (a hash of the record's text, every column) and the text fixes' `fixes` and
    `raw_customer_id`.

    `attributes` (our name -> the file's column: the transaction attributes the params keep) are
    loaded as text beside them and come back as a third table, source_row and each attribute
    normalised as labels as `sources.row_attributes` normalises them (`typed_files.labels_fixed`).

    Returns (table, the file's column names, the attributes or None), or None when the file must be
    read by the text readers (module docstring): an attribute not in the file (the text path names
    it), or the column map does not fit the header (the
    text path says so, with its hints). A decimal comma (`decimal` from `params.cleaning.decimal`)
    keeps every number column as text. `preset` (`source.preset`) reads the rows as its system
    meant them (`typed_files.in_segkit_terms`). Raises the reader's DataError for a file it cannot
    read (encoding, a line with extra values, a header naming a column twice).
    """
    from segkit.errors import DataError
    from segkit.intake.sources import mapped_columns

    batches = table.batches()
    first = next(batches, None)
    if first is None or first.num_rows == 0:  # no records: the text path's messages say what to do
        batches.close()
        return None
    present = [name for name in first.schema.names if name != "source_row"]
    try:
        mapping, _ = mapped_columns(present, columns, origin, f"{key}.columns")
    except DataError:  # said by the text path, with the separator's hint
        batches.close()
        return None
    mapping = {ours: theirs for ours, theirs in mapping.items() if theirs in present}
    attributes = dict(attributes or {})
    if (len(set(mapping.values())) < len(mapping) or any(theirs not in present for theirs in attributes.values())
            or len(set(present)) < len(present)):
        # a column read for two of segkit's, or two columns without a name (`Unnamed: 0` beside a column so
        # named: the header check lets them be), the text path reads; it names a missing column
        batches.close()
        return None
    # the attribute columns, loaded as text under names of their own (a copy of a mapped date or amount
    # column, whose values the engine types); a mapped id or label column is text already, and serves
    as_text = {theirs for ours, theirs in mapping.items() if ours not in _AS_TEXT}
    kept = {f"{_ATTRIBUTE}{i}": theirs for i, theirs in
            enumerate(dict.fromkeys(t for t in attributes.values() if t not in as_text))}
    kinds = _kinds(first, mapping) | {name: "VARCHAR" for name in kept}
    loaded_columns = {**mapping, **kept}
    named = table_names(present, list(mapping.values()))
    in_table = {ours: ours if ours in kept else named[theirs] for ours, theirs in loaded_columns.items()}
    if decimal != ".":  # "1.234" is a thousand there: the numbers are read from their text by cleaning
        kinds.update({ours: "VARCHAR" for ours in mapping if ours in _NUMBER_COLUMNS})
    name = f"segkit_text_{next(_names)}"
    derived = "amount" not in mapping
    records = itertools.chain([first], batches)
    while True:  # once more from the file's start when a column turns into text after rows went in
        con.raw_sql(_create(name, in_table, kinds))
        loaded = _load(con, name, records, present, loaded_columns, in_table, kinds, derived)
        if loaded == "done":
            break
        batches.close()
        con.raw_sql(f'DROP TABLE "{name}"')
        if loaded == "text readers":
            return None
        records = batches = table.batches()
    raw = con.table(name)
    kept_attributes = None
    if attributes:
        from segkit.intake.typed_files import labels_fixed

        loaded_as = {theirs: column for column, theirs in kept.items()}  # the file's column -> the table's
        kept_attributes = labels_fixed(raw.select(source_row=(raw[FILE_ROW] + 1).cast("int64"),
                                                  **{ours: raw[loaded_as.get(theirs) or named[theirs]].cast("string")
                                                     for ours, theirs in attributes.items()}),  # an id as a number
                                       list(attributes))
    return (in_segkit_terms(con, raw, {ours: named[theirs] for ours, theirs in mapping.items()}, raw[CONTENT],
                            preset=preset, header=present, shown=mapping), present, kept_attributes)


def table_names(present: list[str], loaded: list[str]) -> dict[str, str]:
    """The engine table's name of each of the file's columns `loaded` (`present`: every column of the
    file, in order): the file's own, unless the engine cannot keep it apart, for it ignores case: a name
    another loaded column has but for ASCII case (`Amount` beside `amount`), or one of the table's own
    names (segkit's prefixes); such a column is `segkit_column_<its position in the file>`. The file's
    names stay those of the details and notes (`typed_files.in_segkit_terms`'s `shown`)."""
    folded = Counter(engine_name(name) for name in loaded)
    own = {engine_name(name) for name in RESERVED}

    def clashes(name: str) -> bool:
        key = engine_name(name)
        return folded[key] > 1 or key in own or key.startswith(("segkit_", INTERNAL))

    return {name: f"{_COLUMN}{present.index(name)}" if clashes(name) else name for name in loaded}


def _chunks(batches, rows: int | None = None):
    """The reader's batches gathered into tables of at least `rows` records (default CHUNK_ROWS; the
    last one smaller): each insert then gives the engine enough rows to use every core."""
    rows = rows or CHUNK_ROWS
    held, count = [], 0
    for batch in batches:
        held.append(batch)
        count += batch.num_rows
        if count >= rows:
            yield pa.Table.from_batches(held)
            held, count = [], 0
    if held:
        yield pa.Table.from_batches(held)


def _kinds(batch: pa.RecordBatch, mapping: dict[str, str]) -> dict[str, str]:
    """The engine type of each mapped column, from the first batch: ids are whole numbers when every
    id there is (a later batch with another id sends the file to the text path)."""
    kinds = {}
    for ours, theirs in mapping.items():
        if ours == "ordered_at":
            kinds[ours] = "TIMESTAMP"
        elif ours in _NUMBER_COLUMNS:
            kinds[ours] = AMOUNT_TYPE
        elif ours in _ID_COLUMNS and _all_match(batch.column(theirs), WHOLE_ID):
            kinds[ours] = "BIGINT"
        else:
            kinds[ours] = "VARCHAR"
    return kinds


def _check(batch: pa.Table, mapping: dict[str, str], kinds: dict[str, str]) -> None:
    """Raise _NotPlain naming every column of `batch` with a value not plainly written for its kind."""
    found = []
    for ours, theirs in mapping.items():
        column = batch.column(theirs)
        if ours in _AS_TEXT and kinds[ours] == "VARCHAR":  # read from text by cleaning
            plain = True
        elif ours == "ordered_at":
            plain = _all_match(column, PLAIN_DATE)
        elif ours in _NUMBER_COLUMNS:
            plain = _all_match(column, PLAIN_NUMBER)
        elif kinds[ours] == "BIGINT":
            plain = _all_match(column, WHOLE_ID)
        else:  # text: ids of any length or notation (cleaning judges them in the engine), labels
            plain = True
        if not plain:
            found.append(ours)
    if found:
        raise _NotPlain(found)


def _all_match(column: pa.Array, pattern: str) -> bool:
    """Whether every value of `column` that is there matches `pattern` (missing values are left to the rules)."""
    matched = pc.match_substring_regex(column, pattern)
    return pc.sum(pc.invert(matched)).as_py() in (None, 0)


def _create(name: str, in_table: dict[str, str], kinds: dict[str, str]) -> str:
    """The table's columns: each loaded column under its name there (`in_table`: segkit's name -> the
    table's: the file's name as `table_names` keeps it, an attribute's own, `_ATTRIBUTE`), then the
    content hash."""
    parts = [f"{FILE_ROW} BIGINT", *(f"{_quoted(column)} {kinds[ours]}" for ours, column in in_table.items()),
             f"{CONTENT} BIGINT"]
    return f'CREATE TABLE "{name}" ({", ".join(parts)})'


def _insert(con: ibis.BaseBackend, name: str, batch: pa.Table, present: list[str],
            mapping: dict[str, str], in_table: dict[str, str], kinds: dict[str, str]) -> None:
    """One batch into the table: the loaded columns cast (`mapping`: segkit's name -> the file's column,
    in the order of `in_table`, the table's), the row's text hashed (NULL where empty, every column in
    the file's order; as `typed_files` hashes a typed row, a 64-bit hash). The engine reads the batch's
    columns by their position in the file: its names ignore case, the file's may not."""
    view = f"{name}_batch"
    position = {column: i for i, column in enumerate(present)}
    con.con.register(view, batch.rename_columns([c if c == "source_row" else f"{_POSITION}{position[c]}"
                                                 for c in batch.column_names]))
    try:
        values = ["source_row - 1",
                  *(f"CAST({_POSITION}{position[mapping[ours]]} AS {kinds[ours]})" for ours in in_table)]
        content = "hash(struct_pack(" + ", ".join(f"c{i} := {_POSITION}{i}" for i in range(len(present))) + "))"
        # the unsigned hash's 64 bits as a BIGINT, as Ibis writes `.hash()` for DuckDB
        con.raw_sql(f'INSERT INTO "{name}" SELECT {", ".join(values)}, CAST(CAST({content} AS BIT) AS BIGINT) '
                    f'FROM "{view}"')
    finally:
        con.con.unregister(view)


def _quoted(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'
