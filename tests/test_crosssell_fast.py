"""The fast paths of segkit.crosssell (issue 15, 07_cross_sell at a million customers) against
reference computations written plainly here, on small frames with the awkward cases: ties, missing
and blank items, missing amounts, one-item baskets, a segment with no rules, a customer in two
groups, Chinese item names."""

import importlib
import itertools

import numpy as np
import pandas as pd
import pytest

from segkit.crosssell import baskets, category_mix, load_purchases, mine_rules, next_best_item, rules_by_group
from segkit.crosssell import tables as cross_tables
from segkit.crosssell.category_mix import MIX_COLUMNS, _engine_mix, _finish_mix, customer_items
from segkit.crosssell.rules import frequent_itemsets

ITEMS = ["茶叶", "零食", "Zebra", "apple", "Äpfel", "toys", "home"]


def transactions(customers: int = 60, seed: int = 1) -> pd.DataFrame:
    """A few lines per customer; some one-item baskets, a blank, a padded and a missing item, a
    missing amount, a customer whose only item is blank."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(customers):
        for order in range(int(rng.integers(1, 4))):
            for _ in range(int(rng.integers(1, 4))):
                rows.append({"customer_id": f"c{c:03d}", "order_id": f"o{c}-{order}",
                             "ordered_at": pd.Timestamp("2025-01-01") + pd.Timedelta(days=order),
                             "amount": float(rng.integers(1, 50)), "category": str(rng.choice(ITEMS))})
    rows += [{"customer_id": "c000", "order_id": "x1", "ordered_at": pd.Timestamp("2025-02-01"), "amount": 5.0,
              "category": " 茶叶 "},
             {"customer_id": "c001", "order_id": "x2", "ordered_at": pd.Timestamp("2025-02-01"), "amount": np.nan,
              "category": "toys"},
             {"customer_id": "c002", "order_id": "x3", "ordered_at": pd.Timestamp("2025-02-01"), "amount": 3.0,
              "category": None},
             {"customer_id": "blank_only", "order_id": "x4", "ordered_at": pd.Timestamp("2025-02-01"), "amount": 3.0,
              "category": "  "},
             # the only line of "rare": its amount is missing, so its cell's revenue is a sum of nothing
             {"customer_id": "c003", "order_id": "x5", "ordered_at": pd.Timestamp("2025-02-01"), "amount": np.nan,
              "category": "rare"}]
    return pd.DataFrame(rows)


def segments_for(tx: pd.DataFrame, seed: int = 2) -> pd.DataFrame:
    ids = sorted(tx["customer_id"].unique()) + ["no_purchase"]
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"customer_id": ids, "segment": rng.choice(["冠军", "at_risk", "lost"], len(ids))})
    frame.loc[frame["customer_id"] == "c010", "segment"] = None  # a customer without a segment
    return frame


def reference_mix(tx: pd.DataFrame, segments: pd.DataFrame, by: str = "segment", item: str = "category"):
    """category_mix as its docstring states it, in plain pandas: buyers are distinct customers; a
    customer in two groups counts in both, and once in the whole."""
    rows = tx.assign(item=tx[item].astype("string").str.strip())
    rows = rows[rows["item"].notna() & (rows["item"] != "")]
    groups = segments[["customer_id", by]].dropna().astype(str).rename(columns={by: "group"}).drop_duplicates()
    joined = rows.merge(groups, on="customer_id")
    cells = joined.groupby(["group", "item"]).agg(buyers=("customer_id", "nunique"),
                                                   revenue=("amount", lambda a: a.sum(min_count=1)))
    per_group = joined.groupby("group").agg(customers=("customer_id", "nunique"),
                                            group_revenue=("amount", lambda a: a.sum(min_count=1)))
    whole = rows[rows["customer_id"].isin(groups["customer_id"])]
    overall = whole.groupby("item").agg(all_buyers=("customer_id", "nunique"),
                                        all_revenue=("amount", lambda a: a.sum(min_count=1)))
    frame = (cells.reset_index().merge(per_group.reset_index(), on="group").merge(overall.reset_index(), on="item")
             .assign(all_customers=whole["customer_id"].nunique(), total_revenue=whole["amount"].sum()))
    return _finish_mix(frame, item)


@pytest.mark.parametrize("by", ["segment", "rfm_class"])
def test_the_mix_from_integer_codes_equals_the_plain_computation(by):
    tx = transactions()
    segments = segments_for(tx).assign(rfm_class=lambda f: np.where(f.index % 2 == 0, "高价值", "general"))
    mix = category_mix(tx, segments, by)
    assert list(mix.columns) == list(MIX_COLUMNS)
    pd.testing.assert_frame_equal(mix, reference_mix(tx, segments, by), check_dtype=False, rtol=1e-12)
    assert "茶叶" in set(mix["item"]) and " 茶叶 " not in set(mix["item"]) and "" not in set(mix["item"])
    assert mix.loc[mix["item"] == "rare", "revenue"].isna().all()  # only a missing amount: missing, as SQL


def test_the_engine_mix_for_a_customer_in_two_groups_equals_the_plain_computation():
    tx = transactions()
    segments = segments_for(tx)
    twice = pd.concat([segments, pd.DataFrame({"customer_id": ["c004", "c004"], "segment": ["extra", "extra"]})],
                      ignore_index=True)
    mix = category_mix(tx, twice)  # not one group per customer: the engine path
    pd.testing.assert_frame_equal(mix, reference_mix(tx, twice), check_dtype=False, rtol=1e-12)
    assert mix.loc[mix["group"] == "extra", "customers"].unique().tolist() == [1]


def test_a_customer_without_purchases_listed_twice_changes_nothing():
    tx = transactions()
    segments = segments_for(tx)
    twice = pd.concat([segments, pd.DataFrame({"customer_id": ["no_purchase"], "segment": ["lost"]})],
                      ignore_index=True)
    pd.testing.assert_frame_equal(category_mix(tx, twice), category_mix(tx, segments))
    pd.testing.assert_frame_equal(category_mix(tx, twice), reference_mix(tx, twice), check_dtype=False, rtol=1e-12)


def test_both_mix_paths_give_the_same_frame():
    from segkit.crosssell.category_mix import _coded_items, _mix_from_codes

    tx = transactions(seed=7)
    segments = segments_for(tx, seed=8)
    groups = segments[["customer_id", "segment"]].dropna().astype(str).rename(columns={"segment": "group"})
    items = customer_items(__import__("ibis").memtable(tx), "category", cache=False)
    pd.testing.assert_frame_equal(_finish_mix(_mix_from_codes(_coded_items(items, None), groups), "category"),
                                  _finish_mix(_engine_mix(items, groups, None), "category"), rtol=1e-12,
                                  check_dtype=False)


def test_a_rewritten_clean_file_is_read_again_not_answered_from_the_cache(tmp_path):
    tx = transactions()
    segments = segments_for(tx)
    tx.to_parquet(tmp_path / "clean_transactions.parquet")
    first = category_mix(load_purchases(tmp_path), segments)
    assert category_mix(load_purchases(tmp_path), segments).equals(first)
    tx.assign(category="toys").to_parquet(tmp_path / "clean_transactions.parquet")
    again = category_mix(load_purchases(tmp_path), segments)
    assert set(again["item"]) == {"toys"}


def test_the_kept_customer_items_are_dropped_when_asked(tmp_path):
    mix = importlib.import_module("segkit.crosssell.category_mix")  # the package exports a function of that name

    tx = transactions()
    tx.to_parquet(tmp_path / "clean_transactions.parquet")
    table = load_purchases(tmp_path)
    items = customer_items(table, "category")
    coded = mix._coded_items(items, None)
    assert mix.is_cached(items) and customer_items(table, "category") is items and mix._coded_items(items, None) is coded
    mix.forget_cached()  # what a kernel handed to the next notebook does (segkit.report.runner.CLEAR_FOR_NEXT)
    assert not mix.is_cached(items) and customer_items(table, "category") is not items and not mix._CODES


def test_baskets_are_in_python_string_order():
    tx = transactions()
    for basket in ("order", "customer"):
        found = baskets(tx, basket)
        expected = found.sort_values(["basket_id", "item"], kind="stable").reset_index(drop=True)
        pd.testing.assert_frame_equal(found, expected)
        assert found.duplicated(["basket_id", "item"]).sum() == 0
    customer = baskets(tx, "customer")
    assert (customer["basket_id"] == customer["customer_id"]).all()
    assert set(customer.loc[customer["customer_id"] == "c000", "item"]) >= {"茶叶"}
    assert "blank_only" not in set(customer["customer_id"])


def random_matrix(rows: int, items: int, seed: int, share: float = 0.3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    matrix = rng.random((rows, items)) < share
    matrix[: rows // 10] = False  # some empty baskets
    matrix[rows // 10: rows // 5] = False
    matrix[rows // 10: rows // 5, 0] = True  # one-item baskets
    return matrix


# 70 frequent items: more than one integer's bits, the distinct baskets found by rows instead
@pytest.mark.parametrize("items, max_items, min_support, share", [(6, 3, 0.05, 0.3), (9, 4, 0.1, 0.3), (70, 2, 0.2, 0.6)])
def test_frequent_itemsets_equal_mlxtend_fpgrowth(items, max_items, min_support, share):
    from mlxtend.frequent_patterns import fpgrowth

    matrix = random_matrix(300, items, seed=items, share=share)
    names = [f"商品{i}" for i in range(items)]
    found = frequent_itemsets(matrix, names, min_support, max_items)
    expected = fpgrowth(pd.DataFrame(matrix, columns=names), min_support=min_support, use_colnames=True,
                        max_len=max_items)
    assert len(found) and found["itemsets"].map(len).max() > 1
    assert dict(zip(found["itemsets"], found["support"])) == dict(zip(expected["itemsets"], expected["support"]))


def test_frequent_itemsets_count_by_hand():
    # baskets: {a,b} {a,b} {a} {b,c} {}: a 3/5, b 3/5, c 1/5, ab 2/5, bc 1/5
    matrix = np.array([[1, 1, 0], [1, 1, 0], [1, 0, 0], [0, 1, 1], [0, 0, 0]], dtype=bool)
    found = frequent_itemsets(matrix, ["a", "b", "c"], 0.2, 3)
    support = {"".join(sorted(s)): v for s, v in zip(found["itemsets"], found["support"])}
    assert support == {"a": 0.6, "b": 0.6, "c": 0.2, "ab": 0.4, "bc": 0.2}


def basket_frame(seed: int, customers: int = 150) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Customer baskets of a few items (Chinese names among them), three segments, one of them a
    segment of one-item baskets (no rules can come out of it)."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(customers):
        segment = ("冠军", "at_risk", "single")[c % 3]
        chosen = [ITEMS[0]] if segment == "single" else sorted(set(rng.choice(ITEMS[:5], int(rng.integers(1, 5)))))
        rows += [{"basket_id": f"k{c:03d}", "customer_id": f"k{c:03d}", "item": item} for item in chosen]
    items = pd.DataFrame(rows)
    segments = pd.DataFrame({"customer_id": [f"k{c:03d}" for c in range(customers)] + ["nobody"],
                             "segment": [("冠军", "at_risk", "single")[c % 3] for c in range(customers)] + ["lost"]})
    return items, segments


@pytest.mark.parametrize("seed, max_items", [(3, 2), (4, 3), (5, 4)])
def test_rules_by_group_equal_fpgrowth_on_each_group_alone(seed, max_items):
    items, segments = basket_frame(seed)
    found = rules_by_group(items, segments, "segment", min_support=0.05, min_confidence=0.2, max_items=max_items)
    assert len(found) and "single" not in set(found["group"])  # one-item baskets: no rule
    expected = []
    for code, ids in segments.groupby("segment")["customer_id"]:
        part = items[items["customer_id"].isin(ids)]
        if len(part):
            expected.append(mine_rules(part, 0.05, 0.2, max_items, group=code))
    expected = pd.concat([e for e in expected if len(e)], ignore_index=True)
    # by lift to 9 decimals (a rule and its reverse have one lift, with other float noise), then the rest
    expected = expected.assign(_lift=expected["lift"].round(9)).sort_values(
        ["group", "_lift", "confidence", "support", "antecedent", "consequent"],
        ascending=[True, False, False, False, True, True], kind="stable").drop(columns="_lift")
    pd.testing.assert_frame_equal(found, expected.reset_index(drop=True), rtol=1e-12)


def test_rules_by_group_for_a_customer_in_two_groups_mines_the_baskets_in_both():
    items, segments = basket_frame(6)
    twice = pd.concat([segments, pd.DataFrame({"customer_id": segments["customer_id"], "segment": "all"})])
    found = rules_by_group(items, twice, min_support=0.05, min_confidence=0.2)
    pd.testing.assert_frame_equal(found[found["group"] == "all"].reset_index(drop=True),
                                  rules_by_group(items, None, min_support=0.05, min_confidence=0.2))


def reference_next_best(basket_items, segments, rules):
    """next_best_item customer by customer, as its docstring states it."""
    bought = basket_items.groupby("customer_id")["item"].agg(set).to_dict()
    ranked = rules.assign(_lift=rules["lift"].round(9)).sort_values(
        ["_lift", "confidence", "support", "consequent", "antecedent"], ascending=[False, False, False, True, True],
        kind="stable")
    rows = []
    for customer, group in zip(segments["customer_id"], segments["segment"]):
        has = bought.get(customer, set())
        chosen = next((r for r in ranked.itertuples() if r.group == group and r.consequent not in has
                       and set(r.antecedent.split(" + ")) <= has), None)
        rows.append({"customer_id": customer, "group": group,
                     "next_best": chosen.consequent if chosen else pd.NA,
                     "rule_antecedent": chosen.antecedent if chosen else pd.NA,
                     "rule_lift": chosen.lift if chosen else np.nan,
                     "rule_confidence": chosen.confidence if chosen else np.nan})
    return pd.DataFrame(rows).astype({"next_best": "string", "rule_antecedent": "string"})


@pytest.mark.parametrize("seed", [7, 8])
def test_next_best_item_equals_the_customer_by_customer_reference(seed):
    items, segments = basket_frame(seed)
    rules = rules_by_group(items, segments, min_support=0.05, min_confidence=0.2, max_items=3)
    # a tie on lift, confidence and support: the consequent's name decides
    tie = rules.iloc[[0]].assign(consequent="零食", antecedent="apple")
    rules = pd.concat([rules, tie.assign(consequent="Zebra")], ignore_index=True)
    found = next_best_item(items, segments, rules)
    pd.testing.assert_frame_equal(found, reference_next_best(items, segments, rules), check_dtype=False)
    assert found["next_best"].notna().sum() > 10
    assert found.loc[found["group"] == "single", "next_best"].isna().all()  # a segment with no rules


def test_next_best_table_counts_each_segment_once_in_the_map_order():
    from segkit.classify.rfm import load_segment_map

    grid = load_segment_map("rfm11")
    next_best = pd.DataFrame({"customer_id": list("abcdefg"),
                              "group": ["lost", "champions", "champions", "lost", "champions", "unknown", "lost"],
                              "next_best": pd.array(["茶叶", "toys", "茶叶", None, "toys", "home", "茶叶"], dtype="string")})
    shown = cross_tables.next_best_table(next_best, grid, "en")
    champions, lost = grid.label("champions", "en"), grid.label("lost", "en")
    assert shown["segment"].tolist() == [champions, lost]  # the map's order; a code not in the map is left out
    assert shown["customers"].tolist() == [3, 3] and shown["with_next_best"].tolist() == [3, 2]
    assert shown["top_next_best"].tolist() == ["toys (2), 茶叶 (1)", "茶叶 (2)"]


def test_the_fast_paths_do_not_change_their_inputs():
    tx = transactions()
    segments = segments_for(tx)
    before_tx, before_segments = tx.copy(), segments.copy()
    items = baskets(tx, "customer")
    before_items = items.copy()
    rules = rules_by_group(items, segments, min_support=0.05, min_confidence=0.2)
    category_mix(tx, segments)
    next_best_item(items, segments, rules)
    pd.testing.assert_frame_equal(tx, before_tx)
    pd.testing.assert_frame_equal(segments, before_segments)
    pd.testing.assert_frame_equal(items, before_items)


def test_apriori_candidates_are_joins_whose_every_subset_is_frequent():
    from segkit.crosssell.rules import _next_level

    frequent = [(0, 1), (0, 2), (1, 2), (1, 3)]
    # (0,1,2): all pairs frequent; (1,2,3): (2,3) is not
    assert _next_level(frequent) == [(0, 1, 2)]
    everything = list(itertools.combinations(range(4), 2))
    assert _next_level(everything) == list(itertools.combinations(range(4), 3))


@pytest.mark.parametrize("values", [
    ["a", "a", "b", "c", "c", "c"],           # sorted: codes from the changes
    ["b", "a", "b", "茶叶", "a"],               # not sorted: pd.factorize
    ["a", None, "b"],                         # missing: pd.factorize's -1
    ["Z", "a", "Ä", "茶", "茶"],                 # sorted by code point
    ["only"], [],
])
def test_factorize_equals_pandas(values):
    from segkit.crosssell.category_mix import factorize

    series = pd.Series(values, dtype="str")
    codes, uniques = factorize(series)
    expected_codes, expected_uniques = pd.factorize(series)
    np.testing.assert_array_equal(codes, expected_codes)
    assert list(uniques) == list(expected_uniques)
