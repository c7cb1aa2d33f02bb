"""A simulated run of the generated workflow: every job in its own fresh clone, seeing only
the artifacts its ``needs`` uploaded, must end with the manifest of a local full run.

The jobs' ``release run`` steps are executed as generated (parsed from the workflow
text); upload-artifact and download-artifact are replayed with their documented
semantics: an upload keeps paths relative to the least common ancestor of its ``path``
lines, a download with ``pattern`` and ``merge-multiple`` extracts every matching
artifact into one directory. Checkout, setup-python and the install step are the only
steps not replayed: this machine already has the tool installed, and a clone stands in
for the checkout.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from release.workflows.generate import Options, generate
from tests.conftest import CliResult, Repo
from tests.workflows.samples import FULL, LOCAL, REPO, job_set, parse

PIPELINE = "pipelines/sample.yaml"


def _order(jobs: dict[str, dict[str, Any]]) -> list[str]:
    done: list[str] = []
    while len(done) < len(jobs):
        ready = [j for j in jobs if j not in done
                 and all(n in done for n in jobs[j].get("needs", []))]
        assert ready, "the jobs' needs form a cycle"
        done += sorted(ready)
    return done


def _expand(pattern: str) -> list[str]:
    """minimatch's brace expansion, as download-artifact applies it to artifact names."""
    if "{" not in pattern:
        return [pattern]
    head, _, rest = pattern.partition("{")
    body, _, tail = rest.partition("}")
    return [head + part + tail for part in body.split(",")]


def _upload(checkout: Path, spec: dict[str, Any], store: Path) -> None:
    paths = [checkout / line for line in spec["path"].split("\n") if line.strip()]
    existing = [p for p in paths if p.exists()]
    if spec.get("if-no-files-found") == "error":
        assert existing == paths, f"upload {spec['name']}: missing {set(paths) - set(existing)}"
    root = Path(os.path.commonpath(existing)) if len(existing) > 1 else existing[0].parent
    dest = store / spec["name"]
    assert not dest.exists(), f"artifact {spec['name']} uploaded twice"
    for path in existing:
        target = dest / path.relative_to(root)
        if path.is_dir():
            shutil.copytree(path, target)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


def _download(checkout: Path, spec: dict[str, Any], store: Path) -> None:
    assert spec["merge-multiple"] is True
    dest = checkout / spec["path"]
    for name in _expand(spec["pattern"]):
        assert (store / name).is_dir(), f"artifact {name} was never uploaded"
        shutil.copytree(store / name, dest, dirs_exist_ok=True)


