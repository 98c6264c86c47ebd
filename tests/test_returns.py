"""Returns and cancellations (issue 9): each cancellation netted into the purchase it cancels, never
an order, never a recency date; customers at zero or below set aside in a customer ledger.

The expected figures are worked out by hand from the definitions (orders: distinct purchase
orders; revenue: purchases less cancellations; recency: days from the last purchase to as_of)."""

import datetime as dt

import pandas as pd
import pytest

from ledger_check import assert_every_row_accounted
from segkit.errors import DataError, ParamsError
from segkit.features import customer_features
from segkit.intake.cleaning import NoScoredCustomers, clean_and_save, clean_transactions
from segkit.intake.returns import CUSTOMER_RULES, suggests_product_match
from segkit.intake.sources import load_source
from segkit.params import Cleaning, Source, validate_params

AS_OF = dt.date(2024, 5, 31)
UCI_COLUMNS = {"order_id": "InvoiceNo", "product": "StockCode", "quantity": "Quantity", "ordered_at": "InvoiceDate",
               "unit_price": "UnitPrice", "customer_id": "CustomerID"}
# The UCI Online Retail pattern: a cancellation is a document with its own number (C + number),
# a negative quantity, and the customer, product and unit price of an earlier purchase.
UCI = """InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID
536365,P1,6,2024-05-01 10:00,2.55,A
536365,P2,2,2024-05-01 10:00,3.39,A
536366,P3,4,2024-05-10 12:00,1.25,A
C536379,P2,-2,2024-05-12 09:00,3.39,A
536400,P1,10,2024-05-20 10:00,2.55,B
C536401,P1,-10,2024-05-20 10:30,2.55,B
536410,P4,3,2024-05-02 08:00,10.00,D
C536420,P5,-1,2024-05-15 08:00,7.00,D
536430,P1,1,2024-05-25 08:00,2.55,E
536440,P6,1,2024-05-03 08:00,5.00,F
C536450,P7,-2,2024-05-04 08:00,10.00,F
"""
# A: buys 3 lines in 2 orders and cancels one line (file line 5) of the first order, after her last order.
# B: her only order is cancelled the same day: revenue exactly 0, one order at most, set aside.
# D: cancels a product she never bought in the data (a purchase before the extract): unmatched.
# E: an ordinary customer. F: cancels more than she bought in the data: revenue below zero.


def source(tmp_path, text, columns=None, name="orders.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_source(Source.model_validate({"kind": "file", "transactions": {"path": str(path),
                                                                                **({"columns": columns} if columns else {})}}))


def clean(intake, **returns):
    result = clean_transactions(intake.engine, intake.transactions, as_of=AS_OF, rules=Cleaning(returns=returns))
    assert_every_row_accounted(result, intake.transactions)
    ledger = result.customer_ledger
    assert ledger["customers"].sum() == result.clean["customer_id"].nunique()  # the customer ledger adds up
    assert ledger["share"].sum() == pytest.approx(1.0)
    return result


def features(result, **kwargs):
    return customer_features(None, result.table, result.as_of, **kwargs).set_index("customer_id")


def customer_counts(result) -> dict:
    ledger = result.customer_ledger
    return {(r.outcome, r.rule): r.customers for r in ledger.itertuples() if r.customers}


def test_cancellation_documents_are_matched_by_product_and_never_become_orders(tmp_path):
    result = clean(source(tmp_path, UCI, UCI_COLUMNS), order_prefix="C", match="product")
    f = features(result)
    # A: orders 536365 and 536366; 6×2.55 + 2×3.39 + 4×1.25 − 2×3.39; last purchase 05-10 (not the 05-12 cancellation)
    assert f.loc["A", "orders"] == 2
    assert f.loc["A", "revenue"] == pytest.approx(6 * 2.55 + 2 * 3.39 + 4 * 1.25 - 2 * 3.39)
    assert f.loc["A", "recency_days"] == (AS_OF - dt.date(2024, 5, 10)).days
    assert f.loc["A", "last_purchase"] == pd.Timestamp("2024-05-10")
    # B: her only order cancelled in full was never a purchase: set aside with its cancellation
    assert "B" not in f.index
    assert result.ledger.set_index("rule").loc["refunded_order", "rows"] == 2
    aside = result.quarantine.set_index("source_row")
    assert aside.loc[[6, 7], "reason"].tolist() == ["refunded_order"] * 2
    assert aside.loc[6, "detail"] == 'cancelled in full (its lines net to zero): order "536400"'
    # D: the unmatched cancellation still reduces revenue, adds no order, moves no date
    assert f.loc["D", "orders"] == 1 and f.loc["D", "revenue"] == pytest.approx(3 * 10.00 - 7.00)
    assert f.loc["D", "recency_days"] == (AS_OF - dt.date(2024, 5, 2)).days
    assert f.loc["E", "orders"] == 1 and f.loc["E", "revenue"] == pytest.approx(2.55)
    assert f.loc["F", "revenue"] == pytest.approx(5.00 - 20.00)

    row = result.clean.set_index("source_row")
    assert row.loc[5, "order_id"] == "536365" and row.loc[5, "return_of"] == 3  # A's P2 line, file line 3
    assert row.loc[5, "return_document"] == "C536379" and row.loc[5, "returned_at"] == pd.Timestamp("2024-05-12 09:00")
    assert row.loc[5, "amount"] == pytest.approx(-6.78) and row.loc[5, "fixes"] == "return_netted"
    assert row["return_match"].dropna().to_dict() == {5: "product", 9: "unmatched", 12: "unmatched"}

    assert customer_counts(result) == {("scored", ""): 3, ("set_aside", "net_negative"): 1}
    assert result.customers_set_aside.set_index("customer_id")["rule"].to_dict() == {"F": "net_negative"}
    scored = customer_features(None, result.scored, result.as_of)
    assert sorted(scored["customer_id"]) == ["A", "D", "E"]
    s = result.returns
    assert (s["lines"], s["lines_product"], s["lines_unmatched"], s["documents"]) == (4, 2, 2, 4)
    assert s["amount_unmatched"] == pytest.approx(7.00 + 20.00)
    assert s["orders_not_added"] == 4  # each document has its own number: 4 orders the old netting added
    assert s["recency_kept"] == 3  # A, D and F cancelled after their last purchase; B on the same day
    assert s["orders_refunded"] == 1 and s["orders"] == 6  # B's among the purchase orders
    assert s["net_revenue"] == pytest.approx(s["gross_revenue"] - s["amount"])
    assert not suggests_product_match(s)


def test_matching_by_order_number_finds_no_own_numbered_document_but_still_adds_no_order(tmp_path):
    result = clean(source(tmp_path, UCI, UCI_COLUMNS), order_prefix="C")  # match: order_number, the default
    s = result.returns
    assert (s["lines_order_number"], s["lines_unmatched"]) == (0, 4)
    assert suggests_product_match(s)  # the report then suggests match: product
    f = features(result)
    assert f.loc["A", "orders"] == 2 and f.loc["A", "recency_days"] == (AS_OF - dt.date(2024, 5, 10)).days
    assert f.loc["B", "orders"] == 1
    assert f.loc["A", "revenue"] == pytest.approx(6 * 2.55 + 4 * 1.25)


def test_a_prefixed_order_number_finds_its_order(tmp_path):
    text = ("order,customer,date,amount\nO1,K1,2024-05-01,100\nO2,K1,2024-05-03,30\nCO1,K1,2024-05-20,-40\n"
            "CO7,K1,2024-05-21,-5\n")
    result = clean(source(tmp_path, text, {"order_id": "order", "customer_id": "customer", "ordered_at": "date",
                                           "amount": "amount"}), order_prefix="C")
    row = result.clean.set_index("source_row")
    assert row.loc[4, "return_match"] == "order_number" and row.loc[4, "order_id"] == "O1"
    assert row.loc[5, "return_match"] == "unmatched" and row.loc[5, "order_id"] == "O1"  # into the first purchase
    f = features(result)
    assert f.loc["K1", "orders"] == 2 and f.loc["K1", "revenue"] == 100 + 30 - 40 - 5
    assert f.loc["K1", "recency_days"] == (AS_OF - dt.date(2024, 5, 3)).days
    assert result.returns["orders_not_added"] == 1  # CO7: O7 is not one of K1's orders


