"""Chinese reports show what is wrong with each set-aside row in Chinese: every detail the cleaning
rules write (transactions and customer-level tables) goes through segkit/locale/details.yaml, and no
English word is left but the params keys a user types, the data's own (quoted) values and the
source's own column names, which a detail uses where the column map is known and which stay as the
source writes them."""

import datetime as dt
import re

import pandas as pd

from segkit.i18n import detail_text
from segkit.intake.cleaning import clean_transactions, quarantine_sample
from segkit.intake.sources import to_canonical
from segkit.params import Cleaning

# the words a Chinese detail may keep: params keys the user types (cleaning.max_amount, min_date, ...)
KEYS = re.compile(r"cleaning\.[a-z_.]+(: [a-z]+)?|min_date|as_of|day_first|e[+-]\d+")
# A file's own headers, as hostile as headers get: the words of the rules themselves (customer, part,
# amount, is empty), a quote, parentheses and regex characters, blanks, Chinese.
HEADERS = {"customer_id": 'customer "no." (part)', "order_id": "Order No.", "ordered_at": "Order Date",
           "amount": "实付金额 [amount]+ is empty", "category": "category*"}
RULES = Cleaning(start_date=dt.date(2023, 6, 1), non_product=["postage"],
                 returns={"order_prefix": "R", "action": "drop"},
                 outliers={"method": "quantile", "threshold": 0.95, "action": "set_aside"})


def english_left(text: str, headers=()) -> list[str]:
    for header in sorted(headers, key=len, reverse=True):  # the source's own names are the user's words
        text = re.sub(r"(?<![A-Za-z0-9_])" + re.escape(header) + r"(?![A-Za-z0-9_])", "", text)
    unquoted = re.sub(r'"[^"]*"', "", text)
    unquoted = KEYS.sub("", unquoted)
    return re.findall(r"[A-Za-z]{2,}", unquoted.replace("ID", ""))


def assert_reads_in_chinese(details, columns=None) -> None:
    """Each detail in Chinese: translated, no English word left, the data's values and the source's
    own column names kept as they are (a detail names a column by its start, or beside another)."""
    headers = [name for ours, name in (columns or {}).items() if name != ours]
    for detail in details:
        zh = detail_text(detail, "zh", columns)
        assert zh != detail and not english_left(zh, headers), (detail, zh)
        named = max([h for h in headers if detail.startswith(h + " ")], key=len, default="")
        assert zh.startswith(named), (detail, zh)
        bare = detail[len(named):]
        for header in headers:
            for joint in (" × ", " or ", " is after "):
                bare = bare.replace(f"{joint}{header} ", joint)
        for value in re.findall(r'"[^"]*"', bare):  # the data's own values stay as they came
            assert value in zh, (detail, zh)


def hostile_transactions() -> pd.DataFrame:
    rows = [("a", "o1", "2024-01-05", "10", ""), ("", "o2", "2024-01-05", "10", ""), ("b", "o3", "", "10", ""),
            ("c", "o4", "2024-13-45", "10", ""), ("c", "o5", "0000-01-01", "10", ""), ("d", "o6", "05/06/2024", "10", ""),
            ("d", "o7", "2024-01-06", "", ""), ("e", "o8", "2024-01-07", "12,3,4", ""), ("e", "o9", "2024-01-08", "inf", ""),
            ("f", "o10", "2024-01-09", "1e300", ""), ("f", "o11", "1980-01-01", "5", ""), ("g", "o12", "2024-01-10", "10", ""),
            ("g", "o12", "2024-01-10", "10", ""), ("h", "o13", "2024-02-01", "-5", ""), ("i", "o14", "2024-02-02", "7", "postage"),
            ("j", "R15", "2024-02-03", "-7", ""), ("k", "o16", "2025-05-05", "3", ""), ("l", "o17", "2023-01-01", "3", ""),
            ("m", "o18", "2024-03-01", "99999", ""), ("n", "o19", "2024-03-02", "8", "books"), ("n", "o19", "2024-03-02", "8", "books "),
            ("Grand Total", "", "2024-03-31", "400", "")]
    rows += [(f"z{i}", f"p{i}", "2024-03-05", str(10 + i), "books") for i in range(30)]
    frame = pd.DataFrame(rows, columns=["customer_id", "order_id", "ordered_at", "amount", "category"])
    frame.insert(0, "source_row", range(2, len(frame) + 2))
    return frame


def as_the_file_names_them(canonical: pd.Series, columns: dict[str, str]) -> pd.Series:
    """segkit's details with the column each starts with (or names beside another) as the file names
    it: what a detail is once the column map is known, the rest as it was."""
    def swapped(detail):
        for ours, theirs in sorted(columns.items(), key=lambda item: -len(item[0])):
            if detail.startswith(ours + " "):
                detail = theirs + detail[len(ours):]
                break
        for ours, theirs in columns.items():
            for joint in (" × ", " or ", " is after "):
                detail = detail.replace(f"{joint}{ours} ", f"{joint}{theirs} ")
        return detail
    return canonical.map(swapped)


