"""The folder being verified: listed and read without following a link, with size bounds.

Everything in the folder is untrusted until a check vouches for it, including its shape:
a symlink could point a listed name at a file outside the folder, a FIFO would block a
reader, a multi-gigabyte "checksums file" would exhaust memory. So the folder is walked
with ``lstat`` (a symlink is recorded as a symlink, never followed, also when it points
at a folder), every file is opened component by component relative to the folder with
``O_NOFOLLOW`` (a link swapped in after the walk is not followed either), metadata files
are read up to a limit, and artifacts are hashed in a stream.
"""

from __future__ import annotations

import enum
import fnmatch
import hashlib
import io
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from release.errors import UsageError

MIB = 1024 * 1024
#: Checksums files, Sigstore bundles and in-toto statement files: a release with tens of
#: thousands of files stays well below this.
METADATA_LIMIT = 4 * MIB
#: Detached signatures (an ECDSA signature is ~72 bytes) and public keys (~180 bytes).
SMALL_LIMIT = 64 * 1024

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
#: O_NONBLOCK: opening a FIFO swapped in after the walk must not wait for a writer.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


class Kind(enum.Enum):
    FILE = "file"
    SYMLINK = "symlink"
    FOLDER = "folder"
    OTHER = "other"


@dataclass(frozen=True)
class Item:
    """One entry of the folder: ``name`` is its path relative to the folder (``/``)."""

    name: str
    kind: Kind
    size: int = 0
    #: A symlink's target, or what a special file is ("a FIFO").
    detail: str = ""


class FolderError(Exception):
    """A file of the folder cannot be read as needed; the message names the file."""


@dataclass
class ReleaseFolder:
    """The entries of a release folder (every level), minus what ``--ignore`` names."""

    root: Path
    items: dict[str, Item] = field(default_factory=dict)
    #: Ignored path -> the glob that matched it (a matched folder is not walked).
    ignored: dict[str, str] = field(default_factory=dict)

    @classmethod
    def scan(cls, root: Path, ignore: Sequence[str] = ()) -> ReleaseFolder:
        """Walk ``root`` without following links; a missing or linked root is misuse."""
        try:
            info = os.lstat(root)
        except OSError:
            raise UsageError(f"{root} is not a directory", "download the release assets "
                             "into a directory and pass its path") from None
        if stat.S_ISLNK(info.st_mode):
            raise UsageError(f"{root} is a symlink", "pass the directory itself: a release "
                             "folder is read without following links")
        if not stat.S_ISDIR(info.st_mode):
            raise UsageError(f"{root} is not a directory", "download the release assets "
                             "into a directory and pass its path")
        folder = cls(root)
        pending = [""]
        while pending:
            prefix = pending.pop()
            try:
                fd = folder._open_dir(prefix)
                try:
                    names = sorted(os.listdir(fd))  # noqa: PTH208 (a folder's fd, no path)
                    for name in names:
                        sub = folder._add(fd, prefix + name, name, ignore)
                        if sub:
                            pending.append(sub + "/")
                finally:
                    os.close(fd)
            except OSError as exc:
                raise UsageError(f"cannot read the folder {root / prefix}: "
                                 f"{exc.strerror or exc}") from None
        return folder

    def _add(self, dir_fd: int, rel: str, name: str, ignore: Sequence[str]) -> str | None:
        """Record one entry; returns ``rel`` when it is a folder to walk."""
        glob = next((g for g in ignore if fnmatch.fnmatchcase(rel, g)), None)
        if glob is not None:
            self.ignored[rel] = glob
            return None
        info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        mode = info.st_mode
        if stat.S_ISLNK(mode):
            self.items[rel] = Item(rel, Kind.SYMLINK, 0, os.readlink(name, dir_fd=dir_fd))
        elif stat.S_ISDIR(mode):
            self.items[rel] = Item(rel, Kind.FOLDER)
            return rel
        elif stat.S_ISREG(mode):
            self.items[rel] = Item(rel, Kind.FILE, info.st_size)
        else:
            what = ("a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
                    else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                    else "a special file")
            self.items[rel] = Item(rel, Kind.OTHER, 0, what)
        return None

    def files(self) -> list[str]:
        """The regular files, by relative path, sorted."""
        return sorted(n for n, i in self.items.items() if i.kind is Kind.FILE)

    def problem(self, name: str) -> str | None:
        """Why ``name`` is not a regular file of the folder, or None when it is one."""
        item = self.items.get(name)
        if item is not None:
            return {Kind.FILE: None, Kind.SYMLINK: "a symlink", Kind.FOLDER: "a folder",
                    Kind.OTHER: f"not a regular file ({item.detail})"}[item.kind]
        parts = name.split("/")
        for depth in range(1, len(parts)):
            parent = self.items.get("/".join(parts[:depth]))
            if parent is not None and parent.kind is Kind.SYMLINK:
                return f"reached through the symlink {parent.name}, which is not followed"
        if any("/".join(parts[:depth]) in self.ignored for depth in range(1, len(parts) + 1)):
            return "ignored (--ignore)"
        return "no such file"

    def open(self, name: str) -> io.BufferedReader:
        """Open a regular file of the folder, following no link on the way."""
        if self.problem(name) is not None:
            raise FolderError(f"{name} is {self.problem(name)}")
        *dirs, last = name.split("/")
        try:
            fd = os.open(self.root, _DIR_FLAGS)
            try:
                for part in dirs:
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                    os.close(fd)
                    fd = child
                file_fd = os.open(last, _FILE_FLAGS, dir_fd=fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise FolderError(f"cannot open {name}: {exc.strerror or exc}") from None
        if not stat.S_ISREG(os.fstat(file_fd).st_mode):
            os.close(file_fd)
            raise FolderError(f"{name} is no longer a regular file")
        return os.fdopen(file_fd, "rb")

    def read(self, name: str, limit: int, what: str) -> bytes:
        """The whole of a metadata file of at most ``limit`` bytes; beyond it, an error."""
        with self.open(name) as f:
            size = os.fstat(f.fileno()).st_size
            data = f.read(limit + 1) if size <= limit else b""
        if size > limit or len(data) > limit:
            raise FolderError(f"{name} is larger than the {_size(limit)} limit for {what} "
                              f"({max(size, len(data))} bytes); not read")
        return data

    def digest(self, name: str, algorithm: str = "sha256") -> str:
        """Hex digest of a file, read in a stream (flat memory for any size)."""
        with self.open(name) as f:
            try:
                return hashlib.file_digest(f, algorithm).hexdigest()
            except OSError as exc:
                raise FolderError(f"cannot read {name}: {exc.strerror or exc}") from None

    def _open_dir(self, prefix: str) -> int:
        fd = os.open(self.root, _DIR_FLAGS)
        for part in [p for p in prefix.split("/") if p]:
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            finally:
                os.close(fd)
            fd = child
        return fd


def inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` (resolved) is ``folder`` or inside it (resolved)."""
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except OSError:
        return False


def _size(limit: int) -> str:
    return f"{limit // MIB} MiB" if limit % MIB == 0 else f"{limit // 1024} KiB"
