"""Tables and figures that summarise a run: before/after cleaning, segment summaries, the case
study's findings and the headline KPIs of the index page. All numbers come from the stage outputs.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from segkit.i18n import format_conditions, rule_name, t
from segkit.rfm import load_segment_map, strategies
from segkit.store import load_run_info, load_stage
from segkit.value import top_share

VALUABLE = ("champions", "loyal")
AT_RISK = ("at_risk", "cant_lose")
GONE = ("lost", "hibernating")


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


def before_after(raw, clean, lang: str = "en") -> pd.DataFrame:
    """One row each for the input and the clean transactions (DataFrames or Ibis tables)."""
    rows = [{"stage": t(f"stage.{name}", lang), **describe_transactions(frame)}
            for name, frame in (("before", raw), ("after", clean))]
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


def rules_table(explanation, lang: str) -> pd.DataFrame:
    """The tree's rules as IF / THEN rows, largest leaves first."""
    return pd.DataFrame([{"if": format_conditions(r.conditions, lang), "then": r.target,
                          "customers": r.customers, "purity": r.purity} for r in explanation.rules])


def crosstab_clusters_segments(clusters: pd.DataFrame, segments: pd.DataFrame, map_name: str,
                               lang: str) -> pd.DataFrame:
    """Customers per cluster (rows) and segment (columns, in the map's order)."""
    segment_map = load_segment_map(map_name)
    merged = clusters.merge(segments[["customer_id", "segment"]], on="customer_id", validate="one_to_one")
    table = pd.crosstab(merged["cluster_name"], merged["segment"]).reindex(columns=segment_map.codes, fill_value=0)
    table.columns = [segment_map.label(c, lang) for c in table.columns]
    return table.reset_index().rename(columns={"cluster_name": "cluster"})


def nps_by_segment(surveys: pd.DataFrame, segments: pd.DataFrame, map_name: str, lang: str) -> pd.DataFrame:
    """Per segment: customers, how many answered, mean score and NPS (promoters 9-10 minus
    detractors 0-6, in points). Customers without an answer are counted apart, not as unhappy."""
    segment_map = load_segment_map(map_name)
    latest = surveys.sort_values("answered_at").groupby("customer_id").tail(1) \
        if "answered_at" in surveys.columns else surveys.drop_duplicates("customer_id", keep="last")
    merged = segments[["customer_id", "segment"]].merge(latest, on="customer_id", how="left")
    rows = []
    for code in segment_map.codes:
        part = merged[merged["segment"] == code]
        answered = part.dropna(subset=["nps"])
        nps = 100 * ((answered["nps"] >= 9).mean() - (answered["nps"] <= 6).mean()) if len(answered) else float("nan")
        rows.append({"segment": segment_map.label(code, lang), "customers": len(part), "answered": len(answered),
                     "score": answered["score"].mean() if len(answered) else float("nan"), "nps": nps})
    return pd.DataFrame(rows)


def breadth_table(features: pd.DataFrame) -> pd.DataFrame:
    """Customers by number of product categories bought (1, 2, 3, 4, 5+), with revenue share."""
    bands = features["categories"].clip(upper=5).astype(int).astype(str).replace({"5": "5+"})
    grouped = features.assign(categories=bands).groupby("categories")
    table = pd.DataFrame({"customers": grouped.size(), "revenue": grouped["revenue"].sum()})
    table["customer_share"] = table["customers"] / table["customers"].sum()
    table["revenue_share"] = table["revenue"] / table["revenue"].sum()
    return table.reset_index()


def segment_summary(features: pd.DataFrame, codes: pd.Series, map_name: str, lang: str) -> pd.DataFrame:
    """Per segment of `map_name`: customers, orders, revenue, their shares, average order value,
    median recency/orders/revenue and the suggested action, in the map's order."""
    segment_map = load_segment_map(map_name)
    frame = features.assign(code=codes.to_numpy())
    grouped = frame.groupby("code")
    table = pd.DataFrame({
        "customers": grouped.size(),
        "orders": grouped["orders"].sum(),
        "revenue": grouped["revenue"].sum(),
        "recency_days": grouped["recency_days"].median(),
        "median_orders": grouped["orders"].median(),
        "median_revenue": grouped["revenue"].median(),
    }).reindex(segment_map.codes).fillna(0)
    table["customer_share"] = table["customers"] / table["customers"].sum()
    table["revenue_share"] = table["revenue"] / table["revenue"].sum()
    table["avg_order_value"] = (table["revenue"] / table["orders"].where(table["orders"] > 0)).fillna(0)
    table["segment"] = [segment_map.label(c, lang) for c in table.index]
    table["strategy"] = [strategies()[c][lang] for c in table.index]
    table["customers"] = table["customers"].astype(int)
    table["orders"] = table["orders"].astype(int)
    return table.reset_index(names="code")[
        ["code", "segment", "customers", "customer_share", "orders", "revenue", "revenue_share",
         "avg_order_value", "recency_days", "median_orders", "median_revenue", "strategy"]]


def case_findings(features: pd.DataFrame, segments: pd.DataFrame, clusters: pd.DataFrame | None = None,
                  top: float = 0.2) -> dict:
    """The numbers the case study's conclusions are written from."""
    merged = features.merge(segments[["customer_id", "segment"]], on="customer_id", validate="one_to_one")
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
        "valuable": group(VALUABLE),
        "at_risk": group(AT_RISK),
        "gone": group(GONE),
    }
    if clusters is not None:
        best = clusters[clusters["cluster"] == 0]
        revenue = features.set_index("customer_id").loc[best["customer_id"], "revenue"]
        findings["best_cluster"] = {
            "cluster_name": best["cluster_name"].iloc[0] if len(best) else "",
            "customer_share": len(best) / total_customers,
            "revenue_share": float(revenue.sum()) / total_revenue,
        }
    return findings


def headline_kpis(data_dir: str | Path, top: float = 0.2) -> dict:
    """The figures on the index page, read from a run's stage outputs."""
    features = load_stage(data_dir, "features")
    segments = load_stage(data_dir, "segments")
    ledger = load_stage(data_dir, "ledger")
    info = load_run_info(data_dir)
    findings = case_findings(features, segments, top=top)
    return {
        "customers": findings["customers"],
        "orders": int(features["orders"].sum()),
        "revenue": round(findings["revenue"], 2),
        "top_share": round(findings["top_share"], 4),
        "valuable": findings["valuable"]["n"],
        "at_risk": findings["at_risk"]["n"],
        "clusters": int(info["k"]),
        "silhouette": round(float(info["silhouette"]), 4),
        "rows_in": int(ledger["rows"].sum()),
        "rows_aside": int(ledger.loc[ledger["outcome"] == "set_aside", "rows"].sum()),
    }
