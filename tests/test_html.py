"""segkit.report.html: money in the run's currency, number formats by column."""

import pandas as pd
from bs4 import BeautifulSoup

from segkit.params import Currency
from segkit.report.html import Money, say, table

GBP = Currency(code="GBP", symbol="£", minor_unit=2)
JPY = Currency(code="JPY", symbol="¥", minor_unit=0)


def test_money_shows_the_symbol_and_at_most_the_minor_unit():
    assert format(Money(1234.5, GBP), ",.2f") == "£1,234.50"
    assert format(Money(1234.4, JPY), ",.2f") == "¥1,234"  # a yen has no decimals
    assert format(Money(-12.3, GBP), ",.2f") == "-£12.30"
    assert format(Money(-0.001, GBP), ",.2f") == "£0.00"  # no "-£0.00"
    assert format(Money(1234.6, GBP), ",.0f") == "£1,235"  # the sentence asks for no decimals
    assert format(Money(7, None), ",.2f") == "7.00"  # no currency: a plain number


def test_tables_and_sentences_use_the_currency_for_money_only():
    frame = pd.DataFrame({"segment": ["a"], "orders": [1200], "revenue": [1234.5], "revenue_share": [0.5]})
    shown = [td.get_text() for td in BeautifulSoup(table(frame, "en", currency=GBP).to_html(), "html.parser").find_all("td")]
    assert shown == ["a", "1,200", "£1,234.50", "50.0%"]
    text = say("rfm.tiers", "en", currency=JPY, f_low=2, f_high=5, m_low=100.4, m_high=2500.0).markup
    assert "¥100" in text and "¥2,500" in text and "¥5" not in text  # orders are not money
