"""What a stage's ``matrix:`` holds, checked where it is written: axes, values, ``exclude``
and ``include`` entries.

Each problem names the position in the file. Combining the checked axes into stages is
:mod:`release.pipeline.matrix`'s.
"""

from __future__ import annotations

import re
from typing import Any

from release.engine.stagematrix import AXIS as _AXIS
from release.engine.stagematrix import MAX_VALUE as _MAX_VALUE
from release.engine.stagematrix import VALUE as _VALUE
from release.errors import Diagnostic
from release.yamlsource import YamlDocument, YamlPath, dotted

#: The keys of ``matrix:`` that are not axes.
RESERVED = ("exclude", "include")
_EXTRA = re.compile(r"^[^{}\x00-\x1f\x7f]{1,200}$")

Combination = dict[str, str]


def diagnostic(doc: YamlDocument, path: YamlPath, *, message: str, hint: str | None = None,
               key: bool = False) -> Diagnostic:
    return Diagnostic(message, doc.location(path, key=key), dotted(path), hint)


def checked_axes(doc: YamlDocument, sid: str, matrix: object, problems: list[Diagnostic]
                 ) -> tuple[dict[str, list[str]], list[Combination], list[Combination]] | None:
    """The axes of a stage's ``matrix:`` with their values, and its ``exclude`` and
    ``include`` entries; None after adding problems."""
    where: YamlPath = ("stages", sid, "matrix")
    before = len(problems)
    if not isinstance(matrix, dict) or not any(k not in RESERVED for k in matrix):
        problems.append(diagnostic(doc, where, message="`matrix` must be a mapping of axes to "
                                   "lists of values", hint="e.g. `matrix: {os: [linux, darwin],"
                                   " arch: [amd64, arm64]}`"))
        return None
    axes: dict[str, list[str]] = {}
    for axis, values in matrix.items():
        if axis in RESERVED:
            continue
        path = (*where, axis)
        if not isinstance(axis, str) or not _AXIS.match(axis):
            problems.append(diagnostic(doc, path, key=True,
                                       message=f"invalid matrix axis {axis!r}",
                                       hint="axis names are lowercase letters, digits and '_', "
                                       "starting with a letter"))
            continue
        if not isinstance(values, list) or not values:
            problems.append(diagnostic(doc, path, message=f"matrix axis {axis!r} must be a "
                                       "non-empty list of values"))
            continue
        for i, value in enumerate(values):
            problems += _check_value(doc, (*path, i), value)
        if len(set(map(str, values))) != len(values):
            problems.append(diagnostic(doc, path, message=f"matrix axis {axis!r} lists a value "
                                       "twice", hint="list each value once"))
        axes[axis] = [str(v) for v in values]
    if len(problems) > before:
        return None
    exclude = _entries(doc, sid, matrix, "exclude", axes, problems)
    include = _entries(doc, sid, matrix, "include", axes, problems)
    if len(problems) > before:
        return None
    return axes, exclude, include


def _check_value(doc: YamlDocument, path: YamlPath, value: object) -> list[Diagnostic]:
    if isinstance(value, str) and _VALUE.match(value) and len(value) <= _MAX_VALUE:
        return []
    return [diagnostic(doc, path, message=f"matrix value {value!r} is not a short name",
                       hint=f"values become part of stage ids: lowercase letters, digits and "
                       f"'-', at most {_MAX_VALUE} characters, quoted if YAML reads a number")]


def _entries(doc: YamlDocument, sid: str, matrix: dict[Any, Any], name: str,
             axes: dict[str, list[str]], problems: list[Diagnostic]) -> list[Combination]:
    """The ``exclude`` or ``include`` entries, checked against the axes."""
    where: YamlPath = ("stages", sid, "matrix", name)
    entries = matrix.get(name, [])
    if not isinstance(entries, list):
        problems.append(diagnostic(doc, where, message=f"matrix `{name}` must be a list of "
                                   "mappings of axis to value"))
        return []
    out = []
    for i, entry in enumerate(entries):
        path = (*where, i)
        if not isinstance(entry, dict) or not entry:
            problems.append(diagnostic(doc, path, message=f"a matrix `{name}` entry must be a "
                                       "mapping of axis to value", hint="e.g. {os: windows, "
                                       "arch: arm64}"))
            continue
        for axis, value in entry.items():
            if name == "include" and axis not in axes:
                problems += _check_extra(doc, (*path, axis), axis, value)
            elif axis not in axes:
                problems.append(diagnostic(doc, (*path, axis), key=True,
                                           message=f"matrix `{name}` names unknown axis "
                                           f"{axis!r}", hint=f"axes: {', '.join(axes)}"))
            elif name == "exclude" and value not in axes[axis]:
                problems.append(diagnostic(doc, (*path, axis), message=f"matrix `exclude` "
                                           f"value {value!r} is not a value of axis {axis!r}",
                                           hint=f"values: {', '.join(axes[axis])}"))
            else:
                problems += _check_value(doc, (*path, axis), value)
        out.append({str(k): str(v) for k, v in entry.items()})
    return out


def _check_extra(doc: YamlDocument, path: YamlPath, key: object,
                 value: object) -> list[Diagnostic]:
    """A key ``include`` adds besides the axes (e.g. the runner of one OS): any plain text."""
    if not isinstance(key, str) or not _AXIS.match(key):
        return [diagnostic(doc, path, key=True, message=f"invalid matrix key {key!r}",
                           hint="lowercase letters, digits and '_', starting with a letter")]
    if not isinstance(value, str) or not _EXTRA.match(value):
        return [diagnostic(doc, path, message=f"matrix `include` value {value!r} must be "
                           "plain text", hint="at most 200 characters, without braces or "
                           "control characters")]
    return []
