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
