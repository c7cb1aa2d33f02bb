"""``python-dist``: an sdist and a wheel built with pypa ``build``, offline, from a lock.

Two phases, as the hermetic build requires: the fetch phase downloads the build
backend's wheels, pinned by hash in a lock file, into the stage's workspace (network
on); the build phase creates a fresh virtual environment, installs those wheels with
``--no-index`` and runs ``python -m build --no-isolation`` with no network. Without
arguments ``build`` makes the sdist first and the wheel from it, which also proves the
sdist is complete. ``SOURCE_DATE_EPOCH`` is set, so backends that honour it (flit_core,
hatchling, setuptools >= 68 for wheels) give the same bytes twice.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator

from release.engine import outputs, safefs
from release.engine.contract import (
    Effect,
    Output,
    PlannedAction,
    StageConfig,
    StageContext,
    StageKind,
)
from release.errors import StageFailed
from release.provenance import pymeta

if TYPE_CHECKING:
    from release.stages.python_lock import Pin

#: Packages of pypa ``build`` lent to the build environment when the lock does not pin it.
FRONTEND = ("build", "pyproject_hooks", "packaging")


def _relative(value: str | None) -> str | None:
    if value is not None and (value.startswith("/") or ".." in value.split("/")
                              or "\\" in value):
        raise ValueError("a path relative to `source.path` (the released folder) that "
                         "stays inside it")
    return value


class PythonDistConfig(StageConfig):
    kind: Literal["python-dist"]
    project: str = Field(default=".", description="Directory of pyproject.toml, relative "
                                                  "to `source.path`.")
    build_requirements: str | None = Field(
        default=None, alias="build-requirements",
        description="Lock file pinning the build backend by hash (pip --require-hashes "
                    "format), relative to `source.path`.")
    index_url: str = Field(default="https://pypi.org/simple", alias="index-url",
                           description="Package index the fetch phase downloads from.")

    @field_validator("project", "build_requirements")
    @classmethod
    def _paths(cls, value: str | None) -> str | None:
        return _relative(value)

    @field_validator("index_url")
    @classmethod
    def _index(cls, value: str) -> str:
        if not re.match(r"^https://[^/\s?#@]+(/\S*)?$", value):
            raise ValueError("index-url must be an https:// address (the simple API root)")
        return value


class PythonDist(StageKind[PythonDistConfig]):
    kind = "python-dist"
    description = "Build an sdist and a wheel with pypa build, offline, from a hash-pinned lock."
    config = PythonDistConfig
    uses_source = True

    def effects(self, config: PythonDistConfig) -> Effect:
        return Effect.NETWORK if config.build_requirements else Effect.LOCAL

    def declared_outputs(self, config: PythonDistConfig) -> list[str]:
        return ["*.tar.gz", "*.whl"]

    def plan(self, ctx: StageContext[PythonDistConfig]) -> list[PlannedAction]:
        cfg = ctx.config
        actions = []
        if cfg.build_requirements:
            actions.append(PlannedAction("fetch (pinned by hash)",
                                         f"{cfg.build_requirements} from {cfg.index_url}"))
        return [*actions, PlannedAction("build sdist and wheel, no network", cfg.project)]

    def run(self, ctx: StageContext[PythonDistConfig]) -> list[Output]:
        from release.stages import python_lock

        cfg, ws = ctx.config, ctx.workspace
        project = _inside(ws.src, cfg.project, "project")
        meta = _pyproject(project, cfg.project)
        requires = meta["build-system"]["requires"]
        assert isinstance(requires, list)  # checked by _pyproject
        pins: dict[str, Pin] = {}
        lock: Path | None = None
        fetched: dict[str, str] = {}
        if cfg.build_requirements:
            lock = _inside(ws.src, cfg.build_requirements, "build-requirements")
            pins = python_lock.read_lock(lock, cfg.build_requirements)
        python_lock.check_covered(requires, pins, cfg.build_requirements)

        venv = ws.root / "build-env"
        py = venv / "bin" / "python"
        # no pip configuration from the host: only the lock and `index-url` decide
        settings = {"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INPUT": "1",
                    "PIP_PROGRESS_BAR": "off", "PYTHONNOUSERSITE": "1"}
        # the engine's own tools (venv, pip) run no code of the repository: isolated
        # mode (-I: no PYTHON* variables, no script folder or current folder on
        # sys.path), outside the source tree, without the stage's `env`
        pip = [sys.executable, "-I", "-m", "pip", "--python", str(py)]

        # the tools' working folder is empty: nothing a lock line names can resolve to a
        # file of the repository relative to it
        empty = ws.root / "tools-cwd"
        empty.mkdir()

        def sandboxed(argv: list[str], *, tool: bool, network: bool = False) -> None:
            env = {**(ctx.tool_env if tool else ctx.env), **settings}
            ctx.sandbox.run(argv, ws, env=env, cwd=empty if tool else project,
                            writable=[ctx.out_dir], network=network,
                            timeout=cfg.timeout_seconds, log=ctx.log, cancel=ctx.cancel)

        sandboxed([sys.executable, "-I", "-m", "venv", "--without-pip", str(venv)], tool=True)
        if "build" not in pins:
            # before anything that could plant links in the environment has run
            _lend_frontend(venv, ws.root / "frontend")
        if lock is not None:
            wheels = ws.root / "wheels"
            ctx.log(f"fetch phase: {len(pins)} pinned wheels from {cfg.index_url}")
            sandboxed([*pip, "download", "--no-cache-dir", "--no-deps", "--require-hashes",
                       "--only-binary=:all:", "--index-url", cfg.index_url, *_trust(ctx.tool_env),
                       "--dest", str(wheels), "-r", str(lock)], tool=True, network=True)
            python_lock.check_downloaded(wheels, pins)
            fetched = _fetched(wheels)
            ctx.log("build phase: no network from here on")
            sandboxed([*pip, "install", "--no-cache-dir", "--no-index", "--no-deps",
                       "--require-hashes", "--find-links", str(wheels), "-r", str(lock)],
                      tool=True)
        sandboxed([str(py), "-m", "build", "--no-isolation", "--outdir", str(ctx.out_dir),
                   str(project)], tool=False)
        # what the fetch phase downloaded, for provenance (release/provenance/fetched.py)
        return [dataclasses.replace(o, annotations={**o.annotations, **fetched})
                for o in _check_outputs(ctx, meta)]


def _fetched(wheels: Path) -> dict[str, str]:
    """``fetched:pkg:pypi/NAME@VERSION`` = the sha256 of each downloaded wheel."""
    from packaging.utils import parse_wheel_filename

    found = {}
    for wheel in sorted(wheels.iterdir()):  # check_downloaded: regular files, one per pin
        name, version, _, _ = parse_wheel_filename(wheel.name)
        found[f"fetched:pkg:pypi/{name}@{version}"] = hashlib.sha256(
            wheel.read_bytes()).hexdigest()
    return found


def _trust(env: Mapping[str, str]) -> list[str]:
    """The host's CA bundle for the index, when one is configured (e.g. behind a proxy).

    Only TLS trust is taken from the host (the engine passes the CA bundle variables);
    integrity comes from the lock's hashes, and every other pip setting is ignored
    (``PIP_CONFIG_FILE=/dev/null``).
    """
    for name in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        value = env.get(name)
        if value and Path(value).is_file():
            return ["--cert", value]
    return []


def _inside(root: Path, rel: str, key: str) -> Path:
    path = (root / rel).resolve()
    if not path.is_relative_to(root.resolve()):
        raise StageFailed(f"`{key}: {rel}` leaves the source tree through a symlink")
    if not path.exists():
        raise StageFailed(f"`{key}: {rel}` does not exist in the committed source tree",
                          "commit it, or fix the path (it is relative to `source.path`)")
    return path


def _pyproject(project: Path, rel: str) -> dict[str, dict[str, object]]:
    path = project / "pyproject.toml"
    where = f"{rel.rstrip('/')}/pyproject.toml" if rel != "." else "pyproject.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StageFailed(f"no {where} in the committed source tree",
                          "python-dist builds projects with a pyproject.toml; set `project:` "
                          "to its directory") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise StageFailed(f"{where} is not valid TOML: {exc}") from None
    system = data.get("build-system")
    if not isinstance(system, dict) or not isinstance(system.get("requires"), list):
        raise StageFailed(f"{where} has no [build-system] requires",
                          "declare the build backend (PEP 518), e.g. requires = "
                          "[\"flit_core >=3.9,<4\"] and build-backend = \"flit_core.buildapi\"")
    return data


def _lend_frontend(venv: Path, dest: Path) -> None:
    """Make the running interpreter's ``build`` importable in the build environment.

    Only ``build`` and its two dependencies are copied; a ``.pth`` file appends them to
    ``sys.path`` after site-packages, so a version the lock pins still wins.
    """
    import importlib.util

    for name in FRONTEND:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise StageFailed(f"pypa build is not available ({name} is not installed)",
                              "pin `build` in the build-requirements lock, or install "
                              "release with its dependencies")
        shutil.copytree(spec.submodule_search_locations[0], dest / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    site = venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    safefs.write_file(site, "release-frontend.pth", f"{dest}\n".encode())


def _check_outputs(ctx: StageContext[PythonDistConfig],
                   meta: dict[str, dict[str, object]]) -> list[Output]:
    """One sdist and one wheel, whose metadata names the project and the release version."""
    from release.stages import python_lock

    sdists = sorted(p.name for p in ctx.out_dir.glob("*.tar.gz"))
    wheels = sorted(p.name for p in ctx.out_dir.glob("*.whl"))
    if len(sdists) != 1 or len(wheels) != 1:
        raise StageFailed(f"expected one sdist and one wheel, found {sdists + wheels}")
    # the build wrote these: check them as the engine checks outputs before reading
    sdist, wheel = (pymeta.read_sdist(outputs.checked(ctx.out_dir, sdists[0], ctx.stage_id)),
                    pymeta.read_wheel(outputs.checked(ctx.out_dir, wheels[0], ctx.stage_id)))
    found = {"sdist": (sdist.name, sdist.version), "wheel": (wheel.name, wheel.version)}
    name = meta.get("project", {}).get("name")
    pinned_version = ctx.source.tag is not None or ctx.pipeline.source.version is not None
    for kind, (got_name, got_version) in found.items():
        if isinstance(name, str) and not python_lock.same_name(got_name, name):
            raise StageFailed(f"the {kind}'s metadata names {got_name!r}, pyproject.toml "
                              f"names {name!r}")
        if pinned_version and not python_lock.same_version(got_version, ctx.source.version):
            origin = f"tag {ctx.source.tag}" if ctx.source.tag else "the pipeline's version"
            raise StageFailed(
                f"the {kind} has version {got_version}, but {origin} says "
                f"{ctx.source.version}", "make the project's version match the release tag")
    if not pinned_version:
        ctx.log("no release tag: the distributions' version is not checked")
    notes = {"name": found["wheel"][0], "version": found["wheel"][1]}
    return [Output(sdists[0], "sdist", notes), Output(wheels[0], "wheel", notes)]
