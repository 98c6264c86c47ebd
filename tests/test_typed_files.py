"""Typed files (Parquet, DuckDB) are cleaned in the engine, read in place, never as a pandas frame
(issue 15), and give what the same rows give as a text file: the same ids, fixes, ledger,
quarantine reasons and per-customer features."""

import contextlib
import datetime as dt
from unittest import mock

import duckdb
import ibis
import pandas as pd
import pytest

import segkit.intake.sources as sources
from ledger_check import assert_every_row_accounted, file_source
from segkit.errors import DataError
from segkit.intake.cleaning import clean_and_save, clean_transactions
from segkit.intake.sources import connect, load_source
from segkit.params import Cleaning

AS_OF = dt.date(2024, 12, 31)
COLUMNS = {"customer_id": "cust", "order_id": "order", "ordered_at": "day", "amount": "total",
           "category": "cat"}


def typed_rows() -> pd.DataFrame:
    """Rows with what exports hold: ids with blanks, full-width and invisible characters, an id
    written as an integral float, an empty id, an exact duplicate, a second line of an order, a
    return, a date far in the future, a category with a trailing blank."""
    return pd.DataFrame({
        "cust": ["C1", " C1", "Ｃ２", "C\u200b3", "17850.0", "17850", "", "C4", "C4", "C5", "C5", "C6", "C7"],
        "order": ["1", "2", "3", "4", "5", "6", "7", "8", "8", "9", "9", "10", "11"],
        "day": pd.to_datetime(["2024-01-05", "2024-02-01", "2024-03-03", "2024-04-04", "2024-05-05", "2024-06-06",
                               "2024-07-07", "2024-08-08", "2024-08-08", "2024-09-09", "2024-09-09", "2024-10-10",
                               "2999-01-01"]),
        "total": [10.0, 20.5, 7.25, 3.0, 99.99, 1.0, 5.0, 12.0, 12.0, 8.0, 9.0, -4.0, 6.0],
        "cat": ["Books", "Books ", "Toys", "Toys", "Music", "Music", "Toys", "Books", "Books", "Toys", "Toys", "Books",
                "Books"],
        "note": ["a", "b", "c", "d", "e", "f", "g", "h", "h", "i", "j", "k", "l"],  # not mapped
    })


def as_csv(frame: pd.DataFrame, path) -> None:
    out = frame.copy()
    if pd.api.types.is_datetime64_any_dtype(out["day"]):
        out["day"] = out["day"].dt.strftime("%Y-%m-%d")
    out.to_csv(path, index=False)


def clean_both(tmp_path, frame, **rules):
    """The rows cleaned from a Parquet file and from the same rows as CSV read by the text readers:
    (parquet, csv) results."""
    as_csv(frame, tmp_path / "tx.csv")
    frame.to_parquet(tmp_path / "tx.parquet", index=False)
    found = []
    for name in ("tx.parquet", "tx.csv"):
        with mock.patch.object(sources, "_plain_text_file", lambda *args: None):  # the CSV by the text readers
            intake = load_source(file_source(tmp_path / name, columns=COLUMNS))
        found.append((intake, clean_transactions(intake.engine, intake.transactions, as_of=AS_OF,
                                                 rules=Cleaning(**rules))))
    return found


def test_a_parquet_file_is_read_in_place_by_the_engine(tmp_path, monkeypatch):
    typed_rows().to_parquet(tmp_path / "tx.parquet", index=False)

    def no_text_reader(*args, **kwargs):
        raise AssertionError("the typed file was read into pandas")

    monkeypatch.setattr(sources, "read_file", no_text_reader)
    intake = load_source(file_source(tmp_path / "tx.parquet", columns=COLUMNS))
    assert isinstance(intake.transactions, ibis.Table) and not intake.in_database
    assert intake.engine.name == "duckdb" and intake.reading == {"kind": "parquet", "compression": None}
    result = clean_transactions(intake.engine, intake.transactions, as_of=AS_OF)
    assert not result.in_database
    assert_every_row_accounted(result, range(1, 14))


