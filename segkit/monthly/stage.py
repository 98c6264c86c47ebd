"""The migration stage of a run (notebook 06_migration): who moved where since last month, the
customers who slipped from valuable to at-risk classes, clusters matched to last month's, the KPIs
over time and the alerts that fired. One call computes it from the run's stage files and the
history beside the reports, and saves what the index page and the exports read.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from segkit.errors import DataError
from segkit.monthly.codes import has_duplicates, month_numbers, positions
from segkit.monthly.history import HISTORY_FILE
from segkit.monthly.migration import (WATCHED, _checked_codes, _one_row_each as _ids_once,
                                      class_matrix, customer_moves, largest_moves, match_clusters, moves_at)
from segkit.monthly.trends import check_alerts, kpi_changes, kpi_series


@dataclass
class Migration:
    """What 06_migration shows. `source` says where last month's classes came from: "history" (an
    earlier run), "recomputed" (from the transactions as they stood at the previous month end, with
    this run's standards: the history lacks last month, or classified it with other standards,
    `standards_changed`) or "none" (the data start this month: no migration view, `reason` says so)."""

    month: dt.date                     # this run's month (first day)
    source: str
    reason: str | None = None
    # (key, last month's, this run's) of each standard that differs from the history's last month:
    # then last month is recomputed with this run's standards (source "recomputed")
    standards_changed: list = field(default_factory=list)
    counts: dict[str, pd.DataFrame] = field(default_factory=dict)   # "segment"/"rfm_class" -> before x after
    shares: dict[str, pd.DataFrame] = field(default_factory=dict)   # the same as row shares
    flows: dict[str, pd.DataFrame] = field(default_factory=dict)    # the largest moves: before, after, customers
    moves: pd.Series | None = None     # customers per move: new, returning, reactivated, lost, stayed
    slipped: pd.DataFrame | None = None  # valuable last month, at risk now (`slipped_customers`)
    clusters: pd.DataFrame | None = None  # this month's cluster, last month's it continues (or NaN)
    clusters_reason: str | None = None
    trends: pd.DataFrame | None = None    # kpi_series
    changes: pd.DataFrame | None = None   # kpi_changes
    alerts: pd.DataFrame | None = None    # check_alerts
    # last month's figures as its run wrote them into the history against those counted now
    # (`segkit.monthly.history.restated_figures`): kpi, reported, now; empty when they agree
    restated: pd.DataFrame | None = None
    churn_window: int = 180
    # last month's customers (as last month classified them) who are no customer now: their orders
    # cancelled in full since, or their rows set aside this month; not in the matrix
    gone_since: int = 0
    # (last month's customers, an id of last month's, an id of this month's) when almost none of last
    # month's customers are among this month's (IDS_CHANGED_SHARE): the ids likely changed their form
    # (C00012 -> CU-00012), which makes every customer new and every one of last month's gone
    ids_changed: tuple[int, str, str] | None = None
    # customers in the matrix with a class last month whom the moves count as new (their first
    # purchase, as the data now stand, is this month's: an earlier one was cancelled in full since)
    new_since: int = 0
    # the eight classes' thresholds last month and now ({"r", "f", "m"}), when their basis is the
    # customers' mean or median (they move with the customers): `slipped` then says, in `moved_by`,
    # who slipped only because they moved ("thresholds") and who by what they did ("customer")
    class_thresholds: tuple[dict, dict] | None = None
    segment_map: object = None         # the grid 02 used (its labels name the classes)
    currency: object = None            # the run's currency (params.currency): the page shows money in it
    class_map: object = None           # the eight classes' map


def history_file_for(data_dir: str | Path) -> Path:
    """The history beside the reports a run's `data_dir` belongs to (`<reports>/<run>/data`)."""
    return Path(data_dir).resolve().parent.parent / HISTORY_FILE


