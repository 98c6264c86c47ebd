"""The evaluation notebook's tables (05_evaluation): the results of `segkit.evaluate` with their
words in the report language. They return frames for `segkit.report.html.table` (or, for the
confusion matrix, whose columns are classes, the rendered table itself); nothing here computes."""

from __future__ import annotations

import pandas as pd

from segkit.i18n import column_label, format_conditions, t

MONEY_COLUMNS = ("revenue", "clv", "spend_growth", "expected_spend")  # value/potential columns shown as money


def _percent(values) -> list:
    """Shares as text ("72.0%"; missing as "—"), for columns whose names the table does not know; as
    `segkit.report.numbers.percent` shows them (a share short of 1 is ">99.9%", never "100.0%")."""
    from segkit.report.numbers import percent

    return ["—" if pd.isna(v) else percent(v, "en", 1) for v in values]  # "%" reads the same in both languages


def _money(values, currency) -> list:
    from segkit.report.html import Money

    return ["—" if pd.isna(v) else format(Money(float(v), currency), ",.2f") for v in values]


def _number(values, digits: int = 0) -> list:
    return ["—" if pd.isna(v) else f"{v:,.{digits}f}" for v in values]


def class_labels(lang: str, segment_map=None, class_map=None, cluster_names: dict | None = None) -> dict:
    """{(scheme, code): name} for the RFM segments (`segment_map`, a SegmentMap), the eight classes
    (`class_map`) and clusters (`cluster_names`: number -> name; else "cluster 0", ...), plus
    {scheme: title} for the schemes segment, rfm_class, cluster and calibration_revenue."""
    out = {s: t(f"evaluate.scheme.{s}", lang) for s in ("segment", "rfm_class", "cluster", "calibration_revenue")}
    out["_lang"] = lang
    for scheme, mapping in (("segment", segment_map), ("rfm_class", class_map)):
        if mapping is not None:
            out.update({(scheme, code): mapping.label(code, lang) for code in mapping.codes})
    for number, name in (cluster_names or {}).items():
        out[("cluster", number)] = name
    return out


def _name(labels: dict, scheme: str, code) -> str:
    if (scheme, code) in labels:
        return labels[(scheme, code)]
    return t("evaluate.cluster_number", labels["_lang"], number=code) if scheme == "cluster" else str(code)


def quality_table(quality: pd.DataFrame) -> pd.DataFrame:
    """`compare_quality` output with its columns named for the report."""
    shown = quality.assign(calinski_harabasz=_number(quality["calinski_harabasz"]))
    return shown.rename(columns={"labeling": "eval_labeling", "groups": "eval_groups",
                                 "calinski_harabasz": "eval_calinski_harabasz",
                                 "davies_bouldin": "eval_davies_bouldin", "sample": "eval_sample"})


def stability_table(stability, lang: str, names: dict | None = None) -> pd.DataFrame:
    """Per cluster: its name, customers, mean and lowest Jaccard over the runs, the share of runs in
    which it dissolved, and Hennig's verdict in words."""
    c = stability.clusters
    return pd.DataFrame({"cluster": [(names or {}).get(k, k) for k in c["cluster"]], "customers": c["customers"],
                         "eval_mean_jaccard": c["mean_jaccard"], "eval_min_jaccard": c["min_jaccard"],
                         "eval_dissolved_share": _percent(c["dissolved_share"]),
                         "eval_verdict": [t(f"evaluate.verdict.{v}", lang) for v in c["verdict"]]})


def class_rules_table(explanation, lang: str, names: dict | None = None, currency=None) -> pd.DataFrame:
    """The tree's IF/THEN rules grouped by the class they give: eval_class_given (the THEN, first: the
    rows are grouped by it), if, customers (training customers at the leaf), purity, and the leaf's share
    of the customers the rules give that class. With `currency`, money thresholds are in it."""
    rules = explanation.rules_by_class()
    return pd.DataFrame({"eval_class_given": [(names or {}).get(c, c) for c in rules["target"]],
                         "if": [format_conditions(r, lang, currency) for r in rules["conditions"]],
                         "customers": rules["customers"], "purity": rules["purity"],
                         "eval_class_share": _percent(rules["class_share"])})


def per_class_table(explanation, names: dict | None = None) -> pd.DataFrame:
    """Precision, recall, F1 and support per class on the customers the tree did not see."""
    shown = explanation.per_class.rename(columns={"target": "eval_class", "f1": "eval_f1"})
    return shown.assign(eval_class=[(names or {}).get(c, c) for c in shown["eval_class"]])


