"""What an approval binds besides the artifacts' bytes: which release, from what, and where.

A dry-run records these facts in ``review.json``; ``release run --approved-plan`` computes
them again before any stage runs and refuses any difference (:mod:`release.engine.approval`).
None of them needs a built artifact: the pipeline file's digest, the repository, tag,
version and commit, the dirty and sandbox flags, and the plan of every stage that a
dry-run only plans (it acts on the world or reads a credential), made before any artifact
exists: release title and notes, prerelease, make-latest, image registry and tags,
signing instance and identity, the API it talks to and the token it uses.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from release.engine.context import ContextScope
from release.engine.contract import BuildsInDryRun, Effect, PlannedAction, StageConfig, StageKind
from release.engine.dag import topological_order
from release.engine.runners import skipped_here
from release.errors import ReleaseError

if TYPE_CHECKING:
    from release.engine.context import RunState

STEP_FIELDS = ("action", "target", "digest", "permission", "identity")


def step_json(step: PlannedAction) -> dict[str, str]:
    """A planned step as JSON: its non-empty fields (the shape review.json uses)."""
    return {name: value for name in STEP_FIELDS if (value := getattr(step, name))}


def step_from_json(data: object) -> PlannedAction:
    if (not isinstance(data, dict) or not isinstance(data.get("action"), str)
            or set(data) - set(STEP_FIELDS)
            or not all(isinstance(v, str) for v in data.values())):
        raise ValueError(f"not a planned step: {data!r}")
    return PlannedAction(**data)


def show_step(step: PlannedAction) -> str:
    extra = [step.digest or "", f"needs {step.permission}" if step.permission else "",
             f"as {step.identity}" if step.identity else ""]
    detail = "; ".join(e for e in extra if e)
    return f"{step.action} {step.target}".rstrip() + (f" ({detail})" if detail else "")


def planned_in_dry_run(kind: StageKind[Any], config: StageConfig) -> bool:
    """Whether a dry-run plans the stage instead of running it (as the runner decides)."""
    return kind.effects(config) is Effect.EXTERNAL or bool(kind.secret_variables(config))


def builds_when_planned(kind: StageKind[Any], config: StageConfig) -> bool:
    """Whether planning the stage without inputs may build, and so read the network (an
    image of its base alone pulls the base). A kind that builds in a dry-run builds in its
    plan only from its needs' artifacts, or from nothing when it has no needs."""
    return (isinstance(kind, BuildsInDryRun) and kind.builds_in_dry_run(config)
            and not config.needs)


@dataclass(frozen=True)
class StagePlan:
    """A stage's plan made before any artifact exists: everything but the artifacts."""

    kind: str
    steps: tuple[PlannedAction, ...]

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "steps": [step_json(s) for s in self.steps]}

    @classmethod
    def from_json(cls, data: object) -> StagePlan:
        if not isinstance(data, dict) or not isinstance(data.get("kind"), str) \
                or not isinstance(data.get("steps"), list):
            raise ValueError(f"not a stage plan: {data!r}")
        return cls(data["kind"], tuple(step_from_json(s) for s in data["steps"]))


def static_plan(runner: RunState, stage: str) -> tuple[PlannedAction, ...]:
    """The stage's plan with no inputs: what it does independently of the artifacts.

    A plan reads no credential (its context is a dry one) and changes nothing; a plan
    that cannot be made says why, and that text is compared like any step.
    """
    kind = runner.pipeline.kind(stage)
    try:
        with ContextScope(runner, stage, False, runner.options.out) as ctx:
            return tuple(kind.plan(dataclasses.replace(ctx, inputs=())))
    except ReleaseError as exc:
        return (PlannedAction("cannot plan", exc.message),)


