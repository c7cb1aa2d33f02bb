"""A loopback Cargo registry: the sparse index protocol
(https://doc.rust-lang.org/cargo/reference/registry-index.html) served as static files on
127.0.0.1: ``config.json``, one index file per crate, and the ``.crate`` downloads.

Every path asked for is recorded, so tests can tell which phase reached it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import Repo
from tests.static_server import StaticFiles, serve_static


def rust_toolchain() -> Path | None:
    """The ``bin`` folder of the real Rust toolchain (rustup's ``cargo`` is a proxy that
    needs rustup's home, which the sandbox does not show), or None."""
    if shutil.which("cargo") is None:
        return None
    if shutil.which("rustup"):
        found = subprocess.run(["rustup", "which", "cargo"], capture_output=True, text=True,
                               check=False, timeout=60)
        if found.returncode == 0:
            return Path(found.stdout.strip()).parent
    return Path(str(shutil.which("cargo"))).resolve().parent


needs_cargo = pytest.mark.skipif(rust_toolchain() is None,
                                 reason="no Rust toolchain (cargo) is installed")


class Registry(StaticFiles):

    @property
    def index(self) -> str:
        return f"sparse+http://127.0.0.1:{self.port}/"

    def publish(self, name: str, version: str, files: dict[str, str]) -> None:
        """Serve crate ``name`` at ``version`` (``files`` by path, with its Cargo.toml)."""
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tf:
            for rel, text in sorted(files.items()):
                data = text.encode()
                info = tarfile.TarInfo(f"{name}-{version}/{rel}")
                info.size, info.mtime, info.mode = len(data), 0, 0o644
                tf.addfile(info, io.BytesIO(data))
        crate = buf.getvalue()
        self.files[f"/dl/{name}/{version}"] = crate
        entry = {"name": name, "vers": version, "deps": [], "features": {},
                 "cksum": hashlib.sha256(crate).hexdigest(), "yanked": False}
        self.files[_index_path(name)] = (json.dumps(entry) + "\n").encode()


def _index_path(name: str) -> str:
    lower = name.lower()
    if len(lower) <= 2:
        return f"/{len(lower)}/{lower}"
    if len(lower) == 3:
        return f"/3/{lower[0]}/{lower}"
    return f"/{lower[:2]}/{lower[2:4]}/{lower}"


@contextmanager
def serve() -> Iterator[Registry]:
    with serve_static(Registry()) as registry:
        registry.files["/config.json"] = json.dumps(
            {"dl": f"{registry.base}/dl/{{crate}}/{{version}}"}).encode()
        yield registry


TINY = {"Cargo.toml": '[package]\nname = "tiny"\nversion = "1.0.0"\nedition = "2021"\n',
        "src/lib.rs": "pub const ANSWER: u32 = 42;\n"}


def cargo_project(repo: Repo, registry: Registry, scratch: Path) -> Path:
    """A crate depending on ``tiny`` from ``registry`` (named in its manifest), its
    Cargo.lock made by the real cargo (outside the engine, with a CARGO_HOME of its own),
    and a pipeline that fetches with ``cargo fetch --locked`` and builds offline;
    committed. Returns the pipeline."""
    if "/ti/ny/tiny" not in registry.files:
        registry.publish("tiny", "1.0.0", TINY)
    repo.write("Cargo.toml", textwrap.dedent(f"""\
        [package]
        name = "app"
        version = "0.1.0"
        edition = "2021"

        [dependencies]
        tiny = {{ version = "1.0.0", registry-index = "{registry.index}" }}
        """))
    repo.write("src/main.rs", "fn main() { println!(\"{}\", tiny::ANSWER); }\n")
    env = {"PATH": os.environ["PATH"], "HOME": str(scratch),
           "CARGO_HOME": str(scratch / "cargo")}
    subprocess.run(["cargo", "generate-lockfile"], cwd=repo.path, env=env, check=True,
                   capture_output=True, timeout=120)
    repo.write(".gitignore", "target/\n")
    registry.requests.clear()  # what the engine's run asks for, from here on
    path = repo.write("release.yaml", """\
        version: 1
        name: app
        stages:
          cli:
            kind: command
            fetch: ["cargo", "fetch", "--locked"]
            locks: [Cargo.lock]
            run: ["sh", "-c", "cargo build --offline --locked && cp target/debug/app {out}/tool"]
            outputs: ["tool"]
        """)
    repo.commit()
    return path
