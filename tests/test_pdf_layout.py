"""The printed report (issue 13): nothing cut, nothing stranded, a table of contents with page numbers,
the executive summary first.

The fast tests build section pages through the package API (segkit.report.html.table into a notebook's
outputs, exported by export_html as a run exports them) and print them with write_pdf; the slow ones
read the English and Chinese reports of tests/conftest.py (no new whole-report run)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import require_tool
from segkit.i18n import t
from segkit.report.html import table
from segkit.report.pages import NOTEBOOKS, PDF_FIGURE_ROOM, export_html, figure_card, format_kpis, write_pdf

A4_PORTRAIT = (595.3, 841.9)  # points
BOTTOM_MARGIN = 14 / 297  # the page number lives below it


# ---------------------------------------------------------------- reading a PDF

def pdf_text(pdf: Path, first: int | None = None, last: int | None = None, raw: bool = True) -> str:
    """The PDF's text in the order it was drawn (-raw): a header wrapped over two lines comes out whole,
    not interleaved with the header beside it. `raw=False`: in reading order, a line as it is printed."""
    pages = [*(["-f", str(first)] if first else []), *(["-l", str(last)] if last else [])]
    return subprocess.run([require_tool("pdftotext"), *(["-raw"] if raw else []), *pages, str(pdf), "-"],
                          capture_output=True, text=True, check=True).stdout


def squeezed(text: str) -> str:
    """Text without white space: a header wrapped over two lines in the PDF still matches."""
    return re.sub(r"\s+", "", text)


def words_with_boxes(pdf: Path) -> list[tuple[int, float, float, float, str]]:
    """(page number, page width, xMin, xMax, word) for every word poppler finds on a page."""
    out = subprocess.run([require_tool("pdftotext"), "-bbox", str(pdf), "-"], capture_output=True, text=True,
                         check=True).stdout
    found = []
    for number, (width, body) in enumerate(re.findall(r'<page width="([\d.]+)" height="[\d.]+">(.*?)</page>',
                                                      out, re.S), start=1):
        for x_min, x_max, word in re.findall(r'<word xMin="([\d.-]+)" yMin="[\d.-]+" xMax="([\d.-]+)" '
                                             r'yMax="[\d.-]+">(.*?)</word>', body):
            found.append((number, float(width), float(x_min), float(x_max), word))
    return found


def lines_with_boxes(pdf: Path, page: int = 1) -> list[tuple[float, float, str]]:
    """(xMin, xMax, text) of every line poppler reads on `page`, a line being its words at one height
    from left to right and split where a gap wider than a word space parts them (one card's figure
    from the next card's)."""
    out = subprocess.run([require_tool("pdftotext"), "-bbox", "-f", str(page), "-l", str(page), str(pdf), "-"],
                         capture_output=True, text=True, check=True).stdout
    words = sorted((round(float(y_min), 1), float(x_min), float(x_max), word) for x_min, y_min, x_max, word in
                   re.findall(r'<word xMin="([\d.-]+)" yMin="([\d.-]+)" xMax="([\d.-]+)" yMax="[\d.-]+">(.*?)</word>', out))
    lines: list[list] = []
    for y, x_min, x_max, word in words:
        if lines and lines[-1][0] == y and x_min - lines[-1][2] < 8:  # 8 pt: more than a space, less than a gap
            lines[-1][2], lines[-1][3] = x_max, f"{lines[-1][3]} {word}"
        else:
            lines.append([y, x_min, x_max, word])
    import html

    return [(x_min, x_max, html.unescape(text)) for _, x_min, x_max, text in lines]


def printed_numbers(pdf) -> list[str]:
    """The page number printed at the foot of each page (the last word poppler reads on it)."""
    pages = subprocess.run([require_tool("pdftotext"), "-layout", str(pdf), "-"], capture_output=True, text=True,
                           check=True).stdout.split("\f")
    return [page.split()[-1] if page.split() else "" for page in pages if page.strip()]


def page_fill(pdf: Path, folder: Path) -> list[float]:
    """For each page, how far down its content reaches (0 = empty, 1 = the bottom margin): the last row
    of the rendered page above the page-number margin that is not white (text, table rules, charts)."""
    subprocess.run([require_tool("pdftoppm"), "-r", "24", "-gray", "-png", str(pdf), str(folder / "page")],
                   check=True)
    fills = []
    for image in sorted(folder.glob("page-*.png"), key=lambda path: int(path.stem.split("-")[1])):
        pixels = np.asarray(Image.open(image).convert("L"))
        body = pixels[: int(pixels.shape[0] * (1 - BOTTOM_MARGIN))]
        inked = np.flatnonzero((body < 200).any(axis=1))
        fills.append((inked.max() + 1) / body.shape[0] if len(inked) else 0.0)
    return fills


def table_headers(page: Path) -> list[list[str]]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    return [[cell.get_text(" ", strip=True) for cell in grid.select("thead th")] for grid in soup.find_all("table")]


# ---------------------------------------------------------------- a run folder made through the package API

def section_page(folder: Path, name: str, outputs: list[str], lang: str = "en") -> None:
    """A section page as a run makes it: an executed notebook whose cells display `outputs` (HTML from
    segkit.report.html), exported by export_html."""
    notebook = nbformat.v4.new_notebook()
    for markup in outputs:
        cell = nbformat.v4.new_code_cell("")
        cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": markup})]
        notebook.cells.append(cell)
    executed = folder / "executed" / f"{name}.ipynb"
    executed.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, executed)
    export_html(executed, folder / f"{name}.html", lang, notebooks=(name,))


