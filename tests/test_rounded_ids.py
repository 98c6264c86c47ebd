"""Ids a spreadsheet rounded into scientific notation ("3.45679E+18"): different orders or customers
share one, and nothing in the file can tell them apart again. The run stops with one message naming
the file, the column as the file names it, how many values, the first row and what to do, whether the
file is read as text (a CSV) or in place by the engine (a Parquet file of text ids)."""

import datetime as dt

import pandas as pd
import pytest

from segkit.intake.cleaning import clean_and_save, clean_transactions
from segkit.intake.parsing import RoundedIds, refuse_rounded_ids
from segkit.intake.sources import load_source
from segkit.params import Source

# Taobao's columns, as an analyst's file names them
COLUMNS = {"order_id": "订单编号", "customer_id": "买家会员名", "ordered_at": "订单创建时间", "amount": "实付金额"}


def intake(path):
    return load_source(Source.model_validate({"kind": "file", "transactions": {"path": str(path), "columns": COLUMNS}}))


def rows(orders, customers=("tb001", "tb001", "tb002", "tb003")):
    return pd.DataFrame({"订单编号": list(orders), "买家会员名": list(customers),
                         "订单创建时间": ["2024-03-05 14:03", "2024-04-09 10:00", "2024-05-20 09:00", "2024-05-21 09:00"],
                         "实付金额": ["100.00", "50.00", "70.00", "20.00"]})


def test_order_numbers_in_scientific_notation_stop_the_run_with_what_to_do(tmp_path):
    # Excel opened the export and saved it: the 19-digit order numbers of rows 3 and 4 now read alike
    path = tmp_path / "taobao.csv"
    rows(["3456789012345678901", "3456789012345678902", "3.45679E+18", "3.45679E+18"]).to_csv(path, index=False)
    with pytest.raises(RoundedIds) as error:
        clean_and_save(intake(path), tmp_path / "data", as_of=dt.date(2024, 5, 31))
    said = str(error.value)
    assert said.startswith(f"{path}: the column 订单编号 (order_id) holds 1 value on 2 rows in scientific notation")  # one id, two rows
    assert '"3.45679E+18" in row 4' in said  # the file's line: the header is line 1
    assert "format the column as Text" in said and "write order_id: null in source.transactions.columns" in said


def test_customer_ids_in_scientific_notation_read_in_place_by_the_engine(tmp_path):
    path = tmp_path / "orders.parquet"
    rows(["1", "2", "3", "4"], customers=["13800138000", "1.38001E+11", "1.38001E+11", "x"]).to_parquet(path)
    source = intake(path)
    with pytest.raises(RoundedIds) as error:
        clean_transactions(source.engine, source.transactions, as_of=dt.date(2024, 5, 31))
    said = str(error.value)
    assert 'the column 买家会员名 (customer_id) holds 1 value on 2 rows in scientific notation, e.g. "1.38001E+11" in row 2' in said
    assert "different customers may now share one number" in said and "leave order_id" not in said


@pytest.mark.parametrize("value", ["1E+4", "2E10", "12345678901", "3.4E+18x", "SKU-1E+12", "1.5e-12", "E+12",
                                   "1.23457E+05", "1.23457E+5", "joe+1@x.com", "+4915112345678"])
def test_ids_that_only_look_numeric_are_left_alone(value):
    # an exponent under 5, no "+" (a spreadsheet writes E+), a number written whole (1.23457E+05 is 123457),
    # or other text around it: an id as it is
    refuse_rounded_ids(pd.Series([value, "A1"], dtype="string"), "order_id", "order", pd.Series([2, 3]))


@pytest.mark.parametrize("value", ["3.45679E+18", " 1.23457E+11 ", "1E+15", "6.02214e+23", "1,23457E+13", "1.23457E+10",
                                   "1.38001E+10", "1.2346E+05", "1E+05"])
def test_the_forms_spreadsheets_write_are_caught(value):
    with pytest.raises(RoundedIds):
        refuse_rounded_ids(pd.Series(["A1", value], dtype="string"), "customer_id", "id", pd.Series([2, 3]))


def test_order_numbers_kept_as_floats_beyond_2_to_the_53_are_refused_too(tmp_path):
    # an Excel cell (or a double column) holds 19-digit order numbers as floats: two orders became one
    # number no one ever saw (3456789012345678848), and nothing said so
    frame = rows(["1001", "1002", "1003", "1004"])
    frame["订单编号"] = [3456789012345678901.0, 3456789012345678902.0, 1003.0, 1004.0]
    path = tmp_path / "orders.parquet"
    frame.to_parquet(path)
    source = intake(path)
    with pytest.raises(RoundedIds) as error:
        clean_transactions(source.engine, source.transactions, as_of=dt.date(2024, 5, 31))
    said = str(error.value)
    assert "the column 订单编号 (order_id) holds 1 number too large to be exact, e.g. 3456789012345678848" in said
    assert "so different orders may now share one number" in said
    refuse_rounded_ids(pd.Series([17850.0, 2.0 ** 53 - 1]), "customer_id", "id", None)  # exact: left alone


