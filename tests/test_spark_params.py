"""source.kind spark in a params file: what is refused before Spark starts, each with what to do.
No Spark here (pydantic only): these run without pyspark."""

import pytest

from segkit.errors import ParamsError
from segkit.params import Spark, load_params


def write(folder, spark_yaml: str):
    path = folder / "spark.yaml"
    path.write_text("source:\n  kind: spark\n" + spark_yaml, encoding="utf-8")
    return path


def test_a_cluster_source_loads_with_its_settings_as_spark_takes_them(tmp_path):
    params = load_params(write(tmp_path, "  spark:\n    master: spark://head:7077\n    table: sales.orders\n"
                                         "    config: {spark.sql.shuffle.partitions: 64, spark.ui.enabled: false}\n"
                                         "    columns: {customer_id: member, source_row: line_id}\n"
                                         "    customers: {path: hdfs:///shop/members, format: orc}\n"))
    spark = params.source.spark
    assert params.source.kind == "spark" and spark.master == "spark://head:7077" and not spark.existing
    assert spark.settings() == {"spark.sql.shuffle.partitions": "64", "spark.ui.enabled": "false"}
    assert spark.customers.format == "orc" and spark.format == "parquet"


def test_a_local_master_runs_the_driver_on_the_loopback_unless_the_config_says_otherwise(tmp_path):
    # Spark advertises the address the machine's name resolves to; where that is unreachable, fetching
    # a large result failed ("Failed to connect to /192.0.2.2") in a 1M-line local run
    local = Spark(master="local[2]", path="x.parquet", config={"spark.ui.enabled": False})
    assert local.settings() == {"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1",
                                "spark.ui.enabled": "false"}
    own = Spark(master="local[*]", path="x.parquet", config={"spark.driver.host": "10.0.0.5"})
    assert own.settings()["spark.driver.host"] == "10.0.0.5"
    assert "spark.driver.host" not in Spark(master="yarn", path="x.parquet").settings()
    assert "spark.driver.host" not in Spark(existing=True, path="x.parquet").settings()


@pytest.mark.parametrize("text, expected", [
    ("", r"kind .spark. needs source\.spark: \{master: \"local\[2\]\", path: \.\.\., columns"),
    ("  spark: {path: x.parquet}\n", r"say how to reach Spark: master: local\[2\].*or existing: true"),
    ("  spark: {master: 'local[2]', existing: true, path: x.parquet}\n",
     r"either master .* or existing: true.*not both"),
    ("  spark: {master: localhost, path: x.parquet}\n", r"master must be local\[N\].*got 'localhost'"),
    ("  spark: {existing: true}\n", r"give either table .* or path .*one of them"),
    ("  spark: {existing: true, table: a, path: b}\n", r"give either table .*not both"),
    ("  spark: {existing: true, table: 'orders; drop'}\n", r"table must be a name like orders or sales\.orders"),
    ("  spark: {existing: true, path: x, format: csv}\n", r"source\.spark\.format must be one of 'parquet', 'orc' or "
                                                          r"'delta', got 'csv'"),
    ("  spark: {existing: true, path: x, config: {sql.shuffle: 4}}\n", r"config key 'sql\.shuffle' is not a Spark "
                                                                       r"setting: Spark settings start with 'spark\.'"),
    ("  spark: {existing: true, path: x, config: {spark.master: yarn}}\n", r"spark\.master is source\.spark\.master"),
    ("  spark: {existing: true, path: x, config: {spark.authenticate.secret: s3cr3t}}\n",
     r"looks like a secret: put it in spark-defaults\.conf"),
    ("  spark: {existing: true, path: x, sheet: 1}\n", r"unknown key 'source\.spark\.sheet'"),
    ("  spark: {existing: true, path: x, columns: {customer_id: a, order_id: a}}\n", r'column "a" is mapped twice'),
])
def test_what_cannot_work_is_refused_before_spark_starts(tmp_path, text, expected):
    with pytest.raises(ParamsError, match=expected) as err:
        load_params(write(tmp_path, text))
    assert "s3cr3t" not in str(err.value)


def test_master_urls_spark_accepts_are_accepted():
    for master in ("local", "local[*]", "local[4]", "local[2,3]", "spark://a:7077,b:7077", "yarn",
                   "k8s://https://10.0.0.1:6443"):
        assert Spark(master=master, path="x").master == master
