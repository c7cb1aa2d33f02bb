"""Attacks on, and neighbours of, the referrers we write: another tool's entries in the
``sha256-<hex>`` tag index survive our update, and a tag that holds something else is
never overwritten. The registry is Debian's docker-registry on loopback (no referrers
API), the other tool is plain HTTP calls as the distribution spec describes them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import Repo
from tests.oci.conftest import LocalRegistry, skopeo
from tests.oci.images import image_digest, image_pipeline
from tests.oci.test_sign_images import NO_TLS, TAG, key_sign, push_key

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OTHER_TYPE = "application/vnd.example.other-tool+json"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _put_blob(base: str, data: bytes) -> None:
    started = httpx.post(f"{base}/blobs/uploads/")
    assert started.status_code == 202, started.text
    location = str(httpx.URL(base).join(started.headers["Location"]))
    sep = "&" if "?" in location else "?"
    done = httpx.put(f"{location}{sep}digest={_digest(data)}", content=data)
    assert done.status_code == 201, done.text


def _put_manifest(base: str, reference: str, data: bytes, media_type: str) -> None:
    resp = httpx.put(f"{base}/manifests/{reference}", content=data,
                     headers={"Content-Type": media_type})
    assert resp.status_code == 201, resp.text


def _other_tool_referrer(base: str, subject: str) -> dict[str, Any]:
    """What another tool (say, an SBOM uploader) writes: its artifact, and the index entry."""
    layer, empty = b"another tool's document", b"{}"
    _put_blob(base, layer)
    _put_blob(base, empty)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST, "artifactType": OTHER_TYPE,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": _digest(empty),
                   "size": 2},
        "layers": [{"mediaType": OTHER_TYPE, "digest": _digest(layer), "size": len(layer)}],
        "subject": {"mediaType": MANIFEST, "digest": subject, "size": 1234},
    }, indent=1).encode()
    _put_manifest(base, _digest(manifest), manifest, MANIFEST)
    return {"mediaType": MANIFEST, "digest": _digest(manifest), "size": len(manifest),
            "artifactType": OTHER_TYPE,
            "annotations": {"org.example.note": "kept as written", "org.example.n": "2"}}


def _planned_digest(repo: Repo, cli, tmp_path: Path, registry: LocalRegistry, name: str,
                    key: Path) -> tuple[Path, str]:
    path = image_pipeline(repo, push=push_key(registry, name), extra=key_sign(key))
    repo.tag(TAG)
    dry = cli("run", path, "--out", tmp_path / "dry", "--dry-run")
    assert dry.code == 0, dry.out + dry.err
    return path, image_digest(tmp_path / "dry")


def test_other_tools_referrers_survive_our_signature(repo: Repo, cli, tmp_path: Path,
                                                     registry: LocalRegistry,
                                                     make_key) -> None:
    key = make_key(passphrase=None)
    path, digest = _planned_digest(repo, cli, tmp_path, registry, "shared", key.private)
    base = f"http://{registry.host}/v2/example/shared"
    theirs = _other_tool_referrer(base, digest)
    tag = digest.replace(":", "-")
    _put_manifest(base, tag, json.dumps({"schemaVersion": 2, "mediaType": INDEX,
                                         "manifests": [theirs]}).encode(), INDEX)
    for attempt in ("first", "second"):
        res = cli("run", path, "--out", tmp_path / attempt)
        assert res.code == 0, res.out + res.err
    index = json.loads(skopeo("inspect", NO_TLS, "--raw",
                              f"docker://{registry.host}/example/shared:{tag}"))
    assert index["manifests"][0] == theirs  # untouched, first, every field as written
    ours = index["manifests"][1:]
    assert len(ours) == 2 and all(
        m["artifactType"] == "application/vnd.dev.sigstore.bundle.v0.3+json" for m in ours)


def test_a_tag_holding_something_else_is_not_overwritten(repo: Repo, cli, tmp_path: Path,
                                                         registry: LocalRegistry,
                                                         make_key) -> None:
    key = make_key(passphrase=None)
    path, digest = _planned_digest(repo, cli, tmp_path, registry, "squatted", key.private)
    base = f"http://{registry.host}/v2/example/squatted"
    empty = b"{}"
    _put_blob(base, empty)
    squatter = json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": _digest(empty), "size": 2}, "layers": []}).encode()
    tag = digest.replace(":", "-")
    _put_manifest(base, tag, squatter, MANIFEST)
    res = cli("run", path, "--out", tmp_path / "out")
    assert res.code == 1
    assert f"tag {tag} of {registry.host}/example/squatted holds a {MANIFEST} that is not a " \
           "referrers index; it is not ours to overwrite" in res.err, res.out + res.err
    raw = skopeo("inspect", NO_TLS, "--raw", f"docker://{registry.host}/example/squatted:{tag}")
    assert raw.encode() == squatter


def test_a_signature_relabelled_as_provenance_does_not_count(repo: Repo, cli, tmp_path: Path,
                                                             registry: LocalRegistry,
                                                             make_key) -> None:
    """The tag index and its annotations are unsigned: whoever can push may relabel our
    signature as SLSA provenance. Only the signed statement's predicate type counts."""
    key = make_key(passphrase=None)
    path, digest = _planned_digest(repo, cli, tmp_path, registry, "relabelled", key.private)
    res = cli("run", path, "--out", tmp_path / "out")
    assert res.code == 0, res.out + res.err
    base = f"http://{registry.host}/v2/example/relabelled"
    tag = digest.replace(":", "-")
    index = json.loads(skopeo("inspect", NO_TLS, "--raw",
                              f"docker://{registry.host}/example/relabelled:{tag}"))
    [entry] = index["manifests"]
    entry["annotations"]["dev.sigstore.bundle.predicateType"] = "https://slsa.dev/provenance/v1"
    _put_manifest(base, tag, json.dumps(index).encode(), INDEX)
    image = f"oci://{registry.host}/example/relabelled@{digest}"
    bad = cli("verify", image, "--key", key.public, "--require-provenance")
    assert bad.code == 1, bad.out
    assert "FAIL  statement" in bad.out and "another predicate type" in bad.out, bad.out
    assert "FAIL  provenance" in bad.out, bad.out


def test_a_key_signature_of_an_image_by_glob_is_refused(repo: Repo, cli,
                                                         registry: LocalRegistry,
                                                         make_key) -> None:
    """With a key, signing files is local and runs without an approval; globs naming a
    pushed image's archive would make that local stage write to the registry."""
    key = make_key(passphrase=None)
    sign = key_sign(key.private).replace("artifacts: images", 'artifacts: ["*.tar"]')
    path = image_pipeline(repo, push=push_key(registry, "glob"), extra=sign)
    res = cli("plan", path)
    assert res.code == 2, res.out + res.err
    assert "counts as local, which no approval covers" in res.err, res.err
    assert "release.yaml:" in res.err
