"""An export read with its preset (Shopify's order fields on the first line only, its line items that
read alike, 淘宝's 19-digit order numbers) is read in place by the engine, never as a pandas frame
(issue 15), and cleans exactly as the text readers clean it: the same ledger, quarantine (with the
values as exported), clean rows, fixes, notes and per-customer figures. A file whose columns are a
system's export, read without its preset, gets the note naming the preset from the engine too."""

import csv
from types import SimpleNamespace
from unittest import mock

import ibis
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml

import segkit.intake.plain_text as plain_text
import segkit.intake.sources as sources
from ledger_check import assert_every_row_accounted
from segkit.intake.cleaning import clean_transactions
from segkit.intake.sources import load_source
from segkit.params import load_params
from test_plain_text import AS_OF, assert_same, assert_same_notes_and_details, sliced_batches
from test_presets import SHOPIFY_HEADER, TAOBAO_HEADER, shopify_rows

FIRST = {"Name": "#2001", "Email": "ann@example.com", "Financial Status": "paid", "Total": "142.00",
         "Created at": "2024-03-05 14:22:10 -0500", "Lineitem quantity": "1", "Lineitem name": "Denim Jacket",
         "Lineitem price": "89.00"}
TEE = {"Name": "#2001", "Email": "ann@example.com", "Lineitem quantity": "1", "Lineitem name": "Organic Tee",
       "Lineitem price": "24.00"}


def hostile_rows() -> list[dict]:
    """Shopify's lines as exports hold them: later lines whose order fields are blanks of every kind
    (a no-break space, an ideographic space, a tab) or a zero-width space (not a blank: read as
    written), an order whose first line lacks the status its second line has, an order with no
    status on any line, a line without an order, an order refunded on its first line only, two lines
    that read alike, and the whole pasted again in another order, one line short."""
    later = {"Email": "dan@example.com", "Lineitem quantity": "1", "Lineitem price": "3.00"}
    rows = shopify_rows() + [
        FIRST, TEE, TEE,
        {"Name": "#3001", "Email": "dan@example.com", "Financial Status": "paid",
         "Created at": "2024-05-01 09:00:00 -0400", "Lineitem quantity": "2", "Lineitem price": "7.50"},
        {**later, "Name": "#3001", "Financial Status": "\u00a0", "Created at": "\u3000"},
        {**later, "Name": "#3001", "Financial Status": "\t", "Lineitem name": "b"},
        {**later, "Name": "#3001", "Financial Status": "\u200b", "Lineitem name": "c"},
        {**later, "Name": "#3002", "Lineitem name": "late status"},
        {**later, "Name": "#3002", "Financial Status": "refunded", "Created at": "2024-06-02 10:00:00 +0800"},
        {**later, "Name": "#3003", "Created at": "2024-06-03 10:00:00 +0800"},
        {**later, "Name": "#3003", "Lineitem name": "no status anywhere"},
        {**later, "Name": "", "Lineitem name": "no order"},
        {**later, "Name": "", "Financial Status": "paid", "Created at": "2024-07-01 10:00:00 +0800"},
    ]
    return rows + list(reversed(rows[2:-3]))


def write_export(path, header, rows, encoding="utf-8"):
    with open(path, "w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows([[row.get(name, "") for name in header] for row in rows])
    return path


def params_for(folder, source: dict):
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump({"run_name": "preset-rows", "as_of": str(AS_OF), "source": source},
                                   allow_unicode=True), encoding="utf-8")
    return path


def clean_both(params_path):
    """(engine, text readers): each (intake, cleaning result) of the params' source, every row accounted for."""
    params = load_params(params_path)
    found = []
    for text_readers in (False, True):
        with mock.patch.object(sources, "_typed_file", lambda *args: None) if text_readers else _nothing():
            intake = load_source(params.source, params_path)
        result = clean_transactions(intake.engine, intake.transactions, as_of=AS_OF, rules=params.cleaning)
        assert_every_row_accounted(result, intake.transactions)
        found.append((intake, result))
    return found


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *args):
        return False


def assert_read_alike(engine_intake, engine, text_intake, text):
    assert isinstance(engine_intake.transactions, ibis.Table), "the export was read as a pandas frame"
    assert isinstance(text_intake.transactions, pd.DataFrame)
    assert_same(engine, text)
    assert_same_notes_and_details(engine, text)


