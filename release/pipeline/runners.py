"""``runs-on:`` is read by :mod:`release.engine.runners`, which the stage configuration
and the engine use too; this name stays for the callers that import it from here."""

from release.engine.runners import (
    DEFAULT_RUNNER,
    MAX_LABELS,
    RUNS_ON_SCHEMA,
    check_runs_on,
    host_platform,
    local_skip,
    runner_platform,
    show,
    skipped_here,
)

__all__ = ["DEFAULT_RUNNER", "MAX_LABELS", "RUNS_ON_SCHEMA", "check_runs_on", "host_platform",
           "local_skip", "runner_platform", "show", "skipped_here"]
