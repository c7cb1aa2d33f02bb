"""Building images from pipeline artifacts: reproducible, readable by skopeo, by digest."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

from tests.conftest import Repo
from tests.oci.conftest import skopeo
from tests.oci.images import blob, image_digest, image_pipeline, layout_file, run_manifest

EPOCH = 1767323045  # the commit time tests/conftest.py pins


def test_image_builds_and_skopeo_reads_it(repo: Repo, cli, tmp_path: Path) -> None:
    path = image_pipeline(repo)
    out = tmp_path / "out"
    res = cli("run", path, "--out", out)
    assert res.code == 0, res.err
    archive = out / "image" / "image.oci.tar"
    digest = image_digest(out)
    # the recorded digest is the manifest's, as skopeo computes it from the archive
    inspected = json.loads(skopeo("inspect", f"oci-archive:{archive}"))
    assert inspected["Digest"] == digest
    assert inspected["Architecture"] == "amd64" and inspected["Os"] == "linux"
    labels = inspected["Labels"]
    assert labels["org.opencontainers.image.source"] == "https://github.com/example/tool"
    assert labels["org.opencontainers.image.revision"] == repo_head(repo)
    assert labels["org.opencontainers.image.created"] == "2026-01-02T03:04:05Z"
    assert labels["org.opencontainers.image.title"] == "tool"
    # an independent copy into skopeo's dir: format keeps the manifest bytes
    copied = tmp_path / "copied"
    skopeo("copy", f"oci-archive:{archive}", f"dir:{copied}")
    manifest = (copied / "manifest.json").read_bytes()
    assert "sha256:" + hashlib.sha256(manifest).hexdigest() == digest
    config = json.loads(blob(archive, json.loads(manifest)["config"]["digest"]))
    assert config["config"]["Entrypoint"] == ["/usr/local/bin/tool"]
    assert config["config"]["Env"] == ["SSL_CERT_FILE=/etc/ssl/certs/ca.pem"]
    assert config["config"]["User"] == "65532:65532"
    [layer] = json.loads(manifest)["layers"]
    with tarfile.open(copied / layer["digest"].removeprefix("sha256:")) as tar:
        members = {m.name: m for m in tar.getmembers()}
        tool = tar.extractfile("usr/local/bin/tool")
        assert tool is not None and tool.read() == b"#!/bin/sh\necho tool 1\n"
    assert sorted(members) == ["etc", "etc/ssl", "etc/ssl/certs", "etc/ssl/certs/ca.pem",
                               "usr", "usr/local", "usr/local/bin", "usr/local/bin/tool"]
    assert members["usr/local/bin/tool"].mode == 0o755  # executable, as its build made it
    assert members["etc/ssl/certs/ca.pem"].mode == 0o444  # as configured
    assert {(m.uid, m.gid, m.mtime) for m in members.values()} == {(0, 0, EPOCH)}


def repo_head(repo: Repo) -> str:
    from tests.conftest import git

    return git(repo.path, "rev-parse", "HEAD")


def test_rebuild_elsewhere_is_identical_and_one_byte_changes_it(repo: Repo, cli,
                                                                tmp_path: Path) -> None:
    path = image_pipeline(repo)
    first, second = tmp_path / "first", tmp_path / "elsewhere" / "second"
    assert cli("run", path, "--out", first).code == 0
    assert cli("run", path, "--out", second).code == 0
    assert image_digest(first) == image_digest(second)
    a, b = (p / "image" / "image.oci.tar" for p in (first, second))
    assert a.read_bytes() == b.read_bytes()  # the archive too, byte for byte

    image_pipeline(repo, marker="2")  # one byte of the tool differs
    third = tmp_path / "third"
    assert cli("run", path, "--out", third).code == 0
    assert image_digest(third) != image_digest(first)


def test_two_platforms_make_an_index(repo: Repo, cli, tmp_path: Path) -> None:
    path = image_pipeline(repo, platforms="[linux/amd64, linux/arm64]")
    out = tmp_path / "out"
    res = cli("run", path, "--out", out)
    assert res.code == 0, res.err
    archive = out / "image" / "image.oci.tar"
    digest = image_digest(out)
    layout_index = json.loads(layout_file(archive, "index.json"))
    [top] = layout_index["manifests"]
    assert top["digest"] == digest
    assert top["mediaType"] == "application/vnd.oci.image.index.v1+json"
    index = json.loads(blob(archive, digest))
    platforms = [m["platform"] for m in index["manifests"]]
    assert platforms == [{"architecture": "amd64", "os": "linux"},
                         {"architecture": "arm64", "os": "linux"}]
    raw = skopeo("inspect", "--raw", f"oci-archive:{archive}")
    assert "sha256:" + hashlib.sha256(raw.encode()).hexdigest() == digest
    copied = tmp_path / "copied"
    skopeo("copy", "--all", f"oci-archive:{archive}", f"oci:{copied}")
    assert json.loads((copied / "index.json").read_text())["manifests"][0]["digest"] == digest


def test_per_platform_binaries(repo: Repo, cli, tmp_path: Path) -> None:
    extra = """\
  cross:
    kind: command
    run: ["sh", "-c", "echo amd64 > {out}/tool-amd64 && echo arm64 > {out}/tool-arm64"]
    outputs: ["tool-amd64", "tool-arm64"]
  multi:
    kind: oci-image
    needs: [cross, build]
    platforms: [linux/amd64, linux/arm64]
    output: multi.oci.tar
    files:
      tool-amd64: {path: /usr/bin/tool, platform: linux/amd64}
      tool-arm64: {path: /usr/bin/tool, platform: linux/arm64}
      ca.pem: /etc/ca.pem
