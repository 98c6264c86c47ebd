"""Spark (local mode) runs segkit's engine expressions as DuckDB and PostgreSQL do: the same small
shop with defects (lines exported twice, lost customer ids, returns, a postage line, a zero-price
line, a date typo far in the future, amounts that are NaN, infinite or implausible) gives the same
ledgers, quarantine, customers and per-customer figures through DuckDB (a Parquet file), a real
PostgreSQL server and Spark. One SparkSession for the whole run (about 10 s to start)."""

import datetime as dt
import importlib.util
import os

import numpy as np
import pandas as pd
import pytest

from conftest import IN_CI

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("spark")]  # one worker, one SparkSession

if importlib.util.find_spec("pyspark") is None:
    _WHY = "pyspark is not installed: pip install 'segkit[spark]' (./run.sh test installs it)"
    if IN_CI:  # CI installs the spark extra: a missing pyspark there is a broken set-up, not a skip
        pytest.fail(_WHY, pytrace=False)
    pytest.skip(_WHY, allow_module_level=True)

from ledger_check import assert_every_row_accounted  # noqa: E402
from pg_server import load_table, start_server  # noqa: E402
from segkit.errors import DataError  # noqa: E402
from segkit.intake.cleaning import clean_transactions, join_report  # noqa: E402
from segkit.intake.sources import load_source, spark_backend  # noqa: E402
from segkit.params import Cleaning, Source, Spark, SparkTable  # noqa: E402
from segkit.store import load_stage  # noqa: E402

RULES = Cleaning(returns={"order_prefix": "R", "action": "net"}, non_product=["postage"],
                 fill={"channel": "unknown"}, outliers={"method": "quantile", "threshold": 0.99, "action": "cap"})
# as in ../shared/ENVIRONMENT.md: small, quiet, local only
SETTINGS = {"spark.ui.enabled": False, "spark.ui.showConsoleProgress": False, "spark.sql.shuffle.partitions": 4,
            "spark.driver.memory": "3g",  # the month-start features of a whole year are a large plan (1g: out of heap)
            "spark.driver.bindAddress": "127.0.0.1",
            # a few thousand rows: the time is Spark planning and compiling each query, not running it; without
            # whole-stage code generation and adaptive re-planning the module's queries take 0.6-0.7 of the time
            # (cleaning 57 -> 41 s, time summaries 35 -> 21 s here). Not spark.sql.codegen.factoryMode NO_CODEGEN:
            # then the catalog cannot list its tables (EXPRESSION_DECODING_FAILED), which a message reads
            "spark.sql.codegen.wholeStage": False, "spark.sql.adaptive.enabled": False}
PG_TYPES = {"line": "integer", "customer_id": "text", "order_id": "text", "ordered_at": "timestamp",
            "amount": "double precision", "quantity": "integer", "category": "text", "channel": "text"}
AMOUNT_RULES = ("non_finite_amount", "implausible_amount")  # their detail shows the number as the engine writes it


