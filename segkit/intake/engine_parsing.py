"""Dates and amounts written as text, read where the rows are: through their distinct values.

A CSV whose dates or amounts are not plainly written ("2024/1/5 13:02", "05/01/2024", "¥1,234.50",
"(3.00)"), or a Parquet file that keeps them as text, is loaded into the embedded engine with those
columns as text (`segkit.intake.plain_text`, `segkit.intake.typed_files`). `parse_in_engine` reads
them as the text path reads a pandas frame (`segkit.intake.cleaning.prepare`), with the same parsers
(`parse_datetime`, `parse_amount`, the exact amounts of `to_minor_units`), but over each column's
distinct values only, with the number of rows each stands for and the first row that holds it; the
values read (typed), the fixes made, and the problem of a value that cannot be read are joined back
to the rows in the engine. The column-wide decisions come out as on the rows: the order of day and
month is settled by which values the column holds; the notes count rows (the `counts` of the
parsers) and name the first value in the file's order. The transactions never become a pandas frame.
"""

from __future__ import annotations

import itertools

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa

from segkit.intake.parsing import FIXES, Parsed, decimal_array, fixes_per_row, parse_amount, parse_datetime

# The columns read from text here, in the order a row's first problem is named (as `prepare` checks
# them); `amount` also has the problems of a number read (not finite, implausible), named after these
TEXT_READ = ("ordered_at", "amount", "unit_price", "quantity", "refund_amount")
_UNREADABLE = {"ordered_at": "unreadable_date", "amount": "unreadable_amount", "unit_price": "unreadable_amount",
               "quantity": "unreadable_quantity", "refund_amount": "unreadable_amount"}
# the columns read as exact money, DECIMAL(18, minor_unit): the line's amount and the part of it refunded
_MONEY = ("amount", "refund_amount")
_names = itertools.count()


def text_columns(table: ibis.Table) -> list[str]:
    """The columns of `table` (segkit's names) that `parse_in_engine` reads: dates and numbers typed as text."""
    return [c for c in TEXT_READ if c in table.columns and table[c].type().is_string()]


def raw_values(table: ibis.Table) -> ibis.Table | None:
    """The text of the columns `parse_in_engine` reads and of those a preset filled in from the
    order's first line (`raw_<column>`, with source_row; the latter as exported, from their
    `presets.AS_EXPORTED` columns), for the quarantine's values as given; None when there are none."""
    from segkit.intake.presets import AS_EXPORTED

    exported = {c.removeprefix(AS_EXPORTED): c for c in table.columns if c.startswith(AS_EXPORTED)}
    columns = list(dict.fromkeys([*text_columns(table), *exported]))
    if not columns:
        return None
    return table.select("source_row", **{f"raw_{c}": table[exported.get(c, c)] for c in columns})


