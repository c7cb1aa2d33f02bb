"""The tpm-ca-certificates-shaped example, end to end on real local services.

The example (``pipelines/examples/ca-certificates``) runs in place, from a clone of this
repository with the example's tag. The dry-run test runs it as committed, with no
credential. Every run points the CLI's Go fetch at a loopback module proxy serving the
committed ``sdk-go/`` (proxy.golang.org would serve its tag). The release test changes
only what must point at local services: the image goes to a docker-registry on loopback,
signing to the local Sigstore stack (with a GitHub Actions-shaped token for the tag),
and the release to the loopback GitHub (``GITHUB_API_URL``).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import yaml

from tests.checkout import ROOT
from tests.examples.conftest import (
    CA_CERTIFICATES,
    SDK_GO,
    SDK_GO_VERSION,
    TAG,
    replace,
    tagged_example,
)
from tests.github_server import GitHubServer
from tests.hermetic.goproxy import GoProxy, needs_go
from tests.oci.conftest import LocalRegistry, skopeo
from tests.sigstore_stack import SigstoreStack, github_claims

REPOSITORY = "example/tpm-ca-certificates"
IMAGE = "ghcr.io/example/tpm-ca-certificates"
TOKEN_VAR = "CA_SIGSTORE_TOKEN"
NO_TLS = "--tls-verify=false"
#: The CLI's targets: the expansions of the ``cli`` matrix stage, one binary each.
TARGETS = ("linux-amd64", "linux-arm64", "darwin-amd64", "darwin-arm64", "windows-amd64")
CLIS = tuple(f"cli-{target}" for target in TARGETS)
#: Stages whose artifacts become release assets, and those provenance covers.
PUBLISHED = (*CLIS, "sdk", "roots", "intermediates", "sbom", "checksums", "sign",
             "provenance")
ATTESTED = (*CLIS, "sdk", "roots", "intermediates", "image", "sbom")
#: The bundles: stage, file, certificates file.
BUNDLES = (("roots", "tpm-ca-certificates.pem", ".tpm-roots.yaml"),
           ("intermediates", "tpm-intermediate-ca-certificates.pem", ".tpm-intermediates.yaml"))
#: The first bytes of an executable for each OS, and ELF's machine field for each arch.
MAGIC = {"linux": b"\x7fELF", "darwin": b"\xcf\xfa\xed\xfe", "windows": b"MZ"}
ELF_MACHINE = {"amd64": 62, "arm64": 183}
pytestmark = needs_go


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def artifacts(out: Path, *stages: str) -> dict[str, dict[str, Any]]:
    """Name -> manifest entry of the run's artifacts of ``stages``."""
    data = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return {a["name"]: a for a in data["artifacts"] if a["stage"] in stages}


def local_services(text: str, registry: LocalRegistry, stack: SigstoreStack) -> str:
    """The example pointed at the local registry and Sigstore stack; nothing else changes."""
    text = replace(text, f"repository: {IMAGE}\n",
                   f"repository: {registry.host}/example/tpm-ca-certificates\n")
    # a loopback registry is not GHCR: the push needs no GitHub permission
    text = replace(text, "    permissions: {packages: write}\n", "")
    # a token from a variable instead of the job's ambient OIDC: no id-token permission
    signing = (f"    trust-config: {stack.trust_config}\n"
               f"    identity-token-env: {TOKEN_VAR}\n")
    text = replace(text, "    permissions: {id-token: write, packages: write}\n", signing,
                   count=2)
    return replace(text, "    permissions: {id-token: write}\n", signing, count=2)


def openssl(*args: str | Path, stdin: bytes | None = None) -> str:
    return subprocess.run(["openssl", *map(str, args)], input=stdin, capture_output=True,
                          check=True).stdout.decode()


def check_bundle(path: Path, certificates_file: Path, *, intermediate: bool) -> None:
    """Every certificate of the built bundle is one the certificates file pins, by the
    SHA-256 fingerprint openssl computes, and is a CA certificate: a root (self-issued)
    or an intermediate (issued by another CA)."""
    config = yaml.safe_load(certificates_file.read_text(encoding="utf-8"))
    pinned = {c["validation"]["fingerprint"]["sha256"]
              for vendor in config["vendors"] for c in vendor["certificates"]}
    blocks = [b.split("-----END CERTIFICATE-----")[0] for b in
              path.read_text(encoding="utf-8").split("-----BEGIN CERTIFICATE-----")[1:]]
    seen = set()
    for block in blocks:
        pem = f"-----BEGIN CERTIFICATE-----{block}-----END CERTIFICATE-----\n".encode()
        seen.add(openssl("x509", "-noout", "-fingerprint", "-sha256", stdin=pem)
                 .strip().split("=", 1)[1])
        text = openssl("x509", "-noout", "-subject", "-issuer", "-ext", "basicConstraints",
                       stdin=pem)
        subject, issuer = (line.split("=", 1)[1] for line in text.splitlines()[:2])
        assert "CA:TRUE" in text, text
        assert (subject != issuer) is intermediate, text
    assert seen == pinned and len(blocks) == len(pinned)


