"""Customer ids written several ways, read as one customer's (`params.cleaning.customer_ids`, opt-in).

Shops that key their customers by an e-mail address or a phone number write one customer's id several
ways across orders: `Alice@Example.com` and `alice@example.com`; `+86 138 0013 8000`, `138-0013-8000`,
`13800138000` and `0086 13800138000`. Compared as written, each spelling is a customer of its own, and
frequency, recency, spend, classes and CLV are all wrong. With `customer_ids` set, the ids are read as
one (`id_read`, an Ibis expression: the same on DuckDB, PostgreSQL and Spark, for every source):

- `case: fold`: the letters A to Z in lower case (only those: the engines' case rules for other
  letters differ, and e-mail addresses are ASCII);
- `phone: true`: an id that is a phone number once blanks, hyphens, dots and parentheses are taken out
  (PHONE_MARKS: 7 to 15 digits, PHONE_DIGITS, after a leading `+`, or after `00` in a number written
  with those marks) is its digits, the `+` or `00` dropped; with `phone_country_code`, that calling code
  is dropped too from a number written with `+` or `00` (`+86 138 0013 8000` is `13800138000`). An id of
  digits only is left as written (a zero-padded account number `0012345678` is no phone number written
  with a prefix), and so is any id that is not a phone number.

`normalised_ids` reads the transactions' ids so, in the engine, before the rules (`clean_transactions`):
a row whose id changed gets the fix `id_normalised` and keeps the id as it came in `raw_customer_id`;
`same_customer_ids` reads a customer, survey or campaign table's ids the same way (the same expression,
in the embedded engine), so that the joins match. `customer_ids_notes` says what the setting did
(`ids_normalised`), or, where it is off (or in part), how many of the customers would be one with it
(`ids_would_merge`): one aggregate over the distinct ids of the rows used.
"""

from __future__ import annotations

import itertools

import ibis
import pandas as pd
import pyarrow as pa

# What a phone number is written with besides its digits; the digits a phone number has (E.164: 15 at
# most, the country code included; 7 for a local number without its area code)
PHONE_MARKS = (" ", "-", ".", "(", ")")
PHONE_DIGITS = (7, 15)
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# the id as read before `normalised_ids` (for `customer_ids_notes`): a column of the judged rows only
AS_READ = "_customer_id_as_read"
FIX = "id_normalised"


def folded(value: ibis.StringValue) -> ibis.StringValue:
    """`value` with the letters A to Z in lower case, every other character as it is. Text of printable
    ASCII only (nearly every id) is the engine's lower(), which is exactly that there; other text goes
    through translate() (slower, and the engines' lower() differ beyond ASCII)."""
    return ibis.ifelse(value.re_search("[^ -~]"), value.translate(_UPPER, _UPPER.lower()), value.lower())


def _without_marks(value: ibis.StringValue) -> ibis.StringValue:
    for mark in PHONE_MARKS:
        value = value.replace(mark, "")
    return value


def phone_read(value: ibis.StringValue, country: str | None = None) -> ibis.StringValue:
    """`value` read as a phone number where it is one (see the module's docstring): its digits, without
    the international prefix (`+`, or `00` in a number written with marks) and, where it starts so,
    `country` (a calling code); else `value` as it is."""
    low, high = PHONE_DIGITS
    bare = _without_marks(value)
    plus = bare.re_search(f"^[+][0-9]{{{low},{high}}}$")
    zeros = bare.re_search(f"^00[0-9]{{{low},{high}}}$") & (bare != value)
    plain = bare.re_search(f"^[0-9]{{{low},{high}}}$") & (bare != value)
    digits = ibis.ifelse(plus, bare.substr(1), bare.substr(2))  # the number after its international prefix
    if country:
        digits = ibis.ifelse(digits.startswith(country), digits.substr(len(country)), digits)
    return ibis.cases(((plus | zeros).fill_null(False), digits), (plain.fill_null(False), bare), else_=value)


def id_read(value: ibis.StringValue, setting) -> ibis.StringValue:
    """A customer id as `setting` (`params.CustomerIds`) reads it."""
    if setting.phone:
        value = phone_read(value, setting.phone_country_code)
    if setting.case == "fold":
        value = folded(value)
    return value


def reads_text_ids(table: ibis.Table) -> bool:
    return "customer_id" in table.columns and table.customer_id.type().is_string()


