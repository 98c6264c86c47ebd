"""The per-customer export of a run, for the CRM, Excel and BI tools: `exports/` in the run folder.

One frame (`export_frame`) holds, per customer, the id, the segment of the eleven-segment map (or
the map the run used), the eight class, the cluster, the tiers, the tags, the rank and, where the
run has them, the predicted value (CLV) and the churn risk, each class as a stable code and as its
label in the run's language. The writers put it where people and systems read it:

- `customers.csv`: UTF-8 with a byte order mark, so that Excel (also in Chinese) opens it with the
  right characters, or GB18030 or GBK (`exports.csv_encoding`; a character GBK does not have is
  refused by row and column); headers in the run's language; the bytes
  pandas' `to_csv` writes, written by DuckDB's CSV writer (half the CPU at a million customers);
- `customers.xlsx`: a summary sheet, one sheet per segment (at most `exports.excel_max_rows` rows,
  best ranked first, with a note that says where the full list is) and a data-dictionary sheet that
  describes every column in English and Chinese;
- `customers.parquet`: the same rows under the code names, typed (text, integers, numbers, dates,
  true/false), for Tableau, Power BI and Looker Studio;
- with a PostgreSQL source, `postgres_schema.postgres_table` in that database, created, or its rows
  replaced (the same table, so the rights others hold on it and the views that read it stay), in one
  transaction, after checking that the role may write there and that it is not a source table.

Text cells that start with `=`, `+`, `-`, `@`, a tab or a carriage return are neutralised in the CSV
by a leading single quote (OWASP, "CSV Injection"), so a spreadsheet never runs a customer's name as a
formula (`formula_like`); in the Excel file, where a text cell is never a formula, they are written as
they are with Excel's quote prefix (the cell format that keeps them text also when edited). A text that
is a plain number as phone numbers write it (`+8613800138000`, `-42`: `PLAIN_NUMBER`) is left as it
is, and numbers (a negative revenue) stay numbers.

A run's exports (`export_run`) are made from one Arrow table built once from the stage files
(`_load_export_table`: class and label columns dictionary-encoded, each label looked up once per
distinct code), from which pyarrow writes the Parquet file, DuckDB the CSV and the Rust writer the
workbook, the workbook on a second thread beside the other two; the files are the ones the frame
functions above write (tests/test_exports_fast.py compares them). At a million customers the
workbook is most of the time: the Rust writer makes and compresses about 1 GB of sheet XML.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import re
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import pandas as pd

from segkit._files import new_file
from segkit.errors import DataError, ParamsError, SegkitError
from segkit.i18n import LANGUAGES, plural_form, t
from segkit.params import EXPORT_FORMATS, Database, Params, Tag, validate_params
from segkit.store import json_text

EXPORT_DIR = "exports"
FILE_NAMES = {"csv": "customers.csv", "xlsx": "customers.xlsx", "parquet": "customers.parquet"}
MOVED_FILE = "moved_to_at_risk.csv"  # 06_migration's valuable customers who slipped, for the CRM
ASIDE_FILE = "customers_set_aside.csv"  # 01_cleaning's customers left out of the classes, and why
# GBK: for systems that read nothing else; a text GBK cannot encode is refused by row and column (GB18030 encodes
# every character and writes each of GBK's 21,919 as GBK does, so a GBK file is a GB18030 file too)
CSV_ENCODINGS = ("utf-8-sig", "gb18030", "gbk")
_ENCODING_NAMES = {"utf-8-sig": "UTF-8", "gb18030": "GB18030", "gbk": "GBK"}
# OWASP, CSV Injection: a cell starting with one of these may be run as a formula by a spreadsheet
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# ... unless it is a number as phone numbers and ids write it: an optional sign, then digits with spaces, dots,
# commas, parentheses and dashes, and nothing else ("+8613800138000", "-42", "+86 138 0013 8000",
# "+1 (555) 123-4567"). With these characters no function, reference, link or command can be written, so a
# spreadsheet that reads one as a formula computes a number at worst; "-1+1" ("+" after the sign) is not one
PLAIN_NUMBER = r"[+-]?[0-9 .,()-]*[0-9][0-9 .,()-]*"
_PLAIN_NUMBER = re.compile(PLAIN_NUMBER)

# Every column the export can hold, in order, with its type. A column is there when the run has it.
COLUMNS = {
    "customer_id": "text", "segment": "text", "segment_name": "text", "rfm_class": "text",
    "rfm_class_name": "text", "rfm_code": "text", "cluster": "integer", "cluster_name": "text",
    "frequency_tier": "text", "frequency_tier_name": "text", "monetary_tier": "text",
    "monetary_tier_name": "text", "abc_class": "text", "tags": "text", "tag_names": "text",
    "rank": "integer", "rank_score": "number", "orders": "integer", "revenue": "number",
    "recency_days": "integer", "last_purchase": "date", "clv": "number", "clv_tier": "text",
    "clv_tier_name": "text", "p_alive": "number", "churn_risk": "boolean", "next_best_category": "text",
}
# amounts of money: in the CSV at the currency's decimals (params currency.minor_unit: "3849.40", not "3849.4"), in
# the workbook numbers with a money format (`_money_format`); here and in the lists of 06_migration and 01_cleaning
MONEY_COLUMNS = ("revenue", "clv")
# true/false in the CSV as the docs and the data dictionary write them (Python's str() would write True/False)
CSV_TRUE, CSV_FALSE = "true", "false"
# Excel's forbidden sheet-name characters, and its longest sheet name
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
_SHEET_NAME_MAX = 31


# the columns export_frame takes from the value stage (03_customer_value) and the clusters stage (04_clustering)
_VALUE_COLUMNS = ("clv", "clv_tier", "p_alive", "churn_risk")
_CLUSTER_COLUMNS = ("cluster", "cluster_name")


class ExportError(SegkitError):
    """An export cannot be written (a database role that may only read, a target that is a source table)."""


# ---------------------------------------------------------------- the frame

def export_frame(profile: pd.DataFrame, lang: str, segment_map, class_map, value: pd.DataFrame | None = None,
                 clusters: pd.DataFrame | None = None, tags: Sequence[Tag] = (), minor_unit: int = 2,
                 attributes: Sequence[str] = ()) -> pd.DataFrame:
    """One row per customer of `profile` (the 02_rfm stage: customer_id, segment, rfm_class, tiers,
    tags, rank ...), with `value` (03_customer_value: clv, clv_tier, p_alive, churn_risk) and
    `clusters` (04_clustering: cluster, cluster_name) joined on customer_id where given.

    Columns, in the order of `COLUMNS`, only those the stages have: classes as codes (segment,
    rfm_class, frequency_tier, ...) and as labels in `lang` (segment_name, ...; tag_names from the
    `tags` of the params, joined by the language's separator); rank (1 = best) and rank_score (0-1);
    orders, revenue, recency_days (days), last_purchase (date); revenue and clv in money
    rounded to `minor_unit` decimals, p_alive (0-1, 4 decimals), churn_risk (true/false); then each of
    `attributes` the profile holds (`exports.attributes`: a customer table's columns, as the run typed
    them: text, numbers, true/false, dates). Rows are in rank order (then customer_id). `segment_map` and `class_map` are `SegmentMap`s
    (`segkit.load_segment_map`). Inputs are not changed. Raises DataError when profile lacks
    customer_id or a customer appears twice.
    """
    if lang not in LANGUAGES:
        raise ValueError(f"lang must be one of {', '.join(LANGUAGES)}, got {lang!r}")
    if "customer_id" not in profile.columns:
        raise DataError("the profile stage has no customer_id column; run notebook 02_rfm again")
    twice = profile["customer_id"][profile["customer_id"].duplicated()]
    if len(twice):
        raise DataError(f"customer {twice.iloc[0]!r} appears twice in the profile stage; run notebook 02_rfm again")
    frame = profile.copy(deep=False)  # copy on write: nothing below changes the profile's columns in place
    for extra, keep in ((value, _VALUE_COLUMNS), (clusters, _CLUSTER_COLUMNS)):
        if extra is not None:
            columns = [c for c in keep if c in extra.columns and c not in frame.columns]
            if not columns:  # a left join that adds no column leaves the frame as it is
                continue
            # joined on the id column alone, then the new columns added: the profile's columns are not copied
            joined = frame[["customer_id"]].merge(extra[["customer_id", *columns]].drop_duplicates("customer_id"),
                                                  on="customer_id", how="left", validate="one_to_one")
            frame = frame.assign(**{c: joined[c].set_axis(frame.index) for c in columns})
    frame = frame.reset_index(drop=True)  # copy on write: no copy
    out = pd.DataFrame(index=frame.index)
    out["customer_id"] = frame["customer_id"].astype("string")
    if "segment" in frame.columns:
        out["segment"] = frame["segment"].astype("string")
        out["segment_name"] = _labels(frame["segment"], _map_labels(segment_map, frame["segment"], lang))
    if "rfm_class" in frame.columns:
        out["rfm_class"] = frame["rfm_class"].astype("string")
        out["rfm_class_name"] = _labels(frame["rfm_class"], class_map.labels(lang))
    if "rfm_code" in frame.columns:
        out["rfm_code"] = frame["rfm_code"].astype("string")
    if "cluster" in frame.columns:
        out["cluster"] = pd.array(frame["cluster"], dtype="Int64")
        if "cluster_name" in frame.columns:
            out["cluster_name"] = frame["cluster_name"].astype("string")
    for dim in ("frequency", "monetary"):
        column = f"{dim}_tier"
        if column in frame.columns:
            out[column] = frame[column].astype("string")
            out[f"{column}_name"] = _labels(frame[column], {v: t(f"tier.{dim}.{v}", lang)
                                                            for v in ("low", "mid", "high")})
    if "abc_class" in frame.columns:
        out["abc_class"] = frame["abc_class"].astype("string")
    if "tags" in frame.columns:
        names = {tag.name: getattr(tag, lang) for tag in tags}
        separator = t("exports.tag_separator", lang)
        codes = frame["tags"].fillna("").astype(str)
        out["tags"] = codes.astype("string")
        out["tag_names"] = _per_distinct(codes, lambda text: separator.join(names.get(c, c)
                                                                            for c in _split_tags(text))).array
    if "rank" in frame.columns:
        out["rank"] = pd.array(frame["rank"], dtype="Int64")
    if "rank_score" in frame.columns:
        out["rank_score"] = frame["rank_score"].astype(float).round(4)
    for column in ("orders", "recency_days"):
        if column in frame.columns:
            out[column] = pd.array(frame[column], dtype="Int64")
    if "revenue" in frame.columns:
        out["revenue"] = frame["revenue"].astype(float).round(minor_unit)
    if "last_purchase" in frame.columns:
        out["last_purchase"] = pd.to_datetime(frame["last_purchase"]).dt.date
    if "clv" in frame.columns:
        out["clv"] = frame["clv"].astype(float).round(minor_unit)
    if "clv_tier" in frame.columns:
        out["clv_tier"] = frame["clv_tier"].astype("string")
        out["clv_tier_name"] = _labels(frame["clv_tier"], {v: t(f"exports.clv_tier.{v}", lang)
                                                           for v in ("low", "mid", "high", "unknown")})
    if "p_alive" in frame.columns:
        out["p_alive"] = frame["p_alive"].astype(float).round(4)
    if "churn_risk" in frame.columns:
        out["churn_risk"] = pd.array(frame["churn_risk"], dtype="boolean")
    out = out[[c for c in COLUMNS if c in out.columns]]
    for name in attributes:
        if name in frame.columns and name not in out.columns:
            out[name] = _attribute_column(frame[name])
    if "rank" in out.columns:
        order = out[["rank", "customer_id"]].sort_values(["rank", "customer_id"], kind="stable",
                                                         na_position="last").index.to_numpy()
        for column in out.columns:  # column by column: one column's copy at a time, not the whole frame's
            out[column] = out[column].array.take(order)
    return out


def _attribute_column(values: pd.Series):
    """A customer table's column as the export holds it: whole numbers as Int64, other numbers as
    floats, true/false as boolean, dates and timestamps as dates, anything else as text."""
    kind = values.dtype
    if pd.api.types.is_bool_dtype(kind):
        return pd.array(values, dtype="boolean")
    if pd.api.types.is_integer_dtype(kind):
        return pd.array(values, dtype="Int64")
    if pd.api.types.is_float_dtype(kind):
        numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
        if _whole(numbers):  # whole numbers a join with missing records made float: "1500", not "1500.0"
            missing = np.isnan(numbers)
            return pd.arrays.IntegerArray(np.where(missing, 0, numbers).astype(np.int64), missing)
        return numbers
    if pd.api.types.is_datetime64_any_dtype(kind):
        return pd.to_datetime(values).dt.date.to_numpy()
    return values.astype("string").array


def _whole(numbers: np.ndarray) -> bool:
    """True when every number present is whole and within int64's exact range (some are present)."""
    present = numbers[~np.isnan(numbers)]
    return bool(len(present)) and bool(np.isfinite(present).all()) and bool((np.abs(present) < 2 ** 53).all()) \
        and bool((present == np.floor(present)).all())


def column_kind(name: str, values=None) -> str:
    """The kind of an export column (text, integer, number, date, boolean): `COLUMNS`' for segkit's own,
    else read from its `values` (a pandas Series or an Arrow array: a customer table's attribute)."""
    if name in COLUMNS or values is None:
        return COLUMNS.get(name, "text")
    import pyarrow as pa

    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        kind = values.type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        tests = (("boolean", pa.types.is_boolean), ("integer", pa.types.is_integer), ("number", pa.types.is_floating),
                 ("date", lambda k: pa.types.is_date(k) or pa.types.is_timestamp(k)))
    else:
        kind = values.dtype
        tests = (("boolean", pd.api.types.is_bool_dtype), ("integer", pd.api.types.is_integer_dtype),
                 ("number", pd.api.types.is_float_dtype), ("date", pd.api.types.is_datetime64_any_dtype))
        if kind == object and len(values):  # dates as datetime.date objects (`_attribute_column`)
            first = values.dropna()
            if len(first) and isinstance(first.iloc[0], dt.date):
                return "date"
    return next((word for word, test in tests if test(kind)), "text")


def describe(column: str, lang: str) -> str:
    """A column's description in `lang` (the data dictionary, the Parquet field, the database comment):
    segkit's own from the catalogue; a customer table's column (`exports.attributes`) as such."""
    from segkit.i18n import messages

    return t(f"exports.desc.{column}" if f"exports.desc.{column}" in messages() else "exports.desc.attribute", lang)


def load_export_frame(data_dir: str | os.PathLike, params: Params) -> pd.DataFrame:
    """`export_frame` of the run whose stage files are in `data_dir` (profile required; value and
    clusters where the run has them), with the run's language, maps, tags and currency from `params`."""
    from segkit.classify.rfm import load_segment_map
    from segkit.store import load_stage

    rfm = params.rfm
    # only the columns the export shows are read (a million customers' profile has forty)
    wanted = _stage_columns(data_dir, "profile", [*COLUMNS, *params.exports.attributes])
    profile = load_stage(data_dir, "profile", columns=wanted)
    classes = load_segment_map(rfm.class_map, custom=rfm.custom_maps, basis=rfm.class_basis,
                               thresholds=rfm.class_thresholds)
    extras = {}
    for name, keep in (("value", _VALUE_COLUMNS), ("clusters", _CLUSTER_COLUMNS)):
        columns = _stage_columns(data_dir, name, ["customer_id", *(c for c in keep if c not in profile.columns)])
        extras[name] = load_stage(data_dir, name, optional=True, columns=columns) if columns is None or len(columns) > 1 \
            else None
    frame = export_frame(profile, params.lang, _grid(rfm), classes, value=extras["value"], clusters=extras["clusters"],
                         tags=params.tags, minor_unit=params.currency.minor_unit, attributes=params.exports.attributes)
    del profile, extras
    columns = _stage_columns(data_dir, "next_best", ["customer_id", "next_best"])
    offers = load_stage(data_dir, "next_best", optional=True, columns=columns)  # 07_cross_sell's next best category
    if offers is not None and "next_best" in offers.columns:
        best = offers.assign(customer_id=offers["customer_id"].astype(str)).set_index("customer_id")["next_best"]
        frame["next_best_category"] = frame["customer_id"].astype(str).map(best).astype("string")
        # segkit's own columns first, then the customer table's (`exports.attributes`), as the export table has them
        frame = frame[[c for c in COLUMNS if c in frame.columns] + [c for c in frame.columns if c not in COLUMNS]]
    return frame


def _stage_columns(data_dir, name: str, wanted: list[str]) -> list[str] | None:
    """Those of `wanted` that the stage file data_dir/<name>.parquet holds, in the file's order; None when
    the file is missing or unreadable (`load_stage` then says so, or returns None for an optional stage)."""
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(Path(data_dir) / f"{name}.parquet").names
    except (OSError, ValueError):
        return None
    return [c for c in names if c in set(wanted)]


def moved_export_frame(moved: pd.DataFrame, lang: str, segment_map, class_map, minor_unit: int = 2) -> pd.DataFrame:
    """06_migration's valuable customers who slipped to at-risk classes (`moved_to_at_risk`:
    customer_id, before, after, class_before, class_after, then revenue, clv, p_alive,
    recency_days where present), for the CRM as the customer export writes its columns: each class
    as its code and its name in `lang` (before, before_name, after, after_name, class_before,
    class_before_name, ...), money rounded to `minor_unit` decimals, p_alive to 4, recency_days whole
    days, and moved_by, moved_by_name where present (customer, or thresholds: `segkit.monthly.stage.moved_by_thresholds`). Last month's segments may come from the fallback grid (`_map_labels` finds its names)."""
    out = pd.DataFrame(index=moved.index)
    out["customer_id"] = moved["customer_id"].astype("string")
    for column, labels in (("before", None), ("after", None), ("class_before", class_map.labels(lang)),
                           ("class_after", class_map.labels(lang))):
        if column in moved.columns:
            out[column] = moved[column].astype("string")
            named = labels if labels is not None else _map_labels(segment_map, moved[column].dropna(), lang)
            out[f"{column}_name"] = _labels(moved[column], named)
    for column, decimals in (("revenue", minor_unit), ("clv", minor_unit), ("p_alive", 4)):
        if column in moved.columns:
            out[column] = moved[column].astype(float).round(decimals)
    if "recency_days" in moved.columns:
        out["recency_days"] = pd.array(moved["recency_days"].round(), dtype="Int64")
    if "moved_by" in moved.columns:  # the customer, or the eight classes' thresholds moving with everyone
        out["moved_by"] = moved["moved_by"].astype("string")
        out["moved_by_name"] = _labels(moved["moved_by"], {code: t(f"migration.moved_by.{code}", lang)
                                                           for code in ("customer", "thresholds")})
    return out.reset_index(drop=True)


def set_aside_export_frame(aside: pd.DataFrame, lang: str, minor_unit: int = 2) -> pd.DataFrame:
    """01_cleaning's customers set aside (`customers_set_aside`: customer_id, rule, purchase_lines,
    return_lines, revenue; see `segkit.intake.returns.settle_customers`), for the CRM beside the
    customer export, which has no row for them: customer_id, rule (net_negative, net_zero or
    no_purchase: the same in every language) and rule_name (why, in `lang`), revenue after returns
    rounded to `minor_unit` decimals, purchase_lines and return_lines (whole numbers)."""
    from segkit.intake.returns import CUSTOMER_RULES

    out = pd.DataFrame(index=aside.index)
    out["customer_id"] = aside["customer_id"].astype("string")
    out["rule"] = aside["rule"].astype("string")
    out["rule_name"] = _labels(aside["rule"], {code: t(f"customer_rule.{code}", lang) for code in CUSTOMER_RULES})
    out["revenue"] = aside["revenue"].astype(float).round(minor_unit)
    for column in ("purchase_lines", "return_lines"):
        if column in aside.columns:
            out[column] = pd.array(aside[column], dtype="Int64")
    return out.reset_index(drop=True)


def _grid(rfm):
    from segkit.classify.rfm import load_segment_map

    return load_segment_map(rfm.segment_map, custom=rfm.custom_maps)


def _map_labels(segment_map, codes: pd.Series, lang: str) -> dict[str, str]:
    """The labels of the map the codes come from: the map named, or the fallback grid a run used."""
    from segkit.classify.rfm import map_for_codes

    try:
        return map_for_codes(segment_map, codes).labels(lang)
    except ValueError:  # codes no map knows: shown as they are
        return segment_map.labels(lang)


def _labels(codes: pd.Series, labels: dict[str, str]) -> pd.Series:
    """Each code's label (a code without one shown as it is; a missing or non-text code as missing),
    looked up once per distinct code rather than once per customer."""
    return _per_distinct(codes, lambda code: labels.get(code, code) if isinstance(code, str) else None)


def _per_distinct(values: pd.Series, label) -> pd.Series:
    """`label(value)` of each value as a "string" Series on `values`' index, computed once per
    distinct value (a few dozen segment codes or tag lists for 100,000 customers); missing values
    give missing."""
    positions, distinct = pd.factorize(values, use_na_sentinel=True)
    labelled = np.array([label(value) for value in distinct] + [None], dtype=object)
    return pd.Series(labelled[positions], index=values.index, dtype="string")  # position -1 (missing): None


def _split_tags(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"[,+]", text) if part.strip()]


