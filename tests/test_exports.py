"""The per-customer exports (segkit.report.exports) on small hand-made stage frames: the frame, the
CSV (BOM, GB18030, formula neutralisation, numbers), Excel (sheets, cap and note, dictionary),
Parquet (types), `export_run_folder` and `segkit export`. No whole report runs here."""

import csv
import io
import json
import os

import duckdb
import numpy as np
import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import run_segkit
from segkit.cli import app
from segkit.classify.rfm import load_segment_map
from segkit.errors import DataError, ParamsError
from segkit.params import DEFAULT_TAGS, Params, validate_params
from segkit.report.exports import (FILE_NAMES, _sheet_name, export_frame, export_run_folder, formula_like, neutralise,
                                   write_csv, write_excel, write_parquet)

GRID, CLASSES = load_segment_map("rfm11"), load_segment_map("cn8")
# ids a spreadsheet would run as formulas, one per dangerous first character (OWASP)
NASTY = ["=HYPERLINK(\"http://evil\",\"x\")", "+1+2", "-3+4", "@SUM(A1)", "\tTAB", "\rCR"]
# ids that start like a formula but are numbers as phone numbers and ids write them: no spreadsheet can run them
PHONES = ["+8613800138000", "-42", "+86 138 0013 8000", "+1 (555) 123-4567", "-12.5", "+49 30,123.45"]
# and texts that start with a sign and digits but are formulas all the same (an operator, a letter, a reference,
# a pipe, a line break, digits other than 0-9), or no number at all
NOT_PHONES = ["-1+1", "+1*2", "-1/2", "+1^2", "+1e5", "+1-A1", "-1:1", "+1|x", "-(1)!A1", "+1\n", "+１２３", "-", "+",
              "+ ", "-.", "+()"]


def profile() -> pd.DataFrame:
    """Nine customers: three champions, two lost, one in each of four other segments; one with a
    negative revenue (returns), six whose ids start like a formula."""
    ids = NASTY + ["C7", "C8", "C9"]
    segments = ["champions", "champions", "champions", "lost", "lost", "at_risk", "loyal", "promising", "hibernating"]
    return pd.DataFrame({
        "customer_id": ids, "orders": [9, 8, 7, 1, 1, 3, 5, 1, 2],
        "revenue": [900.5, 800.0, 700.25, -12.5, 10.0, 300.0, 500.0, 20.0, 30.0],
        "recency_days": [3, 5, 8, 400, 380, 200, 20, 10, 300],
        "last_purchase": pd.to_datetime(["2024-12-28", "2024-12-26", "2024-12-23", "2023-11-27", "2023-12-17",
                                         "2024-06-14", "2024-12-11", "2024-12-21", "2024-03-06"]),
        "segment": segments,
        "rfm_class": ["important_value"] * 3 + ["general_winback"] * 2 + ["important_retain", "important_value",
                                                                           "general_develop", "general_winback"],
        "rfm_code": ["555", "554", "545", "111", "112", "233", "444", "511", "222"],
        "frequency_tier": ["high", "high", "high", "low", "low", "mid", "mid", "low", "low"],
        "monetary_tier": ["high", "high", "high", "low", "low", "mid", "high", "low", "low"],
        "abc_class": ["A", "A", "A", "C", "C", "B", "A", "C", "C"],
        "tags": ["high_value, frequent", "high_value", "", "", "unsatisfied", "", "high_value", "", "promoter"],
        "rank": [1, 2, 3, 9, 8, 5, 4, 7, 6], "rank_score": [0.99, 0.9, 0.8, 0.1, 0.2, 0.5, 0.6, 0.3, 0.4],
    })


def value() -> pd.DataFrame:
    ids = NASTY + ["C7", "C8"]  # C9 has no prediction
    return pd.DataFrame({"customer_id": ids, "p_alive": [0.99, 0.95, 0.9, 0.1, 0.2, 0.4, 0.8, 0.7],
                         "clv": [120.456, 100.0, 90.0, 0.0, 1.0, 20.0, 60.0, 10.0],
                         "clv_tier": ["high", "high", "high", "low", "low", "mid", "mid", "low"],
                         "churn_risk": [False, False, False, True, True, True, False, False]})


def clusters() -> pd.DataFrame:
    return pd.DataFrame({"customer_id": profile()["customer_id"], "cluster": [0, 0, 0, 1, 1, 1, 0, 2, 1],
                         "cluster_name": ["top", "top", "top", "gone", "gone", "gone", "top", "new", "gone"]})


def frame(lang: str = "en") -> pd.DataFrame:
    return export_frame(profile(), lang, GRID, CLASSES, value=value(), clusters=clusters(), tags=DEFAULT_TAGS)


