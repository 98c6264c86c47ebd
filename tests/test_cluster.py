import numpy as np
import pandas as pd
import pytest

from segkit.models.cluster import (RFMClusterer, cluster_assignments, cluster_skip_reason, cluster_stage, constant_features,
                                   describe_clusters, name_clusters, profile_clusters)


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
    clusterer = RFMClusterer(k_min=2, k_max=6, random_state=0).fit(three_groups())
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
    assert name_clusters(described, "en")["name"].tolist() == [
        "very recent, frequent, top spend (1)", "very recent, frequent, top spend (2)", "lapsed, one-off, lowest spend"]


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
    assert named.loc[2, "name"] == "lapsed, one-off, lowest spend"
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
