"""Clustering customers: k-means, a Gaussian mixture or Ward's agglomerative clustering, on the RFM
features or on the per-customer columns params name (`cluster.features`, and `cluster.categorical`
for attributes such as region), with k chosen by a stated rule over a k range.

Preprocessing, per column, learned at `fit` (params `cluster.preprocess`):

- log1p (`log: auto`, the default) where the column is non-negative and either one of recency_days,
  orders, revenue (days, counts and money are heavy-tailed by nature: a few customers buy a hundred
  times) or skewed (sample skewness above `SKEWED`, 1.0); `log: none` never, or a list of columns;
- a customer without a value in a column is placed at that column's median (after the log), so that
  a missing value neither pulls a customer to an extreme nor drops them; `imputed_` counts them;
- capping (`cap`, default 0.99): values beyond the column's 1st and 99th percentiles (after the log)
  are set to them, so that a handful of extreme customers cannot own a cluster; `cap: null` keeps them;
- scaling (`scaling`): `standard` (mean 0, standard deviation 1) or `robust` (median 0, interquartile
  range 1; steadier when a column still has outliers), so that each column weighs the same;
- categorical attributes (`categorical`) one-hot encoded (scikit-learn's OneHotEncoder), one 0/1
  column per value, not scaled: two customers in different regions are sqrt(2) apart on them.

Methods (`method`): `kmeans` (Lloyd's k-means with k-means++ starts; MiniBatchKMeans, Sculley 2010,
above `minibatch_threshold` customers), `gmm` (a Gaussian mixture with full covariances, fitted by EM;
its BIC, Schwarz 1978, is reported per k) and `ward` (agglomerative clustering with Ward's criterion,
Ward 1963, on a sample of at most `ward_sample` customers, with its dendrogram; the others join the
nearest cluster centre).

Choosing k over k_min..k_max (`k_rule`): `gap` (the default), the smallest k whose gap statistic is at
least the next k's minus its standard error, gap(k) >= gap(k+1) - s(k+1) (Tibshirani, Walther & Hastie
2001; reference data uniform in the box of the data's principal components, `n_references` of them);
`silhouette`, the k of the highest silhouette (Rousseeuw 1987); `bic` (gmm only), the lowest BIC;
`fixed`, the k params give. Inertia (the elbow), Calinski-Harabasz (1974) and Davies-Bouldin (1979)
are computed for every k too, for the chart.

Sizes: above `sample_threshold` customers (default 50,000) the k sweep and all indices run on a random
sample of `sweep_sample` customers (default 20,000), and the final model is fitted once on everyone,
started from the sample's solution: for k-means, Lloyd's iterations on all customers from the sample's
centres (at a million customers they converge in 2-5 iterations, 0.2-0.3 s of CPU; MiniBatchKMeans from
the same centres took 0.8-3 s and put about 1% of the customers elsewhere); a
Gaussian mixture's EM from the sample's mixture; Ward's cut, the nearest centre. 20,000 is chosen so that
a cluster of 1% of the customers still has about 200 members in the sample, fixing its centre to within
about 1/sqrt(200) = 0.07 standard deviations of each column. Whether the sample was large enough is then
checked on these data: a second random sample of the same size, clustered with the same method and k,
assigns every customer, and the adjusted Rand index (Hubert & Arabie 1985) of that assignment with the
final clusters is `sample_["check_ari"]` (1: the same partition). `sample_` says all this. The
silhouette always uses at most `sample_size` customers (it costs the square of the customers).

Repeatable: rows are put in a canonical order (by their values) before anything random happens, so
the same `random_state` gives the same clusters, and the same customers in any row order get the same
clusters with the same numbers. Clusters are numbered by descending mean revenue (cluster 0 is the most
valuable) when the features have revenue, else by the first column's mean.

Which columns are used: the default, recency_days, orders and revenue, is the RFM clustering and needs
all three (`cluster_skip_reason` skips it when one is empty for every customer: clusters on two of
them would still be read as RFM clusters). Any other list: a column that is missing from the
features, empty for every customer or not numbers is left out and named; clustering is skipped only
when fewer than 2 usable columns remain.
"""

from __future__ import annotations

import copy
import numbers
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import adjusted_rand_score, calinski_harabasz_score, davies_bouldin_score, silhouette_score
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import OneHotEncoder, RobustScaler, StandardScaler
from threadpoolctl import threadpool_limits

from segkit.errors import DataError
from segkit.features import FEATURE_CHOICES  # noqa: F401  (here for callers; the params read it without sklearn)
from segkit.i18n import messages, t
from segkit.models.pairwise import SampledSilhouettes, small_chunks

CLUSTER_FEATURES = ("recency_days", "orders", "revenue")
# Columns always log-transformed when non-negative (heavy-tailed days, counts and money).
LOG_ALWAYS = ("recency_days", "orders", "revenue")
SKEWED = 1.0  # sample skewness above which another non-negative column is log-transformed
MIN_COLUMNS = 2  # a clustering on features from params needs at least this many usable columns
METHODS = ("kmeans", "gmm", "ward")
K_RULES = ("gap", "silhouette", "bic", "fixed")
SCALINGS = ("standard", "robust")
MAJORITY = 0.5  # a name states a level (or two neighbouring levels) only when more than this share of members has it
# A word that states a fact of each member's own value (a count: "one-off", 仅购一次) names a cluster only
# when at least this share of its members hold it; else the name says the level ("fewest orders"). A level
# is a claim about most members (MAJORITY); a count read as a fact of the group must hold for nearly all.
FACT_SHARE = 0.9


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
    """The columns the clustering log-transforms (log1p) under `log: auto`: non-negative, and one of
    recency_days, orders, revenue or skewed (skewness above SKEWED)."""
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
    """The default space the clusterer finds clusters in (for quality metrics): `rfm_matrix`
    standardized. Columns empty for every customer are left out, as the clusterer leaves them out.
    A clusterer fitted with other preprocessing gives its own space with `RFMClusterer.transform`."""
    return StandardScaler().fit_transform(rfm_matrix(features, usable_columns(features, columns) or columns))


