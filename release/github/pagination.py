"""Walking GitHub's paginated list operations through a :class:`ScopedGitHub`.

Every page is a scoped call: a ``Link: <...>; rel="next"`` is followed only when it
passes the client's scope check, or, in GitHub's ``/repositories/{id}/...`` spelling of
our own path, asked for again on the scoped URL
(https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from release.github.failures import ScopeRefused
from release.github.urls import next_link, page_number, path_pattern

if TYPE_CHECKING:
    from release.github.client import ScopedGitHub
    from release.github.operations import Operation

PER_PAGE = 100


def paged(gh: ScopedGitHub, op_id: str, params: Mapping[str, str | int] | None = None
          ) -> Iterator[Any]:
    """Every item of a list operation, 100 per page.

    A ``Link: <...>; rel="next"`` is followed when it passes the scope check. GitHub
    writes it as ``/repositories/{id}/...`` (not our path): then we ask for the next
    page on our own URL. A next link anywhere else is refused, never fetched.
    """
    op = gh.check(op_id)
    page, link = 1, None
    while True:
        items = gh.call(op_id, params, url=link,
                        query=None if link else {"per_page": PER_PAGE, "page": page})
        yield from items
        header = gh.last_headers.get("Link")
        following = next_link(header) if header else None
        if header is None and link is None:
            if len(items) < PER_PAGE:
                return
            page += 1
            continue
        if following is None:
            return
        page = page_number(following) or page + 1
        link = following
        try:
            gh.authorize(op, following)
        except ScopeRefused:
            if not _is_repository_id_form(gh, op, following):
                raise
            link = None  # the same page, asked for on the scoped URL


def pages(gh: ScopedGitHub, op_id: str, params: Mapping[str, str | int] | None = None, *,
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
    op = gh.check(op_id)
    own = gh.url(op, params)
    target, sent, seen = own, dict(query or {}), set()
    for _ in range(max_pages):
        page = gh.call(op_id, params, url=target, query=sent or None,
                       missing_ok=missing_ok)
        if page is None:  # 404 with missing_ok: nothing there
            return
        yield page
        header = gh.last_headers.get("Link")
        following = next_link(header) if header else None
        if following is None or following in seen:
            return
        seen.add(following)
        try:
            gh.authorize(op, following)
            target, sent = following, {}
        except ScopeRefused:
            if not _is_repository_id_form(gh, op, following):
                raise
            target, sent = own, {k: v[-1] for k, v in
                                 parse_qs(urlsplit(following).query).items()}


def _is_repository_id_form(gh: ScopedGitHub, op: Operation, url: str) -> bool:
    """Whether ``url`` is GitHub's ``/repositories/{id}/...`` spelling of ``op``'s path."""
    parts = urlsplit(url)
    rest = op.path.removeprefix("/repos/{owner}/{repo}")
    if rest == op.path or parts.scheme != gh.api.scheme or \
            (parts.hostname or "").lower() != gh.api.host:
        return False
    pattern = re.escape(gh.api.prefix) + r"/repositories/\d+" + path_pattern(rest).pattern[1:]
    return re.match(pattern, parts.path) is not None
