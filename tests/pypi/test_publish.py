"""``pypi-publish`` end to end: trusted publishing and PEP 740 against the warehouse-like
index (checked with pypi-attestations and the local Sigstore stack's root), API-token
uploads to a real pypiserver read back by a real pip."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import urllib.request

from pypi_attestations import Attestation, Distribution, GitHubPublisher
from sigstore.models import TrustedRoot
from sigstore.verify import Verifier

from tests.pypi.conftest import dist_artifacts, pip_download, publish_pipeline


def _tp_stage(warehouse, stack, extra: str = "") -> str:
    return (f"repository-url: {warehouse.upload_url}\naudience: pypi\n"
            f"trust-config: {stack.trust_config}\n" + extra)


def test_trusted_publishing_with_attestations(repo, run_pypi, warehouse, sigstore_stack,
                                              github_oidc, tmp_path):
    pipeline = publish_pipeline(repo, _tp_stage(warehouse, sigstore_stack,
                                                "provenance: true\n"))
    arts = dist_artifacts(tmp_path / "arts")
    result = run_pypi(pipeline, arts, github_oidc.environ())
    assert result.code == 0, result.out + result.err
    # two OIDC tokens, two audiences: the index's for the exchange, Sigstore's for signing
    assert sorted(github_oidc.audiences) == ["pypi", "sigstore"]
    text = result.out + result.err
    for secret in (*warehouse.state.minted, *github_oidc.issued, github_oidc.bearer):
        assert secret not in text
    assert "trusted publishing: minted a short-lived upload token" in text
    assert "verified the provenance of demo_pkg-1.0.0-py3-none-any.whl" in text
    # the files on the index are ours, byte for byte
    for path in (arts / "dist").iterdir():
        assert warehouse.state.files[path.name] == path.read_bytes()
    # every upload used the minted token, never the OIDC token or another credential
    uploads = [a for m, p, a in warehouse.state.requests if p.startswith("/legacy")]
    assert len(uploads) == 2 and all(a.startswith("Basic ") for a in uploads)
    # attestations are artifacts, and pypi-attestations verifies them for our publisher
    out = result.out_dir / "pypi"
    verifier = Verifier(trusted_root=TrustedRoot.from_file(str(sigstore_stack.trusted_root)))
    publisher = GitHubPublisher(repository="owner/repo", workflow="release.yml")
    for path in (arts / "dist").iterdir():
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        for suffix, predicate in ((".publish.attestation",
                                   "https://docs.pypi.org/attestations/publish/v1"),
                                  (".slsa.attestation", "https://slsa.dev/provenance/v1")):
            att = Attestation.model_validate_json((out / (path.name + suffix)).read_bytes())
            _, payload = verifier.verify_dsse(att.to_bundle(), publisher._as_policy())
            statement = json.loads(payload)
            assert statement["predicateType"] == predicate
            assert statement["subject"] == [{"name": path.name, "digest": {"sha256": digest}}]
            assert Distribution(name=path.name, digest=digest).digest == digest
    manifest = json.loads((result.out_dir / "manifests" / "pypi.json").read_text())
    kinds = sorted(a["kind"] for a in manifest["artifacts"])
    assert kinds == ["pep740-attestation"] * 4 + ["pypi-release"]
    record = json.loads((out / "pypi-publish.json").read_text())
    assert record["publisher"] == {"kind": "GitHub", "repository": "owner/repo",
                                   "workflow": "release.yml", "environment": "pypi"}
    assert [f["outcome"] for f in record["files"]] == ["uploaded", "uploaded"]
    assert all(f["attestations"] == 2 for f in record["files"])


def test_api_token_to_pypiserver_read_back_by_pip(repo, run_pypi, pypiserver, tmp_path):
    pipeline = publish_pipeline(repo, f"repository-url: {pypiserver.url}\n"
                                      f"index-url: {pypiserver.url}simple/\n"
                                      "token-env: DEMO_PYPI_TOKEN\n")
    arts = dist_artifacts(tmp_path / "arts")
    result = run_pypi(pipeline, arts, {"DEMO_PYPI_TOKEN": pypiserver.token})
    assert result.code == 0, result.out + result.err
    assert pypiserver.token not in result.out + result.err
    assert "verified demo_pkg-1.0.0.tar.gz: the index serves sha256:" in result.err
    # a real client: pip resolves the wheel from the simple API and checks its hash
    dest = tmp_path / "pip"
    proc = pip_download(f"{pypiserver.url}simple/", "demo-pkg==1.0.0", dest)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wheel = next((arts / "dist").glob("*.whl"))
    assert (dest / wheel.name).read_bytes() == wheel.read_bytes()
    # the sdist as the index serves it (pip would build it to read its metadata)
    sdist = next((arts / "dist").glob("*.tar.gz"))
    with urllib.request.urlopen(f"{pypiserver.url}packages/{sdist.name}") as resp:
        (dest / sdist.name).write_bytes(resp.read())
    assert (dest / sdist.name).read_bytes() == sdist.read_bytes()
    # an independent tool accepts what the index serves
    check = subprocess.run([sys.executable, "-m", "twine", "check", "--strict",
                            *map(str, sorted(dest.iterdir()))],
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr


def test_dry_run_plans_without_credentials(repo, run_pypi, warehouse, sigstore_stack,
                                           github_oidc, tmp_path):
    pipeline = publish_pipeline(repo, _tp_stage(warehouse, sigstore_stack))
    arts = dist_artifacts(tmp_path / "arts")
    result = run_pypi(pipeline, arts, github_oidc.environ(), "--dry-run")
    assert result.code == 0, result.out + result.err
    assert github_oidc.audiences == [] and warehouse.state.requests == []
    text = result.out
    for path in (arts / "dist").iterdir():
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert f"{path.name} to {warehouse.upload_url}" in text
        assert f"sha256:{digest}" in text
    assert "trusted publisher: GitHub repository owner/repo, workflow release.yml, " \
           "environment pypi" in text
    assert "OIDC audience 'pypi'" in text
    assert "PEP 740" in text
