"""The reproducibility check builds a stage twice and catches outputs that differ."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import Repo

DIGEST = "[0-9a-f]{64}"


def _pipeline(repo: Repo, script: str, key: str = "") -> Path:
    path = repo.write("release.yaml", f"""\
        version: 1
        name: repro
        stages:
          build:
            kind: command
            run: ["sh", "-c", "{script}"]
            outputs: ["a.txt", "b.txt"]
        {key}
        """)
    repo.commit()
    return path


@pytest.mark.parametrize("how", ["key", "flag"])
def test_writing_the_time_is_caught(repo: Repo, cli, tmp_path: Path, how: str) -> None:
    key = "    reproducible: true" if how == "key" else ""
    path = _pipeline(repo, "echo same > {out}/a.txt; date +%s%N > {out}/b.txt", key)
    extra = ["--verify-reproducible"] if how == "flag" else []
    res = cli("run", path, "--out", tmp_path / "out", *extra)
    assert res.code == 1
    found = re.search(rf"stage 'build' is not reproducible; two builds differ: "
                      rf"b\.txt: ({DIGEST}) then ({DIGEST})", res.err)
    assert found, res.err
    assert found.group(1) != found.group(2)
    assert "a.txt:" not in res.err  # identical outputs are not listed
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_writing_the_build_path_is_caught(repo: Repo, cli, tmp_path: Path) -> None:
    """The two builds run in different directories, so path leaks show up too."""
    path = _pipeline(repo, "pwd > {out}/a.txt; echo same > {out}/b.txt")
    res = cli("run", path, "--out", tmp_path / "out", "--verify-reproducible")
    assert res.code == 1
    assert re.search(rf"two builds differ: a\.txt: {DIGEST} then {DIGEST}", res.err), res.err


def test_deterministic_build_passes(repo: Repo, cli, tmp_path: Path) -> None:
    path = _pipeline(repo, "echo same > {out}/a.txt; echo $SOURCE_DATE_EPOCH > {out}/b.txt",
                     "    reproducible: true")
    res = cli("run", path, "--out", tmp_path / "out")
    assert res.code == 0, res.err
    assert (tmp_path / "out" / "build" / "b.txt").read_text() == "1767323045\n"
