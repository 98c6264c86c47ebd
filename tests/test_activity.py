"""Monthly activity, retention and repurchase rates, cohorts and churn on a case counted by hand."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from segkit.intake.sources import connect
from segkit.classify.rfm import load_segment_map, segment_customers
from segkit.features import customer_features
from segkit.monthly.activity import (churn_rates, churned, cohort_table, features_at_month_starts,
                                     month_start_features_table, month_start_segments,
                                     month_starts, monthly_activity, monthly_kpis, retention_by_segment,
                                     segment_retention, segments_at_month_starts)
from segkit.params import RFM

# a buys in Jan, Feb, Mar; b in Jan and Mar (two orders in Mar); c in Feb only; d in Mar only.
ROWS = [
    ("a", "o1", "2024-01-05", 10.0), ("a", "o2", "2024-02-10", 20.0), ("a", "o3", "2024-03-01", 5.0),
    ("b", "o4", "2024-01-20", 7.5), ("b", "o5", "2024-03-02", 2.5), ("b", "o6", "2024-03-30", 1.0),
    ("c", "o7", "2024-02-28", 4.0),
    ("d", "o8", "2024-03-15", 8.0), ("d", "o8", "2024-03-15", 2.0),  # one order, two lines
]


@pytest.fixture
def transactions():
    frame = pd.DataFrame(ROWS, columns=["customer_id", "order_id", "ordered_at", "amount"])
    return frame.assign(ordered_at=pd.to_datetime(frame["ordered_at"]))


def test_monthly_activity_counts_orders_and_revenue_per_customer_and_month(transactions):
    activity = monthly_activity(connect(), transactions)
    assert len(activity) == 7
    d = activity[activity.customer_id == "d"].iloc[0]
    assert (d.month, d.orders, d.revenue) == (dt.date(2024, 3, 1), 1, 10.0)
    b_march = activity[(activity.customer_id == "b") & (activity.month == dt.date(2024, 3, 1))].iloc[0]
    assert (b_march.orders, b_march.revenue) == (2, 3.5)
    shuffled = monthly_activity(connect(), transactions.sample(frac=1, random_state=3))
    pd.testing.assert_frame_equal(activity, shuffled)  # row order does not matter


def test_monthly_kpis_follow_the_stated_definitions(transactions):
    kpis = monthly_kpis(monthly_activity(connect(), transactions)).set_index("month")
    jan, feb, mar = (kpis.loc[dt.date(2024, m, 1)] for m in (1, 2, 3))
    assert (jan.active_customers, jan.new_customers) == (2, 2)
    assert pd.isna(jan.retention_rate) and pd.isna(jan.repurchase_rate)  # nothing before January
    # Feb: a and c buy; of Jan's a and b only a came back; of a and b (bought before Feb) a bought
    assert (feb.active_customers, feb.new_customers, feb.retention_rate, feb.repurchase_rate) == (2, 1, 0.5, 0.5)
    # Mar: a, b, d buy; of Feb's a and c only a came back; of a, b, c (before Mar) a and b bought
    assert (mar.active_customers, mar.new_customers, mar.retention_rate) == (3, 1, 0.5)
    assert mar.repurchase_rate == pytest.approx(2 / 3)
    assert (mar.orders, mar.revenue, mar.avg_order_value) == (4, 18.5, 18.5 / 4)
    assert mar.purchase_frequency == pytest.approx(4 / 3)


def test_months_without_purchases_are_kept_and_break_retention():
    frame = pd.DataFrame({"customer_id": ["a", "a"], "order_id": ["1", "2"],
                          "ordered_at": pd.to_datetime(["2024-01-05", "2024-03-05"]), "amount": [1.0, 1.0]})
    kpis = monthly_kpis(monthly_activity(connect(), frame)).set_index("month")
    assert list(kpis.active_customers) == [1, 0, 1]
    assert kpis.loc[dt.date(2024, 2, 1), "retention_rate"] == 0.0
    assert pd.isna(kpis.loc[dt.date(2024, 3, 1), "retention_rate"])  # nobody was active in February


def test_cohorts_share_customers_and_revenue(transactions):
    activity = monthly_activity(connect(), transactions)
    share = cohort_table(activity)
    assert list(share.index) == [dt.date(2024, 1, 1), dt.date(2024, 2, 1), dt.date(2024, 3, 1)]
    assert list(share.loc[dt.date(2024, 1, 1)]) == [1.0, 0.5, 1.0]  # a and b; a in Feb; both in Mar
    feb = share.loc[dt.date(2024, 2, 1)]
    assert feb[0] == 1.0 and feb[1] == 0.0 and pd.isna(feb[2])  # the data end before Feb's month 2
    revenue = cohort_table(activity, "revenue")
    assert revenue.loc[dt.date(2024, 1, 1), 2] == 8.5 and revenue.loc[dt.date(2024, 3, 1), 0] == 10.0
    assert cohort_table(activity, "customers").loc[dt.date(2024, 1, 1), 1] == 1
    with pytest.raises(ValueError, match="measure must be"):
        cohort_table(activity, "orders")


def test_segments_at_month_starts_use_only_the_purchases_before(transactions):
    seen = []

    def segment(features):
        seen.append(features)
        return features["orders"].map(lambda n: "repeat" if n > 1 else "one-off")

    months = [dt.date(2024, 2, 1), dt.date(2024, 3, 1)]
    at_start = segments_at_month_starts(connect(), transactions, months, segment)
    assert seen[0]["recency_days"].tolist() == [26, 11]  # as of 31 January: a (5 Jan), b (20 Jan)
    march = at_start[at_start.month == dt.date(2024, 3, 1)].set_index("customer_id")["segment"]
    assert march.to_dict() == {"a": "repeat", "b": "one-off", "c": "one-off"}
    rates = retention_by_segment(monthly_activity(connect(), transactions), at_start).set_index(["month", "segment"])
    mar_repeat = rates.loc[(dt.date(2024, 3, 1), "repeat")]
    assert (mar_repeat.base_customers, mar_repeat.retained, mar_repeat.repurchase_rate) == (1, 1, 1.0)  # a
    mar_oneoff = rates.loc[(dt.date(2024, 3, 1), "one-off")]
    # b and c were one-off at the start of March; c was active in Feb and did not come back; b bought
    assert (mar_oneoff.base_customers, mar_oneoff.retention_rate, mar_oneoff.repurchase_rate) == (1, 0.0, 0.5)


def test_churn_by_inactivity_window():
    features = pd.DataFrame({"customer_id": list("abcd"), "recency_days": [10, 179, 180, 400],
                             "segment": ["x", "x", "y", "y"]})
    assert churned(features).tolist() == [False, False, True, True]
    assert churned(features, window_days=30).tolist() == [False, True, True, True]
    rates = churn_rates(features, "segment").set_index("segment")
    assert rates.loc["x", "churn_rate"] == 0.0 and rates.loc["y", "churned"] == 2
    with pytest.raises(ValueError, match="window_days"):
        churned(features, 0)


def test_activity_must_come_from_monthly_activity():
    with pytest.raises(ValueError, match="lacks column"):
        monthly_kpis(pd.DataFrame({"customer_id": ["a"]}))


def test_features_at_month_starts_count_only_the_purchases_before_each_month(transactions):
    activity = monthly_activity(connect(), transactions)
    months = month_starts(activity)
    assert months == [dt.date(2024, 2, 1), dt.date(2024, 3, 1)]  # January has no month before it
    assert month_starts(activity, last=1) == [dt.date(2024, 3, 1)]
    history = features_at_month_starts(connect(), transactions, months).set_index(["month", "customer_id"])
    # at the start of March: a bought twice (Jan, Feb), b once, c once; d not yet
    march = history.loc[dt.date(2024, 3, 1)]
    assert march["orders"].to_dict() == {"a": 2, "b": 1, "c": 1}
    assert march.loc["a", "revenue"] == 30.0 and march.loc["c", "recency_days"] == 1  # 28 Feb to 29 Feb
    assert sorted(history.loc[dt.date(2024, 2, 1)].index) == ["a", "b"]


def test_month_start_segments_classify_each_month_with_the_run_standards():
    # 40 customers over four months, so that the quantile scores have room
    rng = np.random.default_rng(5)
    rows = [(f"c{i}", f"o{i}-{k}", pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(d)), float(rng.integers(5, 300)))
            for i in range(40) for k, d in enumerate(sorted(rng.integers(0, 120, size=1 + i % 4)))]
    tx = pd.DataFrame(rows, columns=["customer_id", "order_id", "ordered_at", "amount"])
    activity = monthly_activity(connect(), tx)
    history = features_at_month_starts(connect(), tx, month_starts(activity))
    grid, classes = load_segment_map("rfm11"), load_segment_map("cn8")
    rfm = RFM(bins=3)
    at_start = month_start_segments(history, rfm, grid, classes)
    april = dt.date(2024, 4, 1)
    # the same as classifying the features as of 31 March from scratch
    expected_features = customer_features(connect(), tx[tx.ordered_at < pd.Timestamp(april)], dt.date(2024, 3, 31))
    expected = segment_customers(expected_features, 3, grid, classes)[0].set_index("customer_id")["segment"]
    got = at_start[at_start.month == april].set_index("customer_id")["segment"]
    assert got.sort_index().to_dict() == expected.sort_index().to_dict()
    classes_at_start = month_start_segments(history, rfm, grid, classes, column="rfm_class")
    assert set(classes_at_start["segment"]) <= set(classes.codes)
    rates = segment_retention(activity, history, rfm, grid, classes)
    assert set(rates["month"]) == {dt.date(2024, 2, 1), dt.date(2024, 3, 1), dt.date(2024, 4, 1)}
    # every customer classified at a month start is counted once in its segment's base
    assert rates.groupby("month")["customers"].sum().to_dict() == at_start.groupby("month").size().to_dict()
    assert segment_retention(activity, history.iloc[0:0], rfm, grid, classes) is None
    with pytest.raises(ValueError, match="segment or rfm_class"):
        month_start_segments(history, rfm, grid, classes, column="cluster")


def test_month_start_features_apply_the_runs_rule_for_customers_at_zero_or_below():
    tx = pd.DataFrame({"customer_id": ["a", "a", "b", "a"], "order_id": ["o1", "o1", "o2", "o3"],
                       "ordered_at": pd.to_datetime(["2024-01-05", "2024-01-20", "2024-01-08", "2024-02-10"]),
                       "amount": [10.0, -15.0, 4.0, 30.0]})  # a's January nets to -5; a buys again in February
    months = [dt.date(2024, 2, 1), dt.date(2024, 3, 1)]
    aside = features_at_month_starts(connect(), tx, months).set_index(["month", "customer_id"])["revenue"]
    assert aside.to_dict() == {(dt.date(2024, 2, 1), "b"): 4.0, (dt.date(2024, 3, 1), "a"): 25.0,
                               (dt.date(2024, 3, 1), "b"): 4.0}
    floored = features_at_month_starts(connect(), tx, months, net_negative="floor")
    assert floored.set_index(["month", "customer_id"]).loc[(dt.date(2024, 2, 1), "a"), "revenue"] == 0.0


@pytest.mark.parametrize("floor", [False, True])
def test_month_start_features_equal_the_features_of_the_rows_before_each_month(floor):
    """The one-query month starts give, month by month, exactly `customer_features` of the rows dated
    before the month: with orders spanning days, lines without an order number or a category, and
    returns that take a customer's revenue to zero or below."""
    rng = np.random.default_rng(11)
    n = 600
    days = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 200, n), unit="D") \
        + pd.to_timedelta(rng.integers(0, 86400, n), unit="s")
    tx = pd.DataFrame({"customer_id": [f"c{i}" for i in rng.integers(0, 60, n)],
                       "order_id": [f"o{i}" for i in rng.integers(0, 250, n)],  # some orders span days
                       "ordered_at": days,
                       "amount": np.round(rng.normal(30, 40, n), 2),  # about a fifth are returns
                       "category": rng.choice(["Books", "Toys", "Music", None], n)})
    tx.loc[rng.random(n) < 0.05, "order_id"] = None
    months = [dt.date(2024, m, 1) for m in range(2, 8)]
    net_negative = "floor" if floor else "set_aside"
    got = features_at_month_starts(connect(), tx, months, activity_days=30, net_negative=net_negative)
    for month in months:
        as_of = month - dt.timedelta(days=1)
        expected = customer_features(connect(), tx[tx.ordered_at.dt.date <= as_of], as_of, activity_days=30,
                                     floor_revenue=floor)
        if not floor:
            expected = expected[expected["revenue"] > 0].reset_index(drop=True)
        mine = got[got["month"] == month].drop(columns="month").reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, expected, check_dtype=False)
    assert got["month"].tolist() == sorted(got["month"].tolist())


