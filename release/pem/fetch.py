"""Downloading a pinned certificate over HTTPS: bounded in size and time, no downgrade.

The fingerprint pin, not the transport, is what makes a fetched file trustworthy;
HTTPS only keeps the fetch private and refuses redirects to plain HTTP.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from http.client import HTTPMessage
from typing import IO

MAX_BYTES = 1024 * 1024
TIMEOUT = 30.0


class FetchError(Exception):
    """A download failed; the message says why, without the body."""


class _HttpsOnly(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
                         headers: HTTPMessage, newurl: str) -> urllib.request.Request | None:
        if not newurl.lower().startswith("https://"):
            raise FetchError(f"redirected to a non-HTTPS address {newurl!r}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def fetch(url: str, *, limit: int = MAX_BYTES, timeout: float = TIMEOUT) -> bytes:
    """GET ``url`` (https only) and return at most ``limit`` bytes of body."""
    if not url.lower().startswith("https://"):
        raise FetchError("only https:// addresses are fetched")
    # the default handlers honour SSL_CERT_FILE / SSL_CERT_DIR through OpenSSL's defaults
    opener = urllib.request.build_opener(_HttpsOnly())
    # the scheme is checked above and on every redirect
    request = urllib.request.Request(url, headers={"User-Agent": "release-pem-bundle"})  # noqa: S310
    try:
        with opener.open(request, timeout=timeout) as response:
            body: bytes = response.read(limit + 1)
    except urllib.error.HTTPError as exc:
        raise FetchError(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise FetchError(str(exc.reason)) from None
    except (OSError, ValueError) as exc:
        raise FetchError(str(exc) or type(exc).__name__) from None
    if len(body) > limit:
        raise FetchError(f"larger than {limit // 1024} KiB; a certificate is a few KiB")
    return body
