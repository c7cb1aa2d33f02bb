"""Pushing to a real registry (docker-registry on loopback), read back by skopeo."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

from release.oci.descriptor import Descriptor
from release.oci.layout import Layout
from release.oci.push import push
from tests.conftest import Repo
from tests.oci.conftest import LocalRegistry, skopeo
from tests.oci.images import blob, image_digest, image_pipeline, run_manifest

NO_TLS = "--tls-verify=false"


def _push(registry: LocalRegistry, name: str, tags: str = '["{version}", latest]') -> str:
    return f"""\
    push:
      repository: {registry.host}/example/{name}
      tags: {tags}
"""


def test_push_then_skopeo_reads_the_same_digest(repo: Repo, cli, tmp_path: Path,
                                                registry: LocalRegistry) -> None:
    path = image_pipeline(repo, push=_push(registry, "pushed"))
    repo.tag("v1.2.3")
    out = tmp_path / "out"
    res = cli("run", path, "--out", out)
    assert res.code == 0, res.err
    digest = image_digest(out)
    [art] = [a for a in run_manifest(out)["artifacts"] if a["stage"] == "image"]
    assert art["annotations"]["release.oci.repository"] == f"{registry.host}/example/pushed"
    for tag in ("1.2.3", "latest"):
        ref = f"docker://{registry.host}/example/pushed:{tag}"
        assert json.loads(skopeo("inspect", NO_TLS, ref))["Digest"] == digest
    raw = skopeo("inspect", NO_TLS, "--raw", f"docker://{registry.host}/example/pushed@{digest}")
    archive = out / "image" / "image.oci.tar"
    assert raw.encode() == blob(archive, digest)  # the registry serves our exact bytes
    copied = tmp_path / "copied"
    skopeo("copy", "--src-tls-verify=false",
           f"docker://{registry.host}/example/pushed:1.2.3", f"oci:{copied}")
    [entry] = json.loads((copied / "index.json").read_text())["manifests"]
    assert entry["digest"] == digest


def test_push_an_index(repo: Repo, cli, tmp_path: Path, registry: LocalRegistry) -> None:
    path = image_pipeline(repo, platforms="[linux/amd64, linux/arm64]",
                          push=_push(registry, "multi", "[edge]"))
    out = tmp_path / "out"
    res = cli("run", path, "--out", out)
    assert res.code == 0, res.err
    digest = image_digest(out)
    raw = skopeo("inspect", NO_TLS, "--raw", f"docker://{registry.host}/example/multi:edge")
    assert "sha256:" + hashlib.sha256(raw.encode()).hexdigest() == digest
    for entry in json.loads(raw)["manifests"]:
        arch = entry["platform"]["architecture"]
        seen = json.loads(skopeo("inspect", NO_TLS, "--override-arch", arch,
                                 f"docker://{registry.host}/example/multi:edge"))
        assert seen["Digest"] == digest and seen["Architecture"] == arch  # chosen from it
        one = skopeo("inspect", NO_TLS, "--raw",
                     f"docker://{registry.host}/example/multi@{entry['digest']}")
        assert "sha256:" + hashlib.sha256(one.encode()).hexdigest() == entry["digest"]


def test_dry_run_plans_the_push_without_credentials(repo: Repo, cli, tmp_path: Path,
                                                    registry: LocalRegistry,
                                                    monkeypatch) -> None:
    secret = "s3cr3t-registry-password"
    monkeypatch.setenv("REGISTRY_PASSWORD", secret)
    push_key = _push(registry, "planned") + ("      username: bot\n"
                                             "      password-env: REGISTRY_PASSWORD\n")
    path = image_pipeline(repo, push=push_key)
    repo.tag("v2.0.0")
    report = tmp_path / "review.json"
    res = cli("run", path, "--out", tmp_path / "dry", "--dry-run", "--report", report)
    assert res.code == 0, res.err
    image = json.loads(report.read_text())["stages"]["image"]
    assert image["status"] == "planned"
    steps = {s["action"]: s for s in image["plan"]}
    assert steps["push image"]["target"] == f"{registry.host}/example/planned"
    tags = [s["target"] for s in image["plan"] if s["action"] == "move tag"]
    assert tags == [f"{registry.host}/example/planned:{t}" for t in ("2.0.0", "latest")]
    digest = steps["push image"]["digest"]
    assert digest.startswith("sha256:")
    assert secret not in res.out + res.err + report.read_text()
    # nothing was pushed; the real run pushes exactly the planned digest
    assert "Digest" not in _try_inspect(f"{registry.host}/example/planned:2.0.0")
    res = cli("run", path, "--out", tmp_path / "real")
    assert res.code == 0, res.err
    assert image_digest(tmp_path / "real") == digest
    assert secret not in res.out + res.err


def _try_inspect(ref: str) -> str:
    import subprocess

    proc = subprocess.run(["skopeo", "inspect", NO_TLS, f"docker://{ref}"],
                          capture_output=True, text=True, check=False)
    return proc.stdout


def test_chunked_upload(repo: Repo, cli, tmp_path: Path, registry: LocalRegistry) -> None:
    """Blobs larger than the chunk size go up in PATCH requests; skopeo checks them."""
    extra = """\
  big:
    kind: command
    run: ["sh", "-c", "seq 1 200000 > {out}/numbers.txt"]
    outputs: ["numbers.txt"]
  bigimage:
    kind: oci-image
    needs: [big]
    output: big.oci.tar
    files: {numbers.txt: /data/numbers.txt}
"""
    path = image_pipeline(repo, extra=extra)
    out = tmp_path / "out"
    assert cli("run", path, "--out", out).code == 0
    layout_dir = tmp_path / "layout"
    with tarfile.open(out / "bigimage" / "big.oci.tar") as tar:
        tar.extractall(layout_dir, filter="data")
    layout = Layout(layout_dir)
    [top] = layout.index()
    manifest = json.loads(layout.blob_path(top.digest).read_bytes())
    [layer] = (Descriptor.from_json(d) for d in manifest["layers"])
    assert layer.size > 3 * 65536
    logged: list[str] = []
    push(layout, top, registry.host, "example/chunked", ["v1"], credentials=None,
         log=logged.append, chunk_size=65536)
    assert any(layer.digest in line and "upload" in line for line in logged)
    copied = tmp_path / "copied"
    skopeo("copy", "--src-tls-verify=false", f"docker://{registry.host}/example/chunked:v1",
           f"dir:{copied}")
    data = (copied / layer.digest.removeprefix("sha256:")).read_bytes()
    assert "sha256:" + hashlib.sha256(data).hexdigest() == layer.digest
    # a second push finds every blob in place and uploads nothing
    logged.clear()
    push(layout, top, registry.host, "example/chunked", ["v1"], credentials=None,
         log=logged.append, chunk_size=65536)
    assert not any("upload" in line for line in logged)
