import io
import string
import warnings

import matplotlib
import pandas as pd
import pytest

from segkit.report import plots
from segkit.i18n import LANGUAGES, label_columns, messages, t, value_names
from segkit.report.tables import segment_summary

from conftest import ROOT, require_tool


def test_every_message_exists_in_both_languages_with_the_same_placeholders():
    # an English plural field ({rows?row|rows}) reads the count that the Chinese text shows
    for key, texts in messages().items():
        assert set(texts) == set(LANGUAGES), key
        assert all(texts[lang].strip() for lang in LANGUAGES), key
        assert value_names(texts["en"]) == value_names(texts["zh"]), key


def test_messages_merge_the_area_files_and_refuse_a_key_given_twice(tmp_path, monkeypatch):
    from segkit import i18n
    (tmp_path / "messages.yaml").write_text('a.b: {en: "A", zh: "甲"}\n', encoding="utf-8")
    (tmp_path / "messages_extra.yaml").write_text('c.d: {en: "C", zh: "丙"}\n', encoding="utf-8")
    (tmp_path / "notes.yaml").write_text('e.f: {en: "E", zh: "戊"}\n', encoding="utf-8")
    monkeypatch.setattr(i18n.resources, "files", lambda package: tmp_path)
    i18n.messages.cache_clear()
    try:
        assert set(i18n.messages()) == {"a.b", "c.d"}
        (tmp_path / "messages_more.yaml").write_text('a.b: {en: "again", zh: "又"}\n', encoding="utf-8")
        i18n.messages.cache_clear()
        with pytest.raises(ValueError, match="messages_more.yaml repeats keys of another messages file: a.b"):
            i18n.messages()
    finally:
        monkeypatch.undo()
        i18n.messages.cache_clear()


def test_unknown_key_and_language_are_clear_errors():
    with pytest.raises(KeyError, match="add it to segkit/locale/messages"):
        t("no.such.key", "en")
    with pytest.raises(ValueError, match="lang must be one of en, zh, got 'fr'"):
        t("kpi.revenue", "fr")


def test_language_switch_keeps_the_numbers_and_translates_the_labels():
    features = pd.DataFrame({"customer_id": ["a", "b", "c"], "recency_days": [1, 200, 30], "orders": [9, 1, 3],
                             "revenue": [900.0, 10, 90]})
    codes = pd.Series(["champions", "lost", "loyal"])
    en = segment_summary(features, codes, "rfm11", "en")
    zh = segment_summary(features, codes, "rfm11", "zh")
    numbers = ["customers", "orders", "revenue", "customer_share", "revenue_share", "avg_order_value"]
    pd.testing.assert_frame_equal(en[numbers], zh[numbers])
    assert en["segment"].iloc[0] == "Champions" and zh["segment"].iloc[0] == "冠军客户"
    assert zh["strategy"].iloc[0] != en["strategy"].iloc[0]
    assert label_columns(en[["revenue"]], "zh").columns.tolist() == ["销售额"]


def test_chinese_charts_find_a_cjk_font_and_miss_no_glyph():
    require_tool("fc-list")
    font = plots.use_language("zh")
    assert font is not None, "no CJK font: apt-get install fonts-noto-cjk"
    ledger = pd.DataFrame({"outcome": ["used", "set_aside"], "rule": ["", "duplicate"], "rows": [10, 2]})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figure = plots.set_aside_by_reason(ledger, "zh")
        figure.savefig(io.BytesIO(), format="png")
    assert not [w for w in caught if "Glyph" in str(w.message)], [str(w.message) for w in caught]
    assert figure.axes[0].get_title() == "按原因统计的隔离行数"
    plots.use_language("en")
    assert matplotlib.rcParams["font.sans-serif"][0] == "DejaVu Sans"


