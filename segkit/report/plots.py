"""Charts for the reports. Each function returns a matplotlib Figure and neither saves nor shows it.

Labels come from `segkit.i18n`, so the same call draws the Chinese or the English chart; for
Chinese, `use_language("zh")` finds a CJK font (Noto Sans CJK, Source Han, WenQuanYi, ...).
Numbers on axes and in annotations come from `segkit.report.numbers` (the report's language).
The statistical charts (heatmaps, distributions, bar and point charts, with their intervals) are
drawn with seaborn (Waskom 2021, JOSS 6(60) 3021) on matplotlib; line charts of a curve or a sweep,
Ward's tree (SciPy) and the flow chart (SankeyFlow) are matplotlib. One palette: `PALETTE` (the
report pages take their colours from it too, segkit.report.pages.palette_css), `SEQUENTIAL` and
`DIVERGING` colour maps made from it for the heatmaps.
"""

from __future__ import annotations

import matplotlib
import matplotlib.dates
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib import font_manager
from matplotlib.colors import LinearSegmentedColormap

# pyplot and seaborn (seaborn imports scipy.stats: together about 1.4 s and 80 MB) are imported by the
# functions that draw, so that importing this module (each notebook's first cell) stays cheap. A run's
# kernel that starts with its notebook's imports made imports them too (segkit.report.runner.DRAWING_MODULES).

from segkit.i18n import rule_name, t
from segkit.classify.value import concentration_curve
from segkit.report import numbers
from segkit.report.html import LABEL_WIDTH, short_label

CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Source Han Sans SC", "Source Han Sans CN",
             "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Microsoft YaHei", "SimHei", "PingFang SC",
             "Heiti SC", "AR PL UMing CN")
PALETTE = ("#2f6690", "#d9a441", "#3a7d44", "#c2473a", "#7b5ea7", "#5b8c85", "#b5651d", "#8a8a8a")
MONEY_KPIS = ("revenue", "avg_order_value")  # the monthly figures (segkit.monthly.trends.KPIS) that are money
# Heatmaps: light to the palette's blue for amounts and shares; blue (below) to red (above) around a centre.
# SEQUENTIAL is seaborn's light_palette(PALETTE[0], as_cmap=True), made without importing seaborn: its
# light end is PALETTE[0]'s hue at 15% of its saturation and 95% lightness in HUSL (checked against
# seaborn by tests/test_lazy_imports.py); DIVERGING is seaborn's blend_palette of its three colours.
LIGHT_ACCENT = (0.9393618055524801, 0.9440147456995199, 0.950305974566443)
SEQUENTIAL = LinearSegmentedColormap.from_list("blend", [LIGHT_ACCENT, PALETTE[0]])
DIVERGING = LinearSegmentedColormap.from_list("blend", [PALETTE[0], "#f7f7f7", PALETTE[3]])


class _PercentTicks(matplotlib.ticker.Formatter):
    """Share tick labels (0.25 = 25%) with as few decimals as the ticks need to be told apart: steps
    of 2.5 points read 2.5%, 5.0%, 7.5% (whole numbers made 2%, 5%, 8%), steps of 10 points 10%, 20%.
    The decimals are decided once for the ticks matplotlib is about to label (`set_locs`), not once a
    label: asking the axis for its ticks in every call ran its locator again for each label (about 40%
    of drawing a chart with two share axes)."""

    def __init__(self, lang: str):
        self.lang = lang
        self.decimals: int | None = None

    def set_locs(self, locs) -> None:
        super().set_locs(locs)
        self.decimals = self._decimals_for(locs)

    @staticmethod
    def _decimals_for(ticks) -> int:
        points = np.asarray(ticks, dtype=float) * 100
        return next((d for d in range(3) if np.allclose(points, np.round(points, d), rtol=0, atol=1e-9)), 2)

    def __call__(self, value, pos=None):
        # a label asked for alone (a cursor's readout, a test) has no ticks set: as few decimals as it needs
        decimals = self.decimals if self.decimals is not None else self._decimals_for([value])
        return numbers.percent(value, self.lang, decimals)


def _percent_axis(axis, lang: str, decimals: int | None = None) -> None:
    """Tick labels of a share axis (0.25 = 25%) in the report's language: with `decimals`, or as
    few as the ticks need (`_PercentTicks`)."""
    formatter = _PercentTicks(lang) if decimals is None else matplotlib.ticker.FuncFormatter(
        lambda v, _: numbers.percent(v, lang, decimals))
    axis.set_major_formatter(formatter)


def _number_axis(axis, lang: str, counts: bool = False) -> None:
    """Tick labels of a number axis in the report's language (Chinese: 万 / 亿 for large values);
    `counts`: whole numbers only (no tick at 1.75 rows)."""
    if counts:
        axis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    axis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: numbers.axis_number(v, lang)))


def _money_axis(axis, lang: str, currency=None) -> None:
    """Tick labels of a money axis in the run's currency ("$500,000"; Chinese "¥50万"): `currency` is
    params.currency (None: the number alone)."""
    axis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: numbers.axis_money(v, lang, currency)))


def _money_ticks(lang: str, currency=None):
    # a colour bar's tick format (seaborn's cbar_kws "format")
    return matplotlib.ticker.FuncFormatter(lambda v, _: numbers.axis_money(v, lang, currency))


def _annotations(table: pd.DataFrame, shown) -> np.ndarray:
    # the text of each heatmap cell (seaborn leaves the missing cells blank)
    return np.vectorize(lambda v: "" if pd.isna(v) else shown(v), otypes=[object])(table.to_numpy(dtype=float))


def find_cjk_font() -> str | None:
    """The name of an installed font that draws Chinese, or None (then Chinese draws as boxes)."""
    def search() -> str | None:
        names = {f.name for f in font_manager.fontManager.ttflist}
        return next((name for name in CJK_FONTS if name in names), None)

    found = search()
    if found is None:
        # matplotlib caches its font list; fonts installed after the cache was written are unseen.
        font_manager.fontManager = font_manager._load_fontmanager(try_read_cache=False)
        found = search()
    return found


