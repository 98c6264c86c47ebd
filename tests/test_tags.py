import pandas as pd
import pytest

from segkit.errors import DataError, ParamsError
from segkit.params import load_params
from segkit.classify.profile import PROFILE_COLUMNS
from segkit.classify.tags import apply_tags, compile_rule, compile_tags, evaluate, tag_counts

PROFILE = pd.DataFrame({
    "customer_id": ["a", "b", "c", "d"],
    "orders": [1, 5, 12, 3],
    "recency_days": [400, 20, 5, 200],
    "monetary_tier": ["low", "mid", "high", "high"],
    "categories": [1, 3, 6, 2],
    "customer_type": ["individual", "enterprise", "government", None],
    "nps": [None, 10, 6, 9],
})


def holds(rule: str) -> list[str]:
    return PROFILE.loc[evaluate(compile_rule(rule, PROFILE_COLUMNS), PROFILE), "customer_id"].tolist()


def test_comparisons_membership_and_logic():
    assert holds("categories >= 3") == ["b", "c"]
    assert holds("monetary_tier == 'high' and recency_days > 180") == ["d"]
    assert holds("customer_type in ['enterprise', 'government']") == ["b", "c"]
    assert holds("customer_type not in ['enterprise', 'government']") == ["a"]  # a missing type is no match
    assert holds("not (orders > 2) or nps >= 9") == ["a", "b", "d"]
    assert holds("2 < orders <= 5") == ["b", "d"]
    assert holds("orders * 2 - 1 > 10") == ["c"]
    assert holds("nps >= 9") == ["b", "d"]  # no answer never matches


@pytest.mark.parametrize("rule", [
    "__import__('os').system('touch /tmp/pwned')",
    "orders.__class__.__mro__",
    "[x for x in orders]",
    "open('/etc/passwd')",
    "orders[0] > 1",
    "lambda: 1",
    "(orders := 3)",
])
def test_code_in_a_rule_is_refused(rule, tmp_path):
    with pytest.raises(ParamsError):
        compile_rule(rule, PROFILE_COLUMNS)


def test_unknown_feature_fails_when_the_params_load(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("tags:\n  - {name: wide, en: Wide, zh: 多品类, when: 'categoriez >= 3'}\n", encoding="utf-8")
    with pytest.raises(ParamsError, match=r"tags\[0\] \(wide\)\.when: unknown feature 'categoriez'.*did you mean 'categories'"):
        load_params(path)
    path.write_text("tags:\n  - {name: bad, en: B, zh: 坏, when: \"__import__('os')\"}\n", encoding="utf-8")
    with pytest.raises(ParamsError, match="call is not allowed"):
        load_params(path)


def test_customers_get_any_number_of_tags_and_counts_add_up():
    from segkit.params import validate_params

    rules = compile_tags(validate_params({}).tags, PROFILE_COLUMNS)
    tagged = apply_tags(PROFILE, rules)
    assert tagged.loc[tagged.customer_id == "c", "tags"].item() == "high_value, multi_category, organisation"
    assert tagged.loc[tagged.customer_id == "a", "tags"].item() == ""
    counts = tag_counts(tagged, rules, "zh").set_index("tag")
    assert counts.loc["多品类客户", "customers"] == 2
    assert counts.loc["高价值但趋于流失", "customers"] == 1


def test_a_missing_value_never_matches_even_under_not():
    # review finding: != and not used to turn a missing value into a match
    assert holds("customer_type != 'individual'") == ["b", "c"]
    assert holds("not (nps >= 9)") == ["c"]
    assert holds("not customer_type == 'enterprise'") == ["a", "c"]
    no_type = PROFILE.drop(columns="customer_type")
    assert not evaluate(compile_rule("customer_type != 'enterprise'", PROFILE_COLUMNS), no_type).any()


@pytest.mark.parametrize("rule", ["region > 3 and orders > 1", "-customer_type == 'x'", "orders + 'x' == 1",
                                  "'x' * 99999999999 == customer_type", "customer_type * 300000000 == 'x'",
                                  "not orders", "1 / 0 == 1"])
def test_rules_that_do_not_fit_the_data_stop_with_a_clear_error(rule):
    frame = PROFILE.assign(region=["North", "East", "South", None])
    with pytest.raises(DataError, match="cannot be evaluated on this data"):
        evaluate(compile_rule(rule, PROFILE_COLUMNS), frame)


def test_in_needs_a_list():
    with pytest.raises(ParamsError, match="'in' needs a list"):
        compile_rule("'north' in region", PROFILE_COLUMNS)
    with pytest.raises(ParamsError, match="'in' needs a list"):
        compile_rule("0 in orders", PROFILE_COLUMNS)
