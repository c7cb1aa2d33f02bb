"""The audit rules on the token each job gets: the top-level default, write permissions
where code is built, and OIDC tokens (``id-token: write``) near untrusted code or outside
a protected environment. :mod:`release.workflows.rules` lists them with their texts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from release.workflows import detect
from release.workflows.document import WRITE_ALL, Workflow, writes
from release.workflows.findings import Hit
from release.yamlsource import YamlPath

_PR_EVENTS = frozenset({"pull_request", "pull_request_target", "pull_request_review",
                        "pull_request_review_comment", "issue_comment", "workflow_run"})


def top_level_permissions(wf: Workflow) -> Iterator[Hit]:
    if "permissions" not in wf.data:
        yield Hit((), "no top-level `permissions:`: every job without its own gets the "
                  "repository's default token permissions")
    elif wf.data["permissions"] != {}:
        yield Hit(("permissions",), "top-level permissions are "
                  f"{_describe(wf.data['permissions'])}, granted to every job", key=True)


def write_in_build_job(wf: Workflow) -> Iterator[Hit]:
    for job in wf.jobs():
        # id-token is not a repository write; id-token-untrusted covers it
        granted = [n for n in writes(wf.permissions(job)) if n != "id-token"]
        if not granted:
            continue
        building = [s for s in wf.steps(job) if detect.builds_or_tests(wf, s)]
        if building:
            what = _describe(wf.permissions(job))
            yield Hit(_permissions_path(wf, job),
                      f"job {job!r} builds or tests (step {building[0].index + 1}) with "
                      f"write permissions ({what})")


def _mints_oidc(perms: Any) -> bool:
    """Whether a job's effective permissions let it request an OIDC token (the
    repository's default token never has ``id-token: write``)."""
    return perms == WRITE_ALL or (isinstance(perms, dict) and perms.get("id-token") == "write")


def _id_token_path(wf: Workflow, job: str) -> YamlPath:
    path = _permissions_path(wf, job)
    return (*path, "id-token") if isinstance(wf.permissions(job), dict) else path


def id_token_untrusted(wf: Workflow) -> Iterator[Hit]:
    pr_events = sorted(_PR_EVENTS & set(wf.triggers()))
    for job in wf.jobs():
        perms = wf.permissions(job)
        if not _mints_oidc(perms):
            continue
        reasons = []
        for step in wf.steps(job):
            if detect.builds_or_tests(wf, step):
                reasons.append(f"step {step.index + 1} builds or tests code")
            elif detect.unlocked_install(step):
                reasons.append(f"step {step.index + 1} installs packages no hash lock pins")
        if pr_events and any(s.action == "actions/checkout" for s in wf.steps(job)):
            reasons.append(f"the workflow runs on {', '.join(pr_events)} and checks out code")
        if reasons:
            yield Hit(_id_token_path(wf, job), f"job {job!r} can mint an OIDC token while "
                      "untrusted code runs: " + "; ".join(reasons))


def id_token_outside_environment(wf: Workflow) -> Iterator[Hit]:
    """A job that can sign as the workflow must itself wait for an approval.

    Only the job's own ``environment:`` is enough: waiting for another job's approval
    through ``needs:`` does not hold when the job is re-run, or when an ``if:`` such as
    ``always()`` lets it run after a rejection, and its token then names no environment.
    """
    jobs = wf.jobs()
    gated = [j for j, data in jobs.items() if data.get("environment")]
    for job, data in jobs.items():
        # a reusable workflow call cannot take `environment:`; the called jobs can
        if "uses" in data or data.get("environment") or not _mints_oidc(wf.permissions(job)):
            continue
        approved = sorted(_ancestors(jobs, job) & set(gated))
        if approved:
            why = (f"it waits for {', '.join(map(repr, approved))}, but a re-run of it is "
                   "not approved again")
        elif gated:
            run = "runs" if len(gated) == 1 else "run"
            why = (f"it does not wait for {', '.join(map(repr, gated))}, which {run} in an "
                   "environment, so it can sign before the approval")
        else:
            why = "no job of the workflow waits for an approval"
        yield Hit(_id_token_path(wf, job), f"job {job!r} can mint an OIDC token outside a "
                  f"protected environment: {why}")


def _ancestors(jobs: dict[str, dict[str, Any]], job: str) -> set[str]:
    """Every job ``job`` waits for through ``needs:``, directly or not."""
    seen: set[str] = set()
    todo = [job]
    while todo:
        needs = jobs.get(todo.pop(), {}).get("needs", [])
        for need in [needs] if isinstance(needs, str) else needs:
            if isinstance(need, str) and need not in seen:
                seen.add(need)
                todo.append(need)
    return seen


def _permissions_path(wf: Workflow, job: str) -> YamlPath:
    if "permissions" in wf.jobs()[job]:
        return ("jobs", job, "permissions")
    return ("permissions",) if "permissions" in wf.data else ("jobs", job)


def _describe(perms: Any) -> str:
    if perms is None:
        return "the repository default"
    if isinstance(perms, dict):
        return ", ".join(f"{k}: {v}" for k, v in perms.items()) or "{}"
    return str(perms)
