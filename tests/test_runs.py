"""Run folders and failures (segkit.report.runner): every way a report run can break is one clear
message, and nothing is left behind.

The runs here use tiny notebooks written into a tmp folder (`--notebooks`), so that each test
costs one kernel start at most; tests that need no kernel replace `execute_notebook` with a fake.
"""

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from filelock import FileLock

from segkit.report import runner
from segkit.report.runner import NOTEBOOKS, ReportError, remove_leftovers, run_report

from conftest import write_params

SEGKIT = str(Path(sys.executable).with_name("segkit"))


def write_notebooks(folder: Path, first: list[str] = ("x = 1",)) -> Path:
    """The notebooks the runner expects: a parameters cell, then `first` (in 01_cleaning only), then one
    last cell that records it ran."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in NOTEBOOKS:
        notebook = nbformat.v4.new_notebook()
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        body = list(first) if name == NOTEBOOKS[0] else ["x = 1"]
        notebook.cells = [nbformat.v4.new_code_cell('params_path = ""\ndata_dir = ""\noverrides = []',
                                                    metadata={"tags": ["parameters"]}),
                          *map(nbformat.v4.new_code_cell, body),
                          nbformat.v4.new_code_cell("last_cell_ran = True")]
        nbformat.write(notebook, folder / f"{name}.ipynb")
    return folder


@pytest.fixture
def params(tmp_path) -> Path:
    return write_params(tmp_path, "k")


@pytest.fixture
def notebooks(tmp_path) -> Path:
    return write_notebooks(tmp_path / "notebooks")


def failing_fake(calls: list, error: BaseException):
    """An execute_notebook that writes its target, as papermill does, then raises `error`."""
    def fake(source, target, parameters, cwd, notebook, *args, **kwargs):
        calls.append(Path(parameters["data_dir"]).parent)
        Path(target).write_text("{}", encoding="utf-8")
        raise error
    return fake


def segkit_report(params, reports, notebooks, *more, timeout=120):
    return subprocess.run([SEGKIT, "report", "-p", str(params), "--out", str(reports), "--notebooks", str(notebooks),
                           "--no-pdf", *more], capture_output=True, text=True, timeout=timeout)


def one_message(done: subprocess.CompletedProcess) -> str:
    """The failure as the user sees it: exit code 2, no traceback, the `error:` line."""
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    return errors[0]


# --- run folders ----------------------------------------------------------------------------------

def test_a_planted_symlink_cannot_redirect_the_run(params, notebooks, tmp_path, monkeypatch):
    reports, outside = tmp_path / "reports", tmp_path / "outside"
    reports.mkdir()
    outside.mkdir()
    for guess in (f".k.tmp-{os.getpid()}", ".k.tmp", ".k.failed"):  # the names an older runner used
        (reports / guess).symlink_to(outside, target_is_directory=True)
    calls = []
    monkeypatch.setattr(runner, "execute_notebook", failing_fake(calls, ReportError("notebook 01_cleaning failed")))
    with pytest.raises(ReportError):
        run_report(params, reports_dir=reports, notebooks_dir=notebooks)
    assert list(outside.iterdir()) == []
    work = calls[0]
    assert work.parent == reports and work.name.startswith(".k.tmp-") and not work.is_symlink()
    assert work.name != f".k.tmp-{os.getpid()}"
    assert (reports / "k.failed" / "executed").is_dir() and not (reports / "k.failed").is_symlink()


def test_a_second_run_of_the_same_name_is_refused(params, notebooks, tmp_path, monkeypatch):
    reports = tmp_path / "reports"
    reports.mkdir()
    calls = []
    monkeypatch.setattr(runner, "execute_notebook", failing_fake(calls, AssertionError("must not run")))
    with runner.run_lock(reports, "k"):  # a run named k is going on
        with pytest.raises(ReportError) as refused:
            run_report(params, reports_dir=reports, notebooks_dir=notebooks)
    assert str(refused.value) == (f"a run named k is already running (pid {os.getpid()}) in {reports}; "
                                  "wait for it or use another run_name")
    assert calls == [] and [p.name for p in reports.iterdir()] == [".k.lock"]  # the lock file stays, unlocked
    with runner.run_lock(reports, "k"):  # released once the run ended
        pass


def test_the_next_run_removes_what_dead_runs_left_and_keeps_live_ones(params, notebooks, tmp_path, monkeypatch):
    reports = tmp_path / "reports"
    for leftover in (".k.tmp-8f3k2l1x", ".k.tmp-4242", ".other.tmp-ab12cd34", ".a.tmp-b.tmp-zz9", ".live.tmp-q1w2e3r4"):
        (reports / leftover).mkdir(parents=True)
        (reports / leftover / "data.parquet").write_bytes(b"x")
    (reports / "notes.tmp-1").mkdir()  # not hidden: not ours
    calls = []
    monkeypatch.setattr(runner, "execute_notebook", failing_fake(calls, ReportError("notebook 01_cleaning failed")))
    with FileLock(reports / ".live.lock"):  # a live run named `live`
        with pytest.raises(ReportError):
            run_report(params, reports_dir=reports, notebooks_dir=notebooks)
    assert sorted(p.name for p in reports.iterdir() if not p.name.endswith(".lock")) == [
        ".live.tmp-q1w2e3r4", "k.failed", "notes.tmp-1"]


@pytest.mark.parametrize("mask", [0o022, 0o027], ids=["umask022", "umask027"])
def test_run_folders_get_the_permissions_the_umask_gives(params, notebooks, tmp_path, monkeypatch, mask):
    # tempfile.mkdtemp made the run's folder 0700 and the rename kept it: a colleague could not read the report
    import stat

    reports = tmp_path / "reports"
    calls = []
    monkeypatch.setattr(runner, "execute_notebook", failing_fake(calls, ReportError("notebook 01_cleaning failed")))
    before = os.umask(mask)
    try:
        with pytest.raises(ReportError):
            run_report(params, reports_dir=reports, notebooks_dir=notebooks)
        # a finished run moved in place of the last good one: the old one is moved aside into a folder made the same way
        work, last = reports / "k.failed", reports / "k"
        last.mkdir(0o700)
        runner._replace(last, work)
    finally:
        os.umask(before)
    assert stat.S_IMODE(os.stat(last).st_mode) == 0o777 & ~mask
    assert stat.S_IMODE(os.stat(last / "executed").st_mode) == 0o777 & ~mask
    assert sorted(p.name for p in reports.iterdir()) == [".k.lock", "k"]


def test_a_report_caught_between_two_renames_is_put_back(tmp_path):
    reports = tmp_path / "reports"
    (reports / ".k.old-ab12cd34").mkdir(parents=True)
    (reports / ".k.old-ab12cd34" / "index.html").write_text("last good", encoding="utf-8")
    (reports / ".k.tmp-zz99yy88").mkdir()
    remove_leftovers(reports)
    assert sorted(p.name for p in reports.iterdir() if not p.name.endswith(".lock")) == ["k"]
    assert (reports / "k" / "index.html").read_text(encoding="utf-8") == "last good"


def start_held_run(params, tmp_path, hold, kernel_pid, output):
    """`segkit report` in a subprocess whose first cell waits while `hold` exists; returns once the
    kernel is in that cell (its pid in `kernel_pid`), with the process and the notebooks folder."""
    hold.touch()
    notebooks = write_notebooks(tmp_path / "notebooks", first=[
        "import os, pathlib, time\n"
        f"pathlib.Path({str(kernel_pid)!r}).write_text(str(os.getpid()))\n"
        f"while pathlib.Path({str(hold)!r}).exists():\n    time.sleep(0.2)"])
    run = subprocess.Popen([SEGKIT, "report", "-p", str(params), "--out", str(tmp_path / "reports"), "--notebooks",
                            str(notebooks), "--no-pdf"], stdout=output, stderr=output, text=True)
    deadline = time.monotonic() + 90
    while not kernel_pid.exists():
        if time.monotonic() > deadline or run.poll() is not None:
            hold.unlink(missing_ok=True)
            run.kill()
            raise AssertionError("the run did not reach its cell")
        time.sleep(0.2)
    return run, notebooks


def test_a_run_killed_with_sigkill_is_cleaned_by_the_next_and_blocks_it_while_alive(params, tmp_path, monkeypatch):
    hold, kernel_pid, reports = tmp_path / "hold", tmp_path / "kernel.pid", tmp_path / "reports"
    first, notebooks = start_held_run(params, tmp_path, hold, kernel_pid, subprocess.DEVNULL)
    try:
        second = segkit_report(params, reports, notebooks, timeout=60)
        message = one_message(second)
        assert message == (f"error: a run named k is already running (pid {first.pid}) in {reports.resolve()}; "
                           "wait for it or use another run_name")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        hold.unlink(missing_ok=True)
        if first.poll() is None:
            first.kill()
        if kernel_pid.exists():  # the orphaned kernel of the killed run
            try:
                os.kill(int(kernel_pid.read_text()), signal.SIGKILL)
            except ProcessLookupError:
                pass
    left = list(reports.glob(".k.tmp-*"))
    assert len(left) == 1 and (left[0] / "executed").is_dir()  # what SIGKILL leaves
    calls = []
    monkeypatch.setattr(runner, "execute_notebook", failing_fake(calls, ReportError("notebook 01_cleaning failed")))
    with pytest.raises(ReportError):
        run_report(params, reports_dir=reports, notebooks_dir=notebooks)
    assert not left[0].exists() and not list(reports.glob(".k.tmp-*"))


def test_a_run_stopped_with_sigterm_sets_its_folder_aside_and_stops_its_kernel(params, tmp_path):
    hold, kernel_pid, reports = tmp_path / "hold", tmp_path / "kernel.pid", tmp_path / "reports"
    run, _ = start_held_run(params, tmp_path, hold, kernel_pid, subprocess.PIPE)
    try:
        run.send_signal(signal.SIGTERM)
        _, stderr = run.communicate(timeout=60)
    finally:
        hold.unlink(missing_ok=True)
        if run.poll() is None:
            run.kill()
    assert run.returncode == 130 and "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == (
        "error: the run was interrupted while running notebook 01_cleaning; the executed notebook is at "
        f"{reports.resolve() / 'k.failed' / 'executed' / '01_cleaning.ipynb'}")
    assert not list(reports.glob(".k.tmp-*"))
    with pytest.raises(ProcessLookupError):  # the kernel was stopped with the run
        os.kill(int(kernel_pid.read_text()), 0)


# --- failures as one message ----------------------------------------------------------------------

def test_a_full_disk_during_the_run_is_one_message_and_leaves_no_temporary_folder(params, notebooks, tmp_path,
                                                                                   monkeypatch):
    reports = tmp_path / "reports"
    calls = []
    full = OSError(errno.ENOSPC, "No space left on device", str(reports / "somewhere.ipynb"))
    monkeypatch.setattr(runner, "execute_notebook", failing_fake(calls, full))
    with pytest.raises(ReportError) as failed:
        run_report(params, reports_dir=reports, notebooks_dir=notebooks)
    message = str(failed.value)
    assert message.startswith(f"running notebook 01_cleaning failed: cannot write {reports / 'somewhere.ipynb'}: "
                              "the disk is full; free some space, or write the reports to another disk with --out")
    assert "last good report" not in message  # there is none
    assert sorted(p.name for p in reports.iterdir()) == [".k.lock", "k.failed"]


def test_a_name_too_long_for_the_file_system_is_one_message(params, notebooks, tmp_path, monkeypatch):
    def too_long(*args, **kwargs):
        raise OSError(errno.ENAMETOOLONG, "File name too long", str(tmp_path / ".k.tmp-x"))
    monkeypatch.setattr(runner, "new_folder", too_long)
    with pytest.raises(ReportError) as failed:
        run_report(params, reports_dir=tmp_path / "reports", notebooks_dir=notebooks)
    assert "the name is too long for the file system; use a shorter run_name" in str(failed.value)
    with pytest.raises(ReportError) as failed:  # a real one: a folder name over 255 bytes
        run_report(params, reports_dir=tmp_path / ("x" * 300), notebooks_dir=notebooks)
    assert str(failed.value).startswith(f"cannot use the reports folder {tmp_path / ('x' * 300)}: cannot write ")
    assert "the name is too long for the file system" in str(failed.value)


def test_a_file_in_place_of_the_reports_folder_is_one_message(params, notebooks, tmp_path):
    in_the_way = tmp_path / "reports"
    in_the_way.write_text("not a folder", encoding="utf-8")
    with pytest.raises(ReportError) as failed:
        run_report(params, reports_dir=in_the_way, notebooks_dir=notebooks)
    assert str(failed.value) == (f"cannot use the reports folder {in_the_way}: cannot write {in_the_way}: a file of "
                                 "that name is in the way; move the file away, or choose another folder with --out")


@pytest.fixture
def mounted(tmp_path):
    """Mount a tmpfs with the given options on a fresh folder (root only: CI runs as root)."""
    points = []

    def mount(options: str) -> Path:
        if os.geteuid() != 0:
            pytest.skip("mounting a tmpfs needs root (CI runs as root)")
        point = tmp_path / f"mount{len(points)}"
        point.mkdir()
        if subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True).returncode:
            pytest.skip("this machine cannot mount a tmpfs")
        points.append(point)
        return point

    yield mount
    for point in points:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def test_a_read_only_reports_folder_is_one_message(params, notebooks, tmp_path, mounted):
    if os.geteuid() == 0:
        reports = mounted("ro,size=1m")
    else:
        reports = tmp_path / "reports"
        reports.mkdir()
        reports.chmod(0o555)
    message = one_message(segkit_report(params, reports, notebooks))
    assert message.startswith(f"error: cannot use the reports folder {reports}: cannot write ")
    assert "choose a writable folder with --out" in message or "choose a folder you can write to" in message


def test_a_full_disk_in_a_notebook_is_one_message(params, tmp_path, mounted):
    reports = mounted("size=1m")
    notebooks = write_notebooks(tmp_path / "notebooks", first=[
        "import pathlib\npathlib.Path(data_dir, 'big.bin').write_bytes(bytes(4 << 20))"])
    message = one_message(segkit_report(params, reports, notebooks))
    # the cell's own write fails, or papermill's next save of the executed notebook: either way one message
    assert message.startswith(("error: notebook 01_cleaning failed in cell 3 (OSError: [Errno 28] No space left",
                               "error: notebook 01_cleaning: cannot write "))
    assert "the disk is full" in message and "free some space" in message
    assert not list(reports.glob(".k.tmp-*"))


@pytest.mark.parametrize("cell", ["import os\nos._exit(1)", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"])
def test_a_kernel_that_dies_is_one_message(cell, params, tmp_path):
    notebooks = write_notebooks(tmp_path / "notebooks", first=[cell])
    reports = tmp_path / "reports"
    message = one_message(segkit_report(params, reports, notebooks))
    assert message.startswith("error: notebook 01_cleaning: the Python kernel died in cell 3 ")
    assert f"the executed notebook is at {reports / 'k.failed' / 'executed' / '01_cleaning.ipynb'}" in message
    assert "last good report" not in message


@pytest.mark.parametrize("cell", ["import sys\nsys.exit(0)", "raise SystemExit"])
def test_a_notebook_that_exits_early_is_a_failure(cell, params, tmp_path):
    notebooks = write_notebooks(tmp_path / "notebooks", first=[cell])
    reports = tmp_path / "reports"
    (reports / "k").mkdir(parents=True)
    (reports / "k" / "index.html").write_text("last good", encoding="utf-8")
    with pytest.raises(ReportError) as failed:
        run_report(params, reports_dir=reports, notebooks_dir=notebooks, pdf=False, force=True)
    message = str(failed.value)
    assert message.startswith("notebook 01_cleaning stopped early, in cell 3 (SystemExit")
    assert message.endswith(f"the last good report in {reports / 'k'} is untouched")
    assert (reports / "k" / "index.html").read_text(encoding="utf-8") == "last good"
    executed = nbformat.read(reports / "k.failed" / "executed" / "01_cleaning.ipynb", as_version=4)
    assert executed.cells[-1].execution_count is None  # the last cell never ran


def counted_interrupts(monkeypatch) -> list:
    """The kernels that jupyter_client interrupts from now on (the list fills as it happens)."""
    from jupyter_client.manager import KernelManager

    interrupts = []
    original = KernelManager._async_interrupt_kernel

    async def counted(self):
        interrupts.append(self)
        await original(self)

    monkeypatch.setattr(KernelManager, "_async_interrupt_kernel", counted)
    return interrupts


def test_a_cell_over_the_time_limit_is_stopped(params, tmp_path, monkeypatch, capfd):
    interrupts = counted_interrupts(monkeypatch)
    notebooks = write_notebooks(tmp_path / "notebooks", first=["import time\ntime.sleep(120)"])
    started = time.monotonic()
    with pytest.raises(ReportError) as failed:
        run_report(params, reports_dir=tmp_path / "reports", notebooks_dir=notebooks, pdf=False,
                   overrides=["report.cell_timeout_minutes=0.05"])
    assert time.monotonic() - started < 60
    assert str(failed.value).startswith("notebook 01_cleaning was stopped in cell 3: it ran longer than "
                                        "report.cell_timeout_minutes (0.05 minutes); raise report.cell_timeout_minutes")
    # the busy kernel is killed, not interrupted and then asked to shut down (it would log a ZMQError traceback)
    assert interrupts == []
    assert "Traceback" not in capfd.readouterr().err


def test_a_kernel_that_finished_is_shut_down_without_an_interrupt(tmp_path, monkeypatch, capfd):
    """The cause of the stray "[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel." after a good run:
    jupyter_client sends SIGINT before every shutdown, and it can land while the kernel still answers
    papermill's last kernel_info_request."""
    interrupts = counted_interrupts(monkeypatch)
    notebooks = write_notebooks(tmp_path / "notebooks")
    for attempt in range(3):
        runner.execute_notebook(notebooks / "02_rfm.ipynb", tmp_path / f"out{attempt}.ipynb",
                                {"params_path": "", "data_dir": "", "overrides": []}, notebooks, "02_rfm", timeout_s=60)
    assert interrupts == []
    assert "KeyboardInterrupt" not in capfd.readouterr().err


