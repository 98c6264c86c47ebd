"""The monthly figures a run computes once and several steps read: the monthly KPIs (03's charts,
06's trends, the history's month figures) and each customer's classes at every month start (03's
retention by segment, 06's trends and last month's classes).

The first step that needs one computes it and saves it as a stage (`monthly_kpis`,
`month_start_classes` in the run's data folder); the next ones load it. A saved stage carries the
fingerprint of what it was made from (the bytes of its input stage files, the standards it was
classified with, the segkit version), so a stage made before a notebook was rerun with other data
or other params is recomputed, never reused.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

FINGERPRINT = "segkit_inputs"  # the key of a stage's fingerprint in its frame's attrs (kept in the Parquet file)


def _fingerprint(inputs: list[Path], *standards: str) -> str:
    from segkit import __version__

    digest = hashlib.sha256(f"segkit {__version__}\n".encode())
    for path in inputs:
        with open(path, "rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    for text in standards:
        digest.update(b"\0" + text.encode("utf-8"))
    return digest.hexdigest()


def _stamp(path: Path) -> str | None:
    """The fingerprint a saved stage file carries (its frame's attrs, kept by pandas in the file's
    metadata), read from the footer without reading a row; None when it has none."""
    import json

    if not path.is_file():
        return None
    metadata = pq.read_schema(path).metadata or {}
    try:
        return json.loads(metadata.get(b"PANDAS_ATTRS", b"{}")).get(FINGERPRINT)
    except (ValueError, AttributeError):
        return None


def _saved(data_dir: Path, name: str, fingerprint: str, categories: list[str] | None = None) -> pd.DataFrame | None:
    from segkit.store import load_stage, stage_path

    if _stamp(stage_path(data_dir, name)) != fingerprint:  # another input's stage: not read at all
        return None
    frame = load_stage(data_dir, name, optional=True, categories=categories)
    if frame is None or frame.attrs.get(FINGERPRINT) != fingerprint:
        return None
    frame.attrs = {}
    return frame


def _save(data_dir: Path, name: str, frame: pd.DataFrame, fingerprint: str) -> None:
    from segkit.store import save_stage

    stamped = frame.copy(deep=False)
    stamped.attrs = {FINGERPRINT: fingerprint}
    save_stage(data_dir, **{name: stamped})


def _once(data_dir: str | Path, name: str, source: str, compute, save: bool, *standards: str,
          columns: list[str] | None = None, categories: list[str] | None = None,
          by_month: bool = False, load: bool = True, source_categories: list[str] | None = None):
    """The stage `name` made from the stage file `source` with `standards`: loaded when saved from the
    same bytes and standards, else `compute(frame of source)` (only its `columns`, when given; None
    when that frame has no rows) and, with `save`, saved (or removed when None, so that an earlier
    run's stage does not linger). `categories`: columns of both read as Categoricals
    (`source_categories`: of the source only, e.g. its month column, when the stage's own columns
    must keep their type). With
    `by_month`, `compute` gets (month, that month's rows) pairs read from the file one month at a
    time (`_months_of`) instead of the whole frame. Without `load` (and with `save`), returns the
    path of the stage file once it is this input's (None when there is no such stage), for a
    caller that reads only some of its columns or rows."""
    from segkit.store import load_stage, save_stage, stage_path

    folder = Path(data_dir)
    path = stage_path(folder, source)
    target = stage_path(folder, name)
    if not path.is_file():
        if save:
            save_stage(folder, **{name: None})  # a stage of an earlier input is not this run's
        return None
    fingerprint = _fingerprint([path], name, *standards)
    if not load and save and _stamp(target) == fingerprint:
        return target
    found = _saved(folder, name, fingerprint, categories) if load else None
    if found is not None:
        return found
    if by_month:
        result = compute(_months_of(path, columns)) if pq.ParquetFile(path).metadata.num_rows else None
    else:
        frame = load_stage(folder, source, columns=columns, categories=source_categories or categories)
        result = compute(frame) if len(frame) else None
    if save:
        if result is None:
            save_stage(folder, **{name: None})
        else:
            _save(folder, name, result, fingerprint)
    if not load:
        return target if save and result is not None else None
    return result


def _months_of(path: Path, columns: list[str] | None = None):
    """Yield (month, that month's rows with a fresh index) of the stage file at `path` (a month column
    of first days), oldest first, each month read on its own: the file's row groups hold one month
    each (`segkit.store.save_stage` writes the month-start features month by month), so a month
    reads only its own rows, and ten million rows never sit in memory at once."""
    import pyarrow.compute as pc

    months = sorted(pc.unique(pq.read_table(path, columns=["month"]).column("month")).drop_null().to_pylist())
    for month in months:
        yield month, pd.read_parquet(path, columns=columns, filters=[("month", "==", month)])


def monthly_kpis_stage(data_dir: str | Path, save: bool = True) -> pd.DataFrame | None:
    """The run's monthly KPIs (`segkit.monthly.activity.monthly_kpis` of its `activity` stage: one
    row per calendar month, columns month, active_customers, new_customers, orders, revenue,
    avg_order_value, purchase_frequency, retention_rate, repurchase_rate), computed once per run:
    loaded from the `monthly_kpis` stage when it was made from this `activity` file, else computed
    and (with `save`) saved. None when the run has no activity (a customer-level source) or no rows.
    """
    from segkit.monthly.activity import monthly_kpis

    # the activity's months read as a Categorical: a few dates, not millions of date objects (the KPIs
    # are the same; the saved KPIs keep their dates). Counted in numpy: on the stage file of a million
    # customers faster than the same counts by DuckDB on the file in place (bench/monthly_counts.py)
    return _once(data_dir, "monthly_kpis", "activity", monthly_kpis, save, source_categories=["month"])


def month_start_classes_stage(data_dir: str | Path, rfm, segment_map, class_map, save: bool = True) -> pd.DataFrame | None:
    """Each customer's classes at the start of each month of the run's `month_start_features` stage
    (`segkit.monthly.activity.month_start_classes`: month, customer_id, segment, rfm_class), classified
    once per run with the standards given (`rfm`: the params' rfm section; `segment_map`, `class_map`:
    maps or their names): loaded from the `month_start_classes` stage when it was made from this
    `month_start_features` file with the same standards, else computed and (with `save`) saved.
    None when the run has no month-start features or they hold no month (the data span fewer than
    two months). Raises ValueError when a month cannot be scored (see `RFMScorer.fit`).
    """
    return _month_start_classes(data_dir, rfm, segment_map, class_map, save, load=True)


def _month_start_classes(data_dir: str | Path, rfm, segment_map, class_map, save: bool, load: bool):
    from segkit.classify.rfm import RFM_FEATURES
    from segkit.monthly.activity import classify_month_groups

    standards = rfm.model_dump_json() if hasattr(rfm, "model_dump_json") else repr(rfm)
    # only what scoring reads, a month at a time: at 1M customers the stage holds ~10M rows of 12 columns
    return _once(data_dir, "month_start_classes", "month_start_features",
                 lambda months: classify_month_groups(months, rfm, segment_map, class_map), save,
                 standards, repr(segment_map), repr(class_map),
                 columns=["month", "customer_id", *RFM_FEATURES.values()], categories=["month"], by_month=True,
                 load=load)


def month_start_classes_file(data_dir: str | Path, rfm, segment_map, class_map) -> Path | None:
    """The run's `month_start_classes` stage file, made this run's first (`month_start_classes_stage`,
    with the same arguments, computes and saves it unless saved from the same inputs and standards),
    without loading it: for a step that reads a few columns of every month or one month's rows
    (06 reads the segments of all months and last month's customers, not ten million ids). None
    when the run has no month-start classes."""
    return _month_start_classes(data_dir, rfm, segment_map, class_map, save=True, load=False)
