"""Partial refunds written on the order line (`refund_amount`): a line counts at its amount less its
refund, a line refunded in full is no purchase, a refund it cannot have is set aside; the same on
every path the cleaning runs on (a CSV read in the engine, its text read there, a frame read in
pandas, a typed Parquet file, PostgreSQL).

The expected figures are worked out by hand from SHOP below."""

import datetime as dt
from decimal import Decimal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ledger_check import assert_every_row_accounted, text
from segkit.features import customer_features
from segkit.i18n import t
from segkit.intake.cleaning import clean_transactions, quarantine_sample
from segkit.intake.sources import connect, load_source
from segkit.params import Cleaning, Currency, Source
from segkit.report.html import say_each
from test_detail_text import assert_reads_in_chinese

AS_OF = dt.date(2025, 3, 31)
HEADER = "订单号,会员ID,下单时间,金额,退款金额,订单状态"
COLUMNS = {"order_id": "订单号", "customer_id": "会员ID", "ordered_at": "下单时间", "amount": "金额",
           "refund_amount": "退款金额", "status": "订单状态"}
# (file line, order, customer, date, amount, refund, status)
SHOP = [
    (2, "SO1", "A", "2025-03-01 10:00", "200.00", "75.00", "部分退款"),   # used at 125.00 (refund_netted)
    (3, "SO1", "A", "2025-03-01 10:00", "50.00", "", "已完成"),           # used as it is: no refund
    (4, "SO2", "A", "2025-03-05 12:00", "80.00", "80.00", "已退款"),      # refunded in full, its order's only line
    (5, "SO3", "B", "2025-03-02 09:00", "300.00", "300.00", "已退款"),    # refunded in full, the rest of SO3 stays
    (6, "SO3", "B", "2025-03-02 09:00", "40.00", "0.00", "已完成"),       # a refund of 0 is none
    (7, "SO4", "C", "2025-03-03 09:00", "100.00", "250.00", "部分退款"),  # more than the line: bad data
    (8, "SO5", "C", "2025-03-04 09:00", "60.00", "-5.00", "部分退款"),    # below zero: bad data
    (9, "SO6", "D", "2025-03-06 09:00", "99.99", "0.01", "部分退款"),     # used at 99.98
]
NET = {2: Decimal("125.00"), 3: Decimal("50.00"), 6: Decimal("40.00"), 9: Decimal("99.98")}
ASIDE = {4: "refunded_order", 5: "return", 7: "implausible_refund", 8: "implausible_refund"}
NOTE = {"key": "refunds_netted", "lines": 2, "refunded": 75.01, "whole_lines": 2, "whole_refunded": 380.0,
        "implausible": 2}
CNY = Currency(code="CNY", symbol="¥", minor_unit=2)


def csv_text(money=lambda value: value, rows=SHOP) -> str:
    lines = [HEADER] + [",".join([order, customer, date, money(amount), money(refund), status])
                        for _, order, customer, date, amount, refund, status in rows]
    return "\n".join(lines) + "\n"


def yuan(value: str) -> str:
    """A value as a Chinese shop export writes money: with the yuan sign (text the engine reads)."""
    return f"¥{value}" if value[:1].isdigit() else value


def file_source(tmp_path, content: str, name="orders.csv", columns=COLUMNS):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return load_source(Source.model_validate({"kind": "file", "transactions": {"path": str(path), "columns": columns}}))


def clean(intake, **rules):
    result = clean_transactions(intake.engine, intake.transactions, as_of=AS_OF, rules=Cleaning(**rules))
    assert_every_row_accounted(result, intake.transactions)
    return result


def outcome(result) -> tuple[dict, dict]:
    """The clean rows' amounts, exact (source_row -> Decimal), and the rows set aside (source_row -> rule)."""
    rows = result.table.select("source_row", "amount").to_pyarrow().to_pylist()
    used = {int(r["source_row"]): r["amount"] for r in rows}
    return used, dict(zip(result.quarantine["source_row"].astype(int), result.quarantine["reason"]))


def note(result, key="refunds_netted") -> dict | None:
    return next((n for n in result.notes if n["key"] == key), None)