@pytest.mark.parametrize("content, expected", [
    (None, "is missing (the folder needs 01_cleaning.ipynb, 02_rfm.ipynb"),
    ('{"cells": [', "is not valid JSON (line 1, column 12"),
    ('{"cells": []}', "is not a valid Jupyter notebook"),
    (b"\xff\xfe{", "is not UTF-8 text"),
])
def test_a_missing_or_broken_notebook_is_refused_before_any_work(content, expected, params, notebooks, tmp_path):
    target = notebooks / "04_clustering.ipynb"
    if content is None:
        target.unlink()
    elif isinstance(content, bytes):
        target.write_bytes(content)
    else:
        target.write_text(content, encoding="utf-8")
    reports = tmp_path / "reports"
    with pytest.raises(ReportError) as refused:
        run_report(params, reports_dir=reports, notebooks_dir=notebooks)
    assert str(refused.value).startswith(f"notebook {target} {expected}")
    assert not reports.exists()


def test_a_notebooks_folder_that_does_not_exist_is_refused(params, tmp_path):
    with pytest.raises(ReportError) as refused:
        run_report(params, reports_dir=tmp_path / "reports", notebooks_dir=tmp_path / "nowhere")
    assert f"notebook {tmp_path / 'nowhere' / '01_cleaning.ipynb'} is missing (the folder does not exist)" in str(
        refused.value)


