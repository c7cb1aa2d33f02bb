"""The build information the Go linker embeds in every program it links (Go 1.18 and
later): the Go version, the main package and module, each module the program was built
from with the checksum go.sum holds for it, and the build settings. It is what
``go version -m PROGRAM`` prints, read here without running anything.

Format (Go's ``debug/buildinfo`` and ``runtime/debug``): a 32-byte header aligned to 16
bytes, starting with the magic ``\\xff Go buildinf:``, then the pointer size and a flags
byte; with flag 2 (Go 1.18+) two strings follow the header, each a uvarint length and
its bytes: the Go version, and the module information framed by 16-byte sentinels, a
line each: ``path``, ``mod``, ``dep`` (path, version, sum), ``=>`` (the replacement of
the line above) and ``build`` (key=value).

The program is a build's output: untrusted bytes. Reading is bounded and any malformed
blob means "no build information", never an error of ours.
"""

from __future__ import annotations

import mmap
import re
from dataclasses import dataclass
from pathlib import Path

MAGIC = b"\xff Go buildinf:"
_ALIGN = 16
_HEADER = 32
_FLAG_INLINE = 2
#: At most this many magics are looked at, and this many blobs decoded: a file full of
#: magics is read in bounded time (Go's own reader looks at the first 64 KiB of data).
_MAX_FOUND = 1024
_MAX_CANDIDATES = 64
#: Module information larger than this is not believed (Go's own is kilobytes).
_MAX_STRING = 4 << 20
#: Modules of one program listed at most (real programs have hundreds): a program claiming
#: more gets none listed, and says how many it claims.
MAX_MODULES = 10_000
#: Build settings of one program listed at most (Go writes about 20): the first ones, and
#: how many more the program claims.
MAX_SETTINGS = 100
#: ``go1.22.1``, ``go1.23rc1``, with GOEXPERIMENT's `` X:name,...``; a toolchain built from
#: source says ``devel`` and more.
_GO_VERSION = re.compile(
    r"go\d+(?:\.\d+){1,2}(?:(?:rc|beta)\d+)?(?: X:[a-z0-9,]+)?|devel [ -~]{1,200}")


@dataclass(frozen=True)
class GoModule:
    path: str
    version: str  # "(devel)" for a main module built from a checkout; "" for a local folder
    sum: str  # "h1:..." as in go.sum; "" when Go recorded none
    replaces: GoModule | None = None  # the module this one stands in for (``=>``)


@dataclass(frozen=True)
class GoBuild:
    go_version: str  # "go1.19.8"
    path: str  # the main package's import path
    main: GoModule | None
    deps: tuple[GoModule, ...]
    settings: tuple[tuple[str, str], ...]  # ("GOOS", "linux"), ("-trimpath", "true")...
    unlisted: int = 0  # modules claimed beyond MAX_MODULES: then ``deps`` is empty
    settings_unlisted: int = 0  # build settings claimed beyond the first MAX_SETTINGS


def read_go_build(path: Path) -> GoBuild | None:
    """The build information of the Go program at ``path``; ``None`` if it has none."""
    try:
        with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            blob = _blob(data)
    except (OSError, ValueError):  # empty files cannot be mapped
        return None
    if blob is None:
        return None
    version, modinfo = blob
    return _parse(version, modinfo)


def _blob(data: mmap.mmap) -> tuple[str, str] | None:
    start, tried = 0, 0
    for _ in range(_MAX_FOUND):
        i = data.find(MAGIC, start)
        if i < 0 or tried == _MAX_CANDIDATES:
            return None
        start = i + 1
        if i % _ALIGN or len(data) - i < _HEADER or not data[i + 15] & _FLAG_INLINE:
            continue  # older linkers point into the data segment: not read here
        tried += 1
        version, after = _string(data, i + _HEADER)
        modinfo, _ = _string(data, after)
        if version is None or modinfo is None or not _GO_VERSION.fullmatch(
                version.decode("ascii", "replace")):
            continue
        # the module lines sit between two 16-byte sentinels, the last line ending first
        inner = modinfo[16:-16] if len(modinfo) >= 33 and modinfo[-17:-16] == b"\n" else b""
        try:
            return version.decode("ascii"), inner.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return None


def _string(data: mmap.mmap, at: int) -> tuple[bytes | None, int]:
    """A uvarint-prefixed string at ``at`` and the offset after it."""
    length = shift = 0
    while at < len(data) and shift < 64:
        byte = data[at]
        at += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    else:
        return None, at
    if length > _MAX_STRING or at + length > len(data):
        return None, at
    return data[at:at + length], at + length


def _parse(version: str, modinfo: str) -> GoBuild:
    path = ""
    main: GoModule | None = None
    deps: list[GoModule] = []
    settings: list[tuple[str, str]] = []
    settings_unlisted = 0
    last: str | None = None  # "mod" or "dep": what a "=>" line replaces
    for line in modinfo.split("\n"):
        word, _, rest = line.partition("\t")
        cols = rest.split("\t")
        if word == "path":
            path, last = rest, None
        elif word in ("mod", "dep") and len(cols) in (2, 3):
            module = GoModule(cols[0], cols[1], cols[2] if len(cols) == 3 else "")
            if word == "mod":
                main = module
            else:
                deps.append(module)
            last = word
        elif word == "=>" and len(cols) == 3 and last is not None:
            stood_in = GoModule(cols[0], cols[1], cols[2])
            if last == "mod" and main is not None:
                main = GoModule(stood_in.path, stood_in.version, stood_in.sum, main)
            elif deps:
                deps[-1] = GoModule(stood_in.path, stood_in.version, stood_in.sum, deps[-1])
            last = None
        elif word == "build" and "=" in rest[1:]:
            key, _, value = rest.partition("=")  # quoted keys and values are kept as Go wrote them
            if len(settings) < MAX_SETTINGS:
                settings.append((key, value))
            else:
                settings_unlisted += 1
            last = None
    if len(deps) > MAX_MODULES:
        return GoBuild(version, path, main, (), tuple(settings), len(deps), settings_unlisted)
    return GoBuild(version, path, main, tuple(deps), tuple(settings), 0, settings_unlisted)
