"""The report's time charts draw what they are given: rows, columns and labels (seaborn heatmaps)."""

import datetime as dt

import numpy as np
import pandas as pd

from segkit.classify.rfm import load_segment_map
from segkit.report import plots


def _labels(ticks):
    return [tick.get_text() for tick in ticks]


def test_retention_heatmap_rows_are_segments_in_the_map_order_and_blank_where_undefined():
    rates = pd.DataFrame({"month": [dt.date(2024, 2, 1)] * 2 + [dt.date(2024, 3, 1)] * 2,
                          "segment": ["lost", "champions", "lost", "champions"],
                          "retention_rate": [np.nan, 0.5, 0.25, 1.0], "repurchase_rate": [0.1, 0.6, 0.2, 0.9]})
    fig = plots.retention_heatmap(rates, load_segment_map("rfm11"), "en")
    ax = fig.axes[0]
    assert _labels(ax.get_yticklabels()) == ["Champions", "Lost"]  # the map's order, in words
    assert _labels(ax.get_xticklabels()) == ["2024-02", "2024-03"]
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["50%", "100%", "25%"]  # the undefined cell (lost, February) is blank
    plots.use_language("zh")
    try:
        zh = plots.retention_heatmap(rates, load_segment_map("rfm11"), "zh", "repurchase_rate")
    finally:
        plots.use_language("en")
    assert _labels(zh.axes[0].get_yticklabels()) == ["冠军客户", "已流失客户"]
    assert [t.get_text() for t in zh.axes[0].texts] == ["60%", "90%", "10%", "20%"]


def test_cohort_revenue_heatmap_starts_at_the_first_month_and_shares_start_at_one():
    table = pd.DataFrame({0: [100.0, 50.0], 1: [30.0, np.nan], 2: [np.nan, np.nan]},
                         index=[dt.date(2024, 1, 1), dt.date(2024, 2, 1)])
    revenue = plots.cohort_heatmap(table, "en", measure="revenue").axes[0]
    assert _labels(revenue.get_xticklabels()) == ["0", "1", "2"]
    assert _labels(revenue.get_yticklabels()) == ["2024-01", "2024-02"]
    assert [t.get_text() for t in revenue.texts] == ["100", "30", "50"]
    shares = plots.cohort_heatmap(table / 100, "en").axes[0]
    assert _labels(shares.get_xticklabels()) == ["1", "2"]


def test_monthly_values_has_one_panel_per_measure_with_the_currency():
    kpis = pd.DataFrame({"month": [dt.date(2024, 1, 1), dt.date(2024, 2, 1)], "avg_order_value": [10.0, 12.0],
                         "purchase_frequency": [1.0, 1.5]})

    class Currency:
        symbol = "£"

    fig = plots.monthly_values(kpis, "en", Currency())
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["Average order value (£)", "Orders per active customer"]
    assert list(fig.axes[0].lines[0].get_ydata()) == [10.0, 12.0]


def test_retention_heatmap_labels_months_that_fell_back_to_the_recency_spend_grid():
    # in the first month F could not discriminate yet (everyone had one order): rm6 codes
    rates = pd.DataFrame({"month": [dt.date(2024, 2, 1), dt.date(2024, 3, 1)],
                          "segment": ["recent_big_spenders", "champions"], "retention_rate": [0.5, 0.75],
                          "repurchase_rate": [0.5, 0.75]})
    ax = plots.retention_heatmap(rates, "rfm11", "en").axes[0]
    labels = _labels(ax.get_yticklabels())
    assert labels[0] == "Champions" and len(labels) == 2 and "recent_big_spenders" not in labels


def test_a_cohort_chart_with_no_month_after_the_first_is_not_drawn():
    one_month = pd.DataFrame({0: [1.0]}, index=[dt.date(2024, 1, 1)])
    assert plots.cohort_heatmap(one_month, "en") is None
    assert plots.cohort_heatmap(one_month * 100, "en", measure="revenue") is not None  # month 0 is there


def test_every_chart_function_returns_its_figure():
    """A chart function that draws and returns nothing shows nothing in a notebook (a merge once cut
    two `return fig` lines): each public function of plots returns a value on some path."""
    import ast
    import inspect

    from segkit.report import plots

    tree = ast.parse(inspect.getsource(plots))
    silent = [node.name for node in tree.body if isinstance(node, ast.FunctionDef) and not node.name.startswith("_")
              and not any(isinstance(n, ast.Return) and n.value is not None for n in ast.walk(node))]
    assert silent == [], silent
