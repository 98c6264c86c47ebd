import pandas as pd
import pytest

from segkit.classify.value import concentration_curve, top_share


def test_top_share_by_hand():
    revenue = pd.Series([50.0, 20, 10, 10, 5, 5, 0, 0, 0, 0])
    assert top_share(revenue, 0.2) == pytest.approx(0.7)
    assert top_share(revenue, 0.5) == pytest.approx(0.95)
    assert top_share(pd.Series([3.0]), 0.2) == 1.0  # at least one customer


def test_top_share_refuses_nonsense():
    with pytest.raises(ValueError, match="between 0 and 1"):
        top_share(pd.Series([1.0]), 1.5)
    with pytest.raises(ValueError, match="positive total revenue"):
        top_share(pd.Series([0.0, 0.0]))


def test_concentration_curve_runs_from_zero_to_one_and_is_concave():
    curve = concentration_curve(pd.Series([1.0, 4, 2, 3]))
    assert curve.iloc[0].tolist() == [0.0, 0.0] and curve.iloc[-1].tolist() == [1.0, 1.0]
    assert curve["revenue_share"].tolist() == pytest.approx([0, 0.4, 0.7, 0.9, 1.0])
