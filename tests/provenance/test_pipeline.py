"""Through the engine: the `sbom` stage, provenance subjects equal to the manifest, and a
key-signed release that `release verify` accepts."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from release.provenance.sbom import check_sbom
from tests.conftest import Repo, git
from tests.provenance.conftest import Dists, make_zipapp
from tests.provenance.test_slsa import check_slsa_v1


def release_repo(repo: Repo, dists: Dists, tmp_path: Path, stages: str) -> Path:
    """A repository holding a real zipapp, wheel and sdist, copied out by command stages."""
    shutil.copyfile(make_zipapp(dists, tmp_path / "zipapp"), repo.path / "demo.pyz")
    for dist in (dists.wheel, dists.sdist):
        shutil.copyfile(dist, repo.path / dist.name)
    text = (
        "version: 1\nname: demo\nsource:\n  repository: octo-org/demo\nstages:\n"
        "  app:\n    kind: command\n    artifact-kind: executable\n"
        '    run: ["cp", "demo.pyz", "{out}/demo.pyz"]\n    outputs: ["demo.pyz"]\n'
        "  dist:\n    kind: command\n    artifact-kind: sdist\n"
        f'    run: ["cp", "{dists.wheel.name}", "{dists.sdist.name}", "{{out}}/"]\n'
        '    outputs: ["*.whl", "*.tar.gz"]\n'
        "  sbom:\n    kind: sbom\n    needs: [app, dist]\n" + stages)
    path = repo.write("release.yaml", text)
    repo.commit("pipeline")
    repo.tag("v2.0.1")
    return path


def manifest(out: Path) -> dict[str, dict[str, Any]]:
    data = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return {a["name"]: a for a in data["artifacts"]}


def test_sbom_stage(repo: Repo, cli, dists: Dists, tmp_path: Path):
    path = release_repo(repo, dists, tmp_path, "")
    out = tmp_path / "out"
    result = cli("run", path, "--out", out)
    assert result.code == 0, result.out + result.err
    arts = manifest(out)
    sboms = {n: a for n, a in arts.items() if a["kind"] == "sbom"}
    assert set(sboms) == {f"{n}.cdx.json" for n in
                          ("demo.pyz", dists.wheel.name, dists.sdist.name)}
    for name, art in sboms.items():
        subject = arts[name.removesuffix(".cdx.json")]
        assert art["annotations"]["subject"] == subject["name"]
        assert art["annotations"]["subject-sha256"] == subject["sha256"]
        text = (out / art["path"]).read_text(encoding="utf-8")
        check_sbom(text)
        root = json.loads(text)["metadata"]["component"]
        assert root["hashes"][0]["content"] == subject["sha256"]


def test_sbom_stage_with_nothing_to_describe(repo: Repo, cli, tmp_path: Path):
    path = repo.write("release.yaml", """\
        version: 1
        name: demo
        stages:
          notes:
            kind: command
            run: ["sh", "-c", "echo hi > {out}/NOTES.txt"]
            outputs: ["NOTES.txt"]
            artifact-kind: text
          sbom:
            kind: sbom
            needs: [notes]
        """)
    repo.commit()
    result = cli("run", path, "--out", tmp_path / "out")
    assert result.code == 1
    assert "no wheel, sdist, executable or image among the artifacts of its needs" in result.err


@pytest.fixture
def signing_key(tmp_path: Path) -> tuple[Path, Path]:
    key, pub = tmp_path / "signing.key", tmp_path / "signing.pub"
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-out", str(key)], check=True,
                   capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout", "-out", str(pub)],
                   check=True, capture_output=True)
    return key, pub


def test_provenance_subjects_are_the_manifest_digests_and_the_release_verifies(
        repo: Repo, cli, dists: Dists, tmp_path: Path, signing_key: tuple[Path, Path]):
    key, pub = signing_key
    stages = (
        "  checksums:\n    kind: checksums\n    needs: [app, dist, sbom]\n"
        f"  sign:\n    kind: sign\n    needs: [checksums]\n    backend: key\n    key: {key}\n"
        f"  provenance:\n    kind: attest\n    needs: [app, dist, sbom]\n    backend: key\n"
        f"    key: {key}\n    public-key-name: provenance.pub\n")
    path = release_repo(repo, dists, tmp_path, stages)
    out = tmp_path / "out"
    result = cli("run", path, "--out", out)
    assert result.code == 0, result.out + result.err
    arts = manifest(out)
    envelope = json.loads((out / "provenance" / "demo.intoto.jsonl").read_text())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    check_slsa_v1(statement)
    attested = {a["name"]: a["sha256"] for a in arts.values()
                if a["stage"] in ("app", "dist", "sbom")}
    assert {s["name"]: s["digest"]["sha256"] for s in statement["subject"]} == attested
    deps = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    commit = git(repo.path, "rev-parse", "HEAD")
    assert deps[0] == {"uri": "git+https://github.com/octo-org/demo@refs/tags/v2.0.1",
                       "digest": {"gitCommit": commit}}

    # the consumer's side: every asset in one folder, verified with the public key
    assets = tmp_path / "assets"
    assets.mkdir()
    for stage in ("app", "dist", "sbom", "checksums", "sign", "provenance"):
        for item in (out / stage).iterdir():
            shutil.copyfile(item, assets / item.name)
    check = cli("verify", assets, "--key", pub, "--commit", commit, "--require-provenance")
    assert check.code == 0, check.out + check.err
    assert f"PASS  subject     {dists.wheel.name}.cdx.json" in check.out
    # the attest stage also signs each SBOM with the CycloneDX predicate, about its artifact
    assert (f"PASS  attests     {dists.wheel.name}.cdx.intoto.jsonl:1: "
            f"https://cyclonedx.org/bom about {dists.wheel.name}") in check.out
    # one byte changed in an SBOM: the checksum fails and nothing vouches for the file
    sbom = assets / f"{dists.wheel.name}.cdx.json"
    sbom.write_bytes(sbom.read_bytes().replace(b'"1.6"', b'"1.5"', 1))
    check = cli("verify", assets, "--key", pub, "--commit", commit)
    assert check.code == 1
    assert f"FAIL  checksum    {sbom.name}: sha256 differs from SHA256SUMS" in check.out
    assert f"PASS  subject     {sbom.name}" not in check.out