def test_every_transaction_detail_reads_in_chinese():
    result = clean_transactions(None, hostile_transactions(), as_of=dt.date(2024, 12, 31), rules=RULES)
    quarantine = result.quarantine
    assert quarantine["reason"].nunique() >= 14  # the corpus reaches the rules
    assert quarantine.attrs["columns"] == {}  # a frame with no column map: segkit's names
    assert_reads_in_chinese(quarantine["detail"].dropna().unique())
    shown = quarantine_sample(quarantine, "zh", per_reason=50)
    assert shown["detail"].map(lambda d: not isinstance(d, str) or not english_left(d)).all()
    assert quarantine_sample(quarantine, "en", per_reason=50)["detail"].dropna().isin(quarantine["detail"]).all()


def test_every_transaction_detail_names_the_files_own_header_and_keeps_it_in_chinese():
    """The same rows under a file's own headers (the column map known, as a file's intake gives it):
    every detail is segkit's with the file's name in the column's place, and reads in Chinese with
    that name as the file writes it."""
    rows = hostile_transactions()
    theirs = to_canonical(rows.rename(columns=HEADERS), HEADERS, origin="orders.csv")
    result = clean_transactions(None, theirs, as_of=dt.date(2024, 12, 31), rules=RULES)
    ours = clean_transactions(None, rows, as_of=dt.date(2024, 12, 31), rules=RULES)
    assert result.quarantine["reason"].tolist() == ours.quarantine["reason"].tolist()
    expected = as_the_file_names_them(ours.quarantine["detail"], HEADERS)
    assert result.quarantine["detail"].tolist() == expected.tolist()
    named = result.quarantine["detail"].dropna()
    assert named.str.startswith(tuple(HEADERS.values())).sum() >= 12  # most rules name a column
    assert result.quarantine.attrs["columns"] == HEADERS
    assert_reads_in_chinese(named.unique(), HEADERS)
    shown = quarantine_sample(result.quarantine, "zh", per_reason=50)["detail"].dropna()
    assert not shown.map(lambda d: english_left(d, HEADERS.values())).any()
    assert shown.str.startswith(tuple(HEADERS.values())).sum() == named.str.startswith(tuple(HEADERS.values())).sum()


def test_an_amount_of_quantity_times_price_names_both_columns_as_the_file_does():
    columns = {"customer_id": "Kunde", "ordered_at": "Datum", "quantity": "Menge (Stk.)", "unit_price": "单价 / price"}
    rows = pd.DataFrame({"source_row": range(2, 7), "customer_id": list("abcde"), "ordered_at": ["2024-01-05"] * 5,
                         "quantity": ["2", "x", "1e300", "", "3"], "unit_price": ["5", "5", "1e300", "4", "n/a"]})
    theirs = to_canonical(rows.rename(columns=columns), columns)
    result = clean_transactions(None, theirs, as_of=dt.date(2024, 12, 31))
    ours = clean_transactions(None, rows, as_of=dt.date(2024, 12, 31))
    details = result.quarantine["detail"]
    assert details.tolist() == as_the_file_names_them(ours.quarantine["detail"], columns).tolist()
    assert "Menge (Stk.) × 单价 / price 1e300 × 1e300 is above cleaning.max_amount 1e+12 in size: an implausible " \
           "line, never summed" in set(details)
    assert_reads_in_chinese(details.dropna().unique(), columns)


