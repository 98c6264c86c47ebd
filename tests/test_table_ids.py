"""Customer or survey tables whose ids a spreadsheet saved as numbers, without the leading zeros the
transactions' ids keep (`00990001` became 990001): padded back where certain and said, instead of every
answer silently "from a customer without transactions" (segkit.intake.cleaning.padded_like_buyers)."""

import json

import pandas as pd
import pytest

from segkit.intake.cleaning import clean_and_save
from segkit.intake.sources import load_source
from segkit.params import validate_params


def files(folder, tx_ids=("00990001", "00990002", "00012345"), survey_ids=("990001", "12345", "990002", "777")):
    (folder / "tx.csv").write_text("customer_id,order_id,ordered_at,amount\n" + "".join(
        f"{c},O{i},2025-0{i}-05,{10 * i}\n" for i, c in enumerate(tx_ids, start=1)), encoding="utf-8")
    (folder / "answers.csv").write_text("会员ID,nps,date\n" + "".join(
        f"{c},9,2025-03-0{i}\n" for i, c in enumerate(survey_ids, start=1)), encoding="utf-8")
    (folder / "members.csv").write_text("会员ID,城市\n990001,上海\n00990002,北京\n", encoding="utf-8")


def cleaned(folder):
    p = validate_params({"as_of": "2025-06-30", "source": {
        "kind": "file", "transactions": {"path": "tx.csv"},
        "customers": {"path": "members.csv", "columns": {"customer_id": "会员ID"}},
        "surveys": {"path": "answers.csv", "columns": {"customer_id": "会员ID", "answered_at": "date"}}}})
    intake = load_source(p.source, folder / "p.yaml")
    clean_and_save(intake, folder / "data", as_of=p.as_of_date, rules=p.cleaning)
    run = json.loads((folder / "data" / "run.json").read_text(encoding="utf-8"))
    return (run, pd.read_parquet(folder / "data" / "surveys.parquet"),
            pd.read_parquet(folder / "data" / "customers.parquet"))


def test_ids_without_the_transactions_leading_zeros_are_padded_back_and_said(tmp_path):
    files(tmp_path)
    run, surveys, customers = cleaned(tmp_path)
    # 990001, 12345 and 990002 are buyers once padded to the transactions' eight digits; 777 is nobody
    assert surveys["customer_id"].tolist() == ["00990001", "00012345", "00990002", "777"]
    assert run["join"]["survey_answers_without_transactions"] == 1
    assert set(customers["customer_id"]) >= {"00990001", "00990002"}
    assert run["join"]["buyers_without_record"] == 1  # 00012345 has no record
    notes = {n["key"]: n for n in run["cleaning_notes"]}
    said = notes["survey_ids_padded"]
    assert (said["rows"], said["given"], said["read"], said["column"], said["width"]) == (3, "990001", "00990001",
                                                                                           "会员ID", 8)
    assert said["file"].endswith("answers.csv")
    assert notes["table_ids_padded"]["rows"] == 1  # the member table's 990001; its 00990002 was written whole


@pytest.mark.parametrize("tx_ids, survey_ids", [
    (("990001", "990002", "12345"), ("990001", "12345", "990002", "777")),  # no zeros to restore: nothing padded
    (("00990001", "0099002", "12345"), ("990001", "99002", "12345", "777")),  # digit ids of several widths
    (("00990001", "00990002", "00012345"), ("0990001", "C12345", "990002x", "777")),  # zeros kept, or not digits
])
def test_ids_are_left_as_written_where_the_padding_is_not_certain(tmp_path, tx_ids, survey_ids):
    files(tmp_path, tx_ids, survey_ids)
    run, surveys, _ = cleaned(tmp_path)
    assert surveys["customer_id"].tolist() == list(survey_ids)
    assert "survey_ids_padded" not in {n["key"] for n in run["cleaning_notes"]}


def test_answers_mostly_from_ids_no_purchase_has_are_said_with_what_to_check():
    from segkit.i18n import t
    from segkit.report.tables import survey_join_messages

    said = survey_join_messages({"survey_answers": 1202, "survey_answers_without_transactions": 1202})
    assert [key for key, _ in said] == ["cleaning.join_surveys", "cleaning.join_surveys_unmatched"]
    text = t(said[1][0], "en", **said[1][1])
    assert text.startswith("1,202 of the 1,202 answers are from ids no purchase") and "leading zeros" in text
    assert "前导零" in t(said[1][0], "zh", **said[1][1])
    few = survey_join_messages({"survey_answers": 10, "survey_answers_without_transactions": 4})
    assert [key for key, _ in few] == ["cleaning.join_surveys"]  # a few strangers' answers: the count says it
