"""What 04_clustering says and shows about a `segkit.models.cluster.ClusterStage`: what ran and how
the columns were prepared, the sample for large data, why this k, the cluster tables (sizes, means
and medians, where the names come from) and the numbers of the snake plot. Sentences go through
`segkit.report.html.say`, the one escaping point; tables are frames for `segkit.report.html.table`.
"""

from __future__ import annotations

import pandas as pd

from segkit.i18n import column_label, t

# an adjusted Rand index from which two samples' partitions of everyone are called the same result
# (Steinley 2004 reads ARI above 0.90 as excellent recovery)
STABLE_ARI = 0.9


def _join(columns, lang: str) -> str:
    return t("name.separator", lang).join(column_label(c, lang) for c in columns)


def preparation_text(clusterer, lang: str) -> str:
    """How the columns were prepared, in words: log, missing values, capping, scaling."""
    parts = [t("cluster.prep.log", lang, columns=_join(clusterer.logged_, lang)) if clusterer.logged_
             else t("cluster.prep.log_none", lang),
             t("cluster.prep.missing", lang)]
    if clusterer.cap is not None:
        parts.append(t("cluster.prep.cap", lang, low=round((1 - clusterer.cap) * 100, 4),
                       high=round(clusterer.cap * 100, 4)))
    else:
        parts.append(t("cluster.prep.cap_none", lang))
    parts.append(t(f"cluster.prep.{clusterer.scaling}", lang))
    return t("name.separator", lang).join(parts)


def method_words(clusterer, lang: str) -> str:
    """The method in words ("k-means (k-means++ starts)", "a Gaussian mixture ...")."""
    if clusterer.method == "kmeans" and getattr(clusterer, "minibatch_", False):
        return t("cluster.method.kmeans_minibatch", lang, threshold=clusterer.minibatch_threshold)
    return t(f"cluster.method.{clusterer.method}", lang)


def intro_text(stage, k_min: int, k_max: int, lang: str):
    """04's first sentence: the method, the columns (and one-hot attributes), the preparation, the k
    range and the k chosen; or why clustering was skipped."""
    from segkit.report.html import say
    from segkit.report.tables import cluster_skip_text

    if stage.clusterer is None:
        return say("cluster.skipped", lang, reason=cluster_skip_text(stage.skipped, lang))
    c = stage.clusterer
    categorical = t("cluster.categorical", lang, columns=_join(stage.categorical, lang)) if stage.categorical else ""
    return say("cluster.run", lang, method=method_words(c, lang), columns=_join(stage.columns, lang),
               categorical=categorical, preparation=preparation_text(c, lang), k_min=k_min, k_max=k_max, k=c.k_)


def sample_figures(clusterer) -> dict | None:
    """Why the sample is large enough, in numbers, or None without a sample: customers, sample,
    smallest_share (the smallest cluster's share of all customers), members (its expected members in
    the sample, at least 1), precision (1/sqrt(members): the standard error of its centre, in standard
    deviations of a column) and check_ari (`RFMClusterer.sample_`: the adjusted Rand index between the
    final clusters and a second sample's clustering of everyone; None when not measured)."""
    import numpy as np

    if clusterer is None or clusterer.sample_ is None:
        return None
    sample = clusterer.sample_
    counts = np.bincount(np.asarray(clusterer.labels_), minlength=clusterer.k_)
    share = float(counts[counts > 0].min() / counts.sum())
    members = max(1, round(share * sample["sample"]))
    return {"customers": sample["customers"], "sample": sample["sample"], "smallest_share": share,
            "members": members, "precision": float(1 / np.sqrt(members)), "check_ari": sample.get("check_ari")}


def sample_text(stage, lang: str):
    """The sentences saying the sweep ran on a sample (and the final fit on everyone), how large the
    sample is for the smallest cluster and what a second sample says of the result; or None."""
    from segkit.report.html import say_each

    figures = sample_figures(stage.clusterer)
    if figures is None:
        return None
    c = stage.clusterer
    sentences = [("cluster.sampled_ward", figures) if c.method == "ward"
                 else ("cluster.sampled", {**figures, "threshold": c.sample_threshold}),
                 ("cluster.sample_size", figures)]
    if figures["check_ari"] is not None:
        verdict = "stable" if figures["check_ari"] >= STABLE_ARI else "unstable"
        sentences.append((f"cluster.sample_check.{verdict}", figures))
    return say_each(sentences, lang)


