"""`release schema` matches the committed copy editors use; `release stages` lists kinds."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from release.pipeline.schema import schema_text
from release.stages import KINDS
from tests.workflows.samples import committed_pipelines

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "release" / "pipeline" / "schema.json"


def test_committed_schema_is_in_sync(cli):
    result = cli("schema")
    assert result.code == 0
    assert result.out == COMMITTED.read_text(encoding="utf-8"), (
        "regenerate it: release schema > release/pipeline/schema.json")


def test_schema_accepts_shipped_pipelines_and_rejects_unknown_keys():
    schema = json.loads(schema_text())
    validator = jsonschema.Draft202012Validator(schema)
    for path in committed_pipelines():
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        errors = list(validator.iter_errors(data))
        assert not errors, f"{path.name}: {errors[0].message}"
    bad = {"version": 1, "name": "x", "stages": {"a": {"kind": "checksums", "bogus": 1}}}
    assert list(validator.iter_errors(bad))


def test_stages_lists_every_kind(cli):
    result = cli("stages")
    assert result.code == 0
    for name, kind in KINDS.items():
        assert f"{name}" in result.out and kind.description in result.out


def test_help_and_version(cli):
    import pytest

    with pytest.raises(SystemExit) as exc:
        cli("--help")
    assert exc.value.code == 0
    with pytest.raises(SystemExit) as exc:
        cli("run")
    assert exc.value.code == 2
