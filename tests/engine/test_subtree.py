"""``source.path`` and prefixed tags: normalisation, versions, and what an approval binds."""

from __future__ import annotations

import dataclasses

import pytest

from release.engine.binding import RunBinding
from release.engine.subtree import check_path, tag_prefix, tag_version


@pytest.mark.parametrize(("given", "normal"), [
    (".", "."), ("./", "."), ("sdk", "sdk"), ("./sdk/", "sdk"), ("go//sdk", "go/sdk")])
def test_paths_are_normalised(given: str, normal: str) -> None:
    assert check_path(given) == normal


@pytest.mark.parametrize("bad", ["", " sdk", "..", "a/../b", "/abs", "a\\b", "a\nb"])
def test_bad_paths_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match=r"source\.path"):
        check_path(bad)


@pytest.mark.parametrize(("tag", "pattern", "version"), [
    ("v1.2.3", "v*", "1.2.3"),
    ("v1.2.3", "*", "1.2.3"),
    ("sdk/v1.2.3", "sdk/v*", "1.2.3"),
    ("sdk/v1.2.3", "sdk/*", "1.2.3"),
    ("release-2.0", "release-*", "2.0"),
    ("sdk/v1.2.3", "sdk/v[0-9]*", "1.2.3"),
    ("stable", "stable", "stable"),
])
def test_the_version_follows_the_literal_start_of_the_glob(tag: str, pattern: str,
                                                            version: str) -> None:
    assert tag_version(tag, pattern) == version


def test_tag_prefix() -> None:
    assert tag_prefix("sdk/v*") == "sdk/v"
    assert tag_prefix("v?.*") == "v"


def _binding(path: str) -> RunBinding:
    return RunBinding(pipeline_file="release.yaml", pipeline_sha256="0" * 64,
                      repository="o/r", tag="sdk/v1.0.0", version="1.0.0", commit="a" * 40,
                      dirty=False, allow_dirty=False, path=path, sandbox=True, stages={})


def _review(binding: RunBinding) -> dict[str, object]:
    return {"pipeline": {"file": binding.pipeline_file, "sha256": binding.pipeline_sha256},
            "source": {"repository": binding.repository, "tag": binding.tag,
                       "version": binding.version, "commit": binding.commit,
                       "dirty": binding.dirty, "path": binding.path},
            "allow_dirty": False, "sandbox": True, "bound_plans": {}}


def test_an_approval_of_one_folder_does_not_authorise_another() -> None:
    approved = RunBinding.from_review(_review(_binding("sdk")))
    assert approved.path == "sdk"
    assert approved.fact_differences(_binding("sdk")) == []
    assert approved.fact_differences(_binding("cli")) == [
        "source.path: approved sdk, now cli"]


def test_a_review_from_before_source_path_approved_the_whole_repository() -> None:
    data = _review(_binding("."))
    del data["source"]["path"]  # type: ignore[attr-defined]
    approved = RunBinding.from_review(data)
    assert approved.fact_differences(_binding(".")) == []
    assert approved.fact_differences(dataclasses.replace(_binding("."), path="sdk"))
    data["source"]["path"] = 3  # type: ignore[index]
    with pytest.raises(ValueError, match=r"source\.path has the wrong type"):
        RunBinding.from_review(data)