def index_page(folder: Path, sections: tuple[str, ...], title: str = "i") -> None:
    links = "".join(f'<li><a href="{name}.html">{name}</a></li>' for name in sections)
    (folder / "index.html").write_text(f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
                                       f'</head><body><h1>Index</h1><ul class="sections">{links}</ul></body></html>',
                                       encoding="utf-8")


SEGMENTS = ["Champions", "Loyal Customers", "Potential Loyalists", "New Customers", "Promising", "Need Attention",
            "About To Sleep", "At Risk", "Can't Lose Them", "Hibernating", "Lost"]


def cluster_by_segment(clusters: int = 8) -> pd.DataFrame:
    """The cluster x segment cross-table's shape: a cluster name, the eleven segments and a total."""
    rng = np.random.default_rng(0)
    counts = pd.DataFrame(rng.integers(0, 20_000, (clusters, len(SEGMENTS))), columns=SEGMENTS)
    counts.insert(0, "Cluster", [f"very recent, frequent, top spend {n}" for n in range(clusters)])
    counts["Total"] = counts[SEGMENTS].sum(axis=1)
    return counts


def set_aside_sample(rows: int = 12) -> pd.DataFrame:
    """The set-aside sample with product and unit price mapped: many text columns."""
    return pd.DataFrame({
        "source_row": range(2, rows + 2), "Reason": ["zero or negative amount (return, free item)"] * rows,
        "What is wrong": ["amount is zero or negative and not marked as a return"] * rows,
        "Customer (as given)": [f"C{n:08d}" for n in range(rows)], "Order (as given)": [f"R{n:010d}" for n in range(rows)],
        "Date (as given)": ["2024-03-05 14:22:07"] * rows, "Amount (as given)": ["-1,204.50"] * rows,
        "Product (as given)": ["Stainless steel insulated bottle 750ml"] * rows, "Unit price (as given)": ["301.13"] * rows,
        "Quantity (as given)": ["-4"] * rows, "Category (as given)": ["kitchen & dining"] * rows,
        "Channel (as given)": ["online store (mobile app)"] * rows})


@pytest.fixture(scope="module")
def wide_pdf(tmp_path_factory) -> tuple[Path, dict[str, list[str]]]:
    """A two-section PDF with the tables the issue names as cut, through the package API: the cluster x
    segment cross-table, a segment summary with its NPS column, the set-aside sample with product and
    unit price; a 90-row table (it must split with its header repeated) and one too wide for portrait."""
    folder = tmp_path_factory.mktemp("wide")
    summary = pd.DataFrame({"segment": SEGMENTS, "customers": range(1000, 1011), "customer_share": [0.09] * 11,
                            "revenue": [1_234_567.891] * 11, "revenue_share": [0.09] * 11, "avg_order_value": [88.5] * 11,
                            "orders": range(11), "recency_days": [30.5] * 11, "nps": [12.5] * 11})
    very_wide = pd.DataFrame({f"Month {m:02d} revenue": [1_234_567.25] * 3 for m in range(1, 19)})
    long = pd.DataFrame({"customer_id": [f"C{n:06d}" for n in range(90)], "revenue": np.linspace(1, 9e5, 90),
                         "orders": range(90)})
    tables = {"01_cleaning": [cluster_by_segment(), summary, set_aside_sample()],
              "02_rfm": [long, very_wide]}
    for name, frames in tables.items():
        section_page(folder, name, [f"<h1>Section {name}</h1>",
                                    *(table(frame, "en", currency=None).to_html() for frame in frames)])
    index_page(folder, tuple(tables))
    write_pdf(folder, folder / "report.pdf", notebooks=tuple(tables))
    headers = {name: [label for grid in table_headers(folder / f"{name}.html") for label in grid] for name in tables}
    return folder / "report.pdf", headers


