"""CSV and TSV files are read into the engine batch by batch, never as a pandas frame (issue 15), and
clean exactly as the text readers clean them: plainly written dates and amounts typed as they load,
the others kept as text and read by cleaning through their distinct values (`engine_parsing`); ids
of 16 digits or more are text there; names the engine cannot keep apart (alike but for case) are read
by position; a column read for two of segkit's sends the file to the text readers."""

import contextlib
import datetime as dt
import gzip
from unittest import mock

import ibis
import pandas as pd
import pytest

import segkit.intake.sources as sources
from ledger_check import assert_every_row_accounted, file_source
from segkit.errors import DataError
from segkit.features import customer_features
from segkit.intake.cleaning import clean_transactions
from segkit.intake.sources import load_source
from segkit.params import Cleaning

AS_OF = dt.date(2024, 12, 31)
COLUMNS = {"customer_id": "cust", "order_id": "order", "ordered_at": "day", "amount": "total", "category": "cat"}
HEADER = "cust,order,day,total,cat,note\n"
# what exports hold, all plainly written: ids with blanks, full-width and invisible characters and
# leading zeros, an exact duplicate (lines 8 and 9), the same order line with another note (10, 11),
# an empty id, a return (negative), a date far in the future, an amount with more decimals than
# cents, a missing amount, a category with a trailing blank, dates with and without a time
ROWS = """C1,1,2024-01-05 10:00:00,10,Books,a
 C1,2,2024-02-01T11:30,20.5,Books ,b
Ｃ２,3,2024-03-03,7.25,Toys,c
C\u200b3,4,2024-04-04 08:00:00,3.005,Toys,d
00017,5,2024-05-05,99.99,Music,e
,6,2024-06-06,1,Music,f
C4,8,2024-08-08,12,Books,h
C4,8,2024-08-08,12,Books,h
C5,9,2024-09-09,8,Toys,i
C5,9,2024-09-09,8,Toys,j
C6,10,2024-10-10,-4,Books,k
C7,11,2999-01-01,6,Books,l
C8,12,2024-11-11,,Books,m
"""


def write(path, text: str, compress: bool = False) -> None:
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data) if compress else data)


def read(path, text_readers: bool = False, columns=COLUMNS, header_row: int = 1, **reading):
    """The file's intake: by the engine where it can (the default), or by the text readers."""
    source = file_source(path, columns=columns, header_row=header_row)
    if not text_readers:
        return load_source(source, **reading)
    with mock.patch.object(sources, "_plain_text_file", lambda *args: None):
        return load_source(source, **reading)


def clean_both(path, rules=None, header_row: int = 1, **reading):
    """(engine, text readers): each (intake, cleaning result), every row accounted for."""
    found = []
    for text_readers in (False, True):
        intake = read(path, text_readers, header_row=header_row, **reading)
        result = clean_transactions(intake.engine, intake.transactions, as_of=AS_OF, rules=rules or Cleaning())
        assert_every_row_accounted(result, intake.transactions)
        found.append((intake, result))
    return found


def assert_same(engine, text) -> None:
    """Both readings give the same ledger, quarantine, clean rows and per-customer features."""
    pd.testing.assert_frame_equal(engine.ledger, text.ledger)
    assert dict(zip(engine.quarantine.source_row, engine.quarantine.reason)) == \
        dict(zip(text.quarantine.source_row, text.quarantine.reason))
    ours, theirs = engine.clean.set_index("source_row"), text.clean.set_index("source_row")
    assert ours.index.tolist() == theirs.index.tolist()
    for column in ("customer_id", "order_id", "category", "amount", "ordered_at", "fixes", "raw_customer_id"):
        if column in theirs:
            assert ours[column].astype("object").tolist() == theirs[column].astype("object").tolist(), column
    features = [customer_features(None, r.scored, r.as_of, 90).sort_values("customer_id").reset_index(drop=True)
                for r in (engine, text)]
    pd.testing.assert_frame_equal(*features, check_dtype=False)


def test_a_plain_csv_is_read_by_the_engine_and_cleans_as_the_text_readers_clean_it(tmp_path, monkeypatch):
    path = tmp_path / "orders.csv"
    write(path, HEADER + ROWS)
    (engine_intake, engine), (text_intake, text) = clean_both(path)
    assert isinstance(engine_intake.transactions, ibis.Table) and not engine_intake.in_database
    assert isinstance(text_intake.transactions, pd.DataFrame)
    assert engine_intake.reading == {k: v for k, v in text_intake.reading.items()}
    assert_same(engine, text)
    aside = dict(zip(engine.quarantine.source_row, engine.quarantine.reason))
    assert aside == {7: "missing_customer_id", 9: "duplicate", 11: "duplicate_order_line",
                     12: "non_positive_amount", 13: "implausible_future_date", 14: "missing_amount"}
    clean = engine.clean.set_index("source_row")
    assert clean.loc[[2, 3, 4, 5, 6], "customer_id"].tolist() == ["C1", "C1", "C2", "C3", "00017"]
    assert clean.loc[5, "amount"] == pytest.approx(3.01)  # 3.005 rounded once, half away from zero
    assert clean.loc[3, "ordered_at"] == pd.Timestamp("2024-02-01 11:30")

    def no_text_reader(*args, **kwargs):
        raise AssertionError("the plain CSV was read into pandas")

    monkeypatch.setattr(sources, "read_file", no_text_reader)
    assert isinstance(read(path).transactions, ibis.Table)