def k_reason_text(stage, lang: str):
    """Why this k, with the rule's numbers (`RFMClusterer.k_reason_`), or None when clustering was skipped."""
    from segkit.report.html import say

    c = stage.clusterer
    if c is None:
        return None
    reason = dict(c.k_reason_)
    rule = reason.pop("rule")
    if rule == "gap":
        reason["threshold"] = reason["next_gap"] - reason["next_se"]
    if rule == "gap_max":
        reason.update(k_min=int(c.indices_.index.min()), k_max=int(c.indices_.index.max()))
    return say(f"cluster.k.{rule}", lang, **reason)


def sizes_table(stage) -> pd.DataFrame:
    """name, customers, customer_share, revenue_total and revenue_share per cluster (revenue columns
    only when the customers have revenue)."""
    profile = stage.profile
    money = ["revenue_total", "revenue_share"] if profile["revenue_share"].notna().any() else []
    return profile[["name", "customers", "customer_share", *money]].reset_index(drop=True)


def means_table(stage, features: pd.DataFrame, lang: str) -> pd.DataFrame:
    """name, feature (in words), mean and median per cluster and clustering column (long format)."""
    from segkit.models.cluster import cluster_means_medians

    stats = cluster_means_medians(features, stage.clusterer.labels_, stage.columns)
    names = dict(zip(stage.profile["cluster"], stage.profile["name"]))
    return pd.DataFrame({"name": stats["cluster"].map(names), "feature": [column_label(c, lang) for c in stats["column"]],
                         "mean": stats["mean"], "median": stats["median"]})


def names_text(stage, lang: str):
    """The sentences before the names table: how a name follows its members and, when a clustering
    column has a word that states a count (FACT_WORDS: orders, "one-off"), the share it needs (FACT_SHARE)."""
    from segkit.models.cluster import FACT_SHARE, FACT_WORDS
    from segkit.report.html import say_each

    sentences = [("cluster.names", {})]
    if any(column in FACT_WORDS for column in stage.columns):
        sentences.append(("cluster.names_fact", {"fact_share": FACT_SHARE}))
    return say_each(sentences, lang)


def names_table(stage, lang: str) -> pd.DataFrame:
    """Where the names come from: name, feature (in words), what the name says on it (`stated`: the
    level's word, or a count's such as "one-off" where at least FACT_SHARE of the members hold it) and
    the share of the cluster's members it is true of (`share`; for "mixed", the largest share at one level)."""
    from segkit.models.cluster import stated_word

    evidence = stage.evidence
    names = dict(zip(stage.profile["cluster"], stage.profile["name"]))
    levels = [f"share_{level}" for level in range(1, 6)]
    records = evidence.to_dict("records")
    share = [row["support"] if row["stated"] else max(row[x] for x in levels) for row in records]
    return pd.DataFrame({"name": evidence["cluster"].map(names), "feature": [column_label(c, lang) for c in evidence["column"]],
                         "stated": [stated_word(row["column"], row["stated"], lang, row.get("fact")) for row in records],
                         "share": share})


def snake_frame(stage, features: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The snake plot's numbers: clusters (index, their names) x clustering-space columns (in words):
    each cluster's mean of the prepared, scaled column (`standardised_means`)."""
    from segkit.models.cluster import standardised_means

    c = stage.clusterer
    means = standardised_means(c.transform(features), c.labels_, c.feature_names_)
    names = dict(zip(stage.profile["cluster"], stage.profile["name"]))
    means.index = [names[i] for i in means.index]
    means.columns = [column_label(x, lang) for x in means.columns]
    return means


def chosen_k(stage) -> int | None:
    return None if stage.clusterer is None else int(stage.clusterer.k_)

