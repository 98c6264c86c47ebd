"""Reading values the way people type them: amounts, quantities, dates and identifiers from exports.

Each parser takes a pandas Series (text as exported, or values that already have a type) and
returns a `Parsed`: the typed values, for each fix the rows whose value it changed, and for each
row it could not read the problem in words. A value is fixed only where the fix is certain
(a currency sign, a thousands separator under the stated decimal convention, full-width digits,
a date in another unambiguous layout or with an English month name, an Excel serial day); anything
else is left missing with the problem stated, for the cleaning stage to set the row aside.

>>> parse_amount(pd.Series(["12.50", "¥1,234.50", "1,2O4.50"])).values.tolist()
[12.5, 1234.5, nan]
"""

from __future__ import annotations

import decimal
import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from segkit.errors import DataError
from segkit.i18n import counted

# The order in which fixes are listed on a row (and in the ledger).
FIXES = ("filled_from_order", "trimmed_blanks", "invisible_characters", "unicode_nfc", "full_width", "excel_text_formula", "html_entity",
         "integral_float_id", "zero_padded_id", "id_normalised", "currency_text", "date_format", "date_order_by_column",
         "time_zone_converted", "excel_serial_date")
# (`id_normalised` is made in the engine, after the text fixes: `segkit.intake.ids`, `cleaning.customer_ids`)

# Characters that print as nothing and only split one value in two: control characters (NUL ...,
# not the tab and line breaks that are blanks), the soft hyphen, zero-width space/joiners, the
# direction marks and embeddings, the word joiner and the byte-order mark (zero-width no-break space).
INVISIBLE = "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"

# Full-width ASCII (Ｃ００１, １２．５) and the ideographic space, as Chinese input methods type them.
_FULL_WIDTH = {chr(code): chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F)}
_FULL_WIDTH.update({"\u3000": " ", "\uffe5": "¥", "\uffe1": "£", "\uffe0": "¢"})
FULL_WIDTH_TABLE = str.maketrans(_FULL_WIDTH)
# the same as two strings of equal length (full-width, then ASCII), for an engine's translate()
FULL_WIDTH_MARKS = ("".join(_FULL_WIDTH), "".join(_FULL_WIDTH.values()))
# In labels shown as written (categories, products, channels, statuses, attributes), only full-width digits and
# letters are a flaw: Chinese punctuation (T恤（白色）, 耳机：降噪款！, 卖家已发货，等待买家确认) and the
# ideographic space are the text; the full-width fix proper is for what is parsed (numbers, dates, ids)
_WIDE_ALNUM = "[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]"
LABEL_WIDTH_TABLE = str.maketrans({c: _FULL_WIDTH[c] for c in _FULL_WIDTH if re.fullmatch(_WIDE_ALNUM, c)})
# the transaction columns read as labels (`parse_text(..., labels=True)`)
LABELS = ("category", "product", "channel", "status")

# The currencies (ISO 4217 codes) that each sign or code amounts are read with can stand for. A
# symbol's set holds at least every currency that CLDR (babel's locale data) writes with it in some
# locale, so that a sign is taken for another currency's only where it cannot be the params' (a bare
# "$" is the sign of many dollars and pesos, HKD's too as Hong Kong writes it; ¥ is the yuan's and
# the yen's); RMB and 元 are how Chinese exports write the yuan. 元 is read only after the number.
_DOLLAR_SIGN = frozenset({"ARS", "AUD", "BBD", "BMD", "BND", "BSD", "BZD", "CAD", "CLP", "COP", "CUP", "FJD", "GYD",
                          "HKD", "JMD", "KYD", "LRD", "MXN", "NAD", "NZD", "SBD", "SGD", "SRD", "TTD", "TWD", "USD",
                          "UYU", "XCD"})
SIGN_CURRENCIES = {"US$": frozenset({"USD"}), "HK$": frozenset({"HKD"}), "$": _DOLLAR_SIGN,
                   "¥": frozenset({"CNY", "JPY"}), "RMB": frozenset({"CNY"}), "元": frozenset({"CNY"}),
                   "€": frozenset({"EUR"}), "£": frozenset({"FKP", "GBP", "GIP", "SHP", "SSP"}),
                   **{code: frozenset({code}) for code in ("CNY", "USD", "EUR", "GBP", "HKD", "JPY")}}

_CURRENCY = "|".join(re.escape(sign) for sign in sorted(set(SIGN_CURRENCIES) - {"元"}, key=lambda s: (-len(s), s)))
_AMOUNT = (rf"^(?P<sign1>[+-]?)\s*(?P<pre>{_CURRENCY})?\s*(?P<sign2>[+-]?)\s*(?P<body>[\d.,' ]+?)\s*"
           rf"(?P<post>{_CURRENCY}|元)?$")