def canonical_order(X: np.ndarray) -> np.ndarray:
    """Row positions that sort X by its first column, then its second, ...: the order every fit works
    in, so that the row order of the input never changes the result. The same positions as
    `np.lexsort(X.T[::-1])` (stable: equal rows keep their order), found as one stable argsort of a
    whole-number key made of each column's rank among its distinct values (0.32 s against 0.59 s for
    a million customers and three columns)."""
    if X.shape[1] == 0:
        return np.arange(len(X))
    key = np.zeros(len(X), dtype=np.int64)
    kinds = 1  # the distinct values the key can take so far
    for column in X.T:
        distinct, rank = np.unique(column, return_inverse=True)
        if kinds * len(distinct) >= 2 ** 62:  # the key would overflow: the rows' ranks so far instead
            _, key = np.unique(key, return_inverse=True)
            kinds = int(key.max()) + 1 if len(key) else 1
        key = key * len(distinct) + rank.reshape(-1)
        kinds *= max(len(distinct), 1)
    return np.argsort(key, kind="stable")


def within_dispersion(Z: np.ndarray, labels: np.ndarray) -> float:
    """W_k of the gap statistic: the pooled within-cluster sum of squared distances to the cluster
    means (k-means' inertia, for any partition)."""
    total = 0.0
    for c in np.unique(labels):
        members = Z[labels == c]
        total += float(((members - members.mean(axis=0)) ** 2).sum())
    return total


def reference_sets(Z: np.ndarray, n_references: int, rng: np.random.Generator) -> list[np.ndarray]:
    """The gap statistic's reference data: `n_references` sets of len(Z) points drawn uniformly in the
    box spanned by the data's principal components (Tibshirani, Walther & Hastie 2001, method b)."""
    mean = Z.mean(axis=0)
    _, _, vt = np.linalg.svd(Z - mean, full_matrices=False)
    rotated = (Z - mean) @ vt.T
    low, high = rotated.min(axis=0), rotated.max(axis=0)
    return [rng.uniform(low, high, size=rotated.shape) @ vt + mean for _ in range(n_references)]


def gap_rule(gaps: pd.Series, errors: pd.Series) -> tuple[int, bool]:
    """The k of the gap rule over the k's of `gaps` (index k, ascending): the smallest k with
    gap(k) >= gap(k+1) - s(k+1). Returns (k, True), or (the k of the largest gap, False) when no k of
    the range meets the rule (the rule's k may lie beyond k_max)."""
    ks = sorted(gaps.index)
    for k, nxt in zip(ks, ks[1:]):
        if gaps[k] >= gaps[nxt] - errors[nxt]:
            return int(k), True
    return int(gaps.idxmax()), False


