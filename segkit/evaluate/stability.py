"""Would we get the same clusters again? Resampling stability of a clustering (Hennig 2007).

Method (C. Hennig, "Cluster-wise assessment of cluster stability", Computational Statistics &
Data Analysis 52, 2007): draw customers again (subsamples without replacement, or bootstrap samples
with replacement), recluster them with the same method and the same k, and compare the new
clustering with the original one on the customers drawn:

- the adjusted Rand index (Hubert & Arabie 1985) of the whole partition, one per run;
- the Jaccard similarity |A ∩ B| / |A ∪ B| of each original cluster A with the new cluster B it is
  matched to. Clusters are matched one to one by the Hungarian method on the Jaccard matrix
  (`scipy.optimize.linear_sum_assignment`), so two original clusters never claim the same new one;
  an original cluster left without a partner (the new clustering has fewer clusters) scores 0.

Hennig's reading of the mean Jaccard of a cluster, the default bands (params `evaluate.stability_*`):
below 0.5 the cluster "dissolved"; 0.5-0.6 it is weak; 0.6-0.75 it points at a pattern but its
members are doubtful; 0.75-0.85 it is stable; above 0.85 highly stable.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_limits

from segkit.errors import ParamsError

SCHEMES = ("subsample", "bootstrap")
VERDICTS = ("dissolved", "weak", "pattern", "stable", "highly_stable")
BANDS = (0.5, 0.6, 0.75, 0.85)  # Hennig (2007): the lower edges of weak, pattern, stable, highly stable
PINNED_SAMPLE = 500  # silhouette sample of a clusterer refitted with k pinned (the score is not used)
PINNED_REFERENCES = 2  # the gap statistic's reference sets of such a refit (the gap is not used either)


@dataclass(frozen=True)
class Stability:
    """What `cluster_stability` measured.

    - `runs`: one row per run: run, customers (distinct customers compared), ari;
    - `jaccard`: one row per run and original cluster: run, cluster, jaccard (0..1);
    - `clusters`: one row per original cluster: cluster, customers (in the original clustering),
      mean_jaccard, min_jaccard, dissolved_share (share of runs with a Jaccard below the first band),
      verdict (one of VERDICTS);
    - `scheme`, `share` (the share of the customers each run draws), `sample` (customers drawn
      from; all of them unless the data were larger than `sample_size`).
    """

    runs: pd.DataFrame
    jaccard: pd.DataFrame
    clusters: pd.DataFrame
    scheme: str
    share: float
    sample: int

    @property
    def mean_ari(self) -> float:
        return float(self.runs["ari"].mean())


def verdict(mean_jaccard: float, bands=BANDS) -> str:
    """Hennig's word for a cluster's mean Jaccard: `bands` are the lower edges of weak, pattern,
    stable and highly stable (increasing); below the first, "dissolved".

    >>> verdict(0.3), verdict(0.7), verdict(0.9)
    ('dissolved', 'pattern', 'highly_stable')
    """
    return VERDICTS[int(np.searchsorted(np.asarray(bands, dtype=float), mean_jaccard, side="right"))]


def matched_jaccard(reference: np.ndarray, labels: np.ndarray) -> dict:
    """Jaccard similarity of each cluster of `reference` with the cluster of `labels` matched to it
    one to one (Hungarian method, maximising the total Jaccard); 0 for a reference cluster left
    unmatched. Both arrays label the same customers. Returns {reference cluster: jaccard}.

    >>> matched_jaccard(np.array([0, 0, 1, 1]), np.array([5, 5, 5, 7]))
    {0: 0.6666666666666666, 1: 0.5}
    """
    ref_ids, ref = np.unique(reference, return_inverse=True)
    new_ids, new = np.unique(labels, return_inverse=True)
    both = np.zeros((len(ref_ids), len(new_ids)))
    np.add.at(both, (ref, new), 1)
    union = both.sum(axis=1, keepdims=True) + both.sum(axis=0, keepdims=True) - both
    jaccard = np.divide(both, union, out=np.zeros_like(both), where=union > 0)
    rows, cols = linear_sum_assignment(jaccard, maximize=True)
    out = {ref_id.item() if hasattr(ref_id, "item") else ref_id: 0.0 for ref_id in ref_ids}
    for r, c in zip(rows, cols):
        key = ref_ids[r].item() if hasattr(ref_ids[r], "item") else ref_ids[r]
        out[key] = float(jaccard[r, c])
    return out


def refit_labels(estimator, features: pd.DataFrame, random_state: int | None) -> np.ndarray:
    """The labels of a fresh copy of a fitted clusterer `estimator` fitted on `features`, with the
    same k (a clusterer that chooses k between k_min and k_max is pinned to the k_ it chose, and
    its silhouette sample and the gap's reference sets, then unused, made small) and `random_state`. Uses the estimator grammar:
    fit, labels_, k_ (and k_min, k_max, sample_size when it has them); the fitted estimator is not
    changed."""
    fresh = copy.deepcopy(estimator)
    k = getattr(estimator, "k_", None)
    if k is not None and hasattr(fresh, "k_min") and hasattr(fresh, "k_max"):
        fresh.k_min = fresh.k_max = int(k)
    if hasattr(fresh, "random_state"):
        fresh.random_state = random_state
    if k is not None and hasattr(fresh, "sample_size"):  # k is pinned: a large silhouette sample to choose it is waste
        fresh.sample_size = min(int(fresh.sample_size), PINNED_SAMPLE)
    if k is not None and hasattr(fresh, "n_references"):  # and so are the gap statistic's reference sets
        fresh.n_references = min(int(fresh.n_references), PINNED_REFERENCES)
    with threadpool_limits(limits=1):  # a small refit: one thread is faster, and never slow when busy
        return np.asarray(fresh.fit(features).labels_)


def cluster_stability(estimator, features: pd.DataFrame, labels=None, runs: int = 10, scheme: str = "subsample",
                      share: float = 0.8, sample_size: int = 2_000, bands=BANDS,
                      random_state: int | None = 0) -> Stability:
    """Resampling stability of the clustering `estimator` (fitted on `features`, one row per
    customer) after Hennig (2007): `runs` times, draw customers, recluster them with a copy of the
    estimator (same k, seed `random_state + run`) and compare with the original clusters `labels`
    (default `estimator.labels_`) on the customers drawn.

    `scheme` "subsample" draws `share` of the customers without replacement (Hennig's advice for
    k-means: no duplicated points), "bootstrap" as many as there are with replacement (duplicates
    are compared once). Above `sample_size` customers each run draws from a fixed random sample of
    `sample_size` of them (`Stability.sample` says how many), so the cost does not grow with the data.

    Raises ParamsError for an unknown scheme, runs below 2, a share outside (0, 1) or bands not
    increasing within 0..1. Returns a `Stability`.
    """
    if scheme not in SCHEMES:
        raise ParamsError(f"evaluate.stability_scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")
    if int(runs) < 2:
        raise ParamsError(f"evaluate.stability_runs must be at least 2, got {runs}")
    if not 0 < share < 1:
        raise ParamsError(f"evaluate.stability_share must lie strictly between 0 and 1, got {share}")
    bands = tuple(float(b) for b in bands)
    if len(bands) != 4 or any(b <= a for a, b in zip(bands, bands[1:])) or not (0 < bands[0] and bands[-1] < 1):
        raise ParamsError(f"evaluate.stability_bands must be 4 increasing numbers between 0 and 1, got {list(bands)}")
    if labels is None and not hasattr(estimator, "labels_"):
        raise ValueError("cluster_stability needs the original clusters: pass labels, or a fitted clusterer")
    reference = np.asarray(estimator.labels_ if labels is None else labels)
    if len(reference) != len(features):
        raise ValueError(f"labels ({len(reference)}) and features ({len(features)}) must have one row per customer")
    rng = np.random.default_rng(random_state)
    pool = np.arange(len(features))
    if len(pool) > sample_size:
        pool = np.sort(rng.choice(pool, size=sample_size, replace=False))
    run_rows, jaccard_rows = [], []
    with threadpool_limits(limits=1):
        _resample(estimator, features, reference, pool, int(runs), scheme, share, rng, random_state, run_rows, jaccard_rows)
    jaccard = pd.DataFrame(jaccard_rows)
    sizes = pd.Series(reference).value_counts()
    grouped = jaccard.groupby("cluster")["jaccard"]
    clusters = pd.DataFrame({"mean_jaccard": grouped.mean(), "min_jaccard": grouped.min(),
                             "dissolved_share": grouped.apply(lambda j: float((j < bands[0]).mean()))})
    clusters.insert(0, "customers", sizes.reindex(clusters.index).fillna(0).astype(int))
    clusters["verdict"] = [verdict(m, bands) for m in clusters["mean_jaccard"]]
    return Stability(pd.DataFrame(run_rows), jaccard, clusters.rename_axis("cluster").reset_index(),
                     scheme, float(share), int(len(pool)))


def _resample(estimator, features, reference, pool, runs, scheme, share, rng, random_state, run_rows, jaccard_rows):
    # many small refits: one OpenMP thread each is faster than two (and far faster on a busy machine)
    for run in range(runs):
        if scheme == "subsample":
            drawn = np.sort(rng.choice(pool, size=max(2, int(round(share * len(pool)))), replace=False))
        else:
            drawn = rng.choice(pool, size=len(pool), replace=True)
        new = refit_labels(estimator, features.iloc[drawn].reset_index(drop=True),
                           None if random_state is None else random_state + run + 1)
        # a customer drawn twice is compared once (the label of its first copy)
        customers, first = np.unique(drawn, return_index=True)
        ref, new = reference[customers], new[first]
        run_rows.append({"run": run + 1, "customers": len(customers), "ari": float(adjusted_rand_score(ref, new))})
        jaccard_rows += [{"run": run + 1, "cluster": c, "jaccard": j} for c, j in matched_jaccard(ref, new).items()]
