"""ScopedGitHub: githubkit, bound to one repository and one stage's permissions.

Every call names an operation from :mod:`release.github.operations`; a call beyond the
stage's grant raises :class:`ScopeRefused` before a byte leaves the machine. githubkit's
own retry is off (it re-sends consumed upload streams and retries POSTs): idempotent
calls are retried here with backoff on 5xx, rate limits and connection errors; callers
of non-idempotent calls get a :class:`TransientError` and check state before retrying.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote

from release import __version__
from release.errors import ReleaseError, StageFailed
from release.github.operations import IMPLICIT, Operation, operation
from release.permissions import Level, PermissionSet

if TYPE_CHECKING:
    import httpx
    from githubkit import GitHub

#: The REST API version we are written against (sent on every request).
API_VERSION = "2022-11-28"
DEFAULT_API_URL = "https://api.github.com"


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


class ScopedGitHub:
    """A githubkit client that may only do what ``granted`` allows, on ``repository`` only."""

    def __init__(self, repository: str, granted: PermissionSet, *, token: str | None,
                 stage: str, base_url: str, extra: Mapping[str, Level] | None = None,
                 retry: RetryPolicy | None = None,
                 log: Callable[[str], None] = lambda _: None) -> None:
        self.owner, _, self.repo = repository.partition("/")
        self.repository = repository
        self.granted = granted
        self.extra = dict(extra or {})
        self.stage = stage
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.log = log
        self._token = token
        self._gh: GitHub[Any] | None = None
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
            http_cache=False, auto_retry=False, follow_redirects=True,
        )
        self._gh.__enter__()  # type: ignore[no-untyped-call]
        return self

    def __exit__(self, *exc: object) -> None:
        if self._gh is not None:
            self._gh.__exit__()
            self._gh = None

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
                          headers=headers, missing_ok=missing_ok)
        if resp is None or resp.status_code == 204 or not resp.content:
            return None
        return resp.json()

    def paged(self, op_id: str, params: Mapping[str, str | int] | None = None
              ) -> Iterator[Any]:
        """Every item of a list operation, 100 per page."""
        page = 1
        while True:
            items = self.call(op_id, params, query={"per_page": 100, "page": page})
            yield from items
            if len(items) < 100:
                return
            page += 1

    def stream(self, op_id: str, params: Mapping[str, str | int], *,
               headers: Mapping[str, str]) -> httpx.Response:
        """A streamed GET (redirects followed); the caller closes the response."""
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
        attempt = 0
        while True:
            attempt += 1
            try:
                # githubkit's annotation says bytes, but it hands content to httpx, which
                # streams a file object in chunks: memory stays flat for any size
                stream_body: Any = content
                resp = self._gh.request(op.method, target, params=query, json=body,
                                        content=stream_body, headers=hdrs, stream=stream)
                self.last_headers = resp.headers
                return resp.raw_response
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


def _path(url: str) -> str:
    """The path of a URL, for messages (no host, no query: nothing secret)."""
    rest = url.split("://", 1)[-1]
    return "/" + rest.split("/", 1)[1].split("?", 1)[0] if "/" in rest else url


def _refused(op: Operation, target: str, resp: httpx.Response) -> GitHubRefused:
    try:
        data = resp.json()
        message = str(data.get("message", "")) if isinstance(data, dict) else ""
        errors = data.get("errors") if isinstance(data, dict) else None
    except ValueError:
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
