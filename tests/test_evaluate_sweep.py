"""Settings compared (segkit.compare_settings) and the quality of several classifications side by side."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from segkit.errors import ParamsError
from segkit.evaluate.quality import compare_quality, explain_with_tree
from segkit.evaluate.sweep import compare_settings


def rfm_customers(n: int = 240, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    orders = rng.integers(1, 15, n)
    return pd.DataFrame({"customer_id": [f"c{i:03d}" for i in range(n)], "recency_days": rng.integers(0, 365, n),
                         "orders": orders, "revenue": orders * rng.uniform(20, 80, n)})


def test_one_row_per_setting_and_one_best():
    features = rfm_customers()
    settings = [{"method": "rfm", "bins": 3}, {"method": "classes"}, {"method": "kmeans", "k": 3},
                {"method": "kmeans", "k": 4}]
    table = compare_settings(features, settings, criterion="high_f1", stability_runs=2, random_state=0)
    assert list(table["setting"]) == ["RFM 3 bins", "8 classes", "k-means k=3", "k-means k=4"]
    assert table["best"].sum() == 1
    # no holdout given: the next-period criterion cannot decide, silhouette does, and says so
    assert table.attrs["criterion"] == "silhouette"
    assert table.loc[table["best"], "silhouette"].item() == table["silhouette"].max()
    assert table.loc[table["method"] == "kmeans", "groups"].tolist() == [3, 4]
    assert table.loc[table["method"] != "kmeans", "stability"].isna().all()
    assert table.loc[table["method"] == "kmeans", "stability"].between(-1, 1).all()


def test_a_setting_the_data_cannot_hold_keeps_its_row_with_the_reason():
    features = rfm_customers(12).assign(recency_days=[1, 2] * 6, orders=[1, 2] * 6, revenue=[10.0, 20.0] * 6)
    table = compare_settings(features, [{"method": "kmeans", "k": 5}, {"method": "classes"}], stability_runs=2)
    assert len(table) == 2 and "distinct customer profiles" in table.loc[0, "note"]


@pytest.mark.parametrize("setting, word", [({"method": "dbscan"}, "method"), ({"method": "kmeans"}, "needs k"),
                                           ({"method": "rfm", "bins": 20}, "needs bins")])
def test_bad_settings(setting, word):
    with pytest.raises(ParamsError, match=word):
        compare_settings(rfm_customers(), [setting])


def test_quality_side_by_side_in_one_space():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 0.2, (60, 2)), rng.normal(4, 0.2, (60, 2))])
    true = np.repeat([0, 1], 60)
    table = compare_quality(X, {"clusters": true, "random": rng.integers(0, 2, 120), "one": np.zeros(120)})
    assert list(table["labeling"]) == ["clusters", "random", "one"]
    assert table.loc[0, "silhouette"] > 0.8 > table.loc[1, "silhouette"]
    assert table.loc[0, "davies_bouldin"] < table.loc[1, "davies_bouldin"]
    assert np.isnan(table.loc[2, "silhouette"]) and table.loc[2, "groups"] == 1
    with pytest.raises(ValueError, match="'random' has 3 labels for 120"):
        compare_quality(X, {"random": [0, 1, 0]})


def test_rules_reach_a_known_accuracy_and_agree_with_their_confusion_matrix():
    # rule-shaped: three classes cut by orders > 5 and then revenue > 500, 5% of labels flipped at random
    rng = np.random.default_rng(3)
    n = 1000
    features = pd.DataFrame({"recency_days": rng.integers(0, 400, n), "orders": rng.integers(1, 12, n),
                             "revenue": rng.uniform(10, 1000, n)})
    target = np.where(features["orders"] <= 5, "occasional", np.where(features["revenue"] > 500, "vip", "frequent"))
    flipped = rng.random(n) < 0.05
    target = np.where(flipped, rng.choice(["occasional", "vip", "frequent"], n), target)
    explanation = explain_with_tree(features, target, max_depth=2, random_state=0)
    assert 0.92 <= explanation.accuracy <= 0.99  # the rules are right except for the flipped labels
    confusion = explanation.confusion
    assert confusion.to_numpy().sum() == 300
    assert np.trace(confusion.to_numpy()) / 300 == pytest.approx(explanation.accuracy)
    per_class = explanation.per_class.set_index("target")
    for name in confusion.index:  # precision and recall read off the confusion matrix
        assert per_class.loc[name, "precision"] == pytest.approx(confusion.loc[name, name] / confusion[name].sum())
        assert per_class.loc[name, "recall"] == pytest.approx(confusion.loc[name, name] / confusion.loc[name].sum())
    by_class = explanation.rules_by_class()
    assert set(by_class["target"]) == {"occasional", "vip", "frequent"}
    assert by_class.groupby("target")["class_share"].sum().to_numpy() == pytest.approx(1.0)


def test_six_customers_give_reasons_not_errors():
    # smallest input that broke 05: as many segments as customers, and subsamples too small for k
    from segkit.evaluate.stage import stability_stage
    from segkit.models.cluster import RFMClusterer

    six = pd.DataFrame({"customer_id": list("abcdef"), "recency_days": [1, 5, 30, 90, 200, 300],
                        "orders": [9, 6, 4, 3, 2, 1], "revenue": [900.0, 500, 300, 120, 60, 10]})
    quality = compare_quality(six[["recency_days", "orders", "revenue"]].to_numpy(float), {"each": list("abcdef")})
    assert quality[["silhouette", "calinski_harabasz", "davies_bouldin"]].isna().all(axis=None)
    clusterer = RFMClusterer(k_min=4, k_max=4, random_state=0).fit(six)
    stability, reason = stability_stage(clusterer, six, clusterer.labels_, runs=2, share=0.5)
    assert stability is None and "distinct customer profiles" in reason
    # k = 5 fits the six, but not the 5 customers of an 80% subsample: the row says why
    table = compare_settings(six, [{"method": "kmeans", "k": 5}, {"method": "rfm", "bins": 2}], stability_runs=2)
    assert len(table) == 2 and "distinct customer profiles" in table.loc[0, "note"] and not table.loc[1, "note"]


def test_large_data_run_on_one_stated_sample():
    table = compare_settings(rfm_customers(300), [{"method": "classes"}], max_customers=120)
    assert table.attrs["customers"] == 120 and table.attrs["sampled"]
    assert compare_settings(rfm_customers(100), [{"method": "classes"}]).attrs["sampled"] is False


def test_the_comparison_says_when_it_ran_on_a_sample_and_of_how_many():
    """Trial: CDNOW's 05 said the settings ran "on the same 20,000 customers" of 23,502: a sample."""
    import pandas as pd

    from segkit.report.evaluation_tables import compare_sentences
    from segkit.report.html import say_each

    table = pd.DataFrame({"method": ["rfm"], "bins": [5], "best": [False]})
    table.attrs.update(customers=20_000, criterion="silhouette")
    [(key, values)] = compare_sentences(table, 23_502, "en")
    assert key == "evaluate.compare_sample" and (values["customers"], values["all"]) == (20_000, 23_502)
    assert "random sample of 20,000 of the 23,502 customers" in say_each([(key, values)], "en").markup
    assert "从 23,502 位客户中随机抽取 20,000 位" in say_each(compare_sentences(table, 23_502, "zh"), "zh").markup
    assert compare_sentences(table, 20_000, "en")[0][0] == "evaluate.compare"


