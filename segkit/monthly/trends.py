"""KPIs over time: one row per month of the figures a manager follows, and the alerts that fired.

The series is computed from the run's own stage files, so it exists on the first run of a month:

- month-level figures from the transactions' monthly activity (`segkit.monthly.activity.monthly_kpis`):
  active customers, revenue, average order value, retention rate, repurchase rate;
- customers (everyone who had bought by the month's end), the revenue share of the top customers and
  the share of each segment at each month's end, from the features as they stood at each month start
  (the `month_start_features` stage) classified with the run's standards, and this run's own classes
  for its last month;
- NPS of each month's survey answers (promoters 9-10 minus detractors 0-6, in points), where the
  source has dated survey answers, with the month's number of answers (`nps_answers`): a month of
  fewer than MIN_NPS_ANSWERS has no NPS to show or compare (`measured_nps`).

Months are calendar months, labelled by their first day; a month's classes are those at its end.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from segkit.errors import ParamsError

# The figures of the series, in the order the report shows them; share_<segment> columns follow.
KPIS = ("customers", "active_customers", "revenue", "avg_order_value", "retention_rate", "repurchase_rate",
        "top_share", "nps")
# Figures that are shares (their change is said in percentage points).
SHARES = {"retention_rate", "repurchase_rate", "top_share"}
# The fewest dated answers of a month whose NPS is shown, compared with last month's and alerted on:
# see `measured_nps` for why 30.
MIN_NPS_ANSWERS = 30


def as_shown(kpi: str, value: float, minor_unit: int = 2) -> float:
    """A KPI's value rounded as the pages write it: shares and rates (SHARES, `share_<segment>`) to a
    tenth of a point ("{:.1%}" rounds the double value * 100), money to the currency's minor unit
    (`minor_unit` decimals: 2 for cents, 0 for yen), NPS to a tenth, counts whole."""
    if kpi in SHARES or kpi.startswith("share_"):
        return round(value * 100, 1) / 100
    return round(value, minor_unit if kpi in ("revenue", "avg_order_value") else 1 if kpi == "nps" else 0)


def _month(value) -> dt.date:
    stamp = pd.Timestamp(value)
    return dt.date(stamp.year, stamp.month, 1)


def kpi_series(activity: pd.DataFrame | None, month_start_classes: pd.DataFrame | None = None,
               month_start_features: pd.DataFrame | None = None, current: pd.DataFrame | None = None,
               as_of: dt.date | None = None, top: float = 0.2, surveys: pd.DataFrame | None = None,
               kpis: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per calendar month (index `month`, the month's first day) with the columns of `KPIS`
    that the inputs allow and `share_<segment>` (share of the customers at the month's end).

    `activity`: customer_id, month, orders, revenue (the run's `activity` stage).
    `month_start_classes`: month, customer_id, segment: each customer's segment at the START of each
    month (`segkit.monthly.activity.month_start_segments`), which is the segment at the END of the
    month before. `month_start_features`: the features at each month start (month, customer_id,
    revenue ...), for the top share of the month before. `current`: customer_id, segment, revenue:
    this run's customers at `as_of` (the last month's end). `top`: the share of customers whose
    revenue share is followed (0.2: the top 20%). `surveys`: customer_id, answered_at (date), nps
    (0-10): the NPS of each month's answers, in points (-100..100), and `nps_answers`, how many
    dated answers it counts (0 in a month of none; `measured_nps` says which months have enough);
    with `current`, only the answers of its customers (an id no purchase has is not the run's customer).
    Shares and rates are fractions
    (0.25 = 25%); revenue in the run's currency. `kpis`: `monthly_kpis(activity)` when the run
    has it already (`segkit.monthly.shared.monthly_kpis_stage`); `activity` may then be None.
    """
    from segkit.classify.value import top_share
    from segkit.monthly.activity import monthly_kpis
    from segkit.monthly.codes import month_groups

    kpis = monthly_kpis(activity) if kpis is None else kpis
    months = kpis.assign(month=lambda f: f["month"].map(_month)).set_index("month")
    if as_of is not None and len(months) and _month(as_of) > months.index.max():
        months = _quiet_months_until(months, _month(as_of))
    series = months[["active_customers", "revenue", "avg_order_value", "retention_rate", "repurchase_rate"]].copy()
    series.insert(0, "customers", months["new_customers"].cumsum().astype(float))
    if as_of is not None:
        series = series[series.index <= _month(as_of)]
    ends: dict[dt.date, pd.DataFrame] = {}  # customers as they stood at each month's end
    if month_start_classes is not None and len(month_start_classes):
        for start, group in month_groups(month_start_classes[["month", "segment"]]):
            ends[_previous(_month(start))] = group
    if current is not None and as_of is not None:
        ends[_month(as_of)] = current[["customer_id", "segment"]]
    shares = {month: frame["segment"].value_counts(normalize=True) for month, frame in ends.items() if len(frame)}
    if shares:
        table = pd.DataFrame(shares).T.fillna(0.0)
        table.columns = [f"share_{code}" for code in table.columns]
        series = series.join(table, how="left")
    tops = {}
    if month_start_features is not None and len(month_start_features):
        for start, group in month_groups(month_start_features[["month", "revenue"]]):
            tops[_previous(_month(start))] = top_share(group["revenue"], top)
    if current is not None and as_of is not None and "revenue" in current.columns:
        tops[_month(as_of)] = top_share(current["revenue"], top)
    if tops:
        series["top_share"] = pd.Series(tops, dtype=float)
    if surveys is not None and {"answered_at", "nps"} <= set(surveys.columns):
        answers = surveys.dropna(subset=["answered_at", "nps"])
        if current is not None and "customer_id" in answers.columns:
            # the run's customers' answers: those of ids no purchase has (01's join report counts them) are
            # not this analysis's customers, whom 02 and 08 say have no answers when none of theirs joins
            from segkit._membership import is_in

            answers = answers[is_in(answers["customer_id"].astype("string"), current["customer_id"].astype("string"))]
        if len(answers):
            month = pd.to_datetime(answers["answered_at"]).dt.to_period("M").dt.start_time.dt.date
            score = answers["nps"].astype(float)
            by_month = (100 * ((score >= 9).astype(float) - (score <= 6).astype(float))).groupby(month.to_numpy())
            series["nps"] = pd.Series(by_month.mean().to_dict(), dtype=float)
            series["nps_answers"] = pd.Series(by_month.size().to_dict(), dtype=float).reindex(series.index).fillna(0.0)
    series.index.name = "month"
    return series


