"""The one rule for a file name that came from a build or from the network.

Such a name becomes a path, a release asset's name and a line of SHA256SUMS: plain
characters only (no newline, no slash, not ``.`` or ``..``), and never a leading ``-``,
which tools read as an option (``sha256sum -c`` hashes stdin for ``-``).
"""

from __future__ import annotations

import re

PLAIN_NAME = re.compile(r"^(?!\.\.?$)(?!-)[A-Za-z0-9._+-]{1,255}$")
