"""The offline backend: an ECDSA P-256 private key in a PEM file, passphrase from a variable.

Signatures are DER ECDSA over SHA-256, the form ``openssl dgst -sha256 -sign`` writes
and ``openssl dgst -sha256 -verify`` and ``cosign verify-blob --key`` read. DSSE
envelopes are signed over their PAE
(https://github.com/secure-systems-lab/dsse/blob/master/protocol.md).

An envelope's ``keyid`` follows in-toto's convention, securesystemslib's default key ID
(:func:`intoto_keyid`): securesystemslib's ``Envelope.verify`` (which in-toto's
verifiers use) only tries a key whose ID equals the signature's ``keyid``, so an
empty ``keyid`` or any other ID would fail there by default; Go verifiers
(go-securesystemslib's ``dsse``, cosign) accept it as well. The artifact annotations
keep the key's fingerprint (SHA-256 of the DER SubjectPublicKeyInfo), what ``release
verify`` and openssl users compare.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from release.errors import StageFailed
from release.provenance.slsa import PAYLOAD_TYPE
from release.signing import (
    BACKEND,
    KEY_FINGERPRINT,
    KIND_SIGNATURE,
    SIGNATURE_SUFFIX,
    SignedBlob,
    SignedStatement,
    checked_digest,
)
from release.signing.dsse import Envelope, pae, statement_bytes

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey


#: securesystemslib's key type and signing scheme names for ECDSA P-256 over SHA-256.
INTOTO_KEYTYPE = "ecdsa"
INTOTO_SCHEME = "ecdsa-sha2-nistp256"


def fingerprint(public_der: bytes) -> str:
    """``sha256:<lowercase hex>`` of a DER SubjectPublicKeyInfo."""
    return "sha256:" + hashlib.sha256(public_der).hexdigest()


def intoto_keyid(public_pem: bytes) -> str:
    """securesystemslib's default key ID of a P-256 public key, in-toto's ``keyid``.

    The hex SHA-256 of the canonical JSON (securesystemslib ``encode_canonical``: sorted
    keys, no spaces, only ``\\`` and ``"`` escaped) of ``{"keytype": "ecdsa", "keyval":
    {"public": PEM}, "scheme": "ecdsa-sha2-nistp256"}``, the PEM as pyca/cryptography
    writes a SubjectPublicKeyInfo (securesystemslib 1.x ``compute_default_keyid``).
    """
    def canonical(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    document = (f'{{"keytype":{canonical(INTOTO_KEYTYPE)},"keyval":{{"public":'
                f'{canonical(public_pem.decode("ascii"))}}},"scheme":{canonical(INTOTO_SCHEME)}}}')
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


class KeySigner:
    """Signs with a P-256 key loaded once; see :class:`release.signing.Signer`."""

    backend = "key"

    def __init__(self, key: EllipticCurvePrivateKey) -> None:
        from cryptography.hazmat.primitives import serialization

        self._key: EllipticCurvePrivateKey | None = key
        public = key.public_key()
        der = public.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
        self.fingerprint = fingerprint(der)
        self._pem = public.public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
        self.keyid = intoto_keyid(self._pem)

    @classmethod
    def load(cls, path: Path, passphrase: str | None, *, shown: str) -> KeySigner:
        """Read the key at ``path`` (named ``shown`` in messages, never its contents)."""
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        try:
            data = path.read_bytes()
        except OSError as exc:
            raise StageFailed(f"cannot read the signing key {shown}: {exc.strerror}",
                              "check the stage's `key` path") from None
        try:
            key = load_pem_private_key(data, passphrase.encode() if passphrase else None)
        except TypeError:
            # raised for an encrypted key without a password, or a password for a plain key
            hint = ("set `passphrase-env` to the variable holding its passphrase"
                    if passphrase is None else
                    "the key is not encrypted: remove `passphrase-env`")
            raise StageFailed(f"the signing key {shown} cannot be opened", hint) from None
        except ValueError:
            raise StageFailed(f"the signing key {shown} cannot be decrypted or is not a PEM "
                              "private key", "check the passphrase and the key file") from None
        finally:
            del data
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise StageFailed(f"the signing key {shown} is not an ECDSA P-256 key",
                              "generate one with `openssl ecparam -name prime256v1 -genkey` "
                              "or `cosign generate-key-pair`")
        return cls(key)

    def _private(self) -> EllipticCurvePrivateKey:
        if self._key is None:
            raise StageFailed("the signing key was already closed")
        return self._key

    def _sign_digest(self, digest: bytes) -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

        return self._private().sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))

    def sign_file(self, path: Path, sha256: str) -> SignedBlob:
        """A DER signature over SHA-256 of the file (hashed in chunks, never loaded whole)."""
        signature = self._sign_digest(checked_digest(path, sha256))
        return SignedBlob(SIGNATURE_SUFFIX, signature, KIND_SIGNATURE, self._notes())

    def sign_image_payload(self, image: str, digest: str) -> tuple[bytes, SignedBlob]:
        """cosign 2's simple-signing payload of the image and a DER signature over it."""
        from release.oci.legacy_cosign import simple_signing_payload

        payload = simple_signing_payload(image, digest)
        signature = self._sign_digest(hashlib.sha256(payload).digest())
        return payload, SignedBlob(SIGNATURE_SUFFIX, signature, KIND_SIGNATURE, self._notes())

    def sign_statement(self, statement: Mapping[str, Any]) -> SignedStatement:
        """A DSSE envelope over the statement, ``keyid`` = :func:`intoto_keyid` of the key."""
        payload = statement_bytes(statement)
        digest = hashlib.sha256(pae(PAYLOAD_TYPE, payload)).digest()
        envelope = Envelope(PAYLOAD_TYPE, payload, ((self.keyid, self._sign_digest(digest)),))
        return SignedStatement(envelope.to_json(), None, self._notes())

    def public_key_pem(self) -> bytes:
        return self._pem

    def close(self) -> None:
        self._key = None

    def _notes(self) -> dict[str, str]:
        return {BACKEND: self.backend, KEY_FINGERPRINT: self.fingerprint}
