"""Release directories for ``release verify`` tests, assembled from real files and tools."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pytest

from tests.conftest import SHARED
from tests.sigstore_stack import sigstore_stack  # noqa: F401  (session fixture)

SIGSTORE = SHARED / "fixtures" / "sigstore"
PRODUCTION = SIGSTORE / "production"
STAGING = SIGSTORE / "staging"
INVALID = SIGSTORE / "invalid"
WHEEL = "bundle_v3_github.whl"
#: The true identity of the production bundle (its certificate, see the fixtures' README).
REPOSITORY = "trailofbits/rfc8785.py"
TAG = "v0.1.2"
WORKFLOW = "release.yml"
COMMIT = "d8b4a6445f38c48b9137a8099706d9b8073146e4"


def sha256sums(directory: Path, names: Iterable[str], output: str = "SHA256SUMS") -> Path:
    """Write a checksums file with the real ``sha256sum`` (GNU coreutils)."""
    proc = subprocess.run(["sha256sum", "--", *names], cwd=directory, check=True,
                          capture_output=True, text=True)
    target = directory / output
    target.write_text(proc.stdout, encoding="utf-8")
    return target


def copy(src: Path, dest: Path) -> Path:
    """Copy a (read-only) fixture and make the copy writable, for tamper tests."""
    shutil.copyfile(src, dest)
    dest.chmod(0o644)
    return dest


@pytest.fixture
def wheel_release(tmp_path: Path) -> Path:
    """The production wheel, SHA256SUMS and the bundle as ``<wheel>.sigstore.json``."""
    directory = tmp_path / "release"
    directory.mkdir()
    copy(PRODUCTION / WHEEL, directory / WHEEL)
    copy(PRODUCTION / f"{WHEEL}.sigstore", directory / f"{WHEEL}.sigstore.json")
    sha256sums(directory, [WHEEL])
    return directory


def identity_args(repository: str = REPOSITORY, tag: str = TAG, workflow: str = WORKFLOW,
                  commit: str | None = COMMIT) -> list[str]:
    args = ["--repository", repository, "--tag", tag, "--workflow", workflow,
            "--trusted-root", str(PRODUCTION / "trusted_root.json")]
    return args + (["--commit", commit] if commit else [])