def test_wide_tables_lose_no_column(wide_pdf):
    pdf, headers = wide_pdf
    text = squeezed(pdf_text(pdf))
    shown = [label for labels in headers.values() for label in labels]
    assert "At Risk" in shown and "Lost" in shown and "Unit price (as given)" in shown  # the lost columns
    missing = [label for label in shown if squeezed(label) not in text]
    assert missing == []


def test_no_word_is_printed_off_the_page(wide_pdf):
    pdf, _ = wide_pdf
    outside = [(page, word) for page, width, x_min, x_max, word in words_with_boxes(pdf) if x_min < 0 or x_max > width]
    assert outside == []


def test_a_long_table_splits_with_its_header_repeated(wide_pdf):
    from pypdf import PdfReader

    pdf, _ = wide_pdf
    pages = [pdf_text(pdf, number, number) for number in range(1, len(PdfReader(pdf).pages) + 1)]
    with_rows = [number for number, text in enumerate(pages, start=1) if re.search(r"\bC0000\d\d\b", text)]
    assert len(with_rows) >= 2  # 90 rows do not fit one page
    for number in with_rows:
        assert squeezed(t("col.customer_id", "en")) in squeezed(pages[number - 1]), number


def test_a_table_too_wide_for_portrait_gets_a_landscape_page(wide_pdf):
    from pypdf import PdfReader

    pdf, _ = wide_pdf
    reader = PdfReader(pdf)
    sizes = [(float(page.mediabox.width), float(page.mediabox.height)) for page in reader.pages]
    landscape = [number for number, (width, height) in enumerate(sizes, start=1) if width > height]
    assert landscape, sizes
    assert all("Month18revenue" in squeezed(pdf_text(pdf, number, number)) for number in landscape[-1:])
    assert sizes[0][0] == pytest.approx(A4_PORTRAIT[0], abs=1)  # only that table's page turns


def width_classes(frame: pd.DataFrame, lang: str = "en") -> list[str]:
    return re.search(r'<table [^>]*class="([^"]*)"', table(frame, lang).to_html()).group(1).split()[1:]


def test_table_width_classes_follow_the_shown_text():
    assert width_classes(pd.DataFrame({"segment": ["Champions"], "customers": [3]})) == []
    # eleven segment columns of at least "Hibernating" (11 characters at 7 pt) cannot fit 190 mm of portrait
    assert width_classes(cluster_by_segment()) == ["segkit-wide", "segkit-widest"]
    months = {f"Month {m:02d} revenue": [1_234_567.25] for m in range(1, 25)}
    assert width_classes(pd.DataFrame(months)) == ["segkit-wide", "segkit-widest", "segkit-huge"]
    # the same table with Chinese labels: a CJK character is as wide as two Latin ones
    latin = pd.DataFrame({"segment": ["Champion"], **{f"Month{m:02d}": [12.5] for m in range(1, 10)}})
    chinese = pd.DataFrame({"客户群": ["重要价值客户"], **{f"{m:02d}月销售额": [12.5] for m in range(1, 10)}})
    assert width_classes(latin) == [] and width_classes(chinese, "zh") == ["segkit-wide"]


# ---------------------------------------------------------------- headline figures