def migration_stage(params, data_dir: str | Path, history_file: str | Path | None = None) -> Migration:
    """Compute the migration view of the run whose stage files are in `data_dir`, with the run's
    `params` (`segkit.params.Params`) and the segment map 02 used. Last month's classes come
    from `history_file` (default: the history beside the reports) when it holds them, else they are
    recomputed from the run's `month_start_features` stage (also when the history's month was
    classified with other standards, `segkit.monthly.history.classification_standards`: a change of
    rfm.bins is not a move of customers; `Migration.standards_changed` lists them). Saves the stages `transitions`,
    `customer_moves`, `moved_to_at_risk`, `kpi_trends` and `alerts`, and returns a `Migration`.
    The monthly KPIs and the month-start classes are read from the run's `monthly_kpis` and
    `month_start_classes` stages when 03 made them from the same inputs, else computed and saved
    (`segkit.monthly.shared`).
    """
    from segkit.classify.rfm import load_segment_map
    from segkit.monthly.activity import MONTH_START_READ
    from segkit.monthly.history import (classification_standards, month_standards, previous_month_classes,
                                        restated_figures,
                                        standards_changed)
    from segkit.monthly.shared import month_start_classes_file, monthly_kpis_stage
    from segkit.store import load_run_info, load_stage, save_run_info, save_stage

    info = load_run_info(data_dir)
    segment_map = load_segment_map(info.get("segment_map_used") or params.rfm.segment_map, custom=params.rfm.custom_maps)
    class_map = load_segment_map(params.rfm.class_map, custom=params.rfm.custom_maps, basis=params.rfm.class_basis,
                                 thresholds=params.rfm.class_thresholds)
    as_of = dt.date.fromisoformat(str(info["as_of"]))
    month = as_of.replace(day=1)
    history_file = Path(history_file) if history_file is not None else history_file_for(data_dir)
    # only the columns this stage reads (the profile and the month-start features are wide)
    compared = ["customer_id", *MONTH_START_READ, *(info.get("cluster_features") or [])]
    profile = _read(data_dir, "profile", ["customer_id", "segment", "rfm_class", "revenue", "clv", "p_alive",
                                          "recency_days"])
    features = _read(data_dir, "features", compared)
    # of the month-start features (10M rows at 1M customers): this month's rows, and the revenue of all
    at_starts = _read(data_dir, "month_start_features", ["month", *compared], optional=True, within=month)
    revenue_at_starts = _read(data_dir, "month_start_features", ["month", "revenue"], optional=True,
                              categories=["month"])
    window = params.value.churn_window_days
    # classified once per run (03 may have done it already with the same standards); of its ten
    # million rows only the segments of every month and this month's customers are read
    classes_file = month_start_classes_file(data_dir, params.rfm, segment_map, class_map)
    # last month's assignments in the history (its classes, and its clusters for the matching)
    earlier = (previous_month_classes(history_file, params.run_name, month, ["segment", "rfm_class", "cluster"])
               if params.run_name is not None else None)
    changed = []
    if earlier is not None:  # classes made with other standards are recomputed with this run's
        last_month = (pd.Timestamp(month) - pd.offsets.MonthBegin(1)).date()
        changed = standards_changed(month_standards(history_file, params.run_name, last_month),
                                    classification_standards(params))
    before, source = _classes_before(None if changed else earlier, classes_file, month)
    result = Migration(month=month, source=source, churn_window=window, segment_map=segment_map, class_map=class_map,
                       standards_changed=changed, currency=params.currency)
    value_columns = [c for c in ("revenue", "clv", "p_alive", "recency_days") if c in profile.columns]
    current = profile[["customer_id", "segment", "rfm_class", *value_columns]].copy()
    current["customer_id"] = current["customer_id"].astype(str)
    if before is None:
        result.reason = "no_previous_month"
    else:
        before = before.assign(customer_id=before["customer_id"].astype(str))
        # each customer's row this month, on integer positions from here on (-1: set aside this month, not compared)
        found = positions(before["customer_id"], current["customer_id"])
        kept = found >= 0
        result.gone_since = int((~kept).sum())
        if len(kept) >= IDS_CHANGED_MIN and len(current) >= IDS_CHANGED_MIN and kept.mean() < IDS_CHANGED_SHARE:
            # an id of each side that the other lacks (rare: only then are this month's ids looked up)
            new_ids = positions(current["customer_id"], before["customer_id"]) < 0
            result.ids_changed = (len(kept), str(before["customer_id"].to_numpy()[np.argmin(kept)]),
                                  str(current["customer_id"].to_numpy()[np.argmax(new_ids)]))
        listed = before["customer_id"]  # every customer of last month, set aside or not, in its order
        before, found = before[kept], found[kept]
        # last month may have been scored on another grid (rm6 when F could not yet tell customers apart)
        segment_codes = list(segment_map.codes) + sorted(set(before["segment"].dropna().unique()) - set(segment_map.codes))
        _listed_once(before["customer_id"], found, "before")
        _listed_once(current["customer_id"], None, "after")
        for column, codes in (("segment", segment_codes), ("rfm_class", list(class_map.codes))):
            old_codes, new_codes = _checked_codes(before[column], current[column], codes)
            rows = np.full(len(current), len(codes), dtype="int64")  # the row NEW unless classified last month
            rows[found] = old_codes
            counts, shares = class_matrix(rows, new_codes, codes)
            result.counts[column], result.shares[column] = counts, shares
            result.flows[column] = largest_moves(counts, top=12)
        result.slipped = _slipped_at(before, found, current, segment_map.name, class_map.name)
        if at_starts is not None and len(at_starts):
            previous = _month_rows(at_starts, month)
            if len(previous):
                rows = _rows_before(previous, listed, kept, found, features, current)
                moves = (customer_moves(previous, features, month, churn_window=window) if rows is None
                         else moves_at(previous, features, rows, month, churn_window=window))
                result.moves = moves.value_counts().reindex(["new", "returning", "reactivated", "lost", "stayed"],
                                                            fill_value=0)
                classified = np.zeros(len(current), dtype=bool)
                classified[found] = True  # in the matrix with last month's class
                is_new = (moves.reindex(current["customer_id"].to_numpy()) == "new").to_numpy()
                result.new_since = int((is_new & classified).sum())
                save_stage(data_dir, customer_moves=moves.rename_axis("customer_id").reset_index())
                if result.slipped is not None and len(result.slipped):
                    result.slipped, result.class_thresholds = moved_by_thresholds(
                        result.slipped, previous, features, class_map, segment_map.name)
        result.clusters, result.clusters_reason = _matched_clusters(
            data_dir, features, at_starts, earlier, month, info.get("cluster_features"))
    kpis = monthly_kpis_stage(data_dir)  # computed once per run (03 may have done it already)
    if kpis is not None:
        at_start_segments = (load_stage(data_dir, "month_start_classes", columns=["month", "segment"],
                                        categories=["month"]) if classes_file is not None else None)
        result.trends = kpi_series(None, at_start_segments, revenue_at_starts, current, as_of, top=params.case_study.top_share,
                                   surveys=load_stage(data_dir, "surveys", optional=True), kpis=kpis)
        result.changes = kpi_changes(result.trends, month)
        if params.run_name is not None:
            # last month's class shares only when its classes were made with this run's standards
            result.restated = restated_figures(history_file, params.run_name, month, result.changes,
                                               top=params.case_study.top_share, shares=not changed)
        codes = {"segment": list(segment_map.codes), "rfm_class": list(class_map.codes)}
        result.alerts = check_alerts(_rules(params, codes), result.changes, result.counts, codes)
    # the index's sentence over last month counted again names these, not late rows alone
    save_run_info(data_dir, standards_changed=[name for name, _, _ in changed])
    save_stage(data_dir,
               transitions=_long(result.counts),
               moved_to_at_risk=result.slipped,
               kpi_trends=result.trends.reset_index() if result.trends is not None else None,
               kpi_restated=result.restated,
               alerts=result.alerts.assign(from_classes=lambda f: f["from_classes"].map("+".join),
                                           to_classes=lambda f: f["to_classes"].map("+".join))
               if result.alerts is not None else None)
    return result


