"""Cold start of the CLI and planning a large pipeline.

Prints, for each measurement, the median of several runs, all in the same run:
- `release --help`, `release plan pipelines/release.yaml` and `release run --stage ID`
  (what every CI job runs; here a one-line `command` stage of a throwaway repository,
  sandbox included), each a fresh interpreter, against `python -c pass` as the
  baseline (the interpreter's own start-up) and importing pyyaml and pydantic's
  BaseModel (what validating a pipeline cannot do without), and each command's ratio
  to `--help`.
  Each command runs once first, unmeasured, with bytecode caching on (whatever
  PYTHONDONTWRITEBYTECODE says): an installed package has its .pyc files, and
  compiling the sources on every start would measure the compiler instead. Beside the
  wall time, the CPU time of the process and its children (git, the sandbox): on a
  shared machine the ratios of CPU times move less than those of wall times;
- the modules those commands import that they should not (githubkit, sigstore,
  cryptography, httpx, rich);
- loading, validating and planning a generated 500-stage pipeline, in-process.

Usage: python benchmarks/engine.py
"""

from __future__ import annotations

import itertools
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("githubkit", "sigstore", "cryptography", "httpx", "rich", "cyclonedx")


STAGE_PIPELINE = """\
version: 1
name: bench
stages:
  hello:
    kind: command
    run: ["sh", "-c", "echo hello > {out}/hello.txt"]
    outputs: ["hello.txt"]
  sums:
    kind: checksums
    needs: [hello]
"""


ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: list[str] | Callable[[], list[str]], runs: int = 7,
          cwd: Path = ROOT) -> tuple[float, float]:
    """Median wall time and median CPU time (process and children) of ``argv``."""
    wall, cpu = [], []
    for i in range(runs + 1):
        args = argv() if callable(argv) else argv
        start, start_cpu = time.perf_counter(), _cpu()
        subprocess.run(args, cwd=cwd, env=ENV, check=True, capture_output=True)
        if i:  # the first run writes the bytecode caches
            wall.append(time.perf_counter() - start)
            cpu.append(_cpu() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def stage_repository(path: Path) -> Path:
    """A committed repository holding :data:`STAGE_PIPELINE`."""
    (path / "release.yaml").write_text(STAGE_PIPELINE, encoding="utf-8")
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}
    for args in (["init", "-q"], ["add", "release.yaml"], ["commit", "-q", "-m", "bench"]):
        subprocess.run(["git", *args], cwd=path, check=True, capture_output=True, env=env)
    return path


def heavy_imports(args: list[str]) -> list[str]:
    code = ("import sys; from release.cli import main\n"
            f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
            "print('HEAVY:' + ' '.join(sorted({m.split('.')[0] for m in sys.modules} & "
            f"{set(HEAVY)!r})))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.strip().splitlines()
    return out[-1].removeprefix("HEAVY:").split()


def big_pipeline(n: int) -> str:
    lines = ["version: 1", "name: big", "stages:"]
    for i in range(n):
        lines += [f"  s{i}:", "    kind: command", f'    run: ["make", "part{i}"]',
                  f'    outputs: ["part{i}.bin"]']
        deps = [f"s{j}" for j in (i - 1, i // 2, i - 7) if 0 <= j < i]
        if deps:
            lines.append(f"    needs: [{', '.join(sorted(set(deps)))}]")
    everything = ", ".join(f"s{i}" for i in range(n))
    lines += ["  sums:", "    kind: checksums", f"    needs: [{everything}]"]
    return "\n".join(lines) + "\n"


def main() -> None:
    py = sys.executable
    base = timed([py, "-c", "pass"])
    # what `plan` cannot do without: reading YAML and pydantic's BaseModel (the validator)
    floor_t = timed([py, "-c", "import yaml; from pydantic import BaseModel"])
    help_t = timed([py, "-m", "release", "--help"])
    plan_t = timed([py, "-m", "release", "plan", "pipelines/release.yaml"])
    with tempfile.TemporaryDirectory() as tmp:
        repo = stage_repository(Path(tmp))
        count = itertools.count()
        stage_t = timed(lambda: [py, "-m", "release", "run", "release.yaml", "--stage",
                                 "hello", "--out", f"out-{next(count)}"], cwd=repo)
    print(f"{'':36} {'wall':>9} {'x --help':>9} {'cpu':>9} {'x --help':>9}")
    for label, (wall, cpu) in (("python -c pass (baseline)", base),
                               ("import yaml + pydantic.BaseModel", floor_t),
                               ("release --help", help_t),
                               ("release plan pipelines/release.yaml", plan_t),
                               ("release run --stage hello", stage_t)):
        print(f"{label:<36} {wall * 1000:6.1f} ms {wall / help_t[0]:8.2f}x "
              f"{cpu * 1000:6.1f} ms {cpu / help_t[1]:8.2f}x")
    print(f"heavy modules imported by --help: {heavy_imports(['--help']) or 'none'}")
    print("heavy modules imported by plan:   "
          f"{heavy_imports(['plan', 'pipelines/release.yaml']) or 'none'}")

    sys.path.insert(0, str(ROOT))
    from release.pipeline.graph import levels
    from release.pipeline.load import load
    from release.report.plan import plan_data, render_table

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.yaml"
        path.write_text(big_pipeline(500), encoding="utf-8")
        samples = []
        for _ in range(5):
            start = time.perf_counter()
            loaded = load(path)
            render_table(plan_data(loaded, None))
            samples.append(time.perf_counter() - start)
        depth = len(levels(loaded.needs))
        size = path.stat().st_size
    print(f"load + validate + plan, 501 stages   {statistics.median(samples) * 1000:7.1f} ms "
          f"({depth} levels, {size} bytes)")


if __name__ == "__main__":
    main()
