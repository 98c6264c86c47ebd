import pandas as pd
import pytest

from segkit.classify.ranking import normalised_weights, rank_customers

PROFILE = pd.DataFrame({
    "customer_id": ["a", "b", "c"],
    "orders": [10, 5, 1],
    "revenue": [100.0, 900.0, 50.0],
    "interval_days": [10.0, 30.0, None],
    "score": [None, 5.0, 1.0],
})


def test_weights_are_normalised_so_they_mean_what_they_say():
    assert normalised_weights({"frequency": 2, "amount": 6}) == {"frequency": 0.25, "amount": 0.75}
    with pytest.raises(ValueError, match="unknown ranking criteria"):
        normalised_weights({"beauty": 1})


def test_a_single_criterion_ranks_by_it_and_weights_shift_the_order():
    by_orders = rank_customers(PROFILE, {"frequency": 1})
    assert by_orders["customer_id"].tolist() == ["a", "b", "c"]
    assert by_orders["rank_score"].tolist() == pytest.approx([1.0, 0.5, 0.0])
    by_amount = rank_customers(PROFILE, {"frequency": 1, "amount": 3})
    assert by_amount["customer_id"].tolist() == ["b", "a", "c"]
    # b: 0.5*0.25 + 1*0.75 = 0.875; a: 1*0.25 + 0.5*0.75 = 0.625
    assert by_amount.set_index("customer_id")["rank_score"].to_dict() == pytest.approx({"a": 0.625, "b": 0.875, "c": 0.0})


def test_shorter_interval_is_better_and_missing_answers_are_not_punished():
    ranked = rank_customers(PROFILE, {"interval": 1, "satisfaction": 1}).set_index("customer_id")
    assert ranked.loc["a", "crit_interval"] == 1.0 and ranked.loc["b", "crit_interval"] == 0.0
    # a has no survey answer: scored on the interval alone (1.0), not as the unhappiest customer
    assert ranked.loc["a", "rank_score"] == 1.0
    assert ranked.loc["c", "rank_score"] == 0.0  # no interval (one order) and the lowest score


def test_input_is_not_mutated():
    before = PROFILE.copy()
    rank_customers(PROFILE, {"frequency": 1, "amount": 1})
    pd.testing.assert_frame_equal(PROFILE, before)


def test_a_customer_without_any_weighted_value_ranks_last():
    # review finding: the missing score used to crash the integer rank
    ranked = rank_customers(PROFILE, {"satisfaction": 1})
    assert ranked["customer_id"].tolist() == ["b", "c", "a"]
    assert ranked["rank"].tolist() == [1, 2, 3] and pd.isna(ranked["rank_score"].iloc[-1])


# --- criteria the data cannot support ---

def test_support_names_each_criterion_the_data_lacks_and_why():
    from segkit.classify.ranking import criteria_support

    one_order = pd.DataFrame({"customer_id": ["a", "b", "c"], "orders": [1, 1, 1], "revenue": [5.0, 50.0, 20.0],
                              "interval_days": [None, None, None]})
    support = criteria_support(one_order, {"frequency": 0.25, "amount": 0.3, "interval": 0.1, "satisfaction": 0.1,
                                           "activity": 0.15}).set_index("criterion")
    assert support["status"].to_dict() == {"amount": "used", "frequency": "one_value", "activity": "no_column",
                                           "interval": "no_values", "satisfaction": "no_column"}
    assert support.loc["amount", "used_weight"] == 1.0
    assert support["used_weight"].sum() == pytest.approx(1.0)


def test_weights_used_are_renormalised_over_the_supported_criteria():
    from segkit.classify.ranking import used_weights

    # no survey column: satisfaction's weight goes to the others in proportion
    assert used_weights(PROFILE.drop(columns="score"), {"frequency": 1, "amount": 2, "satisfaction": 1}) == \
        pytest.approx({"frequency": 1 / 3, "amount": 2 / 3})


def test_ranking_ignores_a_criterion_every_customer_shares():
    same_orders = PROFILE.assign(orders=[2, 2, 2])
    ranked = rank_customers(same_orders, {"frequency": 1, "amount": 1})
    assert "crit_frequency" not in ranked.columns
    assert ranked["rank_score"].tolist() == pytest.approx([1.0, 0.5, 0.0])  # amount alone, not squeezed by 0.5s