# ---------------------------------------------------------------- spreadsheet safety

def formula_like(text: str) -> bool:
    """True when a spreadsheet could run the text as a formula (OWASP, "CSV Injection"): it starts
    with =, +, -, @, tab or carriage return (`FORMULA_STARTS`) and is not a plain number as phone
    numbers and ids write it (`PLAIN_NUMBER`: a sign, digits, spaces, dots, commas, parentheses and
    dashes only), which no spreadsheet can turn into a function, a reference, a link or a command.

    >>> [formula_like(v) for v in ("=1+1", "+cmd|' /C calc'!A0", "-1+1", "@SUM(A1)", "+8613800138000", "-42", "Anna")]
    [True, True, True, True, False, False, False]
    """
    return text.startswith(FORMULA_STARTS) and _PLAIN_NUMBER.fullmatch(text) is None


def neutralise(value):
    """A text cell a spreadsheet could run as a formula (`formula_like`), made inert by a leading
    single quote (OWASP, "CSV Injection"); anything else, plain numbers written as text ("-12",
    "+86 138 0013 8000") and numbers included, is returned as it is.

    >>> neutralise("=HYPERLINK(\\"http://x\\")"), neutralise("-1+1"), neutralise("-12"), neutralise(-12.5), neutralise("Anna")
    ('\\'=HYPERLINK("http://x")', "'-1+1", '-12', -12.5, 'Anna')
    """
    if isinstance(value, str) and formula_like(value):
        return "'" + value
    return value


def _people_frame(frame: pd.DataFrame, lang: str, quoted: bool = True, minor_unit: int = 2) -> pd.DataFrame:
    """The frame as people see it in a spreadsheet: headers in `lang`; with `quoted` (the CSV's), text
    cells neutralised, amounts of money (`MONEY_COLUMNS`) as text at `minor_unit` decimals ("3849.40")
    and true/false as "true"/"false" (`_csv_words`); with `quoted` False, the columns as they are (the
    workbook's: its writers give a formula-like text Excel's quote prefix instead, `_rust_workbook`)."""
    shown = frame.copy(deep=False)  # copy on write: the columns not neutralised are shared, not copied
    if not quoted:
        return shown.rename(columns={c: header(c, lang) for c in shown.columns})
    for column in shown.columns:
        kind = shown[column].dtype  # segkit's text columns, a customer table's text (`exports.attributes`), objects
        if COLUMNS.get(column) == "text" or isinstance(kind, pd.StringDtype) \
                or kind == object and _may_hold_text(shown[column]):
            shown[column] = _neutralised(shown[column])
        else:
            words = _csv_words(column, shown[column], minor_unit)
            if words is not None:
                shown[column] = pd.Series(pd.array(words.to_numpy(zero_copy_only=False), dtype="string"),
                                          index=shown.index)
    return shown.rename(columns={c: neutralise(header(c, lang)) for c in shown.columns})


def _csv_words(name: str, column, minor_unit: int):
    """The CSV's text of a column (pandas or Arrow) where it is not what `to_csv` would write: an amount of
    money (`MONEY_COLUMNS`, numbers) at `minor_unit` decimals (`money_text`), true/false as the docs write
    them ("true", "false"); None for any other column. Missing values stay missing (an empty field)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, pd.Series):
        dtype = column.dtype
        if isinstance(dtype, pd.BooleanDtype) or dtype == np.dtype(bool):
            column = pa.array(column, from_pandas=True)
        elif dtype == object and len(column):  # Python's True and False (and None), as Arrow reads them in one pass
            try:
                column = pa.array(column, from_pandas=True)
            except (pa.ArrowException, TypeError, ValueError):
                return None
        elif name in MONEY_COLUMNS and dtype.kind in "fiu" and not isinstance(dtype, pd.CategoricalDtype):
            return money_text(column.to_numpy(dtype=np.float64, na_value=np.nan), minor_unit)
        else:
            return None
    elif name in MONEY_COLUMNS and (pa.types.is_floating(column.type) or pa.types.is_integer(column.type)):
        return money_text(np.asarray(column.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64),
                          minor_unit)
    if not pa.types.is_boolean(column.type):
        return None
    return pc.if_else(column, CSV_TRUE, CSV_FALSE)


# below this size an amount's text is Arrow's (a cast to a decimal, which matches Python's f"{x:.2f}" there);
# beyond it (and for inf), Python's
_MONEY_FAST_BELOW = 1e20


def money_text(amounts: np.ndarray, minor_unit: int = 2):
    """Amounts of money as text at `minor_unit` decimals, as an Arrow string array: rounded as
    `Series.round` does (below 1e20; a larger float has no decimals), then written with every
    decimal, as f"{amount:.{minor_unit}f}" writes it ("3849.40", "-12.50", "0.00" also for -0.0);
    NaN missing, an infinite amount "inf" or "-inf".

    >>> money_text(np.array([3849.4, -12.5, 0.1 + 0.2, np.nan]), 2).to_pylist()
    ['3849.40', '-12.50', '0.30', None]
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    amounts = np.asarray(amounts, dtype=np.float64)
    fast = np.abs(amounts) < _MONEY_FAST_BELOW  # False for NaN and inf
    with np.errstate(over="ignore", invalid="ignore"):  # a float that large has no decimals to round (np.round: inf)
        amounts = np.where(fast, np.round(amounts, minor_unit), amounts) + 0.0  # + 0.0: no "-0.00"
    missing = np.isnan(amounts)
    text = pc.cast(pa.array(np.where(fast, amounts, 0.0)), pa.decimal128(38, minor_unit)).cast(pa.string())
    slow = ~fast & ~missing
    if slow.any():  # the few huge or infinite amounts, one by one
        words = np.array([f"{a:.{minor_unit}f}" for a in amounts[slow].tolist()], dtype=object)
        where = np.flatnonzero(slow)
        values = np.array(text.to_pylist(), dtype=object)
        values[where] = words
        text = pa.array(values, type=pa.string())
    return pc.if_else(pa.array(missing), pa.scalar(None, pa.string()), text) if missing.any() else text


def _may_hold_text(column: pd.Series) -> bool:
    """False when a column of Python objects holds no text for certain (dates, numbers, true/false, as
    Arrow reads them in one pass), so it need not be neutralised cell by cell."""
    import pyarrow as pa

    try:
        kind = pa.array(column, from_pandas=True).type
    except (pa.ArrowException, TypeError, ValueError):  # mixed Python objects
        return True
    return not any(test(kind) for test in (pa.types.is_date, pa.types.is_timestamp, pa.types.is_integer,
                                           pa.types.is_floating, pa.types.is_boolean, pa.types.is_null))


def _neutralised(column: pd.Series) -> pd.Series:
    """`neutralise` on every cell of a column: one vectorised pass over a text column (pandas' own
    string dtype), cell by cell for anything else (a column of Python objects may mix text and numbers)."""
    if not isinstance(column.dtype, pd.StringDtype):
        return column.map(neutralise, na_action="ignore")
    risky = (column.str.startswith(FORMULA_STARTS) & ~column.str.fullmatch(PLAIN_NUMBER)).fillna(False).astype(bool)
    return column.where(~risky, "'" + column) if risky.any() else column


