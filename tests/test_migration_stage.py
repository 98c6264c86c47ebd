"""The migration stage of a run (06_migration) on the shared English report: last month's classes
planted in the history so that every move is known, clusters renumbered so that the matching must
find them, and the page itself."""

import datetime as dt
import shutil

import numpy as np
import pandas as pd
import pytest
from bs4 import BeautifulSoup

import segkit
from segkit.monthly.history import classification_standards, history_path, write_month
from segkit.report.tables import migration_intro
from segkit.monthly.stage import migration_stage
from segkit.store import load_stage

pytestmark = pytest.mark.slow


@pytest.fixture
def run_copy(en_run, tmp_path):
    params_path, result = en_run
    data = tmp_path / "reports" / "tiny" / "data"
    shutil.copytree(result.folder / "data", data)
    return segkit.load_params(params_path), data


def test_planted_moves_are_counted_and_the_slipped_customers_listed(run_copy):
    params, data = run_copy
    profile = load_stage(data, "profile")
    clusters = load_stage(data, "clusters")
    at_risk = profile.loc[profile["segment"] == "at_risk", "customer_id"].astype(str).tolist()[:3]
    assert len(at_risk) == 3
    newcomers = profile.loc[~profile["customer_id"].isin(at_risk), "customer_id"].astype(str).tolist()[:2]
    last = profile.assign(customer_id=profile["customer_id"].astype(str))
    last.loc[last["customer_id"].isin(at_risk), "segment"] = "champions"  # they were Champions last month
    last = last[~last["customer_id"].isin(newcomers)]  # and these had no class: new this month
    k = int(clusters["cluster"].max()) + 1
    renumber = {c: (c + 1) % k for c in range(k)}
    last = last.merge(clusters.assign(customer_id=clusters["customer_id"].astype(str))[["customer_id", "cluster"]],
                      on="customer_id")
    last["cluster"] = last["cluster"].map(renumber)
    write_month(history_path(data.parent.parent), params.run_name, dt.date(2024, 11, 30), last, {"customers": 1.0})

    migration = migration_stage(params, data)
    assert migration.source == "history" and migration.month == dt.date(2024, 12, 1)
    matrix = migration.counts["segment"]
    stayed = profile[~profile["customer_id"].astype(str).isin(at_risk + newcomers)]
    expected = stayed["segment"].value_counts()
    for code, customers in expected.items():
        assert matrix.loc[code, code] == customers
    assert matrix.loc["champions", "at_risk"] == 3
    assert matrix.loc["new"].sum() == 2
    assert int(matrix.to_numpy().sum()) == len(profile)
    assert sorted(migration.slipped["customer_id"]) == sorted(at_risk)
    assert (migration.slipped["before"] == "champions").all()
    saved = load_stage(data, "moved_to_at_risk")
    assert sorted(saved["customer_id"]) == sorted(at_risk)
    # the rule "more than 5% of Champions moved to At Risk"
    champions_before = int(matrix.loc["champions"].sum())
    alert = migration.alerts.iloc[0]
    assert alert["value"] == pytest.approx(3 / champions_before)
    assert bool(alert["fired"]) == (3 / champions_before > 0.05)
    # last month's cluster c is this month's cluster c - 1: the matching undoes the renumbering
    matched = dict(zip(migration.clusters["cluster"], migration.clusters["previous_cluster"]))
    assert matched == {c: renumber[c] for c in range(k)}


def test_clusters_are_not_matched_on_fewer_columns_than_they_were_made_on(run_copy):
    """01 writes the month-start columns of the clustering features it was run with; when
    cluster.features names another feature column later (04 rerun alone), 06 says why it does not
    match the clusters rather than matching them on the columns it has."""
    params, data = run_copy
    clusters = load_stage(data, "clusters")
    last = load_stage(data, "profile")[["customer_id", "segment", "rfm_class"]].astype({"customer_id": str})
    last = last.merge(clusters.assign(customer_id=clusters["customer_id"].astype(str))[["customer_id", "cluster"]],
                      on="customer_id")
    write_month(history_path(data.parent.parent), params.run_name, dt.date(2024, 11, 30), last, {"customers": 1.0})
    assert "tenure_days" not in pd.read_parquet(data / "month_start_features.parquet").columns
    assert migration_stage(params, data).clusters is not None  # with the columns 01 wrote: matched
    # a customer table's extra column has no month-start value at all: matched on the others, as before
    features = load_stage(data, "features")
    features.assign(age=40.0).to_parquet(data / "features.parquet", index=False)
    segkit.save_run_info(data, cluster_features=["recency_days", "orders", "revenue", "age"])
    assert migration_stage(params, data).clusters is not None
    segkit.save_run_info(data, cluster_features=["recency_days", "orders", "revenue", "tenure_days"])
    migration = migration_stage(params, data)
    assert migration.clusters is None and migration.clusters_reason == "month_start_lacks_features"
    for lang in ("en", "zh"):
        assert "01_cleaning" in segkit.t(f"migration.reason.{migration.clusters_reason}", lang)


