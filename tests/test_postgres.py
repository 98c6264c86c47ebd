"""PostgreSQL read in place, against a real server: the database path and the file path give the
same per-customer results; the password travels only through the environment and shows nowhere."""

import datetime as dt
import json
import secrets

import pandas as pd
import pytest

from ledger_check import assert_every_row_accounted
from pg_server import load_table, start_server
from segkit.intake.cleaning import clean_transactions
from segkit.datasets import generate_retail
from segkit.errors import DataError
from segkit.features import customer_features
from segkit.params import Cleaning, Database, DatabaseTable, FileTable, Source
from segkit.intake.sources import connect, load_source

pytestmark = pytest.mark.slow

AS_OF = dt.date(2024, 12, 31)
PASSWORD_ENV = "SEGKIT_TEST_PG_PASSWORD"
COLUMNS = {"customer_id": "客户ID", "order_id": "order_no", "ordered_at": "ordered", "amount": "total",
           "quantity": "qty", "category": "cat", "channel": "channel"}
TYPES = {"客户ID": "text", "order_no": "text", "ordered": "timestamp", "total": "numeric(12,2)", "qty": "integer",
         "cat": "text", "channel": "text"}
RULES = Cleaning(returns={"order_prefix": "R", "action": "net"}, non_product=["postage"],
                 fill={"channel": "unknown"}, start_date=dt.date(2024, 1, 1),
                 outliers={"method": "quantile", "threshold": 0.99, "action": "cap"})


def shop_data():
    """A small shop with every flaw the database path can meet: lines exported twice, lost customer
    ids, returns (order numbers starting with R, negative amounts), a postage line, missing
    channels, a zero-price line and a line after the as-of date."""
    data = generate_retail(customers=80, start="2024-01-01", months=12, seed=3, defects=0.04)
    tx = data.transactions.copy()
    extra = pd.DataFrame([
        ("C000001", "O99999998", pd.Timestamp("2024-03-01 10:00"), 6.0, 1, "postage", "online"),
        ("C000002", "O99999999", pd.Timestamp("2024-03-02 10:00"), 0.0, 1, "books", None),
        ("C000003", "O99999997", pd.Timestamp("2025-02-01 10:00"), 12.0, 1, "books", "app"),
    ], columns=tx.columns)
    tx = pd.concat([tx, extra], ignore_index=True)
    tx.loc[tx.index % 37 == 0, "channel"] = None
    return tx.rename(columns={v: k for k, v in {**COLUMNS}.items()} | {k: v for k, v in COLUMNS.items()}), data


@pytest.fixture(scope="session")
def pg():
    server = start_server()
    try:
        with server.connect() as con:
            con.execute("CREATE DATABASE shop")
        tx, data = shop_data()
        with server.connect("shop") as con:
            load_table(con, "orders", tx, TYPES)
            load_table(con, "customers", data.customers.rename(columns={"customer_id": "cid"}),
                       {"cid": "text", "customer_type": "text", "region": "text", "signup_date": "date",
                        "age_band": "text"})
            load_table(con, "surveys", data.surveys, {"customer_id": "text", "answered_at": "date",
                                                       "score": "integer", "nps": "integer"})
            con.execute('CREATE TABLE orders_keyed AS SELECT row_number() OVER () AS id, * FROM orders')
            password = secrets.token_urlsafe(16)
            con.execute(f"CREATE ROLE analyst LOGIN PASSWORD '{password}'")
            con.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO analyst")
            con.execute("ALTER ROLE analyst SET default_transaction_read_only = on")
        server.analyst_password = password
        server.transactions = tx
        server.data = data
        yield server
    finally:
        server.stop()


def write_database_params(folder, db: Database):
    """A params file of `db` (and RULES) in `folder`, for the commands that take one."""
    import yaml

    path = folder / "db.yaml"
    path.write_text(yaml.safe_dump({"run_name": "shop", "cleaning": RULES.model_dump(mode="json"),
                                    "source": {"kind": "database", "database": db.model_dump(mode="json", exclude_none=True)}},
                                   allow_unicode=True), encoding="utf-8")
    return path


def database(pg, **changes) -> Database:
    settings = dict(url=pg.url("analyst"), password_env=PASSWORD_ENV, table="orders", columns=COLUMNS,
                    customers=DatabaseTable(table="customers", columns={"customer_id": "cid"}),
                    surveys=DatabaseTable(table="surveys"))
    return Database(**{**settings, **changes})


