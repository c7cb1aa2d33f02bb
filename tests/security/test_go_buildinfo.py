"""A build's program is untrusted bytes: whatever Go build information it carries (or
pretends to), reading it and writing its SBOM never fails, hangs or grows without bound.
What a build claims of itself is only what its SBOM says it claims: the SBOM is as
trustworthy as the build (the provenance says which build that was)."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from release.provenance import gobuild
from release.provenance.gobuild import MAGIC, read_go_build
from release.provenance.sbom import check_sbom, sbom_json

START = b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6"
END = b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2"


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def blob(version: bytes, modinfo: bytes, *, framed: bool = True, offset: int = 64,
         flags: int = 2) -> bytes:
    """A file holding a Go build information blob at ``offset``."""
    info = START + modinfo + END if framed else modinfo
    header = MAGIC + bytes([8, flags]) + b"\0" * 16
    body = header + _uvarint(len(version)) + version + _uvarint(len(info)) + info
    return b"\x7fELF" + b"\0" * (offset - 4) + body + b"\0" * 64


def _read(tmp_path: Path, data: bytes):  # type: ignore[no-untyped-def]
    path = tmp_path / "program"
    path.write_bytes(data)
    return read_go_build(path)


def _sbom(tmp_path: Path, data: bytes) -> dict[str, object]:
    path = tmp_path / "program"
    path.write_bytes(data)
    text = sbom_json(path, "executable", sha256=hashlib.sha256(data).hexdigest(), epoch=0)
    check_sbom(text)
    return json.loads(text)  # type: ignore[no-any-return]


GOOD = b"path\tex.com/a\nmod\tex.com/a\t(devel)\t\ndep\tex.com/b\tv1.0.0\th1:x=\n"


def test_a_well_formed_blob_is_read(tmp_path: Path) -> None:
    build = _read(tmp_path, blob(b"go1.22.1", GOOD))
    assert build is not None and build.deps[0].path == "ex.com/b"


def test_malformed_blobs_are_no_build_information(tmp_path: Path) -> None:
    cases = {
        "unaligned": blob(b"go1.22.1", GOOD, offset=65),
        "pointer layout (before Go 1.18)": blob(b"go1.22.1", GOOD, flags=0),
        "not a Go version": blob(b"rust1.80", GOOD),
        "version with a newline": blob(b"go1.22.1\n", GOOD),
        "truncated header": b"\0" * 48 + MAGIC + b"\x08\x02",
        "length past the end": b"\0" * 48 + MAGIC + b"\x08\x02" + b"\0" * 16 + b"\xff\x7f",
        "varint without end": b"\0" * 48 + MAGIC + b"\x08\x02" + b"\0" * 16 + b"\xff" * 40,
        "huge length": b"\0" * 48 + MAGIC + b"\x08\x02" + b"\0" * 16 + _uvarint(2**62),
        "module text not UTF-8": blob(b"go1.22.1", b"path\t\xff\xfe\n"),
    }
    for name, data in cases.items():
        assert _read(tmp_path, data) is None, name


def test_unframed_module_text_is_a_program_without_modules(tmp_path: Path) -> None:
    build = _read(tmp_path, blob(b"go1.22.1", GOOD, framed=False))
    assert build is not None and build.deps == () and build.main is None


def test_many_decoys_before_the_blob_are_bounded(tmp_path: Path) -> None:
    # a program full of the magic (aligned, unaligned, broken) is read in bounded work:
    # the blob after 10,000 decoys is not looked for
    decoys = (MAGIC + b"\x08\x02" + b"\0" * 16 + b"\xff" * 16) * 5_000
    decoys += (b"x" + MAGIC + b"\0") * 5_000
    assert _read(tmp_path, decoys + blob(b"go1.22.1", GOOD)) is None
    # a few decoys do not hide it
    assert _read(tmp_path, decoys[:480] + blob(b"go1.22.1", GOOD)) is not None


def test_hostile_module_lines_make_a_valid_sbom(tmp_path: Path) -> None:
    lines = b"".join([
        b"path\t\n", b"mod\t\t\t\n",
        b"dep\tex.com/\tv1.0.0\th1:x\n",  # no name after the last /
        b"dep\t/\tv1\t\n", b"dep\t\tv1\t\n",
        b"dep\tex.com/b\tv1.0.0\th1:a\n", b"dep\tex.com/b\tv1.0.0\th1:b\n",  # twice
        b"dep\tex.com/c\tv1\x00\x1b[31m\th1:\"</script>\n",
        b"=>\t../c\t(devel)\t\n", b"=>\torphan\tv1\t\n",
        b"dep\tex.com/d\n", b"dep\ta\tb\tc\td\te\n",
        b"build\t=x\n", b"build\t\"k=y\"=z\n", b"build\tGOOS=linux\n",
        b"garbage\n", b"\t\t\t\n",
    ])
    sbom = _sbom(tmp_path, blob(b"go1.22.1", lines))
    refs = [c["bom-ref"] for c in sbom["components"]]  # type: ignore[index, union-attr]
    assert len(refs) == len(set(refs))
    assert "pkg:golang/ex.com/b@v1.0.0" in refs


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(version=st.binary(max_size=20) | st.sampled_from([b"go1.22.1", b"go1.18"]),
       lines=st.lists(st.tuples(
           st.sampled_from(["path", "mod", "dep", "=>", "build", "x"]),
           st.lists(st.text(max_size=12), max_size=5)), max_size=12),
       framed=st.booleans(), offset=st.sampled_from([16, 32, 48, 57]))
def test_any_blob_reads_or_is_none_and_any_sbom_validates(
        tmp_path: Path, version: bytes, lines: list[tuple[str, list[str]]], framed: bool,
        offset: int) -> None:
    modinfo = "".join(word + "\t" + "\t".join(cols) + "\n" for word, cols in lines)
    data = blob(version, modinfo.encode("utf-8", "surrogatepass"), framed=framed,
                offset=offset)
    _read(tmp_path, data)
    _sbom(tmp_path, data)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=512), st.integers(0, 511))
def test_random_bytes_around_the_magic(tmp_path: Path, noise: bytes, at: int) -> None:
    data = noise[:at] + MAGIC + struct.pack("<BB", 8, 2) + noise[at:]
    _read(tmp_path, data)


def test_a_program_claiming_too_many_modules_lists_none(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # the CycloneDX output is n log n in its components: a program claiming a million
    # modules would hold the stage for hours; real programs have hundreds
    monkeypatch.setattr(gobuild, "MAX_MODULES", 3)
    lines = b"".join(b"dep\tex.com/m%d\tv1.0.0\th1:x=\n" % i for i in range(4))
    sbom = _sbom(tmp_path, blob(b"go1.22.1", lines))
    assert [c["name"] for c in sbom["components"]] == ["stdlib"]  # type: ignore[index, union-attr]
    props = {p["name"]: p["value"]
             for p in sbom["metadata"]["component"]["properties"]}  # type: ignore[index]
    assert props["release-pipeline:go-modules-not-listed"] == "4 claimed: too many to list"
    lines = b"".join(b"dep\tex.com/m%d\tv1.0.0\th1:x=\n" % i for i in range(3))
    assert len(_sbom(tmp_path, blob(b"go1.22.1", lines))["components"]) == 4  # type: ignore[arg-type]


@pytest.mark.parametrize(("version", "stdlib"), [
    (b"go1.19.8 X:unified", "1.19.8"),  # GOEXPERIMENT
    (b"go1.24.1 X:boringcrypto", "1.24.1"),
    (b"go1.23rc1", None),
    (b"devel go1.22-7bd3fe6 Fri Sep 1 19:23:54 2023 +0000", None),
])
def test_toolchain_versions_of_every_shape_are_read(tmp_path: Path, version: bytes,
                                                    stdlib: str | None) -> None:
    build = _read(tmp_path, blob(version, GOOD))
    assert build is not None and build.go_version == version.decode()
    refs = [c["bom-ref"] for c in _sbom(tmp_path, blob(version, GOOD))["components"]]  # type: ignore[union-attr]
    assert ("pkg:golang/stdlib@" + stdlib in refs) if stdlib else not any(
        "stdlib" in r for r in refs)


@pytest.mark.parametrize("path", ["../../pypi/requests", "ex.com/./x", ".hidden/x", "ex.com/x.",
                                  "ex.com//x", "/abs/x"])
def test_a_module_path_go_would_refuse_gets_no_package_url(tmp_path: Path, path: str) -> None:
    lines = f"dep\t{path}\tv2.31.0\th1:x=\n".encode()
    (component,) = [c for c in _sbom(tmp_path, blob(b"go1.22.1", lines))["components"]  # type: ignore[union-attr]
                    if c["name"] != "stdlib"]
    assert "purl" not in component and component["bom-ref"] == f"go-module:{path}"


def test_a_program_claiming_too_many_build_settings_lists_the_first(tmp_path: Path) -> None:
    # 260,000 `build` lines (4 MiB) made a 25.6 MB SBOM; Go writes about 20
    n = gobuild.MAX_SETTINGS + 5
    lines = b"".join(b"build\tk%d=v%d\n" % (i, i) for i in range(n))
    props = [(p["name"], p["value"])
             for p in _sbom(tmp_path, blob(b"go1.22.1", lines))["metadata"]  # type: ignore[index]
             ["component"]["properties"]]
    settings = [p for p in props if p[0].startswith("release-pipeline:go-build:")]
    assert sorted(settings) == sorted((f"release-pipeline:go-build:k{i}", f"v{i}")
                                      for i in range(gobuild.MAX_SETTINGS))
    assert ("release-pipeline:go-build-settings-not-listed",
            "5 more claimed: too many to list") in props
    lines = b"".join(b"build\tk%d=v\n" % i for i in range(gobuild.MAX_SETTINGS))
    props = _sbom(tmp_path, blob(b"go1.22.1", lines))["metadata"]["component"]["properties"]  # type: ignore[index]
    assert "release-pipeline:go-build-settings-not-listed" not in {p["name"] for p in props}
