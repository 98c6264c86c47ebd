from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segkit.intake.parsing import (FIXES, INVISIBLE, SIGN_CURRENCIES, decimal_array, exact_decimals, fixes_per_row,
                                   normalise_text, parse_amount, parse_datetime, parse_id, parse_text, to_minor_units)


def amounts(values, decimal="."):
    parsed = parse_amount(pd.Series(values, dtype="object"), decimal=decimal)
    return parsed.values.tolist(), parsed


@pytest.mark.parametrize("text, expected", [
    ("12.50", 12.5), ("7", 7.0), ("-3", -3.0), (".5", 0.5), ("1e3", 1000.0),
])
def test_plain_numbers_are_read_as_is(text, expected):
    values, parsed = amounts([text])
    assert values == [expected]
    assert not any(mask.any() for mask in parsed.fixes.values())


@pytest.mark.parametrize("text, expected", [
    ("¥1,234.50", 1234.5), ("$12", 12.0), ("￥88", 88.0), ("12 元", 12.0), ("RMB 1 000.5", 1000.5),
    ("-¥5.20", -5.2), ("¥-5.20", -5.2), ("(3.00)", -3.0), ("USD 1,000,000", 1e6), ("1'250.75", 1250.75),
    # the minus after the number, as SAP writes a credit
    ("54.16-", -54.16), ("$1,234.50-", -1234.5), ("12 -", -12.0),
])
def test_currency_text_is_fixed_when_certain(text, expected):
    values, parsed = amounts([text])
    assert values == [pytest.approx(expected)]
    assert parsed.fixes["currency_text"].tolist() == [True]


@pytest.mark.parametrize("text", ["1,2O4.50", "abc", "1,23", "12,34,567", "+-3", "1.234,50", "$", "1..2", "(-3)",
                                  "-12-", "12--", "(3)-", "1-2", "2024-01-05", "-"])
def test_doubtful_numbers_are_not_guessed(text):
    values, parsed = amounts([text])
    assert np.isnan(values[0])
    assert parsed.problem.iloc[0].startswith("is not a number")


def test_decimal_comma_convention():
    values, parsed = amounts(["1.234,50", "12,5", "7", "1,234.50", "1.234.567"], decimal=",")
    assert values[:3] == [1234.5, 12.5, 7.0] and np.isnan(values[3]) and values[4] == 1234567.0
    # Trial: a cp1252 SAP export wrote credits as "54,16-": set aside with the decimal comma blamed
    credits, _ = amounts(["54,16-", "1.234,50 €-"], decimal=",")
    assert credits == [pytest.approx(-54.16), pytest.approx(-1234.5)]
    # "12,5" is the stated convention, read as is; "1.234,50" needed its thousands dots removed
    assert parsed.fixes["currency_text"].tolist() == [True, False, False, False, True]


def test_full_width_digits_and_blanks():
    values, parsed = amounts(["１２．５", " 7 ", "\u3000８", ""])
    assert values[:3] == [12.5, 7.0, 8.0] and np.isnan(values[3])
    assert parsed.fixes["full_width"].tolist() == [True, False, True, False]
    assert parsed.fixes["trimmed_blanks"].tolist() == [False, True, True, False]
    assert parsed.problem.isna().all()  # empty is missing, not unreadable


def test_typed_numbers_pass_through():
    parsed = parse_amount(pd.Series([1.5, None, 3]))
    assert parsed.values.tolist()[::2] == [1.5, 3.0] and not parsed.unreadable().any()


def stamps(values, **options):
    parsed = parse_datetime(pd.Series(values, dtype="object"), **options)
    return [None if pd.isna(v) else v.strftime("%Y-%m-%d %H:%M:%S") for v in parsed.values], parsed


def test_iso_dates_are_as_is_and_other_layouts_fixed():
    values, parsed = stamps(["2024-01-05", "2024-01-05 13:02", "2024/1/5", "2024年1月5日", "2024.01.05 08:30:15",
                             "20240105"])
    assert values == ["2024-01-05 00:00:00", "2024-01-05 13:02:00", "2024-01-05 00:00:00", "2024-01-05 00:00:00",
                      "2024-01-05 08:30:15", "2024-01-05 00:00:00"]
    assert parsed.fixes["date_format"].tolist() == [False, False, True, True, True, True]