@pytest.mark.parametrize("net_negative", ["set_aside", "floor"])
def test_month_start_features_written_by_the_engine_equal_the_frame(tmp_path, net_negative):
    """The month-start features that 01 writes from the engine (`time_summaries(in_engine=True)`, then
    `save_stage`: no rows through pandas) read back equal, types included, to the frame path's file:
    with ids whose byte order differs from a collation's, lines without an order number or a
    category, and returns that take a customer to zero or below."""
    from segkit.features import time_summaries
    from segkit.store import load_stage, save_stage

    rng = np.random.default_rng(5)
    n = 400
    ids = np.array(["B7", "a1", "a10", "a2", "é3", "中4", "Z", "z", "_x", "10", "9"], dtype=object)
    tx = pd.DataFrame({"customer_id": rng.choice(ids, n), "order_id": [f"o{i}" for i in rng.integers(0, 150, n)],
                       "ordered_at": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 150 * 86400, n),
                                                                                    unit="s"),
                       "amount": np.round(rng.normal(20, 30, n), 2), "category": rng.choice(["x", "y", None], n)})
    tx.loc[rng.random(n) < 0.1, "order_id"] = None
    con = connect()
    table = con.create_table("tx", tx)
    as_of = dt.date(2024, 5, 31)
    lazy = time_summaries(con, table, as_of, dt.date(2024, 4, 30), net_negative=net_negative, in_engine=True)
    eager = time_summaries(con, table, as_of, dt.date(2024, 4, 30), net_negative=net_negative)
    assert all(not isinstance(part, pd.DataFrame) for part in lazy["month_start_features"])
    save_stage(tmp_path / "engine", month_start_features=lazy["month_start_features"])
    save_stage(tmp_path / "frame", month_start_features=eager["month_start_features"])
    written = load_stage(tmp_path / "engine", "month_start_features")
    expected = load_stage(tmp_path / "frame", "month_start_features")
    assert len(written) > 20 and written["customer_id"].nunique() == len(ids)
    pd.testing.assert_frame_equal(written, expected)
    assert not list((tmp_path / "engine").glob(".*partial"))  # written whole, then put in place
    # the one-table form, written by the engine's COPY, holds the same rows in the same order
    months = sorted(expected["month"].unique())
    save_stage(tmp_path / "table", month_start_features=month_start_features_table(table, months,
                                                                                   net_negative=net_negative))
    pd.testing.assert_frame_equal(load_stage(tmp_path / "table", "month_start_features"), expected)
    # the engine's path (customers numbered in id order, running totals per cell) equals a frame's,
    # which groups by the ids themselves
    save_stage(tmp_path / "memtable", month_start_features=features_at_month_starts(con, tx, months,
                                                                                    net_negative=net_negative))
    pd.testing.assert_frame_equal(load_stage(tmp_path / "memtable", "month_start_features"), expected)
    # the monthly activity too: written by the engine, ordered there, it reads back as the frame's file
    assert not isinstance(lazy["activity"], pd.DataFrame) and isinstance(eager["activity"], pd.DataFrame)
    save_stage(tmp_path / "engine", activity=lazy["activity"])
    save_stage(tmp_path / "frame", activity=eager["activity"])
    pd.testing.assert_frame_equal(load_stage(tmp_path / "engine", "activity"), load_stage(tmp_path / "frame", "activity"))


