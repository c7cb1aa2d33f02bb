"""What the attest stage attests: artifacts by file digest, images also by manifest digest."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
import tarfile

import pytest

from release.engine.manifest import Artifact
from release.engine.run_options import environ_invocation_id
from release.errors import StageFailed
from release.provenance.slsa import LOCAL_BUILDER_ID
from release.signing import runfacts
from release.stages.attest_statements import OCI_DIGEST, OCI_REPOSITORY, subjects_of
from tests.signing.conftest import PASSPHRASE, release_repo
from tests.signing.test_key import VAR, intoto_keyid

IMAGE = "ab" * 32


def art(name: str, sha: str = "cd" * 32, **notes: str) -> Artifact:
    return Artifact(name, "binary", "build", f"build/{name}", 1, sha, notes)


def test_subjects_by_file_and_image_digest():
    arts = [art("tool"), art("app.oci.tar", "ef" * 32, **{OCI_DIGEST: f"sha256:{IMAGE}"}),
            art("pushed.tar", "01" * 32, **{OCI_DIGEST: f"sha256:{IMAGE}",
                                            OCI_REPOSITORY: "ghcr.io/owner/repo"}),
            art("notes.txt")]
    assert subjects_of(arts, ["*.tar", "tool"]) == [
        ("app.oci.tar", "ef" * 32), ("app.oci", IMAGE),
        ("pushed.tar", "01" * 32), ("ghcr.io/owner/repo", IMAGE),
        ("tool", "cd" * 32)]


@pytest.mark.parametrize("digest", ["sha512:" + "ab" * 64, IMAGE, "sha256:XYZ"])
def test_malformed_image_digest_is_refused(digest):
    with pytest.raises(StageFailed, match="has image digest"):
        subjects_of([art("app.tar", **{OCI_DIGEST: digest})], ["*"])


def test_image_is_attested_by_its_manifest_digest(repo, cli, make_key, monkeypatch, tmp_path):
    key = make_key()
    pipeline = release_repo(repo, f"""\
image:
  kind: oci-image
  needs: [build]
  files: {{tool: /usr/local/bin/tool}}
provenance:
  kind: attest
  needs: [image]
  backend: key
  key: {key.private}
  passphrase-env: {VAR}
""")
    monkeypatch.setenv(VAR, PASSPHRASE)
    out = tmp_path / "out"
    result = cli("run", pipeline, "--out", out)
    assert result.code == 0, result.out + result.err

    archive = out / "image" / "image.oci.tar"
    with tarfile.open(archive) as tar:
        member = tar.extractfile("index.json")
        assert member is not None
        index = json.load(member)
    [top] = index["manifests"]
    envelope = json.loads((out / "provenance" / "demo.intoto.jsonl").read_text())
    assert envelope["signatures"][0]["keyid"] == intoto_keyid(key.public)
    statement = json.loads(base64.b64decode(envelope["payload"]))
    subjects = {s["name"]: s["digest"]["sha256"] for s in statement["subject"]}
    assert subjects["image.oci"] == top["digest"].removeprefix("sha256:")
    assert subjects["image.oci.tar"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    # skopeo, reading the archive on its own, finds the same image
    inspect = subprocess.run(["skopeo", "inspect", "--raw", f"oci-archive:{archive}"],
                             capture_output=True, check=False)
    assert inspect.returncode == 0, inspect.stderr
    assert top["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert hashlib.sha256(inspect.stdout).hexdigest() == subjects["image.oci"]


def test_sboms_are_attested_with_the_cyclonedx_predicate(repo, cli, make_key, monkeypatch,
                                                         tmp_path):
    key = make_key()
    pipeline = release_repo(repo, f"""\
sbom:
  kind: sbom
  needs: [build]
  include: [tool]
sign:
  kind: sign
  needs: [checksums]
  backend: key
  key: {key.private}
  passphrase-env: {VAR}
provenance:
  kind: attest
  needs: [build, checksums, sbom]
  backend: key
  key: {key.private}
  passphrase-env: {VAR}
  public-key-name: release.pub
""")
    monkeypatch.setenv(VAR, PASSPHRASE)
    out = tmp_path / "out"
    result = cli("run", pipeline, "--out", out)
    assert result.code == 0, result.out + result.err
    folder = out / "provenance"
    assert sorted(p.name for p in folder.iterdir()) == [
        "demo.intoto.jsonl", "release.pub", "tool.cdx.intoto.jsonl"]
    [line] = (folder / "tool.cdx.intoto.jsonl").read_text().splitlines()
    statement = json.loads(base64.b64decode(json.loads(line)["payload"]))
    assert statement["predicateType"] == "https://cyclonedx.org/bom"
    assert statement["subject"] == [{"name": "tool", "digest": {
        "sha256": hashlib.sha256((out / "build" / "tool").read_bytes()).hexdigest()}}]
    assert statement["predicate"] == json.loads((out / "sbom" / "tool.cdx.json").read_text())
    # the SLSA statement covers the SBOM file too
    [line] = (folder / "demo.intoto.jsonl").read_text().splitlines()
    provenance = json.loads(base64.b64decode(json.loads(line)["payload"]))
    assert "tool.cdx.json" in {s["name"] for s in provenance["subject"]}

    assets = tmp_path / "assets"
    assets.mkdir()
    for path in [out / "build" / "tool", out / "build" / "data.bin",
                 out / "checksums" / "SHA256SUMS", out / "sign" / "SHA256SUMS.sig",
                 out / "sbom" / "tool.cdx.json",
                 folder / "demo.intoto.jsonl", folder / "tool.cdx.intoto.jsonl"]:
        shutil.copy(path, assets)
    verified = cli("verify", assets, "--key", folder / "release.pub", "--require-provenance")
    assert verified.code == 0, verified.out + verified.err


def test_builder_and_invocation_in_github_actions():
    env = {"GITHUB_ACTIONS": "true", "GITHUB_SERVER_URL": "https://github.example",
           "GITHUB_WORKFLOW_REF": "owner/repo/.github/workflows/release.yml@refs/tags/v1",
           "GITHUB_REPOSITORY": "owner/repo", "GITHUB_RUN_ID": "42", "GITHUB_RUN_ATTEMPT": "3"}
    assert runfacts.builder_id(env) == (
        "https://github.example/owner/repo/.github/workflows/release.yml@refs/tags/v1")
    assert environ_invocation_id(env) == (
        "https://github.example/owner/repo/actions/runs/42/attempts/3")
    local = {k: v for k, v in env.items() if k != "GITHUB_ACTIONS"}
    assert runfacts.builder_id(local) == LOCAL_BUILDER_ID
    assert re.fullmatch(r"urn:uuid:[0-9a-f-]{36}", environ_invocation_id(local))


def test_provenance_records_the_pipeline_file_and_its_digest(repo, cli, make_key, tmp_path):
    key = make_key(passphrase=None)
    pipeline = release_repo(repo, f"""\
provenance:
  kind: attest
  needs: [build]
  backend: key
  key: {key.private}
""")
    out = tmp_path / "out"
    result = cli("run", pipeline, "--out", out)
    assert result.code == 0, result.out + result.err
    envelope = json.loads((out / "provenance" / "demo.intoto.jsonl").read_text())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    params = statement["predicate"]["buildDefinition"]["externalParameters"]
    text = json.dumps(params)
    assert "release.yml" in text
    assert hashlib.sha256(pipeline.read_bytes()).hexdigest() in text