def test_excel_serial_days():
    # 45296 is 2024-01-05 in Excel (days since 1899-12-30); .5 is noon
    values, parsed = stamps(["45296", "45296.5", "123", "99999"])
    assert values[:2] == ["2024-01-05 00:00:00", "2024-01-05 12:00:00"]
    assert values[2:] == [None, None]  # outside the plausible range: not taken for dates
    assert parsed.fixes["excel_serial_date"].tolist() == [True, True, False, False]


def test_day_first_follows_the_stated_convention_or_certainty():
    text = ["05-01-2024", "25/12/2024", "12/25/2024", "07.07.2024"]
    unstated, parsed = stamps(text)
    assert unstated == [None, "2024-12-25 00:00:00", "2024-12-25 00:00:00", "2024-07-07 00:00:00"]
    assert "cleaning.day_first" in parsed.problem.iloc[0]
    day_first, _ = stamps(text, day_first=True)
    month_first, _ = stamps(text, day_first=False)
    assert day_first[0] == "2024-01-05 00:00:00" and month_first[0] == "2024-05-01 00:00:00"
    assert day_first[2] is None  # month 25 under the stated day-first convention: unreadable


def test_impossible_dates_are_unreadable():
    values, parsed = stamps(["2024-02-30", "2024-13-01", "yesterday", None])
    assert values == [None, None, None, None]
    assert parsed.unreadable().tolist() == [True, True, True, False]


def test_full_width_date():
    values, parsed = stamps(["２０２４－０１－０５"])
    assert values == ["2024-01-05 00:00:00"] and parsed.fixes["full_width"].tolist() == [True]


def test_text_ids_are_trimmed_and_narrowed():
    parsed = parse_text(pd.Series([" C1 ", "Ｃ１", "C1", "  "]))
    assert parsed.values.tolist()[:3] == ["C1", "C1", "C1"] and pd.isna(parsed.values.iloc[3])


def test_fixes_per_row_lists_each_fix_once_in_order():
    date = parse_datetime(pd.Series(["2024/1/5", "2024-01-05"]))
    amount = parse_amount(pd.Series(["¥１２", " 3"]))
    names = fixes_per_row([date, amount], pd.RangeIndex(2)).tolist()
    assert names == ["full_width+currency_text+date_format", "trimmed_blanks"]
    assert all(part in FIXES for name in names for part in name.split("+"))


def test_input_is_not_mutated():
    series = pd.Series([" ¥1,234.50", "2024/1/5"], dtype="object")
    before = series.copy()
    parse_amount(series)
    parse_datetime(series)
    normalise_text(series)
    pd.testing.assert_series_equal(series, before)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=12),
                          st.from_regex(r"[¥$\-( ]{0,2}[0-9０-９]{1,4}([.,][0-9]{1,3}){0,2}[) 元]{0,2}", fullmatch=True)),
                max_size=30))
def test_any_text_is_a_number_a_gap_or_a_stated_problem(texts):
    series = pd.Series(texts, dtype="object")
    for parsed in (parse_amount(series), parse_amount(series, decimal=","), parse_datetime(series),
                   parse_datetime(series, day_first=True)):
        has_value = parsed.values.notna()
        unreadable = parsed.unreadable()
        assert not (has_value & unreadable).any()
        # text of invisible characters only (a lone NUL or zero-width space) is empty too
        given_text = series.astype("string").str.replace(INVISIBLE, "", regex=True).str.strip().fillna("") != ""
        # every non-blank text is either read or explained; blank text is simply missing
        assert ((has_value | unreadable).to_numpy() == given_text.to_numpy()).all()


def test_the_full_width_yen_sign_is_a_currency_sign_not_a_flaw():
    _, parsed = amounts(["￥1,234.50", "￥１２"])
    assert parsed.fixes["currency_text"].tolist() == [True, True]
    assert parsed.fixes["full_width"].tolist() == [False, True]  # only the full-width digits count


# -- exact amounts ------------------------------------------------------------------------------

def half_away(text: str, minor_unit: int) -> int:
    """The reference rounding, by Python's decimal module: the number as written, in minor units."""
    return int(Decimal(text).scaleb(minor_unit).to_integral_value(rounding=ROUND_HALF_UP))


def written_units(texts, minor_unit=2):
    parsed = parse_amount(pd.Series(texts, dtype="object"))
    units, over = to_minor_units(parsed.values, minor_unit, lambda rows: exact_decimals(parsed, rows))
    return units, over, parsed


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(-10 ** 13, 10 ** 13), st.integers(0, 6)), min_size=1, max_size=40),
       st.integers(0, 4))