@pytest.mark.parametrize("columns", [["recency_days", "orders", "revenue", "last_purchase"],
                                     ["revenue", "categories", "orders_recent"]])
def test_month_start_features_of_some_columns_equal_those_of_all(tmp_path, columns):
    """A report asks for the month-start columns its later stages read (`month_start_columns`): the
    stage then holds month, customer_id and those, each equal to the full stage's, from the engine's
    parts, the one-table form and a frame's path; without categories and orders_recent the engine
    keeps no table of the windows' order lines."""
    from segkit.monthly.activity import MONTH_START_READ, month_start_columns, month_start_features_parts
    from segkit.store import load_stage, save_stage

    rng = np.random.default_rng(8)
    n = 500
    tx = pd.DataFrame({"customer_id": [f"c{i}" for i in rng.integers(0, 60, n)],
                       "order_id": [f"o{i}" for i in rng.integers(0, 200, n)],
                       "ordered_at": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 150, n), unit="D"),
                       "amount": np.round(rng.normal(20, 15, n), 2), "category": rng.choice(["x", "y", "z", None], n)})
    con = connect()
    table = con.create_table("some_columns", tx)
    months = [dt.date(2024, 2, 1), dt.date(2024, 3, 1), dt.date(2024, 4, 1), dt.date(2024, 5, 1)]
    save_stage(tmp_path / "all", month_start_features=month_start_features_parts(table, months))
    full = load_stage(tmp_path / "all", "month_start_features")

    def tables():
        return {name for (name,) in con.con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
                if name.startswith("segkit_month_start")}

    before = tables()
    save_stage(tmp_path / "some", month_start_features=month_start_features_parts(table, months, columns=columns))
    assert len(tables() - before) == (3 if "orders_recent" in columns else 2)
    some = load_stage(tmp_path / "some", "month_start_features")
    assert set(some.columns) == {"month", "customer_id", *columns} and len(some) == len(full) > 100
    pd.testing.assert_frame_equal(some, full[list(some.columns)])
    pd.testing.assert_frame_equal(month_start_features_table(table, months, columns=columns).to_pandas(),
                                  month_start_features_table(table, months).to_pandas()[list(some.columns)])
    from_frame = features_at_month_starts(con, tx, months, columns=columns)
    pd.testing.assert_frame_equal(from_frame, features_at_month_starts(con, tx, months)[list(from_frame.columns)])
    # what a report asks for: the columns later stages read and the clustering features among the features
    assert month_start_columns(("recency_days", "tenure_days", "age")) == [*MONTH_START_READ, "tenure_days"]
    with pytest.raises(ValueError, match="not month-start feature columns: age"):
        month_start_features_parts(table, months, columns=["revenue", "age"])
    with pytest.raises(ValueError, match="got the text 'revenue'"):
        month_start_features_table(table, months, columns="revenue")
    once = month_start_features_table(table, months, columns=iter(columns)).to_pandas()  # an iterator, read once
    assert set(once.columns) == {"month", "customer_id", *columns}