def use_language(lang: str) -> str | None:
    """Set matplotlib's fonts for `lang`; returns the CJK font used for "zh" (None for "en")."""
    matplotlib.rcParams["axes.unicode_minus"] = False
    matplotlib.rcParams["text.parse_math"] = False  # labels come from data and params: "$" is a dollar, not TeX
    matplotlib.rcParams["figure.dpi"] = 100
    matplotlib.rcParams["savefig.dpi"] = 110
    if lang != "zh":
        matplotlib.rcParams["font.sans-serif"] = ["DejaVu Sans"]
        return None
    font = find_cjk_font()
    if font is None:
        import warnings

        warnings.warn("no CJK font found: Chinese chart text will draw as boxes; "
                      "install one (Debian/Ubuntu: apt-get install fonts-noto-cjk)", stacklevel=2)
        return None
    matplotlib.rcParams["font.sans-serif"] = [font, "DejaVu Sans"]
    matplotlib.rcParams["font.family"] = "sans-serif"
    return font


def _figure(width: float = 8.0, height: float = 4.2):
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(width, height), layout="constrained")
    plt.close(fig)  # returned for display; pyplot must not show it a second time
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


# the bars of the rows set aside: a data error's (to fix at the source), a rule's (expected)
ERROR_COLOUR, RULE_COLOUR = PALETTE[3], PALETTE[7]


def _by_rule(reason: str) -> bool:
    from segkit.intake.cleaning import EXPECTED_RULES

    return reason in EXPECTED_RULES


def set_aside_by_reason(ledger: pd.DataFrame, lang: str):
    """One bar per reason, the largest on top: a data error's in `ERROR_COLOUR`, the rows a rule sets
    aside as expected (refunds, cancellations, rows after the as-of date: `EXPECTED_RULES`) in
    `RULE_COLOUR`, with a legend of the kinds there."""
    import seaborn as sns
    from matplotlib.patches import Patch

    aside = ledger[(ledger["outcome"] == "set_aside") & (ledger["rows"] > 0)].sort_values("rows")
    aside = aside.iloc[::-1]  # the largest reason on top
    fig, ax = _figure(8, 0.5 + 0.45 * max(len(aside), 2))
    kinds = [_by_rule(r) for r in aside["rule"]]
    names = [rule_name(r, lang) for r in aside["rule"]]
    sns.barplot(saturation=1, x=aside["rows"].to_numpy(), y=names, orient="h", hue=names, legend=False,
                palette={name: RULE_COLOUR if by_rule else ERROR_COLOUR for name, by_rule in zip(names, kinds)}, ax=ax)
    for y, value in enumerate(aside["rows"]):
        ax.text(value, y, f" {numbers.integer(value, lang)}", va="center")
    if kinds:  # the kinds there, so that the reading's "the legend tells ..." always has one
        shown = [(ERROR_COLOUR, "chart.set_aside_error")] * (not all(kinds)) + \
            [(RULE_COLOUR, "chart.set_aside_rule")] * any(kinds)
        ax.legend(handles=[Patch(color=colour, label=t(key, lang)) for colour, key in shown], frameon=False,
                  loc="lower right", fontsize=8)
    _number_axis(ax.xaxis, lang, counts=True)
    ax.set_title(t("chart.set_aside_by_reason", lang))
    ax.set_xlabel(t("col.rows", lang))
    ax.set_ylabel("")
    return fig


def set_aside_by_month(quarantine: pd.DataFrame, lang: str):
    import seaborn as sns
    dated = quarantine.dropna(subset=["ordered_at"])
    counts = (dated.assign(month=dated["ordered_at"].dt.to_period("M").astype(str))
              .pivot_table(index="month", columns="reason", values="source_row", aggfunc="count", fill_value=0))
    fig, ax = _figure(9, 3.8)
    long = counts.rename_axis(index="month", columns="reason").stack().rename("rows").reset_index()
    # a reason set aside by a rule, as expected (a refund, a row after the as-of date), is marked so in the legend
    long["reason"] = [t("chart.reason_by_rule", lang, reason=rule_name(reason, lang)) if _by_rule(reason)
                      else rule_name(reason, lang) for reason in long["reason"]]
    if len(long):
        # a stacked distribution of the set-aside rows over the months, one colour per reason
        sns.histplot(data=long, x="month", weights="rows", hue="reason", multiple="stack", discrete=True,
                     shrink=0.8, palette=[PALETTE[i % len(PALETTE)] for i in range(long["reason"].nunique())],
                     edgecolor="white", linewidth=0.3, alpha=1, ax=ax)
        legend = ax.get_legend()
        if legend is not None:
            legend.set_title(None)
            legend.set_frame_on(False)
            for text in legend.get_texts():
                text.set_fontsize(8)
    _number_axis(ax.yaxis, lang, counts=True)
    ax.set_title(t("chart.set_aside_by_month", lang))
    ax.set_xlabel("")
    ax.set_ylabel(t("col.rows", lang))
    ax.tick_params(axis="x", rotation=90, labelsize=7)
    return fig


