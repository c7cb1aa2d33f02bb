"""Cold start of the CLI and planning a large pipeline.

Prints, for each measurement, the median of several runs:
- `release --help` and `release plan pipelines/release.yaml`, each a fresh interpreter,
  against `python -c pass` as the baseline (the interpreter's own start-up);
- the modules those commands import that they should not (githubkit, sigstore,
  cryptography, httpx, rich);
- loading, validating and planning a generated 500-stage pipeline, in-process.

Usage: python benchmarks/engine.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("githubkit", "sigstore", "cryptography", "httpx", "rich", "cyclonedx")


def timed(argv: list[str], runs: int = 7) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


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
    help_t = timed([py, "-m", "release", "--help"])
    plan_t = timed([py, "-m", "release", "plan", "pipelines/release.yaml"])
    print(f"python -c pass (baseline)            {base * 1000:7.1f} ms")
    print(f"release --help                       {help_t * 1000:7.1f} ms "
          f"(+{(help_t - base) * 1000:.1f} ms over the interpreter)")
    print(f"release plan pipelines/release.yaml  {plan_t * 1000:7.1f} ms "
          f"(+{(plan_t - base) * 1000:.1f} ms over the interpreter)")
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
