"""The fast paths of the exports (issue 15, the exports at scale) against the reference ones, on small
frames with edge cases: the workbook written by XlsxWriter from columns converted once per frame,
read back by openpyxl, against the same rows written cell by cell by openpyxl as segkit did before;
the vectorised formula neutralisation against `neutralise` cell by cell; the labels looked up once
per distinct code against one lookup per customer; the run's one Arrow table (`_load_export_table`)
against the frame of `load_export_frame`, and the files `export_run` writes from it against those the
pandas writers write from that frame (CSV bytes, Parquet values and metadata, the workbook's XML)."""

import datetime as dt

import numpy as np
import openpyxl
import pandas as pd
import pytest

from segkit.classify.rfm import load_segment_map
from segkit.report.exports import (_csv_text, _labels, _neutralised, _pandas_csv, _people_frame,
                                   _per_distinct, _write_people_csv, formula_like, neutralise,
                                   write_excel)

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
    people = _people_frame(frame, "en", quoted=False)  # texts as they are: formula-like ones marked as text
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
            # an empty text: openpyxl wrote an empty cell marked as text, the writers' is unmarked; both read as None.
            # A formula-like text: openpyxl wrote a formula, segkit writes the text (marked with the quote prefix)
            want = [(v, {"inlineStr": "n", "f": "s"}.get(k, k), f) for v, k, f in want]
            assert [(fifteen_digits(v), k, f) for v, k, f in want] == [(fifteen_digits(v), k, f)
                                                                       for v, k, f in have], (want, have)


def test_text_stays_text_and_dates_stay_dates(tmp_path):
    book = openpyxl.load_workbook(write_excel(edge_frame(), tmp_path / "c.xlsx", "en", GRID))
    champions = {row[0].value: row for row in book["Champions"].iter_rows(min_row=3)}
    assert set(champions) == {"=1+1", "00123", "http://x.example/a", " padded "}
    url, number_like = champions["http://x.example/a"], champions["00123"]
    assert url[0].data_type == "s" and url[0].hyperlink is None and number_like[0].data_type == "s"
    assert champions["=1+1"][0].data_type == "s" and champions["=1+1"][0].quotePrefix  # text, marked as text
    headers = [c.value for c in book["Champions"][2]]
    day = headers.index("Last purchase")
    assert champions["=1+1"][day].value == dt.datetime(2024, 1, 31) and champions["=1+1"][day].is_date
    assert champions["00123"][day].value == dt.datetime(1900, 1, 15)  # before Excel's phantom 1900-02-29
    assert champions["http://x.example/a"][day].value is None
    lost = {row[0].value: row for row in book["Lost"].iter_rows(min_row=3)}
    assert lost["客户七"][day].value == dt.datetime(1900, 3, 1)
    assert lost["-5"][day].value == dt.datetime(2000, 2, 29)  # a plain number written as text: left as it is
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
    cells = ["=SUM(A1)", "+1", "-2", "@x", "\tt", "\rr", "'already", "plain", "", "a=b", None, "中文",
             "+8613800138000", "+86 138 0013 8000", "+1 (555) 123-4567", "-1+1", "+1e5", "+1\n", "+１２３", "-"]
    column = pd.Series(cells if dtype is not object else [*cells[:-1], -12.5], dtype=dtype)
    expected = [None if pd.isna(v) else neutralise(v) for v in column]
    got = [None if pd.isna(v) else v for v in _neutralised(column)]
    assert got == expected
    assert sum(isinstance(v, str) and formula_like(v) for v in got) == 0
    assert got[cells.index("+8613800138000")] == "+8613800138000" and got[cells.index("-1+1")] == "'-1+1"
    assert column.tolist()[0] == "=SUM(A1)"  # the input is not changed


