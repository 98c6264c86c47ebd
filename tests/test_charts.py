"""Every chart of segkit.report.plots on small frames (issue 13): the statistical charts are drawn with
seaborn in the report's palette, every number on them is formatted in the report's language
(segkit.report.numbers), and each public chart function is called here."""

from __future__ import annotations

import datetime as dt
import inspect
from types import SimpleNamespace

import matplotlib.colors
import matplotlib.figure
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import QuadMesh

from segkit.report import plots
from segkit.i18n import rule_name, t


def month(m: int) -> dt.date:
    return dt.date(2024, m, 1)


LEDGER = pd.DataFrame({"outcome": ["used", "set_aside", "set_aside", "set_aside"],
                       "rule": ["", "missing_customer_id", "non_positive_amount", "after_as_of"],
                       "rows": [5000, 12_345, 3, 0]})
QUARANTINE = pd.DataFrame({"ordered_at": pd.to_datetime(["2024-01-05", "2024-01-09", "2024-03-02", None]),
                           "reason": ["missing_customer_id", "non_positive_amount", "missing_customer_id", "missing_customer_id"],
                           "source_row": [2, 3, 4, 5]})
SCORES = pd.DataFrame({"r_score": [1, 2, 2, 3, 3, 3], "f_score": [1, 1, 2, 2, 3, 3], "m_score": [1, 2, 3, 1, 2, 3]})
FEATURES = pd.DataFrame({"revenue": [100.0, 2_000.0, 30_000.0, 45_000.0, 250_000.0, 1_500_000.0]})
SUMMARY = pd.DataFrame({"segment": ["Champions", "Lost", "At Risk"], "customer_share": [0.2, 0.5, 0.3],
                        "revenue_share": [0.6, 0.1, 0.3]})


