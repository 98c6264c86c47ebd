"""The next-period test sees the calibration period as it was known at its end: a purchase of the
calibration period cancelled in the holdout counts whole in calibration, and its refund lowers the
holdout revenue without being a holdout order; an order cancelled in full counts in calibration when
its cancellation came after calibration_end, nowhere when it came before.

The expected figures are worked out by hand from that rule."""

import datetime as dt

import ibis
import pandas as pd
import pytest

from segkit.evaluate.next_period import calibration_periods, split_periods
from segkit.store import known_lines_table
from segkit.intake.cleaning import clean_and_save
from segkit.intake.sources import load_source
from segkit.params import Cleaning, Source

CAL_END = dt.date(2024, 6, 30)
AS_OF = dt.date(2024, 12, 31)
NaT = None


def lines() -> pd.DataFrame:
    """Clean rows as 01 writes them (a cancellation netted at its purchase's date and order, its own
    date in returned_at) and the lines of orders cancelled in full (refunded)."""
    rows = [
        # customer, order, ordered_at, amount, returned_at, refunded
        ("c1", "A", "2024-03-01", 100.00, NaT, False),
        ("c1", "A", "2024-03-01", -30.00, "2024-08-01", False),  # a part of A cancelled in the holdout
        ("c1", "B", "2024-09-01", 50.00, NaT, False),
        ("c2", "D", "2024-01-10", 20.00, NaT, False),
        ("c2", "C", "2024-02-01", 80.00, NaT, True),  # C cancelled in full in the holdout
        ("c2", "C", "2024-02-01", -80.00, "2024-07-15", True),
        ("c3", "E", "2024-02-01", 60.00, NaT, True),  # E cancelled in full within calibration
        ("c3", "E", "2024-02-01", -60.00, "2024-03-01", True),
        ("c3", "F", "2024-04-01", 10.00, NaT, False),
        ("c4", "G", "2024-05-01", 40.00, NaT, True),  # c4's only order, cancelled in full in the holdout
        ("c4", "G", "2024-05-01", -40.00, "2024-09-01", True),
        ("c5", "H", "2024-01-01", 50.00, NaT, False),
        ("c5", "H", "2024-01-01", -10.00, "2024-02-01", False),  # cancelled in part within calibration
        ("c6", "I", "2024-08-01", 30.00, NaT, False),  # new in the holdout, cancelled in part there
        ("c6", "I", "2024-08-01", -5.00, "2024-09-01", False),
        ("c7", "J", "2024-07-05", 70.00, NaT, True),  # an order of the holdout cancelled in full there
        ("c7", "J", "2024-07-05", -70.00, "2024-07-06", True),
        ("c8", "K", "2024-06-01", 25.00, NaT, False),  # cancelled after as_of: not known by then
        ("c8", "K", "2024-06-01", -25.00, "2025-01-10", True),
    ]
    frame = pd.DataFrame(rows, columns=["customer_id", "order_id", "ordered_at", "amount", "returned_at", "refunded"])
    frame.loc[frame["customer_id"] == "c8", "refunded"] = True
    return frame.assign(ordered_at=pd.to_datetime(frame["ordered_at"]), returned_at=pd.to_datetime(frame["returned_at"]))


EXPECTED = {  # customer: (calibration orders, calibration revenue, holdout orders, holdout revenue)
    "c1": (1, 100.00, 1, 20.00),
    "c2": (2, 100.00, 0, -80.00),
    "c3": (1, 10.00, 0, 0.0),
    "c4": (1, 40.00, 0, -40.00),
    "c5": (1, 40.00, 0, 0.0),
    "c8": (1, 25.00, 0, 0.0),
}


def figures(periods) -> dict:
    f = periods.features.set_index("customer_id")
    h = periods.holdout.set_index("customer_id")
    return {c: (int(f.loc[c, "orders"]), float(f.loc[c, "revenue"]), int(h.loc[c, "holdout_orders"]),
                float(h.loc[c, "holdout_revenue"])) for c in f.index}


