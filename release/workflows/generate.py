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
import math
import re
from dataclasses import dataclass
from typing import Any

from release.engine.runners import DEFAULT_RUNNER, runner_platform
from release.errors import Location, PipelineError, UsageError
from release.permissions import Level, PermissionSet
from release.pipeline.load import LoadedPipeline
from release.stages.base import BuildsInDryRun, Effect, RunsInEnvironment
from release.workflows import steps
from release.workflows.jobs import Job, Unit, job_graph, job_of
from release.workflows.runners import check_runner
from release.workflows.yamlemit import Note, Spaced, dump

DEFAULT_OUTPUT = ".github/workflows/release.yml"
DEFAULT_ENVIRONMENT = "release"
RUNNER = DEFAULT_RUNNER
#: Minutes a job may spend before and after its stage: checkout, install, transfers.
SETUP_MINUTES = 15
MAX_JOB_MINUTES = 360
#: The job's own token: passed from ``github.token``, never a repository secret.
JOB_TOKEN = "GITHUB_TOKEN"  # noqa: S105 - a variable name
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


@dataclass(frozen=True)
class StageFacts:
    """What the generator needs to know about one stage."""

    stage: str
    kind: str
    needs: tuple[str, ...]
    permissions: PermissionSet
    external: bool
    secrets: tuple[str, ...]
    #: Whether the stage gets the job's GitHub token (a GitHub permission, or its kind reads it).
    token: bool
    builds: bool
    sandboxed: bool
    minutes: int
    #: Whether the kind reads any outside variable (GITHUB_TOKEN included).
    reads_secrets: bool = False
    #: Whether a dry-run still builds its local part (e.g. an image it would push).
    builds_in_dry_run: bool = False
    #: The GitHub environment its kind names (e.g. pypi-publish's ``pypi``), if any.
    environment: str | None = None
    #: The runner its jobs run on (``runs-on:``).
    runs_on: str | list[str] = DEFAULT_RUNNER

    @property
    def system(self) -> str | None:
        """The runner's operating system (linux, macos, windows), if its labels say."""
        return runner_platform(self.runs_on)[0]

    @property
    def planned_in_dry_run(self) -> bool:
        """A dry-run reads no credential: it only plans external and secret-reading stages."""
        return self.external or self.reads_secrets

    @property
    def dry_run_outputs(self) -> bool:
        """Whether its dry-run job produces outputs for the jobs after it."""
        return not self.planned_in_dry_run or self.builds_in_dry_run

    @property
    def mints_oidc(self) -> bool:
        """Holds ``id-token: write``: can get a Sigstore certificate as the release workflow."""
        return self.permissions.get_level("id-token") is Level.WRITE

    @property
    def protected(self) -> bool:
        """Runs in the environment: holds secrets, can mint an OIDC token (its signatures are
        public and permanent), or changes the world with write access."""
        writes = any(lvl is Level.WRITE for n, lvl in self.permissions.items() if n != "id-token")
        return bool(self.secrets) or self.mints_oidc or (self.external and writes)

    @property
    def reviewed(self) -> bool:
        """Publishes or signs: a review job shows its dry-run plan before the approval is
        asked, so no OIDC token exists before a maintainer has read what it will sign."""
        return self.protected and (self.external or self.mints_oidc)

    @property
    def read_only(self) -> PermissionSet:
        """The permissions of this stage's dry-run: read where it may write, no OIDC."""
        return PermissionSet({n: Level.READ for n in self.permissions if n != "id-token"})


def runner_of(f: StageFacts) -> str | list[str]:
    """The runner of a stage's job: stages on different runners never share a job."""
    return f.runs_on


def stage_facts(pipeline: LoadedPipeline) -> dict[str, StageFacts]:
    """Facts of every stage, in pipeline order."""
    facts: dict[str, StageFacts] = {}
    for sid, config in pipeline.model.stages.items():
        kind = pipeline.kind(sid)
        # `sandbox: true` is a key of `command` stages only
        sandboxed = getattr(config, "sandbox", False) is True
        variables = kind.secret_variables(config)
        facts[sid] = StageFacts(
            stage=sid, kind=kind.kind, needs=tuple(config.needs),
            permissions=pipeline.permissions[sid],
            external=kind.effects(config) is Effect.EXTERNAL,
            secrets=tuple(sorted(variables - {JOB_TOKEN})),
            token=pipeline.permissions[sid].has_github_access() or JOB_TOKEN in variables,
            builds=kind.uses_source, sandboxed=sandboxed,
            minutes=math.ceil(config.timeout_seconds / 60), reads_secrets=bool(variables),
            builds_in_dry_run=isinstance(kind, BuildsInDryRun)
            and kind.builds_in_dry_run(config) and not variables,
            environment=kind.environment(config) if isinstance(kind, RunsInEnvironment)
            else None,
            runs_on=config.runs_on,
        )
    return facts


def dry_run_stages(facts: dict[str, StageFacts]) -> list[str]:
    """Stages that can run in a distributed dry-run: all their needs produce outputs."""
    produces: dict[str, bool] = {}

    def makes_outputs(sid: str) -> bool:
        if sid not in produces:
            f = facts[sid]
            produces[sid] = f.dry_run_outputs and all(makes_outputs(n) for n in f.needs)
        return produces[sid]

    return [sid for sid, f in facts.items() if all(makes_outputs(n) for n in f.needs)]


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
            _add(jobs, job.id, _job(job, options, facts, where), pipeline)
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
    return job_graph(facts, event, runner_of, per_stage=pipeline.model.jobs == "per-stage",
                     dry_run=dry_run_stages(facts) if event != "push" else ())


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


