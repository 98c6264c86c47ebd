"""scikit-learn's pairwise-distance work (silhouettes) in small chunks.

scikit-learn computes pairwise distances a chunk of rows at a time, each chunk up to its
`working_memory` (1024 MB by default): a silhouette on a 5,000-customer sample then allocates its
whole 5,000 x 5,000 distance matrix (200 MB) and the temporaries behind it at once, and again for
each k of the sweep. In chunks of PAIRWISE_CHUNK_MB the same numbers come from a fraction of that
memory, reused from one chunk to the next. Four silhouettes on 5,000 of 1M customers in one process,
3 s apart: peak RSS 284 MB against 411 MB, and on a virtual machine whose host takes back freed
memory 1.6 s against 4.9-5.1 s; 04's cluster stage at 1M customers 7.2-8.0 s against 9.8-11.0 s
(docs/benchmarks.md, session 16).

Several silhouettes on one sample (04's k sweep, 05's labelings side by side) share the sample's
distance matrix, computed once (`silhouette_sample`, `sampled_silhouette`).
"""

from __future__ import annotations

import numpy as np
import sklearn
from sklearn.metrics import pairwise_distances_chunked, silhouette_samples
from sklearn.utils import check_random_state

PAIRWISE_CHUNK_MB = 64


def small_chunks():
    """A context in which scikit-learn's chunked pairwise computations (silhouette_score,
    silhouette_samples, pairwise_distances_chunked) use chunks of at most PAIRWISE_CHUNK_MB MB."""
    return sklearn.config_context(working_memory=PAIRWISE_CHUNK_MB)


def silhouette_sample(X: np.ndarray, sample: int, random_state) -> tuple[np.ndarray, np.ndarray]:
    """The rows scikit-learn's `silhouette_score(X, labels, sample_size=sample, random_state=...)`
    draws (a permutation's first `sample`: the same rows for any labels) and their Euclidean
    distances, computed as its `silhouette_samples` computes them (`pairwise_distances_chunked` in
    small chunks, zero diagonal), into one (sample, sample) float64 array: (indices, distances).
    For several silhouettes on one sample (a k sweep, labelings side by side), the distances are
    then computed once (`sampled_silhouette`)."""
    indices = check_random_state(random_state).permutation(X.shape[0])[:sample]
    drawn = np.ascontiguousarray(X[indices], dtype=float)
    distances = np.empty((len(drawn), len(drawn)))
    start = 0
    with small_chunks():
        for chunk in pairwise_distances_chunked(drawn, metric="euclidean"):
            distances[start:start + len(chunk)] = chunk
            start += len(chunk)
    return indices, distances


def sampled_silhouette(shared: tuple[np.ndarray, np.ndarray], labels: np.ndarray) -> float:
    """The mean silhouette (Rousseeuw 1987) of `labels` (one per row of the X given to
    `silhouette_sample`) on that sample: the number `silhouette_score(X, labels, sample_size=...,
    random_state=...)` gives, from distances computed once. Raises ValueError as `silhouette_samples`
    does when the sample holds a single label or as many labels as rows."""
    indices, distances = shared
    with small_chunks():
        return float(np.mean(silhouette_samples(distances, np.asarray(labels)[indices], metric="precomputed")))
