"""NumPy's transparent huge pages turned off where the machine's host takes free memory back
(segkit.report.huge_pages): found from the virtio balloon's feature bits, given to the run's kernels
and to the command's own process, and never over the user's own setting."""

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from segkit.report import huge_pages
from segkit.report.huge_pages import huge_pages_environment, reports_free_pages

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


def test_the_environment_turns_huge_pages_off_only_where_reported_and_not_set(tmp_path):
    reporting = devices(tmp_path / "yes", (BALLOON, REPORTING))
    quiet = devices(tmp_path / "no", (BALLOON, NOT_REPORTING))
    assert huge_pages_environment({}, reporting) == {"NUMPY_MADVISE_HUGEPAGE": "0"}
    assert huge_pages_environment({}, quiet) == {}
    assert huge_pages_environment({"NUMPY_MADVISE_HUGEPAGE": "1"}, reporting) == {}  # the user's choice


PROBE = ("import json, os, pathlib\nfrom numpy._core import multiarray\n"
         "pathlib.Path(data_dir).write_text(json.dumps({'huge': bool(multiarray._get_madvise_hugepage()), "
         "'variable': os.environ.get('NUMPY_MADVISE_HUGEPAGE')}))")


@pytest.mark.parametrize("reporting, users, expected", [
    (True, None, {"huge": False, "variable": "0"}),
    (True, "1", {"huge": True, "variable": "1"}),
    (False, None, {"huge": True, "variable": None}),
])
def test_a_runs_kernel_has_numpys_huge_pages_off_where_the_host_takes_memory_back(tmp_path, monkeypatch,
                                                                                   reporting, users, expected):
    """A kernel started by the runner imports NumPy with its huge pages off on a reporting machine,
    keeps them on elsewhere (NumPy's default on Linux), and keeps the user's own setting."""
    from segkit.report import runner

    monkeypatch.setattr(huge_pages, "VIRTIO_DEVICES",
                        devices(tmp_path / "devices", (BALLOON, REPORTING if reporting else NOT_REPORTING)))
    if users is None:
        monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE", raising=False)
    else:
        monkeypatch.setenv("NUMPY_MADVISE_HUGEPAGE", users)
    made = nbformat.v4.new_notebook()
    made.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    made.cells = [nbformat.v4.new_code_cell('params_path = ""\ndata_dir = ""\noverrides = []',
                                            metadata={"tags": ["parameters"]}),
                  nbformat.v4.new_code_cell(PROBE)]
    source, out = tmp_path / "probe.ipynb", tmp_path / "pages.json"
    nbformat.write(made, source)
    runner.execute_notebook(source, tmp_path / "executed.ipynb", {"params_path": "", "data_dir": str(out),
                                                                   "overrides": []}, tmp_path, "probe")
    assert json.loads(out.read_text()) == expected
    assert os.environ.get("NUMPY_MADVISE_HUGEPAGE") == users  # the runner's own environment is left alone


def command_process(tmp_path: Path, features: str, before: str = "") -> dict:
    """What a process that starts as `segkit` does (`segkit.cli.main` first calls `_leave_huge_pages`)
    reports of NumPy's huge pages, on a machine whose balloon has `features`; `before` runs first."""
    root = devices(tmp_path / f"devices-{features[5]}-{bool(before)}", (BALLOON, features))
    code = (f"{before}\nimport segkit.report.huge_pages as h, pathlib\nh.VIRTIO_DEVICES = pathlib.Path({str(root)!r})\n"
            "from segkit.cli import _leave_huge_pages\n_leave_huge_pages()\n"
            "import json, os\nfrom numpy._core import multiarray\n"
            "print(json.dumps({'huge': bool(multiarray._get_madvise_hugepage()), "
            "'variable': os.environ.get('NUMPY_MADVISE_HUGEPAGE')}))")
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout)


def test_the_command_turns_huge_pages_off_for_itself_before_numpy_is_imported(tmp_path):
    assert command_process(tmp_path, REPORTING) == {"huge": False, "variable": "0"}
    assert command_process(tmp_path, NOT_REPORTING) == {"huge": True, "variable": None}
    # imported already (segkit called from a notebook): NumPy has read its setting; nothing is changed
    assert command_process(tmp_path, REPORTING, before="import numpy") == {"huge": True, "variable": None}
