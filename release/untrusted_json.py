"""JSON from an untrusted source (GitHub's answers, registries, bundles)."""

from __future__ import annotations

import json
from typing import Any


def loads_json(data: str | bytes | bytearray) -> Any:
    """``json.loads`` for untrusted input: JSON nested too deep for the parser (``[`` a
    hundred thousand times) is a :class:`json.JSONDecodeError`, like any malformed
    JSON, never a RecursionError."""
    try:
        return json.loads(data)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", "", 0) from None
