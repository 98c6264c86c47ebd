"""The PostgreSQL write-back of the exports against a real server (tests/pg_server.py), and the
exports of the shared English report (`en_run`)."""

import json
import re
import secrets

import pandas as pd
import pytest

from pg_server import start_server
from segkit.i18n import t, terminal_text
from segkit.params import Database
from segkit.report.exports import COLUMNS, ExportError, write_postgres
from test_exports import NASTY, frame
from test_terminal_text import english_left

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
    with pytest.raises(ExportError, match="cannot replace segkit.theirs: it belongs to the role segkit") as caught:
        write_postgres(frame(), db(env, "writer"), "segkit", "theirs")
    # the name may be another team's table: another name first, the ownership second, never "drop it"
    message = str(caught.value)
    assert message.index("choose another exports.postgres_table") < message.index(
        "`ALTER TABLE segkit.theirs OWNER TO writer`") and "drop it" not in message
    said_in_chinese(message)


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
    assert reason.endswith("or remove postgres from exports.formats")  # whole: its advice is at its end
    assert said[0] == "writing back to PostgreSQL: segkit.by_report"
    assert f"run `segkit export {folder} --format postgres`" in said[-1] and "the report and its files are good" in said[-1]
    assert reason in said[-1]
    writer = validate_params({"run_name": "tiny", "source": {**source, "database": {**source["database"],
                                                                                    "url": env.url("writer", "shop")}},
                              "exports": {"formats": ["postgres"], "postgres_schema": "segkit",
                                          "postgres_table": "by_report"}})
    assert _write_back(folder, writer, said.append) is None
    assert rows(env, "SELECT count(*) FROM segkit.by_report") == [(9,)]


# ---------------------------------------------------------------- next month's write-back