def every_chart(lang: str) -> dict[str, matplotlib.figure.Figure]:
    """Each public chart function of plots, called on a small frame."""
    kpis = pd.DataFrame({"month": [month(1), month(2), month(3)], "retention_rate": [0.25, 0.5, 0.4],
                         "repurchase_rate": [0.1, 0.2, 0.3], "avg_order_value": [12_000.0, 250_000.0, 30_000.0],
                         "purchase_frequency": [1.0, 1.5, 1.2]})
    counts = pd.DataFrame([[5, 3], [1, 9]], index=["champions", "lost"], columns=["champions", "lost"])
    trends = pd.DataFrame({"revenue": [1_000_000.0, 1_250_000.0, 2_500_000.0], "retention_rate": [0.2, 0.3, 0.25]},
                          index=[month(1), month(2), month(3)])
    check = pd.DataFrame({"x": [0, 1, 2], "actual_mean": [0.2, 1.1, 2.5], "predicted_mean": [0.25, 1.0, 2.2],
                          "alternative_mean": [0.3, 1.2, 2.4]})
    indices = pd.DataFrame({"inertia": [300_000.0, 200_000.0, 150_000.0], "silhouette": [0.4, 0.5, 0.45],
                            "calinski_harabasz": [10.0, 12.0, 11.0], "davies_bouldin": [0.9, 0.8, 0.85],
                            "gap": [0.1, 0.2, 0.15], "gap_se": [0.01, 0.02, 0.01]}, index=[2, 3, 4])
    rng = np.random.default_rng(0)
    tree = __import__("scipy.cluster.hierarchy", fromlist=["linkage"]).linkage(rng.normal(size=(12, 2)), "ward")
    stability = SimpleNamespace(jaccard=pd.DataFrame({"cluster": [0, 0, 1, 1], "jaccard": [0.9, 0.8, 0.5, 0.6]}),
                                runs=[1, 2])
    matrix = SimpleNamespace(
        assignments=pd.DataFrame({"value": [10.0, 200_000.0, 50.0, 300_000.0], "potential": [1.0, 2.0, 30.0, 40.0],
                                  "quadrant": ["economise", "maintain", "grow", "develop"]}),
        cuts={"value": 100.0, "potential": 10.0}, value="revenue", potential="clv")
    classes = pd.DataFrame({"scheme": ["segment", "segment"], "class": ["champions", "lost"], "lift": [2.5, 0.3]})
    rates = pd.DataFrame({"group": ["champions", "lost"], "rate": [0.3, 0.05], "rate_low": [0.2, 0.01],
                          "rate_high": [0.4, 0.1]})
    return {
        "set_aside_by_reason": plots.set_aside_by_reason(LEDGER, lang),
        "set_aside_by_month": plots.set_aside_by_month(QUARANTINE, lang),
        "rfm_heatmap": plots.rfm_heatmap(SCORES, FEATURES, lang),
        "share_bars": plots.share_bars(SUMMARY, "segment", lang, "chart.segments"),
        "pareto_curve": plots.pareto_curve(FEATURES["revenue"], lang),
        "silhouette_by_k": plots.silhouette_by_k({2: 0.4, 3: 0.5}, 3, lang),
        "score_distribution": plots.score_distribution(SCORES, lang),
        "monthly_rates": plots.monthly_rates(kpis, lang),
        "monthly_values": plots.monthly_values(kpis, lang, SimpleNamespace(symbol="¥")),
        "cohort_heatmap": plots.cohort_heatmap(pd.DataFrame({0: [250_000.0, 12.0], 1: [0.5, np.nan]},
                                                            index=[month(1), month(2)]), lang, measure="revenue"),
        "retention_heatmap": plots.retention_heatmap(
            pd.DataFrame({"month": [month(2), month(2)], "segment": ["champions", "lost"],
                          "retention_rate": [0.5, 0.25], "repurchase_rate": [0.1, 0.2]}), "rfm11", lang),
        "transition_heatmap": plots.transition_heatmap(counts, {"champions": "C", "lost": "L"}, lang),
        "flow_chart": plots.flow_chart(pd.DataFrame({"before": ["champions"], "after": ["lost"], "customers": [3]}),
                                       {"champions": "C", "lost": "L"}, lang),
        "kpi_sparklines": plots.kpi_sparklines(trends, lang),
        "holdout_chart": plots.holdout_chart(check, lang),
        "cluster_indices": plots.cluster_indices(indices, 3, lang),
        "snake_plot": plots.snake_plot(pd.DataFrame({"R": [0.5, -0.5], "F": [1.0, -1.0]}, index=[0, 1]), lang),
        "dendrogram": plots.dendrogram(tree, 3, lang),
        "stability_chart": plots.stability_chart(stability, lang),
        "segmentation_matrix_chart": plots.segmentation_matrix_chart(matrix, lang),
        "class_lift_chart": plots.class_lift_chart(classes, lang),
        "category_index_heatmap": plots.category_index_heatmap(
            pd.DataFrame({"books": [130.0, 80.0], "music": [95.0, 110.0]}, index=["champions", "lost"]), lang),
        "response_rate_chart": plots.response_rate_chart(rates, 0.12, lang),
    }


@pytest.fixture(scope="module")
def charts():
    drawn = {"en": every_chart("en")}
    plots.use_language("zh")
    try:
        drawn["zh"] = every_chart("zh")
    finally:
        plots.use_language("en")
    return drawn


def test_every_public_chart_function_is_drawn_here(charts):
    public = {name for name, function in inspect.getmembers(plots, inspect.isfunction)
              if function.__module__ == plots.__name__ and not name.startswith("_")
              and "lang" in inspect.signature(function).parameters and name != "use_language"}
    assert public == set(charts["en"])
    for lang in ("en", "zh"):
        assert all(isinstance(fig, matplotlib.figure.Figure) for fig in charts[lang].values())


def texts(fig) -> list[str]:
    """Every text drawn on a figure once it is rendered: annotations, tick labels, titles, legends."""
    fig.canvas.draw()
    return [text.get_text() for text in fig.findobj(matplotlib.text.Text) if text.get_text()]


def colours(ax) -> set[str]:
    return {matplotlib.colors.to_hex(patch.get_facecolor()) for patch in ax.patches if patch.get_width() or
            patch.get_height()}


