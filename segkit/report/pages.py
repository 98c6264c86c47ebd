"""The report's pages: a section page from an executed notebook, the index page, and one PDF of them all.

The runner (segkit.report.runner) calls these once the notebooks have run; the notebooks write
their tables and sentences through segkit.report.html.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from pathlib import Path

from segkit.i18n import note_message, t
from segkit.params import Params
from segkit.report import numbers
from segkit.report.html import escape, say_each

NOTEBOOKS = ("01_cleaning", "02_rfm", "03_customer_value", "04_clustering", "05_evaluation", "06_migration",
             "07_cross_sell", "08_case_study")
# A customer-level source (one row per customer, `source.kind: customers`) has no purchases over time:
# its own intake notebook, and no customer-value notebook (the repeat-buying models need transactions).
CUSTOMER_TABLE_NOTEBOOKS = ("01_customer_table", "02_rfm", "04_clustering", "05_evaluation", "08_case_study")


def notebooks_for(params: Params) -> tuple[str, ...]:
    """The notebooks a run of `params` executes, in order."""
    return CUSTOMER_TABLE_NOTEBOOKS if params.source.kind == "customers" else NOTEBOOKS
REMOVED_CELL_TAGS = {"injected-parameters", "parameters", "analyst-notes"}
# Report pages run no script and load nothing from elsewhere: charts are images inside the page.
CONTENT_SECURITY_POLICY = ("default-src 'none'; img-src data: 'self'; style-src 'unsafe-inline'; font-src data: 'self'; "
                           "base-uri 'none'; form-action 'none'")
CSP_META = f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">'
# What the PDF build may read from the run folder: the page assets, never the data or the manifest.
PAGE_ASSETS = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".css", ".woff", ".woff2", ".ttf", ".otf")
# One palette for the pages and the charts: the charts' own (segkit.report.plots.PALETTE) and these greys.
INK, MUTED, RULE, PANEL = "#222222", "#555555", "#dde3ea", "#f3f5f7"
# A headline figure (a card of the executive summary or of the headline figures) is set on one line,
# smaller the wider it is: the PDF broke "$5,712,173.84" after its "." in the summary's narrow card.
# Its width is estimated from its characters (`figure_width`), the card gets the class of the first rung
# of FIGURE_WIDTHS at least that wide (`figure_class`), and each rung has its font size in each card:
# in the PDF from the card's width on A4 (PDF_FIGURE_ROOM; WeasyPrint has no container queries), on
# the page from the card's own width (container query units) or, in a browser without them, from the
# narrowest card the grid makes. A figure wider than the last rung would run past its card.
FIGURE_WIDTHS = (6, 6.5, 7, 7.5, 8, 8.5, 9, 10, 11, 12, 14, 16, 20, 24, 32, 48, 64)  # em at the figure's own size
# the inner width of each card in the PDF (points): A4 less the margins, the grid's columns and gaps
# and the card's padding and border (5 summary figures a row, 4 headline figures)
PDF_FIGURE_ROOM = {"summary-figure": 83.0, "kpi": 112.0}
PDF_FIGURE_SIZE = 13.5  # points: 1.35em of the PDF's 10pt
# the narrowest card on the page (the grid's minmax less padding and border), in px, and the size there
PAGE_FIGURE_ROOM = {"summary-figure": 134.0, "kpi": 174.0}
PAGE_FIGURE_SIZE = "1.6em"


def figure_width(text: str) -> float:
    """The width of `text` in em, in the report's bold sans-serif (Noto Sans CJK SC), a little over
    rather than under: a Chinese character 1, "%", "M", "W" and "@" 1, other capitals 0.7, separators
    (",", ".", ":", spaces) 0.35, other characters (digits, currency signs) 0.6.
    figure_width("$5,712,173.84") -> 7.05."""
    import unicodedata

    def one(char: str) -> float:
        if unicodedata.east_asian_width(char) in "WF" or char in "%MW@":
            return 1.0
        if char in ",.:;'·  ":
            return 0.35
        return 0.7 if char.isupper() else 0.6

    return round(sum(one(char) for char in str(text)), 2)


def figure_class(text: str) -> str:
    """The size class of a headline figure: "figure-w<rung>", the first rung of FIGURE_WIDTHS at least
    as wide as `figure_width(text)` (the last one for anything wider), a half written "-5":
    figure_class("$5,712,173.84") -> "figure-w7-5"."""
    width = figure_width(text)
    return _rung_class(next((rung for rung in FIGURE_WIDTHS if rung >= width), FIGURE_WIDTHS[-1]))


def _rung_class(rung: float) -> str:
    return f"figure-w{int(rung)}" + ("-5" if rung % 1 else "")


def _figure_css(print_: bool) -> str:
    """The font size of each rung of FIGURE_WIDTHS in each kind of card: in the PDF (`print_`) in points,
    on the page in container query units, with the narrowest card's size in px before them for a
    browser without container queries. Kept 3% inside the card in the PDF (the widths are estimated a
    little over), 15% on the page (a browser's fallback font may be wider than Noto Sans)."""
    rules = []
    for card, pdf_room in PDF_FIGURE_ROOM.items():
        for rung in FIGURE_WIDTHS:
            if print_:
                size = min(PDF_FIGURE_SIZE, pdf_room * 0.97 / rung)
                rules.append(f".segkit-part .{card} .value.{_rung_class(rung)} {{ font-size: {size:.2f}pt; }}")
            else:
                px = PAGE_FIGURE_ROOM[card] * 0.85 / rung
                rules.append(f".{card} .value.{_rung_class(rung)} {{ font-size: min({PAGE_FIGURE_SIZE}, {px:.1f}px); }}")
                rules.append(f"@container (min-width: 1px) {{ .{card} .value.{_rung_class(rung)} "
                             f"{{ font-size: min({PAGE_FIGURE_SIZE}, {85 / rung:.2f}cqw); }} }}")
    return "\n".join(rules) + "\n"


def figure_card(kind: str, key: str, label: str, value: str) -> str:
    """One headline figure's card, HTML with every text escaped: `kind` "kpi" (the headline figures,
    data-kpi) or "summary-figure" (the executive summary, data-summary-kpi); the value on one line,
    in the size of its `figure_class`."""
    attribute = "data-kpi" if kind == "kpi" else "data-summary-kpi"
    return (f'<div class="{kind}" {attribute}="{escape(key)}"><div class="value {figure_class(value)}">{escape(value)}</div>'
            f'<div class="label">{escape(label)}</div></div>')

REPORT_CSS = """
:root { --segkit-font: "Noto Sans CJK SC", "Noto Sans", "DejaVu Sans", sans-serif; font-family: var(--segkit-font);
  --jp-content-font-family: system-ui, -apple-system, blinkmacsystemfont, "Segoe UI", helvetica, arial,
    "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif;
  --jp-ui-font-family: var(--jp-content-font-family); }
body { font-family: var(--segkit-font); color: var(--segkit-ink); }
.segkit-nav { font-size: 0.9em; margin: 0.5em 0 1.2em; padding: 0.4em 0; border-bottom: 1px solid var(--segkit-rule); }
.segkit-nav ul { list-style: none; margin: 0; padding: 0; }
.segkit-nav li { display: inline-block; margin: 0.2em 1em 0.2em 0; }
.segkit-nav a { color: var(--segkit-accent); }
.segkit-nav a[aria-current="page"] { color: var(--segkit-ink); font-weight: 600; text-decoration: none; }
@media screen and (min-width: 1200px) {
  /* a contents sidebar beside the page on a wide screen; a bar above it on a narrow one */
  .segkit-nav { position: fixed; top: 0; left: 0; bottom: 0; width: 15rem; margin: 0; padding: 1.5rem 1rem;
                overflow-y: auto; border-bottom: none; border-right: 1px solid var(--segkit-rule);
                background: var(--segkit-panel); box-sizing: border-box; }
  .segkit-nav li { display: block; margin: 0 0 0.7em; }
  body:has(> nav.segkit-nav) { padding-left: 16rem !important; }
}
table.segkit-table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1em; }
table.segkit-table th, table.segkit-table td { border-bottom: 1px solid #e3e3e3; padding: 3px 8px; text-align: right; }
table.segkit-table th { background: var(--segkit-panel); color: var(--segkit-ink); }
table.segkit-table th .segkit-nobreak { white-space: nowrap; }  /* a Chinese word of a header, never split */
table.segkit-table td:first-child, table.segkit-table th:first-child { text-align: left; }
p.segkit-reading { color: var(--segkit-muted); font-size: 0.9em; margin: 0.1em 0 1.2em; }
"""
PRINT_CSS = """
@page { size: A4; margin: 14mm 12mm; @bottom-right { content: counter(page); font-size: 9pt; } }
@page landscape { size: A4 landscape; }
body { font-size: 10pt; }
body, main, .jp-Notebook { padding-left: 0 !important; }
h1, h2, h3 { break-after: avoid; }
p { orphans: 2; widows: 2; }
/* Nothing cut: the notebook template's output areas clip or scroll what is wider than they are. */
.jp-Cell, .jp-Cell-outputWrapper, .jp-OutputArea, .jp-OutputArea-child, .jp-OutputArea-output
  { overflow: visible !important; }
/* Nothing stranded: tables split between rows, with their header row repeated on the next page,
   and a sentence that introduces a table or chart stays with it: the text cell just before it (or
   before a heading), not every text cell above it, so that two paragraphs and a chart need not move
   to the next page together and leave half a page empty. */
table, .jp-OutputArea-child { break-inside: auto !important; }  /* nbconvert's print style moves outputs whole */
thead { display: table-header-group; }
tr { break-inside: avoid; }
.jp-Cell:not(:has(table)):not(:has(img)):not(:has(+ .jp-Cell:not(:has(table)):not(:has(img)):not(:has(h1, h2, h3)))) { break-after: avoid; }
/* A chart and its "how to read" line (one cell: export_html puts them together) stay on one page; the
   chart is a little lower there, so that the pair fits where the chart alone would. */
.jp-Cell:has(img):has(p.segkit-reading) { break-inside: avoid; }
.jp-Cell:has(p.segkit-reading) img { max-height: 85mm; }
/* Charts fit the page: at most its width, and low enough to share a page with text. */
img { max-width: 100%; max-height: 105mm; width: auto; height: auto; break-inside: avoid; }
table.segkit-table { max-width: 100%; }
table.segkit-table th { white-space: normal; overflow-wrap: break-word; vertical-align: bottom; }
table.segkit-wide { font-size: 7pt; }
table.segkit-wide th, table.segkit-wide td { padding: 2px 3px; }
table.segkit-widest { font-size: 5.5pt; }
table.segkit-widest th, table.segkit-widest td { padding: 1px 2px; }
/* A table too wide for portrait turns its page, with the heading and sentences just before it
   (export_html marks those cells). */
.segkit-landscape { page: landscape; }
.segkit-nav, p.pdf { display: none; }
.segkit-part + .segkit-part { break-before: page; }
.segkit-part .kpis { grid-template-columns: repeat(4, 1fr); }  /* WeasyPrint has no auto-fill */
.segkit-part .summary-figures { grid-template-columns: repeat(5, 1fr); }
.segkit-part .kpis, .segkit-part .summary-figures { gap: 6px; margin: 0.6em 0 1em; }
.segkit-part .kpi, .segkit-part .summary-figure { padding: 6px 8px; }
.segkit-part .kpi .value, .segkit-part .summary-figure .value { font-size: 1.35em; white-space: nowrap; overflow-wrap: normal; }
.segkit-part ul.sections li { font-size: 1em; margin: 0.25em 0; }
/* The index's list of sections is the PDF's table of contents, with page numbers. */
ul.sections a { color: var(--segkit-ink); text-decoration: none; }
ul.sections a::after { content: leader(".") " " target-counter(attr(href), page); }
""" + _figure_css(print_=True)

# The index page's own style (beside palette_css() and REPORT_CSS); the PDF lays out every part with
# it, as the index page and the section pages were once one document (segkit.report.pdf_build).
INDEX_BODY_CSS = """body { font-family: "Noto Sans CJK SC", "Noto Sans", "DejaVu Sans", sans-serif; margin: 2em auto; max-width: 960px; color: var(--segkit-ink); padding: 0 1em; }"""
INDEX_CSS = """\
h1 { margin-bottom: 0.1em; } .meta { color: var(--segkit-muted); margin-top: 0; }
.kpis, .summary-figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 12px; margin: 1em 0 2em; }
.summary-figures { grid-template-columns: repeat(auto-fill, minmax(160px, 1fr)); margin-bottom: 1em; }
.kpi, .summary-figure { box-sizing: border-box; border: 1px solid var(--segkit-rule); border-radius: 6px; padding: 12px; background: #f8fafc; container-type: inline-size; }
.kpi .value, .summary-figure .value { font-size: 1.6em; font-weight: 600; white-space: nowrap; color: var(--segkit-accent); }
.kpi .label, .summary-figure .label { font-size: 0.85em; color: var(--segkit-muted); margin-top: 4px; }
.segkit-summary { border-left: 4px solid var(--segkit-accent); padding: 0.2em 0 0.2em 1em; margin: 1.5em 0 2em; }
.segkit-summary .summary-figure { background: #ffffff; }
.segkit-summary li { font-size: 1em; margin: 0.5em 0; } .segkit-summary li p { margin: 0; }
ul.sections { list-style: none; padding-left: 0; } ul.sections li { margin: 0.4em 0; font-size: 1.1em; }
.alerts { border-left: 4px solid var(--segkit-rule); padding: 0.2em 1em; background: #f6f9f9; }
.alerts.fired { border-left-color: #c0392b; background: #fdf3f2; }
img.trends { max-width: 100%; }
@page { size: A4; margin: 16mm; }
""" + _figure_css(print_=False)


def palette_css() -> str:
    """The report's colours as CSS variables (--segkit-accent, --segkit-ink, ...): the charts' palette
    (segkit.report.plots.PALETTE) and the greys of the page, so that pages and charts share one palette."""
    from segkit.report.plots import PALETTE

    return (f":root {{ --segkit-accent: {PALETTE[0]}; --segkit-highlight: {PALETTE[1]}; --segkit-ink: {INK}; "
            f"--segkit-muted: {MUTED}; --segkit-rule: {RULE}; --segkit-panel: {PANEL}; }}")


def export_html(executed: Path, target: Path, lang: str, notebooks: tuple[str, ...] = NOTEBOOKS) -> None:
    """The executed notebook as a report page: no code, no prompts, no parameter cells."""
    import nbformat
    from nbconvert.preprocessors import TagRemovePreprocessor

    notebook = nbformat.read(executed, as_version=4)
    remover = TagRemovePreprocessor(remove_cell_tags=REMOVED_CELL_TAGS, enabled=True)
    notebook, _ = remover.preprocess(notebook, {})
    notebook.cells = _readings_with_their_charts(notebook.cells)
    body, _ = _html_exporter().from_notebook_node(notebook)
    body = _without_scripts(body)
    nav = _nav(lang, current=executed.stem, notebooks=notebooks)
    body = body.replace("<body", f"<body data-segkit-page=\"{executed.stem}\"", 1)
    body = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + nav, body, count=1)
    body = body.replace("</head>", f"<style>{palette_css()}{REPORT_CSS}</style></head>", 1)
    body = _with_chart_descriptions(body, lang)
    body = _landscape_cells(body)
    body = re.sub(r"<head[^>]*>", lambda m: m.group(0) + CSP_META, body, count=1)
    body = re.sub(r"<html[^>]*>", f'<html lang="{_html_lang(lang)}">', body, count=1)
    title = t(f"nb{executed.stem[:2]}.title", lang)
    body = re.sub(r"<title>.*?</title>", f"<title>{escape(title)}</title>", body, count=1, flags=re.S)
    target.write_text(body, encoding="utf-8")