def rfm_heatmap(scores: pd.DataFrame, features: pd.DataFrame, lang: str, currency=None):
    """Mean revenue per customer for each (R score, F score) cell, with the customer count; money in
    `currency` (params.currency)."""
    import seaborn as sns
    frame = scores[["r_score", "f_score"]].assign(revenue=features["revenue"].to_numpy())
    mean = frame.pivot_table(index="f_score", columns="r_score", values="revenue", aggfunc="mean")
    count = frame.pivot_table(index="f_score", columns="r_score", values="revenue", aggfunc="count")
    mean = mean.sort_index(ascending=False)
    count = count.reindex_like(mean)
    fig, ax = _figure(7, 5)
    shown = mean.astype(float).set_axis([str(c) for c in mean.columns], axis="columns").set_axis(
        [str(i) for i in mean.index], axis="index")
    labels = np.empty(shown.shape, dtype=object)
    for (i, j), value in np.ndenumerate(shown.to_numpy()):
        labels[i, j] = "" if np.isnan(value) else (f"{numbers.money(value, lang, currency, decimals=0)}\n"
                                                    f"(n={numbers.integer(count.iat[i, j], lang)})")
    sns.heatmap(shown, ax=ax, cmap=SEQUENTIAL, annot=labels, fmt="", annot_kws={"fontsize": 8},
                linewidths=0.5, linecolor="white",
                cbar_kws={"label": t("col.revenue", lang), "format": _money_ticks(lang, currency)})
    ax.set_xlabel(t("col.r_score", lang))
    ax.set_ylabel(t("col.f_score", lang))
    ax.tick_params(axis="y", labelrotation=0)
    ax.set_title(t("chart.rfm_heatmap", lang))
    return fig


def share_bars(summary: pd.DataFrame, label_column: str, lang: str, title_key: str):
    """Side-by-side bars of customer share and revenue share per group (segment or cluster)."""
    import seaborn as sns
    frame = summary.sort_values("revenue_share", ascending=False)  # the largest revenue share on top
    fig, ax = _figure(8.5, 0.8 + 0.42 * max(len(frame), 3))
    measures = {"customer_share": t("col.customer_share", lang), "revenue_share": t("col.revenue_share", lang)}
    long = frame.assign(group=short_labels(frame[label_column].astype(str), 2 * LABEL_WIDTH)).melt(
        id_vars="group", value_vars=list(measures), var_name="measure", value_name="share")
    long["measure"] = long["measure"].map(measures)
    sns.barplot(saturation=1, data=long, x="share", y="group", hue="measure", orient="h", order=list(dict.fromkeys(long["group"])),
                hue_order=list(measures.values()), palette=list(PALETTE[:2]), ax=ax)
    _percent_axis(ax.xaxis, lang)
    ax.set_xlabel("")
    ax.set_ylabel("")
    # above the bars, never over them (the longest bar may reach any corner)
    sns.move_legend(ax, "lower left", bbox_to_anchor=(0, 1.0), ncol=2, frameon=False, title=None)
    ax.set_title(t(title_key, lang), pad=22)
    return fig


def pareto_curve(revenue: pd.Series, lang: str, top: float = 0.2):
    curve = concentration_curve(revenue)
    fig, ax = _figure(6.5, 4.5)
    ax.plot(curve["customer_share"], curve["revenue_share"], color=PALETTE[0], lw=2)
    ax.plot([0, 1], [0, 1], ls="--", color=PALETTE[7], label=t("chart.equal_line", lang))
    # the figure the pages say (`top_share`: the top round(n × top) customers), not the curve read between
    # two customers, which can differ in the last digit shown
    from segkit.classify.value import top_share

    share = top_share(revenue, top)
    ax.axvline(top, color=PALETTE[3], lw=1)
    ax.annotate(f"{numbers.percent(top, lang, 0)} → {numbers.percent(share, lang, 1)}", (top, share),
                xytext=(top + 0.08, share - 0.12), arrowprops={"arrowstyle": "->"})
    _percent_axis(ax.xaxis, lang)
    _percent_axis(ax.yaxis, lang)
    ax.set_xlabel(t("chart.customer_share_axis", lang))
    ax.set_ylabel(t("chart.revenue_share_axis", lang))
    ax.set_title(t("chart.pareto", lang))
    ax.legend(frameon=False, loc="lower right")
    return fig


def silhouette_by_k(scores: dict[int, float], chosen: int, lang: str):
    fig, ax = _figure(6.5, 3.6)
    ks = sorted(scores)
    ax.plot(ks, [scores[k] for k in ks], marker="o", color=PALETTE[0])
    ax.scatter([chosen], [scores[chosen]], s=140, facecolors="none", edgecolors=PALETTE[3], linewidths=2)
    ax.set_xticks(ks)
    ax.set_xlabel(t("col.k", lang))
    ax.set_ylabel(t("col.silhouette", lang))
    ax.set_title(t("chart.silhouette_by_k", lang))
    return fig


def score_distribution(scores: pd.DataFrame, lang: str):
    """Customers per R, F and M score, side by side."""
    import matplotlib.pyplot as plt
    import seaborn as sns
    fig, axes = plt.subplots(1, 3, figsize=(9, 3), layout="constrained", sharey=True)
    plt.close(fig)
    for ax, dim, color in zip(axes, ("r", "f", "m"), PALETTE):
        # counted first: a bar per score, not a million labels for seaborn to count
        counts = scores[f"{dim}_score"].dropna().astype(int).value_counts().sort_index()
        labels = [str(s) for s in counts.index]
        sns.barplot(x=labels, y=counts.to_numpy(), order=labels, saturation=1, color=color, errorbar=None, ax=ax)
        ax.set_xlabel(t(f"col.{dim}_score", lang))
        ax.set_ylabel("")
        _number_axis(ax.yaxis, lang, counts=True)
        ax.spines[["top", "right"]].set_visible(False)
    axes[0].set_ylabel(t("col.customers", lang))
    fig.suptitle(t("chart.score_distribution", lang))
    return fig


def monthly_rates(kpis: pd.DataFrame, lang: str):
    """Retention rate and repurchase rate per month (segkit.monthly.activity.monthly_kpis)."""
    import seaborn as sns
    fig, ax = _figure(8, 3.6)
    months = pd.to_datetime(kpis["month"])
    sns.lineplot(x=months, y=kpis["retention_rate"].to_numpy(dtype=float), marker="o", color=PALETTE[0],
                 label=t("col.retention_rate", lang), ax=ax)
    sns.lineplot(x=months, y=kpis["repurchase_rate"].to_numpy(dtype=float), marker="s", color=PALETTE[1],
                 label=t("col.repurchase_rate", lang), ax=ax)
    _percent_axis(ax.yaxis, lang)
    ax.set_ylim(0, None)
    ax.set_xlabel("")  # the months speak for themselves (seaborn wrote the column's name, "month")
    ax.legend(frameon=False)
    ax.set_title(t("chart.monthly_rates", lang))
    fig.autofmt_xdate()
    return fig