def test_a_compressed_tsv_with_a_title_line_and_blank_lines_keeps_its_line_numbers(tmp_path):
    path = tmp_path / "orders.tsv.gz"
    body = (HEADER + ROWS).replace(",", "\t").replace("\n", "\n\n", 2)  # blank lines after the header and row 1
    write(path, "Shop export\n" + body, compress=True)
    for reading in (read(path, header_row=2), read(path, text_readers=True, header_row=2)):
        assert reading.reading["compression"] == "gzip" and reading.reading["blank_lines"] == 2
    (engine_intake, engine), (_, text) = clean_both(path, header_row=2)
    assert isinstance(engine_intake.transactions, ibis.Table)
    assert_same(engine, text)
    assert engine.clean["source_row"].min() == 4  # the title, the header and a blank line before it


def test_quantity_times_unit_price_is_exact_without_an_amount_column(tmp_path):
    path = tmp_path / "lines.csv"
    write(path, "cust,day,qty,price\nA,2024-01-05,3,2.55\nA,2024-01-06,1000000,1234.5\nB,2024-01-07,-1,0.015\n"
                "B,2024-01-08,2,0.0025\n")
    columns = {"customer_id": "cust", "ordered_at": "day", "quantity": "qty", "unit_price": "price"}
    (engine_intake, engine), (_, text) = clean_both_columns(path, columns)
    assert isinstance(engine_intake.transactions, ibis.Table)
    assert_same(engine, text)
    amounts = engine.clean.set_index("source_row")["amount"].astype(float)
    assert amounts.to_dict() == {2: 7.65, 3: 1_234_500_000.0, 5: 0.01}  # 0.005 rounds away from zero


LINES = ("cust,day,qty,price\nA,2024-01-05,3,¥2.55\nA,2024-01-06,1000000,\"1,234.5\"\nB,2024-01-07,-1,0.015\n"
         "B,2024-01-08,2,0.0025\nC,2024-01-09,x,3\nC,2024-01-10,2,\nD,2024-01-11,1e300,1e300\nD,2024-01-12,3,1e10\n"
         "E,2024-01-13,2.5,US$ 2.5\nE,2024-01-14,３,(1.00)\n")


def test_an_amount_derived_from_quantity_and_unit_price_written_as_text_is_derived_in_the_engine(tmp_path):
    # a currency sign, a thousands separator, a part that is not a number, a missing one, a product too
    # large to be a line, a full-width quantity, a price in brackets: both parts kept as text, the
    # product derived by cleaning through each distinct pair, as the text readers derive it
    path = tmp_path / "lines.csv"
    write(path, LINES)
    columns = {"customer_id": "cust", "ordered_at": "day", "quantity": "qty", "unit_price": "price"}
    (engine_intake, engine), (_, text) = clean_both_columns(path, columns, Cleaning(max_amount=1e10))
    schema = engine_intake.transactions.schema()
    assert isinstance(engine_intake.transactions, ibis.Table)
    assert schema["quantity"].is_string() and schema["unit_price"].is_string() and "amount" not in schema
    assert_same(engine, text)
    assert_same_notes_and_details(engine, text)
    amounts = engine.clean.set_index("source_row")["amount"].astype(float).to_dict()
    assert amounts == {2: 7.65, 3: 1_234_500_000.0, 5: 0.01, 10: 6.25}  # 2 × 0.0025 rounds away from zero
    aside = engine.quarantine.set_index("source_row")
    assert aside.loc[9, "detail"].startswith("qty × price 3 × 1e10 is above cleaning.max_amount 1e+10")
    # the same lines as a Parquet file of text columns: read in place, derived alike (its rows one lower)
    cells = [line.split(",") for line in LINES.replace('"1,234.5"', "1234.5").splitlines()]
    frame = pd.DataFrame([[c or None for c in row] for row in cells[1:]], columns=cells[0])
    frame.to_parquet(tmp_path / "lines.parquet", index=False)
    parquet = load_source(file_source(tmp_path / "lines.parquet", columns=columns))
    assert isinstance(parquet.transactions, ibis.Table) and parquet.transactions.schema()["quantity"].is_string()
    from_parquet = clean_transactions(parquet.engine, parquet.transactions, as_of=AS_OF, rules=Cleaning(max_amount=1e10))
    assert {row - 1: amount for row, amount in amounts.items()} == \
        from_parquet.clean.set_index("source_row")["amount"].astype(float).to_dict()
    assert dict(zip(from_parquet.quarantine.source_row + 1, from_parquet.quarantine.reason)) == \
        dict(zip(engine.quarantine.source_row, engine.quarantine.reason))
    # the same lines below 2,000 plain ones: the engine's chunks typed the parts, then read the file again
    plain = "".join(f"P{i},2024-02-{1 + i % 28:02d},{1 + i % 4},{i % 90 + 1}.25\n" for i in range(2000))
    write(path, LINES.replace("cust,day,qty,price\n", "cust,day,qty,price\n" + plain))
    with small_chunks() as readings, sliced_batches(500):
        (engine_intake, engine), (_, text) = clean_both_columns(path, columns, Cleaning(max_amount=1e10))
    assert readings == [2, 1] and engine_intake.transactions.schema()["quantity"].is_string()
    assert_same(engine, text)
    assert_same_notes_and_details(engine, text)
    # a decimal comma keeps both parts as text from the start
    write(path, "cust,day,qty,price\nA,2024-01-05,3,\"2,55\"\nB,2024-01-07,2,\"1.000,5\"\n")
    (engine_intake, engine), (_, text) = clean_both_columns(path, columns, Cleaning(decimal=","))
    assert isinstance(engine_intake.transactions, ibis.Table)
    assert_same(engine, text)
    assert engine.clean["amount"].astype(float).tolist() == [7.65, 2001.0]


