"""The one table of third-party actions the generated workflows use, pinned by commit.

Reviewed like code: changing a pin is a reviewed change of this file. A tag can be
moved to other code at any time; a full commit SHA cannot, which is why the generator
never emits a tag-only ``uses:`` (https://docs.github.com/en/actions/security-for-github-actions/security-guides/security-hardening-for-github-actions#using-third-party-actions).

Where each SHA was read (these machines cannot reach GitHub; re-check a pin with
``gh api repos/OWNER/NAME/commits/VERSION --jq .sha`` before changing it):

- actions/checkout v6.0.3 and actions/setup-python v6.2.0: pypa/cibuildwheel,
  ``.github/workflows/copilot-setup-steps.yml`` at commit 2f3508d2f207b8d97a21c38f23037dccf9c72189.
- actions/upload-artifact v6.0.0 and actions/download-artifact v7.0.0: zizmorcore/zizmor,
  ``.github/workflows/release-pypi.yml`` at commit fb6185389ceb363de5b34c0fb70d70f21616af25.
- geomys/sandboxed-step v1.2.1: tbckr/trident, ``.github/workflows/latest-deps.yml``
  at commit 818a206ab62af3006e1aea133fd6149d96b80e48 (and ``vuln-schedule.yml``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SHA = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class Pin:
    """An action at a version, and the full commit SHA that version names."""

    action: str
    version: str
    sha: str

    def __post_init__(self) -> None:
        if not _SHA.match(self.sha):
            raise ValueError(f"{self.action} {self.version}: {self.sha!r} is not a full SHA")

    @property
    def uses(self) -> str:
        """The ``uses:`` value: ``owner/name@<40 hex>``."""
        return f"{self.action}@{self.sha}"


PINS: tuple[Pin, ...] = (
    Pin("actions/checkout", "v6.0.3", "df4cb1c069e1874edd31b4311f1884172cec0e10"),
    Pin("actions/setup-python", "v6.2.0", "a309ff8b426b58ec0e2a45f0f869d46889d02405"),
    Pin("actions/upload-artifact", "v6.0.0", "b7c566a772e6b6bfb58ed0dc250532a479d7789f"),
    Pin("actions/download-artifact", "v7.0.0", "37930b1c2abaa49bbe596cd826c3c89aef350131"),
    Pin("geomys/sandboxed-step", "v1.2.1", "7d75eb49d17fdeeb3656b3a57d35932d205bcfb9"),
)


def _table(pins: tuple[Pin, ...]) -> dict[str, Pin]:
    table: dict[str, Pin] = {}
    for pin in pins:
        if pin.action in table:
            raise RuntimeError(f"action {pin.action!r} is pinned twice")
        table[pin.action] = pin
    return table


_BY_ACTION = _table(PINS)


def pin(action: str) -> Pin:
    """The pin of ``action``; an action missing from the table is a programming error."""
    return _BY_ACTION[action]
