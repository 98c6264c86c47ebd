"""01's queries read the lines fewer times (issue 15) and give what the plain formulations give:
copies found in two passes, the monthly activity summed per order first, the repeat-buying summary's
first-day spend by DuckDB's arg_min, and the text fixes of a typed file read only for its text columns."""

import datetime as dt
from decimal import Decimal

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import segkit.intake.typed_files as typed_files
import segkit.models.repeat_summary as repeat_module
from segkit.intake import cleaning
from segkit.intake.sources import connect
from segkit.monthly.activity import monthly_activity_expr


def _lines(rng: np.random.Generator, n: int = 400, decimal: bool = True) -> pa.Table:
    """Order lines of a few customers: orders of several lines, orders with lines in two months,
    lines without an order number, text ids; amounts exact (DECIMAL) or floats."""
    customers = rng.choice(["a", "b", "c", "10", "9", "x y"], n)
    orders = rng.choice(["o1", "o2", "o3", "o4", None], n)
    days = pd.Timestamp("2024-01-28") + pd.to_timedelta(rng.integers(0, 70, n), unit="D")
    cents = rng.integers(-500, 5000, n)
    amount = (pa.array([Decimal(int(c)) / 100 for c in cents], pa.decimal128(18, 2)) if decimal
              else pa.array(cents / 100.0))
    return pa.table({"source_row": np.arange(1, n + 1), "customer_id": customers,
                     "order_id": pa.array(orders, pa.string()), "ordered_at": days.to_numpy(), "amount": amount})


@pytest.mark.parametrize("decimal", [True, False])
def test_monthly_activity_equals_distinct_orders_and_exact_sums(decimal):
    """Per customer and month: the distinct order numbers (a missing one is not an order) and the
    revenue, whether the amounts are exact (summed per order first) or floats."""
    rows = _lines(np.random.default_rng(5), decimal=decimal)
    con = connect()
    got = con.to_pandas(monthly_activity_expr(con.create_table("lines", rows))).sort_values(
        ["customer_id", "month"]).reset_index(drop=True)
    frame = rows.to_pandas()
    frame["month"] = frame["ordered_at"].dt.to_period("M").dt.start_time.dt.date
    frame["exact"] = frame["amount"].map(Decimal) if decimal else frame["amount"]
    want = frame.groupby(["customer_id", "month"]).agg(orders=("order_id", "nunique"), revenue=("exact", "sum"))
    want = want.reset_index()
    assert len(got) == len(want) > 20
    assert got["orders"].tolist() == want["orders"].tolist()
    assert (want["orders"] < frame.groupby(["customer_id", "month"]).size().to_numpy()).any()  # lines > orders
    assert (pd.to_datetime(got["month"]).dt.date.tolist()) == want["month"].tolist()
    expected = [float(v) for v in want["revenue"]]
    if decimal:  # exact sums, one rounding: equal floats
        assert got["revenue"].tolist() == expected
    else:
        np.testing.assert_allclose(got["revenue"], expected, rtol=1e-12)


@pytest.mark.parametrize("observation_end", [None, dt.date(2024, 4, 30)])
def test_first_day_spend_by_arg_min_equals_the_join(monkeypatch, observation_end):
    """The repeat-buying summary with the first day's spend from arg_min (DuckDB) equals the same
    summary with it joined back (the path of engines without arg_min)."""
    rows = _lines(np.random.default_rng(8), n=600)
    table = connect().create_table("lines_rs", rows)
    summary = repeat_module.repeat_summary(None, table, dt.date(2024, 3, 10), observation_end)
    monkeypatch.setattr(repeat_module, "_has_arg_min", lambda table: False)
    joined = repeat_module.repeat_summary(None, table, dt.date(2024, 3, 10), observation_end)
    pd.testing.assert_frame_equal(summary, joined)
    assert (summary["mean_repeat_spend"] != 0).sum() > 3 and summary["x"].max() > 2