def shop() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The transactions (with `line`, 1, 2, ... in file order) and the customer table."""
    from segkit.datasets import generate_retail

    data = generate_retail(customers=60, start="2024-01-01", months=6, seed=3, defects=0.04)
    tx = data.transactions
    odd = pd.DataFrame({
        "customer_id": ["C000001", "C000002", "C000003", "C000010", "C000011", "C000012", " \t", "C000013",
                        "C000014"],
        "order_id": ["O99999998", "O99999999", "O99999997", "E1", "E2", "E3", "E4", "E5", "E6"],
        "ordered_at": pd.to_datetime(["2024-03-01 10:00", "2024-03-02 10:00", "2099-02-01 10:00",
                                      "2024-05-01 23:59:59.999999", "2024-05-02", "2024-05-03", "2024-05-04", None,
                                      "2024-05-06"], format="ISO8601"),
        "amount": [6.0, 0.0, 12.0, np.nan, np.inf, 1e13, 5.0, 7.0, 12345678.905],
        "quantity": 1, "category": ["postage", "books", "books", "toys", "toys", "toys", "toys", "toys", "toys"],
        "channel": ["online", None, "app", "app", "app", "app", "app", "app", "app"]})
    tx = pd.concat([tx, odd, tx.iloc[[5, 6]]], ignore_index=True)  # two lines exported twice
    tx.loc[tx.index % 37 == 1, "channel"] = None  # filled as "unknown"
    tx.insert(0, "line", np.arange(1, len(tx) + 1, dtype="int32"))
    return tx, data.customers


@pytest.fixture(scope="module")
def shop_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("spark-shop")
    tx, customers = shop()
    tx.drop(columns="line").to_parquet(folder / "orders.parquet", index=False)  # DuckDB: source_row is the line
    tx.to_parquet(folder / "orders_keyed.parquet", index=False)  # Spark and PostgreSQL: mapped from `line`
    customers.to_parquet(folder / "customers.parquet", index=False)
    return folder, tx, customers


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    """The run's one SparkSession, started through segkit (a temp warehouse: never spark-warehouse/ here)."""
    from segkit.intake.sources import spark_session

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    warehouse = tmp_path_factory.mktemp("spark-warehouse")
    settings = Spark(master="local[2]", path="unused.parquet",
                     config={**SETTINGS, "spark.sql.warehouse.dir": str(warehouse)})
    session = spark_session(settings)
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def pg_shop(shop_files):
    server = start_server()
    try:
        with server.connect() as con:
            con.execute("CREATE DATABASE shop")
        with server.connect("shop") as con:
            load_table(con, "orders", shop_files[1], PG_TYPES)
            load_table(con, "customers", shop_files[2], {"customer_id": "text", "customer_type": "text",
                                                         "region": "text", "signup_date": "date", "age_band": "text"})
        yield server
    finally:
        server.stop()


def spark_source(folder, **changes) -> Source:
    settings = dict(existing=True, path=str(folder / "orders_keyed.parquet"), columns={"source_row": "line"},
                    customers=SparkTable(path=str(folder / "customers.parquet")))
    return Source(kind="spark", spark=Spark(**{**settings, **changes}))


# the cleaning rules of RULES, as a params file writes them
RULES_PARAMS = {"returns": {"order_prefix": "R", "action": "net"}, "non_product": ["postage"],
                "fill": {"channel": "unknown"}, "outliers": {"method": "quantile", "threshold": 0.99, "action": "cap"}}
STAGES = ("features", "repeat_summary", "holdout_summary", "activity", "month_start_features")


@pytest.fixture(scope="module")
def runs(spark, pg_shop, shop_files, tmp_path_factory):
    """The same rows through 01's stage (`segkit.cleaning_stage`: cleaning, features, the repeat-buying
    and holdout summaries, the monthly activity and month-start features) on each engine, once for
    the module: the result, the stage files it wrote, the join report, the params and data folder.
    Spark runs it on the existing session, as docs/spark.md's spark-submit script does."""
    import segkit
    from conftest import write_params

    folder = shop_files[0]
    sources = {
        "duckdb": {"kind": "file", "transactions": {"path": str(folder / "orders.parquet")},
                   "customers": {"path": str(folder / "customers.parquet")}},
        "postgres": {"kind": "database", "database": {"url": pg_shop.url(), "table": "orders",
                                                      "columns": {"source_row": "line"},
                                                      "customers": {"table": "customers"}}},
        "spark": {"kind": "spark", "spark": {"existing": True, "path": str(folder / "orders_keyed.parquet"),
                                             "columns": {"source_row": "line"},
                                             "customers": {"path": str(folder / "customers.parquet")}}}}
    out = {}
    for name, source in sources.items():
        work = tmp_path_factory.mktemp(f"stage-{name}")
        params_path = write_params(work, name, source=source, as_of=None, cleaning=RULES_PARAMS,
                                   evaluate={"holdout_months": 2})  # half a year of data: a holdout of two months
        p = segkit.load_params(params_path)
        assert p.cleaning == RULES
        intake = segkit.load_source(p.source, params_path, time_zone=p.cleaning.time_zone, decimal=p.cleaning.decimal)
        result = segkit.cleaning_stage(intake, work / "data", p)
        out[name] = {"result": result, "join": join_report(result.table, intake.customers, None),
                     "params": params_path, "data": work / "data",
                     **{stage: load_stage(work / "data", stage) for stage in STAGES}}
    assert out["spark"]["result"].table.get_backend().name == "pyspark"
    assert out["postgres"]["result"].table.get_backend().name == "postgres"
    return out