def test_which_purchase_line_a_cancellation_reduces(tmp_path):
    text = """order,customer,date,product,qty,price
O1,K1,2024-05-01,P1,5,2.00
O2,K1,2024-05-03,P1,2,2.00
O3,K1,2024-05-10,P9,1,3.00
C1,K1,2024-05-05,P1,-2,2.00
C2,K1,2024-05-06,P1,-1,2.00
C3,K1,2024-05-07,P1,-4,2.00
C4,K1,2024-05-08,P9,-1,3.00
C5,K1,2024-05-02,P1,-2,2.00
"""
    columns = {"order_id": "order", "customer_id": "customer", "ordered_at": "date", "product": "product",
               "quantity": "qty", "unit_price": "price"}
    result = clean(source(tmp_path, text, columns), order_prefix="C", match="product")
    of = result.clean.set_index("source_row")["return_of"]
    assert of[5] == 3  # 2 units: the line of the same amount (O2, line 3)
    assert of[6] == 3  # 1 unit: the latest line it fits in (O2)
    assert of[7] == 2  # 4 units: too many for O2's 2, so O1's 5
    assert pd.isna(of[8])  # P9 was bought on 05-10, after this cancellation: no earlier purchase
    assert of[9] == 2  # on 05-02 only O1 (05-01) is earlier; partial: 2 of its 5 units
    assert result.clean.set_index("source_row").loc[8, "return_match"] == "unmatched"
    f = features(result)
    assert f.loc["K1", "orders"] == 3 and f.loc["K1", "recency_days"] == (AS_OF - dt.date(2024, 5, 10)).days
    assert f.loc["K1", "revenue"] == pytest.approx(10 + 4 + 3 - 4 - 2 - 8 - 3 - 4)


def test_without_order_numbers_a_cancellation_is_not_a_customer_day(tmp_path):
    text = "customer,date,product,qty,price\nG,2024-05-01,P1,1,10\nG,2024-05-01,P2,1,4\nG,2024-05-03,P2,-1,4\n"
    columns = {"customer_id": "customer", "ordered_at": "date", "product": "product", "quantity": "qty",
               "unit_price": "price"}
    for match in ("product", "order_number"):
        result = clean(source(tmp_path, text, columns), negative_quantity=True, match=match)
        f = features(result)
        assert f.loc["G", "orders"] == 1, match  # one day of purchases; 05-03 is only a cancellation
        assert f.loc["G", "recency_days"] == (AS_OF - dt.date(2024, 5, 1)).days
        assert f.loc["G", "revenue"] == pytest.approx(10.0)


def test_drop_keeps_the_purchases_and_says_how_much_cancelled_revenue_it_kept(tmp_path):
    result = clean(source(tmp_path, UCI, UCI_COLUMNS), order_prefix="C", match="product", action="drop")
    assert result.quarantine.set_index("source_row")["reason"].to_dict() == {5: "return", 7: "return", 9: "return",
                                                                           12: "return"}
    f = features(result)
    assert f.loc["A", "revenue"] == pytest.approx(6 * 2.55 + 2 * 3.39 + 4 * 1.25)
    assert f.loc["B", "revenue"] == pytest.approx(25.50)
    assert customer_counts(result) == {("scored", ""): 5}
    s = result.returns
    assert s["amount"] == pytest.approx(6.78 + 25.50 + 7.00 + 20.00)
    assert s["kept_matched"] == pytest.approx(6.78 + 25.50)  # the cancellations of purchases in the data
    assert s["revenue_if_netted"] == pytest.approx(s["gross_revenue"] - s["amount"])


@pytest.mark.parametrize("refunded_orders", ["set_aside", "keep"])
def test_a_fully_cancelled_purchase_nets_to_exactly_zero(tmp_path, refunded_orders):
    lines = [("P1", "0.10"), ("P2", "0.20"), ("P3", "0.30")]
    text = "order,customer,date,product,amount\n" + "".join(
        f"O1,K1,2024-05-01,{p},{a}\nC{p},K1,2024-05-02,{p},-{a}\n" for p, a in lines) + "O2,K2,2024-05-01,P1,5\n"
    assert sum([0.1, 0.2, 0.3, -0.1, -0.2, -0.3]) != 0  # in floats these would not cancel
    result = clean(source(tmp_path, text, {"order_id": "order", "customer_id": "customer", "ordered_at": "date",
                                           "product": "product", "amount": "amount"}),
                   order_prefix="C", match="product", refunded_orders=refunded_orders)
    if refunded_orders == "keep":  # a purchase of exactly zero: its customer is set aside
        assert features(result).loc["K1", "revenue"] == 0.0
        assert result.customers_set_aside["rule"].tolist() == ["net_zero"]
    else:  # exactly zero, so the order was cancelled in full: its six lines set aside together
        assert result.ledger.set_index("rule").loc["refunded_order", "rows"] == 6
        assert features(result).index.tolist() == ["K2"] and result.customers_set_aside.empty
        assert result.returns["orders_refunded"] == 1


SMALL = "customer,order,date,amount\nA,O1,2024-05-01,20\nB,O2,2024-05-02,30\nC,O3,2024-05-03,25\nD,O4,2024-05-04,40\n"
SMALL_COLUMNS = {"customer_id": "customer", "order_id": "order", "ordered_at": "date", "amount": "amount"}


@pytest.mark.parametrize("extra, rule", [("E,C0005,2024-05-05,-15\n", "no_purchase"),
                                         ("E,O5,2024-05-01,10\nE,C0005,2024-05-05,-15\n", "net_negative")])
def test_the_issue_smallest_input_sets_the_customer_aside_before_scoring(tmp_path, extra, rule):
    intake = source(tmp_path, SMALL + extra, SMALL_COLUMNS)
    result = clean_and_save(intake, tmp_path / "data", as_of=AS_OF, rules=Cleaning(returns={"order_prefix": "C"}))
    assert_every_row_accounted(result, intake.transactions)
    saved = pd.read_parquet(tmp_path / "data" / "features.parquet")
    assert sorted(saved["customer_id"]) == ["A", "B", "C", "D"] and (saved["revenue"] > 0).all()
    ledger = pd.read_parquet(tmp_path / "data" / "customer_ledger.parquet")
    assert ledger["customers"].sum() == 5
    assert ledger.set_index(["outcome", "rule"]).loc[("set_aside", rule), "customers"] == 1
    assert pd.read_parquet(tmp_path / "data" / "customers_set_aside.parquet")["customer_id"].tolist() == ["E"]
    # the summaries of 03 (repeat buying, monthly activity) read the same customers
    from segkit.features import time_summaries

    found = time_summaries(intake.engine, result.scored, result.as_of, dt.date(2024, 5, 3))
    assert set(found["repeat_summary"]["customer_id"]) <= {"A", "B", "C", "D"}
    assert "E" not in set(found["activity"]["customer_id"])


@pytest.mark.parametrize("net_negative", ["set_aside", "floor"])
def test_when_every_customer_nets_negative_the_run_stops_with_one_clear_message(tmp_path, net_negative):
    text = "customer,order,date,amount\nA,O1,2024-05-01,20\nA,C9,2024-05-02,-30\nB,O2,2024-05-02,5\nB,C8,2024-05-03,-5\n"
    intake = source(tmp_path, text, SMALL_COLUMNS)
    rules = Cleaning(returns={"order_prefix": "C", "net_negative": net_negative})
    with pytest.raises(DataError, match="no customer can be scored.*cleaning.returns.action: drop") as err:
        clean_and_save(intake, tmp_path / "data", as_of=AS_OF, rules=rules)
    assert isinstance(err.value, NoScoredCustomers) and "2 customers" in str(err.value)
    assert pd.read_parquet(tmp_path / "data" / "customer_ledger.parquet")["customers"].sum() == 2
    assert not (tmp_path / "data" / "features.parquet").exists()


