"""Offline key signing through the engine, checked with openssl outside our code."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import git
from tests.signing.conftest import PASSPHRASE, openssl, release_repo

VAR = "DEMO_SIGNING_KEY_PASSPHRASE"


def key_stages(key: Path, *, attest: bool = False, passphrase: bool = True) -> str:
    var = f"\n  passphrase-env: {VAR}" if passphrase else ""
    text = f"""\
sign:
  kind: sign
  needs: [checksums]
  backend: key
  key: {key}{var}
"""
    if attest:
        text += f"""\
provenance:
  kind: attest
  needs: [build, checksums]
  backend: key
  key: {key}{var}
  public-key-name: release.pub
"""
    return text


def intoto_keyid(public_pem: Path) -> str:
    """securesystemslib's own default key ID of the key openssl wrote (in-toto's keyid)."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    from securesystemslib.signer import SSlibKey

    return SSlibKey.from_crypto(load_pem_public_key(public_pem.read_bytes())).keyid


def der_fingerprint(public_pem: Path) -> str:
    der = openssl("pkey", "-pubin", "-in", str(public_pem), "-outform", "DER")
    assert der.returncode == 0, der.stderr
    return "sha256:" + hashlib.sha256(der.stdout).hexdigest()


def manifest(out: Path, stage: str) -> dict[str, dict[str, object]]:
    data = json.loads((out / "manifests" / f"{stage}.json").read_text(encoding="utf-8"))
    return {a["name"]: a for a in data["artifacts"]}


def test_signature_verifies_with_openssl(repo, cli, make_key, monkeypatch, tmp_path):
    key = make_key()
    pipeline = release_repo(repo, key_stages(key.private))
    monkeypatch.setenv(VAR, PASSPHRASE)
    out = tmp_path / "out"
    result = cli("run", pipeline, "--out", out)
    assert result.code == 0, result.out + result.err
    assert PASSPHRASE not in result.out + result.err

    sums, sig = out / "checksums" / "SHA256SUMS", out / "sign" / "SHA256SUMS.sig"
    verified = openssl("dgst", "-sha256", "-verify", str(key.public), "-signature", str(sig),
                       str(sums))
    assert verified.returncode == 0 and b"Verified OK" in verified.stdout, verified.stderr
    # raw DER: an ECDSA-Sig-Value SEQUENCE, which cosign base64-encodes itself
    assert sig.read_bytes()[0] == 0x30

    arts = manifest(out, "sign")
    fingerprint = der_fingerprint(key.public)
    assert arts["SHA256SUMS.sig"]["kind"] == "signature"
    assert arts["SHA256SUMS.sig"]["annotations"] == {
        "signing.backend": "key", "signing.key-fingerprint": fingerprint,
        "signing.subject": "SHA256SUMS",
        "signing.subject-sha256": hashlib.sha256(sums.read_bytes()).hexdigest()}
    # the published public key is the key's own, byte for byte after DER normalization
    assert arts["sign.pub"]["kind"] == "public-key"
    assert der_fingerprint(out / "sign" / "sign.pub") == fingerprint

    tampered = tmp_path / "SHA256SUMS"
    tampered.write_bytes(sums.read_bytes().replace(b"tool", b"tooL"))
    bad = openssl("dgst", "-sha256", "-verify", str(key.public), "-signature", str(sig),
                  str(tampered))
    assert bad.returncode != 0 and b"Verification failure" in bad.stdout + bad.stderr


def test_unencrypted_key_and_all_artifacts(repo, cli, make_key, tmp_path):
    key = make_key(passphrase=None)
    stages = key_stages(key.private, passphrase=False).replace(
        "  backend: key", "  artifacts: all\n  backend: key")
    stages = stages.replace("needs: [checksums]", "needs: [build, checksums]")
    pipeline = release_repo(repo, stages)
    out = tmp_path / "out"
    result = cli("run", pipeline, "--out", out)
    assert result.code == 0, result.out + result.err
    signed = sorted(n for n in manifest(out, "sign") if n.endswith(".sig"))
    assert signed == ["SHA256SUMS.sig", "data.bin.sig", "tool.sig"]
    for name, stage in (("tool", "build"), ("data.bin", "build"), ("SHA256SUMS", "checksums")):
        ok = openssl("dgst", "-sha256", "-verify", str(key.public), "-signature",
                     str(out / "sign" / f"{name}.sig"), str(out / stage / name))
        assert ok.returncode == 0, (name, ok.stdout, ok.stderr)


