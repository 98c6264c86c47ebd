"""Seeded transaction files for the scale benchmarks (issue 15): 1M, 10M or 50M lines as Parquet and CSV.

    .venv/bin/python bench/generate.py --sizes 1M,10M            # into bench/.data/
    .venv/bin/python bench/generate.py --sizes 50M --formats parquet

Each size is a fixed number of lines and customers: 1M lines of 100,000 customers, 10M of 1,000,000,
50M of 2,000,000. The buying process is BG/NBD's (Fader, Hardie & Lee 2005, "Counting your
customers the easy way", Marketing Science 24(2)): each customer has a purchase rate
lambda ~ Gamma(r, alpha) and, after every purchase, drops out with probability p ~ Beta(a, b); the
first purchase falls on a uniform day of the three years 2023-01-01 to 2025-12-31, and purchases
after 2025-12-31 are not seen. The rate's scale is calibrated on a pilot sample (same seed) so that
the expected orders per customer fit the size; the lines of a chunk of customers are then dealt to
its orders (every order at least one line, the rest by skewed weights) so that each file holds
exactly the stated number of lines. Spend: each customer's mean line amount nu ~ Gamma(4, 10) CNY,
each line ~ Gamma(3, nu / 3), rounded to cents (at least 0.50) — the Gamma-Gamma spend assumption
(Fader, Hardie & Lee 2005, "RFM and CLV", JMR 42(4)). Category: 20 categories with Zipf weights
(s = 1.1); each line is the customer's favourite category with probability 0.6, else a Zipf draw.

Columns (Parquet types): customer_id int64, order_id int64 (unique per order, rising with time
within a chunk), ordered_at timestamp[us] (no time zone; the lines of an order share it),
amount double (cents), category string. The CSV has the same columns, dates as
`YYYY-MM-DD HH:MM:SS`. Lines are sorted by time within each chunk of 100,000 customers.

Files are written chunk by chunk with pyarrow writers, so 50M lines never sit in memory at once
(peak ~ one chunk: 2.5M lines at 50M). Beside the data: `params-<size>.yaml` (the Parquet file) and
`params-<size>-csv.yaml` (the CSV), `kind: file`, `as_of: 2025-12-31`, and `tx-<size>.json`
(what was written; a rerun with the same settings reuses the files).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import yaml

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data"
VERSION = 1  # bump when the generated data change, so that cached files are rewritten
SIZES = {"1M": (1_000_000, 100_000), "10M": (10_000_000, 1_000_000), "50M": (50_000_000, 2_000_000)}
START = dt.date(2023, 1, 1)
END = dt.date(2025, 12, 31)  # the as-of date of the params
WINDOW_DAYS = (END - START).days + 1
CHUNK_CUSTOMERS = 100_000
# BG/NBD: r, a, b fixed; alpha (the rate's scale) calibrated per size
R, A, B = 0.9, 0.6, 4.0
MAX_ORDERS = 1_000  # a customer's orders are capped (a few thousand rate draws are extreme)
CATEGORIES = ("groceries", "beverages", "snacks", "household", "personal_care", "baby", "pet", "frozen",
              "bakery", "dairy", "produce", "meat", "seafood", "electronics", "kitchen", "stationery",
              "toys", "sports", "garden", "books")
ZIPF = 1.0 / np.arange(1, len(CATEGORIES) + 1) ** 1.1
ZIPF = ZIPF / ZIPF.sum()
SCHEMA = pa.schema([("customer_id", pa.int64()), ("order_id", pa.int64()), ("ordered_at", pa.timestamp("us")),
                    ("amount", pa.float64()), ("category", pa.string())])


def parse_size(text: str) -> tuple[str, int, int]:
    """'10M' -> ('10M', lines, customers); also 'LINES:CUSTOMERS' for other sizes (e.g. 20000:2000)."""
    text = text.strip()
    if text in SIZES:
        return (text, *SIZES[text])
    try:
        lines, customers = (int(part.replace("_", "")) for part in text.split(":"))
    except ValueError:
        raise SystemExit(f"size {text!r}: give one of {', '.join(SIZES)} or LINES:CUSTOMERS (e.g. 20000:2000)") from None
    if not 0 < customers <= lines:
        raise SystemExit(f"size {text!r}: customers must be from 1 to the number of lines")
    return f"{lines}x{customers}", lines, customers


def purchase_days(rng: np.random.Generator, n: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """BG/NBD purchase days (0 = START) of `n` customers: (customer index, day), first purchases included."""
    lam = rng.gamma(R, scale, n)  # purchases per day while alive
    p = rng.beta(A, B, n)
    now = rng.uniform(0, WINDOW_DAYS, n)
    who, when = [np.arange(n)], [now.copy()]
    active = np.ones(n, bool)
    count = np.ones(n, np.int64)
    while active.any():
        i = np.flatnonzero(active)
        gone = rng.random(len(i)) < p[i]  # drops out after its last purchase
        i = i[~gone]
        active[np.flatnonzero(active)[gone]] = False
        nxt = now[i] + rng.exponential(1.0, len(i)) / lam[i]
        late = nxt >= WINDOW_DAYS
        active[i[late]] = False
        i, nxt = i[~late], nxt[~late]
        now[i] = nxt
        count[i] += 1
        active[i[count[i] >= MAX_ORDERS]] = False
        who.append(i)
        when.append(nxt)
    return np.concatenate(who), np.floor(np.concatenate(when)).astype(np.int64)


def calibrate(seed: int, orders_per_customer: float, pilot: int = 20_000) -> float:
    """The rate scale alpha (days) whose pilot sample gives `orders_per_customer` on average (bisection)."""
    low, high = 1e-4, 10.0
    for _ in range(30):
        mid = (low * high) ** 0.5
        who, _ = purchase_days(np.random.default_rng([seed, 999_999]), pilot, mid)
        if len(who) / pilot < orders_per_customer:
            low = mid
        else:
            high = mid
    return (low * high) ** 0.5


def chunk_table(rng: np.random.Generator, first_customer: int, n: int, lines: int, scale: float,
                first_order: int) -> pa.Table:
    """`lines` transaction lines of customers first_customer .. first_customer + n - 1, sorted by time."""
    who, day = purchase_days(rng, n, scale)
    # days are whole days: two purchases of a customer on one day are one order
    key = np.unique(who * WINDOW_DAYS + day)
    who, day = key // WINDOW_DAYS, key % WINDOW_DAYS
    orders = len(who)
    if orders > lines:  # too many orders for the lines: drop repeat orders at random (never a first order)
        first = np.r_[True, who[1:] != who[:-1]]
        repeat = np.flatnonzero(~first)
        drop = rng.choice(repeat, orders - lines, replace=False)
        keep = np.ones(orders, bool)
        keep[drop] = False
        who, day, orders = who[keep], day[keep], lines
    per_order = 1 + rng.multinomial(lines - orders, _normalised(rng.gamma(1.5, 1.0, orders)))
    seconds = rng.integers(8 * 3600, 22 * 3600, orders)
    order_time = day * 86_400 + seconds
    by_time = np.lexsort((who, order_time))
    who, order_time, per_order = who[by_time], order_time[by_time], per_order[by_time]
    order_id = first_order + np.arange(orders)
    line_customer = np.repeat(who, per_order)
    nu = rng.gamma(4.0, 10.0, n)
    amount = np.maximum(0.5, np.round(rng.gamma(3.0, 1.0, lines) * nu[line_customer] / 3.0, 2))
    favourite = rng.choice(len(CATEGORIES), n, p=ZIPF)
    category = np.where(rng.random(lines) < 0.6, favourite[line_customer], rng.choice(len(CATEGORIES), lines, p=ZIPF))
    start_us = _epoch_us(START)
    return pa.table({
        "customer_id": pa.array(first_customer + line_customer, pa.int64()),
        "order_id": pa.array(np.repeat(order_id, per_order), pa.int64()),
        "ordered_at": pa.array(start_us + np.repeat(order_time, per_order) * 1_000_000, pa.timestamp("us")),
        "amount": pa.array(amount, pa.float64()),
        "category": pa.DictionaryArray.from_arrays(pa.array(category, pa.int32()),
                                                   pa.array(CATEGORIES)).cast(pa.string()),
    }, schema=SCHEMA)


def _normalised(weights: np.ndarray) -> np.ndarray:
    weights = weights / weights.sum()
    weights[-1] = max(0.0, 1.0 - weights[:-1].sum())  # multinomial wants a sum of 1 to the last bit
    return weights


def _epoch_us(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days * 86_400 * 1_000_000


def generate(lines: int, customers: int, out_dir: Path, name: str, seed: int = 1,
             formats: tuple[str, ...] = ("parquet", "csv"), chunk_customers: int = CHUNK_CUSTOMERS,
             progress=lambda message: None) -> dict:
    """Write `lines` lines of `customers` customers to out_dir/tx-<name>.parquet and/or .csv, with the
    params files beside them; returns what was written (also saved as tx-<name>.json). Files already
    written with the same settings are reused."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = {"version": VERSION, "lines": lines, "customers": customers, "seed": seed,
                "chunk_customers": chunk_customers}
    meta_path = out_dir / f"tx-{name}.json"
    paths = {fmt: out_dir / f"tx-{name}.{fmt}" for fmt in formats}
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta["settings"] == settings and all(p.is_file() and fmt in meta["formats"] for fmt, p in paths.items()):
            progress(f"{name}: reusing {', '.join(str(p) for p in paths.values())}")
            return meta
    tick = time.perf_counter()
    scale = calibrate(seed, orders_per_customer=lines / customers / 2.2, pilot=min(20_000, max(2_000, customers)))
    writers = {}
    tmp = {fmt: path.with_suffix(path.suffix + ".part") for fmt, path in paths.items()}
    if "parquet" in formats:
        writers["parquet"] = pq.ParquetWriter(tmp["parquet"], SCHEMA, compression="snappy")
    if "csv" in formats:
        writers["csv"] = pa_csv.CSVWriter(tmp["csv"], pa.schema([(f.name, pa.string() if f.name == "ordered_at"
                                                                  else f.type) for f in SCHEMA]))
    chunks = -(-customers // chunk_customers)
    order_ids, orders_total, revenue_cents, max_order_lines = 1, 0, 0, 0
    try:
        for k in range(chunks):
            first = k * chunk_customers
            n = min(chunk_customers, customers - first)
            quota = lines * (first + n) // customers - lines * first // customers
            table = chunk_table(np.random.default_rng([seed, k]), first + 1, n, quota, scale, order_ids)
            ids = table.column("order_id")
            orders_total += len(pc.unique(ids))
            order_ids = pc.max(ids).as_py() + 1
            revenue_cents += int(round(pc.sum(table.column("amount")).as_py() * 100))
            if "parquet" in writers:
                writers["parquet"].write_table(table, row_group_size=1_000_000)
            if "csv" in writers:
                seconds = table.column("ordered_at").cast(pa.timestamp("s"))  # %S of microseconds adds .000000
                writers["csv"].write_table(table.set_column(2, "ordered_at",
                                                            pc.strftime(seconds, format="%Y-%m-%d %H:%M:%S")))
            progress(f"{name}: chunk {k + 1}/{chunks} ({table.num_rows:,} lines)")
            del table
    finally:
        for writer in writers.values():
            writer.close()
    for fmt, path in paths.items():
        tmp[fmt].replace(path)
    meta = {"settings": settings, "formats": list(formats), "rate_scale_days": scale, "orders": orders_total,
            "revenue_approx": revenue_cents / 100, "seconds": round(time.perf_counter() - tick, 1),
            "files": {fmt: {"path": str(p), "bytes": p.stat().st_size} for fmt, p in paths.items()},
            "as_of": END.isoformat()}
    for fmt, path in paths.items():
        write_params(out_dir / (f"params-{name}.yaml" if fmt == "parquet" else f"params-{name}-{fmt}.yaml"),
                     path.name, f"bench-{name}" + ("" if fmt == "parquet" else f"-{fmt}"))
    meta_path.write_text(json.dumps(meta, indent=2))
    return meta


def write_params(target: Path, data_file: str, run_name: str) -> Path:
    """A params file for the generated data (path relative to the params file: they sit side by side)."""
    params = {
        "run_name": run_name, "lang": "en", "currency": {"code": "CNY", "symbol": "¥", "minor_unit": 2},
        "as_of": END.isoformat(),
        "source": {"kind": "file", "transactions": {"path": data_file}},
        "cluster": {"k_min": 3, "k_max": 8, "random_state": 42},
    }
    target.write_text("# Written by bench/generate.py: the generated transactions beside this file.\n"
                      + yaml.safe_dump(params, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1M,10M", help="comma-separated: 1M, 10M, 50M or LINES:CUSTOMERS")
    parser.add_argument("--formats", default="parquet,csv", help="parquet, csv or both")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=DATA)
    args = parser.parse_args(argv)
    formats = tuple(f.strip() for f in args.formats.split(","))
    if not set(formats) <= {"parquet", "csv"}:
        raise SystemExit(f"--formats {args.formats!r}: give parquet, csv or both")
    for size in args.sizes.split(","):
        name, lines, customers = parse_size(size)
        meta = generate(lines, customers, args.out, name, args.seed, formats,
                        progress=lambda m: print(m, file=sys.stderr))
        files = ", ".join(f"{f['path']} ({f['bytes'] / 1e6:,.0f} MB)" for f in meta["files"].values())
        print(f"{name}: {lines:,} lines, {customers:,} customers, {meta['orders']:,} orders in "
              f"{meta['seconds']} s: {files}")


if __name__ == "__main__":
    main()
