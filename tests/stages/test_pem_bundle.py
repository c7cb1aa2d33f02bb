"""``pem-bundle`` with real certificates (made here with cryptography) and real openssl."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import http.server
import json
import re
import shutil
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

from release.pem.certificate import load_certificate
from tests.conftest import SHARED, Repo
from tests.pem.quirky import all_quirks

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

    lines = [f"      - url: {base}/swapped.crt\n        sha256: \"{good.sha256}\"",
             f"      - url: {base}/missing.crt\n        sha256: \"{'c' * 64}\"",
             f"      - url: {base}/downgrade.crt\n        sha256: \"{'d' * 64}\""]
    err = _fails(cli, repo, tmp_path, "\n".join(lines))
    assert f"certificates[0] ({base}/swapped.crt): SHA-256 fingerprint mismatch" in err
    assert f"certificates[1] ({base}/missing.crt): cannot fetch: HTTP 404" in err
    assert (f"certificates[2] ({base}/downgrade.crt): cannot fetch: redirected to a "
            "non-HTTPS address") in err


# -- the shipped example --------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_example_is_reproducible(repo: Repo, cli, tmp_path: Path) -> None:
    """pipelines/examples/pem-bundle.yaml on a copy of its certificates, built twice."""
    shutil.copytree(ROOT / "tests" / "assets" / "certs", repo.path / "tests/assets/certs")
    shutil.copy(ROOT / "pipelines" / "examples" / "pem-bundle.yaml", repo.path / "ca.yaml")
    repo.commit()
    digests = []
    for name in ("a", "b"):
        res = cli("run", repo.path / "ca.yaml", "--out", tmp_path / name, "--dry-run",
                  "--verify-reproducible")
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


# -- real TPM roots: lenient parsing, several pins, certificates files ------------------

NUVOTON = SHARED / "fixtures" / "tpm" / "nuvoton-tpm-root-ca-1110.pem"
NUVOTON_SHA256 = "2782e51a95e86d9557fe4204316cf805bd6f5898f81f9732e944d742bcdc5f54"


def openssl_fingerprints(text: str) -> list[str]:
    """The SHA-256 fingerprint openssl computes for each PEM block, in order."""
    return [subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256"],
                           input=block, capture_output=True, text=True, check=True
                           ).stdout.strip().split("=", 1)[1] for block in pem_blocks(text)]


def test_real_and_quirky_roots_are_bundled_byte_for_byte(repo: Repo, cli,
                                                         tmp_path: Path) -> None:
    """The Nuvoton root and every hand-written quirk: accepted, pinned by their exact
    bytes, emitted unchanged, and openssl agrees on every fingerprint."""
    shutil.copy(NUVOTON, repo.path / "nuvoton.pem")
    nuvoton = NUVOTON.read_bytes()
    lines = [entry("nuvoton.pem", colons(NUVOTON_SHA256), name="Nuvoton TPM Root CA 1110",
                   sha1=hashlib.sha1(load_certificate(nuvoton).der).hexdigest(),
                   sha512=hashlib.sha512(load_certificate(nuvoton).der).hexdigest())]
    quirks = all_quirks()
    for quirk in quirks:
        write_bytes(repo, f"quirks/{quirk.name}.der", quirk.der)
        more = {} if quirk.is_ca else {"allow-non-ca": "true"}
        lines.append(entry(f"quirks/{quirk.name}.der", quirk.sha256, name=quirk.name, **more))
    pipeline(repo, "\n".join(lines))
    repo.commit()
    res = run(cli, repo, tmp_path / "out")
    assert res.code == 0, res.err
    assert "carries a SHA-1 pin, which is weak" in res.out + res.err
    bundle = tmp_path / "out" / "bundle" / "roots.pem"
    text = bundle.read_text()
    count = subprocess.run(["openssl", "storeutl", "-noout", "-certs", str(bundle)],
                           capture_output=True, text=True, check=True).stdout
    assert f"Total found: {len(quirks) + 1}" in count
    printed = re.findall(r"^# SHA-256 Fingerprint: (\S+)$", text, re.M)
    assert openssl_fingerprints(text) == printed
    assert sorted(printed) == sorted([colons(NUVOTON_SHA256)] + [colons(q.sha256)
                                                                  for q in quirks])
    emitted = {base64.b64decode("".join(b.splitlines()[1:-1])) for b in pem_blocks(text)}
    assert emitted == {load_certificate(nuvoton).der} | {q.der for q in quirks}
    assert NUVOTON.read_text() in text  # the published PEM, verbatim
    assert ("# Subject: CN=Nuvoton TPM Root CA 1110+O=Nuvoton Technology Corporation+C=TW"
            in text)


def test_every_pin_must_match(repo: Repo, cli, tmp_path: Path, trio) -> None:
    root, inter, _ = trio
    good = {alg: hashlib.new(alg, root.der).hexdigest() for alg in ("sha384", "sha512")}
    err = _fails(cli, repo, tmp_path, "\n".join([
        entry("certs/root.pem", root.sha256, sha384=good["sha384"],
              sha512=hashlib.sha512(inter.der).hexdigest()),
        entry("certs/inter.der", inter.sha256, sha1="ab" * 20)]))
    assert ("certificates[0] (certs/root.pem): SHA-512 fingerprint mismatch: pinned "
            f"{colons(hashlib.sha512(inter.der).hexdigest())}, the file has "
            f"{colons(hashlib.sha512(root.der).hexdigest())}") in err
    assert "certificates[1] (certs/inter.der): SHA-1 fingerprint mismatch" in err


def test_sha1_alone_warns(repo: Repo, cli, tmp_path: Path, trio) -> None:
    root = trio[0]
    text = ("      - path: certs/root.pem\n"
            f"        sha1: \"{colons(hashlib.sha1(root.der).hexdigest())}\"")
    pipeline(repo, text)
    repo.commit()
    res = run(cli, repo, tmp_path / "out")
    assert res.code == 0, res.err
    assert ("certificates[0] (certs/root.pem) pinned by SHA-1 alone, which is weak (SHA-1 "
            "collisions are practical): add a sha256 pin") in res.out + res.err


def roots_file(entries: dict[str, list[tuple[str, str, str]]]) -> str:
    """A certificates file in tpm-ca-certificates' layout: vendor id -> (name, path, pin)."""
    lines = ["---", 'version: "alpha"', "vendors:"]
    for vendor, certs in entries.items():
        lines += [f'    - id: "{vendor}"', f'      name: "Vendor {vendor}"',
                  "      certificates:"]
        for name, path, sha256 in certs:
            lines += [f'        - name: "{name}"', f'          path: "{path}"',
                      "          validation:", "            fingerprint:",
                      f'                sha256: "{colons(sha256)}"']
    return "\n".join(lines) + "\n"


