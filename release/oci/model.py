"""Parts of the ``oci-image`` stage's pipeline-file model (pydantic; no network imports)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from release.oci.descriptor import KNOWN_PLATFORMS, Platform
from release.oci.layer import image_path
from release.oci.reference import TAG, parse_repository

#: Labels filled in from the source; a pipeline may not set them by hand.
STANDARD_LABELS = ("org.opencontainers.image.source", "org.opencontainers.image.revision",
                   "org.opencontainers.image.version", "org.opencontainers.image.created")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_OCTAL = re.compile(r"^0?o?[0-7]{3,4}$")
_STRICT = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)


def check_platform(value: str) -> str:
    """Validate an ``os/arch[/variant]`` against the known list, with a did-you-mean."""
    try:
        Platform.parse(value)
    except ValueError:
        from release.errors import suggest

        guess = suggest(value, list(KNOWN_PLATFORMS))
        raise ValueError(f"unknown platform {value!r}; "
                         + (f"did you mean {guess!r}? " if guess else "")
                         + f"known: {', '.join(KNOWN_PLATFORMS)}") from None
    return value


class FileEntry(BaseModel):
    """Where one artifact goes in the image."""

    model_config = _STRICT

    path: str = Field(description="Absolute path inside the image.")
    mode: int | str | None = Field(default=None, description=(
        "Octal mode such as \"0755\"; default: the artifact's own mode as its stage made "
        "it (0755 if executable, else 0644)."))
    platform: str | None = Field(default=None, description=(
        "Put the file only in this platform's image (per-platform binaries)."))

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        image_path(value)
        return value

    @field_validator("mode")
    @classmethod
    def _mode(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, str) and not _OCTAL.match(value):
            raise ValueError("mode must be octal, such as \"0755\" or \"0644\"")
        if isinstance(value, int) and not 0 <= value <= 0o7777:
            raise ValueError("mode must be octal, such as \"0755\" or \"0644\"")
        return value

    @field_validator("platform")
    @classmethod
    def _platform(cls, value: str | None) -> str | None:
        return None if value is None else check_platform(value)

    @property
    def mode_bits(self) -> int | None:
        """The mode as a number (YAML 1.1 reads an unquoted ``0755`` as octal already)."""
        if isinstance(self.mode, str):
            return int(self.mode.replace("o", ""), 8)
        return self.mode


def _tag(tag: str) -> str:
    if not TAG.match(tag.replace("{version}", "0")):
        raise ValueError(f"{tag!r} is not a valid tag (letters, digits, '_', '.', '-'; at "
                         "most 128; `{version}` allowed)")
    return tag


def file_entry(value: Any) -> Any:
    """``tool: /usr/bin/tool`` is short for ``tool: {path: /usr/bin/tool}``."""
    return {"path": value} if isinstance(value, str) else value


class ImageSettings(BaseModel):
    """The image's run configuration (the config's ``config`` object)."""

    model_config = _STRICT

    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    env: dict[str, str] = Field(default_factory=dict)
    user: str | None = None
    workdir: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not _ENV_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid environment variable name")
        return dict(sorted(value.items()))

    @field_validator("workdir")
    @classmethod
    def _workdir(cls, value: str | None) -> str | None:
        if value is not None and value != "/":
            image_path(value)
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if name in STANDARD_LABELS:
                raise ValueError(f"label {name} is set from the release source; remove it")
        return dict(sorted(value.items()))


class PushTarget(BaseModel):
    """Where the image goes, and the tags that move to it once it is verified there."""

    model_config = _STRICT

    repository: str = Field(description="host/owner/name, e.g. ghcr.io/owner/name.")
    tags: list[Annotated[str, AfterValidator(_tag)]] = Field(
        default_factory=list, description=(
            "Tags to point at the image; `{version}` is the release version."))
    username: str | None = Field(default=None, description=(
        "User name for `password-env` (ghcr.io: the GitHub actor)."))
    password_env: str | None = Field(default=None, alias="password-env", description=(
        "Environment variable holding the registry credential (not for ghcr.io)."))

    @field_validator("repository")
    @classmethod
    def _repository(cls, value: str) -> str:
        parse_repository(value)
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a tag is listed twice")
        return value

    @field_validator("password_env")
    @classmethod
    def _password_env(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError(f"{value!r} is not a valid environment variable name")
        return value

    @property
    def host(self) -> str:
        return parse_repository(self.repository)[0]

    @property
    def path(self) -> str:
        return parse_repository(self.repository)[1]

    @model_validator(mode="after")
    def _credentials(self) -> PushTarget:
        if self.host == "ghcr.io" and self.password_env:
            raise ValueError("ghcr.io takes the stage's GITHUB_TOKEN (granted by "
                             "`packages: write`); remove `password-env`")
        if self.password_env and not self.username:
            raise ValueError("`password-env` needs a `username`")
        return self
