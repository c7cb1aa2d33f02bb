"""Hand-offs between stages: the outputs a stage made, bound by its manifest's digest.

A stage reads its needs' outputs only after the manifests on disk are checked, byte for
byte, against the ones written when each need finished in this run, or imported from
``--artifacts`` (``--stage`` mode, one CI job per stage), and after the files are hashed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from release.engine import manifest, safefs
from release.engine.contract import RunnablePipeline
from release.engine.manifest import Artifact
from release.engine.run_options import RunOptions
from release.errors import UsageError


class HandOffs:
    """The outputs each finished or imported stage hands on, under ``out``."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.produced: dict[str, list[Artifact]] = {}
        #: needs taken from --artifacts -> sha256 of their manifest under --out; their
        #: files were hashed at the import, and again before a stage reads them once
        #: another stage has run (it could have rewritten them without the sandbox)
        self.imported: dict[str, str] = {}
        #: stage -> sha256 of the manifest this run wrote for it: the hand-off to the
        #: stages after it, in this run or in a later job, is checked against it
        self.manifests: dict[str, str] = {}

    def import_needs(self, pipeline: RunnablePipeline, options: RunOptions,
                     selected: list[str]) -> list[str]:
        """``--stage`` mode: take the needs' outputs that no selected stage makes from
        ``--artifacts`` and verify them; returns the needs imported."""
        src = options.artifacts
        needs = list(dict.fromkeys(n for s in selected for n in pipeline.needs[s]
                                   if n not in selected))
        what = f"stage {selected[0]!r}" if len(selected) == 1 else (
            "stages " + ", ".join(map(repr, selected)))
        if needs and src is None:
            raise UsageError(f"{what} need {', '.join(needs)}",
                             "pass --artifacts DIR with the outputs of those stages")
        expected = dict(options.expected_manifests)
        if unknown := sorted(set(expected) - set(needs)):
            raise UsageError(f"--expect-manifest names {', '.join(unknown)}, not a need of "
                             f"{what} made by another job",
                             f"those needs: {', '.join(needs) or 'none'}")
        for need in needs:
            assert src is not None
            if need in expected:
                manifest.check_stage_manifest(src, need, expected[need])
            arts = manifest.read_stage_manifest(src, need)
            manifest.check_paths(src, arts)
            if src.resolve() != options.out.resolve():
                for art in arts:
                    dest = art.resolve(options.out)
                    safefs.make_folder(dest.parent)
                    safefs.copy_file(art.resolve(src), dest.parent, dest.name).chmod(art.mode)
                digest = manifest.write_stage_manifest(options.out, need, arts)
            else:
                digest = manifest.stage_manifest_sha256(options.out, need)
            # hashed where the stage will read them; inputs() hashes them again only once
            # another stage has run
            manifest.verify(options.out, arts)
            self.imported[need] = digest
            self.produced[need] = arts
        return needs

    def inputs(self, needs: Sequence[str], first: bool) -> tuple[Artifact, ...]:
        """The outputs of ``needs``, checked and hashed again (imports only when
        ``first``, the run's first stage, is false)."""
        for need in needs:
            # the hand-off within a run is bound like one between jobs: the manifest on
            # disk is, byte for byte, the one written when the need finished or was imported
            if digest := self.manifests.get(need) or self.imported.get(need):
                manifest.check_stage_manifest(self.out, need, digest)
        arts = [a for need in needs for a in self.produced.get(need, [])]
        # imports were hashed on arrival: again unless this is the run's first stage
        manifest.verify(self.out,
                        [a for a in arts if not (first and a.stage in self.imported)])
        return tuple(arts)

    def record(self, stage: str, arts: list[Artifact]) -> None:
        """Record what ``stage`` made: its manifest, and that manifest's digest."""
        self.manifests[stage] = manifest.write_stage_manifest(self.out, stage, arts)
        self.produced[stage] = arts

    def check_unchanged(self) -> None:
        """Nothing rewrote a hand-off since it was made here or imported."""
        for stage, digest in {**self.imported, **self.manifests}.items():
            manifest.check_stage_manifest(self.out, stage, digest)
