"""What a notebook's import cell loads (issue 15: the fixed cost of a report): segkit.report.plots and
segkit.crosssell import their heavy libraries where they are used, every public name still resolves,
and what was made lazy gives the same results; the runner's warm kernels and its papermill engine.

Import checks run in a fresh interpreter: within this test process everything is long imported.
"""

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DRAWING = ("seaborn", "scipy.stats", "matplotlib.pyplot", "sklearn", "ibis", "duckdb")


def loaded_after(code: str, modules=DRAWING) -> list[str]:
    """Which of `modules` a fresh interpreter has loaded after running `code`."""
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(m for m in {tuple(modules)!r} if m in sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_import_cell_of_the_notebooks_loads_no_drawing_or_engine_library():
    cell = ("import segkit\nfrom segkit import crosssell, heading, say\nfrom segkit.crosssell import tables\n"
            "from segkit.report import cluster_text, plots, tables\nfrom segkit.report import evaluation_tables\n"
            "from segkit.report.html import reading, say_each, table\nplots.use_language('en')")
    assert loaded_after(cell) == []


def test_reading_the_params_loads_no_model_library():
    """`load_params` checks the clustering features' names without importing scikit-learn or scipy
    (segkit.models.cluster): every notebook's first cell reads the params."""
    code = "import segkit\np = segkit.load_params('params/demo.yaml', [])\nassert p.cluster.features is not None"
    assert loaded_after(code, ("sklearn", "scipy", "seaborn", "matplotlib.pyplot")) == []


def test_drawing_a_chart_still_imports_what_it_needs():
    assert loaded_after("import pandas as pd\nfrom segkit.report import plots\n"
                        "plots.pareto_curve(pd.Series([5.0, 3.0, 1.0, 1.0]), 'en')",
                        ("matplotlib.pyplot",)) == ["matplotlib.pyplot"]
    assert "seaborn" in loaded_after("import pandas as pd\nfrom segkit.report import plots\n"
                                     "plots.score_distribution(pd.DataFrame({'r_score': [1, 2], 'f_score': [1, 1], "
                                     "'m_score': [2, 2]}), 'en')", ("seaborn",))


def test_the_heatmap_colour_maps_are_seaborns():
    import matplotlib.colors
    import seaborn as sns

    from segkit.report import plots

    x = np.linspace(0, 1, 1001)
    assert np.array_equal(plots.SEQUENTIAL(x), sns.light_palette(plots.PALETTE[0], as_cmap=True)(x))
    diverging = sns.blend_palette([plots.PALETTE[0], "#f7f7f7", plots.PALETTE[3]], as_cmap=True)
    assert np.array_equal(plots.DIVERGING(x), diverging(x))
    assert plots.SEQUENTIAL.name == "blend" and plots.SEQUENTIAL.N == 256
    assert matplotlib.colors.to_hex(plots.SEQUENTIAL(1.0)) == plots.PALETTE[0]


def test_use_language_sets_the_same_matplotlib_settings():
    import matplotlib

    from segkit.report import plots

    assert plots.use_language("en") is None
    assert matplotlib.rcParams["font.sans-serif"] == ["DejaVu Sans"] and not matplotlib.rcParams["text.parse_math"]
    assert matplotlib.rcParams["figure.dpi"] == 100 and matplotlib.rcParams["savefig.dpi"] == 110
    assert not matplotlib.rcParams["axes.unicode_minus"]


def test_every_public_name_of_segkit_and_crosssell_resolves():
    import segkit
    import segkit.crosssell as crosssell

    for name in segkit.__all__:
        assert getattr(segkit, name) is not None, name
    for name in crosssell.__all__:
        value = getattr(crosssell, name)
        assert value is getattr(sys.modules[value.__module__], name), name
    modules = {"campaigns", "category_mix", "rules", "summaries"}
    assert set(crosssell.__all__) <= set(dir(crosssell)) and modules <= set(dir(crosssell))
    assert crosssell.tables.__name__ == "segkit.crosssell.tables"  # a module as an attribute, imported on use


def test_crosssell_category_mix_is_the_function_whichever_name_is_imported_first():
    # the module segkit.crosssell.category_mix, imported by another name's module, must not replace it
    code = ("from segkit.crosssell import baskets, category_mix, rules\nimport segkit.crosssell as c\n"
            "print(callable(category_mix), callable(c.category_mix), type(rules).__name__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["True", "True", "module"]


def test_from_crosssell_import_and_unknown_names():
    out = subprocess.run([sys.executable, "-c", "from segkit.crosssell import Purchases, wilson_interval, tables\n"
                          "import segkit.crosssell as c\nprint(Purchases.__name__, wilson_interval.__name__, "
                          "tables.__name__, sorted(set(c.__all__) - set(dir(c))))"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["Purchases", "wilson_interval", "segkit.crosssell.tables", "[]"]
    import segkit.crosssell as crosssell

    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        crosssell.no_such_name
    with pytest.raises(ImportError):
        exec("from segkit.crosssell import no_such_name", {})


def test_wilson_interval_is_scipys_wilson_interval_with_nan_for_no_trials():
    from scipy.stats import binomtest

    from segkit.crosssell import wilson_interval

    successes, trials = [0, 3, 5, 0, 1], [10, 7, 5, 0, 1]
    low, high = wilson_interval(successes, trials, confidence=0.9)
    for k, n, lo, hi in zip(successes, trials, low, high):
        if n == 0:
            assert np.isnan(lo) and np.isnan(hi)
        else:
            ci = binomtest(k, n).proportion_ci(confidence_level=0.9, method="wilson")
            assert (lo, hi) == (ci.low, ci.high)
    assert [len(a) for a in wilson_interval([], [])] == [0, 0]


def notebook(path: Path, first_cell: str) -> Path:
    made = nbformat.v4.new_notebook()
    made.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    made.cells = [nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
                  nbformat.v4.new_code_cell(first_cell)]
    nbformat.write(made, path)
    return path


@pytest.mark.parametrize("cell, drawing", [
    ("import segkit\nfrom segkit.report import plots\np = 1", True),
    ("import segkit\nfrom segkit.report import cluster_text, plots", True),
    ("import segkit.report.plots", True),
    ("import segkit\nfrom segkit.report.html import table", False),
    ("import json", False),
    ("x = 2\nfrom segkit.report import plots", False),  # not a leading import: nothing is warmed
])
def test_a_warm_kernel_also_imports_what_the_charts_import_when_the_notebook_uses_plots(tmp_path, cell, drawing):
    from segkit.report.runner import DRAWING_MODULES, _import_lines, _warm_lines

    source = notebook(tmp_path / "n.ipynb", cell)
    lines, imports = _warm_lines(source), _import_lines(source)
    assert lines[:len(imports)] == imports
    extra = lines[len(imports):]  # the segkit modules the code reads, then the drawing modules
    warmed = [f"import {module} as _warm" in extra for module in DRAWING_MODULES]
    assert warmed == [drawing] * len(DRAWING_MODULES)
    assert extra == [] or (extra[-1] == "del _warm" and extra.count("del _warm") == 1)
    if not imports:
        assert lines == []


def test_the_runs_papermill_engine_saves_at_the_ends_and_keeps_every_cells_record(tmp_path, monkeypatch):
    import papermill.engines

    from segkit.report.runner import execute_notebook

    saves = []
    writing = papermill.engines.write_ipynb
    monkeypatch.setattr(papermill.engines, "write_ipynb", lambda nb, path: (saves.append(path), writing(nb, path)))
    source = notebook(tmp_path / "n.ipynb", "y = x + 1")
    made = nbformat.read(source, as_version=4)
    made.cells += [nbformat.v4.new_code_cell(f"print({i})") for i in range(10)]
    nbformat.write(made, source)
    execute_notebook(source, tmp_path / "out.ipynb", {"x": 3}, tmp_path, "n", timeout_s=60)
    executed = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    records = [cell.metadata.papermill for cell in executed.cells]
    assert all(r["status"] == "completed" and r["duration"] is not None and r["start_time"] for r in records)
    assert executed.cells[-1].outputs[0]["text"] == "9\n"
    assert 1 <= len(saves) <= 2  # the start and the end; papermill's own engine saves twice a cell too (28 here)


def test_a_failing_cell_is_still_recorded_in_the_executed_notebook(tmp_path):
    from segkit.report.runner import ReportError, execute_notebook

    source = notebook(tmp_path / "n.ipynb", "raise ValueError('planted')")
    with pytest.raises(ReportError, match="planted"):
        execute_notebook(source, tmp_path / "out.ipynb", {}, tmp_path, "n", timeout_s=60)
    executed = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert executed.cells[-1].metadata.papermill["status"] == "failed"
    assert executed.cells[-1].metadata.papermill["exception"]


def test_a_cell_that_times_out_is_named_from_the_executed_notebook(tmp_path):
    from segkit.report.runner import ReportError, execute_notebook

    source = notebook(tmp_path / "n.ipynb", "import time\ntime.sleep(30)")
    with pytest.raises(ReportError, match="stopped in cell 2"):
        execute_notebook(source, tmp_path / "out.ipynb", {}, tmp_path, "n", timeout_s=2)
    assert nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[-1].metadata.papermill["start_time"]


@pytest.mark.parametrize("subsetter, slowly", [(None, True), (object(), False)])
def test_the_pdf_says_when_weasyprint_subsets_fonts_without_harfbuzz(monkeypatch, subsetter, slowly):
    from weasyprint.text import ffi

    from segkit.report.pages import fonts_subset_slowly

    monkeypatch.setattr(ffi, "harfbuzz_subset", subsetter, raising=False)
    assert fonts_subset_slowly() is slowly


def test_the_pdf_keeps_the_font_hints_only_when_fonts_are_subset_slowly(tmp_path, monkeypatch):
    from weasyprint.document import Document

    from segkit.report import pages

    (tmp_path / "index.html").write_text('<html lang="en"><head><style>p {}</style></head><body><p>index</p></body></html>')
    (tmp_path / "02_rfm.html").write_text("<html><head><title>t</title></head><body><p>RFM page</p></body></html>")
    options = []
    monkeypatch.setattr(Document, "write_pdf", lambda self, target, **kwargs: options.append(kwargs))
    for slowly in (True, False):
        monkeypatch.setattr(pages, "fonts_subset_slowly", lambda: slowly)
        pages.write_pdf(tmp_path, tmp_path / "report.pdf", ("02_rfm",))
    assert options == [{"hinting": True}, {"hinting": False}]
