"""Files as they arrive: compressed, in several encodings, with any separator and odd lines (issue 9)."""

import bz2
import codecs
import datetime as dt
import gzip
import io
import lzma
import zipfile

import pyarrow as pa
import pytest

from conftest import as_frame
from ledger_check import assert_every_row_accounted, cleaned, file_source as source
from segkit.errors import DataError, ParamsError
from segkit.intake import textfiles
from segkit.intake.cleaning import clean_transactions
from segkit.intake.sources import load_source, read_file
from segkit.intake.textfiles import Decoded, TextTable
from segkit.params import Cleaning, FileTable, Source, load_params, validate_params

CSV = "customer_id,ordered_at,amount,note\nC1,2024-01-05,10,first\nC2,2024-01-06,12,\n"
COLUMNS = {"customer_id": "cust", "ordered_at": "day", "amount": "total"}




# -- compressed files -------------------------------------------------------------------------

def _zstd(data: bytes) -> bytes:
    import zstandard  # a dependency of segkit

    return zstandard.ZstdCompressor().compress(data)


@pytest.mark.parametrize("name, pack", [
    ("orders.csv.gz", gzip.compress), ("orders.csv.bz2", bz2.compress), ("orders.csv.xz", lzma.compress),
    ("orders.csv.zst", _zstd),
])
def test_compressed_csv_is_read_as_its_content(tmp_path, name, pack):
    # review finding: a .csv.gz said "neither UTF-8 nor GBK"; following its advice gave a second error
    path = tmp_path / name
    path.write_bytes(pack(CSV.encode("utf-8")))
    frame = read_file(FileTable(path=str(path)))
    assert frame["customer_id"].tolist() == ["C1", "C2"] and frame["source_row"].tolist() == [2, 3]
    assert frame["note"].isna().tolist() == [False, True]


def test_the_format_is_the_inner_suffix_and_a_gzip_without_suffix_is_found_by_its_bytes(tmp_path):
    tsv = tmp_path / "orders.tsv.gz"
    tsv.write_bytes(gzip.compress(b"cust;x\tday\ttotal\nC1;a\t2024-01-05\t3\n"))  # ";" inside: tab is the format's
    assert read_file(FileTable(path=str(tsv)))["cust;x"].tolist() == ["C1;a"]
    bare = tmp_path / "orders.csv"  # gzip bytes under a plain .csv name
    bare.write_bytes(gzip.compress(CSV.encode("utf-8")))
    assert read_file(FileTable(path=str(bare)))["amount"].tolist() == ["10", "12"]


def test_a_zip_with_one_member_is_read_and_with_several_names_them(tmp_path):
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("orders.tsv", CSV.replace(",", "\t"))
        archive.writestr("__MACOSX/._orders.tsv", b"\x00\x05")  # macOS zips carry these: not members
    assert read_file(FileTable(path=str(path)))["note"].tolist()[0] == "first"
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("customers.csv", "customer_id,region\nC1,north\n")
    with pytest.raises(DataError, match=r"export.zip: the .zip holds 2 files \(orders.tsv, customers.csv\); set "
                                        r"source.transactions.member to the one to read"):
        read_file(FileTable(path=str(path)))
    assert read_file(FileTable(path=str(path), member="customers.csv"))["region"].tolist() == ["north"]
    with pytest.raises(DataError, match=r'holds no file "order.tsv"; did you mean "orders.tsv"\?'):
        read_file(FileTable(path=str(path), member="order.tsv"))


def test_compressed_parquet_and_a_truncated_gzip(tmp_path):
    import pandas as pd

    buffer = io.BytesIO()
    pd.DataFrame({"customer_id": ["A"], "ordered_at": ["2024-01-01"], "amount": [2.5]}).to_parquet(buffer)
    path = tmp_path / "orders.parquet.gz"
    path.write_bytes(gzip.compress(buffer.getvalue()))
    assert read_file(FileTable(path=str(path)))["amount"].tolist() == [2.5]
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(gzip.compress(CSV.encode() * 50)[:60])
    with pytest.raises(DataError, match=r"cut.csv.gz: a gzip file that cannot be decompressed .*copied whole"):
        read_file(FileTable(path=str(cut)))


