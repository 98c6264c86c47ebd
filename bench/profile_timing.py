"""The main cell of notebooks/02_rfm.ipynb (RFM scores, segments, `customer_profile`,
`add_tags_and_rank`, `save_stage(segments=, profile=)`) and its ranking-table cell, as segkit did them
at an older git ref against this checkout: each in a fresh process, alternating, on the same stage
files, with equal results asserted.

    python bench/profile_timing.py [--data DIR] [--params YAML] [--old-ref a7aed38] [--repeats 3]

DIR is a run's data folder (default: the 10M-line run of `bench/bench_report.py --sizes 10M`,
1,000,000 customers); its features (and customers and surveys, when present) are copied to a
temporary folder, which the runs read and write. The old code is `git archive OLD_REF segkit`
extracted to a temporary folder put first on PYTHONPATH. Figures: CPU seconds (time.process_time)
and wall seconds per part, median of REPEATS, with the load average before and after. Asserted: the
saved segments and profile files read back equal, column for column, dtype for dtype, row for row,
the in-memory frames equal the same way, and so does the ranking table the notebook shows.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("scores_segments", "customer_profile", "add_tags_and_rank", "save_stage", "ranking_table")


def child(params_path: str, data_dir: str, out_dir: str) -> None:
    """One run of the two cells with whichever segkit is first on the path; timings as JSON on stdout."""
    import pandas as pd

    import segkit

    p = segkit.load_params(params_path, [])
    features = segkit.load_stage(data_dir, "features")
    customers = segkit.load_stage(data_dir, "customers", optional=True)
    surveys = segkit.load_stage(data_dir, "surveys", optional=True)
    cpu, wall = {}, {}

    def clock(part, start):
        cpu[part] = time.process_time() - start[0]
        wall[part] = time.perf_counter() - start[1]
        return time.process_time(), time.perf_counter()

    start = time.process_time(), time.perf_counter()
    scorer = segkit.RFMScorer(p.rfm.bins, method=p.rfm.method, ties=p.rfm.ties, cuts=p.rfm.cuts,
                              percentiles=p.rfm.percentiles, max_tied_share=p.rfm.max_tied_share).fit(features)
    grid = segkit.classify.rfm.grid_for(p.rfm.segment_map, scorer.unusable_, custom=p.rfm.custom_maps)
    classes = segkit.load_segment_map(p.rfm.class_map, custom=p.rfm.custom_maps, basis=p.rfm.class_basis,
                                      thresholds=p.rfm.class_thresholds)
    segments, _ = segkit.segment_customers(features, scorer, grid, classes)
    tag_rules = segkit.compile_tags(p.tags, {**segkit.PROFILE_COLUMNS, **p.source.extra_columns})
    start = clock("scores_segments", start)
    profile = segkit.customer_profile(features, segments, customers, surveys,
                                      frequency_tier=p.tiers.frequency.model_dump(),
                                      monetary_tier=p.tiers.monetary.model_dump(), abc=p.tiers.abc,
                                      very_satisfied=p.satisfaction.very_satisfied, satisfied=p.satisfaction.satisfied)
    start = clock("customer_profile", start)
    profile = segkit.add_tags_and_rank(profile, tag_rules, p.ranking.weights)
    start = clock("add_tags_and_rank", start)
    segkit.save_stage(out_dir, segments=segments, profile=profile)
    start = clock("save_stage", start)
    table = segkit.report.tables.ranking_table(profile.sort_values(["rank", "customer_id"], kind="stable"), profile,
                                               grid, p.lang, top_n=p.ranking.top_n, weights=p.ranking.weights)
    clock("ranking_table", start)
    pd.to_pickle({"segments": segments, "profile": profile, "ranking_table": table}, Path(out_dir) / "frames.pkl")
    print(json.dumps({"segkit": segkit.__file__, "cpu": cpu, "wall": wall}))


def extract(ref: str, folder: Path) -> Path:
    """`git archive ref segkit` unpacked into folder; the folder to put on PYTHONPATH."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "segkit"], check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def run(version_path: Path, params: str, data: Path, out: Path) -> dict:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": str(version_path)}
    done = subprocess.run([sys.executable, __file__, "--child", params, str(data), str(out)], env=env, check=True,
                          capture_output=True, text=True, cwd=str(out))
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if not Path(result["segkit"]).resolve().is_relative_to(version_path.resolve()):
        raise SystemExit(f"the run imported {result['segkit']}, not segkit from {version_path}")
    return result


def assert_same(old: Path, new: Path) -> None:
    import pandas as pd

    for name in ("segments", "profile"):
        a, b = pd.read_parquet(old / f"{name}.parquet"), pd.read_parquet(new / f"{name}.parquet")
        pd.testing.assert_frame_equal(a, b, check_exact=True, check_column_type=True, check_index_type=True)
    a, b = pd.read_pickle(old / "frames.pkl"), pd.read_pickle(new / "frames.pkl")
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, check_column_type=True,
                                      check_index_type=True, obj=name)
        assert list(a[name].dtypes.astype(str)) == list(b[name].dtypes.astype(str)), name


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:5])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT / "bench/.data/reports/bench-10M/data"))
    parser.add_argument("--params", default=str(ROOT / "bench/.data/params-10M.yaml"))
    parser.add_argument("--old-ref", default="a7aed38")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="profile_timing-") as folder:
        folder = Path(folder)
        data = folder / "data"
        data.mkdir()
        for name in ("features", "customers", "surveys"):
            if (Path(args.data) / f"{name}.parquet").is_file():
                shutil.copy(Path(args.data) / f"{name}.parquet", data)
        versions = {"old": extract(args.old_ref, folder / "old"), "new": ROOT}
        print(f"old: {args.old_ref} ({versions['old']}); new: {ROOT}; data: {args.data}")
        print(f"load average before: {os.getloadavg()}")
        results = {"old": [], "new": []}
        for repeat in range(args.repeats):
            for name, path in versions.items():
                results[name].append(run(path, args.params, data, folder / f"out-{name}"))
            assert_same(folder / "out-old", folder / "out-new")
            print(f"repeat {repeat + 1}: outputs equal; cell CPU old {sum(results['old'][-1]['cpu'].values()):.2f} s, "
                  f"new {sum(results['new'][-1]['cpu'].values()):.2f} s", flush=True)
        print(f"load average after: {os.getloadavg()}")
        print(f"{'part':<20}{'old CPU':>9}{'new CPU':>9}{'ratio':>7}{'old wall':>10}{'new wall':>10}")
        for part in (*PARTS, "total"):
            figures = {}
            for name in results:
                for kind in ("cpu", "wall"):
                    values = [sum(r[kind].values()) if part == "total" else r[kind][part] for r in results[name]]
                    figures[name, kind] = statistics.median(values)
            print(f"{part:<20}{figures['old', 'cpu']:>9.2f}{figures['new', 'cpu']:>9.2f}"
                  f"{figures['old', 'cpu'] / max(figures['new', 'cpu'], 1e-9):>7.1f}"
                  f"{figures['old', 'wall']:>10.2f}{figures['new', 'wall']:>10.2f}")


if __name__ == "__main__":
    main()
