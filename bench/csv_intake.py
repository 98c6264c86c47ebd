"""A CSV's intake and cleaning: into the engine (`segkit.intake.plain_text`) against the text readers.

    .venv/bin/python bench/csv_intake.py --size 10M --repeat 2
    .venv/bin/python bench/csv_intake.py --size 10M --repeat 2 --layout export
    .venv/bin/python bench/csv_intake.py --size 10M --repeat 2 --layout marketplace
    .venv/bin/python bench/csv_intake.py --size 10M --repeat 2 --layout shopify

Reads the generated CSV of a size (bench/generate.py) with its params, and runs what 01_cleaning runs
on it through the package (`load_source`, then `clean_and_save` into a temporary folder), each run in a
fresh process: once as segkit reads it (the plainly written file goes into the engine) and once with
the text readers forced (the path every CSV took before), alternating. Prints, per run, the wall time
of the read and of the cleaning and the process's peak memory (its maximum resident set), then the
medians and their ratios, as a Markdown table for docs/benchmarks.md. The two runs' ledgers are
asserted equal.

`--layout export` reads the same rows written as a Chinese shop system exports them instead: dates
as "2025/3/7 14:05:09" and amounts as "¥1,234.50" (written once from the Parquet file by DuckDB, to
tx-<size>-export.csv beside it). Such a file is not plainly written: its dates and amounts stay text
in the engine and cleaning reads them through their distinct values (`segkit.intake.engine_parsing`).
`--layout marketplace`: the rows as a Chinese marketplace exports its orders, plainly written dates and
amounts but 19-digit order numbers and buyer names for ids (tx-<size>-marketplace.csv); such ids sent
the whole file to the text readers until session 37.
`--layout shopify`: the rows as Shopify's orders export (tx-<size>-shopify.csv) read with
`source.preset: shopify_orders`: the status and the date (with its UTC offset) on an order's first line
only, filled in from it, and the amount a quantity times a price; a preset sent the whole file to the
text readers until session 38.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from unittest import mock
import segkit
from segkit.intake import sources
from segkit.intake.cleaning import clean_and_save

params_path, reader, out = sys.argv[1], sys.argv[2], sys.argv[3]
p = segkit.load_params(params_path)
tick = time.perf_counter()
if reader == "text":
    with mock.patch.object(sources, "_plain_text_file", lambda *args: None):
        intake = segkit.load_source(p.source, params_path, time_zone=p.cleaning.time_zone, decimal=p.cleaning.decimal)
else:
    intake = segkit.load_source(p.source, params_path, time_zone=p.cleaning.time_zone, decimal=p.cleaning.decimal)
read_s = time.perf_counter() - tick
kind = type(intake.transactions).__name__
tick = time.perf_counter()
result = clean_and_save(intake, out, as_of=p.as_of_date, rules=p.cleaning, activity_days=p.features.activity_days,
                        minor_unit=p.currency.minor_unit, currency_code=p.currency.code)
clean_s = time.perf_counter() - tick
ledger = {f"{o}/{r}": int(n) for o, r, n in zip(result.ledger["outcome"], result.ledger["rule"], result.ledger["rows"])}
print(json.dumps({"reader": reader, "transactions": kind, "read_s": read_s, "clean_s": clean_s,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "ledger": ledger}))
"""


