"""The history store: months written in one transaction under a lock, replaced whole, read with plain DuckDB."""

import datetime as dt
import multiprocessing

import duckdb
import pandas as pd
import pytest

from segkit.errors import DataError
from segkit.monthly.history import months_written, previous_month_classes, read_history, write_month


def profile(ids, segment, cluster=0):
    return pd.DataFrame({"customer_id": ids, "segment": segment, "cluster": cluster, "r_score": 3,
                         "revenue": [10.0 * (i + 1) for i in range(len(ids))],
                         "tags": [["vip", "online"]] * len(ids)})


def test_months_are_written_replaced_whole_and_readable_with_plain_duckdb(tmp_path):
    path = tmp_path / "history.duckdb"
    write_month(path, "shop", dt.date(2024, 1, 31), profile(["a", "b"], "champions"), {"customers": 2, "revenue": 30.0})
    write_month(path, "shop", dt.date(2024, 2, 29), profile(["a", "b", "c"], "loyal"), {"customers": 3, "note": "x"})
    assert months_written(path, "shop") == [dt.date(2024, 1, 1), dt.date(2024, 2, 1)]
    # a rerun of February replaces February's rows only
    write_month(path, "shop", dt.date(2024, 2, 29), profile(["a", "c"], "at_risk", cluster=2), {"customers": 2})
    with duckdb.connect(str(path), read_only=True) as con:
        per_month = dict(con.execute("SELECT month, count(*) FROM assignments GROUP BY month").fetchall())
        assert per_month == {dt.date(2024, 1, 1): 2, dt.date(2024, 2, 1): 2}
        assert con.execute("SELECT DISTINCT segment, cluster, tags FROM assignments WHERE month = '2024-02-01'"
                           ).fetchall() == [("at_risk", 2, "vip+online")]
        kpis = con.execute("SELECT month, name, value FROM kpis ORDER BY ALL").fetchall()
    assert kpis == [(dt.date(2024, 1, 1), "customers", 2.0), (dt.date(2024, 1, 1), "revenue", 30.0),
                    (dt.date(2024, 2, 1), "customers", 2.0)]  # the text KPI is not a number: left out
    history = read_history(path, "shop")
    assert history["runs"]["customers"].tolist() == [2, 2] and history["assignments"]["clv"].isna().all()
    before = previous_month_classes(path, "shop", dt.date(2024, 2, 1))
    assert before["segment"].tolist() == ["champions", "champions"]
    assert previous_month_classes(path, "shop", dt.date(2024, 1, 1)) is None  # December is not there
    assert read_history(tmp_path / "none.duckdb")["assignments"].empty


def test_a_failed_write_leaves_the_history_as_it_was(tmp_path):
    path = tmp_path / "history.duckdb"
    write_month(path, "shop", dt.date(2024, 1, 31), profile(["a", "b"], "champions"), {"customers": 2})
    before = path.read_bytes()
    with pytest.raises(DataError, match="appears twice"):
        write_month(path, "shop", dt.date(2024, 1, 31), profile(["a", "a"], "lost"), {"customers": 2})
    assert read_history(path)["assignments"]["segment"].tolist() == ["champions", "champions"]
    assert path.read_bytes() == before
    # a failure inside the transaction, after the month's old rows were deleted: rolled back
    with pytest.raises(duckdb.ConversionException):
        write_month(path, "shop", dt.date(2024, 1, 31), profile(["a", "b"], "lost", cluster="not a number"), {})
    history = read_history(path)
    assert history["assignments"]["segment"].tolist() == ["champions", "champions"]
    assert history["kpis"]["value"].tolist() == [2.0]


def _write(path, month_end, ids):
    write_month(path, "shop", month_end, profile(ids, "loyal"), {"customers": len(ids)})


def test_two_months_written_at_once_wait_their_turn(tmp_path):
    path = tmp_path / "history.duckdb"
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_write, args=(path, dt.date(2024, m, 28), [f"c{i}" for i in range(2000)]))
               for m in (1, 2, 3)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(120)
    assert [w.exitcode for w in writers] == [0, 0, 0]
    assert months_written(path, "shop") == [dt.date(2024, m, 1) for m in (1, 2, 3)]
    assert len(read_history(path)["assignments"]) == 6000


