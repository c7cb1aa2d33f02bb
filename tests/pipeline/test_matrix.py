"""Build matrices: expansion, exclude and include, substitution, needs, positions of errors."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from release.errors import PipelineError
from release.pipeline.load import LoadedPipeline, load_text
from release.pipeline.matrix import combinations
from release.pipeline.schema import schema
from release.report import plan

MATRIX = """\
version: 1
name: demo
stages:
  cli:
    kind: command
    matrix:
      os: [linux, darwin, windows]
      arch: [amd64, arm64]
      exclude:
        - {os: windows, arch: arm64}
    run: ["go", "build", "-o", "{out}/tool-{matrix.os}-{matrix.arch}"]
    outputs: ["tool-{matrix.os}-{matrix.arch}"]
    env:
      GOOS: "{matrix.os}"
      GOARCH: "{matrix.arch}"
  sums:
    kind: checksums
    needs: [cli]
"""


def _load(text: str) -> LoadedPipeline:
    return load_text(text, "release.yaml", Path("release.yaml"))


def _error(text: str) -> str:
    with pytest.raises(PipelineError) as exc:
        _load(text)
    return exc.value.render()


def test_a_matrix_expands_in_key_order_less_the_excluded_combination() -> None:
    p = _load(MATRIX)
    assert list(p.model.stages) == ["cli-linux-amd64", "cli-linux-arm64", "cli-darwin-amd64",
                                    "cli-darwin-arm64", "cli-windows-amd64", "sums"]
    assert p.expansions["cli-darwin-arm64"].stage == "cli"
    assert p.expansions["cli-darwin-arm64"].values == (("os", "darwin"), ("arch", "arm64"))
    assert "sums" not in p.expansions


def test_values_are_substituted_and_needs_mean_every_expansion() -> None:
    p = _load(MATRIX)
    cfg = p.config("cli-windows-amd64")
    assert cfg.run == ["go", "build", "-o", "{out}/tool-windows-amd64"]  # type: ignore[attr-defined]
    assert cfg.outputs == ["tool-windows-amd64"]  # type: ignore[attr-defined]
    assert cfg.env == {"GOOS": "windows", "GOARCH": "amd64"}
    assert p.needs["sums"] == tuple(s for s in p.model.stages if s.startswith("cli-"))


def test_include_adds_keys_to_matching_combinations_and_new_combinations() -> None:
    text = MATRIX.replace("      exclude:\n        - {os: windows, arch: arm64}\n",
                          "      include:\n        - {os: darwin, runner: macos-15}\n"
                          "        - {os: linux, runner: ubuntu-24.04}\n"
                          "        - {os: windows, runner: windows-2025}\n"
                          "        - {os: freebsd, arch: amd64, runner: ubuntu-24.04}\n"
                          ).replace("  sums:", '    runs-on: "{matrix.runner}"\n  sums:')
    p = _load(text)
    runners = {sid: p.config(sid).runs_on for sid in p.expansions}
    assert runners == {"cli-linux-amd64": "ubuntu-24.04", "cli-linux-arm64": "ubuntu-24.04",
                       "cli-darwin-amd64": "macos-15", "cli-darwin-arm64": "macos-15",
                       "cli-windows-amd64": "windows-2025", "cli-windows-arm64": "windows-2025",
                       "cli-freebsd-amd64": "ubuntu-24.04"}
    # an included key is not part of the id, nor of the matrix values shown
    assert p.expansions["cli-darwin-amd64"].describe() == "os=darwin, arch=amd64"


def test_runs_on_defaults_to_ubuntu_and_takes_label_lists() -> None:
    p = _load(MATRIX.replace("  sums:", "    runs-on: [self-hosted, linux, arm64]\n  sums:"))
    assert p.config("sums").runs_on == "ubuntu-24.04"
    assert p.config("cli-linux-amd64").runs_on == ["self-hosted", "linux", "arm64"]


# (name, replacement of (old, new) in MATRIX, "line:col", text of the message or hint)
BAD = [
    ("unknown axis", ("{matrix.arch}\"]\n    outputs", "{matrix.cpu}\"]\n    outputs"), "11:32",
     "unknown matrix axis in {matrix.cpu}"),
    ("placeholder outside the substituted keys", ("  sums:", '    timeout: "{matrix.os}"\n'
                                                 "  sums:"), "16:14",
     "{matrix.os} is not replaced in `timeout`"),
    ("placeholder without a matrix", ("needs: [cli]", "needs: [cli]\n    env: {A: '{matrix.os}'}"),
     "19:14", "in a stage without `matrix`"),
    ("value not a short name", ("arch: [amd64, arm64]", "arch: [amd64, Arm_64]"), "8:21",
     "matrix value 'Arm_64' is not a short name"),
    ("number value", ("arch: [amd64, arm64]", "arch: [amd64, 64]"), "8:21",
     "quoted if YAML reads a number"),
    ("repeated value", ("arch: [amd64, arm64]", "arch: [amd64, amd64]"), "8:13",
     "lists a value twice"),
    ("exclude unknown axis", ("{os: windows, arch: arm64}", "{os: windows, cpu: arm64}"),
     "10:25", "names unknown axis 'cpu'"),
    ("exclude unknown value", ("{os: windows, arch: arm64}", "{os: windowz, arch: arm64}"),
     "10:16", "'windowz' is not a value of axis 'os'"),
    ("everything excluded", ("{os: windows, arch: arm64}", "{arch: arm64}\n        - "
                             "{arch: amd64}"), "6:5", "excludes every combination"),
    ("empty axis", ("arch: [amd64, arm64]", "arch: []"), "8:13", "non-empty list"),
    ("not a mapping", ("    matrix:\n      os: [linux, darwin, windows]\n      arch: "
                       "[amd64, arm64]\n      exclude:\n        - {os: windows, arch: arm64}",
                       "    matrix: [linux]"), "6:13", "mapping of axes"),
    ("bad axis name", ("arch: [amd64", "Arch: [amd64"), "8:7", "invalid matrix axis 'Arch'"),
    ("id collides with a stage", ("  sums:", "  cli-linux-amd64:\n    kind: checksums\n"
                                  "  sums:"), "6:5", "'cli-linux-amd64', which is already"),
    ("ambiguous ids", ("arch: [amd64, arm64]", "arch: [amd64, arm64]\n      abi: [a-b, a]\n"
                       "      ext: [c, b-c]"), "6:5", "expands to 'cli-linux-amd64-a-b-c' "
     "twice"),
    ("id too long", ("os: [linux, darwin, windows]", "os: [" + "x" * 32 + ", " + "y" * 31 +
                     ", windows]\n      v: [" + "z" * 30 + "]"), "6:5",
     "not a valid stage id"),
    ("include misses an axis", ("{os: windows, arch: arm64}", "{os: windows, arch: arm64}\n"
                                "      include:\n        - {os: plan9}"), "12:9",
     "matches no combination and has no 'arch'"),
    ("runs-on expression", ("  sums:", '    runs-on: "${{ matrix.os }}"\n  sums:'), "16:14",
     "holds an expression"),
    ("runs-on unknown single label", ("  sums:", "    runs-on: my-box\n  sums:"), "16:14",
     "not a GitHub-hosted runner label"),
    ("error inside an expansion", ('run: ["go", "build"', 'run: ["go", 7'), "11:17",
     "expected a string"),
]


@pytest.mark.parametrize(("name", "change", "position", "expected"), BAD, ids=[b[0] for b in BAD])
def test_bad_matrix(name: str, change: tuple[str, str], position: str, expected: str) -> None:
    old, new = change
    assert old in MATRIX
    text = _error(MATRIX.replace(old, new, 1))
    first = text.splitlines()[0]
    assert first.startswith(f"release.yaml:{position}: error: "), text
    assert expected in text
    assert "Traceback" not in text and "ValidationError" not in text


def test_an_error_in_every_expansion_is_reported_once() -> None:
    text = _error(MATRIX.replace('run: ["go", "build"', 'run: ["go", 7'))
    assert text.count("error:") == 1, text


def test_the_exact_error_for_an_unknown_axis() -> None:
    text = _error(MATRIX.replace('GOARCH: "{matrix.arch}"', 'GOARCH: "{matrix.cpu}"'))
    assert text == ("release.yaml:15:15: error: unknown matrix axis in {matrix.cpu}\n"
                    "  at: stages.cli.env.GOARCH\n"
                    "  hint: axes of this matrix: os, arch")


_axis_values = st.lists(st.from_regex(r"[a-z][a-z0-9]{0,3}", fullmatch=True), min_size=1,
                        max_size=4, unique=True)


@st.composite
def _matrices(draw: st.DrawFn) -> tuple[dict[str, list[str]], list[dict[str, str]]]:
    names = draw(st.lists(st.sampled_from(["os", "arch", "abi", "go"]), min_size=1,
                          max_size=3, unique=True))
    axes = {n: draw(_axis_values) for n in names}
    exclude = draw(st.lists(st.builds(
        lambda keys, picks: {k: axes[k][p % len(axes[k])] for k, p in zip(keys, picks,
                                                                       strict=False)},
        st.lists(st.sampled_from(names), min_size=1, unique=True),
        st.lists(st.integers(0, 3), min_size=len(names), max_size=len(names))), max_size=4))
    return axes, exclude


@settings(max_examples=60, deadline=None)
@given(_matrices())
def test_every_combination_not_excluded_appears_exactly_once(
        matrix: tuple[dict[str, list[str]], list[dict[str, str]]]) -> None:
    axes, exclude = matrix
    expected = [dict(zip(axes, values, strict=True))
                for values in itertools.product(*axes.values())
                if not any(all(dict(zip(axes, values, strict=True))[k] == v
                               for k, v in e.items()) for e in exclude)]
    assert combinations(axes, exclude) == expected
    # and through the loader: one stage per combination, in order, with its values
    spec = {**axes, "exclude": exclude}
    data = {"version": 1, "name": "p", "stages": {"b": {
        "kind": "command", "matrix": spec, "outputs": ["x"],
        "run": ["echo", *(f"{{matrix.{a}}}" for a in axes)]}}}
    if not expected:
        with pytest.raises(PipelineError, match="excludes every combination"):
            _load(yaml.safe_dump(data, sort_keys=False))
        return
    p = _load(yaml.safe_dump(data, sort_keys=False))
    assert list(p.model.stages) == ["-".join(["b", *c.values()]) for c in expected]
    for sid, combo in zip(p.model.stages, expected, strict=True):
        assert p.config(sid).run == ["echo", *combo.values()]  # type: ignore[attr-defined]
        assert dict(p.expansions[sid].values) == combo


def test_plan_shows_expansions_their_matrix_stage_and_runner_in_every_format() -> None:
    p = _load(MATRIX.replace("  sums:", '    runs-on: ubuntu-24.04-arm\n  sums:'))
    data = plan.plan_data(p, None)
    by_id = {s["id"]: s for s in data["stages"]}
    assert by_id["cli-darwin-arm64"]["matrix"] == {"stage": "cli",
                                                   "values": {"os": "darwin", "arch": "arm64"}}
    assert by_id["cli-darwin-arm64"]["runs-on"] == "ubuntu-24.04-arm"
    assert by_id["sums"]["matrix"] is None and by_id["sums"]["runs-on"] == "ubuntu-24.04"
    assert json.loads(plan.render_json(data))["stages"] == data["stages"]
    table = plan.render_table(data)
    assert "matrix" in table.splitlines()[1] and "runs-on" in table.splitlines()[1]
    row = next(line for line in table.splitlines() if line.startswith("0      cli-darwin-arm64"))
    assert "cli: os=darwin, arch=arm64" in row and "ubuntu-24.04-arm" in row
    assert table.rstrip().endswith("cli (all 5)")
    md = plan.render_markdown(data)
    assert ("| 0 | `cli-windows-amd64` | command | cli: os=windows, arch=amd64 | "
            "ubuntu-24.04-arm | local | none | - | tool-windows-amd64 |") in md
    assert "| cli (all 5) | SHA256SUMS |" in md or "| cli (all 5) |" in md


def test_the_json_schema_describes_matrix_and_runs_on() -> None:
    validator = jsonschema.Draft202012Validator(schema())
    data = yaml.safe_load(MATRIX)
    assert not list(validator.iter_errors(data))
    data["stages"]["cli"]["runs-on"] = ["self-hosted", "linux"]
    assert not list(validator.iter_errors(data))
    data["stages"]["cli"]["runs-on"] = "{matrix.runner}"
    assert not list(validator.iter_errors(data))
    for bad in ("${{ matrix.os }}", "my-box", ["${{ inputs.x }}"], []):
        data["stages"]["cli"]["runs-on"] = bad
        assert list(validator.iter_errors(data)), bad
    data["stages"]["cli"]["runs-on"] = "macos-15"
    data["stages"]["cli"]["matrix"]["os"] = "linux"  # an axis is a list
    assert list(validator.iter_errors(data))
    data["stages"]["cli"]["matrix"]["os"] = ["Linux"]  # of short lowercase names
    assert list(validator.iter_errors(data))
    text = json.dumps(schema())
    assert "runs-on" in text and "{matrix.AXIS}" in text


def test_fetch_is_substituted_and_locks_are_not() -> None:
    text = MATRIX.replace("    outputs: [\"tool-", "    fetch: [\"go\", \"mod\", \"download\", "
                          "\"{matrix.os}\"]\n    locks: [go.sum]\n    outputs: [\"tool-")
    p = _load(text)
    assert p.config("cli-darwin-amd64").fetch == [  # type: ignore[attr-defined]
        "go", "mod", "download", "darwin"]
    bad = text.replace("locks: [go.sum]", "locks: ['{matrix.os}.sum']")
    assert "{matrix.os} is not replaced in `locks`" in _error(bad)


def test_errors_of_expansions_are_stated_in_the_terms_of_the_file() -> None:
    text = _error(MATRIX.replace("    env:\n", "    needs: [nope]\n    env:\n"))
    assert text == ("release.yaml:13:13: error: stage 'cli' needs unknown stage 'nope'\n"
                    "  at: stages.cli.needs[0]\n"
                    "  hint: known stages: cli-linux-amd64, cli-linux-arm64, "
                    "cli-darwin-amd64, cli-darwin-arm64, cli-windows-amd64, sums")
