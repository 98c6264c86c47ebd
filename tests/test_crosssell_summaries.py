"""Cross-sell from per-customer summaries (segkit.crosssell.summaries, issue 14): what a database
source's 01_cleaning computes where the rows stay gives 07_cross_sell the same category mix, rules
and next best category as the clean transactions. Here the engine is DuckDB; tests/test_crosssell_pg.py
runs the same against PostgreSQL."""

import ibis
import numpy as np
import pandas as pd
import pytest

from segkit.crosssell import (Purchases, baskets, category_mix, distinguishing_items, load_purchases, next_best_item,
                              purchase_summaries, rules_by_group, save_purchase_summaries, segments_at_send_dates)
from segkit.crosssell.tables import has_items
from segkit.datasets import generate_retail
from segkit.store import save_stage

# most demo orders hold one or two categories: lower thresholds for order baskets
RULE_SETTINGS = {"customer": dict(min_support=0.03, min_confidence=0.2, max_items=3, min_baskets=2),
                 "order": dict(min_support=0.005, min_confidence=0.05, max_items=3, min_baskets=2)}


@pytest.fixture(scope="module")
def demo():
    tx = generate_retail(customers=300, seed=5, campaigns=False).transactions
    ids = sorted(tx["customer_id"].unique())
    rng = np.random.default_rng(1)
    segments = pd.DataFrame({"customer_id": ids, "segment": rng.choice(["champions", "at_risk", "lost"], len(ids)),
                             "rfm_class": rng.choice([f"class{i}" for i in range(8)], len(ids))})
    return tx, segments, purchase_summaries(ibis.memtable(tx))


def test_the_summaries_hold_no_transaction_rows_and_add_up_to_them(demo):
    tx, _, found = demo
    assert len(found.items) == tx.groupby(["customer_id", "category"]).ngroups < len(tx)
    assert found.items["lines"].sum() == len(tx)
    assert found.items["revenue"].sum() == pytest.approx(tx["amount"].sum(), rel=1e-12)
    assert found.baskets["baskets"].sum() == tx["order_id"].nunique() > len(found.baskets)
    assert found.items.loc[found.items["customer_id"] == "C000167", "orders"].sum() == \
        tx[tx["customer_id"] == "C000167"].groupby("category")["order_id"].nunique().sum()


def test_basket_contents_counted_by_hand():
    # one customer, five orders: {a, b} twice, {b} twice (one order holds b on two lines), {a, c} once
    tx = pd.DataFrame({"customer_id": "k", "order_id": ["1", "1", "2", "2", "3", "4", "4", "5", "5"],
                       "ordered_at": pd.Timestamp("2025-01-01"), "amount": 1.0,
                       "category": ["a", "b", "b", "a", "b", "b", "b", "c", "a"]})
    found = purchase_summaries(ibis.memtable(tx))
    assert [(items, n) for items, n in zip(found.baskets["items"], found.baskets["baskets"])] == \
        [(("a", "b"), 2), (("a", "c"), 1), (("b",), 2)]
    assert found.items.set_index("item")[["lines", "orders"]].to_dict("index") == \
        {"a": {"lines": 3, "orders": 3}, "b": {"lines": 5, "orders": 4}, "c": {"lines": 1, "orders": 1}}
    order_baskets = baskets(found, "order")
    assert order_baskets["basket_id"].nunique() == 5 and len(order_baskets) == 8


@pytest.mark.parametrize("by", ["segment", "rfm_class"])
def test_category_mix_from_summaries_equals_the_transactions(demo, by):
    tx, segments, found = demo
    expected = category_mix(tx, segments, by)
    pd.testing.assert_frame_equal(category_mix(found, segments, by), expected, check_dtype=False, rtol=1e-12)
    valuable = ["champions"] if by == "segment" else ["class0", "class3"]
    pd.testing.assert_frame_equal(distinguishing_items(found, segments, valuable, by=by),
                                  distinguishing_items(tx, segments, valuable, by=by), check_dtype=False, rtol=1e-12)