def parse_in_engine(con: ibis.BaseBackend, table: ibis.Table, rules, minor_unit: int = 2,
                    currency_code: str | None = None, headers: dict[str, str] | None = None,
                    id_notes: list[dict] = ()) -> tuple[ibis.Table, list[dict]]:
    """`table` (the transactions in `con`, an embedded DuckDB, with source_row) with its text
    columns among ordered_at, amount, quantity and unit_price read as `prepare` reads a frame's:
    ordered_at a timestamp (`rules.day_first`, `rules.time_zone`), amount DECIMAL(18, minor_unit)
    (rounded once, half away from zero; missing where it is not finite or above `rules.max_amount`
    in size), quantity and unit_price float64 (`rules.decimal` for all three); `fixes` gains the
    fixes made (in the order of FIXES, with those the table has), and `problem_rule` and `detail`
    name a row's first value that could not be read or kept, naming columns as `headers` maps them.

    Returns the table and the notes of what the columns as a whole decided or showed (the day/month
    order, amounts in another currency than `currency_code`, a decimal mark other than the one stated),
    with rows counted as `prepare` counts them; `id_notes` (the ids' notes, `parsing.long_ids_notes_in_engine`)
    go where `prepare` says them, after the dates' order.

    Without an amount column, the amount is derived from quantity and unit price written as text
    (both text columns here): each distinct pair of the two as written gets the exact product,
    rounded once to DECIMAL(18, minor_unit), as `prepare` derives it (a part that cannot be read is
    `unreadable_amount`; a product above `rules.max_amount` is `implausible_amount`, its detail
    naming both columns and values). Raises ValueError when only one of the two parts is text (the
    intake reads such a file as text).
    """
    from segkit.intake.cleaning import other_currency_note, other_decimal_note

    columns = text_columns(table)
    if not columns:
        return table, list(id_notes)
    derived = "amount" not in table.columns
    if derived and not {"quantity", "unit_price"} <= set(columns):
        raise ValueError("an amount derived from quantity and unit price, one of them text, is read by the text path")
    headers = headers or {}

    def named(column: str) -> str:
        return headers.get(column, column)

    said: dict[tuple[str, str], dict] = {}  # (kind, column) -> note
    found = {}
    for column in columns:
        offsets = rules.time_zone is None  # dropped by the parsers: the wall time as written
        keyed = _date_keys(table, column, offsets) if column == "ordered_at" else table.mutate(_key=table[column])
        values = _distinct(keyed, column)
        text, counts = values["key"], values["rows"]
        if column == "ordered_at":
            parsed = parse_datetime(text, day_first=rules.day_first, time_zone=rules.time_zone, counts=counts,
                                    examples=values["example"], source_rows=values["first"], last_rows=values["last"])
            lookup = pd.DataFrame({"value": parsed.values.astype("datetime64[us]")})
        else:
            parsed = parse_amount(text, decimal=rules.decimal)
            if column in ("amount", "unit_price", "refund_amount"):
                said["currency", column] = other_currency_note(parsed, text, named(column), currency_code, counts)
            said["decimal", column] = other_decimal_note(parsed, text, named(column), rules.decimal, counts)
            lookup = pd.DataFrame({"value": parsed.values.astype("float64")})
        if parsed.note is not None:
            said["order", column] = dict(parsed.note, column=named(column))
        bad = parsed.unreadable()
        lookup["fixes"] = fixes_per_row([parsed], text.index).replace("", None).to_numpy()
        rule = "unreadable_amount" if derived and column == "quantity" else _UNREADABLE[column]  # a part of the amount
        lookup["rule"] = pd.Series(rule, index=text.index, dtype="string").where(bad).to_numpy()
        lookup["problem"] = (" " + parsed.problem).where(bad).to_numpy() if parsed.problem is not None else None
        if column in _MONEY:
            lookup = _exact(lookup, text, parsed, bad, rules.max_amount, minor_unit,
                            implausible="an implausible line" if column == "amount" else "implausible")
        lookup.insert(0, "key", text.to_numpy())
        found[column] = lookup
    if derived:
        found["amount"] = _derived_amounts(table, rules, minor_unit, named)
    # kept once in the engine: the rules' dozen queries then read the values, not the reading again
    # (the dates' keys are worked out again there: as fast as keeping them in a table of their own)
    dated = _date_keys(table, "ordered_at", rules.time_zone is None) if "ordered_at" in found else table
    read = con.create_table(f"segkit_read_{next(_names)}", _joined(con, dated, found, named), temp=True)
    # in the order `prepare` gives them: the dates' order, the currencies, the decimal marks
    order = [("order", "ordered_at"), ("currency", "amount"), ("currency", "unit_price"), ("currency", "refund_amount"),
             ("decimal", "amount"), ("decimal", "quantity"), ("decimal", "unit_price"), ("decimal", "refund_amount")]
    notes = [said[key] for key in order if said.get(key)]
    at = 1 if said.get(("order", "ordered_at")) else 0
    return read, [*notes[:at], *id_notes, *notes[at:]]


# a time of day on the 24-hour clock after one blank or a T, at the end of a date ("2024/1/5 10:07",
# "05/01/2024T9:05:07.250"): the rows holding one are read by their date and the time's shape, its
# digits as zeros ("2024/1/5 00:00"), and the time is added in the engine. The parsers' layouts tell
# digits apart only by how many there are, so the shape reads as the value does (the same layout, the
# same fixes, the same problem); a time out of range (25:00), an AM/PM after it, or 上午/下午 before it
# (which change the hour) keep the value whole. A column of ten million timestamps then has a few
# thousand values to read in Python (docs/benchmarks.md, session 35). A UTC offset after the time
# (Shopify's "2024-03-05 14:22:10 -0500", "...T14:22:10Z") stays in the key as written, when the parsers
# drop it (no `cleaning.time_zone`: the wall time as written); converted to a zone, the time of day
# decides the day and the daylight saving, and such values are read whole.
_TIME_AT_END = r"[ T][0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?$"
_OFFSET = r" ?(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)$"  # as `parsing._ISO` reads one
_TIME_AND_OFFSET_AT_END = _TIME_AT_END.removesuffix("$") + f"(?:{_OFFSET.removesuffix('$')})?$"


