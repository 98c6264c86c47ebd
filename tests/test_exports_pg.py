"""The PostgreSQL write-back of the exports against a real server (tests/pg_server.py), and the
exports of the shared English report (`en_run`)."""

import json
import secrets

import pandas as pd
import pytest

from pg_server import start_server
from segkit.params import Database
from segkit.report.exports import ExportError, write_postgres
from test_exports import NASTY, frame

pytestmark = pytest.mark.slow

PASSWORD_ENV = "SEGKIT_TEST_EXPORT_PASSWORD"


@pytest.fixture(scope="module")
def pg():
    """A server with database shop: the source table orders, the schema segkit, and three roles:
    writer (may create in segkit), reader (may only read: no CREATE on segkit) and locked (its
    sessions are read-only), all with the same password."""
    server = start_server()
    try:
        with server.connect() as con:
            con.execute("CREATE DATABASE shop")
        password = secrets.token_urlsafe(16)
        with server.connect("shop") as con:
            con.execute("CREATE TABLE orders (customer_id text, amount numeric(12, 2))")
            con.execute("INSERT INTO orders VALUES ('C1', 10.5), ('C2', 20)")
            con.execute("CREATE SCHEMA segkit")
            for role in ("writer", "reader", "locked"):
                con.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
                con.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
                con.execute(f"GRANT USAGE ON SCHEMA segkit TO {role}")
            con.execute("GRANT CREATE ON SCHEMA segkit TO writer, locked")
            con.execute("GRANT CREATE ON SCHEMA public TO writer")
            con.execute("ALTER ROLE locked SET default_transaction_read_only = on")
        server.password = password
        yield server
    finally:
        server.stop()


@pytest.fixture
def env(pg, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, pg.password)
    return pg


def db(pg, role: str) -> Database:
    return Database(url=pg.url(role, "shop"), password_env=PASSWORD_ENV, table="orders")


def rows(pg, query: str) -> list[tuple]:
    with pg.connect("shop") as con:
        return con.execute(query).fetchall()


def test_write_back_creates_a_typed_table_with_labels_and_replaces_it(env):
    exported = frame()
    assert write_postgres(exported, db(env, "writer"), "segkit", "customers", comment="run tiny") == "segkit.customers"
    assert rows(env, "SELECT count(*) FROM segkit.customers") == [(9,)]
    assert rows(env, "SELECT segment_name, count(*) FROM segkit.customers GROUP BY 1 ORDER BY 1")[0] == ("At Risk", 1)
    # ids as they are (a database runs no formula), numbers as numbers
    assert rows(env, "SELECT customer_id, revenue FROM segkit.customers WHERE revenue < 0") == [(NASTY[3], -12.5)]
    types = dict(rows(env, "SELECT column_name, data_type FROM information_schema.columns "
                           "WHERE table_schema = 'segkit' AND table_name = 'customers'"))
    assert (types["rank"], types["revenue"], types["last_purchase"], types["churn_risk"]) == (
        "bigint", "double precision", "date", "boolean")
    assert rows(env, "SELECT obj_description('segkit.customers'::regclass)") == [("run tiny",)]
    write_postgres(exported.head(4), db(env, "writer"), "segkit", "customers")
    assert rows(env, "SELECT count(*) FROM segkit.customers") == [(4,)]  # replaced, not appended


def test_a_failed_write_keeps_the_previous_table(env):
    write_postgres(frame(), db(env, "writer"), "segkit", "kept")
    broken = frame().assign(customer_id=lambda f: f["customer_id"].where(f.index != 5, "bad\x00id"))  # NUL: refused
    with pytest.raises(ExportError, match="writing segkit.kept failed and the database kept what it had"):
        write_postgres(broken, db(env, "writer"), "segkit", "kept")
    assert rows(env, "SELECT count(*) FROM segkit.kept") == [(9,)]


