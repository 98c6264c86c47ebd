"""What touching memory costs on this machine: memory just freed against memory freed a while ago.

    .venv/bin/python bench/memory_probe.py               # 512 MB, pauses 0, 1, 3, 6 and 12 s
    .venv/bin/python bench/memory_probe.py --mb 1024 --pauses 0,5
    .venv/bin/python bench/memory_probe.py --mb 1024 --pauses 0,5 --pages huge,small

In one process: fill an array of `--mb` MB, free it, wait `pause` seconds, fill one of the same size
again and time that second fill (wall, and the process's user and system CPU). On a machine where
memory the processes give back stays the guest's, every pause gives about the same time. A virtual
machine whose host takes back free memory (Firecracker's and QEMU's free page reporting through
virtio-balloon: the guest reports free blocks after a few seconds and the host drops them) makes
the next touch of those pages fault into the host, which shows as system time. A run that frees and
reallocates a lot (a process per notebook, engines that give memory back after each query) then
spends part of its CPU time there: compare `bench_report.py`'s system-time column.

`--pages huge,small` fills the arrays once with NumPy's transparent huge pages (its default on Linux)
and once in 4 KB pages (as segkit's processes run where the host takes free memory back:
`segkit.report.huge_pages`): a huge page is always a whole 2 MB block, the size such a guest reports
to its host.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np


def use_huge_pages(on: bool) -> None:
    """NumPy's transparent huge pages on or off for the arrays made from now on in this process."""
    from numpy._core import multiarray

    multiarray._set_madvise_hugepage(on)


def touch_after(megabytes: int, pause: float) -> dict:
    """Fill, free, wait `pause` s, fill again; the second fill's wall and CPU seconds, and per GB."""
    count = megabytes * 2**20 // 8
    first = np.ones(count)
    del first
    time.sleep(pause)
    before, tick = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    again = np.ones(count)
    wall = time.perf_counter() - tick
    after = resource.getrusage(resource.RUSAGE_SELF)
    del again
    return {"pause_s": pause, "wall_s": wall, "user_s": after.ru_utime - before.ru_utime,
            "sys_s": after.ru_stime - before.ru_stime, "wall_s_per_gb": wall / (megabytes / 1024)}


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=512, help="the array's size in MB (default 512)")
    parser.add_argument("--pauses", default="0,1,3,6,12", help="seconds between the free and the second fill")
    parser.add_argument("--pages", default="default",
                        help="comma-separated: huge (NumPy's transparent huge pages), small (4 KB pages), "
                             "default (as NumPy was imported; the default)")
    args = parser.parse_args(argv)
    if args.mb <= 0:
        raise SystemExit("--mb must be a positive number of MB")
    try:
        pauses = [float(p) for p in args.pauses.split(",")]
    except ValueError:
        raise SystemExit(f"--pauses must be numbers of seconds separated by commas, got {args.pauses!r}") from None
    pages = [p.strip() for p in args.pages.split(",")]
    if not pages or set(pages) - {"huge", "small", "default"}:
        raise SystemExit(f"--pages takes huge, small or default, separated by commas, got {args.pages!r}")
    from segkit.report.huge_pages import reports_free_pages

    from numpy._core import multiarray

    imported = multiarray._get_madvise_hugepage()
    reporting = "reports" if reports_free_pages() else "does not report"
    lines = [f"Filling {args.mb} MB again after freeing it (one process; this machine {reporting} free pages "
             "to a host):", "",
             "| pages | pause s | wall s | user s | system s | wall s per GB |",
             "| --- | --- | --- | --- | --- | --- |"]
    for kind in pages:
        use_huge_pages(imported if kind == "default" else kind == "huge")
        for pause in pauses:
            r = touch_after(args.mb, pause)
            lines.append(f"| {kind} | {r['pause_s']:g} | {r['wall_s']:.2f} | {r['user_s']:.2f} | {r['sys_s']:.2f} | "
                         f"{r['wall_s_per_gb']:.2f} |")
    use_huge_pages(imported)
    text = "\n".join(lines)
    print(text)
    return text


if __name__ == "__main__":
    main()
