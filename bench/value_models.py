"""Times the customer-value models the way notebooks 03 and 05 call them (value_stage, with_value,
the intervals per segment, holdout_stage) for two checkouts of segkit, old and new, in alternating
fresh processes, and asserts that both give the same numbers.

    python bench/value_models.py DATA_DIR PARAMS OLD_CHECKOUT NEW_CHECKOUT [REPEATS]

DATA_DIR: a copy of a run's data/ folder with repeat_summary, holdout_summary and profile
(e.g. the 10M-line run: 1,000,000 customers). OLD_CHECKOUT / NEW_CHECKOUT: folders holding a
`segkit` package (e.g. `git archive <commit> segkit | tar -x -C /tmp/old`). Prints CPU seconds
(time.process_time, median of REPEATS, default 3) and wall seconds per call, the load average, and
the largest differences between old and new in the fitted parameters (relative, and in standard
errors), the log-likelihoods, P(alive), expected purchases, expected spend, CLV, the intervals and
the holdout check. Exits with an error when a difference exceeds the optimiser's tolerance.
"""

import os
import pickle
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r'''
import pickle, sys, time
sys.path.insert(0, sys.argv[1])
import segkit
assert segkit.__file__.startswith(sys.argv[1]), segkit.__file__
data_dir, params_path, out = sys.argv[2], sys.argv[3], sys.argv[4]
p = segkit.load_params(params_path, [])
v = p.value
summary = segkit.load_stage(data_dir, "repeat_summary")
profile = segkit.load_stage(data_dir, "profile")
holdout = segkit.load_stage(data_dir, "holdout_summary", optional=True)
times = {}

def timed(name, call):
    c0, w0 = time.process_time(), time.perf_counter()
    result = call()
    times[name] = (time.process_time() - c0, time.perf_counter() - w0)
    return result

stage = timed("value_stage", lambda: segkit.value_stage(summary, v.time_unit, v.horizon, v.horizon_unit,
                                                        v.discount_rate, v.alive_threshold, v.tier_quantiles))
joined = timed("with_value", lambda: segkit.with_value(profile, stage.value))
intervals = timed("intervals", lambda: stage.intervals(summary, profile, "segment"))
check, reason = timed("holdout_stage", lambda: segkit.holdout_stage(holdout, v.time_unit, p.lang))
found = {"value": stage.value, "info": stage.run_info(), "intervals": intervals, "check": check, "reason": reason,
         "joined_columns": list(joined.columns), "joined_rows": len(joined),
         "joined_clv": joined["clv"].to_numpy()}
pickle.dump({"found": found, "times": times}, open(out, "wb"))
'''

STAGES = ("value_stage", "with_value", "intervals", "holdout_stage")
# the optimiser's tolerance: the plain fit's two starting points end ~2e-4 standard errors apart at
# a million customers; differences are allowed up to 1e-2 standard errors and 1e-5 relative
TOLERANCE = {"se": 1e-2, "relative": 1e-5, "loglik": 1e-6}


def run(checkout, data_dir, params, out):
    subprocess.run([sys.executable, "-c", CHILD, checkout, data_dir, params, out], check=True)
    with open(out, "rb") as handle:
        return pickle.load(handle)


def largest_relative(a, b):
    import numpy as np

    a, b = np.asarray(a, float), np.asarray(b, float)
    scale = np.maximum(np.abs(a), 1e-300)
    both = np.isfinite(a) & np.isfinite(b)
    assert (np.isfinite(a) == np.isfinite(b)).all(), "missing values differ"
    return float(np.max(np.abs(a - b)[both] / scale[both])) if both.any() else 0.0