def test_frame_has_one_row_per_customer_with_codes_and_labels_in_the_language():
    source = profile()
    before = source.copy()
    en = export_frame(source, "en", GRID, CLASSES, value=value(), clusters=clusters(), tags=DEFAULT_TAGS)
    zh = export_frame(source, "zh", GRID, CLASSES, value=value(), clusters=clusters(), tags=DEFAULT_TAGS)
    pd.testing.assert_frame_equal(source, before)  # the input is not changed
    assert len(en) == len(source) and en["customer_id"].is_unique
    assert list(en["rank"]) == sorted(en["rank"])  # best ranked first
    first = en.set_index("customer_id").loc[NASTY[0]]
    assert (first["segment"], first["segment_name"], first["rfm_class_name"]) == ("champions", "Champions",
                                                                                  "Important value")
    assert first["tag_names"] == "High value; Frequent buyer" and first["clv"] == 120.46
    assert zh.set_index("customer_id").loc[NASTY[0], "segment_name"] == "冠军客户"
    assert zh.set_index("customer_id").loc[NASTY[0], "tag_names"] == "高价值客户、高频客户"
    assert zh.set_index("customer_id").loc["C8", "frequency_tier_name"] == "低频"
    assert list(en["segment"]) == list(zh["segment"])  # codes do not depend on the language
    no_prediction = en.set_index("customer_id").loc["C9"]
    assert pd.isna(no_prediction["clv"]) and pd.isna(no_prediction["churn_risk"])


def test_frame_without_value_or_clusters_leaves_their_columns_out():
    plain = export_frame(profile(), "en", GRID, CLASSES)
    assert not {"clv", "p_alive", "churn_risk", "cluster"} & set(plain.columns)
    assert {"segment_name", "rfm_class_name", "rank"} <= set(plain.columns)


def test_a_customer_twice_in_the_profile_is_a_clear_error():
    doubled = pd.concat([profile(), profile().head(1)], ignore_index=True)
    with pytest.raises(DataError, match="appears twice in the profile stage"):
        export_frame(doubled, "en", GRID, CLASSES)


def test_neutralise_prefixes_every_dangerous_start_and_leaves_numbers():
    assert [neutralise(v) for v in NASTY] == ["'" + v for v in NASTY]
    assert neutralise(-12.5) == -12.5 and neutralise("Anna-Lena") == "Anna-Lena" and neutralise(None) is None


def test_neutralise_leaves_numbers_written_as_phone_numbers_and_keeps_the_defence_for_formulas():
    """Trial: a customer id +8613800138000 became '+8613800138000 in customers.csv, breaking the CRM key."""
    assert [neutralise(v) for v in PHONES] == PHONES
    assert [neutralise(v) for v in NOT_PHONES] == ["'" + v for v in NOT_PHONES]
    assert [formula_like(v) for v in PHONES + NOT_PHONES] == [False] * len(PHONES) + [True] * len(NOT_PHONES)


def test_phone_number_ids_reach_the_csv_and_the_workbook_as_they_are(tmp_path):
    """Both paths: `write_csv` of the frame, and `segkit export` (the Arrow table of the stage files)."""
    phones = dict(zip(["C7", "C8", "C9"], PHONES[:3]))
    exported = frame().replace({"customer_id": phones})
    data = write_csv(exported, tmp_path / "c.csv", "en").read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(data, newline="")))
    assert {row[0] for row in rows[1:]} == {*("'" + v for v in NASTY), *PHONES[:3]}
    folder = fake_run(tmp_path, renamed=phones)
    export_run_folder(folder, formats=["csv", "xlsx"])
    ids = pd.read_csv(folder / "exports" / "customers.csv", encoding="utf-8-sig", dtype=str)["Customer ID"]
    assert set(ids) == {*("'" + v for v in NASTY), *PHONES[:3]}
    book = openpyxl.load_workbook(folder / "exports" / "customers.xlsx")
    cells = {row[0].value: row[0] for name in book.sheetnames[1:-1] for row in book[name].iter_rows(min_row=3)}
    assert set(PHONES[:3]) <= set(cells) and all(cells[v].data_type == "s" for v in PHONES[:3])