def test_a_history_with_the_old_keyed_assignments_is_rebuilt_without_losing_a_row(tmp_path):
    # segkit before 0.2 made `assignments` with PRIMARY KEY (run_name, month, customer_id): DuckDB's index
    # made committing a replaced month of 1M customers take 40 s; the next write rebuilds the table unkeyed
    path = tmp_path / "history.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE assignments (run_name VARCHAR NOT NULL, month DATE NOT NULL, customer_id VARCHAR "
                    "NOT NULL, segment VARCHAR, rfm_class VARCHAR, cluster INTEGER, r_score INTEGER, f_score INTEGER, "
                    "m_score INTEGER, frequency_tier VARCHAR, monetary_tier VARCHAR, clv_tier VARCHAR, tags VARCHAR, "
                    "revenue DOUBLE, clv DOUBLE, p_alive DOUBLE, PRIMARY KEY (run_name, month, customer_id))")
        con.execute("INSERT INTO assignments (run_name, month, customer_id, segment, revenue) VALUES "
                    "('shop', '2024-01-01', 'a', 'champions', 5.0), ('shop', '2024-01-01', 'b', 'lost', 7.5)")
    write_month(path, "shop", dt.date(2024, 2, 29), profile(["a", "c"], "loyal"), {"customers": 2})
    write_month(path, "shop", dt.date(2024, 2, 29), profile(["c"], "at_risk"), {"customers": 1})  # replaced whole
    assignments = read_history(path, "shop")["assignments"]
    assert assignments[["month", "customer_id", "segment", "revenue"]].astype(str).values.tolist() == [
        ["2024-01-01", "a", "champions", "5.0"], ["2024-01-01", "b", "lost", "7.5"], ["2024-02-01", "c", "at_risk", "10.0"]]
    with duckdb.connect(str(path), read_only=True) as con:
        keys = con.execute("SELECT table_name FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY' "
                           "ORDER BY ALL").fetchall()
        tables = con.execute("SELECT table_name FROM duckdb_tables() ORDER BY ALL").fetchall()
    assert keys == [("kpis",), ("runs",)] and tables == [("assignments",), ("kpis",), ("runs",)]


def test_last_months_classes_can_be_read_without_the_other_columns(tmp_path):
    path = tmp_path / "history.duckdb"
    write_month(path, "shop", dt.date(2024, 1, 31), profile(["b", "a"], "champions", cluster=3), {"customers": 2})
    found = previous_month_classes(path, "shop", dt.date(2024, 2, 1), ["segment", "cluster"])
    assert found.columns.tolist() == ["customer_id", "segment", "cluster"]
    assert found.values.tolist() == [["a", "champions", 3], ["b", "champions", 3]]
    everything = previous_month_classes(path, "shop", dt.date(2024, 2, 1))
    assert everything[["customer_id", "segment", "cluster"]].equals(found)
    with pytest.raises(ValueError, match="no column secret"):
        previous_month_classes(path, "shop", dt.date(2024, 2, 1), ["segment", "secret"])


def test_a_stage_profile_is_written_as_its_typed_columns_say(tmp_path):
    """A profile as the stages hold it (text columns in Arrow, tags already joined, whole-number ids, no
    cluster or CLV): every value written as it is, the classes it lacks NULL, nothing read back as text."""
    path = tmp_path / "history.duckdb"
    frame = pd.DataFrame({"customer_id": [10, 9, 100], "segment": pd.array(["champions", None, "lost"], dtype="str"),
                          "r_score": [5, 1, 2], "revenue": [12.5, 0.25, 3.0],
                          "tags": pd.array(["vip+online", "", None], dtype="str")})
    assert write_month(path, "shop", dt.date(2024, 1, 31), frame, {"customers": 3}) == 3
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute("SELECT run_name, month, customer_id, segment, r_score, revenue, tags, cluster, clv "
                           "FROM assignments ORDER BY revenue").fetchall()
    assert rows == [("shop", dt.date(2024, 1, 1), "9", None, 1, 0.25, "", None, None),
                    ("shop", dt.date(2024, 1, 1), "100", "lost", 2, 3.0, None, None, None),
                    ("shop", dt.date(2024, 1, 1), "10", "champions", 5, 12.5, "vip+online", None, None)]
    with pytest.raises(DataError, match="customer '10' appears twice"):
        write_month(path, "shop", dt.date(2024, 2, 29), frame.assign(customer_id=[10, 9, 10]), {"customers": 3})
