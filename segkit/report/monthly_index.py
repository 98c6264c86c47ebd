"""The index page's monthly part: the alerts that fired this month and the KPIs against last month,
with their course over the months as small line charts. Read from the stages 06_migration saved."""

from __future__ import annotations

import base64
import io
from pathlib import Path

from segkit.i18n import t
from segkit.report.html import escape, table


def monthly_section(data_dir: str | Path, params) -> str:
    """HTML for the index page (every value escaped by `segkit.report.html`), or "" when the run has
    no KPI series (no 06_migration stage: a customer-level source)."""
    from segkit.classify.rfm import load_segment_map
    from segkit.report import plots
    from segkit.report.tables import alert_messages, kpi_change_table
    from segkit.monthly.trends import kpi_changes
    from segkit.report.html import say_each
    from segkit.store import load_run_info, load_stage

    trends = load_stage(data_dir, "kpi_trends", optional=True)
    if trends is None or trends.empty:
        return ""
    lang = params.lang
    info = load_run_info(data_dir)
    segments = load_segment_map(info.get("segment_map_used") or params.rfm.segment_map, custom=params.rfm.custom_maps)
    classes = load_segment_map(params.rfm.class_map, custom=params.rfm.custom_maps, basis=params.rfm.class_basis,
                               thresholds=params.rfm.class_thresholds)
    labels, class_labels = dict(segments.labels(lang)), dict(classes.labels(lang))
    series = trends.set_index("month")
    series.index = [value.date() if hasattr(value, "date") else value for value in series.index]
    alerts = load_stage(data_dir, "alerts", optional=True)
    top = params.case_study.top_share
    said = say_each(alert_messages(alerts, labels, class_labels, lang, top), lang).markup if alerts is not None else ""
    fired = alerts is not None and bool(alerts["fired"].any())
    changes = kpi_change_table(kpi_changes(series), labels, lang, top=top, currency=params.currency)
    figure = plots.kpi_sparklines(series, lang, top=top)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    image = base64.b64encode(buffer.getvalue()).decode("ascii")
    return (f'<h2>{escape(t("alert.index_title", lang))}</h2>\n'
            f'<div class="alerts{" fired" if fired else ""}">{said}</div>\n'
            f'<h2>{escape(t("chart.kpi_trends", lang))}</h2>\n'
            f'{table(changes, lang).to_html()}\n'
            f'<img class="trends" src="data:image/png;base64,{image}" alt="{escape(t("chart.kpi_trends", lang))}">\n')
