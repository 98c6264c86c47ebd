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


def test_a_currency_with_three_decimals_and_numbers_of_any_kind():
    import decimal

    import numpy as np

    bhd = Currency(code="BHD", symbol="BD", minor_unit=3)
    assert format(Money(1.234, bhd), ",.2f") == "BD1.234"  # the currency's decimals, not the format's
    assert format(Money(np.int64(1234567), GBP), ",.2f") == "£1,234,567.00"
    frame = pd.DataFrame({"revenue": [decimal.Decimal("1234.5"), np.float32(2.5), None]})
    shown = [td.get_text() for td in BeautifulSoup(table(frame, "en", currency=GBP).to_html(), "html.parser").find_all("td")]
    assert shown == ["£1,234.50", "£2.50", "—"]


def test_values_from_the_data_label_columns_but_never_name_them():
    from segkit.report.html import dimension_tables

    profile = pd.DataFrame({"customer_id": list("abcdefg"),
                            "segment": ["champions", "lost", "lost", "champions", "lost", "at_risk", "lost"],
                            "region": ["segment", "total", "revenue", "share", "—", None, "segment"]})
    soup = BeautifulSoup(dimension_tables(profile, "segment", ["region"], "rfm11", "en").markup, "html.parser")
    assert [th.get_text() for th in soup.find_all("th")] == [
        "Segment", "revenue", "segment", "share", "total", "—", "(blank)", "Total"]
    rows = {tr.find("td").get_text(): [td.get_text() for td in tr.find_all("td")[1:]] for tr in soup.find_all("tr")[1:]}
    assert rows["Champions"] == ["0", "1", "1", "0", "0", "0", "2"]  # counts, not money nor percentages
    assert rows["Lost"] == ["1", "1", "0", "1", "1", "0", "4"]
    repeated = pd.DataFrame([[1.5, 2.5]], columns=["revenue", "revenue"])
    assert [td.get_text() for td in BeautifulSoup(table(repeated, "en").to_html(), "html.parser").find_all("td")] == [
        "1.50", "2.50"]


def test_a_yes_no_dimension_reads_yes_and_no_in_the_pages_language():
    from segkit.report.html import dimension_tables

    segments = ["champions", "lost", "lost", "champions"]
    for member, blank in ((pd.Series([True, False, True, True]), False),
                          (pd.Series([True, None, False, True], dtype="boolean"), True)):  # a Parquet boolean with nulls
        profile = pd.DataFrame({"customer_id": list("abcd"), "segment": segments, "is_member": member})
        for lang, yes, no, empty in (("en", "Yes", "No", "(blank)"), ("zh", "是", "否", "（空）")):
            soup = BeautifulSoup(dimension_tables(profile, "segment", ["is_member"], "rfm11", lang).markup, "html.parser")
            headers = [th.get_text() for th in soup.find_all("th")]
            assert headers[1:-1] == [yes, no, *([empty] if blank else [])], headers
            assert "True" not in headers and "False" not in headers
            champions = [td.get_text() for td in soup.find_all("tr")[1].find_all("td")]
            assert champions[1:3] == ["2", "0"]


def test_a_dimension_no_customer_has_is_a_sentence_not_a_table_of_blanks():
    from segkit.report.html import dimension_tables

    profile = pd.DataFrame({"customer_id": list("abcd"), "segment": ["champions", "lost", "lost", "at_risk"],
                            "channel": [None, " ", "", None], "region": ["north", None, "south", "north"]})
    for lang in ("en", "zh"):
        soup = BeautifulSoup(dimension_tables(profile, "segment", ["channel", "region"], "rfm11", lang).markup,
                             "html.parser")
        assert len(soup.find_all("table")) == 1  # region's only
        text = soup.get_text()
        assert ("the column is empty" if lang == "en" else "该列为空") in text
        assert [th.get_text() for th in soup.find("table").find_all("th")][1:3] == ["north", "south"]


