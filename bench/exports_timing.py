"""Time `export_run` of a run folder, an older segkit and this one side by side (issue 15: the exports at scale).

    python bench/exports_timing.py RUN_FOLDER [--old REF] [--repeat 3] [--formats csv,xlsx,parquet] [--steps]

The older segkit is the package as git ref REF (default: a7aed38, before the fast paths) has it, extracted (`git archive`) into a
temporary folder and put first on PYTHONPATH; the newer one is this checkout's. Each run is a fresh
process (bench/exports_memory.py --json) that writes the exports of a copy of RUN_FOLDER (its
manifest.json, and its data/ linked, read only) and reports the wall and CPU seconds of `export_run`
(time.process_time: every thread, DuckDB's and the Rust writer's included) and the process's peak
resident memory. Old and new alternate (old first in odd rounds, new first in even ones); the medians and
the ratios are printed with the load average. Then the files are compared, and the script exits 1 when
they differ: the CSVs byte for byte, the Parquet files as tables (values, types and metadata), and the
workbooks part by part (each sheet's XML, uncompressed, byte for byte, but for the time of writing in
docProps/core.xml).

With --steps, the steps of this checkout's `export_run` are also timed one by one in this process
(median of --repeat): building the table, the people's table, the CSV, the Parquet file, the workbook.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def extract(ref: str, into: Path) -> Path:
    """segkit/ as git ref `ref` has it, under `into` (a folder to put on PYTHONPATH)."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref, "segkit"], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def run_copy(source: Path, into: Path) -> Path:
    """A run folder that shares `source`'s stage files and has its own exports/."""
    into.mkdir(parents=True)
    shutil.copy2(source / "manifest.json", into / "manifest.json")
    (into / "data").symlink_to((source / "data").resolve(), target_is_directory=True)
    return into


def one_run(tree: Path, folder: Path, formats: str | None) -> dict:
    shutil.rmtree(folder / "exports", ignore_errors=True)
    command = [sys.executable, str(REPO / "bench" / "exports_memory.py"), str(folder), "--json"]
    if formats:
        command += ["--formats", formats]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if not result["segkit"].startswith(str(tree)):
        raise SystemExit(f"the run under {tree} imported segkit from {result['segkit']}")
    return result


def differences(old: Path, new: Path) -> list[str]:
    """What differs between two exports/ folders (empty when the files are the same)."""
    import pyarrow.parquet as pq

    problems = []
    names = sorted(p.name for p in old.iterdir())
    if names != sorted(p.name for p in new.iterdir()):
        problems.append(f"the files differ: {names} and {sorted(p.name for p in new.iterdir())}")
    for name in names:
        a, b = old / name, new / name
        if not b.exists():
            continue
        if name.endswith(".csv") and a.read_bytes() != b.read_bytes():
            problems.append(f"{name}: the bytes differ")
        elif name.endswith(".parquet"):
            x, y = pq.read_table(a), pq.read_table(b)
            if not x.schema.equals(y.schema, check_metadata=True) or not x.equals(y):
                problems.append(f"{name}: the tables differ")
        elif name.endswith(".xlsx"):
            with zipfile.ZipFile(a) as x, zipfile.ZipFile(b) as y:
                if sorted(x.namelist()) != sorted(y.namelist()):
                    problems.append(f"{name}: the parts differ")
                else:
                    problems += [f"{name}: {part} differs" for part in x.namelist()
                                 if part != "docProps/core.xml" and x.read(part) != y.read(part)]
    return problems


def steps(folder: Path, repeat: int) -> None:
    """This checkout's export_run step by step, in this process."""
    sys.path.insert(0, str(REPO))
    import segkit.report.exports as ex
    from segkit.params import validate_params

    params = validate_params(json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["params"],
                             origin=str(folder / "manifest.json"))
    times: dict[str, list] = {}

    def timed(name, call):
        wall, cpu = time.perf_counter(), time.process_time()
        result = call()
        times.setdefault(name, []).append((time.perf_counter() - wall, time.process_time() - cpu))
        return result

    with tempfile.TemporaryDirectory(dir="/tmp") as out:
        out = Path(out)
        for _ in range(repeat):
            table = timed("table", lambda: ex._load_export_table(folder / "data", params))
            people = timed("people", lambda: ex._people_table(table, params.lang,
                                                              minor_unit=params.currency.minor_unit))
            timed("csv", lambda: ex._write_table_csv(people, out / "customers.csv", params.exports.csv_encoding))
            timed("parquet", lambda: ex._write_table_parquet(table, out / "customers.parquet", {}))
            timed("workbook", lambda: ex._write_table_workbook(
                table, ex._people_table(table, params.lang, quoted=False), out / "customers.xlsx", params.lang,
                ex._grid(params.rfm),
                params.exports.excel_max_rows, ["customers.csv", "customers.parquet"], "bench"))
            del table, people
    print("this checkout's steps, in one process (median wall / CPU s):")
    for name, runs in times.items():
        print(f"  {name:9s} {statistics.median(w for w, _ in runs):6.2f} / {statistics.median(c for _, c in runs):6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_folder")
    parser.add_argument("--old", default="a7aed38", help="the git ref of the older segkit (default: a7aed38, before the fast paths)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--formats", default=None, help="comma-separated, default: the run's exports.formats")
    parser.add_argument("--steps", action="store_true", help="also time this checkout's steps in one process")
    args = parser.parse_args()
    source = Path(args.run_folder).resolve()
    with tempfile.TemporaryDirectory(dir="/tmp", prefix="exports-timing-") as work:
        work = Path(work)
        trees = {"old": extract(args.old, work / "old-tree"), "new": REPO}
        folders = {name: run_copy(source, work / f"{name}-run") for name in trees}
        print(f"old: segkit of {args.old}; new: {REPO}; load average before: {os.getloadavg()}")
        results: dict[str, list] = {"old": [], "new": []}
        for round_ in range(args.repeat):
            for name in (("old", "new") if round_ % 2 == 0 else ("new", "old")):
                result = one_run(trees[name], folders[name], args.formats)
                results[name].append(result)
                print(f"  round {round_ + 1} {name}: wall {result['wall']:6.2f} s, CPU {result['cpu']:6.2f} s, "
                      f"peak {result['peak_mb']:6.0f} MB, load {result['load_before'][0]:.2f}", flush=True)
        medians = {name: {key: statistics.median(r[key] for r in runs) for key in ("wall", "cpu", "peak_mb")}
                   for name, runs in results.items()}
        for name, figures in medians.items():
            print(f"{name}: median wall {figures['wall']:6.2f} s, CPU {figures['cpu']:6.2f} s, "
                  f"peak {figures['peak_mb']:6.0f} MB")
        print(f"old / new: wall {medians['old']['wall'] / medians['new']['wall']:.2f}x, "
              f"CPU {medians['old']['cpu'] / medians['new']['cpu']:.2f}x; load average after: {os.getloadavg()}")
        for name, size in results["new"][-1]["files"].items():
            print(f"  {name}: {size:,} bytes")
        problems = differences(folders["old"] / "exports", folders["new"] / "exports")
        print("the files are the same (CSV bytes, Parquet tables with metadata, workbook XML)" if not problems
              else "\n".join(problems))
    if args.steps:
        steps(source, args.repeat)
    if problems:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
