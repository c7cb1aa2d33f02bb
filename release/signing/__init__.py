"""Signing backends: Sigstore keyless (sigstore-python) and an offline ECDSA P-256 key.

Both sit behind :class:`Signer`. Heavy libraries (sigstore, cryptography, httpx) are
imported by the backend modules only, which stage modules import inside ``run``.

What each backend writes beside a file ``F``:

- ``sigstore``: ``F.sigstore.json``, a Sigstore bundle v0.3
  (https://github.com/sigstore/protobuf-specs/blob/main/protos/sigstore_bundle.proto)
  holding the Fulcio certificate, the signature, the Rekor entry and an RFC 3161
  timestamp; ``sigstore verify``, ``cosign verify-blob --bundle`` and ``release
  verify`` check it.
- ``key``: ``F.sig``, the raw DER ECDSA signature over SHA-256 of ``F``. ``openssl dgst
  -sha256 -verify KEY.pub -signature F.sig F`` verifies it as is, and so does ``cosign
  verify-blob --key KEY.pub --signature F.sig F`` (cosign base64-encodes a signature
  file that is not already base64). The public key is a PEM artifact of its own; its
  fingerprint, ``sha256:`` + the lowercase hex SHA-256 of its DER SubjectPublicKeyInfo,
  is recorded in the annotations of every signature. The ``keyid`` of every DSSE
  envelope it signs is securesystemslib's default key ID of the key (what in-toto
  verifiers match by default). A file starting as a DSSE signing input is never
  signed (see :mod:`release.signing.dsse`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

#: Artifact annotations recorded with every signature (see ``Artifact.annotations``).
SIGNED_NAME = "signing.subject"
SIGNED_SHA256 = "signing.subject-sha256"
BACKEND = "signing.backend"
#: ``sha256:<hex>`` of the DER SubjectPublicKeyInfo of the key backend's public key.
KEY_FINGERPRINT = "signing.key-fingerprint"
#: The certificate identity (SAN) and OIDC issuer of a keyless signature.
IDENTITY = "signing.identity"
ISSUER = "signing.issuer"

#: Artifact kinds of what the backends write.
KIND_BUNDLE = "sigstore-bundle"
KIND_SIGNATURE = "signature"
KIND_PUBLIC_KEY = "public-key"
KIND_ATTESTATION = "attestation"

BUNDLE_SUFFIX = ".sigstore.json"
SIGNATURE_SUFFIX = ".sig"


@dataclass(frozen=True)
class SignedBlob:
    """A signature over a file: its bytes, the suffix of its file name, kind and facts."""

    suffix: str
    content: bytes
    kind: str
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SignedStatement:
    """A signed in-toto statement: the DSSE envelope (JSON object) and, keyless, its bundle."""

    envelope: Mapping[str, Any]
    bundle: bytes | None
    annotations: Mapping[str, str] = field(default_factory=dict)


class Signer(Protocol):
    """What the ``sign`` and ``attest`` stages need from a backend."""

    #: Short name of the backend (``sigstore`` or ``key``).
    backend: str

    def sign_file(self, path: Path, sha256: str) -> SignedBlob:
        """Sign the file at ``path``, whose digest must still be ``sha256`` (hex)."""
        ...

    def sign_statement(self, statement: Mapping[str, Any]) -> SignedStatement:
        """Sign an in-toto statement as a DSSE envelope."""
        ...

    def sign_image_payload(self, image: str, digest: str) -> tuple[bytes, SignedBlob]:
        """cosign 2's simple-signing payload for ``image@digest``, built here, and its
        signature as a blob's. The one way such a payload is signed: :func:`checked_digest`
        refuses files that are one."""
        ...

    def public_key_pem(self) -> bytes | None:
        """The PEM public key consumers verify with; None for keyless signatures."""
        ...

    def close(self) -> None:
        """Forget the key material."""
        ...


def checked_digest(path: Path, expected: str) -> bytes:
    """The SHA-256 of the file, read in chunks; it must equal the digest recorded for it.

    Signing hashes the file itself, so a file swapped after the engine re-verified the
    stage's inputs is caught here rather than signed.
    """
    import hashlib

    from release.errors import IntegrityError
    from release.signing.dsse import PAE_PREFIX

    with path.open("rb") as f:
        if f.read(len(PAE_PREFIX)) == PAE_PREFIX:
            raise IntegrityError(
                f"{path.name} starts as a DSSE signing input ({PAE_PREFIX!r}): its signature "
                "could be taken for a signed statement's, so it is not signed",
                "a build that writes such a file is forging provenance; do not release it")
        f.seek(0)
        _refuse_image_payload(f, path)
        f.seek(0)
        digest = hashlib.file_digest(f, "sha256")
    if digest.hexdigest() != expected:
        raise IntegrityError(
            f"{path.name} changed before it was signed: recorded sha256 {expected}, "
            f"found {digest.hexdigest()}",
            "an artifact was modified between stages; rebuild from a clean state")
    return digest.digest()


#: JSON objects up to this size are parsed to tell whether they are a cosign payload.
_JSON_CHECKED = 64 * 1024 * 1024


def _refuse_image_payload(f: BinaryIO, path: Path) -> None:
    """A file that cosign 2 would read as a simple-signing payload (a JSON object with a
    ``critical`` member, matched as Go's encoding/json matches names: case-insensitively)
    is not signed: its signature, as a blob's, would verify as an image signature of
    whatever image it names (``cosign verify`` of the ``.sig`` tag)."""
    import json

    from release.errors import IntegrityError

    head = f.read(4096).lstrip(b" \t\r\n")
    if not head.startswith(b"{"):
        return
    f.seek(0)
    data = f.read(_JSON_CHECKED + 1)
    why = None
    if len(data) > _JSON_CHECKED:
        why = f"a JSON object larger than {_JSON_CHECKED} bytes, too large to check"
    else:
        try:  # Go replaces invalid UTF-8 where Python refuses it: read it as Go does
            doc = json.loads(data.decode("utf-8", errors="replace"))
        except RecursionError:
            why = "a JSON object nested too deeply to check"
        except ValueError:
            return
        if isinstance(doc, dict) and any(
                "".join(c.lower().upper() for c in str(k)) == "CRITICAL" for k in doc):
            why = "a cosign simple-signing payload (a JSON object with `critical`)"
    if why is not None:
        raise IntegrityError(
            f"{path.name} is {why}: its signature as a file could be taken for a signature "
            "of a container image (cosign 2's `.sig` layout), so it is not signed",
            "a build that writes such a file is forging image signatures; do not release "
            "it (images are signed with `artifacts: images`)")
