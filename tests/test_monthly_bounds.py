"""Months the data do not reach: a monthly run after the data end is refused with the data's last
date, a month before the data start says the first date, a backfill over such months writes the
months the data hold and says the others, and a month a whole report wrote is kept unless --force."""

import datetime as dt

import duckdb
import pandas as pd
import pytest

from conftest import run_segkit, write_params
from segkit.errors import DataError, ParamsError
from segkit.intake.sources import load_source
from segkit.intake.cleaning import MonthNotInData, NoCleanRows, clean_transactions
from segkit.monthly.backfill import backfill
from segkit.monthly.history import (classification_standards, history_path, months_made, read_history,
                                    standards_changed, write_month)
from segkit.params import load_params
from segkit.report.runner import resolve_month


def rows(dates: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"source_row": range(1, len(dates) + 1), "customer_id": [f"c{i % 3}" for i in range(len(dates))],
                         "ordered_at": dates, "amount": ["10.00"] * len(dates),
                         "order_id": [f"o{i}" for i in range(len(dates))]})


def test_a_month_after_the_data_end_is_refused_naming_the_last_date():
    data = rows(["2025-10-03", "2025-11-20", "2025-12-14"])
    with pytest.raises(MonthNotInData) as refused:
        clean_transactions(None, data, as_of=dt.date(2026, 3, 31), period_start=dt.date(2026, 3, 1))
    assert refused.value.last == dt.date(2025, 12, 14)
    assert "the data end on 2025-12-14, before the month 2026-03 starts" in str(refused.value)
    assert "up to 2025-12 with --month" in str(refused.value)
    # the data's last month itself, and a month partly covered, are reported
    assert len(clean_transactions(None, data, as_of=dt.date(2025, 12, 31), period_start=dt.date(2025, 12, 1)).clean) == 3


def test_a_month_without_purchases_inside_the_data_is_reported_but_a_typo_date_does_not_reach_it():
    gap = rows(["2025-10-03", "2025-10-20", "2025-12-14"])  # no purchase in November, the data go on
    result = clean_transactions(None, gap, as_of=dt.date(2025, 11, 30), period_start=dt.date(2025, 11, 1))
    assert len(result.clean) == 2
    # one row dated 2099 is a typo, not the data reaching March 2026
    many = rows([f"2025-{m:02d}-{d:02d}" for m in range(1, 13) for d in (3, 17)] * 60 + ["2099-01-01"])
    with pytest.raises(MonthNotInData, match="the data end on 2025-12-17"):
        clean_transactions(None, many, as_of=dt.date(2026, 3, 31), period_start=dt.date(2026, 3, 1))


def test_a_month_before_the_data_start_says_the_first_date():
    with pytest.raises(NoCleanRows) as refused:
        clean_transactions(None, rows(["2024-01-05", "2024-02-11"]), as_of=dt.date(2023, 10, 31),
                           period_start=dt.date(2023, 10, 1))
    assert "the data start on 2024-01-05, after the as-of date 2023-10-31" in str(refused.value)


def test_month_values_are_checked_where_they_are_given():
    assert resolve_month("2024-11") == "2024-11"
    assert resolve_month("last", today=dt.date(2026, 1, 1)) == "2025-12"
    for bad in ("2024-00", "2024-13", "2024-1", "May"):
        with pytest.raises(ParamsError, match=r"--month .* is not a month: write it as YYYY-MM"):
            resolve_month(bad)


def test_a_month_that_has_not_started_is_refused_before_any_work(tmp_path):
    today = dt.date(2026, 12, 4)
    assert resolve_month("2026-12", today=today) == "2026-12"  # the month under way: its data may reach it
    for later in ("2027-01", "2030-01"):
        with pytest.raises(ParamsError, match=rf"--month {later} has not started yet \(today is 2026-12-04\): give a "
                                              r"month up to 2026-12"):
            resolve_month(later, today=today)
    # the command refuses before a notebook starts: no run folder, failed or not
    params = write_params(tmp_path, "tiny")
    done = run_segkit("report", "--params", str(params), "--month", "2999-01", "--out", str(tmp_path / "out"))
    assert done.returncode != 0 and "--month 2999-01 has not started yet" in done.stderr, done.stderr
    assert "01_cleaning" not in done.stdout + done.stderr and not list((tmp_path / "out").glob("*"))


