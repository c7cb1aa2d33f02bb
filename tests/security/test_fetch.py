"""Attacks on the fetch phase of ``command`` stages (real npm, bubblewrap, a loopback
registry; only loopback addresses are ever targets of the traffic these tests create)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import Repo, git
from tests.hermetic import crates, goproxy, simple_index
from tests.hermetic.crates import cargo_project, needs_cargo, rust_toolchain
from tests.hermetic.goproxy import GoProxy, go_project, needs_go
from tests.hermetic.simple_index import pip_project
from tests.stages import npm_registry
from tests.stages.npm_registry import Registry
from tests.stages.test_command_fetch import npm_project, registry  # noqa: F401

#: An install script that would phone the registry if it ran.
PHONE = ("node -e \"require('http').get('http://127.0.0.1:'+process.env.npm_config_port"
         "+'/pwned')\"")


def _stage_fails(result: object, text: str) -> None:
    assert result.code == 1, result.err  # type: ignore[attr-defined]
    assert text in result.err, result.err  # type: ignore[attr-defined]


def test_lock_not_committed_is_refused(repo: Repo, cli, registry: Registry,  # noqa: F811
                                       tmp_path: Path) -> None:
    path = npm_project(repo, registry)
    git(repo.path, "rm", "-q", "--cached", "package-lock.json")
    repo.write(".gitignore", "package-lock.json\n")
    repo.commit("drop the lock")
    result = cli("run", path, "--out", tmp_path / "out")
    _stage_fails(result, "lock 'package-lock.json' is not a file of commit")
    assert registry.requests == []


def test_lock_changed_in_the_working_tree_is_refused(repo: Repo, cli, registry: Registry,  # noqa: F811
                                                     tmp_path: Path) -> None:
    path = npm_project(repo, registry)
    with (repo.path / "package-lock.json").open("a") as f:
        f.write("\n")
    result = cli("run", path, "--out", tmp_path / "out", "--allow-dirty")
    _stage_fails(result, "lock 'package-lock.json' differs in the working tree")
    assert registry.requests == []


def test_a_changed_lock_digest_fails_the_fetch(repo: Repo, cli, registry: Registry,  # noqa: F811
                                               tmp_path: Path) -> None:
    path = npm_project(repo, registry)
    lock = json.loads((repo.path / "package-lock.json").read_text())
    entry = lock["packages"]["node_modules/tiny"]
    entry["integrity"] = "sha512-" + "A" * 86 + "=="
    (repo.path / "package-lock.json").write_text(json.dumps(lock))
    repo.commit("a lock that pins other bytes")
    result = cli("run", path, "--out", tmp_path / "out")
    assert result.code == 1
    assert "EINTEGRITY" in result.err or "integrity" in result.err.lower(), result.err
    assert not (tmp_path / "out" / "app" / "tiny.js").exists()


def test_a_symlinked_lock_is_refused(repo: Repo, cli, registry: Registry,  # noqa: F811
                                     tmp_path: Path) -> None:
    path = npm_project(repo, registry)
    os.rename(repo.path / "package-lock.json", repo.path / "real-lock.json")
    os.symlink("real-lock.json", repo.path / "package-lock.json")
    repo.commit("the lock is a link")
    result = cli("run", path, "--out", tmp_path / "out")
    _stage_fails(result, "is not a regular file in commit")


def test_a_lock_through_a_symlinked_folder_is_refused(repo: Repo, cli, registry: Registry,  # noqa: F811
                                                      tmp_path: Path) -> None:
    path = npm_project(repo, registry)
    (repo.path / "real").mkdir()
    os.symlink("real", repo.path / "via")
    lock = (repo.path / "package-lock.json").read_bytes()
    (repo.path / "real" / "package-lock.json").write_bytes(lock)
    text = path.read_text().replace("locks: [package-lock.json]",
                                    "locks: [package-lock.json, via/package-lock.json]")
    path.write_text(text)
    repo.commit("the lock is behind a link")
    result = cli("run", path, "--out", tmp_path / "out")
    _stage_fails(result, "lock 'via/package-lock.json' is not a file of commit")


@pytest.mark.parametrize(("locks", "message"), [
    ("[../outside.lock]", "must be a plain relative path inside the source tree"),
    ("[/etc/passwd]", "must be a plain relative path inside the source tree"),
    ("[./package-lock.json]", "must be a plain relative path"),
    ('["."]', "must be a plain relative path inside the source tree"),
    ('[""]', "must be a plain relative path inside the source tree"),
    ("[.git/config]", "not `.`, `..` nor inside .git"),
    ("[sub/.git/HEAD]", "not `.`, `..` nor inside .git"),
    ("[]", "`fetch` needs `locks`"),
])
def test_lock_paths_outside_the_tree_are_invalid_input(repo: Repo, cli, registry: Registry,  # noqa: F811
                                                       locks: str, message: str) -> None:
    path = npm_project(repo, registry)
    path.write_text(path.read_text().replace("locks: [package-lock.json]", f"locks: {locks}"))
    result = cli("plan", path)
    assert result.code == 2, result.err
    assert message in result.err and "release.yaml:" in result.err
    assert "Traceback" not in result.err


@pytest.mark.parametrize(("fetch", "message"), [
    ('["npm", "ci"]', "needs --ignore-scripts"),
    ('["npm", "install", "--ignore-scripts"]', "must be `npm ci`"),
    ('["sh", "-c", "npm ci --ignore-scripts"]', "it must start with one of"),
    ('["./scripts/fetch.sh"]', "it must start with one of"),
    ('["pip", "download", "--require-hashes", "-r", "r.txt"]', "--only-binary=:all:"),
    ('["npm", "ci", "--ignore-scripts", "--prefix={out}"]', "writes only in the workspace"),
])
def test_fetch_argv_that_could_run_code_is_refused(repo: Repo, cli, registry: Registry,  # noqa: F811
                                                   fetch: str, message: str) -> None:
    path = npm_project(repo, registry)
    text = path.read_text().replace('fetch: ["npm", "ci", "--ignore-scripts"]', f"fetch: {fetch}")
    path.write_text(text)
    result = cli("plan", path)
    assert result.code == 2, result.err
    assert message in result.err and "release.yaml:" in result.err
    assert "Traceback" not in result.err


def test_install_scripts_do_not_run_even_if_the_repository_asks(
        repo: Repo, cli, registry: Registry, tmp_path: Path) -> None:  # noqa: F811
    # the package and the project both carry install scripts; the project's .npmrc
    # tries to turn scripts back on: the engine's environment setting wins
    path = npm_project(repo, registry, scripts={"postinstall": PHONE, "install": PHONE})
    package = json.loads((repo.path / "package.json").read_text())
    package["scripts"] = {"preinstall": PHONE, "postinstall": PHONE, "prepare": PHONE}
    (repo.path / "package.json").write_text(json.dumps(package))
    with (repo.path / ".npmrc").open("a") as f:
        f.write(f"ignore-scripts=false\nport={registry.port}\n")
    repo.commit("scripts everywhere")
    result = cli("run", path, "--out", tmp_path / "out")
    assert result.code == 0, result.err
    assert "/tiny/-/tiny-1.0.0.tgz" in registry.requests
    assert "/pwned" not in registry.requests


def test_scripts_would_phone_without_the_guard(repo: Repo, registry: Registry,  # noqa: F811
                                               tmp_path: Path) -> None:
    """The attack is real: the same project under plain ``npm ci`` runs the scripts."""
    import subprocess
    npm_project(repo, registry, scripts={"postinstall": PHONE})
    with (repo.path / ".npmrc").open("a") as f:
        f.write(f"port={registry.port}\n")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    subprocess.run(["npm", "ci"], cwd=repo.path, env=env, check=True, capture_output=True,
                   timeout=120)
    assert "/pwned" in registry.requests


def test_build_phase_cannot_reach_the_registry_the_fetch_reached(
        repo: Repo, cli, registry: Registry, tmp_path: Path) -> None:  # noqa: F811
    path = npm_project(repo, registry)
    result = cli("run", path, "--out", tmp_path / "out")
    assert result.code == 0, result.err
    fetched = len(registry.requests)
    assert fetched > 0
    assert (tmp_path / "out" / "app" / "probe.txt").read_text().startswith("blocked")
    assert len(registry.requests) == fetched
    _ = npm_registry  # the registry module is the one the stage tests use


@pytest.mark.parametrize("config", [".cargo/config.toml", "rust-toolchain.toml"])
def test_cargo_fetch_refuses_configuration_that_runs_programs(
        repo: Repo, cli, registry: Registry, tmp_path: Path, config: str) -> None:  # noqa: F811
    path = npm_project(repo, registry)
    repo.write("Cargo.lock", "version = 3\n")
    repo.write(config, '[registry]\nglobal-credential-providers = ["./steal.sh"]\n')
    text = path.read_text().replace('fetch: ["npm", "ci", "--ignore-scripts"]',
                                    'fetch: ["cargo", "fetch", "--locked"]')
    path.write_text(text.replace("locks: [package-lock.json]", "locks: [Cargo.lock]"))
    repo.commit("cargo configuration in the tree")
    result = cli("run", path, "--out", tmp_path / "out")
    _stage_fails(result, f"the source tree has {config}, which cargo would obey")
    assert registry.requests == []


def _git_dependency(repo: Repo, registry: Registry) -> None:  # noqa: F811
    """A lock with a git dependency, and a committed .npmrc naming a program of the tree
    as npm's git."""
    lock = json.loads((repo.path / "package-lock.json").read_text())
    url = f"git+http://127.0.0.1:{registry.port}/gdep.git#{'a' * 40}"
    lock["packages"][""]["dependencies"]["gdep"] = url
    lock["packages"]["node_modules/gdep"] = {"version": "1.0.0", "resolved": url}
    (repo.path / "package-lock.json").write_text(json.dumps(lock, indent=2))
    package = json.loads((repo.path / "package.json").read_text())
    package["dependencies"]["gdep"] = url
    (repo.path / "package.json").write_text(json.dumps(package))
    evil = repo.write("evil-git", "#!/bin/sh\nexec node -e \"require('http').get("
                      f"'http://127.0.0.1:{registry.port}/pwned',()=>process.exit(1))\"\n")
    evil.chmod(0o755)
    with (repo.path / ".npmrc").open("a") as f:
        f.write("git=./evil-git\n")
    repo.commit("a git dependency, fetched by a program of the tree")