# Fewer than this share of last month's customers among this month's, both months of at least
# IDS_CHANGED_MIN customers: said as ids that likely changed their form, not as customers gone
# (a shop keeps most of its customers from one month to the next: every customer who bought before
# is a customer still, bought this month or not).
IDS_CHANGED_SHARE, IDS_CHANGED_MIN = 0.1, 20


def _classes_before(earlier: pd.DataFrame | None, classes_file: Path | None,
                    month: dt.date) -> tuple[pd.DataFrame | None, str]:
    """Last month's classes (customer_id, segment, rfm_class) and where they came from, as
    `segkit.monthly.migration.classes_before` finds them: the history's assignments `earlier`
    ("history"), else the rows of this month's start in the month-start classes file, read alone
    ("recomputed"), else (None, "none")."""
    if earlier is not None:
        return earlier[["customer_id", "segment", "rfm_class"]].reset_index(drop=True), "history"
    if classes_file is not None:
        after = (month + dt.timedelta(days=31)).replace(day=1)
        at_start = pd.read_parquet(classes_file, columns=["customer_id", "segment", "rfm_class"],
                                   filters=[("month", ">=", month), ("month", "<", after)])
        if len(at_start):  # the classes stay Categoricals: they are compared as codes (`class_codes`)
            return at_start, "recomputed"
    return None, "none"


