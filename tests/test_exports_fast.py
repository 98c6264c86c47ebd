"""The fast paths of the exports (issue 15, the exports at scale) against the reference ones, on small
frames with edge cases: the workbook written by XlsxWriter from columns converted once per frame,
read back by openpyxl, against the same rows written cell by cell by openpyxl as segkit did before;
the vectorised formula neutralisation against `neutralise` cell by cell; the labels looked up once
per distinct code against one lookup per customer."""

import datetime as dt

import numpy as np
import openpyxl
import pandas as pd
import pytest

from segkit.classify.rfm import load_segment_map
from segkit.report.exports import (FORMULA_STARTS, _csv_text, _labels, _neutralised, _pandas_csv, _people_frame,
                                   _per_distinct, _write_people_csv, neutralise, write_excel)

GRID = load_segment_map("rfm11")


def edge_frame(control: str = "\x01") -> pd.DataFrame:
    """Seven customers in two segments, with what a spreadsheet writer can get wrong: formula starts,
    an empty text, a missing text, a URL and a number-looking id (both must stay text), spaces at the
    ends, Chinese, a control character, missing integers, numbers and booleans, a 17-digit float, a
    negative revenue, a date before Excel's March 1900 and a missing date. `control` is the control
    character in the last id (openpyxl refused to write one: "" for the comparison with it)."""
    return pd.DataFrame({
        "customer_id": pd.array(["=1+1", "00123", "http://x.example/a", " padded ", "客户七", "-5", f"a{control}b"],
                                dtype="string"),
        "segment": pd.array(["champions"] * 4 + ["lost"] * 3, dtype="string"),
        "segment_name": pd.array(["Champions"] * 4 + ["Lost"] * 3, dtype="string"),
        "tags": pd.array(["", "high_value", None, "@x", "+y", "\tz", "plain"], dtype="string"),
        "rank": pd.array([1, 2, None, 4, 5, 6, 7], dtype="Int64"),
        "revenue": [10.5, -12.25, np.nan, 0.1 + 0.2, 1e15 + 0.5, 3.0, 0.0],
        "last_purchase": [dt.date(2024, 1, 31), dt.date(1900, 1, 15), None, dt.date(2025, 12, 31),
                          dt.date(1900, 3, 1), dt.date(2000, 2, 29), dt.date(1970, 1, 1)],
        "churn_risk": pd.array([True, False, None, True, False, False, True], dtype="boolean"),
    })


def reference_rows(people: pd.DataFrame) -> list[list]:
    """The cells of a segment sheet as segkit wrote them with openpyxl before: every value cell by
    cell, missing as empty, numpy scalars as Python ones."""
    def plain(value):
        try:
            if pd.isna(value):
                return None
        except (TypeError, ValueError):
            pass
        return value.item() if isinstance(value, np.generic) else value

    return [[plain(v) for v in row] for row in people.itertuples(index=False, name=None)]


def fifteen_digits(value):
    """A number as Excel holds it (15 significant digits: the writers write 16 or 17, so 0.1 + 0.2 reads back
    as 0.3 or as 0.30000000000000004), anything else as it is."""
    if isinstance(value, float) and np.isfinite(value):
        return float(f"{value:.15g}")
    return value


def read_back(path, sheet: str) -> list[list]:
    book = openpyxl.load_workbook(path)  # the cells of row 1 merged with A1 (the note) are not dates
    return [[(cell.value, cell.data_type, cell.number_format if getattr(cell, "is_date", False) else None)
             for cell in row]
            for row in book[sheet].iter_rows()]