_NO_BREAK_SPACES = "[\u00a0\u202f\u2009\u2007]"  # no-break, narrow no-break, thin and figure spaces
_PLAIN = {".": r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$", ",": r"^[+-]?\d+(?:,\d+)?$"}
_GROUPED = {".": r"^(?:\d{1,3}(?:,\d{3})+|\d{1,3}(?: \d{3})+|\d{1,3}(?:'\d{3})+|\d+)(?:\.\d+)?$",
            ",": r"^(?:\d{1,3}(?:\.\d{3})+|\d{1,3}(?: \d{3})+|\d{1,3}(?:'\d{3})+|\d+)(?:,\d+)?$"}

# a time of day, on the 24-hour clock or the 12-hour one with AM/PM (US exports: "1/5/2024 3:04 PM",
# "January 5, 2024 9:05:07 a.m.") or 上午/下午 before it (a Chinese Excel's "2024/3/5 下午 2:03:00");
# `_on_24_hour_clock` reads the hour
_CLOCK = (r"(?:(?P<half>上午|下午)\s*)?(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.\d{1,9})?)?"
          r"(?:\s*(?P<meridiem>[AaPp]\.?[Mm]\.?))?")
_TIME = rf"(?:[ T]+{_CLOCK})?"
_ISO = (r"^(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})(?:[ T](?P<hour>\d{2}):(?P<minute>\d{2})"
        r"(?::(?P<second>\d{2})(?:\.\d{1,9})?)?(?: ?(?P<offset>Z|[+-]\d{2}(?::?\d{2})?))?)?$")
_YMD = rf"^(?P<year>\d{{4}})\s*[-/.年]\s*(?P<month>\d{{1,2}})\s*[-/.月]\s*(?P<day>\d{{1,2}})\s*日?{_TIME}$"
# Chinese dates with the time right after 日 or in Chinese, minutes and seconds padded or not:
# "2024年1月2日14:30", "2024年1月2日 14时30分15秒", "2023年3月17日 19时0分", "2024年1月2日 9点5分"
_CHINESE = (r"^(?P<year>\d{4})\s*年\s*(?P<month>\d{1,2})\s*月\s*(?P<day>\d{1,2})\s*日"
            r"\s*(?P<hour>\d{1,2})\s*[:时点]\s*(?P<minute>\d{1,2})\s*分?(?:\s*:?\s*(?P<second>\d{1,2})\s*秒?)?$")
_COMPACT = r"^(?P<year>\d{4})(?P<month>\d{2})(?P<day>\d{2})$"
# Dates with an English month name, full or abbreviated, in any case ("2 Jan 2024", "January 2, 2024",
# "02-JAN-24", "2024-Jan-02", "2nd Jan 2024"): the name places the month, so the order is certain.
# A two-digit year only after day and month (Excel's d-mmm-yy, Oracle's DD-MON-YY); "Jan 2, 24" is doubtful.
_NAME = r"(?P<name>[A-Za-z]{3,9})\.?"
_DAY = r"(?P<day>\d{1,2})(?i:st|nd|rd|th)?"
_GAP = r"[-/., ]*"
_NAMED_TIME = rf"(?:,?[ T]+{_CLOCK})?$"
_NAMED = (rf"^{_DAY}{_GAP}{_NAME}{_GAP}(?P<year>\d{{4}}|\d{{2}}){_NAMED_TIME}",
          rf"^{_NAME}{_GAP}{_DAY}[-/., ]+(?P<year>\d{{4}}){_NAMED_TIME}",
          rf"^(?P<year>\d{{4}}){_GAP}{_NAME}{_GAP}{_DAY}{_NAMED_TIME}")
# A two-digit year as strptime's %y reads it (POSIX): 69-99 are 1969-1999, 00-68 are 2000-2068.
_CENTURY_PIVOT = 69
# day and month in numbers, then the year: in full, or in two digits as Excel's d.m.yy and m/d/yy write
# it ("15.09.24", "09/15/24"); a two-digit year is read only once the order of day and month is
# settled (stated, or by the column's dates with a four-digit year): it settles nothing itself, as
# "24.09.15" may be year-first
_XYY = (rf"^(?P<first>\d{{1,2}})[-/.](?P<second_part>\d{{1,2}})[-/.](?:(?P<year>\d{{4}})|(?P<short_year>\d{{2}}))"
        rf"{_TIME}$")
_SERIAL = r"^\d{5}(?:\.\d+)?$"
EXCEL_EPOCH = pd.Timestamp("1899-12-30")  # Excel's day 0, after its 1900 leap-year bug
SERIAL_RANGE = (20_000, 80_000)  # 1954-10-03 to 2119-01-10: numbers outside are not taken for dates


@dataclass(frozen=True)
class Parsed:
    """Typed `values`; `fixes[name]` marks rows whose value that fix changed; `problem` says, for a
    row whose text could not be read, why (missing elsewhere). For amounts read from text,
    `written` holds each number as written, in plain notation ("-1234.50", "1e3"), so that its
    exact decimal value is known (`to_minor_units`); None when the input was not text. `currency`
    holds the currency sign or code each amount read from text was written with ("$", "US$", "元":
    a key of `SIGN_CURRENCIES`), missing where none was (or the amount was unreadable); None when
    the input was not text. `note`, where
    the column as a whole decided how its values were read (the day/month order of a date column),
    says so: a dict with `key` (a message in `segkit/locale/messages.yaml`) and its values."""

    values: pd.Series
    fixes: dict[str, pd.Series] = field(default_factory=dict)
    problem: pd.Series | None = None
    written: pd.Series | None = None
    note: dict | None = None
    currency: pd.Series | None = None

    def unreadable(self) -> pd.Series:
        if self.problem is None:
            return pd.Series(False, index=self.values.index)
        return self.problem.notna()


def _flag(mask) -> pd.Series:
    """A plain bool Series (missing counts as False), from a nullable boolean result."""
    return pd.Series(mask).fillna(False).astype(bool)


def _numbers(text: pd.Series) -> pd.Series:
    return pd.to_numeric(text, errors="coerce").astype("float64")


def _text_array(text: pd.Series) -> pa.Array:
    """A text column as one Arrow array: a column read in parts by the streaming reader is an Arrow
    ChunkedArray, on which the dictionary of `pc.dictionary_encode` and friends are per chunk."""
    array = pa.array(text.astype("string").array)
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _extract(text: pd.Series, pattern: str, numbers: bool = False) -> pd.DataFrame:
    """The named groups of `pattern` for each row, as text: missing where the row does not match or
    the group took no part. Runs in Arrow's regex engine (RE2: `\\d` is an ASCII digit), several
    times faster than pandas' `str.extract` on a million rows. With `numbers`, every group but
    `offset` (a time zone offset, kept as text) holds ASCII digits and comes back as float64."""
    names = re.findall(r"\(\?P<(\w+)>", pattern)
    found = pc.extract_regex(_text_array(text), pattern)
    columns = {}
    for name in names:
        group = pc.struct_field(found, name)
        group = pc.if_else(pc.equal(group, ""), pa.scalar(None, pa.string()), group)
        if numbers and name in ("meridiem", "half"):
            continue
        if numbers and name != "offset":
            columns[name] = pd.array(pc.cast(group, pa.float64()).to_numpy(zero_copy_only=False), dtype="float64")
        else:
            columns[name] = pd.array(group.to_pandas(types_mapper=pd.ArrowDtype).astype("string").to_numpy(),
                                     dtype="string")
    if numbers and "meridiem" in names:
        hour = _on_24_hour_clock(columns["hour"].to_numpy(dtype="float64", na_value=np.nan),
                                 _half_of_day(lambda name: pc.struct_field(found, name)))
        columns["hour"] = pd.array(hour, dtype="float64")
    return pd.DataFrame(columns, index=text.index)


def _half_of_day(group) -> pa.Array:
    """A time's AM/PM as written after it (`meridiem`) or, where there is none, 上午/下午 before it
    (`half`); `group(name)` gives a named group of the match."""
    meridiem, half = (pc.fill_null(group(name), "") for name in ("meridiem", "half"))
    return pc.if_else(pc.equal(meridiem, ""), half, meridiem)


def _on_24_hour_clock(hour: np.ndarray, meridiem: pa.Array) -> np.ndarray:
    """The hours (float64) of times written with `meridiem` (AM/PM, a.m./p.m., any case, or 上午/下午;
    "" or missing: the 24-hour clock) on the 24-hour clock: 12 AM is 0, 1-11 PM are 13-23, 12 PM is
    12. An hour of 0 or above 12 beside AM/PM is no time (99, which the caller reports as a time out
    of range)."""
    letter = pc.utf8_lower(pc.utf8_slice_codeunits(pc.fill_null(meridiem, ""), 0, 1))
    letter = np.asarray(letter.to_numpy(zero_copy_only=False), dtype=object)
    pm, am = (letter == "p") | (letter == "下"), (letter == "a") | (letter == "上")
    out = hour.copy()
    twelve = am | pm
    out[twelve] = np.where((hour[twelve] < 1) | (hour[twelve] > 12), 99.0, hour[twelve] % 12 + np.where(pm[twelve], 12, 0))
    return out


def is_text(values: pd.Series) -> bool:
    return pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)


_EXCEL_TEXT_FORMULA = r'^\s*="([^"]*)"\s*$'  # ="..." with no quote inside: a text formula of one literal


# an HTML character reference, as web shops' exports leave them in text (WooCommerce: "&#36;12.34", "Tom &amp; Co")
HTML_ENTITY = r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});"


def normalise_text(values: pd.Series, labels: bool = False) -> tuple[pd.Series, dict[str, pd.Series]]:
    """Text with HTML character references decoded ("&#36;12.34" is "$12.34", "&amp;" is "&": fix
    `html_entity`, as the standard library's `html.unescape` reads them), invisible characters removed (`INVISIBLE`: NUL, zero-width space, BOM ...), in
    Unicode's composed form NFC (an "é" typed as e + accent is the same "é"), full-width characters
    made ASCII (with `labels`, only full-width digits and letters: a label's Chinese punctuation is
    kept, "T恤（白色）" stays as written), an Excel text formula ="..." made its text (fix `excel_text_formula`) and blanks
    trimmed; empty text becomes missing.

    >>> text, fixes = normalise_text(pd.Series([" C1", "Ｃ２", "", None, "C\u200b3"]))
    >>> text.tolist(), fixes["trimmed_blanks"].tolist(), fixes["full_width"].tolist()
    (['C1', 'C2', <NA>, <NA>, 'C3'], [True, False, False, False, False], [False, True, False, False, False])
    """
    # the full-width yen sign is how Chinese software writes ¥: a currency sign, not a flaw to count
    text = values.astype("string").str.replace("\uffe5", "¥", regex=False)
    entity = _flag(text.str.contains(HTML_ENTITY, regex=True))
    if entity.any():
        import html

        decoded = text.where(entity).map(html.unescape, na_action="ignore").astype("string")
        entity = entity & _flag(decoded != text)
        text = text.where(~entity, decoded)
    hidden = _flag(text.str.contains(INVISIBLE, regex=True))
    if hidden.any():
        text = text.where(~hidden, text.where(hidden).str.replace(INVISIBLE, "", regex=True))
    # only text beyond ASCII can change under NFC (and pandas normalises one value at a time)
    wider = _flag(text.str.contains("[^\x00-\x7f]", regex=True))
    composed = text.where(~wider, text.where(wider).str.normalize("NFC")) if wider.any() else text
    nfc = _flag(composed != text)
    text = composed
    wide = _flag(text.str.contains(_WIDE_ALNUM if labels else "[\uff01-\uff5e\u3000\uffe0\uffe1]", regex=True))
    table = LABEL_WIDTH_TABLE if labels else FULL_WIDTH_TABLE
    narrow = text.where(~wide, text.where(wide).str.translate(table)) if wide.any() else text
    full_width = _flag(narrow != text)
    # ="2938475610293847" is how Taobao's and other exports keep a long number as text in Excel: the value
    # is what is between the quotes (the same order written plainly elsewhere is the same order)
    formula = _flag(narrow.str.match(_EXCEL_TEXT_FORMULA))
    if formula.any():
        narrow = narrow.where(~formula, narrow.where(formula).str.replace(_EXCEL_TEXT_FORMULA, r"\1", regex=True))
    stripped = narrow.str.strip()
    trimmed = _flag((stripped != narrow) & (stripped != ""))
    stripped = stripped.mask(stripped == "")
    present = _flag(stripped.notna())
    return stripped, {"trimmed_blanks": trimmed, "invisible_characters": hidden & present,
                      "unicode_nfc": nfc & present, "full_width": full_width & present,
                      "excel_text_formula": formula & present, "html_entity": entity & present}


