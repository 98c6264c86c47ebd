"""segkit.report.numbers: every number of the report in its language and currency (issue 13).

Expected texts are built here from the values by plain arithmetic and Python's own format(), not copied
from the module's output."""

from __future__ import annotations

import decimal

import numpy as np
import pytest

from segkit.params import Currency, validate_params
from segkit.report import numbers
from segkit.report.html import say, table
from segkit.report.pages import format_kpis

CNY = Currency(code="CNY", symbol="¥", minor_unit=2)
USD = Currency(code="USD", symbol="$", minor_unit=2)
JPY = Currency(code="JPY", symbol="¥", minor_unit=0)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_full_digits_in_both_languages(lang):
    assert numbers.money(2_500_315.63, lang, USD) == "$" + format(2_500_315.63, ",.2f")
    assert numbers.money(-12.3, lang, CNY) == "-¥12.30" and numbers.money(-0.001, lang, CNY) == "¥0.00"
    assert numbers.money(1234.5, lang, JPY) == "¥" + format(1234, ",d")  # a yen has no decimals (half to even)
    assert numbers.money(np.float32(2.5), lang, None) == "2.50" and numbers.money(decimal.Decimal("7"), lang) == "7.00"
    assert numbers.integer(np.int64(23_570), lang) == format(23_570, ",d")
    assert numbers.percent(0.1234, lang) == format(0.1234, ".1%")


def test_catalogue_format_specs_give_python_texts_without_exponents():
    for value, spec in [(1234.5, ","), (1234, ","), (0.5, ".1%"), (0.5, ".0%"), (1234.567, ",.2f"),
                        (1234.567, ".2f"), (30.5, ",.3g"), (12, "d"), (1234.5, "+,.2f"), (-1234.5, "+,.2f"),
                        (0.02, "+.1%"), (3.0, ".0f"), (0.4567, ".3f"), (2.0, "g")]:
        assert numbers.format_spec(value, spec, "en") == format(value, spec), (value, spec)
        assert numbers.format_spec(value, spec, "zh") == format(value, spec), (value, spec)
    # where Python writes an exponent, a manager reads the number
    assert format(1_234_567.25, ",.3g") == "1.23e+06"
    assert numbers.format_spec(1_234_567.25, ",.3g", "en") == format(1_230_000, ",d")
    # no "-0.0%", and no "0.0%" for a change that is not nothing: the side it lies on
    assert numbers.format_spec(-0.0001, "+.1%", "en") == ">-0.1%" and numbers.format_spec(0.0, "+.1%", "en") == "+0.0%"
    assert numbers.format_spec("text", "", "en") == "text" and numbers.format_spec(True, "", "en") == "True"


def test_chinese_headline_figures_in_wan_and_yi():
    revenue = 25_003_156.3
    assert numbers.headline_money(revenue, "zh", CNY) == f"¥{revenue / 10_000:,.1f}万"
    assert numbers.headline_money(123_456_789_012, "zh", CNY) == f"¥{123_456_789_012 / 100_000_000:,.1f}亿"
    assert numbers.headline_money(-revenue, "zh", CNY) == f"-¥{revenue / 10_000:,.1f}万"
    assert numbers.headline_money(9_999.5, "zh", CNY) == "¥9,999.50"  # below 1万: in full
    assert numbers.headline_money(revenue, "en", CNY) == f"¥{revenue:,.2f}"  # English: in full
    assert numbers.headline_count(236_000, "zh") == f"{236_000 / 10_000:.1f}万"
    assert numbers.headline_count(23_570, "zh") == "23,570" and numbers.headline_count(236_000, "en") == "236,000"
    assert numbers.axis_number(2_500_000, "zh") == f"{2_500_000 // 10_000}万"
    assert numbers.axis_number(2_500_000, "en") == "2,500,000"


def test_an_unknown_language_is_named():
    with pytest.raises(ValueError, match="lang must be one of en, zh, got 'fr'"):
        numbers.percent(0.5, "fr")


