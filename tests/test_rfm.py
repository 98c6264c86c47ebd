import dataclasses

import numpy as np
import pandas as pd
import pytest

from segkit.errors import ParamsError
from segkit.classify.rfm import (RFMScorer, assign_grid_segments, assign_high_low_classes, check_segment_map,
                        load_segment_map, score_rfm, segment_customers, strategies)


def customers(recency, orders, revenue):
    return pd.DataFrame({"customer_id": [f"c{i}" for i in range(len(recency))], "recency_days": recency,
                         "orders": orders, "revenue": revenue})


def test_hand_computed_quintiles_with_recency_reversed():
    f = customers(recency=[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], orders=[10, 9, 8, 7, 6, 5, 4, 3, 2, 1],
                  revenue=[100.0, 90, 80, 70, 60, 50, 40, 30, 20, 10])
    scores = score_rfm(f, bins=5)
    assert scores["r_score"].tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    assert scores["f_score"].tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    assert scores["m_score"].tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    assert scores["rfm_code"].iloc[0] == "555"


def test_cut_points_learned_once_score_new_customers():
    scorer = RFMScorer(bins=2).fit(customers([10, 20, 30, 40], [1, 2, 3, 4], [1.0, 2, 3, 4]))
    new = scorer.transform(customers([5, 100], [10, 1], [100.0, 0.5]))
    assert new[["r_score", "f_score", "m_score"]].values.tolist() == [[2, 2, 2], [1, 1, 1]]


def test_all_one_order_does_not_crash_and_says_so():
    f = customers(recency=list(range(1, 21)), orders=[1] * 20, revenue=list(np.linspace(5, 100, 20)))
    scorer = RFMScorer(bins=5).fit(f)
    scores = scorer.transform(f)
    assert scorer.n_bins_ == {"r": 5, "f": 1, "m": 5}
    assert set(scores["f_score"]) == {1}
    assert scorer.cut_points().set_index("dimension").loc["F", "bins"] == 1


def test_equal_values_always_get_equal_scores():
    f = customers(recency=[5] * 6 + [50] * 4, orders=[1] * 7 + [3, 3, 9], revenue=[20.0] * 10)
    scores = score_rfm(f)
    for column, score in (("recency_days", "r_score"), ("orders", "f_score"), ("revenue", "m_score")):
        assert (scores.groupby(f[column])[score].nunique() == 1).all()


def test_one_customer():
    scores = score_rfm(customers([3], [2], [10.0]))
    assert scores[["r_score", "f_score", "m_score"]].values.tolist() == [[1, 1, 1]]


def test_scoring_does_not_mutate_its_input():
    f = customers([1, 5, 9], [3, 2, 1], [30.0, 20, 10])
    before = f.copy()
    segment_customers(f)
    pd.testing.assert_frame_equal(f, before)


@pytest.mark.parametrize("name", ["rfm11", "cn8"])
def test_shipped_maps_are_partitions_with_both_languages_and_strategies(name):
    segment_map = load_segment_map(name)
    check_segment_map(segment_map)
    for segment in segment_map.segments:
        assert segment["en"] and segment["zh"]
        assert strategies()[segment["code"]]["en"] and strategies()[segment["code"]]["zh"]
    assert len(segment_map.codes) == {"rfm11": 11, "cn8": 8}[name]


def test_a_map_with_a_gap_and_an_overlap_names_the_cells():
    grid = load_segment_map("rfm11")
    broken = list(grid.segments)
    broken[0] = {**broken[0], "boxes": [{"r": [5, 5], "fm": [3, 5]}]}  # champions grab r5 fm3, lose r4 fm5
    with pytest.raises(ParamsError) as err:
        check_segment_map(dataclasses.replace(grid, segments=tuple(broken)))
    message = str(err.value)
    assert "no segment for r=4, fm=5" in message
    assert "more than one segment for r=5, fm=3 (champions, potential_loyalist)" in message


def test_grid_segments_describe_the_customers():
    scores = pd.DataFrame({"r_score": [5, 1, 1, 5, 2], "f_score": [5, 5, 1, 1, 4], "m_score": [5, 5, 1, 1, 3]})
    codes = assign_grid_segments(scores, load_segment_map("rfm11"), bins=5).tolist()
    assert codes == ["champions", "cant_lose", "lost", "new_customers", "at_risk"]


def test_grid_works_for_other_bin_counts():
    scores = pd.DataFrame({"r_score": [3, 1, 3], "f_score": [3, 1, 1], "m_score": [3, 1, 1]})
    codes = assign_grid_segments(scores, load_segment_map("rfm11"), bins=3).tolist()
    assert codes == ["champions", "lost", "new_customers"]


