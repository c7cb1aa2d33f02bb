"""Attacks through build matrices and runners: matrix values shaping paths, ids or the
workflow, credentials on a runner without the sandbox, placeholders where they are not
replaced."""

from __future__ import annotations

from pathlib import Path

import pytest

from release.errors import PipelineError
from release.pipeline.load import load_text
from release.workflows.generate import Options, generate

BASE = """\
version: 1
name: demo
stages:
  cli:
    kind: command
    matrix:
      os: [linux, darwin]
      include:
        - {os: linux, runner: ubuntu-24.04}
        - {os: darwin, runner: macos-15}
    runs-on: "{matrix.runner}"
    run: ["sh", "-c", "printf x > {out}/cli-{matrix.os}"]
    outputs: ["cli-{matrix.os}"]
"""


def _refused(text: str) -> PipelineError:
    with pytest.raises(PipelineError) as exc:
        load_text(text, "release.yaml", Path("release.yaml"))
    return exc.value


@pytest.mark.parametrize("value", ["../x", "a/b", "A", "x y", "-x", "", "x" * 33])
def test_an_axis_value_cannot_shape_a_stage_id_or_a_path(value: str) -> None:
    err = _refused(BASE.replace("os: [linux, darwin]", f"os: [linux, darwin, '{value}']"))
    assert "is not a short name" in err.message
    assert str(err.location) == "release.yaml:7:27"


def test_an_included_value_cannot_escape_the_output_folder() -> None:
    text = (BASE.replace("{os: linux, runner: ubuntu-24.04}",
                         "{os: linux, runner: ubuntu-24.04, dir: ..}")
            .replace('outputs: ["cli-{matrix.os}"]', 'outputs: ["{matrix.dir}/cli"]'))
    err = _refused(text.replace("{os: darwin, runner: macos-15}",
                                "{os: darwin, runner: macos-15, dir: d}"))
    assert "must stay inside the output directory" in err.message
    assert str(err.location) == "release.yaml:13:14"


@pytest.mark.parametrize("runner", ["'${{ github.event.inputs.runner }}'", "'ubuntu-24.04}'",
                                    "'ubuntu-24.04\\n  evil: 1'"])
def test_an_included_value_cannot_put_an_expression_into_runs_on(runner: str) -> None:
    text = BASE.replace("runner: macos-15}", f"runner: {runner}}}").replace(
        "{os: darwin, runner:", "{os: darwin, runner:")
    err = _refused(text.replace("'ubuntu-24.04\\n  evil: 1'", '"ubuntu-24.04\\n  evil: 1"'))
    assert "must be plain text" in err.message


def test_a_placeholder_cannot_choose_needs_or_permissions() -> None:
    err = _refused(BASE + "    needs: ['{matrix.os}']\n")
    assert "{matrix.os} is not replaced in `needs`" in err.message
    err = _refused(BASE + "    permissions: {contents: '{matrix.os}'}\n")
    assert "is not replaced in `permissions`" in err.message


@pytest.mark.parametrize("extra", ["    permissions: {id-token: write}\n",
                                   "    permissions: {contents: write}\n"])
def test_no_token_reaches_a_job_that_builds_without_the_sandbox(extra: str) -> None:
    """A macOS job runs its build with --no-sandbox: any token in the job would be the
    build's. The generator refuses it rather than emit such a job."""
    loaded = load_text(BASE + extra, "release.yaml", Path("release.yaml"))
    with pytest.raises(PipelineError) as exc:
        generate(loaded, Options("release.yaml"))
    assert "cli-darwin" in exc.value.message and "without the bubblewrap sandbox" in \
        exc.value.message
    assert str(exc.value.location) == "release.yaml:11:14"