def simulate(repo: Repo, text: str, event: str, tmp: Path, cli: Callable[..., CliResult],
             only: set[str] | None = None, approve: bool = True,
             tamper: tuple[str, Callable[[Path], None]] | None = None) -> Path:
    """Run the jobs of ``event`` (or ``only`` those); returns the artifact store.

    With ``approve=False`` no deployment is approved: a job with ``environment:`` waits
    forever, and so does every job that needs it, as GitHub leaves them pending. With
    ``tamper=(JOB, change)``, ``change(store)`` runs before job JOB: an artifact store
    that serves something else than what was uploaded.
    """
    store = tmp / "store"
    store.mkdir(parents=True)
    jobs = job_set(parse(text), event)
    outputs: dict[str, dict[str, str]] = {}  # job id -> its outputs, as GitHub keeps them
    pending: set[str] = set()
    for jid in _order(jobs):
        if only is not None and jid not in only:
            continue
        if (not approve and "environment" in jobs[jid]) or pending & set(jobs[jid].get("needs",
                                                                                     [])):
            pending.add(jid)
            continue
        if tamper is not None and tamper[0] == jid:
            tamper[1](store)
        checkout = tmp / "jobs" / jid
        subprocess.run(["git", "clone", "-q", str(repo.path), str(checkout)], check=True)
        step_outputs: dict[str, dict[str, str]] = {}
        for index, step in enumerate(jobs[jid]["steps"]):
            uses, script = step.get("uses", ""), step.get("run", "")
            # a job's later steps read its earlier steps' outputs (a packed job's reviews)
            env = {k: _expression(_expression(v, outputs), step_outputs, "steps")
                   for k, v in step.get("env", {}).items()}
            github_output = tmp / "jobs" / f"{jid}.{index}.output"
            if uses.startswith("actions/download-artifact@"):
                _download(checkout, step["with"], store)
            elif uses.startswith("actions/upload-artifact@"):
                _upload(checkout, step["with"], store)
            elif uses.startswith("geomys/sandboxed-step@"):
                # GitHub expands the input's expressions; the sandbox passes no outer
                # variable in, GITHUB_OUTPUT neither (the sandbox itself is not replayed)
                script = _expressions(step["with"]["run"], outputs)
                assert script.startswith("release run "), script
                result = cli(*shlex.split(script)[1:], cwd=checkout)
                assert result.code == 0, f"job {jid}: {result.err}"
            elif script.startswith("release run "):
                for name, value in env.items():
                    script = script.replace("${" + name + "}", value)
                with pytest.MonkeyPatch.context() as mp:
                    mp.setenv("GITHUB_OUTPUT", str(github_output))
                    result = cli(*shlex.split(script)[1:], cwd=checkout)
                assert result.code == 0, f"job {jid}: {result.err}"
            elif step["name"].startswith(_SHELL_STEPS):
                # the digest checks and reports around a sandboxed run, as bash runs them
                subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=checkout,
                               env={"PATH": os.environ["PATH"], **env,
                                    "GITHUB_OUTPUT": str(github_output)}, check=True)
            if "id" in step and github_output.exists():
                step_outputs[step["id"]] = dict(line.split("=", 1) for line in
                                                github_output.read_text().splitlines())
        outputs[jid] = {k: _expression(v, step_outputs, "steps")
                        for k, v in jobs[jid].get("outputs", {}).items()}
    return store


#: Shell steps replayed as they are (install and AppArmor steps are not).
_SHELL_STEPS = ("Check the manifest digests", "Report the manifest digest")


def _expressions(text: str, known: dict[str, dict[str, str]]) -> str:
    """Every ``${{ needs.J.outputs.K }}`` inside ``text``, as GitHub expands an input."""
    return re.sub(r"\$\{\{ needs\.[\w-]+\.outputs\.[\w-]+ \}\}",
                  lambda m: _expression(m[0], known), text)


def _expression(value: str, known: dict[str, dict[str, str]], scope: str = "needs") -> str:
    """``${{ needs.J.outputs.K }}`` (or ``steps.S.outputs.K``) from what was recorded."""
    match = re.fullmatch(r"\$\{\{ " + scope + r"\.([\w-]+)\.outputs\.([\w-]+) \}\}", value)
    if match is None:
        return value
    return known.get(match[1], {}).get(match[2], "")


def _merged(store: Path) -> list[dict[str, Any]]:
    arts = [a for m in sorted(store.glob("stage-*/manifests/*.json"))
            for a in json.loads(m.read_text())["artifacts"]]
    return sorted(arts, key=lambda a: a["path"])


@pytest.fixture
def sample(repo: Repo) -> tuple[Repo, str]:
    repo.write(PIPELINE, LOCAL)
    repo.commit("pipeline")
    repo.tag("v1.2.3")
    from release.pipeline.load import load

    text = generate(load(repo.path / PIPELINE), Options(PIPELINE))
    return repo, text


def test_tag_push_jobs_end_with_the_manifest_of_a_local_run(
        sample: tuple[Repo, str], tmp_path: Path, cli: Callable[..., CliResult]) -> None:
    repo, text = sample
    local = cli("run", PIPELINE, "--out", tmp_path / "local", cwd=repo.path)
    assert local.code == 0, local.err
    expected = json.loads((tmp_path / "local" / "manifest.json").read_text())["artifacts"]

    assert len(expected) == 5
    store = simulate(repo, text, "push", tmp_path / "sim", cli)
    assert sorted(p.name for p in store.iterdir()) == [
        "stage-checksums", "stage-docs", "stage-notes", "stage-tool"]
    assert _merged(store) == expected
    # no stage holds a credential: one job runs them all and downloads nothing
    assert [p.name for p in (tmp_path / "sim" / "jobs").iterdir() if p.is_dir()] == ["packed"]
    assert not (tmp_path / "sim" / "jobs" / "packed" / "_release" / "artifacts").exists()
    sums = (store / "stage-checksums" / "checksums" / "SHA256SUMS").read_text()
    assert {line.split()[1] for line in sums.splitlines()} == {".hidden", "NOTES", "docs.txt",
                                                               "tool"}


