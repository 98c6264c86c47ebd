"""Every word a report shows, in Chinese and English, from one place: segkit/locale/messages.yaml,
plus one messages_<area>.yaml per larger area (exports, migration, ...); a key lives in one file only.

One call draws the Chinese or the English version: `t("kpi.revenue", "zh")` -> "销售额".

A noun (or a verb) that agrees with a count is a plural field, `{count?singular|plural}`: the form
that `count`, another value of the same template, takes in the language by CLDR's plural rules
(Babel's): "{rows:,} {rows?row|rows}" reads "1 row", "0 rows", "1,000 rows", and
"{n:,} {n?customer has|customers have} no cluster" agrees its verb too. In English a count of 1
(1, 1.0, a NumPy 1) takes the singular and every other the plural; a count that is missing or not a
number is an error, never a guess. The forms may hold blanks and apostrophes, not the characters a
field name cannot (. [ ] : ! { }). Chinese has no plural of nouns, but its demonstratives and
pronouns do tell one thing from several: 该行 / 这些行, 它 / 它们. A Chinese text's plural field
chooses between those alone, its first form for a count of exactly 1 and its second for every other
("{rows:,} 个金额无法读取：{rows?该行|这些行}已被隔离"; `chinese_form`).
`t` and `segkit.report.html.say` both fill plural fields, through `in_language`.
"""

from __future__ import annotations

import math
import numbers
import re
import string
from functools import lru_cache
from importlib import resources

import pandas as pd
import yaml

from segkit.report.numbers import is_number, locale_of

LANGUAGES = ("en", "zh")


def _load_yaml(text: str):
    """YAML read safely, with libyaml's C loader where PyYAML has it (the same result, about 8 times
    faster: the catalogue is read in every notebook's kernel)."""
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@lru_cache(maxsize=None)
def messages() -> dict[str, dict[str, str]]:
    """Every key of segkit/locale/messages*.yaml, merged; a key found in two files is an error."""
    folder = resources.files("segkit.locale")
    names = sorted(entry.name for entry in folder.iterdir()
                   if entry.name.startswith("messages") and entry.name.endswith(".yaml"))
    merged: dict[str, dict[str, str]] = {}
    for name in names:
        part = _load_yaml(folder.joinpath(name).read_text(encoding="utf-8")) or {}
        twice = sorted(set(part) & set(merged))
        if twice:
            raise ValueError(f"segkit/locale/{name} repeats keys of another messages file: {', '.join(twice)}")
        merged.update(part)
    return merged


def t(key: str, lang: str, **values) -> str:
    """The text for `key` in `lang`, with {placeholders} filled from `values` (in Chinese, with no
    blank left between a value and the Chinese words beside it: `close_gaps`), and each plural field
    `{count?singular|plural}` by the form its count takes in `lang` (the module's docstring):
    `t(key, "en", rows=1)` of "{rows:,} {rows?row|rows} read" -> "1 row read"."""
    if lang not in LANGUAGES:
        raise ValueError(f"lang must be one of {', '.join(LANGUAGES)}, got {lang!r}")
    try:
        template = messages()[key][lang]
    except KeyError:
        raise KeyError(f"no text for {key!r} in {lang!r}: add it to segkit/locale/messages.yaml (or its area's messages_<area>.yaml)") from None
    if not values:
        return template
    values = in_language(values, lang)
    if lang != "zh":
        return template.format_map(values)
    formatter = string.Formatter()
    literals, shown = [], []
    for literal, field, spec, conversion in formatter.parse(template):
        literals.append(literal)
        if field is not None:
            value = formatter.convert_field(formatter.get_field(field, (), values)[0], conversion)
            shown.append(formatter.format_field(value, formatter.vformat(spec, (), values) if spec else ""))
    literals = close_gaps(literals, shown)
    return "".join(literal + (shown[i] if i < len(shown) else "") for i, literal in enumerate(literals))


