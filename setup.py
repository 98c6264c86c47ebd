"""The wheel carries a copy of the repository's notebooks/ and example params/ (the one source
stays at the top level) as segkit/project/, so that an installed segkit can run a report and
`segkit init` can copy them into an analyst's project. Everything else is in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
PROJECT_FILES = (("notebooks", "*.ipynb"), ("params", "*.yaml"), ("params", "*.csv"))


class BuildWithProjectFiles(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):  # an editable install reads the checkout itself
            return
        target = Path(self.build_lib) / "segkit" / "project"
        for folder, pattern in PROJECT_FILES:
            for source in sorted((ROOT / folder).glob(pattern)):
                (target / folder).mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target / folder / source.name)


setup(cmdclass={"build_py": BuildWithProjectFiles})
