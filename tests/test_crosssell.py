"""Category mix, cross-sell rules and the next best category (segkit.crosssell, issue 14)."""

import numpy as np
import pandas as pd
import pytest

from segkit.crosssell import (baskets, category_mix, distinguishing_items, mine_rules, next_best_counts,
                              next_best_item, pair_rules, rules_by_group, top_rules)
from segkit.datasets import generate_retail
from segkit.errors import DataError

# Ten baskets whose counts are worked out by hand below:
# A in 7 baskets, B in 7, C in 6, D in 5; C&D in 4 (2,3,4,9), A&B in 4 (1,4,5,6), B&D in 4 (3,4,7,9),
# B&C&D in 3 (3,4,9).
TEN = [["A", "B"], ["A", "C", "D"], ["B", "C", "D"], ["A", "B", "C", "D"], ["A", "B", "C"], ["A", "B"], ["B", "D"],
       ["A", "C"], ["B", "C", "D"], ["A"]]


def ten_baskets(customer_per_basket: bool = True) -> pd.DataFrame:
    rows = [{"customer_id": f"c{i if customer_per_basket else 0}", "order_id": f"o{i}",
             "ordered_at": pd.Timestamp("2025-01-01") + pd.Timedelta(days=i), "amount": 10.0, "category": item}
            for i, basket in enumerate(TEN, start=1) for item in basket]
    return pd.DataFrame(rows)


def rule(rules: pd.DataFrame, antecedent: str, consequent: str) -> pd.Series:
    found = rules[(rules["antecedent"] == antecedent) & (rules["consequent"] == consequent)]
    assert len(found) == 1, f"{antecedent} -> {consequent} not found once in\n{rules}"
    return found.iloc[0]


def test_support_confidence_lift_by_hand_on_ten_baskets():
    rules = mine_rules(baskets(ten_baskets()), min_support=0.1, min_confidence=0.1, max_items=3)
    d_to_c = rule(rules, "D", "C")
    assert d_to_c["baskets"] == 4 and d_to_c["support"] == pytest.approx(0.4)
    assert d_to_c["confidence"] == pytest.approx(4 / 5) and d_to_c["lift"] == pytest.approx((4 / 5) / (6 / 10))
    c_to_d = rule(rules, "C", "D")
    assert c_to_d["confidence"] == pytest.approx(4 / 6) and c_to_d["lift"] == pytest.approx((4 / 6) / (5 / 10))
    a_to_b = rule(rules, "A", "B")
    assert a_to_b["confidence"] == pytest.approx(4 / 7) and a_to_b["lift"] == pytest.approx((4 / 7) / (7 / 10))
    two_to_one = rule(rules, "B + D", "C")
    assert two_to_one["baskets"] == 3 and two_to_one["support"] == pytest.approx(0.3)
    assert two_to_one["confidence"] == pytest.approx(3 / 4) and two_to_one["lift"] == pytest.approx(0.75 / 0.6)


def test_thresholds_leave_out_weak_rules():
    rules = mine_rules(baskets(ten_baskets()), min_support=0.35, min_confidence=0.75, max_items=3)
    kept = set(zip(rules["antecedent"], rules["consequent"]))
    # support 0.4 pairs with confidence >= 0.75: D->C (0.8), D->B (0.8); A->B is 4/7 < 0.75; B+D->C has support 0.3
    assert kept == {("D", "C"), ("D", "B")}


def test_an_order_basket_and_a_customer_basket():
    tx = ten_baskets(customer_per_basket=False)  # one customer bought all ten orders
    assert baskets(tx, "order")["basket_id"].nunique() == 10
    assert baskets(tx, "customer")["basket_id"].nunique() == 1
    assert sorted(baskets(tx, "customer")["item"]) == ["A", "B", "C", "D"]


@pytest.fixture(scope="module")
def demo():
    data = generate_retail(customers=400, seed=5, campaigns=False)
    tx = data.transactions
    ids = sorted(tx["customer_id"].unique())
    rng = np.random.default_rng(0)
    segments = pd.DataFrame({"customer_id": ids, "segment": rng.choice(["champions", "at_risk", "lost"], len(ids))})
    return tx, segments


def test_engine_pair_counts_agree_with_mlxtend(demo):
    tx, segments = demo
    items = baskets(tx, "customer").merge(segments.rename(columns={"segment": "group"}), on="customer_id")
    for group, rows in items.groupby("group"):
        library = mine_rules(rows, 0.05, 0.2, max_items=2, group=group)
        engine = pair_rules(None, rows[["group", "basket_id", "item"]], 0.05, 0.2)
        assert len(library) > 5
        both = library.merge(engine, on=["group", "antecedent", "consequent"], suffixes=("_lib", "_engine"))
        assert len(both) == len(library) == len(engine)
        for name in ("baskets", "support", "confidence", "lift"):
            np.testing.assert_allclose(both[f"{name}_lib"], both[f"{name}_engine"], rtol=1e-12)


