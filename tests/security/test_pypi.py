"""Attacks on PyPI publishing and on ``release verify --pypi``.

Each test is an attack: a hostile or careless index, a tampered release, a forged
provenance, a pipeline that would leak a token; the tool must refuse, say what is wrong,
and never print a credential.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from tests.pypi.conftest import REPOSITORY, dist_artifacts, publish_pipeline
from tests.pypi.warehouse import Publisher, Warehouse, WarehouseState

TOKEN = "pypi-AgEIc2VjcmV0LXRva2Vu" + "q" * 40


def _tp(warehouse, stack) -> str:
    return (f"repository-url: {warehouse.upload_url}\naudience: pypi\n"
            f"trust-config: {stack.trust_config}\n")


@pytest.fixture
def published(repo, run_pypi, warehouse, sigstore_stack, github_oidc, tmp_path):
    """A release published with trusted publishing and attestations."""
    pipeline = publish_pipeline(repo, _tp(warehouse, sigstore_stack))
    arts = dist_artifacts(tmp_path / "arts")
    result = run_pypi(pipeline, arts, github_oidc.environ())
    assert result.code == 0, result.out + result.err
    return result


def _verify(cli, warehouse, stack, *extra: str, workflow: str = "release.yml"):
    return cli("verify", "--pypi", "demo-pkg==1.0.0", "--index-url",
               f"{warehouse.url}/simple/", "--repository", REPOSITORY, "--workflow", workflow,
               "--trusted-root", stack.trusted_root, *extra)


# -- configuration ----------------------------------------------------------------------
@pytest.mark.parametrize(("key", "value", "why"), [
    ("repository-url", "http://upload.example.com/legacy/", "is plain http"),
    ("repository-url", "https://user:pw@upload.example.com/legacy/", "must not carry credentials"),
    ("index-url", "http://10.0.0.1/simple/", "is plain http"),
    ("repository-url", "ftp://example.com/", "is not an https URL"),
])
def test_unsafe_index_urls_are_refused_at_their_line(repo, cli, key, value, why):
    pipeline = publish_pipeline(repo, f"{key}: {value}\n")
    result = cli("plan", pipeline)
    assert result.code == 2
    assert f"release.yaml:{_line(pipeline, key)}:" in result.err
    assert why in result.err
    assert "Traceback" not in result.err


def _line(path: Path, key: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1)
                if line.strip().startswith(f"{key}:"))


def test_attestations_with_an_api_token_are_refused(repo, cli):
    pipeline = publish_pipeline(repo, "token-env: PYPI_TOKEN\nattestations: true\n")
    result = cli("plan", pipeline)
    assert result.code == 2
    assert "`attestations` need trusted publishing" in result.err


def test_permissions_are_exactly_what_the_credential_needs(repo, cli):
    pipeline = publish_pipeline(repo, "permissions: {id-token: write, contents: write}\n")
    result = cli("plan", pipeline)
    assert result.code == 2 and "contents" in result.err
    pipeline.write_text(pipeline.read_text().replace(
        "permissions: {id-token: write, contents: write}", "token-env: PYPI_TOKEN"))
    plan = cli("plan", pipeline, "--format", "json")
    assert plan.code == 0, plan.err
    stage = next(s for s in json.loads(plan.out)["stages"] if s["id"] == "pypi")
    assert stage["permissions"] == {}


# -- the credential ---------------------------------------------------------------------
def test_a_redirect_to_another_host_never_carries_the_token(repo, run_pypi, warehouse,
                                                            tmp_path):
    other = Warehouse(WarehouseState())
    try:
        # 127.0.0.2 is another host as far as an HTTP client is concerned
        warehouse.state.redirects["/legacy"] = other.url.replace("127.0.0.1", "127.0.0.2") \
            + "/legacy/"
        warehouse.state.api_tokens.add(TOKEN)
        pipeline = publish_pipeline(repo, f"repository-url: {warehouse.upload_url}\n"
                                          "token-env: DEMO_TOKEN\n")
        result = run_pypi(pipeline, dist_artifacts(tmp_path / "arts"), {"DEMO_TOKEN": TOKEN})
    finally:
        other.close()
    assert result.code == 1
    assert "redirected (HTTP 307)" in result.out and "not followed" in result.out
    assert other.state.requests == []
    assert TOKEN not in result.out + result.err


def test_a_hostile_index_echoing_the_token_gets_it_masked(repo, run_pypi, warehouse,
                                                          tmp_path):
    warehouse.state.api_tokens.add(TOKEN)
    warehouse.state.faults = ["echo"]
    pipeline = publish_pipeline(repo, f"repository-url: {warehouse.upload_url}\n"
                                      "token-env: DEMO_TOKEN\n")
    result = run_pypi(pipeline, dist_artifacts(tmp_path / "arts"), {"DEMO_TOKEN": TOKEN})
    assert result.code == 1
    assert "Bad token *** sent as ***" in result.out
    encoded = base64.b64encode(f"__token__:{TOKEN}".encode()).decode()
    for secret in (TOKEN, encoded):
        assert secret not in result.out + result.err


def test_a_hostile_index_echoing_the_minted_token_gets_it_masked(
        repo, run_pypi, warehouse, sigstore_stack, github_oidc, tmp_path):
    warehouse.state.faults = ["echo"]
    pipeline = publish_pipeline(repo, _tp(warehouse, sigstore_stack))
    result = run_pypi(pipeline, dist_artifacts(tmp_path / "arts"), github_oidc.environ())
    assert result.code == 1
    assert "Bad token *** sent as ***" in result.out
    [minted] = warehouse.state.minted
    encoded = base64.b64encode(f"__token__:{minted}".encode()).decode()
    for secret in (minted, encoded):
        assert secret not in result.out + result.err


def test_the_minted_token_is_never_printed_nor_written(published, warehouse, github_oidc):
    [minted] = warehouse.state.minted
    text = published.out + published.err
    assert minted not in text
    for path in published.out_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert minted.encode() not in data
            for jwt in github_oidc.issued:
                assert jwt.encode() not in data
    # the OIDC token went to the exchange only; uploads carried the minted token
    for _method, path, auth in warehouse.state.requests:
        if path.startswith("/legacy"):
            assert auth.startswith("Basic ")


@pytest.mark.parametrize("answer", ["sigstore", "pypi-elsewhere"])
def test_the_index_never_chooses_the_oidc_audience(repo, run_pypi, warehouse, sigstore_stack,
                                                   github_oidc, tmp_path, answer):
    # an index answering {"audience": "sigstore"} would get a token Fulcio accepts
    warehouse.state.audience = answer
    pipeline = publish_pipeline(repo, _tp(warehouse, sigstore_stack))
    result = run_pypi(pipeline, dist_artifacts(tmp_path / "arts"), github_oidc.environ())
    assert result.code == 1
    assert f"answered {answer!r}, not the configured audience 'pypi'" in result.out
    assert github_oidc.audiences == []  # no OIDC token was even requested
    assert warehouse.state.minted == set()


@pytest.mark.parametrize(("stage", "why"), [
    ("repository-url: https://upload.example.com/legacy/\n", "needs `audience:`"),
    ("repository-url: https://upload.example.com/legacy/\naudience: sigstore\n",
     "is Sigstore's"),
    ("repository-url: https://upload.example.com/legacy/\naudience: SigStore\n",
     "is Sigstore's"),
    ("repository-url: pypi\naudience: testpypi\n", "is 'pypi', not 'testpypi'"),
])
def test_the_oidc_audience_is_configured_and_never_sigstore(repo, cli, stage, why):
    result = cli("plan", publish_pipeline(repo, stage))
    assert result.code == 2, result.out
    assert why in result.err


def test_the_plan_shows_the_configured_audience(repo, cli):
    # the plan's config is what an approval binds: the audience is part of it
    pipeline = publish_pipeline(repo, "repository-url: https://upload.example.com/legacy/\n"
                                      "audience: example-audience\n")
    result = cli("plan", pipeline, "--format", "json")
    assert result.code == 0, result.err
    stage = next(s for s in json.loads(result.out)["stages"] if s["id"] == "pypi")
    assert stage["config"]["audience"] == "example-audience"


def test_an_sdist_with_too_many_members_is_refused_quickly(tmp_path):
    # a small tar.gz of empty members would otherwise be walked to its end (with id-token)
    import gzip
    import io
    import tarfile
    import time

    from release.errors import StageFailed
    from release.pypi.distmeta import MAX_MEMBERS, DistFile, read_metadata

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for i in range(MAX_MEMBERS + 10):
            tf.addfile(tarfile.TarInfo(f"demo_pkg-1.0.0/e{i}"))
        info = tarfile.TarInfo("demo_pkg-1.0.0/PKG-INFO")
        data = b"Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.0.0\n"
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    path = tmp_path / "demo_pkg-1.0.0.tar.gz"
    path.write_bytes(gzip.compress(raw.getvalue(), compresslevel=1))
    started = time.monotonic()
    with pytest.raises(StageFailed, match="has more than 100000 members before its PKG-INFO"):
        read_metadata(DistFile(path, "sdist", "0" * 64, path.stat().st_size))
    assert time.monotonic() - started < 30


# -- the index lies after the upload ----------------------------------------------------
def test_a_changed_byte_on_the_index_fails_the_stage(repo, run_pypi, warehouse, tmp_path):
    warehouse.state.api_tokens.add(TOKEN)
    warehouse.state.faults = ["corrupt"]
    arts = dist_artifacts(tmp_path / "arts")
    pipeline = publish_pipeline(repo, f"repository-url: {warehouse.upload_url}\n"
                                      "token-env: DEMO_TOKEN\n")
    result = run_pypi(pipeline, arts, {"DEMO_TOKEN": TOKEN})
    assert result.code == 1
    sdist = next((arts / "dist").glob("*.tar.gz"))
    ours = hashlib.sha256(sdist.read_bytes()).hexdigest()
    theirs = hashlib.sha256(warehouse.state.files[sdist.name]).hexdigest()
    assert f"{sdist.name}: the index serves sha256 {theirs}, we uploaded {ours}" in result.out


# -- release verify --pypi --------------------------------------------------------------
def test_verify_passes_on_the_untouched_release(published, cli, warehouse, sigstore_stack,
                                                tmp_path):
    result = _verify(cli, warehouse, sigstore_stack, "--environment", "pypi",
                     tmp_path / "downloads")
    assert result.code == 0, result.out + result.err
    assert result.out.count("PASS  download") == 2
    assert result.out.count("PASS  attestation") == 2
    assert "verified (4 passed, 0 failed" in result.out
    assert result.out.count(f"build config https://github.com/{REPOSITORY}/.github/workflows/"
                            "release.yml@refs/tags/v1.0.0") == 2
    assert len(list((tmp_path / "downloads").iterdir())) == 2


def test_verify_fails_another_projects_files_listed_on_the_page(published, cli, warehouse,
                                                                sigstore_stack):
    # a hostile index lists demo-pkg's attested files on other-pkg's page
    for filename in warehouse.state.files:
        warehouse.state.listed_on[filename] = "other-pkg"
    result = cli("verify", "--pypi", "other-pkg==1.0.0", "--index-url",
                 f"{warehouse.url}/simple/", "--repository", REPOSITORY, "--workflow",
                 "release.yml", "--trusted-root", sigstore_stack.trusted_root)
    assert result.code == 1, result.out
    for filename in warehouse.state.files:
        assert f"FAIL  index       {filename}: a file of project 'demo-pkg', not " \
               "'other-pkg'" in result.out
    assert "PASS" not in result.out


def test_verify_fails_a_local_version_file_pip_would_install(published, cli, warehouse,
                                                             sigstore_stack):
    # pip's ==1.0.0 matches 1.0.0+evil: it is part of the release and must verify
    evil = "demo_pkg-1.0.0+evil-py3-none-any.whl"
    warehouse.state.files[evil] = b"not what was released"
    result = _verify(cli, warehouse, sigstore_stack)
    assert result.code == 1, result.out
    assert f"FAIL  provenance  {evil}: the index serves no PEP 740 provenance" in result.out


@pytest.mark.parametrize(("page", "why"), [
    (b'{"files": 5}', "the PEP 691 answer has no list of files"),
    (b'{"files": {"a": 1}}', "the PEP 691 answer has no list of files"),
    (b"[" * 100_000, "with a body that is not JSON"),
])
def test_verify_fails_a_malformed_project_page(cli, warehouse, sigstore_stack, page, why):
    warehouse.state.simple_body["demo-pkg"] = page
    result = _verify(cli, warehouse, sigstore_stack)
    assert result.code == 1, result.out + result.err
    assert "FAIL  index" in result.out and why in result.out
    assert "internal error" not in result.err


def test_verify_fails_each_file_with_a_hostile_url(cli, warehouse, sigstore_stack):
    urls = {"demo_pkg-1.0.0.tar.gz": "http://files.example.com/demo_pkg-1.0.0.tar.gz",
            "demo_pkg-1.0.0-py3-none-any.whl": "https://[::1/x",
            "demo_pkg-1.0.0-py2-none-any.whl": "https://user:pw@files.example.com/x.whl"}
    warehouse.state.simple_body["demo-pkg"] = json.dumps({"files": [
        {"filename": f, "url": u, "hashes": {"sha256": "0" * 64}} for f, u in urls.items()]
    }).encode()
    result = _verify(cli, warehouse, sigstore_stack)
    assert result.code == 1, result.out + result.err
    assert "internal error" not in result.err
    for filename in urls:
        assert f"FAIL  download    {filename}: " in result.out
    assert "is plain http" in result.out and "must not carry credentials" in result.out


def test_verify_fails_a_changed_byte_after_upload(published, cli, warehouse, sigstore_stack):
    files = warehouse.state.files
    wheel = next(n for n in files if n.endswith(".whl"))
    files[wheel] = files[wheel][:-1] + bytes([files[wheel][-1] ^ 1])
    result = _verify(cli, warehouse, sigstore_stack)
    assert result.code == 1
    assert f"FAIL  attestation  {wheel}: the attestation's subject has sha256" in result.out


def test_verify_fails_an_attestation_for_another_file(published, cli, warehouse,
                                                      sigstore_stack):
    prov = warehouse.state.provenance
    wheel = next(n for n in prov if n.endswith(".whl"))
    sdist = next(n for n in prov if n.endswith(".tar.gz"))
    prov[wheel] = prov[sdist]
    result = _verify(cli, warehouse, sigstore_stack)
    assert result.code == 1
    assert f"{wheel}: the attestation is for '{sdist}', not '{wheel}'" in result.out


def test_verify_fails_another_publisher(published, cli, warehouse, sigstore_stack):
    result = _verify(cli, warehouse, sigstore_stack, workflow="publish.yml")
    assert result.code == 1
    assert result.out.count("FAIL  publisher") == 2
    assert "workflow 'release.yml', expected 'publish.yml'" in result.out


def test_verify_compares_the_workflow_file_name_exactly(
        repo, run_pypi, cli, warehouse, sigstore_stack, github_oidc, tmp_path):
    # git file names are case-sensitive: Release.yml is another workflow than release.yml
    ref = f"{REPOSITORY}/.github/workflows/Release.yml@refs/tags/v1.0.0"
    warehouse.state.publisher = Publisher(workflow="Release.yml")
    github_oidc.claims = {"workflow_ref": ref, "job_workflow_ref": ref,
                          "sub": f"https://github.com/{ref}"}
    pipeline = publish_pipeline(repo, _tp(warehouse, sigstore_stack))
    result = run_pypi(pipeline, dist_artifacts(tmp_path / "arts"), github_oidc.environ())
    assert result.code == 0, result.out + result.err
    result = _verify(cli, warehouse, sigstore_stack)
    assert result.code == 1, result.out
    assert result.out.count("FAIL  publisher") == 2
    assert "workflow 'Release.yml', expected 'release.yml'" in result.out
    assert "PASS  attestation" not in result.out


def test_verify_fails_a_provenance_relabelled_with_our_publisher(
        repo, run_pypi, cli, warehouse, sigstore_stack, github_oidc, tmp_path):
    # a release signed by another workflow of the repository, whose provenance an attacker
    # relabels with the expected publisher: the certificate still names the other workflow
    warehouse.state.publisher = Publisher(workflow="evil.yml")
    github_oidc.claims = {
        "workflow_ref": f"{REPOSITORY}/.github/workflows/evil.yml@refs/tags/v1.0.0",
        "job_workflow_ref": f"{REPOSITORY}/.github/workflows/evil.yml@refs/tags/v1.0.0",
        "sub": f"https://github.com/{REPOSITORY}/.github/workflows/evil.yml@refs/tags/v1.0.0"}
    pipeline = publish_pipeline(repo, _tp(warehouse, sigstore_stack))
    result = run_pypi(pipeline, dist_artifacts(tmp_path / "arts"), github_oidc.environ())
    assert result.code == 0, result.out + result.err
    for prov in warehouse.state.provenance.values():
        prov["attestation_bundles"][0]["publisher"]["workflow"] = "release.yml"
    result = _verify(cli, warehouse, sigstore_stack)
    assert result.code == 1
    assert result.out.count("FAIL  attestation") == 2
    assert "signature or signer rejected" in result.out


def test_verify_fails_a_release_without_provenance(published, cli, warehouse,
                                                   sigstore_stack):
    warehouse.state.provenance.clear()
    result = _verify(cli, warehouse, sigstore_stack)
    assert result.code == 1
    assert result.out.count("FAIL  provenance") == 2


def test_verify_refuses_a_foreign_trust_root(published, cli, warehouse, tmp_path):
    from tests.conftest import SHARED

    root = SHARED / "fixtures" / "sigstore" / "production" / "trusted_root.json"
    result = cli("verify", "--pypi", "demo-pkg==1.0.0", "--index-url",
                 f"{warehouse.url}/simple/", "--repository", REPOSITORY,
                 "--trusted-root", root)
    assert result.code == 1
    assert result.out.count("FAIL  attestation") == 2


def test_verify_does_not_follow_a_redirect_to_another_host(published, cli, warehouse,
                                                           sigstore_stack):
    warehouse.state.redirects["/integrity"] = "http://127.0.0.2:9/integrity/x"
    result = _verify(cli, warehouse, sigstore_stack)
    assert result.code == 1
    assert "redirects are not followed" in result.out


@pytest.mark.parametrize(("args", "why"), [
    (["--pypi", "demo-pkg", "--repository", REPOSITORY], "is not NAME==VERSION"),
    (["--pypi", "demo-pkg==1.0", "--repository", REPOSITORY, "--index-url",
      "http://pypi.example.com/simple/"], "is plain http"),
    (["--pypi", "demo-pkg==1.0"], "--pypi needs --repository"),
])
def test_verify_usage_errors(cli, args, why):
    result = cli("verify", *args)
    assert result.code == 2
    assert why in result.err and "Traceback" not in result.err


@pytest.mark.parametrize("filename", ["../../escape-1.0.0.tar.gz", "/tmp/abs-1.0.0.tar.gz",
                                      "-rf-1.0.0.tar.gz", "sub/dir-1.0.0.tar.gz"])
def test_verify_pypi_never_writes_outside_its_folder(cli, tmp_path, filename):
    """A hostile index names its files: a name is a plain file name or nothing is written."""
    import http.server
    import threading

    from tests.conftest import SHARED

    body = json.dumps({"meta": {"api-version": "1.1"}, "name": "demo", "files": [
        {"filename": filename, "url": "/files/x", "hashes": {"sha256": "0" * 64}}]}).encode()

    class Index(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Index)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        dest = tmp_path / "a" / "b" / "dl"
        result = cli("verify", "--pypi", "demo==1.0.0", "--index-url",
                     f"http://127.0.0.1:{server.server_address[1]}/simple/", "--repository",
                     REPOSITORY, "--trusted-root",
                     SHARED / "fixtures" / "sigstore" / "production" / "trusted_root.json", dest)
    finally:
        server.shutdown()
        server.server_close()
    assert result.code in (1, 2)
    assert "is not a plain file name" in result.out + result.err
    assert "Traceback" not in result.err
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written == []
    assert not Path("/tmp/abs-1.0.0.tar.gz").exists()
