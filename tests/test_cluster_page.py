"""Issue 11, clustering: what the 04_clustering page of the shared whole reports says (no new runs)."""

import json

import pytest

from segkit.i18n import t

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("fixture, lang", [("en_run", "en"), ("zh_run", "zh")])
def test_the_clustering_page_says_how_k_was_chosen_and_shows_the_charts_and_tables(fixture, lang, request):
    _, result = request.getfixturevalue(fixture)
    page = (result.folder / "04_clustering.html").read_text(encoding="utf-8")
    info = json.loads((result.folder / "data" / "run.json").read_text(encoding="utf-8"))
    k = info["k"]
    assert info["cluster_method"] == "kmeans" and info["cluster_k_reason"]["k"] == k
    rule = info["cluster_k_reason"]["rule"]
    assert rule in ("gap", "gap_max")
    assert f"k = {k}" in page and ("Tibshirani" in page)
    assert page.count("<img") >= 3  # the k sweep, the shares and the snake plot
    assert t("col.stated", lang) in page and t("col.median", lang) in page
    assert info["cluster_sample"] is None  # the tiny demo is far below cluster.sample_threshold
