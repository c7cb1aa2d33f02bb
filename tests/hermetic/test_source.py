"""Builds see the committed tree only; a dirty tree is refused unless --allow-dirty."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Repo, git

LIST = """\
version: 1
name: src
stages:
  files:
    kind: command
    run: ["sh", "-c", "find . -type f | sort > {out}/files.txt; cat data.txt > {out}/data.txt"]
    outputs: ["files.txt", "data.txt"]
"""


def _setup(repo: Repo) -> Path:
    path = repo.write("release.yaml", LIST)
    repo.write("data.txt", "committed\n")
    repo.write(".gitignore", "*.log\n")
    repo.commit()
    return path


def test_export_ignores_untracked_and_ignored_files(repo: Repo, cli, tmp_path: Path) -> None:
    path = _setup(repo)
    repo.write("untracked.txt", "not committed\n")
    repo.write("build.log", "ignored\n")
    repo.write("sub/.hidden", "untracked too\n")
    res = cli("run", path, "--out", tmp_path / "out")
    assert res.code == 0, res.err
    files = (tmp_path / "out" / "files" / "files.txt").read_text().split()
    assert files == ["./.gitignore", "./data.txt", "./release.yaml"]


def test_dirty_tree_is_refused(repo: Repo, cli, tmp_path: Path) -> None:
    path = _setup(repo)
    repo.write("data.txt", "changed, not committed\n")
    res = cli("run", path, "--out", tmp_path / "out")
    assert res.code == 2
    assert "has uncommitted changes" in res.err and "--allow-dirty" in res.err
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_allow_dirty_is_loud_recorded_and_still_builds_the_commit(repo: Repo, cli,
                                                                   tmp_path: Path) -> None:
    path = _setup(repo)
    commit = git(repo.path, "rev-parse", "HEAD")
    repo.write("data.txt", "changed, not committed\n")
    res = cli("run", path, "--out", tmp_path / "out", "--allow-dirty")
    assert res.code == 0, res.err
    assert "WARNING: building from a working tree with uncommitted changes" in res.err
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["allow_dirty"] is True
    assert manifest["source"]["dirty"] is True and manifest["source"]["commit"] == commit
    # the build saw the committed bytes, not the edit
    assert (tmp_path / "out" / "files" / "data.txt").read_text() == "committed\n"


def test_clean_run_records_no_override(repo: Repo, cli, tmp_path: Path) -> None:
    path = _setup(repo)
    res = cli("run", path, "--out", tmp_path / "out")
    assert res.code == 0, res.err
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["allow_dirty"] is False and manifest["sandbox"] is True
    assert manifest["source"]["dirty"] is False
    assert "WARNING" not in res.err


def test_plan_shows_source_date_and_version_from_tag(repo: Repo, cli) -> None:
    path = _setup(repo)
    repo.tag("v1.4.0")
    res = cli("plan", path, "--format", "json")
    assert res.code == 0, res.err
    source = json.loads(res.out)["source"]
    assert source["source_date_epoch"] == 1767323045  # 2026-01-02T03:04:05Z, the commit time
    assert source["version"] == "1.4.0" and source["tag"] == "v1.4.0"
