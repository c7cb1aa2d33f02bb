"""Build matrices run locally: expansions are stages (in parallel, in bubblewrap), and a
stage whose runner this host cannot stand in for is skipped with the reason, as are the
stages that need it; reviews and approvals say so."""

from __future__ import annotations

import dataclasses
import json
import re

from release.engine.binding import RunBinding
from release.engine.runners import host_platform, local_skip
from tests.conftest import Repo
from tests.engine.test_runner import Events, pipeline, run_engine

CROSS = """
  cli:
    kind: command
    matrix:
      os: [linux, freebsd]
      arch: [amd64, arm64]
      exclude:
        - {os: freebsd, arch: arm64}
    run: ["sh", "-c", "printf '%s/%s %s' {matrix.os} {matrix.arch} \\"$TARGET\\" >\\
          {out}/tool-{matrix.os}-{matrix.arch}"]
    outputs: ["tool-{matrix.os}-{matrix.arch}"]
    env:
      TARGET: "{matrix.os}-{matrix.arch}"
  sums:
    kind: checksums
    needs: [cli]
"""

#: linux on this host's kind of runner, darwin on macOS: only the first builds here.
NATIVE = """
  cli:
    kind: command
    matrix:
      os: [linux, darwin]
      include:
        - {os: linux, runner: ubuntu-24.04}
        - {os: darwin, runner: macos-15}
    runs-on: "{matrix.runner}"
    run: ["sh", "-c", "printf {matrix.os} > {out}/tool-{matrix.os}"]
    outputs: ["tool-{matrix.os}"]
  all-sums:
    kind: checksums
    needs: [cli]
  linux-sums:
    kind: checksums
    needs: [cli-linux]
"""

MACOS_REASON = str(local_skip("macos-15")).split(";")[0]


def test_a_matrix_builds_every_expansion_in_the_sandbox(repo: Repo, cli, tmp_path) -> None:
    path = pipeline(repo, CROSS)
    out = tmp_path / "out"
    result = cli("run", path, "--out", out, "--jobs", "2")
    assert result.code == 0, result.err
    for target in ("linux-amd64", "linux-arm64", "freebsd-amd64"):
        os_name, arch = target.split("-")
        made = (out / f"cli-{target}" / f"tool-{target}").read_text()
        assert made == f"{os_name}/{arch} {target}"
    assert not (out / "cli-freebsd-arm64").exists()
    sums = (out / "sums" / "SHA256SUMS").read_text()
    assert sorted(line.split()[1] for line in sums.splitlines()) == [
        "tool-freebsd-amd64", "tool-linux-amd64", "tool-linux-arm64"]
    # the summary names the matrix stage and values of each expansion
    row = next(line for line in result.out.splitlines() if line.startswith("cli-linux-arm64"))
    assert re.search(r"command\s+cli: os=linux, arch=arm64\s+success", row)
    manifest = json.loads((out / "manifest.json").read_text())
    assert {a["stage"] for a in manifest["artifacts"]} == {
        "cli-linux-amd64", "cli-linux-arm64", "cli-freebsd-amd64", "sums"}


def test_expansions_run_in_parallel_up_to_jobs(repo: Repo, tmp_path) -> None:
    path = pipeline(repo, CROSS)
    events = Events()
    run_engine(path, tmp_path / "out", events, jobs=2)
    # two expansions start before any ends; the third waits for a free slot
    assert [e[0] for e in events.log[:3]] == ["start", "start", "success"]
    assert events.log[-2:] == [("start", "sums"), ("success", "sums")]
    events = Events()
    run_engine(path, tmp_path / "out1", events, jobs=1)
    assert [e[0] for e in events.log[:4]] == ["start", "success", "start", "success"]


def test_a_macos_stage_is_skipped_with_its_reason_and_so_are_its_dependants(
        repo: Repo, cli, tmp_path) -> None:
    path = pipeline(repo, NATIVE)
    out = tmp_path / "out"
    result = cli("run", path, "--out", out)
    assert result.code == 0, result.err
    assert f"[cli-darwin] skipped: {MACOS_REASON}" in result.err
    assert ("[all-sums] skipped: needs 'cli-darwin', which was skipped: not built on this "
            "host") in result.err
    assert "[linux-sums] success" in result.err
    rows = {line.split()[0]: line for line in result.out.splitlines()[1:7]}
    assert f"skipped ({MACOS_REASON}" in rows["cli-darwin"]
    assert "cli: os=darwin" in rows["cli-darwin"]
    assert "skipped (needs 'cli-darwin'" in rows["all-sums"]
    assert (out / "cli-linux" / "tool-linux").read_text() == "linux"
    assert not (out / "cli-darwin").exists() and not (out / "all-sums").exists()


