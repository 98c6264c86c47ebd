"""Whether NumPy's arrays should ask for transparent huge pages on this machine.

On Linux, NumPy advises the kernel to back each array of 4 MB or more with transparent huge pages
(2 MB pages, `madvise(MADV_HUGEPAGE)`; the `NUMPY_MADVISE_HUGEPAGE` environment variable, read
when NumPy is imported, turns it off). On a physical machine that makes a first touch cheaper.

On a virtual machine whose balloon device reports free pages to its host (virtio's free page
reporting, feature bit 5 of the balloon device), the guest hands free blocks of 2 MB and more back to
the host within seconds, and a huge page is always such a block: every one is faulted in from the
host again. Measured on a 2-core Firecracker VM (docs/benchmarks.md, "Session 17"): filling 1 GB
that was freed 5 s before took 8.9-9.4 s in huge pages (7.6-7.9 s of system time) against
0.86-0.89 s in 4 KB pages, which mostly come from smaller free blocks the guest never reported;
reading the 1M-customer profile stage into pandas took 1.3-4.8 s against 0.3-0.7 s.
So there, and only there, segkit's report turns NumPy's huge pages off for its processes, unless
the user has set `NUMPY_MADVISE_HUGEPAGE` themselves.
"""

from __future__ import annotations

import os
from pathlib import Path

HUGE_PAGES_VARIABLE = "NUMPY_MADVISE_HUGEPAGE"
VIRTIO_DEVICES = Path("/sys/bus/virtio/devices")
BALLOON_DEVICE_ID = 5  # virtio's device id of a memory balloon (virtio spec 1.2, 5.5)
FREE_PAGE_REPORTING = 5  # the balloon's feature bit VIRTIO_BALLOON_F_REPORTING (virtio spec 1.2, 5.5.3)


def reports_free_pages(devices: Path | None = None) -> bool:
    """Whether this machine is a virtual machine whose virtio balloon reports free pages to its host:
    a device under `devices` (sysfs) with device id 5 whose feature bits (the `features` file, one
    character per bit, bit 0 first) have bit 5 set. False wherever the files are missing or
    unreadable (a physical machine, another system, a container without sysfs). `devices` defaults
    to VIRTIO_DEVICES."""
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


def huge_pages_environment(environ=None, devices: Path | None = None) -> dict[str, str]:
    """What a segkit process's environment gets so that NumPy leaves huge pages alone:
    `{"NUMPY_MADVISE_HUGEPAGE": "0"}` where the machine reports free pages to its host
    (`reports_free_pages`) and `environ` (default: this process's) does not set the variable;
    else nothing."""
    environ = os.environ if environ is None else environ
    if HUGE_PAGES_VARIABLE in environ or not reports_free_pages(devices):
        return {}
    return {HUGE_PAGES_VARIABLE: "0"}
