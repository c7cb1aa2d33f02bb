"""File operations for folders a build may have touched: never through a symlink.

A stage's output folder is writable inside the sandbox, and a ``--artifacts`` folder
comes from another job. The engine runs as the invoking user (often root), so a link
planted there must never redirect one of its writes or reads to a file of the host.
Every write here creates a new file with ``O_CREAT | O_EXCL | O_NOFOLLOW`` relative to
a folder opened with ``O_NOFOLLOW`` (``openat``), then renames it into place (a rename
replaces a link, it does not follow it); every read ``lstat``-checks first.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import shutil
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from release.errors import IntegrityError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@contextlib.contextmanager
def open_folder(path: Path) -> Iterator[int]:
    """A descriptor of ``path``, which must be a real folder (its last part no link)."""
    try:
        fd = os.open(path, _DIR_FLAGS)
    except OSError as exc:
        raise IntegrityError(f"{path} is not a folder (or is a symlink): {exc.strerror}",
                             "the engine's folders must be real folders; remove the link"
                             ) from None
    try:
        yield fd
    finally:
        os.close(fd)


def make_folder(path: Path) -> None:
    """Create ``path`` (and missing parents); refuse if it exists as anything but a folder."""
    path.mkdir(parents=True, exist_ok=True)
    if not stat.S_ISDIR(path.lstat().st_mode):
        raise IntegrityError(f"{path} is a symlink or a file, not a folder",
                             "remove it: the engine writes only into real folders")


def write_file(folder: Path, name: str, data: bytes, mode: int = 0o644) -> Path:
    """Write ``folder/name`` atomically, replacing (never following) what is there."""
    return _replace(folder, name, mode, lambda out: out.write(data))


def copy_file(source: Path, folder: Path, name: str) -> Path:
    """Copy a regular file (never a link) into ``folder/name``, as :func:`write_file` does."""
    with open_regular(source) as src:
        return _replace(folder, name, 0o644, lambda out: shutil.copyfileobj(src, out, 1 << 20))


def _replace(folder: Path, name: str, mode: int, fill: Callable[[BinaryIO], object]) -> Path:
    """Create a new file beside ``name`` (exclusive, no-follow), fill it, rename it over."""
    with open_folder(folder) as dirfd:
        tmp = f".{name}.{secrets.token_hex(8)}.tmp"
        fd = os.open(tmp, _NEW_FLAGS, mode, dir_fd=dirfd)
        try:
            with os.fdopen(fd, "wb") as out:
                fill(out)
            os.rename(tmp, name, src_dir_fd=dirfd, dst_dir_fd=dirfd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dirfd)
            raise
    return folder / name


@contextlib.contextmanager
def open_regular(path: Path) -> Iterator[io.BufferedReader]:
    """Open a regular file for reading; a link or anything else (a FIFO) is refused."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as exc:
        raise IntegrityError(f"cannot open {path}: {exc.strerror}",
                             "it must be a regular file, not a symlink") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise IntegrityError(f"{path} is not a regular file")
        yield f


def read_bounded(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (metadata, manifests)."""
    with open_regular(path) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise IntegrityError(f"{path} is larger than {limit // 1024} KiB",
                             "it is not a file this tool wrote; do not use these artifacts")
    return data


def walk(top: Path, *, entry: Callable[[int, str, str], None],
         leave: Callable[[int, str, str], None]) -> None:
    """Visit everything below ``top`` without following a link and without recursion.

    ``entry(dirfd, name, rel)`` is called once for each entry that is not a folder (links
    included, never followed), ``leave(dirfd, name, rel)`` once for each folder after its
    contents, with ``dirfd`` its parent and ``rel`` the entry's path below ``top``. One
    folder descriptor is open at a time (the walk climbs back through ``..``), so a tree
    thousands of folders deep, as a hostile build may leave, costs neither the stack nor
    the descriptor limit.
    """
    fd = os.open(top, _DIR_FLAGS)
    names: list[str] = []  # the path from top to the current folder
    prefixes = [""]  # the same, as "a/b/" strings (cheap to extend, however deep)
    seen: list[set[str]] = [set()]  # per level: entries already visited
    try:
        while True:
            sub = None
            with os.scandir(fd) as it:
                for item in it:
                    if item.name in seen[-1]:
                        continue
                    if item.is_dir(follow_symlinks=False):
                        sub = item.name
                        break
                    seen[-1].add(item.name)
                    entry(fd, item.name, prefixes[-1] + item.name)
            if sub is not None:
                child = os.open(sub, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = child
                names.append(sub)
                prefixes.append(f"{prefixes[-1]}{sub}/")
                seen.append(set())
                continue
            if not names:
                return
            parent = os.open("..", _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = parent
            name = names.pop()
            prefixes.pop()
            seen.pop()
            seen[-1].add(name)
            leave(fd, name, prefixes[-1] + name)
    finally:
        os.close(fd)


def is_empty(dirfd: int, name: str) -> bool:
    """Whether the folder ``name`` in ``dirfd`` (never a link) holds nothing."""
    fd = os.open(name, _DIR_FLAGS, dir_fd=dirfd)
    try:
        with os.scandir(fd) as it:
            return next(it, None) is None
    finally:
        os.close(fd)


def remove_tree(path: Path) -> None:
    """Delete a folder the engine made, without following any link inside it."""
    if not stat.S_ISDIR(path.lstat().st_mode):
        path.unlink()
        return
    walk(path, entry=lambda fd, name, _: os.unlink(name, dir_fd=fd),
         leave=lambda fd, name, _: os.rmdir(name, dir_fd=fd))
    path.rmdir()
