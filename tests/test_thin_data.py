"""Data that cannot carry the analysis: one order per customer, too few distinct customers, and
standards the data lack. The report's sentences and tables on the smallest such inputs, through the
package API (the whole reports are in test_thin_reports.py)."""

import re

import numpy as np
import pandas as pd
import pytest

from segkit.classify.profile import PROFILE_COLUMNS, add_tags_and_rank, customer_profile
from segkit.classify.rfm import RFMScorer, grid_for, segment_customers
from segkit.classify.tags import compile_tags
from segkit.params import validate_params
from segkit.report import tables
from segkit.report.pages import format_kpis
from segkit.store import save_run_info, save_stage

NOT_A_NUMBER = re.compile(r"\b(nan|NaN|inf|Infinity|None)\b")


def one_order_features(n=30):
    """A customer-level table forced in as transactions: one order each, no repeat buyer."""
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "customer_id": [f"c{i:02d}" for i in range(n)],
        "recency_days": np.arange(n) * 12, "orders": 1, "revenue": np.round(rng.lognormal(4, 1, n), 2),
        "tenure_days": np.arange(n) * 12, "avg_order_value": 0.0, "interval_days": np.nan,
        "orders_recent": (np.arange(n) * 12 <= 90).astype(int),
    }).assign(avg_order_value=lambda f: f["revenue"])


def profile_of(features, weights=None):
    p = validate_params({})
    scorer = RFMScorer(5).fit(features)
    segments, _ = segment_customers(features, scorer)
    rules = compile_tags(p.tags, PROFILE_COLUMNS)
    profile = add_tags_and_rank(customer_profile(features, segments), rules, weights or p.ranking.weights)
    return scorer, segments, profile, rules, p


def texts(*rendered) -> str:
    return " ".join(r.markup for r in rendered if r is not None)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_no_repeat_buyer_never_gives_a_nan_interval(lang):
    features = one_order_features()
    _, _, profile, _, _ = profile_of(features)
    text = texts(tables.behaviour_text(profile, 90, lang))
    assert not NOT_A_NUMBER.search(text)
    assert ("no customer bought twice" in text) if lang == "en" else ("没有客户购买过两次" in text)


def test_one_order_notes_say_why_f_is_left_out_in_both_languages():
    features = one_order_features()
    scorer, segments, _, _, _ = profile_of(features)
    grid = grid_for("rfm11", scorer.unusable_)
    en = texts(tables.rfm_dimension_notes(scorer.unusable_, grid, "en"))
    zh = texts(tables.rfm_dimension_notes(scorer.unusable_, grid, "zh"))
    assert "F (frequency) cannot tell customers apart" in en and "number of orders (1)" in en
    assert "no customer is called Champion or Loyal" in en
    assert "F（消费频率）无法区分客户" in zh and "忠诚客户" in zh  # says nobody is called so
    assert not NOT_A_NUMBER.search(en + zh)
    assert tables.rfm_dimension_notes({}, grid, "en") is None


def test_a_tied_dimension_states_the_share_and_the_limit():
    orders = [1] * 96 + [2] * 4
    features = pd.DataFrame({"customer_id": range(100), "recency_days": range(100), "orders": orders,
                             "revenue": np.linspace(1, 100, 100)})
    scorer = RFMScorer(5).fit(features)
    text = texts(tables.rfm_dimension_notes(scorer.unusable_, grid_for("rfm11", scorer.unusable_), "en"))
    assert "96.0% of customers share one score or one value" in text and "from 95%" in text


def test_an_unusable_recency_says_it_is_held_at_the_middle_score():
    features = pd.DataFrame({"customer_id": range(10), "recency_days": [4] * 10, "orders": range(1, 11),
                             "revenue": np.linspace(10, 100, 10)})
    scorer = RFMScorer(5).fit(features)
    text = texts(tables.rfm_dimension_notes(scorer.unusable_, "rfm11", "en"))
    assert "middle recency score (3 on the grid's 1-5 scale)" in text


