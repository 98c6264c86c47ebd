"""`import segkit` is cheap (names load on first use, PEP 562) and the public API is unchanged.

Each check runs in a fresh interpreter: within this test process segkit and its heavy
dependencies are long imported.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# what `import segkit` alone must not load: each costs 0.1-1.5 s per notebook kernel
HEAVY = ("sklearn", "scipy", "scipy.stats", "ibis", "matplotlib", "seaborn", "pandas", "numpy", "duckdb", "pydantic",
         "pyarrow", "papermill")


def run_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_import_segkit_loads_no_heavy_library():
    out = run_python("import sys, json, segkit; print(json.dumps(sorted(m for m in %r if m in sys.modules)))" % (HEAVY,))
    assert json.loads(out) == []


def test_every_public_name_resolves_both_ways():
    out = run_python(
        "import json, segkit\n"
        "missing = [n for n in segkit.__all__ if getattr(segkit, n, None) is None]\n"
        "ns = {}\n"
        "exec('from segkit import ' + ', '.join(segkit.__all__), ns)\n"
        "same = all(ns[n] is getattr(segkit, n) for n in segkit.__all__)\n"
        "exec('from segkit import *', ns)\n"
        "star = [n for n in segkit.__all__ if n not in ns]\n"
        "print(json.dumps({'n': len(segkit.__all__), 'missing': missing, 'same': same, 'star': star,\n"
        "                  'dup': len(segkit.__all__) - len(set(segkit.__all__)), 'dir': sorted(set(segkit.__all__) - set(dir(segkit)))}))")
    found = json.loads(out)
    assert found["n"] > 100
    assert found["missing"] == [] and found["star"] == [] and found["dir"] == []
    assert found["same"] and found["dup"] == 0


def test_a_name_loads_only_its_own_module():
    # the RFM scorer needs neither scikit-learn's clusterers nor Ibis nor the charts
    out = run_python("import sys, json, segkit; segkit.RFMScorer; segkit.t('nb04.title', 'en');"
                     "print(json.dumps(sorted(m for m in ('sklearn', 'ibis', 'matplotlib', 'seaborn') if m in sys.modules)))")
    assert json.loads(out) == []


def notebook_attribute_chains() -> list[str]:
    chains = set()
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == "code":
                chains |= set(re.findall(r"\bsegkit(?:\.[A-Za-z_]\w*){2,3}", "".join(cell["source"])))
    return sorted(chains)


def test_module_paths_the_notebooks_use_resolve_without_importing_them_first():
    chains = notebook_attribute_chains()
    assert "segkit.models.cluster.cluster_stage" in chains  # the scan finds what 04 calls
    out = run_python("import json, functools, segkit\n"
                     f"chains = {chains!r}\n"
                     "bad = []\n"
                     "for chain in chains:\n"
                     "    try:\n"
                     "        functools.reduce(getattr, chain.split('.')[1:], segkit)\n"
                     "    except AttributeError as err:\n"
                     "        bad.append(f'{chain}: {err}')\n"
                     "print(json.dumps(bad))")
    assert json.loads(out) == []


@pytest.mark.parametrize("expression, message", [
    ("segkit.no_such_name", "module 'segkit' has no attribute 'no_such_name'"),
    ("segkit.models.no_such_module", "module 'segkit.models' has no attribute 'no_such_module'"),
])
def test_unknown_names_are_attribute_errors(expression, message):
    out = run_python("import segkit\n"
                     "try:\n"
                     f"    {expression}\n"
                     "except AttributeError as err:\n"
                     "    print(err)\n")
    assert out.strip() == message


def test_a_broken_module_reports_its_own_import_error(tmp_path):
    # a lazy name must not hide a real import failure of its module behind "no attribute"
    (tmp_path / "sitecustomize.py").write_text("import sys; sys.modules['sklearn'] = None\n")
    done = subprocess.run([sys.executable, "-c", "import segkit; segkit.RFMClusterer"], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert done.returncode != 0
    assert "sklearn" in done.stderr and "ModuleNotFoundError" in done.stderr