def test_amounts_as_written_round_half_away_from_zero_exactly(numbers, minor_unit):
    texts = [str(Decimal(n).scaleb(-places)) for n, places in numbers]  # "-123.4567", "0.125", "5E+1"...
    texts = [f"{Decimal(t):f}" for t in texts]  # plain notation
    units, over, _ = written_units(texts, minor_unit)
    assert not over.any()
    assert units.tolist() == [half_away(t, minor_unit) for t in texts]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(min_value=-1e13, max_value=1e13, allow_nan=False), min_size=1, max_size=40))
def test_typed_floats_round_from_their_shortest_form(values):
    units, over = to_minor_units(pd.Series(values, dtype="float64"), 2)
    assert not over.any()
    assert units.tolist() == [half_away(repr(v), 2) for v in values]


def test_halves_are_rounded_away_from_zero_even_where_the_float_lies_below():
    # 2.675 and 1.005 are stored as 2.67499999... and 1.00499999...: the text decides, not the float
    units, _, parsed = written_units(["2.675", "1.005", "-0.125", "0.125", "-2.5", "1234567890123.455"])
    assert units.tolist() == [268, 101, -13, 13, -250, 123456789012346]
    assert parsed.written.tolist() == ["2.675", "1.005", "-0.125", "0.125", "-2.5", "1234567890123.455"]
    units, _, _ = written_units(["2.5", "-2.5", "3.5"], minor_unit=0)
    assert units.tolist() == [3, -3, 4]  # not half-even (2, -2, 4)


def test_currency_text_keeps_its_written_number():
    _, _, parsed = written_units(["¥1,234.505", "(3.125)", "-$0.005", "1.234,5"])
    assert parsed.written.tolist()[:3] == ["1234.505", "-3.125", "-0.005"]
    assert pd.isna(parsed.written.iloc[3])  # unreadable under decimal "."


def test_too_large_amounts_are_marked_not_wrapped():
    units, over = to_minor_units(pd.Series([1e16, 9.99e15, -1e300, 1e308, np.inf, np.nan]), 2)
    assert over.tolist() == [True, False, True, True, False, False]
    assert units.iloc[1] == 999000000000000000 and units.iloc[[0, 2, 3, 4, 5]].isna().all()


def test_decimal_array_is_exact_for_negative_and_missing_units():
    units = pd.Series([0, -1, 1, -(10 ** 18 - 1), 10 ** 18 - 1, None], dtype="Int64")
    column = decimal_array(units, 2)
    assert str(column.dtype) == "decimal128(18, 2)[pyarrow]"
    assert column.tolist()[:5] == [Decimal("0.00"), Decimal("-0.01"), Decimal("0.01"),
                                   Decimal("-9999999999999999.99"), Decimal("9999999999999999.99")]
    assert pd.isna(column.iloc[5])


# Issue 9: values that differ only in how they were written, and dates the column decides.

def test_invisible_characters_and_decomposed_letters_are_normalised_and_counted():
    from segkit.intake.parsing import parse_text

    parsed = parse_text(pd.Series(["C1\x00", "\u200bC1", "\ufeffC1", "C1", "Jose\u0301", "a\tb"]))
    assert parsed.values.tolist() == ["C1", "C1", "C1", "C1", "Jos\u00e9", "a\tb"]  # a tab inside is kept
    assert parsed.fixes["invisible_characters"].tolist() == [True, True, True, False, False, False]
    assert parsed.fixes["unicode_nfc"].tolist() == [False, False, False, False, True, False]


@pytest.mark.parametrize("values, expected, padded", [
    (["00123", 456, "04567"], ["00123", "00456", "04567"], [False, True, False]),
    (["00123", "456"], ["00123", "456"], [False, False]),              # text: its zeros are significant
    (["00123", "0456", 7], ["00123", "0456", "7"], [False, False, False]),  # two widths: nothing certain
    (["123", "456", 7], ["123", "456", "7"], [False, False, False]),      # no zero-padded ids
    (["00123", "17.0"], ["00123", "00017"], [False, True]),             # an integral float is a number too
])
def test_numbers_are_padded_back_only_in_a_zero_padded_column(values, expected, padded):
    from segkit.intake.parsing import parse_id

    parsed = parse_id(pd.Series(values, dtype="object"))
    assert parsed.values.tolist() == expected
    assert parsed.fixes["zero_padded_id"].tolist() == padded