@dataclass(frozen=True)
class RunBinding:
    """The facts of a run that an approval binds, besides the artifacts' digests."""

    pipeline_file: str
    pipeline_sha256: str
    repository: str | None
    tag: str | None
    version: str
    commit: str
    dirty: bool
    allow_dirty: bool
    #: the folder released (``source.path``): an approval of ``sdk`` is not one of ``cli``
    path: str
    sandbox: bool
    #: stage -> its plan before any artifact exists, for every stage a dry-run plans
    stages: Mapping[str, StagePlan]
    #: the run covers only some stages (``--stage``): others are not compared
    partial: bool = False
    #: stage -> kind, for the stages whose plan was deliberately not made (see :meth:`of`)
    unplanned: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: stage -> why this host does not build it (its runner is macOS, Windows...): an
    #: approval covers none of their artifacts, so the approved run must skip the same
    skipped_here: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def of(cls, runner: RunState, *, plans: bool = True, building: bool = True) -> RunBinding:
        """The binding of ``runner``'s run; ``plans=False`` gives the facts alone, and
        ``building=False`` leaves out the stages whose plan may build (and so read a
        registry), for a pipeline that is not the approved one."""
        src, opts, pipeline = runner.source, runner.options, runner.pipeline
        every = list(pipeline.model.stages)
        scope = [s for s in every if s in opts.stages] if opts.stages else every
        stages: dict[str, StagePlan] = {}
        unplanned: dict[str, str] = {}
        for sid in scope if plans else ():
            kind, config = pipeline.kind(sid), pipeline.config(sid)
            if not planned_in_dry_run(kind, config):
                continue
            if not building and builds_when_planned(kind, config):
                unplanned[sid] = kind.kind
                continue
            stages[sid] = StagePlan(kind.kind, static_plan(runner, sid))
        return cls(
            pipeline_file=runner.facts().pipeline_file,
            # the bytes that were loaded and are being run, not the file as it is now
            pipeline_sha256=hashlib.sha256(pipeline.text.encode("utf-8")).hexdigest(),
            repository=src.repository, tag=src.tag, version=src.version, commit=src.commit,
            dirty=src.dirty, allow_dirty=opts.allow_dirty, path=src.path, sandbox=opts.sandbox,
            stages=stages, partial=bool(opts.stages), unplanned=unplanned,
            skipped_here={s: why for s, why in _skipped_here(runner).items() if s in scope})

    # -- review.json ----------------------------------------------------------------
    def review_fields(self) -> dict[str, Any]:
        """The top-level fields of review.json that hold this binding (besides ``source``)."""
        return {"sandbox": self.sandbox, "allow_dirty": self.allow_dirty,
                "bound_plans": {sid: plan.to_json() for sid, plan in self.stages.items()},
                "skipped_here": dict(self.skipped_here)}

    @classmethod
    def from_review(cls, data: Mapping[str, Any]) -> RunBinding:
        """Read the binding back from a review.json; a missing or mistyped field is a
        ``ValueError`` that names it."""
        pipeline, source = _field(data, "pipeline", dict), _field(data, "source", dict)
        plans = _field(data, "bound_plans", dict)
        return cls(
            pipeline_file=_field(pipeline, "file", str, "pipeline."),
            pipeline_sha256=_field(pipeline, "sha256", str, "pipeline."),
            repository=_field(source, "repository", (str, type(None)), "source."),
            tag=_field(source, "tag", (str, type(None)), "source."),
            version=_field(source, "version", str, "source."),
            commit=_field(source, "commit", str, "source."),
            dirty=_field(source, "dirty", bool, "source."),
            allow_dirty=_field(data, "allow_dirty", bool),
            # reviews made before `source.path` existed released the whole repository
            path=_field({"path": ".", **source}, "path", str, "source."),
            sandbox=_field(data, "sandbox", bool),
            stages={str(sid): StagePlan.from_json(plan) for sid, plan in plans.items()},
            # reports from before build matrices skipped nothing for the host
            skipped_here={str(k): str(v) for k, v in
                          _field({"skipped_here": {}, **data}, "skipped_here", dict).items()})

    # -- comparison -----------------------------------------------------------------
    def fact_differences(self, now: RunBinding) -> list[str]:
        """``field: approved X, now Y`` for each fact (not plan) that differs."""
        found = []
        if (self.pipeline_file, self.pipeline_sha256) != (now.pipeline_file,
                                                          now.pipeline_sha256):
            found.append(f"pipeline file: approved {self.pipeline_file} (sha256 "
                         f"{self.pipeline_sha256}), now {now.pipeline_file} (sha256 "
                         f"{now.pipeline_sha256})")
        for name, approved, current in (
                ("repository", self.repository, now.repository),
                ("source.path", self.path, now.path), ("tag", self.tag, now.tag),
                ("version", self.version, now.version), ("commit", self.commit, now.commit),
                ("dirty", self.dirty, now.dirty), ("sandbox", self.sandbox, now.sandbox)):
            if approved != current:
                found.append(f"{name}: approved {_show(approved)}, now {_show(current)}"
                             + (" (--no-sandbox)" if name == "sandbox" and not current else ""))
        if sorted(self.skipped_here) != sorted(now.skipped_here):
            found.append("stages not built on the host: approved "
                         f"{', '.join(sorted(self.skipped_here)) or 'none'}, now "
                         f"{', '.join(sorted(now.skipped_here)) or 'none'} (an approval covers "
                         "only what its dry-run built)")
        return found

    def plan_differences(self, now: RunBinding) -> list[str]:
        """One line per difference in the plan of a stage (``now`` decides the scope)."""
        found = []
        order = [*now.stages, *now.unplanned]
        if not now.partial:
            order += [s for s in self.stages if s not in order]
        for sid in order:
            approved, current = self.stages.get(sid), now.stages.get(sid)
            known = current or approved
            label = f"stage {sid!r} ({known.kind if known else now.unplanned.get(sid)})"
            if sid in now.unplanned:
                found.append(f"{label}: plan not compared: the pipeline file differs, and "
                             "planning this stage would build it (reading a registry)")
            elif approved is None:
                found.append(f"{label}: the approved dry-run does not plan it")
            elif current is None:
                found.append(f"{label}: approved, but this run does not plan it")
            elif approved.kind != current.kind:
                found.append(f"{label}: approved kind {approved.kind}")
            else:
                found += step_differences(label, approved.steps, current.steps)
        return found