def assert_the_shop_is_netted(result, column="退款金额"):
    used, aside = outcome(result)
    assert used == NET
    assert aside == ASIDE
    assert sum(used.values()) == Decimal("314.98")  # exact: 929.99 in, less 75.01 + 380.00 refunded, less 160 aside
    said = note(result)
    assert said == {**NOTE, "column": column}
    fixed = result.ledger.set_index(["outcome", "rule"])["rows"]
    assert fixed[("fixed", "refund_netted")] == 2
    assert fixed[("set_aside", "implausible_refund")] == 2


def test_a_partial_refund_nets_the_line_and_a_full_one_is_no_purchase(tmp_path):
    result = clean(file_source(tmp_path, csv_text()))
    assert_the_shop_is_netted(result)
    f = customer_features(None, result.table, result.as_of).set_index("customer_id")
    assert f.loc["A", "revenue"] == pytest.approx(175.00)  # 125 + 50; SO2, refunded in full, was no purchase
    assert f.loc["A", "orders"] == 1  # SO2 counts as no order ...
    assert f.loc["A", "recency_days"] == (AS_OF - dt.date(2025, 3, 1)).days  # ... and dates no purchase
    assert f.loc["B", "revenue"] == pytest.approx(40.00)
    assert f.loc["D", "revenue"] == pytest.approx(99.98)
    assert "C" not in f.index  # both of C's lines carry a refund they cannot have
    details = result.quarantine.set_index("source_row")["detail"]
    assert details[7] == '退款金额 "250" is more than the line\'s amount, "100": a line refunds at most its amount ' \
                         "(the order's refund on each of its lines?)"
    assert details[8].startswith('退款金额 "-5" is a negative refund')
    assert details[4].endswith('cancelled in full, not a purchase: order "SO2"')
    assert details[5].endswith('not a purchase (the rest of the order stays): order "SO3"')
    assert result.quarantine.set_index("source_row")["refund_amount"][7] == 250.0
    assert quarantine_sample(result.quarantine, "zh").set_index("source_row")["refund_amount"][7] == "250"
    assert_reads_in_chinese(result.quarantine["detail"].dropna().unique(), result.quarantine.attrs["columns"])


def test_the_refund_column_is_read_from_text_as_the_amount_is(tmp_path):
    # ¥ signs: both money columns are read from their text in the engine (segkit.intake.engine_parsing)
    extra = (10, "SO7", "D", "2025-03-07 09:00", "10.00", "abc", "部分退款")
    result = clean(file_source(tmp_path, csv_text(yuan, SHOP + [extra])))
    used, aside = outcome(result)
    assert used == NET and aside == {**ASIDE, 10: "unreadable_amount"}
    detail = result.quarantine.set_index("source_row")["detail"][10]
    assert detail.startswith('退款金额 "abc" is not a number')
    assert_reads_in_chinese(result.quarantine["detail"].dropna().unique(), result.quarantine.attrs["columns"])
    assert note(result) == {**NOTE, "column": "退款金额"}
    assert "raw_refund_amount" in result.quarantine.columns
    assert quarantine_sample(result.quarantine, "zh").set_index("source_row")["raw_refund_amount"][10] == "abc"


def test_a_frame_read_in_pandas_nets_the_same(tmp_path):
    rows = [(order, customer, date, amount, refund, status) for _, order, customer, date, amount, refund, status in SHOP]
    tx = text(rows, columns=("order_id", "customer_id", "ordered_at", "amount", "refund_amount", "status"))
    tx.attrs["columns"] = dict(COLUMNS)
    result = clean_transactions(connect(), tx, as_of=AS_OF)
    assert_every_row_accounted(result, tx)
    assert_the_shop_is_netted(result)


def shop_table(refund_type=pa.float64()) -> pa.Table:
    def number(value):
        return None if value == "" else float(value)

    return pa.table({
        "line": pa.array([r[0] for r in SHOP], pa.int64()),
        "订单号": [r[1] for r in SHOP], "会员ID": [r[2] for r in SHOP],
        "下单时间": pa.array(pd.to_datetime([r[3] for r in SHOP]), pa.timestamp("us")),
        "金额": pa.array([number(r[4]) for r in SHOP], pa.float64()),
        "退款金额": pa.array([number(r[5]) for r in SHOP], refund_type),
        "订单状态": [r[6] for r in SHOP]})


