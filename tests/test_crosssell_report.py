"""The 07_cross_sell page of the shared English and Chinese demo reports (no new whole-report run)."""

import re

import pandas as pd
import pytest

pytestmark = pytest.mark.slow


def page(run, name="07_cross_sell"):
    return (run[1].folder / f"{name}.html").read_text(encoding="utf-8")


def text_of(html: str) -> str:
    body = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def test_the_cross_sell_page_sits_between_evaluation_and_the_case_study(en_run):
    index = page(en_run, "index")
    links = re.findall(r'<li><a href="([^"]+)\.html">', index)
    assert links.index("05_evaluation") < links.index("07_cross_sell") < links.index("08_case_study")


def test_the_english_page_shows_the_mix_rules_next_best_and_campaigns(en_run):
    html = page(en_run)
    text = text_of(html)
    assert "7. What each segment buys" in text
    assert "as an index against all customers" in text and html.count("data:image/png") >= 2  # heatmap, rates chart
    assert "What sets the valuable segments (Champions, Loyal Customers) apart" in text
    assert "Cross-sell rules" in text or "No rule reaches support" in text
    found = re.search(r"A next best category for each customer: .*? ([\d,]+) of ([\d,]+) customers get one", text)
    assert found and int(found.group(2).replace(",", "")) > 0
    joined = re.search(r"([\d,]+) campaign rows?, of which ([\d,]+) \(([\d,]+) customers?\) (is|are) for (a customer|customers) "
                       r"not in the cleaned transactions", text)
    assert joined, "the campaigns join is reported"
    missing_rows, missing_customers = (int(joined.group(i).replace(",", "")) for i in (2, 3))
    # the words agree with their counts: "1 (1 customer) is", "12 (9 customers) are"
    assert joined.group(4) == ("is" if missing_rows == 1 else "are")
    assert joined.group(0).count("customer)") == (missing_customers == 1)
    assert joined.group(5) == ("a customer" if missing_customers == 1 else "customers")
    assert "Customer not in the transactions" in text  # the join table names the unmatched row
    assert "Wilson interval" in text and "Newcombe" in text
    assert re.search(r"Worth targeting next time|No segment responds clearly more than average", text)
    assert "Traceback" not in text and "Error" not in text and 'data-mime-type="application/vnd.jupyter.stderr"' not in html


def test_the_crm_export_has_one_row_per_customer_with_the_next_best_category(en_run):
    data = en_run[1].folder / "data"
    stage = pd.read_parquet(data / "next_best.parquet")
    segments = pd.read_parquet(data / "segments.parquet")
    assert sorted(stage["customer_id"]) == sorted(segments["customer_id"])
    assert {"segment", "next_best", "rule_lift"} <= set(stage.columns)
    export = pd.read_parquet(en_run[1].folder / "exports" / "customers.parquet").set_index("customer_id")
    offered = stage.dropna(subset=["next_best"]).set_index("customer_id")["next_best"]
    assert len(offered) and (export.loc[offered.index, "next_best_category"] == offered).all()
    assert export["next_best_category"].notna().sum() == len(offered)


def test_the_chinese_page(zh_run):
    text = text_of(page(zh_run))
    assert "7. 各客户群的购买偏好" in text and "关联规则" in text and "Wilson 区间" in text
    assert "Traceback" not in text