def test_floor_scores_net_negative_customers_at_zero_revenue(tmp_path):
    text = UCI + "C536460,P8,-1,2024-05-06 08:00,3.00,G\n"  # G: only a cancellation, nothing to score
    intake = source(tmp_path, text, UCI_COLUMNS)
    result = clean_and_save(intake, tmp_path / "data", as_of=AS_OF,
                            rules=Cleaning(returns={"order_prefix": "C", "match": "product", "net_negative": "floor"}))
    assert_every_row_accounted(result, intake.transactions)
    # B's only order was cancelled in full: no purchase, so not a customer to floor
    assert result.customer_ledger["customers"].sum() == 5
    saved = pd.read_parquet(tmp_path / "data" / "features.parquet").set_index("customer_id")
    assert sorted(saved.index) == ["A", "D", "E", "F"]
    assert saved.loc["F", "revenue"] == 0.0
    assert saved.loc["F", "orders"] == 1 and saved.loc["A", "revenue"] == pytest.approx(20.30)
    assert customer_counts(result) == {("scored", ""): 3, ("floored", "net_negative"): 1,
                                       ("set_aside", "no_purchase"): 1}


def test_customers_at_zero_are_set_aside_even_without_returns(tmp_path):
    # non_positive_amount: keep lets a zero or negative line through; its customer is still not scored
    text = "customer,order,date,amount\nA,O1,2024-05-01,20\nB,O2,2024-05-02,-5\n"
    intake = source(tmp_path, text, SMALL_COLUMNS)
    result = clean_transactions(intake.engine, intake.transactions, as_of=AS_OF,
                                rules=Cleaning(non_positive_amount="keep"))
    assert result.returns is None
    assert result.customers_set_aside[["customer_id", "rule"]].values.tolist() == [["B", "net_negative"]]
    assert set(CUSTOMER_RULES) >= set(result.customer_ledger["rule"]) - {""}


def test_params_name_the_matching_and_refuse_an_unknown_one(tmp_path):
    assert Cleaning().returns.match == "order_number" and Cleaning().returns.net_negative == "set_aside"
    with pytest.raises(ParamsError, match="match"):
        validate_params({"cleaning": {"returns": {"match": "invoice"}}})
    text = "customer,order,date,amount\nA,O1,2024-05-01,20\nA,C1,2024-05-02,-5\n"
    with pytest.raises(DataError, match="match: product needs the product column"):
        clean(source(tmp_path, text, SMALL_COLUMNS), order_prefix="C", match="product")


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("action", ["net", "drop"])
def test_the_cleaning_report_states_the_treatment_and_what_it_changed(tmp_path, lang, action):
    from segkit.i18n import customer_ledger_table, customers_sentence, returns_sentence
    from segkit.params import Currency
    from segkit.report.html import say

    result = clean(source(tmp_path, UCI, UCI_COLUMNS), order_prefix="C", match="product", action=action)
    key, values = returns_sentence(result.returns, lang, Currency(code="GBP", symbol="£"))
    text = str(say(key, lang, **values))
    assert key == f"cleaning.returns.{action}"
    assert "£59.28" in text  # every cancelled amount, in the run's currency
    assert ("£32.28" in text) == (action == "drop")  # drop: the cancelled revenue the purchases kept
    cancelled_in_full = {"en": "Orders cancelled in full: 1 (purchase lines: 1; their cancellation lines, among those above: 1)",
                         "zh": "1 笔订单被全额取消（1 行购买及上述其中 1 行取消记录）"}[lang]
    assert (cancelled_in_full in text) == (action == "net")
    key, values = customers_sentence(result.customer_ledger)
    # net: B's only order was cancelled in full (no customer), F nets below zero (set aside)
    assert values == {"customers": 5 if action == "drop" else 4, "scored": 5 if action == "drop" else 3,
                      "floored": 0, "aside": 0 if action == "drop" else 1}
    # nobody set aside: no list, no file named (there is none)
    assert key == ("cleaning.customers_none_aside" if action == "drop" else "cleaning.customers")
    assert ("customers_set_aside" in str(say(key, lang, **values))) == (action == "net")
    shown = customer_ledger_table(result.customer_ledger, lang)
    assert shown["customers"].iloc[-1] == values["customers"]  # the total row: the customers in
    assert returns_sentence(None, lang) == ("cleaning.returns.none", {})


@pytest.mark.parametrize("ids", [["a", "b", "c", "d"], [10, 20, 30, 40]])
def test_the_scored_rows_are_the_rows_of_the_customers_not_set_aside(ids):
    """In DuckDB the scored rows leave out the set-aside customers by a join against their ids (kept in
    the engine's type: text or whole numbers); the same rows as deciding every customer again."""
    import ibis

    from segkit.intake.returns import customer_outcomes, settle_customers

    a, b, c, d = ids
    lines = pd.DataFrame({"source_row": range(7), "customer_id": [a, a, b, b, c, d, d],
                          "amount": [10.0, -3.0, 5.0, -5.0, 8.0, 2.0, -9.0]})
    clean = ibis.memtable(lines)
    scored, ledger, aside = settle_customers(clean)
    assert sorted(aside["customer_id"]) == sorted(map(str, [b, d]))  # net zero and net negative
    kept = customer_outcomes(clean).filter(ibis._.outcome != "set_aside").select("customer_id")
    expected = clean.semi_join(kept, "customer_id").to_pandas().sort_values("source_row", ignore_index=True)
    found = scored.to_pandas().sort_values("source_row", ignore_index=True)
    pd.testing.assert_frame_equal(found, expected)
    assert found["customer_id"].tolist() == [a, a, c]


# K1's first order is cancelled in full (a week later), then she buys in April; K2 cancels part of an
# April order; K3 buys once; K4's only order is cancelled in full.
REFUNDED = """order,customer,date,amount
O1,K1,2024-03-05,100
O3,K2,2024-03-01,80
CO1,K1,2024-03-12,-100
K3A,K3,2024-04-02,30
O2,K1,2024-04-10,50
O4,K2,2024-04-20,60
CO4,K2,2024-04-22,-20
O6,K4,2024-05-03,40
CO6,K4,2024-05-04,-40
"""


@pytest.mark.parametrize("refunded_orders", ["set_aside", "keep"])
def test_an_order_cancelled_in_full_is_no_purchase_for_any_reader_of_the_clean_rows(tmp_path, refunded_orders):
    """Features (F, first purchase, tenure), the repeat-buying summary, monthly activity and its new
    customers, and the month-start features all read the same clean rows: a refunded order starts
    no customer and adds no order anywhere, and they agree with each other."""
    from segkit.features import time_summaries
    from segkit.monthly.activity import monthly_kpis

    result = clean(source(tmp_path, REFUNDED, SMALL_COLUMNS), order_prefix="C", refunded_orders=refunded_orders)
    found = time_summaries(None, result.scored, result.as_of, dt.date(2024, 4, 30))
    f = customer_features(None, result.scored, result.as_of).set_index("customer_id")  # the customers scored
    kpis = monthly_kpis(found["activity"]).set_index("month")
    summary = found["repeat_summary"].set_index("customer_id")
    starts = found["month_start_features"]
    april = starts[starts["month"] == dt.date(2024, 4, 1)].set_index("customer_id")
    if refunded_orders == "set_aside":
        assert sorted(f.index) == ["K1", "K2", "K3"]  # K4 bought nothing in the end
        assert f.loc["K1", "orders"] == 1 and f.loc["K1", "first_purchase"] == pd.Timestamp("2024-04-10")
        assert f.loc["K2", "orders"] == 2 and f.loc["K2", "revenue"] == 80 + 60 - 20
        assert kpis.loc[dt.date(2024, 3, 1), ["active_customers", "new_customers", "orders"]].tolist() == [1, 1, 1]
        assert kpis.loc[dt.date(2024, 4, 1), ["active_customers", "new_customers", "orders"]].tolist() == [3, 2, 3]
        assert summary.loc["K1", "x"] == 0 and str(summary.loc["K1", "first_purchase"])[:10] == "2024-04-10"
        assert april.index.tolist() == ["K2"]  # K1 had bought nothing by 1 April
        assert result.ledger.set_index("rule").loc["refunded_order", "rows"] == 4
    else:  # kept as purchases of zero: K1 starts in March with two orders; K4 is a customer at zero
        assert f.loc["K1", "orders"] == 2 and f.loc["K1", "first_purchase"] == pd.Timestamp("2024-03-05")
        assert kpis.loc[dt.date(2024, 3, 1), ["active_customers", "new_customers"]].tolist() == [2, 2]
        assert summary.loc["K1", "x"] == 1
        assert april.index.tolist() == ["K2"]  # K1 stood at revenue 0 on 1 April: not scored then
        assert result.customers_set_aside["customer_id"].tolist() == ["K4"] and "K4" not in f.index
    # whichever the rule, every reader agrees: new customers a month are the first purchases that month
    firsts = f["first_purchase"].dt.to_period("M").value_counts()
    for month, row in kpis.iterrows():
        assert row["new_customers"] == firsts.get(pd.Period(month, "M"), 0)
    assert kpis["orders"].sum() == f["orders"].sum()
    assert (summary["x"] + 1).sum() == f["orders"].sum()  # one order a day here: days are orders


