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
import stat
from collections.abc import Iterator
from pathlib import Path

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
    with open_folder(folder) as dirfd:
        tmp = f".{name}.{secrets.token_hex(8)}.tmp"
        fd = os.open(tmp, _NEW_FLAGS, mode, dir_fd=dirfd)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.rename(tmp, name, src_dir_fd=dirfd, dst_dir_fd=dirfd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dirfd)
            raise
    return folder / name


def copy_file(source: Path, folder: Path, name: str) -> Path:
    """Copy a regular file (never a link) into ``folder/name``, as :func:`write_file` does."""
    with open_regular(source) as src, open_folder(folder) as dirfd:
        tmp = f".{name}.{secrets.token_hex(8)}.tmp"
        fd = os.open(tmp, _NEW_FLAGS, 0o644, dir_fd=dirfd)
        try:
            with os.fdopen(fd, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
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


def remove_tree(path: Path) -> None:
    """Delete a folder the engine made, without following any link inside it."""
    st = path.lstat()
    if not stat.S_ISDIR(st.st_mode):
        path.unlink()
        return
    for root, dirs, files, rootfd in os.fwalk(path, topdown=False, follow_symlinks=False):
        del root
        for name in files:
            os.unlink(name, dir_fd=rootfd)
        for name in dirs:
            if stat.S_ISDIR(os.stat(name, dir_fd=rootfd, follow_symlinks=False).st_mode):
                os.rmdir(name, dir_fd=rootfd)
            else:
                os.unlink(name, dir_fd=rootfd)
    path.rmdir()
