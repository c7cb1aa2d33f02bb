"""A registry on 127.0.0.1 that lies on purpose, for attacks on ``release verify oci://``.

It is :class:`tests.oci.referrers_registry.ReferrersRegistry` (documented behaviour of the
distribution spec) with ``hooks``: each sees a request first and may answer it itself, the
way a broken or hostile registry would (a huge body, a redirect, a bad header). The
helpers store an image and key-signed Sigstore bundles about it as cosign v3 lays them
out, so each attack starts from an image that verifies.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from release.signing.dsse import pae
from tests.oci.referrers_registry import ReferrersRegistry, _send

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"
EMPTY = "application/vnd.oci.empty.v1+json"
COSIGN_SIGN = "https://sigstore.dev/cosign/sign/v1"
SLSA = "https://slsa.dev/provenance/v1"
IN_TOTO = "application/vnd.in-toto+json"

#: ``hook(request, method, path)``: True when it answered the request itself.
Hook = Callable[[BaseHTTPRequestHandler, str, str], bool]


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def dumps(doc: Any) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


class HostileRegistry(ReferrersRegistry):
    """The referrers registry, with ``hooks`` that answer first, and ``listed``: referrers
    lists served as given (``subject digest -> entries``) instead of computed."""

    def __init__(self) -> None:
        super().__init__()
        self.hooks: list[Hook] = []
        self.listed: dict[str, list[dict[str, Any]]] = {}

    def handle(self, req: BaseHTTPRequestHandler, method: str) -> None:
        for hook in self.hooks:
            if hook(req, method, req.path):
                return None
        ref = req.path.rpartition("/referrers/")[2]
        if "/referrers/" in req.path and ref in self.listed:
            body = dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": self.listed[ref]})
            return send(req, 200, body, INDEX)
        return super().handle(req, method)

    def add_blob(self, data: bytes) -> str:
        self.blobs[digest_of(data)] = data
        return digest_of(data)

    def add_manifest(self, data: bytes, kind: str = MANIFEST, tag: str | None = None) -> str:
        digest = digest_of(data)
        self.manifests[digest] = (data, kind)
        if tag is not None:
            self.tags[("example/x", tag)] = digest
        return digest

    def image(self, marker: str = "image") -> tuple[str, int]:
        """A small image under ``example/x:v1``: its digest and manifest size."""
        config = dumps({"architecture": "amd64", "os": "linux", "marker": marker,
                        "rootfs": {"type": "layers", "diff_ids": []}})
        manifest = dumps({"schemaVersion": 2, "mediaType": MANIFEST, "layers": [], "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": self.add_blob(config), "size": len(config)}})
        return self.add_manifest(manifest, tag="v1"), len(manifest)

    def refer(self, subject: tuple[str, int], bundle: bytes,
              predicate: str | None = COSIGN_SIGN, kind: str = BUNDLE) -> dict[str, Any]:
        """Store ``bundle`` as a referrer of ``subject`` as cosign v3 does; the index entry."""
        notes = {"dev.sigstore.bundle.content": "dsse-envelope"}
        if predicate is not None:
            notes["dev.sigstore.bundle.predicateType"] = predicate
        self.add_blob(b"{}")
        manifest = dumps({
            "schemaVersion": 2, "mediaType": MANIFEST, "artifactType": kind,
            "config": {"mediaType": EMPTY, "digest": digest_of(b"{}"), "size": 2},
            "layers": [{"mediaType": kind, "digest": self.add_blob(bundle),
                        "size": len(bundle)}],
            "subject": {"mediaType": MANIFEST, "digest": subject[0], "size": subject[1]},
            "annotations": notes})
        return {"mediaType": MANIFEST, "digest": self.add_manifest(manifest),
                "size": len(manifest), "artifactType": kind, "annotations": notes}

    def url(self, digest: str) -> str:
        return f"oci://{self.host}/example/x@{digest}"


def send(req: BaseHTTPRequestHandler, status: int, body: bytes = b"", kind: str = INDEX,
         headers: dict[str, str] | None = None, length: int | None = None) -> None:
    _send(req, status, body, kind, headers, length)


def hostile() -> Iterator[HostileRegistry]:
    """Start one for a test (a generator for a pytest fixture)."""
    reg = HostileRegistry()
    reg.start()
    try:
        yield reg
    finally:
        reg.stop()


def statement(digest: str, predicate: str = COSIGN_SIGN,
              body: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "example/x", "digest": {"sha256": digest.split(":")[1]}}],
            "predicateType": predicate, "predicate": body or {}}


def provenance(repository: str, commit: str) -> dict[str, Any]:
    """A SLSA v1 predicate built from ``repository`` at ``commit`` (docs/build-type.md)."""
    return {"buildDefinition": {"resolvedDependencies": [
        {"uri": f"git+https://github.com/{repository}@refs/tags/v1.0.0",
         "digest": {"gitCommit": commit}}]}}


def key_bundle(private: Path, doc: dict[str, Any], payload_type: str = IN_TOTO) -> bytes:
    """A Sigstore bundle with a DSSE envelope over ``doc``, signed with a PEM key."""
    key = serialization.load_pem_private_key(private.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    payload = dumps(doc)
    sig = key.sign(pae(payload_type, payload), ec.ECDSA(hashes.SHA256()))
    return dumps({"mediaType": BUNDLE, "verificationMaterial": {"publicKey": {"hint": ""}},
                  "dsseEnvelope": {"payloadType": payload_type,
                                   "payload": base64.b64encode(payload).decode(),
                                   "signatures": [{"keyid": "",
                                                   "sig": base64.b64encode(sig).decode()}]}})