_EXPORTERS = threading.local()


def _html_exporter():
    """nbconvert's exporter of report pages, one for each thread that exports: making one compiles the
    template's Jinja files, 0.25 s of the 0.7 s a page takes."""
    exporter = getattr(_EXPORTERS, "exporter", None)
    if exporter is None:
        from nbconvert import HTMLExporter

        exporter = _EXPORTERS.exporter = HTMLExporter(template_name="lab", exclude_input=True, exclude_input_prompt=True,
                                                      exclude_output_prompt=True, exclude_anchor_links=True)
    return exporter


def _readings_with_their_charts(cells: list) -> list:
    """The "how to read" line of a chart (segkit.report.html.reading, a cell of its own in the notebook)
    moved into the chart's cell, so that the page sets them as one piece: the printed report keeps a
    chart and its line on one page without tying them to what comes before or after."""
    def outputs_text(cell) -> str:
        return "".join(str(output.get("data", {}).get("text/html", "")) for output in cell.get("outputs", []))

    def has_chart(cell) -> bool:
        return any("image/png" in output.get("data", {}) for output in cell.get("outputs", []))

    kept = []
    for cell in cells:
        shown = [output for output in cell.get("outputs", []) if output.get("output_type") != "stream"]
        is_reading = cell.get("cell_type") == "code" and len(shown) == 1 and "segkit-reading" in outputs_text(cell)
        chart = next((earlier for earlier in reversed(kept) if earlier.get("cell_type") == "code"
                      and (earlier.get("outputs") or not earlier.get("source"))), None)
        if is_reading and chart is not None and has_chart(chart):
            chart.outputs = [*chart.outputs, *shown]
            continue
        kept.append(cell)
    return kept


