"""The run's kernels (segkit.report.runner.KernelPool): the next notebook's kernel starts while one
runs, with that notebook's imports made when the run is small, or, in a small run, the kernel of a
notebook that ran to its end is handed to the next, cleared; every notebook still starts from a
namespace of its own; no kernel outlives its notebook or the run."""

import json
import os
import time
from pathlib import Path

import nbformat
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from segkit.report import runner
from segkit.report.runner import KernelPool, ReportError, _import_lines, execute_notebook, warm_imports_fit

# colorsys and wave: standard modules that neither ipykernel nor IPython import on their own
CHECK = ('found = sorted(n for n in ("cs", "wave", "dumps") if n in globals())\n'
         'loaded = sorted(m for m in ("colorsys", "wave") if m in __import__("sys").modules)\n'
         'print(__import__("json").dumps({"found": found, "loaded": loaded, "pid": __import__("os").getpid()}))')
IMPORTS = "import colorsys as cs\nimport wave\nfrom json import dumps\nvalue = cs.rgb_to_hsv(1, 0, 0)"


def notebook(path: Path, cells: list[str], parameters: str = "params_path = ''") -> Path:
    """A notebook: its parameters cell (where a check can run before the import cell), then `cells`."""
    made = nbformat.v4.new_notebook()
    made.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    made.cells = [nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}),
                  *map(nbformat.v4.new_code_cell, cells)]
    nbformat.write(made, path)
    return path


def seen(executed: Path) -> dict:
    """What the check cell printed, and the execution counts of the code cells."""
    cells = [c for c in json.loads(executed.read_text())["cells"] if c["cell_type"] == "code"]
    printed = next(o["text"] for c in cells for o in c.get("outputs", []) if o.get("name") == "stdout")
    return {**json.loads("".join(printed)), "counts": [c["execution_count"] for c in cells]}


def gone(pid: int, wait: float = 10.0) -> bool:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def test_the_import_lines_are_the_notebooks_leading_imports_then_a_del_of_every_name(tmp_path):
    source = notebook(tmp_path / "n.ipynb", [IMPORTS, "import math"])
    assert _import_lines(source) == ["import colorsys as cs", "import wave", "from json import dumps",
                                     "del cs", "del wave", "del dumps"]
    dotted = notebook(tmp_path / "d.ipynb", ["import os.path\nimport segkit.report.plots\nfrom a import b as c"])
    assert _import_lines(dotted)[-3:] == ["del os", "del segkit", "del c"]
    # only what the notebook imports before anything else runs: code between imports (a sys.path
    # change) or a cell before the imports could make a fresh kernel load something else
    between = notebook(tmp_path / "b.ipynb", ["import sys\nsys.path.insert(0, 'lib')\nimport helper"])
    assert _import_lines(between) == ["import sys", "del sys"]
    assert _import_lines(notebook(tmp_path / "first.ipynb", ["x = 1", IMPORTS])) == []
    assert _import_lines(notebook(tmp_path / "rel.ipynb", ["from . import rel\nimport json"])) == []
    assert _import_lines(notebook(tmp_path / "star.ipynb", ["import json\nfrom math import *\nimport wave"])) == [
        "import json", "del json"]
    assert _import_lines(notebook(tmp_path / "bad.ipynb", ["import (", IMPORTS])) == []
    (tmp_path / "broken.ipynb").write_text("{not json", encoding="utf-8")
    assert _import_lines(tmp_path / "broken.ipynb") == []


