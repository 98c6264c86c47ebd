"""The cohort, monthly-KPI and retention counts computed where the activity lies (an Ibis table: the
`activity` stage read in place, a database's or Spark's table) equal the counts of the same activity
as a pandas frame, on any activity: months with gaps, a customer listed twice in a month, customers
at a month start who never bought, a segment missing. Spark and PostgreSQL: tests/test_spark.py and
tests/test_postgres.py run the same expressions there."""

import datetime as dt
import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segkit.intake.sources import connect
from segkit.monthly.activity import cohort_table, monthly_activity, monthly_kpis, retention_by_segment
from segkit.monthly.shared import monthly_kpis_stage
from segkit.store import save_stage, stage_tables

MONTHS = [dt.date(2023, 11, 1), dt.date(2023, 12, 1), dt.date(2024, 1, 1), dt.date(2024, 2, 1),
          dt.date(2024, 4, 1)]  # no March: a month without purchases
_tables = itertools.count()

activity_rows = st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d", "e"]), st.sampled_from(MONTHS),
                                   st.integers(1, 3), st.integers(1, 99_999)), min_size=1, max_size=25)
member_rows = st.lists(st.tuples(st.sampled_from(MONTHS[1:]), st.sampled_from(["a", "b", "c", "f", None]),
                                 st.sampled_from(["x", "y", None])), min_size=1, max_size=20)


def activity_frame(rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["customer_id", "month", "orders", "cents"])
    # amounts of two decimals (as the clean rows' exact sums are), e.g. 123.45
    return frame.assign(revenue=frame.pop("cents") / 100)


def in_engine(con, frame: pd.DataFrame):
    return con.create_table(f"counts_{next(_tables)}", frame)


def same_cohorts(frame: pd.DataFrame, table) -> None:
    for measure in ("share_active", "customers", "revenue"):
        ours, theirs = cohort_table(table, measure), cohort_table(frame, measure)
        # the frame's pandas sum of floats against the engine's exact sum: equal to the last digits
        pd.testing.assert_frame_equal(ours, theirs, check_exact=measure != "revenue", rtol=1e-12, obj=measure)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(activity_rows, member_rows)
def test_counts_in_the_engine_equal_the_frames(rows, members):
    con = connect()
    frame = activity_frame(rows)
    table = in_engine(con, frame)
    same_cohorts(frame, table)
    pd.testing.assert_frame_equal(monthly_kpis(table), monthly_kpis(frame), check_exact=True)
    starts = pd.DataFrame(members, columns=["month", "customer_id", "segment"]).astype(
        {"customer_id": "string", "segment": "string"})  # typed: a column of None alone has no type in the engine
    ours = retention_by_segment(table, in_engine(con, starts))
    theirs = retention_by_segment(frame, starts).reset_index(drop=True)
    pd.testing.assert_frame_equal(ours, theirs, check_dtype=False, check_exact=True)


def test_a_case_counted_by_hand():
    # a: Nov, Dec, Jan; b: Nov, Jan (listed twice in Jan); c: Dec; d: Jan
    frame = pd.DataFrame({"customer_id": ["a", "a", "a", "b", "b", "b", "c", "d"],
                          "month": [MONTHS[0], MONTHS[1], MONTHS[2], MONTHS[0], MONTHS[2], MONTHS[2], MONTHS[1],
                                    MONTHS[2]],
                          "orders": [1, 1, 1, 1, 1, 2, 1, 1], "revenue": [10.0, 20.0, 5.0, 7.5, 2.5, 1.0, 4.0, 8.0]})
    con = connect()
    table = in_engine(con, frame)
    kpis = monthly_kpis(table).set_index("month")
    assert kpis["active_customers"].tolist() == [2, 2, 3] and kpis["new_customers"].tolist() == [2, 1, 1]
    assert kpis["orders"].tolist() == [2, 2, 5] and kpis.loc[MONTHS[2], "revenue"] == 16.5
    # Dec: a of {a, b} retained; Jan: a of {a, c}; repurchase in Jan: a and b of the three known
    assert kpis["retention_rate"].tolist()[1:] == [0.5, 0.5] and kpis.loc[MONTHS[2], "repurchase_rate"] == 2 / 3
    cohorts = cohort_table(table, "customers")
    assert cohorts.loc[MONTHS[0]].tolist() == [2, 1, 2] and cohorts.loc[MONTHS[1]].tolist()[:2] == [1, 0]
    assert np.isnan(cohorts.loc[MONTHS[2], 1])  # a month the data do not reach yet
    starts = pd.DataFrame({"month": [MONTHS[2]] * 3, "customer_id": ["a", "c", "e"], "segment": ["x", "x", "y"]})
    rates = retention_by_segment(table, in_engine(con, starts)).set_index("segment")
    # x: a and c were active in Dec, a bought again in Jan; y: e never bought
    assert rates.loc["x", ["base_customers", "retained", "customers", "buyers"]].tolist() == [2, 1, 2, 1]
    assert rates.loc["y", ["customers", "buyers"]].tolist() == [1, 0] and np.isnan(rates.loc["y", "retention_rate"])


