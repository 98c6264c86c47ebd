import numpy as np
import pandas as pd
import pytest

from segkit.evaluate.quality import cluster_quality, explain_with_tree
from segkit.i18n import format_conditions
from segkit.params import Currency


def test_quality_of_well_separated_and_of_random_clusters():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 0.1, (50, 2)), rng.normal(5, 0.1, (50, 2))])
    good = cluster_quality(X, np.repeat([0, 1], 50))
    assert good["silhouette"] > 0.9 and good["davies_bouldin"] < 0.1 and good["calinski_harabasz"] > 1000
    bad = cluster_quality(X, rng.integers(0, 2, 100))
    assert bad["silhouette"] < 0.1 and bad["davies_bouldin"] > good["davies_bouldin"]
    with pytest.raises(ValueError, match="at least 2 clusters"):
        cluster_quality(X, np.zeros(100))


def test_tree_recovers_a_known_rule_and_scores_it_on_unseen_customers():
    rng = np.random.default_rng(1)
    features = pd.DataFrame({"recency_days": rng.integers(0, 400, 400), "orders": rng.integers(1, 12, 400),
                             "revenue": rng.uniform(10, 1000, 400)})
    target = np.where(features["orders"] > 5, "frequent", "occasional")
    explanation = explain_with_tree(features, target, max_depth=2, random_state=0)
    assert explanation.accuracy == 1.0 and explanation.f1 == 1.0 and explanation.recall == 1.0
    top = explanation.rules[0]
    assert top.conditions[0][0] == "orders" and 5 <= top.conditions[0][2] < 6
    assert sum(r.customers for r in explanation.rules) == 280  # the 70% training split
    assert set(explanation.per_class["target"]) == {"frequent", "occasional"}


def test_noise_gives_honest_low_scores():
    rng = np.random.default_rng(2)
    features = pd.DataFrame({"recency_days": rng.integers(0, 400, 600), "orders": rng.integers(1, 12, 600),
                             "revenue": rng.uniform(10, 1000, 600)})
    explanation = explain_with_tree(features, rng.choice(["a", "b", "c"], 600), max_depth=3, random_state=0)
    assert explanation.accuracy < 0.5


def test_conditions_on_one_feature_are_merged():
    text = format_conditions([("orders", ">", 2.5), ("revenue", "<=", 300.0), ("orders", "<=", 9.5),
                              ("orders", ">", 3.5)], "en")
    assert text == "3.5 < Orders ≤ 9.5 AND Revenue ≤ 300"
    assert format_conditions([("orders", ">", 2.5)], "zh") == "订单数 > 2.5"
    # large thresholds: four significant digits with separators, never in exponent form; whole ones whole
    assert format_conditions([("revenue", ">", 12345.678), ("revenue", "<=", 1234567.0)], "en") == \
        "12,350 < Revenue ≤ 1,234,567"
    # money in the run's currency, as every other amount of the report
    yuan = Currency(code="CNY", symbol="¥", minor_unit=2)
    assert format_conditions([("orders", "<=", 3.0), ("revenue", ">", 325.7), ("recency_days", ">", 30.0)], "zh",
                             yuan) == "订单数 ≤ 3 且 销售额 > ¥325.70 且 距上次购买天数 > 30"


def test_rules_on_whole_numbers_read_whole_and_select_the_same_customers():
    """sklearn cuts between two values (orders <= 3.5): on orders and days, which are whole numbers,
    the rules say the whole number on the same side, and each rule still holds its leaf's customers."""
    rng = np.random.default_rng(3)
    features = pd.DataFrame({"recency_days": rng.integers(0, 400, 900), "orders": rng.integers(1, 12, 900),
                             "revenue": rng.uniform(10, 1000, 900).round(2)})
    target = np.where(features["orders"] > 4, "loyal", np.where(features["recency_days"] > 200, "lost", "other"))
    explanation = explain_with_tree(features, target, max_depth=3, random_state=0, test_size=0.01)
    thresholds = {(feature, value) for rule in explanation.rules for feature, _, value in rule.conditions}
    assert {feature for feature, _ in thresholds} >= {"orders", "recency_days"}
    assert all(float(value).is_integer() for feature, value in thresholds if feature != "revenue")
    for rule in explanation.rules:  # the leaf's training customers (99% of all) meet its rule
        held = np.ones(len(features), dtype=bool)
        for feature, op, value in rule.conditions:
            held &= (features[feature] <= value) if op == "<=" else (features[feature] > value)
        assert abs(held.sum() - rule.customers) <= len(features) * 0.01 + 1