def test_npmrc_cannot_name_a_program_of_the_tree_as_git(
        repo: Repo, cli, registry: Registry, tmp_path: Path) -> None:  # noqa: F811
    path = npm_project(repo, registry)
    _git_dependency(repo, registry)
    result = cli("run", path, "--out", tmp_path / "out")
    assert result.code == 2, result.err  # the lock's git dependency: refused before npm runs
    assert "package-lock.json: error: node_modules/gdep comes from" in result.err
    assert "/pwned" not in registry.requests


def test_npmrc_git_would_run_the_program_without_the_guard(
        repo: Repo, registry: Registry, tmp_path: Path) -> None:  # noqa: F811
    import subprocess
    npm_project(repo, registry)
    _git_dependency(repo, registry)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    subprocess.run(["npm", "ci", "--ignore-scripts"], cwd=repo.path, env=env,
                   capture_output=True, timeout=120, check=False)
    assert "/pwned" in registry.requests


# --- Go: the real toolchain against a loopback module proxy (tests/hermetic/goproxy.py)

@pytest.fixture
def proxy() -> Iterator[GoProxy]:
    with goproxy.serve() as served:
        yield served


def _go_sum(repo: Repo, edit: Callable[[list[str]], list[str]]) -> None:
    lines = (repo.path / "go.sum").read_text().splitlines()
    (repo.path / "go.sum").write_text("".join(f"{line}\n" for line in edit(lines)))
    repo.commit("go.sum edited")


