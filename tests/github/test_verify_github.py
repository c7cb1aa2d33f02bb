"""`release verify --github OWNER/NAME@TAG` on a release published to the loopback GitHub."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.github.conftest import PIPELINE, REPOSITORY, TAG, make_setup


def _key(tmp_path: Path) -> tuple[Path, Path]:
    private, public = tmp_path / "release.key", tmp_path / "release.pub"
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out",
                    str(private)], check=True)
    subprocess.run(["openssl", "ec", "-in", str(private), "-pubout", "-out", str(public)],
                   check=True, capture_output=True)
    return private, public


def _publish(cli, repo, github_server, tmp_path, monkeypatch, *, immutable: bool = True):
    private, public = _key(tmp_path)
    pipeline = PIPELINE.replace("""  publish:
    kind: github-release
    needs: [build, checksums]""", f"""  sign:
    kind: sign
    needs: [checksums]
    backend: key
    key: {private}
    public-key-name: release.pub
  publish:
    kind: github-release
    needs: [build, checksums, sign]
    immutable: optional""")
    setup = make_setup(repo, github_server, tmp_path, monkeypatch, pipeline,
                       immutable=immutable)
    monkeypatch.setenv("GITHUB_TOKEN", setup.token())
    result = cli("run", setup.pipeline, "--out", setup.out, cwd=setup.repo.path)
    assert result.code == 0, result.out + result.err
    monkeypatch.delenv("GITHUB_TOKEN")  # verification needs no token for a public release
    return setup, public


def test_verify_github_passes_on_the_published_release(cli, repo, github_server, tmp_path,
                                                       monkeypatch):
    setup, public = _publish(cli, repo, github_server, tmp_path, monkeypatch)
    result = cli("verify", "--github", f"{REPOSITORY}@{TAG}", "--key", public)
    assert result.code == 0, result.out + result.err
    assert "PASS  immutable" in result.out
    for name in ("tool-linux-amd64", "README.txt", "SHA256SUMS", "SHA256SUMS.sig"):
        assert f"PASS  download    {name}" in result.out
    assert "verified (" in result.out
    assert setup.commit  # the tag's commit came from GitHub


def test_verify_github_fails_when_not_immutable(cli, repo, github_server, tmp_path,
                                                monkeypatch):
    _, public = _publish(cli, repo, github_server, tmp_path, monkeypatch, immutable=False)
    result = cli("verify", "--github", f"{REPOSITORY}@{TAG}", "--key", public)
    assert result.code == 1
    assert "FAIL  immutable" in result.out and "assets can be replaced" in result.out


def test_verify_github_detects_a_swapped_asset(cli, repo, github_server, tmp_path,
                                               monkeypatch):
    setup, public = _publish(cli, repo, github_server, tmp_path, monkeypatch)
    [rel] = setup.server.releases(REPOSITORY)
    [asset] = [a for a in rel.assets if a.name == "tool-linux-amd64"]
    asset.path.write_bytes(b"tool 6.6")  # same size; GitHub's digest no longer matches
    result = cli("verify", "--github", f"{REPOSITORY}@{TAG}", "--key", public)
    assert result.code == 1
    assert "asset tool-linux-amd64 downloaded as sha256:" in result.err


def test_verify_github_needs_an_empty_directory(cli, tmp_path):
    (tmp_path / "planted").mkdir()
    (tmp_path / "planted" / "SHA256SUMS").write_text("stale\n")
    result = cli("verify", "--github", f"{REPOSITORY}@{TAG}", tmp_path / "planted")
    assert result.code == 2 and "is not an empty directory" in result.err


def test_verify_github_usage(cli):
    result = cli("verify", "--github", "not-a-release")
    assert result.code == 2 and "OWNER/NAME@TAG" in result.err
    result = cli("verify")
    assert result.code == 2 and "DIR is missing" in result.err
