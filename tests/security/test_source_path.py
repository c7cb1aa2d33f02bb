"""A pipeline that releases one folder (``source.path``) must not read beyond it.

Trusted: the pipeline author of that folder. Not trusted: the rest of the monorepo (other
teams' folders, links committed anywhere). Each attack runs through the CLI with the real
sandbox; the secret sits in a sibling folder of the same commit, or outside the repository.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from tests.conftest import Repo

SECRET = "sibling secret\n"


def monorepo(repo: Repo, path: str, run: str = "cat * > {out}/seen.txt") -> Path:
    """``sdk/`` releases with ``path``; ``cli/secret.txt`` belongs to another team."""
    repo.write("cli/secret.txt", SECRET)
    repo.write("sdk/a.txt", "sdk file\n")
    pipeline = repo.write("sdk/release.yaml", f"""\
        version: 1
        name: sdk
        source:
          path: {json.dumps(path)}
          tags: "sdk/v*"
        stages:
          build:
            kind: command
            run: ["sh", "-c", {json.dumps(run)}]
            outputs: ["seen.txt"]
        """)
    repo.commit()
    return pipeline


@pytest.mark.parametrize(("path", "said"), [
    ("..", "`..` is refused"),
    ("sdk/../cli", "`..` is refused"),
    ("/etc", "not absolute"),
    ("sdk\\..\\cli", "backslash"),
])
def test_a_path_leaving_the_repository_is_refused_at_its_line(
        repo: Repo, cli, path: str, said: str) -> None:
    pipeline = monorepo(repo, path)
    res = cli("plan", pipeline)
    assert res.code == 2
    assert "release.yaml:4:9: error: `source.path` " in res.err and said in res.err, res.err


def test_a_linked_folder_is_refused_before_anything_runs(repo: Repo, cli, tmp_path: Path
                                                         ) -> None:
    pipeline = monorepo(repo, "linked/sdk")
    (repo.path / "linked").symlink_to("cli")  # linked/ -> cli/, committed as a link
    repo.commit()
    res = cli("run", pipeline, "--out", tmp_path / "out")
    assert res.code == 2
    assert "source.path 'linked/sdk': 'linked' is a symbolic link in commit" in res.err
    assert not (tmp_path / "out").exists()
    res = cli("plan", pipeline)  # a reviewer's plan says so too
    assert res.code == 2 and "'linked' is a symbolic link" in res.err

    os.symlink("/", repo.path / "root")  # a link out of the repository
    repo.commit()
    (repo.path / "sdk" / "release.yaml").write_text(
        pipeline.read_text().replace('"linked/sdk"', '"root"'))
    repo.commit()
    res = cli("run", pipeline, "--out", tmp_path / "out")
    assert res.code == 2 and "'root' is a symbolic link" in res.err, res.err


def test_a_file_or_missing_folder_is_refused(repo: Repo, cli, tmp_path: Path) -> None:
    pipeline = monorepo(repo, "sdk/a.txt")
    res = cli("run", pipeline, "--out", tmp_path / "out")
    assert res.code == 2 and "'sdk/a.txt' is not a folder in commit" in res.err, res.err
    pipeline.write_text(pipeline.read_text().replace('"sdk/a.txt"', '"docs"'))
    repo.commit()
    res = cli("run", pipeline, "--out", tmp_path / "out")
    assert res.code == 2 and "'docs' is not in commit" in res.err, res.err


def test_the_build_sees_its_folder_alone(repo: Repo, cli, tmp_path: Path) -> None:
    """The export holds ``sdk/`` only: the sibling's file is not there to read, by any
    relative path."""
    pipeline = monorepo(repo, "sdk", run="ls -A > {out}/seen.txt; cat ../cli/secret.txt "
                                          "../../cli/secret.txt cli/secret.txt "
                                          ">> {out}/seen.txt 2>/dev/null; true")
    repo.tag("sdk/v1.2.3")
    out = tmp_path / "out"
    res = cli("run", pipeline, "--out", out)
    assert res.code == 0, res.out + res.err
    seen = (out / "build" / "seen.txt").read_text()
    assert seen.split() == ["a.txt", "release.yaml"]
    assert SECRET.strip() not in seen
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["source"]["path"] == "sdk"
    assert manifest["source"]["version"] == "1.2.3"
    assert manifest["pipeline"]["file"] == "sdk/release.yaml"


def test_a_committed_link_out_of_the_folder_stops_the_export(repo: Repo, cli,
                                                             tmp_path: Path) -> None:
    pipeline = monorepo(repo, "sdk")
    (repo.path / "sdk" / "peek").symlink_to("../cli/secret.txt")
    repo.commit()
    out = tmp_path / "out"
    res = cli("run", pipeline, "--out", out)
    assert res.code == 1
    assert "the link sdk/peek points outside sdk" in res.out
    assert not (out / "build" / "seen.txt").exists()


def test_a_lock_outside_the_folder_is_not_a_lock(repo: Repo, cli, tmp_path: Path) -> None:
    """Locks are named relative to the folder: `..` is refused at load time, and a lock
    of the same name elsewhere in the repository does not pin this folder's fetch."""
    repo.write("package-lock.json", "{}\n")
    pipeline = monorepo(repo, "sdk")
    text = pipeline.read_text()
    fetch = '    fetch: ["npm", "ci", "--ignore-scripts"]\n'
    pipeline.write_text(text + fetch + '    locks: ["../package-lock.json"]\n')
    res = cli("plan", pipeline)
    assert res.code == 2 and "lock '../package-lock.json' must be a plain relative" in res.err
    pipeline.write_text(text + fetch + '    locks: ["package-lock.json"]\n')
    repo.commit()
    res = cli("run", pipeline, "--out", tmp_path / "out")
    assert res.code == 1
    assert "lock 'sdk/package-lock.json' is not a file of commit" in res.out, res.out


def test_notes_and_the_plan_come_from_the_folder(repo: Repo, cli, tmp_path: Path) -> None:
    """`notes:` is relative to the folder too: a file of the same name at the repository
    root is not what the reviewer approves."""
    repo.write("NOTES.md", "root notes\n")
    repo.write("sdk/NOTES.md", "sdk notes\n")
    pipeline = monorepo(repo, "sdk")
    text = pipeline.read_text().replace("source:\n", "source:\n  repository: octo/mono\n")
    pipeline.write_text(text + "  publish:\n    kind: github-release\n    needs: [build]\n"
                               "    notes: NOTES.md\n")
    commit = repo.commit()
    repo.tag("sdk/v2.0.0")
    res = cli("run", pipeline, "--dry-run", "--out", tmp_path / "out",
              "--report", tmp_path / "review.json")
    assert res.code == 0, res.out + res.err
    digest = hashlib.sha256(b"sdk notes\n").hexdigest()
    assert f"release notes NOTES.md at {commit[:12]} (sha256:{digest})" in res.out
    review = json.loads((tmp_path / "review.json").read_text())
    assert (review["source"]["path"], review["source"]["tag"]) == ("sdk", "sdk/v2.0.0")
