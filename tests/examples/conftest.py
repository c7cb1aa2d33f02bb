"""The example pipelines as tagged repositories, and the local services they publish to."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Repo, git
from tests.github_server import github_server  # noqa: F401  (fixture)
from tests.oci.conftest import registry  # noqa: F401  (session fixture)
from tests.sigstore_stack import sigstore_stack  # noqa: F401  (session fixture)

EXAMPLES = Path(__file__).resolve().parents[2] / "pipelines" / "examples"
CA_CERTIFICATES = EXAMPLES / "ca-certificates"
TAG = "v1.0.0"


def replace(text: str, old: str, new: str, count: int = 1) -> str:
    """``text`` with ``old`` replaced exactly ``count`` times (the example must still say it)."""
    found = text.count(old)
    assert found == count, f"expected {old!r} {count} time(s) in the example, found {found}"
    return text.replace(old, new)


def tagged_example(repo: Repo, example: Path = CA_CERTIFICATES,
                   rewrite: Callable[[str], str] | None = None) -> str:
    """Copy ``example`` to the repository's root, apply ``rewrite`` to its ``release.yaml``,
    commit and tag :data:`TAG`; return the commit."""
    shutil.copytree(example, repo.path, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    if rewrite is not None:
        pipeline = repo.path / "release.yaml"
        pipeline.write_text(rewrite(pipeline.read_text(encoding="utf-8")), encoding="utf-8")
    commit = repo.commit("example pipeline")
    repo.tag(TAG)
    assert git(repo.path, "status", "--porcelain") == ""
    return commit
