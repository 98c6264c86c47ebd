"""Which settings are better? A small grid of segmentation settings, each run through the same
package functions the notebooks call (RFM scoring and segment maps, the clusterer, the quality
indices, the resampling stability, the decision-tree rules and the next-period test), one row per
setting, so the settings can be compared on the same customers with the same yardsticks.

A setting is a dict (params `evaluate.compare`):
- {"method": "kmeans", "k": 4, "features": [...]} (features default to the run's cluster features);
- {"method": "rfm", "bins": 5}: the RFM grid segments (the params' segment map) with that many bins;
- {"method": "classes"}: the eight high/low RFM classes (the params' class map).

The quality indices are computed for every setting in one space, the run's standardized clustering
space (`scaled_rfm(features, columns)`), so their values can be compared across settings.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from segkit.errors import ParamsError, SegkitError
from segkit.evaluate.quality import compare_quality, explain_with_tree
from segkit.evaluate.stability import PINNED_REFERENCES, PINNED_SAMPLE, cluster_stability

METHODS = ("kmeans", "rfm", "classes")
DEFAULT_GRID = ({"method": "rfm", "bins": 3}, {"method": "rfm", "bins": 5}, {"method": "classes"},
                {"method": "kmeans", "k": 3}, {"method": "kmeans", "k": 4}, {"method": "kmeans", "k": 5})
# criterion -> True when higher is better
CRITERIA = {"high_f1": True, "high_precision": True, "high_recall": True, "top_lift": True, "stability": True,
            "silhouette": True, "calinski_harabasz": True, "davies_bouldin": False, "tree_accuracy": True}
READABLE = ("recency_days", "orders", "revenue")  # the features the rules speak in


def setting_label(setting: dict) -> str:
    """A short name for a setting: "k-means k=4", "k-means k=4 (revenue, age)", "RFM 5 bins", "8 classes"."""
    method = setting.get("method")
    if method == "kmeans":
        extra = f" ({', '.join(setting['features'])})" if setting.get("features") else ""
        return f"k-means k={setting['k']}{extra}"
    if method == "rfm":
        return f"RFM {setting['bins']} bins"
    return "8 classes"


def _check(setting: dict) -> None:
    method = setting.get("method")
    if method not in METHODS:
        raise ParamsError(f"evaluate.compare: method must be one of {', '.join(METHODS)}, got {method!r}")
    if method == "kmeans" and not (isinstance(setting.get("k"), int) and 2 <= setting["k"] <= 20):
        raise ParamsError(f"evaluate.compare: a kmeans setting needs k, an integer from 2 to 20, got {setting.get('k')!r}")
    if method == "rfm" and not (isinstance(setting.get("bins"), int) and 2 <= setting["bins"] <= 10):
        raise ParamsError(f"evaluate.compare: an rfm setting needs bins, an integer from 2 to 10, got {setting.get('bins')!r}")


def _labels(setting: dict, features: pd.DataFrame, columns, segment_map, class_map, random_state):
    """(labels, fitted clusterer or None) of one setting on `features`."""
    from segkit.classify.rfm import segment_customers
    from segkit.models.cluster import RFMClusterer

    method = setting["method"]
    if method == "kmeans":
        # k is given: the silhouette sample and the gap's reference sets, which only choose k, are made
        # small (as for a refit with k pinned); the labels do not depend on them
        clusterer = RFMClusterer(k_min=setting["k"], k_max=setting["k"], columns=tuple(setting.get("features") or columns),
                                 sample_size=PINNED_SAMPLE, n_references=PINNED_REFERENCES,
                                 random_state=random_state).fit(features)
        return np.asarray(clusterer.labels_), clusterer
    segments, _ = segment_customers(features, setting.get("bins", 5), segment_map, class_map)
    return segments["segment" if method == "rfm" else "rfm_class"].to_numpy(), None


def compare_settings(features: pd.DataFrame, settings=DEFAULT_GRID, columns=READABLE, segment_map="rfm11",
                     class_map="cn8", periods=None, top_share: float = 0.2, criterion: str = "high_f1",
                     stability_runs: int = 5, stability_sample: int = 1_000, tree_depth: int = 3,
                     test_size: float = 0.3, sample_size: int = 2_000, max_customers: int = 20_000,
                     random_state: int | None = 0) -> pd.DataFrame:
    """One row per setting of `settings` (see the module) on the customers of `features`:

    setting (its label), method, k, bins, features (as given, comma-separated), note (why a setting
    could not run, else empty), groups, silhouette, calinski_harabasz, davies_bouldin (in the space
    of `columns`, silhouette on a sample of `sample_size`), stability (mean adjusted Rand
    index over `stability_runs` subsamples, `cluster_stability`; k-means only, the RFM rules
    being fixed cut points), tree_accuracy and tree_f1 (a depth-`tree_depth` tree on recency, orders
    and revenue, scored on `test_size` unseen customers), and, when `periods` (a `Periods` from
    `calibration_periods`) is given, the next-period test of the same setting fitted on the
    calibration features: top_lift (holdout lift of the setting's most valuable class),
    high_precision, high_recall, high_f1 (the "high value" prediction of `check_classes`).

    Above `max_customers` customers, every setting runs on one random sample of that many (and of
    the calibration customers), so the grid costs the same at any size; `table.attrs["customers"]`
    says how many were used. `best` marks the best row by `criterion` (one of CRITERIA; higher is better except for
    davies_bouldin); when no row has that figure (no holdout), silhouette decides instead, and
    `table.attrs["criterion"]` says which one was used. A setting that cannot run on these data
    (e.g. more clusters than distinct customers) keeps its row with the reason in `note`.
    Raises ParamsError for an unknown method, a setting without its k or bins, or an unknown criterion.
    """
    from segkit.models.cluster import scaled_rfm

    settings = [dict(s) for s in settings]
    for setting in settings:
        _check(setting)
    if criterion not in CRITERIA:
        raise ParamsError(f"evaluate.compare_by must be one of {', '.join(CRITERIA)}, got {criterion!r}")
    # above max_customers every setting runs on one random sample of them (and of the calibration customers)
    customers = len(features)
    if len(features) > max_customers:
        features = features.sample(max_customers, random_state=random_state).reset_index(drop=True)
    if periods is not None and len(periods.features) > max_customers:
        drawn = np.sort(np.random.default_rng(random_state).choice(len(periods.features), max_customers, replace=False))
        periods = dataclasses.replace(periods, features=periods.features.iloc[drawn].reset_index(drop=True),
                                      holdout=periods.holdout.iloc[drawn].reset_index(drop=True))
    space = scaled_rfm(features, tuple(columns))
    with threadpool_limits(limits=1):  # many small fits: one thread each is faster
        rows = [_row(setting, features, space, columns, segment_map, class_map, periods, top_share, stability_runs,
                     stability_sample, tree_depth, test_size, sample_size, random_state) for setting in settings]
    table = pd.DataFrame(rows)
    used = criterion if criterion in table.columns and table[criterion].notna().any() else "silhouette"
    table["best"] = False
    if used in table.columns and table[used].notna().any():
        best = table[used].idxmax() if CRITERIA[used] else table[used].idxmin()
        table.loc[best, "best"] = True
    table.attrs["criterion"] = used
    table.attrs["customers"] = len(features)  # the customers every setting ran on (a sample above max_customers)
    table.attrs["sampled"] = len(features) < customers
    return table


def _row(setting, features, space, columns, segment_map, class_map, periods, top_share, stability_runs,
         stability_sample, tree_depth, test_size, sample_size, random_state) -> dict:
    """The figures of one setting (see `compare_settings`); a setting these data cannot hold (too few
    distinct customers for k, or for a stability subsample) keeps its row with the reason in `note`."""
    try:
        return _figures(setting, features, space, columns, segment_map, class_map, periods, top_share, stability_runs,
                        stability_sample, tree_depth, test_size, sample_size, random_state)
    except (ValueError, KeyError, SegkitError) as err:
        return {"setting": setting_label(setting), "method": setting["method"], "k": setting.get("k"),
                "bins": setting.get("bins"), "features": ", ".join(setting.get("features") or ()),
                "note": str(err).strip("'\"")}


def _figures(setting, features, space, columns, segment_map, class_map, periods, top_share, stability_runs,
             stability_sample, tree_depth, test_size, sample_size, random_state) -> dict:
    from segkit.evaluate.next_period import check_classes

    row = {"setting": setting_label(setting), "method": setting["method"], "k": setting.get("k"),
           "bins": setting.get("bins"), "features": ", ".join(setting.get("features") or ()), "note": ""}
    try:
        labels, clusterer = _labels(setting, features, columns, segment_map, class_map, random_state)
    except (ValueError, KeyError, SegkitError) as err:  # e.g. too few distinct customers for k, no RFM columns
        return {**row, "note": str(err).strip("'\"")}
    readable = [c for c in READABLE if c in features.columns and features[c].notna().all()] or list(columns)
    quality = compare_quality(space, {"x": labels}, sample_size=sample_size, random_state=random_state).iloc[0]
    row.update(groups=int(quality["groups"]), silhouette=quality["silhouette"],
               calinski_harabasz=quality["calinski_harabasz"], davies_bouldin=quality["davies_bouldin"])
    row["stability"] = (cluster_stability(clusterer, features, runs=stability_runs, sample_size=stability_sample,
                                          random_state=random_state).mean_ari if clusterer is not None else np.nan)
    tree = explain_with_tree(features, labels, columns=readable, max_depth=tree_depth, test_size=test_size,
                             random_state=random_state)
    row.update(tree_accuracy=tree.accuracy, tree_f1=tree.f1)
    if periods is not None:
        try:
            held, _ = _labels(setting, periods.features, columns, segment_map, class_map, random_state)
        except (ValueError, KeyError, SegkitError) as err:
            row["note"] = str(err).strip("'\"")
        else:
            table, high = check_classes(periods, {"x": held}, top_share)
            row.update(top_lift=float(table["lift"].iloc[0]), high_precision=float(high["precision"].iloc[1]),
                       high_recall=float(high["recall"].iloc[1]), high_f1=float(high["f1"].iloc[1]))
    return row