def test_a_cancellation_from_before_the_extract_goes_to_a_purchase_that_stays(tmp_path):
    """K1's first order is cancelled in full and a cancellation finds no purchase (it cancels one from
    before the extract): netted into her first order, it kept that order from summing to zero (an
    order of -45.80 that counted and dated her first purchase). It goes to her next order instead.
    K2 has nothing else: the unmatched cancellation stays alone, and she is no_purchase."""
    text = ("order,customer,date,amount\nO1,K1,2024-05-13,79.00\nCO1,K1,2024-05-14,-79.00\nC90221,K1,2024-05-15,-45.80\n"
            "O2,K1,2024-05-27,100.00\nO3,K2,2024-05-02,30.00\nCO3,K2,2024-05-03,-30.00\nC77,K2,2024-05-04,-5.00\n"
            "O4,K3,2024-05-05,20.00\n")
    result = clean(source(tmp_path, text, SMALL_COLUMNS), order_prefix="C")
    f = features(result)
    assert f.loc["K1", "orders"] == 1 and f.loc["K1", "first_purchase"] == pd.Timestamp("2024-05-27")
    assert f.loc["K1", "revenue"] == pytest.approx(100.00 - 45.80)
    row = result.clean.set_index("source_row")
    assert row.loc[4, "return_match"] == "unmatched" and row.loc[4, "order_id"] == "O2"
    reasons = result.quarantine.set_index("source_row")["reason"].to_dict()
    assert reasons == {2: "refunded_order", 3: "refunded_order", 6: "refunded_order", 7: "refunded_order"}
    assert result.customers_set_aside.set_index("customer_id")["rule"].to_dict() == {"K2": "no_purchase"}
    assert result.returns["orders_refunded"] == 2


def test_a_returns_rule_whose_column_is_not_mapped_names_the_source(tmp_path):
    intake = source(tmp_path, SMALL, SMALL_COLUMNS)
    with pytest.raises(DataError, match=r"orders\.csv: cleaning\.returns\.status_values needs the status column"):
        clean_and_save(intake, tmp_path / "data", as_of=AS_OF, rules=Cleaning(returns={"status_values": ["returned"]}))
    assert not (tmp_path / "data" / "features.parquet").exists()


def test_an_order_whose_status_says_cancelled_is_no_purchase_and_takes_nothing_from_another(tmp_path):
    """An export that writes a cancelled order once, with status "cancelled" on its lines: there is no
    purchase to net it into. Netted as an unmatched cancellation it took 20 from A's paid order and
    set A aside at -10; it is an order cancelled in full, set aside, whatever refunded_orders says.
    A refund line of the same number as a paid order (C's) is netted into it as before."""
    text = ("order,customer,date,amount,state\n1,A,2024-05-01,10.00,paid\n2,A,2024-05-03,20.00,cancelled\n"
            "2,A,2024-05-03,5.00,cancelled\n3,B,2024-05-04,15.00,paid\n4,C,2024-05-05,30.00,paid\n"
            "4,C,2024-05-06,-12.00,cancelled\n")
    columns = {**SMALL_COLUMNS, "status": "state"}
    for refunded_orders in ("set_aside", "keep"):
        result = clean(source(tmp_path, text, columns), status_values=["cancelled"], refunded_orders=refunded_orders)
        f = features(result)
        assert f.loc["A", "revenue"] == 10.0 and f.loc["A", "orders"] == 1
        assert f.loc["C", "revenue"] == 18.0 and f.loc["C", "orders"] == 1
        assert result.customers_set_aside.empty
        aside = result.quarantine.set_index("source_row")
        assert aside.loc[[3, 4], "reason"].tolist() == ["refunded_order"] * 2
        assert aside.loc[3, "detail"] == 'cancelled in full (its status says so on every line): order "2"'
        # an order refunded by its status on every line is counted apart from those a cancellation netted to zero
        assert (result.returns["orders_refunded"], result.returns["orders_by_status"]) == (0, 1)
        assert result.returns["lines_by_status"] == 2 and result.returns["amount_by_status"] == 25.0


# a 天猫 / 京东 export: each line once, with its final status (已退款 marks the purchase itself, or a
# refund record of a twin line beside it: order 9)
MARKETPLACE = ("订单编号,会员ID,下单时间,商品名称,数量,实付金额,订单状态\n"
               "7,V1,2024-05-01,保温杯,1,240.30,已完成\n7,V1,2024-05-01,手机壳,1,96.00,已退款\n"
               "8,V1,2024-05-10,零食,2,30.00,已退款\n"
               "9,V2,2024-05-03,饮料,1,12.00,已完成\n9,V2,2024-05-03,饮料,1,12.00,已退款\n9,V2,2024-05-03,茶,1,8.00,已完成\n")
MARKETPLACE_COLUMNS = {"order_id": "订单编号", "customer_id": "会员ID", "ordered_at": "下单时间", "product": "商品名称",
                       "quantity": "数量", "amount": "实付金额", "status": "订单状态"}


def test_a_marketplace_line_refunded_by_its_status_is_no_purchase_and_is_not_taken_twice(tmp_path):
    """天猫 / 京东 exports write each line once, with its final status: the 已退款 line is the purchase
    itself. Netted, it took its amount a second time from the order's kept line (order 7: 240.30 kept,
    96.00 refunded) or from the customer's first purchase. It is set aside: as `return` when the rest
    of the order stays, as `refunded_order` when nothing of it does. A refund record of a line in the
    data (the same product at the same amount, beside it) is netted into it as before."""
    text, columns = MARKETPLACE, MARKETPLACE_COLUMNS
    result = clean(source(tmp_path, text, columns), status_values=["已退款"])
    f = features(result)
    assert f.loc["V1", "revenue"] == pytest.approx(240.30) and f.loc["V1", "orders"] == 1
    assert f.loc["V2", "revenue"] == pytest.approx(8.00) and f.loc["V2", "orders"] == 1  # 12 - 12 + 8
    reasons = result.quarantine.set_index("source_row")["reason"].to_dict()
    assert reasons == {3: "return", 4: "refunded_order"}
    detail = result.quarantine.set_index("source_row").loc[3, "detail"]
    assert detail == 'refunded by its status, not a purchase (the rest of the order stays): order "7"'
    from segkit.i18n import detail_text

    assert detail_text(detail, "zh") == '状态标明此行已退款，不是购买（订单其余部分保留）：订单 "7"'
    # set aside at the amounts as the file writes them (the purchase, not a refund of it)
    assert result.quarantine.set_index("source_row").loc[[3, 4], "amount"].tolist() == [96.00, 30.00]
    row = result.clean.set_index("source_row")
    assert row.loc[6, "return_match"] == "order_number" and row.loc[6, "amount"] == -12.0