@pytest.fixture
def analyst_env(pg, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, pg.analyst_password)
    return pg


def file_path_results(pg, tmp_path):
    """The same rows as a CSV file, through the file path."""
    path = tmp_path / "orders.csv"
    frame = pg.transactions[list(TYPES)].copy()
    frame["ordered"] = frame["ordered"].dt.strftime("%Y-%m-%d %H:%M:%S")
    frame.to_csv(path, index=False, encoding="gbk")
    intake = load_source(Source(kind="file", transactions=FileTable(path=str(path), columns=COLUMNS)))
    result = clean_transactions(connect(), intake.transactions, as_of=AS_OF, rules=RULES)
    assert_every_row_accounted(result, intake.transactions)
    return result, customer_features(connect(), result.clean, AS_OF)


@pytest.fixture(scope="module")
def cleaned(pg, tmp_path_factory):
    """The rows cleaned with RULES in the database and, as a CSV file, on the file path, once for the
    tests that compare them: (intake, result) of the database, (result, features) of the file."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(PASSWORD_ENV, pg.analyst_password)
        intake = load_source(Source(kind="database", database=database(pg)))
        result = clean_transactions(intake.engine, intake.transactions, as_of=AS_OF, rules=RULES)
    return (intake, result), file_path_results(pg, tmp_path_factory.mktemp("file-path"))


def test_database_and_file_give_identical_per_customer_results(analyst_env, cleaned):
    (intake, result), (file_result, file_features) = cleaned
    assert intake.in_database and intake.engine.name == "postgres"
    assert result.in_database and result.table.get_backend().name == "postgres"
    assert_every_row_accounted(result, range(1, len(analyst_env.transactions) + 1))
    features = customer_features(intake.engine, result.table, AS_OF)

    pd.testing.assert_frame_equal(features, file_features, check_dtype=False, atol=1e-9)
    pd.testing.assert_frame_equal(result.ledger, file_result.ledger)
    assert sorted(result.quarantine["reason"]) == sorted(file_result.quarantine["reason"])
    # the fixture exercises the rules that apply in the database
    applied = set(result.ledger.loc[result.ledger["rows"] > 0, "rule"])
    assert {"duplicate", "missing_customer_id", "non_product", "non_positive_amount", "after_as_of"} <= applied
    assert {"return_netted", "filled_channel"} <= {p for r in applied for p in r.split("+")}
    assert intake.customers is not None and len(intake.customers) == 80 and len(intake.surveys) > 0


def test_only_per_customer_rows_come_back(analyst_env):
    intake = load_source(Source(kind="database", database=database(analyst_env)))
    result = clean_transactions(intake.engine, intake.transactions, as_of=AS_OF, rules=RULES)
    sql = str(intake.engine.compile(result.table))
    assert "SELECT" in sql.upper() and "orders" in sql  # the clean rows are a query, not data in Python
    assert "clean" not in result.__dict__  # never materialised unless asked
    # the judged rows' query is compiled once and kept as SQL text that each later query wraps
    # (segkit.intake.engines.kept_for_reuse): compiling their expression took Ibis 0.9 s a query
    import ibis.expr.operations as ops

    kept = result.table.op().find(ops.SQLQueryResult)
    assert kept and all(node.source.name == "postgres" for node in kept)
    assert len(sql) < 60_000, len(sql)  # Ibis' merged projections made it 100 KB (segkit.intake.engines)


def test_a_key_column_traces_set_aside_rows_back_to_the_table(analyst_env):
    keyed = database(analyst_env, table="orders_keyed", columns={**COLUMNS, "source_row": "id"})
    intake = load_source(Source(kind="database", database=keyed))
    result = clean_transactions(intake.engine, intake.transactions, as_of=AS_OF, rules=RULES)
    assert_every_row_accounted(result, range(1, len(analyst_env.transactions) + 1))
    missing = result.quarantine.loc[result.quarantine["reason"] == "missing_customer_id", "source_row"].tolist()
    assert missing
    with analyst_env.connect("shop") as con:
        ids = [row[0] for row in con.execute('SELECT id FROM orders_keyed WHERE "客户ID" IS NULL ORDER BY id')]
    assert missing == ids


def test_refused_connection_is_one_clear_message(analyst_env):
    closed = database(analyst_env, url=f"postgresql://analyst@127.0.0.1:{analyst_env.port + 1}/shop")
    with pytest.raises(DataError) as err:
        load_source(Source(kind="database", database=closed))
    message = str(err.value)
    assert f"cannot connect to the database at 127.0.0.1:{analyst_env.port + 1}/shop as analyst" in message
    assert "check that the server runs" in message and analyst_env.analyst_password not in message
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_wrong_password_does_not_echo_it(analyst_env, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, "wrong-" + analyst_env.analyst_password)
    with pytest.raises(DataError, match=r"password authentication failed .* \$SEGKIT_TEST_PG_PASSWORD") as err:
        load_source(Source(kind="database", database=database(analyst_env)))
    assert analyst_env.analyst_password not in str(err.value)


def test_missing_table_and_column_name_what_is_there(analyst_env):
    with pytest.raises(DataError, match=r"no table 'order' in the schema public; did you mean \"orders\""):
        load_source(Source(kind="database", database=database(analyst_env, table="order")))
    # a table of another schema, named without it: the message says where it is
    with analyst_env.connect("shop") as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS sales")
        con.execute("CREATE TABLE IF NOT EXISTS sales.receipts (cid text)")
        con.execute("GRANT USAGE ON SCHEMA sales TO analyst")
        con.execute("GRANT SELECT ON sales.receipts TO analyst")
    with pytest.raises(DataError, match=r"no table 'receipts' in the schema public; it is in sales\.receipts: name it so"):
        load_source(Source(kind="database", database=database(analyst_env, table="receipts")))
    with pytest.raises(DataError, match=r'column "amount" \(for amount\) is not there.*columns there: 客户ID, order_no'):
        load_source(Source(kind="database", database=database(
            analyst_env, columns={k: v for k, v in COLUMNS.items() if k != "amount"})))


def test_a_suggested_column_has_the_type_needed(analyst_env):
    """A mistyped amount column is matched against the number columns only: "orderd" is not offered
    the timestamp "ordered" for the amount (a user took that advice and mapped a date)."""
    near_date = {**COLUMNS, "amount": "orderd"}
    with pytest.raises(DataError) as refused:
        load_source(Source(kind="database", database=database(analyst_env, columns=near_date)))
    assert 'column "orderd" (for amount) is not there' in str(refused.value)
    assert 'did you mean "ordered"' not in str(refused.value)
    with pytest.raises(DataError, match=r'column "totl" \(for amount\) is not there; did you mean "total"\?'):
        load_source(Source(kind="database", database=database(analyst_env, columns={**COLUMNS, "amount": "totl"})))


def test_text_column_for_a_date_is_refused_with_advice(analyst_env):
    columns = {**{k: v for k, v in COLUMNS.items() if k != "category"}, "ordered_at": "cat"}
    with pytest.raises(DataError, match=r'column "cat" \(for ordered_at\) is string, not a date or timestamp.*CAST'):
        load_source(Source(kind="database", database=database(analyst_env, columns=columns)))


def test_report_from_the_database_shows_the_password_nowhere(analyst_env, cleaned, tmp_path):
    import yaml

    from segkit.report.runner import run_report

    params = tmp_path / "shop.yaml"
    params.write_text(yaml.safe_dump({
        "run_name": "shop", "lang": "zh", "as_of": str(AS_OF),
        "source": {"kind": "database", "database": database(analyst_env).model_dump(mode="json", exclude_none=True)},
        "cleaning": RULES.model_dump(mode="json"),
        "cluster": {"k_min": 2, "k_max": 4},
    }, allow_unicode=True), encoding="utf-8")
    result = run_report(params, reports_dir=tmp_path / "reports", pdf=False)
    folder = result.folder
    assert not (folder / "data" / "clean_transactions.parquet").exists()  # the rows stayed in the database
    features = pd.read_parquet(folder / "data" / "features.parquet")
    _, (_, file_features) = cleaned
    pd.testing.assert_frame_equal(features, file_features, check_dtype=False, atol=1e-9)
    info = json.loads((folder / "data" / "run.json").read_text(encoding="utf-8"))
    assert info["in_database"] and info["join"]["customer_records"] == 80
    secret = analyst_env.analyst_password.encode()
    for path in folder.rglob("*"):
        if path.is_file():
            assert secret not in path.read_bytes(), path


# -- libpq options in the url reach the connection ------------------------------------------------------

def test_sslmode_require_against_a_server_without_ssl_is_one_clear_refusal(analyst_env):
    from segkit.intake.sources import connect_database

    db = database(analyst_env, url=analyst_env.url("analyst") + "?sslmode=require")
    with pytest.raises(DataError, match=r"the server does not accept SSL connections, and the url asks for "
                                        r"sslmode=require; ask the database's administrator") as err:
        connect_database(db)
    assert analyst_env.analyst_password not in str(err.value) and err.value.__cause__ is None
    # the same url without the option connects: the refusal came from the option
    connect_database(database(analyst_env, url=analyst_env.url("analyst") + "?sslmode=disable")).disconnect()


def test_application_name_and_options_from_the_url_reach_the_server(analyst_env):
    from segkit.intake.sources import connect_database

    url = analyst_env.url("analyst") + "?application_name=segkit_probe&options=-c%20statement_timeout%3D4321"
    con = connect_database(database(analyst_env, url=url))
    try:
        with analyst_env.connect("shop") as admin:
            names = [row[0] for row in admin.execute("SELECT application_name FROM pg_stat_activity "
                                                     "WHERE usename = 'analyst'")]
        assert "segkit_probe" in names
        with con.raw_sql("SHOW statement_timeout") as cursor:
            assert cursor.fetchone()[0] == "4321ms"
    finally:
        con.disconnect()


def test_an_unknown_url_option_is_refused_by_name_before_connecting(analyst_env, tmp_path):
    import yaml

    from segkit.errors import ParamsError
    from segkit.params import load_params

    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"source": {"kind": "database", "database": {
        "url": analyst_env.url("analyst") + "?foo=1", "password_env": PASSWORD_ENV, "table": "orders"}}}))
    with pytest.raises(ParamsError, match=r"source.database: url option 'foo' is not a connection option; allowed: "
                                          r"application_name, .*sslmode, sslnegotiation, sslrootcert"):
        load_params(path)


def test_time_summaries_in_the_database_equal_the_file_path(analyst_env, cleaned):
    """The customer-value stage's inputs (repeat summary, holdout summary, monthly activity and the
    month-start features) computed in PostgreSQL equal those of the same rows from a file."""
    from segkit.features import time_summaries

    (intake, result), (file_result, _) = cleaned
    in_db = time_summaries(intake.engine, result.table, AS_OF, dt.date(2024, 9, 30), "weeks")
    from_file = time_summaries(None, file_result.table, AS_OF, dt.date(2024, 9, 30), "weeks")
    assert set(in_db) == set(from_file) >= {"repeat_summary", "holdout_summary", "activity", "month_start_features"}
    for name in in_db:
        database_frame, file_frame = in_db[name], from_file[name]
        assert len(database_frame) > 0, name
        keys = [c for c in ("month", "customer_id") if c in file_frame.columns]
        pd.testing.assert_frame_equal(database_frame.sort_values(keys).reset_index(drop=True),
                                      file_frame.sort_values(keys).reset_index(drop=True),
                                      check_dtype=False, atol=1e-9, obj=name)
    assert in_db["month_start_features"]["month"].nunique() == 11  # February to December 2024
    # the month-start columns a report asks for, computed in the database: the file path's full stage's
    from segkit.monthly.activity import month_start_columns

    wanted = month_start_columns(("recency_days", "orders", "revenue", "orders_recent"))
    narrow = time_summaries(intake.engine, result.table, AS_OF, dt.date(2024, 9, 30), "weeks",
                            month_start_columns=wanted)["month_start_features"]
    assert set(narrow.columns) == {"month", "customer_id", *wanted}
    full = from_file["month_start_features"][list(narrow.columns)]
    pd.testing.assert_frame_equal(narrow.sort_values(["month", "customer_id"]).reset_index(drop=True),
                                  full.sort_values(["month", "customer_id"]).reset_index(drop=True),
                                  check_dtype=False, atol=1e-9)


def test_cohort_and_kpi_counts_in_the_database_equal_the_file_path(analyst_env, cleaned):
    """03's cohort tables and the monthly KPIs counted in PostgreSQL (`segkit.monthly.engine_counts` over
    the monthly activity as a query there: a row per cell or month comes back) equal the file path's."""
    from segkit.monthly.activity import cohort_table, monthly_activity, monthly_activity_table, monthly_kpis

    (intake, result), (file_result, _) = cleaned
    table = monthly_activity_table(result.table)
    assert table.get_backend().name == "postgres"
    frame = monthly_activity(None, file_result.table)
    for measure in ("share_active", "customers", "revenue"):
        pd.testing.assert_frame_equal(cohort_table(table, measure), cohort_table(frame, measure),
                                      check_exact=measure != "revenue", rtol=1e-12, obj=measure)
    kpis = monthly_kpis(table)
    pd.testing.assert_frame_equal(kpis, monthly_kpis(frame), check_exact=True)
    assert len(kpis) == 12 and kpis["retention_rate"].iloc[1:].between(0, 1).all()


