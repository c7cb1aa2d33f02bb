"""Hash-pinned build requirements for ``python-dist``, and version comparison.

The lock is the ``pip install --require-hashes`` format: ``name==version`` lines with
``--hash`` options (https://pip.pypa.io/en/stable/topics/secure-installs/). Anything
else (``-r``, ``--index-url``, ``-e``, URLs) is refused, so pip reads exactly what
was checked here. ``packaging`` is imported inside functions: stage modules are
imported at plan time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from release.engine.redaction import Redactor
from release.errors import InputError, Location, StageFailed
from release.terminal import printable

_HASH = re.compile(r"^--hash[= ](sha256|sha384|sha512):[0-9a-f]+$")
_COMMENT = re.compile(r"(^|\s+)#.*$")
_INDEX = re.compile(r"^(--index-url|--extra-index-url|-i)(=|\s+)\S+$")


@dataclass(frozen=True)
class Pin:
    """One locked requirement: canonical name, exact version, and where it was written."""

    name: str
    version: str
    line: int


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """The lines pip reads, with the number of their first line, as pip reads them
    (``pip._internal.req.req_file``): a line ending in ``\\`` (unless it is a comment) is
    joined with the next, the last one too; comments are removed after joining."""
    start, parts = 0, list[str]()
    joined: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        comment = _COMMENT.match(line) is not None
        if line.endswith("\\") and not comment:
            if not parts:
                start = number
            parts.append(line.strip("\\"))
            continue
        if parts:
            joined.append((start, "".join([*parts, " " + line if comment else line])))
            parts = []
        else:
            joined.append((number, line))
    if parts:  # pip reads a continuation at the end of the file as a line
        joined.append((start, "".join(parts)))
    for number, line in joined:
        line = _COMMENT.sub("", line).strip()
        if line:
            yield number, line


def read_lock(path: Path, rel: str) -> dict[str, Pin]:
    """Parse a lock file; every entry must be ``name==version`` with at least one hash."""
    return parse_lock(path.read_text(encoding="utf-8"), rel)


def parse_lock(text: str, rel: str, *, index_lines: bool = False) -> dict[str, Pin]:
    """``read_lock`` of text; with ``index_lines``, ``--index-url URL`` and
    ``--extra-index-url URL`` lines are allowed too (a ``command`` stage's pip fetch
    takes its index from its lock). ``${`` is refused: pip would put an environment
    variable there."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    pins: dict[str, Pin] = {}
    for number, line in _logical_lines(text):
        where = Location(rel, number)
        if "${" in line:
            raise InputError("holds `${`, which pip replaces with an environment variable",
                             "write the value itself", where)
        if index_lines and _INDEX.match(line):
            continue
        words = re.sub(r"--hash\s+", "--hash=", line).split()
        split = next((i for i, w in enumerate(words) if w.startswith("-")), len(words))
        spec, options = " ".join(words[:split]), words[split:]
        if not spec:
            raise InputError(f"{_shown(options[0])} is not allowed in "
                             f"{'a requirements' if index_lines else 'a build'} lock",
                             "the lock holds index URL lines and pinned requirements "
                             "with --hash only" if index_lines else "the lock holds "
                             "pinned requirements with --hash only; the index is the "
                             "stage's `index-url`", where)
        try:
            req = Requirement(spec)
        except InvalidRequirement as exc:
            raise InputError(f"not a requirement: {_shown(str(exc))}",
                             "write name==version with --hash options", where) from None
        specs = list(req.specifier)
        # `==` and a PEP 440 version only: pip reads `name===x/../file.tar.gz` as a local
        # path, which would make it build (run) a file of the repository
        if req.url or req.extras or len(specs) != 1 or specs[0].operator != "==" \
                or not _is_version(specs[0].version):
            raise InputError(f"{_shown(repr(spec))} is not pinned to one version",
                             "write name==version, as `pip-compile --generate-hashes` does",
                             where)
        bad = [o for o in options if not _HASH.match(o)]
        if bad or not options:
            raise InputError(f"{req.name} needs --hash options and nothing else",
                             "regenerate the lock with `pip-compile --generate-hashes`", where)
        if req.marker is not None and not req.marker.evaluate():
            continue
        name = canonicalize_name(req.name)
        if name in pins:
            raise InputError(f"{req.name} is pinned twice (first at line {pins[name].line})",
                             "keep one line per requirement", where)
        pins[name] = Pin(name, specs[0].version, number)
    return pins


def _shown(text: str) -> str:
    """Text of a lock line for a message: no password or token of a URL's user part (an
    index URL may carry one), no control character, not more than a line."""
    text = printable(Redactor()(text), keep="\n")
    return text if len(text) <= 300 else text[:297] + "..."


def _is_version(text: str) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        Version(text)
    except InvalidVersion:
        return False
    return "*" not in text


def check_downloaded(folder: Path, pins: dict[str, Pin]) -> None:
    """What the fetch phase saved is exactly one wheel per pin, named for its version."""
    from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

    found: dict[str, str] = {}
    for entry in sorted(folder.iterdir()) if folder.is_dir() else []:
        try:
            if not entry.is_file() or entry.is_symlink():
                raise InvalidWheelFilename(entry.name)
            name, version, _, _ = parse_wheel_filename(entry.name)
        except InvalidWheelFilename:
            raise StageFailed(f"the fetch phase saved {entry.name!r}, which is not a wheel",
                              "the build lock pins wheels only") from None
        found[canonicalize_name(name)] = str(version)
    expected = {n: p.version for n, p in pins.items()}
    if any(n not in expected or not same_version(v, expected[n]) for n, v in found.items()) \
            or found.keys() != expected.keys():
        raise StageFailed("the fetch phase saved other wheels than the lock pins: "
                          f"{sorted(found.items())} for {sorted(expected.items())}")


def check_covered(requires: Iterable[object], pins: dict[str, Pin], rel: str | None) -> None:
    """Refuse to build when a ``[build-system] requires`` entry is not satisfied by the lock."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    problems = []
    for item in requires:
        try:
            req = Requirement(str(item))
        except InvalidRequirement as exc:
            raise StageFailed(f"[build-system] requires has an invalid entry: {exc}") from None
        if req.marker is not None and not req.marker.evaluate():
            continue
        pin = pins.get(canonicalize_name(req.name))
        if pin is None:
            problems.append(f"{item} is not pinned")
        elif not req.specifier.contains(pin.version, prereleases=True):
            problems.append(f"{item} is not satisfied by {pin.name}=={pin.version} "
                            f"(line {pin.line})")
    if problems:
        where = rel or "no build-requirements lock"
        raise StageFailed(f"[build-system] requires is not covered by {where}: "
                          + "; ".join(problems),
                          "pin every build requirement by hash in the lock (`pip-compile "
                          "--generate-hashes`) and name it in `build-requirements`")


def same_name(a: str, b: str) -> bool:
    from packaging.utils import canonicalize_name

    return canonicalize_name(a) == canonicalize_name(b)


def same_version(a: str, b: str) -> bool:
    """Equal as PEP 440 versions (``1.0`` == ``1.0.0``); unparsable ones compare as text."""
    from packaging.version import InvalidVersion, Version

    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b
