"""The second round of 07_cross_sell's fast paths (issue 15): the customer baskets built from the
codes of the cached customer items, the rules and next best items that reuse those codes, the
contents matched as integer bits, ids found by comparison. Each is checked against a computation
written plainly here, on small frames with the awkward cases: ties in lift, one basket, no rules,
items whose text needs escaping (HTML, quotes, an ampersand, a tab, Chinese, an emoji), more items
than bits in an integer, a frame edited after it was built."""

import sys

import numpy as np
import pandas as pd
import pytest

from segkit.crosssell import baskets, category_mix, load_purchases, mine_rules, next_best_item, rules_by_group
from segkit.crosssell import tables as cross_tables

rules_module = sys.modules["segkit.crosssell.rules"]  # the package exports functions of the modules' names
mix_module = sys.modules["segkit.crosssell.category_mix"]

ITEMS = ["<b>bold</b>", "R&D", 'say "hi"', "it's", "茶叶", "Äpfel", "apple", "Zebra", "a\tb", "😀"]
RANK = ["lift", "confidence", "support", "consequent", "antecedent"]


def transactions(seed: int, customers: int = 80) -> pd.DataFrame:
    """One to three orders of one to four lines per customer, plus a padded item, a blank, a missing
    item and a customer whose only line is blank."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(customers):
        for order in range(int(rng.integers(1, 4))):
            for _ in range(int(rng.integers(1, 5))):
                rows.append({"customer_id": f"c{c:03d}", "order_id": f"o{c}-{order}",
                             "ordered_at": pd.Timestamp("2025-01-01") + pd.Timedelta(days=order),
                             "amount": float(rng.integers(1, 50)), "category": str(rng.choice(ITEMS))})
    extra = [("c000", " R&D "), ("c001", "  "), ("c002", None), ("blank_only", "   ")]
    rows += [{"customer_id": c, "order_id": f"x{i}", "ordered_at": pd.Timestamp("2025-02-01"), "amount": 3.0,
              "category": item} for i, (c, item) in enumerate(extra)]
    return pd.DataFrame(rows)


def segments_for(tx: pd.DataFrame, seed: int, shuffled: bool = False) -> pd.DataFrame:
    """Every customer of `tx` in one of three groups (one without a group), and one who bought nothing;
    sorted by id as a run's segments stage is, or shuffled."""
    ids = sorted(tx["customer_id"].unique())
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"customer_id": ids, "segment": rng.choice(["冠军", "at_risk", "<lost>"], len(ids))})
    frame.loc[frame["customer_id"] == "c010", "segment"] = None
    frame = pd.concat([frame, pd.DataFrame({"customer_id": ["zz_no_purchase"], "segment": ["at_risk"]})],
                      ignore_index=True)
    return frame.sample(frac=1, random_state=seed).reset_index(drop=True) if shuffled else frame


def engine_table(tmp_path, tx: pd.DataFrame):
    """`tx` as 07_cross_sell reads it: a clean transactions file, a DuckDB table (its customer items cached)."""
    tx.to_parquet(tmp_path / "clean_transactions.parquet")
    return load_purchases(tmp_path)


def reference_baskets(tx: pd.DataFrame) -> pd.DataFrame:
    """Customer baskets as `baskets` documents them: each customer's distinct trimmed items (blank and
    missing left out), sorted by customer then item in Python's string order."""
    pairs = {(c, i.strip(" ")) for c, i in zip(tx["customer_id"], tx["category"]) if isinstance(i, str) and i.strip(" ")}
    rows = sorted(pairs)
    return pd.DataFrame({"basket_id": [c for c, _ in rows], "customer_id": [c for c, _ in rows],
                         "item": [i for _, i in rows]}, dtype="str")


