"""Every stage starts from an empty HOME, TMPDIR and caches; nothing survives a stage."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import Repo

LEAVE = """\
set -e
for d in "$HOME" "$TMPDIR" "$XDG_CACHE_HOME" /tmp; do
  mkdir -p "$d" && echo left > "$d/leftover"
done
echo "$HOME $TMPDIR $XDG_CACHE_HOME" > "$1/paths.txt"
"""

LOOK = """\
set -e
r="$1/report.txt"
for d in "$HOME" "$TMPDIR" "$XDG_CACHE_HOME" /tmp /var/tmp; do
  echo "$d: $(ls -A "$d" 2>/dev/null | tr '\\n' ' ')" >> "$r"
done
echo "outer-home: $(ls -A "$OUTER_HOME" 2>&1 | tr '\\n' ' ')" >> "$r"
echo "umask: $(umask)" >> "$r"
for v in TZ LC_ALL SOURCE_DATE_EPOCH PIP_NO_CACHE_DIR UV_NO_CACHE LEAKY_SETTING; do
  echo "$v=$(printenv $v || true)" >> "$r"
done
echo "pip-cache: $("$PY" -m pip cache dir 2>&1 || true)" >> "$r"
echo "$HOME $TMPDIR $XDG_CACHE_HOME" > "$1/paths.txt"
"""


def test_nothing_survives_a_stage(repo: Repo, cli, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    outer_home = tmp_path / "outer-home"
    outer_home.mkdir()
    (outer_home / ".pypirc").write_text("[pypi]\npassword = not-for-builds\n")
    monkeypatch.setenv("HOME", str(outer_home))
    monkeypatch.setenv("LEAKY_SETTING", "from-the-outside")
    repo.write("leave.sh", LEAVE)
    repo.write("look.sh", LOOK)
    repo.write("release.yaml", f"""\
        version: 1
        name: caches
        stages:
          first:
            kind: command
            run: ["sh", "leave.sh", "{{out}}"]
            outputs: ["paths.txt"]
          second:
            kind: command
            needs: [first]
            env: {{OUTER_HOME: "{outer_home}", PY: "{sys.executable}"}}
            run: ["sh", "look.sh", "{{out}}"]
            outputs: ["report.txt", "paths.txt"]
        """)
    repo.commit()
    res = cli("run", repo.path / "release.yaml", "--out", tmp_path / "out", "--jobs", "1")
    assert res.code == 0, res.err
    report = (tmp_path / "out" / "second" / "report.txt").read_text().splitlines()
    first_paths = (tmp_path / "out" / "first" / "paths.txt").read_text().split()
    second_paths = (tmp_path / "out" / "second" / "paths.txt").read_text().split()
    # each stage has its own directories, and they are gone once it ends
    assert set(first_paths).isdisjoint(second_paths)
    assert not any(Path(p).exists() for p in first_paths + second_paths)
    dirs = [line for line in report if line.startswith("/")]
    assert len(dirs) == 5
    # HOME, TMPDIR and the cache are empty; /tmp holds only the mount points of this
    # stage's own workspace and output directory, and nothing the first stage left
    assert all(line.split(":", 1)[1].strip() == "" for line in dirs[:3] + dirs[4:]), dirs
    assert "leftover" not in dirs[3] and "release-first" not in dirs[3], dirs
    # the invoking user's home is not in the sandbox at all (an allow-list of mounts)
    assert report[5].startswith("outer-home: ls: ") and "No such file" in report[5]
    assert "umask: 0022" in report
    assert "TZ=UTC" in report and "LC_ALL=C.UTF-8" in report
    assert "SOURCE_DATE_EPOCH=1767323045" in report  # the commit time, 2026-01-02T03:04:05Z
    assert "PIP_NO_CACHE_DIR=1" in report and "UV_NO_CACHE=1" in report
    assert "LEAKY_SETTING=" in report
    pip_line = next(line for line in report if line.startswith("pip-cache:"))
    assert "cache is disabled" in pip_line
    assert (outer_home / ".pypirc").exists() and not (outer_home / "leftover").exists()


@pytest.mark.parametrize(("stage", "message"), [
    ('    env: {PIP_CACHE_DIR: /var/cache/pip}', "configures a cache"),
    ('    env: {GOFLAGS: "-mod=mod"}', "configures a cache"),
    ("    cache: true", "caches are not allowed"),
])
def test_pipeline_cannot_enable_caches(repo: Repo, cli, stage: str, message: str) -> None:
    path = repo.write("release.yaml", "version: 1\nname: c\nstages:\n  a:\n    kind: command\n"
                      "    run: [make]\n    outputs: [x]\n" + stage + "\n")
    res = cli("plan", path)
    assert res.code == 2
    assert "release.yaml:8:" in res.err and message in res.err
