"""The dates of a customers or surveys file (signup_date, answered_at) whose day and month are in numbers
the column alone does not settle ("04/01/2026"): read in cleaning.day_first's order, else in the order the
transactions' dates settled; those no order reads are said (01's notes, `segkit check`), never lost silently,
and their rows kept (segkit.intake.sources.read_customer_table, reread_table_dates, unread_dates_notes)."""

import pandas as pd
import pytest
from typer.testing import CliRunner

from segkit.cli import app
from segkit.i18n import note_message, t
from segkit.intake.cleaning import clean_and_save
from segkit.intake.sources import check_source, load_source, read_customer_table
from segkit.params import FileTable, validate_params

JAN_4, APRIL_1 = pd.Timestamp("2026-01-04"), pd.Timestamp("2026-04-01")
CUSTOMERS = {"customer_id": "id", "signup_date": "Signup Date"}
SURVEYS = {"customer_id": "id", "answered_at": "Answered"}


def files(folder, customers_dates=("04/01/2026", "04/01/2026"), survey_dates=("04/01/2026", "04/01/2026"),
          orders=("2026-01-04", "2026-01-05")):
    """tx.csv (one order per customer, on `orders`), customers.csv and surveys.csv (C1, C2 on those dates)."""
    (folder / "tx.csv").write_text("customer_id,order_id,ordered_at,amount\n" + "".join(
        f"C{i},O{i},{day},5\n" for i, day in enumerate(orders, start=1)), encoding="utf-8")
    (folder / "customers.csv").write_text("id,Signup Date,region\n" + "".join(
        f"C{i},{day},North\n" for i, day in enumerate(customers_dates, start=1)), encoding="utf-8")
    (folder / "surveys.csv").write_text("id,Answered,nps\n" + "".join(
        f"C{i},{day},9\n" for i, day in enumerate(survey_dates, start=1)), encoding="utf-8")


def params(day_first=None, lang="en"):
    return validate_params({"lang": lang, "source": {
        "kind": "file", "transactions": {"path": "tx.csv"},
        "customers": {"path": "customers.csv", "columns": CUSTOMERS},
        "surveys": {"path": "surveys.csv", "columns": SURVEYS}}, "cleaning": {"day_first": day_first}})


def cleaned(folder, day_first=None):
    """01's intake and cleaning of the files in `folder`: (result, saved customers, saved surveys)."""
    p = params(day_first)
    intake = load_source(p.source, folder / "p.yaml", day_first=p.cleaning.day_first)
    result = clean_and_save(intake, folder / "data", rules=p.cleaning)
    return (result, pd.read_parquet(folder / "data" / "customers.parquet"),
            pd.read_parquet(folder / "data" / "surveys.parquet"))


@pytest.mark.parametrize("day_first, date", [(True, JAN_4), (False, APRIL_1)])
def test_the_stated_order_reads_both_tables(tmp_path, day_first, date):
    files(tmp_path)
    customers = read_customer_table(FileTable(path=str(tmp_path / "customers.csv"), columns=CUSTOMERS), "customers",
                                    day_first)
    surveys = read_customer_table(FileTable(path=str(tmp_path / "surveys.csv"), columns=SURVEYS), "surveys", day_first)
    assert (customers["signup_date"] == date).all() and (surveys["answered_at"] == date).all()
    assert "unread_dates" not in customers.attrs and "unread_dates" not in surveys.attrs
    # and through load_source, as 01 calls it
    intake = load_source(params(day_first).source, tmp_path / "p.yaml", day_first=day_first)
    assert (intake.customers["signup_date"] == date).all() and (intake.surveys["answered_at"] == date).all()


def test_unstated_the_transactions_order_reads_the_tables(tmp_path):
    """The transactions' 25/12/2025 settles day-first for the shop: 04/01/2026 in its customers and surveys
    files is 4 January too, and nothing is said of them."""
    files(tmp_path, orders=("25/12/2025", "03/01/2026"))
    result, customers, surveys = cleaned(tmp_path)
    assert any(note["key"] == "date_order_day_first" for note in result.notes)
    assert customers["signup_date"].tolist() == [JAN_4, JAN_4]
    assert surveys["answered_at"].tolist() == [JAN_4, JAN_4]
    assert not [n for n in result.notes if n["key"] in ("table_dates_unread", "survey_dates_unread")]