def test_every_engine_detail_of_a_typed_file_keeps_the_files_names_in_chinese(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ledger_check import file_source
    from segkit.intake.sources import load_source

    def typed(text, kind):  # the value a typed file holds (None where the text is no such value)
        try:
            return dt.date.fromisoformat(text) if kind == "date" else float(text)
        except ValueError:
            return None

    rows = hostile_transactions()
    dates = [typed(d, "date") for d in rows["ordered_at"]]
    amounts = [typed(a, "number") for a in rows["amount"]]
    pq.write_table(pa.table({HEADERS["customer_id"]: pa.array(rows["customer_id"].replace("", None), pa.string()),
                             HEADERS["order_id"]: pa.array(rows["order_id"], pa.string()),
                             HEADERS["ordered_at"]: pa.array(dates, pa.date32()),
                             HEADERS["amount"]: pa.array(amounts, pa.float64()),
                             HEADERS["category"]: pa.array(rows["category"], pa.string())}), tmp_path / "tx.parquet")
    intake = load_source(file_source(tmp_path / "tx.parquet", columns=HEADERS))
    assert not isinstance(intake.transactions, pd.DataFrame)  # read in place: the engine's details
    result = clean_transactions(intake.engine, intake.transactions, rules=RULES)
    quarantine = result.quarantine
    assert {"non_finite_amount", "implausible_amount", "implausible_past_date", "missing_date", "totals_row",
            "outlier", "non_product"} <= set(quarantine["reason"])
    named = quarantine["detail"].dropna()
    assert named.str.startswith(tuple(HEADERS.values())).sum() >= 9
    assert_reads_in_chinese(named.unique(), quarantine.attrs["columns"])


def test_every_amount_detail_reads_in_chinese_under_either_decimal_mark():
    texts = ["69,21", "12.50", "n/a", "1.234,50", "1,234.50", "7"]
    frame = pd.DataFrame({"source_row": range(2, 8), "customer_id": list("abcdef"),
                          "ordered_at": ["2024-01-05"] * 6, "amount": texts})
    for decimal in (".", ","):
        result = clean_transactions(None, frame, as_of=dt.date(2024, 12, 31), rules=Cleaning(decimal=decimal))
        details = result.quarantine["detail"].dropna().unique()
        assert len(details) >= 2
        assert_reads_in_chinese(details)
        named = {"amount": "Betrag (€)"}
        theirs = to_canonical(frame.rename(columns=named), named)
        result = clean_transactions(None, theirs, as_of=dt.date(2024, 12, 31), rules=Cleaning(decimal=decimal))
        assert result.quarantine["detail"].str.startswith('Betrag (€) "').all()
        assert_reads_in_chinese(result.quarantine["detail"].unique(), named)


def test_every_customer_table_detail_reads_in_chinese(tmp_path):
    from segkit.intake.customer_level import customer_level_table

    raw = pd.DataFrame({
        "source_row": range(2, 22),
        "id": ["a", "", "b", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "Total", "o", "a", "p",
               "q"],
        "last": ["2024-05-01", "2024-05-01", "2024-05-01", "2024-06-01", "2024-13-01", "2024-05-01", "2024-05-01",
                 "2025-02-01", "2024-01-01", "2024-05-01", "2024-01-01", "2024-05-01", "", "2024-05-01",
                 "2024-05-01", "2024-05-01", "2024-05-01", "2024-05-01", "2024-05-01", "2024-05-01"],
        "first": ["2024-01-01"] * 8 + ["2024-03-01", "2024-01-01", "2024-03-01"] + ["2024-01-01"] * 5
                 + ["2024-13-01", "2024-01-01", "2024-01-01", "2024-01-01"],
        "n": ["3", "3", "3", "4", "3", "2.5", "0", "3", "3", "-2", "3", "-2", "3", "", "3", "3", "3", "3", "3", "3"],
        "total": ["10", "10", "10", "10", "10", "10", "10", "10", "inf", "1e300", "10", "10", "10", "10", "", "10",
                  "10", "10", "-5", "10"],
    })
    columns = {"customer_id": "id", "last_purchase": "last", "first_purchase": "first", "orders": "n",
               "revenue": "total"}
    # the table's own names (kept as they are), and segkit's own names (translated)
    for names in (columns, {ours: ours for ours in columns}):
        table = raw.rename(columns={theirs: names[ours] for ours, theirs in columns.items()})
        result = customer_level_table(table, names, as_of=dt.date(2024, 12, 31))
        details = result.quarantine["detail"].dropna().unique()
        assert result.quarantine["reason"].nunique() >= 14  # the corpus reaches the rules
        assert result.quarantine.attrs["columns"] == names
        assert_reads_in_chinese(details, names)
        assert set(details) >= {f"{names['customer_id']} is empty", f"{names['orders']} -2 is below zero",
                                f"{names['first_purchase']} 2024-03-01 is after {names['last_purchase']} 2024-01-01"}
    shown = quarantine_sample(result.quarantine, "zh", per_reason=50)["detail"]
    assert "首次购买日期 2024-03-01 晚于最近购买日期 2024-01-01" in set(shown)  # no blank between Chinese words


def test_no_blank_between_a_column_name_and_the_chinese_words_after_it():
    detail = "{} is zero or negative and not marked as a return"
    assert detail_text(detail.format("amount"), "zh") == "金额为零或负数，且未标记为退货"
    assert detail_text(detail.format("实付金额"), "zh", {"amount": "实付金额"}) == "实付金额为零或负数，且未标记为退货"
    assert detail_text(detail.format("Paid"), "zh", {"amount": "Paid"}) == "Paid 为零或负数，且未标记为退货"
    # a source's own name is kept as written, blanks inside it too
    assert detail_text("实付 金额 is empty", "zh", {"amount": "实付 金额"}) == "实付 金额为空"
    assert detail_text("customer_id is empty", "zh") == "客户ID 为空"
    assert detail_text('amount "x" is not a number; write it like 1234.50', "zh") == '金额 "x" 不是数字；请写成 1234.50 的形式'
