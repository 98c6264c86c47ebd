"""The segmentation matrix (segkit.evaluate.matrix): quadrants counted by hand."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from segkit.errors import DataError, ParamsError
from segkit.evaluate.matrix import QUADRANTS, segmentation_matrix, spend_growth
from segkit.evaluate.stage import matrix_stage


def customers() -> pd.DataFrame:
    # revenue median 35 (between 30 and 40), clv median 4.5 (between 4 and 5)
    return pd.DataFrame({"customer_id": list("abcdef"), "revenue": [10.0, 20, 30, 40, 50, 60],
                         "clv": [9.0, 1, 4, 5, 2, 8], "age": [30, 40, 50, 60, 70, np.nan]})


def test_quadrants_by_hand_with_median_lines():
    matrix = segmentation_matrix(customers())
    assert matrix.cuts == {"value": 35.0, "potential": 4.5}
    # a: low value, clv 9 high -> grow; b: low, low; c: low, low; d: high, high; e: high, low; f: high, high
    assert matrix.assignments["quadrant"].tolist() == ["grow", "economise", "economise", "develop", "maintain", "develop"]
    counts = dict(zip(matrix.summary["quadrant"], matrix.summary["customers"]))
    assert counts == {"develop": 2, "maintain": 1, "grow": 1, "economise": 2}
    revenue = dict(zip(matrix.summary["quadrant"], matrix.summary["revenue"]))
    assert revenue == {"develop": 100.0, "maintain": 50.0, "grow": 10.0, "economise": 50.0}
    assert matrix.summary["customer_share"].sum() == pytest.approx(1.0)
    assert matrix.summary["revenue_share"].sum() == pytest.approx(1.0)
    assert list(matrix.summary["quadrant"]) == list(QUADRANTS)


def test_threshold_lines_and_a_customer_on_the_line_is_low():
    matrix = segmentation_matrix(customers(), cut="threshold", thresholds={"value": 40, "potential": 5})
    # d has revenue 40 and clv 5, both on the lines: low, low
    assert matrix.assignments.set_index("customer_id").loc["d", "quadrant"] == "economise"
    assert dict(zip(matrix.summary["quadrant"], matrix.summary["customers"])) == \
        {"develop": 1, "maintain": 1, "grow": 1, "economise": 3}


def test_customers_without_a_figure_are_left_out_and_counted():
    matrix = segmentation_matrix(customers(), value="revenue", potential="age", cut="mean")
    assert matrix.left_out == 1 and len(matrix.assignments) == 5
    assert matrix.cuts == {"value": 30.0, "potential": 50.0}  # the means of the five placed customers


def test_clear_errors():
    with pytest.raises(DataError, match="'growth'.*matrix_potential"):
        segmentation_matrix(customers(), potential="growth")
    with pytest.raises(ParamsError, match="matrix_thresholds.value"):
        segmentation_matrix(customers(), cut="threshold")
    with pytest.raises(ParamsError, match="median, mean, threshold"):
        segmentation_matrix(customers(), cut="mode")


def test_spend_growth_and_the_stage_that_says_why_not():
    activity = pd.DataFrame({"customer_id": ["a", "a", "a", "b"],
                             "month": [dt.date(2024, 1, 1), dt.date(2024, 5, 1), dt.date(2024, 6, 1), dt.date(2024, 2, 1)],
                             "orders": [1, 1, 1, 1], "revenue": [100.0, 10.0, 20.0, 40.0]})
    growth = spend_growth(activity, dt.date(2024, 6, 30), months=3).set_index("customer_id")["spend_growth"]
    # a: Apr-Jun 30 minus Jan-Mar 100; b: nothing recent, 40 before
    assert growth.to_dict() == {"a": -70.0, "b": -40.0}
    profile = customers().assign(customer_id=["a", "b", "c", "d", "e", "f"])
    matrix, reason = matrix_stage(profile, "en", potential="spend_growth", activity=activity,
                                  as_of=dt.date(2024, 6, 30), growth_months=3)
    assert reason is None and len(matrix.assignments) == 6  # customers without activity have growth 0
    none, reason = matrix_stage(profile.drop(columns="clv"), "zh", potential="clv")
    assert none is None and "clv" in reason
    # a customer table (no clv, no monthly activity): the columns it has are suggested, not clv
    none, reason = matrix_stage(profile.drop(columns="clv").assign(orders=range(6)), "en", potential="clv")
    assert reason.endswith("a column this run's customers have: revenue, orders)")


@pytest.mark.parametrize("value, potential", [("revenue", "clv"), ("age", "clv"), ("revenue", "spend_growth"),
                                              ("revenue", "no_such_column")])
def test_the_profile_columns_read_give_the_matrix_of_the_whole_profile(tmp_path, value, potential):
    """05 reads only the columns the matrix uses (`matrix_profile`): the same matrix, or the same reason."""
    from segkit.evaluate.stage import matrix_profile
    from segkit.store import save_stage

    profile = customers().assign(spend_growth=[1.0, -2, 3, -4, 5, -6], segment=list("xyxyxy"),
                                 orders=[1, 2, 3, 4, 5, 6])
    save_stage(tmp_path, profile=profile)
    read = matrix_profile(tmp_path, value, potential)
    assert set(read.columns) <= {"customer_id", "revenue", "orders", "clv", value, potential} and "segment" not in read.columns
    ours, our_reason = matrix_stage(read, "en", value, potential)
    theirs, their_reason = matrix_stage(profile, "en", value, potential)
    assert our_reason == their_reason
    if theirs is None:
        assert ours is None and our_reason
        return
    pd.testing.assert_frame_equal(ours.assignments, theirs.assignments)
    pd.testing.assert_frame_equal(ours.summary, theirs.summary)
    assert ours.cuts == theirs.cuts and ours.left_out == theirs.left_out
