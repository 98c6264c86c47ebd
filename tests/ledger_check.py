"""The ledger invariant, checked on every cleaning fixture: each input row ends in exactly one
place (used as is, used after a fix, set aside for one rule), and the ledger counts add up."""

import numpy as np
import pandas as pd

from segkit.intake.cleaning import ALL_FIXES, OUTCOMES, RULES


def assert_every_row_accounted(result, input_rows) -> None:
    """`input_rows`: the source_row values that went in (or a frame that has them)."""
    if isinstance(input_rows, pd.DataFrame):
        input_rows = input_rows["source_row"]
    elif hasattr(input_rows, "to_pyarrow"):  # a table in the engine (a typed file read in place)
        input_rows = input_rows.select("source_row").to_pyarrow().column(0).to_pylist()
    expected = sorted(int(r) for r in input_rows)
    ledger, clean, quarantine = result.ledger, result.clean, result.quarantine
    assert int(ledger["rows"].sum()) == len(expected), ledger
    assert set(ledger["outcome"]) <= set(OUTCOMES)
    assert ledger["share"].sum() == __import__("pytest").approx(1.0)

    used, aside = list(clean["source_row"]), list(quarantine["source_row"])
    assert sorted(used + aside) == expected, "a row was lost, invented or counted twice"

    aside_counts = ledger[ledger["outcome"] == "set_aside"].set_index("rule")["rows"]
    assert set(aside_counts.index) == set(RULES)
    assert set(quarantine["reason"]) <= set(RULES)
    assert aside_counts.to_dict() == {r: int((quarantine["reason"] == r).sum()) for r in RULES}

    fixes = clean["fixes"].fillna("")
    fixed = ledger[ledger["outcome"] == "fixed"].set_index("rule")["rows"]
    assert fixed.to_dict() == fixes[fixes != ""].value_counts().to_dict()
    for combination in fixed.index:
        assert set(combination.split("+")) <= set(ALL_FIXES), combination
    as_is = int(ledger.loc[ledger["outcome"] == "used", "rows"].sum())
    assert as_is == int((fixes == "").sum())

    # every amount that is used is a finite number, exact to a minor unit, within a DECIMAL(18, ...)
    amounts = clean["amount"].astype("float64")
    assert amounts.notna().all() and np.isfinite(amounts).all(), "a used amount is missing or not finite"
    assert (amounts.abs() < 1e18).all()


def text(rows, columns=("customer_id", "order_id", "ordered_at", "amount")) -> pd.DataFrame:
    """Rows as a file gives them: every value text, source_row the file line (header on line 1)."""
    tx = pd.DataFrame(rows, columns=list(columns), dtype="object")
    tx.insert(0, "source_row", range(2, len(tx) + 2))
    return tx


def clean_checked(tx, as_of=None, **rules):
    """clean_transactions on `tx` with the given rules (in the embedded engine), every row accounted for."""
    from segkit.intake.cleaning import clean_transactions
    from segkit.intake.sources import connect
    from segkit.params import Cleaning

    result = clean_transactions(connect(), tx, as_of=as_of, rules=Cleaning(**rules))
    assert_every_row_accounted(result, tx)
    return result


def reasons(result) -> dict:
    """source_row -> the rule it was set aside for."""
    return dict(zip(result.quarantine["source_row"], result.quarantine["reason"]))


def fixes(result) -> dict:
    """source_row -> the fixes made on it, for the clean rows with any."""
    return {int(r): f for r, f in zip(result.clean["source_row"], result.clean["fixes"]) if f}


def file_source(path, **table):
    """A params source that reads `path` as a transactions file (`table`: FileTable settings)."""
    from segkit.params import FileTable, Source

    return Source(kind="file", transactions=FileTable(path=str(path), **table))


def cleaned(source, as_of=None, **rules):
    """The source read and cleaned (as of 2024-12-31 unless stated), every row accounted for: (intake, result)."""
    import datetime as dt

    from segkit.intake.sources import load_source

    intake = load_source(source)
    return intake, clean_checked(intake.transactions, as_of or dt.date(2024, 12, 31), **rules)