@pytest.mark.parametrize("basket", ["customer", "order"])
@pytest.mark.parametrize("engine_above", [200_000, 0])
def test_rules_and_next_best_from_summaries_equal_the_transactions(demo, basket, engine_above):
    tx, segments, found = demo
    expected_items, items = baskets(tx, basket), baskets(found, basket)
    assert items["basket_id"].nunique() == expected_items["basket_id"].nunique()
    expected = rules_by_group(expected_items, segments, engine_above=engine_above, **RULE_SETTINGS[basket])
    rules = rules_by_group(items, segments, engine_above=engine_above, **RULE_SETTINGS[basket])
    assert len(expected) > 10 and expected["group"].nunique() == 3
    if engine_above and basket == "customer":  # FP-growth: rules with two items on the left too
        assert expected["antecedent"].str.contains(" + ", regex=False).any()
    pd.testing.assert_frame_equal(rules, expected)
    best = next_best_item(items, segments, rules)
    pd.testing.assert_frame_equal(best, next_best_item(expected_items, segments, expected))
    assert best["next_best"].notna().sum() > 30


def test_blank_and_padded_items_are_one_item_in_the_mix_as_in_the_baskets():
    # the mix used to count " x" and "x" as two items, the baskets as one
    tx = pd.DataFrame({"customer_id": ["a", "b", "b"], "category": ["x", " x", "  "], "amount": [1.0, 2.0, 3.0],
                       "order_id": ["1", "2", "2"], "ordered_at": pd.Timestamp("2025-01-01")})
    segments = pd.DataFrame({"customer_id": ["a", "b"], "segment": ["s", "s"]})
    mix = category_mix(tx, segments)
    assert mix["item"].tolist() == ["x"] and mix["buyers"].tolist() == [2] and mix["revenue"].tolist() == [3.0]
    pd.testing.assert_frame_equal(category_mix(purchase_summaries(ibis.memtable(tx)), segments), mix,
                                  check_dtype=False)


def test_saved_summaries_load_back_per_item_column(demo, tmp_path):
    tx, segments, found = demo
    table = ibis.duckdb.connect().create_table("clean", tx.assign(product=tx["category"].str.upper()))
    save_purchase_summaries(tmp_path, table)
    loaded = load_purchases(tmp_path, "category")
    assert isinstance(loaded, Purchases) and loaded.item == "category"
    pd.testing.assert_frame_equal(loaded.items, found.items)
    pd.testing.assert_frame_equal(loaded.baskets, found.baskets)
    products = load_purchases(tmp_path, "product")
    assert set(products.items["item"]) == set(tx["category"].str.upper())
    assert has_items(loaded, "category") and has_items(products, "product") and not has_items(loaded, "product")
    with pytest.raises(ValueError, match=r"item='product', but the summaries are of 'category'"):
        category_mix(loaded, segments, item="product")


def test_a_database_run_with_products_only_is_told_to_read_its_baskets_by_product(demo, tmp_path):
    """The summaries a database source's 01 saved hold products, not categories: 07 (asking for
    categories) names the params line that reads them, as for a file run's rows."""
    from segkit.crosssell.tables import no_items_text

    tx, _, _ = demo
    table = ibis.duckdb.connect().create_table("clean", tx.rename(columns={"category": "product"}))
    save_purchase_summaries(tmp_path, table)
    loaded = load_purchases(tmp_path, "category")
    assert loaded.also == ("product",) and not has_items(loaded, "category")
    assert "cross_sell.item: product" in no_items_text(loaded, "category", "en")._repr_html_()


def test_without_an_item_column_the_summaries_are_empty_and_the_page_says_so(demo, tmp_path):
    tx, _, _ = demo
    save_purchase_summaries(tmp_path, ibis.duckdb.connect().create_table("clean", tx.drop(columns="category")))
    loaded = load_purchases(tmp_path, "category")
    assert isinstance(loaded, Purchases) and loaded.items.empty and not has_items(loaded, "category")


def test_clean_transactions_win_and_a_file_run_removes_old_summaries(demo, tmp_path):
    tx, _, _ = demo
    assert load_purchases(tmp_path) is None  # nothing saved: 07 says so in one sentence
    save_purchase_summaries(tmp_path, ibis.memtable(tx))
    save_stage(tmp_path, clean_transactions=tx)
    in_place = load_purchases(tmp_path)  # read in place by the engine, never loaded into pandas
    assert isinstance(in_place, ibis.Table) and in_place.count().to_pyarrow().as_py() == len(tx)
    assert has_items(in_place, "category") and not has_items(in_place, "product")
    save_purchase_summaries(tmp_path, None)
    assert not (tmp_path / "purchase_items.parquet").exists() and not (tmp_path / "purchase_baskets.parquet").exists()


