"""The `segkit` command line: run the monthly report, one notebook, or check a params file."""

from __future__ import annotations

import logging
import os
import re
import shlex
import signal
import sys
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Iterator, Optional

import typer
from rich.console import Console
from rich.markup import escape as rich_escape

from segkit.errors import SegkitError

app = typer.Typer(
    help="Customer segmentation reports: RFM, segments, clusters and their evaluation, "
         "from a params file to HTML and PDF reports in reports/<run>/.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
)
# soft_wrap: a line is never broken at the console's width (80 when piped or logged): paths and commands
# stay whole for copying; the terminal wraps them for the eye
err = Console(stderr=True, soft_wrap=True)
_state = {"debug": False}

ParamsOption = Annotated[Path, typer.Option("--params", "-p", help="The run's YAML params file, e.g. params/demo.yaml.")]
MonthOption = Annotated[Optional[str], typer.Option(
    "--month", "-m", metavar="YYYY-MM",
    help="Analyse up to the end of this month (YYYY-MM, or `last`: the month that ended most recently, for a "
         "monthly cron job); the run is named <run_name>-<month>.")]
SetOption = Annotated[Optional[list[str]], typer.Option(
    "--set", "-s", metavar="KEY=VALUE", help="Override one parameter, e.g. --set rfm.bins=4 (repeatable).")]


@app.callback()
def _options(debug: Annotated[bool, typer.Option(
        "--debug", help="On an error, also print the Python traceback (for a bug report).")] = False) -> None:
    _state["debug"] = debug
    # papermill and nbclient log a cell timeout or a dead kernel themselves; segkit says it once
    logger = logging.getLogger("papermill")
    logger.handlers = [h for h in logger.handlers if not isinstance(h, logging.NullHandler)]
    if not debug:
        logger.addHandler(logging.NullHandler())


def _plain(value: object) -> str:
    """Text from data, params or paths as the terminal should show it: Rich markup escaped (a run
    name "[/bold]x" is text, not a tag), terminal control characters (escape sequences) shown as
    their code."""
    text = "".join(c if c.isprintable() or c in "\n\t" else f"\\x{ord(c):02x}" for c in str(value))
    return rich_escape(text)


def _use_lang(params: Path, overrides=()) -> None:
    """Print in the language of the params file (`lang`, or a `--set lang=...`) from now on: read
    from the YAML alone, so a params file that fails validation still gets its message in its
    language; a file that is not valid YAML or not UTF-8 (GBK, as Chinese Windows saves), from its
    `lang:` line; a file that is not there, or names no language segkit has, in the terminal's
    language (`_terminal_lang`). Never fails: what it cannot read, the params' own check says."""
    import yaml

    from segkit.params import MAX_BYTES

    lang = None
    try:
        with Path(params).open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError:
        data = b""
    if len(data) <= MAX_BYTES:
        text = data.decode("utf-8-sig", errors="replace")
        try:
            lang = (yaml.safe_load(text) or {}).get("lang")
        except Exception:  # any YAML segkit refuses (its check says why): the lang: line alone
            found = re.search(r"^\ufeff?lang:[ \t]*[\"']?([A-Za-z_@.-]+)", text, flags=re.M)
            lang = found.group(1) if found else None
    for override in overrides or ():
        key, _, value = str(override).partition("=")
        if key.strip() == "lang":
            try:  # as the params read it: YAML (`--set 'lang="zh"'`)
                lang = yaml.safe_load(value)
            except yaml.YAMLError:
                lang = value.strip()
    _speak(lang)


def _use_lang_of_run(run_folder: Path) -> None:
    """Print in the language of a finished run (its manifest's params), the terminal's when unreadable."""
    import json

    try:
        lang = json.loads((Path(run_folder) / "manifest.json").read_text(encoding="utf-8"))["params"].get("lang")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        lang = None
    _speak(lang)


# a `lang` value that is not one of segkit's but plainly means Chinese: said in Chinese that it is wrong
_MEANS_CHINESE = re.compile(r"(?i)^(?:zh(?:[-_.@].*)?|cn|chs|cht|chinese|中文|简体中文|繁體中文)$")


def _speak(lang) -> None:
    """The language of what the commands print from now on: `lang` when segkit has it ("zh" also
    for a value that means Chinese, e.g. `cn`, whose error is then said in Chinese), else the
    terminal's language (`_terminal_lang`)."""
    if isinstance(lang, str) and _MEANS_CHINESE.match(lang.strip()):
        lang = "zh"
    _state["lang"] = lang if lang in ("en", "zh") else _terminal_lang()


