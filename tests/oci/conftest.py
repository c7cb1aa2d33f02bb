"""A real OCI registry for the OCI tests: Debian's ``docker-registry`` on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.oci.token_server import ISSUER, SERVICE, TokenServer
from tests.signing.conftest import make_key  # noqa: F401  (fixtures for signing images)
from tests.sigstore_stack import sigstore_stack  # noqa: F401

REGISTRY = "/usr/bin/docker-registry"
#: The password of the token registry's ``bot`` user.
TOKEN_PASSWORD = "registry-pw-7f3e9a2c51"


@dataclass(frozen=True)
class LocalRegistry:
    """A running registry: ``host`` is ``127.0.0.1:PORT``; blobs live under ``storage``."""

    host: str
    storage: Path

    def blob_file(self, digest: str) -> Path:
        """Where the filesystem driver keeps a blob's bytes (for tampering tests)."""
        hexpart = digest.removeprefix("sha256:")
        return (self.storage / "docker" / "registry" / "v2" / "blobs" / "sha256" / hexpart[:2]
                / hexpart / "data")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(root: Path, extra: dict[str, Any]) -> Iterator[LocalRegistry]:
    if not Path(REGISTRY).is_file():
        pytest.fail("docker-registry is not installed (apt-get install docker-registry)")
    port = _free_port()
    config = root / "config.yml"
    # JSON is YAML; the registry reads it as its configuration file
    config.write_text(json.dumps({
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(root / "data")},
                    "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}"},
        **extra,
    }))
    log = (root / "registry.log").open("wb")
    proc = subprocess.Popen([REGISTRY, "serve", str(config)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2):
                    break
            except urllib.error.HTTPError:
                break  # 401 from a registry that wants a token: it is up
            except (urllib.error.URLError, ConnectionError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("docker-registry did not start: "
                            + (root / "registry.log").read_text(errors="replace")[-2000:])
            time.sleep(0.1)
        yield LocalRegistry(f"127.0.0.1:{port}", root / "data")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    """An open registry (no authentication) on 127.0.0.1."""
    yield from _serve(tmp_path_factory.mktemp("registry"), {})


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[tuple[LocalRegistry, TokenServer]]:
    """A registry that wants Bearer tokens from a token server; ``bot`` may push."""
    root = tmp_path_factory.mktemp("token-registry")
    tokens = TokenServer(root, "bot", TOKEN_PASSWORD)
    tokens.start()
    try:
        yield from ((reg, tokens) for reg in _serve(root, {"auth": {"token": {
            "realm": tokens.realm, "service": SERVICE, "issuer": ISSUER,
            "rootcertbundle": str(tokens.cert_file)}}}))
    finally:
        tokens.stop()


def skopeo(*args: str | Path) -> str:
    """Run skopeo (an independent OCI client); fail the test with its stderr on error."""
    exe = shutil.which("skopeo")
    if exe is None:
        pytest.fail("skopeo is not installed (apt-get install skopeo)")
    proc = subprocess.run([exe, *map(str, args)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.fail(f"skopeo {' '.join(map(str, args))} failed: {proc.stderr}")
    return proc.stdout
