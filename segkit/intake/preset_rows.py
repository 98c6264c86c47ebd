"""A preset's reading of an export's rows, where the rows are: in the embedded engine.

`segkit.intake.presets.rewrite_values` reads a system's export as its system meant it, on a pandas
frame of text. A file read in place by the engine (a CSV or TSV loaded batch by batch,
`segkit.intake.plain_text`; a Parquet file, `segkit.intake.typed_files`) gets the same reading here,
as Ibis expressions over the file's own columns, before they take segkit's names: the fields an
export writes on an order's first line only (`Preset.order_fields`: Shopify's Financial Status and
Created at) filled in from that line, the values as exported kept for the quarantine, and the rows'
content hashes told apart where two lines of one order read alike (`presets._content_with_line`:
two line items, not a copy). The transactions never become a pandas frame.

`engine_reads(name)` says whether a preset's reading is done here: every bundled preset's is; a
preset with `rewrite` rules (regular expressions written for Python's engine) is read as text.
"""

from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass, field

import ibis

from segkit.intake.presets import load_preset

# what Python's str.strip() removes: a value of only these is blank, as `presets._filled_within_order` reads it
_WHITESPACE = "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())
BLANK = "^[" + "".join(f"\\x{{{ord(c):x}}}" for c in _WHITESPACE) + "]*$"
_names = itertools.count()


@dataclass
class OrderFieldsRead:
    """What `read_order_fields` gives: `table` (the file's rows, the order fields filled in, a table of the engine),
    `content` (each row's content hash, line items told apart), `filled` (whether a row had a field
    filled in: the fix `filled_from_order`) and `exported` (segkit's name -> the field's values as
    exported, as text, for the quarantine); `filled` is None and `exported` empty when the preset
    fills nothing in this file."""

    table: ibis.Table
    content: ibis.Value
    filled: ibis.BooleanValue | None = None
    exported: dict[str, ibis.StringValue] = field(default_factory=dict)


def engine_reads(name: str | None) -> bool:
    """Whether a file read with preset `name` (None: no preset) can be read in place by the engine:
    the preset has no `rewrite` rules (none of the bundled presets has)."""
    return name is None or not load_preset(name).rewrite


def read_order_fields(raw: ibis.Table, mapping: dict[str, str], name: str | None, content: ibis.Value,
                      file_row: str) -> OrderFieldsRead:
    """`raw` (a file's rows in the engine, its own column names, `file_row` its 0-based row position)
    read as `presets.rewrite_values` reads a frame for preset `name`, where `mapping` (segkit's name
    -> the file's column) maps the order id and some of the preset's `order_fields`:

    - `content` (the row's hash, a BIGINT expression over `raw`) mixed with the line's place among
      the order's lines that read alike, beyond the first (`presets._content_with_line`);
    - each blank field (missing, or only blanks as Python's str.strip() reads them) of a row with an
      order id takes the order's first non-blank value, in the file's row order.

    Without a preset, an order id or an order field in the file, `raw` and `content` as they are."""
    fields = [] if name is None else [mapping[f] for f in load_preset(name).order_fields if f in mapping]
    order = mapping.get("order_id")
    if not fields or order is None:
        return OrderFieldsRead(raw, content)
    blank = {theirs: _blank(raw[theirs]) for theirs in fields}
    table = raw.mutate(_segkit_content=content, _segkit_first=ibis.or_(*[~b for b in blank.values()]))
    table = _with_lines_told_apart(table, order, file_row)
    firsts = table.filter(table[order].notnull()).group_by(_segkit_order=table[order]).aggregate(
        **{f"_segkit_take_{i}": table[theirs].argmin(table[file_row], where=~_blank(table[theirs]))
           for i, theirs in enumerate(fields)})
    joined = table.left_join(firsts, table[order] == firsts._segkit_order)
    table = joined.select(*[c for c in joined.columns if c != "_segkit_order"])
    taken = {theirs: _blank(table[theirs]) & table[f"_segkit_take_{i}"].notnull() for i, theirs in enumerate(fields)}
    ours = {theirs: name for name, theirs in mapping.items()}
    table = table.mutate(**{f"_segkit_exported_{i}": table[theirs].cast("string") for i, theirs in enumerate(fields)},
                         _segkit_filled=ibis.or_(*taken.values()))
    table = table.mutate(**{theirs: ibis.ifelse(taken[theirs], table[f"_segkit_take_{i}"], table[theirs])
                            for i, theirs in enumerate(fields)}
                         ).drop(*[f"_segkit_take_{i}" for i in range(len(fields))])
    # kept once in the engine, the columns read only: cleaning's dozen queries then read the rows, not the
    # windows and the join again (a tenth of the time of cleaning a million Shopify lines)
    kept = [file_row, *dict.fromkeys(t for t in mapping.values() if t in table.columns), "_segkit_content",
            "_segkit_filled", *[f"_segkit_exported_{i}" for i in range(len(fields))]]
    table = table.get_backend().create_table(f"segkit_order_fields_{next(_names)}", table.select(kept), temp=True)
    return OrderFieldsRead(table, table._segkit_content, table._segkit_filled,
                           {ours[theirs]: table[f"_segkit_exported_{i}"] for i, theirs in enumerate(fields)})


def _blank(value: ibis.Value) -> ibis.BooleanValue:
    if not value.type().is_string():
        return value.isnull()
    return value.isnull() | value.re_search(BLANK)


def _with_lines_told_apart(table: ibis.Table, order: str, file_row: str) -> ibis.Table:
    """`table` (with `_segkit_content` and `_segkit_first`, whether the row carries an order field)
    with `_segkit_content` mixed with the line's place, as `presets._content_with_line` does it:
    an order's copies are its first lines (where some but not all rows carry the fields), else as
    many as its least repeated line is found; a line found n times among k copies is ceil(n / k)
    lines, and its rows beyond those (in the file's order) are copies of them."""
    by_order = ibis.window(group_by=table[order])
    by_line = ibis.window(group_by=[table[order], table._segkit_content])
    table = table.mutate(_segkit_firsts=table._segkit_first.cast("int64").sum().over(by_order),
                         _segkit_all_first=table._segkit_first.all().over(by_order),
                         _segkit_found=table._segkit_content.count().over(by_line),
                         _segkit_nth=ibis.row_number().over(ibis.window(group_by=[table[order], table._segkit_content],
                                                                        order_by=table[file_row])))
    table = table.mutate(_segkit_least=table._segkit_found.min().over(ibis.window(group_by=table[order])))
    copies = ibis.ifelse(table._segkit_all_first | (table._segkit_firsts == 0), table._segkit_least,
                         table._segkit_firsts)
    lines = ibis.greatest((table._segkit_found + copies - 1) // copies, 1)  # rounded up
    place = table._segkit_nth % lines
    mixed = ibis.struct({"content": table._segkit_content, "place": place}).hash()
    return table.mutate(_segkit_content=ibis.ifelse(place > 0, mixed, table._segkit_content)).drop(
        "_segkit_first", "_segkit_firsts", "_segkit_all_first", "_segkit_found", "_segkit_nth", "_segkit_least")
