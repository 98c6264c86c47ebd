"""The report run: execute the notebooks with papermill, export HTML and one PDF, write the
index page and the manifest, and only then put the run in place.

`run_report("params/demo.yaml")` writes `reports/<run>/`:
`01_cleaning.html` ... `08_case_study.html` (code hidden, parameters removed), `index.html`,
`report.pdf`, `data/` (stage outputs), `exports/` (the per-customer files for the CRM, Excel and BI:
`segkit.report.exports`), `executed/` (the executed notebooks) and `manifest.json`.

How a run uses the reports folder:
- while it runs, a run holds the lock `.<run>.lock` (a second run of the same name is refused) and
  writes into a fresh temporary folder `.<run>.tmp-XXXXXXXX`, made with the permissions the user's
  umask gives (`segkit._files.new_folder`: 0755 under umask 022; `tempfile.mkdtemp`'s 0700 would
  keep the report from colleagues);
- when everything succeeded, the temporary folder replaces `<run>/`;
- when anything failed, the last good report `<run>/` is untouched, what the run made is kept in
  `<run>.failed/` for inspection, and the error is one `ReportError` that says what failed and what
  to do;
- a month the data do not reach (`--month`) is no failure but a refusal of the month asked
  (`MonthRefused`): said before any work where the source tells its dates in one query
  (`refuse_month_outside`), else once 01_cleaning has read them, when the temporary folder is
  removed: no `<run>.failed/` is made and the last good report is untouched;
- a run killed outright (SIGKILL, power loss) leaves its temporary folder behind; the next run in the
  same reports folder removes every temporary folder whose lock no live process holds.
"""

from __future__ import annotations

import calendar
import datetime as dt
import errno
import functools
import hashlib
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

from segkit._files import new_folder
from segkit.errors import SegkitError
from segkit.i18n import counted
from segkit.intake.sources import check_source
from segkit.params import MONTH_PATTERN, Params, load_params, require_source
from segkit.classify.rfm import load_segment_map
from segkit.report.exports import export_run
from segkit.report.pages import NOTEBOOKS, export_html, notebooks_for, write_index
from segkit.report.pdf_process import BackgroundPdf
from segkit.report.schedule import NEEDS, needs, next_to_start
from segkit.report.tables import headline_kpis
from segkit.store import RUN_INFO_LOCK, json_text

KERNEL = "python3"
VERSIONED = ("segkit", "pandas", "numpy", "scikit-learn", "duckdb", "ibis-framework", "pyarrow", "matplotlib",
             "papermill", "nbconvert", "weasyprint", "pydantic")
TMP_MARK, OLD_MARK = ".tmp-", ".old-"  # temporary folders: .<run>.tmp-XXXXXXXX, .<run>.old-XXXXXXXX


class ReportError(SegkitError):
    """A report run failed; the message names the notebook and cell, and where the record is."""


class MonthRefused(ReportError):
    """The month a monthly run was asked for (`--month`) lies outside the data: a refusal of the
    month asked, not a failed run. Said before 01_cleaning where the source tells its dates cheaply
    (`refuse_month_outside`), else once 01 has read them; either way the run leaves nothing in the
    reports folder (no `<run>.failed/`) and the last good report stands."""


class RunInterrupted(ReportError):
    """A report run was stopped by Ctrl-C (KeyboardInterrupt) or, from the command line, by SIGTERM."""

    exit_code = 130  # the shell's convention for a process ended by SIGINT


@dataclass
class RunResult:
    """A finished run: its folder, the headline KPIs of its index page and the timings in seconds."""

    folder: Path
    kpis: dict
    timings: dict[str, float] = field(default_factory=dict)
    history: str | None = None  # why the month is not in the history, or None when it was written
    write_back: str | None = None  # why the PostgreSQL write-back failed, whole (the report stands), or None


def run_name_for(params: Params) -> str:
    """The run folder's name: `run_name`, or `run_name-month` for a monthly run."""
    return f"{params.run_name}-{params.month}" if params.month else params.run_name


def run_report(params_path: str | os.PathLike, month: str | None = None, overrides: list[str] = (),
               reports_dir: str | os.PathLike = "reports", notebooks_dir: str | os.PathLike | None = None,
               pdf: bool = True, force: bool = False,
               progress: Callable[[str], None] = lambda message: None) -> RunResult:
    """Run the whole report for a params file; returns the run folder, its headline KPIs and timings.

    A run name that already has a good report is refused (a `ReportError`, before any work) unless
    `force`: then the new report replaces it and its month's rows in the history are replaced.
    Every failure is a `ReportError` (or the `ParamsError` of a bad params file, or the `DataError`
    of a source whose header the run would refuse, `segkit.intake.sources.check_source`: raised
    before any work) naming what failed and what to do; the last good report of the same name stays in place.
    """
    started = time.perf_counter()
    params_path = Path(params_path).resolve()
    overrides = list(overrides)  # papermill passes literals: a list, never a tuple
    month = resolve_month(month) if month is not None else month
    if month:  # the command line's month wins over the file's as_of (a monthly run of any params file)
        as_of = load_params(params_path, overrides).as_of
        year, number = map(int, month.split("-"))
        month_end = dt.date(year, number, calendar.monthrange(year, number)[1])
        if as_of is not None and as_of != month_end:  # the same day: nothing is replaced, nothing to say
            progress(f"--month {month} replaces as_of {as_of} of {params_path.name}")
        overrides = overrides + ["as_of=null", f"month={month}"]
    params = load_params(params_path, overrides)  # fails here, before any work, on bad params
    require_source(params, params_path)
    reports_dir = Path(reports_dir).resolve()
    name = run_name_for(params)
    final = reports_dir / name
    try:
        there = final.exists()
    except OSError:  # a name the file system refuses: said where the folder is written, below
        there = False
    if there and not force:  # said before the source is looked at (a workbook's header takes seconds)
        raise ReportError(_already_there(final, name))
    # and on what the source's header already tells (a file not there, a column not in it): said as
    # `segkit check` says it, not from inside 01_cleaning once its kernel has started
    # (the customers' and surveys' unreadable dates are no refusal: 01 keeps those rows and says so)
    check_source(params.source, params_path, rules=params.cleaning, table_dates=False)
    if params.source.kind == "database" and params.source.database is not None:
        params.source.database.password()  # and on a password variable that is not set
    if params.month:  # a month the data do not reach: refused now where the source tells its dates cheaply
        refuse_month_outside(params, params_path)
    notebooks = notebooks_for(params)
    sources = {notebook: notebook_path(notebook, notebooks_dir) for notebook in notebooks}
    for notebook in notebooks:
        check_notebook(sources[notebook])
    failed = reports_dir / f"{name}.failed"
    timeout_s = max(1, round(params.report.cell_timeout_minutes * 60))
    with _writing(reports_dir):
        reports_dir.mkdir(parents=True, exist_ok=True)
        with run_lock(reports_dir, name):
            remove_leftovers(reports_dir, holding=name)
            if final.exists() and not force:  # made while the source was checked
                raise ReportError(_already_there(final, name))
            work = new_folder(reports_dir, prefix=f".{name}{TMP_MARK}")
            doing = "starting"
            stack = ExitStack()  # the PDF's process, stopped whatever happens
            try:
                (work / "data").mkdir()
                (work / "executed").mkdir()
                timings: dict[str, float] = {}
                # Each notebook's page is exported on a thread of its own while the next notebooks run
                # (the run mostly waits for the kernels there); the HTML step waits for what is left.
                exported = []
                pages_out = stack.enter_context(ThreadPoolExecutor(max_workers=1, thread_name_prefix="segkit-pages"))
                state = {"doing": doing}

                def run_one(notebook: str, then: str | None, kernels: KernelPool) -> None:
                    execute_notebook(sources[notebook], work / "executed" / f"{notebook}.ipynb",
                                     {"params_path": str(params_path), "data_dir": str(work / "data"),
                                      "overrides": overrides},
                                     sources[notebook].parent, notebook, timeout_s=timeout_s, kernels=kernels,
                                     then=sources[then] if then else None,
                                     warm_imports=warm_imports_fit(work / "data", params, beside=notebook),
                                     hand_over=hand_over_fits(work / "data", params, then))

                pages_written: set[str] = set()
                sent = []  # the PDF sections handed to its process, in run order

                def export_page(notebook: str) -> None:
                    export_html(work / "executed" / f"{notebook}.ipynb", work / f"{notebook}.html", params.lang,
                                notebooks)
                    pages_written.add(notebook)
                    if state.get("pdf_early"):  # the PDF lays out each section in run order, as it can
                        for name in notebooks[len(sent):]:
                            if name not in pages_written:
                                break
                            state["pdf"].add_section(work, notebooks, name)
                            sent.append(name)

                def finished(notebook: str) -> None:
                    if pdf and "pdf" not in state and pdf_sections_early(work / "data"):
                        state["doing"] = "starting the process that writes the PDF"
                        state["pdf"], state["pdf_early"] = stack.enter_context(BackgroundPdf(lower_priority=True)), True
                    exported.append(pages_out.submit(export_page, notebook))

                def last_started() -> None:  # else the PDF's process starts (and imports) while the last notebook runs
                    if pdf and "pdf" not in state:
                        state["doing"] = "starting the process that writes the PDF"
                        state["pdf"] = stack.enter_context(BackgroundPdf())

                try:
                    timings.update(run_notebooks(notebooks, run_one, lambda: notebooks_at_once(work / "data", params),
                                                 progress, finished, last_started, state))
                finally:
                    doing = state["doing"]
                (work / "data" / RUN_INFO_LOCK).unlink(missing_ok=True)  # the notebooks' lock on run.json
                pdf_writer = state.get("pdf")
                tick = time.perf_counter()
                doing = "writing the HTML pages"
                progress("writing HTML")
                for page in exported:
                    page.result()
                doing = "writing the index page"
                grid = load_segment_map(params.rfm.segment_map, custom=params.rfm.custom_maps)
                kpis = headline_kpis(work / "data", top=params.case_study.top_share, segment_map=grid)
                write_index(work / "index.html", kpis, params, params_path, pdf, name, notebooks)
                timings["html"] = round(time.perf_counter() - tick, 2)
                if pdf:  # written by its own process while this one writes the exports
                    doing = "writing the PDF"
                    slowly = pdf_writer.start(work, work / "report.pdf", notebooks)
                    progress("writing PDF" + (" (slowly: HarfBuzz's font subsetter is missing; on Debian/Ubuntu "
                                              "`apt-get install libharfbuzz-subset0` makes it 20-30 s faster)"
                                              if slowly else ""))
                tick = time.perf_counter()
                doing = "writing the exports (exports/)"
                progress("writing exports")
                # the files now; the database once the report is whole and in place (`_write_back`)
                export_run(work, params, formats=[f for f in params.exports.formats if f != "postgres"])
                timings["exports"] = round(time.perf_counter() - tick, 2)
                if pdf and "pdf" not in timings:
                    doing = "writing the PDF"
                    timings["pdf"] = round(pdf_writer.result(), 2)
                if pdf and pdf_writer.sections_seconds:  # beside the notebooks, off the run's path
                    timings["pdf_sections_early"] = round(pdf_writer.sections_seconds, 2)
                stack.close()
                timings["total"] = round(time.perf_counter() - started, 2)
                doing = "writing the manifest"
                write_manifest(work / "manifest.json", params, params_path, work, timings)
                doing = f"putting the report in place in {final}"
                _replace(final, work)
                write_back = _write_back(final, params, progress) if "postgres" in params.exports.formats else None
                history = _record_history(reports_dir, params, final / "data", kpis, progress, run=name, force=force)
            except BaseException as error:
                stack.close()
                if isinstance(error, MonthRefused):  # the month asked is refused: no run failed, nothing is kept
                    _remove(work)
                    untouched = f"; the last good report in {final} is untouched" if final.is_dir() else ""
                    raise MonthRefused(f"{error}{untouched}") from None
                kept = _set_aside(work, failed)
                if not isinstance(error, (Exception, KeyboardInterrupt)):  # SystemExit: let it through
                    raise
                message = _failure_message(error, doing, final, kept)
                if kept is not None:  # paths inside the temporary folder now live in <run>.failed/
                    message = message.replace(str(work), str(kept))
                raise (RunInterrupted if isinstance(error, KeyboardInterrupt) else ReportError)(message) from error
            _remove(failed)
    # what 01 noticed, also where a cron job's log shows it (the ids it quotes masked with report.mask_ids)
    for line in cleaning_note_lines(final / "data", params.lang, params.report.mask_ids):
        progress(line)
    progress(f"report ready: {final / 'index.html'}")
    return RunResult(final, kpis, timings, history, write_back)


