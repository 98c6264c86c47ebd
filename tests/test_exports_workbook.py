"""The workbook written by rustpy-xlsxwriter (issue 15, the exports at a million customers) against the
one XlsxWriter writes (the fallback, as before), cell by cell, on small frames with edge cases; the
note and the summary's title merged over row 1 from A1; the fallbacks (+/-inf, over-long text, mixed
Python objects); the CSV's text made batch by batch; the export frame's rank order taken before its
columns are made. Cells are compared by bench/compare_exports.py's `compare_xlsx`, the check used on
the 10M-line run."""

import datetime as dt
import importlib.util
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

import segkit.report.exports as ex
from segkit.classify.rfm import load_segment_map
from segkit.params import DEFAULT_TAGS
from segkit.report.exports import _people_frame, formula_like, write_excel

pytest.importorskip("rustpy_xlsxwriter")

GRID, CLASSES = load_segment_map("rfm11"), load_segment_map("cn8")
_spec = importlib.util.spec_from_file_location("compare_exports",
                                               Path(__file__).resolve().parents[1] / "bench" / "compare_exports.py")
compare_exports = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compare_exports)


def edge_frame() -> pd.DataFrame:
    """Eight customers in two segments with what an Excel writer can get wrong: formula starts, a URL and a
    number-like id (both text), spaces at the ends, Chinese, control characters, Excel's own escape
    text, an empty and a missing text, missing integers, NaN, a 17-digit float, a negative number,
    booleans with a missing one, and dates before Excel's 1900-03-01 (its phantom 1900-02-29), before
    1900 and in year 5, and a missing date."""
    return pd.DataFrame({
        "customer_id": pd.array(["=1+1", "00123", "http://x.example/a", " padded ", "客户七", "-5", "a\x01b\x1fc",
                                 "_x0041_"], dtype="string"),
        "segment": pd.array(["champions"] * 4 + ["lost"] * 4, dtype="string"),
        "segment_name": pd.array(["Champions"] * 4 + ["Lost"] * 4, dtype="string"),
        "tags": pd.array(["", "high_value", None, "@x", "+y", "\tz", "line\nbreak", "\rr"], dtype="string"),
        "rank": pd.array([1, 2, None, 4, 5, 6, 7, 8], dtype="Int64"),
        "revenue": [10.5, -12.25, np.nan, 0.1 + 0.2, 1e15 + 0.5, 3.0, 0.0, -0.0],
        "last_purchase": [dt.date(2024, 1, 31), dt.date(1900, 1, 15), None, dt.date(1900, 2, 28),
                          dt.date(1900, 3, 1), dt.date(1899, 12, 31), dt.date(5, 1, 2), dt.date(9999, 12, 31)],
        "churn_risk": pd.array([True, False, None, True, False, False, True, False], dtype="boolean"),
    })


def both(frame: pd.DataFrame, folder: Path, monkeypatch, **options) -> tuple[Path, Path]:
    """The workbook written by the Rust writer and by XlsxWriter (the fallback forced)."""
    rust = write_excel(frame, folder / "rust.xlsx", "en", GRID, **options)
    with monkeypatch.context() as patched:
        patched.setattr(ex, "_rust_cells", lambda people, book: None)
        reference = write_excel(frame, folder / "xlsxwriter.xlsx", "en", GRID, **options)
    return rust, reference


def merged(path: Path) -> dict[str, list[str]]:
    book = openpyxl.load_workbook(path)
    return {name: sorted(str(r) for r in book[name].merged_cells.ranges) for name in book.sheetnames}


@pytest.mark.parametrize("max_rows", [100_000, 2])
def test_rust_workbook_holds_every_cell_xlsxwriter_wrote(tmp_path, monkeypatch, max_rows):
    rust, reference = both(edge_frame(), tmp_path, monkeypatch, max_rows=max_rows, title="=Customers by segment")
    assert compare_exports.compare_xlsx(reference, rust) == []  # values, types, dates, sheet names, frozen panes
    assert merged(reference) == {"Summary": [], "Champions": [], "Lost": [], "Data dictionary": []}
    assert merged(rust) == {"Summary": ["A1:E1"], "Champions": ["A1:H1"], "Lost": ["A1:H1"], "Data dictionary": []}
    book = openpyxl.load_workbook(rust)
    lost = {row[0].value: row for row in book["Lost"].iter_rows(min_row=3)}
    day = [c.value for c in book["Lost"][2]].index("Last purchase")
    assert lost["客户七"][day].value == dt.datetime(1900, 3, 1) and lost["客户七"][day].number_format == "yyyy-mm-dd"