def test_duckdb_postgres_and_spark_give_identical_ledgers_and_customers(runs, shop_files):
    tx = shop_files[1]
    base = runs["duckdb"]["result"]
    assert_every_row_accounted(base, tx["line"])
    applied = set(base.ledger.loc[base.ledger["rows"] > 0, "rule"])
    assert {"duplicate", "missing_customer_id", "missing_date", "non_finite_amount", "implausible_amount",
            "implausible_future_date", "non_product", "non_positive_amount"} <= applied
    assert {"return_netted", "filled_channel", "outlier_capped"} <= {p for r in applied for p in r.split("+")}
    assert base.as_of_rule == "latest_plausible_date" and base.returns["lines"] > 0
    for engine in ("postgres", "spark"):
        run = runs[engine]
        result = run["result"]
        assert result.in_database and result.as_of == base.as_of, engine
        assert_every_row_accounted(result, tx["line"])
        pd.testing.assert_frame_equal(result.ledger, base.ledger, obj=f"{engine} ledger")
        pd.testing.assert_frame_equal(result.customer_ledger, base.customer_ledger, obj=f"{engine} customer ledger")
        pd.testing.assert_frame_equal(result.customers_set_aside, base.customers_set_aside, check_dtype=False)
        assert result.returns == base.returns, engine
        shown = ["source_row", "reason", "order_id"]  # a database keeps its ids as they are (" \\t")
        pd.testing.assert_frame_equal(result.quarantine[shown], base.quarantine[shown], check_dtype=False,
                                      obj=f"{engine} quarantine")
        words = ~base.quarantine["reason"].isin(AMOUNT_RULES)
        assert result.quarantine["detail"][words].tolist() == base.quarantine["detail"][words].tolist(), engine
        for name in STAGES:
            pd.testing.assert_frame_equal(run[name], runs["duckdb"][name], check_dtype=False, atol=1e-9,
                                          obj=f"{engine} {name}")
        assert run["join"] == runs["duckdb"]["join"], engine
    assert len(runs["spark"]["features"]) == runs["spark"]["join"]["buyers"] - len(base.customers_set_aside)


def test_only_counts_set_aside_rows_and_customers_leave_spark(runs):
    result = runs["spark"]["result"]
    assert result.table.get_backend().name == "pyspark" and result.scored.get_backend().name == "pyspark"
    assert result.input.get_backend().name == "pyspark"  # lazy tables in Spark; only frames of counts came back
    assert len(result.quarantine) == int(result.ledger.loc[result.ledger["outcome"] == "set_aside", "rows"].sum())
    assert runs["spark"]["join"]["customer_records"] == 60


def test_a_metastore_table_or_view_reads_as_the_files_do(spark, shop_files):
    folder, tx, _ = shop_files
    spark.read.parquet(str(folder / "orders_keyed.parquet")).createOrReplaceTempView("shop_orders_2024")
    spark.read.parquet(str(folder / "customers.parquet")).createOrReplaceTempView("shop_customers")
    from_view = load_source(spark_source(folder, path=None, table="shop_orders_2024",
                                         customers=SparkTable(table="shop_customers")))
    from_files = load_source(spark_source(folder))
    one, two = (intake.transactions.order_by("source_row").to_pandas() for intake in (from_view, from_files))
    pd.testing.assert_frame_equal(one, two)
    assert one["source_row"].tolist() == tx["line"].tolist() and one["amount"].dtype == "float64"
    pd.testing.assert_frame_equal(from_view.customers, from_files.customers)
    assert len(from_view.customers) == 60 and from_view.customers["customer_id"].dtype == "string"


def test_a_relative_path_is_read_from_the_params_folder(spark, shop_files):
    folder = shop_files[0]
    intake = load_source(spark_source(folder, path="orders_keyed.parquet"), params_path=folder / "shop.yaml")
    assert int(intake.transactions.count().to_pyarrow().as_py()) == len(shop_files[1])


# -- one clear message for each way it can fail ------------------------------------------------------