def monthly_values(kpis: pd.DataFrame, lang: str, currency=None):
    """Average order value (currency units) and purchase frequency (orders per active customer) per
    month (segkit.monthly.activity.monthly_kpis), one panel each."""
    import matplotlib.pyplot as plt
    import seaborn as sns
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), layout="constrained")
    plt.close(fig)
    months = pd.to_datetime(kpis["month"])
    symbol = getattr(currency, "symbol", "")
    for ax, column, color in ((axes[0], "avg_order_value", PALETTE[0]), (axes[1], "purchase_frequency", PALETTE[1])):
        sns.lineplot(x=months, y=kpis[column].to_numpy(dtype=float), marker="o", color=color, ax=ax)
        ax.set_title(t(f"col.{column}", lang) + (f" ({symbol})" if column == "avg_order_value" and symbol else ""))
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.set_ylim(0, None)
        if column == "avg_order_value":
            _money_axis(ax.yaxis, lang, currency)
        else:
            _number_axis(ax.yaxis, lang)
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(axis="x", labelrotation=30)
    fig.suptitle(t("chart.monthly_values", lang))
    return fig


def _month_heatmap(table: pd.DataFrame, lang: str, title_key: str, percent: bool, row_label: str,
                   column_label: str, row_names=None, currency=None):
    """A seaborn heatmap of `table` (rows x columns), annotated; missing cells stay blank. Shares
    (`percent`) or money in `currency`."""
    import seaborn as sns
    fig, ax = _figure(8.5, 1.1 + 0.34 * max(len(table), 4))
    shown = table.astype(float)
    if row_names is not None:
        shown.index = [row_names(i) for i in shown.index]
    annotate = shown.shape[1] <= 14 and shown.shape[0] <= 30
    cell = (lambda v: numbers.percent(v, lang, 0)) if percent else (lambda v: numbers.money(v, lang, currency, decimals=0))
    tick = (lambda v, _: numbers.percent(v, lang, 0)) if percent else (lambda v, _: numbers.axis_money(v, lang, currency))
    sns.heatmap(shown, ax=ax, cmap=SEQUENTIAL, vmin=0, annot=_annotations(shown, cell) if annotate else False, fmt="",
                annot_kws={"fontsize": 7}, linewidths=0.5, linecolor="white",
                cbar_kws={"format": matplotlib.ticker.FuncFormatter(tick)})
    ax.set_xlabel(column_label)
    ax.set_ylabel(row_label)
    ax.tick_params(axis="y", labelrotation=0)
    ax.set_title(t(title_key, lang))
    return fig


def cohort_heatmap(shares: pd.DataFrame, lang: str, max_months: int = 12, measure: str = "share_active",
                   currency=None):
    """Each first-purchase cohort (rows) k months later (columns 1..max_months; 0 too for revenue):
    the share active (`measure` "share_active", segkit.monthly.activity.cohort_table) or the
    cohort's revenue ("revenue", in `currency`, params.currency). None when there is nothing to draw
    (every purchase in one month)."""
    first = 0 if measure == "revenue" else 1
    table = shares.loc[:, [c for c in shares.columns if first <= c <= max_months]]
    if table.empty or table.isna().all().all():  # all purchases in one month: no month after the first
        return None
    title = "chart.cohort_revenue" if measure == "revenue" else "chart.cohorts"
    return _month_heatmap(table, lang, title, measure != "revenue", t("chart.cohort", lang),
                          t("chart.months_since_first", lang), lambda i: pd.Timestamp(i).strftime("%Y-%m"),
                          currency=currency)


def retention_heatmap(rates: pd.DataFrame, segment_map, lang: str, measure: str = "retention_rate"):
    """Retention (or repurchase) rate per segment at the start of each month (rows: segments in the
    map's order, in words; columns: months), from segkit.monthly.activity.retention_by_segment."""
    from segkit.classify.rfm import FALLBACK_GRID, load_segment_map

    # early months may have fallen back to the recency x spend grid (F could not discriminate yet)
    maps = [load_segment_map(segment_map), load_segment_map(FALLBACK_GRID)]
    table = rates.pivot_table(index="segment", columns="month", values=measure, aggfunc="first")
    order = list(dict.fromkeys(code for each in maps for code in each.codes if code in table.index))
    table = table.loc[order]
    table.columns = [pd.Timestamp(m).strftime("%Y-%m") for m in table.columns]
    labels = {**maps[1].labels(lang), **maps[0].labels(lang)}
    return _month_heatmap(table, lang, f"chart.{measure}_by_segment", True, t("col.segment", lang), "",
                          lambda code: labels.get(code, code))


def transition_heatmap(counts: pd.DataFrame, labels: dict, lang: str, title_key: str = "chart.transitions"):
    """Row shares of a transition matrix (rows: class last month, columns: class now; from
    `segkit.monthly.migration.transition_matrix`), each cell annotated with its share; `labels` maps
    class codes to words (the row `new`: customers without a class last month)."""
    import matplotlib.pyplot as plt
    import seaborn as sns
    totals = counts.sum(axis=1)
    kept = counts[totals > 0]
    shares = kept.div(kept.sum(axis=1), axis=0)
    names = {**labels, "new": t("migration.new_row", lang)}
    shares.index = [names.get(str(code), str(code)) for code in shares.index]
    shares.columns = [names.get(str(code), str(code)) for code in shares.columns]
    fig, ax = _figure(9, 1.6 + 0.42 * max(len(shares), 4))
    annotate = _annotations(shares, lambda v: numbers.percent(v, lang, 0)) if shares.shape[1] <= 14 else False
    sns.heatmap(shares, ax=ax, cmap=SEQUENTIAL, vmin=0, vmax=1, annot=annotate, fmt="",
                annot_kws={"fontsize": 7}, linewidths=0.5, linecolor="white",
                cbar_kws={"format": matplotlib.ticker.FuncFormatter(lambda v, _: numbers.percent(v, lang, 0))})
    ax.set_xlabel(t("migration.after", lang))
    ax.set_ylabel(t("migration.before", lang))
    ax.tick_params(axis="y", labelrotation=0)
    ax.tick_params(axis="x", labelrotation=45)
    plt.setp(ax.get_xticklabels(), ha="right")
    ax.set_title(t(title_key, lang))
    return fig