def test_a_table_that_settles_its_own_order_is_read_so_whatever_the_transactions(tmp_path):
    files(tmp_path, customers_dates=("04/01/2026", "12/25/2025"), orders=("25/12/2025", "03/01/2026"))
    _, customers, _ = cleaned(tmp_path)
    assert customers["signup_date"].tolist() == [APRIL_1, pd.Timestamp("2025-12-25")]


def test_dates_nothing_settles_are_said_with_file_column_count_row_and_value_and_their_rows_kept(tmp_path):
    files(tmp_path, customers_dates=("04/01/2026", "05/02/2026", "2026-03-01"), survey_dates=("2026-01-04", "soon"))
    result, customers, surveys = cleaned(tmp_path)
    notes = {n["key"]: n for n in result.notes if n["key"].endswith(("_dates_unread", "_dates_unsettled"))}
    # dates either order reads are said as such (unsettled), not as dates segkit cannot read
    assert notes["table_dates_unsettled"] == {"key": "table_dates_unsettled", "file": str(tmp_path / "customers.csv"),
                                              "column": "Signup Date", "dates": 2, "row": 2, "value": "04/01/2026"}
    assert notes["survey_dates_unread"] == {"key": "survey_dates_unread", "file": str(tmp_path / "surveys.csv"),
                                            "column": "Answered", "dates": 1, "row": 3, "value": "soon"}
    assert set(notes) == {"table_dates_unsettled", "survey_dates_unread"}
    key, values = note_message(notes["table_dates_unsettled"])
    english = t(key, "en", **values)
    assert english.startswith(f'2 dates in the column "Signup Date" of {tmp_path / "customers.csv"} have day and '
                              "month in numbers that read either way round")
    assert '(the first in row 2: "04/01/2026")' in english and "the rows are kept" in english
    assert "cleaning.day_first" in english and "2025-03-01" in english
    chinese = t(key, "zh", **values)
    assert all(part in chinese for part in ('"Signup Date"', "2 个日期", "第 2 行", "04/01/2026", "cleaning.day_first",
                                            "两种顺序"))
    key, values = note_message(notes["survey_dates_unread"])
    assert t(key, "en", **values).startswith('1 date in the column "Answered"')
    assert "the answer is kept, but is in no month's NPS" in t(key, "en", **values)
    assert "不计入任何月份的 NPS" in t(key, "zh", **values)
    # every customer and every answer is kept, the unread dates missing
    assert customers.set_index("customer_id")["signup_date"].isna().to_dict() == {"C1": True, "C2": True, "C3": False}
    assert surveys["answered_at"].isna().tolist() == [False, True]
    # and 01 says the note, with the others
    assert (key, values) in result.messages()


def test_an_undated_answer_is_never_a_customers_latest():
    from segkit.classify.profile import latest_answers

    answers = pd.DataFrame({"customer_id": ["C1", "C1", "C2"], "answered_at": [pd.Timestamp("2026-01-04"), pd.NaT, pd.NaT],
                            "nps": [9.0, 2.0, 7.0]})
    assert latest_answers(answers).set_index("customer_id")["nps"].to_dict() == {"C1": 9.0, "C2": 7.0}


