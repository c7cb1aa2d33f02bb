"""The artifact manifest: the only channel between stages, re-verified at every hand-off.

``OUT/manifests/<stage>.json`` holds what one stage produced; ``OUT/manifest.json``
merges them. A stage run alone (``--stage``) in a CI job reads the manifests of its
needs from the artifacts directory, re-hashes every file, and writes its own.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import stat
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from release.engine import safefs
from release.engine.digest import file_digests
from release.errors import IntegrityError, ReleaseError, StageFailed
from release.filenames import PLAIN_NAME

#: An artifact's name: a plain file name (it becomes an asset's name and a SHA256SUMS line).
ARTIFACT_NAME = PLAIN_NAME

MANIFEST = "manifest.json"
STAGE_MANIFESTS = "manifests"
#: Stage ids that would make a stage's folder (``OUT/<id>``) one of the engine's.
RESERVED_STAGE_IDS = frozenset({STAGE_MANIFESTS})
FORMAT = 1
#: Largest manifest read: tens of thousands of artifacts fit; a hostile one cannot
#: exhaust memory.
MAX_MANIFEST = 16 * 1024 * 1024
#: The modes an artifact may have: set-id bits and write access for others are dropped,
#: and an executable stays executable.
MODES = (0o644, 0o755)


@dataclass(frozen=True)
class Artifact:
    """One recorded output: ``path`` is relative to the run's output directory."""

    name: str
    kind: str
    stage: str
    path: str
    size: int
    sha256: str
    annotations: Mapping[str, str] = field(default_factory=dict)
    mode: int = 0o644

    def resolve(self, root: Path) -> Path:
        return root / self.path

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "kind": self.kind, "stage": self.stage,
                                "path": self.path, "size": self.size, "sha256": self.sha256,
                                "mode": f"{self.mode:04o}"}
        if self.annotations:
            data["annotations"] = dict(sorted(self.annotations.items()))
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> Artifact:
        try:
            art = cls(str(data["name"]), str(data["kind"]), str(data["stage"]),
                      str(data["path"]), int(data["size"]), str(data["sha256"]),
                      {str(k): str(v) for k, v in dict(data.get("annotations", {})).items()},
                      int(str(data.get("mode", "0644")), 8))
        except (KeyError, TypeError, ValueError) as exc:
            raise ReleaseError(f"malformed artifact entry in {where}: {exc}",
                               "regenerate the artifacts with `release run`") from exc
        if art.mode not in MODES:
            raise ReleaseError(f"artifact {art.name!r} in {where} has mode {art.mode:04o}",
                               "the manifest was tampered with: artifacts are 0644 or 0755")
        parts = Path(art.path).parts
        if not ARTIFACT_NAME.match(art.name) or Path(art.path).name != art.name:
            raise ReleaseError(f"artifact name {art.name!r} in {where} is not the plain file "
                               f"name of {art.path!r}", "the manifest was tampered with")
        if Path(art.path).is_absolute() or ".." in parts or not parts or parts[0] != art.stage:
            raise ReleaseError(f"artifact path {art.path!r} in {where} is outside stage "
                               f"{art.stage!r}'s directory", "the manifest was tampered with")
        return art


def select(artifacts: Iterable[Artifact], include: Iterable[str],
           exclude: Iterable[str] = ()) -> list[Artifact]:
    """The artifacts whose names match a glob of ``include`` and none of ``exclude``,
    sorted by name (bytewise, as ``sha256sum`` lists them)."""
    inc, exc = list(include), list(exclude)
    return sorted((a for a in artifacts
                   if any(fnmatch.fnmatchcase(a.name, p) for p in inc)
                   and not any(fnmatch.fnmatchcase(a.name, p) for p in exc)),
                  key=lambda a: a.name.encode())


def ensure_unique_names(artifacts: Iterable[Artifact], hint: str) -> None:
    """Two artifacts with one name would overwrite each other as files or assets."""
    counts = Counter(a.name for a in artifacts)
    if dup := sorted(n for n, c in counts.items() if c > 1):
        raise StageFailed(f"two artifacts are named {dup[0]!r}", hint)


