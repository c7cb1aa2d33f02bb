"""ScopedGitHub: githubkit, bound to one repository and one stage's permissions.

Every call names an operation from :mod:`release.github.operations`; a call beyond the
stage's grant raises :class:`ScopeRefused` before a byte leaves the machine. githubkit's
own retry is off (it re-sends consumed upload streams and retries POSTs): idempotent
calls are retried here with backoff on 5xx, rate limits and connection errors; callers
of non-idempotent calls get a :class:`TransientError` and check state before retrying.

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
from urllib.parse import quote, unquote, urlsplit

from release import __version__
from release.github.failures import (
    GitHubRefused,
    RetryPolicy,
    ScopeRefused,
    TransientError,
    refusal,
)
from release.github.operations import IMPLICIT, Operation, operation
from release.github.public_fetch import fetch_public
from release.github.urls import DEFAULT_PORTS, Endpoint, path_pattern, url_path, where
from release.permissions import Level, PermissionSet
from release.untrusted_json import loads_json

if TYPE_CHECKING:
    import httpx
    from githubkit import GitHub

#: The REST API version we are written against (sent on every request).
API_VERSION = "2022-11-28"
#: The one operation sent to the uploads host rather than the API host.
UPLOAD_OPERATION = "repos/upload-release-asset"
#: The one operation whose redirect may leave the scope, without any credential.
DOWNLOAD_OPERATION = "repos/get-release-asset"
_MAX_REDIRECTS = 5
#: The largest JSON answer read (a release with its assets is a few hundred KiB).
MAX_RESPONSE = 32 * 2**20


class ScopedGitHub:
    """A githubkit client that may only do what ``granted`` allows, on ``repository`` only."""

    def __init__(self, repository: str, granted: PermissionSet, *, token: str | None,
                 stage: str, base_url: str, extra: Mapping[str, Level] | None = None,
                 retry: RetryPolicy | None = None, uploads_url: str | None = None,
                 log: Callable[[str], None] = lambda _: None) -> None:
        self.owner, _, self.repo = repository.partition("/")
        self.repository = repository
        self.granted = granted
        self.extra = dict(extra or {})
        self.stage = stage
        self.base_url = base_url.rstrip("/")
        #: Where the token may go: the API host, and the uploads host for uploads.
        self.api = Endpoint.parse(self.base_url)
        self.uploads = (Endpoint.parse(uploads_url, "the uploads URL") if uploads_url
                        else self.api.uploads())
        self.retry = retry or RetryPolicy()
        self.log = log
        self._token = token
        self._gh: GitHub[Any] | None = None
        #: A client with no credential, for GitHub's redirects of asset downloads.
        self._plain: httpx.Client | None = None
        #: Headers of the last response (``X-OAuth-Scopes`` is read from here).
        self.last_headers: Mapping[str, str] = {}

    # -- permission check: no I/O ----------------------------------------------------
    def level(self, permission: str) -> Level:
        if permission in IMPLICIT and self.granted.has_github_access():
            return IMPLICIT[permission]
        return max(self.granted.get_level(permission), self.extra.get(permission, Level.NONE))

    def check(self, op_id: str) -> Operation:
        """The operation, if this stage may call it; else :class:`ScopeRefused`."""
        op = operation(op_id)
        if op.permission is None or self.level(op.permission) >= op.level:
            return op
        have = self.level(op.permission)
        raise ScopeRefused(
            f"stage {self.stage!r} may not call {op.id} ({op.method} {op.path}): it needs "
            f"{op.describe_permission()}, and the stage has "
            f"{op.permission}: {have}",
            f"declare `{op.permission}: {op.level}` for the stage if it really needs it "
            f"(see {op.docs}); nothing was sent to GitHub",
        )

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

    # -- scope check on URLs: no I/O ---------------------------------------------------
    def authorize(self, op: Operation, url: str) -> httpx.URL:
        """``url`` as it will be sent, if ``op`` may go there with the token; else refused.

        The URL must be on the API host (uploads host for an upload), with the same
        scheme and port, no credentials, and its path must be the endpoint's prefix plus
        ``op``'s own path with this client's owner and repository (case-insensitive, as
        GitHub's names are). Dot segments are refused outright: httpx would resolve them,
        so ``/repos/me/mine/releases/tags/../../../../other/repo/...`` would leave the scope.
        """
        import httpx

        endpoint = self.uploads if op.id == UPLOAD_OPERATION else self.api
        raw = urlsplit(url)
        if any(unquote(seg) in (".", "..") for seg in raw.path.split("/")):
            raise self._out_of_scope(op, url, "the path has a '.' or '..' segment")
        try:
            target = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise self._out_of_scope(op, url, f"not a valid URL ({exc})") from None
        port = target.port or DEFAULT_PORTS.get(target.scheme)
        if target.scheme != endpoint.scheme or target.host.lower() != endpoint.host or (
                endpoint.port is not None and port != endpoint.port):
            raise self._out_of_scope(op, url, f"another host than {endpoint.describe()}")
        if target.userinfo or target.fragment:
            raise self._out_of_scope(op, url, "the URL carries credentials or a fragment")
        path = target.raw_path.decode("ascii").split("?", 1)[0]
        if not path.startswith(endpoint.prefix + "/"):
            raise self._out_of_scope(op, url, f"not under {endpoint.prefix or '/'}")
        match = path_pattern(op.path).match(path[len(endpoint.prefix):])
        if match is None:
            raise self._out_of_scope(op, url, f"not the path of {op.id} ({op.path})")
        named = match.groupdict()
        for key, want in (("owner", self.owner), ("repo", self.repo)):
            if key in named and unquote(named[key]).lower() != want.lower():
                raise self._out_of_scope(op, url, f"another repository than {self.repository}")
        return target

    def _out_of_scope(self, op: Operation, url: str, reason: str) -> ScopeRefused:
        place = where(url)
        return ScopeRefused(
            f"stage {self.stage!r} may not send {op.id} ({op.method}) to {place}: {reason}",
            f"this client sends requests only to {self.api.describe()} (uploads: "
            f"{self.uploads.describe()}), under /repos/{self.repository}/; nothing was sent")

    def url(self, op: Operation, params: Mapping[str, str | int] | None = None) -> str:
        values = {"owner": self.owner, "repo": self.repo, **(params or {})}
        # tag names may hold "/" and digests ":", which GitHub expects unescaped
        safe = {"tag": "/", "subject_digest": ":"}
        path = op.path.format(**{k: quote(str(v), safe=safe.get(k, ""))
                                 for k, v in values.items()})
        return self.base_url + path

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