def test_the_first_run_recomputes_last_month_and_the_page_says_so(en_run):
    _, result = en_run
    html = (result.folder / "06_migration.html").read_text(encoding="utf-8")
    page = " ".join(BeautifulSoup(html, "html.parser").get_text(" ").split())
    assert "This is the month of 2024-12. The history holds no run of last month, so last month's classes " \
           "were recomputed from the transactions" in page
    assert "Customers by their move in the month" in page and "Reactivated" in page
    assert html.count("<img") == 4  # two transition heatmaps, the flow chart, the KPI lines
    assert "Clusters are not compared with last month: the history holds no clusters of last month" in page
    assert ("No alert fired this month (2 rules checked" in page) != ("Alerts that fired this month:" in page)
    trends = load_stage(result.folder / "data", "kpi_trends")
    activity = load_stage(result.folder / "data", "activity")
    by_month = activity.groupby(pd.to_datetime(activity["month"]).dt.to_period("M"))["revenue"].sum()
    assert trends["revenue"].round(2).tolist() == by_month.round(2).tolist()


def test_last_month_classified_with_other_standards_is_recomputed_and_the_page_says_what_changed(run_copy):
    """A month in the history made with rfm.bins 4, this run with 5: comparing them would count a
    change of rules as customers' moves, so last month is recomputed with this run's standards."""
    params, data = run_copy
    last = load_stage(data, "profile")[["customer_id", "segment", "rfm_class"]].astype({"customer_id": str})
    last["segment"] = "lost"  # were last month's classes used, every customer would come from Lost
    history = history_path(data.parent.parent)
    standards = classification_standards(params)
    write_month(history, params.run_name, dt.date(2024, 11, 30), last, {"customers": 1.0},
                standards={**standards, "rfm.bins": 4})
    migration = migration_stage(params, data)
    assert migration.source == "recomputed" and migration.standards_changed == [("rfm.bins", 4, params.rfm.bins)]
    assert "lost" not in migration.counts["segment"].index or migration.counts["segment"].loc["lost"].sum() < len(last)
    (key, values), = migration_intro(migration, "en")
    sentence = segkit.t(key, "en", **values)
    assert "with other standards (rfm.bins: 4 → 5)" in sentence and "recomputed" in sentence
    assert "rfm.bins: 4 → 5" in segkit.t(key, "zh", **values)
    # the index's sentence over last month counted again names the changed standards, not late rows alone
    from segkit.report.tables import restated_from_stage

    said, shown = restated_from_stage(data, params, "en")
    assert said == [("trend.restated_standards", {"changes": "rfm.bins"})] and shown is not None
    # the same standards: last month's classes are the history's
    write_month(history, params.run_name, dt.date(2024, 11, 30), last, {"customers": 1.0}, standards=standards)
    migration = migration_stage(params, data)
    assert migration.source == "history" and migration.standards_changed == []
    assert restated_from_stage(data, params, "en")[0] == [("trend.restated", {})]
    assert migration.counts["segment"].loc["lost"].sum() == len(last)


def test_the_page_says_why_the_matrix_and_the_moves_count_customers_differently(run_copy):
    """Last month's classes come from last month's run; the moves from the data as they stand now.
    A customer of last month who is none now (an order cancelled in full since) and customers whom
    last month classified but whose first purchase is now this month's are said under the matrix."""
    from dataclasses import replace

    from segkit.report.html import say_each
    from segkit.report.tables import matrix_notes

    params, data = run_copy
    profile = load_stage(data, "profile").assign(customer_id=lambda f: f["customer_id"].astype(str))
    last = profile[["customer_id", "segment", "rfm_class"]]
    ghost = pd.DataFrame({"customer_id": ["ghost"], "segment": ["champions"], "rfm_class": [last["rfm_class"].iloc[0]]})
    planted = pd.concat([last, ghost], ignore_index=True)  # every customer of this month, and one who is none
    write_month(history_path(data.parent.parent), params.run_name, dt.date(2024, 11, 30), planted, {"customers": 1.0})
    migration = migration_stage(params, data)
    moves = load_stage(data, "customer_moves")
    assert migration.gone_since == 1
    assert migration.new_since == int((moves["move"] == "new").sum())  # all of them had a class last month
    assert migration.counts["segment"].loc["new"].sum() == 0
    text = say_each(matrix_notes(migration), "en").markup
    assert "Customers of last month's classes who are no customers now: 1 (" in text
    assert "上月分类中有 1 位客户本月已不是客户" in say_each(matrix_notes(migration), "zh").markup
    said = say_each(matrix_notes(replace(migration, new_since=2)), "en").markup
    assert "Customers counted as new in the moves above who had a class last month: 2 (" in said
    assert matrix_notes(replace(migration, gone_since=0, new_since=0)) == []


