"""Whether each value is among a set of values, for columns of text ids of any size.

pandas 3 keeps text in Arrow (`str`), and `Series.isin` with a large set of such values builds its
lookup value by value: 945 ids looked up among a million took 7.0 s (pandas 3.1.1), the same with
Arrow's `is_in` 0.2 s. `is_in` here is `Series.isin`'s meaning with Arrow's kernel where both sides are
text, and pandas' own where they are not (numbers are fast there)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def _as_arrow(values) -> pa.Array | None:
    """`values` (a Series, Index, array or list) as one Arrow array of large_string, or None when
    they are not text (numbers, dates, mixed objects)."""
    try:
        array = pa.array(values if not isinstance(values, (pd.Series, pd.Index)) else values.array)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return None
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        return array.cast(pa.large_string())
    return None


def is_in(values, allowed) -> np.ndarray:
    """A NumPy bool array, one per value of `values` (a pandas Series or Index, an array or a list):
    whether it is among `allowed` (the same kinds, or a set). A missing value is among `allowed` only
    when `allowed` holds a missing value, as in pandas' `isin`. Text on both sides is compared by
    Arrow's hash kernel (`pyarrow.compute.is_in`); anything else by `pandas.Series.isin`."""
    allowed = list(allowed) if isinstance(allowed, (set, frozenset)) else allowed
    left, right = _as_arrow(values), _as_arrow(allowed)
    if left is None or right is None:
        return pd.Series(values).isin(allowed).to_numpy(dtype=bool)
    return pc.is_in(left, value_set=right).to_numpy(zero_copy_only=False)
