"""Customer-level tables as a source (`source.kind: customers`): one row per customer, with recency,
frequency and monetary already computed (or only some of them), instead of one row per purchase.

The table's column map names segkit's columns: `customer_id` (required), `recency_days` (days since
the last purchase) or `last_purchase` (a date), `orders` (the purchase count, F), `revenue` (the
total spend, M) and `first_purchase` (a date); at least one of R, F and M. `source.customer_level.sums`
builds orders or revenue by adding several columns (purchases per channel, spend per product line).
Every other column is kept: numbers (a column whose every value reads as a number) go into the
features, for tags, ranking and clustering; every extra column, numbers and text, goes into the
`customers` table, for dimensions. A map key that is not one of segkit's names renames the column
(`income: "Annual Income (k$)"`), so that tag rules can name it.

The result has the per-customer `features` of a transaction source (`segkit.features.FEATURE_COLUMNS`)
with what the table cannot say left missing, a row ledger and a quarantine shaped like the cleaning
stage's, and the as-of date. Every input row is used, used after a fix (the text fixes of
`segkit.intake.parsing`) or set aside for the first rule it breaks, in the order of CUSTOMER_RULES:

- `missing_customer_id`: the id is empty.
- `totals_row`: the id is a total line's label ("Total", "合计": `segkit.intake.cleaning.TOTALS_LABELS`).
- `duplicate`: the row repeats an earlier row (every column the same text, blanks and full-width
  characters aside): the first is used.
- `duplicate_customer_id`: one customer id on rows that differ: every such row is set aside, since
  nothing says which is right.
- `missing_date`, `unreadable_date`: last_purchase empty, or last_purchase / first_purchase not a date
  (an empty first_purchase is allowed: tenure is then missing).
- `missing_recency`, `unreadable_recency`, `missing_orders`, `unreadable_orders`: empty, not a number,
  or not a whole number (for sums: the first part that is).
- `missing_amount`, `unreadable_amount`, `non_finite_amount`, `implausible_amount`: revenue empty, not
  a number, infinite (typed files), or above `max_amount` in size.
- `negative_value`: orders, revenue or recency_days below zero.
- `no_orders`: orders is 0: a customer who never bought has no recency, frequency or spend to classify.
- `after_as_of`: last_purchase (or first_purchase) after the as-of date.
- `dates_out_of_order`: first_purchase after last_purchase.
"""

from __future__ import annotations

import datetime as dt
import decimal
import difflib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from segkit.errors import DataError
from segkit.features import FEATURE_COLUMNS
from segkit.i18n import counted, note_message, plural_form
from segkit.intake.cleaning import AMOUNT_PRECISION, RULES, TOTALS_LABELS, max_units, other_currency_note
from segkit.intake.parsing import FIXES, Parsed, attribute_values, exact_decimals, fixes_per_row, is_text, normalise_text, \
    parse_amount, parse_datetime, parse_id, to_minor_units
from segkit.intake.sources import (_listing, _name as _cut, read_customer_table, read_file, unread_dates_notes,
                                   without_unread_dates)
from segkit.params import CUSTOMER_LEVEL_COLUMNS, CUSTOMER_LEVEL_RESERVED, FileTable, Source

# The order matters: a row is set aside for the first rule it breaks.
CUSTOMER_RULES = (
    "missing_customer_id", "totals_row", "duplicate", "duplicate_customer_id",
    "missing_date", "unreadable_date",
    "missing_recency", "unreadable_recency", "missing_orders", "unreadable_orders",
    "missing_amount", "unreadable_amount", "non_finite_amount", "implausible_amount",
    "negative_value", "no_orders", "after_as_of", "dates_out_of_order",
)
NEW_RULES = tuple(r for r in CUSTOMER_RULES if r not in RULES)

# The report sections that need one row per purchase, which a customer-level table does not have.
TRANSACTION_SECTIONS = ("repeat_buying_models", "holdout_check", "monthly_retention", "cohorts")

# Texts for the message catalogue (segkit/locale/messages.yaml): rule names, and what the notebooks say.
# The words of this source's rules and sentences live in segkit/locale/messages.yaml (rule.<name> and
# customers.*), like every word a report shows.
TEXT_KEYS = (*[f"rule.{name}" for name in ("duplicate_customer_id", "missing_recency", "unreadable_recency",
                                           "missing_orders", "unreadable_orders", "negative_value", "no_orders",
                                           "dates_out_of_order")],
             "customers.needs_transactions", "customers.missing", "customers.as_of.params",
             "customers.as_of.latest_last_purchase", "customers.as_of.unknown", "customers.as_of.none")

