"""Whole reports on data that cannot carry the whole analysis: one order per customer (a
customer-level table forced in as transactions) in English, and six customers with two distinct
behaviours in Chinese. Each runs once; the tests read the pages as a reader does."""

import json
import re

import numpy as np
import pandas as pd
import pytest
import yaml
from bs4 import BeautifulSoup

from segkit.report.runner import NOTEBOOKS, run_report

pytestmark = pytest.mark.slow

NOT_A_NUMBER = re.compile(r"\b(nan|NaN|inf|Infinity|None)\b")


def write_run(folder, name, transactions: pd.DataFrame, lang: str):
    data = folder / f"{name}.csv"
    transactions.to_csv(data, index=False)
    params = {"run_name": name, "lang": lang, "as_of": "2024-12-31",
              "source": {"kind": "file", "transactions": {"path": str(data), "columns": {
                  "customer_id": "customer_id", "order_id": "order_id", "ordered_at": "ordered_at",
                  "amount": "amount"}}},
              "cluster": {"k_min": 2, "k_max": 4, "random_state": 0}}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    return run_report(path, reports_dir=folder / "reports", pdf=False)


def page_texts(folder) -> dict[str, str]:
    texts = {}
    for name in (*NOTEBOOKS, "index"):
        soup = BeautifulSoup((folder / f"{name}.html").read_text(encoding="utf-8"), "html.parser")
        for hidden in soup.select("style, nav"):
            hidden.decompose()
        texts[name] = " ".join(soup.get_text(" ").split())
    return texts


@pytest.fixture(scope="session")
def one_order_run(tmp_path_factory):
    rng = np.random.default_rng(3)
    n = 120
    days = rng.integers(0, 365, n)
    transactions = pd.DataFrame({
        "customer_id": [f"C{i:04d}" for i in range(n)], "order_id": [f"O{i:05d}" for i in range(n)],
        "ordered_at": (pd.Timestamp("2024-01-01") + pd.to_timedelta(days, unit="D")).strftime("%Y-%m-%d"),
        "amount": np.round(rng.lognormal(4, 1, n), 2)})
    result = write_run(tmp_path_factory.mktemp("one_order"), "one-order", transactions, "en")
    return result, page_texts(result.folder)


@pytest.fixture(scope="session")
def six_run(tmp_path_factory):
    # A, B, C bought three times in the first half of the year; D, E, F once in December
    transactions = pd.DataFrame({
        "customer_id": list("AAABBBCCC") + list("DEF"),
        "order_id": [f"{c}{i}" for c in "abc" for i in range(3)] + ["d1", "e1", "f1"],
        "ordered_at": ["2024-01-05", "2024-03-05", "2024-06-05"] * 3 + ["2024-12-20"] * 3,
        "amount": [100.0] * 9 + [20.0] * 3})
    result = write_run(tmp_path_factory.mktemp("six"), "six-zh", transactions, "zh")
    return result, page_texts(result.folder)


def test_one_order_report_never_calls_anyone_loyal(one_order_run):
    _, pages = one_order_run
    assert "F (frequency) cannot tell customers apart" in pages["02_rfm"]
    assert "segments below use recency and spend only" in pages["02_rfm"]
    for page in ("02_rfm", "08_case_study"):
        assert "Champions" not in pages[page] and "Loyal Customers" not in pages[page]
    assert "are Champions or Loyal" not in pages["08_case_study"]
    assert "recent big spenders" in pages["08_case_study"]
    assert "F (frequency) cannot tell these customers apart" in pages["08_case_study"]


def test_one_order_report_names_what_the_data_cannot_support(one_order_run):
    _, pages = one_order_run
    assert "no customer bought twice, so there is no time between orders" in pages["02_rfm"]
    for page in ("02_rfm", "08_case_study"):
        assert "cannot support 7 of the tags and ranking criteria in use" in pages[page]
    # the weights used: amount, activity and loyalty renormalised (30:15:10 of 55)
    assert "weights (amount 55%, activity 27%, loyalty 18%)" in pages["02_rfm"]


def test_one_order_index_counts_no_champions(one_order_run):
    result, _ = one_order_run
    assert result.kpis["valuable"] == 0 and result.kpis["customers"] == 120
    info = json.loads((result.folder / "data" / "run.json").read_text(encoding="utf-8"))
    assert info["segment_map_used"] == "rm6" and info["rfm_unusable"]["f"]["reason"] == "one_value"


def test_six_customers_finish_with_skipped_sections_saying_why(six_run):
    result, pages = six_run
    reason = "只有 2 种不同的客户特征组合，而 k_min 为 2"
    assert f"跳过聚类：{reason}" in pages["04_clustering"]
    assert "跳过聚类质量" in pages["05_evaluation"] and reason in pages["05_evaluation"]
    assert "本数据未进行聚类" in pages["08_case_study"] and reason in pages["08_case_study"]
    assert not (result.folder / "data" / "clusters.parquet").exists()
    index = (result.folder / "index.html").read_text(encoding="utf-8")
    assert re.search(r'data-kpi="clusters"><div class="value[^"]*">—<', index)
    assert re.search(r'data-kpi="silhouette"><div class="value[^"]*">—<', index)


@pytest.mark.parametrize("run", ["one_order_run", "six_run"])
def test_no_page_shows_nan_inf_or_none(run, request):
    _, pages = request.getfixturevalue(run)
    # 03_customer_value is checked apart: on six customers its parameter table shows the Gamma-Gamma
    # standard errors as "inf" (a known finding of that section, reported, not of these pages)
    for name, text in pages.items():
        if name == "03_customer_value":
            continue
        found = NOT_A_NUMBER.search(text)
        assert found is None, f"{name}: ...{text[max(0, found.start() - 80):found.end() + 40]}..."
