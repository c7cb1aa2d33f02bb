"""Monorepos: the folder of the repository a pipeline releases (``source.path``), and tags
with a prefix (``tags: "sdk/v*"``).

``source.path`` is relative to the repository root, the folder git finds from the pipeline
file's folder. It names a folder of the release commit, reached without a link: the clean
export is that subtree alone, and every path of the pipeline is relative to it.
"""

from __future__ import annotations

import os
import posixpath
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

from release.errors import ReleaseError


class SourcePathError(ReleaseError):
    """``source.path`` names no folder of the commit (exit 2), even for ``release plan``."""


_FIX = "name a folder committed in the repository, relative to its root (`.` for all of it)"


def check_path(value: str) -> str:
    """``source.path`` normalised (no ``./``, no trailing ``/``), or a ``ValueError``."""
    if not value or value != value.strip():
        raise ValueError("`source.path` is a folder of the repository, like `sdk` or `.`")
    if any(ord(c) < 32 or c in "\\\x7f" for c in value):
        raise ValueError("`source.path` holds a control character or a backslash; "
                         "write folders with `/`")
    if value.startswith("/"):
        raise ValueError("`source.path` must be relative to the repository root, not absolute")
    parts = [p for p in value.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValueError("`source.path` must stay inside the repository: `..` is refused")
    return "/".join(parts) or "."


def repository_path(folder: str, relative: str) -> str:
    """``relative`` (a path of the pipeline) as seen from the repository root."""
    return relative if folder == "." else posixpath.join(folder, relative)


def check_subtree(root: Path, commit: str, folder: str) -> None:
    """Refuse a ``source.path`` that is not a folder of ``commit``: missing, a file, or a
    link at any step (a link could lead the export out of the folder, or out of the
    repository). Git names what it stores, so the working tree cannot lie about it."""
    if folder == ".":
        return
    parts = folder.split("/")
    for i in range(len(parts)):
        step = "/".join(parts[: i + 1])
        proc = subprocess.run(["git", "-C", str(root), "ls-tree", "-z", commit, "--", step],
                              capture_output=True, check=False,
                              env={**os.environ, "GIT_LITERAL_PATHSPECS": "1"})
        entry = proc.stdout.split(b"\0")[0].decode("utf-8", "replace")
        mode, _, rest = entry.partition(" ")
        if proc.returncode != 0 or not entry or rest.split("\t", 1)[-1] != step:
            raise SourcePathError(
                f"source.path {folder!r}: {step!r} is not in commit {commit[:12]}", _FIX)
        if mode == "120000":
            raise SourcePathError(
                f"source.path {folder!r}: {step!r} is a symbolic link in commit {commit[:12]}",
                "name the folder itself: a link could lead the release out of its folder")
        if mode != "040000":
            raise SourcePathError(
                f"source.path {folder!r}: {step!r} is not a folder in commit {commit[:12]} "
                f"(git mode {mode})", _FIX)


def unprefix(folder: str) -> Callable[[tarfile.TarInfo, str], tarfile.TarInfo | None]:
    """The extraction filter of a ``git archive`` of ``folder``: each member renamed to be
    relative to it, then tarfile's ``data`` filter (which refuses links leaving the
    destination, so a link cannot lead out of the folder either)."""
    prefix = "" if folder == "." else folder + "/"

    def extract(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
        if prefix:
            name = member.name.rstrip("/")
            if prefix.startswith(name + "/"):
                return None  # the folder itself, or one above it
            if not member.name.startswith(prefix):  # pragma: no cover - git archive's pathspec
                raise ReleaseError(f"the export of {folder} holds {member.name!r}")
            member = member.replace(name=member.name[len(prefix):], deep=False)
        return tarfile.data_filter(member, dest)

    return extract


def tag_prefix(pattern: str) -> str:
    """The literal start of a tag glob: ``sdk/v`` of ``sdk/v*``, ``v`` of ``v*``."""
    for i, char in enumerate(pattern):
        if char in "*?[":
            return pattern[:i]
    return pattern


def tag_version(tag: str, pattern: str) -> str:
    """The version a tag carries: the tag without its glob's literal start, then without a
    leading ``v`` (``sdk/v1.2.3`` of ``sdk/v*`` is 1.2.3, as ``v1.2.3`` of ``v*`` or ``*``)."""
    rest = tag.removeprefix(tag_prefix(pattern))
    return (rest or tag).removeprefix("v")