def test_eight_classes_each_describe_their_customer():
    # mean recency 50 days, mean orders 5, mean revenue 500 over these eight customers
    expected = {
        "important_value": (10, 9, 900.0),    # recent, frequent, big spender
        "important_develop": (10, 1, 900.0),  # recent, rarely buys, big spender
        "important_retain": (90, 9, 900.0),   # long ago, frequent, big spender
        "important_winback": (90, 1, 900.0),  # long ago, rarely, big spender
        "general_value": (10, 9, 100.0),
        "general_develop": (10, 1, 100.0),
        "general_retain": (90, 9, 100.0),
        "general_winback": (90, 1, 100.0),
    }
    f = customers(*map(list, zip(*expected.values())))
    codes, thresholds = assign_high_low_classes(f, load_segment_map("cn8"))
    assert codes.tolist() == list(expected)
    assert thresholds == {"r": 50.0, "f": 5.0, "m": 500.0}
    labels = load_segment_map("cn8").labels("zh")
    assert labels["important_value"] == "重要价值客户" and labels["general_winback"] == "一般挽留客户"


def test_unknown_map_lists_the_shipped_ones():
    with pytest.raises(ParamsError, match="shipped maps: cn8, rfm11"):
        load_segment_map("rfm12")


def test_fixed_cut_points_in_days_orders_and_money():
    f = customers(recency=[10, 30, 31, 200, 400], orders=[1, 2, 5, 9, 20], revenue=[5.0, 50, 100, 500, 5000])
    cuts = {"recency_days": [30, 90, 180, 365], "orders": [1, 3, 6, 10], "revenue": [10, 100, 1000, 2000]}
    scorer = RFMScorer(method="fixed", cuts=cuts).fit(f)
    scores = scorer.transform(f)
    assert scores["r_score"].tolist() == [5, 5, 4, 2, 1]  # 30 days is still "within 30 days"
    assert scores["f_score"].tolist() == [1, 2, 3, 4, 5]
    assert scores["m_score"].tolist() == [1, 2, 2, 3, 5]


def test_percentile_cut_points():
    f = customers(recency=list(range(100)), orders=list(range(1, 101)), revenue=[float(x) for x in range(100)])
    scorer = RFMScorer(method="percentile", percentiles={"recency_days": [50], "orders": [90], "revenue": [25, 50, 75]}).fit(f)
    scores = scorer.transform(f)
    assert scores["r_score"].value_counts().to_dict() == {2: 50, 1: 50}
    assert scores["f_score"].value_counts().to_dict() == {1: 90, 2: 10}
    assert scorer.n_bins_ == {"r": 2, "f": 2, "m": 4}


def test_rank_policy_fills_every_score_even_with_ties():
    f = customers(recency=list(range(1, 21)), orders=[1] * 12 + [2] * 4 + [3, 4, 5, 9], revenue=[10.0] * 20)
    merged = RFMScorer(bins=5).fit(f)
    ranked = RFMScorer(bins=5, ties="rank").fit(f)
    assert merged.n_bins_["f"] < 5 and merged.n_bins_["m"] == 1
    assert ranked.n_bins_ == {"r": 5, "f": 5, "m": 5}
    assert ranked.transform(f)["f_score"].value_counts().to_dict() == {1: 4, 2: 4, 3: 4, 4: 4, 5: 4}
    with pytest.raises(ValueError, match="ties='rank' applies to method='quantile' only"):
        RFMScorer(method="fixed", ties="rank", cuts={}).fit(f)


def test_class_basis_median_and_business_thresholds():
    f = customers(recency=[10, 20, 30, 400], orders=[1, 2, 3, 50], revenue=[10.0, 20, 30, 5000])
    by_mean = assign_high_low_classes(f, load_segment_map("cn8"))[0]
    by_median = assign_high_low_classes(f, load_segment_map("cn8", basis="median"))[0]
    assert by_mean.tolist()[:3] == ["general_develop"] * 3  # the outlier drags the mean up
    assert by_median.tolist() == ["general_develop", "general_develop", "important_retain", "important_retain"]
    business = load_segment_map("cn8", basis="threshold", thresholds={"recency_days": 90, "orders": 1, "revenue": 15})
    assert assign_high_low_classes(f, business)[0].tolist() == ["general_develop", "important_value",
                                                                "important_value", "important_retain"]


