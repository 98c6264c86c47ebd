"""The PDF written by a process of its own (segkit.report.pdf_process.BackgroundPdf)."""
import subprocess
import sys
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
    from segkit.report.pages import fonts_subset_slowly

    with BackgroundPdf() as writer:
        slowly = writer.start(tmp_path, tmp_path / "report.pdf", ("02_rfm",))
        seconds = writer.result()
    assert seconds > 0 and slowly is fonts_subset_slowly()
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
    assert idle._process.poll() is not None

    write_pages(tmp_path)
    busy = BackgroundPdf()
    busy.start(tmp_path, tmp_path / "report.pdf", ("02_rfm",))
    tick = time.perf_counter()
    busy.close()  # a run that failed while its PDF was being written: stopped at once, not waited for
    assert busy._process.poll() is not None and time.perf_counter() - tick < 3
    assert not (tmp_path / "report.pdf").exists()


def test_the_writer_starts_from_a_daemonic_process_and_never_reruns_the_callers_script(tmp_path):
    """A fresh interpreter, not a multiprocessing child: a script without a __main__ guard is not run
    again, and a multiprocessing.Pool worker (daemonic, so it may not have multiprocessing children) works."""
    write_pages(tmp_path)
    script = tmp_path / "unguarded.py"
    script.write_text(
        "import multiprocessing, pathlib, sys\n"
        "from segkit.report.pdf_process import BackgroundPdf\n"
        f"folder = pathlib.Path({str(tmp_path)!r})\n"
        "(folder / 'runs.txt').open('a').write('ran\\n')\n"
        "def pdf(_):\n"
        "    with BackgroundPdf() as writer:\n"
        "        writer.start(folder, folder / 'report.pdf', ('02_rfm',))\n"
        "        return writer.result()\n"
        "with multiprocessing.get_context('fork').Pool(1) as pool:\n"
        "    print(pool.map(pdf, [0]))\n", encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "runs.txt").read_text() == "ran\n" and (tmp_path / "report.pdf").stat().st_size > 1000