def _terminal_lang() -> str:
    """"zh" when the terminal's locale is Chinese, else "en": the language of an error said before
    any params file names one (a params file that is not there, a command without --params). As
    gettext reads it: LANGUAGE's first entry (unless the locale is C or POSIX), then the first of
    LC_ALL, LC_MESSAGES and LANG that is set (e.g. zh_CN.UTF-8)."""
    locale = next((os.environ[name] for name in ("LC_ALL", "LC_MESSAGES", "LANG") if os.environ.get(name)), "")
    first = os.environ.get("LANGUAGE", "").split(":")[0]
    if first and locale and locale.split(".")[0] not in ("C", "POSIX"):
        locale = first
    return "zh" if locale.lower().startswith("zh") else "en"


def _say(line: str, style: str | None = None) -> None:
    """One line on stderr in the run's language (`segkit.i18n.terminal_text`); `style`, a Rich style
    for the words up to the first colon (e.g. "green" for "done")."""
    from segkit.i18n import terminal_text

    text = terminal_text(line, _state.get("lang") or _terminal_lang())
    head = re.match(r"[^:：]{1,30}[:：]", text) if style else None
    if head:
        err.print(f"[{style}]{_plain(head.group(0))}[/]{_plain(text[head.end():])}", highlight=False, soft_wrap=True)
    else:
        err.print(_plain(text), highlight=False, soft_wrap=True)


def _fail(error: BaseException | str, code: int = 2) -> None:
    if _state["debug"] and isinstance(error, BaseException):
        err.print("".join(traceback.format_exception(error)), highlight=False, markup=False, soft_wrap=True, end="")
    _say(f"error: {error}", "bold red")
    raise typer.Exit(code)


def _first_line(error: BaseException, limit: int = 300) -> str:
    lines = str(error).strip().splitlines()
    return lines[0][:limit] if lines else ""


def _terminated(signum, frame) -> None:
    raise KeyboardInterrupt


@contextmanager
def _one_message() -> Iterator[None]:
    """Any failure of a command as one line on stderr and a non-zero exit code; --debug adds the traceback."""
    try:
        yield
    except SegkitError as error:
        _fail(error, code=getattr(error, "exit_code", 2))
    except KeyboardInterrupt:
        _say("error: interrupted", "bold red")
        raise typer.Exit(130) from None
    except Exception as error:  # a bug: still one message, the traceback on request
        if _state["debug"]:
            err.print("".join(traceback.format_exception(error)), highlight=False, markup=False, soft_wrap=True, end="")
        _say(f"error: unexpected {type(error).__name__}: {_first_line(error)}; "
             "run again as `segkit --debug ...` and report the traceback", "bold red")
        raise typer.Exit(1) from None


@app.command()
def report(params: ParamsOption, month: MonthOption = None, set_: SetOption = None,
           reports_dir: Annotated[Path, typer.Option("--out", help="Folder that holds the runs.")] = Path("reports"),
           notebooks: Annotated[Optional[Path], typer.Option(help="Folder with the notebooks (default: the project's).")] = None,
           pdf: Annotated[bool, typer.Option(help="Also write report.pdf.")] = True,
           force: Annotated[bool, typer.Option("--force", help="Replace a good report of the same run name (and its "
                                                               "month in the history), and write a month the data "
                                                               "reach only in part into the history.")] = False,
           debug: Annotated[bool, typer.Option("--debug", help="On an error, also print the Python traceback.")] = False
           ) -> None:
    """Run all the notebooks and write reports/<run>/: HTML pages, index.html, report.pdf, data/, manifest.json.

    A failed run leaves the last good report in place and keeps what it made in reports/<run>.failed/.
    A --month the data do not reach is no failure: it is refused (exit code 2) with the dates the data
    cover, and leaves nothing behind; before 01_cleaning runs where the source tells its dates in one
    query (a CSV, Parquet or DuckDB file, a PostgreSQL table), else once 01 has read them.
    A run name that already has a good report is refused unless --force is given. A failed write-back to
    PostgreSQL keeps the report and exits with 2, saying how to write the table again.
    """
    _state["debug"] = _state["debug"] or debug
    _use_lang(params, set_)
    # `kill <pid>` (SIGTERM) ends the run like Ctrl-C: its folder set aside, its kernel stopped
    before = signal.signal(signal.SIGTERM, _terminated)
    try:
        with _one_message():
            from segkit.report.runner import run_report

            result = run_report(params, month=month, overrides=set_ or [], reports_dir=reports_dir,
                                notebooks_dir=notebooks, pdf=pdf, force=force, progress=_say)
    finally:
        signal.signal(signal.SIGTERM, before)
    if result.write_back is not None:
        # the report stands (its path on stdout), but the database table is stale: a cron job must see it
        from segkit.report.runner import write_back_message

        typer.echo(str(result.folder / "index.html"))
        _fail(write_back_message(result.folder, result.write_back))
    _say(f"done in {result.timings['total']:.1f} s: open {result.folder / 'index.html'}", "green")
    typer.echo(str(result.folder / "index.html"))


