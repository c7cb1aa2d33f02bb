"""``release verify oci://...`` against a real registry (docker-registry on loopback, no
referrers API): it passes on what the sign stage stored, and fails on another digest, a
bundle about another image, a wrong identity or key, and a tampered bundle blob."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.conftest import Repo
from tests.oci.conftest import LocalRegistry
from tests.oci.images import image_digest
from tests.oci.test_sign_images import (
    REPOSITORY,
    TAG,
    key_sign,
    keyless_sign,
    referrers,
    signed_image,
)
from tests.security.test_image_referrers import INDEX, MANIFEST, _put_blob, _put_manifest


def _verify(cli, image: str, *args: object):
    return cli("verify", image, *args)


def _keyless(repo: Repo, cli, tmp_path: Path, registry: LocalRegistry, stack, monkeypatch,
             name: str) -> tuple[str, str]:
    out = signed_image(repo, cli, tmp_path, registry, name, keyless_sign(stack), monkeypatch,
                       stack)
    digest = image_digest(out)
    return f"oci://{registry.host}/example/{name}@{digest}", digest


def _other_image(registry: LocalRegistry, name: str) -> str:
    """Another (tiny) image in the same repository: its digest."""
    base = f"http://{registry.host}/v2/example/{name}"
    empty = b"{}"
    _put_blob(base, empty)
    data = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST, "config": {
        "mediaType": "application/vnd.oci.image.config.v1+json",
        "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
        "size": 2}, "layers": []}).encode()
    import hashlib

    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    _put_manifest(base, digest, data, MANIFEST)
    return digest


def test_verify_passes_on_our_keyless_signature(repo: Repo, cli, tmp_path: Path,
                                                registry: LocalRegistry, sigstore_stack,
                                                monkeypatch) -> None:
    image, digest = _keyless(repo, cli, tmp_path, registry, sigstore_stack, monkeypatch, "v1")
    trust = ("--trusted-root", sigstore_stack.trusted_root)
    ok = _verify(cli, image, "--repository", REPOSITORY, "--tag", TAG, *trust)
    assert ok.code == 0, ok.out + ok.err
    assert "PASS  signature" in ok.out and f"about {digest}" in ok.out
    assert ok.out.rstrip().endswith("verified (2 passed, 0 failed, 0 uncovered)"), ok.out

    wrong = _verify(cli, image, "--repository", "example/other", "--tag", TAG, *trust)
    # another signer's bundle is skipped, as cosign ignores it; then none is ours
    assert wrong.code == 1 and "SKIP  bundle" in wrong.out and "another identity" in wrong.out
    assert "FAIL  signature" in wrong.out and "no verified signature" in wrong.out, wrong.out

    needs = _verify(cli, image, "--repository", REPOSITORY, "--tag", TAG, *trust,
                    "--require-provenance")
    assert needs.code == 1 and "FAIL  provenance" in needs.out, needs.out

    by_tag = _verify(cli, f"oci://{registry.host}/example/v1:1.2.3", "--repository",
                     REPOSITORY, "--tag", TAG, *trust)
    assert by_tag.code == 0, by_tag.out + by_tag.err
    assert f"resolved to {registry.host}/example/v1@{digest}; a tag can move" in by_tag.err


def test_verify_fails_on_another_digest_and_a_moved_bundle(repo: Repo, cli, tmp_path: Path,
                                                           registry: LocalRegistry,
                                                           sigstore_stack,
                                                           monkeypatch) -> None:
    image, digest = _keyless(repo, cli, tmp_path, registry, sigstore_stack, monkeypatch, "v2")
    trust = ("--repository", REPOSITORY, "--tag", TAG, "--trusted-root",
             sigstore_stack.trusted_root)
    other = _other_image(registry, "v2")
    unsigned = _verify(cli, image.replace(digest, other), *trust)
    assert unsigned.code == 1 and "FAIL  referrers" in unsigned.out, unsigned.out
    missing = _verify(cli, image.replace(digest, "sha256:" + "0" * 64), *trust)
    assert missing.code == 1 and "FAIL  image" in missing.out, missing.out

    # our bundle (about `digest`) re-attached to `other`: the statement gives it away
    [entry] = referrers(registry, "v2", digest)["manifests"]
    base = f"http://{registry.host}/v2/example/v2"
    ours = json.loads(httpx.get(f"{base}/manifests/{entry['digest']}",
                                headers={"Accept": MANIFEST}).content)
    ours["subject"] = {"mediaType": MANIFEST, "digest": other, "size": 1}
    moved = json.dumps(ours).encode()
    import hashlib

    moved_digest = "sha256:" + hashlib.sha256(moved).hexdigest()
    _put_manifest(base, moved_digest, moved, MANIFEST)
    index = {"schemaVersion": 2, "mediaType": INDEX, "manifests": [
        {**entry, "digest": moved_digest, "size": len(moved)}]}
    _put_manifest(base, other.replace(":", "-"), json.dumps(index).encode(), INDEX)
    replayed = _verify(cli, image.replace(digest, other), *trust)
    assert replayed.code == 1, replayed.out
    assert "FAIL  statement" in replayed.out and "about another digest" in replayed.out


def test_verify_fails_on_a_tampered_bundle_blob(repo: Repo, cli, tmp_path: Path,
                                                registry: LocalRegistry, sigstore_stack,
                                                monkeypatch) -> None:
    image, digest = _keyless(repo, cli, tmp_path, registry, sigstore_stack, monkeypatch, "v3")
    [entry] = referrers(registry, "v3", digest)["manifests"]
    base = f"http://{registry.host}/v2/example/v3"
    manifest = json.loads(httpx.get(f"{base}/manifests/{entry['digest']}",
                                    headers={"Accept": MANIFEST}).content)
    blob = registry.blob_file(manifest["layers"][0]["digest"])
    blob.write_bytes(blob.read_bytes().replace(b'"dsseEnvelope"', b'"dsseEnvelopE"'))
    bad = _verify(cli, image, "--repository", REPOSITORY, "--tag", TAG, "--trusted-root",
                  sigstore_stack.trusted_root)
    assert bad.code == 1, bad.out
    assert "FAIL  referrer" in bad.out and "tampered or corrupt" in bad.out, bad.out


def test_verify_a_key_signed_image(repo: Repo, cli, tmp_path: Path, registry: LocalRegistry,
                                   make_key, monkeypatch) -> None:
    key, stranger = make_key(passphrase=None), make_key("stranger", passphrase=None)
    out = signed_image(repo, cli, tmp_path, registry, "v4", key_sign(key.private), monkeypatch)
    image = f"oci://{registry.host}/example/v4@{image_digest(out)}"
    ok = _verify(cli, image, "--key", key.public)
    assert ok.code == 0, ok.out + ok.err
    bad = _verify(cli, image, "--key", stranger.public)
    assert bad.code == 1 and "SKIP  bundle" in bad.out, bad.out
    assert "signed with another key: no signature verifies with key" in bad.out, bad.out


def _attest(stack) -> str:
    return f"""\
  provenance:
    kind: attest
    needs: [image, sign]
    push-to-registry: true
    trust-config: {stack.trust_config}
    identity-token-env: IMAGE_SIGSTORE_TOKEN
