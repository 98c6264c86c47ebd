import datetime as dt

import pandas as pd
import pytest

from segkit.datasets import generate_retail, load_cdnow
from segkit.features import customer_features
from segkit.intake.sources import connect


def test_hand_computed_features():
    tx = pd.DataFrame({
        "customer_id": ["A", "A", "A", "B"],
        "order_id": ["1", "1", "2", "3"],
        "ordered_at": pd.to_datetime(["2024-01-01 10:00", "2024-01-01 10:00", "2024-01-21 18:30", "2024-01-30 00:00"]),
        "amount": [10.0, 5.0, 30.0, 7.5],
        "category": ["x", "y", "x", "z"],
    })
    f = customer_features(connect(), tx, dt.date(2024, 1, 31)).set_index("customer_id")
    assert f.loc["A", "orders"] == 2 and f.loc["B", "orders"] == 1
    assert f.loc["A", "revenue"] == 45.0
    assert f.loc["A", "recency_days"] == 10 and f.loc["B", "recency_days"] == 1
    assert f.loc["A", "tenure_days"] == 30
    assert f.loc["A", "avg_order_value"] == 22.5
    assert f.loc["A", "categories"] == 2
    assert f.loc["A", "first_purchase"] == pd.Timestamp("2024-01-01")
    assert f.loc["A", "interval_days"] == 20.0 and pd.isna(f.loc["B", "interval_days"])
    assert f.loc["A", "orders_recent"] == 2 and f.loc["B", "orders_recent"] == 1  # 90 days by default
    narrow = customer_features(connect(), tx, dt.date(2024, 1, 31), activity_days=5).set_index("customer_id")
    assert narrow.loc["A", "orders_recent"] == 0 and narrow.loc["B", "orders_recent"] == 1


def test_engine_agrees_with_pandas_on_generated_data():
    tx = generate_retail(500, seed=9).transactions
    as_of = tx["ordered_at"].max().date()
    f = customer_features(connect(), tx, as_of).set_index("customer_id")
    grouped = tx.groupby("customer_id")
    pd.testing.assert_series_equal(f["orders"], grouped["order_id"].nunique().astype("int64"), check_names=False)
    pd.testing.assert_series_equal(f["revenue"], grouped["amount"].sum(), check_names=False, rtol=1e-9)
    recency = (pd.Timestamp(as_of) - grouped["ordered_at"].max().dt.normalize()).dt.days
    pd.testing.assert_series_equal(f["recency_days"], recency.astype("int64"), check_names=False)


def test_cdnow_features_count_customer_days():
    f = customer_features(connect(), load_cdnow(), dt.date(1998, 6, 30))
    assert len(f) == 23570
    assert f["orders"].sum() == 67591
    assert f["revenue"].sum() == pytest.approx(2500315.63)
    assert f["recency_days"].min() == 0 and f["tenure_days"].max() == 545


def test_floor_revenue_makes_a_negative_revenue_zero_and_leaves_the_input_alone():
    tx = pd.DataFrame({
        "customer_id": ["A", "A", "B"],
        "order_id": ["1", "1", "2"],
        "ordered_at": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-05"]),
        "amount": [10.0, -25.0, 7.5],  # A's cancellation (netted into order 1) exceeds what A bought
    })
    before = tx.copy()
    plain = customer_features(connect(), tx, dt.date(2024, 1, 31)).set_index("customer_id")
    floored = customer_features(connect(), tx, dt.date(2024, 1, 31), floor_revenue=True).set_index("customer_id")
    assert plain.loc["A", "revenue"] == -15.0 and floored.loc["A", "revenue"] == 0.0
    assert floored.loc["A", "avg_order_value"] == 0.0 and floored.loc["B", "revenue"] == 7.5
    assert floored.loc["A", "orders"] == 1  # a line under the order it cancels adds no order
    pd.testing.assert_frame_equal(tx, before)


@pytest.mark.parametrize("ids", [["b", "é", "A", "10", "9", "Z", "ä"], [30, 4, 100, 7, 2, 55, 8]])
@pytest.mark.parametrize("from_engine", [False, True])
def test_customers_come_back_in_python_order_with_the_feature_columns_first(ids, from_engine):
    """Sorted by the embedded engine (by UTF-8 bytes), as Python sorts the ids as text, whether the
    lines are a frame or a table in the engine; whole-number ids as their text ("100" before "2"), the
    order of every other per-customer stage (whose rows then join by position)."""
    from segkit.features import FEATURE_COLUMNS

    rows = [(i, f"o{n}{k}", "2024-01-0%d" % (1 + (n + k) % 9), 1.0 + n, "c%d" % (k % 2))
            for n, i in enumerate(ids) for k in range(3)]
    tx = pd.DataFrame(rows, columns=["customer_id", "order_id", "ordered_at", "amount", "category"])
    tx["ordered_at"] = pd.to_datetime(tx["ordered_at"])
    tx = tx.sample(frac=1, random_state=1).reset_index(drop=True)  # lines in no order
    con = connect()
    lines = con.create_table("lines", tx) if from_engine else tx
    f = customer_features(con, lines, dt.date(2024, 1, 31))
    assert f["customer_id"].tolist() == sorted(str(i) for i in ids)
    assert list(f.columns) == [c for c in FEATURE_COLUMNS if c in f.columns] + ["categories"]
    assert f["orders"].tolist() == [3] * len(ids) and f["categories"].tolist() == [2] * len(ids)


@pytest.mark.parametrize("kinds_count", [3, 62, 63])
def test_category_masks_count_as_the_distinct_of_the_lines_does(kinds_count, monkeypatch):
    """Categories counted from bit masks (one grouping of the lines; up to 62 text categories in DuckDB)
    equal the distinct count: missing categories, a quote, non-ASCII text, customers with none; 63
    categories fall back to the distinct, and so does a forced fallback."""
    import numpy as np

    from segkit import features

    rng = np.random.default_rng(kinds_count)
    names = np.array([f"c{i:02d}" for i in range(kinds_count - 2)] + ["it's", "Ä"] + [None], dtype=object)
    n = 4000
    tx = pd.DataFrame({"customer_id": [f"k{i}" for i in rng.integers(0, 60, n)],
                       "order_id": [f"o{i}" for i in rng.integers(0, 900, n)],
                       "ordered_at": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D"),
                       "amount": np.round(rng.gamma(2.0, 30.0, n), 2),
                       "category": rng.choice(names, n)})
    tx.loc[tx["customer_id"] == "k0", "category"] = None  # one customer with no category at all
    expected = tx.dropna(subset=["category"]).groupby("customer_id")["category"].nunique()
    expected = expected.reindex(sorted(tx["customer_id"].unique()), fill_value=0)
    masked = features.category_kinds(connect().create_table("lines", tx))
    assert (masked is None) == (kinds_count > features.MASK_CATEGORIES)
    got = customer_features(connect(), tx, dt.date(2024, 12, 31)).set_index("customer_id")
    assert got["categories"].dtype == np.int64 and got.loc["k0", "categories"] == 0
    pd.testing.assert_series_equal(got["categories"].sort_index(), expected.astype("int64"), check_names=False)
    monkeypatch.setattr(features, "MASK_CATEGORIES", 0)
    distinct = customer_features(connect(), tx, dt.date(2024, 12, 31)).set_index("customer_id")
    pd.testing.assert_frame_equal(got, distinct, check_exact=True)
