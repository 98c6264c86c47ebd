"""Times notebook 05_evaluation's calls on a run's stage files for two versions of segkit (old: a
git ref extracted to a folder; new: this checkout), each in a fresh process, alternating, and
asserts that both give the same results: every table and figure input the notebook shows.

    python bench/evaluation_timing.py [--data DATA_DIR] [--params PARAMS] [--old REF] [--repeats N]

DATA_DIR: a copy of a run's data/ folder (default: the project's own 10M run,
bench/.data/reports/bench-10M/data, with bench/.data/params-10M.yaml). REF: the old code (default:
a7aed38, the last commit before the fast paths). Prints CPU and wall seconds per notebook
call (CPU: time.process_time of the process, DuckDB's threads included), the median of N runs of
each version (default 3), with the load average, and fails when any result differs.
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# One process per run: the notebook's cells in order (notebooks/05_evaluation.ipynb), each call timed.
CHILD = r'''
import pickle, sys, time, warnings
sys.path.insert(0, sys.argv[1])
times = {}
c0, w0 = time.process_time(), time.perf_counter()
import segkit
from segkit.report import evaluation_tables as ev
times["import"] = (time.process_time() - c0, time.perf_counter() - w0)
assert segkit.__file__.startswith(sys.argv[1]), segkit.__file__
data_dir, params_path, out = sys.argv[2], sys.argv[3], sys.argv[4]
warnings.simplefilter("ignore")
es = segkit.evaluate.stage
found = {}


def timed(name, call):
    c0, w0 = time.process_time(), time.perf_counter()
    result = call()
    times[name] = (time.process_time() - c0, time.perf_counter() - w0)
    return result


p = segkit.load_params(params_path, [])
lang = p.lang


def load():
    features = segkit.load_stage(data_dir, "features")
    segments = segkit.load_stage(data_dir, "segments")
    info = segkit.load_run_info(data_dir)
    clusters = segkit.load_stage(data_dir, "clusters", optional=bool(info.get("cluster_skipped")))
    return features, segments, info, clusters


features, segments, info, clusters = timed("load_stages", load)
columns = info.get("cluster_features") or list(segkit.models.cluster.CLUSTER_FEATURES)
names = dict(clusters[["cluster", "cluster_name"]].drop_duplicates().itertuples(index=False)) if clusters is not None else {}
segment_map = segkit.load_segment_map(p.rfm.segment_map, custom=p.rfm.custom_maps)
class_map = segkit.load_segment_map(p.rfm.class_map, custom=p.rfm.custom_maps, basis=p.rfm.class_basis,
                                    thresholds=p.rfm.class_thresholds)
labels = ev.class_labels(lang, segkit.map_for_codes(p.rfm.segment_map, segments["segment"], custom=p.rfm.custom_maps),
                         class_map, names)
quality = timed("compare_quality", lambda: segkit.compare_quality(
    segkit.scaled_rfm(features, columns), segkit.labelings(features, segments, clusters, lang),
    sample_size=p.evaluate.quality_sample, random_state=p.evaluate.random_state))
found["quality"] = quality
found["quality_table"] = ev.quality_table(quality)
clusterer = timed("refit_clusterer", lambda: es.refit_clusterer(
    features, columns, info["k"], p.cluster.random_state, p.cluster, info.get("cluster_categorical") or ())
    if clusters is not None else None)
stability, why = timed("stability_stage", lambda: es.stability_stage(
    clusterer, features, es.aligned(features, clusters, "cluster").to_numpy() if clusterer else None,
    runs=p.evaluate.stability_runs, scheme=p.evaluate.stability_scheme, share=p.evaluate.stability_share,
    sample_size=p.evaluate.stability_sample, bands=p.evaluate.stability_bands, random_state=p.evaluate.random_state))
found["stability"] = (stability, why)
if stability:
    found["stability_table"] = ev.stability_table(stability, lang, names)
tree_options = dict(max_depth=p.evaluate.tree_depth, test_size=p.evaluate.test_size,
                    random_state=p.evaluate.random_state, sample_size=p.evaluate.tree_sample)
if clusters is not None:
    found["cluster_rules"] = timed("explain_clusters", lambda: segkit.explain_with_tree(
        features, clusters["cluster_name"], columns=columns, **tree_options))
found["segment_rules"] = timed("explain_segments", lambda: segkit.explain_with_tree(
    features, es.aligned(features, segments, "segment").to_numpy(), columns=es.readable_columns(features, columns),
    **tree_options))
if clusters is not None:
    found["crosstab"] = timed("crosstab_clusters_segments", lambda: segkit.report.tables.crosstab_clusters_segments(
        clusters, segments, segment_map, lang))
matrix, why = timed("matrix_stage", lambda: segkit.matrix_stage(
    segkit.load_stage(data_dir, "profile"), lang, p.evaluate.matrix_value, p.evaluate.matrix_potential,
    p.evaluate.matrix_cut, p.evaluate.matrix_thresholds.model_dump() if p.evaluate.matrix_thresholds else None,
    segkit.load_stage(data_dir, "activity", optional=True), es.as_of_of(info), p.evaluate.matrix_growth_months))
found["matrix"] = (matrix, why)
if matrix:
    found["matrix_table"] = ev.matrix_table(matrix, lang, p.currency)
scorer = segkit.RFMScorer(p.rfm.bins, method=p.rfm.method, ties=p.rfm.ties, cuts=p.rfm.cuts,
                          percentiles=p.rfm.percentiles, max_tied_share=p.rfm.max_tied_share)
check, why = timed("next_period_stage", lambda: segkit.next_period_stage(
    (segkit.known_lines_table(data_dir) if hasattr(segkit, "known_lines_table")  # 05's rows; older: the clean rows
     else segkit.stage_table(data_dir, "clean_transactions", optional=True)), lang, info.get("calibration_end"),
    es.as_of_of(info), scorer, segment_map, class_map, clusterer, p.evaluate.top_share, p.evaluate.random_state))
found["next_reason"] = why
if check is not None:
    found["next"] = {"classes": check.classes, "high_value": check.high_value, "labels": check.labels,
                     "numbers": (check.customers, check.new_in_holdout, check.new_revenue, check.calibration_end,
                                 check.as_of, check.top_share),
                     "features": check.periods.features, "holdout": check.periods.holdout,
                     "period_numbers": (check.periods.new_in_holdout, check.periods.new_revenue,
                                        check.periods.calibration_end, check.periods.as_of),
                     "next_period_table": ev.next_period_table(check, labels, p.currency),
                     "high_value_table": ev.high_value_table(check, labels),
                     "lift_labels": ev.lift_labels(labels, check)}
held, why = timed("holdout_stage", lambda: segkit.holdout_stage(
    segkit.load_stage(data_dir, "holdout_summary", optional=True), p.value.time_unit, lang,
    transactions=p.source.kind != "customers"))
found["holdout"] = (held, why)
comparison = timed("compare_settings", lambda: segkit.compare_settings(
    features, [s.as_dict() for s in p.evaluate.compare], columns=columns, segment_map=segment_map,
    class_map=class_map, periods=check.periods if check else None, top_share=p.evaluate.top_share,
    criterion=p.evaluate.compare_by, stability_runs=p.evaluate.compare_stability_runs,
    stability_sample=p.evaluate.stability_sample, tree_depth=p.evaluate.tree_depth, test_size=p.evaluate.test_size,
    sample_size=p.evaluate.quality_sample, max_customers=p.evaluate.compare_max_customers,
    random_state=p.evaluate.random_state))
found["comparison"] = (comparison, dict(comparison.attrs))
found["compare_table"] = ev.compare_table(comparison, lang)
pickle.dump({"found": found, "times": times}, open(out, "wb"))
'''


def same(a, b, where="result") -> None:
    """Assert that two results of the notebook's calls are equal: frames exactly (values, dtypes,
    index, column names), dataclasses field by field, containers item by item."""
    import dataclasses

    import numpy as np
    import pandas as pd

    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=where)
    elif isinstance(a, pd.Series):
        pd.testing.assert_series_equal(a, b, check_exact=True, obj=where)
    elif dataclasses.is_dataclass(a) and not isinstance(a, type):
        assert type(a).__name__ == type(b).__name__, where
        for field in dataclasses.fields(a):
            same(getattr(a, field.name), getattr(b, field.name), f"{where}.{field.name}")
    elif isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} != {list(b)}"
        for key in a:
            same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{where}: {len(a)} != {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{where}[{i}]")
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, float) and np.isnan(a):
        assert isinstance(b, float) and np.isnan(b), f"{where}: {a!r} != {b!r}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def extract(ref: str, folder: Path) -> Path:
    """The segkit package of git `ref` in `folder` (a checkout put first on sys.path)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "segkit"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def run(checkout: Path, data_dir: str, params: str, out: Path) -> dict:
    # the child's output is the engine's progress bars: left out
    subprocess.run([sys.executable, "-c", CHILD, str(checkout), data_dir, params, str(out)], check=True,
                   stdout=subprocess.DEVNULL)
    with open(out, "rb") as handle:
        return pickle.load(handle)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(ROOT / "bench/.data/reports/bench-10M/data"))
    parser.add_argument("--params", default=str(ROOT / "bench/.data/params-10M.yaml"))
    parser.add_argument("--old", default="a7aed38", help="git ref of the old code (default: a7aed38, before the fast paths)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    old_ref = args.old
    runs = {"old": [], "new": []}
    with tempfile.TemporaryDirectory() as tmp:
        checkouts = {"old": extract(old_ref, Path(tmp)), "new": ROOT}
        for i in range(args.repeats):
            for name in ("old", "new"):
                load = open("/proc/loadavg").read().split()[0]
                runs[name].append(run(checkouts[name], args.data, args.params, Path(tmp) / f"{name}{i}.pkl"))
                print(f"run {i + 1} {name} (load {load}): " + ", ".join(
                    f"{k} {c:.2f}" for k, (c, _) in runs[name][-1]["times"].items()) + " (cpu s)", flush=True)
    for i in range(args.repeats):
        same(runs["old"][i]["found"], runs["new"][i]["found"], f"run {i + 1}")
    print(f"old ({old_ref[:10]}) and new give equal results in all {args.repeats} runs")
    print(f"{'call':28s} {'old cpu':>8s} {'new cpu':>8s} {'old wall':>9s} {'new wall':>9s}")
    totals = {"old": [0.0, 0.0], "new": [0.0, 0.0]}
    for key in runs["old"][0]["times"]:
        row = []
        for name in ("old", "new"):
            cpu = statistics.median(r["times"][key][0] for r in runs[name])
            wall = statistics.median(r["times"][key][1] for r in runs[name])
            totals[name][0] += cpu
            totals[name][1] += wall
            row.append((cpu, wall))
        print(f"{key:28s} {row[0][0]:8.2f} {row[1][0]:8.2f} {row[0][1]:9.2f} {row[1][1]:9.2f}")
    print(f"{'sum of medians':28s} {totals['old'][0]:8.2f} {totals['new'][0]:8.2f} "
          f"{totals['old'][1]:9.2f} {totals['new'][1]:9.2f}")
    print("load average at the end:", open("/proc/loadavg").read().strip())


if __name__ == "__main__":
    main()
