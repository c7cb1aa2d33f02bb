"""PEM armour (RFC 7468): finding the one certificate in a file, and writing one back.

A certificate file is DER (it starts with the SEQUENCE byte ``0x30``) or text holding
exactly one ``CERTIFICATE`` block; text around the block is allowed, as published
files often carry a title. Anything else in the text (a second certificate, a key, a
block with headers, broken base64) is refused, so the bytes pinned are never in doubt.
"""

from __future__ import annotations

import base64
import binascii
import re

CERTIFICATE = "CERTIFICATE"
_BEGIN = re.compile(r"^-----BEGIN ([A-Z0-9 ]*)-----[ \t]*$")
_END = re.compile(r"^-----END ([A-Z0-9 ]*)-----[ \t]*$")
_BLANKS = re.compile(r"[ \t\v\f]")


class ArmorError(ValueError):
    """The text is not one well-formed certificate block; the message says why."""


def unarmor(data: bytes) -> tuple[bytes, str]:
    """The DER bytes of the one certificate in ``data``, and where they came from in words."""
    if data[:1] == b"\x30":
        return data, "the DER file"
    if b"-----BEGIN" not in data:
        first = f"0x{data[0]:02x}" if data else "nothing (the file is empty)"
        raise ArmorError("neither PEM (no -----BEGIN CERTIFICATE----- line) nor DER (which "
                         f"starts with the byte 0x30; this starts with {first})")
    blocks = _blocks(data.decode("latin-1"))
    labels = [label for label, _, _ in blocks]
    others = [f"{label!r} (line {line})" for label, line, _ in blocks if label != CERTIFICATE]
    if others:
        raise ArmorError(f"the file holds a PEM block that is not a certificate: "
                         f"{', '.join(others)}")
    if len(blocks) != 1:
        raise ArmorError(f"the file holds {labels.count(CERTIFICATE)} certificates, not one")
    _, line, body = blocks[0]
    try:
        der = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise ArmorError(f"the PEM block at line {line} is not valid base64") from None
    if not der:
        raise ArmorError(f"the PEM block at line {line} is empty")
    return der, f"the PEM block at line {line}"


def _blocks(text: str) -> list[tuple[str, int, str]]:
    """``(label, line of BEGIN, base64 body)`` of each PEM block, in order."""
    found: list[tuple[str, int, str]] = []
    current: tuple[str, int] | None = None
    body: list[str] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r")
        if current is None:
            begin = _BEGIN.match(line)
            if begin:
                current, body = (begin.group(1), number), []
            elif "-----BEGIN" in line:
                raise ArmorError(f"line {number} is not a PEM BEGIN line ('-----BEGIN LABEL"
                                 "-----' alone on its line)")
            continue
        end = _END.match(line)
        if end:
            if end.group(1) != current[0]:
                raise ArmorError(f"the PEM block at line {current[1]} begins "
                                 f"{current[0]!r} but ends {end.group(1)!r}")
            found.append((current[0], current[1], "".join(body)))
            current = None
        elif ":" in line:
            raise ArmorError(f"the PEM block at line {current[1]} has headers (line "
                             f"{number}): an encrypted or non-standard block")
        else:
            body.append(_BLANKS.sub("", line))
    if current is not None:
        raise ArmorError(f"the PEM block at line {current[1]} has no END line")
    return found


def armor(der: bytes) -> str:
    """The bytes as one ``CERTIFICATE`` block, base64 in 64-column lines (RFC 7468)."""
    text = base64.b64encode(der).decode("ascii")
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    return "\n".join([f"-----BEGIN {CERTIFICATE}-----", *lines,
                      f"-----END {CERTIFICATE}-----"]) + "\n"