def test_case_study_of_one_order_customers_names_no_champion_or_loyal():
    features = one_order_features()
    _, segments, _, _, _ = profile_of(features)
    findings = tables.case_findings(features, segments, top=0.2, segment_map="rfm11")
    assert findings["segment_map"] == "rm6"
    expected = int((segments["segment"] == "recent_big_spenders").sum())
    assert findings["valuable"]["n"] == expected > 0
    for lang, never in (("en", "are Champions or Loyal"), ("zh", "冠军客户与忠诚客户共")):
        text = texts(*(tables.case_group_text(findings, g, lang) for g in ("valuable", "at_risk", "gone")))
        assert never not in text and f"{expected:,}" in text
    caution = texts(tables.unusable_caution({"f": {"reason": "one_value"}}, "en"))
    assert "F (frequency) cannot tell these customers apart" in caution and "R (recency), M (monetary value)" in caution


def test_usable_data_keep_the_eleven_segment_sentences():
    features = pd.DataFrame({"customer_id": range(20), "recency_days": range(1, 21), "orders": range(20, 0, -1),
                             "revenue": np.linspace(100, 5, 20)})
    segments, _ = segment_customers(features)
    findings = tables.case_findings(features, segments)
    assert findings["segment_map"] == "rfm11"
    assert "are Champions or Loyal" in texts(tables.case_group_text(findings, "valuable", "en"))


def test_tables_label_fallback_segments_even_when_given_the_configured_map():
    features = one_order_features()
    _, segments, profile, _, _ = profile_of(features)
    summary = tables.segment_summary(profile, profile["segment"], "rfm11", "en")
    assert summary["code"].tolist()[0] == "recent_big_spenders" and summary["customers"].sum() == len(features)
    assert summary["strategy"].ne("—").all()
    ranked = tables.ranking_table(profile.sort_values("rank"), profile, "rfm11", "zh", top_n=3)
    assert ranked["segment"].isin(["近期高消费客户", "近期客户", "趋冷的高消费客户", "趋冷客户",
                                   "久未购买的高消费客户", "久未购买客户"]).all()


def test_weights_shown_are_the_weights_used():
    features = one_order_features()
    _, _, profile, _, p = profile_of(features)
    # configured: frequency 25, amount 30, interval 10, satisfaction 10, loyalty 10, activity 15 (%);
    # frequency (one value), interval (nobody bought twice) and satisfaction (no surveys) are left out:
    # amount 30/55, activity 15/55, loyalty 10/55
    assert tables.weights_text(p.ranking.weights, "en", profile) == "amount 55%, activity 27%, loyalty 18%"
    assert "frequency 25%" in tables.weights_text(p.ranking.weights, "en")  # the configured ones, without a profile
    text = texts(tables.ranking_text(profile, p.ranking.weights, 20, "en"))
    assert "amount 55%" in text and "satisfaction" not in text


def test_unsupported_standards_are_named_once_with_why():
    features = one_order_features()
    _, _, profile, rules, p = profile_of(features)
    table = tables.unsupported_standards(profile, rules, p.ranking.weights, "en")
    assert table.loc[table["kind"] == "tag", "name"].tolist() == ["Multi-category", "Unsatisfied", "Promoter",
                                                                  "Enterprise or government"]
    assert table.loc[table["kind"] == "criterion", "name"].tolist() == ["frequency", "interval", "satisfaction"]
    text = texts(tables.unsupported_text(profile, rules, p.ranking.weights, "en"))
    assert "cannot support 7 of the tags and ranking criteria in use" in text
    assert "the ranking criterion interval (nobody bought twice, so there is no time between orders)" in text
    zh = texts(tables.unsupported_text(profile, rules, p.ranking.weights, "zh"))
    assert "无法支持当前使用的 7 项" in zh and "标签“推荐者”（数据中没有NPS调查答复）" in zh


def test_every_standard_supported_says_so():
    profile = pd.DataFrame({"customer_id": ["a", "b"], "orders": [1, 3], "revenue": [5.0, 9.0]})
    assert "can be computed" in texts(tables.unsupported_text(profile, [], {"amount": 1, "frequency": 1}, "en"))


def test_no_ranking_criterion_left_says_why_instead_of_a_table_of_blanks():
    profile = pd.DataFrame({"customer_id": ["a", "b"], "orders": [1, 1], "revenue": [5.0, 5.0]})
    assert "cannot be computed" in texts(tables.ranking_text(profile, {"amount": 1, "frequency": 1}, 20, "en"))


