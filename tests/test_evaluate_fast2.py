"""The next-period query's categories as bit masks (session 11) against straightforward references:
splitting the rows in pandas and computing `customer_features` on each period (as
tests/test_evaluate_fast.py does), and counting each customer's distinct calibration categories by
hand; the fallback to the distinct count (too many categories, categories that are not text); the
engine's thread count restored; edge cases (empty, one customer, ties, missing values, text and
integer ids).
"""

import datetime as dt

import ibis
import numpy as np
import pandas as pd
import pytest

import segkit
import segkit.evaluate.next_period as next_period
from segkit.errors import DataError
from segkit import features
from segkit.evaluate.next_period import _one_thread, calibration_periods
from segkit.features import category_kinds as _category_kinds, count_bits as _count_bits
from segkit.intake.sources import connect
from test_evaluate_fast import AS_OF, CAL_END, assert_same_periods, edge_lines, lines, reference_periods


def categories_by_hand(frame: pd.DataFrame, calibration_end: dt.date) -> dict:
    """Each calibration customer's number of distinct non-missing categories before the boundary."""
    before = frame[frame["ordered_at"] < pd.Timestamp(calibration_end) + pd.Timedelta(days=1)]
    counts = before.dropna(subset=["category"]).groupby("customer_id")["category"].nunique()
    return {str(c): int(counts.get(c, 0)) for c in before["customer_id"].unique()}


def random_lines(seed: int, kinds, n: int = 800, ids=lambda i: f"k{i}") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return lines(zip([ids(i) for i in rng.integers(0, 90, n)], [f"o{i}" for i in rng.integers(0, 350, n)],
                     pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 366 * 24, n), unit="h"),
                     np.round(rng.gamma(2.0, 30.0, n), 2), rng.choice(np.array(list(kinds), dtype=object), n)))


@pytest.fixture
def fallback(monkeypatch):
    """Every category count by the distinct of the lines (the path for too many categories)."""
    monkeypatch.setattr(features, "MASK_CATEGORIES", 0)


@pytest.mark.parametrize("as_of", [AS_OF, None])
def test_bit_masks_equal_splitting_first(as_of):
    frame = edge_lines()
    table = ibis.memtable(frame)
    assert _category_kinds(table) is not None  # the masks are used here
    ours = calibration_periods(table, CAL_END, as_of)
    assert_same_periods(ours, reference_periods(frame, CAL_END, as_of))
    assert dict(zip(ours.features["customer_id"], ours.features["categories"])) == categories_by_hand(frame, CAL_END)
    assert ours.features["categories"].dtype == np.int64


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_lines_masks_and_distinct_agree(seed, monkeypatch):
    frame = random_lines(seed, ["a", "b", "c", "d", None, "it's", "Ä"])
    masked = calibration_periods(ibis.memtable(frame), CAL_END, AS_OF)
    assert_same_periods(masked, reference_periods(frame, CAL_END, AS_OF))
    monkeypatch.setattr(features, "MASK_CATEGORIES", 0)
    assert_same_periods(calibration_periods(ibis.memtable(frame), CAL_END, AS_OF), masked)


@pytest.mark.parametrize("count", [61, 62, 63])
def test_as_many_categories_as_bits_and_one_more(count):
    """62 categories use bits 0..61 of an int64; 63 fall back to the distinct count: both exact."""
    kinds = [f"c{i:02d}" for i in range(count)]
    frame = random_lines(count, kinds, n=3000, ids=lambda i: f"k{i % 7}")  # 7 customers with many kinds each
    table = ibis.memtable(frame)
    assert (_category_kinds(table) is None) == (count > features.MASK_CATEGORIES)
    ours = calibration_periods(table, CAL_END, AS_OF)
    assert_same_periods(ours, reference_periods(frame, CAL_END, AS_OF))
    assert ours.features["categories"].max() > 40


def test_categories_that_are_not_text_or_all_missing_are_counted_without_masks():
    frame = random_lines(5, [1, 2, 3]).assign(category=lambda f: f["category"].astype("int64"))
    table = ibis.memtable(frame)
    assert _category_kinds(table) is None
    assert_same_periods(calibration_periods(table, CAL_END, AS_OF), reference_periods(frame, CAL_END, AS_OF))
    missing = edge_lines().assign(category=None)
    missing["category"] = missing["category"].astype("string")
    table = ibis.memtable(missing)
    assert _category_kinds(table) is None
    ours = calibration_periods(table, CAL_END, AS_OF)
    assert (ours.features["categories"] == 0).all()
    assert_same_periods(ours, reference_periods(missing, CAL_END, AS_OF))


def test_without_a_category_column():
    frame = edge_lines().drop(columns="category")
    table = ibis.memtable(frame)
    assert _category_kinds(table) is None
    ours = calibration_periods(table, CAL_END, AS_OF)
    assert "categories" not in ours.features.columns
    # the reference needs a category column: one category for all, then its count left out
    theirs = reference_periods(frame.assign(category="x"), CAL_END, AS_OF)
    pd.testing.assert_frame_equal(ours.features, theirs.features.drop(columns="categories"), check_exact=True)
    pd.testing.assert_frame_equal(ours.holdout, theirs.holdout, check_exact=True)


