"""Read Python package metadata out of wheels, sdists and zipapps, with the stdlib only.

Core metadata is RFC 822 style (https://packaging.python.org/en/latest/specifications/
core-metadata/); a wheel holds it in ``*.dist-info/METADATA``, an sdist in
``<name>-<version>/PKG-INFO``. A zipapp may bundle installed distributions
(``pip install --target``) as ``*.dist-info`` folders, or carry a PEP 751 lock
(``pylock.toml``) or pinned ``requirements.txt``.
"""

from __future__ import annotations

import re
import tarfile
import tomllib
import zipfile
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from pathlib import Path, PurePosixPath

from release.errors import ReleaseError

_NAME = re.compile(r"^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)")
_EXTRA = re.compile(r"""\bextra\s*==\s*['"]([^'"]+)['"]""")
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;\\]+)")
#: Largest metadata member read, so a hostile archive cannot exhaust memory.
_MAX_MEMBER = 4 * 1024 * 1024
#: Most archive members read while looking for the metadata (each costs time and memory).
_MAX_MEMBERS = 100_000


def normalize(name: str) -> str:
    """PEP 503 normalized name, as package URLs for PyPI use it."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Requirement:
    """One ``Requires-Dist`` line: the name, the full text, and the extra it belongs to."""

    name: str
    text: str
    extra: str | None


@dataclass(frozen=True)
class Distribution:
    """The core metadata fields an SBOM needs."""

    name: str
    version: str
    summary: str | None = None
    license: str | None = None
    license_expression: str | None = None
    requires: tuple[Requirement, ...] = ()
    urls: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Bundle:
    """What a single-file executable carries: installed distributions and locked pins."""

    installed: tuple[Distribution, ...] = ()
    locked: tuple[Distribution, ...] = ()
    lock_files: tuple[str, ...] = field(default=())


def parse_metadata(data: bytes, where: str) -> Distribution:
    """Parse core metadata bytes; ``where`` names the member in error messages."""
    msg: Message = BytesParser().parsebytes(data, headersonly=True)
    name, version = msg.get("Name"), msg.get("Version")
    if not name or not version:
        raise ReleaseError(f"{where} has no Name or Version field",
                           "the distribution's core metadata is malformed")
    requires = []
    for line in msg.get_all("Requires-Dist") or []:
        text = " ".join(str(line).split())
        match = _NAME.match(text)
        if not match:
            raise ReleaseError(f"{where}: cannot read Requires-Dist {text!r}")
        extra = _EXTRA.search(text.partition(";")[2])
        requires.append(Requirement(match.group(1), text, extra.group(1) if extra else None))
    urls = [tuple(str(u).split(",", 1)) for u in msg.get_all("Project-URL") or []]
    if msg.get("Home-page"):
        urls.insert(0, ("Homepage", str(msg["Home-page"])))
    lic = msg.get("License")
    return Distribution(
        str(name).strip(), str(version).strip(),
        summary=str(msg["Summary"]).strip() if msg.get("Summary") else None,
        # long license texts are pasted into License; keep only a one-line name
        license=str(lic).strip() if lic and "\n" not in str(lic).strip() else None,
        license_expression=str(msg["License-Expression"]).strip()
        if msg.get("License-Expression") else None,
        requires=tuple(requires),
        urls=tuple((k.strip(), v.strip()) for k, v in (u for u in urls if len(u) == 2)),
    )


def read_wheel(path: Path) -> Distribution:
    """The metadata of a wheel (a zip with exactly one top-level ``.dist-info``)."""
    try:
        with zipfile.ZipFile(path) as zf:
            members = [n for n in zf.namelist()
                       if re.fullmatch(r"[^/]+\.dist-info/METADATA", n)]
            if len(members) != 1:
                raise ReleaseError(f"{path.name} has {len(members)} .dist-info/METADATA files "
                                   "at its top level, expected one", "is it a wheel?")
            return parse_metadata(_read_zip(zf, members[0]), f"{path.name}:{members[0]}")
    except (zipfile.BadZipFile, OSError) as exc:
        raise ReleaseError(f"cannot read wheel {path.name}: {exc}") from exc


def read_sdist(path: Path) -> Distribution:
    """The metadata of an sdist (``.tar.gz`` with ``<name>-<version>/PKG-INFO``)."""
    try:
        with tarfile.open(path, "r:*") as tar:
            for count, member in enumerate(tar):
                if count >= _MAX_MEMBERS:
                    raise ReleaseError(f"{path.name} has more than {_MAX_MEMBERS} members "
                                       "before its PKG-INFO", "is it an sdist?")
                parts = PurePosixPath(member.name).parts
                if len(parts) == 2 and parts[1] == "PKG-INFO" and member.isfile():
                    if member.size > _MAX_MEMBER:
                        raise ReleaseError(f"{path.name}:{member.name} is too large")
                    fh = tar.extractfile(member)
                    assert fh is not None  # a regular file always has a reader
                    return parse_metadata(fh.read(), f"{path.name}:{member.name}")
    except (tarfile.TarError, OSError) as exc:
        raise ReleaseError(f"cannot read sdist {path.name}: {exc}") from exc
    raise ReleaseError(f"{path.name} has no top-level PKG-INFO", "is it an sdist?")


def read_zipapp(path: Path) -> Bundle | None:
    """What a zipapp bundles; ``None`` when the file is not a zip archive at all."""
    if not zipfile.is_zipfile(path):
        return None
    installed: dict[str, Distribution] = {}
    locked: dict[str, Distribution] = {}
    lock_files: list[str] = []
    try:
        with zipfile.ZipFile(path) as zf:
            for name in sorted(zf.namelist()):
                pure = PurePosixPath(name)
                if pure.name == "METADATA" and pure.parent.name.endswith(".dist-info"):
                    dist = parse_metadata(_read_zip(zf, name), f"{path.name}:{name}")
                    installed.setdefault(normalize(dist.name), dist)
                elif re.fullmatch(r"pylock(\.[^/.]+)?\.toml", pure.name):
                    lock_files.append(name)
                    for dist in _pylock(_read_zip(zf, name), f"{path.name}:{name}"):
                        locked.setdefault(normalize(dist.name), dist)
                elif pure.name == "requirements.txt" and len(pure.parts) == 1:
                    lock_files.append(name)
                    for dist in _pins(_read_zip(zf, name)):
                        locked.setdefault(normalize(dist.name), dist)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ReleaseError(f"cannot read zipapp {path.name}: {exc}") from exc
    return Bundle(tuple(installed.values()),
                  tuple(d for k, d in locked.items() if k not in installed), tuple(lock_files))


def _read_zip(zf: zipfile.ZipFile, name: str) -> bytes:
    if zf.getinfo(name).file_size > _MAX_MEMBER:
        raise ReleaseError(f"{name} is too large to be package metadata")
    return zf.read(name)


def _pylock(data: bytes, where: str) -> list[Distribution]:
    """Packages of a PEP 751 lock file (https://peps.python.org/pep-0751/)."""
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ReleaseError(f"{where} is not valid TOML: {exc}") from exc
    found = []
    for pkg in doc.get("packages", []):
        if isinstance(pkg, dict) and isinstance(pkg.get("name"), str):
            # a lock may omit the version of a package taken from a VCS or a directory
            found.append(Distribution(pkg["name"], str(pkg.get("version") or "")))
    return found


def _pins(data: bytes) -> list[Distribution]:
    """``name==version`` lines of a pinned requirements file; anything else is skipped."""
    found = []
    for line in data.decode("utf-8", errors="replace").splitlines():
        match = _PIN.match(line.strip())
        if match:
            found.append(Distribution(match.group(1), match.group(2)))
    return found
