"""The evaluation page (05_evaluation) of the shared whole-report runs: every part is there, in
the report's language, with no error text. Reads the session fixtures; adds no report run."""

import html
import re

import pytest

pytestmark = pytest.mark.slow


def page_text(folder) -> str:
    markup = (folder / "05_evaluation.html").read_text(encoding="utf-8")
    markup = re.sub(r"<style.*?</style>|<script.*?</script>", " ", markup, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", markup)))


def test_english_page_has_every_part(en_run):
    text = page_text(en_run[1].folder)
    for heading in ("Cluster quality beside the RFM segments", "What defines each group, in plain rules",
                    "The segmentation matrix: value × potential", "Do the groups predict the next period?",
                    "Which settings are better?"):
        assert heading in text
    assert ("Would we get the same clusters again?" in text) or ("clustering did not run" in text)
    assert "Eight classes" in text and "RFM segments" in text
    assert "marked ★" in text and text.count("★") == 3  # the sentence and the one best row of each of its two tables
    assert "Suggested action" in text and "Lift" in text
    for bad in ("Traceback", "Error", " nan ", "NaN", "mathdefault"):
        assert bad not in text


def test_chinese_page_speaks_chinese(zh_run):
    text = page_text(zh_run[1].folder)
    for words in ("客户细分矩阵", "决策树分类规则", "分群能否预测下一期", "哪种设置更好", "建议策略", "提升度"):
        assert words in text
    for english in ("Which settings are better?", "Suggested action", "Would we get the same", "RFM segments, 5 bins"):
        assert english not in text
    assert "Traceback" not in text
