"""The artifact manifest: the only channel between stages, re-verified at every hand-off.

``OUT/manifests/<stage>.json`` holds what one stage produced; ``OUT/manifest.json``
merges them. A stage run alone (``--stage``) in a CI job reads the manifests of its
needs from the artifacts directory, re-hashes every file, and writes its own.
"""

from __future__ import annotations

import fnmatch
import json
import re
import stat
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from release.engine.digest import file_digests
from release.errors import IntegrityError, ReleaseError, StageFailed

#: An artifact's name: it becomes a release asset's name and a line of SHA256SUMS, so
#: plain characters only (no newline, no slash), as GitHub keeps asset names.
ARTIFACT_NAME = re.compile(r"^(?!\.\.?$)[A-Za-z0-9._+-]{1,255}$")

MANIFEST = "manifest.json"
STAGE_MANIFESTS = "manifests"
FORMAT = 1


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

    def resolve(self, root: Path) -> Path:
        return root / self.path

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "kind": self.kind, "stage": self.stage,
                                "path": self.path, "size": self.size, "sha256": self.sha256}
        if self.annotations:
            data["annotations"] = dict(sorted(self.annotations.items()))
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> Artifact:
        try:
            art = cls(str(data["name"]), str(data["kind"]), str(data["stage"]),
                      str(data["path"]), int(data["size"]), str(data["sha256"]),
                      {str(k): str(v) for k, v in dict(data.get("annotations", {})).items()})
        except (KeyError, TypeError, ValueError) as exc:
            raise ReleaseError(f"malformed artifact entry in {where}: {exc}",
                               "regenerate the artifacts with `release run`") from exc
        parts = Path(art.path).parts
        if not ARTIFACT_NAME.match(art.name) or Path(art.path).name != art.name:
            raise ReleaseError(f"artifact name {art.name!r} in {where} is not the plain file "
                               f"name of {art.path!r}", "the manifest was tampered with")
        if Path(art.path).is_absolute() or ".." in parts or not parts or parts[0] != art.stage:
            raise ReleaseError(f"artifact path {art.path!r} in {where} is outside stage "
                               f"{art.stage!r}'s directory", "the manifest was tampered with")
        return art


def record_outputs(out_root: Path, stage: str, outputs: Iterable[tuple[str, str,
                                                                       Mapping[str, str]]]
                   ) -> list[Artifact]:
    """Check and hash what a stage wrote: regular files inside its own directory only."""
    stage_dir = (out_root / stage).resolve()
    checked: list[tuple[Path, str, str, Mapping[str, str]]] = []
    for rel, kind, notes in outputs:
        path = stage_dir / rel
        try:
            st = path.lstat()
        except FileNotFoundError:
            raise StageFailed(f"stage {stage!r} did not produce its declared output {rel!r}",
                              "check the command writes to {out}") from None
        if stat.S_ISLNK(st.st_mode):
            raise StageFailed(f"stage {stage!r} output {rel!r} is a symlink",
                              "outputs must be regular files")
        real = path.resolve()
        if not real.is_relative_to(stage_dir):
            raise StageFailed(f"stage {stage!r} output {rel!r} resolves outside its directory")
        if not stat.S_ISREG(st.st_mode):
            raise StageFailed(f"stage {stage!r} output {rel!r} is not a regular file")
        if not ARTIFACT_NAME.match(real.name):
            raise StageFailed(f"stage {stage!r} output {rel!r} has a name that cannot be an "
                              "artifact's", "use letters, digits and . _ + - only")
        relpath = real.relative_to(out_root.resolve()).as_posix()
        checked.append((real, relpath, kind, notes))
    digests = file_digests(p for p, *_ in checked)
    arts = [Artifact(Path(rel).name, kind, stage, rel, p.stat().st_size, d, dict(notes))
            for (p, rel, kind, notes), d in zip(checked, digests, strict=True)]
    ensure_unique_names(arts, "artifact names become release asset names and must be unique")
    return sorted(arts, key=lambda a: a.path)


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


def remove_undeclared(out_root: Path, stage: str, artifacts: list[Artifact]) -> list[str]:
    """Delete what a stage left in its folder besides its outputs (scratch files, links).

    The folder is handed on whole (a CI job uploads it): it must hold exactly what the
    manifest lists, and never a symlink to a file of the machine.
    """
    keep = {out_root / a.path for a in artifacts}
    removed = []
    for path in sorted((out_root / stage).rglob("*"), reverse=True):
        if path in keep:
            continue
        if path.is_dir() and not path.is_symlink():
            if not any(path.iterdir()):
                path.rmdir()
            continue
        path.unlink()
        removed.append(path.relative_to(out_root).as_posix())
    return sorted(removed)


def verify(root: Path, artifacts: Iterable[Artifact]) -> None:
    """Re-hash every artifact; any difference stops the run and names both digests."""
    arts = list(artifacts)
    paths = [a.resolve(root) for a in arts]
    for art, path in zip(arts, paths, strict=True):
        inside = path.resolve().is_relative_to((root / art.stage).resolve())
        if path.is_symlink() or not path.is_file() or not inside:
            raise IntegrityError(f"artifact {art.path} from stage {art.stage!r} is missing or "
                                 "not a regular file", "hand over the stage's outputs unchanged")
    for art, digest in zip(arts, file_digests(paths), strict=True):
        if digest != art.sha256:
            raise IntegrityError(
                f"artifact {art.path} changed after stage {art.stage!r} produced it: "
                f"recorded sha256 {art.sha256}, found {digest}",
                "an artifact was modified between stages; rebuild from a clean state",
            )


def write_stage_manifest(out_root: Path, stage: str, artifacts: list[Artifact]) -> None:
    folder = out_root / STAGE_MANIFESTS
    folder.mkdir(parents=True, exist_ok=True)
    _write_json(folder / f"{stage}.json",
                {"format": FORMAT, "stage": stage, "artifacts": [a.to_json() for a in artifacts]})


def check_stage_manifest(root: Path, stage: str, sha256: str) -> None:
    """The manifest handed over for ``stage`` is the one its job reported, byte for byte."""
    path = root / STAGE_MANIFESTS / f"{stage}.json"
    found = file_digests([path])[0] if path.is_file() else "nothing"
    if found != sha256:
        raise IntegrityError(
            f"the manifest of stage {stage!r} in {root} is not the one its job reported: "
            f"expected sha256 {sha256}, found {found}",
            "the artifacts were replaced between jobs; do not release from this run")


def read_stage_manifest(root: Path, stage: str) -> list[Artifact]:
    path = root / STAGE_MANIFESTS / f"{stage}.json"
    where = str(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReleaseError(f"no manifest for stage {stage!r} in {root}",
                           f"download the artifacts of stage {stage!r} into {root}") from None
    except (OSError, ValueError) as exc:
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
    path = out_root / MANIFEST
    _write_json(path, {"format": FORMAT, **meta, "artifacts": [a.to_json() for a in arts]})
    return path


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(path)
