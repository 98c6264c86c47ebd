"""The report run: execute the five notebooks with papermill, export HTML and one PDF, write the
index page and the manifest, and only then put the run in place.

`run_report("params/demo.yaml")` writes `reports/<run>/`:
`01_cleaning.html` ... `05_case_study.html` (code hidden, parameters removed), `index.html`,
`report.pdf`, `data/` (stage outputs), `executed/` (the executed notebooks) and `manifest.json`.
A failed run leaves the last good report of the same name untouched and keeps what it did in
`reports/<run>.failed/` for inspection.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable

from segkit.errors import SegkitError
from segkit.params import Params, load_params
from segkit.report.pages import NOTEBOOKS, export_html, write_index, write_pdf
from segkit.report.tables import headline_kpis

KERNEL = "python3"
VERSIONED = ("segkit", "pandas", "numpy", "scikit-learn", "duckdb", "ibis-framework", "pyarrow", "matplotlib",
             "papermill", "nbconvert", "weasyprint", "pydantic")

class ReportError(SegkitError):
    """A report run failed; the message names the notebook and cell, and where the record is."""


@dataclass
class RunResult:
    folder: Path
    kpis: dict
    timings: dict[str, float] = field(default_factory=dict)


def run_name_for(params: Params) -> str:
    return f"{params.run_name}-{params.month}" if params.month else params.run_name


def run_report(params_path: str | os.PathLike, month: str | None = None, overrides: list[str] = (),
               reports_dir: str | os.PathLike = "reports", notebooks_dir: str | os.PathLike | None = None,
               pdf: bool = True, progress: Callable[[str], None] = lambda message: None) -> RunResult:
    """Run the whole report for a params file; returns the run folder, its headline KPIs and timings."""
    started = time.perf_counter()
    overrides = list(overrides) + ([f"month={month}"] if month else [])
    params_path = Path(params_path).resolve()
    params = load_params(params_path, overrides)  # fails here, before any work, on bad params
    notebooks_dir = Path(notebooks_dir) if notebooks_dir else default_notebooks_dir()
    reports_dir = Path(reports_dir).resolve()
    name = run_name_for(params)
    final = reports_dir / name
    work = reports_dir / f".{name}.tmp-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    (work / "data").mkdir(parents=True)
    (work / "executed").mkdir()
    timings: dict[str, float] = {}
    try:
        for number, notebook in enumerate(NOTEBOOKS, start=1):
            progress(f"[{number}/{len(NOTEBOOKS)}] running {notebook}")
            tick = time.perf_counter()
            execute_notebook(notebooks_dir / f"{notebook}.ipynb", work / "executed" / f"{notebook}.ipynb",
                     {"params_path": str(params_path), "data_dir": str(work / "data"), "overrides": overrides},
                     notebooks_dir, notebook, final)
            timings[notebook] = round(time.perf_counter() - tick, 2)
            progress(f"      {notebook} done in {timings[notebook]:.1f} s")
        tick = time.perf_counter()
        progress("writing HTML")
        for notebook in NOTEBOOKS:
            export_html(work / "executed" / f"{notebook}.ipynb", work / f"{notebook}.html", params.lang)
        kpis = headline_kpis(work / "data", top=params.case_study.top_share)
        write_index(work / "index.html", kpis, params, params_path, pdf, name)
        timings["html"] = round(time.perf_counter() - tick, 2)
        if pdf:
            tick = time.perf_counter()
            progress("writing PDF")
            write_pdf(work, work / "report.pdf")
            timings["pdf"] = round(time.perf_counter() - tick, 2)
        timings["total"] = round(time.perf_counter() - started, 2)
        write_manifest(work / "manifest.json", params, params_path, work, timings)
    except BaseException:
        failed = reports_dir / f"{name}.failed"
        shutil.rmtree(failed, ignore_errors=True)
        if work.exists():
            work.rename(failed)
        raise
    _replace(final, work)
    shutil.rmtree(reports_dir / f"{name}.failed", ignore_errors=True)
    progress(f"report ready: {final / 'index.html'}")
    return RunResult(final, kpis, timings)


def default_notebooks_dir() -> Path:
    """The notebooks/ folder of the project segkit is installed from (or of the current folder)."""
    for base in (Path(__file__).resolve().parents[2], Path.cwd()):
        if (base / "notebooks" / f"{NOTEBOOKS[0]}.ipynb").is_file():
            return base / "notebooks"
    raise ReportError("cannot find the notebooks/ folder; run from the project folder or pass --notebooks")


def execute_notebook(source: Path, target: Path, parameters: dict, cwd: Path, notebook: str, final: Path | None = None) -> None:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    try:
        papermill.execute_notebook(str(source), str(target), parameters=parameters, kernel_name=KERNEL,
                                   cwd=str(cwd), progress_bar=False, log_output=False,
                                   extra_arguments=["--IPKernelApp.log_level=ERROR"])
    except PapermillExecutionError as err:
        where = f"notebook {notebook} failed in cell {err.exec_count} ({err.ename}: {_first_line(err.evalue)})"
        if final is None:
            raise ReportError(f"{where}; the executed notebook is at {target}") from None
        failed_dir = final.parent / f"{final.name}.failed"
        raise ReportError(
            f"{where}; the executed notebook will be at {failed_dir / 'executed' / (notebook + '.ipynb')}; "
            f"the last good report in {final} is untouched") from None


def write_manifest(target: Path, params: Params, params_path: Path, folder: Path, timings: dict) -> None:
    """What the run used and made: effective params, input and output fingerprints, versions, timings."""
    manifest = {
        "status": "ok",
        "run": run_name_for(params),
        "finished_at": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "params_file": str(params_path),
        "params": params.model_dump(mode="json"),
        "inputs": input_fingerprints(params, params_path),
        "outputs": {str(p.relative_to(folder)): _sha256(p) for p in sorted((folder / "data").glob("*.parquet"))},
        "versions": {"python": platform.python_version(), **{name: _version(name) for name in VERSIONED}},
        "timings_s": timings,
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "",
    }
    target.write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")


def input_fingerprints(params: Params, params_path: Path) -> dict:
    source = params.source
    found = {"params": {"path": str(params_path), "sha256": _sha256(params_path)}}
    if source.kind == "cdnow":
        from importlib import resources

        with resources.as_file(resources.files("segkit.datasets").joinpath("cdnow_master.txt.gz")) as path:
            found["transactions"] = {"dataset": "cdnow", "sha256": _sha256(path)}
    elif source.kind == "demo":
        found["transactions"] = {"generator": "segkit.datasets.generate_retail", **source.demo.model_dump(mode="json")}
    elif source.kind == "file":
        for name in ("transactions", "customers", "surveys"):
            table = getattr(source, name)
            if table is not None:
                path = Path(table.path)
                path = path if path.is_absolute() else params_path.parent / path  # as intake reads it
                found[name] = {"path": table.path, "sha256": _sha256(path)}
    elif source.kind == "database":
        found["transactions"] = {"database": _redacted(source.database.url), "table": source.database.table}
    return found


def _redacted(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _replace(final: Path, work: Path) -> None:
    """Put the finished run in place; the old report is removed only once the new one is there."""
    old = final.parent / f".{final.name}.old-{os.getpid()}"
    if final.exists():
        final.rename(old)
    work.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def _first_line(text: str) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""
