"""Time 06_migration's stage and 03's month-start classes, old against new (issue 15: the monthly
stages at a million customers).

    python bench/monthly_timing.py [DATA_DIR] [--params P] [--history H] [--old REV] [--repeat 3]
                                   [--cases classes,history,none,hit] [--work DIR]

DATA_DIR is a run's data folder (default the run of `bench/bench_report.py --sizes 10M`,
bench/.data/reports/bench-10M/data; read, never written: each run works on its own copy of the
files these calls read). The "old" segkit is `git archive REV` (default a7aed38, the last commit
before the fast path) extracted into a temporary folder and put first on PYTHONPATH of its own
subprocess; the "new" one is this checkout's. Each case runs old and new alternately `--repeat`
times, each in a fresh process on a fresh copy:

- classes: notebook 03's cell: `month_start_classes_stage` (the saved stage removed, so it is
  classified) then `retention_by_segment` of the run's activity;
- history: `migration_stage(p, data_dir, history_file=H)` with a copy of the reports' history
  (default bench/.data/reports/history.duckdb; that run's history has no earlier month, so last
  month's classes are recomputed, as in the 10M report);
- none: `migration_stage` with no history file;
- hit: `migration_stage` with a history that holds last month (built once into --work from the
  month-start classes of this month, with the run's clusters renumbered, by `history.write_month`):
  the path of a second monthly run, with the clusters matched.

It asserts that every output is equal (every table of the returned Migration, the saved stages
customer_moves, moved_to_at_risk, transitions, kpi_trends, alerts, month_start_classes, and the
retention rates: `pandas.testing` with exact values), then prints CPU seconds (`time.process_time`
of the call: all threads of the process) per case, medians over the repeats, with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "bench" / ".data"
READ = ("run.json", "profile.parquet", "features.parquet", "month_start_features.parquet",
        "month_start_classes.parquet", "clusters.parquet", "monthly_kpis.parquet", "activity.parquet",
        "surveys.parquet")
SAVED = ("customer_moves", "moved_to_at_risk", "transitions", "kpi_trends", "alerts", "month_start_classes")
CASES = ("classes", "history", "none", "hit")

WORKER = r'''
import json, os, pickle, sys, time
from pathlib import Path
import pandas as pd
import segkit
from segkit.classify.rfm import load_segment_map
from segkit.store import load_stage

case, data_dir, params_path, history, out = sys.argv[1:6]
p = segkit.load_params(params_path, [])
data_dir = Path(data_dir)
found = {}
if case == "classes":
    (data_dir / "month_start_classes.parquet").unlink(missing_ok=True)
    grid = load_segment_map(p.rfm.segment_map, custom=p.rfm.custom_maps)
    classes = load_segment_map(p.rfm.class_map, custom=p.rfm.custom_maps, basis=p.rfm.class_basis,
                               thresholds=p.rfm.class_thresholds)
    activity = load_stage(data_dir, "activity")
    start = time.process_time()
    month_classes = segkit.month_start_classes_stage(data_dir, p.rfm, grid, classes)
    rates = segkit.retention_by_segment(activity, month_classes)
    cpu = time.process_time() - start
    found = {"month_classes": month_classes, "rates": rates}
else:
    start = time.process_time()
    m = segkit.migration_stage(p, data_dir, history_file=history)
    cpu = time.process_time() - start
    found = {f"migration.{name}": value for name, value in vars(m).items() if name not in ("segment_map", "class_map")}
    found["migration.maps"] = (repr(m.segment_map), repr(m.class_map))
for name in json.loads(sys.argv[6]):
    path = data_dir / f"{name}.parquet"
    found[f"saved.{name}"] = pd.read_parquet(path) if path.is_file() else None
with open(out, "wb") as handle:
    pickle.dump(found, handle)
print(json.dumps({"cpu": cpu, "segkit": segkit.__file__}))
'''


def old_segkit(rev: str, folder: Path) -> Path:
    """segkit at `rev` extracted into `folder` (its own package, found first on PYTHONPATH)."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "segkit"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def fresh_copy(data_dir: Path, target: Path, case: str) -> Path:
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for name in READ:
        if (data_dir / name).is_file() and not (case == "classes" and name == "month_start_classes.parquet"):
            shutil.copy(data_dir / name, target / name)
    return target


