"""Charts for the reports. Each function returns a matplotlib Figure and neither saves nor shows it.

Labels come from `segkit.i18n`, so the same call draws the Chinese or the English chart; for
Chinese, `use_language("zh")` finds a CJK font (Noto Sans CJK, Source Han, WenQuanYi, ...).
"""

from __future__ import annotations

import matplotlib

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import font_manager

from segkit.i18n import rule_name, t
from segkit.classify.value import concentration_curve

CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Source Han Sans SC", "Source Han Sans CN",
             "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Microsoft YaHei", "SimHei", "PingFang SC",
             "Heiti SC", "AR PL UMing CN")
PALETTE = ("#2f6690", "#d9a441", "#3a7d44", "#c2473a", "#7b5ea7", "#5b8c85", "#b5651d", "#8a8a8a")


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
    plt.rcParams["axes.unicode_minus"] = False
    plt.rcParams["text.parse_math"] = False  # labels come from data and params: "$" is a dollar, not TeX
    plt.rcParams["figure.dpi"] = 100
    plt.rcParams["savefig.dpi"] = 110
    if lang != "zh":
        plt.rcParams["font.sans-serif"] = ["DejaVu Sans"]
        return None
    font = find_cjk_font()
    if font is None:
        import warnings

        warnings.warn("no CJK font found: Chinese chart text will draw as boxes; "
                      "install one (Debian/Ubuntu: apt-get install fonts-noto-cjk)", stacklevel=2)
        return None
    plt.rcParams["font.sans-serif"] = [font, "DejaVu Sans"]
    plt.rcParams["font.family"] = "sans-serif"
    return font


def _figure(width: float = 8.0, height: float = 4.2):
    fig, ax = plt.subplots(figsize=(width, height), layout="constrained")
    plt.close(fig)  # returned for display; pyplot must not show it a second time
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def set_aside_by_reason(ledger: pd.DataFrame, lang: str):
    aside = ledger[(ledger["outcome"] == "set_aside") & (ledger["rows"] > 0)].sort_values("rows")
    fig, ax = _figure(8, 0.5 + 0.45 * max(len(aside), 2))
    ax.barh([rule_name(r, lang) for r in aside["rule"]], aside["rows"], color=PALETTE[3])
    for y, value in enumerate(aside["rows"]):
        ax.text(value, y, f" {value:,}", va="center")
    ax.set_title(t("chart.set_aside_by_reason", lang))
    ax.set_xlabel(t("col.rows", lang))
    return fig


def set_aside_by_month(quarantine: pd.DataFrame, lang: str):
    dated = quarantine.dropna(subset=["ordered_at"])
    counts = (dated.assign(month=dated["ordered_at"].dt.to_period("M").astype(str))
              .pivot_table(index="month", columns="reason", values="source_row", aggfunc="count", fill_value=0))
    fig, ax = _figure(9, 3.8)
    bottom = np.zeros(len(counts))
    for i, reason in enumerate(counts.columns):
        ax.bar(counts.index, counts[reason], bottom=bottom, label=rule_name(reason, lang), color=PALETTE[i % 8])
        bottom += counts[reason].to_numpy()
    ax.set_title(t("chart.set_aside_by_month", lang))
    ax.set_ylabel(t("col.rows", lang))
    ax.tick_params(axis="x", rotation=90, labelsize=7)
    if len(counts.columns):
        ax.legend(frameon=False, fontsize=8)
    return fig


def rfm_heatmap(scores: pd.DataFrame, features: pd.DataFrame, lang: str):
    """Mean revenue per customer for each (R score, F score) cell, with the customer count."""
    frame = scores[["r_score", "f_score"]].assign(revenue=features["revenue"].to_numpy())
    mean = frame.pivot_table(index="f_score", columns="r_score", values="revenue", aggfunc="mean")
    count = frame.pivot_table(index="f_score", columns="r_score", values="revenue", aggfunc="count")
    mean = mean.sort_index(ascending=False)
    count = count.reindex_like(mean)
    fig, ax = _figure(7, 5)
    image = ax.imshow(mean.to_numpy(dtype=float), cmap="YlGnBu", aspect="auto")
    ax.set_xticks(range(len(mean.columns)), [str(c) for c in mean.columns])
    ax.set_yticks(range(len(mean.index)), [str(i) for i in mean.index])
    ax.set_xlabel(t("col.r_score", lang))
    ax.set_ylabel(t("col.f_score", lang))
    high = np.nanmax(mean.to_numpy(dtype=float))
    for (i, j), value in np.ndenumerate(mean.to_numpy(dtype=float)):
        if not np.isnan(value):
            n = count.iat[i, j]
            ax.text(j, i, f"{value:,.0f}\n(n={n:,.0f})", ha="center", va="center", fontsize=8,
                    color="white" if value > high * 0.6 else "black")
    fig.colorbar(image, ax=ax, label=t("col.revenue", lang))
    ax.set_title(t("chart.rfm_heatmap", lang))
    return fig


