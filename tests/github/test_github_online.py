"""The real flow against github.com, in a sandbox repository (skipped unless configured).

Set RELEASE_ONLINE_TESTS=1, RELEASE_TEST_GITHUB_REPO=owner/sandbox and
RELEASE_TEST_GITHUB_TOKEN (a fine-grained token with contents: write on that repository
only). Each run creates a new tag on the default branch and publishes a release for it;
with RELEASE_TEST_GITHUB_IMMUTABLE=1 the release must come out immutable (and cannot be
deleted afterwards), otherwise it is deleted at the end.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from release.github.assets import AssetFile
from release.github.client import ScopedGitHub
from release.github.download import download_release
from release.github.publish import Publisher, ReleaseSpec
from release.permissions import Level, PermissionSet

REPO = os.environ.get("RELEASE_TEST_GITHUB_REPO", "")
TOKEN = os.environ.get("RELEASE_TEST_GITHUB_TOKEN", "")
IMMUTABLE = os.environ.get("RELEASE_TEST_GITHUB_IMMUTABLE") == "1"

pytestmark = [
    pytest.mark.online,
    pytest.mark.skipif(
        os.environ.get("RELEASE_ONLINE_TESTS") != "1" or not REPO or not TOKEN,
        reason="needs real GitHub: set RELEASE_ONLINE_TESTS=1, RELEASE_TEST_GITHUB_REPO "
               "(a sandbox repository) and RELEASE_TEST_GITHUB_TOKEN (contents: write on it)"),
]


def test_publish_and_verify_on_github(tmp_path: Path) -> None:
    from githubkit import GitHub, TokenAuthStrategy

    tag = f"release-pipeline-test-{int(time.time())}"
    with GitHub(TokenAuthStrategy(TOKEN), timeout=60.0) as raw:
        owner, name = REPO.split("/")
        branch = raw.rest.repos.get(owner, name).parsed_data.default_branch
        commit = raw.rest.git.get_ref(owner, name, f"heads/{branch}").parsed_data.object_.sha
        raw.rest.git.create_ref(owner, name, ref=f"refs/tags/{tag}", sha=commit)
    data = f"online test {tag}\n".encode()
    path = tmp_path / "asset.txt"
    path.write_bytes(data)
    spec = ReleaseSpec(REPO, tag, commit, tag, "release-pipeline online test", False, True,
                       "false", IMMUTABLE, False,
                       (AssetFile("asset.txt", path, len(data), hashlib.sha256(data).hexdigest()),))
    grant = PermissionSet({"contents": Level.WRITE})
    with ScopedGitHub(REPO, grant, token=TOKEN, stage="online",
                      base_url="https://api.github.com") as gh:
        result = Publisher(gh, spec, log=print).publish()
        try:
            got = download_release(REPO, tag, tmp_path / "dl", require_immutable=IMMUTABLE,
                                   environ={"GITHUB_TOKEN": TOKEN})
            assert [a.sha256 for a in got.assets] == [spec.assets[0].sha256]
        finally:
            if not result.immutable:
                gh.call("repos/delete-release", {"release_id": result.release_id})
