"""Clustering customers: k-means with k chosen by silhouette, on the RFM features or on the numeric
per-customer columns params name (`cluster.features`).

Preprocessing, per column, learned at `fit`:

- log1p where the column is non-negative and either one of recency_days, orders, revenue (days,
  counts and money are heavy-tailed by nature: a few customers buy a hundred times) or skewed (sample
  skewness above `SKEWED`, 1.0); otherwise the values as they are (age, a 1-100 score);
- a customer without a value in a column is placed at that column's median (after the log), so that
  a missing value neither pulls a customer to an extreme nor drops them; `imputed_` counts them;
- then every column is standardized (mean 0, standard deviation 1), so each weighs the same.

Which columns are used: the default, recency_days, orders and revenue, is the RFM clustering and needs
all three (`cluster_skip_reason` skips it when one is empty for every customer: clusters on two of
them would still be read as RFM clusters). Any other list: a column that is missing from the
features, empty for every customer or not numbers is left out and named; clustering is skipped only
when fewer than 2 usable columns remain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler

from segkit.i18n import cluster_name, messages, t

CLUSTER_FEATURES = ("recency_days", "orders", "revenue")
# Columns always log-transformed when non-negative (heavy-tailed days, counts and money).
LOG_ALWAYS = ("recency_days", "orders", "revenue")
SKEWED = 1.0  # sample skewness above which another non-negative column is log-transformed
MIN_COLUMNS = 2  # a clustering on features from params needs at least this many usable columns
# The clustering features from params may name these per-customer feature columns (beside a customer
# table's extra numeric columns).
FEATURE_CHOICES = ("recency_days", "orders", "revenue", "tenure_days", "avg_order_value", "interval_days",
                   "orders_recent", "categories")


def is_rfm(columns) -> bool:
    """True when `columns` are the RFM clustering's: recency_days, orders and revenue (in any order)."""
    return set(columns) == set(CLUSTER_FEATURES) and len(tuple(columns)) == 3


def unusable_columns(features: pd.DataFrame, columns=CLUSTER_FEATURES) -> dict[str, str]:
    """The clustering columns k-means cannot use on these features, with why: "not_present" (not a
    column of the features), "not_numeric" (text) or "no_values" (empty for every customer).
    An empty frame has no unusable column (there is nothing to judge)."""
    out = {}
    for column in columns:
        if column not in features.columns:
            out[column] = "not_present"
        elif not len(features):
            continue
        elif features[column].isna().all():
            out[column] = "no_values"
        elif not pd.api.types.is_numeric_dtype(features[column]) or pd.api.types.is_bool_dtype(features[column]):
            out[column] = "not_numeric"
    return out


def usable_columns(features: pd.DataFrame, columns=CLUSTER_FEATURES) -> tuple[str, ...]:
    """The clustering columns that hold numbers for at least one customer, in the order given."""
    unusable = unusable_columns(features, columns)
    return tuple(c for c in columns if c not in unusable)


def log_columns(features: pd.DataFrame, columns) -> tuple[str, ...]:
    """The columns the clustering log-transforms (log1p): non-negative, and one of recency_days,
    orders, revenue or skewed (skewness above SKEWED)."""
    out = []
    for column in columns:
        values = features[column].astype(float).dropna()
        if values.empty or (values < 0).any():
            continue
        skew = values.skew() if len(values) > 2 else 0.0
        if column in LOG_ALWAYS or (np.isfinite(skew) and skew > SKEWED):
            out.append(column)
    return tuple(out)


def _transform(features: pd.DataFrame, columns, logged, medians: dict | None = None) -> tuple[np.ndarray, dict]:
    """The chosen columns as a float matrix, log1p on `logged`, missing values at the column median
    (the medians given, or learned here). Returns the matrix and the medians."""
    frame = pd.DataFrame({c: np.log1p(features[c].astype(float)) if c in logged else features[c].astype(float)
                          for c in columns}, index=features.index)
    if medians is None:
        medians = {c: float(frame[c].median()) if frame[c].notna().any() else 0.0 for c in columns}
    return frame.fillna(medians).to_numpy(dtype=float), medians


def rfm_matrix(features: pd.DataFrame, columns=CLUSTER_FEATURES) -> np.ndarray:
    """The clustering matrix before scaling (customers x columns, float): log1p on `log_columns`,
    a missing value at its column's median. Raises ValueError naming a column the features lack."""
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise ValueError(f"features lack column(s) {missing} needed for clustering")
    return _transform(features, columns, log_columns(features, columns))[0]