def _without_scripts(page: str) -> str:
    # nbconvert's template brings require.js and MathJax (from a CDN) and widget state; a report needs
    # none of them, and every value the notebooks put in the page was escaped by segkit.report.html,
    # so each <script> element here is the template's own.
    return re.sub(r"<script\b[^>]*>.*?</script>", "", page, flags=re.S | re.I)


CELL_START = '<div class="jp-Cell '


def _landscape_cells(page: str) -> str:
    """Marks the cell of each table too wide for a portrait page (class segkit-huge, from
    segkit.report.html.table) and the text cells just before it (its heading, its sentences) with
    class segkit-landscape: the print style sets them on a landscape page together, so that no
    heading is left behind on the portrait page."""
    cells = re.split(f"(?={re.escape(CELL_START)})", page)
    marked = set()
    for number, cell in enumerate(cells):
        if not cell.startswith(CELL_START) or "segkit-huge" not in cell:
            continue
        marked.add(number)
        before = number - 1
        while before > 0 and cells[before].startswith(CELL_START) and "<table" not in cells[before] \
                and "<img" not in cells[before] and len(marked) < 100:
            marked.add(before)
            if "jp-mod-noOutputs" not in cells[before] and sum(
                    "jp-mod-noOutputs" not in cells[k] for k in range(before, number)) >= 2:
                break  # a heading and a sentence are enough
            before -= 1
    for number in marked:
        cells[number] = cells[number].replace(CELL_START, CELL_START + "segkit-landscape ", 1)
    return "".join(cells)


