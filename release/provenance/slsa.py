"""in-toto Statement v1 with a SLSA Provenance v1 predicate, as a plain dict.

Spec: https://slsa.dev/spec/v1.0/provenance and
https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md. The build
type and the local builder id are documented in ``docs/build-type.md``; change
that document and :data:`BUILD_TYPE`'s version together.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from release.errors import ReleaseError

if TYPE_CHECKING:
    from release.engine.source import SourceFacts

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
#: DSSE payload type of an in-toto statement.
PAYLOAD_TYPE = "application/vnd.in-toto+json"
_DOCS = "https://github.com/release-pipeline/release-pipeline/blob/main/docs/build-type.md"
#: What ``externalParameters``/``internalParameters`` mean; versioned by the fragment.
BUILD_TYPE = f"{_DOCS}#v1"
#: ``runDetails.builder.id`` of a run outside GitHub Actions (a maintainer's machine).
LOCAL_BUILDER_ID = f"{_DOCS}#local-builder-v1"

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SHA1 = re.compile(r"^[0-9a-f]{40}$")
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


def build_provenance_statement(
    *,
    subjects: list[tuple[str, str]],
    pipeline_file: str,
    pipeline_sha256: str,
    stages: list[str],
    source: SourceFacts,
    resolved: list[dict[str, Any]],
    builder_id: str,
    invocation_id: str,
    started: str,
    finished: str,
    sandboxed: bool,
    reproducible_checked: bool,
) -> dict[str, Any]:
    """The provenance of one run: ``subjects`` are ``(name, sha256 hex)`` pairs.

    ``resolved`` holds the hash-pinned build inputs as in-toto ResourceDescriptors
    (``{"uri": ..., "digest": {"sha256": ...}}``); the source commit is added first.
    """
    if not subjects:
        raise ReleaseError("a provenance statement needs at least one subject",
                           "give the attest stage the stages that produce artifacts in `needs`")
    seen: dict[str, str] = {}
    for name, digest in subjects:
        if not name:
            raise ReleaseError("a provenance subject has an empty name")
        if not _SHA256.match(digest):
            raise ReleaseError(f"subject {name!r} has sha256 {digest!r}, "
                               "expected 64 lowercase hex digits")
        if seen.setdefault(name, digest) != digest:
            raise ReleaseError(f"two subjects are named {name!r} with different digests",
                               "artifact names must be unique across the attested stages")
    _check_digest("pipeline file", pipeline_sha256)
    for label, stamp in (("started", started), ("finished", finished)):
        _check_time(label, stamp)
    if not builder_id:
        raise ReleaseError("the builder id is empty", f"use {LOCAL_BUILDER_ID} outside Actions")
    if source.repository is not None and not _REPOSITORY.match(source.repository):
        raise ReleaseError(f"source repository {source.repository!r} is not OWNER/NAME")
    if not _SHA1.match(source.commit) and not _SHA256.match(source.commit):
        raise ReleaseError(f"source commit {source.commit!r} is not a git object id")

    ref = source.ref or source.commit
    source_params: dict[str, Any] = {"ref": ref}
    if source.repository:
        source_params = {"repository": source.repository, "ref": ref}
    if source.path != ".":  # a monorepo's folder: the export held that subtree alone
        source_params["path"] = source.path
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": n, "digest": {"sha256": d}} for n, d in sorted(seen.items())],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "pipeline": {"path": pipeline_file, "digest": {"sha256": pipeline_sha256}},
                    "stages": list(stages),
                    "source": source_params,
                },
                "internalParameters": {
                    "sandboxed": sandboxed,
                    "reproducibleChecked": reproducible_checked,
                    "sourceDirty": source.dirty,
                    "sourceDateEpoch": source.epoch,
                },
                "resolvedDependencies": [source_dependency(source),
                                         *(_descriptor(r) for r in resolved)],
            },
            "runDetails": {
                "builder": {"id": builder_id},
                "metadata": {"invocationId": invocation_id, "startedOn": started,
                             "finishedOn": finished},
            },
        },
    }


def source_dependency(source: SourceFacts) -> dict[str, Any]:
    """The source commit as a ResourceDescriptor, in the form GitHub's own builders use.

    ``git+https://github.com/OWNER/REPO@REF`` follows the SPDX download-location
    convention the SLSA GitHub build types use for ``resolvedDependencies``.
    """
    ref = source.ref or source.commit
    entry: dict[str, Any] = {"digest": {"gitCommit": source.commit}}
    if source.repository:
        entry = {"uri": f"git+https://github.com/{source.repository}@{ref}", **entry}
    else:
        # no known repository (a local run outside GitHub): name the source, keep the digest
        entry = {"name": "source", **entry}
    return entry


def _descriptor(item: Mapping[str, Any]) -> dict[str, Any]:
    """Check one resolved input: it must be pinned by a digest to be worth recording."""
    digest = item.get("digest")
    where = item.get("uri") or item.get("name") or repr(dict(item))
    if not isinstance(digest, Mapping) or not digest:
        raise ReleaseError(f"resolved dependency {where} has no digest",
                           "only hash-pinned build inputs belong in resolvedDependencies")
    for algo, value in digest.items():
        if not isinstance(value, str) or not re.fullmatch(r"[0-9a-f]+", value):
            raise ReleaseError(f"resolved dependency {where} has a malformed {algo} digest "
                               f"{value!r}", "digests are lowercase hex")
    if not item.get("uri") and not item.get("name"):
        raise ReleaseError(f"resolved dependency with digest {dict(digest)} has no uri or name")
    return {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in item.items()}


def _check_digest(what: str, value: str) -> None:
    if not _SHA256.match(value):
        raise ReleaseError(f"{what} sha256 {value!r} is not 64 lowercase hex digits")


def _check_time(label: str, stamp: str) -> None:
    # SLSA timestamps are RFC 3339; fromisoformat accepts the "Z" suffix since 3.11
    try:
        parsed = datetime.fromisoformat(stamp)
    except ValueError:
        raise ReleaseError(f"{label} time {stamp!r} is not an RFC 3339 timestamp",
                           "use e.g. 2026-01-02T03:04:05Z") from None
    if parsed.tzinfo is None:
        raise ReleaseError(f"{label} time {stamp!r} has no time zone", "append Z for UTC")
