import pandas as pd
import pytest

from segkit.errors import DataError
from segkit.params import FileTable, Source
from segkit.sources import load_source, read_file, to_canonical


def test_csv_with_chinese_headers_and_bom_maps_to_segkit_columns(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("客户ID,订单号,下单时间,金额\nC1,O1,2024-01-05 13:02,12.50\nC2,O2,2024-01-06,7\n",
                    encoding="utf-8-sig")
    source = Source(kind="file", transactions=FileTable(
        path=str(path), columns={"customer_id": "客户ID", "order_id": "订单号", "ordered_at": "下单时间", "amount": "金额"}))
    tx = load_source(source).transactions
    assert tx.columns.tolist() == ["source_row", "customer_id", "order_id", "ordered_at", "amount"]
    assert tx["source_row"].tolist() == [2, 3]  # file lines: the header is line 1
    assert tx["amount"].tolist() == [12.5, 7.0]
    assert tx["ordered_at"].tolist() == [pd.Timestamp("2024-01-05 13:02"), pd.Timestamp("2024-01-06")]


def test_order_id_is_customer_and_day_when_not_mapped():
    raw = pd.DataFrame({"source_row": [2, 3], "cust": ["A", "A"], "day": ["2024-01-05", "2024-01-05"],
                        "amt": ["1", "2"]})
    tx = to_canonical(raw, {"customer_id": "cust", "ordered_at": "day", "amount": "amt"})
    assert tx["order_id"].tolist() == ["A-20240105", "A-20240105"]


def test_unreadable_values_become_missing_for_cleaning_to_set_aside():
    raw = pd.DataFrame({"source_row": [2, 3], "customer_id": ["A", "B"], "ordered_at": ["2024-01-05", "not a date"],
                        "amount": ["1,2O4.50", "3"]})
    tx = to_canonical(raw, {})
    assert pd.isna(tx.loc[0, "amount"]) and pd.isna(tx.loc[1, "ordered_at"])


def test_missing_mapped_column_lists_columns_and_suggests(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("customer,order_date,amount\nC1,2024-01-05,3\n", encoding="utf-8")
    spec = FileTable(path=str(path), columns={"customer_id": "customer", "ordered_at": "order_dat"})
    with pytest.raises(DataError) as err:
        load_source(Source(kind="file", transactions=spec))
    message = str(err.value)
    assert str(path) in message and '"order_dat"' in message
    assert 'did you mean "order_date"' in message and "customer, order_date, amount" in message


def test_missing_and_empty_files_say_what_to_do(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_file(FileTable(path=str(tmp_path / "gone.csv")))
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(DataError, match="the file is empty"):
        read_file(FileTable(path=str(empty)))


def test_parquet_is_read_with_row_numbers(tmp_path):
    path = tmp_path / "tx.parquet"
    pd.DataFrame({"customer_id": ["A", "B"], "ordered_at": pd.to_datetime(["2024-01-01", "2024-01-02"]),
                  "amount": [1.0, 2.0], "order_id": ["1", "2"]}).to_parquet(path)
    tx = load_source(Source(kind="file", transactions=FileTable(path=str(path)))).transactions
    assert tx["source_row"].tolist() == [1, 2]
    assert tx["amount"].sum() == 3.0


def test_demo_source_brings_customers_and_surveys():
    from segkit.params import DemoSource

    intake = load_source(Source(kind="demo", demo=DemoSource(customers=50, months=6, seed=1)))
    assert intake.customers is not None and len(intake.customers) == 50
    assert intake.surveys is not None
    assert intake.transactions["source_row"].is_unique