def test_custom_maps_in_params_are_checked_when_the_params_load(tmp_path):
    from segkit.params import load_params

    custom = """rfm:
  segment_map: two_tier
  custom_maps:
    two_tier:
      kind: grid
      scale: 2
      segments:
        - {code: keep, en: Keep, zh: 保持, boxes: [{r: [2, 2], fm: [1, 2]}]}
        - {code: chase, en: Chase, zh: 追回, boxes: [{r: [1, 1], fm: [2, 2]}]}
"""
    path = tmp_path / "p.yaml"
    path.write_text(custom, encoding="utf-8")
    with pytest.raises(ParamsError, match=r"segment map two_tier is not a partition: no segment for r=1, fm=1"):
        load_params(path)
    path.write_text(custom + "        - {code: drop, en: Drop, zh: 放弃, boxes: [{r: [1, 1], fm: [1, 1]}]}\n", encoding="utf-8")
    params = load_params(path)
    grid = load_segment_map(params.rfm.segment_map, custom=params.rfm.custom_maps)
    scores = pd.DataFrame({"r_score": [5, 1, 1], "f_score": [5, 5, 1], "m_score": [5, 5, 1]})
    assert assign_grid_segments(scores, grid, bins=5).tolist() == ["keep", "chase", "drop"]


def test_strategy_override_must_name_a_segment(tmp_path):
    from segkit.params import load_params

    path = tmp_path / "p.yaml"
    path.write_text("strategies:\n  champion: {en: VIP}\n", encoding="utf-8")
    with pytest.raises(ParamsError, match="strategies: champion is not a segment of rfm11 or cn8"):
        load_params(path)


@pytest.mark.parametrize("box, message", [
    ("{r: [1, 2]}", "malformed"),
    ("{r: [1, 2], fm: five}", "malformed"),
])
def test_a_malformed_custom_map_is_a_params_error(tmp_path, box, message):
    from segkit.params import load_params

    path = tmp_path / "p.yaml"
    path.write_text(f"rfm:\n  segment_map: m\n  custom_maps:\n    m:\n      kind: grid\n      scale: 2\n"
                    f"      segments:\n        - {{code: a, en: A, zh: 甲, boxes: [{box}]}}\n", encoding="utf-8")
    with pytest.raises(ParamsError, match=message):
        load_params(path)
    path.write_text("rfm:\n  segment_map: m\n  custom_maps:\n    m: {kind: grid, scale: 0, segments: [{code: a, en: A, zh: 甲, boxes: []}]}\n",
                    encoding="utf-8")
    with pytest.raises(ParamsError, match="scale must be a whole number from 2 to 10"):
        load_params(path)


def test_missing_feature_values_are_refused_not_scored():
    f = customers([1, 2, None], [1, 2, 3], [1.0, 2, 3])
    with pytest.raises(ValueError, match="missing values in recency_days"):
        RFMScorer(bins=2).fit(f)


# --- data that cannot carry RFM: a dimension that cannot tell customers apart ---

def one_order_customers(n=40):
    """A customer-level table forced in as transactions: every customer has exactly one order."""
    return customers(recency=list(range(1, n + 1)), orders=[1] * n, revenue=list(np.linspace(10, 1000, n)[::-1]))


def test_one_order_per_customer_marks_f_unusable_with_its_reason():
    scorer = RFMScorer(bins=5).fit(one_order_customers())
    assert scorer.unusable_ == {"f": {"reason": "one_value", "share": 1.0, "limit": 0.95, "value": 1.0}}
    assert scorer.usable_dimensions == ["r", "m"]


def test_one_order_customers_are_never_champions_or_loyal():
    f = one_order_customers()
    scores, scorer = segment_customers(f)
    assert not scores["segment"].isin(["champions", "loyal", "potential_loyalist", "at_risk", "cant_lose"]).any()
    assert set(scores["segment"]) <= set(load_segment_map("rm6").codes)
    # the most recent customers are also the biggest spenders here: recency × spend says so
    assert scores.loc[0, "segment"] == "recent_big_spenders"
    assert scores.loc[len(f) - 1, "segment"] == "lapsed"


def test_almost_all_tied_counts_as_unusable_at_the_stated_threshold():
    orders = [1] * 96 + [2] * 4
    f = customers(recency=list(range(100)), orders=orders, revenue=list(np.linspace(1, 100, 100)))
    scorer = RFMScorer(bins=5).fit(f)
    assert scorer.unusable_["f"]["reason"] == "tied" and scorer.unusable_["f"]["share"] == pytest.approx(0.96)
    looser = RFMScorer(bins=5, max_tied_share=0.97).fit(f)
    assert "f" not in looser.unusable_  # 96% tied is below a 97% threshold
    with pytest.raises(ValueError, match="max_tied_share"):
        RFMScorer(max_tied_share=0.3).fit(f)


def test_rank_ties_do_not_hide_a_dimension_with_one_value():
    scorer = RFMScorer(bins=5, ties="rank").fit(one_order_customers())
    assert scorer.n_bins_["f"] == 5  # ranks spread equal values over every score ...
    assert scorer.unusable_["f"]["reason"] == "one_value"  # ... but F still cannot tell customers apart


