"""Fixtures for publishing tests: a GitHub OIDC endpoint, the warehouse-like index, a real
pypiserver, and a tagged repository whose ``dist`` stage outputs come from --artifacts."""

from __future__ import annotations

import http.server
import json
import os
import secrets
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from release.engine.digest import file_digest
from release.engine.manifest import Artifact, write_stage_manifest
from tests.conftest import Repo, git
from tests.pypi.dists import make_sdist, make_wheel
from tests.pypi.warehouse import Warehouse, WarehouseState
from tests.sigstore_stack import github_claims, sigstore_stack, unsigned_jwt  # noqa: F401

REPOSITORY = "owner/repo"
TAG = "v1.0.0"


@dataclass
class GitHubOidc:
    """GitHub's ID-token endpoint: ``GET URL&audience=AUD`` with the request bearer returns
    ``{"value": JWT}`` for that audience, with the claims of a tag-triggered release job."""

    url: str = ""
    bearer: str = "oidc-request-bearer-" + secrets.token_hex(8)
    claims: dict[str, Any] = field(default_factory=dict)
    audiences: list[str] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)

    def token(self, audience: str) -> str:
        claims = {**github_claims(REPOSITORY, f"refs/tags/{TAG}"), "environment": "pypi",
                  **self.claims, "aud": audience}
        jwt = unsigned_jwt(claims)
        self.issued.append(jwt)
        return jwt

    def environ(self) -> dict[str, str]:
        return {"ACTIONS_ID_TOKEN_REQUEST_URL": self.url,
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN": self.bearer}


@pytest.fixture
def github_oidc() -> Iterator[GitHubOidc]:
    endpoint = GitHubOidc()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.headers.get("Authorization") != f"bearer {endpoint.bearer}":
                self.send_response(401)
                self.end_headers()
                return
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            audience = query.get("audience", ["sigstore"])[-1]
            endpoint.audiences.append(audience)
            body = json.dumps({"value": endpoint.token(audience)}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint.url = f"http://127.0.0.1:{server.server_address[1]}/token?api-version=2.0"
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def warehouse(sigstore_stack) -> Iterator[Warehouse]:  # noqa: F811
    server = Warehouse(WarehouseState(trusted_root=sigstore_stack.trusted_root))
    try:
        yield server
    finally:
        server.close()


@dataclass
class PyPIServer:
    url: str
    token: str
    packages: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def pypiserver(tmp_path: Path) -> Iterator[PyPIServer]:
    """pypiserver on 127.0.0.1: uploads need ``__token__`` and the token (htpasswd), reads
    are open, and no request is ever forwarded to pypi.org (--disable-fallback)."""
    from passlib.apache import HtpasswdFile

    token = "pypi-AgEIdGVzdA" + secrets.token_urlsafe(32)
    packages = tmp_path / "packages"
    packages.mkdir()
    htpasswd = HtpasswdFile(str(tmp_path / "htpasswd"), new=True)
    htpasswd.set_password("__token__", token)
    htpasswd.save()
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pypiserver", "run", "-i", "127.0.0.1", "-p", str(port),
         "-P", str(tmp_path / "htpasswd"), "-a", "update", "--disable-fallback",
         "--hash-algo", "sha256", "--server", "wsgiref", str(packages)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                err = proc.stderr.read().decode() if proc.stderr else ""
                pytest.fail(f"pypiserver did not start: {err[-2000:]}")
            time.sleep(0.1)
    try:
        yield PyPIServer(f"http://127.0.0.1:{port}/", token, packages)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def publish_pipeline(repo: Repo, stage: str, *, tag: str = TAG) -> Path:
    """A committed, tagged repository whose pipeline has a ``dist`` stage and ``stage``
    (YAML of the pypi stage's keys, at column 0)."""
    text = textwrap.dedent(f"""\
        version: 1
        name: demo
        source:
          repository: {REPOSITORY}
        stages:
          dist:
            kind: command
            run: ["true"]
            outputs: ["*.whl", "*.tar.gz"]
          pypi:
            kind: pypi-publish
            needs: [dist]
        """) + textwrap.indent(textwrap.dedent(stage), "    ")
    path = repo.write("release.yaml", text)
    repo.commit("pipeline")
    git(repo.path, "tag", tag)
    return path


def dist_artifacts(folder: Path, files: list[Path] | None = None, **kw: Any) -> Path:
    """An --artifacts folder holding the ``dist`` stage's sdist and wheel and manifest."""
    stage = folder / "dist"
    stage.mkdir(parents=True, exist_ok=True)
    made = files or [make_sdist(stage, **kw), make_wheel(stage, **kw)]
    arts = []
    for path in made:
        kind = "wheel" if path.name.endswith(".whl") else "sdist"
        arts.append(Artifact(path.name, kind, "dist", f"dist/{path.name}",
                             path.stat().st_size, file_digest(path)))
    write_stage_manifest(folder, "dist", arts)
    return folder


RunStage = Callable[..., Any]


@pytest.fixture
def run_pypi(cli, monkeypatch, tmp_path) -> RunStage:
    """``release run PIPELINE --stage pypi --artifacts ARTS --out OUT`` with ``env`` set."""
    counter = iter(range(1000))

    def run(pipeline: Path, artifacts: Path, env: dict[str, str] | None = None,
            *extra: str) -> Any:
        for k, v in (env or {}).items():
            monkeypatch.setenv(k, v)
        out = tmp_path / f"out{next(counter)}"
        result = cli("run", pipeline, "--stage", "pypi", "--artifacts", artifacts,
                     "--out", out, *extra)
        result.out_dir = out
        return result

    return run


def pip_download(index: str, requirement: str, dest: Path) -> subprocess.CompletedProcess[str]:
    """A real client reads back what we uploaded (no cache, no other index, no deps)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    return subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir",
         "--disable-pip-version-check", "--isolated", "--index-url", index, "-d", str(dest),
         requirement], capture_output=True, text=True, check=False, env=env)
