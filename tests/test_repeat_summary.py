import datetime as dt
import json
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import pytest

from segkit.datasets import load_cdnow
from segkit.errors import DataError, ParamsError
from segkit.intake.sources import connect
from segkit.models.repeat_summary import repeat_summaries, repeat_summary

REFERENCE = json.loads((Path(__file__).parent / "reference" / "cdnow.json").read_text())
CAL, OBS = dt.date(1997, 9, 30), dt.date(1998, 6, 30)


def tx_frame(rows):
    return pd.DataFrame(rows, columns=["customer_id", "ordered_at", "amount"]).assign(
        ordered_at=lambda f: pd.to_datetime(f["ordered_at"]))


@pytest.fixture(scope="module")
def small():
    # calibration ends 2024-01-29 (end of that day), observation 2024-03-04
    return tx_frame([
        ("A", "2024-01-01 09:00", 10.0),
        ("A", "2024-01-01 18:00", 5.0),     # same day as the first: one purchase occasion
        ("A", "2024-01-15 12:00", 20.0),    # repeat 1
        ("A", "2024-01-29 23:59", 30.0),    # repeat 2, on calibration_end: calibration
        ("A", "2024-01-30 00:00", 99.0),    # holdout 1
        ("A", "2024-03-04 20:00", 1.0),     # holdout 2, on observation_end
        ("A", "2024-03-05 00:00", 1000.0),  # after observation_end: ignored
        ("B", "2024-01-08 10:00", 7.0),     # one purchase
        ("C", "2024-01-30 10:00", 3.0),     # first seen after calibration: excluded, counted
        ("C", "2024-02-10 10:00", 3.0),
    ])


def test_hand_computed_summary_in_weeks_and_days(small):
    s = repeat_summary(connect(), small, dt.date(2024, 1, 29), dt.date(2024, 3, 4)).set_index("customer_id")
    assert list(s.index) == ["A", "B"]
    assert s.attrs["customers_first_seen_after_calibration"] == 1
    a, b = s.loc["A"], s.loc["B"]
    assert a["x"] == 2 and a["t_x"] == pytest.approx(28 / 7) and a["T"] == pytest.approx(28 / 7)
    assert a["mean_repeat_spend"] == pytest.approx(25.0)  # (20 + 30) / 2; the first day's 15 is left out
    assert a["x_holdout"] == 2 and a["holdout_length"] == pytest.approx(35 / 7)
    assert b["x"] == 0 and b["t_x"] == 0 and b["T"] == pytest.approx(21 / 7) and b["mean_repeat_spend"] == 0
    assert b["x_holdout"] == 0
    days = repeat_summary(connect(), small, dt.date(2024, 1, 29), dt.date(2024, 3, 4), time_unit="days")
    assert days.set_index("customer_id").loc["A", ["t_x", "T", "holdout_length"]].tolist() == [28, 28, 35]
    assert days.attrs["time_unit"] == "days"
    months = repeat_summary(connect(), small, dt.date(2024, 1, 29), time_unit="months")
    assert months.set_index("customer_id").loc["A", "T"] == pytest.approx(28 / (365.25 / 12))
    assert "x_holdout" not in months.columns


def test_without_observation_end_later_rows_do_not_count_in_calibration(small):
    s = repeat_summary(connect(), small, dt.date(2024, 1, 29)).set_index("customer_id")
    assert s.loc["A", "x"] == 2 and s.loc["A", "mean_repeat_spend"] == pytest.approx(25.0)


def test_row_order_does_not_change_the_summary(small):
    base = repeat_summary(connect(), small, dt.date(2024, 1, 29), dt.date(2024, 3, 4))
    for seed in range(3):
        shuffled = small.sample(frac=1, random_state=seed).reset_index(drop=True)
        pd.testing.assert_frame_equal(repeat_summary(connect(), shuffled, dt.date(2024, 1, 29), dt.date(2024, 3, 4)),
                                      base)


def test_input_is_not_mutated(small):
    before = small.copy()
    repeat_summary(connect(), small, dt.date(2024, 1, 29), dt.date(2024, 3, 4))
    pd.testing.assert_frame_equal(small, before)


def test_engine_table_gives_the_same_summary(small):
    con = connect()
    table = con.create_table("tx", small)
    pd.testing.assert_frame_equal(repeat_summary(con, table, dt.date(2024, 1, 29), dt.date(2024, 3, 4)),
                                  repeat_summary(con, small, dt.date(2024, 1, 29), dt.date(2024, 3, 4)))
    assert isinstance(table, ibis.Table)


