"""The fast paths of notebook 05 against straightforward references on small frames with edge cases:

- the next-period split and features in one engine query (`calibration_periods` on an Ibis table)
  against splitting the rows in pandas and computing `customer_features` on each period;
- `check_classes` grouping by integer codes against grouping by the class names;
- `segmentation_matrix` on the columns it uses against the quadrants counted by hand.
"""

import datetime as dt
from decimal import Decimal

import ibis
import numpy as np
import pandas as pd
import pytest

from segkit.errors import DataError, ParamsError
from segkit.evaluate.matrix import QUADRANTS, segmentation_matrix
from segkit.evaluate.next_period import Periods, calibration_periods, check_classes
from segkit.features import customer_features
from segkit.intake.sources import connect

CAL_END = dt.date(2024, 6, 30)
AS_OF = dt.date(2024, 12, 31)


def lines(rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["customer_id", "order_id", "ordered_at", "amount", "category"])
    return frame.assign(ordered_at=pd.to_datetime(frame["ordered_at"]))


def edge_lines() -> pd.DataFrame:
    """Customers for every case: before only (b1), both periods (b2, with an order whose lines
    straddle the boundary and two lines of one order), holdout only (h1, h2: new), after as_of only
    (late), bought before and after as_of (b3: the late line is not in the holdout), one without an
    order number (u1), a recent order (r1: in the 90 days before calibration_end), a line without
    a category, and equal revenues (t1, t2 tie)."""
    return lines([
        ("b1", "o1", "2024-01-05 10:00", 10.25, "food"),
        ("b1", "o2", "2024-02-05 10:00", 5.10, "toys"),
        ("b2", "o3", "2024-03-01 09:00", 20.00, "food"),
        ("b2", "o3", "2024-03-01 09:00", 1.99, None),
        ("b2", "o4", "2024-06-30 23:59", 7.00, "food"),   # the same order on both sides of the boundary
        ("b2", "o4", "2024-07-01 00:00", 3.00, "food"),
        ("b2", "o5", "2024-09-09 12:00", 12.34, "pets"),
        ("h1", "o6", "2024-07-02 08:00", 40.00, "food"),
        ("h2", "o7", "2024-12-31 23:00", 0.05, "toys"),
        ("late", "o8", "2025-01-01 00:00", 99.00, "food"),
        ("b3", "o9", "2024-05-01 00:00", 15.00, "food"),
        ("b3", "o10", "2025-02-01 00:00", 15.00, "food"),
        ("u1", None, "2024-04-01 00:00", 8.00, "food"),
        ("u1", None, "2024-08-01 00:00", 2.50, "food"),
        ("r1", "o11", "2024-04-01 00:00", 30.00, "toys"),
        ("r1", "o12", "2024-06-01 00:00", 30.00, "food"),
        ("t1", "o13", "2024-02-02 00:00", 25.00, "food"),
        ("t2", "o14", "2024-02-03 00:00", 25.00, "food"),
        ("t2", "o15", "2024-11-11 00:00", 25.00, "food"),
    ])


def reference_periods(frame: pd.DataFrame, calibration_end: dt.date, as_of: dt.date | None) -> Periods:
    """Straightforward: split the rows in pandas, `customer_features` of each period (holdout: the
    calibration customers' lines only), joined on customer_id; new customers and their revenue
    (exact, as decimals) counted from the holdout rows of the others."""
    boundary = pd.Timestamp(calibration_end) + pd.Timedelta(days=1)
    as_of = frame["ordered_at"].max().date() if as_of is None else as_of
    end = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    calibration = frame[frame["ordered_at"] < boundary]
    holdout = frame[(frame["ordered_at"] >= boundary) & (frame["ordered_at"] < end)]
    known = holdout["customer_id"].isin(set(calibration["customer_id"]))
    features = customer_features(connect(), calibration, calibration_end)
    after = customer_features(connect(), holdout[known].drop(columns="category"), as_of)
    figures = features[["customer_id"]].merge(after[["customer_id", "orders", "revenue"]], on="customer_id", how="left")
    figures = figures.rename(columns={"orders": "holdout_orders", "revenue": "holdout_revenue"})
    figures[["holdout_orders", "holdout_revenue"]] = figures[["holdout_orders", "holdout_revenue"]].astype(float).fillna(0.0)
    late = holdout[~known]
    revenue = float(sum((Decimal(repr(a)) for a in late["amount"]), Decimal(0)))
    return Periods(features, figures, int(late["customer_id"].nunique()), revenue, calibration_end, as_of)