def _rows_before(previous: pd.DataFrame, listed: pd.Series, kept: np.ndarray, found: np.ndarray,
                 features: pd.DataFrame, current: pd.DataFrame) -> np.ndarray | None:
    """The row of `previous` (this month's month-start features) of each customer of `features`
    (-1: none), known without hashing the ids when `previous` lists last month's customers `listed`
    in their order (the month-start classes are made from those rows) and `features` this month's
    `current` customers in theirs: the inverse of `found`, each kept customer's row this month.
    None when the ids are not so aligned, or a customer set aside this month is listed twice (then
    `customer_moves` finds the rows, and names that customer)."""
    if not (_aligned(previous["customer_id"].astype(str), listed)
            and _aligned(features["customer_id"].astype(str), current["customer_id"])):
        return None
    if has_duplicates(listed[~kept]):
        return None
    rows = np.full(len(current), -1, dtype="int64")
    rows[found] = np.flatnonzero(kept)
    return rows


def _listed_once(ids: pd.Series, found: np.ndarray | None, name: str) -> None:
    """DataError naming the first customer listed twice in `ids` (text), as `transition_matrix`
    says it. With `found` (each id's position among this month's customers, all >= 0), counted on
    those integers instead of hashing the ids again."""
    if found is not None:
        if len(found) and np.bincount(found).max() > 1:
            raise DataError(f"{name} has customer {ids[ids.duplicated()].iloc[0]!r} twice: one row per customer")
        return
    _ids_once(ids, name)


def _read(data_dir: str | Path, name: str, columns: list[str], optional: bool = False,
          categories: list[str] | None = None, within: dt.date | None = None) -> pd.DataFrame | None:
    """The stage `name` with those of `columns` it has (in the file's order; `categories` of them as
    Categoricals), only the rows of the calendar month of `within` when given (its month column
    read as dates, filtered in the file); a missing file as `segkit.store.load_stage` says it (None
    when `optional`, else DataError)."""
    import pyarrow.parquet as pq

    from segkit.store import load_stage, stage_path

    path = stage_path(data_dir, name)
    if not path.is_file():
        return load_stage(data_dir, name, optional=optional)
    wanted = set(columns)
    columns = [c for c in pq.read_schema(path).names if c in wanted]
    if within is None:
        return load_stage(data_dir, name, columns=columns, categories=categories)
    first = within.replace(day=1)
    after = (first + dt.timedelta(days=31)).replace(day=1)
    return pd.read_parquet(path, columns=columns, filters=[("month", ">=", first), ("month", "<", after)])


