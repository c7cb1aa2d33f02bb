"""Orchestrator overhead around a small build, against the same build done by hand.

The build: ``python -m zipapp`` of a copy of the ``release`` package (a single-file
executable, as this project's own pipeline makes). Measured, median of several runs:

- by hand: copy the committed tree into a clean directory, run the same command;
- ``release run`` (a fresh interpreter, as users run it): source export with
  ``git archive``, the sandbox, the scrubbed environment, hashing, manifests;
- ``release run --no-sandbox``, to separate the sandbox's share;
- parts of it in isolation: ``git archive`` plus extraction; ``true`` through
  ``Sandbox.run`` (the allow-list mounts, the uid drop and chown, rlimits and the seccomp
  filter) against ``true`` through ``Sandbox.run`` without the sandbox and a plain
  ``true``; and compiling the seccomp filter (once per process).

Prints the ratio of ``release run`` to the build by hand, and the sandbox's cost per
command against its budget (50 ms).

Usage: python benchmarks/overhead.py [--runs 7]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PIPELINE = """\
version: 1
name: overhead
stages:
  app:
    kind: command
    run: ["{python}", "-m", "zipapp", "src", "-o", "{{out}}/app.pyz", "-m", "release.cli:main"]
    outputs: ["app.pyz"]
"""


#: What ``Sandbox.check`` costs a run: importing the seccomp binding, compiling the
#: filter, and the probe (one sandboxed ``id -u``); minus the import of the module.
CHECK = "from release.engine.sandbox import bwrap_problem; assert bwrap_problem() is None"


def median_time(action: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def make_repo(tmp: Path) -> Path:
    repo = tmp / "repo"
    shutil.copytree(ROOT / "release", repo / "src" / "release",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "release.yaml").write_text(PIPELINE.format(python=sys.executable))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=bench", "-c", "user.email=bench@example.invalid",
        "-c", "commit.gpgsign=false", "commit", "-q", "-m", "bench")
    return repo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    runs = args.runs
    with tempfile.TemporaryDirectory(prefix="release-bench-overhead-") as name:
        tmp = Path(name)
        repo = make_repo(tmp)
        files = sum(1 for p in (repo / "src").rglob("*") if p.is_file())

        def by_hand() -> None:
            clean = Path(tempfile.mkdtemp(dir=tmp))
            shutil.copytree(repo / "src", clean / "src")
            subprocess.run([sys.executable, "-m", "zipapp", "src", "-o",
                            str(clean / "app.pyz"), "-m", "release.cli:main"],
                           cwd=clean, check=True)
            shutil.rmtree(clean)

        def release(*extra: str) -> Callable[[], None]:
            def go() -> None:
                out = Path(tempfile.mkdtemp(dir=tmp))
                subprocess.run([sys.executable, "-m", "release", "run",
                                str(repo / "release.yaml"), "--out", str(out), *extra],
                               cwd=ROOT, check=True, capture_output=True,
                               env={"PATH": "/usr/local/bin:/usr/bin:/bin", "CI": "true"})
                shutil.rmtree(out)
            return go

        def export() -> None:
            from release.engine.source import SourceExport, discover

            facts = discover(repo, tags="v*", version=None, repository=None, environ={})
            dest = Path(tempfile.mkdtemp(dir=tmp))
            SourceExport(facts).extract(dest / "src")
            shutil.rmtree(dest)

        from release.engine import seccomp
        from release.engine.sandbox import Sandbox, Workspace, bwrap_problem

        if problem := bwrap_problem():  # also warms the probe's caches, as a run does
            raise SystemExit(f"no sandbox here: {problem}")

        def stage_true(sandbox: Sandbox) -> Callable[[], None]:
            """``true`` as a stage runs it, on a fresh workspace and output folder."""
            def go() -> None:
                ws = Workspace(Path(tempfile.mkdtemp(dir=tmp)))
                ws.create()
                out = ws.root / "out"
                out.mkdir()
                sandbox.run(["true"], ws, env={"PATH": "/usr/bin:/bin"}, cwd=ws.src,
                            writable=[out], timeout=60, log=lambda _: None,
                            cancel=threading.Event())
            return go

        figures = {
            "build by hand (copy tree + zipapp)": median_time(by_hand, runs),
            "release run": median_time(release(), runs),
            "release run --no-sandbox": median_time(release("--no-sandbox"), runs),
            "python -m release --version": median_time(lambda: subprocess.run(
                [sys.executable, "-m", "release", "--version"], cwd=ROOT, check=True,
                capture_output=True), runs),
            "git archive + extract": median_time(export, runs),
            "true in the sandbox (Sandbox.run)": median_time(
                stage_true(Sandbox(hide=(repo,))), runs * 3),
            "true without it (Sandbox.run)": median_time(
                stage_true(Sandbox(isolated=False)), runs * 3),
            "true (subprocess.run)": median_time(
                lambda: subprocess.run(["true"], check=True), runs * 3),
            "seccomp filter compile (once a run)": median_time(
                seccomp.compile_seconds, runs),
            "sandbox check (once a run)": median_time(lambda: subprocess.run(
                [sys.executable, "-c", CHECK], cwd=ROOT, check=True), runs) - median_time(
                lambda: subprocess.run([sys.executable, "-c", CHECK.split(";")[0]], cwd=ROOT,
                                       check=True), runs),
        }
        print(f"build: zipapp of {files} files; median of {runs} runs")
        for label, seconds in figures.items():
            print(f"  {label:<38} {seconds * 1000:8.1f} ms")
        hand, full = figures["build by hand (copy tree + zipapp)"], figures["release run"]
        print(f"overhead: release run / by hand = {full / hand:.2f}x "
              f"(+{(full - hand) * 1000:.0f} ms)")
        sandbox = figures["release run"] - figures["release run --no-sandbox"]
        print(f"  of which the sandbox: {sandbox * 1000:+.0f} ms; interpreter start and "
              f"imports: {figures['python -m release --version'] * 1000:.0f} ms")
        share = (figures["true in the sandbox (Sandbox.run)"]
                 - figures["true without it (Sandbox.run)"])
        print(f"sandbox per command: {share * 1000:.1f} ms (budget 50 ms), plus once a "
              f"run {figures['sandbox check (once a run)'] * 1000:.0f} ms to check it "
              f"(of which {figures['seccomp filter compile (once a run)'] * 1000:.1f} ms "
              "compile the seccomp filter)")


if __name__ == "__main__":
    main()
