"""A loopback Go module proxy: the GOPROXY protocol (https://go.dev/ref/mod#goproxy-protocol)
served as static files on 127.0.0.1, from modules the tests make on the fly.

Each module version is served as ``$module/@v/list``, ``$version.info``, ``$version.mod``
and ``$version.zip`` (files under ``$module@$version/``, as the module zip format
requires). Every path asked for is recorded, so tests can tell which phase reached it. The proxy
says it proxies Go's checksum database (``/sumdb/sum.golang.org/supported``) but knows no
checksum, so ``go`` looks up a module go.sum does not pin here, fails, and never reaches
sum.golang.org itself.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import textwrap
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import Repo
from tests.static_server import StaticFiles, serve_static

#: Skip marker for tests that run the real Go toolchain (CI installs it: noxfile.py).
needs_go = pytest.mark.skipif(shutil.which("go") is None,
                              reason="the Go toolchain is not installed (apt-get install "
                              "golang-go; `nox -s tests` installs it)")

TINY = {"go.mod": "module example.com/tiny\n\ngo 1.18\n",
        "tiny.go": "package tiny\n\n// Answer is what the tool prints.\nconst Answer = 42\n"}
MAIN = "package main\n\nimport \"example.com/tiny\"\n\nfunc main() { println(tiny.Answer) }\n"


class GoProxy(StaticFiles):

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def publish(self, module: str, version: str, files: dict[str, str]) -> None:
        """Serve ``module`` at ``version``; ``files`` (with its go.mod) by relative path."""
        if module != module.lower():
            raise ValueError("the test proxy serves lower-case module paths only "
                             "(no case-encoding with '!')")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for rel, text in sorted(files.items()):
                info = zipfile.ZipInfo(f"{module}@{version}/{rel}", (1980, 1, 1, 0, 0, 0))
                zf.writestr(info, text)
        base = f"/{module}/@v"
        listed = self.files.get(f"{base}/list", b"").decode().split()
        self.files[f"{base}/list"] = "".join(
            f"{v}\n" for v in sorted({*listed, version})).encode()
        self.files[f"{base}/{version}.info"] = json.dumps(
            {"Version": version, "Time": "2024-01-01T00:00:00Z"}).encode()
        self.files[f"{base}/{version}.mod"] = files["go.mod"].encode()
        self.files[f"{base}/{version}.zip"] = buf.getvalue()

    def publish_folder(self, module: str, version: str, folder: Path) -> None:
        """Serve ``module`` at ``version`` from the files of ``folder`` (a module's root,
        with its go.mod), as a module proxy serves a tagged module of a repository."""
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        self.publish(module, version, {p.relative_to(folder).as_posix():
                                       p.read_text(encoding="utf-8") for p in files})


@contextmanager
def serve() -> Iterator[GoProxy]:
    with serve_static(GoProxy(files={"/sumdb/sum.golang.org/supported": b""})) as proxy:
        yield proxy


def go_project(repo: Repo, proxy: GoProxy, scratch: Path, *, fetch: str = '"-x"',
               run: str = '"go", "build", "-trimpath", "-o", "{out}/tool", "."',
               more: str = "") -> Path:
    """A Go module needing example.com/tiny from ``proxy``, its go.sum computed by the
    real ``go`` (outside the engine, on caches of its own), and a pipeline whose ``cli``
    stage fetches with ``go mod download`` and builds offline (``more``: other stages);
    committed. Returns the pipeline."""
    if "/example.com/tiny/@v/list" not in proxy.files:
        proxy.publish("example.com/tiny", "v1.0.0", TINY)
    repo.write("go.mod", "module example.com/app\n\ngo 1.18\n\n"
               "require example.com/tiny v1.0.0\n")
    repo.write("main.go", MAIN)
    env = {"PATH": os.environ["PATH"], "HOME": str(scratch), "GOPROXY": proxy.url,
           "GOSUMDB": "off", "GOFLAGS": "-mod=mod -modcacherw", "GOTOOLCHAIN": "local",
           "GOMODCACHE": str(scratch / "gomod"), "GOCACHE": str(scratch / "gocache")}
    subprocess.run(["go", "mod", "tidy"], cwd=repo.path, env=env, check=True,
                   capture_output=True, timeout=120)
    proxy.requests.clear()  # what the engine's run asks for, from here on
    args = ", ".join(filter(None, ['"go", "mod", "download"', fetch]))
    path = repo.write("release.yaml", textwrap.dedent(f"""\
        version: 1
        name: app
        stages:
          cli:
            kind: command
            env: {{GOPROXY: "{proxy.url}"}}
            fetch: [{args}]
            locks: [go.sum]
            run: [{run}]
            outputs: ["tool"]
        """) + textwrap.indent(textwrap.dedent(more), "  "))
    repo.commit()
    return path
