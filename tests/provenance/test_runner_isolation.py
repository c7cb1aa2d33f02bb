"""Provenance claims sandboxed builds only when every attested build ran in bubblewrap: a
stage on a macOS or Windows runner builds with ``--no-sandbox`` in the generated workflow."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from tests.conftest import Repo
from tests.provenance.test_pipeline import signing_key  # noqa: F401 - a fixture

PIPELINE = """\
version: 1
name: demo
source:
  repository: octo-org/demo
stages:
  app:
    kind: command
    run: ["sh", "-c", "printf app > {{out}}/app"]
    outputs: ["app"]
    runs-on: {runner}
  provenance:
    kind: attest
    needs: [app]
    backend: key
    key: {key}
"""


def _sandboxed(out: Path) -> bool:
    envelope = json.loads((out / "provenance" / "demo.intoto.jsonl").read_text())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    flag = statement["predicate"]["buildDefinition"]["internalParameters"]["sandboxed"]
    assert isinstance(flag, bool)
    return flag


def test_provenance_says_unsandboxed_when_a_build_ran_on_a_macos_runner(
        repo: Repo, cli, tmp_path: Path, signing_key: tuple[Path, Path]) -> None:  # noqa: F811
    key, _ = signing_key
    path = repo.write("release.yaml", PIPELINE.format(runner="ubuntu-24.04", key=key))
    repo.commit("pipeline")
    repo.tag("v1.0.0")
    built = tmp_path / "built"
    result = cli("run", path, "--out", built)
    assert result.code == 0, result.err
    assert _sandboxed(built) is True
    # the same release where `app` runs on macOS: its job built it (here: the artifacts
    # above, handed over as the macOS job would), and the attest job runs on Linux
    repo.write("release.yaml", PIPELINE.format(runner="macos-15", key=key))
    repo.commit("app on macOS")
    repo.tag("v1.0.1")
    out = tmp_path / "attest"
    result = cli("run", path, "--stage", "provenance", "--artifacts", built, "--out", out)
    assert result.code == 0, result.err
    assert _sandboxed(out) is False
