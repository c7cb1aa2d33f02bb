"""Reading a registry's answer without trusting its size: a registry, and the token
server it sends us to, are the network."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx

#: How long a whole answer may take when its request has no read timeout.
ANSWER_SECONDS = 120.0


def read_at_most(resp: httpx.Response, limit: int, seconds: float | None = None
                 ) -> bytes | None:
    """A streamed body of at most ``limit`` bytes, or None when it is longer (refused by
    its ``Content-Length`` without reading, else as soon as byte ``limit + 1`` arrives).

    The whole body must arrive within ``seconds``, by default the request's read timeout
    (which httpx applies to each read only, so a server sending a byte a second would
    hold us for as long as it likes); later, :class:`httpx.ReadTimeout` is raised."""
    length = resp.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > limit:
        return None
    if seconds is None:
        seconds = resp.request.extensions.get("timeout", {}).get("read") or ANSWER_SECONDS
    body = bytearray()
    for chunk in chunks_within(resp, seconds, "the whole answer"):
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def chunks_within(resp: httpx.Response, seconds: float, what: str) -> Iterator[bytes]:
    """The body's chunks as they arrive (not gathered to a size, so the clock is read
    often); :class:`httpx.ReadTimeout` once ``seconds`` have passed in all."""
    deadline = time.monotonic() + seconds
    for chunk in resp.iter_bytes():
        yield chunk
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout(f"{what} took longer than {seconds:g} s",
                                    request=resp.request)
