"""`report.mask_ids`: customer ids masked on the pages, the PDF and the executed notebooks, kept in
data/ and exports/ (segkit.report.masking)."""

import json
import re
import subprocess

import numpy as np
import pandas as pd
import pytest

from conftest import require_tool, write_params
from segkit.report.masking import SENTENCE_IDS, mask_id, masked_frame, masked_sample, masked_sentences


@pytest.mark.parametrize("given, shown", [
    ("13800138000", "138****8000"),          # a mobile number: first 3, last 4
    ("138-0013-8000", "138****8000"),        # separators dropped
    ("+86 138 0013 8000", "861****8000"),    # 13 digits: still 4 stars
    ("(021) 6432-1234", "021****1234"),      # 11 digits with the area code
    ("8765 4321", "87****21"),               # 7 to 10 digits: first 2, last 2
    ("1234567", "12****67"),
    (13800138000, "138****8000"),            # an id read as a number
    (13800138000.0, "138****8000"),
    ("ann.lee@example.com", "a***@example.com"),
    ("Bob@Shop.CN", "B***@Shop.CN"),
    ("C1234589", "C1****89"),                # other ids: first 2, last 2, at most 4 stars
    ("CUST-000123456", "CU****56"),
    ("C000001", "C0***01"),                  # 6 digits: not a phone number
    ("123456", "12**56"),
    ("AB12", "A***"),                        # shorter than 6: the first character
    ("7", "7***"),
    ("张三", "张***"),
    ("会员0001234567", "会员****67"),
])
def test_mask_id(given, shown):
    assert mask_id(given) == shown
    assert mask_id(given) == mask_id(given)  # deterministic


def test_missing_ids_stay_missing():
    assert mask_id(None) is None and mask_id(pd.NA) is pd.NA and np.isnan(mask_id(np.nan)) and mask_id("") == ""
    column = masked_frame(pd.DataFrame({"customer_id": ["13800138000", None, np.nan]}))["customer_id"]
    assert column.iloc[0] == "138****8000" and column.iloc[1:].isna().all()


def test_tables_of_customers_are_masked_only_when_asked():
    from segkit.i18n import customers_set_aside_table
    from segkit.report.tables import ranking_table, slipped_table

    profile = pd.DataFrame({"customer_id": ["13800138000", "ann@example.com"], "rank": [1, 2],
                            "rank_score": [0.9, 0.5], "orders": [5, 2], "revenue": [90.0, 20.0],
                            "recency_days": [2, 30], "segment": ["champions", "loyal"]})
    plain = ranking_table(profile, profile, "rfm11", "en", top_n=2)
    assert plain.equals(ranking_table(profile, profile, "rfm11", "en", top_n=2, mask_ids=False))
    masked = ranking_table(profile, profile, "rfm11", "en", top_n=2, mask_ids=True)
    assert masked["customer_id"].tolist() == ["138****8000", "a***@example.com"]
    assert masked.drop(columns="customer_id").equals(plain.drop(columns="customer_id"))

    slipped = pd.DataFrame({"customer_id": ["13800138000"], "before": ["champions"], "after": ["at_risk"]})
    assert slipped_table(slipped, {}, "en")["customer_id"].tolist() == ["13800138000"]
    assert slipped_table(slipped, {}, "en", mask_ids=True)["customer_id"].tolist() == ["138****8000"]

    aside = pd.DataFrame({"customer_id": ["ann@example.com"], "rule": ["net_negative"], "revenue": [-5.0]})
    assert customers_set_aside_table(aside, "en")["customer_id"].tolist() == ["ann@example.com"]
    assert customers_set_aside_table(aside, "zh", mask_ids=True)["customer_id"].tolist() == ["a***@example.com"]


