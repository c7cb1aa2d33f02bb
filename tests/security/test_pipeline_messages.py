"""Attacks on the pipeline loader's messages: keys named like pydantic's union tags that
moved an error into the attacker's mapping, keys that wrote terminal escapes on the
``at:`` line, a number that crashed the loader, and a file that flooded the log with
thousands of problems."""

from __future__ import annotations

from pathlib import Path

import pytest

from release.errors import MAX_SHOWN, Diagnostic, InputError, PipelineError
from release.pipeline.load import load_text

HEAD = """\
version: 1
name: demo
stages:
  a:
    kind: checksums
"""

# (lines of stage `a`, path, "line:col" of the value, message): one error, at the value
# itself, whatever keys the wrong mapping holds
TAG_KEYS = [
    ("    timeout:\n      x: 0\n      int: [1]\n      str: [2]\n", "stages.a.timeout", "7:7",
     "expected a whole number or a string (got a mapping)"),
    ("    runs-on:\n      str: [9]\n      list[str]: [8]\n", "stages.a.runs-on", "7:7",
     "expected a string or a list (got a mapping)"),
    # a key named like the stage's kind, which pydantic puts first in every location
    ("    checksums: {timeout: 5}\n    timeout: [1]\n", "stages.a.timeout", "7:14",
     "expected a whole number or a string (got a list)"),
]


@pytest.mark.parametrize(("lines", "path", "position", "message"), TAG_KEYS,
                         ids=["int-str-keys", "str-list-keys", "kind-key"])
def test_keys_named_like_union_tags_do_not_move_the_error(lines: str, path: str,
                                                          position: str, message: str) -> None:
    with pytest.raises(PipelineError) as caught:
        load_text(HEAD + lines, "p.yaml")
    wrong = [d for d in caught.value.diagnostics if d.path == path]
    assert [(str(d.location), d.message) for d in wrong] == [(f"p.yaml:{position}", message)]
    assert not [d for d in caught.value.diagnostics
                if d.path and d.path.startswith(f"{path}.")]


@pytest.mark.parametrize(("key", "shown"), [
    ('"inc\\e[2Jlude": [x]', "stages.a.inc\\x1b[2Jlude"),
    ('env: {"A\\e]0;pwn\\aB": x}', "stages.a.env.A\\x1b]0;pwn\\x07B"),
    ('env: {"::add-mask::\\nx": y}', "stages.a.env.::add-mask::\\nx"),
], ids=["clear-screen", "window-title", "workflow-command"])
def test_keys_print_no_control_character(key: str, shown: str, tmp_path: Path,
                                         cli: object) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(f"{HEAD}    {key}\n", encoding="utf-8")
    result = cli("plan", path)  # type: ignore[operator]
    assert result.code == 2, result.err
    assert f"  at: {shown}\n" in result.err
    assert "\x1b" not in result.err and "\x07" not in result.err
    assert all(line.startswith((f"{path}:", "  ")) for line in result.err.splitlines())


def test_a_number_past_pythons_digit_limit_is_bad_input(tmp_path: Path, cli: object) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(f"{HEAD}    timeout: {'9' * 4400}\n", encoding="utf-8")
    result = cli("plan", path)  # type: ignore[operator]
    assert result.code == 2
    assert result.err.startswith(f"{path}:6:14: error: integer too large")
    assert "internal error" not in result.err and "sys." not in result.err


def test_thousands_of_problems_do_not_flood_the_log(tmp_path: Path, cli: object,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    stages = "".join(f"  s{i}:\n    kind: checksums\n    include: {i}\n    x: 1\n"
                     for i in range(3000))
    path = tmp_path / "p.yaml"
    path.write_text(f"version: 1\nname: demo\nstages:\n{stages}", encoding="utf-8")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    result = cli("plan", path)  # type: ignore[operator]
    assert result.code == 2
    assert sum(line.startswith(f"{path}:") for line in result.err.splitlines()) == MAX_SHOWN
    assert result.err.splitlines()[-1].startswith(f"{6000 - MAX_SHOWN} more problems found")
    assert result.out.count("::error ") == MAX_SHOWN
    assert len(result.err.splitlines()) <= 3 * MAX_SHOWN + 1  # message, at, hint; the count


def test_a_stage_reason_names_at_most_the_problems_shown() -> None:
    # a certificates file or lock with thousands of problems fails its stage with a
    # one-line reason: it names as many as are shown, then how many more
    error = InputError("first", extra=[Diagnostic(f"problem {i}") for i in range(5999)])
    reason = error.summary()
    assert reason.split("; ")[:2] == ["first", "problem 0"]
    assert reason.count("; ") == MAX_SHOWN
    assert reason.endswith(f"; and {6000 - MAX_SHOWN} more")


def test_a_token_in_a_long_value_is_masked_before_it_is_cut(tmp_path: Path, cli: object) -> None:
    token = "ghp_0123456789abcdefghijKLMNOPQRSTUVWXYZ"
    path = tmp_path / "p.yaml"
    path.write_text("version: 1\nname: x\nstages:\n  a:\n    kind: checksums\n"
                    f'    runs-on: "{"a" * 40} {token}"\n', encoding="utf-8")
    result = cli("plan", path)  # type: ignore[operator]
    assert result.code == 2
    assert "ghp_" not in result.err and "0123456789" not in result.err