def normalised_value(value: str) -> str:
    """A value the params give for a text column (a status) as the column's
    text is after `normalise_text`, so that a value copied from the file matches its rows: full-width
    punctuation made ASCII ("卖家已发货，等待买家确认" is "卖家已发货,等待买家确认" in the clean rows),
    invisible characters removed, NFC, blanks trimmed; "" for a value of blanks only.

    >>> normalised_value("卖家已发货，等待买家确认 ")
    '卖家已发货,等待买家确认'
    """
    text, _ = normalise_text(pd.Series([str(value)], dtype="object"))
    return "" if pd.isna(text.iloc[0]) else str(text.iloc[0])


def status_keys(value) -> tuple[str, ...]:
    """One of `cleaning.returns.status_values` as the rule compares it with the rows' statuses (case
    ignored, blanks trimmed): as written, and as a file's status text is after the text fixes
    (`normalised_value`: 卖家已发货，等待买家确认 copied from the file with its
    full-width comma matches the rows' 卖家已发货,等待买家确认; a database's rows, which no text fix
    changes, match it as written)."""
    return tuple(dict.fromkeys((str(value).strip().lower(), normalised_value(value).lower())))


def parse_text(values: pd.Series, labels: bool = False) -> Parsed:
    """Text columns (order numbers, statuses, categories, products ...): invisible characters removed,
    NFC, trimmed, full-width made ASCII, empty as missing (`normalise_text`); with `labels` (the
    columns shown as written: `LABELS`, attributes), full-width digits and letters only."""
    if not is_text(values):
        # (numpy's remainder: an Arrow-backed float column, as Parquet reads, has no `%`; infinity is not integral)
        if pd.api.types.is_float_dtype(values) and (np.mod(values.dropna().to_numpy(dtype="float64"), 1) == 0).all():
            values = values.astype("Int64")  # integer ids that a gap made float: "1001", not "1001.0"
        text = values.astype("string")
        return Parsed(text.mask(text == ""))
    text, fixes = normalise_text(values, labels=labels)
    return Parsed(text, fixes)


_INTEGRAL_FLOAT = r"^(\d+)\.0+$"


def parse_id(values: pd.Series) -> Parsed:
    """Customer ids, normalised where the same id is certain: as `parse_text` (invisible characters
    removed, NFC, trimmed, full-width made ASCII), and

    - an integral float rendering is the integer id: `17850.0` (a spreadsheet's number written as
      a float) is `17850` (fix `integral_float_id`);
    - a number in a column whose text ids that are all digits share one width and are zero-padded
      (`00123`, `04567`) is padded back to that width: the cell was typed as a number and lost its
      zeros (fix `zero_padded_id`). Numbers are the cells that were numbers (an Excel or Parquet
      number, in a column of mixed cells) or were written as integral floats.

    Otherwise leading zeros are significant: text `00123` and `123` stay two customers.

    >>> parse_id(pd.Series(["00123", 456, "17850.0", "C\u200b1"], dtype="object")).values.tolist()
    ['00123', '00456', '17850', 'C1']
    >>> parse_id(pd.Series(["00123", "123"])).values.tolist()
    ['00123', '123']
    """
    if not is_text(values):
        return parse_text(values)
    numeric = pd.Series([isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
                         and not (isinstance(v, float) and np.isnan(v)) for v in values.array], index=values.index) \
        if pd.api.types.is_object_dtype(values) else pd.Series(False, index=values.index)
    if numeric.any():
        as_numbers = pd.to_numeric(values.where(numeric), errors="coerce")
        integral = numeric & (as_numbers % 1 == 0).fillna(False)
        numbers_text = as_numbers.where(integral).astype("Int64").astype("string")
        values = values.astype("object").where(~integral, numbers_text.astype("object"))
    text, fixes = normalise_text(values)
    floaty = _flag(text.str.fullmatch(_INTEGRAL_FLOAT))
    if floaty.any():
        text = text.mask(floaty, text.where(floaty).str.replace(_INTEGRAL_FLOAT, r"\1", regex=True))
    fixes["integral_float_id"] = floaty
    from_number = numeric | floaty
    digits = _flag(text.str.fullmatch(r"\d+")) & ~from_number
    widths = text.where(digits).str.len().dropna().unique()
    padded = pd.Series(False, index=values.index)
    if len(widths) == 1 and _flag(text.where(digits).str.startswith("0")).any():
        width = int(widths[0])
        short = from_number & _flag(text.str.fullmatch(r"\d+")) & _flag(text.str.len() < width)
        if short.any():
            text = text.mask(short, text.where(short).str.zfill(width))
            padded = short
    fixes["zero_padded_id"] = padded
    return Parsed(text, fixes)


# An id a spreadsheet showed in scientific notation and saved so: 12 digits or more become "3.45679E+18"
# (General format, six significant digits), and the rest of the number is gone from the file
_ROUNDED_ID = r"^\s*[+-]?\d(?:[.,]\d{1,14})?[eE]\+(?:0?[5-9]|[1-9]\d)\s*$"


class RoundedIds(DataError):
    """An id column holds numbers a spreadsheet wrote in scientific notation ("3.45679E+18"): the
    ids were rounded before segkit saw them, and different orders or customers share one."""


# a float holds every whole number up to 2**53 exactly (16 digits); an id beyond it was rounded on its way
EXACT_FLOAT = 2.0 ** 53


def refuse_rounded_ids(values: pd.Series, column: str, named: str, rows: pd.Series | None,
                       in_file: bool = True) -> None:
    """Raise `RoundedIds` when the id column `column` (customer_id or order_id; `named`: its name in the
    source; `rows`: each value's source_row, None where the source has no row numbers) holds ids that
    were rounded before segkit saw them: text in scientific notation with an exponent of 5 or more
    that stands for more digits than it writes (`_lost_digits`), as Excel writes a number of 12
    digits or more, or a narrow column's, when it saves a sheet as CSV (the digits past the sixth
    are lost), or numbers stored as floats beyond 2**53 (an Excel cell or a float column
    of 19-digit order numbers: the last digits are lost). Ids that differed then read alike, and
    nothing in the source can tell them apart: the message says how many, the first, and what to do
    (`in_file`: the source is a file read as text, else a table the ids were loaded into)."""
    if is_text(values) and not pd.api.types.is_object_dtype(values.dtype):
        text = values
    elif pd.api.types.is_float_dtype(values.dtype):
        numbers = values.to_numpy(dtype="float64", na_value=np.nan)
        _refuse_rounded(column, named, np.abs(numbers) >= EXACT_FLOAT, values, rows, "numbers", in_file)
        return
    elif pd.api.types.is_object_dtype(values.dtype):  # mixed cells (Excel): its float cells, then its text
        big = np.array([isinstance(v, float) and abs(v) >= EXACT_FLOAT for v in values.array], dtype=bool)
        _refuse_rounded(column, named, big, values, rows, "numbers", in_file)
        text = values.astype("string")
    else:
        return
    maybe = _flag(text.str.contains("+", regex=False))  # a substring search first: 10M ids in well under a second
    if maybe.any():
        rounded = (maybe & _flag(text.where(maybe).str.fullmatch(_ROUNDED_ID))).to_numpy().copy()
        at = np.flatnonzero(rounded)  # the few that look so: do they stand for digits they do not write?
        rounded[at] = [_lost_digits(str(value)) for value in text.iloc[at]]
        _refuse_rounded(column, named, rounded, values, rows, "notation", in_file)


