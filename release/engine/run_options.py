"""The options of one run, and the id that names the run in provenance."""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from release.engine.approval import ApprovedPlan
from release.engine.source import server_url


@dataclass(frozen=True)
class RunOptions:
    out: Path
    jobs: int = os.cpu_count() or 1
    dry_run: bool = False
    #: run only these stages (CI jobs); their needs come from ``artifacts``
    stages: tuple[str, ...] = ()
    artifacts: Path | None = None
    allow_dirty: bool = False
    sandbox: bool = True
    #: ``--no-sandbox-with-credentials``: accept that unsandboxed builds can read them
    no_sandbox_with_credentials: bool = False
    verify_reproducible: bool = False
    approved: ApprovedPlan | None = None
    allow_broad_token: bool = False
    debug: bool = False
    #: (stage, sha256) of needs' manifests, as the jobs that built them reported
    expected_manifests: tuple[tuple[str, str], ...] = ()


def environ_invocation_id(environ: Mapping[str, str]) -> str:
    """The Actions run (``.../actions/runs/ID/attempts/N``), or a fresh UUID locally."""
    run_id = environ.get("GITHUB_RUN_ID")
    if environ.get("GITHUB_ACTIONS") == "true" and run_id and environ.get("GITHUB_REPOSITORY"):
        server = server_url(environ)
        attempt = environ.get("GITHUB_RUN_ATTEMPT", "1")
        return f"{server}/{environ['GITHUB_REPOSITORY']}/actions/runs/{run_id}/attempts/{attempt}"
    return f"urn:uuid:{uuid.uuid4()}"
