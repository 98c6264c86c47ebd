"""The vectorised monthly figures against the per-customer definitions written out with Python sets,
on small frames with the edge cases (months without purchases, a customer listed twice, ties at a
threshold, missing values), and the monthly stages computed once per run and recomputed when
what they were made from changes."""

import datetime as dt

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from segkit.classify.rfm import RFMScorer, SegmentMap, assign_high_low_classes, load_segment_map, segment_customers
from segkit.monthly.activity import (cohort_table, month_start_classes, month_start_segments, monthly_kpis,
                                     retention_by_segment)
from segkit.monthly.codes import contains, month_groups, month_numbers, positions
from segkit.monthly.migration import classes_before, customer_moves, slipped, transition_matrix
from segkit.monthly.shared import month_start_classes_stage, monthly_kpis_stage
from segkit.monthly.trends import kpi_series
from segkit.errors import DataError
from segkit.params import RFM, Currency
from segkit.store import load_stage, save_stage


def month(y, m):
    return dt.date(y, m, 1)


def previous(day):
    return (pd.Timestamp(day) - pd.offsets.MonthBegin(1)).date()


# ---- the definitions, one customer at a time (what the vectorised code must equal) ----

def reference_kpis(activity):
    first_month = {}
    for customer, when in zip(activity["customer_id"], activity["month"]):
        first_month[customer] = min(first_month.get(customer, when), when)
    active = {}
    for customer, when in zip(activity["customer_id"], activity["month"]):
        active.setdefault(when, set()).add(customer)
    months = [d.date() for d in pd.date_range(min(activity["month"]), max(activity["month"]), freq="MS")]
    rows = []
    for when in months:
        buyers, before = active.get(when, set()), active.get(previous(when), set())
        these = activity[activity["month"] == when]
        # money summed exactly: the amounts as the decimals they stand for (45,714.60, not 45714.59999999999)
        orders, revenue = int(these["orders"].sum()), float(sum(Decimal(repr(x)) for x in these["revenue"]))
        new = sum(1 for first in first_month.values() if first == when)
        known = sum(1 for first in first_month.values() if first < when)
        rows.append({"month": when, "active_customers": len(buyers), "new_customers": new, "orders": orders,
                     "revenue": revenue, "avg_order_value": revenue / orders if orders else float("nan"),
                     "purchase_frequency": orders / len(buyers) if buyers else float("nan"),
                     "retention_rate": len(buyers & before) / len(before) if before else float("nan"),
                     "repurchase_rate": (len(buyers) - new) / known if known else float("nan")})
    return pd.DataFrame(rows)


def reference_retention(activity, at_start):
    active = {}
    for customer, when in zip(activity["customer_id"], activity["month"]):
        active.setdefault(when, set()).add(customer)
    rows = []
    for when in sorted(set(at_start["month"].dropna())):
        buyers, before = active.get(when, set()), active.get(previous(when), set())
        this = at_start[at_start["month"] == when].dropna(subset=["segment"])
        for segment in sorted(set(this["segment"])):
            members = set(this.loc[this["segment"] == segment, "customer_id"])
            base = members & before
            rows.append({"month": when, "segment": segment, "base_customers": len(base),
                         "retained": len(base & buyers),
                         "retention_rate": len(base & buyers) / len(base) if base else float("nan"),
                         "customers": len(members), "buyers": len(members & buyers),
                         "repurchase_rate": len(members & buyers) / len(members)})
    return pd.DataFrame(rows)


