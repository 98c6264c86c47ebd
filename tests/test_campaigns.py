"""Campaign response per segment: reading source.campaigns, the join report, Wilson intervals,
uplift against a control group and the segments worth targeting (segkit.crosssell.campaigns)."""

import numpy as np
import pandas as pd
import pytest

from segkit.crosssell import join_campaigns, response_rates, uplift, wide_to_long, wilson_interval, worth_targeting
from segkit.errors import DataError, ParamsError
from segkit.intake.sources import load_campaigns, read_campaigns
from segkit.params import CampaignTable, validate_params


def test_wilson_intervals_against_published_values():
    # Newcombe (1998), Statistics in Medicine 17:857-872, Table I (score method, 95%)
    low, high = wilson_interval([81, 15, 0, 1], [263, 148, 20, 29])
    np.testing.assert_allclose(low, [0.2553, 0.0624, 0.0, 0.0061], atol=5e-5)
    np.testing.assert_allclose(high, [0.3662, 0.1605, 0.1611, 0.1718], atol=5e-5)
    low, high = wilson_interval([3], [0])
    assert np.isnan(low[0]) and np.isnan(high[0])


def built(groups: dict[str, tuple[int, int, int, int]]) -> pd.DataFrame:
    """Campaign rows with exact counts: group -> (treated, treated responses, control, control responses)."""
    rows = []
    for group, (n1, k1, n0, k0) in groups.items():
        for n, k, control in ((n1, k1, False), (n0, k0, True)):
            rows += [{"customer_id": f"{group}{control}{i}", "campaign": "spring", "responded": i < k,
                      "control": control, "segment": group} for i in range(n)]
    return pd.DataFrame(rows)


def test_newcombe_interval_for_a_difference_against_published_values():
    # Newcombe (1998), Stat Med 17:873-890, example (a): 56/70 - 48/80, method 10: 0.0524 to 0.3339
    lifts = uplift(built({"s": (70, 56, 80, 48)}))
    row = lifts[lifts["group"] == "s"].iloc[0]
    assert row["uplift"] == pytest.approx(0.2)
    assert row["uplift_low"] == pytest.approx(0.0524, abs=5e-5) and row["uplift_high"] == pytest.approx(0.3339, abs=5e-5)


def test_uplift_on_a_built_case_with_a_known_effect():
    joined = built({"works": (2000, 600, 2000, 200), "no_effect": (2000, 200, 2000, 200)})
    lifts = uplift(joined).set_index("group")
    assert lifts.loc["works", "uplift"] == pytest.approx(0.2)
    assert lifts.loc["works", "uplift_low"] > 0.17 and lifts.loc["works", "uplift_high"] < 0.23
    assert lifts.loc["no_effect", "uplift"] == pytest.approx(0.0)
    assert lifts.loc["no_effect", "uplift_low"] < 0 < lifts.loc["no_effect", "uplift_high"]
    assert lifts.loc["all", "uplift"] == pytest.approx((800 / 4000) - (400 / 4000))
    assert list(lifts.index)[0] == "all"
    rates = response_rates(joined)
    assert worth_targeting(rates, lifts.reset_index()) == {"response": ["works"], "uplift": ["works"]}


def test_response_rates_leave_the_control_group_out_and_give_lift_over_the_average():
    joined = built({"a": (100, 30, 50, 40), "b": (300, 30, 0, 0)})
    rates = response_rates(joined).set_index("group")
    assert rates.loc["a", "sent"] == 100 and rates.loc["a", "rate"] == pytest.approx(0.3)
    assert rates.loc["a", "lift"] == pytest.approx(0.3 / (60 / 400))
    low, high = wilson_interval([30], [100])
    assert rates.loc["a", "rate_low"] == pytest.approx(low[0]) and rates.loc["a", "rate_high"] == pytest.approx(high[0])
    assert uplift(built({"b": (300, 30, 0, 0)})).empty  # no control group, no uplift


def test_a_small_segment_is_not_named_worth_targeting():
    rates = response_rates(built({"big": (1000, 100, 0, 0), "tiny": (10, 9, 0, 0)}))
    assert worth_targeting(rates, None, min_customers=30)["response"] == []
    assert worth_targeting(rates, None, min_customers=5)["response"] == ["tiny"]


def test_campaign_customers_not_in_the_transactions_are_counted_not_dropped():
    campaigns = pd.DataFrame({"customer_id": ["a", "b", "x", "x", "y"], "campaign": ["c1", "c1", "c1", "c2", "c1"],
                              "responded": [True, False, True, False, False]})
    segments = pd.DataFrame({"customer_id": ["a", "b", "c"], "segment": ["s", "s", "t"], "rfm_class": ["k"] * 3})
    joined, report = join_campaigns(campaigns, segments)
    report = report.set_index("outcome")
    assert report.loc["matched", "rows"] == 2 and report.loc["matched", "customers"] == 2
    assert report.loc["not_in_transactions", "rows"] == 3 and report.loc["not_in_transactions", "customers"] == 2
    assert report["rows"].sum() == len(campaigns)
    assert set(joined["customer_id"]) == {"a", "b"} and not joined["control"].any()