def test_per_stage_jobs_end_with_the_manifest_of_a_local_run(
        repo: Repo, tmp_path: Path, cli: Callable[..., CliResult]) -> None:
    """``jobs: per-stage``: every stage in its own job, each seeing only its needs."""
    repo.write(PIPELINE, LOCAL.replace("stages:\n", "jobs: per-stage\nstages:\n"))
    repo.commit("pipeline")
    repo.tag("v1.2.3")
    from release.pipeline.load import load

    text = generate(load(repo.path / PIPELINE), Options(PIPELINE))
    local = cli("run", PIPELINE, "--out", tmp_path / "local", cwd=repo.path)
    assert local.code == 0, local.err
    expected = json.loads((tmp_path / "local" / "manifest.json").read_text())["artifacts"]
    store = simulate(repo, text, "push", tmp_path / "sim", cli)
    assert _merged(store) == expected
    # each job saw only its needs: the docs job got notes, never tool
    docs_inputs = tmp_path / "sim" / "jobs" / "docs" / "_release" / "artifacts"
    assert sorted(p.name for p in docs_inputs.iterdir()) == ["manifests", "notes"]


def test_dispatch_dry_run_jobs_build_the_same_local_artifacts(
        sample: tuple[Repo, str], tmp_path: Path, cli: Callable[..., CliResult]) -> None:
    repo, text = sample
    local = cli("run", PIPELINE, "--dry-run", "--out", tmp_path / "local", cwd=repo.path)
    assert local.code == 0, local.err
    expected = json.loads((tmp_path / "local" / "manifest.json").read_text())["artifacts"]
    store = simulate(repo, text, "workflow_dispatch", tmp_path / "sim", cli)
    assert _merged(store) == expected


def test_a_tampered_artifact_fails_the_downstream_job(
        sample: tuple[Repo, str], tmp_path: Path, cli: Callable[..., CliResult]) -> None:
    repo, text = sample
    store = simulate_until(repo, text, tmp_path, cli, stop_before="checksums")
    (store / "stage-tool" / "tool" / "tool").write_text("swapped")
    checkout = tmp_path / "sim" / "jobs" / "checksums"
    subprocess.run(["git", "clone", "-q", str(repo.path), str(checkout)], check=True)
    _download(checkout, {"pattern": "stage-{tool,docs,notes}", "path": "_release/artifacts",
                         "merge-multiple": True}, store)
    result = cli("run", PIPELINE, "--stage", "checksums", "--artifacts", "_release/artifacts",
                 "--out", "_release/out", cwd=checkout)
    assert result.code == 1
    assert "changed after stage 'tool' produced it" in result.err


#: LOCAL with ``sandbox: true`` stages at the root (tool), consuming an unsandboxed
#: stage (docs, needing notes) and consuming another sandboxed stage (docs2, needing docs).
SANDBOXED = (LOCAL.replace('    outputs: ["tool", ".hidden"]\n',
                           '    outputs: ["tool", ".hidden"]\n    sandbox: true\n')
             .replace('    outputs: ["docs.txt"]\n', '    outputs: ["docs.txt"]\n'
                      '    sandbox: true\n  docs2:\n    kind: command\n'
                      '    needs: [docs]\n    run: ["sh", "-c", "printf 2 > {out}/docs2.txt"]\n'
                      '    outputs: ["docs2.txt"]\n    sandbox: true\n')
             .replace("needs: [tool, docs, notes]", "needs: [tool, docs, docs2, notes]"))


@pytest.fixture
def sandboxed(repo: Repo) -> tuple[Repo, str]:
    repo.write(PIPELINE, SANDBOXED)
    repo.commit("pipeline")
    repo.tag("v1.2.3")
    from release.pipeline.load import load

    return repo, generate(load(repo.path / PIPELINE), Options(PIPELINE))


