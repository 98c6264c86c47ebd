"""Column-map presets for the exports of the shops and CRMs analysts use, so that nobody maps by hand.

`source.preset: shopify_orders` fills the source's column map (and the source kind, and the
cleaning conventions the system has: which statuses mean a refunded or cancelled order) from
`segkit/intake/preset_maps/<name>.yaml`; keys written in the params file win over the preset's,
and `columns: {status: null}` removes one of the preset's columns. Each preset also says which id
the system matches on when tags or segments are imported back (`import_key`), for the exports.

Which public document each preset follows, and which are unverified, is in docs/presets.md.

>>> names()
('fxiaoke_orders', 'hubspot_contacts', 'salesforce_opportunities', 'shopify_orders', 'taobao_orders', 'zoho_deals')
>>> import_key("hubspot_contacts").keys
('Record ID', 'Email')
"""

from __future__ import annotations

import copy
import difflib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
import yaml

from segkit.errors import ParamsError

FOLDER = "preset_maps"
# Columns `rewrite_values` adds beside the canonical ones: a column's values as exported where it
# filled them (prefix), and which rows it filled (`segkit.intake.cleaning.prepare` reads both)
AS_EXPORTED = "_as_exported_"
FILLED_FROM_ORDER = "_filled_from_order"
KINDS = {"file": "transactions", "customers": "customers"}  # source.kind -> the table a preset maps


@dataclass(frozen=True)
class ImportKey:
    """How a system finds its records when a file of tags or segments is imported back.

    `object`: the record type (Customer, Account, Contact); `keys`: the system's column(s) it matches
    on, first the preferred one; `columns`: the import file's header for each segkit column
    (`{"Email": "customer_id"}`: segkit's customer_id goes under the header Email); `note`: how the
    system's import uses them."""

    object: str
    keys: tuple[str, ...]
    columns: dict[str, str]
    note: str = ""


@dataclass(frozen=True)
class Preset:
    """One system's export, as `segkit/intake/preset_maps/<name>.yaml` describes it.

    `kind` is the source kind it fills (file: transactions, customers: one row per customer) and
    `table` the params table whose `columns` it fills; `cleaning` the cleaning settings it fills
    (returns conventions); `rewrite` per canonical column a regular expression and its replacement
    for a layout the parsers do not read as written (applied only to the values that match);
    `order_fields` the canonical columns an export writes on an order's first line only (Shopify's
    Financial Status), which its other lines (same order_id, value blank) take from it; `formats` describes the system's date, money and id formats in words; `document` the public
    document followed (`title`, `url`, `verified`)."""

    name: str
    system: str
    system_zh: str
    title: dict[str, str]
    kind: str
    table: str
    columns: dict[str, str]
    cleaning: dict[str, Any] = field(default_factory=dict)
    rewrite: dict[str, dict[str, str]] = field(default_factory=dict)
    order_fields: tuple[str, ...] = ()
    formats: dict[str, str] = field(default_factory=dict)
    import_key: ImportKey | None = None
    document: dict[str, Any] = field(default_factory=dict)

    @property
    def verified(self) -> bool:
        return bool(self.document.get("verified"))


@lru_cache(maxsize=None)
def names() -> tuple[str, ...]:
    """The names of the bundled presets, sorted."""
    folder = resources.files("segkit.intake").joinpath(FOLDER)
    return tuple(sorted(entry.name.removesuffix(".yaml") for entry in folder.iterdir()
                        if entry.name.endswith(".yaml")))


def unknown_preset(name: Any) -> str | None:
    """Why `name` is not a preset (with the closest name and the known ones); None when it is one."""
    if isinstance(name, str) and name in names():
        return None
    shown = repr(name)[:60]
    close = difflib.get_close_matches(str(name).lower(), names(), n=1, cutoff=0.5)
    hint = f"did you mean {close[0]}? " if close else ""
    return f"unknown preset {shown}; {hint}known presets: {', '.join(names())}"