def test_the_command_line_blames_month_not_set(tmp_path):
    params = write_params(tmp_path, "tiny")
    for command in (["report"], ["run", "02_rfm"]):
        done = run_segkit(*command, "--params", str(params), "--month", "2024-00", "--out" if command == ["report"]
                          else "--data-dir", str(tmp_path / "out"))
        assert done.returncode != 0 and "--month '2024-00' is not a month" in done.stderr, done.stderr
        assert "--set" not in done.stderr and "Traceback" not in done.stderr


@pytest.fixture(scope="module")
def edges(tmp_path_factory):
    """A backfill of the tiny demo (rows used from 2024-01 to 2024-12-31; a return dated 2025-01-04 is
    set aside) from two months before to three months after."""
    folder = tmp_path_factory.mktemp("edges")
    params = write_params(folder, "tiny")
    return params, folder, backfill(params, "2023-11", "2025-03", folder / "reports")


def test_a_backfill_writes_the_months_the_data_hold_and_says_the_others(edges):
    params, folder, months = edges
    written = [m.as_of.strftime("%Y-%m") for m in months if m.skipped is None]
    assert written == [f"2024-{m:02d}" for m in range(1, 13)]
    reasons = {m.as_of.strftime("%Y-%m"): m.skipped for m in months if m.skipped}
    assert reasons == {"2023-11": "before_data", "2023-12": "before_data", "2025-01": "after_data",
                       "2025-02": "after_data", "2025-03": "after_data"}
    first = clean_transactions(None, load_source(load_params(params).source, params).transactions).clean["ordered_at"].min()
    assert all(f"the data start on {first:%Y-%m-%d}, after this month" in m.why
               for m in months if m.skipped == "before_data")
    assert all("the data end on 2024-12-31" in m.why for m in months if m.skipped == "after_data")
    runs = read_history(history_path(folder / "reports"), "tiny")["runs"]
    assert len(runs) == 12 and set(runs["made_by"]) == {"backfill"}
    assert standards_changed(__import__("json").loads(runs["standards"].iloc[0]),
                             classification_standards(load_params(params))) == []


def test_a_backfill_with_no_month_in_the_data_fails_saying_why(edges, tmp_path):
    params, _, _ = edges
    with pytest.raises(DataError, match=r"no month from 2025-03 to 2025-04 was written \(skipped: the data end on 2024-12-31"):
        backfill(params, "2025-03", "2025-04", tmp_path / "reports")


def test_a_month_a_report_wrote_is_kept_unless_force(edges, tmp_path):
    params, _, _ = edges
    path = history_path(tmp_path / "reports")
    profile = pd.DataFrame({"customer_id": ["a", "b"], "segment": ["champions", "lost"], "cluster": [1, 2]})
    write_month(path, "tiny", dt.date(2024, 11, 30), profile, {"customers": 2.0, "silhouette": 0.4})
    months = backfill(params, "2024-10", "2024-11", tmp_path / "reports")
    assert [m.skipped for m in months] == [None, "report"] and "--force replaces it" in months[1].why
    kept = read_history(path, "tiny")
    assert sorted(kept["assignments"].loc[pd.to_datetime(kept["assignments"]["month"]) == "2024-11-01",
                                          "customer_id"]) == ["a", "b"]
    assert months_made(path, "tiny") == {dt.date(2024, 10, 1): "backfill", dt.date(2024, 11, 1): "report"}
    # only the report's month asked: kept, which is no failure (a cron job's exit code reads 0)
    assert [m.skipped for m in backfill(params, "2024-11", "2024-11", tmp_path / "reports")] == ["report"]
    done = run_segkit("backfill", "--params", str(params), "--from", "2024-11", "--to", "2024-11", "--force",
                      "--out", str(tmp_path / "reports"))
    assert done.returncode == 0, done.stderr
    assert "done: 1 month written in" in done.stderr
    assert months_made(path, "tiny")[dt.date(2024, 11, 1)] == "backfill"
    said = run_segkit("backfill", "--params", str(params), "--from", "2024-12", "--to", "2025-01",
                      "--out", str(tmp_path / "reports"))
    assert said.returncode == 0 and "2025-01: skipped: the data end on 2024-12-31, before this month" in said.stderr
    assert "1 month written in" in said.stderr and "(1 skipped, said above)" in said.stderr


