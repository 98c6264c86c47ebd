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


# --- NPS of a month: its number of answers, and no figure, change or alert from too few (session 45: a new
# user's run had 2-5 dated answers a month, and the index showed NPS swings of 40 points with no count) ---

def answers_by_month(counts: dict[str, tuple[int, int]]) -> pd.DataFrame:
    """Survey answers: for each month, (promoters, detractors) answering 10 and 0 on its 5th."""
    rows = [(f"{month}-05", score) for month, (promoters, detractors) in counts.items()
            for score in [10] * promoters + [0] * detractors]
    return pd.DataFrame({"customer_id": [f"c{i}" for i in range(len(rows))], "nps": [score for _, score in rows],
                         "answered_at": pd.to_datetime([day for day, _ in rows])})


def nps_series(counts: dict[str, tuple[int, int]]) -> pd.DataFrame:
    return kpi_series(ACTIVITY, as_of=dt.date(2024, 3, 31), surveys=answers_by_month(counts))


def test_the_series_carries_each_months_number_of_nps_answers():
    series = nps_series({"2024-02": (2, 1), "2024-03": (30, 10)})
    assert series["nps_answers"].tolist() == [0.0, 3.0, 40.0]  # January: none
    assert series.loc[month("2024-02"), "nps"] == pytest.approx(100 / 3)  # computed, but too few to show
    assert series.loc[month("2024-03"), "nps"] == pytest.approx(50.0)


def test_an_nps_of_too_few_answers_has_no_change_and_fires_no_alert():
    from segkit.monthly.trends import MIN_NPS_ANSWERS

    rules = [Alert(kind="change", kpi="nps", below=-10), Alert(kind="level", kpi="nps", below=0)]
    few = nps_series({"2024-02": (3, 0), "2024-03": (0, 4)})  # +100 then -100 from 3 and 4 answers
    changes = kpi_changes(few).set_index("kpi")
    assert np.isnan(changes.loc["nps", "this_month"]) and np.isnan(changes.loc["nps", "change"])
    assert changes.loc["nps_answers", "this_month"] == 4 and changes.loc["nps_answers", "last_month"] == 3
    assert not check_alerts(rules, kpi_changes(few))["fired"].any()
    # the same fall from enough answers is measured, and fires both rules
    enough = nps_series({"2024-02": (MIN_NPS_ANSWERS, 0), "2024-03": (0, MIN_NPS_ANSWERS)})
    assert kpi_changes(enough).set_index("kpi").loc["nps", "change"] == pytest.approx(-200.0)
    assert check_alerts(rules, kpi_changes(enough))["fired"].tolist() == [True, True]
    # one month short is enough to leave the change unmeasured
    half = nps_series({"2024-02": (MIN_NPS_ANSWERS, 0), "2024-03": (0, MIN_NPS_ANSWERS - 1)})
    assert not check_alerts(rules, kpi_changes(half))["fired"].any()


def test_the_kpi_table_shows_the_nps_with_its_count_or_as_not_enough_answers():
    from segkit.report.tables import kpi_change_table

    series = nps_series({"2024-02": (40, 10), "2024-03": (2, 1)})
    en = kpi_change_table(kpi_changes(series), {}, "en").set_index("kpi")
    nps = en.loc["NPS of the month's survey answers"]
    assert nps["this_month"] == "not enough answers (3 of the 30 needed)"
    assert nps["last_month"] == "60.0 (50 answers)" and nps["change"] == "—"
    assert not [label for label in en.index if "answers" in label and "NPS" not in label]  # the count is no row
    zh = kpi_change_table(kpi_changes(series), {}, "zh").set_index("kpi").loc["当月问卷的净推荐值（NPS）"]
    assert zh["this_month"] == "答复不足（3 份，至少需要 30 份）" and zh["last_month"] == "60.0（50 份答复）"
    one = kpi_change_table(kpi_changes(nps_series({"2024-02": (40, 10), "2024-03": (1, 0)})), {}, "en")
    assert "not enough answers (1 of the 30 needed)" in one["this_month"].tolist()
    # a month without answers after one with a few: no figure either way, but the row says what there was
    none = kpi_change_table(kpi_changes(nps_series({"2024-02": (2, 0)})), {}, "en").set_index("kpi")
    assert none.loc["NPS of the month's survey answers"].tolist() == ["—", "not enough answers (2 of the 30 needed)", "—"]