def test_the_clean_rows_file_says_how_each_cancellation_was_matched(tmp_path):
    intake = source(tmp_path, UCI, UCI_COLUMNS)
    clean_and_save(intake, tmp_path / "data", as_of=AS_OF, rules=Cleaning(returns={"order_prefix": "C", "match": "product"}))
    rows = pd.read_parquet(tmp_path / "data" / "clean_transactions.parquet").set_index("source_row")
    assert {"return_match", "return_of", "return_document", "returned_at"} <= set(rows.columns)
    assert rows.loc[5, "return_match"] == "product" and rows.loc[5, "return_document"] == "C536379"


CATEGORY_RETURNS = """customer,order,date,amount,category
A,O1,2024-03-01,100.00,shoes
A,O1,2024-03-01,10.00,socks
A,CO1,2024-03-04,-10.00,socks
A,O2,2024-04-01,30.00,hats
A,O2,2024-04-01,20.00,socks
A,CO2,2024-04-05,-5.00,socks
B,O3,2024-03-10,50.00,shoes
"""


@pytest.mark.parametrize("masks", [True, False])
def test_a_category_cancelled_in_full_within_its_order_was_not_bought(tmp_path, masks, monkeypatch):
    """A's socks of O1 were cancelled in full (netted into O1): not a category she bought there; her
    socks of O2, cancelled in part, were. So A bought shoes, hats and socks (3), as the features, the
    month-start features and the next-period test's calibration features count them, with the
    categories' bit masks or without."""
    import segkit.evaluate.next_period
    import segkit.features
    from segkit.evaluate.next_period import calibration_periods
    from segkit.monthly.activity import features_at_month_starts

    if not masks:  # the count by a distinct of (customer, category), as for PostgreSQL
        monkeypatch.setattr(segkit.features, "category_kinds", lambda table: None)
        monkeypatch.setattr(segkit.evaluate.next_period, "category_kinds", lambda table: None)
    columns = {**SMALL_COLUMNS, "category": "category"}
    result = clean(source(tmp_path, CATEGORY_RETURNS, columns), order_prefix="C")
    f = customer_features(None, result.scored, result.as_of).set_index("customer_id")
    assert f["categories"].to_dict() == {"A": 3, "B": 1}
    march = customer_features(None, result.scored.filter(result.scored.ordered_at < pd.Timestamp("2024-04-01")),
                              dt.date(2024, 3, 31)).set_index("customer_id")
    assert march.loc["A", "categories"] == 1  # shoes only, by the end of March
    starts = features_at_month_starts(None, result.scored, [dt.date(2024, 4, 1)], columns=["categories"])
    assert starts.set_index("customer_id").loc["A", "categories"] == 1
    periods = calibration_periods(result.known_lines, dt.date(2024, 3, 31), AS_OF)
    assert periods.features.set_index("customer_id")["categories"].to_dict() == {"A": 1, "B": 1}


def test_drop_says_the_revenue_net_would_count_for_lines_refunded_by_their_status(tmp_path):
    """With `drop`, "revenue if netted" is what `net` counts: the 已退款 line of order 7 is the purchase
    itself (no line of its own to reduce), so netting takes nothing off the order's other line; the
    refund record of order 9 (a twin line) would be netted. Before: 96.00 and 30.00 taken off again."""
    text, columns = MARKETPLACE, MARKETPLACE_COLUMNS
    dropped = clean(source(tmp_path, text, columns), status_values=["已退款"], action="drop").returns
    netted = clean(source(tmp_path, text, columns), status_values=["已退款"]).returns
    assert dropped["gross_revenue"] == pytest.approx(240.30 + 12.00 + 8.00)
    assert dropped["amount_by_status"] == pytest.approx(96.00 + 30.00) == netted["amount_by_status"]
    assert dropped["revenue_if_netted"] == pytest.approx(netted["net_revenue"]) == pytest.approx(240.30 + 8.00)
    assert dropped["kept_matched"] == pytest.approx(12.00)  # order 9's refund record, which its twin kept
    # net's own figures: bought (the refunded lines at their amounts as bought), and revenue after
    assert netted["gross_revenue"] == pytest.approx(240.30 + 96.00 + 30.00 + 12.00 + 12.00 + 8.00 - 12.00)
    assert (netted["lines_by_status"], netted["orders_by_status"]) == (2, 1)


@pytest.mark.parametrize("action", ["net", "drop"])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_returns_sentence_says_the_lines_refunded_by_their_status(tmp_path, action, lang):
    from segkit.i18n import returns_sentence, t

    text = ("订单编号,会员ID,下单时间,实付金额,订单状态\n7,V1,2024-05-01,240.30,已完成\n7,V1,2024-05-01,96.00,已退款\n"
            "8,V1,2024-05-10,30.00,已退款\n")
    columns = {"order_id": "订单编号", "customer_id": "会员ID", "ordered_at": "下单时间", "amount": "实付金额",
               "status": "订单状态"}
    summary = clean(source(tmp_path, text, columns), status_values=["已退款"], action=action).returns
    key, values = returns_sentence(summary, lang)
    said = t(key, lang, **values)
    assert "126.00" in said
    if action == "net":
        assert ("2 lines are marked refunded or cancelled by their status" if lang == "en"
                else "2 行按状态标为已退款或已取消") in said
        # order 8, refunded on every line by its status: never also "no order was cancelled in full"
        assert t("returns.refunded.none", lang) not in said
        # no cancellation line netted (each is the purchase itself): said in one sentence, not with zeros
        assert ("revenue is 240.30 (366.30 of purchases)" if lang == "en"
                else "销售额为 240.30（购买合计 366.30）") in said
    else:
        assert ("Of the lines set aside, 2 (126.00) are marked refunded" if lang == "en"
                else "被隔离的行中有 2 行（126.00）按状态标为已退款") in said
        # the purchases themselves, refunded: none cancels a purchase from before the data
        assert ("before the data" if lang == "en" else "数据起始前") not in said
        assert ("netted (`action: net`) it would be 240.30" if lang == "en" else "若冲减（`action: net`）则为 240.30") in said


def test_status_values_that_no_row_holds_are_said_with_the_statuses_there(tmp_path):
    """status_values [已退款, 已退货] where the export writes 退款成功: nothing is marked by status, and a
    note (01 and the terminal) says so with the statuses the rows hold, the most frequent first."""
    from segkit.i18n import note_message, t

    text = ("订单编号,会员ID,下单时间,实付金额,订单状态\n1,V1,2024-05-01,10.00,交易成功\n2,V1,2024-05-02,12.00,交易成功\n"
            "3,V2,2024-05-03,-12.00,退款成功\n4,V3,2024-05-04,8.00, 交易成功\n")
    columns = {"order_id": "订单编号", "customer_id": "会员ID", "ordered_at": "下单时间", "amount": "实付金额",
               "status": "订单状态"}
    result = clean(source(tmp_path, text, columns), status_values=["已退款", "已退货"])
    note = next(n for n in result.notes if n["key"] == "status_values_unmatched")
    assert note["seen"] == '"交易成功" (3), "退款成功" (1)' and note["values"] == "已退款, 已退货"
    key, values = note_message(note)
    assert "退款成功" in t(key, "zh", **values) and "status_values" in t(key, "en", **values)
    matched = clean(source(tmp_path, text, columns), status_values=[" 退款成功 "])
    assert not any(n["key"] == "status_values_unmatched" for n in matched.notes)


