"""Tables and figures that summarise a run: before/after cleaning, segment summaries, the case
study's findings and the headline KPIs of the index page. All numbers come from the stage outputs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from segkit.i18n import column_in_text, column_label, columns_in_text, format_conditions, messages, rule_name, t
from segkit.classify.rfm import RFM_FEATURES, load_segment_map, map_for_codes, strategies
from segkit.store import join_stages, load_run_info, load_stage, same_customers
from segkit.classify.value import top_share
from segkit.report.masking import mask_id, masked_frame

# The case-study groups of the eleven-segment grid; a map may name its own with `group` (rm6 does).
VALUABLE = ("champions", "loyal")
AT_RISK = ("at_risk", "cant_lose")
GONE = ("lost", "hibernating")
GROUPS = {"valuable": VALUABLE, "at_risk": AT_RISK, "gone": GONE}
GROUP_MESSAGES = {"valuable": "case.valuable", "at_risk": "case.at_risk", "gone": "case.lost"}


class NotMeasured:
    """A headline figure this run could not measure (e.g. the silhouette when clustering was skipped):
    it shows as "—" whatever the format asks, never as "nan" or "None"."""

    def __format__(self, spec: str) -> str:
        return "—"

    def __str__(self) -> str:
        return "—"

    def __repr__(self) -> str:
        return "NotMeasured()"

    def __eq__(self, other) -> bool:
        return isinstance(other, NotMeasured)

    __hash__ = object.__hash__


def describe_transactions(transactions) -> dict:
    """Rows, customers, orders, revenue and date range of transactions: a DataFrame, or an Ibis
    table (then computed in its engine, e.g. in PostgreSQL, and only the figures come back)."""
    import ibis

    if isinstance(transactions, ibis.Table):
        t = transactions
        row = t.aggregate(rows=t.count(), customers=t.customer_id.nunique(), orders=t.order_id.nunique(),
                          revenue=t.amount.sum(), first=t.ordered_at.min(), last=t.ordered_at.max()).to_pandas().iloc[0]
        first, last = row["first"], row["last"]
        return {
            "rows": int(row["rows"]),
            "customers": int(row["customers"]),
            "orders": int(row["orders"]),
            "revenue": float(row["revenue"]) if pd.notna(row["revenue"]) else 0.0,
            "first": pd.Timestamp(first).date().isoformat() if pd.notna(first) else "—",
            "last": pd.Timestamp(last).date().isoformat() if pd.notna(last) else "—",
        }
    dates = pd.to_datetime(transactions["ordered_at"], errors="coerce").dropna()
    amounts = pd.to_numeric(transactions["amount"], errors="coerce")
    return {
        "rows": len(transactions),
        "customers": int(transactions["customer_id"].nunique()),
        "orders": int(transactions["order_id"].nunique()) if "order_id" in transactions.columns else 0,
        "revenue": float(amounts.sum()),
        "first": dates.min().date().isoformat() if len(dates) else "—",
        "last": dates.max().date().isoformat() if len(dates) else "—",
    }


def input_sentence(result, before: dict | None = None) -> tuple[str, dict]:
    """01's opening sentence on the data as read, as (catalogue key, values) for `say`: of a
    `segkit.intake.cleaning.CleanResult`, the figures of every row read (`describe_transactions` of
    `result.input`; `before`: those figures, when read already), or, when rows were set aside as the
    export's own total lines (合计, Total), those of every other row, with `totals` how many were left
    out: a total line sums the others, so counted it would double the revenue and count its label as
    a customer (trial 45: ¥17,198,978.64 said for ¥8.6M of orders)."""
    if not result.total_lines:
        return "cleaning.intro", before if before is not None else describe_transactions(result.input)
    return "cleaning.intro_without_totals", {**describe_transactions(result.input_without_total_lines),
                                             "totals": result.total_lines}


def customers_without_rows_sentences(result) -> list[tuple[str, dict]]:
    """01's sentence on the customers of the input with no row used (of a `CleanResult` that
    `clean_and_save` returned), as [(catalogue key, values)] for `say_each`; [] when there are none.
    Those whose rows are all dated after the as-of date bought only after it (in a later month of a
    monthly run) and are said apart from those whose every row was set aside for what it holds."""
    n = result.customers_without_rows or 0
    later = result.customers_only_later or 0
    if not n:
        return []
    if not later:
        return [("cleaning.customers_without_rows", {"n": n})]
    as_of = result.as_of.isoformat()
    if later == n:
        return [("cleaning.customers_only_later", {"n": n, "as_of": as_of})]
    return [("cleaning.customers_without_rows_later", {"n": n, "later": later, "other": n - later, "as_of": as_of})]


def before_after(raw, clean, lang: str = "en") -> pd.DataFrame:
    """One row each for the input and the clean transactions: DataFrames or Ibis tables, or the
    figures `describe_transactions` already gave for one of them (not read again). The first row's
    label says it counts every row read, the ones cleaning set aside included (a file's own "Total"
    line doubles its revenue), and how many those are; the second's that it is the rows kept."""
    before, after = (frame if isinstance(frame, dict) else describe_transactions(frame) for frame in (raw, clean))
    aside = before["rows"] - after["rows"]
    label = (t("stage.before", lang, rows=before["rows"], aside=aside) if aside
             else t("stage.before_none_aside", lang, rows=before["rows"]))
    rows = [{"stage": label, **before}, {"stage": t("stage.after", lang), **after}]
    return pd.DataFrame(rows).rename(columns={"first": "first_date", "last": "last_date"})


