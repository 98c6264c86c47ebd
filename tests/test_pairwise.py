"""Silhouettes in small chunks (segkit.models.pairwise): the same numbers as scikit-learn's default
chunking, from a fraction of the memory."""

import tracemalloc

import numpy as np
import pytest
import sklearn
from sklearn.metrics import silhouette_score

from segkit.evaluate.quality import cluster_quality, compare_quality
from segkit.models.pairwise import PAIRWISE_CHUNK_MB, small_chunks


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