@app.command()
def backfill(params: ParamsOption,
             first: Annotated[str, typer.Option("--from", help="The first month to write (YYYY-MM).")],
             last: Annotated[Optional[str], typer.Option(
                 "--to", help="The last month to write (YYYY-MM, or `last`; default: the month that ended most "
                              "recently).")] = None,
             set_: SetOption = None,
             reports_dir: Annotated[Path, typer.Option("--out", help="Folder that holds the runs and the history.")] = Path("reports"),
             force: Annotated[bool, typer.Option("--force", help="Also replace months that a whole report wrote "
                                                 "(their clusters and value figures are then lost), and write months "
                                                 "the data reach only in part.")] = False
             ) -> None:
    """Write each month from --from to --to into the history (reports/history.duckdb); no HTML or PDF.

    Each month: the customers classified as they stood at its end, and the month's figures.
    Months the data do not reach are skipped and said; so are months a whole report wrote and months the
    data reach only in part (they end more days before the month's end than their longest gap between
    purchase days in the 91 days before, at least 3), unless --force. A range none of whose months the data
    reach is refused, before the source is read where it tells its dates in one query."""
    _use_lang(params, set_)
    with _one_message():
        from segkit.monthly.backfill import backfill as run_backfill
        from segkit.monthly.history import history_path

        from segkit.report.runner import resolve_month

        if last is None or last.strip().lower() == "last":  # months the data do not reach are skipped, and said
            last = resolve_month("last")
            if re.fullmatch(r"\d{4}-\d{2}", first.strip()) and first.strip() > last:
                # the user gave no --to month: say which one it was
                from segkit.errors import ParamsError

                raise ParamsError(f"--from {first.strip()} is after --to, which is the last month that ended "
                                  f"({last}) unless given: give --from up to {last}")
        months = run_backfill(params, first, last, reports_dir, overrides=set_ or [], force=force,
                              progress=_say)
    from segkit.i18n import counted

    total = sum(month.seconds for month in months)
    written = sum(month.skipped is None for month in months)
    skipped = len(months) - written
    _say(f"done: {counted(written, 'month', 'months')} written in {total:.1f} s"
         + (f" ({skipped} skipped, said above)" if skipped else "") + f", in {history_path(reports_dir)}", "green")
    typer.echo(str(history_path(reports_dir)))


@app.command("init")
def init(folder: Annotated[Path, typer.Argument(
        metavar="FOLDER", help="The project folder to make or fill, e.g. my-segments.")],
         force: Annotated[bool, typer.Option("--force", help="Overwrite notebooks and params you have edited.")] = False
         ) -> None:
    """Copy segkit's notebooks and example params into FOLDER to edit; reports run from FOLDER use them.

    Files you have edited are kept unless --force is given.
    """
    with _one_message():
        from segkit.project import init_project

        written, kept = init_project(folder, force=force)
    for path in written:
        _say(f"wrote {path}")
    for path in kept:
        _say(f"kept {path} (edited; --force overwrites it)")
    _say(f"ready: cd {shlex.quote(str(folder))} && {_this_segkit()} report --params params/demo.yaml", "green")