def test_a_survey_table_without_answers_from_these_customers_gives_no_nan_nps():
    profile = pd.DataFrame({"customer_id": ["a", "b"], "orders": [1, 2], "revenue": [5.0, 9.0],
                            "nps": [np.nan, np.nan], "score": [np.nan, np.nan]})
    for lang in ("en", "zh"):
        for case in (False, True):
            text = texts(tables.satisfaction_text(profile, lang, case=case))
            assert not NOT_A_NUMBER.search(text) and ("no answer" in text or "没有" in text)
    assert not tables.has_answers(profile)
    one = pd.DataFrame({"customer_id": ["a"], "orders": [1], "revenue": [5.0], "nps": [10.0]})
    assert "NPS +100.0" in texts(tables.satisfaction_text(one, "en"))


def test_skipped_clustering_reason_and_index_figures(tmp_path):
    reason = {"reason": "too_few_profiles", "profiles": 2, "k_min": 3}
    assert tables.cluster_skip_text(reason, "en").startswith("2 distinct customer profiles, and k_min is 3")
    assert "k_min 为 3" in tables.cluster_skip_text(reason, "zh")
    features = pd.DataFrame({"customer_id": list("abcdef"), "recency_days": [5] * 3 + [90] * 3,
                             "orders": [3] * 3 + [1] * 3, "revenue": [300.0] * 3 + [20.0] * 3})
    segments, _ = segment_customers(features)
    ledger = pd.DataFrame({"outcome": ["used"], "rule": [""], "rows": [12], "share": [1.0]})
    save_stage(tmp_path, features=features, segments=segments, ledger=ledger)
    save_run_info(tmp_path, as_of="2024-12-31", k=None, silhouette=None, cluster_skipped=reason)
    kpis = tables.headline_kpis(tmp_path)
    shown = {key: value for key, _, value in format_kpis(kpis, validate_params({}))}
    assert shown["clusters"] == "—" and shown["silhouette"] == "—"
    assert shown["customers"] == "6"


def test_a_silhouette_run_json_holds_as_null_shows_as_not_measured(tmp_path):
    """run.json writes a number that is not finite as null: the index reads it as not measured."""
    features = pd.DataFrame({"customer_id": list("abcdef"), "recency_days": [5] * 3 + [90] * 3,
                             "orders": [3] * 3 + [1] * 3, "revenue": [300.0] * 3 + [20.0] * 3})
    segments, _ = segment_customers(features)
    ledger = pd.DataFrame({"outcome": ["used"], "rule": [""], "rows": [12], "share": [1.0]})
    save_stage(tmp_path, features=features, segments=segments, ledger=ledger)
    save_run_info(tmp_path, as_of="2024-12-31", k=2, silhouette=float("nan"))
    shown = {key: value for key, _, value in format_kpis(tables.headline_kpis(tmp_path), validate_params({}))}
    assert shown["clusters"] == "2" and shown["silhouette"] == "—"


def test_constant_cluster_feature_is_named():
    features = one_order_features()
    assert "Orders: every customer has the same value" in texts(tables.constant_features_text(features, "en"))
    assert tables.constant_features_text(features.assign(orders=range(len(features))), "en") is None


def test_segments_intro_names_the_map_used():
    assert "eleven segments" in texts(tables.segments_intro("rfm11", "en"))
    text = texts(tables.segments_intro("rm6", "en"))
    assert text.startswith("<p>The 6 segments (Recent big spenders, Recent buyers")


def test_spend_only_data_say_the_segment_names_carry_no_recency():
    unusable = {"r": {"reason": "no_values", "share": 1.0, "value": None},
                "f": {"reason": "no_values", "share": 1.0, "value": None}}
    en = texts(tables.rfm_dimension_notes(unusable, "rm6", "en"))
    assert "the data give no number of orders for any customer" in en
    assert 'Only spend can tell these customers apart' in en and '“Cooling big spenders” and “Cooling”' in en
    assert "use recency and spend" not in en and "middle recency score (3" not in en
    assert "“趋冷的高消费客户”和“趋冷客户”只表示消费高低" in texts(tables.rfm_dimension_notes(unusable, "rm6", "zh"))


def test_no_group_sentence_when_recency_cannot_tell_customers_apart():
    from segkit.report.tables import case_group_text

    findings = {"segment_map": "rm6", "valuable": {"n": 0, "customer_share": 0.0, "revenue": 0.0, "revenue_share": 0.0}}
    assert case_group_text(findings, "valuable", "en", unusable={"r": {"reason": "no_values"}}) is None
    assert case_group_text(findings, "valuable", "en", unusable={"f": {"reason": "one_value"}}) is not None