def test_csv_starts_with_the_bom_and_neutralises_formulas_byte_wise(tmp_path):
    path = write_csv(frame(), tmp_path / "c.csv", "en")
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and not data.startswith(b"\xef\xbb\xbf\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    header, body = rows[0], rows[1:]
    assert len(body) == 9 and header[0] == "Customer ID"
    ids = [row[0] for row in body]
    for nasty in NASTY:
        assert "'" + nasty in ids and nasty not in ids
    for row in rows:  # no cell anywhere starts like a formula
        assert not any(cell.startswith(("=", "+", "@", "\t", "\r")) for cell in row)
    revenue = header.index("Revenue")
    assert "-12.50" in [row[revenue] for row in body]  # a number, not neutralised
    assert b",-12.50," in data


def test_csv_in_gb18030_reads_back_in_chinese(tmp_path):
    path = write_csv(frame("zh"), tmp_path / "c.csv", "zh", encoding="gb18030")
    data = path.read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf") and "冠军客户".encode("gb18030") in data
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    assert pd.read_csv(path, encoding="gb18030")["客户群"].value_counts()["冠军客户"] == 3


def test_csv_refuses_an_unknown_encoding(tmp_path):
    with pytest.raises(ParamsError, match="csv_encoding must be one of utf-8-sig, gb18030, gbk, got 'latin-1'"):
        write_csv(frame(), tmp_path / "c.csv", "en", encoding="latin-1")


def csv_cells(path, encoding: str = "utf-8-sig") -> dict[str, list[str]]:
    """The cells of an export CSV by header, as text (as the bytes say)."""
    with open(path, encoding=encoding, newline="") as handle:
        rows = list(csv.reader(handle))
    return {name: [row[i] for row in rows[1:]] for i, name in enumerate(rows[0])}


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("minor_unit", [2, 0, 3])
def test_csv_writes_money_at_the_currencys_decimals_and_true_false_as_the_docs_do(tmp_path, lang, minor_unit):
    # "3849.4" for 3849.40 and True/False where docs/exports.md says true/false: the analyst's review
    from segkit.i18n import t

    stages = {"profile": profile().assign(revenue=[3849.4, 800.0, 700.25, -12.5, 10.0, 300.0, 500.0, 20.0, -0.001]),
              "value": value().assign(clv=[120.456, 100.0, 90.0, 0.0, 1.0, 20.0, 60.0, np.nan])}
    folder = fake_run(tmp_path, lang=lang, currency={"minor_unit": minor_unit})
    for name, stage in stages.items():
        stage.to_parquet(folder / "data" / f"{name}.parquet")
    pd.DataFrame({"customer_id": ["C2"], "before": ["champions"], "after": ["at_risk"], "revenue": [20.5],
                  "clv": [3.0]}).to_parquet(folder / "data" / "moved_to_at_risk.parquet")
    pd.DataFrame({"customer_id": ["C10"], "rule": ["net_negative"], "purchase_lines": [1], "return_lines": [2],
                  "revenue": [-4.1]}).to_parquet(folder / "data" / "customers_set_aside.parquet")
    export_run_folder(folder, formats=["csv"])  # the Arrow table's path
    frame = export_frame(stages["profile"], lang, GRID, CLASSES, value=stages["value"], minor_unit=minor_unit)
    write_csv(frame, tmp_path / "frame.csv", lang, minor_unit=minor_unit)  # the frame's path
    # -0.001 rounds to 0 at two decimals or none: "0.00", "0", never a negative zero
    money = {2: ["3849.40", "-12.50", "0.00", "120.46", "20.50", "-4.10"], 0: ["3849", "-12", "0", "120", "20", "-4"],
             3: ["3849.400", "-12.500", "-0.001", "120.456", "20.500", "-4.100"]}[minor_unit]
    for path in (folder / "exports" / "customers.csv", tmp_path / "frame.csv"):
        cells = csv_cells(path)
        revenue, clv = cells[t("exports.col.revenue", lang)], cells[t("exports.col.clv", lang)]
        assert money[0] in revenue and money[1] in revenue and money[2] in revenue
        assert not any(v in revenue for v in ("-0", "-0.00"))
        assert money[3] in clv and "" in clv  # a missing prediction: an empty field
        decimals = [len(v.partition(".")[2]) for v in revenue + clv if v]
        assert decimals == [minor_unit] * len(decimals) and all(("." in v) == (minor_unit > 0) for v in revenue)
        risk = cells[t("exports.col.churn_risk", lang)]
        assert sorted(set(risk)) == ["", "false", "true"] and risk.count("true") == 3
    moved = csv_cells(folder / "exports" / "moved_to_at_risk.csv")
    assert moved[t("exports.col.revenue", lang)] == [money[4]]
    aside = csv_cells(folder / "exports" / "customers_set_aside.csv")
    assert aside[t("exports.col.revenue", lang)] == [money[5]]


def test_true_false_is_what_the_docs_and_the_data_dictionary_say(tmp_path):
    from pathlib import Path

    from segkit.i18n import t

    docs = (Path(__file__).resolve().parents[1] / "docs" / "exports.md").read_text(encoding="utf-8")
    assert "| number, true/false |" in docs  # churn_risk's row
    for lang in ("en", "zh"):
        assert t("exports.type.boolean", lang).startswith("true / false")
        assert "true" in t("exports.desc.churn_risk", lang)
    # any true/false column, not only churn_risk, and in the workbook a real boolean
    extra = frame().assign(vip=pd.array([True, False, None] * 3, dtype="boolean"), flag=[True, False, True] * 3,
                           objects=pd.Series([True, None, False] * 3, dtype=object))
    cells = csv_cells(write_csv(extra, tmp_path / "c.csv", "zh", encoding="gb18030"), "gb18030")
    assert cells["vip"] == ["true", "false", ""] * 3 and cells["flag"] == ["true", "false", "true"] * 3
    assert cells["objects"] == ["true", "", "false"] * 3
    book = openpyxl.load_workbook(write_excel(frame(), tmp_path / "c.xlsx", "en", GRID))
    headers = [c.value for c in book["Lost"][2]]
    risk = [row[headers.index("At churn risk")] for row in book["Lost"].iter_rows(min_row=3)]
    assert [c.value for c in risk] == [True, True] and all(c.data_type == "b" for c in risk)


def test_duckdb_reads_the_csv_and_the_typed_parquet(tmp_path):
    exported = frame()
    write_csv(exported, tmp_path / "c.csv", "en")
    write_parquet(exported, tmp_path / "c.parquet", {"run": "tiny"})
    con = duckdb.connect()
    from_csv = con.execute(f"SELECT \"Segment\", count(*) FROM read_csv('{tmp_path / 'c.csv'}') GROUP BY 1").fetchall()
    assert dict(from_csv)["Champions"] == 3 and sum(n for _, n in from_csv) == 9
    types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM '{tmp_path / 'c.parquet'}')")
                 .fetchall())
    assert (types["revenue"], types["rank"], types["last_purchase"], types["churn_risk"], types["segment"]) == (
        "DOUBLE", "BIGINT", "DATE", "BOOLEAN", "VARCHAR")
    parquet = con.execute(f"SELECT customer_id, revenue, segment_name FROM '{tmp_path / 'c.parquet'}' "
                          "WHERE revenue < 0").fetchall()
    assert parquet == [(NASTY[3], -12.5, "Lost")]  # BI tools get the id as it is, and the number


