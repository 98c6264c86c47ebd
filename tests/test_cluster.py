import numpy as np
import pandas as pd
import pytest

from segkit.models.cluster import (RFMClusterer, cluster_assignments, cluster_skip_reason, cluster_stage, constant_features,
                                   describe_clusters, name_clusters, name_evidence, profile_clusters)


def three_groups(n=60, seed=0):
    rng = np.random.default_rng(seed)
    groups = [(5, 30, 3000.0), (60, 5, 300.0), (400, 1, 30.0)]  # champions, regulars, lapsed one-offs
    rows = []
    for recency, orders, revenue in groups:
        rows.append(pd.DataFrame({
            "recency_days": np.maximum(0, rng.normal(recency, recency * 0.1, n)).round(),
            "orders": np.maximum(1, rng.normal(orders, orders * 0.1, n)).round(),
            "revenue": np.maximum(1, rng.normal(revenue, revenue * 0.1, n)),
        }))
    frame = pd.concat(rows, ignore_index=True)
    frame.insert(0, "customer_id", [f"c{i}" for i in range(len(frame))])
    return frame


def test_silhouette_finds_the_true_number_of_groups():
    clusterer = RFMClusterer(k_min=2, k_max=6, random_state=0, k_rule="silhouette").fit(three_groups())
    assert clusterer.k_ == 3
    assert max(clusterer.silhouette_by_k_, key=clusterer.silhouette_by_k_.get) == 3
    assert np.bincount(clusterer.labels_).tolist() == [60, 60, 60]


def test_cluster_zero_is_the_most_valuable_and_predict_agrees():
    features = three_groups()
    clusterer = RFMClusterer(k_min=3, k_max=3, random_state=0).fit(features)
    mean_revenue = features.groupby(clusterer.labels_)["revenue"].mean()
    assert mean_revenue.is_monotonic_decreasing
    assert (clusterer.predict(features) == clusterer.labels_).all()


def test_same_random_state_same_clusters():
    features = three_groups(seed=3)
    a = RFMClusterer(random_state=5).fit(features).labels_
    b = RFMClusterer(random_state=5).fit(features).labels_
    assert (a == b).all()


def test_clusters_with_the_same_words_are_numbered():
    described = pd.DataFrame({"cluster": [0, 1, 2], "r_level": [5, 5, 1], "f_level": [4, 4, 1], "m_level": [5, 5, 1]})
    # from the levels alone (no members to count) the lowest frequency is a level, not a count: not "one-off"
    assert name_clusters(described, "en")["name"].tolist() == [
        "very recent, frequent, top spend (1)", "very recent, frequent, top spend (2)", "lapsed, fewest orders, lowest spend"]


def test_too_few_customers_is_a_clear_error():
    features = three_groups(n=1)
    with pytest.raises(ValueError, match=r"k_min=3 must be < number of distinct customer profiles \(3\)"):
        RFMClusterer(k_min=3, k_max=5).fit(features)


def test_profiles_and_names_are_readable():
    features = three_groups()
    labels = RFMClusterer(k_min=3, k_max=3, random_state=0).fit(features).labels_
    profile = profile_clusters(features, labels)
    assert profile["customer_share"].sum() == pytest.approx(1.0)
    assert profile["revenue_share"].sum() == pytest.approx(1.0)
    named = name_clusters(describe_clusters(features, labels), "en")
    assert named.loc[0, "name"] == "very recent, very frequent, top spend"
    assert named.loc[2, "name"] == "lapsed, fewest orders, lowest spend"
    # with the members' evidence, the lapsed cluster (every member one order) is called one-off
    evidenced = name_clusters(describe_clusters(features, labels), "en", name_evidence(features, labels))
    assert evidenced.loc[2, "name"] == "lapsed, one-off, lowest spend"
    assert named[["r_level", "f_level", "m_level"]].loc[1].tolist() == [3, 2, 3]
    assert name_clusters(describe_clusters(features, labels), "zh").loc[0, "name"] == "近期活跃、高频、消费最高"
    assigned = cluster_assignments(features, labels, named)
    assert assigned["cluster_name"].nunique() == 3 and len(assigned) == len(features)


def six_customers_two_behaviours():
    return pd.DataFrame({"customer_id": list("abcdef"), "recency_days": [5, 5, 5, 90, 90, 90],
                         "orders": [3, 3, 3, 1, 1, 1], "revenue": [300.0] * 3 + [20.0] * 3})