def clean_both_columns(path, columns, rules=None):
    found = []
    for text_readers in (False, True):
        intake = read(path, text_readers, columns=columns, **({"decimal": rules.decimal} if rules else {}))
        result = clean_transactions(intake.engine, intake.transactions, as_of=AS_OF, rules=rules or Cleaning())
        assert_every_row_accounted(result, intake.transactions)
        found.append((intake, result))
    return found


def assert_same_notes_and_details(engine, text) -> None:
    """Both readings give the same notes (rows counted, examples) and the same details of the rows set aside."""
    assert engine.notes == text.notes
    assert engine.quarantine["detail"].tolist() == text.quarantine["detail"].tolist()
    raw = [c for c in engine.quarantine.columns if c.startswith("raw_")]  # the values read from text, as given
    def values(frame):
        frame = frame[raw].astype("object")
        return frame.where(frame.notna(), None).values.tolist()

    assert values(engine.quarantine) == values(text.quarantine)


@contextlib.contextmanager
def small_chunks(rows: int = 1_000):
    """Chunks of `rows` records into the engine (CHUNK_ROWS), so that a file of some ten thousand lines
    spans several; yields the list of how many times each reading opened the file (engine, text readers)."""
    import segkit.intake.plain_text as plain_text
    from segkit.intake.textfiles import TextTable

    readings, original = [], TextTable.batches

    def counted(self):
        readings[-1] += 1
        return original(self)

    real_read = sources.load_source

    def load(*args, **kwargs):
        readings.append(0)
        return real_read(*args, **kwargs)

    with mock.patch.object(plain_text, "CHUNK_ROWS", rows), mock.patch.object(TextTable, "batches", counted), \
            mock.patch(f"{__name__}.load_source", load):
        yield readings


@contextlib.contextmanager
def sliced_batches(rows: int):
    """The text reader's batches (whatever patches them already) cut into `rows` records each, so
    that a file of a few thousand lines spans several of the engine's chunks (`small_chunks`)."""
    from segkit.intake.textfiles import TextTable

    reader = TextTable.batches

    def sliced(self):
        for batch in reader(self):
            yield from (batch.slice(start, rows) for start in range(0, batch.num_rows, rows))

    with mock.patch.object(TextTable, "batches", sliced):
        yield


def with_rows(values: list[str], date: str | None = None, amount: str = "5") -> str:
    """The file's text with a row for each of `values` after ROWS: as the date (`date` None) or as
    the amount (dated `date`), each of a customer of its own."""
    extra = [f"X{i},{100 + i},{value if date is None else date},{amount if date is None else value},Books,z\n"
             for i, value in enumerate(values)]
    return HEADER + ROWS + "".join(extra)


DATES_NOT_PLAIN = ["05/03/2024", "2024-03-05 10:00:00+08:00", "2024-02-30", "2024-03-05 10:00:00.250",
                   "2024-03-05 10:00 PM", "25/12/2024 14:03", "2024年3月5日 9:05", "45296"]


@pytest.mark.parametrize("first", [True, False], ids=["first-line", "last-line"])
def test_dates_not_plainly_written_are_read_in_the_engine_as_the_text_readers_read_them(tmp_path, first):
    # a day/month date, an offset, no such day, a fraction of a second, a 12-hour clock, a date that decides
    # the day/month order, a Chinese date, an Excel serial day: on the file's first line or after the others
    path = tmp_path / "orders.csv"
    text = with_rows(DATES_NOT_PLAIN)
    if first:
        lines = text.splitlines(keepends=True)
        text = lines[0] + "".join(lines[-len(DATES_NOT_PLAIN):]) + "".join(lines[1:-len(DATES_NOT_PLAIN)])
    write(path, text)
    (engine_intake, engine), (_, text_read) = clean_both(path)
    assert isinstance(engine_intake.transactions, ibis.Table)
    assert engine_intake.transactions.schema()["ordered_at"].is_string()  # read by cleaning, from its text
    assert_same(engine, text_read)
    assert_same_notes_and_details(engine, text_read)


AMOUNTS_NOT_PLAIN = ['"1,234.50"', "$12.50", "12.50 €", "1e3", "0x10", " 12", "1234567890123.5", "(3.00)",
                     '"¥1,2O4.50"', "inf", "1e400"]


def test_amounts_not_plainly_written_are_read_in_the_engine_as_the_text_readers_read_them(tmp_path):
    path = tmp_path / "orders.csv"
    write(path, with_rows(AMOUNTS_NOT_PLAIN, date="2024-07-01"))
    (engine_intake, engine), (_, text) = clean_both(path, rules=Cleaning(max_amount=1e9))
    assert isinstance(engine_intake.transactions, ibis.Table)
    assert engine_intake.transactions.schema()["amount"].is_string()
    assert_same(engine, text)
    assert_same_notes_and_details(engine, text)
    reasons = dict(zip(engine.quarantine.source_row, engine.quarantine.reason))
    assert [reasons.get(15 + i) for i in (3, 4, 6, 7, 8, 9, 10)] == [
        None, "unreadable_amount", "implausible_amount", "non_positive_amount", "unreadable_amount", "unreadable_amount",
        "unreadable_amount"]  # 1e3 is a thousand; "inf" and 1e400 are no amounts


