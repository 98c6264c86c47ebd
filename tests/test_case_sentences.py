"""The case study's conclusions (08) and the executive summary never speak of "0 customers": an empty
group is said as none, a part of a sentence about no one is left out (08 said "按购买模型，0 位高消费层
客户的存活概率低于 50%，可能已流失，应优先联系。")."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from segkit.classify.rfm import segment_customers
from segkit.i18n import messages, t
from segkit.report import tables

GROUPS = ("valuable", "at_risk", "gone")
ZERO_COUNT = re.compile(r"(?<![\d.,])0(?![\d.,%])")  # a count of 0, not 0.5, 10 or 0%


def text_of(rendered) -> str:
    return re.sub(r"<[^>]+>", "", rendered.markup).strip()


def empty(segment_map: str) -> dict:
    return {"segment_map": segment_map,
            **{group: {"n": 0, "customer_share": 0.0, "revenue": 0.0, "revenue_share": 0.0} for group in GROUPS}}


def test_every_group_sentence_has_a_none_form():
    group_keys = [key for key in messages() if re.fullmatch(r"case\.(valuable|at_risk|lost)(\.\w+)?", key)
                  and not key.endswith(".none")]
    assert [key for key in group_keys if f"{key}.none" not in messages()] == []


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("segment_map", ["rfm11", "rm6"])
def test_an_empty_group_is_said_as_none(lang, segment_map):
    for group in GROUPS:
        said = text_of(tables.case_group_text(empty(segment_map), group, lang))
        assert not ZERO_COUNT.search(said), said
        key = f"{tables.GROUP_MESSAGES[group]}{'.rm6' if segment_map == 'rm6' else ''}.none"
        assert said == t(key, lang)


def test_an_empty_group_of_real_segments_is_said_as_none():
    """Twenty customers, the more recent the more they buy: no one who bought well has drifted away."""
    features = pd.DataFrame({"customer_id": range(20), "recency_days": range(1, 21), "orders": range(20, 0, -1),
                             "revenue": np.linspace(100, 5, 20)})
    segments, _ = segment_customers(features)
    findings = tables.case_findings(features, segments)
    assert findings["segment_map"] == "rfm11" and findings["at_risk"]["n"] == 0 < findings["valuable"]["n"]
    for lang in ("en", "zh"):
        said = text_of(tables.case_group_text(findings, "at_risk", lang))
        assert not ZERO_COUNT.search(said) and said == t("case.at_risk.none", lang)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_future_value_sentence_leaves_out_or_says_none_of_an_empty_part(lang):
    said = {case: tables.value_text({"high": high, "share": share, "slipping": slipping}, lang, horizon=12,
                                    horizon_unit=t("unit.months", lang), threshold=0.5)
            for case, (high, share, slipping) in {"both": (120, 0.61, 7), "none_slipping": (120, 0.61, 0),
                                                  "no_high": (0, 0.0, 7), "neither": (0, 0.0, 0)}.items()}
    assert said["neither"] is None and tables.value_text(None, lang, 12, "months", 0.5) is None
    for case in ("both", "none_slipping", "no_high"):
        assert not ZERO_COUNT.search(text_of(said[case])), (case, text_of(said[case]))
    assert "120" in text_of(said["none_slipping"]) and "7" in text_of(said["no_high"])
    assert "120" not in text_of(said["no_high"])


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_03_and_05_say_no_one_rather_than_0_customers(lang):
    """03 said "高价值但可能已流失：0 位高消费层客户的存活概率低于 50%" and 05 "0 位缺少其中一项的客户未放入矩阵":
    with nobody to name, the sentence says none or leaves that part out; with someone, the count."""
    from types import SimpleNamespace

    nobody = text_of(tables.slipping_text(pd.DataFrame({"customer_id": []}), lang, 0.5))
    assert not ZERO_COUNT.search(nobody) and "50%" in nobody
    three = text_of(tables.slipping_text(pd.DataFrame({"customer_id": ["a", "b", "c"]}), lang, 0.5))
    assert re.search(r"(?<![\d.,])3(?![\d.,%])", three)
    assert tables.slipping_text(None, lang, 0.5) is None
    matrix = SimpleNamespace(cuts={"value": 120.0, "potential": 0.4}, left_out=0)
    placed = text_of(tables.matrix_text(matrix, lang, "CLV", "P(alive)", "median"))
    assert not ZERO_COUNT.search(placed.replace("0.40", "")) and "120.00" in placed
    matrix.left_out = 7
    assert "7" in text_of(tables.matrix_text(matrix, lang, "CLV", "P(alive)", "median"))
