"""Monorepos: the folder of the repository a pipeline releases (``source.path``), and tags
with a prefix (``tags: "sdk/v*"``).

``source.path`` is relative to the repository root, the folder git finds from the pipeline
file's folder. It names a folder of the release commit, reached without a link: the clean
export is that subtree alone, and every path of the pipeline is relative to it.
"""

from __future__ import annotations

import os
import posixpath
import re
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

from release.errors import Location, ReleaseError


class SourcePathError(ReleaseError):
    """``source.path`` names no folder of the commit (exit 2), even for ``release plan``."""


_FIX = "name a folder committed in the repository, relative to its root (`.` for all of it)"
_LINK = "name the folder itself: a link could lead the release out of its folder"


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


def check_subtree(root: Path, commit: str, folder: str, where: Location | None = None
                  ) -> None:
    """Refuse a ``source.path`` that is not a folder of ``commit``: missing, a file, or a
    link at any step (a link could lead the export out of the folder, or out of the
    repository). Git names what it stores, so the working tree cannot lie about it.
    ``where`` is the position of ``source.path`` in the pipeline file."""
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
                f"source.path {folder!r}: {step!r} is not in commit {commit[:12]}", _FIX,
                where, "source.path")
        if mode == "120000":
            raise SourcePathError(
                f"source.path {folder!r}: {step!r} is a symbolic link in commit {commit[:12]}",
                _LINK, where, "source.path")
        if mode != "040000":
            raise SourcePathError(
                f"source.path {folder!r}: {step!r} is not a folder in commit {commit[:12]} "
                f"(git mode {mode})", _FIX, where, "source.path")


def check_working_folder(root: Path, folder: str, where: Location | None = None) -> None:
    """Before any commit holds it (``release workflow generate``): ``source.path`` is a
    folder of the working tree at ``root``, reached without a link."""
    here = root
    for part in [] if folder == "." else folder.split("/"):
        here = here / part
        step = here.relative_to(root).as_posix()
        if here.is_symlink():
            raise SourcePathError(f"source.path {folder!r}: {step!r} is a symbolic link",
                                  _LINK, where, "source.path")
        if not here.is_dir():
            raise SourcePathError(f"source.path {folder!r}: {step!r} is not a folder of "
                                  f"the repository at {root.name}", _FIX, where, "source.path")


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


def tag_version(tag: str, pattern: str, where: Location | None = None) -> str:
    """The version a tag carries: the tag without its glob's literal start, then without a
    leading ``v`` (``sdk/v1.2.3`` of ``sdk/v*`` is 1.2.3, as ``v1.2.3`` of ``v*`` or ``*``).
    Refused when that leaves nothing, or a ``/`` (the tag of another folder's release)."""
    rest = tag.removeprefix(tag_prefix(pattern))
    version = (rest or tag).removeprefix("v")
    if not version or "/" in version:
        raise ReleaseError(f"tag {tag!r} matches source.tags {pattern!r} but carries no "
                           f"version: {version!r} is {'empty' if not version else 'a path'}",
                           "tag the release as the glob's literal start followed by the "
                           "version (e.g. `sdk/v1.2.3` for `sdk/v*`), or narrow the glob",
                           where, "source.tags")
    return version


def tag_matches(tag: str, pattern: str) -> bool:
    """Whether ``tag`` matches the glob as GitHub's tag filter does: ``*`` and ``?`` do not
    cross ``/``, ``**`` does (``sdk/v*`` takes ``sdk/v1.0`` but not ``sdk/vendor/v1.0``)."""
    return re.fullmatch(_glob_regex(pattern), tag, re.DOTALL) is not None


def _glob_regex(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and (end := _class_end(pattern, i)) > 0:
            body = pattern[i + 1:end].replace("\\", "\\\\")
            body = "^" + body[1:] if body.startswith("!") else (
                "\\" + body if body.startswith("^") else body)
            out.append(f"(?!/)[{body}]")
            i = end + 1
            continue
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def _class_end(pattern: str, start: int) -> int:
    """The index of the ``]`` closing the class opened at ``start`` (as fnmatch reads it:
    a ``]`` first in the class is literal), or -1 when none closes it."""
    j = start + 1
    if j < len(pattern) and pattern[j] == "!":
        j += 1
    if j < len(pattern) and pattern[j] == "]":
        j += 1
    return pattern.find("]", j)
