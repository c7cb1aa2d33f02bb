"""Build matrices: a stage with ``matrix:`` becomes one stage per combination of values.

``matrix: {os: [linux, darwin], arch: [amd64, arm64], exclude: [{os: darwin, arch: amd64}]}``
on stage ``cli`` gives ``cli-linux-amd64``, ``cli-linux-arm64`` and ``cli-darwin-arm64``:
the values in the order of the matrix's keys. ``{matrix.os}`` is replaced in ``run``,
``fetch``, ``outputs``, ``env`` values and ``runs-on``; ``needs: [cli]`` on another stage
means every expansion. ``exclude`` and ``include`` follow GitHub's ``strategy.matrix``:
an exclude entry removes every combination it matches; an include entry adds its other
keys to every combination whose axis values it matches (``{os: darwin, runner: macos-15}``
gives the darwin stages ``{matrix.runner}``), or, matching none, is one more combination
(https://docs.github.com/en/actions/writing-workflows/choosing-what-your-workflow-does/running-variations-of-jobs-in-a-workflow).

Expansion happens on the parsed YAML, before the models validate it, so every check
of a stage applies to each expansion, and each expansion's positions are those of the
matrix stage in the file: errors point at the line that was written.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from release.errors import Diagnostic, PipelineError
from release.pipeline.matrix_axes import RESERVED as _RESERVED
from release.pipeline.matrix_axes import Combination, checked_axes
from release.pipeline.matrix_axes import diagnostic as _diag
from release.yamlsource import YamlDocument, YamlPath

#: GitHub's own limit on the jobs one matrix may generate.
MAX_COMBINATIONS = 256
SUBSTITUTED = ("run", "fetch", "outputs", "env", "runs-on")
_PLACEHOLDER = re.compile(r"\{matrix\.([^{}]*)\}")
_STAGE_ID = re.compile(r"^[a-z][a-z0-9-]*$")
_MAX_ID = 64


@dataclass(frozen=True)
class Expansion:
    """Where an expanded stage came from: the matrix stage and its values, in key order."""

    stage: str
    values: tuple[tuple[str, str], ...]

    def describe(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.values)


def combinations(axes: Mapping[str, Sequence[str]], exclude: Sequence[Mapping[str, str]] = (),
                 include: Sequence[Mapping[str, str]] = ()) -> list[Combination]:
    """Every combination of the axes' values (first axis slowest) less the excluded ones,
    then GitHub's ``include``: an entry adds its other keys to every combination whose
    axis values it matches, or, matching none, is one more combination."""
    names = list(axes)
    out = []
    for values in itertools.product(*(axes[n] for n in names)):
        combo = dict(zip(names, values, strict=True))
        if not any(all(combo[k] == v for k, v in entry.items()) for entry in exclude):
            out.append(combo)
    for entry in include:
        matched = [c for c in out if all(c.get(k) == v for k, v in entry.items() if k in axes)]
        if matched:
            for combo in matched:
                combo.update(entry)
        else:
            out.append(dict(entry))
    return out


def expansion_id(stage: str, combo: Combination, axes: Sequence[str]) -> str:
    """``cli-linux-amd64``: the stage id and the axes' values (not included extra keys)."""
    return "-".join([stage, *(combo[a] for a in axes)])


def axis_names(matrix: object) -> list[str]:
    """The names ``{matrix.X}`` may use: the axes, then the extra keys of ``include``."""
    if not isinstance(matrix, dict):
        return []
    names = [str(k) for k in matrix if k not in _RESERVED]
    include = matrix.get("include")
    for entry in include if isinstance(include, list) else []:
        names += [str(k) for k in entry if str(k) not in names] if isinstance(entry,
                                                                              dict) else []
    return names


def expand(doc: YamlDocument) -> dict[str, Expansion]:
    """Replace every matrix stage of ``doc`` by its expansions (data and positions); return
    each expansion's origin. Raises :class:`PipelineError` naming ``file:line:col``."""
    stages = doc.data.get("stages") if isinstance(doc.data, dict) else None
    if not isinstance(stages, dict):
        return {}  # the model reports it
    problems: list[Diagnostic] = []
    result: dict[Any, Any] = {}
    origins: dict[str, Expansion] = {}
    groups: dict[str, list[str]] = {}
    for sid, body in stages.items():
        matrix = body.get("matrix") if isinstance(body, dict) else None
        if not isinstance(body, dict) or "matrix" not in body or not isinstance(sid, str):
            problems += _placeholders(doc, ("stages", sid), body, None)
            result[sid] = body
            continue
        combos = _combinations(doc, sid, matrix, problems)
        axes = [str(k) for k in matrix if k not in _RESERVED] if isinstance(matrix, dict) else []
        found = _placeholders(doc, ("stages", sid), body, axis_names(matrix))
        problems += found
        if not combos or found:
            continue
        groups[sid] = []
        for combo in combos:
            eid = expansion_id(sid, combo, axes)
            copy = {k: (_substitute(v, combo) if k in SUBSTITUTED else v)
                    for k, v in body.items() if k != "matrix"}
            if eid in result or eid in stages:
                problems.append(_diag(doc, ("stages", sid, "matrix"), key=True,
                                      message=f"matrix stage {sid!r} expands to {eid!r}, "
                                      "which is already a stage id",
                                      hint="rename a stage or change the matrix values"))
                continue
            result[eid] = copy
            groups[sid].append(eid)
            origins[eid] = Expansion(sid, tuple((a, combo[a]) for a in axes))
            _copy_positions(doc, ("stages", sid), ("stages", eid))
    if problems:
        raise PipelineError.many(problems)
    if groups:
        _expand_needs(doc, result, groups)
    doc.data["stages"] = result  # type: ignore[index]
    return origins