def test_a_table_that_is_not_there_names_the_close_ones(spark, shop_files):
    spark.createDataFrame(pd.DataFrame({"a": [1]})).createOrReplaceTempView("shop_orders_2025")
    with pytest.raises(DataError, match=r"source\.spark\.table: Spark has no table 'shop_ordrs_2025'; did you mean "
                                        r"'shop_orders_2025'"):
        load_source(spark_source(shop_files[0], path=None, table="shop_ordrs_2025"))
    with pytest.raises(DataError, match=r"Spark has no database 'salez'.*databases there: default"):
        load_source(spark_source(shop_files[0], path=None, table="salez.orders"))


def test_a_missing_path_or_reader_is_one_message(spark, shop_files, tmp_path):
    with pytest.raises(DataError, match=r"source\.spark\.path: .*nowhere\.parquet is not there; check the path"):
        load_source(spark_source(shop_files[0], path=str(tmp_path / "nowhere.parquet")))
    with pytest.raises(DataError, match=r"source\.spark\.format delta: this Spark has no delta reader.*delta-spark"):
        load_source(spark_source(shop_files[0], format="delta"))
    with pytest.raises(DataError, match=r"source\.spark\.customers\.path: .*gone\.parquet is not there"):
        load_source(spark_source(shop_files[0], customers=SparkTable(path=str(tmp_path / "gone.parquet"))))
    # Spark's names ignore case: Amount beside amount is one message, not "check source.spark.format"
    pd.DataFrame({"customer_id": ["C1"], "ordered_at": pd.to_datetime(["2024-01-01"]), "Amount": [1.0],
                  "amount": [2.0]}).to_parquet(tmp_path / "alike.parquet", index=False)
    with pytest.raises(DataError, match=r"alike\.parquet names two columns alike but for case .*rename one of them"):
        load_source(spark_source(shop_files[0], path=str(tmp_path / "alike.parquet")))


def test_text_dates_and_amounts_are_refused_with_the_cast_to_write(spark, shop_files):
    frame = pd.DataFrame({"line": [1], "customer_id": ["C1"], "ordered_at": ["2024-01-01"], "amount": ["12.50"]})
    spark.createDataFrame(frame).createOrReplaceTempView("text_orders")
    with pytest.raises(DataError, match=r'column "ordered_at" \(for ordered_at\) is string, not a date or timestamp;'
                                        r".*CAST\(`ordered_at` AS timestamp\)"):
        load_source(spark_source(shop_files[0], path=None, table="text_orders"))
    with pytest.raises(DataError, match=r'column "total" \(for amount\) is not there.*columns there: line, '
                                        r"customer_id, ordered_at, amount\); fix source\.spark\.columns"):
        load_source(spark_source(shop_files[0], path=None, table="text_orders",
                                 columns={"source_row": "line", "amount": "total"}))


def test_no_session_no_java_no_pyspark_each_say_what_to_do(spark, shop_files, monkeypatch):
    import sys

    from pyspark.sql import SparkSession

    from segkit.intake.sources import spark_session

    monkeypatch.setattr(SparkSession, "getActiveSession", classmethod(lambda cls: None))
    with pytest.raises(DataError, match=r"existing is true, but there is no active SparkSession: run segkit under "
                                        r"spark-submit"):
        load_source(spark_source(shop_files[0]))
    monkeypatch.undo()
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(DataError, match=r"Spark needs Java \(17 or 21\), and none was found: install it"):
        spark_session(Spark(master="local[2]", path="x.parquet"))
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)  # as if pyspark were not installed
    with pytest.raises(DataError, match=r"source\.kind spark needs pyspark: pip install 'segkit\[spark\]'"):
        load_source(spark_source(shop_files[0]))


# -- the expressions Spark computed differently, each on its smallest input ------------------------------

def test_infinite_amounts_are_not_finite_on_spark_too(spark):
    """Ibis 12 compiles isinf() to FALSE on Spark: an infinite amount was called implausible there."""
    import ibis

    from segkit.intake.cleaning import exact_amount

    spark.createDataFrame(pd.DataFrame({"amount": [1.005, np.inf, -np.inf, np.nan]})).createOrReplaceTempView("inf4")
    table = spark_backend(spark).table("inf4")
    exact, non_finite, implausible = exact_amount(table.amount, 2, 1e12)
    out = table.select(exact=exact.cast("string"), non_finite=non_finite, implausible=implausible).to_pandas()
    assert out["non_finite"].tolist() == [False, True, True, True]
    assert not out["implausible"].any() and out["exact"].tolist()[0] == "1.01"


