"""Silhouettes in small chunks (segkit.models.pairwise): the same numbers as scikit-learn's default
chunking, from a fraction of the memory; several silhouettes on one sample from distances computed once."""

import tracemalloc

import numpy as np
import pytest
import sklearn
from sklearn.metrics import silhouette_score

from segkit.evaluate.quality import cluster_quality, compare_quality
from segkit.models import pairwise
from segkit.models.cluster import RFMClusterer
from segkit.models.pairwise import PAIRWISE_CHUNK_MB, SampledSilhouettes, small_chunks


@pytest.fixture(scope="module")
def customers():
    rng = np.random.default_rng(5)
    X = np.vstack([rng.normal(center, 0.6, size=(2_000, 3)) for center in (0, 3, 6)])
    return X, np.repeat([0, 1, 2], 2_000)


def _peak_mb(call):
    tracemalloc.start()  # NumPy reports its arrays to tracemalloc
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def test_small_chunks_sets_scikit_learns_working_memory_only_inside():
    before = sklearn.get_config()["working_memory"]
    with small_chunks():
        assert sklearn.get_config()["working_memory"] == PAIRWISE_CHUNK_MB
    assert sklearn.get_config()["working_memory"] == before


def test_the_silhouette_of_a_5000_customer_sample_is_scikit_learns_from_a_third_of_the_memory(customers):
    X, labels = customers
    expected, default_peak = _peak_mb(lambda: silhouette_score(X, labels, sample_size=5_000, random_state=0))
    quality, peak = _peak_mb(lambda: cluster_quality(X, labels, sample_size=5_000, random_state=0))
    assert quality["silhouette"] == pytest.approx(expected, rel=1e-12)
    # before: the 5,000 x 5,000 distance matrix (190 MB) at once; in 64 MB chunks about a third of that
    assert default_peak > 150 and peak < 100 and peak < default_peak / 2.5


def test_compared_labelings_score_the_silhouette_as_scikit_learn_does(customers):
    X, labels = customers
    table = compare_quality(X, {"truth": labels, "halves": (X[:, 0] > 3).astype(int)}, sample_size=5_000,
                            random_state=0).set_index("labeling")
    for name, given in (("truth", labels), ("halves", (X[:, 0] > 3).astype(int))):
        assert table.loc[name, "silhouette"] == pytest.approx(
            silhouette_score(X, given, sample_size=5_000, random_state=0), rel=1e-12)


@pytest.mark.parametrize("sample", [500, 1_500])  # a sample of the customers, and all of them
@pytest.mark.parametrize("kept", [True, False])  # the distances kept, or too large to keep
def test_silhouettes_on_one_sample_are_scikit_learns_bit_for_bit(customers, monkeypatch, sample, kept):
    X, labels = customers
    X, labels = X[::4], labels[::4]  # 1,500 customers of the three groups
    monkeypatch.setattr(pairwise, "SHARED_DISTANCES_MB", 256 if kept else 1)  # 1,500 customers: 17 MB
    computed = []
    real = pairwise._distances
    monkeypatch.setattr(pairwise, "_distances", lambda rows: computed.append(len(rows)) or real(rows))
    silhouettes = SampledSilhouettes(X, sample, 3)
    for given in (labels, (X[:, 0] > 3).astype(int), np.arange(len(X)) % 4):
        with small_chunks():  # the chunks scikit-learn uses in the stages: the same numbers, bit for bit
            expected = silhouette_score(X, given, sample_size=sample, random_state=3)
        assert silhouettes(given) == expected
    assert computed == ([sample] if kept else [])  # once for the three labelings, or never
    distances = silhouettes.distances_
    if kept:
        assert distances.shape == (sample, sample) and np.allclose(distances, distances.T)
        assert not distances.diagonal().any()
    else:
        assert distances is None
    with pytest.raises(ValueError):  # one label in the sample, as silhouette_samples says it
        silhouettes(np.zeros(len(X), dtype=int))


def sweep_features(X):
    import pandas as pd

    return pd.DataFrame({"customer_id": [f"c{i}" for i in range(len(X))], "recency_days": np.abs(X[:, 0]) * 30,
                         "orders": np.round(np.abs(X[:, 1])) + 1, "revenue": np.abs(X[:, 2]) * 100 + 1})


def test_the_k_sweep_computes_the_samples_distances_once_and_scores_each_k_as_scikit_learn(customers, monkeypatch):
    X, _ = customers
    made, scored = [], []

    class Spy(SampledSilhouettes):
        def __init__(self, Z, sample, random_state):
            super().__init__(Z, sample, random_state)
            made.append(self)

        def __call__(self, labels):
            scored.append((labels, super().__call__(labels)))
            return scored[-1][1]

    computed = []
    real = pairwise._distances
    monkeypatch.setattr(pairwise, "_distances", lambda rows: computed.append(len(rows)) or real(rows))
    monkeypatch.setattr("segkit.models.cluster.SampledSilhouettes", Spy)
    fitted = RFMClusterer(k_min=2, k_max=5, sample_size=1_000, random_state=0, n_references=2).fit(
        sweep_features(X[::2]))
    assert len(made) == 1 and len(scored) == 4 and computed == [1_000]  # one distance matrix for the four k
    Z, size = made[0].X, made[0].sample
    for k, (labels, value) in zip([2, 3, 4, 5], scored):
        with small_chunks():
            assert value == silhouette_score(Z, labels, sample_size=size, random_state=0)
        assert fitted.indices_.loc[k, "silhouette"] == value


def test_a_sweep_without_a_seed_draws_a_sample_for_each_k_as_before(customers, monkeypatch):
    X, _ = customers
    monkeypatch.setattr("segkit.models.cluster.SampledSilhouettes",
                        lambda *a: pytest.fail("a sweep without a seed shares no sample"))
    fitted = RFMClusterer(k_min=2, k_max=3, sample_size=1_000, random_state=None, n_references=2).fit(
        sweep_features(X[::2]))
    assert fitted.indices_["silhouette"].notna().all()