def test_two_distinct_profiles_skip_clustering_with_the_counts():
    stage = cluster_stage(six_customers_two_behaviours(), "en", k_min=3, k_max=5, random_state=0)
    assert stage.skipped == {"reason": "too_few_profiles", "profiles": 2, "k_min": 3}
    assert stage.clusterer is None and stage.assignments is None
    assert stage.run_info() == {"k": None, "silhouette": None, "silhouette_by_k": {},
                                "cluster_skipped": stage.skipped, "cluster_features": ["recency_days", "orders", "revenue"]}


def test_k_min_equal_to_the_distinct_profiles_is_skipped_too():
    # two profiles in two clusters would only give each profile back as its own cluster
    assert cluster_skip_reason(six_customers_two_behaviours(), 2)["profiles"] == 2
    assert cluster_skip_reason(three_groups(n=5), 2) is None


def test_no_customers_skip_clustering():
    empty = six_customers_two_behaviours().iloc[:0]
    assert cluster_skip_reason(empty, 2) == {"reason": "too_few_profiles", "profiles": 0, "k_min": 2}


def test_a_stage_that_runs_names_and_assigns_every_customer():
    features = three_groups(n=20)
    stage = cluster_stage(features, "en", k_min=2, k_max=4, random_state=0)
    assert stage.skipped is None and stage.clusterer.k_ == 3
    assert len(stage.assignments) == len(features) and stage.run_info()["k"] == 3


def test_one_order_customers_cluster_on_what_varies_and_say_orders_is_constant():
    features = three_groups(n=20).assign(orders=1.0)
    assert constant_features(features) == ["orders"]
    stage = cluster_stage(features, "en", k_min=2, k_max=4, random_state=0)
    assert stage.profile["name"].str.contains("one-off").all()


def test_clustering_is_skipped_when_a_dimension_is_empty_for_everyone():
    from segkit.models.cluster import cluster_skip_reason, cluster_stage

    mall = pd.DataFrame({"customer_id": list("abcdefgh"), "recency_days": np.nan, "orders": np.nan,
                         "revenue": [10.0, 20, 30, 40, 50, 60, 70, 80]})
    assert cluster_skip_reason(mall, 2) == {"reason": "missing_features", "features": "recency_days, orders"}
    assert cluster_stage(mall, "en").skipped["reason"] == "missing_features"


# --- clustering on the columns params name (cluster.features) ---

from segkit.i18n import messages  # noqa: E402
from segkit.models.cluster import log_columns, unusable_columns  # noqa: E402

RFM_WORDS = [text for key, value in messages().items() if key.startswith(("level.r.", "level.f."))
             for text in (value["en"], value["zh"])]


def mall(n=40, seed=0):
    """The mall-customers layout: id, gender, age, income, a spending score as revenue; no recency, no
    order count. Two kinds of customer: young, high income, high spend; older, low income, low spend."""
    rng = np.random.default_rng(seed)
    young = pd.DataFrame({"age": rng.integers(20, 30, n), "income": rng.integers(110, 140, n),
                          "revenue": rng.integers(70, 100, n).astype(float)})
    older = pd.DataFrame({"age": rng.integers(55, 70, n), "income": rng.integers(15, 40, n),
                          "revenue": rng.integers(1, 30, n).astype(float)})
    frame = pd.concat([young, older], ignore_index=True)
    frame.insert(0, "customer_id", [f"m{i}" for i in range(len(frame))])
    return frame.assign(recency_days=np.nan, orders=np.nan, gender=np.where(np.arange(2 * n) % 2, "Female", "Male"))


def test_mall_clusters_on_age_income_and_spend_are_named_without_recency_or_frequency_words():
    features = mall()
    # k by silhouette: under the gap rule (the default) the log of a spend spread evenly over 1..30
    # splits the older customers once more (k = 4), which this test of the names is not about
    stage = cluster_stage(features, "en", k_min=2, k_max=4, random_state=0, columns=("age", "income", "revenue"),
                          k_rule="silhouette")
    assert stage.skipped is None and stage.clusterer.k_ == 2 and stage.left_out == {}
    names = stage.profile.set_index("cluster")["name"]
    assert not any(word in name for name in names for word in RFM_WORDS)
    # nor does the page's sentence on names speak of a count of orders the columns do not have
    from segkit.report.cluster_text import names_text
    assert "one-off" not in names_text(stage, "en").markup and "仅购一次" not in names_text(stage, "zh").markup
    # cluster 0 is the one that spends most (numbered by value), and its name says so with its other traits
    young = stage.assignments.set_index("customer_id").loc[[f"m{i}" for i in range(40)], "cluster"]
    assert (young == 0).all()
    assert "spend" in names[0] and "income" in names[0] and ("young" in names[0])
    assert "older" in names[1] or "oldest" in names[1]
    zh = cluster_stage(features, "zh", k_min=2, k_max=4, random_state=0, columns=("age", "income", "revenue"),
                       k_rule="silhouette")
    assert not any(word in name for name in zh.profile["name"] for word in RFM_WORDS)
    assert "收入" in zh.profile.loc[0, "name"] and "年龄" in zh.profile.loc[1, "name"]


