"""Notebooks that run side by side (segkit.report.schedule, runner.run_notebooks): each starts once
the notebooks it needs have run, and NEEDS names every notebook whose files another one reads."""

import json
import multiprocessing
import threading
import time
from pathlib import Path

import nbformat
import pytest

from segkit.report import runner
from segkit.report.pages import CUSTOMER_TABLE_NOTEBOOKS, NOTEBOOKS
from segkit.report.schedule import NEEDS, ancestors, needs, next_to_start
from segkit.store import load_run_info, save_run_info


@pytest.mark.parametrize("notebooks", [NOTEBOOKS, CUSTOMER_TABLE_NOTEBOOKS])
def test_every_notebook_has_needs_that_run_before_it(notebooks):
    assert set(notebooks) <= set(NEEDS)
    found = needs(notebooks)  # raises when a need runs after its notebook
    assert all(set(found[n]) <= set(notebooks[:i]) for i, n in enumerate(notebooks))
    assert found[notebooks[0]] == ()


def test_a_need_after_its_notebook_is_refused_and_an_unknown_notebook_waits_for_all_before_it():
    with pytest.raises(ValueError, match="b needs c, which run after it"):
        needs(("a", "b", "c"), {"a": (), "b": ("c",), "c": ()})
    assert needs(("a", "x", "b"), {"a": (), "b": ()}) == {"a": (), "x": ("a",), "b": ()}
    assert ancestors(("a", "b", "c"), {"a": (), "b": ("a",), "c": ("b",)})["c"] == {"a", "b"}
    assert next_to_start(("a", "b", "c"), done={"a"}, started={"a"}, table={"a": (), "b": ("a",), "c": ()}) == ["b", "c"]


def _fake_run(durations, log, lock):
    def run_one(notebook, then, kernels):
        with lock:
            log.append(("start", notebook, time.perf_counter()))
        time.sleep(durations[notebook])
        if durations[notebook] < 0.02:
            raise runner.ReportError(f"notebook {notebook} failed in cell 2 (planted)")
        with lock:
            log.append(("end", notebook, time.perf_counter()))
    return run_one


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_notebooks_start_once_their_needs_ended_and_at_most_workers_at_once(workers):
    durations = {name: 0.05 + 0.03 * (i % 3) for i, name in enumerate(NOTEBOOKS)}
    log, lock, ended = [], threading.Lock(), []
    timings = runner.run_notebooks(NOTEBOOKS, _fake_run(durations, log, lock), workers,
                                   finished=ended.append)
    assert sorted(timings) == sorted(NOTEBOOKS) == sorted(ended)
    starts = {n: t for kind, n, t in log if kind == "start"}
    ends = {n: t for kind, n, t in log if kind == "end"}
    for notebook, wanted in needs(NOTEBOOKS).items():
        assert all(ends[n] <= starts[notebook] for n in wanted), notebook
    at_once = max(sum(starts[n] <= starts[m] < ends[n] for n in NOTEBOOKS) for m in NOTEBOOKS)
    assert at_once == min(workers, 2)  # this graph allows two at a time, never three
    if workers == 1:
        assert [n for kind, n, _ in log if kind == "start"] == list(NOTEBOOKS)
    else:  # 04_clustering needs only 01's features: it runs beside 02_rfm
        assert starts["04_clustering"] < ends["02_rfm"]


def test_the_first_failure_stops_the_run_and_nothing_starts_after_it():
    durations = {name: 0.3 for name in NOTEBOOKS} | {"02_rfm": 0.01}
    log, lock, ended = [], threading.Lock(), []
    state = {}
    with pytest.raises(runner.ReportError, match="02_rfm failed in cell 2"):
        runner.run_notebooks(NOTEBOOKS, _fake_run(durations, log, lock), 2, finished=ended.append, state=state)
    started = [n for kind, n, _ in log if kind == "start"]
    assert started == ["01_cleaning", "02_rfm", "04_clustering"] and ended == ["01_cleaning"]
    assert state["doing"] == "running notebook 02_rfm"


def _stage_conflicts(logs: dict[str, list[dict]], notebooks, table) -> list[str]:
    """Each pair of notebooks that touch one stage file or run.json entry, at least one of them
    writing it, where the earlier is not among the later one's needs (so they could run at once)."""
    reads = {n: {e["name"] for e in logs.get(n, []) if e["action"] == "read"} for n in notebooks}
    writes = {n: {e["name"] for e in logs.get(n, []) if e["action"] == "write"} for n in notebooks}
    every_key = {name for n in notebooks for name in writes[n] if name.startswith("run.json:")}
    for n in notebooks:  # iterating over run.json reads every entry, those written later included
        if "run.json:*" in reads[n]:
            reads[n] |= every_key
    before = ancestors(notebooks, table)
    found = []
    for i, later in enumerate(notebooks):
        for earlier in notebooks[:i]:
            shared = (writes[earlier] & (reads[later] | writes[later])) | (reads[earlier] & writes[later])
            if shared and earlier not in before[later]:
                found.append(f"{later} and {earlier} both use {', '.join(sorted(shared))}")
    return found


def _logs(folder: Path) -> dict[str, list[dict]]:
    return {path.stem: [json.loads(line) for line in path.read_text().splitlines()]
            for path in folder.glob("*.jsonl")}