def test_a_history_from_before_its_runs_said_who_wrote_them_is_read(tmp_path):
    path = tmp_path / "history.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE assignments (run_name VARCHAR, month DATE, customer_id VARCHAR, cluster INTEGER)")
    con.execute("CREATE TABLE runs (run_name VARCHAR, month DATE, as_of DATE, customers BIGINT)")
    con.execute("INSERT INTO runs VALUES ('m', '2024-01-01', '2024-01-31', 1), ('m', '2024-02-01', '2024-02-29', 1)")
    con.execute("INSERT INTO assignments VALUES ('m', '2024-01-01', 'a', 3), ('m', '2024-02-01', 'a', NULL)")
    con.close()
    assert months_made(path, "m") == {dt.date(2024, 1, 1): "report", dt.date(2024, 2, 1): "backfill"}


@pytest.mark.slow
def test_a_monthly_report_after_the_data_end_fails_in_one_message_naming_the_last_date(tmp_path):
    params = write_params(tmp_path, "tiny")
    done = run_segkit("report", "--params", str(params), "--month", "2025-03", "--no-pdf", "--out",
                      str(tmp_path / "reports"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "the data end on 2024-12-31, before the month 2025-03 starts" in done.stderr, done.stderr
    # segkit's own words, not the exception's name nor the cell (the executed notebook keeps those)
    said = " ".join(done.stderr.split())
    assert "error: demo: the data end" in said and "MonthNotInData" not in said and "in cell" not in said
    assert "executed notebook" not in said  # a refusal of the month asked, not a failed run: nothing kept
    assert not (tmp_path / "reports" / "tiny-2025-03").exists()
    assert not (tmp_path / "reports" / "tiny-2025-03.failed").exists()
    assert not [p for p in (tmp_path / "reports").iterdir() if "tmp" in p.name]
    assert not (tmp_path / "reports" / "history.duckdb").exists()


def fake_run(folder, as_of: str):
    """A finished run's data folder, as `record_run` reads it: run.json's as-of date and a profile."""
    from segkit.store import save_run_info, save_stage

    data = folder / "data"
    data.mkdir(parents=True)
    save_run_info(data, as_of=as_of)
    save_stage(data, profile=pd.DataFrame({"customer_id": ["a", "b"], "segment": ["champions", "lost"],
                                           "revenue": [10.0, 5.0], "orders": [2, 1]}))
    return data


def test_the_history_keeps_whole_months_and_another_reports_month_unless_force(tmp_path):
    from segkit.report.runner import _record_history

    params = load_params(write_params(tmp_path, "shop"))
    reports = tmp_path / "reports"
    said = []
    # a run counted to an as-of date mid-month: its month's figures would read as a fall, so it is not recorded
    reason = _record_history(reports, params, fake_run(tmp_path / "mid", "2024-06-15"), {}, said.append, run="shop")
    assert reason == ("the run counts up to its as-of date 2024-06-15, 15 days before the end of 2024-06, and the "
                      "data go on after it")
    assert "history: not updated" in said[-1] and "run with --month 2024-06 for the whole month" in said[-1]
    assert not history_path(reports).exists()
    # the monthly report shop-2024-06 wrote June; a plain run of shop (as_of 2024-06-30) does not replace it
    month_end = fake_run(tmp_path / "end", "2024-06-30")
    assert _record_history(reports, params, month_end, {}, said.append, run="shop-2024-06") is None
    reason = _record_history(reports, params, month_end, {}, said.append, run="shop")
    assert reason == "its month 2024-06 of shop is the report shop-2024-06's" and "add --force" in said[-1]
    assert read_history(history_path(reports), "shop")["runs"]["run"].tolist() == ["shop-2024-06"]
    assert _record_history(reports, params, month_end, {}, said.append, run="shop", force=True) is None
    assert read_history(history_path(reports), "shop")["runs"]["run"].tolist() == ["shop"]
    # the same report again (its folder's name) and a backfilled month are replaced as before
    assert _record_history(reports, params, month_end, {}, said.append, run="shop") is None


def test_an_empty_or_impossible_month_is_refused_at_the_command_line(tmp_path):
    params = write_params(tmp_path, "tiny")
    for month, words in (("", "--month is empty (in a cron line, is its variable set?)"),
                         ("0000-01", "--month '0000-01' is not a month")):
        done = run_segkit("report", "--params", str(params), "--month", month, "--out", str(tmp_path / "r"))
        assert done.returncode == 2 and words in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "r").exists()
    for first in ("2025-6", "0000-01"):
        done = run_segkit("backfill", "--params", str(params), "--from", first, "--to", "2025-07",
                          "--out", str(tmp_path / "r"))
        assert done.returncode == 2 and f"--from '{first}' is not a month" in done.stderr


def daily(first: str, last: str, weekdays_only: bool = False) -> list[str]:
    days = pd.date_range(first, last, freq="B" if weekdays_only else "D")
    return [f"{day:%Y-%m-%d}" for day in days] * 3


def test_a_feed_that_stops_mid_month_is_noted_and_a_typo_date_is_not_hidden_after_the_as_of_date():
    many = rows(daily("2025-01-01", "2025-06-15") + ["2099-01-01"])
    result = clean_transactions(None, many, as_of=dt.date(2025, 6, 30), period_start=dt.date(2025, 6, 1))
    note = [n for n in result.notes if n["key"] == "month_partly_covered"]
    assert note == [{"key": "month_partly_covered", "month": "2025-06", "last": "2025-06-15", "as_of": "2025-06-30",
                     "days": 15, "usual_gap": 3}]
    # the 2099 row is a typo, said as such, not one of "the rows after the as-of date"
    aside = result.quarantine.set_index("source_row")["reason"]
    assert aside[len(many)] == "implausible_future_date"
    assert "after_as_of" not in set(aside)
    # as_of is stated: the detail says that a later as_of reads it, not "state as_of" (English, Chinese)
    from segkit.i18n import detail_text

    detail = result.quarantine.set_index("source_row")["detail"][len(many)]
    assert detail.endswith("a typo? (an as_of on or after it reads it)") and "state as_of" not in detail
    assert detail_text(detail, "zh").endswith("as_of 设为该日或更晚即可读取）")
    unstated = clean_transactions(None, many).quarantine.set_index("source_row")["detail"][len(many)]
    assert unstated.endswith("(state as_of to use it)") and detail_text(unstated, "zh").endswith("请设置 as_of）")
    # the same with as_of at the month's end and no --month: the note, no refusal
    stated = clean_transactions(None, many, as_of=dt.date(2025, 6, 30))
    assert [n["key"] for n in stated.notes if n["key"] == "month_partly_covered"] == ["month_partly_covered"]
    # an earlier month of the same data: the rows after it are later months' (after_as_of), no note
    may = clean_transactions(None, many, as_of=dt.date(2025, 5, 31), period_start=dt.date(2025, 5, 1))
    assert not [n for n in may.notes if n["key"] == "month_partly_covered"]
    reasons = may.quarantine["reason"].value_counts().to_dict()
    assert reasons == {"after_as_of": 45, "implausible_future_date": 1}


def test_a_month_ending_on_days_without_sales_is_whole():
    """A shop closed at weekends ends March on Friday the 28th (the 31st, a Monday, quiet too); one
    with a sale every week or so ends a month days before its end: their rhythm, not a stopped feed."""
    weekdays = rows(daily("2025-01-01", "2025-03-28", weekdays_only=True))
    result = clean_transactions(None, weekdays, as_of=dt.date(2025, 3, 31), period_start=dt.date(2025, 3, 1))
    assert not [n for n in result.notes if n["key"] == "month_partly_covered"]
    weekly = rows([f"{day:%Y-%m-%d}" for day in pd.date_range("2025-01-02", "2025-03-24", freq="8D")])
    result = clean_transactions(None, weekly, as_of=dt.date(2025, 3, 31), period_start=dt.date(2025, 3, 1))
    assert result.clean["ordered_at"].max() < pd.Timestamp("2025-03-25")
    assert not [n for n in result.notes if n["key"] == "month_partly_covered"]


def test_a_month_the_data_cover_in_part_is_not_written_into_the_history(tmp_path):
    from segkit.report.runner import _record_history
    from segkit.store import save_run_info

    params = load_params(write_params(tmp_path, "shop"))
    data = fake_run(tmp_path / "june", "2025-06-30")
    save_run_info(data, cleaning_notes=[{"key": "month_partly_covered", "month": "2025-06", "last": "2025-06-15",
                                         "as_of": "2025-06-30", "days": 15, "usual_gap": 3}])
    said = []
    reason = _record_history(tmp_path / "reports", params, data, {}, said.append, run="shop-2025-06")
    assert reason == ("the data end on 2025-06-15, 15 days before the end of 2025-06, more than their longest gap "
                      "between purchase days in the 91 days before (3 days, at least 3)")
    assert "add --force to write it as it is" in said[-1]
    assert not history_path(tmp_path / "reports").exists()
    assert _record_history(tmp_path / "reports", params, data, {}, said.append, run="shop-2025-06", force=True) is None
    assert read_history(history_path(tmp_path / "reports"), "shop")["runs"]["run"].tolist() == ["shop-2025-06"]


def test_the_index_says_a_month_is_covered_in_part_in_both_languages():
    from segkit.report.pages import headline_caveats

    info = {"cleaning_notes": [{"key": "month_partly_covered", "month": "2025-06", "last": "2025-06-15",
                                "as_of": "2025-06-30", "days": 15, "usual_gap": 3}]}
    assert "The data end on 2025-06-15, 15 days before the end of 2025-06" in str(headline_caveats(info, "en"))
    assert "数据截至 2025-06-15，比 2025-06 月末（2025-06-30）早 15 天" in str(headline_caveats(info, "zh"))


def file_params(folder, text: str):
    (folder / "orders.csv").write_text(text, encoding="utf-8")
    path = folder / "shop.yaml"
    path.write_text("run_name: shop\nsource:\n  kind: file\n  transactions:\n    path: orders.csv\n    columns: "
                    "{customer_id: cust, ordered_at: day, amount: total}\n", encoding="utf-8")
    return path


def test_no_usable_row_in_a_backfilled_month_says_the_month_and_where_to_see_the_rows(tmp_path):
    params = file_params(tmp_path, "cust,day,total\n,2025-04-03,10\n,2025-04-09,5\nC1,2025-04-10,-3\n")
    with pytest.raises(DataError) as failed:
        backfill(params, "2025-04", "2025-04", tmp_path / "reports")
    message = str(failed.value)
    assert message.startswith("2025-04: all 3 rows were set aside (missing_customer_id: 2, non_positive_amount: 1)")
    assert f"run `segkit report --params {params} --month 2025-04` to see each row set aside" in message
    assert "see the quarantine" not in message


def test_a_file_with_only_its_header_names_the_file(tmp_path):
    from segkit.intake.cleaning import NoTransactions, clean_and_save

    params = file_params(tmp_path, "cust,day,total\n")
    intake = load_source(load_params(params).source, params)
    with pytest.raises(NoTransactions) as failed:
        clean_and_save(intake, tmp_path / "data")
    assert "orders.csv" in str(failed.value) and "there are no transactions" in str(failed.value)
    assert "a file with only its header?" in str(failed.value)


def test_a_month_before_the_data_gives_no_advice_to_fix_the_data():
    with pytest.raises(NoCleanRows) as refused:
        clean_transactions(None, rows(["2024-01-05", "2024-02-11"]), as_of=dt.date(2023, 10, 31))
    assert str(refused.value).startswith("all 2 rows are dated after the as-of date; the data start on 2024-01-05")
    assert "fix the source" not in str(refused.value)


def test_a_backfilled_month_the_data_reach_in_part_is_skipped_unless_force(tmp_path):
    lines = "".join(f"C{i % 7},{day},{10 + i % 5}\n" for i, day in enumerate(daily("2024-05-01", "2024-06-10")))
    params = file_params(tmp_path, "cust,day,total\n" + lines)
    months = backfill(params, "2024-05", "2024-06", tmp_path / "reports")
    assert [m.skipped for m in months] == [None, "partly"]
    assert "the data end on 2024-06-10, 20 days before the end of 2024-06, more than their longest gap" in months[1].why
    forced = backfill(params, "2024-06", "2024-06", tmp_path / "reports", force=True)
    assert [m.skipped for m in forced] == [None]


def test_an_as_of_months_after_the_data_is_said_not_a_partial_month():
    result = clean_transactions(None, rows(daily("2024-01-01", "2024-01-20")), as_of=dt.date(2024, 12, 31))
    note = next(n for n in result.notes if n["key"] in ("month_partly_covered", "month_not_covered"))
    assert note["key"] == "month_not_covered" and note["last"] == "2024-01-20"
    from segkit.i18n import t

    values = {k: v for k, v in note.items() if k != "key"}
    assert t("cleaning.note.month_not_covered", "en", **values).startswith(
        "The data end on 2024-01-20, before 2024-12 starts")


def test_a_month_counted_to_a_day_before_its_end_is_said_to_be_part_of_a_month():
    """A plain report on data that end on the 12th (no as_of, no --month) compares 12 days of this
    month with the whole month before: the note says so, on 01 and under the index's headline."""
    from segkit.report.pages import headline_caveats

    many = rows(daily("2025-12-01", "2026-01-12"))
    result = clean_transactions(None, many)
    note = [n for n in result.notes if n["key"] == "month_to_date"]
    assert note == [{"key": "month_to_date", "month": "2026-01", "as_of": "2026-01-12", "days": 12, "month_days": 31}]
    shown = headline_caveats({"cleaning_notes": note}, "en")
    assert "counted over 12 of its 31 days" in shown and "--month" in shown
    assert "只统计了 31 天中的 12 天" in headline_caveats({"cleaning_notes": note}, "zh")
    # a month's end (given, or the data's last day), and a --month run: whole months, no such note
    for whole in (clean_transactions(None, many, as_of=dt.date(2025, 12, 31)),
                  clean_transactions(None, rows(daily("2025-12-01", "2025-12-31"))),
                  clean_transactions(None, many, as_of=dt.date(2026, 1, 31), period_start=dt.date(2026, 1, 1))):
        assert not [n for n in whole.notes if n["key"] == "month_to_date"]
    early = clean_transactions(None, many, as_of=dt.date(2026, 1, 5)).notes
    assert [n["days"] for n in early if n["key"] == "month_to_date"] == [5]


def test_the_index_says_where_the_data_end_when_the_month_is_covered_in_part():
    from segkit.report.pages import data_up_to

    note = {"key": "month_partly_covered", "month": "2026-01", "last": "2026-01-12", "as_of": "2026-01-31",
            "days": 19, "usual_gap": 3}
    assert data_up_to({"as_of": dt.date(2026, 1, 31), "cleaning_notes": [note]}, "en") == \
        "Data up to 2026-01-31 (the data end on 2026-01-12)"
    assert data_up_to({"as_of": dt.date(2026, 1, 31), "cleaning_notes": [note]}, "zh") == \
        "数据截至 2026-01-31（实际数据止于 2026-01-12）"
    assert data_up_to({"as_of": dt.date(2025, 12, 31), "cleaning_notes": []}, "en") == "Data up to 2025-12-31"
    assert data_up_to({}, "en") == "Data up to —"
