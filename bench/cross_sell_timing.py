"""Time 07_cross_sell's calls, old against new, in one process (issue 15: the cross-sell stage at scale).

    python bench/cross_sell_timing.py [DATA_DIR] [--params PARAMS] [--old REV] [--repeat 3] [--only old|new]

DATA_DIR is a run's data folder (clean_transactions.parquet and segments.parquet; default the run
of `bench/bench_report.py --sizes 10M`, bench/.data/reports/bench-10M/data, read in place and never
written). The "old" segkit.crosssell is taken from git at REV (default bba42de, the last commit
before the fast path was merged) into a temporary folder as its own package (the rest of segkit
is shared); the "new" one is the checkout's. Both run the notebook's calls in its order (the two
category mixes, the distinguishing items, the baskets, the rules per segment, the top rules table,
the next best item, saving it, its table), alternating old and new `--repeat` times, each run on a
newly read table with every cache emptied (so each pays its own pass over the transactions). It
asserts that every output (and the saved next_best file) is equal (the shares of summed amounts to
1e-12: see SUMMED), then prints CPU seconds
(`time.process_time`, all threads of the process, DuckDB's included) per call and in all, medians
over the repeats, with the load average.

With --only old|new it runs that side once and prints its peak resident memory (ru_maxrss): run it
twice, one side per process, for the memory before and after (both sides in one process would
measure the larger of the two).
"""

from __future__ import annotations

import argparse
import importlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PEAKS: dict = {}  # the process's peak resident memory (MB) after each call, per package
CALLS = ("mix_segment", "mix_class", "distinguishing", "baskets", "rules_by_group", "top_rules", "next_best_item",
         "save_next_best", "next_best_table")


def old_package(rev: str, folder: Path) -> str:
    """segkit/crosssell at `rev` as the package `segkit_old_crosssell` in `folder` (imports rewritten)."""
    names = subprocess.run(["git", "-C", str(REPO), "ls-tree", "--name-only", f"{rev}:segkit/crosssell"],
                           check=True, capture_output=True, text=True).stdout.split()
    target = folder / "segkit_old_crosssell"
    target.mkdir(parents=True)
    for name in names:
        if name.endswith(".py"):
            text = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:segkit/crosssell/{name}"], check=True,
                                  capture_output=True, text=True).stdout
            (target / name).write_text(text.replace("segkit.crosssell", "segkit_old_crosssell"), encoding="utf-8")
    sys.path.insert(0, str(folder))
    return "segkit_old_crosssell"


def empty_caches(package: str) -> None:
    for module in ("category_mix", "rules"):
        found = sys.modules.get(f"{package}.{module}")
        for cache in ("_CACHED", "_CODES", "_BASKET_CODES"):
            if found is not None and hasattr(found, cache):
                getattr(found, cache).clear()


def stage(package: str, data_dir: Path, params, out_dir: Path) -> tuple[dict, dict]:
    """The notebook's calls with `package` (outputs, CPU seconds per call)."""
    import segkit

    crosssell = importlib.import_module(package)
    tables = importlib.import_module(f"{package}.tables")
    cs, lang, item = params.cross_sell, params.lang, params.cross_sell.item
    empty_caches(package)
    transactions = crosssell.load_purchases(data_dir, item)
    segments = segkit.load_stage(data_dir, "segments")
    grid = segkit.classify.rfm.map_for_codes(params.rfm.segment_map, segments["segment"], custom=params.rfm.custom_maps)
    out, seconds = {}, {}
    peaks = PEAKS.setdefault(package, {})

    def timed(name, call):
        start = time.process_time()
        out[name] = call()
        seconds[name] = time.process_time() - start
        peaks[name] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return out[name]

    mix = timed("mix_segment", lambda: crosssell.category_mix(transactions, segments, "segment", item))
    out["index_table"] = tables.index_table(mix, grid, lang)[0]
    timed("mix_class", lambda: crosssell.category_mix(transactions, segments, "rfm_class", item))
    valuable = tables.valuable_codes(grid)
    timed("distinguishing", lambda: crosssell.distinguishing_items(transactions, segments, valuable, item=item))
    basket_items = timed("baskets", lambda: crosssell.baskets(transactions, cs.basket, item))
    rules = timed("rules_by_group", lambda: crosssell.rules_by_group(
        basket_items, segments, "segment", min_support=cs.min_support, min_confidence=cs.min_confidence,
        max_items=cs.max_items, engine_above=cs.engine_above, min_baskets=cs.min_baskets))
    timed("top_rules", lambda: tables.rules_table(crosssell.top_rules(rules, cs.top_rules, order=grid.codes), grid, lang))
    next_best = timed("next_best_item", lambda: crosssell.next_best_item(basket_items, segments, rules))
    timed("save_next_best", lambda: tables.save_next_best(out_dir, next_best))
    timed("next_best_table", lambda: tables.next_best_table(next_best, grid, lang))
    out["saved"] = segkit.load_stage(out_dir, "next_best")
    return out, seconds