# What each feature means, for the sentence on what the table cannot say.
_FEATURE_WORDS = {
    "en": {"orders": "the order count (F)", "revenue": "the revenue (M)", "recency_days": "the recency (R)",
           "first_purchase": "the first purchase date", "last_purchase": "the last purchase date",
           "tenure_days": "the tenure", "avg_order_value": "the average order value",
           "interval_days": "the days between orders", "orders_recent": "the orders in the activity window"},
    "zh": {"orders": "购买次数（F）", "revenue": "消费金额（M）", "recency_days": "最近购买天数（R）",
           "first_purchase": "首次购买日期", "last_purchase": "最近购买日期", "tenure_days": "客户时长",
           "avg_order_value": "平均订单金额", "interval_days": "购买间隔天数", "orders_recent": "活跃期内订单数"},
}
_QUARANTINE_VALUES = ("customer_id", "recency_days", "last_purchase", "orders", "revenue", "first_purchase")


@dataclass(frozen=True)
class CustomerLevel:
    """What a customer-level table gives.

    - `features`: one row per customer kept, sorted by customer_id: the FEATURE_COLUMNS (customer_id,
      orders (int64), revenue (float64: the nearest double to the exact total), first_purchase and
      last_purchase (datetime64, midnight), recency_days (int64), tenure_days, avg_order_value,
      interval_days, orders_recent: known only where recency settles it), float NaN where the
      table cannot say (`missing` lists the columns missing for every customer), then the extra
      numeric columns (float64, int64 where every value is whole).
    - `customers`: customer_id and every extra column (numbers typed, text trimmed), for dimensions.
    - `surveys`: the source.surveys table, read as for a transaction source, or None.
    - `quarantine`: each row set aside: source_row, reason, detail, the values read (customer_id,
      recency_days, last_purchase, orders, revenue, first_purchase, those mapped), and the text as
      exported (`raw_<segkit name>`, or `raw_<column>` for the parts of a sum).
    - `ledger`: outcome (used, fixed, set_aside), rule, rows, share; every rule of CUSTOMER_RULES
      listed; the rows add up to the table's rows.
    - `as_of`: the last day analysed, or None when the table gives no dates and params no as_of;
      `as_of_from`: "params", "latest_last_purchase" (the latest last purchase kept), "unknown"
      (recency given, no as_of) or "none" (no recency at all).
    - `needs_transactions`: the report sections that cannot run (TRANSACTION_SECTIONS).
    - `notes`: what the reading noticed without setting rows aside, as cleaning's notes are (a dict
      with `key`, a message `cleaning.note.<key>`, and its values): revenue written with another
      currency's sign than params currency.code (`segkit.intake.cleaning.other_currency_note`).
    """

    features: pd.DataFrame
    customers: pd.DataFrame
    quarantine: pd.DataFrame
    ledger: pd.DataFrame
    as_of: dt.date | None
    as_of_from: str
    missing: tuple[str, ...]
    extra_columns: tuple[str, ...]
    surveys: pd.DataFrame | None = None
    needs_transactions: tuple[str, ...] = TRANSACTION_SECTIONS
    origin: str = ""
    notes: tuple[dict, ...] = ()

    def statements(self, lang: str = "en") -> list[str]:
        """What a notebook says about this source, in `lang` (en or zh): how the as-of date was
        chosen, what the table cannot say, and which sections need transactions."""
        from segkit.i18n import t

        return [t(key, lang, **values) for key, values in self.messages(lang)]

    def messages(self, lang: str = "en") -> list[tuple[str, dict]]:
        """The same as (catalogue key, values) pairs, for `segkit.say` (which escapes the values)."""
        said = [(f"customers.as_of.{self.as_of_from}", {"as_of": self.as_of})]
        if self.missing:
            words = _FEATURE_WORDS[lang]
            said.append(("customers.missing", {"columns": ("、" if lang == "zh" else ", ").join(words[c] for c in self.missing)}))
        said.append(("customers.needs_transactions", {}))
        said.extend(note_message(note) for note in self.notes)
        return said


class NoCustomerRows(DataError):
    """Every row of the table was set aside; `result` holds the quarantine and the ledger."""

    def __init__(self, message: str, result: CustomerLevel):
        super().__init__(message)
        self.result = result


