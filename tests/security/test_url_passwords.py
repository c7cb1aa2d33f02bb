"""A build is not trusted with what it prints: a URL with a password in it (a private
index or registry, written into a config the build reads, or a lock line the engine
refuses) is masked wherever the tool writes it, in a stage's log, a failure's reason
and an error message."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import Repo

SAMPLE = Path(__file__).resolve().parents[1] / "assets" / "flit-sample"

PASSWORD = "Corp-Index-Passw0rd"
URL = f"https://bot:{PASSWORD}@pypi.corp.example/simple"


def test_a_password_in_a_url_a_build_prints_is_masked(repo: Repo, cli, tmp_path: Path) -> None:
    repo.write("release.yaml", f"""\
        version: 1
        name: leak
        stages:
          leak:
            kind: command
            run: ["sh", "-c", "echo index={URL}; echo ok > {{out}}/ok"]
            outputs: ["ok"]
        """)
    repo.commit()
    result = cli("run", repo.path / "release.yaml", "--out", tmp_path / "out")
    assert result.code == 0, result.err
    assert PASSWORD not in result.out + result.err
    assert "index=https://***@pypi.corp.example/simple" in result.err


def test_a_password_in_a_refused_lock_line_is_masked(repo: Repo, cli, tmp_path: Path) -> None:
    shutil.copytree(SAMPLE, repo.path, dirs_exist_ok=True)
    repo.write("lock.txt", f"--index-url={URL}\n")
    repo.write("release.yaml", """\
        version: 1
        name: leak
        stages:
          sdk:
            kind: python-dist
            build-requirements: lock.txt
        """)
    repo.commit()
    result = cli("run", repo.path / "release.yaml", "--out", tmp_path / "out")
    assert result.code == 2, result.err
    assert PASSWORD not in result.out + result.err
    assert "lock.txt:1: error: --index-url=https://***@pypi.corp.example/simple" in result.err
