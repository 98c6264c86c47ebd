"""Values that cannot be true (issue 9): date typos and the as-of date, unreadable and zoned dates,
the day/month order of a column, huge and non-finite amounts, survey answers out of range,
customer ids that differ only in how they were written, and columns of the wrong kind. Each case
is its smallest input; the ledger adds up on each."""

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ledger_check import assert_every_row_accounted, clean_checked, fixes, reasons, text
from segkit.errors import DataError
from segkit.features import customer_features
from segkit.intake.cleaning import clean_and_save, clean_transactions, join_report, split_survey_answers
from segkit.intake.sources import Intake, connect
from segkit.params import Cleaning


def clean(tx, as_of=None, **rules):
    return clean_checked(tx, as_of, **rules)


ORDINARY = [("C1", "O1", "2024-01-05", "10"), ("C2", "O2", "2024-02-10", "20"), ("C3", "O3", "2024-03-01", "30"),
            ("C4", "O4", "2024-03-20", "40")]


# -- the as-of date and date typos ----------------------------------------------------------------

def test_a_date_typo_far_in_the_future_does_not_become_the_as_of_date():
    tx = text([*ORDINARY, ("C5", "O5", "2999-03-01", "50")])
    result = clean(tx)
    assert reasons(result) == {6: "implausible_future_date"}
    assert result.as_of == dt.date(2024, 3, 20) and result.as_of_rule == "latest_plausible_date"
    assert "2999-03-01" in result.quarantine["detail"].iloc[0]
    assert [n["key"] for n in result.notes] == ["as_of_future_dates", "as_of_latest_plausible_date", "month_to_date"]
    features = customer_features(None, result.table, result.as_of)
    assert features["recency_days"].max() < 100  # not ~356,000 days


def test_a_late_but_real_order_on_few_rows_is_not_a_typo():
    # five rows: the interpolated 99.9th percentile lies most of the way to the last date
    tx = text([*ORDINARY, ("C5", "O5", "2024-09-01", "50")])
    result = clean(tx)
    assert reasons(result) == {} and result.as_of == dt.date(2024, 9, 1) and result.as_of_rule == "latest_date"


def test_on_many_rows_a_date_a_month_beyond_the_rest_is_set_aside():
    days = pd.date_range("2024-01-01", periods=2000, freq="4h").strftime("%Y-%m-%d").tolist()
    rows = [(f"C{i % 50}", f"O{i}", day, "10") for i, day in enumerate(days)]
    tx = text([*rows, ("C1", "Ox", "2025-06-01", "10")])
    result = clean(tx)
    assert reasons(result) == {len(rows) + 2: "implausible_future_date"}
    assert result.as_of == dt.date.fromisoformat(days[-1])


def test_a_given_as_of_sets_later_rows_after_it_and_typos_apart(monkeypatch):
    """With a given as_of, rows of later months are `after_as_of`; a date far beyond nearly all the
    others (2999) is a typo, `implausible_future_date`, as without one, so that a data owner sees it.
    An as_of beyond it keeps it once the clock has passed it; before, it lies after today (`future_date`)."""
    import segkit.intake.clock as clock

    tx = text([*ORDINARY, ("C5", "O5", "2999-03-01", "50"), ("C6", "O6", "2024-04-02", "50")])
    result = clean(tx, as_of=dt.date(2024, 3, 31))
    assert reasons(result) == {6: "implausible_future_date", 7: "after_as_of"} and result.as_of_rule == "given"
    assert reasons(clean(tx, as_of=dt.date(3000, 1, 1))) == {6: "future_date"}  # a given as_of does not move today
    monkeypatch.setattr(clock, "today", lambda: dt.date(3000, 6, 1))
    later = clean(tx, as_of=dt.date(3000, 1, 1))  # an as_of beyond it keeps it
    assert reasons(later) == {}


@pytest.mark.parametrize("as_of", [None, dt.date(2024, 3, 31)])
def test_dates_before_min_date_are_set_aside_with_or_without_as_of(as_of):
    tx = text([*ORDINARY, ("C5", "O5", "1024-03-01", "50"), ("C6", "O6", "1989-12-31", "50")])
    result = clean(tx, as_of=as_of)
    assert reasons(result) == {6: "implausible_past_date", 7: "implausible_past_date"}
    assert "cleaning.min_date 1990-01-01" in result.quarantine["detail"].iloc[0]
    older = clean(tx, as_of=as_of, min_date=dt.date(1000, 1, 1))
    assert reasons(older) == {}


