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

`--pages huge,small` fills the arrays once with transparent huge pages allowed (NumPy asks for them
for its large arrays; the system's mode must be madvise or always) and once with them off for the
process, in 4 KB pages, as segkit's processes run where the host takes free memory back
(`segkit.report.huge_pages`): a huge page is always a whole 2 MB block, the size such a guest
reports to its host.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np


def use_huge_pages(on: bool) -> None:
    """Transparent huge pages allowed (on) or off for this process from now on, with the switch segkit
    uses (`prctl(PR_SET_THP_DISABLE)`, `segkit.report.huge_pages`); NumPy asks for them for its large
    arrays unless NUMPY_MADVISE_HUGEPAGE=0 was set when it was imported."""
    from segkit.report.huge_pages import turn_off_huge_pages

    turn_off_huge_pages(not on)


def system_mode() -> str:
    """The system's transparent huge page mode (always, madvise or never), or "unknown"."""
    try:
        text = open("/sys/kernel/mm/transparent_hugepage/enabled", encoding="ascii").read()
    except OSError:
        return "unknown"
    return next((word.strip("[]") for word in text.split() if word.startswith("[")), "unknown")


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
                        help="comma-separated: huge (transparent huge pages allowed, which NumPy asks for), small "
                             "(off for the process, 4 KB pages), default (as the process started; the default)")
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
    from segkit.report.huge_pages import huge_pages_off, reports_free_pages

    started_off = bool(huge_pages_off())
    reporting = "reports" if reports_free_pages() else "does not report"
    lines = [f"Filling {args.mb} MB again after freeing it (one process; this machine {reporting} free pages "
             f"to a host; the system's huge page mode: {system_mode()}; huge pages off for this process at "
             f"the start: {'yes' if started_off else 'no'}):", "",
             "| pages | pause s | wall s | user s | system s | wall s per GB |",
             "| --- | --- | --- | --- | --- | --- |"]
    try:
        for kind in pages:
            use_huge_pages(not started_off if kind == "default" else kind == "huge")
            for pause in pauses:
                r = touch_after(args.mb, pause)
                lines.append(f"| {kind} | {r['pause_s']:g} | {r['wall_s']:.2f} | {r['user_s']:.2f} | "
                             f"{r['sys_s']:.2f} | {r['wall_s_per_gb']:.2f} |")
    finally:
        use_huge_pages(not started_off)
    text = "\n".join(lines)
    print(text)
    return text


if __name__ == "__main__":
    main()
