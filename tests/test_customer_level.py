"""Customer-level tables as a source (source.kind: customers): each case on its smallest table."""

import datetime as dt
import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import segkit
from segkit.classify.profile import add_tags_and_rank
from segkit.errors import DataError, ParamsError
from segkit.features import FEATURE_COLUMNS
from segkit.intake.customer_level import (CUSTOMER_RULES, TEXT_KEYS, TRANSACTION_SECTIONS, NoCustomerRows,
                                          customer_level_stage, customer_level_table, load_customer_level)
from segkit.intake.parsing import FIXES
from segkit.params import DEFAULT_TAGS, load_params, validate_params
from segkit.store import STAGE_FILES, load_run_info, load_stage, save_stage

ROOT = Path(__file__).resolve().parent.parent

# The iFood "marketing campaign" layout: recency in days, spend per product line, purchases per channel.
CAMPAIGN = """ID,Year_Birth,Education,Income,Recency,MntWines,MntFruits,NumWebPurchases,NumStorePurchases
5524,1957,Graduation,58138,58,635,88,8,4
2174,1954,Graduation,46344,38,11,1,1,2
4141,1965,Graduation,71613,26,426,49,8,10
6182,1984,Graduation,26646,26,11,4,2,4
5324,1981,PhD,58293,94,173,43,5,6
7446,1967,Master,62513,16,520,42,6,10
"""
CAMPAIGN_SUMS = {"orders": ["NumWebPurchases", "NumStorePurchases"], "revenue": ["MntWines", "MntFruits"]}
CAMPAIGN_MAP = {"customer_id": "ID", "recency_days": "Recency", "income": "Income"}

# The "mall customers" layout: demographics and a spend score, no recency and no frequency.
MALL = """CustomerID,Gender,Age,Annual Income (k$),Spending Score (1-100)
1,Male,19,15,39
2,Male,21,15,81
3,Female,20,16,6
4,Female,23,16,77
5,Female,31,17,40
6,Female,22,17,76
7,Female,35,18,6
8,Female,23,18,94
9,Male,64,19,3
10,Female,30,19,72
"""
MALL_MAP = {"customer_id": "CustomerID", "revenue": "Spending Score (1-100)", "age": "Age",
            "income": "Annual Income (k$)"}


def source(tmp_path, text, columns, sums=None, name="customers.csv", encoding="utf-8", **table):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    raw = {"kind": "customers", "customers": {"path": str(path), "columns": columns, **table}}
    if sums:
        raw["customer_level"] = {"sums": sums}
    return validate_params({"source": raw}).source


def frame(**columns):
    """A table as read_file gives it: source_row (file lines: the header is line 1), then text."""
    first = next(iter(columns.values()))
    return pd.DataFrame({"source_row": range(2, 2 + len(first)), **columns})


def assert_ledger_adds_up(result, rows_in: int) -> None:
    ledger, quarantine, features = result.ledger, result.quarantine, result.features
    assert int(ledger["rows"].sum()) == rows_in
    assert ledger["share"].sum() == pytest.approx(1.0)
    aside = ledger[ledger["outcome"] == "set_aside"].set_index("rule")["rows"]
    assert list(aside.index) == list(CUSTOMER_RULES)  # every rule listed, in order
    assert aside.to_dict() == {r: int((quarantine["reason"] == r).sum()) for r in CUSTOMER_RULES}
    kept = int(ledger.loc[ledger["outcome"] != "set_aside", "rows"].sum())
    assert kept == len(features) == features["customer_id"].nunique()
    for combination in ledger.loc[ledger["outcome"] == "fixed", "rule"]:
        assert set(combination.split("+")) <= set(FIXES)


# -- the three shapes -----------------------------------------------------------------------------

