"""Drift protection: a GitHub Actions job holding more than its stage needs fails first."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from release.errors import StageFailed
from release.github.drift import check_job_permissions
from release.permissions import Level, PermissionSet
from tests.github.conftest import ReleaseSetup

NEEDED = PermissionSet({"contents": Level.WRITE})
WORKFLOW = ".github/workflows/release.yml"


def actions_env(job: str = "publish") -> dict[str, str]:
    return {"GITHUB_ACTIONS": "true", "GITHUB_JOB": job,
            "GITHUB_WORKFLOW_REF": f"octo/demo/{WORKFLOW}@refs/tags/v1.0.0"}


def workflow(root: Path, job_permissions: str, top: str = "permissions: {}") -> None:
    """A workflow whose ``publish`` job has ``job_permissions`` (YAML, unindented)."""
    job = textwrap.indent(job_permissions, "    ") + "\n" if job_permissions else ""
    path = root / WORKFLOW
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        'name: release\non:\n  push:\n    tags: ["v*"]\n'
        + (top + "\n" if top else "")
        + "jobs:\n  publish:\n    runs-on: ubuntu-latest\n" + job
        + "    steps:\n      - run: release run release.yaml --stage publish\n")


def check(root: Path, *, job_token: bool = True) -> str | None:
    return check_job_permissions(actions_env(), root, NEEDED, stage="publish",
                                 uses_job_token=job_token)


def test_outside_actions_nothing_is_checked(tmp_path: Path) -> None:
    assert check_job_permissions({}, tmp_path, NEEDED, stage="s", uses_job_token=True) is None


def test_exact_permissions_pass(tmp_path: Path) -> None:
    workflow(tmp_path, "permissions:\n  contents: write")
    assert check(tmp_path) == "job 'publish' grants exactly what the stage needs " \
                              "(contents: write)"


def test_excess_fails_with_the_position(tmp_path: Path) -> None:
    workflow(tmp_path, "permissions:\n  contents: write\n  actions: write\n  id-token: write")
    with pytest.raises(StageFailed) as err:
        check(tmp_path)
    assert err.value.message == (f"{WORKFLOW}:9:5: job 'publish' grants actions: write, "
                                 "id-token: write beyond what stage 'publish' needs "
                                 "(contents: write)")


@pytest.mark.parametrize("perms", ["permissions: write-all", "permissions: read-all"])
def test_shorthands_are_excess(tmp_path: Path, perms: str) -> None:
    workflow(tmp_path, perms)
    with pytest.raises(StageFailed, match="beyond what stage 'publish' needs"):
        check(tmp_path)


def test_missing_block_falls_back_to_the_top_level(tmp_path: Path) -> None:
    workflow(tmp_path, "", top="permissions:\n  contents: write")
    assert check(tmp_path) is not None
    workflow(tmp_path, "", top="")
    with pytest.raises(StageFailed, match=r"sets no `permissions:`.*may be write-all"):
        check(tmp_path)


def test_too_little_fails_only_for_the_job_token(tmp_path: Path) -> None:
    workflow(tmp_path, "permissions: {}")
    with pytest.raises(StageFailed, match="lacks contents: write"):
        check(tmp_path)
    assert check(tmp_path, job_token=False) is not None  # an App token does the work


def test_unknown_workflow_or_job_fails_closed(tmp_path: Path) -> None:
    with pytest.raises(StageFailed, match="not in the checkout"):
        check(tmp_path)
    workflow(tmp_path, "permissions:\n  contents: write")
    with pytest.raises(StageFailed, match="job 'other' is not in"):
        check_job_permissions(actions_env("other"), tmp_path, NEEDED, stage="s",
                              uses_job_token=True)


def test_drift_stops_the_stage_before_any_request(cli, release_setup: ReleaseSetup,
                                                  monkeypatch) -> None:
    workflow(release_setup.repo.path, "permissions:\n  contents: write\n  packages: write")
    release_setup.repo.commit("workflow")
    for name, value in actions_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GITHUB_TOKEN", release_setup.token())
    result = cli("run", release_setup.pipeline, "--out", release_setup.out, "--allow-dirty",
                 cwd=release_setup.repo.path)
    assert result.code == 1
    assert "grants packages: write beyond what stage 'publish' needs" in result.out
    assert release_setup.server.requests == []