def test_typed_integer_ids_and_integral_float_text():
    from segkit.intake.parsing import parse_id

    assert parse_id(pd.Series([17850.0, None, 12.0])).values.tolist()[::2] == ["17850", "12"]
    parsed = parse_id(pd.Series(["17850.0", "17850.5", "1.0e4", "C1.0"]))
    assert parsed.values.tolist() == ["17850", "17850.5", "1.0e4", "C1.0"]  # only an integral float rendering
    assert parsed.fixes["integral_float_id"].tolist() == [True, False, False, False]


@pytest.mark.parametrize("values", [pd.Series([True, False]), pd.Series([True, None], dtype="boolean"),
                                    pd.Series([{"a": 1}, None], dtype="object"), pd.Series([[1], [2]], dtype="object")])
def test_booleans_and_nested_values_are_refused_naming_the_column(values):
    from segkit.errors import DataError
    from segkit.intake.parsing import refuse_odd_values

    with pytest.raises(DataError, match="the column mapped to amount holds .* not amounts"):
        refuse_odd_values(values, "amount")
    refuse_odd_values(pd.Series(["True", "5"]), "amount")  # text is read (and set aside) as text


def test_dates_with_an_offset_and_out_of_range_dates():
    parsed = parse_datetime(pd.Series(["2024-01-05T10:00:00+08:00", "2024-01-05T10:00:00.123Z", "0000-01-01",
                                       "2024-01-05T10:00+0530"]))
    assert parsed.values.tolist()[:2] == [pd.Timestamp("2024-01-05 10:00"), pd.Timestamp("2024-01-05 10:00")]
    assert parsed.values.tolist()[3] == pd.Timestamp("2024-01-05 10:00")
    assert pd.isna(parsed.values[2]) and "year 0" in parsed.problem[2]
    utc = parse_datetime(pd.Series(["2024-01-05T10:00:00+08:00", "2024-01-05T10:00+0530"]), time_zone="UTC")
    assert utc.values.tolist() == [pd.Timestamp("2024-01-05 02:00"), pd.Timestamp("2024-01-05 04:30")]
    assert utc.fixes["time_zone_converted"].tolist() == [True, True]


def test_the_day_month_order_note_is_given_only_when_the_column_decides():
    assert parse_datetime(pd.Series(["2024-01-05", "2024/1/6"])).note is None
    assert parse_datetime(pd.Series(["05/01/2024", "25/12/2024"]), day_first=True).note is None  # stated
    decided = parse_datetime(pd.Series(["05/01/2024", "25/12/2024", "06/01/2024"]))
    assert decided.note["decided_by"] == 1 and decided.note["followed"] == 2
    assert decided.fixes["date_order_by_column"].tolist() == [True, False, True]


def test_month_names_are_read_whatever_their_case_and_the_layout_around_them():
    values, parsed = stamps(["2 JANUARY 2024", "jan 2, 2024", "2-Jan-24", "Dec 31 2024 23:59", "31 Feb 2024",
                             "Jan 2, 24", "2 Janvier 2024"])
    assert values == ["2024-01-02 00:00:00", "2024-01-02 00:00:00", "2024-01-02 00:00:00", "2024-12-31 23:59:00",
                      None, None, None]
    assert parsed.fixes["date_format"].tolist() == [True] * 4 + [False] * 3
    assert parsed.problem.iloc[4] == "has no such day in its month, or no such month (months 1 to 12)"
    assert parsed.problem.iloc[5:].str.startswith("is not a date").all()
    assert parsed.note is None  # unambiguous: the column decides nothing


def test_two_digit_years_follow_the_posix_pivot():
    # as strptime's %y: 69-99 are 1969-1999, 00-68 are 2000-2068 (the clock never decides)
    values, _ = stamps(["1-Jan-68", "1-Jan-69", "1-Jan-00"])
    assert values == ["2068-01-01 00:00:00", "1969-01-01 00:00:00", "2000-01-01 00:00:00"]