def cleaning_note_lines(data_dir: str | os.PathLike, lang: str = "en", mask_ids: bool = False) -> list[str]:
    """The notes of the run's cleaning (run.json's `cleaning_notes`: amounts in another currency's sign,
    another decimal mark, the day/month order a column decided ...) as plain lines in `lang` for the
    terminal, each starting "note: " (which the command line says in the run's language); [] when
    there are none (or no run.json). `mask_ids` (the params' `report.mask_ids`): the customer ids
    they quote masked (`segkit.report.masking`), as on the pages; run.json keeps them."""
    from segkit.report.masking import masked_note
    from segkit.store import load_run_info

    try:
        notes = load_run_info(data_dir).get("cleaning_notes") or []
    except (OSError, ValueError, SegkitError):  # no run.json (a customer table's run has no cleaning notes)
        return []
    return ["note: " + note_text(masked_note(note, mask_ids), lang) for note in notes]


def note_text(note: dict, lang: str = "en") -> str:
    """A cleaning note (run.json's `cleaning_notes` holds them) as a plain line's text in `lang`,
    without Markdown's emphasis; a note of an older segkit (or one whose count is not a number) as its key."""
    from segkit.i18n import note_message, t

    key, values = note_message(note)
    # the template's emphasis goes, a value's own asterisks stay (a masked id, 138****5678, is not 1385678)
    kept = "\0\0"
    values = {name: value.replace("**", kept) if isinstance(value, str) else value for name, value in values.items()}
    try:
        text = t(key, lang, **values)
    except (KeyError, ValueError, IndexError, TypeError):
        text = str(note.get("key"))
    return text.replace("**", "").replace(kept, "**")


def run_notebooks(notebooks: tuple[str, ...], run_one: Callable[[str, str | None, KernelPool], None],
                  workers: int | Callable[[], int], progress: Callable[[str], None] = lambda message: None,
                  finished: Callable[[str], None] = lambda notebook: None,
                  last_started: Callable[[], None] = lambda: None, state: dict | None = None,
                  table: Mapping[str, Iterable[str]] = NEEDS) -> dict[str, float]:
    """Run `notebooks` with up to `workers` at once (a number, or a function asked before each
    start), each as soon as the notebooks it needs have run (`segkit.report.schedule`), the earlier in
    run order first; returns each one's seconds.

    `run_one(notebook, then, kernels)` executes one notebook with the run's kernel pool (`then`: the
    notebook whose kernel to start meanwhile, or None); `finished(notebook)` is called as each one
    ends, `last_started()` as the last one starts. The first notebook that fails stops the run: the
    kernels of those still running are ended, and its error is raised. `state["doing"]` says what
    the run was doing (for the message of a failure or an interruption). `table`: each notebook's
    needs (`segkit.report.schedule.NEEDS`)."""
    needs(notebooks, table)  # a need that runs after its notebook: ValueError before any starts
    state = state if state is not None else {}
    timings: dict[str, float] = {}
    done: set[str] = set()
    started: list[str] = []
    at_once = workers if callable(workers) else (lambda: workers)
    with KernelPool() as kernels, ThreadPoolExecutor(max_workers=max(1, MAX_NOTEBOOKS_AT_ONCE),
                                                     thread_name_prefix="segkit-notebook") as runs:
        running: dict = {}  # future -> (notebook, when it started)
        try:
            while len(done) < len(notebooks):
                allowed = max(1, at_once())
                kernels.one_thread_each = allowed > 1
                now = next_to_start(notebooks, done, started, table)[:max(0, allowed - len(running))]
                first = len(started)
                started.extend(now)  # all of them, before choosing the kernel to start ahead
                if now and len(started) == len(notebooks):
                    last_started()
                ahead = None  # the notebooks of one start share the kernel started ahead: the first starts it
                for number, notebook in enumerate(now, start=first + 1):
                    progress(f"[{number}/{len(notebooks)}] running {notebook}")
                    then = _likely_next(notebooks, done, started, table, one_at_a_time=allowed == 1)
                    then, ahead = (None if then == ahead else then), then
                    running[runs.submit(run_one, notebook, then, kernels)] = (notebook, time.perf_counter())
                names = [notebook for notebook, _ in running.values()]
                state["doing"] = (f"running notebook {names[0]}" if len(names) == 1
                                  else f"running notebooks {' and '.join(names)}")
                ended, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in sorted(ended, key=lambda f: running[f][1]):
                    notebook, tick = running.pop(future)
                    error = future.exception()
                    if error is not None:
                        state["doing"] = f"running notebook {notebook}"
                        if allowed > 1 and isinstance(error, ReportError) and "the Python kernel died" in str(error):
                            raise ReportError(f"{error} (it ran beside another notebook: --set "
                                              "report.notebooks_at_once=1 runs one at a time)") from error
                        raise error
                    timings[notebook] = round(time.perf_counter() - tick, 2)
                    progress(f"      {notebook} done in {timings[notebook]:.1f} s")
                    done.add(notebook)
                    finished(notebook)
        except BaseException:
            kernels.end_running()  # the notebooks still running stop at once; their threads then end
            raise
    return timings


def _likely_next(notebooks: tuple[str, ...], done: set[str], started: list[str],
                 table: Mapping[str, Iterable[str]] = NEEDS, one_at_a_time: bool = False) -> str | None:
    """The notebook to start a kernel for now, while the notebooks `started` and not `done` run.
    One at a time: the one that starts when they end. Side by side: of those whose needs have all
    started, the one with the fewest needs still running (the earlier in run order on a tie)."""
    if one_at_a_time:
        following = next_to_start(notebooks, set(done) | set(started), started, table)
        return following[0] if following else None
    wanted = needs(notebooks, table)
    waiting = [(len(set(wanted[n]) - done), i, n) for i, n in enumerate(notebooks)
               if n not in started and set(wanted[n]) <= set(started) | done]
    return min(waiting)[2] if waiting else None


def resolve_month(month: str, today: dt.date | None = None) -> str:
    """A `--month` value as YYYY-MM: `last` is the calendar month before `today` (the month that ended
    most recently: what a job run on the 1st of each month reports; None: the run's clock,
    `segkit.intake.clock.today`). Raises ParamsError, naming --month, for anything else that is not a
    month (2024-00, 2024-1, May), and for a month that has not started by `today` (said before any
    notebook runs: no data can reach it yet)."""
    from segkit.errors import ParamsError
    from segkit.intake.clock import today as clock

    today = today or clock()
    if not month.strip():
        raise ParamsError("--month is empty (in a cron line, is its variable set?): give a month as YYYY-MM "
                          "(e.g. 2026-10), or `last` for the month that ended most recently")
    if month.strip().lower() != "last":
        if not re.fullmatch(MONTH_PATTERN, month.strip()):
            raise ParamsError(f"--month {month[:20]!r} is not a month: write it as YYYY-MM (e.g. 2026-10, months "
                              "01 to 12), or `last` for the month that ended most recently")
        if month.strip() > f"{today:%Y-%m}":
            raise ParamsError(f"--month {month.strip()} has not started yet (today is {today:%Y-%m-%d}): give a month "
                              f"up to {today:%Y-%m}, or `last` for the month that ended most recently")
        return month.strip()
    year, number = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    return f"{year:04d}-{number:02d}"


# the errors 01_cleaning raises for a monthly run's month outside the data (`segkit.intake.cleaning`)
MONTH_REFUSALS = frozenset({"MonthNotInData", "MonthBeforeData"})


def refuse_month_outside(params: Params, params_path: str | os.PathLike | None = None,
                         today: dt.date | None = None) -> None:
    """Refuse a monthly run (`params.month`) whose month the data plainly do not reach, before any
    notebook runs: a `MonthRefused` naming the month asked, the dates the data run from and to, and
    the months to give instead (`month_outside_message`). Only where the source tells its dates in one
    aggregate of the engine (`segkit.intake.source_scan.date_span`: a CSV, Parquet or DuckDB file, a
    PostgreSQL table), and only when they end MONTH_MARGIN_DAYS or more before the month starts, or
    start as long after it ends; anything closer, or a source that cannot tell (a workbook), is left
    to 01_cleaning, whose refusal leaves nothing behind either. `today`: the run's clock, for
    `--month last` (None: `segkit.intake.clock.today`)."""
    from segkit.intake.source_scan import MONTH_MARGIN_DAYS, date_span

    start = params.period_start
    if start is None:
        return
    end = dt.date(start.year, start.month, calendar.monthrange(start.year, start.month)[1])
    span = date_span(params.source, params_path, params.cleaning.time_zone)
    if span is None:
        return
    margin = dt.timedelta(days=MONTH_MARGIN_DAYS)
    if span.last < start - margin or span.first > end + margin:
        raise MonthRefused(month_outside_message(span.origin, params.month, span.first, span.last, today))


