"""Checksums files in GNU coreutils format (``sha256sum``/``sha512sum`` output).

Format: ``<hex digest><space><space or *><file name>``; a line starting with ``\\``
has ``\\\\`` and ``\\n`` escapes in its name
(https://www.gnu.org/software/coreutils/manual/html_node/md5sum-invocation.html).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from release.verify.folder import METADATA_LIMIT, FolderError, ReleaseFolder
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


def parse(folder: ReleaseFolder, name: str, report: Report) -> list[Entry]:
    """The entries of one checksums file; malformed lines become failed checks.

    The file is read up to :data:`METADATA_LIMIT`; a bigger one is a failed check that
    names it, and lists nothing.
    """
    entries: list[Entry] = []
    try:
        text = folder.read(name, METADATA_LIMIT, "a checksums file").decode("utf-8")
    except FolderError as exc:
        report.failed("checksums", name, str(exc))
        return entries
    except UnicodeDecodeError as exc:
        report.failed("checksums", f"{name}:{text_position(exc.object, exc.start)}",
                      f"not UTF-8 text ({exc.reason})")
        return entries
    failed = False
    # lines end at "\n" only, as for sha256sum -c (str.splitlines also splits at \x85...)
    for number, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        where = f"{name}:{number}"
        match = _LINE.match(raw.rstrip("\r"))
        algorithm = _ALGORITHMS.get(len(match.group(2))) if match else None
        if not match or algorithm is None:
            report.failed("checksums", where, "not a checksum line",
                          expected="<sha256 or sha512 hex>  <file name>", found=raw[:120])
            failed = True
            continue
        listed = match.group(3)
        if match.group(1):
            listed = listed.replace("\\\\", "\0").replace("\\n", "\n").replace("\0", "\\")
        pure = PurePosixPath(listed)
        if pure.is_absolute() or ".." in pure.parts or "\\" in listed:
            report.failed("checksums", where, f"file name {listed!r} leaves the release "
                          "directory", expected="a name relative to the directory", found=listed)
            failed = True
            continue
        # `./x` and `a//b` are the files `x` and `a/b` of the folder
        entries.append(Entry(name, number, algorithm, match.group(2).lower(), str(pure)))
    if not entries and not failed:
        report.failed("checksums", name, "lists no files")
    return entries


def text_position(data: bytes, offset: int) -> str:
    """``line:column`` (1-based, column in bytes) of a byte offset, for messages."""
    line = data.count(b"\n", 0, offset) + 1
    column = offset - data.rfind(b"\n", 0, offset)
    return f"{line}:{column}"


def check_entries(folder: ReleaseFolder, entries: list[Entry], report: Report
                  ) -> dict[str, str]:
    """Check every listed file is present and matches; returns ``name -> sha256`` of matches.

    A file that fails its check is left out of the result, so later checks
    (signatures, provenance subjects) never vouch for it. A listed name that is a
    symlink, or is reached through one, fails: links are never followed.
    """
    good: dict[str, str] = {}
    bad: set[str] = set()
    sha256: dict[str, str] = {}
    for entry in entries:
        where = f"{entry.file}:{entry.line}"
        problem = folder.problem(entry.name)
        if problem is not None:
            report.failed("checksum", entry.name, f"listed in {where} but {problem} in the "
                          "directory", expected=f"{entry.algorithm} {entry.digest}",
                          found=problem)
            bad.add(entry.name)
            continue
        try:
            digest = folder.digest(entry.name, entry.algorithm)
            if entry.name not in sha256:
                sha256[entry.name] = digest if entry.algorithm == "sha256" \
                    else folder.digest(entry.name, "sha256")
        except FolderError as exc:
            report.failed("checksum", entry.name, str(exc))
            bad.add(entry.name)
            continue
        if digest != entry.digest:
            report.failed("checksum", entry.name, f"{entry.algorithm} differs from {where}",
                          expected=entry.digest, found=digest)
            bad.add(entry.name)
            continue
        report.passed("checksum", entry.name, f"{entry.algorithm} matches {where}")
        good[entry.name] = sha256[entry.name]
    return {name: digest for name, digest in good.items() if name not in bad}
