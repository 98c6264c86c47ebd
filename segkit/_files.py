"""Files and folders that are written under a temporary name and then put in place (the exports'
`.customers.csv.XXXXXXXX.partial`, a report's `.<run>.tmp-XXXXXXXX`).

`tempfile.mkstemp` and `tempfile.mkdtemp` make them private (0600, 0700) whatever the user's umask
says, and the rename that puts them in place keeps that: a colleague could not read a report or its
exports. These make them as `open` and `mkdir` do, with the permissions the umask gives (0644 and
0755 under umask 022; a default ACL of the folder applies too), under a name no other process has
(O_EXCL, as tempfile does: a name planted there beforehand, a symlink too, is never used).
"""

from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path

# the letters of tempfile's random names: a leftover's name stays what `runner._leftover_of` recognises
_LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789_"
_TRIES = 100


def _names(folder: Path, prefix: str, suffix: str):
    for _ in range(_TRIES):
        yield folder / f"{prefix}{''.join(secrets.choice(_LETTERS) for _ in range(8))}{suffix}"
    raise FileExistsError(errno.EEXIST, "no unused temporary name found", str(folder / f"{prefix}XXXXXXXX{suffix}"))


def new_file(folder: str | os.PathLike, prefix: str = "", suffix: str = "") -> Path:
    """A new empty file `folder`/<prefix>XXXXXXXX<suffix> that did not exist before, with the permissions
    the umask gives (0666 less the umask). Raises OSError as `open` does (a folder not there or not writable)."""
    for path in _names(Path(folder), prefix, suffix):
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o666))
        except FileExistsError:
            continue
        return path


def new_folder(folder: str | os.PathLike, prefix: str = "", suffix: str = "") -> Path:
    """A new empty folder `folder`/<prefix>XXXXXXXX<suffix> that did not exist before, with the permissions
    the umask gives (0777 less the umask). Raises OSError as `os.mkdir` does."""
    for path in _names(Path(folder), prefix, suffix):
        try:
            os.mkdir(path, 0o777)
        except FileExistsError:
            continue
        return path
