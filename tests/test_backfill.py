"""segkit backfill: a year of months written into the history, each as it stood at its month's end."""

import datetime as dt

import pandas as pd
import pytest

from conftest import run_segkit, write_params
from segkit.errors import ParamsError
from segkit.intake.cleaning import clean_transactions
from segkit.intake.sources import load_source
from segkit.monthly.backfill import backfill, month_ends
from segkit.monthly.history import history_path, read_history
from segkit.params import load_params


def test_month_ends_run_from_the_first_to_the_last_month():
    assert month_ends("2024-11", "2025-02") == [dt.date(2024, 11, 30), dt.date(2024, 12, 31), dt.date(2025, 1, 31),
                                               dt.date(2025, 2, 28)]
    assert month_ends("2024-02", "2024-02") == [dt.date(2024, 2, 29)]
    with pytest.raises(ParamsError, match="after --to"):
        month_ends("2025-03", "2025-01")
    with pytest.raises(ParamsError, match="is not a month"):
        month_ends("2025-13", "2025-12")


@pytest.fixture(scope="module")
def year(tmp_path_factory):
    folder = tmp_path_factory.mktemp("backfill")
    params = write_params(folder, "tiny")
    written = backfill(params, "2024-01", "2024-12", folder / "reports")
    return params, folder, written


def test_twelve_months_give_a_kpi_series_whose_revenue_is_each_months_own(year):
    params_path, folder, written = year
    assert [m.as_of for m in written] == month_ends("2024-01", "2024-12")
    history = read_history(history_path(folder / "reports"), "tiny")
    kpis = history["kpis"].pivot(index="month", columns="name", values="value")
    assert len(kpis) == 12 and (kpis["customers"].diff().dropna() >= 0).all()  # customers only accumulate
    # each month's revenue: the clean transactions of that month, as cleaning saw them at its end
    p = load_params(params_path)
    intake = load_source(p.source, params_path)
    for as_of in month_ends("2024-01", "2024-12"):
        clean = clean_transactions(None, intake.transactions, as_of=as_of, rules=p.cleaning).clean
        in_month = clean[pd.to_datetime(clean["ordered_at"]).dt.to_period("M") == pd.Period(as_of, "M")]
        month = pd.Timestamp(as_of.replace(day=1))
        assert kpis.loc[month, "month_revenue"] == pytest.approx(in_month["amount"].sum(), abs=0.01)
        assert kpis.loc[month, "month_active_customers"] == in_month["customer_id"].nunique()
    assignments = history["assignments"]
    assert assignments.groupby("month").size().tolist() == [m.customers for m in written]
    assert assignments["segment"].notna().all() and assignments["rfm_class"].notna().all()
    # the index's class figures, as a report writes them for its month: counted from each month's classes
    from segkit.classify.value import top_share

    for month, classes in assignments.groupby("month"):
        assert kpis.loc[month, "valuable"] == classes["segment"].isin(["champions", "loyal"]).sum()
        assert kpis.loc[month, "at_risk"] == classes["segment"].isin(["at_risk", "cant_lose"]).sum()
        assert kpis.loc[month, "top_share"] == pytest.approx(top_share(classes["revenue"].astype(float), 0.2))
    assert kpis["valuable"].gt(0).any() and kpis["at_risk"].gt(0).any()


def test_a_from_month_after_the_default_to_says_what_to_defaulted_to(tmp_path, monkeypatch):
    """Trial 42: `--from 2027-01` without --to said "--from 2027-01 is after --to 2026-11", a --to
    the user never gave: the message says that --to is by default the last month that ended. The
    run's clock is set (`segkit.intake.clock.today`, the one clock of `--to last` and `--month last`),
    and the months expected follow from that date, not from the code under test."""
    from typer.testing import CliRunner

    import segkit.intake.clock as clock
    from segkit.cli import app

    monkeypatch.setattr(clock, "today", lambda: dt.date(2031, 3, 10))
    last, later = "2031-02", "2031-03"  # the month before the clock's, and the month under way
    params = write_params(tmp_path, "tiny")
    for to in ((), ("--to", "last")):
        done = CliRunner().invoke(app, ["backfill", "--params", str(params), "--from", later, *to,
                                        "--out", str(tmp_path / "r")])
        assert done.exit_code == 2, done.output
        assert " ".join(done.output.split()) == (f"error: --from {later} is after --to, which is the last month that "
                                                 f"ended ({last}) unless given: give --from up to {last}"), done.output
    zh = write_params(tmp_path, "zh", lang="zh")
    done = CliRunner().invoke(app, ["backfill", "--params", str(zh), "--from", later, "--out", str(tmp_path / "r")])
    assert f"不给 --to 时，它就是最近结束的月份（{last}）" in " ".join(done.output.split()), done.output
    assert not (tmp_path / "r").exists()


