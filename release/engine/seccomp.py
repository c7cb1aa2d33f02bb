"""The build sandbox's seccomp filter: system calls a build never needs fail with EPERM.

The filter is compiled to classic BPF by libseccomp (https://github.com/seccomp/libseccomp,
Debian's ``libseccomp2``) through ``pyseccomp``, a ctypes binding with the API of
libseccomp's own Python module, and handed to bubblewrap with ``--seccomp FD``.

Everything not listed is allowed (the filter is a block-list of the kernel's attack
surface, like Flatpak's). A blocked call returns EPERM, so tools that probe for a
feature degrade instead of dying; ``clone3`` returns ENOSYS, because its flags live in
memory a filter cannot read, and ENOSYS makes libc fall back to ``clone``, whose flags
it can (as Docker and Flatpak do); io_uring also returns ENOSYS, which its users read
as "not built into this kernel". ``socket`` and ``socketpair`` are allowed for four
address families only; any other fails with EAFNOSUPPORT. Only the native ABI is
allowed: a call through another one (i386 or x32 on x86_64, arm32 on aarch64) kills the
process, since a filter written for one table of system-call numbers means nothing in
another. docs/security.md lists the calls and why.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import os
import tempfile
import time
from typing import Any

from release.errors import ReleaseError

#: System calls that fail with EPERM: debugging other processes, mounting, entering or
#: creating namespaces, kernel keyrings, BPF and perf, kernel modules and kexec, file
#: handles (open_by_handle_at escaped Docker in 2014), raw I/O ports, swap, reboot,
#: accounting, quotas, the kernel log and the clock.
DENIED = (
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
    "mount", "umount", "umount2", "pivot_root", "chroot", "fsopen", "fsconfig", "fsmount",
    "fspick", "move_mount", "open_tree", "mount_setattr", "setns",
    "keyctl", "add_key", "request_key", "bpf", "userfaultfd", "perf_event_open",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "open_by_handle_at", "name_to_handle_at", "iopl", "ioperm", "swapon", "swapoff",
    "reboot", "acct", "quotactl", "quotactl_fd", "syslog", "settimeofday", "stime",
    "clock_settime", "clock_adjtime", "uselib", "vm86", "vm86old", "lookup_dcookie",
)
#: System calls that fail with ENOSYS, as on a kernel without them.
ABSENT = ("clone3", "io_uring_setup", "io_uring_enter", "io_uring_register")

#: Namespace flags of clone(2) and unshare(2): any one of them makes the call fail.
#: CLONE_NEWTIME (0x80) is unshare's only; in clone's flags those bits are the exit signal.
NAMESPACE_FLAGS = {
    "CLONE_NEWNS": 0x00020000, "CLONE_NEWCGROUP": 0x02000000, "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000, "CLONE_NEWUSER": 0x10000000, "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
}
CLONE_NEWTIME = 0x00000080

#: ioctls that push input into a terminal or drive the console (TIOCSTI, TIOCLINUX).
DENIED_IOCTLS = (0x5412, 0x541C)

#: Socket families (address families) a build may create, with socket(2) and
#: socketpair(2): AF_UNIX, AF_INET, AF_INET6 and AF_NETLINK (which libc's getaddrinfo
#: and tools listing interfaces use). Every other family fails with EAFNOSUPPORT, as on a
#: kernel without it: AF_VSOCK, which --unshare-net does not isolate (the host's vsock
#: port space, hypervisor services), AF_PACKET, AF_ALG, AF_TIPC, AF_RDS, AF_BLUETOOTH...
ALLOWED_FAMILIES = {"AF_UNIX": 1, "AF_INET": 2, "AF_INET6": 10, "AF_NETLINK": 16}

#: personality(2) flags that weaken exploit mitigations: no address randomisation,
#: readable-means-executable, the legacy memory layout, a mapping at address zero.
#: personality(0xffffffff) only reads the current value and stays allowed.
DENIED_PERSONALITY = (0x0040000, 0x0400000, 0x0200000, 0x0100000)

_HINT = ("install libseccomp (apt-get install libseccomp2) and this package's dependencies "
         "(pyseccomp); or pass --no-sandbox, which is recorded in the manifest")


#: The sonames pyseccomp looks up on import (glibc's libc and libseccomp 2).
_SONAMES = {"c": "libc.so.6", "seccomp": "libseccomp.so.2"}


def _find_library(name: str) -> str | None:
    """``ctypes.util.find_library``, trying the usual soname first.

    find_library runs ``ldconfig -p`` in a subprocess (tens of milliseconds, twice on
    pyseccomp's import); the dynamic loader finds these sonames by itself. Anything
    else, or a system where they do not load (musl), gets the real lookup.
    """
    soname = _SONAMES.get(name)
    if soname is not None:
        try:
            ctypes.CDLL(soname)
        except OSError:
            pass
        else:
            return soname
    return _real_find_library(name)


_real_find_library = ctypes.util.find_library


def _library() -> Any:
    ctypes.util.find_library = _find_library  # answers as the real one would, faster
    try:
        import pyseccomp  # untyped: see [[tool.mypy.overrides]] in pyproject.toml
    except (ImportError, RuntimeError, OSError) as exc:  # RuntimeError: no libseccomp.so
        raise ReleaseError(f"cannot build the sandbox's seccomp filter: {exc}", _HINT) from exc
    finally:
        ctypes.util.find_library = _real_find_library
    return pyseccomp


@functools.cache
def program() -> bytes:
    """The filter as BPF for the native architecture (compiled once per process)."""
    sc = _library()
    native = sc.system_arch()
    if native not in (sc.Arch.X86_64, sc.Arch.AARCH64):
        raise ReleaseError(
            f"no seccomp profile for this architecture (audit arch {native:#x})",
            "the sandbox supports x86_64 and aarch64; elsewhere pass --no-sandbox")
    try:
        flt = sc.SyscallFilter(sc.ALLOW)
        flt.set_attr(sc.Attr.ACT_BADARCH, sc.KILL_PROCESS)
        eperm, enosys = sc.ERRNO(errno.EPERM), sc.ERRNO(errno.ENOSYS)

        def rule(action: int, name: str, *args: Any) -> None:
            number = sc.resolve_syscall(sc.Arch.NATIVE, name)
            if number != -1:  # -1: unknown to this libseccomp; older kernels lack it too
                flt.add_rule(action, number, *args)

        for name in DENIED:
            rule(eperm, name)
        for name in ABSENT:
            rule(enosys, name)
        for flag in NAMESPACE_FLAGS.values():
            rule(eperm, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
        for flag in (*NAMESPACE_FLAGS.values(), CLONE_NEWTIME):
            rule(eperm, "unshare", sc.Arg(0, sc.MASKED_EQ, flag, flag))
        for request in DENIED_IOCTLS:
            # the request is an int: compare the low 32 bits only, whatever is above
            rule(eperm, "ioctl", sc.Arg(1, sc.MASKED_EQ, 0xFFFFFFFF, request))
        eafnosupport = sc.ERRNO(errno.EAFNOSUPPORT)
        for name in ("socket", "socketpair"):
            for arg in _family_denials(max(ALLOWED_FAMILIES.values())):
                rule(eafnosupport, name, sc.Arg(0, sc.MASKED_EQ, *arg))
        for flag in DENIED_PERSONALITY:
            # "flag set and not the query 0xffffffff": one rule per bit that would
            # differ from the query (libseccomp compares an argument once per rule)
            for bit in range(32):
                if not flag & (1 << bit):
                    rule(eperm, "personality", sc.Arg(0, sc.MASKED_EQ, flag | 1 << bit, flag))
        with tempfile.TemporaryFile() as out:
            flt.export_bpf(out)
            out.seek(0)
            return out.read()
    except OSError as exc:
        raise ReleaseError(f"libseccomp could not compile the sandbox's filter: {exc}",
                           _HINT) from exc


def _family_denials(highest: int) -> list[tuple[int, int]]:
    """(mask, value) pairs of MASKED_EQ comparisons on socket(2)'s domain, one rule each
    (the rules of one call are ORed), matching exactly the families not allowed.

    The domain is an int: only its low 32 bits count, whatever is above (a plain GT
    compares all 64). So "a gap below the highest allowed family" is an EQ on the low 32
    bits, and "above it" is a bit of the low 32 set above the highest one's top bit, or
    that top bit with any lower bit the highest one does not have; ``highest`` must be a
    power of two (AF_NETLINK, 16) for that second form to be exact.
    """
    assert highest & (highest - 1) == 0, "the highest allowed family is a power of two"
    allowed = set(ALLOWED_FAMILIES.values())
    low32 = 0xFFFFFFFF
    gaps = [(low32, family) for family in range(highest) if family not in allowed]
    top = highest.bit_length() - 1
    above = [(1 << bit, 1 << bit) for bit in range(top + 1, 32)]
    above += [(highest | 1 << bit, highest | 1 << bit) for bit in range(top)]
    return gaps + above


def problem() -> str | None:
    """Why no filter can be built here, or None."""
    try:
        program()
    except ReleaseError as exc:
        return exc.message
    return None


def compile_seconds() -> float:
    """How long compiling the filter takes, without the cache (for benchmarks)."""
    start = time.perf_counter()
    program.__wrapped__()
    return time.perf_counter() - start


def pipe() -> int:
    """A pipe's read end holding the filter, for bubblewrap's ``--seccomp FD``."""
    data = program()
    read, write = os.pipe()
    try:
        os.write(write, data)  # a few KiB: fits the pipe's buffer
    finally:
        os.close(write)
    return read
