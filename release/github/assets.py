"""Release assets on a draft: resumable, streamed uploads whose stored digest is checked.

An upload is a POST to the release's ``upload_url`` (the uploads host), streamed from
disk. It is never retried blindly: after a failure we list the draft's assets, delete
a partial one (state ``starter``) or one with the wrong digest, seek back and upload
again. GitHub reports each stored asset's ``digest``; anything but our sha256 deletes
the asset and fails the stage.
https://docs.github.com/en/rest/releases/assets#upload-a-release-asset
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from release.errors import IntegrityError, StageFailed
from release.github.client import ScopedGitHub
from release.github.failures import GitHubRefused, TransientError
from release.github.pagination import paged

#: Names GitHub keeps as given; others it silently renames, which would break verification.
ASSET_NAME = re.compile(r"^[A-Za-z0-9_+-][A-Za-z0-9._+-]*(?<!\.)$")
UPLOAD_ATTEMPTS = 4


@dataclass(frozen=True)
class AssetFile:
    """A local file to publish under ``name``."""

    name: str
    path: Path
    size: int
    sha256: str

    @property
    def digest(self) -> str:
        return f"sha256:{self.sha256}"

    @property
    def content_type(self) -> str:
        return mimetypes.guess_type(self.name)[0] or "application/octet-stream"


def matches(asset: dict[str, Any], want: AssetFile) -> bool:
    """True when GitHub holds exactly our bytes under this name."""
    return (asset.get("state") == "uploaded" and asset.get("digest") == want.digest
            and asset.get("size") == want.size)


class AssetSync:
    """Makes a draft's assets exactly ``wanted``: uploads what is missing, replaces what differs."""

    def __init__(self, gh: ScopedGitHub, release: dict[str, Any], *,
                 log: Callable[[str], None], pause: Callable[[float], None] = time.sleep
                 ) -> None:
        self.gh = gh
        self.release = release
        self.log = log
        self.pause = pause
        self.upload_url = str(release["upload_url"]).split("{", 1)[0]

    def current(self) -> dict[str, dict[str, Any]]:
        items = paged(self.gh, "repos/list-release-assets",
                      {"release_id": self.release["id"]})
        return {a["name"]: a for a in items}

    def sync(self, wanted: list[AssetFile], cancelled: Callable[[], bool]) -> list[str]:
        """Bring the draft to ``wanted``; returns the names actually uploaded."""
        have = self.current()
        names = {w.name for w in wanted}
        for name, asset in have.items():
            if name not in names:
                self.log(f"removing {name} from our draft: it is not part of this release")
                self.delete(asset)
        uploaded = []
        for want in wanted:
            if cancelled():
                raise StageFailed("cancelled")
            existing = have.get(want.name)
            if existing is not None and matches(existing, want):
                self.log(f"{want.name}: already on the draft with digest {want.digest}")
                continue
            if existing is not None:
                self.log(f"{want.name}: the draft holds a different or incomplete copy "
                         f"(state {existing.get('state')}, {existing.get('digest')}); replacing")
                self.delete(existing)
            self.upload(want)
            uploaded.append(want.name)
        return uploaded

    def delete(self, asset: dict[str, Any]) -> None:
        self.gh.call("repos/delete-release-asset", {"asset_id": asset["id"]}, missing_ok=True)

    def upload(self, want: AssetFile) -> dict[str, Any]:
        """Upload one file, resuming after transient failures; verify the stored digest."""
        for attempt in range(1, UPLOAD_ATTEMPTS + 1):
            try:
                with want.path.open("rb") as f:
                    stored = self.gh.call(
                        "repos/upload-release-asset", url=self.upload_url,
                        query={"name": want.name}, content=f,
                        headers={"Content-Type": want.content_type,
                                 "Content-Length": str(want.size)})
            except TransientError as exc:
                if attempt == UPLOAD_ATTEMPTS:
                    raise
                self.log(f"{want.name}: {exc.message}; checking the draft before retrying")
                self.pause(max(exc.retry_after, self.gh.retry.delay(attempt)))
                if self._settle(want):
                    return self.current()[want.name]
                continue
            except GitHubRefused as exc:
                # 422 already_exists: an earlier attempt may have landed after all
                if exc.status != 422 or attempt == UPLOAD_ATTEMPTS:
                    raise
                if self._settle(want):
                    return self.current()[want.name]
                continue
            self.verify(stored, want)
            self.log(f"{want.name}: uploaded, GitHub stored {stored.get('digest')}")
            return dict(stored)
        raise AssertionError("unreachable")  # pragma: no cover

    def _settle(self, want: AssetFile) -> bool:
        """After a failed attempt: True if our bytes landed; else clear the name for a retry."""
        existing = self.current().get(want.name)
        if existing is None:
            return False
        if matches(existing, want):
            self.log(f"{want.name}: the interrupted upload completed after all")
            return True
        self.log(f"{want.name}: removing the partial asset (state {existing.get('state')})")
        self.delete(existing)
        return False

    def verify(self, stored: dict[str, Any], want: AssetFile) -> None:
        """Compare GitHub's digest with ours; a mismatch deletes the asset and fails."""
        digest = stored.get("digest")
        if digest is None:
            # GitHub Enterprise Server versions without asset digests: hash it ourselves
            digest = self.download_digest(stored)
        if digest != want.digest or stored.get("size") != want.size:
            self.delete(stored)
            raise IntegrityError(
                f"GitHub stored {want.name} with {digest} ({stored.get('size')} bytes), but we "
                f"uploaded {want.digest} ({want.size} bytes); the asset was deleted",
                "run the stage again; if it persists, something between us and GitHub "
                "alters uploads")

    def download_digest(self, asset: dict[str, Any]) -> str:
        resp = self.gh.stream("repos/get-release-asset", {"asset_id": asset["id"]},
                              headers={"Accept": "application/octet-stream"})
        h = hashlib.sha256()
        try:
            for chunk in resp.iter_bytes(1 << 20):
                h.update(chunk)
        finally:
            resp.close()
        return f"sha256:{h.hexdigest()}"
