"""The example pipeline (command + checksums + github-release) against the loopback GitHub."""

from __future__ import annotations

import json

import pytest

from release.github.download import download_release
from tests.github.conftest import PIPELINE, REPOSITORY, TAG, ReleaseSetup


def run(cli, setup: ReleaseSetup, *extra: str):  # type: ignore[no-untyped-def]
    return cli("run", setup.pipeline, "--out", setup.out, *extra, cwd=setup.repo.path)


def test_publishes_end_to_end_and_verifies(cli, release_setup: ReleaseSetup, monkeypatch,
                                           tmp_path) -> None:
    token = release_setup.token()
    monkeypatch.setenv("GITHUB_TOKEN", token)
    result = run(cli, release_setup)
    assert result.code == 0, result.out + result.err
    assert token not in result.out + result.err

    built = release_setup.built()
    assert set(built) == {"tool-linux-amd64", "README.txt", "SHA256SUMS"}
    assert release_setup.published() == sorted((n, f"sha256:{d}") for n, d in built.items())
    [rel] = release_setup.server.releases(REPOSITORY)
    assert not rel.draft and rel.immutable and rel.name == TAG
    assert "release-pipeline draft" not in (rel.body or "")  # the marker is gone
    local = {p.name: p for p in release_setup.out.glob("*/*") if p.name in built}
    for asset in rel.assets:  # the bytes GitHub holds are the bytes we built
        assert asset.path.read_bytes() == local[asset.name].read_bytes()
    record = json.loads((release_setup.out / "publish" / "release.json").read_text())
    assert record["immutable"] is True and record["tag"] == TAG
    assert {a["name"]: a["digest"] for a in record["assets"]} == {
        n: f"sha256:{d}" for n, d in built.items()}
    # uploads went to the uploads host, and the publish PATCH was the last write
    writes = [r for r in release_setup.server.requests if r.method in ("POST", "PATCH", "DELETE")]
    assert {r.host for r in writes if r.method == "POST" and "assets" in r.path} == {"uploads"}
    assert writes[-1].method == "PATCH"

    got = download_release(REPOSITORY, TAG, tmp_path / "dl",
                           environ={"GITHUB_API_URL": release_setup.server.api_url})
    assert got.immutable
    assert {a.name: a.sha256 for a in got.assets} == built