@needs_go
def test_go_sum_pinning_other_bytes_fails_the_fetch(repo: Repo, cli, proxy: GoProxy,
                                                    tmp_path: Path) -> None:
    path = go_project(repo, proxy, tmp_path / "host")
    _go_sum(repo, lambda lines: [line.replace("h1:", "h1:A", 1) if "/go.mod" not in line
                                 else line for line in lines])
    result = cli("run", path, "--out", tmp_path / "out")
    _stage_fails(result, "the fetch phase failed: go exited with status 1")
    assert "checksum mismatch" in result.err and "SECURITY ERROR" in result.err
    assert "build phase" not in result.err


@needs_go
@pytest.mark.parametrize("unpinned", ["/go.mod ", " h1:"], ids=["go.mod", "files"])
def test_go_fetch_of_what_go_sum_does_not_pin_fails(repo: Repo, cli, proxy: GoProxy,
                                                    tmp_path: Path, unpinned: str) -> None:
    # go.sum lacks a line: go checks what it downloaded against the checksum database
    # (here through the proxy, which knows no checksum) and fails; it never records an
    # unverified line, and the lock may not change anyway
    path = go_project(repo, proxy, tmp_path / "host")
    lines = (repo.path / "go.sum").read_text().splitlines()
    kept = [line for line in lines if unpinned not in line.replace("/go.mod h1:", "/go.mod ")]
    assert len(kept) == len(lines) - 1
    _go_sum(repo, lambda _: kept)
    result = cli("run", path, "--out", tmp_path / "out")
    _stage_fails(result, "the fetch phase failed: go exited with status 1")
    assert "/sumdb/sum.golang.org/lookup/example.com/tiny@v1.0.0" in proxy.requests
    gets = [line for line in result.err.splitlines() if "# get " in line]
    assert gets and all(f"# get {proxy.url}/" in line for line in gets), gets
    assert "build phase" not in result.err