@pytest.mark.parametrize("engine", [True, False])
def test_the_calibration_period_as_it_was_known_at_its_end(engine):
    frame = lines()
    periods = calibration_periods(ibis.memtable(frame) if engine else frame, CAL_END, AS_OF)
    assert figures(periods) == pytest.approx(EXPECTED)
    assert periods.new_in_holdout == 1 and periods.new_revenue == pytest.approx(25.00)  # c6; c7 bought nothing
    features = periods.features.set_index("customer_id")
    assert features.loc["c4", "first_purchase"] == pd.Timestamp("2024-05-01")  # a customer as known then
    assert features.loc["c3", "first_purchase"] == pd.Timestamp("2024-04-01")  # E was known cancelled


def test_the_engine_and_pandas_paths_agree_and_split_periods_returns_the_rows_as_known():
    frame = lines()
    engine = calibration_periods(ibis.memtable(frame), CAL_END, AS_OF)
    pandas = calibration_periods(frame, CAL_END, AS_OF)
    pd.testing.assert_frame_equal(engine.features, pandas.features, check_exact=True)
    pd.testing.assert_frame_equal(engine.holdout, pandas.holdout, check_exact=True)
    calibration, holdout, new = split_periods(frame, CAL_END, AS_OF)
    assert calibration.groupby("customer_id")["amount"].sum().to_dict() == pytest.approx(
        {c: revenue for c, (_, revenue, _, _) in EXPECTED.items()})
    moved = holdout[holdout["amount"] < 0].set_index("customer_id")["ordered_at"].to_dict()
    assert moved == {"c1": pd.Timestamp("2024-08-01"), "c2": pd.Timestamp("2024-07-15"),
                     "c4": pd.Timestamp("2024-09-01")}
    assert list(new) == ["c6"] and "refunded" not in calibration.columns


def test_rows_without_returns_are_read_as_before():
    frame = lines()
    plain = frame[~frame["refunded"] & frame["returned_at"].isna()].drop(columns=["returned_at", "refunded"])
    ours = calibration_periods(ibis.memtable(plain), CAL_END, AS_OF)
    assert figures(ours) == {"c1": (1, 100.0, 1, 50.0), "c2": (1, 20.0, 0, 0.0), "c3": (1, 10.0, 0, 0.0),
                             "c5": (1, 50.0, 0, 0.0)}


RETURNS_FILE = """customer,order,date,amount
K1,O1,2024-03-01,100.00
K1,CO1,2024-08-01,-100.00
K1,O2,2024-09-10,40.00
K2,O3,2024-02-01,60.00
K2,CO3,2024-03-01,-60.00
K2,O4,2024-04-01,10.00
K3,O5,2024-05-05,30.00
"""


def returns_source(tmp_path, text: str):
    """The intake of `text` (a CSV of customer, order, date, amount) written in tmp_path."""
    path = tmp_path / "orders.csv"
    path.write_text(text, encoding="utf-8")
    return load_source(Source.model_validate({"kind": "file", "transactions": {"path": str(path), "columns": {
        "customer_id": "customer", "order_id": "order", "ordered_at": "date", "amount": "amount"}}}))


def test_a_run_writes_the_orders_cancelled_in_full_and_the_test_reads_them(tmp_path):
    """Through 01's cleaning: K1's order O1, bought in March and cancelled in full in August, is set
    aside (it was never a purchase, as the run sees it now), yet the next-period test counts it in
    K1's calibration period and its refund in the holdout; K2's O3, cancelled within calibration,
    stays out."""
    intake = returns_source(tmp_path, RETURNS_FILE)
    data = tmp_path / "data"
    clean_and_save(intake, data, as_of=AS_OF, rules=Cleaning(returns={"order_prefix": "C"}))
    written = pd.read_parquet(data / "refunded_orders.parquet")
    assert sorted(written["source_row"]) == [2, 3, 5, 6]  # file lines
    assert written["returned_at"].notna().sum() == 2
    table = known_lines_table(data)
    assert "refunded" in table.columns
    periods = calibration_periods(table, CAL_END, AS_OF)
    assert figures(periods) == pytest.approx({"K1": (1, 100.0, 1, -60.0), "K2": (1, 10.0, 0, 0.0),
                                              "K3": (1, 30.0, 0, 0.0)})
    # a run without returns marked writes no such file, and an earlier run's file is removed
    plain = tmp_path / "plain.csv"
    plain.write_text("customer,order,date,amount\nK1,O1,2024-03-01,100.00\nK1,O2,2024-09-10,40.00\n", encoding="utf-8")
    intake = load_source(Source.model_validate({"kind": "file", "transactions": {"path": str(plain), "columns": {
        "customer_id": "customer", "order_id": "order", "ordered_at": "date", "amount": "amount"}}}))
    clean_and_save(intake, data, as_of=AS_OF)
    assert not (data / "refunded_orders.parquet").exists()
    assert "refunded" not in known_lines_table(data).columns