def test_columns_in_sentences_and_cells_are_named_in_the_pages_language():
    from segkit.classify.rfm import RFMScorer
    from segkit.i18n import column_in_text, columns_in_text
    from segkit.report.evaluation_tables import setting_name
    from segkit.report.tables import cut_points_table

    # segkit's own columns by their labels; a column of the user's data as written, quoted in Chinese
    assert columns_in_text(["category", "recency_days", "country"], "zh", ("dimension", "col")) == \
        "品类、距上次购买天数、“country”"
    assert columns_in_text(["category", "country"], "en", ("dimension", "col")) == "category, country"
    assert column_in_text("orders", "en") == "Orders"
    features = pd.DataFrame({"customer_id": list("abcdef"), "recency_days": [1, 5, 30, 60, 90, 200],
                             "orders": [9, 5, 3, 2, 1, 1], "revenue": [900.0, 500, 90, 40, 20, 10]})
    cuts = RFMScorer(3).fit(features).cut_points()
    assert cut_points_table(cuts, "zh")["feature"].tolist() == ["距上次购买天数", "订单数", "销售额"]
    assert cut_points_table(cuts, "en")["feature"].tolist() == ["Days since last purchase", "Orders", "Revenue"]
    # M's cut points in the run's currency, as every other amount of the report; days and orders plain
    from segkit.params import Currency
    scorer = RFMScorer(3).fit(features)
    shown = cut_points_table(scorer.cut_points(2), "zh", Currency(code="CNY", symbol="¥", minor_unit=2),
                             scorer.cuts_).set_index("dimension")
    m_cuts = shown.loc["M", "cut_points"].split(", ")
    assert m_cuts and all(c.startswith("¥") and len(c.rsplit(".", 1)[1]) == 2 for c in m_cuts), m_cuts
    assert "¥" not in shown.loc["R", "cut_points"] + shown.loc["F", "cut_points"]
    assert list(shown.columns) == ["feature", "bins", "cut_points"]
    row = {"method": "kmeans", "k": 4, "features": "recency_days, orders, age"}
    assert setting_name(row, "zh") == "k均值，k = 4（距上次购买天数、订单数、age）"
    assert setting_name(row, "en") == "k-means, k = 4 (Days since last purchase, Orders, age)"


def test_chinese_sets_no_blank_between_a_value_and_chinese_words():
    from segkit.report.html import say

    # a unit in Chinese after "时间单位为 ", a translated column before "列有": no blank; Latin keeps its blanks
    intro = {"model": "BG/NBD", "customers": 300, "horizon": 12, "horizon_unit": "月", "period": "月", "discount": 0.01, "threshold": 0.5}
    assert "时间单位为周。" in t("value.intro", "zh", unit="周", **intro)
    assert "时间单位为 weeks。" in t("value.intro", "zh", unit="weeks", **intro)
    note = {"rows": 2, "signs": "$", "example": "$1", "code": "CNY"}
    assert t("cleaning.note.currency_sign_differs", "zh", column="实付金额", **note).startswith("实付金额列有 2 个")
    assert t("cleaning.note.currency_sign_differs", "zh", column="Paid", **note).startswith("Paid 列有 2 个")
    run = {"method": "k均值", "categorical": "", "preparation": "—", "k_min": 2, "k_max": 4, "k": 3}
    assert say("cluster.run", "zh", columns="订单数、销售额", **run).markup.startswith("<p>对订单数、销售额进行k均值。")
    assert say("cluster.run", "zh", columns="age", **run).markup.startswith("<p>对 age 进行k均值。")
    assert t("cluster.run", "en", columns="Orders", **{**run, "method": "k-means"}).startswith("k-means on Orders.")


def test_no_chinese_text_of_the_catalogue_sets_a_blank_between_chinese_words():
    import re

    from segkit.i18n import CJK

    found = [(key, literal) for key, texts in messages().items()
             for literal, _, _, _ in string.Formatter().parse(texts["zh"])
             if re.search(f"[{CJK}][ \t]+[{CJK}]", literal)]
    assert not found, found


def test_where_the_transactions_came_from_is_said_in_the_report_language():
    """The origins the sources write (in English, for messages) are said in Chinese on a zh page;
    a file's path stays as it is."""
    from segkit.i18n import origin_text
    from segkit.intake.sources import _spark_origin

    assert origin_text("database table sales.orders", "zh") == "数据库表 sales.orders"
    assert origin_text(_spark_origin("shop.orders", None, "parquet"), "zh") == "Spark 表 shop.orders"
    assert origin_text(_spark_origin(None, "/data/o", "parquet"), "zh") == "Spark parquet 文件 /data/o"
    assert origin_text(_spark_origin(None, "/data/o", "parquet"), "en") == "Spark parquet files /data/o"
    assert origin_text("订单.csv", "zh") == "订单.csv"


