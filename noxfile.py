"""Tasks: tests, lint, this project's own release in dry-run, and re-locking.

Every session installs from the hash-locked requirements with no pip cache.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["lint", "tests"]
nox.options.error_on_external_run = True

ROOT = Path(__file__).parent
PIP = ("python", "-m", "pip", "install", "--no-cache-dir", "--disable-pip-version-check")
#: Debian packages the tests use as real parts: network isolation, an OCI registry and
#: an independent OCI client, OpenSSL and coreutils for checking our outputs, and the
#: toolchains whose fetch phase the tests run (npm, go).
SYSTEM_TOOLS = {"bwrap": "bubblewrap", "docker-registry": "docker-registry",
                "skopeo": "skopeo", "openssl": "openssl", "git": "git", "node": "nodejs",
                "npm": "npm", "go": "golang-go"}


def _install(session: nox.Session, lock: str = "requirements/dev.txt") -> None:
    session.run(*PIP, "--require-hashes", "--no-deps", "-r", lock)
    session.run(*PIP, "--no-deps", "--no-build-isolation", "-e", ".")


def _system_tools(session: nox.Session) -> None:
    missing = sorted({pkg for exe, pkg in SYSTEM_TOOLS.items() if shutil.which(exe) is None})
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        session.error(f"the tests need these system packages: {' '.join(missing)}; "
                      f"install them (e.g. sudo apt-get install {' '.join(missing)})")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    session.run("apt-get", "update", "-qq", external=True, env=env)
    session.run("apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing,
                external=True, env=env)


def _node_services(session: nox.Session) -> None:
    mock = ROOT / "tests" / "sigstore_mock"
    if (mock / "package-lock.json").is_file():
        session.run("npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts",
                    "--prefix", str(mock), external=True)


@nox.session
def tests(session: nox.Session) -> None:
    """The full test suite, with the real tools it needs provisioned first."""
    _system_tools(session)
    _install(session)
    _node_services(session)
    args = session.posargs or ["-n", "2"]
    session.run("pytest", *args)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff and mypy --strict."""
    _install(session)
    session.run("ruff", "check", "release", "tests", "benchmarks", "noxfile.py")
    session.run("mypy", "release")


@nox.session(name="dry-run")
def dry_run(session: nox.Session) -> None:
    """This project's own release pipeline in dry-run, ending with the review plan."""
    _system_tools(session)
    _install(session, "requirements/dev.txt")
    out = ROOT / "dist" / "dry-run"
    report = out / "review.md"
    session.run("release", "run", "pipelines/release.yaml", "--dry-run", "--out", str(out),
                "--report", str(report), "--report", str(out / "review.json"),
                *session.posargs)
    print(report.read_text(encoding="utf-8"))


@nox.session
def lock(session: nox.Session) -> None:
    """Regenerate the hash-locked requirements (on purpose, by a maintainer)."""
    session.run(*PIP, "--require-hashes", "--no-deps", "-r", "requirements/uv.txt")
    common = ("--generate-hashes", "--universal", "--python-version", "3.11", "--no-header")
    session.run("uv", "pip", "compile", "pyproject.toml", *common, "-o", "requirements/main.txt")
    session.run("uv", "pip", "compile", "pyproject.toml", "requirements/dev.in", "--extra",
                "test", "--extra", "lint", *common, "-o", "requirements/dev.txt")
    for name in ("nox", "build", "audit", "uv"):
        session.run("uv", "pip", "compile", f"requirements/{name}.in", *common,
                    "-o", f"requirements/{name}.txt")