def test_a_failed_start_up_import_leaves_no_name_bound(tmp_path):
    check = 'print(__import__("json").dumps({"found": sorted(n for n in ("wave", "cs") if n in globals())}))'
    source = notebook(tmp_path / "n.ipynb", ["import colorsys as cs\nimport no_such_module_here\nimport wave"],
                      parameters=check)
    with KernelPool() as kernels:
        kernels.prepare(source, tmp_path, warm_imports=True)
        with pytest.raises(runner.ReportError, match="no_such_module_here"):  # the notebook's own cell fails
            execute_notebook(source, tmp_path / "out.ipynb", {}, tmp_path, "n", timeout_s=60, kernels=kernels)
    # at start-up the failing import was skipped and wave imported; each name's `del` on a line of its
    # own unbound both, so the parameters cell, which runs before the import cell, sees neither
    cells = json.loads((tmp_path / "out.ipynb").read_text())["cells"]  # papermill puts a note of the error first
    printed = "".join(next(c for c in cells if "parameters" in c["metadata"].get("tags", []))["outputs"][0]["text"])
    assert json.loads(printed) == {"found": []}


def test_a_next_kernel_that_cannot_start_does_not_stop_this_notebook_or_leave_its_kernel(tmp_path, monkeypatch):
    first, second = notebook(tmp_path / "a.ipynb", [CHECK]), notebook(tmp_path / "b.ipynb", [CHECK])
    started = runner._start_kernel
    calls = []

    def failing_second(cwd, lines, **options):
        calls.append(cwd)
        if len(calls) == 2:
            raise runner.ReportError("the Python kernel could not start (planted)")
        return started(cwd, lines, **options)

    monkeypatch.setattr(runner, "_start_kernel", failing_second)
    with KernelPool() as kernels:
        execute_notebook(first, tmp_path / "a-out.ipynb", {}, tmp_path, "a", timeout_s=60, kernels=kernels, then=second)
        assert kernels._waiting is None
        execute_notebook(second, tmp_path / "b-out.ipynb", {}, tmp_path, "b", timeout_s=60, kernels=kernels)
    a, b = seen(tmp_path / "a-out.ipynb"), seen(tmp_path / "b-out.ipynb")
    assert len(calls) == 3 and gone(a["pid"]) and gone(b["pid"])


@pytest.mark.parametrize("warm", [True, False])
def test_a_prepared_kernel_runs_its_notebook_from_a_fresh_namespace(tmp_path, warm):
    source = notebook(tmp_path / "n.ipynb", [IMPORTS], parameters=CHECK)
    with KernelPool() as kernels:
        kernels.prepare(source, tmp_path, warm_imports=warm)
        prepared = kernels._waiting[1]
        execute_notebook(source, tmp_path / "out.ipynb", {}, tmp_path, "n", timeout_s=60, kernels=kernels)
        assert kernels._waiting is None and kernels._exiting == [prepared]  # taken, used, asked to shut down
    assert not prepared.has_kernel  # seen gone when the pool closed
    result = seen(tmp_path / "out.ipynb")
    # warm: the modules are there, but none of the names the import cell binds before that cell runs
    assert result["found"] == [] and result["loaded"] == (["colorsys", "wave"] if warm else [])
    assert result["counts"] == [1, 2]  # the start-up imports took no execution count
    assert gone(result["pid"])


def test_each_notebook_gets_its_own_kernel_and_none_outlives_the_run(tmp_path):
    first = notebook(tmp_path / "a.ipynb", [CHECK])
    second = notebook(tmp_path / "b.ipynb", [IMPORTS], parameters=CHECK)
    with KernelPool() as kernels:
        execute_notebook(first, tmp_path / "a-out.ipynb", {}, tmp_path, "a", timeout_s=60, kernels=kernels,
                         then=second, warm_imports=True)
        waiting = kernels._waiting[1]
        assert kernels._waiting[0] == second and waiting.has_kernel  # started while `first` ran
        execute_notebook(second, tmp_path / "b-out.ipynb", {}, tmp_path, "b", timeout_s=60, kernels=kernels,
                         then=tmp_path / "c.ipynb")
        left = kernels._waiting[1]  # prepared for a notebook that never comes: stopped with the pool
    a, b = seen(tmp_path / "a-out.ipynb"), seen(tmp_path / "b-out.ipynb")
    assert a["pid"] != b["pid"] and b["loaded"] == ["colorsys", "wave"] and b["found"] == []
    assert gone(a["pid"]) and gone(b["pid"]) and not left.has_kernel


