"""The static plan of a pipeline: stages, levels, kinds, effects, permissions, inputs, outputs."""

from __future__ import annotations

import json
from typing import Any

from release.engine.source import SourceFacts
from release.pipeline.graph import levels
from release.pipeline.load import LoadedPipeline
from release.stages.base import describe_config


def plan_data(pipeline: LoadedPipeline, source: SourceFacts | None) -> dict[str, Any]:
    stages = []
    for level, ids in enumerate(levels(pipeline.needs)):
        for sid in ids:
            config = pipeline.config(sid)
            kind = pipeline.kind(sid)
            stages.append({
                "id": sid, "level": level, "kind": kind.kind,
                "effects": kind.effects(config).value,
                "permissions": pipeline.permissions[sid].as_dict(),
                "needs": list(config.needs),
                "outputs": kind.declared_outputs(config),
                "timeout": config.timeout_seconds,
                "env": sorted(config.env),
                "config": describe_config(config),
            })
    return {
        "pipeline": pipeline.model.name,
        "file": str(pipeline.path),
        "source": None if source is None else dict(source.to_json().items()),
        "folder": pipeline.model.source.path,
        "tags": pipeline.model.source.tags,
        "stages": stages,
    }


def render_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2)


def _folder_text(data: dict[str, Any]) -> str:
    """The released folder and tag glob of a monorepo's pipeline; empty for a whole
    repository released from `v*` tags."""
    folder, tags = data.get("folder", "."), data.get("tags", "v*")
    if folder == "." and tags == "v*":
        return ""
    where = "the whole repository" if folder == "." else f"folder `{folder}` alone"
    return f"releases {where}, from tags `{tags}`"


def _perm_text(perms: dict[str, str]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in perms.items()) or "none"


def render_markdown(data: dict[str, Any]) -> str:
    lines = [f"# Release plan: {data['pipeline']}", ""]
    src = data.get("source")
    if src:
        lines += [f"- commit `{src['commit']}`", f"- version `{src['version']}`"
                  + (f" (tag `{src['tag']}`)" if src.get("tag") else " (no release tag)"),
                  f"- SOURCE_DATE_EPOCH `{src['source_date_epoch']}`"]
        if src.get("dirty"):
            lines.append("- **working tree has uncommitted changes**")
        lines.append("")
    if folder := _folder_text(data):
        lines += [f"- {folder}", ""]
    lines += ["| level | stage | kind | effects | permissions | needs | outputs |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for st in data["stages"]:
        lines.append(
            f"| {st['level']} | `{st['id']}` | {st['kind']} | {st['effects']} | "
            f"{_perm_text(st['permissions'])} | {', '.join(st['needs']) or '-'} | "
            f"{', '.join(st['outputs']) or '-'} |")
    return "\n".join(lines) + "\n"


def render_table(data: dict[str, Any]) -> str:
    headers = ["level", "stage", "kind", "effects", "permissions", "needs"]
    rows = [[str(st["level"]), st["id"], st["kind"], st["effects"],
             _perm_text(st["permissions"]), ", ".join(st["needs"]) or "-"]
            for st in data["stages"]]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    out = [f"plan for {data['pipeline']} ({data['file']})"]
    src = data.get("source")
    if src:
        tag = f", tag {src['tag']}" if src.get("tag") else ", no release tag"
        out.append(f"version {src['version']}{tag}, commit {src['commit'][:12]}, "
                   f"SOURCE_DATE_EPOCH {src['source_date_epoch']}")
    if folder := _folder_text(data):
        out.append(folder.replace("`", ""))
    out.append("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    out.extend("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
               for r in rows)
    return "\n".join(out) + "\n"
