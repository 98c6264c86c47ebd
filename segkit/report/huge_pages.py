"""Transparent huge pages turned off for a report's processes where the machine's host takes free
memory back.

NumPy advises the kernel to back each array of 4 MB or more with transparent huge pages (2 MB pages,
`madvise(MADV_HUGEPAGE)`), and DuckDB's allocator does the same for some of its memory. On a physical
machine that makes a first touch cheaper.

On a virtual machine whose balloon device reports free pages to its host (virtio's free page
reporting, feature bit 5 of the balloon device: Firecracker, QEMU), the guest hands free blocks of
2 MB and more back to the host within seconds, and a huge page is always such a block: every one is
faulted in from the host again. Measured on a 2-core Firecracker VM (docs/benchmarks.md, "Session
17"): filling 1 GB that was freed 5 s before took 7.8-9.4 s in huge pages (6.6-7.9 s of system time)
against 0.86-1.01 s in 4 KB pages, which mostly come from smaller free blocks the guest never
reported; reading the 1M-customer profile stage into pandas took 1.3-4.8 s against 0.3-0.7 s.

So there, and only there, segkit turns transparent huge pages off for its processes with
`prctl(PR_SET_THP_DISABLE)` (Linux 3.15+), which covers every allocator in the process and is
inherited by the processes it starts: the `segkit` command does it first thing, and each report
kernel as it starts. A report started from Python (`segkit.report.runner.run_report`) turns them
off in its kernels only: the calling process (which writes the exports and starts the PDF's
process) is the user's and keeps its setting. `SEGKIT_HUGE_PAGES=keep` leaves the system's setting alone everywhere
(`auto`, the default, decides as above).
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

VIRTIO_DEVICES = Path("/sys/bus/virtio/devices")
BALLOON_DEVICE_ID = 5  # virtio's device id of a memory balloon (virtio spec 1.2, 5.5)
FREE_PAGE_REPORTING = 5  # the balloon's feature bit VIRTIO_BALLOON_F_REPORTING (virtio spec 1.2, 5.5.3)
PR_SET_THP_DISABLE, PR_GET_THP_DISABLE = 41, 42  # linux/prctl.h
KEEP_VARIABLE = "SEGKIT_HUGE_PAGES"  # "keep": leave transparent huge pages as the system has them; "auto"

# Run by each report kernel as it starts (its exec lines) where `huge_pages_unwanted()`: an expression
# whose value is None (nothing displayed) that binds no name in the notebook's namespace.
TURN_OFF_LINE = '__import__("segkit.report.huge_pages", fromlist=["turn_off_huge_pages"]).turn_off_huge_pages()'


def reports_free_pages(devices: Path | None = None) -> bool:
    """Whether this machine is a virtual machine whose virtio balloon reports free pages to its host:
    a device under `devices` (sysfs; default VIRTIO_DEVICES) with device id 5 whose feature bits
    (the `features` file, one character per bit, bit 0 first) have bit 5 set. False wherever the
    files are missing or unreadable (a physical machine, another system, a container without sysfs)."""
    try:
        candidates = list((VIRTIO_DEVICES if devices is None else devices).iterdir())
    except OSError:
        return False
    for device in candidates:
        try:
            if int((device / "device").read_text().strip(), 16) != BALLOON_DEVICE_ID:
                continue
            bits = (device / "features").read_text().strip()
        except (OSError, ValueError):
            continue
        if len(bits) > FREE_PAGE_REPORTING and bits[FREE_PAGE_REPORTING] == "1":
            return True
    return False


def huge_pages_unwanted(environ=None, devices: Path | None = None) -> bool:
    """Whether a report's processes should run without transparent huge pages: the machine reports
    free pages to its host (`reports_free_pages(devices)`) and `environ` (default: this process's)
    does not set SEGKIT_HUGE_PAGES=keep. Another value than keep or auto is warned about (a
    UserWarning naming both) and read as auto."""
    environ = os.environ if environ is None else environ
    setting = environ.get(KEEP_VARIABLE, "").strip().lower()
    if setting == "keep":
        return False
    if setting not in ("", "auto"):
        warnings.warn(f"{KEEP_VARIABLE}={environ[KEEP_VARIABLE]!r} is not a setting segkit knows: keep (leave "
                      "transparent huge pages as the system has them) or auto (the default: off on a virtual "
                      "machine whose host takes free memory back); read as auto", UserWarning, stacklevel=2)
    return reports_free_pages(devices)


def _prctl(option: int, value: int = 0) -> int | None:
    """libc's prctl(option, value, 0, 0, 0); None on a system other than Linux, or where it fails."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
        prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        prctl.restype = ctypes.c_int
        result = prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError, TypeError):  # a libc without prctl, or none to load
        return None
    return None if result < 0 else int(result)


def turn_off_huge_pages(off: bool = True) -> None:
    """Transparent huge pages off (or, with `off` False, allowed again) for this process and the
    processes it starts from now on (PR_SET_THP_DISABLE); nothing where the system has no such switch."""
    _prctl(PR_SET_THP_DISABLE, int(off))


def huge_pages_off() -> bool | None:
    """Whether transparent huge pages are off for this process (PR_GET_THP_DISABLE); None where the
    system cannot say."""
    found = _prctl(PR_GET_THP_DISABLE)
    return None if found is None else bool(found)