# -- the streaming front end ------------------------------------------------------------------

def test_batches_come_one_by_one_with_file_lines_and_chunks_split_anywhere(tmp_path, monkeypatch):
    monkeypatch.setattr(textfiles, "CHUNK_BYTES", 5)  # chunks end inside characters and between CR and LF
    path = tmp_path / "orders.csv"
    rows = [f"C{i},2024-01-0{1 + i % 9},图书{i},\"a\r\nb\"" for i in range(7)]
    path.write_bytes(("客户,日期,品类,备注\r\n" + "\r\n".join(rows) + "\r\n").encode("gb18030"))
    table = TextTable(path, batch_rows=3)
    batches = list(table.batches())
    assert [b.num_rows for b in batches] == [3, 3, 1]  # a consumer (DuckDB) can take them one by one
    assert all(b.schema.field(name).type == pa.string() for b in batches for name in ("客户", "品类"))
    whole = pa.Table.from_batches(batches)
    assert whole["source_row"].to_pylist() == [2, 4, 6, 8, 10, 12, 14]  # each record spans two lines
    assert whole["品类"].to_pylist() == [f"图书{i}" for i in range(7)] and whole["备注"][0].as_py() == "a\nb"
    assert table.encoding == "gb18030" and table.separator == ","


def test_the_decoder_never_holds_more_than_a_chunk(tmp_path, monkeypatch):
    reads = []

    class Stream(io.BytesIO):
        def read(self, size=-1):
            assert size > 0  # never "read everything"
            reads.append(size)
            return super().read(size)

    monkeypatch.setattr(textfiles, "CHUNK_BYTES", 64)
    text = "".join(Decoded(Stream(("id,name\n" + "1,é\n" * 100).encode()), tmp_path, "source.transactions"))
    assert text.count("é") == 100 and len(reads) > 5