def verify(root: Path, artifacts: Iterable[Artifact]) -> None:
    """Re-hash every artifact; any difference stops the run and names both digests.

    No part of an artifact's path below ``root`` may be a link: a stage folder linked
    elsewhere is tampering, even when the files it leads to have the recorded digests.
    """
    arts = list(artifacts)
    check_paths(root, arts)
    for art, digest in zip(arts, file_digests(a.resolve(root) for a in arts), strict=True):
        if digest != art.sha256:
            raise IntegrityError(
                f"artifact {art.path} changed after stage {art.stage!r} produced it: "
                f"recorded sha256 {art.sha256}, found {digest}",
                "an artifact was modified between stages; rebuild from a clean state",
            )


def check_paths(root: Path, artifacts: Iterable[Artifact]) -> None:
    """Every artifact is a regular file under ``root``, reached through real folders."""
    for art in artifacts:
        if not _real_file(root, art.path):
            raise IntegrityError(f"artifact {art.path} from stage {art.stage!r} is missing, "
                                 "not a regular file, or reached through a symlink",
                                 "hand over the stage's outputs unchanged")


def _real_file(root: Path, rel: str) -> bool:
    """Whether ``root/rel`` is a regular file reached through real folders only."""
    here = root
    parts = Path(rel).parts
    try:
        for i, part in enumerate(parts):
            here = here / part
            mode = here.lstat().st_mode
            if not (stat.S_ISREG(mode) if i == len(parts) - 1 else stat.S_ISDIR(mode)):
                return False
    except OSError:
        return False
    return bool(parts)


def write_stage_manifest(out_root: Path, stage: str, artifacts: list[Artifact]) -> str:
    """Write the manifest of ``stage``; returns the sha256 of the bytes written."""
    folder = out_root / STAGE_MANIFESTS
    safefs.make_folder(folder)
    data = {"format": FORMAT, "stage": stage, "artifacts": [a.to_json() for a in artifacts]}
    return hashlib.sha256(_write_json(folder, f"{stage}.json", data)).hexdigest()


def _stage_manifest_bytes(root: Path, stage: str) -> bytes | None:
    """The manifest of ``stage`` under ``root``, or None when there is none."""
    rel = f"{STAGE_MANIFESTS}/{stage}.json"
    if not (root / rel).exists() and not (root / rel).is_symlink():
        return None
    if not _real_file(root, rel):
        raise IntegrityError(f"{root / rel} is not a regular file in a real folder",
                             "the artifacts were tampered with; do not release from them")
    return safefs.read_bounded(root / rel, MAX_MANIFEST)


def check_stage_manifest(root: Path, stage: str, sha256: str) -> None:
    """The manifest handed over for ``stage`` is the one its job reported, byte for byte."""
    data = _stage_manifest_bytes(root, stage)
    found = "nothing" if data is None else hashlib.sha256(data).hexdigest()
    if found != sha256:
        raise IntegrityError(
            f"the manifest of stage {stage!r} in {root} is not the one its job reported: "
            f"expected sha256 {sha256}, found {found}",
            "the artifacts were replaced between jobs; do not release from this run")


def read_stage_manifest(root: Path, stage: str) -> list[Artifact]:
    where = str(root / STAGE_MANIFESTS / f"{stage}.json")
    raw = _stage_manifest_bytes(root, stage)
    if raw is None:
        raise ReleaseError(f"no manifest for stage {stage!r} in {root}",
                           f"download the artifacts of stage {stage!r} into {root}")
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError as exc:
        raise ReleaseError(f"cannot read {where}: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("stage") != stage:
        raise ReleaseError(f"{where} is not a manifest of stage {stage!r}")
    arts = [Artifact.from_json(a, where) for a in data.get("artifacts", [])]
    for art in arts:
        if art.stage != stage:
            raise ReleaseError(f"{where} lists an artifact of stage {art.stage!r}")
    return arts


def write_manifest(out_root: Path, meta: Mapping[str, Any],
                   artifacts: Iterable[Artifact]) -> Path:
    """The merged manifest of a run: metadata and every artifact, sorted by path."""
    arts = sorted(artifacts, key=lambda a: a.path)
    _write_json(out_root, MANIFEST,
                {"format": FORMAT, **meta, "artifacts": [a.to_json() for a in arts]})
    return out_root / MANIFEST


def _write_json(folder: Path, name: str, data: Any) -> bytes:
    """Write ``data`` as ``folder/name``; returns the bytes written."""
    raw = (json.dumps(data, indent=2, sort_keys=False) + "\n").encode("utf-8")
    safefs.write_file(folder, name, raw)
    return raw