def normalised_ids(table: ibis.Table, setting) -> ibis.Table:
    """`table` (the transactions in their engine, segkit's names) with its customer ids read as `setting`
    says (`id_read`), where it reads any otherwise than as written and the ids are text (whole numbers
    have no case and no marks): on a row whose id changed, `fixes` gains `id_normalised` (in the order of
    `parsing.FIXES`) and `raw_customer_id` keeps the id as it came (where no earlier fix kept it); AS_READ
    holds every row's id as it was before, for `customer_ids_notes`."""
    from segkit.intake.engine_parsing import merged_fixes

    if setting is None or not setting.active or not reads_text_ids(table):
        return table
    # read once per distinct id, joined back as a column: inline, the expression went into every query
    # and every place the rules name the id (five times in `judge`'s), and each computed it for every row
    distinct = table.select(_given=table.customer_id).distinct()
    lookup = distinct.mutate(_read=id_read(distinct._given, setting))
    embedded = _embedded(table)
    if not embedded:  # (in the embedded engine the rows as read are kept below, the join computed once)
        lookup = _kept(lookup)
    joined = table.left_join(lookup, table.customer_id == lookup._given)
    columns = {c: joined[c] for c in table.columns}
    columns["customer_id"] = ibis.coalesce(joined._read, joined.customer_id)
    table = joined.select(**columns, **{AS_READ: joined.customer_id})
    changed = (table.customer_id != table[AS_READ]).fill_null(False)
    raw = ibis.ifelse(changed, table[AS_READ], ibis.null(str))
    if "raw_customer_id" in table.columns:  # the id as the file wrote it, where a text fix changed it
        raw = table.raw_customer_id.cast("string").coalesce(raw)
    if "fixes" in table.columns:
        fixes = table.fixes.cast("string").fill_null("")
        # merged in FIXES' order only where the row has another fix (most rows have none)
        fixes = ibis.cases((~changed, fixes), (fixes == "", FIX),
                           else_=merged_fixes([fixes], {FIX: ibis.literal(True)}))
    else:
        fixes = ibis.ifelse(changed, FIX, ibis.null(str))
    table = table.mutate(raw_customer_id=raw, fixes=fixes)
    # in the embedded engine, the rows as read kept once: the eight or so passes before and in the rules
    # (counts, the as-of date, the copies' first rows, the judged rows) then read a table, not the join
    # again (at 1M lines a pass over the join took 0.8 s more than over the file; keeping them, 2.5 s once)
    return _kept(table) if embedded else table


def _embedded(table: ibis.Table) -> bool:
    from segkit.intake.engines import runs_in_duckdb

    return runs_in_duckdb(table)


_names = itertools.count(1)


def _kept(table: ibis.Table, made: list | None = None) -> ibis.Table:
    """`table` computed once for the queries that read it (the rows as read before the rules: five passes
    of the copies' first rows at 1M lines, each reading the distinct ids again, took 8.5 s against 0.8 s;
    the notes' distinct ids): a temporary table in the embedded engine; elsewhere `kept_for_reuse`
    (persisted on Spark; a database, which is only read, computes it in each query). `made` gathers the
    tables made."""
    from segkit.intake.engines import kept_for_reuse, runs_in_duckdb

    if runs_in_duckdb(table):
        kept = table.get_backend().create_table(f"segkit_ids_{next(_names)}", table, temp=True)
        if made is not None:
            made.append(kept)
        return kept
    return kept_for_reuse(table)


def setting_words(case: bool, phone: bool, country: str | None) -> str:
    """The params that read ids so, as a line of YAML to copy: `cleaning.customer_ids: {case: fold, ...}`."""
    parts = [*(["case: fold"] if case else []), *(["phone: true"] if phone else []),
             *([f'phone_country_code: "{country}"'] if phone and country else [])]
    return "cleaning.customer_ids: {" + ", ".join(parts) + "}"


