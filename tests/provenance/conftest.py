"""Real Python distributions for SBOM tests, built with pypa/build and pip from a sample."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

PYPROJECT = """\
[build-system]
requires = ["flit_core >=3.9,<4"]
build-backend = "flit_core.buildapi"

[project]
name = "Demo_Tool"
version = "2.0.1"
description = "A sample with dependencies, extras and project URLs"
requires-python = ">=3.9"
license = "MIT"
dependencies = ["requests >=2.31", "PyYAML ; python_version >= '3.9'"]

[project.optional-dependencies]
test = ["pytest >=8"]
fast = ["orjson", "demo-tool[test]"]

[project.urls]
Source = "https://github.com/octo-org/demo-tool"
Documentation = "https://octo-org.github.io/demo-tool/"

[tool.flit.module]
name = "demo_tool"
"""


@dataclass(frozen=True)
class Dists:
    wheel: Path
    sdist: Path


def build_sample(root: Path) -> Dists:
    """Build the sample's wheel and sdist with `python -m build` (no network)."""
    src = root / "src"
    (src / "demo_tool").mkdir(parents=True)
    (src / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    (src / "LICENSE").write_text("MIT License\n", encoding="utf-8")
    (src / "demo_tool" / "__init__.py").write_text(
        '"""Demo tool."""\n__version__ = "2.0.1"\n', encoding="utf-8")
    (src / "demo_tool" / "__main__.py").write_text(
        textwrap.dedent("""\
            import demo_tool
            print("demo", demo_tool.__version__)
        """), encoding="utf-8")
    out = root / "dist"
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out),
                    str(src)], check=True, capture_output=True,
                   env={"SOURCE_DATE_EPOCH": "1767323045", "PATH": "/usr/bin:/bin"})
    wheel, = out.glob("*.whl")
    sdist, = out.glob("*.tar.gz")
    return Dists(wheel, sdist)


@pytest.fixture(scope="session")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    return build_sample(tmp_path_factory.mktemp("sample"))


def make_zipapp(dists: Dists, root: Path, *, lock: str | None = None,
                install: bool = True) -> Path:
    """A zipapp made by `python -m zipapp`; with the wheel installed into it by pip."""
    app = root / "app"
    app.mkdir(parents=True)
    if install:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index",
                        "--no-deps", "--no-compile", "--target", str(app), str(dists.wheel)],
                       check=True, capture_output=True)
    else:
        (app / "__main__.py").write_text("print('hello')\n", encoding="utf-8")
    if install:
        (app / "__main__.py").write_text("import runpy\nrunpy.run_module('demo_tool')\n",
                                         encoding="utf-8")
    if lock is not None:
        (app / "pylock.toml").write_text(lock, encoding="utf-8")
    target = root / "demo.pyz"
    subprocess.run([sys.executable, "-m", "zipapp", str(app), "-o", str(target),
                    "-p", "/usr/bin/env python3"], check=True, capture_output=True)
    return target
