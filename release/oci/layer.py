"""Deterministic layer tarballs: the same files give the same bytes on every machine.

The intent is GNU tar's reproducible-archive recipe
(https://www.gnu.org/software/tar/manual/html_node/Reproducibility.html):
``tar --sort=name --mtime=@EPOCH --owner=0 --group=0 --numeric-owner | gzip -n``.
Entries are sorted by path component, every parent directory is written (mode 0755),
owner and group are 0 with empty names, every mtime is ``SOURCE_DATE_EPOCH``, and the
modes are the ones configured, never the ones on disk (CI artifact hand-offs lose
them). The gzip wrapper carries mtime 0 and no file name.

The compressed bytes also depend on the deflate implementation: every zlib release
since 1.2 produces the same stream at a given level, but zlib-ng does not. The layer's
``diff_id`` (digest of the uncompressed tar) is independent of that.
"""

from __future__ import annotations

import hashlib
import tarfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Protocol

CHUNK = 1024 * 1024
DIR_MODE = 0o755
#: zlib's default level, the one ``gzip -n`` uses too.
LEVEL = 6


@dataclass(frozen=True)
class LayerFile:
    """One regular file of a layer: ``path`` is absolute inside the image."""

    path: str
    source: Path
    mode: int


@dataclass(frozen=True)
class Layer:
    """A written layer blob: ``digest`` of the gzip bytes, ``diff_id`` of the tar."""

    path: Path
    digest: str
    diff_id: str
    size: int


def image_path(path: str) -> PurePosixPath:
    """Check a path inside the image: absolute, normalised, not the root, no ``..``."""
    if not path.startswith("/"):
        raise ValueError(f"image path {path!r} must be absolute (start with '/')")
    parts = path.split("/")[1:]
    if ".." in parts:
        raise ValueError(f"image path {path!r} escapes the image root ('..')")
    if any(p in ("", ".") for p in parts) or "\x00" in path:
        raise ValueError(f"image path {path!r} must be normalised: no '.', '//' or "
                         "trailing '/'")
    return PurePosixPath(path)


class _Sink:
    """Receives the tar stream: hashes it, gzips it, hashes and writes the gzip bytes."""

    def __init__(self, out: BinaryIO, level: int) -> None:
        self.out = out
        self.diff = hashlib.sha256()
        self.blob = hashlib.sha256()
        self.size = 0
        # wbits 31 = gzip wrapper with mtime 0, no name, OS byte 3 (zlib's deflateInit2)
        self.zip = zlib.compressobj(level, zlib.DEFLATED, 31)

    def write(self, data: bytes) -> int:
        self.diff.update(data)
        self._emit(self.zip.compress(data))
        return len(data)

    def finish(self) -> None:
        self._emit(self.zip.flush())

    def _emit(self, data: bytes) -> None:
        if data:
            self.blob.update(data)
            self.size += len(data)
            self.out.write(data)


def _entries(files: Iterable[LayerFile]) -> list[tuple[PurePosixPath, LayerFile | None]]:
    found: dict[PurePosixPath, LayerFile | None] = {}
    for item in files:
        path = image_path(item.path)
        if path in found:
            raise ValueError(f"two files are mapped to {path}")
        found[path] = item
    for path in list(found):
        for parent in path.parents:
            if parent == PurePosixPath("/"):
                break
            if found.get(parent) is not None:
                raise ValueError(f"{parent} is a file and the parent of {path}")
            found.setdefault(parent, None)
    # component-wise order, as `tar --sort=name` walks a tree: a directory, then its contents
    return sorted(found.items(), key=lambda kv: [p.encode() for p in kv[0].parts[1:]])


class Writable(Protocol):
    def write(self, data: bytes, /) -> int: ...


def write_tar(files: Iterable[LayerFile], out: Writable, *, mtime: int) -> None:
    """Write a deterministic tar of ``files`` and their parent directories to ``out``."""
    entries = _entries(files)
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT,  # type: ignore[call-overload]
                      bufsize=CHUNK, copybufsize=CHUNK) as tar:
        for path, item in entries:
            info = tarfile.TarInfo(path.as_posix().lstrip("/"))
            info.mtime, info.uid, info.gid, info.uname, info.gname = mtime, 0, 0, "", ""
            if item is None:
                info.type, info.mode = tarfile.DIRTYPE, DIR_MODE
                tar.addfile(info)
                continue
            with item.source.open("rb") as src:
                info.size = src.seek(0, 2)
                src.seek(0)
                info.mode = item.mode
                tar.addfile(info, src)


def write_layer(files: Iterable[LayerFile], dest: Path, *, mtime: int,
                level: int = LEVEL) -> Layer:
    """Write the gzipped layer holding ``files`` (and their parent directories) to ``dest``."""
    with dest.open("wb") as out:
        sink = _Sink(out, level)
        write_tar(files, sink, mtime=mtime)
        sink.finish()
    return Layer(dest, "sha256:" + sink.blob.hexdigest(), "sha256:" + sink.diff.hexdigest(),
                 sink.size)
