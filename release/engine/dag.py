"""Order over a stage graph (stage -> the stages it needs), which must be acyclic.

Validation of the graph (unknown needs, cycles) is :mod:`release.pipeline.graph`'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def topological_order(needs: Mapping[str, Sequence[str]]) -> list[str]:
    """Kahn's algorithm, stable in file order. The graph must be acyclic."""
    remaining = {s: len(set(d)) for s, d in needs.items()}
    dependants: dict[str, list[str]] = {s: [] for s in needs}
    for stage, deps in needs.items():
        for dep in set(deps):
            dependants[dep].append(stage)
    ready = [s for s in needs if remaining[s] == 0]
    order: list[str] = []
    while ready:
        stage = ready.pop(0)
        order.append(stage)
        for nxt in dependants[stage]:
            remaining[nxt] -= 1
            if remaining[nxt] == 0:
                ready.append(nxt)
    return order


def ancestors(needs: Mapping[str, Sequence[str]], stage: str) -> set[str]:
    """Every stage ``stage`` depends on, directly or not."""
    seen: set[str] = set()
    todo = list(needs[stage])
    while todo:
        dep = todo.pop()
        if dep not in seen:
            seen.add(dep)
            todo.extend(needs[dep])
    return seen
