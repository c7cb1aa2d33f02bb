"""`legacy-cosign-tag: true`: cosign 2's layout beside the referrer, read back by skopeo
from ``sha256-<hex>.sig``; the signature verifies with openssl over the simple-signing
payload (with the key, or with the Fulcio certificate's key)."""

from __future__ import annotations

import base64
import json
import urllib.request
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.conftest import Repo
from tests.oci.conftest import LocalRegistry, skopeo
from tests.oci.images import image_digest
from tests.oci.test_sign_images import (
    NO_TLS,
    WORKFLOW_URI,
    key_sign,
    keyless_sign,
    signed_image,
)
from tests.signing.conftest import openssl

LEGACY = "    legacy-cosign-tag: true\n"
SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"


def _legacy(registry: LocalRegistry, name: str, digest: str) -> tuple[dict[str, Any], bytes]:
    tag = digest.replace(":", "-") + ".sig"
    manifest = json.loads(skopeo("inspect", NO_TLS, "--raw",
                                 f"docker://{registry.host}/example/{name}:{tag}"))
    [layer] = manifest["layers"]
    assert layer["mediaType"] == SIMPLE_SIGNING
    url = f"http://{registry.host}/v2/example/{name}/blobs/{layer['digest']}"
    with urllib.request.urlopen(url, timeout=30) as resp:
        payload = resp.read()
    data = json.loads(payload)
    assert data["critical"]["image"]["docker-manifest-digest"] == digest
    assert data["critical"]["type"] == "cosign container image signature"
    return layer, payload


def _openssl_verifies(tmp_path: Path, public: Path, signature: bytes, payload: bytes) -> bool:
    (tmp_path / "payload").write_bytes(payload)
    (tmp_path / "payload.sig").write_bytes(signature)
    return openssl("dgst", "-sha256", "-verify", str(public), "-signature",
                   str(tmp_path / "payload.sig"), str(tmp_path / "payload")).returncode == 0


def test_key_signature_under_the_sig_tag(repo: Repo, cli, tmp_path: Path,
                                         registry: LocalRegistry, make_key,
                                         monkeypatch) -> None:
    key = make_key(passphrase=None)
    out = signed_image(repo, cli, tmp_path, registry, "legacy-key",
                       key_sign(key.private) + LEGACY, monkeypatch)
    layer, payload = _legacy(registry, "legacy-key", image_digest(out))
    signature = base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"])
    assert _openssl_verifies(tmp_path, key.public, signature, payload)
    assert not _openssl_verifies(tmp_path, key.public, signature, payload + b" ")


def test_keyless_signature_under_the_sig_tag(repo: Repo, cli, tmp_path: Path,
                                             registry: LocalRegistry, sigstore_stack,
                                             monkeypatch) -> None:
    out = signed_image(repo, cli, tmp_path, registry, "legacy-keyless",
                       keyless_sign(sigstore_stack) + LEGACY, monkeypatch, sigstore_stack)
    layer, payload = _legacy(registry, "legacy-keyless", image_digest(out))
    notes = layer["annotations"]
    cert = x509.load_pem_x509_certificate(notes["dev.sigstore.cosign/certificate"].encode())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [WORKFLOW_URI]
    public = tmp_path / "cert.pub"
    public.write_bytes(cert.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    signature = base64.b64decode(notes["dev.cosignproject.cosign/signature"])
    assert _openssl_verifies(tmp_path, public, signature, payload)
    rekor = json.loads(notes["dev.sigstore.cosign/bundle"])
    assert set(rekor) == {"SignedEntryTimestamp", "Payload"}
    assert set(rekor["Payload"]) == {"body", "integratedTime", "logIndex", "logID"}
