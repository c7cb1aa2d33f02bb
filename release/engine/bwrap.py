"""The bubblewrap command line of a sandboxed run: an allow-list of mounts, a uid, limits.

The sandbox starts from an empty root. Mounted read-only: the system (``/usr`` and the
``/bin``, ``/lib``... folders or their merged-/usr symlinks), a curated part of ``/etc``
(no secrets: see ``ETC``), the toolchains (the interpreter's prefixes and the PATH
entries, exactly those folders, and the root of a Go or Rust toolchain on PATH),
the CA files the environment names, and the stage's
inputs. Mounted read-write: the stage's workspace and its writable folders. Fresh:
``/dev``, ``/proc``, ``/tmp`` and ``/var/tmp``. Nothing else of the host is there: no
home, no other checkout or workspace, no socket under ``/run`` or ``/tmp``.

The build runs as ``SANDBOX_UID`` (65534, "nobody", unless ``RELEASE_SANDBOX_UID``
says otherwise). As root, bubblewrap mounts as root (so it reaches toolchains under
``/root``), keeps only CAP_SETUID and CAP_SETGID, and ``setpriv`` drops to that uid with
no supplementary group before the build starts; the kernel then sees an unprivileged
uid, which no root-owned 0600 file lets in. Otherwise bubblewrap maps the invoking
user to that uid in a new user namespace. ``prlimit`` caps resources (``LIMITS``).
"""

from __future__ import annotations

import functools
import os
import resource
import shutil
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: Top-level system folders, mounted read-only (or recreated as symlinks into /usr).
SYSTEM = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")

#: What of /etc a build sees (globs): name resolution, TLS trust, the dynamic loader,
#: ``alternatives`` symlinks, time zone, MIME and magic tables, and configuration that
#: toolchains read from /etc (Debian's python3, the JDK's security policy). Never the
#: shadow files, SSH host keys, sudoers, TLS private keys, or tools' global settings
#: that may hold credentials (pip.conf, npmrc, gitconfig, maven, docker, containers).
ETC = (
    "hosts", "host.conf", "gai.conf", "nsswitch.conf", "networks", "protocols", "services",
    "ssl/certs", "ssl/openssl.cnf", "ca-certificates", "ca-certificates.conf",
    "pki/ca-trust/extracted", "pki/tls/certs", "pki/tls/openssl.cnf", "crypto-policies",
    "alternatives", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone",
    "os-release", "lsb-release", "debian_version", "mime.types", "magic", "magic.mime",
    "locale.alias", "fonts", "xml", "sgml", "shells", "python3", "python3.*", "java-*",
    "perl",
)
#: Only where the network is on: the resolver's configuration (its target, when it is a
#: symlink into /run/systemd/resolve, is mounted in its place: /run stays out).
NETWORK_ETC = ("resolv.conf",)

