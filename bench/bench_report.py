"""End to end: the full `segkit report` on the generated transactions, with time and memory per stage.

    .venv/bin/python bench/bench_report.py --sizes 1M,10M          # Parquet, DuckDB engine
    .venv/bin/python bench/bench_report.py --sizes 10M --format csv
    .venv/bin/python bench/bench_report.py --sizes 10M --engine spark   # Spark local mode (source.kind: spark)
    .venv/bin/python bench/bench_report.py --sizes 10M --profile        # also py-spy: where the time goes

Each size's data and params come from bench/generate.py (generated if missing). The report runs as
`segkit report --params ... --force` in its own process (the command an analyst types: imports,
kernels, HTML, PDF and exports included); this script polls the whole process tree (the command and
every kernel it starts) every 0.1 s with psutil and sums the resident memory (RSS) of its processes:
the peak of that sum is the peak memory, overall and per stage (the stage is read from the
command's progress lines). Per-notebook times come from the run's manifest.json (`timings_s`).
`--profile` runs the command under py-spy (`py-spy record --subprocesses --format raw`, which slows
it a little) and prints the functions with the most samples, inclusive, per notebook kernel.
Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLASSIC = ("01_cleaning", "02_rfm", "04_clustering", "05_evaluation", "08_case_study")  # the five classic stages
STAGES_AFTER = ("html", "pdf_sections_early", "pdf", "exports")


def segkit_command() -> list[str]:
    """The `segkit` command of this interpreter's environment."""
    script = Path(sys.executable).with_name("segkit")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "segkit.cli"]


def spark_available() -> str | None:
    """None when this segkit reads `source.kind: spark`, else why not."""
    from typing import get_args

    from segkit.params import Source

    if "spark" not in get_args(Source.model_fields["kind"].annotation) or "spark" not in Source.model_fields:
        return ("the Spark backend is not available yet in this segkit (no `source.kind: spark` in "
                "segkit/params.py)")
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed in this environment: pip install -e '.[spark]'"
    return None


def spark_params(params_path: Path, data_file: Path, driver_memory: str = "6g") -> Path:
    """A copy of the generated params reading the Parquet file through Spark local mode, with the
    driver's memory given (Spark's default, 1g, runs out in 01_cleaning at 10M lines)."""
    import yaml

    params = yaml.safe_load(params_path.read_text(encoding="utf-8"))
    params["run_name"] += "-spark"
    params["source"] = {"kind": "spark", "spark": {
        "master": "local[2]", "path": str(data_file), "format": "parquet",
        "config": {"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "16",
                   "spark.driver.memory": driver_memory,
                   "spark.driver.bindAddress": "127.0.0.1"}}}
    target = params_path.with_name(params_path.stem + "-spark.yaml")
    target.write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return target


