"""How a GitHub call fails: refused by our scope, refused by GitHub, or transient
(with the backoff policy for retrying the transient ones)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from release.errors import ReleaseError, StageFailed
from release.github.operations import Operation
from release.github.urls import url_path

if TYPE_CHECKING:
    import httpx


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


def refusal(op: Operation, target: str, resp: httpx.Response) -> GitHubRefused:
    """The error for GitHub's non-retryable answer ``resp`` to ``op``: its message, and
    for 401/403 the permissions GitHub says it wants."""
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
        f"GitHub refused {op.method} {url_path(target)} ({op.id}): {resp.status_code} {detail}",
        hint, resp.status_code)
