"""Cleaning: every input row ends in exactly one place, and the ledger counts them.

A row is *used* as it came, *used after a fix* (which fix: a currency string read, a date layout
read, blanks trimmed, a missing category filled, a return netted, an outlier capped ...), or *set
aside* for the first rule it breaks (which rule). The quarantine keeps each set-aside row with its
`source_row`, the reason, a detail where there is one, and for files the original text
(`raw_<column>`); the ledger counts each outcome, and the counts add up to the input rows.

Text from files is read into values first (`segkit.intake.parsing`, in pandas); the rules then run in the
engine that holds the rows, as one Ibis expression: DuckDB for files, or PostgreSQL in place, where
the columns are already typed and so the text fixes do not apply. Only the quarantine, the ledger
and, later, one row per customer come back from a database.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
import itertools
import re
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import ibis
import ibis.expr.datatypes as dt_ibis
import numpy as np
import pandas as pd
import pyarrow as pa

from segkit._membership import is_in
from segkit.errors import DataError
from segkit.i18n import counted, note_message, plural_form
from segkit.i18n import t as catalogue_text
from segkit.intake.engines import as_text, text_ids, to_frame
from segkit.params import Cleaning
from segkit.intake.returns import RETURN_COLUMNS, net_returns, returns_summary, settle_customers
from segkit.intake.refunds import (implausible_refund_detail, net_amount, partial_refunds_listed, refund_tests,
                                   refunds_note, set_aside_refunded_lines)
from segkit.intake.clock import latest_possible_date
from segkit.intake.ids import customer_ids_notes, normalised_ids, same_customer_ids
from segkit.intake.order_totals import FirstOrders, first_orders, repeated_order_total_note
from segkit.intake.parsing import (FIXES, FULL_WIDTH_MARKS, LABELS, OTHER_MARK, SIGN_CURRENCIES, Parsed, RoundedIds,
                                   decimal_array, exact_decimals, fixes_per_row, is_text, normalised_value,
                                   parse_amount, parse_datetime, parse_id, parse_text, refuse_odd_values,
                                   long_ids_note, long_ids_notes_in_engine, refuse_rounded_ids,
                                   refuse_rounded_ids_in_engine, status_keys, to_minor_units)

# The order matters: a row is set aside for the first rule it breaks.
RULES = (
    "repeated_header",
    "totals_row",
    "missing_customer_id",
    "missing_date",
    "unreadable_date",
    "implausible_past_date",
    "implausible_future_date",
    "future_date",
    "missing_amount",
    "unreadable_amount",
    "unreadable_quantity",
    "non_finite_amount",
    "implausible_amount",
    "implausible_refund",
    "other_currency",
    "before_start",
    "after_as_of",
    "duplicate",
    "duplicate_order_line",
    "non_product",
    "unpaid_order",
    "return",
    "return_of_set_aside",
    "refunded_order",
    "non_positive_amount",
    "outlier",
)
# Rules that set aside what the params or the business leave out, not errors of the export: an export's
# own total line, rows outside the period, lines that are no product, orders never paid, refunds and
# cancellations, outliers. Their rows are expected; the other rules' are the data errors to fix at the
# source (01's charts of the rows set aside tell them apart).
EXPECTED_RULES = ("totals_row", "before_start", "after_as_of", "non_product", "unpaid_order", "return",
                  "return_of_set_aside", "refunded_order", "outlier")
# A customer id that is the label of an export's own total line ("Total", "合计" ...), compared trimmed and
# in lower case: such a line sums the others, so kept as a customer it would double the revenue.
TOTALS_LABELS = ("total", "totals", "grand total", "subtotal", "sub total", "sub-total", "sum", "overall",
                 "合计", "總計", "总计", "小计", "小計", "合計", "总和", "汇总", "彙總", "共计", "總和")
# Fixes made in the engine, after the text fixes of segkit.intake.parsing.FIXES (in this order on a row).
ENGINE_FIXES = ("filled_category", "filled_channel", "filled_product", "filled_quantity", "refund_netted",
                "return_netted", "outlier_capped")
ALL_FIXES = (*FIXES, *ENGINE_FIXES)
OUTCOMES = ("used", "fixed", "set_aside")
# What makes two rows the same order line (those present); an exact duplicate also has the same text.
LINE_KEYS = ("customer_id", "order_id", "ordered_at", "amount", "quantity", "unit_price", "category", "product",
             "status", "currency", "refund_amount")  # a return marked by status is not the same line as its purchase
OUTPUT_COLUMNS = ("source_row", "customer_id", "order_id", "ordered_at", "amount", "quantity", "unit_price",
                  "category", "product", "channel", "status")
# The columns read beside OUTPUT_COLUMNS that the clean rows do not carry: a line's currency (judged against
# the run's) and its refund amount (netted into `amount`, `segkit.intake.refunds`)
INPUT_EXTRAS = ("currency", "refund_amount")

_names = itertools.count(1)

# With no as_of given, a date more than FUTURE_MARGIN_DAYS after the FUTURE_QUANTILE of all dates is a typo.
FUTURE_QUANTILE = 0.999
FUTURE_MARGIN_DAYS = 31
# the as-of date of a run whose rows hold no readable date: all of them are set aside, whatever it is
_NO_DATE_AS_OF = dt.date(2000, 1, 1)
# Rules that a date typo comes before, when the row broke both (in the order of RULES).
_AFTER_DATE_RULES = ("unreadable_amount", "unreadable_quantity", "non_finite_amount", "implausible_amount")

# Amounts are DECIMAL(AMOUNT_PRECISION, minor unit) in the engine: exact, and summed exactly
# (DuckDB sums them as DECIMAL(38, ...), PostgreSQL as numeric), whatever the thread count or row order.
AMOUNT_PRECISION = 18


def amount_type(minor_unit: int) -> dt_ibis.Decimal:
    """The engine type of a line's amount: DECIMAL(18, minor_unit)."""
    return dt_ibis.Decimal(AMOUNT_PRECISION, minor_unit)


def max_units(max_amount: float, minor_unit: int) -> int:
    """The largest amount kept, in minor units: `max_amount`, or less where DECIMAL(18, minor_unit) ends."""
    from decimal import Decimal

    most = 10 ** AMOUNT_PRECISION - 1
    return most if not np.isfinite(max_amount) else min(int(Decimal(repr(float(max_amount))).scaleb(minor_unit)), most)


@dataclass(frozen=True)
class CleanResult:
    """The clean rows (`table`: lazy, in the engine; `clean`: as a DataFrame, read on first use),
    the quarantine and the ledger (DataFrames), the as-of date, and the parsed input (`input`,
    lazy) for before/after views: its amounts exact too (DECIMAL), missing where not finite or
    implausible. Then the customers (`segkit.intake.returns.settle_customers`): `scored`, the clean
    rows of the customers scored (lazy: what features and later stages read), `customer_ledger`,
    `customers_set_aside`, and `returns`, what the treatment of returns changed (None when
    `cleaning.returns` marks nothing).

    `as_of_rule` says how the as-of date was chosen: "given" (as_of or month in the params),
    "latest_date" (none given: the latest date of the rows that can be used) or
    "latest_plausible_date" (none given, and dates far after the rest were set aside as
    `implausible_future_date` first). `notes` are what the run decided from the data as a whole, for
    the report to show: dicts with `key` (a message under `cleaning.note.` in
    segkit/locale/messages.yaml) and that message's values (e.g. the day/month order of the dates,
    amounts written with another currency's sign than the params', and how the as-of date was found)."""

    table: ibis.Table
    quarantine: pd.DataFrame
    ledger: pd.DataFrame
    as_of: dt.date
    input: ibis.Table
    in_database: bool = False
    # the customers: the clean rows of those scored (lazy), the customer ledger, the customers set
    # aside, and what the treatment of returns changed (segkit.intake.returns)
    scored: ibis.Table | None = None
    customer_ledger: pd.DataFrame | None = None
    customers_set_aside: pd.DataFrame | None = None
    returns: dict | None = None
    as_of_rule: str = "given"
    notes: tuple[dict, ...] = ()
    # the tables made in the embedded engine for this result (the judged rows), for `drop_tables`
    made: tuple[ibis.Table, ...] = ()
    # the lines of the orders cancelled in full (rule refunded_order: purchases and their
    # cancellations, netted), lazy; None when returns mark nothing. The next-period test counts such
    # an order as bought when its cancellation came after the calibration period.
    refunded: ibis.Table | None = None
    # the ids of the customers with a row set aside (by a rule of rows that hold a customer: not an empty
    # id or a total line), distinct, as text; and how many of them have no row used at all (every one set
    # aside: a zero amount, an unreadable date ...), in no ledger of customers: counted by `clean_and_save`
    # (None until then; `without_rows_among` counts them for a result of `clean_transactions`)
    aside_customer_ids: tuple[str, ...] = ()
    customers_without_rows: int | None = None
    # of `aside_customer_ids`, those whose every row set aside is dated after as_of (rule after_as_of): with no
    # row used they only bought after it (a later month's customers), not customers whose rows had problems;
    # and how many of `customers_without_rows` they are (`clean_and_save`; `without_rows_among(..., later=True)`)
    later_customer_ids: tuple[str, ...] = ()
    customers_only_later: int | None = None

    def without_rows_among(self, known=None, later: bool = False) -> int:
        """How many customers of the input have no row used: `aside_customer_ids` not among `known` (the
        ids of every customer with a clean row, as text: the features' and the customers set aside), or,
        without `known`, not among the clean rows' ids (a query of all the clean rows: at 10M lines
        about a second, which `clean_and_save` spares by passing the ids it has). With `later`, those of
        them that only bought after as_of (`later_customer_ids`)."""
        ids = self.later_customer_ids if later else self.aside_customer_ids
        if not ids:
            return 0
        if known is None:
            found = pa.table({"customer_id": pa.array(ids, pa.string())})
            clean = self.table.mutate(customer_id=self.table.customer_id.cast("string"))
            known = clean.semi_join(ibis.memtable(found), "customer_id").select("customer_id").distinct() \
                .to_pyarrow().column("customer_id").to_pylist()
        # Arrow's lookup: pandas' isin took 7 s for 945 ids among a million (pandas 3.1)
        return int((~is_in(list(ids), known)).sum())

    @property
    def total_lines(self) -> int:
        """How many rows were set aside as the export's own total lines (rule `totals_row`)."""
        return _rows_set_aside(self.ledger, "totals_row")

    @property
    def input_without_total_lines(self) -> ibis.Table:
        """`input` without the rows set aside as the export's own total lines (`total_line`), lazy: a
        total line sums the others, so the input's figures with it count its amount twice."""
        return self.input.filter(~total_line(self.input).fill_null(False)) if self.total_lines else self.input

    def drop_tables(self) -> None:
        """Drop the tables this result made in the embedded engine (the judged rows): their memory is
        the engine's again. The lazy tables (`table`, `scored`, `input`) cannot be read after; for a
        caller that cleans the same rows for many as-of dates and keeps only what it computed
        (`segkit backfill`: without it, each month's judged rows stayed, 60-90 MB a month at 1M lines)."""
        from segkit.intake.engines import drop_temporary

        for table in self.made:
            drop_temporary(table)

    def messages(self) -> list[tuple[str, dict]]:
        """The notes as (catalogue key, values) pairs, for `segkit.report.html.say_each`."""
        return [note_message(note) for note in self.notes]

    def write_clean(self, path: str | Path) -> None:
        """Write the clean rows as Parquet from the engine (streamed, never a pandas frame), in
        source_row order, with the columns later stages read (OUTPUT_COLUMNS that are present),
        `fixes` and, where returns are marked, how each cancellation was matched (RETURN_COLUMNS),
        and `amount` as float64, as in `clean`. Not for a database source (its rows stay there)."""
        _write_lines(self.table, path)

    def write_refunded(self, path: str | Path) -> bool:
        """Write the lines of the orders cancelled in full (`refunded`: purchase lines and the
        cancellations netted into them, with returned_at, each cancellation's own date) as
        `write_clean` writes the clean rows, when there are any; returns whether a file was written.
        The next-period test reads them (`segkit.known_lines_table`): an order bought
        in its calibration period and cancelled after it was a purchase as the calibration period
        knew it."""
        if self.refunded is None or not _rows_set_aside(self.ledger, "refunded_order"):
            return False
        _write_lines(self.refunded, path)
        return True

    @property
    def known_lines(self) -> ibis.Table | None:
        """Every clean row with the lines of the orders cancelled in full (`refunded`), marked by a
        boolean column `refunded` (`segkit.intake.as_known.with_refunded`), lazy: what a reader of
        the rows as known at an earlier date reads (`segkit.intake.as_known.as_known`); None when
        returns mark nothing (the clean rows are then all there is)."""
        from segkit.intake.as_known import with_refunded

        if "returned_at" not in self.table.columns:
            return None
        return with_refunded(self.table, self.refunded)

    @cached_property
    def clean(self) -> pd.DataFrame:
        """The clean rows in Python (for a database source this reads them all: prefer `table`).
        The engine keeps the exact DECIMAL amounts; here each is the nearest float64 (the engine's
        cast is correctly rounded), like every other number in pandas."""
        table = text_ids(self.table)
        return to_frame(table.mutate(amount=table.amount.cast("float64")).order_by("source_row"))


def _write_lines(table: ibis.Table, path: str | Path) -> None:
    """`table`'s rows as Parquet, written by the engine, in source_row order, with the columns later
    stages read (OUTPUT_COLUMNS present, `fixes`, RETURN_COLUMNS present), amount as float64."""
    kept = [c for c in (*OUTPUT_COLUMNS, "fixes", *RETURN_COLUMNS) if c in table.columns]
    table.mutate(amount=table.amount.cast("float64")).select(kept).order_by("source_row").to_parquet(path)


def database_stopped(err: BaseException, origin: str) -> None:
    """Raise a DataError naming `origin` (the source) for an error of the database driver (psycopg)
    while a query over the transactions ran: a value that does not fit a view's cast, a view that
    fails, a lost connection; said with the table, not as a crash. Returns for any other error (the
    caller raises it as it is)."""
    if not type(err).__module__.startswith("psycopg"):
        return
    from segkit.intake.sources import first_line

    raise DataError(f"{origin}: the database stopped segkit's query of the transactions "
                    f"({type(err).__name__}: {first_line(err)[:300]}); check the table or view source.database "
                    "names: a cast in a view fails on a value it cannot read (e.g. a currency sign in a text "
                    "amount), or the connection was lost") from None


class NoCleanRows(DataError):
    """Every row was set aside; `result` holds the quarantine and the ledger; `data_start` is the
    data's first date when they all lie after the as-of date (the month asked lies before the data)."""

    def __init__(self, message: str, result: CleanResult, data_start: dt.date | None = None):
        super().__init__(message)
        self.result = result
        self.data_start = data_start


class NoTransactions(DataError):
    """The source holds no transaction at all (a file with only its header, an empty table)."""


class MonthNotInData(DataError):
    """The month a monthly run reports lies after the data's last transaction: the source does not
    reach it yet (a late feed, or a month typed wrong). `last` is the data's last date."""

    def __init__(self, message: str, last: dt.date | None):
        super().__init__(message)
        self.last = last


class MonthBeforeData(NoCleanRows):
    """The month a monthly run reports lies before the data's first transaction (`data_start`): every
    row is dated after it. A refusal of the month asked, not a problem of the data."""


class NoScoredCustomers(NoCleanRows):
    """Rows are used, but every customer's revenue is zero or less after netting returns (or they
    have no purchase left): nobody can be scored. `result` holds the row and customer ledgers."""


@dataclass
class PreparedInput:
    """The transactions as the engine holds them before the rules: `table` (typed, lazy; a text
    frame parsed and loaded once), the engine `con`, the values as they came in (`originals`, for
    the quarantine: a frame, a lazy table of the columns read from text in the engine, or None for a
    table typed where it is), the reading's `notes`, `in_database`, and the
    source's column names (`headers`). Made by `prepare_input`; `clean_transactions` takes one to
    clean the same rows for several as-of dates without parsing them again (`segkit backfill`)."""

    table: ibis.Table
    con: ibis.BaseBackend
    originals: pd.DataFrame | ibis.Table | None
    notes: list[dict]
    in_database: bool
    headers: dict[str, str]
    _bound: tuple | None = None

    def read_into_engine(self) -> "PreparedInput":
        """These rows, read from the database once into a table of the embedded engine (a new
        connection), for a caller that cleans them for many as-of dates (`segkit backfill`): each
        month's queries then run on the table rather than asking the database again (on PostgreSQL a
        month's dozen queries each recomputed the rules over the whole table). The rows are as the
        database's query gives them (typed, timestamps in the session's zone); `in_database` stays,
        so the rules treat them as a database's (ids as their owners keep them). They stream in batch
        by batch: the engine holds them (spilling past its memory cap), never one Arrow table in Python."""
        from segkit.intake.sources import connect

        con = connect()
        name = f"segkit_input_{next(_names)}"
        batches = self.table.to_pyarrow_batches()
        con.con.register(f"{name}_stream", batches)
        try:
            con.raw_sql(f'CREATE TABLE "{name}" AS SELECT * FROM "{name}_stream"')
        finally:
            con.con.unregister(f"{name}_stream")
        return replace(self, table=con.table(name), con=con, _bound=None)

    def future_bound(self) -> tuple[dt.date | None, int]:
        """`_future_bound` of the rows, computed once (it does not depend on the as-of date)."""
        if self._bound is None:
            self._bound = _future_bound(_complete(self.table))
        return self._bound