def test_wide_form_becomes_one_row_per_customer_and_campaign():
    wide = pd.DataFrame({"ID": ["1", "2"], "AcceptedCmp1": ["0", "1"], "Response": [1, 0]})
    long = wide_to_long(wide, ["AcceptedCmp1", "Response"], customer_id="ID")
    assert len(long) == 4 and set(long["campaign"]) == {"AcceptedCmp1", "Response"}
    assert long["responded"].tolist() == [False, True, True, False]
    with pytest.raises(DataError, match=r"AcceptedCmp1, row 2: 'maybe'"):
        wide_to_long(wide.assign(AcceptedCmp1=["1", "maybe"]), ["AcceptedCmp1"], customer_id="ID")


def test_read_a_long_campaigns_file(tmp_path):
    path = tmp_path / "campaigns.csv"
    path.write_text("客户,活动,发送日期,是否响应,金额,对照组\nC1,春季,2025-03-01,是,120.5,0\nC2,春季,2025/3/1,否,,1\n",
                    encoding="utf-8")
    spec = CampaignTable(path=str(path), columns={"customer_id": "客户", "campaign": "活动", "sent_at": "发送日期",
                                                  "responded": "是否响应", "revenue": "金额", "control": "对照组"})
    frame = read_campaigns(spec)
    assert frame["customer_id"].tolist() == ["C1", "C2"] and frame["campaign"].tolist() == ["春季", "春季"]
    assert frame["responded"].tolist() == [True, False] and frame["control"].tolist() == [False, True]
    assert frame["revenue"].tolist() == [120.5, 0.0]
    assert (frame["sent_at"] == pd.Timestamp("2025-03-01")).all()


def test_a_campaigns_file_with_a_missing_column_or_a_bad_flag_is_one_clear_error(tmp_path):
    path = tmp_path / "campaigns.csv"
    path.write_text("customer,responded\nC1,yes\nC2,perhaps\n", encoding="utf-8")
    with pytest.raises(DataError, match="responded"):
        read_campaigns(CampaignTable(path=str(path), columns={"customer_id": "customer"}))
    with pytest.raises(DataError, match='column "Responded"'):
        read_campaigns(CampaignTable(path=str(path), columns={"customer_id": "customer", "responded": "Responded"}))


def test_source_campaigns_in_params_wide_form_read_relative_to_the_params(tmp_path):
    (tmp_path / "marketing.csv").write_text("ID;AcceptedCmp1;AcceptedCmp2;Response\n5524;0;0;1\n2174;0;1;0\n",
                                            encoding="utf-8")
    params = validate_params({"source": {"kind": "file", "transactions": {"path": "tx.csv"},
                                         "campaigns": {"path": "marketing.csv", "form": "wide",
                                                       "columns": {"customer_id": "ID"},
                                                       "campaign_columns": ["AcceptedCmp1", "AcceptedCmp2", "Response"]}}})
    frame = load_campaigns(params.source, tmp_path / "params.yaml")
    assert len(frame) == 6 and frame["responded"].sum() == 2
    assert frame.loc[frame["campaign"] == "Response", "customer_id"].tolist() == ["5524", "2174"]


def test_campaign_params_are_checked():
    with pytest.raises(ParamsError, match="campaign_columns"):
        validate_params({"source": {"campaigns": {"path": "m.csv", "form": "wide"}}})
    with pytest.raises(ParamsError, match="not a campaigns column"):
        validate_params({"source": {"campaigns": {"path": "m.csv", "columns": {"spend": "x"}}}})
    with pytest.raises(ParamsError, match="min_suport"):
        validate_params({"cross_sell": {"min_suport": 0.1}})
    with pytest.raises(ParamsError):
        validate_params({"cross_sell": {"min_support": 0}})


def test_the_demo_has_campaigns_with_a_control_group_and_segment_dependent_response():
    params = validate_params({"source": {"kind": "demo", "demo": {"customers": 600, "seed": 3}}})
    campaigns = load_campaigns(params.source)
    assert {"customer_id", "campaign", "sent_at", "responded", "revenue", "control"} <= set(campaigns.columns)
    treated = campaigns[~campaigns["control"]]
    assert treated["responded"].mean() > campaigns.loc[campaigns["control"], "responded"].mean()
    assert load_campaigns(validate_params({"source": {"kind": "cdnow"}}).source) is None