@pytest.mark.parametrize("compression", ["gzip", "zip"])
def test_a_compressed_parquet_file_is_decompressed_and_read_in_place_as_the_plain_one_is(tmp_path, monkeypatch,
                                                                                        compression):
    """`sales.parquet.gz` (or a zip holding it) was read into pandas: every row as a frame. It is
    decompressed into the engine's folder and cleaned there, with the plain file's ledger and rows."""
    import gzip
    import zipfile

    typed_rows().to_parquet(tmp_path / "tx.parquet", index=False)
    plain = load_source(file_source(tmp_path / "tx.parquet", columns=COLUMNS))
    expected = clean_transactions(plain.engine, plain.transactions, as_of=AS_OF)
    if compression == "gzip":
        packed = tmp_path / "tx.parquet.gz"
        packed.write_bytes(gzip.compress((tmp_path / "tx.parquet").read_bytes()))
    else:
        packed = tmp_path / "tx.zip"
        with zipfile.ZipFile(packed, "w") as archive:
            archive.write(tmp_path / "tx.parquet", "export/tx.parquet")

    def no_text_reader(*args, **kwargs):
        raise AssertionError("the compressed Parquet file was read into pandas")

    monkeypatch.setattr(sources, "read_file", no_text_reader)
    intake = load_source(file_source(packed, columns=COLUMNS))
    assert isinstance(intake.transactions, ibis.Table)
    assert intake.reading == {"kind": "parquet", "compression": compression}
    result = clean_transactions(intake.engine, intake.transactions, as_of=AS_OF)
    assert_every_row_accounted(result, range(1, 14))
    pd.testing.assert_frame_equal(result.ledger, expected.ledger)
    pd.testing.assert_frame_equal(result.clean, expected.clean)


def test_a_parquet_file_with_names_alike_but_for_case_reads_each_column_as_named(tmp_path):
    """The engine's names ignore case: it read `Amount` and `amount` as `Amount` and `amount_1`, and the
    run stopped with "column amount is not there; did you mean amount_1?". Such a file is read by the
    text readers, each column as the file names it."""
    frame = typed_rows().rename(columns={"total": "Amount", "cat": "amount"})
    frame.to_parquet(tmp_path / "tx.parquet", index=False)
    intake = load_source(file_source(tmp_path / "tx.parquet",
                                     columns={**COLUMNS, "amount": "Amount", "category": "amount"}))
    assert isinstance(intake.transactions, pd.DataFrame)
    result = clean_transactions(intake.engine, intake.transactions, as_of=AS_OF)
    assert_every_row_accounted(result, range(1, 14))
    (_, expected), _ = clean_both(tmp_path, typed_rows())
    pd.testing.assert_frame_equal(result.ledger, expected.ledger)
    clean = result.clean.set_index("source_row")
    assert clean.loc[1, "amount"] == 10.0 and clean.loc[1, "category"] == "Books"


def test_names_the_engine_cannot_keep_apart_read_each_column_as_the_file_names_it(tmp_path):
    """A Parquet column named as the engine's own (`file_row_number`, `segkit_file_row`, a preset
    query's `_segkit_first`) or alike another but for case stopped the run ("not a readable Parquet
    file") or was misread; such a file is read by the text readers, whose kept attribute from a float
    column (Arrow-backed there) read as the engine reads it."""
    from segkit.params import FileTable, Source

    (_, expected), _ = clean_both(tmp_path, typed_rows())
    plain = load_source(file_source(tmp_path / "tx.parquet", columns=COLUMNS, attributes={"paid": "total"}))
    paid = plain.attributes.to_pandas() if isinstance(plain.attributes, ibis.Table) else plain.attributes
    for extra in ("file_row_number", "File_Row_Number", "segkit_file_row", "_segkit_first", "Total"):
        path = tmp_path / f"{extra}.parquet"
        typed_rows().assign(**{extra: 1.5}).to_parquet(path, index=False)
        intake = load_source(Source(kind="file", transactions=FileTable(path=str(path), columns=COLUMNS,
                                                                        attributes={"paid": "total"})))
        assert isinstance(intake.transactions, pd.DataFrame), extra
        result = clean_transactions(intake.engine, intake.transactions, as_of=AS_OF)
        pd.testing.assert_frame_equal(result.ledger, expected.ledger)
        assert intake.attributes["paid"].tolist() == paid.sort_values("source_row")["paid"].tolist()