def test_the_command_line_says_each_month_and_refuses_what_it_cannot_do(year, tmp_path):
    params_path, _, _ = year
    done = run_segkit("backfill", "--params", str(params_path), "--from", "2024-11", "--to", "2024-12",
                      "--out", str(tmp_path / "reports"))
    assert done.returncode == 0, done.stderr
    assert "[1/2] 2024-11" in done.stderr and "done: 2 months written in" in done.stderr
    assert done.stdout.strip() == str(history_path(tmp_path / "reports"))
    backwards = run_segkit("backfill", "--params", str(params_path), "--from", "2024-12", "--to", "2024-01")
    assert backwards.returncode == 2 and "is after --to" in backwards.stderr and "Traceback" not in backwards.stderr
    # without --to: up to the month that ended most recently; the months after the data are skipped, and said
    open_ended = run_segkit("backfill", "--params", str(params_path), "--from", "2024-12", "--out", str(tmp_path / "r2"))
    assert open_ended.returncode == 0, open_ended.stderr
    assert "[1/" in open_ended.stderr and "done: 1 month written in" in open_ended.stderr
    assert "skipped: the data end on 2024-12-31, before this month" in open_ended.stderr


def test_the_rows_are_read_once_for_every_month(year, tmp_path, monkeypatch):
    """A backfill parses the export's text once, not once a month (4.3 of 6.9 s a month at 1M lines),
    and finds the same months as the per-month cleaning above."""
    import segkit.intake.cleaning as cleaning

    params_path, folder, year_written = year
    calls = []
    real = cleaning.prepare
    monkeypatch.setattr(cleaning, "prepare", lambda *a, **k: calls.append(1) or real(*a, **k))
    lines = []
    written = backfill(params_path, "2024-10", "2024-12", tmp_path / "reports", progress=lines.append)
    assert len(calls) == 1
    assert lines[0].startswith("read ") and "3 months to classify" in lines[0]
    again = read_history(history_path(tmp_path / "reports"), "tiny")["kpis"]
    before = read_history(history_path(folder / "reports"), "tiny")["kpis"]
    before = before[before["month"] >= pd.Timestamp("2024-10-01")]
    assert [m.customers for m in written] == [m.customers for m in year_written[-3:]]
    pd.testing.assert_frame_equal(again.drop(columns=[c for c in again.columns if c not in ("month", "name", "value")])
                                  .sort_values(["month", "name"]).reset_index(drop=True),
                                  before.drop(columns=[c for c in before.columns if c not in ("month", "name", "value")])
                                  .sort_values(["month", "name"]).reset_index(drop=True))


def test_no_months_judged_rows_stay_in_the_engine(year, tmp_path, monkeypatch):
    """Each month's judged rows (a table as large as the input) leave the engine once the month is
    written, skipped before the data or after them: memory no longer grows with the months."""
    import segkit.intake.cleaning as cleaning

    params_path, _, _ = year
    prepared = []
    real = cleaning.prepare_input
    monkeypatch.setattr(cleaning, "prepare_input", lambda *a, **k: prepared.append(real(*a, **k)) or prepared[-1])
    written = backfill(params_path, "2023-11", "2025-03", tmp_path / "reports")
    assert {m.skipped for m in written} >= {None, "before_data", "after_data"}
    assert len(prepared) == 1
    tables = [row[0] for row in prepared[0].con.raw_sql("SELECT table_name FROM duckdb_tables()").fetchall()]
    assert [name for name in tables if name.startswith("segkit_input")]  # the rows read once stay, for every month
    assert not [name for name in tables if name.startswith("segkit_judged")]