def test_one_message_without_debug_and_the_traceback_with_it(params, notebooks, tmp_path):
    (notebooks / "02_rfm.ipynb").write_text("{", encoding="utf-8")
    message = one_message(segkit_report(params, tmp_path / "r", notebooks))
    assert message.startswith(f"error: notebook {notebooks / '02_rfm.ipynb'} is not valid JSON")
    for args in (["--debug", "report"], ["report", "--debug"]):
        done = subprocess.run([SEGKIT, *args, "-p", str(params), "--out", str(tmp_path / "r"), "--notebooks",
                               str(notebooks)], capture_output=True, text=True, timeout=120)
        assert done.returncode == 2
        assert "Traceback (most recent call last)" in done.stderr and "JSONDecodeError" in done.stderr
        assert done.stderr.strip().splitlines()[-1] == message


def test_a_lock_that_cannot_be_taken_leaves_that_run_alone_and_blocks_no_other(tmp_path):
    reports = tmp_path / "reports"
    (reports / ".x.tmp-abc").mkdir(parents=True)
    (reports / ".x.lock").symlink_to(reports / ".x.lock")  # a loop: opening it fails with ELOOP
    (reports / ".y.tmp-def").mkdir()
    removed = remove_leftovers(reports)
    assert [p.name for p in removed] == [".y.tmp-def"]  # y's leftovers cleared, x's left to its owner
    assert (reports / ".x.tmp-abc").is_dir()


