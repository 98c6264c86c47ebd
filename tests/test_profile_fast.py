"""The profile, tags and ranking fast paths (issue 15) against straightforward references: the
merges, pandas ranks, sorts and per-row string building segkit used before, kept here. Every output
must be the same frame: columns, dtypes, values and row order."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandas.errors import MergeError

from segkit.classify.profile import add_tags_and_rank, customer_profile, labelled, satisfaction_classes
from segkit.classify.ranking import (best_first_ranks, criterion_column, criterion_status, percentile_ranks, rank_customers,
                                     top_ranked, used_weights)
from segkit.classify.tags import _tag_lists, apply_tags, compile_tags, evaluate
from segkit.classify.value import abc_classes, tiers

# --- the references: the code before the fast paths, straightforward pandas ---


def ref_satisfaction(scores, very_satisfied=5, satisfied=4):
    result = np.select([scores >= very_satisfied, scores >= satisfied, scores.notna()],
                       ["very_satisfied", "satisfied", "unsatisfied"], "no_answer")
    return pd.Series(result, index=scores.index, name="satisfaction")


def ref_latest(surveys):
    ordered = surveys.sort_values("answered_at", kind="stable") if "answered_at" in surveys.columns else surveys
    return ordered.groupby("customer_id", as_index=False).tail(1)[
        ["customer_id", *[c for c in ("score", "nps") if c in surveys.columns]]]


def ref_profile(features, segments, customers=None, surveys=None, frequency_tier=None, monetary_tier=None,
                abc=(0.8, 0.95), very_satisfied=5, satisfied=4):
    profile = features.merge(segments, on="customer_id", how="left", validate="one_to_one")
    profile["frequency_tier"] = tiers(profile["orders"], **(frequency_tier or {})).to_numpy()
    profile["monetary_tier"] = tiers(profile["revenue"], **(monetary_tier or {})).to_numpy()
    profile["abc_class"] = abc_classes(profile["revenue"], abc).to_numpy()
    if "orders_recent" in profile.columns:
        profile["active"] = profile["orders_recent"] > 0
    if "categories" in profile.columns:
        profile["breadth"] = np.where(profile["categories"] > 1, "multi", "single")
    if customers is not None:
        attributes = customers.drop_duplicates("customer_id", keep="last")
        keep = [c for c in attributes.columns if c == "customer_id" or c not in profile.columns]
        profile = profile.merge(attributes[keep], on="customer_id", how="left", validate="one_to_one")
    if surveys is not None and {"score", "nps"} & set(surveys.columns):
        profile = profile.merge(ref_latest(surveys), on="customer_id", how="left", validate="one_to_one")
        if "score" in profile.columns:
            profile["satisfaction"] = ref_satisfaction(profile["score"], very_satisfied, satisfied).to_numpy()
    return profile


def ref_rank(profile, weights):
    weights = used_weights(profile, weights)
    out = pd.DataFrame({"customer_id": profile["customer_id"].to_numpy()})
    if not weights:
        return out.assign(rank_score=float("nan"), rank=1)
    weighted = pd.Series(0.0, index=out.index)
    present_weight = pd.Series(0.0, index=out.index)
    for name, weight in weights.items():
        column, higher_is_better = criterion_column(name)
        values = pd.Series(pd.to_numeric(profile[column], errors="coerce").to_numpy(dtype=float), index=out.index)
        score = values.rank(pct=True, ascending=higher_is_better, method="average")
        score = (score - score.min()) / (score.max() - score.min()) if score.max() > score.min() else score * 0 + 0.5
        out[f"crit_{name}"] = score
        weighted += score.fillna(0) * weight
        present_weight += values.notna() * weight
    out["rank_score"] = weighted / present_weight.where(present_weight > 0)
    out["rank"] = out["rank_score"].rank(ascending=False, method="min", na_option="bottom").astype(int)
    return out.sort_values(["rank", "customer_id"], kind="stable").reset_index(drop=True)


def ref_tags(profile, rules):
    out = pd.DataFrame({"customer_id": profile["customer_id"].to_numpy()}, index=profile.index)
    for rule in rules:
        out[f"tag_{rule.name}"] = evaluate(rule.tree, profile).to_numpy()
    names = [r.name for r in rules]
    out["tags"] = [", ".join(n for n, hit in zip(names, row) if hit)
                   for row in out[[f"tag_{n}" for n in names]].itertuples(index=False)]
    return out.reset_index(drop=True)


def ref_add_tags_and_rank(profile, rules, weights):
    tagged = ref_tags(profile, rules)
    ranked = ref_rank(profile, weights)[["customer_id", "rank_score", "rank"]]
    return (profile.merge(tagged, on="customer_id", validate="one_to_one")
            .merge(ranked, on="customer_id", validate="one_to_one"))


def same(actual, expected):
    pd.testing.assert_frame_equal(actual, expected, check_exact=True, check_column_type=True, check_index_type=True)
    assert [str(d) for d in actual.dtypes] == [str(d) for d in expected.dtypes]


# --- small data with the edge cases ---

IDS = ["007", "7", "10", "2", "张三", "a", "0.5", "1e3"]  # ids that look like numbers sort as text; Chinese text


def features(ids=IDS):
    n = len(ids)
    return pd.DataFrame({
        "customer_id": pd.Series(ids, dtype="str"),
        "orders": ([3, 1, 1, 5, 3, 1, 8, 2] * 2)[:n],  # ties
        "revenue": ([30.0, 5, 5, 80, 30, 0, 120, 10] * 2)[:n],
        "recency_days": ([10, 400, 200, 3, 10, 500, 1, 90] * 2)[:n],
        "tenure_days": ([100, 400, 200, 300, 100, 500, 700, 90] * 2)[:n],
        "avg_order_value": ([10.0, 5, 5, 16, 10, 0, 15, 5] * 2)[:n],
        "interval_days": ([20.0, None, None, 30, 20, None, 5, 40] * 2)[:n],  # one order: no interval
        "orders_recent": ([1, 0, 0, 2, 1, 0, 4, 0] * 2)[:n],
        "categories": ([2, 1, 1, 3, 2, 1, 4, 1] * 2)[:n],
    })


def segments(ids=IDS):
    n = len(ids)
    return pd.DataFrame({"customer_id": pd.Series(ids, dtype="str"), "r_score": ([3, 1, 1, 3, 3, 1, 3, 2] * 2)[:n],
                         "segment": (["champions", "lost", "lost", "champions", "忠诚客户", "lost", "champions",
                                      "at_risk"] * 2)[:n]})


CUSTOMERS = pd.DataFrame({"customer_id": ["7", "张三", "2", "7", "unknown"],  # "7" twice: the last row counts
                          "customer_type": ["individual", "enterprise", "government", "enterprise", "individual"],
                          "region": ["华东", "华北", "North", "华南", "West"]})
SURVEYS = pd.DataFrame({"customer_id": ["007", "7", "007", "a", "10"],
                        "answered_at": pd.to_datetime(["2024-03-01", "2024-01-01", "2024-01-01", "2024-02-01",
                                                       "2024-02-01"]),
                        "score": [2.0, 5, 4, None, 4.5], "nps": [3.0, 10, 9, 8, None]})  # missing answers

RULES = [SimpleNamespace(name=n, en=n, zh=zh, when=w) for n, zh, w in [
    ("high_value", "高价值客户", "monetary_tier == 'high'"),
    ("frequent", "高频客户", "frequency_tier == 'high'"),
    ("promoter", "推荐者", "nps >= 9"),
    ("organisation", "企业或政府客户", "customer_type in ['enterprise', 'government']"),
    ("east", "华东客户", "region == '华东'"),
    ("lapsing", "趋于流失", "monetary_tier == 'high' and recency_days > 180"),
    ("not_lost", "未流失", "not segment == 'lost'")]]
KNOWN = ["orders", "revenue", "recency_days", "monetary_tier", "frequency_tier", "nps", "customer_type", "region",
         "segment", "score"]
WEIGHTS = {"frequency": 0.25, "amount": 0.3, "interval": 0.1, "satisfaction": 0.1, "loyalty": 0.1, "activity": 0.15}


@pytest.mark.parametrize("with_tables", [False, True])
@pytest.mark.parametrize("tier", [None, {"method": "threshold", "thresholds": (1, 3)}])
def test_profile_as_the_merges_made_it(with_tables, tier):
    tables = (CUSTOMERS, SURVEYS) if with_tables else (None, None)
    args = dict(frequency_tier=tier, monetary_tier=tier, abc=(0.5, 0.9))
    same(customer_profile(features(), segments(), *tables, **args), ref_profile(features(), segments(), *tables, **args))


def test_profile_when_segments_come_in_another_order_or_index():
    shuffled = segments().sample(frac=1, random_state=3)  # not aligned: the merge
    same(customer_profile(features(), shuffled), ref_profile(features(), shuffled))
    ascending = sorted(IDS)  # as a run's stages list their customers
    same(customer_profile(features(ascending), segments(ascending)), ref_profile(features(ascending), segments(ascending)))
    indexed = features().set_axis(range(100, 100 + len(IDS)))  # aligned values, another index
    same(customer_profile(indexed, segments()), ref_profile(indexed, segments()))
    fewer = segments().iloc[:-2]  # customers without segments: missing values, as the merge gives
    same(customer_profile(features(), fewer), ref_profile(features(), fewer))


def test_a_repeated_customer_still_stops_as_before():
    for ids in (IDS + ["7"], sorted(IDS + ["7"])):  # in any order, or ascending as a run's stages list them
        with pytest.raises(MergeError):
            customer_profile(features(ids), segments(ids))
    profile = ref_profile(features(), segments())
    with pytest.raises(MergeError):
        add_tags_and_rank(pd.concat([profile, profile.iloc[[1]]], ignore_index=True), [], WEIGHTS)


def test_the_inputs_are_not_changed():
    given_features, given_segments = features(), segments()
    profile = customer_profile(given_features, given_segments, CUSTOMERS, SURVEYS)
    kept = profile.copy()
    add_tags_and_rank(profile, compile_tags(RULES, KNOWN), WEIGHTS)
    same(given_features, features())
    same(given_segments, segments())
    same(profile, kept)


@pytest.mark.parametrize("with_tables", [False, True])
def test_tags_and_rank_as_the_merges_made_them(with_tables):
    tables = (CUSTOMERS, SURVEYS) if with_tables else (None, None)
    profile = ref_profile(features(), segments(), *tables)
    rules = compile_tags(RULES, KNOWN)
    result = add_tags_and_rank(profile, rules, WEIGHTS)
    same(result, ref_add_tags_and_rank(profile, rules, WEIGHTS))
    if not with_tables:  # absent columns: unknown everywhere, never a tag
        assert not result["tag_promoter"].any() and not result["tag_organisation"].any()


def test_a_customer_with_no_tag_and_every_customer_tagged():
    profile = ref_profile(features(), segments())
    everyone = compile_tags([SimpleNamespace(name="buyer", en="Buyer", zh="买家", when="orders >= 1"),
                             SimpleNamespace(name="big", en="Big", zh="大客户", when="revenue >= 0")], KNOWN)
    tagged = apply_tags(profile, everyone)
    same(tagged, ref_tags(profile, everyone))
    assert (tagged["tags"] == "buyer, big").all()
    nobody = compile_tags([SimpleNamespace(name="huge", en="Huge", zh="巨大", when="revenue > 1000000")], KNOWN)
    tagged = apply_tags(profile, nobody)
    same(tagged, ref_tags(profile, nobody))
    assert (tagged["tags"] == "").all()
    same(apply_tags(profile, []), ref_tags(profile, []))


@pytest.mark.parametrize("rules", [3, 21, 63])  # codes counted, codes sorted, and more rules than a code holds
def test_tag_lists_as_joined_row_by_row(rules):
    flags = pd.DataFrame(np.random.default_rng(rules).random((50, rules)) > 0.7,
                         columns=[f"tag_{i}" for i in range(rules)])
    names = [f"标签{i}" for i in range(rules)]
    expected = [", ".join(n for n, hit in zip(names, row) if hit) for row in flags.itertuples(index=False)]
    assert list(_tag_lists(flags, names)) == expected


def test_ranking_ties_and_missing_answers_as_pandas_ranked_them():
    profile = ref_profile(features(), segments(), CUSTOMERS, SURVEYS)
    for weights in (WEIGHTS, {"frequency": 1}, {"satisfaction": 1, "interval": 1}, {"activity": 1, "loyalty": 1}):
        same(rank_customers(profile, weights), ref_rank(profile, weights))
    tied = profile.assign(orders=3, revenue=[1.0, 2.0] * 4)  # orders cannot tell customers apart
    same(rank_customers(tied, WEIGHTS), ref_rank(tied, WEIGHTS))
    same(rank_customers(tied, {"frequency": 1}), ref_rank(tied, {"frequency": 1}))  # nothing left: profile order


def test_ranking_with_a_missing_id_and_object_ids():
    profile = ref_profile(features(), segments()).assign(customer_id=pd.Series(["b", None, "a", "c", None, "d", "e", "f"],
                                                                               dtype="str"))
    same(rank_customers(profile, WEIGHTS), ref_rank(profile, WEIGHTS))
    as_objects = profile.assign(customer_id=pd.Series(IDS, dtype=object))
    same(rank_customers(as_objects, WEIGHTS), ref_rank(as_objects, WEIGHTS))
    numbers = profile.assign(customer_id=np.arange(8, 0, -1))
    same(rank_customers(numbers, WEIGHTS), ref_rank(numbers, WEIGHTS))
    same(add_tags_and_rank(numbers, [], WEIGHTS), ref_add_tags_and_rank(numbers, [], WEIGHTS))


values = st.lists(st.one_of(st.integers(-5, 5).map(float), st.sampled_from([np.nan, np.inf, -np.inf, -0.0, 0.5, 1e300]),
                            st.floats(allow_nan=True, allow_infinity=True)), max_size=40)


@settings(max_examples=200, deadline=None)
@given(values, st.booleans())
def test_percentile_ranks_are_pandas_ranks_bit_for_bit(given_values, ascending):
    series = pd.Series(given_values, dtype=float)
    expected = series.rank(pct=True, ascending=ascending, method="average").to_numpy()
    np.testing.assert_array_equal(percentile_ranks(series.to_numpy(), ascending), expected)
    expected = series.rank(ascending=False, method="min", na_option="bottom").astype(int).to_numpy()
    np.testing.assert_array_equal(best_first_ranks(series.to_numpy()), expected)


def test_ranks_of_a_million_whole_numbers_as_pandas():
    orders = np.random.default_rng(1).poisson(3, 200_000).astype(float)  # counted path
    orders[::97] = np.nan
    series = pd.Series(orders)
    np.testing.assert_array_equal(percentile_ranks(orders, False), series.rank(pct=True, ascending=False).to_numpy())


@pytest.mark.parametrize("revenue", [[50.0, 30, 10, 6, 4], [5.0, 5, 5, 5], [0.0, 0, 0], [3, 1, 2, 2],
                                     [1.0, np.nan, 3, 2], [10.0, 1e-9, 10, 0]])
def test_abc_classes_as_value_abc_classes(revenue):
    frame = features(IDS[:len(revenue)]).assign(revenue=revenue)
    profile = customer_profile(frame, segments(IDS[:len(revenue)]))
    assert profile["abc_class"].tolist() == abc_classes(frame["revenue"]).tolist()
    same(profile, ref_profile(frame, segments(IDS[:len(revenue)])))


def test_labels_have_the_dtype_pandas_gives_text():
    column = labelled(np.array([2, 0, 1, 2]), ("低", "中", "高"))
    assert list(column) == ["高", "低", "中", "高"]
    assert pd.Series(column).dtype == pd.Series(["x"]).dtype
    same(satisfaction_classes(pd.Series([5, 4.5, 1, None])).to_frame(),
         ref_satisfaction(pd.Series([5, 4.5, 1, None])).to_frame())


def test_top_ranked_is_the_head_of_the_full_sort():
    profile = add_tags_and_rank(ref_profile(features(), segments()), [], {"frequency": 1})  # many ties
    for n in (1, 2, 3, 5, 8, 20):  # the same rows and index labels (a RangeIndex or not: pandas' choice)
        pd.testing.assert_frame_equal(top_ranked(profile, n), check_exact=True, check_index_type=False,
                                      right=profile.sort_values(["rank", "customer_id"], kind="stable").head(n))
    assert top_ranked(profile, 0).empty


@pytest.mark.parametrize("column", [[0.0, -0.0, np.nan], [1, 1, 1], [np.inf, np.inf], [1.0, 2.0, np.nan], [3, 4],
                                    pd.array([2, None, 2], dtype="Int64"), ["1", "1.0", None], ["1", "2", None]])
def test_one_value_as_counting_distinct_values_says(column):
    profile = pd.DataFrame({"customer_id": [f"c{i}" for i in range(len(column))], "income": column})
    expected = "one_value" if pd.to_numeric(profile["income"], errors="coerce").dropna().nunique() == 1 else "used"
    assert criterion_status(profile, "income") == expected


def test_top_ranked_with_a_missing_rank_among_the_first_sorts_them_all():
    from segkit.classify.ranking import top_ranked

    profile = pd.DataFrame({"customer_id": ["d", "a", "c", "b"], "rank": [np.nan, 2.0, np.nan, 1.0]})
    expected = profile.sort_values(["rank", "customer_id"], kind="stable").head(3)
    pd.testing.assert_frame_equal(top_ranked(profile, 3), expected)


def test_the_ranking_table_reads_only_the_top_customers_and_keeps_their_order():
    from segkit.report.tables import ranking_table

    profile = pd.DataFrame({"customer_id": ["x", "y", "z", "w"], "rank": [3, 1, 2, 4], "rank_score": [0.5, 0.9, 0.7, 0.1],
                            "orders": [2, 5, 3, 1], "revenue": [20.0, 90.0, 35.0, 5.0], "recency_days": [30, 2, 10, 300],
                            "segment": ["loyal", "champions", "potential_loyalist", "lost"]})
    table = ranking_table(top_ranked_reference(profile), profile, "rfm11", "en", top_n=2)
    assert table["customer_id"].tolist() == ["y", "z"] and table["revenue"].tolist() == [90.0, 35.0]
    assert table["rank"].tolist() == [1, 2] and table.index.tolist() == [0, 1]


def top_ranked_reference(profile):
    return profile.sort_values(["rank", "customer_id"], kind="stable")
