"""How fast this host is today: fixed workloads that do not depend on segkit's code.

    .venv/bin/python bench/host_index.py            # one line, seconds per workload (medians of 3)

The same code has taken 72 s on one host and 175 s on another for the 10M-line report (docs/benchmarks.md,
sessions 28 and 39), and 10-15% more or less within the hour on one host. A figure of a benchmark
means little without the host's own speed beside it, so `bench_report.py` and `run_all.py` print
this index before (and `bench_report.py` after) their runs. Each workload stands for a kind of work
the report does, on inputs made here (no file is read):

- `python`: the interpreter alone (a dict of 2M integer keys built and summed), as in the notebooks'
  Python code;
- `numpy`: one core's arithmetic and memory bandwidth (a stable sort of 20M float64);
- `duckdb`: the engine on two threads (20M rows grouped into 1M groups, counted and summed), as in
  cleaning and the features;
- `memory`: 1 GB of fresh memory touched page by page (a virtual machine whose host takes back free
  memory makes this several times slower: sessions 16-17).

Lower is faster. Compare two runs' figures, not their sum: a host can be quick at one and slow at another.
"""

from __future__ import annotations

import statistics
import sys
import time


def _python() -> None:
    table = {i: i * 3 for i in range(2_000_000)}
    assert sum(table.values()) == 3 * (2_000_000 * 1_999_999 // 2)


def _numpy() -> None:
    import numpy as np

    values = np.random.default_rng(1).random(20_000_000)
    values.sort(kind="stable")


def _duckdb(con) -> None:
    rows = con.sql("SELECT count(*) FROM (SELECT i % 1000000 AS k, count(*) AS n, sum(i) AS s "
                   "FROM range(20000000) t(i) GROUP BY k)").fetchall()
    assert rows[0][0] == 1_000_000


def _memory() -> None:
    import numpy as np

    block = np.empty(1 << 27, dtype=np.float64)  # 1 GB, not yet touched
    block[::512] = 1.0  # one write per 4 KB page: each page faulted in once
    del block


def host_index(repeat: int = 3) -> dict[str, float]:
    """Seconds per workload (the median of `repeat` runs, all in this process), by name."""
    import duckdb

    con = duckdb.connect()
    con.sql("SET threads = 2")
    workloads = {"python": _python, "numpy": _numpy, "duckdb": lambda: _duckdb(con), "memory": _memory}
    found = {}
    for name, work in workloads.items():
        times = []
        for _ in range(repeat):
            tick = time.perf_counter()
            work()
            times.append(time.perf_counter() - tick)
        found[name] = statistics.median(times)
    return found


def index_line(found: dict[str, float]) -> str:
    """The index as one line for a results table."""
    return "host index (bench/host_index.py; s, lower is faster): " + ", ".join(
        f"{name} {seconds:.2f}" for name, seconds in found.items())


if __name__ == "__main__":
    print(index_line(host_index(int(sys.argv[1]) if len(sys.argv) > 1 else 3)))
