"""`cleaning.customer_ids` gives the same customers, fixes and notes on PostgreSQL and Spark as in the
embedded engine: the ids are read by one Ibis expression wherever the rows are (segkit.intake.ids), and a
database's customer table joins the ids as read."""

import datetime as dt
import importlib.util
import json
import os

import pandas as pd
import pytest

import segkit
from ledger_check import assert_every_row_accounted, clean_checked, text
from pg_server import load_table, start_server
from segkit.intake.cleaning import clean_transactions
from segkit.params import Cleaning, validate_params
from test_customer_ids import ALL, AS_OF, ROWS, features

pytestmark = pytest.mark.slow

TYPES = {"source_row": "bigint", "customer_id": "text", "order_id": "text", "ordered_at": "timestamp",
         "amount": "double precision"}
# a few more spellings: a Hong Kong number among Chinese ones, an id in mixed case with a digit
MORE = [("+852 9123 4567", "O20", "2024-06-01", "5"), ("9123 4567", "O21", "2024-06-02", "6"),
        ("Bob.Lee@X.com", "O22", "2024-06-03", "7"), ("bob.lee@x.COM", "O23", "2024-06-04", "8")]
SETTINGS = [{}, {"case": "fold"}, {"phone": True}, ALL]


def typed(rows) -> pd.DataFrame:
    return text(rows).assign(ordered_at=lambda f: pd.to_datetime(f["ordered_at"]),
                             amount=lambda f: f["amount"].astype("float64"))


def outcome(result) -> dict:
    clean = result.clean
    return {"clean": clean[["source_row", "customer_id", "fixes", "raw_customer_id"]
                           if "raw_customer_id" in clean.columns else ["source_row", "customer_id", "fixes"]],
            "ledger": result.ledger, "features": features(result),
            "notes": [n for n in result.notes if n["key"].startswith("ids_")]}


def same(got: dict, wanted: dict, engine: str) -> None:
    pd.testing.assert_frame_equal(got["clean"].fillna(""), wanted["clean"].fillna(""), check_dtype=False, obj=engine)
    pd.testing.assert_frame_equal(got["ledger"], wanted["ledger"], obj=engine)
    pd.testing.assert_frame_equal(got["features"], wanted["features"], check_dtype=False, obj=engine)
    assert got["notes"] == wanted["notes"], engine


@pytest.fixture(scope="module")
def pg():
    server = start_server()
    try:
        with server.connect() as con:
            con.execute("CREATE DATABASE shop")
        with server.connect("shop") as con:
            load_table(con, "orders", typed([*ROWS, *MORE]), TYPES)
            members = pd.DataFrame({"customer_id": ["+86-138-0013-8000", "BOB.LEE@x.com"], "level": ["金卡", "银卡"]})
            load_table(con, "members", members, {"customer_id": "text", "level": "text"})
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("setting", SETTINGS)
def test_postgresql_reads_the_ids_as_the_embedded_engine_does(pg, setting):
    database = {"url": pg.url(), "table": "orders", "columns": {"source_row": "source_row"}}
    intake = segkit.load_source(validate_params({"source": {"kind": "database", "database": database}}).source)
    result = clean_transactions(intake.engine, intake.transactions, as_of=AS_OF,
                                rules=Cleaning(customer_ids=setting))
    assert result.in_database and result.table.get_backend().name == "postgres"
    assert_every_row_accounted(result, range(2, len(ROWS) + len(MORE) + 2))
    same(outcome(result), outcome(clean_checked(typed([*ROWS, *MORE]), AS_OF, customer_ids=setting)), "postgres")


def test_a_database_customer_table_joins_the_ids_as_read(pg, tmp_path):
    from segkit.intake.cleaning import clean_and_save

    database = {"url": pg.url(), "table": "orders", "columns": {"source_row": "source_row"},
                "customers": {"table": "members", "columns": {"customer_id": "customer_id", "member_level": "level"}}}
    p = validate_params({"source": {"kind": "database", "database": database}, "cleaning": {"customer_ids": ALL}})
    clean_and_save(segkit.load_source(p.source), tmp_path, as_of=AS_OF, rules=p.cleaning)
    levels = pd.read_parquet(tmp_path / "customers.parquet").set_index("customer_id")["member_level"]
    assert levels[["13800138000", "bob.lee@x.com"]].tolist() == ["金卡", "银卡"]
    join = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))["join"]
    assert join["customers_without_transactions"] == 0


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    if importlib.util.find_spec("pyspark") is None:
        pytest.skip("pyspark is not installed: pip install 'segkit[spark]'")
    from segkit.intake.sources import spark_session
    from segkit.params import Spark
    from test_spark import SETTINGS as SPARK_SETTINGS

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    warehouse = tmp_path_factory.mktemp("spark-warehouse")
    session = spark_session(Spark(master="local[2]", path="unused.parquet",
                                  config={**SPARK_SETTINGS, "spark.sql.warehouse.dir": str(warehouse)}))
    session.sparkContext.setLogLevel("ERROR")
    yield session


@pytest.mark.xdist_group("spark")
def test_spark_reads_the_ids_as_the_embedded_engine_does(spark, tmp_path):
    path = tmp_path / "orders.parquet"
    typed([*ROWS, *MORE]).rename(columns={"source_row": "line"}).to_parquet(path, index=False)
    source = validate_params({"source": {"kind": "spark", "spark": {"existing": True, "path": str(path),
                                                                      "columns": {"source_row": "line"}}}}).source
    intake = segkit.load_source(source)
    for setting in (SETTINGS[0], ALL):
        result = clean_transactions(intake.engine, intake.transactions, as_of=AS_OF,
                                    rules=Cleaning(customer_ids=setting))
        assert result.table.get_backend().name == "pyspark"
        same(outcome(result), outcome(clean_checked(typed([*ROWS, *MORE]), AS_OF, customer_ids=setting)), "spark")