def test_a_time_out_of_range_is_unreadable_not_carried_into_the_next_day():
    # 25:00 was read as 01:00 the next day (pandas adds the hours to the date)
    values, parsed = stamps(["2024-01-02 25:00", "2024/1/2 23:60", "2 Jan 2024 12:00:61", "2024-01-02 23:59:59"])
    assert values == [None, None, None, "2024-01-02 23:59:59"]
    # the problem says which part is out of range (the layout was right)
    assert (parsed.problem.iloc[:3] == "has a time out of range (hours 0 to 23, minutes and seconds 0 to 59)").all()


def test_the_sign_each_amount_was_written_with():
    parsed = parse_amount(pd.Series(["$12", "(US$3.00)", "4 元", "￥5", "6", "€1,2O4", None]))
    assert parsed.currency.fillna("").tolist() == ["$", "US$", "元", "¥", "", "", ""]
    assert parse_amount(pd.Series([1.5, 2.0])).currency is None  # numbers: no sign was written


def test_each_currency_sign_stands_for_every_currency_cldr_writes_with_it():
    # so that a sign is never noted as another currency's where some locale writes the params' so
    from collections import defaultdict

    from babel import localedata

    written = defaultdict(set)
    for locale in localedata.locale_identifiers():
        for code, symbol in localedata.load(locale).get("currency_symbols", {}).items():
            written[symbol].add(code)
    for sign, codes in SIGN_CURRENCIES.items():
        if sign != "RMB" and not (sign.isupper() and sign.isalpha()):  # a code stands for itself
            assert written[sign] and written[sign] <= codes, (sign, written[sign] - codes)


def test_chinese_times_with_unpadded_minutes_and_seconds():
    """Chinese software writes 时/分/秒 (and 点) without padding: 19时0分 is 19:00, 9点5分 09:05; a
    minute or hour out of range is still no date."""
    written = pd.Series(["2023年3月17日 19时0分", "2024年1月2日 14时5分", "2024年1月2日 14时30分5秒", "2024年1月2日 9点5分",
                         "2024年1月2日 25时0分", "2024年1月2日 14时61分"])
    got = parse_datetime(written)
    assert got.values.tolist()[:4] == [pd.Timestamp("2023-03-17 19:00"), pd.Timestamp("2024-01-02 14:05"),
                                      pd.Timestamp("2024-01-02 14:30:05"), pd.Timestamp("2024-01-02 09:05")]
    assert got.values.iloc[4:].isna().all() and got.unreadable().tolist() == [False] * 4 + [True] * 2


def test_an_amount_the_other_decimal_mark_reads_names_the_setting():
    texts = ["€298,93", "240,89 €", "69,21", "1.234,50", "1234.50", "12.5", "n/a", None]
    point = parse_amount(pd.Series(texts, dtype="object"))
    comma_hint = 'is not a number; it looks like a decimal comma: set cleaning.decimal: ","'
    assert point.problem.tolist()[:4] == [comma_hint] * 4
    assert point.problem.tolist()[6] == "is not a number; write it like 1234.50"
    assert point.problem.iloc[[4, 5, 7]].isna().all()
    comma = parse_amount(pd.Series(texts, dtype="object"), decimal=",")
    assert comma.values.tolist()[:4] == [298.93, 240.89, 69.21, 1234.5]
    point_hint = 'is not a number (decimal comma); it looks like a decimal point: set cleaning.decimal: "."'
    assert comma.problem.tolist()[4:7] == [point_hint, point_hint, "is not a number (decimal comma); write it like 1234,50"]
    # the example given reads under the mark stated
    assert parse_amount(pd.Series(["1234,50"]), decimal=",").values.tolist() == [1234.5]
    # an index that is not 0..n-1 (a customer table's rows) keeps each problem on its row
    shuffled = parse_amount(pd.Series(["69,21", "n/a", "5"], index=[7, 7, 3]))
    assert shuffled.problem.tolist()[:2] == [comma_hint, "is not a number; write it like 1234.50"]



def test_thousands_grouped_by_no_break_and_narrow_spaces():
    """French and Swiss exports group thousands with U+00A0 or U+202F ("1 234,50 €"): read as a
    normal space is; a group that is not of three digits is still unreadable."""
    comma = parse_amount(pd.Series(["1\u00a0234,50 €", "1\u202f234,50", "12\u00a0€", "12\u00a034,5"]), decimal=",")
    assert comma.values.tolist()[:3] == [1234.5, 1234.5, 12.0] and comma.unreadable().tolist() == [False] * 3 + [True]
    assert parse_amount(pd.Series(["$1\u2009234.50"])).values.tolist() == [1234.5]