def test_an_rfm_table_with_sums_and_extras(tmp_path):
    src = source(tmp_path, CAMPAIGN, CAMPAIGN_MAP, CAMPAIGN_SUMS)
    result = load_customer_level(src, as_of=dt.date(2014, 10, 4))
    f = result.features.set_index("customer_id")
    assert list(result.features.columns[:len(FEATURE_COLUMNS)]) == list(FEATURE_COLUMNS)
    assert f.loc["5524", "orders"] == 12 and f.loc["5524", "revenue"] == 723.0
    assert f.loc["2174", "recency_days"] == 38
    assert f["orders"].dtype == "int64" and f["recency_days"].dtype == "int64"
    # the last purchase follows from recency and the as-of date; the first is not in the table
    assert f.loc["5324", "last_purchase"] == pd.Timestamp("2014-07-02")
    assert f["first_purchase"].isna().all() and f["tenure_days"].isna().all()
    assert f.loc["4141", "avg_order_value"] == pytest.approx(475 / 18)
    assert set(result.missing) == {"first_purchase", "tenure_days", "interval_days"}
    # orders in the last 90 days: none for a last purchase 94 days ago; a count recency cannot give otherwise
    assert f.loc["5324", "orders_recent"] == 0 and f.drop(index="5324")["orders_recent"].isna().all()
    # extras: numbers in the features (renamed per the map), everything in the customers table
    assert f.loc["6182", "income"] == 26646 and f.loc["6182", "Year_Birth"] == 1984
    assert result.extra_columns == ("Year_Birth", "income")
    customers = result.customers.set_index("customer_id")
    assert customers.loc["5324", "Education"] == "PhD"
    assert "MntWines" not in customers.columns and "Recency" not in customers.columns
    assert result.as_of == dt.date(2014, 10, 4) and result.as_of_from == "params"
    assert_ledger_adds_up(result, 6)
    assert result.quarantine.empty


def test_last_purchase_count_and_total(tmp_path):
    text = ("cust,first,last,n,total\n"
            "A,2024-01-10,2024-06-30,3,300.00\n"
            "B,2024/03/01,2024-03-01,1,49.90\n"
            "C,2023-12-01,2024-05-01,5,\"1,250.00\"\n")
    columns = {"customer_id": "cust", "first_purchase": "first", "last_purchase": "last", "orders": "n",
               "revenue": "total"}
    result = load_customer_level(source(tmp_path, text, columns))
    # no as_of given: the latest last purchase, and said so
    assert result.as_of == dt.date(2024, 6, 30) and result.as_of_from == "latest_last_purchase"
    assert "2024-06-30" in result.statements("en")[0] and "2024-06-30" in result.statements("zh")[0]
    f = result.features.set_index("customer_id")
    assert f["recency_days"].to_dict() == {"A": 0, "B": (dt.date(2024, 6, 30) - dt.date(2024, 3, 1)).days,
                                           "C": (dt.date(2024, 6, 30) - dt.date(2024, 5, 1)).days}
    assert f.loc["C", "tenure_days"] == (dt.date(2024, 6, 30) - dt.date(2023, 12, 1)).days
    assert f.loc["A", "interval_days"] == pytest.approx((dt.date(2024, 6, 30) - dt.date(2024, 1, 10)).days / 2)
    assert np.isnan(f.loc["B", "interval_days"])  # one order: no interval
    assert f.loc["C", "revenue"] == 1250.0
    assert result.missing == ()
    # B's one order is 122 days old: none in the last 90 days; A and C bought lately, but how often?
    assert f.loc["B", "orders_recent"] == 0 and f[["orders_recent"]].drop(index="B").isna().all().item()
    one_recent = load_customer_level(source(tmp_path, text.replace("2024/03/01,2024-03-01", "2024/06/01,2024-06-01"),
                                            columns, name="b.csv"))
    assert one_recent.features.set_index("customer_id").loc["B", "orders_recent"] == 1  # its only order
    fixed = result.ledger[result.ledger["outcome"] == "fixed"].set_index("rule")["rows"].to_dict()
    assert fixed == {"currency_text": 1, "date_format": 1}  # "1,250.00" and "2024/03/01"
    assert_ledger_adds_up(result, 3)


def test_a_stated_as_of_sets_later_purchases_aside(tmp_path):
    text = "cust,last,total\nA,2024-06-30,10\nB,2024-08-01,20\n"
    result = load_customer_level(source(tmp_path, text, {"customer_id": "cust", "last_purchase": "last",
                                                         "revenue": "total"}), as_of=dt.date(2024, 7, 31))
    assert result.features["customer_id"].tolist() == ["A"]
    assert result.features["recency_days"].tolist() == [31]
    assert result.quarantine["reason"].tolist() == ["after_as_of"]
    assert "2024-08-01" in result.quarantine["detail"][0]


def test_recency_without_as_of_leaves_the_dates_unknown(tmp_path):
    result = load_customer_level(source(tmp_path, CAMPAIGN, CAMPAIGN_MAP, CAMPAIGN_SUMS))
    assert result.as_of is None and result.as_of_from == "unknown"
    assert result.features["last_purchase"].isna().all()
    assert result.features["recency_days"].tolist() == [38, 26, 94, 58, 26, 16]  # sorted by customer id
    assert "last_purchase" in result.missing


