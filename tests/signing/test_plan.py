"""Plans and dry-runs of signing stages read no credential and call no service;
bad signing configuration is refused at load time with its position."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from release.errors import IntegrityError
from release.signing.keys import KeySigner
from tests.signing.conftest import PASSPHRASE, release_repo
from tests.signing.test_key import VAR as PASSPHRASE_VAR
from tests.signing.test_key import key_stages
from tests.signing.test_keyless import TOKEN_VAR, keyless_stages


def test_dry_run_reads_no_credential(repo, cli, sigstore_stack, github_oidc, monkeypatch,
                                     tmp_path):
    # sign uses the ambient GitHub OIDC, provenance an explicit token variable
    stages = keyless_stages(sigstore_stack.trust_config).replace(
        f"  identity-token-env: {TOKEN_VAR}\nprovenance", "provenance", 1)
    pipeline = release_repo(repo, stages)
    token = sigstore_stack.make_token()
    monkeypatch.setenv(TOKEN_VAR, token)
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", github_oidc.url)
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", github_oidc.bearer)
    before = len(sigstore_stack.requests())
    out, md, js = tmp_path / "out", tmp_path / "review.md", tmp_path / "review.json"
    result = cli("run", pipeline, "--out", out, "--dry-run", "--report", md, "--report", js)
    assert result.code == 0, result.out + result.err

    review = md.read_text(encoding="utf-8")
    sums = (out / "checksums" / "SHA256SUMS").read_bytes()
    digest = hashlib.sha256(sums).hexdigest()
    assert re.search(rf"would sign SHA256SUMS at the private Sigstore instance of \S+ "
                     rf"\(Fulcio http://127\.0\.0\.1:\d+, Rekor http://127\.0\.0\.1:\d+; "
                     rf"file sha256:[0-9a-f]{{64}}\) "
                     rf"\(`sha256:{digest}`; needs id-token: write; as the OIDC identity of "
                     rf"the job: https://github\.com/owner/repo/\.github/workflows/WORKFLOW"
                     rf"@refs/tags/v1\.0\.0", review), review
    assert "would sign demo.intoto.jsonl at the private Sigstore instance" in review
    assert f"as the identity in the token held by ${TOKEN_VAR} (not read in a plan)" in review
    assert "would attest tool (SLSA provenance v1) (`sha256:" in review
    for text in (result.out, result.err, review, js.read_text(encoding="utf-8")):
        assert token not in text and github_oidc.bearer not in text
    # no token was asked for, no service was called, nothing was signed
    assert github_oidc.seen == []
    assert len(sigstore_stack.requests()) == before
    assert not (out / "sign").exists() and not (out / "provenance").exists()


def test_dry_run_of_key_signing_opens_no_key(repo, cli, monkeypatch, tmp_path):
    # the key file does not exist: any attempt to read it would fail the stage
    missing = tmp_path / "nowhere" / "release.key"
    pipeline = release_repo(repo, key_stages(missing, attest=True))
    monkeypatch.setenv(PASSPHRASE_VAR, PASSPHRASE)
    out = tmp_path / "out"
    result = cli("run", pipeline, "--out", out, "--dry-run")
    text = result.out + result.err
    assert result.code == 0, text
    # stages that read a secret are planned in a dry-run, never run
    assert "sign (sign) would:" in text
    assert "would sign SHA256SUMS at offline (no transparency log)" in text
    assert f"as the key in {missing}, passphrase from ${PASSPHRASE_VAR}" in text
    assert "would sign demo.intoto.jsonl" in text
    assert PASSPHRASE not in text
    assert not (out / "manifests" / "sign.json").exists()


def test_static_plan_shows_least_privilege(repo, cli, tmp_path):
    trust = tmp_path / "trust.json"
    stages = keyless_stages(trust, token_var=None) + key_stages(tmp_path / "k.key").replace(
        "sign:", "sign-offline:")
    stages = stages.replace("provenance:\n  kind: attest\n  needs: [build, checksums]\n"
                            f"  trust-config: {trust}",
                            "provenance:\n  kind: attest\n  needs: [build, checksums]\n"
                            f"  trust-config: {trust}\n  identity-token-env: {TOKEN_VAR}")
    pipeline = release_repo(repo, stages)
    result = cli("plan", pipeline, "--format", "json")
    assert result.code == 0, result.err
    plan = {s["id"]: s for s in json.loads(result.out)["stages"]}
    assert (plan["sign"]["permissions"], plan["sign"]["effects"]) == (
        {"id-token": "write"}, "external")
    assert (plan["provenance"]["permissions"], plan["provenance"]["effects"]) == ({},
                                                                                 "external")
    assert (plan["sign-offline"]["permissions"], plan["sign-offline"]["effects"]) == ({},
                                                                                     "local")


# the stage starts on line 13 of the file release_repo writes; its options from line 16
@pytest.mark.parametrize("lines, where, message", [
    (["backend: key"], "14:5", "`backend: key` needs `key`: the path of a PEM private key"),
    (["key: k.pem"], "16:10", "`key` belongs to `backend: key`; this stage signs keyless"),
    (["backend: key", "key: k.pem", "identity-token-env: T"], "18:25",
     "`identity-token-env` belongs to `backend: sigstore`, not `backend: key`"),
    (["instance: staging", "trust-config: t.json"], "17:19",
     "give `instance` or `trust-config`, not both"),
    (["instance: prod"], "16:15", "input should be 'production' or 'staging'"),
    (["artifacts: some"], "16:16", "input should be 'checksums', 'all' or 'images'"),
    (["identity-token-env: 1TOKEN"], "16:25", "should match pattern"),
    (["identity-token-env: T", "permissions: {id-token: write}"], "17:29",
     "stage 'sign' declares id-token: write; kind sign needs none"),
    (["permissions: {contents: read}"], "16:18",
     "stage 'sign' declares id-token: none; kind sign needs id-token: write"),
])
def test_bad_signing_config_is_refused_with_its_position(repo, cli, lines, where, message):
    stage = "sign:\n  kind: sign\n  needs: [checksums]\n" + "".join(f"  {x}\n" for x in lines)
    pipeline = release_repo(repo, stage)
    result = cli("plan", pipeline)
    assert result.code == 2
    assert message in result.err
    assert f"release.yml:{where}: error: " in result.err, result.err


def test_input_changed_between_stages_stops_before_signing(repo, cli, sigstore_stack,
                                                           monkeypatch, tmp_path):
    pipeline = release_repo(repo, keyless_stages(sigstore_stack.trust_config))
    monkeypatch.setenv(TOKEN_VAR, sigstore_stack.make_token())
    out = tmp_path / "out"
    for stage in ("build", "checksums"):
        step = cli("run", pipeline, "--out", out, "--stage", stage,
                   *(["--artifacts", out] if stage == "checksums" else []))
        assert step.code == 0, step.out + step.err
    sums = out / "checksums" / "SHA256SUMS"
    sums.write_text(sums.read_text().replace("tool", "evil"))
    before = len(sigstore_stack.requests())
    result = cli("run", pipeline, "--out", out, "--stage", "sign", "--artifacts", out)
    assert result.code == 1
    assert "artifact checksums/SHA256SUMS changed after stage 'checksums' produced it" in (
        result.err)
    assert len(sigstore_stack.requests()) == before
    assert not (out / "sign").exists()


def test_signer_rehashes_what_it_signs(make_key, tmp_path):
    # a file swapped after the engine's re-verification is caught by the signer itself
    key = make_key(passphrase=None)
    signer = KeySigner.load(key.private, None, shown="release.key")
    target = tmp_path / "SHA256SUMS"
    target.write_bytes(b"original\n")
    recorded = hashlib.sha256(b"original\n").hexdigest()
    target.write_bytes(b"swapped\n")
    with pytest.raises(IntegrityError, match="SHA256SUMS changed before it was signed: "
                                             f"recorded sha256 {recorded}"):
        signer.sign_file(target, recorded)
