"""The stage outputs of a run: Parquet files in the run's data folder, plus run.json.

Each notebook reads the files of the stages before it, so any notebook can be rerun alone. The
notebooks reach the stage files through `stage_path`, `save_stage`, `load_stage` and `stage_table`,
and run.json through `save_run_info` and `load_run_info`: with SEGKIT_STAGE_LOG set to a file, each
of them appends what it read or wrote there (one JSON line each), which is how the tests check that
the notebooks a run executes side by side never need each other's files (`segkit.report.schedule`).
(01 writes the clean rows' file itself, after `save_stage` has logged it; the runner's exports read
stage files after every notebook has run.)
"""

from __future__ import annotations

import datetime as dt
import json
import math
import numbers
import os
from pathlib import Path

import pandas as pd

from segkit.errors import DataError

# name -> the notebook that writes it (for the error message when it is missing)
STAGE_FILES = {
    "clean_transactions": "01_cleaning", "quarantine": "01_cleaning", "ledger": "01_cleaning",
    "customers": "01_cleaning", "surveys": "01_cleaning",
    "customer_ledger": "01_cleaning", "customers_set_aside": "01_cleaning", "refunded_orders": "01_cleaning",
    "features": "01_cleaning", "segments": "02_rfm", "profile": "02_rfm",
    "repeat_summary": "01_cleaning", "holdout_summary": "01_cleaning", "activity": "01_cleaning",
    "month_start_features": "01_cleaning",
    "value": "03_customer_value", "clusters": "04_clustering",
    # computed once by the first step that needs them (segkit.monthly.shared), loaded by the others
    "monthly_kpis": "03_customer_value", "month_start_classes": "03_customer_value",
    "transitions": "06_migration", "customer_moves": "06_migration", "moved_to_at_risk": "06_migration",
    "kpi_trends": "06_migration", "kpi_restated": "06_migration", "alerts": "06_migration", "next_best": "07_cross_sell",
    # a database source's per-customer summaries for 07_cross_sell (segkit.crosssell.summaries)
    "purchase_items": "01_cleaning", "purchase_baskets": "01_cleaning",
}


STAGE_LOG = "SEGKIT_STAGE_LOG"
RUN_INFO_LOCK = ".run.json.lock"


def json_text(value, **options) -> str:
    """`value` as JSON that every parser reads (`json.dumps` with `options`): a number that is not
    finite (NaN, inf, -inf, e.g. a model parameter that ran to infinity), which Python would write as
    the bare NaN or Infinity that JSON does not have, is written as null, in dicts and lists too.

    >>> json_text({"r": float("inf"), "fits": [1.5, float("nan")]})
    '{"r": null, "fits": [1.5, null]}'
    """
    return json.dumps(_finite(value), allow_nan=False, **options)


def _finite(value):
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def _log(action: str, *names: str) -> None:
    """Append `action` ("read" or "write") of each of `names` (a stage, or "run.json:<key>") to the
    file SEGKIT_STAGE_LOG names, when it is set (a test's record of what a notebook used)."""
    log = os.environ.get(STAGE_LOG)
    if log and names:
        with open(log, "a", encoding="utf-8") as handle:
            handle.writelines(json.dumps({"action": action, "name": name}) + "\n" for name in names)


def stage_path(data_dir: str | Path, name: str) -> Path:
    """The file of the stage `name` in `data_dir` (it may not exist), for a reader that opens it
    itself (a footer, some row groups): the read is logged as `load_stage`'s is."""
    _log("read", name)
    return Path(data_dir) / f"{name}.parquet"