def test_heatmaps_are_seaborn_heatmaps_in_the_palette_colours(charts):
    for name in ("rfm_heatmap", "cohort_heatmap", "retention_heatmap", "transition_heatmap", "category_index_heatmap"):
        ax = charts["en"][name].axes[0]
        meshes = [c for c in ax.collections if isinstance(c, QuadMesh)]
        assert len(meshes) == 1, name  # seaborn draws its heatmap as one mesh with a colour bar beside it
        assert len(charts["en"][name].axes) == 2, name
    # the sequential map ends in the palette's blue; the diverging one runs from that blue to its red
    assert matplotlib.colors.to_hex(plots.SEQUENTIAL(1.0)) == plots.PALETTE[0]
    assert matplotlib.colors.to_hex(plots.DIVERGING(0.0)) == plots.PALETTE[0]
    assert matplotlib.colors.to_hex(plots.DIVERGING(1.0)) == plots.PALETTE[3]
    cross = charts["en"]["category_index_heatmap"].axes[0].collections[0]
    assert cross.norm.vmin < 100 < cross.norm.vmax  # centred on the average (seaborn re-centres the map)


def test_bar_charts_draw_bars_in_the_palette(charts):
    en = charts["en"]
    assert colours(en["set_aside_by_reason"].axes[0]) == {plots.PALETTE[3]}
    assert colours(en["share_bars"].axes[0]) >= {plots.PALETTE[0], plots.PALETTE[1]}
    assert colours(en["holdout_chart"].axes[0]) >= set(plots.PALETTE[:3])
    assert colours(en["class_lift_chart"].axes[0]) == {plots.PALETTE[0]}
    assert colours(en["response_rate_chart"].axes[0]) == {plots.PALETTE[0]}
    counted = [bar.get_height() for ax in en["score_distribution"].axes for bar in ax.patches]
    assert sum(counted) == 3 * len(SCORES)  # every customer counted once per score
    # the set-aside months stack each reason: the bars of a month add up to its set-aside rows
    heights = sorted(bar.get_height() for bar in en["set_aside_by_month"].axes[0].patches if bar.get_height())
    assert sum(heights) == QUARANTINE["ordered_at"].notna().sum()
    sparkline = en["kpi_sparklines"].axes[0].lines[0]
    assert matplotlib.colors.to_hex(sparkline.get_color()) == plots.PALETTE[0]


def test_bars_keep_their_order_the_largest_on_top(charts):
    shares = charts["en"]["share_bars"].axes[0]
    assert [tick.get_text() for tick in shares.get_yticklabels()] == \
        SUMMARY.sort_values("revenue_share", ascending=False)["segment"].tolist()
    reasons = charts["en"]["set_aside_by_reason"].axes[0]
    assert [tick.get_text() for tick in reasons.get_yticklabels()][0] == "missing customer id"
    rates = charts["en"]["response_rate_chart"].axes[0]
    assert [tick.get_text() for tick in rates.get_yticklabels()] == ["champions", "lost"]


def test_numbers_on_the_charts_follow_the_language(charts):
    en, zh = charts["en"], charts["zh"]
    # the set-aside counts written at the end of each bar, with separators
    assert " 12,345" in texts(en["set_aside_by_reason"]) and " 12,345" in texts(zh["set_aside_by_reason"])
    # the R x F heatmap: mean revenue and count in each cell, computed from the frames
    mean = FEATURES["revenue"].groupby([SCORES["f_score"], SCORES["r_score"]]).mean()
    cell = f"{mean.loc[(3, 3)]:,.0f}\n(n=2)"
    assert cell in texts(en["rfm_heatmap"]) and cell in texts(zh["rfm_heatmap"])
    # a money axis: in Chinese the large ticks in 万 (ten thousands), in English in full
    zh_ticks = [tick.get_text() for tick in zh["monthly_values"].axes[0].get_yticklabels()]
    en_ticks = [tick.get_text() for tick in en["monthly_values"].axes[0].get_yticklabels()]
    assert any(text.endswith("万") for text in zh_ticks) and not any("万" in text for text in en_ticks)
    assert "¥200,000" in en_ticks and "¥20万" in zh_ticks  # money: in the currency of the run
    # shares as percentages, never "0.25" or a TeX percent sign
    assert "50%" in texts(en["retention_heatmap"]) and "25%" in texts(zh["retention_heatmap"])
    # the label is the figure the pages say (the top 20% of customers' share), not the curve read between two
    from segkit.classify.value import top_share

    assert f"20% → {top_share(FEATURES['revenue'], 0.2):.1%}" in texts(en["pareto_curve"])
    assert "2,500,000" in texts(en["kpi_sparklines"]) and "250.0万" in texts(zh["kpi_sparklines"])
    assert not [text for fig in [*en.values(), *zh.values()] for text in texts(fig) if "e+" in text or "$" in text]