def file_pipeline(repo: Repo, certificates_file: str = ".tpm-roots.yaml") -> Path:
    return repo.write("release.yaml", (
        "version: 1\nname: certs\nsource: {repository: example/certs}\nstages:\n"
        "  bundle:\n    kind: pem-bundle\n    output: tpm-ca-certificates.pem\n"
        f"    certificates-file: {certificates_file}\n"))


def test_certificates_file_in_the_model_projects_format(repo: Repo, cli, tmp_path: Path,
                                                        trio) -> None:
    root, inter, _ = trio
    shutil.copy(NUVOTON, repo.path / "certs" / "nuvoton.pem")
    repo.write(".tpm-roots.yaml", roots_file({
        "NTC": [("Nuvoton TPM Root CA 1110", "certs/nuvoton.pem", NUVOTON_SHA256)],
        "AMD": [("Zeta root", "certs/root.pem", root.sha256),
                ("Alpha intermediate", "certs/inter.der", inter.sha256)],
    }))
    path = file_pipeline(repo)
    plan = cli("plan", path, "--format", "json")
    assert plan.code == 0, plan.err
    assert json.loads(plan.out)["stages"][0]["effects"] == "network"  # entries may be URLs
    commit = repo.commit()
    res = cli("run", path, "--out", tmp_path / "out")
    assert res.code == 0, res.err
    text = (tmp_path / "out" / "bundle" / "tpm-ca-certificates.pem").read_text()
    assert text.startswith("##\n## tpm-ca-certificates.pem\n##\n## Date: 2026-01-02\n"
                           f"## Commit: {commit}\n##\n")
    # sorted by vendor id, then certificate name, as that project's bundles are
    assert re.findall(r"^# Certificate: (.*)\n# Owner: (.*)$", text, re.M) == [
        ("Alpha intermediate", "AMD"), ("Zeta root", "AMD"),
        ("Nuvoton TPM Root CA 1110", "NTC")]
    nuvoton_block = text[text.index("# Certificate: Nuvoton"):]
    assert nuvoton_block.startswith(
        "# Certificate: Nuvoton TPM Root CA 1110\n# Owner: NTC\n#\n"
        "# Issuer: CN=Nuvoton TPM Root CA 1110+O=Nuvoton Technology Corporation+C=TW\n"
        "# Serial Number: 1168871704867022947 (0x1038aa9f649aa863)\n"
        "# Subject: CN=Nuvoton TPM Root CA 1110+O=Nuvoton Technology Corporation+C=TW\n"
        "# Not Valid Before: Mon May 11 08:43:33 2015\n"
        "# Not Valid After : Mon May 07 08:43:33 2035\n"
        f"# Fingerprint (SHA-256): {colons(NUVOTON_SHA256)}\n"
        "# Fingerprint (SHA1): ")
    # an empty line after the header and between blocks, as that project writes them
    assert "##\n\n#\n# Certificate: Alpha intermediate\n" in text
    assert "-----END CERTIFICATE-----\n\n#\n# Certificate: Zeta root\n" in text
    assert text.endswith("-----END CERTIFICATE-----\n")
    printed = re.findall(r"^# Fingerprint \(SHA-256\): (\S+)$", text, re.M)
    assert openssl_fingerprints(text) == printed
    sha1 = re.findall(r"^# Fingerprint \(SHA1\): (\S+)$", text, re.M)
    assert sha1[2] == colons(hashlib.sha1(load_certificate(NUVOTON.read_bytes()).der)
                             .hexdigest())


