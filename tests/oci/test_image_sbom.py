"""The SBOM of an image: its files by path and sha256 (a later layer's file replacing the
base's), the base by digest; attested to the registry as a referrer of the image."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from packageurl import PackageURL

from release.provenance import image_sbom
from release.provenance.components import go_components
from release.provenance.gobuild import GoBuild, GoModule
from release.provenance.sbom import check_sbom
from tests.conftest import Repo
from tests.hermetic.goproxy import needs_go
from tests.oci.conftest import LocalRegistry
from tests.oci.images import image_digest, image_pipeline
from tests.oci.test_base import _seed
from tests.oci.test_sign_images import TAG, key_sign, push_key, referrers


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_image_sbom_lists_files_and_base_and_goes_to_the_registry(
        repo: Repo, cli, tmp_path: Path, registry: LocalRegistry, make_key) -> None:
    base_digest, _ = _seed(repo, cli, tmp_path, registry, "sbom-base", "base-1")
    key = make_key(passphrase=None)
    stages = key_sign(key.private) + f"""\
  sbom:
    kind: sbom
    needs: [image]
  provenance:
    kind: attest
    needs: [image, sbom, sign]
    push-to-registry: true
    backend: key
    key: {key.private}
"""
    path = image_pipeline(repo, marker="app", base=f"{registry.host}/base/sbom-base@{base_digest}",
                          push=push_key(registry, "with-sbom"), extra=stages)
    repo.tag(TAG)
    out = tmp_path / "out"
    res = cli("run", path, "--out", out)
    assert res.code == 0, res.out + res.err
    digest = image_digest(out)

    text = (out / "sbom" / "image.oci.tar.cdx.json").read_text(encoding="utf-8")
    check_sbom(text)
    sbom = json.loads(text)
    assert sbom["specVersion"] == "1.6"
    files = {c["name"]: c["hashes"][0]["content"] for c in sbom["components"]
             if c["type"] == "file"}
    assert files == {"/usr/local/bin/tool": _sha256(out / "build" / "tool"),
                     "/etc/ssl/certs/ca.pem": _sha256(out / "build" / "ca.pem")}
    [base] = [c for c in sbom["components"] if c["type"] == "container"]
    assert base["version"] == base_digest
    purl = PackageURL.from_string(base["purl"])
    assert (purl.type, purl.name, purl.version) == ("oci", "sbom-base", base_digest)
    assert purl.qualifiers == {"repository_url": f"{registry.host}/base/sbom-base"}
    assert sbom["metadata"]["component"]["version"] == digest

    entries = referrers(registry, "with-sbom", digest)["manifests"]
    assert sorted(e["annotations"]["dev.sigstore.bundle.predicateType"] for e in entries) == [
        "https://cyclonedx.org/bom", "https://sigstore.dev/cosign/sign/v1",
        "https://slsa.dev/provenance/v1"]
    ok = cli("verify", f"oci://{registry.host}/example/with-sbom@{digest}", "--key",
             key.public, "--require-provenance")
    assert ok.code == 0, ok.out + ok.err
    assert "PASS  attestation" in ok.out and "https://cyclonedx.org/bom about" in ok.out


ZIPAPP = """\
version: 1
name: app
source:
  repository: example/app
stages:
  build:
    kind: command
    run: ["python3", "make_app.py", "{out}/app"]
    outputs: ["app"]
    artifact-kind: executable
  image:
    kind: oci-image
    needs: [build]
    files: {app: /usr/local/bin/app}
  sbom:
    kind: sbom
    needs: [image]
"""
MAKE_APP = """\
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.writestr("__main__.py", "print('app')\\n")
    z.writestr("demo_pkg-1.2.0.dist-info/METADATA",
               "Metadata-Version: 2.1\\nName: demo-pkg\\nVersion: 1.2.0\\n")
