"""Layers match GNU tar's reproducible-archive recipe in intent, and are byte-stable."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from release.oci.layer import LayerFile, image_path, write_layer

EPOCH = 1700000000


def _files(root: Path, disk_mode: int, disk_mtime: int) -> list[LayerFile]:
    root.mkdir(parents=True, exist_ok=True)
    contents = {"tool": b"#!/bin/sh\necho hi\n" * 3000, "ca.pem": b"PEM\n",
                "z": b"", "b.txt": "ünïcode\n".encode()}
    for name, data in contents.items():
        (root / name).write_bytes(data)
        (root / name).chmod(disk_mode)
        os.utime(root / name, (disk_mtime, disk_mtime))
    return [LayerFile("/usr/local/bin/tool", root / "tool", 0o755),
            LayerFile("/etc/ssl/certs/ca.pem", root / "ca.pem", 0o644),
            LayerFile("/usr/local/bin/z", root / "z", 0o700),
            LayerFile("/opt/b.txt", root / "b.txt", 0o644),
            LayerFile("/usr/local/bin-extra", root / "z", 0o600)]


def _members(data: bytes) -> list[tuple[object, ...]]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        out = []
        for m in tar.getmembers():
            f = tar.extractfile(m) if m.isfile() else None
            out.append((m.name.rstrip("/"), m.type, m.mode, m.uid, m.gid, m.uname, m.gname,
                        m.mtime, m.size, f.read() if f else None))
        return out


def test_same_entries_as_gnu_tar(tmp_path: Path) -> None:
    files = _files(tmp_path / "src", 0o600, 12345)
    layer = write_layer(files, tmp_path / "layer.tgz", mtime=EPOCH)
    # stage the same tree on disk with the configured modes; GNU tar does the rest
    tree = tmp_path / "tree"
    for item in files:
        dest = tree / item.path.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(item.source.read_bytes())
        dest.chmod(item.mode)
    for d in [tree, *(p for p in tree.rglob("*") if p.is_dir())]:
        d.chmod(0o755)
    gnu = subprocess.run(
        f"tar --sort=name --mtime=@{EPOCH} --owner=0 --group=0 --numeric-owner -C {tree} "
        "-cf - etc opt usr | gzip -n", shell=True, capture_output=True, check=True).stdout
    ours = layer.path.read_bytes()
    assert _members(gzip.decompress(ours)) == _members(gzip.decompress(gnu))
    # the gzip header is gzip -n's too: no time stamp, no name, same flags and OS byte
    assert ours[:10] == gnu[:10]
    assert ours[4:8] == b"\0\0\0\0" and ours[3] & 0x08 == 0


def test_bytes_do_not_depend_on_disk_state(tmp_path: Path) -> None:
    a = write_layer(_files(tmp_path / "a", 0o600, 1), tmp_path / "a.tgz", mtime=EPOCH)
    b = write_layer(_files(tmp_path / "elsewhere" / "b", 0o777, 2**31 - 5), tmp_path / "b.tgz",
                    mtime=EPOCH)
    assert (a.digest, a.diff_id, a.size) == (b.digest, b.diff_id, b.size)
    assert a.path.read_bytes() == b.path.read_bytes()
    assert a.diff_id == "sha256:" + hashlib.sha256(
        gzip.decompress(a.path.read_bytes())).hexdigest()
    c = write_layer(_files(tmp_path / "a", 0o600, 1), tmp_path / "c.tgz", mtime=EPOCH + 1)
    assert c.digest != a.digest  # the epoch is in every entry


def test_one_byte_changes_the_digest(tmp_path: Path) -> None:
    files = _files(tmp_path / "a", 0o644, 1)
    first = write_layer(files, tmp_path / "1.tgz", mtime=EPOCH)
    (tmp_path / "a" / "ca.pem").write_bytes(b"PEN\n")
    second = write_layer(files, tmp_path / "2.tgz", mtime=EPOCH)
    assert first.digest != second.digest and first.diff_id != second.diff_id


@pytest.mark.parametrize(("path", "message"), [
    ("usr/bin/x", "must be absolute"), ("/usr/../../etc/x", "escapes the image root"),
    ("/..", "escapes the image root"), ("/usr//x", "must be normalised"),
    ("/usr/x/", "must be normalised"), ("/./x", "must be normalised"), ("/", "normalised"),
])
def test_paths_outside_or_odd_are_refused(path: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        image_path(path)


def test_file_under_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    with pytest.raises(ValueError, match="/usr/bin is a file and the parent of /usr/bin/x"):
        write_layer([LayerFile("/usr/bin", tmp_path / "f", 0o644),
                     LayerFile("/usr/bin/x", tmp_path / "f", 0o644)], tmp_path / "l", mtime=0)