def refuse_rounded_ids_in_frame(transactions: pd.DataFrame, headers: dict[str, str] | None = None) -> None:
    """`refuse_rounded_ids` for the id columns (customer_id, order_id) of a file's rows under segkit's
    names, with source_row (`segkit.intake.sources.to_canonical`; `headers`: segkit's name -> the
    file's, by default its `attrs["columns"]`): text as the text fixes read it (`parse_id`,
    `parse_text`), as `segkit.intake.cleaning.prepare` and the engine judge it; cells that are not all
    text (Excel's numbers) as they are. For `segkit check`, on the first rows of the file."""
    headers = transactions.attrs.get("columns", {}) if headers is None else headers
    for column in ("customer_id", "order_id"):
        if column not in transactions.columns:
            continue
        values = transactions[column]
        if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
            values = (parse_id if column == "customer_id" else parse_text)(values.astype("string")).values
        refuse_rounded_ids(values, column, headers.get(column, column), transactions["source_row"])


# a spreadsheet's Number format keeps 15 significant digits of a long id and writes zeros after them
_LONG_ID, _ZEROS_AFTER_15 = r"^[1-9]\d{15,}$", r"^[1-9]\d{14}0+$"
LONG_IDS_NOTED = 20  # distinct long ids, every one ending so, before a note says it


def long_ids_note(values: pd.Series, column: str, named: str) -> dict | None:
    """The note `long_ids_end_in_zeros` when the text id column `column` (`named` as the source names
    it) holds at least LONG_IDS_NOTED distinct ids of 16 digits or more and every one of them ends in
    zeros after its 15th digit (`3456789012345710000`), as a spreadsheet's Number format writes a
    number it rounded to 15 significant digits; None otherwise. A note, never a refusal: ids built from
    dates or counters may end so by design."""
    if not is_text(values) or pd.api.types.is_object_dtype(values.dtype):
        return None
    long = values[_flag(values.str.len() >= 16)].dropna().str.strip()
    long = long[_flag(long.str.fullmatch(_LONG_ID))].unique()
    if len(long) < LONG_IDS_NOTED or not bool(pd.Series(long).str.fullmatch(_ZEROS_AFTER_15).all()):
        return None
    return {"key": "long_ids_end_in_zeros", "column": named, "id_column": column, "ids": int(len(long)),
            "example": str(sorted(long)[0])}


def long_ids_notes_in_engine(table, headers: dict[str, str]) -> list[dict]:
    """`long_ids_note` for each text id column of the Ibis `table` (a file read in place: order_id,
    then customer_id, as the text path says them). One long id that does not end in zeros after its
    15th digit rules the note out, so a query that stops at the first such id comes first (real
    order numbers: at once); only where none is found are the long ids counted (distinct) and the
    smallest taken. `headers` maps segkit's names to the file's."""
    long_id, zeros = (pattern.replace("\\d", "[0-9]") for pattern in (_LONG_ID, _ZEROS_AFTER_15))
    notes = []
    for column in ("order_id", "customer_id"):
        if column not in table.columns or not table[column].type().is_string():
            continue
        value = table[column].strip()
        long = (table[column].length() >= 16) & value.re_search(long_id).fill_null(False)
        other = long & ~value.re_search(zeros).fill_null(False)
        if table.filter(other).select(value=value).limit(1).to_pyarrow().num_rows:
            continue
        found = table.filter(long).aggregate(ids=value.nunique(), first=value.min()).to_pyarrow().to_pylist()[0]
        if (found["ids"] or 0) >= LONG_IDS_NOTED:
            notes.append({"key": "long_ids_end_in_zeros", "column": headers.get(column, column), "id_column": column,
                          "ids": int(found["ids"]), "example": str(found["first"])})
    return notes


def _lost_digits(text: str) -> bool:
    """Whether a number in scientific notation stands for more digits than it writes ("1.23457E+10" is
    eleven digits of which six are written; "1.23457E+5" is 123457 exactly)."""
    mantissa, _, exponent = text.strip().upper().partition("E+")
    decimals = len(re.split(r"[.,]", mantissa)[1]) if re.search(r"[.,]", mantissa) else 0
    return int(exponent) > decimals

def _refuse_rounded(column: str, named: str, rounded: np.ndarray, values: pd.Series, rows: pd.Series | None,
                    kind: str, in_file: bool, distinct: int | None = None, lines: int | None = None) -> None:
    if not rounded.any():
        return
    if distinct is None:  # the ids, not the rows: one rounded order number on three lines is one
        distinct = pd.Series(values.to_numpy()[rounded]).astype("string").str.strip().nunique()
    lines = int(rounded.sum()) if lines is None else lines  # and the rows that hold them, where they are more
    first = int(rounded.argmax())
    value = values.iloc[first]
    shown = f"{int(value)}" if isinstance(value, float) and np.isfinite(value) else str(value).strip()
    where = "" if rows is None else f" in row {int(rows.iloc[first])}"
    what = "orders" if column == "order_id" else "customers"
    on = f" on {lines:,} rows" if kind == "notation" and lines > distinct else ""
    how = {"notation": f"{counted(distinct, 'value', 'values', ',')}{on} in scientific notation, e.g. \"{shown}\"{where}: a spreadsheet rounded these ids "
                       "when it saved the file",
           "numbers": f"{counted(distinct, 'number', 'numbers', ',')} too large to be exact, e.g. {shown}{where}: they were kept as floating-point numbers "
                      "(an Excel cell, a double column), which hold about 16 digits, and the rest was rounded away"}[kind]
    again = ("export the file again from the system it comes from (in Excel, format the column as Text before "
             "saving as CSV)" if in_file else
             "load the ids again as text from the system they come from")
    instead = (" or write order_id: null in source.transactions.columns (with a preset; else leave it out of the map) "
               "to count one order per customer and day" if column == "order_id" else "")
    raise RoundedIds(f"the column {named} ({column}) holds {how}, so different {what} may now "
                     f"share one number; {again}{instead}")


