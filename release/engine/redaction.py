"""Redaction: secrets never reach any output.

Every line the tool prints passes through a :class:`Redactor`: known secret values
from the environment are masked, and so is anything shaped like a GitHub token or a JWT,
and the user:password of a URL.
Kept free of heavy imports: the CLI wraps its output streams with it at start-up.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping

OIDC_VARIABLES = ("ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN")
#: Names whose values are secrets wherever they appear (and which a stage's plain
#: ``env`` may not use); the runner's own ``ACTIONS_*`` variables among them.
_SECRET_NAME = re.compile(
    r"TOKEN|SECRET|PASSWORD|PASSPHRASE|PRIVATE_KEY|CREDENTIAL|API_KEY|^ACTIONS_", re.IGNORECASE)
_TOKEN_SHAPES = re.compile(
    r"\b(?:gh[pousr]_[A-Za-z0-9]{20,255}|github_pat_[A-Za-z0-9_]{20,255}"
    r"|eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"
    # PyPI API tokens: a serialized macaroon (its base64url starts AgE), minted or given
    r"|pypi-AgE[A-Za-z0-9_-]{16,})"
    # the user:password of a URL (an index or registry URL may carry one)
    r"|(?<=://)[^/?#\s@:]*:[^/?#\s@]*(?=@)"
)
MASK = "***"


def looks_secret(name: str) -> bool:
    """Whether a variable's name says it holds a credential."""
    return bool(_SECRET_NAME.search(name))


class Redactor:
    """Masks known secret values and anything shaped like a GitHub or PyPI token or a JWT."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()  # stages running in parallel add their secrets
        self.add(values)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Redactor:
        values = [v for k, v in environ.items()
                  if looks_secret(k) and len(v) >= 6]
        return cls(values)

    def add(self, values: Iterable[str]) -> None:
        """Mask these values from now on; output is redacted line by line, so each line
        of a multi-line secret (a PEM key) is masked on its own too."""
        pieces: set[str] = set()
        for value in values:
            if value and len(value) >= 4:
                pieces.add(value)
                pieces.update(line.strip() for line in value.splitlines()
                              if len(line.strip()) >= 8)
        with self._lock:
            new = pieces - self._values
            if new:
                self._values |= new
                ordered = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def __call__(self, text: str) -> str:
        if self._pattern is not None:
            text = self._pattern.sub(MASK, text)
        return _TOKEN_SHAPES.sub(MASK, text)
