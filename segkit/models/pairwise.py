"""scikit-learn's pairwise-distance work (silhouettes) in small chunks.

scikit-learn computes pairwise distances a chunk of rows at a time, each chunk up to its
`working_memory` (1024 MB by default): a silhouette on a 5,000-customer sample then allocates its
whole 5,000 x 5,000 distance matrix (200 MB) and the temporaries behind it at once, and again for
each k of the sweep. In chunks of PAIRWISE_CHUNK_MB the same numbers come from a fraction of that
memory, reused from one chunk to the next. Four silhouettes on 5,000 of 1M customers in one process,
3 s apart: peak RSS 284 MB against 411 MB, and on a virtual machine whose host takes back freed
memory 1.6 s against 4.9-5.1 s; 04's cluster stage at 1M customers 7.2-8.0 s against 9.8-11.0 s
(docs/benchmarks.md, session 16).
"""

from __future__ import annotations

import sklearn

PAIRWISE_CHUNK_MB = 64


def small_chunks():
    """A context in which scikit-learn's chunked pairwise computations (silhouette_score,
    silhouette_samples, pairwise_distances_chunked) use chunks of at most PAIRWISE_CHUNK_MB MB."""
    return sklearn.config_context(working_memory=PAIRWISE_CHUNK_MB)
