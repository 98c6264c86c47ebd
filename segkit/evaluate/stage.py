"""The evaluation notebook's steps as single calls: which classifications to compare, the clusterer
to resample, the segmentation matrix and the next-period test, each returning its result or, when
the data cannot give it, None and the reason in words (never an error in the middle of a report).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from segkit.errors import SegkitError
from segkit.i18n import counted, t, terminal_text


def aligned(features: pd.DataFrame, frame: pd.DataFrame, column: str) -> pd.Series:
    """`frame[column]` (a stage file with customer_id) in the row order of `features`. Raises
    DataError when a customer of `features` is missing from `frame` (files of two runs)."""
    from segkit.errors import DataError

    ids = features["customer_id"].astype(str).reset_index(drop=True)
    theirs = frame["customer_id"].astype(str).reset_index(drop=True)
    if theirs.equals(ids):  # the same customers in the same order (as the stages write them): no lookup
        found = pd.Series(frame[column].to_numpy(), name="customer_id")
    else:
        found = ids.map(pd.Series(frame[column].to_numpy(), index=theirs))
    if found.isna().any():
        missing = int(found.isna().sum())
        who = counted(missing, "customer of features.parquet has", "customers of features.parquet have")
        raise DataError(f"{who} no {column} "
                        f"(first: {ids[found.isna()].iloc[0]}); rerun the report so every stage is from one run")
    return found.reset_index(drop=True)


def labelings(features: pd.DataFrame, segments: pd.DataFrame, clusters: pd.DataFrame | None, lang: str) -> dict:
    """The classifications of the run, aligned with the rows of `features` by customer_id, named in
    `lang`: the clusters (when 04 clustered; their numbers), the RFM segments and the eight classes.
    Raises DataError when a customer of `features` has no segment or no cluster (files of two runs)."""
    frames = ([("cluster", clusters)] if clusters is not None else []) + [("segment", segments), ("rfm_class", segments)]
    return {t(f"evaluate.scheme.{key}", lang): aligned(features, frame, key).to_numpy() for key, frame in frames}


def refit_clusterer(features: pd.DataFrame, columns, k: int, random_state: int | None, cluster=None,
                    categorical=(), fit: bool = False):
    """The run's clusterer again: the method and preparation of `cluster` (the params' cluster
    block: method, preprocess; k-means with the defaults when None) with the k 04 chose (run.json),
    on the same columns, categorical attributes and seed. Used by the stability runs and the
    next-period test, which refit copies of it on other customers (`refit_labels`): it is returned
    unfitted, as the template of those refits (fitting it on all of `features` took a second and a
    half at a million customers, and nothing read the fit); `fit=True` fits it on `features` (the
    same seed and k give 04's clusters). The one place 05 builds a clusterer."""
    from threadpoolctl import threadpool_limits

    from segkit.evaluate.stability import PINNED_REFERENCES, PINNED_SAMPLE
    from segkit.models.cluster import RFMClusterer

    how = {}
    if cluster is not None:
        how = {"method": cluster.method, "log": cluster.preprocess.log, "cap": cluster.preprocess.cap,
               "scaling": cluster.preprocess.scaling, "ward_sample": cluster.ward_sample,
               "sample_threshold": cluster.sample_threshold, "sweep_sample": cluster.sweep_sample,
               "minibatch_threshold": cluster.sample_threshold}
    # k pinned, and the silhouette sample and the gap's reference sets (which only choose k) small,
    # as `refit_labels` makes them for a fitted clusterer: the refits are the same either way
    clusterer = RFMClusterer(k_min=int(k), k_max=int(k), columns=tuple(columns), sample_size=PINNED_SAMPLE,
                             n_references=PINNED_REFERENCES,
                             random_state=random_state, k_rule="fixed", k=int(k),
                             categorical=tuple(c for c in categorical if c in features.columns),
                             **how)
    if not fit:
        return clusterer
    with threadpool_limits(limits=1):
        return clusterer.fit(features)


def matrix_stage(profile: pd.DataFrame, lang: str, value: str = "revenue", potential: str = "clv",
                 cut: str = "median", thresholds: dict | None = None, activity: pd.DataFrame | None = None,
                 as_of: dt.date | None = None, growth_months: int = 6):
    """(`SegmentationMatrix`, None) of the customers in `profile` (02's profile, with 03's clv when
    the value stage ran), or (None, reason) when the data lack a column. `potential`
    "spend_growth" is computed from `activity` (the monthly activity) up to `as_of`."""
    from segkit.evaluate.matrix import segmentation_matrix, spend_growth

    frame = profile
    try:
        if potential == "spend_growth":
            if activity is None or as_of is None:
                return None, t("evaluate.matrix.no_activity", lang)
            frame = profile.drop(columns="spend_growth", errors="ignore").merge(
                spend_growth(activity, as_of, growth_months), on="customer_id", how="left")
            frame["spend_growth"] = frame["spend_growth"].fillna(0.0)
        for column in (value, potential):
            if column not in frame.columns or frame[column].isna().all():
                return None, t("evaluate.matrix.no_column", lang, column=column,
                               choices=", ".join(_matrix_choices(frame, activity is not None)))
        return segmentation_matrix(frame, value, potential, cut, thresholds), None
    except SegkitError as err:
        return None, str(err)


# the columns a matrix's value or potential may be, suggested when the one asked for is missing
MATRIX_CHOICES = ("revenue", "orders", "clv")


def _matrix_choices(frame: pd.DataFrame, has_activity: bool) -> list[str]:
    """The columns of MATRIX_CHOICES the customers of this run have values in, and spend_growth when
    the monthly activity is there (a customer table has neither clv nor the activity: neither is
    suggested)."""
    usable = [c for c in MATRIX_CHOICES if c in frame.columns and frame[c].notna().any()]
    return usable + (["spend_growth"] if has_activity else [])


def matrix_profile(data_dir, value: str = "revenue", potential: str = "clv") -> pd.DataFrame:
    """The columns of the run's profile stage that `matrix_stage` reads with these params (customer_id,
    revenue, `value`, `potential` and the MATRIX_CHOICES it may suggest: those the profile has), not
    its forty others: at a million customers
    the whole profile took about 300 MB while the next-period query ran beside it. Raises DataError
    when the profile is missing (as `segkit.load_stage`)."""
    import pyarrow.parquet as pq

    from segkit.store import load_stage, stage_path

    path = stage_path(data_dir, "profile")
    names = set(pq.read_schema(path).names) if path.is_file() else set()
    wanted = [c for c in dict.fromkeys(("customer_id", "revenue", value, potential, *MATRIX_CHOICES)) if c in names]
    return load_stage(data_dir, "profile", columns=wanted or None)


def release_arrow_memory() -> None:
    """Hand the memory that Arrow's pool keeps after frames are freed back to the system. mimalloc
    (pyarrow's default pool, e.g. in a JupyterLab kernel) keeps what it freed for its next
    allocations: in notebook 05, after the matrix cell read the profile (38 columns of a million
    customers) and the monthly activity, about 400 MB that the engine, whose allocator is its own,
    could not use while it read the ten million lines. (jemalloc, which the report's kernels use,
    gives it back by itself within a second or so.)"""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def next_period_stage(transactions: pd.DataFrame | ibis.Table | None, lang: str, calibration_end, as_of=None, scorer=5,
                      segment_map="rfm11", class_map="cn8", clusterer=None, top_share: float = 0.2,
                      random_state: int | None = 0, periods=None):
    """(`NextPeriodCheck`, None), or (None, reason) when there are no transactions to split (a
    customer-level source, or transactions kept in the database) or no holdout period.
    `transactions`: a DataFrame, or a table in an engine (`segkit.stage_table`: the run's clean
    rows read in place), where the split and the features are then computed. `periods`: what
    `start_next_period` started on these transactions (its errors become the reason here)."""
    from segkit.evaluate.next_period import next_period_check

    if transactions is None or (isinstance(transactions, pd.DataFrame) and transactions.empty):
        return None, t("evaluate.next.no_transactions", lang)
    if calibration_end is None:
        return None, t("reason.no_holdout_period", lang)
    if periods is None:
        release_arrow_memory()  # before the query of the lines, the largest step of the notebook
    try:
        return next_period_check(transactions, pd.Timestamp(calibration_end).date(),
                                 None if as_of is None else pd.Timestamp(as_of).date(), scorer=scorer,
                                 segment_map=segment_map, class_map=class_map, clusterer=clusterer,
                                 top_share=top_share, random_state=random_state, periods=periods), None
    except (SegkitError, ValueError) as err:  # e.g. too few customers in the calibration period for k clusters
        return None, terminal_text(str(err), lang)  # in the page's language, as the command line says it


def start_next_period(transactions, calibration_end, as_of=None):
    """The next-period test's query of the lines (`segkit.evaluate.next_period.calibration_periods_soon`)
    started now, when `transactions` is an engine table and there is a calibration_end, for
    `next_period_stage(..., periods=...)`; else None (that call then gives the reason). At a million
    customers the query takes seconds of one core in the engine, during which the evaluation
    notebook's cells before the test run beside it."""
    import ibis

    from segkit.evaluate.next_period import calibration_periods_soon

    if not isinstance(transactions, ibis.Table) or calibration_end is None:
        return None
    release_arrow_memory()  # before the query of the lines, the largest step of the notebook
    return calibration_periods_soon(transactions, pd.Timestamp(calibration_end).date(),
                                    None if as_of is None else pd.Timestamp(as_of).date())


READABLE = ("recency_days", "orders", "revenue")


def readable_columns(features: pd.DataFrame, fallback=()) -> list[str]:
    """The features decision-tree rules speak in: recency_days, orders and revenue where every
    customer has them (a customer table may lack some), else `fallback` (e.g. the cluster columns)."""
    found = [c for c in READABLE if c in features.columns and features[c].notna().all()]
    return found or [c for c in fallback if c in features.columns]


def stability_stage(clusterer, features: pd.DataFrame, labels, **options):
    """(`Stability`, None) of `cluster_stability(clusterer, features, labels, **options)`; (None,
    None) without a clustering; (None, reason) when these customers cannot be resampled (too few
    distinct customers in a subsample for k clusters): the reason for `evaluate.no_stability`."""
    from segkit.evaluate.stability import cluster_stability

    if clusterer is None:
        return None, None
    try:
        return cluster_stability(clusterer, features, labels=labels, **options), None
    except ValueError as err:
        return None, str(err)


def as_of_of(info: dict) -> dt.date | None:
    """The run's as_of date from run.json (ISO text), or None."""
    value = info.get("as_of")
    return None if value is None else pd.Timestamp(value).date()