def test_a_typed_parquet_file_read_in_place_nets_the_same(tmp_path):
    path = tmp_path / "orders.parquet"
    pq.write_table(shop_table().drop_columns(["line"]), path)
    intake = load_source(Source.model_validate({"kind": "file", "transactions": {"path": str(path), "columns": COLUMNS}}))
    assert not isinstance(intake.transactions, pd.DataFrame)  # read in place by the engine
    result = clean(intake)
    used, aside = outcome(result)
    # a Parquet file numbers its rows from 1: file line n is row n - 1
    assert used == {row - 1: amount for row, amount in NET.items()}
    assert aside == {row - 1: rule for row, rule in ASIDE.items()}
    assert note(result) == {**NOTE, "column": "退款金额"}


def test_an_unreadable_or_infinite_refund_is_set_aside_naming_its_column(tmp_path):
    table = pa.table({"order_id": ["O1", "O2", "O3"], "customer_id": ["A", "A", "B"],
                      "ordered_at": pa.array(pd.to_datetime(["2025-03-01"] * 3), pa.timestamp("us")),
                      "amount": [10.0, 20.0, 30.0], "Refund": [float("inf"), 1e15, 5.0]})
    path = tmp_path / "orders.parquet"
    pq.write_table(table, path)
    intake = load_source(Source.model_validate({"kind": "file", "transactions": {"path": str(path),
                                                                                  "columns": {"refund_amount": "Refund"}}}))
    result = clean(intake, max_amount=1e12)
    used, aside = outcome(result)
    assert used == {3: Decimal("25.00")}
    assert aside == {1: "non_finite_amount", 2: "implausible_amount"}
    details = result.quarantine.set_index("source_row")["detail"]
    assert details[1].startswith('Refund "') and details[1].endswith("is not a finite number")
    assert details[2].startswith('Refund "') and "cleaning.max_amount" in details[2]
    assert_reads_in_chinese(details.dropna().unique(), result.quarantine.attrs["columns"])


def test_a_line_marked_as_a_return_keeps_that_treatment_and_its_refund_is_not_taken_twice(tmp_path):
    result = clean(file_source(tmp_path, csv_text()), returns={"status_values": ["已退款"]})
    used, aside = outcome(result)
    assert used == NET  # the lines 已退款 marks are the purchases refunded: set aside by their status
    assert aside == ASIDE
    said = note(result)
    assert (said["lines"], said["whole_lines"], said["implausible"]) == (2, 0, 2)  # status-marked: not the column's


def test_a_partial_refund_status_listed_as_a_return_is_said_to_cancel_the_whole_line(tmp_path):
    result = clean(file_source(tmp_path, csv_text()), returns={"status_values": ["已退款", "部分退款"]})
    assert note(result, "partial_refunds_listed") == {"key": "partial_refunds_listed", "count": 1, "values": "部分退款"}
    assert "lists 1 status that looks like a partial refund (部分退款)" in say_each(result.messages(), "en").markup
    assert "列出了 1 种看起来是部分退款的状态" in say_each(result.messages(), "zh").markup
    assert note(clean(file_source(tmp_path, csv_text()), returns={"status_values": ["已退款"]}),
                "partial_refunds_listed") is None


def test_the_refunds_note_reads_in_english_and_chinese_in_the_runs_currency(tmp_path):
    result = clean(file_source(tmp_path, csv_text()))
    en = say_each(result.messages(), "en", currency=CNY).markup
    zh = say_each(result.messages(), "zh", currency=CNY).markup
    assert "2 lines were refunded in part and count at the amount less the refund, ¥75.01 refunded in all" in en
    assert "2 lines were refunded in full (¥380.00)" in en and "2 lines have a refund below zero" in en
    assert "2 行为部分退款" in zh and "共退款 ¥75.01" in zh and "全额退款（¥380.00）" in zh
    one = t("cleaning.note.refunds_netted", "en", column="Refund", lines=1, refunded=3.5, whole_lines=1,
            whole_refunded=2.0, implausible=1)
    assert "1 line was refunded in part and counts at" in one and "1 line was refunded in full" in one
    assert "1 line has a refund below zero or above the line's amount and was set aside" in one