def test_a_column_named_source_row_in_typed_transactions_is_one_message_and_a_customers_tables_is_not_read(tmp_path):
    from segkit.intake.sources import check_source
    from segkit.params import FileTable, Source

    typed_rows().assign(source_row=range(13)).to_parquet(tmp_path / "tx.parquet", index=False)
    source = file_source(tmp_path / "tx.parquet", columns=COLUMNS)
    for reading in (load_source, check_source):  # the run and `segkit check`: a traceback before
        with pytest.raises(DataError, match=r'tx.parquet: column 7 is named "source_row".*rename that column'):
            reading(source)
    typed_rows().to_parquet(tmp_path / "tx.parquet", index=False)
    pd.DataFrame({"customer_id": ["C1", "C4"], "region": ["North", "South"], "source_row": [7, 8]}).to_parquet(
        tmp_path / "customers.parquet", index=False)  # "cannot insert source_row, already exists" before
    intake = load_source(Source(kind="file", transactions=FileTable(path=str(tmp_path / "tx.parquet"), columns=COLUMNS),
                                customers=FileTable(path=str(tmp_path / "customers.parquet"))))
    assert intake.customers["region"].tolist() == ["North", "South"]


def test_parquet_and_csv_of_the_same_rows_clean_alike(tmp_path):
    (_, typed), (_, text) = clean_both(tmp_path, typed_rows())
    pd.testing.assert_frame_equal(typed.ledger, text.ledger)
    assert dict(zip(typed.quarantine.source_row - 1, typed.quarantine.reason)) == \
        dict(zip(text.quarantine.source_row - 2, text.quarantine.reason))  # CSV rows start at line 2
    # 2999 is a typo, far beyond the rest: set aside as such with a given as_of too, not as a later month's
    assert set(typed.quarantine.reason) == {"missing_customer_id", "duplicate", "implausible_future_date",
                                            "non_positive_amount"}
    ours = typed.clean.set_index(typed.clean.source_row - 1)
    theirs = text.clean.set_index(text.clean.source_row - 2)
    for column in ("customer_id", "category", "amount", "ordered_at", "fixes"):
        assert ours[column].tolist() == theirs[column].tolist(), column
    assert ours.loc[[1, 2, 3, 4], "customer_id"].tolist() == ["C1", "C2", "C3", "17850"]
    assert ours.loc[[1, 2, 3, 4], "fixes"].tolist() == ["trimmed_blanks", "full_width", "invisible_characters",
                                                         "integral_float_id"]
    assert typed.clean["raw_customer_id"].dropna().tolist() == [" C1", "Ｃ２", "C\u200b3", "17850.0"]
    assert typed.as_of_rule == text.as_of_rule


def test_typed_values_hash_whole_rows_for_exact_duplicates(tmp_path):
    rows = typed_rows()
    rows.loc[8, "note"] = "another note"  # the same order line, not the same row
    (_, typed), (_, text) = clean_both(tmp_path, rows)
    assert typed.quarantine.set_index("source_row").loc[9, "reason"] == "duplicate_order_line"
    assert text.quarantine.set_index("source_row").loc[10, "reason"] == "duplicate_order_line"