def _date_keys(table: ibis.Table, column: str, offsets: bool = False) -> ibis.Table:
    """`table` with `_key` (what the date column's value is read by: its date and its time's shape,
    or the value itself) and `_seconds` (the time of day to add, in seconds; 0 for a whole value).
    With `offsets` (no time zone to convert to), a time followed by a UTC offset is split too, the
    offset kept in the key. One regular expression a row, without groups (several times faster in the
    engine than groups); the time is taken apart with string functions."""
    value = table[column]
    table = table.mutate(_written=value.re_extract(_TIME_AND_OFFSET_AT_END if offsets else _TIME_AT_END, 0))
    offset = table._written.re_extract(_OFFSET, 0) if offsets else ibis.literal("")
    table = table.mutate(_offset=offset)
    table = table.mutate(_time=table._written.substr(0, table._written.length() - table._offset.length()))
    time = table._time
    colon = time.find(":")  # 0-based; the time is "[ T]H:MM", "[ T]HH:MM:SS" or "[ T]HH:MM:SS.f", or ""
    hour = time.substr(1, colon - 1).try_cast("int64")
    minute = time.substr(colon + 1, 2).try_cast("int64")
    second = ibis.ifelse(time.length() > colon + 3, time.substr(colon + 4, 2), "").try_cast("int64")
    date = value.substr(0, value.length() - table._written.length())
    table = table.mutate(_split=((time != "") & (date != "") & ~value.contains("午") & (hour <= 23) & (minute <= 59)
                                 & (second.isnull() | (second <= 59))).fill_null(False),
                         # the time with its digits as zeros, put together (faster than translate())
                         _shape=date.concat(time.substr(0, 1), ibis.literal("0").repeat(colon - 1), ":00",
                                            ibis.ifelse(time.length() > colon + 3, ":00", ""),
                                            ibis.ifelse(time.length() > colon + 6,
                                                        ibis.literal(".").concat(ibis.literal("0").repeat(
                                                            time.length() - colon - 7)), ""),
                                            table._offset),
                         _time_seconds=hour * 3600 + minute * 60 + second.fill_null(0))
    return table.mutate(_key=ibis.ifelse(table._split, table._shape, table[column]),
                        _seconds=ibis.ifelse(table._split, table._time_seconds, 0)
                        ).drop("_written", "_offset", "_time", "_split", "_shape", "_time_seconds")


def _distinct(table: ibis.Table, column: str) -> pd.DataFrame:
    """The distinct keys (`_key`) of the rows where `column` is there, the rows holding each
    (`rows`), the first and the last of them (`first`, `last`) and the first one's value (`example`),
    in the order the rows first hold them."""
    present = table.filter(table[column].notnull())
    grouped = present.group_by(key=present._key).aggregate(
        rows=present.count(), first=present.source_row.min(), last=present.source_row.max(),
        example=present[column].argmin(present.source_row))
    frame = grouped.order_by("first").to_pyarrow().to_pandas(types_mapper={pa.string(): pd.StringDtype(),
                                                                             pa.large_string(): pd.StringDtype()}.get)
    return frame.reset_index(drop=True)


def _exact(lookup: pd.DataFrame, text: pd.Series, parsed: Parsed, bad: pd.Series, max_amount: float,
           minor_unit: int, implausible: str = "an implausible line") -> pd.DataFrame:
    """The amount lookup with each value exact in minor units (`value`, DECIMAL(18, minor_unit)), and,
    where the value is read but not finite or implausible, its `late_rule` and `late_problem` (the
    words after the value), named after every column's unreadable value (as `prepare` names them)."""
    from segkit.intake.cleaning import _exact_amounts

    units, non_finite, too_large, _ = _exact_amounts(pd.DataFrame({"amount": text}), {"amount": parsed},
                                                     False, minor_unit, max_amount)
    limit = f"cleaning.max_amount {max_amount:g}"
    late = pd.Series(pd.NA, index=text.index, dtype="string")
    words = pd.Series(pd.NA, index=text.index, dtype="string")
    for name, marked, said in (
            ("non_finite_amount", non_finite, " is not a finite number"),
            ("implausible_amount", too_large, f" is above {limit} in size: {implausible}, never summed")):
        marked = marked & ~bad & late.isna()
        if marked.any():
            late = late.mask(marked, name)
            words = words.mask(marked, said)
    kept = units.where(~(non_finite | too_large).to_numpy())
    out = lookup.drop(columns="value")
    out.insert(0, "value", decimal_array(kept, minor_unit).array)
    out["late_rule"] = late.to_numpy()
    out["late_problem"] = words.to_numpy()
    return out


