"""Issue 11, clustering: the methods recover known clusters, the k rules, row order and seeds,
samples for large data, the preprocessing, and names that never contradict their members."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import adjusted_rand_score

from segkit.errors import ParamsError
from segkit.i18n import column_label, messages, t
from segkit.models.cluster import (FACT_SHARE, ClusterStage, RFMClusterer, cluster_stage, describe_clusters, gap_rule,
                                   name_clusters, name_evidence, stated_levels)
from segkit.params import load_params
from segkit.report import cluster_text

from conftest import ROOT

FAST = {"n_references": 5, "sample_size": 2_000}


def blobs(k=4, n=60, seed=0, spread=0.3):
    """k well-separated round groups in three columns (no log, no skew: the truth is the groups)."""
    rng = np.random.default_rng(seed)
    # every column separates the first two groups, so no column is pure noise when scaled
    centres = np.array([[0, 0, 0], [8, 8, 8], [0, 8, 4], [8, 0, 4], [4, 4, 8], [0, 4, 8]], dtype=float)[:k]
    points = np.vstack([c + rng.normal(0, spread, (n, 3)) for c in centres])
    truth = np.repeat(np.arange(k), n)
    frame = pd.DataFrame(points + 20, columns=["a", "b", "c"])
    frame.insert(0, "customer_id", [f"c{i}" for i in range(len(frame))])
    return frame, truth


def retail(n=600, seed=0):
    """RFM features with overlapping kinds of customer, where starts and row order could matter."""
    rng = np.random.default_rng(seed)
    kinds = rng.choice(4, size=n, p=[0.1, 0.2, 0.3, 0.4])
    return pd.DataFrame({
        "customer_id": [f"r{i}" for i in range(n)],
        "recency_days": (np.array([10, 45, 150, 400])[kinds] * rng.lognormal(0, 0.5, n)).round(),
        "orders": np.maximum(1, np.round(np.array([20, 6, 2, 1])[kinds] * rng.lognormal(0, 0.4, n))),
        "revenue": np.array([2000, 500, 120, 40])[kinds] * rng.lognormal(0, 0.7, n),
    })


def fit(features, **kwargs):
    options = {"k_min": 2, "k_max": 6, "random_state": 0, "columns": ("a", "b", "c"), "log": "none", **FAST, **kwargs}
    return RFMClusterer(**options).fit(features)


@pytest.mark.parametrize("method, rule", [("kmeans", "gap"), ("gmm", "gap"), ("gmm", "bic"), ("ward", "gap"),
                                          ("kmeans", "silhouette")])
def test_each_method_recovers_the_true_k_and_labels_of_separated_blobs(method, rule):
    features, truth = blobs()
    clusterer = fit(features, method=method, k_rule=rule)
    assert clusterer.k_ == 4
    assert adjusted_rand_score(truth, clusterer.labels_) == pytest.approx(1.0)
    assert clusterer.k_reason_["rule"] == rule and list(clusterer.indices_.index) == [2, 3, 4, 5, 6]
    if method == "gmm":
        assert clusterer.indices_["bic"].idxmin() == 4
    if method == "ward":
        assert clusterer.linkage_.shape == (len(features) - 1, 4)


@pytest.mark.parametrize("method", ["kmeans", "gmm", "ward"])
def test_permuted_rows_give_the_same_clusters_with_the_same_numbers(method):
    features = retail()
    options = {"k_min": 3, "k_max": 5, "random_state": 3, "method": method, **FAST}
    a = RFMClusterer(**options).fit(features)
    shuffled = features.sample(frac=1, random_state=11)
    b = RFMClusterer(**options).fit(shuffled)
    again = RFMClusterer(**options).fit(features)
    by_id = pd.Series(b.labels_, index=shuffled["customer_id"]).loc[features["customer_id"]].to_numpy()
    assert a.k_ == b.k_
    assert (a.labels_ == by_id).all()  # the same partition and the same numbers
    assert (a.labels_ == again.labels_).all()  # the same seed, the same result
    # numbered by value: cluster 0 has the highest mean revenue
    assert features.groupby(a.labels_)["revenue"].mean().is_monotonic_decreasing


def test_the_gap_rule_is_the_smallest_k_within_one_standard_error_of_the_next():
    gaps = pd.Series([0.50, 1.00, 1.05, 1.00], index=[2, 3, 4, 5])
    errors = pd.Series([0.10, 0.10, 0.10, 0.10], index=[2, 3, 4, 5])
    assert gap_rule(gaps, errors) == (3, True)  # 1.00 >= 1.05 - 0.10; 0.50 < 1.00 - 0.10
    rising = pd.Series([0.1, 0.5, 0.9], index=[2, 3, 4])
    assert gap_rule(rising, pd.Series([0.01] * 3, index=[2, 3, 4])) == (4, False)


@pytest.mark.parametrize("true_k", [3, 5])
def test_the_gap_statistic_picks_the_true_k_on_blobs_and_says_why(true_k):
    features, truth = blobs(k=true_k, seed=true_k)
    stage = cluster_stage(features, "en", k_min=2, k_max=7, random_state=1, columns=("a", "b", "c"), log="none",
                          n_references=5, sample_size=2_000)
    c = stage.clusterer
    assert c.k_ == true_k and c.k_reason_["rule"] == "gap"
    gap, se = c.indices_["gap"], c.indices_["gap_se"]
    assert gap[true_k] >= gap[true_k + 1] - se[true_k + 1] and gap[true_k - 1] < gap[true_k] - se[true_k]
    said = cluster_text.k_reason_text(stage, "en").markup
    assert f"k = {true_k}" in said and "Tibshirani" in said and f"{gap[true_k]:.3f}" in said
    assert "间隙统计量" in cluster_text.k_reason_text(stage, "zh").markup


def test_above_the_threshold_the_sweep_runs_on_a_stated_sample_and_the_final_fit_on_everyone():
    features, truth = blobs(k=3, n=700, seed=2)
    stage = cluster_stage(features, "en", k_min=2, k_max=4, random_state=0, columns=("a", "b", "c"), log="none",
                          sample_threshold=1_000, sweep_sample=500, n_references=3, sample_size=500)
    c = stage.clusterer
    assert c.sample_ == {"customers": 2_100, "sample": 500, "check_ari": pytest.approx(1.0)}
    assert stage.run_info()["cluster_sample"] == c.sample_
    assert len(c.labels_) == 2_100 and adjusted_rand_score(truth, c.labels_) == pytest.approx(1.0)
    said = cluster_text.sample_text(stage, "en").markup
    assert "2,100" in said and "500" in said and "fitted once on all" in said
    assert "500" in cluster_text.sample_text(stage, "zh").markup
    small = cluster_stage(features.head(900), "en", k_min=2, k_max=4, random_state=0, columns=("a", "b", "c"),
                          log="none", sample_threshold=1_000, sweep_sample=500, n_references=3)
    assert small.clusterer.sample_ is None and cluster_text.sample_text(small, "en") is None


def test_the_final_kmeans_fit_from_the_sample_matches_kmeans_on_everyone():
    # overlapping groups, where a fit on 500 of 3,000 customers alone would misplace some of them
    from sklearn.cluster import KMeans

    features = retail(n=3_000, seed=3)
    c = RFMClusterer(k_min=4, k_max=4, k_rule="fixed", k=4, random_state=0, sample_threshold=1_000,
                     sweep_sample=500, n_references=2, sample_size=500).fit(features)
    assert c.sample_["sample"] == 500 and not c.minibatch_
    Z = c.transform(features)
    full = KMeans(n_clusters=4, n_init=10, random_state=1).fit(Z)
    assert adjusted_rand_score(full.labels_, c.labels_) > 0.98
    inertia = sum(((Z[c.labels_ == k] - Z[c.labels_ == k].mean(axis=0)) ** 2).sum() for k in range(4))
    assert inertia <= full.inertia_ * 1.005
    assert (c.predict(features) == c.labels_).all()


def test_kmeans_on_everyone_above_the_minibatch_threshold_is_minibatch():
    features, truth = blobs(k=3, n=400, seed=5)
    c = fit(features, k_min=2, k_max=4, sample_threshold=5_000, sweep_sample=1_000, minibatch_threshold=600)
    assert c.minibatch_ and c.sample_ is None
    assert adjusted_rand_score(truth, c.labels_) == pytest.approx(1.0)
    assert (c.predict(features) == c.labels_).all()


def test_the_sample_check_tells_a_stable_clustering_from_an_arbitrary_one():
    # separated groups: a second sample finds the same partition of everyone; one round cloud cut in
    # six: the cut turns with the sample, and the check says so
    separated, _ = blobs(k=3, n=700, seed=4)
    settled = fit(separated, k_min=3, k_max=3, k_rule="fixed", k=3, sample_threshold=1_000, sweep_sample=500)
    rng = np.random.default_rng(0)
    cloud = pd.DataFrame(rng.normal(0, 1, (2_100, 3)), columns=["a", "b", "c"]).assign(customer_id=range(2_100))
    arbitrary = fit(cloud, k_min=6, k_max=6, k_rule="fixed", k=6, sample_threshold=1_000, sweep_sample=200)
    assert settled.sample_["check_ari"] == pytest.approx(1.0)
    assert arbitrary.sample_["check_ari"] < 0.95
    assert arbitrary.sample_["check_ari"] < settled.sample_["check_ari"]
    # the page says which, with the number, and why the sample is large enough for the smallest cluster
    from types import SimpleNamespace

    for clusterer, verdict in ((settled, "does not depend on the sample"), (arbitrary, "depend on the sample drawn")):
        said = cluster_text.sample_text(SimpleNamespace(clusterer=clusterer), "en").markup
        assert verdict in said and f"{clusterer.sample_['check_ari']:.3f}" in said
        assert "取决于所抽的样本" in cluster_text.sample_text(SimpleNamespace(clusterer=clusterer), "zh").markup
    figures = cluster_text.sample_figures(arbitrary)
    smallest = np.bincount(arbitrary.labels_).min()
    assert figures["smallest_share"] == pytest.approx(smallest / 2_100)
    assert figures["members"] == round(smallest / 2_100 * 200)
    assert f"about {figures['members']:,} of them in the sample" in cluster_text.sample_text(
        SimpleNamespace(clusterer=arbitrary), "en").markup


def test_a_fixed_k_is_used_and_said():
    features, _ = blobs(k=4)
    stage = cluster_stage(features, "en", k_min=2, k_max=6, random_state=0, columns=("a", "b", "c"), log="none",
                          k_rule="fixed", k=5, n_references=3)
    assert stage.clusterer.k_ == 5 and stage.profile["cluster"].tolist() == [0, 1, 2, 3, 4]
    assert "cluster.k: 5" in cluster_text.k_reason_text(stage, "en").markup


def test_capping_robust_scaling_and_one_hot_attributes():
    features, _ = blobs(k=2, n=50)
    extreme = features.assign(a=features["a"].where(features.index != 0, 1e9))
    c = fit(extreme, k_rule="fixed", k=2, k_min=2, k_max=3, cap=0.95, scaling="robust")
    assert c.caps_["a"][1] < 100 and c._numeric(extreme)[:, 0].max() == pytest.approx(c.caps_["a"][1])
    assert extreme.loc[0, "a"] == 1e9  # the input is not changed
    # attributes one-hot encoded: one 0/1 column per value, beside the scaled columns; an unseen value is all 0
    rng = np.random.default_rng(0)
    people = pd.DataFrame({"customer_id": range(80), "a": rng.normal(0, 1, 80), "b": rng.normal(0, 1, 80),
                           "region": ["north"] * 40 + ["south"] * 40})
    c = RFMClusterer(k_min=2, k_max=3, k_rule="fixed", k=2, columns=("a", "b"), log="none", categorical=("region",),
                     random_state=0, **FAST).fit(people)
    assert c.feature_names_ == ["a", "b", "region_north", "region_south"]
    space = c.transform(people.assign(region=["north"] * 40 + ["east"] * 40))
    assert (space[:40, 2:] == [1, 0]).all() and (space[40:, 2:] == 0).all()
    assert len(c.predict(people)) == 80


def test_the_params_state_and_check_the_clustering_settings():
    p = load_params(ROOT / "params" / "demo.yaml", ["cluster.method=gmm", "cluster.k_rule=bic",
                                                    "cluster.preprocess.scaling=robust"])
    assert (p.cluster.method, p.cluster.k_rule, p.cluster.preprocess.scaling) == ("gmm", "bic", "robust")
    assert load_params(ROOT / "params" / "demo.yaml").cluster.k_rule == "gap"
    with pytest.raises(ParamsError, match="k_rule fixed needs k"):
        load_params(ROOT / "params" / "demo.yaml", ["cluster.k_rule=fixed"])
    with pytest.raises(ParamsError, match="k_rule bic needs method: gmm"):
        load_params(ROOT / "params" / "demo.yaml", ["cluster.k_rule=bic"])
    with pytest.raises(ParamsError, match="scaling"):
        load_params(ROOT / "params" / "demo.yaml", ["cluster.preprocess.scaling=minmax"])


# --- names that never contradict their members ---

LEVEL_WORDS = {dim: {messages()[f"level.{dim}.{level}"]["en"]: level for level in range(1, 6)} for dim in "rfm"}
MIXED = {messages()[f"cluster.mixed.{dim}"]["en"] for dim in "rfm"}
# the words that state a count, with the test's own reading of them
COUNTS = {"f": {messages()["cluster.fact.one_order"]["en"]: lambda orders: orders == 1}}


def member_level(values: pd.Series, reverse: bool) -> pd.Series:
    """The test's own quintile level: 1 + how many of the 20/40/60/80% quantiles lie below the value."""
    cuts = values.quantile([0.2, 0.4, 0.6, 0.8]).to_numpy()
    level = values.map(lambda v: 1 + int((cuts < v).sum()))
    return 6 - level if reverse else level


