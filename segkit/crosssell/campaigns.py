"""Campaign response per segment: response rates with Wilson intervals, lift over the average,
uplift against a control group, and the segments worth targeting next time.

The campaigns table (`source.campaigns`, read by `segkit.intake.sources.read_campaigns`) has one
row per customer and campaign: customer_id, campaign, sent_at (may be missing), responded (bool),
and optionally revenue and control (True: held out, not contacted).
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd

from segkit._membership import is_in
from segkit.errors import DataError
from segkit.intake import engines as _engines  # noqa: F401 (Ibis' compile options for segkit's queries)

CAMPAIGN_FRAME_COLUMNS = ("customer_id", "campaign", "sent_at", "responded", "revenue", "control")


def wide_to_long(frame: pd.DataFrame, campaign_columns, customer_id: str = "customer_id",
                 rows: pd.Series | None = None) -> pd.DataFrame:
    """A wide campaigns table (one row per customer, one 0/1 column per campaign, as in exports with
    AcceptedCmp1..5 and Response) in the long form: customer_id, campaign (the column's name),
    responded (bool), sent_at missing, control False. Every customer counts as sent every campaign.
    Raises DataError naming the column and row (the file's line from `rows`, else the position from 1)
    of a value that is not 0/1 (or yes/no, true/false)."""
    missing = [c for c in [customer_id, *campaign_columns] if c not in frame.columns]
    if missing:
        raise DataError(f"source.campaigns: no column {', '.join(map(repr, missing))}; columns: "
                        f"{', '.join(map(str, frame.columns[:30]))}")
    parts = []
    for column in campaign_columns:
        parts.append(pd.DataFrame({"customer_id": frame[customer_id].astype(str).to_numpy(), "campaign": str(column),
                                   "sent_at": pd.NaT, "responded": flags(frame[column], f"source.campaigns {column}", rows),
                                   "control": False}))
    return pd.concat(parts, ignore_index=True)


TRUE_WORDS = {"1", "1.0", "true", "yes", "y", "t", "是"}
FALSE_WORDS = {"0", "0.0", "false", "no", "n", "f", "否"}


def flags(values: pd.Series, where: str, rows: pd.Series | None = None) -> np.ndarray:
    """0/1, yes/no, true/false (and 是/否) as booleans; anything else raises DataError with its row: the
    file's line from `rows` (a source_row per value, as the other messages about a file name it), else
    the value's position from 1."""
    if pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype=bool)
    text = values.astype("string").str.strip().str.lower()
    known = text.isin(TRUE_WORDS | FALSE_WORDS).fillna(False).to_numpy()
    if not known.all():
        row = int(np.argmin(known))
        line = int(rows.iat[row]) if rows is not None else row + 1
        raise DataError(f"{where}, row {line}: {values.iloc[row]!r} is not a yes/no flag; use 1/0, yes/no or "
                        "true/false (a control group's column: 1 or yes for the customers held back)")
    return text.isin(TRUE_WORDS).to_numpy(dtype=bool)


def join_campaigns(campaigns: pd.DataFrame, segments: pd.DataFrame, clusters: pd.DataFrame | None = None,
                   at_send: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The campaign rows with each customer's segment, rfm_class (and cluster_name where `clusters`
    is given), and the join report.

    `at_send` (from `segments_at_send_dates`): for rows with a send date, the segment and class the
    customer was in on that date replace the run's; a customer with no purchase before the send date
    had no segment then (outcome no_purchase_before_send). Returns (joined, report): `joined` keeps
    only rows with a segment; `report` has one row per outcome (matched, no_purchase_before_send,
    not_in_transactions) with rows and customers, so no row is dropped silently.
    """
    for name in ("customer_id", "campaign", "responded"):
        if name not in campaigns.columns:
            raise DataError(f"source.campaigns has no {name} column; map it in source.campaigns.columns")
    rows = campaigns.assign(customer_id=campaigns["customer_id"].astype(str))
    if "control" not in rows.columns:
        rows = rows.assign(control=False)
    keep = [c for c in ("customer_id", "segment", "rfm_class") if c in segments.columns]
    known = segments[keep].astype({"customer_id": str})
    if clusters is not None and "cluster_name" in clusters.columns:
        known = known.merge(clusters[["customer_id", "cluster_name"]].astype({"customer_id": str}), on="customer_id",
                            how="left")
    known_ids = is_in(rows["customer_id"], known["customer_id"])
    joined = rows.assign(_row=range(len(rows))).merge(known, on="customer_id", how="left")
    too_early = np.zeros(len(rows), dtype=bool)
    if at_send is not None and "sent_at" in rows.columns and len(at_send):
        dated = joined["sent_at"].notna().to_numpy()
        then = joined[["customer_id", "sent_at"]].merge(
            at_send.assign(sent_at=pd.to_datetime(at_send["sent_at"]))[["customer_id", "sent_at", "segment", "rfm_class"]],
            on=["customer_id", "sent_at"], how="left")
        for name in ("segment", "rfm_class"):
            joined[name] = np.where(dated, then[name].to_numpy(dtype=object), joined[name].to_numpy(dtype=object))
        too_early = known_ids & dated & then["segment"].isna().to_numpy()
    matched = known_ids & ~too_early
    outcomes = {"matched": matched, "no_purchase_before_send": too_early, "not_in_transactions": ~known_ids}
    report = pd.DataFrame({
        "outcome": list(outcomes),
        "rows": [int(mask.sum()) for mask in outcomes.values()],
        "customers": [rows.loc[mask, "customer_id"].nunique() for mask in outcomes.values()],
    })
    joined = joined[matched].drop(columns="_row")
    return joined.reset_index(drop=True), report


def segments_at_send_dates(transactions: pd.DataFrame | ibis.Table, campaigns: pd.DataFrame, rfm,
                           activity_days: int = 90, minor_unit: int = 2) -> pd.DataFrame | None:
    """Each customer's segment and class as they stood on each send date of `campaigns`: the RFM
    scoring of `rfm` (the params' `rfm` settings: bins, method, ties, maps) refitted on the
    purchases before that date, as 02_rfm does for the run, as they were known then
    (`segkit.intake.as_known.as_known`: a purchase cancelled after the send date counts whole; with
    the lines of the orders cancelled in full marked `refunded`, `segkit.known_lines_table`, such an
    order cancelled after it counts too). `transactions`: the clean rows, a DataFrame or an engine
    table (the features before each date are computed in its engine). One
    row per customer with a purchase before the date and per date: customer_id, sent_at, segment,
    rfm_class. None when the table has no send dates, or when `transactions` holds no rows (a
    database source's per-customer summaries, `Purchases`: the rows stayed in the database, and the
    run's segments are used). A
    date whose purchases cannot be scored (too few customers) is left out, and its rows then count
    as no_purchase_before_send in the join."""
    from segkit.classify.rfm import RFMScorer, grid_for, load_segment_map, segment_customers
    from segkit.errors import SegkitError
    from segkit.features import customer_features
    from segkit.intake.as_known import as_known
    from segkit.intake.sources import connect

    if not isinstance(transactions, (pd.DataFrame, ibis.Table)):
        return None
    if "sent_at" not in campaigns.columns or campaigns["sent_at"].isna().all():
        return None
    con = connect()
    classes = load_segment_map(rfm.class_map, custom=rfm.custom_maps, basis=rfm.class_basis,
                               thresholds=rfm.class_thresholds)
    found = []
    for day in sorted(pd.to_datetime(campaigns["sent_at"].dropna()).unique()):
        as_of = (pd.Timestamp(day).normalize() - pd.Timedelta(days=1)).date()
        known = as_known(transactions, as_of)  # a refund made after the send date was not known on it
        if isinstance(known, pd.DataFrame):
            before = known[known["ordered_at"] < pd.Timestamp(day).normalize()].drop(columns="refund")
            if before.empty:
                continue
        else:  # an engine table: filtered there
            before = known.filter(known.ordered_at < pd.Timestamp(day).normalize().to_pydatetime()).drop("refund")
            if before.count().to_pyarrow().as_py() == 0:
                continue
        try:
            features = customer_features(con, before, as_of, activity_days, minor_unit)
            scorer = RFMScorer(rfm.bins, method=rfm.method, ties=rfm.ties, cuts=rfm.cuts, percentiles=rfm.percentiles,
                               max_tied_share=rfm.max_tied_share).fit(features)
            grid = grid_for(rfm.segment_map, scorer.unusable_, custom=rfm.custom_maps)
            scored, _ = segment_customers(features, scorer, grid, classes)
        except SegkitError:
            continue
        found.append(pd.DataFrame({"customer_id": scored["customer_id"].astype(str).to_numpy(), "sent_at": pd.Timestamp(day),
                                   "segment": scored["segment"].to_numpy(), "rfm_class": scored["rfm_class"].to_numpy()}))
    return pd.concat(found, ignore_index=True) if found else None


def wilson_interval(successes, trials, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """The Wilson score interval (Wilson 1927) of each proportion successes/trials, from scipy's
    `binomtest(...).proportion_ci(method="wilson")`; NaN where trials is 0."""
    from scipy.stats import binomtest  # scipy.stats takes about 1 s to import: only runs with campaigns pay it

    successes = np.asarray(successes, dtype="int64").ravel()
    trials = np.asarray(trials, dtype="int64").ravel()
    low, high = np.full(len(trials), np.nan), np.full(len(trials), np.nan)
    for i, (k, n) in enumerate(zip(successes, trials)):
        if n > 0:
            ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
            low[i], high[i] = ci.low, ci.high
    return low, high


def response_rates(joined: pd.DataFrame, by: str = "segment", per_campaign: bool = False,
                   confidence: float = 0.95) -> pd.DataFrame:
    """Response of the contacted customers (control rows left out) per group of `by` (segment,
    rfm_class, cluster_name), over all campaigns or, with `per_campaign`, per campaign and group.

    One row per group: sent (customer-campaign rows), responses, rate, rate_low and rate_high (the
    Wilson interval at `confidence`), lift (rate over the overall rate of the same campaign(s); 1.2
    means 20% more responses than average) and revenue where the table has it.
    """
    if by not in joined.columns:
        raise DataError(f"the campaign rows have no {by} column (the join adds segment, rfm_class and, where "
                        "04_clustering ran, cluster_name)")
    treated = joined[~joined["control"].astype(bool)]
    keys = ["campaign", by] if per_campaign else [by]
    aggregations = {"sent": ("responded", "size"), "responses": ("responded", "sum")}
    if "revenue" in treated.columns:
        aggregations["response_revenue"] = ("revenue", "sum")
    table = treated.groupby(keys, observed=True, dropna=False).agg(**aggregations).reset_index()
    overall = (treated.groupby("campaign").agg(o_sent=("responded", "size"), o_resp=("responded", "sum"))
               if per_campaign else pd.DataFrame({"o_sent": [len(treated)], "o_resp": [treated["responded"].sum()]}))
    if per_campaign:
        table = table.merge(overall.reset_index(), on="campaign")
    else:
        table = table.assign(o_sent=overall["o_sent"].iat[0], o_resp=overall["o_resp"].iat[0])
    table["responses"] = table["responses"].astype("int64")
    table["rate"] = table["responses"] / table["sent"]
    table["rate_low"], table["rate_high"] = wilson_interval(table["responses"], table["sent"], confidence)
    table["lift"] = table["rate"] / (table["o_resp"] / table["o_sent"])
    table = table.drop(columns=["o_sent", "o_resp"]).rename(columns={by: "group"})
    return table.sort_values([*(["campaign"] if per_campaign else []), "rate"], ascending=[*([True] if per_campaign else []), False],
                             kind="stable").reset_index(drop=True)


def overall_rate(joined: pd.DataFrame) -> float:
    """The response rate of all contacted customer-campaign rows (control rows left out)."""
    treated = joined[~joined["control"].astype(bool)]
    return float(treated["responded"].mean()) if len(treated) else float("nan")


def uplift(joined: pd.DataFrame, by: str = "segment", confidence: float = 0.95) -> pd.DataFrame:
    """Uplift per group: the response rate of the contacted customers minus that of the control group
    (held out, not contacted), with Newcombe's hybrid score interval for a difference of two
    proportions (Newcombe 1998, "Interval estimation for the difference between independent
    proportions", method 10), built from the two Wilson intervals. A group "all" comes first.

    One row per group that has both contacted and control rows: treated, treated_rate, control,
    control_rate, uplift, uplift_low, uplift_high. Empty when the table has no control group.
    """
    if not joined["control"].astype(bool).any():
        return pd.DataFrame(columns=["group", "treated", "treated_rate", "control", "control_rate", "uplift",
                                     "uplift_low", "uplift_high"])
    frame = joined.assign(control=joined["control"].astype(bool))
    parts = [frame.assign(**{by: "all"}), frame]
    stacked = pd.concat(parts, ignore_index=True)
    counts = stacked.groupby([by, "control"], dropna=False)["responded"].agg(["size", "sum"]).unstack("control")
    counts = counts.dropna()
    if counts.empty:
        return uplift(joined.iloc[0:0], by, confidence)
    n1, k1 = counts[("size", False)].astype("int64"), counts[("sum", False)].astype("int64")
    n0, k0 = counts[("size", True)].astype("int64"), counts[("sum", True)].astype("int64")
    p1, p0 = k1 / n1, k0 / n0
    l1, u1 = wilson_interval(k1, n1, confidence)
    l0, u0 = wilson_interval(k0, n0, confidence)
    difference = p1 - p0
    table = pd.DataFrame({
        "group": counts.index.astype(str), "treated": n1.to_numpy(), "treated_rate": p1.to_numpy(),
        "control": n0.to_numpy(), "control_rate": p0.to_numpy(), "uplift": difference.to_numpy(),
        "uplift_low": (difference - np.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)).to_numpy(),
        "uplift_high": (difference + np.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)).to_numpy(),
    })
    table["_all"] = table["group"] != "all"
    return table.sort_values(["_all", "uplift"], ascending=[True, False], kind="stable").drop(columns="_all").reset_index(drop=True)


def worth_targeting(rates: pd.DataFrame, lifts: pd.DataFrame | None = None, min_customers: int = 30) -> dict[str, list[str]]:
    """The groups worth targeting next time: by response, those whose Wilson lower bound lies above
    the overall response rate (`rates` from `response_rates`, over all campaigns); by uplift, those
    whose uplift lower bound lies above the overall uplift (`lifts` from `uplift`, its "all" row).
    Groups with fewer than `min_customers` rows sent are not named (too few to tell).
    Returns {"response": [...], "uplift": [...]}, each highest first."""
    found = {"response": [], "uplift": []}
    if len(rates):
        overall = (rates["responses"].sum() / rates["sent"].sum())
        good = rates[(rates["rate_low"] > overall) & (rates["sent"] >= min_customers)]
        found["response"] = list(good.sort_values("rate_low", ascending=False, kind="stable")["group"].astype(str))
    if lifts is not None and len(lifts) and (lifts["group"] == "all").any():
        base = float(lifts.loc[lifts["group"] == "all", "uplift"].iat[0])
        rest = lifts[(lifts["group"] != "all") & (lifts["uplift_low"] > base)
                     & (lifts["treated"] >= min_customers)]
        found["uplift"] = list(rest.sort_values("uplift_low", ascending=False, kind="stable")["group"].astype(str))
    return found
