"""The PDF laid out one part at a time (segkit.report.pdf_build, segkit.report.pdf_process): pages
numbered through, the contents pointing at the right pages whatever the index's length, sections
laid out in the background as a run writes their pages, errors brought back to the run."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from segkit.report import runner
from segkit.report.html import table
from segkit.report.pdf_build import SectionedPdf
from segkit.report.pdf_process import BackgroundPdf
from test_pdf_layout import index_page, pdf_text, printed_numbers, section_page, squeezed

SECTIONS = ("01_cleaning", "02_rfm", "03_customer_value")


def contents(pdf, sections=SECTIONS) -> dict[str, int]:
    """The page the contents (on page 1) give for each section."""
    text = pdf_text(pdf, 1, 1, raw=False)
    return {name: int(re.search(re.escape(name) + r"[ .\u2026]*?(\d+)\s*$", text, re.M).group(1)) for name in sections}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Three section pages of 1, 2-3 and 1 pages (the second a 90-row table, then one too wide for
    portrait) and a one-page index, made as a run makes them."""
    folder = tmp_path_factory.mktemp("sections")
    long = pd.DataFrame({"customer_id": [f"C{n:06d}" for n in range(90)], "revenue": np.linspace(1, 9e5, 90)})
    wide = pd.DataFrame({f"Month {m:02d} revenue": [1_234_567.25] * 3 for m in range(1, 19)})
    outputs = {"01_cleaning": ["<h1>01_cleaning</h1>", "<p>first</p>"],
               "02_rfm": ["<h1>02_rfm</h1>", table(long, "en", currency=None).to_html(),
                          table(wide, "en", currency=None).to_html()],
               "03_customer_value": ["<h1>03_customer_value</h1>", "<p>third</p>"]}
    for name, shown in outputs.items():
        section_page(folder, name, shown)
    index_page(folder, SECTIONS)
    return folder


@pytest.mark.parametrize("guess", [1, 2, 3])
def test_pages_are_numbered_through_and_the_contents_point_at_each_section(folder, tmp_path, guess):
    from pypdf import PdfReader

    pdf = SectionedPdf(folder, SECTIONS, index_pages=guess)
    for name in SECTIONS:  # as a run adds them, each once its page is written
        pdf.add(name)
    pdf.write(tmp_path / "report.pdf")
    # the index takes one page: a wrong guess lays every section out again, once
    assert pdf.index_pages == 1 and pdf.relaid == (0 if guess == 1 else len(SECTIONS))
    reader = PdfReader(tmp_path / "report.pdf")
    assert printed_numbers(tmp_path / "report.pdf") == [str(n) for n in range(1, len(reader.pages) + 1)]
    found = contents(tmp_path / "report.pdf")
    for name, page in found.items():
        assert squeezed(pdf_text(tmp_path / "report.pdf", page, page)).startswith(name), (name, page)
    assert found["01_cleaning"] == 2 and found["03_customer_value"] - found["02_rfm"] >= 2
    # the contents link to the sections; each part's h1 is a bookmark; the wide table's page turns
    targets = [reader.get_destination_page_number(item) + 1 for item in reader.outline if not isinstance(item, list)]
    assert targets == [1, *found.values()]
    links = [annotation.get_object() for annotation in reader.pages[0].get("/Annots", [])]
    assert {str(link.get("/Dest")) for link in links if link.get("/Subtype") == "/Link"} == {f"part-{n}" for n in SECTIONS}
    assert {f"part-{n}" for n in SECTIONS} <= set(reader.named_destinations)
    assert [reader.get_destination_page_number(reader.named_destinations[f"part-{n}"]) + 1 for n in SECTIONS] \
        == list(found.values())
    sizes = [(float(page.mediabox.width), float(page.mediabox.height)) for page in reader.pages]
    assert any(width > height for width, height in sizes) and sizes[0][0] < sizes[0][1]


def test_the_pdf_is_titled_as_the_index_names_the_report_not_as_its_first_section(tmp_path):
    """pdfinfo gave `Title: 1. Data cleaning`: WeasyPrint took the first part's title."""
    from pypdf import PdfReader

    section_page(tmp_path, "01_cleaning", ["<h1>01_cleaning</h1>"], lang="zh")
    index_page(tmp_path, ("01_cleaning",), title="客户分群报告 · demo")
    assert "<title>1. 数据清洗</title>" in (tmp_path / "01_cleaning.html").read_text(encoding="utf-8")
    SectionedPdf(tmp_path, ("01_cleaning",)).write(tmp_path / "report.pdf")
    assert PdfReader(tmp_path / "report.pdf").metadata.title == "客户分群报告 · demo"