def test_a_kernel_exits_while_the_next_notebook_runs_and_a_failed_ones_at_once(tmp_path):
    """After a notebook that ran to its end, its kernel is only asked to shut down; it is seen gone
    when the next notebook ends (and before that notebook's own kernel is asked). A notebook that
    fails has its kernel shut down before the error leaves execute_notebook."""
    first = notebook(tmp_path / "a.ipynb", [CHECK])
    second = notebook(tmp_path / "b.ipynb", [CHECK])
    failing = notebook(tmp_path / "c.ipynb", ["raise ValueError('stop here')"])
    with KernelPool() as kernels:
        execute_notebook(first, tmp_path / "a-out.ipynb", {}, tmp_path, "a", timeout_s=60, kernels=kernels)
        (asked,) = kernels._exiting
        assert asked.has_kernel and asked.shutting_down
        execute_notebook(second, tmp_path / "b-out.ipynb", {}, tmp_path, "b", timeout_s=60, kernels=kernels)
        assert not asked.has_kernel and len(kernels._exiting) == 1 and kernels._exiting[0] is not asked
        assert gone(seen(tmp_path / "a-out.ipynb")["pid"])
        kernels.prepare(failing, tmp_path)
        used = kernels._waiting[1]
        with pytest.raises(ReportError, match="stop here"):
            execute_notebook(failing, tmp_path / "c-out.ipynb", {}, tmp_path, "c", timeout_s=60, kernels=kernels)
        assert not used.has_kernel and kernels._exiting == []  # shut down at once; the one before seen gone
    assert gone(seen(tmp_path / "b-out.ipynb")["pid"])


def test_a_kernel_prepared_for_another_notebook_is_not_used(tmp_path):
    source, other = notebook(tmp_path / "n.ipynb", [], parameters=CHECK), notebook(tmp_path / "o.ipynb", [IMPORTS])
    with KernelPool() as kernels:
        kernels.prepare(other, tmp_path, warm_imports=True)
        wrong = kernels._waiting[1]
        execute_notebook(source, tmp_path / "out.ipynb", {}, tmp_path, "n", timeout_s=60, kernels=kernels)
        # it still waits for its own notebook (which may start next, beside another); the pool ends it
        assert kernels.waiting_for() == other and wrong.has_kernel
    assert not wrong.has_kernel
    assert seen(tmp_path / "out.ipynb")["loaded"] == []


# what a notebook leaves behind for the next: names, a figure, a warning said once from a module, another folder
LEAVES = ('import os, sys, wave\nsys.path.insert(0, os.getcwd())\nimport warner\nimport matplotlib\n'
          'import segkit.crosssell.category_mix, segkit.crosssell.rules, segkit.models.clv\n'
          'segkit.models.clv._KEPT_INDEX["key"] = "a notebook\'s"\n'
          'matplotlib.use("agg")\nimport matplotlib.pyplot as plt\nleft = 1\nplt.figure()\nwarner.warn()\nos.chdir("/")')
FINDS = ('import json, os, sys\nimport matplotlib.pyplot as plt\nimport warner\nwarner.warn()\n'
         'print(json.dumps({"found": sorted(n for n in ("left", "wave", "plt", "warner") if n in globals()),\n'
         '                  "kept": sys.modules["segkit.models.clv"]._KEPT_INDEX,\n'
         '                  "loaded": "wave" in sys.modules, "figures": len(plt.get_fignums()),\n'
         '                  "folder": os.getcwd(), "log": os.environ.get("SEGKIT_STAGE_LOG"), "pid": os.getpid()}))')


def said(executed: Path) -> str:
    """What the notebook's cells wrote to stderr."""
    cells = json.loads(executed.read_text())["cells"]
    return "".join("".join(o.get("text", "")) for c in cells for o in c.get("outputs", []) if o.get("name") == "stderr")


