"""The 07_cross_sell report's tables and sentences, from the results of segkit.crosssell: segment
codes in words (the run's segment map or class map), columns in the report's names. They compute
nothing new; each returns a frame for `segkit.report.html.table` or a sentence from `say`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from segkit.i18n import t
from segkit.report.html import say


def _names(segment_map, lang: str):
    labels = segment_map.labels(lang) if segment_map is not None else {}
    labels = {**labels, "all": t("crosssell.all", lang)}
    return lambda code: labels.get(code, code)


def has_items(transactions, item: str) -> bool:
    """Whether the clean transactions have an `item` column with at least one value (or, for a
    database source's per-customer summaries, `Purchases`, at least one item): without it there are
    no baskets, and 07_cross_sell says so in one sentence."""
    from segkit.crosssell.summaries import Purchases

    if isinstance(transactions, Purchases):
        return transactions.item == item and len(transactions.items) > 0
    if transactions is None or item not in transactions.columns:
        return False
    if isinstance(transactions, pd.DataFrame):
        return bool(transactions[item].notna().any())
    return bool(transactions[item].notnull().any().to_pyarrow().as_py())  # an engine table: asked there


def index_table(mix: pd.DataFrame, segment_map, lang: str) -> tuple[pd.DataFrame, list[str]]:
    """(frame, labels) for `table(frame, lang, labels=labels)`: one row per group (in the map's order),
    one column per item, the whole-number index (100 = all customers)."""
    from segkit.crosssell.category_mix import mix_matrix

    order = segment_map.codes if segment_map is not None else None
    matrix = mix_matrix(mix, "index", order=order).round(0).astype("int64")
    name = _names(segment_map, lang)
    frame = matrix.reset_index()
    frame["group"] = [name(g) for g in frame["group"]]
    return frame, [t("col.segment", lang), *map(str, matrix.columns)]


def rules_table(rules: pd.DataFrame, segment_map, lang: str) -> pd.DataFrame:
    """Rules with the segment in words and support named rule_support (col.support means another thing)."""
    name = _names(segment_map, lang)
    shown = rules.assign(group=[name(g) for g in rules["group"]]).rename(columns={"group": "segment",
                                                                                 "support": "rule_support"})
    return shown[["segment", "antecedent", "consequent", "baskets", "rule_support", "confidence", "lift"]]


def next_best_table(next_best: pd.DataFrame, segment_map, lang: str, top: int = 3) -> pd.DataFrame:
    """Per segment: customers, customers with a next best item, and the items most often offered
    ("home (120), toys (80)")."""
    name = _names(segment_map, lang)
    rows = []
    order = segment_map.codes if segment_map is not None else sorted(next_best["group"].dropna().unique())
    # each group's rows once, in their order (not a set of the whole column per group: Arrow strings
    # iterated value by value cost seconds at a million customers)
    positions = next_best.groupby("group", sort=False).indices
    for code in [c for c in order if c in positions]:
        part = next_best.iloc[positions[code]]
        counts = part["next_best"].dropna().value_counts().head(top)
        rows.append({"segment": name(code), "customers": len(part), "with_next_best": int(part["next_best"].notna().sum()),
                     "top_next_best": ", ".join(f"{item} ({n:,})" for item, n in counts.items())})
    return pd.DataFrame(rows, columns=["segment", "customers", "with_next_best", "top_next_best"])


def save_next_best(data_dir: str | Path, next_best: pd.DataFrame) -> None:
    """Save the per-customer next best item as the run's `next_best` stage (customer_id, segment,
    next_best, rule_antecedent, rule_lift, rule_confidence); the exports put it beside each customer
    (`next_best_category` in exports/customers.*, for the CRM)."""
    from segkit.store import save_stage

    save_stage(data_dir, next_best=next_best.rename(columns={"group": "segment"}))


def join_table(report: pd.DataFrame, lang: str) -> pd.DataFrame:
    return report.assign(outcome=[t(f"crosssell.outcome.{o}", lang) for o in report["outcome"]])


def join_text(report: pd.DataFrame, lang: str):
    rows = report.set_index("outcome")
    early = rows.loc["no_purchase_before_send"] if "no_purchase_before_send" in rows.index else {"rows": 0, "customers": 0}
    return say("crosssell.join", lang, rows=int(report["rows"].sum()), missing_rows=int(rows.loc["not_in_transactions", "rows"]),
               missing_customers=int(rows.loc["not_in_transactions", "customers"]), early_rows=int(early["rows"]))


def send_dates_note(campaigns: pd.DataFrame, lang: str):
    """The note on send dates that nothing settled the order of day and month of (`read_campaigns`'
    `attrs["send_dates_unsettled"]`), said; None where there are none."""
    note = campaigns.attrs.get("send_dates_unsettled")
    if not note:
        return None
    return say("crosssell.send_dates_unsettled", lang, **{k: v for k, v in note.items() if k != "key"})


def segment_when(at_send: pd.DataFrame | None, lang: str, by: str = "segment") -> str:
    """Which segment (`by` "segment") or class (`by` "rfm_class") the rates use: the one on the send
    date (recomputed), or the run's."""
    suffix = "_class" if by == "rfm_class" else ""
    return t(("crosssell.when.send_date" if at_send is not None else "crosssell.when.run") + suffix, lang)


def rates_table(rates: pd.DataFrame, segment_map, lang: str, by: str = "segment") -> pd.DataFrame:
    """`segkit.crosssell.response_rates` for the report: the group named by `segment_map` (None: as it
    is, a cluster's name) under the header of what it is (`by`: segment, rfm_class or cluster), then
    sent, responses, the rate with its range, the lift and the response revenue."""
    name = _names(segment_map, lang)
    column = {"cluster_name": "cluster"}.get(by, by)
    shown = rates.assign(group=[name(g) for g in rates["group"]]).rename(columns={"group": column})
    shown = shown.rename(columns={"response_revenue": "revenue"})  # shown as money
    keep = [c for c in ("campaign", column, "sent", "responses", "rate", "rate_low", "rate_high", "lift",
                        "revenue") if c in shown.columns]
    return shown[keep]


def campaign_table(joined: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Each campaign's response over all contacted customers (campaign, sent, responses, rate, range)."""
    from segkit.crosssell.campaigns import response_rates

    rates = response_rates(joined.assign(everyone="all"), by="everyone", per_campaign=True, confidence=confidence)
    return rates.drop(columns=["group", "lift"]).rename(columns={"response_revenue": "revenue"})


def uplift_table(lifts: pd.DataFrame, segment_map, lang: str) -> pd.DataFrame:
    name = _names(segment_map, lang)
    return lifts.assign(group=[name(g) for g in lifts["group"]]).rename(columns={"group": "segment"})


def targeting_text(found: dict, overall: float, segment_map, lang: str):
    """The sentence naming the segments worth targeting next time (see `worth_targeting`)."""
    name = _names(segment_map, lang)
    sep = "、" if lang == "zh" else ", "
    response, lifted = sep.join(map(name, found["response"])), sep.join(map(name, found["uplift"]))
    if response and lifted:
        return say("crosssell.target_both", lang, response=response, uplift=lifted)
    if response:
        return say("crosssell.target", lang, response=response)
    if lifted:
        return say("crosssell.target_uplift", lang, uplift=lifted)
    return say("crosssell.target_none", lang, overall=overall)


def index_shown(mix: pd.DataFrame, segment_map, lang: str):
    """The index table (`index_table`) as a report table: items are values from the data, shown as given."""
    from segkit.report.html import table

    frame, labels = index_table(mix, segment_map, lang)
    return table(frame, lang, labels=labels)


def valuable_codes(segment_map) -> tuple[str, ...]:
    """The valuable segments of the map: its own `group: valuable` where it names one (rm6 does), else
    Champions and Loyal (as the case study: segkit.report.tables.VALUABLE)."""
    from segkit.report.tables import VALUABLE

    return segment_map.group("valuable") or tuple(c for c in VALUABLE if c in segment_map.codes)


def distinguishing_text(segment_map, lang: str, item: str):
    """The sentence before the table of what sets the valuable segments (`valuable_codes`) apart."""
    valuable = valuable_codes(segment_map)
    item_word = t(f"crosssell.item.{item}", lang)
    if not valuable:
        return say("crosssell.no_valuable", lang, item=item_word)
    sep = "、" if lang == "zh" else ", "
    return say("crosssell.distinguishing", lang, item=item_word,
               segments=sep.join(segment_map.label(code, lang) for code in valuable))


def no_items_text(transactions, item: str, lang: str):
    """The one sentence 07_cross_sell shows when there are no baskets: the run kept neither a clean
    transactions file nor a database source's summaries (a run from before they existed), or they
    have no `item` values (and, where the other kind of item has values, how to read the baskets by it:
    `cross_sell.item`)."""
    if transactions is None:
        return say("crosssell.no_transactions", lang)
    from segkit.crosssell.summaries import Purchases

    other = "product" if item == "category" else "category"
    # the other kind of item is there (in the rows, or a database run's summaries of it): the params' line to read it
    if has_items(transactions, other) or (isinstance(transactions, Purchases) and other in transactions.also):
        return say("crosssell.other_items", lang, item=t(f"crosssell.item.{item}", lang),
                   other=t(f"crosssell.item.{other}", lang), column=other)
    return say("crosssell.no_items", lang, item=t(f"crosssell.item.{item}", lang))