def test_the_repeat_buying_holdout_summary_reads_the_rows_as_known(tmp_path):
    """01's holdout summary (the BG/NBD check's x and x_holdout): K1 bought O1 in March (cancelled in
    full in August: a day of a refund alone, no purchase day) and O2 in September; K2's O3 was
    cancelled within calibration, so K2 starts on 1 April. The summary over all rows is unchanged."""
    from segkit.features import time_summaries
    from segkit.intake.cleaning import clean_transactions

    intake = returns_source(tmp_path, RETURNS_FILE)
    result = clean_transactions(intake.engine, intake.transactions, as_of=AS_OF,
                                rules=Cleaning(returns={"order_prefix": "C"}))
    found = time_summaries(None, result.scored, result.as_of, CAL_END, time_unit="days",
                           holdout_lines=result.known_lines)
    holdout = found["holdout_summary"].set_index("customer_id")
    assert holdout.index.tolist() == ["K1", "K2", "K3"]
    assert holdout.loc["K1", ["x", "T", "x_holdout"]].tolist() == [0, (CAL_END - dt.date(2024, 3, 1)).days, 1]
    assert str(holdout.loc["K2", "first_purchase"]) == "2024-04-01" and holdout.loc["K2", "x_holdout"] == 0
    summary = found["repeat_summary"].set_index("customer_id")  # as the run sees it now: O1 never bought
    assert str(summary.loc["K1", "first_purchase"]) == "2024-09-10" and summary.loc["K1", "x"] == 0
    # without the orders cancelled in full, K1 was first seen in the holdout
    alone = time_summaries(None, result.scored, result.as_of, CAL_END, time_unit="days")["holdout_summary"]
    assert alone["customer_id"].tolist() == ["K2", "K3"]


def frame_of(rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["customer_id", "order_id", "ordered_at", "amount", "returned_at", "refunded"])
    return frame.assign(ordered_at=pd.to_datetime(frame["ordered_at"]), returned_at=pd.to_datetime(frame["returned_at"]))


@pytest.mark.parametrize("engine", [True, False])
def test_refunds_alone_are_no_order_and_a_later_as_of_is_not_seen(engine):
    """K6: an order cancelled in full in the holdout and a cancellation that found no purchase (it
    stays alone, on its own day): a refund of -85 in the holdout, no holdout order. With as_of
    2024-10-15: N1's holdout purchase, cancelled in part in November, counts whole; N2's order of
    September, cancelled in full in November, makes N2 a new customer of the holdout. The default
    as_of is the last purchase, not a later refund; a missing `refunded` mark counts as False."""
    frame = frame_of([
        ("k6", "O8", "2024-03-01", 70.00, NaT, True),
        ("k6", "O8", "2024-03-01", -70.00, "2024-08-01", True),
        ("k6", "CX98", "2024-09-15", -15.00, "2024-09-15", False),
        ("k1", "A", "2024-02-01", 10.00, NaT, None),
        ("n1", "P", "2024-05-01", 5.00, NaT, False),
        ("n1", "Q", "2024-09-01", 100.00, NaT, False),
        ("n1", "Q", "2024-09-01", -40.00, "2024-11-01", False),
        ("n2", "R", "2024-09-01", 50.00, NaT, True),
        ("n2", "R", "2024-09-01", -50.00, "2024-11-01", True),
        ("z", "S", "2024-10-01", 5.00, NaT, False),
        ("z", "S", "2024-10-01", -5.00, "2024-11-20", True),
    ])
    frame.loc[frame["customer_id"] == "z", "refunded"] = True  # an order cancelled in full after the last purchase
    table = (lambda f: ibis.memtable(f)) if engine else (lambda f: f)
    whole = calibration_periods(table(frame), CAL_END, None)
    assert whole.as_of == dt.date(2024, 9, 1)  # the last purchase (z's order of October was cancelled in full)
    assert figures(whole)["k6"] == (1, 70.0, 0, -70.0)  # the refund of O8 by 1 September; CX98 came after
    assert figures(whole)["k1"] == (1, 10.0, 0, 0.0)
    later = calibration_periods(table(frame), CAL_END, dt.date(2024, 12, 31))
    assert figures(later)["k6"] == (1, 70.0, 0, -85.0)
    assert figures(later)["n1"] == (1, 5.0, 1, 60.0)
    assert later.new_in_holdout == 0  # n2's order was cancelled in full by then; z's order was too
    early = calibration_periods(table(frame), CAL_END, dt.date(2024, 10, 15))
    assert figures(early)["n1"] == (1, 5.0, 1, 100.0)
    assert (early.new_in_holdout, early.new_revenue) == (2, pytest.approx(55.0))  # n2 and z, as known then
    if engine:
        pandas = calibration_periods(frame, CAL_END, dt.date(2024, 10, 15))
        pd.testing.assert_frame_equal(early.holdout, pandas.holdout, check_exact=True)