def test_a_figure_the_data_cannot_give_is_a_dash_never_nan_or_inf():
    import numpy as np

    from segkit.report.html import render_markdown

    text = render_markdown("median {days:,.0f} days, share {share:.1%}, revenue {revenue}, n {n}",
                           days=float("nan"), share=np.float64("inf"), revenue=Money(float("nan"), None), n=3)
    assert text == "<p>median — days, share —, revenue —, n 3</p>\n"
    assert "nan" not in text.lower() and "inf" not in text.lower()


def test_table_cells_that_are_not_finite_show_a_dash():
    import numpy as np
    import pandas as pd

    from segkit.report.html import table

    frame = pd.DataFrame({"estimate": [1.5, np.inf], "standard_error": [np.nan, -np.inf], "revenue": [np.inf, 2.0]})
    html = table(frame, "en").to_html()
    assert "inf" not in html.lower() and "nan" not in html.lower() and html.count("—") == 4


def test_the_holdout_table_names_each_column_and_its_model():
    from segkit.report.evaluation_tables import holdout_table

    # the columns of segkit.models.clv.holdout_check with Pareto/NBD beside BG/NBD
    check = pd.DataFrame({"x": ["0", "1+"], "customers": [10, 5], "actual": [3.0, 8.0], "predicted": [2.5, 7.0],
                          "alternative": [2.7, 7.5], "actual_mean": [0.3, 1.6], "predicted_mean": [0.25, 1.4],
                          "alternative_mean": [0.27, 1.5]})
    for lang, words in (("en", "Predicted"), ("zh", "预测")):
        headers = [th.get_text() for th in BeautifulSoup(table(holdout_table(check), lang).to_html(),
                                                         "html.parser").find_all("th")]
        assert len(headers) == check.shape[1] and not set(headers) & set(check.columns), headers
        by_model = [h for h in headers if words in h]
        assert sum("BG/NBD" in h for h in by_model) == 2 and sum("Pareto/NBD" in h for h in by_model) == 2, headers


def test_a_dimension_is_named_in_the_pages_language_and_a_users_own_as_written():
    from segkit.report.html import dimension_tables

    profile = pd.DataFrame({"customer_id": list("abcd"), "segment": ["champions", "lost", "lost", "at_risk"],
                            "category": ["books", "toys", "books", "toys"], "country": ["DE", "FR", "DE", "DE"],
                            "empty": [None, None, None, None]})
    said = {lang: [p.get_text() for p in BeautifulSoup(dimension_tables(
        profile, "segment", ["category", "country", "empty"], "rfm11", lang).markup, "html.parser").find_all("p")]
        for lang in ("en", "zh")}
    assert said["zh"][:2] == ["按品类划分的客户群。", "按“country”划分的客户群。"]
    assert said["zh"][2].startswith("数据中没有任何客户的“empty”有值")
    assert said["en"][:2] == ["Segments by category.", "Segments by country."]


def test_distances_read_side_by_side_with_two_decimals_each():
    markup = table(pd.DataFrame({"distance": [0.33, 0.558, 1.0]}), "en").to_html()
    assert ">0.33<" in markup and ">0.56<" in markup and ">1.00<" in markup and "0.558" not in markup


def test_timestamps_show_to_the_second_and_the_input_columns_have_labels():
    frame = pd.DataFrame({"ordered_at": pd.to_datetime(["2025-12-19 10:08:10.933101", None]), "status": ["x", "y"]})
    markup = table(frame, "zh").to_html()
    assert ">2025-12-19 10:08:10<" in markup and "933101" not in markup
    assert ">日期<" in markup and ">状态<" in markup and "ordered_at" not in markup