def flow_chart(flows: pd.DataFrame, labels: dict, lang: str):
    """The largest moves between classes as a Sankey-style flow chart (a static image drawn by
    SankeyFlow on matplotlib): last month's classes on the left, this month's on the right, each band
    as wide as its number of customers. `flows` has before, after, customers
    (`segkit.monthly.migration.largest_moves`)."""
    from sankeyflow import Sankey

    names = {**labels, "new": t("migration.new_row", lang)}
    flows = flows[flows["customers"] > 0]
    # 10 pt labels on a 9-inch figure are about 8 pt on the A4 page; each node at least a label's height
    # apart (node_pad_y_min), so that the small classes' names at the bottom do not run into each other
    fig, ax = _figure(9, 1.5 + 0.55 * max(len(flows), 4))
    ax.axis("off")
    ax.set_title(t("chart.flows", lang))
    if flows.empty:
        return fig
    left = flows.groupby("before", observed=True, sort=False)["customers"].sum()
    right = flows.groupby("after", observed=True, sort=False)["customers"].sum()
    label_opts = {"fontsize": 10}
    colours = flow_colours([*labels, *left.index, *right.index])
    nodes = [[(f"b:{code}", float(total), {"label": names.get(str(code), str(code)), "label_opts": label_opts,
                                           "color": colours[str(code)]})
              for code, total in left.items()],
             [(f"a:{code}", float(total), {"label": names.get(str(code), str(code)), "label_pos": "right",
                                           "label_opts": label_opts, "color": colours[str(code)]})
              for code, total in right.items()]]
    links = [(f"b:{row.before}", f"a:{row.after}", float(row.customers)) for row in flows.itertuples()]
    Sankey(flows=links, nodes=nodes, flow_color_mode="source", node_pad_y_min=0.035, node_pad_y_max=0.06).draw(ax=ax)
    return fig


def flow_colours(codes) -> dict[str, str]:
    """One colour per class code, the same on both sides of the flow chart: the palette in the order
    the codes first come (the run's classes first), "new" (customers new this month) light grey."""
    order = [code for code in dict.fromkeys(str(c) for c in codes) if code != "new"]
    return {**{code: PALETTE[i % len(PALETTE)] for i, code in enumerate(order)}, "new": "#c8c8c8"}