def test_rules_on_six_customers_in_three_classes_do_not_fail():
    # smallest input: a stratified 30% split of six customers cannot hold one of each of three classes
    features = pd.DataFrame({"recency_days": [1, 1, 50, 50, 300, 300], "orders": [5, 5, 2, 2, 1, 1],
                             "revenue": [500.0, 500, 100, 100, 10, 10]})
    explanation = explain_with_tree(features, np.array(["a", "a", "b", "b", "c", "c"]), random_state=0)
    assert explanation.per_class["support"].sum() == 2  # two customers tested
    assert 0 <= explanation.accuracy <= 1


def test_above_its_sample_size_the_tree_uses_a_stated_sample_and_still_finds_the_rule():
    rng = np.random.default_rng(1)
    features = pd.DataFrame({"recency_days": rng.uniform(0, 400, 20_000), "orders": rng.integers(1, 30, 20_000),
                             "revenue": rng.uniform(10, 5_000, 20_000)})
    target = np.where(features["recency_days"] > 180, "lapsed", np.where(features["orders"] > 10, "loyal", "other"))
    full = explain_with_tree(features, target, random_state=0)
    sampled = explain_with_tree(features, target, random_state=0, sample_size=2_000)
    assert (full.customers, full.sampled) == (20_000, False)
    assert (sampled.customers, sampled.sampled) == (2_000, True)
    assert int(sampled.confusion.to_numpy().sum()) == 600  # 30% of the sample scores the rules
    assert sampled.accuracy > 0.97
    cuts = {(f, round(x, -1)) for rule in sampled.rules for f, _, x in rule.conditions}
    assert ("recency_days", 180) in cuts
    with pytest.raises(ValueError, match="target has 3 classes for 20000 customers"):
        explain_with_tree(features, target[:3])


def test_aligned_gives_the_stage_column_in_the_features_order_either_way():
    from segkit.errors import DataError
    from segkit.evaluate.stage import aligned

    features = pd.DataFrame({"customer_id": ["a", "b", "c", "d"]})
    same = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "cluster": [0, 1, 1, 2]})
    shuffled = same.iloc[[2, 0, 3, 1]]
    assert aligned(features, same, "cluster").tolist() == [0, 1, 1, 2]
    assert aligned(features, shuffled, "cluster").tolist() == [0, 1, 1, 2]
    with pytest.raises(DataError, match="1 customer of features.parquet has no cluster"):
        aligned(features, same.head(3), "cluster")
    with pytest.raises(DataError, match="2 customers of features.parquet have no cluster"):
        aligned(features, same.head(2), "cluster")
    with pytest.raises(DataError, match="1 customer of features.parquet has no segment"):  # a missing value, in the same order too
        aligned(features, same.assign(segment=["x", None, "y", "z"]), "segment")


def test_compare_quality_of_named_classes_equals_sklearn_on_the_names():
    from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

    from segkit.evaluate.quality import compare_quality

    rng = np.random.default_rng(3)
    X = np.vstack([rng.normal(c, 1.0, (150, 3)) for c in (0, 3, 6)])
    names = np.repeat(["zeta", "alpha", "mid"], 150)
    row = compare_quality(X, {"named": names}, sample_size=450).iloc[0]
    assert row["groups"] == 3
    assert row["calinski_harabasz"] == pytest.approx(calinski_harabasz_score(X, names))
    assert row["davies_bouldin"] == pytest.approx(davies_bouldin_score(X, names))
    assert row["silhouette"] == pytest.approx(silhouette_score(X, names))


@pytest.mark.parametrize("lang, words", [("en", ["1,000,000 customers", "100,000 of them", "30%"]),
                                         ("zh", ["1,000,000 位客户", "100,000 位", "30%"])])
def test_the_tree_sample_sentence_states_the_sample_as_05_passes_it(lang, words):
    from segkit.report.html import say

    said = say("evaluate.tree_sample", lang, sample=100_000, customers=1_000_000, test=0.3).markup
    assert all(word in said for word in words)
