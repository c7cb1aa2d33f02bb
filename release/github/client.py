"""ScopedGitHub: githubkit, bound to one repository and one stage's permissions.

Every call names an operation from :mod:`release.github.operations`; a call beyond the
stage's grant raises :class:`ScopeRefused` before a byte leaves the machine (the checks,
which do no I/O, are :class:`release.github.scope.GitHubScope`'s). githubkit's own retry
is off (it re-sends consumed upload streams and retries POSTs): idempotent calls are
retried here with backoff on 5xx, rate limits and connection errors; callers of
non-idempotent calls get a :class:`TransientError` and check state before retrying.

The token goes only where the scope says: every request, whether its URL was built here
from the operation's path, passed in (``url=``: an ``upload_url``), taken from a
pagination ``Link`` or from a redirect, must be on the configured API host (uploads: the
uploads host) and be the operation's own path in the scoped repository; anything else is
a :class:`ScopeRefused` naming the host and path, before a byte is sent. githubkit's
redirect following is off: we follow a redirect only when its target passes the same
check. The one exception is the download of an asset's bytes, which GitHub redirects to a
pre-signed URL on a storage host: that request is sent by a separate client that holds no
credential (the caller checks the bytes against GitHub's digest).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import IO, TYPE_CHECKING, Any

from release import __version__
from release.github.failures import (
    GitHubRefused,
    RetryPolicy,
    ScopeRefused,
    TransientError,
    refusal,
)
from release.github.operations import Operation
from release.github.public_fetch import fetch_public
from release.github.scope import GitHubScope
from release.github.urls import url_path, where
from release.permissions import Level, PermissionSet
from release.untrusted_json import loads_json

if TYPE_CHECKING:
    import httpx
    from githubkit import GitHub

#: The REST API version we are written against (sent on every request).
API_VERSION = "2022-11-28"
#: The one operation whose redirect may leave the scope, without any credential.
DOWNLOAD_OPERATION = "repos/get-release-asset"
_MAX_REDIRECTS = 5
#: The largest JSON answer read (a release with its assets is a few hundred KiB).
MAX_RESPONSE = 32 * 2**20


class ScopedGitHub(GitHubScope):
    """A githubkit client that may only do what ``granted`` allows, on ``repository`` only."""

    def __init__(self, repository: str, granted: PermissionSet, *, token: str | None,
                 stage: str, base_url: str, extra: Mapping[str, Level] | None = None,
                 retry: RetryPolicy | None = None, uploads_url: str | None = None,
                 log: Callable[[str], None] = lambda _: None) -> None:
        super().__init__(repository, granted, stage=stage, base_url=base_url, extra=extra,
                         uploads_url=uploads_url)
        self.retry = retry or RetryPolicy()
        self.log = log
        self._token = token
        self._gh: GitHub[Any] | None = None
        #: A client with no credential, for GitHub's redirects of asset downloads.
        self._plain: httpx.Client | None = None
        #: Headers of the last response (``X-OAuth-Scopes`` is read from here).
        self.last_headers: Mapping[str, str] = {}

    # -- transport -------------------------------------------------------------------
    def __enter__(self) -> ScopedGitHub:
        import httpx
        from githubkit import GitHub, TokenAuthStrategy, UnauthAuthStrategy

        auth = TokenAuthStrategy(self._token) if self._token else UnauthAuthStrategy()
        self._gh = GitHub(
            auth, base_url=self.base_url + "/", user_agent=f"release-pipeline/{__version__}",
            # githubkit's default is no timeout at all
            timeout=httpx.Timeout(connect=15.0, read=120.0, write=120.0, pool=60.0),
            # a redirect is followed only after the scope check (see _send)
            http_cache=False, auto_retry=False, follow_redirects=False,
        )
        self._gh.__enter__()  # type: ignore[no-untyped-call]
        return self

    def __exit__(self, *exc: object) -> None:
        if self._plain is not None:
            self._plain.close()
            self._plain = None
        if self._gh is not None:
            self._gh.__exit__()
            self._gh = None

    def call(self, op_id: str, params: Mapping[str, str | int] | None = None, *,
             query: Mapping[str, str | int] | None = None, body: Any = None,
             missing_ok: bool = False, url: str | None = None,
             content: IO[bytes] | None = None, headers: Mapping[str, str] | None = None,
             ) -> Any:
        """Send ``op_id``; returns the decoded JSON (None for 204, or 404 with missing_ok)."""
        op = self.check(op_id)
        target = url or self.url(op, params)
        resp = self._send(op, target, query=query, body=body, content=content,
                          headers=headers, missing_ok=missing_ok, stream=True)
        if resp is None:
            return None
        try:
            data = bytearray()
            for chunk in resp.iter_bytes():
                data += chunk
                if len(data) > MAX_RESPONSE:
                    raise GitHubRefused(f"GitHub's answer to {op.method} {url_path(target)} is "
                                        f"larger than {MAX_RESPONSE // 2**20} MiB", None,
                                        resp.status_code)
        finally:
            resp.close()
        if resp.status_code == 204 or not data:
            return None
        try:
            return loads_json(data)
        except ValueError:
            raise GitHubRefused(f"GitHub's answer to {op.method} {url_path(target)} is not JSON",
                                None, resp.status_code) from None

    def fetch_public(self, url: str, limit: int) -> bytes:
        """GET a URL outside GitHub's API (an attestation's ``bundle_url`` on blob
        storage) with no credential at all, at most ``limit`` bytes, from a public
        address only (see :func:`release.github.public_fetch.fetch_public`)."""
        return fetch_public(self._plain_client(), url, limit, api_host=self.api.host,
                            retry=self.retry)

    def _plain_client(self) -> httpx.Client:
        """The client with no credential, made on first use."""
        import httpx

        if self._plain is None:
            self._plain = httpx.Client(
                timeout=httpx.Timeout(connect=15.0, read=120.0, write=120.0, pool=60.0),
                follow_redirects=True, headers={"User-Agent": f"release-pipeline/{__version__}"})
        return self._plain

    def stream(self, op_id: str, params: Mapping[str, str | int], *,
               headers: Mapping[str, str]) -> httpx.Response:
        """A streamed GET; the caller closes the response.

        A redirect within the scope is followed with the token; a redirect of an asset
        download to GitHub's storage host is followed with no credential at all.
        """
        op = self.check(op_id)
        resp = self._send(op, self.url(op, params), headers=headers, stream=True)
        assert resp is not None
        return resp

    def _send(self, op: Operation, target: str, *, query: Mapping[str, str | int] | None = None,
              body: Any = None, content: IO[bytes] | None = None,
              headers: Mapping[str, str] | None = None, missing_ok: bool = False,
              stream: bool = False) -> httpx.Response | None:
        from githubkit.exception import RateLimitExceeded, RequestError, RequestFailed

        if self._gh is None:
            raise RuntimeError("use ScopedGitHub as a context manager")
        hdrs = {"X-GitHub-Api-Version": API_VERSION, "Accept": "application/vnd.github+json",
                **(headers or {})}
        attempt = redirects = 0
        while True:
            attempt += 1
            url = self.authorize(op, target)
            try:
                # githubkit's annotation says bytes, but it hands content to httpx, which
                # streams a file object in chunks: memory stays flat for any size
                stream_body: Any = content
                resp = self._gh.request(op.method, url, params=query, json=body,
                                        content=stream_body, headers=hdrs, stream=stream)
                self.last_headers = resp.headers
                raw = resp.raw_response
                if not raw.has_redirect_location:
                    return raw
                raw.close()
                redirects += 1
                following = str(raw.url.join(raw.headers["Location"]))
                if redirects > _MAX_REDIRECTS:
                    raise GitHubRefused(f"GitHub redirected {op.method} {url_path(target)} more "
                                        f"than {_MAX_REDIRECTS} times", None, raw.status_code)
                try:
                    self.authorize(op, following)
                except ScopeRefused as refused:
                    if stream and op.id == DOWNLOAD_OPERATION:
                        return self._fetch_without_credentials(op, following, hdrs)
                    raise ScopeRefused(f"GitHub redirected {op.method} {url_path(target)}: "
                                       f"{refused.message}", refused.hint) from None
                if op.method != "GET" or content is not None:
                    raise GitHubRefused(f"GitHub redirected {op.method} {url_path(target)} to "
                                        f"{where(following)}; only reads are re-sent", None,
                                        raw.status_code)
                target, query, attempt = following, None, 0
                continue
            except RateLimitExceeded as exc:
                self.last_headers = exc.response.headers
                wait = exc.retry_after.total_seconds()
                # a rate-limited request was not carried out: repeating it is safe
                # (https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api)
                retryable = content is None and wait <= self.retry.max_wait
                failure = TransientError(
                    f"GitHub rate-limited {op.method} {url_path(target)}; retry after {wait:.0f}s",
                    retry_after=wait, maybe_applied=False)
            except RequestFailed as exc:
                self.last_headers = exc.response.headers
                status = exc.response.status_code
                if status == 404 and missing_ok:
                    return None
                if status not in (500, 502, 503, 504):
                    raise refusal(op, target, exc.response.raw_response) from None
                retryable = op.idempotent
                wait = self.retry.delay(attempt)
                failure = TransientError(
                    f"GitHub answered {status} to {op.method} {url_path(target)}",
                    retry_after=wait, maybe_applied=not op.idempotent)
            except RequestError as exc:
                retryable = op.idempotent
                wait = self.retry.delay(attempt)
                failure = TransientError(
                    f"{op.method} {url_path(target)} failed: {type(exc.exc).__name__}: {exc.exc}",
                    retry_after=wait, maybe_applied=not op.idempotent)
            if not retryable or attempt >= self.retry.attempts:
                raise failure
            self.log(f"{failure.message}; retrying in {wait:.1f}s "
                     f"(attempt {attempt + 1} of {self.retry.attempts})")
            time.sleep(wait)

    def _fetch_without_credentials(self, op: Operation, url: str,
                                   headers: Mapping[str, str]) -> httpx.Response:
        """GET a pre-signed storage URL GitHub redirected an asset download to: no token."""
        import httpx

        plain = self._plain_client()
        try:
            resp = plain.send(plain.build_request(
                "GET", url, headers={"Accept": headers.get("Accept", "*/*")}), stream=True)
        except httpx.HTTPError as exc:
            raise TransientError(f"GET {where(url)} failed: {type(exc).__name__}: {exc}",
                                 retry_after=self.retry.delay(1), maybe_applied=False) from None
        if resp.is_error:
            resp.close()
            raise GitHubRefused(f"the download {op.id} was redirected to {where(url)}, which "
                                f"answered {resp.status_code}", None, resp.status_code)
        return resp
