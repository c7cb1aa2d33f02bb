"""``pem-bundle``: a CA certificate bundle from pinned certificates, built deterministically.

In the manner of tpm-ca-certificates (https://github.com/loicsikidi/tpm-ca-certificates):
each certificate is listed by a path in the source tree or an https URL and pinned by
its SHA-256 fingerprint. Validity is checked at the source date (``SOURCE_DATE_EPOCH``,
the commit time), not at build time, so two builds of one commit agree on the result.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from release.errors import StageFailed
from release.stages.base import (
    Effect,
    Output,
    PlannedAction,
    StageConfig,
    StageContext,
    StageKind,
)

if TYPE_CHECKING:
    from release.pem.certificate import CertificateFacts

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_COLON_HEX = re.compile(r"^[0-9a-f]{2}(?::[0-9a-f]{2}){31}$")


def normalize_fingerprint(value: str) -> str:
    """``AB:CD:...`` or ``abcd...`` (64 hex digits) -> lowercase hex without colons."""
    text = value.strip().lower()
    if _COLON_HEX.match(text):
        text = text.replace(":", "")
    if not _HEX64.match(text):
        raise ValueError("a SHA-256 fingerprint is 64 hex digits, optionally as 32 "
                         "colon-separated pairs (AB:CD:...)")
    return text


class CertificateEntry(BaseModel):
    """One certificate of the bundle: where it comes from and what it must hash to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(default=None, max_length=200,
                             description="A label printed in the bundle and in errors.")
    path: str | None = Field(default=None, description="A file in the source tree (PEM or DER).")
    url: str | None = Field(default=None, description="An https:// address to fetch it from.")
    sha256: str = Field(description="SHA-256 fingerprint of the DER certificate (hex, "
                                    "with or without colons).")
    allow_non_ca: bool = Field(default=False, alias="allow-non-ca",
                               description="Accept a certificate that is not a CA.")

    @field_validator("sha256")
    @classmethod
    def _fingerprint(cls, value: str) -> str:
        return normalize_fingerprint(value)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is not None and (not value or value.startswith("/")
                                  or ".." in value.split("/") or "\\" in value):
            raise ValueError("a certificate path is relative to the repository root and "
                             "stays inside it (no leading '/', no '..')")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https://[^/\s?#@]+(/\S*)?$", value):
            raise ValueError("a certificate url must be an https:// address")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> CertificateEntry:
        if (self.path is None) == (self.url is None):
            raise ValueError("give exactly one of `path` or `url`")
        return self

    def label(self, index: int) -> str:
        where = self.path if self.path is not None else self.url
        name = f" {self.name!r}" if self.name else ""
        return f"certificates[{index}]{name} ({where})"