def share_bars(summary: pd.DataFrame, label_column: str, lang: str, title_key: str):
    """Side-by-side bars of customer share and revenue share per group (segment or cluster)."""
    frame = summary.sort_values("revenue_share")
    fig, ax = _figure(8.5, 0.8 + 0.42 * max(len(frame), 3))
    y = np.arange(len(frame))
    ax.barh(y - 0.2, frame["customer_share"], height=0.4, label=t("col.customer_share", lang), color=PALETTE[0])
    ax.barh(y + 0.2, frame["revenue_share"], height=0.4, label=t("col.revenue_share", lang), color=PALETTE[1])
    ax.set_yticks(y, frame[label_column])
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.legend(frameon=False, loc="lower right")
    ax.set_title(t(title_key, lang))
    return fig


def pareto_curve(revenue: pd.Series, lang: str, top: float = 0.2):
    curve = concentration_curve(revenue)
    fig, ax = _figure(6.5, 4.5)
    ax.plot(curve["customer_share"], curve["revenue_share"], color=PALETTE[0], lw=2)
    ax.plot([0, 1], [0, 1], ls="--", color=PALETTE[7], label=t("chart.equal_line", lang))
    share = float(np.interp(top, curve["customer_share"], curve["revenue_share"]))
    ax.axvline(top, color=PALETTE[3], lw=1)
    ax.annotate(f"{top:.0%} → {share:.1%}", (top, share), xytext=(top + 0.08, share - 0.12),
                arrowprops={"arrowstyle": "->"})
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
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
    fig, axes = plt.subplots(1, 3, figsize=(9, 3), layout="constrained", sharey=True)
    plt.close(fig)
    for ax, dim, color in zip(axes, ("r", "f", "m"), PALETTE):
        counts = scores[f"{dim}_score"].value_counts().sort_index()
        ax.bar(counts.index.astype(str), counts.to_numpy(), color=color)
        ax.set_xlabel(t(f"col.{dim}_score", lang))
        ax.spines[["top", "right"]].set_visible(False)
    axes[0].set_ylabel(t("col.customers", lang))
    fig.suptitle(t("chart.score_distribution", lang))
    return fig


def monthly_rates(kpis: pd.DataFrame, lang: str):
    """Retention rate and repurchase rate per month (segkit.monthly.activity.monthly_kpis)."""
    fig, ax = _figure(8, 3.6)
    months = pd.to_datetime(kpis["month"])
    ax.plot(months, kpis["retention_rate"], marker="o", color=PALETTE[0], label=t("col.retention_rate", lang))
    ax.plot(months, kpis["repurchase_rate"], marker="s", color=PALETTE[1], label=t("col.repurchase_rate", lang))
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set_ylim(0, None)
    ax.legend(frameon=False)
    ax.set_title(t("chart.monthly_rates", lang))
    fig.autofmt_xdate()
    return fig


def monthly_values(kpis: pd.DataFrame, lang: str, currency=None):
    """Average order value (currency units) and purchase frequency (orders per active customer) per
    month (segkit.monthly.activity.monthly_kpis), one panel each."""
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
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(axis="x", labelrotation=30)
    fig.suptitle(t("chart.monthly_values", lang))
    return fig


def _month_heatmap(table: pd.DataFrame, lang: str, title_key: str, percent: bool, row_label: str,
                   column_label: str, row_names=None):
    """A seaborn heatmap of `table` (rows x columns), annotated; missing cells stay blank."""
    fig, ax = _figure(8.5, 1.1 + 0.34 * max(len(table), 4))
    shown = table.astype(float)
    if row_names is not None:
        shown.index = [row_names(i) for i in shown.index]
    annotate = shown.shape[1] <= 14 and shown.shape[0] <= 30
    sns.heatmap(shown, ax=ax, cmap="YlGnBu", vmin=0, annot=annotate, fmt=".0%" if percent else ",.0f",
                annot_kws={"fontsize": 7}, linewidths=0.5, linecolor="white",
                cbar_kws={"format": matplotlib.ticker.PercentFormatter(1.0)} if percent else {})
    ax.set_xlabel(column_label)
    ax.set_ylabel(row_label)
    ax.tick_params(axis="y", labelrotation=0)
    ax.set_title(t(title_key, lang))
    return fig