def test_the_future_date_bound_reads_the_dates_in_order_on_spark(spark):
    """Ibis' offset on Spark numbers rows in no stated order, so the dates around the 99.9% were any two;
    and pyspark's toPandas failed on the year 2999 (nanoseconds), which segkit's backend reads as Arrow."""
    import ibis

    from segkit.intake.cleaning import _future_bound

    dates = pd.to_datetime(["2024-01-05", "2999-01-01", "2024-01-01", "2024-01-03", "2024-01-02", "2024-01-04"])
    spark.createDataFrame(pd.DataFrame({"ordered_at": dates})).repartition(3).createOrReplaceTempView("dates6")
    on_spark = _future_bound(spark_backend(spark).table("dates6"))
    on_duckdb = _future_bound(ibis.duckdb.connect().create_table("dates6", pd.DataFrame({"ordered_at": dates})))
    assert on_spark == on_duckdb and on_spark[1] == 1  # 2999 is beyond; the others are not


def test_cross_sell_summaries_run_on_spark_and_equal_duckdb(spark):
    """Spark cannot order inside an aggregation (the basket contents): the summaries that 01 keeps for
    a database source are the same on Spark as in DuckDB (the docs' Spark report failed there)."""
    import ibis

    from segkit.crosssell.summaries import purchase_summaries

    frame = pd.DataFrame({"customer_id": ["a", "a", "a", "b", "b"], "order_id": ["1", "1", "2", "3", "3"],
                          "ordered_at": pd.to_datetime(["2024-01-01"] * 3 + ["2024-02-01"] * 2),
                          "amount": [5.0, 7.0, 3.0, 4.0, 1.0], "category": ["y", "x", "x", "x", "y"]})
    spark.createDataFrame(frame).createOrReplaceTempView("baskets5")
    ours = purchase_summaries(spark_backend(spark).table("baskets5"), "category")
    theirs = purchase_summaries(ibis.memtable(frame), "category")
    pd.testing.assert_frame_equal(ours.items, theirs.items)
    pd.testing.assert_frame_equal(ours.baskets, theirs.baskets)
    assert ours.baskets["items"].tolist() == [("x",), ("x", "y"), ("x", "y")]  # a: {x}, {x, y}; b: {x, y}


def test_cohort_kpi_and_retention_counts_run_on_spark_as_in_duckdb(spark):
    """03's cohort tables, the monthly KPIs and the retention by segment at each month start, counted
    on Spark through the Ibis expressions DuckDB runs (`segkit.monthly.engine_counts`), equal the
    counts of the same activity as a frame; only the cells, months and (month, segment) rows return."""
    from segkit.datasets import generate_retail
    from segkit.intake.sources import connect
    from segkit.monthly.activity import cohort_table, monthly_activity, monthly_kpis, retention_by_segment

    activity = monthly_activity(connect(), generate_retail(customers=50, start="2024-01-01", months=6,
                                                           seed=4).transactions)
    ids = activity["customer_id"].drop_duplicates().tolist() + ["never_bought"]
    starts = pd.DataFrame({"month": np.repeat([dt.date(2024, 3, 1), dt.date(2024, 5, 1)], len(ids)),
                           "customer_id": ids * 2, "segment": np.resize(["x", "y", "z"], 2 * len(ids))})
    spark.createDataFrame(activity).createOrReplaceTempView("activity50")
    spark.createDataFrame(starts).createOrReplaceTempView("starts50")
    backend = spark_backend(spark)
    table = backend.table("activity50")
    for measure in ("share_active", "customers", "revenue"):
        pd.testing.assert_frame_equal(cohort_table(table, measure), cohort_table(activity, measure),
                                      check_exact=measure != "revenue", rtol=1e-12, obj=measure)
    pd.testing.assert_frame_equal(monthly_kpis(table), monthly_kpis(activity), check_exact=False, rtol=1e-12)
    rates = retention_by_segment(table, backend.table("starts50"))
    pd.testing.assert_frame_equal(rates, retention_by_segment(activity, starts).reset_index(drop=True),
                                  check_dtype=False)
    assert len(rates) == 6 and rates["customers"].sum() == len(starts)


