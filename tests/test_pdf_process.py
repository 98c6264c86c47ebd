"""The PDF written by a process of its own (segkit.report.pdf_process.BackgroundPdf)."""
import time

import pypdf
import pytest

from segkit.report.pdf_process import BackgroundPdf

PAGE = ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        '<style>.used {{ color: #123456 }} .unused {{ color: red }}</style></head>'
        '<body><h1 class="used">{title}</h1><p>{text}</p></body></html>')


def write_pages(folder):
    (folder / "index.html").write_text(PAGE.format(title="Summary", text="Contents"), encoding="utf-8")
    (folder / "02_rfm.html").write_text(PAGE.format(title="RFM scores", text="Recency, frequency, monetary"),
                                        encoding="utf-8")


def test_the_pdf_is_written_by_the_process_with_every_page_text(tmp_path):
    write_pages(tmp_path)
    with BackgroundPdf() as writer:
        writer.start(tmp_path, tmp_path / "report.pdf", ("02_rfm",))
        seconds = writer.result()
    assert seconds > 0
    text = "".join(page.extract_text() for page in pypdf.PdfReader(tmp_path / "report.pdf").pages)
    assert "Summary" in text and "Recency, frequency, monetary" in text


def test_an_error_of_the_pdf_is_raised_in_the_run_as_it_was_raised_there(tmp_path):
    write_pages(tmp_path)
    with BackgroundPdf() as writer:
        writer.start(tmp_path, tmp_path / "report.pdf", ("02_rfm", "03_customer_value"))
        with pytest.raises(FileNotFoundError, match="03_customer_value.html"):
            writer.result()
    assert not (tmp_path / "report.pdf").exists()


def test_a_writer_never_started_or_still_running_is_stopped_by_close(tmp_path):
    idle = BackgroundPdf()
    idle.close()
    assert not idle._process.is_alive()

    write_pages(tmp_path)
    busy = BackgroundPdf()
    busy.start(tmp_path, tmp_path / "report.pdf", ("02_rfm",))
    tick = time.perf_counter()
    busy.close()  # a run that failed while its PDF was being written
    assert not busy._process.is_alive() and time.perf_counter() - tick < 15