@pytest.mark.parametrize("early", [dt.date(1900, 1, 15), dt.date(1999, 12, 31)])
def test_segment_sheets_hold_what_openpyxl_cell_by_cell_held(tmp_path, early):
    # with a date before March 1900 the dates go cell by cell; without, as Excel serial numbers at once
    frame = edge_frame(control="")
    frame["last_purchase"] = frame["last_purchase"].replace({dt.date(1900, 1, 15): early})
    fast = write_excel(frame, tmp_path / "fast.xlsx", "en", GRID)
    people = _people_frame(frame, "en")
    for code, sheet in (("champions", "Champions"), ("lost", "Lost")):
        reference = openpyxl.Workbook(write_only=True)
        written = reference.create_sheet(sheet)
        written.append(["note"])
        written.append(list(people.columns))
        for row in reference_rows(people[frame["segment"].to_numpy() == code]):
            written.append(row)
        reference.save(tmp_path / f"{code}.xlsx")
        expected = read_back(tmp_path / f"{code}.xlsx", sheet)
        got = read_back(fast, sheet)
        assert len(got) == len(expected) == 2 + (4 if code == "champions" else 3)
        assert got[1] == expected[1]  # the headers
        for want, have in zip(expected[2:], got[2:]):
            # an empty text: openpyxl wrote an empty cell marked as text, the writers' is unmarked; both read as None
            want = [(v, k if k != "inlineStr" else "n", f) for v, k, f in want]
            assert [(fifteen_digits(v), k, f) for v, k, f in want] == [(fifteen_digits(v), k, f)
                                                                       for v, k, f in have], (want, have)


def test_text_stays_text_and_dates_stay_dates(tmp_path):
    book = openpyxl.load_workbook(write_excel(edge_frame(), tmp_path / "c.xlsx", "en", GRID))
    champions = {row[0].value: row for row in book["Champions"].iter_rows(min_row=3)}
    assert set(champions) == {"'=1+1", "00123", "http://x.example/a", " padded "}
    url, number_like = champions["http://x.example/a"], champions["00123"]
    assert url[0].data_type == "s" and url[0].hyperlink is None and number_like[0].data_type == "s"
    headers = [c.value for c in book["Champions"][2]]
    day = headers.index("Last purchase")
    assert champions["'=1+1"][day].value == dt.datetime(2024, 1, 31) and champions["'=1+1"][day].is_date
    assert champions["00123"][day].value == dt.datetime(1900, 1, 15)  # before Excel's phantom 1900-02-29
    assert champions["http://x.example/a"][day].value is None
    lost = {row[0].value: row for row in book["Lost"].iter_rows(min_row=3)}
    assert lost["客户七"][day].value == dt.datetime(1900, 3, 1)
    assert lost["'-5"][day].value == dt.datetime(2000, 2, 29)
    # a control character (which openpyxl refused to write) is kept as Excel's escape _x0001_, which Excel shows
    # as the character and openpyxl reads back as it is
    assert lost["a_x0001_b"][0].data_type == "s"


def test_segment_sheets_keep_the_note_and_header_frozen(tmp_path):
    book = openpyxl.load_workbook(write_excel(edge_frame(), tmp_path / "c.xlsx", "en", GRID))
    assert [book[name].freeze_panes for name in book.sheetnames] == [None, "A3", "A3", None]


def test_only_date_column_missing_everywhere_is_empty(tmp_path):
    frame = edge_frame().assign(last_purchase=[None] * 7)
    book = openpyxl.load_workbook(write_excel(frame, tmp_path / "c.xlsx", "en", GRID))
    headers = [c.value for c in book["Lost"][2]]
    assert [row[headers.index("Last purchase")].value for row in book["Lost"].iter_rows(min_row=3)] == [None] * 3


@pytest.mark.parametrize("dtype", ["string", "str", object])
def test_vectorised_neutralisation_matches_neutralise_cell_by_cell(dtype):
    cells = ["=SUM(A1)", "+1", "-2", "@x", "\tt", "\rr", "'already", "plain", "", "a=b", None, "中文", "-"]
    column = pd.Series(cells if dtype is not object else [*cells[:-1], -12.5], dtype=dtype)
    expected = [None if pd.isna(v) else neutralise(v) for v in column]
    got = [None if pd.isna(v) else v for v in _neutralised(column)]
    assert got == expected
    assert sum(isinstance(v, str) and v.startswith(FORMULA_STARTS) for v in got) == 0
    assert column.tolist()[0] == "=SUM(A1)"  # the input is not changed


