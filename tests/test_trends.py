"""KPIs over time and the alert rules, on frames small enough to check by hand."""

import datetime as dt
import re

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from segkit.errors import ParamsError
from segkit.monthly.migration import transition_matrix
from segkit.monthly.trends import check_alerts, kpi_changes, kpi_series
from segkit.params import Alert


def month(text):
    return dt.date.fromisoformat(text + "-01")


# a buys in Jan, Feb, Mar; b in Feb and Mar; c in Jan only; d first in Mar
ACTIVITY = pd.DataFrame({
    "customer_id": ["a", "c", "a", "b", "a", "b", "d"],
    "month": [month("2024-01"), month("2024-01"), month("2024-02"), month("2024-02"), month("2024-03"),
              month("2024-03"), month("2024-03")],
    "orders": [1, 2, 1, 1, 2, 1, 1],
    "revenue": [10.0, 40.0, 20.0, 5.0, 30.0, 15.0, 60.0],
})


def test_the_series_adds_up_each_months_own_figures():
    # segments at the START of Feb and Mar (= the end of Jan and Feb), and this run's at the end of March
    starts = pd.DataFrame({"month": [month("2024-02")] * 2 + [month("2024-03")] * 3,
                           "customer_id": ["a", "c", "a", "b", "c"],
                           "segment": ["champions", "lost", "champions", "new_customers", "lost"]})
    current = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "segment": ["champions", "loyal", "lost", "lost"],
                            "revenue": [60.0, 20.0, 40.0, 60.0]})
    surveys = pd.DataFrame({"customer_id": ["a", "b", "c", "a"], "nps": [10, 3, 8, None],
                            "answered_at": pd.to_datetime(["2024-03-02", "2024-03-20", "2024-03-21", "2024-01-05"])})
    series = kpi_series(ACTIVITY, starts, current=current, as_of=dt.date(2024, 3, 31), surveys=surveys)
    assert series.index.tolist() == [month("2024-01"), month("2024-02"), month("2024-03")]
    assert series["revenue"].tolist() == [50.0, 25.0, 105.0]
    assert series["customers"].tolist() == [2.0, 3.0, 4.0]  # who had bought by each month's end
    assert series["active_customers"].tolist() == [2, 2, 3]
    assert series.loc[month("2024-02"), "retention_rate"] == 0.5  # a of {a, c}
    assert series.loc[month("2024-01"), "share_champions"] == 0.5  # a of {a, c} at the end of January
    assert series.loc[month("2024-02"), "share_new_customers"] == pytest.approx(1 / 3)
    assert series.loc[month("2024-03"), "share_lost"] == 0.5
    assert series.loc[month("2024-03"), "top_share"] == pytest.approx(60 / 180)  # top 20% of 4: one customer
    assert series.loc[month("2024-03"), "nps"] == pytest.approx(100 * (1 / 3 - 1 / 3))  # a promoter, a detractor
    assert np.isnan(series.loc[month("2024-01"), "nps"])  # January's only answer is blank

    changes = kpi_changes(series).set_index("kpi")
    assert changes.loc["revenue", "this_month"] == 105.0 and changes.loc["revenue", "last_month"] == 25.0
    assert changes.loc["revenue", "change"] == 80.0
    assert changes.loc["share_lost", "change"] == pytest.approx(0.5 - 1 / 3)
    assert changes.loc["share_loyal", "last_month"] == 0.0  # nobody was loyal at the end of February


def test_a_month_nobody_bought_in_is_a_month_of_nothing_not_the_month_before():
    """A shop closed in April (the data reach March): April's figures are zero active customers and
    no revenue, its retention 0; this month is April and last month March, never March and February."""
    current = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "segment": ["champions", "loyal", "lost", "lost"],
                            "revenue": [60.0, 20.0, 40.0, 60.0]})
    series = kpi_series(ACTIVITY, current=current, as_of=dt.date(2024, 5, 31))
    assert series.index.tolist() == [month("2024-01"), month("2024-02"), month("2024-03"), month("2024-04"),
                                     month("2024-05")]
    assert series["active_customers"].tolist() == [2, 2, 3, 0, 0] and series["revenue"].tolist()[3:] == [0.0, 0.0]
    assert series["customers"].tolist()[3:] == [4.0, 4.0]  # nobody new, nobody forgotten
    assert series.loc[month("2024-04"), "retention_rate"] == 0.0  # none of March's 3 bought in April
    assert np.isnan(series.loc[month("2024-05"), "retention_rate"])  # nobody to retain: undefined, as defined
    assert series["repurchase_rate"].tolist()[3:] == [0, 0]
    assert np.isnan(series.loc[month("2024-04"), "avg_order_value"])  # no order: no average order value
    assert series.loc[month("2024-05"), "share_champions"] == 0.25  # this run's classes, at the end of May
    changes = kpi_changes(series).set_index("kpi")
    assert changes.loc["revenue", "this_month"] == 0.0 and changes.loc["revenue", "last_month"] == 0.0
    assert kpi_changes(series, month("2024-04")).set_index("kpi").loc["revenue", "last_month"] == 105.0


