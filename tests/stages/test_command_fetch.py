"""``command`` with ``fetch:``: real npm against a loopback registry, real bubblewrap.

The fetch phase reaches the registry; the build phase (``run:``) cannot; the lock's
digest is recorded and a changed lock is refused.
"""

from __future__ import annotations

import hashlib
import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Repo
from tests.stages import npm_registry
from tests.stages.npm_registry import Registry

#: The build tries the registry (it must fail), and copies what the fetch brought.
PROBE = ("const net=require('net'),fs=require('fs');"
         "const s=net.connect(+process.argv[1],'127.0.0.1');"
         "const done=r=>{fs.writeFileSync(process.argv[2]+'/probe.txt',r);process.exit(0)};"
         "s.on('connect',()=>done('reached'));s.on('error',e=>done('blocked '+e.code));"
         "fs.copyFileSync('node_modules/tiny/index.js',process.argv[2]+'/tiny.js')")


@pytest.fixture
def registry() -> Iterator[Registry]:
    with npm_registry.serve() as reg:
        yield reg


def npm_project(repo: Repo, registry: Registry, *, scripts: dict[str, str] | None = None,
                fetch: str = '["npm", "ci", "--ignore-scripts"]') -> Path:
    package = {"name": "tiny", "version": "1.0.0", "main": "index.js"}
    if scripts:
        package["scripts"] = scripts  # type: ignore[assignment]
    entry = registry.publish("tiny", "1.0.0", {"package.json": json.dumps(package),
                                               "index.js": "module.exports = 42;\n"})
    repo.write("package.json", json.dumps({"name": "app", "version": "1.0.0",
                                           "dependencies": {"tiny": "1.0.0"}}))
    (repo.path / "package-lock.json").write_text(npm_registry.lockfile("app", {"tiny": entry}))
    repo.write(".npmrc", f"registry={registry.url}\naudit=false\nfund=false\n"
               "update-notifier=false\nfetch-retries=0\n")
    path = repo.write("release.yaml", textwrap.dedent(f"""\
        version: 1
        name: app
        stages:
          app:
            kind: command
            fetch: {fetch}
            locks: [package-lock.json]
            run: ["node", "-e", "{PROBE}", "{registry.port}", "{{out}}"]
            outputs: ["probe.txt", "tiny.js"]
        """))
    repo.commit()
    return path


def test_fetch_reaches_the_registry_and_the_build_does_not(repo: Repo, cli, registry: Registry,
                                                          tmp_path: Path) -> None:
    path = npm_project(repo, registry)
    result = cli("run", path, "--out", tmp_path / "out")
    assert result.code == 0, result.err
    assert "/tiny/-/tiny-1.0.0.tgz" in registry.requests  # the fetch phase downloaded it
    assert "build phase: no network" in result.err
    out = tmp_path / "out" / "app"
    assert (out / "probe.txt").read_text().startswith("blocked")
    assert (out / "tiny.js").read_text() == "module.exports = 42;\n"
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    lock_digest = hashlib.sha256((repo.path / "package-lock.json").read_bytes()).hexdigest()
    for art in manifest["artifacts"]:
        assert art["annotations"] == {"lock:package-lock.json": lock_digest}
    # nothing the fetch wrote reaches the output folder
    assert sorted(p.name for p in out.iterdir()) == ["probe.txt", "tiny.js"]


def test_plan_shows_the_fetch_and_its_locks(repo: Repo, cli, registry: Registry) -> None:
    path = npm_project(repo, registry)
    result = cli("plan", path, "--format", "json")
    assert result.code == 0, result.err
    stage = json.loads(result.out)["stages"][0]
    assert stage["effects"] == "network"
    assert stage["config"]["fetch"] == ["npm", "ci", "--ignore-scripts"]
    assert stage["config"]["locks"] == ["package-lock.json"]
    assert registry.requests == []  # a plan fetches nothing


def test_plan_binds_the_committed_lock_digest(repo: Repo, registry: Registry) -> None:
    from release.stages.command import committed_digest
    npm_project(repo, registry)
    from tests.conftest import git
    commit = git(repo.path, "rev-parse", "HEAD")
    assert committed_digest(repo.path, commit, "package-lock.json") == \
        hashlib.sha256((repo.path / "package-lock.json").read_bytes()).hexdigest()



def test_dry_run_report_shows_the_lock_digest(repo: Repo, cli, registry: Registry,
                                              tmp_path: Path) -> None:
    path = npm_project(repo, registry)
    review = tmp_path / "review.json"
    result = cli("run", path, "--dry-run", "--out", tmp_path / "out", "--report", review)
    assert result.code == 0, result.err
    digest = hashlib.sha256((repo.path / "package-lock.json").read_bytes()).hexdigest()
    assert f"package-lock.json sha256:{digest}" in result.err
    assert digest in review.read_text()  # with the artifacts a reviewer approves