def test_month_start_parts_keep_three_tables_in_the_engine():
    """In the embedded engine the month starts keep the tables their parts read (ids and numbers, the
    windows' order lines, the cells with running totals); the cells the totals came from are dropped."""
    from segkit.intake.engines import drop_temporary
    from segkit.monthly.activity import month_start_features_parts

    rng = np.random.default_rng(2)
    n = 200
    tx = pd.DataFrame({"customer_id": [f"c{i}" for i in rng.integers(0, 30, n)],
                       "order_id": [f"o{i}" for i in rng.integers(0, 90, n)],
                       "ordered_at": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 120, n), unit="D"),
                       "amount": rng.uniform(1, 50, n).round(2)})
    con = connect()
    table = con.create_table("lines_for_parts", tx)

    def tables():
        return {name for (name,) in con.con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}

    before = tables()
    parts = month_start_features_parts(table, [dt.date(2024, 2, 1), dt.date(2024, 3, 1), dt.date(2024, 4, 1)])
    made = {name for name in tables() - before if name.startswith("segkit_month_start")}
    assert len(made) == 3
    assert sum(len(part.to_pandas()) for part in parts) > 30  # what is kept is what the parts read
    drop_temporary(con.table(sorted(made)[0], database="temp"))
    assert len({name for name in tables() - before if name.startswith("segkit_month_start")}) == 2