def header(column: str, lang: str) -> str:
    """A column's header in `lang` (the data dictionary gives both languages); a column of another
    list (06_migration's slipped customers) takes the report's label for it."""
    from segkit.i18n import column_label, messages

    return t(f"exports.col.{column}", lang) if f"exports.col.{column}" in messages() else column_label(column, lang)


# ---------------------------------------------------------------- writers

def write_csv(frame: pd.DataFrame, path: str | os.PathLike, lang: str, encoding: str = "utf-8-sig",
              minor_unit: int = 2) -> Path:
    """The frame as CSV for people and CRMs: headers in `lang`, text cells neutralised, numbers as
    numbers, amounts of money (`MONEY_COLUMNS`) at `minor_unit` decimals (the currency's: "3849.40"),
    dates as YYYY-MM-DD, true/false as true/false, records ending in CRLF (RFC 4180). `encoding` is
    "utf-8-sig" (UTF-8 with the byte order mark EF BB BF that tells Excel the file is UTF-8),
    "gb18030" (older Chinese systems) or "gbk" (systems that read only GBK). Raises ParamsError for
    another encoding, ExportError when the file cannot be written, or when a text holds a character
    the encoding cannot write (GBK: 𠀀, 😀, €), naming its row and column (`_check_encodable`)."""
    _check_encoding(encoding)
    return _write_people_csv(_people_frame(frame, lang, minor_unit=minor_unit), path, encoding)


def _check_encoding(encoding: str) -> None:
    if encoding not in CSV_ENCODINGS:
        raise ParamsError(f"exports.csv_encoding must be one of {', '.join(CSV_ENCODINGS)}, got {encoding!r}")


def _write_people_csv(people: pd.DataFrame, path: str | os.PathLike, encoding: str) -> Path:
    """`write_csv` of a frame already made for people (`_people_frame`): the cells formatted as
    pandas' `to_csv` formats them (`_csv_text`), written by DuckDB's CSV writer, which quotes exactly
    the fields Python's csv module quotes (a comma, a quote, CR or LF) and takes half the CPU time
    at a million customers, 65,536 rows at a time (`_csv_batches`); a frame with a column of another
    kind goes through `to_csv` itself."""
    path = Path(path)
    text = _csv_batches(people)
    try:
        with _replacing(path) as partial:
            if text is None:
                _pandas_csv(people, partial, encoding)
            else:
                _duckdb_csv(text, [str(c) for c in people.columns], partial, encoding)
    except UnicodeEncodeError:
        _check_encodable(people, path, encoding)
        raise
    return path


def _check_encodable(people, path: Path, encoding: str) -> None:
    """Raise one ExportError naming the first cell of the people's CSV (`people`: a frame or an Arrow
    table, headers in the language) that `encoding` cannot write, its row as a spreadsheet shows it
    (the header is row 1), the customer (the first column) and the column, with what to do; nothing
    when every cell can be written. Each column's distinct texts are tried once."""
    import pyarrow as pa
    import pyarrow.compute as pc

    frame = isinstance(people, pd.DataFrame)
    names = [str(c) for c in (people.columns if frame else people.column_names)]
    first = None  # (row, position, character): row -1 for the header
    for position, name in enumerate(names):
        bad = _unencodable_character(name, encoding)
        if bad is not None:
            first = (-1, position, bad)
            break
    for position in range(len(names) if first is None else 0):
        if frame:
            column = people.iloc[:, position]
            try:
                column = pa.array(column, from_pandas=True)
            except (pa.ArrowException, TypeError, ValueError):  # mixed Python objects, broken text: cell by cell
                for row, value in enumerate(column):
                    bad = None if _missing(value) else _unencodable_character(str(value), encoding)
                    if bad is not None:
                        if first is None or row < first[0]:
                            first = (row, position, bad)
                        break
                continue
        else:
            column = people.column(position).combine_chunks()
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        if not _is_text(column.type):
            continue  # numbers, dates, true/false: ASCII
        bad = [v for v in pc.unique(column).to_pylist() if v is not None and _unencodable_character(v, encoding)]
        if not bad:
            continue
        hits = pc.is_in(column, value_set=pa.array(bad, type=column.type)).fill_null(False)
        row = int(np.flatnonzero(hits.to_numpy(zero_copy_only=False))[0])
        if first is None or row < first[0]:
            first = (row, position, _unencodable_character(column[row].as_py(), encoding))
    if first is None:
        return
    row, position, character = first
    label = _ENCODING_NAMES.get(encoding, encoding)
    code = f"U+{ord(character):04X}"
    if row < 0:
        where = f'the header row, column "{names[position]}"'
    else:
        key = people.iloc[row, 0] if frame else people.column(0)[row].as_py()
        where = f'row {row + 2} ({names[0]} "{key}"), column "{names[position]}"'
    if 0xD800 <= ord(character) <= 0xDFFF:  # half of a UTF-16 pair: broken text no encoding writes
        raise ExportError(f"cannot write {path.name} in {label}: {where} holds a broken character ({code}, half of a "
                          "UTF-16 pair), which no encoding can write; correct that text where it comes from")
    raise ExportError(f'cannot write {path.name} in {label}: {where} holds "{character}" ({code}), which {label} '
                      "cannot encode; write the CSV in gb18030 (--encoding gb18030, or exports.csv_encoding: gb18030), "
                      "which encodes every character and writes GBK's characters as GBK does, or in utf-8-sig")


def _unencodable_character(text: str, encoding: str) -> str | None:
    """The first character of `text` that `encoding` cannot encode, or None."""
    try:
        text.encode(encoding)
    except UnicodeEncodeError as err:
        return text[err.start]
    return None


def _pandas_csv(people: pd.DataFrame, path: Path, encoding: str) -> None:
    """The reference writer (pandas' `to_csv`), which the fast one must match byte for byte."""
    # CRLF ends a record (RFC 4180), so the csv writer also quotes a field holding a bare CR: with
    # "\n" alone, a carriage return inside a name would split the row in Excel
    people.to_csv(path, index=False, encoding=encoding, lineterminator="\r\n")


def _csv_text(people: pd.DataFrame):
    """Each column of `people` as an Arrow text column holding what `to_csv` writes in its cells
    (missing and empty text as null), or None when a column is of a kind this does not format as
    pandas does (mixed Python objects, times, a one-column frame, whose empty row pandas quotes)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if people.shape[1] < 2 or not all(isinstance(c, str) for c in people.columns):
        return None
    empty = pa.scalar(None, pa.string())
    columns = []
    for position in range(people.shape[1]):
        column = people.iloc[:, position]  # by position: two headers may read the same
        dtype = column.dtype
        if dtype.kind == "f" and isinstance(dtype, np.dtype):  # pandas writes numpy's str(): "0.30000000000000004", "inf"
            values = column.to_numpy()
            text = pa.array(values.astype(str), mask=np.isnan(values), type=pa.string())
        elif isinstance(dtype, pd.BooleanDtype) or dtype == np.dtype(bool):
            missing = column.isna().to_numpy(dtype=bool)
            truth = column.to_numpy(dtype=bool, na_value=False)
            text = pa.array(np.where(truth, "True", "False"), mask=missing, type=pa.string())  # as str(True)
        else:
            try:
                array = pa.array(column, from_pandas=True)
            except (pa.ArrowException, TypeError, ValueError):
                return None
            kind = array.type
            if pa.types.is_string(kind) or pa.types.is_large_string(kind):
                text = pc.if_else(pc.equal(array, ""), empty, array.cast(pa.string()))  # "" and missing: an empty field
            elif pa.types.is_integer(kind) or pa.types.is_date32(kind):  # digits; dates as YYYY-MM-DD, as str(date)
                text = array.cast(pa.string())
            elif pa.types.is_null(kind):
                text = pa.nulls(len(array), pa.string())
            else:
                return None
        columns.append(text)
    return pa.table(columns, names=[f"c{i}" for i in range(len(columns))])


# rows formatted as text at a time for the CSV: the text of a million customers' 27 columns is larger than the frame
_CSV_BATCH_ROWS = 65_536


def _csv_batches(people: pd.DataFrame, rows: int = _CSV_BATCH_ROWS):
    """`_csv_text` of `people`, `rows` rows at a time, as an Arrow record batch reader that DuckDB
    reads as it writes (so the text of one batch is in memory, not the text of the whole frame), or
    None where `_csv_text` is None. Each batch is formatted as the whole frame would be: a column's
    kind is decided once, on the whole column."""
    import pyarrow as pa

    if _csv_text(people.iloc[:0]) is None:  # the headers, and the columns whose kind their dtype says
        return None
    for position in range(people.shape[1]):
        column = people.iloc[:, position]
        if column.dtype == object and len(column):  # Python objects: a kind only the values say
            try:
                kind = pa.array(column, from_pandas=True).type
            except (pa.ArrowException, TypeError, ValueError):
                return None
            if not any(test(kind) for test in (pa.types.is_string, pa.types.is_large_string, pa.types.is_integer,
                                               pa.types.is_date32, pa.types.is_null)):
                return None
    names = [f"c{i}" for i in range(people.shape[1])]
    schema = pa.schema([(name, pa.string()) for name in names])

    def batches():
        for start in range(0, len(people), rows):
            part = _csv_text(people.iloc[start:start + rows])
            yield from part.cast(schema).to_batches()

    return pa.RecordBatchReader.from_batches(schema, batches())


def _duckdb_csv(text, headers: list[str], path: Path, encoding: str) -> None:
    """`text` (`_csv_text`, or `_csv_batches` read as DuckDB writes) as CSV records after the header
    line, in `encoding`, as `_pandas_csv` writes them."""
    import csv
    import io
    import shutil

    import duckdb

    line = io.StringIO()
    csv.writer(line, lineterminator="\r\n").writerow(headers)
    body = path.with_name(path.name + ".body")
    try:
        # one thread: the rows come from Python batch by batch (`_csv_batches`), so a second thread only makes
        # DuckDB hold batches to keep their order (half a gigabyte at a million customers) and is no faster
        con = duckdb.connect(config={"threads": 1})
        try:
            con.register("people", text)
            # no comment character: DuckDB would otherwise quote a field starting with "#", which Python's csv does not
            target = str(body).replace("'", "''")
            con.execute(f"COPY people TO '{target}' (FORMAT csv, HEADER false, QUOTE '\"', ESCAPE '\"', NULLSTR '', "
                        "COMMENT '', NEW_LINE '\r\n')")
        except duckdb.Error as err:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ExportError(f"cannot write the CSV export in {path.parent} ({reason[:300]}); check that the folder "
                              "is writable and has room for it") from None
        finally:
            con.close()
        with open(path, "w", encoding=encoding, newline="") as out:
            out.write(line.getvalue())  # utf-8-sig puts the byte order mark first
            if encoding == "utf-8-sig":
                out.flush()
                with open(body, "rb") as source:
                    _append(source, out.buffer)
            else:  # DuckDB writes UTF-8: re-encoded in pieces
                with open(body, encoding="utf-8", newline="") as source:
                    shutil.copyfileobj(source, out, 1 << 22)
    finally:
        body.unlink(missing_ok=True)


def _append(source, out) -> None:
    """The rest of binary file `source` written at the end of binary file `out` (flushed): copied by the
    kernel (copy_file_range) where it can, rather than read into Python and written back."""
    import shutil

    out.flush()
    try:
        left = os.fstat(source.fileno()).st_size - source.tell()
        while left > 0:
            copied = os.copy_file_range(source.fileno(), out.fileno(), left)
            if copied == 0:
                break
            left -= copied
    except (AttributeError, OSError):  # no such call here: what is left is copied the ordinary way
        pass
    source.seek(os.lseek(source.fileno(), 0, os.SEEK_CUR))  # the file object at the kernel's position
    out.seek(os.lseek(out.fileno(), 0, os.SEEK_CUR))
    shutil.copyfileobj(source, out, 1 << 24)


def write_parquet(frame: pd.DataFrame, path: str | os.PathLike, run: dict | None = None) -> Path:
    """The frame as Parquet for BI tools: the code names of `COLUMNS`, typed (string, int64, double,
    date32, bool), each field's description (English) in its metadata, and `run` (run name, as_of,
    language) in the file's metadata. Text is not neutralised: BI tools do not run formulas."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    kinds = {"text": pa.string(), "integer": pa.int64(), "number": pa.float64(), "date": pa.date32(),
             "boolean": pa.bool_()}
    fields = [pa.field(c, kinds[column_kind(c, frame[c])], metadata={"description": describe(c, "en")})
              for c in frame.columns]
    schema = pa.schema(fields, metadata={"segkit": json_text(run or {}, ensure_ascii=False, default=str)})
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    path = Path(path)
    with _replacing(path) as partial:
        pq.write_table(table, partial)
    return path


def write_excel(frame: pd.DataFrame, path: str | os.PathLike, lang: str, segment_map, max_rows: int = 100_000,
                full_list: Sequence[str] = (FILE_NAMES["csv"], FILE_NAMES["parquet"]), title: str = "",
                minor_unit: int = 2) -> Path:
    """The frame as an Excel workbook: a summary sheet (customers, share, revenue and,
    where present, predicted CLV and the share at churn risk per segment, in the map's order), one
    sheet per segment that has customers (best ranked first, at most `max_rows` rows under a note
    that says how many are shown and that the full list is in `full_list`, the other export files,
    header row frozen), and a data-dictionary sheet (each column's name, headers and description in
    English and Chinese, and its type). Headers and labels in `lang`; text as it is, a formula-like
    text (`formula_like`) with Excel's quote prefix (shown and kept as text, also when edited), numbers
    stay numbers (amounts of money, here and in the summary, with a money format at `minor_unit`
    decimals, "#,##0.00"; the summary's shares as percentages, "0.00%"), dates are dates
    (yyyy-mm-dd), true/false are Excel booleans, missing values empty cells. Written row by row with
    XlsxWriter (constant_memory: one row in memory at a time), so 100,000 customers take seconds.
    Raises ParamsError for a `max_rows` beyond Excel's sheet."""
    _check_max_rows(max_rows)
    return _write_workbook(frame, _people_frame(frame, lang, quoted=False), path, lang, segment_map, max_rows,
                           full_list, title, minor_unit)


def _check_max_rows(max_rows: int) -> None:
    if not 1 <= max_rows <= 1_048_574:
        raise ParamsError(f"exports.excel_max_rows must be an integer from 1 to 1048574 (Excel's limit, less a note "
                          f"and a header row), got {max_rows}")