def load_customer_level(source: Source, params_path: str | Path | None = None, as_of: dt.date | None = None,
                        minor_unit: int = 2, max_amount: float = 1e12, decimal_mark: str = ".",
                        day_first: bool | None = None, activity_days: int = 90,
                        currency_code: str | None = None, month: str | None = None) -> CustomerLevel:
    """Read a `source.kind: customers` table (and source.surveys, if given) into per-customer features.

    The file is read by `segkit.intake.sources.read_file` (CSV, TSV, Excel, Parquet, DuckDB; UTF-8 or
    GBK detected, or `encoding`); a relative path is read relative to the folder of `params_path`.
    `as_of` is the params' as-of date (`params.as_of_date`): None derives it from the latest
    last_purchase, or leaves it unknown when the table gives only recency. `minor_unit` and
    `max_amount` are `params.currency.minor_unit` and `params.cleaning.max_amount`; `decimal_mark`
    and `day_first` are `params.cleaning.decimal` and `params.cleaning.day_first`; `activity_days` is
    `params.features.activity_days` (the window of `orders_recent`); `currency_code` is
    `params.currency.code` (revenue written with another currency's sign is noted, not converted).

    Raises DataError naming the file and key when a mapped column is not there, and NoCustomerRows
    (a DataError, with the result) when every row is set aside. See `customer_level_table`.

    `month` (YYYY-MM: a monthly run, `params.month`, with `as_of` its last day): a customer table is
    one picture, taken when it was exported; a month that ends before customers' last purchases
    would set the most active of them aside, and a month that starts after the latest last purchase
    would count every customer as lapsed, so both are refused (DataError naming the latest last
    purchase and the month to run instead).
    """
    if source.kind != "customers" or source.customers is None:
        raise DataError(f"load_customer_level reads source.kind customers with source.customers, got kind "
                        f"{source.kind!r}; read other sources with segkit.load_source")
    spec, surveys_spec = source.customers, source.surveys
    if params_path is not None:
        folder = Path(params_path).parent
        spec, surveys_spec = (_relative(s, folder) for s in (spec, surveys_spec))
    raw = read_file(spec, "source.customers")
    sums = source.customer_level.sums if source.customer_level else {}
    result = customer_level_table(raw, spec.columns, sums, as_of=as_of, minor_unit=minor_unit, max_amount=max_amount,
                                  decimal_mark=decimal_mark, day_first=day_first, activity_days=activity_days,
                                  origin=spec.path, currency_code=currency_code)
    if month is not None and as_of is not None:
        later = result.quarantine[result.quarantine["reason"] == "after_as_of"] if len(result.quarantine) else None
        if later is not None and len(later):
            dates = pd.to_datetime(later[[c for c in ("last_purchase", "first_purchase") if c in later.columns]]
                                   .stack(), errors="coerce")
            latest = dates.max()
            shown = f" (the latest on {latest.date()}: run --month {latest:%Y-%m}, the month of the export)" \
                if pd.notna(latest) else ""
            raise DataError(f"{spec.path}: a customer table is one picture, taken when it was exported: "
                            f"{counted(len(later), 'customer', 'customers', ',')} bought after the end of --month {month} ({as_of}){shown}; "
                            "an earlier month would set them aside. Earlier months need the transactions "
                            "(source.kind: file or database)")
        latest = result.features["last_purchase"].max() if "last_purchase" in result.features.columns else None
        if latest is not None and pd.notna(latest) and pd.Timestamp(latest).date() < as_of.replace(day=1):
            raise DataError(f"{spec.path}: the table's latest last purchase is {pd.Timestamp(latest).date()}, before "
                            f"--month {month} starts: a customer table is one picture, taken when it was exported, "
                            f"and this month would count every customer as lapsed; run --month "
                            f"{pd.Timestamp(latest):%Y-%m}, the month of the export (or a newer export)")
    if surveys_spec is not None:  # no transactions to settle their dates' order: day_first, or the column itself
        surveys = read_customer_table(surveys_spec, "surveys", day_first)
        result = replace(result, surveys=without_unread_dates(surveys),
                         notes=(*result.notes, *unread_dates_notes(surveys, "surveys")))
    return result


