"""Distinguished names as text: RFC 4514, as pyca/cryptography's ``rfc4514_string`` prints.

Read from the certificate's bytes as they are: the attributes of a multi-valued name
keep their encoded order, even when it is not DER's SET order (real TPM roots do
that), and a value that is not a string is shown as ``#`` and its hex, per RFC 4514.
"""

from __future__ import annotations

from release.pem.der import OID, SEQUENCE, SET, UNIVERSAL, DerError, Tlv, oid

#: RFC 4514 section 3's short names.
SHORT_NAMES = {
    "2.5.4.3": "CN", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O", "2.5.4.11": "OU",
    "2.5.4.6": "C", "2.5.4.9": "STREET", "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
}
#: String types by universal tag number, and how their bytes decode (X.680 section 41).
_CODECS = {12: "utf-8", 18: "ascii", 19: "ascii", 20: "latin-1", 22: "ascii", 25: "ascii",
           26: "ascii", 27: "ascii", 28: "utf-32-be", 30: "utf-16-be"}
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
            parts.append(f"{SHORT_NAMES.get(kind, kind)}={value_text(items[1])}")
        rdns.append("+".join(parts))
    return ",".join(reversed(rdns))


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
