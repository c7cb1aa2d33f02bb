"""A clone of this repository's HEAD, so the example pipelines run in place, as committed."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import git

ROOT = Path(__file__).resolve().parents[1]


def clone_checkout(dest: Path) -> Path:
    """Clone this repository's HEAD to ``dest`` (sharing its objects), ready to commit."""
    subprocess.run(["git", "clone", "-q", "--shared", str(ROOT), str(dest)], check=True)
    for key, value in (("user.name", "Test"), ("user.email", "test@example.invalid"),
                       ("commit.gpgsign", "false")):
        git(dest, "config", key, value)
    return dest
