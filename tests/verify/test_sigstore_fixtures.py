"""`release verify` on real Sigstore bundles: production (GitHub Actions), staging, invalid."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from release.verify.identity import ExpectedIdentity
from release.verify.report import Report
from release.verify.sigstore_bundles import Trust, verify_blob, verify_dsse
from release.verify.statements import check_subjects, parse_statement
from tests.verify.conftest import (
    COMMIT,
    INVALID,
    PRODUCTION,
    REPOSITORY,
    STAGING,
    TAG,
    WHEEL,
    copy,
    identity_args,
    sha256sums,
)


def lines(text: str, outcome: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(outcome)]


def test_production_bundle_verifies_with_its_true_identity(cli, wheel_release: Path):
    result = cli("verify", wheel_release, *identity_args())
    assert result.code == 0, result.out + result.err
    passed = "\n".join(lines(result.out, "PASS"))
    assert f"checksum    {WHEEL}: sha256 matches SHA256SUMS:1" in passed
    assert f"signature   {WHEEL}.sigstore.json: valid Sigstore signature over {WHEEL}" in passed
    assert (f"identity    {WHEEL}.sigstore.json: signed by https://github.com/{REPOSITORY}"
            f"/.github/workflows/release.yml@refs/tags/{TAG}") in passed
    assert f"commit {COMMIT}" in passed
    assert "coverage    1 files: every listed file is covered" in passed
    assert not lines(result.out, "FAIL")
    assert result.out.rstrip().endswith("verified (4 passed, 0 failed, 0 uncovered)")
    assert "UNCOVERED" not in result.out


@pytest.mark.parametrize(("change", "what", "expected", "found"), [
    ({"repository": "trailofbits/rfc8785"}, "repository", "repository trailofbits/rfc8785",
     "repository trailofbits/rfc8785.py"),
    ({"workflow": "ci.yml"}, "identity (SAN)", "workflows/ci.yml@refs/tags/v0.1.2",
     "workflows/release.yml@refs/tags/v0.1.2"),
    ({"tag": "v0.1.3"}, "ref", "ref refs/tags/v0.1.3", "ref refs/tags/v0.1.2"),
    ({"commit": "0" * 40}, "commit", "commit " + "0" * 40, f"commit {COMMIT}"),
])
def test_wrong_identity_fails_naming_expected_and_found(cli, wheel_release: Path, change,
                                                        what, expected, found):
    result = cli("verify", wheel_release, *identity_args(**change))
    assert result.code == 1
    failed = lines(result.out, "FAIL")
    # the signature itself is fine; the identity check is what fails, and says why
    assert any(f"{WHEEL}.sigstore.json: valid Sigstore signature" in x
               for x in lines(result.out, "PASS"))
    identity = next(x for x in failed if x.startswith("FAIL  identity"))
    assert what in identity
    block = result.out[result.out.index(identity):]
    assert expected in block.splitlines()[1]
    assert found in block.splitlines()[2]
    assert any(x.startswith(f"FAIL  coverage    {WHEEL}") for x in failed)


def test_one_byte_change_in_the_artifact_fails(cli, wheel_release: Path):
    data = bytearray((wheel_release / WHEEL).read_bytes())
    data[len(data) // 2] ^= 0x01
    (wheel_release / WHEEL).write_bytes(bytes(data))
    result = cli("verify", wheel_release, *identity_args())
    assert result.code == 1
    assert f"FAIL  checksum    {WHEEL}: sha256 differs from SHA256SUMS:1" in result.out
    # and with a checksums file rewritten to match, the signature still catches it
    sha256sums(wheel_release, [WHEEL])
    result = cli("verify", wheel_release, *identity_args())
    assert result.code == 1
    assert f"PASS  checksum    {WHEEL}" in result.out
    assert f"FAIL  signature   {WHEEL}.sigstore.json: invalid Sigstore signature over " \
           f"{WHEEL}" in result.out


def test_bundle_moved_to_another_artifact_fails(cli, wheel_release: Path):
    other = copy(STAGING / "bundle_v3.txt", wheel_release / "notes.txt")
    copy(wheel_release / f"{WHEEL}.sigstore.json", wheel_release / f"{other.name}.sigstore.json")
    sha256sums(wheel_release, [WHEEL, other.name])
    result = cli("verify", wheel_release, *identity_args())
    assert result.code == 1
    assert "FAIL  signature   notes.txt.sigstore.json: invalid Sigstore signature over " \
           "notes.txt" in result.out
    assert "FAIL  coverage    notes.txt: no valid signature covers this file" in result.out
    assert f"PASS  signature   {WHEEL}.sigstore.json" in result.out


def test_json_report(cli, wheel_release: Path):
    result = cli("verify", wheel_release, *identity_args(), "--json")
    assert result.code == 0
    report = json.loads(result.out)
    assert report["ok"] is True and report["failed"] == 0 and report["uncovered"] == 0
    assert {c["check"] for c in report["checks"]} >= {"checksum", "signature", "identity",
                                                      "coverage"}
    bad = cli("verify", wheel_release, *identity_args(tag="v9"), "--json")
    failed = [c for c in json.loads(bad.out)["checks"] if c["outcome"] == "fail"]
    identity = next(c for c in failed if c["check"] == "identity")
    assert "ref refs/tags/v9" in identity["expected"]
    assert "ref refs/tags/v0.1.2" in identity["found"]


INVALID_BUNDLES = sorted(p for p in INVALID.iterdir() if ".sigstore" in p.name)


@pytest.mark.parametrize("bundle", INVALID_BUNDLES, ids=lambda p: p.name)
@pytest.mark.parametrize("root", ["production", "staging"])
def test_every_invalid_bundle_is_rejected(bundle: Path, root: str):
    artifact = INVALID / bundle.name.split(".sigstore")[0]
    verifier = Trust(SHARED_ROOTS[root]).verifier()
    digest = hashlib.sha256(artifact.read_bytes()).hexdigest()
    verdict = verify_blob(verifier, digest, bundle.read_bytes(),
                          ExpectedIdentity.parse("owner/name", "v1"))
    # rejected as a signature, whatever the identity: the bundle itself is bad
    assert verdict.error is not None
    assert "\n" not in verdict.error


@pytest.mark.parametrize("bundle", INVALID_BUNDLES, ids=lambda p: p.name)
def test_invalid_bundles_fail_release_verify(cli, tmp_path: Path, bundle: Path):
    artifact = bundle.name.split(".sigstore")[0]
    copy(INVALID / artifact, tmp_path / artifact)
    copy(bundle, tmp_path / f"{artifact}.sigstore.json")
    sha256sums(tmp_path, [artifact])
    result = cli("verify", tmp_path, "--repository", "owner/name", "--tag", "v1",
                 "--trusted-root", STAGING / "trusted_root.json")
    assert result.code == 1
    assert f"FAIL  signature   {artifact}.sigstore.json: invalid Sigstore signature" \
           in result.out
    assert "Traceback" not in result.out + result.err


SHARED_ROOTS = {"production": PRODUCTION / "trusted_root.json",
                "staging": STAGING / "trusted_root.json"}
DSSE_IDENTITY = ExpectedIdentity.parse(
    "sigstore-conformance/extremely-dangerous-public-oidc-beacon", "refs/heads/main",
    "extremely-dangerous-oidc-beacon.yml")


def test_staging_dsse_bundle_verifies_and_subjects_are_checked():
    verifier = Trust(SHARED_ROOTS["staging"]).verifier()
    bundle = (STAGING / "a.dsse.staging-rekor-v2.txt.sigstore.json").read_bytes()
    verdict = verify_dsse(verifier, bundle, DSSE_IDENTITY)
    assert verdict.error is None and verdict.identity_ok, verdict
    assert verdict.payload_type == "application/vnd.in-toto+json"
    assert verdict.payload is not None
    statement = parse_statement(verdict.payload_type, verdict.payload, "a.intoto.jsonl")
    assert not isinstance(statement, str), statement
    claimed = dict(statement.subjects)
    assert statement.predicate_type == "https://slsa.dev/provenance/v1"

    artifact = STAGING / "a.dsse.staging-rekor-v2.txt"
    digest = hashlib.sha256(artifact.read_bytes()).hexdigest()
    # verify_dsse accepted it, yet the statement is not about this file: we catch that
    report = Report("dir")
    check_subjects([statement], {artifact.name: digest}, report)
    [check] = report.failures()
    assert check.subject == artifact.name
    assert check.message == "not a subject of any provenance statement"
    assert digest in (check.expected or "")

    # same name as the subject, different bytes: named with both digests
    (name, claimed_digest), = claimed.items()
    report = Report("dir")
    check_subjects([statement], {name: digest}, report)
    [check] = report.failures()
    assert "names it with another digest" in check.message
    assert check.expected == f"sha256 {digest} (the file)"
    assert check.found == f"sha256 {claimed_digest}"


def test_staging_dsse_bundle_with_another_identity_is_refused():
    verifier = Trust(SHARED_ROOTS["staging"]).verifier()
    bundle = (STAGING / "a.dsse.staging-rekor-v2.txt.sigstore.json").read_bytes()
    verdict = verify_dsse(verifier, bundle, ExpectedIdentity.parse(
        "sigstore-conformance/extremely-dangerous-public-oidc-beacon", "v1.0.0",
        "extremely-dangerous-oidc-beacon.yml"))
    assert verdict.error is None
    assert not verdict.identity_ok
    assert verdict.mismatches is not None
    assert ("ref", "refs/tags/v1.0.0", "refs/heads/main") in verdict.mismatches


def test_production_bundle_fails_under_the_staging_root(cli, wheel_release: Path):
    args = identity_args()
    args[args.index("--trusted-root") + 1] = str(SHARED_ROOTS["staging"])
    result = cli("verify", wheel_release, *args)
    assert result.code == 1
    assert f"FAIL  signature   {WHEEL}.sigstore.json: invalid Sigstore signature" in result.out
    assert "SKIP  identity" in result.out


@pytest.mark.online
@pytest.mark.skipif(os.environ.get("RELEASE_ONLINE_TESTS") != "1",
                    reason="needs the network: Sigstore's production TUF repository")
def test_production_bundle_verifies_against_the_live_trust_root(cli, wheel_release: Path):
    """Needs the network: fetches Sigstore's production trust root over TUF."""
    args = identity_args()
    del args[args.index("--trusted-root"):args.index("--trusted-root") + 2]
    assert cli("verify", wheel_release, *args).code == 0
