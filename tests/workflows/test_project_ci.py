"""This project's own .github/: zizmor pedantic, the workflow schema, no drift, one pin table."""

from __future__ import annotations

import re
from collections.abc import Callable

from release.workflows.pins import PINS
from release.workflows.steps import APPARMOR_PROFILE
from tests.conftest import CliResult
from tests.workflows import realtools
from tests.workflows.samples import REPO, parse

WORKFLOWS = REPO / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))


def test_the_workflows_exist() -> None:
    assert [p.name for p in FILES] == ["ci.yml", "release.yml", "scheduled.yml"]


def test_zizmor_pedantic_finds_nothing() -> None:
    assert realtools.zizmor(*FILES) == []


def test_github_workflow_schema_offline() -> None:
    assert realtools.schema_errors(*FILES) == ""


def test_release_workflow_is_what_the_pipeline_generates(
        cli: Callable[..., CliResult]) -> None:
    result = cli("workflow", "check", REPO / "pipelines" / "release.yaml")
    assert result.code == 0, result.out + result.err


def test_hand_written_workflows_use_the_pinned_actions() -> None:
    pinned = {f"{p.uses}  # {p.version}" for p in PINS}
    for path in FILES:
        for uses in re.findall(r"uses: (\S+  # \S+)", path.read_text()):
            assert uses in pinned, (path.name, uses)


def test_ci_installs_the_same_bwrap_profile_as_generated_jobs() -> None:
    ci = parse((WORKFLOWS / "ci.yml").read_text())
    (step,) = [s for s in ci["jobs"]["tests"]["steps"] if "apparmor_parser" in s.get("run", "")]
    assert APPARMOR_PROFILE in step["run"]


def test_every_job_is_read_only_and_cacheless() -> None:
    for path in FILES:
        wf = parse(path.read_text())
        assert wf["permissions"] == {}, path.name
        if path.name == "release.yml":
            continue  # generated: its permissions are the stages' (test_generate)
        for jid, job in wf["jobs"].items():
            assert job["permissions"] == {"contents": "read"}, (path.name, jid)
            for step in job["steps"]:
                assert "cache" not in step.get("with", {}), (path.name, jid)
