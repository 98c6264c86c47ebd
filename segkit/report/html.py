"""The one place where text becomes HTML in a report: tables, sentences and headings.

Every value that comes from the data or the params (customer ids, categories, strategy texts, tag
labels, dimension names, segment labels) is escaped here, and nowhere else builds HTML for a
section page. Sentences come from the message catalogue (segkit/locale/messages.yaml) as Markdown;
the catalogue's Markdown is rendered with raw HTML switched off, and the values put into it are
escaped after rendering, so a value can neither close a tag nor become a Markdown link.

The notebooks call `table`, `say`, `reading` (the line under a chart) and `heading` for everything they show.
"""

from __future__ import annotations

import decimal
import hashlib
import html
import numbers
import re
import string
import unicodedata

import numpy as np
import pandas as pd

from segkit.i18n import close_gaps, plural_form, column_in_text, label_columns, messages, t
from segkit.report.numbers import NOT_AVAILABLE, format_spec, money

PERCENT = ("top", "answered_share", "share", "customer_share", "revenue_share", "precision", "recall", "f1", "purity",
           "accuracy", "p_alive", "clv_share", "churn_risk_share", "churn_rate", "retention_rate", "repurchase_rate",
           # cross-sell and campaigns (07_cross_sell)
           "buyer_share", "rate", "rate_low", "rate_high", "rule_support", "confidence", "treated_rate", "control_rate")
# differences of two rates (a response rate less the control group's): percentage points, the unit in the header
POINTS = ("uplift", "uplift_low", "uplift_high")
MONEY = ("revenue", "revenue_total", "avg_order_value", "median_revenue", "amount", "clv", "clv_total", "expected_spend")
MONEY_VALUES = ("revenue", "m", "m_low", "m_high", "value", "refunded", "whole_refunded")  # placeholders in the catalogue that hold money
# measures read side by side in a column, with two decimals each (0.33 and 0.56, not 0.33 and 0.558)
TWO_DECIMALS = ("distance", "lift", "rule_lift", "eval_lift", "eval_top_lift", "score",  # 3.00 beside 3.58, never "3"
                # purchases per customer, actual and predicted side by side (0.90 beside 0.42)
                "actual_mean", "predicted_mean", "eval_bgnbd_predicted_mean", "eval_pareto_predicted_mean")
# the same for an NPS (-100 to 100: 40.8 beside -2.8 and 0.0) and the indices of a classification's
# quality (0 to 1 or so: silhouette 0.035 beside 0.399, F1 0.000 beside 0.607, Jaccard 0.890 beside 0.919)
ONE_DECIMAL = ("nps", "eval_calinski_harabasz")
# indices around 100 (100 = all customers): 110 beside 96, never 96.2; days (a median of 79.5 days: 80)
WHOLE = ("index", "revenue_index", "recency_days")
THREE_DECIMALS = ("silhouette", "eval_davies_bouldin", "eval_mean_jaccard", "eval_min_jaccard", "eval_f1",
                  "eval_tree_f1", "eval_high_f1", "eval_stability", "rank_score")
_TOKEN = "SEGKITVALUE{}X"  # letters only: Markdown leaves it alone, so it survives rendering intact
# Bidirectional controls in a value could reverse the text after it (e.g. U+202E); they are shown by name.
_BIDI_CONTROLS = {code: f"[U+{code:04X}]" for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C)}


def escape(value) -> str:
    """`value` as text that HTML shows literally: &, <, >, quotes escaped; bidirectional control
    characters (which could reverse the text around them) shown by their code, e.g. [U+202E]."""
    return html.escape(str(value).translate(_BIDI_CONTROLS), quote=True)


class Rendered:
    """HTML that went through this module: what a notebook cell displays (IPython's rich display)."""

    def __init__(self, markup: str):
        self.markup = markup

    def _repr_html_(self) -> str:
        return self.markup

    def __str__(self) -> str:
        return self.markup


