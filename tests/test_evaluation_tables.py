"""segkit.report.evaluation_tables: the evaluation page's tables (05_evaluation) in words."""

from __future__ import annotations

import pandas as pd


def _headers_and_rows(rendered) -> tuple[list[str], list[str]]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(rendered.to_html(), "html.parser")
    return ([cell.get_text("", strip=True) for cell in soup.select("thead th")][1:],
            [row.find("td").get_text("", strip=True) for row in soup.select("tbody tr")])


def test_long_cluster_names_head_the_confusion_matrix_by_number_with_the_names_beside():
    """05's headers cut generated names mid-word ("cooling or long inactive, frequent or occasiona…"):
    two clusters whose names differ only past the cut read alike. The columns are headed by the
    clusters' numbers, each row by its number and full name."""
    from types import SimpleNamespace

    from segkit.report.evaluation_tables import cluster_codes, confusion_view

    common = "cooling or long inactive, frequent or occasional, "
    names = {0: common + "top spend or high spend", 1: common + "low spend", 2: "very recent, very frequent"}
    confusion = pd.DataFrame([[5, 1, 0], [2, 7, 0], [0, 0, 9]], index=list(names.values()), columns=list(names.values()))
    explanation = SimpleNamespace(confusion=confusion)
    for lang in ("en", "zh"):
        headers, rows = _headers_and_rows(confusion_view(explanation, lang, codes=cluster_codes(names)))
        assert headers == ["C0", "C1", "C2"]
        assert rows == [f"C{number} {name}" for number, name in names.items()]
    # without codes, names that would be cut or read alike are numbered the same way
    headers, rows = _headers_and_rows(confusion_view(explanation, "en"))
    assert len(set(headers)) == len(headers) == 3 and not any("…" in header for header in headers)
    assert all(name in row for name, row in zip(names.values(), rows))
    # short distinct names (the segments) stay as they are
    short = SimpleNamespace(confusion=pd.DataFrame([[1, 0], [0, 1]], index=["champions", "lost"],
                                                   columns=["champions", "lost"]))
    headers, rows = _headers_and_rows(confusion_view(short, "en", {"champions": "Champions", "lost": "Lost"}))
    assert headers == ["Champions", "Lost"] and rows == ["Champions", "Lost"]


def test_the_matrix_sentence_shows_its_money_cuts_in_the_currency():
    """05 said "value 867.40, potential 578.33" (价值 867.40，潜力 578.33) beside a table and chart in ¥:
    a cut on a column of money is shown with the run's currency, at its decimals; a cut on a column
    that is not money (P(alive), a customer attribute) stays a plain number."""
    from types import SimpleNamespace

    from segkit.report.tables import matrix_text

    yen, dinar = SimpleNamespace(symbol="¥", minor_unit=2), SimpleNamespace(symbol="BD", minor_unit=3)
    for lang in ("en", "zh"):
        on_money = SimpleNamespace(cuts={"value": 867.4, "potential": 578.33}, left_out=0, value="revenue",
                                   potential="clv")
        text = matrix_text(on_money, lang, "Revenue", "CLV", "median", yen).markup
        assert "¥867.40" in text and "¥578.33" in text, text
        assert "BD867.400" in matrix_text(on_money, lang, "Revenue", "CLV", "median", dinar).markup
        mixed = SimpleNamespace(cuts={"value": 1234.5, "potential": 0.4}, left_out=3, value="revenue",
                                potential="p_alive")
        text = matrix_text(mixed, lang, "Revenue", "P(alive)", "median", yen).markup
        assert "¥1,234.50" in text and "0.40" in text and "¥0.40" not in text, text
