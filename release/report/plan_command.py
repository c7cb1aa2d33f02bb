"""``release plan PIPELINE``: print the static plan of a pipeline without running it.

The options are defined in :mod:`release.cli`. Imports stay inside the functions: the CLI
imports this module only to run ``plan``, and ``run`` imports it for :func:`source_facts`.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from release.errors import ReleaseError

if TYPE_CHECKING:
    from release.engine.source import SourceFacts
    from release.pipeline.load import LoadedPipeline


def source_facts(pipeline: LoadedPipeline) -> SourceFacts:
    """The facts of the checkout the pipeline file is in, as its ``source:`` reads them."""
    from release.engine.source import discover

    src = pipeline.model.source
    return discover(pipeline.path.resolve(), tags=src.tags, version=src.version,
                    repository=src.repository, environ=dict(os.environ), path=src.path,
                    where=lambda key: pipeline.document.location(("source", key)))


def run(args: argparse.Namespace) -> int:
    from release.engine.subtree import SourcePathError
    from release.pipeline.load import load
    from release.report import plan as render

    pipeline = load(args.pipeline)
    source: SourceFacts | None
    try:
        source = source_facts(pipeline)
    except SourcePathError:
        raise  # in a checkout, a folder that is not there is an error of the pipeline
    except ReleaseError:
        source = None  # a plan does not need a checkout
    data = render.plan_data(pipeline, source)
    if args.format != "table":  # reviewers see which stages share a job, and its needs
        data["jobs"] = render.jobs_data(pipeline)
    text = {"json": render.render_json, "markdown": render.render_markdown,
            "table": render.render_table}[args.format](data)
    print(text, end="" if text.endswith("\n") else "\n")
    return 0
