"""``pem-bundle`` with real certificates (made here with cryptography) and real openssl."""

from __future__ import annotations

import datetime as dt
import hashlib
import http.server
import json
import re
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.checkout import clone_checkout
from tests.conftest import Repo

UTC = dt.UTC
VALID = (dt.datetime(2025, 1, 1, tzinfo=UTC), dt.datetime(2035, 1, 1, tzinfo=UTC))
# the repo fixture commits at 2026-01-02T03:04:05Z: that is SOURCE_DATE_EPOCH
EXPIRED = (dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2025, 6, 1, tzinfo=UTC))
FUTURE = (dt.datetime(2026, 6, 1, tzinfo=UTC), dt.datetime(2030, 1, 1, tzinfo=UTC))


class Issued:
    """A certificate and its key."""

    def __init__(self, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        self.cert, self.key = cert, key

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.der).hexdigest()


def issue(cn: str, *, ca: bool = True, by: Issued | None = None,
          validity: tuple[dt.datetime, dt.datetime] = VALID,
          san: list[x509.GeneralName] | None = None) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Release Tests")])
    builder = (x509.CertificateBuilder().subject_name(name)
               .issuer_name(by.cert.subject if by else name).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(validity[0]).not_valid_after(validity[1])
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    cert = builder.sign(by.key if by else key, hashes.SHA256())
    return Issued(cert, key)


def colons(hexdigest: str) -> str:
    return ":".join(hexdigest[i:i + 2] for i in range(0, len(hexdigest), 2)).upper()


def pipeline(repo: Repo, entries: str, extra: str = "") -> Path:
    """A pipeline with one pem-bundle stage; ``entries`` are list items indented 6 spaces."""
    text = ("version: 1\nname: certs\nsource: {repository: example/certs}\nstages:\n"
            "  bundle:\n    kind: pem-bundle\n    output: roots.pem\n"
            + (extra + "\n" if extra else "") + "    certificates:\n" + entries + "\n")
    return repo.write("release.yaml", text)


def entry(path: str, sha256: str, **more: str) -> str:
    lines = [f"      - path: {path}", f'        sha256: "{sha256}"']
    lines += [f"        {k}: {v}" for k, v in more.items()]
    return "\n".join(lines)


def write_bytes(repo: Repo, name: str, data: bytes) -> None:
    target = repo.path / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def run(cli: Callable[..., object], repo: Repo, out: Path, *extra: str) -> object:
    return cli("run", repo.path / "release.yaml", "--out", out, *extra)


def pem_blocks(text: str) -> list[str]:
    return re.findall(r"-----BEGIN CERTIFICATE-----\n.*?-----END CERTIFICATE-----\n", text,
                      re.S)


@pytest.fixture
def trio(repo: Repo) -> tuple[Issued, Issued, Issued]:
    """A root (PEM), an intermediate (DER) and a leaf (PEM with text), committed."""
    root = issue("Zeta Root CA")
    inter = issue("Alpha Intermediate CA", by=root)
    leaf = issue("leaf.example", ca=False, by=inter)
    write_bytes(repo, "certs/root.pem", b"Zeta root, as published\n" + root.pem)
    write_bytes(repo, "certs/inter.der", inter.der)
    write_bytes(repo, "certs/leaf.pem", leaf.pem)
    return root, inter, leaf


def test_bundle_is_parsed_by_openssl_and_reproducible(repo: Repo, cli, tmp_path: Path,
                                                      trio) -> None:
    root, inter, leaf = trio
    entries = "\n".join([
        entry("certs/root.pem", colons(root.sha256), name="Zeta root"),
        entry("certs/inter.der", inter.sha256.upper()),
        entry("certs/leaf.pem", leaf.sha256, **{"allow-non-ca": "true"}),
    ])
    pipeline(repo, entries, "    reproducible: true")
    commit = repo.commit()
    res = run(cli, repo, tmp_path / "a")
    assert res.code == 0, res.err
    bundle = tmp_path / "a" / "bundle" / "roots.pem"
    text = bundle.read_text()

    count = subprocess.run(["openssl", "storeutl", "-noout", "-certs", str(bundle)],
                           capture_output=True, text=True, check=True).stdout
    assert "Total found: 3" in count
    blocks = pem_blocks(text)
    assert len(blocks) == 3
    printed = re.findall(r"^# SHA-256 Fingerprint: (\S+)$", text, re.M)
    for block, fp in zip(blocks, printed, strict=True):
        got = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256"],
                             input=block, capture_output=True, text=True, check=True).stdout
        assert got.strip().split("=", 1)[1] == fp
    # sorted by RFC 4514 subject, by code point ("O=Release Tests,CN=..."): Alpha, Zeta, leaf
    assert printed == [colons(inter.sha256), colons(root.sha256), colons(leaf.sha256)]
    assert f"commit {commit}" in text and "2026-01-02T03:04:05Z" in text
    assert "example/certs" in text and "# Zeta root\n" in text
    assert "# Not After: 2035-01-01T00:00:00Z" in text
    assert f"# Serial: 0x{root.cert.serial_number:x}" in text

    again = run(cli, repo, tmp_path / "b")
    assert again.code == 0, again.err
    assert (tmp_path / "b" / "bundle" / "roots.pem").read_bytes() == bundle.read_bytes()
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["artifacts"][0]["kind"] == "pem-bundle"
    assert manifest["artifacts"][0]["sha256"] == hashlib.sha256(bundle.read_bytes()).hexdigest()