def test_a_shopify_export_is_read_in_place_and_cleans_as_the_text_readers_clean_it(tmp_path):
    write_export(tmp_path / "orders_export.csv", SHOPIFY_HEADER, hostile_rows())
    params = params_for(tmp_path, {"preset": "shopify_orders", "transactions": {"path": "orders_export.csv"}})
    (engine_intake, engine), (text_intake, text) = clean_both(params)
    assert_read_alike(engine_intake, engine, text_intake, text)
    # the lines kept that took their order's fields: #1001's second (line 3), #2001's tees (10, 11), #3001's
    # three (a no-break space and an ideographic space, a tab, a zero-width space beside a blank date: 13-15)
    # and #3003's second (19); the copies pasted again are set aside as duplicates
    clean = engine.clean.set_index("source_row")
    filled = clean.index[clean.fixes.str.contains("filled_from_order")].tolist()
    assert filled == [3, 10, 11, 13, 14, 15, 19]
    assert engine.ledger.set_index(["outcome", "rule"])["rows"][("fixed", "filled_from_order")] == len(filled)
    assert clean.loc[13, "ordered_at"] == pd.Timestamp("2024-05-01 09:00:00")  # the no-break space line took the date
    aside = engine.quarantine.set_index("source_row")
    assert aside.loc[16, "reason"] == "return"  # #3002's first line took "refunded" from its second
    assert pd.isna(aside.loc[16, "raw_status"]) and aside.loc[17, "raw_status"] == "refunded"
    # the line without an order and no date is set aside for its date, not given another line's
    assert aside.loc[20, "reason"] == "missing_date"


def test_columns_named_as_the_preset_querys_own_are_read_as_the_file_names_them(tmp_path):
    """A column named as the preset's query names its own columns (`_segkit_first`, in any ASCII case:
    the engine's names ignore it) read as the category came out true/false (`_SEGKIT_CONTENT` stopped the
    run); it is now kept apart."""
    for extra in ("_SEGKIT_first",):
        rows = [dict(row, **{extra: f"shelf {i % 3}"}) for i, row in enumerate(hostile_rows())]
        write_export(tmp_path / "orders_export.csv", [*SHOPIFY_HEADER, extra], rows)
        params = params_for(tmp_path, {"preset": "shopify_orders", "transactions": {
            "path": "orders_export.csv", "columns": {"category": extra}}})
        (engine_intake, engine), (text_intake, text) = clean_both(params)
        assert_read_alike(engine_intake, engine, text_intake, text)
        assert set(engine.clean.category) <= {"shelf 0", "shelf 1", "shelf 2"}


def test_an_export_spanning_several_chunks_fills_orders_across_them(tmp_path):
    # 3,000 orders of one to four lines, in chunks of 500 records: orders cross the chunks' edges
    rows = []
    for order in range(3000):
        head = {"Name": f"#{10000 + order}", "Email": f"c{order % 700}@example.com",
                "Financial Status": "refunded" if order % 17 == 0 else "paid",
                "Created at": f"2024-{1 + order % 12:02d}-{1 + order % 28:02d} 10:00:00 -0500",
                "Lineitem quantity": "1", "Lineitem name": "Tee", "Lineitem price": f"{5 + order % 40}.00"}
        rows.append(head)
        for line in range(order % 4):
            rows.append({"Name": head["Name"], "Email": head["Email"], "Lineitem quantity": str(1 + line),
                         "Lineitem name": "Tee" if line % 2 else "Cap", "Lineitem price": "2.50"})
    write_export(tmp_path / "orders_export.csv", SHOPIFY_HEADER, rows + rows[:900])  # a part pasted twice
    params = params_for(tmp_path, {"preset": "shopify_orders", "transactions": {"path": "orders_export.csv"}})
    inserts = []
    original = plain_text._insert

    def counted(*args):
        inserts.append(args[2].num_rows)
        return original(*args)

    with mock.patch.object(plain_text, "CHUNK_ROWS", 500), mock.patch.object(plain_text, "_insert", counted), \
            sliced_batches(500):
        (engine_intake, engine), (text_intake, text) = clean_both(params)
    assert len(inserts) >= 10 and sum(inserts) == len(rows) + 900
    assert_read_alike(engine_intake, engine, text_intake, text)
    assert engine.ledger.set_index(["outcome", "rule"])["rows"][("set_aside", "duplicate")] == 900


