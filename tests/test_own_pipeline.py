"""This project's own release pipeline, in dry-run, from a fresh clone, is reproducible."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _dry_run(clone: Path, out: Path) -> tuple[int, str, dict[str, object]]:
    proc = subprocess.run(
        [sys.executable, "-m", "release", "run", "pipelines/release.yaml", "--dry-run",
         "--verify-reproducible", "--out", str(out), "--report", str(out / "review.json")],
        cwd=clone, capture_output=True, text=True, check=False,
        env={**{k: v for k, v in os.environ.items()
                if not k.startswith(("GITHUB_", "ACTIONS_", "RUNNER_"))}, "CI": "true"},
    )
    manifest = json.loads((out / "manifest.json").read_text()) if proc.returncode == 0 else {}
    return proc.returncode, proc.stdout + proc.stderr, manifest


def test_own_pipeline_dry_run_is_reproducible(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    code, output, first = _dry_run(clone, tmp_path / "first")
    assert code == 0, output
    kinds = {a["kind"] for a in first["artifacts"]}
    assert {"sdist", "wheel", "binary", "sbom", "checksums"} <= kinds
    for art in first["artifacts"]:
        assert f"sha256:{art['sha256']}  {art['path']}" in output  # digests are printed
    review = json.loads((tmp_path / "first" / "review.json").read_text())
    assert {sid for sid, st in review["stages"].items() if st["status"] == "planned"} == {
        "sign", "provenance", "pypi", "publish"}
    code, output, second = _dry_run(clone, tmp_path / "second")
    assert code == 0, output
    assert first["artifacts"] == second["artifacts"]