def cohort_heatmap(shares: pd.DataFrame, lang: str, max_months: int = 12, measure: str = "share_active"):
    """Each first-purchase cohort (rows) k months later (columns 1..max_months; 0 too for revenue):
    the share active (`measure` "share_active", segkit.monthly.activity.cohort_table) or the
    cohort's revenue ("revenue", currency units). None when there is nothing to draw (every purchase
    in one month)."""
    first = 0 if measure == "revenue" else 1
    table = shares.loc[:, [c for c in shares.columns if first <= c <= max_months]]
    if table.empty or table.isna().all().all():  # all purchases in one month: no month after the first
        return None
    title = "chart.cohort_revenue" if measure == "revenue" else "chart.cohorts"
    return _month_heatmap(table, lang, title, measure != "revenue", t("chart.cohort", lang),
                          t("chart.months_since_first", lang), lambda i: pd.Timestamp(i).strftime("%Y-%m"))


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


def holdout_chart(check: pd.DataFrame, lang: str):
    """Actual against predicted mean purchases in the holdout, by calibration repeat purchases:
    BG/NBD, and Pareto/NBD where the check has it (column alternative_mean)."""
    fig, ax = _figure(7, 3.8)
    x = np.arange(len(check))
    bars = [("actual_mean", t("col.actual", lang)), ("predicted_mean", "BG/NBD")]
    if "alternative_mean" in check.columns:
        bars.append(("alternative_mean", "Pareto/NBD"))
    width = 0.8 / len(bars)
    for i, (column, label) in enumerate(bars):
        ax.bar(x + (i - (len(bars) - 1) / 2) * width, check[column], width=width, color=PALETTE[i], label=label)
    ax.set_xticks(x, check["x"].astype(str))
    ax.set_xlabel(t("col.x", lang))
    ax.set_ylabel(t("chart.holdout_axis", lang))
    ax.legend(frameon=False)
    ax.set_title(t("chart.holdout", lang))
    return fig


def category_index_heatmap(matrix: pd.DataFrame, lang: str, item: str = "category", row_names=None):
    """The index of each group (rows) buying each item (columns), 100 = all customers, as a diverging
    heatmap centred on 100 (from `segkit.crosssell.mix_matrix`); `row_names` turns a group code into
    words. None when there is nothing to draw."""
    if matrix.empty:
        return None
    shown = matrix.astype(float)
    if row_names is not None:
        shown.index = [row_names(i) for i in shown.index]
    fig, ax = _figure(min(2.5 + 0.62 * shown.shape[1], 14), 1.3 + 0.38 * max(len(shown), 4))
    sns.heatmap(shown, ax=ax, cmap="RdBu_r", center=100, annot=shown.shape[1] <= 20, fmt=".0f",
                annot_kws={"fontsize": 7}, linewidths=0.5, linecolor="white")
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.tick_params(axis="y", labelrotation=0)
    ax.tick_params(axis="x", labelrotation=45)
    ax.set_title(t("chart.category_index", lang, item=t(f"crosssell.item.{item}", lang)))
    return fig


def response_rate_chart(rates: pd.DataFrame, overall: float, lang: str, row_names=None):
    """Response rate per group with its Wilson range as error bars, and the overall rate as a line
    (`rates` from `segkit.crosssell.response_rates`, over all campaigns)."""
    frame = rates.sort_values("rate")
    fig, ax = _figure(8, 0.9 + 0.4 * max(len(frame), 3))
    y = np.arange(len(frame))
    errors = np.vstack([frame["rate"] - frame["rate_low"], frame["rate_high"] - frame["rate"]])
    ax.barh(y, frame["rate"], color=PALETTE[0], xerr=errors, error_kw={"ecolor": PALETTE[7], "capsize": 3})
    names = [row_names(g) if row_names else str(g) for g in frame["group"]]
    ax.set_yticks(y, names)
    ax.axvline(overall, color=PALETTE[3], lw=1.2, ls="--", label=t("chart.overall_rate", lang))
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.legend(frameon=False, loc="lower right")
    ax.set_title(t("chart.response_rates", lang))
    return fig
