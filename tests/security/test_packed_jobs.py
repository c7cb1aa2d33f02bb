"""Attacks on packed jobs: several stages in one job, one ``release run --stage A --stage B``.

A packed job holds no credential, so what a stage in it can reach is the other stages'
outputs. A stage that rewrites an earlier stage's output and fixes its manifest to match
(a self-consistent swap, as an attacker with the artifact store would make between jobs)
is caught by the hand-off check: every manifest's digest is taken when the engine writes
it, and checked before each stage that reads it and at the end of the run, whose reported
digests the next jobs check. Bubblewrap stops the write in the first place; the check is
shown here with ``--no-sandbox``, where nothing else stands in the way.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from release.errors import PipelineError
from release.pipeline.load import load
from release.workflows.facts import stage_facts
from release.workflows.generate import Options, generate
from tests.conftest import Repo
from tests.workflows.samples import FULL, REPO, committed_pipelines, parse, pipeline

#: Rewrites stage a's output and fixes a's manifest to match: a forged predecessor.
FORGE = """\
import hashlib, json, pathlib, sys
out = pathlib.Path(sys.argv[1])
root = out.parent
(root / "a" / "a").write_bytes(b"evil\\n")
path = root / "manifests" / "a.json"
data = json.loads(path.read_text())
data["artifacts"][0].update(sha256=hashlib.sha256(b"evil\\n").hexdigest(), size=5)
path.write_text(json.dumps(data))
(out / "b").write_text("b")
"""

STAGES = """\
version: 1
name: packed
stages:
  a:
    kind: command
    run: ["sh", "-c", "echo a > {out}/a"]
    outputs: ["a"]
  b:
    kind: command
    needs: [a]
    run: ["python3", "forge.py", "{out}"]
    outputs: ["b"]
"""
#: c reads a after b forged it
CONSUMER = """\
  c:
    kind: checksums
    needs: [a, b]
"""


def _repo(repo: Repo, text: str) -> Path:
    repo.write("forge.py", FORGE)
    path = repo.write("release.yaml", text)
    repo.commit()
    return path


def test_a_stage_forging_its_predecessor_is_caught_before_the_next_stage(
        repo: Repo, cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _repo(repo, STAGES + CONSUMER)
    output = tmp_path / "github-output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    result = cli("run", path, "--stage", "a", "--stage", "b", "--stage", "c", "--jobs", "1",
                 "--no-sandbox", "--out", tmp_path / "out", cwd=repo.path)
    assert result.code == 1
    assert "the manifest of stage 'a'" in result.err
    assert "is not the one its job reported" in result.err
    assert "[c] failed" in result.out + result.err
    assert not (tmp_path / "out" / "c").exists() or not any((tmp_path / "out" / "c").iterdir())
    assert not output.exists(), "no digest leaves a run whose hand-off was forged"


def test_a_forgery_after_the_last_reader_fails_the_run_before_it_reports(
        repo: Repo, cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No stage of the job reads a after b: the end of the run checks every manifest it
    wrote, so the job uploads nothing the next jobs would take for a's outputs."""
    path = _repo(repo, STAGES)
    output = tmp_path / "github-output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    result = cli("run", path, "--stage", "a", "--stage", "b", "--no-sandbox",
                 "--out", tmp_path / "out", cwd=repo.path)
    assert result.code == 1
    assert "the manifest of stage 'a'" in result.err
    assert not output.exists()


def test_in_the_sandbox_the_forgery_cannot_even_be_written(
        repo: Repo, cli: Any, tmp_path: Path) -> None:
    path = _repo(repo, STAGES + CONSUMER)
    out = tmp_path / "out"
    result = cli("run", path, "--stage", "a", "--stage", "b", "--stage", "c",
                 "--out", out, cwd=repo.path)
    assert result.code == 1
    assert (out / "a" / "a").read_text() == "a\n"
    recorded = json.loads((out / "manifests" / "a.json").read_text())["artifacts"][0]
    assert recorded["sha256"] == hashlib.sha256(b"a\n").hexdigest()
    assert not (out / "manifests" / "c.json").exists()


def _jobs(text_or_path: str | Path) -> tuple[dict[str, Any], Any]:
    loaded = (load(text_or_path) if isinstance(text_or_path, Path)
              else pipeline(text_or_path))
    return parse(generate(loaded, Options("pipelines/sample.yaml")))["jobs"], loaded


