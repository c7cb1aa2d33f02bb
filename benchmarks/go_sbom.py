"""Reading a Go program's build information, and its whole SBOM, against ``go version -m``.

Prints, for the Go toolchain's own ``go`` program (or PROGRAM), the median of several runs
measured in the same run:
- ``go version -m PROGRAM`` (the Go toolchain reading the same information: the baseline);
- ``release.provenance.gobuild.read_go_build`` in-process;
- ``sbom_json`` in-process (reading, CycloneDX building, JSON output), and ``check_sbom``
  (the strict CycloneDX 1.6 validation the sbom stage also runs);
- the same read over a program of 256 MiB whose build information is at its end (the
  worst place: every byte before it is searched).

Usage: python benchmarks/go_sbom.py [PROGRAM]
"""

from __future__ import annotations

import hashlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from release.provenance.gobuild import read_go_build  # noqa: E402
from release.provenance.sbom import check_sbom, sbom_json  # noqa: E402


def median(run: Callable[[], object], rounds: int = 9) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    go = shutil.which("go")
    program = Path(sys.argv[1] if len(sys.argv) > 1 else go or "").resolve()
    if not program.is_file():
        sys.exit("give a Go program, or install Go (its `go` is the default)")
    build = read_go_build(program)
    if build is None:
        sys.exit(f"{program} has no Go build information")
    sha = hashlib.sha256(program.read_bytes()).hexdigest()
    text = sbom_json(program, "executable", sha256=sha, epoch=0)
    size = program.stat().st_size
    print(f"{program.name}: {size / 2**20:.1f} MiB, {build.go_version}, "
          f"{len(build.deps)} modules, {len(build.settings)} build settings")
    rows = []
    if go:
        rows.append(("go version -m (baseline)",
                     median(lambda: subprocess.run([go, "version", "-m", str(program)],
                                                   check=True, capture_output=True))))
    rows.append(("read_go_build", median(lambda: read_go_build(program))))
    rows.append(("sbom_json", median(lambda: sbom_json(program, "executable", sha256=sha,
                                                       epoch=0))))
    rows.append(("check_sbom (CycloneDX 1.6 strict)", median(lambda: check_sbom(text))))
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "big"
        with big.open("wb") as f:
            f.truncate(256 * 2**20 - size - (256 * 2**20 - size) % 16)
            f.seek(0, 2)
            f.write(program.read_bytes())
        assert read_go_build(big) is not None
        rows.append(("read_go_build, 256 MiB, at the end", median(lambda: read_go_build(big),
                                                                  rounds=3)))
    for label, seconds in rows:
        print(f"{label:<36} {seconds * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