class TreeMemory:
    """Polls a process and its children every `interval` s; keeps the peak of their summed RSS, overall
    and per stage (`stage` is set from outside while the process runs)."""

    def __init__(self, pid: int, interval: float = 0.1, skip_root: bool = False):
        import psutil

        self._root = psutil.Process(pid)
        self._skip_root = skip_root  # the root is py-spy when profiling: its own memory and CPU are left out
        self._psutil = psutil
        self.interval = interval
        self.stage = "start"
        self.peak = 0
        self.peak_by_stage: dict[str, int] = {}
        self.cpu_by_stage: dict[str, float] = {}  # CPU seconds (user + sys) of the tree while each stage ran
        self.sys_by_stage: dict[str, float] = {}  # of which in the kernel (system time: page faults, I/O)
        self._cpu_seen: dict[tuple[int, float], tuple[float, float]] = {}
        self.stage_of_pid: dict[int, str] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        psutil = self._psutil
        while not self._stop.is_set():
            try:
                procs = [*([] if self._skip_root else [self._root]), *self._root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            total, cpu, system = 0, 0.0, 0.0
            for proc in procs:
                try:
                    if proc.pid != self._root.pid:  # the stage a process was first seen in: which notebook a kernel ran
                        self.stage_of_pid.setdefault(proc.pid, self.stage)
                    with proc.oneshot():
                        total += proc.memory_info().rss
                        times = proc.cpu_times()
                        key = (proc.pid, proc.create_time())
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                used, seen = (times.user + times.system, times.system), self._cpu_seen.get(key, (0.0, 0.0))
                cpu += used[0] - seen[0]  # (a process's last 0.1 s before it ends is missed)
                system += used[1] - seen[1]
                self._cpu_seen[key] = used
            self.cpu_by_stage[self.stage] = self.cpu_by_stage.get(self.stage, 0.0) + cpu
            self.sys_by_stage[self.stage] = self.sys_by_stage.get(self.stage, 0.0) + system
            self.samples += 1
            self.peak = max(self.peak, total)
            self.peak_by_stage[self.stage] = max(self.peak_by_stage.get(self.stage, 0), total)
            self._stop.wait(self.interval)


def run_report(params: Path, out: Path, pdf: bool = True, profile: Path | None = None,
               progress=lambda message: None, overrides: list[str] = ()) -> dict:
    """One `segkit report` run (with `overrides`, each KEY=VALUE as `--set` takes it); returns wall
    seconds, peak MB (overall and per stage) and the manifest's timings."""
    command = [*segkit_command(), "report", "--params", str(params), "--out", str(out), "--force"]
    for override in overrides:
        command += ["--set", override]
    if not pdf:
        command.append("--no-pdf")
    if profile is not None:
        py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
        if py_spy is None:
            raise SystemExit("--profile needs py-spy: pip install py-spy")
        command = [py_spy, "record", "--subprocesses", "--format", "raw", "--rate", "50", "--nonblocking",
                   "-o", str(profile), "--", *command]
    started = time.perf_counter()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    log: list[str] = []
    with TreeMemory(proc.pid, skip_root=profile is not None) as memory:
        for line in proc.stderr:  # "[2/8] running 02_rfm", "writing HTML", "writing PDF", "writing exports"
            log.append(line.rstrip())
            progress("    " + line.rstrip())
            words = line.split()
            if "running" in words and words.index("running") + 1 < len(words):
                memory.stage = words[words.index("running") + 1]
            elif line.startswith("writing "):
                memory.stage = {"HTML": "html", "PDF": "pdf"}.get(words[1], words[1])
        proc.wait()
    wall = time.perf_counter() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # every process of the tree, once waited for
    cpu = (children.ru_utime + children.ru_stime) - (children_before.ru_utime + children_before.ru_stime)
    system = children.ru_stime - children_before.ru_stime
    faults = children.ru_minflt - children_before.ru_minflt
    if profile is not None:  # without py-spy's own CPU: the polled sum (each process's last 0.1 s missed)
        cpu, system = sum(memory.cpu_by_stage.values()), sum(memory.sys_by_stage.values())
    if proc.returncode != 0:
        raise SystemExit(f"segkit report failed (exit {proc.returncode}): " + "\n".join(log[-5:]))
    # the command prints the index page's path (py-spy adds its own lines around it)
    index = [line for line in proc.stdout.read().splitlines() if line.strip().endswith("index.html")]
    folder = Path(index[-1].strip()).parent
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    return {"wall_s": wall, "cpu_s": cpu, "sys_s": system, "minor_faults": faults, "peak_mb": memory.peak / 2**20,
            "samples": memory.samples, "cpu_s_by_stage": memory.cpu_by_stage, "sys_s_by_stage": memory.sys_by_stage, "load_average": os.getloadavg(),
            "stage_of_pid": memory.stage_of_pid,
            "peak_mb_by_stage": {k: v / 2**20 for k, v in memory.peak_by_stage.items()},
            "timings_s": manifest["timings_s"], "folder": str(folder)}


def profile_summary(raw: Path, notebooks: list[str], top: int = 8, stage_of_pid: dict | None = None) -> str:
    """Where each process spent its samples, from py-spy's raw (collapsed) stacks: per notebook kernel
    (the command's children, named in the order they started, which is the notebooks' order) the segkit functions with
    the most samples (inclusive) and the leaf frames with the most samples (self time). py-spy samples
    every 1/50 s of a process's wall time while its Python thread is not idle (waiting for a CPU on a busy machine counts)."""
    inclusive: dict[str, Counter] = {}
    leaves: dict[str, Counter] = {}
    totals: Counter = Counter()
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit() or not stack.startswith("process "):
            continue
        parts = stack.split(";")  # "process <root>;process <child>;...;frame;frame": the last process is the one sampled
        processes = [part for part in parts if part.startswith("process ")]
        frames = [re.sub(r":\d+\)$", ")", frame) for frame in parts[len(processes):]]  # per function, not per line
        # a child of the command is a notebook's kernel (its own children, e.g. workers, count with it)
        process = processes[1] if len(processes) > 1 else processes[0]
        pid = int(process.split()[1].split(":")[0])
        n = int(count)
        key = f"{pid} {'kernel' if len(processes) > 1 else 'segkit report (runner: HTML, PDF, exports, history)'}"
        totals[key] += n
        for frame in set(f for f in frames if "(segkit/" in f or "/segkit/" in f):  # py-spy shortens paths
            inclusive.setdefault(key, Counter())[frame] += n
        if frames:
            leaves.setdefault(key, Counter())[frames[-1]] += n
    kernels = sorted((k for k in totals if k.endswith("kernel")), key=lambda k: int(k.split()[0]))
    names = {k: f"{notebooks[i] if i < len(notebooks) else '?'} (kernel {k.split()[0]})" for i, k in enumerate(kernels)}
    if stage_of_pid:  # seen while polling: right even when process ids wrap around
        names.update({k: f"{stage_of_pid[int(k.split()[0])]} (kernel {k.split()[0]})" for k in kernels
                      if int(k.split()[0]) in stage_of_pid})
    out = [f"py-spy: {sum(totals.values()):,} samples at 50 Hz (a sample = 0.02 s of non-idle wall time)"]
    for key, n in sorted(totals.items(), key=lambda kv: int(kv[0].split()[0])):
        out.append(f"\n{names.get(key, key)}: {n:,} samples ({n / 50:.1f} s)")
        for frame, m in inclusive.get(key, Counter()).most_common(top):
            out.append(f"  incl {m / 50:6.1f} s  {_short(frame)}")
        for frame, m in leaves.get(key, Counter()).most_common(5):
            out.append(f"  self {m / 50:6.1f} s  {_short(frame)}")
    return "\n".join(out)


def _short(frame: str) -> str:
    """'func (/long/path/site-packages/pkg/mod.py:12)' -> 'func (pkg/mod.py:12)'."""
    name, _, where = frame.partition(" (")
    for marker in ("site-packages/", "/wt-bench/", "/lib/python3.11/"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where}"


def table(results: dict[str, dict], engine: str, fmt: str, host: tuple[str, str] | None = None) -> str:
    notebooks = []
    for result in results.values():
        notebooks += [k for k in result["timings_s"] if k not in (*STAGES_AFTER, "total") and k not in notebooks]
    sizes = list(results)
    lines = [f"`segkit report` on the generated {fmt} (bench/generate.py, seed 1), engine {engine}; one run per size; "
             f"Python {platform.python_version()}, {os.cpu_count()} cores; peak = summed RSS of the command and "
             "its kernels, polled every 0.1 s.", "",
             "| stage | " + " | ".join(f"{s} s" for s in sizes) + " | " + " | ".join(f"{s} CPU s" for s in sizes)
             + " | " + " | ".join(f"{s} of which system s" for s in sizes)
             + " | " + " | ".join(f"{s} peak MB" for s in sizes) + " |",
             "| --- |" + " --- |" * (4 * len(sizes))]
    for stage in [*notebooks, *STAGES_AFTER]:
        times = [results[s]["timings_s"].get(stage) for s in sizes]
        cpus = [results[s]["cpu_s_by_stage"].get(stage) for s in sizes]
        systems = [results[s]["sys_s_by_stage"].get(stage) for s in sizes]
        peaks = [results[s]["peak_mb_by_stage"].get(stage) for s in sizes]
        lines.append(f"| {stage} | " + " | ".join("-" if v is None else f"{v:.1f}" for v in times) + " | "
                     + " | ".join("-" if v is None else f"{v:.1f}" for v in cpus) + " | "
                     + " | ".join("-" if v is None else f"{v:.1f}" for v in systems) + " | "
                     + " | ".join("-" if v is None else f"{v:,.0f}" for v in peaks) + " |")
    classic = [sum(results[s]["timings_s"].get(n, 0) for n in CLASSIC) for s in sizes]
    classic_cpu = [sum(results[s]["cpu_s_by_stage"].get(n, 0) for n in CLASSIC) for s in sizes]
    classic_sys = [sum(results[s]["sys_s_by_stage"].get(n, 0) for n in CLASSIC) for s in sizes]
    lines.append("| five classic stages (01, 02, 04, 05, 08; notebooks only) | "
                 + " | ".join(f"{v:.1f}" for v in classic) + " | " + " | ".join(f"{v:.1f}" for v in classic_cpu)
                 + " | " + " | ".join(f"{v:.1f}" for v in classic_sys) + " |" + " |" * len(sizes))
    lines.append("| whole report (manifest total) | " + " | ".join(f"{results[s]['timings_s']['total']:.1f}" for s in sizes)
                 + " |" + " |" * (2 * len(sizes)) + " " + " | ".join(f"**{results[s]['peak_mb']:,.0f}**" for s in sizes)
                 + " |")
    lines.append("| the command, start to exit (wall; CPU and system time of the whole tree) | "
                 + " | ".join(f"{results[s]['wall_s']:.1f}" for s in sizes) + " | "
                 + " | ".join(f"{results[s]['cpu_s']:.1f}" for s in sizes) + " | "
                 + " | ".join(f"{results[s]['sys_s']:.1f}" for s in sizes) + " |" + " |" * len(sizes))
    lines.append("")
    lines.append("Minor page faults of the whole tree: "
                 + "; ".join(f"{s}: {results[s]['minor_faults']:,}" for s in sizes) + ".")
    lines.append("Load average (1, 5, 15 min) at the end of each run: "
                 + "; ".join(f"{s}: {', '.join(f'{x:.1f}' for x in results[s]['load_average'])}" for s in sizes)
                 + f" ({os.cpu_count()} cores).")
    if host is not None:  # the host's own speed, before and after the runs (bench/host_index.py)
        lines.append(f"Before the runs, {host[0]}; after them, {host[1].split(': ', 1)[1]}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1M,10M", help="comma-separated: 1M, 10M, 50M or LINES:CUSTOMERS")
    parser.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb",
                        help="duckdb: the file read by segkit's embedded engine; spark: source.kind spark, local[2]")
    parser.add_argument("--spark-driver-memory", default="6g",
                        help="--engine spark: spark.driver.memory (default 6g; Spark's own 1g runs out at 10M lines)")
    parser.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    parser.add_argument("--no-pdf", action="store_true", help="skip report.pdf")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="a params override for the runs, as `segkit report --set` takes it "
                             "(e.g. report.notebooks_at_once=1); repeatable")
    parser.add_argument("--profile", action="store_true", help="run under py-spy and print where the time goes")
    parser.add_argument("--out", type=Path, default=HERE / ".data" / "reports")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if args.engine == "spark":
        why = spark_available()
        if why:
            raise SystemExit(f"--engine spark: {why}")
        if args.format != "parquet":
            raise SystemExit("--engine spark reads the Parquet file (typed tables only): drop --format csv")
    sys.path.insert(0, str(HERE))
    from generate import generate, parse_size
    from host_index import host_index, index_line

    before = index_line(host_index())
    print(before, file=sys.stderr)
    results = {}
    for size in args.sizes.split(","):
        name, lines, customers = parse_size(size)
        data = HERE / ".data"
        if not (data / f"tx-{name}.{args.format}").is_file():
            generate(lines, customers, data, name, formats=(args.format,), progress=lambda m: print(m, file=sys.stderr))
        params = data / (f"params-{name}.yaml" if args.format == "parquet" else f"params-{name}-csv.yaml")
        if args.engine == "spark":
            params = spark_params(params, data / f"tx-{name}.parquet", args.spark_driver_memory)
        raw = data / f"profile-{name}-{args.engine}.txt" if args.profile else None
        print(f"{name}: segkit report --params {params}", file=sys.stderr)
        results[name] = run_report(params, args.out, pdf=not args.no_pdf, profile=raw,
                                   progress=lambda m: print(m, file=sys.stderr), overrides=args.overrides)
        print(f"{name}: {results[name]['wall_s']:.1f} s, peak {results[name]['peak_mb']:,.0f} MB", file=sys.stderr)
        if args.json:  # after each size, so that a long run interrupted keeps what it measured
            args.json.write_text(json.dumps(results, indent=2))
        if raw is not None:
            summary = profile_summary(raw, [k for k in results[name]["timings_s"] if k not in (*STAGES_AFTER, "total")],
                                      stage_of_pid=results[name]["stage_of_pid"])
            raw.with_suffix(".summary.txt").write_text(summary, encoding="utf-8")
            print(summary, file=sys.stderr)
    after = index_line(host_index())
    print(after, file=sys.stderr)
    text = table(results, args.engine, args.format, host=(before, after))
    print(text)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return text


if __name__ == "__main__":
    main()
