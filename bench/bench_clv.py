"""Fitting the repeat-buying models on many customers: one run, times printed as a Markdown table.

    .venv/bin/python bench/bench_clv.py --customers 1000000

    .venv/bin/python bench/bench_clv.py --customers 100000 --compare   # beside lifetimes 0.11

With `--compare`, the same fits run in lifetimes (pip install 'segkit[bench]'), the maintained-at-
the-time reference implementation most analysts know, called as its documentation shows (one row
per customer), and the table gives both times, the ratio and the largest relative difference of
the fitted parameters.

The population is drawn from a BG/NBD process (r 0.5, alpha 5 weeks, a 0.8, b 2.5) with first
purchases spread over a year and purchase times on whole days (as transaction dates are), then
summarised in weeks; spend from a Gamma-Gamma process (p 6, q 4, gamma 15). The transaction-level
summary (segkit.models.repeat_summary) is not timed here: it is one DuckDB aggregation like
bench_features.py's.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from segkit.models.clv import BGNBDModel, GammaGammaModel, ParetoNBDModel, group_intervals, predicted_clv


def population(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    lam = rng.gamma(0.5, 1 / 5.0, n)
    p = rng.beta(0.8, 2.5, n)
    T_days = rng.integers(30, 730, n)
    x, last, now, active = np.zeros(n), np.zeros(n), np.zeros(n), np.ones(n, bool)
    while active.any():
        i = np.flatnonzero(active)
        nxt = now[i] + rng.exponential(1 / lam[i]) * 7
        late = nxt > T_days[i]
        active[i[late]] = False
        j, at = i[~late], nxt[~late]
        day = np.maximum(np.floor(at), last[j] + 1)  # purchase days are distinct whole days
        ok = day <= T_days[j]
        x[j[ok]] += 1
        last[j[ok]] = day[ok]
        now[j] = at
        active[j[rng.random(len(j)) < p[j]]] = False
    nu = rng.gamma(4.0, 1 / 15.0, n)
    spend = np.where(x > 0, rng.gamma(6.0 * np.maximum(x, 1), 1 / nu) / np.maximum(x, 1), 0.0)
    frame = pd.DataFrame({"x": x, "t_x": last / 7, "T": T_days / 7, "mean_repeat_spend": spend,
                          "group": rng.integers(0, 8, n).astype(str)})
    frame.attrs["time_unit"] = "weeks"
    return frame


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--compare", action="store_true", help="also fit with lifetimes and compare")
    args = parser.parse_args()
    if args.compare:
        compare(args.customers)
        return
    start = time.perf_counter()
    s = population(args.customers)
    print(f"population of {len(s):,} customers drawn in {time.perf_counter() - start:.1f} s; "
          f"unique (x, t_x, T): {len(s[['x', 't_x', 'T']].drop_duplicates()):,}")
    rows = []

    def timed(label, fn):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = fn()
        rows.append((label, time.perf_counter() - t0))
        return result

    bg = timed("BG/NBD fit (with standard errors)", lambda: BGNBDModel().fit(s))
    pn = timed("Pareto/NBD fit (with standard errors)", lambda: ParetoNBDModel().fit(s))
    gg = timed("Gamma-Gamma fit (with standard errors)", lambda: GammaGammaModel().fit(s))
    timed("BG/NBD P(alive), all customers", lambda: bg.p_alive(s))
    timed("BG/NBD expected purchases in 52 weeks", lambda: bg.expected_purchases(s, 52))
    timed("predicted CLV, 12 months (BG/NBD + Gamma-Gamma)", lambda: predicted_clv(s, bg, gg))
    timed("group intervals, 8 groups (purchases and CLV)", lambda: group_intervals(s, "group", bg, gg))
    print(f"\nBG/NBD {bg.params_}\nPareto/NBD {pn.params_}\nGamma-Gamma {gg.params_}\n")
    print(f"| step ({args.customers:,} customers) | seconds |\n|---|---|")
    for label, seconds in rows:
        print(f"| {label} | {seconds:.2f} |")


def compare(n: int) -> None:
    """segkit and lifetimes on the same population: fit times, ratio, parameter agreement."""
    import lifetimes

    s = population(n)
    repeaters = s[s["x"] > 0]
    pairs = [
        ("BG/NBD", lambda: BGNBDModel().fit(s).params_,
         lambda: lifetimes.BetaGeoFitter().fit(s["x"], s["t_x"], s["T"]).params_),
        ("Pareto/NBD", lambda: ParetoNBDModel().fit(s).params_,
         lambda: lifetimes.ParetoNBDFitter().fit(s["x"], s["t_x"], s["T"]).params_),
        ("Gamma-Gamma", lambda: GammaGammaModel().fit(s).params_,
         lambda: lifetimes.GammaGammaFitter().fit(repeaters["x"], repeaters["mean_repeat_spend"]).params_),
    ]
    names = {"alpha": "alpha", "r": "r", "a": "a", "b": "b", "s": "s", "beta": "beta", "p": "p", "q": "q", "v": "gamma"}
    print(f"| fit ({n:,} customers) | segkit s | lifetimes {lifetimes.__version__} s | lifetimes / segkit | "
          "largest parameter difference |\n|---|---|---|---|---|")
    for label, ours, theirs in pairs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            mine = ours()
            t1 = time.perf_counter()
            other = theirs()
            t2 = time.perf_counter()
        differences = [abs(mine[names[k]] - v) / abs(mine[names[k]]) for k, v in dict(other).items() if k in names]
        print(f"| {label} | {t1 - t0:.2f} | {t2 - t1:.2f} | {(t2 - t1) / (t1 - t0):.1f}x | {max(differences):.2%} |")


if __name__ == "__main__":
    main()