def test_segkit_check_names_dates_no_order_reads(tmp_path):
    """Dates either order reads (04/01/2026) are a note before the run that says 01 reads them in the
    transactions' order where those settle one. A date no order reads, or one the stated order does not,
    is a note too: the run keeps its row."""
    files(tmp_path)
    said = check_source(params().source, tmp_path / "p.yaml", rules=params().cleaning)
    assert said == [{"key": "dates_unsettled_check", "file": str(tmp_path / name), "column": column, "dates": 2,
                     "row": 2, "value": "04/01/2026"}
                    for name, column in (("customers.csv", "Signup Date"), ("surveys.csv", "Answered"))]
    english = t(*note_message(said[0])[:1], "en", **note_message(said[0])[1])
    assert "read either way round" in english and "in the order the transactions' dates settle" in english
    assert check_source(params(day_first=True).source, tmp_path / "p.yaml", rules=params(day_first=True).cleaning) == []
    files(tmp_path, customers_dates=("04/01/2026", "13/01/2026"))
    assert [n["file"] for n in check_source(params().source, tmp_path / "p.yaml", rules=params().cleaning)] == [
        str(tmp_path / "surveys.csv")]  # the customers' column settles day-first (13/01): it reads both
    stated = params(day_first=False)
    assert check_source(stated.source, tmp_path / "p.yaml", rules=stated.cleaning) == [
        {"key": "table_dates_unread", "file": str(tmp_path / "customers.csv"), "column": "Signup Date", "dates": 1,
         "row": 3, "value": "13/01/2026"}]
    files(tmp_path, survey_dates=("2026-02-30", "04/01/2026"))
    (tmp_path / "p.yaml").write_text("source:\n  kind: file\n  transactions: {path: tx.csv}\n"
                                     "  customers: {path: customers.csv, columns: {customer_id: id, signup_date: Signup Date}}\n"
                                     "  surveys: {path: surveys.csv, columns: {customer_id: id, answered_at: Answered}}\n",
                                     encoding="utf-8")
    done = CliRunner().invoke(app, ["check", "--params", str(tmp_path / "p.yaml")], env={"LANG": "C.UTF-8"})
    assert done.exit_code == 0, done.stderr
    assert f'note: 1 date in the column "Answered" of {tmp_path / "surveys.csv"} is not a date' in done.stderr
    assert '(the first in row 2: "2026-02-30")' in done.stderr
    zh = tmp_path / "zh.yaml"
    zh.write_text("lang: zh\n" + (tmp_path / "p.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    done = CliRunner().invoke(app, ["check", "--params", str(zh)])
    assert done.exit_code == 0 and "注意：" in done.stderr and "第 2 行" in done.stderr


def test_iso_and_typed_dates_are_read_as_before(tmp_path):
    files(tmp_path, customers_dates=("2026-01-04", "2026-04-01"), survey_dates=("2026-01-04", ""))
    for day_first in (None, True, False):
        customers = read_customer_table(FileTable(path=str(tmp_path / "customers.csv"), columns=CUSTOMERS),
                                        "customers", day_first)
        assert customers["signup_date"].tolist() == [JAN_4, APRIL_1] and "unread_dates" not in customers.attrs
    result, customers, surveys = cleaned(tmp_path)
    assert customers["signup_date"].tolist() == [JAN_4, APRIL_1]
    assert surveys["answered_at"].tolist()[0] == JAN_4 and pd.isna(surveys["answered_at"].tolist()[1])
    assert not [n for n in result.notes if n["key"] in ("table_dates_unread", "survey_dates_unread")]
    typed = pd.DataFrame({"id": ["C1", "C2"], "Signup Date": [JAN_4, APRIL_1]})
    typed.to_parquet(tmp_path / "customers.parquet")
    read = read_customer_table(FileTable(path=str(tmp_path / "customers.parquet"), columns=CUSTOMERS), "customers", True)
    assert read["signup_date"].tolist() == [JAN_4, APRIL_1] and "unread_dates" not in read.attrs


@pytest.mark.parametrize("key", ["cleaning.note.table_dates_unread", "cleaning.note.survey_dates_unread"])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_dates_no_order_reads_are_told_the_forms_segkit_reads_not_to_state_day_first(key, lang):
    """A date no order of day and month reads ("soon", "31/31/2025") is not helped by cleaning.day_first:
    the note says the forms segkit reads and to correct the value in the file; each form it names is read."""
    from segkit.intake.parsing import parse_datetime

    for value in ("soon", "31/31/2025"):
        said = t(key, lang, dates=1, file="c.csv", column="On", row=2, value=value)
        assert "day_first" not in said
        assert all(form in said for form in ("2025-03-01", "2025/3/1", "01/04/2025")) and "c.csv" in said
    forms = ["2025-03-01", "2025-03-01 13:02", "2025/3/1", "1 Mar 2025", "20250301"]
    assert all(form in t(key, lang, dates=2, file="c.csv", column="On", row=2, value="x") for form in forms)
    assert parse_datetime(pd.Series(forms)).values.notna().all()


def test_dates_either_order_reads_keep_the_day_first_advice():
    for key in ("cleaning.note.table_dates_unsettled", "cleaning.note.survey_dates_unsettled"):
        for lang in ("en", "zh"):
            assert "cleaning.day_first" in t(key, lang, dates=1, file="c.csv", column="On", row=2, value="04/01/2026")
