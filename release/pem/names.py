"""Distinguished names as text: RFC 4514, as pyca/cryptography's ``rfc4514_string`` prints.

Read from the certificate's bytes as they are: the attributes of a multi-valued name
keep their encoded order, even when it is not DER's SET order (real TPM roots do
that), and a value that is not a string is shown as ``#`` and its hex, per RFC 4514.
"""

from __future__ import annotations

from release.pem.der import BIT_STRING, OID, SEQUENCE, SET, UNIVERSAL, DerError, Tlv, oid

#: RFC 4514 section 3's short names.
SHORT_NAMES = {
    "2.5.4.3": "CN", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O", "2.5.4.11": "OU",
    "2.5.4.6": "C", "2.5.4.9": "STREET", "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
}
#: String types by universal tag number, and how their bytes decode (X.680 section 41).
_CODECS = {12: "utf-8", 18: "ascii", 19: "ascii", 20: "latin-1", 22: "ascii", 25: "ascii",
           26: "ascii", 27: "ascii", 28: "utf-32-be", 30: "utf-16-be"}
#: Universal tags OpenSSL 3 accepts as an attribute value (its ``ASN1_PRINTABLE``, less
#: the string types it cannot convert to UTF-8: Videotex, Graphic, Visible, General).
_VALUE_TAGS = frozenset({3, 7, 8, 9, 11, 12, 13, 14, 15, 16, 18, 19, 20, 22, 28, 29, 30})
#: Those that DER writes primitive (strings, BIT STRING); SEQUENCE is constructed.
_PRIMITIVE = frozenset({3, 7, 9, 12, 13, 14, 15, 18, 19, 20, 22, 28, 30})
_SPECIAL = {"\\": "\\\\", '"': '\\"', "+": "\\+", ",": "\\,", ";": "\\;", "<": "\\<",
            ">": "\\>", "\0": "\\00"}


def name_text(tlv: Tlv, what: str) -> str:
    """``CN=Root,O=Example,C=TW``: the last RDN first, multi-valued RDNs joined by ``+``."""
    tlv.expect(SEQUENCE, what)
    rdns: list[str] = []
    for rdn in tlv.children():
        rdn.expect(SET, f"a relative distinguished name in {what}")
        parts: list[str] = []
        for attribute in rdn.children():
            attribute.expect(SEQUENCE, f"an attribute of {what}")
            items = attribute.children()
            if len(items) != 2 or not items[0].is_(OID):
                raise DerError(attribute.start, f"an attribute of {what} is not a type "
                                                "followed by a value")
            kind = oid(items[0], f"an attribute type in {what}")
            value = items[1]
            if value.cls != UNIVERSAL or value.number not in _VALUE_TAGS:
                raise DerError(value.start, f"an attribute value in {what} is "
                                            f"{value.describe()}, which openssl refuses in "
                                            "a name")
            if (value.constructed and value.number in _PRIMITIVE) or (
                    value.number == SEQUENCE and not value.constructed):
                raise DerError(value.start, f"an attribute value in {what} is "
                                            f"{value.describe()} in the wrong form (a "
                                            "constructed string is BER, not DER)")
            _check_value(value)
            parts.append(f"{SHORT_NAMES.get(kind, kind)}={value_text(value)}")
        rdns.append("+".join(parts))
    return ",".join(reversed(rdns))


def _check_value(tlv: Tlv) -> None:
    """A value OpenSSL can load: a constructed one holds elements, a BIT STRING is well
    formed, and the Unicode string types hold valid characters (OpenSSL converts names to
    UTF-8 when it loads a certificate and refuses one it cannot convert, so a bundle
    must not carry it). The one-byte types are read as Latin-1, as OpenSSL reads them."""
    data, number = tlv.content, tlv.number
    if tlv.constructed:
        tlv.children()
        return
    if number == BIT_STRING and (not data or data[0] > 7):
        raise DerError(tlv.start, "a BIT STRING in a name is malformed")
    if number == 12:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DerError(tlv.body + exc.start, "a UTF8String in a name is not valid "
                                                 "UTF-8 (openssl refuses it too)") from None
        return
    width = {30: 2, 28: 4}.get(number)
    if width is None:
        return
    if len(data) % width:
        raise DerError(tlv.start, f"a {'BMP' if width == 2 else 'Universal'}String in a name "
                                  f"is not a whole number of {width}-byte characters")
    for i in range(0, len(data), width):
        point = int.from_bytes(data[i:i + width], "big")
        if 0xD800 <= point <= 0xDFFF or point > 0x10FFFF:
            raise DerError(tlv.body + i, f"a name holds the invalid character U+{point:04X} "
                                         "(openssl refuses it too)")


def value_text(tlv: Tlv) -> str:
    """An attribute value, escaped for RFC 4514; bytes that do not decode stay visible."""
    codec = _CODECS.get(tlv.number) if tlv.cls == UNIVERSAL and not tlv.constructed else None
    if codec is None:
        return "#" + tlv.encoding.hex()
    text = tlv.content.decode(codec, errors="backslashreplace")
    if not text:
        return ""
    text = "".join(_SPECIAL.get(ch, ch) for ch in text)
    if text[0] in "# ":
        text = "\\" + text
    if text.endswith(" ") and not text.endswith("\\ "):
        text = text[:-1] + "\\ "
    return text
