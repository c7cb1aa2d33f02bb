"""Faults of the index during a publish: 5xx, a reset halfway through a file, a 4xx, files
already there (identical or not), and a refused trusted-publishing exchange."""

from __future__ import annotations

import hashlib

import pytest

from release.pypi import upload
from tests.pypi.conftest import dist_artifacts, publish_pipeline
from tests.pypi.warehouse import Publisher

TOKEN = "pypi-AgEIdGVzdC10b2tlbg" + "x" * 40


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    monkeypatch.setattr(upload, "BACKOFF", (0.05, 0.05, 0.05))


def _token_stage(warehouse, extra: str = "") -> str:
    warehouse.state.api_tokens.add(TOKEN)
    return f"repository-url: {warehouse.upload_url}\ntoken-env: DEMO_TOKEN\n" + extra


def _run(repo, run_pypi, warehouse, tmp_path, extra: str = ""):
    pipeline = publish_pipeline(repo, _token_stage(warehouse, extra))
    arts = dist_artifacts(tmp_path / "arts")
    return run_pypi(pipeline, arts, {"DEMO_TOKEN": TOKEN}), arts


@pytest.mark.parametrize("fault", ["500", "503", "reset"])
def test_transient_failures_are_retried(repo, run_pypi, warehouse, tmp_path, fault):
    warehouse.state.faults = [fault]
    result, arts = _run(repo, run_pypi, warehouse, tmp_path)
    assert result.code == 0, result.out + result.err
    assert len(warehouse.state.uploads()) == 3  # the first file twice, then the second
    assert "retrying in" in result.err
    for path in (arts / "dist").iterdir():
        assert warehouse.state.files[path.name] == path.read_bytes()


def test_a_4xx_is_final_and_explained(repo, run_pypi, warehouse, tmp_path):
    warehouse.state.reject_versions = {"1.0.0"}
    result, _ = _run(repo, run_pypi, warehouse, tmp_path)
    assert result.code == 1
    assert "the index refused demo_pkg-1.0.0.tar.gz: HTTP 400 '1.0.0' is an invalid value " \
           "for Version" in result.out
    assert len(warehouse.state.uploads()) == 1  # no retry
    assert warehouse.state.files == {}


def test_persistent_5xx_gives_up(repo, run_pypi, warehouse, tmp_path):
    warehouse.state.faults = ["503"] * 10
    result, _ = _run(repo, run_pypi, warehouse, tmp_path)
    assert result.code == 1
    assert "failed 4 times" in result.out
    assert len(warehouse.state.uploads()) == 4


def test_identical_files_with_skip_existing_are_a_no_op(repo, run_pypi, warehouse, tmp_path):
    arts = dist_artifacts(tmp_path / "arts")
    for path in (arts / "dist").iterdir():
        warehouse.state.files[path.name] = path.read_bytes()
    pipeline = publish_pipeline(repo, _token_stage(warehouse, "skip-existing: true\n"))
    result = run_pypi(pipeline, arts, {"DEMO_TOKEN": TOKEN})
    assert result.code == 0, result.out + result.err
    assert warehouse.state.uploads() == []
    assert "already on the index with our sha256; skipped" in result.err


def test_identical_files_without_skip_existing_fail(repo, run_pypi, warehouse, tmp_path):
    arts = dist_artifacts(tmp_path / "arts")
    for path in (arts / "dist").iterdir():
        warehouse.state.files[path.name] = path.read_bytes()
    pipeline = publish_pipeline(repo, _token_stage(warehouse))
    result = run_pypi(pipeline, arts, {"DEMO_TOKEN": TOKEN})
    assert result.code == 1
    assert "is already on the index (identical" in result.out
    assert "skip-existing: true" in result.out
    assert warehouse.state.uploads() == []


def test_a_different_file_is_never_overwritten(repo, run_pypi, warehouse, tmp_path):
    arts = dist_artifacts(tmp_path / "arts")
    wheel = next((arts / "dist").glob("*.whl"))
    theirs = b"someone else's wheel"
    warehouse.state.files[wheel.name] = theirs
    pipeline = publish_pipeline(repo, _token_stage(warehouse, "skip-existing: true\n"))
    result = run_pypi(pipeline, arts, {"DEMO_TOKEN": TOKEN})
    assert result.code == 1
    ours = hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert f"index sha256 {hashlib.sha256(theirs).hexdigest()}, ours {ours}" in result.out
    assert warehouse.state.uploads() == []
    assert warehouse.state.files == {wheel.name: theirs}


def test_another_file_of_the_version_fails_before_upload(repo, run_pypi, warehouse, tmp_path):
    warehouse.state.files["demo_pkg-1.0.0-cp311-cp311-linux_x86_64.whl"] = b"x"
    result, _ = _run(repo, run_pypi, warehouse, tmp_path)
    assert result.code == 1
    assert "demo-pkg 1.0.0 already exists on the index with other files" in result.out
    assert warehouse.state.uploads() == []


def test_refused_exchange_names_the_publisher(repo, run_pypi, warehouse, sigstore_stack,
                                              github_oidc, tmp_path):
    warehouse.state.publisher = Publisher(workflow="publish.yml")
    pipeline = publish_pipeline(repo, f"repository-url: {warehouse.upload_url}\n"
                                      "audience: pypi\n"
                                      f"trust-config: {sigstore_stack.trust_config}\n")
    result = run_pypi(pipeline, dist_artifacts(tmp_path / "arts"), github_oidc.environ())
    assert result.code == 1
    assert "trusted publishing refused by" in result.out
    assert "invalid-publisher: valid token, but no corresponding publisher" in result.out
    assert '"job_workflow_ref": "owner/repo/.github/workflows/release.yml@refs/tags/v1.0.0"' \
        in result.out
    assert "check the project's trusted publisher" in result.out
    assert github_oidc.audiences == ["pypi"]  # nothing was signed
    assert warehouse.state.uploads() == []
    for jwt in github_oidc.issued:
        assert jwt not in result.out + result.err


def test_without_oidc_variables_trusted_publishing_says_what_to_do(
        repo, run_pypi, warehouse, sigstore_stack, tmp_path):
    pipeline = publish_pipeline(repo, f"repository-url: {warehouse.upload_url}\n"
                                      "audience: pypi\n"
                                      f"trust-config: {sigstore_stack.trust_config}\n")
    result = run_pypi(pipeline, dist_artifacts(tmp_path / "arts"))
    assert result.code == 1
    assert "trusted publishing needs GitHub Actions' OIDC" in result.out