def test_an_excel_text_formula_is_the_text_it_holds():
    """Taobao-style exports write long order numbers as ="1987654321098786969" so that Excel keeps every
    digit: the same order written plainly elsewhere is the same order. Only a formula of one literal."""
    parsed = parse_text(pd.Series(['="1987654321098786969"', "1987654321098786969", ' ="C1" ', '="a"b"', "=SUM(A1)"]))
    assert parsed.values.tolist() == ["1987654321098786969", "1987654321098786969", "C1", '="a"b"', "=SUM(A1)"]
    assert parsed.fixes["excel_text_formula"].tolist() == [True, False, True, False, False]
    assert parse_id(pd.Series(['="00123"', "00456"])).values.tolist() == ["00123", "00456"]


def test_a_text_column_read_in_parts_is_parsed_as_one():
    """The streaming reader hands a large file's column over as an Arrow ChunkedArray: month names
    (looked up through a dictionary of the distinct words) failed there with an AttributeError."""
    import pyarrow as pa

    parts = pa.chunked_array([pa.array(["April 1, 2024 21:44", "May 2, 2024"]), pa.array(["june 3, 2024", "x"])])
    parsed = parse_datetime(pd.Series(pd.arrays.ArrowStringArray(parts)))
    assert parsed.values.dt.strftime("%Y-%m-%d %H:%M").tolist()[:3] == ["2024-04-01 21:44", "2024-05-02 00:00",
                                                                         "2024-06-03 00:00"]
    assert parsed.problem.iloc[3].startswith("is not a date")


@pytest.mark.parametrize("text, expected", [
    ("1/2/2024 3:04 PM", "2024-02-01 15:04:00"), ("13/2/2024 1:00 p.m.", "2024-02-13 13:00:00"),
    ("1/2/2024 12:04 am", "2024-02-01 00:04:00"), ("1/2/2024 12:30 PM", "2024-02-01 12:30:00"),
    ("January 5, 2024 9:05:07 a.m.", "2024-01-05 09:05:07"), ("5 Jan 2024 11:00PM", "2024-01-05 23:00:00"),
    ("2024/1/5 3:04 pm", "2024-01-05 15:04:00"), ("1/2/2024 13:04 PM", None), ("1/2/2024 0:10 AM", None),
])
def test_the_12_hour_clock_is_read(text, expected):
    values, parsed = stamps([text, "25/12/2024"])
    assert values[0] == expected
    if expected is None:
        assert parsed.problem.iloc[0].startswith("has a time out of range")


def test_the_day_first_example_is_a_date_that_only_reads_day_first():
    # 11/11/2024 reads alike either way: it is no example of a column that says day-first
    note = parse_datetime(pd.Series(["11/11/2024", "05/03/2024", "25/12/2024"])).note
    assert note["key"] == "date_order_day_first" and note["example"] == "25/12/2024"
    note = parse_datetime(pd.Series(["11/11/2024", "05/03/2024", "12/25/2024"])).note
    assert note["key"] == "date_order_month_first" and note["example"] == "12/25/2024"


def test_html_character_references_are_decoded_as_web_shops_write_them():
    """WooCommerce writes the dollar sign as &#36;: those amounts were unreadable_amount."""
    from segkit.intake.parsing import normalise_text, parse_amount

    text, fixes = normalise_text(pd.Series(["&#36;12.34", "Tom &amp; Co", "a&b", "AT&T;", "&#x4E2D;国", None]))
    assert text.tolist()[:5] == ["$12.34", "Tom & Co", "a&b", "AT&T;", "中国"]
    assert fixes["html_entity"].tolist() == [True, True, False, False, True, False]
    amounts = parse_amount(pd.Series(["&#36;12.34", "-&#36;5.00", "7"]))
    assert amounts.values.tolist() == [12.34, -5.0, 7.0] and amounts.fixes["html_entity"].tolist() == [True, True, False]


def test_a_date_no_order_can_read_is_no_evidence_of_the_columns_order():
    """99/01/2024 was taken as proof of day-first (99 > 12) and shown as the note's example."""
    parsed = parse_datetime(pd.Series(["99/01/2024", "05/01/2024", "06/02/2024"]))
    assert parsed.note == {"key": "date_order_unknown", "ambiguous": 2, "example": "05/01/2024"}
    assert pd.isna(parsed.values.iloc[0]) and parsed.problem.iloc[0].startswith("has no such day in its month")
    decided = parse_datetime(pd.Series(["99/01/2024", "25/01/2024", "06/02/2024"]))
    assert decided.note["key"] == "date_order_day_first" and decided.note["example"] == "25/01/2024"
    assert decided.note["decided_by"] == 1


