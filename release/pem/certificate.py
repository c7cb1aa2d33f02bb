"""One X.509 certificate, reduced to the facts a bundle checks and prints."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding


class NotACertificate(ValueError):
    """The bytes hold no certificate, or more than one."""


@dataclass(frozen=True)
class CertificateFacts:
    """What the bundle needs to know about one certificate."""

    der: bytes
    subject: str
    issuer: str
    serial: int
    not_before: dt.datetime
    not_after: dt.datetime
    is_ca: bool

    @property
    def sha256(self) -> str:
        """Lowercase hex SHA-256 of the DER encoding: the certificate's fingerprint."""
        return hashlib.sha256(self.der).hexdigest()

    def pem(self) -> str:
        """The certificate as PEM (base64 in 64-column lines), re-encoded from DER."""
        cert = x509.load_der_x509_certificate(self.der)
        return cert.public_bytes(Encoding.PEM).decode("ascii")

    def valid_at(self, when: dt.datetime) -> bool:
        return self.not_before <= when <= self.not_after


def load_certificate(data: bytes) -> CertificateFacts:
    """Parse exactly one certificate from PEM (text around it is allowed) or DER bytes."""
    try:
        if b"-----BEGIN" in data:
            certs = x509.load_pem_x509_certificates(data)
        else:
            certs = [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise NotACertificate(_first_line(exc)) from None
    if len(certs) != 1:
        raise NotACertificate(f"the file holds {len(certs)} certificates, not one")
    cert = certs[0]
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        is_ca = constraints.ca
    except x509.ExtensionNotFound:
        # RFC 5280 4.2.1.9: without basicConstraints the key must not verify certificates
        is_ca = False
    except ValueError as exc:  # a malformed extension
        raise NotACertificate(_first_line(exc)) from None
    return CertificateFacts(
        der=cert.public_bytes(Encoding.DER),
        subject=printable(cert.subject.rfc4514_string()),
        issuer=printable(cert.issuer.rfc4514_string()),
        serial=cert.serial_number,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        is_ca=is_ca,
    )


def printable(text: str) -> str:
    """Escape control characters, so a crafted name cannot break out of a comment line."""
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text)


def colon_hex(digest: str) -> str:
    """``ab12cd`` -> ``AB:12:CD``, as browsers and ``openssl x509 -fingerprint`` print it."""
    up = digest.upper()
    return ":".join(up[i:i + 2] for i in range(0, len(up), 2))


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
