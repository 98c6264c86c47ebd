import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI") == "true"


def require_tool(name: str) -> str:
    """The path of a system tool the test needs; skipped on a developer machine without it,
    but a failure in CI, where ./run.sh test installs it."""
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is not installed; ./run.sh test installs it")
        pytest.skip(f"{name} is not installed (./run.sh test installs it)")
    return path


def as_frame(transactions):
    """An intake's transactions as a pandas frame in file order: a frame as it is, a table in the
    engine (a typed or plainly written file read there) fetched, for tests that look at the rows."""
    if hasattr(transactions, "to_pyarrow"):
        return transactions.order_by("source_row").to_pandas()
    return transactions


def shows_nan_or_inf(page: str) -> bool:
    """Whether a page's text shows "nan" or "inf" as a word (a number that is not one): its images'
    data: URIs left out, whose base64 spells "/nan+" now and then."""
    import re

    text = re.sub(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=]+", "", page)
    return re.search(r"\bnan\b|\binf\b", text, re.IGNORECASE) is not None


def write_params(folder: Path, name: str = "tiny", **changes) -> Path:
    """A small demo params file (300 customers, one year) with `changes` merged in (dotted keys)."""
    params = {
        "run_name": name, "lang": "en", "as_of": "2024-12-31",
        "source": {"kind": "demo", "demo": {"customers": 300, "start": "2024-01-01", "months": 12,
                                            "seed": 7, "defects": 0.02}},
        "cluster": {"k_min": 2, "k_max": 4, "random_state": 0},
    }
    for dotted, value in changes.items():
        node = params
        *parents, leaf = dotted.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    return path


def write_mall_table(path: Path, customers: int = 120) -> Path:
    """The "mall customers" layout practice data sets use (id, gender, age, income, a 1-100 spending
    score; no recency, no order count), seeded: a customer-level source with spend only."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(3)
    pd.DataFrame({"CustomerID": range(1, customers + 1), "Gender": rng.choice(["Male", "Female"], customers),
                  "Age": rng.integers(18, 70, customers), "Annual Income (k$)": rng.integers(15, 140, customers),
                  "Spending Score (1-100)": rng.integers(1, 100, customers)}).to_csv(path, index=False)
    return path


@pytest.fixture
def tiny_params(tmp_path) -> Path:
    return write_params(tmp_path)


@pytest.fixture(scope="session")
def en_run(tmp_path_factory):
    """(params path, RunResult) of one whole English report on the tiny demo, shared by every test
    file that reads a report: add assertions on it rather than new whole-report runs."""
    from segkit.report.runner import run_report

    folder = tmp_path_factory.mktemp("en")
    params = write_params(folder, "tiny")

    def pages_so_far(message: str) -> None:  # which section pages the run had written at each step
        PAGES_DURING_EN_RUN.append((message, sorted(page.stem for page in (folder / "reports").glob(".tiny*/*.html"))))

    # each notebook's reads and writes of stage files and run.json entries (tests/test_schedule.py)
    logs = folder / "stage-log"
    logs.mkdir()
    os.environ["SEGKIT_STAGE_LOG_DIR"] = str(logs)
    try:
        return params, run_report(params, reports_dir=folder / "reports", progress=pages_so_far)
    finally:
        del os.environ["SEGKIT_STAGE_LOG_DIR"]


PAGES_DURING_EN_RUN: list[tuple[str, list[str]]] = []


@pytest.fixture(scope="session")
def zh_run(tmp_path_factory):
    """The same report in Chinese, on the same data with its values in Chinese (as demo-zh.yaml)."""
    from segkit.report.runner import run_report

    folder = tmp_path_factory.mktemp("zh")
    params = write_params(folder, "tiny-zh", lang="zh", source__demo__lang="zh")
    return params, run_report(params, reports_dir=folder / "reports")


def replaying(done: Path, calls: list, fail_at: str | None = None):
    """An execute_notebook that copies what `done` (a finished run folder) made, notebook by notebook:
    the rest of the runner (HTML, index, exports, manifest, the move into place, the history) then runs
    for real in seconds (monkeypatch `segkit.report.runner.execute_notebook` with it)."""
    def fake(source, target, parameters, cwd, notebook, *args, **kwargs):
        calls.append(notebook)
        if notebook == fail_at:
            from segkit.report.runner import ReportError

            raise ReportError(f"notebook {notebook} failed in cell 3 (RuntimeError: planted)")
        data = Path(parameters["data_dir"])
        if not any(data.iterdir()):
            shutil.copytree(done / "data", data, dirs_exist_ok=True)
        shutil.copy(done / "executed" / f"{notebook}.ipynb", target)
    return fake


def run_segkit(*args, cwd=ROOT, check=False, env=None) -> subprocess.CompletedProcess:
    """The `segkit` script of this environment with `args`; `env`: variables set (a value None: unset)."""
    exe = Path(sys.executable).with_name("segkit")
    environ = None
    if env is not None:
        environ = {**os.environ, **env}
        environ = {key: value for key, value in environ.items() if value is not None}
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, check=check, timeout=900,
                          env=environ)


def chromium(*args, tmp_path) -> subprocess.CompletedProcess:
    """Headless Chromium (Debian's), offline, with a fresh profile: `chromium("--dump-dom", url, tmp_path=...)`."""
    browser = require_tool("chromium")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
             f"--user-data-dir={tmp_path / 'chromium-profile'}"]
    return subprocess.run([browser, *flags, *args], capture_output=True, text=True, timeout=120)


SHARED_REPORTS = {"en_run", "zh_run"}


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the groups into the test ids
def pytest_collection_modifyitems(config, items):
    """With several workers (`./run.sh test` runs pytest-xdist with --dist loadgroup), the tests that
    share a fixture made once per worker go to one worker, so that it is made once: those that read
    the shared English and Chinese reports, and those that use a test module's own module- or
    session-scoped fixture (a whole report, a Spark session, a PostgreSQL server)."""
    for item in items:
        group = _shared_fixture_group(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))


def pytest_configure(config):
    """Refuse, with what to do, a pytest and pytest-xdist that do not group tests under --dist loadgroup:
    pytest 9.2's test ids break pytest-xdist 3.8's groups (pytest-xdist#1386) without a word, and every
    worker then makes every shared report (the suite takes minutes longer)."""
    if config.getoption("dist", "no") != "loadgroup":
        return
    from importlib.metadata import version

    from packaging.version import Version

    if Version(pytest.__version__) >= Version("9.2") and Version(version("pytest-xdist")) <= Version("3.8"):
        raise pytest.UsageError(f"pytest {pytest.__version__} with pytest-xdist {version('pytest-xdist')} ignores "
                                "--dist loadgroup (pytest-xdist#1386); install the versions of pyproject.toml's dev "
                                "extra: pip install -e '.[dev]'")


def _shared_fixture_group(item) -> str | None:
    """The xdist group of a test: "shared_reports" when it reads en_run or zh_run, the test module's
    path when it uses a fixture of that module made once per module or session, else None. A name
    passed as a parameter counts as used (tests that take their report by `request.getfixturevalue`)."""
    names = set(getattr(item, "fixturenames", ()))
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        names |= {value for value in callspec.params.values() if isinstance(value, str)}
    if SHARED_REPORTS & names:
        return "shared_reports"
    manager = item.session._fixturemanager
    for name in sorted(names):
        for fixture in manager.getfixturedefs(name, item) or ():
            if fixture.scope in ("module", "session") and fixture.baseid.endswith(".py"):
                return fixture.baseid
    return None
