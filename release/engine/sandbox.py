"""Hermetic execution: a fresh workspace, empty caches, and no network in the build phase.

Commands run under bubblewrap (https://github.com/containers/bubblewrap): the system
is mounted read-only, the invoking user's home and ``/tmp`` are hidden, only the
stage's workspace and output directory are writable, and ``--unshare-net`` leaves the
process a network namespace with no interfaces but a down loopback.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

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


@functools.cache
def bwrap_problem() -> str | None:
    """Why bubblewrap cannot isolate the network here, or None when it can."""
    exe = shutil.which("bwrap")
    if exe is None:
        return "bubblewrap (bwrap) is not installed"
    probe = subprocess.run(
        [exe, "--unshare-net", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "true"],
        capture_output=True, text=True, check=False,
    )
    if probe.returncode != 0:
        return f"bwrap cannot create a sandbox: {probe.stderr.strip() or probe.returncode}"
    return None


@dataclass(frozen=True)
class Sandbox:
    """How commands run: isolated (the default) or, by explicit request, not."""

    isolated: bool = True
    #: Folders hidden behind an empty tmpfs: the checkout (its untracked files must not
    #: leak into a build) and the run's output directory (only the stage's own
    #: folder and its inputs are mounted back).
    hide: tuple[Path, ...] = ()

    def check(self) -> None:
        if self.isolated and (problem := bwrap_problem()):
            raise ReleaseError(
                f"cannot isolate the build: {problem}",
                "install bubblewrap (apt-get install bubblewrap); on Ubuntu 24.04 allow it "
                "user namespaces with an AppArmor profile; or pass --no-sandbox, which is "
                "recorded in the manifest",
            )

    def wrap(self, argv: Sequence[str], ws: Workspace, *, writable: Sequence[Path],
             readable: Sequence[Path], cwd: Path, network: bool) -> list[str]:
        if not self.isolated:
            return list(argv)
        # --cap-drop ALL: run as root, bwrap would otherwise keep every capability and a
        # build could unmount what hides the home or remount the system read-write
        bw = ["bwrap", "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-ipc",
              "--unshare-uts", "--cap-drop", "ALL", "--ro-bind", "/", "/", "--dev", "/dev",
              "--proc", "/proc"]
        if not network:
            bw.append("--unshare-net")
        # fresh, empty temporary directories; /run holds the resolver configuration on
        # systemd hosts, so it stays visible when the phase may use the network
        temporary = ["/tmp", "/var/tmp"] + ([] if network else ["/run"])  # noqa: S108
        hidden = {Path(p) for p in temporary} | {p for p in (Path.home(), *self.hide)
                                                  if p != Path("/")}
        bw += _mounts(hidden, _toolchain_dirs())
        for path in readable:
            bw += ["--ro-bind", str(path), str(path)]
        for path in (ws.root, *writable):
            bw += ["--bind", str(path), str(path)]
        bw += ["--chdir", str(cwd), "--"]
        return bw + list(argv)

    def run(self, argv: Sequence[str], ws: Workspace, *, env: Mapping[str, str], cwd: Path,
            writable: Sequence[Path] = (), readable: Sequence[Path] = (), network: bool = False,
            timeout: float, log: Callable[[str], None], cancel: threading.Event) -> None:
        """Run ``argv``; stream its output through ``log``; raise StageFailed on failure."""
        full = self.wrap(argv, ws, writable=writable, readable=readable, cwd=cwd,
                         network=network)
        try:
            proc = subprocess.Popen(
                full, cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, umask=0o022, start_new_session=True,
            )
        except OSError as exc:
            raise StageFailed(f"cannot start {argv[0]!r}: {exc.strerror}",
                              "check the command name and that it is installed") from exc
        timed_out = threading.Event()
        timer = threading.Timer(timeout, _kill, (proc, timed_out))
        watcher = threading.Thread(target=_watch_cancel, args=(proc, cancel), daemon=True)
        timer.start()
        watcher.start()
        try:
            assert proc.stdout is not None
            for raw in proc.stdout:
                log(raw.decode("utf-8", "replace").rstrip("\n"))
            code = proc.wait()
        finally:
            timer.cancel()
        if cancel.is_set():
            raise StageFailed("cancelled")
        if timed_out.is_set():
            raise StageFailed(f"{argv[0]} timed out after {timeout:.0f}s",
                              "raise the stage's `timeout` or make the build faster")
        if code != 0:
            raise StageFailed(f"{argv[0]} exited with status {code}")


def _toolchain_dirs() -> list[Path]:
    dirs = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()}
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        if entry:
            path = Path(entry).resolve()
            # version managers' shims (pyenv, rbenv, nodenv) run the manager from its root
            dirs.add(path.parent if path.name == "shims" else path)
    return sorted(d for d in dirs if d.is_dir())


def _mounts(hidden: set[Path], toolchains: Sequence[Path]) -> list[str]:
    """Hide ``hidden`` behind empty tmpfs mounts, but keep toolchains inside them readable.

    Exactly the toolchain folders are kept (the interpreter's prefix, each PATH entry,
    resolved), read-only: never a parent, which could hold credentials (for example
    ``~/.cargo/credentials.toml`` beside ``~/.cargo/bin``). Mounts go shallowest first,
    so a hidden folder inside a kept one is hidden again.
    """
    inside = {p for p in toolchains
              if p not in hidden and any(p.is_relative_to(h) for h in hidden)}
    keep = {p for p in inside if not any(p != q and p.is_relative_to(q) for q in inside)}
    args: list[str] = []
    for path in sorted(hidden | keep, key=lambda p: (len(p.parts), str(p))):
        args += ["--tmpfs", str(path)] if path in hidden else ["--ro-bind", str(path), str(path)]
    return args


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
