"""Every benchmark of issue 15 in one command: data, the feature step, the whole report.

    .venv/bin/python bench/run_all.py --sizes 1M,10M
    .venv/bin/python bench/run_all.py --sizes 1M,10M,50M --features-size 10M --repeat 5

Steps: bench/host_index.py times fixed workloads (the host's own speed that day); bench/generate.py
writes each size (Parquet and CSV; reused when already written with the same settings);
bench/bench_features.py compares the feature step at `--features-size` (by default the largest of
`--sizes`, so `--sizes 1M` makes and reads no 10M data; pymc-marketing from `--pymc-python`);
bench/bench_report.py runs the whole `segkit report` at each size, on each of `--engines`
(`duckdb,spark` adds the same report on Spark local mode at `--spark-size`, 10M by default, as issue
15 asks: about ten minutes more); and bench/csv_intake.py compares a CSV's cleaning in the engine
with the text readers at `--csv-size`, as generated and as a shop system exports the same rows
(`--layout export`), with a marketplace's 19-digit order numbers (`--layout marketplace`) and as
Shopify's orders export read with its preset (`--layout shopify`; `--skip csv` leaves the four out).
Each step is a child process of this interpreter; the Markdown tables go to stdout and to
bench/.data/results-<UTC time>.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def step(title: str, args: list[str]) -> str:
    print(f"== {title}", file=sys.stderr)
    done = subprocess.run([sys.executable, *args], stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{title} failed (exit {done.returncode})")
    return f"## {title}\n\n{done.stdout.strip()}\n"


def largest(sizes: str) -> str:
    """The size of comma-separated `sizes` with the most lines (then customers), as written there."""
    from generate import parse_size  # bench/ is on the path of a script run from it

    return max((size.strip() for size in sizes.split(",") if size.strip()), key=lambda size: parse_size(size)[1:])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1M,10M",
                        help="sizes of the whole-report runs (1M, 10M, 50M or LINES:CUSTOMERS; default 1M,10M)")
    parser.add_argument("--features-size", default=None,
                        help="size of the feature-step comparison (default: the largest of --sizes)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per method of the feature step")
    parser.add_argument("--engines", default="duckdb",
                        help="comma-separated engines of the whole-report runs: duckdb, spark (default duckdb)")
    parser.add_argument("--spark-size", default="10M", help="size of the Spark report run (default 10M)")
    parser.add_argument("--csv-size", default=None, help="size of the CSV comparison (default: the largest of --sizes)")
    parser.add_argument("--pymc-python", default=".venv-pymc/bin/python")
    parser.add_argument("--skip", default="", help="comma-separated steps to skip: features, report, csv")
    args = parser.parse_args(argv)
    args.features_size = args.features_size or largest(args.sizes)
    args.csv_size = args.csv_size or largest(args.sizes)
    args.engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = set(args.engines) - {"duckdb", "spark"}
    if unknown or not args.engines:
        parser.error(f"--engines: choose from duckdb, spark (got {args.engines})")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    sizes = ",".join(dict.fromkeys([*args.sizes.split(","), *([] if "features" in skip else [args.features_size]),
                                    *([args.spark_size] if "spark" in args.engines and "report" not in skip else []),
                                    *([] if "csv" in skip else [args.csv_size])]))
    out = [f"# segkit benchmarks, {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC "
           f"({os.cpu_count()} cores; load average before: {', '.join(f'{x:.1f}' for x in os.getloadavg())})\n",
           step("host index", [str(HERE / "host_index.py")]),  # the host's own speed, beside every figure
           step("data", [str(HERE / "generate.py"), "--sizes", sizes])]
    if "features" not in skip:
        out.append(step(f"feature step, {args.features_size}",
                        [str(HERE / "bench_features.py"), "--size", args.features_size, "--repeat", str(args.repeat),
                         "--pymc-python", args.pymc_python]))
    if "report" not in skip:
        for engine in args.engines:
            at = args.spark_size if engine == "spark" else args.sizes
            out.append(step(f"whole report, {at}, {engine}",
                            [str(HERE / "bench_report.py"), "--sizes", at, "--engine", engine]))
    if "csv" not in skip:
        out.append(step(f"a CSV's cleaning, {args.csv_size}", [str(HERE / "csv_intake.py"), "--size", args.csv_size]))
        out.append(step(f"a shop system's CSV export (dates and amounts not plainly written), {args.csv_size}",
                        [str(HERE / "csv_intake.py"), "--size", args.csv_size, "--layout", "export"]))
        out.append(step(f"a marketplace's CSV export (19-digit order numbers), {args.csv_size}",
                        [str(HERE / "csv_intake.py"), "--size", args.csv_size, "--layout", "marketplace"]))
        out.append(step(f"Shopify's orders export read with its preset, {args.csv_size}",
                        [str(HERE / "csv_intake.py"), "--size", args.csv_size, "--layout", "shopify"]))
    text = "\n".join(out)
    target = HERE / ".data" / f"results-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M}.md"
    target.write_text(text, encoding="utf-8")
    print(text)
    print(f"(also in {target})", file=sys.stderr)


if __name__ == "__main__":
    main()