def kpi_sparklines(series: pd.DataFrame, lang: str, kpis=None, top: float = 0.2, currency=None):
    """Small line charts, one per figure of `series` (`segkit.monthly.trends.kpi_series`; months as
    rows), the last month's value written at its end (with its month where the later months have none,
    e.g. a survey that stopped): how each KPI moved over the months. The NPS of a month of too few
    answers is not drawn (`segkit.monthly.trends.measured_nps`). Money
    (MONEY_KPIS) in `currency` (params.currency), on the axis and at the end."""
    import matplotlib.pyplot as plt
    from segkit.monthly.trends import KPIS, SHARES, measured_nps

    if "nps" in series.columns:  # a month of too few answers has no NPS to draw (its swing is noise)
        series = series.assign(nps=measured_nps(series))
    kpis = [k for k in (kpis or KPIS) if k in series.columns and series[k].notna().any()]
    columns = 2 if len(kpis) > 3 else 1
    rows = max(1, -(-len(kpis) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(8.5, 0.2 + 1.05 * rows), layout="constrained", squeeze=False)
    plt.close(fig)
    months = [pd.Timestamp(m) for m in series.index]
    for ax, kpi in zip(axes.flat, kpis):
        values = series[kpi].astype(float).to_numpy()
        ax.plot(months, values, color=PALETTE[0], linewidth=1.4)
        last = np.flatnonzero(np.isfinite(values))
        if len(last):
            i = last[-1]
            ax.plot([months[i]], [values[i]], "o", color=PALETTE[3], markersize=3)
            shown = (numbers.percent(values[i], lang, 1) if kpi in SHARES else
                     numbers.short_money(values[i], lang, currency) if kpi in MONEY_KPIS else
                     numbers.headline_count(round(values[i]), lang))
            if i < len(months) - 1:  # no value in the later months (a survey that stopped): the dot is not "now"
                shown = f"{shown} ({months[i]:%Y-%m})"
            ax.annotate(shown, (months[i], values[i]), xytext=(4, 0), textcoords="offset points", fontsize=7,
                        va="center")
        ax.set_xlim(months[0], months[-1])  # every figure on the same months
        ax.margins(y=0.15)  # the line's lowest point above the month axis, not drawn on it
        limits = sparkline_limits(values, "share" if kpi in SHARES else "nps" if kpi == "nps" else "amount")
        if limits is not None:  # a small move drawn as small: not stretched over the whole height
            ax.set_ylim(*limits)
        ax.set_title(_kpi_label(kpi, lang, top), fontsize=8, loc="left")
        ax.tick_params(labelsize=6)
        ax.xaxis.set_major_locator(matplotlib.dates.AutoDateLocator(minticks=3, maxticks=7))  # 6 warns at 32-36 months
        ax.xaxis.set_major_formatter(matplotlib.dates.DateFormatter("%Y-%m"))
        ax.spines[["top", "right"]].set_visible(False)
        if kpi in SHARES:
            _percent_axis(ax.yaxis, lang)
        elif kpi in MONEY_KPIS:
            _money_axis(ax.yaxis, lang, currency)
        else:
            _number_axis(ax.yaxis, lang)
    for ax in list(axes.flat)[len(kpis):]:
        ax.axis("off")
    return fig


# The least height of a sparkline's y-axis, so that a small move is drawn as one: a share's axis spans
# at least 5 percentage points, an NPS's 20 points (of its -100 to 100), a count's or an amount's a
# fifth of its largest value (a move of 1% then climbs at most a twentieth of the chart).
SPARKLINE_SPAN = {"share": 0.05, "nps": 20.0}
SPARKLINE_RELATIVE_SPAN = 0.2
_SPARKLINE_BOUNDS = {"share": (0.0, 1.0), "nps": (-100.0, 100.0)}


def sparkline_limits(values, kind: str) -> tuple[float, float] | None:
    """The y-limits of a KPI sparkline whose `values` (the months' figures; NaN for a month without)
    move less than the least span of their `kind` ("share" 0-1, "nps", or "amount": a count or money),
    or None when they move more (the axis then follows the data, as any chart's). The span is centred
    on the values, kept within what the kind can be (a share in 0-100%, an NPS in -100..100, an amount
    of non-negative values not below 0), and starts at 0 where the values are near it.

    >>> sparkline_limits([0.610, 0.615], "share")
    (0.5875, 0.6375)
    >>> sparkline_limits([1000.0, 1005.0], "amount")
    (902.0, 1103.0)
    >>> sparkline_limits([0.01, 0.02], "share"), sparkline_limits([0.2, 0.8], "share")
    ((0.0, 0.05), None)
    """
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if not len(finite):
        return None
    low, high = float(finite.min()), float(finite.max())
    span = SPARKLINE_SPAN.get(kind, SPARKLINE_RELATIVE_SPAN * max(abs(low), abs(high)))
    if high - low >= span or span == 0:  # moves enough to be drawn on its own range (or all zero)
        return None
    floor, ceiling = _SPARKLINE_BOUNDS.get(kind, (0.0 if low >= 0 else -np.inf, np.inf))
    centre = (low + high) / 2
    bottom = min(max(centre - span / 2, floor), ceiling - span)
    if bottom - floor < span / 2:  # near the floor (a share of 1%): from the floor, not a gap above it
        bottom = floor
    return (round(bottom, 12), round(bottom + span, 12))


def _kpi_label(kpi: str, lang: str, top: float = 0.2) -> str:
    return t(f"trend.{kpi}", lang, top=top) if kpi == "top_share" else t(f"trend.{kpi}", lang)


def holdout_chart(check: pd.DataFrame, lang: str):
    """Actual against predicted mean purchases in the holdout, by calibration repeat purchases:
    BG/NBD, and Pareto/NBD where the check has it (column alternative_mean)."""
    import seaborn as sns
    fig, ax = _figure(7, 3.8)
    bars = {"actual_mean": t("col.actual", lang), "predicted_mean": "BG/NBD"}
    if "alternative_mean" in check.columns:
        bars["alternative_mean"] = "Pareto/NBD"
    long = check.assign(group=check["x"].astype(str)).melt(id_vars="group", value_vars=list(bars), var_name="model",
                                                           value_name="mean")
    long["model"] = long["model"].map(bars)
    sns.barplot(saturation=1, data=long, x="group", y="mean", hue="model", order=list(dict.fromkeys(long["group"])),
                hue_order=list(bars.values()), palette=list(PALETTE[:len(bars)]), ax=ax)
    _number_axis(ax.yaxis, lang)
    ax.set_xlabel(t("col.x", lang))
    ax.set_ylabel(t("chart.holdout_axis", lang))
    ax.legend(frameon=False, title=None)
    ax.set_title(t("chart.holdout", lang))
    return fig


# -- clustering (issue 11): choosing k, the snake plot, Ward's tree --
def cluster_indices(indices: pd.DataFrame, chosen: int, lang: str):
    """The k sweep in one figure (`RFMClusterer.indices_`, one row per k): inertia (the elbow),
    silhouette, Calinski-Harabasz, Davies-Bouldin, the gap statistic with error bars of its standard
    error, and the BIC when the method is a Gaussian mixture; the chosen k ringed in each panel."""
    import matplotlib.pyplot as plt
    panels = [("inertia", "chart.inertia"), ("silhouette", "col.silhouette"),
              ("calinski_harabasz", "chart.calinski_harabasz"), ("davies_bouldin", "chart.davies_bouldin"),
              ("gap", "chart.gap")]
    if "bic" in indices:
        panels.append(("bic", "chart.bic"))
    panels = [(column, key) for column, key in panels if column in indices and indices[column].notna().any()]
    fig, axes = plt.subplots(2, 3, figsize=(10.5, 5.6), layout="constrained")
    plt.close(fig)  # returned for display; pyplot must not show it a second time
    ks = indices.index.to_numpy()
    for ax, (column, key) in zip(axes.flat, panels):
        values = indices[column].to_numpy(dtype=float)
        if column == "gap":
            ax.errorbar(ks, values, yerr=indices["gap_se"].to_numpy(dtype=float), marker="o", color=PALETTE[0], capsize=3)
        else:
            ax.plot(ks, values, marker="o", color=PALETTE[0])
        if chosen in indices.index and np.isfinite(indices.loc[chosen, column]):
            ax.scatter([chosen], [indices.loc[chosen, column]], s=140, facecolors="none", edgecolors=PALETTE[3],
                       linewidths=2, zorder=3)
        ax.set_xticks(ks)
        _number_axis(ax.yaxis, lang)
        ax.set_xlabel(t("col.k", lang))
        ax.set_title(t(key, lang), fontsize=10)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(t("chart.cluster_indices", lang))
    return fig


def snake_plot(means: pd.DataFrame, lang: str):
    """A snake plot (seaborn): one line per cluster (rows of `means`, e.g.
    `segkit.report.cluster_text.snake_frame`) across the scaled columns (its columns); 0 is the
    average customer."""
    import seaborn as sns
    long = means.rename_axis("cluster").reset_index().melt(id_vars="cluster", var_name="feature", value_name="mean")
    fig, ax = _figure(8.5, 4.4)
    sns.lineplot(data=long, x="feature", y="mean", hue="cluster", marker="o", sort=False, ax=ax,
                 palette=list(PALETTE[:len(means)]) if len(means) <= len(PALETTE) else None)
    ax.axhline(0, color=PALETTE[7], lw=1, ls="--")
    ax.set_xlabel("")
    ax.set_ylabel(t("chart.scaled_mean", lang))
    ax.set_title(t("chart.snake", lang))
    ax.legend(frameon=False, fontsize=8, loc="best", title=None)
    ax.tick_params(axis="x", labelrotation=20)
    return fig


def dendrogram(tree: np.ndarray, k: int, lang: str, leaves: int = 30):
    """Ward's tree (a scipy linkage matrix, `RFMClusterer.linkage_`) truncated to its last `leaves`
    merges, with a dashed line where it is cut into `k` clusters."""
    from scipy.cluster.hierarchy import dendrogram as scipy_dendrogram

    fig, ax = _figure(8.5, 4.2)
    scipy_dendrogram(tree, truncate_mode="lastp", p=leaves, ax=ax, color_threshold=None,
                     above_threshold_color=PALETTE[0], show_leaf_counts=True, no_labels=False)
    heights = np.sort(tree[:, 2])
    if 1 < k <= len(heights):
        ax.axhline((heights[-k] + heights[-k + 1]) / 2, color=PALETTE[3], ls="--", lw=1)  # between the merges
    ax.set_ylabel(t("chart.merge_distance", lang))
    ax.set_xlabel(t("chart.tree_customers", lang))
    ax.set_title(t("chart.dendrogram", lang))
    ax.tick_params(axis="x", labelsize=7)
    return fig


def stability_chart(stability, lang: str, names: dict | None = None, bands=(0.5, 0.6, 0.75, 0.85)):
    """Jaccard similarity per cluster over the resampling runs (`segkit.evaluate.stability.Stability`):
    a box per cluster with the runs as dots, and Hennig's (2007) bands as dashed lines (below the
    first: dissolved; above the last: highly stable). `names` maps cluster numbers to names."""
    import seaborn as sns
    frame = stability.jaccard.assign(cluster=[str((names or {}).get(c, c)) for c in stability.jaccard["cluster"]])
    order = list(dict.fromkeys(frame["cluster"]))
    fig, ax = _figure(8, 0.9 + 0.5 * max(len(order), 2))
    sns.boxplot(data=frame, x="jaccard", y="cluster", order=order, color=PALETTE[0], fill=False, whis=(0, 100),
                ax=ax)
    # no jitter: seaborn draws it from an unseeded generator, and the same run must give the same page
    sns.stripplot(data=frame, x="jaccard", y="cluster", order=order, color=PALETTE[1], size=4, jitter=False, ax=ax)
    for edge, word in zip((bands[0], bands[-1]), ("dissolved", "highly_stable")):
        ax.axvline(edge, color=PALETTE[7], linestyle="--", linewidth=1)
        ax.text(edge, 1.0, t(f"evaluate.verdict.{word}", lang), fontsize=8, ha="center", va="bottom",
                color=PALETTE[7], transform=ax.get_xaxis_transform())
    ax.set_xlim(0, 1.02)
    ax.set_xlabel(t("chart.stability.x", lang))
    ax.set_ylabel("")
    ax.set_title(t("chart.stability.title", lang, runs=len(stability.runs)), pad=16)
    return fig


def segmentation_matrix_chart(matrix, lang: str, sample: int = 3_000, random_state: int = 0, currency=None):
    """Customers on the value x potential plane (`segkit.evaluate.matrix.SegmentationMatrix`), one
    dot each (at most `sample` of them, drawn at random, for a light chart), coloured by quadrant,
    with the two cut lines. Value is drawn on a symlog scale (money is heavy-tailed); an axis of
    money (revenue, CLV, ...: segkit.report.evaluation_tables.MONEY_COLUMNS) in `currency` (params.currency)."""
    import seaborn as sns
    from segkit.evaluate.matrix import QUADRANTS

    points = matrix.assignments
    if len(points) > sample:
        points = points.sample(sample, random_state=random_state)
    fig, ax = _figure(8, 5)
    names = {quadrant: t(f"evaluate.quadrant.{quadrant}", lang) for quadrant in QUADRANTS}
    shown = points.assign(quadrant_name=points["quadrant"].map(names))
    sns.scatterplot(data=shown, x="value", y="potential", hue="quadrant_name", hue_order=list(names.values()),
                    palette=list(PALETTE[:len(QUADRANTS)]), s=8, alpha=0.5, linewidth=0, ax=ax)
    ax.axvline(matrix.cuts["value"], color=PALETTE[7], linestyle="--", linewidth=1)
    ax.axhline(matrix.cuts["potential"], color=PALETTE[7], linestyle="--", linewidth=1)
    ax.set_xscale("symlog")
    ax.set_yscale("symlog")
    # plain numbers: the reports draw text literally (no TeX), so the default 10^k labels would not render
    from segkit.report.evaluation_tables import MONEY_COLUMNS

    for axis, column in ((ax.xaxis, matrix.value), (ax.yaxis, matrix.potential)):
        money = column in MONEY_COLUMNS
        axis.set_major_formatter(matplotlib.ticker.FuncFormatter(
            lambda v, _, money=money: numbers.axis_money(round(v), lang, currency) if money
            else numbers.axis_number(round(v), lang)))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.tick_params(axis="x", labelrotation=30)
    for axis, column, cut in ((ax.set_xlim, "value", matrix.cuts["value"]), (ax.set_ylim, "potential", matrix.cuts["potential"])):
        low, high = min(points[column].min(), cut), max(points[column].max(), cut)
        axis(low * 1.2 if low < 0 else low * 0.8, high * 1.2 if high > 0 else high * 0.8)  # the data, not symlog's wide margins
    ax.set_xlabel(_axis_name(matrix.value, lang))
    ax.set_ylabel(_axis_name(matrix.potential, lang))
    ax.set_title(t("chart.matrix.title", lang))
    ax.legend(loc="best", fontsize=8, markerscale=2, title=None)
    return fig


def _axis_name(column: str, lang: str) -> str:
    from segkit.i18n import column_label

    return column_label(column, lang)


SCHEME_KEYS = ("segment", "rfm_class", "cluster")  # the classifications the catalogue names (evaluate.scheme.*)


def class_lift_chart(classes: pd.DataFrame, lang: str, labels: dict | None = None):
    """Holdout lift of each class over the average customer (`NextPeriodCheck.classes`), one panel
    per classification, classes in order of calibration revenue per customer; the line at 1 is the
    average customer. `labels` maps (scheme, class) to the name shown and scheme to its title."""
    import matplotlib.pyplot as plt
    import seaborn as sns
    labels = labels or {}
    schemes = list(dict.fromkeys(classes["scheme"]))
    height = 1.2 + 0.28 * classes.groupby("scheme").size().max()
    fig, axes = plt.subplots(1, len(schemes), figsize=(4 * len(schemes), height), layout="constrained", squeeze=False)
    plt.close(fig)
    for ax, scheme in zip(axes[0], schemes):
        part = classes[classes["scheme"] == scheme]
        names = [str(labels.get((scheme, c), c)) for c in part["class"]]
        sns.barplot(saturation=1, x=part["lift"].to_numpy(dtype=float), y=names, order=list(dict.fromkeys(names)), orient="h",
                    color=PALETTE[0], ax=ax)  # the first class on top
        ax.axvline(1, color=PALETTE[3], linestyle="--", linewidth=1)
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(
            lambda v, _: numbers.decimal_number(round(v, 2), lang, None)))
        ax.set_ylabel("")
        title = labels.get(scheme) or (t(f"evaluate.scheme.{scheme}", lang) if scheme in SCHEME_KEYS else scheme)
        ax.set_title(str(title), fontsize=10)
        ax.set_xlabel(t("chart.lift.x", lang))
        ax.spines[["top", "right"]].set_visible(False)
    return fig