class Money:
    """An amount shown in the run's currency and language (`segkit.report.numbers.money`): the symbol,
    thousands separators and the currency's minor unit of decimals, or none for a ".0f" format
    (`format(Money(1234.5, currency), ",.2f")` -> "¥1,234.50"; for a currency with minor unit 3,
    "BD1,234.500"). `currency` is `params.currency` (symbol, minor_unit) or None for a plain number
    with 2 decimals; `lang` the report language (en, zh)."""

    def __init__(self, amount: float, currency=None, lang: str = "en"):
        self.amount = amount
        self.currency = currency
        self.lang = lang

    def __format__(self, spec: str) -> str:
        # The currency's decimals, except where a sentence asks for whole units ("{revenue:,.0f}").
        return money(self.amount, self.lang, self.currency, 0 if spec.endswith(".0f") else None,
                     sign=spec.startswith("+"))

    def __str__(self) -> str:
        return format(self, "")


def render_markdown(template: str, lang: str = "en", **values) -> str:
    """HTML from a catalogue template in Markdown, with `{placeholders}` filled by escaped values.

    Each placeholder is formatted with its spec (`{share:.1%}`) in `lang` (numbers through
    `segkit.report.numbers.format_spec`), replaced by a token, the Markdown
    is rendered with raw HTML off, and the tokens are replaced by the escaped values. A number that
    is not finite (NaN, inf: a figure the data cannot give) is shown as "—", never as "nan".
    """
    from markdown_it import MarkdownIt

    from segkit.i18n import in_language

    values = in_language(values, lang)
    literals, shown, tokens = [], [], []
    for number, (literal, field, spec, conversion) in enumerate(string.Formatter().parse(template)):
        literals.append(literal)
        if field is None:
            continue
        value = values[field]
        if conversion:
            value = {"r": repr, "s": str, "a": ascii}[conversion](value)
        shown.append(NOT_AVAILABLE if _not_finite(value) else format_spec(value, spec or "", lang))
        tokens.append(_TOKEN.format(number))
    if lang == "zh":  # no blank between a value and the Chinese words beside it
        literals = close_gaps(literals, shown)
    filled = {token: escape(text) for token, text in zip(tokens, shown)}
    markup = MarkdownIt("commonmark", {"html": False}).render(
        "".join(literal + (tokens[i] if i < len(tokens) else "") for i, literal in enumerate(literals)))
    for token, text in filled.items():
        markup = markup.replace(token, text)
    return markup



def _not_finite(value) -> bool:
    if isinstance(value, Money):
        value = value.amount
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Number | decimal.Decimal):
        return False
    try:
        return not np.isfinite(float(value))
    except (TypeError, ValueError, OverflowError):
        return False


def say(key: str, lang: str, currency=None, **values) -> Rendered:
    """The catalogue sentence `key` in `lang`, with the values escaped, for a notebook cell to display.
    Values named like money (revenue, m, m_low, m_high, value) are shown in `currency` (params.currency)."""
    t(key, lang)  # the same errors as t() for an unknown key or language
    values = {name: Money(value, currency, lang) if name in MONEY_VALUES and _is_number(value)
              else Money(value.amount, value.currency, lang) if isinstance(value, Money)  # made without the language
              else value for name, value in values.items()}
    return Rendered(render_markdown(messages()[key][lang], lang, **values))


READING_CLASS = "segkit-reading"


def reading(key: str, lang: str, **values) -> Rendered:
    """The short "how to read this" line under a chart: the catalogue sentence `key` (a `read.*` key of
    segkit/locale/messages_layout.yaml) after the words "How to read:" ("读图："), escaped as `say`
    escapes, in a paragraph of class segkit-reading that the page styles as the chart's caption and
    the PDF keeps on the chart's page."""
    t(key, lang)  # the same errors as t() for an unknown key or language
    lead = escape(t("layout.how_to_read", lang))
    body = render_markdown(messages()[key][lang], lang, **values)
    space = "" if lead.endswith("：") else " "  # a full-width colon carries its own space
    body = re.sub(r"^<p>", f'<p class="{READING_CLASS}"><strong>{lead}</strong>{space}', body.strip(), count=1)
    return Rendered(body)