def _derived_amounts(table: ibis.Table, rules, minor_unit: int, named) -> pd.DataFrame:
    """The amount of each distinct pair of quantity and unit price as written (both there), as
    `prepare` derives it (`cleaning._exact_amounts`): `key` and `key_price` (the two texts), `value`
    (the exact product rounded once, DECIMAL(18, minor_unit); missing where a part cannot be read or
    the product is implausible), no fixes or rule of its own (a part's are its column's), and the
    `late_rule` and `late_problem` (the whole detail, both columns named) of an implausible product."""
    from segkit.intake.cleaning import _exact_amounts

    both = table.filter(table.quantity.notnull() & table.unit_price.notnull())
    pairs = both.group_by(key=both.quantity, key_price=both.unit_price).aggregate(first=both.source_row.min())
    pairs = pairs.order_by("first").to_pyarrow().to_pandas(types_mapper={pa.string(): pd.StringDtype(),
                                                                         pa.large_string(): pd.StringDtype()}.get)
    quantity, price = pairs["key"].reset_index(drop=True), pairs["key_price"].reset_index(drop=True)
    parsed = {"quantity": parse_amount(quantity, decimal=rules.decimal),
              "unit_price": parse_amount(price, decimal=rules.decimal)}
    written = pd.DataFrame({"quantity": quantity, "unit_price": price})
    units, _, implausible, words = _exact_amounts(written, parsed, True, minor_unit, rules.max_amount, named)
    bad = parsed["quantity"].unreadable() | parsed["unit_price"].unreadable()
    late = implausible & ~bad
    limit = f"cleaning.max_amount {rules.max_amount:g}"
    lookup = pd.DataFrame({"key": quantity, "key_price": price})
    lookup.insert(0, "value", decimal_array(units.where(~implausible.to_numpy()), minor_unit).array)
    lookup["fixes"] = None
    lookup["rule"] = pd.Series(pd.NA, index=quantity.index, dtype="string")
    lookup["problem"] = pd.Series(pd.NA, index=quantity.index, dtype="string")
    lookup["late_rule"] = pd.Series("implausible_amount", index=quantity.index, dtype="string").where(late)
    lookup["late_problem"] = (words(late) + f" is above {limit} in size: an implausible line, never summed").where(late)
    return lookup


