"""docs/monthly.md: its cron line, its commands and its alert example hold for the shipped params."""

import datetime as dt
import re
import shlex

import typer.main
import yaml

from segkit.cli import app
from segkit.params import Params, load_params
from segkit.report.runner import resolve_month

from conftest import ROOT

TEXT = (ROOT / "docs" / "monthly.md").read_text(encoding="utf-8")


def commands() -> list[list[str]]:
    """Every `segkit ...` command the page shows (in code blocks and cron lines), as arguments."""
    found = []
    for line in TEXT.splitlines():
        if "segkit " in line and ("bin/segkit" in line or line.startswith("segkit ")):
            command = line.split("&&")[-1].split(">>")[0].strip()
            found.append(shlex.split(command)[1:])
    return found


def test_the_cron_line_is_five_fields_and_a_command_segkit_accepts():
    lines = [line for line in TEXT.splitlines() if re.match(r"^[\d*/,-]+ [\d*/,-]+ [\d*/,-]+ [\d*/,-]+ [\d*/,-]+ ", line)]
    assert len(lines) == 1
    minute, hour, day, month, weekday, *command = lines[0].split()
    assert (int(minute), int(hour), int(day), month, weekday) == (5, 6, 1, "*", "*")  # 06:05 on the 1st
    assert "%" not in lines[0]  # cron reads % as a newline: the line needs none
    assert "--month last" in lines[0]


def test_every_command_on_the_page_parses_with_the_shipped_params():
    click = typer.main.get_command(app)
    shown = commands()
    assert {args[0] for args in shown} >= {"report", "backfill", "run"}
    for args in shown:
        group = click.make_context("segkit", list(args))
        command = click.get_command(group, args[0])
        assert command is not None, args
        parsed = command.make_context(args[0], list(args[1:]), parent=group)  # an unknown option raises here
        assert parsed.params["params"].name.endswith(".yaml")
        params = args[args.index("--params") + 1]
        overrides = [args[i + 1] for i, a in enumerate(args) if a == "--set"]
        load_params(ROOT / params, overrides)  # the file exists and the overrides are valid


def test_last_month_is_the_month_that_ended_most_recently():
    assert resolve_month("last", dt.date(2026, 12, 1)) == "2026-11"
    assert resolve_month("last", dt.date(2027, 1, 1)) == "2026-12"
    assert resolve_month("LAST", dt.date(2026, 3, 31)) == "2026-02"
    assert resolve_month("2025-06") == "2025-06"


def test_the_alert_example_is_valid_and_is_what_the_monthly_params_ship():
    block = TEXT.split("```yaml\n", 1)[1].split("```", 1)[0]
    example = yaml.safe_load(block)
    assert Params.model_validate(example).alerts == load_params(ROOT / "params" / "monthly.yaml").alerts
