"""``command`` with ``fetch: [go, mod, download]``: the real Go toolchain, a loopback
module proxy, bubblewrap. The fetch reaches the proxy; the build uses the module cache
the fetch filled and reaches nothing; go.sum is recorded and is what pins the fetch."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Repo
from tests.hermetic import goproxy
from tests.hermetic.goproxy import TINY, GoProxy, go_project, needs_go

pytestmark = needs_go


@pytest.fixture
def proxy() -> Iterator[GoProxy]:
    with goproxy.serve() as served:
        yield served


def test_fetch_reaches_the_proxy_and_the_build_uses_what_it_fetched(
        repo: Repo, cli, proxy: GoProxy, tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-out", str(key)], check=True)
    path = go_project(repo, proxy, tmp_path / "host", more=f"""\
          provenance:
            kind: attest
            needs: [cli]
            backend: key
            key: {key}
        """)
    repo.tag("v1.0.0")
    result = cli("run", path, "--out", tmp_path / "out")
    assert result.code == 0, result.err
    # the fetch phase got the module from the loopback proxy (go -x prints each request)
    assert "/example.com/tiny/@v/v1.0.0.zip" in proxy.requests
    assert f"# get {proxy.url}/example.com/tiny/@v/v1.0.0.zip: 200 OK" in result.err
    assert "build phase: no network" in result.err
    tool = tmp_path / "out" / "cli" / "tool"
    ran = subprocess.run([str(tool)], capture_output=True, text=True, check=True, timeout=30)
    assert ran.stderr == "42\n"  # built from the module the proxy served
    digest = hashlib.sha256((repo.path / "go.sum").read_bytes()).hexdigest()
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    cli_arts = [a for a in manifest["artifacts"] if a["stage"] == "cli"]
    assert [a["annotations"] for a in cli_arts] == [{"lock:go.sum": digest}]
    envelope = json.loads((tmp_path / "out" / "provenance" / "app.intoto.jsonl")
                          .read_text().splitlines()[0])
    statement = json.loads(base64.b64decode(envelope["payload"]))
    deps = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    assert {"name": "go.sum", "digest": {"sha256": digest},
            "annotations": {"stage": "cli", "role": "lock"}} in deps


def test_each_run_fetches_into_an_empty_module_cache(repo: Repo, cli, proxy: GoProxy,
                                                     tmp_path: Path) -> None:
    # the build phase checks the module cache the fetch filled against go.sum; the
    # caches are the stage's workspace's, and the fetch left them deletable (-modcacherw)
    path = go_project(repo, proxy, tmp_path / "host", run=(
        '"sh", "-c", "go mod verify && go env GOMODCACHE GOCACHE > {out}/tool && '
        'test -w \\"$(go env GOMODCACHE)/example.com/tiny@v1.0.0\\" && '
        'go list -deps . >> {out}/tool"'))
    for n in (1, 2):
        result = cli("run", path, "--out", tmp_path / f"out{n}")
        assert result.code == 0, result.err
        assert "all modules verified" in result.err
        assert proxy.requests.count("/example.com/tiny/@v/v1.0.0.zip") == n
        modcache, gocache, *deps = (tmp_path / f"out{n}" / "cli" / "tool").read_text(
            ).splitlines()
        workspace = Path(modcache).parents[1]
        assert workspace.name.startswith("release-cli-") and not workspace.exists()
        assert Path(gocache).is_relative_to(workspace)
        assert "example.com/tiny" in deps


def test_the_build_cannot_fetch_what_the_fetch_did_not_bring(
        repo: Repo, cli, proxy: GoProxy, tmp_path: Path) -> None:
    proxy.publish("example.com/other", "v1.0.0", {
        "go.mod": "module example.com/other\n\ngo 1.18\n",
        "main.go": "package main\n\nfunc main() {}\n"})
    path = go_project(repo, proxy, tmp_path / "host",
                      run='"go", "run", "example.com/other@v1.0.0"')
    result = cli("run", path, "--out", tmp_path / "out")
    assert result.code == 1
    assert "module lookup disabled by GOPROXY=off" in result.err, result.err
    assert "/example.com/tiny/@v/v1.0.0.zip" in proxy.requests  # the fetch ran
    assert not [r for r in proxy.requests if "other" in r]


def test_a_module_the_proxy_changed_fails_the_fetch(repo: Repo, cli, proxy: GoProxy,
                                                    tmp_path: Path) -> None:
    path = go_project(repo, proxy, tmp_path / "host")
    # the proxy now serves other bytes for the same version than go.sum pins
    proxy.publish("example.com/tiny", "v1.0.0", {**TINY, "tiny.go": TINY["tiny.go"]
                                                 .replace("42", "666")})
    result = cli("run", path, "--out", tmp_path / "out")
    assert result.code == 1
    assert "checksum mismatch" in result.err and "SECURITY ERROR" in result.err
    assert "the fetch phase failed: go exited with status 1" in result.err
    assert "build phase" not in result.err
    assert not (tmp_path / "out" / "cli" / "tool").exists()


def test_a_go_toolchain_outside_the_system_builds_from_its_own_root(
        repo: Repo, cli, proxy: GoProxy, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # as on GitHub's runners (setup-go's bin folder on PATH, or /usr/bin/go linking into
    # /opt/hostedtoolcache): the sandbox shows the toolchain's root, not just its bin
    system = Path(str(shutil.which("go"))).resolve().parent.parent
    goroot = tmp_path / "toolchain" / "go"
    (goroot / "bin").mkdir(parents=True)
    shutil.copy2(system / "bin" / "go", goroot / "bin" / "go")
    shutil.copy2(system / "VERSION", goroot / "VERSION")
    for name in ("src", "pkg"):  # links into the system, which the sandbox shows
        (goroot / name).symlink_to((system / name).resolve())
    monkeypatch.setenv("PATH", f"{goroot / 'bin'}{os.pathsep}{os.environ['PATH']}")
    path = go_project(repo, proxy, tmp_path / "host", run=(
        '"sh", "-c", "go env GOROOT > {out}/tool && go list -deps . >> {out}/tool"'))
    result = cli("run", path, "--out", tmp_path / "out")
    assert result.code == 0, result.err
    lines = (tmp_path / "out" / "cli" / "tool").read_text().splitlines()
    assert lines[0] == str(goroot)  # not the GOROOT built into Debian's go: /usr/lib/go-*
    assert "example.com/tiny" in lines
