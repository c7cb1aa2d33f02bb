"""Keyless end to end: a pipeline signs and attests against the local Sigstore stack,
then `release verify` checks the downloaded release with that stack's trusted root."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import Repo, git
from tests.sigstore_stack import github_claims

REPOSITORY = "octo-org/demo"
TAG = "v2.3.4"
TOKEN_VAR = "DEMO_SIGSTORE_TOKEN"


def pipeline(repo: Repo, trust_config: Path, sign_artifacts: str = "checksums") -> Path:
    signing = f"    identity-token-env: {TOKEN_VAR}\n    trust-config: {trust_config}\n"
    text = (
        "version: 1\n"
        "name: demo\n"
        "source:\n"
        f"  repository: {REPOSITORY}\n"
        "stages:\n"
        "  build:\n"
        "    kind: command\n"
        '    run: ["sh", "-c", "printf tool-v2 > {out}/tool && printf data > {out}/data.bin"]\n'
        '    outputs: ["tool", "data.bin"]\n'
        "  checksums:\n"
        "    kind: checksums\n"
        "    needs: [build]\n"
        "  sign:\n"
        "    kind: sign\n"
        "    needs: [checksums, build]\n"
        f"    artifacts: {sign_artifacts}\n" + signing +
        "  provenance:\n"
        "    kind: attest\n"
        "    needs: [build]\n" + signing)
    path = repo.write("release.yml", text)
    repo.commit("release pipeline")
    repo.tag(TAG)
    return path


def run_release(repo: Repo, cli, monkeypatch, stack, tmp_path: Path,
                sign_artifacts: str = "checksums") -> tuple[Path, str]:
    """Run the pipeline with a token for this repository's tag; gather the assets."""
    path = pipeline(repo, stack.trust_config, sign_artifacts)
    commit = git(repo.path, "rev-parse", "HEAD")
    claims = github_claims(repository=REPOSITORY, ref=f"refs/tags/{TAG}", sha=commit)
    monkeypatch.setenv(TOKEN_VAR, stack.make_token(claims))
    out = tmp_path / "out"
    result = cli("run", path, "--out", out, cwd=repo.path)
    assert result.code == 0, result.out + result.err
    # what a consumer downloads: every release asset in one folder
    assets = tmp_path / "assets"
    assets.mkdir()
    for stage in ("build", "checksums", "sign", "provenance"):
        for item in (out / stage).iterdir():
            shutil.copyfile(item, assets / item.name)
    return assets, commit


def verify(cli, assets: Path, stack, commit: str, **override: str):
    args = {"--repository": REPOSITORY, "--tag": TAG, "--commit": commit,
            "--trusted-root": str(stack.trusted_root), **override}
    flat = [x for pair in args.items() for x in pair]
    return cli("verify", assets, *flat, "--require-provenance")


def test_signed_and_attested_release_verifies(repo, cli, monkeypatch, sigstore_stack,
                                              tmp_path):
    assets, commit = run_release(repo, cli, monkeypatch, sigstore_stack, tmp_path)
    assert {"SHA256SUMS.sigstore.json", "demo.intoto.jsonl",
            "demo.intoto.sigstore.json"} <= {p.name for p in assets.iterdir()}
    result = verify(cli, assets, sigstore_stack, commit)
    assert result.code == 0, result.out + result.err
    out = result.out
    assert "PASS  signature   SHA256SUMS.sigstore.json: valid Sigstore signature over " \
           "SHA256SUMS" in out
    assert f"PASS  identity    SHA256SUMS.sigstore.json: signed by https://github.com/" \
           f"{REPOSITORY}/.github/workflows/release.yml@refs/tags/{TAG}" in out
    assert "PASS  signature   demo.intoto.sigstore.json: valid Sigstore signature over the " \
           "statement in demo.intoto.jsonl" in out
    assert f"PASS  source      demo.intoto.jsonl: source commit {commit} matches --commit" in out
    for name in ("tool", "data.bin"):
        assert f"PASS  subject     {name}: sha256" in out
    # without --commit, the provenance's commit is checked against the certificate's
    args = ["--repository", REPOSITORY, "--tag", TAG, "--trusted-root",
            str(sigstore_stack.trusted_root)]
    result = cli("verify", assets, *args)
    assert result.code == 0, result.out
    assert f"source commit {commit} matches the signing certificate" in result.out


def test_wrong_identity_and_tampering_fail(repo, cli, monkeypatch, sigstore_stack, tmp_path):
    assets, commit = run_release(repo, cli, monkeypatch, sigstore_stack, tmp_path)

    wrong = verify(cli, assets, sigstore_stack, commit, **{"--repository": "octo-org/other"})
    assert wrong.code == 1
    assert "FAIL  identity    SHA256SUMS.sigstore.json: signed by another identity" in wrong.out
    assert "FAIL  identity    demo.intoto.sigstore.json" in wrong.out

    other_commit = verify(cli, assets, sigstore_stack, commit, **{"--commit": "0" * 40})
    assert other_commit.code == 1
    assert "commit" in other_commit.out.split("FAIL  identity")[1].splitlines()[0]

    # swap an artifact
    (assets / "tool").write_bytes(b"tool-v2-evil")
    swapped = verify(cli, assets, sigstore_stack, commit)
    assert swapped.code == 1
    assert "FAIL  checksum    tool: sha256 differs from SHA256SUMS:2" in swapped.out

    # ... and edit the checksums file to match: its signature no longer verifies
    sums = assets / "SHA256SUMS"
    lines = sums.read_text().splitlines()
    lines[1] = f"{hashlib.sha256(b'tool-v2-evil').hexdigest()}  tool"
    sums.write_text("\n".join(lines) + "\n")
    edited = verify(cli, assets, sigstore_stack, commit)
    assert edited.code == 1
    assert "FAIL  signature   SHA256SUMS.sigstore.json: invalid Sigstore signature over " \
           "SHA256SUMS" in edited.out
    assert "FAIL  coverage    tool: no valid signature covers this file" in edited.out
    assert "FAIL  subject     tool: the provenance (demo.intoto.jsonl) names it with another " \
           "digest" in edited.out


