"""segkit._membership.is_in: pandas' isin meaning, Arrow's lookup for text."""

import numpy as np
import pandas as pd
import pytest

from segkit._membership import is_in


@pytest.mark.parametrize("dtype", ["str", "string", object])
def test_text_agrees_with_pandas_isin(dtype):
    rng = np.random.default_rng(3)
    values = pd.Series([f"c{i}" for i in rng.integers(0, 500, 2_000)] + [None], dtype=dtype)
    allowed = pd.Series([f"c{i}" for i in rng.integers(0, 500, 300)], dtype=dtype)
    got = is_in(values, allowed)
    assert got.dtype == bool and len(got) == len(values)
    assert np.array_equal(got, values.isin(allowed).to_numpy(dtype=bool))
    assert 0 < got.sum() < len(values)


def test_missing_values_match_only_a_missing_value():
    values = pd.Series(["a", None, "b"], dtype="str")
    assert is_in(values, {"a"}).tolist() == [True, False, False]
    assert is_in(values, ["b", None]).tolist() == [False, True, True]


def test_other_kinds_and_mixed_kinds_as_pandas_says():
    assert is_in(pd.Series([1, 2, 3]), [2, 3]).tolist() == [False, True, True]
    assert is_in(pd.Series(["1", "2"]), [1]).tolist() == [False, False]  # text is not the number
    assert is_in(pd.Index(["x", "y"]), pd.Index(["y"])).tolist() == [False, True]
    assert is_in([], ["a"]).tolist() == []
