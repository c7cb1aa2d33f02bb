"""Building one stage: its kind runs into a fresh output folder, which ends up holding
exactly the stage's declared outputs; and, to check a build is reproducible, once more
in a folder of its own, on copies of its inputs, and compare the two byte for byte."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from release.engine import outputs, safefs
from release.engine.context import ContextScope
from release.errors import StageFailed

if TYPE_CHECKING:
    from release.engine.context import RunState
    from release.engine.manifest import Artifact


def build_stage(run: RunState, stage: str, out_root: Path) -> list[Artifact]:
    """Run ``stage`` into ``out_root/stage``; its declared outputs, recorded and hashed."""
    out_dir = out_root / stage
    if out_dir.exists() or out_dir.is_symlink():
        safefs.remove_tree(out_dir)  # a folder of the engine's, in its own --out
    out_dir.mkdir()
    with ContextScope(run, stage, True, out_root) as ctx:
        made = run.pipeline.kind(stage).run(ctx)
    if run.cancel.is_set():
        raise StageFailed("cancelled")
    arts = outputs.record_outputs(out_root, stage,
                                  ((o.path, o.kind, o.annotations) for o in made))
    for leftover in outputs.remove_undeclared(out_root, stage, arts):
        run.reporter.line(stage, f"removed {leftover}: not a declared output")
    return arts


def check_reproducible(run: RunState, stage: str, first: list[Artifact]) -> None:
    """Build ``stage`` again, in a temporary folder, and fail unless ``first`` (its
    outputs in the run's folder) are the same files with the same bytes."""
    with tempfile.TemporaryDirectory(prefix=f"release-repro-{stage}-") as tmp:
        again_root = Path(tmp) / "out"
        again_root.mkdir()
        for need in run.pipeline.needs[stage]:
            for art in run.produced.get(need, []):
                dest = art.resolve(again_root)
                safefs.make_folder(dest.parent)
                safefs.copy_file(art.resolve(run.options.out), dest.parent, dest.name)
        second = build_stage(run, stage, again_root)
    before = {a.name: a.sha256 for a in first}
    after = {a.name: a.sha256 for a in second}
    diffs = [f"{name}: {before.get(name, 'absent')} then {after.get(name, 'absent')}"
             for name in sorted(before.keys() | after.keys())
             if before.get(name) != after.get(name)]
    if diffs:
        hint = ("compare the two builds with diffoscope" if shutil.which("diffoscope")
                else "look for timestamps, random values or paths in the outputs")
        raise StageFailed(f"stage {stage!r} is not reproducible; two builds differ: "
                          + "; ".join(diffs), hint)