def test_no_supported_criterion_ties_everyone_instead_of_failing():
    ranked = rank_customers(PROFILE.drop(columns="score"), {"satisfaction": 1})
    assert ranked["rank"].tolist() == [1, 1, 1] and ranked["rank_score"].isna().all()


# --- a weight on an extra column of a customer table (ranking.weights: {income: ...}) ---

MALL = pd.DataFrame({  # the mall layout: no order count, no recency; spend score as revenue
    "customer_id": ["a", "b", "c", "d"],
    "orders": [None] * 4, "recency_days": [None] * 4,
    "revenue": [90.0, 80.0, 20.0, 10.0],
    "income": [15, 120, 60, 137],
    "gender": ["F", "M", "F", "M"],
})


def test_an_extra_column_is_a_criterion_normalised_like_the_others():
    by_income = rank_customers(MALL, {"income": 1}).set_index("customer_id")
    assert by_income["rank"].to_dict() == {"d": 1, "b": 2, "c": 3, "a": 4}  # higher income is better
    assert by_income["crit_income"].min() == 0.0 and by_income["crit_income"].max() == 1.0
    # the same 0-1 scale as a built-in criterion: equal weights on two opposite orders tie in the middle
    mixed = rank_customers(MALL, {"amount": 1, "income": 1}).set_index("customer_id")
    by_amount = rank_customers(MALL, {"amount": 1}).set_index("customer_id")
    assert mixed["rank_score"].to_dict() == pytest.approx(
        ((by_amount["rank_score"] + by_income["rank_score"]) / 2).to_dict())
    # a small weight moves the order less than a large one
    assert rank_customers(MALL, {"amount": 0.8, "income": 0.2})["customer_id"].tolist()[0] == "a"
    assert rank_customers(MALL, {"amount": 0.2, "income": 0.8})["customer_id"].tolist()[0] == "d"


def test_an_extra_criterion_is_supported_or_dropped_and_said_like_the_others():
    from segkit.classify.ranking import criteria_support, used_weights
    from segkit.report import tables

    weights = {"frequency": 0.3, "amount": 0.5, "income": 0.2}
    support = criteria_support(MALL, weights).set_index("criterion")
    assert support.loc["income", ["column", "status"]].tolist() == ["income", "used"]
    assert used_weights(MALL, weights) == pytest.approx({"amount": 0.5 / 0.7, "income": 0.2 / 0.7})
    assert tables.weights_text(weights, "en", MALL) == "amount 71%, income 29%"
    empty = MALL.assign(income=None)
    assert criteria_support(empty, weights).set_index("criterion").loc["income", "status"] == "no_values"
    assert used_weights(empty, weights) == {"amount": 1.0}
    said = tables.unsupported_standards(empty, [], weights, "en").set_index("name")
    assert said.loc["income", "why"] == "income is empty for every customer"
    text = criteria_support(MALL, {"amount": 1, "gender": 1}).set_index("criterion")
    assert text.loc["gender", "status"] == "not_numeric"
    assert tables.unsupported_standards(MALL, [], {"amount": 1, "gender": 1}, "zh").set_index("name").loc[
        "gender", "why"] == "“gender”不是数值"


def test_a_name_that_is_neither_a_criterion_nor_a_column_is_refused():
    with pytest.raises(ValueError, match=r"unknown ranking criteria \['salary'\]; choose from frequency.*numeric column"):
        rank_customers(MALL, {"amount": 1, "salary": 1})


def test_the_ranking_table_shows_the_extra_column_it_ranks_on():
    from segkit.report import tables

    profile = MALL.assign(segment=["lost"] * 4)
    ranked = rank_customers(profile, {"income": 1})
    table = tables.ranking_table(ranked, profile, "rfm11", "en", top_n=2, weights={"income": 1})
    assert table["income"].tolist() == [137, 120]
    assert "income" not in tables.ranking_table(ranked, profile, "rfm11", "en", top_n=2).columns
