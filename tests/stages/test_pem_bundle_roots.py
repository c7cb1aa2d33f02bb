"""``pem-bundle`` with real TPM roots: the Nuvoton root from ../shared, hand-written quirky
roots, several pins, and certificates files in tpm-ca-certificates' format; openssl
checks every fingerprint in every bundle."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from release.pem.certificate import load_certificate
from tests.conftest import SHARED, Repo
from tests.pem.quirky import all_quirks
from tests.stages import test_pem_bundle
from tests.stages.test_pem_bundle import (
    _fails,
    colons,
    entry,
    pem_blocks,
    pipeline,
    run,
    write_bytes,
)

#: A committed root (PEM), intermediate (DER) and leaf (PEM with text) (a fixture).
trio = test_pem_bundle.trio
#: An HTTPS server on loopback serving files and redirects (a fixture).
https = test_pem_bundle.https

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
    assert res.code == 2  # bad input: each problem at its place in that file, with a hint
    assert (".tpm-roots.yaml:8:11: error: unknown key 'paht'\n"
            "  at: vendors[0].certificates[0].paht\n"
            "  hint: did you mean 'path'?\n") in res.err
    assert (".tpm-roots.yaml:7:11: error: give exactly one of `url` or `path`\n"
            "  at: vendors[0].certificates[0]\n"
            "  hint: see tpm-ca-certificates'") in res.err
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


def test_one_certificate_pinned_twice_by_different_digests(repo: Repo, cli, tmp_path: Path,
                                                           trio) -> None:
    root = trio[0]
    err = _fails(cli, repo, tmp_path, "\n".join([
        entry("certs/root.pem", root.sha256),
        entry("certs/root.pem", hashlib.sha384(root.der).hexdigest(), name="again").replace(
            "sha256: ", "sha384: ")]))
    assert ("certificates[1] 'again' (certs/root.pem): the same certificate as "
            "certificates[0] (certs/root.pem): a duplicate") in err


def test_certificates_file_with_urls_as_the_model_project_writes_it(
        repo: Repo, cli, tmp_path: Path, https) -> None:
    """The entry exactly as tpm-ca-certificates lists Nuvoton's root (an encoded URL, a
    DER .cer as the vendor publishes it), served over HTTPS on loopback."""
    base, files = https
    files["/security/NTC-TPM-EK-Cert/Nuvoton%20TPM%20Root%20CA%201110.cer"] = \
        load_certificate(NUVOTON.read_bytes()).der
    repo.write(".tpm-roots.yaml", f"""\
---
version: "alpha"
vendors:
    - id: "NTC"
      name: "Nuvoton Technology"
      certificates:
        - name: "Nuvoton TPM Root CA 1110"
          url: "{base}/security/NTC-TPM-EK-Cert/Nuvoton%20TPM%20Root%20CA%201110.cer"
          validation:
            fingerprint:
                sha256: "{colons(NUVOTON_SHA256)}"
""")
    path = file_pipeline(repo)
    repo.commit()
    res = cli("run", path, "--out", tmp_path / "out")
    assert res.code == 0, res.err
    text = (tmp_path / "out" / "bundle" / "tpm-ca-certificates.pem").read_text()
    assert NUVOTON.read_text() in text
    assert openssl_fingerprints(text) == [colons(NUVOTON_SHA256)]
