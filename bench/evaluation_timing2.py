"""Times notebook 05_evaluation's calls (those of `bench/evaluation_timing.py`, in the notebook's
order) for two versions of segkit, each in a fresh process, alternating, with the peak memory of
each process, and asserts that both give the same results (every table and figure input the
notebook shows, compared exactly).

    python bench/evaluation_timing2.py [--data DATA_DIR] [--params PARAMS] [--old REF] [--repeats N]

DATA_DIR: a run's data/ folder (default: the project's own 10M run, bench/.data/reports/bench-10M/data,
with bench/.data/params-10M.yaml); it is only read. REF: the old code (default: a36453c, main when
session 11's evaluation work started). The children run as the report's kernels do
(ARROW_DEFAULT_MEMORY_POOL=jemalloc, unless set; the engine capped as `segkit.intake.sources.connect`
caps it). Prints CPU and wall seconds per call (CPU: time.process_time of the process, DuckDB's
threads included) and the peak RSS of the process (ru_maxrss, MB): the median of N runs of each
version (default 3), old/new ratios, the load average; fails when any result differs.
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from evaluation_timing import CHILD, ROOT, extract, same  # noqa: E402  (the calls and the comparison)

# the notebook's calls, then the process's peak resident memory
CHILD_PEAK = CHILD.replace('pickle.dump({"found": found, "times": times}, open(out, "wb"))', '''import resource
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
pickle.dump({"found": found, "times": times, "peak_mb": peak_mb}, open(out, "wb"))''')
assert CHILD_PEAK != CHILD


def run(checkout: Path, data_dir: str, params: str, out: Path) -> dict:
    env = dict(os.environ)
    env.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")  # as segkit.report.runner starts kernels
    env.pop("PYTHONPATH", None)  # the child puts `checkout` first itself
    subprocess.run([sys.executable, "-c", CHILD_PEAK, str(checkout), data_dir, params, str(out)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    with open(out, "rb") as handle:
        return pickle.load(handle)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(ROOT / "bench/.data/reports/bench-10M/data"))
    parser.add_argument("--params", default=str(ROOT / "bench/.data/params-10M.yaml"))
    parser.add_argument("--old", default="a36453c", help="git ref of the old code (default: a36453c)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    runs = {"old": [], "new": []}
    loads = []
    with tempfile.TemporaryDirectory() as tmp:
        checkouts = {"old": extract(args.old, Path(tmp)), "new": ROOT}
        for i in range(args.repeats):
            for name in ("old", "new"):
                load = open("/proc/loadavg").read().split()[0]
                loads.append(float(load))
                result = run(checkouts[name], args.data, args.params, Path(tmp) / f"{name}{i}.pkl")
                runs[name].append(result)
                print(f"run {i + 1} {name} (load {load}): peak {result['peak_mb']:.0f} MB, " + ", ".join(
                    f"{k} {c:.2f}" for k, (c, _) in result["times"].items()) + " (cpu s)", flush=True)
    for i in range(args.repeats):
        same(runs["old"][i]["found"], runs["new"][i]["found"], f"run {i + 1}")
    print(f"old ({args.old}) and new give equal results in all {args.repeats} runs")
    print(f"{'call':28s} {'old cpu':>8s} {'new cpu':>8s} {'ratio':>6s} {'old wall':>9s} {'new wall':>9s} {'ratio':>6s}")
    totals = {"old": [0.0, 0.0], "new": [0.0, 0.0]}
    for key in runs["old"][0]["times"]:
        row = []
        for name in ("old", "new"):
            cpu = statistics.median(r["times"][key][0] for r in runs[name])
            wall = statistics.median(r["times"][key][1] for r in runs[name])
            totals[name][0] += cpu
            totals[name][1] += wall
            row.append((cpu, wall))
        ratio = [row[0][j] / row[1][j] if row[1][j] > 0 else float("nan") for j in (0, 1)]
        print(f"{key:28s} {row[0][0]:8.2f} {row[1][0]:8.2f} {ratio[0]:6.2f} "
              f"{row[0][1]:9.2f} {row[1][1]:9.2f} {ratio[1]:6.2f}")
    (old_cpu, old_wall), (new_cpu, new_wall) = totals["old"], totals["new"]
    print(f"{'sum of medians':28s} {old_cpu:8.2f} {new_cpu:8.2f} {old_cpu / new_cpu:6.2f} "
          f"{old_wall:9.2f} {new_wall:9.2f} {old_wall / new_wall:6.2f}")
    peaks = {name: statistics.median(r["peak_mb"] for r in runs[name]) for name in runs}
    print(f"peak RSS of the process, median: old {peaks['old']:.0f} MB, new {peaks['new']:.0f} MB")
    print(f"load average: {min(loads):.2f}-{max(loads):.2f} at the runs' starts; at the end",
          open("/proc/loadavg").read().strip())


if __name__ == "__main__":
    main()