def _fails(cli, repo: Repo, tmp_path: Path, entries: str) -> str:
    pipeline(repo, entries)
    repo.commit()
    res = run(cli, repo, tmp_path / "out")
    assert res.code == 1, res.err
    assert not (tmp_path / "out" / "bundle" / "roots.pem").exists()
    return res.err


def test_fingerprint_mismatch_names_entry(repo: Repo, cli, tmp_path: Path, trio) -> None:
    root, inter, _ = trio
    err = _fails(cli, repo, tmp_path, entry("certs/root.pem", inter.sha256, name="Zeta root"))
    assert ("certificates[0] 'Zeta root' (certs/root.pem): SHA-256 fingerprint mismatch: "
            f"pinned {colons(inter.sha256)}, the file has {colons(root.sha256)}") in err


def test_not_a_certificate(repo: Repo, cli, tmp_path: Path, trio) -> None:
    root = trio[0]
    key = root.key.private_bytes(serialization.Encoding.PEM,
                                 serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
    write_bytes(repo, "certs/key.pem", key)
    write_bytes(repo, "certs/junk.der", b"\x30\x03\x02\x01\x01")
    err = _fails(cli, repo, tmp_path, "\n".join([
        entry("certs/key.pem", "a" * 64), entry("certs/junk.der", "b" * 64)]))
    assert "2 certificates were refused" in err
    assert "certificates[0] (certs/key.pem): not a certificate" in err
    assert "certificates[1] (certs/junk.der): not a certificate" in err


def test_two_certificates_in_one_file(repo: Repo, cli, tmp_path: Path, trio) -> None:
    root, inter, _ = trio
    write_bytes(repo, "certs/both.pem", root.pem + inter.pem)
    err = _fails(cli, repo, tmp_path, entry("certs/both.pem", root.sha256))
    assert "certificates[0] (certs/both.pem): not a certificate: the file holds 2" in err


def test_expired_and_not_yet_valid_at_source_date(repo: Repo, cli, tmp_path: Path) -> None:
    old, new = issue("Old CA", validity=EXPIRED), issue("New CA", validity=FUTURE)
    write_bytes(repo, "old.pem", old.pem)
    write_bytes(repo, "new.pem", new.pem)
    err = _fails(cli, repo, tmp_path, "\n".join([entry("old.pem", old.sha256),
                                                 entry("new.pem", new.sha256)]))
    assert ("certificates[0] (old.pem): expired on 2025-06-01T00:00:00Z, before the source "
            "date 2026-01-02T03:04:05Z") in err
    assert ("certificates[1] (new.pem): not valid until 2026-06-01T00:00:00Z, after the "
            "source date 2026-01-02T03:04:05Z") in err


def test_non_ca_refused_unless_allowed(repo: Repo, cli, tmp_path: Path, trio) -> None:
    leaf = trio[2]
    err = _fails(cli, repo, tmp_path, entry("certs/leaf.pem", leaf.sha256))
    assert "certificates[0] (certs/leaf.pem): not a CA certificate" in err
    assert "allow-non-ca: true" in err
    pipeline(repo, entry("certs/leaf.pem", leaf.sha256), "    allow-non-ca: true")
    repo.commit()
    assert run(cli, repo, tmp_path / "ok").code == 0


def test_untracked_file_is_not_in_the_source(repo: Repo, cli, tmp_path: Path) -> None:
    root = issue("Root")
    pipeline(repo, entry("certs/untracked.pem", root.sha256))
    repo.commit()
    write_bytes(repo, "certs/untracked.pem", root.pem)  # present, but never committed
    res = run(cli, repo, tmp_path / "out")
    assert res.code == 1
    assert ("certificates[0] (certs/untracked.pem): no such file in the committed source "
            "tree") in res.err


@pytest.mark.parametrize(("entries", "message", "line", "col"), [
    ("      - path: a.pem\n        sha256: \"ab:cd\"",
     "a SHA-256 fingerprint is 32 bytes (64 hex digits), this one has 4", 10, 17),
    ("      - path: a.pem\n        sha256: \"" + "A" * 64 + "\"\n"
     "      - path: b.pem\n        sha256: \"" + ":".join(["aa"] * 32) + "\"",
     "certificates[1] pins the same SHA-256 fingerprint as certificates[0]: a duplicate",
     12, 17),
    ("      - path: ../a.pem\n        sha256: \"" + "a" * 64 + "\"",
     "stays inside it", 9, 15),
    ("      - url: http://example.com/a.pem\n        sha256: \"" + "a" * 64 + "\"",
     "must be an https:// address", 9, 14),
    ("      - path: a.pem\n        url: https://example.com/a.pem\n"
     "        sha256: \"" + "a" * 64 + "\"",
     "give exactly one of `path` or `url`", 9, 9),
])
def test_config_errors_point_at_the_file(repo: Repo, cli, entries: str, message: str,
                                         line: int, col: int) -> None:
    path = pipeline(repo, entries)
    res = cli("plan", path)
    assert res.code == 2
    assert f"release.yaml:{line}:{col}: error: " in res.err
    assert message in res.err


# -- fetching by URL, from a real HTTPS server on loopback ------------------------------

@pytest.fixture
def https(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, dict]]:
    """An HTTPS server on 127.0.0.1 serving ``files`` (path -> bytes or redirect URL)."""
    import ipaddress

    ca = issue("Loopback Test CA")
    server_cert = issue("127.0.0.1", ca=False, by=ca,
                        san=[x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    (tmp_path / "tls-ca.pem").write_bytes(ca.pem)
    (tmp_path / "server.pem").write_bytes(server_cert.pem + server_cert.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "tls-ca.pem"))
    files: dict[str, bytes | str] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = files.get(self.path)
            if isinstance(body, str):
                self.send_response(302)
                self.send_header("Location", body)
                self.end_headers()
                return
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "server.pem")
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", files
    finally:
        server.shutdown()
        server.server_close()


