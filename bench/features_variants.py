"""Where segkit's feature step spends its time beyond a hand-written query: the same DuckDB query with one
part of segkit's expression added at a time, on the generated Parquet, in one process.

    .venv/bin/python bench/features_variants.py --size 10M --repeat 3

The variants start from the hand-written query of bench_features.py (orders, revenue as a DOUBLE
sum, first and last day, distinct categories) and add, one by one, what segkit's expression
(`segkit.features.customer_features_expr`, printed first) does: revenue exact (each DOUBLE amount made
a DECIMAL(18, 2) through its shortest text, as `segkit.intake.cleaning.exact_amount` does, so that
2.675 stays 2.675), recent orders (a second COUNT DISTINCT of order ids, filtered), and the result
converted to pandas. Then segkit's own call. Medians of `--repeat` runs, variants alternating.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

BASE = """SELECT customer_id, COUNT(DISTINCT order_id) AS orders, {revenue} AS revenue,
       MIN(CAST(ordered_at AS DATE)) AS first_purchase, MAX(CAST(ordered_at AS DATE)) AS last_purchase,
       COUNT(DISTINCT category) AS categories{extra}
FROM read_parquet('{path}') GROUP BY customer_id"""
DOUBLE_SUM = "SUM(amount)"
EXACT_SUM = "CAST(SUM(CAST(CAST(amount AS TEXT) AS DECIMAL(18, 2))) AS DOUBLE)"
RECENT = ",\n       COUNT(DISTINCT order_id) FILTER (WHERE CAST(ordered_at AS DATE) > DATE '2025-10-02') AS orders_recent"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1M")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    import duckdb
    import ibis

    from segkit.features import customer_features, customer_features_expr
    from segkit.intake.sources import connect

    sys.path.insert(0, str(HERE))
    from bench_features import arrow_table

    path = HERE / ".data" / f"tx-{args.size}.parquet"
    if not path.is_file():
        raise SystemExit(f"{path} is missing: run bench/generate.py --sizes {args.size} first")
    as_of = dt.date(2025, 12, 31)
    con = connect()
    print("segkit's query:\n" + ibis.to_sql(customer_features_expr(con.read_parquet(str(path)), as_of)) + "\n",
          file=sys.stderr)
    raw = duckdb.connect()
    variants = {
        "hand-written (DOUBLE revenue), Arrow":
            lambda: arrow_table(raw.sql(BASE.format(revenue=DOUBLE_SUM, extra="", path=path))),
        "+ exact revenue (DOUBLE → TEXT → DECIMAL per line)":
            lambda: arrow_table(raw.sql(BASE.format(revenue=EXACT_SUM, extra="", path=path))),
        "+ recent orders (a second COUNT DISTINCT)":
            lambda: arrow_table(raw.sql(BASE.format(revenue=EXACT_SUM, extra=RECENT, path=path))),
        "+ result as pandas": lambda: raw.sql(BASE.format(revenue=EXACT_SUM, extra=RECENT, path=path)).df(),
        "segkit.customer_features (Parquet read in place)": lambda: customer_features(con, con.read_parquet(str(path)), as_of),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeat):
        for name, run in variants.items():
            tick = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - tick)
    print(f"| {args.size} lines, one process, median of {args.repeat} | s | vs hand-written |")
    print("| --- | --- | --- |")
    base = statistics.median(times[next(iter(times))])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.2f} | {median / base:.2f}× |")


if __name__ == "__main__":
    main()
