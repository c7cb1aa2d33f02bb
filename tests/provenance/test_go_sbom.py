"""The SBOM of a Go program lists the modules its linker recorded. The real Go toolchain
builds the programs (for four targets, with modules from a loopback module proxy and one
from a folder of the build), and ``go version -m`` is the oracle for what we read."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from release.provenance.gobuild import GoBuild, GoModule, read_go_build
from release.provenance.sbom import check_sbom, sbom_format, sbom_json
from tests.hermetic import goproxy
from tests.hermetic.goproxy import TINY, GoProxy, needs_go

pytestmark = needs_go

TARGETS = ("linux/amd64", "linux/386", "windows/amd64", "darwin/arm64")
UNTRIMMED = "linux/386"
MAIN = """\
package main

import (
\t"example.com/local"
\t"example.com/tiny"
)

var version = "dev"

func main() { println(tiny.Answer, local.Name, version) }
"""


@pytest.fixture(scope="module")
def programs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Path]]]:
    """The module's folder and target -> program built there."""
    with goproxy.serve() as proxy:
        yield _build(proxy, tmp_path_factory.mktemp("go"))


def _build(proxy: GoProxy, root: Path) -> tuple[Path, dict[str, Path]]:
    proxy.publish("example.com/tiny", "v1.0.0", TINY)
    app = root / "app"
    (root / "local").mkdir()
    (root / "local" / "go.mod").write_text("module example.com/local\n\ngo 1.18\n")
    (root / "local" / "local.go").write_text('package local\n\nconst Name = "local"\n')
    app.mkdir()
    (app / "go.mod").write_text(
        "module example.com/app\n\ngo 1.18\n\nrequire (\n\texample.com/local v0.3.0\n"
        "\texample.com/tiny v1.0.0\n)\n\nreplace example.com/local => ../local\n")
    (app / "main.go").write_text(MAIN)
    env = {"PATH": os.environ["PATH"], "HOME": str(root), "GOPROXY": proxy.url,
           "GOSUMDB": "off", "GOFLAGS": "-mod=mod -modcacherw", "GOTOOLCHAIN": "local",
           "GOMODCACHE": str(root / "gomod"), "GOCACHE": str(root / "gocache"),
           "CGO_ENABLED": "0"}
    subprocess.run(["go", "mod", "tidy"], cwd=app, env=env, check=True, capture_output=True,
                   timeout=120)
    built = {}
    for target in TARGETS:
        goos, goarch = target.split("/")
        out = root / f"app-{goos}-{goarch}"
        # without -trimpath Go also records -ldflags, quoted: one target shows it
        trim = [] if target == UNTRIMMED else ["-trimpath"]
        subprocess.run(["go", "build", *trim, "-ldflags=-X main.version=1.2 -buildid=",
                        "-o", str(out), "."], cwd=app, check=True, capture_output=True,
                       env={**env, "GOOS": goos, "GOARCH": goarch}, timeout=300)
        built[target] = out
    return app, built


def _go_version_m(program: Path) -> list[list[str]]:
    """``go version -m``'s lines, split at tabs, without the first (the file's name)."""
    out = subprocess.run(["go", "version", "-m", str(program)], capture_output=True,
                         text=True, check=True).stdout
    return [line.strip("\t").split("\t") for line in out.splitlines()[1:] if line.strip()]


def _as_lines(build: GoBuild) -> list[list[str]]:
    """What we read, in ``go version -m``'s layout."""
    def module(word: str, m: GoModule) -> list[list[str]]:
        if m.replaces:
            return [[word, m.replaces.path, m.replaces.version], ["=>", m.path, m.version, m.sum]]
        return [[word, m.path, m.version, m.sum] if m.sum else [word, m.path, m.version]]

    lines = [["path", build.path]]
    lines += module("mod", build.main) if build.main else []
    for dep in build.deps:
        lines += module("dep", dep)
    return lines + [["build", f"{k}={v}"] for k, v in build.settings]


@pytest.mark.parametrize("target", TARGETS)
def test_read_matches_go_version_m(programs, target: str) -> None:
    _, built = programs
    build = read_go_build(built[target])
    assert build is not None
    oracle = _go_version_m(built[target])
    assert [[c for c in line if c] for line in _as_lines(build)] == \
        [[c for c in line if c] for line in oracle]
    go_version = subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True,
                                check=True).stdout.strip()
    assert build.go_version == go_version
    settings = dict(build.settings)
    assert (settings["GOOS"], settings["GOARCH"]) == tuple(target.split("/"))
    if target == UNTRIMMED:
        assert settings["-ldflags"] == '"-X main.version=1.2 -buildid="'  # as Go quoted it
    else:
        assert settings["-trimpath"] == "true" and "-ldflags" not in settings


def test_sbom_lists_modules_with_go_sum_checksums(programs) -> None:
    app, built = programs
    program = built["linux/amd64"]
    assert sbom_format(program.name, "executable") == "executable"
    text = sbom_json(program, "executable",
                     sha256=hashlib.sha256(program.read_bytes()).hexdigest(), epoch=0)
    check_sbom(text)  # CycloneDX 1.6, strict
    sbom = json.loads(text)
    by_ref = {c["bom-ref"]: c for c in sbom["components"]}
    pinned = {f"{m} {v}": h for m, v, h in
              (line.split() for line in (app / "go.sum").read_text().splitlines())}
    tiny = by_ref["pkg:golang/example.com/tiny@v1.0.0"]
    assert tiny["purl"] == tiny["bom-ref"] and tiny["version"] == "v1.0.0"
    assert tiny["properties"] == [{"name": "release-pipeline:go-sum",
                                   "value": pinned["example.com/tiny v1.0.0"]}]
    local = by_ref["go-module:example.com/local"]  # built from a folder: no version, no purl
    assert "purl" not in local and "version" not in local
    assert local["properties"] == [{"name": "release-pipeline:go-replaced-by-folder",
                                    "value": "../local"}]
    go_version = dict(p.values() for p in sbom["metadata"]["component"]["properties"])[
        "release-pipeline:go-version"]
    assert by_ref[f"pkg:golang/stdlib@{go_version.removeprefix('go')}"]["name"] == "stdlib"
    root = sbom["metadata"]["component"]
    props = {p["name"]: p["value"] for p in root["properties"]}
    assert props["release-pipeline:go-package"] == "example.com/app"
    assert props["release-pipeline:go-main-module"] == "example.com/app@(devel)"
    assert props["release-pipeline:go-build:-trimpath"] == "true"
    (edges,) = [d for d in sbom["dependencies"] if d["ref"] == root["bom-ref"]]
    assert sorted(edges["dependsOn"]) == sorted(by_ref)


def test_other_programs_have_no_go_build_information(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    for path in (Path(sys.executable).resolve(), empty, Path("/bin/sh").resolve()):
        assert read_go_build(path) is None
    text = sbom_json(empty, "executable", sha256=hashlib.sha256(b"").hexdigest(), epoch=0)
    (contents,) = json.loads(text)["metadata"]["component"]["properties"]
    assert contents["value"] == "neither a zip archive nor a Go program: contents not inspected"