def refuse_rounded_ids_in_engine(table, headers: dict[str, str], in_file: bool = False) -> None:
    """`refuse_rounded_ids` for an Ibis table (a typed file read in place, a database table, Spark): its
    id columns (customer_id, order_id) that are floating-point numbers (beyond 2**53: one aggregate)
    or text (scientific notation: the distinct values the regex finds among those with a "+", judged
    here as the text path judges them), in the engine. `in_file`: the table is a file's, whose text ids in
    scientific notation a spreadsheet wrote (what to do is to export it again, as the text readers say),
    else a database's or Spark's; numbers stored as floats are to be loaded again as text either way."""
    import ibis

    text = [c for c in ("customer_id", "order_id") if c in table.columns and table[c].type().is_string()]
    floats = [c for c in ("customer_id", "order_id") if c in table.columns and table[c].type().is_floating()]
    if floats:
        found = table.aggregate(**{f"n_{c}": table[c].nunique(where=table[c].abs() >= EXACT_FLOAT) for c in floats},
                                **{f"v_{c}": table[c].max() for c in floats}).to_pyarrow().to_pylist()[0]
        for column in floats:
            if found[f"n_{column}"]:
                _refuse_rounded(column, headers.get(column, column), np.ones(1, dtype=bool),
                                pd.Series([float(found[f"v_{column}"])]), None, "numbers", False,
                                distinct=int(found[f"n_{column}"]))
    if not text:
        return
    pattern = _ROUNDED_ID.replace("\\s", "[ \\t]").replace("\\d", "[0-9]")  # the engines' regex dialects alike
    # the regex only over the few values with a "+" (a substring search over the rest)
    table = table.filter(ibis.or_(*[table[c].contains("+") for c in text]))
    numbered = "source_row" in table.columns  # a file's: the first row holding one is named
    for column in text:
        value = table[column]
        # `_lost_digits` in the engine: an exponent larger than the digits written after the mark
        # (two digits at most, as the pattern allows: a longer one, never a hit, cannot overflow the cast)
        exponent = value.re_extract(r"[eE]\+([0-9]{1,2})", 1).nullif("").cast("int64")
        written = value.re_extract(r"[.,]([0-9]+)[eE]", 1).length()
        hits = table.filter(value.re_search(pattern).fill_null(False) & (exponent > written).fill_null(False))
        found = hits.aggregate(n=hits[column].strip().nunique(), lines=hits.count()).to_pyarrow().to_pylist()[0]
        distinct = found["n"]
        if not distinct:
            continue
        first = (hits.select(value=hits[column], row=hits.source_row).order_by(["row", "value"]) if numbered else
                 hits.select(value=hits[column]).order_by("value")).limit(1).to_pyarrow().to_pylist()[0]
        _refuse_rounded(column, headers.get(column, column), np.ones(1, dtype=bool),
                        pd.Series([first["value"]], dtype="string"),
                        pd.Series([first["row"]]) if numbered else None, "notation", in_file, distinct=distinct,
                        lines=int(found["lines"]))


_ODD = {"amount": "amounts", "quantity": "quantities", "unit_price": "unit prices", "refund_amount": "refund amounts",
        "ordered_at": "dates",
        "customer_id": "customer ids", "order_id": "order numbers"}


def refuse_odd_values(values: pd.Series, column: str) -> None:
    """Raise a DataError naming `column` when it holds true/false values, or nested values (structs,
    lists, maps: a Parquet column of records), where segkit needs amounts, dates or ids: such a
    column was mapped by mistake, and no value of it can be read."""
    dtype = values.dtype
    kind = None
    if pd.api.types.is_bool_dtype(dtype):
        kind = "true/false values"
    elif isinstance(dtype, pd.ArrowDtype):
        arrow = dtype.pyarrow_dtype
        if pa.types.is_boolean(arrow):
            kind = "true/false values"
        elif pa.types.is_nested(arrow):
            kind = "nested values (records or lists)"
    elif pd.api.types.is_object_dtype(dtype):
        sample = values.dropna()
        if len(sample):
            if sample.map(lambda v: isinstance(v, (bool, np.bool_))).all():
                kind = "true/false values"
            elif sample.map(lambda v: isinstance(v, (dict, list, tuple, set, np.ndarray))).any():
                kind = "nested values (records or lists)"
    if kind is not None:
        needed = _ODD.get(column, "values")
        raise DataError(f'the column mapped to {column} holds {kind}, not {needed}; map the column that holds the '
                        f"{needed} in source.transactions.columns ({column}: <its name in the file>)")


# The problem of an amount that is not a number, by the decimal mark stated: how to write it, or,
# when the other mark reads it, which setting would (`parse_amount`).
NOT_A_NUMBER = {".": "is not a number; write it like 1234.50",
                 ",": "is not a number (decimal comma); write it like 1234,50"}
OTHER_MARK = {".": 'is not a number; it looks like a decimal comma: set cleaning.decimal: ","',
               ",": 'is not a number (decimal comma); it looks like a decimal point: set cleaning.decimal: "."'}


def attribute_values(given: pd.Series, decimal: str = ".") -> tuple[pd.Series, bool, Parsed | None]:
    """A customer table's column kept for tags, dimensions and exports, typed: numbers (int64 where every
    value is whole, else float64) where every value present reads as a number (`parse_amount`, with
    the `decimal` mark), except a code written with leading zeros (a postcode, a member number "007":
    text) and true/false columns (kept as they are); text as the text fixes read labels (`parse_text`
    with `labels`: trimmed, invisible characters removed, empty as missing); anything else as given.
    Returns (values, whether they are numbers, the `Parsed` that read them or None)."""
    number = parse_amount(given, decimal=decimal)
    present = given.notna()
    readable = present & ~number.unreadable()
    coded = is_text(given) and bool(given.astype("string").str.strip().str.fullmatch(r"0\d+").fillna(False).any())
    if present.any() and bool(readable[present].all()) and not coded and not pd.api.types.is_bool_dtype(given):
        values = number.values.astype("float64")
        whole = values.notna().all() and bool((values == np.floor(values)).all())
        return (values.astype("int64") if whole else values), True, number
    if is_text(given) or given.isna().all():
        text = parse_text(given, labels=True)
        return text.values, False, text
    return given, False, None


def parse_amount(values: pd.Series, decimal: str = ".") -> Parsed:
    """Numbers as typed in shops and ledgers: "12.50", "¥1,234.50", "$12", "(3.00)", "1.234,50"
    (with `decimal=","`), "１２．５". Thousands separators must group by three, so that a fix is
    certain; anything else is unreadable. The problem of an unreadable amount that the other
    decimal mark reads ("69,21" under `decimal="."`) names the setting that would read it.

    >>> parse_amount(pd.Series(["1.234,50", "12,5", "1,234.50"]), decimal=",").values.tolist()
    [1234.5, 12.5, nan]
    >>> parse_amount(pd.Series(["69,21", "abc"])).problem.tolist()
    ['is not a number; it looks like a decimal comma: set cleaning.decimal: ","', 'is not a number; write it like 1234.50']
    """
    if decimal != "." and _typed_numbers(values):  # a file's typed numbers (Parquet's decimals): no mark to read
        decimal = "."
    parsed = _parse_amount(values, decimal)
    if parsed.problem is None:
        return parsed
    bad = parsed.problem.notna().to_numpy()
    if bad.any():
        other = _parse_amount(values.iloc[bad], "," if decimal == "." else ".")
        readable = np.zeros(len(values), dtype=bool)
        readable[np.flatnonzero(bad)] = other.values.notna().to_numpy()
        parsed = replace(parsed, problem=parsed.problem.mask(readable, OTHER_MARK[decimal]))
    return parsed


def _typed_numbers(values: pd.Series) -> bool:
    """Whether `values` (an object column) hold numbers as a typed file gives them (Decimal, int, float;
    not true/false), not text: `cleaning.decimal` is the mark of numbers written as text only."""
    if not pd.api.types.is_object_dtype(values):
        return False
    present = values.dropna()
    return len(present) > 0 and all(isinstance(v, (decimal.Decimal, int, float)) and not isinstance(v, bool)
                                    for v in present)


