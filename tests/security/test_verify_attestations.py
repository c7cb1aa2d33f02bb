"""Attacks on `release verify`'s attestations: each must fail, naming what is wrong.

Bundles are made on two separate local Sigstore stacks (public-good and GitHub's own),
with tokens whose claims are those of the run an attacker could get: a fork, another
workflow or ref, a self-hosted runner. Nothing here is mocked below the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.github_server import (
    GitHubServer,
    github_server,  # noqa: F401  (fixture)
)
from tests.sigstore_stack import sigstore_stack  # noqa: F401  (session fixture)
from tests.verify.attest_kit import (
    github_instance,  # noqa: F401  (session fixture)
    provenance,
    release_claims,
    release_statement,
    run_claims,
    sha256,
    sign,
    write_jsonl,
)
from tests.verify.test_attestations_github import publish

REPOSITORY = "octo-org/tool"
TAG = "v3.1.0"
COMMIT = "a" * 40
TOOL = b"\x7fELF tool 3.1.0"
ATTESTATION = "tool.intoto.sigstore.json"


@pytest.fixture(scope="module")
def bundles(sigstore_stack, github_instance):  # noqa: F811
    """One bundle per attack, signed once for the module."""
    github_stack, github_root = github_instance
    tool = {"tool": sha256(TOOL)}
    good = run_claims(REPOSITORY, TAG, COMMIT)

    def made(claims, statement, stack=sigstore_stack, log=True):
        return sign(stack, claims, statement, log=log)[0]

    def prov(subjects=None, **kw):
        return provenance(subjects or tool, **{"repository": REPOSITORY, "tag": TAG,
                                               "commit": COMMIT, **kw})

    release = {"tool": sha256(TOOL)}
    return {
        "good": made(good, prov()),
        "other_digest": made(good, prov({"tool": sha256(b"another build")})),
        "fork": made(run_claims("mallory/tool", TAG, COMMIT),
                     prov(repository="mallory/tool")),
        "other_workflow": made(run_claims(REPOSITORY, TAG, COMMIT, workflow="ci.yml"),
                               prov(workflow="ci.yml")),
        "other_ref": made(run_claims(REPOSITORY, TAG, COMMIT, ref="refs/heads/main"),
                          prov(ref="refs/heads/main")),
        "predicate_path": made(good, prov(workflow="evil.yml")),
        "predicate_ref": made(good, prov(ref="refs/heads/feature")),
        "predicate_repo": made(good, prov(repository="mallory/tool")),
        "self_hosted": made(run_claims(REPOSITORY, TAG, COMMIT, runner="self-hosted"),
                            prov(runner="self-hosted")),
        "prov_on_github": made(good, prov(), stack=github_stack, log=False),
        "release": made(release_claims(), release_statement(
            release, repository=REPOSITORY, tag=TAG, commit=COMMIT), github_stack, False),
        "release_public": made(release_claims(), release_statement(
            release, repository=REPOSITORY, tag=TAG, commit=COMMIT)),
        "release_other_tag": made(release_claims(), release_statement(
            release, repository=REPOSITORY, tag="v9.9.9", commit=COMMIT), github_stack, False),
        "release_without_tool": made(release_claims(), release_statement(
            {"README": sha256(b"readme")}, repository=REPOSITORY, tag=TAG, commit=COMMIT),
            github_stack, False),
        "release_by_workflow": made(good, release_statement(
            release, repository=REPOSITORY, tag=TAG, commit=COMMIT), github_stack, False),
        "github_root": github_root,
    }


@pytest.fixture
def stack(sigstore_stack):  # noqa: F811
    """The local public-good stand-in (a session fixture of tests.sigstore_stack)."""
    return sigstore_stack


def folder(tmp_path: Path, *attestations: dict, name: str = ATTESTATION) -> Path:
    directory = tmp_path / "assets"
    directory.mkdir()
    (directory / "tool").write_bytes(TOOL)
    for i, bundle in enumerate(attestations):
        (directory / (name if i == 0 else f"{i}.{name}")).write_text(json.dumps(bundle))
    return directory


def verify(cli, directory, stack, bundles, *extra):
    return cli("verify", directory, "--repository", REPOSITORY, "--tag", TAG,
               "--commit", COMMIT, "--trusted-root", stack.trusted_root,
               "--github-trusted-root", bundles["github_root"], *extra)


def test_the_good_one_passes(cli, tmp_path, stack, bundles):
    result = verify(cli, folder(tmp_path, bundles["good"]), stack, bundles,
                    "--require-provenance", "--deny-self-hosted-runners")
    assert result.code == 0, result.out + result.err


def test_statement_about_another_digest(cli, tmp_path, stack, bundles):
    directory = folder(tmp_path, bundles["other_digest"])
    result = verify(cli, directory, stack, bundles)
    assert result.code == 1
    assert f"FAIL  subject     tool: {ATTESTATION} attests another version of this file" \
        in result.out
    assert f"expected: sha256 {sha256(b'another build')} (attested)" in result.out
    assert f"UNCOVERED {ATTESTATION}" in result.out
    (directory / "tool").rename(directory / "renamed")  # by name or not: never vouched for
    again = verify(cli, directory, stack, bundles)
    assert f"FAIL  subject     {ATTESTATION}: attests no file here" in again.out


def test_a_changed_byte_in_the_asset(cli, tmp_path, stack, bundles):
    directory = folder(tmp_path, bundles["good"])
    (directory / "tool").write_bytes(TOOL[:-1] + b"4")
    result = verify(cli, directory, stack, bundles, "--require-provenance")
    assert result.code == 1
    assert f"FAIL  subject     tool: {ATTESTATION} attests another version of this file" \
        in result.out
    assert f"found:    sha256 {sha256(TOOL[:-1] + b'4')} (the file)" in result.out
    assert "FAIL  provenance  tool: no verified attestation" in result.out
    assert "UNCOVERED tool" in result.out


@pytest.mark.parametrize(("bundle", "named"), [
    ("fork", "identity (SAN), build config, source repository"),
    ("other_workflow", "identity (SAN), build config"),
    ("other_ref", "identity (SAN), build config, source ref"),
])
def test_signed_by_another_run(cli, tmp_path, stack, bundles, bundle, named):
    result = verify(cli, folder(tmp_path, bundles[bundle]), stack, bundles)
    assert result.code == 1
    assert f"FAIL  identity    {ATTESTATION}: signed by another workflow run: {named}\n" \
        in result.out
    assert "UNCOVERED tool" in result.out


@pytest.mark.parametrize(("bundle", "field", "found"), [
    ("predicate_path", "path", ".github/workflows/evil.yml"),
    ("predicate_ref", "ref", "refs/heads/feature"),
    ("predicate_repo", "repository", "https://github.com/mallory/tool"),
])
def test_provenance_naming_another_workflow(cli, tmp_path, stack, bundles, bundle,
                                            field, found):
    # the right signer, but the provenance says another workflow built it
    result = verify(cli, folder(tmp_path, bundles[bundle]), stack, bundles)
    assert result.code == 1
    assert f"FAIL  workflow    {ATTESTATION}: the provenance names another workflow: " \
           f"externalParameters.workflow.{field}" in result.out
    assert f"found:    {found}" in result.out


def test_self_hosted_runner_denied(cli, tmp_path, stack, bundles):
    directory = folder(tmp_path, bundles["self_hosted"])
    allowed = verify(cli, directory, stack, bundles)
    assert allowed.code == 0, allowed.out
    denied = verify(cli, directory, stack, bundles, "--deny-self-hosted-runners")
    assert denied.code == 1
    assert f"FAIL  identity    {ATTESTATION}: signed by another workflow run: runner " \
           "environment (self-hosted runners are denied)" in denied.out
    assert "found:    runner environment (self-hosted runners are denied) self-hosted" \
        in denied.out


def test_release_attestation_from_the_public_good_instance(cli, tmp_path, stack,
                                                           bundles):
    directory = folder(tmp_path, bundles["good"], bundles["release_public"])
    result = verify(cli, directory, stack, bundles)
    assert result.code == 1
    assert f"FAIL  signature   1.{ATTESTATION}: invalid release attestation" in result.out
    # its timestamp is by another authority, and its certificate by another CA
    assert "found:    no RFC 3161 timestamp verified against the trusted root's timestamp " \
           "authorities" in result.out


def test_provenance_from_githubs_instance_is_not_public_good(cli, tmp_path, stack,
                                                              bundles):
    result = verify(cli, folder(tmp_path, bundles["prov_on_github"]), stack, bundles)
    assert result.code == 1
    assert f"FAIL  signature   {ATTESTATION}: invalid Sigstore signature on the attestation" \
        in result.out


@pytest.mark.parametrize(("bundle", "line"), [
    ("release_without_tool", "FAIL  release     tool: not among the release attestation's "
                             "assets"),
    ("release_other_tag", "FAIL  release     1.tool.intoto.sigstore.json: the release "
                          "attestation is about another release: tag, purl"),
    ("release_by_workflow", "FAIL  identity    1.tool.intoto.sigstore.json: not signed by "
                            "GitHub's release service"),
])
def test_release_attestation_mismatch(cli, tmp_path, stack, bundles, bundle, line):
    directory = folder(tmp_path, bundles["good"], bundles[bundle])
    result = verify(cli, directory, stack, bundles)
    assert result.code == 1
    assert line in result.out


def test_two_release_attestations_for_one_tag(cli, tmp_path, stack, bundles,
                                              github_instance):  # noqa: F811
    other = sign(github_instance[0], release_claims(), release_statement(
        {"tool": sha256(TOOL), "extra": "0" * 64}, repository=REPOSITORY, tag=TAG,
        commit=COMMIT), log=False)[0]
    directory = folder(tmp_path, bundles["release"], other)
    result = verify(cli, directory, stack, bundles)
    assert result.code == 1
    assert f"FAIL  release     {TAG}: more than one release attestation for this tag" \
        in result.out


def test_huge_jsonl_is_not_read(cli, tmp_path, stack, bundles):
    directory = folder(tmp_path, bundles["good"])
    huge = directory / f"sha256:{sha256(TOOL)}.jsonl"
    with huge.open("wb") as f:
        f.truncate(5 * 1024 * 1024)  # sparse: 5 MiB without writing them
    result = verify(cli, directory, stack, bundles)
    assert result.code == 1
    assert f"FAIL  attestation  {huge.name}: {huge.name} is larger than the 4 MiB limit for " \
           "an attestation file (5242880 bytes); not read" in result.out
    assert f"UNCOVERED {huge.name}" in result.out


def test_malformed_and_too_many_lines(cli, tmp_path, stack, bundles):
    directory = tmp_path / "assets"
    directory.mkdir()
    (directory / "tool").write_bytes(TOOL)
    name = f"sha256:{sha256(TOOL)}.jsonl"
    path = write_jsonl(directory / name, [bundles["good"]])
    with path.open("a") as f:
        f.write('{"mediaType": "x", "dsseEnvelope": \n[1, 2]\n')
    result = verify(cli, directory, stack, bundles)
    assert result.code == 1
    assert "PASS  provenance  tool: https://slsa.dev/provenance/v1" in result.out
    assert f"FAIL  attestation  {name}:2: not verified: not JSON (" in result.out
    assert f"FAIL  attestation  {name}:3: not verified: not a JSON object" in result.out
    assert f"UNCOVERED {name}: an attestation file (gh attestation download) not every " \
           "line of which verified" in result.out
    path.write_text('{"a": 1}\n' * 300)
    many = verify(cli, directory, stack, bundles)
    assert f"FAIL  attestation  {name}: not verified: 300 lines, more than the 256 read" \
        in many.out


def test_options_keep_the_two_roots_apart(cli, tmp_path, stack, bundles):
    directory = folder(tmp_path, bundles["good"])
    same = cli("verify", directory, "--repository", REPOSITORY, "--tag", TAG,
               "--trusted-root", stack.trusted_root,
               "--github-trusted-root", stack.trusted_root)
    assert same.code == 2 and "are the same trusted root" in same.err
    both = tmp_path / "trusted_root.jsonl"
    both.write_text(stack.trusted_root.read_text().replace("\n", "") + "\n" +
                    bundles["github_root"].read_text().replace("\n", "") + "\n")
    jsonl = verify(cli, directory, stack, {"github_root": both})
    assert jsonl.code == 2 and "holds 2 trusted roots" in jsonl.err
    inside = directory / "github_trusted_root.json"
    inside.write_text(bundles["github_root"].read_text())
    planted = verify(cli, directory, stack, {"github_root": inside})
    assert planted.code == 2 and "--github-trusted-root" in planted.err \
        and "is inside the folder being verified" in planted.err
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    unreadable = verify(cli, directory, stack, {"github_root": garbage})
    assert unreadable.code == 2 and "cannot load --github-trusted-root" in unreadable.err
    bad = cli("verify", directory, "--repository", REPOSITORY, "--tag", TAG,
              "--predicate-type", "not a uri")
    assert bad.code == 2 and "--predicate-type 'not a uri' is not a URI" in bad.err
    assert "Traceback" not in same.err + jsonl.err + planted.err + bad.err + unreadable.err


# -- through the attestations API -----------------------------------------------------------
@pytest.fixture
def published(github_server, monkeypatch, bundles):  # noqa: F811
    publish(github_server, {"tool": TOOL})
    github_server.add_attestation(REPOSITORY, bundles["good"])
    github_server.add_attestation(REPOSITORY, bundles["other_digest"])
    github_server.add_attestation(REPOSITORY, bundles["release"], initiator="github")
    monkeypatch.setenv("GITHUB_API_URL", github_server.api_url)
    return github_server


def from_github(cli, tmp_path, stack, bundles, *extra):
    return cli("verify", "--github", f"{REPOSITORY}@{TAG}", tmp_path / "download",
               "--trusted-root", stack.trusted_root,
               "--github-trusted-root", bundles["github_root"], *extra)


def test_a_next_link_to_another_host_is_never_followed(cli, tmp_path, stack,
                                                       bundles, published):
    with GitHubServer(tmp_path / "elsewhere") as elsewhere:
        published.attestations_per_page = 1
        published.attestations_link = (f"{elsewhere.api_url}/repos/{REPOSITORY}/attestations/"
                                       f"sha256:{sha256(TOOL)}?after=1")
        result = from_github(cli, tmp_path, stack, bundles)
        assert elsewhere.requests == []
    assert result.code == 1
    assert f"FAIL  attestation  {REPOSITORY} attestations API: GitHub's attestations could " \
           "not be read: stage 'verify' may not send repos/list-attestations (GET) to " \
           f"{elsewhere.api_url}" in result.out
    assert "Traceback" not in result.err


def test_a_bundle_url_off_https_is_never_fetched(cli, tmp_path, stack, bundles,
                                                 published):
    # blob storage is https; an http URL elsewhere (here an address that answers nothing)
    # is refused before any connection
    published.bundle_url_mode = True
    published.bundle_url_base = "http://192.0.2.1:9"
    result = from_github(cli, tmp_path, stack, bundles)
    assert result.code == 1
    assert "not verified: bundle_url: refusing to fetch http://192.0.2.1:9/_bundles/" \
        in result.out


def test_api_attestations_that_fail_are_not_saved(cli, tmp_path, stack, bundles,
                                                  published):
    # the statement for another digest was filed under this asset's digest by a liar
    published.repos[REPOSITORY].attestations[1]["digests"].append(f"sha256:{sha256(TOOL)}")
    result = from_github(cli, tmp_path, stack, bundles)
    assert result.code == 1
    assert "attests another version of this file" in result.out
    saved = (tmp_path / "download" / f"sha256:{sha256(TOOL)}.jsonl").read_text()
    assert saved.count("\n") == 1 and json.loads(saved) == bundles["good"]


def test_snappy_bomb_is_refused():
    from release.github.snappy import SnappyError, decompress

    bomb = bytes([0xFF, 0xFF, 0xFF, 0xFF, 0x0F]) + b"\x00a"  # declares 4 GiB
    with pytest.raises(SnappyError, match="more than the"):
        decompress(bomb, 4 * 1024 * 1024)
    with pytest.raises(SnappyError, match="reaches"):
        decompress(bytes([8, 0b001, 5]), 100)  # a copy before any output


@pytest.mark.parametrize("url", ["http://127.0.0.1:1/_bundles/1", "https://localhost/x",
                                 "http://github-bundles.example/x", "file:///etc/passwd"])
def test_bundle_url_never_reaches_local_services(url):
    # against the real API host, a bundle_url on this machine or off https is refused
    # before any connection (a hostile answer must not make the verifier query them)
    from release.github.client import ScopedGitHub
    from release.github.failures import GitHubRefused
    from release.permissions import Level, PermissionSet

    gh = ScopedGitHub(REPOSITORY, PermissionSet({"attestations": Level.READ}), token=None,
                      stage="verify", base_url="https://api.github.com")
    with pytest.raises(GitHubRefused, match="refusing to fetch"):
        gh.fetch_public(url, 1024)


def test_self_hosted_runner_denied_on_checksums_and_files(cli, tmp_path, stack, bundles):
    # --deny-self-hosted-runners holds for every Sigstore signature, not only attestations
    from tests.verify.test_attestations import keyless_blob

    claims = run_claims(REPOSITORY, TAG, COMMIT, runner="self-hosted")
    directory = tmp_path / "assets"
    directory.mkdir()
    sums = f"{sha256(TOOL)}  tool\n".encode()
    (directory / "tool").write_bytes(TOOL)
    (directory / "SHA256SUMS").write_bytes(sums)
    (directory / "SHA256SUMS.sigstore.json").write_text(
        json.dumps(keyless_blob(stack, claims, sums)))
    (directory / "tool.sigstore.json").write_text(
        json.dumps(keyless_blob(stack, claims, TOOL)))
    allowed = verify(cli, directory, stack, bundles)
    assert allowed.code == 0, allowed.out + allowed.err
    denied = verify(cli, directory, stack, bundles, "--deny-self-hosted-runners")
    assert denied.code == 1, denied.out + denied.err
    for name in ("SHA256SUMS.sigstore.json", "tool.sigstore.json"):
        assert f"FAIL  identity    {name}: signed by another identity: runner " \
               "environment (self-hosted runners are denied)" in denied.out, denied.out
    assert "runner environment (self-hosted runners are denied) self-hosted" in denied.out


def _scoped_on_github_com():
    from release.github.client import ScopedGitHub
    from release.permissions import Level, PermissionSet

    return ScopedGitHub(REPOSITORY, PermissionSet({"attestations": Level.READ}), token=None,
                        stage="verify", base_url="https://api.github.com")


@pytest.mark.parametrize("host", ["0.0.0.0", "127.1", "[::ffff:127.0.0.1]",
                                  "[0:0:0:0:0:0:0:1]", "2130706433", "0x7f000001",
                                  "0177.0.0.1", "[::1]", "localhost.", "a.localhost",
                                  "10.0.0.1", "192.168.1.1", "169.254.169.254", "[fe80::1]",
                                  "100.64.0.1", "224.0.0.1", "[fc00::1]"])
def test_bundle_url_in_any_spelling_of_a_local_address_is_refused(tmp_path, host):
    # the loopback spellings point at a live local server, which must see no request
    from release.github.failures import GitHubRefused

    with GitHubServer(tmp_path / "local") as local:
        port = local.api_url.rsplit(":", 1)[1].split("/")[0]
        with pytest.raises(GitHubRefused, match="refusing to fetch") as refused:
            _scoped_on_github_com().fetch_public(f"https://{host}:{port}/_bundles/1", 1024)
        assert local.requests == []
    assert "answered" not in str(refused.value)


@pytest.mark.parametrize("resolved", [["127.0.0.1"], ["10.1.2.3"], ["::1"],
                                      ["140.82.112.3", "192.168.0.7"], ["::ffff:10.0.0.1"]])
def test_bundle_url_naming_a_host_that_resolves_locally_is_refused(monkeypatch, resolved):
    import socket

    from release.github.failures import GitHubRefused

    def getaddrinfo(host, port, *args, **kwargs):
        assert host == "blobs.example"
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (a, port)) for a in resolved]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with pytest.raises(GitHubRefused, match=r"refusing to fetch .*it resolves to"):
        _scoped_on_github_com().fetch_public("https://blobs.example/_bundles/1", 1024)


# -- JSON nested too deeply for the parser -------------------------------------------------
DEEP = "[" * 200000


class _Answer:
    """A loopback HTTP server answering every GET with ``body`` (status 200)."""

    def __init__(self, body: bytes, content_type: str = "application/json") -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> _Answer:
        import threading

        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_deeply_nested_bundle_and_download_files_fail_cleanly(cli, tmp_path, stack, bundles):
    directory = folder(tmp_path, bundles["good"])
    (directory / "x.sigstore.json").write_text(DEEP)
    (directory / f"sha256:{sha256(TOOL)}.jsonl").write_text(DEEP)
    result = verify(cli, directory, stack, bundles)
    assert result.code == 1, result.out + result.err
    assert "internal error" not in result.err and "RecursionError" not in result.err
    assert "Traceback" not in result.err
    assert f"FAIL  attestation  sha256:{sha256(TOOL)}.jsonl:1: not verified: not JSON " \
           "(nested too deeply" in result.out
    assert "x.sigstore.json" in result.out and "FAIL" in result.out


def test_deeply_nested_bundle_url_fails_cleanly(cli, tmp_path, stack, bundles, published):
    from tests.github_server import snappy_compress

    with _Answer(snappy_compress(b"[" * 50000), "application/octet-stream") as blobs:
        published.bundle_url_mode = True
        published.bundle_url_base = blobs.url
        result = from_github(cli, tmp_path, stack, bundles)
    assert result.code == 1, result.out + result.err
    assert "internal error" not in result.err and "Traceback" not in result.err
    assert "not verified: bundle_url: not JSON" in result.out


def test_deeply_nested_api_answer_is_not_json():
    from release.github.client import ScopedGitHub
    from release.github.failures import GitHubRefused
    from release.github.pagination import pages
    from release.permissions import Level, PermissionSet

    with _Answer(DEEP.encode()) as api:
        gh = ScopedGitHub(REPOSITORY, PermissionSet({"attestations": Level.READ}),
                          token=None, stage="verify", base_url=api.url)
        with gh, pytest.raises(GitHubRefused, match="is not JSON"):
            list(pages(gh, "repos/list-attestations", {"subject_digest": "sha256:" + "0" * 64}))


@pytest.mark.parametrize("parse", ["peek", "statement", "release", "github", "jsonl"])
def test_deeply_nested_json_is_malformed_everywhere(parse):
    from release.verify import attestations, release_attestation, statements
    from release.verify.github_bundle import parse_bundle as _parse

    deep = DEEP.encode()
    if parse == "peek":
        assert attestations._peek(deep) is None
    elif parse == "statement":
        assert "not JSON" in str(statements.parse_statement(None, deep, "x"))
    elif parse == "release":
        assert "not JSON" in str(release_attestation.parse_release(
            release_attestation.PAYLOAD_TYPE, deep, "x"))
    elif parse == "github":
        with pytest.raises(ValueError, match="nested too deeply"):
            _parse(deep)
    else:
        assert "nested too deeply" in str(statements.read_jsonl(DEEP, "x.jsonl"))


def _malformed(bundle: dict, path: str, value) -> dict:
    import copy

    out = copy.deepcopy(bundle)
    *parents, last = path.split(".")
    node = out
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[last] = value
    return out


@pytest.mark.parametrize(("path", "value", "named"), [
    ("verificationMaterial.timestampVerificationData", [1],
     "verificationMaterial.timestampVerificationData is a list, not an object"),
    ("verificationMaterial.timestampVerificationData.rfc3161Timestamps", "x",
     "rfc3161Timestamps is a string, not a list"),
    ("verificationMaterial.timestampVerificationData.rfc3161Timestamps", [1],
     "rfc3161Timestamps[0] is a number, not an object"),
    ("verificationMaterial.timestampVerificationData.rfc3161Timestamps", [{"x": 1}],
     "rfc3161Timestamps[0].signedTimestamp is missing"),
    ("verificationMaterial", [], "verificationMaterial is a list, not an object"),
    ("verificationMaterial.certificate", "x",
     "verificationMaterial.certificate is a string, not an object"),
    ("verificationMaterial.certificate", {"rawBytes": 5},
     "verificationMaterial.certificate.rawBytes is a number, not a string"),
    ("dsseEnvelope.signatures", {"sig": "x"}, "dsseEnvelope.signatures is an object, not a "
                                              "list"),
    ("dsseEnvelope.signatures", [None], "dsseEnvelope.signatures[0] is null, not an object"),
    ("dsseEnvelope.signatures.0.sig", ["x"],
     "dsseEnvelope.signatures[0].sig is a list, not a string"),
    ("dsseEnvelope.payloadType", 7, "dsseEnvelope.payloadType is a number, not a string"),
])
def test_malformed_github_instance_bundle_is_a_fail_line(cli, tmp_path, stack, bundles,
                                                         path, value, named):
    bad = _malformed(bundles["release"], path, value)
    directory = folder(tmp_path, bundles["good"], bad)
    result = verify(cli, directory, stack, bundles)
    assert result.code == 1, result.out + result.err
    assert "internal error" not in result.err and "Traceback" not in result.err
    assert f"FAIL  signature   1.{ATTESTATION}: invalid release attestation" in result.out
    assert "found:    not a Sigstore DSSE bundle: " in result.out
    assert named in result.out, result.out


def test_attestations_api_total_bytes_are_bounded(cli, tmp_path, stack, bundles, published,
                                                 monkeypatch):
    from release.github import attestations_api

    monkeypatch.setattr(attestations_api, "MAX_TOTAL_BYTES", 4000)
    published.add_attestation(REPOSITORY, bundles["self_hosted"])
    result = from_github(cli, tmp_path, stack, bundles)
    assert result.code == 1, result.out + result.err
    assert "Traceback" not in result.err
    assert f"FAIL  attestation  {REPOSITORY} attestations API: GitHub's attestations could " \
           "not be read: GitHub's attestations add up to more than 4000 bytes of bundles " \
           f"(reached reading those of sha256:{sha256(TOOL)}); not read further" in result.out


def test_attestations_api_items_per_digest_are_bounded(cli, tmp_path, stack, bundles,
                                                       published, monkeypatch):
    from release.github import attestations_api

    monkeypatch.setattr(attestations_api, "MAX_ITEMS", 1)
    published.attestations_per_page = 1
    published.add_attestation(REPOSITORY, bundles["self_hosted"])
    result = from_github(cli, tmp_path, stack, bundles)
    assert result.code == 1, result.out + result.err
    assert f"FAIL  attestation  GitHub API sha256:{sha256(TOOL)} #2: not verified: more " \
           "than 1 attestations for this digest; the rest were not read" in result.out
    assert f"sha256:{sha256(TOOL)} #3" not in result.out