def test_the_rows_set_aside_and_the_notes_of_phone_number_ids_are_masked_on_the_page(tmp_path):
    """Phone numbers as ids (a Chinese shop's export): the notes quote ids (an order under two ids, a
    masked id) and the rows set aside show them, in a column and in the detail of a guest id."""
    from ledger_check import cleaned, file_source
    from segkit import quarantine_sample
    from segkit.report.html import say_each, table

    rows = [("138****5678", "O1", "2024-01-05", "10"), ("13912345678", "O1", "2024-01-05", "5"),
            ("138****5678", "O2", "2024-01-06", "7"), ("138****5678", "O3", "2024-01-07", "8"),
            ("13600000000", "O4", "2024-01-08", "9"), ("13700000000", "O5", "2024-01-09", "3"),
            ("13500000000", "O6", "2024-01-10", "-4")]
    path = tmp_path / "orders.csv"
    path.write_text("手机号,订单号,下单时间,实付金额\n" + "".join(",".join(row) + "\n" for row in rows), encoding="utf-8")
    columns = {"customer_id": "手机号", "order_id": "订单号", "ordered_at": "下单时间", "amount": "实付金额"}
    _, result = cleaned(file_source(path, columns=columns), guest_ids=["13700000000"])
    real = ("13912345678", "13700000000", "13500000000", "5678")
    for lang in ("en", "zh"):
        notes = say_each(masked_sentences(result.messages(), True), lang).markup
        # the asterisks kept; an id the export masked already (138****5678) is masked as any other
        assert "139****5678" in notes and '"13****78"' in notes.replace("&quot;", '"'), notes
        assert not any(i in notes for i in real[:3]), notes
        assert say_each(masked_sentences(result.messages(), False), lang).markup == say_each(result.messages(), lang).markup
        sample = quarantine_sample(result.quarantine, lang)
        assert masked_sample(sample, False) is sample
        shown = masked_sample(sample, True)
        guest = shown[sample["detail"].str.contains("guest_ids", na=False)]
        assert guest["detail"].iloc[0].startswith('手机号 "137****0000"'), guest["detail"].iloc[0]
        page = table(shown, lang).to_html()
        assert "137****0000" in page and "135****0000" in page
        assert not any(i in page for i in real[1:3]), page
        assert "13700000000" in table(sample, lang).to_html()  # unmasked: the ids as they are


def test_a_customer_tables_detail_that_opens_with_the_id_is_masked():
    sample = pd.DataFrame({"source_row": [2, 3], "reason": ["duplicate_customer_id"] * 2,
                           "detail": ["customer 13800138000 is on rows that differ (rows 2, 3)", "客户张三丰出现在内容不同的多行中（第 2, 3 行）"],
                           "customer_id": ["13800138000", "张三丰"]})
    shown = masked_sample(sample)
    assert shown["detail"].tolist() == ["customer 138****8000 is on rows that differ (rows 2, 3)",
                                        "客户张***出现在内容不同的多行中（第 2, 3 行）"]


def test_sentences_that_quote_ids_are_masked_and_no_others():
    said = [("cleaning.note.ids_differ_in_case", {"customers": 2, "example": "Ann@Shop.com", "other": "ann@shop.com",
                                                  "emails": True}),
            ("cleaning.note.long_ids_end_in_zeros", {"column": "单号", "id_column": "order_id", "ids": 3,
                                                     "example": "1234567890123450000"}),
            ("cleaning.note.order_several_customers", {"orders": 1, "total": 4, "order": "O1", "column": "手机号",
                                                       "order_column": "订单号", "ids": '"13800138000", "13912345678"'}),
            ("migration.ids_changed", {"kept": 1, "before": 9, "then": "CU-000123", "now": "000123"})]
    shown = dict(masked_sentences(said, True))
    assert (shown["cleaning.note.ids_differ_in_case"]["example"], shown["cleaning.note.ids_differ_in_case"]["other"]) \
        == ("A***@Shop.com", "a***@shop.com")
    assert shown["cleaning.note.long_ids_end_in_zeros"]["example"] == "1234567890123450000"  # order numbers
    assert shown["cleaning.note.order_several_customers"]["ids"] == '"138****8000", "139****5678"'
    assert shown["cleaning.note.order_several_customers"]["order"] == "O1"
    assert (shown["migration.ids_changed"]["then"], shown["migration.ids_changed"]["now"]) == ("CU****23", "00**23")
    assert masked_sentences(said, False) is said


