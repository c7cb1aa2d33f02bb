"""Digests from registries and layouts are data, never paths: only sha256 hex is accepted."""

from __future__ import annotations

import pytest

from release.oci.descriptor import Descriptor
from release.oci.layout import Layout

TRAVERSAL = "sha256:" + ("../" * 21 + "x")[:64]


@pytest.mark.parametrize("digest", [TRAVERSAL, "sha256:" + "A" * 64, "sha512:" + "a" * 64,
                                    "sha256:" + "a" * 63])
def test_malformed_digests_are_refused(tmp_path, digest):
    with pytest.raises(ValueError):
        Descriptor.from_json({"mediaType": "application/octet-stream", "digest": digest,
                              "size": 1})
    with pytest.raises(ValueError):
        Layout(tmp_path / "layout").blob_path(digest)


def test_a_hex_digest_maps_inside_the_layout(tmp_path):
    layout = Layout(tmp_path / "layout")
    path = layout.blob_path("sha256:" + "a" * 64)
    assert path.parent == tmp_path / "layout" / "blobs" / "sha256"