def prepare_input(con: ibis.BaseBackend | None, transactions: pd.DataFrame | ibis.Table, rules: Cleaning | None = None,
                  minor_unit: int = 2, currency_code: str | None = None,
                  headers: dict[str, str] | None = None) -> PreparedInput:
    """Read `transactions` into the engine once (see `clean_transactions` for the arguments): a
    frame's text parsed (`prepare`) and loaded into `con` (or a new embedded engine); an Ibis table
    kept where it is, its dates and amounts written as text (a CSV's not plainly written, a Parquet
    file's text columns) read in the embedded engine as `prepare` reads them
    (`segkit.intake.engine_parsing`); the customer ids read as `rules.customer_ids` says, on every path
    (`segkit.intake.ids.normalised_ids`). Raises DataError for values that cannot be read as a whole
    (see `prepare`)."""
    from segkit.intake.sources import connect, is_embedded, source_headers, source_preset_hint

    rules = rules or Cleaning()
    headers = source_headers(transactions) if headers is None else dict(headers)
    in_engine = isinstance(transactions, ibis.Table)  # a typed file read in place, or a database table
    if in_engine:  # judged where the rows are, whatever connection was passed
        con = transactions.get_backend()
        refuse_rounded_ids_in_engine(transactions, headers, in_file=is_embedded(con))
        notes, originals = [], None
        if is_embedded(con):  # dates and amounts a file writes as text: read through their distinct values
            from segkit.intake.engine_parsing import parse_in_engine, raw_values
            from segkit.intake.presets import AS_EXPORTED

            originals = raw_values(transactions)
            hint = source_preset_hint(transactions)
            transactions = transactions.drop(*[c for c in transactions.columns if c.startswith(AS_EXPORTED)])
            said = [*long_ids_notes_in_engine(transactions, headers), *([preset_hint_note(hint)] if hint else [])]
            transactions, notes = parse_in_engine(con, transactions, rules, minor_unit, currency_code, headers,
                                                  id_notes=said)
        # customer ids written several ways read as one, where cleaning.customer_ids says so (`segkit.intake.ids`)
        transactions = normalised_ids(transactions, rules.customer_ids)
        return PreparedInput(transactions, con, originals, notes, not is_embedded(con), headers)
    con = con or connect()
    prepared, originals, notes = prepare(transactions, decimal=rules.decimal, day_first=rules.day_first,
                                         minor_unit=minor_unit, max_amount=rules.max_amount,
                                         time_zone=rules.time_zone, currency_code=currency_code,
                                         headers=headers)
    # as Arrow: the DECIMAL amounts go in as they are (Ibis' pandas path would re-read each one)
    table = con.create_table(f"segkit_input_{next(_names)}", pa.Table.from_pandas(prepared, preserve_index=False),
                             overwrite=True)
    return PreparedInput(normalised_ids(table, rules.customer_ids), con, originals, notes, False, headers)


def clean_transactions(con: ibis.BaseBackend | None, transactions: pd.DataFrame | ibis.Table | None,
                       as_of: dt.date | None = None, duplicates: str | None = None,
                       non_positive_amount: str | None = None, rules: Cleaning | None = None,
                       minor_unit: int = 2, currency_code: str | None = None,
                       headers: dict[str, str] | None = None, period_start: dt.date | None = None,
                       prepared: PreparedInput | None = None, today: dt.date | None = None) -> CleanResult:
    """Apply the cleaning rules in the engine; returns the clean rows, the quarantine and the ledger.

    Amounts are exact: right after reading, each line's amount becomes a DECIMAL with `minor_unit`
    decimals (the currency's, `params.currency.minor_unit`), rounded once, half away from zero
    (`quantity × unit_price` is rounded once, as a product); sums in the engine are exact. A line
    above `rules.max_amount` (either sign) is set aside as `implausible_amount`, an infinite or NaN
    number as `non_finite_amount`. In `clean` (pandas) the amounts are float64, each the nearest
    double to the exact amount; in `table` (the engine) they stay DECIMAL.

    `transactions` has segkit's column names (see `segkit.intake.sources`): a DataFrame whose values may
    still be text as exported, or an Ibis table in its database. `rules` holds every rule's setting
    (`segkit.params.Cleaning`; defaults when None); `duplicates` and `non_positive_amount`, when
    given, override those two. `as_of` is the last day analysed (later rows are set aside); None
    means the last date in the data. `today` is the run's clock (None: `segkit.intake.clock.today`):
    a row dated after it is no purchase that happened (a test order, a clock set wrong) and is set
    aside as `future_date`, whatever its distance and whatever `as_of` says, so it never becomes the
    as-of date. Raises `NoCleanRows` (a DataError) when every row is set aside;
    when the rows set aside are dated after `as_of`, its message says the data's first date.
    `prepared` (`prepare_input`): the rows read once, for several as-of dates; `transactions`,
    `headers` and `currency_code` are then not read, and the reading's rules (`rules.decimal`,
    `day_first`, `max_amount`, `time_zone`, `customer_ids`) are those it was prepared with.
    `period_start` is the first day of the period reported (a monthly run's month, see
    `segkit.params.Params.period_start`): when the data end before it (no row used, and no plausibly
    dated row at all, is dated on or after it), `MonthNotInData` (a DataError) names the data's
    last date; a month without purchases inside the data's span is reported as such.

    `currency_code` is the currency the amounts are in (`params.currency.code`): amounts written
    with a sign or code that cannot be its (`$12.50` when it is CNY) are used as written, never
    converted, and a note (`currency_sign_differs`) names the column, the signs and the rows.

    Each row's `detail` and each note names a column as the source does: `headers` maps segkit's
    name to the file's header or the table's column (None: as the intake recorded it, see
    `segkit.intake.sources.source_headers`; segkit's name where nothing says). The quarantine keeps
    that map in `quarantine.attrs["columns"]`, for `quarantine_sample` to show the names as they are.

    >>> from segkit.params import Source
    >>> from segkit.intake.sources import load_source
    >>> tx = load_source(Source(kind="cdnow")).transactions
    >>> result = clean_transactions(None, tx, rules=Cleaning(duplicates="keep", duplicate_order_lines="keep"))
    >>> len(tx), len(result.clean), result.quarantine["reason"].value_counts().to_dict()
    (69659, 69579, {'non_positive_amount': 80})
    """
    rules = rules or Cleaning()
    changes = {k: v for k, v in (("duplicates", duplicates), ("non_positive_amount", non_positive_amount)) if v}
    rules = rules.model_copy(update=changes) if changes else rules
    if prepared is None:
        prepared = prepare_input(con, transactions, rules, minor_unit, currency_code, headers)
    table, con, originals, in_database = prepared.table, prepared.con, prepared.originals, prepared.in_database
    headers, notes = prepared.headers, list(prepared.notes)
    check_rule_columns(rules, table.columns)
    table = _complete(table)

    total = int(table.count().to_pyarrow().as_py())
    if total == 0:
        if in_database:  # a database's table or view, or Spark's (also once read into the embedded engine)
            raise NoTransactions("there are no transactions: the table holds no rows; check the table or view the "
                                 "params name, and that this user may see its rows")
        raise NoTransactions("there are no transactions: the source holds no rows (a file with only its header?); "
                             "export the data again, or check the file or table the params name")
    # As-of: given, or the latest date of the rows that can be used once the date typos are set
    # aside (never the wall clock: a run on the same rows gives the same as-of date).
    as_of_rule = "given"
    future_after = None
    if as_of is None:
        future_after, beyond = prepared.future_bound()
        if beyond:
            notes.append({"key": "as_of_future_dates", "rows": beyond, "after": future_after.isoformat(),
                          "margin_days": FUTURE_MARGIN_DAYS, "quantile": FUTURE_QUANTILE})
    elif int(table.filter(table.ordered_at.date() > ibis.date(as_of)).count().to_pyarrow().as_py()):
        # rows after the as-of date: those far beyond nearly all the others are typos (2099 for 2025), set
        # aside as such, not hidden among the rows of later months; a given as_of past the bound keeps its rows
        bound, _ = prepared.future_bound()
        future_after = max(bound, as_of) if bound is not None else None
    if today is None:
        from segkit.intake.clock import today as clock

        today = clock()
    table = _mark_implausible_dates(table, rules.min_date, future_after, headers.get("ordered_at", "ordered_at"),
                                    today=today, as_of_given=as_of is not None)
    if as_of is None:
        usable = ~_missing_id(table.customer_id) & table.amount.notnull()
        plausible = table.problem_rule.isnull() | table.problem_rule.isin(_AFTER_DATE_RULES)
        last = table.filter(usable & table.problem_rule.isnull()).ordered_at.max().to_pyarrow().as_py() or \
            table.filter(plausible & table.ordered_at.notnull()).ordered_at.max().to_pyarrow().as_py()
        if last is None:  # every row is set aside for its date, whatever the as-of: judged all the same, so that
            # the quarantine and the ledger say which rows and why, with the column and a value named
            as_of, as_of_rule = _NO_DATE_AS_OF, "no_readable_date"
        else:
            as_of = last.date()
            as_of_rule = "latest_plausible_date" if beyond else "latest_date"
            notes.append({"key": "as_of_" + as_of_rule, "as_of": as_of.isoformat()})

    judged = judge(table, as_of, rules, minor_unit, headers, currency_code)
    made = ()
    if _embedded(table):  # judge once in the embedded engine (a database's rows too, once read into it); a database
        # is only read, never written
        judged = con.create_table(f"segkit_judged_{next(_names)}", judged, overwrite=True)
        made = (judged,)
    ledger = build_ledger(total, judged.group_by(["outcome", "rule"]).aggregate(rows=judged.count()).to_pandas())
    quarantine = _quarantine(judged, originals, headers)
    shown = [c for c in (*OUTPUT_COLUMNS, "fixes", "outlier", *RETURN_COLUMNS, "raw_customer_id")
             if c in judged.columns]
    clean = judged.filter(judged.outcome != "set_aside").select(shown)
    shown_input = table
    if table.amount.type() != amount_type(minor_unit):  # the before view sums exact amounts too
        shown_input = table.mutate(amount=exact_amount(table.amount, minor_unit, rules.max_amount)[0])
    result = CleanResult(clean, quarantine, ledger, as_of, shown_input, in_database, as_of_rule=as_of_rule,
                         notes=tuple(notes), made=made)
    if ledger.loc[ledger["outcome"] != "set_aside", "rows"].sum() == 0:
        mark = next((n for n in notes if n["key"] == "decimal_mark_differs"), None)
        hint = "" if mark is None else (f'; the {mark["column"]} column looks written with a decimal "{mark["other"]}" '
                                        f'(like "{mark["example"]}"): set cleaning.decimal: "{mark["other"]}"')
        reasons = set(ledger.loc[(ledger["outcome"] == "set_aside") & (ledger["rows"] > 0), "rule"])
        if reasons <= {"unreadable_date", "missing_date"}:  # no row has a date at all: the column or its format
            raise NoCleanRows(f"{_no_date_words(quarantine, headers)}; "
                              f"{plural_form(total, 'the 1 row was', f'all {total} rows were', 'en')} set aside "
                              f"({_top_reasons(ledger)})", result)
        first = _data_start(judged, as_of) if as_of_rule != "no_readable_date" else None
        if first is not None:  # only the date: nothing to fix in the data
            after = _rows_set_aside(ledger, "after_as_of")
            said = (f"{plural_form(total, 'the 1 row is', f'all {total} rows are', 'en')} dated after the as-of date"
                    if after == total else
                    f"none of the {counted(total, 'row', 'rows')} is dated on or before the as-of date "
                    f"({counted(after, 'is', 'are')} after it, "
                    f"{plural_form(total - after, 'the other was set aside for what it holds', 'the others were set aside for what they hold', 'en')})")
            # a monthly run's month before the data: the month asked is refused (`MonthBeforeData`)
            refused = MonthBeforeData if period_start is not None else NoCleanRows
            raise refused(f"{said}{_start_words(first, as_of)}", result, data_start=first)
        hint = hint or _most_given_advice(quarantine, ledger)
        raise NoCleanRows(f"{plural_form(total, 'the 1 row was', f'all {total} rows were', 'en')} set aside "
                          f"({_top_reasons(ledger)}){hint}; see the quarantine "
                          "for each row and its reason, and fix the source, the column map or the cleaning rules", result)
    last = None
    month_end = (as_of + dt.timedelta(days=1)).day == 1
    if period_start is None and not month_end:  # the as-of month is counted to its as-of day only
        days_in_month = ((as_of.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)).day
        notes.append({"key": "month_to_date", "month": f"{as_of:%Y-%m}", "as_of": as_of.isoformat(),
                      "days": as_of.day, "month_days": days_in_month})
        result = replace(result, notes=tuple(notes))
    if "status" in judged.columns:  # the status lists against the statuses the rows hold (`segkit check` says them too)
        records = judged.filter(~judged.reason.isin(["repeated_header", "totals_row"]).fill_null(False)) \
            if "reason" in judged.columns else judged
        said = status_list_notes(status_counts(judged), rules, named_in(headers)("status"),
                                 records=status_counts(records), refund_mapped="refund_amount" in judged.columns)
        if said:
            notes.extend(said)
            result = replace(result, notes=tuple(notes))
    listed = partial_refunds_listed(rules.returns.status_values)  # cancelled whole, though refunded in part
    if listed:
        notes.append(listed)
        result = replace(result, notes=tuple(notes))
    refunded = refunds_note(judged)  # a refund column: what its refunds took from revenue
    if refunded:
        notes.append({**refunded, "column": named_in(headers)("refund_amount")})
        result = replace(result, notes=tuple(notes))
    orders = first_orders(clean)  # each order of the first lines, read once for both notes on orders
    said = [note for note in (_orders_of_several_customers(clean, named_in(headers), orders),
                              _masked_customer_ids(clean, named_in(headers), text_ids=table.customer_id.type().is_string(),
                                                   used=int(ledger.loc[ledger["outcome"] != "set_aside", "rows"].sum())),
                              repeated_order_total_note(clean, orders=orders)) if note]
    said += customer_ids_notes(judged, rules.customer_ids, named_in(headers), text_ids=table.customer_id.type().is_string())
    if said:  # no row dropped: the customer or amount column may not be what it was taken for, and the analyst should know
        notes.extend(said)
        result = replace(result, notes=tuple(notes))
    repeated = _rows_set_aside(ledger, "duplicate_order_line")
    if repeated:  # the same in every order-line column, other in one the map leaves out: maybe a genuine line
        span = _repeats_span(judged, clean) if repeated >= OVERLAP_MIN_ROWS else None
        notes.append({"key": "duplicate_order_lines", "rows": repeated} if span is None else
                     {"key": "duplicate_order_lines_overlap", "rows": repeated, "first": span[0], "last": span[1]})
        result = replace(result, notes=tuple(notes))
    if period_start is not None:
        try:
            last = _check_period_reached(clean, ledger, period_start)
        except MonthNotInData:
            result.drop_tables()  # nothing of the month to report: its judged rows leave the engine
            raise
    elif as_of_rule == "given" and month_end:  # an as_of at a month's end
        last = _data_end(clean, ledger)
    if last is not None and last < as_of:
        from segkit.monthly.history import MonthCoverage

        gap = _usual_longest_gap(clean, last)
        # the data stop well before the month's end: its figures cover part of it (the history's one rule)
        if not MonthCoverage(as_of=as_of, last=last, usual_gap=gap).whole:
            inside = last >= as_of.replace(day=1)  # or none of it (an as_of months after the data: no --month)
            result = replace(result, notes=(*result.notes, {
                "key": "month_partly_covered" if inside else "month_not_covered", "month": f"{as_of:%Y-%m}",
                "last": last.isoformat(),
                "as_of": as_of.isoformat(), "days": (as_of - last).days, "usual_gap": gap}))
    return _settle(result, judged, rules)


