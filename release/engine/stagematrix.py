"""The ``matrix:`` key of a stage, as the stage configuration models it: axes and values.

Expanding a matrix into stages, with positions for errors, is
:mod:`release.pipeline.matrix`'s.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

#: An axis name, and a value (which becomes part of the expanded stages' ids).
AXIS = re.compile(r"^[a-z][a-z0-9_]*$")
VALUE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
MAX_VALUE = 32


class MatrixSpec(BaseModel):
    """Axes (lowercase names) with their values (short names, which become part of the
    expanded stages' ids), and optional `exclude` and `include` lists."""

    # the JSON Schema for editors; :func:`expand` checks a matrix and reports positions
    model_config = ConfigDict(
        extra="allow", title="matrix",
        json_schema_extra={"minProperties": 1, "propertyNames": {"pattern": AXIS.pattern},
                           "additionalProperties": {
                               "type": "array", "minItems": 1, "uniqueItems": True,
                               "items": {"type": "string", "pattern": VALUE.pattern,
                                         "maxLength": MAX_VALUE}}})
    __pydantic_extra__: dict[str, list[str]] = Field(init=False)

    exclude: list[dict[str, str]] = Field(
        default_factory=list, description="Combinations to leave out: each entry removes "
        "every combination whose values it matches.")
    include: list[dict[str, str]] = Field(
        default_factory=list, description="Like GitHub's: an entry adds its other keys "
        "(e.g. `runner`) to every combination whose axis values it matches, or, matching "
        "none, is one more combination (with a value for every axis).")
