"""``certificates-file``: tpm-ca-certificates' configuration format, errors at file:line:col."""

from __future__ import annotations

import contextlib
import textwrap

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from release.pem.certificates_file import (
    CertificatesFileError,
    parse_certificates_file,
    read_certificates_file,
)

SETTINGS = settings(max_examples=400, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
A = ":".join(["AA"] * 32)
B = ":".join(["BB"] * 32)

#: The model project's layout exactly: document marker, 4-space indents, quoted strings.
MODEL = f"""\
---
version: "alpha"
vendors:
    - id: "NTC"
      name: "Nuvoton Technology"
      certificates:
        - name: "Nuvoton TPM Root CA 1110"
          description: "Optional description"
          url: "https://www.nuvoton.com/security/NTC-TPM-EK-Cert/Nuvoton%20TPM%20Root%20CA%201110.cer"
          validation:
            fingerprint:
                sha256: "{A}"
    - id: "IFX"
      name: "Infineon"
      certificates:
        - name: "Local root"
          path: "certs/root.pem"
          validation:
            fingerprint:
                sha1: "{':'.join(['CC'] * 20)}"
                sha384: "{':'.join(['DD'] * 48)}"
"""


def errors(text: str) -> str:
    with pytest.raises(CertificatesFileError) as caught:
        parse_certificates_file(textwrap.dedent(text), ".tpm-roots.yaml")
    return caught.value.render()


def test_reads_the_model_projects_format() -> None:
    entries = parse_certificates_file(MODEL, ".tpm-roots.yaml")
    assert [(e.owner, e.vendor, e.name) for e in entries] == [
        ("NTC", "Nuvoton Technology", "Nuvoton TPM Root CA 1110"),
        ("IFX", "Infineon", "Local root")]
    first, second = entries
    assert first.url and first.url.endswith("Root%20CA%201110.cer") and first.path is None
    assert first.pins.digests == (("sha256", "aa" * 32),)
    assert first.label == (".tpm-roots.yaml:7:11 vendors[0].certificates[0] 'Nuvoton TPM "
                           f"Root CA 1110' ({first.url})")
    assert second.path == "certs/root.pem"
    assert [alg for alg, _ in second.pins.digests] == ["sha384", "sha1"]
    assert second.pins.warning() is not None


@pytest.mark.parametrize(("text", "expected"), [
    ("", ".tpm-roots.yaml:1:1: error: the certificates file is empty"),
    ("version: alpha\nvendors: [}", ".tpm-roots.yaml:2:11: error: YAML syntax error"),
    ("- a\n", ".tpm-roots.yaml:1:1: error: the certificates file must be a mapping"),
    ('version: "beta"\nvendors: []\n',
     ".tpm-roots.yaml:1:10: error: unsupported certificates-file version 'beta'"),
    ("vendors: []\n", "missing required key 'version' in the certificates file"),
    ('version: "alpha"\nvendors: []\n',
     ".tpm-roots.yaml:2:10: error: `vendors` is a non-empty list of vendors"),
    (f"""\
     version: "alpha"
     vendors:
       - id: "NTC"
         name: "N"
         certificates:
           - name: "x"
             urll: "https://a.example/x.cer"
             validation: {{fingerprint: {{sha256: "{A}"}}}}
     """, ".tpm-roots.yaml:7:9: error: unknown key 'urll'\n  at: vendors[0].certificates[0]"
          ".urll\n  hint: did you mean 'url'?"),
    (f"""\
     version: "alpha"
     vendors:
       - id: "NTC"
         name: "N"
         certificates:
           - name: "x"
             url: "http://a.example/x.cer"
             validation: {{fingerprint: {{sha256: "{A}"}}}}
     """, ".tpm-roots.yaml:7:14: error: a certificate url must be an https:// address"),
    ("""\
     version: "alpha"
     vendors:
       - id: "NTC"
         name: "N"
         certificates:
           - name: "x"
             path: "certs/x.pem"
             validation: {fingerprint: {md5: "aa", sha256: "AB:CD"}}
     """, ".tpm-roots.yaml:8:36: error: unknown fingerprint algorithm 'md5'"),
    ("""\
     version: "alpha"
     vendors:
       - id: "NTC"
         name: "N"
         certificates:
           - name: "x"
             path: "certs/x.pem"
             validation: {fingerprint: {sha256: "AB:CD"}}
     """, ".tpm-roots.yaml:8:44: error: a SHA-256 fingerprint is 32 bytes (64 hex digits), "
          "this one has 4 hex digits"),
    ("""\
     version: "alpha"
     vendors:
       - id: "NTC"
         name: "N"
         certificates:
           - name: "x"
             path: "certs/x.pem"
             validation: {fingerprint: {}}
     """, ".tpm-roots.yaml:8:35: error: `fingerprint` maps sha256 (preferred)"),
    (f"""\
     version: "alpha"
     vendors:
       - id: "NTC"
         name: "N"
         certificates:
           - name: "x"
             path: "certs/x.pem"
             url: "https://a.example/x.cer"
             validation: {{fingerprint: {{sha256: "{A}"}}}}
     """, ".tpm-roots.yaml:6:9: error: give exactly one of `url` or `path`"),
    (f"""\
     version: "alpha"
     vendors:
       - id: "NTC"
         name: "N"
         certificates:
           - name: "x"
             path: "certs/x.pem"
             validation: {{fingerprint: {{sha256: "{A}"}}}}
       - id: "NTC"
         name: "Again"
     """, ".tpm-roots.yaml:9:9: error: duplicate vendor id 'NTC' (first at "
          ".tpm-roots.yaml:3:9, vendors[0].id)"),
    (f"""\
     version: "alpha"
     vendors:
       - id: "NTC"
         name: "N"
         certificates:
           - name: "x"
             path: "certs/x.pem"
             validation: {{fingerprint: {{sha256: "{A}"}}}}
           - name: "x"
             path: "certs/y.pem"
             validation: {{fingerprint: {{sha256: "{B}"}}}}
     """, ".tpm-roots.yaml:9:15: error: duplicate certificate name 'x' of vendor 'NTC'"),
    (f"""\
     version: "alpha"
     vendors:
       - id: "NTC"
         name: "N"
         certificates:
           - name: "x"
             path: "certs/x.pem"
             validation: {{fingerprint: {{sha256: "{A}"}}}}
       - id: "IFX"
         name: "I"
         certificates:
           - name: "y"
             path: "certs/y.pem"
             validation: {{fingerprint: {{sha256: "{A.lower()}"}}}}
     """, ".tpm-roots.yaml:14:44: error: duplicate sha256 fingerprint (first at "
          ".tpm-roots.yaml:8:44, vendors[0].certificates[0].validation.fingerprint.sha256)"),
    ("""\
     version: "alpha"
     vendors:
       - id: "NTC"
         name: 12
     """, ".tpm-roots.yaml:4:11: error: `name` is a non-empty string of at most 200 "
          "characters (got 12)"),
    ("version: !!python/object:os.system alpha\n", "error: invalid value"),
])
def test_errors_point_at_the_file(text: str, expected: str) -> None:
    assert expected in errors(text)


@pytest.mark.parametrize("path", ["../outside.pem", "/etc/ssl/certs/x.pem", "a/../../b.pem",
                                  "certs\\x.pem"])
def test_paths_stay_inside_the_repository(path: str) -> None:
    text = f"""\
    version: "alpha"
    vendors:
      - id: "NTC"
        name: "N"
        certificates:
          - name: "x"
            path: "{path.replace(chr(92), chr(92) * 2)}"
            validation: {{fingerprint: {{sha256: "{A}"}}}}
    """
    assert (".tpm-roots.yaml:7:15: error: a certificate path is relative to the released "
            "folder (`source.path`) and stays inside it") in errors(text)


def test_all_problems_at_once() -> None:
    text = MODEL.replace('sha256: "AA', 'sha265: "AA').replace('name: "Infineon"', "")
    rendered = errors(text)
    assert "unknown fingerprint algorithm 'sha265'" in rendered
    assert "missing required key 'name' in vendors[1]" in rendered


def test_bytes_are_bounded_and_utf8() -> None:
    with pytest.raises(CertificatesFileError, match="larger than 1024 KiB"):
        read_certificates_file(b"#" * (1024 * 1024 + 1), "big.yaml")
    with pytest.raises(CertificatesFileError) as caught:
        read_certificates_file(b'version: "alpha"\nvendors: \xff\n', "latin.yaml")
    assert caught.value.render().startswith("latin.yaml:2:10: error: the certificates file "
                                            "is not valid UTF-8")


# -- properties ------------------------------------------------------------------------

scalars = st.one_of(st.text(max_size=20), st.integers(), st.booleans(), st.none(),
                    st.sampled_from(["alpha", "sha256", "sha1", A, "https://a.example/x",
                                     "certs/x.pem", "../x"]))
keys = st.sampled_from(["version", "vendors", "id", "name", "certificates", "url", "path",
                        "validation", "fingerprint", "sha256", "sha1", "description", "x"])
documents = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                         | st.dictionaries(keys, inner, max_size=5), max_leaves=30)


