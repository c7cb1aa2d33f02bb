"""GitHub token permissions: names, levels and the least-privilege rules.

Names and levels follow GitHub's ``permissions:`` key for workflows and jobs
(https://docs.github.com/en/actions/writing-workflows/workflow-syntax-for-github-actions#permissions).
Levels are ordered ``none < read < write``; ``id-token`` is ``write`` or absent.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Level(enum.IntEnum):
    NONE = 0
    READ = 1
    WRITE = 2

    def __str__(self) -> str:
        return self.name.lower()


ReadWrite = Literal["none", "read", "write"]

#: Every permission name GitHub accepts, in its documented order.
NAMES: tuple[str, ...] = (
    "actions",
    "attestations",
    "checks",
    "contents",
    "deployments",
    "discussions",
    "id-token",
    "issues",
    "models",
    "packages",
    "pages",
    "pull-requests",
    "repository-projects",
    "security-events",
    "statuses",
)


class PermissionsModel(BaseModel):
    """The ``permissions:`` mapping of a stage, as written in a pipeline file."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)

    actions: ReadWrite | None = None
    attestations: ReadWrite | None = None
    checks: ReadWrite | None = None
    contents: ReadWrite | None = None
    deployments: ReadWrite | None = None
    discussions: ReadWrite | None = None
    id_token: Literal["write"] | None = Field(default=None, alias="id-token")
    issues: ReadWrite | None = None
    models: Literal["none", "read"] | None = None
    packages: ReadWrite | None = None
    pages: ReadWrite | None = None
    pull_requests: ReadWrite | None = Field(default=None, alias="pull-requests")
    repository_projects: ReadWrite | None = Field(default=None, alias="repository-projects")
    security_events: ReadWrite | None = Field(default=None, alias="security-events")
    statuses: ReadWrite | None = None

    def to_set(self) -> PermissionSet:
        raw = self.model_dump(by_alias=True, exclude_none=True)
        return PermissionSet({name: Level[str(value).upper()] for name, value in raw.items()})


class PermissionSet(Mapping[str, Level]):
    """An immutable set of granted permissions; ``none`` entries are dropped."""

    __slots__ = ("_levels",)

    def __init__(self, levels: Mapping[str, Level] | None = None, /, **kw: Level) -> None:
        merged = {**(levels or {}), **{k.replace("_", "-"): v for k, v in kw.items()}}
        for name in merged:
            if name not in NAMES:
                raise ValueError(f"unknown GitHub permission {name!r}")
        self._levels = {n: merged[n] for n in NAMES if merged.get(n, Level.NONE) > Level.NONE}

    def __getitem__(self, name: str) -> Level:
        return self._levels[name]

    def get_level(self, name: str) -> Level:
        return self._levels.get(name, Level.NONE)

    def __iter__(self) -> Iterator[str]:
        return iter(self._levels)

    def __len__(self) -> int:
        return len(self._levels)

    def __repr__(self) -> str:
        return f"PermissionSet({self.as_dict()})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PermissionSet):
            return self._levels == other._levels
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self._levels.items()))

    def as_dict(self) -> dict[str, str]:
        """``{"contents": "write", ...}``, the shape of a workflow's ``permissions:``."""
        return {name: str(level) for name, level in self._levels.items()}

    def union(self, other: PermissionSet) -> PermissionSet:
        names = set(self) | set(other)
        return PermissionSet({n: max(self.get_level(n), other.get_level(n)) for n in names})

    def covers(self, other: PermissionSet) -> bool:
        """True when every permission in ``other`` is granted here at its level or above."""
        return all(self.get_level(n) >= lvl for n, lvl in other.items())

    def excess_over(self, needed: PermissionSet) -> dict[str, Level]:
        """Permissions granted here beyond ``needed``."""
        return {n: lvl for n, lvl in self.items() if lvl > needed.get_level(n)}

    def has_github_access(self) -> bool:
        """True when a GitHub token is needed (any permission except ``id-token``)."""
        return any(n != "id-token" for n in self)

    def describe(self) -> str:
        return ", ".join(f"{n}: {lvl}" for n, lvl in self.items()) or "none"


NONE = PermissionSet()