def _this_segkit() -> str:
    """The running segkit as a command to type in any folder: `segkit` when that name on PATH is this
    program, else its absolute path (`/home/me/shop/.venv/bin/segkit`, a virtual environment not
    activated), or `python -m segkit.cli` for a run as a module."""
    import shutil

    running = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if running is None or running.suffix == ".py" or not running.exists():
        return f"{shlex.quote(sys.executable)} -m segkit.cli"
    on_path = shutil.which("segkit")
    try:
        if on_path is not None and Path(on_path).resolve() == running.resolve():
            return "segkit"
    except OSError:
        pass
    return shlex.quote(str(running.absolute()))


@app.command("run")
def run_one(notebook: Annotated[str, typer.Argument(
        metavar="NOTEBOOK", help="Notebook name, e.g. 02_rfm.")], params: ParamsOption,
            data_dir: Annotated[Path, typer.Option(help="Stage outputs folder (read and written).")] = Path("reports/interactive/data"),
            output: Annotated[Optional[Path], typer.Option(help="Where to write the executed notebook (default: executed/<NOTEBOOK>.ipynb beside the --data-dir folder, as in a run folder).")] = None,
            month: MonthOption = None, set_: SetOption = None,
            force: Annotated[bool, typer.Option("--force", help="Run in the data folder of a finished report: its "
                                                "pages, manifest and exports then no longer describe its stage files "
                                                "until `segkit report ... --force`.")] = False) -> None:
    """Run one notebook alone, reading the previous stages' outputs from --data-dir."""
    from segkit.params import load_params, require_source
    from segkit.report.pages import CUSTOMER_TABLE_NOTEBOOKS
    from segkit.report.runner import NOTEBOOKS, check_notebook, execute_notebook, notebook_path
    from segkit.store import RUN_INFO_LOCK

    _use_lang(params, set_)
    name = notebook.removesuffix(".ipynb")
    known = list(dict.fromkeys([*NOTEBOOKS, *CUSTOMER_TABLE_NOTEBOOKS]))
    if name not in known:
        _fail(SegkitError(f"notebook {notebook!r} does not exist; choose one of {', '.join(known)}"))
    with _one_message():
        from segkit.report.runner import resolve_month

        # as a report does: the month replaces the file's as_of
        overrides = (set_ or []) + (["as_of=null", f"month={resolve_month(month)}"] if month is not None else [])
        loaded = load_params(params, overrides)
        require_source(loaded, params)
        source = notebook_path(name)
        check_notebook(source)
        data_dir = data_dir.resolve()
        if (data_dir.parent / "manifest.json").is_file() and not force:
            raise SegkitError(f"{data_dir} holds the stage files of the finished report {data_dir.parent}: "
                              f"running {name} there would change them under its pages, manifest and exports. Copy the "
                              f"folder (cp -r {data_dir} COPY) and give --data-dir COPY, or add --force to change the "
                              "report's files")
        target = (output or data_dir.parent / "executed" / f"{name}.ipynb").resolve()
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise SegkitError(f"cannot write {error.filename}: {error.strerror}; choose other folders with "
                              "--data-dir / --output") from error
        _say(f"running {name} ...")
        try:
            execute_notebook(source, target,
                             {"params_path": str(params.resolve()), "data_dir": str(data_dir), "overrides": overrides},
                             source.parent, name, timeout_s=max(1, round(loaded.report.cell_timeout_minutes * 60)))
        finally:
            (data_dir / RUN_INFO_LOCK).unlink(missing_ok=True)  # the notebook's lock on run.json, as a report removes it
    _say(f"done: {target}", "green")
    if (data_dir.parent / "manifest.json").is_file():
        _say_stale(data_dir.parent, "its pages, manifest and exports no longer describe them")