def test_a_status_copied_from_the_file_matches_and_one_that_matches_nothing_is_said(tmp_path):
    """status_values copied from the export with its full-width comma match the rows (whose text the
    cleaning made ASCII); a value of several that matches nothing is named, with the other statuses."""
    text = ("订单编号,会员ID,下单时间,实付金额,订单状态\n1,V1,2024-05-01,10.00,交易成功\n"
            "2,V1,2024-05-02,12.00,\"卖家已发货，等待买家确认\"\n3,V2,2024-05-03,8.00,交易成功\n"
            "4,V2,2024-05-04,9.00,交易关闭\n")
    columns = {"order_id": "订单编号", "customer_id": "会员ID", "ordered_at": "下单时间", "amount": "实付金额",
               "status": "订单状态"}
    result = clean(source(tmp_path, text, columns), status_values=["卖家已发货，等待买家确认", "交易关闭", "已退款"])
    aside = result.ledger[result.ledger["outcome"] == "set_aside"].set_index("rule")["rows"]
    assert aside.sum() == 2 and aside["refunded_order"] == 2, result.ledger  # the two status lines, no purchase
    note = next(n for n in result.notes if n["key"] == "status_values_unmatched")
    assert note["values"] == "已退款" and note["seen"] == '"交易成功" (2)'
    every = clean(source(tmp_path, text, columns), status_values=["卖家已发货，等待买家确认", "交易关闭"])
    assert not any(n["key"] == "status_values_unmatched" for n in every.notes)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_drop_says_the_cancellations_of_purchases_from_before_the_data_and_only_those(tmp_path, lang):
    from segkit.i18n import returns_sentence, t
    from segkit.report.html import Money

    text = ("订单编号,会员ID,下单时间,实付金额,订单状态\n7,V1,2024-05-01,240.30,已完成\n8,V1,2024-05-10,30.00,已退款\n"
            "9,V2,2024-05-12,-20.00,已退款\n10,V2,2024-05-02,50.00,已完成\n")
    columns = {"order_id": "订单编号", "customer_id": "会员ID", "ordered_at": "下单时间", "amount": "实付金额",
               "status": "订单状态"}
    summary = clean(source(tmp_path, text, columns), status_values=["已退款"], action="drop").returns
    key, values = returns_sentence(summary, lang)
    said = t(key, lang, **values)
    # order 9's refund of 20.00 found no purchase: from before the data; order 8's own line is no such one
    # and no purchase kept is cancelled: no "revenue still holds what was cancelled: 0.00" (a new user's finding)
    assert t("returns.before_data.drop_all", lang, amount=Money(20.0)) in said, said
    assert ("still holds" if lang == "en" else "仍包含") not in said


def test_status_values_match_a_databases_rows_as_written_too():
    """A database's rows get no text fixes: a status copied from it with its full-width comma matches it as
    written (the file path compares the fixed text), and no note says it matches nothing."""
    import ibis

    from segkit.intake.cleaning import clean_transactions
    from segkit.intake.sources import database_canonical
    from segkit.params import Cleaning

    con = ibis.duckdb.connect()
    table = con.create_table("tx", pd.DataFrame({
        "oid": ["1", "2", "3", "4"], "cid": ["V1", "V1", "V2", "V2"],
        "ts": pd.to_datetime(["2024-05-01", "2024-05-02", "2024-05-03", "2024-05-04"]),
        "amt": [10.0, 12.0, 8.0, 9.0], "st": ["交易成功", "卖家已发货，等待买家确认", "交易成功", "Ｒ退款"]}))
    rows = database_canonical(table, {"order_id": "oid", "customer_id": "cid", "ordered_at": "ts", "amount": "amt",
                                      "status": "st"}, "database table tx")
    result = clean_transactions(con, rows, as_of=dt.date(2024, 5, 31), rules=Cleaning(returns={
        "status_values": ["卖家已发货，等待买家确认", "Ｒ退款"], "action": "drop"}))
    assert result.ledger.set_index("rule").loc["return", "rows"] == 2
    assert not any(n["key"] == "status_values_unmatched" for n in result.notes)


def test_drop_counts_only_the_cancellations_that_found_another_purchase_as_matched(tmp_path):
    """Order 7's line refunded by its status is the purchase itself: of the two lines matched by order
    number, one (order 9's refund of 12.00) cancels another purchase; the sentence says 1 line, 12.00."""
    from segkit.i18n import returns_sentence, t

    text = ("订单编号,会员ID,下单时间,实付金额,订单状态\n7,V1,2024-05-01,240.30,已完成\n7,V1,2024-05-01,96.00,已退款\n"
            "9,V2,2024-05-02,50.00,已完成\n9,V2,2024-05-03,-12.00,已退款\n")
    columns = {"order_id": "订单编号", "customer_id": "会员ID", "ordered_at": "下单时间", "amount": "实付金额",
               "status": "订单状态"}
    summary = clean(source(tmp_path, text, columns), status_values=["已退款"], action="drop").returns
    key, values = returns_sentence(summary, "en")
    said = t(key, "en", **values)
    assert "12.00 of purchases in the data (1 cancellation line matched" in said, said


@pytest.mark.parametrize("match", ["order_number", "product"])
def test_a_cancellation_of_a_purchase_set_aside_is_set_aside_with_it(tmp_path, match):
    """K1's order O2 is in the file but its amount is unreadable (set aside), and C2 cancels it: it
    was netted into her first order O1 as if it cancelled a purchase from before the data (100 became
    70). It follows its purchase out now (`return_of_set_aside`), O1 keeps its 100; a cancellation
    that finds nothing (C99: before the data) is still netted into her first purchase."""
    text = ("order,customer,date,amount,sku\nO1,K1,2024-05-02,100.00,A\nO2,K1,2024-05-05,thirty,B\n"
            "CO2,K1,2024-05-09,-30.00,B\nC99,K1,2024-05-10,-5.00,Z\nO3,K2,2024-05-03,40.00,A\n")
    columns = {"order_id": "order", "customer_id": "customer", "ordered_at": "date", "amount": "amount",
               "product": "sku"}
    result = clean(source(tmp_path, text, columns), order_prefix="C", match=match)
    assert features(result).loc["K1", "revenue"] == pytest.approx(100.00 - 5.00)
    aside = result.quarantine.set_index("source_row")
    assert aside["reason"].to_dict() == {3: "unreadable_amount", 4: "return_of_set_aside"}
    assert aside.loc[4, "detail"] == 'cancels order "O2", whose purchase was set aside (unreadable_amount)'
    assert result.clean.set_index("source_row").loc[5, "return_match"] == "unmatched"
    from segkit.i18n import detail_text

    assert detail_text(aside.loc[4, "detail"], "zh") == '取消的是订单 "O2"，该购买已被剔除（unreadable_amount）'
    # 01's returns sentence counts it apart from the cancellations netted (C99 alone)
    from segkit.i18n import returns_sentence, t

    assert (result.returns["lines"], result.returns["lines_of_set_aside"]) == (1, 1)
    for lang, words in (("en", "1 more cancellation line cancels purchases that were set aside"),
                        ("zh", "另有 1 行取消记录所取消的购买已被剔除")):
        key, values = returns_sentence(result.returns, lang)
        assert words in t(key, lang, **values)


def test_a_cancellation_larger_than_what_its_order_kept_leaves_with_the_line_set_aside(tmp_path):
    """Order O2: a 20.00 line kept and a line of unreadable amount (set aside); CO2 cancels 30.00 of it:
    netted into the line kept, it took O2 to -10.00. It is larger than the order's lines kept, so it
    cancels the line set aside and leaves with it; a smaller one (CO3, 5.00 of O3's 20.00) stays netted."""
    text = ("order,customer,date,amount,sku\nO1,K1,2024-05-02,100.00,A\nO2,K1,2024-05-05,20.00,A\n"
            "O2,K1,2024-05-05,thirty,B\nCO2,K1,2024-05-09,-30.00,B\nO3,K2,2024-05-05,20.00,A\n"
            "O3,K2,2024-05-05,n/a,B\nCO3,K2,2024-05-09,-5.00,A\n")
    columns = {"order_id": "order", "customer_id": "customer", "ordered_at": "date", "amount": "amount",
               "product": "sku"}
    result = clean(source(tmp_path, text, columns), order_prefix="C")
    f = features(result)
    assert f.loc["K1", "revenue"] == pytest.approx(120.00) and f.loc["K2", "revenue"] == pytest.approx(15.00)
    reasons = result.quarantine.set_index("source_row")["reason"].to_dict()
    assert reasons == {4: "unreadable_amount", 5: "return_of_set_aside", 7: "unreadable_amount"}