def customer_level_table(raw: pd.DataFrame, columns: dict[str, str], sums: dict[str, list[str]] | None = None,
                         as_of: dt.date | None = None, minor_unit: int = 2, max_amount: float = 1e12,
                         decimal_mark: str = ".", day_first: bool | None = None, activity_days: int = 90,
                         origin: str = "input", key: str = "source.customers",
                         currency_code: str | None = None) -> CustomerLevel:
    """A customer-level table as read (`read_file`: `source_row`, then the table's columns, values as
    text or typed) into a `CustomerLevel`: see the module docstring for the rules and the result's
    docstring for its frames.

    `columns` maps segkit's names to the table's (customer_id required; recency_days or last_purchase,
    orders, revenue, first_purchase; any other key renames an extra column); `sums` maps orders or
    revenue to several columns added up. Money is exact: revenue (or each part of its sum) is read
    from the number as written, rounded once to `minor_unit` decimals half away from zero, summed
    in integer minor units, and given as the nearest float64 to the exact total. Revenue written
    with a currency sign that cannot stand for `currency_code` (params currency.code) is kept as
    written, and noted (`notes`).

    >>> raw = pd.DataFrame({"source_row": [2, 3, 4], "ID": ["a", "b", "b"], "Recency": ["5", "40", "41"],
    ...                     "Spend": ["10.10", "¥20.20", "3"]})
    >>> got = customer_level_table(raw, {"customer_id": "ID", "recency_days": "Recency", "revenue": "Spend"})
    >>> got.features[["customer_id", "recency_days", "revenue"]].values.tolist(), got.missing[:1]
    ([['a', 5, 10.1]], ('orders',))
    >>> got.quarantine["reason"].tolist()
    ['duplicate_customer_id', 'duplicate_customer_id']
    """
    sums = dict(sums or {})
    if "source_row" not in raw.columns:
        raise DataError(f"{origin}: the table has no source_row column; read it with segkit.intake.sources.read_file")
    _check_columns(raw, columns, sums, origin, key)
    table = raw.reset_index(drop=True)
    rows = table["source_row"].to_numpy()
    verdict = _Verdicts(table.index)
    customer_id = _customer_ids(table, columns["customer_id"], verdict)
    dates = _dates(table, columns, day_first, verdict)
    numbers = {name: _whole_numbers(table, name, sums.get(name) or ([columns[name]] if name in columns else []),
                                    decimal_mark, verdict)
               for name in ("recency_days", "orders") if name in columns or name in sums}
    # a detail names a column as the table does: its own column, or segkit's name for a sum of several
    parts_of = {name: sums.get(name) or ([columns[name]] if name in columns else []) for name in CUSTOMER_LEVEL_COLUMNS}
    named = {name: parts[0] if len(parts) == 1 else name for name, parts in parts_of.items()}
    revenue_parts = sums.get("revenue") or ([columns["revenue"]] if "revenue" in columns else [])
    revenue, notes = (_revenue(table, revenue_parts, decimal_mark, minor_unit, max_amount, verdict, currency_code)
                      if revenue_parts else (None, ()))
    for name, values in (("orders", numbers.get("orders")), ("revenue", revenue),
                         ("recency_days", numbers.get("recency_days"))):
        if values is not None:
            verdict.mark("negative_value", (values < 0).fillna(False),
                         named[name] + " " + values.map("{:g}".format) + " is below zero")
    if "orders" in numbers:
        verdict.mark("no_orders", (numbers["orders"] == 0).fillna(False),
                     f"{named['orders']} is 0: the customer never bought")
    as_of, as_of_from = _as_of(as_of, dates, numbers, verdict, named)
    extras, extra_numeric = _extras(table, columns, sums, decimal_mark, verdict)

    kept = verdict.rule.isna().to_numpy()
    ledger = _ledger(len(table), fixes_per_row(verdict.parsed, table.index)[kept], verdict.rule[~kept])
    values = pd.DataFrame({"source_row": rows, "customer_id": customer_id})
    for name in _QUARANTINE_VALUES[1:]:
        found = dates.get(name) if name.endswith("_purchase") else revenue if name == "revenue" else numbers.get(name)
        if found is not None and (name in columns or name in sums):
            values[name] = found.to_numpy()
    quarantine = _quarantine(values[~kept], verdict, ~kept)
    # the table's own names of segkit's columns, as the details use them (`segkit.i18n.detail_text`)
    quarantine.attrs["columns"] = {name: parts[0] for name, parts in parts_of.items() if len(parts) == 1}
    if not kept.any():
        empty = _features(values, dates, numbers, revenue, None, None, kept, activity_days)
        result = CustomerLevel(empty, extras.iloc[0:0], quarantine, ledger, as_of, as_of_from, (), extra_numeric,
                               origin=origin, notes=notes)
        raise NoCustomerRows(f"{origin}: {plural_form(len(table), 'the 1 row was', f'all {len(table)} rows were', 'en')} "
                             f"set aside ({_top(ledger)}); see the quarantine "
                             "for each row and its reason, and fix the table or its column map", result)
    features = _features(values, dates, numbers, revenue, as_of, extras[list(extra_numeric)], kept, activity_days)
    missing = tuple(c for c in FEATURE_COLUMNS[1:] if features[c].isna().all())
    customers = extras[kept].reset_index(drop=True)
    customers.insert(0, "customer_id", customer_id[kept].astype(str).to_numpy())
    customers = customers.sort_values("customer_id", kind="stable").reset_index(drop=True)
    return CustomerLevel(features, customers, quarantine, ledger, as_of, as_of_from, missing, extra_numeric,
                         origin=origin, notes=notes)


class _Verdicts:
    """Each row's first broken rule and its detail (missing while the row is kept), the parsed
    columns (for the fixes each row got) and the text as exported of the columns judged."""

    def __init__(self, index: pd.Index):
        self.index = index
        self.rule = pd.Series(pd.NA, index=index, dtype="object")
        self.detail = pd.Series(pd.NA, index=index, dtype="object")
        self.parsed: list[Parsed] = []
        self.originals: dict[str, pd.Series] = {}

    def mark(self, rule: str, bad, words) -> None:
        """Set aside the rows in `bad` that no earlier rule set aside, for `rule`, with `words`."""
        bad = pd.Series(np.asarray(bad, dtype=bool), index=self.index) & self.rule.isna()
        if bad.any():
            self.rule = self.rule.mask(bad, rule)
            self.detail = self.detail.mask(bad, words if isinstance(words, str) else pd.Series(words, index=self.index))