@app.command("check")
def check(params: ParamsOption, set_: SetOption = None) -> None:
    """Validate a params file (and overrides) and print the effective parameters as JSON.

    Also refuses, with the run's message, what the run would refuse at intake without reading the
    rows: a column-map key segkit does not use, a data file that is not there, or whose header
    cannot be read or lacks a mapped column or one a cleaning rule needs (returns marked by status need
    the status column), ids a spreadsheet rounded ("1.23457E+11", in the file's first rows), or a
    database's password variable that is not set (a file's header and first rows are read; a
    database is not contacted). Dates of the customers or surveys file that cannot be read are a
    note on stderr (the run keeps those rows), not a refusal. So are the notes 01 gives on the status
    lists (a status column mapped while no list names a status that looks like a refund, a listed
    status no row holds), from the rows of each status of the whole file, counted by the engine (a
    CSV, TSV, Parquet or DuckDB file; not a workbook, a database or a file read with a preset).
    """
    from segkit.i18n import note_message, t
    from segkit.intake.source_scan import status_notes
    from segkit.intake.sources import check_source
    from segkit.params import load_params, require_source
    from segkit.store import json_text

    _use_lang(params, set_)
    with _one_message():
        loaded = load_params(params, set_ or [])
        require_source(loaded, params)
        notes = check_source(loaded.source, params, rules=loaded.cleaning)
        # the status lists against every row's status, counted in the engine: what 01 will note of them
        notes += status_notes(loaded.source, params, loaded.cleaning)
    effective = loaded.model_dump(mode="json")
    if loaded.source.kind != "demo":  # the demo generator's settings (defaults) do not apply to this source
        effective["source"].pop("demo", None)
    typer.echo(json_text(effective, indent=2, ensure_ascii=False))
    for note in notes:  # what 01 will say of the rows it keeps (a customers file's unreadable dates)
        key, values = note_message(note)
        _say(f"note: {t(key, _state.get('lang') or _terminal_lang(), **values)}", "yellow")
    # stdout stays the JSON alone (for `segkit check ... > effective.json`); the verdict goes to stderr
    _say(f"ok: the params in {params} are valid (the effective parameters are the JSON on stdout)", "green")


@app.command("export")
def export(run_folder: Annotated[Path, typer.Argument(
        metavar="RUN_FOLDER", help="A finished run's folder, e.g. reports/demo.")],
           formats: Annotated[Optional[list[str]], typer.Option(
               "--format", "-f", metavar="FORMAT",
               help="csv, xlsx, parquet or postgres, in any case; repeat it (--format csv --format xlsx) or separate "
                    "by commas (--format csv,xlsx) (default: the run's exports.formats).")] = None,
           encoding: Annotated[Optional[str], typer.Option(
               help="The CSV's encoding: utf-8-sig (UTF-8 with BOM, the default), gb18030, or gbk "
                    "(refused, by row and column, for a character GBK does not have).")] = None) -> None:
    """Write (again) the per-customer exports of an existing run into RUN_FOLDER/exports/: CSV, Excel,
    Parquet, and with a PostgreSQL source the table written back to exports.postgres_schema."""
    _use_lang_of_run(run_folder)
    with _one_message():
        from segkit.i18n import counted
        from segkit.report.exports import export_run_folder

        chosen = _listed(formats) if formats is not None else None
        written = export_run_folder(run_folder, formats=chosen, encoding=encoding)
    _say(f"done: {counted(len(written), 'export', 'exports')}", "green")
    _say_stale(run_folder, "these exports follow the files as they are now, which the report's pages do not show")
    for item in written:
        typer.echo(item)


def _listed(values: list[str]) -> list[str]:
    """The values of a repeatable option that also takes a comma-separated list, merged in order, each
    once, in lower case: `--format CSV --format xlsx,parquet` -> ["csv", "xlsx", "parquet"]."""
    return list(dict.fromkeys(part.strip().lower() for value in values for part in value.split(",") if part.strip()))


def _say_stale(run_folder: Path, consequence: str) -> None:
    """A warning on stderr when stage files of the finished report in `run_folder` changed after it
    was made (`segkit.report.runner.stages_changed_since_report`); nothing otherwise."""
    from segkit.report.runner import stages_changed_since_report

    changed = stages_changed_since_report(run_folder)
    if changed:
        shown = ", ".join(changed[:4]) + (f" and {len(changed) - 4} more" if len(changed) > 4 else "")
        _say(f"warning: {shown} in {run_folder} changed after the report was made (e.g. by `segkit run ... "
             f"--force`): {consequence}; run `segkit report ... --force` with the params you want to make them agree",
             "bold yellow")


@app.command()
def version() -> None:
    """Print segkit's version."""
    from segkit import __version__

    typer.echo(__version__)