def test_no_two_notebooks_that_run_at_once_use_a_file_one_of_them_writes(en_run):
    logs = _logs(en_run[0].parent / "stage-log")
    assert sorted(logs) == sorted(NOTEBOOKS)
    # the log sees the stage files and run.json entries the notebooks pass around
    assert {"name": "segments", "action": "read"} in logs["05_evaluation"]
    assert {"name": "run.json:k", "action": "write"} in logs["04_clustering"]
    assert {"name": "month_start_classes", "action": "read"} in logs["06_migration"]
    assert _stage_conflicts(logs, NOTEBOOKS, NEEDS) == []
    # and it would tell: without 03 among 05's needs, 05 could read the profile before 03 rewrote it
    fewer = dict(NEEDS, **{"05_evaluation": tuple(n for n in NEEDS["05_evaluation"] if n != "03_customer_value")})
    assert any("05_evaluation and 03_customer_value both use profile" in c
               for c in _stage_conflicts(logs, NOTEBOOKS, fewer))


def _write_keys(folder: str, prefix: str, count: int) -> None:
    for i in range(count):
        save_run_info(folder, **{f"{prefix}{i}": i})


def test_run_info_written_by_two_processes_at_once_keeps_every_entry(tmp_path):
    save_run_info(tmp_path, as_of="2024-12-31")
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_keys, args=(str(tmp_path), prefix, 150)) for prefix in ("a", "b")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    info = load_run_info(tmp_path)
    assert len(info) == 301 and info["a149"] == 149 and info["b0"] == 0
    assert not list(tmp_path.glob(".run.json*"))  # no partial file left behind


def _notebook(path: Path, code: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(code)]
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
def test_a_failing_notebook_ends_the_one_running_beside_it(tmp_path):
    sources = {"slow": _notebook(tmp_path / "slow.ipynb", "import os, time\nprint(os.getpid(), flush=True)\n"
                                                           "time.sleep(300)"),
               "bad": _notebook(tmp_path / "bad.ipynb", "import time\ntime.sleep(4)\nraise ValueError('planted')")}

    def run_one(notebook, then, kernels):
        runner.execute_notebook(sources[notebook], tmp_path / f"{notebook}-out.ipynb", {}, tmp_path, notebook,
                                timeout_s=600, kernels=kernels)

    tick = time.perf_counter()
    with pytest.raises(runner.ReportError, match="notebook bad failed in cell 1 .ValueError: planted"):
        runner.run_notebooks(("slow", "bad"), run_one, 2, table={"slow": (), "bad": ()})
    assert time.perf_counter() - tick < 120  # not the 300 s the other notebook would have slept
    printed = json.loads((tmp_path / "slow-out.ipynb").read_text())["cells"][0]["outputs"]
    pid = int("".join(printed[0]["text"]).split()[0])
    with pytest.raises(ProcessLookupError):
        import os
        os.kill(pid, 0)


def test_two_notebooks_at_once_only_for_runs_that_fit_and_machines_with_two_cores(tmp_path, monkeypatch):
    import pandas as pd

    from segkit.params import load_params
    from conftest import write_params

    params = load_params(write_params(tmp_path), [])
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setattr(runner.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert runner.notebooks_at_once(data, params) == 1  # before 01 has saved the features: 01 runs alone
    pd.DataFrame({"customer_id": [str(i) for i in range(40)]}).to_parquet(data / "features.parquet")
    assert runner.notebooks_at_once(data, params) == 2
    monkeypatch.setattr(runner, "PARALLEL_MAX_CUSTOMERS", 39)
    assert runner.notebooks_at_once(data, params) == 1  # too many customers for two copies of their tables
    monkeypatch.setattr(runner, "PARALLEL_MAX_CUSTOMERS", 40)
    monkeypatch.setattr(runner.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert runner.notebooks_at_once(data, params) == 1  # one core
    chosen = load_params(write_params(tmp_path, report__notebooks_at_once=3), [])
    assert runner.notebooks_at_once(data, chosen) == 3


def test_a_spark_source_runs_one_notebook_at_a_time_unless_the_params_say_otherwise(tmp_path, monkeypatch):
    import pandas as pd

    from segkit.params import load_params
    from conftest import write_params

    data = tmp_path / "data"
    data.mkdir()
    pd.DataFrame({"customer_id": ["a", "b"]}).to_parquet(data / "features.parquet")
    monkeypatch.setattr(runner.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    spark = {"source": {"kind": "spark", "spark": {"master": "local[2]", "table": "sales"}}}
    for notebooks_at_once, expected in ((None, 1), (2, 2)):
        path = write_params(tmp_path, source=spark["source"], report__notebooks_at_once=notebooks_at_once)
        assert runner.notebooks_at_once(data, load_params(path, [])) == expected


def test_the_kernel_started_ahead_is_for_the_notebook_likely_to_start_next():
    # 03 and 04 run: 07 waits for 04 only, 05 and 06 for both
    assert runner._likely_next(NOTEBOOKS, {"01_cleaning", "02_rfm"},
                               ["01_cleaning", "02_rfm", "04_clustering", "03_customer_value"]) == "07_cross_sell"
    # 02 and 04 run: 03 waits for 02 only
    assert runner._likely_next(NOTEBOOKS, {"01_cleaning"}, ["01_cleaning", "02_rfm", "04_clustering"]) == "03_customer_value"
    assert runner._likely_next(NOTEBOOKS, set(NOTEBOOKS[:-1]), list(NOTEBOOKS)) is None
