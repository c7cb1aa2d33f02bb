"""Hermetic execution: a fresh workspace, empty caches, and no network in the build phase.

Commands run under bubblewrap (https://github.com/containers/bubblewrap), built by
:mod:`release.engine.bwrap`: an empty root with an allow-list of mounts (the system,
a curated /etc, the toolchains, the stage's inputs read-only; its workspace and output
folder writable), an unprivileged uid, resource limits, the seccomp filter of
:mod:`release.engine.seccomp`, its own PID namespace, and with ``--unshare-net`` a
network namespace with no interface but a down loopback. docs/security.md says what
this guarantees and what it does not.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from release.engine import bwrap, reaper, safefs, seccomp
from release.errors import ReleaseError, StageFailed


@dataclass(frozen=True)
class Workspace:
    """A stage's private scratch space; deleted when the stage ends."""

    root: Path

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def src(self) -> Path:
        return self.root / "src"

    def cache_env(self) -> dict[str, str]:
        """Variables that give every common toolchain a fresh, empty cache in the workspace."""
        cache = self.root / "cache"
        return {
            "XDG_CACHE_HOME": str(cache), "PIP_NO_CACHE_DIR": "1", "UV_NO_CACHE": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONDONTWRITEBYTECODE": "1",
            "GOFLAGS": "-modcacherw", "GOMODCACHE": str(cache / "gomod"),
            "GOCACHE": str(cache / "go-build"), "npm_config_cache": str(cache / "npm"),
            "YARN_CACHE_FOLDER": str(cache / "yarn"), "CARGO_HOME": str(cache / "cargo"),
        }

    def create(self) -> None:
        for d in (self.home, self.tmp, self.src, self.root / "cache"):
            d.mkdir(parents=True, exist_ok=True)


_USERNS_HINT = ("unprivileged user namespaces are not allowed here: enable them "
                "(sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0; "
                "on Ubuntu 24.04 an AppArmor profile for bwrap), or run the engine as root")


@functools.cache
def bwrap_problem() -> str | None:
    """Why builds cannot be sandboxed here, or None; probes exactly as a build runs."""
    tools = ["bwrap", "prlimit"] + (["setpriv"] if os.geteuid() == 0 else [])
    if missing := [t for t in tools if shutil.which(t) is None]:
        return f"{', '.join(missing)} not installed (bubblewrap, util-linux)"
    if problem := seccomp.problem():
        return problem
    lines: list[str] = []
    uid = bwrap.identity()[0]
    with tempfile.TemporaryDirectory(prefix="release-probe-") as tmp:
        ws = Workspace(Path(tmp))
        ws.create()
        try:
            Sandbox().run(["id", "-u"], ws, env={"PATH": "/usr/bin:/bin"}, cwd=ws.src,
                          timeout=60, log=lines.append, cancel=threading.Event())
        except StageFailed:
            detail = " ".join(lines).strip() or "no output"
            if os.geteuid() != 0 and any(w in detail for w in (
                    "namespace", "uid map", "Operation not permitted", "Permission denied")):
                return f"bwrap cannot create a sandbox ({detail}); {_USERNS_HINT}"
            return f"bwrap cannot create a sandbox: {detail}"
    if lines != [str(uid)]:
        return f"a sandboxed build should run as uid {uid}, but it printed {lines}"
    return None


