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

#: The fetchers a ``fetch:`` argv may start with, the subcommand, and the flags that keep
#: each one to downloading what its lock pins without running code of the repository or
#: of a package: npm runs lifecycle scripts (``preinstall``, ``install``, ``postinstall``,
#: ``prepare``) of the project and of every package unless ``--ignore-scripts``; pip
#: builds an sdist's metadata (runs its ``setup.py``) unless only wheels are allowed;
#: ``cargo fetch`` and ``go mod download`` run no package code.
FETCHERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "npm": (("ci",), ("--ignore-scripts",)),
    "go": (("mod", "download"), ()),
    "cargo": (("fetch",), ("--locked",)),
    "pip": (("download",), ("--require-hashes", "--only-binary=:all:")),
    "pip3": (("download",), ("--require-hashes", "--only-binary=:all:")),
}
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
FETCH_ENV = {"npm_config_ignore_scripts": "true", "npm_config_git": "git",
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
#: What ``go mod download`` may be given besides module patterns: printing flags. Not
#: ``-modfile`` (the fetch would be pinned by another go.sum than the lock) nor ``-reuse``.
GO_FLAGS = ("-x", "-json")
#: Files of the tree a fetcher would obey that can make it run a program: cargo's
#: configuration (credential providers, ``net.git-fetch-with-cli``...) and rustup's
#: toolchain file (a toolchain may be a ``path`` into the tree, or one rustup installs).
REFUSED_CONFIG = {"cargo": (".cargo/config.toml", ".cargo/config", "rust-toolchain.toml",
                            "rust-toolchain")}


def check_go_download(args: Sequence[str]) -> None:
    """Refuse ``go mod download`` arguments other than ``GO_FLAGS`` and module patterns."""
    if bad := [a for a in args if a.startswith("-") and a not in GO_FLAGS]:
        raise ValueError(f"fetch with go does not take {bad[0]!r}: `go mod download` may be "
                         f"given {', '.join(GO_FLAGS)} and module patterns, so the committed "
                         "go.sum in `locks` is what pins the download")


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