def test_a_single_stage_run_of_a_macos_stage_says_why_it_does_nothing(
        repo: Repo, cli, tmp_path) -> None:
    path = pipeline(repo, NATIVE)
    result = cli("run", path, "--stage", "cli-darwin", "--out", tmp_path / "out")
    assert result.code == 0, result.err
    assert f"[cli-darwin] skipped: {MACOS_REASON}" in result.err


def test_a_dry_run_review_shows_the_skip_and_binds_it(repo: Repo, cli, tmp_path) -> None:
    path = pipeline(repo, NATIVE)
    review_md, review_json = tmp_path / "review.md", tmp_path / "review.json"
    result = cli("run", path, "--dry-run", "--out", tmp_path / "dry", "--report", review_md,
                 "--report", review_json)
    assert result.code == 0, result.err
    assert f"[cli-darwin] skipped: {MACOS_REASON}" in result.err
    md = review_md.read_text()
    assert ("| not built on this host | **`cli-darwin`, `all-sums`**: approving covers none "
            "of their artifacts") in md
    assert f"| cli-darwin | command | cli: os=darwin | skipped ({MACOS_REASON}" in md
    data = json.loads(review_json.read_text())
    assert set(data["skipped_here"]) == {"cli-darwin", "all-sums"}
    assert data["stages"]["cli-darwin"]["status"] == "skipped"
    # the approved run on this host skips the same stages and builds the same artifacts
    approved = cli("run", path, "--out", tmp_path / "real", "--approved-plan", review_json)
    assert approved.code == 0, approved.err
    assert f"[cli-darwin] skipped: {MACOS_REASON}" in approved.err


def test_an_approval_refuses_a_run_that_builds_what_the_review_skipped(
        repo: Repo, tmp_path) -> None:
    """A review made where macOS stages were skipped approves none of their artifacts: a
    run where they would build (another host) differs in a bound fact, before any stage."""
    path = pipeline(repo, NATIVE)
    runner, _ = run_engine(path, tmp_path / "out", dry_run=True)
    here = RunBinding.of(runner)
    assert set(here.skipped_here) == {"cli-darwin", "all-sums"}
    assert here.skipped_here["cli-darwin"] == local_skip("macos-15")
    on_a_mac = dataclasses.replace(here, skipped_here={})
    problems = here.fact_differences(on_a_mac)
    assert problems == ["stages not built on the host: approved all-sums, cli-darwin, now "
                        "none (an approval covers only what its dry-run built)"]
    # and a review.json round-trips what it binds
    again = RunBinding.from_review({**here.review_fields(), "pipeline": {
        "file": here.pipeline_file, "sha256": here.pipeline_sha256},
        "source": {"repository": None, "tag": None, "version": here.version,
                   "commit": here.commit, "dirty": False}})
    assert again.skipped_here == here.skipped_here
    assert not here.fact_differences(again)


def test_runners_this_host_stands_in_for() -> None:
    linux = ("linux", "x64")
    assert local_skip("ubuntu-24.04", linux) is None
    assert local_skip("ubuntu-22.04", linux) is None
    assert local_skip(["self-hosted", "Linux", "X64"], linux) is None
    assert "Linux arm64" in (local_skip("ubuntu-24.04-arm", linux) or "")
    assert "Windows" in (local_skip("windows-2025", linux) or "")
    assert "do not name one operating system" in (local_skip(["self-hosted", "gpu"], linux)
                                                   or "")
    assert local_skip("macos-15", ("macos", "arm64")) is None
    assert local_skip("ubuntu-24.04-arm", ("linux", "arm64")) is None
    # the plain labels name no architecture: an arm64 Linux host builds the default stages
    assert local_skip("ubuntu-24.04", ("linux", "arm64")) is None
    assert "Linux x64" in (local_skip(["self-hosted", "linux", "x64"], ("linux", "arm64"))
                           or "")
    assert host_platform()[0] == "linux" and local_skip("ubuntu-24.04") is None


def test_running_the_matrix_stage_by_its_own_id_names_its_expansions(
        repo: Repo, cli, tmp_path) -> None:
    path = pipeline(repo, NATIVE)
    result = cli("run", path, "--stage", "cli", "--out", tmp_path / "out")
    assert result.code == 2
    assert result.err == (f"error: no stage 'cli' in {path}\n"
                          "  hint: 'cli' is a matrix: run one of its stages: cli-linux, "
                          "cli-darwin\n")
