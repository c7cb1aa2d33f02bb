"""Downloading a published release for verification: streamed, each asset digest-checked.

The digest GitHub reports for each asset (``digest: "sha256:<hex>"``) is what the bytes
must hash to; the release must be immutable, so that what is verified now is what
everyone downloads later.
https://docs.github.com/en/code-security/supply-chain-security/understanding-your-software-supply-chain/verifying-the-integrity-of-a-release
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from release.errors import IntegrityError, ReleaseError
from release.github.assets import ASSET_NAME
from release.github.client import ScopedGitHub
from release.github.publish import resolve_tag
from release.github.urls import api_url
from release.permissions import Level, PermissionSet


@dataclass(frozen=True)
class DownloadedAsset:
    name: str
    path: Path
    size: int
    sha256: str


@dataclass(frozen=True)
class DownloadedRelease:
    """A published release, its assets on disk, and the commit its tag points at."""

    repository: str
    tag: str
    release_id: int
    url: str
    immutable: bool
    #: The commit the tag points at ("" when the tag is gone or is not on a commit).
    commit: str
    assets: tuple[DownloadedAsset, ...]


def download_release(repository: str, tag: str, dest: Path, *,
                     environ: Mapping[str, str] | None = None, require_immutable: bool = True,
                     log: Callable[[str], None] = lambda _: None) -> DownloadedRelease:
    """Download every asset of the published release ``tag`` of ``repository`` into ``dest``.

    Uses ``GITHUB_API_URL`` and, when set, ``GITHUB_TOKEN`` from ``environ`` (default: the
    process environment); the token needs only ``contents: read``. Raises
    :class:`IntegrityError` when an asset's bytes differ from GitHub's digest or the
    release is not immutable (unless ``require_immutable`` is false).
    """
    env = os.environ if environ is None else environ
    read = PermissionSet({"contents": Level.READ})
    dest.mkdir(parents=True, exist_ok=True)
    with ScopedGitHub(repository, read, token=env.get("GITHUB_TOKEN") or None,
                      stage="verify", base_url=api_url(env), log=log) as gh:
        release = gh.call("repos/get-release-by-tag", {"tag": tag}, missing_ok=True)
        if release is None:
            raise ReleaseError(f"{repository} has no published release {tag}",
                               "check the tag; drafts cannot be verified")
        assets = release.get("assets") if isinstance(release, dict) else None
        if not isinstance(assets, list) or not all(isinstance(a, dict) for a in assets) \
                or not isinstance(release.get("id"), int):
            raise ReleaseError(f"GitHub's answer for release {tag} of {repository} is not "
                               "shaped as GitHub documents it (an object with an id and a "
                               "list of assets)", "is GITHUB_API_URL a GitHub API?")
        immutable = bool(release.get("immutable"))
        if require_immutable and not immutable:
            raise IntegrityError(f"release {tag} of {repository} is not immutable: its assets "
                                 "can be replaced after verification",
                                 "ask the maintainers to enable immutable releases")
        target = resolve_tag(gh, tag)
        commit = target["sha"] if target and target["type"] == "commit" else ""
        got = [_fetch(gh, asset, dest, log) for asset in assets]
    return DownloadedRelease(repository, tag, int(release["id"]),
                             str(release.get("html_url", "")), immutable, commit, tuple(got))


def _fetch(gh: ScopedGitHub, asset: dict[str, object], dest: Path,
           log: Callable[[str], None]) -> DownloadedAsset:
    name = str(asset.get("name"))
    if not ASSET_NAME.match(name):
        raise IntegrityError(f"release asset name {name!r} is not a plain file name")
    digest = asset.get("digest")
    if asset.get("state") != "uploaded" or not isinstance(digest, str):
        raise IntegrityError(f"asset {name} has no digest from GitHub (state "
                             f"{asset.get('state')})", "the release cannot be verified")
    target = dest / name
    part = dest / f".{name}.part"
    size_field = asset.get("size")
    expected_size = size_field if isinstance(size_field, int) else 0
    h = hashlib.sha256()
    size = 0
    resp = gh.stream("repos/get-release-asset", {"asset_id": str(asset["id"])},
                     headers={"Accept": "application/octet-stream"})
    import httpx

    try:
        with part.open("wb") as f:
            for chunk in resp.iter_bytes(1 << 20):
                h.update(chunk)
                f.write(chunk)
                size += len(chunk)
                if size > expected_size:
                    break  # longer than GitHub says: fails the check below, stops early
    except httpx.TransportError as exc:
        part.unlink(missing_ok=True)
        raise ReleaseError(f"download of asset {name} failed after {size} bytes: {exc}",
                           "retry; the transfer was cut off") from exc
    finally:
        resp.close()
    found = f"sha256:{h.hexdigest()}"
    if found != digest or size != asset.get("size"):
        part.unlink(missing_ok=True)
        raise IntegrityError(f"asset {name} downloaded as {found} ({size} bytes), but GitHub "
                             f"reports {digest} ({asset.get('size')} bytes)",
                             "the download was altered in transit or the release is broken")
    part.replace(target)
    log(f"{name}: {found}")
    return DownloadedAsset(name, target, size, h.hexdigest())