def test_a_month_on_the_command_line_replaces_the_files_as_of(params, notebooks, tmp_path, monkeypatch):
    seen, said = [], []

    def fake(source, target, parameters, cwd, notebook, *args, **kwargs):
        seen.append(parameters["overrides"])
        raise ReportError("stop here")

    monkeypatch.setattr(runner, "execute_notebook", fake)
    with pytest.raises(ReportError):
        run_report(params, month="2024-06", reports_dir=tmp_path / "reports", notebooks_dir=notebooks,
                   progress=said.append)
    from segkit.params import load_params

    effective = load_params(params, seen[0])
    assert (effective.as_of, effective.month, effective.as_of_date.isoformat()) == (None, "2024-06", "2024-06-30")
    assert "--month 2024-06 replaces as_of 2024-12-31 of k.yaml" in said
    assert (tmp_path / "reports" / "k-2024-06.failed").is_dir()
    # the month that ends on the file's as_of replaces nothing: nothing said (trial 42)
    said.clear()
    with pytest.raises(ReportError):
        run_report(params, month="2024-12", reports_dir=tmp_path / "reports", notebooks_dir=notebooks,
                   progress=said.append)
    assert said and not [line for line in said if "replaces as_of" in line], said


def test_a_source_whose_header_lacks_a_column_is_refused_before_any_notebook(notebooks, tmp_path, monkeypatch):
    """The file's header is read first (`check_source`, as `segkit check` does): a column the map
    names that the file lacks is one message naming the file, and no kernel starts, no folder is made."""
    from segkit.errors import DataError

    data = tmp_path / "orders.csv"
    data.write_text("a,b\n1,2\n", encoding="utf-8")
    params = write_params(tmp_path, "k", source={"kind": "file", "transactions": {"path": str(data)}})
    calls = []
    monkeypatch.setattr(runner, "execute_notebook", failing_fake(calls, AssertionError("must not run")))
    reports = tmp_path / "reports"
    with pytest.raises(DataError, match=r'orders\.csv: columns "customer_id" \(for customer_id\), "ordered_at" \(for ordered_at\), "amount" \(for amount\) are not there'):
        run_report(params, reports_dir=reports, notebooks_dir=notebooks)
    assert calls == [] and not reports.exists()


