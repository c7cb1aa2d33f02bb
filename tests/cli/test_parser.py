"""The command line imports only the command it runs: `release --help` lists every
command by its help text, and each command's own options are still parsed and shown."""

from __future__ import annotations

import subprocess
import sys

import pytest

from release.cli import COMMANDS

PROBE = """\
import sys
from release.cli import main
try:
    code = main({argv!r})
except SystemExit as exc:
    code = exc.code
print("MODULES:" + " ".join(sorted(m for m in sys.modules if m in {modules!r})))
print("PYDANTIC_DISABLE_PLUGINS:" + __import__("os").environ.get("PYDANTIC_DISABLE_PLUGINS", ""))
sys.exit(code)
"""


def _probe(*argv: str) -> tuple[int, str, list[str], str]:
    modules = {module for _, module, _ in COMMANDS}
    proc = subprocess.run([sys.executable, "-c", PROBE.format(argv=list(argv), modules=modules)],
                          capture_output=True, text=True, check=False)
    lines = proc.stdout.splitlines()
    imported = lines[-2].removeprefix("MODULES:").split()
    plugins = lines[-1].removeprefix("PYDANTIC_DISABLE_PLUGINS:")
    return proc.returncode, "\n".join(lines[:-2]), imported, plugins


def test_help_lists_every_command_and_imports_none_of_their_modules():
    code, out, imported, _ = _probe("--help")
    assert code == 0
    for name, _, text in COMMANDS:
        assert name in out and text in out
    assert imported == []


@pytest.mark.parametrize(("name", "module", "option"), [
    ("verify", "release.verify.command", "--require-provenance"),
    ("workflow", "release.workflows.command", "generate"),
    ("audit", "release.workflows.audit_command", "--severity"),
])
def test_a_command_imports_only_its_own_module(name, module, option):
    for argv in ([name, "--help"], ["--debug", name, "--help"]):
        code, out, imported, _ = _probe(*argv)
        assert code == 0, out
        assert option in out
        assert imported == [module]


def test_plan_imports_no_other_command_and_runs_no_pydantic_plugin():
    code, _, imported, plugins = _probe("plan", "--help")
    assert code == 0
    assert imported == []
    assert plugins == "__all__"


def test_an_unknown_command_is_a_usage_error():
    proc = subprocess.run([sys.executable, "-m", "release", "verfy", "x"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert "invalid choice: 'verfy'" in proc.stderr
    assert "Traceback" not in proc.stderr