def _customer_ids(table: pd.DataFrame, theirs: str, verdict: _Verdicts) -> pd.Series:
    """The ids read; rows without one, exact repeats and conflicting rows of one customer marked."""
    index, rows = table.index, table["source_row"].to_numpy()
    ids = parse_id(table[theirs])
    verdict.parsed.append(ids)
    verdict.originals["customer_id"] = table[theirs]
    customer_id = ids.values.astype("string")
    verdict.mark("missing_customer_id", customer_id.isna(), f"{theirs} is empty")
    totals = customer_id.str.strip().str.lower().isin(TOTALS_LABELS).fillna(False).to_numpy(dtype=bool)
    verdict.mark("totals_row", totals,
                 theirs + ' "' + customer_id.fillna("") + '" is a total line\'s label, not a customer')
    # two rows are the same record when every column is the same text, blanks and full-width characters aside
    as_given = pd.DataFrame({c: (normalise_text(table[c])[0] if is_text(table[c]) else table[c].astype("string"))
                             for c in table.columns if c != "source_row"}, index=index)
    content = pd.util.hash_pandas_object(as_given.astype("string").fillna("\x00"), index=False)
    copy = content.duplicated(keep="first").to_numpy()
    first_row = pd.Series(rows, index=index).groupby(content.to_numpy()).transform("min")
    verdict.mark("duplicate", copy, "same as row " + first_row.astype(str))
    distinct = customer_id.notna().to_numpy() & ~copy
    counts = customer_id.where(distinct).map(customer_id[distinct].value_counts())
    conflicted = (counts > 1).fillna(False).to_numpy()
    if conflicted.any():
        listing = pd.Series(rows[distinct], index=index[distinct]).groupby(customer_id[distinct].to_numpy()).agg(
            lambda r: ", ".join(str(x) for x in sorted(r)[:5]) + (", …" if len(r) > 5 else ""))
        words = ("customer " + customer_id.astype(str) + " is on rows that differ (rows "
                 + customer_id.map(listing).astype(str) + ")")
        verdict.mark("duplicate_customer_id", conflicted, words)
    return customer_id


def _dates(table: pd.DataFrame, columns: dict[str, str], day_first: bool | None,
           verdict: _Verdicts) -> dict[str, pd.Series]:
    """last_purchase and first_purchase (those mapped) as days; empty and unreadable ones marked."""
    dates = {}
    for name in ("last_purchase", "first_purchase"):
        if name not in columns:
            continue
        given = table[columns[name]]
        parsed = parse_datetime(given, day_first=day_first)
        verdict.parsed.append(parsed)
        verdict.originals[name] = given
        dates[name] = parsed.values.dt.normalize().astype("datetime64[s]")
        if name == "last_purchase":  # an empty first purchase only leaves tenure unknown
            verdict.mark("missing_date", parsed.values.isna() & ~parsed.unreadable(), f"{columns[name]} is empty")
        if parsed.problem is not None:
            verdict.mark("unreadable_date", parsed.unreadable(),
                         columns[name] + ' "' + given.astype("string") + '" ' + parsed.problem.astype("string"))
    return dates


def _whole_numbers(table: pd.DataFrame, name: str, parts: list[str], decimal_mark: str,
                   verdict: _Verdicts) -> pd.Series:
    """recency_days or orders (the sum of `parts`), as float64; empty, unreadable, infinite and
    fractional values marked (missing_<word>, unreadable_<word>)."""
    word = "recency" if name == "recency_days" else name
    total = pd.Series(0.0, index=table.index)
    for theirs in parts:
        given = table[theirs]
        parsed = parse_amount(given, decimal=decimal_mark)
        verdict.parsed.append(parsed)
        verdict.originals[name if len(parts) == 1 else theirs] = given
        value = parsed.values.astype("float64")
        label = theirs if len(parts) == 1 else f'{name} part "{theirs}"'  # the table's column
        text = label + ' "' + given.astype("string") + '" '
        infinite = _infinite(given)
        verdict.mark(f"missing_{word}", value.isna() & ~parsed.unreadable() & ~infinite, f"{label} is empty")
        if parsed.problem is not None:  # a count or a number of days: whole numbers, said as such
            problem = parsed.problem.astype("string").str.replace(r"; write it like 1234[.,]50$",
                                                                  "; write it as a whole number, like 12", regex=True)
            verdict.mark(f"unreadable_{word}", parsed.unreadable(), text + problem)
        verdict.mark(f"unreadable_{word}", infinite, text + "is not a finite number")
        verdict.mark(f"unreadable_{word}", value.notna() & (value != np.floor(value)), text + "is not a whole number")
        total = total + value
    return total


