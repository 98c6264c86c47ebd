"""Every number the report shows, formatted in the report's language and currency: the one place.

Tables (`segkit.report.html.table`), sentences (`segkit.report.html.say`), the index page's headline
figures (`segkit.report.pages.format_kpis`) and the charts' axes and annotations (`segkit.report.plots`)
all call these functions. The formatting itself is Babel's (the CLDR locale data: separators, signs,
percent and currency patterns, the Chinese units 万 and 亿), for the locales en_US and zh_CN.

Decisions, for a reader of the report:
- tables and sentences show full digits in both languages ("¥1,234,567.89", "12.5%");
- headline figures (the index page's cards, the executive summary) use the Chinese units in Chinese
  where they are large, as a Chinese analyst writes them: money from 1万 on ("¥250.0万", "¥1.23亿"),
  counts from 10万 on ("23.6万"); in English they stay in full ("$2,500,315.63", "23,570");
- money carries the symbol of the params (`params.currency.symbol`, e.g. "¥", "$") and the currency's
  own decimals (`minor_unit`: 2 for most, 0 for JPY, 3 for BHD), never "-¥0.00";
- a number is never written in exponent form ("1.23e+06" is not a figure a manager reads);
- a share that is not exactly 0 or 1 never reads "0%" or "100%": "<0.1%", ">99.9%" (`percent`).

>>> money(1234.5, "en", _Currency("£", 2)), percent(0.1234, "zh"), headline_money(25_003_156.3, "zh", _Currency("¥", 2))
('£1,234.50', '12.3%', '¥2,500.3万')
"""

from __future__ import annotations

import decimal
import functools
import numbers as _numbers
import re

from babel import Locale
from babel.numbers import format_decimal, format_percent, parse_pattern

LOCALES = {"en": "en_US", "zh": "zh_CN"}
NOT_AVAILABLE = "—"
# Python format specs the message catalogue uses ("{share:.1%}", "{m:,.2f}", "{n:,}", "{delta:+.1%}"):
# sign, grouping, precision and type; anything else (widths, fills, strings) is Python's own format().
_SPEC = re.compile(r"^(?P<sign>[+]?)(?P<comma>,?)(?:\.(?P<precision>\d+))?(?P<kind>[dfg%]?)$")
# Headline figures in Chinese: the units 万 (10^4) and 亿 (10^8) from these sizes on.
COMPACT_MONEY_FROM = 10_000
COMPACT_COUNT_FROM = 100_000


class _Currency:  # for the doctest: what params.currency gives (symbol, minor_unit)
    def __init__(self, symbol, minor_unit):
        self.symbol, self.minor_unit = symbol, minor_unit


@functools.cache
def locale_of(lang: str) -> Locale:
    """The Babel locale of a report language ("en" -> en_US, "zh" -> zh_CN); ValueError naming the
    valid languages for any other."""
    if lang not in LOCALES:
        raise ValueError(f"lang must be one of {', '.join(LOCALES)}, got {lang!r}")
    return Locale.parse(LOCALES[lang])


NOT_A_FIGURE = "—"  # what a missing number (None, NaN) shows