# Excel's serial day numbers (1900 date system): 1970-01-01 is 25569; from 1900-03-01 (-25508 days
# from 1970) on, a date's serial is its day count from 1970 plus 25569
_EXCEL_SERIAL_1970 = 25569
_EXCEL_DAY_1900_03_01 = -25508
# Excel's number formats for dates and times: the ones openpyxl gave these types, so a workbook reads as before
_TIME_FORMATS = {"date": "yyyy-mm-dd", "datetime": "yyyy-mm-dd h:mm:ss", "time": "h:mm:ss", "timedelta": "[hh]:mm:ss"}
# the summary's shares (0.2025 of the customers) shown as percentages (20.25%), still the same numbers
_PERCENT_FORMAT = "0.00%"
_SHARE_FIELDS = ("customer_share", "churn_risk_share")


def _money_format(minor_unit: int) -> str:
    """Excel's number format of an amount at `minor_unit` decimals, with thousands separators: "#,##0.00"."""
    return "#,##0" + ("." + "0" * minor_unit if minor_unit else "")


def _number_formats(fields, minor_unit: int) -> dict[int, str]:
    """{position: Excel number format} of the columns (code names, or the summary's fields) that need one:
    amounts of money (`MONEY_COLUMNS`) and the summary's shares; the others keep Excel's General."""
    formats = {}
    for position, field in enumerate(fields):
        if field in MONEY_COLUMNS:
            formats[position] = _money_format(minor_unit)
        elif field in _SHARE_FIELDS:
            formats[position] = _PERCENT_FORMAT
    return formats


def _write_workbook(frame: pd.DataFrame, people: pd.DataFrame, path: str | os.PathLike, lang: str, segment_map,
                    max_rows: int, full_list: Sequence[str], title: str, minor_unit: int = 2) -> Path:
    """`write_excel` with the people's frame (`_people_frame(frame, lang, quoted=False)`: the texts as they
    are) made once by the caller.

    Written by rustpy-xlsxwriter (Rust's rust_xlsxwriter, about eight times faster than XlsxWriter's
    cell-by-cell Python at a million customers) from Arrow columns, or by XlsxWriter when the frame
    holds what the Rust writer would write otherwise (`_rust_cells` says when): then the workbook is
    exactly as before. The two differ only in the note above a segment sheet's header and the summary's
    title: the Rust writer cannot write a lone cell above the header, so these are merged cells of row 1
    starting at A1 (across the header's width, at least A1:B1), which read from A1 as before."""
    path = Path(path)
    book = _workbook_content(frame, people, lang, segment_map, max_rows, full_list, title, minor_unit)
    cells = _rust_cells(people, book)
    with _replacing(path) as partial:
        if cells is None or not _rust_workbook(book, cells, partial):
            _xlsxwriter_workbook(book, people, partial)
    return path


def _workbook_content(frame: pd.DataFrame, people: pd.DataFrame, lang: str, segment_map, max_rows: int,
                      full_list: Sequence[str], title: str, minor_unit: int = 2) -> dict:
    """What the workbook holds, whichever library writes it: the summary sheet's name, title and rows
    (header first), each segment sheet's name, note and row positions in `people` (best ranked first,
    at most `max_rows`), the data dictionary's name and rows (header first), and the number formats
    of the summary's and the segment sheets' columns ({position: format}, `_number_formats`)."""
    used: set[str] = set()
    summary = _sheet_name(t("exports.sheet.summary", lang), used)
    present = set(frame["segment"].dropna().unique()) if "segment" in frame.columns else set()
    codes = [c for c in _map_order(segment_map, frame) if c in present]
    segments = []
    values = frame["segment"].to_numpy(dtype=object, na_value=None) if codes else None
    for code in codes:
        positions = np.flatnonzero(values == code)
        segments.append(_segment_sheet(str(frame["segment_name"].iloc[positions[0]]), positions, max_rows, full_list,
                                       lang, used))
    dictionary = _sheet_name(t("exports.sheet.dictionary", lang), used)
    rows = _dictionary_rows(frame.columns, lang, {c: column_kind(c, frame[c]) for c in frame.columns if c not in COLUMNS})
    return {"summary": (summary, title or "", list(_summary_rows(frame, codes, lang, minor_unit))),
            "segments": segments, "dictionary": (dictionary, rows),
            "formats": {"summary": _number_formats(_summary_fields(frame.columns), minor_unit),
                        "segments": _number_formats(frame.columns, minor_unit)}}


def _segment_sheet(label: str, rows: np.ndarray, max_rows: int, full_list: Sequence[str], lang: str,
                   used: set[str]) -> tuple[str, str, np.ndarray]:
    """A segment sheet: its name (unique in the workbook), its note (all rows, or capped at `max_rows`
    with where the full list is) and its first `max_rows` row positions."""
    name = _sheet_name(label, used)
    if len(rows) > max_rows:
        where = t("exports.and", lang).join(full_list) if full_list else t("exports.no_full_list", lang)
        note = t("exports.note.capped", lang, segment=label, shown=max_rows, rows=len(rows), files=where)
    else:
        note = t("exports.note.all", lang, segment=label, rows=len(rows))
    return name, note, rows[:max_rows]


def _dictionary_rows(columns, lang: str, kinds: dict[str, str] | None = None) -> list[list[str]]:
    """The data dictionary sheet's rows: a header, then each column's name, headers, type and descriptions.
    `kinds`: the kind of each column not in `COLUMNS` (a customer table's, `column_kind`)."""
    kinds = {**(kinds or {}), **COLUMNS}
    rows = [[t(f"exports.dict.{c}", lang) for c in ("column", "header_en", "header_zh", "type", "description_en",
                                                     "description_zh")]]
    rows += [[column, header(column, "en"), header(column, "zh"),
              t(f"exports.type.{'money' if column in MONEY_COLUMNS else kinds.get(column, 'text')}", lang),
              describe(column, "en"), describe(column, "zh")] for column in columns]
    return rows


def _xlsxwriter_workbook(book: dict, people: pd.DataFrame, path: Path) -> None:
    """The workbook written by XlsxWriter, cell by cell (constant_memory: one row in memory at a time),
    the note and the title each in a lone cell A1: the fallback of `_write_workbook`."""
    import xlsxwriter

    # text is written as text, never read as a formula, a number or a link; NaN and inf (which a
    # cell cannot hold) become Excel errors rather than a broken file
    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_formulas": False,
                                               "strings_to_numbers": False, "strings_to_urls": False,
                                               "nan_inf_to_errors": True})
    try:
        formats = {kind: workbook.add_format({"num_format": code}) for kind, code in _TIME_FORMATS.items()}
        formats["quote"] = workbook.add_format({"quote_prefix": True})  # Excel's "text, not a formula" mark
        numbers = {code: workbook.add_format({"num_format": code})
                   for kind in ("summary", "segments") for code in book["formats"][kind].values()}
        styles = {kind: {position: numbers[code] for position, code in book["formats"][kind].items()}
                  for kind in ("summary", "segments")}  # money and shares
        name, title, rows = book["summary"]
        _write_rows(workbook.add_worksheet(name), 0, ([[title]] if title else []) + rows, formats,
                    styles=styles["summary"], styled_from=2 if title else 1)
        if book["segments"]:
            columns = [_plain_column(people.iloc[:, i]) for i in range(people.shape[1])]  # once, not per cell
        for name, note, positions in book["segments"]:
            sheet = workbook.add_worksheet(name)
            sheet.freeze_panes(2, 0)  # the note and the header stay in view (cell A3)
            _write_rows(sheet, 0, [[note], [*people.columns]], formats)
            _write_columns(sheet, 2, [(values[positions], kind) for values, kind in columns], formats,
                           styles["segments"])
        name, rows = book["dictionary"]
        _write_rows(workbook.add_worksheet(name), 0, rows, formats)
    finally:
        workbook.close()


# the longest text a cell holds (in UTF-16 units): XlsxWriter cuts a longer one there, the Rust writer refuses it
_EXCEL_TEXT_MAX = 32_767


def _rust_cells(people: pd.DataFrame, book: dict):
    """`people` as an Arrow table the Rust writer writes as XlsxWriter would, the positions of its date
    columns, and the summary's and the dictionary's rows as Arrow tables (`_rows_table`); or None when
    it cannot (the workbook then falls back to XlsxWriter): rustpy-xlsxwriter
    is not installed; a number is +inf or -inf (XlsxWriter writes Excel's #DIV/0! error, the Rust
    writer an empty cell or a text); a text may be longer than Excel's 32,767 characters (over 32,767
    bytes of UTF-8: XlsxWriter cuts it, the Rust writer refuses it); headers that are not all text; a column of another kind than
    text, number, true/false or date (mixed Python objects, decimals, date-times, times, durations).

    Text stays text (an empty one an empty cell), numbers numbers (missing and NaN an empty cell),
    dates Excel serial day numbers shown with the date format (computed here as XlsxWriter computes
    them, Excel's phantom 1900-02-29 included, so a date before March 1900 is the same number)."""
    try:
        import rustpy_xlsxwriter  # noqa: F401
    except ImportError:
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    if not all(isinstance(c, str) for c in people.columns):
        return None
    summary = [v for row in book["summary"][2][1:] for v in row if isinstance(v, float)]
    if any(np.isinf(summary)):
        return None
    arrays, dates = [], []
    for position in range(people.shape[1]):
        try:
            array = pa.array(people.iloc[:, position], from_pandas=True)  # NaN, NaT and NA become nulls
        except (pa.ArrowException, TypeError, ValueError):  # mixed Python objects
            return None
        kind = array.type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            # Excel counts UTF-16 units, never more than UTF-8 bytes: a text under the limit in bytes is under it
            longest = pc.max(pc.binary_length(array)).as_py()
            if longest is not None and longest > _EXCEL_TEXT_MAX:
                return None
        elif pa.types.is_floating(kind):
            if pc.any(pc.is_inf(array)).as_py():
                return None
        elif pa.types.is_null(kind):  # a column missing everywhere: empty cells
            array = pa.nulls(len(array), pa.string())
        elif pa.types.is_date(kind):
            days = array.cast(pa.date32()).cast(pa.int32()).cast(pa.int64())  # days since 1970-01-01
            # from 1900-03-01 on, the day count plus 25569; before it, one less (no phantom 1900-02-29)
            array = pc.add(days, pc.if_else(pc.greater_equal(days, _EXCEL_DAY_1900_03_01), _EXCEL_SERIAL_1970,
                                            _EXCEL_SERIAL_1970 - 1))
            dates.append(position)
        elif not (pa.types.is_integer(kind) or pa.types.is_boolean(kind)):
            return None
        arrays.append(array)
    try:
        summary, dictionary = _rows_table(book["summary"][2]), _rows_table(book["dictionary"][1])
    except (pa.ArrowException, TypeError, ValueError):  # a column of mixed kinds
        return None
    return pa.table(arrays, names=list(people.columns)), dates, summary, dictionary  # two headers may read the same


def _rust_workbook(book: dict, cells: tuple, path: Path) -> bool:
    """The workbook written by rustpy-xlsxwriter from Arrow columns (`_rust_cells`): the summary (its
    title merged over row 1), each segment sheet (its note merged over row 1 across the header's
    width, the header in row 2, the two frozen) and the data dictionary. False when the Rust writer
    refuses something (the caller then writes the workbook with XlsxWriter); raises ExportError when
    the file cannot be written."""
    import rustpy_xlsxwriter as rx

    table, dates, summary, dictionary = cells
    date = rx.Format().set_num_format(_TIME_FORMATS["date"])
    numbers = {kind: {position: rx.Format().set_num_format(code) for position, code in book["formats"][kind].items()}
               for kind in ("summary", "segments")}  # money and shares
    # Excel's "text, not a formula" mark: the Rust writer formats whole columns (and header rows), not single
    # cells, so a column that holds a formula-like text on a sheet has it on every cell of that sheet's column
    quote = rx.Format().set_quote_prefix()
    sheets, header_rows, merges, freeze, formats, headers = [], {}, {}, {}, {}, {}

    def above(sheet: str, text: str, width: int) -> None:
        # the Rust writer writes a merged range, not a lone cell, above the header: at least A1:B1
        header_rows[sheet] = 1
        merges[sheet] = [(0, 0, 0, max(width, 2) - 1, text, *((quote,) if formula_like(text) else ()))]

    def formatted(sheet: str, names, quoted: Iterable[int], width: int, dated=(), styled: dict | None = None) -> None:
        quoted, styled = set(quoted), styled or {}
        if quoted or dated or styled:
            formats[sheet] = [date if i in dated else quote if i in quoted else styled.get(i) for i in range(width)]
        if any(formula_like(str(n)) for n in names):
            headers[sheet] = quote

    name, title, rows = book["summary"]
    sheets.append((name, summary))
    formatted(name, summary.column_names, _formula_like_rows(summary), summary.num_columns,
              styled=numbers["summary"])
    if title:
        above(name, title, len(rows[0]))
    texts = _formula_like_rows(table)  # each text column's formula-like rows, found once for every sheet
    for name, note, positions in book["segments"]:
        sheets.append((name, _SheetRows(table, positions)))
        above(name, note, table.num_columns)
        freeze[name] = {"row": 2, "col": 0}  # the note and the header stay in view (cell A3)
        formatted(name, table.column_names, [i for i, rows in texts.items() if rows[positions].any()],
                  table.num_columns, dates, numbers["segments"])
    name, rows = book["dictionary"][0], dictionary
    sheets.append((name, rows))
    formatted(name, rows.column_names, _formula_like_rows(rows), rows.num_columns)
    try:
        rx.write_worksheets(sheets, str(path), freeze_panes=freeze, header_row=header_rows, merge_ranges=merges,
                            column_formats=formats, header_format=headers)
    except OSError as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ExportError(f"cannot write the Excel export in {path.parent} ({reason[:300]}); check that the folder "
                          "is writable and has room for it") from None
    except (RuntimeError, ValueError):  # something it cannot write (a sheet name, a value): XlsxWriter writes it
        return False
    return True


