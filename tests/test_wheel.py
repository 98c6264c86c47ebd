"""Installed like any package: segkit's own wheel, in a fresh environment, makes a report from an
empty folder (with the notebooks the wheel carries) and `segkit init` fills a project folder. The
report runs with only what `./run.sh demo` installs (segkit[postgres,excel]): the packages that only
the test, notebook, Spark and benchmark extras bring cannot be imported by it or its kernels. The
report is the shipped demo's (params/demo.yaml), whose figures are checked against the package."""

import os
import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT, shows_nan_or_inf
from hidden_modules import installed_only_by_extras, without_modules

from segkit.report.pages import format_kpis
from test_report import independent_kpis, shown_kpis

pytestmark = pytest.mark.slow


def test_the_wheel_makes_a_report_from_an_empty_folder(tmp_path):
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w",
                            str(tmp_path / "wheel")], capture_output=True, text=True, timeout=900)
    assert built.returncode == 0, built.stderr
    wheel = next((tmp_path / "wheel").glob("segkit-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert f"segkit/project/notebooks/{notebook.name}" in names
    assert {"segkit/project/params/demo.yaml", "segkit/project/params/monthly.yaml",
            "segkit/locale/messages.yaml", "segkit/locale/messages_migration.yaml"} <= names

    # a fresh environment: the wheel's segkit, over this environment's dependencies
    fresh = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(fresh)], check=True, timeout=300)
    python = fresh / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", site,
                                str(wheel)], capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr
    outer = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(site, "segkit-test-deps.pth").write_text("\n".join(sorted(outer)) + "\n", encoding="utf-8")
    where = subprocess.run([str(python), "-c", "import segkit; print(segkit.__file__)"], capture_output=True,
                           text=True, check=True, cwd=tmp_path).stdout.strip()
    assert where.startswith(site), where  # the wheel's segkit, not the checkout's

    empty = tmp_path / "empty"
    empty.mkdir()
    # the shipped demo params, as the README's `./run.sh demo` runs them (its figures checked below)
    params = ROOT / "params" / "demo.yaml"
    segkit = [str(python), "-c", "import sys; from segkit.cli import main; sys.argv[0] = 'segkit'; main()"]
    # the dependencies' data files (nbconvert's templates) live under this environment's prefix, where
    # pip put them; a real install puts them under the new environment's own
    env = {**os.environ, "JUPYTER_PATH": str(Path(sys.prefix) / "share" / "jupyter")}
    # what the README's demo installs, no more: a DuckDB setting that needed ipywidgets (only the notebook
    # and test extras bring it) stopped every report of a fresh `./run.sh demo` while this suite passed
    hidden = installed_only_by_extras("segkit", ("postgres", "excel"))
    assert "ipywidgets" in hidden and "pytest" in hidden and "pandas" not in hidden
    env.update(without_modules(tmp_path, hidden))
    done = subprocess.run([*segkit, "report", "--params", str(params), "--no-pdf"], cwd=empty,
                          capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    folder = empty / "reports" / "demo"
    assert (folder / "06_migration.html").is_file()
    executed = (folder / "executed" / "01_cleaning.ipynb").read_text(encoding="utf-8")
    assert "Data cleaning" in executed
    # the demo's headline figures are what the package computes without notebooks (the checkout's segkit)
    shown = shown_kpis((folder / "index.html").read_text(encoding="utf-8"))
    expected_params, expected = independent_kpis(params)
    assert shown == {key: value for key, _, value in format_kpis(expected, expected_params)}
    pages = {page: (folder / f"{page}.html").read_text(encoding="utf-8")
             for page in ("03_customer_value", "05_evaluation", "08_case_study")}
    assert not shows_nan_or_inf("".join(pages.values()))
    assert "NPS" in pages["08_case_study"] and "Product breadth" in pages["08_case_study"]

    project = tmp_path / "project"
    made = subprocess.run([*segkit, "init", str(project)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert sorted(p.name for p in (project / "notebooks").glob("*.ipynb")) == \
        sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    (project / "params" / "demo.yaml").write_text("run_name: mine\n", encoding="utf-8")
    again = subprocess.run([*segkit, "init", str(project)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert "kept" in again.stderr and (project / "params" / "demo.yaml").read_text() == "run_name: mine\n"
