"""Keyless signing against Sigstore's public staging instance, from a GitHub Actions job.

Needs the internet and a real GitHub OIDC token (a job with ``id-token: write``):
skipped here and in ordinary CI runs; set RELEASE_ONLINE_TESTS=1 in such a job.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import pytest

from tests.signing.conftest import release_repo

ACTIONS = ("ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
           "GITHUB_SERVER_URL", "GITHUB_WORKFLOW_REF", "GITHUB_ACTIONS")


@pytest.fixture
def actions_environment() -> Mapping[str, str]:
    """The job's OIDC and workflow variables, read before ``cli`` scrubs them."""
    return {n: os.environ[n] for n in ACTIONS if n in os.environ}


@pytest.mark.online
@pytest.mark.skipif(os.environ.get("RELEASE_ONLINE_TESTS") != "1"
                    or "ACTIONS_ID_TOKEN_REQUEST_URL" not in os.environ,
                    reason="needs the internet and GitHub Actions' OIDC (id-token: write)")
def test_staging_keyless_signature_from_actions(actions_environment, repo, cli, monkeypatch,
                                                tmp_path):
    from sigstore.models import Bundle
    from sigstore.verify import Verifier, policy

    pipeline = release_repo(repo, "sign:\n  kind: sign\n  needs: [checksums]\n"
                                  "  instance: staging\n")
    for name, value in actions_environment.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "out"
    result = cli("run", pipeline, "--out", out)
    assert result.code == 0, result.out + result.err
    bundle = Bundle.from_json((out / "sign" / "SHA256SUMS.sigstore.json").read_bytes())
    identity = (f"{actions_environment['GITHUB_SERVER_URL']}/"
                f"{actions_environment['GITHUB_WORKFLOW_REF']}")
    Verifier.staging().verify_artifact(
        (out / "checksums" / "SHA256SUMS").read_bytes(), bundle,
        policy.Identity(identity=identity,
                        issuer="https://token.actions.githubusercontent.com"))