def test_cdnow_sample_matches_the_reference_counts():
    counts = REFERENCE["cdnow_sample"]["counts"]
    s = repeat_summary(connect(), load_cdnow(sample=True), CAL, OBS)
    assert len(s) == counts["customers"] == 2357
    assert s["x"].sum() == counts["repeat_transactions_calibration_wk1_39"] == 2457
    assert s["x_holdout"].sum() == counts["repeat_transactions_holdout_wk40_78"] == 1882
    assert (s["x"] > 0).sum() == counts["customers_with_repeat_in_calibration"] == 946
    assert (s["x"] == 0).sum() == counts["customers_with_zero_repeat_in_calibration"]
    assert round(s["T"].max(), 2) == counts["max_T"]
    assert (s["holdout_length"] == 39).all()  # weeks 40-78
    # every purchase day is in exactly one period or is a first purchase
    assert s["x"].sum() + s["x_holdout"].sum() + len(s) == counts["customer_days"]


def test_cdnow_master_calibration_and_holdout_in_days():
    ref = REFERENCE["cdnow_master"]["calibration_holdout_daily_lifetimes"]
    s = repeat_summary(connect(), load_cdnow(), CAL, OBS, time_unit="days")
    assert s["x"].sum() == ref["frequency_cal_sum"]
    assert s["x_holdout"].sum() == ref["frequency_holdout_sum"]
    assert (s["holdout_length"] == ref["holdout_days"]).all()


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(time_unit="fortnights"), ParamsError, "time_unit must be one of days, weeks, months"),
    (dict(observation_end=dt.date(2024, 1, 29)), ParamsError, "observation_end (2024-01-29) must be after"),
    (dict(calibration_end="29/01/2024"), ParamsError, "calibration_end must be a date"),
    (dict(calibration_end=dt.date(2023, 12, 31)), DataError, "no customer bought on or before"),
])
def test_refusals(small, kwargs, error, words):
    args = dict(calibration_end=dt.date(2024, 1, 29)) | kwargs
    with pytest.raises(error, match=None) as info:
        repeat_summary(connect(), small, **args)
    assert words in str(info.value)


def test_missing_column_is_named(small):
    with pytest.raises(DataError, match="lack column.*amount"):
        repeat_summary(connect(), small.drop(columns="amount"), dt.date(2024, 1, 29))


@pytest.mark.parametrize("as_of, calibration_end", [
    (dt.date(2024, 3, 4), dt.date(2024, 1, 29)),   # rows after as_of; C first seen in the holdout
    (dt.date(2024, 2, 5), dt.date(2024, 1, 7)),    # B and C first seen after calibration_end, C after as_of
    (dt.date(2024, 3, 10), None),                  # no holdout summary asked for
    (dt.date(2024, 1, 20), dt.date(2023, 12, 31)), # nobody bought by calibration_end: no holdout summary
])
def test_both_summaries_from_one_reading_equal_the_two_calls(small, as_of, calibration_end):
    con = connect()
    exact = ibis.memtable(small).mutate(amount=ibis._.amount.cast("decimal(18, 2)"))  # as the engine keeps them
    for transactions in (small, ibis.memtable(small), exact):
        whole, holdout = repeat_summaries(con, transactions, as_of, calibration_end, time_unit="days")
        expected = repeat_summary(con, transactions, as_of, time_unit="days")
        pd.testing.assert_frame_equal(whole, expected)
        assert whole.attrs == expected.attrs
        if calibration_end is None or calibration_end < dt.date(2024, 1, 1):
            assert holdout is None
            continue
        expected = repeat_summary(con, transactions, calibration_end, as_of, time_unit="days")
        pd.testing.assert_frame_equal(holdout, expected)
        assert holdout.attrs == expected.attrs


def test_both_summaries_refuse_what_the_summary_refuses(small):
    with pytest.raises(ParamsError, match="must be after calibration_end"):
        repeat_summaries(connect(), small, dt.date(2024, 1, 29), dt.date(2024, 1, 29))
    with pytest.raises(ParamsError, match="time_unit must be one of"):
        repeat_summaries(connect(), small, dt.date(2024, 1, 29), time_unit="fortnights")
    with pytest.raises(DataError, match="no customer bought on or before"):
        repeat_summaries(connect(), small, dt.date(2023, 12, 1))