# figures of every length a run can show: English money in full ("$5,712,173.84" broke after its "."
# in the summary's narrow card), a currency written in letters, Chinese units, a share, counts
HEADLINE_FIGURES = ["$5,712,173.84", "¥2,385,718.98", "$1,234,567,890,123.45", "CHF 12,345,678.90", "¥2,500.3万",
                    "71.4%", "1,454", "23.6万", "—", "¥1,234,567,890,123,456,789.12"]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_headline_figure_is_printed_whole_on_one_line_inside_its_card(tmp_path, lang):
    """Each figure, in the executive summary's cards (five to a row) and the headline figures' (four),
    comes out of the PDF as one line no wider than its card."""
    section_page(tmp_path, "01_cleaning", ["<h1>x</h1>"], lang=lang)
    rows = [HEADLINE_FIGURES[start:start + 5] for start in range(0, len(HEADLINE_FIGURES), 5)]
    summary = "".join(f'<section class="segkit-summary"><div class="summary-figures">'
                      f'{"".join(figure_card("summary-figure", "k", "label", value) for value in row)}</div></section>'
                      for row in rows)
    cards = "".join(figure_card("kpi", "k", "label", value) for value in HEADLINE_FIGURES)
    (tmp_path / "index.html").write_text(
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>i</title></head><body><h1>Index</h1>'
        f'{summary}<div class="kpis">{cards}</div><ul class="sections"><li><a href="01_cleaning.html">a</a></li></ul>'
        f"</body></html>", encoding="utf-8")
    write_pdf(tmp_path, tmp_path / "report.pdf", notebooks=("01_cleaning",))
    lines = lines_with_boxes(tmp_path / "report.pdf")
    printed = [text for _, _, text in lines]
    for value in HEADLINE_FIGURES:
        # once in a summary card, once in a headline card, each time whole on one line
        assert printed.count(value) == 2, (value, [text for text in printed if text in value or value in text])
    # the summary's cards come first on the page, then the headline figures'
    seen: dict[str, int] = {}
    too_wide = []
    for x_min, x_max, text in lines:
        if text in HEADLINE_FIGURES:
            card = ("summary-figure", "kpi")[seen.setdefault(text, 0)]
            seen[text] += 1
            if x_max - x_min > PDF_FIGURE_ROOM[card]:
                too_wide.append((card, text, round(x_max - x_min, 1)))
    assert too_wide == []


# ---------------------------------------------------------------- the whole reports (slow)

def check_report_layout(result, tmp_path):
    from pypdf import PdfReader

    pdf = result.folder / "report.pdf"
    text = squeezed(pdf_text(pdf))
    notebooks = tuple(name for name in NOTEBOOKS if (result.folder / f"{name}.html").is_file())
    missing = [(name, label) for name in notebooks for grid in table_headers(result.folder / f"{name}.html")
               for label in grid if squeezed(label) not in text]
    assert missing == []
    reader = PdfReader(pdf)
    # each part of the report (the index, then one per notebook) starts on a page with its h1 bookmark
    starts = sorted({reader.get_destination_page_number(item) + 1 for item in reader.outline
                     if not isinstance(item, list)})
    assert len(starts) == 1 + len(notebooks), starts
    # laid out part by part (segkit.report.pdf_build), the pages are still numbered through
    assert printed_numbers(pdf) == [str(number) for number in range(1, len(reader.pages) + 1)]
    fills = page_fill(pdf, tmp_path)
    assert len(fills) == len(reader.pages)
    before_a_section = {start - 1 for start in starts} | {len(fills)}
    half_empty = [(number, round(fill, 2)) for number, fill in enumerate(fills, start=1)
                  if fill < 0.5 and number not in before_a_section]
    assert half_empty == []
    return reader, starts


def check_contents_and_summary(params_path, result, lang):
    import segkit

    pdf = result.folder / "report.pdf"
    first = pdf_text(pdf, 1, 1)
    params = segkit.load_params(params_path)
    # the executive summary on the first page: the run's own figures, as the index shows them
    shown = {key: value for key, _, value in format_kpis(result.kpis, params)}
    printed = [text for _, _, text in lines_with_boxes(pdf)]
    for key in ("customers", "revenue", "top_share", "valuable", "at_risk"):
        assert shown[key] in first, (key, shown[key])
        assert shown[key] in printed, (key, shown[key])  # whole on one line
    assert t("layout.summary", lang) in first
    # the contents: every section with the page its title is printed on
    contents = pdf_text(pdf, 1, 2, raw=False)
    for name in NOTEBOOKS:
        title = t(f"nb{name[:2]}.title", lang)
        found = re.search(re.escape(title) + r"[ .\u2026]*?(\d+)\s*$", contents, re.M)
        assert found, title
        page = int(found.group(1))
        assert squeezed(pdf_text(pdf, page, page)).startswith(squeezed(title)), (title, page)


