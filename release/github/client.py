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

import ipaddress
import json
import random
import re
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from release import __version__
from release.errors import ReleaseError, StageFailed, UsageError
from release.github.operations import IMPLICIT, Operation, operation
from release.permissions import Level, PermissionSet

if TYPE_CHECKING:
    import httpx
    from githubkit import GitHub

#: The REST API version we are written against (sent on every request).
API_VERSION = "2022-11-28"
DEFAULT_API_URL = "https://api.github.com"
#: The one operation sent to the uploads host rather than the API host.
UPLOAD_OPERATION = "repos/upload-release-asset"
#: The one operation whose redirect may leave the scope, without any credential.
DOWNLOAD_OPERATION = "repos/get-release-asset"
PER_PAGE = 100
_MAX_REDIRECTS = 5
#: The largest JSON answer read (a release with its assets is a few hundred KiB).
MAX_RESPONSE = 32 * 2**20
_DEFAULT_PORTS = {"http": 80, "https": 443}
_LOOPBACK = re.compile(r"^(?:127(?:\.\d{1,3}){3}|::1|localhost)$")
#: A host spelled as numbers only: an IPv4 address in one of inet_aton's forms
#: (``127.1``, ``2130706433``, ``0x7f000001``, ``0177.0.0.1``), never a DNS name.
_NUMERIC_HOST = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}\.?$")
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def loads_json(data: str | bytes | bytearray) -> Any:
    """``json.loads`` for untrusted input: JSON nested too deep for the parser (``[`` a
    hundred thousand times) is a :class:`json.JSONDecodeError`, like any malformed
    JSON, never a RecursionError."""
    try:
        return json.loads(data)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", "", 0) from None


class ScopeRefused(ReleaseError):
    """A call outside the stage's declared permissions; nothing was sent."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint, exit_code=1)


class TransientError(StageFailed):
    """A call failed in a way that may pass later (5xx, rate limit, connection lost).

    ``maybe_applied`` is true when the server may have carried out a non-idempotent
    request before the failure: check state before repeating it.
    """

    def __init__(self, message: str, *, retry_after: float, maybe_applied: bool) -> None:
        super().__init__(message, "GitHub or the network had a transient problem; "
                                  "run the stage again: it resumes where it stopped")
        self.retry_after = retry_after
        self.maybe_applied = maybe_applied


class GitHubRefused(StageFailed):
    """GitHub answered with an error status that retrying will not fix."""

    def __init__(self, message: str, hint: str | None, status: int) -> None:
        super().__init__(message, hint)
        self.status = status


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter; a server's ``retry-after`` wins when longer."""

    attempts: int = 5
    base: float = 0.5
    cap: float = 30.0
    #: Longest rate-limit wait we accept before failing instead.
    max_wait: float = 300.0

    def delay(self, attempt: int) -> float:
        jitter = 0.5 + random.random() / 2  # noqa: S311 - jitter, not a secret
        return float(min(self.cap, self.base * 2 ** (attempt - 1)) * jitter)