def test_the_quarantine_shows_a_cancellation_as_it_came_in_not_as_netted(tmp_path):
    # O2 cancelled in full by CO2: both set aside (refunded_order); netting had given CO2 O2's number and date,
    # so a data owner tracing row 4 found a line the source does not hold (a database keeps no raw_ columns)
    text = ("order,customer,date,amount\nO1,K1,2024-05-02,100.00\nO2,K1,2024-05-05,30.00\n"
            "CO2,K1,2024-05-09,-30.00\n")
    columns = {"order_id": "order", "customer_id": "customer", "ordered_at": "date", "amount": "amount"}
    result = clean(source(tmp_path, text, columns), order_prefix="C")
    aside = result.quarantine.set_index("source_row")
    assert aside["reason"].to_dict() == {3: "refunded_order", 4: "refunded_order"}
    assert aside.loc[4, "order_id"] == "CO2" and aside.loc[4, "ordered_at"] == pd.Timestamp("2024-05-09")
    assert aside.loc[3, "order_id"] == "O2" and aside.loc[3, "ordered_at"] == pd.Timestamp("2024-05-05")


def test_a_refund_in_two_parts_larger_than_what_its_order_kept_never_takes_it_below_zero(tmp_path):
    """O2: a 20.00 line kept and an unreadable one (set aside), refunded in two parts of 15.00: each part is
    smaller than the 20.00 kept, and both were netted (O2 at -10.00). Counted in turn, the second part takes
    the order below zero: it leaves with the line set aside (O2 at 5.00, never below zero)."""
    text = ("order,customer,date,amount,sku\nO1,K1,2024-05-02,100.00,A\nO2,K1,2024-05-05,20.00,A\n"
            "O2,K1,2024-05-05,thirty,B\nCO2,K1,2024-05-09,-15.00,B\nCO2,K1,2024-05-10,-15.00,B\n")
    columns = {"order_id": "order", "customer_id": "customer", "ordered_at": "date", "amount": "amount"}
    result = clean(source(tmp_path, text, columns), order_prefix="C")
    assert features(result).loc["K1", "revenue"] == pytest.approx(105.00)
    assert result.quarantine.set_index("source_row")["reason"].to_dict() == {4: "unreadable_amount",
                                                                              6: "return_of_set_aside"}


def test_by_product_a_cancellation_larger_than_the_line_it_found_leaves_with_the_line_set_aside(tmp_path):
    """536365: P1 x10 of unreadable price (set aside); 536366: P1 x2 at 2.55 kept; C536379 cancels P1 for 25.50:
    matched by product to the kept 5.10 line, it took A to 29.60. It fits the line set aside: it leaves with it."""
    text = ("order,customer,date,amount,sku\n536360,A,2024-05-01,50.00,P9\n536365,A,2024-05-02,n/a,P1\n"
            "536366,A,2024-05-03,5.10,P1\nC536379,A,2024-05-09,-25.50,P1\n")
    columns = {"order_id": "order", "customer_id": "customer", "ordered_at": "date", "amount": "amount",
               "product": "sku"}
    result = clean(source(tmp_path, text, columns), order_prefix="C", match="product")
    assert features(result).loc["A", "revenue"] == pytest.approx(55.10)
    assert result.quarantine.set_index("source_row")["reason"].to_dict() == {3: "unreadable_amount",
                                                                              5: "return_of_set_aside"}


def test_the_refund_lines_of_an_order_set_aside_by_its_status_leave_with_it(tmp_path):
    """A WooCommerce export writes a refunded order with status "refunded" on its purchase lines and, on
    some, refund lines (negative, the same number and status) a few days later. The purchase lines are
    set aside as an order cancelled in full; its refund lines found no purchase used and were netted
    into the customer's other order (A: 16 - 2501 = -2485, set aside). They leave with their order
    now, as does the refund line of an order never paid (B's order 5, on-hold). By hand: A bought 16
    (order 1), B 30 (order 6), C 40 (order 7) less a refund of 10 with its number."""
    text = ("order,customer,date,amount,state\n1,A,2024-05-01,16.00,completed\n"
            "2,A,2024-05-03,2500.00,refunded\n2,A,2024-05-03,1.00,refunded\n"
            "2,A,2024-05-06,-2500.00,refunded\n2,A,2024-05-06,-1.00,refunded\n"
            "5,B,2024-05-04,50.00,on-hold\n5,B,2024-05-07,-50.00,refunded\n6,B,2024-05-08,30.00,completed\n"
            "7,C,2024-05-09,40.00,completed\n7,C,2024-05-12,-10.00,refunded\n")
    columns = {**SMALL_COLUMNS, "status": "state"}
    intake = source(tmp_path, text, columns)
    result = clean_transactions(intake.engine, intake.transactions, as_of=AS_OF, rules=Cleaning(
        unpaid_status_values=["on-hold"], returns={"status_values": ["refunded"]}))
    assert_every_row_accounted(result, intake.transactions)
    f = features(result)
    assert f["revenue"].to_dict() == {"A": 16.0, "B": 30.0, "C": 30.0}
    assert f["orders"].to_dict() == {"A": 1, "B": 1, "C": 1}
    assert result.customers_set_aside.empty
    reasons = result.quarantine.set_index("source_row")["reason"].to_dict()
    assert reasons == {3: "refunded_order", 4: "refunded_order", 5: "return_of_set_aside",
                       6: "return_of_set_aside", 7: "unpaid_order", 8: "return_of_set_aside"}
    assert result.quarantine.set_index("source_row").loc[5, "detail"] == \
        'cancels order "2", whose purchase was set aside (refunded_order)'
    summary = result.returns
    # the returns paragraph: C's refund found its order; none is said to cancel a purchase from before the data
    assert (summary["lines"], summary["lines_order_number"], summary["lines_unmatched"]) == (1, 1, 0)
    assert summary["lines_of_set_aside"] == 3 and not suggests_product_match(summary)
    assert summary["net_revenue"] == 76.0


def test_unpaid_status_values_that_no_row_holds_are_said_with_the_statuses_there(tmp_path):
    """unpaid_status_values [canceled, on_hold] where the export writes cancelled and on-hold: no order
    was set aside as never paid and their amounts counted as revenue, silently. The note names the
    values and the statuses the rows hold; a value that matches (on-hold) is not named."""
    from segkit.i18n import note_message, t

    text = ("order,customer,date,amount,state\n1,A,2024-05-01,16.00,completed\n2,A,2024-05-03,25.00,cancelled\n"
            "3,B,2024-05-04,50.00,on-hold\n4,B,2024-05-08,30.00,completed\n")
    columns = {**SMALL_COLUMNS, "status": "state"}
    intake = source(tmp_path, text, columns)
    result = clean_transactions(intake.engine, intake.transactions, as_of=AS_OF,
                                rules=Cleaning(unpaid_status_values=["canceled", "on-hold"]))
    note = next(n for n in result.notes if n["key"] == "unpaid_status_values_unmatched")
    assert note["values"] == "canceled"
    assert note["seen"] == '"completed" (2), "cancelled" (1)'
    for lang, words in (("en", "cleaning.unpaid_status_values"), ("zh", "未付款")):
        assert words in t(*note_message(note)[:1], lang, **note_message(note)[1])
    every = clean_transactions(intake.engine, intake.transactions, as_of=AS_OF,
                               rules=Cleaning(unpaid_status_values=["Cancelled", "on-hold"]))
    assert not any(n["key"].endswith("status_values_unmatched") for n in every.notes)


@pytest.mark.parametrize("action", ["net", "drop"])
def test_the_returns_paragraph_is_one_short_sentence_when_no_cancellation_line_is_found(tmp_path, action):
    """A status_values that marks nothing gave "0 cancellation lines (0 documents, $0.00) ... 0 found
    ...": a wall of zeros. Nothing found: one short sentence with the revenue (16 + 30 = 46)."""
    from segkit.i18n import returns_sentence, t

    text = "order,customer,date,amount,state\n1,A,2024-05-01,16.00,completed\n2,B,2024-05-03,30.00,completed\n"
    result = clean(source(tmp_path, text, {**SMALL_COLUMNS, "status": "state"}), status_values=["refunded"],
                   action=action)
    for lang, words in (("en", "no cancellation line was"), ("zh", "没有")):
        key, values = returns_sentence(result.returns, lang)
        said = t(key, lang, **values)
        assert words in said and "46.00" in said and " 0 " not in said and "0.00" not in said.replace("46.00", "")


