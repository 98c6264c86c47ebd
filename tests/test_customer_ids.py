"""Customer ids written several ways (e-mail addresses in two cases, phone numbers spaced or with their
country code) are one customer with `cleaning.customer_ids`, on every path cleaning runs, and stay apart
without it, with a note that says how many would be one (segkit.intake.ids)."""

import datetime as dt
import json

import pandas as pd
import pytest

from ledger_check import assert_every_row_accounted, clean_checked, file_source, text
from segkit.errors import ParamsError
from segkit.i18n import t
from segkit.params import Cleaning, CustomerIds, validate_params

AS_OF = dt.date(2024, 12, 31)
PHONES = ["+86 138 0013 8000", "138-0013-8000", "13800138000", "0086 13800138000"]
MAILS = ["Alice@Example.com", "alice@example.com", "ALICE@EXAMPLE.COM"]
OTHERS = ["C-1001", "0012345678", "12345678"]  # no phone number written with marks, no case: as written
ROWS = [(c, f"O{i}", f"2024-{(i - 1) % 12 + 1:02d}-05", str(10 * i))
        for i, c in enumerate([*PHONES, *MAILS, *OTHERS], start=1)]
ALL = {"case": "fold", "phone": True, "phone_country_code": "86"}


def features(result):
    from segkit.features import customer_features

    return customer_features(result.table.get_backend(), result.table, result.as_of).set_index("customer_id")


def note(result, key):
    return next((n for n in result.notes if n["key"] == key), None)


def said(values: dict, lang: str) -> str:
    from segkit.i18n import note_message

    key, fields = note_message(values)
    return t(key, lang, **fields)


# --- the setting ---

def test_the_setting_is_off_by_default_and_checked_with_a_message_that_says_what_to_write():
    assert Cleaning().customer_ids == CustomerIds(case="as_written", phone=False, phone_country_code=None)
    assert not Cleaning().customer_ids.active
    read = validate_params({"cleaning": {"customer_ids": {"phone": True, "phone_country_code": 86}}}).cleaning
    assert read.customer_ids.phone_country_code == "86"  # a YAML number, and "+86" or "0086" as written, are "86"
    assert CustomerIds(phone=True, phone_country_code="+852").phone_country_code == "852"
    with pytest.raises(ParamsError, match="phone_country_code is read only with phone: true"):
        validate_params({"cleaning": {"customer_ids": {"phone_country_code": "86"}}})
    with pytest.raises(ParamsError, match=r'country calling code of 1 to 3 digits, like "86"'):
        validate_params({"cleaning": {"customer_ids": {"phone": True, "phone_country_code": "China"}}})
    with pytest.raises(ParamsError, match="customer_ids.case"):
        validate_params({"cleaning": {"customer_ids": {"case": "lower"}}})
    with pytest.raises(ParamsError, match="phonee"):
        validate_params({"cleaning": {"customer_ids": {"phonee": True}}})


@pytest.mark.parametrize("setting, given, read", [
    (ALL, PHONES, ["13800138000"] * 4),
    ({"phone": True}, PHONES, ["8613800138000", "13800138000", "13800138000", "8613800138000"]),
    ({"phone": True}, ["(010) 6552-9988", "+44 20 7946 0958", "020.7946.0958", "138 0013 800"],
     ["01065529988", "442079460958", "02079460958", "1380013800"]),
    # digits only, too short or too long, letters, an e-mail address: no phone number written with marks
    ({"phone": True, "phone_country_code": "86"}, ["008613800138000", "8613800138000", "12-34", "C-1001",
                                                    "1-2345-6789-0123-4567", "a.b@x.com", "+86", None],
     ["008613800138000", "8613800138000", "12-34", "C-1001", "1-2345-6789-0123-4567", "a.b@x.com", "+86", None]),
    ({"case": "fold"}, [*MAILS, "Émile@X.fr", "张三@QQ.com"],
     ["alice@example.com"] * 3 + ["Émile@x.fr", "张三@qq.com"]),  # A to Z only, whatever else the id holds
])
def test_ids_are_read_as_the_setting_says(setting, given, read):
    from segkit.intake.ids import read_ids

    got = read_ids(pd.Series(given, dtype="string"), CustomerIds(**setting))
    assert got.tolist() == [pd.NA if v is None else v for v in read]


# --- the transactions, every path ---

