"""GitHub Actions: the generated least-privilege release workflow, and ``release audit``.

GitHub Actions is the distributed engine: each pipeline stage becomes one job on its
own runner with exactly that stage's ``permissions:``. This package writes that
workflow (:mod:`release.workflows.generate`), checks it for drift, and audits any
workflow with zizmor plus the rules in :mod:`release.workflows.rules`.
"""