class RFMClusterer:
    """Clusters customers on per-customer columns (by default recency_days, orders, revenue),
    prepared and clustered as the module says, with k chosen by `k_rule` over k_min..k_max.

    Arguments: `method` ("kmeans", "gmm", "ward"); `k_rule` ("gap", "silhouette", "bic" for gmm,
    "fixed" with `k`); `sample_size` (customers in the silhouette); `sample_threshold` and
    `sweep_sample` (above the threshold the sweep runs on a sample of that many); `minibatch_threshold`
    (k-means above it is MiniBatchKMeans); `ward_sample`; `n_references` (the gap's B); preprocessing
    `log` ("auto", "none" or a list of columns), `cap` (upper quantile, or None), `scaling`
    ("standard", "robust"), `categorical` (columns one-hot encoded); `random_state`.

    `fit(features)` takes one row per customer holding `columns` (numbers; NaN allowed) and the
    `categorical` columns, and learns: `logged_`, `medians_` (per column, after the log), `imputed_`
    (column -> customers placed at its median), `caps_` (column -> (low, high)), `scaler_`, `encoder_`,
    `feature_names_` (the columns of the clustering space), `indices_` (one row per k: inertia,
    silhouette, calinski_harabasz, davies_bouldin, gap, gap_se, and bic for gmm), `silhouette_by_k_`,
    `k_`, `k_reason_` (why this k: the rule and its numbers), `sample_` (None, or when the sweep ran on a
    sample: customers, sample, and check_ari, the adjusted Rand index between the final clusters and
    a second sample's clustering of every customer), `model_`, `centers_` (k x features, in the numbering),
    `linkage_` (ward: the sample's linkage matrix, for a dendrogram) and `labels_` (one cluster number
    per row). Raises ValueError when an argument is out of range (k_min not within 2..k_max, `k`
    outside k_min..k_max for the fixed rule, an unknown method, rule or scaling), and DataError (a
    ValueError too) when a column is missing from `features` or when there are not more distinct
    customer profiles than k_min (or than the fixed k).

    >>> from segkit.datasets import generate_retail
    >>> from segkit.features import customer_features
    >>> from segkit.intake.sources import connect
    >>> tx = generate_retail(customers=300, seed=1).transactions
    >>> features = customer_features(connect(), tx, tx["ordered_at"].max().date())
    >>> clusterer = RFMClusterer(k_min=2, k_max=5, random_state=0).fit(features)
    >>> clusterer.k_ in clusterer.silhouette_by_k_, len(clusterer.labels_) == len(features)
    (True, True)
    """

    def __init__(self, k_min: int = 2, k_max: int = 8, sample_size: int = 5_000, columns=CLUSTER_FEATURES,
                 random_state: int | None = None, method: str = "kmeans", k_rule: str = "gap", k: int | None = None,
                 sample_threshold: int = 50_000, sweep_sample: int = 20_000, minibatch_threshold: int = 50_000,
                 ward_sample: int = 5_000, n_references: int = 10, log="auto", cap: float | None = 0.99,
                 scaling: str = "standard", categorical=()):
        self.k_min = k_min
        self.k_max = k_max
        self.sample_size = sample_size
        self.columns = columns
        self.random_state = random_state
        self.method = method
        self.k_rule = k_rule
        self.k = k
        self.sample_threshold = sample_threshold
        self.sweep_sample = sweep_sample
        self.minibatch_threshold = minibatch_threshold
        self.ward_sample = ward_sample
        self.n_references = n_references
        self.log = log
        self.cap = cap
        self.scaling = scaling
        self.categorical = categorical

    # -- checks and preprocessing --
    def _check(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.k_rule not in K_RULES:
            raise ValueError(f"k_rule must be one of {', '.join(K_RULES)}, got {self.k_rule!r}")
        if self.k_rule == "bic" and self.method != "gmm":
            raise ValueError(f"k_rule bic needs method gmm (a BIC is a mixture's), got method {self.method!r}")
        if self.scaling not in SCALINGS:
            raise ValueError(f"scaling must be one of {', '.join(SCALINGS)}, got {self.scaling!r}")
        if self.k_min < 2 or self.k_min > self.k_max:
            raise ValueError(f"k_min={self.k_min} must be >= 2 and <= k_max={self.k_max}")
        if self.k_rule == "fixed" and (self.k is None or not self.k_min <= self.k <= self.k_max):
            raise ValueError(f"k_rule fixed needs k within k_min..k_max ({self.k_min}..{self.k_max}), got k={self.k}")
        if self.cap is not None and not 0.5 < self.cap < 1:
            raise ValueError(f"cap must be a quantile between 0.5 and 1 (e.g. 0.99) or None, got {self.cap}")

    def _numeric(self, features: pd.DataFrame) -> np.ndarray:
        X, _ = _transform(features, tuple(self.columns), self.logged_, self.medians_)
        if self.caps_:
            low = np.array([self.caps_[c][0] for c in self.columns])
            high = np.array([self.caps_[c][1] for c in self.columns])
            X = np.clip(X, low, high)
        return X

    def _categories(self, features: pd.DataFrame) -> np.ndarray:
        if not self.categorical:
            return np.empty((len(features), 0))
        values = features[list(self.categorical)].astype("string").fillna("").astype(str).to_numpy()
        return self.encoder_.transform(values)

    def transform(self, features: pd.DataFrame) -> np.ndarray:
        """The clustering space (customers x `feature_names_`, float): the prepared, scaled columns
        and the 0/1 columns of the categorical attributes. Quality indices are computed in it."""
        return np.hstack([self.scaler_.transform(self._numeric(features)), self._categories(features)])

    def _prepare(self, features: pd.DataFrame) -> np.ndarray:
        columns = tuple(self.columns)
        missing = [c for c in (*columns, *self.categorical) if c not in features.columns]
        if missing:
            raise DataError(f"features lack column(s) {missing} needed for clustering")
        if self.log == "auto":
            self.logged_ = log_columns(features, columns)
        elif self.log == "none":
            self.logged_ = ()
        else:
            self.logged_ = tuple(c for c in columns if c in tuple(self.log))
        raw, self.medians_ = _transform(features, columns, self.logged_)
        self.imputed_ = {c: int(n) for c, n in features[list(columns)].isna().sum().items() if n}
        self.caps_ = {}
        if self.cap is not None:
            low, high = np.quantile(raw, [1 - self.cap, self.cap], axis=0)
            self.caps_ = {c: (float(lo), float(hi)) for c, lo, hi in zip(columns, low, high)}
        self.encoder_ = None
        if self.categorical:
            values = features[list(self.categorical)].astype("string").fillna("").astype(str).to_numpy()
            self.encoder_ = OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(values)
        X = np.hstack([self._numeric(features), self._categories(features)])
        return X

    # -- one clustering of a matrix --
    def _cluster(self, Z: np.ndarray, k: int, n_init: int = 10, tree=None):
        """(labels, model) of the method with k clusters on Z; `tree` is Ward's linkage when known."""
        if self.method == "kmeans":
            if len(Z) > self.minibatch_threshold:
                model = MiniBatchKMeans(n_clusters=k, n_init=3, batch_size=4096, random_state=self.random_state)
            else:
                model = KMeans(n_clusters=k, n_init=n_init, random_state=self.random_state)
            model.fit(Z)
            return model.labels_, model
        if self.method == "gmm":
            model = GaussianMixture(n_components=k, covariance_type="full", n_init=max(1, n_init // 5),
                                    reg_covar=1e-5, random_state=self.random_state).fit(Z)
            return model.predict(Z), model
        tree = linkage(Z, method="ward") if tree is None else tree
        return fcluster(tree, k, criterion="maxclust") - 1, tree

    def _reference_labels(self, R: np.ndarray, k: int, tree) -> np.ndarray:
        """A reference set's partition for the gap statistic: the method's own (k-means with one start,
        Ward's cut), and k-means for a Gaussian mixture (its W_k is k-means' criterion, and a hundred
        mixtures on uniform noise would cost minutes; the gap is then, if anything, smaller)."""
        if self.method == "ward":
            return fcluster(tree, k, criterion="maxclust") - 1
        return KMeans(n_clusters=k, n_init=1, random_state=self.random_state).fit(R).labels_

    def _sweep(self, Z: np.ndarray, ks: list[int], rng: np.random.Generator) -> tuple[pd.DataFrame, dict]:
        tree = linkage(Z, method="ward") if self.method == "ward" else None
        references = reference_sets(Z, self.n_references, rng)
        reference_trees = [linkage(R, method="ward") for R in references] if self.method == "ward" else [None] * len(references)
        silhouette_n = min(self.sample_size, len(Z))
        # with a seed, one silhouette sample's distances for every k (silhouette_score's numbers); without,
        # each k draws its own sample, as silhouette_score does
        silhouettes = SampledSilhouettes(Z, silhouette_n, self.random_state) \
            if isinstance(self.random_state, numbers.Integral) else None
        rows, fits = [], {}
        for k in ks:
            labels, model = self._cluster(Z, k, tree=tree)
            fits[k] = (labels, model)
            used = len(np.unique(labels))
            row = {"k": k, "inertia": within_dispersion(Z, labels)}
            if used > 1:
                if silhouettes is not None:
                    row["silhouette"] = silhouettes(labels)
                else:
                    with small_chunks():
                        row["silhouette"] = float(silhouette_score(Z, labels, sample_size=silhouette_n,
                                                                   random_state=self.random_state))
                row["calinski_harabasz"] = float(calinski_harabasz_score(Z, labels))
                row["davies_bouldin"] = float(davies_bouldin_score(Z, labels))
            ref_logw = np.log([max(within_dispersion(R, self._reference_labels(R, k, rt)), 1e-300)
                               for R, rt in zip(references, reference_trees)])
            row["gap"] = float(ref_logw.mean() - np.log(max(row["inertia"], 1e-300)))
            row["gap_se"] = float(ref_logw.std() * np.sqrt(1 + 1 / self.n_references))
            if self.method == "gmm":
                row["bic"] = float(model.bic(Z))
            rows.append(row)
        indices = pd.DataFrame(rows).set_index("k")
        return indices, fits

    def _choose_k(self, indices: pd.DataFrame) -> tuple[int, dict]:
        if self.k_rule == "fixed":
            return int(self.k), {"rule": "fixed", "k": int(self.k)}
        if self.k_rule == "silhouette" and indices["silhouette"].notna().any():
            k = int(indices["silhouette"].idxmax())
            return k, {"rule": "silhouette", "k": k, "silhouette": float(indices.loc[k, "silhouette"])}
        if self.k_rule == "bic":
            k = int(indices["bic"].idxmin())
            return k, {"rule": "bic", "k": k, "bic": float(indices.loc[k, "bic"])}
        k, met = gap_rule(indices["gap"], indices["gap_se"])
        reason = {"rule": "gap" if met else "gap_max", "k": k, "gap": float(indices.loc[k, "gap"])}
        if met:
            nxt = min(i for i in indices.index if i > k)
            reason.update(next_k=int(nxt), next_gap=float(indices.loc[nxt, "gap"]),
                          next_se=float(indices.loc[nxt, "gap_se"]))
        return k, reason

    def fit(self, features: pd.DataFrame) -> "RFMClusterer":
        self._check()
        X = self._prepare(features)
        n_numeric = len(tuple(self.columns))
        order = canonical_order(X)
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        X = X[order]
        n_distinct = _sorted_distinct(X)
        if n_distinct <= self.k_min:
            raise DataError(f"k_min={self.k_min} must be < number of distinct customer profiles ({n_distinct}); "
                             "lower cluster.k_min or cluster more customers")
        self.scaler_ = (RobustScaler() if self.scaling == "robust" else StandardScaler()).fit(X[:, :n_numeric])
        Z = np.hstack([self.scaler_.transform(X[:, :n_numeric]), X[:, n_numeric:]])
        cats = list(self.encoder_.get_feature_names_out(list(self.categorical))) if self.encoder_ is not None else []
        self.feature_names_ = [*tuple(self.columns), *cats]
        rng = np.random.default_rng(self.random_state)

        n = len(Z)
        sweep_n = min(n, self.sweep_sample) if n > self.sample_threshold else n
        if self.method == "ward":
            sweep_n = min(sweep_n, self.ward_sample)
        sampled = sweep_n < n
        rows = np.sort(rng.choice(n, size=sweep_n, replace=False)) if sampled else np.arange(n)
        self.sample_ = {"customers": int(n), "sample": int(sweep_n)} if sampled else None
        Zs = Z[rows]
        top = min(self.k_max, n_distinct - 1)
        ks = list(range(self.k_min, top + 1))
        # Many small fits: one thread each is several times faster than threads waiting on each other.
        with threadpool_limits(limits=1):
            self.indices_, fits = self._sweep(Zs, ks, rng)
        self.silhouette_by_k_ = {int(k): float(v) for k, v in self.indices_["silhouette"].items()} \
            if "silhouette" in self.indices_ else {}
        self.k_, self.k_reason_ = self._choose_k(self.indices_)
        if self.k_ not in fits:
            raise DataError(f"k={self.k_} must be < number of distinct customer profiles ({n_distinct}); "
                             "lower cluster.k or cluster more customers")
        sample_labels, model = fits[self.k_]
        self.linkage_ = model if self.method == "ward" else None
        # MiniBatchKMeans ran only in a sweep on all customers above minibatch_threshold (no sample)
        self.minibatch_ = self.method == "kmeans" and not sampled and n > self.minibatch_threshold
        if self.method == "ward":
            # Ward's tree is cut on the sample; everyone else (all, when sampled) joins the nearest centre
            model = np.vstack([Zs[sample_labels == c].mean(axis=0) for c in range(self.k_)])
            labels = _nearest(Z, model) if sampled else sample_labels
        elif not sampled:
            labels = sample_labels
        elif self.method == "kmeans":
            # the final model, once on everyone: Lloyd's iterations from the sample's centres (a few
            # iterations at a million customers; faster than MiniBatchKMeans, and k-means' own solution)
            with threadpool_limits(limits=1):  # 1M customers, 2 busy cores: 0.64 s wall with one thread, 0.90 s with two
                model = KMeans(n_clusters=self.k_, init=model.cluster_centers_, n_init=1,
                               random_state=self.random_state).fit(Z)
            labels = model.labels_
        else:
            model = GaussianMixture(n_components=self.k_, covariance_type="full", reg_covar=1e-5,
                                    weights_init=model.weights_, means_init=model.means_,
                                    precisions_init=model.precisions_, random_state=self.random_state).fit(Z)
            labels = model.predict(Z)
        self.model_ = model
        if sampled:
            self.sample_["check_ari"] = self._check_sample(Z, np.asarray(labels), rows, sweep_n, rng)
        labels = np.asarray(labels)[inverse]
        # Number clusters by descending mean value (revenue), so cluster 0 is always the most valuable;
        # ties by the centres' coordinates, so the numbering never depends on the starts.
        value = features[value_column(features, self.columns)].to_numpy(dtype=float)
        Zi = Z[inverse]
        means, centres = [], []
        for c in range(self.k_):
            members = labels == c
            means.append(np.nanmean(value[members]) if np.isfinite(value[members]).any() else -np.inf)
            centres.append(Zi[members].mean(axis=0) if members.any() else np.full(Z.shape[1], np.inf))
        centres = np.vstack(centres)
        keys = [*centres.T[::-1], -np.asarray(means)]
        self.order_ = np.lexsort(keys)
        self.labels_ = self._relabel(labels)
        self.centers_ = centres[self.order_]
        return self

    def _check_sample(self, Z: np.ndarray, labels: np.ndarray, rows: np.ndarray, size: int,
                      rng: np.random.Generator) -> float:
        """The adjusted Rand index between `labels` (every customer's final cluster) and the clusters a
        second random sample of `size` customers gives every customer: the same method and k, fitted on
        customers outside the first sample where there are enough of them, with the next seed;
        k-means and the mixture assign everyone by their own rule, Ward's by the nearest centre."""
        others = np.setdiff1d(np.arange(len(Z)), rows, assume_unique=True)
        second = np.sort(rng.choice(others if len(others) >= size else len(Z), size=size, replace=False))
        seed = None if self.random_state is None else self.random_state + 1
        fitted = copy.copy(self)
        fitted.random_state = seed
        with threadpool_limits(limits=1):
            sample_labels, model = fitted._cluster(Z[second], self.k_)
        if self.method == "ward":
            centres = np.vstack([Z[second][sample_labels == c].mean(axis=0) for c in np.unique(sample_labels)])
            everyone = _nearest(Z, centres)
        else:
            everyone = model.predict(Z)
        return float(adjusted_rand_score(labels, everyone))

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """The cluster number of each row of `features` (same columns as at fit): the model's own
        assignment (k-means: nearest centre; gmm: most probable component); ward: the nearest cluster
        centre, which for the customers of the tree itself may differ from the tree's cut at a border."""
        Z = self.transform(features)
        raw = _nearest(Z, self.model_) if self.method == "ward" else self.model_.predict(Z)
        return self._relabel(raw)

    def fit_predict(self, features: pd.DataFrame) -> np.ndarray:
        return self.fit(features).labels_

    def _relabel(self, labels: np.ndarray) -> np.ndarray:
        rank = np.empty(self.k_, dtype=int)
        rank[self.order_] = np.arange(self.k_)
        return rank[labels]


def _nearest(Z: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """The row of `centres` nearest to each row of Z (squared Euclidean), in chunks to bound memory."""
    out = np.empty(len(Z), dtype=int)
    for start in range(0, len(Z), 100_000):
        block = Z[start:start + 100_000]
        out[start:start + 100_000] = ((block[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    return out


def value_column(features: pd.DataFrame, columns) -> str:
    """The column clusters are numbered by: revenue when some customer has one, else the first column."""
    if "revenue" in features.columns and features["revenue"].notna().any():
        return "revenue"
    return tuple(columns)[0]


def distinct_profiles(features: pd.DataFrame, columns=CLUSTER_FEATURES) -> int:
    """How many customers differ in the clustering features (rows of `rfm_matrix` that are distinct)."""
    return _distinct_rows(rfm_matrix(features, columns))


def _distinct_rows(X: np.ndarray) -> int:
    # hashing rows (pandas) is several times faster than np.unique(axis=0)'s sort on a million rows
    return int((~pd.DataFrame(X).duplicated()).sum()) if len(X) else 0


def _sorted_distinct(X: np.ndarray) -> int:
    """Distinct rows of X sorted by `canonical_order` (equal rows are then neighbours): one pass."""
    if not len(X):
        return 0
    return int(1 + (X[1:] != X[:-1]).any(axis=1).sum())


FIRST_ROWS = 10_000  # cluster_skip_reason counts every profile only when these rows do not show enough


def cluster_skip_reason(features: pd.DataFrame, k_min: int, columns=CLUSTER_FEATURES, k: int | None = None) -> dict | None:
    """None when clustering can run with at least `k_min` clusters on `columns`; else why not, as a dict
    whose "reason" names a `cluster.skip.<reason>` sentence and whose other keys fill it:

    - "missing_features" (the RFM columns, the default): one of recency_days, orders, revenue is empty
      for every customer (a customer-level table without recency or order counts): {"features":
      "recency_days, orders"};
    - "too_few_features" (columns from params): fewer than 2 of them hold numbers (`unusable_columns`
      says why the others cannot be used): {"configured": "revenue, income", "usable": "revenue"};
    - "too_few_profiles": k clusters need more than k distinct customer profiles (with k of them, each
      profile is its own cluster and the silhouette says nothing): {"profiles": n, "k_min": k_min};
    - "too_few_profiles_k": the same for a fixed `k` (cluster.k_rule fixed): {"profiles": n, "k": k}.
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
    need = max(k_min, k or 0)
    X = rfm_matrix(features, used) if len(features) else np.empty((0, len(used)))
    if len(X) > FIRST_ROWS and _distinct_rows(X[:FIRST_ROWS]) > need:  # enough profiles already: no full count
        return None
    profiles = _distinct_rows(X)
    if profiles <= k_min:
        return {"reason": "too_few_profiles", "profiles": profiles, "k_min": int(k_min)}
    if k is not None and profiles <= k:
        return {"reason": "too_few_profiles_k", "profiles": profiles, "k": int(k)}
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
    are None) and the evaluation and case study skip their cluster parts with it. `categorical`: the
    attributes one-hot encoded into the clustering; `evidence`, the members' levels behind the names."""

    clusterer: RFMClusterer | None
    profile: pd.DataFrame | None
    assignments: pd.DataFrame | None
    skipped: dict | None
    columns: tuple[str, ...] = CLUSTER_FEATURES
    left_out: dict | None = None
    categorical: tuple[str, ...] = field(default_factory=tuple)
    evidence: pd.DataFrame | None = None  # `name_evidence`: what the members say, the ground of the names

    def run_info(self) -> dict:
        """What run.json records: k, its silhouette, the silhouette per k, the reason for a skip, the
        columns clustered on (`cluster_features`), and the method, the k rule with its numbers
        (`cluster_k_reason`) and the sample the sweep ran on (`cluster_sample`, None when none)."""
        if self.clusterer is None:
            return {"k": None, "silhouette": None, "silhouette_by_k": {}, "cluster_skipped": self.skipped,
                    "cluster_features": list(self.columns)}
        c = self.clusterer
        return {"k": c.k_, "silhouette": c.silhouette_by_k_.get(c.k_), "silhouette_by_k": c.silhouette_by_k_,
                "cluster_skipped": None, "cluster_features": list(self.columns), "cluster_method": c.method,
                "cluster_k_reason": c.k_reason_, "cluster_sample": c.sample_,
                "cluster_categorical": list(self.categorical)}


def cluster_stage(features: pd.DataFrame, lang: str, k_min: int = 2, k_max: int = 8, sample_size: int = 5_000,
                  random_state: int | None = None, columns=CLUSTER_FEATURES, method: str = "kmeans",
                  k_rule: str = "gap", k: int | None = None, sample_threshold: int = 50_000,
                  sweep_sample: int = 20_000, ward_sample: int = 5_000, n_references: int = 10, log="auto",
                  cap: float | None = 0.99, scaling: str = "standard", categorical=()) -> ClusterStage:
    """The clustering stage (`RFMClusterer` with the given method, k rule and preprocessing) on
    `columns` (params `cluster.features`) and the `categorical` attributes, with named profiles and
    assignments, or a skip with its reason (`cluster_skip_reason`). For columns other than the RFM
    default, those the features cannot give are left out (`ClusterStage.left_out`) and the rest used;
    a categorical attribute the features lack is left out too. The same `random_state` gives the same
    clusters.

    >>> import pandas as pd
    >>> six = pd.DataFrame({"customer_id": list("abcdef"), "recency_days": [5, 5, 5, 90, 90, 90],
    ...                     "orders": [3, 3, 3, 1, 1, 1], "revenue": [300.0] * 3 + [20.0] * 3})
    >>> cluster_stage(six, "en", k_min=2).skipped
    {'reason': 'too_few_profiles', 'profiles': 2, 'k_min': 2}
    """
    columns = tuple(columns)
    left_out = {} if is_rfm(columns) else unusable_columns(features, columns)
    left_out.update({c: "not_present" for c in categorical if c not in features.columns})
    used = tuple(c for c in columns if c not in left_out)
    used_categorical = tuple(c for c in categorical if c not in left_out)
    skipped = cluster_skip_reason(features, k_min, columns, k if k_rule == "fixed" else None)
    if skipped:
        return ClusterStage(None, None, None, skipped, used, left_out, used_categorical)
    k_max = max(k_max, k_min)
    clusterer = RFMClusterer(k_min=k_min, k_max=k_max, sample_size=sample_size, columns=used,
                             random_state=random_state, method=method, k_rule=k_rule, k=k,
                             sample_threshold=sample_threshold, sweep_sample=sweep_sample,
                             minibatch_threshold=sample_threshold, ward_sample=ward_sample,
                             n_references=n_references, log=log, cap=cap, scaling=scaling,
                             categorical=used_categorical).fit(features)
    evidence = name_evidence(features, clusterer.labels_, used)
    named = name_clusters(describe_clusters(features, clusterer.labels_, used), lang, evidence)
    return ClusterStage(clusterer, named, cluster_assignments(features, clusterer.labels_, named), None, used,
                        left_out, used_categorical, evidence)


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


def cluster_means_medians(features: pd.DataFrame, labels: np.ndarray, columns=CLUSTER_FEATURES) -> pd.DataFrame:
    """One row per cluster and column (long format): cluster, column, mean, median, in the columns'
    own units (days, orders, money, years...). NaN values are left out of both."""
    frame = features[list(columns)].astype(float).assign(cluster=labels)
    grouped = frame.groupby("cluster")
    means, medians = grouped.mean(), grouped.median()
    rows = [{"cluster": c, "column": col, "mean": float(means.loc[c, col]), "median": float(medians.loc[c, col])}
            for c in means.index for col in columns]
    return pd.DataFrame(rows)


def standardised_means(Z: np.ndarray, labels: np.ndarray, names) -> pd.DataFrame:
    """The snake plot's numbers: each cluster's mean of each column of the clustering space Z
    (standardised columns: 0 is the average customer, 1 one standard deviation above), clusters as
    rows (index `cluster`), `names` as columns."""
    frame = pd.DataFrame(Z, columns=list(names)).assign(cluster=labels)
    return frame.groupby("cluster").mean()


def member_levels(features: pd.DataFrame, column: str) -> np.ndarray:
    """Each customer's quintile level (1..5) on `column` among all customers, NaN without a value;
    recency_days is reversed (5 = the most recent), as RFM scores are. A level is the number of
    quintile cut points below the value, plus 1 (a value on a cut point is in the lower quintile)."""
    values = features[column].astype(float).to_numpy()
    quintiles = np.nanquantile(values, [0.2, 0.4, 0.6, 0.8]) if np.isfinite(values).any() else np.zeros(4)
    level = (np.searchsorted(quintiles, values, side="left") + 1).astype(float)
    if column == "recency_days":
        level = 6 - level
    return np.where(np.isfinite(values), level, np.nan)


def level_shares(features: pd.DataFrame, labels: np.ndarray, column: str) -> pd.DataFrame:
    """The share of each cluster's members (rows, index `cluster`) at each quintile level 1..5 of
    `column` (columns 1..5); members without a value count in the denominator, at no level (a cluster
    none of whose members has a value: a row of NaN). Counted by one bincount over the members (a
    crosstab took 0.3-0.4 s a column at a million customers)."""
    levels = member_levels(features, column)
    clusters, position = np.unique(np.asarray(labels), return_inverse=True)
    sizes = np.bincount(position, minlength=len(clusters))
    known = np.isfinite(levels)
    cells = position[known] * 5 + (levels[known].astype(np.int64) - 1)
    counts = np.bincount(cells, minlength=len(clusters) * 5).reshape(len(clusters), 5)
    shares = counts / sizes[:, None]
    shares[counts.sum(axis=1) == 0] = np.nan
    return pd.DataFrame(shares, index=pd.Index(clusters, name="cluster"), columns=[1, 2, 3, 4, 5])


def stated_levels(shares) -> tuple[int, ...]:
    """The levels a name may state for one cluster on one column, from its members' shares per level
    (1..5): the level more than half the members have; else the two neighbouring levels more than
    half have together (the pair with the larger share); else () ("mixed")."""
    shares = {int(level): float(share) for level, share in dict(shares).items()}
    best = max(shares, key=lambda level: (shares[level], -level))
    if shares[best] > MAJORITY:
        return (best,)
    pairs = [(shares.get(a, 0.0) + shares.get(a + 1, 0.0), a) for a in range(1, 5)]
    total, low = max(pairs, key=lambda p: (p[0], -p[1]))
    return (low, low + 1) if total > MAJORITY else ()


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

    A median can sit at a level few members have; the names follow the members (`name_evidence`).
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


def fact_shares(features: pd.DataFrame, labels: np.ndarray, holds) -> pd.Series:
    """The share of each cluster's members (index `cluster`, sorted) for whom `holds` is true: a boolean
    array with one entry per customer (members without a value count in the size, as not holding)."""
    clusters, position = np.unique(np.asarray(labels), return_inverse=True)
    sizes = np.bincount(position, minlength=len(clusters))
    held = np.bincount(position, weights=np.asarray(holds, dtype=float), minlength=len(clusters))
    return pd.Series(held / np.maximum(sizes, 1), index=pd.Index(clusters, name="cluster"))


def name_evidence(features: pd.DataFrame, labels: np.ndarray, columns=CLUSTER_FEATURES) -> pd.DataFrame:
    """What the members of each cluster say on each clustering column, the ground of the names: one
    row per cluster and column with `share_1`..`share_5` (the share of the cluster's members at each
    quintile level of all customers, `member_levels`; members without a value count at no level),
    `stated` (the levels a name may state, `stated_levels`: a tuple, empty for "mixed"), `fact` (the
    catalogue key of a FACT_WORDS word at least FACT_SHARE of the members hold, which the name says
    instead of the level word; None when none does) and `support` (the share of members the name's
    word is true of: of the fact when there is one, else of the stated levels, above 0.5 unless mixed).
    A non-RFM column every customer shares one value of is stated at the middle level (3) with support 1
    (it says nothing)."""
    rows = []
    for column in tuple(columns):
        shares = level_shares(features, labels, column)
        constant = features[column].nunique() <= 1 and not is_rfm(columns)
        facts = {} if constant else {
            key: fact_shares(features, labels, holds(features[column].astype(float).to_numpy()))
            for key, holds in FACT_WORDS.get(column, ())}
        for cluster, share in shares.iterrows():
            stated = (3,) if constant else stated_levels(share)
            support = 1.0 if constant else float(sum(share[x] for x in stated))
            fact = None
            for key, held in facts.items():
                if stated and held[cluster] >= FACT_SHARE:
                    fact, support = key, float(held[cluster])
                    break
            rows.append({"cluster": int(cluster), "column": column,
                         **{f"share_{lvl}": float(share[lvl]) for lvl in range(1, 6)},
                         "stated": stated, "fact": fact, "support": support})
    return pd.DataFrame(rows)


# RFM columns among features from params keep their RFM words (level.r.*, level.f.*, level.m.*).
_RFM_WORDS = {"recency_days": "r", "orders": "f", "revenue": "m"}
NAME_PARTS = 3  # a cluster on other columns is named by its (at most) three most distinctive ones
# Words that state a fact of each member's own value, not where the value falls among all customers:
# column -> ((catalogue key, test on the column's values), ...). The level words (level.*, cluster.level.*)
# state levels only, never a count ("fewest orders": the lowest quintile, which may hold 2- or 3-order
# customers); a fact word replaces the level word only where at least FACT_SHARE of the members hold it
# (`name_evidence`). A new word that states a count or an absolute fact belongs here, not among the levels.
FACT_WORDS = {
    "orders": (("cluster.fact.one_order", lambda orders: orders == 1),),  # "one-off", 仅购一次: exactly one order
}


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


def stated_word(column: str, stated, lang: str, fact: str | None = None) -> str:
    """The words for the levels a name states on one column: one level's word ("recent"), two
    neighbouring levels ("very recent or recent", the better or higher first), or "mixed recency"
    when the members disagree (no levels); with `fact` (a FACT_WORDS key `name_evidence` found true of
    at least FACT_SHARE of the members), that fact's word ("one-off")."""
    if isinstance(fact, str) and fact:
        return t(fact, lang)
    stated = tuple(int(x) for x in stated)
    if not stated:
        key = f"cluster.mixed.{_RFM_WORDS[column]}" if column in _RFM_WORDS else "cluster.mixed.column"
        word = f"cluster.word.{column}"
        return t(key, lang, name=t(word, lang) if word in messages() else column)
    if len(stated) == 1:
        return column_level_word(column, stated[0], lang)
    high, low = max(stated), min(stated)
    return t("cluster.band", lang, a=column_level_word(column, high, lang), b=column_level_word(column, low, lang))


def cluster_names(clusters: pd.DataFrame | None) -> dict:
    """{cluster: cluster_name} of a clusters stage (one row per customer: columns cluster and
    cluster_name); {} for None (clustering skipped). Read from the distinct pairs, not row by row."""
    if clusters is None:
        return {}
    first = np.flatnonzero(~clusters["cluster"].duplicated().to_numpy())  # each cluster's first row
    return dict(zip(clusters["cluster"].take(first).tolist(), clusters["cluster_name"].take(first).tolist()))


def name_clusters(described: pd.DataFrame, lang: str, evidence: pd.DataFrame | None = None) -> pd.DataFrame:
    """Add a readable `name` to `describe_clusters` output; clusters that would share a name are numbered.

    With `evidence` (`name_evidence`, what `cluster_stage` passes) a name states only what the members
    say: a level more than half of them have, or two neighbouring levels more than half have together,
    else "mixed" (never the median alone); a word that states a count ("one-off") only when at least
    FACT_SHARE of the members hold it, else the level's word ("fewest orders"). Without it, the median
    levels of `described` are stated, in level words.
    RFM: "very recent, frequent, top spend", "very recent or recent, mixed frequency, high spend".
    Other columns: the cluster's most distinctive columns, farthest from the middle level first (ties
    in the columns' order), at most NAME_PARTS of them and only those not at the middle and not mixed:
    "very high income, older, high spend"; a cluster with nothing to say is "middle on every feature"
    (all middle) or "mixed on every feature". Such a name speaks only of the columns clustered on
    (never of recency when recency was not one of them).
    """
    level_cols = [c for c in described.columns if c.startswith("level_")]
    rfm = not level_cols
    columns = list(CLUSTER_FEATURES) if rfm else [c.removeprefix("level_") for c in level_cols]
    facts = {}
    if evidence is not None:
        said = {(int(r["cluster"]), r["column"]): tuple(r["stated"]) for r in evidence.to_dict("records")}
        facts = {(int(r["cluster"]), r["column"]): r.get("fact") for r in evidence.to_dict("records")}
    else:
        said = {}
        for row in described.to_dict("records"):
            for column in columns:
                level = row[f"{_RFM_WORDS[column]}_level"] if rfm else row[f"level_{column}"]
                said[(int(row["cluster"]), column)] = (int(level),)
    names = []
    for cluster in described["cluster"]:
        stated = {c: said[(int(cluster), c)] for c in columns}

        def word(c):
            return stated_word(c, stated[c], lang, facts.get((int(cluster), c)))

        if rfm:
            names.append(t("name.separator", lang).join(word(c) for c in columns))
            continue
        told = [c for c in columns if stated[c] and set(stated[c]) != {3}]
        told = sorted(told, key=lambda c: -abs(float(np.mean(stated[c])) - 3))[:NAME_PARTS]
        if told:
            names.append(t("name.separator", lang).join(word(c) for c in told))
        elif all(stated[c] for c in columns):
            names.append(t("cluster.level.middle", lang))
        else:
            names.append(t("cluster.mixed.all", lang))
    repeated = pd.Series(names).duplicated(keep=False)
    names = [f"{n} ({c + 1})" if dup else n for n, c, dup in zip(names, described["cluster"], repeated)]
    return described.assign(name=names)


def cluster_assignments(features: pd.DataFrame, labels: np.ndarray, named: pd.DataFrame) -> pd.DataFrame:
    """customer_id, cluster and cluster_name for every customer."""
    labels = np.asarray(labels)
    clusters = named["cluster"].to_numpy()
    if len(labels) and np.issubdtype(labels.dtype, np.integer) and (clusters == np.arange(len(clusters))).all() \
            and 0 <= labels.min() and labels.max() < len(clusters):
        names = named["name"].to_numpy()[labels]  # clusters numbered 0..k-1: a lookup by position
    else:
        names = pd.Series(named["name"].to_numpy(), index=clusters).reindex(labels).to_numpy()
    return pd.DataFrame({"customer_id": features["customer_id"].to_numpy(), "cluster": labels, "cluster_name": names})
