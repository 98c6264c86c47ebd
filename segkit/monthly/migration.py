"""Who moved where between two months: the transition matrix, the customer moves, the valuable
customers who slipped to at-risk classes, and clusters matched across months.

Definitions (one place; the migration notebook and the history's KPIs use them):

- **Before / after**: each customer's class at the end of the previous month and at the end of this
  month (as-of = the month ends), classified with the same standards. A customer without a class
  before (first purchase this month) is in the row `NEW`.
- **Transition matrix**: customers per (class before, class after); row shares are the share of the
  customers of a class before who are in each class after (each row adds up to 1).
- **Customer moves of the month** (`churn_window` days, the customer-value churn window):
  - *new*: first purchase in the month;
  - *returning*: bought in the month, and had bought within the churn window before the month
    (recency at the previous month end below the window);
  - *reactivated*: bought in the month after a gap of at least the churn window;
  - *lost*: no purchase in the month and crossed the churn window during it (recency below the
    window at the previous month end, at or above it at this month end);
  - *stayed*: everyone else (kept away, or still within the window without buying).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from segkit.errors import DataError
from segkit.i18n import counted, plural_form
from segkit.monthly.codes import class_codes, has_duplicates, positions

NEW = "new"
MOVES = ("new", "returning", "reactivated", "lost", "stayed")
# Valuable classes and the at-risk classes they may slip to, for the shipped maps.
WATCHED = {
    "rfm11": (("champions", "loyal", "cant_lose"), ("at_risk", "about_to_sleep", "hibernating", "lost")),
    "cn8": (("important_value", "important_retain"), ("important_winback", "general_winback")),
}


def _classes(frame: pd.DataFrame, column: str, name: str) -> pd.Series:
    ids = _ids(frame, column, name)
    return pd.Series(frame[column].to_numpy(), index=ids, name=column)


def _ids(frame: pd.DataFrame, column: str, name: str) -> pd.Series:
    """`frame`'s customer ids as text, checked: the columns customer_id and `column` present, one
    row per customer (DataError naming the first customer listed twice)."""
    if "customer_id" not in frame.columns or column not in frame.columns:
        raise DataError(f"{name} needs the columns customer_id and {column}")
    ids = frame["customer_id"].astype(str)
    _one_row_each(ids, name)
    return ids


def _one_row_each(ids: pd.Series, name: str) -> None:
    """DataError naming the first customer of `ids` (text) listed twice; counted in Arrow, the
    message found with pandas only when there is one."""
    if has_duplicates(ids):
        raise DataError(f"{name} has customer {ids[ids.duplicated()].iloc[0]!r} twice: one row per customer")


def _take(values: pd.Series, found: np.ndarray, index) -> pd.Series:
    """`values` at the positions `found` (`segkit.monthly.codes.positions`; -1: missing, NaN) on
    `index`: what `values.reindex(ids)` gives, without a hash index of the text ids."""
    return values.reset_index(drop=True).reindex(found).set_axis(index)


def transition_matrix(before: pd.DataFrame, after: pd.DataFrame, column: str = "segment",
                      codes=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Customers per class before (rows) and after (columns), and the row shares.

    `before` and `after` have one row per customer: customer_id and `column` (the class code, e.g.
    segment or rfm_class) at the end of the previous month and of this month. `codes` orders the
    classes (a segment map's codes; default: sorted). Customers only in `after` are counted in the
    row `NEW`; a customer only in `before` (set aside this month) raises DataError, since every
    customer classified last month is classified this month. Returns (counts, shares): counts are
    integers, every class a row and a column; shares are counts over their row's total (NaN for
    an empty row).
    """
    old_ids, new_ids = _ids(before, column, "before"), _ids(after, column, "after")
    found = positions(old_ids, new_ids)  # each customer's row this month
    if (found < 0).any():
        missing = pd.Index(old_ids[found < 0])
        raise DataError(f"{counted(len(missing), 'customer', 'customers')} classified last month "
                        f"{plural_form(len(missing), 'is', 'are', 'en')} not classified this month "
                        f"(e.g. {missing.min()!r}); both months must come from the same transactions")
    old, new = before[column], after[column]
    order = list(codes) if codes is not None else sorted(set(old.unique()) | set(new.unique()))
    old_codes, new_codes = _checked_codes(old, new, order)
    rows = np.full(len(new_codes), len(order), dtype="int64")  # the row NEW unless known last month
    rows[found] = old_codes
    return class_matrix(rows, new_codes, order)


