"""Times the customer-value and next-period stage functions on a run's stage files, the way
notebooks 03 and 05 call them, for two checkouts of segkit (old and new), alternating fresh
processes, and asserts that both give the same results.

    python bench/value_stages.py DATA_DIR PARAMS OLD_CHECKOUT NEW_CHECKOUT [REPEATS]

DATA_DIR: a copy of a run's data/ folder (repeat_summary, holdout_summary, features, clusters,
segments, clean_transactions, run.json). Prints CPU and wall seconds per stage function (median of
REPEATS, default 3) and the largest relative difference of the fitted parameters.
"""

import json
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r'''
import pickle, sys, time, warnings
sys.path.insert(0, sys.argv[1])
import segkit
import segkit.evaluate.stage as es
data_dir, params_path, out = sys.argv[2], sys.argv[3], sys.argv[4]
assert segkit.__file__.startswith(sys.argv[1]), segkit.__file__
p = segkit.load_params(params_path, [])
v = p.value
info = segkit.load_run_info(data_dir)
summary = segkit.load_stage(data_dir, "repeat_summary")
holdout = segkit.load_stage(data_dir, "holdout_summary", optional=True)
features = segkit.load_stage(data_dir, "features")
columns = info.get("cluster_features") or list(segkit.models.cluster.CLUSTER_FEATURES)
clusterer = es.refit_clusterer(features, columns, info["k"], p.cluster.random_state, p.cluster,
                               info.get("cluster_categorical") or ())
segment_map = segkit.load_segment_map(p.rfm.segment_map, custom=p.rfm.custom_maps)
class_map = segkit.load_segment_map(p.rfm.class_map, custom=p.rfm.custom_maps, basis=p.rfm.class_basis,
                                    thresholds=p.rfm.class_thresholds)
scorer = segkit.RFMScorer(p.rfm.bins, method=p.rfm.method, ties=p.rfm.ties, cuts=p.rfm.cuts,
                          percentiles=p.rfm.percentiles, max_tied_share=p.rfm.max_tied_share)
found, times = {}, {}

def timed(name, call):
    c0, w0 = time.process_time(), time.perf_counter()
    result = call()
    times[name] = (time.process_time() - c0, time.perf_counter() - w0)
    return result

stage = timed("value_stage", lambda: segkit.value_stage(summary, v.time_unit, v.horizon, v.horizon_unit, v.discount_rate,
                                                        v.alive_threshold, v.tier_quantiles))
found["value"] = stage.value
found["value_models"] = stage.run_info()
check, reason = timed("holdout_stage", lambda: segkit.holdout_stage(holdout, v.time_unit, p.lang))
found["holdout_check"], found["holdout_reason"] = check, reason
nxt, why = timed("next_period_stage", lambda: segkit.next_period_stage(
    (segkit.known_lines_table(data_dir) if hasattr(segkit, "known_lines_table")  # 05's rows; older: the clean rows
     else segkit.stage_table(data_dir, "clean_transactions", optional=True)), p.lang, info.get("calibration_end"),
    es.as_of_of(info), scorer, segment_map, class_map, clusterer, p.evaluate.top_share, p.evaluate.random_state))
found["next_reason"] = why
if nxt is not None:
    found["next"] = {"classes": nxt.classes, "high_value": nxt.high_value, "labels": nxt.labels,
                     "numbers": (nxt.customers, nxt.new_in_holdout, nxt.new_revenue, nxt.calibration_end, nxt.as_of),
                     "features": nxt.periods.features, "holdout": nxt.periods.holdout}
pickle.dump({"found": found, "times": times}, open(out, "wb"))
'''


def run(checkout, data_dir, params, out):
    subprocess.run([sys.executable, "-c", CHILD, checkout, data_dir, params, out], check=True)
    return pickle.load(open(out, "rb"))


def params_of(info):
    rows = {}
    for model in ("bgnbd", "pareto_nbd", "gamma_gamma"):
        if model in info:
            for key, value in info[model]["params"].items():
                rows[f"{model}.{key}"] = value
            rows[f"{model}.loglik"] = info[model]["loglik"]
    return rows


def compare(old, new):
    import numpy as np
    import pandas as pd

    a, b = old["found"], new["found"]
    pa, pb = params_of(a["value_models"]), params_of(b["value_models"])
    worst = {k: abs(pb[k] - pa[k]) / abs(pa[k]) for k in pa}
    for k in pa:
        print(f"  {k:22s} old {pa[k]!r:24s} new {pb[k]!r:24s} rel {worst[k]:.2e}")
    pd.testing.assert_frame_equal(a["value"], b["value"], check_exact=False, rtol=1e-6)
    pd.testing.assert_frame_equal(a["holdout_check"], b["holdout_check"], check_exact=False, rtol=1e-6)
    assert a["holdout_reason"] == b["holdout_reason"] and a["next_reason"] == b["next_reason"]
    if "next" in a:
        for key in ("classes", "high_value", "labels", "features", "holdout"):
            pd.testing.assert_frame_equal(a["next"][key], b["next"][key], check_exact=True)
        assert a["next"]["numbers"] == b["next"]["numbers"], (a["next"]["numbers"], b["next"]["numbers"])
    value_rel = (np.abs(b["value"]["clv"] - a["value"]["clv"]) / np.abs(a["value"]["clv"]).clip(1e-300)).max()
    print(f"  value table: equal to rtol 1e-6 (largest clv difference {value_rel:.2e} relative); "
          "next-period tables exactly equal")
    for column in ("predicted", "alternative"):
        if column in a["holdout_check"].columns:
            old_c, new_c = a["holdout_check"][column].to_numpy(), b["holdout_check"][column].to_numpy()
            print(f"  holdout check {column}: largest difference {np.max(np.abs(new_c - old_c) / np.abs(old_c)):.2e} relative")
    return worst


def main():
    data_dir, params, old, new = sys.argv[1:5]
    repeats = int(sys.argv[5]) if len(sys.argv) > 5 else 3
    import statistics

    runs = {"old": [], "new": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeats):
            for name, checkout in (("old", old), ("new", new)):
                runs[name].append(run(checkout, data_dir, params, str(Path(tmp) / f"{name}{i}.pkl")))
                load = open("/proc/loadavg").read().split()[0]
                print(f"run {i} {name}: " + ", ".join(f"{k} {c:.2f} s cpu / {w:.2f} s wall"
                                                      for k, (c, w) in runs[name][-1]["times"].items())
                      + f" (load {load})", flush=True)
    compare(runs["old"][0], runs["new"][0])
    for name in ("old", "new"):
        for key in runs[name][0]["times"]:
            cpu = statistics.median(r["times"][key][0] for r in runs[name])
            wall = statistics.median(r["times"][key][1] for r in runs[name])
            print(f"median {name} {key}: {cpu:.2f} s cpu, {wall:.2f} s wall")


if __name__ == "__main__":
    main()