def test_sandboxed_jobs_hand_off_bound_manifests(
        sandboxed: tuple[Repo, str], tmp_path: Path, cli: Callable[..., CliResult]) -> None:
    repo, text = sandboxed
    jobs = job_set(parse(text), "push")
    assert {j for j in jobs if any(s.get("uses", "").startswith("geomys/sandboxed-step@")
                                   for s in jobs[j]["steps"])} == {"tool", "docs", "docs2"}
    local = cli("run", PIPELINE, "--out", tmp_path / "local", cwd=repo.path)
    assert local.code == 0, local.err
    expected = json.loads((tmp_path / "local" / "manifest.json").read_text())["artifacts"]
    store = simulate(repo, text, "push", tmp_path / "sim", cli)
    assert _merged(store) == expected


def _replace_and_fix_manifest(stage: str, name: str) -> Callable[[Path], None]:
    """Swap one artifact of ``stage`` in the store and fix its manifest to match."""
    def change(store: Path) -> None:
        import hashlib

        (store / f"stage-{stage}" / stage / name).write_text("swapped")
        path = store / f"stage-{stage}" / "manifests" / f"{stage}.json"
        data = json.loads(path.read_text())
        for art in data["artifacts"]:
            if art["name"] == name:
                art["sha256"] = hashlib.sha256(b"swapped").hexdigest()
                art["size"] = len(b"swapped")
        path.write_text(json.dumps(data))
    return change


@pytest.mark.parametrize(("stage", "name", "consumer"), [
    ("tool", "tool", "checksums"),  # sandboxed at the root, consumed by an unsandboxed job
    ("docs", "docs.txt", "docs2"),  # sandboxed, consumed by another sandboxed job
    ("notes", "NOTES", "docs"),  # unsandboxed, consumed by a sandboxed job
])
def test_a_replaced_artifact_with_a_fixed_manifest_fails_the_consuming_job(
        sandboxed: tuple[Repo, str], tmp_path: Path, cli: Callable[..., CliResult],
        stage: str, name: str, consumer: str) -> None:
    """The red team's hand-off: replace a sandboxed stage's output in the artifact store
    and make its manifest match; the digest its job reported through GitHub does not."""
    repo, text = sandboxed
    with pytest.raises(AssertionError, match=f"job {consumer}: .*the manifest of stage "
                                             f"'{stage}' .* is not the one its job reported"):
        simulate(repo, text, "push", tmp_path / "sim", cli,
                 tamper=(consumer, _replace_and_fix_manifest(stage, name)))


def simulate_until(repo: Repo, text: str, tmp: Path, cli: Callable[..., CliResult],
                   stop_before: str) -> Path:
    """Like :func:`simulate` for the push jobs, without ``stop_before`` and its dependants."""
    wf = parse(text)
    wf["jobs"] = {j: v for j, v in job_set(wf, "push").items()
                  if j != stop_before and stop_before not in v.get("needs", [])}
    import yaml

    trimmed = yaml.safe_dump({**wf, True: wf.pop("on")}, sort_keys=False)
    return simulate(repo, trimmed, "push", tmp / "sim", cli)


@pytest.fixture
def external(repo: Repo) -> tuple[Repo, str]:
    """The FULL sample without its key signature (which needs a key file): keyless signing
    and a ghcr push, both planned only in a dry-run and needing no network to plan."""
    text = FULL.split("  keysign:")[0] + "  image:" + FULL.split("  image:")[1]
    repo.write(PIPELINE, text)
    repo.commit("pipeline")
    repo.tag("v2.0.0")
    from release.pipeline.load import load

    return repo, generate(load(repo.path / PIPELINE), Options(PIPELINE))


def test_dispatch_dry_run_plans_external_stages_without_credentials(
        external: tuple[Repo, str], tmp_path: Path, cli: Callable[..., CliResult]) -> None:
    repo, text = external
    store = simulate(repo, text, "workflow_dispatch", tmp_path / "sim", cli)
    # planned stages upload nothing, except what a dry-run builds of them (the image,
    # never pushed); the local ones upload what a local dry-run builds
    assert sorted(p.name for p in store.iterdir()) == [
        "stage-checksums", "stage-image", "stage-notes", "stage-tool"]
    local = cli("run", PIPELINE, "--dry-run", "--out", tmp_path / "local", cwd=repo.path)
    assert local.code == 0, local.err
    expected = json.loads((tmp_path / "local" / "manifest.json").read_text())["artifacts"]
    assert _merged(store) == expected