def kpis(**changes):
    figures = {"customers": 236_000, "orders": 1_000_000, "revenue": 25_003_156.3, "top_share": 0.6512,
               "valuable": 5_000, "at_risk": 123_456, "clusters": 5, "silhouette": 0.41234, "rows_in": 1_200_000,
               "rows_aside": 80}
    return {**figures, **changes}


def test_index_figures_in_the_run_language_and_currency():
    en = dict((key, value) for key, _, value in format_kpis(kpis(), validate_params({"lang": "en", "currency": {"code": "CNY", "symbol": "¥"}})))
    figures = kpis()
    assert en["revenue"] == f"¥{figures['revenue']:,.2f}" and en["customers"] == f"{figures['customers']:,}"
    assert en["top_share"] == f"{figures['top_share']:.1%}" and en["silhouette"] == f"{figures['silhouette']:.3f}"
    zh = dict((key, value) for key, _, value in format_kpis(kpis(), validate_params({"lang": "zh", "currency": {"code": "CNY", "symbol": "¥"}})))
    assert zh["revenue"] == f"¥{figures['revenue'] / 1e4:,.1f}万"
    assert zh["customers"] == f"{figures['customers'] / 1e4:.1f}万" and zh["rows_in"] == f"{120:.1f}万"
    assert zh["valuable"] == f"{figures['valuable']:,}" and zh["rows_aside"] == "80"
    assert zh["top_share"] == en["top_share"] and zh["clusters"] == "5"
    assert "rows_later" not in en  # shown only when a monthly run has rows of later months
    later = dict((key, value) for key, _, value in format_kpis(kpis(rows_later=1_234), validate_params({"lang": "en"})))
    assert later["rows_later"] == "1,234"
    # beside the later rows, the other card says it counts the others (the cleaning page counts both)
    for lang in ("en", "zh"):
        labels = {key: label for key, label, _ in format_kpis(kpis(), validate_params({"lang": lang}))}
        both = {key: label for key, label, _ in format_kpis(kpis(rows_later=2), validate_params({"lang": lang}))}
        assert both["rows_aside"] != labels["rows_aside"] and ("besides" in both["rows_aside"] or "不含" in both["rows_aside"])
        assert "also set aside" in both["rows_later"] or "同样隔离" in both["rows_later"]


def test_tables_and_sentences_format_through_the_module():
    import pandas as pd
    from bs4 import BeautifulSoup

    frame = pd.DataFrame({"segment": ["a"], "median_recency": [1234.5], "revenue": [1_234_567.891]})
    for lang in ("en", "zh"):
        cells = [td.get_text() for td in BeautifulSoup(table(frame, lang, currency=CNY).to_html(), "html.parser")("td")]
        assert cells == ["a", f"{1230:,}", f"¥{1_234_567.89:,.2f}"]  # 3 significant digits, never "1.23e+03"
    text = say("rfm.pareto", "zh", top=0.2, share=0.6512).markup
    assert f"{0.2:.0%}" in text and f"{0.6512:.1%}" in text


def test_a_difference_of_two_rates_is_shown_in_percentage_points():
    """An uplift of 0.052 (a 9.3% response rate against the control group's 4.1%) read "5.2%" beside
    the rates themselves: it is 5.2 percentage points, the unit in the header."""
    import pandas as pd
    from bs4 import BeautifulSoup

    frame = pd.DataFrame({"treated_rate": [0.093], "control_rate": [0.041], "uplift": [0.052],
                          "uplift_low": [-0.0126], "uplift_high": [0.1]})
    for lang, unit in (("en", "(pts)"), ("zh", "个百分点")):
        page = BeautifulSoup(table(frame, lang).to_html(), "html.parser")
        assert [td.get_text() for td in page("td")] == ["9.3%", "4.1%", "5.2", "-1.3", "10.0"]
        headers = [th.get_text() for th in page("th")]
        assert all(unit in h for h in headers[2:]) and not any(unit in h for h in headers[:2])