def test_the_status_note_points_to_the_refund_column_when_it_is_not_mapped(tmp_path):
    columns = {k: v for k, v in COLUMNS.items() if k != "refund_amount"}
    result = clean(file_source(tmp_path, csv_text(), columns=columns))
    said = note(result, "statuses_not_listed")
    assert "已退款" in said["returns"] and "部分退款" not in said["returns"]  # never suggested as a return
    assert '"部分退款" (4)' in said["partial_words"]["en"] and "refund_amount" in said["partial_words"]["en"]
    assert '"部分退款" (4)' in said["partial_words"]["zh"] and "refund_amount" in said["partial_words"]["zh"]
    en = say_each(result.messages(), "en").markup
    assert "1 status looks like a partial refund" in en
    assert "有 1 种状态看起来是部分退款" in say_each(result.messages(), "zh").markup
    assert note(result) is None  # nothing netted: revenue holds the refunds
    assert sum(outcome(result)[0].values()) == Decimal("929.99")  # every line at its amount as bought

    # the lists set: an unlisted partial refund still gets the note, with the same pointer
    listed = clean(file_source(tmp_path, csv_text(), columns=columns), returns={"status_values": ["已退款"]})
    assert "refund_amount" in note(listed, "statuses_unlisted")["partial_words"]["en"]
    # mapped, the refund column counts it: no note for it, and none of a hint where one is given
    mapped = clean(file_source(tmp_path, csv_text()), returns={"status_values": ["已退款"]})
    assert note(mapped, "statuses_unlisted") is None
    assert note(clean(file_source(tmp_path, csv_text())), "statuses_not_listed")["partial_words"] == {"en": "", "zh": ""}


@pytest.mark.slow
def test_postgresql_nets_the_same_in_the_database():
    from pg_server import load_table, start_server

    server = start_server()
    try:
        with server.connect() as con:
            con.execute("CREATE DATABASE shop")
        with server.connect("shop") as con:
            load_table(con, "orders", shop_table().to_pandas(),
                       {"line": "integer", "订单号": "text", "会员ID": "text", "下单时间": "timestamp",
                        "金额": "numeric(12,2)", "退款金额": "numeric(12,2)", "订单状态": "text"})
        intake = load_source(Source.model_validate({"kind": "database", "database": {
            "url": server.url(), "table": "orders", "columns": {**COLUMNS, "source_row": "line"}}}))
        assert intake.in_database
        result = clean(intake)
        used, aside = outcome(result)
        assert used == NET and aside == ASIDE
        assert note(result) == {**NOTE, "column": "退款金额"}
        details = result.quarantine.set_index("source_row")["detail"]
        assert details[7].startswith('退款金额 "250" is more than the line\'s amount, "100"')
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.xdist_group("spark")  # the worker of tests/test_spark.py: one SparkSession a process
def test_spark_nets_the_same_as_the_embedded_engine(tmp_path):
    pytest.importorskip("pyspark")
    import os

    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    path = tmp_path / "orders.parquet"
    pq.write_table(shop_table(), path)
    running = SparkSession.getActiveSession()  # tests/test_spark.py's, when it ran first: left as it is
    config = {"spark.ui.enabled": False, "spark.ui.showConsoleProgress": False, "spark.sql.shuffle.partitions": 2,
              "spark.driver.bindAddress": "127.0.0.1", "spark.sql.warehouse.dir": str(tmp_path / "warehouse"),
              "spark.sql.codegen.wholeStage": False, "spark.sql.adaptive.enabled": False}
    spark = {"path": str(path), "columns": {**COLUMNS, "source_row": "line"}}
    spark.update({"existing": True} if running else {"master": "local[2]", "config": config})
    try:
        intake = load_source(Source.model_validate({"kind": "spark", "spark": spark}))
        result = clean(intake)
        used, aside = outcome(result)
        assert used == NET and aside == ASIDE
        assert note(result) == {**NOTE, "column": "退款金额"}
    finally:
        if running is None and SparkSession.getActiveSession() is not None:
            SparkSession.getActiveSession().stop()