def test_a_mall_customers_table_monetary_only(tmp_path):
    result = load_customer_level(source(tmp_path, MALL, MALL_MAP))
    f = result.features.set_index("customer_id")
    assert f.loc["2", "revenue"] == 81.0
    assert f["orders"].isna().all() and f["recency_days"].isna().all()
    assert {"orders", "recency_days", "first_purchase", "last_purchase", "tenure_days", "avg_order_value",
            "interval_days", "orders_recent"} == set(result.missing)
    assert result.as_of is None and result.as_of_from == "none"
    assert f.loc["9", "age"] == 64 and f.loc["9", "income"] == 19 and f["age"].dtype == "int64"
    assert result.customers.set_index("customer_id").loc["3", "Gender"] == "Female"
    en = " ".join(result.statements("en"))
    assert "the order count (F)" in en and "the recency (R)" in en and "repeat-buying" in en
    assert "购买次数（F）" in " ".join(result.statements("zh"))
    # the extra numbers can be clustered on (revenue last: clusters are numbered by it)
    clusterer = segkit.RFMClusterer(k_min=2, k_max=3, columns=("age", "income", "revenue"),
                                    random_state=0).fit(result.features)
    assert len(clusterer.labels_) == 10


def test_a_tag_rule_can_name_an_extra_column_the_map_names(tmp_path):
    senior = {"name": "senior", "en": "Senior", "zh": "年长客户", "when": "age >= 60"}
    raw = {"kind": "customers", "customers": {"path": str(tmp_path / "mall.csv"), "columns": MALL_MAP}}
    params = validate_params({"source": raw, "tags": [senior]})
    assert params.source.extra_columns == {"age": "Age from the customer table",
                                           "income": "Annual Income (k$) from the customer table"}
    unnamed = {**raw, "customers": {**raw["customers"], "columns": {"customer_id": "CustomerID", "revenue": "S"}}}
    with pytest.raises(ParamsError, match=r"age"):
        validate_params({"source": unnamed, "tags": [senior]})
    (tmp_path / "mall.csv").write_text(MALL, encoding="utf-8")
    result = load_customer_level(params.source)
    rules = segkit.compile_tags(params.tags, {**segkit.PROFILE_COLUMNS, **params.source.extra_columns})
    tagged = segkit.apply_tags(result.features, rules).set_index("customer_id")
    assert tagged.index[tagged["tag_senior"]].tolist() == ["9"]  # the one customer aged 64


# -- rows set aside ---------------------------------------------------------------------------------

