import json

import pytest

from typer.testing import CliRunner

from segkit.cli import app
from conftest import ROOT, run_segkit


def test_help_lists_the_commands():
    result = run_segkit("--help")
    assert result.returncode == 0
    for command in ("report", "run", "check", "--debug", "traceback"):
        assert command in result.stdout


def test_report_help_explains_its_options():
    result = run_segkit("report", "--help")
    assert result.returncode == 0
    for option in ("--params", "--month", "--set", "YYYY-MM", "rfm.bins=4", "--notebooks", "--debug", ".failed"):
        assert option in result.stdout
    # what a value looks like, not a Python type: --set KEY=VALUE, --month YYYY-MM
    assert "KEY=VALUE" in result.stdout and "list[str]" not in result.stdout
    for command in (("run", "--help"), ("backfill", "--help")):
        shown = run_segkit(*command).stdout
        assert "list[str]" not in shown and ("KEY=VALUE" in shown or "--set" not in shown)


def test_help_shows_no_type_beside_a_flag():
    """Typer 0.29 showed `<bool>` beside --force, --pdf/--no-pdf, --debug and --help, as if each took a value."""
    shown = {(): CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"}).output}
    for info in app.registered_commands:
        name = info.name or info.callback.__name__
        shown[(name,)] = CliRunner().invoke(app, [name, "--help"], env={"COLUMNS": "200"}).output
    for command, text in shown.items():
        assert "--help" in text and "<bool>" not in text and "bool" not in text.lower().split(), command
    assert "--no-pdf" in shown[("report",)] and "<path>" in shown[("report",)]  # values keep theirs
    # an argument is named as its help text names it (the usage read {run_folder}, the text RUN_FOLDER)
    for command, name in ((("export",), "RUN_FOLDER"), (("run",), "NOTEBOOK"), (("init",), "FOLDER")):
        usage = next(line for line in shown[command].splitlines() if "Usage:" in line)
        assert name in usage and name.lower() not in usage and name in shown[command].split("Usage:")[1], command


def test_an_unexpected_error_is_one_message_and_debug_shows_its_traceback(monkeypatch):
    import segkit.report.runner

    def broken(*args, **kwargs):
        raise RuntimeError("something nobody foresaw")

    monkeypatch.setattr(segkit.report.runner, "run_report", broken)
    params = str(ROOT / "params" / "demo.yaml")
    quiet = CliRunner().invoke(app, ["report", "--params", params])
    assert quiet.exit_code == 1
    assert "error: unexpected RuntimeError: something nobody foresaw; run again as `segkit --debug ...`" in quiet.output
    assert "Traceback" not in quiet.output
    loud = CliRunner().invoke(app, ["--debug", "report", "--params", params])
    assert loud.exit_code == 1 and "Traceback (most recent call last)" in loud.output
    assert "in broken" in loud.output


def test_bad_params_is_one_clear_message_without_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("rfm:\n  bins: 12\n", encoding="utf-8")
    result = run_segkit("report", "--params", str(bad), "--out", str(tmp_path / "reports"))
    assert result.returncode == 2
    assert "rfm.bins must be an integer from 2 to 10, got 12" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "reports").exists() or not any((tmp_path / "reports").iterdir())


def test_check_prints_the_effective_params_with_overrides():
    result = run_segkit("check", "--params", str(ROOT / "params" / "demo.yaml"), "--set", "rfm.bins=4")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["rfm"]["bins"] == 4
    assert json.loads(result.stdout)["source"]["demo"]["customers"] > 0
    # another source: no demo generator block among its settings
    other = run_segkit("check", "--params", str(ROOT / "params" / "customers-example.yaml"))
    assert other.returncode == 0, other.stderr
    source = json.loads(other.stdout)["source"]
    assert source["kind"] == "customers" and "demo" not in source


def test_unknown_notebook_is_refused():
    result = run_segkit("run", "06_nothing", "--params", str(ROOT / "params" / "demo.yaml"))
    assert result.returncode == 2 and "choose one of 01_cleaning" in result.stderr


def test_text_from_params_or_paths_is_never_terminal_markup(tmp_path):
    for name in ("[/bold]x", "[link=https://evil.example/]ok", "\x1b[31mred"):
        params = tmp_path / "m.yaml"
        params.write_text(json.dumps({"run_name": name}), encoding="utf-8")
        result = run_segkit("check", "--params", str(params))
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert result.stderr.count("error:") == 1
        assert "\x1b" not in result.stderr
        assert name.replace("\x1b", "\\x1b") in result.stderr  # shown as written, not obeyed
    folder = tmp_path / "[" / "x]"  # a path that reads as a closing tag: [/x]
    folder.mkdir(parents=True)
    result = run_segkit("check", "--params", str(folder / "p.yaml"))
    assert result.returncode == 2 and "[/x]" in result.stderr and "Traceback" not in result.stderr


