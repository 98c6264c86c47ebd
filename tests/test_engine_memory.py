"""The embedded engine's memory cap (1GB, or SEGKIT_ENGINE_MEMORY): large tables, joins and sorts
spill to this process's own folder instead of growing the process."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hidden_modules import without_modules
from segkit.errors import DataError
from segkit.intake.sources import connect


def setting(con, name: str) -> str:
    return con.raw_sql(f"SELECT current_setting('{name}')").fetchone()[0]


def test_the_engine_is_capped_by_default_and_by_the_environment(monkeypatch, tmp_path):
    import duckdb

    monkeypatch.delenv("SEGKIT_ENGINE_MEMORY", raising=False)
    default = connect()
    assert setting(default, "memory_limit").replace(" ", "") in ("953.6MiB", "1.0GB")
    duckdb_own = duckdb.connect().execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    assert duckdb_own != setting(default, "memory_limit")  # not DuckDB's 80% of the machine
    monkeypatch.setenv("SEGKIT_ENGINE_MEMORY", "256MB")
    capped = connect()
    assert setting(capped, "memory_limit").replace(" ", "") in ("244.1MiB", "256.0MB")
    spill = Path(setting(capped, "temp_directory"))
    assert spill.name.startswith("segkit-engine-") and spill.is_dir()
    assert setting(default, "temp_directory") == str(spill)  # one folder per process, its own


def test_each_process_spills_to_a_folder_of_its_own_removed_at_exit(tmp_path):
    script = ("from segkit.intake.sources import connect\n"
              "print(connect().raw_sql(\"SELECT current_setting('temp_directory')\").fetchone()[0])")
    folders = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.strip()
               for _ in range(2)]
    assert folders[0] != folders[1]
    assert all(Path(f).name.startswith("segkit-engine-") and not Path(f).exists() for f in folders)


def test_a_join_larger_than_the_cap_spills_and_finishes(monkeypatch):
    monkeypatch.setenv("SEGKIT_ENGINE_MEMORY", "64MB")
    con = connect()
    rows = con.raw_sql("SELECT count(*) FROM range(3000000) a JOIN (SELECT range AS b FROM range(3000000)) "
                       "ON a.range = b").fetchone()[0]
    assert rows == 3_000_000


def test_a_size_duckdb_cannot_read_is_one_clear_message(monkeypatch):
    monkeypatch.setenv("SEGKIT_ENGINE_MEMORY", "lots")
    with pytest.raises(DataError, match=r"SEGKIT_ENGINE_MEMORY='lots' is not a memory size DuckDB reads"):
        connect()


def test_the_engines_out_of_memory_error_in_a_notebook_says_what_to_do(monkeypatch):
    """The advice the runner adds to a notebook's failure matches the error DuckDB really raises."""
    from segkit.report.runner import _engine_advice

    monkeypatch.setenv("SEGKIT_ENGINE_MEMORY", "2MB")
    with pytest.raises(Exception) as raised:
        connect().raw_sql("SELECT list(range ORDER BY random()) FROM range(5000000)").fetchall()
    advice = _engine_advice(type(raised.value).__name__)
    assert "SEGKIT_ENGINE_MEMORY=2MB" in advice and "SEGKIT_ENGINE_MEMORY=4GB segkit report" in advice
    assert _engine_advice("ValueError") == ""


SPARK_OOM = """An error occurred while calling o148.getResult.
: org.apache.spark.SparkException: Exception thrown in awaitResult: 
	at org.apache.spark.util.SparkThreadUtils$.awaitResult(SparkThreadUtils.scala:53)
	at py4j.Gateway.invoke(Gateway.java:282)
Caused by: org.apache.spark.SparkException: Job aborted due to stage failure: Task 0 in stage 50.0 failed 1 times, most recent failure: Lost task 0.0 in stage 50.0 (TID 34) (192.0.2.2 executor driver): org.apache.spark.memory.SparkOutOfMemoryError: No enough memory for aggregation
	at org.apache.spark.sql.catalyst.expressions.GeneratedClass$GeneratedIteratorForCodegenStage16.hashAgg_doConsume_2$(Unknown Source)
"""