def test_a_kernel_handed_over_runs_the_next_notebook_as_a_fresh_kernel_would_with_its_modules_kept(
        tmp_path, monkeypatch):
    monkeypatch.setenv(runner.STAGE_LOG_DIR, str(tmp_path / "logs"))
    (tmp_path / "warner.py").write_text("import warnings\n\ndef warn():\n    warnings.warn('said once', UserWarning)\n")
    first = notebook(tmp_path / "a.ipynb", [LEAVES, "x = 2"])
    second = notebook(tmp_path / "b.ipynb", ["y = 3", FINDS])
    with KernelPool() as kernels:
        execute_notebook(first, tmp_path / "a-out.ipynb", {}, tmp_path, "a", timeout_s=60, kernels=kernels,
                         then=second, warm_imports=True, hand_over=True)
        handed = kernels._waiting[1]
        assert kernels.waiting_for() == second and kernels._exiting == [] and handed.clients == []
        asked = []  # it has just answered its clearing: not asked again whether it answers
        monkeypatch.setattr(runner, "_answers", lambda kernel, *a, **k: asked.append(kernel) or True)
        execute_notebook(second, tmp_path / "b-out.ipynb", {}, tmp_path, "b", timeout_s=60, kernels=kernels)
        assert kernels._exiting == [handed] and asked == []  # then released as any kernel
    result = seen(tmp_path / "b-out.ipynb")
    assert result["found"] == ["plt", "warner"] and result["loaded"]  # only its own names; the modules stay
    assert result["figures"] == 0 and result["kept"] == {}  # the first notebook's figures closed, its data dropped
    assert "said once" in said(tmp_path / "a-out.ipynb") and "said once" in said(tmp_path / "b-out.ipynb")
    assert result["folder"] == str(tmp_path) and result["log"] == str(tmp_path / "logs" / "b.jsonl")
    assert result["counts"] == [1, 2, 3]  # numbered from 1, as in a kernel of its own
    assert gone(result["pid"])
    assert [c["execution_count"] for c in json.loads((tmp_path / "a-out.ipynb").read_text())["cells"]] == [1, 2, 3]


def test_a_kernel_is_handed_over_only_from_a_notebook_that_ran_to_its_end_in_a_run_one_at_a_time(tmp_path):
    failing = notebook(tmp_path / "f.ipynb", ["raise ValueError('stop here')"])
    second, third = notebook(tmp_path / "b.ipynb", [CHECK]), notebook(tmp_path / "c.ipynb", [CHECK])
    with KernelPool() as kernels:
        with pytest.raises(ReportError, match="stop here"):
            execute_notebook(failing, tmp_path / "f-out.ipynb", {}, tmp_path, "f", timeout_s=60, kernels=kernels,
                             then=second, hand_over=True)
        assert kernels._waiting is None  # neither handed over nor a kernel started for `second`
        kernels.one_thread_each = True  # notebooks side by side: each starts its own kernel, as before
        execute_notebook(second, tmp_path / "b-out.ipynb", {}, tmp_path, "b", timeout_s=60, kernels=kernels,
                         then=third, hand_over=True)
        assert kernels.waiting_for() == third and len(kernels._exiting) == 1  # a new kernel waits, b's exits
        assert kernels._waiting[1].provisioner.process.pid != seen(tmp_path / "b-out.ipynb")["pid"]
    # a kernel waits already for the next notebook: the finished one is not handed over
    with KernelPool() as kernels:
        kernels.prepare(third, tmp_path)
        waiting = kernels._waiting[1]
        execute_notebook(second, tmp_path / "b2-out.ipynb", {}, tmp_path, "b", timeout_s=60, kernels=kernels)
        assert not kernels.hand_over(kernels._exiting[0], third, tmp_path) and kernels._waiting[1] is waiting