def test_a_true_false_column_for_the_customer_id_is_refused(analyst_env):
    with analyst_env.connect("shop") as con:  # the superuser makes a table with a boolean column
        con.execute("CREATE TABLE IF NOT EXISTS flagged AS SELECT *, true AS vip FROM orders LIMIT 5")
        con.execute("GRANT SELECT ON flagged TO analyst")
    columns = {**COLUMNS, "customer_id": "vip"}
    with pytest.raises(DataError, match=r'column "vip" \(for customer_id\) is boolean, not text or a number'):
        load_source(Source(kind="database", database=database(analyst_env, table="flagged", columns=columns)))


def test_timestamps_with_a_time_zone_are_read_in_the_zone_of_the_params_or_of_the_database(analyst_env):
    """PostgreSQL keeps a timestamptz as an instant; Ibis reads it in UTC. An order at 00:30 in
    Beijing on 1 October is an October order for a shop in Beijing: with cleaning.time_zone
    Asia/Shanghai it is 2026-10-01 00:30, with UTC 2026-09-30 16:30; without a zone, the database's
    own TimeZone setting (what psql shows) decides."""
    with analyst_env.connect("shop") as con:
        con.execute("CREATE TABLE IF NOT EXISTS orders_tz (cid text, oid text, paid_at timestamptz, total numeric(12,2))")
        con.execute("TRUNCATE orders_tz")
        con.execute("INSERT INTO orders_tz VALUES ('C1', 'O1', '2026-10-01 00:30+08', 10), "
                    "('C1', 'O2', '2026-09-15 12:00+08', 5)")
        con.execute("GRANT SELECT ON orders_tz TO analyst")
        zone = con.execute("SHOW TimeZone").fetchone()[0]
    columns = {"customer_id": "cid", "order_id": "oid", "ordered_at": "paid_at", "amount": "total"}
    db = database(analyst_env, table="orders_tz", columns=columns, customers=None, surveys=None)
    expected = {"Asia/Shanghai": "2026-10-01 00:30:00", "UTC": "2026-09-30 16:30:00",
                None: str(pd.Timestamp("2026-09-30 16:30", tz="UTC").tz_convert(zone).tz_localize(None))}
    for time_zone, last in expected.items():
        intake = load_source(Source(kind="database", database=db), time_zone=time_zone)
        result = clean_transactions(intake.engine, intake.transactions, as_of=dt.date(2026, 10, 31))
        assert str(result.clean["ordered_at"].max()) == last, time_zone


