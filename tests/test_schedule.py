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
from stage_log import stage_conflicts, stage_logs


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
    assert at_once <= workers and (at_once >= 2 if workers > 1 else at_once == 1)
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


def test_no_two_notebooks_that_run_at_once_use_a_file_one_of_them_writes(en_run):
    logs = stage_logs(en_run[0].parent / "stage-log")
    assert sorted(logs) == sorted(NOTEBOOKS)
    # the log sees the stage files and run.json entries the notebooks pass around
    assert {"name": "segments", "action": "read"} in logs["05_evaluation"]
    assert {"name": "run.json:k", "action": "write"} in logs["04_clustering"]
    assert {"name": "month_start_classes", "action": "read"} in logs["06_migration"]
    assert stage_conflicts(logs, NOTEBOOKS, NEEDS) == []
    # and it would tell: without 03 among 05's needs, 05 could read the profile before 03 rewrote it
    fewer = dict(NEEDS, **{"05_evaluation": tuple(n for n in NEEDS["05_evaluation"] if n != "03_customer_value")})
    assert any("05_evaluation and 03_customer_value both use profile" in c
               for c in stage_conflicts(logs, NOTEBOOKS, fewer))


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
    assert not list(tmp_path.glob(".run.json.*.partial"))  # no partial file left behind


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


def test_auto_runs_two_notebooks_at_once_only_for_runs_that_fit_and_machines_with_two_cores(tmp_path, monkeypatch):
    import pandas as pd

    from segkit.params import load_params
    from conftest import write_params

    params = load_params(write_params(tmp_path, report__notebooks_at_once="auto"), [])
    assert runner.notebooks_at_once(tmp_path, load_params(write_params(tmp_path, "plain"), [])) == 1  # the default
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
    for notebooks_at_once, expected in (("auto", 1), (2, 2)):
        path = write_params(tmp_path, source=spark["source"], report__notebooks_at_once=notebooks_at_once)
        assert runner.notebooks_at_once(data, load_params(path, [])) == expected


def test_the_kernel_started_ahead_is_for_the_notebook_likely_to_start_next():
    # 03 and 04 run: 07 waits for 04 only, 05 and 06 for both
    assert runner._likely_next(NOTEBOOKS, {"01_cleaning", "02_rfm"},
                               ["01_cleaning", "02_rfm", "04_clustering", "03_customer_value"]) == "07_cross_sell"
    # 02 and 04 run: 03 waits for 02 only
    assert runner._likely_next(NOTEBOOKS, {"01_cleaning"}, ["01_cleaning", "02_rfm", "04_clustering"]) == "03_customer_value"
    assert runner._likely_next(NOTEBOOKS, set(NOTEBOOKS[:-1]), list(NOTEBOOKS)) is None
    # one at a time, the next in run order: 03 after 02, though 04 needs only 01
    assert runner._likely_next(NOTEBOOKS, {"01_cleaning"}, ["01_cleaning", "02_rfm"], one_at_a_time=True) == "03_customer_value"
    assert runner._likely_next(NOTEBOOKS, set(NOTEBOOKS[:-1]), list(NOTEBOOKS), one_at_a_time=True) is None


@pytest.mark.parametrize("workers", [1, 2])
def test_each_kernel_started_ahead_is_for_a_notebook_that_starts_later(workers):
    durations = {name: 0.05 + 0.03 * (i % 3) for i, name in enumerate(NOTEBOOKS)}
    prepared, lock = [], threading.Lock()

    def run_one(notebook, then, kernels):
        with lock:
            prepared.append((notebook, then))
        time.sleep(durations[notebook])

    runner.run_notebooks(NOTEBOOKS, run_one, workers)
    ahead = {then for _, then in prepared if then}
    order = [n for n, _ in prepared]
    if workers == 1:  # each notebook's kernel was started ahead by the notebook before it
        assert prepared == [(n, order[i + 1] if i + 1 < len(order) else None) for i, n in enumerate(order)]
    # side by side: a kernel is only ever started for a notebook that starts later
    assert all(then is None or then in order[i + 1:] for i, (_, then) in enumerate(prepared))
    assert len(ahead) >= (len(NOTEBOOKS) - 1 if workers == 1 else 4)


@pytest.mark.slow
def test_a_notebook_runs_in_its_folder_without_moving_the_process(tmp_path):
    # papermill's change of folder is the whole process's: with two notebooks at once, each would
    # restore the other's, so the runner starts the kernel in the notebook's folder instead
    folder = tmp_path / "notebooks"
    folder.mkdir()
    source = _notebook(folder / "n.ipynb", "import os, time\nprint(os.getcwd(), flush=True)\ntime.sleep(3)")
    seen = []
    thread = threading.Thread(target=runner.execute_notebook,
                              args=(source, tmp_path / "out.ipynb", {}, folder, "n"), kwargs={"timeout_s": 60})
    before = Path.cwd()
    thread.start()
    while thread.is_alive():
        seen.append(Path.cwd())
        time.sleep(0.05)
    thread.join()
    assert set(seen) == {before} and len(seen) > 20
    printed = json.loads((tmp_path / "out.ipynb").read_text())["cells"][0]["outputs"][0]["text"]
    assert Path("".join(printed).strip()) == folder  # the kernel itself runs in the notebook's folder


def _fake_kernels(monkeypatch, seconds=0.3):
    started, stopped = [], []

    def start(cwd, lines, **options):
        time.sleep(seconds)
        kernel = object()
        started.append(kernel)
        return kernel

    monkeypatch.setattr(runner, "_start_kernel", start)
    monkeypatch.setattr(runner, "_shutdown", stopped.append)
    monkeypatch.setattr(runner, "_answers", lambda kernel: True)
    return started, stopped


def test_two_threads_preparing_one_notebook_start_one_kernel(tmp_path, monkeypatch):
    started, stopped = _fake_kernels(monkeypatch)
    pool = runner.KernelPool()
    threads = [threading.Thread(target=pool.prepare, args=(tmp_path / "n.ipynb", tmp_path)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(started) == 1 and stopped == [] and pool.waiting_for() == tmp_path / "n.ipynb"
    assert pool.take(tmp_path / "n.ipynb", tmp_path) is started[0]


def test_a_kernel_prepared_for_a_notebook_that_started_meanwhile_is_shut_down_not_kept(tmp_path, monkeypatch):
    started, stopped = _fake_kernels(monkeypatch)
    pool = runner.KernelPool()
    source = tmp_path / "n.ipynb"
    preparing = threading.Thread(target=pool.prepare, args=(source, tmp_path))
    preparing.start()
    time.sleep(0.05)
    taken = pool.take(source, tmp_path)  # its notebook starts before the kernel prepared for it is up
    preparing.join()
    assert len(started) == 2 and stopped == [started[0]] and taken is started[1] and pool.waiting_for() is None
    pool.prepare(source, tmp_path)  # nor is one prepared again for a notebook that started
    assert len(started) == 2
