"""The preflight refuses, before a byte is sent, what PyPI would refuse or render badly."""

from __future__ import annotations

import pytest

from tests.pypi.conftest import dist_artifacts, publish_pipeline
from tests.pypi.dists import make_sdist, make_wheel, metadata

TOKEN = "pypi-AgEIcHJlZmxpZ2h0" + "z" * 40


@pytest.mark.parametrize(("kw", "why"), [
    ({"description": "Title\n=====\n\n.. unknown-directive:: x\n\n`broken link <\n"},
     "does not render on PyPI"),
    ({"content_type": "text/x-unknown"}, "'text/x-unknown'"),
    ({"extra": "Requires-Python: not a specifier\n"}, "invalid core metadata"),
])
def test_bad_metadata_is_refused_before_upload(repo, run_pypi, warehouse, tmp_path, kw, why):
    folder = tmp_path / "arts" / "dist"
    folder.mkdir(parents=True)
    meta = metadata(**kw)
    files = [make_sdist(folder, meta=meta), make_wheel(folder, meta=meta)]
    warehouse.state.api_tokens.add(TOKEN)
    pipeline = publish_pipeline(repo, f"repository-url: {warehouse.upload_url}\n"
                                      "token-env: DEMO_TOKEN\n")
    result = run_pypi(pipeline, dist_artifacts(tmp_path / "arts", files),
                      {"DEMO_TOKEN": TOKEN})
    assert result.code == 1
    assert why in result.out
    assert warehouse.state.requests == []


def test_a_version_other_than_the_tag_is_refused(repo, run_pypi, warehouse, tmp_path):
    warehouse.state.api_tokens.add(TOKEN)
    pipeline = publish_pipeline(repo, f"repository-url: {warehouse.upload_url}\n"
                                      "token-env: DEMO_TOKEN\n", tag="v2.0.0")
    result = run_pypi(pipeline, dist_artifacts(tmp_path / "arts"), {"DEMO_TOKEN": TOKEN})
    assert result.code == 1
    assert "the distributions are version 1.0.0, but the release tag says 2.0.0" in result.out
    assert warehouse.state.requests == []