def _flags_without_type(command_class: type) -> type:
    """`command_class` (a Typer command or group) whose `--help` shows nothing in the value column beside a
    flag (`--force`, `--pdf/--no-pdf`, `--help`): Typer 0.29 shows `<bool>` there, as if the flag took a value."""

    class FlagsWithoutType(command_class):
        def get_params(self, ctx):
            params = super().get_params(ctx)
            chinese = _state.get("help") or {}
            for param in params:
                if getattr(param, "is_flag", False) and param.metavar is None:
                    param.metavar = ""
                if chinese and hasattr(param, "help"):  # an Option; an Argument's help is Typer's own attribute
                    own = chinese.get("segkit" if hasattr(self, "commands") else self.name) or {}  # the group: segkit
                    words = chinese["words"]["help_option"] if param.name == "help" else own.get(param.name)
                    param.help = words or param.help
            return params

        def parse_args(self, ctx, args):
            _refuse_repeated_options(self, ctx, args)
            return super().parse_args(ctx, args)

        def get_usage(self, ctx) -> str:
            usage = super().get_usage(ctx)
            chinese = _state.get("help")
            return chinese["words"]["usage"] + usage.removeprefix("Usage:").lstrip() if chinese else usage

    FlagsWithoutType.__name__ = FlagsWithoutType.__qualname__ = f"FlagsWithoutType{command_class.__name__}"
    return FlagsWithoutType


def _refuse_repeated_options(command, ctx, args: list[str]) -> None:
    """A usage error for an option that takes one value given more than once (`--month 2025-09 --month
    2025-10`): Click keeps the last and drops the others without a word. Repeatable options (--set,
    --format) and flags are left alone."""
    takes_value = {}
    for param in command.params:
        if getattr(param, "param_type_name", "") == "option" and not param.is_flag and not param.count:
            for name in (*param.opts, *param.secondary_opts):
                takes_value[name] = param
    given: dict[str, list[str]] = {}
    at = 0
    while at < len(args):
        argument = args[at]
        if argument == "--":
            break
        name, value = argument, None
        if argument.startswith("--") and "=" in argument:
            name, _, value = argument.partition("=")
        elif argument not in takes_value and argument[:1] == "-" and argument[:2] in takes_value:  # Click's -mVALUE
            name, value = argument[:2], argument[2:]
        param = takes_value.get(name)
        if param is not None and value is None:
            value = args[at + 1] if at + 1 < len(args) else ""
            at += 1
        if param is not None and not param.multiple:
            given.setdefault(param.opts[-1] if param.opts[-1].startswith("--") else param.opts[0], []).append(value)
        at += 1
    for name, values in given.items():
        if len(values) > 1:
            # the UsageError of the Click that Typer uses (its own copy in Typer 0.29), which Typer prints
            usage_error = next(kind for kind in typer.BadParameter.__mro__ if kind.__name__ == "UsageError")
            raise usage_error(f"option '{name}' is given {len(values)} times ({', '.join(values)}) and takes "
                                   "one value; give it once", ctx)


def _reflow_help(typer_app: typer.Typer) -> None:
    """Each command's help as paragraphs whose lines are joined (Typer keeps a docstring's line breaks,
    which broke sentences in the middle in `--help`), the first paragraph as the line the command
    list shows, and no type beside a flag (`_flags_without_type`)."""
    import inspect

    from typer.core import TyperCommand, TyperGroup

    typer_app.info.cls = _flags_without_type(typer_app.info.cls or TyperGroup)
    for info in typer_app.registered_commands:
        info.cls = _flags_without_type(info.cls or TyperCommand)
        text = info.help or inspect.getdoc(info.callback) or ""
        paragraphs = [" ".join(paragraph.split()) for paragraph in text.split("\n\n") if paragraph.strip()]
        if paragraphs:
            info.help = "\n\n".join(paragraphs)
            info.short_help = info.short_help or paragraphs[0]


_reflow_help(app)


def main() -> None:
    _leave_huge_pages()
    _say_usage_errors_in_language()
    arguments = sys.argv[1:]
    if (not arguments or "--help" in arguments) and _usage_lang(arguments) == "zh":
        _help_in_chinese(app)
    app(prog_name="segkit")