def _run_argv(job: dict[str, Any]) -> list[str]:
    (run,) = [s for s in job["steps"] if s.get("id") == "run"]
    return str(run.get("run") or run["with"]["run"]).split()


def _stages(argv: list[str]) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == "--stage"]


@pytest.mark.parametrize("case", [FULL, *committed_pipelines()],
                         ids=lambda c: c.relative_to(REPO).as_posix()
                         if isinstance(c, Path) else "full")
def test_no_packed_job_holds_a_credential_and_credential_stages_run_alone(
        case: str | Path) -> None:
    jobs, loaded = _jobs(case)
    facts = stage_facts(loaded)
    for jid, job in jobs.items():
        argv = _run_argv(job)
        stages = _stages(argv)
        reviews = [s for s in job["steps"] if str(s.get("id", "")).startswith("review-")]
        if len(stages) + len(reviews) == 1:
            continue
        assert job["permissions"] == {}, jid
        assert "environment" not in job, jid
        text = json.dumps(job)
        assert "secrets." not in text and "github.token" not in text, jid
        for sid in stages:
            f = facts[sid]
            if "--dry-run" not in argv:
                assert not (f.permissions or f.secrets or f.token or f.protected), sid
            assert not f.sandboxed, sid
    # every stage holding a credential has a job of its own with exactly its permissions
    for sid, f in facts.items():
        if f.permissions or f.secrets or f.token:
            assert _stages(_run_argv(jobs[sid])) == [sid], sid
            assert jobs[sid]["permissions"] == f.permissions.as_dict(), sid


MAC = """\
version: 1
name: mac
stages:
  a:
    kind: command
    run: ["sh", "-c", "echo a > {out}/a"]
    outputs: ["a"]
    runs-on: macos-15
  b:
    kind: command
    run: ["sh", "-c", "echo b > {out}/b"]
    outputs: ["b"]
    runs-on: macos-15
  c:
    kind: command
    needs: [a, b]
    run: ["sh", "-c", "cat a/a b/b > {out}/c"]
    outputs: ["c"]
    runs-on: macos-15
"""


def test_stages_on_macos_never_share_a_job() -> None:
    """Without bubblewrap (``--no-sandbox``) stages of one run can rewrite each other's
    outputs, even while both run: each keeps a fresh runner of its own."""
    jobs, _ = _jobs(MAC)
    push = {jid: job for jid, job in jobs.items() if not jid.startswith("dry-run-")}
    assert sorted(push) == ["a", "b", "c"]
    for jid, job in jobs.items():
        argv = _run_argv(job)
        assert "--no-sandbox" in argv and _stages(argv) == [jid.removeprefix("dry-run-")]


KEY_SIGN = """\
version: 1
name: keyed
stages:
  a:
    kind: command
    run: ["sh", "-c", "echo a > {out}/a"]
    outputs: ["a"]
  b:
    kind: command
    run: ["sh", "-c", "echo b > {out}/b"]
    outputs: ["b"]
  sign:
    kind: sign
    needs: [a]
    backend: key
    key: keys/signing.pem
"""


def test_a_signing_key_file_is_a_credential_even_without_a_passphrase() -> None:
    """A key file needs no variable, yet a build in the same job could read it: the key
    signing stage runs alone, and never on a runner without the sandbox."""
    jobs, loaded = _jobs(KEY_SIGN)
    assert stage_facts(loaded)["sign"].key
    assert _stages(_run_argv(jobs["sign"])) == ["sign"]
    assert _stages(_run_argv(jobs["packed"])) == ["a", "b"]
    assert _stages(_run_argv(jobs["dry-run-sign"])) == ["sign"]
    mac = KEY_SIGN.replace("    key: keys/signing.pem\n",
                           "    key: keys/signing.pem\n    runs-on: [self-hosted, macos]\n")
    with pytest.raises(PipelineError) as exc:
        _jobs(mac)
    assert "a signing key" in exc.value.message and "without the bubblewrap" in \
        exc.value.message
    assert str(exc.value.location) == "pipelines/sample.yaml:17:14"


