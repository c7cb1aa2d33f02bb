"""Certificates written byte by byte, with the quirks real TPM roots have.

pyca/cryptography refuses most of these; openssl parses every one of them, and so must
the pem-bundle stage. Each is signed for real (ECDSA P-256 over the exact TBS bytes),
so it is a certificate, not just a parseable blob.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

ECDSA_SHA256 = "1.2.840.10045.4.3.2"
CN, ORG, C, BASIC_CONSTRAINTS = "2.5.4.3", "2.5.4.10", "2.5.4.6", "2.5.29.19"
NOT_BEFORE = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
NOT_AFTER = dt.datetime(2035, 1, 1, tzinfo=dt.UTC)


# -- a small DER writer --------------------------------------------------------------

def length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + length(len(content)) + content


def seq(*items: bytes) -> bytes:
    return tlv(0x30, b"".join(items))


def set_of(*items: bytes) -> bytes:
    """A SET written in the order given: DER would sort it, real roots do not always."""
    return tlv(0x31, b"".join(items))


def integer(value: int) -> bytes:
    size = (value.bit_length() + 8) // 8 if value >= 0 else ((-value - 1).bit_length() + 8) // 8
    return tlv(0x02, value.to_bytes(max(size, 1), "big", signed=True))


def oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    out = bytearray()
    for value in [parts[0] * 40 + parts[1], *parts[2:]]:
        chunk = [value & 0x7F]
        value >>= 7
        while value:
            chunk.append(0x80 | (value & 0x7F))
            value >>= 7
        out += bytes(reversed(chunk))
    return tlv(0x06, bytes(out))


NULL = b"\x05\x00"


def boolean(value: bool, raw: int | None = None) -> bytes:
    return tlv(0x01, bytes([raw if raw is not None else (0xFF if value else 0x00)]))


def utf8(text: str) -> bytes:
    return tlv(0x0C, text.encode())


def printable(text: str) -> bytes:
    return tlv(0x13, text.encode())


def utc_time(when: dt.datetime, fmt: str = "%y%m%d%H%M%SZ") -> bytes:
    return tlv(0x17, when.strftime(fmt).encode())


def generalized_time(when: dt.datetime) -> bytes:
    return tlv(0x18, when.strftime("%Y%m%d%H%M%SZ").encode())


def attribute(kind: str, value: bytes) -> bytes:
    return seq(oid(kind), value)


def name(cn: str) -> bytes:
    return seq(set_of(attribute(C, printable("TW"))), set_of(attribute(ORG, utf8("Quirk Test"))),
               set_of(attribute(CN, utf8(cn))))


def basic_constraints(*, ca: bool = True, ca_byte: int | None = None,
                      critical: bytes | None = None, explicit_false: bool = False) -> bytes:
    inner = seq(boolean(True, ca_byte)) if ca else seq(boolean(False)) if explicit_false \
        else seq()
    return seq(oid(BASIC_CONSTRAINTS), boolean(True) if critical is None else critical,
               tlv(0x04, inner))


# -- certificates --------------------------------------------------------------------

@cache
def signing_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def spki() -> bytes:
    return signing_key().public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def tbs(cn: str = "Quirk Root CA", *, version: bytes | None = None, serial: int = 4242,
        algorithm: bytes | None = None, issuer: bytes | None = None,
        subject: bytes | None = None, validity: bytes | None = None,
        extensions: list[bytes] | None = None) -> bytes:
    parts = [
        tlv(0xA0, integer(2)) if version is None else version,
        integer(serial),
        seq(oid(ECDSA_SHA256)) if algorithm is None else algorithm,
        name(cn) if issuer is None else issuer,
        seq(utc_time(NOT_BEFORE), utc_time(NOT_AFTER)) if validity is None else validity,
        name(cn) if subject is None else subject,
        spki(),
    ]
    exts = [basic_constraints()] if extensions is None else extensions
    if exts:
        parts.append(tlv(0xA3, seq(*exts)))
    return seq(*parts)


def certificate(to_be_signed: bytes, algorithm: bytes | None = None) -> bytes:
    signature = signing_key().sign(to_be_signed, ec.ECDSA(hashes.SHA256()))
    return seq(to_be_signed, seq(oid(ECDSA_SHA256)) if algorithm is None else algorithm,
               tlv(0x03, b"\x00" + signature))


@dataclass(frozen=True)
class Quirk:
    """A certificate openssl parses and pyca/cryptography (mostly) refuses."""

    name: str
    der: bytes
    is_ca: bool = True
    serial: int = 4242
    not_before: dt.datetime = NOT_BEFORE

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.der).hexdigest()


def _multi_valued() -> bytes:
    # one RDN holding CN, O, C in that order: DER sorts a SET by encoding (C < O < CN)
    return seq(set_of(attribute(CN, utf8("Quirk Multi-Valued CA")),
                      attribute(ORG, utf8("Quirk Test")), attribute(C, printable("TW"))))


_MAKERS: dict[str, Callable[[], Quirk]] = {
    "set-ordering": lambda: Quirk("set-ordering", certificate(
        tbs(issuer=_multi_valued(), subject=_multi_valued()))),
    "ecdsa-null-parameters": lambda: Quirk("ecdsa-null-parameters", certificate(
        tbs(algorithm=seq(oid(ECDSA_SHA256), NULL)), seq(oid(ECDSA_SHA256), NULL))),
    "algorithm-junk-parameter": lambda: Quirk("algorithm-junk-parameter", certificate(
        tbs(algorithm=seq(oid(ECDSA_SHA256), tlv(0x04, b"vendor data"))))),
    "boolean-01": lambda: Quirk("boolean-01", certificate(
        tbs(extensions=[basic_constraints(ca_byte=0x01)]))),
    "critical-false-encoded": lambda: Quirk("critical-false-encoded", certificate(
        tbs(extensions=[basic_constraints(critical=boolean(False))]))),
    "ca-false-encoded": lambda: Quirk("ca-false-encoded", certificate(
        tbs(extensions=[basic_constraints(ca=False, explicit_false=True)])), is_ca=False),
    "version-1-encoded": lambda: Quirk("version-1-encoded", certificate(
        tbs(version=tlv(0xA0, integer(0)), extensions=[])), is_ca=False),
    "negative-serial": lambda: Quirk("negative-serial", certificate(tbs(serial=-77)),
                                     serial=-77),
    "long-serial": lambda: Quirk("long-serial", certificate(tbs(serial=2**300 + 7)),
                                 serial=2**300 + 7),
    "utctime-without-seconds": lambda: Quirk("utctime-without-seconds", certificate(
        tbs(validity=seq(utc_time(NOT_BEFORE, "%y%m%d%H%MZ"), utc_time(NOT_AFTER))))),
    "utctime-offset": lambda: Quirk("utctime-offset", certificate(
        tbs(validity=seq(tlv(0x17, b"250101020000+0200"), utc_time(NOT_AFTER))))),
    "generalized-before-2050": lambda: Quirk("generalized-before-2050", certificate(
        tbs(validity=seq(generalized_time(NOT_BEFORE), generalized_time(NOT_AFTER))))),
    "teletex-and-bmp-names": lambda: Quirk("teletex-and-bmp-names", certificate(tbs(
        subject=seq(set_of(attribute(ORG, tlv(0x14, b"Qu\xe9bec T\xe9l\xe9"))),
                    set_of(attribute(CN, tlv(0x1E, "Quirk BMP CA".encode("utf-16-be")))))))),
}


#: Each quirk is made once per test session (an ECDSA signature differs at each signing).
QUIRKS: dict[str, Callable[[], Quirk]] = {n: cache(make) for n, make in _MAKERS.items()}


def all_quirks() -> list[Quirk]:
    return [make() for make in QUIRKS.values()]


def openssl_facts(der: bytes) -> dict[str, str]:
    """What ``openssl x509`` reads from the DER bytes: fingerprint, serial, dates, CA."""
    proc = subprocess.run(
        ["openssl", "x509", "-inform", "DER", "-noout", "-fingerprint", "-sha256", "-serial",
         "-startdate", "-enddate", "-ext", "basicConstraints"],
        input=der, capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    facts: dict[str, str] = {}
    for line in proc.stdout.decode().replace("\\\n", "").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            facts[key.strip()] = value.strip()
        elif line.strip().startswith("CA:"):
            facts["CA"] = line.strip().split(",")[0].removeprefix("CA:")
    return facts