def body_margins(document) -> list[tuple[float, float]]:
    """(top, bottom) margin of the body box on each page of a laid-out WeasyPrint document."""
    found = []
    for page in document.pages:
        body = page._page_box.children[0].children[0]
        found.append((body.margin_top, body.margin_bottom))
    return found


def test_the_body_margin_is_above_the_index_and_below_the_last_section_only(folder):
    # as in one document: a section's first page starts as high as any page that follows a break
    pdf = SectionedPdf(folder, SECTIONS)
    for name in SECTIONS:
        pdf.add(name)
    index = pdf._lay_out("index", 1)
    assert body_margins(index)[0][0] > 0
    assert all(top == 0 for name in SECTIONS for top, _ in body_margins(pdf.laid_out[name]))
    assert all(bottom == 0 for name in SECTIONS[:-1] for _, bottom in body_margins(pdf.laid_out[name]))
    assert body_margins(pdf.laid_out[SECTIONS[-1]])[-1][1] > 0


def test_the_index_length_is_guessed_from_the_monthly_section(folder):
    assert SectionedPdf(folder, SECTIONS).index_pages == 1
    assert SectionedPdf(folder, (*SECTIONS, "06_migration")).index_pages == 2


def test_a_section_out_of_order_is_refused(folder):
    pdf = SectionedPdf(folder, SECTIONS)
    with pytest.raises(ValueError, match="02_rfm added out of order: the next section of the PDF is 01_cleaning"):
        pdf.add("02_rfm")


def test_the_background_process_lays_out_sections_before_it_is_asked_for_the_pdf(folder, tmp_path):
    with BackgroundPdf() as writer:
        for name in SECTIONS[:2]:
            writer.add_section(folder, SECTIONS, name)
        writer.start(folder, tmp_path / "report.pdf", SECTIONS)  # the third is laid out now
        seconds = writer.result()
    assert seconds > 0 and writer.sections_seconds > 0
    assert printed_numbers(tmp_path / "report.pdf")[-1] == str(len(printed_numbers(tmp_path / "report.pdf")))
    assert list(contents(tmp_path / "report.pdf")) == list(SECTIONS)


def test_a_section_that_fails_is_the_error_of_the_pdf(folder, tmp_path):
    with BackgroundPdf() as writer:
        writer.add_section(folder, ("01_cleaning", "09_missing"), "01_cleaning")
        writer.add_section(folder, ("01_cleaning", "09_missing"), "09_missing")  # no page: fails in the child
        writer.start(folder, tmp_path / "report.pdf", ("01_cleaning", "09_missing"))
        with pytest.raises(FileNotFoundError, match="09_missing.html"):
            writer.result()
    assert not (tmp_path / "report.pdf").exists()


@pytest.mark.parametrize("cores", [2, 4])
def test_sections_are_laid_out_early_only_in_runs_up_to_the_size_set(tmp_path, monkeypatch, cores):
    import pyarrow as pa
    import pyarrow.parquet as pq

    monkeypatch.setattr(runner, "_cores", lambda: cores)
    assert not runner.pdf_sections_early(tmp_path)  # before 01 has written the features
    pq.write_table(pa.table({"customer_id": [str(n) for n in range(500)]}), tmp_path / "features.parquet")
    setting = "PDF_EARLY_MAX_CUSTOMERS" if cores > 2 else "PDF_EARLY_MAX_CUSTOMERS_TWO_CORES"
    other = "PDF_EARLY_MAX_CUSTOMERS_TWO_CORES" if cores > 2 else "PDF_EARLY_MAX_CUSTOMERS"
    monkeypatch.setattr(runner, other, 10 ** 6)  # the other machine's limit plays no part
    monkeypatch.setattr(runner, setting, 500)
    assert runner.pdf_sections_early(tmp_path)
    monkeypatch.setattr(runner, setting, 499)
    assert not runner.pdf_sections_early(tmp_path)


def test_a_process_that_ended_after_saying_it_was_ready_is_reported_as_such(folder, tmp_path):
    import signal

    with BackgroundPdf() as writer:
        ready = writer._process.stdout.readline()
        assert "ready" in ready
        writer._answer = lambda: {"ready": True}  # noqa: E731 - its line was read above
        writer._process.send_signal(signal.SIGKILL)
        writer._process.wait(timeout=10)
        writer.add_section(folder, SECTIONS, "01_cleaning")  # a dead child: nothing raised here
        with pytest.raises(RuntimeError, match=r"the process writing the PDF ended \(exit code -9\)"):
            writer.start(folder, tmp_path / "report.pdf", SECTIONS)


def test_no_section_is_sent_once_the_writer_is_closed(folder):
    writer = BackgroundPdf(lower_priority=True)
    writer.close()
    writer.add_section(folder, SECTIONS, "01_cleaning")  # the run failed meanwhile: ignored, no error
    assert writer._process.poll() is not None
