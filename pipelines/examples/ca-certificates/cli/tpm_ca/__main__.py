"""``tpm-ca list [BUNDLE]`` prints one line per certificate; ``tpm-ca path`` the default bundle."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tpm_ca import __version__

#: Where the example's container image puts the bundle.
DEFAULT_BUNDLE = Path("/etc/ssl/certs/ca-bundle.pem")
BEGIN = "-----BEGIN CERTIFICATE-----"


def certificates(text: str) -> list[str]:
    """The label of each certificate: its ``# Certificate:`` line (tpm-ca-certificates'
    bundle format), else the first ``# `` comment line above its PEM block."""
    labels: list[str] = []
    comment: str | None = None
    for line in text.splitlines():
        if line.startswith("# Certificate: "):
            comment = line.removeprefix("# Certificate: ")
        elif line.startswith("# ") and comment is None:
            comment = line[2:]
        elif line == BEGIN:
            labels.append(comment or f"certificate {len(labels) + 1}")
            comment = None
    return labels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tpm-ca", description=__doc__)
    parser.add_argument("--version", action="version", version=f"tpm-ca {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    show = sub.add_parser("list", help="list the certificates of a bundle")
    show.add_argument("bundle", nargs="?", type=Path, default=DEFAULT_BUNDLE)
    sub.add_parser("path", help="print the default bundle location")
    args = parser.parse_args(argv)
    if args.command == "path":
        print(DEFAULT_BUNDLE)
        return 0
    try:
        text = args.bundle.read_text(encoding="utf-8")
    except OSError as exc:
        print(f"tpm-ca: cannot read {args.bundle}: {exc.strerror}", file=sys.stderr)
        return 1
    for label in certificates(text):
        print(label)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
