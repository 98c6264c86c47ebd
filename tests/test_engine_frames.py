"""Engine results as pandas frames (segkit.intake.engines.to_frame): the frame Ibis gives, fetched
as Arrow and converted there."""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd
import pyarrow as pa
import pytest

from segkit.intake.engines import to_frame
from segkit.intake.sources import connect


@pytest.fixture
def table():
    """Every kind of column a stage fetches, with and without missing values."""
    rows = 1_000
    con = connect()
    data = pa.table({
        "customer_id": [f"C{n:05d}" for n in range(rows)],
        "label": [None if n % 3 == 0 else f"x{n % 7}" for n in range(rows)],
        "orders": list(range(rows)),
        "maybe_orders": [None if n % 5 == 0 else n for n in range(rows)],
        "interval_days": [None if n % 4 == 0 else n / 3 for n in range(rows)],
        "first_day": [dt.date(2024, 1, 1) + dt.timedelta(days=n % 400) for n in range(rows)],
        "last_day": [None if n % 6 == 0 else dt.date(2025, 1, 1) + dt.timedelta(days=n % 300) for n in range(rows)],
        "at": [dt.datetime(2025, 1, 1, 8) + dt.timedelta(minutes=n) for n in range(rows)],
        "amount": pa.array([f"{n}.05" for n in range(rows)]).cast(pa.decimal128(18, 2)),
    })
    return con.create_table("frames", data, overwrite=True)


def test_the_frame_is_the_one_ibis_gives(table):
    expr = table.mutate(spend=table.amount.sum().over(ibis.window(group_by="label")))
    ours, theirs = to_frame(expr), expr.to_pandas()
    pd.testing.assert_frame_equal(ours, theirs, check_exact=True)
    assert str(ours["first_day"].dtype) == "datetime64[s]" and ours["last_day"].isna().sum() == 167


def test_an_aggregate_with_dates_is_the_same_frame(table):
    per = table.group_by("label").aggregate(first=table.first_day.min(), last=table.last_day.max(), n=table.count())
    pd.testing.assert_frame_equal(to_frame(per).sort_values("n").reset_index(drop=True),
                                  per.to_pandas().sort_values("n").reset_index(drop=True), check_exact=True)


def test_columns_arrow_would_convert_otherwise_are_as_ibis_gives_them():
    con = connect()
    con.raw_sql("CREATE OR REPLACE TABLE odd AS SELECT range AS n, NULL::BIGINT AS nothing, "
                "CASE WHEN range % 2 = 0 THEN NULL ELSE range::HUGEINT * 9007199254740993 END AS big, "
                "CASE WHEN range % 3 = 0 THEN NULL ELSE TIMESTAMP_MS '2025-01-01 10:00:00' END AS at_ms, "
                "[range, range + 1] AS pair FROM range(50)")
    odd = con.table("odd")
    ours, theirs = to_frame(odd), odd.to_pandas()
    pd.testing.assert_frame_equal(ours, theirs, check_exact=True)
    assert ours["nothing"].isna().all() and str(ours["at_ms"].dtype) == str(theirs["at_ms"].dtype)


@pytest.mark.parametrize("ids", [["b", "é", "A", "10", "9", "Z", "ä"], [30, 4, 100, 7, 2, 55, 8]])
@pytest.mark.parametrize("from_engine", [False, True])
def test_per_customer_results_sorted_by_the_engine_come_back_as_python_sorts_the_ids_as_text(ids, from_engine):
    """repeat_summary and most_frequent_values make the ids text, then sort them: the engine's sort
    (ordered_by_id with text) gives that order, whole-number ids included ("10" before "9")."""
    from segkit.features import most_frequent_values
    from segkit.models.repeat_summary import repeat_summary

    rows = [(i, f"o{n}{k}", f"2024-01-0{1 + (n + 2 * k) % 9}", 1.0 + n, f"c{k % 2}")
            for n, i in enumerate(ids) for k in range(3)]
    tx = pd.DataFrame(rows, columns=["customer_id", "order_id", "ordered_at", "amount", "category"])
    tx["ordered_at"] = pd.to_datetime(tx["ordered_at"])
    tx = tx.sample(frac=1, random_state=2).reset_index(drop=True)
    con = connect()
    lines = con.create_table("lines", tx) if from_engine else tx
    expected = sorted(str(i) for i in ids)
    summary = repeat_summary(con, lines, dt.date(2024, 1, 31))
    assert summary["customer_id"].tolist() == expected and list(summary.index) == list(range(len(ids)))
    assert summary["x"].tolist() == [2] * len(ids)  # three purchase days each: two repeats
    favourite = most_frequent_values(con, lines, ["category"])
    assert favourite["customer_id"].tolist() == expected and favourite["category"].notna().all()


def test_sorted_by_id_sorts_what_an_engine_left_unsorted_and_numbers_the_rows():
    from segkit.intake.engines import sorted_by_id

    frame = pd.DataFrame({"customer_id": ["b", "a", "c"], "v": [2, 1, 3]}, index=[5, 6, 7])
    assert sorted_by_id(frame).to_dict("list") == {"customer_id": ["a", "b", "c"], "v": [1, 2, 3]}
    assert list(sorted_by_id(frame).index) == [0, 1, 2]
    ready = pd.DataFrame({"customer_id": ["a", "b"], "v": [1, 2]}, index=[3, 9])
    assert list(sorted_by_id(ready).index) == [0, 1] and sorted_by_id(ready)["v"].tolist() == [1, 2]