def test_each_reason_to_set_a_row_aside():
    raw = frame(
        id=["A", "", "C", "C", "D", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M", "N", "P", "Q", "R"],
        first=["2024-01-01"] * 17 + ["2024-06-20", "2024-01-01"],
        last=["2024-06-01", "2024-06-01", "2024-06-01", "2024-06-01", "2024-06-01", "2024-06-02", "",
              "2024-13-45", "2024-06-01", "2024-06-01", "2024-06-01", "2024-06-01", "2024-06-01", "2024-06-01",
              "2024-06-01", "2024-06-01", "2024-09-01", "2024-06-01", "2024-06-01"],
        n=["2", "2", "2", "2", "2", "2", "2", "2", "", "two", "1.5", "2", "2", "2", "2", "-1", "2", "2", "0"],
        total=["10", "10", "10", "10", "10", "10", "10", "10", "10", "10", "10", "", "1,2O", "2e12", "-5",
               "10", "10", "10", "10"])
    columns = {"customer_id": "id", "first_purchase": "first", "last_purchase": "last", "orders": "n",
               "revenue": "total"}
    result = customer_level_table(raw, columns, as_of=dt.date(2024, 6, 30))
    reasons = result.quarantine.set_index("source_row")["reason"].to_dict()
    assert reasons == {3: "missing_customer_id", 5: "duplicate", 6: "duplicate_customer_id",
                       7: "duplicate_customer_id", 8: "missing_date", 9: "unreadable_date", 10: "missing_orders",
                       11: "unreadable_orders", 12: "unreadable_orders", 13: "missing_amount",
                       14: "unreadable_amount", 15: "implausible_amount", 16: "negative_value",
                       17: "negative_value", 18: "after_as_of", 19: "dates_out_of_order", 20: "no_orders"}
    assert result.features["customer_id"].tolist() == ["A", "C"]  # C's first row; its copy set aside
    details = result.quarantine.set_index("source_row")["detail"]
    assert details[5] == "same as row 4"
    assert details[6].startswith("customer D is on rows that differ (rows 6, 7)")
    assert details[12] == 'n "1.5" is not a whole number'  # the table's own column, as the map names it
    assert details[11] == 'n "two" is not a number; write it as a whole number, like 12'  # a count, not money
    assert details[14] == 'total "1,2O" is not a number; write it like 1234.50'
    from segkit.i18n import detail_text
    assert detail_text(details[11], "zh", {"orders": "n"}) == 'n "two" 不是数字；请写成整数，如 12'
    assert details[3] == "id is empty"
    assert details[16] == "total -5 is below zero" and details[17] == "n -1 is below zero"
    assert details[19] == "first 2024-06-20 is after last 2024-06-01"
    # the text as exported, beside the values read
    assert result.quarantine.set_index("source_row").loc[14, "raw_revenue"] == "1,2O"
    assert_ledger_adds_up(result, len(raw))
    # the page's sample table heads the values as written in the page's language, never raw_<name>
    from segkit.intake.cleaning import quarantine_sample
    from segkit.report.html import label_columns

    sample = quarantine_sample(result.quarantine, "zh")
    headers = list(label_columns(sample, "zh").columns)
    assert not [h for h in headers if str(h).startswith("raw_")], headers
    assert "最近购买日期（原值）" in headers and "销售额（原值）" in headers
    assert "Last purchase (as given)" in list(label_columns(quarantine_sample(result.quarantine, "en"), "en").columns)


def test_a_row_repeated_with_other_blanks_is_a_duplicate_not_a_conflict():
    raw = frame(id=["A", " A", "Ａ", "A", "B"], total=["10", "10 ", "１０", "11", "5"])
    result = customer_level_table(raw, {"customer_id": "id", "revenue": "total"})
    reasons = result.quarantine.set_index("source_row")["reason"].to_dict()
    # rows 3 and 4 repeat row 2 once blanks and full-width characters are read; row 5 says otherwise
    assert reasons == {3: "duplicate", 4: "duplicate", 2: "duplicate_customer_id", 5: "duplicate_customer_id"}
    assert_ledger_adds_up(result, 5)
    reasons = customer_level_table(raw.iloc[:3], {"customer_id": "id", "revenue": "total"}).quarantine["reason"]
    assert reasons.tolist() == ["duplicate", "duplicate"]  # without row 5, customer A is row 2


def test_missing_and_unreadable_recency_and_a_part_of_a_sum():
    raw = frame(id=["A", "B", "C", "D"], r=["5", "", "x", "-2"], web=["1", "2", "", "1"], shop=["1", "1", "1", "1"])
    result = customer_level_table(raw, {"customer_id": "id", "recency_days": "r"}, {"orders": ["web", "shop"]})
    reasons = result.quarantine.set_index("source_row")["reason"].to_dict()
    assert reasons == {3: "missing_recency", 4: "unreadable_recency", 5: "negative_value"}
    raw.loc[2, "r"] = "7"
    result = customer_level_table(raw, {"customer_id": "id", "recency_days": "r"}, {"orders": ["web", "shop"]})
    aside = result.quarantine.set_index("source_row")
    assert aside.loc[4, "reason"] == "missing_orders" and aside.loc[4, "detail"] == 'orders part "web" is empty'
    assert aside.loc[4, "raw_web"] == "" and aside.loc[4, "raw_shop"] == "1"
    assert_ledger_adds_up(result, 4)


def test_typed_files_infinite_and_empty_numbers(tmp_path):
    path = tmp_path / "customers.parquet"
    pd.DataFrame({"id": ["A", "B", "C", "D"], "spend": [10.0, np.inf, np.nan, 2.5],
                  "n": [1.0, 2.0, 3.0, np.inf]}).to_parquet(path)
    src = validate_params({"source": {"kind": "customers", "customers": {
        "path": str(path), "columns": {"customer_id": "id", "revenue": "spend", "orders": "n"}}}}).source
    result = load_customer_level(src)
    reasons = result.quarantine.set_index("source_row")["reason"].to_dict()
    assert reasons == {2: "non_finite_amount", 3: "missing_amount", 4: "unreadable_orders"}
    assert result.features["revenue"].tolist() == [10.0]
    assert_ledger_adds_up(result, 4)


@pytest.mark.parametrize("spend, words", [([True, False], "true/false values"), ([[1, 2], [3]], "lists or records")])
def test_typed_columns_that_hold_no_numbers_are_refused(tmp_path, spend, words):
    path = tmp_path / "customers.parquet"
    pd.DataFrame({"id": ["A", "B"], "spend": spend}).to_parquet(path)
    src = validate_params({"source": {"kind": "customers", "customers": {
        "path": str(path), "columns": {"customer_id": "id", "revenue": "spend"}}}}).source
    with pytest.raises(DataError, match=rf'column "spend" \(source.customers.columns.revenue\) holds {words}, not numbers'):
        load_customer_level(src)


def test_every_row_set_aside_is_one_clear_error_with_the_quarantine():
    raw = frame(id=["", " "], total=["1", "2"])
    with pytest.raises(NoCustomerRows, match=r"all 2 rows were set aside \(missing_customer_id: 2\)") as err:
        customer_level_table(raw, {"customer_id": "id", "revenue": "total"}, origin="c.csv")
    assert len(err.value.result.quarantine) == 2 and int(err.value.result.ledger["rows"].sum()) == 2


def test_extra_columns_numbers_text_and_codes():
    raw = frame(id=["A", "B", "C"], total=["1", "2", "3"], score=["4.5", "", "3"], zip=["00123", "20500", "31000"],
                joined=["2012-09-04", "2013-03-08", "x"], level=[" gold", "silver", None])
    result = customer_level_table(raw, {"customer_id": "id", "revenue": "total"})
    f = result.features.set_index("customer_id")
    assert f["score"].tolist()[0] == 4.5 and np.isnan(f.loc["B", "score"])  # a number, missing where empty
    assert result.extra_columns == ("score",)  # leading zeros make zip a code; dates and words stay text
    customers = result.customers.set_index("customer_id")
    assert customers.loc["A", "zip"] == "00123" and customers.loc["A", "level"] == "gold"
    assert customers.loc["C", "joined"] == "x"
    # trimming " gold" is a fix of its row, counted in the ledger
    assert result.ledger.set_index("rule").loc["trimmed_blanks", "rows"] == 1


def test_the_input_frame_is_not_changed():
    raw = frame(id=[" A", "B"], total=["¥1,000.50", "2"], age=["30", "40"])
    before = raw.copy()
    customer_level_table(raw, {"customer_id": "id", "revenue": "total"})
    pd.testing.assert_frame_equal(raw, before)


# -- exact money --------------------------------------------------------------------------------------

def test_money_is_exact_to_the_minor_unit():
    raw = frame(id=["A", "B", "C", "D"], wine=["0.1", "2.675", "0.125", "1234567890.07"],
                fruit=["0.2", "0", "0.005", "0.01"])
    result = customer_level_table(raw, {"customer_id": "id"}, {"revenue": ["wine", "fruit"]})
    revenue = result.features.set_index("customer_id")["revenue"]

    def exact(*parts):  # each part rounded once, half away from zero, then added
        return float(sum(Decimal(p).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) for p in parts))

    assert revenue["A"] == exact("0.1", "0.2") == 0.3  # not 0.30000000000000004
    assert revenue["B"] == exact("2.675", "0") == 2.68  # as written, not the double below it
    assert revenue["C"] == exact("0.125", "0.005") == 0.14
    assert revenue["D"] == exact("1234567890.07", "0.01")
    yen = customer_level_table(frame(id=["A"], total=["1.5"]), {"customer_id": "id", "revenue": "total"},
                               minor_unit=0)
    assert yen.features["revenue"].tolist() == [2.0]


