"""The static plan of a pipeline: stages, levels, kinds, effects, permissions, inputs, outputs."""

from __future__ import annotations

import json
from typing import Any

from release.engine.runners import show
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
                "runs-on": config.runs_on,
                "matrix": _matrix(pipeline, sid),
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


def _matrix(pipeline: LoadedPipeline, sid: str) -> dict[str, Any] | None:
    """The matrix stage an expansion came from, and its values."""
    origin = pipeline.expansions.get(sid)
    return None if origin is None else {"stage": origin.stage, "values": dict(origin.values)}


def _matrix_text(st: dict[str, Any]) -> str:
    m = st.get("matrix")
    return "-" if not m else m["stage"] + ": " + ", ".join(f"{k}={v}" for k, v in
                                                          m["values"].items())


def _needs_text(st: dict[str, Any], stages: list[dict[str, Any]]) -> str:
    """Needs, with every expansion of a matrix stage shown as ``cli (all 6)``."""
    groups: dict[str, list[str]] = {}
    for other in stages:
        if other.get("matrix"):
            groups.setdefault(other["matrix"]["stage"], []).append(other["id"])
    shown: list[str] = []
    needs = st["needs"]
    for need in needs:
        group = next((g for g, ids in groups.items() if need in ids), None)
        if group is not None and all(i in needs for i in groups[group]):
            text = f"{group} (all {len(groups[group])})"
            if text not in shown:
                shown.append(text)
        else:
            shown.append(need)
    return ", ".join(shown) or "-"


def jobs_data(pipeline: LoadedPipeline) -> dict[str, list[dict[str, Any]]]:
    """The jobs of the generated workflow, per event: which stages run in which job."""
    from release.workflows.generate import stage_facts, workflow_jobs

    facts = stage_facts(pipeline)
    return {event: [{"id": job.id, "runs": [u.id for u in job.units], "needs": list(job.needs),
                     "runs-on": job.runner} for job in workflow_jobs(pipeline, facts, event)]
            for event in ("push", "workflow_dispatch")}


def _longest(jobs: list[dict[str, Any]]) -> int:
    """Jobs on the longest chain of needs (the jobs come after those they need)."""
    depth: dict[str, int] = {}
    for job in jobs:
        depth[job["id"]] = 1 + max((depth[n] for n in job["needs"]), default=0)
    return max(depth.values(), default=0)


def _jobs_markdown(jobs: dict[str, list[dict[str, Any]]]) -> list[str]:
    lines = ["", "## Jobs of the generated workflow", ""]
    for event, title in (("push", "tag push"), ("workflow_dispatch", "dispatch dry-run")):
        listed = jobs[event]
        lines += [f"{title}: {len(listed)} job(s), {_longest(listed)} on the longest chain", "",
                  "| job | runs | needs |", "| --- | --- | --- |"]
        lines += [f"| `{j['id']}` | {', '.join(j['runs'])} | {', '.join(j['needs']) or '-'} |"
                  for j in listed]
        lines.append("")
    return lines[:-1]


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
    lines += ["| level | stage | kind | matrix | runs-on | effects | permissions | needs | "
              "outputs |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for st in data["stages"]:
        lines.append(
            f"| {st['level']} | `{st['id']}` | {st['kind']} | {_matrix_text(st)} | "
            f"{show(st['runs-on'])} | {st['effects']} | "
            f"{_perm_text(st['permissions'])} | {_needs_text(st, data['stages'])} | "
            f"{', '.join(st['outputs']) or '-'} |")
    if "jobs" in data:
        lines += _jobs_markdown(data["jobs"])
    return "\n".join(lines) + "\n"


def render_table(data: dict[str, Any]) -> str:
    headers = ["level", "stage", "kind", "matrix", "runs-on", "effects", "permissions",
               "needs"]
    rows = [[str(st["level"]), st["id"], st["kind"], _matrix_text(st), show(st["runs-on"]),
             st["effects"], _perm_text(st["permissions"]), _needs_text(st, data["stages"])]
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