def api_url(environ: Mapping[str, str]) -> str:
    """``GITHUB_API_URL`` (set by Actions and by GitHub Enterprise Server users) or github.com."""
    return (environ.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/")


@dataclass(frozen=True)
class Endpoint:
    """Where a scoped client may send its token: scheme, host, port and path prefix.

    ``port`` None means any port of ``host`` (only for a loopback API's uploads host).
    """

    scheme: str
    host: str
    port: int | None
    prefix: str

    @classmethod
    def parse(cls, url: str, what: str = "GITHUB_API_URL") -> Endpoint:
        """An endpoint from a configured URL; anything but a plain http(s) URL is refused."""
        parts = urlsplit(url.rstrip("/"))
        try:
            port = parts.port
        except ValueError:
            port = -1
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or port == -1 \
                or parts.username is not None or parts.query or parts.fragment:
            raise UsageError(f"{what} {url!r} is not an http(s) URL of a GitHub API",
                             "for example https://api.github.com or https://HOST/api/v3")
        return cls(parts.scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[parts.scheme],
                   parts.path.rstrip("/"))

    def uploads(self) -> Endpoint:
        """The uploads host of this API host, as GitHub lays them out.

        github.com and GHE.com: ``api.HOST`` -> ``uploads.HOST``; GitHub Enterprise Server:
        ``HOST/api/v3`` -> ``HOST/api/uploads``
        (https://docs.github.com/en/enterprise-server@latest/rest/releases/assets#upload-a-release-asset).
        A loopback API (a local test server or proxy) may serve uploads on another port of
        the same loopback address; any other API URL gets its uploads on its own host.
        """
        if self.host.startswith("api.") and not self.prefix:
            return Endpoint(self.scheme, "uploads." + self.host[4:], self.port, "")
        if self.prefix.endswith("/api/v3"):
            return Endpoint(self.scheme, self.host, self.port,
                            self.prefix.removesuffix("/v3") + "/uploads")
        if _LOOPBACK.match(self.host):
            return Endpoint(self.scheme, self.host, None, self.prefix)
        return self

    def describe(self) -> str:
        port = "" if self.port == _DEFAULT_PORTS.get(self.scheme) else \
            ":*" if self.port is None else f":{self.port}"
        return f"{self.scheme}://{self.host}{port}{self.prefix}"


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
        port = target.port or _DEFAULT_PORTS.get(target.scheme)
        if target.scheme != endpoint.scheme or target.host.lower() != endpoint.host or (
                endpoint.port is not None and port != endpoint.port):
            raise self._out_of_scope(op, url, f"another host than {endpoint.describe()}")
        if target.userinfo or target.fragment:
            raise self._out_of_scope(op, url, "the URL carries credentials or a fragment")
        path = target.raw_path.decode("ascii").split("?", 1)[0]
        if not path.startswith(endpoint.prefix + "/"):
            raise self._out_of_scope(op, url, f"not under {endpoint.prefix or '/'}")
        match = _template(op.path).match(path[len(endpoint.prefix):])
        if match is None:
            raise self._out_of_scope(op, url, f"not the path of {op.id} ({op.path})")
        named = match.groupdict()
        for key, want in (("owner", self.owner), ("repo", self.repo)):
            if key in named and unquote(named[key]).lower() != want.lower():
                raise self._out_of_scope(op, url, f"another repository than {self.repository}")
        return target

    def _out_of_scope(self, op: Operation, url: str, reason: str) -> ScopeRefused:
        where = _where(url)
        return ScopeRefused(
            f"stage {self.stage!r} may not send {op.id} ({op.method}) to {where}: {reason}",
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
                    raise GitHubRefused(f"GitHub's answer to {op.method} {_path(target)} is "
                                        f"larger than {MAX_RESPONSE // 2**20} MiB", None,
                                        resp.status_code)
        finally:
            resp.close()
        if resp.status_code == 204 or not data:
            return None
        try:
            return loads_json(data)
        except ValueError:
            raise GitHubRefused(f"GitHub's answer to {op.method} {_path(target)} is not JSON",
                                None, resp.status_code) from None

    def paged(self, op_id: str, params: Mapping[str, str | int] | None = None
              ) -> Iterator[Any]:
        """Every item of a list operation, 100 per page.

        A ``Link: <...>; rel="next"`` is followed when it passes the scope check. GitHub
        writes it as ``/repositories/{id}/...`` (not our path): then we ask for the next
        page on our own URL. A next link anywhere else is refused, never fetched.
        """
        op = self.check(op_id)
        page, link = 1, None
        while True:
            items = self.call(op_id, params, url=link,
                              query=None if link else {"per_page": PER_PAGE, "page": page})
            yield from items
            header = self.last_headers.get("Link")
            following = _next_link(header) if header else None
            if header is None and link is None:
                if len(items) < PER_PAGE:
                    return
                page += 1
                continue
            if following is None:
                return
            page = _page_number(following) or page + 1
            link = following
            try:
                self.authorize(op, following)
            except ScopeRefused:
                if not self._is_repository_id_form(op, following):
                    raise
                link = None  # the same page, asked for on the scoped URL

    def pages(self, op_id: str, params: Mapping[str, str | int] | None = None, *,
              query: Mapping[str, str | int] | None = None, max_pages: int = 10,
              missing_ok: bool = False) -> Iterator[Any]:
        """Each page (a JSON object) of a cursor-paginated operation, up to ``max_pages``.

        GitHub's cursor endpoints (attestations) page with ``Link: <...?after=CURSOR>;
        rel="next"``. A next link is followed only when it passes the scope check; in
        GitHub's ``/repositories/{id}/...`` spelling, only its query (the cursor) is kept
        and sent on our own scoped URL. A link anywhere else is refused, never fetched;
        a link seen twice ends the walk (a server that loops). A 404 with ``missing_ok``
        ends it with no page.
        """
        op = self.check(op_id)
        own = self.url(op, params)
        target, sent, seen = own, dict(query or {}), set()
        for _ in range(max_pages):
            page = self.call(op_id, params, url=target, query=sent or None,
                             missing_ok=missing_ok)
            if page is None:  # 404 with missing_ok: nothing there
                return
            yield page
            header = self.last_headers.get("Link")
            following = _next_link(header) if header else None
            if following is None or following in seen:
                return
            seen.add(following)
            try:
                self.authorize(op, following)
                target, sent = following, {}
            except ScopeRefused:
                if not self._is_repository_id_form(op, following):
                    raise
                target, sent = own, {k: v[-1] for k, v in
                                     parse_qs(urlsplit(following).query).items()}

    def fetch_public(self, url: str, limit: int) -> bytes:
        """GET a URL outside GitHub's API (an attestation's ``bundle_url`` on blob
        storage) with no credential at all, at most ``limit`` bytes.

        Only https is fetched, and only from a public address: the host (whatever its
        spelling: ``127.1``, ``0x7f000001``, ``[::ffff:127.0.0.1]``) and every address a
        DNS name resolves to must be global, and so must the address actually connected
        to (a name that resolves again elsewhere). Loopback, private, link-local,
        unspecified, reserved and multicast addresses are refused before any connection,
        except a loopback address when the API itself is on loopback (a local test
        server), and then over http too: a URL from GitHub's answer must not make this
        machine query its own or its network's services, nor report what they answer.
        """
        import httpx

        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        local_api = _is_loopback_host(self.api.host)
        if parts.scheme != "https" and not (parts.scheme == "http" and local_api):
            raise GitHubRefused(f"refusing to fetch {_where(url)}: only https URLs are "
                                "fetched", None, 0)
        addresses = self._public_addresses(url, host, local_api)
        if parts.scheme != "https" and not (local_api and all(a.is_loopback
                                                              for a in addresses)):
            raise GitHubRefused(f"refusing to fetch {_where(url)}: only https URLs are "
                                "fetched", None, 0)
        if self._plain is None:
            self._plain = httpx.Client(
                timeout=httpx.Timeout(connect=15.0, read=120.0, write=120.0, pool=60.0),
                follow_redirects=True, headers={"User-Agent": f"release-pipeline/{__version__}"})
        try:
            # no redirect: a bundle URL names its blob; a redirect could lead anywhere
            with self._plain.stream("GET", url, follow_redirects=False) as resp:
                peer = _peer_address(resp)
                if peer is not None and _refused_address(peer, local_api):
                    # resolved again, to another address: say nothing of its answer
                    raise GitHubRefused(f"refusing to fetch {_where(url)}: it connected to "
                                        f"{peer}, {_refused_address(peer, local_api)}",
                                        None, 0)
                if resp.status_code != 200:
                    raise GitHubRefused(f"GET {_where(url)} answered {resp.status_code}",
                                        None, resp.status_code)
                data = bytearray()
                for chunk in resp.iter_bytes(1 << 16):
                    data += chunk
                    if len(data) > limit:
                        raise GitHubRefused(f"GET {_where(url)}: more than {limit} bytes",
                                            None, resp.status_code)
                return bytes(data)
        except httpx.HTTPError as exc:
            raise TransientError(f"GET {_where(url)} failed: {type(exc).__name__}: {exc}",
                                 retry_after=self.retry.delay(1), maybe_applied=False) from None

    def _public_addresses(self, url: str, host: str, local_api: bool) -> list[_Address]:
        """The addresses ``host`` names or resolves to; refused if any is not public."""
        try:
            addresses = _host_addresses(host)
        except ValueError as exc:
            raise GitHubRefused(f"refusing to fetch {_where(url)}: {exc}", None, 0) from None
        except OSError as exc:
            raise TransientError(f"GET {_where(url)} failed: cannot resolve {host}: {exc}",
                                 retry_after=self.retry.delay(1), maybe_applied=False) from None
        for address in addresses:
            why = _refused_address(address, local_api)
            if why:
                named = "" if str(address) == host else f" (it resolves to {address})"
                raise GitHubRefused(f"refusing to fetch {_where(url)}: {why}{named}", None, 0)
        return addresses

    def _is_repository_id_form(self, op: Operation, url: str) -> bool:
        """Whether ``url`` is GitHub's ``/repositories/{id}/...`` spelling of ``op``'s path."""
        parts = urlsplit(url)
        rest = op.path.removeprefix("/repos/{owner}/{repo}")
        if rest == op.path or parts.scheme != self.api.scheme or \
                (parts.hostname or "").lower() != self.api.host:
            return False
        pattern = re.escape(self.api.prefix) + r"/repositories/\d+" + _template(rest).pattern[1:]
        return re.match(pattern, parts.path) is not None

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
                    raise GitHubRefused(f"GitHub redirected {op.method} {_path(target)} more "
                                        f"than {_MAX_REDIRECTS} times", None, raw.status_code)
                try:
                    self.authorize(op, following)
                except ScopeRefused as refused:
                    if stream and op.id == DOWNLOAD_OPERATION:
                        return self._fetch_without_credentials(op, following, hdrs)
                    raise ScopeRefused(f"GitHub redirected {op.method} {_path(target)}: "
                                       f"{refused.message}", refused.hint) from None
                if op.method != "GET" or content is not None:
                    raise GitHubRefused(f"GitHub redirected {op.method} {_path(target)} to "
                                        f"{_where(following)}; only reads are re-sent", None,
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
                    f"GitHub rate-limited {op.method} {_path(target)}; retry after {wait:.0f}s",
                    retry_after=wait, maybe_applied=False)
            except RequestFailed as exc:
                self.last_headers = exc.response.headers
                status = exc.response.status_code
                if status == 404 and missing_ok:
                    return None
                if status not in (500, 502, 503, 504):
                    raise _refused(op, target, exc.response.raw_response) from None
                retryable = op.idempotent
                wait = self.retry.delay(attempt)
                failure = TransientError(
                    f"GitHub answered {status} to {op.method} {_path(target)}",
                    retry_after=wait, maybe_applied=not op.idempotent)
            except RequestError as exc:
                retryable = op.idempotent
                wait = self.retry.delay(attempt)
                failure = TransientError(
                    f"{op.method} {_path(target)} failed: {type(exc.exc).__name__}: {exc.exc}",
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

        if self._plain is None:
            self._plain = httpx.Client(
                timeout=httpx.Timeout(connect=15.0, read=120.0, write=120.0, pool=60.0),
                follow_redirects=True, headers={"User-Agent": f"release-pipeline/{__version__}"})
        try:
            resp = self._plain.send(self._plain.build_request(
                "GET", url, headers={"Accept": headers.get("Accept", "*/*")}), stream=True)
        except httpx.HTTPError as exc:
            raise TransientError(f"GET {_where(url)} failed: {type(exc).__name__}: {exc}",
                                 retry_after=self.retry.delay(1), maybe_applied=False) from None
        if resp.is_error:
            resp.close()
            raise GitHubRefused(f"the download {op.id} was redirected to {_where(url)}, which "
                                f"answered {resp.status_code}", None, resp.status_code)
        return resp


def _is_loopback_host(host: str) -> bool:
    """Whether a configured host is this machine, by name or by loopback address."""
    if _LOOPBACK.match(host):
        return True
    try:
        return all(a.is_loopback for a in _literal_addresses(host))
    except ValueError:
        return False


def _literal_addresses(host: str) -> list[_Address]:
    """The address a host spelled as an IP address names (ValueError for a DNS name)."""
    host = host.split("%", 1)[0]  # an IPv6 zone
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    if _NUMERIC_HOST.match(host):
        try:  # the forms inet_aton (and so a resolver or browser) reads as IPv4
            return [ipaddress.IPv4Address(socket.inet_aton(host.rstrip(".")))]
        except OSError:
            raise ValueError(f"{host!r} is not a valid address") from None
    raise ValueError(f"{host!r} is a name")


def _host_addresses(host: str) -> list[_Address]:
    """Every address ``host`` stands for: its literal address, or what DNS resolves it to.

    ValueError for a host that is no usable name; OSError when it does not resolve."""
    if not host:
        raise ValueError("no host")
    try:
        return _literal_addresses(host)
    except ValueError as exc:
        if _NUMERIC_HOST.match(host) or host.startswith("["):
            raise ValueError(str(exc)) from None
    name = host.rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return [ipaddress.ip_address("127.0.0.1")]  # RFC 6761: always this machine
    found = {ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
             for info in socket.getaddrinfo(name, 443, type=socket.SOCK_STREAM)}
    if not found:
        raise OSError("no address")
    return sorted(found, key=str)


def _refused_address(address: _Address, local_api: bool) -> str:
    """Why a fetch must not go to ``address`` (empty when it may)."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour
        if inner is not None:
            return _refused_address(inner, local_api)
    if address.is_loopback:
        return "" if local_api else "a loopback address"
    for what, flag in (("an unspecified address", address.is_unspecified),
                       ("a link-local address", address.is_link_local),
                       ("a multicast address", address.is_multicast),
                       ("a private address", address.is_private),
                       ("a reserved address", address.is_reserved)):
        if flag:
            return what
    if not address.is_global:
        return "not a public address"
    return ""


def _peer_address(resp: httpx.Response) -> _Address | None:
    """The address the response came from, when the transport tells it."""
    stream = resp.extensions.get("network_stream")
    try:
        peer = stream.get_extra_info("server_addr") if stream is not None else None
        return ipaddress.ip_address(str(peer[0]).split("%", 1)[0]) if peer else None
    except (ValueError, TypeError, IndexError, AttributeError):
        return None


def _template(path: str) -> re.Pattern[str]:
    """A regex for an operation's path template: ``{tag}`` may span segments."""
    out = []
    for segment in path.split("/"):
        name = segment[1:-1] if segment.startswith("{") and segment.endswith("}") else None
        if name is None:
            out.append(re.escape(segment))
        elif name == "tag":
            out.append(r"(?P<tag>[^/?#]+(?:/[^/?#]+)*)")
        else:
            out.append(rf"(?P<{name}>[^/?#]+)")
    return re.compile("^" + "/".join(out) + "$")


def _next_link(header: str) -> str | None:
    """The ``rel="next"`` URL of a ``Link`` header (RFC 8288), if any."""
    for part in header.split(","):
        url, _, params = part.partition(";")
        rels = [p.split("=", 1)[1].strip().strip('"').split() for p in params.split(";")
                if p.strip().lower().startswith("rel=")]
        if any("next" in r for r in rels):
            return url.strip().removeprefix("<").removesuffix(">")
    return None


def _page_number(url: str) -> int | None:
    values = parse_qs(urlsplit(url).query).get("page")
    return int(values[0]) if values and values[0].isdigit() else None


def _where(url: str) -> str:
    """Host, port and path of a URL, for messages (no query, no credentials)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path or '/'}"


def _path(url: str) -> str:
    """The path of a URL, for messages (no host, no query: nothing secret)."""
    rest = url.split("://", 1)[-1]
    return "/" + rest.split("/", 1)[1].split("?", 1)[0] if "/" in rest else url


def _refused(op: Operation, target: str, resp: httpx.Response) -> GitHubRefused:
    try:
        data = resp.json()
        message = str(data.get("message", "")) if isinstance(data, dict) else ""
        errors = data.get("errors") if isinstance(data, dict) else None
    except (ValueError, RecursionError):  # not JSON, or nested too deeply to parse
        message, errors = resp.text[:200], None
    detail = f"{message}" + (f" {errors}" if errors else "")
    hint: str | None = None
    accepted = resp.headers.get("X-Accepted-GitHub-Permissions")
    if resp.status_code in (401, 403):
        hint = ("the token does not allow this"
                + (f"; GitHub wants {accepted}" if accepted else "")
                + f" ({op.docs})")
    return GitHubRefused(
        f"GitHub refused {op.method} {_path(target)} ({op.id}): {resp.status_code} {detail}",
        hint, resp.status_code)
