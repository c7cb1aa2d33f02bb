"""Bad usage exits 2 with a message and a hint; malformed release files are failed checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.verify.conftest import PRODUCTION, STAGING, WHEEL, copy, identity_args, sha256sums


@pytest.mark.parametrize(("args", "message"), [
    (["--repository", "o/n"], "error: --tag is missing"),
    (["--tag", "v1"], "error: --repository is missing"),
    ([], "error: nothing to verify the signatures against"),
    (["--repository", "not-a-repo", "--tag", "v1"], "is not OWNER/NAME"),
    (["--repository", "o/n", "--tag", "v1", "--workflow", "a/b.yml"],
     "is not a workflow file name"),
    (["--repository", "o/n", "--tag", "v1", "--commit", "abc"], "is not a full 40-hex commit"),
    (["--repository", "o/n", "--tag", "v1", "--trusted-root", "missing.json"],
     "--trusted-root missing.json is not a file"),
    (["--repository", "o/n", "--tag", "v1", "--staging", "--trusted-root",
      str(PRODUCTION / "trusted_root.json")], "both name a trust root"),
])
def test_bad_arguments(cli, wheel_release: Path, args: list[str], message: str):
    result = cli("verify", wheel_release, *args)
    assert result.code == 2
    assert message in result.err
    assert "hint:" in result.err or "is not a file" in message
    assert "Traceback" not in result.err


def test_missing_directory(cli, tmp_path: Path):
    result = cli("verify", tmp_path / "nope", "--repository", "o/n", "--tag", "v1")
    assert result.code == 2
    assert "is not a directory" in result.err


def test_no_checksums_file(cli, tmp_path: Path):
    copy(PRODUCTION / WHEEL, tmp_path / WHEEL)
    result = cli("verify", tmp_path, *identity_args())
    assert result.code == 2
    assert f"error: no checksums file in {tmp_path}" in result.err
    assert "hint: expected SHA256SUMS or SHA512SUMS" in result.err


def test_bad_key_file(cli, wheel_release: Path):
    (wheel_release.parent / "pub.pem").write_text("not a key\n")
    result = cli("verify", wheel_release, "--key", wheel_release.parent / "pub.pem")
    assert result.code == 2
    assert "is not a PEM public key" in result.err


def test_unreadable_trusted_root(cli, wheel_release: Path):
    bad = wheel_release.parent / "root.json"
    bad.write_text("{}")
    args = identity_args()
    args[args.index("--trusted-root") + 1] = str(bad)
    result = cli("verify", wheel_release, *args)
    assert result.code == 2
    assert f"cannot load trusted root {bad}" in result.err


def test_sigstore_bundle_without_identity(cli, wheel_release: Path, tmp_path: Path):
    pub = tmp_path / "pub.pem"
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out",
                    str(tmp_path / "k.pem")], check=True)
    subprocess.run(["openssl", "ec", "-in", str(tmp_path / "k.pem"), "-pubout", "-out",
                    str(pub)], check=True, capture_output=True)
    result = cli("verify", wheel_release, "--key", pub)
    assert result.code == 2
    assert "the release has Sigstore bundles" in result.err
    assert "--repository OWNER/NAME and --tag TAG" in result.err


def test_malformed_and_escaping_checksum_lines(cli, wheel_release: Path):
    sums = wheel_release / "SHA256SUMS"
    sums.write_text(sums.read_text() + "not a checksum line\n" + "a" * 64 + "  ../etc/passwd\n")
    result = cli("verify", wheel_release, *identity_args())
    assert result.code == 1
    assert "FAIL  checksums   SHA256SUMS:2: not a checksum line" in result.out
    assert "FAIL  checksums   SHA256SUMS:3: file name '../etc/passwd' leaves the release " \
           "directory" in result.out


def test_missing_listed_file_and_sha512(cli, wheel_release: Path):
    sha256sums(wheel_release, [WHEEL])
    out = subprocess.run(["sha512sum", WHEEL], cwd=wheel_release, capture_output=True,
                         text=True, check=True).stdout
    (wheel_release / "SHA512SUMS").write_text(out + "b" * 128 + "  gone.tar.gz\n")
    result = cli("verify", wheel_release, *identity_args())
    assert result.code == 1
    assert f"PASS  checksum    {WHEEL}: sha512 matches SHA512SUMS:1" in result.out
    assert "FAIL  checksum    gone.tar.gz: listed in SHA512SUMS:2 but no such file in the " \
           "directory" in result.out
    # the gone file is listed, so coverage asks for a signature over it too
    assert "FAIL  coverage    gone.tar.gz" in result.out


def test_release_without_signatures(cli, tmp_path: Path):
    copy(PRODUCTION / WHEEL, tmp_path / WHEEL)
    sha256sums(tmp_path, [WHEEL])
    result = cli("verify", tmp_path, *identity_args())
    assert result.code == 1
    assert f"FAIL  signature   {tmp_path.name}: no signature to verify" in result.out


def test_verify_help_imports_no_heavy_module():
    code = ("import sys; from release.cli import main\n"
            "try:\n    main(['verify', '--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('sigstore', 'cryptography', 'cyclonedx', 'githubkit') "
            "if m in sys.modules]\nprint(heavy)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert proc.stdout.strip().endswith("[]"), proc.stdout


def test_provenance_bundle_without_its_statement(cli, wheel_release: Path):
    # alone, a DSSE bundle is an attestation in its own right (actions/attest's shape):
    # this one, from the staging instance, does not verify against the production root
    copy(STAGING / "a.dsse.staging-rekor-v2.txt.sigstore.json",
         wheel_release / "demo.intoto.sigstore.json")
    result = cli("verify", wheel_release, *identity_args())
    assert result.code == 1
    assert "FAIL  signature   demo.intoto.sigstore.json: invalid Sigstore signature on the " \
           "attestation" in result.out
    assert "UNCOVERED demo.intoto.sigstore.json: a Sigstore bundle that did not verify" \
        in result.out