def assert_same_periods(ours: Periods, theirs: Periods) -> None:
    pd.testing.assert_frame_equal(ours.features, theirs.features, check_exact=True)
    pd.testing.assert_frame_equal(ours.holdout, theirs.holdout, check_exact=True)
    assert (ours.new_in_holdout, ours.new_revenue, ours.calibration_end, ours.as_of) == (
        theirs.new_in_holdout, theirs.new_revenue, theirs.calibration_end, theirs.as_of)


@pytest.mark.parametrize("as_of", [AS_OF, None])
def test_one_engine_query_equals_splitting_first(as_of):
    frame = edge_lines()
    ours = calibration_periods(ibis.memtable(frame), CAL_END, as_of)
    theirs = reference_periods(frame, CAL_END, as_of)
    assert_same_periods(ours, theirs)
    # the cases the rows were made for, read off the result
    held = ours.holdout.set_index("customer_id")
    features = ours.features.set_index("customer_id")
    assert "h1" not in held.index and "late" not in held.index
    assert ours.new_in_holdout == (2 if as_of else 3)  # h1, h2 (and late when the data's end is as_of)
    assert held.loc["b2", "holdout_orders"] == 2 and held.loc["b2", "holdout_revenue"] == pytest.approx(15.34)
    assert features.loc["b2", "orders"] == 2 and features.loc["b2", "categories"] == 1
    assert held.loc["b3", "holdout_orders"] == (0 if as_of else 1)
    assert held.loc["u1", "holdout_orders"] == 0 and held.loc["u1", "holdout_revenue"] == 2.5
    assert features.loc["r1", "orders_recent"] == 1 and features.loc["t1", "revenue"] == features.loc["t2", "revenue"]
    # the pandas path of the package gives the same
    assert_same_periods(calibration_periods(frame, CAL_END, as_of), ours)


def test_no_holdout_rows_gives_zeros():
    frame = edge_lines()
    before = frame[frame["ordered_at"] < pd.Timestamp("2024-07-01")]
    ours = calibration_periods(ibis.memtable(before), CAL_END, AS_OF)
    assert_same_periods(ours, reference_periods(before, CAL_END, AS_OF))
    assert (ours.holdout[["holdout_orders", "holdout_revenue"]] == 0).all().all()
    assert (ours.new_in_holdout, ours.new_revenue) == (0, 0.0)


def test_random_lines_equal_the_reference():
    rng = np.random.default_rng(7)
    n = 600
    frame = lines(zip([f"k{i}" for i in rng.integers(0, 80, n)], [f"o{i}" for i in rng.integers(0, 300, n)],
                      pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 366 * 24, n), unit="h"),
                      np.round(rng.gamma(2.0, 30.0, n), 2), rng.choice(["a", "b", "c", None], n)))
    # an order number shared by two customers stays two orders; one order's lines on two days too
    assert_same_periods(calibration_periods(ibis.memtable(frame), CAL_END, AS_OF),
                        reference_periods(frame, CAL_END, AS_OF))