def _formula_like_rows(table) -> dict[int, np.ndarray]:
    """{position: which rows hold a formula-like text (`formula_like`), as booleans} of each text column
    of the Arrow `table` that holds one: a dictionary's texts looked at once each, other text in one
    vectorised pass (`_formula_like_array`)."""
    import pyarrow as pa

    found = {}
    for position, column in enumerate(table.columns):
        column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        if pa.types.is_dictionary(column.type) and _is_text(column.type.value_type):
            risky = np.array([v is not None and formula_like(v) for v in column.dictionary.to_pylist()], dtype=bool)
            if not risky.any():
                continue
            indices = column.indices
            rows = risky[indices.fill_null(0).to_numpy()] & indices.is_valid().to_numpy(zero_copy_only=False)
        elif _is_text(column.type):
            rows = _formula_like_array(column).fill_null(False).to_numpy(zero_copy_only=False)
        else:
            continue
        if rows.any():
            found[position] = np.asarray(rows, dtype=bool)
    return found


class _SheetRows:
    """The rows of `table` at `positions`, as an Arrow stream (the Arrow PyCapsule interface) made
    `batch` rows at a time while the Rust writer reads it: a segment sheet's rows are not copied
    out of the frame all at once, nor every sheet's before the first is written."""

    def __init__(self, table, positions: np.ndarray, batch: int = 16_384):
        import pyarrow as pa

        self.table, self.positions, self.batch = table, positions, batch
        # dictionary-encoded text (`_table_rust_cells`) decoded batch by batch: the Rust writer writes a
        # dictionary column as empty cells
        self.schema = pa.schema([field.with_type(field.type.value_type) if pa.types.is_dictionary(field.type)
                                 else field for field in table.schema])

    def __arrow_c_stream__(self, requested_schema=None):
        import pyarrow as pa

        def batches():
            for start in range(0, len(self.positions), self.batch):
                part = self.table.take(pa.array(self.positions[start:start + self.batch]))
                yield from (part.cast(self.schema) if part.schema != self.schema else part).to_batches()

        reader = pa.RecordBatchReader.from_batches(self.schema, batches())
        return reader.__arrow_c_stream__(requested_schema)


def _rows_table(rows: list[list]):
    """A few rows (the header first) as an Arrow table for the Rust writer, one column per position."""
    import pyarrow as pa

    header, body = rows[0], rows[1:]
    arrays = [pa.array([row[i] for row in body]) if body else pa.nulls(0, pa.string()) for i in range(len(header))]
    return pa.table(arrays, names=[str(h) for h in header])


def _plain_column(column: pd.Series) -> tuple[np.ndarray, str]:
    """A column as an array of plain Python values (None where missing or an empty text: an empty
    cell) and its kind (text, number, boolean, serial: a date as Excel's day number, date, datetime,
    or any: decided cell by cell), converted in one pass by Arrow instead of pandas iterating an
    Arrow-backed column cell by cell."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        array = pa.array(column, from_pandas=True)  # NaN, NaT and NA become nulls
    except (pa.ArrowException, TypeError, ValueError):  # a column of mixed Python objects
        return _object_array([None if _missing(v) else (v.item() if isinstance(v, np.generic) else v)
                              for v in column]), "any"
    kind = pa.types
    if kind.is_string(array.type) or kind.is_large_string(array.type):
        name = "text"
    elif kind.is_boolean(array.type):
        name = "boolean"
    elif kind.is_integer(array.type) or kind.is_floating(array.type) or kind.is_decimal(array.type):
        name = "number"
    elif kind.is_date(array.type):
        days = array.cast(pa.date32()).cast(pa.int32())  # days since 1970-01-01
        if len(days) and days.null_count < len(days) and pc.min(days).as_py() >= _EXCEL_DAY_1900_03_01:
            # the Excel serial number of each date at once (the date format makes it a date), rather than
            # one conversion per cell; dates before March 1900 go cell by cell (Excel's phantom 1900-02-29)
            return _object_array(pc.add(days, _EXCEL_SERIAL_1970).to_pylist()), "serial"
        name = "date"
    elif kind.is_timestamp(array.type) and array.type.tz is None:
        name = "datetime"
    else:  # lists, structs, times ...: cell by cell
        return _object_array(array.to_pylist()), "any"
    values = np.empty(len(array), dtype=object)
    values[:] = array.to_pylist()
    if name == "text":
        values[values == ""] = None  # an empty text is an empty cell, as openpyxl left it
    return values, name


def _object_array(values: list) -> np.ndarray:
    """A 1-d object array of `values`, each element one cell even when it is a list or a tuple."""
    array = np.empty(len(values), dtype=object)
    for position, value in enumerate(values):
        array[position] = value
    return array


def _write_rows(sheet, first_row: int, rows: Sequence[Sequence], formats: dict, styles: dict | None = None,
                styled_from: int = 0) -> None:
    """A few rows of mixed values (notes, headers, the summary, the dictionary), cell by cell by type;
    a number in a column of `styles` ({position: format}: money, shares), from row `styled_from` of
    `rows` on, in that column's format."""
    write = _cell_writer(sheet, "any", formats)
    styles = styles or {}
    for index, row in enumerate(rows):
        number = first_row + index
        for column, value in enumerate(row):
            if value is None:
                continue
            style = styles.get(column) if index >= styled_from else None
            if style is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
                sheet.write_number(number, column, value, style)
            else:
                write(number, column, value)


def _write_columns(sheet, first_row: int, columns: Sequence[tuple[np.ndarray, str]], formats: dict,
                   styles: dict | None = None) -> None:
    """Rows from `first_row` on from equally long columns of plain values (`_plain_column`), each
    column through the one writer of its kind (a number column of `styles`, {position: format}, in
    that format: money); None leaves the cell empty."""
    styles = styles or {}
    writers = [_cell_writer(sheet, kind, formats) for _, kind in columns]
    for position, (_, kind) in enumerate(columns):
        if kind == "number" and styles.get(position) is not None:
            writers[position] = functools.partial(_write_styled_number, sheet, style=styles[position])
    for number, row in enumerate(zip(*(values for values, _ in columns)), start=first_row):
        for column, value in enumerate(row):
            if value is not None:
                writers[column](number, column, value)


def _write_styled_number(sheet, row: int, column: int, value, style) -> None:
    sheet.write_number(row, column, value, style)


def _cell_writer(sheet, kind: str, formats: dict):
    """The XlsxWriter call that writes one value of `kind` at (row, column); "any" looks at the value.
    A text is written as it is, a formula-like one (`formula_like`) with the quote prefix format
    (formats["quote"]), so that Excel keeps it text also when the cell is edited."""
    quote = formats["quote"]

    def write_text(row: int, column: int, value: str) -> None:
        if formula_like(value):
            sheet.write_string(row, column, value, quote)
        else:
            sheet.write_string(row, column, value)

    if kind == "text":
        return write_text
    if kind == "number":
        return sheet.write_number
    if kind == "boolean":
        return sheet.write_boolean
    if kind == "serial":  # dates as Excel serial numbers (_plain_column), shown as dates
        style = formats["date"]
        return lambda row, column, value: sheet.write_number(row, column, value, style)
    if kind in ("date", "datetime"):
        style = formats[kind]
        return lambda row, column, value: sheet.write_datetime(row, column, value, style)

    def write_any(row: int, column: int, value) -> None:
        if _missing(value):
            return
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, bool):
            sheet.write_boolean(row, column, value)
        elif isinstance(value, (int, float, Decimal)):
            sheet.write_number(row, column, value)
        elif isinstance(value, (dt.datetime, dt.date, dt.time, dt.timedelta)):
            style = next(formats[k] for k, kinds in (("datetime", dt.datetime), ("date", dt.date), ("time", dt.time),
                                                     ("timedelta", dt.timedelta)) if isinstance(value, kinds))
            sheet.write_datetime(row, column, value, style)
        else:
            write_text(row, column, value if isinstance(value, str) else str(value))

    return write_any


def _map_order(segment_map, frame: pd.DataFrame) -> list[str]:
    if "segment" not in frame.columns:
        return []
    order = list(_map_labels(segment_map, frame["segment"], "en"))
    return order + sorted(set(frame["segment"].dropna()) - set(order))


def _summary_fields(columns) -> list[str]:
    """The summary sheet's columns for an export with `columns`: segment, customers, share, and revenue,
    predicted CLV and the share at churn risk where the export has them."""
    names = ["segment_name", "customers", "customer_share", "revenue", "clv", "churn_risk_share"]
    columns = set(columns)
    return [n for n in names if n in ("segment_name", "customers", "customer_share")
            or (n == "churn_risk_share" and "churn_risk" in columns) or n in columns]


def _summary_rows(frame: pd.DataFrame, codes: list[str], lang: str, minor_unit: int = 2) -> Iterator[list]:
    present = _summary_fields(frame.columns)
    yield [t(f"exports.summary.{n}", lang) for n in present]
    total = len(frame)
    for code in codes:
        part = frame[frame["segment"] == code]
        values = {"segment_name": str(part["segment_name"].iloc[0]), "customers": len(part),
                  "customer_share": round(len(part) / total, 4) if total else 0.0}
        if "revenue" in present:
            values["revenue"] = round(float(part["revenue"].sum()), minor_unit)
        if "clv" in present:
            values["clv"] = round(float(part["clv"].sum()), minor_unit)
        if "churn_risk_share" in present:
            values["churn_risk_share"] = round(float(part["churn_risk"].fillna(False).mean()), 4)
        yield [values[n] for n in present]


def _cells(frame: pd.DataFrame) -> Iterator[list]:
    """Rows of plain Python values (the PostgreSQL copy): missing values as None."""
    for row in frame.itertuples(index=False, name=None):
        yield [None if _missing(v) else (v.item() if isinstance(v, np.generic) else v) for v in row]