def customer_ids_notes(judged: ibis.Table, setting, named, text_ids: bool = True) -> list[dict]:
    """The notes on the customer ids of the rows used (`judged`: `judge`'s rows, with AS_READ where
    `normalised_ids` read them): `ids_normalised` (what `setting` did: how many rows and ids, how many
    ids written differently became one customer's, the first such id in the file as written and as
    read) and `ids_would_merge` (ids that are one customer's once case is folded and phone numbers
    are read as their digits, which `setting` does not do: how many, how many customers they would be,
    the first two, the setting to write). `named`: a column as the source names it. Nothing where the
    source's ids are not text (`text_ids`: whole numbers have no case and no marks)."""
    from segkit.intake.engines import drop_temporary

    if not text_ids or not reads_text_ids(judged):
        return []
    used = judged.filter(judged.outcome != "set_aside")
    made = []  # the distinct ids kept for the notes' queries, dropped after
    try:
        notes = [_what_was_read(used, setting, named, made)] if AS_READ in judged.columns else []
        notes.append(_what_would_merge(used, setting, named, made))
    finally:
        for table in made:
            drop_temporary(table)
    return [note for note in notes if note is not None]


def _what_was_read(used: ibis.Table, setting, named, made: list | None = None) -> dict | None:
    """`ids_normalised`: over the distinct pairs of an id as read before `setting` and after, with the
    rows each holds and its first row (kept for the two queries)."""
    pairs = used.group_by(before=used[AS_READ], after=used.customer_id).aggregate(
        rows=used.count(), first=used.source_row.min())
    pairs = _kept(pairs.filter(pairs.after.notnull()), made)
    changed = pairs.before != pairs.after
    groups = pairs.group_by("after").aggregate(spellings=pairs.count(), rows=pairs.rows.sum(where=changed),
                                               ids=pairs.count(where=changed))
    several = groups.spellings > 1
    found = groups.aggregate(rows=groups.rows.sum(), ids=groups.ids.sum(), spellings=groups.spellings.sum(where=several),
                             customers=groups.count(where=several)).to_pyarrow().to_pylist()[0]
    if not found["rows"]:
        return None
    spellings, customers = int(found["spellings"] or 0), int(found["customers"] or 0)
    shown = pairs.filter(changed)
    if customers:  # an id that became another spelling's: the example says what the setting is for
        merged = groups.filter(several).select(_merged="after")
        shown = shown.semi_join(merged, shown.after == merged._merged)
    # the first in the source (by source_row: the same in every engine)
    first = shown.order_by(["first", "before"]).select("before", "after").limit(1).to_pyarrow().to_pylist()[0]
    return {"key": "ids_normalised" if customers else "ids_normalised_alone", "rows": int(found["rows"]),
            "ids": int(found["ids"]), "spellings": spellings,
            "customers": customers, "example": str(first["before"])[:60], "read": str(first["after"])[:60],
            "column": named("customer_id"),
            "setting": setting_words(setting.case == "fold", setting.phone, setting.phone_country_code)}


def _full_read(value: ibis.StringValue, country: str | None) -> ibis.StringValue:
    """An id as segkit reads it at most: phone numbers as their digits (without `country`), case folded."""
    return folded(phone_read(value, country))


def _what_would_merge(used: ibis.Table, setting, named, made: list | None = None) -> dict | None:
    """`ids_would_merge`: over the distinct ids of the rows used (each with its first row), as they were
    before `setting` read them (`base`) and as it reads them (`current`), the current ids that one id
    read at most (`_full_read`) holds: with the country code that `setting` states or, where it states
    none, the one that numbers written with a country code (`+86 138 ...`) and without (`138-...`) share
    most (`_likely_country`). One pass over the rows (the distinct ids, kept with what they read as), one
    aggregate over them; where ids would merge or carry a country code, three or four more over them."""
    stated = setting.phone_country_code
    if setting.case == "fold" and setting.phone and stated:
        return None  # read as far as segkit reads ids
    column = AS_READ if AS_READ in used.columns else "customer_id"
    present = used.filter(used[column].notnull())
    distinct = present.group_by(base=present[column]).aggregate(first=present.source_row.min())
    bare = _without_marks(distinct.base)
    international = bare.re_search("^[+]") | (bare.re_search("^00") & (bare != distinct.base))
    ids = _kept(distinct.mutate(current=id_read(distinct.base, setting) if setting.active else distinct.base,
                                phoned=_full_read(distinct.base, stated),
                                international=international.fill_null(False)), made)
    counts = ids.aggregate(current=ids.current.nunique(), folded=folded(ids.current).nunique(),
                           phoned=ids.phoned.nunique(), international=ids.count(where=ids.international)
                           ).to_pyarrow().to_pylist()[0]
    if counts["phoned"] >= counts["current"] and not (stated is None and counts["international"]):
        return None  # nearly always: nothing would merge, and no number carries a country code
    country, key = stated, ids.phoned
    if stated is None and counts["international"]:
        country = _likely_country(ids)
        if country is not None:
            key = _full_read(ids.base, country)
    # each current id with the id it would be, and its first row
    pairs = _kept(ids.group_by(current=ids.current, key=key).aggregate(first=ids["first"].min()), made)
    groups = pairs.group_by("key").aggregate(n=pairs.count(), first=pairs["first"].min())
    several = groups.n > 1
    found = groups.aggregate(keys=groups.count(), ids=groups.n.sum(where=several),
                             customers=groups.count(where=several)).to_pyarrow().to_pylist()[0]
    if not found["customers"]:
        return None
    full = found["keys"]
    case = setting.case == "fold" or counts["folded"] < counts["current"]
    phone = setting.phone or counts["phoned"] < counts["folded"] or full < counts["phoned"]
    code = country if phone and (stated or full < counts["phoned"]) else None
    top = groups.filter(several).order_by(["first", "key"]).limit(1).select("key")
    pair = pairs.semi_join(top, "key").order_by(["first", "current"]).limit(2).select("current").to_pyarrow()
    example, other = (str(v)[:60] for v in pair.column(0).to_pylist())
    return {"key": "ids_would_merge", "ids": int(found["ids"]), "customers": int(found["customers"]),
            "example": example, "other": other, "column": named("customer_id"),
            "setting": setting_words(case, phone, code)}