def scaled_rfm(features: pd.DataFrame, columns=CLUSTER_FEATURES) -> np.ndarray:
    """The space the clusterer finds clusters in (for quality metrics): `rfm_matrix` standardized.
    Columns empty for every customer are left out, as the clusterer leaves them out."""
    return StandardScaler().fit_transform(rfm_matrix(features, usable_columns(features, columns) or columns))


class RFMClusterer:
    """k-means on per-customer columns (by default recency_days, orders, revenue), prepared as the
    module says (log1p per column, missing values at the median, standardized), with k picked by
    silhouette over k_min..k_max.

    `fit(features)` takes one row per customer holding `columns` (numbers; NaN allowed) and learns:
    `logged_` (the columns log-transformed), `medians_` (per column, after the log), `imputed_`
    (column -> customers placed at its median), `scaler_`, `silhouette_by_k_`, `k_`, `model_` and
    `labels_` (one cluster number per row). Clusters are numbered by descending mean revenue (cluster
    0 is the most valuable) when the features have revenue for some customer, else by the first
    column's mean. Raises ValueError when a column is missing from `features`, when k_min is not
    within 2..k_max, or when there are not more distinct customer profiles than k_min.

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
        columns = tuple(self.columns)
        missing = [c for c in columns if c not in features.columns]
        if missing:
            raise ValueError(f"features lack column(s) {missing} needed for clustering")
        self.logged_ = log_columns(features, columns)
        X, self.medians_ = _transform(features, columns, self.logged_)
        self.imputed_ = {c: int(n) for c, n in features[list(columns)].isna().sum().items() if n}
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
        value = value_column(features, columns)
        values = features[value].to_numpy(dtype=float)
        means = [np.nanmean(values[model.labels_ == c]) if np.isfinite(values[model.labels_ == c]).any()
                 else -np.inf for c in range(self.k_)]
        self.order_ = np.argsort(means)[::-1]
        self.model_ = model
        self.labels_ = self._relabel(model.labels_)
        return self

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """The cluster number of each row of `features` (same columns as at fit)."""
        X, _ = _transform(features, tuple(self.columns), self.logged_, self.medians_)
        return self._relabel(self.model_.predict(self.scaler_.transform(X)))

    def _relabel(self, labels: np.ndarray) -> np.ndarray:
        rank = np.empty(self.k_, dtype=int)
        rank[self.order_] = np.arange(self.k_)
        return rank[labels]


def value_column(features: pd.DataFrame, columns) -> str:
    """The column clusters are numbered by: revenue when some customer has one, else the first column."""
    if "revenue" in features.columns and features["revenue"].notna().any():
        return "revenue"
    return tuple(columns)[0]


def distinct_profiles(features: pd.DataFrame, columns=CLUSTER_FEATURES) -> int:
    """How many customers differ in the clustering features (rows of `rfm_matrix` that are distinct)."""
    return int(len(np.unique(rfm_matrix(features, columns), axis=0)))


def cluster_skip_reason(features: pd.DataFrame, k_min: int, columns=CLUSTER_FEATURES) -> dict | None:
    """None when k-means can run with at least `k_min` clusters on `columns`; else why not, as a dict
    whose "reason" names a `cluster.skip.<reason>` sentence and whose other keys fill it:

    - "missing_features" (the RFM columns, the default): one of recency_days, orders, revenue is empty
      for every customer (a customer-level table without recency or order counts): {"features":
      "recency_days, orders"};
    - "too_few_features" (columns from params): fewer than 2 of them hold numbers (`unusable_columns`
      says why the others cannot be used): {"configured": "revenue, income", "usable": "revenue"};
    - "too_few_profiles": k clusters need more than k distinct customer profiles (with k of them, each
      profile is its own cluster and the silhouette says nothing): {"profiles": n, "k_min": k_min}.
    """
    columns = tuple(columns)
    if is_rfm(columns):
        missing = [c for c in columns if c not in features.columns or features[c].isna().all()]
        if missing and len(features):
            return {"reason": "missing_features", "features": ", ".join(missing)}
        used = columns
    else:
        used = usable_columns(features, columns)
        if len(used) < MIN_COLUMNS and len(features):
            return {"reason": "too_few_features", "configured": ", ".join(columns), "usable": ", ".join(used) or "—"}
    profiles = distinct_profiles(features, used) if len(features) else 0
    if profiles <= k_min:
        return {"reason": "too_few_profiles", "profiles": profiles, "k_min": int(k_min)}
    return None


def constant_features(features: pd.DataFrame, columns=CLUSTER_FEATURES) -> list[str]:
    """The clustering features every customer shares one value of (they cannot shape the clusters)."""
    return [c for c in columns if c in features.columns and features[c].nunique(dropna=False) <= 1]


@dataclass
class ClusterStage:
    """The clustering of a run (`cluster_stage`): the fitted clusterer, the named cluster profiles and
    each customer's cluster; `columns`, the columns clustered on, and `left_out`, the configured
    columns that could not be used (column -> "not_present", "not_numeric" or "no_values"). When
    clustering cannot run on these data, `skipped` says why (then clusterer, profile and assignments
    are None) and the evaluation and case study skip their cluster parts with it."""

    clusterer: RFMClusterer | None
    profile: pd.DataFrame | None
    assignments: pd.DataFrame | None
    skipped: dict | None
    columns: tuple[str, ...] = CLUSTER_FEATURES
    left_out: dict | None = None

    def run_info(self) -> dict:
        """What run.json records: k, its silhouette, the silhouette per k, the reason for a skip and
        the columns clustered on (`cluster_features`)."""
        if self.clusterer is None:
            return {"k": None, "silhouette": None, "silhouette_by_k": {}, "cluster_skipped": self.skipped,
                    "cluster_features": list(self.columns)}
        c = self.clusterer
        return {"k": c.k_, "silhouette": c.silhouette_by_k_[c.k_], "silhouette_by_k": c.silhouette_by_k_,
                "cluster_skipped": None, "cluster_features": list(self.columns)}


def cluster_stage(features: pd.DataFrame, lang: str, k_min: int = 2, k_max: int = 8, sample_size: int = 10_000,
                  random_state: int | None = None, columns=CLUSTER_FEATURES) -> ClusterStage:
    """k-means (`RFMClusterer`) on `columns` (params `cluster.features`) with named profiles and
    assignments, or a skip with its reason (`cluster_skip_reason`). For columns other than the RFM
    default, those the features cannot give are left out (`ClusterStage.left_out`) and the rest used.
    The same `random_state` gives the same clusters.

    >>> import pandas as pd
    >>> six = pd.DataFrame({"customer_id": list("abcdef"), "recency_days": [5, 5, 5, 90, 90, 90],
    ...                     "orders": [3, 3, 3, 1, 1, 1], "revenue": [300.0] * 3 + [20.0] * 3})
    >>> cluster_stage(six, "en", k_min=2).skipped
    {'reason': 'too_few_profiles', 'profiles': 2, 'k_min': 2}
    """
    columns = tuple(columns)
    left_out = {} if is_rfm(columns) else unusable_columns(features, columns)
    used = tuple(c for c in columns if c not in left_out)
    skipped = cluster_skip_reason(features, k_min, columns)
    if skipped:
        return ClusterStage(None, None, None, skipped, used, left_out)
    clusterer = RFMClusterer(k_min=k_min, k_max=k_max, sample_size=sample_size, columns=used,
                             random_state=random_state).fit(features)
    named = name_clusters(describe_clusters(features, clusterer.labels_, used), lang)
    return ClusterStage(clusterer, named, cluster_assignments(features, clusterer.labels_, named), None, used, left_out)


def profile_clusters(features: pd.DataFrame, labels: np.ndarray, columns=CLUSTER_FEATURES) -> pd.DataFrame:
    """Per cluster (one row each, column `cluster`): customers, the median of each of `columns`
    (the RFM columns recency_days, orders and revenue are always there when the features have them),
    revenue_total, customer_share and revenue_share (NaN when no customer has a revenue)."""
    frame = features.assign(cluster=labels)
    grouped = frame.groupby("cluster")
    shown = list(dict.fromkeys([c for c in CLUSTER_FEATURES if c in features.columns] + list(columns)))
    profile = pd.DataFrame({"customers": grouped.size()})
    for column in shown:
        profile[column] = grouped[column].median()
    has_revenue = "revenue" in features.columns and features["revenue"].notna().any()
    profile["revenue_total"] = grouped["revenue"].sum() if has_revenue else np.nan
    profile["customer_share"] = profile["customers"] / profile["customers"].sum()
    profile["revenue_share"] = profile["revenue_total"] / profile["revenue_total"].sum() if has_revenue else np.nan
    return profile.reset_index()


def _levels(features: pd.DataFrame, medians: pd.Series, column: str) -> np.ndarray:
    """Where each cluster median falls among the quintiles of all customers: 1 (lowest) to 5; 3
    where the cluster has no value (a level the data do not show is never claimed)."""
    quintiles = features[column].astype(float).quantile([0.2, 0.4, 0.6, 0.8]).to_numpy()
    level = np.searchsorted(quintiles, medians.to_numpy(dtype=float), side="left") + 1  # right-closed
    return np.where(np.isfinite(medians.to_numpy(dtype=float)), level, 3)


def describe_clusters(features: pd.DataFrame, labels: np.ndarray, columns=CLUSTER_FEATURES) -> pd.DataFrame:
    """`profile_clusters` with a level from 1 to 5 per clustering column: where the cluster's median
    falls among the quintiles of all customers. For the RFM columns (the default) the levels are
    r_level, f_level and m_level, from 1 (worst) to 5 (best): recency is judged the business way, few
    days is good. For any other columns, `level_<column>` from 1 (lowest values) to 5 (highest),
    recency_days again with 5 the most recent.

    The levels are the words of a human-readable cluster name (`name_clusters`).
    """
    columns = tuple(columns)
    profile = profile_clusters(features, labels, columns)
    if is_rfm(columns):
        for dim, column in (("r", "recency_days"), ("f", "orders"), ("m", "revenue")):
            level = _levels(features, profile[column], column)
            profile[f"{dim}_level"] = (6 - level) if dim == "r" else level
        return profile
    for column in columns:
        level = _levels(features, profile[column], column)
        if features[column].nunique() <= 1:  # one value for everyone: no cluster is high or low on it
            level = np.full(len(profile), 3)
        profile[f"level_{column}"] = (6 - level) if column == "recency_days" else level
    return profile


# RFM columns among features from params keep their RFM words (level.r.*, level.f.*, level.m.*).
_RFM_WORDS = {"recency_days": "r", "orders": "f", "revenue": "m"}
NAME_PARTS = 3  # a cluster on other columns is named by its (at most) three most distinctive ones


def column_level_word(column: str, level: int, lang: str) -> str:
    """The word for a cluster's level (1..5) on one column, e.g. "high income", "older", "top spend";
    in zh "收入较高"、"年龄较大"、"消费最高". RFM columns use the RFM words; a column with words of its
    own (`cluster.level.<column>.<level>`) uses them; any other column is "<level> <name>"."""
    if column in _RFM_WORDS:
        return t(f"level.{_RFM_WORDS[column]}.{level}", lang)
    own = f"cluster.level.{column}.{level}"
    if own in messages():
        return t(own, lang)
    word = f"cluster.word.{column}"
    return t(f"cluster.level.{level}", lang, name=t(word, lang) if word in messages() else column)


def name_clusters(described: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Add a readable `name` to `describe_clusters` output; clusters that would share a name are numbered.

    RFM levels (r_level, f_level, m_level) give "very recent, frequent, top spend". Levels on other
    columns (level_<column>) give the cluster's most distinctive columns, farthest from the middle
    level first (ties in the columns' order), at most NAME_PARTS of them and only those not at the
    middle: "very high income, older, high spend"; a cluster in the middle on every column is "middle
    on every feature". Such a name speaks only of the columns clustered on (never of recency when
    recency was not one of them).
    """
    levels = [c for c in described.columns if c.startswith("level_")]
    if levels:
        names = []
        for row in described[levels].to_dict("records"):
            ranked = sorted((c for c in levels if int(row[c]) != 3), key=lambda c: -abs(int(row[c]) - 3))[:NAME_PARTS]
            parts = [column_level_word(c.removeprefix("level_"), int(row[c]), lang) for c in ranked]
            names.append(t("name.separator", lang).join(parts) if parts else t("cluster.level.middle", lang))
    else:
        names = [cluster_name(r.r_level, r.f_level, r.m_level, lang) for r in described.itertuples()]
    repeated = pd.Series(names).duplicated(keep=False)
    names = [f"{n} ({c + 1})" if dup else n for n, c, dup in zip(names, described["cluster"], repeated)]
    return described.assign(name=names)


def cluster_assignments(features: pd.DataFrame, labels: np.ndarray, named: pd.DataFrame) -> pd.DataFrame:
    """customer_id, cluster and cluster_name for every customer."""
    names = dict(zip(named["cluster"], named["name"]))
    return pd.DataFrame({"customer_id": features["customer_id"].to_numpy(), "cluster": labels,
                         "cluster_name": [names[c] for c in labels]})