def test_a_long_path_is_printed_whole_when_the_output_is_piped(tmp_path):
    """Piped or logged, the console is 80 columns wide: a path or the command to run next must not be
    broken across lines (an analyst copies them)."""
    folder = tmp_path / ("x" * 90) / "project"
    result = run_segkit("init", str(folder))
    assert result.returncode == 0, result.stderr
    assert f"cd {folder} && " in result.stderr.splitlines()[-1]
    assert result.stderr.splitlines()[-1].endswith(" report --params params/demo.yaml")
    assert any(line.startswith("wrote ") and line.endswith(".ipynb") and str(folder) in line
               for line in result.stderr.splitlines())


def test_the_cleaning_notes_are_printed_at_the_end_of_a_report(tmp_path):
    """What 01 noticed (amounts in another currency's sign, another decimal mark) is also said where a
    terminal or a cron job's log shows it, as plain lines; a run without notes or run.json says nothing."""
    import json

    from segkit.report.runner import cleaning_note_lines

    notes = [{"key": "currency_sign_differs", "column": "金额", "signs": "$, €", "rows": 1234, "example": "$12.50",
              "code": "CNY"},
             {"key": "a_note_of_a_later_segkit"},
             # a count that is no number (hand-edited run.json): no form can agree with it, the key is said
             {"key": "currency_sign_differs", "column": "x", "signs": "$", "rows": None, "example": "$1", "code": "CNY"}]
    (tmp_path / "run.json").write_text(json.dumps({"cleaning_notes": notes}), encoding="utf-8")
    first, second, third = cleaning_note_lines(tmp_path)
    assert third == "note: currency_sign_differs"
    assert first.startswith("note: The 金额 column holds 1,234 amounts written with $, € (like \"$12.50\")")
    assert "currency.code: CNY" in first and "**" not in first
    assert second == "note: a_note_of_a_later_segkit"
    (tmp_path / "run.json").write_text(json.dumps({"cleaning_notes": []}), encoding="utf-8")
    assert cleaning_note_lines(tmp_path) == [] and cleaning_note_lines(tmp_path / "nowhere") == []


def test_a_note_line_keeps_the_asterisks_of_a_value_and_drops_the_templates_emphasis(tmp_path):
    """A masked id, 138****1000, was printed as 1381000: the emphasis marks were taken out after the values
    were in."""
    import json

    from segkit.report.runner import cleaning_note_lines

    masked = {"key": "masked_customer_ids", "ids": 3, "rows": 3, "share": 0.1, "example": "138****1000",
              "example_rows": 1, "column": "customer_id"}
    (tmp_path / "run.json").write_text(json.dumps({"cleaning_notes": [masked]}), encoding="utf-8")
    for lang in ("en", "zh"):
        line, = cleaning_note_lines(tmp_path, lang)
        assert line.count('"138****1000"') == 2, line
    headline = {"key": "currency_sign_differs", "column": "A**B", "signs": "$", "rows": 2, "example": "$1", "code": "CNY"}
    (tmp_path / "run.json").write_text(json.dumps({"cleaning_notes": [headline]}), encoding="utf-8")
    assert "A**B" in cleaning_note_lines(tmp_path)[0]


def test_the_index_says_under_its_headline_when_amounts_were_in_another_currency():
    """The headline's revenue sums amounts as written: a note of another currency's sign (or decimal
    mark) from cleaning is said under it, escaped, in the run's language; other notes are not."""
    from segkit.report.pages import headline_caveats

    currency = {"key": "currency_sign_differs", "column": "<b>金额</b>", "signs": "$", "rows": 3, "example": "$1",
                "code": "CNY"}
    order = {"key": "date_order_day_first", "order": "day_first", "decided_by": 2, "example": "25/12/2024", "followed": 1}
    english = headline_caveats({"cleaning_notes": [currency, order]}, "en")
    assert english.startswith('<div class="headline-notes">') and "holds 3 amounts written with $" in english
    assert "&lt;b&gt;金额&lt;/b&gt;" in english and "<b>金额" not in english and "25/12/2024" not in english
    assert "列有 3 个金额带有 $ 符号" in headline_caveats({"cleaning_notes": [currency]}, "zh")
    assert headline_caveats({"cleaning_notes": [order]}, "en") == "" and headline_caveats({}, "zh") == ""