def in_language(values: dict, lang: str) -> TemplateValues:
    """`values` with each value given per language (a dict of LANGUAGES, e.g. a system's name
    {"en": "Taobao/Tmall", "zh": "淘宝/天猫"}, as a language-neutral note holds it) taken in `lang`;
    a template's plural fields are looked up in it too (`TemplateValues`)."""
    return TemplateValues({name: value[lang] if isinstance(value, dict) and value and set(value) <= set(LANGUAGES)
                           else value for name, value in values.items()}, lang)


_PLURAL_FIELD = re.compile(r"(?P<count>\w+)\?(?P<singular>[^?|]*)\|(?P<plural>[^?|]*)")


def plural_field(field: str) -> tuple[str, str, str] | None:
    """(count, singular, plural) of a plural field's name ("rows?row|rows" -> ("rows", "row",
    "rows")); None for any other field."""
    found = _PLURAL_FIELD.fullmatch(field)
    return None if found is None else (found["count"], found["singular"], found["plural"])


def plural_form(count, singular: str, plural: str, lang: str) -> str:
    """`singular` or `plural`, as `count` asks in `lang` by CLDR's rules (English: singular for 1
    alone, so "0 customers", "1 customer", "1.5 days"). A count that is not a number raises
    TypeError: a text that picked a form for it would state a count it does not have. A count that
    is not finite (shown as "—") takes the plural. The form follows the value, not the figure a spec
    rounds it to: a mean of 1.3 days shown by "{r:.0f}" as 1 takes the plural."""
    if not is_number(count):
        raise TypeError(f"a plural form needs a number for its count, got {count!r}")
    if not isinstance(count, numbers.Integral) and not math.isfinite(count):
        return plural
    return singular if locale_of(lang).plural_form(count) == "one" else plural


def chinese_form(count, one: str, other: str) -> str:
    """`one` for a count of exactly 1, `other` for every other count (0, 2, 1.5, NaN): the form of a
    Chinese plural field, whose forms are a demonstrative or pronoun for one thing and for several
    (该行 / 这些行), which CLDR's rules for Chinese (a single form) cannot choose between. A count
    that is not a number raises TypeError, as `plural_form` does.

    >>> chinese_form(1, "该行", "这些行"), chinese_form(2, "该行", "这些行"), chinese_form(0, "该行", "这些行")
    ('该行', '这些行', '这些行')
    """
    if not is_number(count):
        raise TypeError(f"a plural form needs a number for its count, got {count!r}")
    return one if count == 1 else other


def counted(count, singular: str, plural: str, spec: str = "", lang: str = "en") -> str:
    """`count`, formatted by `spec` (a format spec: "," for thousands), then the form of the noun
    that agrees with it (`plural_form`): the words of a message written outside the catalogue (an
    error, a line on the terminal), which is in English. The forms may run on ("row was", "rows
    were") where a verb agrees too.

    >>> counted(1, "row", "rows"), counted(0, "row", "rows"), counted(1000, "customer", "customers", ",")
    ('1 row', '0 rows', '1,000 customers')
    """
    return f"{format(count, spec)} {plural_form(count, singular, plural, lang)}"


def unit_words(unit: str, lang: str, count=None) -> str:
    """A time unit of the params ("days", "weeks", "months", "years") as a text names it in `lang`;
    after `count`, in the form that agrees with it (`plural_form`): the next 1 month, the next 12
    months (Chinese: 月 either way). Without a count, the plural: "time in weeks".

    >>> unit_words("months", "en", 1), unit_words("months", "en", 12), unit_words("months", "zh", 1)
    ('month', 'months', '月')
    """
    if count is None:
        return t(f"unit.{unit}", lang)
    return t(f"unit.{plural_form(count, unit.removesuffix('s'), unit, lang)}", lang)


def value_names(template: str) -> set[str]:
    """The names of the values a template reads: its fields, a plural field counting as its count.

    >>> sorted(value_names("{rows:,} {rows?row|rows} of {customers:,} {customers?customer|customers}"))
    ['customers', 'rows']
    """
    names = set()
    for _, field, _, _ in string.Formatter().parse(template):
        if field:
            plural = plural_field(field)
            names.add(plural[0] if plural else field)
    return names