def test_the_segment_is_the_one_at_the_send_date():
    from segkit.classify.rfm import RFMScorer, segment_customers
    from segkit.crosssell.campaigns import segments_at_send_dates
    from segkit.datasets import generate_retail
    from segkit.features import customer_features
    from segkit.intake.sources import connect
    from segkit.params import RFM

    data = generate_retail(customers=300, seed=4)
    tx, campaigns = data.transactions, data.campaigns
    first_sent = campaigns["sent_at"].min()
    late = tx.groupby("customer_id")["ordered_at"].min()
    late = late[late >= first_sent].index[0]  # first bought after the first campaign was sent
    campaigns = pd.concat([campaigns, pd.DataFrame({"customer_id": [late], "campaign": ["CMP1"], "sent_at": [first_sent],
                                                     "responded": [False], "revenue": [0.0], "control": [False]})])
    at_send = segments_at_send_dates(tx, campaigns, RFM())
    assert set(at_send["sent_at"]) == set(campaigns["sent_at"])
    # the first date by hand: features on the purchases before it, scored as 02_rfm scores
    before = tx[tx["ordered_at"] < first_sent]
    features = customer_features(connect(), before, (first_sent - pd.Timedelta(days=1)).date())
    expected, _ = segment_customers(features, RFMScorer(5).fit(features), "rfm11", "cn8")
    got = at_send[at_send["sent_at"] == first_sent].set_index("customer_id")
    assert got.loc[expected["customer_id"], "segment"].tolist() == expected["segment"].tolist()
    run_features = customer_features(connect(), tx, tx["ordered_at"].max().date())
    run_segments, _ = segment_customers(run_features, RFMScorer(5).fit(run_features), "rfm11", "cn8")
    joined, report = join_campaigns(campaigns, run_segments, at_send=at_send)
    report = report.set_index("outcome")
    assert report.loc["no_purchase_before_send", "rows"] == 1
    assert not ((joined["customer_id"] == late) & (joined["sent_at"] == first_sent)).any()
    assert report["rows"].sum() == len(campaigns)
    row = joined[(joined["sent_at"] == first_sent)].iloc[0]
    assert row["segment"] == got.loc[row["customer_id"], "segment"]
    differs = joined.merge(run_segments[["customer_id", "segment"]], on="customer_id", suffixes=("", "_run"))
    assert (differs["segment"] != differs["segment_run"]).any()  # customers moved between send and the run's end
    # the clean rows read in place by the engine (07 of a file run) give the same segments at each date
    import ibis
    pd.testing.assert_frame_equal(segments_at_send_dates(ibis.memtable(tx), campaigns, RFM()), at_send)


def test_response_tables_by_class_or_cluster_are_headed_by_what_they_group():
    """07's response tables by class and by cluster had their first column headed "Segment"."""
    from segkit.classify.rfm import load_segment_map
    from segkit.crosssell.tables import rates_table
    from segkit.i18n import label_columns

    rates = pd.DataFrame({"group": ["important_value", "general_winback"], "sent": [10, 20], "responses": [3, 2],
                          "rate": [0.3, 0.1], "rate_low": [0.1, 0.03], "rate_high": [0.6, 0.3], "lift": [1.8, 0.6]})
    for by, lang, header in (("rfm_class", "en", "Class"), ("rfm_class", "zh", "客户类别"),
                             ("cluster_name", "en", "Cluster"), ("segment", "zh", "客户群")):
        shown = rates_table(rates, load_segment_map("cn8") if by == "rfm_class" else None, lang, by)
        assert label_columns(shown, lang).columns[0] == header
    assert rates_table(rates, load_segment_map("cn8"), "en", "rfm_class").iloc[0, 0] == "Important value"