@lru_cache(maxsize=None)
def load_preset(name: str) -> Preset:
    """The preset called `name`; an unknown name raises ParamsError listing the known ones."""
    problem = unknown_preset(name)
    if problem:
        raise ParamsError(f"source.preset: {problem}")
    text = resources.files("segkit.intake").joinpath(FOLDER, f"{name}.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    imported = data.get("import")
    key = None if imported is None else ImportKey(
        object=str(imported["object"]), keys=tuple(str(k) for k in imported["keys"]),
        columns={str(k): str(v) for k, v in (imported.get("columns") or {}).items()},
        note=str(imported.get("note", "")))
    system = data["system"] if isinstance(data["system"], dict) else {"en": data["system"], "zh": data["system"]}
    return Preset(name=name, system=str(system["en"]), system_zh=str(system["zh"]), title=dict(data["title"]),
                  kind=data["kind"],
                  table=data["table"], columns={str(k): str(v) for k, v in data["columns"].items()},
                  cleaning=data.get("cleaning") or {}, rewrite=data.get("rewrite") or {},
                  order_fields=tuple(data.get("order_fields") or ()),
                  formats=data.get("formats") or {}, import_key=key, document=data.get("document") or {})


def import_key(name: str) -> ImportKey:
    """The id(s) the system of preset `name` matches on when a tag or segment file is imported:
    e.g. HubSpot contacts by Record ID, else Email; Shopify customers by Email."""
    preset = load_preset(name)
    if preset.import_key is None:  # every bundled preset has one; a test checks it
        raise ParamsError(f"source.preset: {name} says nothing about importing back")
    return preset.import_key


def fill_source(raw: Any) -> Any:
    """The source mapping (as read from YAML) with the preset named in its `preset` filled in:
    `kind` when not given, and the preset's columns under its table's `columns` (the params' own
    keys win; a key set to null removes the preset's column). Anything else (no preset, an
    unknown name, a table that is not a mapping) is returned as it is, for validation to report;
    the input is not changed."""
    if not isinstance(raw, dict):
        return raw
    name = raw.get("preset")
    if name is None or unknown_preset(name):
        return raw
    preset = load_preset(name)
    source = dict(raw)
    source.setdefault("kind", preset.kind)
    table = source.get(preset.table)
    if isinstance(table, dict) and source["kind"] == preset.kind:
        table = dict(table)
        given = table.get("columns") or {}
        if isinstance(given, dict):
            merged = {**preset.columns, **given}
            table["columns"] = {k: v for k, v in merged.items() if v is not None}
        source[preset.table] = table
    return source


def fill_params(raw: Any) -> Any:
    """The params mapping (as read from YAML) with the cleaning settings of the preset named in
    `source.preset` where the params give none (the source itself is filled by `fill_source`, when
    the source is validated). The returns rule is left out when the params remove the status
    column (`columns: {status: null}`): the returns are told by it. The input is not changed."""
    if not isinstance(raw, dict) or not isinstance(raw.get("source"), dict):
        return raw
    name = raw["source"].get("preset")
    if name is None or unknown_preset(name):
        return raw
    preset = load_preset(name)
    table = raw["source"].get(preset.table)
    given = table.get("columns") if isinstance(table, dict) else None
    status_kept = not (isinstance(given, dict) and "status" in given and given["status"] is None)
    cleaning = preset.cleaning
    if not status_kept:  # the rules that read the status
        cleaning = {k: v for k, v in cleaning.items() if k not in ("returns", "unpaid_status_values")}
    if not cleaning or not isinstance(raw.get("cleaning", {}), dict):
        return raw
    return {**raw, "cleaning": _defaults_under(raw.get("cleaning") or {}, cleaning)}


def _defaults_under(given: dict, defaults: dict) -> dict:
    """`given` with the keys of `defaults` it does not have, through nested mappings."""
    out = copy.deepcopy(given)
    for key, value in defaults.items():
        if key not in out:
            out[key] = copy.deepcopy(value)
        elif isinstance(out[key], dict) and isinstance(value, dict):
            out[key] = _defaults_under(out[key], value)
    return out


def check_kind(name: str | None, kind: str) -> str | None:
    """Why preset `name` cannot fill a source of `kind` (a customer-table preset under kind file,
    ...); None when it can (or when there is no preset)."""
    if name is None or unknown_preset(name):
        return None
    preset = load_preset(name)
    if preset.kind == kind:
        return None
    what = {"file": "a transactions file (kind file)", "customers": "a customer table (kind customers)"}
    return (f"preset {name} reads {what[preset.kind]}, but source.kind is {kind!r}; remove source.kind "
            f"(the preset sets it) or set it to {preset.kind!r}")


def rewrite_values(transactions: pd.DataFrame, name: str | None) -> pd.DataFrame:
    """The canonical transactions as the preset's system meant them, a new frame (the input is not
    changed):

    - the `order_fields` that are blank on an order's later lines take the value of its line that
      has one (Shopify writes Financial Status and Created at on an order's first line only), so
      that a refunded order is set aside whole and every line has its date (the rows filled marked
      in a column `_filled_from_order`, the fix `filled_from_order`, and the values as exported kept
      in `_as_exported_<column>` for the quarantine);
    - then the preset's rewrites (`rewrite`), on the text values that match them, for a layout the
      parsers do not read as written; values that do not match are left as exported, for cleaning
      to judge.

    >>> tx = pd.DataFrame({"order_id": ["#1001", "#1001"], "status": ["refunded", None],
    ...                    "ordered_at": ["2024-03-05 14:22:10 -0500", ""]})
    >>> rewrite_values(tx, "shopify_orders")[["status", "ordered_at"]].values.tolist()
    [['refunded', '2024-03-05 14:22:10 -0500'], ['refunded', '2024-03-05 14:22:10 -0500']]
    """
    if name is None:
        return transactions
    preset = load_preset(name)
    rewrite = preset.rewrite
    out = transactions.copy()
    out.attrs = dict(transactions.attrs)
    if "order_id" in out.columns:
        fields = [column for column in preset.order_fields if column in out.columns]
        if fields and "content" in out.columns:
            out["content"] = _content_with_line(out, fields)
        filled = pd.Series(False, index=out.index)
        for column in fields:
            taken = _filled_within_order(out[column], out["order_id"])
            changed = out[column].isna() & taken.notna() | (out[column].astype("string") != taken.astype("string")
                                                            ).fillna(False).astype(bool)
            if changed.any():
                out[f"{AS_EXPORTED}{column}"] = out[column]  # the quarantine shows the value as exported
                filled |= changed
            out[column] = taken
        if filled.any():  # a named fix of the row (`filled_from_order`), counted in the ledger
            out[FILLED_FROM_ORDER] = filled.to_numpy()
    for column, rule in rewrite.items():
        if column not in out.columns:
            continue
        values = out[column]
        text = values.astype("string")
        matches = text.str.fullmatch(rule["pattern"]).fillna(False).astype(bool)
        if matches.any():
            changed = text.where(matches).str.replace(rule["pattern"], _python_group(rule["replace"]), regex=True)
            out[column] = values.astype("object").where(~matches, changed.astype("object"))
    return out


def matching_preset(header: list[str]) -> str | None:
    """The preset of transactions whose every mapped column is in `header` (a file's column names, as
    read; the most columns first, when two match), or None: a file read without `source.preset` whose
    columns are a system's export, for a note that names the preset.

    >>> matching_preset(["Name", "Email", "Financial Status", "Created at", "Lineitem quantity", "Lineitem name",
    ...                  "Lineitem price", "Total"])
    'shopify_orders'
    >>> matching_preset(["order", "customer", "date", "amount"]) is None
    True
    """
    names_in = set(header)
    found = [(len(preset.columns), name) for name in names() if (preset := load_preset(name)).table == "transactions"
             and preset.columns and set(preset.columns.values()) <= names_in]
    return max(found)[1] if found else None


def _python_group(replace: str) -> str:
    return re.sub(r"\\(\d)", r"\\g<\1>", replace)


def _content_with_line(transactions: pd.DataFrame, fields: list[str]) -> pd.Series:
    """The rows' `content` hashes (what finds exact duplicates), where an export writes one row per line
    item: two lines of one order that read alike (two of one product, bought with options the export
    leaves out) are two lines, not a copy, while an order written twice (an export pasted twice, in
    any row order) is a copy. An order's copies are its first lines (the rows that carry its order
    `fields`, which the export writes on the first line only), or, where every line carries them,
    as many as its least repeated line is found; a line found n times among k copies is n / k lines
    of the order (rounded up: a copy that lost a line keeps the lines of the whole one), and its rows
    beyond those are copies of them. The line's place among those is mixed into its hash; the first
    keeps the hash as it is.

    >>> rows = pd.DataFrame({"order_id": ["#1"] * 6, "content": [1, 2, 2, 1, 2, 2],
    ...                      "status": ["paid", None, None, "paid", None, None]})  # pasted twice
    >>> (_content_with_line(rows, ["status"]).duplicated()).tolist()
    [False, False, False, True, True, True]
    """
    order = transactions["order_id"].astype("string").fillna("\x00").to_numpy(dtype=object)
    key = pd.DataFrame({"order": order, "content": transactions["content"].to_numpy()})
    first = np.zeros(len(key), dtype=bool)
    for column in fields:
        text = transactions[column].astype("string")
        first |= ~(text.isna() | text.str.strip().eq("").fillna(True)).to_numpy()
    by_order = pd.DataFrame({"order": order, "first": first}).groupby("order", sort=False)["first"]
    firsts, all_first = by_order.transform("sum").to_numpy(), by_order.transform("all").to_numpy()
    found = key.groupby(["order", "content"], sort=False)["content"].transform("size").to_numpy()
    least = pd.Series(found).groupby(order, sort=False).transform("min").to_numpy()
    copies = np.where(all_first | (firsts == 0), least, firsts)
    lines = np.maximum(-(-found // copies), 1)  # the line's rows in one copy of the order, rounded up
    place = key.groupby(["order", "content"], sort=False).cumcount().to_numpy() % lines
    both = pd.DataFrame({"content": key["content"].to_numpy(), "place": place})
    mixed = pd.util.hash_pandas_object(both, index=False).to_numpy().view("int64")
    return pd.Series(np.where(place > 0, mixed, key["content"].to_numpy()), index=transactions.index)


def _filled_within_order(values: pd.Series, order_id: pd.Series) -> pd.Series:
    """Blank values (missing or only blanks) given the order's first non-blank value; an order
    without one, or a line without an order id, stays as it is."""
    text = values.astype("string")
    blank = text.isna() | text.str.strip().eq("").fillna(True)
    # the values keep their type: a whole-number column with a gap (float64 in pandas) stays numbers,
    # which cleaning writes as the ids and labels they are ("3", not "3.0")
    known = pd.DataFrame({"order": order_id.astype("string"), "value": values})[~blank.to_numpy()]
    first = known.dropna(subset=["order"]).drop_duplicates("order").set_index("order")["value"]
    taken = order_id.astype("string").map(first)
    fill = blank & taken.notna()
    return values.mask(fill, taken) if fill.any() else values


def describe(name: str | None, lang: str, columns: dict[str, str] | None = None,
             status_values: list[str] | None = None, unpaid_values: list[str] | None = None) -> list[tuple[str, dict]]:
    """What the preset did, as (catalogue key, values) pairs for `segkit.report.html.say_each` on
    the cleaning page: the columns it mapped (`columns`: the effective map, by default the
    preset's), the statuses it sets aside (`status_values`: the effective cleaning.returns values,
    `unpaid_values`: the effective cleaning.unpaid_status_values, by default the preset's), and a
    warning when the preset is unverified. Empty without a preset.

    >>> describe("shopify_orders", "en")[0][1]["name"]
    'shopify_orders'
    """
    from segkit.i18n import t

    if name is None:
        return []
    preset = load_preset(name)
    columns = preset.columns if columns is None else columns
    mapped = [f'"{theirs}"' for ours, theirs in columns.items() if preset.columns.get(ours) == theirs]
    separator = t("presets.list_separator", lang)
    said = [("presets.read_as", {"title": preset.title[lang], "name": name, "columns": separator.join(mapped)})]
    values = (preset.cleaning.get("returns") or {}).get("status_values", []) if status_values is None else status_values
    if values and "status" in columns:
        said.append(("presets.returns", {"status": f'"{columns["status"]}"', "values": separator.join(map(str, values))}))
    unpaid = preset.cleaning.get("unpaid_status_values", []) if unpaid_values is None else unpaid_values
    if unpaid and "status" in columns:
        said.append(("presets.unpaid", {"status": f'"{columns["status"]}"', "values": separator.join(map(str, unpaid))}))
    if not preset.verified:
        said.append(("presets.unverified", {"system": preset.system if lang == "en" else preset.system_zh}))
    return said
