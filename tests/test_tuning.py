"""Tuning in JupyterLab (segkit.tuning): the pure tables, the new params file, and the panel driven
from code (widget values set, no browser)."""

import ast
import html
import importlib.util
import json
import sys

import pandas as pd
import pytest

import segkit
from conftest import ROOT, write_params
from segkit.errors import ParamsError, SegkitError
from segkit.i18n import t
from segkit.tuning import (NotebookExtraMissing, TuningPanel, TuningSettings, parse_cuts, tuning_panel, tuning_tables,
                           write_tuned_params)

FIXED_CUTS = {"recency_days": [30, 90, 180], "orders": [1, 3], "revenue": [100, 500]}


@pytest.fixture(scope="module")
def features():
    from segkit.datasets import generate_retail
    from segkit.features import customer_features
    from segkit.intake.sources import connect

    tx = generate_retail(customers=300, seed=1).transactions
    return customer_features(connect(), tx, tx["ordered_at"].max().date())


@pytest.fixture
def params_path(tmp_path):
    return write_params(tmp_path)  # cluster k_min 2, k_max 4


@pytest.fixture
def panel(features, params_path):
    return TuningPanel(features, params_path, k=3)


def view(tables, name):
    return tables[tables["view"] == name].set_index("code")


# -- the pure tables --
def test_every_view_counts_each_customer_once_and_all_the_revenue(features):
    before = features.copy()
    tables = tuning_tables(features, TuningSettings(bins=4, k=3))
    assert set(tables["view"]) == {"segment", "frequency_tier", "monetary_tier", "cluster"}
    for name, rows in tables.groupby("view"):
        assert rows["customers"].sum() == len(features), name
        assert rows["customer_share"].sum() == pytest.approx(1.0)
        assert rows["revenue"].sum() == pytest.approx(features["revenue"].sum())
        assert rows["revenue_share"].sum() == pytest.approx(1.0)
    pd.testing.assert_frame_equal(features, before)  # the input is not changed


def test_segment_and_tier_views_agree_with_the_report_functions(features):
    settings = TuningSettings(bins=3, method="fixed", cuts=FIXED_CUTS, frequency_tier={
        "method": "quantile", "quantiles": (0.4, 0.9), "thresholds": None})
    tables = tuning_tables(features, settings, views=("segment", "frequency_tier"))
    scorer = segkit.RFMScorer(3, method="fixed", cuts=FIXED_CUTS).fit(features)
    segments, _ = segkit.segment_customers(features, scorer)
    expected = segments["segment"].value_counts()
    counted = view(tables, "segment")["customers"]
    assert counted[counted > 0].to_dict() == expected.to_dict()
    tiers = segkit.tiers(features["orders"], quantiles=(0.4, 0.9)).value_counts()
    assert view(tables, "frequency_tier")["customers"][tiers.index].tolist() == tiers.tolist()


def test_tier_quantiles_set_the_share_of_customers_in_each_tier(features):
    tables = tuning_tables(features, TuningSettings(monetary_tier={"method": "quantile", "quantiles": (0.6, 0.9),
                                                                   "thresholds": None}), views=("monetary_tier",))
    shares = view(tables, "monetary_tier")["customer_share"]
    # revenue has few ties: the top 10% are high, the next 30% mid (to a customer or two)
    assert shares["high"] == pytest.approx(0.1, abs=0.01) and shares["mid"] == pytest.approx(0.3, abs=0.01)


def test_bad_settings_are_one_params_error_naming_the_key(features):
    with pytest.raises(ParamsError, match=r"cuts.recency_days must be a non-empty, strictly increasing list"):
        tuning_tables(features, TuningSettings(method="fixed", cuts={**FIXED_CUTS, "recency_days": [90, 30]}))
    with pytest.raises(ParamsError, match="needs cut points for orders"):
        tuning_tables(features, TuningSettings(method="fixed", cuts={"recency_days": [30], "revenue": [100]}))
    with pytest.raises(ParamsError, match=r"k_rule fixed needs k from k_min to k_max \(2..4\), got k=7"):
        tuning_tables(features, TuningSettings(k=7, k_range=(2, 4)))
    with pytest.raises(ParamsError, match="rfm.cuts.orders: 'one, two' is not a list of numbers"):
        parse_cuts("one, two", "orders")


def test_too_few_profiles_for_k_gives_no_cluster_rows(features):
    three = features.head(9).assign(recency_days=[5] * 3 + [50] * 3 + [200] * 3, orders=[4] * 3 + [2] * 3 + [1] * 3,
                                    revenue=[400.0] * 3 + [100.0] * 3 + [10.0] * 3)
    tables = tuning_tables(three, TuningSettings(k=4, k_range=(2, 4)), views=("cluster",))
    assert tables.empty