def history_with_last_month(data_dir: Path, params_path: Path, source: Path, target: Path) -> Path:
    """A copy of the history `source` that also holds the month before the run's month for its run
    name: the month-start classes of this month (the classes at last month's end), each customer's
    cluster the run's, renumbered (c + 1) mod k so that the matching has work to do."""
    if target.is_file():
        return target
    import pandas as pd

    import segkit
    from segkit.monthly.history import write_month

    p = segkit.load_params(params_path, [])
    info = json.loads((data_dir / "run.json").read_text())
    as_of = pd.Timestamp(info["as_of"]).date()
    month = as_of.replace(day=1)
    last_day = month - pd.Timedelta(days=1)
    classes = pd.read_parquet(data_dir / "month_start_classes.parquet", columns=["customer_id", "segment", "rfm_class"],
                              filters=[("month", "==", month)])
    clusters = pd.read_parquet(data_dir / "clusters.parquet", columns=["customer_id", "cluster"])
    k = int(clusters["cluster"].max()) + 1
    clusters["cluster"] = (clusters["cluster"] + 1) % k
    profile = classes.astype({"segment": str, "rfm_class": str}).merge(clusters, on="customer_id", how="left")
    partial = target.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    if source.is_file():
        shutil.copy(source, partial)
    write_month(partial, p.run_name, last_day, profile, {"customers": float(len(profile))})
    partial.replace(target)
    return target


def run(case: str, python_path: Path, data: Path, params: Path, history: Path, out: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(python_path)}
    done = subprocess.run([sys.executable, "-c", WORKER, case, str(data), str(params), str(history), str(out),
                           json.dumps(SAVED if case == "classes" else SAVED[:-1])],
                          env=env, capture_output=True, text=True, cwd=str(data.parent))
    if done.returncode:
        sys.exit(f"{case} with {python_path} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def assert_same(old: dict, new: dict, case: str) -> None:
    import pandas as pd

    assert old.keys() == new.keys(), (case, sorted(old.keys() ^ new.keys()))
    for name in old:
        a, b = old[name], new[name]
        where = f"{case}: {name}"
        if isinstance(a, pd.DataFrame):
            pd.testing.assert_frame_equal(a, b, check_exact=True, obj=where)
        elif isinstance(a, pd.Series):
            pd.testing.assert_series_equal(a, b, check_exact=True, obj=where)
        elif isinstance(a, dict):
            assert a.keys() == b.keys(), where
            for key in a:
                pd.testing.assert_frame_equal(a[key], b[key], check_exact=True, obj=f"{where}[{key}]")
        else:
            assert a == b, (where, a, b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", nargs="?", type=Path, default=DATA / "reports" / "bench-10M" / "data")
    parser.add_argument("--params", type=Path, default=DATA / "params-10M.yaml")
    parser.add_argument("--history", type=Path, default=DATA / "reports" / "history.duckdb")
    parser.add_argument("--old", default="a7aed38")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    args = parser.parse_args()
    cases = [c for c in args.cases.split(",") if c]
    unknown = set(cases) - set(CASES)
    if unknown:
        sys.exit(f"--cases: unknown {sorted(unknown)}; known: {', '.join(CASES)}")
    work = args.work or Path(tempfile.mkdtemp(prefix="monthly_timing_"))
    work.mkdir(parents=True, exist_ok=True)
    old_root = work / "old"
    if not (old_root / "segkit").is_dir():
        old_root.mkdir(exist_ok=True)
        old_segkit(args.old, old_root)
    histories = {"history": work / "history.duckdb", "none": work / "no-history.duckdb"}
    if "history" in cases:
        shutil.copy(args.history, histories["history"])
    if "hit" in cases:
        histories["hit"] = history_with_last_month(args.data_dir, args.params, args.history, work / "history-hit.duckdb")
    figures: dict[str, dict[str, list[float]]] = {}
    for case in cases:
        figures[case] = {"old": [], "new": []}
        for repeat in range(args.repeat):
            outputs = {}
            for side, root in (("old", old_root), ("new", REPO)) if repeat % 2 == 0 else (("new", REPO), ("old", old_root)):
                data = fresh_copy(args.data_dir, work / "run" / "data", case)
                out = work / f"{case}-{side}.pickle"
                # the history file is only read; a copy per run all the same (DuckDB may touch its WAL)
                history = histories.get(case, work / "no-history.duckdb")
                if history.is_file():
                    shutil.copy(history, work / "run" / "history.duckdb")
                    history = work / "run" / "history.duckdb"
                report = run(case, root, data, args.params, history, out)
                assert Path(report["segkit"]).resolve().is_relative_to(root.resolve()), report
                figures[case][side].append(report["cpu"])
                with open(out, "rb") as handle:
                    outputs[side] = pickle.load(handle)
            assert_same(outputs["old"], outputs["new"], case)
            print(f"{case} #{repeat + 1}: old {figures[case]['old'][-1]:.2f} s, new {figures[case]['new'][-1]:.2f} s "
                  f"CPU, equal; load {os.getloadavg()[0]:.2f}", flush=True)
    print(f"\nCPU seconds, medians of {args.repeat} (old {args.old} -> new), load average now "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}:")
    for case, sides in figures.items():
        old, new = statistics.median(sides["old"]), statistics.median(sides["new"])
        print(f"  {case:8s} {old:6.2f} -> {new:6.2f}  ({old / new:.1f}x)")


if __name__ == "__main__":
    main()
