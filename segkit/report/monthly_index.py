"""The index page's monthly part: the alerts that fired this month and the KPIs against last month,
with their course over the months as small line charts. Read from the stages 06_migration saved."""

from __future__ import annotations

import base64
import io
from pathlib import Path

from segkit.i18n import t
from segkit.report.html import escape, say_each, table


def monthly_section(data_dir: str | Path, params) -> str:
    """HTML for the index page (every value escaped by `segkit.report.html`), or "" when the run has
    no KPI series (no 06_migration stage: a customer-level source)."""
    from segkit.report import plots
    from segkit.report.tables import restated_from_stage, trends_from_stage
    from segkit.store import load_stage

    lang = params.lang
    changes, alerts = trends_from_stage(data_dir, params, lang)
    if changes is None:
        return ""
    fired = any(key == "migration.alerts_fired" for key, _ in alerts)
    series = load_stage(data_dir, "kpi_trends").set_index("month")
    plots.use_language(lang)  # the index is written outside the notebooks: a CJK font for zh labels
    figure = plots.kpi_sparklines(series, lang, top=params.case_study.top_share, currency=params.currency)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    image = base64.b64encode(buffer.getvalue()).decode("ascii")
    title = escape(t("chart.kpi_trends", lang))
    said, restated = restated_from_stage(data_dir, params, lang)
    restated_html = f"{say_each(said, lang).markup}\n{table(restated, lang).to_html()}\n" if restated is not None else ""
    return (f'<h2>{escape(t("alert.index_title", lang))}</h2>\n'
            f'<div class="alerts{" fired" if fired else ""}">{say_each(alerts, lang).markup}</div>\n'
            f'<h2>{title}</h2>\n{table(changes, lang).to_html()}\n'
            f'<img class="trends" src="data:image/png;base64,{image}" alt="{title}">\n{restated_html}')