def test_a_decimal_comma_in_the_params_reads_amounts_in_the_engine_as_the_text_readers_do(tmp_path):
    path = tmp_path / "orders.csv"
    write(path, HEADER + ROWS.replace("99.99", '"1.299,99"').replace("7.25", '"7,25"'))
    (engine_intake, engine), (_, text) = clean_both(path, rules=Cleaning(decimal=","), decimal=",")
    assert isinstance(engine_intake.transactions, ibis.Table)
    assert engine_intake.transactions.schema()["amount"].is_string()  # "1.234" is a thousand there: read as text
    assert_same(engine, text)
    assert_same_notes_and_details(engine, text)
    assert engine.clean.set_index("source_row")["amount"].astype(float)[6] == 1299.99


def test_an_export_written_every_which_way_cleans_in_the_engine_as_in_the_text_readers(tmp_path):
    """Chinese and US date layouts, a day-first column, currency signs of another currency, a decimal
    comma, a total row, an amount too large, unreadable values, an exact duplicate: row for row, note
    for note, the same as the text readers."""
    path = tmp_path / "export.csv"
    write(path, "cust,order,day,total,cat,note\n"
                "C1,1,2024-01-05 10:00,12.50,A,x\n"
                "C1,2,25/12/2024,\"¥1,234.50\",B,x\n"
                "C2,3,05/01/2024,$3,A,x\n"
                "C2,4,2024/1/7,abc,A,x\n"
                "C3,5,nope,1e400,A,x\n"
                "C3,6,2024-02-30,12,A,x\n"
                "C4,7,2024年3月1日 14:30,\"69,21\",A,x\n"
                " C5 ,8,2024-03-02,2000000000000,A,x\n"
                "C1,1,2024-01-05 10:00,12.50,A,x\n"
                "C6,9,45296,US$ 8.00,A,x\n"
                "C6,10,5 Jan 2024,¥5,A,x\n"
                "C7,11,07/02/2024 3:04 PM,\"1,000\",A,x\n")
    rules = Cleaning(max_amount=1e9)
    found = []
    for text_readers in (False, True):
        intake = read(path, text_readers)
        result = clean_transactions(intake.engine, intake.transactions, as_of=AS_OF, rules=rules, currency_code="CNY")
        assert_every_row_accounted(result, intake.transactions)
        found.append(result)
    engine, text = found
    assert_same(engine, text)
    assert_same_notes_and_details(engine, text)
    assert {n["key"] for n in engine.notes} >= {"date_order_day_first", "currency_sign_differs"}
    assert engine.clean.set_index("source_row")["ordered_at"][4] == pd.Timestamp("2024-01-05")  # by the column


def test_a_value_not_plainly_written_far_down_the_file_turns_its_column_into_text(tmp_path):
    """The rows already in the engine are read again from their text: a late day/month date decides the
    order of the early ones, and the note counts and names the rows as the text readers do."""
    path = tmp_path / "orders.csv"
    lines = [f"{1000 + i % 5000},{i},2024-01-{1 + i % 28:02d} 10:{i % 60:02d}:00,{i % 50 + 1}.{i % 100:02d},"
             f"{'Books' if i % 3 else 'Toys'},n{i % 7}\n" for i in range(45_000)]
    lines[20] = "1020,20,03/04/2024,5,Books,x\n"  # either order: decided by the line far below
    lines[40_000] = "C99,40000,25/12/2024,\"¥1,234.50\",Books,x\n"
    lines[40_001] = "1001,40001,2024/2/30,7,Books,x\n"
    write(path, HEADER + "".join(lines))
    with small_chunks() as readings:
        (engine_intake, engine), (_, text) = clean_both(path)
    assert readings == [2, 1]  # the line far below is in a later chunk: the engine reads the file again, once
    schema = engine_intake.transactions.schema()
    assert schema["ordered_at"].is_string() and schema["amount"].is_string() and schema["customer_id"].is_string()
    assert_same(engine, text)
    assert_same_notes_and_details(engine, text)
    note = next(n for n in engine.notes if n["key"] == "date_order_day_first")
    assert (note["decided_by"], note["followed"], note["example"]) == (1, 1, "25/12/2024")
    assert engine.clean.set_index("source_row")["ordered_at"][22] == pd.Timestamp("2024-04-03")


def test_long_order_numbers_stay_in_the_engine_as_the_text_readers_read_them(tmp_path):
    """Marketplace order numbers of 18-19 digits (and customer ids of 16) were a reason to read the
    whole file into pandas: they are text in the engine, kept digit for digit."""
    path = tmp_path / "orders.csv"
    lines = [f"{1234567890123456 + i % 40},{202403051234567890 + 7 * i},2024-0{1 + i % 9}-1{i % 10},{5 + i % 9}.50,"
             f"Books,x\n" for i in range(300)]
    lines[120] = lines[119]  # an exact duplicate
    lines[200] = f" 1234567890123456\t,{lines[200].split(',', 1)[1]}"  # blanks around an id the text fixes take off
    write(path, HEADER + "".join(lines))
    (engine_intake, engine), (text_intake, text) = clean_both(path)
    assert isinstance(engine_intake.transactions, ibis.Table) and isinstance(text_intake.transactions, pd.DataFrame)
    assert engine_intake.transactions.schema()["order_id"].is_string()
    assert_same(engine, text)
    assert_same_notes_and_details(engine, text)
    assert "long_ids_end_in_zeros" not in {n["key"] for n in engine.notes}  # the order numbers do not all end in zeros
    assert "202403051234567890" in set(engine.clean["order_id"]) and engine.clean["customer_id"].nunique() == 40