def _nav(lang: str, current: str, notebooks: tuple[str, ...] = NOTEBOOKS) -> str:
    """The contents of the report, on every page: a sidebar on a wide screen, a bar on a narrow one."""
    pages = [("index", t("report.title", lang)), *((name, t(f"nb{name[:2]}.title", lang)) for name in notebooks)]
    here = ' aria-current="page"'
    items = "".join(f'<li><a href="{name}.html"{here if name == current else ""}>{escape(label)}</a></li>'
                    for name, label in pages)
    return f'<nav class="segkit-nav" aria-label="{escape(t("layout.contents", lang))}"><ul>{items}</ul></nav>'


# nbconvert's text for an image without one; each chart gets the sentence that introduces it instead.
NBCONVERT_NO_ALT = "No description has been provided for this image"


def _with_chart_descriptions(page: str, lang: str) -> str:
    """Each chart's alternative text: the sentence before it on the page (the line that says what the
    chart shows), else a word that says it is a chart, and the "how to read" line under it
    (segkit.report.html.reading), which never introduces the next chart."""
    tokens = list(re.finditer(r"<p\b(?P<attributes>[^>]*)>(?P<sentence>.*?)</p>|<img\b[^>]*>", page, flags=re.S))

    def words(match: re.Match) -> str:
        return " ".join(re.sub(r"<[^>]+>", "", match.group("sentence")).split())

    def is_reading(match: re.Match) -> bool:
        return match.group("sentence") is not None and "segkit-reading" in match.group("attributes")

    last_sentence, replacements = "", {}
    for number, match in enumerate(tokens):
        if match.group("sentence") is not None:
            if not is_reading(match):
                last_sentence = words(match)
            continue
        label = t("layout.chart", lang) + (f": {last_sentence}" if last_sentence else "")
        after = tokens[number + 1] if number + 1 < len(tokens) else None
        if after is not None and is_reading(after):
            label += f" {words(after)}"
        # the sentences are text of the page (escaped when they were written); quotes are escaped for the attribute
        replacements[match.start()] = match.group(0).replace(f'alt="{NBCONVERT_NO_ALT}"',
                                                             f'alt="{label.replace(chr(34), "&quot;")}"')
    parts, position = [], 0
    for match in tokens:
        if match.start() in replacements:
            parts += [page[position:match.start()], replacements[match.start()]]
            position = match.end()
    return "".join(parts) + page[position:]