def _revenue(table: pd.DataFrame, parts: list[str], decimal_mark: str, minor_unit: int, max_amount: float,
             verdict: _Verdicts, currency_code: str | None = None) -> tuple[pd.Series, tuple[dict, ...]]:
    """Revenue (the exact sum of `parts`) as the nearest float64; empty, unreadable, infinite and
    implausible amounts marked. Each part is rounded once to `minor_unit` decimals, from the number
    as written, and the parts are added in integer minor units (Python integers: no overflow).
    With it, the notes on parts written with another currency's sign than `currency_code`."""
    notes = []
    units = pd.Series([0] * len(table), index=table.index, dtype="object")
    largest = max_units(max_amount, minor_unit)
    too_large = f"is above cleaning.max_amount {max_amount:g} in size: implausible, never summed"
    for theirs in parts:
        given = table[theirs]
        parsed = parse_amount(given, decimal=decimal_mark)
        verdict.parsed.append(parsed)
        note = other_currency_note(parsed, given, theirs, currency_code)
        if note is not None:
            notes.append(note)
        verdict.originals["revenue" if len(parts) == 1 else theirs] = given
        label = theirs if len(parts) == 1 else f'revenue part "{theirs}"'  # the table's column
        text = label + ' "' + given.astype("string") + '" '
        infinite = _infinite(given)
        verdict.mark("missing_amount", parsed.values.isna() & ~parsed.unreadable() & ~infinite, f"{label} is empty")
        if parsed.problem is not None:
            verdict.mark("unreadable_amount", parsed.unreadable(), text + parsed.problem.astype("string"))
        verdict.mark("non_finite_amount", infinite, text + "is not a finite number")
        part_units, over = to_minor_units(parsed.values.astype("float64"), minor_unit,
                                          lambda positions, p=parsed: exact_decimals(p, positions),
                                          limit=10 ** AMOUNT_PRECISION)
        verdict.mark("implausible_amount", over | (part_units.abs() > largest).fillna(False), text + too_large)
        units = units + part_units.astype("object").where(part_units.notna(), 0)
    verdict.mark("implausible_amount", units.map(lambda u: abs(int(u)) > largest), "the revenue " + too_large)
    return _to_float(units, minor_unit), tuple(notes)


def _as_of(as_of: dt.date | None, dates: dict[str, pd.Series], numbers: dict[str, pd.Series],
           verdict: _Verdicts, named: dict[str, str] | None = None) -> tuple[dt.date | None, str]:
    """The as-of date and how it was chosen; rows dated after it, or with the first purchase after
    the last, marked (the details naming the dates' columns as `named` maps them, by default
    segkit's names); last_purchase derived from recency where the as-of date is known."""
    named = {"last_purchase": "last_purchase", "first_purchase": "first_purchase", **(named or {})}
    as_of_from = "params" if as_of is not None else ("latest_last_purchase" if "last_purchase" in dates else
                                                     "unknown" if "recency_days" in numbers else "none")
    if as_of is None and "last_purchase" in dates:
        usable = dates["last_purchase"][verdict.rule.isna()].dropna()
        if "first_purchase" in dates:  # a row whose dates are out of order gives no as-of date
            usable = usable[~(dates["first_purchase"][usable.index] > usable).fillna(False)]
        as_of = usable.max().date() if len(usable) else None
    if as_of is not None:
        day = pd.Timestamp(as_of)
        for name in ("last_purchase", "first_purchase"):
            if name in dates:
                verdict.mark("after_as_of", (dates[name] > day).fillna(False),
                             named[name] + " " + dates[name].dt.strftime("%Y-%m-%d")
                             + f" is after the as-of date {as_of}")
        if "recency_days" in numbers and "last_purchase" not in dates:
            recency = numbers["recency_days"]
            dates["last_purchase"] = (day - pd.to_timedelta(recency.fillna(0), unit="D")).where(
                recency.notna()).astype("datetime64[s]")
    if "first_purchase" in dates and "last_purchase" in dates:
        verdict.mark("dates_out_of_order", (dates["first_purchase"] > dates["last_purchase"]).fillna(False),
                     named["first_purchase"] + " " + dates["first_purchase"].dt.strftime("%Y-%m-%d") + " is after "
                     + named["last_purchase"] + " " + dates["last_purchase"].dt.strftime("%Y-%m-%d"))
    return as_of, as_of_from


def customer_level_stage(result: CustomerLevel, data_dir: str | Path) -> dict:
    """Save a customer-level source as the cleaning stage's outputs, so that the later notebooks
    (02_rfm, 04_clustering, 08_case_study) read it as they read a transaction source: features,
    quarantine, ledger, customers and surveys (Parquet files in `data_dir`); the transaction-level
    stage files (clean_transactions, repeat_summary, holdout_summary, activity, month_start_features)
    are removed, so that none is left from an earlier run. run.json gets source_kind "customers",
    as_of (when known) and as_of_from, the features the table cannot say (`missing_features`), the
    extra columns and the sections that need transactions. Returns the run information written.
    """
    from segkit.store import load_run_info, save_run_info, save_stage

    save_stage(data_dir, features=result.features, quarantine=result.quarantine, ledger=result.ledger,
               customers=result.customers, surveys=result.surveys, clean_transactions=None, repeat_summary=None,
               holdout_summary=None, activity=None, month_start_features=None)
    info = dict(source_kind="customers", as_of_from=result.as_of_from, missing_features=list(result.missing),
                extra_columns=list(result.extra_columns), needs_transactions=list(result.needs_transactions))
    if result.as_of is not None:  # run.json's as_of is a date when present (store.load_run_info reads it so)
        info["as_of"] = result.as_of
    save_run_info(data_dir, **info)
    return load_run_info(data_dir)