class PemBundleConfig(StageConfig):
    kind: Literal["pem-bundle"]
    certificates: list[CertificateEntry] = Field(min_length=1)
    output: str = Field(default="ca-bundle.pem", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    title: str | None = Field(default=None, max_length=200,
                              description="First header line (default: the output name).")
    allow_non_ca: bool = Field(default=False, alias="allow-non-ca",
                               description="Accept non-CA certificates in every entry.")

    @field_validator("certificates")
    @classmethod
    def _unique(cls, entries: list[CertificateEntry]) -> list[CertificateEntry]:
        seen: dict[str, int] = {}
        for i, entry in enumerate(entries):
            if entry.sha256 in seen:
                # raised with the entry's own location, so the error points at its line
                error = PydanticCustomError(
                    "duplicate", "certificates[{i}] pins the same SHA-256 fingerprint as "
                    "certificates[{first}]: a duplicate", {"i": i, "first": seen[entry.sha256]})
                raise ValidationError.from_exception_data("certificates", [InitErrorDetails(
                    type=error, loc=(i, "sha256"), input=entry.sha256)])
            seen[entry.sha256] = i
        return entries


class PemBundle(StageKind[PemBundleConfig]):
    kind = "pem-bundle"
    description = "Build a CA certificate bundle from SHA-256-pinned certificates."
    config = PemBundleConfig
    uses_source = True

    def effects(self, config: PemBundleConfig) -> Effect:
        return Effect.NETWORK if any(e.url for e in config.certificates) else Effect.LOCAL

    def declared_outputs(self, config: PemBundleConfig) -> list[str]:
        return [config.output]

    def plan(self, ctx: StageContext[PemBundleConfig]) -> list[PlannedAction]:
        actions = [PlannedAction("fetch" if e.url else "read", e.url or e.path or "",
                                 f"sha256:{e.sha256}") for e in ctx.config.certificates]
        return [*actions, PlannedAction("write", ctx.config.output)]

    def run(self, ctx: StageContext[PemBundleConfig]) -> list[Output]:
        from release.pem.bundle import BundleHeader, render

        cfg = ctx.config
        blobs = _gather(ctx)
        when = dt.datetime.fromtimestamp(ctx.source.epoch, dt.UTC)
        problems: list[str] = []
        certs: list[tuple[str, CertificateFacts]] = []
        for i, (entry, data) in enumerate(zip(cfg.certificates, blobs, strict=True)):
            if isinstance(data, str):
                problems.append(f"{entry.label(i)}: {data}")
                continue
            result = _check(entry, data, when, cfg.allow_non_ca or entry.allow_non_ca)
            if isinstance(result, str):
                problems.append(f"{entry.label(i)}: {result}")
            else:
                certs.append((entry.name or result.subject, result))
        if problems:
            head = problems[0] if len(problems) == 1 else (
                f"{len(problems)} certificates were refused: " + "; ".join(problems))
            raise StageFailed(head, "fix or remove the listed entries; validity is checked at "
                                    "the source date (SOURCE_DATE_EPOCH), the commit time")
        header = BundleHeader(cfg.title or cfg.output, ctx.source.commit, ctx.source.epoch,
                              ctx.source.version, ctx.source.tag, ctx.source.repository)
        (ctx.out_dir / cfg.output).write_text(render(header, certs), encoding="utf-8")
        ctx.log(f"wrote {cfg.output} with {len(certs)} certificates")
        return [Output(cfg.output, "pem-bundle")]


def _gather(ctx: StageContext[PemBundleConfig]) -> list[bytes | str]:
    """The fetch phase: every entry's bytes, or a string saying why there are none."""
    from release.pem.fetch import FetchError, fetch

    root = ctx.workspace.src.resolve()
    out: list[bytes | str] = []
    for entry in ctx.config.certificates:
        if entry.url is not None:
            ctx.log(f"fetching {entry.url}")
            try:
                out.append(fetch(entry.url))
            except FetchError as exc:
                out.append(f"cannot fetch: {exc}")
            continue
        assert entry.path is not None
        path = (root / entry.path).resolve()
        if not path.is_relative_to(root):
            out.append("the path leaves the source tree through a symlink")
        elif not path.is_file():
            out.append("no such file in the committed source tree")
        else:
            out.append(path.read_bytes())
    return out


def _check(entry: CertificateEntry, data: bytes, when: dt.datetime,
           allow_non_ca: bool) -> CertificateFacts | str:
    """The certificate, or why the bundle refuses it."""
    from release.pem.bundle import iso
    from release.pem.certificate import NotACertificate, colon_hex, load_certificate

    try:
        cert = load_certificate(data)
    except NotACertificate as exc:
        return f"not a certificate ({exc})"
    if cert.sha256 != entry.sha256:
        return (f"SHA-256 fingerprint mismatch: pinned {colon_hex(entry.sha256)}, "
                f"the file has {colon_hex(cert.sha256)}")
    if cert.not_after < when:
        return (f"expired on {iso(cert.not_after)}, before the source date {iso(when)}")
    if cert.not_before > when:
        return (f"not valid until {iso(cert.not_before)}, after the source date {iso(when)}")
    if not cert.is_ca and not allow_non_ca:
        return ("not a CA certificate (basicConstraints CA is not set); "
                "set `allow-non-ca: true` on the entry to accept it")
    return cert
