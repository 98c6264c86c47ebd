"""Every chart in the report has a short "how to read this" line under it (issue 13): in every notebook a
chart cell is followed by a `reading(...)` cell with a catalogue sentence in both languages, shown
exactly when the chart is (the same condition)."""

from __future__ import annotations

import ast
import base64
import io
import json

import nbformat
import pytest

from conftest import ROOT
from segkit.i18n import messages
from segkit.report import plots
from segkit.report.html import reading
from segkit.report.pages import export_html

PATHS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CHARTS = {name for name in dir(plots) if callable(getattr(plots, name)) and not name.startswith("_")
          and getattr(getattr(plots, name), "__module__", "") == plots.__name__} - {"use_language", "find_cjk_font"}


def expression(source: str):
    """(call, condition) of a cell that is one expression, `call(...)` or `call(...) if condition else None`;
    None for any other cell."""
    tree = ast.parse(source)
    if len(tree.body) != 1 or not isinstance(tree.body[-1], ast.Expr):
        return None
    node = tree.body[-1].value
    if isinstance(node, ast.IfExp) and isinstance(node.orelse, ast.Constant) and node.orelse.value is None:
        return node.body, ast.dump(node.test)
    return node, None


def chart_of(call) -> str | None:
    if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Name) \
            and call.func.value.id == "plots" and call.func.attr in CHARTS:
        return call.func.attr
    return None


def chart_cells(path):
    """(chart function, the chart cell, the cell after it) for every chart a notebook draws."""
    cells = [c for c in json.loads(path.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]
    found = []
    for number, cell in enumerate(cells):
        source = "".join(cell["source"])
        calls = [node for node in ast.walk(ast.parse(source)) if chart_of(node)]
        if calls:
            following = "".join(cells[number + 1]["source"]) if number + 1 < len(cells) else ""
            found.append((chart_of(calls[0]), source, following))
    return found


def test_the_notebooks_draw_charts():
    drawn = {chart for path in PATHS for chart, _, _ in chart_cells(path)}
    assert len(drawn) >= 20 and "rfm_heatmap" in drawn and "response_rate_chart" in drawn


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_every_chart_is_followed_by_a_reading_line_in_both_languages(path):
    catalogue = messages()
    for chart, source, following in chart_cells(path):
        drawn = expression(source)
        assert drawn is not None and chart_of(drawn[0]), f"{path.name}: a chart cell is one call: {source}"
        read = expression(following) if following else None
        assert read is not None, f"{path.name}: no reading line after plots.{chart}"
        call, condition = read
        name = call.func.attr if isinstance(call.func, ast.Attribute) else call.func.id
        assert name == "reading", f"{path.name}: after plots.{chart} comes {following!r}, not reading(...)"
        key = call.args[0].value
        assert key.startswith("read.") and all(catalogue[key][lang].strip() for lang in ("en", "zh")), key
        assert condition == drawn[1], f"{path.name}: {key} is shown when plots.{chart} is not (or the reverse)"


def test_a_reading_line_is_escaped_and_marked_as_the_chart_caption():
    en, zh = reading("read.pareto", "en").markup, reading("read.pareto", "zh").markup
    assert en.startswith('<p class="segkit-reading"><strong>How to read:</strong> the further')
    assert zh.startswith('<p class="segkit-reading"><strong>读图：</strong>曲线')
    with pytest.raises(KeyError):
        reading("read.no_such_chart", "en")


def png() -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "white").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_a_chart_is_described_by_its_sentence_and_its_reading_line(tmp_path):
    """The image's alternative text: the sentence before the chart and the reading line after it; the
    reading line does not introduce the next chart."""
    from segkit.report.html import say

    notebook = nbformat.v4.new_notebook()
    outputs = [{"text/html": say("rfm.heatmap", "en").markup}, {"image/png": png()},
               {"text/html": reading("read.rfm_heatmap", "en").markup}, {"image/png": png()}]
    for data in outputs:
        cell = nbformat.v4.new_code_cell("")
        cell.outputs = [nbformat.v4.new_output("display_data", data=data)]
        notebook.cells.append(cell)
    executed = tmp_path / "executed" / "02_rfm.ipynb"
    executed.parent.mkdir()
    nbformat.write(notebook, executed)
    export_html(executed, tmp_path / "02_rfm.html", "en", notebooks=("02_rfm",))
    from bs4 import BeautifulSoup

    soup = BeautifulSoup((tmp_path / "02_rfm.html").read_text(encoding="utf-8"), "html.parser")
    images = soup("img")
    assert len(images) == 2
    # the reading line is set in its chart's cell (printed together), not in a cell of its own
    line = soup.find("p", class_="segkit-reading")
    cell = line.find_parent("div", class_="jp-Cell")
    assert cell.find("img") is images[0] and len(soup.select("div.jp-Cell")) == 3
    assert images[0]["alt"].startswith("Chart: Mean revenue per customer by R and F score")
    assert images[0]["alt"].endswith("How to read: columns are R scores, rows F scores; the darker the cell, the "
                                     "higher the mean revenue of its customers (their number in brackets).")
    assert "How to read" not in images[1]["alt"] and images[1]["alt"].startswith("Chart: Mean revenue")