def test_a_backfill_past_the_params_as_of_says_once_which_months_replace_it(tmp_path):
    """`segkit report --month` says "--month M replaces as_of D of FILE"; a backfill whose months end after
    the params' as_of wrote them without a word. It says it once, naming those months."""
    from typer.testing import CliRunner

    from segkit.cli import app

    params = write_params(tmp_path, "tiny", as_of="2024-10-31")
    lines = []
    backfill(params, "2024-10", "2024-12", tmp_path / "reports", progress=lines.append)
    said = [line for line in lines if "replace" in line]
    assert said == ["the months 2024-11 to 2024-12 replace as_of 2024-10-31 of tiny.yaml "
                    "(each is classified as of its end)"]
    assert lines.index(said[0]) == 0  # before the work, as the report says it
    lines.clear()
    backfill(params, "2024-09", "2024-10", tmp_path / "reports", progress=lines.append)
    assert not [line for line in lines if "replace" in line]  # no month after as_of: nothing replaced
    zh = write_params(tmp_path, "zh", lang="zh", as_of="2024-11-30")
    done = CliRunner().invoke(app, ["backfill", "--params", str(zh), "--from", "2024-11", "--to", "2024-12",
                                    "--out", str(tmp_path / "r")])
    assert done.exit_code == 0, done.output
    assert "2024-12 取代 zh.yaml 中的 as_of 2024-11-30（该月按其月末分类）" in done.output
    assert done.output.count("取代") == 1


def notes_source(folder):
    """Three months of orders whose masked ids grow by one a month, and a customers file with a date no
    order reads: two cleaning notes, one whose words change with the month and one whose words do not."""
    rows = ["customer_id,order_id,ordered_at,amount"]
    for month in (1, 2, 3):
        rows += [f"C{c},O{month}-{c},2025-{month:02d}-{c + 10:02d},{10 + c}.00" for c in range(1, 9)]
        rows.append(f"138****{month}000,M{month},2025-{month:02d}-20,5.00")
    (folder / "tx.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (folder / "customers.csv").write_text("id,Signup Date\nC1,soon\nC2,2024-05-01\n", encoding="utf-8")
    path = folder / "notes.yaml"
    path.write_text("run_name: notes\nlang: en\nsource:\n  kind: file\n  transactions: {path: tx.csv}\n"
                    "  customers: {path: customers.csv, columns: {customer_id: id, signup_date: Signup Date}}\n",
                    encoding="utf-8")
    return path


def test_a_backfill_says_each_cleaning_note_once_with_the_months_it_applies_to(tmp_path):
    """`segkit report` prints 01's cleaning notes; a backfill printed none. Each note is said once for the
    range, not once a month: the same words with their months, words that changed in the last month's."""
    from typer.testing import CliRunner

    from segkit.cli import app

    lines = []
    backfill(notes_source(tmp_path), "2025-01", "2025-03", tmp_path / "reports", progress=lines.append)
    notes = [line for line in lines if line.startswith("note")]
    assert len(notes) == 2, lines
    masked = next(line for line in notes if "masked" in line)
    assert masked.startswith("note (2025-01 to 2025-03; in the words of 2025-03, counted to its end): "
                             "3 customer ids look masked")
    dates = next(line for line in notes if "Signup Date" in line)
    assert dates.startswith('note (2025-01 to 2025-03): 1 date in the column "Signup Date"')
    done = CliRunner().invoke(app, ["backfill", "--params", str(tmp_path / "notes.yaml"), "--from", "2025-01",
                                    "--to", "2025-03", "--out", str(tmp_path / "r"), "--set", "lang=zh"])
    assert done.exit_code == 0, done.output
    said = " ".join(done.output.split())
    assert said.count("注意（2025-01 至 2025-03") == 2 and "以下为 2025-03 的说明" in said
    assert "有 3 个客户编号看起来经过脱敏" in said


def test_note_lines_by_month_name_runs_of_months_and_leave_the_months_own_coverage_to_its_line():
    from segkit.monthly.backfill import note_lines_by_month

    months = [dt.date(2025, 1, 31), dt.date(2025, 2, 28), dt.date(2025, 4, 30)]
    note = {"key": "dimension_missing", "names": "region"}
    covered = {"key": "month_partly_covered", "month": "2025-04", "last": "2025-04-10", "as_of": "2025-04-30",
               "days": 20, "usual_gap": 3}
    lines = note_lines_by_month([(month, [note, covered]) for month in months], "en")
    assert len(lines) == 1 and lines[0].startswith("note (2025-01 to 2025-02, 2025-04): The params name the dimensions")
    assert note_lines_by_month([(months[0], [note])], "zh")[0].startswith("注意（2025-01）：参数中的维度 region")
    assert note_lines_by_month([], "en") == []
