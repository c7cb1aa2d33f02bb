"""``release workflow generate|check`` on a real repository."""

from __future__ import annotations

from collections.abc import Callable

from tests.conftest import CliResult, Repo
from tests.workflows.samples import LOCAL

PIPELINE = "pipelines/sample.yaml"
OUTPUT = ".github/workflows/release.yml"


def test_generate_then_check(repo: Repo, cli: Callable[..., CliResult]) -> None:
    repo.write(PIPELINE, LOCAL)
    made = cli("workflow", "generate", PIPELINE, cwd=repo.path)
    assert made.code == 0, made.err
    text = (repo.path / OUTPUT).read_text()
    assert '# release-workflow: {"environment": "release", "pipeline": "pipelines/sample.yaml"}' \
        in text
    ok = cli("workflow", "check", PIPELINE, cwd=repo.path)
    assert ok.code == 0 and "up to date" in ok.out
    # from another directory, the pipeline path recorded is still relative to the root
    again = cli("workflow", "check", repo.path / PIPELINE, cwd=repo.path / "pipelines")
    assert again.code == 0, again.out + again.err


def test_check_shows_the_diff_and_fails_on_drift(repo: Repo,
                                                 cli: Callable[..., CliResult]) -> None:
    repo.write(PIPELINE, LOCAL)
    assert cli("workflow", "generate", PIPELINE, cwd=repo.path).code == 0
    path = repo.path / OUTPUT
    path.write_text(path.read_text().replace("contents: read", "contents: write")
                    .replace("permissions: {}  # holds no credential: its stages run packed\n",
                             "permissions:\n      contents: write\n", 1))
    result = cli("workflow", "check", PIPELINE, cwd=repo.path)
    assert result.code == 1
    assert "-      contents: write" in result.out
    assert f"+++ {OUTPUT} (generated)" in result.out.replace(str(repo.path) + "/", "")
    assert "differs from its pipeline" in result.err


def test_check_fails_when_the_workflow_is_missing(repo: Repo,
                                                  cli: Callable[..., CliResult]) -> None:
    repo.write(PIPELINE, LOCAL)
    result = cli("workflow", "check", PIPELINE, cwd=repo.path)
    assert result.code == 1 and "missing" in result.err


def test_options_are_recorded_and_invalid_ones_refused(repo: Repo,
                                                       cli: Callable[..., CliResult]) -> None:
    repo.write(PIPELINE, LOCAL)
    made = cli("workflow", "generate", PIPELINE, "--environment", "prod",
               "--output", "out.yml", cwd=repo.path)
    assert made.code == 0
    assert '"environment": "prod"' in (repo.path / "out.yml").read_text()
    assert cli("workflow", "check", PIPELINE, "--output", "out.yml", cwd=repo.path).code == 1
    assert cli("workflow", "check", PIPELINE, "--output", "out.yml", "--environment", "prod",
               cwd=repo.path).code == 0
    bad = cli("workflow", "generate", PIPELINE, "--environment", "no\nnewlines",
              cwd=repo.path)
    assert bad.code == 2 and "invalid environment name" in bad.err


def test_a_pipeline_error_is_reported_with_its_position(repo: Repo,
                                                        cli: Callable[..., CliResult]) -> None:
    repo.write(PIPELINE, LOCAL.replace("kind: checksums", "kind: checksum"))
    result = cli("workflow", "generate", PIPELINE, cwd=repo.path)
    assert result.code == 2
    assert "pipelines/sample.yaml:" in result.err and "did you mean 'checksums'" in result.err


def test_generate_never_overwrites_another_pipelines_workflow(
        repo: Repo, cli: Callable[..., CliResult]) -> None:
    """A monorepo's pipelines each need their own workflow file: the default one is not
    taken from the pipeline that has it, nor from a hand-written workflow."""
    repo.write(PIPELINE, LOCAL)
    repo.write("sdk/release.yaml", LOCAL)
    assert cli("workflow", "generate", PIPELINE, cwd=repo.path).code == 0
    path = repo.path / OUTPUT
    before = path.read_bytes()
    other = cli("workflow", "generate", "sdk/release.yaml", cwd=repo.path)
    assert other.code == 2
    assert (f"{OUTPUT} exists and is the workflow of {PIPELINE}: not overwritten"
            in other.err.replace(str(repo.path) + "/", ""))
    assert "--output .github/workflows/NAME.yml" in other.err
    assert path.read_bytes() == before
    assert cli("workflow", "generate", PIPELINE, cwd=repo.path).code == 0  # its own: fine
    own = repo.path / ".github" / "workflows" / "sdk.yml"
    made = cli("workflow", "generate", "sdk/release.yaml", "--output", own, cwd=repo.path)
    assert made.code == 0, made.err

    path.write_text("name: hand-written\non: push\n")
    res = cli("workflow", "generate", PIPELINE, cwd=repo.path)
    assert res.code == 2 and "not a workflow generated here" in res.err
    assert path.read_text() == "name: hand-written\non: push\n"