# The cleaning notes that quote no customer id (counts, dates, amounts, column names, order numbers).
NOTES_WITHOUT_IDS = {
    "preset_hint", "dimension_missing", "date_order_day_first", "date_order_month_first", "date_order_conflict",
    "date_order_conflict_stated", "date_order_unknown", "currency_sign_differs", "decimal_mark_differs",
    "as_of_future_dates", "month_not_covered", "status_values_unmatched", "amount_repeats_order_total",
    "amount_repeats_order_total_first", "duplicate_order_lines_overlap", "duplicate_order_lines", "month_to_date",
    "month_partly_covered", "as_of_latest_date", "as_of_latest_plausible_date", "unpaid_status_values_unmatched",
    "table_dates_unread", "survey_dates_unread", "table_dates_unsettled", "survey_dates_unsettled",
    "dates_unsettled_check", "statuses_not_listed", "statuses_not_listed_more", "statuses_unlisted",
    "statuses_unlisted_more",
    "refunds_netted", "partial_refunds_listed", "partial_refund_hint",  # counts, amounts, statuses (segkit.intake.refunds)
}


def test_every_cleaning_note_is_known_to_quote_ids_or_not():
    """A new cleaning note that quotes a customer id must name its values in SENTENCE_IDS, or the
    pages of a report with report.mask_ids would show the id; one that quotes none is listed here."""
    from segkit.i18n import messages

    notes = {key.removeprefix("cleaning.note.") for key in messages() if key.startswith("cleaning.note.")}
    with_ids = {key.removeprefix("cleaning.note.") for key in SENTENCE_IDS if key.startswith("cleaning.note.")}
    assert notes - with_ids - NOTES_WITHOUT_IDS == set(), "classify the new note in segkit.report.masking.SENTENCE_IDS"
    assert not with_ids & NOTES_WITHOUT_IDS
    for key, fields in SENTENCE_IDS.items():  # the values named are the sentence's own placeholders
        if key in messages():  # (a note of a setting not merged yet may be listed before it comes)
            assert all("{" + field in messages()[key]["en"] for field in fields), key


def test_the_index_says_the_ids_are_masked_in_both_languages_and_nothing_when_not(tmp_path):
    from segkit.params import load_params
    from segkit.report.pages import masked_ids_line

    assert masked_ids_line(load_params(write_params(tmp_path, "plain"), [])) == ""
    for lang, words in (("en", "Customer ids are masked on these pages"), ("zh", "客户ID已脱敏")):
        line = masked_ids_line(load_params(write_params(tmp_path, f"m-{lang}", lang=lang, report__mask_ids=True), []))
        assert words in line and "138****8000" in line and "a***@example.com" in line, line


def test_the_note_lines_printed_mask_the_ids_they_quote_and_keep_the_stars(tmp_path):
    """The notes `segkit report` and `segkit backfill` print (a cron job's log is mailed too): the ids
    masked with report.mask_ids, their stars kept through the emphasis taken out of the line."""
    import datetime as dt

    from segkit.monthly.backfill import note_lines_by_month
    from segkit.report.runner import cleaning_note_lines

    guest = {"key": "guest_like_customer", "customer": "13800138000", "orders": 120, "next": 3,
             "order_share": 0.4, "revenue_share": 0.3}
    (tmp_path / "run.json").write_text(json.dumps({"cleaning_notes": [guest]}), encoding="utf-8")
    for lang in ("en", "zh"):
        line, = cleaning_note_lines(tmp_path, lang, mask_ids=True)
        assert line.count('"138****8000"') == 2 and "13800138000" not in line, line
        plain, = cleaning_note_lines(tmp_path, lang)
        assert plain.count('"13800138000"') == 2, plain
    line, = note_lines_by_month([(dt.date(2025, 1, 31), [guest])], "en", mask_ids=True)
    assert '"138****8000"' in line and "13800138000" not in line
    assert "13800138000" in note_lines_by_month([(dt.date(2025, 1, 31), [guest])], "en")[0]