def test_the_index_says_under_its_headline_when_cleaning_set_aside_a_large_share_of_the_rows():
    """Trial: a file of two date orders pasted together lost 310 of its 800 rows to unreadable dates; the
    index showed its figures with nothing to say they left out 39% of the data."""
    from segkit.report.pages import SET_ASIDE_HEADLINE_SHARE, headline_caveats

    many = headline_caveats({}, "en", {"rows_in": 800, "rows_aside": 310})
    assert "Cleaning set aside 310 of the 800 input rows (38.8%)" in many and "Section 1" in many
    assert "清洗隔离了 800 行输入中的 310 行（38.8%）" in headline_caveats({}, "zh", {"rows_in": 800, "rows_aside": 310})
    below = int(800 * SET_ASIDE_HEADLINE_SHARE) - 1
    assert headline_caveats({}, "en", {"rows_in": 800, "rows_aside": below}) == ""
    assert headline_caveats({}, "en", {"rows_in": 0, "rows_aside": 0}) == ""


def test_a_params_file_without_a_source_is_refused_not_run_on_the_demo_data(tmp_path):
    """A file that says nothing of the source would otherwise analyse segkit's generated demo data
    under the analyst's run name (and write it into their history): every command that reads data
    refuses it, naming the file and the key; `source: {kind: demo}` asks for the demo data."""
    params = tmp_path / "shop.yaml"
    params.write_text("run_name: shop\nlang: en\n", encoding="utf-8")
    for command in (["check"], ["report", "--month", "2025-05", "--out", str(tmp_path / "r")],
                    ["backfill", "--from", "2025-04", "--to", "2025-04", "--out", str(tmp_path / "r")],
                    ["run", "02_rfm", "--data-dir", str(tmp_path / "d")]):
        done = run_segkit(*command[:1], "--params", str(params), *command[1:])
        assert done.returncode == 2 and f"{params}: no source: say where the data are" in done.stderr, done.stderr
        assert "source: {kind: demo}" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "r").exists()
    params.write_text("run_name: shop\nsource: {kind: demo}\n", encoding="utf-8")
    assert run_segkit("check", "--params", str(params)).returncode == 0


def test_near_misses_get_the_name_meant(tmp_path):
    (tmp_path / "o.csv").write_text("cust,day,total\nC1,2025-01-02,10\n", encoding="utf-8")
    columns = "{customer_id: cust, orderd_at: day, amount: total}"
    (tmp_path / "a.yaml").write_text(f"source: {{kind: file, transactions: {{path: o.csv, columns: {columns}}}}}\n",
                                     encoding="utf-8")
    done = run_segkit("check", "--params", str(tmp_path / "a.yaml"))
    assert done.returncode == 2 and "(did you mean 'ordered_at' for 'orderd_at'?)" in done.stderr, done.stderr
    (tmp_path / "b.yaml").write_text("source: {kind: demo}\ncurrency: {code: RMB}\n", encoding="utf-8")
    done = run_segkit("check", "--params", str(tmp_path / "b.yaml"))
    assert done.returncode == 2 and "RMB is not an ISO 4217 currency code" in done.stderr
    assert "did you mean CNY?" in done.stderr
    done = run_segkit("export", str(tmp_path / "nothere"))
    assert done.returncode != 0 and f"{tmp_path / 'nothere'} does not exist" in done.stderr