def measured_nps(series: pd.DataFrame) -> pd.Series:
    """The `nps` of `series` (`kpi_series`) where its month has at least MIN_NPS_ANSWERS dated answers
    (`nps_answers`), NaN where it has fewer: an NPS not measured, never shown as a figure, compared
    with another month or alerted on. A series without `nps_answers` (a run's stage written before
    segkit kept the count) as it is.

    Why 30: each answer counts +100 (promoter, 9-10), 0 or -100 (detractor, 0-6), so the NPS of n
    answers has a standard error of 100 * sqrt((p + d - (p - d)^2) / n) points (p, d: the shares of
    promoters and detractors), at most 100 / sqrt(n). Below 30 answers that is over 18 points at
    worst and about 14 for a usual spread (p 0.5, d 0.2): a swing of 20-40 points between two months
    of 2-5 answers is who happened to answer, not a change in the customers. From 30 the normal
    approximation of such a mean is commonly taken to hold, and the error is below 10 points from
    about 100 answers.

    >>> series = pd.DataFrame({"nps": [50.0, -20.0], "nps_answers": [40.0, 3.0]})
    >>> measured_nps(series).tolist()
    [50.0, nan]
    """
    if "nps_answers" not in series.columns:
        return series["nps"]
    return series["nps"].where(series["nps_answers"] >= MIN_NPS_ANSWERS)


def _quiet_months_until(months: pd.DataFrame, last: dt.date) -> pd.DataFrame:
    """`months` (monthly_kpis by month) with a row for each month after its last up to `last`, in which
    nobody bought: no active, new nor retained customer, no orders nor revenue (0, not missing: a shop
    closed for a month reports a month of nothing, not the month before's figures); the average order
    value and the purchase frequency undefined; the retention rate 0 where the month before had
    active customers, the repurchase rate 0 where anyone had bought before."""
    rows = [months]
    previous_active = float(months["active_customers"].iloc[-1])
    known = float(months["new_customers"].sum())
    month = months.index.max()
    while month < last:
        month = (pd.Timestamp(month) + pd.offsets.MonthBegin(1)).date()
        rows.append(pd.DataFrame({"active_customers": [0], "new_customers": [0], "orders": [0], "revenue": [0.0],
                                  "avg_order_value": [np.nan], "purchase_frequency": [np.nan],
                                  "retention_rate": [0.0 if previous_active > 0 else np.nan],
                                  "repurchase_rate": [0.0 if known > 0 else np.nan]},
                                 index=pd.Index([month], name=months.index.name)))
        previous_active = 0.0
    return pd.concat(rows)[list(months.columns)]


def _previous(month: dt.date) -> dt.date:
    return (pd.Timestamp(month) - pd.offsets.MonthBegin(1)).date()