@pytest.mark.slow
def test_english_report_prints_every_column_and_no_half_empty_page(en_run, tmp_path):
    check_report_layout(en_run[1], tmp_path)


@pytest.mark.slow
def test_chinese_report_prints_every_column_and_no_half_empty_page(zh_run, tmp_path):
    check_report_layout(zh_run[1], tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_pdf_opens_with_the_summary_and_a_contents_with_page_numbers(lang, en_run, zh_run):
    params_path, result = {"en": en_run, "zh": zh_run}[lang]
    check_contents_and_summary(params_path, result, lang)


@pytest.mark.slow
def test_index_page_has_the_summary_and_the_sections_a_contents_sidebar(en_run):
    index = (en_run[1].folder / "index.html").read_text(encoding="utf-8")
    assert index.index('class="segkit-summary"') < index.index('class="kpis"')  # the summary comes first
    assert len(re.findall(r'data-summary-kpi="\w+"', index)) == 5
    summary = index[index.index('class="segkit-summary"'):index.index("</section>")]
    assert len(re.findall(r"<li>", summary)) == 3
    for name in NOTEBOOKS:
        page = (en_run[1].folder / f"{name}.html").read_text(encoding="utf-8")
        nav = re.search(r'<nav class="segkit-nav"[^>]*>(.*?)</nav>', page, re.S).group(1)
        assert f'<a href="{name}.html" aria-current="page">' in nav
        assert nav.count("<li>") == 1 + len(NOTEBOOKS)



@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_pdf_prints_in_the_report_font_only(tmp_path, lang):
    """Chinese text in Noto Sans CJK SC, the page numbers in the report's sans-serif: Chinese class names
    on an English page were set in the Japanese face of the CJK font (Japanese glyph forms: the
    Latin text's font, from nbconvert's system-ui stack, has no CJK glyphs), the page numbers in a serif."""
    frame = pd.DataFrame({"segment": ["重要价值客户", "Champions"], "customers": [10, 20]})
    section_page(tmp_path, "01_cleaning", ["<h1>客户细分 Customers</h1><p>重要挽留客户 · <code>rfm.bins</code></p>",
                                           table(frame, lang, currency=None).to_html()], lang=lang)
    index_page(tmp_path, ("01_cleaning",))
    write_pdf(tmp_path, tmp_path / "report.pdf", notebooks=("01_cleaning",))
    listed = subprocess.run([require_tool("pdffonts"), str(tmp_path / "report.pdf")], capture_output=True, text=True,
                            check=True).stdout.splitlines()[2:]
    fonts = {line.split()[0].split("+", 1)[-1] for line in listed}
    assert {"Noto-Sans-CJK-SC", "Noto-Sans-CJK-SC-Bold"} <= fonts
    # no other face of the CJK font (Japanese, Korean, traditional forms), no serif anywhere
    assert not [font for font in fonts if re.search(r"CJK-(JP|KR|TC|HK)|Serif", font)], fonts


def test_a_value_with_no_break_in_it_keeps_the_columns_after_it_on_the_page(tmp_path):
    """A 400-character code in a set-aside sample pushed the table past even a landscape page, and the
    columns after it off it; it breaks now (every 20 characters, only a run of 60 or more), and
    numbers, ids and dates never do."""
    frame = pd.DataFrame({"source_row": [2, 3], "Reason": ["x", "y"], "What is wrong": ["a", "b"],
                          "Product (as given)": ["A" * 400, "short"], "Amount (as given)": ["12,345.67", "3"],
                          "Channel (as given)": ["online", "store"]})
    section_page(tmp_path, "01_cleaning", [table(frame, "en", currency=None).to_html()])
    index_page(tmp_path, ("01_cleaning",))
    write_pdf(tmp_path, tmp_path / "report.pdf", notebooks=("01_cleaning",))
    pdf = tmp_path / "report.pdf"
    assert [word for _, width, x_min, x_max, word in words_with_boxes(pdf) if x_min < 0 or x_max > width] == []
    text = squeezed(pdf_text(pdf))
    assert "Channel" in text and "online" in text and "12,345.67" in text and "A" * 400 in text
