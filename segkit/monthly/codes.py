"""Calendar months as integers and customer ids as Arrow arrays: the keys the monthly figures are
counted on, so that no figure compares dates or strings one Python object at a time.

- A month is the integer `year * 12 + month - 1` (months since year 0): consecutive months are
  consecutive integers, so "the month before" is `n - 1` and a span of months is a subtraction.
- Membership of customer ids (`contains`) runs in Arrow (`pyarrow.compute.is_in`, a hash set):
  pandas' `isin` on its Arrow-backed `str` dtype turns every value into a Python object first.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def month_numbers(values) -> np.ndarray:
    """The calendar month of each value (dates, Timestamps, datetime64 or ISO date strings) as an
    int64 array of `year * 12 + month - 1`. Raises ValueError naming the first value that is not a
    date (a missing month included)."""
    series = pd.Series(values, copy=False)
    # a few distinct months among many rows: each distinct value is converted once
    if isinstance(series.dtype, pd.CategoricalDtype) and (series.cat.codes.to_numpy() >= 0).all():
        # a stage's Categorical: its codes are the positions, its categories used the distinct months
        position = series.cat.codes.to_numpy()
        used = np.bincount(position, minlength=len(series.cat.categories)) > 0
        distinct = np.asarray(series.cat.categories.astype(object))
        stamps = pd.to_datetime(pd.Series(np.where(used, distinct, None)), errors="coerce")
        missing = (stamps.isna() & used).to_numpy()
        if missing.any():
            bad = distinct[int(np.argmax(missing))]
            raise ValueError(f"month {bad!r} is not a date: months are the first days of calendar months")
        numbers = np.where(used, stamps.dt.year.fillna(0).to_numpy(dtype="int64") * 12
                           + stamps.dt.month.fillna(1).to_numpy(dtype="int64") - 1, -1)
        return numbers[position]
    position, distinct = pd.factorize(series, use_na_sentinel=False)
    stamps = pd.to_datetime(pd.Series(distinct), errors="coerce")
    missing = stamps.isna().to_numpy()
    if missing.any():
        bad = distinct[int(np.argmax(missing))]
        raise ValueError(f"month {bad!r} is not a date: months are the first days of calendar months")
    numbers = stamps.dt.year.to_numpy(dtype="int64") * 12 + stamps.dt.month.to_numpy(dtype="int64") - 1
    return numbers[position]


def month_groups(frame: pd.DataFrame, column: str = "month"):
    """Yield (month as given, that month's rows in their order with a fresh index) for each month of
    `frame[column]`, oldest first: the groups of `frame.groupby(column, sort=True)`, found on
    integer months instead of by hashing a million date objects."""
    number = month_numbers(frame[column])
    if len(number) and (np.diff(number) >= 0).all():  # already oldest first (a saved stage): slices, no copies
        bounds = [0, *(np.flatnonzero(np.diff(number)) + 1), len(number)]
        for start, stop in zip(bounds[:-1], bounds[1:]):
            yield frame[column].iloc[start], frame.iloc[start:stop].reset_index(drop=True)
        return
    order = np.argsort(number, kind="stable")
    for rows in np.split(order, np.flatnonzero(np.diff(number[order])) + 1) if len(order) else []:
        yield frame[column].iloc[rows[0]], frame.iloc[rows].reset_index(drop=True)


def month_date(number: int) -> dt.date:
    """The first day of the month `number` (`month_numbers`)."""
    year, month = divmod(int(number), 12)
    return dt.date(year, month + 1, 1)


def _arrow_ids(ids) -> pa.Array:
    """Customer ids as one Arrow string array (zero-copy for pandas' Arrow-backed `str` dtype)."""
    series = pd.Series(ids, copy=False)
    if not isinstance(series.dtype, pd.StringDtype):
        series = series.astype("str")
    array = pa.array(series)
    return array.cast(pa.large_string()) if array.type != pa.large_string() else array


def contains(ids, values) -> np.ndarray:
    """A boolean array: for each of `ids`, whether it is among `values` (both customer ids, compared
    as text, as `Series.astype(str).isin` would). Missing ids are never contained."""
    found = pc.is_in(_arrow_ids(ids), value_set=_arrow_ids(values), skip_nulls=True)
    return np.asarray(found.fill_null(False), dtype=bool)


def positions(ids, among) -> np.ndarray:
    """For each of `ids`, the position of its first occurrence in `among` (both customer ids,
    compared as text), or -1 where it is not there: an int64 array, what `Index.get_indexer` gives,
    hashed in Arrow."""
    found = pc.index_in(_arrow_ids(ids), value_set=_arrow_ids(among), skip_nulls=True)
    return np.asarray(found.fill_null(-1), dtype="int64")


def has_duplicates(ids) -> bool:
    """Whether any customer id (compared as text) occurs twice among `ids`, counted in Arrow
    (`pyarrow.compute.unique`, a hash set): pandas' `duplicated` on its Arrow-backed `str` dtype
    factorizes every value first. Missing ids count as one value, as `duplicated` does."""
    array = _arrow_ids(ids)
    return len(pc.unique(array)) < len(array)


def class_codes(values, order) -> np.ndarray:
    """The position of each of `values` (class codes, text or Categorical) in `order` (the map's
    codes) as an int64 array, -1 for a value not in `order` or missing: the integers that
    transition matrices are counted on (`numpy.bincount`) instead of a crosstab of a million strings."""
    series = pd.Series(values, copy=False)
    if isinstance(series.dtype, pd.CategoricalDtype):  # a stage's Categorical: map its few categories
        lookup = pd.Index(list(order)).get_indexer(series.cat.categories.astype(object))
        codes = series.cat.codes.to_numpy()
        return np.where(codes >= 0, lookup[codes], -1).astype("int64")
    texts = all(isinstance(code, str) for code in order)
    if not (texts and pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty")):
        # classes that are numbers or flags (clusters): matched as Python compares them (0.0 is 0, True is 1)
        return pd.Index(list(order), dtype=object).get_indexer(series.to_numpy(dtype=object)).astype("int64")
    found = pc.index_in(pa.array(series.astype("str")), value_set=pa.array([str(c) for c in order]),
                        skip_nulls=True)
    return np.asarray(found.fill_null(-1), dtype="int64")