# ---- one whole report with report.mask_ids: true (the tiny demo, in Chinese) ----

ID = re.compile(r"(?<![A-Za-z0-9])C\d{6}(?![0-9])")  # the demo's customer ids: C000001 ...


def _visible(html: str) -> str:
    return re.sub(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=]+", "", html)  # images and fonts left out


def _outputs(notebook) -> str:
    """The text a notebook's outputs show (HTML, plain text, streams), images left out."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    parts = []
    for cell in cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            parts += ["".join(data.get(kind, "")) for kind in ("text/html", "text/plain", "text/markdown")]
            parts.append("".join(output.get("text", "")))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def masked_run(tmp_path_factory):
    from segkit.report.runner import run_report

    folder = tmp_path_factory.mktemp("masked")
    params = write_params(folder, "tiny-masked", lang="zh", source__demo__lang="zh", report__mask_ids=True)
    return run_report(params, reports_dir=folder / "reports")


@pytest.mark.slow
def test_a_masked_report_shows_no_customer_id_while_its_exports_keep_them(masked_run):
    folder = masked_run.folder
    features = pd.read_parquet(folder / "data" / "features.parquet")
    real = set(features["customer_id"].astype(str))
    assert real and all(ID.fullmatch(i) for i in real)
    pages = sorted(folder.glob("*.html"))
    assert len(pages) == 9
    for page in pages:
        found = ID.findall(_visible(page.read_text(encoding="utf-8")))
        assert not found, (page.name, found[:5])
    for notebook in sorted((folder / "executed").glob("*.ipynb")):
        assert not ID.findall(_outputs(notebook)), notebook.name
    require_tool("pdftotext")
    pdf = subprocess.run(["pdftotext", str(folder / "report.pdf"), "-"], capture_output=True, text=True,
                         check=True).stdout
    assert not ID.findall(pdf) and "客户ID已脱敏" in pdf and "138****8000" in pdf
    # the pages show the masked ids where the real ones were: the top of the ranking, the rows set aside
    ranking = (folder / "02_rfm.html").read_text(encoding="utf-8")
    top = pd.read_parquet(folder / "data" / "profile.parquet").sort_values(["rank", "customer_id"])["customer_id"]
    assert mask_id(str(top.iloc[0])) in ranking
    quarantine = pd.read_parquet(folder / "data" / "quarantine.parquet")
    aside = quarantine["customer_id"].dropna().astype(str)
    assert len(aside) and mask_id(aside.iloc[0]) in (folder / "01_cleaning.html").read_text(encoding="utf-8")
    # data/ and exports/ keep the real ids: they are for the CRM
    exported = pd.read_csv(folder / "exports" / "customers.csv", dtype=str, encoding="utf-8-sig")
    assert real <= set(exported.iloc[:, 0])
    assert real <= set(pd.read_parquet(folder / "exports" / "customers.parquet")["customer_id"].astype(str))


@pytest.mark.slow
def test_an_unmasked_report_shows_the_ids_as_they_are(en_run):
    """report.mask_ids false (the default): the pages and the PDF show the real ids, and the index has
    no line on masking (the check above is not vacuous)."""
    _, result = en_run
    folder = result.folder
    assert ID.findall(_visible((folder / "02_rfm.html").read_text(encoding="utf-8")))
    assert ID.findall(_visible((folder / "01_cleaning.html").read_text(encoding="utf-8")))
    assert "Customer ids are masked" not in (folder / "index.html").read_text(encoding="utf-8")
    require_tool("pdftotext")
    pdf = subprocess.run(["pdftotext", str(folder / "report.pdf"), "-"], capture_output=True, text=True,
                         check=True).stdout
    assert ID.findall(pdf)