def test_a_slip_that_only_the_moving_thresholds_made_is_said_as_such():
    """Trial 4: the eight classes' F threshold is the customers' mean orders, 1.95 last month and 2.03
    now, so every customer with 2 orders fell to "low F" without doing anything. Such a slip is marked
    moved_by "thresholds" (their features against last month's thresholds give the class they had, and
    their RFM segment did not slip); one whose recency passed the threshold slipped by what they did."""
    from segkit.classify.rfm import assign_high_low_classes, load_segment_map
    from segkit.monthly.stage import moved_by_thresholds
    from segkit.report.tables import slipped_notes

    class_map = load_segment_map("cn8", basis="mean")
    rng = np.random.default_rng(0)
    n = 200
    base = pd.DataFrame({"customer_id": [f"c{i}" for i in range(n)], "recency_days": rng.integers(10, 400, n).astype(float),
                         "orders": rng.choice([1, 2, 3], n, p=[0.3, 0.45, 0.25]).astype(float),
                         "revenue": rng.gamma(2.0, 200.0, n)})
    base.loc[0, ["recency_days", "orders", "revenue"]] = [20.0, 2.0, 5000.0]  # "x": unchanged, 2 orders
    base.loc[1, ["recency_days", "orders", "revenue"]] = [20.0, 3.0, 5000.0]  # "y": stops buying
    previous = base.copy()
    previous["orders"] = previous["orders"].where(previous.index < 2, previous["orders"].clip(upper=2))
    previous.loc[2:40, "orders"] = 1.0
    now = base.copy()
    now.loc[1, "recency_days"] = 900.0
    before_classes, before_t = assign_high_low_classes(previous, class_map)
    after_classes, after_t = assign_high_low_classes(now, class_map)
    assert before_t["f"] < 2 < after_t["f"]  # 2 orders: high F last month, low now
    moved = np.flatnonzero(before_classes.to_numpy() != after_classes.to_numpy())
    slipped = pd.DataFrame({"customer_id": now["customer_id"].to_numpy()[moved], "before": "loyal", "after": "loyal",
                            "class_before": before_classes.to_numpy()[moved],
                            "class_after": after_classes.to_numpy()[moved]})
    marked, thresholds = moved_by_thresholds(slipped, previous, now, class_map, "rfm11")
    by = marked.set_index("customer_id")["moved_by"]
    assert by["c0"] == "thresholds" and by["c1"] == "customer"
    assert thresholds[0]["f"] == pytest.approx(previous["orders"].mean())
    # a slip of the RFM segment too is the customer's, whatever the thresholds did
    both = slipped.assign(before="champions", after="at_risk")
    assert (moved_by_thresholds(both, previous, now, class_map, "rfm11")[0]["moved_by"] == "customer").all()
    # business thresholds do not move: nothing to mark
    fixed = load_segment_map("cn8", basis="threshold", thresholds={"recency_days": 90, "orders": 2, "revenue": 500})
    assert "moved_by" not in moved_by_thresholds(slipped, previous, now, fixed, "rfm11")[0].columns

    class Seen:  # what 06's page reads of the migration
        pass

    seen = Seen()
    seen.slipped, seen.class_thresholds = marked, thresholds
    [(key, values)] = slipped_notes(seen, "en")
    assert key == "migration.slipped_by_thresholds" and values["count"] == int((marked["moved_by"] == "thresholds").sum())
    assert "Orders" in values["changes"] and "→" in values["changes"]


