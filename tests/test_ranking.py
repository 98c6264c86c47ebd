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
