"""What the ``attest`` stage can tell about the run it attests, from what a stage may see.

The engine hands a stage its config, the pipeline model, the source facts, the
sandbox and a scrubbed environment, but not the pipeline file's path, the run's
start time or whether ``--verify-reproducible`` was given. Until it does, these are
derived here, conservatively: a fact we cannot establish is reported as not done
(``reproducibleChecked`` is true only when every build stage upstream asks for
the check in the pipeline file itself).
"""

from __future__ import annotations

import hashlib
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from release.errors import ReleaseError, StageFailed

if TYPE_CHECKING:
    from release.stages.base import StageContext


def now() -> str:
    """The current time as RFC 3339 UTC with seconds precision."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def in_actions(env: Mapping[str, str]) -> bool:
    return env.get("GITHUB_ACTIONS") == "true"


def builder_id(env: Mapping[str, str]) -> str:
    """The workflow URI in GitHub Actions (what Fulcio puts in the certificate), else local."""
    from release.provenance.slsa import LOCAL_BUILDER_ID

    server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    workflow_ref = env.get("GITHUB_WORKFLOW_REF")
    if in_actions(env) and workflow_ref:
        return f"{server}/{workflow_ref}"
    return LOCAL_BUILDER_ID


def invocation_id(env: Mapping[str, str]) -> str:
    """The run attempt's URL in Actions (as GitHub's own provenance does), else a UUID URN."""
    server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    repo, run, attempt = (env.get(n) for n in ("GITHUB_REPOSITORY", "GITHUB_RUN_ID",
                                                "GITHUB_RUN_ATTEMPT"))
    if in_actions(env) and repo and run:
        return f"{server}/{repo}/actions/runs/{run}/attempts/{attempt or '1'}"
    return f"urn:uuid:{uuid.uuid4()}"


@dataclass(frozen=True)
class PipelineFile:
    """The pipeline file as run: its path relative to the repository root, and digest."""

    path: str
    sha256: str


def find_pipeline_file(ctx: StageContext[Any]) -> PipelineFile:
    """The tracked YAML file whose content loads to exactly this run's pipeline model."""
    from release.pipeline.load import load_text

    root = ctx.source.root
    listed = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--", "*.yml", "*.yaml"],
                            capture_output=True, check=False)
    names = sorted(n for n in listed.stdout.decode("utf-8", "replace").split("\0") if n)
    found: list[PipelineFile] = []
    for name in names:
        try:
            data = (root / name).read_bytes()
        except OSError:
            continue
        if b"stages" not in data or b"version" not in data:
            continue
        try:
            loaded = load_text(data.decode("utf-8"), name)
        except (ReleaseError, UnicodeDecodeError):
            continue
        if loaded.model == ctx.pipeline:
            found.append(PipelineFile(name, hashlib.sha256(data).hexdigest()))
    if len(found) != 1:
        what = ("no tracked file defines" if not found else
                f"{len(found)} tracked files ({', '.join(f.path for f in found)}) define")
        hint = ("commit the pipeline file; provenance records its path and digest" if not found
                else "keep one copy of the pipeline, or give the copies different names")
        raise StageFailed(f"cannot tell which pipeline file this run uses: {what} "
                          f"pipeline {ctx.pipeline.name!r} as run", hint)
    return found[0]


def upstream_stages(ctx: StageContext[Any]) -> list[str]:
    """This stage and every stage it depends on, in topological order: what ran for it."""
    from release.pipeline.graph import ancestors, topological_order

    needs = {sid: st.needs for sid, st in ctx.pipeline.stages.items()}
    keep = ancestors(needs, ctx.stage_id) | {ctx.stage_id}
    return [s for s in topological_order(needs) if s in keep]


def reproducible_checked(ctx: StageContext[Any]) -> bool:
    """True when every upstream build stage asks for the double build in the pipeline file."""
    from release.stages import KINDS

    builds = [ctx.pipeline.stages[s] for s in upstream_stages(ctx)
              if KINDS[ctx.pipeline.stages[s].kind].uses_source]
    return bool(builds) and all(c.reproducible for c in builds)
