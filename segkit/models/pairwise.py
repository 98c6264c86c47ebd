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
distance matrix, computed once (`SampledSilhouettes`).
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


# The largest distance matrix kept for several silhouettes on one sample (5,000 customers: 191 MB);
# a larger sample is scored chunk by chunk for each labeling, as scikit-learn does.
SHARED_DISTANCES_MB = 256


class SampledSilhouettes:
    """Mean silhouettes (Rousseeuw 1987) of several labelings of the rows of `X` (n x features), each
    on the same sample: the rows scikit-learn's `silhouette_score(X, labels, sample_size=sample,
    random_state=random_state)` draws (a permutation's first `sample`), drawn at the first call.

    Called with one label per row of X, it returns the number `silhouette_score` gives for an
    integer `random_state`, bit for bit: the sample's distances are computed once, in small chunks
    as scikit-learn computes them, and kept (sample x sample, float64) when they fit in
    SHARED_DISTANCES_MB; a larger sample is scored chunk by chunk for each labeling. With
    `random_state` None the sample is drawn once from NumPy's global generator and shared by every
    labeling (`silhouette_score` would draw one for each). Raises ValueError as `silhouette_samples`
    does when the sample holds a single label or as many labels as rows."""

    def __init__(self, X: np.ndarray, sample: int, random_state=None):
        self.X, self.sample, self.random_state = X, sample, random_state
        self.indices_: np.ndarray | None = None
        self.distances_: np.ndarray | None = None

    def __call__(self, labels) -> float:
        if self.indices_ is None:
            self.indices_ = check_random_state(self.random_state).permutation(self.X.shape[0])[:self.sample]
            if len(self.indices_) ** 2 * 8 <= SHARED_DISTANCES_MB * 2**20:
                self.distances_ = _distances(self.X[self.indices_])
        drawn = np.asarray(labels)[self.indices_]
        with small_chunks():
            if self.distances_ is not None:
                return float(np.mean(silhouette_samples(self.distances_, drawn, metric="precomputed")))
            return float(np.mean(silhouette_samples(self.X[self.indices_], drawn)))


def _distances(rows: np.ndarray) -> np.ndarray:
    """The Euclidean distances between `rows` as `silhouette_samples` computes them (in small chunks,
    zero diagonal), written chunk by chunk into one square array."""
    out = None
    start = 0
    with small_chunks():
        for chunk in pairwise_distances_chunked(rows, metric="euclidean"):
            if out is None:
                out = np.empty((len(rows), len(rows)), dtype=chunk.dtype)
            out[start:start + len(chunk)] = chunk
            start += len(chunk)
    return out