def test_in_an_engines_table_the_message_has_no_row_and_says_to_load_the_ids_again():
    import ibis

    from segkit.intake.parsing import refuse_rounded_ids_in_engine

    table = ibis.memtable({"customer_id": ["A", "1.23457E+11", "B"], "order_id": [1.0, 2.0, 3.0]})
    with pytest.raises(RoundedIds) as error:
        refuse_rounded_ids_in_engine(table, {"customer_id": "member"})
    said = str(error.value)
    assert said.startswith('the column member (customer_id) holds 1 value in scientific notation, e.g. "1.23457E+11": ')
    assert said.endswith("load the ids again as text from the system they come from")
    big = ibis.memtable({"customer_id": ["A", "B"], "order_id": [3456789012345678901.0, 5.0]})
    with pytest.raises(RoundedIds, match=r"order_id\) holds 1 number too large to be exact, e.g. 3456789012345678848: "):
        refuse_rounded_ids_in_engine(big, {})


def test_a_workbooks_long_order_numbers_stored_as_numbers_are_refused(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(COLUMNS.values()))
    for number, customer in ((3456789012345678901, "tb001"), (3456789012345678902, "tb002"), (1003, "tb003")):
        sheet.append([float(number), customer, "2024-03-05 14:03", 10.0])  # Excel keeps a number as a float
    book.save(tmp_path / "orders.xlsx")
    source = intake(tmp_path / "orders.xlsx")
    with pytest.raises(RoundedIds, match=r"订单编号 \(order_id\) holds 1 number too large to be exact"):  # one float for both
        clean_transactions(source.engine, source.transactions, as_of=dt.date(2024, 5, 31))


def test_the_message_counts_ids_and_the_rows_that_hold_them():
    # one rounded order number on three lines is one id; trial: "1 value" read as one row where 50 rows held it
    with pytest.raises(RoundedIds, match=r"holds 1 value on 3 rows in scientific notation"):
        refuse_rounded_ids(pd.Series(["3.45679E+18"] * 3 + ["A1"], dtype="string"), "order_id", "o", None)
    with pytest.raises(RoundedIds, match=r"holds 2 values in scientific notation"):  # as many rows as ids: not said
        refuse_rounded_ids(pd.Series(["3.45679E+18", "1.23457E+11", "A1"], dtype="string"), "order_id", "o", None)


def test_long_ids_that_all_end_in_zeros_after_the_15th_digit_get_a_note_not_a_refusal(tmp_path):
    # Excel's Number format: 3456789012345710000 (15 digits, then zeros): 106 orders had become 65 without a
    # word; date-based or counter ids may end so by design, so it is a note (a refusal would stop their runs)
    orders = [f"3456789012345{i:02d}0000" for i in range(10, 34)]
    frame = pd.DataFrame({"订单编号": orders, "买家会员名": [f"tb{i % 7}" for i in range(len(orders))],
                          "订单创建时间": "2024-03-05 14:03", "实付金额": "10.00"})
    frame.to_csv(tmp_path / "orders.csv", index=False)
    source = intake(tmp_path / "orders.csv")
    result = clean_transactions(source.engine, source.transactions, as_of=dt.date(2024, 5, 31))
    note = next(n for n in result.notes if n["key"] == "long_ids_end_in_zeros")
    assert (note["column"], note["ids"], note["example"]) == ("订单编号", 24, "3456789012345100000")
    from segkit.i18n import note_message, t

    key, values = note_message(note)
    assert "export the file again with the column as Text" in t(key, "en", **values)
    assert "请把该列设为“文本”后重新导出文件" in t(key, "zh", **values)
    # date-based ids of another shape, or a few: no note
    frame["订单编号"] = [f"2024030{i % 9 + 1}1234567{i:02d}" for i in range(len(orders))]
    frame.to_csv(tmp_path / "orders.csv", index=False)
    source = intake(tmp_path / "orders.csv")
    notes = clean_transactions(source.engine, source.transactions, as_of=dt.date(2024, 5, 31)).notes
    assert not [n for n in notes if n["key"] == "long_ids_end_in_zeros"]
