"""resolvedDependencies from what stages fetched: command locks, python-dist wheels."""

from __future__ import annotations

from release.engine.manifest import Artifact
from release.provenance.fetched import fetched_inputs

LOCK = "a" * 64
WHEEL = "b" * 64


def _art(stage: str, name: str, notes: dict[str, str]) -> Artifact:
    return Artifact(name, "binary", stage, f"{stage}/{name}", 1, "c" * 64, notes)


def test_locks_and_fetched_files_become_descriptors_once_each() -> None:
    arts = [_art("web", "app.js", {"lock:package-lock.json": LOCK}),
            _art("web", "app.css", {"lock:package-lock.json": LOCK}),
            _art("sdk", "x.whl", {"name": "x", "version": "1",
                                  "fetched:pkg:pypi/flit-core@3.12.0": WHEEL})]
    assert fetched_inputs(arts) == [
        {"uri": "pkg:pypi/flit-core@3.12.0", "digest": {"sha256": WHEEL},
         "annotations": {"stage": "sdk", "role": "fetched"}},
        {"name": "package-lock.json", "digest": {"sha256": LOCK},
         "annotations": {"stage": "web", "role": "lock"}},
    ]


def test_other_annotations_and_malformed_digests_are_not_dependencies() -> None:
    arts = [_art("web", "a", {"lock:x": "not-a-digest", "lock:": LOCK, "oci.digest": LOCK})]
    assert fetched_inputs(arts) == []


def test_descriptors_pass_the_statement_checks() -> None:
    from release.provenance.slsa import _descriptor
    for item in fetched_inputs([_art("web", "a", {"lock:go.sum": LOCK})]):
        assert _descriptor(item) == item