def _parse_amount(values: pd.Series, decimal: str) -> Parsed:
    """`parse_amount` without the hint of the other decimal mark."""
    if decimal not in _PLAIN:
        raise ValueError(f"decimal must be '.' or ',', got {decimal!r}")
    if not is_text(values):
        number = pd.to_numeric(values, errors="coerce").astype("float64")
        return Parsed(number.where(np.isfinite(number)))
    text, fixes = normalise_text(values)
    # French and Swiss exports group thousands with a no-break or narrow no-break space ("1 234,50 €")
    spaced = _flag(text.str.contains(_NO_BREAK_SPACES, regex=True))
    if spaced.any():
        text = text.where(~spaced, text.where(spaced).str.replace(_NO_BREAK_SPACES, " ", regex=True))
    plain = _flag(text.str.fullmatch(_PLAIN[decimal]))
    as_is = text.where(plain)
    if decimal == ",":
        as_is = as_is.str.replace(",", ".", regex=False)
    number = _numbers(as_is)

    rest = text.where(~plain & text.notna())
    negative_parens = _flag(rest.str.fullmatch(r"\(.*\)"))
    # the minus after the number, as SAP and other ERPs write a credit ("54,16-", "1.234,50 €-"); no other sign
    trailing_minus = ~negative_parens & _flag(rest.str.fullmatch(r"[^+\-]*\d[^+\-]*-"))
    inner = rest.where(~negative_parens, rest.str.slice(1, -1).str.strip())
    inner = inner.where(~trailing_minus, inner.str.slice(0, -1).str.strip())
    negative_parens = negative_parens | trailing_minus  # read alike from here: a negative amount, no sign of its own
    parts = _extract(inner, _AMOUNT)
    signs = parts["sign1"].fillna("") + parts["sign2"].fillna("")
    grouped = _flag(parts["body"].str.fullmatch(_GROUPED[decimal]))
    readable = grouped & _flag(signs.str.len() <= 1) & ~(negative_parens & _flag(signs != ""))
    thousands = "." if decimal == "," else ","
    digits = parts["body"].where(readable).str.replace(thousands, "", regex=False).str.replace(r"[ ']", "", regex=True)
    if decimal == ",":
        digits = digits.str.replace(",", ".", regex=False)
    value = _numbers(digits)
    negative = _flag(signs == "-") | negative_parens
    sign = np.where(negative, -1.0, 1.0)
    number = number.mask(readable, value * sign)
    written = as_is.mask(readable, digits.where(~negative, "-" + digits))
    fixes["currency_text"] = readable
    number = number.where(np.isfinite(number.to_numpy(dtype="float64", na_value=np.nan)))  # "1e400" is no amount
    problem = pd.Series(pd.NA, index=values.index, dtype="string")
    bad = text.notna().to_numpy() & number.isna().to_numpy()
    problem = problem.mask(bad, NOT_A_NUMBER[decimal])
    sign = parts["pre"].fillna(parts["post"]).where(readable & number.notna())
    return Parsed(number, fixes, problem, written.where(number.notna()), currency=sign)


# Half away from zero, as DuckDB, PostgreSQL and Spark round when they cast to a DECIMAL.
ROUNDING = decimal.ROUND_HALF_UP
# A float64 decides the rounding of x * 10**minor_unit by itself while it is below this (its error,
# a few units in the last place, stays under _HALF_MARGIN) and not within _HALF_MARGIN of a half.
_FAST_LIMIT = 2.0 ** 45
_HALF_MARGIN = 0.02


def exact_decimals(parsed: Parsed, rows: np.ndarray) -> list[decimal.Decimal]:
    """The exact decimal values of `parsed` at positions `rows`: the number as written where it
    was text, else the float's shortest representation (what a spreadsheet shows)."""
    values = parsed.values.to_numpy(dtype="float64", na_value=np.nan)[rows]
    written = None if parsed.written is None else parsed.written.iloc[rows].tolist()
    out = []
    for i, value in enumerate(values):
        text = written[i] if written is not None else None
        out.append(decimal.Decimal(text if isinstance(text, str) else repr(float(value))))
    return out


def to_minor_units(number: pd.Series, minor_unit: int,
                   exact: Callable[[np.ndarray], list[decimal.Decimal]] | None = None,
                   limit: int = 10 ** 18) -> tuple[pd.Series, pd.Series]:
    """Amounts in integer minor units (cents for `minor_unit` 2), rounded half away from zero once.

    `number` holds the amounts as float64 (missing as NaN); `exact(rows)` gives the exact decimal
    values of the rows at those positions, asked only where the float cannot decide the rounding
    (a value within a hair of a half cent, or a very large one); by default the float's shortest
    representation. Returns the units (Int64; missing where the number is missing, not finite, or
    its units reach `limit` in size) and a bool Series marking the rows whose units reach `limit`.

    >>> units, over = to_minor_units(pd.Series([0.1, 2.675, -0.125, 1e300, float("nan")]), 2)
    >>> units.tolist(), over.tolist()
    ([10, 268, -13, <NA>, <NA>], [False, False, False, True, False])
    """
    values = number.to_numpy(dtype="float64", na_value=np.nan)
    finite = np.isfinite(values)
    with np.errstate(over="ignore", invalid="ignore"):  # 1e308 * 100 is inf: decided the slow way
        scaled = np.where(finite, values, 0.0) * 10.0 ** minor_unit
        fraction = np.abs(scaled - np.trunc(scaled))
    fast = finite & (np.abs(scaled) < _FAST_LIMIT) & (np.abs(fraction - 0.5) > _HALF_MARGIN)
    units = np.where(fast, np.rint(scaled), 0).astype("int64")  # not a half: nearest is the rounding
    valid = fast.copy()
    over = np.zeros(len(values), dtype=bool)
    slow = np.flatnonzero(finite & ~fast)
    if len(slow):
        found = exact(slow) if exact is not None else [decimal.Decimal(repr(float(v))) for v in values[slow]]
        for position, value in zip(slow, found):
            whole = int(value.scaleb(minor_unit).to_integral_value(rounding=ROUNDING))
            if abs(whole) >= limit:
                over[position] = True
            else:
                units[position], valid[position] = whole, True
    return (pd.Series(pd.array(units, dtype="Int64"), index=number.index).where(valid),
            pd.Series(over, index=number.index))


def decimal_array(units: pd.Series, minor_unit: int, precision: int = 18) -> pd.Series:
    """Integer minor units as an Arrow DECIMAL(precision, minor_unit) column (exact: no float on
    the way), which DuckDB and pandas read as such; |units| must stay below 10**18.

    >>> decimal_array(pd.Series([1050, -5, None], dtype="Int64"), 2).tolist()
    [Decimal('10.50'), Decimal('-0.05'), <NA>]
    """
    valid = units.notna().to_numpy()
    low = units.fillna(0).to_numpy(dtype="int64")
    words = np.empty((len(low), 2), dtype="int64")  # a 128-bit little-endian integer: low word, sign
    words[:, 0] = low
    words[:, 1] = np.where(low < 0, -1, 0)
    mask = pa.array(valid, type=pa.bool_())
    validity = None if valid.all() else pc.cast(mask, pa.bool_()).buffers()[1]
    array = pa.Array.from_buffers(pa.decimal128(precision, minor_unit), len(low),
                                  [validity, pa.py_buffer(words.tobytes())], null_count=int((~valid).sum()))
    return pd.Series(pd.arrays.ArrowExtensionArray(array), index=units.index)


def _time_zone(name: str | None) -> zoneinfo.ZoneInfo | None:
    if name is None:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise DataError(f"cleaning.time_zone {name[:40]!r} is not a time zone; use a name such as "
                        "Asia/Shanghai, Europe/London or UTC") from None


def _typed_datetimes(values: pd.Series, time_zone: str | None) -> Parsed:
    stamps = values
    fixes = {}
    if getattr(values.dt, "tz", None) is not None:
        local = values.dt.tz_localize(None)  # the wall time as written in the column's own zone
        if time_zone is not None:
            stamps = values.dt.tz_convert(_time_zone(time_zone)).dt.tz_localize(None)
            fixes["time_zone_converted"] = _flag(stamps != local)
        else:
            stamps = local
    stamps = stamps.astype("datetime64[us]")
    years = stamps.dt.year
    out_of_range = _flag((years < 1) | (years > 9999))
    problem = pd.Series(pd.NA, index=values.index, dtype="string")
    problem = problem.mask(out_of_range, "has a year outside 1 to 9999")
    return Parsed(stamps.where(~out_of_range), fixes, problem)


