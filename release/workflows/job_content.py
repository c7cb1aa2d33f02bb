"""One job of the generated release workflow, as data: its name, condition, permissions,
approval environment, timeout, the manifest digests it reports, and its steps.

Which stages share a job is :mod:`release.workflows.jobs`'s; the workflow around the
jobs is :mod:`release.workflows.generate`'s.
"""

from __future__ import annotations

from release.permissions import PermissionSet
from release.workflows import steps
from release.workflows.facts import JOB_TOKEN, StageFacts
from release.workflows.jobs import Job, Unit
from release.workflows.yamlemit import Note

#: Minutes a job may spend before and after its stage: checkout, install, transfers.
SETUP_MINUTES = 15
MAX_JOB_MINUTES = 360


def _title(unit: Unit) -> str:
    return {"release": unit.stage, "review": f"review {unit.stage}",
            "dry-run": f"dry-run {unit.stage}"}[unit.mode]


def job_content(job: Job, facts: dict[str, StageFacts], where: dict[str, str], *,
                pipeline: str, environment: str) -> dict[str, object]:
    """The job as data: ``where`` maps each unit id to the id of the job that runs it;
    ``pipeline`` is the pipeline's path from the repository root and ``environment`` the
    default approval environment."""
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
        job_data["environment"] = f.environment or environment
    minutes = sum(facts[u.stage].minutes for u in job.units)
    job_data["timeout-minutes"] = min(MAX_JOB_MINUTES, minutes + SETUP_MINUTES)
    if reporting := [u.stage for u in job.units if _reports_manifest(facts[u.stage], u.mode)]:
        # the digest of each manifest it uploads: later jobs check the hand-off against it;
        # a sandboxed run cannot write the step output, a step after it hashes the manifest
        step = "digest" if f.sandboxed else "run"
        job_data["outputs"] = {steps.manifest_output(s):
                               f"${{{{ steps.{step}.outputs.{steps.manifest_output(s)} }}}}"
                               for s in reporting}
    job_data["steps"] = _steps(job, pipeline, facts, where)
    return job_data


def _reports_manifest(f: StageFacts, mode: str) -> bool:
    """Whether the job uploads outputs, and so reports their manifest's digest."""
    return mode != "review" and (mode == "release" or f.dry_run_outputs)


def _steps(job: Job, pipeline: str, facts: dict[str, StageFacts],
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
    out.append(steps.run_stage(pipeline, [u.stage for u in main], dry_run=dry,
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
            pipeline, [unit.stage], dry_run=True, has_inputs=bool(needs),
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
