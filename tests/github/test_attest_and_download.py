"""Attestation bundles stored with GitHub, and verified downloads of published releases."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from release.errors import IntegrityError, ReleaseError, StageFailed
from release.github.assets import AssetFile
from release.github.client import ScopedGitHub
from release.github.download import download_release
from release.github.failures import RetryPolicy
from release.github.publish import Publisher, ReleaseSpec
from release.permissions import Level, PermissionSet
from tests.conftest import SHARED
from tests.github.conftest import PIPELINE, REPOSITORY, TAG, ReleaseSetup
from tests.github_server import GitHubServer

STAGING = SHARED / "fixtures" / "sigstore" / "staging"
DSSE_BUNDLE = STAGING / "a.dsse.staging-rekor-v2.txt.sigstore.json"
PLAIN_BUNDLE = STAGING / "bundle_v3.txt.sigstore"
COMMIT = "c" * 40
GRANT = PermissionSet({"contents": Level.WRITE, "attestations": Level.WRITE})


def files(tmp_path: Path, contents: dict[str, bytes]) -> tuple[AssetFile, ...]:
    out = []
    for name, data in sorted(contents.items()):
        path = tmp_path / name
        path.write_bytes(data)
        out.append(AssetFile(name, path, len(data), hashlib.sha256(data).hexdigest()))
    return tuple(out)


def publish(server: GitHubServer, assets: tuple[AssetFile, ...],
            attestations: tuple[tuple[str, Path], ...] = (), *, immutable: bool = True):  # type: ignore[no-untyped-def]
    if REPOSITORY not in server.repos:
        server.add_repo(REPOSITORY, immutable=immutable)
        server.set_tag(REPOSITORY, TAG, COMMIT)
    token = server.add_token("actions", permissions={"contents": "write",
                                                     "attestations": "write"})
    spec = ReleaseSpec(REPOSITORY, TAG, COMMIT, TAG, "notes", False, False, "true",
                       immutable, False, assets, attestations)
    log: list[str] = []
    with ScopedGitHub(REPOSITORY, GRANT, token=token, stage="publish", base_url=server.api_url,
                      retry=RetryPolicy(base=0.01)) as gh:
        result = Publisher(gh, spec, log=log.append, pause=lambda _: None).publish()
    return result, log


def test_dsse_bundle_is_stored_once_under_its_subject(github_server, tmp_path) -> None:
    assets = files(tmp_path, {"a.txt": b"a"})
    bundle = json.loads(DSSE_BUNDLE.read_text())
    result, _ = publish(github_server, assets, (("a.intoto.sigstore.json", DSSE_BUNDLE),))
    assert result.attestations == ["a.intoto.sigstore.json"]
    [stored] = github_server.repos[REPOSITORY].attestations
    assert stored["bundle"] == bundle
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    assert stored["digests"] == [f"sha256:{s['digest']['sha256']}" for s in statement["subject"]]
    # a re-run (the release is published now) does not post it again
    before = len(github_server.requests)
    again, _ = publish(github_server, assets, (("a.intoto.sigstore.json", DSSE_BUNDLE),))
    assert again.noop
    assert not [r for r in github_server.requests[before:] if r.method == "POST"]


def test_attestation_stored_on_a_resumed_draft_is_not_posted_twice(github_server,
                                                                   tmp_path) -> None:
    from tests.github_server import Fault

    assets = files(tmp_path, {"a.txt": b"a"})
    github_server.inject(Fault("reset", "PATCH", r"/releases/\d+$", times=99))
    with pytest.raises(StageFailed):
        publish(github_server, assets, (("a.intoto.sigstore.json", DSSE_BUNDLE),))
    github_server.faults.clear()
    publish(github_server, assets, (("a.intoto.sigstore.json", DSSE_BUNDLE),))
    assert len(github_server.repos[REPOSITORY].attestations) == 1


def test_a_bundle_without_dsse_is_refused(github_server, tmp_path) -> None:
    with pytest.raises(StageFailed, match="not a Sigstore bundle with a DSSE in-toto statement"):
        publish(github_server, files(tmp_path, {"a.txt": b"a"}), (("x", PLAIN_BUNDLE),))


def test_attestations_from_the_pipeline(cli, release_setup: ReleaseSetup, monkeypatch) -> None:
    shutil.copy(DSSE_BUNDLE, release_setup.repo.path / "prov.intoto.sigstore.json")
    text = PIPELINE.replace(
        "printf 'read me' > {out}/README.txt",
        "printf 'read me' > {out}/README.txt; cp prov.intoto.sigstore.json {out}/",
    ).replace('outputs: ["tool-linux-amd64", "README.txt"]',
              'outputs: ["tool-linux-amd64", "README.txt", "prov.intoto.sigstore.json"]'
              ).replace("    needs: [build, checksums]\n",
                        "    needs: [build, checksums]\n    attestations: true\n")
    release_setup.pipeline.write_text(text)
    commit = release_setup.repo.commit("attest")
    release_setup.repo.path.joinpath(".git/refs/tags", TAG).write_text(commit + "\n")
    release_setup.server.set_tag(REPOSITORY, TAG, commit)
    plan = cli("plan", release_setup.pipeline, "--format", "json")
    perms = {s["id"]: s["permissions"] for s in json.loads(plan.out)["stages"]}
    assert perms["publish"] == {"attestations": "write", "contents": "write"}
    monkeypatch.setenv("GITHUB_TOKEN", release_setup.token(contents="write",
                                                           attestations="write"))
    result = cli("run", release_setup.pipeline, "--out", release_setup.out,
                 cwd=release_setup.repo.path)
    assert result.code == 0, result.out + result.err
    assert len(release_setup.server.repos[REPOSITORY].attestations) == 1


def test_download_checks_every_digest(github_server, tmp_path) -> None:
    assets = files(tmp_path, {"tool": b"tool bytes" * 1000, "SHA256SUMS": b"sums"})
    publish(github_server, assets)
    env = {"GITHUB_API_URL": github_server.api_url}
    got = download_release(REPOSITORY, TAG, tmp_path / "dl", environ=env)
    assert got.immutable and got.commit == COMMIT
    assert {a.name: a.sha256 for a in got.assets} == {a.name: a.sha256 for a in assets}
    assert (tmp_path / "dl" / "tool").read_bytes() == b"tool bytes" * 1000
    # GitHub serves bytes that differ from its own digest: refused, nothing left behind
    [rel] = github_server.releases(REPOSITORY)
    stored = next(a for a in rel.assets if a.name == "tool")
    stored.path.write_bytes(b"evil bytes" * 1000)
    with pytest.raises(IntegrityError, match=r"asset tool downloaded as sha256:\w+ \(10000 "
                                             r"bytes\), but GitHub reports sha256:"):
        download_release(REPOSITORY, TAG, tmp_path / "dl2", environ=env)
    assert not (tmp_path / "dl2" / "tool").exists()
    assert not list((tmp_path / "dl2").glob(".*.part"))


def test_download_requires_an_immutable_published_release(github_server, tmp_path) -> None:
    env = {"GITHUB_API_URL": github_server.api_url}
    github_server.add_repo(REPOSITORY, immutable=False)
    github_server.set_tag(REPOSITORY, TAG, COMMIT)
    with pytest.raises(ReleaseError, match="has no published release"):
        download_release(REPOSITORY, TAG, tmp_path / "dl", environ=env)
    publish(github_server, files(tmp_path, {"a": b"a"}), immutable=False)
    with pytest.raises(IntegrityError, match="is not immutable"):
        download_release(REPOSITORY, TAG, tmp_path / "dl", environ=env)
    got = download_release(REPOSITORY, TAG, tmp_path / "dl", environ=env,
                           require_immutable=False)
    assert [a.name for a in got.assets] == ["a"]