def month_outside_message(origin: str, month: str, first: dt.date, last: dt.date, today: dt.date | None = None) -> str:
    """What a monthly run of `month` says when the data of `origin` run from `first` to `last`, all
    before the month or all after it: the month asked, the dates and months the data cover, and the
    month to give (the last with data, and `--month last` when that is the one; the first with data
    for a month before them).

    >>> month_outside_message("x.csv", "2026-03", dt.date(2024, 1, 3), dt.date(2025, 12, 14), dt.date(2026, 4, 2))
    'x.csv: the data run from 2024-01-03 to 2025-12-14, before the month 2026-03 starts: there is nothing of 2026-03 to report (is the source up to date? a feed may be late); give a month from 2024-01 to 2025-12 with --month, e.g. --month 2025-12, or wait for the data'
    """
    said = f"{origin}: the data run from {first.isoformat()} to {last.isoformat()}"
    covered = f"give a month from {first:%Y-%m} to {last:%Y-%m} with --month"
    if first > dt.date(*map(int, month.split("-")), 1):
        return f"{said}, after the month {month} ends: there is nothing of {month} to report; {covered}, e.g. --month {first:%Y-%m}"
    also = " (or --month last)" if resolve_month("last", today) == f"{last:%Y-%m}" else ""
    return (f"{said}, before the month {month} starts: there is nothing of {month} to report (is the source up to "
            f"date? a feed may be late); {covered}, e.g. --month {last:%Y-%m}{also}, or wait for the data")


def _already_there(final: Path, name: str) -> str:
    return (f"{final} already holds a good report of {name}{_made_when(final)}{_partly(final)}; add --force to replace "
            "it (and its month in the history), or give another run_name or --month")


def _partly(folder: Path) -> str:
    """", whose data ended on 2026-01-14, 17 days before the month's end (not in the history)" for a
    report of a month its data reached only in part (its run.json's cleaning note), else ""."""
    try:
        notes = json.loads((folder / "data" / "run.json").read_text(encoding="utf-8")).get("cleaning_notes") or []
        note = next(n for n in notes if n.get("key") in ("month_partly_covered", "month_not_covered"))
        return (f", whose data ended on {note['last']}, {counted(int(note['days']), 'day', 'days')} before the month's end "
                "(part of the month, not in the history)")
    except (OSError, ValueError, KeyError, TypeError, StopIteration, AttributeError):
        return ""


def _made_when(folder: Path) -> str:
    """" (made 2026-11-29 21:40)" from the report's manifest, or "" when it cannot be read."""
    try:
        finished = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["finished_at"]
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    return f" (made {str(finished)[:16].replace('T', ' ')})"


def _write_back(folder: Path, params: Params, progress: Callable[[str], None]) -> str | None:
    """Write the finished report's customers back to its PostgreSQL database (`export_run` with the
    postgres format). The report is already whole and in place: a failure (a role that may only read,
    a table another role owns, a view on a table whose columns changed) is said whole, with what to do
    and the command that writes it again (`write_back_message`), not raised, so the pages, the PDF and
    the files stay. Returns the reason it failed, whole, or None; `segkit report` then exits with 2."""
    from segkit.errors import SegkitError

    target = f"{params.exports.postgres_schema}.{params.exports.postgres_table}"
    progress(f"writing back to PostgreSQL: {target}")
    try:
        export_run(folder, params, formats=["postgres"])
    except SegkitError as error:
        reason = _first_line(str(error))  # whole: its advice is at its end
        progress(write_back_message(folder, reason))
        return reason
    return None


def write_back_message(folder: str | os.PathLike, reason: str) -> str:
    """What a failed write-back of the report in `folder` says, whole: why (`reason`, the write-back's
    error), that the report stands, and the command that writes the table again once that is fixed."""
    return (f"the write-back to PostgreSQL failed: {reason}; the report and its files are good: once that is fixed, "
            f"run `segkit export {folder} --format postgres`")


def _record_history(reports_dir: Path, params: Params, data_dir: Path, kpis: dict,
                    progress: Callable[[str], None], run: str | None = None, force: bool = False) -> str | None:
    """Write the finished run's month into the history beside the reports (`segkit.monthly.history`).
    The report is already in place: a failure here leaves it good and is said, not raised; the next
    run finds the month missing from the history. Not written, and said, unless `force`: a month its
    data reach only in part (`segkit.monthly.history.MonthCoverage.whole`, the rule `segkit backfill`
    follows too: the data reach its last day, or end no more days before it than their longest gap
    between purchase days in the 91 days before, at least 3) and a month another report (another
    folder than `run`) wrote. Returns the reason it was not written, or None."""
    from segkit.monthly.history import (classification_standards, history_path, month_held_by, record_run,
                                        run_coverage)
    from segkit.store import load_run_info

    path = history_path(reports_dir)
    try:
        info = load_run_info(data_dir)
        as_of = dt.date.fromisoformat(str(info["as_of"]))
        coverage = run_coverage(data_dir, info)
        if not coverage.whole and not force:
            reason = coverage.reason()
            if not coverage.ended:  # a month under way: no --month makes it whole before its end
                then = f"run again after its end ({coverage.month_end})"
            elif coverage.last is None:
                then = f"run with --month {as_of:%Y-%m} for the whole month"
            else:
                then = "run again once its data are complete"
            progress(f"history: not updated: {reason}: its figures may cover only part of the month, and the history "
                     f"keeps whole months; {then}, or add --force to write it as it is")
            return reason
        other = None if force else month_held_by(path, params.run_name, as_of, run or params.run_name)
        if other:
            reason = f"its month {as_of:%Y-%m} of {params.run_name} is the report {other}'s"
            progress(f"history: not updated: {reason}; add --force to replace it with this run")
            return reason
        written = record_run(path, params.run_name, data_dir, kpis, standards=classification_standards(params),
                             run=run)
    except Exception as error:  # any failure: the report stands, the history waits for the next run
        reason = _cut(error)
        progress(f"the history in {path} was not updated ({reason}); the report is good, and the next run "
                 "will show this month as missing from the history")
        return reason
    progress(f"history: {counted(written, 'customer', 'customers', ',')} of {params.run_name} for {as_of:%Y-%m} in {path}")
    return None


def notebook_folders() -> list[Path]:
    """Where a report looks for each notebook, first match wins: the project's `notebooks/` (the
    current folder's, e.g. made by `segkit init`), the source checkout segkit runs from, then the
    copy inside the installed package."""
    from importlib import resources

    candidates = [Path.cwd() / "notebooks", Path(__file__).resolve().parents[2] / "notebooks",
                  Path(str(resources.files("segkit"))) / "project" / "notebooks"]
    return list(dict.fromkeys(folder for folder in candidates if folder.is_dir()))


def notebook_path(name: str, notebooks_dir: str | os.PathLike | None = None) -> Path:
    """The notebook `name` a run executes: from `notebooks_dir` when given (all of them from there),
    else from the first of `notebook_folders()` that has it (an edited copy in the project wins over
    the packaged one). Raises ReportError when no folder has it."""
    if notebooks_dir is not None:  # check_notebook says when it or its folder is missing
        return Path(notebooks_dir).resolve() / f"{name}.ipynb"
    for folder in notebook_folders():
        if (folder / f"{name}.ipynb").is_file():
            return folder / f"{name}.ipynb"
    raise ReportError(f"cannot find the notebook {name}.ipynb in {', '.join(map(str, notebook_folders())) or 'any folder'}; "
                      "run from your project folder (`segkit init DIR` makes one) or pass --notebooks")


def default_notebooks_dir() -> Path:
    """The folder of the first notebook a report runs (see `notebook_path`)."""
    return notebook_path(NOTEBOOKS[0]).parent


def check_notebook(path: Path) -> None:
    """Refuse a notebook that is missing or cannot be read, before any work starts (a `ReportError`)."""
    import nbformat

    if not path.is_file():
        folder = path.parent
        hint = ("the folder does not exist" if not folder.is_dir()
                else f"the folder needs {', '.join(n + '.ipynb' for n in NOTEBOOKS)}")
        raise ReportError(f"notebook {path} is missing ({hint}); pass the project's notebooks/ folder to --notebooks "
                          "or restore the file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ReportError(f"notebook {path} cannot be read ({error.strerror or _cut(error)}); check that the file "
                          "is there and that you may read it") from error
    except json.JSONDecodeError as error:
        raise ReportError(f"notebook {path} is not valid JSON (line {error.lineno}, column {error.colno}: "
                          f"{error.msg}); restore it, or save it again from JupyterLab") from error
    except UnicodeDecodeError as error:
        raise ReportError(f"notebook {path} is not UTF-8 text ({_cut(error)}); restore it, or save it again "
                          "from JupyterLab") from error
    try:
        if not isinstance(data, dict) or "nbformat" not in data:
            raise ValueError("no nbformat version")
        notebook = nbformat.reads(json.dumps(data), as_version=4)
        nbformat.validate(notebook)
    except Exception as error:  # nbformat's validation and version errors
        raise ReportError(f"notebook {path} is not a valid Jupyter notebook ({_cut(error)}); restore it, or save "
                          "it again from JupyterLab") from error
    if not any("parameters" in cell.get("metadata", {}).get("tags", []) for cell in notebook.cells):
        raise ReportError(f"notebook {path} has no cell tagged 'parameters', so the run cannot pass it the params "
                          "file; tag the cell that sets params_path, data_dir and overrides")


# The largest run that starts its next kernel with the notebook's imports already made: a waiting kernel
# takes about 50 MB of memory, about 145 MB once it has run a notebook's import cell (segkit, pandas,
# matplotlib), about 225 MB with what the charts import as they draw (pyplot, seaborn, scipy.stats),
# which the warm kernel imports too. A report on 100,000 customers peaks near 1 GB, on 1M near 1.8 GB against a
# budget of 2 GB (docs/benchmarks.md): above this many customers the next kernel starts bare. (Warm at 1M:
# 187.2 s and 1,921 MB against 184.6 s and 1,789 MB bare, session 11: the warm imports compete for the
# cores with the notebook that runs.)
WARM_IMPORTS_MAX_CUSTOMERS = 250_000


