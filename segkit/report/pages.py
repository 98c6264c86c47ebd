"""The report's pages: a section page from an executed notebook, the index page, and one PDF of them all.

The runner (segkit.report.runner) calls these once the notebooks have run; the notebooks write
their tables and sentences through segkit.report.html.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from segkit.i18n import t
from segkit.params import Params
from segkit.report.html import Money, escape

NOTEBOOKS = ("01_cleaning", "02_rfm", "03_customer_value", "04_clustering", "05_evaluation", "07_cross_sell",
             "08_case_study")
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
REPORT_CSS = """
body { font-family: "Noto Sans CJK SC", "Noto Sans", "DejaVu Sans", sans-serif; }
.segkit-nav { font-size: 0.9em; margin: 0.5em 0 1.2em; padding: 0.4em 0; border-bottom: 1px solid #ddd; }
.segkit-nav a, .segkit-nav strong { margin-right: 1em; }
table.segkit-table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1em; }
table.segkit-table th, table.segkit-table td { border-bottom: 1px solid #e3e3e3; padding: 3px 8px; text-align: right; }
table.segkit-table th { background: #f3f5f7; }
table.segkit-table td:first-child, table.segkit-table th:first-child { text-align: left; }
"""
PRINT_CSS = """
@page { size: A4; margin: 14mm 12mm; @bottom-right { content: counter(page); font-size: 9pt; } }
body { font-size: 10pt; }
h1, h2, h3 { break-after: avoid; }
img { max-width: 100%; break-inside: avoid; }
table { break-inside: avoid; }
.segkit-nav { display: none; }
.jp-Cell { break-inside: avoid; }
.segkit-part + .segkit-part { break-before: page; }
.segkit-part .kpis { grid-template-columns: repeat(4, 1fr); }  /* WeasyPrint has no auto-fill */
"""


def export_html(executed: Path, target: Path, lang: str, notebooks: tuple[str, ...] = NOTEBOOKS) -> None:
    """The executed notebook as a report page: no code, no prompts, no parameter cells."""
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    notebook = nbformat.read(executed, as_version=4)
    remover = TagRemovePreprocessor(remove_cell_tags=REMOVED_CELL_TAGS, enabled=True)
    notebook, _ = remover.preprocess(notebook, {})
    exporter = HTMLExporter(template_name="lab", exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True, exclude_anchor_links=True)
    body, _ = exporter.from_notebook_node(notebook)
    body = _without_scripts(body)
    nav = _nav(lang, current=executed.stem, notebooks=notebooks)
    body = body.replace("<body", f"<body data-segkit-page=\"{executed.stem}\"", 1)
    body = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + nav, body, count=1)
    body = body.replace("</head>", f"<style>{REPORT_CSS}</style></head>", 1)
    body = re.sub(r"<head[^>]*>", lambda m: m.group(0) + CSP_META, body, count=1)
    body = re.sub(r"<html[^>]*>", f'<html lang="{_html_lang(lang)}">', body, count=1)
    title = t(f"nb{executed.stem[:2]}.title", lang)
    body = re.sub(r"<title>.*?</title>", f"<title>{escape(title)}</title>", body, count=1, flags=re.S)
    target.write_text(body, encoding="utf-8")


def _without_scripts(page: str) -> str:
    # nbconvert's template brings require.js and MathJax (from a CDN) and widget state; a report needs
    # none of them, and every value the notebooks put in the page was escaped by segkit.report.html,
    # so each <script> element here is the template's own.
    return re.sub(r"<script\b[^>]*>.*?</script>", "", page, flags=re.S | re.I)


def _nav(lang: str, current: str, notebooks: tuple[str, ...] = NOTEBOOKS) -> str:
    links = [f'<a href="index.html">{escape(t("report.title", lang))}</a>']
    for notebook in notebooks:
        label = escape(t(f"nb{notebook[:2]}.title", lang))
        links.append(f"<strong>{label}</strong>" if notebook == current else f'<a href="{notebook}.html">{label}</a>')
    return f'<nav class="segkit-nav">{"".join(links)}</nav>'


def _html_lang(lang: str) -> str:
    return {"zh": "zh-CN", "en": "en"}[lang]


def format_kpis(kpis: dict, params: Params) -> list[tuple[str, str, str]]:
    """(key, label, shown value) for each headline figure, in the index page's order."""
    lang = params.lang
    return [
        ("customers", t("kpi.customers", lang), f"{kpis['customers']:,}"),
        ("orders", t("kpi.orders", lang), f"{kpis['orders']:,}"),
        ("revenue", t("kpi.revenue", lang), format(Money(kpis["revenue"], params.currency), ",.2f")),
        ("top_share", t("kpi.top_share", lang, top=params.case_study.top_share), f"{kpis['top_share']:.1%}"),
        ("valuable", t("kpi.valuable", lang), f"{kpis['valuable']:,}"),
        ("at_risk", t("kpi.at_risk", lang), f"{kpis['at_risk']:,}"),
        ("clusters", t("kpi.clusters", lang), f"{kpis['clusters']}"),
        ("silhouette", t("kpi.silhouette", lang), f"{kpis['silhouette']:.3f}"),
        ("rows_in", t("kpi.rows_in", lang), f"{kpis['rows_in']:,}"),
        ("rows_aside", t("kpi.rows_aside", lang), f"{kpis['rows_aside']:,}"),
    ]


def write_index(target: Path, kpis: dict, params: Params, params_path: Path, pdf: bool, run_name: str,
                notebooks: tuple[str, ...] = NOTEBOOKS) -> None:
    lang = params.lang
    from segkit import __version__
    from segkit.store import load_run_info

    as_of = load_run_info(target.parent / "data").get("as_of")  # a customer table may not state one
    cards = "\n".join(
        f'<div class="kpi" data-kpi="{key}"><div class="value">{escape(value)}</div>'
        f'<div class="label">{escape(label)}</div></div>'
        for key, label, value in format_kpis(kpis, params))
    sections = "\n".join(
        f'<li><a href="{notebook}.html">{escape(t(f"nb{notebook[:2]}.title", lang))}</a></li>'
        for notebook in notebooks)
    pdf_link = f'<p class="pdf"><a href="report.pdf">{escape(t("report.pdf", lang))}</a></p>' if pdf else ""
    generated = t("report.generated", lang, when=dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
                  version=__version__, params=params_path.name)
    page = f"""<!DOCTYPE html>
<html lang="{_html_lang(lang)}"><head><meta charset="utf-8">{CSP_META}
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(t("report.title", lang))} · {escape(run_name)}</title>
<style>
body {{ font-family: "Noto Sans CJK SC", "Noto Sans", "DejaVu Sans", sans-serif; margin: 2em auto; max-width: 960px; color: #222; padding: 0 1em; }}
h1 {{ margin-bottom: 0.1em; }} .meta {{ color: #666; margin-top: 0; }}
.kpis {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 12px; margin: 1em 0 2em; }}
.kpi {{ box-sizing: border-box; border: 1px solid #dde3ea; border-radius: 6px; padding: 12px; background: #f8fafc; }}
.kpi .value {{ font-size: 1.6em; font-weight: 600; overflow-wrap: anywhere; color: #2f6690; }}
.kpi .label {{ font-size: 0.85em; color: #555; margin-top: 4px; }}
ul.sections {{ list-style: none; padding-left: 0; }} li {{ margin: 0.4em 0; font-size: 1.1em; }}
@page {{ size: A4; margin: 16mm; }}
</style></head>
<body data-segkit-page="index">
<h1>{escape(t("report.title", lang))}</h1>
<p class="meta">{escape(t("report.as_of", lang, as_of=as_of.isoformat() if as_of else "—"))} · {escape(generated)}</p>
<h2>{escape(t("report.headline", lang))}</h2>
<div class="kpis">
{cards}
</div>
<h2>{escape(t("report.sections", lang))}</h2>
<ul class="sections">
{sections}
</ul>
{pdf_link}
</body></html>
"""
    target.write_text(page, encoding="utf-8")


def write_pdf(folder: Path, target: Path, notebooks: tuple[str, ...] = NOTEBOOKS) -> None:
    """index.html and the section pages as one A4 PDF, in that order, numbered through (WeasyPrint).

    The pages are joined into one document first, so that page numbers run on across sections.
    The build reads nothing but `data:` URIs and the page assets of `folder` (`RunFolderFetcher`):
    no file elsewhere on the machine, no network, no data file of the run as an attachment.
    """
    import logging

    from weasyprint import HTML

    logging.getLogger("weasyprint").setLevel(logging.ERROR)  # nbconvert CSS has rules it ignores
    pages = {name: (folder / f"{name}.html").read_text(encoding="utf-8") for name in ("index", *notebooks)}
    head = re.search(r"<head>(.*?)</head>", pages[notebooks[0]], re.S).group(1)
    index_style = "".join(re.findall(r"<style>(.*?)</style>", pages["index"], re.S))
    index_style = re.sub(r"body\s*\{[^}]*\}", "", index_style)  # the section pages' body style wins
    bodies = [re.search(r"<body[^>]*>(.*)</body>", pages[name], re.S).group(1) for name in ("index", *notebooks)]
    joined = "".join(f'<section class="segkit-part">{body}</section>' for body in bodies)
    # The print rules come last in the document itself, so that they win over the pages' own.
    document = (f'<!DOCTYPE html><html lang="{_lang_of(pages["index"])}"><head>{head}<style>{index_style}</style>'
                f"<style>{PRINT_CSS}</style></head><body>{joined}</body></html>")
    fetcher = run_folder_fetcher(folder)
    HTML(string=document, base_url=folder.resolve().as_uri() + "/", url_fetcher=fetcher).write_pdf(str(target))


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


def _lang_of(page: str) -> str:
    found = re.search(r'<html lang="([^"]+)"', page)
    return found.group(1) if found else "en"
