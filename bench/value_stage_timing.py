"""The heavy cells of notebooks/03_customer_value.ipynb (the value stage and its saves, the value
intervals per segment, the activity and monthly KPIs, the two cohort heatmaps, the month-start
classes and the retention by segment with its two heatmaps), as segkit did them at an older git ref
against this checkout: each run in a fresh process, old and new alternating, on fresh copies of the
same stage files, with the results compared.

    python bench/value_stage_timing.py [--data DIR] [--params YAML] [--old-ref a36453c] [--repeats 3]

DIR is a run's data folder (default: the 10M-line run of `bench/bench_report.py --sizes 10M`,
1,000,000 customers); its profile, repeat_summary, activity, month_start_features and run.json are
copied to a temporary folder before each run, which the run reads and writes (so the month-start
classes and the monthly KPIs are computed, as in a report's first pass, not loaded). The old code is
`git archive OLD_REF segkit` extracted to a temporary folder put first on PYTHONPATH; each side loads
the activity as its own notebook does (this checkout's reads its months as a Categorical). Charts
are drawn to PNG in memory, as the notebook's inline backend does.

Figures: CPU seconds (time.process_time) and wall seconds per part, median of REPEATS, the peak RSS
of the run's process (VmHWM), and the load average before and after. Asserted: the saved value,
profile, monthly_kpis and month_start_classes files read back equal (column for column, dtype for
dtype, row for row), and so do the retention rates and cohort tables; the fitted models' parameters
within a relative 1e-6 (Pareto/NBD's fit takes another path to the same maximum: its optimiser stops
at 1e-4 standard errors), their standard errors within 1e-5, log-likelihoods within 1e-9; the value
intervals within a relative 1e-9 (their gradient is the quadrature's derivative, not central
differences).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INPUTS = ("profile", "repeat_summary", "activity", "month_start_features")
PARTS = ("value_stage", "intervals", "activity_kpis", "cohorts", "month_classes", "retention")


def child(params_path: str, data_dir: str, categories: str) -> None:
    """One run of the cells with whichever segkit is first on the path; timings as JSON on stdout."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    import segkit
    from segkit.report import plots

    p = segkit.load_params(params_path, [])
    lang = p.lang
    cpu, wall = {}, {}

    def clock(part, start):
        cpu[part] = time.process_time() - start[0]
        wall[part] = time.perf_counter() - start[1]
        return time.process_time(), time.perf_counter()

    def draw(figure):
        if figure is not None:
            figure.savefig(io.BytesIO(), format="png")
        plt.close("all")

    start = time.process_time(), time.perf_counter()
    profile = segkit.load_stage(data_dir, "profile")
    summary = segkit.load_stage(data_dir, "repeat_summary")
    grid = segkit.load_segment_map(p.rfm.segment_map, custom=p.rfm.custom_maps)
    classes = segkit.load_segment_map(p.rfm.class_map, custom=p.rfm.custom_maps)
    v = p.value
    stage = segkit.value_stage(summary, v.time_unit, v.horizon, v.horizon_unit, v.discount_rate, v.alive_threshold,
                               v.tier_quantiles)
    segkit.save_stage(data_dir, value=stage.value, profile=segkit.with_value(profile, stage.value))
    segkit.save_run_info(data_dir, value_models=stage.run_info())
    start = clock("value_stage", start)
    intervals = stage.intervals(summary, profile, "segment")
    start = clock("intervals", start)
    activity = segkit.load_stage(data_dir, "activity", **({"categories": ["month"]} if categories == "yes" else {}))
    kpis = segkit.monthly_kpis_stage(data_dir)
    start = clock("activity_kpis", start)
    cohorts = segkit.cohort_table(activity)
    draw(plots.cohort_heatmap(cohorts, lang))
    cohort_revenue = segkit.cohort_table(activity, "revenue")
    draw(plots.cohort_heatmap(cohort_revenue, lang, measure="revenue"))
    start = clock("cohorts", start)
    month_classes = segkit.month_start_classes_stage(data_dir, p.rfm, grid, classes)
    start = clock("month_classes", start)
    rates = segkit.retention_by_segment(activity, month_classes)
    draw(plots.retention_heatmap(rates, grid, lang))
    draw(plots.retention_heatmap(rates, grid, lang, "repurchase_rate"))
    clock("retention", start)
    peak = peak_rss_mb()
    pd.to_pickle({"intervals": intervals, "cohorts": cohorts, "cohort_revenue": cohort_revenue, "rates": rates,
                  "kpis": kpis}, Path(data_dir) / "frames.pkl")
    print(json.dumps({"segkit": segkit.__file__, "cpu": cpu, "wall": wall, "peak_mb": peak}))


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB: VmHWM of /proc/self/status where there is one (Linux
    keeps ru_maxrss across exec, so a child started by a large parent would report the parent's)."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def extract(ref: str, folder: Path) -> Path:
    """`git archive ref segkit` unpacked into folder; the folder to put on PYTHONPATH."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "segkit"], check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def run(version_path: Path, params: str, source: Path, out: Path, categories: bool) -> dict:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name in INPUTS:
        shutil.copy(source / f"{name}.parquet", out)
    shutil.copy(source / "run.json", out)
    env = {**os.environ, "PYTHONPATH": str(version_path)}
    done = subprocess.run([sys.executable, __file__, "--child", params, str(out), "yes" if categories else "no"],
                          env=env, check=True, capture_output=True, text=True, cwd=str(out))
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if not Path(result["segkit"]).resolve().is_relative_to(version_path.resolve()):
        raise SystemExit(f"the run imported {result['segkit']}, not segkit from {version_path}")
    return result


def close(a, b, rtol: float, what: str) -> None:
    if not abs(a - b) <= rtol * max(abs(a), abs(b)):
        raise AssertionError(f"{what}: {a!r} and {b!r} differ by more than {rtol:g} (relative)")


def assert_same(old: Path, new: Path) -> None:
    import numpy as np
    import pandas as pd

    for name in ("value", "profile", "monthly_kpis", "month_start_classes"):
        a, b = pd.read_parquet(old / f"{name}.parquet"), pd.read_parquet(new / f"{name}.parquet")
        a.attrs, b.attrs = {}, {}  # the fingerprints name each side's segkit files
        pd.testing.assert_frame_equal(a, b, check_exact=True, check_column_type=True, check_index_type=True, obj=name)
    a, b = pd.read_pickle(old / "frames.pkl"), pd.read_pickle(new / "frames.pkl")
    for name in ("cohorts", "cohort_revenue", "rates", "kpis"):
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, check_column_type=True,
                                      check_index_type=True, obj=name)
    pd.testing.assert_frame_equal(a["intervals"], b["intervals"], check_exact=False, rtol=1e-9, atol=0,
                                  obj="intervals")
    models_a = json.loads((old / "run.json").read_text())["value_models"]
    models_b = json.loads((new / "run.json").read_text())["value_models"]
    assert models_a["better_fit"] == models_b["better_fit"] and models_a["warnings"] == models_b["warnings"]
    for model in ("bgnbd", "pareto_nbd", "gamma_gamma"):
        for key in models_a[model]["params"]:
            close(models_a[model]["params"][key], models_b[model]["params"][key], 1e-6, f"{model} {key}")
            close(models_a[model]["se"][key], models_b[model]["se"][key], 1e-5, f"{model} se {key}")
        close(models_a[model]["loglik"], models_b[model]["loglik"], 1e-9, f"{model} loglik")
    assert np.isclose(models_a["gamma_gamma"]["frequency_spend_correlation"],
                      models_b["gamma_gamma"]["frequency_spend_correlation"], rtol=0, atol=0)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:5])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT / "bench/.data/reports/bench-10M/data"),
                        help="a run's data folder (read only: its stage files are copied)")
    parser.add_argument("--params", default=str(ROOT / "bench/.data/params-10M.yaml"), help="the run's params file")
    parser.add_argument("--old-ref", default="a36453c", help="the git ref of the old segkit (default: a36453c)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each side, alternating (default 3)")
    args = parser.parse_args()
    source = Path(args.data)
    with tempfile.TemporaryDirectory(prefix="value_stage_timing-") as folder:
        folder = Path(folder)
        versions = {"old": extract(args.old_ref, folder / "old"), "new": ROOT}
        print(f"old: {args.old_ref} ({versions['old']}); new: {ROOT}; data: {args.data}")
        print(f"load average before: {os.getloadavg()}")
        results = {"old": [], "new": []}
        for repeat in range(args.repeats):
            for name, path in versions.items():
                results[name].append(run(path, args.params, source, folder / f"out-{name}", name == "new"))
            assert_same(folder / "out-old", folder / "out-new")
            print(f"repeat {repeat + 1}: outputs equal; CPU old {sum(results['old'][-1]['cpu'].values()):.2f} s, "
                  f"new {sum(results['new'][-1]['cpu'].values()):.2f} s; peak old "
                  f"{results['old'][-1]['peak_mb']:.0f} MB, new {results['new'][-1]['peak_mb']:.0f} MB; "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
        print(f"load average after: {os.getloadavg()}")
        print(f"{'part':<16}{'old CPU':>9}{'new CPU':>9}{'ratio':>7}{'old wall':>10}{'new wall':>10}{'ratio':>7}")
        for part in (*PARTS, "total"):
            figures = {}
            for name in results:
                for kind in ("cpu", "wall"):
                    values = [sum(r[kind].values()) if part == "total" else r[kind][part] for r in results[name]]
                    figures[name, kind] = statistics.median(values)
            print(f"{part:<16}{figures['old', 'cpu']:>9.2f}{figures['new', 'cpu']:>9.2f}"
                  f"{figures['old', 'cpu'] / max(figures['new', 'cpu'], 1e-9):>7.2f}"
                  f"{figures['old', 'wall']:>10.2f}{figures['new', 'wall']:>10.2f}"
                  f"{figures['old', 'wall'] / max(figures['new', 'wall'], 1e-9):>7.2f}")
        peaks = {name: statistics.median(r["peak_mb"] for r in results[name]) for name in results}
        print(f"peak RSS of the run (median): old {peaks['old']:.0f} MB, new {peaks['new']:.0f} MB")


if __name__ == "__main__":
    main()