def test_plan_in_place_in_this_checkout(cli) -> None:
    """From this repository's own checkout, no copy and no clone: the folder and the tag
    glob are shown, the version comes from no tag."""
    plan = cli("plan", f"{CA_CERTIFICATES}/release.yaml", cwd=ROOT)
    assert plan.code == 0, plan.err
    assert (f"releases folder {CA_CERTIFICATES} alone, from tags ca-certificates/v*"
            in plan.out.splitlines())


def test_plan_is_clean_and_dry_run_needs_no_credentials(cli, tmp_path: Path,
                                                        go_proxy: GoProxy) -> None:
    clone = tagged_example(tmp_path, go_proxy=go_proxy)
    commit, pipeline = clone.commit, f"{CA_CERTIFICATES}/release.yaml"
    plan = cli("plan", pipeline, "--format", "json", cwd=clone.path)
    assert plan.code == 0 and plan.err == "", plan.err
    perms = {s["id"]: s["permissions"] for s in json.loads(plan.out)["stages"]}
    assert perms == {
        **{sid: {} for sid in CLIS}, "sdk": {}, "roots": {}, "intermediates": {},
        "sbom": {}, "checksums": {},
        "image": {"packages": "write"}, "sign": {"id-token": "write"},
        "provenance": {"id-token": "write"},
        "sign-image": {"id-token": "write", "packages": "write"},
        "image-provenance": {"id-token": "write", "packages": "write"},
        "publish": {"contents": "write", "attestations": "write"}}

    out, review = tmp_path / "dry", tmp_path / "review.json"
    res = cli("run", pipeline, "--dry-run", "--out", out, "--report", review,
              "--report", tmp_path / "review.md", cwd=clone.path)
    assert res.code == 0, res.out + res.err
    built = artifacts(out, *PUBLISHED)
    assert {a["kind"] for a in built.values()} == {
        "executable", "sdist", "wheel", "pem-bundle", "sbom", "checksums"}
    for art in built.values():
        assert sha256(out / art["path"]) == art["sha256"]
    data = json.loads(review.read_text(encoding="utf-8"))
    assert data["source"]["commit"] == commit
    assert (data["source"]["tag"], data["source"]["version"]) == (TAG, "1.0.0")
    assert data["source"]["path"] == CA_CERTIFICATES
    stages = data["stages"]
    assert {s for s, st in stages.items() if st["status"] == "planned"} == {
        "image", "sign", "provenance", "publish", "sign-image", "image-provenance"}
    steps = {sid: [(p["action"], p.get("target", ""), p.get("digest")) for p in st["plan"]]
             for sid, st in stages.items()}

    # image: built for the plan, so the push shows the digest the registry will get
    [(_, _, digest)] = [s for s in steps["image"] if s[0] == "build image"]
    assert digest and digest.startswith("sha256:")
    assert ("push image", IMAGE, digest) in steps["image"]
    for tag in ("1.0.0", "latest"):
        assert ("move tag", f"{IMAGE}:{tag}", digest) in steps["image"]
    # the image is signed and attested in the registry, by the digest it is pushed as
    tag_index = digest.replace(":", "-")
    assert ("would sign", f"{IMAGE}@{digest} and store the bundle as a referrer at ghcr.io "
            f"(tag fallback {tag_index})", digest) in steps["sign-image"]
    assert ("would attest", f"{IMAGE}@{digest} (SLSA provenance v1) and store the bundle as "
            f"a referrer at ghcr.io (tag fallback {tag_index})", digest) \
        in steps["image-provenance"]
    # sign: the checksums file this dry-run wrote
    sums = built["SHA256SUMS"]
    [signing] = steps["sign"]
    assert signing[0] == "would sign" and signing[1].startswith("SHA256SUMS at Sigstore")
    assert signing[2] == f"sha256:{sums['sha256']}"
    # provenance: every artifact it covers, by digest
    attested = {(t.split(" (")[0], d) for a, t, d in steps["provenance"]
                if a == "would attest" and "(SLSA provenance v1)" in t}
    files = {(n, f"sha256:{a['sha256']}") for n, a in artifacts(out, *ATTESTED).items()}
    [image] = artifacts(out, "image").values()  # a dry-run builds the image, never pushes it
    assert image["kind"] == "oci-image"
    by_digest = ("tpm-ca-certificates.oci", image["annotations"]["org.opencontainers.image.digest"])
    assert by_digest[1] == digest
    assert attested == files | {by_digest}
    # publish: every asset there is before signing, by digest, then publish last
    uploads = {(t.split(" (")[0], d) for a, t, d in steps["publish"] if a.startswith("upload")}
    assert uploads == {(n, f"sha256:{a['sha256']}") for n, a in built.items()}
    assert steps["publish"][-2][0].startswith("publish (draft=false")
    markdown = (tmp_path / "review.md").read_text(encoding="utf-8")
    for sid in ("image", "sign", "provenance", "publish"):
        assert f"### `{sid}`" in markdown
    assert f"| folder released | `{CA_CERTIFICATES}` |" in markdown
    assert f"- commit `{commit}`, tag `{TAG}`" in markdown

    # one least-privilege job per stage, which the audit finds nothing to flag in
    # (beside this repository's own release workflow, which it leaves alone)
    workflow = clone.path / ".github" / "workflows" / "ca-certificates.yml"
    own = (clone.path / ".github" / "workflows" / "release.yml").read_bytes()
    generated = cli("workflow", "generate", pipeline, "--output", workflow, cwd=clone.path)
    assert generated.code == 0, generated.err
    assert (clone.path / ".github" / "workflows" / "release.yml").read_bytes() == own
    assert '- "ca-certificates/v*"' in workflow.read_text(encoding="utf-8")
    audit = cli("audit", workflow)
    assert audit.code == 0 and "0 findings" in audit.out, audit.out + audit.err

    # each CLI was built for its target, from the SDK module the fetch got from the
    # proxy, pinned by the committed go.sum
    assert f"/{SDK_GO}/@v/{SDK_GO_VERSION}.zip" in go_proxy.requests
    gosum = sha256(clone.path / CA_CERTIFICATES / "go.sum")
    for target in TARGETS:
        [binary] = artifacts(out, f"cli-{target}").values()
        assert binary["name"] == f"tpm-ca-{target}" and binary["kind"] == "executable"
        assert binary["annotations"] == {"lock:go.sum": gosum}
        system, arch = target.split("-")
        data = (out / binary["path"]).read_bytes()
        assert data.startswith(MAGIC[system]), target
        if system == "linux":
            assert int.from_bytes(data[18:20], "little") == ELF_MACHINE[arch]

    # the bundles hold what their certificates files pin, as openssl sees it
    for stage, name, config in BUNDLES:
        check_bundle(out / stage / name, clone.path / CA_CERTIFICATES / config,
                     intermediate=stage == "intermediates")

    # the linux/amd64 CLI runs here, and reads the bundles
    linux = out / "cli-linux-amd64" / "tpm-ca-linux-amd64"
    listed = {stage: subprocess.run([linux, "list", out / stage / name], capture_output=True,
                                    text=True, check=True).stdout.splitlines()
              for stage, name, _ in BUNDLES}
    assert listed == {"roots": ["Example Hardware Root CA", "Example Release Root CA"],
                      "intermediates": ["Example Issuing CA 1"]}