def test_a_stage_named_like_a_review_is_refused_with_its_location() -> None:
    text = KEY_SIGN.replace("    backend: key\n    key: keys/signing.pem\n", "").replace(
        "  b:\n", "  review-sign:\n")
    with pytest.raises(PipelineError) as exc:
        _jobs(text)
    assert "'review-sign' is the id of the review of stage 'sign'" in exc.value.message
    assert str(exc.value.location) == "pipelines/sample.yaml:8:3"
    assert exc.value.path == "stages.review-sign"


AUDITED = """\
version: 1
name: aud
stages:
  cli:
    kind: command
    run: ["sh", "-c", "echo x > {out}/tool"]
    outputs: ["tool"]
  sums: {kind: checksums, needs: [cli]}
  sign: {kind: sign, needs: [sums]}
"""

#: a hand-written job that mints an OIDC token and, after a stage that builds nothing
#: named first, runs the build in the same step
HIDDEN_BUILD = """\
name: release
on:
  push:
    tags: ["v*"]
permissions: {}
jobs:
  sign:
    runs-on: ubuntu-24.04
    permissions:
      id-token: write
    environment: release
    steps:
      - id: run
        run: |
          release run release.yaml --stage sign --stage cli --stage sums --out _release/out
"""


@pytest.mark.parametrize("order", ["sign --stage cli", "cli --stage sign"])
def test_the_audit_sees_every_stage_of_a_release_run(repo: Repo, order: str) -> None:
    """``release audit`` reads every ``--stage`` of the step: a build named after a stage
    that builds nothing still makes the step a build in a job that can mint a token."""
    from release.workflows.audit import audit

    repo.write("release.yaml", AUDITED)
    path = repo.write(".github/workflows/release.yml",
                      HIDDEN_BUILD.replace("sign --stage cli", order))
    repo.commit()
    found = {f.rule for f in audit([path], use_zizmor=False).findings}
    assert "id-token-untrusted" in found


#: x comes from another job (--artifacts); a rewrites x's file, b then reads x
IMPORTED = """\
version: 1
name: imported
stages:
  x:
    kind: command
    run: ["sh", "-c", "echo good > {out}/x"]
    outputs: ["x"]
  a:
    kind: command
    needs: [x]
    run: ["sh", "-c", "echo evil > {out}/../x/x; echo a > {out}/a"]
    outputs: ["a"]
  b:
    kind: command
    needs: [x, a]
    run: ["sh", "-c", "cat {out}/../x/x > {out}/b"]
    outputs: ["b"]
"""


@pytest.mark.parametrize("same_folder", [False, True])
def test_a_need_imported_from_another_job_is_checked_again_before_a_later_stage(
        repo: Repo, cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        same_folder: bool) -> None:
    """An imported need was hashed on arrival; once a stage has run, it is hashed again
    before the next stage reads it (--no-sandbox lets a stage rewrite it)."""
    path = _repo(repo, IMPORTED)
    first = tmp_path / "x-job"
    assert cli("run", path, "--stage", "x", "--out", first, cwd=repo.path).code == 0
    out = first if same_folder else tmp_path / "out"
    output = tmp_path / "github-output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    result = cli("run", path, "--stage", "a", "--stage", "b", "--no-sandbox", "--jobs", "1",
                 "--artifacts", first, "--out", out, cwd=repo.path)
    assert result.code == 1
    assert "[b] failed" in result.out + result.err
    assert not (out / "b" / "b").exists(), "b read the rewritten need"
    assert not output.exists()


def test_a_rewritten_import_manifest_fails_the_run_at_its_end(
        repo: Repo, cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No stage reads x after a rewrites its manifest: the end of the run checks the
    imported manifests too, so the job reports nothing."""
    path = _repo(repo, IMPORTED.replace("echo evil > {out}/../x/x",
                                        "echo {} > {out}/../manifests/x.json"))
    first = tmp_path / "x-job"
    assert cli("run", path, "--stage", "x", "--out", first, cwd=repo.path).code == 0
    output = tmp_path / "github-output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    result = cli("run", path, "--stage", "a", "--no-sandbox", "--artifacts", first,
                 "--out", tmp_path / "out", cwd=repo.path)
    assert result.code == 1
    assert "the manifest of stage 'x'" in result.err
    assert not output.exists()