# -- files and names ------------------------------------------------------------------------------------

def test_chinese_column_names_in_a_gbk_file(tmp_path):
    text = ("客户编号,最近购买天数,购买次数,消费金额,年龄,城市\n"
            "C001,12,3,\"￥1,234.50\",35,上海\n"
            "C002,200,1,88,28,北京\n")
    columns = {"customer_id": "客户编号", "recency_days": "最近购买天数", "orders": "购买次数",
               "revenue": "消费金额", "年龄": "年龄"}
    result = load_customer_level(source(tmp_path, text, columns, encoding="gbk"))
    f = result.features.set_index("customer_id")
    assert f.loc["C001", "revenue"] == 1234.5 and f.loc["C002", "年龄"] == 28
    assert result.customers.set_index("customer_id").loc["C001", "城市"] == "上海"
    assert_ledger_adds_up(result, 2)


def test_a_mapped_column_that_is_not_there_names_the_key(tmp_path):
    src = source(tmp_path, MALL, {**MALL_MAP, "revenue": "Spending Score"})
    with pytest.raises(DataError, match=r'column "Spending Score" \(source.customers.columns.revenue\) is not '
                                        r'there; did you mean "Spending Score \(1-100\)"\?'):
        load_customer_level(src)
    src = source(tmp_path, CAMPAIGN, CAMPAIGN_MAP, {"orders": ["NumWebPurchase"]})
    with pytest.raises(DataError, match=r"source.customer_level.sums.orders"):
        load_customer_level(src)