def test_only_segkits_own_errors_are_shown_in_their_words():
    """A DataError that segkit raised is its message; pandas' (or psycopg's) DataError, a bug in the code
    beneath, keeps the notebook, the cell and the exception's name."""
    from segkit.report.runner import _said_by_segkit

    def traceback(file: str, ename: str) -> list[str]:  # as IPython writes it in the executed notebook
        return ["\x1b[31m-----\x1b[39m", f"\x1b[31m{ename}\x1b[39m   Traceback (most recent call last)",
                "\x1b[36mCell\x1b[39m\x1b[32mIn[5]\x1b[39m, line 2\n",
                f"\x1b[36mFile \x1b[39m\x1b[32m{file}:1352\x1b[39m, in \x1b[36mf\x1b[39m()\n",
                f"\x1b[31m{ename}\x1b[39m: the data end on 2025-06-23"]

    assert _said_by_segkit("MonthNotInData", traceback("/x/site-packages/segkit/intake/cleaning.py", "MonthNotInData"))
    assert _said_by_segkit("NotebookExtraMissing", traceback("/work/segkit/tuning.py", "NotebookExtraMissing"))
    assert not _said_by_segkit("DataError", traceback("/x/site-packages/pandas/core/groupby/ops.py", "DataError"))
    assert not _said_by_segkit("ValueError", traceback("/x/site-packages/segkit/features.py", "ValueError"))
    assert not _said_by_segkit("DataError", None)


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_a_file_with_only_its_header_is_refused_by_check_before_any_run(tmp_path, kind):
    import pandas as pd

    from segkit.errors import DataError
    from segkit.intake.sources import check_source
    from segkit.params import Source

    path = tmp_path / f"orders.{kind}"
    empty = pd.DataFrame({"customer_id": pd.Series([], dtype=str), "ordered_at": pd.Series([], dtype=str),
                          "amount": pd.Series([], dtype=float)})
    empty.to_csv(path, index=False) if kind == "csv" else empty.to_parquet(path)
    with pytest.raises(DataError, match=r"orders\.\w+: there are no transactions: the file holds only its header"):
        check_source(Source(kind="file", transactions={"path": str(path)}))
    empty.iloc[:0].assign(customer_id=["c"], ordered_at=["2024-01-01"], amount=[1.0]).pipe(
        lambda one: one.to_csv(path, index=False) if kind == "csv" else one.to_parquet(path))
    check_source(Source(kind="file", transactions={"path": str(path)}))  # one row: nothing to say