def _not_finite(value) -> str | None:
    """How a value that is not a finite number is shown ("—" for missing or NaN, "∞" or "-∞" for an
    unbounded figure, e.g. the upper end of an interval the data cannot bound); None for a finite one."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return NOT_A_FIGURE if value is None else None
    if number != number:
        return NOT_A_FIGURE
    if number in (float("inf"), float("-inf")):
        return "∞" if number > 0 else "-∞"
    return None


def _exact(value) -> decimal.Decimal:
    # floats through their shortest repr (0.1 stays 0.1), Decimal and NumPy numbers alike
    return value if isinstance(value, decimal.Decimal) else decimal.Decimal(str(value))


def _pattern(decimals: int | None, grouping: bool = True, sign: bool = False, kind: str = "") -> str:
    number = ("#,##0" if grouping else "0") + ("." + "0" * decimals if decimals else "")
    positive = f"{number}{kind}"
    return f"+{positive};-{positive}" if sign else positive


def _signed_zero(text_value: decimal.Decimal, decimals: int | None) -> decimal.Decimal:
    # "-0.00" is no figure: a value that rounds to zero is shown as zero
    if decimals is not None and text_value.quantize(decimal.Decimal(1).scaleb(-decimals),
                                                    rounding=decimal.ROUND_HALF_EVEN).is_zero():
        return abs(text_value)
    return text_value


def decimal_number(value, lang: str, decimals: int | None = None, grouping: bool = True, sign: bool = False) -> str:
    """`value` with `decimals` decimals (None: as many as it has), thousands separators unless
    `grouping` is False, a "+" on positive values when `sign`: decimal_number(1234.5, "zh", 2) -> "1,234.50"."""
    shown = _not_finite(value)
    if shown is not None:
        return shown
    exact = _signed_zero(_exact(value), decimals)
    if decimals is None:
        return format_decimal(exact, _pattern(None, grouping, sign), locale=locale_of(lang), decimal_quantization=False)
    return format_decimal(exact, _pattern(decimals, grouping, sign), locale=locale_of(lang))


def significant(value, lang: str, digits: int = 3, grouping: bool = True) -> str:
    """`value` to `digits` significant digits, never in exponent form: significant(1234567.25, "en")
    -> "1,230,000"; significant(0.012345, "en") -> "0.0123"."""
    shown = _not_finite(value)
    if shown is not None:
        return shown
    # a float is rounded as Python rounds it (its binary value), so "{x:.3g}" and this agree
    exact = decimal.Decimal(value) if isinstance(value, float) else _exact(value)
    if exact.is_zero() or not exact.is_finite():
        return decimal_number(exact, lang, None, grouping)
    rounded = exact.quantize(decimal.Decimal(1).scaleb(exact.adjusted() - digits + 1), rounding=decimal.ROUND_HALF_EVEN)
    return decimal_number(rounded.normalize() if rounded.adjusted() >= digits else rounded, lang, None, grouping)


def integer(value, lang: str) -> str:
    """A count with thousands separators: integer(23570, "zh") -> "23,570"."""
    shown = _not_finite(value)
    if shown is not None:
        return shown
    return format_decimal(int(value), "#,##0", locale=locale_of(lang))


# how near 0 or ±1 a share is taken as exactly that: far below any share of real counts (one in a billion)
EXACT_WITHIN = decimal.Decimal("1e-9")


def percent(value, lang: str, decimals: int = 1, sign: bool = False) -> str:
    """A share (0.123 = 12.3%) as a percentage with `decimals` decimals: percent(0.1234, "en") -> "12.3%".

    A share that is not exactly 0 never reads 0%, nor one that is not exactly 1 (or -1) 100%: they
    are said as the nearest figure shown with the side they lie on, "<0.1%" (">-0.1%"), ">99.9%"
    ("<-99.9%"); a sentence said "100% of all customers stayed" above a table of one who moved.
    Within EXACT_WITHIN of 0 or ±1 (floating-point noise of a sum) a share is that exactly.
    percent(0.99996, "en") -> ">99.9%"; percent(0.0004, "zh", 0) -> "<1%"."""
    shown = _not_finite(value)
    if shown is not None:
        return shown
    exact = _exact(value)
    # a sum or a difference of floats lands beside 0 and 1 by noise (0.7 + 0.2 + 0.1 = 0.9999999999999999): a
    # share that close is exactly what it is beside, not "<0.1%" or ">99.9%"
    for whole in (0, 1, -1):
        if abs(exact - whole) < EXACT_WITHIN:
            exact = decimal.Decimal(whole)
    step = decimal.Decimal(1).scaleb(-decimals - 2)  # the smallest share shown: 0.001 for one decimal
    rounded = (exact / step).quantize(decimal.Decimal(1), rounding=decimal.ROUND_HALF_EVEN) * step
    pattern = _pattern(decimals, True, sign, "%")

    def bound(mark: str, figure: decimal.Decimal) -> str:  # "<0.1%", never "<+0.1%"
        return mark + format_percent(figure, _pattern(decimals, True, False, "%"), locale=locale_of(lang))

    if not exact.is_zero() and rounded.is_zero():
        return bound("<", step) if exact > 0 else bound(">", -step)
    if abs(exact) != 1 and abs(rounded) == 1 and abs(exact) < 1:
        return bound(">", 1 - step) if exact > 0 else bound("<", step - 1)
    exact = _signed_zero(exact * 100, decimals) / 100
    return format_percent(exact, pattern, locale=locale_of(lang))


def money(amount, lang: str, currency=None, decimals: int | None = None, sign: bool = False) -> str:
    """An amount in the run's currency: the params symbol where the locale puts the currency sign,
    thousands separators, the currency's decimals (`currency.minor_unit`, or `decimals` when given,
    e.g. 0 for whole units); "-£12.30" for a negative amount, never "-£0.00". `currency` is
    `params.currency` (symbol, minor_unit) or None for a plain number with 2 decimals."""
    shown = _not_finite(amount)
    if shown is not None:
        return shown
    symbol = getattr(currency, "symbol", "") or ""
    digits = getattr(currency, "minor_unit", 2) if decimals is None else decimals
    exact = _signed_zero(_exact(amount), digits)
    # The locale's currency pattern ("¤#,##0.00" in en_US and zh_CN) with the params symbol as a literal.
    pattern = parse_pattern(locale_of(lang).currency_formats["standard"].pattern)
    quoted = "'" + symbol.replace("'", "''") + "'" if symbol else ""
    prefix, suffix = (part.replace("¤", quoted) for part in (pattern.prefix[0], pattern.suffix[0]))
    text = format_decimal(abs(exact), f"{prefix}{_pattern(digits)}{suffix}", locale=locale_of(lang))
    if exact < 0:
        return locale_of(lang).number_symbols["latn"]["minusSign"] + text
    return ("+" + text) if sign and exact > 0 else text


def _compact(value, lang: str, decimals: int) -> tuple[str, str] | None:
    """(number, unit) of `value` in the locale's short compact units (Chinese: 万, 亿, 万亿), with
    grouping and `decimals` decimals, or None below the first unit. The unit and its size come from
    Babel's locale data; the number keeps its thousands separators ("1,234.6万", not Babel's "1234.6万")."""
    exact = abs(_exact(value))
    steps = locale_of(lang).compact_decimal_formats["short"]["other"]
    size = max((int(step) for step in steps if int(step) <= exact), default=None)
    if size is None:
        return None
    pattern = steps[str(size)].pattern
    zeros = pattern.count("0")
    unit = pattern.replace("0", "").strip()
    if not unit:
        return None
    divisor = decimal.Decimal(size) / decimal.Decimal(10) ** (zeros - 1)
    return decimal_number(_exact(value) / divisor, lang, decimals), unit


def headline_money(amount, lang: str, currency=None) -> str:
    """A headline amount (the index page's cards): in Chinese from 1万 on in 万 or 亿 with one decimal
    ("¥2,500.3万", "¥1.2亿"); otherwise as `money` shows it (English: full digits)."""
    shown = _not_finite(amount)
    if shown is not None:
        return shown
    compact = _compact(amount, lang, 1) if lang == "zh" and abs(_exact(amount)) >= COMPACT_MONEY_FROM else None
    if compact is None:
        return money(amount, lang, currency)
    number, unit = compact
    symbol = getattr(currency, "symbol", "") or ""
    sign = "-" if number.startswith("-") else ""
    return f"{sign}{symbol}{number.lstrip('-')}{unit}"


def headline_count(value, lang: str) -> str:
    """A headline count: in Chinese from 10万 on in 万 or 亿 with one decimal ("23.6万"), else in
    full ("23,570")."""
    shown = _not_finite(value)
    if shown is not None:
        return shown
    compact = _compact(value, lang, 1) if lang == "zh" and abs(_exact(value)) >= COMPACT_COUNT_FROM else None
    return integer(value, lang) if compact is None else "".join(compact)


def axis_number(value, lang: str) -> str:
    """A tick label on a chart's axis: up to two decimals as needed, thousands separators; in Chinese
    large values in 万 / 亿 ("250万"), as Chinese charts label them."""
    shown = _not_finite(value)
    if shown is not None:
        return shown
    if lang == "zh" and abs(_exact(value)) >= COMPACT_COUNT_FROM:
        compact = _compact(value, lang, 0)
        if compact is not None:
            number, unit = compact
            return number + unit
    return decimal_number(round(float(value), 2), lang, None)


def axis_money(amount, lang: str, currency=None) -> str:
    """A tick label on a money axis: `axis_number` with the run's currency sign (`currency.symbol`),
    "-$1,500" below zero: axis_money(500_000, "en", usd) -> "$500,000"; in Chinese "¥50万"."""
    shown = _not_finite(amount)
    if shown is not None:
        return shown
    text = axis_number(abs(float(amount)), lang)
    symbol = getattr(currency, "symbol", "") or ""
    minus = locale_of(lang).number_symbols["latn"]["minusSign"] if float(amount) < 0 and text.strip("0.") else ""
    return f"{minus}{symbol}{text}"


def short_money(amount, lang: str, currency=None) -> str:
    """An amount written beside a chart's line or in its cells: whole units in English ("$2,500,000"),
    in Chinese from 1万 on in 万 / 亿 as `headline_money` ("¥250.0万"), else whole units ("¥850")."""
    shown = _not_finite(amount)
    if shown is not None:
        return shown
    if lang == "zh" and abs(_exact(amount)) >= COMPACT_MONEY_FROM:
        return headline_money(amount, lang, currency)
    return money(amount, lang, currency, decimals=0)


def is_number(value) -> bool:
    """True for Python, NumPy and Decimal numbers; False for booleans and everything else."""
    import numpy as np

    return isinstance(value, _numbers.Number | decimal.Decimal) and not isinstance(value, bool | np.bool_)


def format_spec(value, spec: str, lang: str) -> str:
    """`value` formatted by a Python format spec as the message catalogue writes it ("{share:.1%}",
    "{m:,.2f}", "{n:,}", "{x:,.4g}", "{d:+.1%}"), in `lang` through Babel. A spec of another kind, or
    a value that is not a number, goes to Python's format() unchanged. "g" never gives an exponent."""
    found = _SPEC.match(spec or "")
    if not spec or found is None or not is_number(value):
        return format(value, spec or "")
    sign, grouping, kind = bool(found["sign"]), bool(found["comma"]), found["kind"]
    precision = None if found["precision"] is None else int(found["precision"])
    if kind == "%":
        return percent(value, lang, 6 if precision is None else precision, sign)
    if kind == "d":
        return (("+" if sign and value > 0 else "") + format_decimal(int(value), "#,##0" if grouping else "0",
                                                                     locale=locale_of(lang)))
    if kind == "g":
        shown = significant(value, lang, 6 if precision is None else max(precision, 1), grouping)
        return ("+" + shown) if sign and value > 0 else shown
    if kind == "f":
        return decimal_number(value, lang, 6 if precision is None else precision, grouping, sign)
    # "," alone (or a sign alone): the number as it is, with separators
    return decimal_number(value, lang, None, grouping, sign)