def cluster_codes(cluster_names: dict) -> dict:
    """{cluster name: "C<number>"} from `segkit.cluster_names` ({number: name}): the short code a
    table heads a cluster's column with, the number as the clusters stage and the exports give it."""
    return {name: f"C{number}" for number, name in cluster_names.items()}


def confusion_view(explanation, lang: str, names: dict | None = None, codes: dict | None = None):
    """The confusion matrix of the rules on unseen customers as a report table: one row per true
    class, one column per class the rules give (customers).

    A column header shows at most HEADER_WIDTH characters of a name: generated cluster names were cut
    mid-word ("cooling or long inactive, frequent or occasiona…"), the part that tells two clusters
    apart. With `codes` ({class: short code}, e.g. `cluster_codes`), and whenever a name would be cut
    or two would read alike in a header, the columns are headed by the codes (else 1, 2, ...) and
    each row by its code and full name: no two columns ever read the same."""
    from segkit.report.html import HEADER_WIDTH, short_label, table

    confusion = explanation.confusion
    full = {c: str((names or {}).get(c, c)) for c in (*confusion.index, *confusion.columns)}
    headers = [short_label(full[c], HEADER_WIDTH) for c in confusion.columns]
    if codes is None and (len(set(headers)) < len(headers) or headers != [full[c] for c in confusion.columns]):
        codes = {c: str(number) for number, c in enumerate(dict.fromkeys((*confusion.index, *confusion.columns)), 1)}
    frame = confusion.reset_index(drop=True)
    if codes is None:
        frame.insert(0, "actual", [full[c] for c in confusion.index])
        return table(frame, lang, labels=[t("evaluate.confusion.corner", lang)] + headers)
    frame.insert(0, "actual", [f"{codes.get(c, c)} {full[c]}" for c in confusion.index])
    return table(frame, lang, labels=[t("evaluate.confusion.corner", lang)] + [str(codes.get(c, c)) for c in confusion.columns])


def matrix_table(matrix, lang: str, currency=None) -> pd.DataFrame:
    """The segmentation matrix per quadrant: quadrant and suggested action in words, customers and
    their share, revenue and its share, mean value and mean potential (in `currency` when the
    column is money: revenue, clv, spend_growth)."""
    s = matrix.summary

    def shown(values, column):
        return _money(values, currency) if column in MONEY_COLUMNS else _number(values, 2)

    return pd.DataFrame({"eval_quadrant": [t(f"evaluate.quadrant.{q}", lang) for q in s["quadrant"]],
                         "customers": s["customers"], "customer_share": s["customer_share"],
                         "revenue": s["revenue"], "revenue_share": s["revenue_share"],
                         "eval_mean_value": shown(s["mean_value"], matrix.value),
                         "eval_mean_potential": shown(s["mean_potential"], matrix.potential),
                         "eval_action": [t(f"evaluate.action.{q}", lang) for q in s["quadrant"]]})


def next_period_table(check, labels: dict, currency=None) -> pd.DataFrame:
    """`NextPeriodCheck.classes` with schemes and classes in words, amounts in `currency`."""
    c = check.classes
    return pd.DataFrame({"eval_scheme": [labels.get(s, s) for s in c["scheme"]],
                         "eval_class": [_name(labels, s, k) for s, k in zip(c["scheme"], c["class"])],
                         "customers": c["customers"],
                         "eval_calibration_revenue": _money(c["calibration_revenue"], currency),
                         "eval_holdout_revenue": _money(c["holdout_revenue"], currency),
                         "eval_revenue_per_customer": _money(c["revenue_per_customer"], currency),
                         "eval_orders_per_customer": _number(c["orders_per_customer"], 2),
                         "eval_buyer_share": _percent(c["buyer_share"]), "eval_lift": _number(c["lift"], 2)})


# The next-period check of the purchase models (`segkit.models.clv.holdout_check`): "predicted" is
# BG/NBD's, "alternative" Pareto/NBD's (where it could be fitted); each header names its model.
HOLDOUT_COLUMNS = {"predicted": "eval_bgnbd_predicted", "predicted_mean": "eval_bgnbd_predicted_mean",
                   "alternative": "eval_pareto_predicted", "alternative_mean": "eval_pareto_predicted_mean"}


def holdout_table(check: pd.DataFrame) -> pd.DataFrame:
    """The holdout check with its columns named for the report: each prediction with its model."""
    return check.rename(columns=HOLDOUT_COLUMNS)