def test_a_view_whose_cast_fails_on_a_value_is_one_message_naming_the_table(analyst_env, tmp_path):
    # a new user followed the advice for a text amount: CAST(amount AS numeric) in a view; a "$251.18" among
    # the values stopped the query inside the notebook cell ("failed in cell 5 (InvalidTextRepresentation ...)")
    from segkit.intake.cleaning import clean_and_save

    with analyst_env.connect("shop") as con:
        con.execute("CREATE TABLE IF NOT EXISTS priced AS SELECT *, total::text AS total_text FROM orders")
        con.execute("UPDATE priced SET total_text = '$' || total_text WHERE order_no = (SELECT min(order_no) FROM priced)")
        con.execute("CREATE OR REPLACE VIEW priced_view AS SELECT \"客户ID\", order_no, ordered, qty, cat, channel, "
                    "CAST(total_text AS numeric) AS total FROM priced")
        con.execute("GRANT SELECT ON priced, priced_view TO analyst")
    intake = load_source(Source(kind="database", database=database(analyst_env, table="priced_view", customers=None,
                                                                    surveys=None)))
    with pytest.raises(DataError) as error:
        clean_and_save(intake, tmp_path / "data", as_of=AS_OF)
    said = str(error.value)
    assert said.startswith("database table priced_view: the database stopped segkit's query of the transactions "
                           "(InvalidTextRepresentation: ")
    assert '"$' in said and "a cast in a view fails on a value it cannot read" in said
    # so does a backfill, which reads the rows into the embedded engine once (it said "unexpected ...")
    from segkit.monthly.backfill import backfill

    params = write_database_params(tmp_path, database(analyst_env, table="priced_view", customers=None, surveys=None))
    with pytest.raises(DataError, match=r"^database table priced_view: the database stopped segkit's query"):
        backfill(params, "2024-10", "2024-11", reports_dir=tmp_path / "reports")
    # and the advice for a text amount gives the cast that reads a currency sign and thousands separators
    with pytest.raises(DataError, match=r"CAST\(replace\(replace\(total_text, '\$', ''\), ',', ''\) AS numeric\)"):
        load_source(Source(kind="database", database=database(analyst_env, table="priced",
                                                              columns={**COLUMNS, "amount": "total_text"})))


