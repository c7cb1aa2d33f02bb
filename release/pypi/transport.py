"""The HTTP client every PyPI call goes through.

- timeouts always (httpx's default would be 5 s for a 200 MiB upload; none is worse);
- redirects are never followed: a redirect to another host would carry the token
  there, and an index that moved should be configured by its new URL;
- a credential is attached only to requests for the origin it was issued for.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from release import __version__
from release.errors import StageFailed
from release.pypi.urls import origin, same_origin

if TYPE_CHECKING:
    import httpx

USER_AGENT = f"release-pipeline/{__version__}"
CONNECT_TIMEOUT = 15.0
#: Seconds without progress while sending or receiving (not the whole transfer's limit).
IO_TIMEOUT = 120.0
#: Largest JSON or HTML answer read into memory (a project page of thousands of files).
MAX_DOCUMENT = 32 * 1024 * 1024


class IndexClient:
    """One index's client: ``auth`` (a token) reaches only ``auth_origin``."""

    def __init__(self, *, auth_origin: str | None = None, token: str | None = None,
                 io_timeout: float = IO_TIMEOUT) -> None:
        import httpx

        self._auth_origin = auth_origin
        self._token = token
        self.http = httpx.Client(
            timeout=httpx.Timeout(io_timeout, connect=CONNECT_TIMEOUT),
            follow_redirects=False, trust_env=False,
            headers={"User-Agent": USER_AGENT})

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> IndexClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def headers(self, url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        """Request headers for ``url``; the credential only for its own origin."""
        headers = dict(extra or {})
        if self._token and self._auth_origin and same_origin(url, self._auth_origin):
            headers["Authorization"] = basic_auth(self._token)
        return headers

    def get(self, url: str, *, accept: str, what: str) -> Document:
        """GET a document (JSON or HTML), read whole but bounded; redirects refused."""
        import httpx

        try:
            with self.http.stream("GET", url, headers=self.headers(url, {"Accept": accept})
                                  ) as resp:
                refuse_redirect(resp, what)
                body = bytearray()
                for chunk in resp.iter_bytes():
                    body += chunk
                    if len(body) > MAX_DOCUMENT:
                        raise StageFailed(f"{what}: {url} answered more than "
                                          f"{MAX_DOCUMENT} bytes", "is this a package index?")
                return Document(url, resp.status_code,
                                resp.headers.get("Content-Type", ""), bytes(body))
        except httpx.HTTPError as exc:
            raise StageFailed(f"{what}: cannot reach {origin(url)} ({describe(exc)})",
                              "check the index URL and the network") from None

    @contextmanager
    def stream(self, url: str, *, what: str) -> Iterator[httpx.Response]:
        """GET a file as a stream (the caller hashes it as it arrives)."""
        import httpx

        try:
            with self.http.stream("GET", url, headers=self.headers(url)) as resp:
                refuse_redirect(resp, what)
                yield resp
        except httpx.HTTPError as exc:
            raise StageFailed(f"{what}: cannot download from {origin(url)} "
                              f"({describe(exc)})", "retry; check the network") from None


def basic_auth(token: str) -> str:
    """The legacy API's token login: user ``__token__``, the token as password."""
    return "Basic " + base64.b64encode(f"__token__:{token}".encode()).decode("ascii")


def credential_forms(token: str) -> list[str]:
    """Every form in which ``token`` crosses the wire, for the redactor: the token, the
    ``Authorization`` value and its base64 text (decodable back to the token, so an index
    echoing the header must not get it printed)."""
    header = basic_auth(token)
    return [token, header, header.removeprefix("Basic ")]


def refuse_redirect(resp: httpx.Response, what: str) -> None:
    """A 3xx is an error naming where it pointed; nothing is sent there."""
    if 300 <= resp.status_code < 400:
        target = resp.headers.get("Location", "(no Location)")
        raise StageFailed(
            f"{what}: {origin(str(resp.url))} redirected (HTTP {resp.status_code}) to "
            f"{target[:200]}; redirects are not followed, so no credential or file goes to "
            "a place the pipeline does not name",
            "configure the index by its final URL (for pypiserver: --disable-fallback)")


def describe(exc: BaseException) -> str:
    """A short, secret-free description of a transport error."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


@dataclass(frozen=True)
class Document:
    """A small answer, read whole: status, content type and body."""

    url: str
    status: int
    content_type: str
    body: bytes

    def json(self, what: str) -> Any:
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError):  # RecursionError: a hostile [[[[... page
            raise StageFailed(f"{what}: {self.url} answered HTTP {self.status} with a body "
                              "that is not JSON", "is this the index's URL?") from None

    def text(self, limit: int = 300) -> str:
        """The body as one line of text, for error messages."""
        text = " ".join(self.body.decode("utf-8", "replace").split())
        return text[:limit]
