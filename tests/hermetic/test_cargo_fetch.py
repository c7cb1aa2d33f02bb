"""``command`` with ``fetch: [cargo, fetch, --locked]``: the real cargo, a loopback sparse
registry, bubblewrap. The fetch reaches the registry; ``cargo build --offline`` builds
from what it brought, with no network; Cargo.lock's checksums pin the download."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Repo
from tests.hermetic import crates
from tests.hermetic.crates import TINY, Registry, cargo_project, needs_cargo, rust_toolchain

pytestmark = needs_cargo


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    # the toolchain itself first on PATH: rustup's proxy would need rustup's home
    monkeypatch.setenv("PATH", f"{rust_toolchain()}{os.pathsep}{os.environ['PATH']}")
    with crates.serve() as served:
        yield served


def test_fetch_reaches_the_registry_and_the_build_is_offline(
        repo: Repo, cli, registry: Registry, tmp_path: Path) -> None:
    path = cargo_project(repo, registry, tmp_path / "host")
    result = cli("run", path, "--out", tmp_path / "out")
    assert result.code == 0, result.err
    assert "/dl/tiny/1.0.0" in registry.requests  # the fetch phase downloaded the crate
    assert "build phase: no network" in result.err
    tool = tmp_path / "out" / "cli" / "tool"
    ran = subprocess.run([str(tool)], capture_output=True, text=True, check=True, timeout=30)
    assert ran.stdout == "42\n"
    digest = hashlib.sha256((repo.path / "Cargo.lock").read_bytes()).hexdigest()
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert [a["annotations"] for a in manifest["artifacts"]] == [{"lock:Cargo.lock": digest}]


def test_a_crate_the_registry_changed_fails_the_fetch(repo: Repo, cli, registry: Registry,
                                                      tmp_path: Path) -> None:
    path = cargo_project(repo, registry, tmp_path / "host")
    registry.publish("tiny", "1.0.0", {**TINY, "src/lib.rs": "pub const ANSWER: u32 = 6;\n"})
    result = cli("run", path, "--out", tmp_path / "out")
    assert result.code == 1
    assert "the fetch phase failed: cargo exited with status" in result.err, result.err
    assert "checksum" in result.err
    assert "build phase" not in result.err
