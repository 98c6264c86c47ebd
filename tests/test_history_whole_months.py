"""One rule of a whole month for the history, whichever command writes it: `segkit backfill` and
`segkit report` (its `_record_history`, on what its 01_cleaning saved) take the same data to the
same decision. A month is whole when the data reach its last day, or end no more days before it
than their longest gap between purchase days in the 91 days before (at least 3); otherwise it is
written only with --force, by both."""

import datetime as dt

import pandas as pd
import pytest

from conftest import run_segkit
from segkit.monthly.backfill import backfill
from segkit.monthly.history import MonthCoverage, history_path, month_coverage, read_history


def shop(folder, first: str, last: str, freq: str = "D"):
    """A file source whose purchases fall on each day (`freq`) from `first` to `last`, three a day."""
    days = list(pd.date_range(first, last, freq=freq)) * 3
    lines = "".join(f"C{i % 7},{day:%Y-%m-%d},{10 + i % 5}\n" for i, day in enumerate(days))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "orders.csv").write_text("cust,day,total\n" + lines, encoding="utf-8")
    path = folder / "shop.yaml"
    path.write_text("run_name: shop\nsource:\n  kind: file\n  transactions:\n    path: orders.csv\n    columns: "
                    "{customer_id: cust, ordered_at: day, amount: total}\n", encoding="utf-8")
    return path


def reported(params, folder, force: bool = False, keep_coverage: bool = True):
    """What a plain `segkit report` (no as_of, no --month: the data's last date) does with the history:
    01_cleaning's clean_and_save and its run.json `month_coverage` (as the notebook saves it), a profile
    as 02_rfm leaves one, then `_record_history`. Returns (its reason or None, what it said);
    `keep_coverage=False`: a run whose 01_cleaning did not save the coverage (judged from its files)."""
    from segkit.intake.cleaning import clean_and_save
    from segkit.intake.sources import load_source
    from segkit.params import load_params
    from segkit.report.runner import _record_history
    from segkit.store import save_run_info, save_stage

    p = load_params(params)
    data = folder / "run" / "data"
    result = clean_and_save(load_source(p.source, params), data, as_of=p.as_of_date, rules=p.cleaning,
                            period_start=p.period_start)
    if keep_coverage:
        save_run_info(data, month_coverage=month_coverage(result.table, result.ledger, result.as_of).as_json())
    save_stage(data, profile=pd.DataFrame({"customer_id": [f"C{i}" for i in range(7)], "segment": "champions",
                                           "revenue": 10.0, "orders": 3}))
    said = []
    return _record_history(folder / "reports", p, data, {}, said.append, run="shop", force=force), said


def backfilled(params, folder, force: bool = False):
    """The month 2025-12 through `segkit backfill`: (its reason or None, its line)."""
    said = []
    try:
        month, = backfill(params, "2025-12", "2025-12", folder / "reports", force=force, progress=said.append)
    except Exception as error:  # the only month not written: the command fails, saying why
        return str(error), said
    return (month.why or None), said


def months_in_history(folder):
    return [f"{m:%Y-%m}" for m in pd.to_datetime(read_history(history_path(folder / "reports"), "shop")["runs"]
                                                  ["month"])]


@pytest.mark.parametrize("keep_coverage", [True, False], ids=["run.json", "files"])
def test_data_ending_a_day_before_the_month_end_of_a_daily_shop_are_a_whole_month_for_both(tmp_path,
                                                                                            keep_coverage):
    params = shop(tmp_path / "a", "2025-09-01", "2025-12-30")
    report_reason, _ = reported(params, tmp_path / "report", keep_coverage=keep_coverage)
    backfill_reason, _ = backfilled(params, tmp_path / "backfill")
    assert report_reason is None and backfill_reason is None
    assert months_in_history(tmp_path / "report") == months_in_history(tmp_path / "backfill") == ["2025-12"]


@pytest.mark.parametrize("keep_coverage", [True, False], ids=["run.json", "files"])
def test_data_ending_ten_days_early_in_a_daily_shop_are_part_of_a_month_for_both(tmp_path, keep_coverage):
    params = shop(tmp_path / "b", "2025-09-01", "2025-12-21")
    report_reason, report_said = reported(params, tmp_path / "report", keep_coverage=keep_coverage)
    backfill_reason, backfill_said = backfilled(params, tmp_path / "backfill")
    rule = ("the data end on 2025-12-21, 10 days before the end of 2025-12, more than their longest gap between "
            "purchase days in the 91 days before (3 days, at least 3)")
    assert report_reason == rule
    assert f"skipped: {rule}: its figures would cover part of it; --force writes it" in backfill_reason
    assert report_said[-1] == (f"history: not updated: {rule}: its figures may cover only part of the month, and "
                               "the history keeps whole months; run again once its data are complete, or add "
                               "--force to write it as it is")
    assert backfill_said[-1] == f"[1/1] 2025-12: skipped: {rule}: its figures would cover part of it; --force writes it"
    assert not history_path(tmp_path / "report" / "reports").exists()
    assert not history_path(tmp_path / "backfill" / "reports").exists()


