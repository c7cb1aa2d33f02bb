"""A base pinned by digest is pulled from a registry with every blob checked."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Repo
from tests.oci.conftest import LocalRegistry, skopeo
from tests.oci.images import blob, image_digest, image_pipeline

NO_TLS = "--tls-verify=false"


def _seed(repo: Repo, cli, tmp_path: Path, registry: LocalRegistry, name: str, marker: str,
          platforms: str = "[linux/amd64]") -> tuple[str, dict]:  # type: ignore[type-arg]
    """Build an image, copy it into the registry with skopeo; return (digest, its manifest)."""
    path = image_pipeline(repo, marker=marker, platforms=platforms)
    out = tmp_path / f"base-{name}"
    res = cli("run", path, "--out", out)
    assert res.code == 0, res.err
    archive = out / "image" / "image.oci.tar"
    skopeo("copy", "--all", "--dest-tls-verify=false", f"oci-archive:{archive}",
           f"docker://{registry.host}/base/{name}:1")
    digest = image_digest(out)
    # skopeo copied the manifest unchanged: the pinned digest is ours
    inspected = json.loads(skopeo("inspect", NO_TLS, f"docker://{registry.host}/base/{name}:1"))
    assert inspected["Digest"] == digest
    return digest, json.loads(blob(archive, digest))


def _app(repo: Repo, base: str, platforms: str = "[linux/amd64]") -> Path:
    return image_pipeline(repo, marker="app", base=base, platforms=platforms)


def test_build_on_a_pinned_base(repo: Repo, cli, tmp_path: Path,
                                registry: LocalRegistry) -> None:
    base_digest, base_manifest = _seed(repo, cli, tmp_path, registry, "single", "base-1")
    base = f"{registry.host}/base/single@{base_digest}"
    path = _app(repo, base)
    out = tmp_path / "out"
    res = cli("run", path, "--out", out)
    assert res.code == 0, res.err
    archive = out / "image" / "image.oci.tar"
    manifest = json.loads(blob(archive, image_digest(out)))
    layers = [d["digest"] for d in manifest["layers"]]
    assert layers[0] == base_manifest["layers"][0]["digest"] and len(layers) == 2
    assert manifest["annotations"]["org.opencontainers.image.base.digest"] == base_digest
    assert manifest["annotations"]["org.opencontainers.image.base.name"] == base
    config = json.loads(blob(archive, manifest["config"]["digest"]))
    base_config = json.loads(blob(archive, base_manifest["config"]["digest"]))
    assert config["rootfs"]["diff_ids"][0] == base_config["rootfs"]["diff_ids"][0]
    # skopeo reads the result, base layers included, from the archive
    copied = tmp_path / "copied"
    skopeo("copy", f"oci-archive:{archive}", f"dir:{copied}")
    assert (copied / layers[0].removeprefix("sha256:")).is_file()


def test_base_index_serves_each_platform(repo: Repo, cli, tmp_path: Path,
                                         registry: LocalRegistry) -> None:
    platforms = "[linux/amd64, linux/arm64]"
    base_digest, base_index = _seed(repo, cli, tmp_path, registry, "multi", "base-2",
                                    platforms)
    path = _app(repo, f"{registry.host}/base/multi@{base_digest}", platforms)
    out = tmp_path / "out"
    res = cli("run", path, "--out", out)
    assert res.code == 0, res.err
    archive = out / "image" / "image.oci.tar"
    index = json.loads(blob(archive, image_digest(out)))
    bases = {m["platform"]["architecture"]: m["digest"] for m in base_index["manifests"]}
    for entry in index["manifests"]:
        manifest = json.loads(blob(archive, entry["digest"]))
        arch = entry["platform"]["architecture"]
        assert manifest["annotations"]["org.opencontainers.image.base.digest"] == bases[arch]


def test_tampered_base_blob_is_detected(repo: Repo, cli, tmp_path: Path,
                                        registry: LocalRegistry) -> None:
    base_digest, base_manifest = _seed(repo, cli, tmp_path, registry, "tampered", "base-3")
    layer = base_manifest["layers"][0]["digest"]
    stored = registry.blob_file(layer)
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, same size
    stored.write_bytes(bytes(data))
    path = _app(repo, f"{registry.host}/base/tampered@{base_digest}")
    out = tmp_path / "out"
    res = cli("run", path, "--out", out)
    assert res.code == 1
    assert f"blob {layer} (layer 1 of linux/amd64)" in res.err, res.err
    assert "does not match its digest" in res.err and "tampered or corrupt" in res.err
    assert not (out / "image" / "image.oci.tar").exists()


def test_base_without_the_platform(repo: Repo, cli, tmp_path: Path,
                                   registry: LocalRegistry) -> None:
    base_digest, _ = _seed(repo, cli, tmp_path, registry, "amd64only", "base-4")
    path = _app(repo, f"{registry.host}/base/amd64only@{base_digest}", "[linux/arm64]")
    res = cli("run", path, "--out", tmp_path / "out")
    assert res.code == 1
    assert "is for linux/amd64, not linux/arm64" in res.err, res.err


def test_unknown_base_digest(repo: Repo, cli, tmp_path: Path,
                             registry: LocalRegistry) -> None:
    path = _app(repo, f"{registry.host}/base/none@sha256:{'0' * 64}")
    res = cli("run", path, "--out", tmp_path / "out")
    assert res.code == 1
    assert "HTTP 404" in res.err and "MANIFEST_UNKNOWN" in res.err, res.err
