"""Time 03's cohort tables, monthly KPIs and retention by segment counted in pandas (the activity and
the month-start classes loaded as frames) against the same counts in the engine (the stage files read
in place by DuckDB, `segkit.store.stage_tables`): issue 15's "cohort/retention counts in the engine".

    python bench/monthly_counts.py [DATA_DIR] [--repeat 3]

DATA_DIR is a run's data folder holding activity.parquet and month_start_classes.parquet (default
bench/.data/reports/bench-10M-spark/data, the 10M-line run of `bench/bench_report.py`: 1M customers,
3.6M activity rows, 9.8M month-start rows). Each path runs in a fresh process, the two alternating
`--repeat` times; each prints its wall seconds, CPU seconds (all threads) and peak resident memory,
and the script checks that both give the same tables (counts exactly, revenue to 1e-12).
"""

from __future__ import annotations

import argparse
import json
import pickle
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "bench" / ".data" / "reports" / "bench-10M-spark" / "data"

STEP = r"""
import pickle, resource, sys, time
import segkit
from segkit.monthly.activity import cohort_table, monthly_kpis, retention_by_segment

data, path, out = sys.argv[1], sys.argv[2], sys.argv[3]
wall, cpu = time.perf_counter(), time.process_time()
if path == "pandas":  # as 03 read them before: frames of every row
    activity = segkit.load_stage(data, "activity", categories=["month"])
    classes = segkit.load_stage(data, "month_start_classes")
else:  # read in place by one embedded DuckDB
    activity, classes = segkit.stage_tables(data, "activity", "month_start_classes")
result = {"share": cohort_table(activity), "revenue": cohort_table(activity, "revenue"),
          "kpis": monthly_kpis(activity), "retention": retention_by_segment(activity, classes)}
took = {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
with open(out, "wb") as handle:
    pickle.dump((took, result), handle)
"""


def run(data: Path, path: str, out: Path) -> tuple[dict, dict]:
    subprocess.run([sys.executable, "-c", STEP, str(data), path, str(out)], check=True, cwd=ROOT)
    with open(out, "rb") as handle:
        return pickle.load(handle)


def same(ours: dict, theirs: dict) -> None:
    import pandas as pd

    for name in ours:
        left, right = ours[name], theirs[name]
        if name in ("share", "revenue"):  # cohort labels: dates in both, the frame's as the data give them
            right = right.set_axis(pd.Index([pd.Timestamp(v).date() for v in right.index], name="cohort"))
        if name == "kpis":
            right = right.assign(month=[pd.Timestamp(v).date() for v in right["month"]])
        if name == "retention":
            left, right = left.reset_index(drop=True), right.reset_index(drop=True).astype({"segment": object})
            right["month"] = [pd.Timestamp(v).date() for v in right["month"]]
        pd.testing.assert_frame_equal(left, right, check_exact=False, rtol=1e-12, check_dtype=False, obj=name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for name in ("activity", "month_start_classes"):
        if not (args.data / f"{name}.parquet").is_file():
            sys.exit(f"{args.data / name}.parquet is missing: run `python bench/bench_report.py --sizes 10M` first "
                     "or name a run's data folder")
    times = {"pandas": [], "engine": []}
    results = {}
    with tempfile.TemporaryDirectory() as work:
        for repeat in range(args.repeat):
            for path in ("pandas", "engine") if repeat % 2 == 0 else ("engine", "pandas"):
                took, result = run(args.data, path, Path(work) / f"{path}.pickle")
                times[path].append(took)
                results[path] = result
                shown = json.dumps({key: round(value, 2) for key, value in took.items()})
                print(f"{path:6s} run {repeat + 1}: {shown}", flush=True)
    same(results["engine"], results["pandas"])
    medians = {path: {key: statistics.median(t[key] for t in runs) for key in runs[0]} for path, runs in times.items()}
    for path, figures in medians.items():
        print(f"median {path:6s}: wall {figures['wall_s']:.2f} s, CPU {figures['cpu_s']:.2f} s, "
              f"peak {figures['peak_mb']:.0f} MB")
    ratio = {key: medians["pandas"][key] / medians["engine"][key] for key in medians["engine"]}
    print(f"pandas / engine: wall {ratio['wall_s']:.2f}x, CPU {ratio['cpu_s']:.2f}x, peak {ratio['peak_mb']:.2f}x; "
          "the same tables")


if __name__ == "__main__":
    main()