def compare(old, new) -> list[str]:
    """Lines describing the largest differences; raises AssertionError past TOLERANCE."""
    import numpy as np
    import pandas as pd

    lines, problems = [], []
    for model in ("bgnbd", "pareto_nbd", "gamma_gamma"):
        a, b = old["info"].get(model), new["info"].get(model)
        if a is None or b is None:
            assert a is None and b is None, f"{model}: fitted in one checkout only"
            continue
        rel = {k: abs(b["params"][k] - a["params"][k]) / abs(a["params"][k]) for k in a["params"]}
        in_se = {k: abs(b["params"][k] - a["params"][k]) / a["se"][k] for k in a["params"]}
        se_rel = {k: abs(b["se"][k] - a["se"][k]) / a["se"][k] for k in a["params"]}
        dll = b["loglik"] - a["loglik"]
        lines.append(f"{model:12s} params: largest relative difference {max(rel.values()):.2e} "
                     f"({max(rel, key=rel.get)}), in standard errors {max(in_se.values()):.2e}; "
                     f"standard errors {max(se_rel.values()):.2e} relative; log-likelihood new - old {dll:+.2e}")
        if max(in_se.values()) > TOLERANCE["se"] or dll < -TOLERANCE["loglik"]:
            problems.append(model)
    assert old["info"]["better_fit"] == new["info"]["better_fit"], "the better fit differs"
    va, vb = old["value"], new["value"]
    assert list(va.columns) == list(vb.columns) and (va["customer_id"].to_numpy() == vb["customer_id"].to_numpy()).all()
    for column in ("p_alive", "expected_purchases", "expected_spend", "clv"):
        a, b = va[column].to_numpy(float), vb[column].to_numpy(float)
        biggest = float(np.nanmax(np.abs(a - b))) if len(a) else 0.0
        relative = largest_relative(a, b)
        lines.append(f"{column:18s} largest difference {biggest:.2e} (relative {relative:.2e})")
        if relative > TOLERANCE["relative"]:
            problems.append(column)
    for column in ("clv_tier", "churn_risk"):
        differ = int((va[column].to_numpy() != vb[column].to_numpy()).sum())
        lines.append(f"{column:18s} customers that differ: {differ}")
        if differ > 10:  # only a customer right at a cut point could move
            problems.append(column)
    assert old["joined_columns"] == new["joined_columns"] and old["joined_rows"] == new["joined_rows"]
    for name in ("intervals", "check"):
        a, b = old[name], new[name]
        if a is None or b is None:
            assert a is None and b is None, f"{name}: made in one checkout only"
            continue
        numbers = a.select_dtypes("number").columns
        pd.testing.assert_frame_equal(a.drop(columns=numbers), b.drop(columns=numbers))
        relative = largest_relative(a[numbers].to_numpy(), b[numbers].to_numpy())
        lines.append(f"{name:18s} largest relative difference {relative:.2e}")
        if relative > TOLERANCE["relative"]:
            problems.append(name)
    assert not problems, f"old and new differ beyond the optimiser's tolerance in {problems}:\n" + "\n".join(lines)
    return lines


def main(argv):
    data_dir, params, old_checkout, new_checkout = (str(Path(a).resolve()) for a in argv[:4])
    repeats = int(argv[4]) if len(argv) > 4 else 3
    runs = {"old": [], "new": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeats):
            for name, checkout in (("old", old_checkout), ("new", new_checkout)) if i % 2 == 0 else \
                    (("new", new_checkout), ("old", old_checkout)):
                runs[name].append(run(checkout, data_dir, params, f"{tmp}/{name}{i}.pkl"))
                print(f"run {i + 1}/{repeats} {name}: load average {os.getloadavg()[0]:.2f}", flush=True)
    print(f"\nCPU seconds (time.process_time), median of {repeats}; wall in brackets; load average at the end "
          f"{', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"{'stage':16s} {'old':>14s} {'new':>14s} {'old/new':>8s}")
    totals = {"old": 0.0, "new": 0.0}
    for stage in STAGES:
        cpu = {k: statistics.median(r["times"][stage][0] for r in runs[k]) for k in runs}
        wall = {k: statistics.median(r["times"][stage][1] for r in runs[k]) for k in runs}
        for k in totals:
            totals[k] += cpu[k]
        print(f"{stage:16s} {cpu['old']:6.2f} ({wall['old']:5.2f}) {cpu['new']:6.2f} ({wall['new']:5.2f}) "
              f"{cpu['old'] / max(cpu['new'], 1e-9):7.2f}x")
    print(f"{'all four':16s} {totals['old']:6.2f} {'':7s} {totals['new']:6.2f} {'':7s} "
          f"{totals['old'] / max(totals['new'], 1e-9):7.2f}x\n")
    for line in compare(runs["old"][0]["found"], runs["new"][0]["found"]):
        print(line)
    # every run of a checkout gives the same numbers (the sample is seeded)
    for name, found in runs.items():
        for other in found[1:]:
            compare(found[0]["found"], other["found"])
    print("\nold and new agree within the optimiser's tolerance")


if __name__ == "__main__":
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    main(sys.argv[1:])
