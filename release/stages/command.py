"""``command``: run a toolchain (go build, cargo, zipapp...) in the sandbox; declare outputs.

An optional ``fetch:`` argv runs first with the network on, in the same workspace and
environment, and must only download what the committed ``locks:`` pin by hash; then
``run:`` runs with no network. docs/security.md ("The fetch phase of command stages")
says what the fetch phase can and cannot do.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator, model_validator

from release.engine.contract import (
    Effect,
    Output,
    PlannedAction,
    StageConfig,
    StageContext,
    StageKind,
)
from release.engine.credentials import GATED
from release.errors import ReleaseError, StageFailed
from release.permissions import PermissionSet
from release.stages.fetch_locks import check_lock_contents
from release.stages.fetchers import (
    BUILD_ENV,
    FETCH_DEFAULTS,
    FETCH_ENV,
    REFUSED_CONFIG,
    check_fetch,
    check_goproxy,
    lock_read_by,
)

if TYPE_CHECKING:
    from release.engine.source import SourceFacts


class CommandConfig(StageConfig):
    kind: Literal["command"]
    run: list[str] = Field(min_length=1, description="argv; `{out}` is the output directory.")
    fetch: list[str] | None = Field(
        default=None, min_length=1,
        description="argv run before `run` with the network on, to download what `locks` "
        "pin by hash: `npm ci --ignore-scripts`, `go mod download`, `cargo fetch --locked`, "
        "`pip download --require-hashes --only-binary=:all: -r LOCK`; other flags are "
        "refused unless docs/security.md lists them.")
    locks: list[str] = Field(
        default_factory=list,
        description="Committed files (relative to `source.path`) that pin the fetch by "
        "hash, including the one the fetcher reads, e.g. [go.sum] or [package-lock.json].")
    outputs: list[str] = Field(min_length=1, description="Files or globs relative to {out}.")
    artifact_kind: str = Field(default="binary", alias="artifact-kind",
                               pattern=r"^[a-z][a-z0-9-]*$")
    sandbox: bool = Field(
        default=False,
        description="In the generated GitHub Actions workflow, run this stage inside "
        "geomys/sandboxed-step, so code it runs (e.g. tests against the latest "
        "dependencies) cannot reach the runner's other credentials.")

    @field_validator("run")
    @classmethod
    def _run(cls, value: list[str]) -> list[str]:
        if any("\0" in arg for arg in value):
            raise ValueError("an argument holds a NUL character, which no program can receive")
        return value

    @field_validator("fetch")
    @classmethod
    def _fetch(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return value
        if any("\0" in arg or "{out}" in arg for arg in value):
            raise ValueError("a fetch argument holds a NUL character or {out}: the fetch "
                             "phase writes only in the workspace")
        check_fetch(value)
        return value

    @field_validator("env")
    @classmethod
    def _goproxy(cls, value: dict[str, str]) -> dict[str, str]:
        if "GOPROXY" in value:
            check_goproxy(value["GOPROXY"])
        return value

    @field_validator("locks")
    @classmethod
    def _locks(cls, value: list[str]) -> list[str]:
        for lock in value:
            parts = PurePosixPath(lock).parts
            if (not lock or not parts or lock.startswith("/") or "\0" in lock
                    or ".." in parts or ".git" in parts or "\\" in lock
                    or lock != PurePosixPath(lock).as_posix()):
                raise ValueError(f"lock {lock!r} must be a plain relative path inside the "
                                 "source tree, to a committed file (not `.`, `..` nor "
                                 "inside .git)")
        if len(set(value)) != len(value):
            raise ValueError("a lock is named twice")
        return value

    @model_validator(mode="after")
    def _fetch_needs_locks(self) -> CommandConfig:
        if self.fetch is not None and not self.locks:
            raise ValueError("`fetch` needs `locks`: the committed files that pin by hash "
                             "what it downloads (e.g. [package-lock.json])")
        if self.locks and self.fetch is None:
            raise ValueError("`locks` without `fetch`: name the fetch command they pin")
        if self.fetch is not None:
            read = lock_read_by(self.fetch)
            if read[0] not in self.locks and self.fetch[0] != "npm":
                raise ValueError(f"{self.fetch[0]} reads its pins from {read[0]}, which "
                                 f"`locks` must name (it names {', '.join(self.locks)})")
            if self.fetch[0] == "npm" and not set(read) & set(self.locks):
                raise ValueError("npm ci reads its pins from package-lock.json (or "
                                 "npm-shrinkwrap.json), which `locks` must name")
        return self

    @field_validator("outputs")
    @classmethod
    def _outputs(cls, value: list[str]) -> list[str]:
        for pattern in value:
            if pattern.startswith("/") or ".." in pattern.split("/"):
                raise ValueError(f"output {pattern!r} must stay inside the output directory")
        return value


class Command(StageKind[CommandConfig]):
    kind = "command"
    description = "Run a build command in the sandbox (no network) and record its outputs."
    config = CommandConfig
    uses_source = True

    def permissions(self, config: CommandConfig) -> PermissionSet:
        return config.permissions.to_set() if config.permissions else PermissionSet()

    def declared_outputs(self, config: CommandConfig) -> list[str]:
        return list(config.outputs)

    def effects(self, config: CommandConfig) -> Effect:
        return Effect.NETWORK if config.fetch else Effect.LOCAL

    def plan(self, ctx: StageContext[CommandConfig]) -> list[PlannedAction]:
        actions = []
        cfg = ctx.config
        if cfg.fetch:
            actions.append(PlannedAction("fetch (network on, pinned by locks)",
                                         " ".join(cfg.fetch)))
            for lock in cfg.locks:
                actions.append(PlannedAction("lock", lock,
                                             digest=committed_digest(
                                                 ctx.source.root, ctx.source.commit,
                                                 ctx.source.in_repository(lock))))
        argv = " ".join(a.replace("{out}", str(ctx.out_dir)) for a in cfg.run)
        actions.append(PlannedAction("run, no network" if cfg.fetch else "run", argv))
        return actions

    def run(self, ctx: StageContext[CommandConfig]) -> list[Output]:
        cfg = ctx.config
        argv = [a.replace("{out}", str(ctx.out_dir)) for a in cfg.run]
        ws = ctx.workspace
        locks: dict[str, str] = {}
        if cfg.fetch:
            locks = check_locks(ctx.source, ws.src, cfg.locks)
            # what the fetcher will read: the export (its locks are the committed ones)
            check_lock_contents(cfg.fetch, cfg.locks, lambda name: (
                (ws.src / name).read_bytes() if os.path.lexists(ws.src / name) else None))
            for name in REFUSED_CONFIG.get(cfg.fetch[0], ()):
                if os.path.lexists(ws.src / name):
                    raise ReleaseError(
                        f"the source tree has {name}, which {cfg.fetch[0]} would obey in "
                        "the fetch phase (it can make it run a program of the tree)",
                        f"remove {name} from the release commit, or fetch in a stage of "
                        "your own workflow")
            ctx.log(f"fetch phase: {' '.join(cfg.fetch)} (network on), pinned by "
                    + ", ".join(f"{k} sha256:{v}" for k, v in locks.items()))
            # the fetch writes only in the workspace: the output folder is not mounted
            try:
                ctx.sandbox.run(cfg.fetch, ws, env=fetch_environment(ctx),
                                cwd=ws.src, network=True, timeout=cfg.timeout_seconds,
                                log=ctx.log, cancel=ctx.cancel)
            except StageFailed as exc:
                if ctx.cancel.is_set():
                    raise
                raise StageFailed(
                    f"the fetch phase failed: {exc.message}",
                    f"{cfg.fetch[0]}'s output above says why; a checksum or integrity "
                    "mismatch means the registry served other bytes than "
                    f"{', '.join(cfg.locks)} pins: find out why before changing the lock"
                    ) from None
            # the fetch may not rewrite what pins it
            again = {k: _regular_digest(ws.src, k) for k in locks}
            if again != locks:
                changed = sorted(k for k in locks if again[k] != locks[k])
                raise ReleaseError(f"the fetch changed its lock {', '.join(changed)}",
                                   "the lock must pin every download already: regenerate "
                                   "and commit it (e.g. `npm install`), then release")
            ctx.log("build phase: no network from here on")
        env = {**ctx.env, **BUILD_ENV.get(cfg.fetch[0], {})} if cfg.fetch else ctx.env
        ctx.sandbox.run(
            argv, ws, env=env, cwd=ws.src, writable=[ctx.out_dir],
            readable=[ctx.input_path(a) for a in ctx.inputs],
            timeout=cfg.timeout_seconds, log=ctx.log, cancel=ctx.cancel,
        )
        notes = {f"lock:{k}": v for k, v in locks.items()}
        found: list[str] = []
        for pattern in cfg.outputs:
            matches = sorted(p.relative_to(ctx.out_dir).as_posix()
                             for p in ctx.out_dir.glob(pattern))
            if not matches:
                matches = [pattern]  # reported as missing by the engine
            found.extend(m for m in matches if m not in found)
        return [Output(m, cfg.artifact_kind, notes) for m in found]


def fetch_environment(ctx: StageContext[CommandConfig]) -> dict[str, str]:
    """The fetch phase's environment: the stage's without any credential, whatever its
    permissions (a committed ``.npmrc`` or requirements file expands ``${VAR}`` and would
    send it to a host of its choice), plus the fetch settings."""
    plain = {k: v for k, v in ctx.env.items() if k not in ctx.secrets and k not in GATED}
    return {**FETCH_DEFAULTS, **plain, **FETCH_ENV}


def committed_digest(root: Path, commit: str, lock: str) -> str:
    """sha256 of ``lock`` as committed in ``commit``; an error if it is not a committed file."""
    listing = subprocess.run(["git", "-C", str(root), "ls-tree", "-z", commit, "--", lock],
                             capture_output=True, check=False)
    entry = listing.stdout.split(b"\0")[0].decode("utf-8", "replace")
    mode, _, rest = entry.partition(" ")
    if listing.returncode != 0 or not entry or rest.split("\t", 1)[-1] != lock:
        raise ReleaseError(f"lock {lock!r} is not a file of commit {commit[:12]}",
                           "commit the lock file: the fetch is pinned by what is committed")
    if mode not in ("100644", "100755"):
        raise ReleaseError(f"lock {lock!r} is not a regular file in commit {commit[:12]} "
                           f"(git mode {mode})", "commit the lock itself, not a link or folder")
    data = _committed(root, commit, lock)
    if data is None:
        raise ReleaseError(f"lock {lock!r} cannot be read from commit {commit[:12]}")
    return hashlib.sha256(data).hexdigest()


def check_locks(source: SourceFacts, src: Path, locks: list[str]) -> dict[str, str]:
    """Each lock's committed sha256, after checking that the working tree and the export
    hold the same bytes: a fetch is pinned by committed locks only, even with --allow-dirty.
    Locks are named relative to ``source.path``, as the export holds them."""
    commit = source.commit
    found: dict[str, str] = {}
    for lock in locks:
        named = source.in_repository(lock)  # the lock's path in the repository
        digest = committed_digest(source.root, commit, named)
        try:
            here = _regular_digest(source.root, named)
        except ReleaseError:
            here = "missing"
        if here != digest:
            raise ReleaseError(f"lock {named!r} differs in the working tree from commit "
                               f"{commit[:12]} (sha256 {digest}, working tree {here})",
                               "commit the lock (or restore it), then release")
        if _regular_digest(src, lock) != digest:
            raise ReleaseError(f"lock {lock!r} of the source export is not the committed one")
        found[lock] = digest
    return found


def _committed(root: Path, commit: str, path: str) -> bytes | None:
    """The bytes of ``path`` in ``commit``, or None when it is no file there."""
    blob = subprocess.run(["git", "-C", str(root), "cat-file", "blob", f"{commit}:{path}"],
                          capture_output=True, check=False)
    return blob.stdout if blob.returncode == 0 else None


def _regular_digest(root: Path, rel: str) -> str:
    """sha256 of the regular file ``root/rel``, reached without following any link."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in PurePosixPath(rel).parts:
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
            try:
                nfd = os.open(part, flags, dir_fd=fd)
            except OSError as exc:
                raise ReleaseError(f"lock {rel!r}: {exc.strerror}",
                                   "a lock is a regular file, reached without links") from None
            os.close(fd)
            fd = nfd
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ReleaseError(f"lock {rel!r} is not a regular file")
        digest = hashlib.sha256()
        while chunk := os.read(fd, 1 << 20):
            digest.update(chunk)
        return digest.hexdigest()
    finally:
        os.close(fd)
