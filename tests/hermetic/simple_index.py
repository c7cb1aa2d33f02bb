"""A loopback Python package index: the simple repository API (PEP 503, with each file's
sha256 in its link, PEP 503/691 style) served as static pages on 127.0.0.1, with wheels
made by ``tests/pypi/dists.py``.

Every path asked for is recorded, so tests can tell which phase reached it.
"""

from __future__ import annotations

import hashlib
import re
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import Repo
from tests.pypi.dists import make_wheel
from tests.static_server import StaticFiles, serve_static


class Index(StaticFiles):
    def content_type(self, path: str) -> str:
        return "text/html" if path.endswith("/") else "application/octet-stream"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/simple/"

    def publish(self, folder: Path, name: str, version: str, *, padding: int = 0) -> str:
        """Serve a wheel of ``name`` (made in ``folder``); return its sha256."""
        wheel = make_wheel(folder, name, version, padding=padding)
        data = wheel.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        self.files[f"/files/{wheel.name}"] = data
        project = re.sub(r"[-_.]+", "-", name).lower()
        self.files[f"/simple/{project}/"] = (
            f'<!DOCTYPE html><html><body><a href="/files/{wheel.name}#sha256={digest}">'
            f"{wheel.name}</a></body></html>\n").encode()
        return digest


@contextmanager
def serve() -> Iterator[Index]:
    with serve_static(Index()) as index:
        yield index


def pip_project(repo: Repo, index: Index, scratch: Path) -> Path:
    """A project whose requirements.txt pins ``tiny-pkg`` by hash on ``index`` (named in
    the file), and a pipeline that downloads it with ``pip download`` and installs it
    offline in ``run:``; committed. Returns the pipeline."""
    scratch.mkdir(parents=True, exist_ok=True)
    digest = index.publish(scratch, "tiny-pkg", "1.0.0")
    repo.write("requirements.txt", f"--index-url {index.url}\n"
               f"tiny-pkg==1.0.0 --hash=sha256:{digest}\n")
    install = ("python3 -m pip install --no-index --find-links wheels --require-hashes "
               "-r requirements.txt --target site && PYTHONPATH=site python3 -c "
               "'import tiny_pkg; print(tiny_pkg.__doc__)' > {out}/tool")
    path = repo.write("release.yaml", textwrap.dedent(f"""\
        version: 1
        name: app
        stages:
          cli:
            kind: command
            fetch: ["pip", "download", "--require-hashes", "--only-binary=:all:",
                    "-r", "requirements.txt", "-d", "wheels"]
            locks: [requirements.txt]
            run: ["sh", "-c", "{install}"]
            outputs: ["tool"]
        """))
    repo.commit()
    return path
