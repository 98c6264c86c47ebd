"""PEP 562 module `__getattr__` for segkit's packages: public names imported from their modules when
first used, so that `import segkit` (every notebook's first cell) does not import what a notebook
never calls."""

from __future__ import annotations

import importlib


def lazy_getattr(package: str, where: dict[str, str], namespace: dict):
    """A module `__getattr__` for `package`: a name of `where` (name -> the module that defines it) is
    imported from that module on first use and kept in `namespace` (the package's globals: later uses
    skip the function); any other name is the package's submodule of that name. AttributeError for a
    name that is neither (and for dunder names, which Python probes)."""

    def __getattr__(name: str):
        module = where.get(name)
        if module is not None:
            value = getattr(importlib.import_module(module), name)
            namespace[name] = value
            return value
        if name.startswith("__"):
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        try:
            return importlib.import_module(f"{package}.{name}")  # a submodule: segkit.store, segkit.crosssell.tables
        except ModuleNotFoundError as err:
            if err.name != f"{package}.{name}":
                raise
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None

    return __getattr__
