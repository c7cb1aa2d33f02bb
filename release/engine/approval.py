"""Review binding: act on the world only as a reviewer approved.

A dry-run report (``release run --dry-run --report review.json``) records what the release
is (the pipeline file's digest, repository, tag, version, commit, dirty and sandbox flags),
the plan of every stage that acts on the world (release title and notes, prerelease,
make-latest, registry and tags, signing identity...) and the digest of every artifact the
local stages built. ``release run --approved-plan review.json``:

- refuses ``--allow-dirty`` and a dry-run of a dirty tree: an approval binds a commit;
- before any stage runs, compares every fact and every stage's artifact-independent plan
  (:mod:`release.engine.binding`) and stops, naming each difference;
- before each stage with external effects, compares the artifacts it builds on, byte for
  byte, and every planned step that carries a digest.

A report of an older format binds less, so it is refused rather than half-checked.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from release.engine.binding import RunBinding, show_step, step_from_json, step_json
from release.engine.contract import PlannedAction
from release.engine.manifest import Artifact
from release.errors import ReleaseError, StageFailed, UsageError

if TYPE_CHECKING:
    from release.engine.context import RunState

#: The review.json format this release writes and approves.
FORMAT = 2
_REGENERATE = ("make a new dry-run with this release (`release run PIPELINE --dry-run "
               "--report review.json`) and have it reviewed")


class ApprovalRefused(ReleaseError):
    """The run differs from the approved plan; exit code 1, like a failed check."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint, exit_code=1)


@dataclass(frozen=True)
class ApprovedPlan:
    """An approved dry-run report: its binding, and the artifacts of each built stage."""

    path: Path
    binding: RunBinding
    stages: Mapping[str, Mapping[str, str]]  # stage -> artifact name -> sha256
    #: stage -> (action, target) -> step, for the planned steps that carry a digest
    planned: Mapping[str, Mapping[tuple[str, str], PlannedAction]]
    #: stage -> its status in the dry-run (``success``, ``planned``...)
    statuses: Mapping[str, str]

    @property
    def commit(self) -> str:
        return self.binding.commit

    @classmethod
    def load(cls, path: Path) -> ApprovedPlan:
        hint = "pass the review.json that `release run --dry-run --report` wrote"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ReleaseError(f"cannot read the approved plan {path}: {exc}", hint) from exc
        if not isinstance(data, dict):
            raise ReleaseError(f"cannot read the approved plan {path}: not a JSON object", hint)
        fmt = data.get("format")
        if fmt != FORMAT:
            newer = isinstance(fmt, int) and not isinstance(fmt, bool) and fmt > FORMAT
            raise ReleaseError(
                f"the approved plan {path} has review format {fmt!r}; this release approves "
                f"only format {FORMAT}" + ("" if newer else
                                           ", which also binds the pipeline file, the "
                                           "repository, tag and version, the sandbox and the "
                                           "planned metadata of every external stage"),
                "upgrade release" if newer else _REGENERATE)
        if data.get("dry_run") is not True or data.get("ok") is not True:
            raise ReleaseError(f"{path} is not the report of a successful dry-run",
                               "approve only a dry-run in which every stage succeeded "
                               "or was planned")
        try:
            binding = RunBinding.from_review(data)
            stage_data = data["stages"]
            if not isinstance(stage_data, dict):
                raise TypeError("stages is not an object")
            statuses = {str(sid): str(st["status"]) for sid, st in stage_data.items()}
            stages = {
                sid: {str(a["name"]): str(a["sha256"]) for a in st["artifacts"]}
                for sid, st in stage_data.items()
                if st["artifacts"] or st["status"] == "success"
            }
            planned = {
                sid: {(p.action, p.target): p for p in map(step_from_json, st.get("plan", []))
                      if p.digest}
                for sid, st in stage_data.items()
            }
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            what = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
            raise ReleaseError(f"cannot read the approved plan {path}: {what}", hint) from exc
        if binding.dirty or binding.allow_dirty:
            raise ReleaseError(
                f"the approved plan {path} is a dry-run with --allow-dirty"
                + (" of a working tree with uncommitted changes" if binding.dirty else ""),
                "an approval binds a committed tree: commit the changes, then "
                + _REGENERATE)
        return cls(path, binding, stages, planned, statuses)

    def check_run(self, runner: RunState) -> None:
        """At the start of the run, before any stage: refuse ``--allow-dirty``, then every
        difference in the facts and in the stages' artifact-independent plans."""
        if runner.options.allow_dirty:
            raise UsageError(
                "--approved-plan cannot be combined with --allow-dirty",
                "an approved release is built from the reviewed commit alone: commit or "
                "stash the changes and drop --allow-dirty")
        facts = RunBinding.of(runner, plans=False)
        problems = self.binding.fact_differences(facts)
        # a pipeline that is not the approved one is not built from, even to plan it
        same_pipeline = facts.pipeline_sha256 == self.binding.pipeline_sha256
        now = RunBinding.of(runner, building=same_pipeline)
        problems += self.binding.plan_differences(now)
        if problems:
            raise ApprovalRefused(
                f"refused: this run differs from the approved plan {self.path.name}; no stage "
                "ran and nothing was signed, pushed or published:\n  - "
                + "\n  - ".join(problems),
                "release only what was reviewed: run the approved commit and pipeline as "
                "reviewed, or " + _REGENERATE)

    def check(self, stage: str, built: Iterable[tuple[str, list[Artifact]]],
              plan: Iterable[PlannedAction] = ()) -> None:
        """Before ``stage`` acts on the world: every approved build must match exactly,
        and every step the reviewer saw with a digest must be planned exactly so."""
        problems: list[str] = []
        now = {(p.action, p.target): p for p in plan}
        for key, step in sorted(self.planned.get(stage, {}).items()):
            got = now.get(key)
            if got is None or got.digest != step.digest:
                problems.append(f"{step.action} {step.target}: approved {step.digest}, now "
                                + (got.digest or "no digest" if got else "not planned"))
            elif step_json(got) != step_json(step):
                problems.append(f"approved {show_step(step)}, now {show_step(got)}")
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
                want, got_digest = approved.get(name), have.get(name)
                if want != got_digest:
                    problems.append(f"{source_stage}/{name}: approved "
                                    f"{want or 'nothing'}, built {got_digest or 'nothing'}")
        if problems:
            raise StageFailed(
                f"stage {stage!r} refused: the artifacts differ from the approved plan "
                f"{self.path.name}: " + "; ".join(problems),
                "publish only what was reviewed: rebuild reproducibly, or review a new "
                "dry-run",
            )


def review_fields(binding: RunBinding) -> dict[str, Any]:
    """What review.json adds for the approval besides ``source`` and the stages."""
    return {"format": FORMAT, **binding.review_fields()}
