"""What the ``attest`` stage records about the run it attests.

The engine's :class:`~release.engine.contract.RunFacts` give the pipeline file and its
digest, the start time, the invocation id, the sandbox and the stages checked for
reproducibility; this module adds what follows from them for provenance.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from release.engine.source import server_url

if TYPE_CHECKING:
    from release.engine.contract import StageContext


def now() -> str:
    """The current time as RFC 3339 UTC with seconds precision."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def in_actions(env: Mapping[str, str]) -> bool:
    return env.get("GITHUB_ACTIONS") == "true"


def builder_id(env: Mapping[str, str]) -> str:
    """The workflow URI in GitHub Actions (what Fulcio puts in the certificate), else local."""
    from release.provenance.slsa import LOCAL_BUILDER_ID

    server = server_url(env)
    workflow_ref = env.get("GITHUB_WORKFLOW_REF")
    if in_actions(env) and workflow_ref:
        return f"{server}/{workflow_ref}"
    return LOCAL_BUILDER_ID


def upstream_stages(ctx: StageContext[Any]) -> list[str]:
    """This stage and every stage it depends on, in topological order: what ran for it."""
    from release.engine.dag import ancestors, topological_order

    needs = {sid: st.needs for sid, st in ctx.pipeline.stages.items()}
    keep = ancestors(needs, ctx.stage_id) | {ctx.stage_id}
    return [s for s in topological_order(needs) if s in keep]


def reproducible_checked(ctx: StageContext[Any]) -> bool:
    """True when every upstream build stage was built twice and compared.

    A stage with ``reproducible: true`` in the pipeline cannot succeed without the check
    (so it holds for stages run in other CI jobs too); ``--verify-reproducible`` covers
    the stages this run built.
    """
    builds = [s for s in upstream_stages(ctx) if s in ctx.facts.source_stages]
    return bool(builds) and all(ctx.pipeline.stages[s].reproducible
                                or s in ctx.facts.reproducible_stages for s in builds)


def sandboxed(ctx: StageContext[Any]) -> bool:
    """True when this run was sandboxed and no upstream build stage runs on a runner
    without bubblewrap (macOS, Windows), where the generated workflow builds it with
    ``--no-sandbox``: provenance never claims an isolation a build did not have."""
    from release.engine.runners import runner_platform

    builds = [s for s in upstream_stages(ctx) if s in ctx.facts.source_stages]
    return ctx.facts.sandboxed and all(
        runner_platform(ctx.pipeline.stages[s].runs_on)[0] == "linux" for s in builds)