@needs_go
def test_go_fetch_asks_only_the_proxy_it_is_given(repo: Repo, cli, proxy: GoProxy,
                                                  tmp_path: Path) -> None:
    # go.mod names a module of another host (pinned in go.sum): go asks the proxy for
    # it, never the host itself (no version control) nor a checksum database
    path = go_project(repo, proxy, tmp_path / "host")
    with (repo.path / "go.mod").open("a") as f:
        f.write("require other.example/mod v1.0.0\n")
    _go_sum(repo, lambda lines: [*lines, f"other.example/mod v1.0.0 h1:{'A' * 43}=",
                                 f"other.example/mod v1.0.0/go.mod h1:{'B' * 43}="])
    result = cli("run", path, "--out", tmp_path / "out")
    _stage_fails(result, "the fetch phase failed")
    assert "/other.example/mod/@v/v1.0.0.mod" in proxy.requests
    gets = [line for line in result.err.splitlines() if "# get " in line]
    assert gets and all(f"# get {proxy.url}/" in line for line in gets), gets
    assert not [r for r in proxy.requests if "/sumdb/" in r]  # go.sum pins it


@needs_go
def test_a_committed_go_work_is_not_used(repo: Repo, cli, proxy: GoProxy,
                                         tmp_path: Path) -> None:
    # in workspace mode go would pin by go.work.sum (no lock) and read ./elsewhere
    path = go_project(repo, proxy, tmp_path / "host", run=(
        '"sh", "-c", "go list -deps . > {out}/tool"'))
    repo.write("go.work", "go 1.18\n\nuse (\n\t.\n\t./elsewhere\n)\n")
    repo.commit("a workspace")
    result = cli("run", path, "--out", tmp_path / "out")
    assert result.code == 0, result.err
    assert "example.com/tiny" in (tmp_path / "out" / "cli" / "tool").read_text()