def test_a_shopify_export_as_parquet_is_read_in_place_with_its_preset(tmp_path):
    rows = hostile_rows()
    # as a shop's pipeline writes it: the line's quantity a whole number, its price a decimal, the rest text
    frame = pd.DataFrame([[row.get(name) or None for name in SHOPIFY_HEADER] for row in rows], columns=SHOPIFY_HEADER)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.set_column(table.schema.get_field_index("Lineitem quantity"), "Lineitem quantity",
                             pc.cast(table["Lineitem quantity"], pa.int64()))
    table = table.set_column(table.schema.get_field_index("Lineitem price"), "Lineitem price",
                             pc.cast(table["Lineitem price"], pa.decimal128(18, 2)))
    pq.write_table(table, tmp_path / "orders_export.parquet")
    write_export(tmp_path / "orders_export.csv", SHOPIFY_HEADER, rows)
    parquet = params_for(tmp_path, {"preset": "shopify_orders", "transactions": {"path": "orders_export.parquet"}})
    intake = load_source(load_params(parquet).source, parquet)
    assert isinstance(intake.transactions, ibis.Table)
    result = clean_transactions(intake.engine, intake.transactions, as_of=AS_OF, rules=load_params(parquet).cleaning)
    assert_every_row_accounted(result, intake.transactions)
    (_, from_csv), _ = clean_both(params_for(tmp_path, {"preset": "shopify_orders",
                                                         "transactions": {"path": "orders_export.csv"}}))
    # a Parquet file's source_row is its row number, one lower than the CSV's line
    assert_same(result, _rows_lowered(from_csv))


def _rows_lowered(result) -> SimpleNamespace:
    """The result with source_row one lower in its quarantine and clean rows (a CSV's line as a Parquet
    file's row number)."""
    frames = {name: getattr(result, name).assign(source_row=lambda f: f.source_row - 1)
              for name in ("quarantine", "clean")}
    return SimpleNamespace(ledger=result.ledger, scored=result.scored, as_of=result.as_of, **frames)


def test_a_taobao_export_is_read_in_place_with_its_19_digit_orders(tmp_path):
    rows = [{"订单编号": f"19876543210987654{i:02d}", "买家会员名": f"买家{i % 3}", "买家实际支付金额": f"{10 + i}.50",
             "订单状态": "交易关闭" if i == 4 else "交易成功", "订单创建时间": f"2024-0{1 + i % 9}-05 14:22:10"}
            for i in range(12)]
    write_export(tmp_path / "ExportOrderList.csv", TAOBAO_HEADER, rows, encoding="gb18030")
    params = params_for(tmp_path, {"preset": "taobao_orders", "transactions": {"path": "ExportOrderList.csv"}})
    (engine_intake, engine), (text_intake, text) = clean_both(params)
    assert_read_alike(engine_intake, engine, text_intake, text)
    assert engine.clean.order_id.tolist()[0] == "1987654321098765400"
    assert dict(zip(engine.quarantine.source_row, engine.quarantine.reason)) == {6: "return"}


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_an_export_read_without_its_preset_gets_the_note_from_the_engine(tmp_path, kind):
    columns = {"customer_id": "Email", "order_id": "Name", "ordered_at": "Created at", "amount": "Lineitem price"}
    path = write_export(tmp_path / "orders_export.csv", SHOPIFY_HEADER, shopify_rows())
    if kind == "parquet":
        pd.read_csv(path, dtype=str).to_parquet(tmp_path / "orders_export.parquet", index=False)
        path = tmp_path / "orders_export.parquet"
    params = params_for(tmp_path, {"kind": "file", "transactions": {"path": path.name, "columns": columns}})
    intake = load_source(load_params(params).source, params)
    assert isinstance(intake.transactions, ibis.Table)
    notes = clean_transactions(intake.engine, intake.transactions, as_of=AS_OF).notes
    assert {"key": "preset_hint", "preset": "shopify_orders", "system": {"en": "Shopify", "zh": "Shopify"}} in notes
    if kind == "csv":  # and as the text readers say it, in the same place among the notes
        (engine_intake, engine), (text_intake, text) = clean_both(params)
        assert_read_alike(engine_intake, engine, text_intake, text)


def test_blank_is_what_python_strips():
    import sys

    from segkit.intake.preset_rows import WHITESPACE

    assert WHITESPACE == "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())