def test_the_people_table_neutralises_as_neutralise_does_cell_by_cell():
    """The Arrow path (`_people_table`: a text column in one RE2 pass, a dictionary's texts once each) and
    `neutralise` agree on every kind of text, plain numbers written as phone numbers included."""
    import pyarrow as pa

    from segkit.report.exports import _people_table

    cells = ["=SUM(A1)", "+1", "-2", "@x", "\tt", "\rr", "plain", "", None, "+8613800138000", "+86 138 0013 8000",
             "+1 (555) 123-4567", "-(0)12.5", "-1+1", "-1-1", "+1e5", "+1\n", "+１２３", "-", "+"]
    table = pa.table({"customer_id": pa.array(cells, pa.large_string()),
                      "tags": pa.array(cells, pa.string()).dictionary_encode()})
    people = _people_table(table, "en")
    expected = [None if v is None else neutralise(v) for v in cells]
    assert people.column(0).to_pylist() == expected and people.column(1).to_pylist() == expected
    assert "+8613800138000" in expected and "'-1+1" in expected


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
        clv=[np.inf, -np.inf, -0.0, 1e16, 5e-324, 0.1 + 0.2, np.nan],  # money: at two decimals, as text
        p_alive=[np.inf, -np.inf, -0.0, 1e16, 5e-324, 0.1 + 0.2, np.nan],  # a number: as numpy's str() writes it
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


# ---------------------------------------------------------------- the run's path: one Arrow table for every format
# `export_run` builds the export once as an Arrow table (`_load_export_table`) and writes every format from it;
# the reference is the frame of `load_export_frame` written by the pandas writers (`write_csv`'s `to_csv`,
# `write_parquet`, `_write_workbook`), which is what export_run wrote before.

