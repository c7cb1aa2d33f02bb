"""The stage graph: unknown needs, self-needs, cycles and topological levels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from release.engine.dag import topological_order
from release.errors import Diagnostic, suggest


def check_needs(needs: Mapping[str, Sequence[str]]) -> list[tuple[tuple[str | int, ...], str,
                                                                 str | None]]:
    """Problems with ``needs`` entries, as (yaml path, message, hint)."""
    problems: list[tuple[tuple[str | int, ...], str, str | None]] = []
    ids = list(needs)
    for stage, deps in needs.items():
        seen: set[str] = set()
        for i, dep in enumerate(deps):
            path: tuple[str | int, ...] = ("stages", stage, "needs", i)
            if dep == stage:
                problems.append((path, f"stage {stage!r} needs itself",
                                 "remove it from its own needs"))
            elif dep not in needs:
                guess = suggest(dep, ids)
                hint = f"did you mean {guess!r}?" if guess else f"known stages: {', '.join(ids)}"
                problems.append((path, f"stage {stage!r} needs unknown stage {dep!r}", hint))
            elif dep in seen:
                problems.append((path, f"stage {stage!r} lists {dep!r} twice in needs",
                                 "list each need once"))
            seen.add(dep)
    return problems


def find_cycle(needs: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A cycle as ``[a, b, ..., a]``, or None. Iterative, so deep graphs are fine."""
    state: dict[str, int] = {}  # 1 visiting, 2 done
    for root in needs:
        if state.get(root):
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        path: list[str] = []
        while stack:
            node, i = stack.pop()
            if i == 0:
                state[node] = 1
                path.append(node)
            deps = [d for d in needs.get(node, ()) if d in needs and d != node]
            if i < len(deps):
                stack.append((node, i + 1))
                dep = deps[i]
                if state.get(dep) == 1:
                    return [*path[path.index(dep):], dep]
                if not state.get(dep):
                    stack.append((dep, 0))
            else:
                state[node] = 2
                path.pop()
    return None


def levels(needs: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Stages grouped by depth: level 0 needs nothing; a stage runs after all its needs."""
    depth: dict[str, int] = {}
    for stage in topological_order(needs):
        depth[stage] = 1 + max((depth[d] for d in needs[stage]), default=-1)
    grouped: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for stage in needs:
        grouped[depth[stage]].append(stage)
    return grouped


def cycle_diagnostic(cycle: list[str]) -> Diagnostic:
    return Diagnostic(f"stages form a cycle: {' -> '.join(cycle)}",
                      hint="remove one of these needs to break the cycle")