def test_date_serials_are_the_numbers_xlsxwriter_computes():
    from xlsxwriter.utility import _datetime_to_excel_datetime as datetime_to_excel_datetime  # what it writes

    days = [dt.date(5, 1, 2), dt.date(1899, 12, 30), dt.date(1899, 12, 31), dt.date(1900, 1, 1), dt.date(1900, 2, 28),
            dt.date(1900, 3, 1), dt.date(1970, 1, 1), dt.date(2024, 2, 29), dt.date(9999, 12, 31)]
    people = pd.DataFrame({"Day": [*days, None], "Text": ["x"] * (len(days) + 1)})
    table, dates, _, _ = ex._rust_cells(people, {"summary": ("S", "", [["h"]]), "dictionary": ("D", [["h"]])})
    assert dates == [0]
    assert table.column(0).to_pylist() == [datetime_to_excel_datetime(d, False, False) for d in days] + [None]


def test_the_note_and_the_title_read_from_a1_above_the_frozen_header(tmp_path):
    frame = edge_frame()
    book = openpyxl.load_workbook(write_excel(frame, tmp_path / "c.xlsx", "en", GRID, max_rows=3,
                                              title="Run x, data up to 2024-12-31"))
    champions = book["Champions"]
    assert champions["A1"].value == ("Champions: the first 3 of 4 customers, best ranked first; the full list is in "
                                     "customers.csv and customers.parquet.")
    headers = [c.value for c in champions[2]]
    assert headers == list(_people_frame(frame, "en").columns) and champions.freeze_panes == "A3"
    assert [row[0].value for row in champions.iter_rows(min_row=3)] == ["=1+1", "00123", "http://x.example/a"]
    assert book["Lost"]["A1"].value.startswith("Lost: the first 3 of 4 customers")
    assert book["Summary"]["A1"].value == "Run x, data up to 2024-12-31"
    assert [c.value for c in book["Summary"][2]][:3] == ["Segment", "Customers", "Share of customers"]
    assert {row[0]: row[1] for row in book["Summary"].iter_rows(min_row=3, values_only=True)} == {"Champions": 4,
                                                                                                  "Lost": 4}
    for sheet in book.worksheets:  # no formula anywhere, no text a spreadsheet would run
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f"
                if isinstance(cell.value, str) and formula_like(cell.value):  # as it is, marked as text
                    assert cell.data_type == "s" and cell.quotePrefix, (sheet.title, cell.coordinate, cell.value)


def test_a_note_over_a_one_column_sheet_still_spans_two_cells(tmp_path):
    frame = pd.DataFrame({"segment": pd.array(["lost"], dtype="string")})
    people = _people_frame(frame, "en")
    book = ex._workbook_content(frame.assign(segment_name="Lost"), people, "en", GRID, 10, (), "")
    cells = ex._rust_cells(people, book)
    assert cells is not None and cells[0].num_columns == 1
    ex._rust_workbook(book, cells, tmp_path / "n.xlsx")
    assert merged(tmp_path / "n.xlsx")["Lost"] == ["A1:B1"]  # the Rust writer refuses a one-cell merge
    assert openpyxl.load_workbook(tmp_path / "n.xlsx")["Lost"]["A1"].value == "Lost: the 1 customer."


def test_empty_segments_get_no_sheet_and_an_empty_frame_only_the_summary_and_dictionary(tmp_path, monkeypatch):
    rust, reference = both(edge_frame(), tmp_path, monkeypatch)
    assert openpyxl.load_workbook(rust).sheetnames == ["Summary", "Champions", "Lost", "Data dictionary"]
    empty = edge_frame().iloc[:0]
    (tmp_path / "empty").mkdir()
    rust, reference = both(empty, tmp_path / "empty", monkeypatch, title="Nobody yet")
    assert compare_exports.compare_xlsx(reference, rust) == []
    book = openpyxl.load_workbook(rust)
    assert book.sheetnames == ["Summary", "Data dictionary"]
    rows = [list(r) for r in book["Summary"].iter_rows(values_only=True)]
    assert len(rows) == 2 and rows[0] == ["Nobody yet"] + [None] * (len(rows[1]) - 1)  # the title, the header
    assert rows[1][:3] == ["Segment", "Customers", "Share of customers"]


