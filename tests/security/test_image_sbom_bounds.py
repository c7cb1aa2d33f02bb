"""Image SBOMs of hostile image archives: whiteouts by the thousand, one program at many
paths. What is listed is checked, not how long it takes."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from release.provenance import image_sbom
from release.provenance.image_sbom import MAX_OCCURRENCES, image_sbom_json
from release.provenance.sbom import check_sbom
from tests.security.test_go_buildinfo import blob


def _tar(files: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _image(path: Path, layers: list[list[tuple[str, bytes]]]) -> None:
    """An OCI image layout archive of one manifest with these (uncompressed) layers."""
    blobs: dict[str, bytes] = {}

    def put(data: bytes, media_type: str) -> dict[str, object]:
        digest = hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}

    config = put(b'{"architecture":"amd64","os":"linux"}',
                 "application/vnd.oci.image.config.v1+json")
    manifest = put(json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config,
        "layers": [put(_tar(files), "application/vnd.oci.image.layer.v1.tar")
                   for files in layers]}).encode(), "application/vnd.oci.image.manifest.v1+json")
    index = json.dumps({"schemaVersion": 2, "manifests": [manifest]}).encode()
    path.write_bytes(_tar([("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
                           ("index.json", index),
                           *((f"blobs/sha256/{d}", b) for d, b in blobs.items())]))


def _sbom(tmp_path: Path, layers: list[list[tuple[str, bytes]]]) -> dict[str, object]:
    archive = tmp_path / "image.oci.tar"
    _image(archive, layers)
    text = image_sbom_json(archive, name="image.oci.tar", sha256="0" * 64, epoch=0)
    check_sbom(text)
    return json.loads(text)  # type: ignore[no-any-return]


def _files(sbom: dict[str, object]) -> list[str]:
    return [c["name"] for c in sbom["components"]  # type: ignore[attr-defined]
            if c["type"] == "file"]


def test_thousands_of_whiteouts_remove_what_they_name(tmp_path: Path) -> None:
    # each whiteout and opaque marker used to rebuild the whole list of paths: 8,000
    # files and 8,000 whiteouts took 39 s
    n = 4000
    lower = [(f"d{i % 40}/f{i}", b"%d" % i) for i in range(n)] + [("keep/k", b"k")]
    upper = ([(f"d{i % 40}/.wh.f{i}", b"") for i in range(0, n, 2)]  # every even file
             + [(f"nowhere/.wh.x{i}", b"") for i in range(n)]  # whiteouts of nothing
             + [(f"d{j}/.wh..wh..opq", b"") for j in range(1, 40, 2)]  # odd folders
             + [("d1/new", b"new"), ("d0/.wh.f1000", b"")])
    sbom = _sbom(tmp_path, [lower, upper])
    # even files went by whiteout, odd ones (all in odd folders) by opaque marker
    assert _files(sbom) == ["/d1/new", "/keep/k"]


def test_whiteouts_remove_a_file_or_a_folder_and_opaque_markers_empty_one(
        tmp_path: Path) -> None:
    lower = [("a/x", b"1"), ("a/b/y", b"2"), ("a/bb", b"3"), ("c/d/e/f", b"4"),
             ("o/old", b"5"), ("o/sub/old", b"6"), ("f", b"7"), ("f/under", b"8")]
    upper = [("a/.wh.b", b""),  # a folder: not a/bb
             ("c/d/.wh.e", b""),
             # the layer's own files stay, before the marker or after it (the spec)
             ("o/pre", b"9"), ("o/.wh..wh..opq", b""), ("o/post", b"10"),
             ("f/.wh..wh..opq", b""),  # empties the folder f, keeps the file f
             ("a/b/new", b"11")]
    third = [("o/old", b"12"), ("a/.wh.x", b""), ("a/b/new2", b"13")]
    assert _files(_sbom(tmp_path, [lower, upper, third])) == [
        "/a/b/new", "/a/b/new2", "/a/bb", "/f", "/o/old", "/o/post", "/o/pre"]


def test_top_level_dotfiles_whiteouts_and_markers_keep_their_names(tmp_path: Path) -> None:
    # "./.env" is /.env (leading dots were stripped: /env); a whiteout at the top hides a
    # top-level file; an opaque marker at the top hides everything below it
    lower = [("./.dockerenv", b"1"), ("./c", b"2"), ("./keep", b"3"), ("./d/x", b"4")]
    upper = [("./.wh.c", b""), ("./.profile", b"5")]
    assert _files(_sbom(tmp_path, [lower, upper])) == ["/.dockerenv", "/.profile", "/d/x",
                                                      "/keep"]
    top = [("./.wh..wh..opq", b""), ("./new", b"6")]
    assert _files(_sbom(tmp_path, [lower, upper, top])) == ["/new"]


def _program(modules: int) -> bytes:
    lines = b"path\tex.com/p\nmod\tex.com/p\tv1.0.0\th1:x=\n" + b"".join(
        b"dep\tex.com/m%d\tv1.0.0\th1:x=\n" % i for i in range(modules))
    return blob(b"go1.22.1", lines)


def _occurrences(component: dict[str, object]) -> list[str]:
    evidence = component.get("evidence") or {}
    return [o["location"] for o in evidence.get("occurrences", [])]  # type: ignore[attr-defined]


def _not_listed(component: dict[str, object]) -> str | None:
    props = {p["name"]: p["value"] for p in component.get("properties", [])}  # type: ignore[attr-defined]
    return props.get("release-pipeline:occurrences-not-listed")


def test_a_program_at_many_paths_lists_the_first_paths_and_counts_the_rest(
        tmp_path: Path) -> None:
    # one program at 800 paths made each of its 2,000 modules list 800 paths: 111 MB
    paths = [f"usr/bin/d{i:03d}/prog" for i in range(130)]
    sbom = _sbom(tmp_path, [[(p, _program(3)) for p in reversed(paths)]])
    modules = [c for c in sbom["components"]  # type: ignore[attr-defined]
               if c["type"] == "library"]
    assert [c["name"] for c in modules] == ["ex.com/m0", "ex.com/m1", "ex.com/m2", "stdlib"]
    for module in modules:
        assert _occurrences(module) == ["/" + p for p in paths[:MAX_OCCURRENCES]]
        assert _not_listed(module) == str(130 - MAX_OCCURRENCES)


def test_occurrences_of_all_packages_together_are_bounded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(image_sbom, "MAX_OCCURRENCES", 3)
    monkeypatch.setattr(image_sbom, "MAX_ALL_OCCURRENCES", 7)
    sbom = _sbom(tmp_path, [[(f"bin/p{i}", _program(3)) for i in range(4)]])
    listed = [(c["name"], _occurrences(c), _not_listed(c))
              for c in sbom["components"] if c["type"] == "library"]  # type: ignore[attr-defined]
    assert listed == [("ex.com/m0", ["/bin/p0", "/bin/p1", "/bin/p2"], "1"),
                      ("ex.com/m1", ["/bin/p0", "/bin/p1", "/bin/p2"], "1"),
                      ("ex.com/m2", ["/bin/p0"], "3"),
                      ("stdlib", [], "4")]
