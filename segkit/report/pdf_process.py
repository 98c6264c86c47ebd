"""The report's PDF written by a process of its own, while the run writes the exports.

WeasyPrint and the exports are both Python work that holds the interpreter lock, so a thread would
not overlap them; a process does. It is started ahead (`BackgroundPdf()`, while the last notebook
runs) and imports WeasyPrint then, so that the PDF starts at once when `start` is called. At 10M
lines the exports take about 18 s and the PDF about 13 s: one now runs beside the other.

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
import time
from pathlib import Path


class BackgroundPdf:
    """`segkit.report.pages.write_pdf` in a process of its own: `start(folder, target, notebooks)`
    (returns whether the fonts are subset slowly, `pages.fonts_subset_slowly`), then `result()` returns
    the PDF's seconds or raises its error: a built-in exception of write_pdf as its own type with its
    text (FileNotFoundError, ValueError, ...), any other as a RuntimeError naming it. `close()` stops a
    process still running (a run that failed meanwhile) at once; use it as a context manager."""

    def __init__(self):
        package_parent = str(Path(__file__).resolve().parents[2])  # this segkit, wherever it was imported from
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")]))}
        self._said = tempfile.TemporaryFile()  # its stderr: a pipe nobody reads could fill and block it
        self._process = subprocess.Popen([sys.executable, "-m", "segkit.report.pdf_process"], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=self._said, text=True, encoding="utf-8",
                                         env=env, start_new_session=True)
        self._started = False

    def start(self, folder: Path, target: Path, notebooks: tuple[str, ...]) -> bool:
        ready = self._answer()  # the child's first line, written once its imports are made
        self._process.stdin.write(json.dumps({"folder": str(folder), "target": str(target),
                                              "notebooks": list(notebooks)}) + "\n")
        self._process.stdin.flush()
        self._started = True
        return bool(ready.get("fonts_subset_slowly"))

    def result(self) -> float:
        answer = self._answer()
        if answer.get("done"):
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
            self._process.wait(timeout=10)
            self._said.seek(0)
            said = self._said.read().decode("utf-8", "replace").strip().splitlines()
            raise RuntimeError(f"the process writing the PDF ended (exit code {self._process.returncode})"
                               + (f": {said[-1]}" if said else "")) from None

    def close(self) -> None:
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
    """The child: import what the PDF needs, say it is ready, wait for its job, write it, answer."""
    from segkit.report.pages import fonts_subset_slowly, write_pdf

    slowly = fonts_subset_slowly()  # imports WeasyPrint (and pango) now, while the last notebook runs
    print(json.dumps({"ready": True, "fonts_subset_slowly": slowly}), flush=True)
    line = sys.stdin.readline()
    if not line:  # the run ended (or failed) before its PDF
        return
    job = json.loads(line)
    tick = time.perf_counter()
    try:
        write_pdf(Path(job["folder"]), Path(job["target"]), tuple(job["notebooks"]))
        answer = {"done": True, "seconds": time.perf_counter() - tick}
    except Exception as error:  # noqa: BLE001 - sent back to be raised in the run
        answer = {"done": False, "type": type(error).__name__, "message": str(error)}
    print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    _serve()