def test_the_review_job_plans_the_push_on_the_artifacts_it_would_publish(
        external: tuple[Repo, str], tmp_path: Path, cli: Callable[..., CliResult],
        monkeypatch: pytest.MonkeyPatch) -> None:
    repo, text = external
    summary = tmp_path / "step-summary.md"
    # the cli fixture has cleared GITHUB_*: now set what a runner sets
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    store = simulate(repo, text, "push", tmp_path / "sim", cli,
                     only={"packed", "review-image"})
    # the maintainer reads the plan in the job summary before approving the environment
    assert "# Dry-run review: full 2.0.0" in summary.read_text()
    assert "push image ghcr.io/owner/name" in summary.read_text()
    report = (store / "review-image" / "review-image.md").read_text()
    assert report.startswith("# Dry-run review: full 2.0.0")
    # the plan names the image digest the approved job will push, and the permission
    assert re.search(r"push image ghcr\.io/owner/name \(`sha256:[0-9a-f]{64}`; "
                     r"needs packages: write\)", report)


def test_nothing_is_signed_before_the_approval(
        external: tuple[Repo, str], tmp_path: Path, cli: Callable[..., CliResult],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A tag push that nobody approves builds and reviews, and never gets to keyless
    signing: its Rekor entry would be permanent, public and under the release identity."""
    repo, text = external
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "step-summary.md"))
    store = simulate(repo, text, "push", tmp_path / "sim", cli, approve=False)
    ran = sorted(p.name for p in (tmp_path / "sim" / "jobs").iterdir() if p.is_dir())
    # the builds and the review of keyless signing hold no credential: one job
    assert ran == ["packed", "review-image"]
    assert sorted(p.name for p in store.iterdir()) == [
        "review-image", "review-sign", "stage-checksums", "stage-notes", "stage-tool"]
    # what the maintainer reads before approving: the file and digest it would sign
    sums = json.loads((store / "stage-checksums" / "manifests" / "checksums.json").read_text())
    (digest,) = [a["sha256"] for a in sums["artifacts"] if a["name"] == "SHA256SUMS"]
    report = (store / "review-sign" / "review-sign.md").read_text()
    assert re.search(r"would sign SHA256SUMS at .*sha256:" + digest + r".*needs id-token: write",
                     report), report
    # and once approved, signing comes after that review, in the environment
    jobs = job_set(parse(text), "push")
    order = _order(jobs)
    packed = jobs["packed"]["steps"]
    assert [s.get("id") for s in packed].index("review-sign") > [
        s.get("id") for s in packed].index("run")
    assert order.index("packed") < order.index("sign")
    assert jobs["sign"]["environment"] == "release"


def test_this_projects_committed_workflow_dry_runs_like_a_local_dry_run(
        tmp_path: Path, cli: Callable[..., CliResult]) -> None:
    """The committed .github/workflows/release.yml, on a clone of this repository: its
    dispatch jobs build the SDK (fetching the hash-pinned build backend), the executable,
    the SBOMs and the checksums, and plan signing, provenance and publishing."""
    # one snapshot of HEAD for every job: the repository may gain commits meanwhile
    origin = tmp_path / "origin"
    subprocess.run(["git", "clone", "-q", str(REPO), str(origin)], check=True)
    text = (origin / ".github" / "workflows" / "release.yml").read_text()
    local = cli("run", "pipelines/release.yaml", "--dry-run", "--out", tmp_path / "local",
                cwd=origin)
    assert local.code == 0, local.err
    expected = json.loads((tmp_path / "local" / "manifest.json").read_text())["artifacts"]
    assert expected, "a dry-run of this project builds artifacts"
    store = simulate(Repo(origin), text, "workflow_dispatch", tmp_path / "sim", cli)
    assert _merged(store) == expected
