"""A lenient DER reader: strict about framing, loose about the rules real roots break.

Real TPM vendor roots are not all strict DER (X.690 section 10-11): some put the
attributes of a multi-valued name in the wrong SET order, some give an algorithm
identifier parameters it should not have, some encode a default value (``critical
FALSE``, version 1) or a BOOLEAN as ``01``. pyca/cryptography refuses them; OpenSSL
and Go accept them. This reader accepts every *content* quirk OpenSSL accepts, so
the certificate can be pinned by the digest of its exact bytes and emitted unchanged.

The *framing* (tag, length) must be DER: an indefinite or non-minimal length is BER,
and for such bytes there is no one fingerprint (``openssl x509 -fingerprint`` reports
the digest of its own re-encoding, and Go refuses them). INTEGERs and OIDs must be
minimal, as OpenSSL requires too. Every error names the byte offset where it happened.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

UNIVERSAL, APPLICATION, CONTEXT, PRIVATE = 0, 1, 2, 3
BOOLEAN, INTEGER, BIT_STRING, OCTET_STRING, NULL, OID = 1, 2, 3, 4, 5, 6
SEQUENCE, SET, UTC_TIME, GENERALIZED_TIME = 16, 17, 23, 24

_NAMES = {BOOLEAN: "a BOOLEAN", INTEGER: "an INTEGER", BIT_STRING: "a BIT STRING",
          OCTET_STRING: "an OCTET STRING", NULL: "a NULL", OID: "an OBJECT IDENTIFIER",
          SEQUENCE: "a SEQUENCE", SET: "a SET", UTC_TIME: "a UTCTime",
          GENERALIZED_TIME: "a GeneralizedTime", 12: "a UTF8String", 19: "a PrintableString",
          22: "an IA5String", 30: "a BMPString"}
#: Lengths beyond 4 bytes (4 GiB) never occur in a certificate; refusing them bounds work.
_MAX_LENGTH_BYTES = 4


class DerError(ValueError):
    """The bytes are not the DER this reader accepts; says where and what, in words."""

    def __init__(self, offset: int, problem: str) -> None:
        super().__init__(f"DER decoding failed at byte {offset}: {problem}")
        self.offset = offset
        self.problem = problem


@dataclass(frozen=True)
class Tlv:
    """One element: its tag, and where its header and contents lie in ``buf``."""

    buf: bytes
    cls: int
    constructed: bool
    number: int
    start: int
    body: int
    end: int

    @property
    def content(self) -> bytes:
        return self.buf[self.body:self.end]

    @property
    def encoding(self) -> bytes:
        """The element's exact bytes, header included."""
        return self.buf[self.start:self.end]

    def is_(self, number: int, cls: int = UNIVERSAL) -> bool:
        return self.cls == cls and self.number == number

    def describe(self) -> str:
        if self.cls == UNIVERSAL and self.number in _NAMES:
            return _NAMES[self.number]
        kind = ("a universal", "an application", "a context-specific", "a private")[self.cls]
        return f"{kind} [{self.number}] element"

    def children(self) -> list[Tlv]:
        """The elements inside a constructed element, which must fill it exactly."""
        if not self.constructed:
            raise DerError(self.start, f"{self.describe()} is primitive where a constructed "
                                       "element was expected")
        return read_all(self.buf, self.body, self.end)

    def expect(self, number: int, what: str, cls: int = UNIVERSAL) -> Tlv:
        """``self``, if it has the expected tag; else an error naming ``what``."""
        if not self.is_(number, cls):
            raise DerError(self.start, f"expected {what}, found {self.describe()}")
        if cls == UNIVERSAL and self.constructed != (number in (SEQUENCE, SET)):
            form = "constructed" if self.constructed else "primitive"
            raise DerError(self.start, f"{what} is {form} (BER, not DER)")
        return self


def read_tlv(buf: bytes, offset: int, limit: int) -> Tlv:
    """The element starting at ``offset``; it must end at or before ``limit``."""
    if offset >= limit:
        raise DerError(offset, "the data ends where an element was expected (truncated)")
    first = buf[offset]
    cls, constructed, number = first >> 6, bool(first & 0x20), first & 0x1F
    pos = offset + 1
    if number == 0x1F:  # high tag number form: base 128, minimal, at most 4 bytes
        number = 0
        for count in range(5):
            if pos >= limit or count == 4:
                raise DerError(offset, "the tag number is truncated or too long")
            byte = buf[pos]
            if count == 0 and byte == 0x80:
                raise DerError(pos, "the tag number is not in its shortest form")
            number, pos = (number << 7) | (byte & 0x7F), pos + 1
            if not byte & 0x80:
                break
        if number < 0x1F:
            raise DerError(offset, "a small tag number written in the long form")
    if cls == UNIVERSAL and number == 0:
        raise DerError(offset, "an end-of-contents marker (BER, not DER)")
    if pos >= limit:
        raise DerError(pos, "the data ends inside an element's header (truncated)")
    head = buf[pos]
    pos += 1
    if head < 0x80:
        length = head
    elif head == 0x80:
        raise DerError(pos - 1, "indefinite length (BER, not DER): openssl re-encodes such a "
                                "certificate, so no fingerprint names these exact bytes")
    else:
        size = head & 0x7F
        if size > _MAX_LENGTH_BYTES:
            raise DerError(pos - 1, f"a length written in {size} bytes is far larger than "
                                    "any certificate")
        if pos + size > limit:
            raise DerError(pos, "the data ends inside a length (truncated)")
        length = int.from_bytes(buf[pos:pos + size], "big")
        if buf[pos] == 0 or length < 0x80:
            raise DerError(pos - 1, "a length not in its shortest form (BER, not DER): "
                                    "openssl re-encodes such a certificate, so no "
                                    "fingerprint names these exact bytes")
        pos += size
    if pos + length > limit:
        raise DerError(offset, f"{_describe(cls, number)} claims {length} bytes but only "
                               f"{limit - pos} remain (truncated)")
    return Tlv(buf, cls, constructed, number, offset, pos, pos + length)


