"""Build ``release.pyz``, a single-file executable of the ``release`` CLI, reproducibly.

Entries are sorted, timestamps come from SOURCE_DATE_EPOCH, permissions are fixed and
compression is deterministic, so two builds of one commit give the same bytes. The
executable runs with the runtime requirements installed; it carries them, pinned with
hashes, as ``requirements.txt`` (``pip install --require-hashes -r`` on an extract).

Usage: python scripts/build_pyz.py OUTPUT
"""

from __future__ import annotations

import os
import sys
import time
import zipfile
from pathlib import Path

SHEBANG = b"#!/usr/bin/env python3\n"
MAIN = "from release.cli import main\nraise SystemExit(main())\n"


def build(root: Path, output: Path) -> None:
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "315532800"))
    stamp = time.gmtime(max(epoch, 315532800))[:6]  # zip cannot store dates before 1980
    files = sorted(p for p in (root / "release").rglob("*")
                   if p.is_file() and "__pycache__" not in p.parts)
    with output.open("wb") as f:
        f.write(SHEBANG)
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            # requirements.txt: the pinned runtime dependencies, for the SBOM and for users
            lock = (root / "requirements" / "main.txt").read_bytes()
            for name, data in [("__main__.py", MAIN.encode()), ("requirements.txt", lock),
                               *((p.relative_to(root).as_posix(), p.read_bytes())
                                 for p in files)]:
                info = zipfile.ZipInfo(name, date_time=stamp)
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, data, compresslevel=9)
    output.chmod(0o755)


if __name__ == "__main__":
    build(Path.cwd(), Path(sys.argv[1]))