def test_rerun_of_a_published_release_is_a_no_op(cli, release_setup: ReleaseSetup,
                                                 monkeypatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", release_setup.token())
    assert run(cli, release_setup).code == 0
    before = len(release_setup.server.requests)
    again = run(cli, release_setup)
    assert again.code == 0, again.err
    assert "already published with exactly these assets" in again.out + again.err
    later = release_setup.server.requests[before:]
    assert [r for r in later if r.method != "GET"] == []


def test_published_release_with_other_assets_fails_without_changes(
        cli, release_setup: ReleaseSetup, monkeypatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", release_setup.token())
    assert run(cli, release_setup).code == 0
    # the next build differs from what was published under the same tag
    release_setup.repo.write("release.yaml", PIPELINE.replace("tool 1.0", "tool 1.1"))
    commit = release_setup.repo.commit("change")
    release_setup.repo.path.joinpath(".git/refs/tags", TAG).write_text(commit + "\n")
    release_setup.server.repos[REPOSITORY].tags[TAG] = commit
    before = len(release_setup.server.requests)
    result = run(cli, release_setup)
    assert result.code == 1
    assert "already published with different assets" in result.out
    assert "tool-linux-amd64: GitHub has sha256:" in result.out
    assert [r for r in release_setup.server.requests[before:] if r.method != "GET"] == []


def test_tag_pointing_elsewhere_fails_before_any_write(cli, release_setup: ReleaseSetup,
                                                       monkeypatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", release_setup.token())
    release_setup.server.set_tag(REPOSITORY, TAG, "1" * 40, annotated=True)
    result = run(cli, release_setup)
    assert result.code == 1
    assert f"tag {TAG} in {REPOSITORY} points at commit {'1' * 40}" in result.out
    assert all(r.method == "GET" for r in release_setup.server.requests)


def test_not_immutable_is_caught_after_publishing(cli, release_setup: ReleaseSetup,
                                                  monkeypatch) -> None:
    release_setup.server.repos[REPOSITORY].immutable_releases = False
    monkeypatch.setenv("GITHUB_TOKEN", release_setup.token())
    result = run(cli, release_setup)
    assert result.code == 1
    assert "published but not immutable" in result.out


def test_missing_token_fails_with_a_hint(cli, release_setup: ReleaseSetup) -> None:
    result = run(cli, release_setup)
    assert result.code == 1
    assert "needs a GitHub token in GITHUB_TOKEN, which is not set" in result.out
    assert release_setup.server.requests == []


def test_dry_run_shows_the_plan_with_no_credentials(cli, release_setup: ReleaseSetup,
                                                    tmp_path) -> None:
    report = tmp_path / "review.json"
    result = run(cli, release_setup, "--dry-run", "--report", report)
    assert result.code == 0, result.out + result.err
    assert release_setup.server.requests == []  # planned only: nothing sent to GitHub
    plan = json.loads(report.read_text())["stages"]["publish"]["plan"]
    actions = [step["action"] for step in plan]
    order = ["read the repository", "check the tag", "immutable-releases setting not read",
             "find a published release", "create a draft release", "upload asset",
             "publish (draft=false", "read back"]
    positions = [next(i for i, a in enumerate(actions) if a.startswith(o)) for o in order]
    assert positions == sorted(positions)
    uploads = [s for s in plan if s["action"].startswith("upload asset")]
    built = release_setup.built()
    assert {s["target"].split(" ")[0]: s["digest"] for s in uploads} == {
        n: f"sha256:{d}" for n, d in built.items()}
    sizes = {s["target"].split(" ")[0]: s["target"] for s in uploads}
    assert sizes["tool-linux-amd64"] == "tool-linux-amd64 (8 bytes)"
    assert all(s["permission"] == "contents: write" for s in uploads)
    assert plan[0]["identity"].startswith("GITHUB_TOKEN of the job")
    assert any(s.get("permission") == "contents: read" for s in plan)


@pytest.mark.parametrize("bad", ["notes: NOTES.md\n    generate-notes: true",
                                 "read-setting: true"])
def test_config_errors_point_at_the_stage(cli, release_setup: ReleaseSetup, bad: str) -> None:
    text = PIPELINE.replace("    needs: [build, checksums]\n",
                            f"    needs: [build, checksums]\n    {bad}\n")
    release_setup.pipeline.write_text(text)
    result = cli("plan", release_setup.pipeline)
    assert result.code == 2
    assert "release.yaml:" in result.err and "publish" in result.err


def test_notes_file_title_and_prerelease(cli, release_setup: ReleaseSetup, monkeypatch) -> None:
    release_setup.repo.write("NOTES.md", "# Changes\n\n- faster\n")
    text = PIPELINE.replace("    needs: [build, checksums]\n",
                            "    needs: [build, checksums]\n    notes: NOTES.md\n"
                            "    title: Demo 1.0\n    prerelease: true\n    make-latest: 'false'\n")
    release_setup.pipeline.write_text(text)
    commit = release_setup.repo.commit("notes")
    release_setup.repo.path.joinpath(".git/refs/tags", TAG).write_text(commit + "\n")
    release_setup.server.set_tag(REPOSITORY, TAG, commit)
    release_setup.repo.write("NOTES.md", "uncommitted edits are not published\n")
    monkeypatch.setenv("GITHUB_TOKEN", release_setup.token())
    result = run(cli, release_setup, "--allow-dirty")
    assert result.code == 0, result.out + result.err
    [rel] = release_setup.server.releases(REPOSITORY)
    assert (rel.name, rel.body, rel.prerelease) == ("Demo 1.0", "# Changes\n\n- faster\n", True)


def test_a_differing_draft_asset_is_replaced(cli, release_setup: ReleaseSetup,
                                             monkeypatch) -> None:
    from tests.github_server import Fault

    monkeypatch.setenv("GITHUB_TOKEN", release_setup.token())
    release_setup.server.inject(Fault("status", "PATCH", r"/releases/\d+$", status=500,
                                      times=99))
    assert run(cli, release_setup).code == 1
    release_setup.server.faults.clear()
    [draft] = release_setup.server.releases(REPOSITORY)
    stale = next(a for a in draft.assets if a.name == "README.txt")
    stale.digest, stale.size = "sha256:" + "0" * 64, 1  # as left by an earlier, different build
    result = run(cli, release_setup)
    assert result.code == 0, result.out + result.err
    assert "README.txt: the draft holds a different or incomplete copy" in result.err
    built = release_setup.built()
    assert release_setup.published() == sorted((n, f"sha256:{d}") for n, d in built.items())
    uploads = [r for r in release_setup.server.requests if r.host == "uploads"]
    assert len(uploads) == 4  # three in the first run, README.txt again in the second


def test_notes_that_are_not_utf8_are_a_clear_error(cli, release_setup: ReleaseSetup) -> None:
    (release_setup.repo.path / "NOTES.md").write_bytes(b"# Changes\n\xff\xfe broken\n")
    text = PIPELINE.replace("    needs: [build, checksums]\n",
                            "    needs: [build, checksums]\n    notes: NOTES.md\n")
    release_setup.pipeline.write_text(text)
    commit = release_setup.repo.commit("notes")
    release_setup.repo.path.joinpath(".git/refs/tags", TAG).write_text(commit + "\n")
    result = run(cli, release_setup, "--dry-run")
    assert result.code == 1
    assert "notes file 'NOTES.md' is not UTF-8 text (byte 10)" in result.out + result.err
    assert "internal error" not in result.out + result.err