@pytest.mark.parametrize("infinite", [np.inf, -np.inf])
def test_infinite_numbers_keep_the_xlsxwriter_workbook_and_its_error_cells(tmp_path, monkeypatch, infinite):
    frame = edge_frame().assign(revenue=[10.5, infinite, np.nan, 0.3, 1.0, 3.0, 0.0, 2.0])
    rust, reference = both(frame, tmp_path, monkeypatch)
    assert (tmp_path / "rust.xlsx").read_bytes() != b"" and merged(rust)["Champions"] == []  # the fallback wrote it
    book = openpyxl.load_workbook(rust)
    headers = [c.value for c in book["Champions"][2]]
    cell = book["Champions"].cell(row=4, column=headers.index("Revenue") + 1)
    # as XlsxWriter always wrote +inf and -inf: a formula whose value is Excel's #DIV/0! error
    assert (cell.value, cell.data_type) == ("=1/0" if infinite > 0 else "=-1/0", "f")
    assert book["Champions"]["A1"].value.startswith("Champions: all 4 customers")
    assert compare_exports.compare_xlsx(reference, rust) == []


@pytest.mark.parametrize("text", ["x" * 40_000, "😀" * 20_000])  # Excel counts UTF-16 units: an emoji is two
def test_text_longer_than_excels_cell_and_mixed_objects_fall_back_to_xlsxwriter(tmp_path, monkeypatch, text):
    long = edge_frame().assign(tags=pd.array([text] + [None] * 7, dtype="string"))
    rust, reference = both(long, tmp_path, monkeypatch)
    assert merged(rust)["Champions"] == []
    tags = [c.value for c in openpyxl.load_workbook(rust)["Champions"][2]].index(ex.header("tags", "en"))
    cut = openpyxl.load_workbook(rust)["Champions"].cell(row=3, column=tags + 1).value
    assert len(cut.encode("utf-16-le")) // 2 <= 32_767 < len(text.encode("utf-16-le")) // 2  # cut, as before
    assert compare_exports.compare_xlsx(reference, rust) == []
    mixed = edge_frame().assign(extra=pd.Series(["a", 1, 2.5, None, "b", 3, None, "c"], dtype=object))
    assert ex._rust_cells(_people_frame(mixed, "en"), {"summary": ("S", "", [["h"]])}) is None


def test_csv_made_in_batches_has_the_bytes_pandas_wrote(tmp_path):
    from test_exports_fast import csv_edge_frame

    people = _people_frame(csv_edge_frame(), "zh")
    for rows in (1, 2, 3, 100):
        ex._duckdb_csv(ex._csv_batches(people, rows=rows), list(people.columns), tmp_path / f"b{rows}.csv", "gb18030")
    ex._pandas_csv(people, tmp_path / "pandas.csv", "gb18030")
    reference = (tmp_path / "pandas.csv").read_bytes()
    assert all((tmp_path / f"b{rows}.csv").read_bytes() == reference for rows in (1, 2, 3, 100))
    mixed = pd.DataFrame({"a": pd.Series(["x", 1], dtype=object), "b": [1, 2]})
    assert ex._csv_batches(mixed) is None  # pandas writes it, as before


def test_rank_order_taken_before_the_columns_matches_sorting_the_finished_frame():
    # ties in rank, a missing rank, ids that sort differently as text and as numbers, a shuffled
    # non-default index, and clusters missing for some customers
    profile = pd.DataFrame({
        "customer_id": [10, 9, 100, 2, 1, 30], "segment": ["lost", "champions", "lost", "champions", "lost", "lost"],
        "rank": [2, 1, 2, None, 2, 1], "revenue": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    }, index=[5, 3, 9, 0, 7, 7])
    clusters = pd.DataFrame({"customer_id": [100, 9, 1], "cluster": [1, 0, 1], "cluster_name": ["b", "a", "b"]})
    got = ex.export_frame(profile, "en", GRID, CLASSES, clusters=clusters, tags=DEFAULT_TAGS)
    unsorted = ex.export_frame(profile.drop(columns="rank"), "en", GRID, CLASSES, clusters=clusters)
    expected = (unsorted.assign(rank=pd.array(profile["rank"], dtype="Int64"))
                .sort_values(["rank", "customer_id"], kind="stable", na_position="last").reset_index(drop=True))
    pd.testing.assert_frame_equal(got, expected[list(got.columns)])
    assert got["customer_id"].tolist() == ["30", "9", "1", "10", "100", "2"]
    assert got["cluster"].tolist()[:3] == [pd.NA, 0, 1] and profile.index.tolist() == [5, 3, 9, 0, 7, 7]