def reference_rules(items: pd.DataFrame, segments: pd.DataFrame, **settings) -> pd.DataFrame:
    """FP-growth (mlxtend) on each group's baskets alone, as `rules_by_group` documents."""
    min_baskets = settings.pop("min_baskets", 1)
    found = []
    for code, ids in segments.dropna().groupby("segment")["customer_id"]:
        part = items[items["customer_id"].isin(set(ids))]
        if len(part):
            found.append(mine_rules(part, group=code, **settings))
    found = [f[f["baskets"] >= min_baskets] for f in found]
    found = pd.concat([f for f in found if len(f)], ignore_index=True)
    # by lift to 9 decimals (a rule and its reverse have one lift, with other float noise), then the rest
    return found.assign(_lift=found["lift"].round(9)).sort_values(
        ["group", "_lift", "confidence", "support", "antecedent", "consequent"],
        ascending=[True, False, False, False, True, True], kind="stable").drop(columns="_lift").reset_index(drop=True)


def reference_next_best(items: pd.DataFrame, segments: pd.DataFrame, rules: pd.DataFrame) -> pd.DataFrame:
    """next_best_item customer by customer: the customer's group's rules by lift, confidence, support
    (highest first), then consequent and antecedent by name; the first whose antecedent items the
    customer bought and whose consequent they did not."""
    bought = items.groupby("customer_id")["item"].agg(set).to_dict()
    ranked = rules.assign(lift=rules["lift"].round(9)).sort_values(RANK, ascending=[False, False, False, True, True],
                                                                   kind="stable")
    rows = []
    for customer, group in zip(segments["customer_id"], segments["segment"]):
        has = bought.get(customer, set())
        chosen = next((r for r in ranked.itertuples() if r.group == group and r.consequent not in has
                       and set(r.antecedent.split(" + ")) <= has), None)
        rows.append({"customer_id": customer, "group": None if pd.isna(group) else str(group),
                     "next_best": chosen.consequent if chosen else pd.NA,
                     "rule_antecedent": chosen.antecedent if chosen else pd.NA,
                     "rule_lift": chosen.lift if chosen else np.nan,
                     "rule_confidence": chosen.confidence if chosen else np.nan})
    return pd.DataFrame(rows).astype({"next_best": "string", "rule_antecedent": "string"})


def fresh_copy(frame: pd.DataFrame) -> pd.DataFrame:
    """The same values in new arrays: a frame the kept codes do not belong to."""
    return pd.DataFrame({name: list(frame[name]) for name in frame.columns}, dtype="str")


@pytest.mark.parametrize("seed", [3, 4])
def test_customer_baskets_from_codes_equal_the_plain_reference_and_the_engine(tmp_path, seed):
    tx = transactions(seed)
    table = engine_table(tmp_path, tx)
    category_mix(table, segments_for(tx, seed))  # as the notebook: the mixes first
    found = baskets(table, "customer")
    assert rules_module._known_codes(found) is not None  # built from the codes, not by the engine
    pd.testing.assert_frame_equal(found, reference_baskets(tx))
    pd.testing.assert_frame_equal(found, baskets(tx, "customer"))  # a DataFrame: the engine's query
    assert {"<b>bold</b>", "R&D", 'say "hi"', "a\tb", "😀"} <= set(found["item"])
    assert "blank_only" not in set(found["customer_id"])


def test_baskets_asked_first_build_the_codes_the_mixes_then_read(tmp_path):
    tx = transactions(5)
    table = engine_table(tmp_path, tx)
    found = baskets(table, "customer")
    pd.testing.assert_frame_equal(found, reference_baskets(tx))
    segments = segments_for(tx, 5)
    pd.testing.assert_frame_equal(category_mix(table, segments), category_mix(tx, segments), rtol=1e-12)