def test_long_ids_that_all_end_in_zeros_get_the_text_readers_note_in_the_engine(tmp_path):
    """Ids a spreadsheet's Number format rounded to 15 digits (`3456789012345710000`) are noted: from a
    CSV in the engine, and from a Parquet file's text column read in place, as the text readers note them."""
    path = tmp_path / "orders.csv"
    lines = [f"C{i % 30},{345678901234570 + i}0000,2024-0{1 + i % 9}-1{i % 10},{5 + i % 9},Books,x\n"
             for i in range(60)]
    write(path, HEADER + "".join(lines))
    (engine_intake, engine), (_, text) = clean_both(path)
    assert isinstance(engine_intake.transactions, ibis.Table)
    assert_same(engine, text)
    assert_same_notes_and_details(engine, text)
    assert [(n["column"], n["ids"], n["example"]) for n in engine.notes if n["key"] == "long_ids_end_in_zeros"] == [
        ("order", 60, "3456789012345700000")]
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.to_parquet(tmp_path / "orders.parquet", index=False)
    typed = load_source(file_source(tmp_path / "orders.parquet", columns=COLUMNS))
    assert isinstance(typed.transactions, ibis.Table)
    assert clean_transactions(typed.engine, typed.transactions, as_of=AS_OF).notes == engine.notes
    # 19 such ids are not yet a pattern: no note from either reading
    write(path, HEADER + "".join(lines[:19]))
    (_, engine), (_, text) = clean_both(path)
    assert engine.notes == text.notes and "long_ids_end_in_zeros" not in {n["key"] for n in engine.notes}


def test_a_late_code_among_whole_number_ids_turns_the_column_into_text_in_the_engine(tmp_path):
    path = tmp_path / "orders.csv"
    # whole-number ids in the first batch of records, a code far below: the ids become text in the engine
    lines = [f"{1000 + i},{i},2024-01-{1 + i % 28:02d},{i % 50 + 1},Books,x\n" for i in range(70_000)]
    lines[69_990] = "C99,69990,2024-03-01,5,Books,x\n"
    write(path, HEADER + "".join(lines))
    (engine_intake, engine), (_, text) = clean_both(path)
    assert isinstance(engine_intake.transactions, ibis.Table)
    assert_same(engine, text)
    assert "C99" in set(engine.clean["customer_id"])


def read_kept(path, columns, attributes, text_readers: bool):
    """(intake, its kept attributes as a frame in source_row order), by the engine or by the text
    readers; the engine's reading must stay in the engine."""
    source = file_source(path, columns=columns, attributes=attributes)
    with mock.patch.object(sources, "_plain_text_file", lambda *args: None) if text_readers else \
            contextlib.nullcontext():
        intake = load_source(source)
    assert isinstance(intake.transactions, ibis.Table) != text_readers
    frame = intake.attributes.to_pandas() if not text_readers else intake.attributes
    return intake, frame.sort_values("source_row").reset_index(drop=True)


def test_kept_attributes_of_a_csv_stay_in_the_engine_and_derive_what_the_text_readers_derive(tmp_path):
    """Transaction attributes the params keep sent the whole file to the text readers: they are now
    loaded as text beside the transactions and normalised as labels in the engine (blanks, full-width
    letters, empty as missing), also from a column mapped as an id, and from a date or an amount
    column, as written."""
    from segkit.intake.cleaning import clean_and_save

    regions = [" North", "North ", "Ｎｏｒｔｈ", "", "south", "south", "x", "East", "East", "West", "west ", "", "North"]
    lines = [f"{line},{region}" for line, region in zip(ROWS.strip("\n").split("\n"), regions)]
    path = tmp_path / "orders.csv"
    write(path, HEADER.strip() + ",region\n" + "\n".join(lines) + "\n")
    attributes = {"area": "region", "memo": "note", "order_number": "order"}
    derived, kept = {}, {}
    for text_readers in (False, True):
        intake, kept[text_readers] = read_kept(path, COLUMNS, attributes, text_readers)
        assert isinstance(intake.attributes, ibis.Table) != text_readers
        folder = tmp_path / f"run-{text_readers}"
        clean_and_save(intake, folder, as_of=AS_OF, dimensions=("area", "memo"))
        derived[text_readers] = pd.read_parquet(folder / "customers.parquet")
    pd.testing.assert_frame_equal(kept[False], kept[True], check_dtype=False)
    pd.testing.assert_frame_equal(derived[False], derived[True])
    areas = kept[False].set_index("source_row")["area"]
    assert areas[2] == areas[4] == "North" and pd.isna(areas[5])  # trimmed, full-width made ASCII, empty missing
    assert kept[False].set_index("source_row")["order_number"][2] == "1"  # an id kept as a number, as its text
    # kept from the date and the amount columns, whose values the engine types: a copy as written
    # ("2024-02-01T11:30", "3.005"), as the text readers keep it, beside the typed columns
    both = {}
    for text_readers in (False, True):
        _, both[text_readers] = read_kept(path, COLUMNS, {"when": "day", "total_written": "total"}, text_readers)
    pd.testing.assert_frame_equal(both[False], both[True], check_dtype=False)
    written = both[False].set_index("source_row")
    assert written.loc[3, "when"] == "2024-02-01T11:30" and written.loc[5, "total_written"] == "3.005"