def test_check_refuses_a_returns_rule_whose_column_is_not_mapped(tmp_path):
    """Returns marked by status with no status column mapped: `segkit check` says so, as the run
    would (it failed only in 01_cleaning's fifth cell)."""
    (tmp_path / "orders.csv").write_text("order,customer,date,amount,state\nO1,K1,2025-01-02,10,ok\n", encoding="utf-8")
    columns = {"order_id": "order", "customer_id": "customer", "ordered_at": "date", "amount": "amount"}
    params = {"run_name": "shop", "source": {"kind": "file", "transactions": {"path": "orders.csv", "columns": columns}},
              "cleaning": {"returns": {"status_values": ["returned"]}}}
    (tmp_path / "p.yaml").write_text(json.dumps(params), encoding="utf-8")
    result = run_segkit("check", "--params", str(tmp_path / "p.yaml"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "status_values needs the status column" in result.stderr and "orders.csv" in result.stderr
    columns["status"] = "state"
    (tmp_path / "p.yaml").write_text(json.dumps(params), encoding="utf-8")
    assert run_segkit("check", "--params", str(tmp_path / "p.yaml")).returncode == 0


def test_check_reads_the_campaigns_files_header(tmp_path):
    """A campaigns file that is not there, or whose mapped column is not in it, is refused by `segkit
    check` as by 07 (which failed after six notebooks), with the closest name."""
    (tmp_path / "orders.csv").write_text("order,customer,date,amount\nO1,K1,2025-01-02,10\n", encoding="utf-8")
    columns = {"order_id": "order", "customer_id": "customer", "ordered_at": "date", "amount": "amount"}
    params = {"run_name": "shop", "source": {"kind": "file", "transactions": {"path": "orders.csv", "columns": columns},
                                             "campaigns": {"path": "campaigns.csv",
                                                           "columns": {"customer_id": "会员ID", "responded": "是否回应"}}}}
    (tmp_path / "p.yaml").write_text(json.dumps(params, ensure_ascii=False), encoding="utf-8")
    result = run_segkit("check", "--params", str(tmp_path / "p.yaml"))
    assert result.returncode == 2 and "campaigns.csv" in result.stderr and "Traceback" not in result.stderr
    (tmp_path / "campaigns.csv").write_text("会员ID,活动,是否响应\nK1,春节,1\n", encoding="utf-8")
    result = run_segkit("check", "--params", str(tmp_path / "p.yaml"))
    assert result.returncode == 2 and "是否回应" in result.stderr and "是否响应" in result.stderr, result.stderr
    params["source"]["campaigns"]["columns"]["responded"] = "是否响应"
    (tmp_path / "p.yaml").write_text(json.dumps(params, ensure_ascii=False), encoding="utf-8")
    assert run_segkit("check", "--params", str(tmp_path / "p.yaml")).returncode == 0


def test_help_never_breaks_a_sentence_where_the_docstring_broke_its_line():
    """Typer keeps a docstring's line breaks: `segkit check --help` read "without reading the" / "rows:".
    Each command's help is whole paragraphs, and the command list shows the first one."""
    for info in app.registered_commands:
        for paragraph in info.help.split("\n\n"):
            assert "\n" not in paragraph, (info.callback.__name__, paragraph)
        assert info.short_help == info.help.split("\n\n")[0]
    shown = CliRunner().invoke(app, ["check", "--help"], env={"COLUMNS": "400", "TERMINAL_WIDTH": "400"}).output
    assert "without reading the rows: a column-map key" in shown


def test_a_params_file_that_is_not_there_is_met_with_the_one_meant(tmp_path):
    """`woo.yaml` when the file is woo.yml: said; another name: the YAML files of that folder."""
    (tmp_path / "woo.yml").write_text("run_name: woo\n", encoding="utf-8")
    (tmp_path / "demo.yaml").write_text("run_name: demo\n", encoding="utf-8")
    said = CliRunner().invoke(app, ["check", "--params", str(tmp_path / "woo.yaml")], env={"COLUMNS": "400"}).output
    assert f"no such params file; did you mean {tmp_path / 'woo.yml'}?" in " ".join(said.split())
    said = CliRunner().invoke(app, ["check", "--params", str(tmp_path / "shop.yaml")], env={"COLUMNS": "400"}).output
    assert f"no such params file (YAML files in {tmp_path}: demo.yaml, woo.yml)" in " ".join(said.split())


def test_help_speaks_chinese_on_a_chinese_terminal_or_for_a_chinese_params_file():
    """`--help` under LANG=zh_CN (or with a --params file of lang: zh): the group's, each command's and
    each option's help from segkit/locale/help.yaml, Typer's own words too; none of the English left."""
    import re

    import typer.main
    import yaml

    chinese = yaml.safe_load((ROOT / "segkit" / "locale" / "help.yaml").read_text(encoding="utf-8"))
    group = typer.main.get_command(app)
    commands = {"segkit": group, **group.commands}
    # every command and option has its Chinese words (a new option without them fails here)
    for name, command in commands.items():
        assert command.hidden or "help" in chinese[name], name
        for param in command.params:
            assert param.name in chinese[name], (name, param.name)
    zh_terminal = {"LANG": "zh_CN.UTF-8", "LC_ALL": None, "LC_MESSAGES": None, "LANGUAGE": None, "COLUMNS": "100"}
    for name, command in commands.items():
        arguments = ["--help"] if name == "segkit" else [name, "--help"]
        shown = run_segkit(*arguments, env=zh_terminal)
        assert shown.returncode == 0, shown.stderr
        squeezed = re.sub(r"[\s│╭╮╰╯─]+", "", shown.stdout)
        assert "用法：segkit" in squeezed and "选项" in squeezed and "显示此帮助并退出。" in squeezed
        assert re.sub(r"\s+", "", chinese[name]["help"].split("\n\n")[0]) in squeezed, name
        for param in command.params:
            if param.name != "help":
                assert re.sub(r"\s+", "", chinese[name][param.name]) in squeezed, (name, param.name)
            english = getattr(param, "help", None)
            assert not english or re.sub(r"\s+", "", english) not in squeezed, (name, param.name)
        assert "Usage:" not in shown.stdout and "Options" not in shown.stdout and "[default:" not in shown.stdout
    # the language of the params file named beside it wins over the terminal's
    english_terminal = {**zh_terminal, "LANG": "en_US.UTF-8"}
    shown = run_segkit("report", "--params", str(ROOT / "params" / "demo-zh.yaml"), "--help", env=english_terminal)
    assert "用法：segkit report" in shown.stdout and "同时生成 report.pdf。" in shown.stdout
    assert "Usage:" in run_segkit("report", "--help", env=english_terminal).stdout


@pytest.mark.parametrize("args, said, command", [
    (["reprot", "--params", "x.yaml"], "error: No such command 'reprot'. Did you mean 'report', 'export'?", "segkit"),
    (["report"], "error: Missing option '--params' / '-p'.", "segkit report"),
    (["export"], "error: Missing argument 'RUN_FOLDER'.", "segkit export"),
    (["export", "reports/x", "--bogus"], "error: No such option: --bogus", "segkit export"),
    (["backfill", "-p", "x.yaml", "--from", "2025-01", "--from", "2025-02"],
     "error: option '--from' is given 2 times (2025-01, 2025-02) and takes one value; give it once", "segkit backfill"),
])
def test_a_mistake_in_the_command_is_one_line_with_its_help(args, said, command):
    """The README promises one line `error: ...` for every failure: Typer's usage errors were boxed panels."""
    done = run_segkit(*args, env={"LANGUAGE": None, "LC_ALL": None, "LC_MESSAGES": None, "LANG": "en_US.UTF-8"})
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == f"{said} (see `{command} --help`)", done.stderr
    assert done.stdout == ""


def test_check_says_the_params_are_valid_on_stderr_and_keeps_stdout_the_json(tmp_path):
    """Trial 42: a successful `segkit check` printed only JSON, no word that the params are valid."""
    from conftest import write_params

    for lang, said in (("en", "ok: the params in {} are valid (the effective parameters are the JSON on stdout)"),
                       ("zh", "参数有效：{}（生效的参数即标准输出中的 JSON）")):
        params = write_params(tmp_path, lang, lang=lang)
        done = run_segkit("check", "--params", str(params))
        assert done.returncode == 0, done.stderr
        assert done.stderr.strip() == said.format(params)
        assert json.loads(done.stdout)["lang"] == lang


def test_init_ends_with_a_command_that_runs_where_segkit_is_not_on_the_path(tmp_path):
    """Trial 42: `segkit init` ended with "cd my-segments && segkit report ...", but segkit was only in
    .venv/bin (not activated): the command names the running segkit by its path unless PATH finds it."""
    import os
    import shlex
    import subprocess
    import sys
    from pathlib import Path

    segkit = Path(sys.executable).with_name("segkit")
    plain = {"PATH": "/usr/bin:/bin"}
    done = run_segkit("init", str(tmp_path / "a b"), env=plain)
    ready = done.stderr.strip().splitlines()[-1]
    assert ready == f"ready: cd {shlex.quote(str(tmp_path / 'a b'))} && {segkit} report --params params/demo.yaml"
    command = ready.removeprefix("ready: ").replace(" report --params params/demo.yaml", " version")
    assert subprocess.run(command, shell=True, env={**os.environ, **plain}, capture_output=True).returncode == 0
    on_path = run_segkit("init", str(tmp_path / "c"), env={"PATH": f"{segkit.parent}:/usr/bin:/bin"})
    assert on_path.stderr.strip().splitlines()[-1] == f"ready: cd {tmp_path / 'c'} && segkit report --params params/demo.yaml"
    zh = run_segkit("init", str(tmp_path / "d"), env={**plain, "LANG": "zh_CN.UTF-8", "LANGUAGE": None, "LC_ALL": None})
    assert zh.stderr.strip().splitlines()[-1].startswith("就绪：cd ") and "已写入 " in zh.stderr, zh.stderr