@pytest.mark.parametrize("months", [2, 12, 32, 36, 37, 60, 120])
def test_kpi_sparklines_pick_their_month_ticks_without_a_warning(months):
    """Every span of months gets its ticks (matplotlib's AutoDateLocator warned, and fell back, at
    32-36 months with at most 6 ticks: the warning reached the terminal of `segkit report`)."""
    import warnings

    index = [dt.date(2020 + m // 12, m % 12 + 1, 1) for m in range(months)]
    series = pd.DataFrame({"customers": np.arange(months, dtype=float) * 1000 + 5,
                           "retention_rate": np.linspace(0.2, 0.4, months)}, index=index)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        figure = plots.kpi_sparklines(series, "en")
        figure.canvas.draw()
        ticks = figure.axes[0].get_xticks()
    assert 2 <= len(ticks) <= 7


def test_the_share_bars_legend_sits_above_the_bars():
    """The legend of customer and revenue shares never covers a bar: it sits above the plot area,
    whatever the bars' lengths (it stood in the lower right, over the longest bars of 04)."""
    summary = pd.DataFrame({"segment": ["a", "b", "c"], "customer_share": [0.95, 0.03, 0.02],
                            "revenue_share": [0.9, 0.05, 0.05]})
    figure = plots.share_bars(summary, "segment", "en", "chart.segments")
    figure.canvas.draw()
    ax = figure.axes[0]
    legend = ax.get_legend().get_window_extent()
    assert legend.y0 >= ax.get_window_extent().y1 - 1
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["Share of customers", "Share of revenue"]


def test_a_class_has_one_colour_on_both_sides_of_the_flow_chart():
    from matplotlib.patches import Rectangle

    flows = pd.DataFrame({"before": ["champions", "lost", "new", "champions"],
                          "after": ["lost", "champions", "champions", "champions"], "customers": [3, 2, 4, 5]})
    figure = plots.flow_chart(flows, {"champions": "Champions", "lost": "Lost"}, "en")
    nodes = [patch for patch in figure.axes[0].patches if isinstance(patch, Rectangle) and patch.get_height() > 0]
    assert len(nodes) == 5  # champions, lost, new on the left; champions, lost on the right
    assert len({matplotlib.colors.to_hex(node.get_facecolor()) for node in nodes}) == 3  # one colour per class
    assert plots.flow_colours(["champions", "lost", "new"]) == {"champions": plots.PALETTE[0],
                                                                "lost": plots.PALETTE[1], "new": "#c8c8c8"}


def test_long_item_names_are_cut_so_their_labels_do_not_overlap():
    """A product heatmap of long names (a UCI product, a Chinese listing title): each tick label at
    most LABEL_WIDTH columns wide (a Chinese character two), ending in "…" where cut; short names whole."""
    import unicodedata

    names = ["SET OF 3 CAKE TINS PANTRY DESIGN", "儿童保温杯316不锈钢带吸管大容量上学专用", "mugs"]
    matrix = pd.DataFrame([[120.0, 80.0, 100.0]], columns=names, index=["champions"])
    fig = plots.category_index_heatmap(matrix, "en", item="product")
    labels = [label.get_text() for label in fig.axes[0].get_xticklabels()]

    def width(text):
        return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)

    assert labels[2] == "mugs" and labels[0].endswith("…") and labels[1].endswith("…")
    assert labels[0].startswith("SET OF 3 CAKE") and labels[1].startswith("儿童保温杯")
    assert max(width(label) for label in labels) <= plots.LABEL_WIDTH


def test_no_axis_label_of_a_chinese_chart_is_an_english_column_name(charts):
    """seaborn names an axis after the data's column ("month", "mean", "group"): on a Chinese page
    each axis label, title and legend title is Chinese (or empty, or a symbol/number)."""
    import re

    found = []
    for name, fig in charts["zh"].items():
        if fig is None:
            continue
        for ax in fig.axes:
            legend = ax.get_legend()
            texts = [ax.get_xlabel(), ax.get_ylabel(), ax.get_title(), legend.get_title().get_text() if legend else ""]
            names = r"Calinski-Harabasz|Davies-Bouldin|Ward|Jaccard|Wilson|CLV|RFM"  # methods and terms, as written
            found += [(name, text) for text in texts if re.search(r"[A-Za-z]{3,}", re.sub(names, "", text))]
    assert found == []


def test_share_ticks_have_the_decimals_their_steps_need():
    """Retention at 2.5-point steps read 2%, 5%, 8%, 10%, 12% (trial 4): now 2.5%, 5.0% ..., and steps
    of 10 points stay whole; the months' axis has no English column name."""
    kpis = pd.DataFrame({"month": pd.date_range("2025-01-01", periods=6, freq="MS"),
                         "retention_rate": [0.02, 0.05, 0.08, 0.11, 0.14, 0.17],
                         "repurchase_rate": [0.01, 0.03, 0.05, 0.07, 0.09, 0.12]})
    fig = plots.monthly_rates(kpis, "zh")
    ax = fig.axes[0]
    assert ax.get_xlabel() == ""
    ax.set_yticks([0, 0.025, 0.05, 0.075, 0.1, 0.125])
    fig.canvas.draw()
    assert [label.get_text() for label in ax.get_yticklabels()] == ["0.0%", "2.5%", "5.0%", "7.5%", "10.0%", "12.5%"]
    ax.set_yticks([0, 0.1, 0.2, 0.3])
    fig.canvas.draw()
    assert [label.get_text() for label in ax.get_yticklabels()] == ["0%", "10%", "20%", "30%"]


def test_share_ticks_ask_the_locator_for_the_ticks_once_a_draw_not_once_a_label():
    """The decimals are decided for the ticks being labelled (`set_locs`): asking the axis for its ticks
    in each label's call ran the locator again per label, 40% of drawing a chart with share axes."""
    import matplotlib.ticker

    class Counting(matplotlib.ticker.MaxNLocator):
        calls = 0

        def __call__(self):
            Counting.calls += 1
            return super().__call__()

    fig = plots.pareto_curve(pd.Series(np.linspace(1, 100, 50)), "en")
    ax = fig.axes[0]
    ax.yaxis.set_major_locator(Counting(nbins=10))
    fig.canvas.draw()
    labels = [label.get_text() for label in ax.get_yticklabels()]
    assert len(labels) >= 5 and all(label.endswith("%") for label in labels)
    assert 0 < Counting.calls < len(labels)  # a few times a draw (layout, ticks), not once a label
    alone = plots._PercentTicks("en")
    assert alone(0.125) == "12.5%" and alone(0.1) == "10%"  # a label asked for alone: the decimals it needs


def test_the_flow_charts_labels_are_readable_and_never_overlap():
    """06's flow chart of the demo's ten largest moves, the small classes at the bottom: each label at
    least 10 pt on a 9-inch figure (about 8 pt on the A4 page) and no two labels of a side overlapping."""
    flows = pd.DataFrame({"before": ["champions", "loyal", "potential", "potential", "lost", "promising",
                                     "need_attention", "need_attention", "hibernating", "about_to_sleep"],
                          "after": ["loyal", "champions", "champions", "need_attention", "potential", "potential",
                                    "hibernating", "at_risk", "potential", "potential"],
                          "customers": [41, 23, 20, 15, 7, 6, 8, 6, 5, 4]})
    names = {code: code.replace("_", " ").title() for code in {*flows["before"], *flows["after"]}}
    figure = plots.flow_chart(flows, names, "en")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw(renderer)
    labels = [text for text in figure.axes[0].texts if text.get_text().strip()]
    assert len(labels) == 14 and min(text.get_fontsize() for text in labels) >= 10
    boxes = [text.get_window_extent(renderer) for text in labels]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b), (a, b)