def test_an_unmapped_column_with_a_segkit_name_is_refused(tmp_path):
    text = "ID,Spend,orders\nA,10,3\n"
    with pytest.raises(DataError, match=r'the column "orders" is not mapped.*map it in source.customers.columns'):
        load_customer_level(source(tmp_path, text, {"customer_id": "ID", "revenue": "Spend"}))


# -- params ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, message", [
    ({"kind": "customers"}, r"kind 'customers' needs source.customers, the table with one row per customer"),
    ({"kind": "customers", "customers": {"path": "c.csv", "columns": {"recency_days": "R"}}},
     r"needs source.customers.columns.customer_id"),
    ({"kind": "customers", "customers": {"path": "c.csv", "columns": {"customer_id": "ID", "age": "Age"}}},
     r"needs at least one of recency_days \(or last_purchase\), orders, revenue"),
    ({"kind": "customers", "customers": {"path": "c.csv", "columns": {
        "customer_id": "ID", "recency_days": "R", "last_purchase": "L"}}}, r"maps both recency_days and last_purchase"),
    ({"kind": "customers", "customers": {"path": "c.csv", "columns": {
        "customer_id": "ID", "revenue": "S", "Annual Income": "I"}}}, r"'Annual Income' must be a single word"),
    ({"kind": "customers", "customers": {"path": "c.csv", "columns": {
        "customer_id": "ID", "revenue": "S", "tenure_days": "T"}}}, r"columns.tenure_days: segkit computes"),
    ({"kind": "customers", "customers": {"path": "c.csv", "columns": {
        "customer_id": "ID", "revenue": "S", "recency": "R"}}}, r"columns.recency: did you mean recency_days\?"),
    ({"kind": "customers", "customers": {"path": "c.csv", "columns": {
        "customer_id": "ID", "revenue": "S", "first_purchse": "F"}}}, r"did you mean first_purchase\?"),
    ({"kind": "customers", "customers": {"path": "c.csv", "columns": {"customer_id": "ID", "orders": "N"}},
      "customer_level": {"sums": {"orders": ["A", "B"]}}}, r"orders is given both in source.customers.columns"),
    ({"kind": "customers", "customers": {"path": "c.csv", "columns": {"customer_id": "ID", "revenue": "A"}},
      "customer_level": {"sums": {"orders": ["A", "B"]}}}, r'column "A" is both mapped'),
    ({"kind": "customers", "customers": {"path": "c.csv", "columns": {"customer_id": "ID"}},
      "customer_level": {"sums": {"frequency": ["A"]}}}, r"sums.frequency.*must be one of 'orders' or 'revenue'"),
    ({"kind": "customers", "customers": {"path": "c.csv", "columns": {"customer_id": "ID"}},
      "customer_level": {"sums": {"orders": []}}}, r"sums.orders lists no column"),
    ({"kind": "customers", "customers": {"path": "c.csv", "columns": {"customer_id": "ID", "revenue": "S"}},
      "transactions": {"path": "t.csv"}}, r"kind 'customers' reads only source.customers"),
    ({"kind": "file", "transactions": {"path": "t.csv"}, "customer_level": {}},
     r"customer_level applies to kind 'customers' only"),
])
def test_params_refuse_an_incomplete_customer_level_source(raw, message):
    with pytest.raises(ParamsError, match=message):
        validate_params({"source": raw})


def test_the_shipped_example_runs_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = ROOT / "params" / "customers-example.yaml"
    params = load_params(path)
    assert params.source.kind == "customers"
    result = load_customer_level(params.source, params_path=path, as_of=params.as_of_date,
                                 minor_unit=params.currency.minor_unit)
    assert len(result.features) > 20 and result.as_of == params.as_of_date
    assert not {"orders", "revenue", "recency_days"} & set(result.missing)
    assert_ledger_adds_up(result, len(result.features) + len(result.quarantine))


# -- the later stages read what is saved ------------------------------------------------------------------