def test_the_stages_are_counted_where_they_lie(tmp_path):
    """The activity and month-start classes stage files, read in place by one embedded DuckDB
    (`segkit.stage_tables`), give the counts of the frames the report loads from them, and the
    monthly KPIs stage holds the same figures."""
    from segkit.datasets import generate_retail

    tx = generate_retail(customers=80, start="2024-01-01", months=8, seed=2).transactions
    activity = monthly_activity(connect(), tx)
    ids = activity["customer_id"].drop_duplicates()
    starts = pd.DataFrame({"month": np.repeat([dt.date(2024, 5, 1), dt.date(2024, 6, 1)], len(ids)),
                           "customer_id": np.tile(ids, 2),
                           "segment": np.resize(["champions", "at_risk", "hibernating"], 2 * len(ids))})
    save_stage(tmp_path, activity=activity, month_start_classes=starts)
    table, classes = stage_tables(tmp_path, "activity", "month_start_classes")
    assert table.get_backend() is classes.get_backend()
    same_cohorts(activity, table)
    pd.testing.assert_frame_equal(retention_by_segment(table, classes),
                                  retention_by_segment(activity, starts).reset_index(drop=True), check_dtype=False)
    saved = monthly_kpis_stage(tmp_path)
    # generated amounts summed as floats by monthly_activity: equal to the last digits (a run's are exact sums)
    pd.testing.assert_frame_equal(saved, monthly_kpis(activity), check_exact=False, rtol=1e-12)
    assert stage_tables(tmp_path, "activity", "refunded_orders", optional=True)[1] is None


def test_an_activity_without_its_columns_or_rows_is_refused():
    con = connect()
    with pytest.raises(ValueError, match=r"activity lacks column\(s\) \['orders', 'revenue'\]"):
        cohort_table(in_engine(con, pd.DataFrame({"customer_id": ["a"], "month": [MONTHS[0]]})))
    empty = in_engine(con, pd.DataFrame({"customer_id": pd.Series([], dtype=str),
                                         "month": pd.Series([], dtype="datetime64[s]"),
                                         "orders": pd.Series([], dtype="int64"),
                                         "revenue": pd.Series([], dtype=float)}))
    for count in (cohort_table, monthly_kpis):
        with pytest.raises(ValueError, match="activity has no rows"):
            count(empty)


# Review findings, each on its smallest input: both paths agree, and each is right by the definitions.

def test_mid_month_dates_at_a_month_start_are_one_calendar_month():
    """A customer listed on two days of one month in one segment is one customer of that month."""
    activity = pd.DataFrame({"customer_id": ["1", "2"], "month": [MONTHS[1]] * 2, "orders": 1, "revenue": 1.0})
    starts = pd.DataFrame({"month": [dt.date(2024, 1, 1), dt.date(2024, 1, 15), dt.date(2024, 1, 20)],
                           "customer_id": ["1", "1", "2"], "segment": "x"})
    con = connect()
    rates = retention_by_segment(in_engine(con, activity), in_engine(con, starts))
    assert rates[["month", "customers", "base_customers"]].values.tolist() == [[dt.date(2024, 1, 1), 2, 2]]
    assert retention_by_segment(activity, starts)["customers"].tolist() == [2]


def test_an_age_at_which_no_cohort_bought_is_a_column_of_zeros():
    activity = pd.DataFrame({"customer_id": ["a", "a"], "month": [dt.date(2024, 1, 1), dt.date(2024, 3, 1)],
                             "orders": 1, "revenue": [5.0, 7.0]})
    for table in (activity, in_engine(connect(), activity)):
        cohorts = cohort_table(table, "customers")
        assert list(cohorts.columns) == [0, 1, 2] and cohorts.iloc[0].tolist() == [1, 0, 1]


def test_large_monthly_revenue_is_the_exact_sum_on_both_paths():
    """Sixty amounts of 10^11 to 10^12 with cents: the frame path summed them as floats (its bound on
    the whole array's units was too tight), one unit in the last place off the exact total."""
    from fractions import Fraction

    rng = np.random.default_rng(5)
    cents = rng.integers(10 ** 13, 10 ** 14, 60)
    activity = pd.DataFrame({"customer_id": [f"c{i}" for i in range(60)], "month": MONTHS[0], "orders": 1,
                             "revenue": cents / 100})
    exact = float(sum(Fraction(round(v * 100), 100) for v in activity["revenue"]))
    assert monthly_kpis(activity)["revenue"].tolist() == [exact]
    assert monthly_kpis(in_engine(connect(), activity))["revenue"].tolist() == [exact]


def test_a_month_with_a_time_zone_is_refused_not_read_in_the_sessions_zone():
    zoned = in_engine(connect(), pd.DataFrame({"customer_id": ["a"], "month": [pd.Timestamp("2024-01-01", tz="UTC")],
                                               "orders": [1], "revenue": [1.0]}))
    with pytest.raises(ValueError, match=r"activity\.month is timestamp\('UTC'.*; give a date"):
        cohort_table(zoned)
