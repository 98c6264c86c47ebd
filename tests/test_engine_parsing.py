"""Dates and amounts written as text are read in the engine through their distinct values
(`segkit.intake.engine_parsing`) exactly as `prepare` reads a pandas frame of the same rows: the
values, the fixes, the rule and detail of a row set aside, and the notes with their counts and
examples. Dates with a time of day are read by their date and the time's shape, so the layouts are
drawn here with every width of hour, minute and second, in and out of range."""

import datetime as dt

import ibis
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segkit.intake.cleaning import prepare
from segkit.intake.engine_parsing import _date_keys, parse_in_engine, raw_values
from segkit.intake.sources import connect
from segkit.params import Cleaning

HEADERS = {"ordered_at": "Datum", "amount": "Betrag"}


def both(dates: list[str | None], amounts: list[str | None], rules: Cleaning, currency: str | None = "CNY"):
    """(engine rows, prepare's rows, engine notes, prepare's notes), rows in source_row order."""
    frame = pd.DataFrame({"source_row": range(2, len(dates) + 2), "customer_id": "C1",
                          "ordered_at": pd.Series(dates, dtype="string"), "amount": pd.Series(amounts, dtype="string")})
    con = connect()
    table = con.create_table("tx", frame.astype({"source_row": "int64", "customer_id": "string"}), overwrite=True)
    parsed, notes = parse_in_engine(con, table, rules, 2, currency, HEADERS)
    ours = parsed.order_by("source_row").to_pyarrow().to_pandas()
    typed, _, expected_notes = prepare(frame, decimal=rules.decimal, day_first=rules.day_first, minor_unit=2,
                                       max_amount=rules.max_amount, time_zone=rules.time_zone,
                                       currency_code=currency, headers=HEADERS)
    return ours, typed, notes, expected_notes


def assert_alike(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    for column in ("ordered_at", "amount", "fixes", "problem_rule", "detail"):
        mine = ours[column].astype("object").where(ours[column].notna(), None).tolist()
        expected = theirs[column].astype("object").where(theirs[column].notna(), None).tolist()
        if column == "fixes":
            expected = [value or "" for value in expected]
        if column == "ordered_at":
            mine = [None if v is None else pd.Timestamp(v) for v in mine]
            expected = [None if v is None else pd.Timestamp(v) for v in expected]
        assert mine == expected, column


def clock(hour_width: int = 2) -> st.SearchStrategy[str]:
    hours = st.integers(0, 25).map(lambda h: f"{h:0{hour_width}d}" if h < 10 else str(h))
    return st.tuples(hours, st.integers(0, 61), st.one_of(st.none(), st.integers(0, 61)),
                     st.sampled_from(["", ".5", ".250"])).map(
        lambda p: f"{p[0]}:{p[1]:02d}" + ("" if p[2] is None else f":{p[2]:02d}{p[3]}"))


DAYS = st.tuples(st.integers(1990, 2030), st.integers(1, 13), st.integers(1, 32))
DATES = st.one_of(
    DAYS.map(lambda d: f"{d[0]}-{d[1]:02d}-{d[2]:02d}"),
    DAYS.map(lambda d: f"{d[0]}/{d[1]}/{d[2]}"),
    DAYS.map(lambda d: f"{d[2]:02d}/{d[1]:02d}/{d[0]}"),
    DAYS.map(lambda d: f"{d[1]}/{d[2]}/{d[0]}"),
    DAYS.map(lambda d: f"{d[0]}年{d[1]}月{d[2]}日"),
    DAYS.map(lambda d: f"{d[0]}{d[1]:02d}{d[2]:02d}"),
    DAYS.map(lambda d: f"{d[2]} Jan {d[0]}"),
    st.sampled_from(["45296", "nope", "", "  2024-01-05", "２０２４-01-05", "0000-01-01", "2024-02-30"]),
)
SUFFIX = st.one_of(
    st.just(""),
    st.tuples(st.sampled_from([" ", "T", "  ", ", "]), clock(1) | clock(2)).map("".join),
    st.tuples(st.just(" "), clock(2), st.sampled_from([" PM", " am", "+08:00", "Z", " -0500", " "])).map("".join),
    st.tuples(st.just(" 下午 "), clock(1)).map("".join),
)
VALUES = st.one_of(st.none(), st.tuples(DATES, SUFFIX).map("".join))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(VALUES, min_size=1, max_size=40), st.sampled_from([None, True, False]),
       st.sampled_from([None, "Asia/Shanghai"]))