def test_bundles_swapped_between_artifacts_fail(repo, cli, monkeypatch, sigstore_stack,
                                                tmp_path):
    assets, commit = run_release(repo, cli, monkeypatch, sigstore_stack, tmp_path,
                                 sign_artifacts="all")
    assert verify(cli, assets, sigstore_stack, commit).code == 0
    one, two = assets / "tool.sigstore.json", assets / "data.bin.sigstore.json"
    first = one.read_bytes()
    one.write_bytes(two.read_bytes())
    two.write_bytes(first)
    result = verify(cli, assets, sigstore_stack, commit)
    assert result.code == 1
    assert "FAIL  signature   tool.sigstore.json: invalid Sigstore signature over tool" \
           in result.out
    assert "FAIL  signature   data.bin.sigstore.json: invalid Sigstore signature over " \
           "data.bin" in result.out


def test_changed_statement_subject_fails(repo, cli, monkeypatch, sigstore_stack, tmp_path):
    assets, commit = run_release(repo, cli, monkeypatch, sigstore_stack, tmp_path)
    # edit the statement the release carries: it no longer matches the signed one
    path = assets / "demo.intoto.jsonl"
    envelope = json.loads(path.read_text())
    original = dict(envelope)
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["subject"][0]["digest"]["sha256"] = "e" * 64
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    path.write_text(json.dumps(envelope) + "\n")
    result = verify(cli, assets, sigstore_stack, commit)
    assert result.code == 1
    assert "FAIL  provenance  demo.intoto.jsonl: differs from the statement signed in " \
           "demo.intoto.sigstore.json" in result.out

    # the signed statement plus an unsigned extra line
    path.write_text(json.dumps(original) + "\n" + json.dumps(envelope) + "\n")
    result = verify(cli, assets, sigstore_stack, commit)
    assert result.code == 1
    assert "FAIL  provenance  demo.intoto.jsonl: holds 2 statements; " \
           "demo.intoto.sigstore.json signs one" in result.out

    # a statement validly signed by the same identity, but about other bytes
    from release.signing.keyless import KeylessSigner, load_trust_config

    claims = github_claims(repository=REPOSITORY, ref=f"refs/tags/{TAG}", sha=commit)
    signer = KeylessSigner(load_trust_config(None, sigstore_stack.trust_config, "trust"),
                           sigstore_stack.make_token(claims))
    try:
        signed = signer.sign_statement(statement)
    finally:
        signer.close()
    assert signed.bundle is not None
    (assets / "demo.intoto.sigstore.json").write_bytes(signed.bundle)
    path.write_text(json.dumps(dict(signed.envelope)) + "\n")
    name = statement["subject"][0]["name"]
    result = verify(cli, assets, sigstore_stack, commit)
    assert result.code == 1
    assert "PASS  signature   demo.intoto.sigstore.json" in result.out
    assert f"FAIL  subject     {name}: the provenance (demo.intoto.jsonl) names it with " \
           "another digest" in result.out
    assert f"found:    sha256 {'e' * 64}" in result.out


@pytest.mark.parametrize("bad", ["ref", "repository"])
def test_token_for_another_tag_or_repository_is_refused(repo, cli, monkeypatch,
                                                        sigstore_stack, tmp_path, bad):
    """A release signed from a branch or a fork: valid signatures, wrong signer."""
    path = pipeline(repo, sigstore_stack.trust_config)
    commit = git(repo.path, "rev-parse", "HEAD")
    claims = github_claims(repository=REPOSITORY, ref=f"refs/tags/{TAG}", sha=commit)
    if bad == "ref":
        claims = github_claims(repository=REPOSITORY, ref="refs/heads/main", sha=commit)
    else:
        claims = github_claims(repository="mallory/demo", ref=f"refs/tags/{TAG}", sha=commit)
    monkeypatch.setenv(TOKEN_VAR, sigstore_stack.make_token(claims))
    out = tmp_path / "out"
    assert cli("run", path, "--out", out, cwd=repo.path).code == 0
    assets = tmp_path / "assets"
    assets.mkdir()
    for stage in ("build", "checksums", "sign", "provenance"):
        for item in (out / stage).iterdir():
            shutil.copyfile(item, assets / item.name)
    result = verify(cli, assets, sigstore_stack, commit)
    assert result.code == 1
    assert "PASS  signature   SHA256SUMS.sigstore.json" in result.out
    assert "FAIL  identity    SHA256SUMS.sigstore.json" in result.out
