"""A local Sigstore stack (Fulcio, Rekor v1, TSA) for keyless signing tests.

``tests/sigstore_mock/server.js`` serves the sigstore project's ``@sigstore/mock``
handlers on 127.0.0.1 and writes a ClientTrustConfig for its ephemeral keys. Use
the session fixture from a conftest::

    from tests.sigstore_stack import sigstore_stack  # noqa: F401  (a pytest fixture)

    def test_x(sigstore_stack):
        trust_config, trusted_root, make_token = sigstore_stack
        token = make_token({"repository": "owner/repo"})

The Node dependencies are installed once with ``npm ci --no-audit --no-fund
--ignore-scripts`` in ``tests/sigstore_mock`` when ``node_modules`` is missing or
older than the lock (CI runs the same command before the tests). Under pytest-xdist
each worker starts its own stack.
"""

from __future__ import annotations

import base64
import fcntl
import json
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import pytest

MOCK_DIR = Path(__file__).resolve().parent / "sigstore_mock"
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
START_TIMEOUT = 60.0


def github_claims(repository: str = "owner/repo", ref: str = "refs/tags/v1.0.0",
                  workflow: str = "release.yml", sha: str = "0" * 40) -> dict[str, Any]:
    """The claims of a GitHub Actions OIDC token for a tag-triggered release workflow.

    ``sub`` is the workflow URI, which is what real Fulcio puts in the certificate's
    SAN for GitHub Actions (from ``job_workflow_ref``); the mock uses ``sub``.
    """
    owner = repository.split("/", 1)[0]
    workflow_ref = f"{repository}/.github/workflows/{workflow}@{ref}"
    return {
        "iss": GITHUB_ISSUER, "aud": "sigstore",
        "sub": f"https://github.com/{workflow_ref}",
        "repository": repository, "repository_owner": owner, "ref": ref, "sha": sha,
        "workflow": "release", "workflow_ref": workflow_ref, "workflow_sha": sha,
        "job_workflow_ref": workflow_ref, "job_workflow_sha": sha,
        "event_name": "push", "run_id": "1234", "run_attempt": "1",
        "runner_environment": "github-hosted", "repository_visibility": "public",
    }


def unsigned_jwt(claims: Mapping[str, Any], lifetime: int = 600) -> str:
    """A JWT with ``alg: none``: sigstore-python does not check token signatures; Fulcio
    would, the mock does not."""
    now = int(time.time())
    body = {"iat": now, "nbf": now, "exp": now + lifetime, **claims}

    def part(data: Mapping[str, Any]) -> str:
        raw = json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(body)}."


class SigstoreStack(NamedTuple):
    """What the fixture yields; unpacks as ``(trust_config, trusted_root, make_token)``."""

    trust_config: Path
    trusted_root: Path
    make_token: Callable[..., str]

    @property
    def request_log(self) -> Path:
        return self.trust_config.parent / "requests.log"

    @property
    def url(self) -> str:
        data = json.loads(self.trust_config.read_text(encoding="utf-8"))
        return str(data["signingConfig"]["caUrls"][0]["url"])

    def requests(self) -> list[dict[str, str]]:
        """Every request the stack has served so far: ``{"method", "path"}``."""
        if not self.request_log.exists():
            return []
        lines = self.request_log.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line]


def make_token(claims: Mapping[str, Any] | None = None, **overrides: Any) -> str:
    """An unsigned GitHub Actions token: :func:`github_claims` updated by ``claims``."""
    return unsigned_jwt({**github_claims(), **(claims or {}), **overrides})


def install_node_modules() -> None:
    """``npm ci`` in the mock's folder, once, under a lock shared by parallel sessions."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.fail("node and npm are needed for the local Sigstore stack "
                    "(apt-get install nodejs npm)")
    lock = MOCK_DIR / "package-lock.json"
    marker = MOCK_DIR / "node_modules" / ".package-lock.json"
    with (Path(tempfile.gettempdir()) / "release-sigstore-mock-npm.lock").open("w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
            return
        proc = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
                              cwd=MOCK_DIR, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            pytest.fail(f"npm ci in {MOCK_DIR.name} failed:\n{proc.stderr[-2000:]}")


def start_stack(folder: Path) -> tuple[subprocess.Popen[str], SigstoreStack]:
    """Start the server; return it and the stack once its trust config is written."""
    node = shutil.which("node")
    assert node is not None
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "server.log"
    with log.open("w") as errors:
        proc = subprocess.Popen(
            [node, str(MOCK_DIR / "server.js"), "--config-out", str(folder),
             "--request-log", str(folder / "requests.log")],
            stdout=subprocess.PIPE, stderr=errors, text=True)
    ready: list[str] = []

    def first_line() -> None:
        assert proc.stdout is not None
        ready.append(proc.stdout.readline())

    reader = threading.Thread(target=first_line, daemon=True)
    reader.start()
    reader.join(START_TIMEOUT)
    if not ready or not ready[0].strip():
        proc.kill()
        proc.wait()
        err = log.read_text(encoding="utf-8", errors="replace")
        pytest.fail(f"the local Sigstore stack did not start: {err[-2000:]}")
    info = json.loads(ready[0])
    return proc, SigstoreStack(Path(info["trustConfig"]), Path(info["trustedRoot"]), make_token)


@pytest.fixture(scope="session")
def sigstore_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SigstoreStack]:
    """A running local Sigstore stack for the whole test session."""
    install_node_modules()
    proc, stack = start_stack(tmp_path_factory.mktemp("sigstore-stack"))
    try:
        yield stack
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
