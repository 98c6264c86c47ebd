"""Who moved where: a two-month case where every move is known by construction."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from segkit.classify.rfm import load_segment_map
from segkit.errors import DataError
from segkit.features import customer_features
from segkit.intake.sources import connect
from segkit.monthly.migration import NEW, customer_moves, largest_moves, match_clusters, slipped, transition_matrix

# a: Jan and Feb (returning); b: first purchase in Feb (new); c: June 2023 then Feb (reactivated: 244 days
# without a purchase at 31 January); d: last bought 10 August 2023 (174 days at 31 January, 203 at
# 29 February: lost in February); e: long gone (stayed away); f: January only (stayed, still within the window)
ROWS = [("a", "2024-01-10", 10.0), ("a", "2024-02-05", 12.0), ("b", "2024-02-10", 30.0),
        ("c", "2023-06-01", 5.0), ("c", "2024-02-12", 8.0), ("d", "2023-08-10", 50.0),
        ("e", "2023-01-01", 7.0), ("f", "2024-01-20", 9.0)]


@pytest.fixture(scope="module")
def months():
    tx = pd.DataFrame(ROWS, columns=["customer_id", "ordered_at", "amount"])
    tx = tx.assign(ordered_at=pd.to_datetime(tx["ordered_at"]), order_id=[f"o{i}" for i in range(len(tx))])
    jan_end, feb_end = dt.date(2024, 1, 31), dt.date(2024, 2, 29)
    before = customer_features(connect(), tx[tx.ordered_at <= pd.Timestamp(jan_end)], jan_end)
    after = customer_features(connect(), tx, feb_end)
    return before, after


def test_customer_moves_follow_the_definitions(months):
    before, after = months
    moves = customer_moves(before, after, dt.date(2024, 2, 1), churn_window=180)
    assert moves.to_dict() == {"a": "returning", "b": "new", "c": "reactivated", "d": "lost", "e": "stayed",
                               "f": "stayed"}
    # a shorter window: c's gap of 244 days is still long; d was already gone at the end of January
    moves_90 = customer_moves(before, after, dt.date(2024, 2, 1), churn_window=90)
    assert moves_90["c"] == "reactivated" and moves_90["d"] == "stayed" and moves_90["a"] == "returning"
    with pytest.raises(DataError, match="churn_window"):
        customer_moves(before, after, dt.date(2024, 2, 1), churn_window=0)
    with pytest.raises(DataError, match="recency_days"):
        customer_moves(before.drop(columns="recency_days"), after, dt.date(2024, 2, 1))


def test_transition_matrix_counts_and_row_shares():
    codes = load_segment_map("rfm11").codes
    before = pd.DataFrame({"customer_id": list("acdef"),
                           "segment": ["champions", "lost", "loyal", "lost", "new_customers"]})
    after = pd.DataFrame({"customer_id": list("abcdef"),
                          "segment": ["champions", "new_customers", "promising", "at_risk", "lost", "promising"]})
    counts, shares = transition_matrix(before, after, codes=codes)
    assert list(counts.columns) == codes and list(counts.index) == [*codes, NEW]
    assert counts.to_numpy().sum() == 6
    assert counts.loc["champions", "champions"] == 1 and counts.loc["loyal", "at_risk"] == 1
    assert counts.loc[NEW, "new_customers"] == 1  # b had no class at the end of January
    assert counts.loc["lost", "promising"] == 1 and counts.loc["lost", "lost"] == 1
    assert shares.loc["lost", "promising"] == 0.5 and shares.loc["lost"].sum() == pytest.approx(1)
    assert shares.loc["potential_loyalist"].isna().all()  # nobody was there
    moves = largest_moves(counts)
    assert len(moves) == 4 and not (moves["before"].astype(str) == moves["after"].astype(str)).any()
    slipping = slipped(before, after.assign(revenue=[1, 2, 3, 4, 5, 6]))
    assert slipping[["customer_id", "before", "after"]].values.tolist() == [["d", "loyal", "at_risk"]]
    with pytest.raises(DataError, match="not classified this month"):
        transition_matrix(before, after[after.customer_id != "d"], codes=codes)
    with pytest.raises(DataError, match="not in the map"):
        transition_matrix(before, after.replace({"promising": "vip"}), codes=codes)


def test_clusters_are_matched_to_last_months_whatever_their_numbers():
    rng = np.random.default_rng(2)
    previous = rng.normal(size=(4, 3)) * 5
    order = [2, 0, 3, 1]
    current = previous[order] + rng.normal(scale=0.05, size=(4, 3))  # the same groups, renumbered
    assert match_clusters(previous, current) == {0: 2, 1: 0, 2: 3, 3: 1}
    grown = np.vstack([current, [[50.0, 50.0, 50.0]]])  # a fifth group appears
    matched = match_clusters(previous, grown)
    assert matched[4] is None and sorted(v for v in matched.values() if v is not None) == [0, 1, 2, 3]
    far = match_clusters(previous, current + 10, max_distance=1.0)
    assert set(far.values()) == {None}
    with pytest.raises(DataError, match="same features"):
        match_clusters(previous, current[:, :2])


def test_classes_before_come_from_the_history_or_are_recomputed_from_the_month_start(tmp_path):
    from segkit.monthly.activity import features_at_month_starts
    from segkit.monthly.history import write_month
    from segkit.monthly.migration import classes_before
    from segkit.params import RFM

    rng = np.random.default_rng(8)
    rows = [(f"c{i}", f"o{i}-{k}", pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(d)), float(rng.integers(5, 300)))
            for i in range(40) for k, d in enumerate(sorted(rng.integers(0, 90, size=1 + i % 4)))]
    tx = pd.DataFrame(rows, columns=["customer_id", "order_id", "ordered_at", "amount"])
    grid, classes = load_segment_map("rfm11"), load_segment_map("cn8")
    starts = features_at_month_starts(connect(), tx, [dt.date(2024, 3, 1)])
    before, source = classes_before(dt.date(2024, 3, 1), tmp_path / "none.duckdb", "shop", starts, RFM(), grid, classes)
    assert source == "recomputed" and len(before) == starts["customer_id"].nunique()
    assert set(before["segment"]) <= set(grid.codes) and set(before["rfm_class"]) <= set(classes.codes)
    # once the history holds February, it is read from there
    path = tmp_path / "history.duckdb"
    write_month(path, "shop", dt.date(2024, 2, 29), before.assign(segment="lost"), {"customers": len(before)})
    from_history, source = classes_before(dt.date(2024, 3, 1), path, "shop", starts, RFM(), grid, classes)
    assert source == "history" and set(from_history["segment"]) == {"lost"}
    assert classes_before(dt.date(2024, 3, 1)) == (None, "none")


def test_slipped_customers_come_from_the_segments_or_the_eight_classes():
    from segkit.monthly.stage import slipped_customers

    before = pd.DataFrame({"customer_id": ["s", "c", "both", "kept"],
                           "segment": ["champions", "loyal", "cant_lose", "champions"],
                           "rfm_class": ["general_value", "important_value", "important_retain", "important_value"]})
    after = pd.DataFrame({"customer_id": ["s", "c", "both", "kept", "new"],
                          "segment": ["at_risk", "loyal", "lost", "champions", "at_risk"],
                          "rfm_class": ["general_value", "general_winback", "important_winback", "important_value",
                                        "general_winback"],
                          "revenue": [10.0, 30.0, 20.0, 99.0, 5.0]})
    moved = slipped_customers(before, after)
    assert moved["customer_id"].tolist() == ["c", "both", "s"]  # most revenue first; "new" had no class before
    assert moved.set_index("customer_id").loc["c", ["before", "after", "class_before", "class_after"]].tolist() == \
        ["loyal", "loyal", "important_value", "general_winback"]


def test_the_slipped_table_says_which_move_each_column_is():
    """A customer may slip in the eight classes and keep their segment: the table heads the segment
    columns as segments and the class columns as classes, so such a row does not read as no move."""
    from segkit.i18n import label_columns
    from segkit.report.tables import slipped_table

    slipped = pd.DataFrame({"customer_id": ["C1"], "before": ["cant_lose"], "after": ["cant_lose"],
                            "class_before": ["important_retain"], "class_after": ["important_winback"],
                            "revenue": [120.0]})
    for lang, words in (("en", ["Segment last month", "Segment this month", "Class last month", "Class this month"]),
                        ("zh", ["上月客户群", "本月客户群", "上月客户类别", "本月客户类别"])):
        headers = list(label_columns(slipped_table(slipped, {}, lang), lang).columns)
        assert headers[1:5] == words


def test_a_change_that_rounds_to_nothing_is_never_minus_zero():
    from segkit.report.tables import kpi_change_table

    changes = pd.DataFrame({"kpi": ["share_lost", "customers", "nps"], "this_month": [0.1, 10.0, 1.0],
                            "last_month": [0.10004, 10.2, 1.02], "change": [-0.00004, -0.2, -0.02]})
    for lang in ("en", "zh"):
        shown = kpi_change_table(changes, {"lost": "Lost"}, lang)["change"].tolist()
        assert shown[0].startswith("+0.0 ") and shown[1:] == ["+0", "+0.0"]
        assert not any(text.startswith("-0") for text in shown)


def test_the_change_is_that_of_the_figures_as_shown():
    """4.4% -> 3.9% reads -0.5 points (the exact -0.44 rounded said -0.4); 3.9% -> 5.0% reads +1.1."""
    from segkit.report.tables import kpi_change_table

    changes = pd.DataFrame({"kpi": ["repurchase_rate", "retention_rate", "revenue"],
                            "this_month": [0.039474, 0.05, 35044.304], "last_month": [0.043860, 0.0394, 36976.396]})
    changes["change"] = changes["this_month"] - changes["last_month"]
    shown = kpi_change_table(changes, {}, "en")
    assert shown["this_month"].tolist()[:2] == ["3.9%", "5.0%"] and shown["last_month"].tolist()[:2] == ["4.4%", "3.9%"]
    assert shown["change"].tolist() == ["-0.5 pts", "+1.1 pts", "-1,932.10"]


def test_money_in_the_kpi_table_has_the_currencys_decimals_and_symbol():
    """Yen has no minor unit: the table wrote ¥35,044.30 and a change of -¥1,932.10 where every other
    page writes ¥35,044; the change is that of the figures as shown (35,044 - 36,976)."""
    from segkit.params import Currency
    from segkit.report.tables import kpi_change_table

    changes = pd.DataFrame({"kpi": ["revenue", "avg_order_value"], "this_month": [35044.304, 1200.0],
                            "last_month": [36976.396, 1200.4]})
    changes["change"] = changes["this_month"] - changes["last_month"]
    yen = Currency(code="JPY", symbol="¥", minor_unit=0)
    for lang in ("en", "zh"):
        shown = kpi_change_table(changes, {}, lang, currency=yen)
        assert shown["this_month"].tolist() == ["¥35,044", "¥1,200"]
        assert shown["change"].tolist() == ["-¥1,932", "+¥0"]
    pounds = kpi_change_table(changes, {}, "en", currency=Currency(code="GBP", symbol="£"))
    assert pounds["change"].tolist() == ["-£1,932.10", "-£0.40"]