def test_rules_per_segment_equal_rules_mined_on_that_segment_alone(demo):
    tx, segments = demo
    items = baskets(tx, "customer")
    per_segment = rules_by_group(items, segments, "segment", min_support=0.05, min_confidence=0.3, max_items=3)
    assert set(per_segment["group"]) == {"champions", "at_risk", "lost"}
    for code in ("champions", "lost"):
        alone = mine_rules(baskets(tx[tx["customer_id"].isin(segments.loc[segments["segment"] == code, "customer_id"])],
                                   "customer"), 0.05, 0.3, 3, group=code)
        mine = per_segment[per_segment["group"] == code].reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, alone)


def test_engine_above_switches_to_pair_counts(demo):
    tx, segments = demo
    items = baskets(tx, "customer")
    engine = rules_by_group(items, segments, min_support=0.05, min_confidence=0.3, engine_above=0)
    assert len(engine) and (engine["antecedent"].str.contains(" + ", regex=False)).sum() == 0
    library = rules_by_group(items, segments, min_support=0.05, min_confidence=0.3, max_items=2)
    keys = ["group", "antecedent", "consequent", "baskets"]
    pd.testing.assert_frame_equal(engine[keys].sort_values(keys).reset_index(drop=True),
                                  library[keys].sort_values(keys).reset_index(drop=True))


def test_top_rules_keeps_the_highest_lift_per_group_in_the_given_order():
    rules = pd.DataFrame({"group": ["a", "a", "a", "b"], "antecedent": ["x", "y", "z", "x"],
                          "consequent": ["q", "q", "q", "q"], "baskets": [1, 1, 1, 1], "support": [0.1] * 4,
                          "confidence": [0.5] * 4, "lift": [3.0, 2.0, 1.5, 9.0]})
    shown = top_rules(rules, 2, order=["b", "a"])
    assert list(zip(shown["group"], shown["lift"])) == [("b", 9.0), ("a", 3.0), ("a", 2.0)]


def rules_frame(rows):
    return pd.DataFrame(rows, columns=["group", "antecedent", "consequent", "baskets", "support", "confidence", "lift"])


def test_next_best_category_from_the_customers_own_segment():
    items = pd.DataFrame({"basket_id": ["1", "1", "2", "3", "4", "5", "5", "5"],
                          "customer_id": ["ad", "ad", "a", "b", "s2", "tie", "tie", "tie"],
                          "item": ["A", "D", "A", "B", "A", "A", "B", "D"]})
    segments = pd.DataFrame({"customer_id": ["ad", "a", "b", "s2", "tie", "nobody"],
                             "segment": ["s1", "s1", "s1", "s2", "s1", "s1"]})
    rules = rules_frame([
        ("s1", "A", "D", 5, 0.2, 0.5, 3.0),   # best, but "ad" already has D
        ("s1", "A", "C", 5, 0.2, 0.5, 2.0),
        ("s1", "A + B", "E", 5, 0.2, 0.6, 2.0),  # same lift as A -> C, higher confidence: wins for "tie"
        ("s1", "B", "F", 5, 0.2, 0.5, 1.5),
        ("s3", "A", "Z", 5, 0.2, 0.9, 9.0),   # another segment's rule applies to nobody here
    ])
    found = next_best_item(items, segments, rules).set_index("customer_id")
    assert found.loc["ad", "next_best"] == "C"
    assert found.loc["a", "next_best"] == "D" and found.loc["a", "rule_lift"] == 3.0
    assert found.loc["b", "next_best"] == "F"
    assert found.loc["tie", "next_best"] == "E" and found.loc["tie", "rule_antecedent"] == "A + B"
    assert pd.isna(found.loc["s2", "next_best"])   # no rule of s2
    assert pd.isna(found.loc["nobody", "next_best"])  # bought nothing
    counts = next_best_counts(found.reset_index())
    assert counts["customers"].sum() == 6
    assert counts.loc[(counts["group"] == "s1") & (counts["next_best"] == "C"), "customers"].item() == 1


def test_next_best_is_empty_without_rules():
    items = pd.DataFrame({"basket_id": ["1"], "customer_id": ["a"], "item": ["A"]})
    found = next_best_item(items, pd.DataFrame({"customer_id": ["a"], "segment": ["s"]}), rules_frame([]))
    assert found["next_best"].isna().all() and len(found) == 1