EURO = SimpleNamespace(symbol="€", minor_unit=2)


def tick_texts(axis) -> list[str]:
    return [tick.get_text() for tick in axis.get_ticklabels() if tick.get_text()]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_money_axis_and_label_carries_the_currency(lang):
    """The index's KPI chart labelled revenue "500,000" and its end "29": every axis and label of money
    on a chart is in the run's currency (numbers.axis_money, numbers.short_money), and no other
    axis is."""
    assert {name for name, function in inspect.getmembers(plots, inspect.isfunction)
            if not name.startswith("_") and "currency" in inspect.signature(function).parameters} == {
        "rfm_heatmap", "monthly_values", "cohort_heatmap", "kpi_sparklines", "segmentation_matrix_chart"}
    plots.use_language(lang)
    try:
        heatmap = plots.rfm_heatmap(SCORES, FEATURES, lang, currency=EURO)
        values = plots.monthly_values(pd.DataFrame({"month": [month(1), month(2)], "avg_order_value": [12_000.0, 250_000.0],
                                                    "purchase_frequency": [1.0, 1.5]}), lang, EURO)
        cohorts = plots.cohort_heatmap(pd.DataFrame({0: [250_000.0, 12.0], 1: [5_000.0, np.nan]}, index=[month(1), month(2)]),
                                       lang, measure="revenue", currency=EURO)
        trends = plots.kpi_sparklines(pd.DataFrame({"revenue": [500_000.0, 750_000.0], "avg_order_value": [31.0, 29.0],
                                                    "customers": [900.0, 1_000.0]}, index=[month(1), month(2)]),
                                      lang, currency=EURO)
        matrix = plots.segmentation_matrix_chart(SimpleNamespace(
            assignments=pd.DataFrame({"value": [10.0, 200_000.0, 50.0, 300_000.0], "potential": [1.0, 2.0, 30.0, 40.0],
                                      "quadrant": ["economise", "maintain", "grow", "develop"]}),
            cuts={"value": 100.0, "potential": 10.0}, value="revenue", potential="clv"), lang, currency=EURO)
        for fig in (heatmap, values, cohorts, trends, matrix):
            fig.canvas.draw()
    finally:
        plots.use_language("en")

    def all_money(labels):
        return bool(labels) and all("€" in label for label in labels)

    # the heat maps: every cell and the colour bar
    for fig in (heatmap, cohorts):
        cells = [text.get_text() for text in fig.axes[0].texts if text.get_text()]
        assert all_money(cells) and all_money(tick_texts(fig.axes[1].yaxis)), cells
    assert all_money(tick_texts(values.axes[0].yaxis)) and not any("€" in x for x in tick_texts(values.axes[1].yaxis))
    # the KPI chart: revenue and average order value on their axes and at their ends, customers not
    from segkit.report.plots import _kpi_label

    panels = {ax.get_title(loc="left"): ax for ax in trends.axes}
    customers, revenue, order_value = (panels[_kpi_label(kpi, lang)] for kpi in ("customers", "revenue", "avg_order_value"))
    for ax in (revenue, order_value):
        assert all_money(tick_texts(ax.yaxis)) and all_money([text.get_text() for text in ax.texts])
    assert not any("€" in x for x in [*tick_texts(customers.yaxis), *(text.get_text() for text in customers.texts)])
    assert "€29" in [text.get_text() for text in order_value.texts]
    assert all_money(tick_texts(matrix.axes[0].xaxis)) and all_money(tick_texts(matrix.axes[0].yaxis))


