"""A large wheel to a local index (pypiserver on 127.0.0.1): pypi-publish's upload and
read-back, against ``twine upload`` of the same file. Run through ``benchmarks/upload.py``.

The wheel is made in a child process, so this process's peak RSS reflects the upload
alone: memory must stay flat (streaming), whatever the file's size.
"""

from __future__ import annotations

import hashlib
import resource
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _index(folder: Path, token: str) -> tuple[subprocess.Popen[bytes], str]:
    from passlib.apache import HtpasswdFile

    folder.mkdir()
    (folder / "packages").mkdir()
    htpasswd = HtpasswdFile(str(folder / "htpasswd"), new=True)
    htpasswd.set_password("__token__", token)
    htpasswd.save()
    port = _port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pypiserver", "run", "-i", "127.0.0.1", "-p", str(port),
         "-P", str(folder / "htpasswd"), "-a", "update", "--disable-fallback",
         "--hash-algo", "sha256", "--server", "wsgiref", str(folder / "packages")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    return proc, f"http://127.0.0.1:{port}/"


def _wheel(folder: Path, size_mib: int) -> Path:
    code = ("import sys; from pathlib import Path; from tests.pypi.dists import make_wheel; "
            "print(make_wheel(Path(sys.argv[1]), padding=int(sys.argv[2]) << 20))")
    out = subprocess.run([sys.executable, "-c", code, str(folder), str(size_mib)], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def run(size_mib: int, max_growth_mib: float) -> bool:
    from release.engine.digest import file_digest
    from release.pypi.distmeta import DistFile, read_metadata
    from release.pypi.readback import check_uploaded
    from release.pypi.transport import IndexClient
    from release.pypi.upload import upload_file
    from release.pypi.urls import IndexUrls

    token = "pypi-AgEIYmVuY2g" + secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory(prefix="release-bench-pypi-") as tmp:
        root = Path(tmp)
        wheel = _wheel(root, size_mib)
        size = wheel.stat().st_size
        dist = DistFile(wheel, "wheel", file_digest(wheel), size)
        fields = [(":action", "file_upload"), ("protocol_version", "1"),
                  *read_metadata(dist).fields, ("filetype", "bdist_wheel"),
                  ("pyversion", "py3"), ("sha256_digest", dist.sha256)]
        ours, url = _index(root / "ours", token)
        theirs, twine_url = _index(root / "twine", token)
        try:
            urls = IndexUrls.resolve(url, url + "simple/")
            with IndexClient(auth_origin=url, token=token) as client:
                before = peak_rss_mib()
                started = time.perf_counter()
                upload_file(client, url, dist, fields, log=lambda _: None)
                uploaded = time.perf_counter() - started
                check_uploaded(client, urls, [dist], "demo-pkg", log=lambda _: None)
                total = time.perf_counter() - started
                after = peak_rss_mib()
            started = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-m", "twine", "upload", "--disable-progress-bar",
                 "--non-interactive", "--repository-url", twine_url, "-u", "__token__",
                 "-p", token, str(wheel)], capture_output=True, text=True, check=False)
            twine_seconds = time.perf_counter() - started
            stored = root / "ours" / "packages" / wheel.name
            assert hashlib.sha256(stored.read_bytes()).hexdigest() == dist.sha256
        finally:
            for server in (ours, theirs):
                server.terminate()
                server.wait()
    mib = size / 2**20
    growth = after - before
    print(f"pypi-publish: {mib:.0f} MiB wheel to pypiserver on 127.0.0.1 in {uploaded:.1f}s "
          f"({mib / uploaded:.0f} MiB/s); with the sha256 read back {total:.1f}s")
    print("baseline: twine upload of the same file " + (
        f"{twine_seconds:.1f}s ({mib / twine_seconds:.0f} MiB/s, a new process: start-up "
        "included)" if proc.returncode == 0 else f"failed: {proc.stderr[-300:]}"))
    print(f"peak RSS: {before:.0f} MiB before the upload, {after:.0f} MiB after "
          f"(growth {growth:.1f} MiB, limit {max_growth_mib:.0f} MiB)")
    return growth <= max_growth_mib
