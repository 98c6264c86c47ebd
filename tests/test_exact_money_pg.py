"""Exact money on the PostgreSQL path (issue 8): the same Ibis expressions make amounts exact in
the database, so a float8 column in shuffled order gives the revenue of the file path, exactly;
infinite, NaN and implausible amounts are set aside there, never summed."""

import datetime as dt

import pandas as pd
import pytest

import segkit
from ledger_check import assert_every_row_accounted
from pg_server import load_table, start_server
from segkit.params import Database, Source
from test_exact_money import same_purchases, shuffled

pytestmark = pytest.mark.slow

AS_OF = dt.date(2024, 6, 30)
TYPES = {"source_row": "bigint", "customer_id": "text", "order_id": "text", "ordered_at": "timestamp",
         "amount": "double precision"}
# rows a typed column can hold and a file cannot: each with the reason it must get
SPECIAL = {1001: ("'Infinity'", "non_finite_amount"), 1002: ("'-Infinity'", "non_finite_amount"),
           1003: ("'NaN'", "non_finite_amount"), 1004: ("1e308", "implausible_amount"),
           1005: ("1000000000000.01", "implausible_amount"), 1006: ("-1e13", "implausible_amount"),
           1007: ("'-0'", "non_positive_amount"), 1008: ("NULL", "missing_amount")}


@pytest.fixture(scope="module")
def pg():
    server = start_server()
    try:
        with server.connect() as con:
            con.execute("CREATE DATABASE shop")
        typed = same_purchases().assign(ordered_at=lambda f: pd.to_datetime(f["ordered_at"]),
                                        amount=lambda f: f["amount"].astype("float64"))
        with server.connect("shop") as con:
            for seed in (1, 2):
                load_table(con, f"orders_{seed}", shuffled(typed, seed), TYPES)
                for row, (value, _) in SPECIAL.items():
                    con.execute(f"INSERT INTO orders_{seed} VALUES ({row}, 'X{row}', 'X{row}', "
                                f"'2024-03-01', {value})")
                # at the maximum, and a half cent the float stores just below (0.125 is exact: 12.5 cents)
                con.execute(f"INSERT INTO orders_{seed} VALUES (1010, 'M', 'M1', '2024-03-01', 1e12), "
                            f"(1011, 'H', 'H1', '2024-03-01', 0.125), (1012, 'H', 'H2', '2024-03-02', 2.675)")
        yield server
    finally:
        server.stop()


def from_database(pg, table: str):
    database = Database(url=pg.url(), table=table, columns={"source_row": "source_row"})
    intake = segkit.load_source(Source(kind="database", database=database))
    result = segkit.clean_transactions(intake.engine, intake.transactions, as_of=AS_OF)
    assert result.in_database and result.table.get_backend().name == "postgres"
    features = segkit.customer_features(intake.engine, result.table, AS_OF)
    return result, features


def test_the_database_sums_exactly_in_any_order_and_agrees_with_the_file_path(pg):
    results = [from_database(pg, f"orders_{seed}") for seed in (1, 2)]
    rows = [*same_purchases()["source_row"], *SPECIAL, 1010, 1011, 1012]
    for result, features in results:
        assert_every_row_accounted(result, rows)
        aside = dict(zip(result.quarantine["source_row"], result.quarantine["reason"]))
        assert aside == {row: reason for row, (_, reason) in SPECIAL.items()}
        revenue = features.set_index("customer_id")["revenue"]
        assert (revenue[revenue.index.str.startswith(("T", "S"))] == 0.6).all()
        assert revenue["M"] == 1e12 and revenue["H"] == 2.81  # 0.125 -> 0.13, 2.675 -> 2.68
    pd.testing.assert_frame_equal(results[0][1], results[1][1], check_exact=True)
    # the before view sums the input exactly as well, without the infinite or implausible lines
    before = [segkit.describe_transactions(result.input)["revenue"] for result, _ in results]
    assert before[0] == before[1] == 1_000_000_001_337.81  # 100 × 0.60 + (1 + ... + 50) + 1e12 + 2.81

    con = segkit.connect()
    con.raw_sql("SET threads TO 4")
    file_result = segkit.clean_transactions(con, shuffled(same_purchases(), 3), as_of=AS_OF)
    file_features = segkit.customer_features(con, file_result.table, AS_OF)
    database_features = results[0][1]
    database_features = database_features[~database_features["customer_id"].isin(["M", "H"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(database_features, file_features, check_exact=True, check_dtype=False)
