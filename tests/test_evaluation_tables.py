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