def _rows_set_aside(ledger: pd.DataFrame, rule: str) -> int:
    return int(ledger.loc[(ledger["outcome"] == "set_aside") & (ledger["rule"] == rule), "rows"].sum())


def status_counts(table: ibis.Table) -> ibis.Table:
    """The rows of each status of `table` (its `status` column) as the status rules compare them:
    `_status`, the text with blanks trimmed (empty statuses left out), and `rows`. Lazy: the notes on
    the status lists (`status_list_notes`) query it in the engine that holds `table`."""
    status = table.status.cast("string").strip()
    held = table.select(_status=status)
    held = held.filter(held._status.notnull() & (held._status != ""))
    return held.group_by("_status").aggregate(rows=ibis._.count())


def status_list_notes(counts: ibis.Table, rules: Cleaning, column: str = "status",
                      records: ibis.Table | None = None, refund_mapped: bool = False) -> list[dict]:
    """The notes on the status lists of `rules` (`cleaning.returns.status_values`,
    `cleaning.unpaid_status_values`) against the statuses the rows hold (`counts`, as `status_counts`
    gives them; `records`: those of the rows that are records, a repeated header and a total line
    left out; None: `counts`): for every list the params set, a value no row holds (a typo, another
    spelling marks nothing, silently: `status_values_unmatched`; a preset's lists are its system's
    statuses: an export without, say, an unpaid order is no typo); then, when no list was found
    wanting (its note names the other statuses already), the statuses neither list names, whose rows
    count as purchases: said when no list is set at all, or when one looks like a refund, a
    cancellation or an unpaid order (`_statuses_unlisted`). `column`: the status column as the
    source names it; `refund_mapped`: a refund column is mapped (`_statuses_unlisted`). 01_cleaning
    says them, and `segkit check` from the file's status column."""
    notes = []
    lists = {"returns.status_values": ("status_values_unmatched", rules.returns.status_values),
             "unpaid_status_values": ("unpaid_status_values_unmatched", rules.unpaid_status_values)}
    for name, (key, values) in lists.items():
        if name in rules._preset_lists:
            continue
        listed = [v for other, (_, vs) in lists.items() if other != name for v in vs]
        unmatched = _status_values_unmatched(counts, values, key, listed)
        if unmatched:
            notes.append(unmatched)
    if not notes and not (rules._preset_lists and {k for k, (_, vs) in lists.items() if vs} <= set(rules._preset_lists)):
        unlisted = _statuses_unlisted(counts if records is None else records, rules.returns.status_values,
                                      rules.unpaid_status_values, column, refund_mapped)
        if unlisted:
            notes.append(unlisted)
    return notes


def _status_values_unmatched(counts: ibis.Table, values, key: str = "status_values_unmatched",
                             listed=()) -> dict | None:
    """The note `key` when some of the status list `values` (`cleaning.returns.status_values`:
    `status_values_unmatched`; `cleaning.unpaid_status_values`: `unpaid_status_values_unmatched`)
    match no row's status (`counts`: `status_counts`; compared as the rules compare them, `status_keys`):
    the values that match nothing, and
    the statuses the rows hold that are not among the values, the most frequent first (at most
    five, with their rows; a status of the other list, `listed`, is no candidate), so that a misspelt value
    (已退款 for 退款成功) is seen, not silently left unmarked, whether or not the other values match. None
    otherwise."""
    if not values:
        return None
    forms = {value: status_keys(value) for value in values}
    wanted = [key for keys in forms.values() for key in keys]
    held = counts.mutate(_key=counts._status.lower())
    found = {row["_key"] for row in held.filter(held._key.isin(wanted)).select("_key").distinct().to_pyarrow().to_pylist()}
    missing = [value for value, keys in forms.items() if not found & set(keys)]
    if not missing:
        return None
    elsewhere = [key for value in listed for key in status_keys(value)]
    others = held.filter(~held._key.isin(wanted + elsewhere)).select("_status", "rows")
    top = others.order_by([ibis.desc("rows"), "_status"]).limit(5).to_pyarrow().to_pylist()
    return {"key": key, "values": ", ".join(map(str, missing)),
            "seen": ", ".join(f'"{row["_status"]}" ({row["rows"]:,})' for row in top) or "-"}


# statuses named in a note on the statuses no list names, at most
_STATUSES_SHOWN = 5


def _statuses_unlisted(counts: ibis.Table, returns_values, unpaid_values, column: str = "status",
                       refund_mapped: bool = False) -> dict | None:
    """The note on the statuses that neither `cleaning.returns.status_values` (`returns_values`) nor
    `cleaning.unpaid_status_values` (`unpaid_values`) names, whose rows count as purchases (`counts`:
    the rows per distinct status, `status_counts`, of the rows that are records: a repeated header
    or a total line left out): those
    that look like a refund, a cancellation or an unpaid order (`REFUND_STATUS_WORDS`,
    `UNPAID_STATUS_WORDS`) first, then the most frequent, at most `_STATUSES_SHOWN` with their rows,
    and how many more; and, as an example, each list with the likely values of its kind added.
    Key `statuses_not_listed` when neither list is set (noted when the rows hold more than one
    status, or one that looks like a refund), `statuses_unlisted` when some are (noted only when an
    unnamed status looks like a refund, a cancellation or an unpaid order); `_more` appended when
    more statuses than those shown are unnamed. None otherwise.
    `column`: the status column as the source names it.

    A status that looks like a partial refund (部分退款, partially_refunded: `refunds.looks_partial`) is
    no value for `status_values` (listed, it would cancel the whole line): it is never suggested there,
    and `partial_words` (per language; empty where there is none) says to map the refund column
    (`refund_amount`). With that column mapped (`refund_mapped`) such a status is a purchase less its
    refund, counted so: it looks like nothing to list, and no note is given for it alone."""
    from segkit.intake.refunds import is_partial, looks_partial
    from segkit.intake.returns import REFUND_STATUS_WORDS, UNPAID_STATUS_WORDS

    given = bool(returns_values or unpaid_values)
    listed = [key for value in (*returns_values, *unpaid_values) for key in status_keys(value)]
    held = counts.mutate(_key=counts._status.lower())
    if listed:
        held = held.filter(~held._key.isin(listed))
    likely = ibis.or_(*[held._key.contains(word) for word in (*REFUND_STATUS_WORDS, *UNPAID_STATUS_WORDS)])
    if refund_mapped:  # a partial refund is netted by the refund column: a purchase, nothing to list
        likely = likely & ~looks_partial(held._key)
    held = held.select("_status", "rows", likely=likely)
    top = held.order_by([ibis.desc("likely"), ibis.desc("rows"), "_status"]).limit(_STATUSES_SHOWN) \
        .to_pyarrow().to_pylist()
    if not top:
        return None
    if given and not top[0]["likely"]:  # lists set: an unnamed status that looks like no refund is a sale's
        return None
    distinct = len(top) if len(top) < _STATUSES_SHOWN else int(held.count().to_pyarrow().as_py())
    if not given and distinct < 2 and not top[0]["likely"]:  # one status on every row: nothing to tell apart
        return None

    def kind(words):
        return [row["_status"] for row in top if row["likely"] and any(w in row["_status"].lower() for w in words)]

    partial = [] if refund_mapped else [row for row in top if row["likely"] and is_partial(row["_status"])]
    refunds = [value for value in kind(REFUND_STATUS_WORDS) if not is_partial(value)]
    unpaid = [value for value in kind(UNPAID_STATUS_WORDS) if value not in refunds and not is_partial(value)]
    more = distinct - len(top)
    hint = {lang: catalogue_text("cleaning.note.partial_refund_hint", lang, count=len(partial), statuses=", ".join(
        f'"{row["_status"]}" ({row["rows"]:,})' for row in partial)) if partial else "" for lang in ("en", "zh")}
    return {"key": ("statuses_unlisted" if given else "statuses_not_listed") + ("_more" if more else ""),
            "column": column, "statuses": distinct,
            "seen": ", ".join(f'"{row["_status"]}" ({row["rows"]:,})' for row in top),
            **({"more": more} if more else {}),
            "returns": ", ".join([*map(str, returns_values), *refunds]) or "...",
            "unpaid": ", ".join([*map(str, unpaid_values), *unpaid]) or "...", "partial_words": hint}


def named_in(headers: dict[str, str] | None):
    """A column's name as the source gives it (`headers`: segkit's name -> the source's), else segkit's."""
    headers = headers or {}
    return lambda column: headers.get(column, column)


def _orders_of_several_customers(clean: ibis.Table, named, orders: FirstOrders | None) -> dict | None:
    """The note `order_several_customers` when some order numbers of the rows used carry lines under
    more than one customer id (a phone number or a cashier's id mapped as the customer, or numbers
    that restart): how many orders of how many, and the first such order with up to three of its ids.
    `orders`: the orders of the first lines (`segkit.intake.order_totals.first_orders`); when the table goes
    on beyond them the key is `order_several_customers_first`, with "read": the lines looked at. None when
    each order has one customer (or no order column)."""
    if orders is None:
        return None
    per = orders.per_order
    per = per[per["least_customer"].notna()]
    # the least and the greatest id of an order differ when it has several: cheaper than counting them
    several = per[per["least_customer"] != per["most_customer"]]
    if several.empty:
        return None
    first = str(several["order_id"].sort_values().iloc[0])
    rows = orders.lines_of(clean)
    example = rows.filter((as_text(rows.order_id) == first) & rows.customer_id.notnull()).select("customer_id").distinct()
    ids = sorted(str(v) for v in example.order_by("customer_id").limit(3).to_pyarrow().column(0).to_pylist())
    beyond = orders.read is not None
    return {"key": "order_several_customers" + ("_first" if beyond else ""), **({"read": orders.read} if beyond else {}),
            "orders": len(several), "total": len(per), "order": first, "ids": ", ".join(f'"{i}"' for i in ids),
            "column": named("customer_id"), "order_column": named("order_id")}


# a customer id with a run of asterisks (138****5678, a****@qq.com): part of it hidden by the export
MASK = "**"


def _masked_customer_ids(clean: ibis.Table, named, text_ids: bool, used: int) -> dict | None:
    """The note `masked_customer_ids` when customer ids of the rows used look masked (a run of `*`:
    138****5678): one such id may stand for many people (every 138 number ending 5678). How many ids,
    their rows and share of the `used` rows (the ledger's), and the one with the most rows. None when
    there is none, and without a look when the input's ids are not text (`text_ids` False: whole
    numbers hold no asterisk)."""
    if not text_ids:
        return None
    ids = clean.customer_id
    masked = clean.select(_id=ids).filter(ids.contains(MASK).fill_null(False))
    per = masked.group_by("_id").aggregate(rows=masked.count())
    top = per.order_by([ibis.desc("rows"), "_id"]).limit(1).to_pyarrow().to_pylist()
    if not top:
        return None
    found = per.aggregate(ids=per.count(), rows=per.rows.sum()).to_pyarrow().to_pylist()[0]
    return {"key": "masked_customer_ids", "ids": int(found["ids"]), "rows": int(found["rows"]),
            "share": int(found["rows"]) / used if used else 0.0, "example": str(top[0]["_id"]),
            "example_rows": int(top[0]["rows"]), "column": named("customer_id")}


def _data_start(judged: ibis.Table, as_of: dt.date) -> dt.date | None:
    """The data's first date when every row set aside lies after `as_of` or has no plausible date
    (the month, or as_of, lies before the data: nothing to fix in them), else None (rows dated on or
    before as_of were set aside for what they hold)."""
    dated = judged.ordered_at.notnull() & ~judged.rule.isin(["implausible_past_date", "implausible_future_date",
                                                             "future_date"])
    earlier = judged.filter(dated & (judged.ordered_at.date() <= ibis.date(as_of))).count().to_pyarrow().as_py()
    if earlier:
        return None
    first = judged.filter(judged.rule == "after_as_of").ordered_at.min().to_pyarrow().as_py()
    return first.date() if first is not None else None


def _start_words(first: dt.date, as_of: dt.date) -> str:
    return (f"; the data start on {first.isoformat()}, after the as-of date {as_of.isoformat()}: give a month (or "
            "as_of) on or after it")


# Repeated order lines (duplicate_order_line) that all fall within OVERLAP_MAX_DAYS of each other, at
# least OVERLAP_MIN_ROWS of them, in data that span more than twice as long: the days two extracts
# share (a December file that starts on 25 November, appended to November's), said as such, for the
# note's other advice (keep them) would count those days twice.
OVERLAP_MIN_ROWS, OVERLAP_MAX_DAYS = 20, 14


def _repeats_span(judged: ibis.Table, clean: ibis.Table) -> tuple[str, str] | None:
    """(first, last) date (ISO) of the rows set aside as duplicate_order_line when they fall within
    OVERLAP_MAX_DAYS of each other in data that span more than twice as long; else None."""
    try:
        found = judged.filter(judged.reason == "duplicate_order_line").aggregate(
            first=judged.ordered_at.min(), last=judged.ordered_at.max()).to_pyarrow()
        span = clean.aggregate(first=clean.ordered_at.min(), last=clean.ordered_at.max()).to_pyarrow()
        first, last = found["first"][0].as_py(), found["last"][0].as_py()
        data_first, data_last = span["first"][0].as_py(), span["last"][0].as_py()
    except Exception:  # an ordered_at the engine could not read as a timestamp: no span to say
        return None
    if None in (first, last, data_first, data_last) or not hasattr(first, "date"):
        return None
    days = (last.date() - first.date()).days
    if days > OVERLAP_MAX_DAYS or (data_last.date() - data_first.date()).days <= 2 * OVERLAP_MAX_DAYS:
        return None
    return first.date().isoformat(), last.date().isoformat()


def _data_end(clean: ibis.Table, ledger: pd.DataFrame) -> dt.date | None:
    """The last date of the rows used when the data end there (no plausible row is dated after the
    as-of date), None when they go on after it."""
    if _rows_set_aside(ledger, "after_as_of") > 0:
        return None
    last = clean.ordered_at.max().to_pyarrow().as_py()
    return last.date() if last is not None else None


# a month's last days without a purchase are its rhythm, not a stopped feed, up to the longest gap between
# purchase days in the USUAL_GAP_DAYS before the data's last day (and at least MIN_GAP_DAYS: a weekend)
USUAL_GAP_DAYS = 91
MIN_GAP_DAYS = 3


def _usual_longest_gap(clean: ibis.Table, last: dt.date) -> int:
    """The longest run of days between two consecutive purchase days in the USUAL_GAP_DAYS up to
    `last` (at least MIN_GAP_DAYS): a shop closed at weekends, or a small one with a sale every few
    days, ends a month without purchases for that long and its month is whole."""
    since = last - dt.timedelta(days=USUAL_GAP_DAYS)
    recent = clean.filter(clean.ordered_at.date() >= ibis.date(since))
    days = sorted({d for d in recent.select(day=recent.ordered_at.date()).distinct().to_pyarrow().column(0).to_pylist()
                   if d is not None})
    gaps = [(b - a).days for a, b in zip(days, days[1:])]
    return max([MIN_GAP_DAYS, *gaps])


def _check_period_reached(clean: ibis.Table, ledger: pd.DataFrame, period_start: dt.date) -> dt.date | None:
    """The data's last date when they end in or before the period (no plausible row is dated after
    the as-of date: a typo dated 2099 is `implausible_future_date`, not `after_as_of`), None when
    they go on after it. Raises MonthNotInData when they end before `period_start`; a month without
    purchases inside the data's span passes (the data go on after it)."""
    if _rows_set_aside(ledger, "after_as_of") > 0:
        return None
    last = _data_end(clean, ledger)
    if last is not None and last >= period_start:
        return last
    month = f"{period_start:%Y-%m}"
    if last is None:
        raise MonthNotInData(f"no row is dated in or before the month {month}", None)
    raise MonthNotInData(
        f"the data end on {last.isoformat()}, before the month {month} starts: there is nothing of {month} to "
        f"report (is the source up to date? a feed may be late); run a month up to {last:%Y-%m} with --month, "
        "or wait for the data", last)


