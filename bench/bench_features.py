"""The per-customer feature step, with categories: segkit side by side with the alternatives, one run.

    .venv/bin/python bench/bench_features.py --size 10M --repeat 3
    .venv/bin/python bench/bench_features.py --size 1M --methods segkit,polars,duckdb_sql,pandas

Every method starts from the same Parquet file of bench/generate.py (generated if missing) and ends
with one row per customer; the clock covers reading the file and computing (reading into pandas is
also timed apart for the methods that need a DataFrame). Each run is a fresh subprocess (so peak
memory is its own), imports and engine start before the clock; the methods alternate within each
repeat (the order rotates), so that the load of a shared machine falls on all of them alike. Medians
and ratios come from one run. Before a time counts, every method's result is checked against pandas:
customers, orders (distinct order ids; lifetimes and pymc-marketing count purchase days, one order a
day in the generated data: frequency + 1), revenue, recency and distinct categories where computed.

Methods:
- segkit: `segkit.customer_features` on its engine (Ibis on DuckDB) reading the Parquet in place
  (`con.read_parquet`): orders, revenue (exact DECIMAL sum), first/last purchase, recency, tenure,
  average order value, interval between orders, recent orders, distinct categories;
- polars (lazy scan of the Parquet), DuckDB SQL (hand-written, on the file), pandas groupby: orders,
  revenue, first/last purchase, recency, tenure, distinct categories;
- lifetimes' `summary_data_from_transaction_data` (Davidson-Pilon 2015, lifetimes 0.11) and
  pymc-marketing's `clv.utils.rfm_summary`: frequency, recency, T, monetary value (no categories),
  from a pandas frame. pymc-marketing runs in its own virtualenv (`--pymc-python`, default
  .venv-pymc/bin/python: `python3 -m venv` + `pip install pymc-marketing pyarrow`); a method whose
  package is missing is reported as such and left out.
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


def arrow_table(relation):
    """A DuckDB relation's rows as an Arrow table (`to_arrow_table` since DuckDB 1.4; before, `fetch_arrow_table`)."""
    fetch = getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table
    return fetch()

METHODS = {  # name -> label
    "segkit": "segkit.customer_features (Ibis → DuckDB, Parquet read in place)",
    "polars": "polars, lazy scan",
    "duckdb_sql": "DuckDB SQL, hand-written",
    "pandas": "pandas groupby",
    "lifetimes": "lifetimes summary_data_from_transaction_data",
    "pymc": "pymc-marketing rfm_summary",
}
DEFAULT_PYMC_PYTHON = ".venv-pymc/bin/python"
CHECKED = ("customers", "orders", "revenue", "recency", "categories")