def test_nan_and_infinite_amounts_in_parquet_are_set_aside_as_not_finite(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = pa.Table.from_pandas(typed_rows().iloc[:4].drop(columns="total"), preserve_index=False)
    totals = pa.array([1.0, float("nan"), float("inf"), None], pa.float64())  # NaN and null kept apart
    pq.write_table(rows.append_column("total", totals), tmp_path / "tx.parquet")
    intake = load_source(file_source(tmp_path / "tx.parquet", columns=COLUMNS))
    result = clean_transactions(intake.engine, intake.transactions, as_of=AS_OF)
    assert dict(zip(result.quarantine.source_row, result.quarantine.reason)) == {
        2: "non_finite_amount", 3: "non_finite_amount", 4: "missing_amount"}


def test_text_dates_and_amounts_in_parquet_are_read_in_the_engine_as_csv_text_is(tmp_path):
    rows = typed_rows()
    # dates and amounts exported as text: fixed as the text readers fix a CSV's, the file read in place
    rows["day"] = rows["day"].dt.strftime("%d/%m/%Y")
    rows.loc[3, "day"] = "2024年4月4日"
    rows.loc[11, "day"] = "25/10/2024"  # the one date that can only be day-first: it decides the column
    rows["total"] = ["¥" + f"{v:,.2f}" for v in rows["total"]]
    rows.loc[0, "total"] = "abc"
    (typed_intake, typed), (_, text) = clean_both(tmp_path, rows)
    assert isinstance(typed_intake.transactions, ibis.Table)
    pd.testing.assert_frame_equal(typed.ledger, text.ledger)
    assert dict(zip(typed.quarantine.source_row - 1, typed.quarantine.reason)) == \
        dict(zip(text.quarantine.source_row - 2, text.quarantine.reason))
    unread = [q[q.reason.str.startswith("unreadable")][["detail", "raw_ordered_at", "raw_total" if "raw_total" in q
                                                          else "raw_amount"]].values.tolist() for q in (typed.quarantine,
                                                                                                      text.quarantine)]
    assert unread[0] == unread[1] and len(unread[0]) == 1
    ours = typed.clean.set_index(typed.clean.source_row - 1)
    theirs = text.clean.set_index(text.clean.source_row - 2)
    for column in ("customer_id", "amount", "ordered_at", "fixes"):
        assert ours[column].tolist() == theirs[column].tolist(), column
    assert "trimmed_blanks+currency_text+date_format+date_order_by_column" in set(ours["fixes"])  # three columns' fixes
    assert typed.notes == text.notes and typed.notes[0]["key"] == "date_order_day_first"


def test_a_duckdb_table_is_read_in_place(tmp_path):
    path = tmp_path / "shop.duckdb"
    with duckdb.connect(str(path)) as con:
        con.register("rows", typed_rows())
        con.execute('CREATE TABLE "order lines" AS SELECT * FROM rows')
    intake = load_source(file_source(path, table="order lines", columns=COLUMNS))
    assert isinstance(intake.transactions, ibis.Table)
    result = clean_transactions(intake.engine, intake.transactions, as_of=AS_OF)
    assert_every_row_accounted(result, range(1, 14))
    with pytest.raises(DataError, match=r"no table 'orders' \(tables there: order lines\)"):
        load_source(file_source(path, table="orders", columns=COLUMNS))


def test_a_missing_column_is_named_with_those_there(tmp_path):
    typed_rows().to_parquet(tmp_path / "tx.parquet", index=False)
    with pytest.raises(DataError, match=r'column "kategorie" \(for category\) is not there'):
        load_source(file_source(tmp_path / "tx.parquet", columns={**COLUMNS, "category": "kategorie"}))


def test_rows_empty_in_every_column_are_not_records(tmp_path):
    rows = pd.concat([typed_rows().iloc[:2], pd.DataFrame([{c: None for c in typed_rows().columns}])],
                     ignore_index=True)
    rows.to_parquet(tmp_path / "tx.parquet", index=False)
    intake = load_source(file_source(tmp_path / "tx.parquet", columns=COLUMNS))
    assert int(intake.transactions.count().to_pyarrow().as_py()) == 2


def test_the_stage_writes_the_clean_rows_from_the_engine(tmp_path):
    typed_rows().to_parquet(tmp_path / "tx.parquet", index=False)
    intake = load_source(file_source(tmp_path / "tx.parquet", columns=COLUMNS, attributes={"note": "note"}))
    result = clean_and_save(intake, tmp_path / "data", as_of=AS_OF, dimensions=("note",))
    saved = pd.read_parquet(tmp_path / "data" / "clean_transactions.parquet")
    assert saved.columns.tolist() == ["source_row", "customer_id", "order_id", "ordered_at", "amount", "category",
                                    "fixes"]
    assert saved["source_row"].is_monotonic_increasing and saved["amount"].dtype == "float64"
    assert saved["source_row"].tolist() == result.clean["source_row"].tolist()
    customers = pd.read_parquet(tmp_path / "data" / "customers.parquet").set_index("customer_id")
    assert customers.loc["C5", "note"] in ("i", "j") and customers.loc["C1", "note"] in ("a", "b")


def test_decimal_and_integer_amounts_are_read_as_typed(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    from decimal import Decimal

    rows = pa.Table.from_pandas(typed_rows().iloc[:3].drop(columns="total"), preserve_index=False)
    for name, totals in (("decimal", pa.array([Decimal("10.50"), Decimal("-2.25"), None], pa.decimal128(9, 2))),
                         ("integer", pa.array([10, -2, None], pa.int64()))):
        pq.write_table(rows.append_column("total", totals), tmp_path / f"{name}.parquet")
        intake = load_source(file_source(tmp_path / f"{name}.parquet", columns=COLUMNS))
        assert isinstance(intake.transactions, ibis.Table), name
        result = clean_transactions(intake.engine, intake.transactions, as_of=AS_OF)
        assert result.clean["amount"].tolist() == ([10.5] if name == "decimal" else [10.0])
        assert dict(zip(result.quarantine.source_row, result.quarantine.reason)) == {
            2: "non_positive_amount", 3: "missing_amount"}


def test_the_customer_and_survey_tables_are_read_beside_a_typed_file(tmp_path):
    from segkit.params import FileTable, Source

    typed_rows().to_parquet(tmp_path / "tx.parquet", index=False)
    pd.DataFrame({"customer_id": ["C1", "C5", "C9"], "city": ["Xi'an", "Lyon", "Oslo"]}).to_csv(
        tmp_path / "customers.csv", index=False)
    pd.DataFrame({"customer_id": ["C1"], "answered_at": ["2024-03-01"], "score": ["4"]}).to_csv(
        tmp_path / "surveys.csv", index=False)
    source = Source(kind="file", transactions=FileTable(path=str(tmp_path / "tx.parquet"), columns=COLUMNS),
                    customers=FileTable(path=str(tmp_path / "customers.csv")),
                    surveys=FileTable(path=str(tmp_path / "surveys.csv")))
    intake = load_source(source)
    assert isinstance(intake.transactions, ibis.Table)
    assert intake.customers["customer_id"].tolist() == ["C1", "C5", "C9"] and len(intake.surveys) == 1
    clean_and_save(intake, tmp_path / "data", as_of=AS_OF)
    join = __import__("json").loads((tmp_path / "data" / "run.json").read_text())["join"]
    assert join["customer_records"] == 3 and join["customers_without_transactions"] == 1  # C9


def test_the_engine_details_name_the_files_own_columns(tmp_path):
    """A typed file read in place is judged in the engine: each detail names the column as the file
    does (its column map known from the intake), in English and, kept as it is, in Chinese."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from segkit.intake.cleaning import quarantine_sample

    header = {"customer_id": 'Kunde "Nr"', "ordered_at": "Order Date", "amount": "实付金额 (元)",
              "category": "Kategorie"}
    special = [("C1", "1899-01-01", 5.0, "Books"), ("C2", "2999-01-01", 5.0, "Books"),
               ("C3", "2024-02-01", float("inf"), "Books"), ("C4", "2024-02-02", 1e300, "Books"),
               (None, "2024-02-03", 5.0, "Books"), ("Total", "2024-02-04", 30.0, "Books"),
               ("C5", None, 5.0, "Books"), ("C6", "2024-02-05", None, "Books"), ("C7", "2024-02-06", -3.0, "Books"),
               ("C8", "2024-02-07", 7.0, "postage")]
    rows = special + [(f"Z{i}", "2024-03-05", 10.0 + i, "Toys") for i in range(30)]
    ids, days, amounts, categories = zip(*rows)
    pq.write_table(pa.table({header["customer_id"]: pa.array(ids, pa.string()),
                             header["ordered_at"]: pa.array([d and dt.date.fromisoformat(d) for d in days],
                                                            pa.date32()),
                             header["amount"]: pa.array(amounts, pa.float64()),
                             header["category"]: pa.array(categories, pa.string())}), tmp_path / "tx.parquet")
    intake = load_source(file_source(tmp_path / "tx.parquet", columns=header))
    assert isinstance(intake.transactions, ibis.Table)
    rules = Cleaning(non_product=["postage"], non_positive_amount="set_aside",
                     outliers={"method": "quantile", "threshold": 0.95, "action": "set_aside"})
    result = clean_transactions(intake.engine, intake.transactions, rules=rules)  # no as_of: 2999 is a typo
    details = dict(zip(result.quarantine["reason"], result.quarantine["detail"]))
    assert details == {
        "implausible_past_date": "Order Date 1899-01-01 is before cleaning.min_date 1990-01-01: a typo? (set "
                                 "min_date for older data)",
        "implausible_future_date": details["implausible_future_date"],
        "non_finite_amount": '实付金额 (元) "inf" is not a finite number',
        "implausible_amount": '实付金额 (元) "1e+300" is above cleaning.max_amount 1e+12 in size: an implausible line, '
                              "never summed",
        "missing_customer_id": 'Kunde "Nr" is empty',
        "totals_row": 'Kunde "Nr" "Total" is a total line\'s label, not a customer',
        "missing_date": "Order Date is empty",
        "missing_amount": "实付金额 (元) is empty",
        "non_positive_amount": "实付金额 (元) is zero or negative and not marked as a return",
        "non_product": "Kategorie or product is listed in cleaning.non_product",
        "outlier": details["outlier"],
    }
    assert details["implausible_future_date"].startswith("Order Date 2999-01-01 is more than 31 days after")
    assert details["outlier"].startswith("实付金额 (元) beyond ")
    assert result.quarantine.attrs["columns"] == header
    en = result.quarantine.set_index("source_row")["detail"]
    zh = quarantine_sample(result.quarantine, "zh", per_reason=50).set_index("source_row")["detail"]
    for row, detail in zh.items():  # the file's name as it is, then the words in Chinese
        named = next(name for name in header.values() if en[row].startswith(name))
        assert detail.startswith(named) and detail != en[row], (en[row], detail)
    assert set(zh) >= {'Kunde "Nr" "Total" 是文件自带合计行的标签，不是客户', "Order Date 为空",
                                 '实付金额 (元) "inf" 不是有限数值', "Kategorie或商品列于 cleaning.non_product"}
    # the same map when the stage saves the quarantine
    clean_and_save(intake, tmp_path / "data", rules=rules)
    saved = pd.read_parquet(tmp_path / "data" / "quarantine.parquet")
    assert saved["detail"].tolist() == result.quarantine["detail"].tolist() and saved.attrs["columns"] == header


def test_a_database_tables_own_column_names_are_in_the_details(tmp_path):
    """A database or Spark table is put under segkit's names by `database_canonical` (here on the
    embedded engine, as PostgreSQL and Spark run the same expression): its details name its columns."""
    from segkit.intake.cleaning import quarantine_sample
    from segkit.intake.sources import database_canonical, source_headers

    con = connect()
    rows = pd.DataFrame({"Kunden Nr.": ["C1", None, "C3", "C4"], "line": [1, 2, 3, 4],
                         "Bestelldatum": pd.to_datetime(["2024-01-05", "2024-01-06", None, "1899-01-01"]),
                         "Betrag (EUR)": [10.0, 5.0, 5.0, 5.0]})
    columns = {"customer_id": "Kunden Nr.", "ordered_at": "Bestelldatum", "amount": "Betrag (EUR)",
               "source_row": "line"}
    table = database_canonical(con.create_table("shop_orders", rows), columns, "database table shop_orders")
    assert source_headers(table) == {"customer_id": "Kunden Nr.", "ordered_at": "Bestelldatum",
                                     "amount": "Betrag (EUR)"}
    result = clean_transactions(con, table, as_of=AS_OF)
    assert result.quarantine["detail"].tolist() == [
        "Kunden Nr. is empty", "Bestelldatum is empty",
        "Bestelldatum 1899-01-01 is before cleaning.min_date 1990-01-01: a typo? (set min_date for older data)"]
    assert quarantine_sample(result.quarantine, "zh", per_reason=5)["detail"].tolist() == [
        "Kunden Nr. 为空", "Bestelldatum 为空",
        "Bestelldatum 1899-01-01 早于 cleaning.min_date 1990-01-01：疑似录入错误？（如确有更早的数据，请设置 min_date）"]


def test_an_excel_text_formula_id_is_its_text_in_parquet_as_in_csv(tmp_path):
    """Order numbers written ="..." (Taobao's way to keep long numbers as text): order 9's two lines,
    one written so, are one order in the typed file as in the text file."""
    rows = typed_rows()
    rows.loc[9, "order"] = '="9"'
    (_, typed), (_, text) = clean_both(tmp_path, rows)
    for result in (typed, text):
        nine = result.clean[result.clean["customer_id"] == "C5"]
        assert nine["order_id"].tolist() == ["9", "9"], nine
        assert "excel_text_formula" in nine["fixes"].tolist()


def test_an_html_entity_in_a_parquet_text_column_is_decoded(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from segkit.intake.cleaning import clean_transactions
    from segkit.intake.sources import load_source
    from segkit.params import Source

    pq.write_table(pa.table({"customer_id": ["a", "b"], "order_id": ["1", "2"],
                             "ordered_at": pd.to_datetime(["2024-01-05", "2024-01-06"]), "amount": [10.0, 12.0],
                             "category": ["Tom &amp; Co", "Books"]}), tmp_path / "t.parquet")
    intake = load_source(Source.model_validate({"kind": "file", "transactions": {"path": str(tmp_path / "t.parquet")}}))
    clean = clean_transactions(intake.engine, intake.transactions, as_of=dt.date(2024, 1, 31)).clean
    assert sorted(clean["category"]) == ["Books", "Tom & Co"]
    assert clean.set_index("customer_id").loc["a", "fixes"] == "html_entity"


@pytest.mark.parametrize("written, time_zone", [
    ("UTC", None), ("UTC", "Asia/Shanghai"), ("America/New_York", None), ("America/New_York", "America/Los_Angeles"),
    ("+05:30", None), ("-03:00", "Asia/Shanghai"), ("Asia/Shanghai", "Asia/Shanghai")])
def test_timestamps_with_a_time_zone_are_read_in_the_engine_as_the_text_path_reads_them(tmp_path, written, time_zone):
    """A Parquet column typed `timestamp[us, tz=...]` (instants with the zone they were written in:
    an IANA name or a fixed offset) stays in the engine, and gives what pandas' reading of the same
    file gives (`parsing.parse_datetime`): the wall time in its own zone, or converted to
    `cleaning.time_zone` with the fix `time_zone_converted` where the clock time changed; across a
    daylight-saving change, a month's end and midnight."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = typed_rows()
    rows["day"] = pd.to_datetime(["2024-01-31 23:30", "2024-03-10 06:59", "2024-03-10 07:01", "2024-06-30 16:00",
                                  "2024-11-03 05:30", "2024-11-03 06:30", "2024-12-31 20:00", "2024-08-08 00:00",
                                  "2024-08-08 00:00", "2024-09-09 12:00", "2024-09-09 12:00", "2024-10-10 03:00",
                                  "2999-01-01 00:00"]).tz_localize("UTC")
    table = pa.Table.from_pandas(rows, preserve_index=False).replace_schema_metadata(None)  # as another writer's
    field = table.schema.field("day")
    stamps = table.column("day").cast(pa.timestamp("us", tz=written))
    pq.write_table(table.set_column(table.schema.get_field_index("day"), field.with_type(stamps.type), stamps),
                   tmp_path / "tx.parquet")
    found = {}
    for path in ("engine", "text"):
        with mock.patch("segkit.intake.typed_files.engine_transactions", return_value=None) if path == "text" \
                else contextlib.nullcontext():  # the text path: pandas reads the file
            intake = load_source(file_source(tmp_path / "tx.parquet", columns=COLUMNS), time_zone=time_zone)
        assert isinstance(intake.transactions, ibis.Table) == (path == "engine")
        found[path] = clean_transactions(intake.engine, intake.transactions, as_of=AS_OF,
                                         rules=Cleaning(time_zone=time_zone))
    engine, text = found["engine"], found["text"]
    pd.testing.assert_frame_equal(engine.ledger, text.ledger)
    assert engine.quarantine[["source_row", "reason"]].values.tolist() == \
        text.quarantine[["source_row", "reason"]].values.tolist()
    ours, theirs = engine.clean.set_index("source_row"), text.clean.set_index("source_row")
    for column in ("customer_id", "ordered_at", "amount", "fixes"):
        assert ours[column].tolist() == theirs[column].tolist(), column
    converted = ours["fixes"].str.contains("time_zone_converted")
    assert converted.any() == (time_zone not in (None, written))


def test_kept_attributes_of_a_typed_file_stay_in_the_engine_and_derive_what_csv_derives(tmp_path):
    """A transaction attribute the params keep (a region, a store number) was read back as a pandas
    frame of every row; now a lazy table in the engine, its text normalised as labels there (blanks,
    full-width letters, empty as missing), and each customer's most frequent value is what the same
    rows as CSV give."""
    rows = typed_rows()
    rows["region"] = [" North", "North ", "Ｎｏｒｔｈ", "", "south", "south", "x", "East", "East", "West", "west ",
                      None, "North"]
    rows["store"] = pd.array([7, 7, 12, 12, None, 3, 3, 9, 9, 4, 4, 4, 1], dtype="Int64")
    attributes = {"area": "region", "store": "store"}
    rows.to_parquet(tmp_path / "tx.parquet", index=False)
    rows.assign(store=rows["store"].astype("string")).pipe(as_csv, tmp_path / "tx.csv")
    derived = {}
    for name in ("tx.parquet", "tx.csv"):
        with mock.patch.object(sources, "_plain_text_file", lambda *args: None):  # the CSV by the text readers
            intake = load_source(file_source(tmp_path / name, columns=COLUMNS, attributes=attributes))
        assert isinstance(intake.attributes, ibis.Table) == (name == "tx.parquet")
        result = clean_and_save(intake, tmp_path / name.replace(".", "_"), as_of=AS_OF, dimensions=("area", "store"))
        assert result.clean["customer_id"].nunique() > 3
        derived[name] = pd.read_parquet(tmp_path / name.replace(".", "_") / "customers.parquet")
    pd.testing.assert_frame_equal(derived["tx.parquet"], derived["tx.csv"])
    found = derived["tx.parquet"].set_index("customer_id")
    assert found.loc["C1", "area"] == "North" and found.loc["C2", "area"] == "North"  # trimmed, full-width
    assert found.loc["C5", "area"] in ("West", "west") and found.loc["C1", "store"] == "7"


@pytest.mark.parametrize("amount", [True, False], ids=["amount", "quantity-times-price"])
def test_typed_numbers_have_no_decimal_mark_to_read(tmp_path, amount):
    """A Parquet file's DECIMAL numbers under `cleaning.decimal: ","`: the mark is that of numbers written
    as text, so the text readers (a file the engine does not take) read them as the engine does; they set
    every row aside as unreadable before."""
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    prices = [decimal.Decimal("24.99"), decimal.Decimal("1234.50"), decimal.Decimal("0.05")]
    columns = {"cust": ["A", "B", "A"], "day": pa.array([dt.date(2024, 1, 5), dt.date(2024, 2, 5), dt.date(2024, 3, 5)])}
    if amount:
        columns["total"] = pa.array(prices, pa.decimal128(18, 2))
        mapped = {"customer_id": "cust", "ordered_at": "day", "amount": "total"}
    else:
        columns |= {"qty": pa.array([2, 1, 3], pa.int64()), "price": pa.array(prices, pa.decimal128(18, 2))}
        mapped = {"customer_id": "cust", "ordered_at": "day", "quantity": "qty", "unit_price": "price"}
    pq.write_table(pa.table(columns), tmp_path / "tx.parquet")
    found = {}
    for text_readers in (False, True):
        with mock.patch.object(sources, "_typed_file", lambda *args: None) if text_readers else contextlib.nullcontext():
            intake = load_source(file_source(tmp_path / "tx.parquet", columns=mapped), decimal=",")
        assert isinstance(intake.transactions, pd.DataFrame) == text_readers
        result = clean_transactions(intake.engine, intake.transactions, as_of=AS_OF, rules=Cleaning(decimal=","))
        found[text_readers] = result
        assert result.quarantine.empty and not [n for n in result.notes if n["key"] == "decimal_mark_differs"]
    expected = [49.98, 1234.5, 0.15] if not amount else [24.99, 1234.5, 0.05]
    for result in found.values():
        assert result.clean.sort_values("source_row")["amount"].astype(float).tolist() == expected
