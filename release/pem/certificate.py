"""One X.509 certificate, reduced to the facts a bundle checks and prints.

Read with the lenient reader of :mod:`release.pem.der`, never re-encoded: the
fingerprint is the digest of the exact bytes of the file, and the bundle carries those
bytes. RFC 5280 section 4.1 gives the structure walked here.

Where this differs from what ``openssl x509`` loads (a differential test against openssl
in tests/pem holds it to this list): refused are BER framing, bytes after the
certificate, a validity time or a basicConstraints extension that cannot be read (the
bundle checks both; openssl decodes neither when it loads) and a duplicated extension
(Go refuses it, OpenSSL's verifier marks it invalid). Accepted without a look is the
public key: the pin binds the bytes, and the bundle never uses the key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from release.pem import der
from release.pem.armor import ArmorError, armor, unarmor
from release.pem.der import CONTEXT, DerError, Tlv
from release.pem.names import name_text
from release.terminal import printable

#: Digest algorithms a certificate can be pinned by, strongest last but SHA-1.
DIGESTS = ("sha256", "sha384", "sha512", "sha1")
BASIC_CONSTRAINTS = "2.5.29.19"
#: Far beyond RFC 5280's 20 bytes, which some roots exceed; bounds what is printed.
MAX_SERIAL_BYTES = 128


class NotACertificate(ValueError):
    """The bytes hold no certificate this tool reads, or more than one; says why in words."""


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

    def digest(self, algorithm: str) -> str:
        """Lowercase hex digest of the exact DER bytes (``sha256``, ``sha1``, ...)."""
        return hashlib.new(algorithm, self.der).hexdigest()

    @property
    def sha256(self) -> str:
        """The SHA-256 fingerprint, as ``openssl x509 -fingerprint -sha256`` computes it."""
        return self.digest("sha256")

    def pem(self) -> str:
        """The exact bytes as a PEM block (base64 in 64-column lines)."""
        return armor(self.der)

    def valid_at(self, when: dt.datetime) -> bool:
        return self.not_before <= when <= self.not_after


def load_certificate(data: bytes) -> CertificateFacts:
    """Exactly one certificate from PEM (text around it is allowed) or DER bytes."""
    try:
        raw, origin = unarmor(data)
    except ArmorError as exc:
        raise NotACertificate(str(exc)) from None
    try:
        return parse_certificate(raw)
    except DerError as exc:
        where = "" if origin == "the DER file" else f" of {origin}"
        raise NotACertificate(f"DER decoding failed at byte {exc.offset}{where}: "
                              f"{exc.problem}") from None


def parse_certificate(data: bytes) -> CertificateFacts:
    """The facts of a DER certificate that fills ``data`` exactly; :class:`DerError` if not."""
    top = der.read_tlv(data, 0, len(data)).expect(der.SEQUENCE, "a certificate (a SEQUENCE)")
    if top.end != len(data):
        raise DerError(top.end, f"{len(data) - top.end} bytes follow the end of the "
                                "certificate")
    parts = top.children()
    if len(parts) != 3:
        raise DerError(top.start, f"a certificate holds 3 elements (to-be-signed part, "
                                  f"algorithm, signature), this one {len(parts)}")
    tbs = parts[0].expect(der.SEQUENCE, "the to-be-signed certificate (a SEQUENCE)")
    algorithm(parts[1], "the signature algorithm")
    signature = parts[2].expect(der.BIT_STRING, "the signature (a BIT STRING)")
    if not signature.content or signature.content[0] > 7:
        raise DerError(signature.start, "the signature is not a valid BIT STRING")
    fields = tbs.children()
    pos = 1 if fields and fields[0].is_(0, CONTEXT) else 0
    if pos:  # version [0] EXPLICIT, DEFAULT v1: any value is read, as OpenSSL does
        inner = fields[0].children()
        if len(inner) != 1:
            raise DerError(fields[0].start, "the version is not one INTEGER")
        der.integer(inner[0], "the version")
    names = ("the serial number", "the signature algorithm of the to-be-signed part",
             "the issuer", "the validity", "the subject", "the subject public key info")
    if len(fields) < pos + len(names):
        raise DerError(tbs.start, f"the to-be-signed certificate lacks "
                                  f"{names[len(fields) - pos]}")
    serial_tlv, inner_alg, issuer, validity, subject, spki = fields[pos:pos + 6]
    serial = der.integer(serial_tlv, "the serial number")
    if len(serial_tlv.content) > MAX_SERIAL_BYTES:
        raise DerError(serial_tlv.start, f"a serial number of {len(serial_tlv.content)} "
                                         "bytes (RFC 5280 allows 20)")
    algorithm(inner_alg, names[1])
    times = validity.expect(der.SEQUENCE, "the validity (a SEQUENCE)").children()
    if len(times) != 2:
        raise DerError(validity.start, "the validity is not two times")
    not_before = der.time(times[0], "notBefore")
    not_after = der.time(times[1], "notAfter")
    key = spki.expect(der.SEQUENCE, "the subject public key info (a SEQUENCE)").children()
    if len(key) != 2 or not key[1].is_(der.BIT_STRING):
        raise DerError(spki.start, "the subject public key info is not an algorithm and a "
                                   "BIT STRING")
    algorithm(key[0], "the public key algorithm")
    is_ca = _is_ca(fields[pos + 6:])
    return CertificateFacts(
        der=data, subject=printable(name_text(subject, "the subject")),
        issuer=printable(name_text(issuer, "the issuer")), serial=serial,
        not_before=not_before, not_after=not_after, is_ca=is_ca)


def algorithm(tlv: Tlv, what: str) -> str:
    """An AlgorithmIdentifier's OID. Any parameters are accepted (some roots give ECDSA
    a NULL), but at most one element after the OID, as OpenSSL requires."""
    items = tlv.expect(der.SEQUENCE, f"{what} (a SEQUENCE)").children()
    if not items or len(items) > 2:
        raise DerError(tlv.start, f"{what} holds {len(items)} elements; an algorithm "
                                  "identifier is an OID and at most one parameter")
    if len(items) == 2:
        param = items[1]
        if param.cls == der.UNIVERSAL and param.constructed != (
                param.number in (der.SEQUENCE, der.SET)):
            raise DerError(param.start, f"{what}'s parameter is {param.describe()} in the "
                                        "wrong form (BER, not DER)")
    return der.oid(items[0], f"{what}'s OID")


def _is_ca(rest: list[Tlv]) -> bool:
    """The CA flag of basicConstraints among the optional trailing fields; RFC 5280
    4.2.1.9: without the extension the key must not verify certificates."""
    expected = 1
    extensions: list[Tlv] = []
    for item in rest:
        if item.cls != CONTEXT or not expected <= item.number <= 3:
            raise DerError(item.start, f"unexpected {item.describe()} in the to-be-signed "
                                       "certificate")
        expected = item.number + 1
        if item.number == 3:
            inner = item.children()
            if len(inner) != 1:
                raise DerError(item.start, "the extensions are not one SEQUENCE")
            extensions = inner[0].expect(der.SEQUENCE, "the extensions (a SEQUENCE)").children()
    seen: dict[str, int] = {}
    is_ca = False
    for ext in extensions:
        items = ext.expect(der.SEQUENCE, "an extension (a SEQUENCE)").children()
        if len(items) not in (2, 3):
            raise DerError(ext.start, "an extension is not an OID, a criticality and a value")
        name = der.oid(items[0], "an extension's OID")
        if name in seen:
            # Go refuses such a certificate and OpenSSL's verifier marks it invalid
            raise DerError(ext.start, f"the extension {name} appears twice (first at byte "
                                      f"{seen[name]})")
        seen[name] = ext.start
        if len(items) == 3:
            der.boolean(items[1], "an extension's criticality")  # explicit FALSE is read too
        value = items[-1].expect(der.OCTET_STRING, "an extension's value (an OCTET STRING)")
        if name == BASIC_CONSTRAINTS:
            is_ca = _basic_constraints(value)
    return is_ca


def _basic_constraints(value: Tlv) -> bool:
    inner = der.read_all(value.buf, value.body, value.end)
    if len(inner) != 1:
        raise DerError(value.body, "basicConstraints is not one SEQUENCE")
    items = inner[0].expect(der.SEQUENCE, "basicConstraints (a SEQUENCE)").children()
    is_ca = False
    if items and items[0].is_(der.BOOLEAN):
        is_ca = der.boolean(items[0], "basicConstraints cA")  # explicit FALSE is read too
        items = items[1:]
    if len(items) > 1:
        raise DerError(items[1].start, "basicConstraints holds more than cA and pathLen")
    if items:
        der.integer(items[0], "basicConstraints pathLenConstraint")
    return is_ca


def colon_hex(digest: str) -> str:
    """``ab12cd`` -> ``AB:12:CD``, as browsers and ``openssl x509 -fingerprint`` print it."""
    up = digest.upper()
    return ":".join(up[i:i + 2] for i in range(0, len(up), 2))