def _html_lang(lang: str) -> str:
    return {"zh": "zh-CN", "en": "en"}[lang]


def format_kpis(kpis: dict, params: Params) -> list[tuple[str, str, str]]:
    """(key, label, shown value) for each headline figure, in the index page's order, formatted by
    `segkit.report.numbers` in the run's language and currency: in English in full ("$2,500,315.63",
    "23,570"); in Chinese large figures in 万 / 亿 as a Chinese analyst writes them ("¥250.0万",
    "23.6万"). A figure the run could not measure (`NotMeasured`) is shown as it says ("—")."""
    lang, currency = params.lang, params.currency

    def shown(value, formatter) -> str:
        return formatter(value) if numbers.is_number(value) else format(value, "")

    def count(value):
        return shown(value, lambda v: numbers.headline_count(v, lang))

    return [
        ("customers", t("kpi.customers", lang), count(kpis["customers"])),
        ("orders", t("kpi.orders", lang), count(kpis["orders"])),
        ("revenue", t("kpi.revenue", lang), shown(kpis["revenue"], lambda v: numbers.headline_money(v, lang, currency))),
        ("top_share", t("kpi.top_share", lang, top=params.case_study.top_share),
         shown(kpis["top_share"], lambda v: numbers.percent(v, lang, 1))),
        ("valuable", t("kpi.valuable", lang), count(kpis["valuable"])),
        ("at_risk", t("kpi.at_risk", lang), count(kpis["at_risk"])),
        ("clusters", t("kpi.clusters", lang), shown(kpis["clusters"], lambda v: numbers.integer(v, lang))),
        ("silhouette", t("kpi.silhouette", lang), shown(kpis["silhouette"], lambda v: numbers.decimal_number(v, lang, 3))),
        ("rows_in", t("kpi.rows_in", lang), count(kpis["rows_in"])),
        # beside the later rows, the card counts the others: its label says so, as the cleaning page counts both
        ("rows_aside", t("kpi.rows_aside_other" if kpis.get("rows_later") else "kpi.rows_aside", lang),
         count(kpis["rows_aside"])),
        *([("rows_later", t("kpi.rows_later", lang), count(kpis["rows_later"]))] if kpis.get("rows_later") else []),
    ]


