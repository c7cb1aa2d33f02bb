"""The committed source: release facts (commit, tag, version, time) and a clean export.

Builds never see the working tree: each stage that needs the source gets a fresh
extraction of ``git archive`` at the release commit, so untracked and ignored files
cannot leak into a release. In a monorepo, ``source.path`` names the folder released: the
export is that subtree alone (:mod:`release.engine.subtree`).
"""

from __future__ import annotations

import os
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from release.engine.subtree import (
    check_subtree,
    repository_path,
    tag_matches,
    tag_version,
    unprefix,
)
from release.errors import Location, ReleaseError


@dataclass(frozen=True)
class SourceFacts:
    """What a release is built from; shown in plans and recorded in manifests."""

    root: Path
    commit: str
    epoch: int
    tag: str | None
    version: str
    repository: str | None
    ref: str | None
    dirty: bool
    #: the folder of the repository released (``source.path``), POSIX, ``.`` for all of it
    path: str = "."

    def to_json(self) -> dict[str, object]:
        return {"repository": self.repository, "commit": self.commit, "ref": self.ref,
                "tag": self.tag, "version": self.version, "source_date_epoch": self.epoch,
                "dirty": self.dirty, "path": self.path}

    @property
    def folder(self) -> Path:
        """The released folder in the working tree (the repository root for ``.``)."""
        return self.root / self.path if self.path != "." else self.root

    def in_repository(self, relative: str) -> str:
        """A path of the pipeline (relative to ``source.path``) as seen from the repository
        root: how git names it in the commit, and how messages name it."""
        return repository_path(self.path, relative)


def _git(root: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise ReleaseError(f"git {' '.join(args)} failed: {proc.stderr.strip()}",
                           "run the tool inside a git checkout of the project")
    return proc.stdout.strip()


def discover(start: Path, *, tags: str, version: str | None, repository: str | None,
             environ: dict[str, str], path: str = ".",
             where: Callable[[str], Location | None] = lambda key: None) -> SourceFacts:
    """Facts about the commit checked out at ``start``: the repository is the one git finds
    from ``start`` (the pipeline file's folder), and ``path`` a folder of its commit.
    ``where`` gives the position of a key of ``source:`` (``path``, ``tags``)."""
    root = Path(_git(start if start.is_dir() else start.parent, "rev-parse", "--show-toplevel"))
    commit, _, epoch_text = _git(root, "log", "-1", "--format=%H %ct", "HEAD").partition(" ")
    check_subtree(root, commit, path, where("path"))
    epoch = int(epoch_text)
    dirty = bool(_git(root, "status", "--porcelain", "--untracked-files=no"))
    tag = _tag(root, tags, environ, where("tags"))
    if version is None:
        version = (tag_version(tag, tags, where("tags")) if tag
                   else f"0.0.0.dev0+g{commit[:12]}")
    repo = repository or environ.get("GITHUB_REPOSITORY") or None
    ref = environ.get("GITHUB_REF") or (f"refs/tags/{tag}" if tag else None)
    return SourceFacts(root, commit, epoch, tag, version, repo, ref, dirty, path)


def _tag(root: Path, pattern: str, environ: dict[str, str],
         where: Location | None = None) -> str | None:
    """The release tag: the pushed tag (``GITHUB_REF``) if it matches, else the one tag
    at HEAD that matches; several are refused rather than one picked by its spelling."""
    ref = environ.get("GITHUB_REF", "")
    if ref.startswith("refs/tags/") and tag_matches(ref[10:], pattern):
        return ref[10:]
    listed = _git(root, "tag", "--points-at", "HEAD").splitlines()
    matching = sorted(t for t in listed if tag_matches(t, pattern))
    if len(matching) > 1:
        raise ReleaseError(f"tags {', '.join(matching)} at HEAD all match source.tags "
                           f"{pattern!r}: which one is released is ambiguous",
                           "delete the tags that are not this release, or narrow the glob",
                           where, "source.tags")
    return matching[0] if matching else None


def server_url(environ: Mapping[str, str]) -> str:
    """The GitHub web host: ``GITHUB_SERVER_URL`` (set by Actions, and by GitHub Enterprise
    Server users), else github.com."""
    return (environ.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/")


class SourceExport:
    """``git archive`` of the release commit, extracted afresh for each stage.

    The archive is streamed once into an anonymous temporary file (never held in memory:
    a commit may hold gigabytes) and each stage extracts from that file.
    """

    def __init__(self, facts: SourceFacts) -> None:
        self.facts = facts
        self._file: IO[bytes] | None = None
        self._lock = threading.Lock()  # stages extract in parallel from one file

    def _archive(self) -> IO[bytes]:
        if self._file is None:
            out = tempfile.TemporaryFile(prefix="release-source-")  # noqa: SIM115 - kept, closed by close()
            # the commit (not its subtree's tree object), so entries keep the commit time;
            # the path is a literal pathspec, never a glob
            where = [] if self.facts.path == "." else ["--", self.facts.path]
            proc = subprocess.run(
                ["git", "-C", str(self.facts.root), "archive", "--format=tar",
                 self.facts.commit, *where],
                stdout=out, stderr=subprocess.PIPE, check=False,
                env={**os.environ, "GIT_LITERAL_PATHSPECS": "1"},
            )
            if proc.returncode != 0:
                out.close()
                raise ReleaseError(f"git archive failed: {proc.stderr.decode(errors='replace')}")
            self._file = out
        return self._file

    def extract(self, dest: Path) -> None:
        dest.mkdir(parents=True, exist_ok=True)
        with self._lock:
            archive = self._archive()
            archive.seek(0)
            head = archive.read(1024)
            if not head.strip(b"\0"):
                return  # a commit with an empty tree: nothing to export
            archive.seek(0)
            try:
                with tarfile.open(fileobj=archive, mode="r|") as tar:
                    # tarfile's data filter checks each member once renamed (subtree.py)
                    tar.extractall(dest, filter=unprefix(self.facts.path))  # noqa: S202
            except (tarfile.LinkOutsideDestinationError,
                    tarfile.AbsoluteLinkError) as exc:
                raise ReleaseError(
                    f"cannot export commit {self.facts.commit[:12]}: the link "
                    f"{self.facts.in_repository(exc.tarinfo.name)} points outside "
                    f"{'the repository' if self.facts.path == '.' else self.facts.path}",
                    "a release is built from its folder alone: commit the file itself "
                    "instead of a link to it") from None
            except (tarfile.TarError, OSError) as exc:
                raise ReleaseError(f"cannot export commit {self.facts.commit}: {exc}") from exc

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