def test_features_from_params_same_seed_same_clusters_and_predict_agrees():
    features = mall(seed=4)
    a = RFMClusterer(k_min=2, k_max=5, columns=("age", "income", "revenue"), random_state=7).fit(features)
    b = RFMClusterer(k_min=2, k_max=5, columns=("age", "income", "revenue"), random_state=7).fit(features)
    assert (a.labels_ == b.labels_).all() and (a.predict(features) == a.labels_).all()
    means = features.groupby(a.labels_)["revenue"].mean()
    assert means.is_monotonic_decreasing


def test_log_only_where_a_column_is_non_negative_and_skewed_or_an_rfm_column():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"revenue": rng.uniform(1, 100, 300), "age": rng.integers(18, 70, 300),
                          "income": rng.lognormal(3, 1, 300), "balance": rng.lognormal(3, 1, 300) - 50})
    assert log_columns(frame, ["revenue", "age", "income", "balance"]) == ("revenue", "income")


def test_an_empty_column_from_params_is_left_out_and_said_and_too_few_left_skips():
    features = mall()
    stage = cluster_stage(features, "en", k_min=2, k_max=3, random_state=0,
                          columns=("orders", "income", "revenue", "gender", "loyalty_points"))
    assert stage.left_out == {"orders": "no_values", "gender": "not_numeric", "loyalty_points": "not_present"}
    assert stage.columns == ("income", "revenue") and stage.clusterer is not None
    assert stage.run_info()["cluster_features"] == ["income", "revenue"]
    skipped = cluster_stage(features, "en", k_min=2, columns=("orders", "recency_days", "income")).skipped
    assert skipped == {"reason": "too_few_features", "configured": "orders, recency_days, income", "usable": "income"}
    # the default (RFM) keeps its rule: an empty RFM column skips the whole clustering
    assert cluster_stage(features, "en", k_min=2).skipped["reason"] == "missing_features"


def test_a_customer_without_a_value_is_placed_at_the_median_and_counted():
    features = mall()
    features.loc[[0, 45], "income"] = np.nan
    clusterer = RFMClusterer(k_min=2, k_max=3, columns=("age", "income", "revenue"), random_state=0).fit(features)
    assert clusterer.imputed_ == {"income": 2}
    assert len(clusterer.labels_) == len(features)
    assert unusable_columns(features, ["income"]) == {}


def test_the_report_text_says_what_was_clustered_and_what_was_left_out():
    from segkit.report import cluster_text, tables

    def text(rendered):
        return rendered.markup if hasattr(rendered, "markup") else str(rendered)

    features = mall()
    features.loc[[3], "age"] = np.nan
    stage = cluster_stage(features, "en", k_min=2, k_max=3, random_state=0, columns=("age", "income", "revenue", "orders"))
    intro = text(cluster_text.intro_text(stage, 2, 3, "en"))
    assert "k-means on age, Annual" not in intro and "k-means on age, income, Revenue" in intro
    assert "log1p of Revenue," in intro and "recency" not in intro.lower()
    notes = text(tables.cluster_notes_text(stage, "en"))
    assert "Orders (empty for every customer)" in notes and "age 1" in notes
    shown = tables.cluster_profile_table(stage)
    assert list(shown.columns) == ["name", "customers", "customer_share", "revenue", "age", "income", "revenue_share"]
    default = cluster_stage(three_groups(n=20), "en", k_min=2, k_max=4, random_state=0)
    assert tables.cluster_notes_text(default, "en") is None
    assert "k-means on Days since last purchase, Orders, Revenue" in text(cluster_text.intro_text(default, 2, 4, "en"))
    assert list(tables.cluster_profile_table(default).columns) == [
        "name", "customers", "customer_share", "recency_days", "orders", "revenue", "revenue_share"]


def test_a_column_every_customer_shares_never_names_a_cluster():
    features = mall().assign(income=50)
    stage = cluster_stage(features, "en", k_min=2, k_max=3, random_state=0, columns=("age", "income", "revenue"))
    assert not stage.profile["name"].str.contains("income").any()
    assert stage.profile["name"].str.contains("spend").all()