def test_sparks_out_of_memory_error_names_the_driver_memory_setting():
    """Spark's error reaches the runner as a Py4JJavaError whose text starts with JVM stack frames (the
    head of the one seen at 10M lines with the default 1g driver): the message shows its cause and the
    setting to change."""
    from segkit.report.runner import _engine_advice, _java_cause

    cause = _java_cause(SPARK_OOM)
    assert cause.startswith("org.apache.spark.SparkException: Job aborted")
    assert cause.endswith("SparkOutOfMemoryError: No enough memory for aggregation")
    advice = _engine_advice("Py4JJavaError", SPARK_OOM)
    assert "spark.driver.memory: 6g" in advice and "source.spark.config" in advice
    assert "SEGKIT_ENGINE_MEMORY" not in advice
    assert _engine_advice("Py4JJavaError", "An error occurred: java.io.FileNotFoundException: x") == ""
    assert _java_cause("ValueError: plain text") == "ValueError: plain text"


@pytest.mark.parametrize("chosen", [None, "system"])
def test_the_runs_kernels_use_arrows_jemalloc_pool_unless_the_user_chose_one(tmp_path, monkeypatch, chosen):
    """A run's kernels start in batch mode with Arrow's jemalloc pool (it gives freed memory back), or
    with the pool the user set; the runner's own environment is left as it was."""
    import nbformat

    from segkit.report import runner

    if chosen:
        monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", chosen)
    else:
        monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    monkeypatch.delenv("SEGKIT_BATCH", raising=False)
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell('params_path = ""\ndata_dir = ""\noverrides = []',
                                                metadata={"tags": ["parameters"]}),
                      nbformat.v4.new_code_cell("import os, pathlib, pyarrow\npathlib.Path(data_dir).write_text("
                                                "pyarrow.default_memory_pool().backend_name + ' ' + os.environ['SEGKIT_BATCH'])")]
    source, out = tmp_path / "probe.ipynb", tmp_path / "pool.txt"
    nbformat.write(notebook, source)
    runner.execute_notebook(source, tmp_path / "executed.ipynb", {"params_path": "", "data_dir": str(out),
                                                                   "overrides": []}, tmp_path, "probe")
    assert out.read_text() == f"{chosen or 'jemalloc'} 1"
    assert os.environ.get("ARROW_DEFAULT_MEMORY_POOL") == chosen and "SEGKIT_BATCH" not in os.environ


def test_a_full_disk_under_the_engines_spill_folder_names_the_folder_tmpdir_and_the_cap(monkeypatch):
    """The error DuckDB raised when 50M lines spilled onto a full disk (IOException in 01_cleaning):
    the runner's advice says where the spill goes and the two ways out."""
    import tempfile

    from segkit.report.runner import _engine_advice

    monkeypatch.delenv("SEGKIT_ENGINE_MEMORY", raising=False)
    evalue = ('IO Error: Could not write file "/tmp/segkit-engine-074m67on/duckdb_temp_3391_0_storage_S128K-2.tmp": '
              "No space left on device")
    advice = _engine_advice("IOException", evalue)
    assert tempfile.gettempdir() in advice and "SEGKIT_ENGINE_MEMORY=1GB" in advice
    assert "TMPDIR=" in advice and "SEGKIT_ENGINE_MEMORY=4GB segkit report" in advice
    assert _engine_advice("IOException", 'IO Error: Could not write file "/data/x.parquet": No space left on device') == ""


SHOWS_BAR = ("from segkit.intake.sources import connect\n"
             "print(connect().raw_sql(\"SELECT current_setting('enable_progress_bar')\").fetchone()[0])")


@pytest.mark.parametrize(("batch", "widgets"), [(True, True), (False, True), (True, False)])
def test_a_report_kernel_draws_no_progress_bar_for_the_engine(batch, widgets, tmp_path):
    # in a Jupyter kernel DuckDB draws an ipywidgets bar for each query over 2 s: in a report's kernels
    # (batch kernels, SEGKIT_BATCH, as `segkit report` starts them) nobody watches it, and its empty output
    # areas stayed in the pages (nine in 01_cleaning at 10M lines, none with the bar off); in JupyterLab the
    # analyst sees it
    from jupyter_client.manager import start_new_kernel

    from segkit.report.runner import _kernel_environment

    env = {k: v for k, v in os.environ.items() if k != "SEGKIT_BATCH"}
    if batch:
        env.update(_kernel_environment())
    if not widgets:  # as installed by `./run.sh demo` (no notebook extra): DuckDB refuses the setting there
        env.update(without_modules(tmp_path, ["ipywidgets"]))
    manager, client = start_new_kernel(kernel_name="python3", env=env)
    printed = []
    try:
        reply = client.execute_interactive(SHOWS_BAR, timeout=120, output_hook=lambda m: printed.append(
            m["content"].get("text", "")) if m["msg_type"] == "stream" else None)
        assert reply["content"]["status"] == "ok"
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert "".join(printed).strip() == str(not batch)  # without ipywidgets too (DuckDB sets it, then complains)