# -- helpers ----------------------------------------------------------------------------------

def _relative(spec: FileTable | None, folder: Path) -> FileTable | None:
    if spec is None or Path(spec.path).is_absolute():
        return spec
    return spec.model_copy(update={"path": str(folder / spec.path)})


def _check_columns(raw: pd.DataFrame, columns: dict[str, str], sums: dict[str, list[str]], origin: str,
                   key: str) -> None:
    present = [str(c) for c in raw.columns if c != "source_row"]
    if "customer_id" not in columns:
        raise DataError(f"{origin}: {key}.columns must map customer_id to the column that identifies the customer "
                        f"(columns there: {_listing(present)})")
    wanted = [(f"{key}.columns.{ours}", theirs) for ours, theirs in columns.items()]
    wanted += [(f"source.customer_level.sums.{ours}", theirs)
               for ours, parts in sums.items() for theirs in parts]
    for where, theirs in wanted:
        if theirs not in raw.columns:
            close = difflib.get_close_matches(theirs, present, n=1, cutoff=0.5)
            hint = f'; did you mean "{_cut(close[0])}"?' if close else ""
            raise DataError(f'{origin}: column "{_cut(theirs)}" ({where}) is not there{hint} (columns there: '
                            f"{_listing(present)}); fix {where}")
    for where, theirs in wanted:
        if where.rsplit(".", 1)[-1] not in CUSTOMER_LEVEL_COLUMNS:
            continue  # an extra column is kept as it is
        given = raw[theirs]
        if pd.api.types.is_bool_dtype(given):
            kind = "true/false values"
        elif pd.api.types.is_object_dtype(given) and \
                given.map(lambda v: isinstance(v, (dict, list, tuple, np.ndarray))).any():
            kind = "lists or records"
        else:
            continue
        wanted_kind = "dates" if where.endswith("_purchase") else "an id" if where.endswith("customer_id") else "numbers"
        raise DataError(f'{origin}: column "{_cut(theirs)}" ({where}) holds {kind}, not {wanted_kind}; map {where} '
                        "to another column, or export the table again with that column as it should be")
    used = set(columns.values()) | {c for parts in sums.values() for c in parts}
    renamed = {ours for ours in columns if ours not in CUSTOMER_LEVEL_COLUMNS}
    taken = (set(CUSTOMER_LEVEL_COLUMNS) | set(CUSTOMER_LEVEL_RESERVED) | set(FEATURE_COLUMNS)) | renamed
    clash = [c for c in present if c not in used and c in taken]
    if clash:
        raise DataError(f'{origin}: the column "{_cut(clash[0])}" is not mapped, and its name is one segkit gives '
                        f"its own column; map it in {key}.columns (e.g. {clash[0]}: {clash[0]}) or rename it in the "
                        "file")


def _extras(table: pd.DataFrame, columns: dict[str, str], sums: dict[str, list[str]], decimal_mark: str,
            verdict: _Verdicts) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """The table's other columns under their names (renamed per the map): numbers typed where every
    value reads as one, text trimmed; and which of them are numbers."""
    renames = {theirs: ours for ours, theirs in columns.items() if ours not in CUSTOMER_LEVEL_COLUMNS}
    used = {theirs for ours, theirs in columns.items() if ours in CUSTOMER_LEVEL_COLUMNS}
    used |= {c for parts in sums.values() for c in parts}
    out, numeric = {}, []
    for theirs in table.columns:
        if theirs == "source_row" or theirs in used:
            continue
        name = renames.get(theirs, str(theirs))
        values, is_number, parsed = attribute_values(table[theirs], decimal_mark)
        out[name] = values
        if is_number:
            numeric.append(name)
        if parsed is not None:
            verdict.parsed.append(parsed)
    return pd.DataFrame(out, index=table.index), tuple(numeric)


def _infinite(given: pd.Series) -> pd.Series:
    """Which values of a typed column (Parquet, DuckDB) are infinite; text is never (it is unreadable)."""
    if is_text(given) or pd.api.types.is_bool_dtype(given):
        return pd.Series(False, index=given.index)
    number = pd.to_numeric(given, errors="coerce").astype("float64")
    return pd.Series(np.isinf(number.to_numpy(dtype="float64", na_value=np.nan)), index=given.index)


def _to_float(units: pd.Series, minor_unit: int) -> pd.Series:
    """Integer minor units (Python ints) as the nearest float64 to units / 10**minor_unit."""
    scale = 10 ** minor_unit
    small = units.map(lambda u: abs(int(u)) < 2 ** 53)
    # below 2**53 both integers are exact doubles, and IEEE division rounds correctly
    out = units.where(small, 0).astype("float64") / scale
    if (~small).any():
        out = out.mask(~small, units[~small].map(lambda u: float(decimal.Decimal(int(u)).scaleb(-minor_unit))))
    return out