def test_a_role_that_may_only_read_is_refused_before_anything_is_written(env):
    with pytest.raises(ExportError, match="the database role reader may only read in schema segkit .*GRANT USAGE, "
                                          "CREATE ON SCHEMA segkit TO reader"):
        write_postgres(frame(), db(env, "reader"), "segkit", "by_reader")
    with pytest.raises(ExportError, match="the database role locked may only read here \\(its sessions are read-only\\)"):
        write_postgres(frame(), db(env, "locked"), "segkit", "by_locked")
    with pytest.raises(ExportError, match="schema elsewhere does not exist and the database role reader may not create it"):
        write_postgres(frame(), db(env, "reader"), "elsewhere", "customers")
    assert rows(env, "SELECT count(*) FROM pg_tables WHERE tablename IN ('by_reader', 'by_locked')") == [(0,)]


def test_a_table_of_another_role_is_not_replaced(env):
    with env.connect("shop") as con:
        con.execute("CREATE TABLE segkit.theirs (x int)")
    with pytest.raises(ExportError, match="cannot replace segkit.theirs: it belongs to the role segkit"):
        write_postgres(frame(), db(env, "writer"), "segkit", "theirs")


def test_the_source_table_is_never_the_target(env):
    # writer may create in public, where the source table orders lives
    with pytest.raises(ExportError, match="public.orders, which is the source table orders this run reads"):
        write_postgres(frame(), db(env, "writer"), "public", "orders")
    assert rows(env, "SELECT count(*) FROM public.orders") == [(2,)]


def test_a_wrong_password_is_one_message_without_it(env, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password-42")
    with pytest.raises(ExportError, match="cannot connect to the database") as caught:
        write_postgres(frame(), db(env, "writer"), "segkit", "customers")
    assert "not-the-password-42" not in str(caught.value)


def test_every_run_writes_its_exports(en_run):
    _, result = en_run
    exports = result.folder / "exports"
    assert sorted(p.name for p in exports.iterdir()) == ["customers.csv", "customers.parquet", "customers.xlsx"]
    customers = len(pd.read_parquet(result.folder / "data" / "profile.parquet"))
    assert len(pd.read_parquet(exports / "customers.parquet")) == customers
    outputs = json.loads((result.folder / "manifest.json").read_text(encoding="utf-8"))["outputs"]
    assert {"exports/customers.csv", "exports/customers.xlsx", "exports/customers.parquet"} <= set(outputs)


def test_a_report_whose_write_back_fails_keeps_its_pages_and_files_and_says_how_to_retry(env, tmp_path):
    """The write-back runs once the report is whole and in place: a role that may only read loses the
    database table, not the report (it was the whole run), and the message gives the command that
    writes it again once the role is granted."""
    from segkit.params import validate_params
    from segkit.report.runner import _write_back
    from test_exports import fake_run

    folder = fake_run(tmp_path)
    source = {"kind": "database", "database": {"url": env.url("reader", "shop"), "password_env": PASSWORD_ENV,
                                               "table": "orders"}}
    params = validate_params({"run_name": "tiny", "source": source,
                              "exports": {"formats": ["csv", "postgres"], "postgres_schema": "segkit",
                                          "postgres_table": "by_report"}})
    said = []
    reason = _write_back(folder, params, said.append)
    assert "the database role reader may only read in schema segkit" in reason
    assert said[0] == "writing back to PostgreSQL: segkit.by_report"
    assert f"run `segkit export {folder} --format postgres`" in said[-1] and "the report and its files are good" in said[-1]
    writer = validate_params({"run_name": "tiny", "source": {**source, "database": {**source["database"],
                                                                                    "url": env.url("writer", "shop")}},
                              "exports": {"formats": ["postgres"], "postgres_schema": "segkit",
                                          "postgres_table": "by_report"}})
    assert _write_back(folder, writer, said.append) is None
    assert rows(env, "SELECT count(*) FROM segkit.by_report") == [(9,)]