def test_whole_number_ids_over_many_batches_are_read_by_the_engine(tmp_path):
    path = tmp_path / "orders.csv"
    lines = [f"{1000 + i % 5000},{i},2024-01-{1 + i % 28:02d} 10:{i % 60:02d}:00,{i % 50 + 1}.{i % 100:02d},"
             f"{'Books' if i % 3 else 'Toys'},n{i % 7}\n" for i in range(45_000)]
    lines[30_000] = lines[29_999]  # an exact duplicate in a later chunk
    write(path, HEADER + "".join(lines))
    with small_chunks() as readings:
        (engine_intake, engine), (_, text) = clean_both(path)
    assert readings == [1, 1]
    assert isinstance(engine_intake.transactions, ibis.Table)
    assert engine_intake.transactions.schema()["customer_id"].is_integer()
    assert_same(engine, text)
    assert dict(zip(engine.quarantine.source_row, engine.quarantine.reason)) == {30_002: "duplicate"}


def test_rows_that_differ_only_in_how_a_number_is_written_are_not_exact_duplicates(tmp_path):
    path = tmp_path / "orders.csv"
    write(path, HEADER + "C1,1,2024-01-05,1.50,Books,a\nC1,1,2024-01-05,1.5,Books,a\nC2,2,2024-01-06,3,Toys,\n"
                         "C2,2,2024-01-06,3,Toys,\n")
    (_, engine), (_, text) = clean_both(path)
    assert_same(engine, text)
    assert dict(zip(engine.quarantine.source_row, engine.quarantine.reason)) == {
        3: "duplicate_order_line", 5: "duplicate"}


def test_a_time_zone_and_day_first_rules_leave_plain_dates_as_the_text_readers_leave_them(tmp_path):
    path = tmp_path / "orders.csv"
    write(path, HEADER + ROWS)
    rules = Cleaning(time_zone="Asia/Shanghai", day_first=True)
    (engine_intake, engine), (_, text) = clean_both(path, rules=rules, time_zone="Asia/Shanghai")
    assert isinstance(engine_intake.transactions, ibis.Table)
    assert_same(engine, text)


def test_a_column_read_for_two_of_segkits_columns_goes_to_the_text_readers(tmp_path):
    path = tmp_path / "orders.csv"
    write(path, "cust,order,day,total,product\n1,1,2024-01-05,100,90\n2,2,2024-02-05,50,45\n")
    intake = read(path, columns={**COLUMNS, "category": "product"})  # and product, by its name
    assert isinstance(intake.transactions, pd.DataFrame)
    result = clean_transactions(intake.engine, intake.transactions, as_of=AS_OF)
    assert_every_row_accounted(result, intake.transactions)


@pytest.mark.parametrize("reading", ["engine", "text readers"])
def test_a_column_named_source_row_is_one_message_naming_the_file_and_the_column(tmp_path, reading):
    """The text readers crashed on it (two columns of that name); the engine dropped it unseen."""
    path = tmp_path / "orders.csv"
    write(path, "cust,order,day,total,source_row\n1,1,2024-01-05,100,7\n")
    with pytest.raises(DataError, match=r'orders.csv line 1: column 5 is named "source_row".*rename that column'):
        read(path, text_readers=reading == "text readers")


def test_a_header_without_a_name_beside_a_column_named_unnamed_is_read_by_the_text_readers(tmp_path):
    """What pandas writes when a frame read with its index is saved again: an empty name, then `Unnamed: 0`.
    The engine's reading by position stopped on the two alike names; the text readers read the file."""
    path = tmp_path / "orders.csv"
    write(path, ",Unnamed: 0,cust,order,day,total,cat\n0,0,A,1,2024-01-01,5,x\n1,1,B,2,2024-01-02,6,y\n"
                "1,1,B,2,2024-01-02,6,y\n")
    intake = read(path)
    assert isinstance(intake.transactions, pd.DataFrame)
    result = clean_transactions(intake.engine, intake.transactions, as_of=AS_OF)
    assert_every_row_accounted(result, intake.transactions)
    assert result.quarantine.reason.tolist() == ["duplicate"] and len(result.clean) == 2


def test_names_alike_but_for_case_and_the_engines_own_names_stay_in_the_engine(tmp_path):
    """`Amount` beside `amount`, `ID` beside `id`, and columns named as the engine's own (Source_Row,
    segkit_content) sent the file to the text readers: DuckDB's names ignore case. The engine now reads
    a batch's columns by their position and keeps such columns under names of its own; the details
    and notes still name the file's columns, and every reading equals the text readers'. The amounts
    turn into text after the first chunk (¥, a thousands comma), so the file is read twice."""
    header = "ID,id,day,amount,Amount,Source_Row,segkit_content,Region,region\n"
    lines = []
    for i in range(2_400):
        amount = f"{5 + i % 7}.50" if i < 1_500 else ('"¥1,234.50"' if i % 3 else "abc")
        lines.append(f"C{i % 300},{i // 2},2024-{1 + i % 12:02d}-{1 + i % 27:02d},{i % 4},{amount},"
                     f"Books{i % 3},n{i},North{i % 2},south")
    lines += [lines[10], lines[20]]  # exact copies: the content hash reads every column, by position
    path = tmp_path / "orders.csv"
    write(path, header + "\n".join(lines) + "\n")
    columns = {"customer_id": "ID", "order_id": "id", "ordered_at": "day", "amount": "Amount",
               "category": "Source_Row", "product": "amount"}
    attributes = {"area": "Region", "note": "segkit_content", "area_lower": "region"}
    found, kept = [], []
    with contextlib.ExitStack() as stack:
        readings = stack.enter_context(small_chunks(500))
        stack.enter_context(sliced_batches(200))
        for text_readers in (False, True):
            intake, frame = read_kept(path, columns, attributes, text_readers)
            result = clean_transactions(intake.engine, intake.transactions, as_of=AS_OF, rules=Cleaning())
            assert_every_row_accounted(result, intake.transactions)
            found.append(result)
            kept.append(frame)
    assert readings[0] == 2  # the amounts turned into text after rows went in: the file read again
    engine, text = found
    assert_same(engine, text)
    assert_same_notes_and_details(engine, text)
    pd.testing.assert_frame_equal(*kept, check_dtype=False)
    reasons = engine.quarantine.groupby("reason").size().to_dict()
    assert reasons["duplicate"] == 2 and reasons["unreadable_amount"] == 300
    assert engine.quarantine.loc[engine.quarantine.reason == "unreadable_amount", "detail"].str.contains("Amount").all()
    clean = engine.clean.set_index("source_row")
    assert clean.loc[2, "category"] == "Books0" and clean.loc[2, "customer_id"] == "C0"
    assert clean.loc[1_600, "amount"] == pytest.approx(1234.5)
    areas = kept[0].set_index("source_row")
    assert areas.loc[2, "area"] == "North0" and areas.loc[2, "area_lower"] == "south" and areas.loc[2, "note"] == "n0"


