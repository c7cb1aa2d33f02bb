"""Pipeline file -> validated :class:`Pipeline`, with ``file:line:col`` on every error."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from release.engine.contract import Effect, StageConfig
from release.engine.manifest import RESERVED_STAGE_IDS
from release.errors import Diagnostic, PipelineError
from release.permissions import PermissionSet
from release.pipeline import graph, matrix
from release.pipeline.diagnose import diagnostics, type_name
from release.pipeline.model import Pipeline
from release.pipeline.validate import InvalidPipeline, validate
from release.stages import KINDS, StageKind
from release.stages.base import ChecksPipeline, NeedsPipelinePermissions
from release.yamlsource import YamlDocument, YamlPath, dotted, parse, read_text


@dataclass(frozen=True)
class LoadedPipeline:
    """A valid pipeline with what was derived from it."""

    path: Path
    text: str
    model: Pipeline
    document: YamlDocument
    #: Each stage's effective permissions (declared, or the kind's need when omitted).
    permissions: dict[str, PermissionSet]
    #: Each stage a matrix expanded to -> the matrix stage and its values.
    expansions: dict[str, matrix.Expansion] = field(default_factory=dict)

    @property
    def needs(self) -> dict[str, tuple[str, ...]]:
        return {sid: st.needs for sid, st in self.model.stages.items()}

    def kind(self, stage_id: str) -> StageKind[Any]:
        return KINDS[self.model.stages[stage_id].kind]

    def config(self, stage_id: str) -> StageConfig:
        return self.model.stages[stage_id]


def load(path: Path | str) -> LoadedPipeline:
    """Read, parse and validate a pipeline file; raise :class:`PipelineError` on any problem."""
    path = Path(path)
    text = read_text(path)
    return load_text(text, str(path), path)


def load_text(text: str, file: str, path: Path | None = None) -> LoadedPipeline:
    doc = parse(text, file)
    if not isinstance(doc.data, dict):
        raise PipelineError(
            f"a pipeline file must be a mapping, not {type_name(doc.data)}",
            "start with `version: 1` and a `stages:` mapping",
            doc.location(()),
        )
    _check_version(doc)
    expansions = matrix.expand(doc)
    try:
        model, permissions = _check(doc)
    except PipelineError as exc:
        if not expansions:
            raise
        # an error in a matrix stage is found in each expansion, at the same place: once
        raise matrix.restate(exc, expansions) from None
    return LoadedPipeline(path or Path(file), text, model, doc, permissions, expansions)


def _check(doc: YamlDocument) -> tuple[Pipeline, dict[str, PermissionSet]]:
    try:
        model = validate(doc.data)
    except InvalidPipeline as exc:
        raise PipelineError.many(diagnostics(doc, exc.errors)) from None
    _check_reserved(doc, model)
    permissions = _check_permissions(doc, model)
    _check_graph(doc, model)
    _check_kinds(doc, model)
    return model, permissions


def _check_version(doc: YamlDocument) -> None:
    assert isinstance(doc.data, dict)
    if "version" not in doc.data:
        raise PipelineError("missing `version`", "add `version: 1` at the top of the file",
                            doc.location(()))
    if doc.data["version"] != 1:
        raise PipelineError(
            f"unsupported pipeline version {doc.data['version']!r}",
            "this release of the tool reads `version: 1` only",
            doc.location(("version",)), "version",
        )


def _check_reserved(doc: YamlDocument, model: Pipeline) -> None:
    """A stage's folder is ``OUT/<id>``: no id may name a folder of the engine's."""
    for sid in model.stages:
        if sid in RESERVED_STAGE_IDS:
            path: YamlPath = ("stages", sid)
            raise PipelineError(
                f"stage id {sid!r} is reserved: the engine keeps its records in OUT/{sid}/",
                "rename the stage (and the `needs` that name it)",
                doc.location(path, key=True), dotted(path))


def _check_permissions(doc: YamlDocument, model: Pipeline) -> dict[str, PermissionSet]:
    problems: list[Diagnostic] = []
    effective: dict[str, PermissionSet] = {}
    for sid, config in model.stages.items():
        kind = KINDS[config.kind]
        needed = kind.permissions(config)
        if isinstance(kind, NeedsPipelinePermissions):
            needed = needed.union(kind.pipeline_permissions(sid, config, model))
        if config.permissions is None:
            effective[sid] = needed
            continue
        declared = config.permissions.to_set()
        effective[sid] = declared
        if kind.kind == "command":
            continue  # command stages declare their own
        path: YamlPath = ("stages", sid, "permissions")
        missing = {n: lvl for n, lvl in needed.items() if declared.get_level(n) < lvl}
        excess = declared.excess_over(needed)
        for name, lvl in missing.items():
            have = declared.get_level(name)
            problems.append(Diagnostic(
                f"stage {sid!r} declares {name}: {have}; kind {kind.kind} needs {name}: {lvl}",
                doc.location(path), f"{dotted(path)}.{name}",
                f"declare `{name}: {lvl}` or omit `permissions` to get exactly what the kind "
                "needs",
            ))
        for name, lvl in excess.items():
            need = needed.get_level(name)
            needs_text = f"{name}: {need}" if need else "none" if not needed else needed.describe()
            problems.append(Diagnostic(
                f"stage {sid!r} declares {name}: {lvl}; kind {kind.kind} needs {needs_text}",
                doc.location((*path, name)), f"{dotted(path)}.{name}",
                "remove the excess permission: each stage gets only what it needs",
            ))
    if problems:
        raise PipelineError.many(problems)
    return effective


def _check_kinds(doc: YamlDocument, model: Pipeline) -> None:
    """Kinds that check their configuration against the rest of the pipeline."""
    problems: list[Diagnostic] = []
    for sid, config in model.stages.items():
        kind = KINDS[config.kind]
        if config.reproducible and kind.effects(config) is Effect.EXTERNAL:
            path: YamlPath = ("stages", sid, "reproducible")
            problems.append(Diagnostic(
                f"stage {sid!r} ({kind.kind}) acts on the world and cannot be run twice to "
                "compare", doc.location(path), dotted(path),
                "set `reproducible: true` on the stages that build what it consumes"))
        if isinstance(kind, ChecksPipeline):
            problems += [Diagnostic(msg, doc.location(path, key=True), dotted(path), hint)
                         for path, msg, hint in kind.check_pipeline(sid, config, model)]
    if problems:
        raise PipelineError.many(problems)


def _check_graph(doc: YamlDocument, model: Pipeline) -> None:
    needs = {sid: st.needs for sid, st in model.stages.items()}
    problems = [Diagnostic(msg, doc.location(path), dotted(path), hint)
                for path, msg, hint in graph.check_needs(needs)]
    if problems:
        raise PipelineError.many(problems)
    cycle = graph.find_cycle(needs)
    if cycle:
        d = graph.cycle_diagnostic(cycle)
        path = ("stages", cycle[0], "needs")
        raise PipelineError(d.message, d.hint, doc.location(path), dotted(path))
