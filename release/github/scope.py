"""What a stage's GitHub client may do, and where: no I/O.

:class:`GitHubScope` checks an operation against the stage's permissions (the table in
:mod:`release.github.operations`) and a URL against the one repository on the configured
API host (uploads: the uploads host), raising :class:`ScopeRefused` before anything is
sent. :class:`release.github.client.ScopedGitHub` is this scope with a transport.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, urlsplit

from release.github.failures import ScopeRefused
from release.github.operations import IMPLICIT, Operation, operation
from release.github.urls import DEFAULT_PORTS, Endpoint, path_pattern, where
from release.permissions import Level, PermissionSet

if TYPE_CHECKING:
    import httpx

#: The one operation sent to the uploads host rather than the API host.
UPLOAD_OPERATION = "repos/upload-release-asset"


class GitHubScope:
    """The operations ``granted`` allows on ``repository``, and the URLs they may use."""

    def __init__(self, repository: str, granted: PermissionSet, *, stage: str, base_url: str,
                 extra: Mapping[str, Level] | None = None,
                 uploads_url: str | None = None) -> None:
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