def test_an_english_sentence_names_the_eight_classes_as_the_english_tables_do():
    """06 in English said "(重要价值客户 ... 一般挽留客户)" beside tables of "Important value"."""
    import yaml

    from segkit.i18n import messages

    chinese_names = [entry["zh"] for entry in
                     yaml.safe_load((ROOT / "segkit" / "classify" / "maps" / "cn8.yaml").read_text("utf-8"))["segments"]]
    assert len(chinese_names) == 8
    said = [key for key, text in messages().items() if isinstance(text, dict)
            and any(name in str(text.get("en", "")) for name in chinese_names)]
    assert said == []


# English texts that deliberately name a Chinese term, by (file, key path): none today. The Chinese
# words an English page may show come from the data (a customer's category, a class name of a custom
# map written only in Chinese), never from segkit's own English. Outside these files, the intake
# presets' titles name a Chinese system's export as that system labels it ("Taobao/Tmall seller order
# report (订单报表)"), so that a user can find it there.
ENGLISH_WITH_CHINESE: set[tuple[str, str]] = set()
HAN = "\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"  # CJK punctuation, ideographs, full-width forms


def texts_in(node, lang: str, path: str = ""):
    """(key path, text) of every `<lang>:` value ("en", "zh") in a loaded YAML tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == lang and isinstance(value, str):
                yield path, value
            else:
                yield from texts_in(value, lang, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for number, value in enumerate(node):
            yield from texts_in(value, lang, f"{path}[{number}]")


def test_no_english_text_shows_chinese():
    """07's English page headed its rules "Cross-sell rules (关联规则)": every English text of the
    catalogues (segkit/locale) and of the segment maps (segkit/classify/maps) is free of Chinese
    characters, bar ENGLISH_WITH_CHINESE."""
    import re

    import yaml

    han = re.compile(f"[{HAN}]")
    files = [*sorted((ROOT / "segkit" / "locale").glob("*.yaml")), *sorted((ROOT / "segkit" / "classify" / "maps").glob("*.yaml"))]
    assert len(files) > 10
    found = [(path.name, key, text[:80]) for path in files
             for key, text in texts_in(yaml.safe_load(path.read_text(encoding="utf-8")), "en")
             if han.search(text) and (path.name, key) not in ENGLISH_WITH_CHINESE]
    assert found == []
    assert not han.search(t("crosssell.rules", "en", basket="orders", min_baskets=30, min_confidence=0.3, min_support=0.01,
                            rules=12, segments=3, top=5))


def test_chinese_pages_use_the_standard_rfm_terms_and_an_unambiguous_repurchase_rate():
    """02 said "最近购买（越近越高）、购买频次（订单数）和消费金额": R, F and M are 最近一次消费、消费频率、
    消费金额 wherever they are named. segkit's repurchase rate is the share of earlier buyers who bought
    this month, which a Chinese reader takes 复购率 for the share of customers with two purchases or
    more: it is 老客回购率 on every page, chart and table."""
    import re

    import yaml

    assert [t(f"rfm_dim.{d}", "zh") for d in "rfm"] == ["R（最近一次消费）", "F（消费频率）", "M（消费金额）"]
    for dimension, term in (("r", "最近一次消费"), ("f", "消费频率"), ("m", "消费金额")):
        assert term in t(f"col.{dimension}_score", "zh")
    intro = t("rfm.intro", "zh", customers=10, bins=5)
    assert all(term in intro for term in ("最近一次消费", "消费频率", "消费金额"))
    files = [*sorted((ROOT / "segkit" / "locale").glob("*.yaml")), ROOT / "segkit" / "classify" / "maps" / "strategies.yaml"]
    old = re.compile(r"购买频次|最近购买（|复购率")
    found = [(path.name, key, text[:60]) for path in files for key, text in texts_in(yaml.safe_load(path.read_text(encoding="utf-8")), "zh")
             if old.search(text)]
    assert found == []
    assert t("col.repurchase_rate", "zh") == t("trend.repurchase_rate", "zh") == "老客回购率"
    assert "老客回购率" in t("chart.monthly_rates", "zh") and "老客回购率" in t("value.monthly", "zh")
