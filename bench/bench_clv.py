"""Fitting the repeat-buying models on many customers: one run, times printed as a Markdown table.

    .venv/bin/python bench/bench_clv.py --customers 1000000

    .venv/bin/python bench/bench_clv.py --customers 100000 --compare   # beside lifetimes 0.11

    .venv/bin/python bench/bench_clv.py --pareto-trees OLD_ROOT NEW_ROOT [--repeat 3]

With `--compare`, the same fits run in lifetimes (pip install 'segkit[bench]'), the maintained-at-
the-time reference implementation most analysts know, called as its documentation shows (one row
per customer), and the table gives both times, the ratio and the largest relative difference of
the fitted parameters.

With `--pareto-trees`, the Pareto/NBD fit of two checkouts (folders holding a `segkit` package, put
first on PYTHONPATH; e.g. a worktree of an older commit and this one) on four data sets: the CDNOW
sample as the tests summarise it, two simulated shops with one dropout rate (seeds 1 and 8 of
tests/test_clv_poisson_limit.py, 1,000 customers each) and 5,000 simulated Pareto/NBD customers with
spread in dropout (an interior maximum). Each fit runs in a fresh process (`--pareto-fit NAME`), the
two checkouts alternating, `--repeat` times; the table gives the median of the objective's
evaluations inside the optimiser (counted by wrapping `_minimize`, as the tests do; with an analytic
gradient one evaluation is the value and its gradient), the median CPU seconds of the fit (with its
Hessians and limit fits), the model chosen and the largest relative difference of the parameters.

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


def one_dropout_rate(n: int, seed: int) -> pd.DataFrame:
    """The simulated shop of tests/test_clv_poisson_limit.py (`_one_dropout_rate`): purchase rates
    Gamma(r, alpha) a week, one dropout rate for every customer, observed 1-104 weeks."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from test_clv_poisson_limit import _one_dropout_rate

    return _one_dropout_rate(n, seed)


def pareto_population(n: int = 5000, seed: int = 3, r: float = 0.55, alpha: float = 10.6, s: float = 0.61,
                      beta: float = 11.7) -> pd.DataFrame:
    """Pareto/NBD customers (weeks): lambda ~ Gamma(r, alpha), mu ~ Gamma(s, beta) (CDNOW's estimates),
    first purchases over two years (ages 1-104 weeks in whole days), purchase times rounded up to days."""
    rng = np.random.default_rng(seed)
    lam, mu = rng.gamma(r, 1 / alpha, n), rng.gamma(s, 1 / beta, n)
    T = rng.integers(7, 729, n) / 7
    ends = np.minimum(T, rng.exponential(1 / mu))
    x, t_x = np.zeros(n), np.zeros(n)
    for i in range(n):
        times = np.cumsum(rng.exponential(1 / lam[i], int(lam[i] * ends[i] * 3 + 20)))
        seen = times[times <= ends[i]]
        x[i], t_x[i] = len(seen), (min(np.ceil(seen[-1] * 7) / 7, T[i]) if len(seen) else 0.0)
    frame = pd.DataFrame({"x": x, "t_x": t_x, "T": T})
    frame.attrs["time_unit"] = "weeks"
    return frame


def pareto_data(name: str) -> pd.DataFrame:
    if name == "cdnow":  # as tests/test_clv.py summarises it
        import datetime as dt

        from segkit.datasets import load_cdnow
        from segkit.intake.sources import connect
        from segkit.models.repeat_summary import repeat_summary
        return repeat_summary(connect(), load_cdnow(sample=True), dt.date(1997, 9, 30), dt.date(1998, 6, 30))
    if name.startswith("one-rate-"):
        return one_dropout_rate(1000, int(name.rsplit("-", 1)[1]))
    if name == "interior-5000":
        return pareto_population(5000)
    raise SystemExit(f"unknown data set {name}")


PARETO_DATA = {"cdnow": "CDNOW sample (2,357 customers, the tests' summary)",
               "one-rate-1": "1,000 simulated, one dropout rate (seed 1 of test_clv_poisson_limit.py)",
               "one-rate-8": "the same, seed 8",
               "interior-5000": "5,000 simulated Pareto/NBD customers, spread in dropout (interior maximum)"}


def pareto_fit(name: str) -> None:
    """One Pareto/NBD fit on data set `name` in this process; prints a JSON line."""
    import json

    import segkit
    from segkit.models import clv

    summary = pareto_data(name)
    evaluations = [0]
    plain = clv._minimize

    def counted(fun, *args, **kwargs):
        def f(theta):
            evaluations[0] += 1
            return fun(theta)
        return plain(f, *args, **kwargs)

    clv._minimize = counted
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cpu, wall = time.process_time(), time.perf_counter()
        model = ParetoNBDModel(time_unit="weeks").fit(summary)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(json.dumps({"data": name, "segkit": segkit.__file__, "evaluations": evaluations[0], "cpu": cpu,
                      "wall": wall, "params": model.params_, "loglik": model.loglik_,
                      "converged": bool(model.converged_)}))


def pareto_trees(old: str, new: str, repeat: int) -> None:
    """`pareto_fit` on each data set for two checkouts, fresh processes alternating; a Markdown table."""
    import json
    import os
    import subprocess
    import sys

    found: dict = {}
    for _ in range(repeat):
        for name in PARETO_DATA:
            for label, root in (("old", old), ("new", new)):
                env = dict(os.environ, PYTHONPATH=root)
                out = subprocess.run([sys.executable, __file__, "--pareto-fit", name], env=env, check=True,
                                     capture_output=True, text=True).stdout
                result = json.loads(out.strip().splitlines()[-1])
                assert result["segkit"].startswith(os.path.abspath(root)), result["segkit"]
                found.setdefault((name, label), []).append(result)
                print(f"{name} {label}: {result['evaluations']} evaluations, {result['cpu']:.2f} CPU s",
                      file=sys.stderr)

    def described(runs):
        evaluations = int(np.median([run["evaluations"] for run in runs]))
        cpu = float(np.median([run["cpu"] for run in runs]))
        form = "limit (" + ", ".join(runs[0]["params"]) + ")" if "mu" in runs[0]["params"] or "lambda" in \
            runs[0]["params"] else "full model"
        return f"{evaluations}; {cpu:.2f} s; {form}"

    print(f"| data (fresh processes, medians of {repeat}) | before: evaluations; CPU s; model | after | "
          "largest parameter difference; log-likelihood difference |\n| --- | --- | --- | --- |")
    for name, words in PARETO_DATA.items():
        before, after = found[(name, "old")], found[(name, "new")]
        p, q = before[0]["params"], after[0]["params"]
        gap = max(abs(q[k] - v) / abs(v) for k, v in p.items()) if set(p) == set(q) else float("nan")
        print(f"| {words} | {described(before)} | {described(after)} | {gap:.1e}; "
              f"{after[0]['loglik'] - before[0]['loglik']:+.1e} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--compare", action="store_true", help="also fit with lifetimes and compare")
    parser.add_argument("--pareto-fit", choices=list(PARETO_DATA), help="one Pareto/NBD fit (a JSON line)")
    parser.add_argument("--pareto-trees", nargs=2, metavar=("OLD", "NEW"),
                        help="the Pareto/NBD fits of two checkouts, fresh processes alternating")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.pareto_fit:
        pareto_fit(args.pareto_fit)
        return
    if args.pareto_trees:
        pareto_trees(*args.pareto_trees, args.repeat)
        return
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
