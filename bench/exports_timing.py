"""Time the exports of a run folder, writer by writer, in one process (issue 15: the exports at scale).

    python bench/exports_timing.py RUN_FOLDER [--repeat 3] [--workbook] [--xlsxwriter]

Loads the export frame once, then times the people's CSV with the reference writer (pandas' `to_csv`)
and the one segkit uses (DuckDB), alternating, asserting the bytes are equal; the Parquet file; and,
with --workbook, the Excel workbook once (with --xlsxwriter, --repeat times alternating with the
XlsxWriter fallback: the Rust writer made unavailable). Prints CPU seconds (`time.process_time`, all
threads) and wall seconds per writer, medians over the repeats, file sizes and the load average.
Writes into a temporary folder beside nothing of the run's. Works with an older segkit too (its
workbook has no Rust writer: run it with PYTHONPATH on an extracted older tree for the figures before).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def timed(call):
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_folder")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workbook", action="store_true")
    parser.add_argument("--xlsxwriter", action="store_true", help="with --workbook: also the XlsxWriter fallback")
    args = parser.parse_args()

    from segkit.report import exports as ex
    from segkit.report.exports import export_run_folder  # noqa: F401 (the params as the run used them)
    import json
    from segkit.params import validate_params

    folder = Path(args.run_folder)
    params = validate_params(json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["params"],
                             origin=str(folder / "manifest.json"))
    print(f"load average before: {os.getloadavg()}")
    wall, cpu = timed(lambda: None)
    start = time.process_time()
    frame = ex.load_export_frame(folder / "data", params)
    people = ex._people_frame(frame, params.lang)
    print(f"frame: {len(frame):,} rows x {frame.shape[1]} columns, loaded and made for people in "
          f"{time.process_time() - start:.1f} s CPU")
    encoding = params.exports.csv_encoding
    with tempfile.TemporaryDirectory(dir="/tmp") as out:
        out = Path(out)
        times = {"csv pandas": [], "csv duckdb": []}
        for _ in range(args.repeat):
            times["csv pandas"].append(timed(lambda: ex._pandas_csv(people, out / "pandas.csv", encoding)))
            times["csv duckdb"].append(timed(lambda: ex._write_people_csv(people, out / "duckdb.csv", encoding)))
            assert (out / "pandas.csv").read_bytes() == (out / "duckdb.csv").read_bytes(), "the CSVs differ"
        times["parquet"] = [timed(lambda: ex.write_parquet(frame, out / "customers.parquet", {"run": "bench"}))]
        if args.workbook:
            grid = ex._grid(params.rfm)

            def workbook(name: str) -> None:
                ex._write_workbook(frame, people, out / name, params.lang, grid, params.exports.excel_max_rows,
                                   ["customers.csv", "customers.parquet"], "bench")

            def fallback() -> None:
                rust = ex._rust_cells
                ex._rust_cells = lambda people, book: None
                try:
                    workbook("xlsxwriter.xlsx")
                finally:
                    ex._rust_cells = rust

            times["workbook"] = []
            if args.xlsxwriter and hasattr(ex, "_rust_cells"):
                times["workbook xlsxwriter"] = []
                for _ in range(args.repeat):
                    times["workbook"].append(timed(lambda: workbook("customers.xlsx")))
                    times["workbook xlsxwriter"].append(timed(fallback))
            else:
                times["workbook"].append(timed(lambda: workbook("customers.xlsx")))
        for name, runs in times.items():
            print(f"{name:12s} wall {statistics.median(w for w, _ in runs):6.2f} s  CPU "
                  f"{statistics.median(c for _, c in runs):6.2f} s  (runs: "
                  + ", ".join(f"{w:.2f}/{c:.2f}" for w, c in runs) + ")")
        for path in sorted(out.iterdir()):
            print(f"{path.name}: {path.stat().st_size:,} bytes")
    print(f"the CSVs are byte for byte equal in every run; load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