def as_role(pg, role: str, query: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(host="127.0.0.1", port=pg.port, user=role, password=pg.password, dbname="shop",
                         autocommit=True) as con:
        return con.execute(query).fetchall()


def said_in_chinese(message: str) -> str:
    """The message as a zh run's terminal says it, checked for English left over besides the database's own
    words (原话), SQL types, the export's column names and the roles and schemas of these tests."""
    zh = terminal_text(f"error: {message}", "zh")
    kept = re.sub(r"原话：[^）]*|\b(?:reader|writer|locked|elsewhere|bigint|text|double precision|date|boolean|"
                  rf"TRUNCATE|PostgreSQL|psycopg|pip|postgres|public|{'|'.join(COLUMNS)})\b", "", zh)
    assert english_left(kept) == [], zh
    return zh


def test_next_months_write_keeps_the_table_the_rights_on_it_and_the_views_that_read_it(env):
    """A BI role granted SELECT and a view on the table (what BI tools are given) still read it after the
    next write with the same columns: the same table (oid), its rows replaced, its index kept."""
    write_postgres(frame(), db(env, "writer"), "segkit", "customer_segments", comment="run 1")
    with env.connect("shop") as con:
        con.execute("GRANT SELECT ON segkit.customer_segments TO reader")
        con.execute("CREATE VIEW public.bi_m AS SELECT * FROM segkit.customer_segments")
        con.execute("GRANT SELECT ON public.bi_m TO reader")
        con.execute("CREATE INDEX bi_by_segment ON segkit.customer_segments (segment)")
    oid = rows(env, "SELECT 'segkit.customer_segments'::regclass::oid")
    write_postgres(frame().head(4), db(env, "writer"), "segkit", "customer_segments", comment="run 2")
    assert as_role(env, "reader", "SELECT count(*) FROM segkit.customer_segments") == [(4,)]
    assert as_role(env, "reader", "SELECT count(*) FROM public.bi_m") == [(4,)]
    assert rows(env, "SELECT 'segkit.customer_segments'::regclass::oid") == oid
    assert rows(env, "SELECT obj_description('segkit.customer_segments'::regclass)") == [("run 2",)]
    assert rows(env, "SELECT count(*) FROM pg_indexes WHERE indexname = 'bi_by_segment'") == [(1,)]
    # a write that fails halfway leaves the rows and the rights as they were
    broken = frame().assign(customer_id=lambda f: f["customer_id"].where(f.index != 5, "bad\x00id"))
    with pytest.raises(ExportError, match="writing segkit.customer_segments failed and the database kept what it had"):
        write_postgres(broken, db(env, "writer"), "segkit", "customer_segments")
    assert as_role(env, "reader", "SELECT count(*) FROM public.bi_m") == [(4,)]


def test_a_table_with_other_columns_is_made_anew_with_the_rights_others_had_on_it(env):
    """An earlier segkit's table (fewer columns) is dropped and created with the new columns; the rights
    given on it, the table's and a column's, with their grant option, are given again."""
    narrow = frame().drop(columns=["clv", "p_alive"])
    write_postgres(narrow, db(env, "writer"), "segkit", "widened")
    with env.connect("shop") as con:
        con.execute("GRANT SELECT ON segkit.widened TO reader WITH GRANT OPTION")
        con.execute("GRANT SELECT (customer_id, segment) ON segkit.widened TO locked")
    write_postgres(frame(), db(env, "writer"), "segkit", "widened")
    assert as_role(env, "reader", "SELECT count(clv) FROM segkit.widened") == [(8,)]
    assert as_role(env, "locked", "SELECT count(segment) FROM segkit.widened") == [(9,)]
    assert rows(env, "SELECT has_table_privilege('reader', 'segkit.widened', 'SELECT WITH GRANT OPTION'), "
                     "has_column_privilege('locked', 'segkit.widened', 'customer_id', 'SELECT'), "
                     "has_column_privilege('locked', 'segkit.widened', 'clv', 'SELECT')") == [(True, True, False)]


def test_a_view_on_a_table_whose_columns_change_keeps_the_old_table_and_is_named_with_what_to_do(env):
    write_postgres(frame().drop(columns=["clv"]), db(env, "writer"), "segkit", "viewed")
    with env.connect("shop") as con:
        con.execute("CREATE VIEW public.bi_v AS SELECT customer_id, segment FROM segkit.viewed")
        con.execute("CREATE MATERIALIZED VIEW public.bi_mv AS SELECT count(*) AS customers FROM segkit.viewed")
    with pytest.raises(ExportError) as caught:
        write_postgres(frame(), db(env, "writer"), "segkit", "viewed")
    message = str(caught.value)
    assert message.startswith("cannot write segkit.viewed: the materialized view public.bi_mv, the view public.bi_v "
                              "depend on it, and segkit must drop the table and create it anew, as its columns changed "
                              "(added columns: clv); the old table is kept.")
    assert "(`DROP MATERIALIZED VIEW public.bi_mv`; `DROP VIEW public.bi_v`)" in message
    assert "may create tables" not in message
    zh = said_in_chinese(message)
    assert "物化视图 public.bi_mv, 视图 public.bi_v 依赖于这张表" in zh and "新增的列：clv" in zh
    assert rows(env, "SELECT count(*) FROM public.bi_v") == [(9,)]
    assert rows(env, "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'segkit' "
                     "AND table_name = 'viewed' AND column_name = 'clv'") == [(0,)]


def test_a_target_that_is_a_view_is_refused_by_what_it_is(env):
    with env.connect("shop") as con:
        con.execute("CREATE VIEW segkit.a_view AS SELECT 1 AS x")
        con.execute("ALTER VIEW segkit.a_view OWNER TO writer")
    with pytest.raises(ExportError, match="cannot write segkit.a_view: it is a view, not a table; choose another "
                                          "exports.postgres_table") as caught:
        write_postgres(frame(), db(env, "writer"), "segkit", "a_view")
    assert "它是视图，不是表" in said_in_chinese(str(caught.value))


def test_the_messages_of_a_role_that_may_not_write_are_said_in_chinese(env):
    for role, schema in (("reader", "segkit"), ("locked", "segkit"), ("reader", "elsewhere")):
        with pytest.raises(ExportError) as caught:
            write_postgres(frame(), db(env, role), schema, "zh_said")
        said_in_chinese(str(caught.value))
    with pytest.raises(ExportError) as caught:
        write_postgres(frame(), db(env, "writer"), "public", "orders")
    said_in_chinese(str(caught.value))
    broken = frame().assign(customer_id=lambda f: f["customer_id"].where(f.index != 5, "bad\x00id"))
    with pytest.raises(ExportError) as caught:
        write_postgres(broken, db(env, "writer"), "segkit", "zh_said")
    assert "数据库保留了原有内容" in said_in_chinese(str(caught.value))


def test_column_comments_are_in_the_runs_language(env, tmp_path):
    from segkit.report.exports import export_run_folder
    from test_exports import fake_run

    write_postgres(frame("zh"), db(env, "writer"), "segkit", "zh_direct", lang="zh")
    assert rows(env, "SELECT col_description('segkit.zh_direct'::regclass, 1)") == [(t("exports.desc.customer_id",
                                                                                        "zh"),)]
    # `segkit export` of a zh run: the comments in the run's language, as its labels
    source = {"kind": "database", "database": {"url": env.url("writer", "shop"), "password_env": PASSWORD_ENV,
                                               "table": "orders"}}
    folder = fake_run(tmp_path, lang="zh", source=source,
                      exports={"formats": ["postgres"], "postgres_schema": "segkit", "postgres_table": "zh_run"})
    assert export_run_folder(folder) == ["segkit.zh_run"]
    assert rows(env, "SELECT col_description('segkit.zh_run'::regclass, a.attnum) FROM pg_attribute a "
                     "WHERE a.attrelid = 'segkit.zh_run'::regclass AND a.attname = 'segment_name'") == [
        (t("exports.desc.segment_name", "zh"),)]
    assert ("冠军客户",) in rows(env, "SELECT DISTINCT segment_name FROM segkit.zh_run")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_segkit_report_whose_write_back_fails_exits_2_with_the_whole_message(env, tmp_path, monkeypatch, lang):
    """A cron job sees that the CRM table is stale: the report is kept (its index on stdout), the command
    exits 2, and its last line says the whole reason, what to do and the command that writes it again, in
    the run's language. The notebooks are left out (a fake run folder), the write-back is the runner's own."""
    from typer.testing import CliRunner

    from conftest import write_params
    from segkit.cli import app
    from segkit.params import validate_params
    from segkit.report import runner
    from test_exports import fake_run

    source = {"kind": "database", "database": {"url": env.url("reader", "shop"), "password_env": PASSWORD_ENV,
                                               "table": "orders"}}
    exports = {"formats": ["csv", "postgres"], "postgres_schema": "segkit", "postgres_table": "by_cli"}

    def report_without_notebooks(params_path, progress=lambda message: None, **_):
        folder = fake_run(tmp_path, lang=lang, source=source, exports=exports)
        params = validate_params({"run_name": "tiny", "lang": lang, "source": source, "exports": exports})
        failed = runner._write_back(folder, params, progress)
        progress(f"report ready: {folder / 'index.html'}")
        return runner.RunResult(folder, {}, {"total": 1.0}, None, failed)

    monkeypatch.setattr(runner, "run_report", report_without_notebooks)
    params = write_params(tmp_path, "tiny", lang=lang)
    result = CliRunner().invoke(app, ["report", "--params", str(params), "--out", str(tmp_path / "reports")])
    assert result.exit_code == 2, result.output
    folder = tmp_path / "run"
    lines = result.output.strip().splitlines()
    assert str(folder / "index.html") in lines
    last = lines[-1]
    if lang == "en":
        assert last.startswith("error: the write-back to PostgreSQL failed: cannot write segkit.by_cli: the database "
                               "role reader may only read in schema segkit")
        assert last.endswith("or remove postgres from exports.formats; the report and its files are good: once that "
                             f"is fixed, run `segkit export {folder} --format postgres`")
    else:
        assert last.startswith("错误：写回 PostgreSQL 失败：无法写入 segkit.by_cli：数据库角色 reader 在模式 segkit 中只能读取")
        assert last.endswith(f"请运行 `segkit export {folder} --format postgres`")
        for line in lines:
            if line != str(folder / "index.html"):
                said_in_chinese(terminal_text(line, "zh").removeprefix("错误："))


def test_a_customer_tables_columns_are_written_typed_with_their_comment(env):
    """`exports.attributes` (a customer table's columns, tests/test_table_attributes.py): their SQL types from
    their values, their comment the attribute's description."""
    from segkit.report.exports import _attribute_column

    exported = frame().head(3)
    exported["email_opt_in"] = _attribute_column(pd.Series(["yes", None, "no"], dtype="string"))
    exported["credit_limit"] = _attribute_column(pd.Series([1500.0, float("nan"), 800.0]))  # a join's NaN: whole
    exported["signup_date"] = _attribute_column(pd.Series(pd.to_datetime(["2024-01-02", None, "2023-05-06"])))
    write_postgres(exported, db(env, "writer"), "segkit", "with_attributes")
    types = dict(rows(env, "SELECT column_name, data_type FROM information_schema.columns "
                           "WHERE table_schema = 'segkit' AND table_name = 'with_attributes'"))
    assert (types["email_opt_in"], types["credit_limit"], types["signup_date"]) == ("text", "bigint", "date")
    written = {r[0]: r[1:] for r in rows(env, "SELECT customer_id, email_opt_in, credit_limit, signup_date::text "
                                              "FROM segkit.with_attributes")}
    ids = exported["customer_id"].tolist()
    assert written == {ids[0]: ("yes", 1500, "2024-01-02"), ids[1]: (None, None, None), ids[2]: ("no", 800, "2023-05-06")}
    assert rows(env, "SELECT col_description('segkit.with_attributes'::regclass, a.attnum) FROM pg_attribute a "
                     "WHERE a.attrelid = 'segkit.with_attributes'::regclass AND a.attname = 'credit_limit'") == [
        (t("exports.desc.attribute", "en"),)]