# Up to this many customers, the next kernel still waits with its imports made beside a notebook whose kernel
# stays well under the budget there. Measured at 1M customers (10M lines, session 19), each kernel's peak:
# 01 1,561 MB, 02 686, 03 1,348, 04 680, 05 1,489, 06 927, 07 1,524, 08 1,171, with the `segkit report`
# process about 250 MB meanwhile: beside 01, 03, 05 and 07 (HEAVY_KERNELS) a waiting kernel with its imports
# (about 225 MB) would take the tree near or over 2 GB, beside the others not.
WARM_BESIDE_LIGHT_MAX_CUSTOMERS = 1_500_000
HEAVY_KERNELS = ("01_cleaning", "03_customer_value", "05_evaluation", "07_cross_sell")


# Up to this many customers, the kernel of a notebook that ran to its end runs the next one, its namespace
# cleared (`KernelPool.hand_over`), instead of a new kernel with the same imports: starting a kernel and
# making a notebook's imports cost 4.4-5.7 s of CPU each (measured per notebook, session 20), 30-40 s of a
# small report's 130 s of CPU, which a busy machine pays in wall time. 01's kernel is handed over only for
# the bundled data of known size: for other sources the run's size is known once 01 has saved the
# features. At a million customers (10M lines, session 21, alternating, two runs each) the notebooks 02-08
# took 123.8 and 134.4 s against 145.2 and 162.7 s with a kernel each. One kernel holds every notebook's
# modules, and what it holds grows with the customers of the notebook that runs: 07 starts its own above
# WARM_IMPORTS_MAX_CUSTOMERS (HAND_OVER_NOT_INTO), and the run then peaked at 1,814 MB, as with a kernel
# each (1,762-1,814 MB). Above a million the kernels are the notebooks' own, and their memory goes with
# their processes.
HAND_OVER_MAX_CUSTOMERS = 1_000_000

# Above WARM_IMPORTS_MAX_CUSTOMERS no kernel is handed to these notebooks: 07's kernel alone peaked at
# 1,524 MB at a million customers; the kernel of 01-06 handed to it (their modules and what their memory
# leaves, 200-400 MB more) took the tree to 1,866-1,965 MB against the budget of 2 GB, where a kernel of
# its own (its imports made beside 06) kept it at 1,565-1,691 MB.
HAND_OVER_NOT_INTO = ("07_cross_sell",)


def hand_over_fits(data_dir: Path, params: Params, then: str | None = None) -> bool:
    """Whether a notebook of the run that ends may hand its kernel to the next one, `then`: once 01 has
    saved the features of at most HAND_OVER_MAX_CUSTOMERS customers (and, above
    WARM_IMPORTS_MAX_CUSTOMERS, `then` is not one of HAND_OVER_NOT_INTO), and before that for the
    bundled data of known size (`_known_small`); never for a Spark source (each kernel that queries
    it holds a Spark session of its own)."""
    if params.source.kind == "spark":
        return False
    customers = _customers(data_dir)
    if customers is None:
        return _known_small(params, HAND_OVER_MAX_CUSTOMERS)
    if customers > WARM_IMPORTS_MAX_CUSTOMERS and then in HAND_OVER_NOT_INTO:
        return False
    return customers <= HAND_OVER_MAX_CUSTOMERS


def _known_small(params: Params | None, most: int) -> bool:
    """Whether the run's source is bundled data of known size, at most `most` customers: the demo
    generator's customers, CDNOW's 23,570."""
    source = params.source if params is not None else None
    if source is not None and source.kind == "demo":
        return source.demo.customers <= most
    return source is not None and source.kind == "cdnow"


def warm_imports_fit(data_dir: Path, params: Params | None = None, beside: str | None = None) -> bool:
    """Whether the run's next kernels may wait with their imports made: when 01 has saved the
    features of at most WARM_IMPORTS_MAX_CUSTOMERS customers, or of at most
    WARM_BESIDE_LIGHT_MAX_CUSTOMERS while the notebook `beside` (the one that runs as the kernel
    waits) is not one of HEAVY_KERNELS; before 01 has saved them, only for the bundled data of known
    size (the demo generator's customers, CDNOW's 23,570); otherwise no."""
    customers = _customers(data_dir)
    if customers is None:  # not written yet, or not readable: the run says so in its own time
        return _known_small(params, WARM_IMPORTS_MAX_CUSTOMERS)
    if customers <= WARM_IMPORTS_MAX_CUSTOMERS:
        return True
    return customers <= WARM_BESIDE_LIGHT_MAX_CUSTOMERS and beside is not None and beside not in HEAVY_KERNELS


# The largest run whose notebooks run two at a time with `report.notebooks_at_once: auto`. Each notebook
# holds its own copy of the customers' stages: at 1M customers two at once peaked at 2,951 MB against
# 1,801 MB one at a time (and took 194 s against 210 s), over the budget of 2 GB; below this size the
# second kernel adds a few hundred MB.
PARALLEL_MAX_CUSTOMERS = 250_000
MAX_NOTEBOOKS_AT_ONCE = 8  # params.Report.notebooks_at_once's upper bound
# The largest run whose PDF sections are laid out while the notebooks run (segkit.report.pdf_build),
# where that pays: the layouts (10-15 s of one core) then run beside the notebooks, and only the last
# section, the index and the file are left at the end. On two cores the notebooks leave little CPU
# unused: the demo (4,000 customers) took 63-72 s against 74-76 s, but at 25,000 and 100,000 customers
# the notebooks slowed by what the PDF's tail saved (docs/benchmarks.md), and at 1M customers they slowed
# by more (02-08: 132.8 s against 124.8 s; the tail 3.7 s shorter; the tree's peak 2,014 MB against
# 1,834 MB, one run each, session 18). With a third core the PDF has
# one of its own (not measured: this machine has two). The layouts are held until the PDF is written
# (about 420 MB for a 41-page report): a larger run lays them out at the end, beside the exports.
PDF_EARLY_MAX_CUSTOMERS = 250_000
PDF_EARLY_MAX_CUSTOMERS_TWO_CORES = 10_000


def pdf_sections_early(data_dir: Path) -> bool:
    """Whether the run's PDF sections are laid out as their pages are written: once 01 has saved the
    features of at most PDF_EARLY_MAX_CUSTOMERS customers on a machine with three cores or more, of
    at most PDF_EARLY_MAX_CUSTOMERS_TWO_CORES with fewer."""
    customers = _customers(data_dir)
    most = PDF_EARLY_MAX_CUSTOMERS if _cores() >= 3 else PDF_EARLY_MAX_CUSTOMERS_TWO_CORES
    return customers is not None and customers <= most


def _cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def notebooks_at_once(data_dir: Path, params: Params) -> int:
    """How many notebooks of the run may run at once now: `report.notebooks_at_once` when it is a
    number (1 by default). With "auto": 2 on a machine with two cores or more once 01 has saved the
    features of at most PARALLEL_MAX_CUSTOMERS customers, and 1 before that (01 runs alone anyway),
    above it, or for a Spark source (each kernel that queries it starts a Spark session of its own:
    a JVM, 1 GB or more in local mode)."""
    if params.report.notebooks_at_once != "auto":
        return params.report.notebooks_at_once
    if params.source.kind == "spark":
        return 1
    cores = _cores()
    customers = _customers(data_dir)
    return 2 if cores >= 2 and customers is not None and customers <= PARALLEL_MAX_CUSTOMERS else 1


def _customers(data_dir: Path) -> int | None:
    """The number of customers in the run's features (None before 01 has written them)."""
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(data_dir / "features.parquet").metadata.num_rows
    except (OSError, ValueError):
        return None


