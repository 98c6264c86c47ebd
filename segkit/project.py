"""An analyst's project folder: `segkit init DIR` copies the notebooks and the example params into
it, to edit. A report run from that folder uses its notebooks where they exist and the packaged
ones otherwise (`segkit.report.runner.notebook_path`)."""

from __future__ import annotations

import filecmp
import shutil
from importlib import resources
from pathlib import Path

from segkit.errors import SegkitError

PROJECT_FOLDERS = ("notebooks", "params")


def project_sources() -> Path:
    """The folder holding segkit's own notebooks/ and params/: the copy inside the installed
    package (segkit/project/), or the source checkout when segkit runs from one (editable)."""
    packaged = Path(str(resources.files("segkit"))) / "project"
    if (packaged / "notebooks").is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "notebooks").is_dir() and (checkout / "params").is_dir():
        return checkout
    raise SegkitError("this segkit installation carries no notebooks; reinstall it from its wheel or source")


def init_project(target: str | Path, force: bool = False) -> tuple[list[Path], list[Path]]:
    """Copy segkit's notebooks/ and params/ into `target` (created if needed). A file already there
    with other content (an edited notebook or params file) is kept unless `force`; an identical one
    is left as it is. Returns (files written, edited files kept). Raises SegkitError when `target`
    is a file or cannot be written."""
    target = Path(target)
    source = project_sources()
    written, kept = [], []
    try:
        for folder in PROJECT_FOLDERS:
            for path in sorted((source / folder).iterdir()):
                if not path.is_file() or path.name.startswith("."):
                    continue
                destination = target / folder / path.name
                if destination.exists():
                    if filecmp.cmp(path, destination, shallow=False):
                        continue
                    if not force:
                        kept.append(destination)
                        continue
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, destination)
                written.append(destination)
    except (NotADirectoryError, FileExistsError) as error:
        raise SegkitError(f"{target} is not a folder: give `segkit init` a folder to make or fill") from error
    except PermissionError as error:
        raise SegkitError(f"cannot write {error.filename}: permission denied; choose another folder") from error
    return written, kept
