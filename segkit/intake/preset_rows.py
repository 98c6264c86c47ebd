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
from dataclasses import dataclass, field

import ibis

from segkit.intake.presets import load_preset

# what Python's str.strip() removes (str.isspace): a value of only these is blank, as
# `presets._filled_within_order` reads it
WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
              "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
BLANK = "^[" + "".join(f"\\x{{{ord(c):x}}}" for c in WHITESPACE) + "]*$"
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
    fields = [] if name is None else [mapping[f] for f in load_preset(name).order_fields
                                      if f in mapping and mapping[f] in raw.columns]  # a field the file has
    order = mapping.get("order_id")
    if not fields or order is None:
        return OrderFieldsRead(raw, content)
    con = raw.get_backend()
    table = raw.mutate(_segkit_content=content,
                       _segkit_first=ibis.or_(*[~_blank(raw[theirs]) for theirs in fields]))
    # each order's first non-blank value of each field, and the place of the lines that read alike beyond
    # the first, each kept in a table of its own: one query joining them to the rows is then three times
    # faster than the same query computing them (10M Shopify lines: docs/benchmarks.md, session 38)
    carrying = table.filter(table[order].notnull() & table._segkit_first)  # the rows with a field to give
    firsts = con.create_table(f"segkit_order_firsts_{next(_names)}", carrying.group_by(
        _segkit_order=carrying[order]).aggregate(
        **{f"_segkit_take_{i}": carrying[theirs].argmin(carrying[file_row], where=~_blank(carrying[theirs]))
           for i, theirs in enumerate(fields)}), temp=True)
    places = con.create_table(f"segkit_line_places_{next(_names)}", _places(table, order, file_row), temp=True)
    joined = table.left_join(firsts, table[order] == firsts._segkit_order)
    joined = joined.left_join(places, joined[file_row] == places._segkit_row)
    place = joined._segkit_place.fill_null(0)
    mixed = ibis.struct({"content": joined._segkit_content, "place": place}).hash()
    taken = {theirs: _blank(joined[theirs]) & joined[f"_segkit_take_{i}"].notnull() for i, theirs in enumerate(fields)}
    # the values as exported, for the quarantine: of the fields the engine holds as text (a typed date has
    # lost its text, as it has in a file read without a preset)
    exported = {f"_segkit_exported_{i}": joined[theirs] for i, theirs in enumerate(fields)
                if joined[theirs].type().is_string()}
    table = joined.select(
        file_row, *[t for t in dict.fromkeys(mapping.values()) if t in raw.columns and t not in fields],
        **{theirs: ibis.ifelse(taken[theirs], joined[f"_segkit_take_{i}"], joined[theirs])
           for i, theirs in enumerate(fields)},
        _segkit_content=ibis.ifelse(place > 0, mixed, joined._segkit_content),
        _segkit_filled=ibis.or_(*taken.values()), **exported)
    # kept once in the engine: cleaning's dozen queries then read the rows, not the joins again
    table = con.create_table(f"segkit_order_fields_{next(_names)}", table, temp=True)
    ours = {theirs: name for name, theirs in mapping.items()}
    return OrderFieldsRead(table, table._segkit_content, table._segkit_filled,
                           {ours[theirs]: table[f"_segkit_exported_{i}"] for i, theirs in enumerate(fields)
                            if f"_segkit_exported_{i}" in table.columns})


def _blank(value: ibis.Value) -> ibis.BooleanValue:
    if not value.type().is_string():
        return value.isnull()
    return value.isnull() | value.re_search(BLANK)


def _places(table: ibis.Table, order: str, file_row: str) -> ibis.Table:
    """The rows (`_segkit_row`, their `file_row`) whose content is to be mixed with their line's place
    (`_segkit_place`, above 0), as `presets._content_with_line` places them: an order's copies are its
    first lines (`_segkit_first`: the rows carrying an order field; where some but not all rows carry
    them), else as many as its least repeated line is found; a line (`_segkit_content`) found n times
    among k copies is ceil(n / k) lines, and its rows beyond those (in the file's order) are copies
    of them. Rows without an order are one order, as in the text path. Only the orders with a line
    found twice are looked at: a line found once is never placed."""
    found_twice = table.group_by(_segkit_o=table[order], _segkit_c=table._segkit_content).having(
        table.count() > 1).aggregate()
    orders = found_twice.select("_segkit_o").distinct()
    rows = table.semi_join(orders, table[order].identical_to(orders._segkit_o))
    lines = rows.group_by(_segkit_o=rows[order], _segkit_c=rows._segkit_content).aggregate(
        _segkit_found=rows.count(), _segkit_line_firsts=rows._segkit_first.cast("int64").sum(),
        _segkit_line_all=rows._segkit_first.all())
    per_order = lines.group_by(_segkit_oo="_segkit_o").aggregate(
        _segkit_firsts=lines._segkit_line_firsts.sum(), _segkit_all_first=lines._segkit_line_all.all(),
        _segkit_least=lines._segkit_found.min())
    both = lines.join(per_order, lines._segkit_o.identical_to(per_order._segkit_oo))
    copies = ibis.ifelse(both._segkit_all_first | (both._segkit_firsts == 0), both._segkit_least, both._segkit_firsts)
    repeated = both.filter(both._segkit_found > copies).select(
        "_segkit_o", "_segkit_c", _segkit_lines=(both._segkit_found + copies - 1) // copies)  # rounded up
    placed = rows.join(repeated, [rows[order].identical_to(repeated._segkit_o),
                                  rows._segkit_content == repeated._segkit_c])
    nth = ibis.row_number().over(ibis.window(group_by=[placed._segkit_o, placed._segkit_c], order_by=placed[file_row]))
    out = placed.select(_segkit_row=placed[file_row], _segkit_place=nth % placed._segkit_lines)
    return out.filter(out._segkit_place > 0)
