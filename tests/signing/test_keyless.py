"""Keyless signing end to end: the engine runs sign and attest against the local Sigstore
stack, and sigstore-python's Verifier (and ``release verify``) check the results offline."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
from pathlib import Path

import pytest
from sigstore.errors import VerificationError
from sigstore.models import Bundle, TrustedRoot
from sigstore.verify import Verifier, policy

from tests.conftest import SHARED, git
from tests.signing.conftest import REPOSITORY, TAG, release_repo
from tests.sigstore_stack import GITHUB_ISSUER, SigstoreStack, github_claims, unsigned_jwt

TOKEN_VAR = "DEMO_SIGSTORE_ID_TOKEN"
WORKFLOW_URI = f"https://github.com/{REPOSITORY}/.github/workflows/release.yml@refs/tags/{TAG}"


def keyless_stages(trust_config: Path, *, token_var: str | None = TOKEN_VAR) -> str:
    token = f"\n  identity-token-env: {token_var}" if token_var else ""
    return f"""\
sign:
  kind: sign
  needs: [checksums]
  trust-config: {trust_config}{token}
provenance:
  kind: attest
  needs: [build, checksums]
  trust-config: {trust_config}{token}
"""


def strict_policy(commit: str, repository: str = REPOSITORY) -> policy.AllOf:
    return policy.AllOf([
        policy.Identity(identity=WORKFLOW_URI.replace(REPOSITORY, repository),
                        issuer=GITHUB_ISSUER),
        policy.GitHubWorkflowRepository(repository),
        policy.GitHubWorkflowRef(f"refs/tags/{TAG}"),
        policy.GitHubWorkflowSHA(commit),
    ])


def signed_release(repo, cli, stack: SigstoreStack, monkeypatch, out: Path
                   ) -> tuple[str, object]:
    """Run the pipeline with a token for the tagged commit; return (commit, result)."""
    pipeline = release_repo(repo, keyless_stages(stack.trust_config))
    commit = git(repo.path, "rev-parse", "HEAD")
    token = stack.make_token(sha=commit)
    monkeypatch.setenv(TOKEN_VAR, token)
    result = cli("run", pipeline, "--out", out)
    assert result.code == 0, result.out + result.err
    assert token not in result.out + result.err
    return commit, result


def test_signature_verifies_with_strict_identity(repo, cli, sigstore_stack, monkeypatch,
                                                 tmp_path):
    before = len(sigstore_stack.requests())
    out = tmp_path / "out"
    commit, _ = signed_release(repo, cli, sigstore_stack, monkeypatch, out)
    served = {r["path"] for r in sigstore_stack.requests()[before:]}
    assert served == {"/api/v2/signingCert", "/api/v1/log/entries", "/api/v1/timestamp"}

    sums = (out / "checksums" / "SHA256SUMS").read_bytes()
    raw = (out / "sign" / "SHA256SUMS.sigstore.json").read_text(encoding="utf-8")
    assert json.loads(raw)["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    verifier = Verifier(trusted_root=TrustedRoot.from_file(str(sigstore_stack.trusted_root)))
    verifier.verify_artifact(sums, Bundle.from_json(raw), strict_policy(commit))

    with pytest.raises(VerificationError):
        verifier.verify_artifact(sums, Bundle.from_json(raw),
                                 strict_policy(commit, "owner/other"))
    with pytest.raises(VerificationError):
        verifier.verify_artifact(sums, Bundle.from_json(raw), strict_policy("1" * 40))
    with pytest.raises(VerificationError):
        verifier.verify_artifact(sums + b"\n", Bundle.from_json(raw), strict_policy(commit))
    foreign = Verifier(trusted_root=TrustedRoot.from_file(
        str(SHARED / "fixtures" / "sigstore" / "production" / "trusted_root.json")))
    with pytest.raises(VerificationError):
        foreign.verify_artifact(sums, Bundle.from_json(raw), strict_policy(commit))

    sign_manifest = json.loads((out / "manifests" / "sign.json").read_text(encoding="utf-8"))
    [art] = sign_manifest["artifacts"]
    assert art["kind"] == "sigstore-bundle"
    assert art["annotations"] == {
        "signing.backend": "sigstore", "signing.identity": WORKFLOW_URI,
        "signing.issuer": GITHUB_ISSUER, "signing.subject": "SHA256SUMS",
        "signing.subject-sha256": hashlib.sha256(sums).hexdigest()}


def test_provenance_is_signed_and_covers_the_artifacts(repo, cli, sigstore_stack,
                                                       monkeypatch, tmp_path):
    out = tmp_path / "out"
    commit, _ = signed_release(repo, cli, sigstore_stack, monkeypatch, out)
    folder = out / "provenance"
    bundle = Bundle.from_json((folder / "demo.intoto.sigstore.json").read_bytes())
    verifier = Verifier(trusted_root=TrustedRoot.from_file(str(sigstore_stack.trusted_root)))
    payload_type, payload = verifier.verify_dsse(bundle, strict_policy(commit))
    assert payload_type == "application/vnd.in-toto+json"
    statement = json.loads(payload)
    # verify_dsse does not look at subjects: compare them with the files ourselves
    expected = {name: hashlib.sha256((out / stage / name).read_bytes()).hexdigest()
                for name, stage in (("tool", "build"), ("data.bin", "build"),
                                    ("SHA256SUMS", "checksums"))}
    assert {s["name"]: s["digest"]["sha256"] for s in statement["subject"]} == expected
    deps = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    assert deps[0] == {"uri": f"git+https://github.com/{REPOSITORY}@refs/tags/{TAG}",
                       "digest": {"gitCommit": commit}}
    # the .intoto.jsonl line is the very envelope the bundle carries
    [line] = (folder / "demo.intoto.jsonl").read_text(encoding="utf-8").splitlines()
    bundled = json.loads(bundle.to_json())["dsseEnvelope"]
    assert json.loads(line) == bundled

    with pytest.raises(VerificationError):
        verifier.verify_dsse(bundle, strict_policy(commit, "owner/other"))


def test_release_verify_accepts_the_keyless_release(repo, cli, sigstore_stack, monkeypatch,
                                                    tmp_path):
    out = tmp_path / "out"
    commit, _ = signed_release(repo, cli, sigstore_stack, monkeypatch, out)
    assets = tmp_path / "assets"
    assets.mkdir()
    for path in [out / "build" / "tool", out / "build" / "data.bin",
                 out / "checksums" / "SHA256SUMS", out / "sign" / "SHA256SUMS.sigstore.json",
                 out / "provenance" / "demo.intoto.jsonl",
                 out / "provenance" / "demo.intoto.sigstore.json"]:
        shutil.copy(path, assets)
    args = ["verify", assets, "--repository", REPOSITORY, "--tag", TAG,
            "--trusted-root", sigstore_stack.trusted_root, "--require-provenance"]
    ok = cli(*args, "--commit", commit)
    assert ok.code == 0, ok.out + ok.err
    wrong = cli(*args[:3], "owner/other", *args[4:], "--commit", commit)
    assert wrong.code == 1


def test_ambient_github_oidc(repo, cli, sigstore_stack, github_oidc, monkeypatch, tmp_path):
    pipeline = release_repo(repo, keyless_stages(sigstore_stack.trust_config, token_var=None))
    commit = git(repo.path, "rev-parse", "HEAD")
    github_oidc.token = sigstore_stack.make_token(sha=commit)
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", github_oidc.url)
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", github_oidc.bearer)
    out = tmp_path / "out"
    result = cli("run", pipeline, "--out", out)
    text = result.out + result.err
    assert result.code == 0, text
    assert github_oidc.bearer not in text and github_oidc.token not in text
    # one token per signing stage, asked for with Sigstore's audience and the bearer
    assert len(github_oidc.seen) == 2
    for path, auth in github_oidc.seen:
        assert path.startswith("/token?api-version=2.0&") and "audience=sigstore" in path
        assert auth == f"bearer {github_oidc.bearer}"
    verifier = Verifier(trusted_root=TrustedRoot.from_file(str(sigstore_stack.trusted_root)))
    verifier.verify_artifact((out / "checksums" / "SHA256SUMS").read_bytes(),
                             Bundle.from_json((out / "sign" / "SHA256SUMS.sigstore.json")
                                              .read_bytes()),
                             strict_policy(commit))


def test_ambient_oidc_refused_bearer(repo, cli, sigstore_stack, github_oidc, monkeypatch,
                                     tmp_path):
    pipeline = release_repo(repo, keyless_stages(sigstore_stack.trust_config, token_var=None))
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", github_oidc.url)
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "not-the-right-bearer")
    result = cli("run", pipeline, "--out", tmp_path / "out")
    assert result.code == 1
    assert "the GitHub OIDC endpoint answered HTTP 401" in result.out + result.err


@pytest.mark.parametrize("token, message", [
    (None, f"the identity token variable {TOKEN_VAR} is not set"),
    ("expired", "the identity token expired at 1970-01-01T00:00:02Z"),
    ("not-a-jwt", "the identity token is not a JWT"),
    ("wrong-audience", "the identity token's audience is 'other', not 'sigstore'"),
    ("no-subject", "Identity token is malformed or missing claims"),
])
def test_unusable_tokens(repo, cli, sigstore_stack, monkeypatch, tmp_path, token, message):
    pipeline = release_repo(repo, keyless_stages(sigstore_stack.trust_config))
    before = len(sigstore_stack.requests())
    if token == "expired":
        token = unsigned_jwt({**github_claims(), "iat": 1, "nbf": 1, "exp": 2})
    elif token == "wrong-audience":
        token = sigstore_stack.make_token(aud="other")
    elif token == "no-subject":
        token = unsigned_jwt({k: v for k, v in github_claims().items() if k != "sub"})
    if token is not None:
        monkeypatch.setenv(TOKEN_VAR, token)
    result = cli("run", pipeline, "--out", tmp_path / "out")
    assert result.code == 1
    assert message in result.out + result.err
    assert len(sigstore_stack.requests()) == before


def test_unreadable_trust_config(repo, cli, sigstore_stack, tmp_path, monkeypatch):
    bad = tmp_path / "trust.json"
    bad.write_text("{not json", encoding="utf-8")
    pipeline = release_repo(repo, keyless_stages(bad))
    monkeypatch.setenv(TOKEN_VAR, sigstore_stack.make_token())
    result = cli("run", pipeline, "--out", tmp_path / "out")
    assert result.code == 1
    assert f"the Sigstore trust config {bad} is not JSON" in result.out + result.err


def test_provenance_in_actions_names_the_signing_workflow(repo, cli, sigstore_stack,
                                                          monkeypatch, tmp_path):
    for name, value in {"GITHUB_ACTIONS": "true", "GITHUB_SERVER_URL": "https://github.com",
                        "GITHUB_REPOSITORY": REPOSITORY, "GITHUB_REF": f"refs/tags/{TAG}",
                        "GITHUB_WORKFLOW_REF": WORKFLOW_URI.removeprefix("https://github.com/"),
                        "GITHUB_RUN_ID": "987", "GITHUB_RUN_ATTEMPT": "2"}.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "out"
    commit, _ = signed_release(repo, cli, sigstore_stack, monkeypatch, out)
    bundle = Bundle.from_json((out / "provenance" / "demo.intoto.sigstore.json").read_bytes())
    verifier = Verifier(trusted_root=TrustedRoot.from_file(str(sigstore_stack.trusted_root)))
    _, payload = verifier.verify_dsse(bundle, strict_policy(commit))
    run = json.loads(payload)["predicate"]["runDetails"]
    # the builder is the workflow the certificate names, as SLSA's GitHub builders record it
    assert run["builder"]["id"] == WORKFLOW_URI
    assert run["metadata"]["invocationId"] == (
        f"https://github.com/{REPOSITORY}/actions/runs/987/attempts/2")


@pytest.mark.parametrize("service, breakage, message", [
    ("caUrls", "closed-port", "while preparing to sign: cannot reach Sigstore (ConnectionError)"),
    ("caUrls", "http-error", "keyless signing failed while preparing to sign: 501 Server "
                             "Error: Unsupported method ('POST')"),
    ("rekorTlogUrls", "closed-port", "while signing SHA256SUMS: cannot reach Sigstore"),
    ("rekorTlogUrls", "http-error", "keyless signing failed while signing SHA256SUMS"),
])
def test_unavailable_services_fail_the_stage(repo, cli, sigstore_stack, github_oidc,
                                             monkeypatch, tmp_path, service, breakage, message):
    config = json.loads(sigstore_stack.trust_config.read_text(encoding="utf-8"))
    entry = config["signingConfig"][service][0]
    if breakage == "closed-port":
        with socket.socket() as probe:  # a port nothing listens on once the probe closes
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        entry["url"] = f"http://127.0.0.1:{port}"
    else:  # a web server that answers every POST with an HTML error page
        entry["url"] = github_oidc.url.split("/token")[0]
    broken = tmp_path / "trust.json"
    broken.write_text(json.dumps(config), encoding="utf-8")
    pipeline = release_repo(repo, keyless_stages(broken))
    monkeypatch.setenv(TOKEN_VAR, sigstore_stack.make_token())
    result = cli("run", pipeline, "--out", tmp_path / "out")
    assert result.code == 1
    assert message in result.out, result.out + result.err
    assert "internal error" not in result.err