def test_dates_read_in_the_engine_are_read_as_prepare_reads_them(dates, day_first, time_zone):
    rules = Cleaning(day_first=day_first, time_zone=time_zone)
    ours, theirs, notes, expected = both(dates, ["1"] * len(dates), rules)
    assert_alike(ours, theirs)
    assert notes == expected


AMOUNTS = st.one_of(
    st.none(),
    st.decimals(-10 ** 13, 10 ** 13, places=3, allow_nan=False).map(str),
    st.tuples(st.sampled_from(["", "¥", "$", "US$ ", "€", "-"]), st.integers(0, 10 ** 7),
              st.sampled_from(["", ".5", ".005", ",50"])).map(lambda p: f"{p[0]}{p[1]:,}{p[2]}"),
    st.sampled_from(["(3.00)", "54,16-", "1,234.50-", "-12-", "1e3", "1e400", "inf", "NaN", "0x10", " 12 ", "69,21", "1.234,50", "12 元", "abc", ""]),
)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(AMOUNTS, min_size=1, max_size=40), st.sampled_from([".", ","]))
def test_amounts_read_in_the_engine_are_read_as_prepare_reads_them(amounts, decimal):
    rules = Cleaning(decimal=decimal, max_amount=1e9)
    ours, theirs, notes, expected = both(["2024-01-05"] * len(amounts), amounts, rules, currency="USD")
    assert_alike(ours, theirs)
    assert notes == expected


def test_a_column_of_timestamps_is_read_by_a_few_keys_and_names_its_first_values():
    # the day-first evidence is in a time-stamped value; the note names it as written, not by its key
    dates = ["05/01/2024 10:07:33", "25/12/2024 23:59:59", "05/01/2024 10:07:34", "03/04/2024 7:05", None,
             "05/01/2024 24:00", "2024/1/5 9:00 PM"]
    ours, theirs, notes, expected = both(dates, ["1"] * len(dates), Cleaning())
    assert_alike(ours, theirs)
    assert notes == expected
    assert notes[0]["example"] == "25/12/2024 23:59:59" and notes[0]["followed"] == 4  # 24:00 too
    assert ours["ordered_at"].tolist()[:4] == [pd.Timestamp("2024-01-05 10:07:33"), pd.Timestamp("2024-12-25 23:59:59"),
                                               pd.Timestamp("2024-01-05 10:07:34"), pd.Timestamp("2024-04-03 07:05")]
    con = connect()
    keyed = _date_keys(con.create_table("k", pd.DataFrame({"v": dates}), overwrite=True), "v").to_pandas()
    assert keyed["_key"].tolist()[:4] == ["05/01/2024 00:00:00", "25/12/2024 00:00:00", "05/01/2024 00:00:00",
                                          "03/04/2024 0:00"]  # the first and the third rows share one key
    assert keyed["_seconds"].tolist()[:4] == [36_453, 86_399, 36_454, 25_500]
    assert keyed["_key"].tolist()[5:] == ["05/01/2024 24:00", "2024/1/5 9:00 PM"]  # kept whole


def test_times_with_a_utc_offset_share_keys_where_the_offset_is_dropped():
    # Shopify's layout: the wall time as written, without cleaning.time_zone; converted with one
    dates = ["2024-03-05 14:22:10 -0500", "2024-03-05 09:01:02 -0500", "2024-03-05T14:22:10Z",
             "2024-03-05 14:22:10+08:00", "2024-03-05 25:00:00 -0500", "2024-03-05 14:22 +99"]
    for zone in (None, "Asia/Shanghai"):
        ours, theirs, notes, expected = both(dates, ["1"] * len(dates), Cleaning(time_zone=zone))
        assert_alike(ours, theirs)
        assert notes == expected
    con = connect()
    table = con.create_table("k", pd.DataFrame({"v": dates}), overwrite=True)
    keyed = _date_keys(table, "v", offsets=True).to_pandas()
    assert keyed["_key"].tolist() == ["2024-03-05 00:00:00 -0500", "2024-03-05 00:00:00 -0500", "2024-03-05T00:00:00Z",
                                      "2024-03-05 00:00:00+08:00", "2024-03-05 25:00:00 -0500", "2024-03-05 00:00 +99"]
    assert keyed["_seconds"].tolist()[:2] == [51_730, 32_462]
    assert _date_keys(table, "v").to_pandas()["_key"].tolist() == dates  # to be converted: read whole


