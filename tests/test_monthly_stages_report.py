"""The monthly figures of the shared English report are computed once: 03 saves the monthly KPIs
and the month-start classes, and 06's trends and the history's month figures are those same numbers."""

import json

import duckdb
import pandas as pd
import pytest

from segkit.monthly.activity import month_start_classes, monthly_kpis
from segkit.monthly.codes import month_numbers
from segkit.monthly.history import history_path
from segkit.monthly.shared import FINGERPRINT
from segkit.params import load_params
from segkit.classify.rfm import load_segment_map

pytestmark = pytest.mark.slow


def test_03_saves_the_monthly_figures_that_06_and_the_history_read(en_run):
    params_path, result = en_run
    data = result.folder / "data"
    params = load_params(params_path)
    activity = pd.read_parquet(data / "activity.parquet")
    kpis = pd.read_parquet(data / "monthly_kpis.parquet")
    assert kpis.attrs.get(FINGERPRINT)  # made by a step of the report, with what it was made from
    fresh = monthly_kpis(activity)
    pd.testing.assert_frame_equal(kpis.drop(columns="month"), fresh.drop(columns="month"), check_exact=True)
    classes = pd.read_parquet(data / "month_start_classes.parquet")
    history = pd.read_parquet(data / "month_start_features.parquet")
    info = json.loads((data / "run.json").read_text(encoding="utf-8"))
    grid = load_segment_map(info.get("segment_map_used") or params.rfm.segment_map)  # the grid 06 classifies with
    expected = month_start_classes(history, params.rfm, grid, load_segment_map(params.rfm.class_map))
    assert classes["segment"].tolist() == expected["segment"].tolist()
    assert classes["rfm_class"].tolist() == expected["rfm_class"].tolist()
    # 06's trends carry the saved KPIs month by month
    trends = pd.read_parquet(data / "kpi_trends.parquet").set_index("month")
    by_month = kpis.set_index("month")
    months = [m for m in trends.index if m in by_month.index]
    assert months
    pd.testing.assert_series_equal(trends.loc[months, "revenue"], by_month.loc[months, "revenue"], check_names=False)
    # the history's figures of the run's month are the saved ones
    as_of = pd.Timestamp(info["as_of"])
    row = kpis[month_numbers(kpis["month"]) == as_of.year * 12 + as_of.month - 1].iloc[0]
    with duckdb.connect(str(history_path(result.folder.parent)), read_only=True) as con:
        written = dict(con.execute("SELECT name, value FROM kpis WHERE name LIKE 'month_%'").fetchall())
    assert written["month_active_customers"] == row["active_customers"]
    assert written["month_revenue"] == row["revenue"]
