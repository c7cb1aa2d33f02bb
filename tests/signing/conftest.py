"""Fixtures for signing tests: the local Sigstore stack, openssl keys, a release repository."""

from __future__ import annotations

import http.server
import json
import subprocess
import textwrap
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import Repo
from tests.sigstore_stack import sigstore_stack  # noqa: F401  (session fixture)

REPOSITORY = "owner/repo"
TAG = "v1.0.0"
PASSPHRASE = "correct horse battery staple"


def openssl(*args: str, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=False)


@dataclass(frozen=True)
class KeyPair:
    private: Path
    public: Path
    passphrase: str | None


@pytest.fixture
def make_key(tmp_path: Path) -> Callable[..., KeyPair]:
    """An ECDSA key made by openssl (P-256 unless told), PKCS#8, optionally encrypted."""

    def make(name: str = "release", *, curve: str = "prime256v1",
             passphrase: str | None = PASSPHRASE, algorithm: str = "EC") -> KeyPair:
        folder = tmp_path / "keys"
        folder.mkdir(exist_ok=True)
        private, public = folder / f"{name}.key", folder / f"{name}.pub"
        opts = ["-pkeyopt", f"ec_paramgen_curve:{curve}"] if algorithm == "EC" else [
            "-pkeyopt", "rsa_keygen_bits:2048"]
        enc = ["-aes-256-cbc", "-pass", f"pass:{passphrase}"] if passphrase else []
        made = openssl("genpkey", "-algorithm", algorithm, *opts, *enc, "-out", str(private))
        assert made.returncode == 0, made.stderr
        passin = ["-passin", f"pass:{passphrase}"] if passphrase else []
        pub = openssl("pkey", "-in", str(private), *passin, "-pubout", "-out", str(public))
        assert pub.returncode == 0, pub.stderr
        return KeyPair(private, public, passphrase)

    return make


def release_repo(repo: Repo, stages: str, *, tag: str = TAG) -> Path:
    """A committed, tagged repository whose pipeline builds two files, checksums them,
    then runs ``stages`` (YAML of further stage entries, starting at column 0)."""
    head = textwrap.dedent(f"""\
        version: 1
        name: demo
        source:
          repository: {REPOSITORY}
        stages:
          build:
            kind: command
            run: ["sh", "-c", "printf tool-v1 > {{out}}/tool && printf data > {{out}}/data.bin"]
            outputs: ["tool", "data.bin"]
          checksums:
            kind: checksums
            needs: [build]
        """)
    path = repo.path / "release.yml"
    path.write_text(head + textwrap.indent(textwrap.dedent(stages), "  "), encoding="utf-8")
    repo.commit("release pipeline")
    repo.tag(tag)
    return path


@dataclass
class OidcEndpoint:
    """A loopback stand-in for the Actions ID-token endpoint, recording what it was asked."""

    url: str
    bearer: str
    token: str = ""
    seen: list[tuple[str, str]] = field(default_factory=list)


@pytest.fixture
def github_oidc() -> Iterator[OidcEndpoint]:
    """Serves GitHub's documented contract: ``GET URL&audience=AUD`` with ``Authorization:
    bearer REQUEST_TOKEN`` returns ``{"value": "<jwt>"}``; a wrong bearer gets 401."""
    endpoint = OidcEndpoint("", "request-bearer-" + "x7Kq2" * 4)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            endpoint.seen.append((self.path, self.headers.get("Authorization", "")))
            if self.headers.get("Authorization") != f"bearer {endpoint.bearer}":
                self.send_response(401)
                self.end_headers()
                return
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            body = json.dumps({"value": endpoint.token, "audience": query.get("audience")})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint.url = f"http://127.0.0.1:{server.server_address[1]}/token?api-version=2.0"
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()