def _settle(result: CleanResult, judged: ibis.Table, rules: Cleaning) -> CleanResult:
    """The result with its customers decided (segkit.intake.returns.settle_customers) and, where
    returns are marked, what their treatment changed."""

    returns = rules.returns
    scored, customer_ledger, aside = settle_customers(result.table, returns.net_negative)
    summary = None
    if "return_match" in judged.columns:
        summary = returns_summary(judged, returns.action, returns.match, returns.net_negative, returns.order_prefix,
                                  returns.refunded_orders)
        # the cancellations set aside with the purchase they cancel (`return_of_set_aside`): from the ledger
        summary["lines_of_set_aside"] = _rows_set_aside(result.ledger, "return_of_set_aside")
    refunded = None
    if "return_match" in judged.columns:
        refunded = judged.filter(judged.reason == "refunded_order").select(*result.table.columns)
    with_aside, only_later = aside_customer_ids(judged, result.ledger)
    return replace(result, scored=scored, customer_ledger=customer_ledger, customers_set_aside=aside,
                   returns=summary, refunded=refunded, aside_customer_ids=with_aside, later_customer_ids=only_later)


# rules whose rows hold no customer (an empty id, a guest id, a total line's label)
_NO_CUSTOMER_RULES = ("totals_row", "missing_customer_id")


def aside_customer_ids(judged: ibis.Table, ledger: pd.DataFrame) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The distinct ids (as text) of the customers with a row set aside by a rule other than those of
    rows that hold no customer: what `CleanResult.without_rows_among` looks for among the customers
    with a clean row; and those of them whose every row set aside is dated after as_of (`after_as_of`):
    with no row used, they bought only after it, in a later month (trial 45: 230 of a month's 281
    customers "with every row set aside"). Trial: CDNOW's 68 customers whose only records were of zero
    dollars were in no count. ((), ()) at once when no row was set aside for such a rule (one grouping
    of the judged rows else)."""
    aside = ledger[(ledger["outcome"] == "set_aside") & ~ledger["rule"].isin(_NO_CUSTOMER_RULES)]
    if not int(aside["rows"].sum()):
        return (), ()
    rows = judged.filter((judged.outcome == "set_aside") & judged.customer_id.notnull()
                         & ~judged.reason.isin(list(_NO_CUSTOMER_RULES)))
    ids = rows.group_by(customer_id=rows.customer_id.cast("string")).aggregate(
        later=(rows.reason == "after_as_of").all()).to_pyarrow()
    everyone = ids.column("customer_id").to_pylist()
    return tuple(everyone), tuple(i for i, later in zip(everyone, ids.column("later").to_pylist()) if later)


def nobody_scored(result: CleanResult) -> str | None:
    """Why no customer of `result` can be scored, and what to do (None when some can): every
    customer's revenue is zero or less after netting returns, or none has a purchase left."""
    ledger = result.customer_ledger
    counts = ledger.groupby("outcome")["customers"].sum()
    if counts.get("scored", 0) > 0:  # floored customers alone all have revenue 0: nothing to rank
        return None
    customers = int(counts.sum())
    floored = int(counts.get("floored", 0))
    why = ", ".join(f"{r.rule}: {r.customers}" for r in ledger.itertuples() if r.outcome == "set_aside" and r.customers)
    what = (f"{plural_form(customers, 'the 1 customer has', f'all {customers} customers have', 'en')} revenue "
            "zero or less after netting returns"
            + (f" ({floored} would be scored at revenue 0 under cleaning.returns.net_negative: floor, which ranks "
               "nobody)" if floored else f" ({why})"))
    if result.returns and result.returns["action"] == "net":
        hint = (f"check that cleaning.returns marks only returns and cancellations ("
                f"{counted(result.returns['lines'], 'line was', 'lines were', ',')} netted as returns) and that purchases have positive amounts, or set cleaning.returns.action: "
                "drop to keep the purchases as they are")
    else:
        hint = ("check the sign of the amount column (purchases must be positive), or set "
                "cleaning.non_positive_amount: set_aside")
    return f"no customer can be scored: {what}; {hint}"


CANONICAL_TYPES = {"source_row": "int64", "customer_id": "string", "order_id": "string",
                   "ordered_at": "datetime64[us]", "quantity": "float64",
                   "unit_price": "float64", "category": "string", "product": "string", "channel": "string",
                   "status": "string", "currency": "string", "fixes": "string", "problem_rule": "string",
                   "detail": "string",
                   "raw_customer_id": "string",
                   "content": "int64"}


def with_canonical_types(transactions: pd.DataFrame) -> pd.DataFrame:
    """The frame with every canonical column in its type, so that an all-missing column still has one."""
    present = {c: kind for c, kind in CANONICAL_TYPES.items() if c in transactions.columns}
    return transactions.astype(present)


def prepare(transactions: pd.DataFrame, decimal: str = ".", day_first: bool | None = None,
            minor_unit: int = 2, max_amount: float = 1e12, time_zone: str | None = None,
            currency_code: str | None = None, headers: dict[str, str] | None = None
            ) -> tuple[pd.DataFrame, pd.DataFrame | None, list[dict]]:
    """Read text values into types (fixing what is certain) and note, per row, the fixes made
    (`fixes`) and the first value that could not be read or kept (`problem_rule`, `detail`).
    Customer ids are normalised where the same id is certain (`segkit.intake.parsing.parse_id`);
    dates follow `day_first` (None: the column decides) and `time_zone` (`parse_datetime`).
    A column of true/false or nested values mapped to an amount, date or id is refused
    (DataError naming it).

    `amount` becomes exact: DECIMAL(18, minor_unit) as an Arrow column, rounded once half away from
    zero from the number as written (`quantity × unit_price` from the exact product); missing where
    the line is set aside for its amount (not finite, or above `max_amount` in size). A
    `refund_amount` is read and made exact the same way, its problems named after the amount's (with
    its own column named).

    Returns the typed frame (with `content`, a hash of the row's original text, when the input has
    text), the original text of each row (`raw_<column>`, with `source_row`), or None when the
    input had no text to keep, and the notes of what the columns as a whole decided (the day/month
    order of the dates: see `Parsed.note`) or showed (amounts written in another currency than
    `currency_code`: see `other_currency_note`). A note and a row's detail name the column as the
    file does, where `headers` (by default `transactions.attrs["columns"]`, as a file's intake sets
    it) maps segkit's name to the file's header, else by segkit's name.
    """
    tx = transactions.reset_index(drop=True)
    if "source_row" not in tx.columns:
        raise DataError("the transactions have no source_row column; read them with segkit.load_source")
    present = [c for c in (*OUTPUT_COLUMNS[1:], *INPUT_EXTRAS) if c in tx.columns]
    for column in ("customer_id", "order_id", "ordered_at", "amount", "quantity", "unit_price", "refund_amount"):
        if column in present:
            refuse_odd_values(tx[column], column)
    if headers is None:
        headers = transactions.attrs.get("columns", {})  # the file's own names (`sources.to_canonical`)

    named = named_in(headers)  # a column as the file names it

    def text_ids(column: str) -> bool:
        return is_text(tx[column]) and not pd.api.types.is_object_dtype(tx[column].dtype)

    for column in ("customer_id", "order_id"):  # cells (floats beyond 2**53) before they are read
        if column in present and not text_ids(column):
            refuse_rounded_ids(tx[column], column, named(column), tx["source_row"])
    parsed: dict[str, Parsed] = {}
    for column in present:
        if column == "ordered_at":
            parsed[column] = parse_datetime(tx[column], day_first=day_first, time_zone=time_zone,
                                            source_rows=tx["source_row"])
        elif column in ("amount", "quantity", "unit_price", "refund_amount"):
            parsed[column] = parse_amount(tx[column], decimal=decimal)
        elif column == "customer_id":
            parsed[column] = parse_id(tx[column])
        else:
            parsed[column] = parse_text(tx[column], labels=column in LABELS)
    # text ids as the text fixes read them (invisible characters, full width, a formula's or an entity's
    # text: "1.2E+12\u200b" is a rounded id), as the engine judges them
    for column in ("customer_id", "order_id"):
        if column in present and text_ids(column):
            refuse_rounded_ids(parsed[column].values, column, named(column), tx["source_row"])
    notes = [dict(one.note, column=named(column)) for column, one in parsed.items() if one.note is not None]
    for column in ("order_id", "customer_id"):  # long ids a spreadsheet may have rounded to 15 digits: said
        note = long_ids_note(parsed[column].values, column, named(column)) if column in present and text_ids(column) \
            else None
        notes += [note] if note else []
    if transactions.attrs.get("preset_hint"):  # the file's columns are a system's export, read without its preset
        notes.append(preset_hint_note(transactions.attrs["preset_hint"]))
    for column in ("amount", "unit_price", "refund_amount"):
        note = other_currency_note(parsed[column], tx[column], named(column),
                                   currency_code) if column in parsed else None
        notes += [note] if note else []
    for column in ("amount", "quantity", "unit_price", "refund_amount"):
        note = other_decimal_note(parsed[column], tx[column], named(column),
                                  decimal) if column in parsed else None
        notes += [note] if note else []
    out = pd.DataFrame({"source_row": tx["source_row"].to_numpy()})
    for column in present:
        out[column] = parsed[column].values.to_numpy()
    derived = "amount" not in present and {"quantity", "unit_price"} <= set(present)
    amount, non_finite, implausible, written = _exact_amounts(tx, parsed, derived, minor_unit, max_amount, named)
    from segkit.intake.presets import AS_EXPORTED, FILLED_FROM_ORDER

    # an export's order fields that a preset filled in from the order's first line: a fix of the row
    filled = [Parsed(None, {"filled_from_order": tx[FILLED_FROM_ORDER].astype(bool)})] if FILLED_FROM_ORDER in tx else []
    out["fixes"] = fixes_per_row([*filled, *parsed.values()], tx.index).to_numpy()
    if "customer_id" in parsed:  # an id that was normalised keeps, beside it, the id as it came
        changed = pd.Series(False, index=tx.index)
        for mask in parsed["customer_id"].fixes.values():
            changed = changed | mask
        if changed.any():
            out["raw_customer_id"] = tx["customer_id"].astype("string").where(changed).to_numpy()

    checks = [("unreadable_date", "ordered_at"), ("unreadable_amount", "amount"),
              ("unreadable_amount", "unit_price"),
              ("unreadable_amount" if derived else "unreadable_quantity", "quantity"),
              ("unreadable_amount", "refund_amount")]
    rule = pd.Series(pd.NA, index=tx.index, dtype="string")
    detail = pd.Series(pd.NA, index=tx.index, dtype="string")
    for name, column in checks:
        if column not in parsed:
            continue
        bad = parsed[column].unreadable() & rule.isna()
        if bad.any():
            rule = rule.mask(bad, name)
            words = named(column) + ' "' + tx[column].astype("string") + '" ' + parsed[column].problem
            detail = detail.mask(bad, words)
    limit = f"cleaning.max_amount {max_amount:g}"

    def set_aside_amounts(column: str, non_finite, implausible, written, what: str):
        """The rows whose `column` is not finite or implausible, set aside (a row keeps its first problem)."""
        nonlocal rule, detail
        for name, bad, words in (
                ("non_finite_amount", non_finite, ' is not a finite number'),
                ("implausible_amount", implausible, f" is above {limit} in size: {what}, never summed")):
            bad = bad & rule.isna()
            if bad.any():
                rule = rule.mask(bad, name)
                # an Arrow NaN has no text: name it as what it is
                detail = detail.mask(bad, written(bad).fillna(named(column) + ' "NaN"') + words)

    if amount is not None:
        set_aside_amounts("amount", non_finite, implausible, written, "an implausible line")
        out["amount"] = amount.where(rule.isna().to_numpy() | ~(non_finite | implausible).to_numpy())
    if "refund_amount" in parsed:  # exact as the amount is, and set aside (naming its column) as it would be
        refund = pd.DataFrame({"amount": tx["refund_amount"]})
        units, non_finite, implausible, written = _exact_amounts(refund, {"amount": parsed["refund_amount"]}, False,
                                                                 minor_unit, max_amount, lambda _: named("refund_amount"))
        set_aside_amounts("refund_amount", non_finite, implausible, written, "implausible")
        out["refund_amount"] = units.where(~(non_finite | implausible).to_numpy())
    out["problem_rule"] = rule.to_numpy()
    out["detail"] = detail.to_numpy()

    text_columns = [c for c in present if is_text(tx[c])]
    originals = None
    if text_columns:
        # exact duplicates are rows whose values, as they came in, are all the same: the whole row
        # when intake hashed it (`content`, every column of the file), else the columns given
        if "content" not in tx.columns:
            as_given = tx[present].astype("string").fillna("\x00")
            out["content"] = pd.util.hash_pandas_object(as_given, index=False).to_numpy().view("int64")
        # the values as exported, where a preset filled them in (`segkit.intake.presets.rewrite_values`)
        originals = pd.DataFrame({f"raw_{c}": tx[f"{AS_EXPORTED}{c}" if f"{AS_EXPORTED}{c}" in tx else c].astype("string")
                                  for c in text_columns}, index=tx.index)
        originals.insert(0, "source_row", tx["source_row"].to_numpy())
    if "content" in tx.columns:
        out["content"] = tx["content"].to_numpy(dtype="int64")
    typed = with_canonical_types(out)
    if amount is not None:
        typed["amount"] = decimal_array(typed["amount"], minor_unit)
    if "refund_amount" in typed.columns:
        typed["refund_amount"] = decimal_array(typed["refund_amount"], minor_unit)
    return typed, originals, notes


def preset_hint_note(name: str) -> dict:
    """The note that a file's columns are the export of preset `name`'s system, read without the preset."""
    from segkit.intake.presets import load_preset

    preset = load_preset(name)
    return {"key": "preset_hint", "preset": preset.name, "system": {"en": preset.system, "zh": preset.system_zh}}


def other_currency_note(parsed: Parsed, written: pd.Series, column: str, currency_code: str | None,
                        counts: pd.Series | None = None) -> dict | None:
    """The note (`currency_sign_differs`) for the amounts of `column` read from text with a currency
    sign or code that cannot stand for `currency_code` (params currency.code; see
    `segkit.intake.parsing.SIGN_CURRENCIES`): `signs`, most rows first, how many `rows`, the first
    such value as written (`example`), and the `code`. Such rows are kept as written: money is not
    converted. None when there are none, or no currency is stated. `counts`: the rows each value
    stands for, where `written` are a column's distinct values (as `parse_datetime` takes them).

    >>> from segkit.intake.parsing import parse_amount
    >>> amounts = pd.Series(["$12.50", "¥3", "€4", "$5"])
    >>> other_currency_note(parse_amount(amounts), amounts, "amount", "CNY")["signs"]
    '$, €'
    >>> other_currency_note(parse_amount(amounts), amounts, "amount", "JPY")["rows"]
    3
    """
    if currency_code is None or parsed.currency is None:
        return None
    signs = parsed.currency
    foreign = [sign for sign in signs.dropna().unique() if currency_code not in SIGN_CURRENCIES[sign]]
    if not foreign:
        return None
    other = signs.isin(foreign).fillna(False).astype(bool)
    weights = pd.Series(1, index=signs.index) if counts is None else pd.Series(counts.to_numpy(), index=signs.index)
    per_sign = weights[other].groupby(signs[other]).sum()
    order = sorted(foreign, key=lambda sign: (-per_sign[sign], foreign.index(sign)))  # ties: as first written
    return {"key": "currency_sign_differs", "column": column, "signs": ", ".join(order), "rows": int(weights[other].sum()),
            "example": str(written[other].iloc[0]), "code": currency_code}


def other_decimal_note(parsed: Parsed, written: pd.Series, column: str, decimal: str,
                       counts: pd.Series | None = None) -> dict | None:
    """The note (`decimal_mark_differs`) for a column of numbers written with the other decimal mark
    than `decimal` (params cleaning.decimal): some of its values cannot be read with `decimal`, and
    every value can with the other mark. The values unreadable (`rows`), the first as written
    (`example`), the mark stated (`decimal`) and the other (`other`); None otherwise. `counts` as
    for `other_currency_note`.

    >>> from segkit.intake.parsing import parse_amount
    >>> amounts = pd.Series(["€298,93", "69,21", "12"])
    >>> note = other_decimal_note(parse_amount(amounts), amounts, "Betrag", ".")
    >>> note["rows"], note["example"], note["other"]
    (2, '€298,93', ',')
    >>> other_decimal_note(parse_amount(amounts, ","), amounts, "Betrag", ",") is None
    True
    """
    if parsed.problem is None:
        return None
    hinted = (parsed.problem == OTHER_MARK[decimal]).fillna(False).astype(bool)
    if not hinted.any() or (parsed.unreadable() & ~hinted).any():
        return None
    other = "," if decimal == "." else "."
    if parse_amount(written, decimal=other).unreadable().any():  # the other mark must read the whole column
        return None
    rows = int(hinted.sum()) if counts is None else int(counts[hinted.to_numpy()].sum())
    return {"key": "decimal_mark_differs", "column": column, "rows": rows,
            "example": str(written[hinted].iloc[0]), "decimal": decimal, "other": other}


