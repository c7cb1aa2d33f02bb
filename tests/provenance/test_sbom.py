"""CycloneDX SBOMs of real wheels, sdists and zipapps, validated against the 1.6 schema."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from release.errors import ReleaseError
from release.provenance.sbom import check_sbom, sbom_format, sbom_json
from tests.provenance.conftest import Dists, make_zipapp

EPOCH = 1767323045


def sbom(path: Path, fmt: str, epoch: int | None = EPOCH) -> dict[str, Any]:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    text = sbom_json(path, fmt, sha256=digest, epoch=epoch)  # type: ignore[arg-type]
    check_sbom(text)  # the CycloneDX 1.6 JSON schema, strict
    data: dict[str, Any] = json.loads(text)
    return data


def components(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in doc.get("components", [])}


@pytest.mark.parametrize("which", ["wheel", "sdist"])
def test_distribution_sbom(dists: Dists, which: str):
    path = getattr(dists, which)
    doc = sbom(path, which)
    assert doc["bomFormat"] == "CycloneDX" and doc["specVersion"] == "1.6"
    root = doc["metadata"]["component"]
    assert root["name"] == "Demo_Tool" and root["version"] == "2.0.1"
    assert root["purl"] == f"pkg:pypi/demo-tool@2.0.1?file_name={path.name}"
    assert root["hashes"] == [{"alg": "SHA-256",
                               "content": hashlib.sha256(path.read_bytes()).hexdigest()}]
    # License-Expression: MIT, a single SPDX id
    assert root["licenses"] == [{"license": {"id": "MIT"}}]
    vcs = [r for r in root["externalReferences"] if r["type"] == "vcs"]
    assert vcs == [{"comment": "Source", "type": "vcs",
                    "url": "https://github.com/octo-org/demo-tool"}]
    deps = components(doc)
    # every Requires-Dist, the extra's self-reference excepted
    assert set(deps) == {"requests", "pyyaml", "pytest", "orjson"}
    assert deps["requests"]["scope"] == "required"
    assert deps["pytest"]["scope"] == "optional"
    texts = {p["value"] for p in deps["requests"]["properties"]
             if p["name"] == "release-pipeline:requirement"}
    assert texts == {"requests >=2.31"}
    assert deps["orjson"]["purl"] == "pkg:pypi/orjson"
    graph = {d["ref"]: d.get("dependsOn", []) for d in doc["dependencies"]}
    assert sorted(graph[root["bom-ref"]]) == sorted(c["bom-ref"] for c in deps.values())


def test_sbom_is_reproducible(dists: Dists):
    digest = hashlib.sha256(dists.wheel.read_bytes()).hexdigest()
    first = sbom_json(dists.wheel, "wheel", sha256=digest, epoch=EPOCH)
    assert sbom_json(dists.wheel, "wheel", sha256=digest, epoch=EPOCH) == first
    assert json.loads(first)["metadata"]["timestamp"] == "2026-01-02T03:04:05+00:00"


def test_zipapp_lists_bundled_distributions(dists: Dists, tmp_path: Path):
    app = make_zipapp(dists, tmp_path)
    proc = subprocess.run([sys.executable, str(app)], capture_output=True, text=True,
                          check=True)
    assert proc.stdout.strip() == "demo 2.0.1"  # a working executable, not just a zip
    doc = sbom(app, "executable")
    root = doc["metadata"]["component"]
    assert root["type"] == "application" and root["name"] == "demo.pyz"
    bundled = components(doc)["Demo_Tool"]
    assert bundled["version"] == "2.0.1" and bundled["purl"] == "pkg:pypi/demo-tool@2.0.1"
    note = {p["name"]: p["value"] for p in root["properties"]}
    assert note["release-pipeline:contents"] == "zipapp: components from bundled .dist-info"


def test_zipapp_with_a_pep751_lock(dists: Dists, tmp_path: Path):
    lock = ('lock-version = "1.0"\ncreated-by = "test"\n\n'
            '[[packages]]\nname = "requests"\nversion = "2.32.3"\n\n'
            '[[packages]]\nname = "Demo-Tool"\nversion = "2.0.1"\n')
    app = make_zipapp(dists, tmp_path, lock=lock)
    doc = sbom(app, "executable")
    found = components(doc)
    # Demo-Tool is both installed and locked: listed once, from its .dist-info
    assert set(found) == {"Demo_Tool", "requests"}
    evidence = {p["name"]: p["value"] for p in found["requests"]["properties"]}
    assert evidence == {"release-pipeline:evidence": "lock"}


def test_zipapp_without_metadata_and_a_plain_binary(dists: Dists, tmp_path: Path):
    app = make_zipapp(dists, tmp_path / "bare", install=False)
    doc = sbom(app, "executable")
    assert "components" not in doc or doc["components"] == []
    note = doc["metadata"]["component"]["properties"][0]["value"]
    assert "bundled packages unknown" in note
    binary = tmp_path / "true"
    binary.write_bytes(Path("/bin/true").read_bytes())
    doc = sbom(binary, "executable")
    assert "neither a zip archive nor a Go program" in \
        doc["metadata"]["component"]["properties"][0]["value"]


def test_not_a_wheel_is_a_clear_error(tmp_path: Path):
    fake = tmp_path / "fake-1.0-py3-none-any.whl"
    with zipfile.ZipFile(fake, "w") as zf:
        zf.writestr("fake/__init__.py", "")
    with pytest.raises(ReleaseError, match=re.escape("has 0 .dist-info/METADATA files")):
        sbom_json(fake, "wheel", sha256="0" * 64)
    garbage = tmp_path / "junk.tar.gz"
    garbage.write_bytes(b"not a tarball")
    with pytest.raises(ReleaseError, match=re.escape("cannot read sdist junk.tar.gz")):
        sbom_json(garbage, "sdist", sha256="0" * 64)


def test_schema_check_rejects_an_invalid_document(dists: Dists):
    digest = hashlib.sha256(dists.wheel.read_bytes()).hexdigest()
    doc = json.loads(sbom_json(dists.wheel, "wheel", sha256=digest))
    doc["metadata"]["component"]["type"] = "not-a-type"
    with pytest.raises(ReleaseError, match=re.escape("does not validate against CycloneDX 1.6")):
        check_sbom(json.dumps(doc))


@pytest.mark.parametrize(("name", "kind", "expected"), [
    ("a-1.0-py3-none-any.whl", "wheel", "wheel"),
    ("a-1.0.tar.gz", "sdist", "sdist"),
    ("tool", "executable", "executable"),
    ("tool.pyz", "binary", "executable"),
    ("SHA256SUMS", "checksums", None),
    ("a-1.0.tar.gz", "archive", None),
])
def test_format_from_name_and_kind(name: str, kind: str, expected: str | None):
    assert sbom_format(name, kind) == expected


def test_sbom_as_an_in_toto_statement(dists: Dists):
    from release.provenance.sbom import CYCLONEDX_PREDICATE, sbom_statement
    from release.verify.statements import parse_statement

    digest = hashlib.sha256(dists.wheel.read_bytes()).hexdigest()
    text = sbom_json(dists.wheel, "wheel", sha256=digest, epoch=EPOCH)
    statement = sbom_statement(dists.wheel.name, digest, text)
    assert statement["predicateType"] == CYCLONEDX_PREDICATE
    assert statement["predicate"]["metadata"]["component"]["name"] == "Demo_Tool"
    parsed = parse_statement("application/vnd.in-toto+json",
                             json.dumps(statement).encode(), "sbom.intoto.jsonl")
    assert not isinstance(parsed, str)
    assert parsed.subjects == ((dists.wheel.name, digest),)