def test_phone_and_email_spellings_are_one_customer_with_the_setting():
    result = clean_checked(text(ROWS), AS_OF, customer_ids=ALL)  # every row accounted for
    customers = features(result)
    # every id in lower case (C-1001 too): letter case no longer tells ids apart
    assert set(customers.index) == {"13800138000", "alice@example.com", "c-1001", "0012345678", "12345678"}
    assert customers.loc["13800138000", ["orders", "revenue"]].tolist() == [4, 100]
    assert customers.loc["alice@example.com", ["orders", "revenue"]].tolist() == [3, 180]
    clean = result.clean.set_index("source_row")
    # the rows whose id changed: the fix counted in the ledger, the id as written kept
    assert clean.loc[clean["fixes"] == "id_normalised"].index.tolist() == [2, 3, 5, 6, 8, 9]
    assert clean.loc[2, "raw_customer_id"] == "+86 138 0013 8000" and pd.isna(clean.loc[4, "raw_customer_id"])
    ledger = result.ledger.set_index(["outcome", "rule"])["rows"]
    assert ledger[("fixed", "id_normalised")] == 6 and ledger[("used", "")] == 4
    values = note(result, "ids_normalised")
    assert values == {"key": "ids_normalised", "rows": 6, "ids": 6, "spellings": 7, "customers": 2,
                      "example": "+86 138 0013 8000", "read": "13800138000", "column": "customer_id",
                      "setting": 'cleaning.customer_ids: {case: fold, phone: true, phone_country_code: "86"}'}
    assert note(result, "ids_would_merge") is None  # read as far as segkit reads ids
    assert said(values, "en").startswith(
        '`cleaning.customer_ids: {case: fold, phone: true, phone_country_code: "86"}` read 6 customer ids of the '
        'column "customer_id" otherwise than as written, on 6 rows used (like "+86 138 0013 8000" as "13800138000"')
    assert "7 ids written differently are now 2 customers" in said(values, "en")
    assert "7 个写法不同的编号现在算作 2 位客户" in said(values, "zh")


def test_without_the_setting_the_spellings_stay_apart_and_a_note_says_how_many_would_be_one():
    result = clean_checked(text(ROWS), AS_OF)
    customers = features(result)
    assert len(customers) == 10 and (customers["orders"] == 1).all()
    assert "id_normalised" not in set(result.ledger["rule"]) and "raw_customer_id" not in result.clean.columns
    values = note(result, "ids_would_merge")
    # the country code is the one that numbers written with it and without it share
    assert values == {"key": "ids_would_merge", "ids": 7, "customers": 2, "example": "+86 138 0013 8000",
                      "other": "138-0013-8000", "column": "customer_id",
                      "setting": 'cleaning.customer_ids: {case: fold, phone: true, phone_country_code: "86"}'}
    assert said(values, "en").startswith('7 customer ids of the column "customer_id" would be 2 customers if letter '
                                         'case were ignored and phone numbers read as their digits')
    assert said(values, "zh").startswith('列 "customer_id" 中有 7 个客户编号在忽略大小写')
    one = {**values, "ids": 2, "customers": 1}
    assert said(one, "en").startswith('2 customer ids of the column "customer_id" would be 1 customer if')


@pytest.mark.parametrize("setting, ids, customers, wanted", [
    ({"case": "fold"}, 4, 1, '{case: fold, phone: true, phone_country_code: "86"}'),  # the phones are left
    ({"phone": True}, 5, 2, '{case: fold, phone: true, phone_country_code: "86"}'),  # two spellings each left
    ({}, 3, 1, "{case: fold}"),  # e-mail addresses only
])
def test_the_note_names_what_the_setting_leaves_to_merge(setting, ids, customers, wanted):
    rows = ROWS if setting else [r for r in ROWS if r[0] not in PHONES]
    values = note(clean_checked(text(rows), AS_OF, customer_ids=setting), "ids_would_merge")
    assert (values["ids"], values["customers"], values["setting"]) == (ids, customers, f"cleaning.customer_ids: {wanted}")


def test_nothing_is_said_where_no_two_ids_are_one_or_the_ids_are_numbers():
    rows = [(c, f"O{i}", "2024-03-05", "10") for i, c in enumerate(["a@x.com", "b@x.com", "13800138000"])]
    assert note(clean_checked(text(rows), AS_OF), "ids_would_merge") is None
    result = clean_checked(text(rows), AS_OF, customer_ids={"case": "fold", "phone": True})
    assert not [n for n in result.notes if n["key"].startswith("ids_")]  # nothing read otherwise: no note
    numbers = text([(1, "O1", "2024-03-05", "10"), (2, "O2", "2024-03-06", "12")]).astype({"customer_id": "int64"})
    assert not [n for n in clean_checked(numbers, AS_OF, customer_ids=ALL).notes if n["key"].startswith("ids_")]


def test_the_same_line_under_two_spellings_of_one_customer_is_one_order_line():
    rows = [("Bob@x.com", "O1", "2024-03-05", "10"), ("bob@x.com", "O1", "2024-03-05", "10")]
    assert len(clean_checked(text(rows), AS_OF).clean) == 2
    result = clean_checked(text(rows), AS_OF, customer_ids={"case": "fold"})
    assert result.quarantine["reason"].tolist() == ["duplicate_order_line"]
    # without an order number, one order per customer and day: the customer as read
    rows = [("Bob@x.com", "2024-03-05", "10"), ("bob@x.com", "2024-03-05", "12")]
    tx = text(rows, columns=("customer_id", "ordered_at", "amount"))
    assert features(clean_checked(tx, AS_OF, customer_ids={"case": "fold"})).loc["bob@x.com", "orders"] == 1


