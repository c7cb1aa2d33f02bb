"""A hermetic fetch in a monorepo's folder (``source.path``): the lock is the folder's,
named relative to it, checked in the commit and in the working tree at its place."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.conftest import Repo, git
from tests.hermetic.simple_index import Index, pip_project
from tests.hermetic.test_pip_fetch import index  # noqa: F401  (fixture)


def folder_project(repo: Repo, index: Index, scratch: Path) -> Path:  # noqa: F811
    """:func:`pip_project` moved into ``py/``, released with ``source.path: py``; the
    repository root keeps a different requirements.txt."""
    pip_project(repo, index, scratch)
    (repo.path / "py").mkdir()
    git(repo.path, "mv", "requirements.txt", "py/requirements.txt")
    text = (repo.path / "release.yaml").read_text()
    git(repo.path, "rm", "-q", "release.yaml")
    repo.write("requirements.txt", "# the root's, not the folder's\n")
    path = repo.write("py/release.yaml", text.replace(
        "name: app\n", "name: app\nsource:\n  path: py\n"))
    repo.commit()
    return path


def test_the_folder_lock_pins_the_fetch(repo: Repo, cli, index: Index,  # noqa: F811
                                        tmp_path: Path) -> None:
    path = folder_project(repo, index, tmp_path / "host")
    result = cli("run", path, "--out", tmp_path / "out")
    assert result.code == 0, result.err
    assert "/files/tiny_pkg-1.0.0-py3-none-any.whl" in index.requests
    assert (tmp_path / "out" / "cli" / "tool").read_text() == "demo\n"
    digest = hashlib.sha256((repo.path / "py" / "requirements.txt").read_bytes()).hexdigest()
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert [a["annotations"] for a in manifest["artifacts"]] == [
        {"lock:requirements.txt": digest}]

    # the working tree's copy at the folder's place is compared, not the root's
    lock = repo.path / "py" / "requirements.txt"
    lock.write_text(lock.read_text() + "# changed\n")
    result = cli("run", path, "--out", tmp_path / "again", "--allow-dirty")
    assert result.code == 1
    assert "lock 'py/requirements.txt' differs in the working tree from commit" in result.err