def _missing(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _sheet_name(name: str, used: set[str]) -> str:
    """A valid, unique Excel sheet name: no []:*?/\\, at most 31 characters, not "History"."""
    base = _SHEET_FORBIDDEN.sub(" ", name).strip().strip("'") or "-"
    base = base if base.lower() != "history" else f"{base} 1"
    candidate, number = base[:_SHEET_NAME_MAX], 1
    while candidate.lower() in {u.lower() for u in used}:
        number += 1
        suffix = f" ({number})"
        candidate = base[:_SHEET_NAME_MAX - len(suffix)] + suffix
    used.add(candidate)
    return candidate


@contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """Write to a temporary file beside `path`, then put it in place: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # with the permissions the umask gives (0644 under umask 022), not mkstemp's 0600: a colleague reads the exports
    partial = new_file(path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


# ---------------------------------------------------------------- PostgreSQL write-back

_PG_TYPES = {"text": "text", "integer": "bigint", "number": "double precision", "date": "date", "boolean": "boolean"}


def write_postgres(frame: pd.DataFrame, database: Database, schema: str, table: str,
                   comment: str = "", lang: str = "en") -> str:
    """Write the frame (code names, typed) to `schema`.`table` in the database of `database` (the
    run's source), in one transaction: readers see the old rows or the new ones, never a half-written
    table, and a failure leaves the old table as it was. Returns "schema.table". The columns are
    commented with their descriptions in `lang` ("en" or "zh"), the table with `comment`.

    A table of that name with the same columns (names and types, in order) keeps being the same
    table: its rows are replaced (TRUNCATE, then COPY), so the rights others were given on it, the
    views that read it and its indexes stay. A table with other columns (an earlier segkit's, other
    formats) is dropped and created anew with the rights the old one had granted again; when views
    (or other tables' foreign keys) depend on it, it is kept and one `ExportError` names them.

    Checked first, each with one `ExportError` that says what to do: the session is not read-only,
    the role may create in the schema (or may create the schema), an existing table of that name is
    the role's to replace, and the target is none of the source's tables (source.database.table,
    customers, surveys), so the data the run read is never overwritten.
    """
    if lang not in LANGUAGES:
        raise ValueError(f"lang must be one of {', '.join(LANGUAGES)}, got {lang!r}")
    try:
        import psycopg
        from psycopg import sql
    except ImportError:
        raise ExportError("the PostgreSQL write-back needs psycopg: pip install 'segkit[postgres]'") from None
    from segkit.intake.sources import scrub

    args = database.connection_args()
    password = args.get("password")
    args["dbname"] = args.pop("database", None)
    args.setdefault("connect_timeout", 10)
    target = f"{schema}.{table}"
    try:
        con = psycopg.connect(**{k: v for k, v in args.items() if v is not None})
    except psycopg.Error as err:
        reason = scrub(str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__, password)
        raise ExportError(f"cannot connect to the database at {args.get('host')}:{args.get('port')} to write "
                          f"{target} ({reason[:300]}); check source.database.url and that the server runs") from None
    wanted = [(column, _PG_TYPES[column_kind(column, frame[column])]) for column in frame.columns]
    try:
        with con:
            # the session as the role gets it: a role set read-only (default_transaction_read_only) stays so
            user, read_only = con.execute("SELECT current_user, current_setting('transaction_read_only')").fetchone()
            new_schema = _check_target(con, sql, user, read_only == "on", schema, table, database)
            con.rollback()
            name = sql.Identifier(schema, table)
            with con.transaction():
                if new_schema:  # CREATE SCHEMA IF NOT EXISTS would need the database's CREATE right even when it exists
                    con.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
                old = _existing_table(con, sql, name, target)
                if old is not None and old["columns"] == wanted:
                    # the same table: its rows replaced, its rights, views, indexes and oid kept
                    _refuse_dependents(old, target, "empty the table (TRUNCATE) to replace its rows",
                                       foreign_keys_only=True)
                    con.execute(sql.SQL("TRUNCATE {}").format(name))
                else:
                    if old is not None:
                        changes = _column_changes(old["columns"], wanted)
                        _refuse_dependents(old, target,
                                           f"drop the table and create it anew, as its columns changed ({changes})")
                        con.execute(sql.SQL("DROP TABLE {}").format(name))
                    con.execute(sql.SQL("CREATE TABLE {} ({})").format(name, sql.SQL(", ").join(
                        sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(kind)) for c, kind in wanted)))
                    if old is not None:
                        _grant_again(con, sql, name, old, frame.columns)
                with con.cursor() as cursor:
                    copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(
                        name, sql.SQL(", ").join(map(sql.Identifier, frame.columns)))
                    with cursor.copy(copy_sql) as copy:
                        for row in _cells(frame):
                            copy.write_row(row)
                con.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(name, sql.Literal(comment or None)))
                for column in frame.columns:
                    con.execute(sql.SQL("COMMENT ON COLUMN {}.{} IS {}").format(
                        name, sql.Identifier(column), sql.Literal(describe(column, lang))))
    except ExportError:
        raise
    except psycopg.errors.DependentObjectsStillExist as err:  # of a kind `_existing_table` does not look for
        detail = scrub(" ".join((err.diag.message_detail or "").split()), password)
        raise ExportError(f"cannot replace {target}: other objects depend on it ({detail[:300]}), and its columns "
                          f"changed, so it would be dropped; the old table is kept. Drop them (and create them again "
                          f"afterwards) or choose another exports.postgres_table, then write again") from None
    except psycopg.Error as err:
        reason = scrub(str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__, password)
        raise ExportError(f"writing {target} failed and the database kept what it had ({reason[:300]}); fix what "
                          "the database names, then write again") from None
    finally:
        con.close()
    return target


def _existing_table(con, sql, name, target: str) -> dict | None:
    """The table `name` as it is, locked until the transaction ends (readers wait for the new rows, as
    they would for a DROP): its columns [(name, type)] in order, the rights others hold on it (the
    table's and its columns'), and the objects that depend on it; None when there is none."""
    found = con.execute("SELECT c.oid, c.relkind FROM pg_class c WHERE c.oid = to_regclass(%s)",
                        [name.as_string(con)]).fetchone()
    if found is None:
        return None
    oid, kind = found
    if kind not in ("r", "p"):
        what = {"v": "a view", "m": "a materialized view", "f": "a foreign table"}.get(kind, "another kind of object")
        raise ExportError(f"cannot write {target}: it is {what}, not a table; choose another exports.postgres_table")
    con.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(name))
    columns = con.execute("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = %s "
                          "AND attnum > 0 AND NOT attisdropped ORDER BY attnum", [oid]).fetchall()
    me = con.execute("SELECT oid FROM pg_roles WHERE rolname = current_user").fetchone()[0]
    # the rights of every role but the one that writes (it owns the new table), PUBLIC's too (grantee 0)
    grants = con.execute(
        "SELECT NULL, CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END, a.privilege_type, "
        "a.is_grantable FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = %s AND a.grantee <> %s "
        "UNION ALL "
        "SELECT t.attname, CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END, a.privilege_type, "
        "a.is_grantable FROM pg_attribute t, aclexplode(t.attacl) a WHERE t.attrelid = %s AND t.attnum > 0 AND NOT "
        "t.attisdropped AND a.grantee <> %s", [oid, me, oid, me]).fetchall()
    # views and materialized views (through their rewrite rules), and other tables' foreign keys
    views = con.execute(
        "SELECT DISTINCT v.relkind, format('%%I.%%I', n.nspname, v.relname) FROM pg_depend d "
        "JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class "
        "JOIN pg_namespace n ON n.oid = v.relnamespace WHERE d.classid = 'pg_rewrite'::regclass "
        "AND d.refclassid = 'pg_class'::regclass AND d.refobjid = %s AND v.oid <> %s ORDER BY 2", [oid, oid]).fetchall()
    keys = con.execute(
        "SELECT format('%%I', k.conname), format('%%I.%%I', n.nspname, c.relname) FROM pg_constraint k "
        "JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE k.contype = 'f' AND k.confrelid = %s AND k.conrelid <> %s ORDER BY 2, 1", [oid, oid]).fetchall()
    return {"columns": [tuple(c) for c in columns], "grants": grants, "views": views, "keys": keys}


def _refuse_dependents(old: dict, target: str, doing: str, foreign_keys_only: bool = False) -> None:
    """One ExportError naming the views and foreign keys that stop segkit from doing `doing` to
    `target` (a table is dropped only without dependents, and TRUNCATE refuses a table other tables'
    foreign keys point to), with what to do; nothing when there are none."""
    views = [] if foreign_keys_only else old["views"]
    if not views and not old["keys"]:
        return
    named = [f"the {'materialized view' if kind == 'm' else 'view'} {view}" for kind, view in views]
    named += [f"the foreign key {key} of the table {other}" for key, other in old["keys"]]
    drops = [f"`DROP {'MATERIALIZED VIEW' if kind == 'm' else 'VIEW'} {view}`" for kind, view in views]
    drops += [f"`ALTER TABLE {other} DROP CONSTRAINT {key}`" for key, other in old["keys"]]
    depend = plural_form(len(named), "depends", "depend", "en")
    them = plural_form(len(named), "it", "them", "en")
    raise ExportError(f"cannot write {target}: {', '.join(named)} {depend} on it, and segkit must {doing}; the "
                      f"old table is kept. Drop {them} ({'; '.join(drops)}), write again and create {them} again "
                      "for the new table, or choose another exports.postgres_table for segkit's table")


def _column_changes(old: list[tuple], new: list[tuple]) -> str:
    """What differs between the old table's columns and the new ([(name, type)] in order), e.g.
    "added columns: clv, p_alive; dropped columns: cluster"."""
    before, after = dict(old), dict(new)
    parts = []
    for label, names in (("added columns", [c for c in after if c not in before]),
                         ("dropped columns", [c for c in before if c not in after]),
                         ("columns of another type", [f"{c}: {before[c]} → {after[c]}" for c in after
                                                      if c in before and before[c] != after[c]])):
        if names:
            parts.append(f"{label}: {', '.join(names)}")
    return "; ".join(parts) or "the same columns in another order"


def _grant_again(con, sql, name, old: dict, columns) -> None:
    """Grant on the new table `name` the rights other roles (and PUBLIC) held on the old one: the
    table's, and those on a column the new table has too."""
    for column, grantee, privilege, grantable in old["grants"]:
        if column is not None and column not in columns:
            continue
        on = (sql.SQL("{} ({})").format(sql.SQL(privilege), sql.Identifier(column)) if column is not None
              else sql.SQL(privilege))
        con.execute(sql.SQL("GRANT {} ON {} TO {}{}").format(
            on, name, sql.SQL("PUBLIC") if grantee is None else sql.Identifier(grantee),
            sql.SQL(" WITH GRANT OPTION" if grantable and grantee is not None else "")))


def _check_target(con, sql, user: str, read_only: bool, schema: str, table: str, database: Database) -> bool:
    """Refuse (ExportError) what the write-back may not do; True when the schema must be created."""
    target = f"{schema}.{table}"
    advice = (f"ask the database's administrator to run `GRANT USAGE, CREATE ON SCHEMA {schema} TO {user}` (and "
              f"`ALTER ROLE {user} SET default_transaction_read_only = off` if it is set), or remove postgres from "
              "exports.formats")
    if read_only:
        raise ExportError(f"cannot write {target}: the database role {user} may only read here (its sessions are "
                          f"read-only); {advice}")
    exists = con.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema]).fetchone()
    if exists:
        allowed = con.execute("SELECT has_schema_privilege(%s, 'USAGE') AND has_schema_privilege(%s, 'CREATE')",
                              [schema, schema]).fetchone()[0]
        if not allowed:
            raise ExportError(f"cannot write {target}: the database role {user} may only read in schema {schema} "
                              f"(it has no CREATE right there); {advice}")
    else:
        allowed = con.execute("SELECT has_database_privilege(current_database(), 'CREATE')").fetchone()[0]
        if not allowed:
            raise ExportError(f"cannot write {target}: schema {schema} does not exist and the database role {user} "
                              f"may not create it; ask the database's administrator to run `CREATE SCHEMA {schema} "
                              f"AUTHORIZATION {user}`, or remove postgres from exports.formats")
    quoted = sql.Identifier(schema, table).as_string(con)
    target_oid = con.execute("SELECT to_regclass(%s)::oid", [quoted]).fetchone()[0]
    sources = [database.table] + [spec.table for spec in (database.customers, database.surveys) if spec is not None]
    for source in sources:
        source_schema, _, source_table = source.rpartition(".")
        name = (sql.Identifier(source_schema, source_table) if source_schema else sql.Identifier(source_table))
        oid = con.execute("SELECT to_regclass(%s)::oid", [name.as_string(con)]).fetchone()[0]
        same_table = oid is not None and oid == target_oid
        same_name = (source_schema or "public") == schema and source_table == table
        if same_table or same_name:
            raise ExportError(f"exports.postgres_schema and postgres_table name {target}, which is the source table "
                              f"{source} this run reads; segkit never writes over its source: choose another "
                              "schema or table name")
    if target_oid is not None:
        owner_ok = con.execute("SELECT pg_has_role(current_user, c.relowner, 'USAGE') FROM pg_class c WHERE c.oid = %s",
                               [target_oid]).fetchone()[0]
        if not owner_ok:
            owner = con.execute("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = %s", [target_oid]).fetchone()[0]
            # the name may be another team's table: choosing another name is the safe advice, the ownership second
            raise ExportError(f"cannot replace {target}: it belongs to the role {owner}, not to {user}; choose another "
                              f"exports.postgres_table for segkit's table, or, if {target} is segkit's own from an "
                              f"earlier run, have its owner give it to {user} (`ALTER TABLE {target} OWNER TO {user}`)")
    return not exists


# ---------------------------------------------------------------- the run's path: one Arrow table for every format
#
# `export_run` builds the export once, as an Arrow table whose class and label columns are dictionary-encoded
# (a million customers' segment names are a dozen texts and a million small integers, not a million Python
# strings), and writes every format from it: Parquet by pyarrow, the CSV by DuckDB, the workbook by the Rust
# writer. The pandas functions above (`export_frame`, `write_csv`, `write_excel`, `write_parquet`) are the public
# API and the reference the fast path is tested against; a run whose stage files hold anything unusual (a column
# of another type, a missing or repeated customer id) goes through them instead, with the same files as result.

def _is_text(kind) -> bool:
    import pyarrow as pa

    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _coded(column) -> tuple[np.ndarray, list]:
    """A text column (Arrow, plain or dictionary-encoded) as int32 positions into a list of distinct
    texts (-1 where missing)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)
    values = column.dictionary.to_pylist()
    positions = column.indices.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    if column.null_count:
        positions = np.where(column.is_valid().to_numpy(zero_copy_only=False), positions, -1)
    distinct = list(dict.fromkeys(values))  # a dictionary read from several row groups may repeat a text
    if len(distinct) != len(values):
        where = {value: i for i, value in enumerate(distinct)}
        remap = np.array([where[v] for v in values] + [-1], dtype=np.int64)
        positions = remap[positions]
    return positions.astype(np.int32), distinct


def _dictionary(positions: np.ndarray, values: list):
    """A dictionary-encoded Arrow text column: `values[positions]`, missing where a position is -1 or
    its value is None."""
    import pyarrow as pa

    values = list(values)
    if any(v is None for v in values):  # a label that is missing: the position becomes missing
        missing = np.array([v is None for v in values] + [True])
        positions = np.where(missing[positions], -1, positions).astype(np.int32)
        values = [v if v is not None else "" for v in values]
    indices = pa.array(positions, type=pa.int32(), mask=positions < 0)
    return pa.DictionaryArray.from_arrays(indices, pa.array(values, type=pa.string()))


def _relabelled(positions: np.ndarray, values: list, label) -> "pa.DictionaryArray":
    """`label(value)` of each distinct value, on the same positions: one call per distinct text."""
    return _dictionary(positions, [label(v) for v in values])


def _floats(column, decimals: int | None = None):
    """A number column as float64 (missing and NaN as missing), rounded as pandas' `Series.round` does."""
    import pyarrow as pa

    values = np.asarray(column.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    if decimals is not None:
        values = np.round(values, decimals)
    return pa.array(values, type=pa.float64(), from_pandas=True)


def _aligned(ids, other: "pa.Table", columns: list[str]) -> dict | None:
    """`columns` of `other` on the rows of `ids` (a left join on customer_id, the first row of a
    customer listed twice): taken as they are when the ids are the same in the same order, as the
    stages write them. None when `other`'s ids are not text."""
    import pyarrow as pa

    theirs = other["customer_id"]
    if not _is_text(theirs.type):
        return None
    theirs = theirs.cast(pa.large_string()).combine_chunks()
    if len(theirs) == len(ids) and theirs.equals(ids):
        return {c: other[c].combine_chunks() for c in columns}
    index = pd.Index(theirs.to_numpy(zero_copy_only=False))
    first = ~index.duplicated()
    positions = pd.Index(index[first]).get_indexer(ids.to_numpy(zero_copy_only=False))
    rows = np.flatnonzero(first)
    taken = pa.array(np.where(positions >= 0, rows[np.maximum(positions, 0)], 0), type=pa.int64(),
                     mask=positions < 0)
    return {c: other[c].combine_chunks().take(taken) for c in columns}


def _export_table(profile, lang: str, segment_map, class_map, value=None, clusters=None, next_best=None,
                  tags: Sequence[Tag] = (), minor_unit: int = 2, attributes: Sequence[str] = ()):
    """`export_frame` on Arrow tables (the stage files as pyarrow reads them), plus next_best_category from
    `next_best` (07_cross_sell: customer_id, next_best), as one Arrow table in rank order: the same
    columns and values, text columns dictionary-encoded where they repeat (labels looked up once per
    distinct code). None when the tables hold what only `export_frame` handles (ids that are not text,
    missing or repeated; a column of an unexpected type): the caller then takes that path."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if lang not in LANGUAGES:
        raise ValueError(f"lang must be one of {', '.join(LANGUAGES)}, got {lang!r}")
    names = set(profile.column_names)
    if "customer_id" not in names or not _is_text(profile.schema.field("customer_id").type):
        return None
    ids = profile["customer_id"].cast(pa.large_string()).combine_chunks()
    if ids.null_count or pc.count_distinct(ids).as_py() != len(ids):
        return None  # export_frame says which customer appears twice
    columns: dict[str, object] = {c: profile[c] for c in profile.column_names}
    for extra, keep in ((value, _VALUE_COLUMNS), (clusters, _CLUSTER_COLUMNS)):
        if extra is not None:
            wanted = [c for c in keep if c in extra.column_names and c not in columns]
            if wanted:
                joined = _aligned(ids, extra, wanted)
                if joined is None:
                    return None
                columns.update(joined)
    # the types this path reads as export_frame does; anything else (ranks as floats, ids as numbers, dates as
    # text or with a time zone) goes through export_frame itself
    expected = {"text": _is_text, "integer": pa.types.is_integer, "boolean": pa.types.is_boolean,
                "number": lambda k: pa.types.is_floating(k) or pa.types.is_integer(k),
                "date": lambda k: (pa.types.is_timestamp(k) and k.tz is None) or pa.types.is_date(k)}
    for column, array in columns.items():
        kind = COLUMNS.get(column)
        if kind is not None and not expected[kind](array.type) and not (column == "cluster"
                                                                         and pa.types.is_floating(array.type)):
            return None
    out: dict[str, object] = {"customer_id": ids}

    def coded(name, labels=None):
        positions, values = _coded(columns[name])
        out[name] = _dictionary(positions, values)
        if labels is not None:
            out[f"{name}_name"] = _relabelled(positions, values, lambda code: labels.get(code, code))

    if "segment" in columns:
        positions, values = _coded(columns["segment"])
        coded("segment", _map_labels(segment_map, pd.Series(values, dtype=object), lang))
    if "rfm_class" in columns:
        coded("rfm_class", class_map.labels(lang))
    if "rfm_code" in columns:
        coded("rfm_code")
    if "cluster" in columns:
        try:
            out["cluster"] = columns["cluster"].cast(pa.int64())  # safe: 1.5 is refused, as pandas' Int64 does
        except pa.ArrowInvalid:
            return None
        if "cluster_name" in columns:
            coded("cluster_name")
    for dim in ("frequency", "monetary"):
        if f"{dim}_tier" in columns:
            coded(f"{dim}_tier", {v: t(f"tier.{dim}.{v}", lang) for v in ("low", "mid", "high")})
    if "abc_class" in columns:
        coded("abc_class")
    if "tags" in columns:
        named = {tag.name: getattr(tag, lang) for tag in tags}
        separator = t("exports.tag_separator", lang)
        positions, values = _coded(columns["tags"])
        if (positions < 0).any():  # a missing tag list is an empty one, as export_frame's fillna("")
            if "" not in values:
                values = [*values, ""]
            positions = np.where(positions < 0, values.index(""), positions).astype(np.int32)
        out["tags"] = _dictionary(positions, values)
        out["tag_names"] = _relabelled(positions, values, lambda text: separator.join(
            named.get(c, c) for c in _split_tags(text)))
    if "rank" in columns:
        out["rank"] = columns["rank"].cast(pa.int64())
    if "rank_score" in columns:
        out["rank_score"] = _floats(columns["rank_score"], 4)
    for column in ("orders", "recency_days"):
        if column in columns:
            out[column] = columns[column].cast(pa.int64())
    if "revenue" in columns:
        out["revenue"] = _floats(columns["revenue"], minor_unit)
    if "last_purchase" in columns:
        day = columns["last_purchase"]
        if pa.types.is_timestamp(day.type):  # the day of the timestamp, as pandas' .dt.date
            stamps = day.cast(pa.timestamp(day.type.unit)).to_numpy(zero_copy_only=False)
            day = pa.array(stamps.astype("datetime64[D]"), type=pa.date32(), from_pandas=True)
        out["last_purchase"] = day.cast(pa.date32())
    if "clv" in columns:
        out["clv"] = _floats(columns["clv"], minor_unit)
    if "clv_tier" in columns:
        coded("clv_tier", {v: t(f"exports.clv_tier.{v}", lang) for v in ("low", "mid", "high", "unknown")})
    if "p_alive" in columns:
        out["p_alive"] = _floats(columns["p_alive"], 4)
    if "churn_risk" in columns:
        out["churn_risk"] = columns["churn_risk"]
    if next_best is not None and "next_best" in next_best.column_names:
        if not _is_text(next_best.schema.field("next_best").type):
            return None
        theirs = next_best["customer_id"]
        if not _is_text(theirs.type) or pc.count_distinct(theirs.cast(pa.large_string())).as_py() != len(theirs) \
                or theirs.null_count:
            return None  # load_export_frame's lookup refuses a customer offered twice
        joined = _aligned(ids, next_best, ["next_best"])
        if joined is None:
            return None
        positions, values = _coded(joined["next_best"])
        out["next_best_category"] = _dictionary(positions, values)
    for name in attributes:  # a customer table's columns (`export_frame`'s `attributes`), after segkit's own
        if name in columns and name not in out:
            found = _attribute_array(columns[name])
            if found is None:
                return None
            out[name] = found
    table = pa.table({c: out[c] for c in [*COLUMNS, *attributes] if c in out})
    if "rank" in table.column_names:  # rank order, then the id; missing ranks last (as sort_values, stable)
        order = pc.sort_indices(table.select(["rank", "customer_id"]),
                                sort_keys=[("rank", "ascending", "at_end"), ("customer_id", "ascending", "at_end")])
        table = table.take(order)
    return table


def _attribute_array(column):
    """`_attribute_column` on Arrow: text dictionary-encoded, integers as int64, other numbers as float64
    (NaN missing), true/false as they are, timestamps without a time zone as their dates; None for any
    other type (the caller then takes `export_frame`'s path)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    kind = column.type
    if _is_text(kind):
        return _dictionary(*_coded(column))
    if pa.types.is_integer(kind):
        return column.cast(pa.int64())
    if pa.types.is_floating(kind):
        numbers = np.asarray(column.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
        missing = np.isnan(numbers)
        if _whole(numbers):  # as `_attribute_column`: whole numbers as integers
            return pa.array(np.where(missing, 0, numbers).astype(np.int64), type=pa.int64(), mask=missing)
        return pa.array(numbers, type=pa.float64(), mask=missing)
    if pa.types.is_boolean(kind):
        return column
    if pa.types.is_date(kind):
        return column.cast(pa.date32())
    if pa.types.is_timestamp(kind) and kind.tz is None:
        stamps = column.cast(pa.timestamp(kind.unit)).to_numpy(zero_copy_only=False)
        return pa.array(stamps.astype("datetime64[D]"), type=pa.date32(), from_pandas=True)
    return None


def _load_export_table(data_dir, params: Params):
    """`_export_table` of the run whose stage files are in `data_dir`, read by pyarrow with only the
    columns the export shows and the class columns dictionary-encoded as Parquet stores them; None
    when a stage file is missing or unreadable, or `_export_table` is None (the caller then takes
    `load_export_frame`, which says what is wrong)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from segkit.classify.rfm import load_segment_map

    data_dir = Path(data_dir)

    def read(name: str, wanted: list[str], optional: bool):
        path = data_dir / f"{name}.parquet"
        if not path.is_file():
            return None if optional else False
        try:
            schema = pq.read_schema(path)
            columns = [c for c in schema.names if c in set(wanted)]
            coded = [c for c in columns if c != "customer_id" and _is_text(schema.field(c).type)]
            return pq.read_table(path, columns=columns, read_dictionary=coded)
        except (OSError, ValueError, pa.ArrowException):
            return False

    profile = read("profile", [*COLUMNS, *params.exports.attributes], optional=False)
    if profile is False or profile is None:
        return None
    extras = {}
    for name, keep in (("value", _VALUE_COLUMNS), ("clusters", _CLUSTER_COLUMNS)):
        # a stage whose columns the profile already has adds nothing (as in load_export_frame): not read
        wanted = [c for c in keep if c not in profile.column_names]
        extras[name] = read(name, ["customer_id", *wanted], True) if wanted else None
    offers = read("next_best", ["customer_id", "next_best"], True)
    if any(x is False for x in (*extras.values(), offers)):
        return None
    for name, extra in (*extras.items(), ("next_best", offers)):
        if extra is not None and "customer_id" not in extra.column_names:
            return None
    rfm = params.rfm
    classes = load_segment_map(rfm.class_map, custom=rfm.custom_maps, basis=rfm.class_basis,
                               thresholds=rfm.class_thresholds)
    return _export_table(profile, params.lang, _grid(rfm), classes, value=extras["value"],
                         clusters=extras["clusters"], next_best=offers, tags=params.tags,
                         minor_unit=params.currency.minor_unit, attributes=params.exports.attributes)


def _frame_of(table) -> pd.DataFrame:
    """The export table as the pandas frame `export_frame` returns (text as "string", integers as
    Int64, true/false as boolean, dates as datetime.date): for the writers that take a frame (the
    database, the XlsxWriter fallback) and for the tests."""
    import pyarrow as pa

    columns = []
    for column in table.columns:
        kind = column.type
        if _is_text(kind):
            columns.append(pd.array(column.cast(pa.large_string()).to_numpy(zero_copy_only=False), dtype="string"))
        elif pa.types.is_integer(kind):
            columns.append(pd.array(column.to_pylist(), dtype="Int64"))
        elif pa.types.is_boolean(kind):
            columns.append(pd.array(column.to_pylist(), dtype="boolean"))
        elif pa.types.is_date(kind):
            columns.append(pd.Series([pd.NaT if v is None else v for v in column.to_pylist()], dtype=object).array)
        else:
            columns.append(np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64))
    frame = pd.DataFrame(dict(enumerate(columns)), index=pd.RangeIndex(table.num_rows))
    frame.columns = list(table.column_names)  # by position: two headers of a people's table may read the same
    return frame


def _people_table(table, lang: str, quoted: bool = True, minor_unit: int = 2):
    """The export table as people see it (`_people_frame` on Arrow): text columns neutralised (a
    dictionary's distinct texts once each, other text columns in one vectorised pass), money and
    true/false as the CSV writes them (`_csv_words`), headers in `lang` and neutralised; with `quoted`
    False, headers in `lang` and the columns as they are (the workbook's, whose writers mark a
    formula-like text as text). Two headers may read the same: the columns are kept by position."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not quoted:
        return pa.Table.from_arrays(table.columns, names=[header(c, lang) for c in table.column_names])
    arrays = []
    for name in table.column_names:
        column = table[name].combine_chunks() if isinstance(table[name], pa.ChunkedArray) else table[name]
        if pa.types.is_dictionary(column.type):
            column = pa.DictionaryArray.from_arrays(
                column.indices, pa.array([neutralise(v) for v in column.dictionary.to_pylist()], type=pa.string()))
        elif _is_text(column.type):
            risky = _formula_like_array(column)
            if pc.any(risky).as_py():
                column = pc.if_else(risky, pc.binary_join_element_wise(pa.scalar("'", column.type), column,
                                                                             pa.scalar("", column.type)), column)
        else:
            words = _csv_words(name, column, minor_unit)
            column = column if words is None else words
        arrays.append(column)
    return pa.Table.from_arrays(arrays, names=[neutralise(header(c, lang)) for c in table.column_names])


def _formula_like_array(column):
    """`formula_like` of each text of an Arrow text array, in one vectorised pass (RE2 reads
    `PLAIN_NUMBER` as Python's re does); null where the text is missing."""
    import pyarrow.compute as pc

    risky = None
    for start in FORMULA_STARTS:
        hit = pc.starts_with(column, start)
        risky = hit if risky is None else pc.or_(risky, hit)
    if not pc.any(risky).as_py():  # the usual case: no text starts like a formula
        return risky
    return pc.and_(risky, pc.invert(pc.match_substring_regex(column, f"^(?:{PLAIN_NUMBER})$")))


def _table_csv_text(batch):
    """The cells of an Arrow record batch of the people's table as the text `to_csv` writes for the
    same frame (`_csv_text`): numbers as numpy's str() (17 digits where needed, "inf"), integers as
    digits, dates YYYY-MM-DD, true/false as True/False (the people's table has them as "true"/"false"
    already, `_csv_words`), missing and empty text as null (an empty field)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    empty = pa.scalar(None, pa.string())
    columns = []
    for array in batch.columns:
        kind = array.type
        if pa.types.is_floating(kind):
            values = np.asarray(array.to_numpy(zero_copy_only=False), dtype=np.float64)
            # numpy's str() of each distinct number once (rounded scores and money repeat): distinct by their
            # bits, so that -0.0 keeps its sign
            positions, distinct = pd.factorize(values.view(np.int64))
            text = pa.array(distinct.view(np.float64).astype(str), type=pa.string()).take(
                pa.array(positions, type=pa.int64(), mask=np.isnan(values)))
        elif pa.types.is_boolean(kind):
            text = pc.if_else(array, "True", "False")
        elif _is_text(kind):
            array = array.cast(pa.string())
            text = pc.if_else(pc.equal(array, ""), empty, array)
        else:  # integers and dates: digits, YYYY-MM-DD
            text = array.cast(pa.string())
        columns.append(text)
    return pa.RecordBatch.from_arrays(columns, names=[f"c{i}" for i in range(len(columns))])


def _write_table_csv(people, path: str | os.PathLike, encoding: str) -> Path:
    """The people's table (`_people_table`) as `write_csv` writes its frame, byte for byte: formatted
    `_CSV_BATCH_ROWS` rows at a time (`_table_csv_text`) while DuckDB writes them (`_duckdb_csv`)."""
    import pyarrow as pa

    path = Path(path)
    schema = pa.schema([(f"c{i}", pa.string()) for i in range(people.num_columns)])

    def batches():
        for batch in people.to_batches(max_chunksize=_CSV_BATCH_ROWS):
            yield _table_csv_text(batch)

    try:
        with _replacing(path) as partial:
            _duckdb_csv(pa.RecordBatchReader.from_batches(schema, batches()), list(people.column_names), partial,
                        encoding)
    except UnicodeEncodeError:
        _check_encodable(people, path, encoding)
        raise
    return path


def _write_table_parquet(table, path: str | os.PathLike, run: dict | None = None) -> Path:
    """`write_parquet` of the export table: the same schema (string, int64, double, date32, bool, each
    field's description) and metadata, the pandas metadata included (that of the frame `export_frame`
    returns, so pandas reads the file back with the same dtypes), the dictionaries decoded to text."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    kinds = {"text": pa.string(), "integer": pa.int64(), "number": pa.float64(), "date": pa.date32(),
             "boolean": pa.bool_()}
    fields = [pa.field(c, kinds[column_kind(c, table[c])], metadata={"description": describe(c, "en")})
              for c in table.column_names]
    metadata = {"segkit": json_text(run or {}, ensure_ascii=False, default=str)}
    schema = pa.schema(fields, metadata=metadata)
    # the pandas metadata names dtypes only, not values: that of the frame's first row is the whole frame's
    head = pa.Table.from_pandas(_frame_of(table.slice(0, 1)), schema=schema, preserve_index=False)
    schema = schema.with_metadata(head.schema.metadata)
    path = Path(path)
    with _replacing(path) as partial:
        pq.write_table(table.cast(schema), partial)
    return path


def _table_workbook_content(table, lang: str, segment_map, max_rows: int, full_list: Sequence[str],
                            title: str, minor_unit: int = 2) -> dict:
    """`_workbook_content` of the export table: the segment sheets' rows found from the segment
    column's codes in one pass, the summary's sums over the same rows in the same order (so the same
    floating-point sums), the data dictionary as before."""
    used: set[str] = set()
    summary = _sheet_name(t("exports.sheet.summary", lang), used)
    segments, rows_of, codes = [], {}, []
    if "segment" in table.column_names:
        positions, values = _coded(table["segment"])
        counts = np.bincount(positions[positions >= 0], minlength=len(values))
        present = [v for v, n in zip(values, counts) if n]
        order = list(_map_labels(segment_map, pd.Series(present, dtype=object), "en"))
        codes = [c for c in order + sorted(set(present) - set(order)) if c in set(present)]
        grouped = np.argsort(positions, kind="stable")  # each code's rows, in rank order
        bounds = np.searchsorted(positions[grouped], np.arange(len(values) + 1))
        where = {v: i for i, v in enumerate(values)}
        rows_of = {c: grouped[bounds[where[c]]:bounds[where[c] + 1]] for c in codes}
        names = _coded(table["segment_name"]) if codes else None
    for code in codes:
        rows = rows_of[code]
        segments.append(_segment_sheet(str(names[1][names[0][rows[0]]]), rows, max_rows, full_list, lang, used))
    dictionary = _sheet_name(t("exports.sheet.dictionary", lang), used)
    dict_rows = _dictionary_rows(table.column_names, lang,
                                 {c: column_kind(c, table[c]) for c in table.column_names if c not in COLUMNS})
    return {"summary": (summary, title or "",
                        list(_table_summary_rows(table, codes, rows_of, lang, names, minor_unit))),
            "segments": segments, "dictionary": (dictionary, dict_rows),
            "formats": {"summary": _number_formats(_summary_fields(table.column_names), minor_unit),
                        "segments": _number_formats(table.column_names, minor_unit)}}


def _table_summary_rows(table, codes: list[str], rows_of: dict, lang: str, names, minor_unit: int = 2):
    """`_summary_rows` of the export table: each segment's rows summed by pandas in rank order, as before."""
    present = _summary_fields(table.column_names)
    yield [t(f"exports.summary.{n}", lang) for n in present]
    total = table.num_rows
    numbers = {c: np.asarray(table[c].to_numpy(zero_copy_only=False), dtype=np.float64)
               for c in ("revenue", "clv") if c in present and codes}
    if "churn_risk_share" in present and codes:
        risk = table["churn_risk"].fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
    for code in codes:
        rows = rows_of[code]
        values = {"segment_name": str(names[1][names[0][rows[0]]]), "customers": len(rows),
                  "customer_share": round(len(rows) / total, 4) if total else 0.0}
        for column, array in numbers.items():
            values[column] = round(float(pd.Series(array[rows]).sum()), minor_unit)
        if "churn_risk_share" in present:
            values["churn_risk_share"] = round(float(pd.Series(risk[rows]).mean()), 4)
        yield [values[n] for n in present]


def _table_rust_cells(people, book: dict):
    """`_rust_cells` of the people's table: the same checks and the same cells (dates as Excel serial
    numbers), dictionary columns kept encoded (`_SheetRows` decodes each batch: the Rust writer writes
    a dictionary column as empty cells); None where the workbook must be written by XlsxWriter."""
    try:
        import rustpy_xlsxwriter  # noqa: F401
    except ImportError:
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    summary = [v for row in book["summary"][2][1:] for v in row if isinstance(v, float)]
    if any(np.isinf(summary)):
        return None
    arrays, dates = [], []
    for position, column in enumerate(people.columns):
        column = column.combine_chunks()
        kind = column.type
        if _is_text(kind):
            text = column.dictionary if pa.types.is_dictionary(kind) else column
            longest = pc.max(pc.binary_length(text)).as_py() if len(text) else None
            if longest is not None and longest > _EXCEL_TEXT_MAX:
                return None
        elif pa.types.is_floating(kind):
            if pc.any(pc.is_inf(column)).as_py():
                return None
        elif pa.types.is_date(kind):
            days = column.cast(pa.date32()).cast(pa.int32()).cast(pa.int64())
            column = pc.add(days, pc.if_else(pc.greater_equal(days, _EXCEL_DAY_1900_03_01), _EXCEL_SERIAL_1970,
                                             _EXCEL_SERIAL_1970 - 1))
            dates.append(position)
        elif not (pa.types.is_integer(kind) or pa.types.is_boolean(kind)):
            return None
        arrays.append(column)
    try:
        summary, dictionary = _rows_table(book["summary"][2]), _rows_table(book["dictionary"][1])
    except (pa.ArrowException, TypeError, ValueError):
        return None
    return pa.Table.from_arrays(arrays, names=list(people.column_names)), dates, summary, dictionary


def _write_table_workbook(table, people, path: str | os.PathLike, lang: str, segment_map, max_rows: int,
                          full_list: Sequence[str], title: str, minor_unit: int = 2) -> Path:
    """`_write_workbook` of the export table and its people's table (`_people_table(table, lang,
    quoted=False)`: the texts as they are): the Rust writer from the Arrow
    columns, or, where it cannot (`_table_rust_cells` is None, or it refuses), the XlsxWriter workbook
    of the frames as before."""
    path = Path(path)
    book = _table_workbook_content(table, lang, segment_map, max_rows, full_list, title, minor_unit)
    cells = _table_rust_cells(people, book)
    with _replacing(path) as partial:
        if cells is None or not _rust_workbook(book, cells, partial):
            _xlsxwriter_workbook(book, _frame_of(people), partial)
    return path


# ---------------------------------------------------------------- a run's exports

def export_run(run_folder: str | os.PathLike, params: Params, formats: Iterable[str] | None = None,
               encoding: str | None = None) -> list[str]:
    """Write the exports of the run in `run_folder` (its stage files in data/) under `exports/`:
    `formats` (default `params.exports.formats`) of csv, xlsx, parquet, postgres, the CSV in
    `encoding` (default `params.exports.csv_encoding`). Returns what was written: the files' paths
    and, for postgres, "schema.table". Raises ParamsError for an unknown format or for postgres
    without a PostgreSQL source, DataError for missing stage files, ExportError for the database.

    The export is built once (`_load_export_table`) and every format written from it; the workbook on a
    second thread while this one writes the CSV and the Parquet file (each writer leaves Python's lock
    while it writes), so at a million customers the wall time is about the workbook's."""
    folder = Path(run_folder)
    settings = params.exports
    chosen = list(dict.fromkeys(formats if formats is not None else settings.formats))
    unknown = [f for f in chosen if f not in EXPORT_FORMATS]
    if unknown:
        raise ParamsError(f"export format {unknown[0]!r} is not one segkit writes; formats: {', '.join(EXPORT_FORMATS)}")
    if "postgres" in chosen:
        if params.source.kind != "database" or params.source.database is None:
            raise ParamsError(f"the postgres export needs a PostgreSQL source, and this run's source is "
                              f"{params.source.kind} (source.kind): the write-back goes to the PostgreSQL database the "
                              "run read; leave postgres out of exports.formats (or --format)")
        if not settings.postgres_schema:
            raise ParamsError("exports.postgres_schema must name the schema to write to (e.g. segkit) for the postgres "
                              "export")
    # one Arrow table for every format (`_load_export_table`); the frame of `load_export_frame` where the stage
    # files hold what only it handles (it also says what is wrong with them)
    table = _load_export_table(folder / "data", params)
    frame = load_export_frame(folder / "data", params) if table is None else None
    info = _run_info(folder / "data")
    as_of = info.get("as_of", "")
    run = {"run": _run_name(params), "as_of": str(as_of), "lang": params.lang}
    out = folder / EXPORT_DIR
    done: dict[str, str] = {}
    encoding = encoding or settings.csv_encoding
    if "csv" in chosen:
        _check_encoding(encoding)
    if "xlsx" in chosen:
        _check_max_rows(settings.excel_max_rows)
    # the export as people see it (headers in the language): text neutralised for the CSV, as it is for the
    # workbook (whose writers mark a formula-like text as text with Excel's quote prefix)
    from segkit.store import load_stage

    people = shown = None
    lists = {}  # the other CSV files: 06_migration's slipped customers, 01_cleaning's customers set aside
    if "csv" in chosen:
        minor_unit = params.currency.minor_unit
        people = (_people_table(table, params.lang, minor_unit=minor_unit) if table is not None
                  else _people_frame(frame, params.lang, minor_unit=minor_unit))
        moved = load_stage(folder / "data", "moved_to_at_risk", optional=True)
        if moved is not None and len(moved):
            # 06_migration's list of valuable customers who slipped to at-risk classes, for the CRM
            from segkit.classify.rfm import load_segment_map

            classes = load_segment_map(params.rfm.class_map, custom=params.rfm.custom_maps,
                                       basis=params.rfm.class_basis, thresholds=params.rfm.class_thresholds)
            lists["moved"] = moved_export_frame(moved, params.lang, _grid(params.rfm), classes, minor_unit)
        aside = load_stage(folder / "data", "customers_set_aside", optional=True)
        if aside is not None and len(aside):
            # the customers 01_cleaning left out of every class (revenue zero or less after returns): the
            # customer files have no row for them, so the CRM learns of them here
            lists["aside"] = set_aside_export_frame(aside, params.lang, minor_unit)
        del moved, aside
        if encoding == "gbk":  # a text GBK cannot write is said before any file is written
            _check_encodable(people, out / FILE_NAMES["csv"], encoding)
            for key, name in (("moved", MOVED_FILE), ("aside", ASIDE_FILE)):
                if key in lists:
                    _check_encodable(_people_frame(lists[key], params.lang, minor_unit=minor_unit), out / name,
                                     encoding)
    if "xlsx" in chosen:
        shown = (_people_table(table, params.lang, quoted=False) if table is not None
                 else _people_frame(frame, params.lang, quoted=False))
    from concurrent.futures import ThreadPoolExecutor

    # the workbook (the Rust writer, which lets go of Python's lock) is written on a second thread while the
    # CSV (DuckDB, likewise) and the Parquet file are written on this one: two cores, half the wall time
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="segkit-xlsx") as pool:
        workbook = None
        if "xlsx" in chosen:
            full = [FILE_NAMES[f] for f in ("csv", "parquet") if f in chosen]
            grid = _grid(params.rfm)
            title = t("exports.title", params.lang, run=run["run"], as_of=as_of or "—")
            target = out / FILE_NAMES["xlsx"]
            if table is not None:
                workbook = pool.submit(_write_table_workbook, table, shown, target, params.lang, grid,
                                       settings.excel_max_rows, full, title, params.currency.minor_unit)
            else:
                workbook = pool.submit(_write_workbook, frame, shown, target, params.lang, grid,
                                       settings.excel_max_rows, full, title, params.currency.minor_unit)
        if "csv" in chosen:
            target = out / FILE_NAMES["csv"]
            if table is None:
                done["csv"] = str(_write_people_csv(people, target, encoding))
            elif people.num_columns < 2:  # one column: pandas quotes an empty row, as `write_csv` does
                done["csv"] = str(_write_people_csv(_frame_of(people), target, encoding))
            else:
                done["csv"] = str(_write_table_csv(people, target, encoding))
        for key, name in (("moved", MOVED_FILE), ("aside", ASIDE_FILE)):
            if key in lists:
                done[key] = str(write_csv(lists[key], out / name, params.lang, encoding, params.currency.minor_unit))
        if "csv" in chosen:  # a list an earlier export wrote that the run no longer has: not left for a CRM to import
            for key, name in (("moved", MOVED_FILE), ("aside", ASIDE_FILE)):
                if key not in done:
                    (out / name).unlink(missing_ok=True)
        if "parquet" in chosen:
            target = out / FILE_NAMES["parquet"]
            done["parquet"] = str(write_parquet(frame, target, run) if table is None else
                                  _write_table_parquet(table, target, run))
        if workbook is not None:
            done["xlsx"] = str(workbook.result())
    del people, shown, lists
    if "postgres" in chosen:
        comment = f"segkit export of run {run['run']}, data up to {as_of}"
        done["postgres"] = write_postgres(frame if table is None else _frame_of(table), params.source.database,
                                          settings.postgres_schema, settings.postgres_table, comment=comment,
                                          lang=params.lang)
    written = [done[key] for key in ("csv", "moved", "aside", "parquet", "xlsx", "postgres") if key in done]
    return written


def export_run_folder(run_folder: str | os.PathLike, formats: Iterable[str] | None = None,
                      encoding: str | None = None) -> list[str]:
    """`export_run` for a finished run folder, with the params the run used (its manifest.json):
    what `segkit export RUN_FOLDER` does. Raises DataError when the folder is not a run."""
    folder = Path(run_folder)
    manifest = folder / "manifest.json"
    if not folder.exists():
        raise DataError(f"{folder} does not exist; give the folder of a run, e.g. reports/demo (`ls reports` lists "
                        "them)")
    if not manifest.is_file():
        raise DataError(f"{folder} is not a segkit run folder (it has no manifest.json); give the folder of a run, "
                        "e.g. reports/demo")
    try:
        params_raw = json.loads(manifest.read_text(encoding="utf-8"))["params"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise DataError(f"{manifest} cannot be read ({type(err).__name__}); run the report again") from None
    params = validate_params(params_raw, origin=str(manifest))
    encoding = encoding.strip().lower() if encoding is not None else None  # GBK, GB18030 as the codecs' names
    if encoding is not None and encoding not in CSV_ENCODINGS:
        raise ParamsError(f"--encoding must be one of {', '.join(CSV_ENCODINGS)}, got {encoding!r}")
    return export_run(folder, params, formats, encoding)


def _run_info(data_dir: Path) -> dict:
    from segkit.store import load_run_info

    try:
        return load_run_info(data_dir)
    except DataError:
        return {}


def _run_name(params: Params) -> str:
    return f"{params.run_name}-{params.month}" if params.month else params.run_name


__all__ = ["COLUMNS", "EXPORT_DIR", "ExportError", "FILE_NAMES", "FORMULA_STARTS", "PLAIN_NUMBER", "export_frame",
           "export_run", "export_run_folder", "formula_like", "header", "load_export_frame", "neutralise", "write_csv",
           "write_excel", "write_parquet", "write_postgres"]