def save_stage(data_dir: str | Path, **frames) -> None:
    """Write each frame as data_dir/<name>.parquet (None means the source has no such table).

    A stage computed in the engine comes as a lazy `ibis.Table` or a list of them (parts, written one
    after the other into the one file, e.g. month by month: `month_start_features_parts`): computed
    there and streamed to the file (a table by the engine's COPY, a part at a time as Arrow), so that
    its rows never become a pandas frame. The file is put in place only once complete."""
    folder = Path(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        if name not in STAGE_FILES:
            raise ValueError(f"unknown stage output {name!r}; known: {', '.join(STAGE_FILES)}")
        _log("write", name)
        path = folder / f"{name}.parquet"
        if frame is None:
            path.unlink(missing_ok=True)
        elif isinstance(frame, pd.DataFrame):
            frame.to_parquet(path, index=False)
        else:
            _write_in_engine(frame, path)


def _write_in_engine(table, path: Path) -> None:
    """`table` (an ibis.Table, or a non-empty list of them with one schema) written to `path`."""
    import pyarrow.parquet as pq

    partial = path.with_name(f".{path.name}.partial")
    try:
        if isinstance(table, (list, tuple)):
            schema = table[0].schema().to_pyarrow()
            with pq.ParquetWriter(partial, schema) as writer:
                for part in table:
                    writer.write_table(part.to_pyarrow().cast(schema))
        else:
            table.to_parquet(partial)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def load_stage(data_dir: str | Path, name: str, optional: bool = False,
               columns: list[str] | None = None, categories: list[str] | None = None) -> pd.DataFrame | None:
    """data_dir/<name>.parquet as a frame (only `columns`, when given; `categories` as pandas
    Categoricals, whatever their type: a month column of ten million rows holds a dozen dates, not
    ten million date objects). None when it is missing and `optional`; otherwise a missing file
    raises DataError naming the notebook that writes it."""
    path = stage_path(data_dir, name)
    if not path.is_file():
        if optional:
            return None
        raise DataError(f"{path} is missing: run notebook {STAGE_FILES.get(name, '?')} first "
                        f"(or `segkit report`) with the same data_dir")
    return pd.read_parquet(path, columns=columns,
                           to_pandas_kwargs={"categories": list(categories)} if categories else None)


def join_stages(left: pd.DataFrame, right: pd.DataFrame, columns: list[str], how: str = "inner") -> pd.DataFrame:
    """`left` with `right`'s `columns` joined on customer_id, one row each (pandas' MergeError when an
    id is there twice), in `left`'s order; `how` as pandas' merge ("inner" or "left"). Two stages
    of one run list the same customers in customer_id order: then the columns are taken as they
    are (see `same_customers`), with no hash table of a million ids."""
    plain = len(set(columns)) == len(columns) and not set(columns) & set(left.columns)  # no name met twice
    if plain and same_customers(left["customer_id"], right["customer_id"]):
        joined = left.assign(**{name: right[name].array for name in columns})
        return joined.reset_index(drop=True)  # as merge's: a fresh 0..n-1 index
    return left.merge(right[["customer_id", *columns]], on="customer_id", how=how, validate="one_to_one")


def same_customers(left: pd.Series, right: pd.Series) -> bool:
    """Whether two id columns (of one type) hold the same ids in the same strictly ascending order, so
    each once: how the stages of a run list their customers. Other types or orders: False."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(left) != len(right) or left.dtype != right.dtype:
        return False
    if len(left) == 0:
        return True
    try:
        a, b = (pa.chunked_array([ids]) if isinstance(ids, pa.Array) else ids
                for ids in (pa.array(left.array), pa.array(right.array)))
        if a.type != b.type:  # object columns of other Python types (text and numbers): a merge decides
            return False
        ascending = pc.all(pc.less(a.slice(0, len(a) - 1), a.slice(1))).as_py() if len(a) > 1 else a.null_count == 0
        return bool(ascending) and bool(pc.all(pc.equal(a, b)).as_py())
    except (pa.ArrowException, TypeError, ValueError):  # ids Arrow cannot hold or compare: a merge decides
        return False


def stage_table(data_dir: str | Path, name: str, optional: bool = False):
    """A stage file as a lazy table in a new embedded DuckDB (`ibis.Table`), read in place: for the
    large stages (clean_transactions), which later notebooks query without loading them into
    pandas. None when `optional` and the file is missing; otherwise errors as `load_stage`."""
    return stage_tables(data_dir, name, optional=optional)[0]


def stage_tables(data_dir: str | Path, *names: str, optional: bool = False) -> list:
    """Stage files as lazy tables of one new embedded DuckDB (`ibis.Table`s, in the order of `names`),
    read in place: for counts that join two stages where they lie (the monthly activity and the
    classes at each month start: `segkit.retention_by_segment`). A missing file is None when
    `optional`; otherwise errors as `load_stage`."""
    from segkit.intake.sources import connect

    con, tables = connect(), []
    for name in names:
        path = stage_path(data_dir, name)
        if not path.exists():
            load_stage(data_dir, name, optional)  # the same None or error as for a DataFrame
            tables.append(None)
        else:
            tables.append(con.read_parquet(str(path)))
    return tables


def known_lines_table(data_dir: str | Path):
    """The run's clean rows (clean_transactions) with the lines of the orders cancelled in full
    (refunded_orders, when 01 wrote them) marked by a boolean column `refunded`, read in place in a
    new embedded DuckDB (`ibis.Table`): what a reader of the rows as known at an earlier date reads
    (`segkit.intake.as_known.as_known`: the next-period test, the segments on a campaign's send date).
    None when the run kept no clean rows (a customer-level source, or rows kept in a database)."""
    from segkit.intake.as_known import with_refunded
    from segkit.intake.sources import connect

    clean = stage_path(data_dir, "clean_transactions")
    if not clean.exists():
        return None
    con = connect()
    table = con.read_parquet(str(clean))
    refunded = stage_path(data_dir, "refunded_orders")
    return with_refunded(table, con.read_parquet(str(refunded)) if refunded.exists() else None)


def save_run_info(data_dir: str | Path, **info) -> None:
    """Merge `info` into data_dir/run.json (dates are written as ISO strings, numbers that are not
    finite as null: `json_text`). Returns nothing, so that a notebook cell ending in it shows nothing
    (`load_run_info` reads it back). Notebooks that run side by side both write it: the read, merge
    and write hold a lock (RUN_INFO_LOCK beside it, which `segkit report` removes once the notebooks
    have run), and the file is replaced whole, so a reader never sees half of it."""
    from filelock import FileLock

    path = Path(data_dir) / "run.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    _log("write", *(f"run.json:{key}" for key in info))
    with FileLock(path.with_name(RUN_INFO_LOCK)):
        current = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        current.update({k: v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else v for k, v in info.items()})
        partial = path.with_name(f".run.json.{os.getpid()}.partial")
        try:
            partial.write_text(json_text(current, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
            partial.replace(path)
        finally:
            partial.unlink(missing_ok=True)


class _LoggedInfo(dict):
    """run.json's entries that log each one read (SEGKIT_STAGE_LOG is set)."""

    def __getitem__(self, key):
        _log("read", f"run.json:{key}")
        return super().__getitem__(key)

    def get(self, key, default=None):
        _log("read", f"run.json:{key}")
        return super().get(key, default)

    def __contains__(self, key) -> bool:
        _log("read", f"run.json:{key}")
        return super().__contains__(key)

    def keys(self):  # every entry (and so, for the tests, any a later notebook writes): "run.json:*"
        _log("read", "run.json:*")
        return super().keys()

    def items(self):
        _log("read", "run.json:*")
        return super().items()

    def values(self):
        _log("read", "run.json:*")
        return super().values()

    def __iter__(self):
        _log("read", "run.json:*")
        return super().__iter__()

    def __len__(self) -> int:
        _log("read", "run.json:*")
        return super().__len__()

    def __repr__(self) -> str:  # str(), print(), f-strings
        _log("read", "run.json:*")
        return super().__repr__()

    def __eq__(self, other) -> bool:
        _log("read", "run.json:*")
        return super().__eq__(other)

    __hash__ = None

    def pop(self, key, *default):
        _log("read", f"run.json:{key}")
        return super().pop(key, *default)

    def setdefault(self, key, default=None):
        _log("read", f"run.json:{key}")
        return super().setdefault(key, default)

    def popitem(self):
        _log("read", "run.json:*")
        return super().popitem()

    def __ne__(self, other) -> bool:
        _log("read", "run.json:*")
        return super().__ne__(other)

    def __reversed__(self):
        _log("read", "run.json:*")
        return super().__reversed__()


def load_run_info(data_dir: str | Path) -> dict:
    """data_dir/run.json as a dict (`as_of` as a date); DataError when it is missing."""
    path = Path(data_dir) / "run.json"
    if not path.is_file():
        raise DataError(f"{path} is missing: run notebook 01_cleaning first with the same data_dir")
    info = json.loads(path.read_text(encoding="utf-8"))
    if "as_of" in info:
        info["as_of"] = dt.date.fromisoformat(info["as_of"])
    return _LoggedInfo(info) if os.environ.get(STAGE_LOG) else info