#: Environment variables naming CA certificates; their files are mounted read-only.
CA_VARIABLES = ("SSL_CERT_FILE", "SSL_CERT_DIR", "PIP_CERT", "REQUESTS_CA_BUNDLE",
                "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "GIT_SSL_CAINFO")

#: Resource limits (soft = hard) for every process of a build, lowered to the engine's
#: own hard limit where that is lower: open files; processes and threads, which the
#: kernel counts per real uid (as root, all parallel stages share SANDBOX_UID: room for
#: several parallel builds); the size of one file (8 GiB); no core dumps.
LIMITS = {"nofile": 16384, "nproc": 8192, "fsize": 8 << 30, "core": 0}
_RLIMIT = {"nofile": resource.RLIMIT_NOFILE, "nproc": resource.RLIMIT_NPROC,
           "fsize": resource.RLIMIT_FSIZE, "core": resource.RLIMIT_CORE}

SANDBOX_UID = 65534
#: Where a toolchain is never taken from (it would show more than itself), and folders
#: a toolchain folder must not contain.
_NEVER_UNDER = ("/proc", "/sys", "/dev", "/run", "/var/run", "/etc")
_BROAD = ("/home", "/root", "/var", "/srv", "/mnt", "/media", "/tmp", "/var/tmp",  # noqa: S108
          "/run", "/etc", "/opt")
_SYSTEM_PATHS = tuple(f"/{name}" for name in SYSTEM)


def identity() -> tuple[int, int]:
    """The uid and gid builds run as: ``RELEASE_SANDBOX_UID`` (``UID`` or ``UID:GID``)."""
    value = os.environ.get("RELEASE_SANDBOX_UID", "")
    uid_text, _, gid_text = value.partition(":")
    try:
        uid = int(uid_text) if uid_text else SANDBOX_UID
        gid = int(gid_text) if gid_text else uid
    except ValueError:
        uid = gid = SANDBOX_UID
    return (uid, gid) if uid > 0 and gid > 0 else (SANDBOX_UID, SANDBOX_UID)


def limits() -> dict[str, int]:
    """``LIMITS``, each no higher than the engine's hard limit (raising it needs privilege)."""
    out = {}
    for name, wanted in LIMITS.items():
        hard = resource.getrlimit(_RLIMIT[name])[1]
        out[name] = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    return out


@dataclass
class Command:
    """A bwrap argv and the file descriptors it reads (closed by ``close``)."""

    argv: list[str] = field(default_factory=list)
    fds: list[int] = field(default_factory=list)

    def data(self, text: str) -> str:
        """A pipe holding ``text`` for ``--ro-bind-data``; returns its descriptor."""
        read, write = os.pipe()
        try:
            os.write(write, text.encode())
        finally:
            os.close(write)
        self.fds.append(read)
        return str(read)

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds.clear()


def command(argv: Sequence[str], *, root: Path, home: Path, cwd: Path,
            readable: Sequence[Path], writable: Sequence[Path], network: bool,
            env: Mapping[str, str], hide: Iterable[Path], seccomp_fd: int) -> Command:
    """The full command line that runs ``argv`` in the sandbox (``root``: the workspace)."""
    uid, gid = identity()
    privileged = os.geteuid() == 0
    cmd = Command(fds=[seccomp_fd])
    bw = ["bwrap", "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-ipc",
          "--unshare-uts", "--unshare-cgroup-try", "--hostname", "build", "--cap-drop", "ALL"]
    if privileged:
        # setpriv needs these two to drop to the build's uid; it leaves no capability
        bw += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        bw += ["--unshare-user", "--uid", str(uid), "--gid", str(gid)]
    if not network:
        bw.append("--unshare-net")
    bw += ["--seccomp", str(seccomp_fd)]
    for name in SYSTEM:
        top = Path("/", name)
        if top.is_symlink():
            bw += ["--symlink", str(top.readlink()), str(top)]
        elif top.is_dir():
            bw += ["--ro-bind", str(top), str(top)]
    # fresh and empty: /dev, /proc, /tmp and /var/tmp (the sandbox's own, not the host's)
    bw += ["--dev", "/dev", "--proc", "/proc", "--perms", "1777", "--tmpfs", "/tmp",  # noqa: S108
           "--perms", "0755", "--dir", "/var", "--perms", "1777", "--tmpfs", "/var/tmp",  # noqa: S108
           "--perms", "0755", "--dir", "/etc", "--symlink", "../proc/self/mounts", "/etc/mtab"]
    etc = _etc(network)
    # destination -> (option, source); mounted shallowest first, so deeper ones win
    binds = {dest: ("--ro-bind", source) for source, dest in etc}
    bw += ["--perms", "0644", "--ro-bind-data", cmd.data(_passwd(uid, gid, home)),
           "/etc/passwd", "--perms", "0644", "--ro-bind-data",
           cmd.data(f"root:x:0:\nbuild:x:{gid}:\n"), "/etc/group"]
    protected = [str(p) for p in (home, Path.home(), root, tempfile.gettempdir(), *hide)]
    for path in _toolchain_dirs(os.environ.get("PATH", "")):
        if _exposable(path, protected):
            binds[path] = ("--ro-bind", path)
    shown = [p for pair in etc for p in pair]
    for path in _ca_paths(env):
        # one file the environment names is shown wherever it is; a folder, as a toolchain
        if not any(_inside(path, p) for p in shown) and (
                _exposable(path, protected) if Path(path).is_dir()
                else not any(_inside(path, p) for p in _NEVER_UNDER[:3])):
            binds[path] = ("--ro-bind", path)
    binds.update({str(p): ("--ro-bind", str(p)) for p in readable})
    binds.update({str(p): ("--bind", str(p)) for p in (root, *writable)})
    made = {"/", "/tmp", "/var", "/var/tmp", "/etc"}  # noqa: S108
    mounted: list[str] = []
    for dest in sorted(binds, key=lambda p: (p.count("/"), p)):
        option, source = binds[dest]
        if option == "--ro-bind" and source == dest and any(
                _inside(dest, m) and binds[m] == ("--ro-bind", m) for m in mounted):
            continue  # already shown, read-only, by a folder that holds it
        parent = ""
        for part in dest.split("/")[1:-1]:
            parent += "/" + part
            # bwrap would copy the host folder's mode (/root is 0700): make them 0755
            if parent not in made and not any(_inside(parent, m) for m in mounted):
                bw += ["--perms", "0755", "--dir", parent]
                made.add(parent)
        bw += [option, source, dest]
        mounted.append(dest)
    bw += ["--chdir", str(cwd), "--"]
    caps = [_tool("prlimit"), *(f"--{name}={value}" for name, value in limits().items()),
            "--"]
    if privileged:
        bw += [_tool("setpriv"), f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
               "--inh-caps=-all", "--no-new-privs", "--"]
    cmd.argv = bw + caps + list(argv)
    return cmd


def _inside(path: str, folder: str) -> bool:
    """Whether ``path`` is ``folder`` or below it (both absolute and normalised)."""
    return path == folder or path.startswith(folder.rstrip("/") + "/")


@functools.cache
def _tool(name: str) -> str:
    """A util-linux tool by absolute path (the build's PATH may not name the system's)."""
    return shutil.which(name, path=os.defpath + ":/usr/sbin:/sbin") or name


@functools.cache
def _etc(network: bool) -> tuple[tuple[str, str], ...]:
    """(source, destination) of what /etc shows: a symlink's target in its place."""
    etc = Path("/etc")
    found = []
    for pattern in (*ETC, *(NETWORK_ETC if network else ())):
        for path in sorted(etc.glob(pattern)):
            target = path.resolve()
            if target.is_file() or target.is_dir():
                found.append((str(target), str(path)))
    return tuple(found)


def _passwd(uid: int, gid: int, home: Path) -> str:
    return (f"root:x:0:0:root:/root:/usr/sbin/nologin\n"
            f"build:x:{uid}:{gid}:release build:{home}:/bin/sh\n")


@functools.lru_cache(maxsize=8)
def _toolchain_dirs(search_path: str) -> tuple[str, ...]:
    """The interpreter's prefixes and each PATH entry, resolved (pyenv shims: its root)."""
    dirs = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()}
    for entry in search_path.split(os.pathsep):
        if entry:
            path = Path(entry).resolve()
            # version managers' shims (pyenv, rbenv, nodenv) run the manager from its root
            dirs.add(path.parent if path.name == "shims" else path)
            dirs.update(_toolchain_roots(path))
    return tuple(sorted(str(d) for d in dirs if d.is_dir()))