# the outputs whose floats come from sums of amounts: DuckDB sums a customer's amounts in parallel and
# in no fixed order, so two runs of the same code differ in the last bits (1e-15 relative: measured
# below as old against old); every count, item, rule and next best item must be equal exactly
SUMMED = ("mix_segment", "index_table", "mix_class", "distinguishing")


def assert_equal(old: dict, new: dict) -> None:
    import pandas as pd

    for name in old:
        if old[name] is None and new[name] is None:  # save_next_best returns nothing
            continue
        try:
            pd.testing.assert_frame_equal(old[name], new[name], check_exact=name not in SUMMED, rtol=1e-12, atol=0)
        except AssertionError as err:
            raise AssertionError(f"{name} differs between old and new: {err}") from None


def largest_difference(old: dict, new: dict) -> float:
    """The largest relative difference of the summed floats of two runs (0.0: equal to the bit)."""
    import numpy as np

    found = 0.0
    for name in SUMMED:
        for column in old[name].columns:
            a, b = old[name][column], new[name][column]
            if a.dtype.kind == "f":
                scale = np.maximum(np.abs(a.to_numpy()), 1e-300)
                found = max(found, float(np.nanmax(np.abs(a.to_numpy() - b.to_numpy()) / scale, initial=0.0)))
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", nargs="?", default=str(REPO / "bench/.data/reports/bench-10M/data"))
    parser.add_argument("--params", default=str(REPO / "bench/.data/params-10M.yaml"))
    parser.add_argument("--old", default="bba42de", help="the git revision of the old segkit/crosssell "
                        "(default: the last commit before the fast path was merged)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=("old", "new"))
    args = parser.parse_args()

    import segkit

    params = segkit.load_params(args.params, [])
    data_dir = Path(args.data_dir)
    with tempfile.TemporaryDirectory(prefix="cross-sell-timing-") as folder:
        sides = {"old": old_package(args.old, Path(folder) / "old"), "new": "segkit.crosssell"}
        if args.only:
            _, seconds = stage(sides[args.only], data_dir, params, Path(folder) / args.only)
            print(f"{args.only}: CPU {sum(seconds.values()):.2f} s, peak resident memory "
                  f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB; load {os.getloadavg()}")
            print("peak after each call (MB): " + ", ".join(f"{k} {v:,.0f}" for k, v in PEAKS[sides[args.only]].items()))
            return
        times = {"old": [], "new": []}
        first_old, noise, gap = None, 0.0, 0.0
        for _ in range(args.repeat):
            found = {}
            for side in ("old", "new"):
                found[side], seconds = stage(sides[side], data_dir, params, Path(folder) / side)
                times[side].append(seconds)
            assert_equal(found["old"], found["new"])
            gap = max(gap, largest_difference(found["old"], found["new"]))
            if first_old is None:
                first_old = found["old"]
            else:
                noise = max(noise, largest_difference(first_old, found["old"]))
            del found
    print(f"07_cross_sell calls on {data_dir}, CPU seconds, median of {args.repeat} (old = {args.old}); "
          f"load {os.getloadavg()}")
    print(f"{'call':16s} {'old':>7s} {'new':>7s}")
    for name in (*CALLS, "total"):
        pick = (lambda runs: [sum(r.values()) for r in runs]) if name == "total" else (lambda runs: [r[name] for r in runs])
        old, new = statistics.median(pick(times["old"])), statistics.median(pick(times["new"]))
        print(f"{name:16s} {old:7.2f} {new:7.2f}" + (f"  {old / new:.2f}x" if new > 0 else ""))
    print("outputs equal: yes (counts, items, rules, next best items exactly; summed floats: largest relative "
          f"difference old-new {gap:.1e}, old-old {noise:.1e})")


if __name__ == "__main__":
    main()