@dataclass(frozen=True)
class Sandbox:
    """How commands run: isolated (the default) or, by explicit request, not."""

    isolated: bool = True
    #: Folders a toolchain folder may not contain (it would show them to the build): the
    #: checkout and the run's output directory. Nothing is mounted unless allowed anyway.
    hide: tuple[Path, ...] = ()

    def check(self) -> None:
        if self.isolated and (problem := bwrap_problem()):
            raise ReleaseError(
                f"cannot isolate the build: {problem}",
                "install bubblewrap and util-linux (apt-get install bubblewrap "
                "util-linux libseccomp2); on Ubuntu 24.04 allow bwrap user namespaces "
                "with an AppArmor profile; or pass --no-sandbox, which is recorded in "
                "the manifest",
            )

    def run(self, argv: Sequence[str], ws: Workspace, *, env: Mapping[str, str], cwd: Path,
            writable: Sequence[Path] = (), readable: Sequence[Path] = (), network: bool = False,
            timeout: float, log: Callable[[str], None], cancel: threading.Event) -> None:
        """Run ``argv``; stream its output through ``log``; raise StageFailed on failure.

        When this returns, every process the command started is gone.
        """
        token = secrets.token_hex(8)
        if self.isolated:
            owner = bwrap.identity() if os.geteuid() == 0 else None
            if owner:  # the build's uid must own its workspace and output folders
                _chown_trees([ws.root, *writable], *owner)
                # bwrap enters the working folder as root with no capability left, before
                # the drop to the build's uid: the engine's group may pass, nobody else
                os.chown(ws.root, owner[0], os.getegid(), follow_symlinks=False)
                ws.root.chmod(0o710)  # the owner, and the group to pass through
            cmd = bwrap.command(argv, root=ws.root, home=ws.home, cwd=cwd, readable=readable,
                                writable=writable, network=network, env=env, hide=self.hide,
                                seccomp_fd=seccomp.pipe())
            run_env = dict(env)
        else:
            owner = None
            reaper.become_subreaper()
            cmd = bwrap.Command(list(argv))
            run_env = {**env, reaper.MARKER: token}
        try:
            try:
                proc = reaper.start(token, lambda: subprocess.Popen(
                    cmd.argv, cwd=cwd, env=run_env, stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, umask=0o022,
                    start_new_session=True, pass_fds=cmd.fds,
                ))
            except OSError as exc:
                raise StageFailed(f"cannot start {argv[0]!r}: {exc.strerror}",
                                  "check the command name and that it is installed") from exc
            finally:
                cmd.close()
            try:
                code, timed_out = self._wait(proc, timeout, log, cancel, token)
            finally:
                reaper.finished(proc.pid)
        finally:
            if owner:  # outputs go back to the engine's user
                _chown_trees(writable, os.geteuid(), os.getegid())
        if cancel.is_set():
            raise StageFailed("cancelled")
        if timed_out:
            raise StageFailed(f"{argv[0]} timed out after {timeout:.0f}s",
                              "raise the stage's `timeout` or make the build faster")
        if code != 0:
            raise StageFailed(f"{argv[0]} exited with status {code}")

    def _wait(self, proc: subprocess.Popen[bytes], timeout: float, log: Callable[[str], None],
              cancel: threading.Event, token: str) -> tuple[int, bool]:
        timed_out = threading.Event()
        timer = threading.Timer(timeout, _kill, (proc, timed_out))
        watcher = threading.Thread(target=_watch_cancel, args=(proc, cancel), daemon=True)
        # the output is read on its own thread: a process the command left behind may
        # hold the pipe open, and must not keep this stage waiting for it
        reader = threading.Thread(target=_stream, args=(proc, log), daemon=True)
        timer.start()
        watcher.start()
        reader.start()
        try:
            code = proc.wait()
        finally:
            timer.cancel()
            if not self.isolated:
                reaper.sweep(proc.pid, token)
            reader.join()
        return code, timed_out.is_set()


#: The longest piece of a build's output line the engine holds; longer lines are split.
MAX_LINE = 64 * 1024


def _stream(proc: subprocess.Popen[bytes], log: Callable[[str], None]) -> None:
    assert proc.stdout is not None
    with proc.stdout:
        # at most MAX_LINE bytes at a time: a build printing gigabytes without a newline
        # costs the engine no memory
        while raw := proc.stdout.readline(MAX_LINE):
            log(raw.decode("utf-8", "replace").removesuffix("\n"))


def _chown_trees(roots: Iterable[Path], uid: int, gid: int) -> None:
    """Give folders the engine created for a stage (and what is in them) to ``uid``.

    Walks by file descriptor and never follows a symlink, so a link a build left cannot
    send the change of owner outside the folder.
    """
    for root in roots:
        try:
            top = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except FileNotFoundError:
            continue
        try:
            os.chown(top, uid, gid)
        finally:
            os.close(top)

        def chown(dirfd: int, name: str, rel: object) -> None:
            del rel
            with contextlib.suppress(FileNotFoundError):
                os.chown(name, uid, gid, dir_fd=dirfd, follow_symlinks=False)

        safefs.walk(root, entry=chown, leave=chown)


def _kill(proc: subprocess.Popen[bytes], timed_out: threading.Event) -> None:
    timed_out.set()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _watch_cancel(proc: subprocess.Popen[bytes], cancel: threading.Event) -> None:
    while proc.poll() is None:
        if cancel.wait(0.2):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            return