def pae(payload_type: bytes, payload: bytes) -> bytes:
    # written out from https://github.com/secure-systems-lab/dsse/blob/master/protocol.md
    return (b"DSSEv1 " + str(len(payload_type)).encode() + b" " + payload_type + b" "
            + str(len(payload)).encode() + b" " + payload)


def test_provenance_envelope_verifies_independently(repo, cli, make_key, monkeypatch,
                                                    tmp_path):
    key = make_key()
    pipeline = release_repo(repo, key_stages(key.private, attest=True))
    monkeypatch.setenv(VAR, PASSPHRASE)
    out = tmp_path / "out"
    result = cli("run", pipeline, "--out", out)
    assert result.code == 0, result.out + result.err

    lines = (out / "provenance" / "demo.intoto.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    envelope = json.loads(lines[0])
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    [signature] = envelope["signatures"]
    assert signature["keyid"] == intoto_keyid(key.public)
    payload = base64.b64decode(envelope["payload"])
    message, sig = tmp_path / "pae.bin", tmp_path / "envelope.sig"
    message.write_bytes(pae(envelope["payloadType"].encode(), payload))
    sig.write_bytes(base64.b64decode(signature["sig"]))
    ok = openssl("dgst", "-sha256", "-verify", str(key.public), "-signature", str(sig),
                 str(message))
    assert ok.returncode == 0, ok.stdout + ok.stderr

    statement = json.loads(payload)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    expected = {name: hashlib.sha256((out / stage / name).read_bytes()).hexdigest()
                for name, stage in (("tool", "build"), ("data.bin", "build"),
                                    ("SHA256SUMS", "checksums"))}
    assert {s["name"]: s["digest"]["sha256"] for s in statement["subject"]} == expected
    build = statement["predicate"]["buildDefinition"]
    assert build["resolvedDependencies"][0]["digest"] == {
        "gitCommit": git(repo.path, "rev-parse", "HEAD")}
    assert build["externalParameters"]["pipeline"] == {
        "path": "release.yml",
        "digest": {"sha256": hashlib.sha256(pipeline.read_bytes()).hexdigest()}}
    assert build["externalParameters"]["stages"] == ["build", "checksums", "provenance"]
    assert build["internalParameters"]["sandboxed"] is True
    assert statement["predicate"]["runDetails"]["builder"]["id"].endswith("#local-builder-v1")

    # a changed subject digest breaks the signature
    statement["subject"][0]["digest"]["sha256"] = "0" * 64
    forged = json.dumps(statement).encode()
    message.write_bytes(pae(envelope["payloadType"].encode(), forged))
    bad = openssl("dgst", "-sha256", "-verify", str(key.public), "-signature", str(sig),
                  str(message))
    assert bad.returncode != 0

    # and the consumer side accepts the whole key-signed release
    assets = tmp_path / "assets"
    assets.mkdir()
    for path in [out / "build" / "tool", out / "build" / "data.bin",
                 out / "checksums" / "SHA256SUMS", out / "sign" / "SHA256SUMS.sig",
                 out / "provenance" / "demo.intoto.jsonl"]:
        shutil.copy(path, assets)
    verified = cli("verify", assets, "--key", out / "provenance" / "release.pub")
    assert verified.code == 0, verified.out + verified.err


@pytest.mark.parametrize("setting, message", [
    ("wrong", "cannot be decrypted"),
    (None, f"the passphrase variable {VAR} is not set"),
])
def test_bad_passphrase_fails_without_leaking(repo, cli, make_key, monkeypatch, tmp_path,
                                              setting, message):
    key = make_key()
    pipeline = release_repo(repo, key_stages(key.private))
    if setting is not None:
        monkeypatch.setenv(VAR, setting + "-passphrase")
    result = cli("run", pipeline, "--out", tmp_path / "out")
    text = result.out + result.err
    assert result.code == 1
    assert message in text
    assert "wrong-passphrase" not in text and PASSPHRASE not in text
    assert not (tmp_path / "out" / "sign").exists() or not any(
        (tmp_path / "out" / "sign").iterdir())


@pytest.mark.parametrize("options, message", [
    ({"curve": "secp384r1"}, "is not an ECDSA P-256 key"),
    ({"algorithm": "RSA"}, "is not an ECDSA P-256 key"),
])
def test_other_keys_are_refused(repo, cli, make_key, tmp_path, options, message):
    key = make_key(passphrase=None, **options)
    pipeline = release_repo(repo, key_stages(key.private, passphrase=False))
    result = cli("run", pipeline, "--out", tmp_path / "out")
    assert result.code == 1
    assert message in result.out + result.err


def test_encrypted_key_without_passphrase_setting(repo, cli, make_key, tmp_path):
    key = make_key()
    pipeline = release_repo(repo, key_stages(key.private, passphrase=False))
    result = cli("run", pipeline, "--out", tmp_path / "out")
    assert result.code == 1
    assert "set `passphrase-env`" in result.out + result.err


def test_missing_key_file(repo, cli, tmp_path):
    pipeline = release_repo(repo, key_stages(Path("keys/absent.key"), passphrase=False))
    result = cli("run", pipeline, "--out", tmp_path / "out")
    assert result.code == 1
    assert "cannot read the signing key keys/absent.key" in result.out + result.err


def test_pae_matches_the_dsse_spec_example():
    # https://github.com/secure-systems-lab/dsse/blob/master/protocol.md#test-vectors
    from release.signing.dsse import pae as ours

    assert ours("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world")
    # lengths count bytes, not characters
    assert ours("t", "é".encode()) == b"DSSEv1 1 t 2 \xc3\xa9"


def test_envelope_verifies_with_securesystemslib(repo, cli, make_key, monkeypatch, tmp_path):
    """The verifier in-toto's Python tools use (securesystemslib's ``Envelope.verify``)
    accepts the envelope with the key loaded by its defaults: it only tries a key whose
    keyid equals the signature's, so the keyid must follow its convention."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    from securesystemslib.dsse import Envelope
    from securesystemslib.exceptions import VerificationError
    from securesystemslib.signer import SSlibKey

    def envelope(data: dict[str, object]) -> Envelope:
        return Envelope.from_dict(copy.deepcopy(data))  # from_dict consumes its input

    key = make_key()
    pipeline = release_repo(repo, key_stages(key.private, attest=True))
    monkeypatch.setenv(VAR, PASSPHRASE)
    out = tmp_path / "out"
    result = cli("run", pipeline, "--out", out)
    assert result.code == 0, result.out + result.err
    data = json.loads((out / "provenance" / "demo.intoto.jsonl").read_text(encoding="utf-8"))
    public = SSlibKey.from_crypto(load_pem_public_key(key.public.read_bytes()))
    accepted = envelope(data).verify([public], 1)
    assert list(accepted) == [public.keyid]
    # the published key file is the same key, with the same keyid
    published = SSlibKey.from_crypto(load_pem_public_key(
        (out / "provenance" / "release.pub").read_bytes()))
    assert envelope(data).verify([published], 1)

    # an empty keyid (the other choice the DSSE spec allows) would not verify there
    empty = {**data, "signatures": [{**data["signatures"][0], "keyid": ""}]}
    with pytest.raises(VerificationError):
        envelope(empty).verify([public], 1)
    # nor would a changed payload, nor another key
    forged = {**data, "payload": base64.b64encode(b'{"_type":"forged"}').decode()}
    with pytest.raises(VerificationError):
        envelope(forged).verify([public], 1)
    other = SSlibKey.from_crypto(load_pem_public_key(make_key("other").public.read_bytes()))
    with pytest.raises(VerificationError):
        envelope({**data, "signatures": [{**data["signatures"][0],
                                                     "keyid": other.keyid}]}
                           ).verify([other], 1)


def test_intoto_keyid_is_securesystemslibs_default():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from securesystemslib.signer._utils import compute_default_keyid

    from release.signing.keys import INTOTO_KEYTYPE, INTOTO_SCHEME, intoto_keyid

    for _ in range(5):
        pem = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        assert intoto_keyid(pem) == compute_default_keyid(
            INTOTO_KEYTYPE, INTOTO_SCHEME, {"public": pem.decode()})
