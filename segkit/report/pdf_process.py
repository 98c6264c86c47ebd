"""The report's PDF written by a process of its own, while the notebooks run and the run writes the exports.

WeasyPrint and the exports are both Python work that holds the interpreter lock, so a thread would
not overlap them; a process does. It is started ahead and imports WeasyPrint then. In a small run
(`segkit.report.runner.PDF_EARLY_MAX_CUSTOMERS`) it starts after the first notebook and lays out each
section as its page is written (`add_section`), so that only the last section, the index and the
file are left when the notebooks end (`segkit.report.pdf_build`). In a large one it starts while the
last notebook runs and lays out everything at `start`, beside the exports (at 10M lines the exports
take about 18 s and the PDF about 13 s), so that the layouts are not held while the notebooks run.

The child is a fresh interpreter (`python -m segkit.report.pdf_process`), not a multiprocessing
child: it never re-runs the caller's script (a script that calls run_report without a
`__main__` guard), it starts from daemonic processes (a multiprocessing.Pool or Celery worker), and
in a session of its own it does not see the terminal's Ctrl-C (the run stops it). The job and the
answer are one JSON line each way.
"""
from __future__ import annotations

import builtins
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


NICENESS = 10  # the child's priority below the run's (os.nice)


class BackgroundPdf:
    """`segkit.report.pages.write_pdf` in a process of its own: `start(folder, target, notebooks)`
    (returns whether the fonts are subset slowly, `pages.fonts_subset_slowly`), then `result()` returns
    the PDF's seconds or raises its error: a built-in exception of write_pdf as its own type with its
    text (FileNotFoundError, ValueError, ...), any other as a RuntimeError naming it. `close()` stops a
    process still running (a run that failed meanwhile) at once; use it as a context manager."""

    def __init__(self, lower_priority: bool = False):
        """`lower_priority`: the child runs at NICENESS, for a PDF laid out while the notebooks run."""
        package_parent = str(Path(__file__).resolve().parents[2])  # this segkit, wherever it was imported from
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")]))}
        self._said = tempfile.TemporaryFile()  # its stderr: a pipe nobody reads could fill and block it
        command = [sys.executable, "-m", "segkit.report.pdf_process", *(["--lower-priority"] if lower_priority else [])]
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=self._said, text=True, encoding="utf-8",
                                         env=env, start_new_session=True)
        self._started = False
        self._closed = False
        self._lock = threading.Lock()  # the run's page thread sends sections; its main thread closes
        self.sections_seconds = 0.0  # the sections laid out before `start`, while the notebooks ran

    def add_section(self, folder: Path, notebooks: tuple[str, ...], name: str) -> None:
        """Have section `name` laid out now (`segkit.report.pdf_build.SectionedPdf.add`): the next of
        `notebooks`, whose page is in `folder`. A child that has ended says so at `start` or `result`."""
        with self._lock:
            if self._closed:  # the run failed or was stopped meanwhile
                return
            self._started = True
            try:
                self._process.stdin.write(json.dumps({"section": name, "folder": str(folder),
                                                      "notebooks": list(notebooks)}) + "\n")
                self._process.stdin.flush()
            except (OSError, ValueError):
                pass

    def start(self, folder: Path, target: Path, notebooks: tuple[str, ...]) -> bool:
        """Have the PDF written: the sections not laid out yet, the index, the file."""
        ready = self._answer()  # the child's first line, written once its imports are made
        self._started = True
        try:
            self._process.stdin.write(json.dumps({"folder": str(folder), "target": str(target),
                                                  "notebooks": list(notebooks)}) + "\n")
            self._process.stdin.flush()
        except OSError:  # it ended after saying it was ready (its memory, a signal): say how
            self._ended()
        return bool(ready.get("fonts_subset_slowly"))

    def result(self) -> float:
        answer = self._answer()
        if answer.get("done"):
            self.sections_seconds = float(answer.get("sections_seconds", 0.0))
            return float(answer["seconds"])
        kind = getattr(builtins, answer.get("type", ""), None)
        if isinstance(kind, type) and issubclass(kind, Exception):
            raise kind(answer.get("message", ""))
        raise RuntimeError(f"{answer.get('type')}: {answer.get('message')}")

    def _answer(self) -> dict:
        try:
            line = self._process.stdout.readline()
            return json.loads(line)
        except (OSError, ValueError):
            self._ended()

    def _ended(self) -> None:
        """Raise a RuntimeError with the ended child's exit code and the last line it wrote."""
        self._process.wait(timeout=10)
        self._said.seek(0)
        said = self._said.read().decode("utf-8", "replace").strip().splitlines()
        raise RuntimeError(f"the process writing the PDF ended (exit code {self._process.returncode})"
                           + (f": {said[-1]}" if said else "")) from None

    def close(self) -> None:
        with self._lock:  # no section is sent from now on
            self._closed = True
        if self._process.poll() is None:
            if self._started:  # still writing the PDF of a run that failed meanwhile: stop it now
                self._process.terminate()
            else:
                try:
                    self._process.stdin.close()  # the child ends when its job never comes
                except OSError:
                    pass
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        for pipe in (self._process.stdin, self._process.stdout, self._said):
            try:
                pipe.close()
            except OSError:
                pass

    def __enter__(self) -> BackgroundPdf:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _serve() -> None:
    """The child: import what the PDF needs, say it is ready, lay out each section as it comes, then
    write the PDF and answer."""
    from segkit.report.pages import fonts_subset_slowly
    from segkit.report.pdf_build import SectionedPdf

    if "--lower-priority" in sys.argv[1:] and hasattr(os, "nice"):  # laid out beside the notebooks: the CPU they leave
        os.nice(NICENESS)
    slowly = fonts_subset_slowly()  # imports WeasyPrint (and pango) now, while the notebooks run
    print(json.dumps({"ready": True, "fonts_subset_slowly": slowly}), flush=True)
    pdf, failure, early = None, None, 0.0
    for line in sys.stdin:
        job = json.loads(line)
        tick = time.perf_counter()
        try:
            if failure is not None:
                raise failure
            if pdf is None:
                pdf = SectionedPdf(Path(job["folder"]), tuple(job["notebooks"]))
            if "section" in job:
                pdf.add(job["section"])
            else:
                pdf.write(Path(job["target"]))
        except Exception as error:  # noqa: BLE001 - sent back to be raised in the run
            failure = error
        if "section" in job:
            early += time.perf_counter() - tick
            continue
        if failure is None:
            answer = {"done": True, "seconds": time.perf_counter() - tick, "sections_seconds": early}
        else:
            answer = {"done": False, "type": type(failure).__name__, "message": str(failure)}
        print(json.dumps(answer), flush=True)
        return


if __name__ == "__main__":
    _serve()