def test_dates_typed_by_the_engine_fill_alike_and_keep_no_text_of_their_own(tmp_path):
    # ISO dates load as timestamps: their text as written is not kept (as for any file read in place), so
    # the quarantine has no raw_ordered_at from the engine; the status, text, is shown as exported
    rows = [{"Name": "#1", "Email": "a@x.com", "Financial Status": "refunded", "Created at": "2024-03-05T14:22",
             "Lineitem quantity": "1", "Lineitem price": "5.00"},
            {"Name": "#1", "Email": "a@x.com", "Lineitem quantity": "1", "Lineitem price": "6.00"},
            {"Name": "#2", "Email": "b@x.com", "Financial Status": "paid", "Created at": "2024-03-06",
             "Lineitem quantity": "1", "Lineitem price": "5.00"},
            {"Name": "#2", "Email": "b@x.com", "Financial Status": "\t", "Lineitem quantity": "2",
             "Lineitem price": "1.00"}]
    write_export(tmp_path / "orders_export.csv", SHOPIFY_HEADER, rows)
    params = params_for(tmp_path, {"preset": "shopify_orders", "transactions": {"path": "orders_export.csv"}})
    (engine_intake, engine), (text_intake, text) = clean_both(params)
    assert_read_alike(engine_intake, engine, text_intake, text)
    aside = engine.quarantine.set_index("source_row")
    assert "raw_ordered_at" not in aside and pd.isna(aside.loc[3, "raw_status"])
    assert aside["reason"].to_dict() == {2: "return", 3: "return"}
    clean = engine.clean.set_index("source_row")
    assert clean.loc[5, "ordered_at"] == pd.Timestamp("2024-03-06") and clean.loc[5, "fixes"] == "filled_from_order"


def test_a_whole_number_status_with_a_gap_reads_alike(tmp_path):
    # a Parquet file's int64 status with a missing value: pandas holds it as floats, which the text readers
    # filled in as "3.0" and so did not set the refunded order aside
    frame = pa.table({"Name": ["#1", "#1", "#2"], "Email": ["a@x", "a@x", "b@x"],
                      "Financial Status": pa.array([3, None, 1], pa.int64()),
                      "Created at": ["2024-03-05 10:00:00 -0500", None, "2024-03-06 10:00:00 -0500"],
                      "Lineitem quantity": ["1", "1", "2"], "Lineitem price": ["5.00", "6.00", "1.00"],
                      "Lineitem name": ["a", "b", "c"]})
    pq.write_table(frame, tmp_path / "orders.parquet")
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"run_name": "gap", "as_of": str(AS_OF), "cleaning": {
        "returns": {"status_values": ["3"], "action": "drop"}},
        "source": {"preset": "shopify_orders", "transactions": {"path": "orders.parquet"}}}), encoding="utf-8")
    (engine_intake, engine), (text_intake, text) = clean_both(params)
    assert_read_alike(engine_intake, engine, text_intake, text)
    assert dict(zip(text.quarantine.source_row, text.quarantine.reason)) == {1: "return", 2: "return"}


def test_a_shopify_order_in_another_currency_is_set_aside_line_by_line(tmp_path):
    """Trial: orders in USD, EUR and CAD were summed as the params' USD. Shopify writes Currency on an
    order's first line only: its other lines take it (an order field), and all its lines are set aside
    as other_currency, read in place and by the text readers alike."""
    rows = [{**FIRST, "Currency": "EUR"}, TEE,
            {**FIRST, "Name": "#2002", "Currency": "USD"}, {**TEE, "Name": "#2002"},
            {**FIRST, "Name": "#2003", "Currency": ""}]
    write_export(tmp_path / "orders_export.csv", SHOPIFY_HEADER, rows)
    params_path = params_for(tmp_path, {"preset": "shopify_orders", "transactions": {"path": "orders_export.csv"}})
    params = load_params(params_path)
    found = []
    for text_readers in (False, True):
        with mock.patch.object(sources, "_typed_file", lambda *args: None) if text_readers else _nothing():
            intake = load_source(params.source, params_path)
        result = clean_transactions(intake.engine, intake.transactions, as_of=AS_OF, rules=params.cleaning,
                                    currency_code="USD")
        assert_every_row_accounted(result, intake.transactions)
        aside = result.quarantine.set_index("source_row")
        assert list(aside.index) == [2, 3] and set(aside["reason"]) == {"other_currency"}
        assert result.clean["source_row"].tolist() == [4, 5, 6]
        found.append(result)
    assert_same(*found)