def write_index(target: Path, kpis: dict, params: Params, params_path: Path, pdf: bool, run_name: str,
                notebooks: tuple[str, ...] = NOTEBOOKS) -> None:
    """The index page: the executive summary (`executive_summary`), the headline figures and the list of
    sections, which is the report's contents (in the PDF, with page numbers); the section pages carry
    the contents as a sidebar."""
    lang = params.lang
    from segkit import __version__
    from segkit.store import load_run_info

    info = load_run_info(target.parent / "data")
    caveats = headline_caveats(info, lang, kpis)
    cards = "\n".join(figure_card("kpi", key, label, value) for key, label, value in format_kpis(kpis, params))
    sections = "\n".join(
        f'<li><a href="{notebook}.html">{escape(t(f"nb{notebook[:2]}.title", lang))}</a></li>'
        for notebook in notebooks)
    pdf_link = f'<p class="pdf"><a href="report.pdf">{escape(t("report.pdf", lang))}</a></p>' if pdf else ""
    from segkit.report.monthly_index import monthly_section

    monthly = monthly_section(target.parent / "data", params)  # alerts and KPIs over time ("" without 06)
    generated = t("report.generated", lang, when=dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
                  version=__version__, params=params_path.name)
    summary = executive_summary(target.parent / "data", kpis, params)
    masked = masked_ids_line(params)  # "" unless report.mask_ids
    page = f"""<!DOCTYPE html>
<html lang="{_html_lang(lang)}"><head><meta charset="utf-8">{CSP_META}
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(t("report.title", lang))} · {escape(run_name)}</title>
<style>
{palette_css()}
{REPORT_CSS}
{INDEX_BODY_CSS}
{INDEX_CSS}</style></head>
<body data-segkit-page="index">
<main>
<h1>{escape(t("report.title", lang))}</h1>
<p class="meta">{escape(data_up_to(info, lang))} · {escape(generated)}</p>
{masked}{summary}
<h2>{escape(t("report.headline", lang))}</h2>
<div class="kpis">
{cards}
</div>
{caveats}
{monthly}
<h2>{escape(t("report.sections", lang))}</h2>
<ul class="sections">
{sections}
</ul>
{pdf_link}
</main>
</body></html>
"""
    target.write_text(page, encoding="utf-8")


