"""The peak memory and time of `export_run` alone, in a fresh process (issue 15: the exports at scale).

    python bench/exports_memory.py RUN_FOLDER [--formats csv,xlsx,parquet] [--json]

RUN_FOLDER is a copy of a run folder (its manifest.json and the stage files export_run reads:
data/profile, value, clusters, next_best, moved_to_at_risk, run.json); the exports are written into
RUN_FOLDER/exports, as `segkit export` does. Run it once per version of segkit (e.g. with PYTHONPATH
on an extracted older tree) to compare: one process each, so each peak is its own
(bench/exports_timing.py does that, old and new alternating). Prints the resident memory after the
imports, the peak resident memory of the process (getrusage's maxrss, which counts every thread,
DuckDB's and the Rust writer's included), wall and CPU seconds (time.process_time, all threads), the
files' sizes and the load average before and after; with --json, one line of JSON with the same figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_folder")
    parser.add_argument("--formats", default=None, help="comma-separated, default: the run's exports.formats")
    parser.add_argument("--json", action="store_true", help="print one line of JSON")
    args = parser.parse_args()
    load_before = os.getloadavg()

    import segkit.report.exports as ex
    from segkit.params import validate_params

    folder = Path(args.run_folder)
    params = validate_params(json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["params"],
                             origin=str(folder / "manifest.json"))
    import pandas  # noqa: F401 (imported by segkit already; its memory is counted in the baseline)
    base = rss_mb()
    wall, cpu = time.perf_counter(), time.process_time()
    written = ex.export_run(folder, params, formats=args.formats.split(",") if args.formats else None)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sizes = {Path(path).name: Path(path).stat().st_size for path in written}
    if args.json:
        print(json.dumps({"segkit": str(Path(ex.__file__).parent), "wall": wall, "cpu": cpu, "base_mb": base,
                          "peak_mb": peak, "files": sizes, "load_before": load_before, "load_after": os.getloadavg()}))
        return
    print(f"segkit from {Path(ex.__file__).parent}")
    print(f"export_run: wall {wall:.1f} s, CPU {cpu:.1f} s; RSS after imports {base:.0f} MB, peak RSS {peak:.0f} MB "
          f"(+{peak - base:.0f} MB)")
    for name, size in sizes.items():
        print(f"  {name}: {size:,} bytes")
    print(f"load average before {load_before}, after {os.getloadavg()}")


if __name__ == "__main__":
    main()