def test_excel_has_summary_segment_sheets_and_dictionary_with_numbers_as_numbers(tmp_path):
    exported = frame()
    path = write_excel(exported, tmp_path / "c.xlsx", "en", GRID, title="Customers by segment")
    book = openpyxl.load_workbook(path)
    segments = ["Champions", "Loyal Customers", "Promising", "At Risk", "Hibernating", "Lost"]  # the map's order
    assert book.sheetnames == ["Summary", *segments, "Data dictionary"]
    summary = list(book["Summary"].iter_rows(values_only=True))
    counts = {row[0]: row[1] for row in summary[2:]}
    assert counts == {"Champions": 3, "Loyal Customers": 1, "Promising": 1, "At Risk": 1, "Hibernating": 1, "Lost": 2}
    lost = book["Lost"]
    assert lost.max_row == 2 + 2  # note, header, two customers
    assert lost["A1"].value == "Lost: all 2 customers, best ranked first."
    headers = [c.value for c in lost[2]]
    cells = {row[0].value: row for row in lost.iter_rows(min_row=3)}
    negative = cells[NASTY[3]][headers.index("Revenue")]
    assert negative.value == -12.5 and negative.data_type == "n"
    assert_formulas_are_marked_text(book)


def assert_formulas_are_marked_text(book) -> None:
    """No formula anywhere, and every text a spreadsheet could run as one is as it was, a text cell with
    Excel's quote prefix (so that Excel keeps it text, also when the cell is edited)."""
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str) and formula_like(cell.value):
                    assert cell.data_type == "s" and cell.quotePrefix, (sheet.title, cell.coordinate, cell.value)


def test_excel_data_dictionary_describes_every_column_in_both_languages(tmp_path):
    exported = frame("zh")
    book = openpyxl.load_workbook(write_excel(exported, tmp_path / "c.xlsx", "zh", GRID))
    assert book.sheetnames[0] == "汇总" and book.sheetnames[-1] == "数据字典" and "冠军客户" in book.sheetnames
    rows = list(book["数据字典"].iter_rows(values_only=True))
    assert [r[0] for r in rows[1:]] == list(exported.columns)
    for name, header_en, header_zh, kind, desc_en, desc_zh in rows[1:]:
        assert header_en and header_zh and desc_en and desc_zh and kind
        assert header_en != header_zh or name in ("abc_class",), name