"""


def test_image_sbom_lists_the_packages_a_zipapp_in_it_bundles(repo: Repo, cli,
                                                              tmp_path: Path) -> None:
    repo.write("make_app.py", MAKE_APP)
    path = repo.write("release.yaml", ZIPAPP)
    repo.commit()
    out = tmp_path / "out"
    res = cli("run", path, "--out", out)
    assert res.code == 0, res.out + res.err
    text = (out / "sbom" / "image.oci.tar.cdx.json").read_text(encoding="utf-8")
    check_sbom(text)
    sbom = json.loads(text)
    files = {c["name"]: c["hashes"][0]["content"] for c in sbom["components"]
             if c["type"] == "file"}
    assert files == {"/usr/local/bin/app": _sha256(out / "build" / "app")}
    libraries = [c["purl"] for c in sbom["components"] if c["type"] == "library"]
    assert libraries == ["pkg:pypi/demo-pkg@1.2.0"]
    (library,) = [c for c in sbom["components"] if c["type"] == "library"]
    assert library["evidence"] == {"occurrences": [{"location": "/usr/local/bin/app"}]}

GO_IMAGE = """\
version: 1
name: app
source:
  repository: example/app
stages:
  build:
    kind: command
    env: {CGO_ENABLED: "0"}
    run: ["sh", "-c", "go build -trimpath -o {out}/app . && head -c 64 /bin/sh > {out}/elf"]
    outputs: ["app", "elf"]
    artifact-kind: executable
  image:
    kind: oci-image
    needs: [build]
    files: {app: /usr/local/bin/app, elf: /usr/local/bin/elf}
  sbom:
    kind: sbom
    needs: [image]
"""


@needs_go
def test_image_sbom_lists_the_modules_of_a_go_program_in_it(repo: Repo, cli, tmp_path: Path,
                                                            monkeypatch) -> None:
    repo.write("go.mod", "module example.com/app\n\ngo 1.18\n\nrequire example.com/part v0.1.0"
               "\n\nreplace example.com/part => ./part\n")
    repo.write("main.go", 'package main\n\nimport "example.com/part"\n\n'
               "func main() { println(part.Name) }\n")
    repo.write("part/go.mod", "module example.com/part\n\ngo 1.18\n")
    repo.write("part/part.go", 'package part\n\nconst Name = "part"\n')
    path = repo.write("release.yaml", GO_IMAGE)
    repo.commit()
    out = tmp_path / "out"
    inspect, scratch = image_sbom._inspect, []

    def one_at_a_time(copy: Path) -> list[object]:  # each program is deleted once inspected
        scratch.append(sorted(p.name for p in copy.parent.iterdir()))
        return inspect(copy)

    monkeypatch.setattr(image_sbom, "_inspect", one_at_a_time)
    res = cli("run", path, "--out", out)
    assert res.code == 0, res.out + res.err
    assert scratch == [["file"], ["file"]]
    text = (out / "sbom" / "image.oci.tar.cdx.json").read_text(encoding="utf-8")
    check_sbom(text)
    libraries = {c["bom-ref"]: c for c in json.loads(text)["components"]
                 if c["type"] == "library"}
    go_version = subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True,
                                check=True).stdout.strip()
    assert sorted(libraries) == sorted([f"pkg:golang/stdlib@{go_version.removeprefix('go')}",
                                        "go-module:example.com/part"])
    assert libraries["go-module:example.com/part"]["properties"] == [
        {"name": "release-pipeline:go-replaced-by-folder", "value": "./part"}]
    for library in libraries.values():  # which file of the image carries it
        assert library["evidence"] == {"occurrences": [{"location": "/usr/local/bin/app"}]}


def test_modules_two_programs_claim_differently_show_both_claims() -> None:
    module = GoModule("golang.org/x/crypto", "v0.17.0", "h1:real=")
    forged = GoModule("golang.org/x/crypto", "v0.17.0", "h1:forged=")
    contents = {sha: go_components(GoBuild("go1.22.1", "ex.com/a", None, (m,), ()))
                for sha, m in (("a" * 64, forged), ("b" * 64, module))}
    where = {"a" * 64: {"/usr/bin/sidecar"}, "b" * 64: {"/usr/bin/app", "/opt/app"}}
    by_ref = {str(c.bom_ref): c for c in image_sbom._bundled(contents, where)}
    crypto = by_ref["pkg:golang/golang.org/x/crypto@v0.17.0"]
    assert sorted(p.value for p in crypto.properties) == ["h1:forged=", "h1:real="]
    assert sorted(o.location for o in crypto.evidence.occurrences) == [
        "/opt/app", "/usr/bin/app", "/usr/bin/sidecar"]
    # a file a later layer replaced (not in `where`) contributes nothing
    assert "pkg:golang/golang.org/x/crypto@v0.17.0" not in {
        str(c.bom_ref) for c in image_sbom._bundled(contents, {"c" * 64: {"/x"}})}