def _month_rows(frame: pd.DataFrame, month: dt.date) -> pd.DataFrame:
    """The rows of `frame` (a month column of dates) in the calendar month of `month`."""
    return frame[month_numbers(frame["month"]) == month.year * 12 + month.month - 1]


def _rules(params, codes: dict[str, list[str]]) -> tuple:
    """The params' alert rules; segkit's default rules (no `alerts` key in the params) only where the
    run's maps have the classes they name (a custom map, or the recency x spend grid, has no Champions)."""
    if "alerts" in params.model_fields_set:
        return params.alerts
    return tuple(rule for rule in params.alerts
                 if rule.kind != "moved" or set(rule.from_classes) | set(rule.to_classes) <= set(codes[rule.map]))


def slipped_customers(before: pd.DataFrame, current: pd.DataFrame, segment_map: str = "rfm11",
                      class_map: str = "cn8") -> pd.DataFrame:
    """The customers who slipped this month from a valuable to an at-risk class, in the segments
    (Champions, Loyal, Can't Lose Them -> At Risk, About to Sleep, Hibernating, Lost) or in the eight
    classes (重要价值客户, 重要保持客户 -> 重要挽留客户, 一般挽留客户): customer_id, before, after (segments),
    class_before, class_after (eight classes), then the value columns of `current` (revenue, clv,
    p_alive, recency_days), the most valuable first. `before` and `current` have customer_id,
    segment and rfm_class, one row per customer each (DataError naming a customer listed twice);
    customers of `before` not in `current` (set aside this month) are not compared. Maps without
    shipped watch lists (custom maps) contribute nothing."""
    earlier_ids, current_ids = before["customer_id"].astype(str), current["customer_id"].astype(str)
    _ids_once(earlier_ids, "before")
    _ids_once(current_ids, "current")
    return _slipped_at(before, positions(earlier_ids, current_ids), current, segment_map, class_map)


def _slipped_at(before: pd.DataFrame, found: np.ndarray, current: pd.DataFrame, segment_map: str,
                class_map: str) -> pd.DataFrame:
    """`slipped_customers` with `found`: the row in `current` of each customer of `before` (-1:
    not there), both with one row per customer; classes compared as flags on those rows."""
    here = found >= 0
    rows, places = found[here], np.flatnonzero(here)
    moved_rows = np.zeros(len(current), dtype=bool)
    for column, name in (("segment", segment_map), ("rfm_class", class_map)):
        if name in WATCHED:
            valuable, at_risk = WATCHED[name]
            was = np.zeros(len(current), dtype=bool)
            was[rows] = before[column].isin(list(valuable)).to_numpy(dtype=bool)[here]
            moved_rows |= was & current[column].isin(list(at_risk)).to_numpy(dtype=bool)
    moved = current[moved_rows].copy()
    earlier = before.reset_index(drop=True)
    row_before = np.full(len(current), -1, dtype="int64")  # each current customer's row last month (-1: none)
    row_before[rows] = places
    found = row_before[moved_rows]
    moved.insert(1, "before", earlier["segment"].reindex(found).to_numpy())
    moved.insert(2, "after", moved.pop("segment"))
    moved.insert(3, "class_before", earlier["rfm_class"].reindex(found).to_numpy())
    moved.insert(4, "class_after", moved.pop("rfm_class"))
    key = "clv" if "clv" in moved.columns else ("revenue" if "revenue" in moved.columns else None)
    if key is not None:
        moved = moved.sort_values([key, "customer_id"], ascending=[False, True], kind="stable")
    return moved.reset_index(drop=True)