def masked_ids_line(params: Params) -> str:
    """The index's line saying that the pages show customer ids masked (with two examples of
    `segkit.report.masking.mask_id`) and that exports/ and data/ keep them, as HTML through
    `segkit.report.html.say`; "" when `report.mask_ids` is off."""
    if not params.report.mask_ids:
        return ""
    from segkit.report.html import say
    from segkit.report.masking import mask_id

    return say("report.ids_masked", params.lang, phone=mask_id("13800138000"), email=mask_id("ann@example.com")).markup


# The cleaning notes that bear on the headline's money: said under it too, not only on 01's page.
HEADLINE_NOTES = ("currency_sign_differs", "decimal_mark_differs", "month_partly_covered", "month_not_covered",
                  "month_to_date")


def data_up_to(info: dict, lang: str) -> str:
    """The index's "Data up to <as-of>" (run.json's `as_of`), with the data's last date when a
    cleaning note says they end before it (a month the data reach in part, or not at all)."""
    as_of = info.get("as_of")
    shown = as_of.isoformat() if hasattr(as_of, "isoformat") else (str(as_of) if as_of else "—")
    last = next((note.get("last") for note in info.get("cleaning_notes") or []
                 if note.get("key") in ("month_partly_covered", "month_not_covered")), None)
    return t("report.as_of_data_end", lang, as_of=shown, last=last) if last else t("report.as_of", lang, as_of=shown)


# From this share of the input rows set aside by cleaning (besides rows of later months), the index
# says so under its headline: the figures leave out that much of the data (a file of two date orders
# pasted together lost 39% of its rows to unreadable dates, with nothing on the index to say so)
SET_ASIDE_HEADLINE_SHARE = 0.05


def headline_caveats(info: dict, lang: str, kpis: dict | None = None) -> str:
    """HTML (through `segkit.report.html.say_each`, the one escaping point) for the index, under the
    headline figures: the share of the input rows that cleaning set aside, from SET_ASIDE_HEADLINE_SHARE
    (`kpis`: rows_in, rows_aside, as `segkit.report.tables.run_kpis` gives them), and the run's
    cleaning notes of HEADLINE_NOTES (run.json's `cleaning_notes`), e.g. amounts written in another
    currency than the params' and summed as written; "" when there are none."""
    notes = [note_message(note) for note in info.get("cleaning_notes") or [] if note.get("key") in HEADLINE_NOTES]
    rows, aside = (kpis or {}).get("rows_in") or 0, (kpis or {}).get("rows_aside") or 0
    if rows and aside / rows >= SET_ASIDE_HEADLINE_SHARE:
        notes.insert(0, ("cleaning.headline_set_aside", {"rows": rows, "aside": aside, "share": aside / rows}))
    return f'<div class="headline-notes">{say_each(notes, lang).markup}</div>' if notes else ""


SUMMARY_FIGURES = ("customers", "revenue", "top_share", "valuable", "at_risk")


def summary_sentences(data_dir: Path, params: Params) -> list[str]:
    """The executive summary's three sentences, as HTML from segkit.report.html: what to do about the
    valuable customers, the ones drifting away and the lost ones (the case study's own sentences, from
    `segkit.case_findings` on the run's features and segments); when recency cannot tell customers
    apart and those groups cannot be named, the sentence on how concentrated revenue is comes instead."""
    from segkit.classify.rfm import load_segment_map
    from segkit.report.html import say
    from segkit.report.tables import case_findings, case_group_text
    from segkit.store import load_run_info, load_stage

    features, segments = load_stage(data_dir, "features"), load_stage(data_dir, "segments")
    unusable = load_run_info(data_dir).get("rfm_unusable")
    grid = load_segment_map(params.rfm.segment_map, custom=params.rfm.custom_maps)
    findings = case_findings(features, segments, top=params.case_study.top_share, segment_map=grid)
    groups = (case_group_text(findings, group, params.lang, currency=params.currency, unusable=unusable)
              for group in ("valuable", "at_risk", "gone"))
    sentences = [shown.markup for shown in groups if shown is not None]
    if len(sentences) < 3:
        sentences.insert(0, say("case.concentration", params.lang, top=findings["top"], n_top=findings["n_top"],
                                share=findings["top_share"]).markup)
    return sentences[:3]