@pytest.mark.parametrize("lang,currency,revenue", [
    ("zh", {"code": "CNY", "symbol": "¥"}, "¥2,727.74 → ¥2,896.95"),
    ("en", {"code": "JPY", "symbol": "¥", "minor_unit": 0}, "¥2,728 → ¥2,897"),
    ("en", {}, "2,727.74 → 2,896.95")])
def test_the_thresholds_that_moved_show_revenue_in_the_runs_currency(lang, currency, revenue):
    """Trial: 06_migration (Chinese) said "销售额 2,727.74 → 2,896.95", the revenue threshold without the
    currency that every other amount on the page has; days and orders stay plain numbers."""
    from types import SimpleNamespace

    from segkit.params import Currency
    from segkit.report.html import say_each
    from segkit.report.tables import slipped_notes

    seen = SimpleNamespace(slipped=pd.DataFrame({"customer_id": ["a", "b"], "moved_by": ["thresholds", "customer"]}),
                           class_thresholds=({"r": 120.5, "f": 1.95, "m": 2727.74},
                                             {"r": 120.5, "f": 2.03, "m": 2896.95}),
                           currency=Currency(**currency))
    [(key, values)] = slipped_notes(seen, lang)
    assert revenue in values["changes"] and f"{segkit.t('col.orders', lang)} 1.95 → 2.03" in values["changes"]
    assert segkit.t("col.recency_days", lang) not in values["changes"]  # the recency threshold did not move
    assert revenue in say_each([(key, values)], lang).markup


@pytest.mark.parametrize("with_clv", [True, False])
def test_the_slipped_list_is_said_in_the_order_it_is_in(with_clv):
    """Trial: 06 said the slipped customers came "the most valuable first" (按价值从高到低) while their
    revenue ran 639.07, 477.78, 136.51, 634.47: they are sorted by predicted CLV, and by revenue only
    where the run has no CLV. The sentence names the order the list has."""
    from types import SimpleNamespace

    from segkit.monthly.migration import slipped
    from segkit.report.html import say_each
    from segkit.report.tables import slipped_sentences

    before = pd.DataFrame({"customer_id": ["a", "b", "c"], "segment": ["champions", "loyal", "cant_lose"]})
    after = pd.DataFrame({"customer_id": ["a", "b", "c"], "segment": ["at_risk", "lost", "hibernating"],
                          "revenue": [639.07, 136.51, 634.47], "clv": [10.0, 90.0, 50.0]})
    moved = slipped(before, after if with_clv else after.drop(columns="clv"))
    assert list(moved["customer_id"]) == (["b", "c", "a"] if with_clv else ["a", "c", "b"])
    [(key, values)] = slipped_sentences(SimpleNamespace(slipped=moved))
    assert values == {"count": 3}
    for lang, by_clv, by_revenue in (("en", "highest predicted CLV first", "highest revenue first"),
                                     ("zh", "按预测CLV从高到低", "按销售额从高到低")):
        text = say_each([(key, values)], lang).markup
        assert (by_clv in text) == with_clv and (by_revenue in text) != with_clv
    assert slipped_sentences(SimpleNamespace(slipped=moved.iloc[:0])) == [("migration.none_slipped", {})]
    assert slipped_sentences(SimpleNamespace(slipped=None)) == []


def test_ids_that_changed_their_form_are_said_as_such_not_as_customers_gone(run_copy):
    """Last month's customers written C00012, this month's as the data now write them: almost none of
    last month's are found; the page asks whether the ids changed their form, in both languages."""
    from segkit.report.html import say_each
    from segkit.report.tables import matrix_notes

    params, data = run_copy
    profile = load_stage(data, "profile").assign(customer_id=lambda f: f["customer_id"].astype(str))
    last = profile[["customer_id", "segment", "rfm_class"]].assign(customer_id=lambda f: "CU-" + f["customer_id"])
    last.loc[last.index[:3], "customer_id"] = profile["customer_id"].iloc[:3]  # three read alike: still "almost none"
    write_month(history_path(data.parent.parent), params.run_name, dt.date(2024, 11, 30), last, {"customers": 1.0})
    migration = migration_stage(params, data)
    assert migration.gone_since == len(last) - 3
    listed, then, now = migration.ids_changed
    assert listed == len(last) and then.startswith("CU-") and not now.startswith("CU-")
    text = say_each(matrix_notes(migration), "en").markup
    assert f"Only 3 of last month's {len(last):,} customers are among this month's customers" in text
    assert "did the customer ids change their form" in text and "no customers now" not in text
    assert "客户编号的写法是否变了" in say_each(matrix_notes(migration), "zh").markup
