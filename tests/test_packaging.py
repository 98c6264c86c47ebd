"""The project's own files: dependencies in step, the README's two commands, CI running one of them."""

import re
import tomllib

import yaml

from conftest import ROOT


def normalise(requirement: str) -> str:
    return re.sub(r"\s+", "", requirement).lower()


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda, pip = [], []
    for item in env["dependencies"]:
        if isinstance(item, dict):
            pip += [p for p in item["pip"] if not p.startswith("-e")]
        elif not item.startswith(("python", "pip")):
            conda.append(item)
    assert sorted(map(normalise, conda + pip)) == sorted(map(normalise, project["dependencies"]))
    python = next(i for i in env["dependencies"] if isinstance(i, str) and i.startswith("python"))
    assert python.removeprefix("python") == project["requires-python"]


def test_readme_opens_with_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick_start = readme.split("## Quick start", 1)[1]
    first_block = re.search(r"```(?:bash|sh)?\n(.*?)```", quick_start, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines() if line.split("#")[0].strip()]
    assert commands == ["./run.sh demo", "./run.sh test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert [line for line in ci.splitlines() if line.startswith("./")] == ["./run.sh test"]


def test_the_sample_data_and_its_licence_travel_with_the_package():
    data = ROOT / "segkit" / "datasets"
    assert (data / "cdnow_master.txt.gz").is_file() and (data / "LICENSE-lifetimes-MIT.txt").is_file()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "*.gz" in project["tool"]["setuptools"]["package-data"]["segkit.datasets"]


def test_the_readme_python_example_runs(capsys, monkeypatch):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    example = re.search(r"## Using the package\n+```python\n(.*?)```", readme, re.S).group(1)
    monkeypatch.chdir(ROOT)
    exec(compile(example, "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "champions" in printed and "cut_points" in printed