def say_each(sentences, lang: str, currency=None) -> Rendered:
    """Several catalogue sentences, one after the other: `sentences` is a list of (key, values) pairs
    (e.g. `CustomerLevel.messages(lang)`), each rendered as `say` renders it."""
    return Rendered("".join(say(key, lang, currency, **values).markup for key, values in sentences))


def _is_number(value) -> bool:
    # Python, NumPy and Decimal numbers alike; not booleans, not NaN or missing values
    return isinstance(value, numbers.Number | decimal.Decimal) and not isinstance(value, bool | np.bool_) \
        and not pd.isna(value)


def heading(key: str, lang: str, level: int = 1) -> Rendered:
    """A heading from the catalogue (h1 by default)."""
    return Rendered(f"<h{level}>{escape(t(key, lang))}</h{level}>")


def table(frame: pd.DataFrame, lang: str, max_rows: int | None = None, currency=None, labels: list[str] | None = None):
    """A styled, translated table for a report: a pandas Styler with the index hidden, whose
    cells and column labels are all escaped. Number formats follow what a column holds (its
    segkit name: revenue is money, customer_share a percentage; else its type); money columns are
    shown in `currency` (params.currency: symbol and minor unit). `labels`, when given, are the
    column labels to show as they are (e.g. values from the data), and formats follow the types only."""
    shown = frame.head(max_rows) if max_rows else frame
    by_name = labels is None  # segkit's own column names say how to format; labels from the data do not
    if by_name:
        labels = list(label_columns(shown, lang).columns)
    elif len(labels) != shown.shape[1]:
        raise ValueError(f"labels must name {plural_form(shown.shape[1], 'the 1 column', f'each of the {shown.shape[1]} columns', 'en')}, "
                         f"got {len(labels)}")
    # A positional copy: column names, repeated ones or ones from the data, are not looked up again.
    plain = shown.set_axis(range(shown.shape[1]), axis="columns").reset_index(drop=True)
    formats = {position: _format_of(name if by_name and isinstance(name, str) else None, plain[position])
               for position, name in enumerate(shown.columns)}
    styled = plain.style.format({position: _formatter(spec, currency, lang) for position, spec in formats.items()},
                                na_rep="—")
    text = [position for position in plain.columns if not pd.api.types.is_numeric_dtype(plain[position])]
    if text:
        styled = styled.set_properties(subset=text, **{"text-align": "left"})
    # relabel_index reads a text label as a format template: braces from the data are doubled.
    # A label from the data (a product's name) may be any length: a header shows HEADER_WIDTH columns of it.
    shown_labels = [_unbroken_words(short_label(label, HEADER_WIDTH)).replace("{", "{{").replace("}", "}}")
                    for label in labels]
    styled = styled.relabel_index(shown_labels, axis="columns").hide(axis="index")
    classes = " ".join(("segkit-table", *_width_classes([short_label(label, HEADER_WIDTH) for label in labels],
                                                          plain, formats, currency, lang)))
    return styled.set_uuid(_stable_id(shown)).set_table_attributes(f'class="{classes}"')


# How much of a text from the data a table shows, in display columns (a CJK character counts two), the
# rest cut with "…": a column header (segkit's own are at most 42), and a cell (segkit's own sentences
# are shorter; the data's full values stay in the run's files).
HEADER_WIDTH, CELL_WIDTH = 48, 400


# How wide a table may be, in characters of its shown text (a CJK character counts two), before the
# printed report (segkit.report.pages.PRINT_CSS) changes how it sets it: about 95 characters fit an A4
# portrait page at the report's size; wider, it is set at 7 pt ("segkit-wide", about 125 fit); wider
# still, at 5.5 pt ("segkit-widest", about 160 fit), still portrait, so that a short wide table does
# not leave two pages half empty around a landscape one; beyond, at 5.5 pt on a landscape page
# ("segkit-huge", about 250 fit).
WIDE_TABLE_CHARS = 95
WIDEST_TABLE_CHARS = 125
HUGE_TABLE_CHARS = 160