def kpi_changes(series: pd.DataFrame, month: dt.date | None = None) -> pd.DataFrame:
    """This month, last month and the change for each figure of `series` (`kpi_series`): rows kpi,
    this_month, last_month, change (this - last; for shares and rates a difference of fractions,
    i.e. percentage points / 100). `month` defaults to the last month of the series; NaN where a
    month lacks the figure. The NPS of a month of fewer than MIN_NPS_ANSWERS answers is NaN
    (`measured_nps`): no change is computed from it and no alert fires on it; its row stays where a
    month has answers, beside the row `nps_answers` (the months' counts) that the pages show with it."""
    if series.empty:
        return pd.DataFrame(columns=["kpi", "this_month", "last_month", "change"])
    if {"nps", "nps_answers"} <= set(series.columns):
        series = series.assign(nps=measured_nps(series))
    month = _month(month) if month is not None else series.index.max()
    this = series.loc[month] if month in series.index else pd.Series(np.nan, index=series.columns)
    last_month = _previous(month)
    last = series.loc[last_month] if last_month in series.index else pd.Series(np.nan, index=series.columns)
    frame = pd.DataFrame({"kpi": series.columns, "this_month": this.to_numpy(dtype=float),
                          "last_month": last.to_numpy(dtype=float)})
    frame["change"] = frame["this_month"] - frame["last_month"]
    shown = frame[["this_month", "last_month"]].notna().any(axis=1)
    answered = frame.loc[frame["kpi"] == "nps_answers", ["this_month", "last_month"]].fillna(0).to_numpy()
    if (answered > 0).any():  # an NPS of too few answers is still shown, as such (with its count)
        shown |= frame["kpi"] == "nps"
    return frame[shown].reset_index(drop=True)


def check_alerts(rules, changes: pd.DataFrame, shares: dict[str, pd.DataFrame] | None = None,
                 codes: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """Evaluate the params' alert rules (`segkit.params.Alert`) on this month's figures.

    `changes` is `kpi_changes(...)`; `shares` maps "segment" and "rfm_class" to the transition
    matrix's counts (`segkit.monthly.migration.transition_matrix`, before x after); `codes` the known
    class codes per map. Returns one row per rule: rule (its position), kind, kpi, from_classes,
    to_classes, map, value (the measured share, change or level; NaN when it cannot be measured:
    an NPS of too few answers, `kpi_changes`), threshold, direction ("above"/"below"), fired (bool),
    and for a rule on the NPS the answers this month and last month (answers, answers_before: the
    `nps_answers` row of `changes`; NaN otherwise). Raises ParamsError naming the rule when it
    names a figure or class that this run does not have.
    """
    rows = []
    known = set(changes["kpi"]) if len(changes) else set()
    counted = changes[changes["kpi"] == "nps_answers"] if len(changes) else changes
    answers = ((float(counted["this_month"].iloc[0]), float(counted["last_month"].iloc[0])) if len(counted)
               else (float("nan"), float("nan")))
    for number, rule in enumerate(rules, start=1):
        direction, threshold = ("above", rule.above) if rule.above is not None else ("below", rule.below)
        value = float("nan")
        if rule.kind == "moved":
            counts = (shares or {}).get(rule.map)
            valid = set((codes or {}).get(rule.map, []))
            unknown = [c for c in (*rule.from_classes, *rule.to_classes) if valid and c not in valid]
            if unknown:
                raise ParamsError(f"alerts[{number - 1}] names {', '.join(map(repr, unknown))}, not a class of the "
                                  f"{rule.map} map (its codes: {', '.join(sorted(valid))})")
            if counts is not None:
                rows_before = counts.loc[counts.index.isin(rule.from_classes)]
                base = int(rows_before.to_numpy().sum())
                moved = int(rows_before.loc[:, rows_before.columns.isin(rule.to_classes)].to_numpy().sum())
                value = moved / base if base else float("nan")
        else:
            if rule.kpi not in known and rule.kpi not in KPIS and not str(rule.kpi).startswith("share_"):
                raise ParamsError(f"alerts[{number - 1}] names the figure {rule.kpi!r}; known figures: "
                                  f"{', '.join(KPIS)} and share_<segment code>")
            found = changes[changes["kpi"] == rule.kpi]
            if len(found):
                value = float(found["change" if rule.kind == "change" else "this_month"].iloc[0])
        fired = bool(np.isfinite(value) and (value > threshold if direction == "above" else value < threshold))
        on_nps = rule.kind != "moved" and rule.kpi == "nps"
        rows.append({"rule": number, "kind": rule.kind, "kpi": rule.kpi, "from_classes": list(rule.from_classes),
                     "to_classes": list(rule.to_classes), "map": rule.map, "value": value,
                     "threshold": float(threshold), "direction": direction, "fired": fired,
                     "answers": answers[0] if on_nps else float("nan"),
                     "answers_before": answers[1] if on_nps else float("nan")})
    return pd.DataFrame(rows, columns=["rule", "kind", "kpi", "from_classes", "to_classes", "map", "value",
                                       "threshold", "direction", "fired", "answers", "answers_before"])