def moved_by_thresholds(slipped: pd.DataFrame, previous: pd.DataFrame, features: pd.DataFrame, class_map,
                        segment_map: str) -> tuple[pd.DataFrame, tuple[dict, dict] | None]:
    """`slipped` (`_slipped_at`) with column moved_by: "thresholds" for a customer whose eight class
    slipped only because the classes' thresholds moved (their basis, the customers' mean or median
    of recency, orders and revenue, is last month's population in `previous`, the month-start
    features, and this month's in `features`): this month's features against last month's
    thresholds give the class they had, and their RFM segment did not slip; else "customer". Also
    the thresholds (last month's, this month's: keys r, f, m). Unchanged (no column, None) when the
    class map has business thresholds, or is not a high/low map."""
    from dataclasses import replace

    from segkit.classify.rfm import RFM_FEATURES, assign_high_low_classes, high_low_thresholds

    if getattr(class_map, "kind", None) != "high_low" or class_map.basis not in ("mean", "median"):
        return slipped, None
    columns = list(RFM_FEATURES.values())
    if not set(columns) <= set(previous.columns) or not set(columns) <= set(features.columns):
        return slipped, None
    before, now = high_low_thresholds(previous, class_map), high_low_thresholds(features, class_map)
    fixed = replace(class_map, basis="threshold", thresholds={col: before[dim] for dim, col in RFM_FEATURES.items()})
    ids = features["customer_id"].astype(str)
    rows = features.iloc[pd.Index(ids).get_indexer(slipped["customer_id"].astype(str))]
    then_class, _ = assign_high_low_classes(rows[columns].reset_index(drop=True), fixed)
    same_class = then_class.to_numpy() == slipped["class_before"].astype(str).to_numpy()
    segment_slipped = np.zeros(len(slipped), dtype=bool)
    if segment_map in WATCHED:
        valuable, at_risk = WATCHED[segment_map]
        segment_slipped = (slipped["before"].isin(list(valuable)) & slipped["after"].isin(list(at_risk))).to_numpy()
    moved = slipped.assign(moved_by=np.where(same_class & ~segment_slipped, "thresholds", "customer"))
    return moved, (before, now)


def _long(counts: dict[str, pd.DataFrame]) -> pd.DataFrame | None:
    if not counts:
        return None
    parts = [matrix.astype("int64").stack().rename("customers").reset_index().assign(map=name)
             for name, matrix in counts.items()]
    frame = pd.concat(parts, ignore_index=True)
    frame["before"], frame["after"] = frame["before"].astype(str), frame["after"].astype(str)
    return frame[["map", "before", "after", "customers"]]


