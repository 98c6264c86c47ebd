"""Every word a report shows, in Chinese and English, from one place (segkit/locale/messages.yaml).

One call draws the Chinese or the English version: `t("kpi.revenue", "zh")` -> "销售额".
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import pandas as pd
import yaml

LANGUAGES = ("en", "zh")


@lru_cache(maxsize=None)
def messages() -> dict[str, dict[str, str]]:
    text = resources.files("segkit.locale").joinpath("messages.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def t(key: str, lang: str, **values) -> str:
    """The text for `key` in `lang`, with {placeholders} filled from `values`."""
    if lang not in LANGUAGES:
        raise ValueError(f"lang must be one of {', '.join(LANGUAGES)}, got {lang!r}")
    try:
        template = messages()[key][lang]
    except KeyError:
        raise KeyError(f"no text for {key!r} in {lang!r}: add it to segkit/locale/messages.yaml") from None
    return template.format(**values) if values else template


def label_columns(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """A copy of `frame` whose known column names are translated (unknown ones are left as they are)."""
    known = messages()
    return frame.rename(columns={c: known[f"col.{c}"][lang] for c in frame.columns if f"col.{c}" in known})


def rule_name(rule: str, lang: str) -> str:
    return t(f"rule.{rule}", lang) if rule else t("ledger.used", lang)


def cluster_name(r_level: int, f_level: int, m_level: int, lang: str) -> str:
    """A readable cluster name from its levels (1 worst .. 5 best), e.g. "very recent, frequent, top spend"."""
    parts = [t(f"level.{dim}.{level}", lang) for dim, level in (("r", r_level), ("f", f_level), ("m", m_level))]
    return t("name.separator", lang).join(parts)


def format_conditions(conditions, lang: str) -> str:
    """IF-part of a tree rule, with the bounds on each feature merged: "orders > 2 AND revenue <= 310"."""
    lower: dict[str, float] = {}
    upper: dict[str, float] = {}
    order: list[str] = []
    for feature, op, threshold in conditions:
        if feature not in order:
            order.append(feature)
        if op == "<=":
            upper[feature] = min(upper.get(feature, threshold), threshold)
        else:
            lower[feature] = max(lower.get(feature, threshold), threshold)
    parts = []
    for feature in order:
        name = t(f"col.{feature}", lang)
        if feature in lower and feature in upper:
            parts.append(f"{lower[feature]:,.4g} < {name} <= {upper[feature]:,.4g}")
        elif feature in lower:
            parts.append(f"{name} > {lower[feature]:,.4g}")
        else:
            parts.append(f"{name} <= {upper[feature]:,.4g}")
    return t("rule.and", lang).join(parts) if parts else "—"