def short_labels(texts, width: int = LABEL_WIDTH) -> list[str]:
    """`short_label` of each of `texts`, told apart where two would read the same once cut ("…",
    "…²", "…³"): bars of a chart are grouped by their label, so two long names must not become one."""
    shown, seen = [], {}
    for text in texts:
        label = short_label(text, width)
        count = seen[label] = seen.get(label, 0) + 1
        shown.append(label if count == 1 else f"{label}{_SUPERSCRIPTS.get(count, f'({count})')}")
    return shown


_SUPERSCRIPTS = {2: "²", 3: "³", 4: "⁴", 5: "⁵", 6: "⁶", 7: "⁷", 8: "⁸", 9: "⁹"}


def category_index_heatmap(matrix: pd.DataFrame, lang: str, item: str = "category", row_names=None):
    """The index of each group (rows) buying each item (columns), 100 = all customers, as a diverging
    heatmap centred on 100 (from `segkit.crosssell.mix_matrix`); `row_names` turns a group code into
    words. None when there is nothing to draw."""
    import seaborn as sns
    if matrix.empty:
        return None
    shown = matrix.astype(float)
    if row_names is not None:
        shown.index = [row_names(i) for i in shown.index]
    shown.columns = [short_label(c) for c in shown.columns]  # long product names: cut, not overlapping
    shown.index = [short_label(i, 2 * LABEL_WIDTH) for i in shown.index]
    fig, ax = _figure(min(2.5 + 0.62 * shown.shape[1], 14), 1.3 + 0.38 * max(len(shown), 4))
    annotate = _annotations(shown, lambda v: numbers.decimal_number(v, lang, 0)) if shown.shape[1] <= 20 else False
    sns.heatmap(shown, ax=ax, cmap=DIVERGING, center=100, annot=annotate, fmt="",
                annot_kws={"fontsize": 7}, linewidths=0.5, linecolor="white",
                cbar_kws={"format": matplotlib.ticker.FuncFormatter(lambda v, _: numbers.axis_number(v, lang))})
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.tick_params(axis="y", labelrotation=0)
    ax.tick_params(axis="x", labelrotation=45)
    ax.set_title(t("chart.category_index", lang, item=t(f"crosssell.item.{item}", lang)))
    return fig