def test_the_holdout_summary_reads_customers_set_aside_since(tmp_path):
    """K9 bought 30 in March and had -50 refunded in August (a cancellation that found no purchase in
    the data): set aside after netting (net_negative), yet on 30 June an ordinary customer of the
    holdout summary, as in the next-period test."""
    from segkit.features import time_summaries
    from segkit.intake.cleaning import clean_transactions

    path = tmp_path / "orders.csv"
    path.write_text(RETURNS_FILE + "K9,O9,2024-03-05,30.00\nK9,CX1,2024-08-01,-50.00\n", encoding="utf-8")
    intake = load_source(Source.model_validate({"kind": "file", "transactions": {"path": str(path), "columns": {
        "customer_id": "customer", "order_id": "order", "ordered_at": "date", "amount": "amount"}}}))
    result = clean_transactions(intake.engine, intake.transactions, as_of=AS_OF,
                                rules=Cleaning(returns={"order_prefix": "C"}))
    assert result.customers_set_aside.set_index("customer_id").loc["K9", "rule"] == "net_negative"
    holdout = time_summaries(None, result.scored, result.as_of, CAL_END, time_unit="days",
                             holdout_lines=result.known_lines)["holdout_summary"].set_index("customer_id")
    assert holdout.index.tolist() == ["K1", "K2", "K3", "K9"]
    assert holdout.loc["K9", ["x", "x_holdout"]].tolist() == [0, 0]  # the refund day is no purchase day
    periods = calibration_periods(result.known_lines, CAL_END, AS_OF)
    assert figures(periods)["K9"] == (1, 30.0, 0, -50.0)


def test_segments_on_a_send_date_see_the_purchases_as_known_on_it(tmp_path):
    """A campaign sent on 1 July: K1's March order (cancelled in full in August) made K1 a customer
    then, with 100 of revenue."""

    from segkit.crosssell.campaigns import segments_at_send_dates
    from segkit.params import Params

    intake = returns_source(tmp_path, RETURNS_FILE)
    data = tmp_path / "data"
    clean_and_save(intake, data, as_of=AS_OF, rules=Cleaning(returns={"order_prefix": "C"}))
    campaigns = pd.DataFrame({"customer_id": ["K1", "K2", "K3"], "sent_at": pd.to_datetime(["2024-07-01"] * 3)})
    rfm = Params.model_validate({"rfm": {"bins": 2}}).rfm
    at_send = segments_at_send_dates(known_lines_table(data), campaigns, rfm)
    assert sorted(at_send["customer_id"]) == ["K1", "K2", "K3"]
    as_now = segments_at_send_dates(pd.read_parquet(data / "clean_transactions.parquet"), campaigns, rfm)
    assert sorted(as_now["customer_id"]) == ["K2", "K3"]  # the rows as they are now: K1 bought nothing by July
