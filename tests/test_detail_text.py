"""Chinese reports show what is wrong with each set-aside row in Chinese: every detail the cleaning
rules write (transactions and customer-level tables) goes through segkit/locale/details.yaml, and no
English word is left but the params keys a user types and the data's own (quoted) values."""

import datetime as dt
import re

import pandas as pd

from segkit.i18n import detail_text
from segkit.intake.cleaning import clean_transactions, quarantine_sample
from segkit.params import Cleaning

# the words a Chinese detail may keep: params keys the user types (cleaning.max_amount, min_date, ...)
KEYS = re.compile(r"cleaning\.[a-z_.]+(: [a-z]+)?|min_date|as_of|day_first|e[+-]\d+")


def english_left(text: str) -> list[str]:
    unquoted = re.sub(r'"[^"]*"', "", text)
    unquoted = KEYS.sub("", unquoted)
    return re.findall(r"[A-Za-z]{2,}", unquoted.replace("ID", ""))


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


def test_every_transaction_detail_reads_in_chinese():
    rules = Cleaning(start_date=dt.date(2023, 6, 1), non_product=["postage"],
                     returns={"order_prefix": "R", "action": "drop"},
                     outliers={"method": "quantile", "threshold": 0.95, "action": "set_aside"})
    result = clean_transactions(None, hostile_transactions(), as_of=dt.date(2024, 12, 31), rules=rules)
    quarantine = result.quarantine
    assert quarantine["reason"].nunique() >= 14  # the corpus reaches the rules
    for detail in quarantine["detail"].dropna().unique():
        zh = detail_text(detail, "zh")
        assert zh != detail and not english_left(zh), (detail, zh)
        for value in re.findall(r'"[^"]*"', detail):  # the data's own values stay as they came
            assert value in zh
    shown = quarantine_sample(quarantine, "zh", per_reason=50)
    assert shown["detail"].map(lambda d: not isinstance(d, str) or not english_left(d)).all()
    assert quarantine_sample(quarantine, "en", per_reason=50)["detail"].dropna().isin(quarantine["detail"]).all()


def test_every_amount_detail_reads_in_chinese_under_either_decimal_mark():
    texts = ["69,21", "12.50", "n/a", "1.234,50", "1,234.50", "7"]
    frame = pd.DataFrame({"source_row": range(2, 8), "customer_id": list("abcdef"),
                          "ordered_at": ["2024-01-05"] * 6, "amount": texts})
    for decimal in (".", ","):
        result = clean_transactions(None, frame, as_of=dt.date(2024, 12, 31), rules=Cleaning(decimal=decimal))
        details = result.quarantine["detail"].dropna().unique()
        assert len(details) >= 2
        for detail in details:
            zh = detail_text(detail, "zh")
            assert zh != detail and not english_left(zh), (detail, zh)
            assert all(value in zh for value in re.findall(r'"[^"]*"', detail))


def test_every_customer_table_detail_reads_in_chinese(tmp_path):
    from segkit.intake.customer_level import customer_level_table

    raw = pd.DataFrame({
        "source_row": range(2, 12),
        "id": ["a", "", "b", "b", "c", "d", "e", "f", "g", "h"],
        "last": ["2024-05-01", "2024-05-01", "2024-05-01", "2024-06-01", "2024-13-01", "2024-05-01", "2024-05-01",
                 "2025-02-01", "2024-01-01", "2024-05-01"],
        "first": ["2024-01-01"] * 8 + ["2024-03-01", "2024-01-01"],
        "n": ["3", "3", "3", "4", "3", "2.5", "0", "3", "3", "-2"],
        "total": ["10", "10", "10", "10", "10", "10", "10", "10", "inf", "1e300"],
    })
    result = customer_level_table(raw, {"customer_id": "id", "last_purchase": "last", "first_purchase": "first",
                                        "orders": "n", "revenue": "total"}, as_of=dt.date(2024, 12, 31))
    details = result.quarantine["detail"].dropna().unique()
    assert len(details) >= 6
    for detail in details:
        zh = detail_text(detail, "zh")
        assert not english_left(zh), (detail, zh)