def test_urls_are_fetched_and_pinned(repo: Repo, cli, tmp_path: Path, https) -> None:
    base, files = https
    good, swapped = issue("Fetched Root CA"), issue("Swapped CA")
    files["/good.crt"] = good.der
    files["/swapped.crt"] = swapped.pem
    files["/downgrade.crt"] = "http://127.0.0.1:1/good.crt"
    lines = [f"      - url: {base}/good.crt\n        sha256: \"{good.sha256}\""]
    path = pipeline(repo, "\n".join(lines))
    plan = cli("plan", path, "--format", "json")
    assert json.loads(plan.out)["stages"][0]["effects"] == "network"
    repo.commit()
    res = run(cli, repo, tmp_path / "ok")
    assert res.code == 0, res.err
    assert colons(good.sha256) in (tmp_path / "ok" / "bundle" / "roots.pem").read_text()
    # recorded for provenance: the URL and the digest of the bytes fetched
    manifest = json.loads((tmp_path / "ok" / "manifest.json").read_text())
    assert manifest["artifacts"][0]["annotations"] == {
        f"fetched:{base}/good.crt": good.sha256.replace(":", "").lower()}

    lines = [f"      - url: {base}/swapped.crt\n        sha256: \"{good.sha256}\"",
             f"      - url: {base}/missing.crt\n        sha256: \"{'c' * 64}\"",
             f"      - url: {base}/downgrade.crt\n        sha256: \"{'d' * 64}\""]
    err = _fails(cli, repo, tmp_path, "\n".join(lines))
    assert f"certificates[0] ({base}/swapped.crt): SHA-256 fingerprint mismatch" in err
    assert f"certificates[1] ({base}/missing.crt): cannot fetch: HTTP 404" in err
    assert (f"certificates[2] ({base}/downgrade.crt): cannot fetch: redirected to a "
            "non-HTTPS address") in err


# -- the shipped example --------------------------------------------------------------

def test_shipped_example_is_reproducible(cli, tmp_path: Path) -> None:
    """pipelines/examples/pem-bundle.yaml in place, in a clone of this repository, built
    twice."""
    clone = clone_checkout(tmp_path / "clone")
    digests = []
    for name in ("a", "b"):
        res = cli("run", "pipelines/examples/pem-bundle.yaml", "--out", tmp_path / name,
                  "--dry-run", "--verify-reproducible", cwd=clone)
        assert res.code == 0, res.err
        digests.append(re.findall(r"^sha256:(\S+)  (\S+)$", res.out, re.M))
    assert digests[0] == digests[1] and len(digests[0]) == 2
    bundle = tmp_path / "a" / "bundle" / "example-ca-bundle.pem"
    count = subprocess.run(["openssl", "storeutl", "-noout", "-certs", str(bundle)],
                           capture_output=True, text=True, check=True).stdout
    assert "Total found: 3" in count
    check = subprocess.run(["sha256sum", "-c", str(tmp_path / "a" / "checksums" / "SHA256SUMS")],
                           cwd=bundle.parent, capture_output=True, text=True)
    assert check.returncode == 0 and "example-ca-bundle.pem: OK" in check.stdout
