"""Per-customer RFM features: segkit (Ibis on DuckDB) side by side with the alternatives, one run.

    .venv/bin/python bench/bench_features.py --customers 100000 --repeat 3

Each method runs in a fresh subprocess (so peak memory is its own) on the same Parquet file of
generated transactions (segkit.datasets.generate_retail, cached in bench/.data/). Every method's
result is checked against pandas before its time counts. Prints a Markdown table for
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

METHODS = {
    "segkit.customer_features (Ibis → DuckDB)": "segkit",
    "DuckDB SQL, hand-written": "duckdb_sql",
    "pandas groupby": "pandas",
}


def data_file(customers: int) -> Path:
    path = HERE / ".data" / f"retail-{customers}.parquet"
    if not path.is_file():
        from segkit.datasets import generate_retail

        path.parent.mkdir(exist_ok=True)
        print(f"generating {customers:,} customers ...", file=sys.stderr)
        generate_retail(customers=customers, seed=1).transactions.to_parquet(path, index=False)
    return path


def run_one(method: str, path: str, as_of: str) -> dict:
    """Runs inside the subprocess: load, compute, return timing, rows and a checksum."""
    import datetime as dt

    import pandas as pd

    tx = pd.read_parquet(path)
    as_of_date = dt.date.fromisoformat(as_of)
    # imports happen before the clock starts: the benchmark times the computation, not start-up;
    # opening segkit's engine (an Ibis DuckDB backend, once per notebook) is timed apart
    setup = 0.0
    if method == "segkit":
        from segkit.features import customer_features
        from segkit.intake.sources import connect

        tick = time.perf_counter()
        con = connect()
        setup = time.perf_counter() - tick
    elif method == "duckdb_sql":
        import duckdb
    start = time.perf_counter()
    if method == "segkit":
        result = customer_features(con, tx, as_of_date)
        orders, revenue, recency = result["orders"], result["revenue"], result["recency_days"]
    elif method == "duckdb_sql":
        result = duckdb.sql(f"""
            SELECT customer_id, COUNT(DISTINCT order_id) AS orders, SUM(amount) AS revenue,
                   DATE '{as_of}' - MAX(CAST(ordered_at AS DATE)) AS recency_days
            FROM tx GROUP BY customer_id""").df()
        orders, revenue, recency = result["orders"], result["revenue"], result["recency_days"]
    elif method == "pandas":
        grouped = tx.groupby("customer_id")
        result = pd.DataFrame({"orders": grouped["order_id"].nunique(), "revenue": grouped["amount"].sum(),
                               "last": grouped["ordered_at"].max()})
        result["recency_days"] = (pd.Timestamp(as_of_date) - result["last"].dt.normalize()).dt.days
        orders, revenue, recency = result["orders"], result["revenue"], result["recency_days"]
    else:
        raise ValueError(method)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "setup_seconds": setup, "customers": len(result), "orders": int(orders.sum()),
            "revenue": round(float(revenue.sum()), 2), "recency": int(recency.sum()),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(run_one(*args.worker)))
        return

    import pandas as pd

    path = data_file(args.customers)
    tx = pd.read_parquet(path, columns=["ordered_at"])
    rows, as_of = len(tx), tx["ordered_at"].max().date().isoformat()
    results = {}
    for label, method in METHODS.items():
        runs = [json.loads(subprocess.run([sys.executable, __file__, "--worker", method, str(path), as_of],
                                          capture_output=True, text=True, check=True).stdout)
                for _ in range(args.repeat)]
        results[label] = runs
        print(f"{label}: median {statistics.median(r['seconds'] for r in runs):.3f} s", file=sys.stderr)
    reference = results["pandas groupby"][0]
    for label, runs in results.items():
        for key in ("customers", "orders", "revenue", "recency"):
            assert runs[0][key] == reference[key], (label, key, runs[0][key], reference[key])

    base = statistics.median(r["seconds"] for r in results["pandas groupby"])
    print(f"Per-customer orders, revenue and recency from {rows:,} transaction lines of {args.customers:,} "
          f"customers (generated, seed 1); median of {args.repeat} runs, each in a fresh process; "
          f"{platform.python_version()}, {os.cpu_count()} cores. All methods give the same totals.\n")
    print("| method | median s | vs pandas | one-time engine start s | peak RSS MB (incl. the loaded frame) |")
    print("| --- | --- | --- | --- | --- |")
    for label, runs in results.items():
        median = statistics.median(r["seconds"] for r in runs)
        setup = statistics.median(r["setup_seconds"] for r in runs)
        peak = max(r["peak_rss_mb"] for r in runs)
        print(f"| {label} | {median:.3f} | {base / median:.2f}× | {setup:.2f} | {peak:,.0f} |")


if __name__ == "__main__":
    main()
