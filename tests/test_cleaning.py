import datetime as dt

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segkit.cleaning import RULES, clean_transactions
from segkit.errors import DataError
from segkit.sources import connect


def frame(rows):
    tx = pd.DataFrame(rows, columns=["customer_id", "order_id", "ordered_at", "amount"])
    tx["ordered_at"] = pd.to_datetime(tx["ordered_at"])
    tx.insert(0, "source_row", range(1, len(tx) + 1))
    return tx


MESSY = frame([
    ("A", "1", "2024-01-01", 10.0),   # used
    ("A", "1", "2024-01-01", 10.0),   # duplicate of row 1
    (None, "2", "2024-01-02", 5.0),   # missing customer
    ("B", "3", None, 5.0),            # missing date
    ("B", "4", "2024-01-03", None),   # missing amount
    ("B", "5", "2024-03-01", 5.0),    # after as_of
    ("C", "6", "2024-01-04", 0.0),    # zero amount
    ("C", "7", "2024-01-05", -4.0),   # return
    ("C", "8", "2024-01-06", 8.0),    # used
])


def test_each_rule_counts_its_rows_and_the_ledger_adds_up():
    result = clean_transactions(connect(), MESSY, as_of=dt.date(2024, 1, 31))
    counts = dict(zip(result.ledger["rule"], result.ledger["rows"]))
    assert counts == {"": 2, "missing_customer_id": 1, "missing_date": 1, "missing_amount": 1,
                      "after_as_of": 1, "duplicate": 1, "non_positive_amount": 2}
    assert result.ledger["rows"].sum() == len(MESSY)
    assert result.clean["source_row"].tolist() == [1, 9]
    assert sorted(result.quarantine["source_row"]) == [2, 3, 4, 5, 6, 7, 8]
    assert result.quarantine.set_index("source_row").loc[2, "reason"] == "duplicate"


def test_keep_rules_use_duplicates_and_returns():
    result = clean_transactions(connect(), MESSY, as_of=dt.date(2024, 1, 31), duplicates="keep",
                                non_positive_amount="keep")
    assert result.clean["source_row"].tolist() == [1, 2, 7, 8, 9]
    assert result.clean["amount"].sum() == pytest.approx(10 + 10 + 0 - 4 + 8)


def test_as_of_defaults_to_the_last_date():
    result = clean_transactions(connect(), MESSY)
    assert result.as_of == dt.date(2024, 3, 1)
    assert "after_as_of" not in set(result.quarantine["reason"])


def test_input_is_not_mutated():
    before = MESSY.copy()
    clean_transactions(connect(), MESSY, as_of=dt.date(2024, 1, 31))
    pd.testing.assert_frame_equal(MESSY, before)


def test_all_rows_bad_is_a_clear_error():
    bad = frame([(None, "1", "2024-01-01", 1.0), ("A", "2", "2024-01-01", -1.0)])
    with pytest.raises(DataError, match=r"all 2 rows were set aside \((missing_customer_id: 1, non_positive_amount: 1|non_positive_amount: 1, missing_customer_id: 1)\)"):
        clean_transactions(connect(), bad)


rows = st.lists(st.tuples(
    st.one_of(st.none(), st.sampled_from(["A", "B", "C", ""])),
    st.sampled_from(["1", "2", "3"]),
    st.one_of(st.none(), st.dates(dt.date(2023, 12, 1), dt.date(2024, 3, 1)).map(str)),
    st.one_of(st.none(), st.sampled_from([-5.0, 0.0, 1.5, 20.0, 1e6])),
), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows, st.sampled_from(["drop", "keep"]), st.sampled_from(["set_aside", "keep"]))
def test_every_row_ends_in_exactly_one_place(rows, duplicates, non_positive):
    tx = frame(rows)
    try:
        result = clean_transactions(connect(), tx, as_of=dt.date(2024, 1, 31), duplicates=duplicates,
                                    non_positive_amount=non_positive)
    except DataError:
        return  # every row bad: a clear error, the only exception allowed
    assert result.ledger["rows"].sum() == len(tx)
    used = set(result.clean["source_row"])
    aside = set(result.quarantine["source_row"])
    assert not used & aside
    assert used | aside == set(tx["source_row"])
    assert set(result.quarantine["reason"]) <= set(RULES)


def test_a_column_missing_in_every_row_is_set_aside_not_a_crash():
    # found by the property test: DuckDB cannot create a table from an all-None object column
    with pytest.raises(DataError, match="no transaction has a readable date"):
        clean_transactions(connect(), frame([(None, "1", None, None)]))