def test_a_capped_segment_sheet_says_how_many_and_where_the_full_list_is(tmp_path):
    book = openpyxl.load_workbook(write_excel(frame(), tmp_path / "c.xlsx", "en", GRID, max_rows=2))
    champions = book["Champions"]
    assert champions.max_row == 2 + 2  # capped at two of three
    assert champions["A1"].value == ("Champions: the first 2 of 3 customers, best ranked first; the full list is in "
                                     "customers.csv and customers.parquet.")
    shown = [row[0].value for row in champions.iter_rows(min_row=3)]
    assert shown == NASTY[:2]  # the best ranked, as they are (marked as text: Excel's quote prefix)
    assert book["Lost"]["A1"].value.startswith("Lost: all 2 customers")  # at the cap: all shown
    summary = {row[0]: row[1] for row in book["Summary"].iter_rows(min_row=2, values_only=True)}
    assert summary["Champions"] == 3  # the summary counts everyone


def test_excel_refuses_a_row_limit_beyond_excels(tmp_path):
    with pytest.raises(ParamsError, match="excel_max_rows must be an integer from 1 to 1048574"):
        write_excel(frame(), tmp_path / "c.xlsx", "en", GRID, max_rows=1_048_575)


def test_sheet_names_are_valid_and_unique():
    used: set[str] = set()
    first = _sheet_name("Buyers/Sellers: [top]*?" + "x" * 40, used)
    second = _sheet_name("Buyers/Sellers: [top]*?" + "x" * 41, used)
    assert len(first) <= 31 and len(second) <= 31 and first != second
    assert not set("[]:*?/\\") & set(first + second)
    assert _sheet_name("history", used) != "history"


def fake_run(tmp_path, renamed: dict | None = None, **params) -> tuple:
    """A run folder as the runner leaves it (data/ with the stage files, manifest.json), without a report;
    the customers' ids `renamed` ({old: new}) in every stage."""
    folder = tmp_path / "run"
    (folder / "data").mkdir(parents=True)
    for name, stage in (("profile", profile()), ("value", value()), ("clusters", clusters())):
        stage.replace({"customer_id": renamed or {}}).to_parquet(folder / "data" / f"{name}.parquet")
    (folder / "data" / "run.json").write_text(json.dumps({"as_of": "2024-12-31"}))
    raw = {"run_name": "tiny", **params}
    (folder / "manifest.json").write_text(json.dumps({"status": "ok", "params": validate_params(raw).model_dump(mode="json")}))
    return folder


def test_export_run_folder_writes_the_configured_files_in_the_runs_language(tmp_path):
    folder = fake_run(tmp_path, lang="zh")
    written = export_run_folder(folder)
    assert sorted(written) == sorted(str(folder / "exports" / name) for name in FILE_NAMES.values())
    table = pd.read_csv(folder / "exports" / "customers.csv", encoding="utf-8-sig")
    assert len(table) == 9 and set(table["客户群"]) >= {"冠军客户", "已流失客户"}
    title = openpyxl.load_workbook(folder / "exports" / "customers.xlsx")["汇总"]["A1"].value
    assert "tiny" in title and "2024-12-31" in title
    assert not list((folder / "exports").glob(".*partial"))  # no temporary file left behind


def test_export_run_folder_with_formats_and_encoding_chosen(tmp_path):
    folder = fake_run(tmp_path)
    written = export_run_folder(folder, formats=["csv"], encoding="gb18030")
    assert written == [str(folder / "exports" / "customers.csv")]
    assert not (folder / "exports" / "customers.xlsx").exists()
    assert "Champions".encode("gb18030") in (folder / "exports" / "customers.csv").read_bytes()


def test_export_refusals_are_one_clear_message(tmp_path):
    folder = fake_run(tmp_path)
    with pytest.raises(ParamsError, match="export format 'pdf' is not one segkit writes"):
        export_run_folder(folder, formats=["pdf"])
    with pytest.raises(ParamsError, match="the write-back goes to the PostgreSQL database the run read"):
        export_run_folder(folder, formats=["postgres"])
    with pytest.raises(ParamsError, match="--encoding must be one of"):
        export_run_folder(folder, encoding="latin-1")
    with pytest.raises(DataError, match="nowhere does not exist; give the folder of a run"):
        export_run_folder(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="is not a segkit run folder"):
        export_run_folder(tmp_path / "empty")
    (folder / "data" / "profile.parquet").unlink()
    with pytest.raises(DataError, match="run notebook 02_rfm first"):
        export_run_folder(folder)


def test_segkit_export_command_prints_the_files_and_fails_in_one_line(tmp_path):
    folder = fake_run(tmp_path)
    result = CliRunner().invoke(app, ["export", str(folder), "--format", "csv,parquet"])
    assert result.exit_code == 0, result.output
    assert str(folder / "exports" / "customers.parquet") in result.stdout
    assert not (folder / "exports" / "customers.xlsx").exists()
    failed = CliRunner().invoke(app, ["export", str(folder), "--format", "csv,docx"])
    assert failed.exit_code == 2 and "error: export format 'docx'" in failed.output
    assert "Traceback" not in failed.output