def test_labels_once_per_distinct_code_match_one_lookup_per_customer():
    labels = {"champions": "Champions", "lost": "Lost"}
    for codes in (pd.Series(["lost", "champions", None, "unknown", "lost"], dtype="string"),
                  pd.Series(["lost", 3, None, np.nan, "champions"], dtype=object, index=[5, 4, 3, 2, 1]),
                  pd.Series([], dtype="string")):
        expected = pd.Series([labels.get(c, c) if isinstance(c, str) else None for c in codes], index=codes.index,
                             dtype="string")
        pd.testing.assert_series_equal(_labels(codes, labels), expected)
    joined = _per_distinct(pd.Series(["a, b", "", "a, b"]), lambda text: text.upper() or "-")
    assert joined.tolist() == ["A, B", "-", "A, B"]


def csv_edge_frame() -> pd.DataFrame:
    """The edge frame with what a CSV writer can get wrong: a comma, a quote, CR, LF, CRLF, "#" (a comment
    character to some writers), spaces at the ends, "NULL", text that looks like a number, every special
    float (inf, -inf, -0.0, 1e+16, 5e-324, a 17-digit float, NaN), missing integers and booleans, dates
    before 1900 and in year 5, every text column missing in some row."""
    frame = edge_frame()
    texts = ["a,b", 'say "hi"', "line\rbreak", "two\nlines", "crlf\r\nx", "#hash", "NULL"]
    return frame.assign(
        tag_names=pd.array([*texts[:6], None], dtype="string"),
        next_best_category=pd.array([" x ", "", "1.0", "中文,逗号", texts[6], "\x01", "'"], dtype="string"),
        clv=[np.inf, -np.inf, -0.0, 1e16, 5e-324, 0.1 + 0.2, np.nan],
        orders=pd.array([None, 0, -3, 2**62, 1, 2, 3], dtype="Int64"),
        last_purchase=[dt.date(5, 1, 2), dt.date(1899, 12, 31), None, dt.date(9999, 12, 31), dt.date(1900, 2, 28),
                       dt.date(2024, 2, 29), None],
    )


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030"])
def test_csv_through_duckdb_has_the_bytes_pandas_wrote(tmp_path, encoding):
    people = _people_frame(csv_edge_frame(), "zh")
    assert _csv_text(people) is not None  # the fast path is the one taken
    _write_people_csv(people, tmp_path / "fast.csv", encoding)
    _pandas_csv(people, tmp_path / "pandas.csv", encoding)
    fast, reference = (tmp_path / "fast.csv").read_bytes(), (tmp_path / "pandas.csv").read_bytes()
    assert fast == reference
    assert fast.startswith(b"\xef\xbb\xbf") == (encoding == "utf-8-sig")
    assert b'"crlf\r\nx"' in fast.replace("crlf".encode(encoding), b"crlf")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fast.csv", "pandas.csv"]  # no temporary file left


@pytest.mark.parametrize("frame", [
    pd.DataFrame({"only": pd.array(["a", None, ""], dtype="string")}),  # one column: pandas quotes an empty row
    pd.DataFrame({"mixed": ["a", 1, 2.5, None], "n": [1, 2, 3, 4]}),  # Python objects of several kinds
    pd.DataFrame({"when": pd.to_datetime(["2024-01-01 10:00", None]), "n": [1, 2]}),  # timestamps
    pd.DataFrame({"n": pd.array([], dtype="Int64"), "t": pd.array([], dtype="string")}),  # no rows
])
def test_csv_of_other_columns_matches_pandas(tmp_path, frame):
    _write_people_csv(frame, tmp_path / "fast.csv", "utf-8-sig")
    _pandas_csv(frame, tmp_path / "pandas.csv", "utf-8-sig")
    assert (tmp_path / "fast.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes()


def test_a_csv_duckdb_cannot_write_is_one_clear_message(tmp_path):
    from segkit.report.exports import ExportError, _duckdb_csv

    people = _people_frame(csv_edge_frame(), "en")
    with pytest.raises(ExportError, match=r"cannot write the CSV export in .*gone.*writable"):
        _duckdb_csv(_csv_text(people), list(people.columns), tmp_path / "gone" / "customers.csv", "utf-8-sig")