def _matched_clusters(data_dir: str | Path, features: pd.DataFrame, at_starts: pd.DataFrame | None,
                      earlier: pd.DataFrame | None, month: dt.date, columns) -> tuple[pd.DataFrame | None, str | None]:
    """This month's clusters (the run's `clusters` stage) with the cluster of last month each
    continues (`match_clusters` on the centroids of both months in this month's scaled feature
    space; last month's clusters from the history's assignments `earlier`), or (None, reason)."""
    import pyarrow.parquet as pq

    from segkit.store import load_stage, stage_path

    path = stage_path(data_dir, "clusters")
    if not path.is_file() or "cluster" not in pq.read_schema(path).names:
        return None, "no_clusters"
    if earlier is None or "cluster" not in earlier.columns or earlier["cluster"].isna().all():
        return None, "no_earlier_clusters"
    if at_starts is None:
        return None, "no_earlier_clusters"
    previous = _month_rows(at_starts, month)
    from segkit.monthly.activity import month_start_columns

    columns = [c for c in (columns or ["recency_days", "orders", "revenue"]) if c in features.columns]
    if any(c not in previous.columns for c in month_start_columns(columns)):
        # 01 wrote the month-start columns of other clustering features (cluster.features changed and
        # 04 was rerun alone): matching on fewer columns would place the clusters elsewhere
        return None, "month_start_lacks_features"
    # a customer table's extra columns (age, income) have no month-start value: matched without them
    columns = [c for c in columns if c in previous.columns]
    if not columns:
        return None, "no_earlier_clusters"
    clusters = load_stage(data_dir, "clusters", columns=[c for c in ("customer_id", "cluster", "cluster_name")
                                                         if c in pq.read_schema(path).names])
    now = _joined(features, clusters[["customer_id", "cluster"]])
    then = _joined(previous, earlier[["customer_id", "cluster"]].dropna())
    if then.empty:
        return None, "no_earlier_clusters"

    def space(frame: pd.DataFrame) -> np.ndarray:
        values = frame[columns].astype(float)
        return np.log1p(values.clip(lower=0)).fillna(0.0).to_numpy()

    reference = space(now)
    centre, scale = reference.mean(axis=0), reference.std(axis=0)
    scale[scale == 0] = 1.0
    current_ids = sorted(now["cluster"].unique())
    previous_ids = sorted(then["cluster"].astype(int).unique())
    current_centroids = np.vstack([((space(now[now["cluster"] == c]) - centre) / scale).mean(axis=0)
                                   for c in current_ids])
    previous_centroids = np.vstack([((space(then[then["cluster"].astype(int) == c]) - centre) / scale).mean(axis=0)
                                    for c in previous_ids])
    matched = match_clusters(previous_centroids, current_centroids)
    names = clusters.drop_duplicates("cluster").set_index("cluster").get("cluster_name")
    rows = []
    for i, cluster in enumerate(current_ids):
        j = matched[i]
        rows.append({"cluster": int(cluster),
                     "cluster_name": names.get(cluster) if names is not None else None,
                     "customers": int((now["cluster"] == cluster).sum()),
                     "previous_cluster": previous_ids[j] if j is not None else np.nan,
                     "distance": float(np.linalg.norm(current_centroids[i] - previous_centroids[j]))
                     if j is not None else np.nan})
    return pd.DataFrame(rows), None


def _joined(frame: pd.DataFrame, clusters: pd.DataFrame) -> pd.DataFrame:
    """`frame` inner-joined with `clusters` (customer_id, cluster) on the customer ids as text:
    what `merge(on="customer_id")` gives (the rows of `frame` in their order, a fresh index), looked
    up by position when the ids of `clusters` are distinct instead of hashing both sides."""
    left = frame.assign(customer_id=frame["customer_id"].astype(str))
    right = clusters.assign(customer_id=clusters["customer_id"].astype(str))
    if (has_duplicates(right["customer_id"]) or right["customer_id"].isna().any()
            or left["customer_id"].isna().any()):  # pandas' merge pairs missing ids: leave those to it
        return left.merge(right, on="customer_id")
    if _aligned(left["customer_id"], right["customer_id"]):  # the same customers in the same order (features, clusters)
        found = np.arange(len(left), dtype="int64")
    else:
        found = positions(left["customer_id"], right["customer_id"])
    here = found >= 0
    joined = left[here].reset_index(drop=True)
    joined["cluster"] = right["cluster"].iloc[found[here]].reset_index(drop=True)
    return joined


def _aligned(ids: pd.Series, among: pd.Series) -> bool:
    """Whether two columns of customer ids (text) hold the same ids row for row, compared in Arrow
    (no hashing): then each row's position among the other's is its own."""
    import pyarrow as pa

    if len(ids) != len(among):
        return False
    from segkit.monthly.codes import _arrow_ids

    left, right = _arrow_ids(ids), _arrow_ids(among)
    left = left.combine_chunks() if isinstance(left, pa.ChunkedArray) else left
    right = right.combine_chunks() if isinstance(right, pa.ChunkedArray) else right
    return left.equals(right)
