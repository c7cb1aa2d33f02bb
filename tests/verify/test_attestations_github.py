"""`release verify --github` reads each asset's attestations and GitHub's release
attestation from the (loopback) attestations API, paginated, verifies them, and saves
them beside the assets so the check runs again offline."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.github_server import (
    Asset,
    GitHubServer,
    Release,
    _ids,
    _now,
    github_server,  # noqa: F401  (fixture)
)
from tests.verify.attest_kit import (
    github_instance,  # noqa: F401  (session fixture)
    provenance,
    release_claims,
    release_statement,
    run_claims,
    sign,
)

REPOSITORY = "octo-org/tool"
TAG = "v3.1.0"
COMMIT = "a" * 40
FILES = {"tool-linux-amd64": b"\x7fELF tool 3.1.0", "tool-darwin-arm64": b"\xcf\xfa tool",
         "SHA256SUMS": b"placeholder"}


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def publish(server: GitHubServer, files: dict[str, bytes], *, immutable: bool = True,
            repository: str = REPOSITORY) -> Release:
    """A published release on the loopback GitHub, as GitHub stores one."""
    repo = server.repos.get(repository) or server.add_repo(repository)
    server.set_tag(repository, TAG, COMMIT)
    rel = Release(next(_ids), TAG, COMMIT, TAG, "notes", False, False, immutable=immutable,
                  published_at=_now())
    for name, data in files.items():
        path = server.root / f"asset-{next(_ids)}"
        path.write_bytes(data)
        rel.assets.append(Asset(next(_ids), name, None, "application/octet-stream", len(data),
                                f"sha256:{digest(data)}", "uploaded", path))
    repo.releases[rel.id] = rel
    return rel


@pytest.fixture
def world(github_server, sigstore_stack, github_instance, monkeypatch,  # noqa: F811
          tmp_path):
    """An immutable release with build provenance (one statement per binary) and GitHub's
    release attestation, stored in the loopback GitHub."""
    github_stack, github_root = github_instance
    files = dict(FILES)
    files["SHA256SUMS"] = "".join(f"{digest(d)}  {n}\n" for n, d in FILES.items()
                                  if n != "SHA256SUMS").encode()
    publish(github_server, files)
    claims = run_claims(REPOSITORY, TAG, COMMIT)
    binaries = [n for n in files if n.startswith("tool-")]
    for bundle in sign(sigstore_stack, claims, *(
            provenance({n: digest(files[n])}, repository=REPOSITORY, tag=TAG, commit=COMMIT)
            for n in binaries)):
        github_server.add_attestation(REPOSITORY, bundle)
    [release] = sign(github_stack, release_claims(), release_statement(
        {n: digest(d) for n, d in files.items()}, repository=REPOSITORY, tag=TAG,
        commit=COMMIT), log=False)
    github_server.add_attestation(REPOSITORY, release, initiator="github")
    monkeypatch.setenv("GITHUB_API_URL", github_server.api_url)
    return {"files": files, "root": github_root, "server": github_server,
            "out": tmp_path / "download"}


def verify(cli, world, sigstore_stack, *extra):
    return cli("verify", "--github", f"{REPOSITORY}@{TAG}", world["out"],
               "--trusted-root", sigstore_stack.trusted_root,
               "--github-trusted-root", world["root"], *extra)


def test_fetches_verifies_and_saves(cli, world, sigstore_stack, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", world["server"].add_token(
        "fine-grained", permissions={"contents": "read", "attestations": "read"}))
    world["server"].attestations_per_page = 1  # every answer comes in pages of one
    result = verify(cli, world, sigstore_stack, "--require-provenance")
    assert result.code == 0, result.out + result.err
    out = result.out
    assert "0 in release assets, 3 from the GitHub API, 0 in download files" in out
    for name in ("tool-linux-amd64", "tool-darwin-arm64"):
        assert f"PASS  provenance  {name}: https://slsa.dev/provenance/v1 by https://github.com/" \
               f"{REPOSITORY}/.github/workflows/release.yml@refs/tags/{TAG} in GitHub API " \
               f"sha256:{digest(world['files'][name])} #1" in out
    assert f"PASS  release     GitHub API sha1:{COMMIT} #1: {REPOSITORY}@{TAG} at {COMMIT}: " \
           "3 file(s) here are its assets" in out
    saved = sorted(p.name for p in world["out"].iterdir() if p.name.endswith(".jsonl"))
    assert saved == sorted([f"sha1:{COMMIT}.jsonl", *(
        f"sha256:{digest(world['files'][n])}.jsonl" for n in ("tool-linux-amd64",
                                                               "tool-darwin-arm64"))])
    assert f"PASS  saved       sha1:{COMMIT}.jsonl: 1 attestation(s) from the GitHub API" in out
    # the token went to the API host only, and pagination followed GitHub's cursor links
    pages = [r for r in world["server"].requests if "/attestations/" in r.path]
    assert len(pages) >= 4 and all(r.token_kind == "fine-grained" for r in pages)

    # offline, from the folder alone: the same verdict from the saved files
    monkeypatch.delenv("GITHUB_API_URL")
    again = cli("verify", world["out"], "--repository", REPOSITORY, "--tag", TAG,
                "--commit", COMMIT, "--trusted-root", sigstore_stack.trusted_root,
                "--github-trusted-root", world["root"], "--require-provenance")
    assert again.code == 0, again.out
    assert "0 in release assets, 0 from the GitHub API, 3 in download files" in again.out


def test_bundles_from_bundle_url(cli, world, sigstore_stack):
    # GitHub's newer answers leave the bundle out: it is Snappy-compressed on blob storage
    world["server"].bundle_url_mode = True
    result = verify(cli, world, sigstore_stack, "--require-provenance")
    assert result.code == 0, result.out + result.err
    assert "3 from the GitHub API" in result.out
    blobs = [r for r in world["server"].requests if r.path.startswith("/_bundles/")]
    assert blobs and all(r.token_kind == "anonymous" for r in blobs)


def test_without_github_root_the_release_attestation_is_skipped(cli, world, sigstore_stack):
    result = cli("verify", "--github", f"{REPOSITORY}@{TAG}", world["out"],
                 "--trusted-root", sigstore_stack.trusted_root)
    assert result.code == 0, result.out + result.err
    assert f"SKIP  release     GitHub API sha1:{COMMIT} #1: GitHub's release attestation not " \
           "checked" in result.out
    assert not (world["out"] / f"sha1:{COMMIT}.jsonl").exists()


def test_immutable_release_without_release_attestation_fails(
        cli, github_server, sigstore_stack, github_instance, monkeypatch,  # noqa: F811
        tmp_path):
    publish(github_server, {"tool": b"tool"})
    monkeypatch.setenv("GITHUB_API_URL", github_server.api_url)
    result = cli("verify", "--github", f"{REPOSITORY}@{TAG}", tmp_path / "d",
                 "--trusted-root", sigstore_stack.trusted_root,
                 "--github-trusted-root", github_instance[1])
    assert result.code == 1
    assert f"FAIL  release     {TAG}: GitHub has no valid release attestation for this " \
           "immutable release" in result.out


def test_saved_names_never_overwrite_or_follow(tmp_path):
    # GitHub's asset names cannot hold ':' (the download refuses them too), but the
    # writer does not rely on it: a file or a symlink already there is left alone
    from release.verify.attestation_sources import save
    from release.verify.report import Report

    folder = tmp_path / "download"
    folder.mkdir()
    (folder / "sha1:taken.jsonl").write_bytes(b"planted")
    outside = tmp_path / "outside"
    (folder / "sha256:link.jsonl").symlink_to(outside)
    bundle = json.dumps({"mediaType": "x"}).encode()
    report = Report(str(folder))
    save(folder, {"sha1:taken.jsonl": [bundle], "sha256:link.jsonl": [bundle],
                  "sha256:new.jsonl": [bundle, bundle]}, report)
    lines = {c.subject: c.render() for c in report.checks}
    assert lines["sha256:new.jsonl"].startswith(
        "PASS  saved       sha256:new.jsonl: 1 attestation(s)")
    assert lines["sha256:link.jsonl"].startswith(
        "FAIL  saved       sha256:link.jsonl: not saved: a file of that name is already there")
    assert lines["sha1:taken.jsonl"].startswith("FAIL  saved       sha1:taken.jsonl: not saved")
    assert (folder / "sha1:taken.jsonl").read_bytes() == b"planted"
    assert not outside.exists()
    assert (folder / "sha256:new.jsonl").read_bytes() == b'{"mediaType":"x"}\n'


def test_fetched_json_is_what_github_served(world):
    # the loopback server answers in GitHub's documented shape
    import urllib.request

    sha = digest(world["files"]["tool-linux-amd64"])
    url = f"{world['server'].api_url}/repos/{REPOSITORY}/attestations/sha256:{sha}"
    with urllib.request.urlopen(url) as resp:  # loopback
        data = json.loads(resp.read())
    # the build provenance, and GitHub's release attestation (filed under every asset)
    provenance_item, release_item = data["attestations"]
    for item in (provenance_item, release_item):
        assert set(item) == {"bundle", "repository_id", "bundle_url", "initiator"}
        assert Path(str(item["bundle"]["mediaType"])).name.startswith("vnd.dev.sigstore.bundle")
    assert (provenance_item["initiator"], release_item["initiator"]) == ("user", "github")