def test_a_time_or_day_python_does_not_read_is_unreadable_in_the_engine_too(tmp_path):
    values = ["2024-03-01 24:00:00", "2024-01-05T24:00", "2024-03-01 23:60", "2024-03-01 10:00:60", "0000-01-01",
              "2024-13-01", "2024-00-10"]
    path = tmp_path / "orders.csv"
    write(path, with_rows(values))
    (engine_intake, engine), (_, text) = clean_both(path)
    assert isinstance(engine_intake.transactions, ibis.Table)
    reasons = dict(zip(engine.quarantine.source_row, engine.quarantine.reason))
    assert [reasons[15 + i] for i in range(len(values))] == ["unreadable_date"] * len(values)
    assert_same(engine, text)
    assert_same_notes_and_details(engine, text)


def rounded_ids_refusals(path) -> list[str]:
    """The RoundedIds message of each reading of `path` (the engine's, then the text readers'): both refuse."""
    from segkit.intake.parsing import RoundedIds

    said = []
    for text_readers in (False, True):
        intake = read(path, text_readers)
        assert isinstance(intake.transactions, pd.DataFrame) == text_readers
        with pytest.raises(RoundedIds) as refused:
            clean_transactions(intake.engine, intake.transactions, as_of=AS_OF)
        said.append(str(refused.value))
    return said


@pytest.mark.parametrize("where", ["customer", "order"])
def test_an_id_in_scientific_notation_gets_the_text_readers_message_with_its_row(tmp_path, where):
    """Read in the engine (the ids are text there), refused by cleaning with the text readers' own
    message: the first row, how many ids, and to export the file again with the column as Text."""
    path = tmp_path / "orders.csv"
    rows = ROWS.replace("C7,", "1.23457E+11,").replace("C8,", "1.23457E+11,") if where == "customer" else \
        ROWS.replace("C7,11,", "C7,2.5E+17,").replace("C8,12,", "C8,3.1E+17,")
    write(path, HEADER + rows)
    said = rounded_ids_refusals(path)
    assert said[0] == said[1]
    assert "in row 13" in said[0] and "export the file again" in said[0]
    assert ("holds 1 value on" if where == "customer" else "holds 2 values") in said[0]  # the ids, not the rows


@pytest.mark.parametrize("written", ["1.2E+12\u200b", "１．２３４５７Ｅ＋１１", '="1.23457E+11"', "1.2E&#43;12"],
                         ids=["invisible", "full-width", "formula", "entity"])
def test_an_id_rounded_under_what_the_text_fixes_take_off_is_refused_by_both_readings(tmp_path, written):
    """Both readings judge the ids as the text fixes read them: a rounded id behind an invisible
    character, in full-width digits, in a formula's quotes or an HTML entity is a rounded id."""
    path = tmp_path / "orders.csv"
    write(path, HEADER + ROWS.replace("C7,11,", f"C7,{written},"))
    said = rounded_ids_refusals(path)
    assert said[0] == said[1] and "in row 13" in said[0]


def test_long_ids_behind_what_the_text_fixes_take_off_and_the_notes_order_are_the_text_readers(tmp_path):
    """20 long ids ending in zeros in full-width digits are noted by both readings; one long id that does
    not end so, behind an invisible character, rules the note out for both; the note comes where the
    text readers put it, before the amounts' decimal-mark note."""
    path = tmp_path / "orders.csv"
    wide = str.maketrans("0123456789", "０１２３４５６７８９")

    def shop(ids) -> list[str]:
        amounts = ['"5,50"' if i == 3 else "5" for i in range(len(ids))]  # a decimal comma: its own note
        return [f"C{i % 7},{number},2024-0{1 + i % 9}-1{i % 10},{amount},Books,x\n"
                for i, (number, amount) in enumerate(zip(ids, amounts))]

    ids = [f"{345678901234570 + i}0000" for i in range(20)]
    for body, noted in ((shop(ids), True), (shop([i.translate(wide) for i in ids]), True),
                        (shop([*ids, "12345678901234\u200b56789"]), False)):
        write(path, HEADER + "".join(body))
        (engine_intake, engine), (_, text) = clean_both(path)
        assert isinstance(engine_intake.transactions, ibis.Table)
        assert engine.notes == text.notes
        keys = [n["key"] for n in engine.notes]
        assert ("long_ids_end_in_zeros" in keys) == noted
        if noted:
            assert keys.index("long_ids_end_in_zeros") < keys.index("decimal_mark_differs")