def test_load_export_frame_reads_only_what_the_export_shows(tmp_path):
    from segkit.params import validate_params

    data = tmp_path / "data"
    data.mkdir()
    profile = pd.DataFrame({"customer_id": ["a", "b"], "segment": ["lost", "champions"], "rank": [2, 1],
                            "tenure_days": [10, 20], "breadth": ["x", "y"]})
    profile.to_parquet(data / "profile.parquet")
    pd.DataFrame({"customer_id": ["b", "a"], "clv": [5.0, 1.0], "expected_spend": [1.0, 2.0]}).to_parquet(
        data / "value.parquet")
    pd.DataFrame({"customer_id": ["a"], "next_best": ["tea"], "rule_lift": [2.0]}).to_parquet(data / "next_best.parquet")
    frame = ex.load_export_frame(data, validate_params({}))
    assert frame["customer_id"].tolist() == ["b", "a"] and frame["clv"].tolist() == [5.0, 1.0]
    assert frame["next_best_category"].tolist() == [pd.NA, "tea"]
    assert not {"tenure_days", "breadth", "expected_spend", "rule_lift"} & set(frame.columns)


def test_what_the_rust_writer_refuses_is_written_by_xlsxwriter_and_a_failed_write_is_one_message(tmp_path,
                                                                                                   monkeypatch):
    import rustpy_xlsxwriter

    def refuse(*args, **kwargs):
        raise RuntimeError("Excel write error: something it cannot write")

    monkeypatch.setattr(rustpy_xlsxwriter, "write_worksheets", refuse)
    path = write_excel(edge_frame(), tmp_path / "c.xlsx", "en", GRID)
    assert merged(path)["Champions"] == [] and openpyxl.load_workbook(path)["Champions"]["A1"].value.startswith(
        "Champions: all 4 customers")

    def fail(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(rustpy_xlsxwriter, "write_worksheets", fail)
    with pytest.raises(ex.ExportError, match=r"cannot write the Excel export in .*No space left.*has room for it"):
        write_excel(edge_frame(), tmp_path / "d.xlsx", "en", GRID)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.xlsx"]  # no partial file left


@pytest.mark.parametrize("writer", ["rust", "xlsxwriter"])
def test_formula_like_texts_are_kept_as_they_are_and_marked_as_text(tmp_path, monkeypatch, writer):
    """Trial: customers.xlsx held '=HYPERLINK(...), the apostrophe part of the text, where the cell is a text
    cell that Excel never runs. Now the text is as it is, with Excel's quote prefix (Excel shows it as text
    and keeps it text when the cell is edited): in the data, the segment's note, the summary and its title;
    a plain number written as text ("+8613800138000") is as it is too, and needs no mark."""
    import zipfile

    frame = edge_frame().assign(
        customer_id=pd.array(["=1+1", "00123", "http://x.example/a", " padded ", "客户七", "-5", "a\x01b\x1fc",
                              "+8613800138000"], dtype="string"),
        segment_name=pd.array(["Champions"] * 4 + ["=Lost"] * 4, dtype="string"))
    if writer == "xlsxwriter":
        monkeypatch.setattr(ex, "_rust_cells", lambda people, book: None)
    path = write_excel(frame, tmp_path / "c.xlsx", "en", GRID, title="=Customers by segment")
    with zipfile.ZipFile(path) as parts:
        assert not [n for n in parts.namelist() if n.startswith("xl/worksheets/") and b"<f>" in parts.read(n)]
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Summary", "Champions", "=Lost", "Data dictionary"]
    marked = {(sheet.title, cell.value) for sheet in book.worksheets for row in sheet.iter_rows() for cell in row
              if isinstance(cell.value, str) and cell.data_type == "s" and cell.quotePrefix}
    texts = {(sheet.title, cell.value) for sheet in book.worksheets for row in sheet.iter_rows() for cell in row
             if isinstance(cell.value, str) and formula_like(cell.value)}
    # ("\rr" reads back as "\nr" from the Rust writer, whose bare carriage return XML reads as a line feed, and as
    # "_x000D_r", Excel's escape for it, from XlsxWriter: neither is in the set below)
    assert texts == {("Summary", "=Customers by segment"), ("Summary", "=Lost"), ("Champions", "=1+1"),
                     ("Champions", "@x"), ("=Lost", "=Lost: all 4 customers, best ranked first."), ("=Lost", "=Lost"),
                     ("=Lost", "+y"), ("=Lost", "\tz")}
    assert texts <= marked  # every one as it was, marked as text
    lost = {row[0].value: row[0] for row in book["=Lost"].iter_rows(min_row=3)}
    assert {"-5", "+8613800138000"} <= set(lost) and lost["+8613800138000"].data_type == "s"
    assert not book["Champions"]["A1"].quotePrefix and not any(name == "Data dictionary" for name, _ in marked)
    if writer == "xlsxwriter":  # cell by cell: only the texts that need it
        assert marked - texts == {("=Lost", "_x000D_r")}
    else:  # by column: each column of a sheet that holds one (its header too), and the merged notes that need it
        assert ("Champions", "00123") in marked and ("=Lost", "+8613800138000") not in marked


def test_a_workbook_without_formula_like_texts_has_no_quote_prefix(tmp_path):
    """The usual case costs nothing: no column format, no style with the quote prefix."""
    import zipfile

    frame = edge_frame().assign(customer_id=pd.array([f"C{i}" for i in range(8)], dtype="string"),
                                tags=pd.array(["plain"] * 8, dtype="string"))
    with zipfile.ZipFile(write_excel(frame, tmp_path / "c.xlsx", "en", GRID, title="Customers")) as parts:
        assert b"quotePrefix" not in parts.read("xl/styles.xml")


@pytest.mark.parametrize("writer", ["rust", "xlsxwriter"])
@pytest.mark.parametrize("minor_unit,money", [(2, "#,##0.00"), (0, "#,##0")])
def test_shares_are_percentages_money_has_a_money_format_and_dates_are_dates(tmp_path, monkeypatch, writer,
                                                                            minor_unit, money):
    # the analyst's review: the summary's shares (0.2025) were in General format, and so was money everywhere
    from test_exports import fake_run

    from segkit.i18n import t
    from segkit.report.exports import export_run_folder

    if writer == "xlsxwriter":
        monkeypatch.setattr(ex, "_rust_cells", lambda people, book: None)
        monkeypatch.setattr(ex, "_table_rust_cells", lambda people, book: None)
    folder = fake_run(tmp_path, lang="zh", currency={"minor_unit": minor_unit})
    export_run_folder(folder, formats=["xlsx"])  # the Arrow table's path
    frame = ex.export_frame(pd.read_parquet(folder / "data" / "profile.parquet"), "en", GRID, CLASSES,
                            value=pd.read_parquet(folder / "data" / "value.parquet"), tags=DEFAULT_TAGS,
                            minor_unit=minor_unit)
    for path, lang in ((folder / "exports" / "customers.xlsx", "zh"),
                       (write_excel(frame, tmp_path / "c.xlsx", "en", GRID, title="x", minor_unit=minor_unit), "en")):
        book = openpyxl.load_workbook(path)
        summary = book.worksheets[0]
        header = [c.value for c in summary[2]]
        wanted = {t(f"exports.summary.{n}", lang): f
                  for n, f in (("customer_share", "0.00%"), ("churn_risk_share", "0.00%"), ("revenue", money),
                               ("clv", money), ("customers", "General"), ("segment_name", "General"))}
        assert set(wanted) == set(header)
        for row in summary.iter_rows(min_row=3):
            assert {name: cell.number_format for name, cell in zip(header, row)} == wanted, (path, row)
            assert isinstance(row[header.index(t("exports.summary.customer_share", lang))].value, float)
        for sheet in book.worksheets[1:-1]:  # the segment sheets
            names = [c.value for c in sheet[2]]
            formats = {t(f"exports.col.{c}", lang): f for c, f in (("revenue", money), ("clv", money),
                                                                   ("last_purchase", "yyyy-mm-dd"),
                                                                   ("rank_score", "General"), ("p_alive", "General"))}
            for row in sheet.iter_rows(min_row=3):
                cells = dict(zip(names, row))
                shown = {name: f for name, f in formats.items() if cells[name].value is not None}  # an empty cell: none
                assert {name: cells[name].number_format for name in shown} == shown, (path, sheet.title)
                assert isinstance(cells[t("exports.col.last_purchase", lang)].value, dt.datetime)  # a date, not text
            assert all(c.data_type == "s" for c in sheet[2])  # the header: text (in its column's format: Rust)
        dictionary = book.worksheets[-1]
        assert all(c.data_type == "s" for row in dictionary.iter_rows() for c in row if c.value is not None)
        kinds = {row[0]: row[3] for row in dictionary.iter_rows(min_row=2, values_only=True)}
        assert kinds["revenue"] == kinds["clv"] == t("exports.type.money", lang)
        assert kinds["churn_risk"] == t("exports.type.boolean", lang)
        assert kinds["orders"] == t("exports.type.integer", lang)
