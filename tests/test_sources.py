import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from conftest import as_frame
from ledger_check import assert_every_row_accounted, cleaned, file_source
from segkit.intake.cleaning import clean_transactions
from segkit.errors import DataError, ParamsError
from segkit.params import Cleaning, DemoSource, FileTable, Source, validate_params
from segkit.intake.sources import load_source, read_file, to_canonical

CHINESE_MAP = {"customer_id": "客户ID", "order_id": "订单号", "ordered_at": "下单时间", "amount": "金额",
               "category": "品类"}
CHINESE_CSV = ("客户ID,订单号,下单时间,金额,品类\n"
               "C1,O1,2024-01-05 13:02,\"￥1,234.50\",图书\n"  # GBK has the full-width yen sign

               "C2 ,O2,2024/1/6,７,玩具\n"
               "C3,O3,45300,12.5,运费\n")




@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8-sig", "utf-8"])
def test_chinese_headers_in_every_encoding_chinese_excel_saves(tmp_path, encoding):
    path = tmp_path / "orders.csv"
    path.write_bytes(CHINESE_CSV.encode(encoding))
    intake, result = cleaned(file_source(path, columns=CHINESE_MAP), non_product=["运费"])
    tx = as_frame(intake.transactions)  # in the engine: the amounts and dates not plainly written stay text there
    assert tx.columns.tolist()[:7] == ["source_row", "customer_id", "order_id", "ordered_at", "amount", "category",
                                       "content"]  # content: a hash of the whole row as read
    assert tx["source_row"].tolist() == [2, 3, 4]  # file lines: the header is line 1
    assert tx["amount"].tolist() == ["￥1,234.50", "７", "12.5"]  # intake keeps the text as exported
    clean = result.clean.set_index("source_row")
    assert clean["amount"].to_dict() == {2: 1234.5, 3: 7.0}
    assert clean.loc[3, "customer_id"] == "C2" and clean.loc[2, "category"] == "图书"
    assert result.quarantine["reason"].tolist() == ["non_product"]