class TemplateValues(dict):
    """The values of a template (name -> value) in a language, which also answer its plural fields:
    `TemplateValues({"rows": 1}, "en")["rows?row|rows"]` -> "row". A plural field whose count no
    value gives is a KeyError naming both."""

    def __init__(self, values: dict, lang: str):
        super().__init__(values)
        self.lang = lang

    def __missing__(self, field: str):
        plural = plural_field(field)
        if plural is None:
            raise KeyError(field)
        count, singular, form = plural
        if count not in self:
            raise KeyError(f"the plural field {{{field}}} needs the value {count!r}, which is not given")
        try:
            if self.lang == "zh":
                return chinese_form(self[count], singular, form)
            return plural_form(self[count], singular, form, self.lang)
        except TypeError as error:
            raise TypeError(f"the plural field {{{field}}}: {error}") from None


# Chinese sets no blank between two Chinese words, nor beside a full-width mark or a Chinese quote;
# a blank does stand between Chinese and Latin letters or numbers ("共 12 位", "对 age 取 log1p").
CJK = "\u2018\u2019\u201c\u201d\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_CJK_END = re.compile(f"[{CJK}]$")
_CJK_START = re.compile(f"^[{CJK}]")


def close_gaps(literals: list[str], values: list[str]) -> list[str]:
    """A Chinese template's text parts (`literals`, as string.Formatter().parse gives them: the text
    before each value, then what follows the last), for the `values` as shown, with no blank left
    between a value and a Chinese word beside it (a translated column name before "为零或负数", a unit
    in Chinese after "时间单位为 "). A blank the template sets beside a value stays where that value,
    or the word on the other side, is Latin or a number. Markdown's emphasis marks (**) count as no
    character; an empty value as none.

    >>> close_gaps(["时间单位为 ", "。"], ["周"]), close_gaps(["时间单位为 ", "。"], ["weeks"])
    (['时间单位为', '。'], ['时间单位为 ', '。'])
    >>> close_gaps(["对 ", "", " 进行"], ["订单数、“age”", ""]), close_gaps(["对 ", "", " 进行"], ["age、订单数", ""])
    (['对', '', '进行'], ['对 ', '', '进行'])
    >>> close_gaps(["共 **", "** 次"], ["12"]), close_gaps(["为 **", "**。"], ["周"])
    (['共 **', '** 次'], ['为**', '**。'])
    """
    def text_after(i: int) -> str:  # what follows literal i: value i, literal i + 1, ...
        return "".join(values[j] + (literals[j + 1] if j + 1 < len(literals) else "") for j in range(i, len(values)))

    out, before = [], ""
    for i, literal in enumerate(literals):
        after = text_after(i)
        if i > 0:  # a value before it: blanks at its start
            marks, blanks, rest = re.match(r"(\**)([ \t]*)(.*)", literal, flags=re.S).groups()
            if blanks and _CJK_END.search(before.rstrip("*")) and _CJK_START.match((rest + after).lstrip("*")):
                literal = marks + rest
        if i < len(values):  # a value after it: blanks at its end
            head, blanks, marks = re.match(r"(.*?)([ \t]*)(\**)$", literal, flags=re.S).groups()
            if blanks and _CJK_END.search((before + head).rstrip("*")) and _CJK_START.match((marks + after).lstrip("*")):
                literal = head + marks
        out.append(literal)
        before += literal + (values[i] if i < len(values) else "")
    return out