def test_segkit_export_format_is_repeatable_comma_separated_and_in_any_case(tmp_path):
    """`--format parquet --format csv` wrote only the last format (trial 42): the repeated and the
    comma-separated forms merge, in any case."""
    folder = fake_run(tmp_path)
    result = CliRunner().invoke(app, ["export", str(folder), "--format", "PARQUET", "-f", "csv,Csv"])
    assert result.exit_code == 0, result.output
    assert sorted(result.stdout.split()) == sorted(str(folder / "exports" / FILE_NAMES[name]) for name in ("csv", "parquet"))
    assert not (folder / "exports" / FILE_NAMES["xlsx"]).exists()


def test_an_option_that_takes_one_value_given_twice_is_refused(tmp_path):
    """Click keeps the last of a repeated one-value option without a word: segkit refuses it."""
    folder = fake_run(tmp_path)
    for args in (["export", str(folder), "--encoding", "gbk", "--encoding=gb18030"],
                 ["report", "-p", "x.yaml", "--month", "2025-09", "-m2025-10"]):
        result = run_segkit(*args, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert "is given 2 times" in result.stderr and "give it once" in result.stderr, result.stderr
    assert not (folder / "exports").exists()


def test_exports_params_block_checks_its_keys():
    assert Params().exports.formats == ("csv", "xlsx", "parquet") and Params().exports.excel_max_rows == 100_000
    with pytest.raises(ParamsError, match="postgres_schema must name the schema"):
        validate_params({"exports": {"formats": ["csv", "postgres"]}})
    with pytest.raises(ParamsError, match="exports.excel_max_rows must be an integer from 1 to 1048574"):
        validate_params({"exports": {"excel_max_rows": 2_000_000}})
    with pytest.raises(ParamsError, match="exports.csv_encoding must be one of"):
        validate_params({"exports": {"csv_encoding": "latin-1"}})
    with pytest.raises(ParamsError, match="unknown key 'exports.row_limit'"):
        validate_params({"exports": {"row_limit": 5}})
    with pytest.raises(ParamsError, match="exports.postgres_schema has the wrong form"):
        validate_params({"exports": {"postgres_schema": "Bad Name;"}})


def test_the_documented_params_are_valid_and_show_the_defaults_and_every_column_is_documented():
    import re

    import yaml

    from conftest import ROOT
    from segkit.params import Exports
    from segkit.report.exports import COLUMNS

    text = (ROOT / "docs" / "exports.md").read_text(encoding="utf-8")
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, flags=re.S)]
    settings = next(b for b in blocks if set(b) == {"exports"})  # "The params": every key at its default
    assert validate_params(settings).exports == Exports()
    written_back = validate_params(next(b for b in blocks if "database" in b.get("source", {})))
    assert written_back.exports.postgres_schema == "segkit" and written_back.source.database.password_env
    for column in COLUMNS:
        assert f"`{column}`" in text, column