def test_force_writes_a_month_the_data_reach_in_part_through_both(tmp_path):
    params = shop(tmp_path / "c", "2025-09-01", "2025-12-21")
    assert reported(params, tmp_path / "report", force=True)[0] is None
    assert backfilled(params, tmp_path / "backfill", force=True)[0] is None
    assert months_in_history(tmp_path / "report") == months_in_history(tmp_path / "backfill") == ["2025-12"]


def test_a_shop_with_a_sale_every_week_ends_its_month_days_early_and_the_month_is_whole_for_both(tmp_path):
    params = shop(tmp_path / "w", "2025-09-03", "2025-12-24", freq="7D")  # the 24th: 7 days before the end
    assert reported(params, tmp_path / "report")[0] is None
    assert backfilled(params, tmp_path / "backfill")[0] is None


def test_the_rule():
    end = dt.date(2025, 12, 31)
    assert MonthCoverage(end, None, 3).whole  # the data go on after the month's end
    assert MonthCoverage(end, end, 3).whole
    assert MonthCoverage(end, dt.date(2025, 12, 28), 3).whole and not MonthCoverage(end, dt.date(2025, 12, 27), 3).whole
    assert MonthCoverage(dt.date(2025, 12, 30), dt.date(2025, 12, 30), 3).whole  # a plain run, data to the 30th
    assert MonthCoverage(end, dt.date(2025, 12, 21), 10).whole  # a shop that sells every ten days or so
    assert not MonthCoverage(dt.date(2025, 12, 30), None, 3).whole  # an as_of mid-month, the data go on
    assert MonthCoverage(dt.date(2025, 12, 30), None, 3).reason().startswith(
        "the run counts up to its as-of date 2025-12-30, 1 day before the end of 2025-12")


@pytest.mark.slow
def test_a_plain_report_and_a_backfill_write_a_month_that_ends_on_a_quiet_last_day(tmp_path):
    """The user's case: data of a daily shop that end on 2025-12-30. A plain `segkit report` recorded
    nothing (not the month's last day), `segkit backfill` wrote the month."""
    params = shop(tmp_path, "2025-06-01", "2025-12-30")
    done = run_segkit("report", "--params", str(params), "--no-pdf", "--out", str(tmp_path / "reports"))
    assert done.returncode == 0, done.stderr
    assert "history: 7 customers of shop for 2025-12 in" in done.stderr, done.stderr
    assert months_in_history(tmp_path) == ["2025-12"]
    runs = read_history(history_path(tmp_path / "reports"), "shop")["runs"]
    assert runs["made_by"].tolist() == ["report"]
    done = run_segkit("backfill", "--params", str(params), "--from", "2025-11", "--to", "2025-12", "--out",
                      str(tmp_path / "reports"))
    assert done.returncode == 0, done.stderr
    assert "[2/2] 2025-12: kept: a report of shop wrote this month" in done.stderr
    assert months_in_history(tmp_path) == ["2025-11", "2025-12"]


def test_06_and_08_say_before_the_changes_that_a_partial_month_reads_low(tmp_path):
    """Data ending on the 14th of the month reported: the changes and alerts of 06 and 08 (a retention
    alert fired on half a month) come after a caveat, in both languages; a whole month has none."""
    from segkit.report.html import say_each
    from segkit.report.tables import partial_month_caveat
    from segkit.store import save_run_info

    save_run_info(tmp_path, as_of=dt.date(2026, 1, 31), cleaning_notes=[])
    assert partial_month_caveat(tmp_path) == []
    note = {"key": "month_partly_covered", "month": "2026-01", "last": "2026-01-14", "as_of": "2026-01-31",
            "days": 17, "usual_gap": 3}
    save_run_info(tmp_path, cleaning_notes=[note])
    caveat = partial_month_caveat(tmp_path)
    english = say_each(caveat, "en").markup
    assert "This month's data end on 2026-01-14, 17 days before its end (2026-01-31)" in english
    assert "the alerts count only part of it" in english
    assert "本月数据截至 2026-01-14，比月末（2026-01-31）早 17 天" in say_each(caveat, "zh").markup


def test_a_month_refused_again_says_its_report_covered_part_of_it(tmp_path):
    from segkit.report.runner import _partly
    from segkit.store import save_run_info

    folder = tmp_path / "shop-2026-01"
    save_run_info(folder / "data", as_of=dt.date(2026, 1, 31), cleaning_notes=[])
    assert _partly(folder) == ""
    save_run_info(folder / "data", cleaning_notes=[{"key": "month_partly_covered", "last": "2026-01-14", "days": 17,
                                                    "as_of": "2026-01-31", "month": "2026-01", "usual_gap": 3}])
    assert _partly(folder) == (", whose data ended on 2026-01-14, 17 days before the month's end (part of the month, "
                               "not in the history)")
    assert _partly(tmp_path / "none") == ""


