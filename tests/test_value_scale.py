"""The faster paths of the value models and the next-period check at a million customers (issue 15,
scale), each against the computation it replaced, on small frames with the edge cases: no repeat
purchase (x = 0), the last purchase at the end (t_x = T), alpha above and below beta (the two
branches of the Pareto/NBD hypergeometric term), no holdout purchase, a category column."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score

from segkit.evaluate.next_period import _holdout_figures, _precision_recall_f1, next_period_check
from segkit.models import clv
from segkit.models.clv import ConvergenceWarning, ParetoNBDModel


def edge_rows(n=2000, seed=3):
    """(x, t_x, T) with the edge cases first (x = 0, t_x = T, a long history), then random customers."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([[0, 0, 1, 5, 5, 70, 3], rng.integers(0, 60, n)]).astype(float)
    T = np.concatenate([[3.0, 0.5, 2.0, 40.0, 100.0, 80.0, 1.5], rng.uniform(0.1, 3.0, n)])
    share = np.concatenate([[0, 0, 1.0, 1.0, 0.5, 0.9, 1.0], rng.uniform(0.01, 1, n)])
    return x, np.where(x > 0, T * share, 0.0), T


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_precision_recall_f1_equal_sklearn(seed):
    rng = np.random.default_rng(seed)
    cases = [(rng.random(50) < 0.3, rng.random(50) < 0.2), (np.zeros(9, bool), np.zeros(9, bool)),
             (np.zeros(9, bool), np.arange(9) < 3), (np.arange(9) < 3, np.zeros(9, bool)),
             (np.ones(9, bool), np.ones(9, bool))]
    for actual, predicted in cases:
        ours = _precision_recall_f1(actual, predicted)
        assert ours == {"precision": float(precision_score(actual, predicted, zero_division=0)),
                        "recall": float(recall_score(actual, predicted, zero_division=0)),
                        "f1": float(f1_score(actual, predicted, zero_division=0))}


def test_holdout_figures_equal_the_left_merge():
    features = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "revenue": [1.0, 2.0, 3.0, 4.0]})
    after = pd.DataFrame({"customer_id": ["b", "d"], "orders": [2, 1], "revenue": [5.5, np.nan]})
    found = _holdout_figures(features, after, after)
    merged = features[["customer_id"]].merge(after.rename(columns={"orders": "holdout_orders",
                                                                   "revenue": "holdout_revenue"}),
                                             on="customer_id", how="left")
    merged[["holdout_orders", "holdout_revenue"]] = merged[["holdout_orders", "holdout_revenue"]].astype(float).fillna(0.0)
    pd.testing.assert_frame_equal(found, merged)
    assert found["holdout_orders"].tolist() == [0.0, 2.0, 0.0, 1.0]
    pd.testing.assert_frame_equal(_holdout_figures(features, None, None),
                                  features[["customer_id"]].assign(holdout_orders=0.0, holdout_revenue=0.0))


def transactions(holdout_buyers=True) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    n = 300
    frame = pd.DataFrame({"customer_id": [f"k{i}" for i in rng.integers(0, 40, n)],
                          "order_id": [f"o{i}" for i in range(n)],
                          "ordered_at": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 180, n), unit="D"),
                          "amount": np.round(rng.gamma(2.0, 30.0, n), 2),
                          "category": rng.choice(["books", "music", None], n)})
    late = pd.DataFrame({"customer_id": ["n1", "n2", "n1"], "order_id": ["x1", "x2", "x3"],
                         "ordered_at": pd.to_datetime(["2024-08-01", "2024-09-03", "2024-10-01"]),
                         "amount": [10.05, 20.10, 0.15], "category": ["books", None, "music"]})
    if holdout_buyers:  # known customers buying again after the calibration end
        late = pd.concat([late, frame.head(20).assign(ordered_at=pd.Timestamp("2024-11-11"),
                                                      order_id=[f"h{i}" for i in range(20)])])
    return pd.concat([frame, late], ignore_index=True)


@pytest.mark.parametrize("holdout_buyers", [True, False])
def test_engine_check_with_categories_equals_the_pandas_one(tmp_path, holdout_buyers):
    """The engine path (fewer queries, holdout features without categories) against the pandas path,
    with a category column, customers new in the holdout and, in one case, no known customer
    buying in the holdout."""
    import segkit

    frame = transactions(holdout_buyers)
    frame.to_parquet(tmp_path / "clean_transactions.parquet", index=False)
    table = segkit.stage_table(tmp_path, "clean_transactions")
    ours = next_period_check(table, dt.date(2024, 6, 30), dt.date(2024, 12, 31), scorer=3)
    theirs = next_period_check(frame, dt.date(2024, 6, 30), dt.date(2024, 12, 31), scorer=3)
    for name in ("classes", "high_value", "labels"):
        pd.testing.assert_frame_equal(getattr(ours, name), getattr(theirs, name))
    pd.testing.assert_frame_equal(ours.periods.features, theirs.periods.features)
    assert (ours.new_in_holdout, ours.customers) == (theirs.new_in_holdout, theirs.customers) == (2, 40)
    assert ours.new_revenue == pytest.approx(30.30, abs=1e-9)
    assert (ours.periods.holdout["holdout_orders"].sum() > 0) == holdout_buyers


def test_unique_rows_kept_groupings_stay_right():
    """The kept groupings are looked up by their columns' digest: alternating groupings give the
    same answers as a fresh grouping."""
    x, t_x, T = edge_rows(n=500, seed=4)
    fresh = []
    for columns in ((x, t_x, T), (x, T), (x, t_x, T), (T,), (x, T)):
        clv._KEPT_ROWS.clear()
        fresh.append(clv._unique_rows(*columns))
    for columns, expected in zip(((x, t_x, T), (x, T), (x, t_x, T), (T,), (x, T)), fresh):
        found = clv._unique_rows(*columns)
        for a, b in zip(found[0], expected[0]):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(found[1], expected[1])
        np.testing.assert_array_equal(found[2], expected[2])
        found[1][:] = -1  # copies: changing one does not change the kept grouping
        np.testing.assert_array_equal(clv._unique_rows(*columns)[1], expected[1])


def test_pareto_fit_of_a_degenerate_history_ends():
    """Six customers with two histories between them (three bought three times, three once at the
    end): the fit runs to the edge of the search and must still end, with finite parameters (an
    analytic gradient of the hypergeometric tail once led it to where each series needs millions of
    terms, and a report on these data never finished)."""
    summary = pd.DataFrame({"customer_id": list("ABCDEF"), "x": [2.0] * 3 + [0.0] * 3,
                            "t_x": [21.714286] * 3 + [0.0] * 3, "T": [51.571429] * 3 + [1.571429] * 3})
    summary.attrs["time_unit"] = "weeks"
    with pytest.warns(ConvergenceWarning, match="r and alpha, and s and beta, grow together"):
        model = ParetoNBDModel().fit(summary)
    assert np.isfinite(model.loglik_) and all(np.isfinite(v) and v > 0 for v in model.params_.values())
    # r ran away from any usual value (to r = 37,000 with alpha = 890,000 weeks): the data cannot place
    # it, and the limit with one purchase rate (and one dropout rate) is as likely: it is used
    assert list(model.params_) == ["lambda", "mu"] and model.limit_
