"""Artifact hashing: throughput against OpenSSL, flat memory, and parallel files.

Prints:
- the SHA-256 throughput of ``release.engine.digest.file_digest`` over 1 GiB of
  artifacts (8 files of 128 MiB, hashed one after the other on one core), and the
  throughput of ``openssl speed -evp sha256 -bytes 1048576 -seconds 3`` measured in the
  same run, with the ratio (the target is at least 90%);
- the peak resident memory (``ru_maxrss``) of a fresh interpreter hashing one 1 GiB
  file, next to the same interpreter that only imports the module (target: < 64 MiB);
- ``file_digests`` over the 8 files with 1 worker and with one worker per core.

The files are written first and read back from the page cache, so the figures
measure hashing, as ``openssl speed`` does, not the disk. Take the best of a few
rounds: the machine may be shared.

Usage: python benchmarks/hashing.py [--size-mib 1024] [--rounds 3]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from release.engine.digest import file_digest, file_digests  # noqa: E402

MIB = 1024 * 1024
FILES = 8


def write_artifacts(folder: Path, total_mib: int) -> list[Path]:
    block = os.urandom(MIB)
    paths = []
    per_file = total_mib // FILES
    for i in range(FILES):
        path = folder / f"artifact-{i}.bin"
        with path.open("wb") as f:
            for j in range(per_file):
                # vary each block a little so no two MiB are identical
                f.write(j.to_bytes(8, "little") + block[8:])
        paths.append(path)
    path = folder / "one-big.bin"
    with path.open("wb") as f:
        for p in paths:
            with p.open("rb") as src:
                # stream: a large parent RSS would be inherited by the child's ru_maxrss
                shutil.copyfileobj(src, f, MIB)
    return [*paths, path]


def openssl_speed() -> float:
    """Bytes per second of ``openssl speed`` SHA-256 on 1 MiB blocks, one core."""
    out = subprocess.run(["openssl", "speed", "-evp", "sha256", "-bytes", str(MIB),
                          "-seconds", "3"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"^sha256\s+([\d.]+)k\s*$", out, re.M)
    if not match:
        raise SystemExit(f"cannot read openssl speed output:\n{out}")
    return float(match.group(1)) * 1000


def best_rate(paths: list[Path], rounds: int, workers: int | None,
              digest: Callable[[Path], str] = file_digest) -> float:
    size = sum(p.stat().st_size for p in paths)
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        if workers is None:
            for p in paths:
                digest(p)
        else:
            file_digests(paths, workers=workers)
        best = min(best, time.perf_counter() - start)
    return size / best


def peak_rss_mib(path: Path | None, function: str = "file_digest") -> tuple[float, float]:
    """(ru_maxrss, VmHWM) in MiB of a fresh interpreter that hashes ``path``.

    Linux keeps ``ru_maxrss`` across fork and exec, so it can show the parent's peak;
    ``VmHWM`` in /proc/self/status is the peak of this process image alone.
    """
    code = ("import re, resource, sys; sys.path[:0] = [sys.argv[1], sys.argv[1] + "
            "'/benchmarks']\n"
            "from pathlib import Path\n"
            f"from hashing import {function} as digest\n"
            "if sys.argv[2]: digest(Path(sys.argv[2]))\n"
            "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, hwm.group(1))")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT), str(path or "")],
                         capture_output=True, text=True, check=True).stdout.split()
    return int(out[0]) / 1024, int(out[1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="release-bench-hash-") as tmp:
        *parts, big = write_artifacts(Path(tmp), args.size_mib)
        total = sum(p.stat().st_size for p in parts)
        for p in parts:  # warm the page cache
            file_digest(p)
        # alternate the two measurements, so both see the same load on a shared machine
        ours_runs, theirs_runs = [], []
        for _ in range(args.rounds):
            ours_runs.append(best_rate(parts, 1, None))
            theirs_runs.append(openssl_speed())
        ours, theirs = max(ours_runs), max(theirs_runs)
        print(f"artifacts: {len(parts)} files, {total / MIB:.0f} MiB in all; "
              f"best of {args.rounds} alternating rounds")
        print(f"file_digest, one core:          {ours / MIB:8.1f} MiB/s")
        print(f"openssl speed -evp sha256:      {theirs / MIB:8.1f} MiB/s (1 MiB blocks, 3 s)")
        print(f"ratio:                          {ours / theirs:8.1%} (target >= 90%); per "
              "round: " + ", ".join(f"{a / b:.0%}" for a, b in zip(ours_runs, theirs_runs,
                                                                 strict=True)))
        assert file_digest(parts[0]) == hashlib.sha256(parts[0].read_bytes()).hexdigest()
        size = f"{big.stat().st_size // MIB} MiB"
        for label, target, function in (("import only", None, "file_digest"),
                                         (f"file_digest, {size}", big, "file_digest")):
            maxrss, hwm = peak_rss_mib(target, function)
            print(f"peak memory, {label + ':':<22} ru_maxrss {maxrss:6.1f} MiB, "
                  f"VmHWM {hwm:6.1f} MiB (target < 64 MiB)")
        cores = os.cpu_count() or 1
        one = best_rate(parts, args.rounds, 1)
        many = best_rate(parts, args.rounds, cores)
        print(f"file_digests, 1 worker:         {one / MIB:8.1f} MiB/s")
        print(f"file_digests, {cores} workers:        {many / MIB:8.1f} MiB/s "
              f"(x{many / one:.2f} on {cores} cores)")


if __name__ == "__main__":
    main()
