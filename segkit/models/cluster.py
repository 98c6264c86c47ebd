"""Clustering customers on their RFM behaviour: k-means with k chosen by silhouette.

Recency, orders and revenue are heavily skewed (a few customers buy a hundred times), so they are
log-transformed (log1p) and standardized before k-means; otherwise the biggest spenders would form
clusters of their own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler

from segkit.i18n import cluster_name

CLUSTER_FEATURES = ("recency_days", "orders", "revenue")


def rfm_matrix(features: pd.DataFrame, columns=CLUSTER_FEATURES) -> np.ndarray:
    """log1p of the chosen feature columns, as a float matrix (not yet scaled)."""
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise ValueError(f"features lack column(s) {missing} needed for clustering")
    values = features[list(columns)].to_numpy(dtype=float)
    if (values < 0).any():
        raise ValueError(f"clustering needs non-negative {', '.join(columns)}; found negative values")
    return np.log1p(values)


def scaled_rfm(features: pd.DataFrame, columns=CLUSTER_FEATURES) -> np.ndarray:
    """log1p then standardize: the space RFMClusterer finds clusters in (for quality metrics)."""
    return StandardScaler().fit_transform(rfm_matrix(features, columns))


class RFMClusterer:
    """k-means on log-scaled, standardized RFM features, with k picked by silhouette over a range.

    >>> from segkit.datasets import generate_retail
    >>> from segkit.features import customer_features
    >>> from segkit.intake.sources import connect
    >>> tx = generate_retail(customers=300, seed=1).transactions
    >>> features = customer_features(connect(), tx, tx["ordered_at"].max().date())
    >>> clusterer = RFMClusterer(k_min=2, k_max=5, random_state=0).fit(features)
    >>> clusterer.k_ in clusterer.silhouette_by_k_, len(clusterer.labels_) == len(features)
    (True, True)
    """

    def __init__(self, k_min: int = 2, k_max: int = 8, sample_size: int = 10_000,
                 columns=CLUSTER_FEATURES, random_state: int | None = None):
        self.k_min = k_min
        self.k_max = k_max
        self.sample_size = sample_size
        self.columns = columns
        self.random_state = random_state

    def fit(self, features: pd.DataFrame) -> "RFMClusterer":
        X = rfm_matrix(features, self.columns)
        n_distinct = len(np.unique(X, axis=0))
        if self.k_min < 2 or self.k_min > self.k_max:
            raise ValueError(f"k_min={self.k_min} must be >= 2 and <= k_max={self.k_max}")
        if n_distinct <= self.k_min:
            raise ValueError(f"k_min={self.k_min} must be < number of distinct customer profiles ({n_distinct}); "
                             "lower cluster.k_min or cluster more customers")
        self.scaler_ = StandardScaler().fit(X)
        Z = self.scaler_.transform(X)
        rng = np.random.default_rng(self.random_state)
        sample = rng.choice(len(Z), size=min(self.sample_size, len(Z)), replace=False)
        self.silhouette_by_k_ = {}
        models = {}
        for k in range(self.k_min, min(self.k_max, n_distinct - 1) + 1):
            model = KMeans(n_clusters=k, n_init=10, random_state=self.random_state).fit(Z)
            self.silhouette_by_k_[k] = float(silhouette_score(Z[sample], model.labels_[sample]))
            models[k] = model
        self.k_ = max(self.silhouette_by_k_, key=self.silhouette_by_k_.get)
        model = models[self.k_]
        # Number clusters by descending mean revenue, so cluster 0 is always the most valuable.
        revenue = features[self.columns[-1]].to_numpy(dtype=float)
        means = [revenue[model.labels_ == c].mean() for c in range(self.k_)]
        self.order_ = np.argsort(means)[::-1]
        self.model_ = model
        self.labels_ = self._relabel(model.labels_)
        return self

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        Z = self.scaler_.transform(rfm_matrix(features, self.columns))
        return self._relabel(self.model_.predict(Z))

    def _relabel(self, labels: np.ndarray) -> np.ndarray:
        rank = np.empty(self.k_, dtype=int)
        rank[self.order_] = np.arange(self.k_)
        return rank[labels]


def distinct_profiles(features: pd.DataFrame, columns=CLUSTER_FEATURES) -> int:
    """How many customers differ in the clustering features (rows of `rfm_matrix` that are distinct)."""
    return int(len(np.unique(rfm_matrix(features, columns), axis=0)))


def cluster_skip_reason(features: pd.DataFrame, k_min: int, columns=CLUSTER_FEATURES) -> dict | None:
    """None when k-means can run with at least `k_min` clusters; else why not: {"reason":
    "missing_features", "features": "recency_days, orders"} when a clustering feature is empty for every
    customer (a customer-level table without recency or order counts), or {"reason": "too_few_profiles",
    "profiles": n, "k_min": k_min}: k clusters need more than k distinct customer profiles (with k of
    them, each profile is its own cluster and the silhouette says nothing)."""
    missing = [c for c in columns if c not in features.columns or features[c].isna().all()]
    if missing and len(features):
        return {"reason": "missing_features", "features": ", ".join(missing)}
    profiles = distinct_profiles(features, columns) if len(features) else 0
    if profiles <= k_min:
        return {"reason": "too_few_profiles", "profiles": profiles, "k_min": int(k_min)}
    return None


def constant_features(features: pd.DataFrame, columns=CLUSTER_FEATURES) -> list[str]:
    """The clustering features every customer shares one value of (they cannot shape the clusters)."""
    return [c for c in columns if c in features.columns and features[c].nunique(dropna=False) <= 1]


@dataclass
class ClusterStage:
    """The clustering of a run (`cluster_stage`): the fitted clusterer, the named cluster profiles and
    each customer's cluster; or, when clustering cannot run on these data, `skipped` says why (then
    the other fields are None) and the evaluation and case study skip their cluster parts with it."""

    clusterer: RFMClusterer | None
    profile: pd.DataFrame | None
    assignments: pd.DataFrame | None
    skipped: dict | None

    def run_info(self) -> dict:
        """What run.json records: k, its silhouette, the silhouette per k and the reason for a skip."""
        if self.clusterer is None:
            return {"k": None, "silhouette": None, "silhouette_by_k": {}, "cluster_skipped": self.skipped}
        c = self.clusterer
        return {"k": c.k_, "silhouette": c.silhouette_by_k_[c.k_], "silhouette_by_k": c.silhouette_by_k_,
                "cluster_skipped": None}


def cluster_stage(features: pd.DataFrame, lang: str, k_min: int = 2, k_max: int = 8, sample_size: int = 10_000,
                  random_state: int | None = None) -> ClusterStage:
    """k-means (`RFMClusterer`) with named profiles and assignments, or a skip with its reason
    (`cluster_skip_reason`) when the data have too few distinct customer profiles for k_min.

    >>> import pandas as pd
    >>> six = pd.DataFrame({"customer_id": list("abcdef"), "recency_days": [5, 5, 5, 90, 90, 90],
    ...                     "orders": [3, 3, 3, 1, 1, 1], "revenue": [300.0] * 3 + [20.0] * 3})
    >>> cluster_stage(six, "en", k_min=2).skipped
    {'reason': 'too_few_profiles', 'profiles': 2, 'k_min': 2}
    """
    skipped = cluster_skip_reason(features, k_min)
    if skipped:
        return ClusterStage(None, None, None, skipped)
    clusterer = RFMClusterer(k_min=k_min, k_max=k_max, sample_size=sample_size, random_state=random_state).fit(features)
    named = name_clusters(describe_clusters(features, clusterer.labels_), lang)
    return ClusterStage(clusterer, named, cluster_assignments(features, clusterer.labels_, named), None)


def profile_clusters(features: pd.DataFrame, labels: np.ndarray) -> pd.DataFrame:
    """Per cluster: customers, their share, revenue share and median recency, orders and revenue."""
    frame = features.assign(cluster=labels)
    grouped = frame.groupby("cluster")
    profile = pd.DataFrame({
        "customers": grouped.size(),
        "recency_days": grouped["recency_days"].median(),
        "orders": grouped["orders"].median(),
        "revenue": grouped["revenue"].median(),
        "revenue_total": grouped["revenue"].sum(),
    })
    profile["customer_share"] = profile["customers"] / profile["customers"].sum()
    profile["revenue_share"] = profile["revenue_total"] / profile["revenue_total"].sum()
    return profile.reset_index()


def describe_clusters(features: pd.DataFrame, labels: np.ndarray) -> pd.DataFrame:
    """A level from 1 (worst) to 5 (best) per dimension and cluster: where the cluster's median falls
    among the quintiles of all customers. Recency is judged the business way: few days is good.

    The levels are the words of a human-readable cluster name; `segkit.i18n.cluster_name` renders them.
    """
    profile = profile_clusters(features, labels)
    for dim, column in (("r", "recency_days"), ("f", "orders"), ("m", "revenue")):
        quintiles = features[column].quantile([0.2, 0.4, 0.6, 0.8]).to_numpy()
        level = np.searchsorted(quintiles, profile[column].to_numpy(), side="left") + 1  # right-closed
        profile[f"{dim}_level"] = (6 - level) if dim == "r" else level
    return profile


def name_clusters(described: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Add a readable `name` to `describe_clusters` output ("very recent, frequent, top spend");
    clusters that would share a name are numbered."""
    names = [cluster_name(r.r_level, r.f_level, r.m_level, lang) for r in described.itertuples()]
    repeated = pd.Series(names).duplicated(keep=False)
    names = [f"{n} ({c + 1})" if dup else n for n, c, dup in zip(names, described["cluster"], repeated)]
    return described.assign(name=names)


def cluster_assignments(features: pd.DataFrame, labels: np.ndarray, named: pd.DataFrame) -> pd.DataFrame:
    """customer_id, cluster and cluster_name for every customer."""
    names = dict(zip(named["cluster"], named["name"]))
    return pd.DataFrame({"customer_id": features["customer_id"].to_numpy(), "cluster": labels,
                         "cluster_name": [names[c] for c in labels]})
