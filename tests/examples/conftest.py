"""The example pipelines, run in place in a clone of this repository, and the local
services they publish to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.checkout import clone_checkout
from tests.conftest import git
from tests.github_server import github_server  # noqa: F401  (fixture)
from tests.oci.conftest import registry  # noqa: F401  (session fixture)
from tests.sigstore_stack import sigstore_stack  # noqa: F401  (session fixture)

#: The example's folder in the repository (its pipeline's ``source.path``).
CA_CERTIFICATES = "pipelines/examples/ca-certificates"
TAG = "ca-certificates/v1.0.0"


def replace(text: str, old: str, new: str, count: int = 1) -> str:
    """``text`` with ``old`` replaced exactly ``count`` times (the example must still say it)."""
    found = text.count(old)
    assert found == count, f"expected {old!r} {count} time(s) in the example, found {found}"
    return text.replace(old, new)


@dataclass(frozen=True)
class Clone:
    """A clone of this repository's HEAD with the example tagged; the pipeline is the
    committed file at its place."""

    path: Path
    pipeline: Path
    commit: str


def tagged_example(tmp_path: Path, folder: str = CA_CERTIFICATES,
                   rewrite: Callable[[str], str] | None = None) -> Clone:
    """Clone this repository, apply ``rewrite`` to the example's ``release.yaml`` (and
    commit that), tag :data:`TAG`."""
    clone = clone_checkout(tmp_path / "clone")
    pipeline = clone / folder / "release.yaml"
    if rewrite is not None:
        pipeline.write_text(rewrite(pipeline.read_text(encoding="utf-8")), encoding="utf-8")
        git(clone, "commit", "-q", "-am", "point the example at local services")
    git(clone, "tag", TAG)
    assert git(clone, "status", "--porcelain") == ""
    return Clone(clone, pipeline, git(clone, "rev-parse", "HEAD"))