def test_us_dates_the_file_alone_does_not_settle_are_read_in_the_runs_order(tmp_path):
    """A send date "04/01/2026" is 4 January or April 1: the campaigns file alone does not say. It is read in the
    order the params state, else the one 01 read the transactions in (its note in run.json); without either,
    it is left without a date (its row counts in the run's segment) and a note names the row and the setting
    that settles it: the report is not stopped at 07 (a new user's Parquet orders settle no order)."""
    from segkit.crosssell.tables import send_dates_note
    from segkit.intake.sources import run_day_first

    path = tmp_path / "campaign.csv"
    path.write_text("Email,Sent Date,Group,Responded\na@x.com,04/01/2026,treatment,no\nb@x.com,04/01/2026,control,yes\n",
                    encoding="utf-8")
    spec = CampaignTable(path=str(path), columns={"customer_id": "Email", "sent_at": "Sent Date",
                                                  "responded": "Responded"})
    unsettled = read_campaigns(spec)
    assert unsettled["sent_at"].isna().all() and len(unsettled) == 2
    assert unsettled.attrs["send_dates_unsettled"] == {"key": "campaign_dates_unsettled", "file": str(path),
                                                       "column": "Sent Date", "dates": 2, "row": 2, "value": "04/01/2026"}
    english, chinese = (str(send_dates_note(unsettled, lang)) for lang in ("en", "zh"))
    assert 'row 2: &quot;04/01/2026&quot;' in english and "cleaning.day_first" in english and "segment of this run" in english
    assert "第 2 行" in chinese and "cleaning.day_first" in chinese
    assert send_dates_note(read_campaigns(spec, day_first=True), "en") is None
    path.write_text("Email,Sent Date,Responded\na@x.com,04/01/2026,no\nb@x.com,32/01/2026,yes\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"row 3, column \"Sent Date\": '32/01/2026' is not a date"):
        read_campaigns(spec)  # a date no order reads stops the run, as before (and `segkit check` says it first)
    path.write_text("Email,Sent Date,Group,Responded\na@x.com,04/01/2026,treatment,no\nb@x.com,04/01/2026,control,yes\n",
                    encoding="utf-8")
    assert (read_campaigns(spec, day_first=False)["sent_at"] == pd.Timestamp("2026-04-01")).all()
    assert (read_campaigns(spec, day_first=True)["sent_at"] == pd.Timestamp("2026-01-04")).all()
    month_first = {"cleaning_notes": [{"key": "currency_text"}, {"key": "date_order_month_first", "order": "month_first"}]}
    assert run_day_first(None, month_first) is False and run_day_first(True, month_first) is True
    assert run_day_first(None, {"cleaning_notes": [{"key": "date_order_day_first"}]}) is True
    assert run_day_first(None, {}) is None and run_day_first(False, {}) is False


def test_a_bad_flag_is_named_by_its_line_in_the_file_as_a_bad_date_is(tmp_path):
    path = tmp_path / "campaign.csv"
    path.write_text("Email,Group,Responded\na@x.com,treatment,no\n", encoding="utf-8")
    spec = CampaignTable(path=str(path), columns={"customer_id": "Email", "control": "Group", "responded": "Responded"})
    with pytest.raises(DataError, match=r'column "Group", row 2: \'treatment\' is not a yes/no flag'):
        read_campaigns(spec)


def test_segkit_check_reads_the_campaigns_rows_as_07_does(tmp_path):
    """A bad flag was found only by 07, after six notebooks; `check_source` (segkit check) now reads the rows. Dates
    that only the transactions' order settles (04/01/2026) are no error there; one that no order reads is."""
    from segkit.intake.sources import check_source

    (tmp_path / "tx.csv").write_text("customer_id,order_id,ordered_at,amount\nC1,O1,2026-03-01,5\n", encoding="utf-8")

    def checked(rows: str, day_first=None):
        (tmp_path / "campaign.csv").write_text("Email,Sent Date,Group,Responded\n" + rows, encoding="utf-8")
        params = validate_params({"source": {"kind": "file", "transactions": {"path": "tx.csv"},
                                             "campaigns": {"path": "campaign.csv", "columns": {
                                                 "customer_id": "Email", "sent_at": "Sent Date", "control": "Group",
                                                 "responded": "Responded"}}},
                                  "cleaning": {"day_first": day_first}})
        return check_source(params.source, tmp_path / "params.yaml", rules=params.cleaning)

    # either order reads them: the run settles it, if the transactions' dates do; said as a note
    assert [(n["key"], n["dates"], n["row"]) for n in checked("C1,04/01/2026,0,yes\nC2,04/01/2026,1,no\n")] == [
        ("dates_unsettled_check", 2, 2)]
    assert checked("C1,04/01/2026,0,yes\n", day_first=True) == []
    with pytest.raises(DataError, match=r'column "Group", row 3: \'control\' is not a yes/no flag'):
        checked("C1,04/01/2026,0,yes\nC2,04/01/2026,control,no\n")
    with pytest.raises(DataError, match=r'row 2, column "Sent Date": \'2026-13-45\' is not a date'):
        checked("C1,2026-13-45,0,yes\n")
    with pytest.raises(DataError, match=r"row 3, column \"Sent Date\": '13/01/2026'.*cleaning.day_first"):
        checked("C1,04/01/2026,0,yes\nC2,13/01/2026,1,no\n", day_first=False)  # stated month first: 13 is no month


def test_the_class_tables_rates_say_class_not_segment():
    """07's rates by class said "The segment is the one the customer was in on the send date"."""
    from segkit.crosssell.tables import segment_when

    dated = pd.DataFrame({"customer_id": ["a"]})
    assert segment_when(dated, "en", "rfm_class").startswith("The class is the one the customer was in on the send date")
    assert segment_when(None, "en", "rfm_class").endswith("the class is the customer's class at the end of this run.")
    assert segment_when(dated, "en").startswith("The segment is") and "类别" in segment_when(dated, "zh", "rfm_class")