def _skipped_here(runner: RunState) -> dict[str, str]:
    pipeline = runner.pipeline
    return skipped_here(topological_order(pipeline.needs), pipeline.needs,
                        {s: c.runs_on for s, c in pipeline.model.stages.items()})


def step_differences(label: str, approved: tuple[PlannedAction, ...],
                     current: tuple[PlannedAction, ...]) -> list[str]:
    """Steps are paired by action (the n-th ``move tag`` with the n-th), then by field."""
    groups: dict[str, tuple[list[PlannedAction], list[PlannedAction]]] = {}
    for side, steps in enumerate((approved, current)):
        for step in steps:
            groups.setdefault(step.action, ([], []))[side].append(step)
    found = []
    for action, (was, now) in groups.items():
        for i in range(max(len(was), len(now))):
            a = was[i] if i < len(was) else None
            b = now[i] if i < len(now) else None
            where = f"{label}: {action!r}" + (f" #{i + 1}" if max(len(was), len(now)) > 1
                                              else "")
            if a is None:
                assert b is not None
                found.append(f"{where}: approved nothing, now {show_step(b)}")
            elif b is None:
                found.append(f"{where}: approved {show_step(a)}, now not planned")
            elif step_json(a) != step_json(b):
                found += [f"{where}: {name} approved {_show(getattr(a, name))}, "
                          f"now {_show(getattr(b, name))}"
                          for name in STEP_FIELDS[1:]
                          if (getattr(a, name) or None) != (getattr(b, name) or None)]
    return found


def _show(value: object) -> str:
    if value is None or value == "":
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _field(data: Mapping[str, Any], name: str, types: type | tuple[type, ...],
           where: str = "") -> Any:
    if name not in data:
        raise ValueError(f"missing field {where}{name}")
    value = data[name]
    if not isinstance(value, types):
        raise ValueError(f"field {where}{name} has the wrong type: {value!r}")
    return value