@pytest.mark.parametrize("seed,shuffled", [(3, False), (4, True)])
def test_rules_and_next_best_from_codes_equal_the_references(tmp_path, seed, shuffled):
    tx = transactions(seed)
    segments = segments_for(tx, seed, shuffled)
    found = baskets(engine_table(tmp_path, tx), "customer")
    plain = fresh_copy(found)
    assert rules_module._known_codes(found) is not None and rules_module._known_codes(plain) is None
    settings = dict(min_support=0.05, min_confidence=0.2, max_items=3, min_baskets=2)
    rules = rules_by_group(found, segments, **settings)
    assert len(rules) > 5
    pd.testing.assert_frame_equal(rules, reference_rules(plain, segments, **settings), rtol=1e-12)
    pd.testing.assert_frame_equal(rules, rules_by_group(plain, segments, **settings))
    next_best = next_best_item(found, segments, rules)
    assert next_best["next_best"].notna().sum() > 10
    pd.testing.assert_frame_equal(next_best, reference_next_best(plain, segments, rules), check_dtype=False)
    pd.testing.assert_frame_equal(next_best, next_best_item(plain, segments, rules))


def test_ties_in_lift_go_to_the_consequent_then_the_antecedent_first_by_name():
    # every rule has the same lift, confidence and support: the names decide
    rules = pd.DataFrame({"group": "g", "antecedent": ["a", "c", "a + c", "a"], "consequent": ["b", "d", "e", "e"],
                          "baskets": 5, "support": 0.1, "confidence": 0.5, "lift": 2.0})
    bought = {"k1": ["a", "c"], "k2": ["a", "b", "c"], "k3": ["a", "b", "c", "d"], "k4": ["c", "e"], "k5": []}
    items = pd.DataFrame([(k, k, i) for k, found in bought.items() for i in found],
                         columns=["basket_id", "customer_id", "item"]).astype("str")
    segments = pd.DataFrame({"customer_id": list(bought), "segment": "g"})
    found = next_best_item(items, segments, rules)
    # k1: a -> b (b before d and e); k2 has b: c -> d; k3 has b, d: "a -> e" before "a + c -> e";
    # k4: c -> d; k5 bought nothing: no rule
    assert found["next_best"].tolist()[:4] == ["b", "d", "e", "d"] and pd.isna(found["next_best"].iloc[4])
    assert found["rule_antecedent"].tolist()[:4] == ["a", "c", "a", "c"]
    pd.testing.assert_frame_equal(found, reference_next_best(items, segments, rules), check_dtype=False)


def test_one_basket_gives_rules_of_lift_one_and_nothing_left_to_offer(tmp_path):
    tx = pd.DataFrame({"customer_id": "only", "order_id": ["o1", "o1", "o2"], "amount": [1.0, 2.0, 3.0],
                       "ordered_at": pd.Timestamp("2025-01-01"), "category": ["<x>", "y & z", "茶叶"]})
    segments = pd.DataFrame({"customer_id": ["only"], "segment": ["冠军"]})
    found = baskets(engine_table(tmp_path, tx), "customer")
    assert rules_module._known_codes(found) is not None
    rules = rules_by_group(found, segments, min_support=0.5, min_confidence=0.5, max_items=3)
    # one basket holding every item: support, confidence and lift 1 for each of the 3 x 3 one- and two-item rules
    assert len(rules) == 9 and (rules[["support", "confidence", "lift"]] == 1.0).all().all()
    pd.testing.assert_frame_equal(rules, reference_rules(fresh_copy(found), segments, min_support=0.5,
                                                         min_confidence=0.5, max_items=3))
    next_best = next_best_item(found, segments, rules)
    assert next_best["next_best"].isna().all()  # the customer has every consequent already


def test_no_rules_leave_every_next_best_missing(tmp_path):
    tx = transactions(6)
    segments = segments_for(tx, 6)
    found = baskets(engine_table(tmp_path, tx), "customer")
    rules = rules_by_group(found, segments, min_support=1.0, min_confidence=1.0)
    assert rules.empty
    next_best = next_best_item(found, segments, rules)
    pd.testing.assert_frame_equal(next_best, reference_next_best(fresh_copy(found), segments, rules), check_dtype=False)
    assert next_best["next_best"].isna().all() and str(next_best["next_best"].dtype) == "string"


