"""ghcr.io: the stage's GitHub token is the credential, granted by `packages: write`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import Repo
from tests.oci.images import image_pipeline

GHCR_PUSH = "    push: {repository: ghcr.io/example/tool, tags: [\"{version}\"]}\n"


def test_ghcr_push_plans_packages_write(repo: Repo, cli, tmp_path: Path, monkeypatch) -> None:
    token = "ghp_" + "A1b2C3d4" * 5
    monkeypatch.setenv("GITHUB_TOKEN", token)
    path = image_pipeline(repo, push=GHCR_PUSH)
    repo.tag("v3.1.0")
    plan = cli("plan", path, "--format", "json")
    assert plan.code == 0, plan.err
    [image] = [s for s in json.loads(plan.out)["stages"] if s["id"] == "image"]
    assert image["effects"] == "external"
    assert image["permissions"] == {"packages": "write"}
    report = tmp_path / "review.json"
    res = cli("run", path, "--out", tmp_path / "dry", "--dry-run", "--report", report)
    assert res.code == 0, res.err
    steps = json.loads(report.read_text())["stages"]["image"]["plan"]
    [push] = [s for s in steps if s["action"] == "push image"]
    assert push["target"] == "ghcr.io/example/tool"
    assert push["permission"] == "packages: write"
    assert push["digest"].startswith("sha256:")
    assert [s["target"] for s in steps if s["action"] == "move tag"] == \
        ["ghcr.io/example/tool:3.1.0"]
    assert token not in res.out + res.err + report.read_text()


def test_ghcr_push_without_a_token(repo: Repo, cli, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    path = image_pipeline(repo, push=GHCR_PUSH)
    repo.tag("v3.1.0")
    res = cli("run", path, "--out", tmp_path / "out")
    assert res.code == 1
    assert "pushing to ghcr.io needs the stage's GITHUB_TOKEN, which is not set" in res.err


@pytest.mark.online
@pytest.mark.skipif(not os.environ.get("RELEASE_OCI_GHCR_TOKEN"),
                    reason="needs RELEASE_OCI_GHCR_REPOSITORY (ghcr.io/OWNER/NAME) and "
                    "RELEASE_OCI_GHCR_TOKEN, a token that may write packages there")
def test_push_to_real_ghcr(repo: Repo, cli, tmp_path: Path, monkeypatch) -> None:
    repository = os.environ["RELEASE_OCI_GHCR_REPOSITORY"]
    monkeypatch.setenv("GITHUB_TOKEN", os.environ["RELEASE_OCI_GHCR_TOKEN"])
    path = image_pipeline(repo, push=f"    push: {{repository: {repository}, tags: [ci]}}\n")
    res = cli("run", path, "--out", tmp_path / "out")
    assert res.code == 0, res.err


SIGN_IMAGES = """\
  sign:
    kind: sign
    needs: [image]
    artifacts: images
    backend: key
    key: keys/release.key
"""


def test_signing_a_ghcr_image_gets_the_push_permission(repo: Repo, cli, tmp_path: Path,
                                                      monkeypatch) -> None:
    """Writing referrers takes the push's credential: the planner derives `packages:
    write` for the sign stage from the image stage it signs, and a declared set without
    it is refused as for every kind."""
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    path = image_pipeline(repo, push=GHCR_PUSH, extra=SIGN_IMAGES)
    repo.tag("v3.1.0")
    plan = cli("plan", path, "--format", "json")
    assert plan.code == 0, plan.err
    [sign] = [s for s in json.loads(plan.out)["stages"] if s["id"] == "sign"]
    assert sign["permissions"] == {"packages": "write"}
    assert sign["effects"] == "external"
    report = tmp_path / "review.json"
    res = cli("run", path, "--out", tmp_path / "dry", "--dry-run", "--report", report)
    assert res.code == 0, res.out + res.err
    steps = json.loads(report.read_text())["stages"]["sign"]["plan"]
    [image] = [s for s in steps if s["target"].startswith("ghcr.io/example/tool@sha256:")]
    assert image["permission"] == "packages: write"
    assert "(tag fallback sha256-" in image["target"]
    path.write_text(path.read_text() + "    permissions: {contents: read}\n")
    refused = cli("plan", path)
    assert refused.code == 2
    assert "stage 'sign' declares contents: read; kind sign needs packages: write" in \
        refused.err, refused.err
