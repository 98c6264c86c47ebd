"""Python processes that cannot import given modules, as on a machine where the packages are not
installed: a `sitecustomize` on PYTHONPATH puts a finder first on `sys.meta_path` that refuses them.
Child processes (the report's kernels, the PDF's process) inherit the environment, and so the refusal.
`installed_only_by_extras` names what `pip install segkit[extras]` would not bring."""

from __future__ import annotations

import os
from pathlib import Path

SITECUSTOMIZE = '''import os
import sys

_HIDDEN = frozenset(filter(None, os.environ.get("SEGKIT_TEST_HIDDEN_MODULES", "").split(",")))


class _Hidden:
    """Refuses the hidden top-level modules and everything under them."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in _HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _Hidden())
'''


def without_modules(folder: Path, names) -> dict[str, str]:
    """The environment variables that hide the top-level modules `names` from a Python process."""
    where = Path(folder) / "hidden-modules"
    where.mkdir(parents=True, exist_ok=True)
    (where / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    path = os.pathsep.join(filter(None, [str(where), os.environ.get("PYTHONPATH", "")]))
    return {"PYTHONPATH": path, "SEGKIT_TEST_HIDDEN_MODULES": ",".join(sorted(names))}


def installed_only_by_extras(project: str = "segkit", extras=("postgres", "excel")) -> set[str]:
    """The top-level modules of the distributions installed here that `pip install project[extras]`
    would not install: neither the project's requirements with those extras nor what they require."""
    from importlib.metadata import PackageNotFoundError, distribution, distributions

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    needed: set[str] = set()
    pending = [(project, set(extras))]
    while pending:
        name, wanted = pending.pop()
        key = canonicalize_name(name)
        try:
            found = distribution(name)
        except PackageNotFoundError:
            continue
        first = key not in needed
        needed.add(key)
        for line in found.requires or ():
            requirement = Requirement(line)
            marker = requirement.marker
            if marker is not None and not any(marker.evaluate({"extra": extra}) for extra in (wanted or {""})):
                continue
            if marker is None and not first:
                continue  # its unconditional requirements were followed already
            pending.append((requirement.name, set(requirement.extras)))
    tools = {"pip", "setuptools", "wheel"}
    hidden: set[str] = set()
    for dist in distributions():
        key = canonicalize_name(dist.metadata["Name"] or "")
        if not key or key in needed or key in tools:
            continue
        hidden.update(_top_level_modules(dist))
    return hidden - {"_distutils_hack", "sitecustomize"}


def _top_level_modules(dist) -> set[str]:
    listed = dist.read_text("top_level.txt")
    if listed:
        return {line.strip() for line in listed.splitlines() if line.strip() and "/" not in line}
    names = set()
    for file in dist.files or ():
        first = file.parts[0]
        if first.endswith((".dist-info", ".data")) or first in ("..", "__pycache__"):
            continue
        if len(file.parts) == 1:
            if first.endswith(".py"):
                names.add(first[:-3])
            elif first.endswith(".so"):
                names.add(first.split(".")[0])
        else:
            names.add(first)
    return {name for name in names if name.isidentifier()}