def _help_in_chinese(typer_app: typer.Typer) -> None:
    """`--help` in Chinese from segkit/locale/help.yaml: the group's and each command's help (its first
    paragraph the command list's line), each option's (`_flags_without_type`'s class reads them), and
    Typer's and Click's own words (usage, the panels' titles, default, required)."""
    from importlib import resources

    import typer.rich_utils as rich_utils
    import yaml

    chinese = yaml.safe_load(resources.files("segkit.locale").joinpath("help.yaml").read_text(encoding="utf-8"))
    _state["help"] = chinese
    typer_app.info.help = chinese["segkit"]["help"]
    for info in typer_app.registered_commands:
        name = info.name or info.callback.__name__
        text = (chinese.get(name) or {}).get("help")
        if text:
            info.help, info.short_help = text, text.split("\n\n")[0]
    words = chinese["words"]
    rich_utils.OPTIONS_PANEL_TITLE, rich_utils.ARGUMENTS_PANEL_TITLE = words["options"], words["arguments"]
    rich_utils.COMMANDS_PANEL_TITLE = words["commands"]
    rich_utils.DEFAULT_STRING, rich_utils.REQUIRED_LONG_STRING = words["default"], words["required"]
    # Rich breaks lines between words, and a Chinese sentence is one long word to it: an option's help
    # is cut with "…" unless its text may fold (break anywhere) where it does not fit
    parameter_help = getattr(rich_utils, "_get_parameter_help", None)
    if parameter_help is not None and not getattr(parameter_help, "segkit", False):
        def folded(*args, **kwargs):
            shown = parameter_help(*args, **kwargs)
            for item in getattr(shown, "renderables", ()):
                if getattr(item, "overflow", "") is None:
                    item.overflow = "fold"
            return shown

        folded.segkit = True
        rich_utils._get_parameter_help = folded


def _say_usage_errors_in_language() -> None:
    """A mistake in the command itself (an unknown command or option, a missing --params, a value
    missing after an option, an option given twice) said as every other failure is: one line `error:
    ...` with the command's --help to look at, exit code 2, in the language the command's own errors
    use (the params file's named on the command line, else the terminal's; `_usage_lang`), the
    message through segkit/locale/terminal.yaml. Typer prints these before any command runs, through
    `typer.rich_utils.rich_format_error`, as a boxed panel; segkit prints its line instead. `segkit`
    alone still shows the help."""
    import typer.rich_utils as rich_utils

    typer_says = getattr(rich_utils, "rich_format_error", None)
    if typer_says is None or getattr(typer_says, "segkit", False):
        return

    def say(error) -> None:
        if type(error).__name__ == "NoArgsIsHelpError":
            typer_says(error)
            return
        from segkit.i18n import terminal_text

        _state["lang"] = lang = _usage_lang(sys.argv[1:])
        ctx = getattr(error, "ctx", None)
        command = ctx.command_path if ctx is not None and ctx.command_path else "segkit"
        # the message and the hint each through terminal.yaml: the message's patterns end with it
        _say(terminal_text(f"error: {error.format_message()}", lang)
             + terminal_text(f" (see `{command} --help`)", lang), "bold red")

    say.segkit = True
    rich_utils.rich_format_error = say


def _usage_lang(arguments: list[str]) -> str:
    """The language of a usage error for these command-line arguments: the params file's (`--params`
    or `-p`, with the `--set lang=...` given beside it) when one is named, else the terminal's."""
    params, overrides = None, []
    for at, argument in enumerate(arguments):
        following = arguments[at + 1] if at + 1 < len(arguments) else None
        if argument in ("--params", "-p") and following is not None:
            params = following
        elif argument.startswith("--params="):
            params = argument.partition("=")[2]
        elif argument.startswith("-p") and not argument.startswith("--"):  # Click's -pFILE
            params = argument[2:]
        elif argument in ("--set", "-s") and following is not None:
            overrides.append(following)
        elif argument.startswith("--set="):
            overrides.append(argument.partition("=")[2])
        elif argument.startswith("-s") and not argument.startswith("--"):  # Click's -sKEY=VALUE
            overrides.append(argument[2:])
    if params is None:
        if arguments[:1] == ["export"]:  # `segkit export RUN_FOLDER ...`: the run's language, as its errors
            folder = next((a for a in arguments[1:] if not a.startswith("-") and (Path(a) / "manifest.json").is_file()),
                          None)
            if folder is not None:
                _use_lang_of_run(Path(folder))
                return _state["lang"]
        return _terminal_lang()
    _use_lang(Path(params), overrides)
    return _state["lang"]


def _leave_huge_pages() -> None:
    """Transparent huge pages off for this process and the kernels and processes it starts, where the
    machine's host takes free memory back (`segkit.report.huge_pages`)."""
    from segkit.report.huge_pages import huge_pages_unwanted, turn_off_huge_pages

    if huge_pages_unwanted():
        turn_off_huge_pages()


if __name__ == "__main__":
    sys.exit(main())