def _image_files(tmp_path: Path, ref: str) -> dict[str, bytes]:
    """Path -> bytes of the regular files in the pushed image, read back with skopeo."""
    copied = tmp_path / "pulled"
    skopeo("copy", "--src-tls-verify=false", ref, f"dir:{copied}")
    manifest = json.loads((copied / "manifest.json").read_text(encoding="utf-8"))
    files: dict[str, bytes] = {}
    for layer in manifest["layers"]:
        data = (copied / layer["digest"].removeprefix("sha256:")).read_bytes()
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(data))) as tar:
            for member in tar.getmembers():
                if member.isfile():
                    extracted = tar.extractfile(member)
                    assert extracted is not None
                    files["/" + member.name.lstrip("./")] = extracted.read()
    return files


def test_release_end_to_end(cli, monkeypatch, tmp_path: Path,
                            registry: LocalRegistry, sigstore_stack: SigstoreStack,
                            github_server: GitHubServer,
                            go_proxy: GoProxy) -> None:
    clone = tagged_example(tmp_path, go_proxy=go_proxy,
                           rewrite=lambda t: local_services(t, registry, sigstore_stack))
    commit = clone.commit
    github_server.add_repo(REPOSITORY, immutable=True)
    github_server.set_tag(REPOSITORY, TAG, commit)
    # set after `cli` scrubbed the GITHUB_* variables
    monkeypatch.setenv("GITHUB_API_URL", github_server.api_url)
    monkeypatch.setenv("GITHUB_TOKEN", github_server.add_token(
        "actions", permissions={"contents": "write", "attestations": "write"},
        repositories=(REPOSITORY,)))
    claims = github_claims(repository=REPOSITORY, ref=f"refs/tags/{TAG}", sha=commit,
                           workflow="release.yml")
    monkeypatch.setenv(TOKEN_VAR, sigstore_stack.make_token(claims))

    out = tmp_path / "out"
    res = cli("run", f"{CA_CERTIFICATES}/release.yaml", "--out", out, cwd=clone.path)
    assert res.code == 0, res.out + res.err

    # the image is in the registry under both tags, byte for byte what was built
    [image] = artifacts(out, "image").values()
    digest = image["annotations"]["org.opencontainers.image.digest"]
    pushed = f"{registry.host}/example/tpm-ca-certificates"
    for tag in ("1.0.0", "latest"):
        assert json.loads(skopeo("inspect", NO_TLS, f"docker://{pushed}:{tag}"))["Digest"] \
            == digest
    raw = skopeo("inspect", NO_TLS, "--raw", f"docker://{pushed}@{digest}")
    assert "sha256:" + hashlib.sha256(raw.encode()).hexdigest() == digest
    files = _image_files(tmp_path, f"docker://{pushed}@{digest}")
    assert files == {"/usr/local/bin/tpm-ca":
                         (out / "cli-linux-amd64" / "tpm-ca-linux-amd64").read_bytes(),
                     "/etc/ssl/certs/ca-bundle.pem":
                         (out / "roots" / "tpm-ca-certificates.pem").read_bytes(),
                     "/etc/ssl/certs/tpm-intermediate-ca-bundle.pem":
                         (out / "intermediates" / "tpm-intermediate-ca-certificates.pem")
                         .read_bytes()}

    # provenance names the image by its pushed digest and every built artifact
    envelope = json.loads((out / "provenance" / "tpm-ca-certificates.intoto.jsonl").read_text())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["predicate"]["buildDefinition"]["externalParameters"]["source"] == {
        "repository": REPOSITORY, "ref": f"refs/tags/{TAG}", "path": CA_CERTIFICATES}
    subjects = {(s["name"], s["digest"]["sha256"]) for s in statement["subject"]}
    expected = {(n, a["sha256"]) for n, a in artifacts(out, *ATTESTED).items()}
    assert subjects == expected | {(pushed, digest.removeprefix("sha256:"))}
    # ... and the go.sum that pinned each CLI's fetch
    deps = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    gosum = sha256(clone.path / CA_CERTIFICATES / "go.sum")
    for sid in CLIS:
        assert {"name": "go.sum", "digest": {"sha256": gosum},
                "annotations": {"stage": sid, "role": "lock"}} in deps
    # each CLI's SBOM lists the Go modules its linker recorded, with go.sum's checksum
    pinned = (clone.path / CA_CERTIFICATES / "go.sum").read_text().split("\n")[0].split()
    for sid in CLIS:
        (binary,) = [n for n in artifacts(out, sid) if not n.endswith(".cdx.json")]
        sbom = json.loads((out / "sbom" / f"{binary}.cdx.json").read_text())
        modules = {c["purl"]: {p["name"]: p["value"] for p in c.get("properties", [])}
                   for c in sbom["components"]}
        assert modules[f"pkg:golang/{pinned[0]}@{pinned[1]}"] == {
            "release-pipeline:go-sum": pinned[2]}
        root = {p["name"]: p["value"] for p in sbom["metadata"]["component"]["properties"]}
        _, goos, goarch = sid.split("-")
        assert (root["release-pipeline:go-build:GOOS"],
                root["release-pipeline:go-build:GOARCH"]) == (goos, goarch)

    # the image's signature and provenance are in the registry, where consumers check it
    image_ref = f"oci://{pushed}@{digest}"
    checked = cli("verify", image_ref, "--repository", REPOSITORY, "--tag", TAG,
                  "--trusted-root", sigstore_stack.trusted_root, "--require-provenance")
    assert checked.code == 0, checked.out + checked.err
    assert "PASS  signature" in checked.out and "PASS  provenance" in checked.out

    # the release: published, immutable, every asset stored with our digest
    [release] = github_server.releases(REPOSITORY)
    assert not release.draft and release.immutable
    assets = artifacts(out, *PUBLISHED)
    assert {"SHA256SUMS", "SHA256SUMS.sigstore.json", "tpm-ca-certificates.intoto.jsonl",
            "tpm-ca-certificates.intoto.sigstore.json"} <= set(assets)
    stored = {a.name: (a.digest, hashlib.sha256(github_server.asset_bytes(a)).hexdigest())
              for a in release.assets}
    assert stored == {n: (f"sha256:{a['sha256']}", a["sha256"]) for n, a in assets.items()}
    # the attestations GitHub keeps include the image's, found by its digest
    kept = github_server.repos[REPOSITORY].attestations
    assert len(kept) == len([n for n in assets if n.endswith(".intoto.sigstore.json")])
    assert any(digest in a["digests"] for a in kept)

    # a consumer verifies the release as GitHub serves it, with no token
    monkeypatch.delenv("GITHUB_TOKEN")
    downloaded = tmp_path / "download"
    trust = ["--trusted-root", sigstore_stack.trusted_root, "--require-provenance"]
    ok = cli("verify", "--github", f"{REPOSITORY}@{TAG}", downloaded, *trust)
    assert ok.code == 0, ok.out + ok.err
    assert "PASS  immutable" in ok.out
    for name in assets:
        assert f"PASS  download    {name}: " in ok.out
    # the tag's commit, as GitHub reports it, is the one provenance and certificates name
    assert f"PASS  source      tpm-ca-certificates.intoto.jsonl: source commit {commit} " \
           "matches --commit" in ok.out
    listed = (out / "checksums" / "SHA256SUMS").read_text().splitlines()
    # five CLIs, the sdist, the wheel, two bundles, and an SBOM of each CLI and distribution
    assert len(listed) == 16
    assert f"PASS  coverage    {len(listed)} files" in ok.out

    # the published release cannot be changed through the API (immutable), so tamper
    # with a downloaded copy: a swapped CLI of the same size fails, naming the file
    size = (downloaded / "tpm-ca-linux-amd64").stat().st_size
    evil = b"#!/bin/sh\necho evil\n".ljust(size, b"#")
    (downloaded / "tpm-ca-linux-amd64").write_bytes(evil)
    bad = cli("verify", downloaded, "--repository", REPOSITORY, "--tag", TAG, *trust)
    assert bad.code == 1
    assert "FAIL  checksum    tpm-ca-linux-amd64: sha256 differs from SHA256SUMS" in bad.out
    # ... and bytes GitHub serves that differ from its own digest are refused at download
    [stored_cli] = [a for a in release.assets if a.name == "tpm-ca-linux-amd64"]
    stored_cli.path.write_bytes(evil)
    swapped = cli("verify", "--github", f"{REPOSITORY}@{TAG}", tmp_path / "again", *trust)
    assert swapped.code == 1
    assert "asset tpm-ca-linux-amd64 downloaded as sha256:" in swapped.err


def test_dry_run_at_an_untagged_commit(cli, tmp_path: Path,
                                       go_proxy: GoProxy) -> None:
    """With no ``ca-certificates/v*`` tag the version is a dev version whose ``+`` an OCI
    tag cannot hold: the image's tag carries ``_`` instead, and the dry-run works. (The
    image and what it holds only: the full dry-run above builds the other four CLIs.)"""
    clone = tagged_example(tmp_path, go_proxy=go_proxy, tag=None)
    commit = clone.commit
    review = tmp_path / "review.json"
    chain = [a for sid in ("cli-linux-amd64", "roots", "intermediates", "image")
             for a in ("--stage", sid)]
    res = cli("run", f"{CA_CERTIFICATES}/release.yaml", "--dry-run", "--out", tmp_path / "dry",
              *chain, "--report", review, cwd=clone.path)
    assert res.code == 0, res.out + res.err
    data = json.loads(review.read_text(encoding="utf-8"))
    assert data["source"]["version"] == f"0.0.0.dev0+g{commit[:12]}"
    targets = [step["target"] for step in data["stages"]["image"]["plan"]]
    assert f"{IMAGE}:0.0.0.dev0_g{commit[:12]}" in targets, targets