def ledger_table(ledger: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The cleaning ledger with its outcomes and rules in words (a row fixed several ways names
    each fix), and a total row."""
    shown = ledger.assign(outcome=[t(f"ledger.{o}", lang) for o in ledger["outcome"]],
                          rule=[" + ".join(rule_name(part, lang) for part in r.split("+")) if r else rule_name(r, lang)
                                for r in ledger["rule"]])
    total = pd.DataFrame([{"outcome": "Σ", "rule": "", "rows": int(ledger["rows"].sum()),
                           "share": float(ledger["share"].sum())}])
    return pd.concat([shown, total], ignore_index=True)


def metric_table(metrics: dict[str, float], lang: str) -> pd.DataFrame:
    return pd.DataFrame({"metric": [t(f"metric.{k}", lang) for k in metrics], "value": list(metrics.values())})


def rules_table(explanation, lang: str, currency=None) -> pd.DataFrame:
    """The tree's rules as IF / THEN rows, largest leaves first (money thresholds in `currency`)."""
    return pd.DataFrame([{"if": format_conditions(r.conditions, lang, currency), "then": r.target,
                          "customers": r.customers, "purity": r.purity} for r in explanation.rules])


def crosstab_clusters_segments(clusters: pd.DataFrame, segments: pd.DataFrame, map_name: str,
                               lang: str) -> pd.DataFrame:
    """Customers per cluster (rows) and segment (columns, in the map's order)."""
    segment_map = map_for_codes(map_name, segments["segment"])
    merged = join_stages(clusters, segments, ["segment"])
    table = pd.crosstab(merged["cluster_name"], merged["segment"]).reindex(columns=segment_map.codes, fill_value=0)
    table.columns = [segment_map.label(c, lang) for c in table.columns]
    return table.reset_index().rename(columns={"cluster_name": "cluster"})


def nps(answers: pd.Series) -> float:
    """Net Promoter Score in points: % promoters (9-10) minus % detractors (0-6) among the answers.

    >>> nps(pd.Series([10, 9, 8, 7, 3, None]))
    20.0
    """
    answered = answers.dropna()
    if answered.empty:
        return float("nan")
    return float(100 * ((answered >= 9).mean() - (answered <= 6).mean()))


def nps_overall(profile: pd.DataFrame) -> dict:
    """Answers, share of customers who answered, NPS and the promoter/passive/detractor shares."""
    answers = profile["nps"].dropna()
    return {"customers": len(profile), "answered": len(answers), "answered_share": len(answers) / len(profile),
            "nps": nps(answers), "promoters": float((answers >= 9).mean()) if len(answers) else float("nan"),
            "passives": float(answers.between(7, 8).mean()) if len(answers) else float("nan"),
            "detractors": float((answers <= 6).mean()) if len(answers) else float("nan")}


def nps_by_segment(profile: pd.DataFrame, column: str, segment_map, lang: str) -> pd.DataFrame:
    """Per segment: customers, how many answered, mean score and NPS. Customers without an answer
    are counted apart, never as unhappy."""
    segment_map = map_for_codes(segment_map, profile[column])
    rows = []
    for code in segment_map.codes:
        part = profile[profile[column] == code]
        answered = part["nps"].dropna()
        rows.append({"segment": segment_map.label(code, lang), "customers": len(part), "answered": len(answered),
                     "score": part["score"].mean() if len(answered) and "score" in part else float("nan"),
                     "nps": nps(answered)})
    return pd.DataFrame(rows)


def breadth_table(features: pd.DataFrame) -> pd.DataFrame:
    """Customers by number of product categories bought (1, 2, 3, 4, 5+), with revenue share."""
    bands = features["categories"].clip(upper=5).astype(int).astype(str).replace({"5": "5+"})
    grouped = features.assign(categories=bands).groupby("categories")
    table = pd.DataFrame({"customers": grouped.size(), "revenue": grouped["revenue"].sum()})
    table["customer_share"] = table["customers"] / table["customers"].sum()
    table["revenue_share"] = table["revenue"] / table["revenue"].sum()
    return table.reset_index()


def segment_summary(features: pd.DataFrame, codes: pd.Series, segment_map, lang: str,
                    overrides: dict | None = None) -> pd.DataFrame:
    """Per segment (in the map's order): customers, orders, revenue, their shares, average order
    value, median recency/orders/revenue, NPS (where `features` has survey answers) and the
    suggested action (`overrides`: code -> object or dict with en/zh texts replacing the default).
    When the codes come from the fallback grid (rm6), its segments are listed instead of the map's."""
    segment_map = map_for_codes(segment_map, codes)
    frame = features.assign(code=codes.to_numpy())
    grouped = frame.groupby("code")
    table = pd.DataFrame({
        "customers": grouped.size(),
        "orders": grouped["orders"].sum(),
        "revenue": grouped["revenue"].sum(),
        "recency_days": grouped["recency_days"].median(),
        "median_orders": grouped["orders"].median(),
        "median_revenue": grouped["revenue"].median(),
    }).reindex(segment_map.codes)
    table[["customers", "orders", "revenue"]] = table[["customers", "orders", "revenue"]].fillna(0)
    table["customer_share"] = table["customers"] / table["customers"].sum()
    table["revenue_share"] = table["revenue"] / table["revenue"].sum()
    table["avg_order_value"] = table["revenue"] / table["orders"].where(table["orders"] > 0)
    if "nps" in frame.columns:
        table["nps"] = [nps(frame.loc[frame["code"] == c, "nps"]) for c in table.index]
    table["segment"] = [segment_map.label(c, lang) for c in table.index]
    table["strategy"] = [strategy_text(c, lang, overrides) for c in table.index]
    table["customers"] = table["customers"].astype(int)
    table["orders"] = table["orders"].astype(int)
    columns = ["code", "segment", "customers", "customer_share", "orders", "revenue", "revenue_share",
               "avg_order_value", "recency_days", "median_orders", "median_revenue"]
    return table.reset_index(names="code")[columns + (["nps"] if "nps" in table.columns else []) + ["strategy"]]


def strategy_text(code: str, lang: str, overrides: dict | None = None) -> str:
    """The action for a segment: the params' override where one is given (in `lang`, else in the other
    language: the team's own action, in the words it wrote, not a default that says something else),
    else the default."""
    override = (overrides or {}).get(code)
    texts = override if isinstance(override, dict) else {} if override is None else \
        {name: getattr(override, name, None) for name in ("en", "zh")}
    text = texts.get(lang) or next((texts[other] for other in ("en", "zh") if texts.get(other)), None)
    return text or strategies().get(code, {}).get(lang, "—")


def case_findings(features: pd.DataFrame, segments: pd.DataFrame, clusters: pd.DataFrame | None = None,
                  top: float = 0.2, segment_map="rfm11") -> dict:
    """The numbers the case study's conclusions are written from.

    The groups (valuable, at_risk, gone) are the map's own (`group` in its YAML) when it names them,
    else Champions/Loyal, At Risk/Can't Lose Them and Lost/Hibernating; when the segments were made
    with the fallback grid rm6 (F could not discriminate), its groups are used and `segment_map`
    says so. `clusters` None (clustering skipped) leaves out the best cluster."""
    merged = join_stages(features, segments, ["segment"])
    used_map = map_for_codes(segment_map, merged["segment"])
    groups = {name: used_map.group(name) or codes for name, codes in GROUPS.items()}
    total_customers = len(merged)
    total_revenue = float(merged["revenue"].sum())

    def group(codes) -> dict:
        part = merged[merged["segment"].isin(codes)]
        return {"n": len(part), "customer_share": len(part) / total_customers,
                "revenue": float(part["revenue"].sum()), "revenue_share": float(part["revenue"].sum()) / total_revenue}

    findings = {
        "customers": total_customers,
        "revenue": total_revenue,
        "top": top,
        "n_top": max(1, int(round(total_customers * top))),
        "top_share": top_share(merged["revenue"], top),
        "segment_map": used_map.name,
        "valuable": group(groups["valuable"]),
        "at_risk": group(groups["at_risk"]),
        "gone": group(groups["gone"]),
    }
    if clusters is not None:
        best = clusters[clusters["cluster"] == 0]
        if same_customers(features["customer_id"], clusters["customer_id"]):  # 1M ids: no index built
            revenue = features.loc[(clusters["cluster"] == 0).to_numpy(), "revenue"]
        else:
            revenue = features.set_index("customer_id").loc[best["customer_id"], "revenue"]
        findings["best_cluster"] = {
            "cluster_name": best["cluster_name"].iloc[0] if len(best) else "",
            "customer_share": len(best) / total_customers,
            "revenue_share": float(revenue.sum()) / total_revenue,
        }
    return findings


def migration_intro(migration, lang: str) -> list[tuple[str, dict]]:
    """The sentence that opens 06_migration: this month, and where last month's classes came from."""
    month = migration.month.strftime("%Y-%m")
    key = {"history": "migration.from_history", "recomputed": "migration.recomputed"}.get(migration.source,
                                                                                          "migration.none")
    values = {"month": month}
    if migration.source == "history":
        values["path"] = "history.duckdb"
    if migration.standards_changed:
        changes = "; ".join(f"{name}: {_standard(before)} → {_standard(now)}"
                            for name, before, now in migration.standards_changed[:4])
        more = len(migration.standards_changed) - 4
        return [("migration.standards_changed", {"month": month, "changes": changes + ("; …" if more > 0 else ""),
                                                 "path": "history.duckdb"})]
    return [(key, values)]


def _standard(value) -> str:
    """A params value of `classification_standards` as a short text (JSON, cut at 40 characters)."""
    import json

    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 40 else text[:39] + "…"


def matrix_notes(migration, mask_ids: bool = False) -> list[tuple[str, dict]]:
    """Why the matrix (last month's classes as last month's run made them) and the moves (the data
    as they stand now) may count customers differently: last month's customers who are none now,
    and customers the moves count as new whom last month classified. (key, values) pairs for
    `segkit.report.html.say_each`; none when they agree. `mask_ids` (the params' `report.mask_ids`): the
    example ids masked (`segkit.report.masking`)."""
    notes = []
    if migration.counts and getattr(migration, "ids_changed", None):
        listed, then, now = migration.ids_changed
        if mask_ids:
            then, now = mask_id(then), mask_id(now)
        notes.append(("migration.ids_changed", {"kept": listed - migration.gone_since, "before": listed,
                                                "then": then, "now": now}))
    elif migration.counts and migration.gone_since:
        notes.append(("migration.gone_since", {"customers": migration.gone_since}))
    if migration.counts and migration.new_since:
        notes.append(("migration.new_since", {"customers": migration.new_since}))
    return notes


def slipped_sentences(migration) -> list[tuple[str, dict]]:
    """The sentence over the valuable customers who slipped to an at-risk class, with the order of
    their list (by predicted CLV where the run has it, else by revenue: `segkit.monthly.migration`
    sorts them so); [] without last month's classes. For `segkit.report.html.say_each`."""
    slipped = migration.slipped
    if slipped is None:
        return []
    if not len(slipped):
        return [("migration.none_slipped", {})]
    key = "migration.slipped" if "clv" in slipped.columns else "migration.slipped_by_revenue"
    return [(key, {"count": len(slipped)})]


def slipped_notes(migration, lang: str) -> list[tuple[str, dict]]:
    """The sentence on the slipped customers who slipped only because the eight classes' thresholds
    moved with the customers (`segkit.monthly.stage.moved_by_thresholds`), with the thresholds that
    moved (last month's -> this month's: days and orders to 2 decimals, revenue in the run's currency,
    `migration.currency`, as every amount on the page); [] when none did. For `segkit.report.html.say_each`."""
    slipped = migration.slipped
    if slipped is None or "moved_by" not in slipped.columns or migration.class_thresholds is None:
        return []
    count = int((slipped["moved_by"] == "thresholds").sum())
    if not count:
        return []
    before, now = migration.class_thresholds
    from segkit.report import numbers

    currency = getattr(migration, "currency", None)

    def shown(dim: str, value: float) -> str:
        return numbers.money(value, lang, currency) if dim == "m" else numbers.decimal_number(value, lang, 2)

    changes = [f"{t(f'col.{column}', lang)} {shown(dim, before[dim])} → {shown(dim, now[dim])}"
               for dim, column in (("r", "recency_days"), ("f", "orders"), ("m", "revenue"))
               if shown(dim, before[dim]) != shown(dim, now[dim])]
    return [("migration.slipped_by_thresholds", {"count": count, "changes": t("presets.list_separator", lang).join(changes)})]


def moves_table(migration, lang: str) -> pd.DataFrame | None:
    """Customers per move of the month (new, returning, reactivated, lost, stayed) and their share."""
    if migration.moves is None:
        return None
    moves = migration.moves
    return pd.DataFrame({"move": [t(f"move.{code}", lang) for code in moves.index],
                         "customers": moves.to_numpy().astype("int64"),
                         "customer_share": moves.to_numpy() / max(int(moves.sum()), 1)})


def class_labels(migration_map, lang: str) -> dict[str, str]:
    """Class code -> words for a segment map (the migration charts' labels), with the words of the
    recency x spend grid, which an earlier month may have fallen back to."""
    from segkit.classify.rfm import FALLBACK_GRID

    return {**load_segment_map(FALLBACK_GRID).labels(lang), **migration_map.labels(lang)}


def stayed_share(counts: pd.DataFrame) -> float:
    """The share of last month's customers who are in the same class now (the matrix's diagonal)."""
    known = counts.drop(index="new", errors="ignore")
    same = sum(int(known.loc[code, code]) for code in known.index if code in known.columns)
    total = int(known.to_numpy().sum())
    return same / total if total else float("nan")


def flows_table(flows: pd.DataFrame, labels: dict, lang: str) -> pd.DataFrame:
    """The largest moves with the classes in words: before, after, customers."""
    names = {**labels, "new": t("migration.new_row", lang)}
    return pd.DataFrame({"before": [names.get(str(c), str(c)) for c in flows["before"]],
                         "after": [names.get(str(c), str(c)) for c in flows["after"]],
                         "customers": flows["customers"].astype("int64").to_numpy()})


def slipped_table(slipped: pd.DataFrame, labels: dict, lang: str, rows: int = 20,
                  class_labels: dict | None = None, mask_ids: bool = False) -> pd.DataFrame:
    """The first `rows` customers who slipped from a valuable to an at-risk class, most valuable
    first: id, last month's and this month's segment and eight class in words, revenue, predicted
    value where present (`segkit.monthly.stage.slipped_customers`); the ids masked with `mask_ids`
    (the params' `report.mask_ids`: `segkit.report.masking`)."""
    shown = slipped.head(rows)
    classes = class_labels or {}
    # "segment last month" beside "class last month": a row may have slipped in one of them only
    frame = pd.DataFrame({"customer_id": shown["customer_id"].astype(str).to_numpy(),
                          "segment_before": [labels.get(c, c) for c in shown["before"]],
                          "segment_after": [labels.get(c, c) for c in shown["after"]]})
    if "class_before" in shown.columns:
        frame["class_before"] = [classes.get(c, c) for c in shown["class_before"]]
        frame["class_after"] = [classes.get(c, c) for c in shown["class_after"]]
    for column in ("revenue", "clv", "p_alive", "recency_days"):
        if column in shown.columns:
            frame[column] = shown[column].to_numpy()
    if "moved_by" in shown.columns:  # the customer, or the classes' thresholds moving with everyone
        frame["moved_by"] = [t(f"migration.moved_by.{code}", lang) for code in shown["moved_by"]]
    return masked_frame(frame, mask_ids)


def cluster_match_table(matched: pd.DataFrame) -> pd.DataFrame:
    """This month's clusters with the cluster of last month each continues ("—" when none)."""
    frame = matched[["cluster", "cluster_name", "customers", "previous_cluster", "distance"]].copy()
    frame["previous_cluster"] = frame["previous_cluster"].astype("Int64")
    return frame


def new_cluster_sentences(matched: pd.DataFrame) -> list[tuple[str, dict]]:
    """One sentence per cluster of this month that continues no cluster of last month."""
    return [("migration.cluster_without", {"cluster": int(row.cluster)})
            for row in matched.itertuples() if pd.isna(row.previous_cluster)]


def alert_messages(alerts: pd.DataFrame | None, segment_labels: dict, class_labels: dict, lang: str,
                   top: float = 0.2) -> list[tuple[str, dict]]:
    """The alerts paragraph of 06 and the index: the alerts that fired, one line each, or the
    sentence that none did (with the number of rules checked)."""
    if alerts is None:
        return []
    fired = alert_sentences(alerts, segment_labels, class_labels, lang, top)
    if not fired:
        return [("migration.no_alerts", {"rules": len(alerts)})]
    return [("migration.alerts_fired", {}), *[("alert.line", {"text": text}) for text in fired]]


def run_maps(data_dir: str | Path, params) -> tuple:
    """The segment map 02 used and the eight classes' map of a run (for labels)."""
    info = load_run_info(data_dir)
    segments = load_segment_map(info.get("segment_map_used") or params.rfm.segment_map, custom=params.rfm.custom_maps)
    classes = load_segment_map(params.rfm.class_map, custom=params.rfm.custom_maps, basis=params.rfm.class_basis,
                               thresholds=params.rfm.class_thresholds)
    return segments, classes


def partial_month_caveat(data_dir: str | Path) -> list[tuple[str, dict]]:
    """The caveat 06 and 08 put before this month's changes and alerts when the data end well before
    the month does (01's `month_partly_covered` or `month_not_covered` note in run.json): its figures
    cover part of it, and recency counts the days without data as days without purchases. [] for a
    month the data cover. For `segkit.report.html.say_each`."""
    from segkit.store import load_run_info

    notes = load_run_info(data_dir).get("cleaning_notes") or []
    note = next((n for n in notes if n.get("key") in ("month_partly_covered", "month_not_covered")), None)
    if note is None:
        return []
    return [("monthly.partial_month", {"last": note["last"], "days": note["days"], "as_of": note["as_of"]})]


def trends_from_stage(data_dir: str | Path, params, lang: str) -> tuple[pd.DataFrame | None, list[tuple[str, dict]]]:
    """The KPIs of this month against last month (`kpi_change_table`) and the alerts paragraph, from
    the stages 06_migration saved; (None, []) for a run without them (a customer-level source)."""
    from segkit.monthly.trends import kpi_changes

    trends = load_stage(data_dir, "kpi_trends", optional=True)
    if trends is None or trends.empty:
        return None, []
    segments, classes = run_maps(data_dir, params)
    labels, class_words = dict(segments.labels(lang)), dict(classes.labels(lang))
    series = trends.set_index("month")
    series.index = [value.date() if hasattr(value, "date") else value for value in series.index]
    top = params.case_study.top_share
    changes = kpi_change_table(kpi_changes(series), labels, lang, top=top, currency=params.currency)
    return changes, alert_messages(load_stage(data_dir, "alerts", optional=True), labels, class_words, lang, top)


def kpi_change_table(changes: pd.DataFrame, segment_labels: dict, lang: str, top: float = 0.2,
                     currency=None) -> pd.DataFrame:
    """This month, last month and the change of each figure, as text in the figure's own unit (shares
    in %, changes of shares in percentage points, money in the run's currency); the change is that
    of the two figures as shown (4.4% -> 3.9%: -0.5 points), so that the row adds up as read. The NPS
    is shown with its month's number of answers (the row `nps_answers` of `changes`), and a month of
    fewer than MIN_NPS_ANSWERS as not enough answers, with the count (`kpi_changes` leaves it no value)."""
    from segkit.monthly.trends import MIN_NPS_ANSWERS, SHARES, as_shown
    from segkit.report import numbers

    found = changes[changes["kpi"] == "nps_answers"]  # each month's answers, shown with its NPS (not a row)
    answers = {} if found.empty else {"this_month": found["this_month"].iloc[0], "last_month": found["last_month"].iloc[0]}

    def label(kpi: str) -> str:
        if kpi.startswith("share_"):
            code = kpi[len("share_"):]
            return t("trend.share", lang, segment=segment_labels.get(code, code))
        return t(f"trend.{kpi}", lang, top=top) if kpi == "top_share" else t(f"trend.{kpi}", lang)

    def shown(kpi: str, value: float, change: bool = False) -> str:
        if not np.isfinite(value):
            return "—"
        if kpi in SHARES or kpi.startswith("share_"):
            points = t("unit.points", lang)
            # a change that rounds to nothing is +0.0, never -0.0
            return f"{round(value * 100, 1) + 0.0:+.1f} {points}" if change else numbers.percent(value, lang, 1)
        if kpi in ("revenue", "avg_order_value"):  # in the currency's decimals (none for yen), as every page writes money
            text = numbers.money(value, lang, currency, sign=change)
            return "+" + text if change and text[0] not in "+-−" else text  # no change reads +0.00, as +0 or +0.0
        if kpi == "nps":
            return f"{round(value, 1) + 0.0:+.1f}" if change else f"{value:.1f}"
        return f"{round(value) + 0.0:+,.0f}" if change else f"{value:,.0f}"

    def figure(kpi: str, value: float, month: str) -> str:
        count = answers.get(month) if kpi == "nps" else None
        if count is None or not np.isfinite(count):  # not an NPS, or a series written before the count was kept
            return shown(kpi, value)
        if count < MIN_NPS_ANSWERS:  # no NPS to speak of: said so, with the count (none: "—")
            return t("trend.nps_too_few", lang, answers=int(count), minimum=MIN_NPS_ANSWERS) if count else "—"
        return t("trend.nps_answers", lang, nps=shown(kpi, value), answers=int(count))

    def difference(row) -> float:  # of the figures as shown: 4.4% -> 3.9% is -0.5 points, never -0.4
        if np.isfinite(row.this_month) and np.isfinite(row.last_month):
            digits = getattr(currency, "minor_unit", 2)
            return as_shown(row.kpi, row.this_month, digits) - as_shown(row.kpi, row.last_month, digits)
        return row.change

    rows = [{"kpi": label(row.kpi), "this_month": figure(row.kpi, row.this_month, "this_month"),
             "last_month": figure(row.kpi, row.last_month, "last_month"),
             "change": shown(row.kpi, difference(row), change=True)}
            for row in changes.itertuples() if row.kpi != "nps_answers"]
    return pd.DataFrame(rows, columns=["kpi", "this_month", "last_month", "change"])


def restated_table(restated: pd.DataFrame | None, lang: str, top: float = 0.2, currency=None,
                   segment_labels: dict | None = None) -> pd.DataFrame | None:
    """Last month's figures as its own run reported them against the same figures counted now
    (`segkit.monthly.history.restated_figures`), as text in each figure's unit: kpi, reported,
    counted_now, change; None when there is nothing to show."""
    if restated is None or restated.empty:
        return None
    changes = pd.DataFrame({"kpi": restated["kpi"], "this_month": restated["now"], "last_month": restated["reported"],
                            "change": restated["now"] - restated["reported"]})
    shown = kpi_change_table(changes, segment_labels or {}, lang, top=top, currency=currency)
    return shown.rename(columns={"this_month": "counted_now", "last_month": "reported"})[
        ["kpi", "reported", "counted_now", "change"]]


def restated_from_stage(data_dir: str | Path, params, lang: str) -> tuple[list[tuple[str, dict]], pd.DataFrame | None]:
    """The sentence and table that say how last month's figures, counted now, differ from what its own
    run reported (the `kpi_restated` stage 06_migration saved); ([], None) when they agree or the run
    has no history of last month."""
    restated = load_stage(data_dir, "kpi_restated", optional=True)
    if restated is None or restated.empty:
        return [], None
    from segkit.store import load_run_info

    segments, _ = run_maps(data_dir, params)
    shown = restated_table(restated, lang, params.case_study.top_share, params.currency, dict(segments.labels(lang)))
    if shown is None:
        return [], None
    changed = load_run_info(data_dir).get("standards_changed") or []  # by 06_migration: other params than last month's
    if changed:
        return [("trend.restated_standards", {"changes": ", ".join(changed)})], shown
    return [("trend.restated", {})], shown


def alert_sentences(alerts: pd.DataFrame | None, segment_labels: dict, class_labels: dict, lang: str,
                    top: float = 0.2, fired_only: bool = True) -> list[str]:
    """One plain sentence per alert that fired (or per rule), e.g. "6.2% of last month's Champions
    moved to At Risk (rule: more than 5.0%)"."""
    from segkit.monthly.trends import SHARES

    if alerts is None or alerts.empty:
        return []
    sentences = []
    for row in alerts.itertuples():
        if fired_only and not row.fired:
            continue
        direction = t(f"alert.{row.direction}", lang)
        if row.kind == "moved":
            names = segment_labels if row.map == "segment" else class_labels
            split = (lambda v: v.split("+") if isinstance(v, str) else list(v))
            before = t("alert.or", lang).join(names.get(c, c) for c in split(row.from_classes))
            after = t("alert.or", lang).join(names.get(c, c) for c in split(row.to_classes))
            sentences.append(t("alert.moved", lang, value=row.value, before=before, after=after, direction=direction,
                               threshold=row.threshold))
            continue
        kpi = str(row.kpi)
        share = kpi in SHARES or kpi.startswith("share_")
        if kpi.startswith("share_"):
            code = kpi[len("share_"):]
            name = t("trend.share", lang, segment=segment_labels.get(code, code))
        else:
            name = t(f"trend.{kpi}", lang, top=top) if kpi == "top_share" else t(f"trend.{kpi}", lang)
        answers, before = getattr(row, "answers", np.nan), getattr(row, "answers_before", np.nan)  # not in older stages
        if kpi == "nps" and np.isfinite(answers):  # an NPS is said with the answers it counts
            name = (t("alert.nps_answers_change", lang, kpi=name, answers=int(answers), before=int(before))
                    if row.kind == "change" and np.isfinite(before) else
                    t("alert.nps_answers", lang, kpi=name, answers=int(answers)))
        key = f"alert.{row.kind}{'_share' if share else ''}"
        sentences.append(t(key, lang, kpi=name, value=row.value, direction=direction, threshold=row.threshold))
    return sentences


def headline_kpis(data_dir: str | Path, top: float = 0.2, segment_map="rfm11") -> dict:
    """The figures on the index page, read from a run's stage outputs. When clustering was skipped,
    clusters and silhouette are `NotMeasured` (shown as "—"), the silhouette also when run.json has
    none (null: not finite, or not computed for the k chosen); so are orders when the source gives no
    order count (a customer table with spend only). `segment_map` is the run's grid (a custom map's
    segments are read with it)."""
    features = load_stage(data_dir, "features")
    segments = load_stage(data_dir, "segments")
    ledger = load_stage(data_dir, "ledger")
    info = load_run_info(data_dir)
    findings = case_findings(features, segments, top=top, segment_map=segment_map)
    clustered = info.get("k") is not None
    silhouette = info.get("silhouette") if clustered else None  # null in run.json when it was not finite
    return {
        "customers": findings["customers"],
        # a customer table without order counts cannot say how many orders there were
        "orders": int(features["orders"].sum()) if features["orders"].notna().any() else NotMeasured(),
        "revenue": round(findings["revenue"], 2),
        "top_share": findings["top_share"],  # unrounded: the page rounds it once, as 02 and 08 do
        # the index labels these Champions/Loyal and At Risk/Can't Lose Them: those codes only
        "valuable": int(segments["segment"].isin(VALUABLE).sum()),
        "at_risk": int(segments["segment"].isin(AT_RISK).sum()),
        "clusters": int(info["k"]) if clustered else NotMeasured(),
        "silhouette": round(float(silhouette), 4) if silhouette is not None else NotMeasured(),
        "rows_in": int(ledger["rows"].sum()),
        # the rows of later months (a monthly run's, dated after its as-of date) are not a cleaning problem
        "rows_aside": int(ledger.loc[(ledger["outcome"] == "set_aside") & (ledger["rule"] != "after_as_of"), "rows"].sum()),
        "rows_later": int(ledger.loc[(ledger["outcome"] == "set_aside") & (ledger["rule"] == "after_as_of"), "rows"].sum()),
    }


def segments_by(profile: pd.DataFrame, column: str, dimension: str, segment_map, lang: str) -> tuple[pd.DataFrame, list[str]]:
    """Customers per segment (rows, in the map's order) and value of `dimension` (columns), e.g.
    customer type or region, then the total; and the column labels to show.

    The dimension's values are data: they label columns (as text, a missing value as "(blank)")
    but never name them, so a region called "segment", "total" or "revenue" is a region like any other.
    A yes/no column (a Parquet boolean, e.g. is_member) is labelled "Yes" / "No" (是 / 否), yes first.
    """
    segment_map = map_for_codes(segment_map, profile[column])
    values = profile[dimension]
    present = values.notna()
    if pd.api.types.is_bool_dtype(values.dtype):
        values = values.astype("object").map({True: t("dimension.true", lang), False: t("dimension.false", lang)})
        keys = [key for key in (t("dimension.true", lang), t("dimension.false", lang)) if key in set(values[present])]
    else:
        keys = sorted({str(v) for v in values[present]})
    position = {key: number for number, key in enumerate(keys)}
    slot = values.map(lambda v: position[str(v)] if pd.notna(v) else len(keys))
    counts = pd.crosstab(profile[column], slot).reindex(segment_map.codes, fill_value=0)
    counts = counts.reindex(columns=range(len(keys) + (0 if present.all() else 1)), fill_value=0).astype("int64")
    counts.columns = range(1, counts.shape[1] + 1)  # positions: a value never becomes a column name
    counts[counts.shape[1] + 1] = counts.sum(axis=1)
    counts.insert(0, 0, [segment_map.label(c, lang) for c in counts.index])
    labels = [t("col.segment", lang), *keys, *([] if present.all() else [t("dimension.blank", lang)]), t("col.total", lang)]
    return counts.reset_index(drop=True), labels


def tier_table(profile: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Customers by frequency tier (rows) and monetary tier (columns), high first."""
    order = ["high", "mid", "low"]
    table = pd.crosstab(profile["frequency_tier"], profile["monetary_tier"]).reindex(
        index=order, columns=order, fill_value=0)
    table.index = [t(f"tier.frequency.{x}", lang) for x in table.index]
    table.columns = [t(f"tier.monetary.{x}", lang) for x in table.columns]
    return table.reset_index(names="frequency_tier")


def abc_table(profile: pd.DataFrame) -> pd.DataFrame:
    """Customers and revenue per ABC class."""
    grouped = profile.groupby("abc_class")
    table = pd.DataFrame({"customers": grouped.size(), "revenue": grouped["revenue"].sum()}).reindex(["A", "B", "C"], fill_value=0)
    table["customer_share"] = table["customers"] / table["customers"].sum()
    table["revenue_share"] = table["revenue"] / table["revenue"].sum()
    return table.reset_index(names="abc_class")


def ranking_table(ranked: pd.DataFrame, profile: pd.DataFrame, segment_map, lang: str, top_n: int = 20,
                  weights: dict[str, float] | None = None, mask_ids: bool = False) -> pd.DataFrame:
    """The top `top_n` customers of the composite ranking with what they are known by: rank,
    customer_id, rank_score, orders, revenue, recency_days, segment and, with `weights`, the extra
    columns the ranking reads (a customer table's `income`), under their own names; the ids masked
    with `mask_ids` (the params' `report.mask_ids`: `segkit.report.masking`)."""
    from segkit.classify.ranking import CRITERIA

    segment_map = map_for_codes(segment_map, profile["segment"])
    extras = [c for c in (weights or {}) if c not in CRITERIA and c in profile.columns]
    columns = ["customer_id", "orders", "revenue", "recency_days", "segment", *extras]
    top = ranked.head(top_n)[["rank", "customer_id", "rank_score"]]
    known = profile.loc[profile["customer_id"].isin(top["customer_id"]), columns]  # a few rows, not a copy of all
    top = top.merge(known, on="customer_id", how="left")
    top["segment"] = [segment_map.label(c, lang) for c in top["segment"]]
    return masked_frame(top, mask_ids)


def join_messages(join: dict) -> list[tuple[str, dict]]:
    """The sentences of how the customer table joined the transactions (`join` as run.json's `join`
    holds it, `segkit.intake.cleaning.join_report`), as (catalogue key, values) pairs for `say_each`:
    the join's counts, and the buyers whose record differs only in letter case where there are any."""
    said = [("cleaning.join", join)]
    if join.get("buyers_matching_in_other_case"):
        said.append(("cleaning.join_case", {"n": join["buyers_matching_in_other_case"]}))
    return said


def survey_join_messages(join: dict) -> list[tuple[str, dict]]:
    """How the survey answers joined the transactions (`join` as run.json's `join` holds it), as
    (catalogue key, values) pairs for `say_each`: the counts, and, where half or more of the answers
    are from ids no purchase has, that they count in no figure and what to check."""
    said = [("cleaning.join_surveys", join)]
    answers, unmatched = join.get("survey_answers", 0), join.get("survey_answers_without_transactions", 0)
    if unmatched and 2 * unmatched >= answers:
        said.append(("cleaning.join_surveys_unmatched", {"n": unmatched, "answers": answers}))
    return said


def satisfaction_table(profile: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Customers and revenue share per satisfaction class; 'no answer' is its own row."""
    order = ["very_satisfied", "satisfied", "unsatisfied", "no_answer"]
    grouped = profile.groupby("satisfaction")
    table = pd.DataFrame({"customers": grouped.size(), "revenue": grouped["revenue"].sum()}).reindex(order, fill_value=0)
    table["customer_share"] = table["customers"] / table["customers"].sum()
    table["revenue_share"] = table["revenue"] / table["revenue"].sum()
    table.index = [t(f"satisfaction.{x}", lang) for x in table.index]
    return table.reset_index(names="satisfaction")


def weights_text(weights: dict[str, float], lang: str, profile: pd.DataFrame | None = None) -> str:
    """"amount 30%, frequency 25%, ..." with the weights normalised to sum to 100%; with `profile`,
    the weights the ranking really uses (`segkit.classify.ranking.used_weights`: the criteria the
    data cannot support left out, the others renormalised)."""
    from segkit.classify.ranking import normalised_weights, used_weights

    shares = sorted((used_weights(profile, weights) if profile is not None else normalised_weights(weights)).items(),
                    key=lambda item: -item[1])
    from segkit.report.numbers import percent

    return t("name.separator", lang).join(f"{criterion_label(name, lang)} {percent(share, lang, 0)}" for name, share in shares)


def criterion_label(criterion: str, lang: str) -> str:
    """A ranking criterion in `lang` ("amount", "消费金额"); an extra column under its own name (income)."""
    key = f"criterion.{criterion}"
    return t(key, lang) if key in messages() else criterion


def behaviour_text(profile: pd.DataFrame, activity_days: int, lang: str):
    """The purchase-behaviour sentence: breadth, median interval between orders, activity."""
    from segkit.report.html import say

    interval = profile["interval_days"].median()  # missing when no customer bought twice
    values = {"days": activity_days, "active": float((profile["orders_recent"] > 0).mean())}
    if pd.notna(interval):
        values["interval"] = float(interval)
    suffix = "" if pd.notna(interval) else "_no_repeat"
    if "categories" in profile.columns:
        return say(f"rfm.behaviour{suffix}", lang, multi=float((profile["categories"] > 1).mean()), **values)
    return say(f"rfm.behaviour_no_categories{suffix}", lang, **values)


def has_answers(profile: pd.DataFrame, column: str = "nps") -> bool:
    """True when at least one customer of `profile` has a survey answer in `column`."""
    return column in profile.columns and bool(profile[column].notna().any())


def satisfaction_text(profile: pd.DataFrame, lang: str, case: bool = False):
    """The NPS sentence (02, or the case study's with `case`), or why there is none: no survey table,
    or a survey table with no answer from these customers (never an NPS of "nan")."""
    from segkit.report.html import say

    prefix = "case" if case else "rfm"
    if has_answers(profile, "nps"):
        return say("case.nps", lang) if case else say("rfm.nps", lang, **nps_overall(profile))
    if "nps" in profile.columns or "score" in profile.columns:
        return say(f"{prefix}.no_answers", lang)
    return say(f"{prefix}.no_surveys", lang)


def cut_points_table(cut_points: pd.DataFrame, lang: str, currency=None, cuts: dict | None = None) -> pd.DataFrame:
    """`RFMScorer.cut_points()` for the report: each dimension's feature by its label in `lang`
    (recency_days: "Days since last purchase", "距上次购买天数"); with `currency` (params.currency)
    and `cuts` (the scorer's `cuts_`: the cut points as numbers, per dimension r, f, m), M's cut points
    in the currency as every other amount of the report ("¥54.80, ¥121.11"), days and orders as
    numbers of the language. Columns dimension, feature, bins, cut_points."""
    from segkit.report.numbers import money, significant

    def shown(dimension: str, cuts) -> str:
        if dimension == "M":
            return ", ".join(money(c, lang, currency) for c in cuts)
        return ", ".join(significant(c, lang, 6) for c in cuts)

    frame = cut_points.assign(feature=[column_label(feature, lang) for feature in cut_points["feature"]])
    if currency is not None and cuts is not None:
        numbers = [list(cuts.get(d.lower(), ())) for d in frame["dimension"]]
        frame["cut_points"] = [shown(d, found) if found else text for d, found, text in
                               zip(frame["dimension"], numbers, frame["cut_points"])]
    return frame


def rfm_dimension_notes(unusable: dict, segment_map, lang: str, class_note: bool = True):
    """What the report says about each RFM dimension that cannot tell customers apart
    (`RFMScorer.unusable_`, or run.json's `rfm_unusable`): why, and how it is then scored and used.
    None when every dimension can discriminate. `segment_map` is the grid the segments were made with."""
    from segkit.classify.rfm import MAX_TIED_SHARE
    from segkit.report.html import Rendered, say

    if not unusable:
        return None
    grid = load_segment_map(segment_map)
    parts = []
    for dim in RFM_FEATURES:
        if dim not in unusable:
            continue
        info = unusable[dim]
        reason = info["reason"]
        parts.append(say(f"rfm.unusable.{reason}", lang, dimension=t(f"rfm_dim.{dim}", lang),
                         feature=t(f"rfm_feature.{dim}", lang), shared=info.get("value") or 0,
                         share=info.get("share", 1.0), limit=info.get("limit", MAX_TIED_SHARE)).markup)
        if dim == "f" and "r" in unusable and grid.axes == "r_m":
            middle = (grid.scale + 1) // 2  # the segments of the middle recency row, big spenders first
            row = [s["code"] for s in grid.segments if any(b["r"][0] <= middle <= b["r"][1] for b in s["boxes"])]
            parts.append(say("rfm.unusable.spend_only", lang, high=grid.label(row[0], lang),
                             other=grid.label(row[-1], lang)).markup)
        elif dim == "f":
            parts.append(say("rfm.unusable.f", lang, segments=len(grid.codes)).markup)
            if class_note and reason == "one_value":
                parts.append(say("rfm.unusable.f_classes", lang).markup)
        elif dim == "m":
            parts.append(say("rfm.unusable.m", lang).markup)
        elif not ("f" in unusable and grid.axes == "r_m"):  # else the spend-only sentence says it
            parts.append(say("rfm.unusable.r", lang, middle=(grid.scale + 1) // 2, scale=grid.scale).markup)
    return Rendered("\n".join(parts))


def unusable_caution(unusable: dict, lang: str):
    """The case study's caution when some RFM dimension cannot tell customers apart, or None."""
    from segkit.report.html import say

    if not unusable:
        return None
    joiner = t("name.separator", lang)
    return say("case.unusable", lang, dimensions=joiner.join(t(f"rfm_dim.{d}", lang) for d in RFM_FEATURES if d in unusable),
               used=joiner.join(t(f"rfm_dim.{d}", lang) for d in RFM_FEATURES if d not in unusable) or "—")


def unsupported_standards(profile: pd.DataFrame, rules, weights: dict[str, float], lang: str) -> pd.DataFrame:
    """The configured standards this data set cannot support, one row each: kind ("tag" or
    "criterion"), standard (the kind in `lang`), name (in `lang`), why (in `lang`), weight (the
    criterion's configured share, blank for a tag). Empty when every standard can be computed. Tags: `segkit.classify.tags.unsupported_tags`
    (a column the data lack) and `unmatched_values` (no customer has a value the tag needs);
    criteria: `segkit.classify.ranking.criteria_support`."""
    from segkit.classify.ranking import criteria_support
    from segkit.classify.tags import unmatched_values, unsupported_tags

    def columns(names) -> str:
        return columns_in_text(names, lang, ("standards.column", "col"))

    def values(needed: dict[str, list[str]]) -> str:  # "no customer's customer type is “enterprise” or “government”"
        return t("name.separator", lang).join(
            t("standards.why.no_such_value", lang, column=columns([column]),
              values=t("standards.value_separator", lang).join(f"“{v}”" for v in found))
            for column, found in needed.items())

    rows = []
    lacking, unmatched = unsupported_tags(profile, rules), unmatched_values(profile, rules)
    for rule in rules:
        if rule.name in lacking or rule.name in unmatched:
            why = (t("standards.why.no_column", lang, columns=columns(lacking[rule.name])) if rule.name in lacking
                   else values(unmatched[rule.name]))
            rows.append({"kind": "tag", "standard": t("standards.kind.tag", lang), "name": getattr(rule, lang),
                         "why": why, "weight": float("nan")})
    for row in criteria_support(profile, weights).itertuples():
        if row.status != "used":
            why = f"standards.why.{row.status}"
            why = f"{why}.{row.column}" if f"{why}.{row.column}" in messages() else why  # a sentence of its own
            rows.append({"kind": "criterion", "standard": t("standards.kind.criterion", lang),
                         "name": criterion_label(row.criterion, lang),
                         "why": t(why, lang, columns=columns([row.column])), "weight": row.weight})
    return pd.DataFrame(rows, columns=["kind", "standard", "name", "why", "weight"])


def unsupported_text(profile: pd.DataFrame, rules, weights: dict[str, float], lang: str):
    """One sentence naming every configured standard the data cannot support (or saying that all
    can be computed), for 02 and the case study."""
    from segkit.report.html import say

    table = unsupported_standards(profile, rules, weights, lang)
    if table.empty:
        return say("standards.all_supported", lang)
    names = t("standards.list_separator", lang).join(
        t("standards.item", lang, kind=t(f"standards.inline.{r.kind}", lang), name=r.name, why=r.why)
        for r in table.itertuples())
    return say("standards.unsupported", lang, n=len(table), names=names)


def cluster_skip_text(skipped: dict, lang: str) -> str:
    """Why clustering was skipped (`segkit.models.cluster.cluster_skip_reason`), in `lang`."""
    values = {k: v for k, v in skipped.items() if k != "reason"}
    return t(f"cluster.skip.{skipped['reason']}", lang, **values)


def case_group_text(findings: dict, group: str, lang: str, currency=None, unusable: dict | None = None):
    """The case study's sentence for a group (valuable, at_risk, gone), in the words of the map the
    segments were made with (rm6 has its own: no one is called Champion or Loyal). None when recency
    cannot tell customers apart (`unusable`, the run's `rfm_unusable`, has "r"): every group is
    defined by how recently its customers bought, so none can be named (the caution says why)."""
    from segkit.report.html import say

    if unusable and "r" in unusable:
        return None

    base = GROUP_MESSAGES[group]
    specific = f"{base}.{findings.get('segment_map')}"
    key = specific if specific in messages() else base
    if findings[group].get("n") == 0:  # an empty group is said as none, never as "0 customers are ..."
        key = f"{key}.none" if f"{key}.none" in messages() else f"{base}.none"
    return say(key, lang, currency=currency, **{k: v for k, v in findings[group].items()})


def value_text(future: dict | None, lang: str, horizon: int, horizon_unit: str, threshold: float):
    """The case study's sentence on future value (`future`: `segkit.value_findings`): the high
    predicted-value tier's customers and share, and the valuable customers who are probably lost.
    A part about no customers is left out ("the 0 customers in the high tier") or said as none ("no
    customer of the high monetary tier is probably lost"); None when both parts are empty or there
    is no prediction."""
    from segkit.report.html import say

    if not future or (not future["high"] and not future["slipping"]):
        return None
    key = "case.value" if future["high"] and future["slipping"] else (
        "case.value.none_slipping" if future["high"] else "case.value.no_high")
    return say(key, lang, horizon=horizon, horizon_unit=horizon_unit, threshold=threshold, **future)


def slipping_text(slipping: pd.DataFrame | None, lang: str, threshold: float):
    """03's sentence above the valuable customers who are probably lost (`slipping`:
    `segkit.slipping_valuable`): how many, or that none is ("no customer of the high monetary tier",
    not "0 customers"); None without a prediction."""
    from segkit.report.html import say

    if slipping is None:
        return None
    return say("value.slipping" if len(slipping) else "value.slipping_none", lang, n=len(slipping), threshold=threshold)


def matrix_text(matrix, lang: str, value: str, potential: str, cut: str, currency=None):
    """05's sentence on the segmentation matrix (`segkit.matrix_stage`): how customers are placed, the
    cut lines, and the customers left out for lack of a figure, a part left out when there are none.
    A cut on a column of money (revenue, CLV...: `evaluation_tables.MONEY_COLUMNS`) is shown in
    `currency` (params.currency: "value ¥867.40"), as the matrix table and chart show it."""
    from segkit.report.evaluation_tables import MONEY_COLUMNS
    from segkit.report.html import Money, say

    def shown(axis: str):
        amount = matrix.cuts[axis]
        return Money(amount, currency, lang) if getattr(matrix, axis, None) in MONEY_COLUMNS else amount

    return say("evaluate.matrix" if matrix.left_out else "evaluate.matrix_all_placed", lang, value=value,
               potential=potential, cut=cut, value_cut=shown("value"), potential_cut=shown("potential"),
               left_out=matrix.left_out)


def value_table(profile: pd.DataFrame, value: pd.DataFrame, column: str, segment_map, lang: str,
                minor_unit: int = 2) -> pd.DataFrame:
    """Future value per segment or class (segkit.models.customer_value.value_by), in the map's order,
    labelled in `lang`; its totals add each customer's amounts rounded to the currency's `minor_unit`
    decimals, as the exports hold them."""
    from segkit.models.customer_value import value_by

    segment_map = map_for_codes(segment_map, profile[column])
    table = value_by(profile, value, column, minor_unit).set_index(column).reindex(segment_map.codes).dropna(subset=["customers"])
    table["customers"] = table["customers"].astype("int64")
    table.insert(0, "segment", [segment_map.label(c, lang) for c in table.index])
    return table.reset_index(drop=True)


def slipping_table(profile: pd.DataFrame, value: pd.DataFrame, alive_threshold: float, segment_map, class_map,
                   lang: str, top_n: int = 20, mask_ids: bool = False) -> pd.DataFrame:
    """The most valuable customers who are slipping away, with their segment and class in words; their
    ids masked with `mask_ids` (the params' `report.mask_ids`: `segkit.report.masking`)."""
    from segkit.models.customer_value import slipping_valuable

    grid, classes = map_for_codes(segment_map, profile["segment"]), load_segment_map(class_map)
    table = slipping_valuable(profile, value, alive_threshold).head(top_n).copy()
    table["segment"] = [grid.label(c, lang) for c in table["segment"]]
    table["rfm_class"] = [classes.label(c, lang) for c in table["rfm_class"]]
    return masked_frame(table, mask_ids)


def churn_table(profile: pd.DataFrame, window_days: int, segment_map, lang: str) -> pd.DataFrame:
    """Churned customers (no purchase in `window_days`) and the churn rate per segment."""
    from segkit.monthly.activity import churn_rates

    segment_map = map_for_codes(segment_map, profile["segment"])
    table = churn_rates(profile, "segment", window_days).set_index("segment").reindex(segment_map.codes).dropna()
    table[["customers", "churned"]] = table[["customers", "churned"]].astype("int64")
    table.insert(0, "segment", [segment_map.label(c, lang) for c in table.index])
    return table.reset_index(drop=True)


def value_interval_table(intervals: pd.DataFrame, column: str, segment_map, lang: str, currency=None) -> pd.DataFrame:
    """Mean expected purchases and mean predicted CLV (in `currency`, `params.currency`) per segment
    or class with their intervals (`ValueStage.intervals`), in the map's order, labelled in `lang`;
    cells read "1.23 (1.01–1.49)", or "1.23 (—)" where the fit gives no interval."""
    from segkit.report.html import Money

    segment_map = map_for_codes(segment_map, intervals[column])
    table = intervals.set_index(column).reindex(segment_map.codes).dropna(subset=["customers"])

    def cell(name: str, money: bool) -> list[str]:
        if name not in table.columns or table[name].isna().all():
            return ["—"] * len(table)
        shown = (lambda v: format(Money(v, currency), ",.2f")) if money else (lambda v: f"{v:,.2f}")
        # an interval the fit cannot give (its standard errors are not defined) reads "1.23 (—)"
        return [("—" if pd.isna(v) else f"{shown(v)} (—)" if not (np.isfinite(lo) and np.isfinite(hi))
                 else f"{shown(v)} ({shown(lo)}–{shown(hi)})")
                for v, lo, hi in zip(table[name], table[f"{name}_lower"], table[f"{name}_upper"])]

    return pd.DataFrame({"segment": [segment_map.label(c, lang) for c in table.index],
                         "customers": table["customers"].astype("int64").to_numpy(),
                         "expected_purchases_interval": cell("expected_purchases", False),
                         "clv_interval": cell("clv", True)})


def segments_intro(segment_map, lang: str):
    """The sentence before the segment chart: the eleven segments, or the map the segments were made
    with when it is another (rm6 when F could not discriminate, or a custom map)."""
    from segkit.report.html import say

    segment_map = load_segment_map(segment_map)
    if segment_map.name == "rfm11":
        return say("rfm.segments", lang)
    return say("rfm.segments_other", lang, n=len(segment_map.codes),
               names=t("name.separator", lang).join(segment_map.label(c, lang) for c in segment_map.codes))


def ranking_text(profile: pd.DataFrame, weights: dict[str, float], top_n: int, lang: str):
    """The ranking sentence with the weights really used (`weights_text` with the profile), or why
    there is no ranking when no weighted criterion can tell these customers apart."""
    from segkit.classify.ranking import used_weights
    from segkit.report.html import say

    if not used_weights(profile, weights):
        return say("rfm.ranking_none", lang)
    return say("rfm.ranking", lang, top_n=top_n, weights=weights_text(weights, lang, profile))


def constant_features_text(features: pd.DataFrame, lang: str, columns=None):
    """A note naming the clustering features (`columns`, default the RFM ones) every customer shares
    one value of (e.g. orders when each customer has one order), or None."""
    from segkit.models.cluster import CLUSTER_FEATURES, constant_features
    from segkit.report.html import say

    constant = constant_features(features, CLUSTER_FEATURES if columns is None else columns)
    if not constant:
        return None
    return say("cluster.constant", lang, features=t("name.separator", lang).join(column_label(c, lang) for c in constant))


def cluster_notes_text(stage, lang: str):
    """What 04 says about the columns of cluster.features: those left out and why, and how many
    customers were placed at a column's median for want of a value; None when there is nothing to say."""
    from segkit.report.html import say_each

    joiner = t("name.separator", lang)
    sentences = []
    if stage.left_out:
        sentences.append(("cluster.left_out", {"columns": joiner.join(
            t(f"cluster.left_out.{why}", lang, column=column_in_text(column, lang))
            for column, why in stage.left_out.items())}))
    imputed = getattr(stage.clusterer, "imputed_", None)
    if imputed:
        sentences.append(("cluster.imputed", {"counts": joiner.join(
            t("cluster.imputed_item", lang, column=column_label(column, lang), n=n) for column, n in imputed.items())}))
    return say_each(sentences, lang) if sentences else None


def cluster_profile_table(stage) -> pd.DataFrame:
    """The cluster profiles 04 shows: name, customers, customer_share, the medians of the RFM columns
    that have values and of the clustered columns, and revenue_share when there is revenue."""
    profile = stage.profile
    medians = [c for c in profile.columns if c not in ("cluster", "customers", "customer_share", "revenue_total",
                                                        "revenue_share", "name") and not c.startswith("level_")
               and not c.endswith("_level") and profile[c].notna().any()]
    shares = ["revenue_share"] if profile["revenue_share"].notna().any() else []
    return profile[["name", "customers", "customer_share", *medians, *shares]]