def test_saved_stages_feed_rfm_tags_ranking_clustering_and_the_case_study(tmp_path):
    src = source(tmp_path, CAMPAIGN, CAMPAIGN_MAP, CAMPAIGN_SUMS)
    result = load_customer_level(src, as_of=dt.date(2014, 10, 4))
    data_dir = tmp_path / "data"
    save_stage(data_dir, repeat_summary=pd.DataFrame({"x": [1]}))  # left from an earlier transaction run
    info = customer_level_stage(result, data_dir)
    assert not (data_dir / "repeat_summary.parquet").exists()
    run = load_run_info(data_dir)
    assert run["source_kind"] == "customers" and run["as_of"] == dt.date(2014, 10, 4)
    assert run["needs_transactions"] == list(TRANSACTION_SECTIONS) == info["needs_transactions"]
    assert set(run["missing_features"]) == set(result.missing)

    # what 02_rfm does
    features = load_stage(data_dir, "features")
    scorer = segkit.RFMScorer(3).fit(features)
    segments, _ = segkit.segment_customers(features, scorer, "rfm11", "cn8")
    profile = segkit.customer_profile(features, segments, load_stage(data_dir, "customers", optional=True),
                                      load_stage(data_dir, "surveys", optional=True))
    assert profile.set_index("customer_id").loc["5324", "Education"] == "PhD"  # a dimension from the table
    rules = segkit.compile_tags(DEFAULT_TAGS, segkit.PROFILE_COLUMNS)
    # loyalty (tenure) is missing for everyone: the ranking uses the other criteria
    profile = add_tags_and_rank(profile, rules, {"frequency": 0.3, "amount": 0.7, "loyalty": 0.2})
    assert sorted(profile["rank"]) == list(range(1, 7))
    best = profile.loc[profile["rank"] == 1, "customer_id"].item()
    assert best == "5524"  # the top spend (723) with the fourth-highest order count
    assert profile.set_index("customer_id").loc["4141", "tag_frequent"]  # 18 orders, the most
    segkit.save_stage(data_dir, segments=segments, profile=profile)

    # what 04_clustering does
    clusterer = segkit.RFMClusterer(k_min=2, k_max=3, random_state=0).fit(features)
    named = segkit.name_clusters(segkit.describe_clusters(features, clusterer.labels_), "en")
    clusters = segkit.cluster_assignments(features, clusterer.labels_, named)
    assert len(clusters) == 6

    # what 08_case_study does
    findings = segkit.case_findings(features, load_stage(data_dir, "segments"), clusters, top=0.2)
    assert findings["customers"] == 6
    assert findings["revenue"] == pytest.approx(723 + 12 + 475 + 15 + 216 + 562)


def test_surveys_beside_a_customer_table_reach_the_profile(tmp_path):
    (tmp_path / "answers.csv").write_text("cust,score,nps\n2,5,10\n3,2,3\n", encoding="utf-8")
    (tmp_path / "mall.csv").write_text(MALL, encoding="utf-8")
    params_file = tmp_path / "p.yaml"
    params_file.write_text(yaml.safe_dump({"source": {
        "kind": "customers", "customers": {"path": "mall.csv", "columns": MALL_MAP},
        "surveys": {"path": "answers.csv", "columns": {"customer_id": "cust"}}}}), encoding="utf-8")
    params = load_params(params_file)
    result = load_customer_level(params.source, params_path=params_file)  # paths relative to the params file
    customer_level_stage(result, tmp_path / "data")
    surveys = load_stage(tmp_path / "data", "surveys")
    assert surveys.set_index("customer_id")["nps"].to_dict() == {"2": 10, "3": 3}
    features = load_stage(tmp_path / "data", "features")
    segments = pd.DataFrame({"customer_id": features["customer_id"], "segment": "x"})
    profile = segkit.customer_profile(features, segments, load_stage(tmp_path / "data", "customers"), surveys)
    profile = profile.set_index("customer_id")
    assert profile.loc["3", "satisfaction"] == "unsatisfied" and profile.loc["2", "Gender"] == "Male"


def test_the_stage_saves_the_quarantine_and_ledger(tmp_path):
    raw = frame(id=["A", "", "B"], total=["5", "6", "7"])
    result = customer_level_table(raw, {"customer_id": "id", "revenue": "total"})
    customer_level_stage(result, tmp_path)
    assert load_stage(tmp_path, "quarantine")["reason"].tolist() == ["missing_customer_id"]
    assert int(load_stage(tmp_path, "ledger")["rows"].sum()) == 3
    run = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))
    assert "as_of" not in run and run["as_of_from"] == "none"
    assert set(STAGE_FILES) >= {"features", "quarantine", "ledger", "customers"}


def test_every_new_rule_and_sentence_has_both_languages():
    from segkit.intake.customer_level import NEW_RULES

    from segkit.i18n import messages, rule_name

    catalogue = messages()
    assert {f"rule.{rule}" for rule in NEW_RULES} <= set(TEXT_KEYS)
    for key in TEXT_KEYS:
        assert catalogue[key]["en"] and catalogue[key]["zh"] and catalogue[key]["en"] != catalogue[key]["zh"], key
    assert rule_name("no_orders", "zh") == "购买次数为 0（从未购买）"