def test_category_mix_shares_and_index_by_hand():
    tx = pd.DataFrame({"customer_id": ["a", "a", "b", "c", "c"], "category": ["x", "y", "x", "y", "  "],
                       "amount": [10.0, 30.0, 20.0, 5.0, 99.0]})
    segments = pd.DataFrame({"customer_id": ["a", "b", "c"], "segment": ["s1", "s1", "s2"]})
    before = tx.copy()
    mix = category_mix(tx, segments).set_index(["group", "item"])
    pd.testing.assert_frame_equal(tx, before)  # the input is not changed
    # x: a and b of 3 customers buy it (2/3); s1 = {a, b} all buy it: index 100 * 1 / (2/3) = 150
    assert mix.loc[("s1", "x"), "buyers"] == 2 and mix.loc[("s1", "x"), "index"] == pytest.approx(150)
    assert mix.loc[("s1", "y"), "buyer_share"] == pytest.approx(0.5) and mix.loc[("s1", "y"), "index"] == pytest.approx(75)
    # revenue share: s1 spends 30 of 60 on x; all customers spend 30 of 65 on x (the blank category is not counted)
    assert mix.loc[("s1", "x"), "revenue_share"] == pytest.approx(0.5)
    assert mix.loc[("s1", "x"), "revenue_index"] == pytest.approx(100 * 0.5 / (30 / 65))
    assert ("s2", "x") not in mix.index


def test_distinguishing_items_puts_what_the_valuable_buy_more_first():
    tx = pd.DataFrame({"customer_id": ["a", "a", "b", "c", "d"], "category": ["x", "y", "x", "y", "y"],
                       "amount": [1.0] * 5})
    segments = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "segment": ["champions", "loyal", "lost", "lost"]})
    top = distinguishing_items(tx, segments, ["champions", "loyal"])
    assert list(top["item"]) == ["x", "y"] and top["index"].iloc[0] == pytest.approx(200)
    assert distinguishing_items(tx, segments, ["nobody"]).empty


def test_a_missing_category_column_is_one_clear_error():
    tx = pd.DataFrame({"customer_id": ["a"], "amount": [1.0]})
    with pytest.raises(DataError, match="no category column"):
        category_mix(tx, pd.DataFrame({"customer_id": ["a"], "segment": ["s"]}))
    with pytest.raises(DataError, match="no category column"):
        baskets(tx)


def test_demo_campaigns_leave_the_rest_of_the_demo_unchanged():
    with_campaigns = generate_retail(customers=300, seed=9, defects=0.01)
    without = generate_retail(customers=300, seed=9, defects=0.01, campaigns=False)
    pd.testing.assert_frame_equal(with_campaigns.transactions, without.transactions)
    pd.testing.assert_frame_equal(with_campaigns.surveys, without.surveys)
    assert without.campaigns is None
    campaigns = with_campaigns.campaigns
    assert campaigns["control"].any() and (~campaigns["control"]).any()
    assert set(campaigns["customer_id"]) <= set(with_campaigns.customers["customer_id"])
    assert not campaigns.duplicated(["customer_id", "campaign"]).any()


def test_rules_held_by_too_few_baskets_are_left_out():
    items = baskets(ten_baskets())
    every = rules_by_group(items, None, min_support=0.1, min_confidence=0.1)
    assert (every["baskets"] < 4).any()
    kept = rules_by_group(items, None, min_support=0.1, min_confidence=0.1, min_baskets=4)
    assert len(kept) and (kept["baskets"] >= 4).all()
    assert len(kept) == (every["baskets"] >= 4).sum()


def test_mining_rules_leaves_the_warning_filters_alone():
    # mlxtend sets "always" for DeprecationWarning when imported: in a notebook, every library's
    # deprecation notice would then print on the report page
    import subprocess
    import sys

    code = ("import warnings; before = list(warnings.filters)\n"
            "import pandas as pd; from segkit.crosssell import mine_rules\n"
            "mine_rules(pd.DataFrame({'basket_id': ['1', '1'], 'item': ['a', 'b']}), 0.5, 0.5)\n"
            "added = [f for f in warnings.filters if f not in before]\n"
            "assert not [f for f in added if f[0] == 'always' and f[2] is DeprecationWarning], added\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr == "", done.stderr  # no warning printed either


def test_without_items_the_page_has_one_sentence():
    from segkit.crosssell.tables import has_items, no_items_text

    cdnow_like = pd.DataFrame({"customer_id": ["a"], "amount": [1.0]})
    assert not has_items(cdnow_like, "category") and not has_items(None, "category")
    assert not has_items(cdnow_like.assign(category=[None]), "category")
    assert has_items(cdnow_like.assign(category=["x"]), "category")
    assert "no category column" in no_items_text(cdnow_like, "category", "en")._repr_html_()
    assert "database" in no_items_text(None, "category", "en")._repr_html_()
    # a product column mapped (a Shopify export), the category asked: the one line of params that reads it
    said = no_items_text(cdnow_like.assign(product=["Lamp"]), "category", "zh")._repr_html_()
    assert "没有品类列，但有商品列" in said and "cross_sell.item: product" in said
