"""The report's PDF written by a process of its own, while the run writes the exports.

WeasyPrint and the exports are both Python work that holds the interpreter lock, so a thread would
not overlap them; a process does. It is started ahead (`BackgroundPdf()`, while the last notebook
runs) and imports WeasyPrint then, so that the PDF starts at once when `start` is called. At 10M
lines the exports take about 18 s and the PDF about 12 s: one now runs beside the other.
"""
from __future__ import annotations

import multiprocessing
import pickle
import time
from pathlib import Path


class BackgroundPdf:
    """`segkit.report.pages.write_pdf` in a spawned process: `start(folder, target, notebooks)`, then
    `result()` returns its seconds or raises its error (any exception of write_pdf, as raised there; one
    that cannot be sent back is a RuntimeError with its text). `close()` stops a process still running
    (a run that failed meanwhile); use it as a context manager."""

    def __init__(self):
        context = multiprocessing.get_context("spawn")  # never fork a process that runs threads and kernels
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child,), name="segkit-pdf", daemon=True)
        self._process.start()
        child.close()

    def start(self, folder: Path, target: Path, notebooks: tuple[str, ...]) -> None:
        self._conn.send((str(folder), str(target), tuple(notebooks)))

    def result(self) -> float:
        try:
            done, payload = self._conn.recv()
        except EOFError:
            self._process.join(timeout=5)
            code = self._process.exitcode
            raise RuntimeError(f"the process writing the PDF ended without a word (exit code {code})") from None
        if not done:
            raise payload
        return payload

    def close(self) -> None:
        self._conn.close()
        self._process.join(timeout=5)  # it exits when the pipe closes, or when its PDF is written
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=5)

    def __enter__(self) -> BackgroundPdf:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _serve(conn) -> None:
    """The child: import what the PDF needs, wait for its job, write it, say how it went."""
    from segkit.report.pages import write_pdf

    try:  # imported ahead, while the last notebook runs
        import tinycss2  # noqa: F401
        import weasyprint  # noqa: F401
    except (ImportError, OSError):  # write_pdf says so in its own words
        pass
    try:
        folder, target, notebooks = conn.recv()
    except (EOFError, OSError):  # the run ended (or failed) before its PDF
        return
    tick = time.perf_counter()
    try:
        write_pdf(Path(folder), Path(target), notebooks)
        answer = (True, time.perf_counter() - tick)
    except BaseException as error:  # noqa: BLE001 - sent back to be raised in the run
        answer = (False, error)
        try:
            pickle.dumps(error)
        except Exception:
            answer = (False, RuntimeError(f"{type(error).__name__}: {error}"))
    try:
        conn.send(answer)
    except OSError:
        pass
