"""Key-signed releases: ECDSA P-256 signatures checked against a public key.

A ``<file>.sig`` is what ``openssl dgst -sha256 -sign key.pem`` writes (DER
ECDSA-Sig-Value over SHA-256 of the file); cosign's ``sign-blob --key`` writes
the same signature base64-encoded, which we accept too. A key-signed DSSE
envelope carries base64 signatures over PAE(payloadType, payload)
(https://github.com/secure-systems-lab/dsse/blob/master/protocol.md).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from release.errors import UsageError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey

SIG_SUFFIX = ".sig"
#: Suffixes of public key files a release may carry beside its key signatures.
KEY_SUFFIXES = (".pub", ".pem")
#: A PEM public key or certificate is a few hundred bytes to a few KiB.
KEY_LIMIT = 64 * 1024


@dataclass(frozen=True)
class PublicKey:
    """A P-256 public key and its fingerprint (sha256 of the DER SubjectPublicKeyInfo)."""

    key: EllipticCurvePublicKey
    fingerprint: str

    @classmethod
    def load(cls, path: Path) -> PublicKey:
        """Read a PEM public key (or a certificate); anything else is a usage error."""
        try:
            with path.open("rb") as f:
                data = f.read(KEY_LIMIT + 1)
        except OSError as exc:
            raise UsageError(f"cannot read --key {path}: {exc.strerror or exc}") from exc
        if len(data) > KEY_LIMIT:
            raise UsageError(f"--key {path} is larger than {KEY_LIMIT} bytes: not a public key")
        try:
            return cls.from_pem(data)
        except ValueError as exc:
            raise UsageError(f"--key {path} {exc}", "export it with `openssl ec -in key.pem "
                             "-pubout`; key-signed releases use ECDSA P-256") from exc

    @classmethod
    def from_pem(cls, data: bytes) -> PublicKey:
        """A P-256 key from PEM (a public key or a certificate); ValueError says what it is not."""
        from cryptography import x509
        from cryptography.exceptions import UnsupportedAlgorithm
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        try:
            key: object = (x509.load_pem_x509_certificate(data).public_key()
                           if b"-----BEGIN CERTIFICATE-----" in data
                           else serialization.load_pem_public_key(data))
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise ValueError(f"is not a PEM public key: {exc}") from exc
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
            raise ValueError("is not an ECDSA P-256 public key")
        der = key.public_bytes(serialization.Encoding.DER,
                               serialization.PublicFormat.SubjectPublicKeyInfo)
        return cls(key, "sha256:" + hashlib.sha256(der).hexdigest())

    def verify_digest(self, signature: bytes, sha256_hex: str) -> bool:
        """Whether ``signature`` (DER, or base64 of DER) signs the given SHA-256 digest."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

        for candidate in _candidates(signature):
            try:
                self.key.verify(candidate, bytes.fromhex(sha256_hex),
                                ec.ECDSA(Prehashed(hashes.SHA256())))
                return True
            except (InvalidSignature, ValueError):
                continue
        return False

    def verify_bytes(self, signature: bytes, message: bytes) -> bool:
        """Whether ``signature`` signs ``message`` (hashed with SHA-256)."""
        return self.verify_digest(signature, hashlib.sha256(message).hexdigest())


def _candidates(signature: bytes) -> list[bytes]:
    """The raw signature, and its base64 decoding when it is base64 text."""
    found = [signature]
    text = signature.strip()
    if text and all(c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_"
                    for c in text):
        with contextlib.suppress(binascii.Error, ValueError):
            found.append(base64.b64decode(text + b"=" * (-len(text) % 4),
                                          altchars=b"-_" if b"-" in text or b"_" in text
                                          else None))
    return found
