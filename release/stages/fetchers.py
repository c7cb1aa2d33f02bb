"""What the fetch phase of ``command`` stages may run, and the settings it runs with.

Each fetcher may only download what a committed lock pins by hash, and must run no code
of the repository or of a package; docs/security.md ("The fetch phase of command
stages") says why each rule is here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from urllib.parse import urlsplit

#: The fetchers a ``fetch:`` argv may start with, and its subcommand. What follows is
#: checked against an exact allow-list (``check_fetch``): a flag is accepted only if it
#: keeps the fetcher to downloading what its lock pins, running no code of the repository
#: or of a package. npm runs lifecycle scripts (``preinstall``, ``install``,
#: ``postinstall``, ``prepare``) unless ``--ignore-scripts`` (and a later
#: ``--ignore-scripts=false`` would win); pip builds an sdist (runs its build backend)
#: unless only wheels are allowed; cargo's ``--config`` can name a ``rustc-wrapper``.
FETCHERS: dict[str, tuple[str, ...]] = {
    "npm": ("ci",), "go": ("mod", "download"), "cargo": ("fetch",),
    "pip": ("download",), "pip3": ("download",),
}
#: Flags each fetcher must be given.
REQUIRED = {"npm": ("--ignore-scripts",), "cargo": ("--locked",),
            "pip": ("--require-hashes", "--only-binary=:all:"),
            "pip3": ("--require-hashes", "--only-binary=:all:")}
#: Flags a fetcher may also be given that take no value: output and omission settings.
PLAIN_FLAGS = {
    "npm": ("--ignore-scripts", "--no-audit", "--no-fund", "--no-progress", "--omit=dev",
            "--omit=optional", "--omit=peer", "--quiet", "--silent"),
    "go": ("-x", "-json"),
    "cargo": ("--locked", "-q", "--quiet", "-v", "--verbose"),
    "pip": ("--require-hashes", "--only-binary=:all:", "--no-deps", "-q", "--quiet"),
}
PLAIN_FLAGS["pip3"] = PLAIN_FLAGS["pip"]
#: Flags that take the next argument as their value: cargo's target triple; pip's
#: requirements file (a lock) and download folder (in the workspace).
VALUE_FLAGS = {"cargo": ("--target",), "pip": ("-r", "--requirement", "-d", "--dest"),
               "pip3": ("-r", "--requirement", "-d", "--dest")}
_TRIPLE = re.compile(r"^[a-z0-9_]+(-[a-z0-9_.]+){1,4}$")


def check_fetch(argv: Sequence[str]) -> dict[str, str]:
    """Refuse a ``fetch:`` argv outside the allow-list; return its valued flags
    (e.g. ``{"-r": "requirements.txt"}``), each given once."""
    name = argv[0]
    if name not in FETCHERS:
        raise ValueError(f"fetch runs {name!r}; it must start with one of "
                         f"{', '.join(sorted(FETCHERS))} (a fetcher on PATH that only "
                         "downloads what a lock pins; no script of the repository)")
    sub = FETCHERS[name]
    if tuple(argv[1:1 + len(sub)]) != sub:
        raise ValueError(f"fetch with {name} must be `{name} {' '.join(sub)}`")
    rest = list(argv[1 + len(sub):])
    plain, valued = PLAIN_FLAGS.get(name, ()), VALUE_FLAGS.get(name, ())
    values: dict[str, str] = {}
    allowed = " ".join((*plain, *(f"{f} VALUE" for f in valued)))
    while rest:
        arg = rest.pop(0)
        if arg in valued and rest and not rest[0].startswith("-"):
            key = {"--requirement": "-r", "--dest": "-d"}.get(arg, arg)
            if key in values:
                raise ValueError(f"fetch with {name} takes {arg} once")
            values[key] = rest.pop(0)
        elif arg in plain or (name == "go" and not arg.startswith("-")):
            continue
        else:
            raise ValueError(f"fetch with {name} does not take {arg!r}: it may be given only "
                             f"{allowed}{' and module patterns' if name == 'go' else ''}, so "
                             "the committed lock is what pins the download and no code of "
                             "the repository or of a package runs")
    if missing := [f for f in REQUIRED.get(name, ()) if f not in argv]:
        raise ValueError(f"fetch with {name} needs {' '.join(missing)}: without it the "
                         "fetch could run code of the repository or of a package")
    if "--target" in values and not _TRIPLE.match(values["--target"]):
        raise ValueError(f"cargo fetch --target {values['--target']!r} is not a target "
                         "triple (e.g. x86_64-unknown-linux-gnu)")
    if name.startswith("pip") and "-r" not in values:
        raise ValueError(f"fetch with {name} needs -r LOCK: the requirements file in "
                         "`locks` that pins every download by hash")
    return values


def lock_read_by(argv: Sequence[str]) -> tuple[str, ...]:
    """The lock files the fetcher reads, one of which must be in ``locks``."""
    name = argv[0]
    if name.startswith("pip"):
        return (check_fetch(argv)["-r"],)
    return {"npm": ("package-lock.json", "npm-shrinkwrap.json"), "go": ("go.sum",),
            "cargo": ("Cargo.lock",)}[name]


#: Set in the fetch phase whatever the repository's own configuration says: environment
#: settings override a project's ``.npmrc`` (whose ``git=`` could name a program of the
#: tree, run for a git dependency); ``GOTOOLCHAIN=local`` stops ``go`` from downloading
#: and running the toolchain a ``go.mod`` names; ``GOWORK=off`` keeps ``go`` to the
#: module's own go.sum (a ``go.work`` would pin by ``go.work.sum``, which is no lock);
#: ``GOSUMDB``: Go's checksum database, whatever the toolchain's ``go.env`` says, so what
#: go.sum does not pin is at least checked against the public log (a private module
#: fails) before ``go`` accepts it; it never becomes a line of go.sum (the lock may not
#: change), and the build refuses a module go.sum does not pin.
#: ``-modcacherw`` as in every stage (the workspace's module cache stays deletable).
#: An empty ``RUSTC_WRAPPER`` (and its workspace form) is no wrapper, whatever cargo's
#: configuration says.
FETCH_ENV = {"npm_config_ignore_scripts": "true", "npm_config_git": "git",
             "RUSTC_WRAPPER": "", "CARGO_BUILD_RUSTC_WRAPPER": "",
             "RUSTC_WORKSPACE_WRAPPER": "", "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER": "",
             "GOTOOLCHAIN": "local", "GOFLAGS": "-modcacherw -mod=readonly",
             "GOWORK": "off", "GOSUMDB": "sum.golang.org", "PIP_CONFIG_FILE": os.devnull}
#: The fetch phase's defaults that a stage's ``env`` may replace: Go modules come from
#: the public module proxy only, never ``direct`` from version control (``git`` cloning
#: a dependency with the network on); ``GOPROXY`` in ``env`` may name
#: other proxies (``check_goproxy``).
FETCH_DEFAULTS = {"GOPROXY": "https://proxy.golang.org"}
#: Set in the build phase (``run:``) after a fetch, by fetcher: ``go`` looks up nothing
#: (a module the fetch did not bring fails with "module lookup disabled by GOPROXY=off"
#: rather than a network error) and uses the module's go.sum, as the fetch did.
BUILD_ENV = {"go": {"GOPROXY": "off", "GOWORK": "off"}}
#: Files of the tree a fetcher would obey that can make it run a program: cargo's
#: configuration (credential providers, ``net.git-fetch-with-cli``...) and rustup's
#: toolchain file (a toolchain may be a ``path`` into the tree, or one rustup installs).
REFUSED_CONFIG = {"cargo": (".cargo/config.toml", ".cargo/config", "rust-toolchain.toml",
                            "rust-toolchain")}


def check_goproxy(value: str) -> None:
    """Refuse a ``GOPROXY`` other than module proxies by URL (or ``off``): with ``direct``,
    ``go`` would run version control tools."""
    for entry in re.split(r"[,|]", value):
        if entry == "off":
            continue
        if entry == "direct":
            raise ValueError("GOPROXY names `direct`: go would clone modules with git (or "
                             "hg, svn...) with the network on in the fetch phase; name only "
                             "module proxies, e.g. https://proxy.golang.org")
        url = urlsplit(entry)
        if "@" in url.netloc:
            raise ValueError(f"a GOPROXY entry for {url.hostname} carries credentials, "
                             "which would be committed with the pipeline; use a proxy that "
                             "needs none")
        if url.scheme not in ("https", "http", "file") or not (url.netloc or url.path):
            raise ValueError(f"GOPROXY entry {entry!r} is not a module proxy URL "
                             "(https://..., http://..., file:///...) nor `off`")