def test_a_csv_a_parquet_file_and_a_frame_give_the_same_customers(tmp_path):
    """A CSV loaded into the engine, a Parquet file read in place and a frame read in pandas: the same ids,
    fixes and notes (one Ibis expression on every path)."""
    from segkit.intake.sources import load_source

    frame = text(ROWS)
    frame.drop(columns="source_row").to_csv(tmp_path / "tx.csv", index=False)
    frame.drop(columns="source_row").assign(ordered_at=lambda f: pd.to_datetime(f["ordered_at"]),
                                            amount=lambda f: f["amount"].astype(float)).to_parquet(tmp_path / "tx.parquet")
    results = {"frame": clean_checked(frame, AS_OF, customer_ids=ALL)}
    for name in ("tx.csv", "tx.parquet"):
        intake = load_source(file_source(tmp_path / name))
        assert not isinstance(intake.transactions, pd.DataFrame)  # read in the engine, never a frame
        results[name] = clean_checked(intake.transactions, AS_OF, customer_ids=ALL)
    shown = ["customer_id", "fixes", "raw_customer_id"]  # (a Parquet file numbers its rows from 1, a CSV by line)
    first = results["frame"]
    for name, result in results.items():
        pd.testing.assert_frame_equal(result.clean[shown], first.clean[shown], check_dtype=False, obj=name)
        pd.testing.assert_frame_equal(features(result), features(first), check_dtype=False, obj=name)
        assert note(result, "ids_normalised") == note(first, "ids_normalised")


def test_the_customer_table_surveys_and_campaigns_join_the_ids_as_read(tmp_path):
    from segkit.intake.cleaning import clean_and_save
    from segkit.intake.sources import load_campaigns, load_source

    text(ROWS).drop(columns="source_row").to_csv(tmp_path / "tx.csv", index=False)
    (tmp_path / "members.csv").write_text("会员,等级\n+86-138-0013-8000,金卡\nalice@EXAMPLE.com,银卡\nC-1001,普通\n",
                                          encoding="utf-8")
    (tmp_path / "answers.csv").write_text("会员,nps\n(138) 0013 8000,9\nAlice@example.COM,10\n", encoding="utf-8")
    (tmp_path / "sent.csv").write_text("会员,responded\n0086-138-0013-8000,yes\nALICE@example.com,no\n",
                                       encoding="utf-8")
    source = {"kind": "file", "transactions": {"path": "tx.csv"},
              "customers": {"path": "members.csv", "columns": {"customer_id": "会员", "member_level": "等级"}},
              "surveys": {"path": "answers.csv", "columns": {"customer_id": "会员"}},
              "campaigns": {"path": "sent.csv", "columns": {"customer_id": "会员"}}}

    def run(cleaning):
        p = validate_params({"as_of": "2024-12-31", "source": source, "cleaning": cleaning})
        folder = tmp_path / f"data-{len(cleaning)}"
        result = clean_and_save(load_source(p.source, tmp_path / "p.yaml"), folder, as_of=p.as_of_date,
                                rules=p.cleaning)
        info = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        campaigns = load_campaigns(p.source, tmp_path / "p.yaml", customer_ids=p.cleaning.customer_ids)
        return result, info, pd.read_parquet(folder / "customers.parquet"), campaigns

    result, info, customers, campaigns = run({"customer_ids": ALL})
    assert_every_row_accounted(result, range(2, len(ROWS) + 2))
    levels = customers.set_index("customer_id")["member_level"]
    assert levels[["13800138000", "alice@example.com", "c-1001"]].tolist() == ["金卡", "银卡", "普通"]
    join = info["join"]
    assert (join["buyers"], join["buyers_without_record"], join["survey_answers_without_transactions"]) == (5, 2, 0)
    assert campaigns["customer_id"].tolist() == ["13800138000", "alice@example.com"]
    assert "ids_differ_in_case" not in {n["key"] for n in info["cleaning_notes"]}

    result, info, customers, campaigns = run({})  # as written: nothing joins the spellings
    assert info["join"]["survey_answers_without_transactions"] == 2 and info["join"]["buyers"] == 10
    keys = [n["key"] for n in info["cleaning_notes"]]
    assert "ids_would_merge" in keys and "ids_differ_in_case" not in keys  # said once, with the setting
    assert campaigns["customer_id"].tolist() == ["0086-138-0013-8000", "ALICE@example.com"]