def _describe(cls: int, number: int) -> str:
    return Tlv(b"", cls, False, number, 0, 0, 0).describe()


def read_all(buf: bytes, start: int, end: int) -> list[Tlv]:
    """Consecutive elements filling ``buf[start:end]`` exactly."""
    out: list[Tlv] = []
    pos = start
    while pos < end:
        item = read_tlv(buf, pos, end)
        out.append(item)
        pos = item.end
    return out


def integer(tlv: Tlv, what: str) -> int:
    """A signed INTEGER; like OpenSSL, refuses one with a redundant leading byte."""
    tlv.expect(INTEGER, what)
    data = tlv.content
    if not data:
        raise DerError(tlv.start, f"{what} is an empty INTEGER")
    # a leading 00 before a byte without its top bit, or FF before one with it
    if len(data) > 1 and (data[0], data[1] >> 7) in ((0x00, 0), (0xFF, 1)):
        raise DerError(tlv.body, f"{what} has a redundant leading byte (openssl refuses "
                                 "this too)")
    return int.from_bytes(data, "big", signed=True)


def boolean(tlv: Tlv, what: str) -> bool:
    """A BOOLEAN; any non-zero byte is true, as OpenSSL reads it (DER wants ``FF``)."""
    tlv.expect(BOOLEAN, what)
    if len(tlv.content) != 1:
        raise DerError(tlv.start, f"{what} is a BOOLEAN of {len(tlv.content)} bytes, not 1")
    return tlv.content[0] != 0


def oid(tlv: Tlv, what: str) -> str:
    """An OBJECT IDENTIFIER in dotted form; sub-identifiers must be minimal."""
    tlv.expect(OID, what)
    data = tlv.content
    if not data or data[-1] & 0x80:
        raise DerError(tlv.start, f"{what} is an empty or truncated OBJECT IDENTIFIER")
    arcs: list[int] = []
    value, fresh = 0, True
    for i, byte in enumerate(data):
        if fresh and byte == 0x80:
            raise DerError(tlv.body + i, f"{what} has a sub-identifier not in its shortest "
                                         "form")
        value, fresh = (value << 7) | (byte & 0x7F), not byte & 0x80
        if fresh:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [first, arcs[0] - 40 * first, *arcs[1:]])


_TWO = "([0-9]{2})"
_ZONE = "(Z|[+-][0-9]{4})"
_UTC = re.compile(f"^{_TWO * 5}{_TWO}?{_ZONE}$")
_GENERALIZED = re.compile(f"^([0-9]{{4}}){_TWO * 4}{_TWO}?(?:[.,][0-9]+)?{_ZONE}$")


def time(tlv: Tlv, what: str) -> dt.datetime:
    """A UTCTime or GeneralizedTime, seconds optional, ``Z`` or an offset, as OpenSSL reads."""
    if tlv.is_(UTC_TIME):
        match = _UTC.match(tlv.content.decode("latin-1"))
    elif tlv.is_(GENERALIZED_TIME):
        match = _GENERALIZED.match(tlv.content.decode("latin-1"))
    else:
        raise DerError(tlv.start, f"expected {what} (a UTCTime or GeneralizedTime), found "
                                  f"{tlv.describe()}")
    text = tlv.content[:40].decode("latin-1").encode("unicode_escape").decode("ascii")
    if match is None or tlv.constructed:
        raise DerError(tlv.start, f"{what} {text!r} is not a time this reader knows "
                                  "(YYMMDDHHMM[SS]Z, or YYYYMMDDHHMM[SS]Z; or an offset)")
    year, month, day, hour, minute, second, zone = match.groups()
    number = int(year)
    if len(year) == 2:  # RFC 5280 4.1.2.5.1
        number += 1900 if number >= 50 else 2000
    try:
        offset = dt.timedelta(0) if zone == "Z" else (
            (1 if zone[0] == "+" else -1)
            * dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5])))
        return dt.datetime(number, int(month), int(day), int(hour), int(minute),
                           int(second or 0), tzinfo=dt.timezone(offset)).astimezone(dt.UTC)
    except (ValueError, OverflowError):
        raise DerError(tlv.start, f"{what} {text!r} is not a valid date and time") from None


def utf8_string(raw: bytes) -> str:
    """The text of a whole DER UTF8String (tag 12), as Fulcio encodes its certificate
    extensions; anything else is shown escaped."""
    if len(raw) >= 2 and raw[0] == 0x0C:
        length, start = raw[1], 2
        if length & 0x80:
            count = length & 0x7F
            length, start = int.from_bytes(raw[2:2 + count], "big"), 2 + count
        if start + length == len(raw):
            return raw[start:].decode("utf-8", errors="replace")
    return raw.decode("utf-8", errors="backslashreplace")
