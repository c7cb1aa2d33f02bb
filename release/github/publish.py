"""Publishing a GitHub release atomically: draft, assets, verify, publish last, read back.

GitHub's advice for immutable releases is exactly this order: create a draft, attach
every asset, then publish; once published, assets and tag are locked.
https://docs.github.com/en/code-security/concepts/supply-chain-security/immutable-releases

Every failure leaves an unpublished draft that a re-run finds (by the marker we put
in its notes) and completes. A published release for the tag is accepted only if it
holds exactly our assets; otherwise we fail and change nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from release.errors import IntegrityError, StageFailed
from release.github.assets import AssetFile, AssetSync, matches
from release.github.attestations import upload_attestations
from release.github.client import ScopedGitHub
from release.github.failures import TransientError
from release.github.pagination import paged

CREATE_ATTEMPTS = 3


def draft_marker(commit: str) -> str:
    """Hidden in the notes of our drafts, so an interrupted run can find its own."""
    return f"<!-- release-pipeline draft of {commit} -->"


@dataclass(frozen=True)
class ReleaseSpec:
    """What to publish: the tag, the commit it must point at, notes, and the files."""

    repository: str
    tag: str
    commit: str
    name: str
    notes: str | None
    generate_notes: bool
    prerelease: bool
    make_latest: str
    immutable_required: bool
    read_setting: bool
    assets: tuple[AssetFile, ...]
    attestations: tuple[tuple[str, Path], ...] = ()


@dataclass
class PublishResult:
    release_id: int
    url: str
    immutable: bool
    assets: dict[str, str]
    noop: bool = False
    uploaded: list[str] = field(default_factory=list)
    attestations: list[str] = field(default_factory=list)

    def to_json(self, spec: ReleaseSpec) -> dict[str, Any]:
        return {"repository": spec.repository, "tag": spec.tag, "commit": spec.commit,
                "release_id": self.release_id, "url": self.url, "immutable": self.immutable,
                "noop": self.noop,
                "assets": [{"name": n, "digest": d} for n, d in sorted(self.assets.items())],
                "attestations": self.attestations}


def resolve_tag(gh: ScopedGitHub, tag: str) -> dict[str, str] | None:
    """``{"type": ..., "sha": ...}`` of the object a tag finally points at, or None."""
    ref = gh.call("git/get-ref", {"tag": tag}, missing_ok=True)
    if ref is None:
        return None
    obj: dict[str, str] = ref["object"]
    for _ in range(5):  # an annotated tag points at a tag object, which points on
        if obj["type"] != "tag":
            break
        obj = gh.call("git/get-tag", {"tag_sha": obj["sha"]})["object"]
    return obj


class Publisher:
    """Runs the release protocol through a scoped client."""

    def __init__(self, gh: ScopedGitHub, spec: ReleaseSpec, *, log: Callable[[str], None],
                 cancelled: Callable[[], bool] = lambda: False,
                 pause: Callable[[float], None] = time.sleep) -> None:
        self.gh, self.spec, self.log, self.cancelled, self.pause = gh, spec, log, cancelled, pause

    def publish(self) -> PublishResult:
        self.check_tag()
        self.check_setting()
        releases = list(paged(self.gh, "repos/list-releases"))
        published = [r for r in releases if r["tag_name"] == self.spec.tag and not r["draft"]]
        if published:
            return self.accept_existing(published[0])
        draft = self.find_or_create_draft(releases)
        sync = AssetSync(self.gh, draft, log=self.log, pause=self.pause)
        uploaded = sync.sync(list(self.spec.assets), self.cancelled)
        stored = upload_attestations(self.gh, list(self.spec.attestations), log=self.log,
                                     pause=self.pause) if self.spec.attestations else []
        self.check_complete(sync.current(), "before publishing")
        if self.cancelled():
            raise StageFailed("cancelled before publishing; the draft is complete",
                              "run the stage again to publish it")
        self.check_tag()  # again, right before the last write: a tag can move meanwhile
        self.gh.call("repos/update-release", {"release_id": draft["id"]}, body={
            "tag_name": self.spec.tag, "name": self.spec.name, "body": self.notes(draft),
            "draft": False, "prerelease": self.spec.prerelease,
            "make_latest": self.spec.make_latest})
        self.log(f"published release {self.spec.tag}")
        result = self.read_back(draft["id"])
        result.uploaded, result.attestations = uploaded, stored
        return result

    # -- preflight ----------------------------------------------------------------------
    def check_tag(self) -> None:
        obj = resolve_tag(self.gh, self.spec.tag)
        if obj is None:
            raise StageFailed(f"tag {self.spec.tag} does not exist in {self.spec.repository}",
                              f"push it first: git push origin {self.spec.tag}")
        if obj["type"] != "commit" or obj["sha"] != self.spec.commit:
            raise StageFailed(
                f"tag {self.spec.tag} in {self.spec.repository} points at {obj['type']} "
                f"{obj['sha']}, but this release was built from {self.spec.commit}",
                "build from the tagged commit, or fix the tag before publishing")

    def check_setting(self) -> None:
        if not self.spec.read_setting:
            self.log("the immutable-releases setting is not read (it needs administration "
                     "access, which GITHUB_TOKEN cannot have); the release is checked after "
                     "publishing instead")
            return
        setting = self.gh.call("repos/check-immutable-releases", missing_ok=True)
        enabled = bool(setting and setting.get("enabled"))
        self.log(f"immutable releases are {'on' if enabled else 'off'} in "
                 f"{self.spec.repository}")
        if not enabled and self.spec.immutable_required:
            raise StageFailed(
                f"immutable releases are off in {self.spec.repository}; a published release "
                "could have its assets replaced",
                "turn on immutable releases in the repository settings, or set "
                "`immutable: optional` on the stage")

    def accept_existing(self, release: dict[str, Any]) -> PublishResult:
        """A published release for the tag: a no-op if it holds exactly our assets."""
        assets = {a["name"]: a for a in release.get("assets", [])}
        wanted = {w.name: w for w in self.spec.assets}
        diffs = [f"{n}: missing" for n in sorted(wanted.keys() - assets.keys())]
        diffs += [f"{n}: not ours" for n in sorted(assets.keys() - wanted.keys())]
        diffs += [f"{n}: GitHub has {assets[n].get('digest')}, we built {w.digest}"
                  for n, w in sorted(wanted.items()) if n in assets and not matches(assets[n], w)]
        if diffs:
            raise IntegrityError(
                f"release {self.spec.tag} is already published with different assets: "
                + "; ".join(diffs),
                "a published release is never changed; cut a new tag for a new release")
        self.require_immutable(release)
        self.log(f"release {self.spec.tag} is already published with exactly these assets")
        return PublishResult(release["id"], release.get("html_url", ""),
                             bool(release.get("immutable")),
                             {n: str(a["digest"]) for n, a in assets.items()}, noop=True)

    # -- the draft --------------------------------------------------------------------------
    def find_or_create_draft(self, releases: list[dict[str, Any]]) -> dict[str, Any]:
        marker = draft_marker(self.spec.commit)
        ours = [r for r in releases if r["draft"] and r["tag_name"] == self.spec.tag
                and marker in (r.get("body") or "")]
        for other in releases:
            if other["draft"] and other["tag_name"] == self.spec.tag and other not in ours:
                self.log(f"note: draft {other['id']} for {self.spec.tag} was not made by this "
                         "pipeline for this commit; it is left alone")
        if ours:
            self.log(f"resuming our draft {ours[0]['id']} for {self.spec.tag}")
            return ours[0]
        notes = self.spec.notes
        if notes is None and self.spec.generate_notes:
            notes = self.gh.call("repos/generate-release-notes",
                                 body={"tag_name": self.spec.tag})["body"]
        body = f"{notes or ''}\n\n{marker}".lstrip()
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            try:
                draft: dict[str, Any] = self.gh.call("repos/create-release", body={
                    "tag_name": self.spec.tag, "name": self.spec.name, "body": body,
                    "draft": True, "prerelease": self.spec.prerelease})
            except TransientError as exc:
                if attempt == CREATE_ATTEMPTS:
                    raise
                self.pause(exc.retry_after)
                found: list[dict[str, Any]] = [r for r in paged(self.gh, "repos/list-releases")
                         if r["draft"] and marker in (r.get("body") or "")
                         and r["tag_name"] == self.spec.tag]
                if found:
                    return found[0]
                continue
            self.log(f"created draft release {draft['id']} for {self.spec.tag}")
            return draft
        raise AssertionError("unreachable")  # pragma: no cover

    def notes(self, draft: dict[str, Any]) -> str:
        """The notes to publish, without our marker: the published notes stay clean."""
        if self.spec.notes is not None:
            return self.spec.notes
        return (draft.get("body") or "").replace(draft_marker(self.spec.commit), "").strip()

    # -- verification ---------------------------------------------------------------------------
    def check_complete(self, assets: dict[str, dict[str, Any]], when: str) -> None:
        wanted = {w.name: w for w in self.spec.assets}
        bad = [f"{n}: missing" for n in sorted(wanted.keys() - assets.keys())]
        bad += [f"{n}: unexpected" for n in sorted(assets.keys() - wanted.keys())]
        bad += [f"{n}: state {assets[n].get('state')}, {assets[n].get('digest')} "
                f"instead of {w.digest}" for n, w in sorted(wanted.items())
                if n in assets and not matches(assets[n], w)]
        if bad:
            raise IntegrityError(f"the release assets are wrong {when}: " + "; ".join(bad),
                                 "run the stage again; it replaces what differs")

    def require_immutable(self, release: dict[str, Any]) -> None:
        if release.get("immutable"):
            return
        if self.spec.immutable_required:
            raise IntegrityError(
                f"release {self.spec.tag} is published but not immutable: its assets can "
                "still be replaced",
                "turn on immutable releases in the repository settings (new releases are "
                "locked from then on), or set `immutable: optional` on the stage")
        self.log(f"WARNING: release {self.spec.tag} is not immutable (immutable: optional)")

    def read_back(self, release_id: int) -> PublishResult:
        release = self.gh.call("repos/get-release-by-tag", {"tag": self.spec.tag})
        if release["id"] != release_id or release.get("draft"):
            raise IntegrityError(f"GitHub returns release {release['id']} for "
                                 f"{self.spec.tag}, not the one we published ({release_id})")
        assets = {a["name"]: a for a in release.get("assets", [])}
        self.check_complete(assets, "after publishing")
        self.require_immutable(release)
        return PublishResult(release_id, release.get("html_url", ""),
                             bool(release.get("immutable")),
                             {n: str(a["digest"]) for n, a in assets.items()})