def table_width(labels, plain: pd.DataFrame, formats: dict, currency=None, lang: str = "en") -> int:
    """The width of a table as shown, in characters: per column, the longest of its label's longest
    word (a label wraps between words) and its longest formatted cell, plus two for the padding."""
    total = 0
    for position, label in zip(plain.columns, labels):
        words = [part for word in str(label).split() for part in _breakable_parts(word)] or [""]
        shown = _formatter(formats[position], currency, lang)
        cells = [NOT_AVAILABLE if _missing(value) else shown(value) for value in plain[position].head(200)]
        total += max([*(_text_width(word) for word in words), *(_cell_width(text) for text in cells)]) + 2
    return total


WRAPPED_CELL_CHARS = 30  # a cell of words (or of CJK text, which breaks anywhere) wraps to about this width


def _text_width(text) -> int:
    shown = html.unescape(str(text).replace("<wbr>", ""))
    return sum(2 if unicodedata.east_asian_width(character) in "WF" else 1 for character in shown)


LABEL_WIDTH = 24  # a chart's tick label's width at most, in columns (a Chinese character takes two)


def short_label(text, width: int = LABEL_WIDTH) -> str:
    """`text` cut to at most `width` display columns (East Asian wide characters count two: the
    Unicode East Asian Width property), ending in "…" when cut: a long product name as a tick label
    or a column header that does not run into its neighbours or off the page.

    >>> short_label("Set of 3 Cake Tins Pantry Design, red"), short_label("儿童保温杯316不锈钢带吸管大容量上学专用")
    ('Set of 3 Cake Tins Pant…', '儿童保温杯316不锈钢带吸…')
    """
    text = str(text)
    used, kept = 0, []
    for char in text:
        used += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
        kept.append(char)
        if used > width:
            break
    else:
        return text
    while sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in kept) > width - 1:
        kept.pop()
    return "".join(kept).rstrip() + "…"


def _cell_width(text) -> int:
    width = _text_width(text)
    plain = html.unescape(str(text).replace("<wbr>", ""))
    wraps = (" " in plain.strip() or any(unicodedata.east_asian_width(character) in "WF" for character in plain)
             or _LONG_RUN.search(plain) is not None)  # a long run breaks (escaped_breakable)
    return min(width, WRAPPED_CELL_CHARS) if wraps else width