class KernelPool:
    """The Python kernels of one report run, one per notebook, each shut down when its notebook ends
    (after a notebook that ran to its end, the kernel exits while the next one runs: `release`), or,
    in a small run, cleared and handed to the next notebook (`hand_over`).

    While a notebook runs, the next notebook's kernel starts (`prepare`), so that its start-up
    (0.5-1 s a notebook) is off the run's path; with `warm_imports` it also runs that notebook's own
    import statements as it starts (IPython's `exec_lines`; about 2 s a notebook with the modules its
    charts import, `_warm_lines`), then deletes the
    names they bound, so the notebook's namespace is as a fresh kernel's: its import cell still
    binds every name it uses. One kernel waits at a time; notebooks that run side by side take
    theirs from one pool (its methods may be called from several threads). Use it as a context
    manager: leaving it shuts down a kernel still waiting (a run that failed, or was stopped).
    """

    def __init__(self) -> None:
        self._waiting: tuple[Path, object] | None = None
        self._exiting: list = []  # kernels asked to shut down, not yet seen gone (`release(wait=False)`)
        self._running: list = []  # kernels taken, not yet released
        self._preparing: set = set()  # notebooks whose kernel `prepare` is starting
        self._taken: set = set()  # notebooks that took a kernel (none is prepared for them again)
        self._handed: set = set()  # the waiting kernel when it was handed over by the notebook before
        self._ended = False  # `end_running` was called: no kernel is taken any more
        # kernels started from now on compute on one thread each (notebooks run side by side)
        self.one_thread_each = False
        self._lock = threading.RLock()

    def __enter__(self) -> KernelPool:
        return self

    def __exit__(self, *_) -> None:
        self.close()

    def prepare(self, source: Path, cwd: Path, warm_imports: bool = False) -> None:
        """Start the kernel for the notebook `source` (replacing a waiting one for another notebook;
        nothing when one already waits for `source`, or the run is stopping). The kernels start and
        stop outside the pool's lock: a notebook taking its kernel meanwhile does not wait for them."""
        with self._lock:
            if (self._ended or source in self._preparing or source in self._taken
                    or (self._waiting is not None and self._waiting[0] == source)):
                return
            self._preparing.add(source)
            replaced, self._waiting = self._waiting, None
        try:
            if replaced is not None:
                _shutdown(replaced[1])
            self._reap()
            kernel = _start_kernel(cwd, _warm_lines(source) if warm_imports else [], **self._environment(source))
        finally:
            with self._lock:
                self._preparing.discard(source)
        with self._lock:
            # stopping, another kernel prepared meanwhile, or its notebook started with a kernel of its own
            if self._ended or self._waiting is not None or source in self._taken:
                extra = kernel
            else:
                self._waiting, extra = (source, kernel), None
        if extra is not None:
            _shutdown(extra)

    def _environment(self, source: Path) -> dict:
        """`_start_kernel`'s environment for the kernel of `source`: this process's with
        `_kernel_environment`'s, the stage log of the tests, and one thread for OpenMP and BLAS when
        the run allows notebooks side by side (04_clustering's k-means on two OpenMP threads beside
        02_rfm took twice its time alone at 100,000 customers)."""
        wanted = {**_kernel_environment(), **_stage_log_environment(source).get("env", {})}
        if self.one_thread_each:
            wanted.update({name: "1" for name in ONE_THREAD if name not in os.environ})
        return {"env": {**os.environ, **wanted}}

    def waiting_for(self) -> Path | None:
        """The notebook whose kernel waits (None: none waits)."""
        with self._lock:
            return None if self._waiting is None else self._waiting[0]

    def take(self, source: Path, cwd: Path):
        """The kernel prepared for `source`, or a new one started now; either way one that answers.
        A kernel prepared for another notebook stays waiting for it. A kernel that died as it started
        (another process took one of its ports between their choice and its binding them:
        jupyter_client picks free ports, then the kernel binds them) is replaced, up to twice."""
        kernel, answered = None, False
        with self._lock:
            self._taken.add(source)
            if self._waiting is not None and self._waiting[0] == source:
                kernel, self._waiting = self._waiting[1], None
                answered = kernel in self._handed  # it has just answered its clearing (`hand_over`)
                self._handed.discard(kernel)
        for _ in range(3):
            kernel = kernel or _start_kernel(cwd, [], **self._environment(source))
            if answered or _answers(kernel):
                with self._lock:
                    if not self._ended:
                        self._running.append(kernel)
                        return kernel
                _shutdown(kernel)
                raise ReportError(f"notebook {source.stem} did not start: the run was stopping")
            _shutdown(kernel)
            kernel = None
        raise ReportError("the Python kernel died as it started, three times; check that ipykernel works in the "
                          "environment that runs segkit (python -m ipykernel_launcher --help)")

    def release(self, kernel, wait: bool = True) -> None:
        """Close the clients of `kernel` and shut it down (at once if a cell is still running). With
        `wait=False` (a notebook that ran to its end) the kernel is only asked to shut down: its
        process exits (about 2 s of its Python's own shutdown, at a million customers) while the next
        notebook runs, and is seen gone at the next `release` or at `close`, which end it if it has
        not exited by then. Kernels asked before are seen gone first."""
        from jupyter_core.utils import run_sync

        with self._lock:
            if kernel in self._running:
                self._running.remove(kernel)
        self._reap()
        if wait or type(kernel).cell_running or not kernel.has_kernel:
            _shutdown(kernel)
            return
        _stop_clients(kernel)
        try:
            kernel.shutting_down = True  # as shutdown_kernel: no restart of a kernel that exits
            kernel.stop_restarter()
            run_sync(kernel.request_shutdown)()
        except Exception:  # the request could not be sent: shut it down now, as before
            _shutdown(kernel)
            return
        with self._lock:
            self._exiting.append(kernel)

    def hand_over(self, kernel, source: Path, cwd: Path) -> bool:
        """Make `kernel`, taken by a notebook that ran to its end, the kernel that waits for the notebook
        `source`, cleared as `_clear_for` says: a namespace of its own as a new kernel's, the modules it
        imported kept. False, the kernel left to `release`, when the run is stopping, another kernel
        waits or starts for `source`, `source` has its kernel already, or the kernel did not answer."""
        with self._lock:
            if kernel in self._running:
                self._running.remove(kernel)
            if (self._ended or self._waiting is not None or source in self._taken
                    or source in self._preparing):
                return False
            self._preparing.add(source)
        try:
            _stop_clients(kernel)  # the finished notebook's client (papermill leaves its channels open)
            cleared = _clear_for(kernel, source, cwd)
        finally:
            with self._lock:
                self._preparing.discard(source)
        with self._lock:
            if cleared and not self._ended and self._waiting is None and source not in self._taken:
                self._waiting = (source, kernel)
                self._handed = {kernel}
                return True
        return False

    def end_running(self) -> None:
        """End the kernel of each notebook still running (another failed, or the run was stopped): its
        notebook's client sees the kernel gone, and the thread that runs it ends."""
        from jupyter_core.utils import run_sync

        with self._lock:
            self._ended = True
            running = list(self._running)
        for kernel in running:
            try:
                run_sync(kernel.provisioner.kill)()
            except Exception:  # gone already, or never started
                pass

    def close(self) -> None:
        """Shut down a kernel still waiting, and see every kernel asked to shut down gone."""
        with self._lock:
            waiting, self._waiting = self._waiting, None
        if waiting is not None:
            _shutdown(waiting[1])
        self._reap()

    def _reap(self) -> None:
        """Wait for the kernels asked to shut down to exit (jupyter_client's wait: ended with SIGTERM,
        then SIGKILL, if one takes longer than its shutdown_wait_time), and free their resources."""
        from jupyter_core.utils import run_sync

        with self._lock:
            exiting, self._exiting = self._exiting, []
        for kernel in exiting:
            try:
                run_sync(kernel.finish_shutdown)()
                run_sync(kernel.cleanup_resources)()
            except Exception:  # a kernel that could not be waited for: end it
                try:
                    run_sync(kernel.shutdown_kernel)(now=True)
                except Exception:
                    pass


STAGE_LOG_DIR = "SEGKIT_STAGE_LOG_DIR"


ONE_THREAD = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _stage_log_environment(source: Path) -> dict:
    """With SEGKIT_STAGE_LOG_DIR set (the tests), the environment of the kernel of notebook `source`:
    its stage log (`segkit.store`) is <that folder>/<notebook>.jsonl. Otherwise nothing."""
    folder = os.environ.get(STAGE_LOG_DIR)
    if not folder:
        return {}
    return {"env": {"SEGKIT_STAGE_LOG": str(Path(folder) / f"{source.stem}.jsonl")}}


# Run first in each kernel: a kernel asked to stop while it was already closing its sockets (a run stopped
# with SIGTERM or Ctrl-C) logs "Uncaught exception in ZMQStream callback" with a ZMQError traceback to its
# stderr, which is the user's terminal. Those records (and only those) are dropped. No name is bound in
# the notebook's namespace.
QUIET_CLOSED_SOCKETS = ('__import__("logging").getLogger("tornado.general").addFilter(lambda record: not '
                        '(record.exc_info and isinstance(record.exc_info[1], __import__("zmq").error.ZMQError)))')


def _start_kernel(cwd: Path, exec_lines: list[str], env: dict | None = None):
    """A started kernel manager (of `_kernel_manager_class`) for the python3 kernel in `cwd` (with the
    environment `env`, else this process's), which runs QUIET_CLOSED_SOCKETS, turns transparent huge
    pages off where the machine's host takes free memory back (`segkit.report.huge_pages`), then runs
    `exec_lines`."""
    from jupyter_core.utils import run_sync

    from segkit.report.huge_pages import TURN_OFF_LINE, huge_pages_unwanted

    kernel = _kernel_manager_class()(kernel_name=KERNEL)
    # the history in memory, as nbclient starts its own kernels: two kernels at once would share one
    # SQLite history file (and fill the user's history with the report's cells)
    first = [QUIET_CLOSED_SOCKETS, *([TURN_OFF_LINE] if huge_pages_unwanted(env) else [])]
    arguments = ["--IPKernelApp.log_level=ERROR", "--HistoryManager.hist_file=:memory:",
                 f"--IPKernelApp.exec_lines={[*first, *exec_lines]!r}"]
    try:
        run_sync(kernel.start_kernel)(extra_arguments=arguments, cwd=str(cwd), **({"env": env} if env else {}))
    except Exception as err:  # no python3 kernel, a kernel that cannot be launched
        raise ReportError(f"the Python kernel could not start ({type(err).__name__}: {_cut(err)}); check that "
                          "ipykernel is installed in the environment that runs segkit") from err
    return kernel


# What a kernel handed to the next notebook runs (silently, in a namespace of its own, binding no name in
# the notebook's): pyplot's figures closed and the data segkit's modules keep dropped, then IPython's
# reset of a new session (the names, the output history; the next cell is number 1 again; it ends with a
# garbage collection, about 0.3 s with a report's modules loaded), every warning shown again once (adding
# a filter invalidates the registries of warnings already shown), the memory Arrow's pool keeps after the
# notebook's tables are freed given back to the system (mimalloc, pyarrow's pool where it has no jemalloc
# (`_kernel_environment`) or where the user chose it, keeps it: after reading 1M customers' profile and
# features a kernel held 568-573 MB, against 165-172 MB with the release; jemalloc gives it back within
# seconds anyway: 549 MB, then 152 MB 3 s later), the kernel's folder and its stage log for the next
# notebook. The imported modules, matplotlib's settings (each notebook sets its fonts first:
# `segkit.report.plots.use_language`) and segkit's small caches (keyed by what they hold) stay.
CLEAR_FOR_NEXT = """\
import os, sys, warnings
if "matplotlib.pyplot" in sys.modules:
    sys.modules["matplotlib.pyplot"].close("all")
for name in KEEPING_MODULES:
    if name in sys.modules:
        sys.modules[name].forget_cached()
get_ipython().reset(new_session=True)
if "pyarrow" in sys.modules:
    sys.modules["pyarrow"].default_memory_pool().release_unused()
warnings.filterwarnings("default", message="segkit: the kernel is handed over")
del warnings.filters[0]
os.chdir(FOLDER)
os.environ.pop("SEGKIT_STAGE_LOG", None)
if STAGE_LOG:
    os.environ["SEGKIT_STAGE_LOG"] = STAGE_LOG
"""
HAND_OVER_TIMEOUT_S = 60
# The segkit modules that keep a notebook's data between calls (each has a `forget_cached()`): 07's
# customer items, their codes and its basket codes, the value models' groupings (about 80 MB at 250,000
# customers together, which the next notebooks never read).
KEEPING_MODULES = ("segkit.crosssell.category_mix", "segkit.crosssell.rules", "segkit.models.clv")


