"""Which stages run in which job of the generated workflow.

A *unit* is what used to be one job: a stage run for real (``release``), its review
(``review``, a dry-run before the approval) or its dispatch dry-run (``dry-run``). Units
that hold no credential (no permission, no secret, no GitHub token, no environment, no
signing key file), are not ``sandbox: true`` and share a Linux runner gain nothing from
separate runners: the engine already isolates each stage in its own sandbox, and every
job pays a runner, a checkout and an install. They are packed into one job, as long as
the jobs still form a DAG: with ``a -> b (credential) -> c``, ``a`` and ``c`` cannot
share a job, since that job would both come before and after ``b``'s. Stages on macOS
run without bubblewrap, so nothing keeps one from rewriting another's outputs: each
keeps a job (a fresh runner) of its own. ``jobs: per-stage`` keeps one unit per job.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from release.workflows.facts import StageFacts

#: Job ids of packed jobs (a stage of that id is refused by the generator).
PACKED = "packed"
_PREFIX = {"release": "", "review": "review-", "dry-run": "dry-run-"}


@dataclass(frozen=True)
class Unit:
    """One stage in one mode; ``needs`` are unit ids."""

    mode: str
    stage: str
    needs: tuple[str, ...]

    @property
    def id(self) -> str:
        return _PREFIX[self.mode] + self.stage


@dataclass(frozen=True)
class Job:
    """One job of the workflow: its units in the order they run, and the jobs it needs."""

    id: str
    units: tuple[Unit, ...]
    needs: tuple[str, ...]
    runner: str | list[str]

    @property
    def packed(self) -> bool:
        return len(self.units) > 1

    def stages(self, mode: str) -> list[str]:
        return [u.stage for u in self.units if u.mode == mode]


def units(facts: Mapping[str, StageFacts], event: str,
          dry_run: Sequence[str] = ()) -> list[Unit]:
    """The units of ``event`` (``push``, or ``workflow_dispatch`` over the stages
    ``dry_run``), each after the units it needs, otherwise in pipeline order."""
    listed: list[Unit] = []
    if event == "push":
        for f in facts.values():
            if f.reviewed:
                listed.append(Unit("review", f.stage, f.needs))
            own = (f"review-{f.stage}",) if f.reviewed else ()
            listed.append(Unit("release", f.stage, f.needs + own))
    else:
        listed = [Unit("dry-run", s, tuple(f"dry-run-{n}" for n in facts[s].needs))
                  for s in dry_run]
    ordered: list[Unit] = []
    done: set[str] = set()
    while len(ordered) < len(listed):
        unit = next(u for u in listed if u.id not in done and set(u.needs) <= done)
        ordered.append(unit)
        done.add(unit.id)
    return ordered


def packable(unit: Unit, f: StageFacts) -> bool:
    """Whether the unit's job would hold no credential and no sandbox of its own, on a
    runner where the engine sandboxes each stage (without bubblewrap, on macOS, stages of
    one job could rewrite each other's outputs: each keeps a fresh runner)."""
    if f.sandboxed or f.system != "linux" or f.key:
        return False
    if unit.mode != "release":
        return not f.read_only  # dry-runs never get secrets, a token or an environment
    return not (f.permissions or f.secrets or f.token or f.protected or f.environment)


def job_graph(facts: Mapping[str, StageFacts], event: str,
              runner: Callable[[StageFacts], str | list[str]],
              *, per_stage: bool = False, dry_run: Sequence[str] = ()) -> list[Job]:
    """The jobs of ``event``, packed unless ``per_stage``, in an order where every job
    comes after the jobs it needs; ``runner`` gives a stage's runner (only units with the
    same runner share a job)."""
    order = units(facts, event, dry_run)
    group: dict[str, int] = {}  # unit id -> group index
    members: list[list[Unit]] = []
    open_groups: list[bool] = []  # whether a group may take more units
    after: list[set[int]] = []  # group -> the groups it needs, updated as units join
    for unit in order:
        f = facts[unit.stage]
        chosen = None
        if not per_stage and packable(unit, f):
            # joining g makes g need the groups of the unit's needs: refused if g already
            # comes before one of them, as that would close a cycle of jobs
            forbidden = {g for g in range(len(members))
                         if any(_reaches(after, group[n], g) for n in unit.needs
                                if group[n] != g)}
            chosen = _choose(unit, group, open_groups, forbidden,
                             [runner(facts[m[0].stage]) == runner(f) for m in members])
        if chosen is None:
            chosen = len(members)
            members.append([])
            after.append(set())
            # a review joins a job that builds what it reviews; it opens none of its own
            open_groups.append(not per_stage and packable(unit, f) and unit.mode != "review")
        members[chosen].append(unit)
        group[unit.id] = chosen
        after[chosen] |= {group[n] for n in unit.needs} - {chosen}
    return _jobs(members, group, event, lambda g: runner(facts[members[g][0].stage]))


def _reaches(after: Sequence[set[int]], later: int, earlier: int) -> bool:
    """Whether group ``later`` needs group ``earlier``, directly or through others."""
    seen: set[int] = set()
    todo = [later]
    while todo:
        g = todo.pop()
        if g == earlier:
            return True
        if g not in seen:
            seen.add(g)
            todo += after[g]
    return False


def _choose(unit: Unit, group: Mapping[str, int], open_groups: list[bool],
            forbidden: set[int], same_runner: list[bool]) -> int | None:
    """The packed group ``unit`` joins: one that holds a unit it needs if possible."""
    def fits(g: int) -> bool:
        if not open_groups[g] or g in forbidden or not same_runner[g]:
            return False
        # a review reads what it would publish from the job's own outputs only
        return unit.mode != "review" or all(group[n] == g for n in unit.needs)

    candidates: list[int] = [group[n] for n in unit.needs]
    candidates += range(len(open_groups))
    for g in candidates:
        if fits(g):
            return g
    return None


def _jobs(members: list[list[Unit]], group: Mapping[str, int], event: str,
          runner: Callable[[int], str | list[str]]) -> list[Job]:
    packed = [g for g, units_ in enumerate(members) if len(units_) > 1]
    prefix = "dry-run-" if event != "push" else ""
    ids = []
    for g, units_ in enumerate(members):
        if len(units_) == 1:
            ids.append(units_[0].id)
        else:
            suffix = "" if len(packed) == 1 else f"-{packed.index(g) + 1}"
            ids.append(f"{prefix}{PACKED}{suffix}")
    needs: list[list[int]] = []
    for g, units_ in enumerate(members):
        needs.append([])
        for unit in units_:
            for n in unit.needs:
                if group[n] != g and group[n] not in needs[g]:
                    needs[g].append(group[n])
    # a unit joining a group may need a job made after the group's first unit
    order: list[int] = []
    while len(order) < len(members):
        order.append(next(g for g in range(len(members))
                          if g not in order and set(needs[g]) <= set(order)))
    return [Job(ids[g], tuple(members[g]), tuple(ids[n] for n in needs[g]), runner(g))
            for g in order]


def job_of(jobs: Sequence[Job]) -> dict[str, str]:
    """Unit id -> the id of the job that runs it."""
    return {u.id: j.id for j in jobs for u in j.units}
