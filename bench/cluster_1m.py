"""Time the clustering stage on 1M customers with synthetic RFM features (issue 11).

Usage: python bench/cluster_1m.py [customers] [method] [silhouette sample (cluster.sample_size)]
Prints the seconds of `cluster_stage` (sweep on the stated sample, final fit on everyone) and of
naming, with the k chosen and the rule."""

import sys
import time

import numpy as np
import pandas as pd

from segkit.models.cluster import cluster_stage


def synthetic_features(n: int, seed: int = 0) -> pd.DataFrame:
    """Four kinds of customer in the proportions of a retail file, with log-normal spread."""
    rng = np.random.default_rng(seed)
    kinds = rng.choice(4, size=n, p=[0.1, 0.2, 0.3, 0.4])
    recency = np.array([10, 45, 150, 400])[kinds] * rng.lognormal(0, 0.4, n)
    orders = np.maximum(1, np.round(np.array([20, 6, 2, 1])[kinds] * rng.lognormal(0, 0.3, n)))
    revenue = np.array([2000, 500, 120, 40])[kinds] * rng.lognormal(0, 0.5, n)
    return pd.DataFrame({"customer_id": np.arange(n), "recency_days": recency.round(), "orders": orders,
                         "revenue": revenue})


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    method = sys.argv[2] if len(sys.argv) > 2 else "kmeans"
    silhouette_sample = int(sys.argv[3]) if len(sys.argv) > 3 else 10_000
    features = synthetic_features(n)
    start, cpu = time.perf_counter(), time.process_time()
    stage = cluster_stage(features, "en", k_min=3, k_max=8, random_state=42, method=method,
                          sample_size=silhouette_sample)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    c = stage.clusterer
    print(f"{n:,} customers, {method}, silhouette on {silhouette_sample:,}: {seconds:.1f} s wall, {cpu:.1f} s CPU; k = {c.k_} ({c.k_reason_['rule']}); sample {c.sample_}; "
          f"minibatch {c.minibatch_}")
    print(stage.profile[["cluster", "customers", "name"]].to_string(index=False))