def check_names(features: pd.DataFrame, labels: np.ndarray, named: pd.DataFrame) -> None:
    levels = {"r": member_level(features["recency_days"], True), "f": member_level(features["orders"], False),
              "m": member_level(features["revenue"], False)}
    for cluster, name in zip(named["cluster"], named["name"]):
        members = labels == cluster
        parts = name.split(" (")[0].split(", ")
        assert len(parts) == 3, name
        for dim, part in zip("rfm", parts):
            if part in MIXED:
                continue
            if part in COUNTS.get(dim, {}):
                share = COUNTS[dim][part](features["orders"][members]).mean()
                assert share >= FACT_SHARE, f"{name}: {part} holds for only {share:.0%} of the members"
                continue
            stated = {LEVEL_WORDS[dim][word] for word in part.split(" or ")}
            share = levels[dim][members].isin(stated).mean()
            assert share > 0.5, f"{name}: {part} holds for only {share:.0%} of the members"


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 5), st.integers(20, 120))
def test_a_name_never_states_a_level_most_members_do_not_have(seed, k, n):
    rng = np.random.default_rng(seed)
    features = pd.DataFrame({"customer_id": range(n), "recency_days": rng.integers(0, 400, n).astype(float),
                             "orders": rng.integers(1, 12, n).astype(float), "revenue": rng.lognormal(4, 1, n)})
    # any partition: random, or sorted on one column (the clusters k-means would like to name)
    labels = rng.integers(0, k, n) if seed % 2 else np.minimum(features["revenue"].rank(method="first").to_numpy(dtype=int) * k // (n + 1), k - 1)
    stage_named = cluster_text_names(features, labels)
    check_names(features, labels, stage_named)


def cluster_text_names(features, labels):
    from segkit.models.cluster import describe_clusters, name_clusters

    return name_clusters(describe_clusters(features, labels), "en", name_evidence(features, labels))


def test_a_cluster_of_recent_customers_is_not_called_inactive_from_its_median():
    # the issue's case: a median among the inactive while most members bought lately
    recency = [5.0] * 6 + [300.0] * 4 + [400.0] * 10  # cluster 0: six recent, four inactive
    features = pd.DataFrame({"customer_id": range(20), "recency_days": recency, "orders": [1.0] * 20,
                             "revenue": np.linspace(10, 200, 20)})
    labels = np.array([0] * 10 + [1] * 10)
    named = cluster_text_names(features, labels)
    assert "inactive" not in named.loc[0, "name"] and "lapsed" not in named.loc[0, "name"]
    check_names(features, labels, named)
    # half very recent, half lapsed: neither is stated
    split = features.assign(recency_days=[1.0] * 5 + [500.0] * 5 + list(np.linspace(50, 200, 10)))
    assert name_clusters_of(split, labels).loc[0, "name"].startswith("mixed recency")
    assert stated_levels({1: 0.3, 2: 0.3, 3: 0.1, 4: 0.1, 5: 0.2}) == (1, 2)
    assert stated_levels({1: 0.5, 2: 0.0, 3: 0.0, 4: 0.0, 5: 0.5}) == ()


def name_clusters_of(features, labels):
    return cluster_text_names(features, labels)


def one_order_shares(one_off_share_a=0.58, one_off_share_b=0.95, n=100):
    """Three clusters of n customers: a, `one_off_share_a` of them with one order and the rest with 2-5
    (the issue's 57.9%: 7,155 with 2 orders, 2,266 with 3, 254 with 4-5); b, `one_off_share_b` with one
    order and the rest with 2; c, frequent buyers (6-15 orders). About half of all customers have one
    order, so one order is the lowest frequency quintile, the level a majority of a and b have."""
    ones_a, ones_b = round(n * one_off_share_a), round(n * one_off_share_b)
    orders = np.concatenate([np.ones(ones_a), np.resize([2.0, 2, 2, 3, 3, 4, 5], n - ones_a),
                             np.ones(ones_b), np.full(n - ones_b, 2.0), np.resize(np.arange(6.0, 16), n)])
    rng = np.random.default_rng(0)
    recency = np.concatenate([rng.uniform(200, 300, n), rng.uniform(300, 400, n), rng.uniform(0, 30, n)]).round()
    revenue = np.concatenate([rng.uniform(20, 60, n), rng.uniform(10, 40, n), rng.uniform(500, 900, n)])
    features = pd.DataFrame({"customer_id": range(3 * n), "recency_days": recency, "orders": orders, "revenue": revenue})
    return features, np.repeat([0, 1, 2], n)


@pytest.mark.parametrize("lang, count, level", [("en", "one-off", "fewest orders"), ("zh", "仅购一次", "购买最少")])
def test_a_cluster_is_called_one_off_only_when_nearly_all_its_members_bought_once(lang, count, level):
    # the issue's case: 58% one order, 42% two to five, was called 仅购一次 from its level; 95% one order is
    features, labels = one_order_shares()
    assert (features["orders"][labels == 0] == 1).mean() == 0.58
    evidence = name_evidence(features, labels)
    named = name_clusters(describe_clusters(features, labels), lang, evidence)
    names = named.set_index("cluster")["name"]
    assert count not in names[0] and level in names[0], names[0]
    assert count in names[1] and level not in names[1], names[1]
    check_names(features, labels, name_clusters(describe_clusters(features, labels), "en", evidence))
    # the names table says the same word as the name, with the share of members it is true of
    stage = ClusterStage(None, named, None, None, evidence=evidence)
    table = cluster_text.names_table(stage, lang)
    orders = table[table["feature"] == column_label("orders", lang)].set_index("name")
    assert orders.loc[names[0], "stated"] == level and orders.loc[names[0], "share"] == pytest.approx(0.58)
    assert orders.loc[names[1], "stated"] == count and orders.loc[names[1], "share"] == pytest.approx(0.95)
    # the page says the rule with its share, in the page's language
    sentence = cluster_text.names_text(stage, lang).markup
    assert f"{FACT_SHARE:.0%}" in sentence and count in sentence and level in sentence
    # the word needs at least FACT_SHARE of the members: just below it, the level is said
    below, labels = one_order_shares(one_off_share_b=FACT_SHARE - 0.01)
    assert count not in name_clusters(describe_clusters(below, labels), lang, name_evidence(below, labels))["name"][1]
    at, labels = one_order_shares(one_off_share_b=FACT_SHARE)
    assert count in name_clusters(describe_clusters(at, labels), lang, name_evidence(at, labels))["name"][1]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_lowest_frequency_is_not_called_one_off_when_nobody_bought_once(lang):
    # a shop whose customers all bought at least three times: its lowest quintile is a level, not one order
    features, labels = one_order_shares(one_off_share_a=1.0, one_off_share_b=1.0)
    features["orders"] += 2
    evidence = name_evidence(features, labels)
    assert evidence.loc[evidence["column"] == "orders", "fact"].isna().all()
    named = name_clusters(describe_clusters(features, labels), lang, evidence)
    count = messages()["cluster.fact.one_order"][lang]
    assert not named["name"].str.contains(count).any()
    assert named.loc[0, "name"].split(t("name.separator", lang))[1] == t("level.f.1", lang)


COUNT_WORDS = ("one-off", "once", "single", "never", "no order", "one order", "only", "仅", "一次", "单次", "从未", "没有")


def test_no_level_word_states_a_count():
    """A level word (level.*, cluster.level.*, cluster.mixed.*, cluster.band) is said of a majority of the
    members at a quintile level, so it never states a count or an absolute fact; such a word is a FACT_WORDS
    word (cluster.fact.*), said only when at least FACT_SHARE of the members hold it."""
    from segkit.models.cluster import FACT_WORDS

    levels = {key: texts for key, texts in messages().items()
              if key.startswith(("level.", "cluster.level.", "cluster.mixed.", "cluster.band"))}
    assert levels
    # 最近一次消费 is the field's name for recency (R), not a count of one purchase
    found = [(key, lang, text) for key, texts in levels.items() for lang, text in texts.items()
             for word in COUNT_WORDS if word in text.lower().replace("最近一次消费", "")]
    assert not found, found
    facts = [key for words in FACT_WORDS.values() for key, _ in words]
    assert facts and all(key.startswith("cluster.fact.") and key in messages() for key in facts)


def test_the_report_tables_show_sizes_means_and_where_names_come_from():
    features = retail(n=300, seed=4)
    stage = cluster_stage(features, "zh", k_min=3, k_max=4, random_state=0, n_references=3)
    assert cluster_text.sizes_table(stage)["customers"].sum() == 300
    means = cluster_text.means_table(stage, features, "zh")
    assert len(means) == 3 * stage.clusterer.k_
    first = features[stage.clusterer.labels_ == 0]["revenue"]
    row = means[(means["name"] == stage.profile.loc[0, "name"]) & (means["feature"] == t("col.revenue", "zh"))]
    assert row["mean"].iloc[0] == pytest.approx(first.mean()) and row["median"].iloc[0] == pytest.approx(first.median())
    names = cluster_text.names_table(stage, "zh")
    stated = names[names["stated"] != t("cluster.mixed.r", "zh")]
    assert (stated[stated["feature"] == t("col.recency_days", "zh")]["share"] > 0.5).all()
    snake = cluster_text.snake_frame(stage, features, "zh")
    assert snake.shape == (stage.clusterer.k_, 3)
    # the standardised means average to 0 over customers
    sizes = stage.profile["customers"].to_numpy()
    assert np.allclose((snake.to_numpy() * sizes[:, None]).sum(axis=0) / sizes.sum(), 0, atol=1e-9)


def test_the_cluster_charts_draw_the_sweep_the_snake_and_the_tree():
    from segkit.report import plots

    features, _ = blobs(k=3, n=40)
    c = fit(features, method="ward", k_min=2, k_max=5)
    fig = plots.cluster_indices(c.indices_, c.k_, "en")
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in shown] == ["Inertia (elbow)", "Silhouette", "Calinski-Harabasz",
                                                "Davies-Bouldin", "Gap statistic ± s"]
    tree = plots.dendrogram(c.linkage_, c.k_, "en")
    cut = [line.get_ydata()[0] for line in tree.axes[0].get_lines() if line.get_linestyle() == "--"]
    heights = np.sort(c.linkage_[:, 2])
    assert len(cut) == 1 and heights[-3] < cut[0] < heights[-2]
    snake = plots.snake_plot(pd.DataFrame(c.centers_, index=["x", "y", "z"], columns=["a", "b", "c"]), "en")
    assert snake.axes[0].get_title() == "Cluster means on the scaled columns"


