"""The next-period test (segkit.evaluate.next_period): classes from the calibration period checked
against the holdout, customers new in the holdout excluded and counted."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score

from segkit.errors import DataError, ParamsError
from segkit.evaluate.next_period import Periods, calibration_periods, check_classes, next_period_check, split_periods

CAL_END = dt.date(2024, 6, 30)
AS_OF = dt.date(2024, 12, 31)


def purchases() -> pd.DataFrame:
    """Eight customers before the calibration end (c1..c8, the first four big spenders, who keep
    buying), and n1, n2 who first buy in the holdout."""
    rows = []
    for i in range(1, 9):
        big = i <= 4
        rows += [(f"c{i}", f"o{i}a", "2024-02-01", 200.0 if big else 20.0),
                 (f"c{i}", f"o{i}b", f"2024-0{3 + i % 3}-15", 100.0 if big else 10.0)]
        if big:
            rows.append((f"c{i}", f"o{i}c", "2024-09-01", 50.0 * i))
    rows.append(("c5", "o5c", "2024-07-01", 5.0))  # a small customer buys a little again
    rows += [("n1", "on1", "2024-08-01", 70.0), ("n2", "on2", "2024-11-30", 30.0)]
    frame = pd.DataFrame(rows, columns=["customer_id", "order_id", "ordered_at", "amount"])
    return frame.assign(ordered_at=pd.to_datetime(frame["ordered_at"]))


def test_split_excludes_and_counts_customers_new_in_the_holdout():
    calibration, holdout, new = split_periods(purchases(), CAL_END, AS_OF)
    assert list(new) == ["n1", "n2"]
    assert set(calibration["customer_id"]) == {f"c{i}" for i in range(1, 9)}
    assert not holdout["customer_id"].isin(new).any() and len(holdout) == 5
    assert calibration["ordered_at"].max() <= pd.Timestamp(CAL_END) + pd.Timedelta(days=1)


def test_classes_checked_against_the_holdout():
    check = next_period_check(purchases(), CAL_END, AS_OF, scorer=2, top_share=0.25)
    assert check.customers == 8 and check.new_in_holdout == 2 and check.new_revenue == pytest.approx(100.0)
    assert "n1" not in set(check.labels["customer_id"])
    held = check.labels.set_index("customer_id")
    assert held.loc["c3", "holdout_revenue"] == 150.0 and held.loc["c3", "holdout_orders"] == 1
    assert held.loc["c6", "holdout_revenue"] == 0.0
    # lift by hand: holdout revenue per customer of each class over the mean of all eight (505 / 8)
    average = (50 + 100 + 150 + 200 + 5) / 8
    classes = check.classes[check.classes["scheme"] == "rfm_class"]
    for row in classes.itertuples():
        members = held[held["rfm_class"] == row._2]
        assert row.lift == pytest.approx(members["holdout_revenue"].mean() / average)
    # truly high: the top 25% (2 customers) by holdout revenue: c4 (200) and c3 (150)
    assert check.high_value["actual"].eq(2).all()
    baseline = check.high_value.iloc[0]
    assert baseline["scheme"] == "calibration_revenue" and baseline["predicted"] == 4  # the four big ones tie
    assert baseline["precision"] == pytest.approx(0.5) and baseline["recall"] == pytest.approx(1.0)


def test_high_value_precision_recall_f1_match_sklearn():
    rng = np.random.default_rng(4)
    n = 40
    features = pd.DataFrame({"customer_id": [f"c{i}" for i in range(n)], "revenue": rng.uniform(1, 100, n)})
    holdout = pd.DataFrame({"customer_id": features["customer_id"], "holdout_orders": rng.integers(0, 3, n).astype(float)})
    holdout["holdout_revenue"] = np.where(holdout["holdout_orders"] > 0, rng.uniform(1, 100, n), 0.0)
    periods = Periods(features, holdout, 0, 0.0, CAL_END, AS_OF)
    groups = np.where(features["revenue"] > 80, "top", np.where(features["revenue"] > 40, "mid", "low"))
    _, high = check_classes(periods, {"groups": groups}, top_share=0.3)
    n_top = 12
    actual = (holdout["holdout_revenue"] >= holdout["holdout_revenue"].nlargest(n_top).min()) & (holdout["holdout_revenue"] > 0)
    predicted = groups == "top" if (groups == "top").mean() <= 0.3 else None
    row = high.set_index("scheme").loc["groups"]
    assert row["precision"] == pytest.approx(precision_score(actual, predicted))
    assert row["recall"] == pytest.approx(recall_score(actual, predicted))
    assert row["f1"] == pytest.approx(f1_score(actual, predicted))
    assert row["classes"] == "top"


def test_clear_errors():
    with pytest.raises(ParamsError, match="must be before the data's end"):
        split_periods(purchases(), AS_OF, AS_OF)
    with pytest.raises(DataError, match="no purchase on or before"):
        split_periods(purchases(), dt.date(2023, 1, 1), AS_OF)
    with pytest.raises(ParamsError, match="top_share"):
        next_period_check(purchases(), CAL_END, AS_OF, scorer=2, top_share=1.5)


@pytest.mark.parametrize("ids", [["a", "b", "c", "d"], [1, 2, 3, 4]])
def test_split_counts_new_customers_by_their_first_purchase(ids):
    # a: calibration and holdout; b: calibration only; c: first buys in the holdout (new);
    # d: first buys after as_of (neither period)
    a, b, c, d = ids
    tx = pd.DataFrame({"customer_id": [a, a, b, c, c, d], "order_id": ["o1", "o2", "o3", "o4", "o5", "o6"],
                       "ordered_at": pd.to_datetime(["2024-01-05", "2024-03-02", "2024-01-20", "2024-02-10",
                                                     "2024-03-01", "2024-04-15"]),
                       "amount": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]})
    calibration, holdout, new = split_periods(tx, dt.date(2024, 1, 31), dt.date(2024, 3, 31))
    assert calibration["amount"].tolist() == [10.0, 30.0]
    assert holdout["amount"].tolist() == [20.0]  # c's purchases are left out: c has no calibration record
    assert new.tolist() == [str(c)]
    periods = calibration_periods(tx, dt.date(2024, 1, 31), dt.date(2024, 3, 31))
    assert (periods.new_in_holdout, periods.new_revenue) == (1, 90.0)
    assert periods.holdout.set_index("customer_id")["holdout_revenue"].to_dict() == {str(a): 20.0, str(b): 0.0}


@pytest.mark.parametrize("as_of", [AS_OF, None])
def test_the_clean_rows_read_in_place_give_the_same_check(tmp_path, as_of):
    """05 reads the run's clean_transactions.parquet in place (segkit.stage_table): the split, the
    features and the customers new in the holdout computed in the engine equal the pandas ones."""
    import segkit

    rng = np.random.default_rng(4)
    n = 400
    frame = pd.DataFrame({"customer_id": [f"k{i}" for i in rng.integers(0, 50, n)],
                          "order_id": [f"o{i}" for i in range(n)],
                          "ordered_at": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 360, n), unit="D"),
                          "amount": np.round(rng.gamma(2.0, 30.0, n), 2)})
    frame = pd.concat([frame, purchases()], ignore_index=True)
    frame.to_parquet(tmp_path / "clean_transactions.parquet", index=False)
    table = segkit.stage_table(tmp_path, "clean_transactions")
    ours = next_period_check(table, CAL_END, as_of, scorer=3)
    theirs = next_period_check(frame, CAL_END, as_of, scorer=3)
    pd.testing.assert_frame_equal(ours.classes, theirs.classes)
    pd.testing.assert_frame_equal(ours.high_value, theirs.high_value)
    pd.testing.assert_frame_equal(ours.labels, theirs.labels)
    assert (ours.new_in_holdout, ours.as_of) == (theirs.new_in_holdout, theirs.as_of) and ours.new_in_holdout >= 2
    assert ours.new_revenue == pytest.approx(theirs.new_revenue, abs=1e-9)
    assert segkit.stage_table(tmp_path, "activity", optional=True) is None  # a stage the run did not write