def test_fixed_cuts_that_put_everyone_in_one_score_are_flagged():
    f = customers(recency=[1, 2, 3, 4], orders=[1, 2, 3, 4], revenue=[10.0, 20, 30, 40])
    cuts = {"recency_days": [30, 90], "orders": [5, 10], "revenue": [15.0, 25.0]}
    scorer = RFMScorer(bins=3, method="fixed", cuts=cuts).fit(f)
    assert scorer.unusable_["r"]["reason"] == "one_score" and scorer.unusable_["f"]["reason"] == "one_score"
    assert "m" not in scorer.unusable_


def test_usable_data_keeps_the_configured_map():
    f = customers(recency=list(range(1, 21)), orders=list(range(20, 0, -1)), revenue=list(np.linspace(100, 5, 20)))
    scores, scorer = segment_customers(f)
    assert scorer.unusable_ == {}
    assert scores.loc[0, "segment"] == "champions"


def test_unusable_m_leaves_f_alone_on_the_fm_axis():
    # everyone spends the same: the grid's second axis is F alone, not F averaged with a middle M
    f = customers(recency=list(range(1, 21)), orders=list(range(20, 0, -1)), revenue=[50.0] * 20)
    scores, scorer = segment_customers(f)
    assert set(scorer.unusable_) == {"m"}
    assert scores.loc[0, "segment"] == "champions"  # most recent and most frequent
    assert scores.loc[19, "segment"] == "lost"


def test_an_unusable_recency_is_held_at_the_middle_score():
    f = customers(recency=[7] * 20, orders=list(range(20, 0, -1)), revenue=list(np.linspace(100, 5, 20)))
    scores, scorer = segment_customers(f)
    assert scorer.unusable_["r"]["reason"] == "one_value"
    grid = load_segment_map("rfm11")
    # r = 3 everywhere: only the segments of the r = 3 row of the grid can occur
    row3 = {s["code"] for s in grid.segments if any(b["r"][0] <= 3 <= b["r"][1] for b in s["boxes"])}
    assert set(scores["segment"]) <= row3


def test_rm6_is_a_partition_with_strategies_and_groups():
    rm6 = load_segment_map("rm6")
    check_segment_map(rm6)
    assert rm6.axes == "r_m" and rm6.group("valuable") == ("recent_big_spenders",)
    assert all(strategies()[code]["zh"] for code in rm6.codes)


def test_map_for_codes_finds_the_fallback_and_names_unknown_codes():
    from segkit.classify.rfm import map_for_codes

    assert map_for_codes("rfm11", ["lost", "champions"]).name == "rfm11"
    assert map_for_codes("rfm11", ["lapsed", "recent_buyers"]).name == "rm6"
    with pytest.raises(ValueError, match="nonsense"):
        map_for_codes("rfm11", ["nonsense"])


def test_a_grid_with_an_unknown_axes_is_refused():
    with pytest.raises(ParamsError, match="axes must be"):
        load_segment_map("x", custom={"x": {"kind": "grid", "axes": "f_m", "segments": [
            {"code": "a", "en": "A", "zh": "甲", "boxes": [{"r": [1, 5], "fm": [1, 5]}]}]}})


def test_a_feature_missing_for_every_customer_is_unusable_not_an_error():
    # a customer-level table with spend only (the "mall customers" layout): no recency, no order count
    f = customers(recency=[np.nan] * 6, orders=[np.nan] * 6, revenue=[5.0, 10, 20, 40, 80, 160])
    scores, scorer = segment_customers(f)
    assert {d: u["reason"] for d, u in scorer.unusable_.items()} == {"r": "no_values", "f": "no_values"}
    assert scores["f_score"].eq(1).all() and scores["r_score"].eq(1).all()
    assert set(scores["segment"]) <= set(load_segment_map("rm6").codes)
    assert scores.loc[5, "segment"] != scores.loc[0, "segment"]  # spend still separates them
    with pytest.raises(ValueError, match="missing values in orders"):  # missing for some only: a data error
        RFMScorer().fit(customers([1, 2, 3], [1, np.nan, 2], [1.0, 2, 3]))


def test_money_cut_points_are_shown_to_the_currencys_decimals():
    """Trial 4's 02 page showed a money cut point as 950.446: with the currency's minor unit, M's cut
    points have its decimals (days and orders keep their own)."""
    f = customers(recency=list(range(1, 21)), orders=[1, 2] * 10, revenue=[100.0 + 950.446 * i / 19 for i in range(20)])
    scorer = RFMScorer(bins=3).fit(f)
    money = scorer.cut_points(2).set_index("dimension").loc["M", "cut_points"].split(", ")
    assert money and all(len(c.split(".")[1]) == 2 for c in money)
    assert scorer.cut_points(2).set_index("dimension").loc["R", "cut_points"] == \
        scorer.cut_points().set_index("dimension").loc["R", "cut_points"]
    assert scorer.cut_points(0).set_index("dimension").loc["M", "cut_points"].count(".") == 0