def test_a_series_saved_before_the_count_was_kept_reads_as_before():
    """A run's kpi_trends stage written by an older segkit has nps and no nps_answers: its NPS is shown and
    compared as it was, with no count."""
    from segkit.report.tables import kpi_change_table

    old = nps_series({"2024-02": (2, 1), "2024-03": (1, 2)}).drop(columns="nps_answers")
    changes = kpi_changes(old).set_index("kpi")
    assert changes.loc["nps", "change"] == pytest.approx(-200 / 3)
    shown = kpi_change_table(kpi_changes(old), {}, "en").set_index("kpi").loc["NPS of the month's survey answers"]
    assert shown.tolist() == ["-33.3", "33.3", "-66.6"]


def test_the_nps_sparkline_leaves_out_months_of_too_few_answers():
    from segkit.report import plots

    def titles(series):
        return [ax.get_title(loc="left") for ax in plots.kpi_sparklines(series, "en").axes if ax.axison]

    assert "NPS of the month's survey answers" not in titles(nps_series({"2024-02": (2, 1), "2024-03": (3, 1)}))
    assert "NPS of the month's survey answers" in titles(nps_series({"2024-02": (20, 10), "2024-03": (30, 10)}))


def test_an_nps_alert_that_fires_says_the_answers_it_counts():
    from segkit.monthly.trends import MIN_NPS_ANSWERS
    from segkit.report.tables import alert_sentences

    rules = [Alert(kind="change", kpi="nps", below=-10), Alert(kind="level", kpi="nps", below=0)]
    enough = nps_series({"2024-02": (MIN_NPS_ANSWERS + 5, 0), "2024-03": (0, MIN_NPS_ANSWERS)})
    alerts = check_alerts(rules, kpi_changes(enough))
    assert alerts[["answers", "answers_before"]].values.tolist() == [[30.0, 35.0], [30.0, 35.0]]
    change, level = alert_sentences(alerts, {}, {}, "en")
    assert change.startswith("NPS of the month's survey answers (30 answers this month, 35 last month) changed by -200.00")
    assert level.startswith("NPS of the month's survey answers (30 answers) is -100.00 this month")
    assert alert_sentences(alerts, {}, {}, "zh")[0].startswith("当月问卷的净推荐值（NPS）（本月 30 份答复，上月 35 份）较上月变化")
    # an alerts stage of an older segkit, without the counts: said as before
    older = alerts.drop(columns=["answers", "answers_before"])
    assert alert_sentences(older, {}, {}, "en")[0].startswith("NPS of the month's survey answers changed by -200.00")


def test_the_nps_counts_only_the_answers_of_the_runs_customers():
    """A survey whose ids match no buyer (a file whose ids a spreadsheet re-saved) gave the index an NPS
    while 02 and 08 said the customers have no answers: answers of ids outside `current` are left out."""
    current = pd.DataFrame({"customer_id": ["a", "b"], "segment": ["champions", "loyal"], "revenue": [10.0, 5.0]})
    answers = pd.DataFrame({"customer_id": ["a", "x", "y", "z"], "nps": [10, 0, 0, 0],
                            "answered_at": pd.to_datetime(["2024-03-02"] * 4)})
    series = kpi_series(ACTIVITY, current=current, as_of=dt.date(2024, 3, 31), surveys=answers)
    assert series.loc[month("2024-03"), "nps"] == 100.0 and series.loc[month("2024-03"), "nps_answers"] == 1
    none_joined = kpi_series(ACTIVITY, current=current, as_of=dt.date(2024, 3, 31), surveys=answers.iloc[1:])
    assert "nps" not in none_joined.columns or none_joined["nps"].isna().all()
