"""Hash-pinned inputs a run fetched, as in-toto ResourceDescriptors for provenance.

Stages that fetch record what they pinned in their artifacts' annotations, so the facts
travel with the manifest across jobs and runners (docs/build-type.md,
``resolvedDependencies``):

- ``lock:PATH`` = sha256: a committed lock a ``command`` stage's ``fetch:`` was pinned by;
- ``fetched:URI`` = sha256: one file the fetch phase downloaded, named by a package URL
  (python-dist's build requirements: ``pkg:pypi/NAME@VERSION``, the wheel's sha256).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from release.engine.manifest import Artifact

LOCK = "lock:"
FETCHED = "fetched:"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def fetched_inputs(artifacts: Iterable[Artifact]) -> list[dict[str, Any]]:
    """The descriptors of every lock and fetched file the artifacts' stages recorded,
    once each, in a stable order (by stage, then name)."""
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    for art in artifacts:
        for key, value in art.annotations.items():
            if not _HEX64.match(value):
                continue
            if key.startswith(LOCK) and len(key) > len(LOCK):
                path = key[len(LOCK):]
                found[(art.stage, "1", path)] = {
                    "name": path, "digest": {"sha256": value},
                    "annotations": {"stage": art.stage, "role": "lock"}}
            elif key.startswith(FETCHED) and len(key) > len(FETCHED):
                uri = key[len(FETCHED):]
                found[(art.stage, "2", uri)] = {
                    "uri": uri, "digest": {"sha256": value},
                    "annotations": {"stage": art.stage, "role": "fetched"}}
    return [found[k] for k in sorted(found)]
