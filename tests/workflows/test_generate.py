"""The generated release workflow: least privilege per job, pinned, clean for zizmor and schema."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from release.errors import PipelineError
from release.permissions import Level
from release.workflows.facts import stage_facts
from release.workflows.generate import Options, generate, read_marker, tag_filter
from release.workflows.pins import PINS
from tests.workflows import realtools
from tests.workflows.samples import (
    FULL,
    LOCAL,
    REPO,
    committed_pipelines,
    job_set,
    parse,
    per_stage,
    pipeline,
    run_step,
)

_USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+)", re.MULTILINE)


def _write(tmp_path: Path, text: str, name: str = "release.yml") -> Path:
    path = tmp_path / ".github" / "workflows" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("path", committed_pipelines(), ids=lambda p: p.name)
def test_every_committed_pipeline_passes_zizmor_and_the_schema(path: Path,
                                                               tmp_path: Path) -> None:
    from release.pipeline.load import load

    text = generate(load(path), Options(f"pipelines/{path.name}"))
    out = _write(tmp_path, text)
    assert realtools.zizmor(out) == []
    assert realtools.schema_errors(out) == ""


@pytest.mark.parametrize("sample", [FULL, LOCAL], ids=["full", "local"])
def test_samples_pass_zizmor_and_the_schema(sample: str, tmp_path: Path) -> None:
    out = _write(tmp_path, generate(pipeline(sample), Options("pipelines/sample.yaml")))
    assert realtools.zizmor(out) == []
    assert realtools.schema_errors(out) == ""


def test_each_release_job_has_exactly_its_stages_permissions() -> None:
    loaded = pipeline(per_stage(FULL))
    wf = parse(generate(loaded, Options("pipelines/sample.yaml")))
    assert wf["permissions"] == {}
    jobs = job_set(wf, "push")
    for sid, perms in loaded.permissions.items():
        assert jobs[sid]["permissions"] == perms.as_dict(), sid
    # the privileged ones, spelled out
    assert jobs["sign"]["permissions"] == {"id-token": "write"}
    assert jobs["image"]["permissions"] == {"packages": "write"}
    assert jobs["tool"]["permissions"] == {}


def test_dry_run_jobs_have_no_write_permission_no_oidc_no_secret() -> None:
    text = generate(pipeline(per_stage(FULL)), Options("pipelines/sample.yaml"))
    wf = parse(text)
    dry = job_set(wf, "workflow_dispatch")
    # keyless sign and the push are planned only, so nothing downstream of them
    assert sorted(dry) == ["dry-run-checksums", "dry-run-image", "dry-run-keysign",
                           "dry-run-notes", "dry-run-sign", "dry-run-tool"]
    for jid, job in dry.items():
        assert all(level == "read" for level in job["permissions"].values()), jid
        assert "id-token" not in job["permissions"]
        assert "environment" not in job
        step = run_step(job)
        assert "--dry-run" in step["run"].split()
        # only the digests of the needs' manifests, from their jobs' outputs
        assert all(k.startswith("MANIFEST_") and v.startswith("${{ needs.dry-run-")
                   for k, v in step.get("env", {}).items()), jid
        assert all(n.startswith("dry-run-") for n in job.get("needs", []))
    assert dry["dry-run-image"]["permissions"] == {"packages": "read"}
    # planned only (external, or reads a credential): nothing to upload, except what a
    # dry-run still builds (the image it would push)
    for jid in ("dry-run-sign", "dry-run-keysign"):
        assert not any("upload-artifact" in s.get("uses", "") for s in dry[jid]["steps"]), jid
    for jid in ("dry-run-tool", "dry-run-image"):
        assert any("upload-artifact" in s.get("uses", "") for s in dry[jid]["steps"]), jid
    assert "secrets." not in "".join(str(j) for j in dry.values())


def test_publishing_jobs_wait_for_a_review_and_an_environment() -> None:
    wf = parse(generate(pipeline(per_stage(FULL)), Options("pipelines/sample.yaml", "prod")))
    jobs = job_set(wf, "push")
    # the ghcr push publishes: reviewed in dry-run, then approved in the environment
    assert jobs["image"]["environment"] == "prod"
    assert "review-image" in jobs["image"]["needs"]
    review = jobs["review-image"]
    assert review["permissions"] == {"packages": "read"} and "environment" not in review
    step = run_step(review)
    assert "--dry-run" in step["run"] and "--report" in step["run"]
    # a key signature holds a secret: environment, no review (its effects are local)
    assert jobs["keysign"]["environment"] == "prod"
    assert "review-keysign" not in jobs
    assert run_step(jobs["keysign"])["env"] == {
        "SIGNING_PASSPHRASE": "${{ secrets.SIGNING_PASSPHRASE }}",
        "MANIFEST_CHECKSUMS": "${{ needs.checksums.outputs.manifest-checksums }}"}
    # keyless signing writes a permanent, public Rekor entry under the release workflow's
    # identity: reviewed in dry-run (no OIDC token there), then approved in the environment
    assert jobs["sign"]["environment"] == "prod"
    assert jobs["sign"]["needs"] == ["checksums", "review-sign"]
    review = jobs["review-sign"]
    assert review["permissions"] == {} and "environment" not in review
    assert review["needs"] == ["checksums"]
    assert "--report" in run_step(review)["run"]
    assert run_step(jobs["sign"])["env"] == {  # no secret, only the hand-off digest
        "MANIFEST_CHECKSUMS": "${{ needs.checksums.outputs.manifest-checksums }}"}
    # the header says which jobs wait for the approval
    text = generate(pipeline(per_stage(FULL)), Options("pipelines/sample.yaml", "prod"))
    assert "# Approved in environment `prod` before they run: sign, keysign, image.\n" in text
    local = generate(pipeline(per_stage(LOCAL)), Options("pipelines/sample.yaml", "prod"))
    assert "Approved in environment" not in local and "id-token" not in local


def test_needs_timeouts_and_bwrap_profile_follow_the_stages() -> None:
    loaded = pipeline(per_stage(FULL))
    wf = parse(generate(loaded, Options("pipelines/sample.yaml")))
    jobs = job_set(wf, "push")
    facts = stage_facts(loaded)
    for sid, f in facts.items():
        assert [n for n in jobs[sid].get("needs", []) if not n.startswith("review-")] == \
            list(f.needs)
        assert run_step(jobs[sid])["timeout-minutes"] == f.minutes
        assert jobs[sid]["timeout-minutes"] == f.minutes + 15
        names = [s["name"] for s in jobs[sid]["steps"]]
        assert ("Let bubblewrap (only) create user namespaces" in names) == f.builds, sid
    assert run_step(jobs["tool"])["timeout-minutes"] == 10
    apparmor = next(s for s in jobs["tool"]["steps"] if "apparmor_parser" in s.get("run", ""))
    assert "profile bwrap /usr/bin/bwrap flags=(unconfined)" in apparmor["run"]
    assert "kernel.apparmor_restrict_unprivileged_userns" not in apparmor["run"]


def test_every_uses_is_pinned_from_the_table_and_no_expression_is_in_run() -> None:
    text = generate(pipeline(FULL), Options("pipelines/sample.yaml"))
    pinned = {p.uses for p in PINS}
    uses = _USES.findall(text)
    assert uses and set(uses) <= pinned
    for line in text.splitlines():
        if "uses:" in line:
            assert re.search(r"@[0-9a-f]{40}\s+# v\d", line), line
    for job in parse(text)["jobs"].values():
        for step in job["steps"]:
            assert "${{" not in step.get("run", ""), step["name"]
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False


def test_triggers_and_concurrency() -> None:
    wf = parse(generate(pipeline(FULL.replace('"v*"', '"release-1.*+"')),
                        Options("pipelines/sample.yaml")))
    assert wf["on"]["push"] == {"tags": ["release-1.*\\+"]}
    assert "workflow_dispatch" in wf["on"] and "branches" not in wf["on"]["push"]
    assert wf["concurrency"] == {"group": "release-${{ github.ref }}",
                                 "cancel-in-progress": False}


def test_tag_patterns_github_cannot_express_are_refused() -> None:
    assert tag_filter("!v*") == "\\!v*"
    with pytest.raises(PipelineError, match=r"\[!") as info:
        generate(pipeline(LOCAL.replace('"v*"', '"v[!0]*"')), Options("pipelines/sample.yaml"))
    assert str(info.value.location) == "pipelines/sample.yaml:4:9"


def test_output_is_stable_and_records_how_it_was_made() -> None:
    loaded = pipeline(LOCAL)
    options = Options("pipelines/local.yaml", "release-env")
    text = generate(loaded, options)
    assert text == generate(pipeline(LOCAL), options)
    assert read_marker(text) == options
    assert text.startswith("# Generated by `release workflow generate pipelines/local.yaml`")


def test_sandboxed_stage_runs_through_sandboxed_step() -> None:
    """`sandbox: true` is not in the pipeline model yet; the generator reads it if present."""
    loaded = pipeline(LOCAL)
    docs = loaded.model.stages["docs"]
    # what a future `sandbox: true` key will look like to the generator
    loaded.model.stages["docs"] = docs.model_copy(update={"sandbox": True})
    wf = parse(generate(loaded, Options("pipelines/sample.yaml")))
    step = run_step(wf["jobs"]["docs"])
    assert step["uses"].startswith("geomys/sandboxed-step@")
    assert step["with"]["persist-workspace-changes"] == "true"
    assert step["with"]["run"].startswith("release run pipelines/sample.yaml --stage docs")
    assert not any("apparmor" in s.get("run", "") for s in wf["jobs"]["docs"]["steps"])
    # credentials never enter a sandboxed step
    full = pipeline(FULL)
    full.model.stages["sign"] = full.model.stages["sign"].model_copy(update={"sandbox": True})
    with pytest.raises(PipelineError, match="sandbox: true but has permissions"):
        generate(full, Options("pipelines/sample.yaml"))


def test_read_only_projection() -> None:
    facts = stage_facts(pipeline(FULL))
    assert facts["image"].read_only.as_dict() == {"packages": "read"}
    assert facts["sign"].read_only.as_dict() == {}
    assert all(lvl == Level.READ for f in facts.values() for lvl in f.read_only.values())


def test_a_stage_id_colliding_with_a_generated_job_is_refused() -> None:
    clash = per_stage(LOCAL).replace("  docs:\n", "  dry-run-notes:\n").replace(
        "[tool, docs, notes]", "[tool, dry-run-notes]")
    with pytest.raises(PipelineError, match="'dry-run-notes' would be generated twice") as info:
        generate(pipeline(clash), Options("pipelines/sample.yaml"))
    assert str(info.value.location) == "pipelines/sample.yaml:15:3"  # the stage id


def test_the_job_token_is_github_token_never_a_repository_secret() -> None:
    from release.pipeline.load import load

    loaded = load(REPO / "pipelines" / "release.yaml")
    text = generate(loaded, Options("pipelines/release.yaml"))
    assert "secrets." not in text
    jobs = job_set(parse(text), "push")
    for sid, perms in loaded.permissions.items():
        (job,) = [j for j in jobs.values() if f"--stage {sid} " in run_step(j)["run"]
                  and "--report" not in run_step(j)["run"]]
        env = {k: v for k, v in run_step(job).get("env", {}).items()
               if not k.startswith("MANIFEST_")}
        if perms.has_github_access():
            assert env == {"GITHUB_TOKEN": "${{ github.token }}"}, sid
        else:
            assert "GITHUB_TOKEN" not in env, sid