def run(params: Path, reader: str) -> dict:
    with tempfile.TemporaryDirectory() as out:
        done = subprocess.run([sys.executable, "-c", CHILD, str(params), reader, out], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"the {reader} run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# the columns of each layout, from the generated Parquet file's (`file_row_number`: its rows' order)
LAYOUTS = {
    "export": ("customer_id, order_id, strftime(ordered_at, '%Y/%-m/%-d %H:%M:%S') AS ordered_at, "
               "'¥' || format('{:,.2f}', amount) AS amount, category"),
    "marketplace": ("'tb_' || customer_id::VARCHAR AS customer_id, '3' || lpad(order_id::VARCHAR, 18, '0') AS order_id, "
                    "strftime(ordered_at, '%Y-%m-%d %H:%M:%S') AS ordered_at, amount, category"),
    # Shopify's orders export (source.preset: shopify_orders): one row per line item, the order's status
    # and date on its first line only, every 50th order refunded, the amount a quantity times a price
    "shopify": ("'#' || order_id::VARCHAR AS \"Name\", 'c' || customer_id::VARCHAR || '@example.com' AS \"Email\", "
                "CASE WHEN row_number() OVER line = 1 THEN (CASE WHEN order_id % 50 = 0 THEN 'refunded' ELSE 'paid' END) "
                "END AS \"Financial Status\", "
                "CASE WHEN row_number() OVER line = 1 THEN strftime(ordered_at, '%Y-%m-%d %H:%M:%S') || ' -0500' END "
                "AS \"Created at\", 1 AS \"Lineitem quantity\", category AS \"Lineitem name\", "
                "format('{:.2f}', amount) AS \"Lineitem price\""),
}
WINDOWS = "WINDOW line AS (PARTITION BY order_id ORDER BY file_row_number) ORDER BY file_row_number"


def export_layout(size: str, layout: str = "export") -> Path:
    """The params of tx-<size>-<layout>.csv, written from tx-<size>.parquet when not there yet."""
    import duckdb
    import yaml

    data = HERE / ".data"
    parquet, csv, params = (data / f"tx-{size}.parquet", data / f"tx-{size}-{layout}.csv",
                            data / f"params-{size}-{layout}.yaml")
    if not parquet.is_file():
        raise SystemExit(f"{parquet} is not there: run bench/generate.py --sizes {size} first")
    if not csv.is_file():
        duckdb.sql(f"""COPY (SELECT {LAYOUTS[layout]} FROM read_parquet('{parquet}', file_row_number = true)
                             {WINDOWS if layout == "shopify" else ""})
                       TO '{csv}.tmp' (HEADER, FORMAT csv)""")
        Path(f"{csv}.tmp").rename(csv)
    settings = yaml.safe_load((data / f"params-{size}.yaml").read_text(encoding="utf-8"))
    settings["source"]["transactions"]["path"] = csv.name
    if layout == "shopify":  # the preset maps the columns and sets refunded orders aside
        settings["source"] = {"preset": "shopify_orders", "transactions": {"path": csv.name}}
    params.write_text(yaml.safe_dump(settings, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="10M", help="a size bench/generate.py wrote (default 10M)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each reader, alternating (default 2)")
    parser.add_argument("--layout", choices=("plain", *LAYOUTS), default="plain",
                        help="the generated CSV (plain), the same rows as a shop system exports them (export), "
                             "with a marketplace's 19-digit order numbers (marketplace), or as Shopify's orders "
                             "export read with its preset (shopify)")
    args = parser.parse_args()
    params = HERE / ".data" / f"params-{args.size}-csv.yaml"
    if args.layout != "plain":
        params = export_layout(args.size, args.layout)
    if not params.is_file():
        raise SystemExit(f"{params} is not there: run bench/generate.py --sizes {args.size} first")
    runs = {"engine": [], "text": []}
    for _ in range(args.repeat):
        for reader in ("engine", "text"):
            found = run(params, reader)
            print(f"{reader}: {found['transactions']}, read {found['read_s']:.1f} s, clean {found['clean_s']:.1f} s, "
                  f"peak {found['peak_mb']:,.0f} MB", flush=True)
            runs[reader].append(found)
    assert runs["engine"][0]["ledger"] == runs["text"][0]["ledger"], "the two readers' ledgers differ"
    assert runs["engine"][0]["transactions"] == "Table" and runs["text"][0]["transactions"] == "DataFrame"

    def median(reader: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[reader])

    print(f"\n`bench/csv_intake.py --size {args.size} --repeat {args.repeat}`: medians of fresh processes, alternating\n")
    print("| reader | read s | clean_and_save s | total s | peak MB |")
    print("| --- | --- | --- | --- | --- |")
    for reader in ("engine", "text"):
        total = median(reader, "read_s") + median(reader, "clean_s")
        print(f"| {reader} | {median(reader, 'read_s'):.1f} | {median(reader, 'clean_s'):.1f} | {total:.1f} | "
              f"{median(reader, 'peak_mb'):,.0f} |")
    ratio_time = (median("engine", "read_s") + median("engine", "clean_s")) / (median("text", "read_s") + median("text", "clean_s"))
    ratio_mem = median("engine", "peak_mb") / median("text", "peak_mb")
    print(f"\nengine / text: time {ratio_time:.2f}, peak memory {ratio_mem:.2f}")


if __name__ == "__main__":
    main()