def test_the_slipped_customers_of_06_migration_go_to_a_neutralised_csv(tmp_path):
    folder = fake_run(tmp_path)
    pd.DataFrame({"customer_id": ["=HYPERLINK(1)", "C2"], "before": ["champions", "loyal"],
                  "after": ["at_risk", "lost"], "class_before": ["important_value", "important_retain"],
                  "class_after": ["important_winback", "general_winback"], "revenue": [-5.0, 20.004],
                  "clv": [12.345678, 3.0], "p_alive": [0.123456789, 0.5], "recency_days": [40.0, 200.0]}).to_parquet(
        folder / "data" / "moved_to_at_risk.parquet")
    written = export_run_folder(folder, formats=["csv"])
    assert written == [str(folder / "exports" / "customers.csv"), str(folder / "exports" / "moved_to_at_risk.csv")]
    raw = (folder / "exports" / "moved_to_at_risk.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"'=HYPERLINK(1)" in raw and b",-5.00," in raw
    read = pd.read_csv(folder / "exports" / "moved_to_at_risk.csv", encoding="utf-8-sig")
    # each class as its code and its name, under headers that say which; money and P(alive) rounded
    assert list(read.columns[:5]) == ["Customer ID", "Segment code last month", "Segment last month",
                                      "Segment code this month", "Segment this month"]
    assert read["Segment last month"].tolist() == [load_segment_map("rfm11").labels("en")[c] for c in ("champions", "loyal")]
    assert read["Eight-class code last month"].tolist() == ["important_value", "important_retain"]
    assert read["Eight-class this month"].tolist()[0] == load_segment_map("cn8").labels("en")["important_winback"]
    assert read["Predicted CLV"].tolist() == [12.35, 3.0] and read["Revenue"].tolist() == [-5.0, 20.0]
    assert read["P(alive)"].tolist() == [0.1235, 0.5] and read["Days since last purchase"].tolist() == [40, 200]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_customers_set_aside_by_cleaning_go_to_a_csv_of_their_own(tmp_path, lang):
    """Customers whose revenue after returns is zero or less are in no class and so in no customer
    file: customers_set_aside.csv names them, with why in the run's language, for the CRM."""
    from segkit.i18n import t

    folder = fake_run(tmp_path, lang=lang)
    pd.DataFrame({"customer_id": ["C9", "@SUM(A1)", "C7"], "rule": ["net_negative", "net_zero", "no_purchase"],
                  "purchase_lines": [2, 1, 0], "return_lines": [3, 1, 2],
                  "revenue": [-12.346, 0.0, -4.0]}).to_parquet(folder / "data" / "customers_set_aside.parquet")
    written = export_run_folder(folder, formats=["csv"])
    target = folder / "exports" / "customers_set_aside.csv"
    assert written == [str(folder / "exports" / "customers.csv"), str(target)]
    raw = target.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"'@SUM(A1)" in raw  # neutralised, as every export
    read = pd.read_csv(target, encoding="utf-8-sig", dtype={0: str})
    assert list(read.columns) == [t(f"exports.col.{c}", lang) for c in
                                  ("customer_id", "rule", "rule_name", "revenue", "purchase_lines", "return_lines")]
    assert read.iloc[:, 0].tolist() == ["C9", "'@SUM(A1)", "C7"]
    assert read.iloc[:, 2].tolist() == [t(f"customer_rule.{r}", lang) for r in ("net_negative", "net_zero", "no_purchase")]
    assert read.iloc[:, 3].tolist() == [-12.35, 0.0, -4.0] and read.iloc[:, 5].tolist() == [3, 1, 2]
    # no such customers (any more): no file, and none left by the export before
    pd.DataFrame({"customer_id": pd.Series([], dtype=str), "rule": pd.Series([], dtype=str),
                  "purchase_lines": pd.Series([], dtype="int64"), "return_lines": pd.Series([], dtype="int64"),
                  "revenue": pd.Series([], dtype=float)}).to_parquet(folder / "data" / "customers_set_aside.parquet")
    assert export_run_folder(folder, formats=["csv"]) == [str(folder / "exports" / "customers.csv")]
    assert not target.exists()
    (folder / "data" / "customers_set_aside.parquet").unlink()
    target.write_text("stale")
    export_run_folder(folder, formats=["csv"])
    assert not target.exists()


def test_export_says_which_stage_files_changed_after_the_report(tmp_path):
    """`segkit run NOTEBOOK --force` in a finished report's data folder changes its stage files under
    its pages: `segkit export` still writes, and says which files no longer match the manifest."""
    from segkit.report.runner import _sha256, stages_changed_since_report

    folder = fake_run(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["outputs"] = {f"data/{p.name}": _sha256(p) for p in sorted((folder / "data").glob("*.parquet"))}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert stages_changed_since_report(folder) == []
    quiet = CliRunner().invoke(app, ["export", str(folder), "--format", "csv"])
    assert quiet.exit_code == 0 and "changed after the report" not in quiet.output
    changed = profile()
    changed.loc[0, "segment"] = "hibernating"
    changed.to_parquet(folder / "data" / "profile.parquet")
    (folder / "data" / "clusters.parquet").unlink()
    value().to_parquet(folder / "data" / "extra.parquet")
    assert stages_changed_since_report(folder) == ["data/clusters.parquet", "data/extra.parquet",
                                                   "data/profile.parquet"]
    said = CliRunner().invoke(app, ["export", str(folder), "--format", "csv"])
    assert said.exit_code == 0, said.output
    assert "warning: data/clusters.parquet, data/extra.parquet, data/profile.parquet in" in " ".join(said.output.split())
    assert "segkit report ... --force" in said.output
    assert stages_changed_since_report(tmp_path / "nowhere") == []  # no manifest: nothing to compare


@pytest.fixture
def umask():
    """Set the process's umask for a test (`umask(0o027)`), the one before restored after it."""
    import os

    before = os.umask(0o022)
    yield os.umask
    os.umask(before)


@pytest.mark.parametrize("mask", [0o022, 0o027], ids=["umask022", "umask027"])
def test_exports_get_the_permissions_the_umask_gives(tmp_path, umask, mask):
    # written under a temporary name and put in place: mkstemp made them 0600, so a colleague could not read them
    import stat

    folder = fake_run(tmp_path)
    umask(mask)
    written = export_run_folder(folder)
    written += [str(write_csv(frame(), tmp_path / "one" / "c.csv", "zh"))]  # the folder made for it too
    assert len(written) == 4
    for path in written:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~mask, path
    assert stat.S_IMODE(os.stat(tmp_path / "one").st_mode) == 0o777 & ~mask
    assert stat.S_IMODE(os.stat(folder / "exports").st_mode) == 0o777 & ~mask


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_gbk_writes_the_bytes_gb18030_writes_when_every_character_is_gbks(tmp_path, lang):
    folder = fake_run(tmp_path, lang=lang)
    assert export_run_folder(folder, formats=["csv"], encoding="gb18030") == [str(folder / "exports" / "customers.csv")]
    gb18030 = (folder / "exports" / "customers.csv").read_bytes()
    export_run_folder(folder, formats=["csv"], encoding="GBK")  # as the codec is named, too
    assert (folder / "exports" / "customers.csv").read_bytes() == gb18030
    assert gb18030.decode("gbk").startswith("Customer ID" if lang == "en" else "客户ID")
    assert validate_params({"exports": {"csv_encoding": "gbk"}}).exports.csv_encoding == "gbk"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_character_gbk_cannot_encode_is_one_message_naming_the_row_and_column(tmp_path, lang):
    # GB18030 encodes every character; GBK not 𠀀 (CJK Extension B), emoji or €: before, --encoding gbk was refused
    from segkit.i18n import t, terminal_text
    from segkit.report.exports import ExportError

    folder = fake_run(tmp_path, lang=lang)
    clusters().assign(cluster_name=["top", "top", "top", "gone", "gone", "gone", "top", "new 😀", "gone 😀"]).to_parquet(
        folder / "data" / "clusters.parquet")
    with pytest.raises(ExportError) as refused:
        export_run_folder(folder, encoding="gbk")
    message = str(refused.value)
    # C9 (rank 6) comes before C8 (rank 7) in the file: row 7, the header being row 1
    assert message.startswith(f'cannot write customers.csv in GBK: row 7 ({t("exports.col.customer_id", lang)} "C9"), '
                              f'column "{t("exports.col.cluster_name", lang)}" holds "😀" (U+1F600), which GBK cannot '
                              "encode; write the CSV in gb18030 (--encoding gb18030")
    assert message.endswith("or in utf-8-sig")
    assert not (folder / "exports").exists()  # said before any file was written
    said = terminal_text("error: " + message, "zh")
    assert said.startswith("错误：无法以 GBK 写出 customers.csv：第 7 行（") and "utf-8-sig" in said
    result = CliRunner().invoke(app, ["export", str(folder), "--encoding", "gbk"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert ("错误：无法以 GBK 写出 customers.csv：第 7 行" if lang == "zh" else "error: cannot write customers.csv in GBK: "
            "row 7") in result.output
    result = CliRunner().invoke(app, ["export", str(folder), "--encoding", "gb18030"])  # what the message says to do
    assert result.exit_code == 0, result.output
    assert "new 😀" in (folder / "exports" / "customers.csv").read_text(encoding="gb18030")


def test_the_other_csv_files_and_write_csv_say_it_too(tmp_path):
    from segkit.report.exports import ExportError

    folder = fake_run(tmp_path, lang="zh")
    pd.DataFrame({"customer_id": ["C2", "客户𠀀"], "rule": ["net_negative", "net_zero"], "purchase_lines": [1, 1],
                  "return_lines": [2, 1], "revenue": [-4.1, 0.0]}).to_parquet(
        folder / "data" / "customers_set_aside.parquet")
    with pytest.raises(ExportError, match=r'^cannot write customers_set_aside.csv in GBK: row 3 \(客户ID "客户𠀀"\), column '
                                          r'"客户ID" holds "𠀀" \(U\+20000\), which GBK cannot encode'):
        export_run_folder(folder, formats=["csv"], encoding="gbk")
    assert not (folder / "exports").exists()
    # the frame's writer, without the check first: the writer's failure is said the same way, and no file is left
    named = frame().assign(tag_names=["€"] + [""] * 8)
    with pytest.raises(ExportError, match=r'^cannot write c.csv in GBK: row 2 \(Customer ID "\'=HYPERLINK.*"\), column '
                                          r'"Tags" holds "€" \(U\+20AC\)'):
        write_csv(named, tmp_path / "c.csv", "en", encoding="gbk")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    # half of a UTF-16 pair (pandas itself refuses one in a text column, so only a frame of objects holds it): no
    # encoding writes it, and the message does not send the user to another
    from pathlib import Path

    from segkit.report.exports import _check_encodable

    broken = pd.DataFrame({"Customer ID": ["C1", "C2"], "Tags": pd.Series(["x", "a\ud800"], dtype=object)})
    with pytest.raises(ExportError, match=r'^cannot write c.csv in UTF-8: row 3 \(Customer ID "C2"\), column "Tags" '
                                          r"holds a broken character \(U\+D800, half of a UTF-16 pair\), which no "
                                          "encoding can write; correct that text where it comes from$"):
        _check_encodable(broken, Path("c.csv"), "utf-8-sig")
