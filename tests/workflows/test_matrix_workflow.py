"""The generated workflow of a build matrix: one job per expansion on its own runner, with
exactly its stage's permissions; hand-offs across runners stay bound; zizmor and the
workflow schema accept it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from release.errors import PipelineError
from release.workflows.generate import Options, generate
from tests.conftest import CliResult, Repo
from tests.workflows import realtools
from tests.workflows.samples import MATRIX, job_set, parse, pipeline, run_step
from tests.workflows.test_simulated_run import _merged, _replace_and_fix_manifest, simulate

PIPELINE = "pipelines/sample.yaml"
EXPANSIONS = ["cli-linux-amd64", "cli-linux-arm64", "cli-darwin-amd64", "cli-darwin-arm64",
              "cli-windows-amd64"]


def _generate(text: str) -> str:
    return generate(pipeline(text), Options(PIPELINE))


def test_a_matrix_workflow_passes_zizmor_and_the_schema(tmp_path: Path) -> None:
    out = tmp_path / ".github" / "workflows" / "release.yml"
    out.parent.mkdir(parents=True)
    out.write_text(_generate(MATRIX), encoding="utf-8")
    assert realtools.zizmor(out) == []
    assert realtools.schema_errors(out) == ""


#: MATRIX with one job per stage (``jobs: per-stage``).
PER_STAGE = MATRIX.replace("name: matrix\n", "name: matrix\njobs: per-stage\n")


def _job_of(jobs: dict[str, Any], stage: str) -> str:
    """The job whose run step runs ``stage``."""
    [jid] = [j for j, job in jobs.items()
             if f"--stage {stage} " in run_step(job)["run"] + " "]
    return jid


def test_packed_expansions_share_a_job_only_with_their_runner() -> None:
    """By default credential-free expansions are packed, never across runners: a macOS
    expansion shares a job only with other stages of the same runner."""
    jobs = job_set(parse(_generate(MATRIX)), "push")
    where = {sid: _job_of(jobs, sid) for sid in [*EXPANSIONS, "checksums"]}
    assert where["cli-linux-amd64"] == where["cli-linux-arm64"] == where["cli-windows-amd64"]
    assert where["cli-darwin-amd64"] == where["cli-darwin-arm64"] != where["cli-linux-amd64"]
    assert jobs[where["cli-darwin-amd64"]]["runs-on"] == "macos-15"
    assert jobs[where["cli-linux-amd64"]]["runs-on"] == "ubuntu-24.04"
    for jid in set(where.values()):
        assert jobs[jid]["permissions"] == {}
        linux = jobs[jid]["runs-on"] != "macos-15"
        assert ("--no-sandbox" in run_step(jobs[jid])["run"]) == (not linux)
    assert jobs["sign"]["permissions"] == {"id-token": "write"}


def test_one_job_per_expansion_on_its_runner_with_its_permissions() -> None:
    loaded = pipeline(PER_STAGE)
    text = _generate(PER_STAGE)
    jobs = job_set(parse(text), "push")
    assert [j for j in jobs if j.startswith("cli-")] == EXPANSIONS
    runners = {j: jobs[j]["runs-on"] for j in EXPANSIONS}
    assert runners == {"cli-linux-amd64": "ubuntu-24.04", "cli-linux-arm64": "ubuntu-24.04",
                       "cli-darwin-amd64": "macos-15", "cli-darwin-arm64": "macos-15",
                       "cli-windows-amd64": "ubuntu-24.04"}
    for sid, perms in loaded.permissions.items():
        assert jobs[sid]["permissions"] == perms.as_dict(), sid
    assert jobs["sign"]["permissions"] == {"id-token": "write"}
    assert jobs["checksums"]["needs"] == EXPANSIONS
    assert jobs["checksums"]["runs-on"] == "ubuntu-24.04"
    for jid in EXPANSIONS:
        names = [s["name"] for s in jobs[jid]["steps"]]
        linux = not jid.startswith("cli-darwin")
        # bubblewrap exists on Linux only: elsewhere the stage runs unsandboxed, and says so
        assert ("Let bubblewrap (only) create user namespaces" in names) == linux
        assert ("--no-sandbox" in run_step(jobs[jid])["run"]) == (not linux)
        assert jobs[jid]["permissions"] == {}
        assert "environment" not in jobs[jid]
    # the dispatch dry-run runs on the same runners
    dry = job_set(parse(text), "workflow_dispatch")
    assert dry["dry-run-cli-darwin-arm64"]["runs-on"] == "macos-15"
    assert ("# Built on their own runner without the bubblewrap sandbox, and with no "
            "credential: cli-darwin-amd64, cli-darwin-arm64.") in text


@pytest.mark.parametrize(("extra", "expected"), [
    ("    permissions: {contents: read}\n", "has permissions, secrets or `sandbox: true`"),
    ("    sandbox: true\n", "has permissions, secrets or `sandbox: true`"),
])
def test_a_stage_off_linux_may_hold_no_credential(extra: str, expected: str) -> None:
    """Off Linux there is no bubblewrap: a token in that job would be readable by the build."""
    text = MATRIX.replace("    env:\n      GOOS", extra + "    env:\n      GOOS")
    with pytest.raises(PipelineError) as exc:
        _generate(text)
    assert expected in exc.value.message
    assert str(exc.value.location) == "pipelines/sample.yaml:17:14"  # the runs-on line


def test_windows_runners_are_refused_with_the_reason() -> None:
    """The engine opens paths with O_NOFOLLOW and O_DIRECTORY, which Windows does not have:
    a generated Windows job would fail at its first step, so the generator says so."""
    text = MATRIX.replace("{os: windows, runner: ubuntu-24.04}",
                          "{os: windows, runner: windows-2025}")
    with pytest.raises(PipelineError) as exc:
        _generate(text)
    assert exc.value.message == ("stage 'cli-windows-amd64' runs on windows-2025, but the "
                                 "release engine does not run on Windows (it relies on POSIX "
                                 "no-follow file operations)")
    assert str(exc.value.location) == "pipelines/sample.yaml:17:14"


def test_runner_labels_must_name_the_system() -> None:
    text = MATRIX.replace('runs-on: "{matrix.runner}"', "runs-on: [self-hosted, big]")
    with pytest.raises(PipelineError) as exc:
        _generate(text)
    assert "whose labels do not name its operating system" in exc.value.message
    assert exc.value.hint and "add `linux` or `macos` to the labels" in exc.value.hint


#: MATRIX on two Linux runners this host stands in for, without the keyless signature.
LINUX = (MATRIX.replace("      os: [linux, darwin, windows]", "      os: [linux, gnu]")
         .replace("      exclude:\n        - {os: windows, arch: arm64}\n", "")
         .replace("        - {os: darwin, runner: macos-15}\n"
                  "        - {os: windows, runner: ubuntu-24.04}\n",
                  "        - {os: gnu, runner: ubuntu-22.04}\n")
         .split("  sign:")[0])


@pytest.fixture
def linux(repo: Repo) -> tuple[Repo, str]:
    repo.write(PIPELINE, LINUX)
    repo.commit("pipeline")
    repo.tag("v1.0.0")
    from release.pipeline.load import load

    return repo, generate(load(repo.path / PIPELINE), Options(PIPELINE))


def test_matrix_jobs_end_with_the_manifest_of_a_local_run(
        linux: tuple[Repo, str], tmp_path: Path, cli: Callable[..., CliResult]) -> None:
    repo, text = linux
    jobs = job_set(parse(text), "push")
    assert jobs[_job_of(jobs, "cli-gnu-arm64")]["runs-on"] == "ubuntu-22.04"
    assert _job_of(jobs, "cli-gnu-arm64") != _job_of(jobs, "cli-linux-arm64")
    local = cli("run", PIPELINE, "--out", tmp_path / "local", cwd=repo.path)
    assert local.code == 0, local.err
    expected = json.loads((tmp_path / "local" / "manifest.json").read_text())["artifacts"]
    assert len(expected) == 5
    store = simulate(repo, text, "push", tmp_path / "sim", cli)
    assert sorted(p.name for p in store.iterdir()) == [
        "stage-checksums", "stage-cli-gnu-amd64", "stage-cli-gnu-arm64",
        "stage-cli-linux-amd64", "stage-cli-linux-arm64"]
    assert _merged(store) == expected


def test_a_replaced_expansion_artifact_fails_the_consuming_job(
        linux: tuple[Repo, str], tmp_path: Path, cli: Callable[..., CliResult]) -> None:
    repo, text = linux
    consumer = _job_of(job_set(parse(text), "push"), "checksums")
    with pytest.raises(AssertionError, match=rf"job {consumer}: .*the manifest of stage "
                                             r"'cli-gnu-arm64' .* is not the one its job "
                                             "reported"):
        simulate(repo, text, "push", tmp_path / "sim", cli,
                 tamper=(consumer, _replace_and_fix_manifest("cli-gnu-arm64",
                                                             "tool-gnu-arm64")))
