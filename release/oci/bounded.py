"""Reading a registry's answer without trusting its size: a registry, and the token
server it sends us to, are the network."""

from __future__ import annotations

import httpx


def read_at_most(resp: httpx.Response, limit: int) -> bytes | None:
    """A streamed body of at most ``limit`` bytes, or None when it is longer (refused by
    its ``Content-Length`` without reading, else as soon as byte ``limit + 1`` arrives)."""
    length = resp.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > limit:
        return None
    body = bytearray()
    for chunk in resp.iter_bytes(64 * 1024):
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)
