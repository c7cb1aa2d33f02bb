"""Reading a repository's artifact attestations from GitHub, for ``release verify --github``.

``GET /repos/{owner}/{repo}/attestations/{subject_digest}`` lists the attestations
stored for one subject digest (``sha256:<hex>`` of an asset, or ``sha1:<commit>`` for
GitHub's release attestation), cursor-paginated through ``Link`` headers, with an
optional ``predicate_type`` filter (``provenance``, ``sbom``, ``release`` or a URI). It
works anonymously on public repositories; the token, when set, needs ``attestations:
read``. Each item is ``{bundle, repository_id, bundle_url, initiator}``; a null
``bundle`` means the bundle is at ``bundle_url``, Snappy-compressed JSON on blob storage,
fetched with no credential (as ``gh attestation`` does).
https://docs.github.com/en/rest/repos/attestations#list-attestations

Nothing here is trusted: what is returned is only a candidate, which
:mod:`release.verify.attestations` verifies like any bundle found in a folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from release.errors import ReleaseError
from release.github.client import ScopedGitHub
from release.github.failures import GitHubRefused, TransientError
from release.github.pagination import pages
from release.github.snappy import SnappyError, decompress
from release.github.urls import api_url
from release.permissions import Level, PermissionSet
from release.untrusted_json import loads_json

OPERATION = "repos/list-attestations"
#: The largest bundle accepted, inline or from ``bundle_url`` (as for bundle files).
BUNDLE_LIMIT = 4 * 1024 * 1024
#: At most this many pages of 100 for one digest (gh stops at 1000 attestations too).
MAX_PAGES = 10
#: At most this many attestations read for one digest, however GitHub pages them.
MAX_ITEMS = 1000
#: At most this many bytes of bundles kept for a whole run (every digest together).
MAX_TOTAL_BYTES = 256 * 1024 * 1024


@dataclass
class Budget:
    """The bytes of bundles a run keeps in memory, against its limit."""

    limit: int = field(default_factory=lambda: MAX_TOTAL_BYTES)
    used: int = 0

    def spend(self, digest: str, size: int) -> None:
        self.used += size
        if self.used > self.limit:
            amount = (f"{self.limit // 2**20} MiB" if self.limit >= 2**20
                      else f"{self.limit} bytes")
            raise ReleaseError(f"GitHub's attestations add up to more than {amount} of "
                               f"bundles (reached reading those of {digest}); not read "
                               "further", exit_code=1)


@dataclass(frozen=True)
class FetchedAttestation:
    """One attestation GitHub listed for ``digest``: where it came from and its bundle."""

    digest: str
    #: 1-based position in GitHub's answer, for messages.
    index: int
    #: The bundle's JSON, or None when it could not be had (``problem`` says why).
    bundle: bytes | None
    problem: str | None = None
    initiator: str | None = None

    @property
    def origin(self) -> str:
        return f"GitHub API {self.digest} #{self.index}"


def fetch_attestations(gh: ScopedGitHub, digest: str, *, predicate_type: str | None = None,
                       budget: Budget | None = None) -> list[FetchedAttestation]:
    """Every attestation GitHub lists for ``digest`` in the client's repository.

    At most :data:`MAX_ITEMS` (then an entry whose problem says the rest was not read),
    and the bundles kept count against ``budget`` (a :class:`ReleaseError` when spent).
    """
    budget = Budget() if budget is None else budget
    query: dict[str, str | int] = {"per_page": 100}
    if predicate_type:
        query["predicate_type"] = predicate_type
    found: list[FetchedAttestation] = []
    for page in pages(gh, OPERATION, {"subject_digest": digest}, query=query,
                          max_pages=MAX_PAGES, missing_ok=True):
        items = page.get("attestations") if isinstance(page, dict) else None
        if not isinstance(items, list):
            raise ReleaseError(f"GitHub's answer for the attestations of {digest} is not "
                               "an object with an 'attestations' list", exit_code=1)
        for item in items:
            if len(found) >= MAX_ITEMS:
                found.append(FetchedAttestation(digest, len(found) + 1, None,
                                                f"more than {MAX_ITEMS} attestations for "
                                                "this digest; the rest were not read"))
                return found
            fetched = _one(gh, digest, len(found) + 1, item)
            if fetched.bundle is not None:
                budget.spend(digest, len(fetched.bundle))
            found.append(fetched)
    return found


def _one(gh: ScopedGitHub, digest: str, index: int, item: Any) -> FetchedAttestation:
    if not isinstance(item, dict):
        return FetchedAttestation(digest, index, None, "not a JSON object")
    initiator = item.get("initiator") if isinstance(item.get("initiator"), str) else None
    bundle, url = item.get("bundle"), item.get("bundle_url")
    if isinstance(bundle, dict):
        raw = json.dumps(bundle, separators=(",", ":")).encode("utf-8")
        if len(raw) > BUNDLE_LIMIT:
            return FetchedAttestation(digest, index, None, f"the bundle is larger than "
                                      f"{BUNDLE_LIMIT} bytes", initiator)
        return FetchedAttestation(digest, index, raw, None, initiator)
    if not isinstance(url, str) or not url:
        return FetchedAttestation(digest, index, None, "neither a bundle nor a bundle_url",
                                  initiator)
    try:
        packed = gh.fetch_public(url, BUNDLE_LIMIT)
        raw = decompress(packed, BUNDLE_LIMIT)
        loads_json(raw)
    except (GitHubRefused, TransientError) as exc:
        return FetchedAttestation(digest, index, None, f"bundle_url: {exc.message}", initiator)
    except SnappyError as exc:
        return FetchedAttestation(digest, index, None, f"bundle_url: not Snappy data ({exc})",
                                  initiator)
    except ValueError:
        return FetchedAttestation(digest, index, None, "bundle_url: not JSON", initiator)
    return FetchedAttestation(digest, index, raw, None, initiator)


@dataclass(frozen=True)
class ReleaseAttestations:
    """What GitHub holds for a release: per asset digest, and the release attestation."""

    by_digest: dict[str, list[FetchedAttestation]]
    #: Attestations of the tag's commit with the ``release`` predicate filter.
    release: list[FetchedAttestation]


def fetch_for_release(repository: str, sha256s: list[str], commit: str, *,
                      environ: Mapping[str, str] | None = None,
                      log: Callable[[str], None] = lambda _: None) -> ReleaseAttestations:
    """The attestations of each asset (by sha256) and the release attestation of ``commit``.

    Uses ``GITHUB_API_URL`` and, when set, ``GITHUB_TOKEN``, which is sent only to the API
    host and this repository's paths (never to a ``bundle_url``).
    """
    env = os.environ if environ is None else environ
    read = PermissionSet({"attestations": Level.READ, "contents": Level.READ})
    by_digest: dict[str, list[FetchedAttestation]] = {}
    budget = Budget()
    with ScopedGitHub(repository, read, token=env.get("GITHUB_TOKEN") or None,
                      stage="verify", base_url=api_url(env), log=log) as gh:
        for sha in dict.fromkeys(sha256s):
            by_digest[f"sha256:{sha}"] = fetch_attestations(gh, f"sha256:{sha}",
                                                            budget=budget)
        # a tag's commit is a sha1 object id, or sha256 in a SHA-256 repository
        algorithm = "sha256" if len(commit) == 64 else "sha1"
        release = (fetch_attestations(gh, f"{algorithm}:{commit}", predicate_type="release",
                                      budget=budget) if commit else [])
    return ReleaseAttestations(by_digest, release)
