"""Without the sandbox, every process a stage started is gone when its command returns.

In the sandbox, bubblewrap's PID namespace does this: when the command exits, the
namespace's init exits and the kernel kills everything left in it. With ``--no-sandbox``
there is no namespace, so the engine makes itself a child subreaper (once, on the first
such run: orphans of its descendants are re-parented to it rather than to init) and,
when a stage's command has exited, kills and reaps:

- every process still in the stage's session (the command is a session leader);
- every orphan re-parented to the engine that left its session (``setsid``), unless it
  is the command of a stage still running, or carries the environment marker of one
  (a daemon that a running build started, like a compiler server).

Not caught: a process that leaves through a service rather than by forking (``at``,
``systemd-run``, a container daemon, ssh to localhost); one that clears its environment
and copies the marker of another stage still running (it lives until that stage ends);
and an engine that cannot become a subreaper (orphans then go to init, out of reach).
Without ``/proc`` (a macOS runner) only the command's process group is killed.
The sandbox has none of these gaps.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

_PROC = Path("/proc")
#: The variable that marks a stage's processes: a random token per command.
MARKER = "RELEASE_STAGE_RUN"
_PR_SET_CHILD_SUBREAPER = 36

_lock = threading.Lock()
_subreaper_lock = threading.Lock()
_running: dict[int, str] = {}  # pid of a stage's command -> its marker
_subreaper = False


def become_subreaper() -> bool:
    """Make this process adopt its descendants' orphans (once); False if it cannot."""
    global _subreaper
    with _subreaper_lock:
        if not _subreaper:
            libc = ctypes.CDLL(None, use_errno=True)
            # prctl is Linux's; a macOS runner (runs-on: macos-*) builds without the
            # sandbox and without this (see the gaps above)
            prctl = getattr(libc, "prctl", None)
            _subreaper = prctl is not None and prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
        return _subreaper


def start(token: str, launch: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    """Start a stage's command and record it, so other stages' sweeps spare it.

    Both happen under the lock that sweeps take: no sweep can see the new process
    before it is recorded (between fork and exec it does not carry its marker yet).
    """
    with _lock:
        proc = launch()
        _running[proc.pid] = token
    return proc


def finished(pid: int) -> None:
    with _lock:
        _running.pop(pid, None)


def sweep(session: int, token: str, *, rounds: int = 400) -> int:
    """Kill and reap what the stage whose command led ``session`` left; return how many."""
    me, own_session = os.getpid(), os.getsid(0)
    killed: set[int] = set()
    if not _PROC.is_dir():
        # no /proc (macOS): the command's process group only, which the command leads
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(session, signal.SIGKILL)
        return 0
    for _ in range(rounds):
        with _lock:
            busy = _sweep_once(me, own_session, session, token, killed)
        if not busy:
            break
        time.sleep(0.002)
    return len(killed)


def _sweep_once(me: int, own_session: int, session: int, token: str,
                killed: set[int]) -> bool:
    spared = set(_running)
    others = set(_running.values()) - {token}
    busy = False
    for pid, ppid, sid, state in _processes():
        orphan = ppid == me and sid != own_session and pid not in spared
        if sid != session and not (orphan and _marker(pid) not in others):
            continue
        if state not in "ZX":
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            killed.add(pid)
            busy = True
        if ppid == me and pid not in spared:
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    busy = True
    return busy


def _processes() -> Iterator[tuple[int, int, int, str]]:
    """(pid, ppid, session, state) of every process this one can see."""
    for entry in _PROC.iterdir():
        name = entry.name
        if not name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_bytes().decode("ascii", "replace")
        except OSError:
            continue
        # the command name (field 2) is in parentheses and may hold anything
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 3:
            yield int(name), int(fields[1]), int(fields[3]), fields[0]


def _marker(pid: int) -> str | None:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    prefix = f"{MARKER}=".encode()
    for entry in environ:
        if entry.startswith(prefix):
            return entry[len(prefix):].decode("ascii", "replace")
    return None