def test_no_calibration_customer_and_no_holdout_period_keep_their_errors():
    frame = edge_lines()
    holdout_only = ibis.memtable(frame[frame["ordered_at"] >= pd.Timestamp("2024-07-01")])
    with pytest.raises(DataError, match="no purchase on or before"):
        calibration_periods(holdout_only, CAL_END, AS_OF)
    with pytest.raises(ParamsError, match="must be before the data's end"):
        calibration_periods(ibis.memtable(frame), CAL_END, CAL_END)
    before = ibis.memtable(frame[frame["ordered_at"] < pd.Timestamp("2024-06-01")])
    with pytest.raises(ParamsError, match="must be before the data's end"):  # as_of: the last purchase
        calibration_periods(before, CAL_END, None)
    with pytest.raises(DataError, match="no purchase on or before"):
        calibration_periods(ibis.memtable(frame.iloc[:0]), CAL_END, AS_OF)


def reference_check(periods: Periods, classes: dict, top_share: float) -> tuple[pd.DataFrame, list]:
    """The classes table and the classes predicted high, grouped by class name (no codes)."""
    labels = periods.holdout.assign(revenue=periods.features["revenue"].to_numpy(),
                                    **{k: np.asarray(v) for k, v in classes.items()})
    tables, chosen = [], []
    for scheme in classes:
        grouped = labels.groupby(scheme, sort=False)
        table = pd.DataFrame({"customers": grouped.size(), "calibration_revenue": grouped["revenue"].mean(),
                              "holdout_revenue": grouped["holdout_revenue"].sum(),
                              "revenue_per_customer": grouped["holdout_revenue"].mean(),
                              "orders_per_customer": grouped["holdout_orders"].mean(),
                              "buyer_share": grouped["holdout_orders"].apply(lambda o: float((o > 0).mean()))})
        average = labels["holdout_revenue"].mean()
        table["lift"] = table["revenue_per_customer"] / average if average > 0 else np.nan
        table = table.sort_values("calibration_revenue", ascending=False, kind="stable")
        tables.append(table.rename_axis("class").reset_index().assign(scheme=scheme))
        shares = table["customers"].cumsum() / len(labels)
        chosen.append(", ".join(map(str, list(table.index[shares <= top_share + 1e-12]) or [table.index[0]])))
    return pd.concat(tables, ignore_index=True), chosen


@pytest.mark.parametrize("top_share", [0.2, 0.5])
def test_class_codes_equal_grouping_by_names(top_share):
    periods = calibration_periods(edge_lines(), CAL_END, AS_OF)
    n = len(periods.features)
    classes = {"segment": np.array(["gold", "silver", "gold", "bronze", "silver", "gold", "bronze"][:n], dtype=object),
               "rfm_class": np.array(["b", "a"] * n, dtype=object)[:n],  # two classes of equal size
               "cluster": np.arange(n) % 3}
    table, high = check_classes(periods, classes, top_share)
    expected, chosen = reference_check(periods, classes, top_share)
    columns = ["scheme", "class", "customers", "calibration_revenue", "holdout_revenue", "revenue_per_customer",
               "orders_per_customer", "buyer_share", "lift"]
    pd.testing.assert_frame_equal(table, expected[columns], check_exact=True)
    assert high["classes"].tolist()[1:] == chosen


def test_a_customer_without_a_class_is_in_no_class_but_counted_as_a_customer():
    periods = calibration_periods(edge_lines(), CAL_END, AS_OF)
    n = len(periods.features)
    segment = np.array(["x", None] * n, dtype=object)[:n]
    table, high = check_classes(periods, {"segment": segment}, 0.5)
    assert table["class"].tolist() == ["x"] and table["customers"].tolist() == [int((segment == "x").sum())]
    assert high.loc[1, "predicted"] == int((segment == "x").sum())