def test_check_reads_a_large_files_first_rows_and_exits_cleanly(tmp_path):
    """`segkit check` looks for a row below the header without leaving a reader running: on a 10M-line CSV,
    Arrow's streaming reader abandoned mid-file aborted the process at exit (SIGABRT, exit 134)."""
    from conftest import run_segkit

    path = tmp_path / "orders.csv"
    with path.open("w", encoding="utf-8") as out:
        out.write("customer_id,ordered_at,amount\n")
        out.writelines(f"C{i % 5000},2024-{1 + i % 12:02d}-{1 + i % 28:02d},{i % 97}.50\n" for i in range(400_000))
    params = tmp_path / "p.yaml"
    params.write_text(f"run_name: big\nsource:\n  kind: file\n  transactions:\n    path: {path}\n", encoding="utf-8")
    for _ in range(2):
        done = run_segkit("check", "--params", str(params))
        assert done.returncode == 0, (done.returncode, done.stderr[-500:])


def test_an_existing_report_is_refused_before_the_source_is_looked_at(tmp_path, monkeypatch):
    """A second `segkit report` of a workbook source took 12 s to refuse: it read the workbook's header first."""
    params = write_params(tmp_path)
    (tmp_path / "reports" / "tiny").mkdir(parents=True)
    looked = []
    monkeypatch.setattr(runner, "check_source", lambda *args, **kwargs: looked.append(args))
    with pytest.raises(ReportError, match="already holds a good report of tiny"):
        run_report(params, reports_dir=tmp_path / "reports", pdf=False)
    assert looked == []