#: Toolchains whose command in ``ROOT/bin`` needs the rest of ``ROOT``, and the files
#: that mark a folder as such a root: Go's GOROOT (the standard library's sources, the
#: compiler in ``pkg/tool``) and a Rust toolchain (``librustc_driver`` in ``lib``).
_ROOTED = {"go": ("VERSION", "src/runtime", "pkg/tool"), "rustc": ("lib/rustlib",)}


def _toolchain_roots(folder: Path) -> list[Path]:
    """The roots of the toolchains (``_ROOTED``) whose command ``folder`` holds or links
    to. GitHub's runners link /usr/bin/go into /opt/hostedtoolcache; actions/setup-go
    and rustup toolchains put such a ``bin`` folder on PATH. Not a GOPATH (``~/go/bin``)
    nor rustup's proxies (``~/.cargo/bin``, beside the host's caches): no marks there."""
    roots = []
    for command, marks in _ROOTED.items():
        if (folder / command).is_file():
            root = (folder / command).resolve().parent.parent
            if all((root / mark).exists() for mark in marks):
                roots.append(root)
    return roots


def _ca_paths(env: Mapping[str, str]) -> list[str]:
    paths = []
    for name in CA_VARIABLES:
        for entry in env.get(name, "").split(os.pathsep if name == "SSL_CERT_DIR" else "\0"):
            if entry and Path(entry).is_absolute():
                path = Path(entry).resolve()
                if path.is_file() or (name == "SSL_CERT_DIR" and path.is_dir()):
                    paths.append(str(path))
    return paths


def _exposable(path: str, protected: Sequence[str]) -> bool:
    """Whether mounting exactly ``path`` shows only a toolchain or a certificate.

    Not the system (mounted already) nor /etc (curated), nothing under /proc, /sys,
    /dev or /run (sockets), and never a folder holding the home, the workspace, the
    temporary folder, the checkout or the output directory, or a broad one like /home.
    """
    if any(_inside(path, p) for p in (*_SYSTEM_PATHS, *_NEVER_UNDER)):
        return False
    return not any(_inside(p, path) for p in (*protected, *_BROAD))
