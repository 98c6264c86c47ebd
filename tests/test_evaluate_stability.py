"""Resampling stability (segkit.evaluate.stability): Hennig (2007) on data whose answer is known."""

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from segkit.errors import ParamsError
from segkit.evaluate.stability import cluster_stability, matched_jaccard, verdict
from segkit.models.cluster import RFMClusterer


def blobs(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    centers = np.array([[-10, -10], [0, 10], [10, -5]])
    return pd.DataFrame(np.vstack([c + rng.normal(0, 1, (100, 2)) for c in centers]), columns=["x", "y"])


def fitted(frame: pd.DataFrame, k: int) -> RFMClusterer:
    with threadpool_limits(limits=1):  # small fits: one thread is faster on a shared machine
        return RFMClusterer(k_min=k, k_max=k, columns=tuple(frame.columns), sample_size=300, random_state=0).fit(frame)


@pytest.fixture(scope="module")
def three_blobs():
    frame = blobs()
    return frame, fitted(frame, 3)


def test_clean_blobs_are_highly_stable(three_blobs):
    frame, clusterer = three_blobs
    before = frame.copy()
    stability = cluster_stability(clusterer, frame, runs=6, random_state=0)
    assert stability.mean_ari > 0.95
    assert (stability.clusters["mean_jaccard"] > 0.95).all()
    assert set(stability.clusters["verdict"]) == {"highly_stable"}
    assert len(stability.runs) == 6 and len(stability.jaccard) == 6 * 3
    assert stability.runs["customers"].eq(240).all()  # 80% of 300, drawn without replacement
    pd.testing.assert_frame_equal(frame, before)  # the input is not changed
    assert clusterer.k_ == 3 and len(clusterer.labels_) == 300  # nor is the fitted clusterer


def test_uniform_noise_is_not_stable():
    # no structure: k-means still cuts 5-dimensional uniform noise into 6 parts, but not the same parts twice
    rng = np.random.default_rng(0)
    noise = pd.DataFrame(rng.uniform(-1, 1, (300, 5)), columns=[f"c{i}" for i in range(5)])
    clusterer = fitted(noise, 6)
    stability = cluster_stability(clusterer, noise, runs=6, random_state=0)
    assert stability.mean_ari < 0.7
    assert "highly_stable" not in set(stability.clusters["verdict"])
    assert stability.clusters["mean_jaccard"].min() < 0.6


def test_bootstrap_compares_each_customer_drawn_once_and_a_sample_caps_the_cost():
    frame = blobs(1)
    clusterer = fitted(frame, 3)
    stability = cluster_stability(clusterer, frame, runs=3, scheme="bootstrap", sample_size=150, random_state=0)
    assert stability.sample == 150 and stability.scheme == "bootstrap"
    # with replacement, about 1 - 1/e of the 150 are distinct, never more than 150
    assert stability.runs["customers"].between(80, 120).all()
    assert stability.mean_ari > 0.95


def test_matching_is_one_to_one_and_by_hand():
    # the same partition under other numbers: a perfect match
    assert matched_jaccard(np.array([0, 0, 1, 1, 2]), np.array([7, 7, 3, 3, 9])) == {0: 1.0, 1: 1.0, 2: 1.0}
    # two reference clusters merged into one new cluster: only one of them may claim it
    merged = matched_jaccard(np.array([0, 0, 1, 1, 2, 2]), np.array([5, 5, 5, 5, 6, 6]))
    assert sorted(merged.values()) == [0.0, 0.5, 1.0]
    assert merged[2] == 1.0


def test_verdicts_follow_hennigs_bands():
    assert [verdict(j) for j in (0.2, 0.55, 0.7, 0.8, 0.9)] == ["dissolved", "weak", "pattern", "stable",
                                                                 "highly_stable"]
    assert verdict(0.7, bands=(0.3, 0.4, 0.5, 0.6)) == "highly_stable"


@pytest.mark.parametrize("options, word", [({"scheme": "jackknife"}, "stability_scheme"), ({"runs": 1}, "stability_runs"),
                                           ({"share": 1.0}, "stability_share"),
                                           ({"bands": (0.6, 0.5, 0.7, 0.9)}, "stability_bands")])
def test_bad_settings_name_their_params_key(options, word, three_blobs):
    frame, clusterer = three_blobs
    with pytest.raises(ParamsError, match=word):
        cluster_stability(clusterer, frame, **options)