@pytest.mark.parametrize(("env", "fetch", "message"), [
    ("{GOPROXY: direct}", "", "GOPROXY names `direct`"),
    ('{GOPROXY: "https://proxy.golang.org,direct"}', "", "GOPROXY names `direct`"),
    ('{GOPROXY: "https://u:p@goproxy.example"}', "", "carries credentials"),
    ('{GOPROXY: "ssh://goproxy.example"}', "", "is not a module proxy URL"),
    ("{GOPRIVATE: example.com}", "", "GOPRIVATE makes a loader"),
    ("{GONOSUMDB: example.com}", "", "GONOSUMDB makes a loader"),
    ("{GOFLAGS: -insecure}", "", "GOFLAGS configures a cache"),
    ('{GOPROXY: "http://127.0.0.1:1"}', '"-modfile=other.mod"', "does not take '-modfile"),
    ('{GOPROXY: "http://127.0.0.1:1"}', '"-reuse=old.json"', "does not take '-reuse"),
])
def test_go_settings_that_would_leave_the_proxy_or_the_lock_are_refused(
        repo: Repo, cli, tmp_path: Path, env: str, fetch: str, message: str) -> None:
    path = repo.write("release.yaml", f"""\
        version: 1
        name: app
        stages:
          cli:
            kind: command
            env: {env}
            fetch: ["go", "mod", "download"{", " + fetch if fetch else ""}]
            locks: [go.sum]
            run: ["go", "build", "-o", "{{out}}/tool", "."]
            outputs: ["tool"]
        """)
    repo.write("go.sum", "")
    repo.commit()
    result = cli("plan", path)
    assert result.code == 2, result.err
    assert message in result.err and "release.yaml:" in result.err, result.err
    assert "Traceback" not in result.err and "u:p@" not in result.err


# --- cargo: the real toolchain against a loopback sparse registry (tests/hermetic/crates.py)

@needs_cargo
def test_cargo_lock_pinning_other_bytes_fails_the_fetch(
        repo: Repo, cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{rust_toolchain()}{os.pathsep}{os.environ['PATH']}")
    with crates.serve() as crate_registry:
        path = cargo_project(repo, crate_registry, tmp_path / "host")
        lock = (repo.path / "Cargo.lock").read_text()
        digest = lock.split('checksum = "', 1)[1][:64]
        (repo.path / "Cargo.lock").write_text(lock.replace(digest, "0" * 64))
        repo.commit("Cargo.lock pins other bytes")
        result = cli("run", path, "--out", tmp_path / "out")
    _stage_fails(result, "the fetch phase failed: cargo exited with status")
    assert "checksum" in result.err, result.err
    # the index's checksum differs from the lock's: cargo stops before downloading
    assert "/dl/tiny/1.0.0" not in crate_registry.requests
    assert "build phase" not in result.err


# --- pip: the real pip against a loopback simple index (tests/hermetic/simple_index.py)

def _phoning_backend(repo: Repo, port: int) -> None:
    """The tree as a package whose build backend (in the tree, needing nothing to be
    installed) phones the index as soon as pip loads it."""
    repo.write("pyproject.toml", '[build-system]\nrequires = []\n'
               'build-backend = "phone"\nbackend-path = ["."]\n')
    repo.write("phone.py", "import urllib.request\n"
               f"urllib.request.urlopen('http://127.0.0.1:{port}/pwned')\n")


@pytest.mark.parametrize("line", ["./", "-e .", "tiny-pkg==1.0.0"],
                         ids=["the-tree", "editable", "no-hash"])
def test_pip_fetch_never_builds_the_tree_nor_takes_an_unpinned_file(
        repo: Repo, cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: str) -> None:
    # a requirements file naming the repository itself (pip would run its build backend,
    # with the network on), or a requirement without its hash
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}"
                       f"{os.environ['PATH']}")
    with simple_index.serve() as index:
        path = pip_project(repo, index, tmp_path / "host")
        _phoning_backend(repo, index.port)
        repo.write("requirements.txt", f"--index-url {index.url}\n{line}\n")
        repo.commit("the tree as a requirement")
        result = cli("run", path, "--out", tmp_path / "out")
    assert result.code == 2, result.err  # a bad lock of the release commit: bad input
    assert "requirements.txt:2: error: " in result.err, result.err
    assert index.requests == []
    assert "build phase" not in result.err


def test_pip_would_run_the_trees_build_backend_without_the_guard(repo: Repo,
                                                                  tmp_path: Path) -> None:
    """The attack is real: plain ``pip download`` of the tree runs its build backend."""
    import subprocess
    with simple_index.serve() as index:
        _phoning_backend(repo, index.port)
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PIP_CONFIG_FILE": os.devnull}
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-index",
                        "-d", str(tmp_path / "w"), "./"],
                       cwd=repo.path, env=env, capture_output=True, timeout=120, check=False)
        assert "/pwned" in index.requests