def test_the_as_of_date_does_not_depend_on_the_day_of_the_run(monkeypatch):
    tx = text([*ORDINARY, ("C5", "O5", "2999-03-01", "50")])
    first = clean(tx).as_of

    class Tomorrow(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return dt.datetime(3000, 1, 1, tzinfo=tz)

        @classmethod
        def today(cls):
            return dt.datetime(3000, 1, 1)

    monkeypatch.setattr(dt, "datetime", Tomorrow)
    assert clean(tx).as_of == first == dt.date(2024, 3, 20)


# -- dates that cannot be read, or carry a time zone ----------------------------------------------

def test_year_zero_is_unreadable_not_a_crash():
    tx = text([*ORDINARY, ("C5", "O5", "0000-01-01", "50")])
    result = clean(tx)
    assert reasons(result) == {6: "unreadable_date"}
    assert "year 0" in result.quarantine["detail"].iloc[0]


@pytest.mark.parametrize("date", ["2024-13-01", "2024-02-30", "2024-00-10", "31/02/2024"])
def test_out_of_range_months_and_days_are_unreadable(date):
    assert reasons(clean(text([*ORDINARY, ("C5", "O5", date, "50")]))) == {6: "unreadable_date"}


def test_only_year_zero_dates_is_a_clear_error():
    with pytest.raises(DataError, match="no row has a readable date in the column"):
        clean(text([("C1", "O1", "0000-01-01", "5")]))


def test_iso_times_with_an_offset_are_read_as_written_by_default():
    tx = text([("C1", "O1", "2024-01-05T23:00:00+08:00", "5"), ("C2", "O2", "2024-01-05T10:00:00Z", "5"),
               ("C3", "O3", "2024-01-05T20:00:00-0800", "5")])
    result = clean(tx)
    assert reasons(result) == {} and fixes(result) == {}
    assert result.clean["ordered_at"].tolist() == [pd.Timestamp("2024-01-05 23:00"), pd.Timestamp("2024-01-05 10:00"),
                                                   pd.Timestamp("2024-01-05 20:00")]


def test_iso_times_with_an_offset_are_converted_to_a_stated_time_zone():
    tx = text([("C1", "O1", "2024-01-05T23:00:00+08:00", "5"), ("C2", "O2", "2024-01-05T10:00:00Z", "5"),
               ("C3", "O3", "2024-01-05T20:00:00-08:00", "5"), ("C4", "O4", "2024-01-05 09:00", "5")])
    result = clean(tx, time_zone="Asia/Shanghai")
    at = result.clean.set_index("source_row")["ordered_at"]
    # 20:00 at -08:00 is 04:00 UTC on the 6th, 12:00 in Shanghai; a time without an offset is as written
    assert at.tolist() == [pd.Timestamp("2024-01-05 23:00"), pd.Timestamp("2024-01-05 18:00"),
                           pd.Timestamp("2024-01-06 12:00"), pd.Timestamp("2024-01-05 09:00")]
    assert fixes(result) == {3: "time_zone_converted", 4: "time_zone_converted"}


def test_typed_timestamps_with_a_time_zone_follow_the_same_rule(tmp_path):
    stamps = pd.to_datetime(["2024-01-05 23:00", "2024-01-05 20:00"]).tz_localize("America/Los_Angeles")
    pq.write_table(pa.table({"source_row": [1, 2], "customer_id": ["C1", "C2"], "ordered_at": stamps,
                             "amount": [5.0, 6.0]}), tmp_path / "t.parquet")
    tx = pd.read_parquet(tmp_path / "t.parquet")
    as_written = clean(tx).clean["ordered_at"].tolist()
    assert as_written == [pd.Timestamp("2024-01-05 23:00"), pd.Timestamp("2024-01-05 20:00")]
    converted = clean(tx, time_zone="UTC")
    assert converted.clean["ordered_at"].tolist() == [pd.Timestamp("2024-01-06 07:00"), pd.Timestamp("2024-01-06 04:00")]
    assert set(fixes(converted).values()) == {"time_zone_converted"}


def test_an_unknown_time_zone_is_a_params_error():
    with pytest.raises(ValueError, match="is not a time zone"):
        Cleaning(time_zone="Mars/Olympus")


# -- day-first or month-first, decided by the column ----------------------------------------------

def test_a_day_above_12_settles_the_order_for_the_whole_column():
    tx = text([("C1", "O1", "25/12/2023", "5"), ("C2", "O2", "05/01/2024", "5"), ("C3", "O3", "03/02/2024", "5")])
    result = clean(tx)
    at = result.clean.set_index("source_row")["ordered_at"]
    assert at[3] == pd.Timestamp("2024-01-05") and at[4] == pd.Timestamp("2024-02-03")
    assert fixes(result) == {2: "date_format", 3: "date_format+date_order_by_column",
                             4: "date_format+date_order_by_column"}
    note = next(n for n in result.notes if n["key"] == "date_order_day_first")
    assert note == {"key": "date_order_day_first", "order": "day_first", "decided_by": 1, "example": "25/12/2023",
                    "followed": 2, "column": "ordered_at"}


def test_a_second_part_above_12_settles_month_first():
    tx = text([("C1", "O1", "12/25/2023", "5"), ("C2", "O2", "01/05/2024", "5")])
    result = clean(tx)
    assert result.clean.set_index("source_row").loc[3, "ordered_at"] == pd.Timestamp("2024-01-05")
    assert next(n for n in result.notes if n["key"].startswith("date_order"))["key"] == "date_order_month_first"


def test_when_nothing_decides_the_ambiguous_dates_are_set_aside():
    tx = text([("C1", "O1", "05/01/2024", "5"), ("C2", "O2", "2024-01-06", "5"), ("C3", "O3", "07/07/2024", "5")])
    result = clean(tx)
    assert reasons(result) == {2: "unreadable_date"}  # 07/07 reads the same either way
    assert "no date in the column decides" in result.quarantine["detail"].iloc[0]
    assert next(n for n in result.notes if n["key"] == "date_order_unknown")["ambiguous"] == 1


def test_a_column_holding_both_orders_sets_the_ambiguous_dates_aside_and_says_why():
    tx = text([("C1", "O1", "25/12/2023", "5"), ("C2", "O2", "12/26/2023", "5"), ("C3", "O3", "05/01/2024", "5")])
    result = clean(tx)
    assert reasons(result) == {4: "unreadable_date"}
    assert "holds both" in result.quarantine["detail"].iloc[0]
    note = next(n for n in result.notes if n["key"] == "date_order_conflict")
    assert (note["day_first"], note["month_first"], note["ambiguous"]) == (1, 1, 1)
    stated = clean(tx, day_first=True)  # stating the order settles it: 12/26 cannot be day-first
    assert reasons(stated) == {3: "unreadable_date"}


# -- amounts --------------------------------------------------------------------------------------

def test_1e308_twice_is_set_aside_never_summed_to_infinity():
    tx = text([("C1", "O1", "2024-01-05", "1e308"), ("C1", "O2", "2024-01-06", "1e308"), ("C2", "O3", "2024-01-06", "5")])
    result = clean(tx)
    assert reasons(result) == {2: "implausible_amount", 3: "implausible_amount"}
    features = customer_features(None, result.table, result.as_of)
    assert np.isfinite(features["revenue"]).all() and features["revenue"].sum() == 5


def test_the_largest_max_amount_still_sums_exactly():
    tx = text([("C1", "O1", "2024-01-05", "1e15"), ("C1", "O2", "2024-01-06", "1e15"), ("C1", "O3", "2024-01-06", "1e308")])
    result = clean(tx, max_amount=1e15)
    assert reasons(result) == {4: "implausible_amount"}
    assert result.table.amount.sum().to_pyarrow().as_py() == 2 * 10 ** 15


def write_amounts(path, amounts):
    n = len(amounts)
    pq.write_table(pa.table({"source_row": list(range(1, n + 1)), "customer_id": [f"C{i}" for i in range(n)],
                             "ordered_at": pa.array(pd.to_datetime(["2024-01-05"] * n)),
                             "amount": pa.array(amounts, type=pa.float64())}), path)


def test_parquet_infinity_and_nan_are_not_finite_where_the_column_tells_nan_from_empty(tmp_path):
    write_amounts(tmp_path / "t.parquet", [float("inf"), float("-inf"), float("nan"), None, 1e308, 5.0])
    typed = pd.read_parquet(tmp_path / "t.parquet", dtype_backend="pyarrow")  # NaN and null stay apart
    result = clean(typed)
    assert reasons(result) == {1: "non_finite_amount", 2: "non_finite_amount", 3: "non_finite_amount",
                               4: "missing_amount", 5: "implausible_amount"}
    assert result.quarantine.set_index("source_row").loc[3, "detail"] == 'amount "NaN" is not a finite number'
    # read into NumPy floats, NaN is how pandas writes "empty": there, NaN is missing
    plain = clean(pd.read_parquet(tmp_path / "t.parquet"))
    assert reasons(plain) == {1: "non_finite_amount", 2: "non_finite_amount", 3: "missing_amount",
                              4: "missing_amount", 5: "implausible_amount"}


# -- columns of the wrong kind --------------------------------------------------------------------

@pytest.mark.parametrize("column, values", [
    ("amount", [True, False]), ("customer_id", [True, False]), ("ordered_at", [True, True]),
    ("amount", [{"value": 5}, {"value": 6}]), ("customer_id", [{"id": 1}, {"id": 2}]),
    ("ordered_at", [[2024, 1, 5], [2024, 1, 6]]),
])
def test_booleans_and_structs_from_parquet_are_refused_naming_the_column(tmp_path, column, values):
    table = {"source_row": [1, 2], "customer_id": ["C1", "C2"], "ordered_at": pd.to_datetime(["2024-01-05"] * 2),
             "amount": [5.0, 6.0]}
    table[column] = values
    pq.write_table(pa.table(table), tmp_path / "t.parquet")
    for tx in (pd.read_parquet(tmp_path / "t.parquet"), pd.read_parquet(tmp_path / "t.parquet", dtype_backend="pyarrow")):
        with pytest.raises(DataError, match=f"the column mapped to {column} holds") as err:
            clean_transactions(connect(), tx)
        assert "source.transactions.columns" in str(err.value)


# -- customer ids ---------------------------------------------------------------------------------

def test_ids_that_differ_only_in_invisible_characters_or_form_are_one_customer():
    tx = text([("C1", "O1", "2024-01-05", "5"), ("C1\x00", "O2", "2024-01-06", "5"), ("\u200bC1", "O3", "2024-01-07", "5"),
               ("\ufeffC1", "O4", "2024-01-08", "5"), ("C1 ", "O5", "2024-01-09", "5"),
               ("Jos\u00e9", "O6", "2024-01-05", "5"), ("Jose\u0301", "O7", "2024-01-06", "5")])
    result = clean(tx)
    assert result.clean.groupby("customer_id").size().to_dict() == {"C1": 5, "José": 2}
    assert fixes(result) == {3: "invisible_characters", 4: "invisible_characters", 5: "invisible_characters",
                             6: "trimmed_blanks", 8: "unicode_nfc"}
    ledger = result.ledger.set_index(["outcome", "rule"])["rows"]
    assert ledger[("fixed", "invisible_characters")] == 3 and ledger[("fixed", "unicode_nfc")] == 1
    raw = result.clean.set_index("source_row")["raw_customer_id"]  # the id as it came, where it changed
    assert raw[3] == "C1\x00" and raw[5] == "\ufeffC1" and pd.isna(raw[2])


def test_an_integral_float_id_is_the_integer_id_but_leading_zeros_are_significant():
    tx = text([("17850", "O1", "2024-01-05", "5"), ("17850.0", "O2", "2024-01-06", "5"),
               ("00123", "O3", "2024-01-05", "5"), ("123", "O4", "2024-01-06", "5")])
    result = clean(tx)
    assert result.clean.groupby("customer_id").size().to_dict() == {"00123": 1, "123": 1, "17850": 2}
    assert fixes(result) == {3: "integral_float_id"}


def test_a_number_in_a_zero_padded_id_column_is_padded_back():
    # an Excel column of text ids "00123", where one cell was typed as the number 456
    tx = text([("00123", "O1", "2024-01-05", "5"), (456, "O2", "2024-01-06", "5"), ("00456", "O3", "2024-01-07", "5"),
               (1.7850e4, "O4", "2024-01-07", "5")])
    result = clean(tx)
    assert result.clean.groupby("customer_id").size().to_dict() == {"00123": 1, "00456": 2, "17850": 1}
    assert fixes(result) == {3: "zero_padded_id"}


def test_a_set_aside_row_keeps_its_id_as_it_came():
    tx = text([("C1\u200b", "O1", "2024-01-05", "abc"), ("C2", "O2", "2024-01-05", "5")])
    aside = clean(tx).quarantine.set_index("source_row")
    assert aside.loc[2, "raw_customer_id"] == "C1\u200b" and aside.loc[2, "customer_id"] == "C1"


# -- survey answers -------------------------------------------------------------------------------

SURVEYS = pd.DataFrame({"customer_id": ["C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8"],
                        "score": [5, 1e308, -3, 4, 3, 2, None, 5],
                        "nps": [10, 9, 8, 11, -1, 9.5, 7, None]})


def test_survey_answers_out_of_range_are_set_aside():
    kept, aside = split_survey_answers(SURVEYS)
    assert kept["customer_id"].tolist() == ["C1", "C7", "C8"]
    assert dict(zip(aside["customer_id"], aside["reason"])) == {
        "C2": "score_out_of_range", "C3": "score_out_of_range", "C4": "nps_out_of_range",
        "C5": "nps_out_of_range", "C6": "nps_out_of_range"}
    assert "cleaning.survey_scores" in aside.set_index("customer_id").loc["C3", "detail"]
    wider = split_survey_answers(SURVEYS, score_range=(-5, 5))[0]
    assert "C3" in set(wider["customer_id"])
    assert len(SURVEYS) == 8 and SURVEYS["nps"].iloc[3] == 11  # the input is not changed


def test_a_survey_answer_set_aside_names_the_files_column(tmp_path):
    from segkit.intake.sources import read_customer_table
    from segkit.params import FileTable

    SURVEYS.rename(columns={"customer_id": "Kunde", "score": "Zufriedenheit (1-5)", "nps": "Empfehlung"}).to_csv(
        tmp_path / "surveys.csv", index=False)
    spec = FileTable(path=str(tmp_path / "surveys.csv"),
                     columns={"customer_id": "Kunde", "score": "Zufriedenheit (1-5)", "nps": "Empfehlung"})
    aside = split_survey_answers(read_customer_table(spec, "surveys"))[1].set_index("customer_id")["detail"]
    assert aside["C3"] == "Zufriedenheit (1-5) -3.0 is outside the survey scale 1 to 5 (cleaning.survey_scores)"
    assert aside["C4"].startswith("Empfehlung 11")


def test_out_of_range_answers_are_counted_in_the_join_report_and_never_reach_nps(tmp_path):
    from segkit.report.tables import nps
    from segkit.store import load_run_info, load_stage

    tx = text([(f"C{i}", f"O{i}", "2024-01-05", "5") for i in range(1, 9)])
    clean_and_save(Intake(tx, None, SURVEYS), tmp_path, as_of=dt.date(2024, 1, 31))
    join = load_run_info(tmp_path)["join"]
    assert join["survey_answers"] == 3 and join["survey_answers_out_of_range"] == 5
    saved = load_stage(tmp_path, "surveys")
    assert saved["customer_id"].tolist() == ["C1", "C7", "C8"]
    assert nps(saved["nps"]) == pytest.approx(100 * (1 - 0) / 2)  # 10 and 7: one promoter of two answers
    assert load_run_info(tmp_path)["as_of_rule"] == "given"


def test_join_report_counts_survey_answers_apart():
    clean_rows = pd.DataFrame({"customer_id": ["C1", "C2"]})
    report = join_report(clean_rows, None, SURVEYS)
    assert report["survey_answers_out_of_range"] == 5 and report["survey_answers"] == 3
    assert report["survey_answers_without_transactions"] == 2


def test_customer_and_survey_ids_are_normalised_as_the_transactions_are(tmp_path):
    from segkit.store import load_run_info, load_stage

    tx = text([("17850.0", "O1", "2024-01-05", "5"), ("C2\u200b", "O2", "2024-01-06", "5")])
    customers = pd.DataFrame({"customer_id": ["17850", "C2"], "region": ["East", "West"]})
    surveys = pd.DataFrame({"customer_id": ["\ufeff17850.0", "C2 "], "score": [5, 4], "nps": [10, 9]})
    clean_and_save(Intake(tx, customers, surveys), tmp_path, as_of=dt.date(2024, 1, 31))
    join = load_run_info(tmp_path)["join"]
    assert join["buyers_without_record"] == 0 and join["customers_without_transactions"] == 0
    assert join["survey_answers_without_transactions"] == 0
    assert load_stage(tmp_path, "surveys")["customer_id"].tolist() == ["17850", "C2"]


def test_every_note_is_a_sentence_in_both_languages():
    from segkit.i18n import t

    inputs = [text([*ORDINARY, ("C5", "O5", "2999-03-01", "50")]),
              text([("C1", "O1", "25/12/2023", "5"), ("C2", "O2", "05/01/2024", "5")]),
              text([("C1", "O1", "12/25/2023", "5"), ("C2", "O2", "01/05/2024", "5")]),
              text([("C1", "O1", "05/01/2024", "5"), ("C2", "O2", "2024-01-06", "5")]),
              text([("C1", "O1", "25/12/2023", "5"), ("C2", "O2", "12/26/2023", "5"), ("C3", "O3", "05/01/2024", "5")])]
    keys = set()
    results = [clean(tx) for tx in inputs]
    results.append(clean_transactions(connect(), text([("C1", "O1", "2024-01-05", "$5")]), currency_code="CNY"))
    for result in results:
        for note in result.notes:
            keys.add(note["key"])
            for lang in ("en", "zh"):
                values = {k: v for k, v in note.items() if k != "key"}
                sentence = t(f"cleaning.note.{note['key']}", lang, **values)
                # no placeholder left, and no code word shown (the params key itself may be named)
                assert "{" not in sentence and "_first" not in sentence.replace("cleaning.day_first", "")
    assert keys == {"as_of_future_dates", "as_of_latest_plausible_date", "as_of_latest_date", "date_order_day_first",
                    "date_order_month_first", "date_order_unknown", "date_order_conflict", "currency_sign_differs",
                    "month_to_date"}


def test_a_typed_table_in_its_engine_gets_the_same_date_rules():
    # the database path: no text, no problem_rule column from the file reader
    con = connect()
    typed = pd.DataFrame({"source_row": [1, 2, 3, 4, 5], "customer_id": ["C1", "C2", "C3", "C4", "C5"],
                          "ordered_at": pd.to_datetime(["2024-01-05", "2024-02-10", "2024-03-01", "2999-03-01",
                                                        "1899-12-31"]),
                          "amount": [10.0, 20.0, 30.0, 40.0, float("inf")]})
    table = con.create_table("orders", typed)
    result = clean_transactions(con, table)
    assert not result.in_database and result.as_of == dt.date(2024, 3, 1)  # the embedded engine: not a database
    assert reasons(result) == {4: "implausible_future_date", 5: "implausible_past_date"}
    assert_every_row_accounted(result, typed)


def test_the_survey_answers_set_aside_have_a_sentence():
    from segkit.i18n import t

    report = join_report(pd.DataFrame({"customer_id": ["C1"]}), None, SURVEYS)
    for lang in ("en", "zh"):
        assert "5" in t("cleaning.join_surveys_out_of_range", lang, **report)


def test_a_parquet_file_tells_nan_from_empty_through_the_file_source(tmp_path):
    """Read as a source (not by hand), a float column's NaN is not finite and its null is empty."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from segkit.intake.sources import load_source
    from segkit.params import FileTable, Source

    table = pa.table({"c": ["a", "b", "c", "d"], "d": ["2024-01-01"] * 4,
                      "x": pa.array([1.5, np.nan, None, np.inf], type=pa.float64())})
    pq.write_table(table, tmp_path / "t.parquet")
    intake = load_source(Source(kind="file", transactions=FileTable(
        path=str(tmp_path / "t.parquet"), columns={"customer_id": "c", "ordered_at": "d", "amount": "x"})))
    result = clean_transactions(None, intake.transactions)
    assert reasons(result) == {2: "non_finite_amount", 3: "missing_amount", 4: "non_finite_amount"}