def test_the_comparison_is_two_tables_each_fit_for_a_portrait_page():
    """Eleven figures in one table were set at 5.5 pt in the PDF: the groups' quality and their use are
    two tables of the same settings, each with the best one marked, the note (a setting that could not
    run) beside the quality."""
    from segkit.report.evaluation_tables import compare_table
    from segkit.report.html import table as html_table

    features = rfm_customers(12).assign(recency_days=[1, 2] * 6, orders=[1, 2] * 6, revenue=[10.0, 20.0] * 6)
    comparison = compare_settings(features, [{"method": "kmeans", "k": 5}, {"method": "classes"}], stability_runs=2)
    quality, use = (compare_table(comparison, "zh", part) for part in ("quality", "use"))
    assert list(quality.columns) == ["eval_setting", "eval_groups", "silhouette", "eval_calinski_harabasz",
                                     "eval_davies_bouldin", "eval_stability", "eval_note", "eval_best"]
    # without a holdout period there is no lift nor high-value figure: the rules' figures only
    assert list(use.columns) == ["eval_setting", "eval_tree_accuracy", "eval_tree_f1", "eval_best"]
    assert quality["eval_setting"].tolist() == use["eval_setting"].tolist()
    assert quality["eval_best"].tolist() == use["eval_best"].tolist()
    whole = compare_table(comparison, "zh")
    assert set(whole.columns) == set(quality.columns) | set(use.columns)
    for part in (quality.drop(columns="eval_note"), use):  # neither needs the smallest print
        assert "segkit-widest" not in html_table(part, "zh").to_html()