def _joined(con: ibis.BaseBackend, table: ibis.Table, found: dict[str, pd.DataFrame], named) -> ibis.Table:
    """`table` (with `_key` and `_seconds` where a date is read, `_date_keys`) with each column of `found` replaced by its lookup's values (joined on the key it was
    read by: the text as it came, or a date's key, `_date_keys`), the lookups' fixes merged into
    `fixes`, and `problem_rule` and `detail` (the column as `named` gives it, the value as written,
    the problem)."""
    derived = "amount" in found and "amount" not in table.columns  # quantity × unit price, by the pair as written
    raw = {column: table[column] for column in found if column in table.columns}
    found, fix_codes = _coded_fixes(found)
    if "ordered_at" in found:  # `table` has the dates' keys (`_date_keys`)
        table = table.rename(_ordered_at_text="_key")
    for column, lookup in found.items():
        name = f"segkit_read_{column}_{next(_names)}"
        text = {c: lookup[c].astype("string") for c in lookup.columns if c not in ("value", "fix_code")}  # typed when all missing
        arrow = pa.Table.from_pandas(lookup.assign(**text), preserve_index=False)
        looked = con.create_table(name, arrow, temp=True).rename(**{f"_{column}_{c}": c for c in lookup.columns})
        if column == "amount" and derived:
            on = (table.quantity == looked._amount_key) & (table.unit_price == looked._amount_key_price)
        else:
            on = (table._ordered_at_text if column == "ordered_at" else table[column]) == looked[f"_{column}_key"]
        joined = table.left_join(looked, on)
        table = joined.select(*joined.columns)
    parts = {column: {c: table[f"_{column}_{c}"] for c in lookup.columns} for column, lookup in found.items()}
    given = {column: table[column] for column in raw}

    def detail(column: str, words: ibis.StringValue) -> ibis.StringValue:
        return ibis.literal(named(column) + ' "').concat(given[column], '"', words)

    # the lookups' fixes, merged in Python for each combination of their codes, joined on it
    code = sum((parts[c]["fix_code"].fill_null(0) * stride for c, stride in fix_codes["strides"].items()),
               ibis.literal(0))
    combos = con.create_table(f"segkit_fixes_{next(_names)}", fix_codes["merged"], temp=True)
    joined = table.left_join(combos, code == combos._fix_code)
    table = joined.select(*joined.columns)
    parts = {column: {c: table[f"_{column}_{c}"] for c in lookup.columns} for column, lookup in found.items()}
    given = {column: table[column] for column in raw}
    fixes = table._fixes_merged
    if "fixes" in table.columns:  # the text fixes of ids and labels: merged where a row has one
        fixes = ibis.ifelse(table.fixes.fill_null("") == "", fixes, merged_fixes([table.fixes, fixes]))
    said = [(parts[c]["rule"], detail(c, parts[c]["problem"])) for c in TEXT_READ if c in parts and c in given]
    if "amount" in parts:  # a derived amount's detail names both its parts, written whole in the lookup
        late = parts["amount"]["late_problem"] if derived else detail("amount", parts["amount"]["late_problem"])
        said.append((parts["amount"]["late_rule"], late))
    if "refund_amount" in parts:  # after the amount's, as `prepare` names them
        said.append((parts["refund_amount"]["late_rule"], detail("refund_amount", parts["refund_amount"]["late_problem"])))
    problem = ibis.coalesce(*[r for r, _ in said]) if len(said) > 1 else said[0][0]
    details = ibis.cases(*[(r.notnull(), d) for r, d in said], else_=ibis.null(str))
    values = {c: parts[c]["value"] for c in parts}
    if "ordered_at" in values:  # a date read by its key: its time of day added
        values["ordered_at"] = values["ordered_at"] + table._seconds.as_interval("s")
    table = table.mutate(**values, fixes=fixes, problem_rule=problem, detail=details)
    return table.drop(*[f"_{c}_{part}" for c in found for part in found[c].columns], "_fix_code", "_fixes_merged",
                      *(["_ordered_at_text", "_seconds"] if "ordered_at" in found else []))


def _coded_fixes(found: dict[str, pd.DataFrame]) -> tuple[dict[str, pd.DataFrame], dict]:
    """The lookups with their fixes as small codes (`fix_code`, 0: none) and, for the rows, how to
    combine them: `strides` (each column's code times its stride, summed, numbers each combination)
    and `merged` (a frame of each combination's number, `_fix_code`, and its fixes in the order of
    FIXES, `_fixes_merged`). Per row, the fixes are then one join on a number, not a search of text."""
    coded, strides, lists, stride = {}, {}, {}, 1
    for column, lookup in found.items():
        names = [""] + sorted(set(lookup["fixes"].dropna()) - {""})
        number = {name: i for i, name in enumerate(names)}
        coded[column] = lookup.drop(columns="fixes").assign(
            fix_code=lookup["fixes"].fillna("").map(number).astype("int64"))
        strides[column], lists[column], stride = stride, names, stride * len(names)
    rows = []
    for combination in itertools.product(*[range(len(lists[c])) for c in lists]):
        said = set()
        for column, i in zip(lists, combination):
            said |= set(filter(None, lists[column][i].split("+")))
        rows.append((sum(i * strides[c] for c, i in zip(lists, combination)), "+".join(n for n in FIXES if n in said)))
    merged = pd.DataFrame(rows, columns=["_fix_code", "_fixes_merged"]).astype({"_fix_code": "int64",
                                                                               "_fixes_merged": "string"})
    return coded, {"strides": strides, "merged": merged}


def merged_fixes(fixes: list[ibis.StringValue], flags: dict[str, ibis.BooleanValue] | None = None) -> ibis.StringValue:
    """The fixes of several "+"-joined lists (one per column, "" where none) and of `flags` (a fix's
    name -> whether the row had it) as one list in the order of FIXES, each fix once."""
    flags = flags or {}
    out = ibis.literal("")
    for name in FIXES:
        hits = [ibis.literal("+").concat(f, "+").contains(f"+{name}+") for f in fixes]
        hits += [flags[name]] if name in flags else []
        if hits:
            out = out.concat(ibis.ifelse(ibis.or_(*hits), "+" + name, ""))
    return out.re_replace(r"^\+", "")
