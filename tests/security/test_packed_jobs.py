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

from release.pipeline.load import load
from release.workflows.generate import Options, generate, stage_facts
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