def test_send_date_segments_need_the_rows_and_fall_back_to_the_run_s(demo):
    _, _, found = demo
    campaigns = pd.DataFrame({"customer_id": ["C000001"], "campaign": ["spring"], "responded": [True],
                              "sent_at": [pd.Timestamp("2024-06-01")]})
    assert segments_at_send_dates(found, campaigns, rfm=None) is None


def test_summaries_do_not_change_their_inputs(demo):
    tx, segments, found = demo
    before = (tx.copy(), segments.copy(), found.items.copy(), found.baskets.copy())
    category_mix(found, segments)
    baskets(found, "order")
    for now, then in zip((tx, segments, found.items, found.baskets), before):
        pd.testing.assert_frame_equal(now, then)


def test_the_clean_rows_in_place_give_what_the_frame_gives(demo, tmp_path):
    """07 reads a file run's clean rows as an engine table: the mix, rules and next best category are
    those of the same rows as a DataFrame."""
    tx, segments, _ = demo
    save_stage(tmp_path, clean_transactions=tx)
    table = load_purchases(tmp_path)
    pd.testing.assert_frame_equal(category_mix(table, segments), category_mix(tx, segments))
    pd.testing.assert_frame_equal(distinguishing_items(table, segments, {"champions"}),
                                  distinguishing_items(tx, segments, {"champions"}))
    from_table, from_frame = baskets(table, "order"), baskets(tx, "order")
    pd.testing.assert_frame_equal(from_table, from_frame)
    rules = rules_by_group(from_table, segments, min_support=0.02, min_confidence=0.1)
    assert len(rules) > 0
    pd.testing.assert_frame_equal(next_best_item(from_table, segments, rules), next_best_item(from_frame, segments, rules))
    blank = tx.assign(category=None)
    save_stage(tmp_path, clean_transactions=blank)
    assert not has_items(load_purchases(tmp_path), "category")  # a column with no value: one sentence, no baskets


def test_an_item_cancelled_in_full_in_its_basket_was_not_bought():
    """Order 1 held shoes and socks, and the shoes came back (netted into order 1): the baskets, the
    customer's items and the item summaries hold socks alone; the rules never learn shoes -> socks."""
    import ibis

    from segkit.crosssell.category_mix import customer_items, forget_cached
    from segkit.crosssell.rules import baskets
    from segkit.crosssell.summaries import purchase_summaries

    lines = pd.DataFrame({"customer_id": ["A", "A", "A", "A", "B"], "order_id": ["1", "1", "1", "2", "3"],
                          "ordered_at": pd.to_datetime(["2024-05-01"] * 3 + ["2024-05-10", "2024-05-02"]),
                          "amount": [10.0, 5.0, -10.0, 8.0, 4.0], "category": ["shoes", "socks", "shoes", "hats", "shoes"]})
    table = ibis.memtable(lines)
    found = baskets(table, basket="order")
    assert found.groupby("basket_id")["item"].apply(list).to_dict() == {"A|1": ["socks"], "A|2": ["hats"], "B|3": ["shoes"]}
    items = purchase_summaries(table).items.set_index(["customer_id", "item"])
    assert ("A", "shoes") not in items.index and items.loc[("A", "socks"), "lines"] == 1
    forget_cached()
    bought = customer_items(table, cache=False).to_pandas()
    assert sorted(map(tuple, bought[["customer_id", "item"]].to_numpy())) == [("A", "hats"), ("A", "socks"), ("B", "shoes")]


def test_a_rule_and_its_reverse_of_the_same_lift_are_ordered_by_confidence():
    """A -> C and C -> A have one lift, computed with other float noise (3.0036 and 3.0036000000000005):
    the order is by confidence then, not by the noise; lifts are shown with two decimals."""
    from segkit.crosssell.rules import _sorted, top_rules
    from segkit.report.html import table

    rules = pd.DataFrame({"group": ["g", "g"], "antecedent": ["数码配件", "手机"], "consequent": ["手机", "数码配件"],
                          "baskets": [137, 137], "support": [0.074, 0.074], "confidence": [0.416, 0.637],
                          "lift": [3.0036000000000005, 3.0036]})
    ordered = _sorted(rules)
    assert ordered["antecedent"].tolist() == ["手机", "数码配件"] and "_lift" not in ordered.columns
    assert top_rules(ordered, top=2, order=["g"])["confidence"].tolist() == [0.637, 0.416]
    assert ">3.00<" in table(ordered[["lift"]], "en").to_html()
