"""The report's PDF, laid out one part at a time: each section as soon as its page is written, the
index (the executive summary and the contents) last, then all pages as one PDF.

WeasyPrint lays out the 40-odd pages of a report in 10-15 s, most of it tables and line breaking.
Laid out as one joined document, that work could only start once every page, the index included,
was written, and it was the tail of every small run. Laid out part by part, a small run's sections
are done while the later notebooks run (`segkit.report.pdf_process` does it in a process of its own,
`segkit.report.runner.pdf_sections_early` says when), and what is left at the end is the last
section, the index and the writing.

The parts are the same as in one document: every part is laid out with the same style sheets
(the first section page's, the index page's and PRINT_CSS) and starts on a new page; the pages
are numbered through, each part's first page number set with `@page :first { counter-reset }`.
The section pages come after the index, whose length is known only at the end: they are numbered
as if the index took `index_pages` pages (two with the monthly section, one without), and laid out
again, with the right numbers, when it takes another number. The contents' page numbers are
written into the index's style as text, since the sections are other documents to it; its links
to the sections, the bookmarks and the page sizes (landscape parts) are kept when the pages are
joined (`weasyprint.Document.copy`), and the PDF's title is the index page's (the report and its run).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

# The index's pages as the section pages are first numbered: two with the monthly section (alerts
# and KPIs over time, from 06_migration), one without it (a customer-level run).
INDEX_PAGES = 2
INDEX_PAGES_WITHOUT_MONTHLY = 1


class SectionedPdf:
    """The PDF of the run folder `folder` (index.html and the pages of `notebooks`): `add(name)`
    lays out the next section in `notebooks` order once its page is in the folder; `write(target)`
    lays out the sections not added yet and the index (once index.html is written) and writes the
    PDF. Raises ValueError for a section added out of order, and what WeasyPrint raises."""

    def __init__(self, folder: Path, notebooks: tuple[str, ...], index_pages: int | None = None):
        import logging

        from segkit.report.pages import run_folder_fetcher

        logging.getLogger("weasyprint").setLevel(logging.ERROR)  # nbconvert CSS has rules it ignores

        self.folder = Path(folder)
        self.notebooks = tuple(notebooks)
        if index_pages is None:
            index_pages = INDEX_PAGES if "06_migration" in self.notebooks else INDEX_PAGES_WITHOUT_MONTHLY
        self.index_pages = index_pages
        self.laid_out: dict[str, object] = {}  # section -> WeasyPrint Document, in notebooks order
        self.relaid = 0  # sections laid out again because the index took another number of pages
        self._sheets: tuple[list[str], list[str], str] | None = None
        self._fetcher = run_folder_fetcher(self.folder)

    def add(self, name: str) -> None:
        """Lay out section `name`, the next one of `notebooks` not laid out yet."""
        expected = next((n for n in self.notebooks if n not in self.laid_out), None)
        if name != expected:
            raise ValueError(f"section {name} added out of order: the next section of the PDF is {expected}")
        self.laid_out[name] = self._lay_out(name, self._first_page(name))

    def write(self, target: Path) -> None:
        """Write the PDF to `target`: the index, then the sections, numbered through."""
        for name in self.notebooks:
            if name not in self.laid_out:
                self.add(name)
        index = self._lay_out("index", 1, self._contents_css())
        for _ in range(3):  # its contents name pages: its length moves them only when it changes
            if len(index.pages) == self.index_pages:
                break
            self.index_pages = len(index.pages)
            for name in self.notebooks:
                self.laid_out[name] = self._lay_out(name, self._first_page(name))
                self.relaid += 1
            index = self._lay_out("index", 1, self._contents_css())
        pages = [page for document in (index, *self.laid_out.values()) for page in document.pages]
        from segkit.report.pages import fonts_subset_slowly

        # Without HarfBuzz's subsetter, fontTools removing the fonts' hints is about 15% of the PDF's time
        # (6 s of 39 s of CPU on the 10M run); keeping them makes the PDF 1% larger, its text and pages the same.
        first = self.laid_out[self.notebooks[0]] if self.notebooks else index
        joined = first.copy(pages)
        # the document's title is the report's, as the index page names the run, not the first section's
        joined.metadata = copy.copy(first.metadata)
        joined.metadata.title = index.metadata.title
        joined.write_pdf(str(target), hinting=fonts_subset_slowly())

    def _first_page(self, name: str) -> int:
        number = self.index_pages + 1
        for earlier in self.notebooks[:self.notebooks.index(name)]:
            number += len(self.laid_out[earlier].pages)
        return number

    def _contents_css(self) -> str:
        """The contents' page numbers as text: each section's first page."""
        return "\n".join(f'ul.sections a[href="#part-{name}"]::after {{ content: leader(".") " {self._first_page(name)}"; }}'
                         for name in self.notebooks)

    def _lay_out(self, name: str, first_page: int, extra_css: str = ""):
        from weasyprint import HTML

        from segkit.report.pages import PRINT_CSS
        from segkit.report.unused_css import without_unused_rules

        page = (self.folder / f"{name}.html").read_text(encoding="utf-8")
        head, attributes, page_sheets, index_sheet = self._styles()
        title = re.search(r"<title>.*?</title>", page, re.S)  # each part is named as its page is
        head = re.sub(r"<title>.*?</title>", lambda _: title.group(0) if title else "", head, count=1, flags=re.S)
        body = re.search(r"<body[^>]*>(.*)</body>", page, re.S).group(1)
        if name == "index":  # its list of sections points into the PDF: it becomes the contents
            body = re.sub(r'href="(\d\d_\w+)\.html"', r'href="#part-\1"', body)
        part = f'<section class="segkit-part" id="part-{name}">{body}</section>'
        numbering = f"@page :first {{ counter-reset: page {first_page}; }}\n" if first_page > 1 else ""
        # in one document the body's margins were above the index and below the last section only
        if name != "index":
            numbering += "body { margin-top: 0 !important; }\n"
        if name != (self.notebooks[-1] if self.notebooks else "index"):
            numbering += "body { margin-bottom: 0 !important; }\n"
        # the print rules last, so that they win over the pages' own; the rules nothing in the part can
        # use go (about 95% of the notebook template's 260 KB): the same pages, 25% less time
        sheets = without_unused_rules([*page_sheets, index_sheet, PRINT_CSS + numbering + extra_css], part)
        styles = "".join(f"<style{found}>{sheet}</style>" for found, sheet in zip([*attributes, "", ""], sheets))
        lang = re.search(r'<html lang="([^"]+)"', page)
        document = (f'<!DOCTYPE html><html lang="{lang.group(1) if lang else "en"}"><head>{head}{styles}'
                    f"</head><body>{part}</body></html>")
        return HTML(string=document, base_url=self.folder.resolve().as_uri() + "/",
                    url_fetcher=self._fetcher).render()

    def _styles(self) -> tuple[str, list[str], list[str], str]:
        """The head of the first section page without its style sheets, those sheets' attributes
        (such as media=) and texts, and the index page's style (its body rule left out: the section
        pages' wins)."""
        if self._sheets is None:
            from segkit.report.pages import INDEX_CSS, REPORT_CSS, palette_css

            first = self.notebooks[0] if self.notebooks else "index"
            page = (self.folder / f"{first}.html").read_text(encoding="utf-8")
            head = re.search(r"<head>(.*?)</head>", page, re.S).group(1)
            found = re.findall(r"<style([^>]*)>(.*?)</style>", head, re.S)
            head = re.sub(r"<style[^>]*>.*?</style>", "", head, flags=re.S)
            index_sheet = re.sub(r"body\s*\{[^}]*\}", "", f"{palette_css()}\n{REPORT_CSS}\n{INDEX_CSS}")
            self._sheets = (head, [a for a, _ in found], [sheet for _, sheet in found], index_sheet)
        return self._sheets
