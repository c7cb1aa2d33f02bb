"""A hostile build against the sandbox: the host's files and sockets, other stages, the
kernel's attack surface, resources, and processes that try to outlive their stage.

Each attack runs through the CLI with real bubblewrap; victims are real files, sockets
and processes outside the run.
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from release.engine import bwrap, sandbox, seccomp
from tests.conftest import Repo, git

PY = sys.executable


def pipeline(repo: Repo, body: str, name: str = "release.yaml") -> Path:
    path = repo.write(name, "version: 1\nname: attack\nstages:\n" + body)
    repo.commit()
    return path


def report(out: Path, stage: str) -> dict[str, str]:
    lines = (out / stage / "report.txt").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines)


PROBE_FILES = """\
import os, sys
out, paths = sys.argv[1], sys.argv[2:]
with open(out + "/report.txt", "w") as r:
    r.write(f"uid={os.getuid()}\\n")
    for i, path in enumerate(paths):
        try:
            with open(path) as f:
                r.write(f"{i}=read:{f.read(200)!r}\\n")
        except OSError as exc:
            r.write(f"{i}=error:{exc.strerror}\\n")
"""


def test_the_host_is_not_in_the_sandbox(repo: Repo, cli, tmp_path: Path) -> None:
    """Only the allow-list is mounted: no /etc/shadow, no file of the user's, no other
    checkout, not the main .git of a linked worktree (with its auth header)."""
    victim = tmp_path / "victim" / "precious.txt"
    victim.parent.mkdir()
    victim.write_text("precious\n")
    other = tmp_path / "other-checkout" / "secret.txt"
    other.parent.mkdir()
    other.write_text("other\n")
    git(repo.path, "config", "http.extraheader", "AUTHORIZATION: basic c2VjcmV0")
    repo.write("probe.py", PROBE_FILES)
    repo.write("release.yaml", "version: 1\nname: x\nstages: {}\n")
    repo.commit()
    worktree = tmp_path / "worktree"
    git(repo.path, "worktree", "add", "-q", str(worktree))
    targets = ["/etc/shadow", "/etc/gshadow", str(victim), str(other),
               str(repo.path / ".git" / "config"), "/etc/ssh/ssh_config", "/root/.bashrc"]
    (worktree / "release.yaml").write_text(
        "version: 1\nname: attack\nstages:\n  look:\n    kind: command\n"
        f"    run: [\"{PY}\", \"probe.py\", \"{{out}}\", {', '.join(map(repr, targets))}]\n"
        "    outputs: [\"report.txt\"]\n".replace("'", '"'))
    git(worktree, "add", "release.yaml")
    git(worktree, "commit", "-q", "-m", "pipeline")
    out = tmp_path / "out"
    res = cli("run", worktree / "release.yaml", "--out", out)
    assert res.code == 0, res.err
    seen = report(out, "look")
    assert seen.pop("uid") == str(bwrap.SANDBOX_UID)  # never root, whoever runs the engine
    assert seen == {str(i): "error:No such file or directory" for i in range(len(targets))}


def test_system_and_toolchains_still_work(repo: Repo, cli, tmp_path: Path) -> None:
    """The allow-list keeps what builds use: the interpreter, TLS trust, the loader."""
    path = pipeline(repo, f"""
  tools:
    kind: command
    run: ["sh", "-c", "{PY} -c 'import ssl, sqlite3, venv; ssl.create_default_context()'
          && ls /etc/ssl/certs > /dev/null && id -un > {{out}}/whoami && ls -A /run /home
          /var 2>&1 | tr -d '\\n' > {{out}}/listing"]
    outputs: ["whoami", "listing"]
""")
    out = tmp_path / "out"
    res = cli("run", path, "--out", out)
    assert res.code == 0, res.err
    assert (out / "tools" / "whoami").read_text().strip() == "build"
    listing = (out / "tools" / "listing").read_text()
    assert "/run" in listing and "No such file" in listing and "/home" in listing


CONNECT_UNIX = """\
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
    result = "connected:" + s.recv(16).decode()
except OSError as exc:
    result = "error:" + exc.strerror
open(sys.argv[2] + "/report.txt", "w").write("result=" + result + "\\n")
"""


@pytest.fixture
def outside_tmp() -> Iterator[Path]:
    """A fresh folder outside /tmp, /run and the home (which the sandbox always hid)."""
    for base in ("/srv", "/mnt", "/var/lib"):
        if os.access(base, os.W_OK):
            break
    else:
        pytest.skip("no writable folder outside /tmp")
    folder = Path(tempfile.mkdtemp(prefix="release-test-", dir=base))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def unix_listener(outside_tmp: Path) -> Iterator[Path]:
    """A unix socket bound to a path outside the checkout that greets whoever connects."""
    path = outside_tmp / "agent.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    path.chmod(0o777)
    server.listen()
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(b"hello")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield path
    stop.set()
    thread.join()
    server.close()


def test_host_unix_sockets_do_not_answer(repo: Repo, cli, tmp_path: Path,
                                         unix_listener: Path) -> None:
    repo.write("connect.py", CONNECT_UNIX)
    path = pipeline(repo, f"""
  connect:
    kind: command
    run: ["{PY}", "connect.py", "{unix_listener}", "{{out}}"]
    outputs: ["report.txt"]
""")
    out = tmp_path / "out"
    res = cli("run", path, "--out", out)
    assert res.code == 0, res.err
    assert report(out, "connect") == {"result": "error:No such file or directory"}


@pytest.fixture
def tmpdir_outside_tmp(outside_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Workspaces under a TMPDIR that is not /tmp (tempfile follows $TMPDIR anywhere)."""
    monkeypatch.setattr(tempfile, "tempdir", str(outside_tmp))
    return outside_tmp


def test_a_stage_cannot_read_a_parallel_stages_workspace(repo: Repo, cli, tmp_path: Path,
                                                         tmpdir_outside_tmp: Path) -> None:
    # `keeper` holds a secret in its home while `thief` looks for it beside its own
    # workspace, for as long as the keeper runs
    path = pipeline(repo, """
  keeper:
    kind: command
    run: ["sh", "-c", "echo secret-of-keeper > $HOME/secret && sleep 4 && echo done > {out}/k"]
    outputs: ["k"]
  thief:
    kind: command
    run: ["sh", "-c", "base=$(dirname $(dirname $HOME)); found=none; for i in $(seq 30); do
          for f in $base/release-keeper-*/home/secret; do
          if cat $f >/dev/null 2>&1; then found=$(cat $f); break 2; fi; done; sleep 0.1;
          done; echo \\"result=$found\\" > {out}/report.txt; ls -A $base >> {out}/ls.txt"]
    outputs: ["report.txt", "ls.txt"]
""")
    out = tmp_path / "out"
    res = cli("run", path, "--out", out, "--jobs", "2")
    assert res.code == 0, res.err
    assert report(out, "thief") == {"result": "none"}
    # its own workspace's mount point only
    assert [n[:13] for n in (out / "thief" / "ls.txt").read_text().split()] == ["release-thief"]


SYSCALLS = """\
import ctypes, errno, platform, sys, threading
libc = ctypes.CDLL(None, use_errno=True)
KEYCTL = {"x86_64": 250, "aarch64": 219}[platform.machine()]
def attempt(call):
    ctypes.set_errno(0)
    return "ok" if call() != -1 else errno.errorcode[ctypes.get_errno()]
results = {
    "unshare-user": attempt(lambda: libc.unshare(0x10000000)),
    "unshare-mount": attempt(lambda: libc.unshare(0x00020000)),
    "keyctl": attempt(lambda: libc.syscall(KEYCTL, 0, -3, 0)),
    "mount": attempt(lambda: libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)),
    "personality-no-aslr": attempt(lambda: libc.personality(0x0040000)),
    "personality-query": attempt(lambda: libc.personality(0xFFFFFFFF)),
    "ptrace-traceme": attempt(lambda: libc.ptrace(0, 0, None, None)),
}
seen = []
thread = threading.Thread(target=seen.append, args=("ran",))  # clone3 -> ENOSYS -> clone
thread.start()
thread.join()
results["thread"] = seen[0]
with open(sys.argv[1] + "/report.txt", "w") as r:
    r.writelines(f"{k}={v}\\n" for k, v in results.items())
"""


@pytest.mark.skipif(platform.machine() not in ("x86_64", "aarch64"), reason="x86_64, aarch64")
def test_kernel_attack_surface_is_filtered(repo: Repo, cli, tmp_path: Path) -> None:
    repo.write("syscalls.py", SYSCALLS)
    path = pipeline(repo, f"""
  probe:
    kind: command
    run: ["sh", "-c", "{PY} syscalls.py {{out}} && (unshare -r true 2>/dev/null
          && echo unshare-r=ok || echo unshare-r=refused) >> {{out}}/report.txt"]
    outputs: ["report.txt"]
""")
    out = tmp_path / "out"
    res = cli("run", path, "--out", out)
    assert res.code == 0, res.err
    assert report(out, "probe") == {
        "unshare-user": "EPERM", "unshare-mount": "EPERM", "keyctl": "EPERM",
        "mount": "EPERM", "personality-no-aslr": "EPERM", "personality-query": "ok",
        "ptrace-traceme": "EPERM", "thread": "ran", "unshare-r": "refused",
    }


SOCKETS = """\
import ctypes, errno, platform, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
SOCKET = {"x86_64": 41, "aarch64": 198}[platform.machine()]
def attempt(family, kind):
    try:
        socket.socket(family, kind).close()
        return "ok"
    except OSError as exc:
        return errno.errorcode[exc.errno]
def raw(domain, kind):
    # the domain as a 64-bit register: the kernel reads its low 32 bits only (an int)
    ctypes.set_errno(0)
    fd = libc.syscall(SOCKET, ctypes.c_long(domain), kind, 0)
    return "ok" if fd != -1 else errno.errorcode[ctypes.get_errno()]
results = {
    "vsock": attempt(40, socket.SOCK_STREAM),
    "alg": attempt(38, socket.SOCK_SEQPACKET),
    "packet": attempt(17, socket.SOCK_RAW),
    "tipc": attempt(30, socket.SOCK_RDM),
    "rds": attempt(21, socket.SOCK_SEQPACKET),
    "key": attempt(15, socket.SOCK_RAW),
    "unspec": attempt(0, socket.SOCK_STREAM),
    "unix": attempt(socket.AF_UNIX, socket.SOCK_STREAM),
    "inet": attempt(socket.AF_INET, socket.SOCK_STREAM),
    "inet-udp": attempt(socket.AF_INET, socket.SOCK_DGRAM),
    "inet6": attempt(socket.AF_INET6, socket.SOCK_STREAM),
    "netlink": attempt(socket.AF_NETLINK, socket.SOCK_RAW),
    "raw-inet-high-bits": raw(1 << 32 | socket.AF_INET, socket.SOCK_STREAM),
    "raw-vsock-high-bits": raw(1 << 32 | 40, socket.SOCK_STREAM),
    "raw-negative": raw(-1, socket.SOCK_STREAM),
}
for name, family in (("pair-unix", socket.AF_UNIX), ("pair-vsock", 40)):
    try:
        a, b = socket.socketpair(family, socket.SOCK_STREAM)
        a.close(), b.close()
        results[name] = "ok"
    except OSError as exc:
        results[name] = errno.errorcode[exc.errno]
with open(sys.argv[1] + "/report.txt", "w") as r:
    r.writelines(f"{k}={v}\\n" for k, v in results.items())
"""


@pytest.mark.skipif(platform.machine() not in ("x86_64", "aarch64"), reason="x86_64, aarch64")
def test_only_unix_inet_and_netlink_sockets_can_be_made(repo: Repo, cli, tmp_path: Path) -> None:
    """AF_VSOCK is not isolated by the network namespace (the host's vsock port space,
    the hypervisor's services); AF_ALG, AF_PACKET, TIPC, RDS... are kernel attack surface
    a build never needs. socket(2) and socketpair(2) allow four families, on the domain's
    low 32 bits as the kernel reads it; any other fails with EAFNOSUPPORT."""
    repo.write("sockets.py", SOCKETS)
    path = pipeline(repo, f"""
  probe:
    kind: command
    run: ["{PY}", "sockets.py", "{{out}}"]
    outputs: ["report.txt"]
""")
    out = tmp_path / "out"
    res = cli("run", path, "--out", out)
    assert res.code == 0, res.err
    refused = "EAFNOSUPPORT"
    assert report(out, "probe") == {
        "vsock": refused, "alg": refused, "packet": refused, "tipc": refused, "rds": refused,
        "key": refused, "unspec": refused, "raw-vsock-high-bits": refused,
        "raw-negative": refused, "pair-vsock": refused,
        "unix": "ok", "inet": "ok", "inet-udp": "ok", "inet6": "ok", "netlink": "ok",
        "raw-inet-high-bits": "ok", "pair-unix": "ok",
    }


RESOURCES = """\
import os, resource, sys, threading
limits = {n: resource.getrlimit(getattr(resource, "RLIMIT_" + n.upper()))[1]
          for n in ("nofile", "nproc", "fsize", "core")}
files = []
try:
    while len(files) < limits["nofile"] + 100:
        files.append(os.open("/dev/null", os.O_RDONLY))
except OSError:
    pass
opened = len(files)
for fd in files:
    os.close(fd)
threading.stack_size(32768)
stop, started = threading.Event(), 0
try:
    while started < limits["nproc"] + 100:
        threading.Thread(target=stop.wait, daemon=True).start()
        started += 1
except RuntimeError:
    pass
stop.set()
with open(sys.argv[1] + "/report.txt", "w") as r:
    r.writelines(f"{k}={v}\\n" for k, v in limits.items())
    r.write(f"opened={opened}\\nthreads={started}\\n")
"""


def test_resources_are_bounded(repo: Repo, cli, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A thread bomb, a descriptor leak and a huge file stop at the limits; no core dumps."""
    # the kernel counts processes per uid: a uid of this test's own, so the bomb does not
    # starve builds that other tests (or other test runs) have running at the same time
    monkeypatch.setenv("RELEASE_SANDBOX_UID", str(3_000_000 + os.getpid() % 1_000_000))
    repo.write("resources.py", RESOURCES)
    path = pipeline(repo, f"""
  hog:
    kind: command
    run: ["sh", "-c", "{PY} resources.py {{out}} && (truncate -s 9G $HOME/big 2>/dev/null
          && echo big=made || echo big=refused) >> {{out}}/report.txt"]
    outputs: ["report.txt"]
""")
    out = tmp_path / "out"
    res = cli("run", path, "--out", out)
    assert res.code == 0, res.err
    seen = report(out, "hog")
    expected = bwrap.limits()
    assert {k: int(seen[k]) for k in expected} == expected
    assert 0 < int(seen["opened"]) < expected["nofile"]
    assert 0 < int(seen["threads"]) < expected["nproc"]
    assert seen["big"] == "refused"


def leftovers(mark: str) -> list[int]:
    """Processes whose command line holds ``mark``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if mark.encode() in cmdline and b"pytest" not in cmdline:
                found.append(int(entry.name))
    return found


@pytest.mark.parametrize("mode", ["sandbox", "no-sandbox"])
def test_a_detached_process_does_not_outlive_its_stage(repo: Repo, cli, tmp_path: Path,
                                                       mode: str) -> None:
    """A daemon that changes the stage's output after the engine verified it."""
    mark = f"29.{os.getpid()}{len(mode)}"
    path = pipeline(repo, f"""
  first:
    kind: command
    run: ["sh", "-c", "echo verified > {{out}}/data; setsid sh -c 'sleep 1;
          echo tampered > {{out}}/data; sleep {mark}' > /dev/null 2>&1 < /dev/null &"]
    outputs: ["data"]
  second:
    kind: command
    needs: [first]
    run: ["sh", "-c", "sleep 2.5; cat {tmp_path}/out/first/data > {{out}}/seen"]
    outputs: ["seen"]
""")
    out = tmp_path / "out"
    extra = ["--no-sandbox"] if mode == "no-sandbox" else []
    try:
        res = cli("run", path, "--out", out, *extra)
        assert res.code == 0, res.err
        assert (out / "second" / "seen").read_text() == "verified\n"
        assert (out / "first" / "data").read_text() == "verified\n"
        assert leftovers(mark) == []
    finally:
        for pid in leftovers(mark):
            os.kill(pid, signal.SIGKILL)


def test_a_sandbox_without_seccomp_is_refused(repo: Repo, cli, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Without libseccomp's binding the run stops, rather than build with no filter."""
    monkeypatch.setitem(sys.modules, "pyseccomp", None)  # import fails
    seccomp.program.cache_clear()
    sandbox.bwrap_problem.cache_clear()
    path = pipeline(repo, """
  build:
    kind: command
    run: ["sh", "-c", "echo x > {out}/x"]
    outputs: ["x"]
""")
    try:
        res = cli("run", path, "--out", tmp_path / "out")
    finally:
        seccomp.program.cache_clear()
        sandbox.bwrap_problem.cache_clear()
    assert res.code == 2
    assert "cannot isolate the build: cannot build the sandbox's seccomp filter" in res.err
    assert "libseccomp2" in res.err and "--no-sandbox" in res.err
    assert not (tmp_path / "out" / "build" / "x").exists()
