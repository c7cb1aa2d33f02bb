"""Stage-by-stage validation gives what the whole model gives, importing fewer kinds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from release.pipeline.model import Pipeline
from release.pipeline.validate import InvalidPipeline, validate
from release.stages import KINDS

ROOT = Path(__file__).resolve().parents[2]
OWN = yaml.safe_load((ROOT / "pipelines" / "release.yaml").read_text(encoding="utf-8"))


def _outcome(fn: Any, data: object) -> tuple[object, list[dict[str, Any]] | None]:
    """The model, or the errors with what a user sees of each (no ``url``; the
    exception in ``ctx`` as text, since exceptions compare by identity)."""
    try:
        return fn(data), None
    except ValidationError as exc:
        errors = exc.errors()
    except InvalidPipeline as exc:
        errors = exc.errors
    return None, [{k: str(v) if k == "ctx" else v for k, v in e.items() if k != "url"}
                  for e in errors]


def _same(data: object) -> None:
    assert _outcome(validate, data) == _outcome(Pipeline.model_validate, data)


def _with(**changes: Any) -> dict[str, Any]:
    data = {**OWN, "stages": dict(OWN["stages"])}
    stages = changes.pop("stages", {})
    data.update(changes)
    for sid, value in stages.items():
        if value is None:
            data["stages"].pop(sid, None)
        else:
            data["stages"][sid] = value
    return data


CASES = {
    "own pipeline": OWN,
    "one job per stage": _with(jobs="per-stage"),
    "unknown jobs value": _with(jobs="bogus"),
    "unknown top-level key and bad stage id": _with(extra=1, stages={"Bad": {"kind": "command"}}),
    "unknown kind": _with(stages={"x": {"kind": "comand", "run": ["a"]}}),
    "no kind": _with(stages={"x": {"run": ["a"]}}),
    "stage not a mapping": _with(stages={"x": 5}),
    "kind not a string": _with(stages={"x": {"kind": 5}}),
    "bad name, version and source": _with(name="bad name!", version=2, source={"repo": 1}),
    "no stages": _with(stages=dict.fromkeys(OWN["stages"])),
    "stages a list": {**OWN, "stages": []},
    "stages missing": {k: v for k, v in OWN.items() if k != "stages"},
    "errors in several stages": _with(stages={
        "Y_": {"kind": "checksums", "nope": 1},
        "z": {"kind": "oci-image", "platforms": ["linux/amd6"], "config": {"user": 5}},
        "p": {"kind": "sign", "backend": "key"},
        "q": {"kind": "pypi-publish", "token-env": "1bad"},
        "r": {"kind": "attest", "permissions": {"id-token": "read"}},
        "s": {"kind": "command", "command": 1, "run": [], "timeout": "x",
              "env": {"GOCACHE": "1"}}}),
}


@pytest.mark.parametrize("data", CASES.values(), ids=CASES.keys())
def test_same_result_as_the_whole_model(data: object) -> None:
    _same(data)


_values = st.one_of(st.none(), st.integers(-1, 3), st.sampled_from(["", "x", "v*", "1h", "a/b"]),
                    st.lists(st.sampled_from(["a", "b", "sums"]), max_size=2))
_keys = st.sampled_from(["kind", "needs", "run", "outputs", "env", "timeout", "permissions",
                         "backend", "key", "files", "platforms", "bogus"])
_stage = st.dictionaries(_keys, st.one_of(st.sampled_from([*KINDS, "nope"]), _values),
                         max_size=4)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["a", "b", "sums", "B", "1x"]),
                       st.one_of(_stage, _values), max_size=4))
def test_same_result_for_any_stages(stages: dict[str, object]) -> None:
    _same({"version": 1, "name": "demo", "stages": stages})


def test_loading_imports_only_the_kinds_used(tmp_path: Path) -> None:
    path = tmp_path / "release.yaml"
    path.write_text("version: 1\nname: demo\nstages:\n  build:\n    kind: command\n"
                    "    run: [make]\n    outputs: [tool]\n  sums:\n    kind: checksums\n"
                    "    needs: [build]\n", encoding="utf-8")
    code = ("import sys\nfrom release.pipeline.load import load\nload(sys.argv[1])\n"
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('release.stages.'))))")
    out = subprocess.run([sys.executable, "-c", code, str(path)], check=True,
                         capture_output=True, text=True).stdout.split()
    assert {"release.stages.checksums", "release.stages.command"} <= set(out)
    others = {"attest", "github_release", "oci_image", "pem_bundle", "pypi_publish",
              "python_dist", "sbom", "sign"}
    assert not {f"release.stages.{name}" for name in others} & set(out)
