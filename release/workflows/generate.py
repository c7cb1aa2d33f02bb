"""Pipeline -> GitHub Actions release workflow, one job per stage with exactly its permissions.

Two job sets share the file, chosen by the event, because a job's ``permissions:``
are fixed when the workflow is written and cannot depend on the event:

- on a pushed release tag, job ``<stage>`` runs the stage for real with exactly the
  stage's effective permissions. A stage that holds secrets, can mint an OIDC token
  (``id-token: write``: keyless signing, attestations), or has external effects with
  write access, runs in a GitHub environment that a maintainer approves; for one that
  publishes (external effects) or mints an OIDC token, job ``review-<stage>`` first runs
  the same stage with ``--dry-run`` on the very artifacts it would publish or sign and
  posts the plan to the job summary, which the maintainer reads before approving. A
  keyless signature is a permanent, public Rekor entry under the release workflow's
  identity, which ``release verify`` trusts: it must not exist for a build nobody approved;
- on ``workflow_dispatch``, job ``dry-run-<stage>`` runs each stage with ``--dry-run``
  and a read-only token: write levels become ``read``, ``id-token`` is dropped, no
  environment and no secret is referenced. A dry-run only plans stages with external
  effects or that read credentials; stages downstream of them have no dry-run job, as
  ``release run --dry-run`` skips them locally.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from release.errors import Location, PipelineError, UsageError
from release.pipeline import matrix
from release.pipeline.load import LoadedPipeline
from release.workflows.facts import (
    StageFacts,
    dry_run_stages,
    runner_of,
    stage_facts,
)
from release.workflows.job_content import job_content
from release.workflows.jobs import Job, job_graph, job_of
from release.workflows.runners import check_runner
from release.workflows.yamlemit import Note, Spaced, dump

DEFAULT_OUTPUT = ".github/workflows/release.yml"
DEFAULT_ENVIRONMENT = "release"
#: The machine-readable header line ``release audit`` uses to find a workflow's pipeline.
MARKER = "release-workflow:"
_ENVIRONMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,254}$")


@dataclass(frozen=True)
class Options:
    """How to generate: the pipeline path as seen from the repository root, and more."""

    pipeline: str
    environment: str = DEFAULT_ENVIRONMENT

    def marker(self) -> str:
        data = {"pipeline": self.pipeline, "environment": self.environment}
        return f"{MARKER} {json.dumps(data, sort_keys=True)}"


def tag_filter(pattern: str, where: Location | None = None) -> str:
    """A pipeline's fnmatch tag glob as a GitHub filter pattern.

    GitHub's filter syntax gives ``+`` and a leading ``!`` meanings fnmatch does not
    (https://docs.github.com/en/actions/writing-workflows/workflow-syntax-for-github-actions#filter-pattern-cheat-sheet),
    so they are escaped; fnmatch's ``[!...]`` has no GitHub equivalent.
    """
    if "[!" in pattern:
        raise PipelineError(f"tag pattern {pattern!r} uses [!...], which GitHub's tag "
                            "filters cannot express", "list the allowed characters instead",
                            where, "source.tags")
    escaped = pattern.replace("+", "\\+")
    if escaped.startswith("!"):
        escaped = "\\" + escaped
    return escaped


def workflow_data(pipeline: LoadedPipeline, options: Options) -> dict[str, Any]:
    """The workflow as data (with comment notes), before it is written as YAML."""
    if not _ENVIRONMENT.match(options.environment):
        raise UsageError(f"invalid environment name {options.environment!r}",
                         "use letters, digits, spaces, '.', '_' and '-'")
    with in_file_terms(pipeline):
        return _workflow_data(pipeline, options)


@contextmanager
def in_file_terms(pipeline: LoadedPipeline) -> Iterator[None]:
    """Errors found in a matrix's expansions restated at the matrix stage, as the loader
    states them: ``stages.cli.runs-on``, not the expansion's ``stages.cli-mac.runs-on``."""
    try:
        yield
    except PipelineError as exc:
        if not pipeline.expansions:
            raise
        raise matrix.restate(exc, pipeline.expansions) from None


def _workflow_data(pipeline: LoadedPipeline, options: Options) -> dict[str, Any]:
    facts = stage_facts(pipeline)
    doc = pipeline.document
    for f in facts.values():
        if f.sandboxed and (f.permissions or f.secrets or f.token):
            raise PipelineError(
                f"stage {f.stage!r} is marked sandbox: true but has permissions or secrets",
                "a sandboxed step cannot see credentials; run it without them",
                doc.location(("stages", f.stage, "sandbox")), f"stages.{f.stage}.sandbox")
    for f in facts.values():
        check_runner(f, pipeline.document)
    src = pipeline.model.source
    jobs: dict[str, object] = Spaced()
    for event in ("push", "workflow_dispatch"):
        graph = workflow_jobs(pipeline, facts, event)
        where = job_of(graph)
        for job in graph:
            content = job_content(job, facts, where, pipeline=options.pipeline,
                                  environment=options.environment)
            _add(jobs, job.id, content, pipeline)
    return Spaced({
        "name": f"release {pipeline.model.name}",
        "on": {
            "push": {"tags": [tag_filter(src.tags, doc.location(("source", "tags")))]},
            "workflow_dispatch": Note({}, "a dry-run: read-only token, nothing published"),
        },
        "permissions": Note({}, "each job declares exactly what its stage needs"),
        "concurrency": {
            "group": "release-${{ github.ref }}",
            "cancel-in-progress": Note(False, "never stop a release halfway through"),
        },
        "jobs": jobs,
    })


def workflow_jobs(pipeline: LoadedPipeline, facts: dict[str, StageFacts],
                  event: str) -> list[Job]:
    """The jobs of ``event`` (``push`` or ``workflow_dispatch``), packed as the pipeline's
    ``jobs:`` says."""
    with in_file_terms(pipeline):
        _check_unit_ids(pipeline, facts)
    return job_graph(facts, event, runner_of, per_stage=pipeline.model.jobs == "per-stage",
                     dry_run=dry_run_stages(facts) if event != "push" else ())


def _check_unit_ids(pipeline: LoadedPipeline, facts: dict[str, StageFacts]) -> None:
    """Refuse a stage whose id is that of another stage's review."""
    for f in facts.values():
        clash = f"review-{f.stage}"
        if f.reviewed and clash in facts:
            raise PipelineError(
                f"the stage id {clash!r} is the id of the review of stage {f.stage!r} "
                "(a dry-run the generated workflow runs before the approval)",
                "rename the stage; review-* and dry-run-* are taken by the generated workflow",
                pipeline.document.location(("stages", clash), key=True), f"stages.{clash}")


def _add(jobs: dict[str, object], job_id: str, job: dict[str, object],
         pipeline: LoadedPipeline) -> None:
    if job_id in jobs:
        # generated ids are unique among themselves: the clash is with a stage of that id
        where = pipeline.document.location(("stages", job_id), key=True)
        raise PipelineError(f"job {job_id!r} would be generated twice: a stage id collides "
                            "with the review-, dry-run- or packed job of another stage",
                            "rename the stage; review-*, dry-run-* and packed* are taken by "
                            "the generated workflow", where)
    jobs[job_id] = job


def generate(pipeline: LoadedPipeline, options: Options) -> str:
    """The text of the release workflow for ``pipeline``."""
    facts = stage_facts(pipeline)
    skipped = [s for s in facts if s not in dry_run_stages(facts)]
    header = [
        f"Generated by `release workflow generate {options.pipeline}`: do not edit.",
        "Change the pipeline and regenerate; `release workflow check` fails on drift.",
        "On a release tag each stage that holds a credential runs as its own job with",
        "exactly its permissions; the others share jobs that hold none. workflow_dispatch",
        "runs a dry-run with a read-only token (docs/workflows.md).",
    ]
    if gated := [s if not f.environment else f"{s} (environment `{f.environment}`)"
                 for s, f in facts.items() if f.protected]:
        header.append(f"Approved in environment `{options.environment}` before they run: "
                      + ", ".join(gated) + ".")
    if any(f.mints_oidc for f in facts.values()):
        header.append("Jobs with id-token: write run only after their review job; "
                      "a dry-run never signs.")
    if native := [s for s, f in facts.items() if f.system != "linux"]:
        header.append("Built on their own runner without the bubblewrap sandbox, and with no "
                      "credential: " + ", ".join(native) + ".")
    if skipped:
        header.append("Not part of the dispatch dry-run (their needs are only planned): "
                      + ", ".join(skipped) + ".")
    header.append(options.marker())
    return dump(workflow_data(pipeline, options), header)


def read_marker(text: str) -> Options | None:
    """The generator options recorded in a workflow's header, if it was generated."""
    for line in text.splitlines()[:20]:
        body = line.lstrip("# ").strip()
        if body.startswith(MARKER):
            try:
                data = json.loads(body[len(MARKER):])
                return Options(str(data["pipeline"]), str(data["environment"]))
            except (ValueError, KeyError, TypeError):
                return None
    return None