def test_the_quarantine_keeps_the_text_of_the_columns_read_in_the_engine():
    con = connect()
    table = con.create_table("tx", pd.DataFrame({"source_row": [2, 3], "ordered_at": ["2024/1/5", "x"],
                                                 "amount": ["¥3", "4"]}), overwrite=True)
    assert raw_values(table).to_pandas().to_dict("list") == {"source_row": [2, 3], "raw_ordered_at": ["2024/1/5", "x"],
                                                             "raw_amount": ["¥3", "4"]}
    typed = con.create_table("typed", pd.DataFrame({"source_row": [2], "ordered_at": [dt.datetime(2024, 1, 5)]}),
                             overwrite=True)
    assert raw_values(typed) is None


QUANTITIES = st.one_of(st.none(), st.integers(-3, 10 ** 6).map(str),
                       st.sampled_from(["2.5", "1,000", "x", "", "1e300", " 3 ", "３", "0"]))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(QUANTITIES, AMOUNTS), min_size=1, max_size=40), st.sampled_from([".", ","]))
def test_an_amount_derived_from_text_is_derived_as_prepare_derives_it(lines, decimal):
    """No amount column: quantity × unit price from their text, exact, through each distinct pair."""
    rules = Cleaning(decimal=decimal, max_amount=1e9)
    headers = {"quantity": "Menge", "unit_price": "Preis"}
    frame = pd.DataFrame({"source_row": range(2, len(lines) + 2), "customer_id": "C1", "ordered_at": "2024-01-05",
                          "quantity": pd.Series([q for q, _ in lines], dtype="string"),
                          "unit_price": pd.Series([p for _, p in lines], dtype="string")})
    con = connect()
    table = con.create_table("tx", frame.astype({"source_row": "int64", "customer_id": "string",
                                                 "ordered_at": "string"}), overwrite=True)
    parsed, notes = parse_in_engine(con, table, rules, 2, "USD", headers)
    ours = parsed.order_by("source_row").to_pyarrow().to_pandas()
    theirs, _, expected = prepare(frame, decimal=decimal, minor_unit=2, max_amount=rules.max_amount,
                                  currency_code="USD", headers=headers)
    assert_alike(ours, theirs)
    for column in ("quantity", "unit_price"):
        assert ours[column].tolist() == pytest.approx(theirs[column].tolist(), nan_ok=True), column
    assert notes == expected


def test_an_implausible_product_names_both_parts_and_one_part_as_text_is_refused():
    con = connect()
    rows = pd.DataFrame({"source_row": [2, 3, 4], "ordered_at": ["2024/1/5"] * 3, "quantity": ["2", "1e300", "3"],
                         "unit_price": ["¥3.005", "1e300", "x"]})
    table = con.create_table("tx", rows, overwrite=True)
    parsed = parse_in_engine(con, table, Cleaning())[0].order_by("source_row").to_pyarrow().to_pandas()
    assert [float(v) if v is not None else None for v in parsed["amount"]] == [6.01, None, None]
    assert parsed["problem_rule"].fillna("").tolist() == ["", "implausible_amount", "unreadable_amount"]
    assert parsed["detail"][1].startswith("quantity × unit_price 1e300 × 1e300 is above cleaning.max_amount")
    one_typed = con.create_table("tx2", rows.assign(quantity=[2, 1, 3]), overwrite=True)
    with pytest.raises(ValueError, match="derived"):
        parse_in_engine(con, one_typed, Cleaning())


@pytest.mark.parametrize("day_first", [None, True, False])
def test_two_digit_years_and_two_date_orders_are_read_in_the_engine_as_prepare_reads_them(day_first):
    dates = (["15.09.24", "09/15/24 10:07", "01.02.69", None] + [f"{d:02d}/09/2024" for d in (1, 13, 30, 13)]
             + [f"09/{d:02d}/2024 08:00" for d in (1, 13, 30, 13)] + ["25/12/2023", "05.01.24"])
    for chosen in (dates, [d for d in dates if d is None or "/09/2024" not in d or d.startswith(("13", "30"))]):
        ours, theirs, notes, expected = both(chosen, ["1"] * len(chosen), Cleaning(day_first=day_first))
        assert_alike(ours, theirs)
        assert notes == expected
        assert notes and notes[0]["key"].startswith("date_order")  # rows named alike: first and last of each order