def _clear_for(kernel, source: Path, cwd: Path, timeout: float = HAND_OVER_TIMEOUT_S) -> bool:
    """Run CLEAR_FOR_NEXT in `kernel` for the notebook `source`, started in `cwd`; whether it ran
    without an error within `timeout` seconds."""
    from jupyter_core.utils import run_sync

    log = _stage_log_environment(source).get("env", {}).get("SEGKIT_STAGE_LOG")
    scope = {"FOLDER": str(cwd), "STAGE_LOG": log, "KEEPING_MODULES": KEEPING_MODULES}
    code = (f"exec(compile({CLEAR_FOR_NEXT!r}, '<segkit: the kernel is handed over>', 'exec'), "
            f"{{'get_ipython': get_ipython, **{scope!r}}})")
    client = kernel.client()

    async def clear() -> bool:
        if not await kernel.is_alive():
            return False
        client.start_channels()  # no wait for a kernel_info reply (0.2 s of flushing): the request waits in ZeroMQ
        asked = client.execute(code, silent=True, store_history=False)
        while True:
            reply = await client.get_shell_msg(timeout=timeout)
            if reply["parent_header"].get("msg_id") == asked:
                return reply["content"].get("status") == "ok"

    try:
        return run_sync(clear)()
    except Exception:  # no answer in time, a kernel that died: it is released, the next notebook starts its own
        return False
    finally:
        client.stop_channels()
        kernel.clients.remove(client)


def _answers(kernel, timeout: float = 120) -> bool:
    """Whether `kernel` answers a kernel_info request within `timeout` seconds (its start-up imports
    done); False when it died first."""
    from jupyter_core.utils import run_sync

    client = kernel.client()
    try:
        client.start_channels()
        run_sync(client.wait_for_ready)(timeout=timeout)
        return True
    except Exception:  # "Kernel died before replying to kernel_info", or no answer in time
        return False
    finally:
        client.stop_channels()
        kernel.clients.remove(client)


def _stop_clients(kernel) -> None:
    """Stop `kernel`'s clients (the notebook client's channels, its heartbeat thread)."""
    for client in kernel.clients:
        try:
            client.stop_channels()
        except Exception:  # channels already closed: nothing left to stop
            pass
    kernel.clients.clear()


def _shutdown(kernel) -> None:
    """Stop `kernel`'s clients (the notebook client's channels, its heartbeat thread) and the kernel."""
    from jupyter_core.utils import run_sync

    _stop_clients(kernel)
    if kernel.has_kernel:
        try:
            run_sync(kernel.shutdown_kernel)()
        except Exception:  # a kernel that does not stop when asked (this runs while an error is raised: keep it)
            try:
                run_sync(kernel.shutdown_kernel)(now=True)  # its process ended
            except Exception:
                pass


def _cancel_waiting_tasks() -> None:
    """Cancel the tasks an interrupted notebook client left on this thread's event loop (jupyter's,
    which the kernel's shutdown runs next): else one of them sees the kernel stop and asyncio prints
    its "Kernel died" traceback at exit."""
    import asyncio

    from jupyter_core.utils import ensure_event_loop

    try:
        asyncio.get_running_loop()
        return  # called from a running loop (a notebook): jupyter runs the client elsewhere
    except RuntimeError:
        pass
    loop = ensure_event_loop()
    waiting = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in waiting:
        task.cancel()
    if waiting:
        loop.run_until_complete(asyncio.gather(*waiting, return_exceptions=True))


def _import_lines(source: Path) -> list[str]:
    """What a kernel may run as it starts for the notebook `source`: the import statements at the top
    of its first code cell after the parameters (absolute imports, up to the first other statement,
    so nothing the notebook runs before them is skipped), then one `del` per name they bind (each
    on its own line, so a name an import failed to bind does not keep the others). [] when there are
    none, or the notebook cannot be read or parsed: the notebook then fails in its own cell, with its
    own message. What those modules print as they are imported is not in the executed notebook."""
    import ast

    try:
        cells = json.loads(source.read_text(encoding="utf-8")).get("cells", [])
        code = [cell for cell in cells if cell.get("cell_type") == "code"
                and "parameters" not in cell.get("metadata", {}).get("tags", [])]
        if not code:
            return []
        text = code[0].get("source", "")
        body = ast.parse("".join(text) if isinstance(text, list) else text).body
    except (OSError, ValueError, SyntaxError, AttributeError, TypeError):
        return []
    leading = []
    for node in body:
        if not isinstance(node, (ast.Import, ast.ImportFrom)) or getattr(node, "level", 0):
            break
        if any(alias.name == "*" for alias in node.names):  # a star import binds names no `del` can list
            break
        leading.append(node)
    names = dict.fromkeys(alias.asname or alias.name.split(".")[0] for node in leading for alias in node.names)
    return [ast.unparse(node) for node in leading] + [f"del {name}" for name in names]


# What segkit.report.plots imports in the functions that draw (not as it is imported: its import is cheap).
DRAWING_MODULES = ("matplotlib.pyplot", "seaborn")


# What segkit.load_params imports to check the params (the feature names), besides segkit.params.
PARAMS_CHECK_MODULES = ("segkit.features",)


def _warm_lines(source: Path) -> list[str]:
    """What a warm kernel runs as it starts: the notebook's import lines (`_import_lines`); then the
    modules `import segkit` leaves for first use that the notebook's code reads (`_segkit_modules`);
    then, when the imports name segkit.report.plots, the modules its charts import as they draw
    (DRAWING_MODULES: pyplot, seaborn); then a `del` of the one name those bound."""
    lines = _import_lines(source)
    modules = _segkit_modules(source) if lines else []
    if any(re.search(r"\bsegkit\.report\.plots\b|^from segkit\.report import .*\bplots\b", line) for line in lines):
        modules += DRAWING_MODULES
    if modules:
        lines += [*(f"import {module} as _warm" for module in modules), "del _warm"]
    return lines


def _segkit_modules(source: Path) -> list[str]:
    """The segkit modules behind what the notebook's code cells read, each once: the module
    of each public name (`segkit.load_stage`, `from segkit import heading` -> segkit.store,
    segkit.report.html), each module named in full (`segkit.models.cluster.cluster_stage` ->
    segkit.models.cluster), and PARAMS_CHECK_MODULES where it loads the params. Read as text: a name
    in a comment costs an import, never a wrong result. [] when the notebook cannot be read."""
    from segkit import _WHERE

    try:
        cells = json.loads(source.read_text(encoding="utf-8")).get("cells", [])
        text = "\n".join("".join(cell.get("source", "")) for cell in cells if cell.get("cell_type") == "code")
    except (OSError, ValueError, AttributeError, TypeError):
        return []
    package = Path(__file__).resolve().parents[1]
    names = [match.group(1).split(".") for match in re.finditer(r"\bsegkit((?:\.\w+)+)", text)]
    for imported in re.finditer(r"^from segkit import ([\w, ()]+)", text, re.M):
        names += [[name.strip()] for name in imported.group(1).strip("() ").split(",") if name.strip()]
    modules: dict[str, None] = {}
    for parts in (part[1:] if part and part[0] == "" else part for part in names):
        if parts and parts[0] in _WHERE:
            modules[_WHERE[parts[0]]] = None
            if parts[0] == "load_params":
                modules.update(dict.fromkeys(PARAMS_CHECK_MODULES))
            continue
        for length in range(len(parts), 0, -1):  # the longest prefix that is a module of the package
            path = package.joinpath(*parts[:length])
            try:
                found = path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()
            except (OSError, ValueError):  # a name too long for a file name
                found = False
            if found:
                modules["segkit." + ".".join(parts[:length])] = None
                break
    return list(modules)


def execute_notebook(source: Path, target: Path, parameters: dict, cwd: Path, notebook: str,
                     timeout_s: int | None = None, kernels: KernelPool | None = None, then: Path | None = None,
                     warm_imports: bool = False, hand_over: bool = False) -> None:
    """Execute one notebook with papermill into `target`; every way it can fail is a `ReportError`.

    A cell that raises, a kernel that dies, a cell that runs longer than `timeout_s` seconds, and a
    notebook that stops before its last cell (`sys.exit(0)` in a cell) all fail with a message that
    names the notebook and the cell. The notebook runs in a kernel of its own, shut down after it:
    from `kernels` when a run passes its pool (see `KernelPool`), which then starts the kernel of the
    notebook `then` while this one runs (with that notebook's imports when `warm_imports`). With
    `hand_over`, a run's pool that runs one notebook at a time, and a `then`, no kernel starts for
    `then`: this one, its namespace cleared, waits for it once this notebook has run to its end
    (`KernelPool.hand_over`).
    """
    import papermill

    pool = kernels if kernels is not None else KernelPool()
    hand_over = hand_over and kernels is not None and then is not None and not pool.one_thread_each
    kernel = pool.take(source, cwd)
    manager = type(kernel)  # a class of its own for this kernel: the hooks below set its state

    def cell_started(**_) -> None:
        manager.cell_running = True

    def cell_finished(**_) -> None:
        manager.cell_running = False

    try:
        if then is not None and not hand_over:  # it starts now, while this notebook runs
            try:
                pool.prepare(then, then.parent, warm_imports)
            except ReportError:  # a kernel that cannot start: the next notebook says so, starting its own
                pass
        _execute(papermill, source, target, parameters, cwd, notebook, timeout_s, kernel, cell_started,
                 cell_finished)
    except BaseException:  # Ctrl-C, SIGTERM: the notebook client's tasks were left waiting on the kernel
        _cancel_waiting_tasks()
        pool.release(kernel)
        raise
    else:
        if not (hand_over and _stopped_early(target) is None and pool.hand_over(kernel, then, then.parent)):
            pool.release(kernel, wait=False)  # it ran to its end: it exits while the next notebook runs
    finally:
        if kernels is None:
            pool.close()
    stopped = _stopped_early(target)
    if stopped:
        raise ReportError(f"notebook {notebook} stopped early, {stopped}; a report notebook must run to its last "
                          "cell: remove the exit() / sys.exit() call, or raise an exception to fail the run")


def _kernel_environment() -> dict[str, str]:
    """What the run's kernels add to this process's environment (given to each kernel as it starts,
    never set in this process, whose threads start kernels at once):

    - SEGKIT_BATCH=1: the kernels of a run are batch kernels, even when the run is started from a
      JupyterLab kernel (whose JPY_SESSION_NAME they would inherit): the tuning panel stays closed
      (segkit.tuning);
    - ARROW_DEFAULT_MEMORY_POOL=jemalloc, where pyarrow has it and the user has not chosen a pool:
      pandas' text columns live in Arrow's memory pool, and jemalloc gives freed memory back to the
      system where mimalloc (pyarrow's default) keeps it: at 1M customers 03_customer_value peaked
      170-270 MB lower, for the same CPU time.
    """
    wanted = {"SEGKIT_BATCH": "1"}
    if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ and _has_jemalloc():
        wanted["ARROW_DEFAULT_MEMORY_POOL"] = "jemalloc"
    return wanted


