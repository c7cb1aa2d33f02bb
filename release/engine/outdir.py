"""The output folder (``--out``): the engine works only in a folder it created.

A run replaces stage folders inside ``--out`` wholesale, so ``--out .`` with a stage
named ``docs`` would delete the user's ``docs/``. The engine therefore marks the
folders it creates (or adopts while empty) and refuses any other non-empty folder.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from release.engine import safefs
from release.errors import UsageError

MARKER = ".release-out"
_TEXT = (b"This folder was created by `release run` and holds its outputs; the tool may\n"
         b"replace anything in it. Delete this file and the tool will refuse the folder.\n")


def claim(out: Path) -> None:
    """Make ``out`` the run's output folder, or explain why it cannot be."""
    try:
        st = out.lstat()
    except FileNotFoundError:
        st = None
    if st is not None and stat.S_ISLNK(st.st_mode):
        raise UsageError(f"--out {out} is a symlink",
                         "pass the real folder, or a new one: the tool never writes "
                         "through links")
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise UsageError(f"--out {out} exists and is not a folder",
                         "pass a new or empty folder")
    if st is not None and (out / MARKER).is_file():
        return
    if st is not None and any(os.scandir(out)):
        raise UsageError(
            f"--out {out} is not empty and was not created by `release run`",
            "pass a new or empty folder (the default is dist/NAME-VERSION): the tool "
            "replaces stage folders in --out and never deletes files it did not create")
    safefs.make_folder(out)
    safefs.write_file(out, MARKER, _TEXT)