def test_a_kernel_that_cannot_be_cleared_is_released_and_the_next_notebook_starts_its_own(tmp_path, monkeypatch):
    first, second = notebook(tmp_path / "a.ipynb", [CHECK]), notebook(tmp_path / "b.ipynb", [CHECK])
    monkeypatch.setattr(runner, "CLEAR_FOR_NEXT", "raise RuntimeError('planted')")
    with KernelPool() as kernels:
        execute_notebook(first, tmp_path / "a-out.ipynb", {}, tmp_path, "a", timeout_s=60, kernels=kernels,
                         then=second, hand_over=True)
        assert kernels._waiting is None and len(kernels._exiting) == 1
        execute_notebook(second, tmp_path / "b-out.ipynb", {}, tmp_path, "b", timeout_s=60, kernels=kernels)
    a, b = seen(tmp_path / "a-out.ipynb"), seen(tmp_path / "b-out.ipynb")
    assert a["pid"] != b["pid"] and gone(a["pid"]) and gone(b["pid"])


def test_kernels_are_handed_over_only_in_a_run_known_to_be_small_and_not_on_spark(tmp_path, monkeypatch):
    from segkit.params import load_params

    from conftest import write_params

    demo = load_params(write_params(tmp_path, "d"))
    assert runner.hand_over_fits(tmp_path, demo)  # before 01 has saved the features: bundled data of known size
    big = demo.model_copy(update={"source": demo.source.model_copy(update={
        "demo": demo.source.demo.model_copy(update={"customers": runner.HAND_OVER_MAX_CUSTOMERS + 1})})})
    assert not runner.hand_over_fits(tmp_path, big)
    (tmp_path / "orders.csv").write_text("customer_id,order_id,ordered_at,amount\nc,o,2024-01-01,1\n")
    params = load_params(write_params(tmp_path, "f", source={"kind": "file", "transactions": {"path": "orders.csv"}}))
    assert not runner.hand_over_fits(tmp_path, params)  # a file: its size is known once 01 has saved the features
    pq.write_table(pa.table({"customer_id": ["a", "b", "c"]}), tmp_path / "features.parquet")
    assert runner.hand_over_fits(tmp_path, params)
    monkeypatch.setattr(runner, "HAND_OVER_MAX_CUSTOMERS", 2)
    assert not runner.hand_over_fits(tmp_path, params)
    monkeypatch.setattr(runner, "HAND_OVER_MAX_CUSTOMERS", 3)
    assert runner.hand_over_fits(tmp_path, params, "07_cross_sell")  # a small run hands over to every notebook
    monkeypatch.setattr(runner, "WARM_IMPORTS_MAX_CUSTOMERS", 2)
    assert not runner.hand_over_fits(tmp_path, params, "07_cross_sell")  # above it, 07 starts a kernel of its own
    assert runner.hand_over_fits(tmp_path, params, "08_case_study")
    spark = params.model_copy(update={"source": params.source.model_copy(update={"kind": "spark"})})
    assert not runner.hand_over_fits(tmp_path, spark)


def test_imports_wait_in_the_next_kernel_only_for_a_run_known_to_be_small(tmp_path, monkeypatch):
    assert not warm_imports_fit(tmp_path)  # 01 has not saved the features yet
    pq.write_table(pa.table({"customer_id": ["a", "b", "c"]}), tmp_path / "features.parquet")
    assert warm_imports_fit(tmp_path)
    monkeypatch.setattr(runner, "WARM_IMPORTS_MAX_CUSTOMERS", 2)
    assert not warm_imports_fit(tmp_path)
    (tmp_path / "features.parquet").write_bytes(b"not parquet")
    monkeypatch.setattr(runner, "WARM_IMPORTS_MAX_CUSTOMERS", 10)
    assert not warm_imports_fit(tmp_path)



