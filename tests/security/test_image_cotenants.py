"""Other tools and other signers share an image's referrers: ``release verify oci://``
skips what is not its to judge (an entry that is not a sha256 descriptor, an artifact
that is not a Sigstore bundle, a bundle by another key), naming each on a SKIP line, and
still needs one signature by the expected signer. A bundle that claims our key and does
not verify, or a statement about another digest, fails."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.security.hostile_registry import (
    MANIFEST,
    HostileRegistry,
    hostile,
    key_bundle,
    statement,
)


@pytest.fixture
def reg() -> Iterator[HostileRegistry]:
    yield from hostile()


def test_another_tools_sha512_entry_is_skipped(reg: HostileRegistry, make_key, cli) -> None:
    key = make_key(passphrase=None)
    image = reg.image()
    ours = reg.refer(image, key_bundle(key.private, statement(image[0])))
    theirs = {"mediaType": MANIFEST, "digest": "sha512:" + "a" * 128, "size": 10,
              "artifactType": "application/vnd.example.other"}
    reg.listed[image[0]] = [theirs, ours]
    out = cli("verify", reg.url(image[0]), "--key", key.public)
    assert out.code == 0, out.out + out.err
    assert "SKIP  referrer" in out.out and "entry 1 (sha512:aaaa" in out.out, out.out
    assert "not a sha256 descriptor" in out.out
    assert "PASS  signature" in out.out


def test_a_non_bundle_artifact_is_skipped(reg: HostileRegistry, make_key, cli) -> None:
    key = make_key(passphrase=None)
    image = reg.image()
    reg.refer(image, key_bundle(key.private, statement(image[0])))
    sbom = reg.refer(image, b'{"spdxVersion":"SPDX-2.3"}', None, "application/spdx+json")
    out = cli("verify", reg.url(image[0]), "--key", key.public)
    assert out.code == 0, out.out + out.err
    assert f"SKIP  referrer    {reg.host}/example/x@{sbom['digest']}: a " \
           "application/spdx+json artifact, not a Sigstore bundle" in out.out, out.out


def test_another_keys_bundle_is_skipped_and_ours_still_counts(reg: HostileRegistry,
                                                              make_key, cli) -> None:
    key, stranger = make_key(passphrase=None), make_key("stranger", passphrase=None)
    image = reg.image()
    reg.refer(image, key_bundle(stranger.private, statement(image[0])))
    out = cli("verify", reg.url(image[0]), "--key", key.public)
    assert out.code == 1, out.out
    assert "SKIP  bundle" in out.out and "signed with another key" in out.out, out.out
    assert "FAIL  signature" in out.out and "no verified signature" in out.out

    reg.refer(image, key_bundle(key.private, statement(image[0])))
    both = cli("verify", reg.url(image[0]), "--key", key.public)
    assert both.code == 0, both.out
    assert "SKIP  bundle" in both.out and "PASS  signature" in both.out


def test_a_bundle_naming_our_key_that_does_not_verify_fails(reg: HostileRegistry, make_key,
                                                            cli) -> None:
    from release.signing.keys import intoto_keyid

    key, stranger = make_key(passphrase=None), make_key("stranger", passphrase=None)
    image = reg.image()
    reg.refer(image, key_bundle(key.private, statement(image[0])))
    forged = json.loads(key_bundle(stranger.private, statement(image[0])))
    from cryptography.hazmat.primitives import serialization

    pem = serialization.load_pem_public_key(key.public.read_bytes()).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    forged["dsseEnvelope"]["signatures"][0]["keyid"] = intoto_keyid(pem)
    reg.refer(image, json.dumps(forged).encode())
    out = cli("verify", reg.url(image[0]), "--key", key.public)
    assert out.code == 1, out.out
    assert "FAIL  bundle" in out.out and "but no signature verifies with it" in out.out
    assert "PASS  signature" in out.out


def test_our_key_on_a_statement_about_another_digest_fails(reg: HostileRegistry, make_key,
                                                           cli) -> None:
    key = make_key(passphrase=None)
    image = reg.image()
    reg.refer(image, key_bundle(key.private, statement(image[0])))
    reg.refer(image, key_bundle(key.private, statement("sha256:" + "ab" * 32)))
    out = cli("verify", reg.url(image[0]), "--key", key.public)
    assert out.code == 1, out.out
    assert "FAIL  statement" in out.out and "about another digest" in out.out


def test_a_payload_type_other_than_in_toto_fails(reg: HostileRegistry, make_key, cli) -> None:
    key = make_key(passphrase=None)
    image = reg.image()
    reg.refer(image, key_bundle(key.private, statement(image[0]), payload_type="text/plain"))
    out = cli("verify", reg.url(image[0]), "--key", key.public)
    assert out.code == 1, out.out
    assert "FAIL  statement" in out.out and "payload type is 'text/plain'" in out.out, out.out
