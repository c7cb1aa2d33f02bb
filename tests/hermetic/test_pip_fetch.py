"""``command`` with ``fetch: [pip, download, --require-hashes, --only-binary=:all:]``:
the real pip, a loopback simple index, bubblewrap. The fetch reaches the index; ``run:``
installs offline (``--no-index``) what it brought; the hashes pin the download."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Repo
from tests.hermetic import simple_index
from tests.hermetic.simple_index import Index, pip_project


@pytest.fixture
def index(monkeypatch: pytest.MonkeyPatch) -> Iterator[Index]:
    # the pip and python3 of the interpreter running the tests
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}"
                       f"{os.environ['PATH']}")
    with simple_index.serve() as served:
        yield served


def test_fetch_reaches_the_index_and_the_install_is_offline(
        repo: Repo, cli, index: Index, tmp_path: Path) -> None:
    path = pip_project(repo, index, tmp_path / "host")
    result = cli("run", path, "--out", tmp_path / "out")
    assert result.code == 0, result.err
    assert "/files/tiny_pkg-1.0.0-py3-none-any.whl" in index.requests
    assert "build phase: no network" in result.err
    assert (tmp_path / "out" / "cli" / "tool").read_text() == "demo\n"
    digest = hashlib.sha256((repo.path / "requirements.txt").read_bytes()).hexdigest()
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert [a["annotations"] for a in manifest["artifacts"]] == [
        {"lock:requirements.txt": digest}]


def test_a_wheel_the_index_changed_fails_the_fetch(repo: Repo, cli, index: Index,
                                                   tmp_path: Path) -> None:
    path = pip_project(repo, index, tmp_path / "host")
    index.publish(tmp_path / "host", "tiny-pkg", "1.0.0", padding=64)  # other bytes
    result = cli("run", path, "--out", tmp_path / "out")
    assert result.code == 1
    assert "the fetch phase failed: pip exited with status 1" in result.err, result.err
    assert "DO NOT MATCH THE HASHES" in result.err
    assert "build phase" not in result.err
