"""Decoding Snappy's raw block format, bounded: GitHub stores attestation bundles that way.

An attestation listed by GitHub's API may come as a ``bundle_url`` instead of an inline
``bundle``: a JSON bundle compressed with Snappy (the block format, not the framing
format), on blob storage. The format
(https://github.com/google/snappy/blob/main/format_description.txt): the uncompressed
length as a little-endian base-128 varint, then elements, each a literal (its bytes
follow) or a copy of earlier output (length and offset back). The input is untrusted:
the declared length is capped before anything is allocated, every copy must point into
what was already produced, and the output must end exactly at the declared length.
"""

from __future__ import annotations


class SnappyError(ValueError):
    """The data is not a valid Snappy block, or is larger than allowed."""


def decompress(data: bytes, limit: int) -> bytes:
    """The uncompressed bytes of a Snappy block of at most ``limit`` bytes."""
    size, pos = _varint(data)
    if size > limit:
        raise SnappyError(f"declares {size} bytes uncompressed, more than the {limit} "
                          "allowed")
    out = bytearray()
    while pos < len(data):
        tag = data[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:  # literal
            length = tag >> 2
            if length >= 60:
                extra = length - 59
                if pos + extra > len(data):
                    raise SnappyError("truncated literal length")
                length = int.from_bytes(data[pos:pos + extra], "little")
                pos += extra
            length += 1
            if pos + length > len(data):
                raise SnappyError("truncated literal")
            chunk = data[pos:pos + length]
            pos += length
        else:
            if kind == 1:
                need, length = 1, 4 + ((tag >> 2) & 7)
                offset_high = (tag >> 5) << 8
            else:
                need, length, offset_high = (2 if kind == 2 else 4), 1 + (tag >> 2), 0
            if pos + need > len(data):
                raise SnappyError("truncated copy")
            offset = offset_high | int.from_bytes(data[pos:pos + need], "little")
            pos += need
            if offset == 0 or offset > len(out):
                raise SnappyError(f"a copy reaches {offset} bytes back into {len(out)}")
            start = len(out) - offset
            if length <= offset:
                chunk = bytes(out[start:start + length])
            else:  # an overlapping copy repeats the last ``offset`` bytes
                pattern = bytes(out[start:])
                chunk = (pattern * (length // offset + 1))[:length]
        if len(out) + len(chunk) > size:
            raise SnappyError(f"more than the {size} bytes declared")
        out += chunk
    if len(out) != size:
        raise SnappyError(f"{len(out)} bytes, {size} declared")
    return bytes(out)


def _varint(data: bytes) -> tuple[int, int]:
    value = shift = 0
    for pos, byte in enumerate(data[:5]):
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos + 1
        shift += 7
    raise SnappyError("no valid length at the start")