def test_a_refund_line_of_a_line_refunded_by_its_status_leaves_with_it_where_the_rest_of_the_order_stays(tmp_path):
    """Order 7: 保温杯 240.30 kept, 手机壳 96.00 marked 已退款 (set aside as the purchase itself) and its
    refund line -96.00 a few days later. The refund line found order 7 by its number and took 96.00 off
    the 保温杯 (V1: 144.30): the refund counted twice. It leaves with the line it refunds; V1 keeps 240.30."""
    text = MARKETPLACE + "7,V1,2024-05-04,手机壳,1,-96.00,已退款\n"
    result = clean(source(tmp_path, text, MARKETPLACE_COLUMNS), status_values=["已退款"])
    assert features(result).loc["V1", "revenue"] == pytest.approx(240.30)
    aside = result.quarantine.set_index("source_row")
    assert aside.loc[8, "reason"] == "return_of_set_aside"
    assert aside.loc[8, "detail"] == 'cancels order "7", whose purchase was set aside (return)'
    assert result.returns["lines_of_set_aside"] == 1


@pytest.mark.parametrize("match", ["order_number", "product"])
def test_a_refund_line_without_a_product_leaves_with_the_line_refunded_by_its_status(tmp_path, match):
    """Refund lines often have no product (a WooCommerce refund, a marketplace 退款 line): with a product
    column mapped, order 7's refund of -96.00 (手机壳, marked 已退款 and set aside as the purchase itself)
    found no twin by product and was netted into the 保温杯 (order number) or the customer's first purchase
    (product): V1 144.30, the refund taken twice. Without a product it is found by its amount."""
    text = MARKETPLACE + "7,V1,2024-05-04,,1,-96.00,已退款\n"
    returns = {"status_values": ["已退款"], "match": match}
    result = clean(source(tmp_path, text, MARKETPLACE_COLUMNS), **returns)
    assert features(result).loc["V1", "revenue"] == pytest.approx(240.30)
    aside = result.quarantine.set_index("source_row")
    assert aside.loc[8, "reason"] == "return_of_set_aside"
    assert aside.loc[8, "detail"] == 'cancels order "7", whose purchase was set aside (return)'
    # a refund line of another amount, without a product, is no refund of that line: it stays netted
    other = clean(source(tmp_path, MARKETPLACE + "7,V1,2024-05-04,,1,-40.00,已退款\n", MARKETPLACE_COLUMNS), **returns)
    assert features(other).loc["V1", "revenue"] == pytest.approx(200.30)
    assert 8 not in set(other.quarantine["source_row"])


def test_a_refund_of_the_same_product_from_another_order_reduces_revenue_with_match_product(tmp_path):
    """With `match: product` a line set aside by its status (order 7's 手机壳, 已退款) was among the
    purchases set aside that a loose cancellation leaves with: a refund of 手机壳 from another order
    (20, of a purchase before the data) was set aside with it instead of reducing revenue. A line set
    aside by its status takes the refund lines of its own order only: V1 240.30 - 50.00."""
    text = MARKETPLACE + "20,V1,2024-05-12,手机壳,-1,-50.00,已退款\n"
    result = clean(source(tmp_path, text, MARKETPLACE_COLUMNS), status_values=["已退款"], match="product")
    assert features(result).loc["V1", "revenue"] == pytest.approx(190.30)
    row = result.clean.set_index("source_row")
    assert row.loc[8, "return_match"] == "unmatched" and row.loc[8, "amount"] == -50.0
    assert 8 not in set(result.quarantine["source_row"])


# Statuses of a shop's export: 7 distinct, 2 that look like a cancellation or a refund (trial 45: a status
# column mapped without the status lists counted 已取消, 已退款 and 部分退款 as revenue, with no word)
STATUS_ROWS = [("已完成", 4), ("已签收", 3), ("交易成功", 2), ("已取消", 2), ("已发货", 1), ("待发货", 1), ("已退款", 1)]
STATUS_COLUMNS = {"order_id": "订单编号", "customer_id": "会员ID", "ordered_at": "下单时间", "amount": "实付金额",
                  "status": "订单状态"}


def status_export(statuses) -> str:
    lines = [f"{i},V{i % 3},2024-05-{i % 28 + 1:02d},{10 + i}.00,{status}"
             for i, status in enumerate(s for s, n in statuses for _ in range(n))]
    return "订单编号,会员ID,下单时间,实付金额,订单状态\n" + "\n".join(lines) + "\n合计,,,999.00,\n"


def saved_notes(tmp_path, text, rules: Cleaning, lang: str) -> tuple[list[dict], list[str]]:
    from segkit.report.runner import cleaning_note_lines
    from segkit.store import load_run_info

    data_dir = tmp_path / "data"
    clean_and_save(source(tmp_path, text, STATUS_COLUMNS), data_dir, as_of=AS_OF, rules=rules)
    return load_run_info(data_dir)["cleaning_notes"], cleaning_note_lines(data_dir, lang)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_status_column_without_status_lists_is_said_with_the_likely_refunds_first(tmp_path, lang):
    notes, lines = saved_notes(tmp_path, status_export(STATUS_ROWS), Cleaning(), lang)
    note = next(n for n in notes if n["key"].startswith("statuses_not_listed"))
    # the likely ones first, then by rows, five at most, then how many more (the total line's row is no status)
    assert note["seen"] == '"已取消" (2), "已退款" (1), "已完成" (4), "已签收" (3), "交易成功" (2)', note
    assert (note["statuses"], note["more"], note["column"]) == (7, 2, "订单状态")
    said = next(line for line in lines if "已取消" in line)  # the terminal's line; 01 says the same note
    assert "cleaning.returns.status_values: [已退款]" in said and "cleaning.unpaid_status_values: [已取消]" in said
    assert ("and 2 more" if lang == "en" else "另有 2 种") in said
    assert ("counted as revenue" if lang == "en" else "也计入销售额") in said


def test_the_lists_set_leave_a_note_only_for_an_unnamed_status_that_looks_like_a_refund(tmp_path):
    rules = Cleaning(returns={"status_values": ["已退款"]}, unpaid_status_values=["已取消"])
    notes, _ = saved_notes(tmp_path, status_export(STATUS_ROWS), rules, "en")
    assert not any("status" in n["key"] for n in notes), notes  # every other status is a sale's
    # a new status the lists do not name (部分退款): said, first, with the list to extend
    notes, lines = saved_notes(tmp_path, status_export([*STATUS_ROWS, ("部分退款", 2)]), rules, "zh")
    note = next(n for n in notes if n["key"].startswith("statuses_unlisted"))
    assert note["seen"].startswith('"部分退款" (2), "已完成" (4)') and note["more"] == 1, note
    said = next(line for line in lines if "部分退款" in line)
    # a partial refund is no status to list (listed, it would cancel the whole line): the note points to the
    # column of the amount refunded on each line instead (segkit.intake.refunds)
    assert "cleaning.returns.status_values: [已退款]" in said and "refund_amount" in said
    # a listed value no row holds already names the other statuses: no second note
    typo = Cleaning(returns={"status_values": ["已退货"]}, unpaid_status_values=["已取消"])
    notes, _ = saved_notes(tmp_path, status_export(STATUS_ROWS), typo, "en")
    assert [n["key"] for n in notes if "status" in n["key"]] == ["status_values_unmatched"]


def test_english_statuses_are_found_in_any_case_and_one_status_alone_is_no_note(tmp_path):
    rows = [("Completed", 3), ("Cancelled", 1), ("REFUNDED", 1), ("pending payment", 1)]
    notes, _ = saved_notes(tmp_path, status_export(rows), Cleaning(), "en")
    note = next(n for n in notes if n["key"] == "statuses_not_listed")
    assert note["seen"].endswith('"Completed" (3)') and (note["returns"], note["unpaid"]) == (
        "REFUNDED", "Cancelled, pending payment")
    notes, _ = saved_notes(tmp_path, status_export([("completed", 5)]), Cleaning(), "en")
    assert not any("status" in n["key"] for n in notes)