def test_edge_inputs_of_the_month_figures_are_read_as_before():
    """A missing customer id is a customer of its own in the engine's month starts (as in a frame's),
    never a customer counted in the cohort tables; month starts read a Categorical month (as
    `load_stage(categories=)` gives it) as dates."""
    tx = pd.DataFrame({"customer_id": ["a", None, "b", None, "a", "b"],
                       "order_id": ["o1", "o2", "o3", "o4", "o5", "o6"],
                       "ordered_at": pd.to_datetime(["2024-01-05", "2024-01-09", "2024-02-02", "2024-02-20",
                                                     "2024-03-03", "2024-03-30"]),
                       "amount": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]})
    months = [dt.date(2024, 2, 1), dt.date(2024, 3, 1)]
    con = connect()
    in_engine = features_at_month_starts(con, con.create_table("null_ids", tx), months)
    from_frame = features_at_month_starts(con, tx, months)
    pd.testing.assert_frame_equal(in_engine, from_frame)
    assert in_engine["customer_id"].isna().sum() == 2  # one per month start
    assert in_engine.loc[in_engine["customer_id"].isna(), "orders"].tolist() == [1, 2]  # counted as one customer
    activity = pd.DataFrame({"customer_id": ["a", None, "b", "a", None],
                             "month": [dt.date(2024, 1, 1), dt.date(2024, 1, 1), dt.date(2024, 2, 1),
                                       dt.date(2024, 2, 1), dt.date(2024, 2, 1)],
                             "orders": 1, "revenue": 1.0})
    counted = cohort_table(activity, "customers")
    assert counted.loc[dt.date(2024, 1, 1)].tolist() == [1, 1] and counted.loc[dt.date(2024, 2, 1), 0] == 1
    as_categories = activity.assign(month=activity["month"].astype("category"))
    assert month_starts(as_categories) == month_starts(activity) == [dt.date(2024, 2, 1)]


