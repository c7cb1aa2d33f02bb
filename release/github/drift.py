"""Drift protection: in GitHub Actions, the running job may not hold more than its stage needs.

The generated workflow gives each job exactly its stage's ``permissions:``; a hand edit
that widens them (or drops the block, which falls back to the repository default,
possibly write-all) is caught here before the stage does anything. The job is found
through ``GITHUB_WORKFLOW_REF`` (``owner/repo/.github/workflows/f.yml@ref``) and
``GITHUB_JOB``, and read from the checkout.
https://docs.github.com/en/actions/writing-workflows/choosing-what-your-workflow-does/store-information-in-variables#default-environment-variables
https://docs.github.com/en/actions/writing-workflows/workflow-syntax-for-github-actions#permissions
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from release.errors import Location, ReleaseError, StageFailed
from release.permissions import NAMES, Level, PermissionSet


def _fail(message: str, hint: str, location: Location | None = None) -> StageFailed:
    # the runner reports a failed stage by its message, so the position goes in there
    return StageFailed(f"{location}: {message}" if location else message, hint)


def job_permissions(value: object, where: Location) -> PermissionSet:
    """A job's ``permissions:`` value as a set (``read-all``, ``write-all``, ``{}``, mapping)."""
    if value == "read-all":
        return PermissionSet({n: Level.READ for n in NAMES if n != "id-token"})
    if value == "write-all":
        return PermissionSet(dict.fromkeys(NAMES, Level.WRITE))
    if not isinstance(value, dict):
        raise _fail(f"permissions: {value!r} is not a mapping, read-all or write-all",
                    "see the workflow syntax for `permissions`", where)
    levels: dict[str, Level] = {}
    for name, level in value.items():
        if name not in NAMES or str(level) not in ("none", "read", "write"):
            raise _fail(f"unknown permission `{name}: {level}` in the job", "fix the workflow",
                        where)
        levels[str(name)] = Level[str(level).upper()]
    return PermissionSet(levels)


def check_job_permissions(env: Mapping[str, str], root: Path, needed: PermissionSet, *,
                          stage: str, uses_job_token: bool) -> str | None:
    """Outside Actions: None. In Actions: a note when the job matches; else StageFailed.

    More than ``needed`` always fails. Less fails only when the stage uses the job's
    ``GITHUB_TOKEN`` (an App or personal token does not depend on the job's grant).
    """
    if env.get("GITHUB_ACTIONS") != "true":
        return None
    from release.yamlsource import parse, read_text

    ref, job = env.get("GITHUB_WORKFLOW_REF", ""), env.get("GITHUB_JOB", "")
    parts = ref.split("@", 1)[0].split("/", 2)
    if len(parts) < 3 or not job:
        raise _fail("cannot check the job's permissions: GITHUB_WORKFLOW_REF or GITHUB_JOB "
                    "is not set", "run the stage from a GitHub Actions job")
    rel = parts[2]
    path = root / rel
    if not path.is_file():
        raise _fail(f"cannot check the job's permissions: {rel} (from GITHUB_WORKFLOW_REF) is "
                    "not in the checkout", "check out the repository the workflow belongs to")
    try:
        doc = parse(read_text(path), rel)
    except ReleaseError as exc:
        raise _fail(f"cannot read {rel}: {exc.message}", "fix the workflow file",
                    exc.location) from None
    data = doc.data if isinstance(doc.data, dict) else {}
    jobs = data.get("jobs")
    job_def = jobs.get(job) if isinstance(jobs, dict) else None
    if not isinstance(job_def, dict):
        raise _fail(f"job {job!r} is not in {rel}", "run the stage from the generated workflow",
                    doc.location(("jobs",)))
    if "permissions" in job_def:
        key: tuple[str, ...] = ("jobs", job, "permissions")
        granted = job_permissions(job_def["permissions"], doc.location(key))
    elif "permissions" in data:
        key = ("permissions",)
        granted = job_permissions(data["permissions"], doc.location(key))
    else:
        raise _fail(f"job {job!r} in {rel} sets no `permissions:`, so its token gets the "
                    "repository default, which may be write-all",
                    f"give the job exactly `permissions: {needed.as_dict()}`",
                    doc.location(("jobs", job), key=True))
    where = doc.location(key, key=True)
    excess = granted.excess_over(needed)
    if excess:
        extra = ", ".join(f"{n}: {lvl}" for n, lvl in excess.items())
        raise _fail(f"job {job!r} grants {extra} beyond what stage {stage!r} needs "
                    f"({needed.describe()})",
                    f"set the job's permissions to exactly {needed.as_dict()}; regenerate the "
                    "workflow if it was edited by hand", where)
    if uses_job_token and not granted.covers(needed):
        lacking = ", ".join(f"{n}: {lvl}" for n, lvl in needed.items()
                            if granted.get_level(n) < lvl)
        raise _fail(f"job {job!r} lacks {lacking}, which stage {stage!r} needs",
                    f"set the job's permissions to exactly {needed.as_dict()}", where)
    return f"job {job!r} grants exactly what the stage needs ({granted.describe()})"