"""
    path = image_pipeline(repo, extra=extra)
    out = tmp_path / "out"
    res = cli("run", path, "--out", out)
    assert res.code == 0, res.err
    archive = out / "multi" / "multi.oci.tar"
    index = json.loads(blob(archive, image_digest(out, "multi")))
    seen = {}
    for entry in index["manifests"]:
        manifest = json.loads(blob(archive, entry["digest"]))
        [layer] = manifest["layers"]
        with tarfile.open(fileobj=_bytes(blob(archive, layer["digest"]))) as tar:
            tool = tar.extractfile("usr/bin/tool")
            assert tool is not None
            seen[entry["platform"]["architecture"]] = tool.read()
            assert tar.getmember("etc/ca.pem").isfile()
    assert seen == {"amd64": b"amd64\n", "arm64": b"arm64\n"}
    assert {a["name"] for a in run_manifest(out)["artifacts"]} >= {"multi.oci.tar"}


def _bytes(data: bytes):  # type: ignore[no-untyped-def]
    import io

    return io.BytesIO(data)


def test_the_images_entrypoint_runs(repo: Repo, cli, tmp_path: Path) -> None:
    """An executable artifact keeps its mode in the layer, whatever its kind is called:
    the layer, extracted as the root of a bubblewrap sandbox, runs its entrypoint."""
    import shutil
    import subprocess

    if shutil.which("gcc") is None:  # pragma: no cover - gcc is on every machine we test on
        import pytest

        pytest.skip("needs gcc to build a static entrypoint")
    repo.write("hello.c", '#include <stdio.h>\nint main(void){puts("hello from the image");'
                          "return 0;}\n")
    path = repo.write("release.yaml", """\
        version: 1
        name: hello
        stages:
          build:
            kind: command
            run: ["gcc", "-static", "-O2", "-o", "{out}/hello", "hello.c"]
            outputs: ["hello"]
            artifact-kind: executable
          image:
            kind: oci-image
            needs: [build]
            files:
              hello: /usr/local/bin/hello
            config:
              entrypoint: [/usr/local/bin/hello]
        """)
    repo.commit()
    out = tmp_path / "out"
    res = cli("run", path, "--out", out)
    assert res.code == 0, res.err
    archive = out / "image" / "image.oci.tar"
    index = json.loads(layout_file(archive, "index.json"))
    manifest = json.loads(blob(archive, index["manifests"][0]["digest"]))
    config = json.loads(blob(archive, manifest["config"]["digest"]))
    root = tmp_path / "root"
    root.mkdir()
    for layer in manifest["layers"]:
        layer_file = tmp_path / "layer.tar.gz"
        layer_file.write_bytes(blob(archive, layer["digest"]))
        with tarfile.open(layer_file) as tar:
            tar.extractall(root, filter="tar")  # keeps the modes the layer carries
    entry = config["config"]["Entrypoint"]
    ran = subprocess.run(["bwrap", "--bind", str(root), "/", "--proc", "/proc", "--dev", "/dev",
                          "--unshare-all", "--", *entry],
                         capture_output=True, text=True, check=False)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "hello from the image\n"
