import numpy as np
import pandas as pd
import pytest

from segkit.models.cluster import RFMClusterer, cluster_assignments, describe_clusters, name_clusters, profile_clusters


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
    with pytest.raises(ValueError, match=r"k_min=3 must be < number of distinct customers \(3\)"):
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