"""


def test_provenance_in_the_registry_and_a_deleted_referrer(repo: Repo, cli, tmp_path: Path,
                                                           registry: LocalRegistry,
                                                           sigstore_stack,
                                                           monkeypatch) -> None:
    out = signed_image(repo, cli, tmp_path, registry, "v5",
                       keyless_sign(sigstore_stack) + _attest(sigstore_stack), monkeypatch,
                       sigstore_stack)
    digest = image_digest(out)
    image = f"oci://{registry.host}/example/v5@{digest}"
    entries = referrers(registry, "v5", digest)["manifests"]
    types = sorted(e["annotations"]["dev.sigstore.bundle.predicateType"] for e in entries)
    assert types == ["https://sigstore.dev/cosign/sign/v1", "https://slsa.dev/provenance/v1"]
    args = ("--repository", REPOSITORY, "--tag", TAG, "--trusted-root",
            sigstore_stack.trusted_root, "--require-provenance")
    ok = _verify(cli, image, *args)
    assert ok.code == 0, ok.out + ok.err
    assert "PASS  provenance" in ok.out and "PASS  signature" in ok.out

    [slsa] = [e for e in entries if "slsa" in e["annotations"]["dev.sigstore.bundle.predicateType"]]
    gone = httpx.delete(f"http://{registry.host}/v2/example/v5/manifests/{slsa['digest']}")
    assert gone.status_code == 202, gone.text
    bad = _verify(cli, image, *args)
    assert bad.code == 1, bad.out
    assert "FAIL  provenance" in bad.out and "no verified provenance" in bad.out, bad.out