def counts():
    before = pd.DataFrame({"customer_id": list("abcdefghij"),
                           "segment": ["champions"] * 8 + ["loyal"] * 2})
    after = pd.DataFrame({"customer_id": list("abcdefghijk"),
                          "segment": ["champions"] * 6 + ["at_risk"] + ["lost"] + ["loyal", "at_risk", "loyal"]})
    return {"segment": transition_matrix(before, after, codes=["champions", "loyal", "at_risk", "lost"])[0]}


CODES = {"segment": ["champions", "loyal", "at_risk", "lost"], "rfm_class": []}


def test_a_moved_alert_fires_on_the_share_of_the_class_that_moved():
    changes = pd.DataFrame({"kpi": ["top_share"], "this_month": [0.70], "last_month": [0.75], "change": [-0.05]})
    rules = [Alert.model_validate({"kind": "moved", "from": ["champions"], "to": ["at_risk"], "above": 0.1}),
             Alert.model_validate({"kind": "moved", "from": ["champions"], "to": ["at_risk", "lost"], "above": 0.2}),
             Alert.model_validate({"kind": "moved", "from": ["champions", "loyal"], "to": ["at_risk"], "above": 0.15}),
             Alert(kind="change", kpi="top_share", below=-0.03),
             Alert(kind="level", kpi="top_share", above=0.8)]
    fired = check_alerts(rules, changes, counts(), CODES)
    assert fired["value"].tolist()[:3] == [1 / 8, 2 / 8, 2 / 10]
    assert fired["fired"].tolist() == [True, True, True, True, False]
    assert fired.loc[3, "value"] == -0.05 and fired.loc[4, "value"] == 0.70


def test_rules_that_name_what_the_run_does_not_have_are_refused_by_number():
    changes = pd.DataFrame({"kpi": ["revenue"], "this_month": [1.0], "last_month": [1.0], "change": [0.0]})
    with pytest.raises(ParamsError, match=r"alerts\[1\] names 'champion', not a class of the segment map"):
        check_alerts([Alert(kind="level", kpi="revenue", above=0),
                      Alert.model_validate({"kind": "moved", "from": ["champion"], "to": ["lost"], "above": 0.1})],
                     changes, counts(), CODES)
    with pytest.raises(ParamsError, match=r"alerts\[0\] names the figure 'turnover'"):
        check_alerts([Alert(kind="change", kpi="turnover", below=0)], changes, counts(), CODES)


@pytest.mark.parametrize("rule, message", [
    ({"kind": "change", "kpi": "revenue"}, "exactly one of above or below"),
    ({"kind": "change", "kpi": "revenue", "above": 1, "below": 0}, "exactly one of above or below"),
    ({"kind": "moved", "from": ["champions"], "above": 0.1}, "a moved alert needs from and to"),
    ({"kind": "level", "above": 0.1}, "a level alert needs kpi"),
])
def test_an_incomplete_rule_is_a_params_error(rule, message):
    with pytest.raises(ValidationError, match=message):
        Alert.model_validate(rule)


@pytest.mark.parametrize("rule, message", [
    ({"kind": "level", "kpi": "retension_rate", "below": 0.3},
     "alerts[0].kpi: 'retension_rate' is not a figure the monthly runs measure; did you mean 'retention_rate'?"),
    ({"kind": "change", "kpi": "share_champion", "below": -0.1},
     "alerts[0].kpi: 'share_champion' is not a figure the monthly runs measure; did you mean 'share_champions'?"),
    ({"kind": "moved", "from": ["champion"], "to": ["at_risk"], "above": 0.1},
     "alerts[0].from: 'champion' is not a class of the segment map; did you mean 'champions'?"),
    ({"kind": "moved", "map": "rfm_class", "from": ["important_value"], "to": ["at_risk"], "above": 0.1},
     "alerts[0].to: 'at_risk' is not a class of the rfm_class map"),
])
def test_an_alert_naming_no_figure_or_class_is_refused_with_the_params(rule, message):
    """A typo in an alert is refused when the params are read (segkit check, before a report runs its
    notebooks), with the closest name; segkit's own figures, shares and classes pass."""
    from segkit.errors import ParamsError
    from segkit.params import validate_params

    with pytest.raises(ParamsError, match=re.escape(message)):
        validate_params({"alerts": [rule]})
    good = [{"kind": "level", "kpi": "retention_rate", "below": 0.3},
            {"kind": "change", "kpi": "share_at_risk", "above": 0.05},
            {"kind": "moved", "map": "rfm_class", "from": ["important_value"], "to": ["general_winback"], "above": 0.1}]
    assert len(validate_params({"alerts": good}).alerts) == 3


def test_a_list_item_is_named_alike_by_every_params_message(tmp_path):
    """"alerts.2.kind" beside "alerts[3].kpi": an item of a list is written one way, by its number in brackets."""
    import yaml

    import segkit

    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"run_name": "x", "source": {"kind": "demo"},
                                    "alerts": [{"kind": "level", "kpi": "revenue", "below": 1}, {"kind": "nope"}]}))
    with pytest.raises(ParamsError) as refused:
        segkit.load_params(path)
    assert "alerts[1].kind must be one of" in str(refused.value) and "alerts.1" not in str(refused.value)
