import pandas as pd
import pytest

from segkit.classify.profile import customer_profile, latest_answers, satisfaction_classes
from segkit.report.tables import nps, nps_by_segment, nps_overall, segment_summary, strategy_text
from segkit.classify.value import abc_classes, gini, pareto_table, tiers


def test_nps_arithmetic():
    assert nps(pd.Series([10, 9, 9, 8, 7, 6, 0, 3])) == pytest.approx(100 * (3 / 8 - 3 / 8))
    assert nps(pd.Series([10, 10, 9])) == 100.0
    assert nps(pd.Series([6, 0])) == -100.0
    assert pd.isna(nps(pd.Series([], dtype=float)))


def test_satisfaction_bands_and_no_answer_apart():
    classes = satisfaction_classes(pd.Series([5, 4, 3, 1, None]), very_satisfied=5, satisfied=4)
    assert classes.tolist() == ["very_satisfied", "satisfied", "unsatisfied", "unsatisfied", "no_answer"]
    assert satisfaction_classes(pd.Series([4.5, 3.5]), very_satisfied=4.5, satisfied=3.5).tolist() == \
        ["very_satisfied", "satisfied"]


def test_latest_answer_per_customer():
    surveys = pd.DataFrame({"customer_id": ["a", "a", "b"], "answered_at": pd.to_datetime(["2024-03-01", "2024-01-01", "2024-02-01"]),
                            "score": [2, 5, 4], "nps": [3, 10, 8]})
    latest = latest_answers(surveys).set_index("customer_id")
    assert latest.loc["a", "score"] == 2 and latest.loc["b", "nps"] == 8


def features():
    return pd.DataFrame({"customer_id": list("abcdef"), "orders": [1, 1, 2, 4, 8, 20],
                         "revenue": [10.0, 20, 30, 40, 300, 600], "recency_days": [300, 200, 100, 50, 10, 1],
                         "avg_order_value": [10.0, 20, 15, 10, 37.5, 30], "interval_days": [None, None, 20, 10, 5, 2],
                         "orders_recent": [0, 0, 0, 1, 3, 9], "categories": [1, 1, 2, 1, 4, 6]})


def segments():
    return pd.DataFrame({"customer_id": list("abcdef"),
                         "segment": ["lost", "lost", "need_attention", "loyal", "champions", "champions"]})


def test_profile_joins_everything_and_counts_non_answers_apart():
    surveys = pd.DataFrame({"customer_id": ["e", "f", "a"], "score": [5, 4, 1], "nps": [10, 9, 2]})
    customers = pd.DataFrame({"customer_id": list("abcdef"), "customer_type": ["individual"] * 5 + ["enterprise"]})
    profile = customer_profile(features(), segments(), customers, surveys,
                               frequency_tier={"method": "threshold", "thresholds": (1, 5)})
    assert profile["frequency_tier"].tolist() == ["low", "low", "mid", "mid", "high", "high"]
    assert profile["satisfaction"].tolist() == ["unsatisfied", "no_answer", "no_answer", "no_answer",
                                                "very_satisfied", "satisfied"]
    assert profile["breadth"].tolist() == ["single", "single", "multi", "single", "multi", "multi"]
    assert profile["active"].tolist() == [False, False, False, True, True, True]
    overall = nps_overall(profile)
    assert overall["answered"] == 3 and overall["nps"] == pytest.approx(100 * (2 / 3 - 1 / 3))
    by_segment = nps_by_segment(profile, "segment", "rfm11", "en").set_index("segment")
    assert by_segment.loc["Champions", "nps"] == 100.0 and by_segment.loc["Champions", "answered"] == 2
    assert by_segment.loc["Lost", "customers"] == 2 and by_segment.loc["Lost", "answered"] == 1
    assert pd.isna(by_segment.loc["Loyal Customers", "nps"])  # nobody answered: no score, not a bad one


def test_segment_summary_with_nps_and_strategy_override():
    profile = customer_profile(features(), segments(), surveys=pd.DataFrame({"customer_id": ["f"], "score": [5], "nps": [10]}))
    summary = segment_summary(profile, profile["segment"], "rfm11", "zh",
                              overrides={"champions": {"zh": "专属客户经理"}}).set_index("code")
    assert summary.loc["champions", "strategy"] == "专属客户经理"
    assert summary.loc["lost", "strategy"] == strategy_text("lost", "zh")  # default kept
    # given in one language only: the team's action in both reports, not a default that says something else
    assert strategy_text("champions", "en", {"champions": {"zh": "专属客户经理"}}) == "专属客户经理"
    from segkit.params import Strategy

    assert strategy_text("champions", "zh", {"champions": Strategy(en="Personal shopper")}) == "Personal shopper"
    assert strategy_text("champions", "zh", {"champions": Strategy(en="A", zh="乙")}) == "乙"
    assert summary.loc["champions", "nps"] == 100.0
    assert summary["customers"].sum() == 6 and summary["revenue_share"].sum() == pytest.approx(1.0)
    assert summary.loc["champions", "avg_order_value"] == pytest.approx(900 / 28)


def test_value_views():
    revenue = pd.Series([60.0, 20, 10, 5, 5])
    assert abc_classes(revenue).tolist() == ["A", "A", "B", "B", "C"]
    assert gini(pd.Series([5.0] * 4)) == 0.0
    assert 0.4 < gini(revenue) < 0.6
    table = pareto_table(revenue, tops=(0.2, 0.4))
    assert table["revenue_share"].tolist() == pytest.approx([0.6, 0.8])
    assert tiers(pd.Series(range(10)), quantiles=(0.5, 0.8)).value_counts().to_dict() == {"low": 5, "mid": 3, "high": 2}


def test_nps_without_a_score_column_is_kept():
    profile = customer_profile(features(), segments(), surveys=pd.DataFrame({"customer_id": ["f"], "nps": [10]}))
    assert profile["nps"].notna().sum() == 1 and "satisfaction" not in profile.columns
    assert nps_by_segment(profile, "segment", "rfm11", "en").set_index("segment").loc["Champions", "nps"] == 100.0
