"""`release verify` on releases made with cosign and actions/attest: attestation bundles as
files, `gh attestation download` files, and GitHub's release attestation, checked offline.

The release is shaped like tpm-ca-certificates': a real TPM root certificate as the asset,
a checksums file signed keyless, build provenance from actions/attest and GitHub's
release attestation as `gh attestation download` writes them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import SHARED
from tests.verify.attest_kit import (
    github_instance,  # noqa: F401  (session fixture)
    provenance,
    release_claims,
    release_statement,
    run_claims,
    sha256,
    sign,
    write_jsonl,
)
from tests.verify.conftest import STAGING, copy

REPOSITORY = "tpm-roots/tpm-ca-certificates"
TAG = "v1.4.0"
COMMIT = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
PEM = "tpm-ca-certificates.pem"


def keyless_blob(stack, claims, data: bytes) -> dict:
    """A cosign-style bundle over a file (message signature), as the release signs it."""
    from sigstore.models import ClientTrustConfig
    from sigstore.oidc import IdentityToken
    from sigstore.sign import SigningContext

    from tests.sigstore_stack import unsigned_jwt

    config = ClientTrustConfig.from_json(stack.trust_config.read_text(encoding="utf-8"))
    with SigningContext.from_trust_config(config).signer(
            IdentityToken(unsigned_jwt(claims))) as signer:
        return json.loads(signer.sign_artifact(data).to_json())


@pytest.fixture(scope="module")
def made(sigstore_stack, github_instance, tmp_path_factory):  # noqa: F811
    """The release's files and attestations, signed once for the module."""
    github_stack, github_root = github_instance
    folder = tmp_path_factory.mktemp("made")
    pem = (SHARED / "fixtures" / "tpm" / "nuvoton-tpm-root-ca-1110.pem").read_bytes()
    sums = f"{sha256(pem)}  {PEM}\n".encode()
    claims = run_claims(REPOSITORY, TAG, COMMIT)
    subjects = {PEM: sha256(pem), "checksums.txt": sha256(sums)}
    both, sums_only = sign(sigstore_stack, claims,
                           provenance(subjects, repository=REPOSITORY, tag=TAG, commit=COMMIT),
                           provenance({"checksums.txt": sha256(sums)}, repository=REPOSITORY,
                                      tag=TAG, commit=COMMIT))
    sums_sig = keyless_blob(sigstore_stack, claims, sums)
    assets = {PEM: sha256(pem), "checksums.txt": sha256(sums),
              "checksums.txt.sigstore.json": sha256(json.dumps(sums_sig).encode())}
    [release] = sign(github_stack, release_claims(),
                     release_statement(assets, repository=REPOSITORY, tag=TAG, commit=COMMIT),
                     log=False)
    return {"pem": pem, "sums": sums, "sums_sig": sums_sig, "both": both,
            "sums_only": sums_only, "release": release, "github_root": github_root,
            "folder": folder}


def release_dir(tmp_path: Path, made: dict) -> Path:
    directory = tmp_path / "assets"
    directory.mkdir()
    (directory / PEM).write_bytes(made["pem"])
    (directory / "checksums.txt").write_bytes(made["sums"])
    (directory / "checksums.txt.sigstore.json").write_text(json.dumps(made["sums_sig"]))
    return directory


def args(stack, made: dict, *extra: str) -> list[str]:
    return ["--repository", REPOSITORY, "--tag", TAG, "--commit", COMMIT,
            "--trusted-root", str(stack.trusted_root),
            "--github-trusted-root", str(made["github_root"]), *extra]


def test_gh_download_file_with_provenance_and_release_attestation(cli, tmp_path, made,
                                                                  sigstore_stack):
    directory = release_dir(tmp_path, made)
    write_jsonl(directory / f"sha256:{sha256(made['pem'])}.jsonl",
                [made["both"], made["release"]])
    result = cli("verify", directory, *args(sigstore_stack, made), "--require-provenance")
    assert result.code == 0, result.out + result.err
    out = result.out
    assert "PASS  found       2 attestation(s): 0 in release assets, 0 from the GitHub API, " \
           "2 in download files" in out
    name = f"sha256:{sha256(made['pem'])}.jsonl"
    assert f"PASS  signature   {name}:1: valid attestation signed by https://github.com/" \
           f"{REPOSITORY}/.github/workflows/release.yml@refs/tags/{TAG}" in out
    assert f"PASS  source      {name}:1: source commit {COMMIT} matches --commit" in out
    assert f"PASS  signature   {name}:2: valid release attestation by GitHub's Sigstore " \
           "instance (trusted root github_trusted_root.json)" in out
    assert f"PASS  release     {name}:2: {REPOSITORY}@{TAG} at {COMMIT}: 3 file(s) here are " \
           "its assets" in out
    assert f"PASS  provenance  {PEM}: https://slsa.dev/provenance/v1 by https://github.com/" \
           f"{REPOSITORY}/.github/workflows/release.yml@refs/tags/{TAG} in {name}:1" in out
    # a checksums file is no asset that needs provenance of its own
    assert "provenance  checksums.txt" not in out
    assert "UNCOVERED" not in out