def test_an_empty_table_is_said_as_a_table_not_a_file(analyst_env, tmp_path):
    from segkit.intake.cleaning import NoTransactions, clean_and_save

    with analyst_env.connect("shop") as con:
        con.execute("CREATE TABLE IF NOT EXISTS orders_empty AS SELECT * FROM orders WHERE false")
        con.execute("GRANT SELECT ON orders_empty TO analyst")
    intake = load_source(Source(kind="database", database=database(analyst_env, table="orders_empty", customers=None,
                                                                    surveys=None)))
    with pytest.raises(NoTransactions) as error:
        clean_and_save(intake, tmp_path / "data", as_of=AS_OF)
    assert str(error.value) == ("database table orders_empty: there are no transactions: the table holds no rows; "
                                "check the table or view the params name, and that this user may see its rows")
    from segkit.monthly.backfill import backfill  # the rows read into the embedded engine: still a table's words

    params = write_database_params(tmp_path, database(analyst_env, table="orders_empty", customers=None, surveys=None))
    with pytest.raises(NoTransactions, match="the table holds no rows"):
        backfill(params, "2024-10", "2024-11", reports_dir=tmp_path / "reports")


def test_backfill_reads_the_database_once_and_writes_the_file_paths_history(analyst_env, tmp_path, monkeypatch):
    """Each month of a backfill asked PostgreSQL a dozen queries that recomputed every rule over the whole
    table (a new user's 15 months took 308 s for 24,639 lines); the rows are now read into the embedded
    engine once, and the months' history is the one the same rows give from a file."""
    import yaml

    from segkit.intake.cleaning import PreparedInput
    from segkit.monthly.backfill import backfill
    from segkit.monthly.history import history_path, read_history

    reads = []
    original = PreparedInput.read_into_engine
    monkeypatch.setattr(PreparedInput, "read_into_engine", lambda self: reads.append(1) or original(self))
    frame = analyst_env.transactions[list(TYPES)].copy()
    frame["ordered"] = frame["ordered"].dt.strftime("%Y-%m-%d %H:%M:%S")
    frame.to_csv(tmp_path / "orders.csv", index=False)
    sources = {"database": {"kind": "database", "database": database(analyst_env, customers=None, surveys=None).model_dump(
                   mode="json", exclude_none=True)},
               "file": {"kind": "file", "transactions": {"path": str(tmp_path / "orders.csv"), "columns": COLUMNS}}}
    histories = {}
    for name, source in sources.items():
        params = tmp_path / f"{name}.yaml"
        params.write_text(yaml.safe_dump({"run_name": "shop", "source": source, "cleaning": RULES.model_dump(mode="json")},
                                         allow_unicode=True), encoding="utf-8")
        backfill(params, "2024-10", "2024-12", reports_dir=tmp_path / name)
        histories[name] = read_history(history_path(tmp_path / name), "shop")
    assert reads == [1]  # the database's rows, read once for the three months
    for table, keys in (("assignments", ["month", "customer_id"]), ("kpis", ["month", "name"])):
        in_db, from_file = (histories[name][table].sort_values(keys).reset_index(drop=True) for name in sources)
        assert len(in_db) > 0 and in_db["month"].nunique() == 3
        pd.testing.assert_frame_equal(in_db, from_file, check_dtype=False, atol=1e-9, obj=table)