def test_matrix_on_a_wide_frame_equals_the_quadrants_by_hand():
    rng = np.random.default_rng(3)
    n = 40
    frame = pd.DataFrame({"customer_id": np.arange(n), "revenue": rng.integers(1, 5, n).astype(float),
                          "clv": rng.integers(1, 4, n).astype(float), "note": ["x"] * n, "segment": ["s"] * n})
    frame.loc[[2, 7], "clv"] = np.nan
    matrix = segmentation_matrix(frame, "revenue", "clv")
    placed = frame.dropna(subset=["clv"])
    high_v, high_p = placed["revenue"] > placed["revenue"].median(), placed["clv"] > placed["clv"].median()
    expected = np.where(high_v, np.where(high_p, "develop", "maintain"), np.where(high_p, "grow", "economise"))
    assert matrix.assignments["quadrant"].tolist() == expected.tolist()  # ties with the median are low
    assert matrix.assignments["customer_id"].tolist() == [str(i) for i in placed["customer_id"]]
    assert matrix.left_out == 2
    counts = pd.Series(expected).value_counts()
    assert matrix.summary.set_index("quadrant")["customers"].to_dict() == {q: int(counts.get(q, 0)) for q in QUADRANTS}
    assert list(frame.columns) == ["customer_id", "revenue", "clv", "note", "segment"]  # input not changed


@pytest.mark.parametrize("sample_size", [7, 30, 100])
def test_quality_with_shared_silhouette_distances_equals_scikit_learn(sample_size):
    from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

    from segkit.evaluate.quality import compare_quality

    X = np.random.default_rng(1).normal(size=(30, 3))
    labelings = {"two": np.array([0, 1] * 15), "rare": np.array([0] * 29 + [1]), "one": np.zeros(30),
                 "each": np.arange(30), "names": np.array(list("abc") * 10, dtype=object)}
    table = compare_quality(X, labelings, sample_size=sample_size, random_state=3).set_index("labeling")
    for name in ("two", "rare", "names"):
        codes = pd.factorize(labelings[name])[0]
        try:
            expected = silhouette_score(X, codes, sample_size=min(sample_size, 30), random_state=3)
        except ValueError:  # the sample drew one group (the rare customer left out)
            expected = np.nan
        assert table.loc[name, "silhouette"] == expected or (np.isnan(expected) and np.isnan(table.loc[name, "silhouette"]))
        assert table.loc[name, "calinski_harabasz"] == calinski_harabasz_score(X, codes)
        assert table.loc[name, "davies_bouldin"] == davies_bouldin_score(X, codes)
    assert table.loc[["one", "each"], ["silhouette", "calinski_harabasz", "davies_bouldin"]].isna().all().all()


def test_the_unfitted_clusterer_refits_as_the_fitted_one():
    """05 builds the run's clusterer as a template (`refit_clusterer`, not fitted on all customers):
    every refit of the stability runs and the next-period test equals that of the fitted clusterer."""
    from segkit.evaluate.stability import cluster_stability, refit_labels
    from segkit.evaluate.stage import refit_clusterer

    rng = np.random.default_rng(5)
    n = 240
    features = pd.DataFrame({"customer_id": [f"c{i}" for i in range(n)], "recency_days": rng.integers(0, 365, n),
                             "orders": rng.integers(1, 12, n), "revenue": np.round(rng.gamma(2.0, 60.0, n), 2)})
    columns = ("recency_days", "orders", "revenue")
    template = refit_clusterer(features, columns, 3, 42)
    fitted = refit_clusterer(features, columns, 3, 42, fit=True)
    assert not hasattr(template, "labels_") and len(fitted.labels_) == n
    drawn = features.sample(150, random_state=1).reset_index(drop=True)
    np.testing.assert_array_equal(refit_labels(template, drawn, 7), refit_labels(fitted, drawn, 7))
    ours = cluster_stability(template, features, labels=fitted.labels_, runs=3, sample_size=120, random_state=2)
    theirs = cluster_stability(fitted, features, labels=fitted.labels_, runs=3, sample_size=120, random_state=2)
    pd.testing.assert_frame_equal(ours.runs, theirs.runs, check_exact=True)
    pd.testing.assert_frame_equal(ours.clusters, theirs.clusters, check_exact=True)
    with pytest.raises(ValueError, match="original clusters"):
        cluster_stability(template, features)