def test_above_the_small_size_imports_wait_only_beside_a_light_notebook(tmp_path, monkeypatch):
    """Between WARM_IMPORTS_MAX_CUSTOMERS and WARM_BESIDE_LIGHT_MAX_CUSTOMERS the next kernel makes its
    imports only while a notebook outside HEAVY_KERNELS runs; above both, never."""
    pq.write_table(pa.table({"customer_id": [str(i) for i in range(6)]}), tmp_path / "features.parquet")
    monkeypatch.setattr(runner, "WARM_IMPORTS_MAX_CUSTOMERS", 5)
    monkeypatch.setattr(runner, "WARM_BESIDE_LIGHT_MAX_CUSTOMERS", 6)
    assert warm_imports_fit(tmp_path, beside="02_rfm") and warm_imports_fit(tmp_path, beside="06_migration")
    assert not any(warm_imports_fit(tmp_path, beside=heavy) for heavy in runner.HEAVY_KERNELS)
    assert not warm_imports_fit(tmp_path)  # nothing said of the notebook beside it
    monkeypatch.setattr(runner, "WARM_BESIDE_LIGHT_MAX_CUSTOMERS", 5)
    assert not warm_imports_fit(tmp_path, beside="02_rfm")
    monkeypatch.setattr(runner, "WARM_IMPORTS_MAX_CUSTOMERS", 6)  # small: beside any notebook
    assert all(warm_imports_fit(tmp_path, beside=name) for name in (*runner.HEAVY_KERNELS, "02_rfm"))

def test_the_bundled_data_of_known_size_warms_the_second_kernel_too(tmp_path):
    from segkit.params import load_params

    from conftest import write_params

    demo = load_params(write_params(tmp_path, "d"))
    assert demo.source.kind == "demo" and warm_imports_fit(tmp_path, demo)
    big = demo.model_copy(update={"source": demo.source.model_copy(update={
        "demo": demo.source.demo.model_copy(update={"customers": runner.HAND_OVER_MAX_CUSTOMERS + 1})})})
    assert not warm_imports_fit(tmp_path, big)
    cdnow = demo.model_copy(update={"source": demo.source.model_copy(update={"kind": "cdnow"})})
    assert warm_imports_fit(tmp_path, cdnow)
    pq.write_table(pa.table({"customer_id": [str(i) for i in range(5)]}), tmp_path / "features.parquet")
    with pytest.MonkeyPatch.context() as patch:  # once 01 has counted the customers, the count decides
        patch.setattr(runner, "WARM_IMPORTS_MAX_CUSTOMERS", 4)
        assert not warm_imports_fit(tmp_path, cdnow)


def test_a_kernel_that_does_not_stop_when_asked_is_ended_without_hiding_the_runs_error(tmp_path):
    from segkit.report.runner import _shutdown, _start_kernel

    kernel = _start_kernel(tmp_path, [])
    pid = kernel.provisioner.process.pid
    polite = type(kernel).shutdown_kernel

    async def refusing(self, now=False, restart=False):
        if not now:
            raise RuntimeError("planted: the kernel did not answer")
        await polite(self, now=now, restart=restart)

    type(kernel).shutdown_kernel = refusing  # the class is this kernel's own
    _shutdown(kernel)  # no error of its own
    assert gone(pid) and not kernel.has_kernel


def test_a_kernel_that_dies_as_it_starts_is_replaced(tmp_path, monkeypatch):
    # as when another process takes one of its ports before it binds them ("Address already in use")
    source = notebook(tmp_path / "n.ipynb", [], parameters=CHECK)
    monkeypatch.setattr(runner, "_import_lines", lambda path: ["import os", "os._exit(3)"])
    with KernelPool() as kernels:
        kernels.prepare(source, tmp_path, warm_imports=True)
        dying = kernels._waiting[1]
        execute_notebook(source, tmp_path / "out.ipynb", {}, tmp_path, "n", timeout_s=60, kernels=kernels)
        assert not dying.has_kernel
    result = seen(tmp_path / "out.ipynb")
    assert result["found"] == [] and gone(result["pid"])


