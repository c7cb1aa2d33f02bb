"""Bad oci-image configurations are pipeline errors at file:line:col (exit code 2)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from release.pipeline.load import load
from release.stages import KINDS
from tests.conftest import Repo

DIGEST = "sha256:" + "ab" * 32
HEAD = """\
version: 1
name: bad
stages:
  build:
    kind: command
    run: ["sh", "-c", "echo > {out}/tool"]
    outputs: ["tool"]
  image:
    kind: oci-image
    needs: [build]
"""


def _plan(repo: Repo, cli, body: str):  # type: ignore[no-untyped-def]
    path = repo.write("release.yaml", HEAD + body)
    res = cli("plan", path)
    assert res.code == 2, res.out + res.err
    return path, res.err


@pytest.mark.parametrize(("body", "anchor", "message"), [
    ("    base: alpine:3.19\n    files: {tool: /tool}\n", "alpine",
     "base 'alpine:3.19' is pinned by tag only"),
    ("    base: ghcr.io/o/base:v1\n    files: {tool: /tool}\n", "ghcr.io",
     "pin the digest: ghcr.io/o/base:v1@sha256:<digest>"),
    ("    files: {tool: /../etc/passwd}\n", "/../etc",
     "image path '/../etc/passwd' escapes the image root"),
    ("    files:\n      tool: {path: usr/bin/tool}\n", "usr/bin",
     "image path 'usr/bin/tool' must be absolute"),
    ("    files: {tool: /tool}\n    platforms: [linux/amd64, linux/amd65]\n", "linux/amd65",
     "unknown platform 'linux/amd65'; did you mean 'linux/amd64'?"),
    ("    files: {tool: {path: /tool, platform: linux/arm64}}\n", "{tool",
     "file 'tool' is for linux/arm64, which is not in platforms"),
    ("    platforms: [linux/amd64, linux/arm64]\n    files:\n      tool: /a\n"
     "      x: {path: /a, platform: linux/arm64}\n", "tool: /a",
     "two files are mapped to /a in the linux/arm64 image"),
    ("    files: {tool: /t}\n    push: {repository: ghcr.io/o/n, tags: ['1+2']}\n", "'1+2'",
     "'1+2' is not a valid tag"),
    ("    files: {tool: /t}\n    push: {repository: o/n}\n", "o/n}",
     "'o/n' is not a repository of the form host/owner/name"),
    ("    files: {tool: /t}\n    config: {labels: {org.opencontainers.image.revision: x}}\n",
     "{org.", "label org.opencontainers.image.revision is set from the release source"),
    ("    files: {}\n", "{}", "the linux/amd64 image would be empty"),
    ("    platforms: [linux/arm64]\n", "kind", "the linux/arm64 image would be empty"),
])
def test_bad_config(repo: Repo, cli, body: str, anchor: str, message: str) -> None:
    path, err = _plan(repo, cli, body)
    head = re.search(rf"^{re.escape(str(path))}:(\d+):(\d+): error: (.*)$", err, re.M)
    assert head, err
    line = path.read_text().splitlines()[int(head[1]) - 1]
    assert line.find(anchor) == int(head[2]) - 1, (line, err)  # the column points at it
    assert message in head[3], err


def test_pushing_to_ghcr_needs_packages_write(repo: Repo, cli) -> None:
    body = ("    files: {tool: /t}\n    push: {repository: ghcr.io/o/n}\n"
            "    permissions: {contents: read}\n")
    _, err = _plan(repo, cli, body)
    assert "kind oci-image needs packages: write" in err, err




def test_missing_file_is_found_by_the_kind(repo: Repo) -> None:
    """The cross-stage check names the file no need declares, at its key."""
    path = repo.write("release.yaml", HEAD + "    files: {tool: /t, tool.sig: /t.sig}\n")
    model = _model(path)
    kind = KINDS["oci-image"]
    problems = kind.check_pipeline("image", model.stages["image"], model)  # type: ignore[attr-defined]
    assert problems == [(("stages", "image", "files", "tool.sig"),
                         "stage 'image' maps file 'tool.sig', but none of its needs (build) "
                         "produces an artifact of that name", "the needs declare: tool")]


def _model(path: Path):  # type: ignore[no-untyped-def]
    from release.pipeline.model import Pipeline
    from release.yamlsource import parse

    return Pipeline.model_validate(parse(path.read_text(), str(path)).data)


def test_missing_file_is_a_pipeline_error(repo: Repo, cli) -> None:
    path, err = _plan(repo, cli, "    files: {tool: /t, tool.sig: /t.sig}\n")
    assert re.search(rf"^{re.escape(str(path))}:11:\d+: error: stage 'image' maps file "
                     r"'tool.sig', but none of its needs", err, re.M), err
    assert load  # the loader is what reports it


def test_missing_file_at_run_time(repo: Repo, cli, tmp_path: Path) -> None:
    """A glob output passes the static check; the run names the file that is not there."""
    body = HEAD.replace('outputs: ["tool"]', 'outputs: ["*"]') + "    files: {tol: /t}\n"
    path = repo.write("release.yaml", body)
    repo.commit()
    res = cli("run", path, "--out", tmp_path / "out")
    assert res.code == 1
    assert "file 'tol': no artifact of that name among the outputs of build (they are: tool)" \
        in res.err, res.err


def test_base_is_a_resolved_input_for_provenance(repo: Repo) -> None:
    from release.stages.attest_statements import ResolvesInputs

    body = f"    base: ghcr.io/o/base@{DIGEST}\n    files: {{tool: /t}}\n"
    model = _model(repo.write("release.yaml", HEAD + body))
    kind = KINDS["oci-image"]
    assert isinstance(kind, ResolvesInputs)
    hexdigest = DIGEST.removeprefix("sha256:")
    assert kind.resolved_inputs(model.stages["image"]) == [{
        "uri": f"pkg:oci/base@sha256%3A{hexdigest}?repository_url=ghcr.io/o/base",
        "digest": {"sha256": hexdigest}, "name": f"ghcr.io/o/base@{DIGEST}"}]
    scratch = _model(repo.write("release.yaml", HEAD + "    files: {tool: /t}\n"))
    assert kind.resolved_inputs(scratch.stages["image"]) == []


def test_schema_accepts_both_file_forms(repo: Repo, cli, tmp_path: Path) -> None:
    """Editors check pipeline files with the generated schema: short and long forms pass."""
    import subprocess
    import sys

    res = cli("schema")
    assert res.code == 0
    schema = tmp_path / "schema.json"
    schema.write_text(res.out)
    body = ("    platforms: [linux/amd64, linux/arm64]\n    files:\n      tool: /usr/bin/tool\n"
            "      ca.pem: {path: /etc/ca.pem, mode: \"0444\", platform: linux/arm64}\n"
            f"    base: ghcr.io/o/base@{DIGEST}\n"
            "    push: {repository: ghcr.io/o/n, tags: [\"{version}\", latest]}\n")
    path = repo.write("release.yaml", HEAD + body)
    exe = Path(sys.executable).with_name("check-jsonschema")
    proc = subprocess.run([exe, "--schemafile", schema, path], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    bad = repo.write("bad.yaml", HEAD + "    files: {tool: 7}\n")
    proc = subprocess.run([exe, "--schemafile", schema, bad], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