def _missing(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or an array in a cell is shown, not missing
        return False


def _width_classes(labels, plain: pd.DataFrame, formats: dict, currency=None, lang: str = "en") -> tuple[str, ...]:
    width = table_width(labels, plain, formats, currency, lang)
    limits = (("segkit-wide", WIDE_TABLE_CHARS), ("segkit-widest", WIDEST_TABLE_CHARS), ("segkit-huge", HUGE_TABLE_CHARS))
    return tuple(name for name, limit in limits if width > limit)


def _format_of(name: str | None, values: pd.Series):
    # The format specs of segkit.report.numbers.format_spec; ",.3g" never gives an exponent there.
    if name in PERCENT:
        return ".1%"
    if name in POINTS:
        return _Points
    if name in MONEY:
        return Money
    if name == "source_row":
        return "d"  # a line number, not a quantity
    if pd.api.types.is_float_dtype(values):
        for names, spec in ((WHOLE, ",.0f"), (ONE_DECIMAL, ",.1f"), (TWO_DECIMALS, ",.2f"), (THREE_DECIMALS, ",.3f")):
            if name in names:
                return spec
    if pd.api.types.is_datetime64_any_dtype(values):  # to the second, as people look rows up (no microseconds)
        return "%Y-%m-%d %H:%M:%S"
    if pd.api.types.is_integer_dtype(values):
        return ","
    if pd.api.types.is_float_dtype(values):
        return ",.3g"
    return None


class _Points:
    """The format of POINTS columns: a difference of two shares in percentage points, one decimal."""


def _formatter(spec, currency, lang: str = "en"):
    # Every cell, whatever its type, leaves as escaped text; a number that is not finite as a dash.
    # Numbers in the report's language (segkit.report.numbers), full digits.
    if spec is Money:
        def shown(value):
            return escape(format(Money(value, currency, lang), ",.2f")) if _is_number(value) else escape(value)
    elif spec is _Points:  # 0.052 as 5.2 (the header says percentage points)
        def shown(value):
            return escape(format_spec(value * 100, ",.1f", lang)) if _is_number(value) else escape(value)
    elif spec:
        def shown(value):
            return escape(format_spec(value, spec, lang))
    else:
        def shown(value):  # text from the data may be any length: a cell shows CELL_WIDTH columns of it
            return escaped_breakable(short_label(value, CELL_WIDTH))
    return lambda value: NOT_AVAILABLE if _not_finite(value) else shown(value)


# A run of this many characters with no break in it (a long code, a URL) may break every
# BREAK_EVERY characters in a table cell, so that it never pushes the columns after it off the page;
# shorter runs (numbers, ids, dates) never break.
LONG_RUN_CHARS, BREAK_EVERY = 60, 20
_LONG_RUN = re.compile(rf"\S{{{LONG_RUN_CHARS},}}")


def escaped_breakable(value) -> str:
    """`escape(value)`, with a line-break opportunity (<wbr>) every BREAK_EVERY characters of each run
    of LONG_RUN_CHARS or more without white space: the text is escaped piece by piece, and only
    segkit's own <wbr> is markup."""
    text = str(value)
    parts, position = [], 0
    for match in _LONG_RUN.finditer(text):
        run = match.group(0)
        parts.append(escape(text[position:match.start()]))
        parts.append("<wbr>".join(escape(run[i:i + BREAK_EVERY]) for i in range(0, len(run), BREAK_EVERY)))
        position = match.end()
    parts.append(escape(text[position:]))
    return "".join(parts)


def _breakable_parts(word: str) -> list[str]:
    """A header word split where a Chinese header may break without a space: before a full-width
    opening parenthesis (客户（原值） breaks as 客户 / （原值）, as "Customer (as given)" does)."""
    return [part for part in re.split(r"(?=（)", word) if part] or [word]


def _unbroken_words(label) -> str:
    """`escape(label)`, each word of Chinese (or other East Asian wide) characters in it kept on one line
    (a span of class segkit-nobreak): a header breaks between its words, never inside 销售额 as a line
    breaker otherwise may between any two such characters; a word's parts (`_breakable_parts`) may go
    on two lines. `table_width` counts each part whole."""
    words = str(label).split(" ")
    if not any(unicodedata.east_asian_width(character) in "WF" for character in str(label)):
        return escape(label)

    def unbroken(word: str) -> str:
        if not any(unicodedata.east_asian_width(c) in "WF" for c in word):
            return escape(word)
        return "<wbr>".join(f'<span class="segkit-nobreak">{escape(part)}</span>' for part in _breakable_parts(word))

    return " ".join(unbroken(word) for word in words)


def _stable_id(frame: pd.DataFrame) -> str:
    # Styler ids are random by default; one from the content keeps identical runs identical.
    digest = hashlib.sha256(frame.to_csv().encode("utf-8", "surrogatepass")).hexdigest()
    return f"segkit{digest[:10]}"


def dimension_tables(profile: pd.DataFrame, column: str, dimensions, segment_map, lang: str,
                     currency=None) -> Rendered | None:
    """One segment-by-dimension table per dimension the data has (customer type, region, ...); for a
    dimension no customer has a value of, a sentence saying so instead of a table."""
    from segkit.report.tables import segments_by

    parts = []
    for dimension in dimensions:
        if dimension not in profile.columns:
            continue
        name = column_in_text(dimension, lang, ("dimension", "col"))
        values = profile[dimension]
        if not (values.notna() & values.astype("string").str.strip().ne("")).any():
            parts.append(say("rfm.dimension_empty", lang, dimension=name).markup)  # a table of one "(empty)" column
            continue
        parts.append(say("rfm.by_dimension", lang, dimension=name).markup)
        counts, labels = segments_by(profile, column, dimension, segment_map, lang)
        parts.append(table(counts, lang, currency=currency, labels=labels).to_html())
    return Rendered("\n".join(parts)) if parts else None
