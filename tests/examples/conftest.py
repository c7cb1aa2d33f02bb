"""The example pipelines, run in place in a clone of this repository, and the local
services they publish to."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.checkout import clone_checkout
from tests.conftest import git
from tests.github_server import github_server  # noqa: F401  (fixture)
from tests.hermetic import goproxy
from tests.hermetic.goproxy import GoProxy
from tests.oci.conftest import registry  # noqa: F401  (session fixture)
from tests.sigstore_stack import sigstore_stack  # noqa: F401  (session fixture)

#: The example's folder in the repository (its pipeline's ``source.path``).
CA_CERTIFICATES = "pipelines/examples/ca-certificates"
TAG = "ca-certificates/v1.0.0"
#: The example's Go SDK (its folder ``sdk-go/``), which the CLI requires at this version.
SDK_GO = "github.com/example/tpm-ca-certificates/sdk-go"
SDK_GO_VERSION = "v1.0.0"


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


@pytest.fixture
def go_proxy() -> Iterator[GoProxy]:
    """A loopback Go module proxy (tests/hermetic/goproxy.py)."""
    with goproxy.serve() as served:
        yield served


def with_go_proxy(text: str, proxy: GoProxy) -> str:
    """The example's CLI stage fetching from ``proxy`` instead of proxy.golang.org."""
    return replace(text, 'CGO_ENABLED: "0"}', f'CGO_ENABLED: "0", GOPROXY: "{proxy.url}"}}')


def tagged_example(tmp_path: Path, folder: str = CA_CERTIFICATES,
                   rewrite: Callable[[str], str] | None = None,
                   go_proxy: GoProxy | None = None, tag: str | None = TAG) -> Clone:
    """Clone this repository, apply ``rewrite`` to the example's ``release.yaml`` (and
    commit that), tag ``tag``. With ``go_proxy``, the CLI fetches from it, and it serves
    the clone's committed ``sdk-go/`` as :data:`SDK_GO` at :data:`SDK_GO_VERSION`, as
    proxy.golang.org would serve the SDK's tag."""
    clone = clone_checkout(tmp_path / "clone")
    pipeline = clone / folder / "release.yaml"
    edits = [rewrite] if rewrite is not None else []
    if go_proxy is not None:
        go_proxy.publish_folder(SDK_GO, SDK_GO_VERSION, clone / CA_CERTIFICATES / "sdk-go")
        edits.append(lambda text: with_go_proxy(text, go_proxy))
    if edits:
        text = pipeline.read_text(encoding="utf-8")
        for edit in edits:
            text = edit(text)
        pipeline.write_text(text, encoding="utf-8")
        git(clone, "commit", "-q", "-am", "point the example at local services")
    if tag is not None:
        git(clone, "tag", tag)
    assert git(clone, "status", "--porcelain") == ""
    return Clone(clone, pipeline, git(clone, "rev-parse", "HEAD"))
