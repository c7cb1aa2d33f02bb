"""What a ``command`` stage's lock must hold before its fetch runs.

A fetcher checks downloads against its lock, but a lock line can also name what it
would build or fetch unpinned: a pip requirements line naming a local sdist (built with
the network on), an npm lock entry without ``integrity`` (whatever the registry
serves). So the engine reads the lock the fetcher will follow first, and refuses what
is not a pin by hash. docs/security.md ("The fetch phase of command stages") says why.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence

from release.errors import InputError, Location
from release.stages.fetchers import check_fetch
from release.stages.python_lock import parse_lock

_SHRINKWRAP = "npm-shrinkwrap.json"
#: An SRI sha512 (https://www.w3.org/TR/SRI/): 64 bytes in base64; npm drops a malformed
#: one and installs whatever it is served, so ``sha512-`` alone pins nothing.
_SHA512 = re.compile(r"sha512-[A-Za-z0-9+/]{86}==(\?\S*)?")


def check_lock_contents(fetch: Sequence[str], locks: Sequence[str],
                        read: Callable[[str], bytes | None]) -> None:
    """Refuse a lock that pins less than every download by hash. ``read`` gives the
    committed bytes of a file of the stage's tree (None when there is none)."""
    if fetch[0] == "npm":
        name = _SHRINKWRAP if read(_SHRINKWRAP) is not None else "package-lock.json"
        if name not in locks:
            raise InputError(
                f"npm ci reads its pins from {name}, which `locks` does not name",
                f"name {name} in `locks`, or remove it from the release commit",
                Location(name))
        check_npm_lock(_text(read, name), name)
    elif fetch[0].startswith("pip"):
        name = check_fetch(fetch)["-r"]
        check_pip_lock(_text(read, name), name)


def _text(read: Callable[[str], bytes | None], name: str) -> str:
    return (read(name) or b"").decode("utf-8", "replace")


def check_pip_lock(text: str, name: str) -> None:
    """Every requirement is ``name==version`` with hashes (``python-dist``'s build lock
    rules: a path or URL, even pinned by hash, is an sdist pip would build), plus index
    URL lines; no ``${VAR}``."""
    parse_lock(text, name, index_lines=True)


def check_npm_lock(text: str, name: str) -> None:
    """Every package the lock installs from a registry carries a ``sha512-`` integrity;
    none comes from git, a local file or an unpinned tarball."""
    try:
        lock = json.loads(text)
        packages = lock["packages"]
        if not isinstance(packages, dict):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise InputError("not an npm lock of lockfileVersion 2 or 3 (no `packages` object)",
                         "regenerate it with npm 7 or later (`npm install`)",
                         Location(name)) from None
    for key, entry in packages.items():
        if "node_modules/" not in key or not isinstance(entry, dict):
            continue  # the project and its workspaces: folders of the tree
        if entry.get("link") is True or (entry.get("inBundle") is True
                                         and _bundled(key, packages)):
            continue  # a workspace link, or inside a package already pinned
        resolved = str(entry.get("resolved", ""))
        integrity = str(entry.get("integrity", ""))
        if resolved.startswith(("git+", "git:", "github:", "file:")):
            raise InputError(f"{key} comes from {resolved[:60]!r}, which no integrity pins",
                             "depend on a registry release instead", Location(name))
        if not any(_SHA512.fullmatch(part) for part in integrity.split()):
            raise InputError(f"{key} has no sha512 `integrity`, so npm would install "
                             "whatever the registry serves",
                             "regenerate the lock with `npm install` and commit it",
                             Location(name))


def _bundled(key: str, packages: dict[str, object]) -> bool:
    """Whether ``node_modules/a/node_modules/b`` is inside the tarball of a package that
    bundles its dependencies (``bundleDependencies``), which its own integrity pins. An
    ``inBundle`` that no enclosing package backs is a claim of the lock, not a pin."""
    parts = key.split("/node_modules/")
    for depth in range(len(parts) - 1, 0, -1):
        parent = packages.get("/node_modules/".join(parts[:depth]))
        if isinstance(parent, dict) and (parent.get("bundleDependencies")
                                         or parent.get("bundledDependencies")):
            return True
    return False