def test_rows_without_copies_are_their_own_first_rows(monkeypatch):
    """With no two rows alike, each row is its own first row in every grouping, and only the one
    counting pass reads the rows (no second pass for candidates)."""
    frame = pd.DataFrame({"source_row": [3, 1, 2, 4], "customer_id": ["a", "b", "c", None],
                          "amount": [1.0, 2.0, None, 4.0]})
    table = connect().create_table("distinct_rows", frame)
    reads = []
    original = ibis.memtable
    monkeypatch.setattr(cleaning.ibis, "memtable", lambda *a, **k: reads.append(1) or original(*a, **k))
    got = cleaning._with_first_rows(table, {"_line_first": [table.customer_id],
                                            "_exact_first": [table.customer_id, table.amount]}).to_pandas()
    assert not reads
    got = got.sort_values("source_row")
    assert got["_line_first"].tolist() == got["source_row"].tolist() == got["_exact_first"].tolist() == [1, 2, 3, 4]


def test_typed_file_text_fixes_read_only_its_text_columns(tmp_path, monkeypatch):
    """Ids typed as whole numbers in the file are never examined for text fixes (no fix changes the
    text of a whole number); a text column still is, and its fixes are made."""
    path = tmp_path / "lines.parquet"
    pd.DataFrame({"cust": pd.array([17, 17, 5, -3], dtype="int64"), "order": pd.array([1, 2, 3, 4], dtype="int64"),
                  "day": pd.to_datetime(["2024-01-05", "2024-02-01", "2024-03-03", "2024-03-04"]),
                  "total": [10.0, 20.5, 7.25, 3.0], "cat": ["Books ", "Books", "Toys", "Toys"]}).to_parquet(path)
    seen = []
    original = typed_files._changed_values
    monkeypatch.setattr(typed_files, "_changed_values", lambda table, column: seen.append(column) or original(table, column))
    con = connect()
    table, _ = typed_files.engine_transactions(con, path, "parquet", {"customer_id": "cust", "order_id": "order",
                                                              "ordered_at": "day", "amount": "total",
                                                              "category": "cat"}, str(path))
    got = table.order_by("source_row").to_pandas()
    assert seen == ["category"]
    # the ids stay the file's numbers (every query of the input reads integers) ...
    assert got["customer_id"].tolist() == [17, 17, 5, -3] and got["order_id"].tolist() == [1, 2, 3, 4]
    assert got["category"].tolist() == ["Books", "Books", "Toys", "Toys"]
    assert got["fixes"].tolist()[0] != "" and set(got["fixes"].tolist()[1:]) == {""}
    # ... and cleaning writes them as text, as every source's
    clean = cleaning.clean_transactions(None, table, as_of=dt.date(2024, 12, 31)).clean
    assert clean["customer_id"].tolist() == ["17", "17", "5", "-3"] and clean["order_id"].tolist() == ["1", "2", "3", "4"]


@pytest.mark.parametrize("listed", [20_000, 0])
def test_copies_found_by_a_list_of_hashes_or_a_join_agree(monkeypatch, listed):
    """The rows that share a hash are fetched by a filter on the list of hashes (few) or by a join
    (many): the same first rows either way, and the judged rows keep no row hash (`content`)."""
    frame = pd.DataFrame({"source_row": np.arange(1, 201),
                          "customer_id": np.repeat(["a", "b", "c", "d"], 50),
                          "amount": np.tile([1.0, 2.0, 2.0, None, 5.0], 40)})
    frame["content"] = frame.groupby(["customer_id", "amount"], dropna=False).ngroup() * 31 + 1
    monkeypatch.setattr(cleaning, "_LISTED_DIGESTS", listed)
    table = connect().create_table(f"listed_{listed}", frame)
    got = cleaning._with_first_rows(table, {"_line_first": [table.customer_id],
                                            "_exact_first": [table.content]}).to_pandas().sort_values("source_row")
    for name, key in {"_line_first": ["customer_id"], "_exact_first": ["customer_id", "amount"]}.items():
        assert got[name].tolist() == frame.groupby(key, dropna=False)["source_row"].transform("min").tolist(), name
    judged = cleaning.judge(table.mutate(ordered_at=ibis.timestamp("2024-01-01 10:00:00")), dt.date(2024, 12, 31),
                            cleaning.Cleaning())
    assert "content" not in judged.columns and "source_row" in judged.columns
