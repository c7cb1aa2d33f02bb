"""Fixtures for GitHub tests: the loopback GitHub and a tagged repository with a pipeline."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Repo
from tests.github_server import GitHubServer, github_server  # noqa: F401  (fixture)

REPOSITORY = "octo/demo"
TAG = "v1.0.0"

#: The example shape: a build (command), checksums over it, and the release.
PIPELINE = f"""\
version: 1
name: demo
source:
  repository: {REPOSITORY}
stages:
  build:
    kind: command
    run:
      - sh
      - -c
      - printf 'tool 1.0' > {{out}}/tool-linux-amd64; printf 'read me' > {{out}}/README.txt
    outputs: ["tool-linux-amd64", "README.txt"]
  checksums:
    kind: checksums
    needs: [build]
  publish:
    kind: github-release
    needs: [build, checksums]
"""


@dataclass
class ReleaseSetup:
    """A tagged repository holding the pipeline, mirrored on the loopback GitHub."""

    repo: Repo
    server: GitHubServer
    commit: str
    pipeline: Path
    out: Path

    def token(self, **permissions: str) -> str:
        return self.server.add_token("actions", permissions=permissions or
                                     {"contents": "write"}, repositories=(REPOSITORY,))

    def built(self) -> dict[str, str]:
        """Name -> sha256 of every file the run produced that should be an asset."""
        files = [*(self.out / "build").iterdir(), self.out / "checksums" / "SHA256SUMS"]
        return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}

    def published(self) -> list[tuple[str, str]]:
        rels = [r for r in self.server.releases(REPOSITORY) if not r.draft]
        assert len(rels) <= 1
        return sorted((a.name, a.digest or "") for r in rels for a in r.assets)


def make_setup(repo: Repo, server: GitHubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
               pipeline: str = PIPELINE, *, immutable: bool = True) -> ReleaseSetup:
    path = repo.write("release.yaml", pipeline)
    commit = repo.commit("release pipeline")
    repo.tag(TAG)
    if REPOSITORY not in server.repos:
        server.add_repo(REPOSITORY, immutable=immutable)
    server.set_tag(REPOSITORY, TAG, commit)
    monkeypatch.setenv("GITHUB_API_URL", server.api_url)
    return ReleaseSetup(repo, server, commit, path, tmp_path / "out")


@pytest.fixture
def release_setup(repo: Repo, github_server: GitHubServer,  # noqa: F811
                  tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: object) -> ReleaseSetup:
    """Depends on ``cli`` so that its environment scrub runs before our variables are set."""
    del cli
    return make_setup(repo, github_server, tmp_path, monkeypatch)
