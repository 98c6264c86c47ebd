"""A customer table's extra numeric columns (age, income) in clustering (cluster.features) and in the
ranking (ranking.weights): the params check, and a whole report on the mall-customers layout."""

import json
import re

import numpy as np
import pandas as pd
import pytest

from conftest import write_mall_table

from segkit.errors import ParamsError
from segkit.params import validate_params

MALL_SOURCE = {"kind": "customers", "customers": {"path": "mall.csv", "columns": {
    "customer_id": "CustomerID", "revenue": "Spending Score (1-100)", "age": "Age", "income": "Annual Income (k$)"}}}


def test_cluster_features_and_ranking_weights_may_name_the_extra_columns_the_map_names():
    p = validate_params({"source": MALL_SOURCE, "cluster": {"features": ["revenue", "age", "income"]},
                         "ranking": {"weights": {"amount": 0.8, "income": 0.2}}})
    assert p.cluster.features == ("revenue", "age", "income")
    assert p.ranking.weights == {"amount": 0.8, "income": 0.2}


def test_the_defaults_are_unchanged():
    p = validate_params({})
    assert p.cluster.features == ("recency_days", "orders", "revenue")
    assert set(p.ranking.weights) == {"frequency", "amount", "interval", "satisfaction", "loyalty", "activity"}


@pytest.mark.parametrize("raw, says", [
    ({"source": MALL_SOURCE, "cluster": {"features": ["revenue", "salary"]}},
     r"^params: cluster\.features: salary is not a numeric per-customer column segkit can cluster on; columns: "
     r"recency_days, orders, revenue, .*; extra columns of the customer table: age, income$"),
    ({"source": MALL_SOURCE, "ranking": {"weights": {"amount": 1, "salary": 0.2}}},
     r"^params: ranking\.weights: salary is not a ranking criterion; criteria: frequency, amount, interval, "
     r"satisfaction, potential, loyalty, activity; extra columns of the customer table: age, income$"),
    ({"cluster": {"features": ["revenue", "age"]}},
     r"cluster\.features: age is not .*from a customer table \(source\.kind: customers\)"),
    ({"source": {**MALL_SOURCE, "customers": {"path": "mall.csv", "columns": {"customer_id": "C", "revenue": "S"}}},
      "ranking": {"weights": {"income": 1}}},
     r"ranking\.weights: income is not a ranking criterion.*once source\.customers\.columns names it"),
    ({"cluster": {"features": ["revenue"]}}, r"cluster\.features: list at least 2 columns to cluster on, got 1"),
    ({"cluster": {"features": ["revenue", "orders", "revenue"]}}, r"cluster\.features: revenue is listed twice"),
    ({"ranking": {"weights": {"amount": -1, "frequency": 2}}}, r"ranking: .*weights must be >= 0"),
])
def test_names_that_do_not_exist_are_one_params_error_naming_the_key_and_the_choices(raw, says):
    with pytest.raises(ParamsError, match=says):
        validate_params(raw)


def test_an_extra_column_named_like_a_criterion_is_refused_in_the_ranking():
    source = {**MALL_SOURCE, "customers": {"path": "mall.csv", "columns": {
        "customer_id": "C", "revenue": "S", "loyalty": "LoyaltyPoints"}}}
    with pytest.raises(ParamsError, match=r"ranking\.weights\.loyalty: loyalty is both a ranking criterion and an extra"):
        validate_params({"source": source, "ranking": {"weights": {"loyalty": 1}}})


# -- a whole report -----------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_mall_table_clustered_on_spend_age_and_income_and_ranked_on_income(tmp_path):
    from segkit.report.runner import run_report

    write_mall_table(tmp_path / "mall.csv")
    (tmp_path / "mall.yaml").write_text(
        "run_name: mall\nsource:\n  kind: customers\n  customers:\n    path: mall.csv\n"
        '    columns: {customer_id: CustomerID, revenue: "Spending Score (1-100)", age: Age, gender: Gender,\n'
        '              income: "Annual Income (k$)"}\n'
        "dimensions: [gender]\n"
        "cluster: {features: [revenue, age, income], k_min: 2, k_max: 6}\n"
        "ranking: {weights: {amount: 0.8, income: 0.2}}\n"
        "tags: [{name: senior, en: Senior, zh: 年长, when: \"age >= 60\"}]\n", encoding="utf-8")
    result = run_report(tmp_path / "mall.yaml", reports_dir=tmp_path / "reports", pdf=False)
    clustering = (result.folder / "04_clustering.html").read_text(encoding="utf-8")
    assert "Clustering is skipped" not in clustering
    assert "k-means on age, income, Revenue" not in clustering and "k-means on Revenue, age, income" in clustering
    for word in ("recent", "lapsed", "inactive", "frequent", "one-off"):
        assert word not in clustering.split("k-means on", 1)[1]
    info = json.loads((result.folder / "data" / "run.json").read_text(encoding="utf-8"))
    index = (result.folder / "index.html").read_text(encoding="utf-8")
    clusters = dict(re.findall(r'data-kpi="(\w+)"><div class="value[^"]*">([^<]+)</div>', index))["clusters"]
    assert clusters.isdigit() and 2 <= int(clusters) <= 6
    rfm = (result.folder / "02_rfm.html").read_text(encoding="utf-8")
    assert "amount 80%, income 20%" in rfm
    assert info["cluster_features"] == ["revenue", "age", "income"] and info["k"] == int(clusters)
    # a tag on an extra column works in the report, not only in the params check
    profile = pd.read_parquet(result.folder / "data" / "profile.parquet")
    assert profile["tag_senior"].sum() == (profile["age"] >= 60).sum() > 0
    # the evaluation judges the clusters in the columns they were made on: its rules speak of them
    evaluation = (result.folder / "05_evaluation.html").read_text(encoding="utf-8")
    assert "age" in evaluation.split("IF/THEN", 1)[1] or "income" in evaluation.split("IF/THEN", 1)[1]