def test_a_month_nobody_bought_in_still_has_its_start_and_its_classes():
    """Data to July, the report's month August (a shop closed in August): August 1 is a month start,
    whose customers are all who had bought by July 31, in the pandas path and in the engine's."""
    from segkit.features import time_summaries

    tx = pd.DataFrame({"customer_id": ["a", "b", "a", "c"], "order_id": ["1", "2", "3", "4"],
                       "ordered_at": pd.to_datetime(["2025-05-03", "2025-06-10", "2025-07-02", "2025-07-20"]),
                       "amount": [10.0, 20.0, 30.0, 40.0]})
    activity = monthly_activity(connect(), tx)
    assert month_starts(activity)[-1] == dt.date(2025, 7, 1)
    assert month_starts(activity, until=dt.date(2025, 8, 31))[-2:] == [dt.date(2025, 7, 1), dt.date(2025, 8, 1)]
    con = connect()
    for source in (tx, con.create_table("tx_gap", tx)):
        found = time_summaries(con, source, dt.date(2025, 8, 31), dt.date(2025, 6, 30), in_engine=True)
        starts = found["month_start_features"]
        if not isinstance(starts, pd.DataFrame):
            starts = pd.concat([part.to_pandas() for part in starts]) if isinstance(starts, list) else starts.to_pandas()
        august = starts[pd.to_datetime(starts["month"]) == pd.Timestamp("2025-08-01")]
        assert sorted(august["customer_id"]) == ["a", "b", "c"]