def test_bundle_files_among_the_assets_several_subjects(cli, tmp_path, made, sigstore_stack):
    # actions/attest's bundle uploaded as a release asset, one statement for two files
    directory = release_dir(tmp_path, made)
    (directory / "provenance.sigstore.json").write_text(json.dumps(made["both"]))
    result = cli("verify", directory, *args(sigstore_stack, made), "--require-provenance")
    assert result.code == 0, result.out + result.err
    assert "1 in release assets, 0 from the GitHub API, 0 in download files" in result.out
    assert f"PASS  provenance  {PEM}: https://slsa.dev/provenance/v1" in result.out
    # the bundle is an asset of the release, so it is not a subject of itself: covered
    # because it verified and was used
    assert "UNCOVERED" not in result.out


def test_require_provenance_names_the_file_without_one(cli, tmp_path, made, sigstore_stack):
    directory = release_dir(tmp_path, made)
    # the only attestation is about the checksums file, not the certificate
    write_jsonl(directory / f"sha256:{sha256(made['sums'])}.jsonl", [made["sums_only"]])
    result = cli("verify", directory, *args(sigstore_stack, made), "--require-provenance")
    assert result.code == 1
    assert f"FAIL  provenance  {PEM}: no verified attestation of this file's sha256 " \
           "meets the policy" in result.out
    without = cli("verify", directory, *args(sigstore_stack, made))
    assert without.code == 0, without.out
    assert f"SKIP  provenance  {PEM}: no provenance attestation names this file" \
        in without.out


def test_release_attestation_needs_github_root(cli, tmp_path, made, sigstore_stack):
    directory = release_dir(tmp_path, made)
    name = f"sha256-{sha256(made['pem'])}.jsonl"  # gh's name where ':' is not allowed
    write_jsonl(directory / name, [made["both"], made["release"]])
    plain = [a for a in args(sigstore_stack, made) if a not in (
        "--github-trusted-root", str(made["github_root"]))]
    result = cli("verify", directory, *plain)
    assert result.code == 1
    assert f"SKIP  release     {name}:2: GitHub's release attestation not checked: no " \
           "trusted root for GitHub's Sigstore instance" in result.out
    assert f"UNCOVERED {name}: " in result.out


def test_real_staging_dsse_bundle_attests_no_file_here(cli, tmp_path):
    # a real DSSE bundle of Sigstore's staging instance (sigstore-conformance's workflow
    # on refs/heads/main): valid, by that workflow, about a.txt, which is not here
    directory = tmp_path / "assets"
    directory.mkdir()
    shutil.copyfile(STAGING / "a.dsse.staging-rekor-v2.txt", directory / "a.txt")
    copy(STAGING / "a.dsse.staging-rekor-v2.txt.sigstore.json",
         directory / "a.txt.intoto.sigstore.json")
    result = cli("verify", directory, "--repository",
                 "sigstore-conformance/extremely-dangerous-public-oidc-beacon",
                 "--tag", "refs/heads/main", "--workflow", "extremely-dangerous-oidc-beacon.yml",
                 "--trusted-root", STAGING / "trusted_root.json")
    assert result.code == 1
    out = result.out
    assert "PASS  signature   a.txt.intoto.sigstore.json: valid attestation signed by " in out
    assert "FAIL  subject     a.txt: a.txt.intoto.sigstore.json attests another version of " \
           "this file" in out
    assert "expected: sha256 a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf" \
        in out
    assert "UNCOVERED a.txt.intoto.sigstore.json" in out
    other = cli("verify", directory, "--repository", "someone/else", "--tag", "v1",
                "--trusted-root", STAGING / "trusted_root.json")
    assert other.code == 1
    assert "FAIL  identity    a.txt.intoto.sigstore.json: signed by another workflow run: " \
           "identity (SAN), build config, source repository, source ref" in other.out


def test_json_output_lists_attestation_checks(cli, tmp_path, made, sigstore_stack):
    directory = release_dir(tmp_path, made)
    write_jsonl(directory / f"sha256:{sha256(made['pem'])}.jsonl",
                [made["both"], made["release"]])
    result = cli("verify", directory, *args(sigstore_stack, made), "--json")
    assert result.code == 0, result.out
    report = json.loads(result.out)
    checks = {c["check"] for c in report["checks"]}
    assert {"found", "signature", "release", "provenance", "source"} <= checks
    assert report["ok"] is True and report["uncovered"] == 0
