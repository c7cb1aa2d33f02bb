"""Pipelines the workflow tests generate from, and helpers to read generated workflows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from release.pipeline.load import LoadedPipeline, load_text

REPO = Path(__file__).resolve().parents[2]

#: Builds, checksums, keyless signing (id-token), a ghcr push (packages: write) and a
#: key signature whose passphrase is a secret: every way a job can be privileged.
FULL = """\
version: 1
name: full
source:
  tags: "v*"
stages:
  tool:
    kind: command
    run: ["sh", "-c", "printf 'tool %s' 1 > {out}/tool"]
    outputs: ["tool"]
    timeout: 10m
  notes:
    kind: command
    run: ["sh", "-c", "printf notes > {out}/NOTES"]
    outputs: ["NOTES"]
  checksums:
    kind: checksums
    needs: [tool, notes]
  sign:
    kind: sign
    needs: [checksums]
  keysign:
    kind: sign
    needs: [checksums]
    backend: key
    key: keys/signing.pem
    passphrase-env: SIGNING_PASSPHRASE
  image:
    kind: oci-image
    needs: [tool]
    files:
      tool: /usr/bin/tool
    push:
      repository: ghcr.io/owner/name
      tags: [latest]
"""

#: Command stages and checksums only: everything runs here, under bwrap.
LOCAL = """\
version: 1
name: local
source:
  tags: "v*"
stages:
  tool:
    kind: command
    run: ["sh", "-c", "printf 'tool %s' 1 > {out}/tool; printf x > {out}/.hidden"]
    outputs: ["tool", ".hidden"]
  notes:
    kind: command
    run: ["sh", "-c", "printf notes > {out}/NOTES"]
    outputs: ["NOTES"]
  docs:
    kind: command
    needs: [notes]
    run: ["sh", "-c", "printf docs > {out}/docs.txt"]
    outputs: ["docs.txt"]
  checksums:
    kind: checksums
    needs: [tool, docs, notes]
"""


def per_stage(text: str) -> str:
    """``text`` with ``jobs: per-stage``: one job per stage, as before packing."""
    return text.replace("stages:\n", "jobs: per-stage\nstages:\n", 1)


def pipeline(text: str, name: str = "pipelines/sample.yaml") -> LoadedPipeline:
    return load_text(text, name, Path(name))


def committed_pipelines() -> list[Path]:
    """Every pipeline file of this repository: the YAML files under ``pipelines/`` but the
    hidden ones, which are a pipeline's data (e.g. a ``.tpm-roots.yaml`` certificates file)."""
    return sorted(p for p in (REPO / "pipelines").rglob("*")
                  if p.suffix in (".yaml", ".yml") and not p.name.startswith("."))


def parse(text: str) -> dict[str, Any]:
    data: dict[Any, Any] = yaml.safe_load(text)
    data["on"] = data.pop(True)  # YAML 1.1 reads the key `on` as true
    return data


def job_set(workflow: dict[str, Any], event: str) -> dict[str, dict[str, Any]]:
    """The jobs that run on ``event`` (``push`` or ``workflow_dispatch``)."""
    return {jid: job for jid, job in workflow["jobs"].items()
            if job["if"] == f"github.event_name == '{event}'"}


def run_step(job: dict[str, Any]) -> dict[str, Any]:
    """The step running the job's own stages (a packed job may review others after it)."""
    (step,) = [s for s in job["steps"] if s.get("id") == "run"]
    assert "release run" in str(step.get("run", step.get("with", {}).get("run")))
    return dict(step)

#: A CLI built for three systems (``include`` names the runner of each: macOS natively,
#: Windows cross-compiled on Linux), checksums over all of them, and a keyless signature.
MATRIX = """\
version: 1
name: matrix
source:
  tags: "v*"
stages:
  cli:
    kind: command
    matrix:
      os: [linux, darwin, windows]
      arch: [amd64, arm64]
      exclude:
        - {os: windows, arch: arm64}
      include:
        - {os: linux, runner: ubuntu-24.04}
        - {os: darwin, runner: macos-15}
        - {os: windows, runner: ubuntu-24.04}
    runs-on: "{matrix.runner}"
    run: ["sh", "-c", "printf {matrix.os}/{matrix.arch} > {out}/tool-{matrix.os}-{matrix.arch}"]
    outputs: ["tool-{matrix.os}-{matrix.arch}"]
    env:
      GOOS: "{matrix.os}"
  checksums:
    kind: checksums
    needs: [cli]
  sign:
    kind: sign
    needs: [checksums]
"""
