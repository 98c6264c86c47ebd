"""Tables for reports: translated headers and number formats chosen by what a column holds."""

from __future__ import annotations

import pandas as pd

from segkit.i18n import label_columns

PERCENT = ("top", "answered_share", "share", "customer_share", "revenue_share", "precision", "recall", "f1", "purity", "accuracy")
MONEY = ("revenue", "revenue_total", "avg_order_value", "median_revenue", "amount")


def table(frame: pd.DataFrame, lang: str, max_rows: int | None = None):
    """A styled, translated table for a report (a pandas Styler; the index is hidden)."""
    shown = frame.head(max_rows) if max_rows else frame
    formats = {}
    for column in shown.columns:
        if column in PERCENT:
            formats[column] = "{:.1%}"
        elif column in MONEY:
            formats[column] = "{:,.2f}"
        elif column == "source_row":
            formats[column] = "{:d}"  # a line number, not a quantity
        elif pd.api.types.is_integer_dtype(shown[column]):
            formats[column] = "{:,}"
        elif pd.api.types.is_float_dtype(shown[column]):
            formats[column] = "{:,.3g}"
    styled = shown.style.format(formats, na_rep="—")
    text = [c for c in shown.columns if not pd.api.types.is_numeric_dtype(shown[c])]
    if text:
        styled = styled.set_properties(subset=text, **{"text-align": "left"})
    labelled = label_columns(shown, lang)
    styled = styled.relabel_index(list(labelled.columns), axis="columns").hide(axis="index")
    return styled.set_table_attributes('class="segkit-table"')


def dimension_tables(profile: pd.DataFrame, column: str, dimensions, segment_map, lang: str):
    """One segment-by-dimension table per dimension the data has (customer type, region, ...)."""
    from IPython.display import HTML

    from segkit.i18n import messages, t
    from segkit.report.tables import segments_by

    parts = []
    for dimension in dimensions:
        if dimension not in profile.columns:
            continue
        name = t(f"dimension.{dimension}", lang) if f"dimension.{dimension}" in messages() else dimension
        parts.append(f"<p>{t('rfm.by_dimension', lang, dimension=name)}</p>")
        parts.append(table(segments_by(profile, column, dimension, segment_map, lang), lang).to_html())
    return HTML("\n".join(parts)) if parts else None
