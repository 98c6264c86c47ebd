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


def _saved(data_dir: Path, name: str, fingerprint: str) -> pd.DataFrame | None:
    from segkit.store import load_stage

    frame = load_stage(data_dir, name, optional=True)
    if frame is None or frame.attrs.get(FINGERPRINT) != fingerprint:
        return None
    frame.attrs = {}
    return frame


def _save(data_dir: Path, name: str, frame: pd.DataFrame, fingerprint: str) -> None:
    from segkit.store import save_stage

    stamped = frame.copy(deep=False)
    stamped.attrs = {FINGERPRINT: fingerprint}
    save_stage(data_dir, **{name: stamped})


def monthly_kpis_stage(data_dir: str | Path, save: bool = True) -> pd.DataFrame | None:
    """The run's monthly KPIs (`segkit.monthly.activity.monthly_kpis` of its `activity` stage: one
    row per calendar month, columns month, active_customers, new_customers, orders, revenue,
    avg_order_value, purchase_frequency, retention_rate, repurchase_rate), computed once per run:
    loaded from the `monthly_kpis` stage when it was made from this `activity` file, else computed
    and (with `save`) saved. None when the run has no activity (a customer-level source) or no rows.
    """
    from segkit.monthly.activity import monthly_kpis
    from segkit.store import load_stage, save_stage

    folder = Path(data_dir)
    source = folder / "activity.parquet"
    if not source.is_file():
        if save:
            save_stage(folder, monthly_kpis=None)  # a stage of an earlier activity is not this run's
        return None
    fingerprint = _fingerprint([source], "monthly_kpis")
    found = _saved(folder, "monthly_kpis", fingerprint)
    if found is not None:
        return found
    activity = load_stage(folder, "activity")
    kpis = monthly_kpis(activity) if len(activity) else None
    if save:
        if kpis is None:
            save_stage(folder, monthly_kpis=None)
        else:
            _save(folder, "monthly_kpis", kpis, fingerprint)
    return kpis


def month_start_classes_stage(data_dir: str | Path, rfm, segment_map, class_map, save: bool = True) -> pd.DataFrame | None:
    """Each customer's classes at the start of each month of the run's `month_start_features` stage
    (`segkit.monthly.activity.month_start_classes`: month, customer_id, segment, rfm_class), classified
    once per run with the standards given (`rfm`: the params' rfm section; `segment_map`, `class_map`:
    maps or their names): loaded from the `month_start_classes` stage when it was made from this
    `month_start_features` file with the same standards, else computed and (with `save`) saved.
    None when the run has no month-start features or they hold no month (the data span fewer than
    two months). Raises ValueError when a month cannot be scored (see `RFMScorer.fit`).
    """
    from segkit.monthly.activity import month_start_classes
    from segkit.store import load_stage, save_stage

    folder = Path(data_dir)
    source = folder / "month_start_features.parquet"
    if not source.is_file():
        if save:
            save_stage(folder, month_start_classes=None)
        return None
    standards = rfm.model_dump_json() if hasattr(rfm, "model_dump_json") else repr(rfm)
    fingerprint = _fingerprint([source], "month_start_classes", standards, repr(segment_map), repr(class_map))
    found = _saved(folder, "month_start_classes", fingerprint)
    if found is not None:
        return found
    history = load_stage(folder, "month_start_features")
    classes = month_start_classes(history, rfm, segment_map, class_map) if len(history) else None
    if save:
        if classes is None:
            save_stage(folder, month_start_classes=None)
        else:
            _save(folder, "month_start_classes", classes, fingerprint)
    return classes