def stage_frames(shuffled: bool) -> dict[str, pd.DataFrame]:
    """Eleven customers with what the table path can get wrong: ids that look like a number with leading zeros
    or a formula, Chinese, a tie on rank (ordered by id) and a missing rank (last), a missing and an unknown
    segment, missing classes and tiers, tag lists (empty, missing, an unknown tag, "+" as separator),
    timestamps with a time of day (before 1970 too) and a missing one, NaN and values to round; the value,
    clusters and next-best stages in the profile's order, or shuffled with a customer missing, one listed
    twice (the first row counts) and one the profile does not have."""
    ids = ["00123", "=cmd", "客户甲", "+1", "plain", "-5", "@x", "tie_b", "tie_a", "norank", "123"]
    profile = pd.DataFrame({
        "customer_id": ids,
        "orders": [3, 1, 2, 5, 1, 1, 4, 2, 2, 1, 7],
        "revenue": [10.5, -12.5, 0.1 + 0.2, np.nan, 1e16, 3.0, 0.0, 2.5, 2.5, 1.0, 99.99],
        "last_purchase": pd.to_datetime(["2024-03-01 23:59:59", "2024-01-02", None, "1969-12-31 12:00",
                                         "2024-12-31", "2023-05-05 00:00:01", "2024-06-30", "2024-02-29",
                                         "2024-02-29", "2020-01-01", "2024-12-30"], format="ISO8601"),
        "recency_days": [30, 364, 10, 20000, 0, 606, 184, 306, 306, 1826, 1],
        "rfm_code": ["555", "111", "345", "444", None, "123", "222", "333", "333", "111", "554"],
        "segment": ["champions", "lost", "loyal", "champions", None, "mystery", "hibernating", "at_risk",
                    "at_risk", "lost", "champions"],
        "rfm_class": ["important_value", "general_winback", None, "important_value", "general_develop",
                      "general_winback", "general_retain", "important_retain", "important_retain",
                      "general_winback", "important_value"],
        "frequency_tier": ["high", "low", "mid", "high", None, "low", "mid", "mid", "mid", "low", "high"],
        "monetary_tier": ["high", "low", "mid", "high", "low", None, "mid", "mid", "mid", "low", "high"],
        "abc_class": ["A", "C", "B", "A", "C", "C", "B", "B", "B", "C", "A"],
        "tags": ["high_value, frequent", "", None, "unknown_tag", "promoter+unsatisfied", "=tag", "frequent",
                 "", "", None, "high_value"],
        "rank_score": [0.99995, 0.1, 0.12345, np.nan, 0.5, 0.2, 0.3, 0.4, 0.4, 0.0, 0.98],
        "rank": pd.array([1, 9, 3, 2, 5, 8, 6, 7, 7, None, 4], dtype="Int64"),
    })
    value = pd.DataFrame({"customer_id": ids, "p_alive": [0.123456, 0.5, np.nan, 1.0, 0.0, 0.25, 0.75, 0.5, 0.5,
                                                         0.1, 0.99],
                          "clv": [120.456, 0.005, 1e15 + 0.5, np.nan, -3.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
                          "clv_tier": ["high", "low", "mid", "unknown", "low", None, "mid", "mid", "mid", "low",
                                       "high"],
                          "churn_risk": [False, True, False, False, True, True, False, False, False, True, False]})
    clusters = pd.DataFrame({"customer_id": ids, "cluster": [0, 1, 2, 0, 1, 1, 2, 2, 2, 1, 0],
                             "cluster_name": ["顶级", "流失", "新客", "顶级", "流失", "流失", "新客", "新客", "新客",
                                              "流失", "=formula"]})
    next_best = pd.DataFrame({"customer_id": ids, "next_best": ["produce", "=cmd", None, "饮料", "produce", "", "x",
                                                                "y", "y", None, "z"]})
    if shuffled:
        order = [10, 3, 0, 5, 1, 7, 2, 9, 6]  # customers 4 and 8 missing
        value = pd.concat([value.iloc[order], value.iloc[[3]].assign(clv=7.0),
                           value.iloc[[0]].assign(customer_id="not_in_profile")])
        clusters = clusters.iloc[order[::-1]]
        next_best = next_best.iloc[[2, 4, 0, 8, 10, 1]]
    return {"profile": profile, "value": value.reset_index(drop=True), "clusters": clusters.reset_index(drop=True),
            "next_best": next_best.reset_index(drop=True)}


def table_run(tmp_path, lang: str = "zh", shuffled: bool = True, frames: dict | None = None):
    """A run folder (data/ with the stage files, run.json) and its params; the profile in row groups of four
    rows, so that its dictionary-encoded columns come in several chunks whose dictionaries repeat texts."""
    from segkit.params import validate_params

    folder = tmp_path / f"run-{lang}-{shuffled}"
    (folder / "data").mkdir(parents=True)
    for name, stage in (frames or stage_frames(shuffled)).items():
        stage.to_parquet(folder / "data" / f"{name}.parquet", row_group_size=4)
    (folder / "data" / "run.json").write_text('{"as_of": "2024-12-31"}')
    return folder, validate_params({"run_name": "edge", "lang": lang})


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("shuffled", [False, True])
def test_export_table_holds_the_frame_load_export_frame_builds(tmp_path, lang, shuffled):
    import pyarrow as pa

    from segkit.report.exports import _frame_of, _load_export_table, load_export_frame

    folder, params = table_run(tmp_path, lang, shuffled)
    table = _load_export_table(folder / "data", params)
    assert table is not None  # the fast path is the one taken
    assert pa.types.is_dictionary(table.schema.field("segment_name").type)  # labels once per distinct code
    reference = load_export_frame(folder / "data", params)
    pd.testing.assert_frame_equal(_frame_of(table), reference)
    assert reference["customer_id"].iloc[:3].tolist() == ["00123", "+1", "客户甲"]  # ranks 1, 2, 3: text ids
    assert reference["customer_id"].iloc[-5:].tolist() == ["tie_a", "tie_b", "-5", "=cmd", "norank"]


def export_references(folder, params, out, encoding: str = "utf-8-sig"):
    """The reference files: the frame of `load_export_frame` written by the pandas writers."""
    from segkit.report.exports import _grid, _write_workbook, load_export_frame, write_parquet

    frame = load_export_frame(folder / "data", params)
    out.mkdir()
    _pandas_csv(_people_frame(frame, params.lang), out / "customers.csv", encoding)
    write_parquet(frame, out / "customers.parquet", {"run": "edge", "as_of": "2024-12-31", "lang": params.lang})
    title = t("exports.title", params.lang, run="edge", as_of="2024-12-31")
    _write_workbook(frame, _people_frame(frame, params.lang, quoted=False), out / "customers.xlsx", params.lang,
                    _grid(params.rfm),
                    params.exports.excel_max_rows, ["customers.csv", "customers.parquet"], title)
    return out


def assert_same_exports(new, reference) -> None:
    """CSV byte for byte; Parquet values, types and metadata (pandas' included); each part of the workbook
    (its sheets' XML, uncompressed) byte for byte, but for the time it was written (docProps/core.xml)."""
    import zipfile

    import pyarrow.parquet as pq

    assert (new / "customers.csv").read_bytes() == (reference / "customers.csv").read_bytes()
    a, b = pq.read_table(new / "customers.parquet"), pq.read_table(reference / "customers.parquet")
    assert a.schema.equals(b.schema, check_metadata=True) and a.equals(b)
    pd.testing.assert_frame_equal(pd.read_parquet(new / "customers.parquet"),
                                  pd.read_parquet(reference / "customers.parquet"))
    with zipfile.ZipFile(new / "customers.xlsx") as x, zipfile.ZipFile(reference / "customers.xlsx") as y:
        assert sorted(x.namelist()) == sorted(y.namelist())
        assert [n for n in x.namelist() if n != "docProps/core.xml" and x.read(n) != y.read(n)] == []


@pytest.mark.parametrize("lang,encoding,shuffled", [("zh", "utf-8-sig", True), ("en", "gb18030", False)])
def test_export_run_writes_the_files_the_frame_writers_wrote(tmp_path, lang, encoding, shuffled):
    from segkit.report.exports import export_run

    folder, params = table_run(tmp_path, lang, shuffled)
    written = export_run(folder, params, formats=["csv", "parquet", "xlsx"], encoding=encoding)
    assert [p.rsplit("/", 1)[1] for p in written] == ["customers.csv", "customers.parquet", "customers.xlsx"]
    assert_same_exports(folder / "exports", export_references(folder, params, tmp_path / "reference", encoding))
    sheet = openpyxl.load_workbook(folder / "exports" / "customers.xlsx").worksheets[1]
    assert sheet["A3"].value == "00123" and sheet["A3"].data_type == "s"  # leading zeros kept, as text
    assert not list((folder / "exports").glob(".*partial"))


def test_export_run_with_a_small_sheet_cap_and_the_xlsxwriter_fallback(tmp_path, monkeypatch):
    from segkit.params import validate_params
    from segkit.report.exports import export_run

    folder, _ = table_run(tmp_path, "zh", True)
    params = validate_params({"run_name": "edge", "lang": "zh", "exports": {"excel_max_rows": 1}})
    monkeypatch.setattr(ex_module(), "_rust_cells", lambda people, book: None)
    monkeypatch.setattr(ex_module(), "_table_rust_cells", lambda people, book: None)
    export_run(folder, params, formats=["csv", "parquet", "xlsx"])
    reference = export_references(folder, params, tmp_path / "reference")
    new, old = (openpyxl.load_workbook(p / "customers.xlsx") for p in (folder / "exports", reference))
    assert new.sheetnames == old.sheetnames and len(new.sheetnames) > 3
    for name in new.sheetnames:
        assert [[c.value for c in row] for row in new[name].iter_rows()] == \
               [[c.value for c in row] for row in old[name].iter_rows()], name


@pytest.mark.parametrize("change", ["integer ids", "a customer twice", "a stage without ids", "float ranks"])
def test_stage_files_only_the_frame_handles_take_its_path(tmp_path, change):
    from segkit.errors import DataError
    from segkit.report.exports import _load_export_table, export_run

    frames = stage_frames(shuffled=True)
    if change == "integer ids":  # as a stage written from integer ids: the frame makes them text
        number = {c: 1000 + i for i, c in enumerate(frames["profile"]["customer_id"])}
        frames = {name: stage.assign(customer_id=stage["customer_id"].map(number).astype("Int64"))
                  for name, stage in frames.items()}
    elif change == "a customer twice":
        frames["profile"] = pd.concat([frames["profile"], frames["profile"].iloc[[2]]])
    elif change == "a stage without ids":
        frames["clusters"] = frames["clusters"].drop(columns="customer_id")
    else:
        frames["profile"] = frames["profile"].assign(rank=frames["profile"]["rank"].astype(float))
    folder, params = table_run(tmp_path, "en", frames=frames)
    assert _load_export_table(folder / "data", params) is None
    if change == "a customer twice":
        with pytest.raises(DataError, match="customer '客户甲' appears twice in the profile stage"):
            export_run(folder, params)
    elif change == "a stage without ids":
        with pytest.raises(KeyError):  # as before: load_export_frame's join needs the id
            export_run(folder, params)
    else:
        export_run(folder, params, formats=["csv", "parquet", "xlsx"])
        assert_same_exports(folder / "exports", export_references(folder, params, tmp_path / "reference"))


def ex_module():
    import segkit.report.exports as module

    return module


def t(key, lang, **values):
    from segkit.i18n import t as translate

    return translate(key, lang, **values)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030"])
def test_csv_of_the_people_table_has_the_bytes_pandas_wrote(tmp_path, encoding):
    # every special float (each distinct number is formatted once: -0.0 must keep its sign), missing integers,
    # booleans and dates, text that needs quoting or neutralising, Chinese, the number-like id with leading zeros
    import pyarrow as pa

    from segkit.report.exports import _people_table, _write_table_csv

    frame = csv_edge_frame().assign(p_alive=[0.0, -0.0, 0.0, np.nan, -0.0, 1e-7, 123456789.123],
                                    revenue=[0.0, -0.0, 3849.4, np.nan, -0.004, 1e-7, 123456789.125])
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.set_column(table.column_names.index("segment"), "segment",
                             table["segment"].combine_chunks().dictionary_encode())  # as the run's table holds it
    people = _people_table(table, "zh")
    _write_table_csv(people, tmp_path / "fast.csv", encoding)
    _pandas_csv(_people_frame(frame, "zh"), tmp_path / "pandas.csv", encoding)
    fast = (tmp_path / "fast.csv").read_bytes()
    assert fast == (tmp_path / "pandas.csv").read_bytes()
    assert b",-0.0," in fast and b",0.0," in fast and b"'=1+1" in fast and b"00123" in fast
    assert b",3849.40," in fast and b",0.00," in fast and b",-0.00," not in fast  # money at two decimals
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fast.csv", "pandas.csv"]


def test_a_run_without_customers_writes_the_files_the_frame_writers_wrote(tmp_path):
    from segkit.report.exports import _load_export_table, export_run

    frames = {name: stage.iloc[:0] for name, stage in stage_frames(shuffled=False).items()}
    folder, params = table_run(tmp_path, "zh", frames=frames)
    assert _load_export_table(folder / "data", params).num_rows == 0
    export_run(folder, params, formats=["csv", "parquet", "xlsx"])
    assert_same_exports(folder / "exports", export_references(folder, params, tmp_path / "reference"))


@pytest.mark.parametrize("minor_unit", [0, 1, 2, 3, 4])
def test_money_text_is_what_python_writes_at_the_currencys_decimals(minor_unit):
    # the CSV's amounts: Arrow's decimal cast below 1e20, Python beyond it and for inf; both as f"{x:.2f}" after
    # rounding as Series.round does, but never a negative zero
    from segkit.report.exports import money_text

    rng = np.random.default_rng(minor_unit)
    amounts = np.concatenate([
        rng.uniform(-1, 1, 20_000) * 10.0 ** rng.integers(-6, 20, 20_000),
        [0.0, -0.0, 0.005, 0.015, 2.675, 1.005, -0.004, 0.1 + 0.2, 5e-324, 1e15 + 0.5, 1e16, 9.99e19, 1e20, -3e25,
         1.7e308, np.inf, -np.inf, np.nan]])
    rounded = [a if not abs(a) < 1e20 else float(np.round(a, minor_unit)) for a in amounts.tolist()]
    expected = [None if np.isnan(a) else f"{a + 0.0:.{minor_unit}f}" for a in rounded]
    assert money_text(amounts, minor_unit).to_pylist() == expected
    assert not any(v.startswith("-") and not v.strip("-0.") for v in expected if v)  # no "-0.00"