def test_text_of_any_length_from_the_data_is_cut_in_headers_and_cells_never_merged():
    """A 20,000-character category as a column header (07's table of items) and as a cell: shown cut
    with "…" to HEADER_WIDTH / CELL_WIDTH display columns (a Chinese character two), so the table stays
    on its page; short labels and cells whole; the width class follows what is shown."""
    import unicodedata

    from segkit.report.html import CELL_WIDTH, HEADER_WIDTH

    def width(text):
        return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)

    huge, chinese = "x" * 20_000, "儿童保温杯" * 4_000
    frame = pd.DataFrame([["a", 1, 2, huge], ["b", 3, 4, chinese]])
    soup = BeautifulSoup(table(frame, "en", labels=["segment", huge, chinese, "item"]).to_html(), "html.parser")
    headers = [th.get_text() for th in soup.find_all("th")]
    assert headers[0] == "segment" and headers[3] == "item"
    assert [width(label) for label in headers[1:3]] == [HEADER_WIDTH, HEADER_WIDTH - 1]  # 23 characters of 2, then …
    assert headers[1] == "x" * (HEADER_WIDTH - 1) + "…" and headers[2].startswith("儿童保温杯") and headers[2].endswith("…")
    cells = [td.get_text() for td in soup.find_all("td")]
    assert cells[0] == "a" and width(cells[3]) <= CELL_WIDTH and cells[3].endswith("…")
    assert cells[7].startswith("儿童保温杯") and width(cells[7]) <= CELL_WIDTH
    assert "segkit-huge" not in soup.find("table")["class"]


def test_chart_labels_cut_alike_stay_apart():
    from segkit.report import plots

    long = ["Set of 3 Cake Tins Pantry Design, red " * 3, "Set of 3 Cake Tins Pantry Design, red " * 3 + "blue"]
    shown = plots.short_labels([*long, "mugs"])
    assert shown[0].endswith("…") and shown[1] == shown[0] + "²" and shown[2] == "mugs"
    summary = pd.DataFrame({"group": long, "customer_share": [0.4, 0.6], "revenue_share": [0.5, 0.5]})
    fig = plots.share_bars(summary, "group", "en", "chart.segments")
    assert len(fig.axes[0].get_yticklabels()) == 2  # two bars, not one bar of both


def test_measures_read_down_a_column_have_one_number_of_decimals_each():
    frame = pd.DataFrame({"nps": [40.8, -2.84, 0.0], "silhouette": [0.399, 0.0353, 0.1],
                          "eval_f1": [0.0, 0.6071, 1.0], "eval_mean_jaccard": [0.89, 0.9194, 1.0],
                          "eval_calinski_harabasz": [3524.31, 1003.0, 12.25], "score": [4.35, 4.0, 3.7412],
                          "revenue_index": [110.2, 96.2, 100.0], "recency_days": [79.5, 159.0, 3.2],
                          "eval_bgnbd_predicted_mean": [0.417, 0.9, 1.3201]})
    for lang in ("en", "zh"):
        cells = [td.get_text() for td in BeautifulSoup(table(frame, lang).to_html(), "html.parser").find_all("td")]
        columns = [cells[i::9] for i in range(9)]
        assert columns == [["40.8", "-2.8", "0.0"], ["0.399", "0.035", "0.100"], ["0.000", "0.607", "1.000"],
                           ["0.890", "0.919", "1.000"], ["3,524.3", "1,003.0", "12.2"], ["4.35", "4.00", "3.74"],
                           ["110", "96", "100"], ["80", "159", "3"], ["0.42", "0.90", "1.32"]], columns


def test_a_chinese_header_breaks_between_its_words_never_inside_one():
    frame = pd.DataFrame({"a": [1], "b": [2], "c": [3]})
    soup = BeautifulSoup(table(frame, "zh", labels=["校准期人均销售额", "Pareto/NBD 预测人均", "Orders per customer"])
                         .to_html(), "html.parser")
    headers = soup.find_all("th")
    kept = [[span.get_text() for span in th.find_all("span", class_="segkit-nobreak")] for th in headers]
    assert kept == [["校准期人均销售额"], ["预测人均"], []]
    assert [th.get_text() for th in headers] == ["校准期人均销售额", "Pareto/NBD 预测人均", "Orders per customer"]
    from segkit.report.pages import REPORT_CSS
    assert ".segkit-nobreak { white-space: nowrap; }" in REPORT_CSS