def test_the_documented_example_is_valid_and_every_rule_is_documented():
    import re

    text = (ROOT / "docs" / "customer_tables.md").read_text(encoding="utf-8")
    block = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)[0]
    params = validate_params(yaml.safe_load(block))
    assert params.source.kind == "customers" and params.source.customer_level.sums["orders"][0] == "NumWebPurchases"
    for rule in CUSTOMER_RULES:
        assert f"`{rule}`" in text, rule


def test_revenue_in_another_currency_is_noted_and_kept():
    """A customer table whose revenue is written with $ and € in a CNY run: the rows are kept as
    written (not converted), and one note per column says which signs, how many, and what to do, in
    en and zh, naming the table's own column; ¥ and 元 in a CNY run, or no currency stated, say nothing."""
    from segkit.intake.customer_level import customer_level_table
    from segkit.report.html import say_each

    raw = pd.DataFrame({"source_row": [2, 3, 4, 5], "ID": ["a", "b", "c", "d"], "Recency": ["5", "40", "41", "7"],
                        "Spend": ["$10.10", "¥20.20", "€3", "$4"], "Gift": ["1", "2", "3元", "4"]})
    columns = {"customer_id": "ID", "recency_days": "Recency"}
    got = customer_level_table(raw, columns, {"revenue": ["Spend", "Gift"]}, currency_code="CNY")
    assert got.features["revenue"].tolist() == [11.1, 22.2, 6.0, 8.0] and got.ledger.loc[
        got.ledger["outcome"] == "set_aside", "rows"].sum() == 0
    assert [(n["column"], n["signs"], n["rows"], n["example"], n["code"]) for n in got.notes] == [
        ("Spend", "$, €", 3, "$10.10", "CNY")]
    english = say_each(got.messages("en"), "en").markup
    assert 'The Spend column holds 3 amounts written with $, € (like &quot;$10.10&quot;)' in english
    assert "currency.code: CNY" in english and "not converted" in english
    assert "Spend 列有 3 个金额带有 $, € 符号" in say_each(got.messages("zh"), "zh").markup
    assert customer_level_table(raw, columns, {"revenue": ["Spend", "Gift"]}).notes == ()
    assert customer_level_table(raw, columns, {"revenue": ["Gift"]}, currency_code="CNY").notes == ()


def test_a_customer_tables_total_line_is_set_aside():
    from segkit.intake.customer_level import customer_level_table

    raw = pd.DataFrame({"source_row": [2, 3, 4], "ID": ["a", "b", "合计"], "Recency": ["5", "40", "5"],
                        "Spend": ["10", "20", "30"]})
    got = customer_level_table(raw, {"customer_id": "ID", "recency_days": "Recency", "revenue": "Spend"})
    assert got.features["customer_id"].tolist() == ["a", "b"] and got.features["revenue"].sum() == 30.0
    assert got.quarantine["reason"].tolist() == ["totals_row"]
    assert got.ledger.set_index("rule").loc["totals_row", "rows"] == 1


def test_a_month_before_the_tables_export_is_refused_not_run_without_its_best_customers():
    """A customer table is one picture: --month 2025-06 on a table exported at the end of 2025 would set
    aside every customer who bought since, the most active first; the month of the export runs."""
    from conftest import ROOT

    params_path = ROOT / "params" / "customers-example.yaml"
    early = segkit.load_params(params_path, ["as_of=null", "month=2025-06"])
    with pytest.raises(DataError) as refused:
        segkit.load_customer_level(early.source, params_path, as_of=early.as_of_date, month=early.month)
    message = str(refused.value)
    assert "a customer table is one picture, taken when it was exported" in message
    assert "bought after the end of --month 2025-06 (2025-06-30)" in message and "run --month 2025-12" in message
    late = segkit.load_params(params_path, ["as_of=null", "month=2027-06"])
    with pytest.raises(DataError, match=r"the table's latest last purchase is 2025-12-31, before --month 2027-06 "
                                        r"starts: .* run --month 2025-12, the month of the export"):
        segkit.load_customer_level(late.source, params_path, as_of=late.as_of_date, month=late.month)
    export = segkit.load_params(params_path, ["as_of=null", "month=2025-12"])
    whole = segkit.load_customer_level(export.source, params_path, as_of=export.as_of_date, month=export.month)
    stated = segkit.load_customer_level(early.source, params_path, as_of=early.as_of_date)  # as_of stated: as before
    assert len(whole.features) > len(stated.features) > 0