def response_rate_chart(rates: pd.DataFrame, overall: float, lang: str, row_names=None):
    """Response rate per group with its Wilson range as error bars, and the overall rate as a line
    (`rates` from `segkit.crosssell.response_rates`, over all campaigns)."""
    import seaborn as sns
    frame = rates.sort_values("rate", ascending=False)  # the highest rate on top
    fig, ax = _figure(8, 0.9 + 0.4 * max(len(frame), 3))
    names = short_labels([str(row_names(g) if row_names else g) for g in frame["group"]], 2 * LABEL_WIDTH)
    # the Wilson range is computed from the counts (segkit.crosssell.response_rates), not resampled by seaborn
    sns.barplot(saturation=1, x=frame["rate"].to_numpy(dtype=float), y=names, order=names, orient="h", color=PALETTE[0],
                errorbar=None, ax=ax)
    errors = np.vstack([frame["rate"] - frame["rate_low"], frame["rate_high"] - frame["rate"]])
    ax.errorbar(frame["rate"].to_numpy(dtype=float), np.arange(len(frame)), xerr=errors, fmt="none",
                ecolor=PALETTE[7], capsize=3)
    ax.axvline(overall, color=PALETTE[3], lw=1.2, ls="--", label=t("chart.overall_rate", lang))
    _percent_axis(ax.xaxis, lang)
    ax.set_ylabel("")
    ax.legend(frameon=False, loc="lower right")
    ax.set_title(t("chart.response_rates", lang))
    return fig
