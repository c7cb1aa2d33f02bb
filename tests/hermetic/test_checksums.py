"""``checksums`` output passes GNU ``sha256sum -c`` / ``sha512sum -c`` over the artifacts."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from tests.conftest import Repo

PIPELINE = """\
version: 1
name: sums
stages:
  tool:
    kind: command
    run: ["sh", "-c", "mkdir -p {out}/bin && printf 'binary\\\\0data' > {out}/bin/tool-linux"]
    outputs: ["bin/tool-linux"]
  docs:
    kind: command
    run: ["sh", "-c", "echo readme > {out}/README.txt; seq 1 100000 > {out}/Big.txt"]
    outputs: ["README.txt", "Big.txt"]
  sums:
    kind: checksums
    needs: [tool, docs]
    sha512: true
"""


def _gather(out: Path, dest: Path) -> list[str]:
    """Copy every artifact into one directory by its name, as a release page holds them."""
    dest.mkdir()
    manifest = json.loads((out / "manifest.json").read_text())
    for art in manifest["artifacts"]:
        shutil.copyfile(out / art["path"], dest / art["name"])
    return sorted(a["name"] for a in manifest["artifacts"])


def test_sha256sum_and_sha512sum_verify(repo: Repo, cli, tmp_path: Path) -> None:
    repo.write("release.yaml", PIPELINE)
    repo.commit()
    out = tmp_path / "out"
    res = cli("run", repo.path / "release.yaml", "--out", out)
    assert res.code == 0, res.err
    names = _gather(out, tmp_path / "release")
    assert names == ["Big.txt", "README.txt", "SHA256SUMS", "SHA512SUMS", "tool-linux"]
    sums = (tmp_path / "release" / "SHA256SUMS").read_text().splitlines()
    # GNU format: digest, two spaces, name; sorted by name (bytes)
    assert [line.split("  ", 1)[1] for line in sums] == ["Big.txt", "README.txt", "tool-linux"]
    for tool, file in (("sha256sum", "SHA256SUMS"), ("sha512sum", "SHA512SUMS")):
        check = subprocess.run([tool, "--strict", "-c", file], cwd=tmp_path / "release",
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        assert check.stdout.count(": OK") == 3

    # the control: a swapped byte fails the same check
    (tmp_path / "release" / "tool-linux").write_bytes(b"binary\0dat4")
    check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=tmp_path / "release",
                           capture_output=True, text=True)
    assert check.returncode == 1 and "tool-linux: FAILED" in check.stdout
