"""Keyless signing waits for the approval: no OIDC token before a reviewer says yes.

A job with ``id-token: write`` can get a Sigstore certificate for the release workflow's
identity and write a permanent, public Rekor entry, which ``release verify`` accepts. So
the generated workflow must run every such job on the tag push only, after a review job
that showed what it will sign, and in a protected environment; the dispatch dry-run never
mints a token. Checked here on every committed pipeline and on pipelines with signing,
attestation and OIDC-holding command stages at different places in the DAG.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest

from release.pipeline.load import load, load_text
from release.workflows.facts import stage_facts
from release.workflows.generate import Options, generate
from tests.workflows.samples import committed_pipelines

REPO = Path(__file__).resolve().parents[2]
ENVIRONMENT = "release-approval"

_HEAD = 'version: 1\nname: shape\nsource:\n  tags: "v*"\nstages:\n'
_TOOL = ("  tool:\n    kind: command\n    run: [\"sh\", \"-c\", \"printf t > {out}/tool\"]\n"
         "    outputs: [\"tool\"]\n")

#: Pipelines whose stages with ``id-token: write`` sit at different places of the DAG.
SHAPES = {
    # signing right after the build, with a local stage downstream of the signatures
    "sign-first": _HEAD + _TOOL + """\
  sign:
    kind: sign
    needs: [tool]
    artifacts: all
  sums:
    kind: checksums
    needs: [tool, sign]
""",
    # provenance in the middle, then checksums, a signature of them and a publication
    "attest-in-the-middle": _HEAD + _TOOL + """\
  provenance:
    kind: attest
    needs: [tool]
  sums:
    kind: checksums
    needs: [tool, provenance]
  sign:
    kind: sign
    needs: [sums]
  publish:
    kind: github-release
    needs: [tool, provenance, sums, sign]
""",
    # a command stage that holds the OIDC token, with no needs at all, and a dependant
    "oidc-command-at-the-root": _HEAD + """\
  oidc:
    kind: command
    run: ["sh", "-c", "printf x > {out}/x"]
    outputs: ["x"]
    permissions: {id-token: write}
  sums:
    kind: checksums
    needs: [oidc]
""",
    # one signing stage feeding another, beside an OIDC command at the end of the DAG
    "chained-and-last": _HEAD + _TOOL + """\
  sums:
    kind: checksums
    needs: [tool]
  sign:
    kind: sign
    needs: [sums]
  provenance:
    kind: attest
    needs: [tool, sign]
  upload:
    kind: command
    needs: [provenance]
    run: ["sh", "-c", "printf u > {out}/u"]
    outputs: ["u"]
    permissions: {id-token: write, contents: read}
""",
}


def _cases() -> list[Any]:
    cases = [pytest.param(path, id=path.relative_to(REPO).as_posix())
             for path in committed_pipelines()]
    return cases + [pytest.param(name, id=name) for name in SHAPES]


def _workflow(case: Path | str) -> tuple[dict[str, Any], set[str]]:
    """The generated workflow, parsed, and the ids of the stages with id-token: write."""
    if isinstance(case, Path):
        loaded = load(case)
        name = case.relative_to(REPO).as_posix()
    else:
        name = f"pipelines/{case}.yaml"
        loaded = load_text(SHAPES[case], name, Path(name))
    text = generate(loaded, Options(name, ENVIRONMENT))
    import yaml

    data: dict[Any, Any] = yaml.safe_load(text)
    oidc = {sid for sid, f in stage_facts(loaded).items()
            if f.permissions.as_dict().get("id-token") == "write"}
    return data, oidc


def _mints_oidc(job: dict[str, Any]) -> bool:
    perms = job.get("permissions")
    return perms == "write-all" or (isinstance(perms, dict) and perms.get("id-token") == "write")


def _ancestors(jobs: dict[str, dict[str, Any]], jid: str) -> set[str]:
    seen: set[str] = set()
    todo = list(jobs[jid].get("needs", []))
    while todo:
        need = todo.pop()
        if need not in seen:
            seen.add(need)
            todo += jobs[need].get("needs", [])
    return seen


def _reviewed(job: dict[str, Any]) -> set[str]:
    """The stages a job dry-runs with a review report (a packed job may review several)."""
    found = set()
    for step in job.get("steps", []):
        argv = shlex.split(step.get("run", ""))
        if argv[:2] == ["release", "run"] and "--dry-run" in argv and "--report" in argv:
            (stage,) = [argv[i + 1] for i, a in enumerate(argv) if a == "--stage"]
            found.add(stage)
    return found


def test_the_shapes_have_oidc_stages_where_intended() -> None:
    assert {case: sorted(_workflow(case)[1]) for case in SHAPES} == {
        "sign-first": ["sign"],
        "attest-in-the-middle": ["provenance", "sign"],
        "oidc-command-at-the-root": ["oidc"],
        "chained-and-last": ["provenance", "sign", "upload"],
    }
    assert sorted(_workflow(REPO / "pipelines" / "release.yaml")[1]) == [
        "provenance", "pypi", "sign"]


@pytest.mark.parametrize("case", _cases())
def test_oidc_jobs_run_only_after_their_review_in_the_protected_environment(
        case: Path | str) -> None:
    wf, oidc = _workflow(case)
    jobs: dict[str, dict[str, Any]] = wf["jobs"]
    minting = {jid for jid, job in jobs.items() if _mints_oidc(job)}
    # exactly the release jobs of the OIDC stages mint a token: no review, no dry-run job
    assert minting == oidc
    for jid in minting:
        job = jobs[jid]
        assert job["if"] == "github.event_name == 'push'", jid
        # the approval: a protected environment on the job itself (the release's, or one
        # of the stage's own, as PyPI's trusted publisher names `pypi`)
        assert job.get("environment") in (ENVIRONMENT, "pypi"), jid
        # ... asked only once a review job has shown what this very stage will sign
        reviews = {a for a in _ancestors(jobs, jid) if jid in _reviewed(jobs[a])}
        assert reviews, f"job {jid!r} can start before any review of what it signs"
        for review in reviews:
            assert not _mints_oidc(jobs[review]) and "environment" not in jobs[review]
            assert jobs[review]["if"] == "github.event_name == 'push'"


@pytest.mark.parametrize("case", _cases())
def test_the_dispatch_dry_run_never_signs(case: Path | str) -> None:
    wf, _ = _workflow(case)
    for jid, job in wf["jobs"].items():
        if job["if"] != "github.event_name == 'push'":
            assert job["if"] == "github.event_name == 'workflow_dispatch'", jid
            assert not _mints_oidc(job), jid
            assert "environment" not in job, jid
            assert "--dry-run" in shlex.split(
                next(s["run"] for s in job["steps"] if s.get("id") == "run")), jid
            # and it waits for nothing that could: its needs are dry-run jobs too
            assert all(wf["jobs"][n]["if"] == job["if"] for n in job.get("needs", [])), jid


def test_the_committed_release_workflow_is_gated_too() -> None:
    """What runs is the committed file: it must hold the same guarantee."""
    import yaml

    jobs: dict[str, dict[str, Any]] = yaml.safe_load(
        (REPO / ".github" / "workflows" / "release.yml").read_text(encoding="utf-8"))["jobs"]
    minting = {jid for jid, job in jobs.items() if _mints_oidc(job)}
    assert minting == {"sign", "provenance", "pypi"}
    for jid in minting:
        assert jobs[jid]["environment"], jid
        assert any(jid in _reviewed(jobs[a]) for a in _ancestors(jobs, jid)), jid