# -- the new params file --
def test_write_keeps_every_other_key_and_loads_back(features, params_path, tmp_path):
    original = params_path.read_bytes()
    settings = TuningSettings.from_params(segkit.load_params(params_path)).replace(
        bins=4, method="fixed", cuts=FIXED_CUTS, k=3,
        monetary_tier={"method": "quantile", "quantiles": (0.6, 0.9), "thresholds": None})
    target = write_tuned_params(params_path, settings, tmp_path / "tuned.yaml")
    assert params_path.read_bytes() == original
    tuned, before = segkit.load_params(target), segkit.load_params(params_path)
    assert tuned.rfm.bins == 4 and tuned.rfm.method == "fixed" and tuned.rfm.cuts == FIXED_CUTS
    assert tuned.tiers.monetary.quantiles == (0.6, 0.9) and tuned.tiers.frequency == before.tiers.frequency
    assert (tuned.cluster.k_rule, tuned.cluster.k) == ("fixed", 3)
    same = ["run_name", "lang", "as_of", "source", "cleaning", "evaluate", "value", "tags", "ranking"]
    assert {k: getattr(tuned, k) for k in same} == {k: getattr(before, k) for k in same}
    assert tuned.cluster.model_dump(exclude={"k_rule", "k"}) == before.cluster.model_dump(exclude={"k_rule", "k"})
    header = target.read_text(encoding="utf-8").splitlines()[:6]
    assert any("rfm.bins: 5 -> 4" in line for line in header) and any("cluster.k_rule: gap -> fixed" in line
                                                                        for line in header)


def test_a_change_under_a_yaml_alias_stays_where_it_was_made(tmp_path):
    original = tmp_path / "alias.yaml"
    original.write_text("tiers:\n  frequency: &same {quantiles: [0.5, 0.8]}\n  monetary: *same\n", encoding="utf-8")
    settings = TuningSettings.from_params(segkit.load_params(original))
    settings = settings.replace(monetary_tier={**settings.monetary_tier, "quantiles": (0.6, 0.9)})
    tuned = segkit.load_params(write_tuned_params(original, settings, tmp_path / "tuned.yaml", parts=("tiers",)))
    assert tuned.tiers.monetary.quantiles == (0.6, 0.9) and tuned.tiers.frequency.quantiles == (0.5, 0.8)


def test_write_refuses_the_original_and_an_existing_file(params_path, tmp_path):
    settings = TuningSettings(bins=3)
    with pytest.raises(ParamsError, match="is the original params file, which the tuning panel never edits in place"):
        write_tuned_params(params_path, settings, params_path)
    taken = tmp_path / "taken.yaml"
    taken.write_text("run_name: other\n", encoding="utf-8")
    with pytest.raises(ParamsError, match="already exists; give a new name"):
        write_tuned_params(params_path, settings, taken)
    assert taken.read_text(encoding="utf-8") == "run_name: other\n"
    write_tuned_params(params_path, settings, taken, overwrite=True)
    assert segkit.load_params(taken).rfm.bins == 3
    with pytest.raises(ParamsError, match="does not exist"):
        write_tuned_params(params_path, settings, tmp_path / "no" / "such.yaml")


# -- the panel, driven from code --
def test_moving_the_controls_changes_the_tables(panel, features):
    first = panel.tables
    panel.controls["bins"].value = 3
    after_bins = panel.tables
    assert not view(after_bins, "segment")["customers"].equals(view(first, "segment")["customers"])
    expected = tuning_tables(features, panel.settings, views=("segment",))
    assert view(after_bins, "segment")["customers"].tolist() == view(expected, "segment")["customers"].tolist()
    panel.controls["tiers.monetary"].value = (0.6, 0.9)
    assert view(panel.tables, "monetary_tier").loc["high", "customer_share"] == pytest.approx(0.1, abs=0.01)
    assert view(panel.tables, "frequency_tier").equals(view(first, "frequency_tier"))  # untouched view kept
    panel.controls["k"].value = 4
    assert len(view(panel.tables, "cluster")) == 4 and len(view(first, "cluster")) == 3


def test_fixed_cut_points_typed_in_the_panel(panel, features):
    assert not panel.controls["bins"].disabled
    panel.controls["method"].value = "fixed"  # the fields hold the learned cut points: a valid start
    assert panel.status.value == "" and panel.settings.method == "fixed"
    assert panel.controls["bins"].disabled  # cut points, not bins, set the scores now
    for column, cuts in FIXED_CUTS.items():
        panel.controls[f"cuts.{column}"].value = ", ".join(map(str, cuts))
    assert panel.settings.cuts == {c: [float(v) for v in cuts] for c, cuts in FIXED_CUTS.items()}
    expected = tuning_tables(features, TuningSettings(method="fixed", cuts=FIXED_CUTS), views=("segment",))
    assert view(panel.tables, "segment")["customers"].tolist() == view(expected, "segment")["customers"].tolist()