@SETTINGS
@given(documents)
def test_any_document_raises_only_its_own_error(data: object) -> None:
    text = yaml.safe_dump(data)
    try:
        entries = parse_certificates_file(text, "f.yaml")
    except CertificatesFileError as exc:
        assert exc.location is not None and str(exc.location).startswith("f.yaml")
        return
    assert all(e.owner and e.name and (e.url or e.path) for e in entries)


@SETTINGS
@given(st.text(max_size=300))
def test_any_text_raises_only_its_own_error(text: str) -> None:
    with contextlib.suppress(CertificatesFileError):
        parse_certificates_file(text, "f.yaml")


names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1,
                max_size=30).filter(str.strip)


@SETTINGS
@given(st.dictionaries(st.from_regex(r"[A-Z]{2,5}", fullmatch=True),
                       st.dictionaries(names, st.binary(min_size=32, max_size=32),
                                       max_size=4), min_size=1, max_size=4))
def test_valid_files_read_back(vendors: dict[str, dict[str, bytes]]) -> None:
    digests = [d for certs in vendors.values() for d in certs.values()]
    if len(set(digests)) != len(digests):
        return
    data = {"version": "alpha", "vendors": [
        {"id": vid, "name": f"Vendor {vid}", "certificates": [
            {"name": n, "url": f"https://pki.example/{vid}/{i}.cer",
             "validation": {"fingerprint": {"sha256": d.hex().upper()}}}
            for i, (n, d) in enumerate(certs.items())]}
        for vid, certs in vendors.items()]}
    entries = parse_certificates_file("---\n" + yaml.safe_dump(data, allow_unicode=True),
                                      "f.yaml")
    assert [(e.owner, e.name, e.pins.digests[0][1]) for e in entries] == [
        (vid, n, d.hex()) for vid, certs in vendors.items() for n, d in certs.items()]


def test_a_vendor_without_certificates_yet() -> None:
    text = MODEL + '    - id: "STM"\n      name: "STMicroelectronics"\n      certificates:\n'
    assert [e.owner for e in parse_certificates_file(text, "f.yaml")] == ["NTC", "IFX"]
