"""The SLSA Provenance v1 statement builder: structure per the spec, and its refusals."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from release.engine.source import SourceFacts
from release.errors import ReleaseError
from release.provenance.slsa import (
    BUILD_TYPE,
    LOCAL_BUILDER_ID,
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    build_provenance_statement,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "build-type.md"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
URI = re.compile(r"^[a-z][a-z0-9+.-]*:\S+$")


def check_slsa_v1(statement: dict[str, Any]) -> None:
    """The required fields of an in-toto Statement v1 and a SLSA Provenance v1 predicate.

    https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md,
    https://slsa.dev/spec/v1.0/provenance#schema
    """
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    assert statement["subject"], "at least one subject"
    for subject in statement["subject"]:
        assert isinstance(subject["name"], str) and subject["name"]
        assert subject["digest"] and all(re.fullmatch(r"[0-9a-f]+", v)
                                         for v in subject["digest"].values())
    predicate = statement["predicate"]
    assert set(predicate) == {"buildDefinition", "runDetails"}
    build = predicate["buildDefinition"]
    assert URI.match(build["buildType"])
    assert isinstance(build["externalParameters"], dict) and build["externalParameters"]
    for field in ("internalParameters",):
        assert isinstance(build.get(field, {}), dict)
    for dep in build.get("resolvedDependencies", []):
        # a ResourceDescriptor needs one of uri, digest, content
        assert {"uri", "digest", "content"} & set(dep)
        assert "uri" not in dep or URI.match(dep["uri"])
    run = predicate["runDetails"]
    assert URI.match(run["builder"]["id"])
    meta = run.get("metadata", {})
    for key in ("startedOn", "finishedOn"):
        if key in meta:
            assert RFC3339.match(meta[key]), meta[key]


def source(repository: str | None = "octo-org/demo",
           ref: str | None = "refs/tags/v1.0.0") -> SourceFacts:
    return SourceFacts(Path("."), COMMIT, 1767323045, "v1.0.0", "1.0.0", repository, ref,
                       False)


def build(**override: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "subjects": [("tool.tar.gz", "b" * 64), ("tool-1.0-py3-none-any.whl", "a" * 64)],
        "pipeline_file": "release.yaml", "pipeline_sha256": "c" * 64,
        "stages": ["build", "checksums", "provenance"], "source": source(),
        "resolved": [{"uri": "pkg:docker/debian@sha256:" + "d" * 64,
                   "digest": {"sha256": "d" * 64}}],
        "builder_id": "https://github.com/octo-org/demo/.github/workflows/release.yml@refs/tags/"
                   "v1.0.0",
        "invocation_id": "https://github.com/octo-org/demo/actions/runs/1/attempts/1",
        "started": "2026-01-02T03:04:05Z", "finished": "2026-01-02T03:05:06Z",
        "sandboxed": True, "reproducible_checked": True}
    args.update(override)
    return build_provenance_statement(**args)


def test_statement_is_slsa_v1():
    statement = build()
    check_slsa_v1(statement)
    assert statement["_type"] == STATEMENT_TYPE and statement["predicateType"] == PREDICATE_TYPE
    # subjects sorted by name, digests as given
    assert statement["subject"] == [
        {"name": "tool-1.0-py3-none-any.whl", "digest": {"sha256": "a" * 64}},
        {"name": "tool.tar.gz", "digest": {"sha256": "b" * 64}}]
    build_def = statement["predicate"]["buildDefinition"]
    assert build_def["buildType"] == BUILD_TYPE
    assert build_def["externalParameters"] == {
        "pipeline": {"path": "release.yaml", "digest": {"sha256": "c" * 64}},
        "stages": ["build", "checksums", "provenance"],
        "source": {"repository": "octo-org/demo", "ref": "refs/tags/v1.0.0"}}
    assert build_def["internalParameters"]["sandboxed"] is True
    assert build_def["internalParameters"]["reproducibleChecked"] is True
    first, second = build_def["resolvedDependencies"]
    assert first == {"uri": "git+https://github.com/octo-org/demo@refs/tags/v1.0.0",
                     "digest": {"gitCommit": COMMIT}}
    assert second["digest"] == {"sha256": "d" * 64}
    run = statement["predicate"]["runDetails"]
    assert run["metadata"] == {
        "invocationId": "https://github.com/octo-org/demo/actions/runs/1/attempts/1",
        "startedOn": "2026-01-02T03:04:05Z", "finishedOn": "2026-01-02T03:05:06Z"}


def test_local_run_without_repository():
    statement = build(source=source(repository=None, ref=None), builder_id=LOCAL_BUILDER_ID)
    check_slsa_v1(statement)
    dep = statement["predicate"]["buildDefinition"]["resolvedDependencies"][0]
    assert dep == {"name": "source", "digest": {"gitCommit": COMMIT}}
    assert statement["predicate"]["buildDefinition"]["externalParameters"]["source"] == {
        "ref": COMMIT}


def test_build_type_and_builder_id_are_documented():
    text = DOCS.read_text(encoding="utf-8")
    for uri in (BUILD_TYPE, LOCAL_BUILDER_ID):
        page, anchor = uri.split("#")
        assert page.endswith("/docs/build-type.md")
        assert f'<a id="{anchor}"></a>' in text
        assert uri in text
    for field in ("sandboxed", "reproducibleChecked", "sourceDirty", "sourceDateEpoch",
                  "pipeline.digest.sha256", "gitCommit"):
        assert field in text


@pytest.mark.parametrize(("override", "message"), [
    ({"subjects": []}, "needs at least one subject"),
    ({"subjects": [("a", "XYZ")]}, "expected 64 lowercase hex digits"),
    ({"subjects": [("a", "a" * 64), ("a", "b" * 64)]}, "two subjects are named 'a'"),
    ({"pipeline_sha256": "nope"}, "pipeline file sha256"),
    ({"started": "yesterday"}, "is not an RFC 3339 timestamp"),
    ({"finished": "2026-01-02T03:04:05"}, "has no time zone"),
    ({"builder_id": ""}, "the builder id is empty"),
    ({"resolved": [{"uri": "https://example.org/x.tar.gz"}]}, "has no digest"),
    ({"resolved": [{"uri": "x", "digest": {"sha256": "NOT HEX"}}]}, "malformed sha256"),
    ({"source": source(repository="not a repo")}, "is not OWNER/NAME"),
])
def test_bad_input_is_refused(override: dict[str, Any], message: str):
    with pytest.raises(ReleaseError) as info:
        build(**override)
    assert message in info.value.message


def test_same_subject_twice_is_listed_once():
    statement = build(subjects=[("a", "a" * 64), ("a", "a" * 64)])
    assert statement["subject"] == [{"name": "a", "digest": {"sha256": "a" * 64}}]


def test_a_monorepo_folder_is_an_external_parameter():
    """``source.path`` is what the pipeline author chose: an external parameter, present
    only when the release is one folder; the source dependency stays the whole commit."""
    whole = build()["predicate"]["buildDefinition"]
    assert "path" not in whole["externalParameters"]["source"]
    folder = build(source=dataclasses.replace(source(), path="sdk"))["predicate"][
        "buildDefinition"]
    assert folder["externalParameters"]["source"] == {
        "repository": "octo-org/demo", "ref": "refs/tags/v1.0.0", "path": "sdk"}
    assert folder["resolvedDependencies"][0] == whole["resolvedDependencies"][0]
    doc = (Path(__file__).resolve().parents[2] / "docs" / "build-type.md").read_text()
    assert "| `source.path` | string |" in doc
