"""This project's own release pipeline, for real: built, signed keylessly, attested,
published to GitHub and PyPI and verified, on the local Sigstore stack, the loopback
GitHub and the warehouse-like index.

Only the service endpoints change: signing takes the local stack's trust config and a
GitHub Actions-shaped token from a variable (instead of the job's ambient OIDC); the
PyPI stage exchanges an Actions-shaped OIDC token at the loopback index.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from tests.conftest import git
from tests.examples.conftest import replace
from tests.github_server import GitHubServer
from tests.pypi.conftest import GitHubOidc, github_oidc, warehouse  # noqa: F401
from tests.pypi.warehouse import Publisher, Warehouse
from tests.sigstore_stack import SigstoreStack, github_claims

ROOT = Path(__file__).resolve().parents[2]
REPOSITORY = "release-pipeline/release-pipeline"
TOKEN_VAR = "OWN_SIGSTORE_TOKEN"


def test_own_release_signs_attests_publishes_and_verifies(
        cli, monkeypatch, tmp_path: Path, sigstore_stack: SigstoreStack,
        github_server: GitHubServer, warehouse: Warehouse,  # noqa: F811
        github_oidc: GitHubOidc) -> None:  # noqa: F811
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    version = git(clone, "show", "HEAD:release/__init__.py").split('__version__ = "')[1][:-1]
    tag = f"v{version}"
    pipeline = clone / "pipelines" / "release.yaml"
    text = pipeline.read_text(encoding="utf-8")
    for stage in ("sign", "provenance"):
        head = f"  {stage}:\n    kind: {'sign' if stage == 'sign' else 'attest'}\n"
        text = replace(text, head, head + f"    trust-config: {sigstore_stack.trust_config}\n"
                                         f"    identity-token-env: {TOKEN_VAR}\n")
    head = "  pypi:\n    kind: pypi-publish\n"
    text = replace(text, head, head + f"    repository-url: {warehouse.upload_url}\n"
                                     "    audience: pypi\n"
                                     f"    trust-config: {sigstore_stack.trust_config}\n")
    pipeline.write_text(text, encoding="utf-8")
    for key, value in (("user.name", "Test"), ("user.email", "test@example.invalid")):
        git(clone, "config", key, value)
    git(clone, "commit", "-q", "-am", "point signing at the local Sigstore stack")
    git(clone, "tag", tag)
    commit = git(clone, "rev-parse", "HEAD")

    github_server.add_repo(REPOSITORY, immutable=True)
    github_server.set_tag(REPOSITORY, tag, commit)
    monkeypatch.setenv("GITHUB_API_URL", github_server.api_url)
    monkeypatch.setenv("GITHUB_TOKEN", github_server.add_token(
        "actions", permissions={"contents": "write", "attestations": "write"},
        repositories=(REPOSITORY,)))
    claims = github_claims(repository=REPOSITORY, ref=f"refs/tags/{tag}", sha=commit)
    monkeypatch.setenv(TOKEN_VAR, sigstore_stack.make_token(claims))
    # PyPI's trusted publisher for this project: its release workflow, in `pypi`
    warehouse.state.publisher = Publisher(REPOSITORY, "release.yml", "pypi")
    github_oidc.claims = {**claims, "environment": "pypi"}
    for name, value in github_oidc.environ().items():
        monkeypatch.setenv(name, value)

    out = tmp_path / "out"
    result = cli("run", "pipelines/release.yaml", "--out", out, cwd=clone)
    assert result.code == 0, result.out + result.err
    manifest = json.loads((out / "manifest.json").read_text())
    kinds = {a["kind"] for a in manifest["artifacts"]}
    assert {"sdist", "wheel", "binary", "sbom", "checksums", "sigstore-bundle",
            "attestation"} <= kinds

    monkeypatch.delenv("GITHUB_TOKEN")
    verified = cli("verify", "--github", f"{REPOSITORY}@{tag}", tmp_path / "download",
                   "--trusted-root", sigstore_stack.trusted_root, "--require-provenance")
    assert verified.code == 0, verified.out + verified.err
    assert "FAIL" not in verified.out
    assert "PASS  immutable" in verified.out
    for art in manifest["artifacts"]:
        if art["stage"] in ("dist", "pyz"):
            assert f"{art['name']}:" in verified.out

    # PyPI holds exactly the sdist and wheel we built, and a consumer verifies them
    dists = {a["name"]: a["sha256"] for a in manifest["artifacts"] if a["stage"] == "dist"}
    assert {n: hashlib.sha256(b).hexdigest() for n, b in warehouse.state.files.items()} == dists
    checked = cli("verify", "--pypi", f"release-pipeline=={version}", "--index-url",
                  f"{warehouse.url}/simple/", "--repository", REPOSITORY, "--workflow",
                  "release.yml", "--trusted-root", sigstore_stack.trusted_root,
                  tmp_path / "from-pypi")
    assert checked.code == 0, checked.out + checked.err
    assert checked.out.count("PASS  attestation") == 2