def test_figures_the_data_cannot_give_are_shown_as_such_in_every_formatter():
    """NaN and None are "—", infinity "∞" (an interval the data cannot bound), in both languages:
    never a crash in a page (a thin report's value intervals have infinite ends)."""
    from types import SimpleNamespace

    from segkit.report import numbers

    dollars = SimpleNamespace(symbol="$", minor_unit=2)
    for lang in ("en", "zh"):
        for value, shown in ((float("nan"), "—"), (None, "—"), (float("inf"), "∞"), (float("-inf"), "-∞")):
            assert numbers.money(value, lang, dollars) == shown
            assert numbers.headline_money(value, lang, dollars) == shown
            assert numbers.percent(value, lang) == shown
            assert numbers.decimal_number(value, lang, 2) == shown
            assert numbers.significant(value, lang) == shown
            assert numbers.headline_count(value, lang) == shown
            assert numbers.axis_number(value, lang) == shown


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_share_short_of_all_or_above_none_never_reads_100_or_0_percent(lang):
    """06 said "100% of all customers did [stay in their segment]" above a table of one who moved: a
    share that is not exactly 1 never reads 100%, one that is not exactly 0 never 0%, in sentences
    (the catalogue's specs), tables and every other caller of numbers.percent."""
    stayed = 1 - 1 / 40_000  # one customer of 40,000 moved
    for decimals in (0, 1, 2):
        step = 10.0 ** -decimals  # the smallest share shown, in percent
        assert numbers.percent(stayed, lang, decimals) == ">" + format(100 - step, f".{decimals}f") + "%"
        assert numbers.percent(1 - stayed, lang, decimals) == "<" + format(step, f".{decimals}f") + "%"
        assert numbers.percent(-(1 - stayed), lang, decimals) == ">-" + format(step, f".{decimals}f") + "%"
        assert numbers.percent(-stayed, lang, decimals) == "<-" + format(100 - step, f".{decimals}f") + "%"
        # exact shares and those that round to something else are as before
        for exact in (0, 1, 0.0, 1.0, decimal.Decimal("1"), 0.5, 0.123456, stayed - 0.01):
            assert numbers.percent(exact, lang, decimals) == format(exact, f".{decimals}%")
    assert numbers.format_spec(stayed, ".0%", lang) == ">99%"
    rendered = say("migration.transitions", lang, stayed=stayed).markup
    assert "100%" not in rendered and "&gt;99%" in rendered
    shares = table(__import__("pandas").DataFrame({"segment": ["a", "b"], "customer_share": [stayed, 1 - stayed]}),
                   lang).to_html()
    assert "100.0%" not in shares and "0.0%" not in shares and "&gt;99.9%" in shares and "&lt;0.1%" in shares


def test_a_share_that_is_whole_but_for_floating_point_noise_reads_100_or_0_percent():
    """01's ledger total summed its rows' shares to 0.9999999999999999 and read ">99.9%" for all 31,984 of
    31,984 rows: a sum or difference of floats beside 0 or ±1 is that exactly; a real shortfall still is not.
    With a sign, a tiny change reads "<0.1%", not "<+0.1%"."""
    import pandas as pd

    noisy_whole = pd.Series([0.7, 0.2, 0.1]).cumsum().iloc[-1]
    assert noisy_whole != 1 and numbers.percent(noisy_whole, "en") == "100.0%"
    noisy_zero = 0.3 - 0.1 - 0.2
    assert noisy_zero != 0 and numbers.percent(noisy_zero, "en") == "0.0%"
    assert numbers.percent(-noisy_whole, "zh", 0) == "-100%"
    assert numbers.percent(1 - 1 / 40_000, "en") == ">99.9%"  # one of 40,000: a real shortfall
    assert numbers.percent(0.0004, "en", sign=True) == "<0.1%" and numbers.percent(0.25, "en", sign=True) == "+25.0%"


def test_tables_that_format_shares_themselves_say_them_as_numbers_percent():
    from segkit.report.evaluation_tables import _percent
    from segkit.report.tables import weights_text

    assert _percent([1 - 1e-6, 1e-6, 1.0, float("nan")]) == [">99.9%", "<0.1%", "100.0%", "—"]
    assert "<1%" in weights_text({"amount": 1.0, "frequency": 1e-6}, "en")