def test_stated_encoding_is_used(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes(CHINESE_CSV.encode("gbk"))
    intake = load_source(file_source(path, columns=CHINESE_MAP, encoding="gbk"))
    assert as_frame(intake.transactions)["category"].tolist() == ["图书", "玩具", "运费"]


def test_undecodable_text_says_what_to_do(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes(b"id,day,amount\n\x81 ,2024-01-01,2\n")  # 0x81 then a blank: no encoding segkit detects
    with pytest.raises(DataError, match=r"orders.csv line 2: the encoding is not one segkit detects \(tried UTF-8, "
                                        r"GB18030 \(GBK\), Windows-1252 \(Latin-1\); bytes b'\\x81 ,2'\); state its "
                                        r"encoding in source.transactions.encoding, or check that it is a text file"):
        load_source(file_source(path, columns={"customer_id": "id", "ordered_at": "day"}))
    path.write_bytes(CHINESE_CSV.encode("gbk"))
    with pytest.raises(DataError, match=r"orders.csv line 1: bytes .* are not utf-8") as err:
        load_source(file_source(path, columns=CHINESE_MAP, encoding="utf-8"))
    assert "source.transactions.encoding" in str(err.value)
    offered = str(err.value).split("it reads as ")[1].split(":")[0].split(" or ")
    assert "gb18030" in offered and "utf-8" not in offered  # never the encoding that just failed
    for name in offered:
        CHINESE_CSV.encode("gbk").decode(name)  # each one offered reads the file


def test_tsv_and_a_title_line_above_the_header(tmp_path):
    path = tmp_path / "orders.tsv"
    path.write_text("Shop export 2024-01\n\ncust\tday\ttotal\nC1\t2024-01-05\t3\n\nC2\t2024-01-06\t4\n", encoding="utf-8")
    intake, result = cleaned(file_source(path, header_row=3,
                                         columns={"customer_id": "cust", "ordered_at": "day", "amount": "total"}))
    assert as_frame(intake.transactions)["source_row"].tolist() == [4, 6]  # the blank line 5 is not a record
    assert result.clean["amount"].tolist() == [3.0, 4.0]


def write_excel(path, header_row=3, sheet="订单"):
    from openpyxl import Workbook

    book = Workbook()
    book.active.title = "说明"
    book.active["A1"] = "This workbook's first sheet is notes"
    ws = book.create_sheet(sheet)
    ws["A1"] = "2024年1月 订单导出"  # a title row above the table
    ws.append([])
    ws.cell(row=header_row, column=1, value="客户ID")
    ws.cell(row=header_row, column=2, value="下单时间")
    ws.cell(row=header_row, column=3, value="数量")
    ws.cell(row=header_row, column=4, value="单价")
    rows = [("C1", dt.datetime(2024, 1, 5, 13, 2), 2, 9.5), ("C2", "2024/1/6", 1, "¥3.00"), ("C3", 45298, 3, 2)]
    for i, row in enumerate(rows, start=header_row + 1):
        for j, value in enumerate(row, start=1):
            ws.cell(row=i, column=j, value=value)
    book.save(path)


def test_excel_named_sheet_with_a_title_row(tmp_path):
    path = tmp_path / "orders.xlsx"
    write_excel(path)
    source = file_source(path, sheet="订单", header_row=3,
                         columns={"customer_id": "客户ID", "ordered_at": "下单时间", "quantity": "数量", "unit_price": "单价"})
    intake, result = cleaned(source)
    assert intake.transactions["source_row"].tolist() == [4, 5, 6]  # the sheet's row numbers
    clean = result.clean.set_index("source_row")
    assert clean["amount"].to_dict() == {4: 19.0, 5: 3.0, 6: 6.0}  # quantity × unit price
    assert clean["ordered_at"].to_dict() == {4: pd.Timestamp("2024-01-05 13:02"), 5: pd.Timestamp("2024-01-06"),
                                             6: pd.Timestamp("2024-01-07")}
    assert clean["fixes"].to_dict() == {4: "", 5: "currency_text+date_format", 6: "excel_serial_date"}


def test_excel_sheet_that_is_not_there_names_the_sheets(tmp_path):
    path = tmp_path / "orders.xlsx"
    write_excel(path)
    with pytest.raises(DataError, match=r'no sheet "订 单"; did you mean "订单"\? \(sheets there: 说明, 订单\)'):
        read_file(FileTable(path=str(path), sheet="订 单"))
    with pytest.raises(DataError, match=r'no header in row 2 of sheet "订单"'):
        read_file(FileTable(path=str(path), sheet="订单", header_row=2))


def test_parquet_is_read_with_row_numbers(tmp_path):
    path = tmp_path / "tx.parquet"
    pd.DataFrame({"customer_id": ["A", "B"], "ordered_at": pd.to_datetime(["2024-01-01", "2024-01-02"]),
                  "amount": [1.0, 2.0], "order_id": ["1", "2"]}).to_parquet(path)
    intake, result = cleaned(file_source(path))
    assert intake.transactions.order_by("source_row").to_pandas()["source_row"].tolist() == [1, 2]
    assert result.clean["amount"].sum() == 3.0 and (result.clean["fixes"] == "").all()


def test_duckdb_file(tmp_path):
    import duckdb

    path = tmp_path / "shop.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE orders AS SELECT * FROM (VALUES ('A', TIMESTAMP '2024-01-01', 5.0), "
                    "('B', TIMESTAMP '2024-01-02', 7.5)) t(cust, day, total)")
    columns = {"customer_id": "cust", "ordered_at": "day", "amount": "total"}
    intake, result = cleaned(file_source(path, table="orders", columns=columns))
    assert result.clean["amount"].tolist() == [5.0, 7.5]
    with pytest.raises(DataError, match=r"no table 'sales' \(tables there: orders\)"):
        load_source(file_source(path, table="sales", columns=columns))


def test_order_id_is_customer_and_day_when_not_mapped():
    raw = pd.DataFrame({"source_row": [2, 3], "cust": ["A", "A"], "day": ["2024-01-05", "2024/1/5"],
                        "amt": ["1", "2"]})
    tx = to_canonical(raw, {"customer_id": "cust", "ordered_at": "day", "amount": "amt"})
    result = clean_transactions(None, tx, rules=Cleaning(duplicate_order_lines="keep"))
    assert result.clean["order_id"].tolist() == ["A-20240105", "A-20240105"]


def test_missing_mapped_column_lists_columns_and_suggests(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("customer,order_date,amount\nC1,2024-01-05,3\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        load_source(file_source(path, columns={"customer_id": "customer", "ordered_at": "order_dat"}))
    message = str(err.value)
    assert str(path) in message and '"order_dat"' in message
    assert 'did you mean "order_date"' in message and "customer, order_date, amount" in message


def test_optional_mapped_column_must_be_there_too(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("客户ID,下单时间,金额\nC1,2024-01-05,3\n", encoding="utf-8")
    with pytest.raises(DataError, match=r'column "品类" \(for category\) is not there'):
        load_source(file_source(path, columns={"customer_id": "客户ID", "ordered_at": "下单时间", "amount": "金额",
                                               "category": "品类"}))


def test_file_without_header_says_so(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("C1,2024-01-05,3\nC2,2024-01-06,4\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"The first row looks like data \(2024-01-05, 3\).*add a header row"):
        load_source(file_source(path, columns={"customer_id": "customer", "ordered_at": "day", "amount": "amount"}))
    blank = tmp_path / "blank.csv"
    blank.write_text("\nC1,2024-01-05,3\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"no header at line 1 \(the line is empty\)"):
        read_file(FileTable(path=str(blank)))


def test_missing_and_empty_files_say_what_to_do(tmp_path):
    with pytest.raises(DataError, match=r"no such file; check source.transactions.path in the params file \(a "
                                        r"relative path is read from the params file's folder\)"):
        read_file(FileTable(path=str(tmp_path / "gone.csv")))
    empty = tmp_path / "empty.csv"
    for content in (b"", b"\xef\xbb\xbf", b"\n\n"):
        empty.write_bytes(content)
        with pytest.raises(DataError, match="the file is empty"):
            read_file(FileTable(path=str(empty)))


def test_a_column_mapped_twice_is_a_params_error():
    raw = {"source": {"kind": "file", "transactions": {"path": "x.csv",
                                                       "columns": {"customer_id": "客户", "order_id": "客户"}}}}
    with pytest.raises(ParamsError, match=r'column "客户" is mapped twice \(to customer_id and to order_id\)'):
        validate_params(raw)


def test_unknown_canonical_name_in_the_map():
    raw = pd.DataFrame({"source_row": [2], "a": ["1"]})
    with pytest.raises(DataError, match="the column map names revenue, which segkit does not use"):
        to_canonical(raw, {"revenue": "a"})


def test_customer_and_survey_tables_are_mapped_and_typed(tmp_path):
    orders = tmp_path / "orders.csv"
    orders.write_text("cust,day,amount\nC1,2024-01-05,3\n", encoding="utf-8")
    customers = tmp_path / "customers.csv"
    customers.write_bytes("客户ID,地区,注册日期\nC1 ,华东,2023/5/1\nC2,华南,2023-06-01\n".encode("gbk"))
    surveys = tmp_path / "surveys.csv"
    surveys.write_text("id,score,nps,answered\nC1,4,9,2024-02-01\n", encoding="utf-8")
    source = Source(kind="file",
                    transactions=FileTable(path=str(orders), columns={"customer_id": "cust", "ordered_at": "day"}),
                    customers=FileTable(path=str(customers), columns={"customer_id": "客户ID", "region": "地区",
                                                                      "signup_date": "注册日期"}),
                    surveys=FileTable(path=str(surveys), columns={"customer_id": "id", "answered_at": "answered"}))
    intake = load_source(source)
    assert intake.customers["customer_id"].tolist() == ["C1", "C2"]
    assert intake.customers["signup_date"].tolist() == [pd.Timestamp("2023-05-01"), pd.Timestamp("2023-06-01")]
    assert intake.surveys["nps"].tolist() == [9.0]
    bad = source.model_copy(update={"customers": FileTable(path=str(customers), columns={"customer_id": "客户"})})
    with pytest.raises(DataError, match=r'column "客户" \(for customer_id\) is not there; did you mean "客户ID"'):
        load_source(bad)


def test_demo_source_brings_customers_and_surveys():
    intake = load_source(Source(kind="demo", demo=DemoSource(customers=50, months=6, seed=1)))
    assert intake.customers is not None and len(intake.customers) == 50
    assert intake.surveys is not None
    assert intake.transactions["source_row"].is_unique


def test_relative_paths_are_read_from_the_params_folder(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "orders.csv").write_text("customer_id,ordered_at,amount\nC1,2024-01-05,3\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path / "data")  # a working folder where the relative path does not lead
    source = file_source("data/orders.csv")
    assert as_frame(load_source(source, params_path=tmp_path / "shop.yaml").transactions)["amount"].astype(float).tolist() == [3]
    with pytest.raises(DataError, match="no such file"):
        load_source(source)


def test_a_missing_file_is_shown_absolute_and_normalised_with_a_close_name(tmp_path, monkeypatch):
    """Trial 42: `files/files/woo_orders.csv: no such file` (the path written relative to the params
    file's folder, files/, as if from the project's): the path absolute, `..` steps folded, the same in
    `segkit check` (a relative params path) and a report (an absolute one), and the close name offered
    from the nearest folder that is there."""
    from segkit.intake.sources import check_source

    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "woo_orders.csv").write_text("customer_id,ordered_at,amount\nC1,2024-01-05,3\n")
    monkeypatch.chdir(tmp_path)
    said = []
    for params_path in ("files/../files/shop.yaml", tmp_path / "files" / "shop.yaml"):
        for check in (lambda: check_source(file_source("files/woo_orders.csv"), params_path),
                      lambda: load_source(file_source("files/woo_orders.csv"), params_path=params_path)):
            with pytest.raises(DataError) as error:
                check()
            said.append(str(error.value))
    assert said == [said[0]] * 4, said
    assert said[0] == (f"{tmp_path / 'files' / 'files' / 'woo_orders.csv'}: no such file (did you mean woo_orders.csv "
                       f"in {tmp_path / 'files'}?); check source.transactions.path in the params file (a relative "
                       "path is read from the params file's folder)")
    with pytest.raises(DataError, match=r"/files/woo_order\.csv: no such file \(did you mean woo_orders\.csv in "):
        read_file(FileTable(path="files/../files/woo_order.csv"))
    with pytest.raises(DataError, match=r"/files/payments\.csv: no such file; check"):  # no close name: none offered
        read_file(FileTable(path="files/payments.csv"))


def test_every_missing_column_is_named_at_once_with_a_close_name_each_and_blank_headers_by_position(tmp_path):
    """Trial 42: a wrong column map named only its first missing column ("会员号"), fixed and run again
    to meet the next; the columns there listed pandas' "Unnamed: 1" for a blank header cell."""
    from segkit.intake.sources import check_source

    path = tmp_path / "pos.csv"
    path.write_text("会员卡号,,下单时间,实付金额\nC1,x,2024-01-05,3\n", encoding="utf-8")
    columns = {"customer_id": "会员号", "ordered_at": "下单日期", "amount": "实付金额"}
    for read in (lambda: load_source(file_source(str(path), columns=columns)),
                 lambda: check_source(file_source(str(path), columns=columns))):
        with pytest.raises(DataError) as error:
            read()
        assert str(error.value) == (
            f'{path}: columns "会员号" (for customer_id; did you mean "会员卡号"?), "下单日期" (for ordered_at; did you '
            'mean "下单时间"?) are not there (columns there: 会员卡号, [blank header, column 2], 下单时间, 实付金额); fix '
            "source.transactions.columns.")
    from segkit.i18n import terminal_text

    said = terminal_text(f"error: {error.value}", "zh")
    assert said == (f'错误：{path}：列 "会员号"（对应 customer_id；是否指 "会员卡号"？）、"下单日期"（对应 ordered_at；是否指 '
                    '"下单时间"？）都不存在（现有的列：会员卡号, ［空表头，第 2 列］, 下单时间, 实付金额）；请修改 '
                    "source.transactions.columns。")
    # one column missing: the message as before, its blank headers by position too
    columns["customer_id"] = "会员卡号"
    with pytest.raises(DataError, match=r'column "下单日期" \(for ordered_at\) is not there; did you mean "下单时间"\? '
                                        r"\(columns there: 会员卡号, \[blank header, column 2\], "):
        load_source(file_source(str(path), columns=columns))


def test_a_relative_path_is_folded_where_that_is_the_same_file(tmp_path):
    """`../files/x.csv` beside params in files/: every message names files/x.csv, not files/../files/x.csv;
    behind a symbolic link the `..` stays (it leads beside the link's target)."""
    from segkit.intake.sources import beside

    (tmp_path / "files").mkdir()
    assert beside(tmp_path / "files", "../files/x.csv") == str(tmp_path / "files" / "x.csv")
    (tmp_path / "real" / "params").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "real" / "params")
    assert beside(tmp_path / "link", "../data/x.csv") == str(tmp_path / "link" / ".." / "data" / "x.csv")


def test_rows_keep_their_file_line_after_a_value_with_a_line_break(tmp_path):
    # review finding: a quoted value holding a newline shifted every later source_row
    path = tmp_path / "orders.csv"
    path.write_text('customer_id,ordered_at,amount,note\nC1,2024-01-05,10,"two\nlines"\nC2,2024-01-06,12,ok\n',
                    encoding="utf-8")
    frame = read_file(FileTable(path=str(path)))
    assert frame["customer_id"].tolist() == ["C1", "C2"]
    assert frame["source_row"].tolist() == [2, 4]


@pytest.mark.parametrize("name, says", [
    ("rot13", r"'rot13' is not a text encoding; use e.g. utf-8, utf-8-sig, gbk, gb18030"),
    ("zlib", r"'zlib' is not a text encoding"),
    ("utf-9", r"'utf-9' is not known; did you mean utf-8\? use e.g. utf-8"),
    ("gbk2312", r"'gbk2312' is not known; did you mean"),
])
def test_an_encoding_that_cannot_decode_text_is_refused_at_params_check(tmp_path, name, says):
    from segkit.errors import ParamsError
    from segkit.params import load_params

    path = tmp_path / "p.yaml"
    path.write_text(f"source:\n  kind: file\n  transactions: {{path: orders.csv, encoding: {name}}}\n", encoding="utf-8")
    with pytest.raises(ParamsError, match=rf"p.yaml: source.transactions.encoding: {says}"):
        load_params(path)


def test_a_text_encoding_that_fails_without_a_position_is_one_message(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes(b"id,day,amount\n1,2024-01-01,2\n")  # ASCII: punycode fails with no byte position
    with pytest.raises(DataError, match=r"orders.csv: the text cannot be read as punycode .*state the file's real "
                                        r"encoding in source.transactions.encoding"):
        load_source(file_source(path, columns={"customer_id": "id", "ordered_at": "day"}, encoding="punycode"))


def test_an_encoding_unchecked_by_params_is_still_one_message(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes(CHINESE_CSV.encode("utf-8"))
    spec = FileTable.model_construct(path=str(path), format=None, columns=CHINESE_MAP, encoding="rot13",
                                     header_row=1, sheet=None, table=None)
    with pytest.raises(DataError, match=r"source.transactions.encoding: 'rot13' is not a text encoding"):
        load_source(Source.model_construct(kind="file", transactions=spec, customers=None, surveys=None))


def test_a_quoted_value_longer_than_the_csv_modules_limit_keeps_row_lines(tmp_path):
    path = tmp_path / "orders.csv"  # a 200 kB note with a line break: Python's csv module stops at 128 kB
    path.write_bytes(b'id,day,amount,note\n1,2024-01-01,2,"' + b"x" * 200_000 + b'\nmore"\n2,2024-01-02,3,\n')
    intake = load_source(file_source(path, columns={"customer_id": "id", "ordered_at": "day"}))
    assert as_frame(intake.transactions)["source_row"].tolist() == [2, 4]


def test_a_file_with_old_mac_line_endings_reads_line_by_line(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes(b'id,day,amount\r1,2024-01-01,2\r"a\rb",2024-01-02,3\r')
    intake = load_source(file_source(path, columns={"customer_id": "id", "ordered_at": "day"}))
    rows = as_frame(intake.transactions)
    assert rows["source_row"].tolist() == [2, 3]
    assert rows["customer_id"].tolist() == ["1", "a\nb"]


def test_a_file_that_cannot_be_read_is_one_message(tmp_path):
    import os

    if not os.path.exists("/proc/self/mem"):
        pytest.skip("needs Linux /proc")
    with pytest.raises(DataError, match=r"/proc/self/mem: cannot be read \(Input/output error\); check "
                                        r"source.transactions.path"):
        load_source(file_source("/proc/self/mem", format="csv", columns={"customer_id": "id", "ordered_at": "day"}))


def test_a_folder_as_the_data_path_says_so(tmp_path):
    with pytest.raises(DataError, match=r": is a folder, not a file; set source.transactions.path to the file itself"):
        load_source(file_source(tmp_path, columns={"customer_id": "id", "ordered_at": "day"}))


def test_a_header_of_many_long_names_is_cut_in_the_message(tmp_path):
    path = tmp_path / "orders.csv"  # e.g. a file with no header whose first line is long free text
    header = ",".join(f"column {i} " + "x" * 200 for i in range(500))
    path.write_text(header + "\n" + ",".join(["1"] * 500) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r'columns "id" \(for customer_id\), "day" \(for ordered_at\), "amount" \(for amount\) are not there') as err:
        load_source(file_source(path, columns={"customer_id": "id", "ordered_at": "day"}))
    message = str(err.value)
    assert len(message) < 2000 and "(480 more)" in message


def test_customer_and_survey_ids_are_read_like_transaction_ids(tmp_path):
    """A customer table exported with float ids (17850.0) or invisible characters joins the same customers."""
    from segkit.intake.sources import read_customer_table
    from segkit.params import FileTable

    path = tmp_path / "customers.csv"
    path.write_text("id,region\n17850.0,North\n\u200b00123 ,South\n123,East\n", encoding="utf-8")
    table = read_customer_table(FileTable(path=str(path), columns={"customer_id": "id"}), "customers")
    # leading zeros stay significant: 00123 and 123 are two customers
    assert table["customer_id"].tolist() == ["17850", "00123", "123"]


def test_an_excel_id_turned_into_a_number_is_padded_back_to_its_columns_width(tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    ws = book.active
    ws.append(["id", "day", "total"])
    for row in (("00123", "2024-01-05", 5), ("00456", "2024-01-06", 6), (789, "2024-01-07", 7), (789.0, "2024-01-08", 8)):
        ws.append(row)
    path = tmp_path / "orders.xlsx"
    book.save(path)
    intake, result = cleaned(file_source(path, columns={"customer_id": "id", "ordered_at": "day", "amount": "total"}))
    assert sorted(result.clean["customer_id"].unique()) == ["00123", "00456", "00789"]
    fixed = result.ledger.set_index(["outcome", "rule"])["rows"]
    assert fixed[("fixed", "zero_padded_id")] == 2


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_a_title_above_the_header_is_met_with_the_header_row_to_set(tmp_path, kind):
    """A report title (and a blank line) above the column names: the message says in which row the
    mapped names are and the header_row to set, in `segkit check` and in the run's reading; with it
    set, the file reads."""
    from segkit.intake.sources import check_source, load_source
    from segkit.params import Source

    if kind == "csv":
        (tmp_path / "t.csv").write_text("Orders export 2024-12-31\n\nCustomer,Order,Date,Total\n"
                                        "c1,o1,2024-01-05,10\nc2,o2,2024-02-05,12\n", encoding="utf-8")
        path, row = tmp_path / "t.csv", 3
    else:
        import openpyxl

        book = openpyxl.Workbook()
        book.active.append(["Sales by customer - FY2024/25 (confidential)"])
        for line in (["Customer", "Order", "Date", "Total"], ["c1", "o1", "2024-01-05", 10.5]):
            book.active.append(line)
        path, row = tmp_path / "s.xlsx", 2
        book.save(path)
    spec = {"path": str(path), "columns": {"customer_id": "Customer", "order_id": "Order", "ordered_at": "Date",
                                           "amount": "Total"}}
    source = Source.model_validate({"kind": "file", "transactions": spec})
    said = rf"The column names are in row {row}: set source\.transactions\.header_row: {row}\."
    for reading in (check_source, load_source):
        # the header read as the title: the mapped names are not there, or the rows are longer than it
        with pytest.raises(DataError, match=r'(?:columns "Customer" \(for customer_id\), .* are not there|4 values, but the '
                                            r'header \(line 1\) names 1 column).*' + said):
            reading(source)
    fixed = Source.model_validate({"kind": "file", "transactions": {**spec, "header_row": row}})
    check_source(fixed)
    assert list(as_frame(load_source(fixed).transactions)["customer_id"]) == ["c1", "c2"][:2 if kind == "csv" else 1]


def test_a_wrong_column_name_gets_no_header_row_advice(tmp_path):
    from segkit.intake.sources import check_source
    from segkit.params import Source

    (tmp_path / "t.csv").write_text("Customer,Order,Date,Total\nc1,o1,2024-01-05,10\n", encoding="utf-8")
    source = Source.model_validate({"kind": "file", "transactions": {"path": str(tmp_path / "t.csv"), "columns": {
        "customer_id": "Client", "order_id": "Order", "ordered_at": "Date", "amount": "Total"}}})
    with pytest.raises(DataError) as error:
        check_source(source)
    assert 'column "Client" (for customer_id) is not there' in str(error.value) and "header_row" not in str(error.value)


def test_a_path_beside_a_params_folder_that_is_a_link_is_read_beside_its_target(tmp_path):
    """params/ a symbolic link to another project's params, whose files name ../data/x.csv: the data
    beside the link's target (as the system reads the path), not a data/ beside the link."""
    from segkit.intake.sources import check_source
    from segkit.params import load_params

    real = tmp_path / "real"
    (real / "params").mkdir(parents=True)
    (real / "data").mkdir()
    (real / "data" / "x.csv").write_text("customer_id,order_id,ordered_at,amount\nc1,o1,2024-01-05,10\n",
                                         encoding="utf-8")
    (real / "params" / "shop.yaml").write_text("source:\n  kind: file\n  transactions:\n    path: ../data/x.csv\n",
                                               encoding="utf-8")
    project = tmp_path / "project"
    project.mkdir()
    (project / "params").symlink_to(real / "params")
    params = project / "params" / "shop.yaml"
    check_source(load_params(params).source, params)
    assert len(as_frame(load_source(load_params(params).source, params).transactions)) == 1


def test_the_cleaning_page_says_which_sheet_and_header_row_of_a_workbook_were_read(tmp_path):
    import openpyxl

    from segkit.i18n import t

    book = openpyxl.Workbook()
    book.active.title = "Sales 2024"
    book.active.append(["Sales by customer"])
    for line in (["Customer", "Order", "Date", "Total"], ["c1", "o1", "2024-01-05", 10.5]):
        book.active.append(line)
    book.create_sheet("Notes")
    book.save(tmp_path / "s.xlsx")
    intake = load_source(Source.model_validate({"kind": "file", "transactions": {
        "path": str(tmp_path / "s.xlsx"), "header_row": 2,
        "columns": {"customer_id": "Customer", "order_id": "Order", "ordered_at": "Date", "amount": "Total"}}}))
    (key, values), = intake.reading_messages("en")
    assert t(key, "en", **values) == ('The workbook\'s sheet "Sales 2024" was read, its column names in row 2; the '
                                      "workbook's other sheets (1) were not (source.transactions.sheet names the one "
                                      "to read).")
    assert t(key, "zh", **values).startswith('读取了工作簿中的工作表 "Sales 2024"，列名在第 2 行')


@pytest.mark.parametrize("header_row", [1, 3])
def test_a_notes_sheet_first_names_the_sheet_that_holds_the_columns(tmp_path, header_row):
    """The error blamed the column map; the columns were in the workbook's second sheet."""
    from segkit.i18n import terminal_text
    from segkit.intake.sources import check_source

    path = tmp_path / "orders.xlsx"
    write_excel(path, header_row=header_row)
    source = file_source(path, columns={"customer_id": "客户ID", "ordered_at": "下单时间", "quantity": "数量",
                                        "unit_price": "单价"})
    said = 'The columns are in sheet "订单": set source.transactions.sheet: "订单".' if header_row == 1 else \
        'The columns are in sheet "订单", row 3: set source.transactions.sheet: "订单" and source.transactions.header_row: 3.'
    for read in (load_source, check_source):  # the run and `segkit check`
        with pytest.raises(DataError) as raised:
            read(source)
        assert str(raised.value).endswith(said)
        zh = terminal_text(f"error: {raised.value}", "zh")
        assert '工作表 "订单"' in zh and "The columns" not in zh
    assert load_source(file_source(path, sheet="订单", header_row=header_row,
                                   columns=source.transactions.columns)).transactions is not None


def test_an_empty_first_sheet_and_several_sheets_holding_the_columns_are_said_too(tmp_path):
    from openpyxl import Workbook

    from segkit.i18n import terminal_text

    book = Workbook()
    book.active.title = "Notes"
    book.active["A5"] = "exported by the shop"
    for name in ("2023", "2024"):
        sheet = book.create_sheet(name)
        sheet.append(["customer", "date", "amount"])
        sheet.append(["C1", "2024-01-05", 5])
    book.save(tmp_path / "two.xlsx")
    source = file_source(tmp_path / "two.xlsx", columns={"customer_id": "customer", "ordered_at": "date"})
    with pytest.raises(DataError, match=r'no header in row 1 of sheet "Notes"; .*\. The columns are in several other '
                                        r'sheets \("2023", "2024"\): set source\.transactions\.sheet to the one to read\.'
                       ) as raised:
        load_source(source)
    assert "The columns" not in terminal_text(f"error: {raised.value}", "zh")


@pytest.mark.parametrize("kind", ["csv", "xlsx", "parquet"])
def test_check_refuses_ids_a_spreadsheet_rounded_with_the_runs_message(tmp_path, kind):
    """`segkit check` read only the header and passed a file of ids like 1.23457E+11."""
    from segkit.intake.parsing import RoundedIds
    from segkit.intake.sources import check_source

    def written(customers: list[str], name: str) -> Path:
        rows = pd.DataFrame({"customer": customers, "date": ["2024-01-05", "2024-01-06", "2024-01-07", "2024-01-08"],
                             "amount": ["5", "6", "7", "8"]})
        path = tmp_path / f"{name}.{kind}"
        if kind == "csv":
            rows.to_csv(path, index=False)
        elif kind == "xlsx":
            rows.to_excel(path, index=False)
        else:
            rows.to_parquet(path)
        return path

    path = written(["1.23457E+11", "1.23457E+11", "C2", "4.5E+13"], "orders")
    source = file_source(path, columns={"customer_id": "customer", "ordered_at": "date"})
    with pytest.raises(RoundedIds) as checked:
        check_source(source)
    with pytest.raises(RoundedIds) as run:
        clean_transactions(None, load_source(source).transactions)
    assert str(checked.value) == f"{path}: {run.value}"
    # the engine that reads a Parquet file in place names no row, in the run as in the check
    assert 'holds 2 values on 3 rows in scientific notation, e.g. "1.23457E+11"' in str(checked.value)
    check_source(file_source(written(["C1", "C1", "C2", "1.5E+3"], "plain"),  # 1500 exactly: no digit lost
                             columns={"customer_id": "customer", "ordered_at": "date"}))