def test_money_tick_labels_in_the_report_language():
    from segkit.report import numbers

    assert numbers.axis_money(500_000, "en", EURO) == "€" + format(500_000, ",d")
    assert numbers.axis_money(500_000, "zh", EURO) == "€50万" and numbers.axis_money(-1_500, "en", EURO) == "-€1,500"
    assert numbers.axis_money(0, "en", EURO) == "€0" and numbers.axis_money(2.5, "en", None) == "2.5"
    assert numbers.short_money(29.4, "en", EURO) == "€29" and numbers.short_money(2_500_000, "zh", EURO) == "€250.0万"


def test_a_kpi_whose_later_months_have_no_value_names_the_month_of_its_last_one():
    """A survey that stopped in September: the NPS line's last value is September's, and its label says so,
    where the other figures' last value is the report's month."""
    index = [dt.date(2026, m, 1) for m in range(6, 12)]
    series = pd.DataFrame({"customers": [100.0, 110, 120, 130, 140, 150],
                           "nps": [10.0, -20, -47, np.nan, np.nan, np.nan]}, index=index)
    figure = plots.kpi_sparklines(series, "en", kpis=["customers", "nps"])
    labels = [text.get_text() for ax in figure.axes for text in ax.texts]
    assert labels == ["150", "-47 (2026-08)"]