def _month_name_parts(text: pd.Series) -> pd.DataFrame:
    """The year, month, day, hour, minute and second (float64) of each row written with an English
    month name in one of the layouts `_NAMED`; missing where it is in none or its word is no month.
    Month names are dateutil's (full or abbreviated, "Sept" too, in any case), looked up once per
    distinct word; a two-digit year is read as strptime's %y reads it. In Arrow, as `_extract`."""
    from dateutil.parser import parserinfo

    months = parserinfo()
    names = ("year", "month", "day", "hour", "minute", "second")
    out = {name: np.full(len(text), np.nan) for name in names}
    array = _text_array(text)
    rows = np.arange(len(text))  # the rows no layout has read yet
    for pattern in _NAMED:
        if not len(rows):
            break
        found = pc.extract_regex(array.take(rows), pattern)

        def group(name: str) -> pa.Array:
            values = pc.struct_field(found, name)
            return pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)

        words = pc.dictionary_encode(pc.utf8_lower(group("name")))
        number = pa.array([months.month(word) for word in words.dictionary.to_pylist()], pa.float64())
        parts = {"month": pc.take(number, words.indices)}
        year = group("year")
        parts["year"] = pc.cast(year, pa.float64())
        century = pc.if_else(pc.less(parts["year"], _CENTURY_PIVOT), 2000.0, 1900.0)
        parts["year"] = pc.if_else(pc.equal(pc.utf8_length(year), 2), pc.add(parts["year"], century), parts["year"])
        for name in ("day", "hour", "minute", "second"):
            parts[name] = pc.cast(group(name), pa.float64())
        parts = {name: values.to_numpy(zero_copy_only=False) for name, values in parts.items()}
        parts["hour"] = _on_24_hour_clock(np.asarray(parts["hour"], dtype="float64"), _half_of_day(group))
        hit = ~np.isnan(parts["month"])
        for name in names:
            out[name][rows[hit]] = parts[name][hit]
        rows = rows[~hit]
    return pd.DataFrame(out, index=text.index)