def executive_summary(data_dir: Path, kpis: dict, params: Params) -> str:
    """The executive summary that opens the index page and the PDF: five headline figures (customers,
    revenue, the top customers' share of revenue, the valuable and the at-risk customers; formatted as
    `format_kpis` formats them, money in the run's currency) and three sentences a manager can act on
    (`summary_sentences`). HTML; every value escaped."""
    lang = params.lang
    shown = {key: (label, value) for key, label, value in format_kpis(kpis, params)}
    figures = "\n".join(figure_card("summary-figure", key, *shown[key]) for key in SUMMARY_FIGURES)
    actions = "\n".join(f"<li>{sentence}</li>" for sentence in summary_sentences(data_dir, params))
    return (f'<section class="segkit-summary" aria-labelledby="segkit-summary">'
            f'<h2 id="segkit-summary">{escape(t("layout.summary", lang))}</h2>'
            f'<div class="summary-figures" role="group" aria-label="{escape(t("layout.summary_figures", lang))}">'
            f'\n{figures}\n</div>'
            f'<ul class="summary-actions" aria-label="{escape(t("layout.summary_actions", lang))}">'
            f'\n{actions}\n</ul></section>')


def write_pdf(folder: Path, target: Path, notebooks: tuple[str, ...] = NOTEBOOKS) -> None:
    """index.html and the section pages as one A4 PDF, in that order, numbered through (WeasyPrint):
    the executive summary and the contents (with page numbers) first, then one section per notebook,
    each from a new page. Wide tables are set smaller or on a landscape page and split between rows
    with their header repeated; headings stay with what follows; charts fit the page (PRINT_CSS).

    Each part is laid out on its own and the pages joined, numbered through
    (`segkit.report.pdf_build.SectionedPdf`, which a run feeds section by section as the pages are written).
    The build reads nothing but `data:` URIs and the page assets of `folder` (`RunFolderFetcher`):
    no file elsewhere on the machine, no network, no data file of the run as an attachment.
    """
    from segkit.report.pdf_build import SectionedPdf

    SectionedPdf(folder, notebooks).write(target)


def fonts_subset_slowly() -> bool:
    """Whether WeasyPrint lacks HarfBuzz's font subsetter (the libharfbuzz-subset library) and subsets
    the PDF's fonts with fontTools instead: 10-15 s of CPU for each CJK font the PDF uses (Noto Sans
    CJK has 65,535 glyphs, and WeasyPrint keeps the glyph numbers) where HarfBuzz takes 0.1 s. An English
    report uses three (regular, bold, and a fallback for Chinese names in the data): the PDF of the 10M
    benchmark run took 34 s without it, about 12 s with it. WeasyPrint says so only in a log line the
    report silences (write_pdf), so the runner says it (Debian/Ubuntu: apt-get install libharfbuzz-subset0)."""
    try:
        from weasyprint.text import ffi
    except (ImportError, OSError):  # no WeasyPrint, no pango: write_pdf says so
        return False
    return getattr(ffi, "harfbuzz_subset", True) is None


def run_folder_fetcher(folder: Path):
    """A WeasyPrint URL fetcher that serves `data:` URIs and the page assets (images, styles, fonts)
    inside `folder`, and refuses everything else: other files, http(s), ftp, links out of the folder.
    Refused URLs are listed in its `refused` attribute."""
    from urllib.parse import urlsplit
    from urllib.request import url2pathname

    from weasyprint.urls import URLFetcher

    root = folder.resolve()

    class RunFolderFetcher(URLFetcher):
        refused: list[str] = []

        def fetch(self, url, headers=None):
            scheme = url.split(":", 1)[0].lower()
            if scheme == "data":
                return super().fetch(url, headers)
            parts = urlsplit(url)
            if scheme == "file" and parts.netloc.lower() in ("", "localhost"):  # never another host
                path = Path(url2pathname(parts.path)).resolve()
                if path.is_relative_to(root) and path.suffix.lower() in PAGE_ASSETS and path.is_file():
                    return super().fetch(url, headers)
            self.refused.append(url)
            raise ValueError(f"the report's PDF reads only its own page assets, not {url[:200]}")

    fetcher = RunFolderFetcher(allowed_protocols=("data", "file"), allow_redirects=False)
    fetcher.refused = []
    return fetcher