def _title(unit: Unit) -> str:
    return {"release": unit.stage, "review": f"review {unit.stage}",
            "dry-run": f"dry-run {unit.stage}"}[unit.mode]


def _job(job: Job, options: Options, facts: dict[str, StageFacts],
         where: dict[str, str]) -> dict[str, object]:
    first = job.units[0]
    f = facts[first.stage]
    dry = first.mode != "release"
    perms = PermissionSet({}) if job.packed else f.read_only if dry else f.permissions
    why = (f"read-only, for the dry-run of {f.stage}" if dry
           else f"stage {f.stage} ({f.kind}) needs it")
    name = (f"{_title(first)} ({f.kind})" if not job.packed
            else ", ".join(_title(u) for u in job.units))
    job_data: dict[str, object] = {
        "name": name,
        "if": ("github.event_name == 'workflow_dispatch'" if first.mode == "dry-run"
               else "github.event_name == 'push'"),
    }
    if job.needs:
        job_data["needs"] = list(job.needs)
    job_data["runs-on"] = job.runner
    job_data["permissions"] = (Note({}, "holds no credential: its stages run packed")
                               if job.packed else
                               {n: Note(lvl, why) for n, lvl in perms.as_dict().items()})
    if not job.packed and first.mode == "release" and f.protected:
        job_data["environment"] = f.environment or options.environment
    minutes = sum(facts[u.stage].minutes for u in job.units)
    job_data["timeout-minutes"] = min(MAX_JOB_MINUTES, minutes + SETUP_MINUTES)
    if reporting := [u.stage for u in job.units if _reports_manifest(facts[u.stage], u.mode)]:
        # the digest of each manifest it uploads: later jobs check the hand-off against it;
        # a sandboxed run cannot write the step output, a step after it hashes the manifest
        step = "digest" if f.sandboxed else "run"
        job_data["outputs"] = {steps.manifest_output(s):
                               f"${{{{ steps.{step}.outputs.{steps.manifest_output(s)} }}}}"
                               for s in reporting}
    job_data["steps"] = _steps(job, options, facts, where)
    return job_data


def _reports_manifest(f: StageFacts, mode: str) -> bool:
    """Whether the job uploads outputs, and so reports their manifest's digest."""
    return mode != "review" and (mode == "release" or f.dry_run_outputs)


def _steps(job: Job, options: Options, facts: dict[str, StageFacts],
           where: dict[str, str]) -> list[dict[str, object]]:
    main = [u for u in job.units if u.mode != "review" or not job.packed]
    reviews = [u for u in job.units if u not in main]
    mode = main[0].mode
    dry = mode != "release"
    f = facts[main[0].stage]
    ran = {u.stage for u in main}
    out: list[dict[str, object]] = [steps.checkout(), steps.setup_python(), steps.install()]
    if any(_runs_build(facts[u.stage], u.mode) for u in job.units):
        out.append(steps.apparmor())
    # the needs of the job's stages that other jobs built, in the order they are named
    outside = list(dict.fromkeys(n for u in main for n in facts[u.stage].needs
                                 if n not in ran))
    if outside:
        out.append(steps.download(outside))
    env: dict[str, str] = {}
    if not dry and not job.packed:
        if f.token:
            env[JOB_TOKEN] = "${{ github.token }}"
        env.update({name: f"${{{{ secrets.{name} }}}}" for name in f.secrets})
    # every need, sandboxed or not, reported the digest of its manifest as a job output:
    # the hand-off is bound by GitHub, never only by what the artifact store serves
    prefix = "dry-run-" if mode == "dry-run" else ""
    digests = {steps.manifest_variable(n):
               f"${{{{ needs.{where[prefix + n]}.outputs.{steps.manifest_output(n)} }}}}"
               for n in outside}
    if f.sandboxed and digests:
        out.append(steps.check_digests(digests))
    env.update(digests)
    report = (f"{steps.OUT}/review-{f.stage}.md" if mode == "review" else None)
    minutes = min(MAX_JOB_MINUTES, sum(facts[u.stage].minutes for u in main))
    out.append(steps.run_stage(options.pipeline, [u.stage for u in main], dry_run=dry,
                               has_inputs=bool(outside), report=report, env=env,
                               minutes=minutes, sandboxed=f.sandboxed, expect=outside,
                               isolated=f.system == "linux"))
    if f.sandboxed and _reports_manifest(f, mode):
        out.append(steps.report_manifest(f.stage))
    for unit in reviews:
        # after the run, on the outputs it made and reported: bound like a job's hand-off
        needs = facts[unit.stage].needs
        review_env = {steps.manifest_variable(n):
                      f"${{{{ steps.run.outputs.{steps.manifest_output(n)} }}}}" for n in needs}
        path = f"{steps.OUT}/review-{unit.stage}.md"
        out.append(steps.run_stage(
            options.pipeline, [unit.stage], dry_run=True, has_inputs=bool(needs),
            report=path, env=review_env, minutes=facts[unit.stage].minutes, sandboxed=False,
            expect=needs, artifacts=steps.OUT, out=f"{steps.REVIEWS}/{unit.stage}",
            step_id=f"review-{unit.stage}"))
    if report:
        out.append(steps.upload_report(f.stage, report))
    else:
        out += [steps.upload(u.stage) for u in main if _reports_manifest(facts[u.stage], mode)]
    out += [steps.upload_report(u.stage, f"{steps.OUT}/review-{u.stage}.md") for u in reviews]
    return out


def _runs_build(f: StageFacts, mode: str) -> bool:
    """Whether the stage builds from source in this mode (and so needs bubblewrap)."""
    return (f.builds and not (mode != "release" and f.planned_in_dry_run) and not f.sandboxed
            and f.system == "linux")


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