def test_an_offset_after_a_blank_as_shopify_writes_it_is_read_with_or_without_a_preset():
    # "2023-07-01 18:29:23 -0500": every date of a Shopify export mapped by hand was unreadable
    parsed = parse_datetime(pd.Series(["2023-07-01 18:29:23 -0500", "2024-03-05 14:22 +0800", "2024-03-05 14:22:10  -0500"]))
    assert parsed.values.tolist()[:2] == [pd.Timestamp("2023-07-01 18:29:23"), pd.Timestamp("2024-03-05 14:22")]
    assert pd.isna(parsed.values[2])  # two blanks: not a layout a system writes
    utc = parse_datetime(pd.Series(["2023-07-01 18:29:23 -0500"]), time_zone="UTC")
    assert utc.values.tolist() == [pd.Timestamp("2023-07-01 23:29:23")]


def test_labels_keep_their_chinese_punctuation_while_ids_and_statuses_are_narrowed(tmp_path):
    from segkit.intake.cleaning import clean_transactions
    from segkit.intake.sources import load_source
    from segkit.params import Source

    # a Taobao title and category as the shop writes them: the page and the exports showed T恤(白色)
    (tmp_path / "orders.csv").write_text(
        "order,customer,date,amount,category,sku\n１００１,ｔｂ００１,2024-03-05,10.00,T恤（白色）,耳机：降噪款！\n"
        "1002,tb001,2024-03-06,20.00,Ｔ恤,ＡＢＣ　１\n", encoding="utf-8")
    columns = {"order_id": "order", "customer_id": "customer", "ordered_at": "date", "amount": "amount",
               "category": "category", "product": "sku"}
    intake = load_source(Source.model_validate({"kind": "file", "transactions": {"path": str(tmp_path / "orders.csv"),
                                                                                 "columns": columns}}))
    clean = clean_transactions(intake.engine, intake.transactions, as_of=pd.Timestamp("2024-03-31").date()).clean
    assert clean["category"].tolist() == ["T恤（白色）", "T恤"]
    assert clean["product"].tolist() == ["耳机：降噪款！", "ABC\u30001"]  # letters and digits narrowed, the space kept
    assert clean["order_id"].tolist() == ["1001", "1002"] and clean["customer_id"].tolist() == ["tb001", "tb001"]
    assert clean["fixes"].tolist() == ["full_width", "full_width"]
    assert parse_text(pd.Series(["卖家已发货，等待买家确认"])).values.tolist() == ["卖家已发货,等待买家确认"]  # a status


def test_chinese_half_day_marks_before_the_time_are_read_on_the_24_hour_clock():
    # a Chinese Excel writes "2024/3/5 下午 2:03:00": it was unreadable (NaT, unreadable_date)
    parsed = parse_datetime(pd.Series(["2024/3/5 下午 2:03:00", "2024/3/5 上午 11:30", "2024/3/5 上午 12:10",
                                       "2024/3/5 下午 12:05", "2024/3/5 14:03", "5 Jan 2024 下午 3:04"]))
    assert parsed.values.tolist() == [pd.Timestamp("2024-03-05 14:03"), pd.Timestamp("2024-03-05 11:30"),
                                      pd.Timestamp("2024-03-05 00:10"), pd.Timestamp("2024-03-05 12:05"),
                                      pd.Timestamp("2024-03-05 14:03"), pd.Timestamp("2024-01-05 15:04")]
    wrong = parse_datetime(pd.Series(["2024/3/5 下午 13:00"]))  # no 13 o'clock in the afternoon
    assert pd.isna(wrong.values[0]) and "out of range" in wrong.problem[0]


