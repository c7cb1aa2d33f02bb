"""The HTTP side of the registry client: one repository's requests, with the registry's
challenges and redirects followed by us (httpx's own following reads the whole body of
every answer it moves past), plain HTTP only to loopback, bounded bodies, and errors
that name the registry without echoing what it sent unescaped.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Self
from urllib.parse import urljoin

import httpx

from release.errors import IntegrityError, StageFailed
from release.oci.auth import Credentials, RegistryAuth
from release.oci.bounded import read_at_most
from release.oci.reference import base_url, is_loopback
from release.terminal import printable

#: Redirects followed at most for one request (httpx's default too).
MAX_REDIRECTS = 20
#: How much of an error answer is read for its error codes; the rest is dropped.
ERROR_TEXT = 64 * 1024


class RegistryTransport:
    """Requests to one repository on one registry, with credentials for pull or pull,push."""

    def __init__(self, host: str, repository: str, *, push: bool = False,
                 credentials: Credentials | None = None, timeout: float = 120.0) -> None:
        self.host, self.repository = host, repository
        scope = f"repository:{repository}:{'pull,push' if push else 'pull'}"
        self.auth = RegistryAuth(host, scope, credentials)
        # redirects and challenges are followed by _answer, which reads no body it passes
        self.client = httpx.Client(
            base_url=base_url(host), timeout=httpx.Timeout(timeout, connect=30.0),
            follow_redirects=False, headers={"User-Agent": "release-pipeline"},
            event_hooks={"request": [self._refuse_plain_http]},
        )
        self.prefix = f"/v2/{repository}"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    @property
    def where(self) -> str:
        return f"{self.host}/{self.repository}"

    def _location(self, resp: httpx.Response) -> str:
        location = resp.headers.get("Location")
        if not location:
            raise StageFailed(f"{self.host} started an upload without a Location header")
        try:
            return urljoin(str(resp.request.url), str(location))
        except ValueError as exc:
            raise self._unusable("the address it gave for an upload", exc) from None

    def _unusable(self, what: str, exc: Exception) -> StageFailed:
        """A value httpx or urllib cannot make a request of; the exception's text may
        quote a header value, so only its kind is told."""
        return StageFailed(f"registry {self.host} is broken or hostile: {what} cannot go "
                           f"into a request ({type(exc).__name__}); not followed",
                           "do not use this registry")

    def _refuse_plain_http(self, request: httpx.Request) -> None:
        """Every request, each redirect hop and upload location included: plain HTTP only
        to a loopback registry, so no hop can downgrade us and expose data or tokens."""
        if request.url.scheme == "http" and not is_loopback(request.url.netloc.decode()):
            raise StageFailed(f"{self.host} sent us to {request.url.netloc.decode()[:100]} over "
                              "plain HTTP (a redirect or an upload location); refusing to "
                              "send data or tokens there",
                              "plain HTTP is only for a registry on loopback")

    @contextmanager
    def _stream(self, method: str, url: str, **kwargs: Any) -> Iterator[httpx.Response]:
        """The answer to a request, unread, closed on leaving; a failure of the network
        or of HTTP, while asking or while reading the answer, is a StageFailed."""
        try:
            resp = self._answer(method, url, **kwargs)
            try:
                yield resp
            finally:
                resp.close()
        except httpx.HTTPError as exc:
            raise StageFailed(f"cannot reach registry {self.host}: {_failure(exc)}",
                              "check the host name and the network") from None

    def _answer(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """The answer, unread: a 401 is answered once (the token server's answer read
        bounded), a GET or HEAD follows at most MAX_REDIRECTS redirects; the bodies of
        answers passed over are never read (httpx's own following reads them whole, as
        much as the network sends)."""
        challenged, redirects, label = False, 0, self._label(url)
        while True:
            passed: httpx.Response | None = None
            try:
                request = self.client.build_request(method, url, **kwargs)
                self.auth.authorize(request)
                resp = passed = self.client.send(request, stream=True)
                if resp.status_code == 401 and not challenged:
                    challenged = True
                    if self.auth.answer(resp, self.client):
                        continue
                elif resp.has_redirect_location and method in ("GET", "HEAD"):
                    redirects += 1
                    if redirects > MAX_REDIRECTS:
                        raise StageFailed(f"{self.where}: {method} redirected more than "
                                          f"{MAX_REDIRECTS} times",
                                          "the registry is broken or hostile")
                    url = urljoin(str(request.url), resp.headers["Location"])
                    if httpx.URL(url).userinfo:  # httpx would send it as Basic credentials
                        raise StageFailed(f"{self.where}: {method} {label} redirected to an "
                                          "address with a user name; not followed",
                                          "the registry is broken or hostile")
                    continue
                passed = None
                return resp
            except (ValueError, httpx.InvalidURL) as exc:  # UnicodeError is a ValueError
                raise self._unusable(f"{method} {label} led to an address (a redirect, an "
                                     "upload location or its token server's) or a token "
                                     "that", exc) from None
            finally:
                if passed is not None:
                    passed.close()

    def _call(self, method: str, url: str, *, ok: tuple[int, ...] = (200,),
              limit: int = ERROR_TEXT, **kwargs: Any) -> tuple[httpx.Response, bytes]:
        """The answer and its body, read as a stream: more than ``limit`` bytes (said in
        ``Content-Length`` or sent) is refused before it is all read."""
        label = self._label(url)
        with self._stream(method, url, **kwargs) as resp:
            self._check(resp, method, label, ok)
            # a HEAD answer's Content-Length is the resource's, and it has no body
            body = b"" if method == "HEAD" else read_at_most(resp, limit)
        if body is None:
            raise IntegrityError(f"{self.where}: {method} {label} answered more than "
                                 f"{limit} bytes; refused before reading it all",
                                 "the registry is broken or hostile")
        return resp, body

    def _label(self, url: str) -> str:
        what = url.split("?")[0].rsplit("/", 2)
        return "/".join(what[-2:]) if url.startswith(self.prefix) else "blob upload"

    def _check(self, resp: httpx.Response, method: str, label: str,
               ok: tuple[int, ...]) -> None:
        if resp.status_code in ok:
            return
        hint = None
        if resp.status_code in (401, 403):
            hint = "the registry wants credentials with access to this repository"
        raise StageFailed(f"{self.where}: {method} {label} failed: HTTP {resp.status_code}"
                          f"{_error_text(resp)}", hint)


def _failure(exc: httpx.HTTPError) -> str:
    """What went wrong, for an error message: the text of a protocol error is withheld,
    as h11's quotes the header line or value it refused, ours (a token) included."""
    if isinstance(exc, httpx.LocalProtocolError):
        return f"{type(exc).__name__}: our request would break HTTP/1.1's rules"
    if isinstance(exc, httpx.ProtocolError):
        return (f"{type(exc).__name__}: its answer broke HTTP/1.1's rules (or it hung up "
                "before answering)")
    text = " ".join(str(exc).split())
    return printable(f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__)


def _error_text(resp: httpx.Response) -> str:
    """The registry's own error codes (``{"errors": [{"code", "message"}]}``), shortened;
    only the first 64 KiB of the answer are read."""
    from release.untrusted_json import loads_json

    try:
        body = b"" if resp.is_stream_consumed else read_at_most(resp, ERROR_TEXT)
        errors: list[dict[str, Any]] = loads_json(body or b"").get("errors", [])
    except (ValueError, AttributeError, httpx.HTTPError):
        return ""
    text = "; ".join(f"{e.get('code', '')} {e.get('message', '')}".strip()
                     for e in errors[:3] if isinstance(e, dict))
    # the registry's words reach a terminal and CI logs: never its control characters
    return f" ({printable(text[:300])})" if text else ""