def _exact_amounts(tx: pd.DataFrame, parsed: dict[str, Parsed], derived: bool, minor_unit: int, max_amount: float,
                   named=lambda column: column):
    """Each line's amount in minor units (Int64), which lines are not finite or implausible, and a
    function giving how the amount of the rows marked was written (for the detail, naming the
    columns as `named` gives them); all None when there is no amount."""
    if derived:
        quantity, price = parsed["quantity"], parsed["unit_price"]
        number = quantity.values.astype("float64") * price.values.astype("float64")

        def exact(rows):
            return [a * b for a, b in zip(exact_decimals(quantity, rows), exact_decimals(price, rows))]

        def written(rows):
            return (f"{named('quantity')} × {named('unit_price')} " + tx["quantity"].where(rows).astype("string")
                    + " × " + tx["unit_price"].where(rows).astype("string"))
        # a product of two finite numbers that overflows is no more finite than it is plausible
        given_infinite = pd.Series(False, index=tx.index)
    elif "amount" in parsed:
        amount = parsed["amount"]
        number = amount.values.astype("float64")

        def exact(rows):
            return exact_decimals(amount, rows)

        def written(rows):  # only for the rows set aside: formatting every number costs time
            return named("amount") + ' "' + tx["amount"].where(rows).astype("string") + '"'
        given_infinite = _not_finite(tx["amount"])
    else:
        return None, None, None, None
    units, over = to_minor_units(number, minor_unit, exact)
    if derived:
        finite_parts = quantity.values.notna() & price.values.notna()
        over = over | (finite_parts & ~np.isfinite(number.to_numpy(dtype="float64", na_value=np.nan)))
    largest = max_units(max_amount, minor_unit)
    implausible = (over | (units.abs() > largest).fillna(False)).astype(bool)
    return units, given_infinite, implausible, written


def _future_bound(table: ibis.Table) -> tuple[dt.date | None, int]:
    """The last plausible date when no as-of date is given: FUTURE_MARGIN_DAYS after the
    FUTURE_QUANTILE of all readable dates, and how many rows are dated after it.

    The quantile interpolates linearly between the two dates around position q·(n−1) in date order
    (type 7 of Hyndman & Fan 1996, numpy's default). On a few rows the bound then lies most of
    the way to the last date, so a date is set aside only when it is far beyond the rest (with
    five rows, about 21 years: 2999 for 2024 is caught, a real late order is not); on a thousand
    rows or more, anything more than a month after the 99.9% of the dates. Counted in the engine,
    exactly, with a sort (portable to every backend)."""
    dated = table.filter(table.ordered_at.notnull())
    count = int(dated.count().to_pyarrow().as_py())
    if count == 0:
        return None, 0
    position = FUTURE_QUANTILE * (count - 1)
    below = int(np.floor(position))
    # the two dates by their rank (Ibis' offset on Spark numbers rows in no stated order)
    ranked = dated.select(dated.ordered_at, _rank=ibis.row_number().over(order_by=dated.ordered_at))
    around = ranked.filter(ranked._rank.between(below, below + 1)).order_by("_rank").select("ordered_at")
    around = around.to_pyarrow().column(0)
    low = around[0].as_py()
    high = around[len(around) - 1].as_py()
    quantile = low + (high - low) * (position - below)
    try:
        bound = quantile.date() + dt.timedelta(days=FUTURE_MARGIN_DAYS)
    except OverflowError:  # the dates reach year 9999: nothing lies beyond
        return dt.date.max, 0
    beyond = int(dated.filter(dated.ordered_at.date() > ibis.date(bound)).count().to_pyarrow().as_py())
    return bound, beyond


def _mark_implausible_dates(table: ibis.Table, min_date: dt.date, future_after: dt.date | None,
                            column: str = "ordered_at", today: dt.date | None = None,
                            as_of_given: bool = False) -> ibis.Table:
    """The table with `problem_rule` and `detail` (added where a typed source has none) naming the
    rows dated before `min_date` (implausible_past_date), after `future_after` (implausible_future_date)
    or else after `today` (future_date: not a purchase that happened, however near), unless an earlier
    rule already holds them; judged by `judge`. The detail names the date column `column` (the
    source's name for it). `as_of_given`: the run's as-of date was stated, so the detail of a date far
    beyond the others says that a later as_of reads it (else: that stating one does)."""
    if "problem_rule" not in table.columns:
        table = table.mutate(problem_rule=ibis.null(str))
    if "detail" not in table.columns:
        table = table.mutate(detail=ibis.null(str))
    free = table.problem_rule.isnull() | table.problem_rule.isin(_AFTER_DATE_RULES)
    day = table.ordered_at.date()
    written = ibis.literal(f"{column} ").concat(day.cast("string"))
    past = (free & (day < ibis.date(min_date))).fill_null(False)
    future = (free & (day > ibis.date(future_after))).fill_null(False) if future_after else ibis.literal(False)
    # after the latest date a shop anywhere can have today (the machine's date and a day for time zones)
    ahead = (free & (day > ibis.date(latest_possible_date(today)))).fill_null(False) if today else ibis.literal(False)
    # a date far beyond nearly all the others stays a typo (2099 for 2026); any other after today is in the future
    rule = ibis.cases((past, "implausible_past_date"), (future, "implausible_future_date"), (ahead, "future_date"),
                      else_=table.problem_rule)
    detail = ibis.cases(
        (past, written.concat(f" is before cleaning.min_date {min_date}: a typo? (set min_date for older data)")),
        (future, written.concat(f" is more than {FUTURE_MARGIN_DAYS} days after nearly all the others (after "
                                f"{future_after}): a typo? " + ("(an as_of on or after it reads it)" if as_of_given
                                                                else "(state as_of to use it)"))),
        (ahead, written.concat(f" is after today ({today}): not a purchase that happened (a test order, or a "
                               "clock set wrong)")),
        else_=table.detail)
    return table.mutate(problem_rule=rule, detail=detail)


def _not_finite(values: pd.Series) -> pd.Series:
    """Which typed numbers are infinite, or NaN where the column tells NaN from missing (an Arrow
    float column, as Parquet holds them when read with Arrow types; a NumPy float column uses NaN
    for missing, so there NaN is missing). Text is never marked here: "inf" is not an amount."""
    no = pd.Series(False, index=values.index)
    if is_text(values):
        return no
    if isinstance(values.dtype, pd.ArrowDtype) and pa.types.is_floating(values.dtype.pyarrow_dtype):
        import pyarrow.compute as pc

        array = pa.array(values.array)
        flags = pc.fill_null(pc.or_(pc.is_nan(array), pc.is_inf(array)), False)
        return pd.Series(flags.to_numpy(zero_copy_only=False).astype(bool), index=values.index)
    raw = pd.to_numeric(values, errors="coerce")
    return pd.Series(np.isinf(raw.to_numpy(dtype="float64", na_value=np.nan)), index=values.index)


def _complete(table: ibis.Table) -> ibis.Table:
    """Derive what a source may lack: the order number (one order per customer and day)."""
    if "order_id" not in table.columns:
        table = table.mutate(order_id=as_text(table.customer_id).concat("-", table.ordered_at.strftime("%Y%m%d")))
    return table


def total_line(table: ibis.Table) -> ibis.BooleanValue:
    """Whether a row is an export's own total line (rule `totals_row`): a label of `TOTALS_LABELS` in
    the customer column, or (the customer empty) in the order column, where an export that starts with
    the order number writes it ("合计,,,¥621,785.36")."""
    def label(column: str):
        value = table[column]
        return value.strip().lower().isin(list(TOTALS_LABELS)) if value.type().is_string() else ibis.literal(False)

    totals = label("customer_id")
    if "order_id" in table.columns:
        totals = totals | (_missing_id(table.customer_id) & label("order_id"))
    return totals


def _missing_id(column: ibis.Value) -> ibis.BooleanValue:
    """Whether an id is missing: null, or text that is empty or blank (a number is never blank)."""
    return column.isnull() | (column.strip() == "") if column.type().is_string() else column.isnull()


def exact_amount(amount: ibis.NumericValue, minor_unit: int, max_amount: float
                 ) -> tuple[ibis.DecimalValue, ibis.BooleanValue, ibis.BooleanValue]:
    """A typed amount column made exact in its engine: the DECIMAL(18, minor_unit) amount (missing
    where it is not kept), and which values are not finite, and which are implausible (above
    `max_amount` in size once rounded). Floats are rounded from their shortest text, half away from
    zero, as `segkit.intake.parsing.to_minor_units` does for files; a value is cast only when it
    fits, so nothing overflows."""
    no = ibis.literal(False)
    floating = amount.type().is_floating()
    # not isinf(): Ibis 12 compiles it to FALSE on Spark; a comparison with infinity runs everywhere
    if floating:
        infinite = amount.abs() == ibis.literal(float("inf"), type=amount.type())
        non_finite = (amount.isnan() | infinite).fill_null(False)
    else:  # a DECIMAL or integer column holds no infinity (and an infinite literal of its type cannot exist)
        non_finite = no
    half = 0.5 / 10 ** minor_unit
    largest = max_units(max_amount, minor_unit) / 10 ** minor_unit
    implausible = ((amount.abs() >= largest + half) & ~non_finite).fill_null(False)
    kept = ibis.cases((amount.notnull() & ~non_finite & ~implausible, amount), else_=ibis.null(amount.type()))
    # DuckDB casts a double to DECIMAL from its binary value (583488.955, stored a hair below the
    # half, becomes .95); from its shortest text, DuckDB and PostgreSQL both round what was typed
    if not floating:
        return kept.cast(amount_type(minor_unit)), non_finite, implausible
    # The text is slow (a float-to-text conversion per line): a float whose minor units are not
    # near a half rounds the same from its binary value (the shortest text and the binary value
    # differ by less than an ulp), so only the amounts near a half (x.xx5) go through their text.
    units = kept * 10 ** minor_unit
    size = units.abs()
    near_half = ((size - size.floor() - 0.5).abs() <= size * 1e-12 + 1e-9).fill_null(False)
    whole = ibis.cases((units >= 0, (units + 0.5).floor()), else_=(units - 0.5).ceil())  # half away from zero
    from_binary = (whole / 10 ** minor_unit).cast(amount_type(minor_unit))
    exact = ibis.ifelse(near_half, kept.cast("string").cast(amount_type(minor_unit)), from_binary)
    return exact, non_finite, implausible


def check_rule_columns(rules: Cleaning, columns) -> None:
    """Raise the DataError that names the column a cleaning rule needs and `columns` (segkit's names
    of the mapped columns) lack: returns marked by status or by a negative quantity, matched by product,
    an order-number prefix. For the run and for `segkit check` (before any row is read)."""
    returns = rules.returns
    columns = set(columns)
    if returns.order_prefix and "order_id" not in columns:
        raise DataError(f"cleaning.returns.order_prefix {returns.order_prefix!r} needs an order number: map order_id in "
                        "the column map (without one, orders are customer-day keys, and the prefix would match customer ids)")
    if returns.status_values and "status" not in columns:
        raise DataError("cleaning.returns.status_values needs the status column: map it in the column map "
                        "(columns: {status: <your column>})")
    if rules.unpaid_status_values and "status" not in columns:
        raise DataError("cleaning.unpaid_status_values needs the status column: map it in the column map "
                        "(columns: {status: <your column>})")
    if returns.negative_quantity and "quantity" not in columns:
        raise DataError("cleaning.returns.negative_quantity needs the quantity column: map it in the column map")
    marked = returns.order_prefix or returns.status_values or returns.negative_quantity
    if marked and returns.match == "product" and "product" not in columns:
        raise DataError("cleaning.returns.match: product needs the product column: map it in the column map "
                        "(columns: {product: <your column, e.g. StockCode>}), or use match: order_number")


# the blanks a label may carry around it and still match a listed text (`judge`'s non_product, repeated_header)
_BLANKS_AROUND = 8