def test_a_frame_edited_after_it_was_built_is_not_answered_from_the_codes(tmp_path):
    tx = transactions(7)
    segments = segments_for(tx, 7)
    found = baskets(engine_table(tmp_path, tx), "customer")
    edited = found.copy()
    edited.loc[edited["item"] == "apple", "item"] = "R&D"  # a new item array: the codes no longer fit
    shorter = found.iloc[: len(found) // 2]
    assert rules_module._known_codes(edited) is None and rules_module._known_codes(shorter) is None
    for frame in (edited, shorter):
        rules = rules_by_group(frame, segments, min_support=0.05, min_confidence=0.2)
        assert "apple" not in set(rules["consequent"]) or frame is shorter
        pd.testing.assert_frame_equal(next_best_item(frame, segments, rules),
                                      reference_next_best(frame, segments, rules), check_dtype=False)
    assert found["item"].eq("apple").any()  # the frame built first is unchanged


def test_next_best_item_with_more_items_than_bits_in_an_integer():
    rng = np.random.default_rng(9)
    names = [f"item{i:02d} <&>" for i in range(70)]  # 70 > 62: the matrix path, not integer bits
    rows = [(f"k{c:02d}", f"k{c:02d}", str(name)) for c in range(80)
            for name in set(rng.choice(names[:8], 3).tolist() + [names[c % 70], names[c * 7 % 70]])]
    items = pd.DataFrame(rows, columns=["basket_id", "customer_id", "item"]).astype("str")
    segments = pd.DataFrame({"customer_id": [f"k{c:02d}" for c in range(80)], "segment": ["g", "h"] * 40})
    rules = rules_by_group(items, segments, min_support=0.05, min_confidence=0.1)
    assert len(rules) and items["item"].nunique() > 62
    found = next_best_item(items, segments, rules)
    assert found["next_best"].notna().any()
    pd.testing.assert_frame_equal(found, reference_next_best(items, segments, rules), check_dtype=False)


@pytest.mark.parametrize("width", [1, 8, 9, 20, 62, 64])
def test_row_bits_equal_the_sum_of_powers_of_two(width):
    matrix = np.random.default_rng(width).random((50, width)) < 0.4
    expected = [sum(1 << j for j in range(width) if row[j]) for row in matrix]
    assert rules_module._row_bits(matrix).tolist() == expected


def test_positions_equal_pandas_get_indexer_and_refuse_an_id_twice():
    ids = pd.Series(["a", "b", "茶", "<d>"], dtype="str")
    same = pd.Index(["a", "b", "茶", "<d>"], dtype="str")
    assert mix_module._positions(ids, same).tolist() == [0, 1, 2, 3]
    other = pd.Index(["<d>", "x", "a", "b"], dtype="str")  # another order, an unknown id
    assert mix_module._positions(ids, other).tolist() == pd.Index(ids).get_indexer(other).tolist() == [3, -1, 0, 1]
    assert mix_module._positions(pd.Series(["a", "a", "b", "c"], dtype="str"), same) is None
    with_missing = pd.Series(["a", None, "茶", "<d>"], dtype="str")  # a missing id: looked up, not compared
    assert mix_module._positions(with_missing, same).tolist() == [0, -1, 2, 3]


def test_escaped_items_reach_the_tables_as_given_and_the_report_escapes_them(tmp_path):
    from segkit.report.html import table

    tx = transactions(3)
    segments = segments_for(tx, 3)
    found = baskets(engine_table(tmp_path, tx), "customer")
    rules = rules_by_group(found, segments, min_support=0.05, min_confidence=0.2)
    next_best = next_best_item(found, segments, rules)
    shown = cross_tables.next_best_table(next_best, None, "en")
    assert set(shown["segment"]) == {"<lost>", "at_risk", "冠军"}
    html = table(cross_tables.rules_table(rules, None, "en"), "en").to_html()
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "<b>bold" not in html and "R&amp;D" in html