def _likely_country(ids: ibis.Table) -> str | None:
    """The calling code (1 to 3 digits) that most numbers written with one (`+86 138 ...`, `0086 138 ...`:
    `ids.base`) drop to be a number written without one (`138-0013-8000`, `13800138000`): None where none
    does."""
    low, high = PHONE_DIGITS
    bare = _without_marks(ids.base)
    plus = bare.re_search(f"^[+][0-9]{{{low},{high}}}$")
    zeros = bare.re_search(f"^00[0-9]{{{low},{high}}}$") & (bare != ids.base)
    coded = ids.filter((plus | zeros).fill_null(False))
    coded = coded.select(digits=ibis.ifelse(plus, bare.substr(1), bare.substr(2)))
    national = ids.filter(bare.re_search(f"^[0-9]{{{low},{high}}}$").fill_null(False)).select(number=bare).distinct()
    parts = [coded.select(code=coded.digits.substr(0, n), rest=coded.digits.substr(n)) for n in (1, 2, 3)]
    candidates = ibis.union(*parts, distinct=False)
    matched = candidates.join(national, candidates.rest == national.number)
    best = matched.group_by("code").aggregate(n=matched.count()).order_by([ibis.desc("n"), "code"]).limit(1)
    found = best.to_pyarrow().to_pylist()
    return str(found[0]["code"]) if found else None


def same_customer_ids(table: pd.DataFrame | None, setting) -> pd.DataFrame | None:
    """A customer, survey or campaign table (a frame with customer_id, its text ids read as the text
    fixes read them) with its ids read as `setting` reads the transactions' (`read_ids`); a new frame,
    or `table` itself where the setting reads nothing otherwise or there is no such column."""
    if table is None or setting is None or not setting.active or "customer_id" not in table.columns:
        return table
    return table.assign(customer_id=read_ids(table["customer_id"], setting))


def read_ids(ids: pd.Series, setting) -> pd.Series:
    """`ids` (a Series) read as `setting` reads the transactions' ids (`id_read`, the same expression, run
    in the embedded engine over the distinct ids); ids that are not text (whole numbers) as they are.
    Text ids come back in the Series' own type where it is pandas' string type, else as objects."""
    from segkit.intake.parsing import is_text

    if setting is None or not setting.active or not is_text(ids) or not ids.notna().any():
        return ids
    text = ids.astype("string")
    distinct = pa.array(pd.unique(text.dropna().to_numpy(dtype=object)), pa.string())
    values = ibis.memtable(pa.table({"customer_id": distinct}))
    read = values.select("customer_id", read=id_read(values.customer_id, setting)).to_pyarrow()
    lookup = dict(zip(read.column("customer_id").to_pylist(), read.column("read").to_pylist()))
    out = text.map(lookup).astype("string")
    return out if isinstance(ids.dtype, pd.StringDtype) else pd.Series(out.to_numpy(), index=ids.index, dtype=object)