def judge(table: ibis.Table, as_of: dt.date, rules: Cleaning, minor_unit: int = 2,
          headers: dict[str, str] | None = None, currency_code: str | None = None) -> ibis.Table:
    """The table with each row's `outcome` (used, fixed, set_aside), `rule` (the fixes made, or the
    rule broken), `reason` and `detail`, and the values after the fixes: one lazy expression.
    `amount` comes out as DECIMAL(18, minor_unit) (see `exact_amount`). A detail names a column as
    `headers` maps it (segkit's name -> the source's), else by segkit's name. With a `currency`
    column and `currency_code` (the run's), a line whose currency is another one is `other_currency`
    (`other_currency_test`). With a `refund_amount` column (exact as `amount`), a line not marked as a
    return counts at its amount less its refund, one refunded in full is set aside, and one whose
    refund is below zero or above its amount is `implausible_refund` (`segkit.intake.refunds`); the
    judged rows then carry `refund_whole`, the lines refunded in full."""
    named = named_in(headers)

    t = table
    has = set(t.columns)
    no = ibis.literal(False)
    # A typed source (a database) has no text that failed to read: only missing values.
    readable = t.problem_rule.isnull() if "problem_rule" in has else ibis.literal(True)

    def unreadable(rule: str) -> ibis.BooleanValue:
        return (t.problem_rule == rule) if "problem_rule" in has else no

    amount_tests = {"non_finite_amount": unreadable("non_finite_amount"),
                    "implausible_amount": unreadable("implausible_amount")}
    amount_said = {}
    missing = t.amount.isnull() & readable
    if t.amount.type() != amount_type(minor_unit):  # a typed source: made exact here, in its engine
        exact, non_finite, implausible = exact_amount(t.amount, minor_unit, rules.max_amount)
        t = t.mutate(amount=exact, _amount_missing=t.amount.isnull(), _non_finite_amount=non_finite,
                     _implausible_amount=implausible,
                     _amount_given=t.amount)
        has = set(t.columns)
        missing = t._amount_missing
        amount_tests = {"non_finite_amount": t._non_finite_amount, "implausible_amount": t._implausible_amount}
        # written out only in the detail of the rows set aside (a CASE branch): not for every row
        if headers and "amount" not in headers and {"quantity", "unit_price"} <= set(headers):  # derived at intake
            written = ibis.literal(f"{named('quantity')} × {named('unit_price')} ").concat(
                _as_written(t.quantity), " × ", _as_written(t.unit_price))
        else:
            written = ibis.literal(named("amount") + ' "').concat(_as_written(t._amount_given), '"')
        amount_said = {"non_finite_amount": written.concat(" is not a finite number"),
                       "implausible_amount": written.concat(
                           f" is above cleaning.max_amount {rules.max_amount:g} in size: an implausible line, "
                           "never summed")}
    if "refund_amount" in has and t.refund_amount.type() != amount_type(minor_unit):
        # a typed refund (a database's, a file's plain numbers) made exact here, as the amount is; one that
        # cannot be kept sets its line aside as an amount would, the detail naming the refund's column
        exact, non_finite, implausible = exact_amount(t.refund_amount, minor_unit, rules.max_amount)
        t = t.mutate(refund_amount=exact, _refund_non_finite=non_finite, _refund_implausible=implausible,
                     _refund_given=t.refund_amount)
        has = set(t.columns)
        written = ibis.literal(named("refund_amount") + ' "').concat(_as_written(t._refund_given), '"')
        for rule, test, words in (
                ("non_finite_amount", t._refund_non_finite, written.concat(" is not a finite number")),
                ("implausible_amount", t._refund_implausible, written.concat(
                    f" is above cleaning.max_amount {rules.max_amount:g} in size: implausible, never summed"))):
            first = amount_tests[rule].fill_null(False)
            amount_said[rule] = ibis.ifelse(first, amount_said.get(rule, t.detail if "detail" in has
                                                                   else ibis.null(str)), words)
            amount_tests[rule] = first | test

    engine_fixes: dict[str, ibis.BooleanValue] = {}
    values: dict[str, ibis.Value] = {}
    for column in ("category", "channel", "product", "quantity"):
        filler = getattr(rules.fill, column)
        if filler is not None and column in has:
            engine_fixes[f"filled_{column}"] = t[column].isnull()
            values[column] = t[column].fill_null(filler)

    returns = rules.returns
    check_rule_columns(rules, has)
    marks = []
    by_status = None
    if returns.order_prefix:
        marks.append(as_text(t.order_id).startswith(returns.order_prefix))
    if returns.status_values:
        by_status = t.status.strip().lower().isin([k for v in returns.status_values for k in status_keys(v)])
        marks.append(by_status)
    if returns.negative_quantity:
        marks.append(t.quantity < 0)
    is_return = ibis.or_(*marks).fill_null(False) if marks else no
    netted = is_return if returns.action == "net" else no
    refunds = refund_tests(t.amount, t.refund_amount, is_return) if "refund_amount" in has else None
    if refunds is not None:  # a refund on the line: the amount less it (`segkit.intake.refunds`)
        engine_fixes["refund_netted"] = refunds.partial
        values["amount"] = ibis.ifelse(netted, -t.amount.abs(), net_amount(t.amount, t.refund_amount, refunds))
        refund_words = ibis.literal(named("refund_amount") + ' "').concat(_as_written(t.refund_amount), '"')
    engine_fixes["return_netted"] = netted
    if refunds is None:
        values["amount"] = ibis.ifelse(netted, -t.amount.abs(), t.amount)
    if returns.order_prefix and returns.action == "net":
        prefix = returns.order_prefix
        order = as_text(t.order_id)
        values["order_id"] = ibis.ifelse(netted & order.startswith(prefix), order.substr(len(prefix)), order)

    content = [t.content] if "content" in has else [t[c] for c in (*OUTPUT_COLUMNS[1:], *INPUT_EXTRAS) if c in has]
    keys = [t[c] for c in LINE_KEYS if c in has]
    # each row's copy number and the first row of its group, as columns that the rules below read
    if _embedded(t):  # DuckDB: each group's first row by an aggregate joined back (hash tables, no sort)
        # the order line's keys first: an exact copy (same content) is a copy of the line too
        t = _with_first_rows(t, {"_line_first": keys, "_exact_first": content})
        # source_row is a line number, unique: a row is a copy when it is not its group's first
        t = t.mutate(_exact_copy=ibis.ifelse(t.source_row == t._exact_first, 0, 1),
                     _line_copy=ibis.ifelse(t.source_row == t._line_first, 0, 1))
    else:  # a database or Spark: windows (PostgreSQL cannot hash-join the null-safe keys)
        t = t.mutate(_exact_copy=ibis.row_number().over(group_by=content, order_by=t.source_row),
                     _exact_first=t.source_row.min().over(group_by=content),
                     _line_copy=ibis.row_number().over(group_by=keys, order_by=t.source_row),
                     _line_first=t.source_row.min().over(group_by=keys))
    exact_copy, exact_first, line_copy, line_first = t._exact_copy, t._exact_first, t._line_copy, t._line_first
    # compared with every full-width mark made ASCII on both sides: a label keeps its Chinese punctuation
    # (运费（补差）), and the params may write it either way (运费(补差)) or copy it from the file
    lowered = sorted({normalised_value(v).lower() for v in rules.non_product})
    wide, narrow = FULL_WIDTH_MARKS

    def folded_in(column: str, keys) -> ibis.BooleanValue:
        """The trimmed text of `column`, lowered and its full-width marks made ASCII, is one of `keys` (lowered,
        folded). Trimming and folding cost (translate ~10 s per million values in DuckDB, trim ~0.35 s per
        million): they run, a CASE branch (an AND's right side is
        evaluated all the same inside the rules' CASE: 2x slower), only on values as long as a key or a few
        blanks longer (folding keeps a text's length), never on every row's text, and the folding only on
        values with a character outside printable ASCII (a regular expression, ~0.2 s per million): the
        rest fold to themselves. Shopify's order names (`#1234`, as long as the key `name`) took 6-9 s of
        1M lines' cleaning in translate."""
        lengths = [len(k) for k in keys]
        value = t[column]
        plain = value.strip().lower()
        return ibis.ifelse(value.length().between(min(lengths), max(lengths) + _BLANKS_AROUND),
                           ibis.ifelse(value.re_search("[^ -~]"), plain.translate(wide, narrow).isin(list(keys)),
                                       plain.isin(list(keys))), False)

    non_product = ibis.or_(*[folded_in(c, lowered) for c in ("category", "product") if c in has]) \
        if lowered and ({"category", "product"} & has) else no

    # the header row again midway (two exports pasted together): most of the text columns hold their own names
    # (compared as the source names them, `named`; a frame with segkit's names: those)
    named_columns = [c for c in (*OUTPUT_COLUMNS[1:], *INPUT_EXTRAS) if c in has and t[c].type().is_string()]
    if len(named_columns) >= 2:
        folded = str.maketrans(wide, narrow)
        # a CASE, not a cast: PostgreSQL casts no boolean to a small integer
        hits = [ibis.ifelse(folded_in(c, [named(c).strip().lower().translate(folded)]).fill_null(False), 1, 0)
                for c in named_columns]
        total_hits = functools.reduce(operator.add, hits)
        repeated_header = (total_hits >= 2) & (total_hits * 2 > len(named_columns))
    else:
        repeated_header = no
    totals = total_line(t)
    guests = [str(g).strip().lower() for g in rules.guest_ids]
    guest = t.customer_id.cast("string").strip().lower().isin(guests) if guests else no
    tests = {
        "repeated_header": repeated_header,
        "totals_row": totals,
        "missing_customer_id": _missing_id(t.customer_id) | guest,
        "missing_date": t.ordered_at.isnull() & readable,
        "unreadable_date": unreadable("unreadable_date"),
        "implausible_past_date": unreadable("implausible_past_date"),
        "implausible_future_date": unreadable("implausible_future_date"),
        "future_date": unreadable("future_date"),
        "missing_amount": missing,
        "unreadable_amount": unreadable("unreadable_amount"),
        "unreadable_quantity": unreadable("unreadable_quantity"),
        **amount_tests,
        "implausible_refund": refunds.implausible if refunds is not None else no,
        "other_currency": other_currency_test(t.currency, currency_code) if "currency" in has else no,
        "before_start": t.ordered_at.date() < ibis.date(rules.start_date) if rules.start_date else no,
        "after_as_of": t.ordered_at.date() > ibis.date(as_of),
        "duplicate": exact_copy > 0 if rules.duplicates == "drop" else no,
        "duplicate_order_line": (line_copy > 0) & (exact_copy == 0) if rules.duplicate_order_lines == "drop" else no,
        "non_product": non_product,
        "unpaid_order": t.status.strip().lower().isin([k for v in rules.unpaid_status_values for k in status_keys(v)])
        if rules.unpaid_status_values else no,
        "return": is_return if returns.action == "drop" else no,
        "non_positive_amount": (t.amount <= 0) & ~is_return if rules.non_positive_amount == "set_aside" else no,
    }
    reason = ibis.cases(*[(test.fill_null(False), rule) for rule, test in tests.items()], else_=ibis.null(str))
    said = {
        "repeated_header": "the row repeats the column names: a header row again (exports pasted together), not data",
        "missing_customer_id": ibis.ifelse(guest, ibis.literal(named("customer_id") + ' "').concat(
            as_text(t.customer_id), '" is listed in cleaning.guest_ids: no one customer'),
            ibis.literal(f"{named('customer_id')} is empty")) if guests else f"{named('customer_id')} is empty",
        "totals_row": ibis.literal(named("customer_id") + ' "').concat(
            as_text(t.customer_id), '" is a total line\'s label, not a customer') if "order_id" not in has else
        ibis.ifelse(_missing_id(t.customer_id),
                    ibis.literal(named("order_id") + ' "').concat(as_text(t.order_id),
                                                                 '" is a total line\'s label, not an order'),
                    ibis.literal(named("customer_id") + ' "').concat(
                        as_text(t.customer_id), '" is a total line\'s label, not a customer')),
        "missing_date": f"{named('ordered_at')} is empty",
        "missing_amount": f"{named('amount')} is empty",
        "before_start": f"dated before cleaning.start_date {rules.start_date}",
        **({"other_currency": ibis.literal(named("currency") + ' "').concat(
            as_text(t.currency).strip(), f'" is not the run\'s currency ({currency_code}): its amounts are not '
            "converted, so the line is not summed with the others")} if "currency" in has and currency_code else {}),
        "after_as_of": f"dated after the as-of date {as_of}",
        "non_product": f"{named('category')} or {named('product')} is listed in cleaning.non_product",
        **({"unpaid_order": ibis.literal(named("status") + ' "').concat(
            as_text(t.status).strip(), '" is listed in cleaning.unpaid_status_values: an order never paid, no '
            "purchase")} if rules.unpaid_status_values else {}),
        "return": "a return or cancellation (cleaning.returns.action: drop)",
        "non_positive_amount": f"{named('amount')} is zero or negative and not marked as a return",
        **({"implausible_refund": implausible_refund_detail(refunds, refund_words, _as_written(t.amount))}
           if refunds is not None else {}),
    }
    # the reason first, as a column: the detail reads it (inlined, the rules' CASE ran once per detail)
    t = t.mutate(reason=reason)
    first_words = []
    if refunds is not None:  # a line refunded in full, no earlier rule breaks: no purchase (`segkit.intake.refunds`)
        t = set_aside_refunded_lines(t, refunds.whole, refund_words)
        first_words = [(t._refund_said.notnull(), t._refund_said)]
    detail = ibis.cases(
        *first_words,
        (t.reason == "duplicate", ibis.literal("same as row ").concat(exact_first.cast("string"))),
        (t.reason == "duplicate_order_line", ibis.literal("same order line as row ").concat(line_first.cast("string"))),
        *[(t.reason == rule, words) for rule, words in {**said, **amount_said}.items()],
        else_=t.detail if "detail" in has else ibis.null(str))
    flags = {f"_fix_{name}": test.fill_null(False) for name, test in engine_fixes.items()}
    marked = {"_return": is_return, "_return_document": as_text(t.order_id)} if marks else {}
    if by_status is not None:  # a line its status marks, at its amount and quantity as bought (not a refund record)
        as_bought = (t.amount > 0) & (t.quantity > 0) if "quantity" in has else t.amount > 0
        marked["_return_own"] = (by_status & as_bought).fill_null(False)
    if marks:  # where returns are marked, the ids as text (the cancellations' documents are): whole-number
        # ids stay numbers otherwise, until rows leave the engine (`engines.text_ids`)
        for column in ("customer_id", "order_id"):
            if column in has and column not in values and not t[column].type().is_string():
                values[column] = t[column].cast("string")
    judged = t.mutate(**values, detail=detail, **flags, **marked)

    outliers = rules.outliers
    if outliers.method != "none" or marks:  # on Spark, the windows above once: the outlier bounds and returns read them
        from segkit.intake.engines import kept_for_reuse

        judged = kept_for_reuse(judged)
    if outliers.method != "none":
        judged = _mark_outliers(judged, outliers, named("amount"))
    if marks:  # each cancellation finds the purchase it cancels, among the rows used (segkit.intake.returns)
        judged = net_returns(judged, action=returns.action, match=returns.match, order_prefix=returns.order_prefix,
                             refunded_orders=returns.refunded_orders)

    fixes = judged.fixes if "fixes" in has else ibis.literal("")
    fixes = fixes.fill_null("")
    made = [name for name in ENGINE_FIXES if f"_fix_{name}" in judged.columns]
    if made:  # the names joined only on the rows an engine fix changed (a CASE branch), not on every row
        joined = fixes
        for name in made:
            joined = joined.concat(ibis.ifelse(judged[f"_fix_{name}"], "+" + name, ""))
        fixes = ibis.ifelse(ibis.or_(*[judged[f"_fix_{name}"] for name in made]), joined.re_replace(r"^\+", ""), fixes)
    judged = judged.mutate(fixes=ibis.ifelse(judged.reason.isnull(), fixes, ""))
    flagged = judged.outlier if "outlier" in judged.columns else no
    outcome = ibis.cases((judged.reason.notnull(), "set_aside"), (judged.fixes != "", "fixed"), else_="used")
    rule = ibis.cases((judged.reason.notnull(), judged.reason), (judged.fixes != "", judged.fixes),
                      (flagged, "outlier_flagged"), else_="")
    internal = [c for c in judged.columns
                if c.startswith(("_fix_", "_amount_", "_non_finite_", "_implausible_", "_return", "_refund_", "_exact_",
                                 "_line_"))]
    if "content" in judged.columns:  # the row's hash found its copies above; never read after (not computed again)
        internal.append("content")
    from segkit.intake.engines import kept_for_reuse

    # on Spark, judged once: the ledger, quarantine and customer queries all read these rows
    # quantities and prices as the text readers give them (float64), also where a DECIMAL carried them this far
    floats = {c: judged[c].cast("float64") for c in ("quantity", "unit_price")
              if c in judged.columns and judged[c].type().is_decimal()}
    return kept_for_reuse(judged.mutate(outcome=outcome, rule=rule, **floats).drop(*internal))


def other_currency_test(currency: ibis.Value, code: str | None) -> ibis.BooleanValue:
    """Whether a line's currency (a column of ISO 4217 codes, as Shopify's Currency or Salesforce's
    CurrencyIsoCode: compared trimmed, in capitals, with the names people write for a code such as
    RMB) is a currency other than `code`, the run's (`params.currency.code`). Only a value known as a
    currency counts: an empty one, or one no currency is written so (a sign, a typo), is the run's."""
    from babel.numbers import list_currencies

    from segkit.params import CURRENCY_NAMES

    if code is None:
        return ibis.literal(False)
    same = {code, *[name for name, known in CURRENCY_NAMES.items() if known == code]}
    others = sorted((set(list_currencies()) | set(CURRENCY_NAMES)) - same)
    return as_text(currency).strip().upper().isin(others).fill_null(False)


def _as_written(value: ibis.NumericValue) -> ibis.StringValue:
    """A number as text for a detail: a DECIMAL without the zeros its scale adds ("100.005000" is
    "100.005", as the file wrote it), any other number as the engine writes it."""
    text = value.cast("string")
    if not value.type().is_decimal():
        return text
    return ibis.ifelse(text.contains("."), text.re_replace("0+$", ""), text).re_replace(r"\.$", "")


def _embedded(table: ibis.Table) -> bool:
    from segkit.intake.engines import runs_in_duckdb

    return runs_in_duckdb(table)


# Up to this many shared hashes, the rows that have one are found by a filter on a list of them.
_LISTED_DIGESTS = 20_000


def _with_first_rows(table: ibis.Table, groupings: dict[str, list]) -> ibis.Table:
    """`table` with, for each name of `groupings`, the smallest source_row among the rows with the same
    values of its columns (missing values equal to each other, as in a window's PARTITION BY).

    The groupings are nested, the coarsest first: rows equal in a later grouping's columns are equal
    in the first's (an exact copy is a copy of the order line; with intake's `content` hash, up to
    its collisions, about 1 in 2**64 per pair). Copies are rare, so no hash table of every row's
    values is built: the rows are counted once by a 64-bit hash of the first grouping's columns (the
    column itself for one integer column); a row whose hash no other row shares is its own first row
    in every grouping. Only the rows that share a hash (copies, and the rare collision) are grouped
    by their values; their first rows are computed at once (queries on the key columns) and joined
    back by source_row as small tables (by source_row and the values where a source_row is given
    twice)."""
    import ibis
    import pyarrow.compute as pc

    coarsest = [column.get_name() for column in next(iter(groupings.values()))]
    digest = _digest(table, coarsest)
    hashed = table.select(_digest=digest)
    shared = hashed.group_by("_digest").aggregate(_n=hashed.count())
    shared = shared.filter(shared._n > 1).select("_digest").to_pyarrow()  # one pass over the rows
    if shared.num_rows == 0:  # no two rows alike: each row is its own first row
        return table.mutate(**{name: table.source_row for name in groupings})
    names_of = {name: [column.get_name() for column in columns] for name, columns in groupings.items()}
    every = list(dict.fromkeys(n for names in names_of.values() for n in names))
    # the rows that share a hash, with every grouping's columns, in a second and last pass
    if shared.num_rows <= _LISTED_DIGESTS:  # filtered first: the columns are computed for those rows only
        candidates = table.filter(digest.isin(shared.column("_digest").to_pylist())).select("source_row", *every)
    else:
        candidates = table.select("source_row", *every, _digest=digest)
        candidates = candidates.semi_join(ibis.memtable(shared), "_digest").select("source_row", *every)
    candidates = ibis.memtable(candidates.to_pyarrow())
    joined = table
    kept = list(table.columns)
    for name, names in names_of.items():
        firsts = candidates.group_by(names).aggregate(_first=candidates.source_row.min()).view()
        pairs = candidates.join(firsts, [candidates[n].identical_to(firsts[n]) for n in names])
        values = {f"_value{i}": candidates[n] for i, n in enumerate(names)}
        found = pairs.select(_row=candidates.source_row, _first=firsts._first, **values).distinct()
        found = found.to_pyarrow()  # small tables in memory: the default engine
        # a source_row given twice (rows not numbered by intake) is told apart by the rows' values too
        by_row = pc.count_distinct(found["_row"], mode="all").as_py() == found.num_rows
        pairs = ibis.memtable(found.select(["_row", "_first"]) if by_row else found)
        left = joined
        on = [left.source_row == pairs._row]
        if not by_row:
            on += [left[n].identical_to(pairs[v]) for n, v in zip(names, values)]
        joined = left.left_join(pairs, on)
        joined = joined.select(*kept, **{name: ibis.coalesce(pairs._first, left.source_row)})
        kept.append(name)
    return joined