def _has_jemalloc() -> bool:
    import pyarrow

    try:
        pyarrow.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow built without it (Windows)
        return False
    return True


def _execute(papermill, source: Path, target: Path, parameters: dict, cwd: Path, notebook: str,
             timeout_s: int | None, kernel, cell_started, cell_finished) -> None:
    """papermill's run of one notebook, each of its failures as a ReportError (see `execute_notebook`).
    The kernel was started in `cwd`; papermill is not given it, because its change of folder is the
    whole process's, and two notebooks that run at once would restore each other's."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    try:
        papermill.execute_notebook(str(source), str(target), parameters=parameters, kernel_name=KERNEL,
                                   engine_name=_engine_name(), cwd=None, progress_bar=False, log_output=False,
                                   execution_timeout=timeout_s, km=kernel, on_cell_execute=cell_started,
                                   on_cell_executed=cell_finished)
    except PapermillExecutionError as err:
        if _said_by_segkit(err.ename, err.traceback):  # a problem segkit said in words (the data, the params)
            if err.ename in MONTH_REFUSALS:  # the month asked lies outside the data: said as itself
                raise MonthRefused(_cut(err.evalue, 1000)) from err
            raise ReportError(f"{notebook}: {_cut(err.evalue, 1000)}") from err
        raise ReportError(f"notebook {notebook} failed in cell {err.exec_count} ({err.ename}: "
                          f"{_cut(_java_cause(err.evalue), 1000)}){_errno_advice(err.evalue)}"
                          f"{_engine_advice(err.ename, err.evalue)}") from err
    except CellTimeoutError as err:
        minutes = counted(timeout_s / 60, "minute", "minutes", "g") if timeout_s else "its time limit"
        raise ReportError(f"notebook {notebook} was stopped in cell {_running_cell(target)}: it ran longer than "
                          f"report.cell_timeout_minutes ({minutes}); raise report.cell_timeout_minutes in the params "
                          "(e.g. --set report.cell_timeout_minutes=60) or find out why the cell is slow") from err
    except DeadKernelError as err:
        raise ReportError(f"notebook {notebook}: the Python kernel died in cell {_running_cell(target)} (it ran out "
                          "of memory, or the cell ended the process); look at that cell, or give the machine "
                          "more memory") from err
    except OSError as err:  # papermill saving the executed notebook: disk full, permissions
        raise ReportError(f"notebook {notebook}: {_os_problem(err, target.parent)}") from err
    except Exception as err:  # a kernel that does not start, a notebook papermill cannot use
        raise ReportError(f"notebook {notebook} could not run ({type(err).__name__}: {_cut(err)})") from err


ENGINE = "segkit"


@functools.lru_cache(maxsize=None)
def _engine_name() -> str:
    """papermill's engine for the run's notebooks, registered once: its nbclient engine, saving the
    executed notebook when the notebook starts and when it ends (however it ends: a failed cell, a
    timeout, a dead kernel, Ctrl-C), and during a cell that runs long (papermill's autosave, every 30 s
    or more), but not twice for every cell as papermill does: each save writes the whole notebook,
    charts included (up to 1 MB), 60-100 times a notebook. What the runner reads from the executed
    notebook (the cell that was running, `_running_cell`; whether it ran to its end, `_stopped_early`)
    is in the last save."""
    from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

    class SavingAtTheEnds(NotebookExecutionManager):
        quiet = False

        def save(self, **kwargs) -> None:
            if not self.quiet:
                super().save(**kwargs)

        @contextmanager
        def unsaved(self):
            self.quiet = True
            try:
                yield
            finally:
                self.quiet = False

        def cell_start(self, cell, cell_index=None, **kwargs) -> None:
            with self.unsaved():
                super().cell_start(cell, cell_index, **kwargs)

        def cell_complete(self, cell, cell_index=None, **kwargs) -> None:
            with self.unsaved():
                super().cell_complete(cell, cell_index, **kwargs)

    class SegkitEngine(NBClientEngine):
        @classmethod
        def execute_notebook(cls, nb, kernel_name, output_path=None, progress_bar=True, log_output=False,
                             autosave_cell_every=30, **kwargs):
            # papermill's Engine.execute_notebook, with the manager above
            manager = SavingAtTheEnds(nb, output_path=output_path, progress_bar=progress_bar, log_output=log_output,
                                      autosave_cell_every=autosave_cell_every)
            manager.notebook_start()
            try:
                cls.execute_managed_notebook(manager, kernel_name, log_output=log_output, **kwargs)
            finally:
                manager.cleanup_pbar()
                manager.notebook_complete()
            return manager.nb

    papermill_engines.register(ENGINE, SegkitEngine)
    return ENGINE


def write_manifest(target: Path, params: Params, params_path: Path, folder: Path, timings: dict) -> None:
    """What the run used and made: effective params, input and output fingerprints, versions, timings."""
    manifest = {
        "status": "ok",
        "run": run_name_for(params),
        "finished_at": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "params_file": str(params_path),
        "params": params.model_dump(mode="json"),
        "inputs": input_fingerprints(params, params_path),
        "outputs": {str(p.relative_to(folder)): _sha256(p)
                    for p in sorted([*(folder / "data").glob("*.parquet"), *(folder / "exports").glob("customers.*")])},
        "versions": {"python": platform.python_version(), **{name: _version(name) for name in VERSIONED}},
        "timings_s": timings,
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "",
    }
    target.write_text(json_text(manifest, indent=2, ensure_ascii=False), encoding="utf-8")


def input_fingerprints(params: Params, params_path: Path) -> dict:
    source = params.source
    found = {"params": {"path": str(params_path), "sha256": _sha256(params_path)}}
    if source.kind == "cdnow":
        from importlib import resources

        with resources.as_file(resources.files("segkit.datasets").joinpath("cdnow_master.txt.gz")) as path:
            found["transactions"] = {"dataset": "cdnow", "sha256": _sha256(path)}
    elif source.kind == "demo":
        found["transactions"] = {"generator": "segkit.datasets.generate_retail", **source.demo.model_dump(mode="json")}
    elif source.kind == "file":
        for name in ("transactions", "customers", "surveys"):
            table = getattr(source, name)
            if table is not None:
                path = Path(table.path)
                path = path if path.is_absolute() else params_path.parent / path  # as intake reads it
                found[name] = {"path": table.path, "sha256": _sha256(path)}
    elif source.kind == "database":
        found["transactions"] = {"database": _redacted(source.database.url), "table": source.database.table}
    return found


def _redacted(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


def stages_changed_since_report(folder: str | os.PathLike) -> list[str]:
    """The stage files of a finished report (`folder`/data/*.parquet, as its manifest.json lists them
    with their SHA-256) that were changed, removed or added since the report was made (e.g. by
    `segkit run NOTEBOOK --force` in its data folder): names relative to `folder`, sorted; [] when
    they are as the report left them or the manifest cannot be read."""
    folder = Path(folder)
    try:
        listed = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["outputs"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    stages = {name: digest for name, digest in listed.items() if name.startswith("data/")}
    now = {str(p.relative_to(folder)) for p in (folder / "data").glob("*.parquet")}
    changed = [name for name, digest in stages.items()
               if name not in now or _sha256(folder / name) != digest]
    return sorted([*changed, *(now - set(stages))])


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _replace(final: Path, work: Path) -> None:
    """Put the finished run in place; the old report is removed only once the new one is there."""
    old = None
    if final.is_symlink() or (final.exists() and not final.is_dir()):
        raise ReportError(f"{final} exists and is not a report folder; move it away and run again")
    if final.exists():
        old = new_folder(final.parent, prefix=f".{final.name}{OLD_MARK}")
        os.rename(final, old)  # onto the empty folder just made: no name another process could have chosen
    try:
        os.rename(work, final)
    except BaseException:
        if old is not None:
            os.rename(old, final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def run_lock(reports_dir: Path, name: str) -> Iterator[None]:
    """Hold the lock of run `name` in `reports_dir`, or fail at once if another live process holds it.

    The lock is an OS file lock (`filelock`): it is released when its process ends, however it ends,
    so a killed run never blocks the next one. The holder writes its process id into the lock file
    for the message of a run that finds it taken.
    """
    from filelock import FileLock, Timeout

    path = reports_dir / f".{name}.lock"
    lock = FileLock(path, blocking=False, on_acquired=_write_pid)
    try:
        lock.acquire()
    except Timeout:
        holder = _lock_holder(path)
        raise ReportError(f"a run named {name} is already running{f' (pid {holder})' if holder else ''} in "
                          f"{reports_dir}; wait for it or use another run_name") from None
    try:
        yield
    finally:
        lock.release()


def remove_leftovers(reports_dir: Path, holding: str | None = None) -> list[Path]:
    """Remove the temporary folders of runs that no live process holds the lock of; returns them.

    `holding` is the run whose lock the caller holds already. A report caught between being moved
    aside and its successor being moved in (the run was killed in between) is put back in place.
    """
    from filelock import FileLock, Timeout

    by_run: dict[str, list[Path]] = {}
    for entry in reports_dir.iterdir():
        run = _leftover_of(entry.name)
        if run is not None:
            by_run.setdefault(run, []).append(entry)
    removed = []
    for run, entries in sorted(by_run.items()):
        if run == holding:
            removed += _clear(reports_dir / run, entries)
            continue
        lock = FileLock(reports_dir / f".{run}.lock", blocking=False)
        try:
            lock.acquire()
        except Timeout:
            continue  # a live run: its folders are in use
        except OSError:
            continue  # a lock we may not take (another user's, or not a plain file): not ours to clear
        try:
            removed += _clear(reports_dir / run, entries)
        finally:
            lock.release()
    return removed


def _leftover_of(entry: str) -> str | None:
    """The run name of a temporary folder name (`.<run>.tmp-XXXXXXXX` or `.<run>.old-XXXXXXXX`), else None."""
    if not entry.startswith("."):
        return None
    for mark in (TMP_MARK, OLD_MARK):
        run, found, suffix = entry[1:].rpartition(mark)
        if found and run and re.fullmatch(r"[A-Za-z0-9_]+", suffix):
            return run
    return None


def _clear(final: Path, entries: list[Path]) -> list[Path]:
    """Remove one run's leftovers (best effort: a leftover that cannot be removed does not stop a run)."""
    olds = sorted((e for e in entries if OLD_MARK in e.name and e.is_dir() and not e.is_symlink()),
                  key=lambda e: e.stat().st_mtime)
    if olds and not final.exists() and not final.is_symlink():
        try:
            os.rename(olds[-1], final)
            entries = [e for e in entries if e != olds[-1]]
        except OSError:
            pass
    for entry in entries:
        _remove(entry)
    return [e for e in entries if not e.exists() and not e.is_symlink()]


def _write_pid(fd: int) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)


def _lock_holder(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def _set_aside(work: Path, failed: Path) -> Path | None:
    """Keep a failed run's folder as `<run>.failed/` (replacing an older one); never raises."""
    try:
        _remove(failed)
        os.rename(work, failed)
        return failed
    except OSError:
        shutil.rmtree(work, ignore_errors=True)  # nothing left behind
        return None


def _remove(path: Path) -> None:
    """Remove a folder, or a file or symlink in its place (never what a symlink points to); never raises."""
    try:
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.exists():
            shutil.rmtree(path)
    except OSError:
        pass


@contextmanager
def _writing(reports_dir: Path) -> Iterator[None]:
    """Turn a file system error around the run (making the folder, the lock, ...) into one message."""
    try:
        yield
    except OSError as error:
        raise ReportError(f"cannot use the reports folder {reports_dir}: {_os_problem(error, reports_dir)}") from error


# errno -> what it means for the reader, and what to do
_OS_PROBLEMS = {
    errno.ENOSPC: ("the disk is full", "free some space, or write the reports to another disk with --out"),
    errno.EDQUOT: ("the disk quota is used up", "free some space, or write the reports elsewhere with --out"),
    errno.EROFS: ("the file system is read-only", "choose a writable folder with --out"),
    errno.EACCES: ("permission denied", "choose a folder you can write to with --out, or change its permissions"),
    errno.EPERM: ("operation not permitted", "choose a folder you can write to with --out, or change its permissions"),
    errno.ENAMETOOLONG: ("the name is too long for the file system",
                         "use a shorter run_name, or a reports folder with a shorter path (--out)"),
    errno.EEXIST: ("a file of that name is in the way", "move the file away, or choose another folder with --out"),
    errno.ENOTDIR: ("a part of the path is a file, not a folder", "choose another folder with --out"),
}


def _os_problem(error: OSError, folder: Path | None = None) -> str:
    where = error.filename if error.filename is not None else (f"in {folder}" if folder else "a file")
    reason, advice = _OS_PROBLEMS.get(error.errno, (error.strerror or _cut(error), "check the folder and run again"))
    return f"cannot write {where}: {reason}; {advice}"


@functools.lru_cache(maxsize=1)
def _segkit_errors() -> frozenset[str]:
    """The names of segkit's own errors (SegkitError and every subclass, e.g. DataError, MonthNotInData)."""
    import segkit.intake.cleaning  # noqa: F401  the subclasses the notebooks raise
    import segkit.intake.customer_level  # noqa: F401
    import segkit.tuning  # noqa: F401

    found, todo = set(), [SegkitError]
    while todo:
        cls = todo.pop()
        found.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return frozenset(found - {"ReportError", "RunInterrupted"})


_FRAME_FILE = re.compile(r"File (?:\x1b\[[0-9;]*m)*(\S+?\.py)\b")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _said_by_segkit(ename: str | None, traceback: list[str] | None) -> bool:
    """Whether a notebook's error is one of segkit's own, raised by segkit's code: its message says what
    is wrong and what to do, and is shown as it is, without the exception's name and the cell (the
    executed notebook keeps both). The name alone is not enough (pandas and psycopg have a DataError
    too: a bug there is no advice to the user): the last frame of the traceback must be a segkit file."""
    if ename not in _segkit_errors():
        return False
    files = _FRAME_FILE.findall(_ANSI.sub("", "\n".join(traceback or [])))
    return bool(files) and "segkit" in Path(files[-1]).parts


def _java_cause(evalue: str | None) -> str:
    """The line of a Java error (Spark's, through py4j) that says what went wrong: its last `Caused by:`,
    where the JVM's stack frames would otherwise fill the message; other errors' text as it is."""
    causes = re.findall(r"^Caused by: (.+)$", evalue or "", flags=re.MULTILINE)
    return causes[-1].strip() if causes else (evalue or "")


def _engine_advice(ename: str | None, evalue: str | None = None) -> str:
    """For an engine's out-of-memory error raised inside a notebook: what to do. DuckDB's
    (`OutOfMemoryException`) names the cap, and its spill folder's full disk (an `IOException`) the
    folder, TMPDIR and the cap; Spark's (`SparkOutOfMemoryError` or the JVM's
    `java.lang.OutOfMemoryError` inside a `Py4JJavaError`) names the driver's memory setting."""
    if re.search(r"SparkOutOfMemoryError|java\.lang\.OutOfMemoryError", evalue or ""):
        return ("; Spark ran out of memory: give the driver (and, on a cluster, the executors) more, in the "
                "params' source.spark.config, e.g. `spark.driver.memory: 6g` and "
                "`spark.sql.shuffle.partitions: '16'` for a local master at a million customers "
                "(docs/spark.md)")
    if "segkit-engine-" in (evalue or "") and "No space left on device" in (evalue or ""):
        from segkit.intake.sources import DEFAULT_ENGINE_MEMORY

        memory = os.environ.get("SEGKIT_ENGINE_MEMORY") or DEFAULT_ENGINE_MEMORY
        return (f"; the embedded engine (DuckDB) spills what does not fit its memory cap, "
                f"SEGKIT_ENGINE_MEMORY={memory}, to a folder in {tempfile.gettempdir()}, and that disk is full: "
                "free space there, point TMPDIR at a disk with more room (`TMPDIR=/bigdisk/tmp segkit report "
                "...`), or raise the cap so that less is spilled (`SEGKIT_ENGINE_MEMORY=4GB segkit report ...`)")
    if not ename or "OutOfMemory" not in ename:
        return ""
    from segkit.intake.sources import DEFAULT_ENGINE_MEMORY

    memory = os.environ.get("SEGKIT_ENGINE_MEMORY") or DEFAULT_ENGINE_MEMORY
    return (f"; the embedded engine (DuckDB) needed more memory than its cap, SEGKIT_ENGINE_MEMORY={memory}, "
            "allows even after spilling to disk: run again with a larger cap, e.g. "
            "`SEGKIT_ENGINE_MEMORY=4GB segkit report ...`")



def _errno_advice(evalue: str | None) -> str:
    """For an OSError raised inside a notebook ("[Errno 28] ..."): what it means and what to do."""
    found = re.search(r"\[Errno (\d+)\]", evalue or "")
    if not found or int(found.group(1)) not in _OS_PROBLEMS:
        return ""
    reason, advice = _OS_PROBLEMS[int(found.group(1))]
    return f"; {reason}: {advice}"


def _failure_message(error: BaseException, doing: str, final: Path, kept: Path | None) -> str:
    if isinstance(error, KeyboardInterrupt):
        message = f"the run was interrupted while {doing}"
    elif isinstance(error, ReportError):
        message = str(error)
    elif isinstance(error, OSError):
        message = f"{doing} failed: {_os_problem(error, final.parent)}"
    elif isinstance(error, SegkitError):
        message = f"{doing} failed: {error}"
    else:
        message = (f"{doing} failed ({type(error).__name__}: {_cut(error)}); "
                   "`segkit --debug report ...` shows where")
    if kept is not None:
        notebook = doing.removeprefix("running notebook ")
        executed = kept / "executed" / f"{notebook}.ipynb"
        if doing.startswith("running notebook ") and executed.is_file():
            message += f"; the executed notebook is at {executed}"
        else:
            message += f"; what the run made is in {kept}"
    if final.is_dir():
        message += f"; the last good report in {final} is untouched"
    return message


def _stopped_early(executed: Path) -> str | None:
    """How a notebook papermill counts as a success stopped before its last cell, if it did."""
    import nbformat

    notebook = nbformat.read(executed, as_version=4)
    for position, cell in enumerate((c for c in notebook.cells if c.cell_type == "code"), start=1):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error" and output.get("ename") == "SystemExit":
                code = _first_line(output.get("evalue"))
                return f"in cell {cell.get('execution_count') or position} (SystemExit{': ' + code if code else ''})"
        if cell.source.strip() and cell.get("execution_count") is None:
            return f"before code cell {position}, which never ran"
    return None


def _running_cell(executed: Path) -> str:
    """The cell papermill started last in an executed notebook (its execution count, else its position)."""
    import nbformat

    try:
        notebook = nbformat.read(executed, as_version=4)
    except Exception:  # not written yet
        return "?"
    found = "?"
    for position, cell in enumerate((c for c in notebook.cells if c.cell_type == "code"), start=1):
        if cell.get("metadata", {}).get("papermill", {}).get("start_time"):
            found = str(cell.get("execution_count") or position)
    return found


def _kernel_manager_class() -> type:
    """A kernel manager class for one notebook run: jupyter_client's, shutting the kernel down without SIGINT.

    jupyter_client sends the kernel SIGINT before every shutdown request. After a notebook ran to its
    end the kernel is idle and the interrupt is useless; when it lands while the kernel still
    finishes papermill's last request (the `kernel_info_request` papermill sends after the last
    cell), ipykernel turns it into a KeyboardInterrupt and logs "[IPKernelApp] ERROR |
    KeyboardInterrupt caught in kernel." on a run that succeeded. And a kernel still running a cell
    (a timeout) that is interrupted and at once asked to shut down logs a ZMQError traceback while
    answering the interrupted cell. So: an idle kernel is only asked to shut down; a busy one is
    killed (its run has failed; nothing in it is worth saving). Interrupts outside a shutdown are
    unchanged. `cell_running` is set by the notebook client's cell hooks (see execute_notebook).
    """
    from jupyter_client.manager import AsyncKernelManager

    class QuietShutdownKernelManager(AsyncKernelManager):
        cell_running = False

        def __init__(self, **kwargs) -> None:
            super().__init__(**kwargs)
            self.clients = []  # the notebook client's: papermill leaves them open on a kernel it did not start

        def client(self, **kwargs):
            made = super().client(**kwargs)
            self.clients.append(made)
            return made

        async def shutdown_kernel(self, now: bool = False, restart: bool = False) -> None:
            await super().shutdown_kernel(now=now or type(self).cell_running, restart=restart)

        async def _async_interrupt_kernel(self) -> None:
            if self.shutting_down:
                return
            await super()._async_interrupt_kernel()

    return QuietShutdownKernelManager


def _cut(value: object, limit: int = 200) -> str:
    text = _first_line(str(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _first_line(text: str) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""
