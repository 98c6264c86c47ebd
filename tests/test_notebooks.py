"""The notebooks are committed clean, take only literals from papermill, and hold no logic."""

import ast
import json

import pytest

from conftest import ROOT
from segkit.report.pages import CUSTOMER_TABLE_NOTEBOOKS
from segkit.report.runner import NOTEBOOKS

NAMES = sorted({*NOTEBOOKS, *CUSTOMER_TABLE_NOTEBOOKS})
PATHS = [ROOT / "notebooks" / f"{name}.ipynb" for name in NAMES]


def test_every_notebook_in_the_folder_is_run_by_some_source():
    assert sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb")) == NAMES


@pytest.mark.parametrize("path", PATHS, ids=NAMES)
def test_committed_without_outputs(path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, path.name


@pytest.mark.parametrize("path", PATHS, ids=NAMES)
def test_one_parameters_cell_of_literals(path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    tagged = [c for c in notebook["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1
    tree = ast.parse("".join(tagged[0]["source"]))
    names = set()
    for node in tree.body:
        assert isinstance(node, ast.Assign), ast.dump(node)
        ast.literal_eval(node.value)  # raises unless a literal
        names.add(node.targets[0].id)
    assert names == {"params_path", "data_dir", "overrides"}
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", PATHS, ids=NAMES)
def test_no_logic_in_notebooks(path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        for node in ast.walk(ast.parse("".join(cell["source"]))):
            assert not isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Lambda, ast.For, ast.While)), \
                f"{path.name}: move this logic into segkit"
