"""Review binding: publish only what a reviewer approved.

A dry-run report (``release run --dry-run --report review.json``) carries the digest
of every artifact the local stages built. ``release run --approved-plan review.json``
refuses to run a stage with external effects (sign, push, publish) unless the
artifacts it builds on are exactly those of the approved report, byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from release.engine.manifest import Artifact
from release.errors import ReleaseError, StageFailed
from release.stages.base import PlannedAction


@dataclass(frozen=True)
class ApprovedPlan:
    """The artifacts of each locally built stage in an approved report."""

    path: Path
    commit: str
    stages: Mapping[str, Mapping[str, str]]  # stage -> artifact name -> sha256
    #: stage -> (action, target) -> digest, for the planned steps that carry a digest
    planned: Mapping[str, Mapping[tuple[str, str], str]]
    #: stage -> its status in the dry-run (``success``, ``planned``...)
    statuses: Mapping[str, str]

    @classmethod
    def load(cls, path: Path) -> ApprovedPlan:
        hint = "pass the review.json that `release run --dry-run --report` wrote"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("dry_run") is not True or data.get("ok") is not True:
                raise ReleaseError(f"{path} is not the report of a successful dry-run",
                                   "approve only a dry-run in which every stage succeeded "
                                   "or was planned")
            commit = str(data["source"]["commit"])
            statuses = {str(sid): str(st["status"]) for sid, st in data["stages"].items()}
            stages = {
                sid: {str(a["name"]): str(a["sha256"]) for a in st["artifacts"]}
                for sid, st in data["stages"].items()
                if st["artifacts"] or st["status"] == "success"
            }
            planned = {
                sid: {(str(p["action"]), str(p.get("target", ""))): str(p["digest"])
                      for p in st.get("plan", []) if p.get("digest")}
                for sid, st in data["stages"].items()
            }
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ReleaseError(f"cannot read the approved plan {path}: {exc}", hint) from exc
        return cls(path, commit, stages, planned, statuses)

    def check_source(self, commit: str) -> None:
        if commit != self.commit:
            raise ReleaseError(
                f"the approved plan {self.path.name} was made at commit {self.commit}, "
                f"this run builds {commit}",
                "review and approve a dry-run of the commit being released",
            )

    def check(self, stage: str, built: Iterable[tuple[str, list[Artifact]]],
              plan: Iterable[PlannedAction] = ()) -> None:
        """Before ``stage`` acts on the world: every approved build must match exactly,
        and every step the reviewer saw with a digest must be planned with that digest."""
        problems: list[str] = []
        now = {(p.action, p.target): p.digest for p in plan}
        for (action, target), digest in sorted(self.planned.get(stage, {}).items()):
            if now.get((action, target)) != digest:
                problems.append(f"{action} {target}: approved {digest}, "
                                f"now {now.get((action, target)) or 'not planned'}")
        for source_stage, artifacts in built:
            approved = self.stages.get(source_stage)
            if approved is None:
                status = self.statuses.get(source_stage)
                if status == "planned":
                    continue  # what a planned stage makes (signatures) is not known before
                problems.append(f"{source_stage}: built {len(artifacts)} artifact(s), but the "
                                "approved dry-run " + (f"reports it {status}" if status
                                                       else "does not include it"))
                continue
            have = {a.name: a.sha256 for a in artifacts}
            for name in sorted(approved.keys() | have.keys()):
                want, got = approved.get(name), have.get(name)
                if want != got:
                    problems.append(f"{source_stage}/{name}: approved "
                                    f"{want or 'nothing'}, built {got or 'nothing'}")
        if problems:
            raise StageFailed(
                f"stage {stage!r} refused: the artifacts differ from the approved plan "
                f"{self.path.name}: " + "; ".join(problems),
                "publish only what was reviewed: rebuild reproducibly, or review a new "
                "dry-run",
            )