def test_a_month_not_ended_by_todays_clock_is_never_whole(monkeypatch):
    """Run on 2026-12-05 with a test order dated 2026-12-20 (then the as-of date), the history took
    2026-12 as whole ("history: 6,072 customers of shop for 2026-12"). A month that has not ended by
    today's clock is never whole, whatever the data and the as-of date say (an as_of given at the
    month's end included); an ended month is judged as before."""
    import segkit.intake.clock as clock

    monkeypatch.setattr(clock, "today", lambda: dt.date(2026, 12, 5))
    for coverage in (MonthCoverage(dt.date(2026, 12, 20), None, 3), MonthCoverage(dt.date(2026, 12, 31), None, 3),
                     MonthCoverage(dt.date(2026, 12, 31), dt.date(2026, 12, 31), 3)):
        assert not coverage.whole
        assert coverage.reason() == "2026-12 has not ended yet: today is 2026-12-05, its last day 2026-12-31"
    assert MonthCoverage(dt.date(2026, 11, 30), None, 3).whole
    # the clock as a field: the same month once it has ended
    assert MonthCoverage(dt.date(2026, 12, 31), None, 3, today=dt.date(2027, 1, 1)).whole
    assert not MonthCoverage(dt.date(2026, 12, 31), None, 3, today=dt.date(2026, 12, 30)).whole


def test_a_month_ends_with_a_day_of_slack_for_the_shops_time_zone():
    """A cron job at 06:05 on 2027-01-01 in Beijing runs at 22:05 UTC on 2026-12-31 on a server in UTC:
    the month just ended was refused ("2026-12 has not ended yet: today is 2026-12-31"). The machine's
    date plus a day is past the month's end: ended, wherever the shop is; two days before, not."""
    for today, ended in ((dt.date(2026, 12, 31), True), (dt.date(2026, 12, 30), False), (dt.date(2027, 1, 1), True)):
        coverage = MonthCoverage(dt.date(2026, 12, 31), dt.date(2026, 12, 31), 3, today=today)
        assert coverage.ended == ended and coverage.whole == ended, today


def test_a_month_under_way_is_left_to_a_run_after_its_end_by_both(tmp_path, monkeypatch):
    """The advice for a month not ended was "run with --month 2025-12 for the whole month", which a
    month under way cannot be: both commands say to run again after its end, and say it in Chinese."""
    import segkit.intake.clock as clock
    from segkit.i18n import terminal_text

    monkeypatch.setattr(clock, "today", lambda: dt.date(2025, 12, 20))
    params = shop(tmp_path / "d", "2025-09-01", "2025-12-20")
    report_reason, report_said = reported(params, tmp_path / "report")
    backfill_reason, backfill_said = backfilled(params, tmp_path / "backfill")
    rule = "2025-12 has not ended yet: today is 2025-12-20, its last day 2025-12-31"
    assert report_reason == rule
    assert report_said[-1] == (f"history: not updated: {rule}: its figures may cover only part of the month, and "
                               "the history keeps whole months; run again after its end (2025-12-31), or add "
                               "--force to write it as it is")
    assert backfill_said[-1] == (f"[1/1] 2025-12: skipped: {rule}: its figures would cover part of it; run again "
                                 "after its end (2025-12-31), or --force writes it")
    assert rule in backfill_reason
    assert terminal_text(report_said[-1], "zh") == (
        "历史记录未更新：2025-12 月尚未结束：今天是 2025-12-20，该月最后一天是 2025-12-31：本月数字可能只覆盖部分月份，"
        "而历史记录只保存完整的月份；请在月末（2025-12-31）过后重新运行，或加上 --force 按现状写入")
    assert terminal_text(backfill_said[-1], "zh") == (
        "[1/1] 2025-12：跳过：2025-12 月尚未结束：今天是 2025-12-20，该月最后一天是 2025-12-31：该月数字只覆盖部分天数；"
        "请在月末（2025-12-31）过后重新运行，或用 --force 仍然写入")
    assert not history_path(tmp_path / "report" / "reports").exists()
    assert not history_path(tmp_path / "backfill" / "reports").exists()


def test_rows_dated_on_the_machines_tomorrow_are_a_shops_today(monkeypatch):
    """On a server in UTC (2025-12-31, 22:05) a Beijing shop's orders of 2026-01-01 06:00 were set aside
    as dated in the future. A date is in the future only after the machine's today plus a day."""
    import segkit.intake.clock as clock
    from segkit.intake.cleaning import clean_transactions

    monkeypatch.setattr(clock, "today", lambda: dt.date(2025, 12, 31))
    rows = pd.DataFrame({"source_row": [2, 3, 4, 5], "customer_id": ["A", "B", "C", "D"],
                         "amount": [10.0, 12.0, 14.0, 16.0],
                         "ordered_at": pd.to_datetime(["2025-12-30 10:00", "2025-12-31 23:00", "2026-01-01 06:00",
                                                       "2026-01-02 06:00"])})
    result = clean_transactions(None, rows)
    assert sorted(result.clean["customer_id"]) == ["A", "B", "C"]
    assert result.quarantine["reason"].tolist() == ["future_date"]
    assert clock.latest_possible_date() == dt.date(2026, 1, 1)
