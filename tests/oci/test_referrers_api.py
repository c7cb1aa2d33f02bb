"""A registry with the referrers API (a loopback server following the distribution spec):
the bundle is indexed by the registry from the manifest's ``subject``, no ``sha256-<hex>``
tag is written, and ``release verify oci://`` reads the API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Repo
from tests.oci.images import image_digest, image_pipeline
from tests.oci.referrers_registry import ReferrersRegistry
from tests.oci.test_sign_images import TAG, key_sign


@pytest.fixture
def api_registry() -> Iterator[ReferrersRegistry]:
    server = ReferrersRegistry()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_a_registry_with_the_referrers_api_indexes_our_signature(
        repo: Repo, cli, tmp_path: Path, api_registry: ReferrersRegistry, make_key) -> None:
    key = make_key(passphrase=None)
    push = (f"    push:\n      repository: {api_registry.host}/example/api\n"
            "      tags: [\"{version}\"]\n")
    path = image_pipeline(repo, push=push, extra=key_sign(key.private))
    repo.tag(TAG)
    out = tmp_path / "out"
    res = cli("run", path, "--out", out)
    assert res.code == 0, res.out + res.err
    digest = image_digest(out)
    tag = digest.replace(":", "-")
    assert not any(p.endswith(f"/manifests/{tag}") for _, p in api_registry.requests)
    [art] = [a for a in json.loads((out / "manifest.json").read_text())["artifacts"]
             if a["stage"] == "sign" and a["kind"] == "sigstore-bundle"]
    assert art["annotations"]["signing.referrer-via"] == "api"

    before = len(api_registry.requests)
    ok = cli("verify", f"oci://{api_registry.host}/example/api@{digest}", "--key", key.public)
    assert ok.code == 0, ok.out + ok.err
    assert ("GET", f"/v2/example/api/referrers/{digest}") in api_registry.requests[before:]
    assert "PASS  signature" in ok.out


def test_referrers_listed_page_by_page(repo: Repo, cli, tmp_path: Path,
                                       api_registry: ReferrersRegistry, make_key) -> None:
    """The registry lists one referrer per page and links the next (``Link: rel="next"``):
    the signature and the provenance are both found."""
    api_registry.page_size = 1
    key = make_key(passphrase=None)
    push = (f"    push:\n      repository: {api_registry.host}/example/paged\n"
            "      tags: [\"{version}\"]\n")
    attest = (f"  provenance:\n    kind: attest\n    needs: [image, sign]\n"
              f"    push-to-registry: true\n    backend: key\n    key: {key.private}\n")
    path = image_pipeline(repo, push=push, extra=key_sign(key.private) + attest)
    repo.tag(TAG)
    out = tmp_path / "out"
    res = cli("run", path, "--out", out)
    assert res.code == 0, res.out + res.err
    digest = image_digest(out)
    before = len(api_registry.requests)
    ok = cli("verify", f"oci://{api_registry.host}/example/paged@{digest}", "--key",
             key.public, "--require-provenance")
    assert ok.code == 0, ok.out + ok.err
    pages = [p for m, p in api_registry.requests[before:] if "/referrers/" in p]
    assert len(pages) == 2
    assert "PASS  signature" in ok.out and "PASS  provenance" in ok.out
