"""Checksums files in GNU coreutils format (``sha256sum``/``sha512sum`` output).

Format: ``<hex digest><space><space or *><file name>``; a line starting with ``\\``
has ``\\\\`` and ``\\n`` escapes in its name
(https://www.gnu.org/software/coreutils/manual/html_node/md5sum-invocation.html).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from release.engine.digest import file_digest
from release.verify.report import Report

_LINE = re.compile(r"^(\\?)([0-9a-fA-F]+) [ *](.+)$")
_ALGORITHMS = {64: "sha256", 128: "sha512"}
#: Names a checksums file has: GoReleaser's ``*_checksums.txt`` and coreutils' ``SHA*SUMS``.
_NAME = re.compile(r"^(?:.*[._-])?(?:SHA(?:256|512)SUMS(?:\.txt)?|checksums\.txt)$",
                   re.IGNORECASE)


@dataclass(frozen=True)
class Entry:
    """One line: ``file`` listed ``name`` with ``digest`` (lowercase hex) at ``line``."""

    file: str
    line: int
    algorithm: str
    digest: str
    name: str


def is_checksums_file(name: str) -> bool:
    """Whether a file name is one of the checksums file names we look for."""
    return bool(_NAME.match(name))


def parse(path: Path, report: Report) -> list[Entry]:
    """The entries of one checksums file; malformed lines become failed checks."""
    entries: list[Entry] = []
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        report.failed("checksums", path.name, f"cannot read the checksums file: {exc}")
        return entries
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        where = f"{path.name}:{number}"
        match = _LINE.match(raw.rstrip("\r"))
        algorithm = _ALGORITHMS.get(len(match.group(2))) if match else None
        if not match or algorithm is None:
            report.failed("checksums", where, "not a checksum line",
                          expected="<sha256 or sha512 hex>  <file name>", found=raw[:120])
            continue
        name = match.group(3)
        if match.group(1):
            name = name.replace("\\\\", "\0").replace("\\n", "\n").replace("\0", "\\")
        pure = PurePosixPath(name)
        if pure.is_absolute() or ".." in pure.parts or "\\" in name:
            report.failed("checksums", where, f"file name {name!r} leaves the release directory",
                          expected="a name relative to the directory", found=name)
            continue
        entries.append(Entry(path.name, number, algorithm, match.group(2).lower(), name))
    if not entries and not report.failures():
        report.failed("checksums", path.name, "lists no files")
    return entries


def check_entries(directory: Path, entries: list[Entry], report: Report) -> dict[str, str]:
    """Check every listed file is present and matches; returns ``name -> sha256`` of matches.

    A file that fails its check is left out of the result, so later checks
    (signatures, provenance subjects) never vouch for it.
    """
    good: dict[str, str] = {}
    bad: set[str] = set()
    sha256: dict[str, str] = {}
    for entry in entries:
        path = directory / entry.name
        where = f"{entry.file}:{entry.line}"
        if path.is_symlink() or not path.is_file():
            found = "a symlink" if path.is_symlink() else \
                "not a regular file" if path.exists() else "no such file"
            report.failed("checksum", entry.name, f"listed in {where} but {found} in the "
                          "directory", expected=f"{entry.algorithm} {entry.digest}", found=found)
            bad.add(entry.name)
            continue
        digest = file_digest(path, entry.algorithm)
        if digest != entry.digest:
            report.failed("checksum", entry.name, f"{entry.algorithm} differs from {where}",
                          expected=entry.digest, found=digest)
            bad.add(entry.name)
            continue
        report.passed("checksum", entry.name, f"{entry.algorithm} matches {where}")
        if entry.name not in sha256:
            sha256[entry.name] = entry.digest if entry.algorithm == "sha256" \
                else file_digest(path, "sha256")
        good[entry.name] = sha256[entry.name]
    return {name: digest for name, digest in good.items() if name not in bad}
