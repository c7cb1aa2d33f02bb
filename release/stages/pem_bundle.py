"""``pem-bundle``: a CA certificate bundle from pinned certificates, built deterministically.

In the manner of tpm-ca-certificates (https://github.com/loicsikidi/tpm-ca-certificates):
each certificate is listed by a path in the source tree or an https URL and pinned by
its SHA-256 fingerprint. Validity is checked at the source date (``SOURCE_DATE_EPOCH``,
the commit time), not at build time, so two builds of one commit agree on the result.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from release.engine.contract import (
    Effect,
    Output,
    PlannedAction,
    StageConfig,
    StageContext,
    StageKind,
)
from release.errors import Location, StageFailed
from release.pem.entry import check_path, check_url
from release.pem.pins import Pins, label, parse_pin

if TYPE_CHECKING:
    from release.pem.certificate import CertificateFacts
    from release.pem.entry import CertificateSource

_PIN_KEYS = ("sha256", "sha384", "sha512", "sha1")
_PIN_HELP = ("fingerprint of the certificate's exact DER bytes (hex, with or without "
             "colons); several pins must all match")


class CertificateEntry(BaseModel):
    """One certificate of the bundle: where it comes from and what it must hash to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(default=None, max_length=200,
                             description="A label printed in the bundle and in errors.")
    path: str | None = Field(default=None, description="A file in the source tree (PEM or DER).")
    url: str | None = Field(default=None, description="An https:// address to fetch it from.")
    sha256: str | None = Field(default=None, description=f"SHA-256 {_PIN_HELP} (preferred).")
    sha384: str | None = Field(default=None, description=f"SHA-384 {_PIN_HELP}.")
    sha512: str | None = Field(default=None, description=f"SHA-512 {_PIN_HELP}.")
    sha1: str | None = Field(default=None, description=f"SHA-1 {_PIN_HELP}; weak, accepted "
                             "for existing configurations, with a warning.")
    allow_non_ca: bool = Field(default=False, alias="allow-non-ca",
                               description="Accept a certificate that is not a CA.")

    @field_validator(*_PIN_KEYS)
    @classmethod
    def _fingerprint(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else parse_pin(info.field_name, value)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        return None if value is None else check_path(value)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else check_url(value)

    @model_validator(mode="after")
    def _one_source(self) -> CertificateEntry:
        if (self.path is None) == (self.url is None):
            raise ValueError("give exactly one of `path` or `url`")
        if not self.pin_values():
            raise ValueError("pin the certificate: `sha256` (preferred), `sha384`, `sha512` "
                             "or `sha1`")
        return self

    def pin_values(self) -> dict[str, str]:
        return {k: v for k in _PIN_KEYS if (v := getattr(self, k)) is not None}

    def pins(self) -> Pins:
        return Pins.parse(self.pin_values())

    def label(self, index: int) -> str:
        where = self.path if self.path is not None else self.url
        name = f" {self.name!r}" if self.name else ""
        return f"certificates[{index}]{name} ({where})"

    def source(self, index: int, allow_non_ca: bool) -> CertificateSource:
        from release.pem.entry import CertificateSource

        return CertificateSource(self.label(index), self.name, self.pins(), self.path,
                                 self.url, allow_non_ca=allow_non_ca or self.allow_non_ca)


class PemBundleConfig(StageConfig):
    kind: Literal["pem-bundle"]
    certificates: list[CertificateEntry] | None = Field(default=None, min_length=1)
    certificates_file: str | None = Field(
        default=None, alias="certificates-file",
        description="A YAML file in the source tree listing the certificates in "
                    "tpm-ca-certificates' format (vendors: [{id, name, certificates: "
                    "[{name, url, validation: {fingerprint: {sha256: ...}}}]}]), in place "
                    "of `certificates`.")
    output: str = Field(default="ca-bundle.pem", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    title: str | None = Field(default=None, max_length=200,
                              description="First header line (default: the output name).")
    allow_non_ca: bool = Field(default=False, alias="allow-non-ca",
                               description="Accept non-CA certificates in every entry.")

    @field_validator("certificates_file")
    @classmethod
    def _file(cls, value: str | None) -> str | None:
        return None if value is None else check_path(value)

    @model_validator(mode="after")
    def _one_list(self) -> PemBundleConfig:
        if (self.certificates is None) == (self.certificates_file is None):
            # raised at the key, so the error points at its line
            both = self.certificates is not None
            error = PydanticCustomError(
                "certificates", "give exactly one of `certificates` or `certificates-file`"
                + ("" if both else ": the certificates to bundle"))
            raise ValidationError.from_exception_data("pem-bundle", [InitErrorDetails(
                type=error, loc=("certificates-file",) if both else (),
                input=self.certificates_file)])
        return self

    @field_validator("certificates")
    @classmethod
    def _unique(cls, entries: list[CertificateEntry] | None) -> list[CertificateEntry] | None:
        seen: dict[tuple[str, str], int] = {}
        for i, entry in enumerate(entries or []):
            for alg, digest in entry.pin_values().items():
                if (alg, digest) in seen:
                    # raised with the entry's own location, so the error points at its line
                    error = PydanticCustomError(
                        "duplicate", "certificates[{i}] pins the same {alg} fingerprint as "
                        "certificates[{first}]: a duplicate",
                        {"i": i, "first": seen[alg, digest], "alg": label(alg)})
                    raise ValidationError.from_exception_data("certificates", [
                        InitErrorDetails(type=error, loc=(i, alg), input=digest)])
                seen[alg, digest] = i
        return entries


class PemBundle(StageKind[PemBundleConfig]):
    kind = "pem-bundle"
    description = "Build a CA certificate bundle from fingerprint-pinned certificates."
    config = PemBundleConfig
    uses_source = True

    def effects(self, config: PemBundleConfig) -> Effect:
        # a certificates file is read at run time: its entries may name URLs
        fetches = config.certificates_file is not None or any(
            e.url for e in config.certificates or [])
        return Effect.NETWORK if fetches else Effect.LOCAL

    def declared_outputs(self, config: PemBundleConfig) -> list[str]:
        return [config.output]

    def plan(self, ctx: StageContext[PemBundleConfig]) -> list[PlannedAction]:
        cfg = ctx.config
        actions = [PlannedAction("read", cfg.certificates_file)] if cfg.certificates_file else []
        for entry in cfg.certificates or []:
            alg, digest = entry.pins().strongest
            actions.append(PlannedAction("fetch" if entry.url else "read",
                                         entry.url or entry.path or "", f"{alg}:{digest}"))
        return [*actions, PlannedAction("write", cfg.output)]

    def run(self, ctx: StageContext[PemBundleConfig]) -> list[Output]:
        from release.pem.bundle import BundleHeader, render

        cfg = ctx.config
        sources = _sources(ctx)
        for source in sources:
            if warning := source.pins.warning():
                ctx.log(f"warning: {source.label} {warning}")
        blobs = _gather(ctx, sources)
        when = dt.datetime.fromtimestamp(ctx.source.epoch, dt.UTC)
        problems: list[str] = []
        certs: list[tuple[CertificateSource, CertificateFacts]] = []
        first: dict[str, str] = {}
        for source, data in zip(sources, blobs, strict=True):
            result = data if isinstance(data, str) else _check(source, data, when)
            if not isinstance(result, str) and result.sha256 in first:
                result = f"the same certificate as {first[result.sha256]}: a duplicate"
            if isinstance(result, str):
                problems.append(f"{source.label}: {result}")
                continue
            first[result.sha256] = source.label
            certs.append((source, result))
        if problems:
            head = problems[0] if len(problems) == 1 else (
                f"{len(problems)} certificates were refused: " + "; ".join(problems))
            raise StageFailed(head, "fix or remove the listed entries; validity is checked at "
                                    "the source date (SOURCE_DATE_EPOCH), the commit time")
        header = BundleHeader(cfg.title or cfg.output, ctx.source.commit, ctx.source.epoch,
                              ctx.source.version, ctx.source.tag, ctx.source.repository)
        text = render(header, certs, by_vendor=cfg.certificates_file is not None)
        (ctx.out_dir / cfg.output).write_text(text, encoding="utf-8")
        ctx.log(f"wrote {cfg.output} with {len(certs)} certificates")
        # the certificates fetched by URL, for provenance (release/provenance/fetched.py)
        fetched = {f"fetched:{s.url}": c.sha256 for s, c in certs if s.url is not None}
        return [Output(cfg.output, "pem-bundle", fetched)]


def _sources(ctx: StageContext[PemBundleConfig]) -> list[CertificateSource]:
    """The entries: from the pipeline, or from the certificates file of the commit."""
    from release.pem.certificates_file import CertificatesFileError, read_certificates_file

    cfg = ctx.config
    if cfg.certificates is not None:
        return [e.source(i, cfg.allow_non_ca) for i, e in enumerate(cfg.certificates)]
    assert cfg.certificates_file is not None
    # named as from the repository root, so the location opens in an editor
    shown = ctx.source.in_repository(cfg.certificates_file)
    data = _read(ctx, cfg.certificates_file, "a list of certificates is a few KiB")
    if isinstance(data, str):
        raise CertificatesFileError(f"certificates-file {cfg.certificates_file}: {data}",
                                    location=Location(shown))
    sources = read_certificates_file(data, shown)  # CertificatesFileError: exit 2
    if not sources:
        raise CertificatesFileError(
            f"certificates-file {cfg.certificates_file} lists no certificate",
            "list each certificate under its vendor's `certificates:`", Location(shown))
    if cfg.allow_non_ca:
        sources = [dataclasses.replace(s, allow_non_ca=True) for s in sources]
    return sources


def _read(ctx: StageContext[PemBundleConfig], relative: str,
          size_hint: str = "a certificate is a few KiB") -> bytes | str:
    """A file of the committed source tree, bounded in size; or why it cannot be read."""
    from release.pem.fetch import MAX_BYTES

    root = ctx.workspace.src.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        return "the path leaves the source tree through a symlink"
    if not path.is_file():
        return "no such file in the committed source tree"
    with path.open("rb") as f:
        data = f.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        return f"larger than {MAX_BYTES // 1024} KiB; {size_hint}"
    return data


def _gather(ctx: StageContext[PemBundleConfig], sources: list[CertificateSource]
            ) -> list[bytes | str]:
    """The fetch phase: every entry's bytes, or a string saying why there are none."""
    from release.pem.fetch import FetchError, fetch

    out: list[bytes | str] = []
    for source in sources:
        if source.url is not None:
            ctx.log(f"fetching {source.url}")
            try:
                out.append(fetch(source.url))
            except FetchError as exc:
                out.append(f"cannot fetch: {exc}")
        else:
            assert source.path is not None
            out.append(_read(ctx, source.path))
    return out


def _check(source: CertificateSource, data: bytes, when: dt.datetime) -> CertificateFacts | str:
    """The certificate, or why the bundle refuses it."""
    from release.pem.bundle import iso
    from release.pem.certificate import NotACertificate, colon_hex, load_certificate

    try:
        cert = load_certificate(data)
    except NotACertificate as exc:
        return f"not a certificate: {exc}"
    wrong = source.pins.mismatches({alg: cert.digest(alg) for alg, _ in source.pins.digests})
    if wrong:
        return "; ".join(f"{label(alg)} fingerprint mismatch: pinned {colon_hex(pinned)}, the "
                         f"file has {colon_hex(actual)}" for alg, pinned, actual in wrong)
    if cert.not_after < when:
        return (f"expired on {iso(cert.not_after)}, before the source date {iso(when)}")
    if cert.not_before > when:
        return (f"not valid until {iso(cert.not_before)}, after the source date {iso(when)}")
    if not cert.is_ca and not source.allow_non_ca:
        return ("not a CA certificate (basicConstraints CA is not set); "
                "set `allow-non-ca: true` on the entry to accept it")
    return cert
