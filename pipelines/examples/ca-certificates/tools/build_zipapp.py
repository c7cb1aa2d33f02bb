"""Build a single-file zipapp of a package, byte-for-byte reproducibly.

Entries are sorted, every timestamp is SOURCE_DATE_EPOCH (zip stores local time
without a zone; we write UTC), modes are fixed and compression is deterministic,
so two builds of one commit give the same bytes (https://reproducible-builds.org/
docs/archives/). The standard library's ``zipapp`` module stamps the files' mtimes
and walks directories in filesystem order, so it is not used.

Usage: python3 tools/build_zipapp.py PACKAGE_DIR MODULE OUTPUT
  e.g. python3 tools/build_zipapp.py cli/tpm_ca tpm_ca out/tpm-ca
"""

from __future__ import annotations

import os
import sys
import time
import zipfile
from pathlib import Path

SHEBANG = b"#!/usr/bin/env python3\n"
#: zip dates start in 1980
ZIP_EPOCH = 315532800


def build(package: Path, module: str, output: Path) -> None:
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", str(ZIP_EPOCH)))
    stamp = time.gmtime(max(epoch, ZIP_EPOCH))[:6]
    files = sorted(p for p in package.rglob("*.py") if "__pycache__" not in p.parts)
    entries = [("__main__.py", f"import runpy\nrunpy.run_module({module!r}, "
                               "run_name='__main__')\n".encode())]
    entries += [(f"{module}/{p.relative_to(package).as_posix()}", p.read_bytes())
                for p in files]
    with output.open("wb") as f:
        f.write(SHEBANG)
        with zipfile.ZipFile(f, "w") as zf:
            for name, data in sorted(entries):
                info = zipfile.ZipInfo(name, date_time=stamp)
                info.external_attr = 0o644 << 16
                info.create_system = 3  # Unix, whatever the build host is
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, data, compresslevel=9)
    output.chmod(0o755)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    build(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]))
