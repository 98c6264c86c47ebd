"""The order's total mapped as each line's amount (segkit.intake.order_totals): said, never changed."""

import datetime as dt

import numpy as np

from ledger_check import clean_checked, text
from segkit.i18n import note_message
from segkit.intake.order_totals import MIN_ORDERS, repeated_order_total_note
from segkit.params import Currency
from segkit.report.html import say_each

AS_OF = dt.date(2024, 12, 31)
COLUMNS = ("customer_id", "order_id", "ordered_at", "amount", "product")


def _orders(n: int, total_on_each_line: bool, seed: int = 0) -> list[tuple]:
    """`n` orders of 2-4 lines of different products, each line its own price, or the order's total on each."""
    rng = np.random.default_rng(seed)
    rows = []
    for order in range(n):
        prices = rng.choice([12.5, 19.9, 30.0, 45.0, 8.0, 99.0], size=rng.integers(2, 5), replace=False)
        total = float(prices.sum())
        for number, price in enumerate(prices):
            rows.append((f"C{order % 17}", f"O{order}", f"2024-{1 + order % 12:02d}-{1 + order % 28:02d}",
                         f"{total if total_on_each_line else price:.2f}", f"P{number}"))
    return rows


def test_an_order_total_on_every_line_is_said_with_an_example_and_what_to_map():
    """A WooCommerce export with "Order Total" mapped as amount (a trial: revenue 2.5 times the truth, unsaid):
    every order of several products has one amount on each line, and the note names an order, its lines and
    amount, and the mapping to change, in both languages; the rows stay as they are."""
    rows = _orders(60, total_on_each_line=True)
    result = clean_checked(text(rows, COLUMNS), AS_OF)
    note = repeated_order_total_note(result.table)
    assert note is not None and note["orders"] == note["of"] == 60
    lines = [r for r in rows if r[1] == note["order"]]
    assert note["lines"] == len(lines) and note["value"] == float(lines[0][3])
    assert len(result.clean) == len(rows)  # said, not set aside
    assert note in result.notes  # cleaning says it: 01 shows every note
    said = say_each([note_message(note)], "en", Currency(code="USD", symbol="$")).markup
    assert f"In 60 of the 60 orders" in said and f"order {note['order']}: {note['lines']} lines of ${note['value']:,.2f} each" in said
    assert "unit_price" in said
    assert "整单金额" in say_each([note_message(note)], "zh", Currency(code="USD", symbol="$")).markup


def test_line_amounts_that_differ_or_too_few_orders_are_not_said():
    """Real line prices (two products at one price now and then) and a handful of orders make no note; nor
    does a file without a product or category column, where nothing tells a line's item apart."""
    own = clean_checked(text(_orders(80, total_on_each_line=False), COLUMNS), AS_OF)
    assert repeated_order_total_note(own.table) is None
    assert not [n for n in own.notes if n["key"].startswith("amount_repeats_order_total")]
    few = _orders(MIN_ORDERS - 1, total_on_each_line=True)
    assert repeated_order_total_note(clean_checked(text(few, COLUMNS), AS_OF).table) is None
    without = [row[:4] for row in _orders(60, total_on_each_line=True)]
    assert repeated_order_total_note(clean_checked(text(without), AS_OF).table) is None


def test_a_long_table_is_judged_on_its_first_lines_and_says_so():
    """Only the lines up to `lines_read` are looked at (a 10M-line table costs what 500,000 lines do); the
    note then says "within the first ... lines", and too few orders among them make no note."""
    rows = _orders(60, total_on_each_line=True)
    table = clean_checked(text(rows, COLUMNS), AS_OF).table
    note = repeated_order_total_note(table, lines_read=100)
    assert note["key"] == "amount_repeats_order_total_first" and note["read"] == 100 and note["of"] < 60
    assert "within the first 100 lines" in say_each([note_message(note)], "en").markup
    assert repeated_order_total_note(table, lines_read=30) is None  # about ten orders: fewer than MIN_ORDERS


def test_the_first_lines_are_counted_from_the_tables_least_source_row_for_both_order_notes():
    """A PostgreSQL table's mapped source_row may start above `lines_read`: an absolute `source_row <= 500,000`
    looked at no line. Both notes read one per-order aggregate of the first lines from the least row on, and
    say "within the first N lines" when the table goes on."""
    from segkit.intake.cleaning import _orders_of_several_customers
    from segkit.intake.order_totals import first_orders

    rows = _orders(60, total_on_each_line=True)
    rows[1] = ("C99", *rows[1][1:])  # order O0 under two customer ids
    table = clean_checked(text(rows, COLUMNS), AS_OF).table
    table = table.mutate(source_row=table.source_row + 1_000_000 - 1)  # from 1,000,001 on
    assert table.source_row.min().to_pyarrow().as_py() == 1_000_001
    whole = first_orders(table, lines_read=len(rows) + 10)
    assert whole.read is None and whole.first_row == 1_000_001
    assert repeated_order_total_note(table, orders=whole)["key"] == "amount_repeats_order_total"
    several = _orders_of_several_customers(table, str, whole)
    assert (several["key"], several["orders"], several["order"]) == ("order_several_customers", 1, "O0")
    part = first_orders(table, lines_read=100)
    note = repeated_order_total_note(table, orders=part)
    assert note["key"] == "amount_repeats_order_total_first" and note["read"] == 100 and note["of"] < 60
    several = _orders_of_several_customers(table, str, part)
    assert several["key"] == "order_several_customers_first" and several["read"] == 100
    assert several["total"] < 60 and several["ids"] == '"C0", "C99"'
    for lang, words in (("en", "Within the first 100 lines"), ("zh", "在前 100 行")):
        key, values = note_message(several)
        from segkit.i18n import t

        assert words in t(key, lang, **values)


def test_the_first_orders_amounts_come_back_as_floats_equal_where_the_exact_amounts_are():
    """The engine keeps exact DECIMAL amounts; the per-order figures come back as float64 (fetched as
    DECIMAL, each became a Python Decimal object: 1.6 s at 10M lines), and one order's equal amounts stay equal."""
    from segkit.intake.order_totals import first_orders

    rows = _orders(30, total_on_each_line=True)
    table = clean_checked(text(rows, COLUMNS), AS_OF).table
    assert table.amount.type().is_decimal()
    per = first_orders(table).per_order
    assert per["amount"].dtype == np.float64 and per["least"].dtype == np.float64
    assert (per["amount"] == per["least"]).all()  # the total on every line: one amount an order
    assert per["amount"].max() == max(float(r[3]) for r in rows)
