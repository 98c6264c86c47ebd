"""Transparent huge pages turned off where the machine's host takes free memory back
(segkit.report.huge_pages): found from the virtio balloon's feature bits, turned off by the run's
kernels and by the command for itself and what it starts, unless the user keeps them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from segkit.report import huge_pages
from segkit.report.huge_pages import huge_pages_unwanted, reports_free_pages

BALLOON, NET = "0x0005", "0x0001"
REPORTING = "0110010100000000000000000000000010000000"  # this machine's balloon: bits 1, 2, 5 and 7 (and 32)
NOT_REPORTING = "0110000100000000000000000000000010000000"  # the same without bit 5


def devices(root: Path, *found: tuple[str, str]) -> Path:
    """A sysfs `virtio/devices` folder holding one device per (device id, feature bits)."""
    root.mkdir(parents=True, exist_ok=True)
    for number, (device, features) in enumerate(found):
        folder = root / f"virtio{number}"
        folder.mkdir()
        (folder / "device").write_text(device + "\n")
        (folder / "features").write_text(features + "\n")
    return root


@pytest.mark.parametrize("found, expected", [
    ([(BALLOON, REPORTING)], True),
    ([(NET, REPORTING), (BALLOON, REPORTING)], True),  # the balloon among other devices
    ([(BALLOON, NOT_REPORTING)], False),
    ([(NET, REPORTING)], False),  # bit 5 of another device means something else
    ([(BALLOON, "01100")], False),  # too few bits to hold bit 5
    ([], False),
])
def test_free_page_reporting_is_read_from_the_balloons_feature_bits(tmp_path, found, expected):
    assert reports_free_pages(devices(tmp_path / "devices", *found)) is expected


def test_a_machine_without_virtio_or_with_unreadable_files_does_not_report(tmp_path):
    assert reports_free_pages(tmp_path / "missing") is False
    root = devices(tmp_path / "devices", (BALLOON, REPORTING))
    (root / "virtio0" / "device").write_text("balloon\n")  # not a number: skipped, not an error
    assert reports_free_pages(root) is False
    (root / "virtio0" / "device").write_text(BALLOON)
    (root / "virtio0" / "features").unlink()
    assert reports_free_pages(root) is False


def test_huge_pages_are_unwanted_only_where_reported_and_not_kept(tmp_path):
    reporting = devices(tmp_path / "yes", (BALLOON, REPORTING))
    quiet = devices(tmp_path / "no", (BALLOON, NOT_REPORTING))
    assert huge_pages_unwanted({}, reporting) is True
    assert huge_pages_unwanted({}, quiet) is False
    assert huge_pages_unwanted({"SEGKIT_HUGE_PAGES": "keep"}, reporting) is False  # the user's choice
    assert huge_pages_unwanted({"SEGKIT_HUGE_PAGES": ""}, reporting) is True


def test_an_unknown_setting_is_warned_about_and_read_as_auto(tmp_path):
    reporting = devices(tmp_path / "yes", (BALLOON, REPORTING))
    with pytest.warns(UserWarning, match=r"SEGKIT_HUGE_PAGES='on' is not a setting segkit knows: keep .* or auto"):
        assert huge_pages_unwanted({"SEGKIT_HUGE_PAGES": "on"}, reporting) is True
    assert huge_pages_unwanted({"SEGKIT_HUGE_PAGES": "Auto"}, reporting) is True


def _switchable() -> bool:
    """Linux 5.0+ with transparent huge pages, and not turned off for this test process already: the
    THP_enabled field of /proc/self/status says whether PR_SET_THP_DISABLE took."""
    try:
        return thp_enabled(Path("/proc/self/status").read_text()) == 1
    except (OSError, StopIteration):
        return False


needs_the_switch = pytest.mark.skipif("not _switchable()", reason="needs Linux 5.0+ with transparent huge pages "
                                      "allowed for this process (/proc/self/status THP_enabled: 1)")


def thp_enabled(status: str) -> int:
    """The THP_enabled field of a /proc/<pid>/status text (Linux 5.0+): 0 once PR_SET_THP_DISABLE is set."""
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("THP_enabled:")))


PROBE = ("import json, pathlib\n"
         "pathlib.Path(data_dir).write_text(json.dumps({'thp': pathlib.Path('/proc/self/status').read_text(), "
         "'bound': sorted(n for n in ('turn_off_huge_pages', 'huge_pages') if n in globals())}))")


@needs_the_switch
@pytest.mark.parametrize("reporting, keep, expected", [(True, False, 0), (True, True, 1), (False, False, 1)])
def test_a_runs_kernel_runs_without_huge_pages_where_the_host_takes_memory_back(tmp_path, monkeypatch,
                                                                                reporting, keep, expected):
    """A kernel started by the runner turns transparent huge pages off for itself on a reporting
    machine (binding no name), keeps them elsewhere or with SEGKIT_HUGE_PAGES=keep; the runner's own
    process is left as it was."""
    from segkit.report import runner

    monkeypatch.setattr(huge_pages, "VIRTIO_DEVICES",
                        devices(tmp_path / "devices", (BALLOON, REPORTING if reporting else NOT_REPORTING)))
    if keep:
        monkeypatch.setenv("SEGKIT_HUGE_PAGES", "keep")
    else:
        monkeypatch.delenv("SEGKIT_HUGE_PAGES", raising=False)
    before = huge_pages.huge_pages_off()
    made = nbformat.v4.new_notebook()
    made.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    made.cells = [nbformat.v4.new_code_cell('params_path = ""\ndata_dir = ""\noverrides = []',
                                            metadata={"tags": ["parameters"]}),
                  nbformat.v4.new_code_cell(PROBE)]
    source, out = tmp_path / "probe.ipynb", tmp_path / "pages.json"
    nbformat.write(made, source)
    runner.execute_notebook(source, tmp_path / "executed.ipynb", {"params_path": "", "data_dir": str(out),
                                                                   "overrides": []}, tmp_path, "probe")
    seen = json.loads(out.read_text())
    assert thp_enabled(seen["thp"]) == expected and seen["bound"] == []
    assert huge_pages.huge_pages_off() == before


def command_process(tmp_path: Path, features: str, keep: bool = False) -> dict:
    """What a process that starts as `segkit` does (`segkit.cli.main` first calls `_leave_huge_pages`)
    says of transparent huge pages, for itself and for a process it starts, on a machine whose balloon
    has `features`."""
    root = devices(tmp_path / f"devices-{features[5]}-{keep}", (BALLOON, features))
    code = (f"import segkit.report.huge_pages as h, pathlib, subprocess, json\n"
            f"h.VIRTIO_DEVICES = pathlib.Path({str(root)!r})\n"
            "from segkit.cli import _leave_huge_pages\n_leave_huge_pages()\n"
            "child = subprocess.run(['cat', '/proc/self/status'], capture_output=True, text=True).stdout\n"
            "print(json.dumps({'off': h.huge_pages_off(), 'own': pathlib.Path('/proc/self/status').read_text(), "
            "'child': child}))")
    env = {k: v for k, v in os.environ.items() if k != "SEGKIT_HUGE_PAGES"}
    if keep:
        env["SEGKIT_HUGE_PAGES"] = "keep"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    found = json.loads(done.stdout)
    return {"off": found["off"], "own": thp_enabled(found["own"]), "child": thp_enabled(found["child"])}


@needs_the_switch
def test_the_command_turns_huge_pages_off_for_itself_and_what_it_starts(tmp_path):
    assert command_process(tmp_path, REPORTING) == {"off": True, "own": 0, "child": 0}
    assert command_process(tmp_path, NOT_REPORTING) == {"off": False, "own": 1, "child": 1}
    assert command_process(tmp_path, REPORTING, keep=True) == {"off": False, "own": 1, "child": 1}