def test_a_rounded_id_after_ten_thousand_exact_ones_is_found_and_counted(tmp_path):
    """Scientific notation that stands for no more digits than it writes (1.00000E+05 is 100000) is no
    rounded id; a rounded one after 10,000 such values is found, and the distinct rounded ids counted."""
    path = tmp_path / "orders.csv"
    lines = [f"{i / 100_000 + 1:.5f}E+05,{i},2024-01-05,5,Books,x\n" for i in range(10_000)]
    write(path, HEADER + "".join(lines) + "C1,1,2024-01-05,5,Books,x\n")
    for text_readers in (False, True):  # exact: nothing refused
        intake = read(path, text_readers)
        clean_transactions(intake.engine, intake.transactions, as_of=AS_OF)
    write(path, HEADER + "".join(lines) + "1.2E+12,1,2024-01-05,5,Books,x\n3.4E+12,2,2024-01-05,5,Books,x\n")
    said = rounded_ids_refusals(path)
    assert said[0] == said[1] and "holds 2 values" in said[0] and "in row 10002" in said[0]


def test_details_and_saved_quantities_read_as_the_text_readers_write_them(tmp_path):
    path = tmp_path / "lines.csv"
    write(path, "cust,day,qty,price,total\nA,2024-01-05,6,3.39,100.005\nA,2024-01-06,1,2.50,5\n")
    both = [read(path, text_readers, columns={"customer_id": "cust", "ordered_at": "day", "amount": "total",
                                              "quantity": "qty", "unit_price": "price"}) for text_readers in (False, True)]
    assert isinstance(both[0].transactions, ibis.Table)
    results = [clean_transactions(i.engine, i.transactions, as_of=AS_OF, rules=Cleaning(max_amount=100)) for i in both]
    assert results[0].quarantine["detail"].tolist() == results[1].quarantine["detail"].tolist()
    assert 'total "100.005"' in results[0].quarantine["detail"].iloc[0]
    for column in ("quantity", "unit_price"):
        assert results[0].clean[column].dtype == results[1].clean[column].dtype == "float64"
    # without an amount column the detail names the product as the text readers do
    write(path, "cust,day,qty,price\nA,2024-01-05,6,33.9\nA,2024-01-06,1,2.5\n")
    derived = [read(path, text_readers, columns={"customer_id": "cust", "ordered_at": "day", "quantity": "qty",
                                                 "unit_price": "price"}) for text_readers in (False, True)]
    details = [clean_transactions(i.engine, i.transactions, as_of=AS_OF, rules=Cleaning(max_amount=100))
               .quarantine["detail"].tolist() for i in derived]
    assert details[0] == details[1] and "qty × price 6 × 33.9" in details[0][0]


def test_a_late_value_not_plainly_written_reads_the_file_again_keeping_the_text_as_exported(tmp_path):
    """Rows loaded typed before a later line turned their column into text are read again from the file:
    a set-aside row's detail and text are as exported ("5000000000", not the engine's "5000000000.000000"),
    and the blank lines are counted once."""
    path = tmp_path / "orders.csv"
    lines = [f"{1000 + i % 5000},{i},2024-01-{1 + i % 28:02d},{i % 50 + 1}.5,Books,n\n" for i in range(45_000)]
    lines[10] = "1010,10,2024-01-11,5000000000,Books,n\n"  # above max_amount: its detail quotes the file
    lines[11] = "\n"  # a blank line, counted once
    lines[40_000] = "1000,40000,2024-01-05,\"¥1,234.50\",Books,n\n"
    lines[40_001] = "1000,40001,5/1/2024 10:00,7,Books,n\n"
    write(path, HEADER + "".join(lines))
    rules = Cleaning(max_amount=1e9)
    with small_chunks() as readings:
        (engine_intake, engine), (text_intake, text) = clean_both(path, rules=rules)
    assert readings[0] == 2  # the engine's reading went back to the file's start, once for both columns
    schema = engine_intake.transactions.schema()
    assert schema["amount"].is_string() and schema["ordered_at"].is_string()
    assert engine_intake.reading["blank_lines"] == text_intake.reading["blank_lines"] == 1
    assert_same(engine, text)
    assert_same_notes_and_details(engine, text)
    aside = engine.quarantine.set_index("source_row")
    assert aside.loc[12, "detail"].startswith('total "5000000000" is above') and aside.loc[12, "raw_amount"] == "5000000000"


def test_notes_of_several_columns_come_in_the_text_readers_order(tmp_path):
    # a decimal comma in the amount and a euro price: the currency note first, as the text readers give it
    path = tmp_path / "lines.csv"
    write(path, 'cust,order,date,amt,qty,price\nC1,1,2024/3/5,"12,50",1,€3\nC2,2,2024-03-06,5,"1,5",3\n'
                'C3,3,2024-03-07,"7,25",2,$4\nC4,4,2024-03-08,9,1,9\n')
    columns = {"customer_id": "cust", "order_id": "order", "ordered_at": "date", "amount": "amt", "quantity": "qty",
               "unit_price": "price"}
    found = []
    for text_readers in (False, True):
        intake = read(path, text_readers, columns=columns)
        found.append(clean_transactions(intake.engine, intake.transactions, as_of=AS_OF, currency_code="CNY"))
    engine, text = found
    assert [n["key"] for n in engine.notes][:3] == ["currency_sign_differs", "decimal_mark_differs", "decimal_mark_differs"]
    assert_same(engine, text)
    assert_same_notes_and_details(engine, text)