def test_a_warm_kernel_also_imports_the_segkit_modules_the_notebook_reads(tmp_path):
    from segkit.report.runner import _segkit_modules, _warm_lines

    code = ["import segkit\nfrom segkit import heading, say\np = segkit.load_params(params_path, [])",
            "# segkit.store.load_stage in a comment costs an import, never a wrong result\n"
            "stage = segkit.models.cluster.cluster_stage(f)\nsegkit.no_such_name\nsegkit.load_params(x)"]
    source = notebook(tmp_path / "n.ipynb", code)
    assert sorted(_segkit_modules(source)) == ["segkit.features", "segkit.models.cluster", "segkit.params",
                                               "segkit.report.html", "segkit.store"]
    lines = _warm_lines(source)
    assert lines[:4] == ["import segkit", "from segkit import heading, say", "del segkit", "del heading"]
    assert "import segkit.models.cluster as _warm" in lines and lines[-1] == "del _warm"
    assert _segkit_modules(tmp_path / "missing.ipynb") == []
    assert _segkit_modules(notebook(tmp_path / "long.ipynb", ["segkit." + "x" * 300])) == []  # no OSError
    assert _warm_lines(notebook(tmp_path / "bare.ipynb", ["x = segkit.load_stage"])) == []  # no imports: nothing

    check = ('import sys, json\nprint(json.dumps({"loaded": sorted(m for m in ("segkit.models.cluster", "sklearn", '
             '"segkit.store") if m in sys.modules), "bound": sorted(n for n in ("segkit", "_warm") if n in globals()), '
             '"pid": 0}))')
    warm = notebook(tmp_path / "w.ipynb", ["import segkit\nc = segkit.models.cluster.cluster_stage\ns = segkit.load_stage"],
                    parameters=check)
    with KernelPool() as kernels:
        kernels.prepare(warm, tmp_path, warm_imports=True)
        execute_notebook(warm, tmp_path / "w-out.ipynb", {}, tmp_path, "w", timeout_s=120, kernels=kernels)
    printed = seen(tmp_path / "w-out.ipynb")
    # before the import cell: the modules are loaded (scikit-learn with the clustering), no name is bound
    assert printed["loaded"] == ["segkit.models.cluster", "segkit.store", "sklearn"] and printed["bound"] == []


def test_a_kernel_drops_only_the_closed_socket_errors_it_would_print_while_it_stops(tmp_path):
    """A kernel asked to stop while closing its sockets logged a ZMQError traceback to the terminal of
    a run stopped with SIGTERM; other errors of the same logger still reach stderr."""
    check = ('bound = [name for name in ("logging", "zmq") if name in globals()]\n'
             'import logging, sys, zmq\n'
             'logger = logging.getLogger("tornado.general")\n'
             'def shown(error):\n'
             '    record = logger.makeRecord(logger.name, logging.ERROR, "f", 1, "Uncaught exception in ZMQStream "\n'
             '                               "callback", (), (type(error), error, None))\n'
             '    return all(f(record) if callable(f) else f.filter(record) for f in logger.filters)\n'
             'print(__import__("json").dumps({"zmq": shown(zmq.error.ZMQError(88)), "other": shown(ValueError("x")),\n'
             '                                "bound": bound}))')
    source = notebook(tmp_path / "q.ipynb", ["x = 1"], parameters=check)
    with KernelPool() as kernels:
        kernels.prepare(source, tmp_path)
        execute_notebook(source, tmp_path / "out.ipynb", {}, tmp_path, "q", timeout_s=60, kernels=kernels)
    cells = json.loads((tmp_path / "out.ipynb").read_text())["cells"]
    printed = "".join(next(c for c in cells if "parameters" in c["metadata"].get("tags", []))["outputs"][0]["text"])
    assert json.loads(printed) == {"zmq": False, "other": True, "bound": []}  # and no name left in the notebook


def test_each_module_that_keeps_a_notebooks_data_forgets_it_when_asked():
    import importlib

    kept = {"segkit.crosssell.category_mix": ("_CACHED", "_CODES"), "segkit.crosssell.rules": ("_BASKET_CODES",),
            "segkit.models.clv": ("_KEPT_ROWS", "_KEPT_INDEX")}
    assert set(runner.KEEPING_MODULES) == set(kept)
    for name, caches in kept.items():
        module = importlib.import_module(name)
        saved = {cache: dict(getattr(module, cache)) for cache in caches}
        for cache in caches:
            getattr(module, cache)["planted"] = 1
        module.forget_cached()
        assert all(getattr(module, cache) == {} for cache in caches), name
        for cache in caches:
            getattr(module, cache).update(saved[cache])