def random_activity(seed, customers=60, months=7, gap=None):
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(customers):
        start = int(rng.integers(0, months))
        for m in range(start, months):
            if m == gap or (m > start and rng.random() < 0.55):
                continue
            rows.append((f"c{c:03d}", month(2023 + (10 + m) // 12, (10 + m) % 12 + 1), int(rng.integers(1, 4)),
                         float(np.round(rng.gamma(2.0, 30.0), 2))))
    frame = pd.DataFrame(rows, columns=["customer_id", "month", "orders", "revenue"])
    return frame.sample(frac=1, random_state=seed).reset_index(drop=True)  # the rows in no particular order


def assert_same(new, reference):
    pd.testing.assert_frame_equal(new.reset_index(drop=True), reference.reset_index(drop=True),
                                  check_exact=True, check_dtype=False)


# ---- monthly KPIs, cohorts, retention by segment ----

@pytest.mark.parametrize("seed, gap", [(1, None), (2, 3), (3, 0), (4, 6)])
def test_monthly_kpis_equal_the_definitions(seed, gap):
    activity = random_activity(seed, gap=gap)
    assert_same(monthly_kpis(activity), reference_kpis(activity))


def test_a_customer_listed_twice_in_a_month_counts_once_and_a_single_month_has_no_rates():
    activity = pd.DataFrame({"customer_id": ["a", "a", "b"], "month": [month(2024, 5)] * 3,
                             "orders": [1, 2, 1], "revenue": [10.0, 5.0, 1.5]})
    kpis = monthly_kpis(activity)
    assert_same(kpis, reference_kpis(activity))
    assert kpis.loc[0, ["active_customers", "new_customers", "orders"]].tolist() == [2, 2, 4]
    assert pd.isna(kpis.loc[0, "retention_rate"]) and pd.isna(kpis.loc[0, "repurchase_rate"])


def test_the_revenue_is_summed_in_the_rows_order_as_pandas_sums_it():
    # floats whose sum depends on the order: the month's total must be the one Series.sum gives
    values = [0.1, 1e16, 0.3, -1e16, 0.7, 0.2]
    activity = pd.DataFrame({"customer_id": list("abcdef"), "month": [month(2024, 1), month(2024, 2)] * 3,
                             "orders": 1, "revenue": values})
    kpis = monthly_kpis(activity).set_index("month")
    assert kpis.loc[month(2024, 1), "revenue"] == pd.Series([0.1, 0.3, 0.7]).sum()
    assert kpis.loc[month(2024, 2), "revenue"] == pd.Series([1e16, -1e16, 0.2]).sum()


def test_months_that_are_not_dates_are_named():
    with pytest.raises(ValueError, match="'soon' is not a date"):
        month_numbers(pd.Series([month(2024, 1), "soon"]))
    assert month_numbers([month(2024, 1), pd.Timestamp("2024-02-01"), "2023-12-01"]).tolist() == [
        2024 * 12, 2024 * 12 + 1, 2023 * 12 + 11]


@pytest.mark.parametrize("measure", ["share_active", "customers", "revenue"])
@pytest.mark.parametrize("seed", [5, 6])
def test_cohorts_equal_the_definitions(measure, seed):
    activity = random_activity(seed, gap=2)
    frame = activity.assign(cohort=activity["customer_id"].map(activity.groupby("customer_id")["month"].min()))
    frame["age"] = [(m.year - c.year) * 12 + m.month - c.month for m, c in zip(frame["month"], frame["cohort"])]
    aggregate = ("revenue", "sum") if measure == "revenue" else ("customer_id", "nunique")
    expected = frame.pivot_table(index="cohort", columns="age", values=aggregate[0], aggfunc=aggregate[1])
    if measure == "share_active":
        expected = expected.div(expected[0], axis=0)
    last = max(activity["month"])
    for cohort in expected.index:
        reach = (last.year - cohort.year) * 12 + last.month - cohort.month
        for age in expected.columns:
            expected.loc[cohort, age] = np.nan if age > reach else np.nan_to_num(expected.loc[cohort, age])
    table = cohort_table(activity, measure)
    assert list(table.index) == sorted(expected.index) and table.columns.name == "months_since_first"
    np.testing.assert_array_equal(table.to_numpy(dtype=float), expected.sort_index().to_numpy(dtype=float))


def test_one_cohort_keeps_whole_counts():
    activity = pd.DataFrame({"customer_id": ["a", "b", "a"], "month": [month(2024, 1), month(2024, 1), month(2024, 2)],
                             "orders": 1, "revenue": 1.0})
    table = cohort_table(activity, "customers")
    assert table.loc[month(2024, 1)].tolist() == [2, 1]


@pytest.mark.parametrize("seed", [7, 8])
def test_retention_by_segment_equals_the_definitions(seed):
    activity = random_activity(seed, gap=4)
    rng = np.random.default_rng(seed)
    rows = []
    for start in sorted(set(activity["month"]))[1:]:
        bought = activity.loc[activity["month"] < start, "customer_id"].unique()
        rows += [(start, customer, rng.choice(["champions", "at_risk", "lost"])) for customer in bought]
    at_start = pd.DataFrame(rows, columns=["month", "customer_id", "segment"])
    # a member never active, a row listed twice, a row without a segment, a month the activity lacks
    at_start = pd.concat([at_start, at_start.iloc[:1],
                          pd.DataFrame({"month": [at_start["month"].iloc[-1], at_start["month"].iloc[0],
                                                  month(2030, 1)],
                                        "customer_id": ["ghost", "c001", "c002"],
                                        "segment": ["lost", None, "lost"]})], ignore_index=True)
    assert_same(retention_by_segment(activity, at_start), reference_retention(activity, at_start))


@pytest.mark.parametrize("twice", [False, True])
def test_retention_by_segment_of_a_stages_categoricals_equals_the_definitions(twice):
    """The month-start classes as the stage holds them (month, segment as Categoricals), every member
    active before: with and without a customer listed twice in a month (counted once)."""
    activity = random_activity(9, gap=4)
    rows = []
    for number, start in enumerate(sorted(set(activity["month"]))[1:]):
        bought = sorted(activity.loc[activity["month"] < start, "customer_id"].unique())
        rows += [(start, customer, ["champions", "at_risk", "lost"][(i + number) % 3]) for i, customer in enumerate(bought)]
    at_start = pd.DataFrame(rows, columns=["month", "customer_id", "segment"])
    if twice:
        at_start = pd.concat([at_start, at_start.iloc[[5, 5]].assign(segment=["lost", "champions"])],
                             ignore_index=True)
    staged = at_start.astype({"month": "category", "segment": "category"})
    rates = retention_by_segment(activity, staged)
    assert_same(rates, reference_retention(activity, at_start))
    assert not isinstance(rates["segment"].dtype, pd.CategoricalDtype)


# ---- the eight classes and the month-start classes ----

CN8 = load_segment_map("cn8")


def reference_high_low(features, segment_map, thresholds):
    r = np.where(features["recency_days"] < thresholds["r"], "high", "low")
    f = np.where(features["orders"] > thresholds["f"], "high", "low")
    m = np.where(features["revenue"] > thresholds["m"], "high", "low")
    lookup = {(s["r"], s["f"], s["m"]): s["code"] for s in segment_map.segments}
    return [lookup[key] for key in zip(r, f, m)]


@pytest.mark.parametrize("basis", ["mean", "median", "threshold"])
def test_high_low_classes_equal_the_lookup_per_customer(basis):
    rng = np.random.default_rng(11)
    features = pd.DataFrame({"recency_days": rng.integers(0, 400, 300), "orders": rng.integers(1, 6, 300),
                             "revenue": np.round(rng.gamma(2, 50, 300), 2)}, index=rng.permutation(300) + 1000)
    features.loc[features.index[:3], "revenue"] = np.nan  # missing: low
    features.loc[features.index[3:6], "orders"] = 3  # ties at the threshold: low (strictly more is high)
    thresholds = {"recency_days": 90, "orders": 3, "revenue": 100.0}
    segment_map = load_segment_map(CN8, basis=basis, thresholds=thresholds if basis == "threshold" else None)
    codes, used = assign_high_low_classes(features, segment_map)
    assert codes.index.equals(features.index) and codes.name == "rfm_class"
    assert codes.tolist() == reference_high_low(features, segment_map, used)


def test_a_map_giving_two_cells_one_class_is_looked_up_right():
    segments = tuple({"code": "recent" if r == "high" else "away", "en": "", "zh": "", "r": r, "f": f, "m": m}
                     for r in ("high", "low") for f in ("high", "low") for m in ("high", "low"))
    two = SegmentMap(name="two", kind="high_low", segments=segments, basis="mean")
    features = pd.DataFrame({"recency_days": [1, 500, 30], "orders": [1, 9, 2], "revenue": [1.0, 9.0, 5.0]})
    assert assign_high_low_classes(features, two)[0].tolist() == ["recent", "away", "recent"]


def month_start_history(seed=12, customers=80):
    rng = np.random.default_rng(seed)
    parts = []
    for m in (month(2024, 2), month(2024, 3), month(2024, 4)):
        n = customers if m != month(2024, 3) else customers // 2
        parts.append(pd.DataFrame({"month": m, "customer_id": [f"c{i:03d}" for i in rng.permutation(n)],
                                   "recency_days": rng.integers(0, 300, n), "orders": rng.integers(1, 8, n),
                                   "revenue": np.round(rng.gamma(2, 40, n), 2),
                                   "last_purchase": pd.Timestamp("2024-01-15")}))
    return pd.concat(parts[::-1], ignore_index=True)  # newest first: the months are put in order


def test_month_start_classes_classify_each_month_on_its_own_cut_points():
    history = month_start_history()
    grid = load_segment_map("rfm11")
    classes = month_start_classes(history, RFM(), grid, CN8)
    assert [m for m, _ in month_groups(classes)] == [month(2024, 2), month(2024, 3), month(2024, 4)]
    for start, features in history.groupby("month"):
        scorer = RFMScorer(5).fit(features)
        expected = segment_customers(features.reset_index(drop=True), scorer, grid, CN8)[0]
        got = classes[classes["month"] == start]
        assert got["customer_id"].tolist() == features["customer_id"].tolist()
        assert got["segment"].tolist() == expected["segment"].tolist()
        assert got["rfm_class"].tolist() == expected["rfm_class"].tolist()
    eight = month_start_segments(history, RFM(), grid, CN8, "rfm_class")
    assert eight["segment"].tolist() == classes["rfm_class"].tolist()


# ---- computed once per run, recomputed when its inputs change ----

def test_the_monthly_kpis_stage_is_computed_once_and_redone_for_new_activity(tmp_path):
    activity = random_activity(21)
    save_stage(tmp_path, activity=activity)
    kpis = monthly_kpis_stage(tmp_path)
    assert_same(kpis, reference_kpis(activity))
    saved = load_stage(tmp_path, "monthly_kpis")
    pd.testing.assert_frame_equal(saved.drop(columns="month"), kpis.drop(columns="month"), check_exact=True)
    assert saved["month"].tolist() == kpis["month"].tolist()
    # a later step loads it: planted figures come back untouched
    stamped = pd.read_parquet(tmp_path / "monthly_kpis.parquet")
    stamped.loc[0, "orders"] = -1
    stamped.to_parquet(tmp_path / "monthly_kpis.parquet", index=False)
    assert monthly_kpis_stage(tmp_path).loc[0, "orders"] == -1
    # 01 rerun on other data: the stage is made again
    other = random_activity(22)
    save_stage(tmp_path, activity=other)
    assert_same(monthly_kpis_stage(tmp_path), reference_kpis(other))
    # a history write reads it without writing into the finished report
    (tmp_path / "monthly_kpis.parquet").unlink()
    assert_same(monthly_kpis_stage(tmp_path, save=False), reference_kpis(other))
    assert not (tmp_path / "monthly_kpis.parquet").exists()
    (tmp_path / "activity.parquet").unlink()
    assert monthly_kpis_stage(tmp_path) is None


def test_the_month_start_classes_stage_is_redone_for_other_standards(tmp_path):
    history = month_start_history()
    save_stage(tmp_path, month_start_features=history)
    grid = load_segment_map("rfm11")
    first = month_start_classes_stage(tmp_path, RFM(), grid, CN8)
    assert_same(first, month_start_classes(history, RFM(), grid, CN8))
    assert_same(month_start_classes_stage(tmp_path, RFM(), grid, CN8), first)  # loaded
    four = month_start_classes_stage(tmp_path, RFM(bins=4), grid, CN8)
    assert_same(four, month_start_classes(history, RFM(bins=4), grid, CN8))
    assert not four["segment"].equals(first["segment"])
    median = load_segment_map(CN8, basis="median")
    assert_same(month_start_classes_stage(tmp_path, RFM(), grid, median),
                month_start_classes(history, RFM(), grid, median))
    save_stage(tmp_path, month_start_features=history.iloc[:0])
    assert month_start_classes_stage(tmp_path, RFM(), grid, CN8) is None
    assert not (tmp_path / "month_start_classes.parquet").exists()


def test_the_month_start_classes_stage_read_a_month_at_a_time_equals_the_whole_history(tmp_path):
    """The stage classifies the file one month at a time: a file whose months are out of order and
    whose row groups straddle months (written elsewhere) gives the classes of the whole history, as
    Categoricals, and loads back as such."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    history = month_start_history()  # newest month first
    pq.write_table(pa.Table.from_pandas(history, preserve_index=False), tmp_path / "month_start_features.parquet",
                   row_group_size=7)
    grid = load_segment_map("rfm11")
    staged = month_start_classes_stage(tmp_path, RFM(), grid, CN8)
    expected = month_start_classes(history, RFM(), grid, CN8)
    assert_same(staged, expected)
    assert staged["month"].tolist() == sorted(history["month"])
    for column in ("month", "segment", "rfm_class"):
        assert isinstance(staged[column].dtype, pd.CategoricalDtype)
    loaded = month_start_classes_stage(tmp_path, RFM(), grid, CN8)
    assert all(isinstance(loaded[c].dtype, pd.CategoricalDtype) for c in ("month", "segment", "rfm_class"))
    assert_same(loaded, expected)


def test_the_trends_from_saved_kpis_equal_those_from_the_activity():
    activity = random_activity(31)
    history = month_start_history()
    classes = month_start_classes(history, RFM(), load_segment_map("rfm11"), CN8)[["month", "customer_id", "segment"]]
    pd.testing.assert_frame_equal(kpi_series(None, classes, history, kpis=monthly_kpis(activity)),
                                  kpi_series(activity, classes, history), check_exact=True)


def test_last_months_classes_from_the_stage_equal_a_classification_of_that_month():
    history = month_start_history()
    grid = load_segment_map("rfm11")
    classes = month_start_classes(history, RFM(), grid, CN8)
    saved, source = classes_before(month(2024, 3), None, None, history, RFM(), grid, CN8, month_start_classes=classes)
    fresh, again = classes_before(month(2024, 3), None, None, history, RFM(), grid, CN8)
    assert source == again == "recomputed"
    assert_same(saved, fresh)
    assert len(saved) == 40 and list(saved.columns) == ["customer_id", "segment", "rfm_class"]


# ---- customer ids compared in Arrow ----

def test_ids_are_compared_as_text_and_missing_ids_are_never_found():
    assert contains(pd.Series([1, 2, None], dtype=object), ["2", "3"]).tolist() == [False, True, False]
    assert positions(["b", "z", "a"], pd.Series(["a", "b", "b"])).tolist() == [1, -1, 0]


def test_transitions_moves_and_slips_keep_their_definitions():
    before = pd.DataFrame({"customer_id": ["b", "a", "c", "d"], "segment": ["champions", "loyal", "lost", "champions"],
                           "recency_days": [10, 200, 400, 160], "last_purchase": pd.Timestamp("2024-02-20")})
    after = pd.DataFrame({"customer_id": ["a", "b", "c", "d", "e"],
                          "segment": ["at_risk", "champions", "lost", "hibernating", "new_customers"],
                          "recency_days": [231, 3, 5, 191, 2], "revenue": [5.0, 9.0, 1.0, 7.0, 3.0],
                          "last_purchase": pd.to_datetime(["2023-08-13", "2024-03-28", "2024-03-26", "2023-09-22",
                                                           "2024-03-29"])})
    counts, _ = transition_matrix(before, after, "segment", codes=load_segment_map("rfm11").codes)
    assert counts.loc["champions", "champions"] == 1 and counts.loc["loyal", "at_risk"] == 1
    assert counts.loc["new", "new_customers"] == 1 and int(counts.to_numpy().sum()) == 5
    moves = customer_moves(before, after, month(2024, 3), churn_window=180)
    assert moves.to_dict() == {"a": "stayed", "b": "returning", "c": "reactivated", "d": "lost", "e": "new"}
    slips = slipped(before, after)
    assert slips["customer_id"].tolist() == ["d", "a"] and slips["before"].tolist() == ["champions", "loyal"]
    with pytest.raises(DataError, match=r"2 customers classified .* \(e.g. 'x'\)"):
        transition_matrix(pd.concat([before, pd.DataFrame({"customer_id": ["y", "x"], "segment": ["lost"] * 2})]),
                          after)
    with pytest.raises(DataError, match="before has customer 'b' twice"):
        customer_moves(pd.concat([before, before.iloc[:1]]), after, month(2024, 3))


# ---- 06 on integer positions (issue 15): each fast path against the per-customer definitions ----

from segkit.monthly.codes import class_codes, has_duplicates  # noqa: E402
from segkit.monthly.stage import _classes_before, _joined, slipped_customers  # noqa: E402

RFM11 = load_segment_map("rfm11").codes


def reference_matrix(before, after, column, order):
    """Counts per (class before, class after) with a dict lookup per customer (ids as text)."""
    was = {str(c): v for c, v in zip(before["customer_id"], before[column])}
    rows = [was.get(str(c), "new") for c in after["customer_id"]]
    counts = pd.crosstab(pd.Categorical(rows, [*order, "new"]), pd.Categorical(after[column], order), dropna=False)
    counts.index.name, counts.columns.name = "before", "after"
    counts = counts.astype("int64")
    totals = counts.sum(axis=1)
    return counts, counts.div(totals.where(totals > 0), axis=0)


def months_pair():
    """Two months of classes with the edge cases: "7" new this month, "x9" gone (set aside), ids that
    look like numbers ("007" and "7" are two customers; 12 given as an integer last month), a class
    (loyal) present only last month, one (promising) only this month."""
    before = pd.DataFrame({"customer_id": ["007", 12, "a", "b", "x9", "c"],
                           "segment": ["champions", "loyal", "loyal", "lost", "lost", "at_risk"],
                           "rfm_class": ["important_value", "important_retain", "general_value", "general_winback",
                                         "general_winback", "important_winback"]})
    after = pd.DataFrame({"customer_id": ["a", "b", "7", "12", "007", "c"],
                          "segment": ["at_risk", "promising", "new_customers", "hibernating", "at_risk", "at_risk"],
                          "rfm_class": ["general_winback", "general_develop", "general_develop", "important_winback",
                                        "important_winback", "important_winback"],
                          "revenue": [5.0, 1.0, 2.0, 9.0, np.nan, 3.0], "clv": [1.0, 2.0, 3.0, 7.0, 7.0, np.nan]})
    return before, after


@pytest.mark.parametrize("as_category", [False, True])
def test_the_transition_matrix_equals_the_lookup_per_customer(as_category):
    before, after = months_pair()
    before = before[before["customer_id"] != "x9"]
    if as_category:  # last month's classes as the month-start classes stage keeps them
        before = before.astype({"segment": "category", "rfm_class": "category"})
    for column, order in (("segment", RFM11), ("rfm_class", load_segment_map("cn8").codes)):
        counts, shares = transition_matrix(before, after, column, codes=order)
        want_counts, want_shares = reference_matrix(before, after, column, order)
        pd.testing.assert_frame_equal(counts, want_counts)
        pd.testing.assert_frame_equal(shares, want_shares)
    assert counts.loc["new", "general_develop"] == 1  # "7" is not "007"
    counts, _ = transition_matrix(before, after, "rfm_class")  # no codes: the classes met, sorted
    pd.testing.assert_frame_equal(counts, reference_matrix(before, after, "rfm_class", sorted(
        set(before["rfm_class"]) | set(after["rfm_class"])))[0])


def test_the_transition_matrix_names_a_missing_class_a_gone_customer_and_a_customer_twice():
    before, after = months_pair()
    with pytest.raises(DataError, match="1 customer.*not classified this month.*'x9'"):
        transition_matrix(before, after, codes=RFM11)
    before = before[before["customer_id"] != "x9"]
    with pytest.raises(DataError, match=r"classes \[nan\] are not in the map"):
        transition_matrix(before, after.assign(segment=after["segment"].where(after.index != 2)), codes=RFM11)
    with pytest.raises(DataError, match="after has customer '12' twice"):
        transition_matrix(before, pd.concat([after, after.iloc[[3]]]).assign(customer_id=lambda f: f["customer_id"]),
                          codes=RFM11)
    twice = pd.concat([before, before.iloc[[1]]])
    twice["customer_id"] = twice["customer_id"].astype(str)
    with pytest.raises(DataError, match="before has customer '12' twice"):
        transition_matrix(twice, after, codes=RFM11)


def reference_moves(before, after, start, window):
    gap = {str(c): r for c, r in zip(before["customer_id"], before["recency_days"])}
    moves = {}
    for c, last, recency in zip(after["customer_id"], after["last_purchase"], after["recency_days"]):
        bought = pd.notna(last) and pd.Timestamp(last) >= pd.Timestamp(start)
        was = gap.get(str(c))
        within = was is not None and pd.notna(was) and was < window
        if str(c) not in gap:
            moves[str(c)] = "new"
        elif bought:
            moves[str(c)] = "returning" if within else "reactivated"
        elif within and pd.notna(recency) and recency >= window:
            moves[str(c)] = "lost"
        else:
            moves[str(c)] = "stayed"
    return pd.Series(moves, name="move").rename_axis("customer_id")


def test_customer_moves_equal_the_definitions_with_the_edge_cases():
    start = dt.date(2024, 3, 1)
    before = pd.DataFrame({"customer_id": ["007", 12, "a", "b", "x9", "c", "d"],
                           "recency_days": [10, 200, 170, np.nan, 5, 100, 179]})
    before["last_purchase"] = pd.Timestamp(start) - pd.to_timedelta(before["recency_days"] + 1, unit="D")
    after = pd.DataFrame({"customer_id": ["a", "b", "7", "12", "007", "c", "d"],
                          "recency_days": [201, 3, 1, 3, 40, np.nan, 180],
                          "last_purchase": pd.to_datetime(["2023-09-10", "2024-03-28", "2024-03-30", "2024-03-28",
                                                           "2024-02-20", None, "2023-10-03"])})
    moves = customer_moves(before, after, start, churn_window=180)
    pd.testing.assert_series_equal(moves, reference_moves(before, after, start, 180), check_index_type=False)
    assert moves.to_dict() == {"a": "lost", "b": "reactivated", "7": "new", "12": "reactivated", "007": "stayed",
                               "c": "stayed", "d": "lost"}
    with pytest.raises(DataError, match="before has customer 'a' twice"):
        customer_moves(pd.concat([before, before.iloc[[2]]]), after, start)


def reference_slipped(before, after):
    """Valuable last month (either map), at risk now, by a lookup per customer; the most valuable first."""
    was = {str(c): (s, k) for c, s, k in zip(before["customer_id"], before["segment"], before["rfm_class"])}
    rows = []
    for row in after.assign(customer_id=after["customer_id"].astype(str)).to_dict("records"):
        segment, klass = was.get(row["customer_id"], (None, None))
        by_segment = segment in ("champions", "loyal", "cant_lose") and row["segment"] in (
            "at_risk", "about_to_sleep", "hibernating", "lost")
        by_class = klass in ("important_value", "important_retain") and row["rfm_class"] in (
            "important_winback", "general_winback")
        if by_segment or by_class:
            rows.append({"customer_id": row["customer_id"], "before": segment, "after": row["segment"],
                         "class_before": klass, "class_after": row["rfm_class"], "revenue": row["revenue"],
                         "clv": row["clv"]})
    frame = pd.DataFrame(rows)
    return frame.sort_values(["clv", "customer_id"], ascending=[False, True], kind="stable").reset_index(drop=True)


def test_slipped_customers_equal_the_lookup_per_customer():
    before, after = months_pair()
    slipped_now = slipped_customers(before, after)  # "x9", gone this month, is not compared
    assert slipped_now["customer_id"].tolist() == ["007", "12", "a"]  # clv 7, 7 (ids in order), 1
    pd.testing.assert_frame_equal(slipped_now, reference_slipped(before, after), check_dtype=False)
    with pytest.raises(DataError, match="current has customer 'a' twice"):
        slipped_customers(before, pd.concat([after, after.iloc[[0]]]))


def test_joined_by_position_equals_the_merge():
    features = pd.DataFrame({"customer_id": ["007", "7", 12, "a"], "revenue": [1.0, 2.0, 3.0, 4.0]})
    aligned = pd.DataFrame({"customer_id": ["007", "7", "12", "a"], "cluster": [3, 1, 0, 2]})
    shuffled = aligned.iloc[[3, 0, 2]]  # "7" has no cluster
    twice = pd.concat([aligned, aligned.iloc[[0]].assign(cluster=5)])  # a merge makes two rows of "007"
    for clusters in (aligned, shuffled, twice):
        expected = features.assign(customer_id=features["customer_id"].astype(str)).merge(
            clusters.assign(customer_id=clusters["customer_id"].astype(str)), on="customer_id")
        pd.testing.assert_frame_equal(_joined(features, clusters), expected)


def test_duplicates_and_class_codes_as_pandas_sees_them():
    assert not has_duplicates(pd.Series(["7", "007", "07"]))
    assert has_duplicates(pd.Series(["7", 7], dtype=object))  # compared as text
    assert has_duplicates(pd.Series(["a", None, None], dtype=object))  # as duplicated() counts missing ids
    assert not has_duplicates(pd.Series([], dtype="str"))
    order = ["b", "a", "c"]
    values = pd.Series(["a", None, "c", "z", "a"], dtype="str")
    expected = [1, -1, 2, -1, 1]
    assert class_codes(values, order).tolist() == expected
    assert class_codes(values.astype("category"), order).tolist() == expected
    categorical = pd.Series(pd.Categorical(["a", "c"], categories=["c", "unused", "a"]))
    assert class_codes(categorical, order).tolist() == [1, 2]


def test_month_numbers_of_a_categorical_equal_those_of_its_values():
    months = pd.Series(pd.Categorical([month(2024, 3), month(2023, 12), month(2024, 3)],
                                      categories=[month(2023, 12), "not a date", month(2024, 3)]))
    assert month_numbers(months).tolist() == month_numbers(months.astype(object)).tolist() == [
        2024 * 12 + 2, 2023 * 12 + 11, 2024 * 12 + 2]  # a category nobody has is not read
    with pytest.raises(ValueError, match="'not a date' is not a date"):
        month_numbers(pd.Series(pd.Categorical([month(2024, 3), "not a date"])))
    with pytest.raises(ValueError, match="is not a date"):  # a missing month
        month_numbers(pd.Series(pd.Categorical([month(2024, 3), None])))


def test_last_months_classes_read_alone_from_the_stage_file_equal_the_whole_stages(tmp_path):
    from segkit.monthly.migration import classes_before
    from segkit.monthly.shared import month_start_classes_file

    history = month_start_history()
    save_stage(tmp_path, month_start_features=history)
    grid = load_segment_map("rfm11")
    path = month_start_classes_file(tmp_path, RFM(), grid, CN8)
    whole = month_start_classes_stage(tmp_path, RFM(), grid, CN8)
    assert path == tmp_path / "month_start_classes.parquet"
    for start in sorted(set(history["month"])):
        start = pd.Timestamp(start).date()
        read, source = _classes_before(None, path, start)
        want, _ = classes_before(start, month_start_classes=whole)
        assert source == "recomputed"
        pd.testing.assert_frame_equal(read.astype({"segment": "str", "rfm_class": "str"}), want)
    assert _classes_before(None, path, dt.date(1999, 1, 1)) == (None, "none")
    # other standards: the file is made again for them, never the earlier one returned
    month_start_classes_file(tmp_path, RFM(bins=4), grid, CN8)
    assert_same(load_stage(tmp_path, "month_start_classes", categories=["month"]),
                month_start_classes(history, RFM(bins=4), grid, CN8))


@pytest.mark.parametrize("order", ["aligned", "shuffled", "gone_twice"])
def test_moves_from_the_rows_known_equal_the_moves_found_by_id(order):
    from segkit.monthly.migration import moves_at
    from segkit.monthly.stage import _rows_before

    start = dt.date(2024, 3, 1)
    previous = pd.DataFrame({"customer_id": ["007", "12", "x9", "a", "b"], "recency_days": [10, 200, 5, 170, 30],
                             "last_purchase": pd.to_datetime(["2024-02-19", "2023-08-13", "2024-02-24", "2023-09-12",
                                                              "2024-01-30"])})
    if order == "gone_twice":  # "x9", set aside this month, listed twice: the moves must name it
        previous = pd.concat([previous, previous.iloc[[2]]], ignore_index=True)
    features = pd.DataFrame({"customer_id": ["a", "7", "12", "b", "007"], "recency_days": [200, 1, 3, 61, 40],
                             "last_purchase": pd.to_datetime(["2023-09-12", "2024-03-30", "2024-03-28",
                                                              "2024-01-30", "2024-02-20"])})
    current = features[["customer_id"]].copy()
    listed = previous["customer_id"] if order != "shuffled" else previous["customer_id"].iloc[::-1].reset_index(drop=True)
    found = positions(listed, current["customer_id"])
    kept = found >= 0
    rows = _rows_before(previous, listed, kept, found[kept], features, current)
    if order == "aligned":
        assert rows is not None
        pd.testing.assert_series_equal(moves_at(previous, features, rows, start),
                                       customer_moves(previous, features, start))
        assert customer_moves(previous, features, start).tolist() == reference_moves(
            previous, features, start, 180).tolist()
    else:  # not in the same order, or a customer listed twice: found by id, as before
        assert rows is None
    if order == "gone_twice":
        with pytest.raises(DataError, match="before has customer 'x9' twice"):
            customer_moves(previous, features, start)


def test_classes_that_are_numbers_or_flags_match_as_python_compares_them():
    from segkit.errors import DataError
    from segkit.monthly.codes import class_codes
    from segkit.monthly.migration import transition_matrix

    before = pd.DataFrame({"customer_id": ["a", "b"], "cluster": [0.0, 1.0]})
    after = pd.DataFrame({"customer_id": ["a", "b", "c"], "cluster": [1.0, 1.0, 0.0]})
    counts, _ = transition_matrix(before, after, "cluster", codes=[0, 1])
    assert counts.to_numpy().tolist() == [[0, 1], [0, 1], [1, 0]]  # 0 -> 1, 1 -> 1, NEW -> 0
    assert class_codes(pd.Series([True, False, None], dtype=object), [0, 1]).tolist() == [1, 0, -1]
    assert class_codes(pd.Series(["b", None, "z"]), ["a", "b"]).tolist() == [1, -1, -1]
    with pytest.raises(DataError, match="are not in the map's codes"):  # text codes do not match numbers
        transition_matrix(before.assign(cluster=[0, 1]), after.assign(cluster=[1, 1, 0]), "cluster", codes=["0", "1"])


def test_monthly_revenue_is_the_exact_sum_of_the_amounts():
    """A month's revenue is the exact decimal sum of its customers' amounts, as one float: 0.1 + 0.2
    is 0.3 and 45,714.60 not 45714.600000000006 (the float sum), in the KPIs, the stage and the history."""
    m = month(2025, 3)
    amounts = [6237.32, 8467.11, 16554.22, 14455.95]
    activity = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "month": [m] * 4, "orders": [1] * 4,
                             "revenue": amounts})
    assert sum(amounts) != 45714.6  # the float sum misses it
    assert monthly_kpis(activity)["revenue"].tolist() == [45714.6]
    cents = pd.DataFrame({"customer_id": ["a", "b"], "month": [m, month(2025, 5)], "orders": [1, 1],
                          "revenue": [0.1, 0.2]})
    assert monthly_kpis(cents)["revenue"].tolist() == [0.1, 0.0, 0.2]  # an empty month in between: no revenue
    # values that are not amounts of a few decimals are summed as they are
    odd = activity.assign(revenue=[1 / 3, 2 / 3, 1e-9, 5.0])
    assert monthly_kpis(odd)["revenue"].iloc[0] == pytest.approx(6.000000001)


def test_last_months_figures_counted_now_are_set_beside_what_its_run_reported(tmp_path):
    """Cancellations of November's orders made in December change November counted now; the index and
    06 set both figures side by side (the history keeps what November's run said)."""
    from segkit.monthly.history import restated_figures, write_month
    from segkit.report.tables import restated_table

    path = tmp_path / "history.duckdb"
    profile = pd.DataFrame({"customer_id": ["a", "b"], "segment": ["champions", "lost"]})
    write_month(path, "shop", dt.date(2025, 11, 30), profile,
                {"customers": 963.0, "month_active_customers": 91.0, "month_revenue": 36976.4,
                 "month_retention_rate": 0.164, "month_orders": 100.0})
    changes = pd.DataFrame({"kpi": ["customers", "active_customers", "revenue", "retention_rate", "top_share"],
                            "this_month": [1009.0, 96.0, 37285.8, 0.176, 0.5],
                            "last_month": [963.0, 85.0, 35044.3, 0.155, 0.4], "change": [0.0] * 5})
    found = restated_figures(path, "shop", dt.date(2025, 12, 1), changes)
    assert found.to_dict("records") == [{"kpi": "active_customers", "reported": 91.0, "now": 85.0},
                                        {"kpi": "revenue", "reported": 36976.4, "now": 35044.3},
                                        {"kpi": "retention_rate", "reported": 0.164, "now": 0.155}]
    shown = restated_table(found, "en", currency=Currency(code="CNY", symbol="¥"))
    assert shown.loc[1, ["reported", "counted_now", "change"]].tolist() == ["¥36,976.40", "¥35,044.30", "-¥1,932.10"]
    assert shown.loc[2, "change"] == "-0.9 pts"
    # the same figures, or no history of last month: nothing to say
    agreed = changes.assign(last_month=[963.0, 91.0, 36976.4, 0.164, 0.4])
    assert restated_figures(path, "shop", dt.date(2025, 12, 1), agreed).empty
    assert restated_figures(path, "shop", dt.date(2025, 11, 1), changes).empty
    assert restated_figures(tmp_path / "none.duckdb", "shop", dt.date(2025, 12, 1), changes).empty
    assert restated_table(restated_figures(path, "other", dt.date(2025, 12, 1), changes), "en") is None
    # last month's class shares and top share, from its assignments (no revenue here: no top share)
    shares = changes.assign(kpi=["share_champions", "share_lost", "share_at_risk", "customers", "top_share"],
                            last_month=[0.5, 0.4, 0.1, 963.0, 0.6])
    assert restated_figures(path, "shop", dt.date(2025, 12, 1), shares).to_dict("records") == [
        {"kpi": "share_lost", "reported": 0.5, "now": 0.4}, {"kpi": "share_at_risk", "reported": 0.0, "now": 0.1}]
    write_month(path, "shop", dt.date(2025, 11, 30), profile.assign(revenue=[80.0, 20.0]), {"customers": 963.0})
    top = restated_figures(path, "shop", dt.date(2025, 12, 1), shares, top=0.5)
    assert top.set_index("kpi").loc["top_share"].tolist() == [0.8, 0.6]  # a, the top half, brought 80%
    labelled = restated_table(top, "en", top=0.5, segment_labels={"lost": "Lost"})
    assert labelled["kpi"].tolist()[:3] == ["Share of Lost", "Share of at_risk", "Revenue share of the top 50%"]


def test_the_history_keeps_revenue_so_far_as_the_exact_sum():
    from segkit.monthly.backfill import month_figures

    profile = pd.DataFrame({"customer_id": list("abcd"), "orders": [1, 2, 1, 1],
                            "revenue": [6237.32, 8467.11, 16554.22, 14455.95]})
    assert sum(profile["revenue"]) != 45714.6
    assert month_figures(profile, None, dt.date(2025, 3, 31))["revenue"] == 45714.6


def test_a_reports_month_keeps_revenue_so_far_exact_in_any_minor_unit(tmp_path):
    """The report's headline revenue is rounded to the cent; the history keeps the exact sum (a
    currency of three decimals lost its third)."""
    from segkit.monthly.history import read_history, record_run
    from segkit.store import save_run_info, save_stage

    data = tmp_path / "data"
    data.mkdir()
    save_stage(data, profile=pd.DataFrame({"customer_id": ["a", "b"], "orders": [1, 2], "revenue": [1234.567, 0.001],
                                           "segment": ["champions", "lost"]}))
    save_run_info(data, as_of="2025-03-31")
    record_run(tmp_path / "history.duckdb", "shop", data, {"customers": 2, "revenue": 1234.57})
    kpis = read_history(tmp_path / "history.duckdb", "shop")["kpis"].set_index("name")["value"]
    assert kpis["revenue"] == 1234.568 and kpis["customers"] == 2


def test_a_typed_value_is_shown_in_its_own_precision():
    from segkit.intake.cleaning import _as_given

    assert _as_given(np.float32(356.99)) == "356.99" and _as_given(np.float64(16.8575)) == "16.8575"
    assert _as_given(True) == "true" and _as_given(np.int64(3)) == "3" and _as_given(float("nan")) is None
