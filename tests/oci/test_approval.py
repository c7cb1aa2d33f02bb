"""Review binding: an external stage (an image push) acts only on what was approved."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import Repo
from tests.oci.conftest import LocalRegistry, skopeo
from tests.oci.images import image_digest, image_pipeline


def _setup(repo: Repo, cli, tmp_path: Path, registry: LocalRegistry, name: str):
    push = f"""\
    push:
      repository: {registry.host}/example/{name}
      tags: [edge]
"""
    path = image_pipeline(repo, push=push)
    report = tmp_path / "review.json"
    res = cli("run", path, "--dry-run", "--out", tmp_path / "dry", "--report", report)
    assert res.code == 0, res.err
    return path, report


def test_approved_plan_lets_the_reviewed_push_through(repo: Repo, cli, tmp_path: Path,
                                                      registry: LocalRegistry) -> None:
    path, report = _setup(repo, cli, tmp_path, registry, "approved")
    out = tmp_path / "out"
    res = cli("run", path, "--out", out, "--approved-plan", report)
    assert res.code == 0, res.out + res.err
    pushed = json.loads(skopeo("inspect", "--tls-verify=false",
                               f"docker://{registry.host}/example/approved:edge"))
    assert pushed["Digest"] == image_digest(out)
    approved = json.loads(report.read_text())["stages"]["image"]["plan"]
    assert any(step.get("digest") == image_digest(out) for step in approved)


def test_a_different_build_is_refused_before_the_push(repo: Repo, cli, tmp_path: Path,
                                                      registry: LocalRegistry) -> None:
    path, report = _setup(repo, cli, tmp_path, registry, "refused")
    data = json.loads(report.read_text())
    [art] = data["stages"]["build"]["artifacts"][:1]
    real = art["sha256"]
    art["sha256"] = "0" * 64
    report.write_text(json.dumps(data))
    res = cli("run", path, "--out", tmp_path / "out", "--approved-plan", report)
    assert res.code == 1
    assert "differ from the approved plan" in res.out
    assert f"approved {'0' * 64}, built {real}" in res.out
    assert "aborted" not in res.out.splitlines()[1]  # the build itself ran
    proc = subprocess.run(["skopeo", "inspect", "--tls-verify=false",
                           f"docker://{registry.host}/example/refused:edge"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode != 0  # nothing was pushed


def test_a_different_image_digest_is_refused(repo: Repo, cli, tmp_path: Path,
                                             registry: LocalRegistry) -> None:
    path, report = _setup(repo, cli, tmp_path, registry, "imgdigest")
    data = json.loads(report.read_text())
    for step in data["stages"]["image"]["plan"]:
        if step.get("digest"):
            step["digest"] = "sha256:" + "1" * 64
    report.write_text(json.dumps(data))
    res = cli("run", path, "--out", tmp_path / "out", "--approved-plan", report)
    assert res.code == 1
    assert "approved sha256:" + "1" * 64 in res.out


def test_a_plan_for_another_commit_is_refused(repo: Repo, cli, tmp_path: Path,
                                              registry: LocalRegistry) -> None:
    path, report = _setup(repo, cli, tmp_path, registry, "othercommit")
    approved = json.loads(report.read_text())["source"]["commit"]
    repo.write("NEWS", "changed after review\n")
    now = repo.commit()
    res = cli("run", path, "--out", tmp_path / "out", "--approved-plan", report)
    assert res.code == 1
    assert f"commit: approved {approved}, now {now}" in res.err
    assert res.out == ""  # refused before any stage ran


def test_a_review_missing_a_built_stage_is_refused(repo: Repo, cli, tmp_path: Path,
                                                   registry: LocalRegistry) -> None:
    path, report = _setup(repo, cli, tmp_path, registry, "missing")
    data = json.loads(report.read_text())
    del data["stages"]["build"]
    report.write_text(json.dumps(data))
    res = cli("run", path, "--out", tmp_path / "out", "--approved-plan", report)
    assert res.code == 1
    assert "build: built 2 artifact(s), but the approved dry-run does not include it" in res.out


def test_a_failed_dry_run_cannot_be_approved(repo: Repo, cli, tmp_path: Path,
                                             registry: LocalRegistry) -> None:
    path, report = _setup(repo, cli, tmp_path, registry, "failed")
    data = json.loads(report.read_text())
    data["ok"] = False
    data["stages"]["build"]["status"] = "failed"
    data["stages"]["build"]["artifacts"] = []
    report.write_text(json.dumps(data))
    res = cli("run", path, "--out", tmp_path / "out", "--approved-plan", report)
    assert res.code == 2
    assert "is not the report of a successful dry-run" in res.err
    report.write_text('{"dry_run": true, "ok": true, "stages": []}')
    res = cli("run", path, "--out", tmp_path / "out", "--approved-plan", report)
    assert res.code == 2 and "has review format None" in res.err
    report.write_text('{"format": 2, "dry_run": true, "ok": true, "stages": []}')
    res = cli("run", path, "--out", tmp_path / "out", "--approved-plan", report)
    assert res.code == 2 and "cannot read the approved plan" in res.err