def test_certificates_file_errors_name_file_line_col(repo: Repo, cli, tmp_path: Path,
                                                     trio) -> None:
    root = trio[0]
    text = roots_file({"NTC": [("Root", "certs/root.pem", root.sha256)]})
    repo.write(".tpm-roots.yaml", text.replace("path:", "paht:"))
    path = file_pipeline(repo)
    repo.commit()
    res = cli("run", path, "--out", tmp_path / "out")
    assert res.code == 1
    assert ".tpm-roots.yaml:8:11: unknown key 'paht' (did you mean 'path'?)" in res.err
    assert ".tpm-roots.yaml:7:11: give exactly one of `url` or `path`" in res.err
    assert "Traceback" not in res.err


@pytest.mark.parametrize(("extra", "message", "line", "col"), [
    ("    certificates-file: ../roots.yaml\n", "stays inside it", 7, 24),
    ("    certificates-file: roots.yaml\n    certificates:\n      - path: a.pem\n"
     f"        sha256: \"{'a' * 64}\"\n",
     "give exactly one of `certificates` or `certificates-file`", 7, 24),
    ("    output: a.pem\n", "give exactly one of `certificates` or `certificates-file`: the "
     "certificates to bundle", 6, 5),
    ("    certificates:\n      - path: a.pem\n        sha384: \"" + "a" * 64 + "\"\n",
     "a SHA-384 fingerprint is 48 bytes (96 hex digits), this one has 64 hex digits; it "
     "looks like a SHA-256 fingerprint", 9, 17),
    ("    certificates:\n      - path: a.pem\n        name: no pin\n",
     "pin the certificate: `sha256` (preferred), `sha384`, `sha512` or `sha1`", 8, 9),
    ("    certificates:\n      - path: a.pem\n        md5: \"" + "a" * 32 + "\"\n",
     "unknown key 'md5'", 9, 9),
])
def test_pin_and_file_config_errors_exit_2(repo: Repo, cli, extra: str, message: str,
                                           line: int, col: int) -> None:
    path = repo.write("release.yaml", (
        "version: 1\nname: certs\nsource: {repository: example/certs}\nstages:\n"
        "  bundle:\n    kind: pem-bundle\n" + extra))
    res = cli("plan", path)
    assert res.code == 2, res.err
    assert f"release.yaml:{line}:{col}: error: " in res.err
    assert message in res.err