def label_columns(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """A copy of `frame` whose column names are translated as `column_label` does (a column the data
    brought keeps its name; raw_<name> is "<label> (as given)")."""
    return frame.rename(columns={c: column_label(c, lang) for c in frame.columns if isinstance(c, str)})


def column_label(name: str, lang: str) -> str:
    """A column's label in `lang`: segkit's own columns from the catalogue (col.<name>); a column the
    data brought (a customer table's extra column, such as age) keeps the name the params gave it;
    raw_<name> (a value as the source wrote it, in a quarantine) is "<name's label> (as given)".

    >>> column_label("raw_recency_days", "en"), column_label("raw_spend", "zh")
    ('Days since last purchase (as given)', 'spend（原值）')
    """
    known = messages()
    if f"col.{name}" in known:
        return known[f"col.{name}"][lang]
    if name.startswith("raw_") and len(name) > 4:  # a value as the source wrote it (a quarantine's raw_<column>)
        return known["col.raw_value"][lang].format(column=column_label(name[4:], lang))
    return name


def column_in_text(name: str, lang: str, kinds: tuple[str, ...] = ("col",)) -> str:
    """A column as a sentence names it, in `lang`: segkit's own columns by their catalogue label (the
    first of `<kind>.<name>` the catalogue has, e.g. kinds ("dimension", "col")); a column the data
    brought (a customer table's extra column, an attribute of the params) by its own name, as
    written: in Chinese between quotes, so that it stands apart from the words around it
    (按“country”划分), in English as it is.

    >>> column_in_text("recency_days", "zh"), column_in_text("country", "zh"), column_in_text("country", "en")
    ('距上次购买天数', '“country”', 'country')
    """
    known = messages()
    for kind in kinds:
        if f"{kind}.{name}" in known:
            return known[f"{kind}.{name}"][lang]
    return f"“{name}”" if lang == "zh" else name


def columns_in_text(names, lang: str, kinds: tuple[str, ...] = ("col",)) -> str:
    """Several columns as a sentence names them (`column_in_text`), joined as a list is in `lang`."""
    return t("name.separator", lang).join(column_in_text(name, lang, kinds) for name in names)


def rule_name(rule: str, lang: str) -> str:
    return t(f"rule.{rule}", lang) if rule else t("ledger.used", lang)


def cluster_name(r_level: int, f_level: int, m_level: int, lang: str) -> str:
    """A readable cluster name from its levels (1 worst .. 5 best), e.g. "very recent, frequent, top spend"."""
    parts = [t(f"level.{dim}.{level}", lang) for dim, level in (("r", r_level), ("f", f_level), ("m", m_level))]
    return t("name.separator", lang).join(parts)


def format_conditions(conditions, lang: str, currency=None) -> str:
    """IF-part of a tree rule, with the bounds on each feature merged: "Orders > 2 AND Revenue ≤ 310".
    A whole-number threshold reads whole ("Orders ≤ 3"); with `currency` (params.currency), a money
    feature's thresholds are in it as every other amount of the report ("Revenue ≤ ¥325.70"); other
    thresholds to four significant digits, never in exponent form (12,350, not 1.235e+04)."""
    lower: dict[str, float] = {}
    upper: dict[str, float] = {}
    order: list[str] = []
    for feature, op, threshold in conditions:
        if feature not in order:
            order.append(feature)
        if op == "<=":
            upper[feature] = min(upper.get(feature, threshold), threshold)
        else:
            lower[feature] = max(lower.get(feature, threshold), threshold)
    from segkit.report.html import MONEY
    from segkit.report.numbers import integer, money, significant

    def shown(feature: str, value: float) -> str:
        if currency is not None and feature in MONEY:
            return money(value, lang, currency)
        if float(value).is_integer() and abs(value) < 1e15:
            return integer(int(value), lang)
        return significant(value, lang, 4)

    parts = []
    for feature in order:
        name = column_label(feature, lang)
        if feature in lower and feature in upper:
            parts.append(f"{shown(feature, lower[feature])} < {name} ≤ {shown(feature, upper[feature])}")
        elif feature in lower:
            parts.append(f"{name} > {shown(feature, lower[feature])}")
        else:
            parts.append(f"{name} ≤ {shown(feature, upper[feature])}")
    return t("rule.and", lang).join(parts) if parts else "—"


_ORIGINS = (("database table ", "origin.database_table"), ("Spark table ", "origin.spark_table"))


def origin_text(origin: str, lang: str) -> str:
    """Where the transactions came from (`Intake.origin`, written in English for messages: "database
    table sales.orders", "Spark table shop.orders", "Spark parquet /data/orders") in the words of `lang`;
    a file's path or another origin as it is."""
    for prefix, key in _ORIGINS:
        if origin.startswith(prefix):
            return t(key, lang, name=origin[len(prefix):])
    if origin.startswith("Spark "):
        kind, _, path = origin[len("Spark "):].partition(" ")
        return t("origin.spark_files", lang, kind=kind, name=path)
    return origin


def returns_sentence(summary: dict | None, lang: str, currency=None) -> tuple[str, dict]:
    """The catalogue key and values of the sentence that says how returns were treated and what it
    changed (`summary` as `segkit.intake.returns.returns_summary` gives it, None when no row is
    marked as a return); amounts are shown in `currency` (params.currency). For `say(key, lang, **values)`."""
    from segkit.report.html import Money

    if not summary:
        return "cleaning.returns.none", {}
    values = {name: Money(value, currency) if name.startswith(("amount", "gross_", "net_", "kept", "revenue_"))
              else value for name, value in summary.items()}
    values["match_words"] = t(f"returns.match.{summary['match']}", lang)
    # the cancellations that found the purchase they cancel (a line refunded by its own status is the purchase)
    values["lines_matched"] = (summary["lines_order_number"] + summary["lines_product"]
                               - summary.get("lines_matched_by_status", 0))
    if summary["action"] == "net":
        refunded = summary.get("refunded_orders", "set_aside")
        if refunded == "set_aside" and not summary.get("orders_refunded"):
            # none cancelled by their cancellation lines; those refunded by their status are said below
            refunded = "by_status_only" if summary.get("orders_by_status") else "none"
        values["refunded_words"] = ("" if refunded == "by_status_only" else
                                    t(f"returns.refunded.{refunded}", lang, orders=summary.get("orders_refunded", 0),
                                      purchases=summary.get("lines_refunded_purchases", 0),
                                      cancels=summary.get("lines_refunded_cancels", 0)))
    else:  # drop: the cancellations of purchases from before the data, never a line refunded by its status
        before = summary["amount_unmatched"] - summary.get("amount_unmatched_by_status", 0.0)
        before_lines = summary["lines_unmatched"] - summary.get("lines_unmatched_by_status", 0)
        matched = values["lines_matched"] > 0  # else "revenue still holds 0.00 of purchases" said nothing true
        values["held_words"] = (t("returns.held.drop", lang, kept_matched=values["kept_matched"],
                                  lines_matched=values["lines_matched"], match_words=values["match_words"])
                                if matched else "" if before_lines else t("returns.held.none", lang))
        values["before_words"] = (t("returns.before_data.drop" if matched else "returns.before_data.drop_all", lang,
                                    amount=Money(before, currency)) if before_lines else "")
    nothing = not summary["lines"]  # no cancellation line counted: one short sentence, not a row of zeros
    aside = summary.get("lines_of_set_aside", 0)
    values["aside_words"] = t("returns.of_set_aside_only" if nothing else "returns.of_set_aside", lang,
                              lines=aside) if aside else ""
    by_status = summary.get("lines_by_status", 0)
    values["status_words"] = t(f"returns.by_status.{summary['action']}", lang, lines=by_status,
                               amount=Money(summary.get("amount_by_status", 0.0), currency),
                               orders=summary.get("orders_by_status", 0)) if by_status else ""
    if nothing:  # the purchases' total where lines refunded by their status took some of it
        values["purchases_words"] = (t("returns.of_purchases", lang, gross_revenue=values["gross_revenue"])
                                     if summary["gross_revenue"] != summary["net_revenue"] else "")
        return f"cleaning.returns.{summary['action']}_nothing", values
    return f"cleaning.returns.{summary['action']}", values


def customers_sentence(ledger: pd.DataFrame, net_negative: str = "set_aside") -> tuple[str, dict]:
    """The catalogue key and values of the sentence on the customer ledger: customers with rows
    used, scored, floored at revenue 0 (`net_negative="floor"`), set aside."""
    by_outcome = ledger.groupby("outcome")["customers"].sum()
    values = {"customers": int(by_outcome.sum()), "scored": int(by_outcome.get("scored", 0)),
              "floored": int(by_outcome.get("floored", 0)), "aside": int(by_outcome.get("set_aside", 0))}
    if net_negative == "floor":
        return "cleaning.customers_floored", values
    return ("cleaning.customers" if values["aside"] else "cleaning.customers_none_aside"), values


def customer_ledger_table(ledger: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The customer ledger with its outcomes and rules in words, and a total row (the customers in)."""
    shown = ledger.assign(outcome=[t(f"customer_outcome.{o}", lang) for o in ledger["outcome"]],
                          rule=[t(f"customer_rule.{r}", lang) if r else "" for r in ledger["rule"]])
    total = pd.DataFrame([{"outcome": "Σ", "rule": "", "customers": int(ledger["customers"].sum()),
                           "share": float(ledger["share"].sum()), "revenue": float(ledger["revenue"].sum())}])
    return pd.concat([shown, total], ignore_index=True)


def customers_set_aside_table(aside: pd.DataFrame, lang: str, rows: int = 20, mask_ids: bool = False) -> pd.DataFrame:
    """The first `rows` customers set aside (by customer id), each with why in words; the ids masked
    with `mask_ids` (the params' `report.mask_ids`: `segkit.report.masking`)."""
    from segkit.report.masking import masked_frame

    shown = aside.head(rows).assign(rule=[t(f"customer_rule.{r}", lang) for r in aside["rule"].head(rows)])
    return masked_frame(shown, mask_ids)


@lru_cache(maxsize=1)
def _detail_patterns() -> tuple[list[tuple[re.Pattern, str]], re.Pattern, dict[str, str]]:
    text = resources.files("segkit.locale").joinpath("details.yaml").read_text(encoding="utf-8")
    table = _load_yaml(text)
    patterns = [(re.compile(en), zh) for en, zh in table["patterns"]]
    columns = table["columns"]
    # a name between non-word characters of ASCII: a Chinese word that a pattern put beside it is no part of it
    names = re.compile(r"(?<![A-Za-z0-9_])(" + "|".join(sorted(map(re.escape, columns), key=len, reverse=True))
                       + r")(?![A-Za-z0-9_])")
    return patterns, names, columns


# Where a detail names a column: at its start, or after the words that join two columns ("category or
# product ...", "quantity × unit_price ...", "first_purchase ... is after last_purchase ..."); and
# what follows a column's name there: the end, a value (quoted, a number or a date), or the rule's words.
_COLUMN_BEFORE = r"(?:^|(?<= × )|(?<= or )|(?<= is after ))"
_COLUMN_AFTER = r'(?=$| ["\d+×-]| is | beyond | or | part ")'
# stands in for a source's column name while the rest is translated (private-use characters, no blank)
_HELD = "\ue000{}\ue001"


@lru_cache(maxsize=64)
def _source_names(names: tuple[str, ...]) -> re.Pattern | None:
    """The pattern that finds, where a detail names a column, one of the source's own column `names`."""
    if not names:
        return None
    alternatives = "|".join(map(re.escape, sorted(names, key=len, reverse=True)))
    return re.compile(_COLUMN_BEFORE + "(" + alternatives + ")" + _COLUMN_AFTER)


def detail_text(detail, lang: str, columns: dict[str, str] | None = None):
    """A set-aside row's "what is wrong" detail in `lang`: as written for "en"; for "zh" through the
    patterns of segkit/locale/details.yaml, leaving the data's values (in "quotes") as they are.
    Missing details stay missing.

    `columns` maps segkit's names to the source's own (`quarantine.attrs["columns"]`, as
    `segkit.intake.cleaning.clean_transactions` keeps it): a detail names a column as the source
    does, and such a name is the user's word, shown as it is (never translated, whatever it holds:
    Chinese, blanks, quotes); segkit's own names are translated (the `columns:` of details.yaml).

    >>> detail_text('实付金额 "12,3x" is not a number; write it like 1234.50', "zh", {"amount": "实付金额"})
    '实付金额 "12,3x" 不是数字；请写成 1234.50 的形式'
    >>> detail_text('Order "Date" 1899-01-01 is before cleaning.min_date 1900-01-01: a typo? (set min_date for '
    ...             'older data)', "zh", {"ordered_at": 'Order "Date"'})
    'Order "Date" 1899-01-01 早于 cleaning.min_date 1900-01-01：疑似录入错误？（如确有更早的数据，请设置 min_date）'
    """
    if lang == "en" or not isinstance(detail, str) or not detail:
        return detail
    patterns, names, known = _detail_patterns()
    held: list[str] = []
    own = _source_names(tuple(sorted({name for ours, name in (columns or {}).items() if name and name != ours})))
    if own is not None:  # the source's names stand aside while the rest is translated
        def hold(match: re.Match) -> str:
            held.append(match.group(1))
            return _HELD.format(len(held) - 1)

        detail = own.sub(hold, detail)
    parts = re.split(r'("[^"]*")', detail)  # odd positions: the data's values, quoted
    for i in range(0, len(parts), 2):
        text = parts[i]
        for pattern, zh in patterns:
            text = pattern.sub(zh, text)
        parts[i] = _unblanked(names.sub(lambda m: known[m.group(1)], text), held)
    text = re.sub(r"\s*([，。；：（）、])\s*", r"\1", "".join(parts)).strip()
    return re.sub("\ue000(\\d+)\ue001", lambda m: held[int(m.group(1))], text)


_BESIDE = re.compile(f"([{CJK}]|\ue000\\d+\ue001)[ \t]+(?=([{CJK}]|\ue000\\d+\ue001))")


def _unblanked(text: str, held: list[str]) -> str:
    """A detail's words (not its quoted values) without a blank between two Chinese words: a
    translated column name and the rule's words ("金额 为零或负数" -> "金额为零或负数"); a source's own
    name, held aside, counts by its first or last character."""
    def chinese(piece: str, end: bool) -> bool:
        if piece.startswith("\ue000"):
            piece = held[int(piece[1:-1])]
        return bool(piece) and bool(re.match(f"[{CJK}]", piece[-1] if end else piece[0]))

    return _BESIDE.sub(lambda m: m.group(1) if chinese(m.group(1), True) and chinese(m.group(2), False)
                       else m.group(0), text)


@lru_cache(maxsize=1)
def _terminal_patterns() -> list[tuple[re.Pattern, str]]:
    text = resources.files("segkit.locale").joinpath("terminal.yaml").read_text(encoding="utf-8")
    return [(re.compile(en), zh) for en, zh in _load_yaml(text)["patterns"]]


def terminal_text(line: str, lang: str | None) -> str:
    """A line segkit prints on the terminal (a progress line, a note, an error starting "error: ") in
    `lang`: as written for "en" (or None); for "zh" through the patterns of
    segkit/locale/terminal.yaml, which keep paths, params keys, column names and values as they are.
    A line no pattern knows stays as written.

    >>> terminal_text("[1/8] running 01_cleaning", "zh")
    '[1/8] 正在运行 01_cleaning'
    >>> terminal_text("error: data/x.csv: no such file (check source.transactions.path in the params file)", "zh")
    '错误：data/x.csv：文件不存在（请检查参数文件中的 source.transactions.path）'
    """
    if lang != "zh" or not line:
        return line
    for pattern, zh in _terminal_patterns():
        line = pattern.sub(zh, line)
    return line


def note_message(note: dict) -> tuple[str, dict]:
    """A cleaning note (a dict with `key` and its values, as `CleanResult.notes` and run.json's
    `cleaning_notes` hold it) as a (catalogue key `cleaning.note.<key>`, values) pair for `say_each`."""
    return f"cleaning.note.{note['key']}", {k: v for k, v in note.items() if k != "key"}
