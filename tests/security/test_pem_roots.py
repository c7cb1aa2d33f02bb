"""Attacks on pem-bundle: what a hostile certificate file, server or configuration tries.

Trusted: the pipeline and the pins it holds. Not trusted: the bytes a path or URL
yields, the server and its redirects, and a certificates file's entries (it may come
from another project). Each attack runs through the CLI on a real repository; openssl
is the independent judge of fingerprints.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from release.pem.armor import armor
from tests.conftest import Repo
from tests.pem import quirky
from tests.stages import test_pem_bundle
from tests.stages.test_pem_bundle import (
    _fails,
    colons,
    entry,
    issue,
    pem_blocks,
    pipeline,
    run,
    write_bytes,
)
from tests.stages.test_pem_bundle_roots import file_pipeline, roots_file

#: An HTTPS server on loopback serving files and redirects (a fixture).
https = test_pem_bundle.https


def openssl_sha256(data: bytes, inform: str = "DER") -> str:
    out = subprocess.run(["openssl", "x509", "-inform", inform, "-noout", "-fingerprint",
                          "-sha256"], input=data, capture_output=True, check=True).stdout
    return out.decode().strip().split("=", 1)[1].replace(":", "").lower()


def canonical_set_ordering() -> tuple[bytes, bytes]:
    """A root whose multi-valued name is out of DER order, and the same certificate with
    the SET sorted: what a re-encoding parser would produce, and pin."""
    quirk = quirky.QUIRKS["set-ordering"]().der
    ordered = quirky.seq(quirky.set_of(*sorted([
        quirky.attribute(quirky.CN, quirky.utf8("Quirk Multi-Valued CA")),
        quirky.attribute(quirky.ORG, quirky.utf8("Quirk Test")),
        quirky.attribute(quirky.C, quirky.printable("TW"))])))
    canonical = quirky.certificate(quirky.tbs(issuer=ordered, subject=ordered))
    return quirk, canonical


def test_a_pin_of_a_re_encoding_never_matches_the_exact_bytes(repo: Repo, cli,
                                                               tmp_path: Path) -> None:
    quirk, canonical = canonical_set_ordering()
    # the outer SEQUENCE's length written in 3 bytes: BER. openssl parses it and reports
    # the digest of its own DER re-encoding, not of these bytes
    plain = quirky.QUIRKS["boolean-01"]().der
    body = plain[4:] if plain[1] == 0x82 else plain[3:]
    ber = b"\x30\x83" + len(body).to_bytes(3, "big") + body
    assert openssl_sha256(ber) == hashlib.sha256(plain).hexdigest() != \
        hashlib.sha256(ber).hexdigest()
    write_bytes(repo, "quirk.der", quirk)
    write_bytes(repo, "canonical.der", canonical)
    write_bytes(repo, "ber.der", ber)
    write_bytes(repo, "quirk.pem", armor(quirk).encode())
    err = _fails(cli, repo, tmp_path, "\n".join([
        entry("quirk.der", hashlib.sha256(canonical).hexdigest()),
        entry("canonical.der", hashlib.sha256(quirk).hexdigest()),
        entry("ber.der", openssl_sha256(ber)),
        entry("quirk.pem", hashlib.sha256(armor(quirk).encode()).hexdigest()),  # the file's
    ]))
    assert "4 certificates were refused" in err
    assert (f"certificates[0] (quirk.der): SHA-256 fingerprint mismatch: pinned "
            f"{colons(hashlib.sha256(canonical).hexdigest())}, the file has "
            f"{colons(hashlib.sha256(quirk).hexdigest())}") in err
    assert "certificates[1] (canonical.der): SHA-256 fingerprint mismatch" in err
    assert ("certificates[2] (ber.der): not a certificate: DER decoding failed at byte 1: a "
            "length not in its shortest form (BER, not DER)") in err
    assert "certificates[3] (quirk.pem): SHA-256 fingerprint mismatch" in err


def test_the_pin_is_on_the_der_not_on_the_pem_text(repo: Repo, cli, tmp_path: Path) -> None:
    quirk, _ = canonical_set_ordering()
    wide = armor(quirk).replace("\n", "\r\n").encode()  # CRLF, as some vendors publish
    write_bytes(repo, "crlf.pem", b"Vendor root\r\n" + wide + b"trailing text\r\n")
    pipeline(repo, entry("crlf.pem", hashlib.sha256(quirk).hexdigest()))
    repo.commit()
    res = run(cli, repo, tmp_path / "out")
    assert res.code == 0, res.err
    [block] = pem_blocks((tmp_path / "out" / "bundle" / "roots.pem").read_text())
    assert openssl_sha256(block.encode(), "PEM") == hashlib.sha256(quirk).hexdigest()


def test_trailing_data_and_two_certificates_under_one_entry(repo: Repo, cli,
                                                            tmp_path: Path) -> None:
    root, other = issue("Root CA"), issue("Other CA")
    key = root.key.private_bytes(serialization.Encoding.PEM,
                                 serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
    write_bytes(repo, "trailing.der", root.der + b"\x00\x00junk")
    write_bytes(repo, "trailing-in-pem.pem", armor(root.der + b"\x05\x00").encode())
    write_bytes(repo, "two.der", root.der + other.der)
    write_bytes(repo, "two.pem", root.pem + other.pem)
    write_bytes(repo, "with-key.pem", root.pem + key)
    err = _fails(cli, repo, tmp_path, "\n".join(
        entry(name, hashlib.sha256(name.encode()).hexdigest())
        for name in ("trailing.der", "trailing-in-pem.pem", "two.der", "two.pem",
                     "with-key.pem")))
    end = len(root.der)
    assert (f"certificates[0] (trailing.der): not a certificate: DER decoding failed at "
            f"byte {end}: 6 bytes follow the end of the certificate") in err
    assert (f"certificates[1] (trailing-in-pem.pem): not a certificate: DER decoding failed "
            f"at byte {end} of the PEM block at line 1: 2 bytes follow the end") in err
    assert (f"certificates[2] (two.der): not a certificate: DER decoding failed at byte "
            f"{end}: {len(other.der)} bytes follow the end of the certificate") in err
    assert ("certificates[3] (two.pem): not a certificate: the file holds 2 certificates, "
            "not one") in err
    assert ("certificates[4] (with-key.pem): not a certificate: the file holds a PEM block "
            "that is not a certificate: 'PRIVATE KEY' (line ") in err


def test_non_certificates(repo: Repo, cli, tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    crl = (x509.CertificateRevocationListBuilder().issuer_name(name)
           .last_update(quirky.NOT_BEFORE).next_update(quirky.NOT_AFTER)
           .sign(key, hashes.SHA256()))
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    files = {
        "csr.pem": csr.public_bytes(serialization.Encoding.PEM),
        "crl.der": crl.public_bytes(serialization.Encoding.DER),
        "key.der": public,
        "empty.crt": b"",
        "html.crt": b"<html>moved</html>\n",
        "utf16.pem": "-----BEGIN CERTIFICATE-----\n".encode("utf-16"),
    }
    for path, data in files.items():
        write_bytes(repo, path, data)
    err = _fails(cli, repo, tmp_path, "\n".join(
        entry(path, hashlib.sha256(data).hexdigest()) for path, data in files.items()))
    assert "6 certificates were refused" in err
    assert "(csr.pem): not a certificate: the file holds a PEM block that is not a " \
           "certificate: 'CERTIFICATE REQUEST' (line 1)" in err
    assert "(crl.der): not a certificate: DER decoding failed at byte " in err
    assert "(key.der): not a certificate: DER decoding failed at byte 2: a certificate " \
           "holds 3 elements" not in err  # a key has 2: refused for that, in words
    assert "(key.der): not a certificate: DER decoding failed at byte 0: a certificate " \
           "holds 3 elements (to-be-signed part, algorithm, signature), this one 2" in err
    assert "(empty.crt): not a certificate: neither PEM" in err and "the file is empty" in err
    assert "(html.crt): not a certificate: neither PEM" in err
    assert "(utf16.pem): not a certificate: neither PEM" in err
    assert "ParseError" not in err and "Traceback" not in err


def test_huge_files_are_refused(repo: Repo, cli, tmp_path: Path, https) -> None:
    base, files = https
    root = issue("Root CA")
    padded = b"x" * (2 * 1024 * 1024) + root.pem  # the certificate after 2 MiB of text
    write_bytes(repo, "huge.pem", padded)
    files["/huge.pem"] = padded
    err = _fails(cli, repo, tmp_path, "\n".join([
        entry("huge.pem", root.sha256),
        f"      - url: {base}/huge.pem\n        sha256: \"{'e' * 64}\""]))
    assert ("certificates[0] (huge.pem): larger than 1024 KiB; a certificate is a few "
            "KiB") in err
    assert f"certificates[1] ({base}/huge.pem): cannot fetch: larger than 1024 KiB" in err

    repo.write(".tpm-roots.yaml", "# padding\n" * 200_000)
    file_pipeline(repo)
    repo.commit()
    res = run(cli, repo, tmp_path / "again")
    assert res.code == 2
    assert ("certificates-file .tpm-roots.yaml: larger than 1024 KiB; a list of certificates "
            "is a few KiB") in res.err


def test_redirects(repo: Repo, cli, tmp_path: Path, https) -> None:
    base, files = https
    good, swapped = issue("Good CA"), issue("Swapped CA")
    files["/good.crt"] = good.der
    files["/swapped.crt"] = swapped.der
    files["/moved.crt"] = f"{base}/good.crt"  # an https redirect: the pin decides
    files["/to-swapped.crt"] = f"{base}/swapped.crt"
    files["/to-http.crt"] = "http://127.0.0.1:9/good.crt"
    files["/to-file.crt"] = "file:///etc/passwd"
    files["/loop.crt"] = f"{base}/loop.crt"
    pins = [f"sha256: \"{good.sha256}\"", f"sha384: \"{hashlib.sha384(good.der).hexdigest()}\"",
            *(f"sha256: \"{str(i) * 64}\"" for i in (2, 3, 4))]
    names = ["moved", "to-swapped", "to-http", "to-file", "loop"]
    err = _fails(cli, repo, tmp_path, "\n".join(
        f"      - url: {base}/{name}.crt\n        {pin}"
        for name, pin in zip(names, pins, strict=True)))
    assert "4 certificates were refused" in err  # the first one, moved over https, is fine
    assert f"({base}/to-swapped.crt): SHA-384 fingerprint mismatch" in err
    assert (f"({base}/to-http.crt): cannot fetch: redirected to a non-HTTPS address "
            "'http://127.0.0.1:9/good.crt'") in err
    assert (f"({base}/to-file.crt): cannot fetch: HTTP 302 Found - Redirection to url "
            "'file:///etc/passwd' is not allowed") in err
    assert f"({base}/loop.crt): cannot fetch: HTTP 302 The HTTP server returned a redirect" in err


def test_certificates_file_paths_stay_in_the_repository(repo: Repo, cli,
                                                        tmp_path: Path) -> None:
    root = issue("Root CA")
    outside = tmp_path / "outside.pem"
    outside.write_bytes(root.pem)
    repo.write(".tpm-roots.yaml", roots_file({"NTC": [
        ("Escape", "../outside.pem", root.sha256),
        ("Absolute", str(outside), hashlib.sha384(root.der).hexdigest()[:64]),
        ("Dotdot", "certs/../../outside.pem", "1" * 64)]}))
    path = file_pipeline(repo)
    repo.commit()
    res = cli("run", path, "--out", tmp_path / "a")
    assert res.code == 2
    for line in (8, 13, 18):
        assert (f".tpm-roots.yaml:{line}:17: error: a certificate path is relative to the "
                "released folder (`source.path`) and stays inside it") in res.err
    assert not (tmp_path / "a" / "bundle" / "tpm-ca-certificates.pem").exists()
    # the certificates file itself named outside: invalid input, before anything runs
    res = cli("plan", file_pipeline(repo, "../roots.yaml"))
    assert res.code == 2 and "stays inside it" in res.err


@pytest.mark.parametrize("target", ["absolute", "relative"])
@pytest.mark.parametrize("which", ["certificate", "certificates-file"])
def test_committed_links_out_of_the_repository(repo: Repo, cli, tmp_path: Path, target: str,
                                               which: str) -> None:
    root = issue("Root CA")
    outside = tmp_path / "outside"
    outside.write_text(root.pem.decode() if which == "certificate" else roots_file({}))
    link = repo.path / "certs" / "link"
    link.parent.mkdir()
    os.symlink(outside if target == "absolute" else Path("../..") / "outside", link)
    if which == "certificate":
        repo.write(".tpm-roots.yaml", roots_file({"NTC": [("Link", "certs/link",
                                                           root.sha256)]}))
        path = file_pipeline(repo)
    else:
        path = file_pipeline(repo, "certs/link")
    repo.commit()
    res = cli("run", path, "--out", tmp_path / "out")
    # the clean export of the commit refuses the link; the stage would too
    assert res.code == 1
    assert "certs/link" in res.err and "Traceback" not in res.err
    assert not (tmp_path / "out" / "bundle" / "tpm-ca-certificates.pem").exists()


def test_names_cannot_break_out_of_comment_lines(repo: Repo, cli, tmp_path: Path) -> None:
    cn = "Evil\n-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n# CA"
    der = quirky.certificate(quirky.tbs(cn))
    write_bytes(repo, "evil.pem", armor(der).encode())
    repo.write(".tpm-roots.yaml", roots_file({"NTC": [
        ("Name\\n-----END CERTIFICATE-----", "evil.pem", hashlib.sha256(der).hexdigest())]}
    ).replace(
        'id: "NTC"', 'id: "NTC\\r\\n# Owner: MSFT"'))
    path = file_pipeline(repo)
    repo.commit()
    res = cli("run", path, "--out", tmp_path / "out")
    assert res.code == 0, res.err
    bundle = tmp_path / "out" / "bundle" / "tpm-ca-certificates.pem"
    text = bundle.read_text()
    assert len(pem_blocks(text)) == 1
    count = subprocess.run(["openssl", "storeutl", "-noout", "-certs", str(bundle)],
                           capture_output=True, text=True, check=True).stdout
    assert "Total found: 1" in count
    assert "# Owner: NTC\\r\\n# Owner: MSFT\n" in text
    assert "# Certificate: Name\\n-----END CERTIFICATE-----\n" in text
    inside = False
    for line in text.splitlines():  # every line is a comment, blank, or inside the block
        inside = inside or line == "-----BEGIN CERTIFICATE-----"
        assert inside or not line or line.startswith("#"), line
        inside = inside and line != "-----END CERTIFICATE-----"


@pytest.mark.parametrize("alias_bomb", [
    'version: "alpha"\na: &a ["x","x","x","x","x","x","x","x","x","x"]\n'
    + "".join(f"{c}: &{c} [{',' .join(['*' + p] * 10)}]\n"
              for p, c in zip("abcdefgh", "bcdefghi", strict=True))
    + "vendors: *i\n",
])
def test_certificates_file_alias_bomb(repo: Repo, cli, tmp_path: Path, alias_bomb: str) -> None:
    repo.write(".tpm-roots.yaml", alias_bomb)
    path = file_pipeline(repo)
    repo.commit()
    res = cli("run", path, "--out", tmp_path / "out")
    assert res.code == 2
    assert "aliases expand to more than 100000 nodes" in res.err