def test_a_bad_value_is_one_message_and_the_tables_stay(panel):
    panel.controls["method"].value = "fixed"
    shown = panel.tables
    panel.controls["cuts.recency_days"].value = "90, 30"
    assert "strictly increasing" in panel.status.value and "Traceback" not in panel.status.value
    pd.testing.assert_frame_equal(panel.tables, shown)
    panel.controls["cuts.orders"].value = "few"
    assert "is not a list of numbers" in panel.status.value


def test_what_the_scorer_refuses_is_one_message_too(features, tmp_path):
    panel = TuningPanel(features, write_params(tmp_path, "rank", rfm={"ties": "rank"}), parts=("rfm",))
    shown = panel.tables
    panel.controls["method"].value = "fixed"
    assert "ties='rank' applies to method='quantile' only" in html.unescape(panel.status.value)  # shown escaped
    assert panel.settings.method == "quantile"
    pd.testing.assert_frame_equal(panel.tables, shown)


def test_the_output_shows_a_table_and_a_chart_per_view(panel):
    kinds = [next(k for k in o["data"] if k != "text/plain") for o in panel.output.outputs]
    assert kinds.count("image/png") == 4 and kinds.count("text/html") == 8  # a sentence and a table per view
    markup = "".join(o["data"].get("text/html", "") for o in panel.output.outputs)
    assert "Champions" in markup and t("tier.monetary.high", "en") in markup
    assert panel._repr_mimebundle_()["application/vnd.jupyter.widget-view+json"]["model_id"] == panel.widget.model_id


def test_save_button_writes_a_new_file_and_never_the_original(panel, params_path):
    original = params_path.read_bytes()
    panel.controls["bins"].value = 4
    panel.controls["k"].value = 2
    default = panel.path.value
    panel.save_button.click()
    assert "Saved" in panel.status.value and params_path.read_bytes() == original
    tuned = segkit.load_params(default)
    assert tuned.rfm.bins == 4 and tuned.cluster.k == 2
    assert panel.path.value != default  # the next save goes to another new name
    panel.path.value = str(params_path)
    panel.save_button.click()
    assert "never edits in place" in panel.status.value and params_path.read_bytes() == original
    panel.path.value = default
    panel.save_button.click()
    assert "already exists" in panel.status.value
    panel.overwrite.value = True
    panel.save_button.click()
    assert "Saved" in panel.status.value


def test_the_panel_speaks_chinese(features, tmp_path):
    panel = TuningPanel(features, write_params(tmp_path, "zh", lang="zh"), parts=("tiers",))
    assert set(panel.tables["group"]) >= {t("tier.monetary.high", "zh"), t("tier.frequency.low", "zh")}
    assert panel.controls["tiers.monetary"].description == t("tuning.tiers.monetary", "zh")
    assert set(panel.controls) == {"tiers.frequency", "tiers.monetary"}


# -- batch runs and a missing ipywidgets --
def test_batch_runs_get_no_panel(features, params_path, monkeypatch):
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.delenv("SEGKIT_BATCH", raising=False)
    assert tuning_panel(features, params_path, parts=["tiers"]) is None
    monkeypatch.setenv("JPY_SESSION_NAME", "notebooks/02_rfm.ipynb")
    assert isinstance(tuning_panel(features, params_path, parts=["tiers"]), TuningPanel)
    monkeypatch.setenv("SEGKIT_BATCH", "1")
    assert tuning_panel(features, params_path, parts=["tiers"]) is None


def test_without_ipywidgets_one_clear_message(features, params_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import ipywidgets now raises ImportError
    copy = importlib.util.module_from_spec(importlib.util.find_spec("segkit.tuning"))
    copy.__spec__.loader.exec_module(copy)  # a fresh import of segkit.tuning works without ipywidgets
    assert not tuning_tables(features, TuningSettings(), views=("segment",)).empty  # the tables need no widgets
    with pytest.raises(SegkitError, match=r"needs ipywidgets.*pip install segkit\[notebook\]") as caught:
        TuningPanel(features, params_path)
    assert isinstance(caught.value, NotebookExtraMissing)
    said = tuning_panel(features, params_path, interactive=True)  # in a notebook: one sentence, no traceback
    assert "pip install segkit[notebook]" in said.markup
    assert tuning_panel(features, params_path, interactive=False) is None


@pytest.mark.parametrize("name, parts", [("02_rfm", ["rfm", "tiers"]), ("04_clustering", ["cluster"])])
def test_the_notebook_ends_with_one_tagged_panel_call(name, parts):
    cells = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text(encoding="utf-8"))["cells"]
    last = cells[-1]
    assert last["cell_type"] == "code" and last["metadata"]["tags"] == ["analyst-notes"] and last["outputs"] == []
    body = ast.parse("".join(last["source"])).body
    assert len(body) == 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Call)
    call = body[0].value
    assert ast.unparse(call.func) == "segkit.tuning_panel"
    assert [ast.literal_eval(k.value) for k in call.keywords if k.arg == "parts"] == [parts]
    assert sum("tuning_panel" in "".join(c["source"]) for c in cells) == 1