def test_an_offset_no_clock_has_is_no_date_with_or_without_a_zone():
    # "-99" moved a time by 99 hours under time_zone; such a line is unreadable, said so
    for zone in (None, "UTC"):
        parsed = parse_datetime(pd.Series(["2024-03-05 14:22:10 -99", "2024-03-05 14:22:10-0575",
                                           "2024-03-05 14:22:10 +1400"]), time_zone=zone)
        assert pd.isna(parsed.values[0]) and pd.isna(parsed.values[1]) and pd.notna(parsed.values[2])
        assert parsed.problem[0] == "has a time zone offset no clock has (hours 0 to 14, minutes 0 to 59)"
    from segkit.i18n import detail_text

    assert detail_text('ordered_at "2024-03-05 14:22:10 -99" has a time zone offset no clock has (hours 0 to 14, '
                       'minutes 0 to 59)', "zh").endswith("带有不存在的时区偏移（小时为 0 到 14，分钟为 0 到 59）")


def two_exports_pasted() -> pd.Series:
    """Rows 1-30 day-first (13/09/2024), rows 31-60 month-first (09/13/2024): two exports pasted together."""
    return pd.Series([f"{d:02d}/09/2024" for d in range(1, 31)] + [f"09/{d:02d}/2024" for d in range(1, 31)])


def test_a_column_of_two_date_orders_says_to_split_the_file_with_the_rows_of_each():
    """The advice was "state cleaning.day_first", which would misread half of such a file."""
    from segkit.i18n import t

    parsed = parse_datetime(two_exports_pasted(), source_rows=pd.Series(range(2, 62)))
    note = parsed.note
    assert note["key"] == "date_order_conflict"
    assert (note["day_first"], note["day_from"], note["day_to"]) == (18, 14, 31)  # 13/09 to 30/09: rows 14-31
    assert (note["month_first"], note["month_from"], note["month_to"]) == (18, 44, 61)
    assert note["ambiguous"] == 22  # 01/09 .. 12/09 and 09/01 .. 09/12, but 09/09 reads alike either way
    for lang, words in (("en", "split the file"), ("zh", "拆分")):
        sentence = t("cleaning.note.date_order_conflict", lang, **{k: v for k, v in note.items() if k != "key"})
        assert words in sentence and "{" not in sentence and "44" in sentence
    assert parsed.problem.dropna().str.contains("two date orders in one file; split it").all()


def test_stating_one_order_for_a_file_of_two_says_so_rather_than_no_such_month():
    from segkit.i18n import t

    for stated, other in ((True, "09/13/2024"), (False, "13/09/2024")):
        parsed = parse_datetime(two_exports_pasted(), day_first=stated)
        assert parsed.note["key"] == "date_order_conflict_stated" and parsed.note["contrary"] == 18
        assert parsed.note["stated"] == str(stated).lower()
        at = two_exports_pasted().tolist().index(other)
        assert pd.isna(parsed.values.iloc[at])
        assert parsed.problem.iloc[at].startswith(f"can only be {'month' if stated else 'day'}-first, against")
        for lang in ("en", "zh"):
            assert "{" not in t("cleaning.note.date_order_conflict_stated", lang,
                                **{k: v for k, v in parsed.note.items() if k != "key"})
    # one order stated and the column holding only that one: no note, as before
    assert parse_datetime(pd.Series(["13/09/2024", "05/01/2024"]), day_first=True).note is None


def test_two_digit_years_are_read_once_the_order_of_day_and_month_is_settled():
    values, _ = stamps(["15.09.24", "01.02.69", "01.02.68", "05-01-00 13:02"], day_first=True)
    assert values == ["2024-09-15 00:00:00", "1969-02-01 00:00:00", "2068-02-01 00:00:00", "2000-01-05 13:02:00"]
    values, _ = stamps(["09/15/24", "01/02/24"], day_first=False)
    assert values == ["2024-09-15 00:00:00", "2024-01-02 00:00:00"]
    # settled by the column's four-digit-year dates: followed, and counted in the note
    parsed = parse_datetime(pd.Series(["25/12/2023", "15.09.24", "05.01.24"]))
    assert parsed.values.tolist()[1:] == [pd.Timestamp("2024-09-15"), pd.Timestamp("2024-01-05")]
    assert parsed.note["followed"] == 2 and parsed.fixes["date_order_by_column"].tolist() == [False, True, True]


def test_two_digit_years_settle_no_order_themselves():
    """"24.09.15" may be year-first: a date with a two-digit year is no evidence of the column's order."""
    parsed = parse_datetime(pd.Series(["15.09.24", "05.01.24"]))
    assert parsed.values.isna().all() and parsed.note["key"] == "date_order_unknown"
    assert parsed.problem.str.startswith("has a two-digit year").all()
    assert "state cleaning.day_first" in parsed.problem.iloc[0]