def test_a_fixed_k_above_the_distinct_profiles_skips_with_a_sentence_not_a_traceback():
    from segkit.report.tables import cluster_skip_text

    features = pd.DataFrame({"customer_id": range(8), "a": [1.0, 1, 2, 2, 3, 3, 4, 4], "b": [1.0, 1, 2, 2, 3, 3, 4, 4]})
    stage = cluster_stage(features, "en", k_min=2, k_max=6, columns=("a", "b"), k_rule="fixed", k=5, log="none")
    assert stage.skipped == {"reason": "too_few_profiles_k", "profiles": 4, "k": 5}
    assert "cluster.k is 5" in cluster_skip_text(stage.skipped, "en")
    assert "cluster.k 为 5" in cluster_skip_text(stage.skipped, "zh")


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(1, 6), st.floats(0.0, 0.9), st.integers(0, 2 ** 31 - 1))
def test_level_shares_count_as_a_crosstab_of_members_by_level(n, k, missing, seed):
    """Each cluster's share of members at each quintile level, as pandas' crosstab of (cluster, level)
    over the cluster's size gives it: members without a value count in the size, a cluster without
    any value is a row of NaN, clusters in sorted order, whatever the labels' values."""
    from segkit.models.cluster import level_shares, member_levels

    rng = np.random.default_rng(seed)
    values = rng.gamma(1.0, 50.0, n).round(0)
    values[rng.random(n) < missing] = np.nan
    labels = rng.choice(np.array([7, -1, 3, 0, 12, 5])[:k], n)
    features = pd.DataFrame({"revenue": values, "recency_days": values})
    for column in ("revenue", "recency_days"):
        frame = pd.DataFrame({"cluster": labels, "level": member_levels(features, column)})
        counts = pd.crosstab(frame["cluster"], frame["level"]).reindex(columns=[1.0, 2.0, 3.0, 4.0, 5.0], fill_value=0)
        expected = counts.div(frame.groupby("cluster").size(), axis=0)
        expected.columns = [1, 2, 3, 4, 5]
        got = level_shares(features, labels, column)
        pd.testing.assert_frame_equal(got, expected, check_index_type=False, check_names=True)


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 300), st.integers(1, 5), st.integers(1, 50), st.integers(0, 2 ** 31 - 1))
def test_canonical_order_is_lexsorts_order(n, width, levels, seed):
    """The same positions as np.lexsort over the columns (first column first), ties (equal rows) in
    their order: many equal values, few, negative, and, with a key that would overflow, still right."""
    from segkit.models import cluster
    from segkit.models.cluster import canonical_order

    rng = np.random.default_rng(seed)
    X = rng.integers(-levels, levels, size=(n, width)).astype(float) * rng.choice([1.0, 0.5, 1e6], width)
    assert canonical_order(X).tolist() == np.lexsort(X.T[::-1]).tolist()
    wide = rng.random((n + 2000, 6))  # every value distinct: 2000 ** 6 > 2 ** 62 would overflow a plain key
    assert canonical_order(wide).tolist() == np.lexsort(wide.T[::-1]).tolist()
    assert canonical_order(np.empty((n, 0))).tolist() == list(range(n))