def _features(values: pd.DataFrame, dates: dict[str, pd.Series], numbers: dict[str, pd.Series],
              revenue: pd.Series | None, as_of: dt.date | None, extras: pd.DataFrame | None,
              kept: np.ndarray, activity_days: int) -> pd.DataFrame:
    nan = pd.Series(np.nan, index=values.index)
    missing_date = pd.Series(pd.NaT, index=values.index, dtype="datetime64[s]")
    orders = numbers.get("orders", nan)
    recency = numbers.get("recency_days", nan)
    revenue = revenue if revenue is not None else nan
    first = dates.get("first_purchase", missing_date).astype("datetime64[s]")
    last = dates.get("last_purchase", missing_date).astype("datetime64[s]")
    if as_of is not None and "recency_days" not in numbers:
        recency = (pd.Timestamp(as_of) - last).dt.days.astype("float64")
    tenure = (pd.Timestamp(as_of) - first).dt.days.astype("float64") if as_of is not None else nan
    span = (last - first).dt.days.astype("float64")
    frame = pd.DataFrame({
        "customer_id": values["customer_id"].astype(str).to_numpy(),
        "orders": orders.to_numpy(dtype="float64"),
        "revenue": revenue.to_numpy(dtype="float64"),
        "first_purchase": first.to_numpy(),
        "last_purchase": last.to_numpy(),
        "recency_days": recency.to_numpy(dtype="float64"),
        "tenure_days": tenure.to_numpy(dtype="float64"),
        "avg_order_value": (revenue / orders.where(orders > 0)).to_numpy(dtype="float64"),
        "interval_days": (span / (orders - 1).where(orders > 1)).to_numpy(dtype="float64"),
        # orders in the activity window (recency_days < activity_days, as for transactions): known to be
        # 0 for a customer whose last purchase is older, and 1 for a recent one-order customer; otherwise
        # a table of totals does not say how many
        "orders_recent": np.select([(recency >= activity_days).to_numpy(), (orders == 1).to_numpy()
                                    & (recency < activity_days).to_numpy()], [0.0, 1.0], np.nan),
    })[kept].reset_index(drop=True)
    for name in ("orders", "recency_days", "tenure_days", "orders_recent"):  # whole, as from transactions
        if len(frame) and frame[name].notna().all():
            frame[name] = frame[name].astype("int64")
    if extras is not None:
        for name in extras.columns:
            frame[name] = extras[name].to_numpy()[kept]
    return frame.sort_values("customer_id", kind="stable").reset_index(drop=True)


def _quarantine(values: pd.DataFrame, verdict: _Verdicts, aside: np.ndarray) -> pd.DataFrame:
    """The rows set aside: source_row, reason, detail, the values read, and raw_<name> as exported."""
    out = values.reset_index(drop=True)
    out.insert(1, "reason", verdict.rule[aside].astype("string").to_numpy())
    out.insert(2, "detail", verdict.detail[aside].astype("string").to_numpy())
    for name, given in verdict.originals.items():
        out[f"raw_{name}"] = given[aside].astype("string").to_numpy()
    return out.sort_values("source_row", kind="stable").reset_index(drop=True)


def _ledger(total: int, fixes: pd.Series, reasons: pd.Series) -> pd.DataFrame:
    """The row ledger, shaped as the cleaning stage's: used, fixed (per combination of fixes, in the
    order of FIXES), set aside (every rule of CUSTOMER_RULES); rows add up to `total`."""
    order = {name: i for i, name in enumerate(FIXES)}
    fixed = fixes[fixes != ""].value_counts()
    fixed_rows = sorted((("fixed", str(r), int(n)) for r, n in fixed.items()),
                        key=lambda row: [order.get(part, 99) for part in row[1].split("+")])
    counts = reasons.value_counts()
    unknown = set(counts.index) - set(CUSTOMER_RULES)
    if unknown:  # a rule added to the code but not to CUSTOMER_RULES would vanish from the ledger
        raise AssertionError(f"rules missing from CUSTOMER_RULES: {sorted(unknown)}")
    aside_rows = [("set_aside", r, int(counts.get(r, 0))) for r in CUSTOMER_RULES]
    used = int((fixes == "").sum())
    ledger = pd.DataFrame([("used", "", used), *fixed_rows, *aside_rows], columns=["outcome", "rule", "rows"])
    ledger["rows"] = ledger["rows"].astype("int64")
    ledger["share"] = ledger["rows"] / total if total else 0.0
    return ledger


def _top(ledger: pd.DataFrame) -> str:
    aside = ledger[(ledger.outcome == "set_aside") & (ledger.rows > 0)].sort_values("rows", ascending=False)
    return ", ".join(f"{r.rule}: {r.rows}" for r in aside.itertuples())