def _digest(table: ibis.Table, names: list[str]):
    """A 64-bit hash of the columns `names` of each row (equal values, missing ones included, give
    equal hashes); one integer column is its own digest."""
    import ibis

    only = table[names[0]]
    if len(names) == 1 and only.type().is_integer():  # missing as 0: equal to each other (a shared 0 is checked)
        return only.fill_null(0)
    return ibis.struct({n: table[n] for n in names}).hash()


def _mark_outliers(judged: ibis.Table, outliers, column: str = "amount") -> ibis.Table:
    """Flag amounts beyond the rule's bound among the rows still used (returns apart); cap or set
    them aside as the params say (the detail names the amount column `column`, as the source does).
    The bounds are computed in the engine (two small queries)."""
    kept = judged.filter(judged.reason.isnull() & (judged.amount > 0))
    amounts = kept.amount.cast("float64")  # the bounds are statistics, not money: computed in floats
    if outliers.method == "quantile":
        upper = amounts.quantile(outliers.cut).to_pyarrow().as_py()
        lower = None
    else:
        median = amounts.median().to_pyarrow().as_py()
        mad = None if median is None else (amounts - median).abs().median().to_pyarrow().as_py()
        if not mad:  # half the amounts are equal: no spread to measure outliers against
            upper = lower = None
        else:
            spread = outliers.cut * 1.4826 * mad  # 1.4826 MAD estimates the standard deviation
            upper, lower = median + spread, median - spread
    if upper is None:
        return judged.mutate(outlier=ibis.literal(False))
    beyond = (judged.amount > upper) if lower is None else ((judged.amount > upper) | (judged.amount < lower))
    is_outlier = (beyond & judged.reason.isnull() & (judged.amount > 0)).fill_null(False)
    judged = judged.mutate(outlier=is_outlier)
    if outliers.action == "set_aside":
        return judged.mutate(reason=ibis.ifelse(judged.outlier, "outlier", judged.reason),
                             detail=ibis.ifelse(judged.outlier, f"{column} beyond {upper:,.2f}"
                                                + ("" if lower is None else f" or below {lower:,.2f}"), judged.detail))
    if outliers.action == "cap":
        # only large amounts are capped: raising a small genuine amount would invent revenue
        capped = (judged.outlier & (judged.amount > upper) & judged.reason.isnull()).fill_null(False)
        # the cap is an amount like the others: the bound rounded down to the minor unit, exact
        scale = judged.amount.type().scale
        cap = ibis.literal(_round_down(upper, scale), type=judged.amount.type())
        return judged.mutate(amount=ibis.ifelse(capped, cap, judged.amount), _fix_outlier_capped=capped)
    return judged


def _round_down(value: float, minor_unit: int):
    from decimal import ROUND_FLOOR, Decimal

    return Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-minor_unit), rounding=ROUND_FLOOR)


def _quarantine(judged: ibis.Table, originals: pd.DataFrame | ibis.Table | None, headers: dict[str, str] | None = None
                ) -> pd.DataFrame:
    """The rows set aside, in source_row order; `attrs["columns"]` holds `headers` (segkit's name ->
    the source's), the names the details use, for `quarantine_sample` (and `segkit.i18n.detail_text`)."""
    shown = ["source_row", "reason", "detail", *[c for c in OUTPUT_COLUMNS[1:] if c in judged.columns],
             *(["refund_amount"] if "refund_amount" in judged.columns else [])]
    aside = judged.filter(judged.outcome == "set_aside")
    own = {}
    if "return_document" in judged.columns:  # a cancellation as it came in, not as netted into its purchase
        own = {"order_id": aside.return_document.coalesce(as_text(aside.order_id)),
               "ordered_at": aside.returned_at.coalesce(aside.ordered_at)}
    if "refund_amount" in judged.columns:  # as the amount: the nearest float64
        own["refund_amount"] = aside.refund_amount.cast("float64")
    aside = text_ids(aside.mutate(amount=aside.amount.cast("float64"), **own).select(shown))
    if isinstance(originals, ibis.Table):  # the text of the columns read in the engine, for the rows set aside
        joined = aside.left_join(originals, aside.source_row == originals.source_row)
        aside = joined.select(*shown, *[c for c in originals.columns if c != "source_row"])
        originals = None
    aside = to_frame(aside.order_by("source_row"))
    if originals is not None:
        aside = aside.merge(originals, on="source_row", how="left", validate="one_to_one")
    aside = aside.reset_index(drop=True)
    aside.attrs["columns"] = dict(headers or {})
    return aside


def build_ledger(total: int, counts: pd.DataFrame | pd.Series) -> pd.DataFrame:
    """One row per outcome: used as is, fixed (per fix, or combination of fixes), set aside (per
    rule, every rule listed); the counts add up to `total`.

    `counts` has columns outcome, rule and rows (as `judge` gives them), or is a Series of
    set-aside reasons (one per set-aside row).
    """
    if isinstance(counts, pd.Series):
        counts = counts.value_counts().rename_axis("rule").reset_index(name="rows").assign(outcome="set_aside")
    by_rule = counts.groupby(["outcome", "rule"])["rows"].sum()
    aside = by_rule.get("set_aside", pd.Series(dtype="int64"))
    rows = [("set_aside", rule, int(aside.get(rule, 0))) for rule in RULES]
    fixed = by_rule.get("fixed", pd.Series(dtype="int64"))
    order = {name: i for i, name in enumerate(ALL_FIXES)}
    fixed_rows = [("fixed", rule, int(n)) for rule, n in fixed.items()]
    fixed_rows.sort(key=lambda row: [order.get(part, 99) for part in row[1].split("+")])
    flagged = int(by_rule.get(("used", "outlier_flagged"), 0))
    used = total - sum(n for *_, n in rows + fixed_rows) - flagged
    used_rows = [("used", "", used)] + ([("used", "outlier_flagged", flagged)] if flagged else [])
    ledger = pd.DataFrame([*used_rows, *fixed_rows, *rows], columns=["outcome", "rule", "rows"])
    ledger["rows"] = ledger["rows"].astype("int64")
    ledger["share"] = ledger["rows"] / total
    return ledger


def padded_like_buyers(table: pd.DataFrame, buyers: pd.Series, name: str) -> tuple[pd.DataFrame, dict | None]:
    """`table` (a customers or surveys table, ids as `same_ids` reads them) with the ids that lost the
    leading zeros the buyers' ids are written with padded back, and the note that says so, or the table
    itself and None. A spreadsheet that opens a CSV reads `00990001` as the number 990001 and saves it
    so: such a table matches no buyer, silently (a survey's every answer "from a customer without
    transactions"). Padded only where it is certain: the buyers' ids (`buyers`, text) that are all
    digits share one width and some of them start with 0 (a zero-padded column), and the table's id is
    digits without a leading zero (as a number is written), shorter, no buyer's id as written, and a
    buyer's id once padded to that width.

    The note (`table_ids_padded` for the customers table, `survey_ids_padded` for the surveys; `name`
    is "customers" or "surveys") names the file (`attrs["origin"]`), the column (the file's header,
    `attrs["columns"]`), how many rows and the first id as written and as read."""
    import pyarrow.compute as pc

    if table is None or not len(table) or buyers is None or not len(buyers):
        return table, None
    ids = pa.array(buyers.astype("string").array).cast(pa.large_string())
    digits = ids.filter(pc.fill_null(pc.match_substring_regex(ids, r"^[0-9]+$"), False))
    widths = pc.unique(pc.utf8_length(digits)) if len(digits) else []
    if len(widths) != 1 or not pc.any(pc.starts_with(digits, "0")).as_py():
        return table, None
    width = int(widths[0].as_py())
    text = table["customer_id"].astype("string")
    # as a number is written: digits without a leading zero, fewer than the buyers' ids have
    short = (text.str.fullmatch(r"[1-9][0-9]*") & (text.str.len() < width)).fillna(False).to_numpy(dtype=bool)
    if not short.any():
        return table, None
    padded = text.where(short).str.zfill(width)
    found = short & is_in(padded.fillna(""), ids) & ~is_in(text.fillna(""), ids)
    if not found.any():
        return table, None
    first = int(np.argmax(found))
    note = {"key": "survey_ids_padded" if name == "surveys" else "table_ids_padded",
            "file": table.attrs.get("origin", f"source.{name}"),
            "column": (table.attrs.get("columns") or {}).get("customer_id", "customer_id"),
            "rows": int(found.sum()), "given": str(text.iloc[first]), "read": str(padded.iloc[first]), "width": width}
    return table.assign(customer_id=text.where(~found, padded).array), note


def typed_attributes(table: pd.DataFrame, names, decimal: str = ".") -> pd.DataFrame:
    """A customer table with its extra columns `names` (those it holds) typed as tags and exports read
    them (`segkit.intake.parsing.attribute_values`: numbers where every value reads as one, labels
    trimmed); a new frame, the other columns as they were."""
    from segkit.intake.parsing import attribute_values

    typed = {name: attribute_values(table[name], decimal)[0] for name in names if name in table.columns}
    return table.assign(**typed) if typed else table


def same_ids(table: pd.DataFrame) -> pd.DataFrame:
    """A customers or surveys table from a file with its customer ids normalised as the
    transactions' are (`segkit.intake.parsing.parse_id`: invisible characters, NFC, `17850.0`),
    so that the joins match; a new frame."""
    return table.assign(customer_id=parse_id(table["customer_id"]).values.to_numpy())


NPS_ANSWERS = (0, 10)  # "How likely are you to recommend ...?", whole numbers 0-10 (Reichheld 2003)