def _checked_codes(old: pd.Series, new: pd.Series, order: list) -> tuple[np.ndarray, np.ndarray]:
    """The classes of both months as positions in `order` (`class_codes`); DataError naming the
    classes that are not in `order` (a missing class included)."""
    old_codes, new_codes = class_codes(old, order), class_codes(new, order)
    if (old_codes < 0).any() or (new_codes < 0).any():
        present = set(old.unique()) | set(new.unique())
        unknown = present - set(order)
        raise DataError(f"classes {sorted(unknown, key=str)} are not in the map's codes {order}")
    return old_codes, new_codes


def class_matrix(rows: np.ndarray, columns: np.ndarray, order: list) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Counts and row shares of a transition matrix from integer classes: `rows` the class before of
    each customer as a position in `order` (len(order): the row NEW), `columns` the class after.
    Counted with `numpy.bincount`; the frames are those `transition_matrix` returns (before x
    after, Categorical labels)."""
    size = len(order)
    flat = np.bincount(rows * size + columns, minlength=(size + 1) * size).reshape(size + 1, size)
    counts = pd.DataFrame(flat.astype("int64"),
                          index=pd.CategoricalIndex([*order, NEW], categories=[*order, NEW], name="before"),
                          columns=pd.CategoricalIndex(order, categories=order, name="after"))
    totals = counts.sum(axis=1)
    shares = counts.div(totals.where(totals > 0), axis=0)
    return counts, shares


def largest_moves(counts: pd.DataFrame, top: int = 12, include_stays: bool = False) -> pd.DataFrame:
    """The `top` largest flows of a transition matrix as rows before, after, customers (largest
    first; ties by class order), leaving out the diagonal unless `include_stays`."""
    long = counts.stack().rename("customers").reset_index()
    long = long[long["customers"] > 0]
    if not include_stays:
        long = long[long["before"].astype(str) != long["after"].astype(str)]
    return long.sort_values("customers", ascending=False, kind="stable").head(top).reset_index(drop=True)


def customer_moves(before: pd.DataFrame, after: pd.DataFrame, month_start, churn_window: int = 180) -> pd.Series:
    """Each customer's move in the month (see the module's definitions): new, returning, reactivated,
    lost or stayed, indexed by customer_id.

    `before` and `after` are per-customer features (`segkit.features.customer_features`) as of the
    previous month end and this month end: customer_id, recency_days (days), last_purchase (date).
    `month_start` is the month's first day. Raises DataError for missing columns.
    """
    _check_moves(before, after, churn_window)
    old_ids = before["customer_id"].astype(str)
    _one_row_each(old_ids, "before")
    return moves_at(before, after, positions(after["customer_id"].astype(str), old_ids), month_start, churn_window)


def moves_at(before: pd.DataFrame, after: pd.DataFrame, found: np.ndarray, month_start,
             churn_window: int = 180) -> pd.Series:
    """`customer_moves` given `found`, the row of `before` of each customer of `after` (-1: not
    there; `before` with one row per customer): for a caller that knows the rows already (06, whose
    month-start rows are last month's classes in their order), with the same checks of the columns
    and the window."""
    _check_moves(before, after, churn_window)
    new_ids = after["customer_id"].astype(str)
    start = pd.Timestamp(month_start)
    bought = (pd.to_datetime(after["last_purchase"]) >= start).to_numpy(dtype=bool)
    known = found >= 0
    # days since the last purchase at the previous month end (NaN: not a customer then)
    recency_before = before["recency_days"].to_numpy(dtype=float, na_value=np.nan)
    gap_before = np.where(known, recency_before[np.where(known, found, 0)] if len(recency_before) else np.nan,
                          np.nan)
    recency_now = after["recency_days"].to_numpy(dtype=float, na_value=np.nan)
    within = gap_before < churn_window
    moves = np.select([~known, bought & within, bought, within & (recency_now >= churn_window)],
                      ["new", "returning", "reactivated", "lost"], "stayed")
    return pd.Series(moves, index=pd.Index(new_ids, name="customer_id"), name="move")


def _check_moves(before: pd.DataFrame, after: pd.DataFrame, churn_window: int) -> None:
    for name, frame in (("before", before), ("after", after)):
        missing = {"customer_id", "recency_days", "last_purchase"} - set(frame.columns)
        if missing:
            raise DataError(f"{name} needs the feature columns {sorted(missing)}")
    if churn_window < 1:
        raise DataError(f"churn_window must be at least 1 day, got {churn_window}")


def slipped(before: pd.DataFrame, after: pd.DataFrame, column: str = "segment", valuable=None, at_risk=None,
            map_name: str = "rfm11") -> pd.DataFrame:
    """The customers who were in a valuable class before and are in an at-risk class now: customer_id,
    before, after and any other columns of `after` (revenue, clv ...), the most valuable first (by
    `clv` where present, else `revenue`). `valuable` and `at_risk` are class codes; by default those of
    `WATCHED[map_name]` (Champions, Loyal, Can't Lose Them to At Risk ... for rfm11; 重要价值客户,
    重要保持客户 to the two win-back classes for cn8)."""
    if valuable is None or at_risk is None:
        if map_name not in WATCHED:
            raise DataError(f"state the valuable and at-risk classes of the map {map_name!r} "
                            f"(shipped defaults exist for {', '.join(WATCHED)})")
        valuable, at_risk = WATCHED[map_name]
    old = _classes(before, column, "before")
    joined = after.assign(customer_id=after["customer_id"].astype(str))
    joined.insert(1, "before", _take(old, positions(joined["customer_id"], old.index), joined.index).to_numpy())
    moved = joined[joined["before"].isin(list(valuable)) & joined[column].isin(list(at_risk))]
    moved = moved.rename(columns={column: "after"})
    key = "clv" if "clv" in moved.columns else ("revenue" if "revenue" in moved.columns else None)
    if key is not None:
        moved = moved.sort_values([key, "customer_id"], ascending=[False, True], kind="stable")
    return moved.reset_index(drop=True)


def match_clusters(previous: np.ndarray, current: np.ndarray, max_distance: float | None = None) -> dict[int, int | None]:
    """This month's clusters matched to last month's so that a cluster number keeps its meaning.

    `previous` and `current` are centroids (k_prev x d and k x d) in the same scaled feature space.
    The matching minimises the total Euclidean distance between matched centroids (the assignment
    problem, solved by SciPy's `linear_sum_assignment`: Kuhn 1955, Munkres 1957). Returns, for each
    current cluster index, the previous cluster index it continues, or None when it has no
    counterpart (more clusters than last month, or farther than `max_distance`).
    """
    previous, current = np.atleast_2d(np.asarray(previous, float)), np.atleast_2d(np.asarray(current, float))
    if previous.shape[1] != current.shape[1]:
        raise DataError(f"the centroids have {previous.shape[1]} and {current.shape[1]} features: clusters "
                        "can be matched only on the same features")
    distance = np.linalg.norm(current[:, None, :] - previous[None, :, :], axis=2)
    rows, columns = linear_sum_assignment(distance)
    matched: dict[int, int | None] = {i: None for i in range(len(current))}
    for i, j in zip(rows, columns):
        if max_distance is None or distance[i, j] <= max_distance:
            matched[int(i)] = int(j)
    return matched


def classes_before(month_start, history_file=None, run_name: str | None = None, month_start_features=None,
                   rfm=None, segment_map=None, class_map=None,
                   month_start_classes: pd.DataFrame | None = None) -> tuple[pd.DataFrame | None, str]:
    """Each customer's classes at the end of the month before `month_start` (a date, the first day
    of this run's month): customer_id, segment, rfm_class; and where they came from.

    From the history when it holds that month for `run_name` ("history"); else recomputed from the
    run's `month_start_features` stage (the features as they stood then, computed in the engine by
    01) with the run's standards `rfm`, `segment_map`, `class_map` ("recomputed"), so the migration
    view works on the first run; else (None, "none"). `month_start_classes`: those month starts
    already classified with the same standards (`segkit.monthly.shared.month_start_classes_stage`),
    read instead of classifying the month again.
    """
    from segkit.monthly.activity import month_start_classes as classify
    from segkit.monthly.codes import month_numbers
    from segkit.monthly.history import previous_month_classes

    month = pd.Timestamp(month_start).date().replace(day=1)
    number = month.year * 12 + month.month - 1
    if history_file is not None and run_name is not None:
        found = previous_month_classes(history_file, run_name, month)
        if found is not None:
            return found[["customer_id", "segment", "rfm_class"]].reset_index(drop=True), "history"
    if month_start_classes is not None and len(month_start_classes):
        at_start = month_start_classes[month_numbers(month_start_classes["month"]) == number]
        if len(at_start):
            return _plain_classes(at_start), "recomputed"
    if month_start_features is not None and len(month_start_features) and rfm is not None:
        at_start = month_start_features[month_numbers(month_start_features["month"]) == number]
        if len(at_start):
            frame = classify(at_start, rfm, segment_map, class_map)
            return _plain_classes(frame), "recomputed"
    return None, "none"


def _plain_classes(frame: pd.DataFrame) -> pd.DataFrame:
    """customer_id, segment, rfm_class of one month of month-start classes, the classes as text (the
    stage keeps them as Categoricals of every month's classes)."""
    classes = frame[["customer_id", "segment", "rfm_class"]].reset_index(drop=True)
    return classes.astype({name: classes[name].cat.categories.dtype for name in ("segment", "rfm_class")
                           if isinstance(classes[name].dtype, pd.CategoricalDtype)})