def high_value_table(check, labels: dict) -> pd.DataFrame:
    """Precision, recall and F1 of "high value" per classification (the first row is the baseline:
    the top customers by calibration revenue), with the classes predicted high."""
    h = check.high_value
    classes = [", ".join(_name(labels, s, _code(k)) for k in str(text).split(", ")) if text else "—"
               for s, text in zip(h["scheme"], h["classes"])]
    return pd.DataFrame({"eval_scheme": [labels.get(s, s) for s in h["scheme"]], "eval_predicted_high": h["predicted"],
                         "eval_actual_high": h["actual"], "precision": h["precision"], "recall": h["recall"],
                         "eval_f1": _number(h["f1"], 3), "eval_classes_high": classes})


def _code(text: str):
    return int(text) if text.lstrip("-").isdigit() else text


def lift_labels(labels: dict, check) -> dict:
    """`labels` completed with a name for every (scheme, class) of the check (for the lift chart)."""
    return {**labels, **{(s, k): _name(labels, s, k) for s, k in zip(check.classes["scheme"], check.classes["class"])}}


def setting_name(row, lang: str) -> str:
    """A setting in words: "k-means, k = 4", "RFM segments, 5 bins", "eight classes"."""
    if row["method"] == "kmeans":
        features = row.get("features")  # the setting's own columns, as compare_settings joins them
        extra = ""
        if isinstance(features, str) and features:
            named = t("name.separator", lang).join(column_label(f, lang) for f in features.split(", "))
            extra = f"（{named}）" if lang == "zh" else f" ({named})"
        return t("evaluate.setting.kmeans", lang, k=int(row["k"])) + extra
    if row["method"] == "rfm":
        return t("evaluate.setting.rfm", lang, bins=int(row["bins"]))
    return t("evaluate.method.classes", lang)


def best_name(table: pd.DataFrame, lang: str) -> str:
    """The setting `compare_settings` marked best, in words ("—" when none could be scored)."""
    best = table[table["best"]]
    return setting_name(best.iloc[0], lang) if len(best) else "—"


def compare_sentences(table: pd.DataFrame, customers: int, lang: str) -> list[tuple[str, dict]]:
    """The sentence over `compare_settings` output: how many settings, on all `customers` or on a
    random sample of them (evaluate.compare_max_customers), and the best by the criterion. For
    `segkit.report.html.say_each`."""
    sampled = table.attrs["customers"] != customers
    return [("evaluate.compare_sample" if sampled else "evaluate.compare",
             {"n": len(table), "criterion": t(f"evaluate.criterion.{table.attrs['criterion']}", lang),
              "best": best_name(table, lang), "customers": table.attrs["customers"], "all": customers})]


# The settings comparison in two tables of the same rows, each narrow enough for a portrait page at the
# report's size (one table of the eleven figures was set at 5.5 pt in the PDF): how well the groups are
# told apart, then how well they serve (rules, next-period lift, high-value customers).
COMPARE_PARTS = {"quality": ("groups", "silhouette", "calinski_harabasz", "davies_bouldin", "stability"),
                 "use": ("tree_accuracy", "tree_f1", "top_lift", "high_precision", "high_recall", "high_f1")}


def compare_table(table: pd.DataFrame, lang: str, part: str | None = None) -> pd.DataFrame:
    """`compare_settings` output for the report: one row per setting in words, the figures, the
    best row marked with ★ (the note column only when some setting could not run). `part`: only
    the figures of COMPARE_PARTS[part] ("quality": groups and the indices; "use": the rules, the
    lift and the high-value figures; the note with "quality"), None: all of them."""
    shown = pd.DataFrame({"eval_setting": [setting_name(row, lang) for _, row in table.iterrows()]})
    figures = COMPARE_PARTS[part] if part is not None else (*COMPARE_PARTS["quality"], *COMPARE_PARTS["use"])
    for column in figures:
        if column not in table.columns:
            continue
        values = table[column]
        if column in ("tree_accuracy", "high_precision", "high_recall"):
            values = _percent(values)
        elif column == "calinski_harabasz":
            values = _number(values)
        elif column == "groups":
            values = _number(values)
        shown[column if column == "silhouette" else f"eval_{column}"] = list(values)
    if table["note"].astype(bool).any() and part != "use":
        shown["eval_note"] = table["note"].to_numpy()
    shown["eval_best"] = ["★" if b else "" for b in table["best"]]
    return shown