def test_the_docs_cohorts_of_the_clean_rows_in_spark_equal_the_embedded_engines(runs):
    """docs/spark.md's spark-submit script: the cohort table and monthly KPIs of the clean rows kept in
    Spark (`monthly_activity_table(result.scored)`), counted there, equal those of DuckDB's run."""
    import segkit
    from segkit.monthly.activity import monthly_activity_table

    activity = monthly_activity_table(runs["spark"]["result"].scored)
    assert activity.get_backend().name == "pyspark"
    cohorts, kpis = segkit.cohort_table(activity), segkit.monthly_kpis(activity)
    frame = runs["duckdb"]["activity"]
    pd.testing.assert_frame_equal(cohorts, segkit.cohort_table(frame), check_exact=True)
    pd.testing.assert_frame_equal(kpis, segkit.monthly_kpis(frame), check_exact=True)
    assert kpis["active_customers"].sum() == len(frame)


# -- a session segkit starts keeps the JVM's output to itself ----------------------------------------

QUIET_STEP = """
import sys
from segkit.datasets import generate_retail
from segkit.intake.cleaning import clean_transactions
from segkit.intake.sources import load_source
from segkit.params import Source, Spark

generate_retail(customers=30, start="2024-01-01", months=3, seed=7).transactions.to_parquet("orders.parquet")
# planning each query is the time on 30 customers: without code generation and adaptive re-planning, as SETTINGS
spark = Spark(master="local[1]", path="orders.parquet", config={"spark.ui.enabled": False,
                                                                 "spark.sql.shuffle.partitions": 2,
                                                                 "spark.sql.codegen.wholeStage": False,
                                                                 "spark.sql.adaptive.enabled": False})
intake = load_source(Source(kind="spark", spark=spark), "params.yaml")
result = clean_transactions(intake.engine, intake.transactions)
print("cleaned", len(result.ledger) > 0)
"""


def test_a_session_segkit_starts_writes_no_spark_logs_or_progress_bars(tmp_path):
    """The docs' local Spark report printed log4j WARN lines, [Stage 40:===>] bars and Java's startup
    notices on the terminal and under 01_cleaning's heading: the JVM wrote them to the stdout and
    stderr it inherited, which a kernel shows. A process of its own, so that its whole output
    (the JVM's start and its exit included) is what a kernel or a terminal would show."""
    import re
    import subprocess
    import sys

    from conftest import ROOT

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("SPARK_LOCAL_IP", None)  # Spark warns when the host name resolves to a loopback address
    done = subprocess.run([sys.executable, "-c", QUIET_STEP], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "cleaned True"
    spark_said = [line for line in (done.stdout + done.stderr).splitlines()
                  if re.search(r"WARN|\[Stage|log4j|log level|Exception|^\s+at [\w.$]+\(", line)]
    assert spark_said == []


def test_the_cleaning_stage_on_an_existing_session_writes_what_the_later_notebooks_read(runs):
    """docs/spark.md's spark-submit script: `segkit.cleaning_stage` on the active session writes every
    stage file 01 writes, computed on Spark (equal to the embedded engine's: the test above), and
    run.json; 02 and 03 then run on the driver from those files alone (`segkit run`), with no session
    of their own."""
    from conftest import run_segkit
    from segkit.store import load_run_info

    spark_run, duck_run = runs["spark"], runs["duckdb"]
    assert spark_run["result"].in_database and not duck_run["result"].in_database
    info = load_run_info(spark_run["data"])
    assert info["calibration_end"] == load_run_info(duck_run["data"])["calibration_end"] and info["month_coverage"]
    for notebook in ("02_rfm", "03_customer_value"):  # on the driver: the kernels read the stage files only
        done = run_segkit("run", notebook, "--params", str(spark_run["params"]), "--data-dir", str(spark_run["data"]))
        assert done.returncode == 0, done.stderr[-2000:]
    assert (spark_run["params"].parent / "executed" / "03_customer_value.ipynb").is_file()
