"""Layer build throughput: release.oci.layer against GNU tar | gzip -n on the same files.

    python benchmarks/oci_layers.py [--size-mb 300] [--files 60] [--repeat 1] [--no-push]

Half of the files are random bytes (incompressible, like a stripped binary), half are
text (compressible, like scripts and certificates). Both sides write a deterministic
gzipped tar at zlib/gzip level 6; throughput is input megabytes per wall-clock second.

Then, when Debian's ``docker-registry`` is installed, the same files become an image
pushed to a registry on loopback (plain HTTP, chunked uploads) and signed there with an
offline P-256 key (the bundle stored as a referrer under the ``sha256-<hex>`` tag):
the time of the push and of the signature are reported.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from release.oci.layer import LayerFile, write_layer

EPOCH = 1700000000
REGISTRY = "/usr/bin/docker-registry"


def make_tree(root: Path, size_mb: int, count: int) -> list[LayerFile]:
    """``count`` files totalling ``size_mb`` MiB under ``root/tree``; half random, half text."""
    per = size_mb * 1024 * 1024 // count
    line = b"".join(b"%08d the quick brown fox jumps over the lazy dog\n" % i
                    for i in range(1024))
    files = []
    for n in range(count):
        rel = f"usr/share/bench/d{n % 7}/file{n:04d}.bin"
        path = root / "tree" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            left = per
            while left > 0:
                chunk = os.urandom(min(left, 1 << 20)) if n % 2 else line[:min(left, len(line))]
                f.write(chunk)
                left -= len(chunk)
        path.chmod(0o644)
        files.append(LayerFile("/" + rel, path, 0o644))
    for d in [root / "tree", *(p for p in (root / "tree").rglob("*") if p.is_dir())]:
        d.chmod(0o755)
    return files


def time_ours(files: list[LayerFile], dest: Path) -> tuple[float, int]:
    start = time.perf_counter()
    layer = write_layer(files, dest, mtime=EPOCH)
    return time.perf_counter() - start, layer.size


def time_gnu(root: Path, dest: Path) -> tuple[float, int]:
    cmd = (f"tar --sort=name --mtime=@{EPOCH} --owner=0 --group=0 --numeric-owner "
           f"-C {root / 'tree'} -cf - usr | gzip -n -6 > {dest}")
    start = time.perf_counter()
    subprocess.run(cmd, shell=True, check=True)
    return time.perf_counter() - start, dest.stat().st_size


@contextlib.contextmanager
def local_registry(root: Path) -> Iterator[str]:
    """Debian's docker-registry on a free loopback port; yields ``127.0.0.1:PORT``."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    config = root / "registry.json"  # JSON is YAML
    config.write_text(json.dumps({
        "version": 0.1, "log": {"level": "error", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(root / "registry")}},
        "http": {"addr": f"127.0.0.1:{port}"}}))
    proc = subprocess.Popen([REGISTRY, "serve", str(config)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def time_push_and_sign(files: list[LayerFile], root: Path) -> list[tuple[str, float]]:
    """Build an image of ``files``, push it to a loopback registry, sign it there."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from release.oci.descriptor import Platform
    from release.oci.image import ImageSpec, build
    from release.oci.layout import Layout
    from release.oci.push import push
    from release.oci.registry import Registry
    from release.signing.image_bundles import ImageTarget, sign_image
    from release.signing.keys import KeySigner

    layout = Layout(root / "layout")
    start = time.perf_counter()
    top = build(layout, [ImageSpec(Platform("linux", "amd64"), tuple(files), EPOCH)], {})
    rows = [("build image (layer included)", time.perf_counter() - start)]
    with local_registry(root) as host:
        start = time.perf_counter()
        push(layout, top, host, "bench/image", ["bench"], credentials=None,
             log=lambda _: None)
        rows.append(("push to loopback registry", time.perf_counter() - start))
        signer = KeySigner(ec.generate_private_key(ec.SECP256R1()))
        start = time.perf_counter()
        with Registry(host, "bench/image", push=True) as reg:
            reg.get_manifest(top.digest)  # as the sign stage does: the image, by digest
            target = ImageTarget(host, "bench/image", top)
            sign_image(signer, reg, target, lambda _: None)
        rows.append(("sign in registry (key)", time.perf_counter() - start))
        signer.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=300)
    parser.add_argument("--files", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--no-push", action="store_true",
                        help="skip pushing and signing the image on a loopback registry")
    args = parser.parse_args()
    if not (shutil.which("tar") and shutil.which("gzip")):
        print("needs GNU tar and gzip on PATH", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="oci-bench-") as tmp:
        root = Path(tmp)
        files = make_tree(root, args.size_mb, args.files)
        total = sum(f.source.stat().st_size for f in files) / (1024 * 1024)
        print(f"{len(files)} files, {total:.0f} MiB (half random, half text), "
              f"{os.cpu_count()} CPUs")
        rows = []
        for _ in range(args.repeat):
            rows.append(("release.oci.layer", *time_ours(files, root / "ours.tgz")))
            rows.append(("tar --sort=name | gzip -n", *time_gnu(root, root / "gnu.tgz")))
        for name, seconds, size in rows:
            print(f"{name:28s} {seconds:7.2f} s  {total / seconds:7.1f} MiB/s  "
                  f"output {size / (1024 * 1024):7.1f} MiB")
        if args.no_push:
            return 0
        if not Path(REGISTRY).is_file():
            print(f"push and sign: skipped ({REGISTRY} is not installed)")
            return 0
        for name, seconds in time_push_and_sign(files, root):
            print(f"{name:28s} {seconds:7.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