def split_survey_answers(surveys: pd.DataFrame, score_range: tuple[float, float] = (1, 5)
                         ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The survey answers that can be true, and those set aside (with `reason` and `detail`).

    A `score` outside `score_range` (the survey's scale, `cleaning.survey_scores`; -3 or 1e308 on a
    1-5 scale) or not finite, or an `nps` that is not a whole number from 0 to 10 (11, -1, 9.5),
    cannot be an answer: the row is set aside, so that it never moves NPS or satisfaction. A
    missing score or nps is no answer to that question, not an error. The detail names the column
    as the file does where `surveys.attrs["columns"]` maps segkit's name to it (as
    `segkit.intake.sources.read_customer_table` sets it). Returns (kept, set_aside); the input is
    not changed.

    >>> kept, aside = split_survey_answers(pd.DataFrame({"customer_id": ["A", "B", "C"], "score": [5, -3, 4],
    ...                                                  "nps": [10, 9, 9.5]}))
    >>> kept["customer_id"].tolist(), aside["reason"].tolist()
    (['A'], ['score_out_of_range', 'nps_out_of_range'])
    """
    low, high = score_range
    headers = surveys.attrs.get("columns", {})
    reason = pd.Series(pd.NA, index=surveys.index, dtype="string")
    detail = pd.Series(pd.NA, index=surveys.index, dtype="string")
    for column, bad, words in (
            ("score", lambda v: ~((v >= low) & (v <= high)), f"is outside the survey scale {low:g} to {high:g} "
                                                            "(cleaning.survey_scores)"),
            ("nps", lambda v: ~((v >= NPS_ANSWERS[0]) & (v <= NPS_ANSWERS[1]) & (v % 1 == 0)),
             "is not an NPS answer (a whole number from 0 to 10)")):
        if column not in surveys.columns:
            continue
        values = pd.to_numeric(surveys[column], errors="coerce").astype("float64")
        given = surveys[column].notna()
        hit = (given & (values.isna() | bad(values).fillna(True))) & reason.isna()
        if hit.any():
            reason = reason.mask(hit, f"{column}_out_of_range")
            named = headers.get(column, column)
            detail = detail.mask(hit, f"{named} " + surveys[column].astype("string") + " " + words)
    aside = reason.notna().to_numpy()
    set_aside = surveys[aside].assign(reason=reason[aside].to_numpy(), detail=detail[aside].to_numpy())
    return surveys[~aside].copy(), set_aside


def join_report(clean: ibis.Table | pd.DataFrame, customers: pd.DataFrame | None,
                surveys: pd.DataFrame | None, survey_scores: tuple[float, float] = (1, 5)) -> dict:
    """How the customer and survey tables join the clean transactions on customer_id: customers
    with no transactions, buying customers (and their rows) with no customer record, and how many
    of those match a record once letter case and blanks are ignored (`buyers_matching_in_other_case`:
    ids are compared exactly), survey answers from customers with no transactions, and survey
    answers set aside as out of range (`split_survey_answers` with `survey_scores`; counted apart,
    not among `survey_answers`). Per-customer counts come from the engine."""
    table = clean if isinstance(clean, ibis.Table) else ibis.memtable(clean[["customer_id"]])
    per_customer = table.group_by("customer_id").aggregate(rows=table.count())
    if customers is None and surveys is None:  # nothing joins: the buyers are counted where the rows are
        return {"buyers": int(per_customer.count().to_pyarrow().as_py())}
    per_customer = to_frame(per_customer)
    # ids as text, compared by Arrow's lookup (pandas' isin took 7 s a million ids, pandas 3.1)
    buyer_ids = per_customer["customer_id"].astype(str)
    buyers = pd.Index(buyer_ids.unique())
    report = {"buyers": len(buyers)}
    if customers is not None:
        given = customers["customer_id"].dropna()
        records = pd.Index(given.astype(str).unique())
        unmatched = ~is_in(buyer_ids, records)
        missing = per_customer[unmatched]
        # ids written in another case in the two files (BOB@X.COM, Bob@x.com): not joined, and said
        folded = is_in(buyer_ids[unmatched].str.strip().str.casefold(), records.str.strip().str.casefold()) \
            if unmatched.any() else np.zeros(0, bool)
        report.update(customer_records=len(given), duplicate_customer_records=int(given.duplicated().sum()),
                      customers_without_transactions=int((~is_in(records, buyers)).sum()),
                      buyers_without_record=len(missing), rows_without_record=int(missing["rows"].sum()),
                      buyers_matching_in_other_case=int(folded.sum()))
    if surveys is not None:
        kept, aside = split_survey_answers(surveys, survey_scores)
        answered = kept["customer_id"].dropna().astype(str)
        report.update(survey_answers=len(answered),
                      survey_answers_without_transactions=int((~is_in(answered, buyers)).sum()),
                      survey_answers_out_of_range=len(aside))
    return report


def clean_and_save(intake, data_dir: str | Path, as_of: dt.date | None = None,
                   rules: Cleaning | None = None, activity_days: int = 90, minor_unit: int = 2,
                   dimensions=(), currency_code: str | None = None,
                   period_start: dt.date | None = None, named_dimensions=(), attributes=()) -> CleanResult:
    """The cleaning stage of a run: clean the intake's transactions where they live and save, in
    `data_dir`, the quarantine, the ledger, the clean rows (not for a database source: they stay
    there), the customer and survey tables, the per-customer features, and in run.json the as-of
    date and the join report, plus the customer ledger and the customers set aside (features hold
    only the customers scored: see `segkit.intake.returns`). When every row is set aside, the
    quarantine and the ledger are saved and the DataError says where to find them; when no customer
    can be scored (every revenue zero or less after returns), the ledgers are saved and
    `NoScoredCustomers` (a DataError) says what to do. Amounts are exact to `minor_unit` decimals
    (`params.currency.minor_unit`; see `clean_transactions`), so two runs on the same rows, in
    any order, write byte-identical files. `currency_code` (`params.currency.code`) is the currency
    the amounts are in: signs of another are noted, not converted (see `clean_transactions`). Each
    of `dimensions` (the params' report dimensions) that the customer table lacks but the
    transactions hold (channel, category, or an attribute the params keep) becomes a customer
    attribute: the customer's most frequent value (see `segkit.features.most_frequent_values`),
    saved in the customers table and named in run.json. Those of `named_dimensions` (the dimensions
    the params file names itself: `Params.named_dimensions`) that neither holds are a note
    (`dimension_missing`): the report has no breakdown by them. `period_start` (a monthly run's first
    day, `params.period_start`): `MonthNotInData` when the data end before it (see `clean_transactions`).
    `attributes` (`params.source.extra_columns`): the customer table's extra columns, saved typed for
    tag rules and the exports (`typed_attributes`).
    """
    from segkit.crosssell.summaries import save_purchase_summaries
    from segkit.features import customer_features
    from segkit.store import save_run_info, save_stage

    rules = rules or Cleaning()
    try:  # a rule's column not mapped: said with the source's name, before any row is read
        check_rule_columns(rules, intake.transactions.columns)
    except DataError as err:
        raise DataError(f"{intake.origin}: {err}") from None
    try:
        result = clean_transactions(intake.engine, intake.transactions, as_of=as_of, rules=rules,
                                    minor_unit=minor_unit, currency_code=currency_code, period_start=period_start)
    except MonthNotInData as err:
        raise MonthNotInData(f"{intake.origin}: {err}", err.last) from None
    except NoTransactions as err:
        raise NoTransactions(f"{intake.origin}: {err}") from None
    except RoundedIds as err:
        raise RoundedIds(f"{intake.origin}: {err}") from None
    except MonthBeforeData as err:  # the month asked lies before the data: nothing in them to look at
        raise MonthBeforeData(f"{intake.origin}: {err}", err.result, data_start=err.data_start) from None
    except NoCleanRows as err:
        save_stage(data_dir, quarantine=err.result.quarantine, ledger=err.result.ledger)
        raise NoCleanRows(f"{intake.origin}: {err} (quarantine.parquet in {data_dir})", err.result,
                          data_start=err.data_start) from None
    except Exception as err:
        database_stopped(err, intake.origin)
        raise
    why = nobody_scored(result)
    if why:  # one clear message here, not a crash in 02_rfm or 04_clustering
        save_stage(data_dir, quarantine=result.quarantine, ledger=result.ledger,
                   customer_ledger=result.customer_ledger, customers_set_aside=result.customers_set_aside)
        raise NoScoredCustomers(f"{intake.origin}: {why} (customer_ledger.parquet and customers_set_aside.parquet "
                                f"in {data_dir})", result)
    # only the customers scored: those set aside (revenue zero or less after returns) never reach 02-06
    features = customer_features(intake.engine, result.scored, result.as_of, activity_days, minor_unit,
                                 floor_revenue=rules.returns.net_negative == "floor")
    scale = rules.survey_scores
    records, all_surveys, unread = read_table_dates(intake, rules.day_first, result.notes)
    if not result.in_database:  # a database's ids are as its owners keep them
        records, all_surveys = (None if frame is None else same_ids(frame) for frame in (records, all_surveys))
        # ids a spreadsheet saved as numbers, without the zeros the transactions' ids keep: padded back, said
        buyers = features["customer_id"] if result.customers_set_aside is None else pd.concat(
            [features["customer_id"], result.customers_set_aside["customer_id"]]).astype("string")
        records, padded_records = padded_like_buyers(records, buyers, "customers")
        all_surveys, padded_answers = padded_like_buyers(all_surveys, buyers, "surveys")
        unread = [*unread, *(n for n in (padded_records, padded_answers) if n is not None)]
    # read as the transactions' ids are (cleaning.customer_ids: case, phone numbers), a database's too
    records, all_surveys = (same_customer_ids(frame, rules.customer_ids) for frame in (records, all_surveys))
    if records is not None and attributes:  # the map's extra columns, for tags and exports: numbers or labels
        records = typed_attributes(records, attributes, rules.decimal)
    # answers that cannot be true (a score of -3 on a 1-5 scale, NPS 11) never reach NPS: not saved
    surveys = None if all_surveys is None else split_survey_answers(all_surveys, scale)[0]
    customers, derived = with_derived_dimensions(intake, result.scored, dimensions, records)
    # ids written in two cases are said by `ids_would_merge`, with the setting that reads them as one, where it is
    merging = any(note["key"] == "ids_would_merge" for note in result.notes)
    found = [note for note in (guest_like_customer(features),
                               None if merging else ids_differing_in_case(features["customer_id"]))
             if note is not None]  # a guest checkout's placeholder; e-mail ids written in two cases
    found += unread  # dates of the customers' or surveys' file that no order read: said, their rows kept
    # every customer with a clean row is in the features (scored) or set aside: the others had none used
    known = pd.concat([features["customer_id"], result.customers_set_aside["customer_id"]]).astype(str) \
        if result.customers_set_aside is not None else features["customer_id"].astype(str)
    result = replace(result, customers_without_rows=result.without_rows_among(known),
                     customers_only_later=result.without_rows_among(known, later=True))
    if found:
        result = replace(result, notes=(*result.notes, *found))
    held = set(customers.columns) if customers is not None else set()
    missing = [d for d in dict.fromkeys(named_dimensions) if d not in held]
    if missing:  # named in the params, held nowhere: said, not silently left out of 02's breakdowns
        result = replace(result, notes=(*result.notes, {"key": "dimension_missing", "names": ", ".join(missing)}))
    save_stage(data_dir, clean_transactions=None, quarantine=result.quarantine, ledger=result.ledger, customers=customers,
               surveys=surveys, features=features, customer_ledger=result.customer_ledger,
               customers_set_aside=result.customers_set_aside)
    if not result.in_database:  # written by the engine, streamed; a database's rows stay there
        result.write_clean(Path(data_dir) / "clean_transactions.parquet")
        refunded = Path(data_dir) / "refunded_orders.parquet"
        refunded.unlink(missing_ok=True)  # a file of an earlier run in this folder is not these rows'
        result.write_refunded(refunded)
    save_run_info(data_dir, as_of=result.as_of, as_of_rule=result.as_of_rule, cleaning_notes=list(result.notes),
                  join=join_report(result.table, records, all_surveys, scale),
                  in_database=result.in_database, returns=result.returns, derived_dimensions=derived)
    # the clean rows stay in the database: 07_cross_sell's per-customer summaries are computed there now
    save_purchase_summaries(data_dir, result.table if result.in_database else None)
    return result


def read_table_dates(intake, day_first: bool | None, notes
                     ) -> tuple[pd.DataFrame | None, pd.DataFrame | None, list[dict]]:
    """The intake's customers and surveys tables with the dates their own columns did not settle
    read in the run's order: `day_first` (`cleaning.day_first`) when stated, else the order the
    transactions' dates settled (their note among `notes`, the cleaning's; see
    `segkit.intake.sources.run_day_first`), else as read; and the notes on the dates still unread
    (`table_dates_unread`, `survey_dates_unread`: their rows are kept). Returns (customers, surveys,
    notes); the tables are new frames, without the record of their unread dates, ready to save."""
    from segkit.intake.sources import reread_table_dates, run_day_first, unread_dates_notes, without_unread_dates

    order = run_day_first(day_first, {"cleaning_notes": list(notes)})
    customers, surveys = (None if table is None else reread_table_dates(table, order)
                          for table in (intake.customers, intake.surveys))
    said = unread_dates_notes(customers, "customers") + unread_dates_notes(surveys, "surveys")
    return without_unread_dates(customers), without_unread_dates(surveys), said


def with_derived_dimensions(intake, clean: ibis.Table, dimensions,
                            customers: pd.DataFrame | None = None) -> tuple[pd.DataFrame | None, list[str]]:
    """The customer table (`customers`, by default the intake's) with a column for each of
    `dimensions` it lacks and the clean transactions hold (a transaction column, or an attribute kept
    from the file): each customer's most frequent value. Customers with purchases but no record get
    a row. Returns the table (None when there is neither) and the names derived."""
    from segkit.features import most_frequent_values

    customers = intake.customers if customers is None else customers
    have = set(customers.columns) if customers is not None else set()
    kept = set(intake.attributes.columns) - {"source_row"} if getattr(intake, "attributes", None) is not None else set()
    names = [d for d in dict.fromkeys(dimensions) if d not in have and (d in clean.columns or d in kept)
             and d not in ("customer_id", "amount", "ordered_at", "source_row", "order_id")]
    if not names:
        return customers, []
    derived = most_frequent_values(intake.engine, clean, names, getattr(intake, "attributes", None))
    if customers is None:
        return derived, names
    merged = customers.assign(customer_id=customers["customer_id"].astype(str)).merge(derived, on="customer_id",
                                                                                     how="outer")
    return merged, names


# the columns a quarantine's sample shows, as given: segkit's columns and a line's refund amount
_SHOWN_COLUMNS = (*OUTPUT_COLUMNS[1:], "refund_amount")


def quarantine_sample(quarantine: pd.DataFrame, lang: str | None = None, per_reason: int = 3) -> pd.DataFrame:
    """The first rows of each reason, largest reasons first: source_row, reason and detail (in words
    of `lang` when it is given; see `segkit.i18n.detail_text`: the source's own column names, which
    `quarantine.attrs["columns"]` lists, are shown as they are) and the values as they came in, for
    a data owner to look up and correct."""
    if quarantine.empty:
        return quarantine[[c for c in ("source_row", "reason", "detail") if c in quarantine.columns]]
    order = quarantine["reason"].value_counts().index
    sample = pd.concat([quarantine[quarantine["reason"] == r].head(per_reason) for r in order], ignore_index=True)
    raw = [c for c in sample.columns if c.startswith("raw_")]
    if raw:
        # every column the source gives, as given: a reader keeps raw_<column> only where it read the text
        # into something else (the engine's CSV read: dates and numbers; an Excel read: every column), the
        # others hold their values as given: shown under the same names, so both reads show the same columns
        mapped = quarantine.attrs.get("columns") or {}
        given = {f"raw_{c}": sample[c].map(_as_given) for c in _SHOWN_COLUMNS
                 if f"raw_{c}" not in sample.columns and c in sample.columns and (not mapped or c in mapped)}
        sample = sample.assign(**given)
        ordered = [f"raw_{c}" for c in _SHOWN_COLUMNS if f"raw_{c}" in sample.columns]
        raw = [*ordered, *[c for c in raw if c not in ordered]]
    shown = ["source_row", "reason", "detail", *(raw or [c for c in _SHOWN_COLUMNS if c in sample.columns])]
    sample = sample[[c for c in shown if c in sample.columns]]
    if not raw:  # a typed source's values: written out in full, as text (a table would round 356.99 to 357)
        typed = [c for c in _SHOWN_COLUMNS if c in sample.columns]
        sample = sample.assign(**{c: sample[c].map(_as_given) for c in typed})
    if lang is not None:
        from segkit.i18n import detail_text, rule_name

        sample = sample.assign(reason=[rule_name(r, lang) for r in sample["reason"]])
        if "detail" in sample.columns:
            columns = quarantine.attrs.get("columns")
            sample = sample.assign(detail=[detail_text(d, lang, columns) for d in sample["detail"]])
    return sample


def _as_given(value) -> str | None:
    """A typed value as text, in full: numbers in their shortest exact digits (356.99, 16.8575, 3),
    times to the second (a date alone at midnight), text as it is; None where it is missing."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, (pd.Timestamp, dt.datetime)):
        stamp = pd.Timestamp(value)
        return f"{stamp:%Y-%m-%d}" if stamp == stamp.normalize() else f"{stamp:%Y-%m-%d %H:%M:%S}"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value)).lower()
    if isinstance(value, (float, np.floating)):  # the shortest digits that read back as the value in its own type
        return np.format_float_positional(value, trim="-")
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def ledger_totals(ledger: pd.DataFrame) -> dict:
    """Input rows, and how many were used as is, used after a fix, and set aside."""
    by_outcome = ledger.groupby("outcome")["rows"].sum()
    return {"rows": int(ledger["rows"].sum()), "used": int(by_outcome.get("used", 0)),
            "fixed": int(by_outcome.get("fixed", 0)), "aside": int(by_outcome.get("set_aside", 0))}


# ids that exports write for a customer they do not know (guest checkouts, walk-ins, anonymous sales)
_GUEST_LIKE = re.compile(r"(?i)^(?:0+|-+|\?+|n/?a|none|null|nil|unknown|guests?|anonymous|walk-?in|visitor|cash|"
                         r"游客|访客|匿名|散客|非会员|未知|无)$")
# one customer with this many times the orders of the next (and at least GUEST_MIN_ORDERS) is a crowd
GUEST_TIMES_NEXT = 20
GUEST_MIN_ORDERS = 50


def guest_like_customer(features: pd.DataFrame) -> dict | None:
    """A note (`guest_like_customer`) when the customer with the most orders looks like a placeholder
    for many people: an id such as 0, "guest" or 散客 (`_GUEST_LIKE`) with more than one order, or
    at least GUEST_MIN_ORDERS orders and GUEST_TIMES_NEXT times those of the next customer. Its
    id, orders, share of all orders and of revenue; None otherwise. `features`: one row per
    customer with customer_id, orders and revenue (`customer_features`)."""
    if features is None or len(features) == 0:
        return None
    orders = features["orders"].to_numpy()
    top = int(np.argmax(orders))
    most = int(orders[top])
    ident = str(features["customer_id"].iloc[top])
    others = np.delete(orders, top)
    following = int(others.max()) if len(others) else 0
    crowd = most >= GUEST_MIN_ORDERS and most >= GUEST_TIMES_NEXT * max(following, 1)
    if not crowd and not (most > 1 and _GUEST_LIKE.match(ident.strip())):
        return None
    revenue = features["revenue"].to_numpy(dtype="float64")
    total = float(revenue.sum())
    return {"key": "guest_like_customer", "customer": ident[:60], "orders": most, "next": following,
            "order_share": round(most / max(int(orders.sum()), 1), 4),
            "revenue_share": round(float(revenue[top]) / total, 4) if total > 0 else 0.0}


def ids_differing_in_case(ids: pd.Series) -> dict | None:
    """A note (`ids_differ_in_case`) when customer ids differ from another only in letter case
    ("Ann@Shop.com" and "ann@shop.com": each a customer of its own, as ids are compared exactly):
    how many customers, one such pair, and whether the ids look like e-mail addresses (which are
    one address in any case); None when no two ids fold to the same."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array = pa.array(ids.astype("string").array)
    if pc.count_distinct(pc.utf8_lower(array)).as_py() == pc.count_distinct(array).as_py():
        return None  # the common case, told in Arrow without a million Python strings
    text = ids.astype(str)
    folded = text.str.casefold()
    twins = folded.duplicated(keep=False)
    if not twins.any():
        return None
    first = folded[twins].iloc[0]
    pair = text[twins & (folded == first)].iloc[:2].tolist()
    return {"key": "ids_differ_in_case", "customers": int(twins.sum()), "example": pair[0][:60],
            "other": pair[1][:60], "emails": bool(text[twins].str.contains("@", regex=False).mean() > 0.5)}


def _no_date_words(quarantine: pd.DataFrame, headers: dict[str, str] | None) -> str:
    """What to say when no row has a readable date: the source's date column and a value of it."""
    column = (headers or {}).get("ordered_at", "ordered_at")
    raw = quarantine["raw_ordered_at"] if "raw_ordered_at" in quarantine.columns else pd.Series(dtype="string")
    written = raw.dropna().astype(str)
    written = written[written.str.strip() != ""]
    said = f'no row has a readable date in the column "{column}"'
    if not len(written):  # no value to read in any order: the column map is what to check, not a date setting
        return f"{said} (every value is empty): check that the column map's ordered_at names the date column"
    return (f'{said} (e.g. "{written.iloc[0][:60]}"): check that the column map\'s '
            "ordered_at names the date column, and the dates' format (cleaning.day_first for dates like 05/01/2024, "
            "cleaning.min_date for old dates)")


def _most_given_advice(quarantine: pd.DataFrame, ledger: pd.DataFrame) -> str:
    """"; most of the <rule> rows say: <advice> (<n> rows)" for the rule that set most rows aside, when
    the details of at least half its rows end with the same advice (the part after their last "; ",
    e.g. 'set cleaning.decimal: ","', which a detail gives where it can tell): the fix an analyst
    would otherwise find only in the quarantine file; "" otherwise."""
    aside = ledger[(ledger.outcome == "set_aside") & (ledger.rows > 0)].sort_values("rows", ascending=False)
    if aside.empty or "detail" not in quarantine.columns:
        return ""
    rule = aside["rule"].iat[0]
    details = quarantine.loc[quarantine["reason"] == rule, "detail"].dropna().astype(str)
    advice = details[details.str.contains("; ", regex=False)].str.rsplit("; ", n=1).str[-1].value_counts()
    if advice.empty or advice.iat[0] * 2 < len(details):
        return ""
    return f"; most of the {rule} rows say: {advice.index[0]} ({counted(advice.iat[0], 'row', 'rows', ',')})"


def _top_reasons(ledger: pd.DataFrame) -> str:
    aside = ledger[(ledger.outcome == "set_aside") & (ledger.rows > 0)].sort_values("rows", ascending=False)
    return ", ".join(f"{r.rule}: {r.rows}" for r in aside.itertuples())