def run_one(method: str, path: str, as_of: str) -> dict:
    """Runs inside the subprocess: import, start the engine, then time reading and computing."""
    import datetime as dt

    as_of_date = dt.date.fromisoformat(as_of)
    setup, load = 0.0, 0.0
    tick = time.perf_counter()
    if method == "segkit":
        from segkit.features import customer_features
        from segkit.intake.sources import connect

        con = connect()
    elif method == "polars":
        import polars as pl
    elif method == "duckdb_sql":
        import duckdb

        con = duckdb.connect()
    elif method in ("pandas", "lifetimes", "pymc"):
        import pandas as pd
        import pyarrow.parquet  # noqa: F401

        if method == "lifetimes":
            from lifetimes.utils import summary_data_from_transaction_data
        elif method == "pymc":
            from pymc_marketing.clv.utils import rfm_summary
    else:
        raise ValueError(method)
    setup = time.perf_counter() - tick

    start = time.perf_counter()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out: dict = {}
    if method == "segkit":
        result = customer_features(con, con.read_parquet(path), as_of_date)
        out = dict(customers=len(result), orders=int(result["orders"].sum()),
                   revenue=float(result["revenue"].sum()), recency=int(result["recency_days"].sum()),
                   categories=int(result["categories"].sum()))
    elif method == "polars":
        day = pl.col("ordered_at").cast(pl.Date)
        result = (pl.scan_parquet(path).group_by("customer_id")
                  .agg(orders=pl.col("order_id").n_unique(), revenue=pl.col("amount").sum(),
                       first_purchase=day.min(), last_purchase=day.max(), categories=pl.col("category").n_unique())
                  .with_columns(recency_days=(pl.lit(as_of_date) - pl.col("last_purchase")).dt.total_days(),
                                tenure_days=(pl.lit(as_of_date) - pl.col("first_purchase")).dt.total_days())
                  .collect())
        out = dict(customers=result.height, orders=int(result["orders"].sum()), revenue=float(result["revenue"].sum()),
                   recency=int(result["recency_days"].sum()), categories=int(result["categories"].sum()))
    elif method == "duckdb_sql":
        result = arrow_table(con.sql(f"""
            SELECT customer_id, orders, revenue, first_purchase, last_purchase, categories,
                   DATE '{as_of}' - last_purchase AS recency_days, DATE '{as_of}' - first_purchase AS tenure_days
            FROM (SELECT customer_id, COUNT(DISTINCT order_id) AS orders, SUM(amount) AS revenue,
                         MIN(CAST(ordered_at AS DATE)) AS first_purchase, MAX(CAST(ordered_at AS DATE)) AS last_purchase,
                         COUNT(DISTINCT category) AS categories
                  FROM read_parquet('{path}') GROUP BY customer_id)"""))
        column = lambda name: result.column(name).to_numpy()  # noqa: E731
        out = dict(customers=result.num_rows, orders=int(column("orders").sum()), revenue=float(column("revenue").sum()),
                   recency=int(column("recency_days").sum()), categories=int(column("categories").sum()))
    else:
        tx = pd.read_parquet(path, columns=["customer_id", "order_id", "ordered_at", "amount", "category"])
        load = time.perf_counter() - start
        if method == "pandas":
            grouped = tx.groupby("customer_id")
            day = tx["ordered_at"].dt.normalize()
            result = pd.DataFrame({"orders": grouped["order_id"].nunique(), "revenue": grouped["amount"].sum(),
                                   "first_purchase": day.groupby(tx["customer_id"]).min(),
                                   "last_purchase": day.groupby(tx["customer_id"]).max(),
                                   "categories": grouped["category"].nunique()})
            result["recency_days"] = (pd.Timestamp(as_of_date) - result["last_purchase"]).dt.days
            result["tenure_days"] = (pd.Timestamp(as_of_date) - result["first_purchase"]).dt.days
            out = dict(customers=len(result), orders=int(result["orders"].sum()),
                       revenue=float(result["revenue"].sum()), recency=int(result["recency_days"].sum()),
                       categories=int(result["categories"].sum()))
        else:
            if method == "lifetimes":
                result = summary_data_from_transaction_data(tx, "customer_id", "ordered_at", monetary_value_col="amount",
                                                            observation_period_end=as_of, freq="D")
            else:
                result = rfm_summary(tx, "customer_id", "ordered_at", monetary_value_col="amount",
                                     observation_period_end=as_of, time_unit="D")
            # recency there is first to last purchase; days since the last purchase = T - recency
            out = dict(customers=len(result), orders=int((result["frequency"] + 1).sum()),
                       recency=int((result["T"] - result["recency"]).sum()))
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)  # CPU of every thread: on a busy machine, what load does not inflate
    cpu = (after.ru_utime + after.ru_stime) - (usage.ru_utime + usage.ru_stime)
    system = after.ru_stime - usage.ru_stime  # page faults among it: on a VM whose host takes back free memory, many
    return {"seconds": seconds, "cpu_seconds": cpu, "sys_seconds": system, "load_seconds": load, "setup_seconds": setup, **out,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def python_for(method: str, pymc_python: str) -> str | None:
    """The interpreter that runs `method`, or None when its package is not installed there."""
    python = pymc_python if method == "pymc" else sys.executable
    module = {"segkit": "segkit", "polars": "polars", "duckdb_sql": "duckdb", "pandas": "pandas",
              "lifetimes": "lifetimes", "pymc": "pymc_marketing"}[method]
    if not Path(python).is_file():
        return None
    found = subprocess.run([python, "-c", f"import importlib.util, sys; sys.exit(importlib.util.find_spec('{module}') is None)"],
                           capture_output=True)
    return python if found.returncode == 0 else None


def measure(path: Path, as_of: str, methods: list[str], repeat: int, pymc_python: str,
            progress=lambda message: None) -> tuple[dict, dict]:
    """Runs every method `repeat` times, alternating; returns ({method: [runs]}, {method: why skipped})."""
    pythons, skipped = {}, {}
    for method in methods:
        python = python_for(method, pymc_python)
        if python is None:
            skipped[method] = ("not installed in " + (pymc_python if method == "pymc" else sys.executable)
                               + (" (pip install 'segkit[bench]')" if method in ("polars", "lifetimes") else ""))
        else:
            pythons[method] = python
    runs: dict[str, list] = {m: [] for m in pythons}
    order = list(pythons)
    for rep in range(repeat):
        rotated = order[rep % len(order):] + order[:rep % len(order)] if order else []
        for method in rotated:
            done = subprocess.run([pythons[method], __file__, "--worker", method, str(path), as_of],
                                  capture_output=True, text=True)
            if done.returncode != 0:
                skipped[method] = "failed: " + (done.stderr.strip().splitlines() or ["?"])[-1]
                runs.pop(method, None)
                order.remove(method)
                continue
            if method in runs:
                runs[method].append(json.loads(done.stdout.strip().splitlines()[-1]))
                progress(f"  {method}: {runs[method][-1]['seconds']:.2f} s")
    return runs, skipped


def check(runs: dict) -> None:
    """Every method's totals against pandas' (or polars' when pandas did not run)."""
    base_name = "pandas" if "pandas" in runs else next(iter(runs), None)
    if base_name is None:
        return
    base = runs[base_name][0]
    for method, method_runs in runs.items():
        for key in CHECKED:
            if key in method_runs[0] and key in base:
                ours, theirs = method_runs[0][key], base[key]
                # float sums of millions of amounts differ from the exact sum in the last bits
                same = abs(ours - theirs) <= max(0.01, 1e-9 * abs(theirs)) if key == "revenue" else ours == theirs
                if not same:
                    raise SystemExit(f"{method} gives {key} {ours} where {base_name} gives {theirs}")


def table(runs: dict, skipped: dict, rows: int, customers: int, repeat: int) -> str:
    med = {m: statistics.median(r["seconds"] for r in rs) for m, rs in runs.items()}
    lines = [f"Per-customer features with categories from {rows:,} transaction lines of {customers:,} customers "
             f"(bench/generate.py, seed 1, Parquet); median of {repeat} runs, each in a fresh process, methods "
             f"alternating; load average {', '.join(f'{x:.1f}' for x in os.getloadavg())} at the end; "
             f"Python {platform.python_version()}, {os.cpu_count()} cores. Totals checked against pandas.",
             "",
             "| method | median s (file → features) | of which read into pandas s | time ÷ segkit's | time ÷ polars' | "
             "CPU s (all threads) | of which system s | engine start s | peak RSS MB |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for method, method_runs in runs.items():
        load = statistics.median(r["load_seconds"] for r in method_runs)
        vs_segkit = f"{med[method] / med['segkit']:.1f}×" if "segkit" in med else "-"
        vs_polars = f"{med[method] / med['polars']:.2f}" if "polars" in med else "-"
        lines.append(f"| {METHODS[method]} | {med[method]:.2f} | {load:.2f} | {vs_segkit} | {vs_polars} | "
                     f"{statistics.median(r.get('cpu_seconds', float('nan')) for r in method_runs):.2f} | "
                     f"{statistics.median(r.get('sys_seconds', float('nan')) for r in method_runs):.2f} | "
                     f"{statistics.median(r['setup_seconds'] for r in method_runs):.2f} | "
                     f"{max(r['peak_rss_mb'] for r in method_runs):,.0f} |")
    for method, why in skipped.items():
        lines.append(f"| {METHODS[method]} | not measured: {why} | | | | | | | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1M", help="1M, 10M, 50M (bench/generate.py) or LINES:CUSTOMERS")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, from {', '.join(METHODS)}")
    parser.add_argument("--pymc-python", default=DEFAULT_PYMC_PYTHON, help="the interpreter with pymc-marketing")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(run_one(*args.worker)))
        return ""
    methods = [m.strip() for m in args.methods.split(",")]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise SystemExit(f"--methods: unknown {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    sys.path.insert(0, str(HERE))
    from generate import generate, parse_size

    name, lines, customers = parse_size(args.size)
    meta = generate(lines, customers, HERE / ".data", name, formats=("parquet",),
                    progress=lambda m: print(m, file=sys.stderr)) if not (HERE / ".data" / f"tx-{name}.parquet").is_file() \
        else {"as_of": "2025-12-31"}
    path = HERE / ".data" / f"tx-{name}.parquet"
    runs, skipped = measure(path, meta["as_of"], methods, args.repeat, args.pymc_python,
                            progress=lambda m: print(m, file=sys.stderr))
    check(runs)
    text = table(runs, skipped, lines, customers, args.repeat)
    print(text)
    return text


if __name__ == "__main__":
    main()