def parse_datetime(values: pd.Series, day_first: bool | None = None, time_zone: str | None = None,
                   counts: pd.Series | None = None, examples: pd.Series | None = None,
                   source_rows: pd.Series | None = None, last_rows: pd.Series | None = None) -> Parsed:
    """Dates and times as exported: ISO ("2024-01-05", "2024-01-05 13:02") as is; "2024/1/5",
    "2024年1月5日", "2024年1月5日14时30分", "20240105", "05-01-2024", dates with an English month name
    ("5 Jan 2024", "January 5, 2024", "05-JAN-24", "2024-Jan-05", any case, a time after them) and
    Excel serial days (45296) fixed. A month name settles the order of day and month, so such dates
    are read whatever the column's other dates are, and settle nothing for them; a two-digit year
    only after day and month ("05-Jan-24": 2024; 69-99 are 1969-1999, as strptime's %y).
    Day and month in numbers before a two-digit year ("15.09.24", "09/15/24"), the century as for a
    month name, are read in the order stated or settled by the column's four-digit-year dates; they
    settle nothing themselves ("24.09.15" may be year-first).

    Day or month first ("05/01/2024"): as `day_first` states; when it is not stated, the column
    decides: if some of its values can only be day-first (a first part above 12, "25/12/2024") and
    none can only be month-first, every such date is read day-first (and the other way round); the
    rows that needed the column's evidence get the fix `date_order_by_column`, and `note` says which
    order was used and why. When nothing in the column decides, or it holds both orders (two exports
    pasted together), the dates that could be either are left unread with the problem stated; the
    dates that can only be read one way are read so. Holding both orders, the note
    (`date_order_conflict`; `date_order_conflict_stated` when `day_first` is stated, whose other
    order's dates cannot be read) counts the dates of each order and names the first and last row
    that hold them, so that the file can be split: stating one order would misread the other part.

    ISO times with an offset ("2024-01-05T10:00:00+08:00", "...Z", and with a blank before it as Shopify
    writes it, "2024-03-05 14:22:10 -0500"): by default the local date and
    time as written (the offset dropped: 10:00 on 5 January); with `time_zone` (an IANA name such as
    "Asia/Shanghai"), converted to that zone (fix `time_zone_converted` where that changed the
    value). Typed timestamps with a time zone (Parquet, a database) follow the same rule; dates
    without an offset are taken as already in the stated zone. A year outside 1..9999 ("0000-01-01")
    is unreadable, never a crash.

    `counts` (aligned with `values`) is how many rows each value stands for, where `values` are a
    column's distinct values (`segkit.intake.engine_parsing`, in the order the rows first hold them):
    the note's counts are then rows, as for the column itself; None counts each value once.
    `examples` (aligned with `values`), where a value stands for others read alike (a date with its
    time's digits as zeros), is the value as first written, which notes and problems name.
    `source_rows` (aligned with `values`) is each value's row in the source (the first row holding
    it, where values are distinct; `last_rows` then the last), for the notes that name rows; None:
    the values' 1-based positions.

    >>> parse_datetime(pd.Series(["2024-01-05", "2024/1/5 13:02", "45296", "25/12/2024"])).values.dt.strftime("%Y-%m-%d %H:%M").tolist()
    ['2024-01-05 00:00', '2024-01-05 13:02', '2024-01-05 00:00', '2024-12-25 00:00']
    >>> parse_datetime(pd.Series(["5 Jan 2024", "JANUARY 5, 2024 13:02", "31 Feb 2024"])).values.tolist()
    [Timestamp('2024-01-05 00:00:00'), Timestamp('2024-01-05 13:02:00'), NaT]
    >>> parse_datetime(pd.Series(["25/12/2024", "05/01/2024"])).note["key"]
    'date_order_day_first'
    """
    zone = _time_zone(time_zone)
    if pd.api.types.is_datetime64_any_dtype(values):
        return _typed_datetimes(values, time_zone)
    if not is_text(values):
        values = values.astype("string")
    text, fixes = normalise_text(values)
    index = values.index
    shown = text if examples is None else pd.Series(normalise_text(examples.astype("string"))[0].to_numpy(), index=index)
    parts = pd.DataFrame(np.nan, index=index, columns=["year", "month", "day", "hour", "minute", "second"])
    found = pd.Series(False, index=index)
    problem = pd.Series(pd.NA, index=index, dtype="string")
    offset = pd.Series(pd.NA, index=index, dtype="string")

    def take(pattern: str | Callable[[pd.Series], pd.DataFrame], needs: str | None = None) -> pd.Series:
        """Read the rows not read yet that `pattern` matches (a regex, or a function giving the parts),
        among those that hold `needs` (a regex) when given: a cheap test that spares most columns
        the pattern. Only those rows are matched, so a column read by an earlier layout costs nothing."""
        nonlocal found, offset
        rows = np.flatnonzero((_flag(text.notna()) & ~found).to_numpy())
        if needs is not None and len(rows):
            rows = rows[_flag(text.iloc[rows].str.contains(needs, regex=True)).to_numpy()]
        hit = np.zeros(len(index), dtype=bool)
        if len(rows):
            rest = text.iloc[rows]
            groups = pattern(rest) if callable(pattern) else _extract(rest, pattern, numbers=True)
            matched = _flag(groups["year"].notna()).to_numpy()
            rows = rows[matched]
            for column in parts.columns:
                if column in groups:
                    parts.iloc[rows, parts.columns.get_loc(column)] = groups[column].to_numpy(
                        dtype="float64", na_value=np.nan)[matched]
            if "offset" in groups:
                offset.iloc[rows] = groups["offset"].iloc[np.flatnonzero(matched)].to_numpy()
            hit[rows] = True
        hit = pd.Series(hit, index=index)
        found = found | hit
        return hit

    take(_ISO)
    reformatted = take(_YMD) | take(_CHINESE, needs="年") | take(_COMPACT) | take(_month_name_parts, needs="[A-Za-z]")

    other = _extract(text.where(~found), _XYY, numbers=True)
    long_year = _flag(other["year"].notna())
    short_year = _flag(other["short_year"].notna())
    hit = long_year | short_year
    short = other["short_year"]
    other["year"] = other["year"].fillna(short + np.where(short < _CENTURY_PIVOT, 2000.0, 1900.0))
    first = other["first"]
    second = other["second_part"]
    note = None
    by_column = pd.Series(False, index=index)

    def rows(mask: pd.Series) -> int:
        return int(mask.sum()) if counts is None else int(counts[mask.to_numpy()].sum())

    def span(mask: pd.Series) -> tuple[int, int]:
        """The first and the last row holding a value of `mask` (1-based positions without `source_rows`)."""
        at = pd.Series(np.arange(1, len(index) + 1), index=index) if source_rows is None else source_rows
        last = at if last_rows is None else last_rows
        return int(at[mask.to_numpy()].min()), int(last[mask.to_numpy()].max())

    # evidence is a day of 13 to 31 beside a month of 1 to 12, in a date with a four-digit year:
    # 99/01/2024 is a typo, no evidence of either
    day_is_first = _flag((first > 12) & (first <= 31) & (second >= 1) & (second <= 12)) & long_year
    month_is_first = _flag((second > 12) & (second <= 31) & (first >= 1) & (first <= 12)) & long_year
    same = _flag(first == second)
    # no order reads it (99/01/2024, 13/13/2024): neither evidence nor ambiguous, "no such day" below
    impossible = _flag((first < 1) | (second < 1) | (first > 31) | (second > 31) | ((first > 12) & (second > 12)))
    either = long_year & ~(day_is_first | month_is_first | same | impossible)
    follows = short_year & ~(same | impossible)  # a two-digit year: read in the column's order
    days, months = rows(day_is_first), rows(month_is_first)

    def two_orders(key: str, **values) -> dict:
        """The note that the column holds both orders, with the rows of each (two exports pasted together)."""
        (day_from, day_to), (month_from, month_to) = span(day_is_first), span(month_is_first)
        return {"key": key, **values, "day_first": days, "month_first": months,
                "day_example": str(shown[day_is_first].iloc[0]), "month_example": str(shown[month_is_first].iloc[0]),
                "day_from": day_from, "day_to": day_to, "month_from": month_from, "month_to": month_to}

    if day_first is None:
        if days and months:  # two orders in one column: the certain rows are read, the rest not guessed
            ambiguous = either | follows
            note = two_orders("date_order_conflict", ambiguous=rows(ambiguous))
            problem = problem.mask(ambiguous, "could be day-first or month-first, and this column holds both "
                                   f"(day-first like {note['day_example']}, month-first like "
                                   f"{note['month_example']}): two date orders in one file; split it by order and "
                                   "state cleaning.day_first for each part")
        elif days or months:
            ambiguous = pd.Series(False, index=index)
            by_column = either | follows
            # the example is a date that can only be read this way (not 11/11/2024, read alike either way)
            example = shown[day_is_first if days else month_is_first].iloc[0]
            day_is_first = day_is_first | same | (by_column if days else False)
            order = "day_first" if days else "month_first"
            note = {"key": f"date_order_{order}", "order": order,
                    "decided_by": days or months, "example": str(example), "followed": rows(by_column)}
        else:
            ambiguous = either | follows
            day_is_first = day_is_first | same
            if ambiguous.any():
                note = {"key": "date_order_unknown", "ambiguous": rows(ambiguous),
                        "example": str(shown[ambiguous].iloc[0])}
            problem = problem.mask(either, "could be day-first or month-first, and no date in the column "
                                   "decides; state cleaning.day_first")
            problem = problem.mask(follows, "has a two-digit year and could be day-first or month-first, and no date "
                                   "in the column with a four-digit year decides; state cleaning.day_first")
    else:
        if days and months:  # stated, yet the column holds both orders: the other order's dates cannot be read
            contrary = month_is_first if day_first else day_is_first
            note = two_orders("date_order_conflict_stated", stated=str(bool(day_first)).lower(),
                              contrary=rows(contrary))
            problem = problem.mask(contrary, f"can only be {'month' if day_first else 'day'}-first, against "
                                   f"cleaning.day_first: {str(bool(day_first)).lower()}, and this column holds both "
                                   f"orders (day-first like {note['day_example']}, month-first like "
                                   f"{note['month_example']}): two date orders in one file; split it by order and "
                                   "state cleaning.day_first for each part")
        day_is_first = pd.Series(day_first, index=index)
        ambiguous = pd.Series(False, index=index)
    usable = hit & ~ambiguous
    parts["year"] = parts["year"].mask(usable, other["year"])
    parts["day"] = parts["day"].mask(usable, np.where(day_is_first, first, second))
    parts["month"] = parts["month"].mask(usable, np.where(day_is_first, second, first))
    for column in ("hour", "minute", "second"):
        parts[column] = parts[column].mask(usable, other[column])
    found = found | usable
    reformatted = reformatted | usable

    year_zero = found & _flag(parts["year"] < 1)  # datetime64 holds year 0, Python's dates do not
    problem = problem.mask(year_zero, "has year 0, which no calendar has; write the year in full")
    # pandas adds the hours, minutes and seconds to the date: 25:00 would be 01:00 the next day
    no_time = _flag((parts["hour"] > 23) | (parts["minute"] > 59) | (parts["second"] > 59))
    problem = problem.mask(found & ~year_zero & no_time,
                           "has a time out of range (hours 0 to 23, minutes and seconds 0 to 59)")
    found = found & ~year_zero & ~no_time
    stamps = pd.to_datetime(parts.where(found).fillna({"hour": 0, "minute": 0, "second": 0}).astype("float64"),
                            errors="coerce").astype("datetime64[us]")
    stamps = stamps.where(found)
    # read in a known layout, yet no date: a day its month lacks (31 Feb) or a month above 12
    problem = problem.mask(found & _flag(stamps.isna()) & _flag(problem.isna()),  # not a date of the other order
                           "has no such day in its month, or no such month (months 1 to 12)")

    zoned = _flag(offset.notna()) & _flag(stamps.notna())
    if zoned.any():  # an offset no clock has (-99, +0575): no such time, whatever the zone asked
        parts = offset.where(zoned).str.replace("Z", "+00:00", regex=False).str.replace(r"[+:-]", "", regex=True)
        off_hours, off_minutes = _numbers(parts.str.slice(0, 2)), _numbers(parts.str.slice(2, 4)).fillna(0)
        impossible = zoned & _flag((off_hours > 14) | (off_minutes > 59))
        if impossible.any():
            stamps = stamps.mask(impossible)
            problem = problem.mask(impossible, "has a time zone offset no clock has (hours 0 to 14, minutes 0 to 59)")
            zoned = zoned & ~impossible
    if zone is not None and zoned.any():
        hours = offset.where(zoned).str.replace("Z", "+00:00", regex=False)
        sign = np.where(hours.str.startswith("-").fillna(False), -1, 1)
        digits = hours.str.replace(r"[+:-]", "", regex=True)
        minutes = _numbers(digits.str.slice(0, 2)) * 60 + _numbers(digits.str.slice(2, 4)).fillna(0)
        utc = stamps - pd.to_timedelta(sign * minutes.fillna(0), unit="min")
        converted = utc.where(zoned).dt.tz_localize("UTC").dt.tz_convert(zone).dt.tz_localize(None)
        converted = converted.astype("datetime64[us]")
        fixes["time_zone_converted"] = zoned & _flag(converted != stamps)
        stamps = stamps.mask(zoned, converted)

    serial_text = text.where(~found & ~ambiguous & ~year_zero)
    serial = _numbers(serial_text.where(_flag(serial_text.str.fullmatch(_SERIAL))))
    serial = serial.where((serial >= SERIAL_RANGE[0]) & (serial < SERIAL_RANGE[1]))
    is_serial = serial.notna()
    from_serial = (EXCEL_EPOCH + pd.to_timedelta(serial.fillna(0) * 86_400, unit="s").dt.round("s")).astype("datetime64[us]")
    stamps = stamps.mask(is_serial, from_serial)

    fixes["date_format"] = (reformatted & stamps.notna()).astype(bool)
    fixes["date_order_by_column"] = (by_column & stamps.notna()).astype(bool)
    fixes["excel_serial_date"] = is_serial.astype(bool)
    bad = _flag(text.notna()) & _flag(stamps.isna()) & _flag(problem.isna())
    problem = problem.mask(bad, "is not a date; write it like 2024-01-05 or 2024-01-05 13:02")
    return Parsed(stamps, fixes, problem, note=note)


def fixes_per_row(parsed: list[Parsed], index: pd.Index) -> pd.Series:
    """For each row, the names of the fixes that changed any of its values, joined by "+"
    in the order of FIXES ("" where none did)."""
    out = pd.Series("", index=index, dtype="object")
    for name in FIXES:
        hit = pd.Series(False, index=index)
        for one in parsed:
            if name in one.fixes:
                hit = hit | one.fixes[name].reindex(index, fill_value=False).astype(bool)
        out = out.mask(hit, out + np.where(out == "", "", "+") + name)
    return out
