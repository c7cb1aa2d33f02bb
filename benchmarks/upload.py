"""Upload one large release asset to the loopback GitHub, and one large wheel to a local
PyPI index; print throughput and peak RSS.

    python benchmarks/upload.py [--size-mib 1024] [--pypi-size-mib 200] [--only github|pypi]

The upload goes through the real code path (ScopedGitHub + AssetSync: a streamed POST
to the release's upload_url, then the digest check). The server runs in this process
too and streams to disk, so the peak RSS covers both sides. Memory must stay flat: the
run fails when the peak grows by more than --max-growth-mib during the upload.

The PyPI part uploads a wheel of --pypi-size-mib to pypiserver on 127.0.0.1 (a separate
process, with token auth) through the pypi-publish stage's own code (streamed multipart
POST, then the read-back of its sha256 from the simple API), next to ``twine upload`` of
the same file to a fresh index in the same run as the baseline.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from release.github.assets import AssetFile, AssetSync
from release.github.client import ScopedGitHub
from release.permissions import Level, PermissionSet
from tests.github_server import GitHubServer

REPO = "bench/upload"


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def make_file(path: Path, size_mib: int) -> str:
    block = os.urandom(1 << 20)
    digest = hashlib.sha256()
    with path.open("wb") as f:
        for i in range(size_mib):
            chunk = i.to_bytes(8, "big") + block[8:]  # every MiB differs
            f.write(chunk)
            digest.update(chunk)
    return digest.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--pypi-size-mib", type=int, default=200)
    parser.add_argument("--only", choices=["github", "pypi"])
    parser.add_argument("--max-growth-mib", type=float, default=64.0)
    args = parser.parse_args()
    ok = True
    if args.only != "pypi":
        ok = github(args) and ok
    if args.only != "github":
        from benchmarks.pypi_upload import run as pypi

        ok = pypi(args.pypi_size_mib, args.max_growth_mib) and ok
    return 0 if ok else 1


def github(args: argparse.Namespace) -> bool:
    with tempfile.TemporaryDirectory(prefix="release-bench-") as tmp:
        root = Path(tmp)
        big = root / "big.bin"
        small = root / "small.bin"
        sha_big = make_file(big, args.size_mib)
        sha_small = make_file(small, 1)
        with GitHubServer(root / "server") as server:
            server.add_repo(REPO)
            token = server.add_token("actions", permissions={"contents": "write"})
            grant = PermissionSet({"contents": Level.WRITE})
            with ScopedGitHub(REPO, grant, token=token, stage="bench",
                              base_url=server.api_url) as gh:
                draft = gh.call("repos/create-release", body={"tag_name": "v0", "draft": True})
                sync = AssetSync(gh, draft, log=lambda _: None)
                # warm up: imports, connections and buffers are in the baseline
                sync.upload(AssetFile("small.bin", small, 1 << 20, sha_small))
                before = peak_rss_mib()
                started = time.perf_counter()
                stored = sync.upload(AssetFile("big.bin", big, args.size_mib << 20, sha_big))
                elapsed = time.perf_counter() - started
                after = peak_rss_mib()
    assert stored["digest"] == f"sha256:{sha_big}"
    growth = after - before
    print(f"uploaded {args.size_mib} MiB in {elapsed:.1f}s: {args.size_mib / elapsed:.0f} MiB/s "
          "(client and loopback server in one process, digest verified)")
    print(f"peak RSS: {before:.0f} MiB before the upload, {after:.0f} MiB after "
          f"(growth {growth:.1f} MiB, limit {args.max_growth_mib:.0f} MiB)")
    return growth <= args.max_growth_mib


if __name__ == "__main__":
    sys.exit(main())
