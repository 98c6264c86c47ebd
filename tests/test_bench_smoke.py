"""The benchmarks' generator (bench/generate.py) and a 1M-line smoke run of segkit alone.

Speed is measured in bench/ (docs/benchmarks.md), never asserted here: the smoke run only checks
that the generated file goes through the package's cleaning and feature steps and that every input
row is in the ledger. lifetimes and pymc-marketing stay out of CI."""

import datetime as dt
import importlib.util
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import ROOT


def bench_module(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


generate = bench_module("generate")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gen")
    meta = generate.generate(5_000, 400, folder, "small", seed=3, chunk_customers=150)
    return folder, meta


def test_the_generator_writes_exactly_the_lines_and_customers_asked_in_both_formats(small):
    import pyarrow.csv as pa_csv

    folder, meta = small
    parquet = pq.read_table(folder / "tx-small.parquet")
    csv = pa_csv.read_csv(folder / "tx-small.csv")
    assert parquet.num_rows == csv.num_rows == 5_000
    assert len(set(parquet.column("customer_id").to_pylist())) == 400  # every customer bought at least once
    assert str(parquet.schema.field("ordered_at").type) == "timestamp[us]"
    assert parquet.schema.field("customer_id").type == "int64" and parquet.schema.field("amount").type == "double"
    frame = parquet.to_pandas()
    assert frame["amount"].min() >= 0.5 and (frame["amount"].round(2) == frame["amount"]).all()
    assert frame["ordered_at"].between("2023-01-01", "2026-01-01").all()
    # an order belongs to one customer at one time; several lines per order on average
    per_order = frame.groupby("order_id").agg(customers=("customer_id", "nunique"), times=("ordered_at", "nunique"),
                                              lines=("amount", "size"))
    assert (per_order["customers"] == 1).all() and (per_order["times"] == 1).all()
    assert per_order["lines"].mean() > 1.5
    assert meta["orders"] == len(per_order)
    # the category column is skewed: the most common category is far above an even share
    assert frame["category"].value_counts(normalize=True).iloc[0] > 2 / len(generate.CATEGORIES)
    header, first = (folder / "tx-small.csv").read_text().splitlines()[:2]
    assert header == '"customer_id","order_id","ordered_at","amount","category"'
    assert first.split(",")[2] == frame["ordered_at"][0].strftime('"%Y-%m-%d %H:%M:%S"')


def test_the_generated_params_read_the_file_beside_them(small):
    import segkit

    folder, _ = small
    for name in ("params-small.yaml", "params-small-csv.yaml"):
        p = segkit.load_params(folder / name)
        intake = segkit.load_source(p.source, folder / name)
        rows = intake.transactions  # the Parquet file is read in place by the engine, the CSV streamed into it
        count = int(rows.count().to_pyarrow().as_py()) if hasattr(rows, "to_pyarrow") else len(rows)
        assert count == 5_000 and p.as_of_date == dt.date(2025, 12, 31)


def test_the_generator_is_seeded_and_reuses_what_it_wrote(small, tmp_path):
    folder, meta = small
    before = (folder / "tx-small.parquet").stat().st_mtime_ns
    again = generate.generate(5_000, 400, folder, "small", seed=3, chunk_customers=150)
    assert (folder / "tx-small.parquet").stat().st_mtime_ns == before and again == meta
    same = generate.generate(5_000, 400, tmp_path, "small", seed=3, chunk_customers=150, formats=("parquet",))
    other = generate.generate(5_000, 400, tmp_path, "other", seed=4, chunk_customers=150, formats=("parquet",))
    assert pq.read_table(tmp_path / "tx-small.parquet").equals(pq.read_table(folder / "tx-small.parquet"))
    assert same["orders"] == meta["orders"] and other["orders"] != meta["orders"]


def test_a_size_is_a_name_or_lines_and_customers():
    assert generate.parse_size("10M") == ("10M", 10_000_000, 1_000_000)
    assert generate.parse_size("20000:2000") == ("20000x2000", 20_000, 2_000)
    with pytest.raises(SystemExit, match="customers must be from 1"):
        generate.parse_size("100:200")


@pytest.mark.slow
def test_segkit_alone_on_a_million_generated_lines(tmp_path):
    """The CI smoke run: the generator, then 01's whole cleaning stage (the rules, the clean rows, the
    features and the time summaries the later notebooks read) through the package API, as the
    report runs it."""
    import segkit
    from segkit.store import load_stage

    meta = generate.generate(1_000_000, 100_000, tmp_path, "1M", formats=("parquet",))
    params_path = tmp_path / "params-1M.yaml"
    p = segkit.load_params(params_path)
    intake = segkit.load_source(p.source, params_path)
    data = tmp_path / "data"
    result = segkit.cleaning_stage(intake, data, p)
    rows = pq.ParquetFile(tmp_path / "tx-1M.parquet").metadata.num_rows
    assert rows == 1_000_000
    assert result.ledger["rows"].sum() == rows  # every input row is in the ledger, once
    assert pq.ParquetFile(data / "clean_transactions.parquet").metadata.num_rows == result.ledger.loc[
        result.ledger["outcome"] != "set_aside", "rows"].sum()
    features = load_stage(data, "features")
    assert len(features) == 100_000 and features["orders"].sum() == meta["orders"]


def test_the_report_benchmark_table_gives_system_time_and_page_faults_in_aligned_columns():
    report = bench_module("bench_report")
    run = {"wall_s": 100.0, "cpu_s": 150.0, "sys_s": 30.5, "minor_faults": 1_234_567, "peak_mb": 1500.0,
           "load_average": (1.0, 1.0, 1.0),
           "timings_s": {"01_cleaning": 40.0, "02_rfm": 10.0, "html": 3.0, "pdf": 9.0, "exports": 20.0, "total": 95.0},
           "cpu_s_by_stage": {"01_cleaning": 70.0, "02_rfm": 11.0, "exports": 30.0},
           "sys_s_by_stage": {"01_cleaning": 12.3, "02_rfm": 1.5, "exports": 4.0},
           "peak_mb_by_stage": {"01_cleaning": 1500.0, "02_rfm": 900.0, "exports": 1100.0}}
    text = report.table({"1M": run, "10M": run}, "duckdb", "parquet")
    rows = [line for line in text.splitlines() if line.startswith("|")]
    assert "1M of which system s" in rows[0] and "10M of which system s" in rows[0]
    assert {row.count("|") for row in rows} == {rows[0].count("|")}  # every row has the header's cells
    cleaning = next(row for row in rows if row.startswith("| 01_cleaning "))
    assert cleaning.split("|")[6:8] == [" 12.3 ", " 12.3 "]  # the system time, after wall and CPU per size
    assert "30.5" in rows[-1] and "1,234,567" in text
    assert "host index" not in text
    host = bench_module("host_index")
    before = host.index_line({"python": 0.4, "numpy": 1.9, "duckdb": 0.6, "memory": 0.1})
    after = host.index_line({"python": 0.5, "numpy": 2.1, "duckdb": 0.7, "memory": 0.2})
    assert before.endswith("python 0.40, numpy 1.90, duckdb 0.60, memory 0.10")
    text = report.table({"10M": run}, "duckdb", "parquet", host=(before, after))
    assert text.splitlines()[-1] == (f"Before the runs, {before}; after them, python 0.50, numpy 2.10, duckdb 0.70, "
                                     "memory 0.20.")


def test_the_memory_probe_times_a_second_fill_per_pause_and_refuses_a_bad_size():
    probe = bench_module("memory_probe")
    result = probe.touch_after(4, 0)
    assert result["pause_s"] == 0 and result["wall_s"] >= 0 and result["sys_s"] >= 0
    assert result["wall_s_per_gb"] == pytest.approx(result["wall_s"] * 256)
    text = probe.main(["--mb", "4", "--pauses", "0,0.1"])
    assert len([line for line in text.splitlines() if line.startswith("| default | 0")]) == 2
    from segkit.report.huge_pages import huge_pages_off

    before = huge_pages_off()
    text = probe.main(["--mb", "4", "--pauses", "0", "--pages", "huge,small"])
    assert [line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| huge") or
            line.startswith("| small")] == ["huge", "small"]
    assert huge_pages_off() == before  # the process's setting is given back
    with pytest.raises(SystemExit, match="--pages takes huge, small or default"):
        probe.main(["--pages", "giant"])
    with pytest.raises(SystemExit, match="--mb must be a positive"):
        probe.main(["--mb", "0"])
    with pytest.raises(SystemExit, match="--pauses must be numbers"):
        probe.main(["--pauses", "soon"])


def test_run_all_compares_the_feature_step_at_the_largest_size_asked(monkeypatch):
    """`run_all.py --sizes 1M` generated and ran 10M all the same: --features-size defaulted to 10M."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))  # as when run from bench/: it reads generate's sizes
    run_all = bench_module("run_all")
    assert run_all.parse_args(["--sizes", "1M"]).features_size == "1M"
    assert run_all.parse_args(["--sizes", "1M,50M,10M"]).features_size == "50M"
    assert run_all.parse_args(["--sizes", "20000:2000,1M"]).features_size == "1M"
    assert run_all.parse_args(["--sizes", "1M", "--features-size", "10M"]).features_size == "10M"
    assert run_all.parse_args([]).features_size == "10M"


def test_run_all_runs_each_engine_asked_and_the_csv_comparison(monkeypatch):
    """The one command covers the Spark report at 10M (issue 15) when asked, beside DuckDB's, and the CSV's cleaning."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    run_all = bench_module("run_all")
    calls = []
    monkeypatch.setattr(run_all, "step", lambda title, args: calls.append((title, args)) or f"## {title}\n")
    monkeypatch.setattr(run_all, "HERE", ROOT / "bench" / ".data" / "nowhere")  # the results file: below
    written = {}
    monkeypatch.setattr(run_all.Path, "write_text", lambda self, text, encoding=None: written.setdefault(self, text))
    run_all.main(["--sizes", "1M", "--engines", "duckdb,spark", "--skip", "features"])
    scripts = [(Path(args[0]).name, args[1:]) for _, args in calls]
    assert scripts[0] == ("host_index.py", [])  # the host's own speed first, beside every figure
    assert scripts[1] == ("generate.py", ["--sizes", "1M,10M"])  # the Spark run's size is generated too
    assert ("bench_report.py", ["--sizes", "1M", "--engine", "duckdb"]) in scripts
    assert ("bench_report.py", ["--sizes", "10M", "--engine", "spark"]) in scripts
    assert ("csv_intake.py", ["--size", "1M"]) in scripts
    with pytest.raises(SystemExit):
        run_all.parse_args(["--engines", "polars"])


@pytest.mark.slow
def test_the_host_index_times_each_fixed_workload():
    """The index runs as bench_report.py and run_all.py run it: every workload, a time for each."""
    found = bench_module("host_index").host_index(repeat=1)
    assert list(found) == ["python", "numpy", "duckdb", "memory"]
    assert all(seconds > 0 for seconds in found.values())
