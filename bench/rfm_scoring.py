"""RFM scoring at a million customers: `segkit.classify.rfm` of this checkout against the module as it
was at an older commit, in one process, alternating, CPU seconds (time.process_time), median of
REPEATS; every result is asserted equal (frames with their dtypes, and the fitted scorer).

    python bench/rfm_scoring.py [--data DIR] [--params YAML] [--old REV] [--repeats 3] [--cases 02,03,grid]

Cases, on the stage files of a run's data/ folder (default: the 10M-line run of
`bench/bench_report.py --sizes 10M`, bench/.data/reports/bench-10M/data, 1M customers):
- 02: notebook 02's scoring on `features` (1M customers): `RFMScorer(...).fit`, `transform`, and
  `segment_customers(features, scorer, grid, classes)` (which transforms again), as the notebook
  calls them (05's scorer cell runs the same calls on the calibration customers);
- 03: notebook 03's month-start classes (`segkit.monthly.activity.classify_month_groups`): per month
  of `month_start_features` (12 months x ~0.8M customers) a scorer fitted on that month, then
  `segment_customers`; each month is read once and scored by both modules;
- grid: `assign_grid_segments` on the r/f/m scores of the run's `segments` stage (the tuning page).

The old module is `segkit/classify/rfm.py` at `--old` (default 80fcc23, the last commit before the
fast path), read with `git show` and loaded beside the new one; maps are loaded by each module.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OLD_DEFAULT = "80fcc23"


def load_old(rev: str, folder: Path):
    """The module segkit/classify/rfm.py as it was at `rev`, imported as `rfm_old`."""
    source = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:segkit/classify/rfm.py"], check=True,
                            capture_output=True, text=True).stdout
    path = folder / "rfm_old.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("rfm_old", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["rfm_old"] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def score(module, features: pd.DataFrame, rfm) -> tuple[dict[str, float], pd.DataFrame, pd.DataFrame, object]:
    """CPU seconds of fit, transform and segment_customers with one module, and their results."""
    seconds = {}
    start = time.process_time()
    scorer = module.RFMScorer(rfm.bins, method=rfm.method, ties=rfm.ties, cuts=rfm.cuts, percentiles=rfm.percentiles,
                              max_tied_share=rfm.max_tied_share).fit(features)
    seconds["fit"] = time.process_time() - start
    start = time.process_time()
    scores = scorer.transform(features)
    seconds["transform"] = time.process_time() - start
    grid = module.grid_for(rfm.segment_map, scorer.unusable_, custom=rfm.custom_maps)
    classes = module.load_segment_map(rfm.class_map, custom=rfm.custom_maps, basis=rfm.class_basis,
                                      thresholds=rfm.class_thresholds)
    start = time.process_time()
    segments = module.segment_customers(features, scorer, grid, classes)[0]
    seconds["segment_customers"] = time.process_time() - start
    return seconds, scores, segments, scorer


def assert_same(old: tuple, new: tuple, where: str) -> None:
    """The two modules' transform and segment_customers frames and fitted scorers are equal."""
    _, old_scores, old_segments, old_scorer = old
    _, new_scores, new_segments, new_scorer = new
    pd.testing.assert_frame_equal(new_scores, old_scores, check_exact=True, obj=f"{where} transform")
    pd.testing.assert_frame_equal(new_segments, old_segments, check_exact=True, obj=f"{where} segment_customers")
    for name in ("max_score_", "n_bins_", "tied_share_", "unusable_"):
        assert getattr(new_scorer, name) == getattr(old_scorer, name), (where, name)
    for dim, cuts in old_scorer.cuts_.items():
        np.testing.assert_array_equal(new_scorer.cuts_[dim], cuts, err_msg=f"{where} cuts_[{dim}]")


def months(path: Path, columns: list[str]):
    """(month, that month's rows), oldest first, read one month at a time as notebook 03 reads them."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    for month in sorted(pc.unique(pq.read_table(path, columns=["month"]).column("month")).drop_null().to_pylist()):
        yield month, pd.read_parquet(path, columns=columns, filters=[("month", "==", month)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=REPO / "bench/.data/reports/bench-10M/data", type=Path,
                        help="a run's data/ folder (default: bench_report.py --sizes 10M's run)")
    parser.add_argument("--params", default=str(REPO / "bench/.data/params-10M.yaml"))
    parser.add_argument("--old", default=OLD_DEFAULT, help="git revision of the old module")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cases", default="02,03,grid")
    args = parser.parse_args()

    import tempfile

    import segkit
    from segkit.classify import rfm as new

    old = load_old(args.old, Path(tempfile.mkdtemp(prefix="rfm-bench-")))
    rfm = segkit.load_params(args.params, []).rfm
    cases = args.cases.split(",")
    totals = {}  # (case, module, step) -> CPU seconds per repeat

    def add(case: str, name: str, seconds: dict[str, float], repeat: int) -> None:
        for step, value in {**seconds, "total": sum(seconds.values())}.items():
            totals.setdefault((case, name, step), [0.0] * args.repeats)[repeat] += value

    if "02" in cases:
        features = pd.read_parquet(args.data / "features.parquet")
        for repeat in range(args.repeats):
            order = (old, new) if repeat % 2 == 0 else (new, old)
            results = {module: score(module, features, rfm) for module in order}
            assert_same(results[old], results[new], "02")
            for module in order:
                add(f"02 ({len(features):,} customers)", "old" if module is old else "new", results[module][0], repeat)
        del features, results
    if "03" in cases:
        columns = ["month", "customer_id", "recency_days", "orders", "revenue"]
        rows = 0
        for n, (month, features) in enumerate(months(args.data / "month_start_features.parquet", columns)):
            rows += len(features)
            for repeat in range(args.repeats):
                order = (old, new) if (repeat + n) % 2 == 0 else (new, old)
                results = {module: score(module, features, rfm) for module in order}
                assert_same(results[old], results[new], f"03 {month}")
                for module in order:
                    add("03", "old" if module is old else "new", results[module][0], repeat)
        totals = {(c if c != "03" else f"03 ({n + 1} months, {rows:,} rows)", m, s): v for (c, m, s), v in totals.items()}
    if "grid" in cases:
        scores = pd.read_parquet(args.data / "segments.parquet", columns=["r_score", "f_score", "m_score"])
        for repeat in range(args.repeats):
            found = {}
            for module in ((old, new) if repeat % 2 == 0 else (new, old)):
                grid = module.load_segment_map(rfm.segment_map, custom=rfm.custom_maps)
                start = time.process_time()
                found[module] = module.assign_grid_segments(scores, grid, rfm.bins)
                add("grid (assign_grid_segments)", "old" if module is old else "new",
                    {"assign": time.process_time() - start}, repeat)
            pd.testing.assert_series_equal(found[new], found[old], check_exact=True)

    with open("/proc/loadavg") as handle:
        load = " ".join(handle.read().split()[:3])
    print(f"CPU seconds, median of {args.repeats} (load average at the end: {load}); outputs asserted equal")
    print("| case | step | old | new | old/new |")
    print("|---|---|---:|---:|---:|")
    for (case, name, step), values in totals.items():
        if name != "old":
            continue
        before, after = statistics.median(values), statistics.median(totals[(case, "new", step)])
        print(f"| {case} | {step} | {before:.3f} | {after:.3f} | {before / after if after else float('inf'):.1f}x |")


if __name__ == "__main__":
    main()
