"""Writing a month into the run history (`segkit.monthly.history.write_month`, what every report does
after putting its folder in place): the `assignments` table as segkit made it before (with a PRIMARY
KEY on run_name, month and customer_id) against the table without the key, side by side, alternating.

    python bench/history_write.py [--profile PARQUET] [--months 2] [--repeats 3]

The profile is a run's data/profile.parquet (default: the 10M-line run of `bench/bench_report.py
--sizes 10M`, 1,000,000 customers). Each history is first filled with `--months` months of that
profile, then the last month is written again (a rerun with --force replaces it): the figure is
that replacement, wall and CPU seconds (time.process_time), median of REPEATS, with the file sizes
and the load average. Both histories must hold the same rows afterwards (asserted).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import tempfile
import time
from pathlib import Path

import duckdb
import pandas as pd

from segkit.monthly import history

KEYED = history._SCHEMA[0][:-1] + ", PRIMARY KEY (run_name, month, customer_id))"  # the schema before


def filled(path: Path, profile: pd.DataFrame, months: int, keyed: bool) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute(KEYED if keyed else history._SCHEMA[0])
    original = history._drop_assignment_key
    history._drop_assignment_key = (lambda con: None) if keyed else original  # keep the old table as it was
    try:
        for month in range(1, months + 1):
            history.write_month(path, "bench", dt.date(2025, month, 28), profile, {"customers": len(profile)})
    finally:
        history._drop_assignment_key = original


def replace_last(path: Path, profile: pd.DataFrame, months: int, keyed: bool) -> tuple[float, float]:
    original = history._drop_assignment_key
    history._drop_assignment_key = (lambda con: None) if keyed else original
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        history.write_month(path, "bench", dt.date(2025, months, 28), profile, {"customers": len(profile)})
        return time.perf_counter() - wall, time.process_time() - cpu
    finally:
        history._drop_assignment_key = original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="bench/.data/reports/bench-10M/data/profile.parquet")
    parser.add_argument("--months", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    profile = pd.read_parquet(args.profile)
    print(f"profile: {len(profile):,} customers; {args.months} months in each history")
    with tempfile.TemporaryDirectory(dir=Path(args.profile).parent.parent.parent) as folder:
        paths = {keyed: Path(folder) / f"{'keyed' if keyed else 'unkeyed'}.duckdb" for keyed in (True, False)}
        for keyed, path in paths.items():
            filled(path, profile, args.months, keyed)
        times = {True: [], False: []}
        for _ in range(args.repeats):
            for keyed in (True, False):
                times[keyed].append(replace_last(paths[keyed], profile, args.months, keyed))
        rows = {}
        for keyed, path in paths.items():
            with duckdb.connect(str(path), read_only=True) as con:
                rows[keyed] = con.execute("SELECT month, count(*), count(DISTINCT customer_id), round(sum(revenue), 2) "
                                          "FROM assignments GROUP BY month ORDER BY month").fetchall()
        assert rows[True] == rows[False], (rows[True], rows[False])
        for keyed in (True, False):
            wall = statistics.median(t[0] for t in times[keyed])
            cpu = statistics.median(t[1] for t in times[keyed])
            size = paths[keyed].stat().st_size / 2**20
            print(f"{'with the key (before)' if keyed else 'without the key (now)':24} wall {wall:6.2f} s  "
                  f"CPU {cpu:6.2f} s  file {size:,.0f} MB")
        ratio = statistics.median(t[0] for t in times[True]) / statistics.median(t[0] for t in times[False])
        print(f"replacing a month: {ratio:.1f}x faster without the key; load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
