"""Validating a pipeline file's data, importing only the kinds it uses.

The result and every error are those of ``Pipeline.model_validate`` (same types,
messages, locations and order), without building the union of every kind: the shape
is checked first, then each stage with its own kind's model. A stage whose kind is
missing or unknown goes through the full union, which names the problem exactly as
before (that imports every kind, on an error path only).
"""

from __future__ import annotations

from functools import cache

from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from release.engine.contract import StageConfig
from release.pipeline.model import AnyStage, Pipeline, PipelineShape


class InvalidPipeline(Exception):
    """The data is not a valid pipeline; ``errors`` as pydantic reports them."""

    def __init__(self, errors: list[ErrorDetails]) -> None:
        super().__init__(f"{len(errors)} validation errors")
        self.errors = errors


def validate(data: object) -> Pipeline:
    """``Pipeline.model_validate(data)``, one stage at a time."""
    problems: list[ErrorDetails] = []
    try:
        shape = PipelineShape.model_validate(data)
    except ValidationError as exc:
        shape = None
        problems = exc.errors()
    raw = data.get("stages") if isinstance(data, dict) else None
    stages: dict[str, StageConfig] = {}
    order: dict[str, int] = {}
    for position, (sid, value) in enumerate(raw.items() if isinstance(raw, dict) else ()):
        order[sid] = position
        try:
            stages[sid] = _stage(value)
        except ValidationError as exc:
            problems += [_at(("stages", sid), e) for e in exc.errors()]
        except InvalidPipeline as exc:
            problems += [_at(("stages", sid), e) for e in exc.errors]
    if problems or shape is None:
        raise InvalidPipeline(sorted(problems, key=lambda e: _rank(e, order)))
    fields = {name: getattr(shape, name) for name in Pipeline.model_fields if name != "stages"}
    return Pipeline.model_construct(shape.model_fields_set, **fields, stages=stages)


def _at(prefix: tuple[str, ...], error: ErrorDetails) -> ErrorDetails:
    return {**error, "loc": (*prefix, *error["loc"])}


def _stage(value: object) -> StageConfig:
    from release.stages import KINDS

    kind = value.get("kind") if isinstance(value, dict) else None
    if isinstance(kind, str) and kind in KINDS:
        try:
            config: StageConfig = KINDS[kind].config.model_validate(value)
        except ValidationError as exc:
            # inside the union, each location starts with the kind (its tag)
            raise InvalidPipeline([_at((kind,), e) for e in exc.errors()]) from None
        return config
    result: StageConfig = _every_kind().validate_python(value)
    return result


@cache
def _every_kind() -> TypeAdapter[StageConfig]:
    return TypeAdapter(AnyStage)


def _rank(error: ErrorDetails, order: dict[str, int]) -> tuple[int, int, int]:
    """Where pydantic puts an error: the fields in their order (a stage's key before its
    value, stage by stage, then the length of ``stages``), then unknown keys."""
    loc = error["loc"]
    fields = list(Pipeline.model_fields)
    if loc[0] != "stages":
        return (fields.index(str(loc[0])) if loc[0] in fields else len(fields), 0, 0)
    if len(loc) == 1:
        return (fields.index("stages"), len(order), 0)
    is_key = loc[2:] == ("[key]",)
    return (fields.index("stages"), order.get(str(loc[1]), len(order)), 0 if is_key else 1)