def test_one_customer_ties_and_integer_ids():
    one = lines([(7, "o1", "2024-01-01", 10.0, "a"), (7, "o1", "2024-01-01", 5.0, "b"),
                 (7, "o2", "2024-08-01", 5.0, "a")])
    ours = calibration_periods(ibis.memtable(one), CAL_END, AS_OF)
    assert_same_periods(ours, reference_periods(one, CAL_END, AS_OF))
    assert ours.features["customer_id"].tolist() == ["7"] and ours.features["categories"].tolist() == [2]
    tied = lines([(i, f"o{i}", "2024-03-03", 20.0, "a" if i % 2 else "b") for i in range(1, 6)]
                 + [(1, "o9", "2024-09-09", 1.0, "c")])
    assert_same_periods(calibration_periods(ibis.memtable(tied), CAL_END, AS_OF),
                        reference_periods(tied, CAL_END, AS_OF))


def test_empty_and_holdout_only_keep_their_errors():
    frame = edge_lines()
    with pytest.raises(DataError, match="no purchase on or before"):
        calibration_periods(ibis.memtable(frame.iloc[:0]), CAL_END, AS_OF)
    with pytest.raises(DataError, match="no purchase on or before"):
        calibration_periods(ibis.memtable(frame[frame["ordered_at"] >= pd.Timestamp("2024-07-01")]), CAL_END, AS_OF)


def test_count_bits_equals_counting_by_hand():
    masks = np.array([0, 1, 2, 3, 2 ** 61, 2 ** 62 - 1, 0b1011], dtype=np.int64)
    assert _count_bits(masks).tolist() == [bin(int(m)).count("1") for m in masks]
    assert _count_bits(masks).dtype == np.int64
    assert _count_bits(np.array([], dtype=np.int64)).tolist() == []


def test_the_engine_thread_count_is_restored(tmp_path):
    con = connect()
    con.raw_sql("SET threads = 2")
    table = con.create_table("lines", edge_lines())
    threads = lambda: con.raw_sql("SELECT current_setting('threads')").fetchall()[0][0]  # noqa: E731
    with _one_thread(table):
        assert threads() == 1
    assert threads() == 2
    with pytest.raises(RuntimeError), _one_thread(table):
        raise RuntimeError("inside")
    assert threads() == 2
    calibration_periods(table, CAL_END, AS_OF)
    assert threads() == 2


def test_next_period_stage_on_the_clean_rows_read_in_place(tmp_path):
    """05's call: the run's clean_transactions.parquet read in place gives the reference's periods."""
    frame = random_lines(11, ["a", "b", None])
    frame.to_parquet(tmp_path / "clean_transactions.parquet")
    check, reason = segkit.next_period_stage(segkit.stage_table(tmp_path, "clean_transactions"), "en", CAL_END, AS_OF)
    assert reason is None
    assert_same_periods(check.periods, reference_periods(frame, CAL_END, AS_OF))



def test_the_query_started_early_gives_the_same_check_and_the_same_reasons(tmp_path):
    """05 starts the next-period query as it loads its stages (`start_next_period`) and checks the
    classes later: the same check as the call that queries then, its error the same reason."""
    frame = random_lines(12, ["a", "b", None])
    frame.to_parquet(tmp_path / "clean_transactions.parquet")
    table = segkit.stage_table(tmp_path, "clean_transactions")
    started = segkit.evaluate.stage.start_next_period(table, CAL_END, AS_OF)
    assert started is not None and started.result(timeout=60) is not None
    early, reason = segkit.next_period_stage(table, "en", CAL_END, AS_OF, scorer=3, periods=started)
    late, _ = segkit.next_period_stage(segkit.stage_table(tmp_path, "clean_transactions"), "en", CAL_END, AS_OF,
                                       scorer=3)
    assert reason is None
    assert_same_periods(early.periods, late.periods)
    pd.testing.assert_frame_equal(early.classes, late.classes)
    pd.testing.assert_frame_equal(early.high_value, late.high_value)
    # no holdout: the error raised on the query's thread is the reason, as without the early start
    too_late = dt.date(2099, 1, 1)
    started = segkit.evaluate.stage.start_next_period(table, too_late, None)
    early = segkit.next_period_stage(table, "en", too_late, None, periods=started)
    assert early == segkit.next_period_stage(table, "en", too_late, None) and early[1]
    # nothing to start: no engine table, or no calibration_end
    assert segkit.evaluate.stage.start_next_period(None, CAL_END) is None
    assert segkit.evaluate.stage.start_next_period(table, None) is None

@pytest.mark.slow
def test_categories_in_postgresql_are_not_taken_as_bit_masks():
    """The masks' shifts and bit_or are DuckDB's (PostgreSQL has no BIGINT << BIGINT): a table in
    PostgreSQL gets no list of categories, and so the distinct count."""
    from pg_server import load_table, start_server

    server = start_server()
    try:
        with server.connect() as con:
            con.execute("CREATE DATABASE shop")
        frame = random_lines(3, ["x", "y"], n=40)
        with server.connect("shop") as con:
            load_table(con, "orders", frame, {"customer_id": "text", "order_id": "text", "ordered_at": "timestamp",
                                              "amount": "numeric(12,2)", "category": "text"})
        table = ibis.connect(server.url()).table("orders")
        assert table.category.type().is_string() and _category_kinds(table) is None
        assert sorted(_category_kinds(ibis.memtable(frame))) == ["x", "y"]  # the same rows in DuckDB: masks
    finally:
        server.stop()