def test_a_field_longer_than_the_csv_modules_limit_and_trailing_commas(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes(b'id,day,amount\n1,2024-01-01,"' + b"y" * 300_000 + b'",\n2,2024-01-02,3,,\n')
    frame = read_file(FileTable(path=str(path)))
    assert frame["source_row"].tolist() == [2, 3] and len(frame["amount"][0]) == 300_000
    assert frame.columns.tolist() == ["source_row", "id", "day", "amount"]


def test_a_row_with_more_values_than_the_header_names_its_line(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("id,day,amount\n1,2024-01-01,2\n2,2024-01-02,3,extra\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"orders.csv line 3: 4 values, but the header \(line 1\) names 3 columns; "
                                        r"check the separator \(read as comma\)"):
        read_file(FileTable(path=str(path)))


# -- separators -------------------------------------------------------------------------------

@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_the_separator_is_detected_in_a_csv(tmp_path, sep):
    path = tmp_path / "orders.csv"  # e.g. a .csv that is really tab-separated
    path.write_text(sep.join(["cust", "day", "total"]) + "\n" + sep.join(["C1", "2024-01-05", "1,50"]) + "\n",
                    encoding="utf-8")
    intake, result = cleaned(source(path, columns=COLUMNS), decimal=",")
    assert result.clean["amount"].tolist() == [1.5]
    assert intake.reading["separator"] == sep


def test_excel_sep_line_names_the_separator_and_is_not_part_of_the_table(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("sep=;\ncust;day;total\nC1;2024-01-05;3\n", encoding="utf-8")
    frame = read_file(FileTable(path=str(path)))
    assert frame.columns.tolist() == ["source_row", "cust", "day", "total"] and frame["source_row"].tolist() == [3]


def test_runs_of_blanks_as_in_the_cdnow_master_file(tmp_path):
    path = tmp_path / "CDNOW_master.txt"  # leading blank, runs of blanks, CRLF
    path.write_bytes(b" customer_id  date number_of_cds  dollar_value\r\n 00001 19970101  1   11.77\r\n"
                     b" 00002 19970112  1   12.00\r\n")
    frame = read_file(FileTable(path=str(path)))
    assert frame.columns.tolist() == ["source_row", "customer_id", "date", "number_of_cds", "dollar_value"]
    assert frame["customer_id"].tolist() == ["00001", "00002"] and frame["dollar_value"].tolist() == ["11.77", "12.00"]


def test_a_stated_separator_wins_and_a_wrong_one_is_explained(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("cust;day;total\nC1;2024-01-05;3\n", encoding="utf-8")
    with pytest.raises(DataError, match=r'columns "cust" \(for customer_id\), "day" \(for ordered_at\), .* are not there .* The header was read as one '
                                        r"column \(separator: comma\), but it holds semicolons \(';'\): the separator "
                                        r"may be semicolon; state it as source.transactions.separator: semicolon"):
        load_source(source(path, columns=COLUMNS, separator="comma"))
    assert as_frame(load_source(source(path, columns=COLUMNS, separator=";")).transactions)["amount"].astype(float).tolist() == [3]


def test_a_separator_that_is_not_one_is_a_params_error():
    raw = {"source": {"kind": "file", "transactions": {"path": "x.csv", "separator": ";;"}}}
    with pytest.raises(ParamsError, match=r"source.transactions.separator: ';;' is not a separator: give one "
                                          r"character .* or a name: comma, semicolon, tab, pipe, space, spaces"):
        validate_params(raw)
    named = {"source": {"kind": "file", "transactions": {"path": "x.csv", "separator": "tab"}}}
    assert validate_params(named).source.transactions.separator == "\t"


# -- odd lines --------------------------------------------------------------------------------

def test_old_mac_line_endings_and_blank_only_lines(tmp_path):
    path = tmp_path / "orders.csv"  # CR only; lines of blanks and of separators are not records
    path.write_bytes(b"cust,day,total\r  \rC1,2024-01-05,3\r,,\r\t , \rC2,2024-01-06,4\r")
    intake, result = cleaned(source(path, columns=COLUMNS))
    assert as_frame(intake.transactions)["source_row"].tolist() == [3, 6]
    assert intake.reading["blank_lines"] == 3
    assert result.quarantine.empty  # no phantom rows set aside as missing customer ids


def test_a_header_naming_a_column_twice_is_refused(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("cust,day,total,note,total\nC1,2024-01-05,3,x,4\n", encoding="utf-8")
    with pytest.raises(DataError, match=r'orders.csv line 1: the header names column "total" twice \(columns 3 and '
                                        r"5\); rename one of them in the file"):
        load_source(source(path, columns=COLUMNS))


def test_an_excel_header_naming_a_column_twice_is_refused(tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["cust", "day", "cust"])
    book.active.append(["C1", "2024-01-05", "C2"])
    path = tmp_path / "orders.xlsx"
    book.save(path)
    with pytest.raises(DataError, match=r'row 1: the header names column "cust" twice \(columns 1 and 3\)'):
        read_file(FileTable(path=str(path)))


# -- encodings --------------------------------------------------------------------------------

def test_a_windows_1252_export_with_a_pound_sign(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes("cust,day,total,desc\nC1,2024-01-05,£12.50,Crème brûlée\n".encode("cp1252"))
    intake, result = cleaned(source(path, columns=COLUMNS))
    assert intake.reading["encoding"] == "cp1252"
    assert result.clean["amount"].tolist() == [12.5]
    assert read_file(FileTable(path=str(path)))["desc"].tolist() == ["Crème brûlée"]


def test_excel_unicode_text_utf16_with_bom_and_tabs(tmp_path):
    path = tmp_path / "orders.txt"  # what Excel's "Unicode text" writes
    path.write_bytes("cust\tday\ttotal\r\n客户一\t2024-01-05\t£3\r\n".encode("utf-16"))
    intake, result = cleaned(source(path, columns=COLUMNS))
    assert result.clean["customer_id"].tolist() == ["客户一"] and result.clean["amount"].tolist() == [3.0]
    assert intake.reading["encoding"] == "utf-16"


def test_a_utf8_byte_order_mark_before_gbk_text_is_dropped(tmp_path):
    """An export "saved with BOM" in GBK: the three bytes of a UTF-8 mark, then GBK. Detected, it is read
    as GB18030 (not refused at line 1 as UTF-8); stated as gb18030, the mark does not shift the header's
    characters into mojibake. A real UTF-8 file with its mark is still read as UTF-8."""
    text = "客户ID,日期,金额\r\n张三,2024-01-05,12.50\r\n李四,2024-01-06,8\r\n"
    path = tmp_path / "gbk_bom.csv"
    path.write_bytes(codecs.BOM_UTF8 + text.encode("gbk"))
    for stated in (None, "gb18030"):
        frame = read_file(FileTable(path=str(path), **({"encoding": stated} if stated else {})))
        assert frame.columns.tolist()[1:4] == ["客户ID", "日期", "金额"], stated
        assert frame["客户ID"].tolist() == ["张三", "李四"] and frame["source_row"].tolist() == [2, 3]
    utf8 = tmp_path / "utf8_bom.csv"
    utf8.write_bytes(codecs.BOM_UTF8 + text.encode("utf-8"))
    table = TextTable(utf8)
    assert pa.Table.from_batches(list(table.batches()))["客户ID"].to_pylist() == ["张三", "李四"]
    assert table.encoding == "utf-8-sig"


def test_an_unknown_encoding_names_those_tried_and_only_those_that_read_it(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes("顧客,日付,金額\nC1,2024-01-05,1200 円\n".encode("shift_jis"))
    with pytest.raises(DataError) as err:
        read_file(FileTable(path=str(path)))
    message = str(err.value)
    assert "tried UTF-8, GB18030 (GBK), Windows-1252 (Latin-1)" in message and "shift_jis" in message
    assert "latin-1" not in message.split("tried")[1].split(")")[-1]  # never sent to an encoding that cannot be right
    for named in message.split("it reads as ")[1].split(":")[0].split(" or "):
        "顧客".encode("shift_jis").decode(named)  # each one offered reads the file
    assert read_file(FileTable(path=str(path), encoding="shift_jis"))["金額"].tolist() == ["1200 円"]


def test_gbk_then_pasted_utf8_is_refused_at_the_first_utf8_line(tmp_path):
    # GB18030 decodes these UTF-8 bytes too ("图书" -> "鍥句功"): they must not become a second category
    path = tmp_path / "orders.csv"
    gbk = "客户,日期,金额,品类\nC1,2024-01-05,3,图书\nC2,2024-01-06,4,玩具\n".encode("gbk")
    utf8 = "C3,2024-01-07,5,图书\n".encode("utf-8")
    assert utf8.decode("gb18030")  # the trap
    path.write_bytes(gbk + utf8)
    with pytest.raises(DataError, match=r"orders.csv line 4 is UTF-8, not GB18030 \(GBK\), the encoding of the lines "
                                        r"before it: the file changes its encoding part-way"):
        read_file(FileTable(path=str(path)))
    with pytest.raises(DataError, match=r"line 4 is UTF-8, not gbk"):  # a stated GBK is checked too
        read_file(FileTable(path=str(path), encoding="gbk"))


def test_gbk_then_utf8_that_gbk_cannot_read_is_refused_at_that_line_not_the_first(tmp_path):
    """UTF-8 lines after a GBK export whose bytes are not GB18030 at all ("2024年12月13日": 年 then a
    digit): the lines before read as GB18030, so the file changed its encoding at that line (it was
    blamed on line 1 undetected, and on "no encoding segkit knows" when gb18030 was stated)."""
    path = tmp_path / "orders.csv"
    gbk = ("客户,日期,金额,品类\n" + "C1,2024-01-05,3,图书\n" * 30).encode("gbk")
    utf8 = "C3,2024年12月13日,5,图书\n".encode("utf-8")
    with pytest.raises(UnicodeDecodeError):
        utf8.decode("gb18030")
    path.write_bytes(gbk + utf8)
    for stated in (None, "gb18030"):
        with pytest.raises(DataError, match=r"orders.csv line 32 is UTF-8, not .*the encoding of the lines before it"):
            read_file(FileTable(path=str(path), encoding=stated))


def test_a_utf8_file_stated_as_another_encoding_is_told_to_state_utf8_not_that_exports_were_pasted(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("客户,品类\n" + "C1,图书\n" * 20, encoding="utf-8")
    for stated in ("gbk", "big5"):
        with pytest.raises(DataError) as refused:
            read_file(FileTable(path=str(path), encoding=stated))
        assert "reads as utf-8" in str(refused.value) and "pasted together" not in str(refused.value)


def test_utf8_then_pasted_gbk_is_refused_at_the_first_gbk_line(tmp_path, monkeypatch):
    path = tmp_path / "orders.csv"
    path.write_bytes("客户,品类\nC1,图书\n".encode("utf-8") + "C2,图书\nC3,玩具\n".encode("gbk"))
    with pytest.raises(DataError, match=r"orders.csv line 3 does not decode as UTF-8 .* the encoding of the lines "
                                        r"before it"):
        read_file(FileTable(path=str(path)))
    monkeypatch.setattr(textfiles, "CHUNK_BYTES", 16)  # the same when the change comes in a later chunk
    with pytest.raises(DataError, match=r"orders.csv line 3 does not decode as UTF-8"):
        read_file(FileTable(path=str(path)))


def test_gbk_lines_that_happen_to_be_valid_utf8_are_still_gbk(tmp_path):
    # "毛" in GBK is C3 AB: valid two-byte UTF-8 ("ë"); read as UTF-8 it is no more plausible than as GBK
    assert "毛".encode("gbk").decode("utf-8") == "ë"
    path = tmp_path / "orders.csv"
    path.write_bytes("客户,品类\nC1,图书\nC2,毛\n".encode("gbk"))
    assert read_file(FileTable(path=str(path)))["品类"].tolist() == ["图书", "毛"]


# -- segkit check -----------------------------------------------------------------------------

def run_check(path):
    from typer.testing import CliRunner

    from segkit.cli import app

    result = CliRunner().invoke(app, ["check", "--params", str(path)])
    return result.exit_code, result.output


def test_check_refuses_what_the_run_refuses_at_intake(tmp_path):
    (tmp_path / "orders.csv").write_text("cust,day,total\nC1,2024-01-05,3\n", encoding="utf-8")
    params = tmp_path / "p.yaml"
    good = ("source:\n  kind: file\n  transactions: {path: orders.csv, columns: {customer_id: cust, ordered_at: day, "
            "amount: total%s}}\n")
    params.write_text(good % "", encoding="utf-8")
    assert run_check(params)[0] == 0
    for extra, says in ((", revenue: total2", "the column map names revenue, which segkit does not use"),
                        (", category: cat", 'column "cat" (for category) is not there')):
        params.write_text(good % extra, encoding="utf-8")
        code, output = run_check(params)
        assert code == 2 and says in output
        with pytest.raises(DataError) as run:  # the run refuses it with the same words
            load_source(load_params(params).source, params)
        assert says in str(run.value)
    db = "source:\n  kind: database\n  database: {url: 'postgresql://u@h/db', columns: {customer_id: a, revenue: b}}\n"
    params.write_text(db, encoding="utf-8")
    code, output = run_check(params)
    assert code == 2 and "the column map names revenue, which segkit does not use" in output
    params.write_text(good.replace("orders.csv", "gone.csv") % "", encoding="utf-8")
    code, output = run_check(params)
    assert code == 2 and "gone.csv: no such file" in output


# -- exact duplicates: the whole row ------------------------------------------------------------

def test_rows_that_differ_only_in_an_unmapped_column_are_not_exact_duplicates(tmp_path):
    # review finding: the hash covered the mapped columns only, so two lines with different descriptions
    # were `duplicate` rows
    path = tmp_path / "orders.csv"
    path.write_text("cust,order,day,total,description\n"
                    "C1,O1,2024-01-05,3,red mug\n"
                    "C1,O1,2024-01-05,3,blue mug\n"
                    "C1,O1,2024-01-05,3,red mug\n", encoding="utf-8")
    src = source(path, columns={**COLUMNS, "order_id": "order"})
    _, kept = cleaned(src, duplicate_order_lines="keep")
    assert kept.clean["source_row"].tolist() == [2, 3]  # the blue mug is used; line 4 copies line 2 whole
    assert kept.quarantine[["source_row", "reason"]].values.tolist() == [[4, "duplicate"]]
    _, default = cleaned(src)  # the same order line again, by customer, order, date and amount (documented rule)
    assert default.quarantine[["source_row", "reason"]].values.tolist() == [[3, "duplicate_order_line"],
                                                                            [4, "duplicate"]]


@pytest.mark.parametrize("text, parser", [
    ('a,b,c\n1,"x\n\ny",3\n\n,,\n2,"q""uote",4\n', "arrow"),   # quoted breaks, an empty line, a blank record
    ('a,b,c\n1,5" screen,3\n2,"x\ny",4\n', "csv"),             # a quote inside an unquoted value
    ('a,b,c\n1,2,3\n' * 60 + '4,5,6,\n7,8\n', "csv"),          # a trailing comma and a short row, past the sample
    (' a  b\n 1  2\n\n 3 4\n', "csv"),                          # runs of blanks
])
def test_arrow_and_the_csv_module_read_alike(tmp_path, monkeypatch, text, parser):
    path = tmp_path / "orders.csv"
    path.write_text(text, encoding="utf-8")
    table = TextTable(path)
    fast = table.read()
    assert table.parser == parser
    monkeypatch.setattr(TextTable, "_arrow", lambda self, *a, **k: (_ for _ in ()).throw(textfiles._SlowPath()))
    slow_table = TextTable(path)
    slow = slow_table.read()
    assert slow_table.parser == "csv"
    assert fast.to_pylist() == slow.to_pylist() and table.blank_lines == slow_table.blank_lines
    rows = fast.to_pylist()
    lines = text.split("\n")
    for row in rows:  # each record's first value is on its line
        assert lines[row["source_row"] - 1].strip().startswith(str(list(row.values())[1]))


def test_a_quote_never_closed_is_refused_not_read_as_the_rest_of_the_file(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text('id,day,amount\n1,2024-01-01,2\n2,"2024-01-02,3\n3,2024-01-03,4\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"orders.csv line 3: a quoted value opens in this record and is not closed "
                                        r"before the end of the file"):
        read_file(FileTable(path=str(path)))  # by the csv module: the open quote is in the first lines
    path.write_text("id,day,amount\n" + "1,2024-01-01,2\n" * 80 + '2,"2024-01-02,3\n3,2024-01-03,4\n',
                    encoding="utf-8")
    with pytest.raises(DataError, match=r"orders.csv line 82: a quoted value opens in this record"):
        read_file(FileTable(path=str(path)))  # by Arrow's reader, whose batches are all in order until then


def test_a_header_spanning_two_lines_puts_the_first_record_on_the_third(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text('"customer\nid",day\nC1,2024-01-01\nC2,2024-01-02\n', encoding="utf-8")
    frame = read_file(FileTable(path=str(path)))
    assert frame.columns.tolist() == ["source_row", "customer\nid", "day"] and frame["source_row"].tolist() == [3, 4]


def test_a_change_of_encoding_far_into_the_file_stops_the_arrow_reader_with_its_line(tmp_path, monkeypatch):
    monkeypatch.setattr(textfiles, "CHUNK_BYTES", 256)  # the change comes while Arrow's reader is reading
    path = tmp_path / "orders.csv"
    head = "客户,品类\n" + "C1,图书\n" * 200
    path.write_bytes(head.encode("utf-8") + "C2,玩具\n".encode("gbk"))
    with pytest.raises(DataError, match=r"orders.csv line 202 does not decode as UTF-8"):
        read_file(FileTable(path=str(path)))
    path.write_bytes(head.encode("gbk") + "C2,玩具\n".encode("utf-8"))
    with pytest.raises(DataError, match=r"orders.csv line 202 is UTF-8, not GB18030"):
        read_file(FileTable(path=str(path)))


def test_utf16_without_a_mark_is_read_and_a_binary_file_is_named(tmp_path):
    import pandas as pd

    path = tmp_path / "orders.csv"
    path.write_bytes("cust,total\nC1,£3\n".encode("utf-16-le"))
    assert read_file(FileTable(path=str(path)))["total"].tolist() == ["£3"]
    pd.DataFrame({"a": [1, 2]}).to_parquet(path)  # a Parquet file under a .csv name
    with pytest.raises(DataError, match=r"orders.csv: not a text file \(it holds NUL bytes\): check "
                                        r"source.transactions.path, or set source.transactions.format"):
        read_file(FileTable(path=str(path)))


def test_a_wrong_stated_encoding_offers_the_one_detection_would_take(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes("id,amount\nC1,£3\n".encode("cp1252"))
    with pytest.raises(DataError, match=r"orders.csv line 2: bytes b'\\xa33\\n' are not gbk \(illegal multibyte "
                                        r"sequence\); it reads as cp1252: state the file's real encoding"):
        read_file(FileTable(path=str(path), encoding="gbk"))


def test_a_gbk_file_behind_a_utf8_byte_order_mark_is_offered_gb18030(tmp_path):
    """An editor that puts a UTF-8 BOM before GBK text: stated as utf-8, the advice is the encoding that
    reads the text after the mark (it read "no encoding segkit knows reads it"), and that one reads it."""
    path = tmp_path / "orders.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "订单号,客户ID,实付金额\n1,张三,10.00\n".encode("gbk"))
    with pytest.raises(DataError, match=r"orders.csv line 1: .* are not utf-8 .*; it reads as gb18030: state"):
        read_file(FileTable(path=str(path), encoding="utf-8"))
    assert {"订单号", "客户ID"} <= set(read_file(FileTable(path=str(path), encoding="gb18030")).columns)


def test_how_the_file_was_read_names_a_compression_only_when_there_is_one(tmp_path):
    """The cleaning page's sentence: "compression: -" for a plain file read as a placeholder."""
    from segkit.i18n import t

    plain, packed = tmp_path / "orders.csv", tmp_path / "orders.csv.gz"
    plain.write_text(CSV, encoding="utf-8")
    packed.write_bytes(gzip.compress(CSV.encode("utf-8")))
    said = {}
    for path in (plain, packed):
        [(key, values)] = [m for m in load_source(Source(kind="file", transactions=FileTable(
            path=str(path), columns=COLUMNS | {"customer_id": "customer_id", "ordered_at": "ordered_at",
                                               "amount": "amount"}))).reading_messages("zh")
                           if m[0].startswith("cleaning.reading")]
        said[path.name] = (key, t(key, "zh", **values), t(key, "en", **values))
    assert said["orders.csv"][0] == "cleaning.reading" and "压缩" not in said["orders.csv"][1]
    assert "-" not in said["orders.csv"][2] and "compress" not in said["orders.csv"][2]
    assert said["orders.csv.gz"][0] == "cleaning.reading_compressed"
    assert "gzip" in said["orders.csv.gz"][1] and "gzip compression" in said["orders.csv.gz"][2]
