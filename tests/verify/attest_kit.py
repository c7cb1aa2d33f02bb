"""Attestations made for tests on local Sigstore stacks, shaped like GitHub's.

- Build provenance as ``actions/attest-build-provenance`` makes it: SLSA v1 with GitHub's
  build type (``externalParameters.workflow``), signed on the local stack standing in
  for the public-good instance, with a token whose claims are a GitHub Actions run's.
- GitHub's release attestation: the in-toto release predicate v0.2, signed on a second,
  separate local stack standing in for GitHub's own instance, as GitHub's are: no
  transparency log entry (stripped after signing: GitHub's instance keeps none) and a
  trusted root without logs, so its time comes from the timestamp authority alone.
  sigstore-python refuses to sign a statement whose subject has a ``sha1`` digest (the
  release's commit), so the statement is handed to its signer as raw bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.sigstore_stack import SigstoreStack, github_claims, start_stack, unsigned_jwt

RELEASE_PREDICATE = "https://in-toto.io/attestation/release/v0.2"
RELEASE_SAN = "https://dotcom.releases.github.com"
SLSA_V1 = "https://slsa.dev/provenance/v1"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def provenance(subjects: Mapping[str, str], *, repository: str, tag: str, commit: str,
               workflow: str = "release.yml", runner: str = "github-hosted",
               ref: str | None = None) -> dict[str, Any]:
    """SLSA provenance v1 as actions/attest-build-provenance writes it."""
    ref = ref or f"refs/tags/{tag}"
    uri = f"https://github.com/{repository}"
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": n, "digest": {"sha256": d}} for n, d in subjects.items()],
        "predicateType": SLSA_V1,
        "predicate": {
            "buildDefinition": {
                "buildType": "https://actions.github.io/buildtypes/workflow/v1",
                "externalParameters": {"workflow": {
                    "ref": ref, "repository": uri, "path": f".github/workflows/{workflow}"}},
                "internalParameters": {"github": {"event_name": "push",
                                                  "runner_environment": runner}},
                "resolvedDependencies": [{"uri": f"git+{uri}@{ref}",
                                          "digest": {"gitCommit": commit}}],
            },
            "runDetails": {"builder": {"id": f"{uri}/.github/workflows/{workflow}@{ref}"},
                           "metadata": {"invocationId": f"{uri}/actions/runs/1/attempts/1"}},
        },
    }


def release_statement(assets: Mapping[str, str], *, repository: str, tag: str,
                      commit: str) -> dict[str, Any]:
    """GitHub's release attestation of an immutable release (predicate release v0.2)."""
    purl = f"pkg:github/{repository}@{tag}"
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"uri": purl, "digest": {"sha1": commit}},
                    *({"name": n, "digest": {"sha256": d}} for n, d in assets.items())],
        "predicateType": RELEASE_PREDICATE,
        "predicate": {"databaseId": "1001", "ownerId": "2002", "packageId": "3003",
                      "purl": purl, "repository": repository, "repositoryId": "4004",
                      "tag": tag},
    }


def run_claims(repository: str, tag: str, commit: str, *, workflow: str = "release.yml",
               runner: str = "github-hosted", ref: str | None = None) -> dict[str, Any]:
    claims = github_claims(repository=repository, ref=ref or f"refs/tags/{tag}",
                           workflow=workflow, sha=commit)
    claims["runner_environment"] = runner
    return claims


def sign(stack: SigstoreStack, claims: Mapping[str, Any], *statements: Mapping[str, Any],
         log: bool = True) -> list[dict[str, Any]]:
    """Sign each statement as a DSSE bundle on ``stack`` with one certificate for
    ``claims``; ``log=False`` leaves out the log entry, as GitHub's instance does."""
    from sigstore import dsse
    from sigstore.models import ClientTrustConfig
    from sigstore.oidc import IdentityToken
    from sigstore.sign import SigningContext

    config = ClientTrustConfig.from_json(stack.trust_config.read_text(encoding="utf-8"))
    context = SigningContext.from_trust_config(config)
    bundles = []
    with context.signer(IdentityToken(unsigned_jwt(dict(claims)))) as signer:
        for statement in statements:
            raw = dsse.Statement.__new__(dsse.Statement)
            raw._contents = json.dumps(statement).encode()  # see the docstring
            bundle = json.loads(signer.sign_dsse(raw).to_json())
            if not log:
                bundle["verificationMaterial"]["tlogEntries"] = []
            bundles.append(bundle)
    return bundles


def statement_of(bundle: Mapping[str, Any]) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    return payload


def release_claims() -> dict[str, Any]:
    """The identity of GitHub's release service on its own instance (no Actions claims)."""
    return {"iss": "https://token.actions.githubusercontent.com", "aud": "sigstore",
            "sub": RELEASE_SAN}


def write_jsonl(path: Path, bundles: list[dict[str, Any]]) -> Path:
    """A file as ``gh attestation download`` writes it: one bundle per line."""
    path.write_text("".join(json.dumps(b) + "\n" for b in bundles), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def github_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        tuple[SigstoreStack, Path]]:
    """A second, separate local Sigstore stack for GitHub's own instance, and its trusted
    root as GitHub publishes it: certificate and timestamp authorities, no logs."""
    from tests.sigstore_stack import install_node_modules

    install_node_modules()
    folder = tmp_path_factory.mktemp("github-instance")
    proc, stack = start_stack(folder)
    root = json.loads(stack.trusted_root.read_text(encoding="utf-8"))
    root["tlogs"], root["ctlogs"] = [], []
    github_root = folder / "github_trusted_root.json"
    github_root.write_text(json.dumps(root), encoding="utf-8")
    try:
        yield stack, github_root
    finally:
        proc.terminate()
        proc.wait(timeout=10)