def test_kpi_sparklines_draw_a_small_move_as_small():
    """The trial's top-20% share went 61.0% -> 61.5% and its sparkline climbed the whole height: each
    y-axis was its data's range. A share's axis spans at least 5 percentage points (from 0 near it), a
    count's or an amount's at least a fifth of its value, an NPS's 20 points; a series that moves more
    keeps its own range."""
    index = [dt.date(2026, m, 1) for m in range(1, 7)]
    series = pd.DataFrame({"top_share": np.linspace(0.610, 0.615, 6), "retention_rate": np.linspace(0.010, 0.012, 6),
                           "customers": np.linspace(5000.0, 5010.0, 6), "revenue": np.full(6, 250_000.0),
                           "nps": np.linspace(30.0, 32.0, 6), "repurchase_rate": np.linspace(0.2, 0.8, 6)}, index=index)
    figure = plots.kpi_sparklines(series, "en", kpis=list(series.columns))
    limits = {kpi: figure.axes[i].get_ylim() for i, kpi in enumerate(series.columns)}
    for kpi, least in {"top_share": 0.05, "retention_rate": 0.05, "customers": 0.2 * 5010, "revenue": 0.2 * 250_000,
                       "nps": 20.0}.items():
        low, high = limits[kpi]
        assert high - low >= least * 0.999, (kpi, limits[kpi])
        assert low <= series[kpi].min() and series[kpi].max() <= high, kpi  # every value still on the chart
    assert limits["retention_rate"][0] == 0.0  # a share near 0: from 0, not a gap below it
    assert limits["top_share"][0] >= 0.5 and limits["top_share"][1] <= 0.7  # not a 0-100% axis that flattens all
    low, high = limits["repurchase_rate"]  # 20% -> 80% moves enough: its own range, with a margin
    assert 0.1 < low < 0.2 and 0.8 < high < 0.9
    figure.canvas.draw()  # the labels of a flat series still read as the figure
    assert "61.5%" in texts(figure) and "250,000" in "".join(texts(figure))


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_set_aside_charts_tell_data_errors_from_rows_a_rule_sets_aside(tmp_path, lang):
    # trial 45: 01 read its refunds, cancellations and later rows as "the first thing to fix at the source"
    from segkit.intake.cleaning import clean_transactions
    from segkit.intake.sources import load_source
    from segkit.params import Cleaning, Source
    from segkit.report.html import reading

    path = tmp_path / "orders.csv"
    path.write_text("order,customer,date,amount,status\n1,a,2024-05-01,10,done\n2,a,2024-05-02,12,refunded\n"
                    "3,b,2024-05-03,8,refunded\n4,,2024-05-04,9,done\n5,b,2024-06-02,7,done\n", encoding="utf-8")
    intake = load_source(Source.model_validate({"kind": "file", "transactions": {"path": str(path), "columns": {
        "order_id": "order", "customer_id": "customer", "ordered_at": "date", "amount": "amount", "status": "status"}}}))
    result = clean_transactions(intake.engine, intake.transactions, as_of=dt.date(2024, 5, 31),
                                rules=Cleaning(returns={"status_values": ["refunded"]}))
    aside = result.ledger[(result.ledger["outcome"] == "set_aside") & (result.ledger["rows"] > 0)]
    assert set(aside["rule"]) == {"refunded_order", "missing_customer_id", "after_as_of"}, result.ledger
    ax = plots.set_aside_by_reason(result.ledger, lang).axes[0]
    bars = {tick.get_text(): matplotlib.colors.to_hex(bar.get_facecolor())
            for tick, bar in zip(ax.get_yticklabels(), [p for p in ax.patches if p.get_width()])}
    assert bars == {rule_name("refunded_order", lang): plots.RULE_COLOUR,
                    rule_name("after_as_of", lang): plots.RULE_COLOUR,
                    rule_name("missing_customer_id", lang): plots.ERROR_COLOUR}
    assert [text.get_text() for text in ax.get_legend().get_texts()] == [
        t("chart.set_aside_error", lang), t("chart.set_aside_rule", lang)]
    months = plots.set_aside_by_month(result.quarantine, lang).axes[0]
    labels = {text.get_text() for text in months.get_legend().get_texts()}
    assert t("chart.reason_by_rule", lang, reason=rule_name("after_as_of", lang)) in labels
    assert rule_name("missing_customer_id", lang) in labels  # a data error, unmarked
    said = reading("read.set_aside_by_reason", lang).markup
    assert ("refunds" if lang == "en" else "退款") in said and ("nothing to fix" if lang == "en" else "无需修正") in said