def _combinations(doc: YamlDocument, sid: str, matrix: object,
                  problems: list[Diagnostic]) -> list[Combination] | None:
    """The checked combinations of a stage's ``matrix:``, or None after adding problems."""
    where: YamlPath = ("stages", sid, "matrix")
    before = len(problems)
    checked = checked_axes(doc, sid, matrix, problems)
    if checked is None:
        return None
    axes, exclude, include = checked
    combos = combinations(axes, exclude, include)
    for combo in combos:
        if missing := [a for a in axes if a not in combo]:
            problems.append(_diag(doc, (*where, "include"), message="a matrix `include` "
                                  f"entry matches no combination and has no {missing[0]!r}",
                                  hint="an entry that adds a combination gives a value for "
                                  "every axis (one that matches a combination adds its "
                                  "other keys to it)"))
            return None
    if not combos:
        problems.append(_diag(doc, where, key=True, message=f"the matrix of stage {sid!r} "
                              "excludes every combination", hint="remove an exclude entry"))
    elif len(combos) > MAX_COMBINATIONS:
        problems.append(_diag(doc, where, key=True, message=f"the matrix of stage {sid!r} "
                              f"has {len(combos)} combinations; at most {MAX_COMBINATIONS}",
                              hint="GitHub runs at most 256 jobs per matrix: split the stage"))
    seen: set[str] = set()
    for combo in combos:
        eid = expansion_id(sid, combo, list(axes))
        if eid in seen:
            problems.append(_diag(doc, where, key=True, message=f"matrix stage {sid!r} "
                                  f"expands to {eid!r} twice", hint="values that join "
                                  "with '-' to the same id are ambiguous: change one"))
            break
        seen.add(eid)
        if not _STAGE_ID.match(eid) or len(eid) > _MAX_ID:
            problems.append(_diag(doc, where, key=True, message=f"matrix stage {sid!r} "
                                  f"expands to {eid!r}, which is not a valid stage id",
                                  hint=f"ids are at most {_MAX_ID} characters: shorten the "
                                  "stage id or the values"))
            break
    return combos if len(problems) == before else None


def _placeholders(doc: YamlDocument, path: YamlPath, value: object,
                  axes: list[str] | None, key: str | None = None) -> list[Diagnostic]:
    """Problems with ``{matrix.X}`` in a stage: unknown axis, outside a matrix stage, or in
    a key where it is not replaced."""
    if isinstance(value, dict):
        return [d for k, v in value.items() if k != "matrix" or len(path) != 2
                for d in _placeholders(doc, (*path, k), v, axes, key or str(k))]
    if isinstance(value, list):
        return [d for i, v in enumerate(value)
                for d in _placeholders(doc, (*path, i), v, axes, key)]
    if not isinstance(value, str):
        return []
    for match in _PLACEHOLDER.finditer(value):
        name = match[1]
        if axes is None:
            return [_diag(doc, path, message=f"{match[0]} in a stage without `matrix`",
                          hint="add a `matrix:` with that axis, or remove the placeholder")]
        if key not in SUBSTITUTED:
            return [_diag(doc, path, message=f"{match[0]} is not replaced in `{key}`",
                          hint=f"matrix values are replaced in {', '.join(SUBSTITUTED)}")]
        if name not in axes:
            return [_diag(doc, path, message=f"unknown matrix axis in {match[0]}",
                          hint=f"axes of this matrix: {', '.join(axes)}")]
    return []


def _substitute(value: Any, combo: Combination) -> Any:
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: combo[m[1]], value)
    if isinstance(value, list):
        return [_substitute(v, combo) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, combo) for k, v in value.items()}
    return value


def _copy_positions(doc: YamlDocument, old: YamlPath, new: YamlPath) -> None:
    """Every position under ``old`` is also the position of the same path under ``new``."""
    for table in (doc.values, doc.keys):
        for path, where in list(table.items()):
            if path[:len(old)] == old:
                table[new + path[len(old):]] = where


def _expand_needs(doc: YamlDocument, stages: dict[Any, Any],
                  groups: dict[str, list[str]]) -> None:
    """``needs: [cli]`` means every expansion of ``cli``; each new entry keeps the position
    of the one it came from."""
    for sid, body in stages.items():
        needs = body.get("needs") if isinstance(body, dict) else None
        if not isinstance(needs, list) or not any(n in groups for n in needs
                                                  if isinstance(n, str)):
            continue
        expanded: list[object] = []
        positions = []
        for i, need in enumerate(needs):
            for one in groups.get(need, [need]) if isinstance(need, str) else [need]:
                expanded.append(one)
                positions.append(doc.values.get(("stages", sid, "needs", i)))
        body["needs"] = expanded
        for j, where in enumerate(positions):
            if where is not None:
                doc.values[("stages", sid, "needs", j)] = where


def restate(error: PipelineError, expansions: Mapping[str, Expansion]) -> PipelineError:
    """An error found in expansions, in the terms of the file: ``stage 'cli'``, at
    ``stages.cli.run``, once, however many expansions share the line."""
    found: dict[tuple[str, str], Diagnostic] = {}
    for d in error.diagnostics:
        message, path = d.message, d.path
        for eid, origin in expansions.items():
            message = message.replace(f"stage {eid!r}", f"stage {origin.stage!r}")
            if path is not None and (path == f"stages.{eid}"
                                     or path.startswith((f"stages.{eid}.",
                                                         f"stages.{eid}["))):
                path = f"stages.{origin.stage}" + path[len(f"stages.{eid}"):]
        found.setdefault((str(d.location), message),
                         Diagnostic(message, d.location, path, d.hint, d.severity))
    return PipelineError.many(list(found.values()))
