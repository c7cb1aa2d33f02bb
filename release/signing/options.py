"""The signing keys a ``sign`` or ``attest`` stage takes, and what follows from them.

Light on purpose: stage modules import this at plan time. The backends themselves
(sigstore-python, cryptography) load only in :func:`open_signer`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar

from pydantic import Field, ValidationInfo, field_validator, model_validator

from release.engine.contract import Effect, StageConfig, StageKind
from release.permissions import Level, PermissionSet

if TYPE_CHECKING:
    from release.engine.contract import StageContext
    from release.signing import Signer

C = TypeVar("C", bound="SigningConfig")
_VARIABLE = r"^[A-Za-z_][A-Za-z0-9_]*$"
_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


class SigningConfig(StageConfig):
    """Keys shared by the stage kinds that sign."""

    backend: Literal["sigstore", "key"] = Field(
        default="sigstore", description="`sigstore` (keyless, the default) or `key` (offline).")
    instance: Literal["production", "staging"] | None = Field(
        default=None, description="sigstore: the public-good instance (default production).")
    trust_config: str | None = Field(
        default=None, alias="trust-config",
        description="sigstore: a ClientTrustConfig JSON file of a private Sigstore instance "
                    "(relative to `source.path`, or absolute).")
    identity_token_env: str | None = Field(
        default=None, alias="identity-token-env", pattern=_VARIABLE,
        description="sigstore: variable holding the OIDC token; unset: GitHub Actions' "
                    "ambient OIDC (needs id-token: write).")
    key: str | None = Field(
        default=None, description="key: PEM file of an ECDSA P-256 private key (relative "
                                  "to `source.path`, or absolute).")
    passphrase_env: str | None = Field(
        default=None, alias="passphrase-env", pattern=_VARIABLE,
        description="key: variable holding the key's passphrase.")
    public_key_name: str | None = Field(
        default=None, alias="public-key-name", pattern=_NAME,
        description="key: artifact name of the public key (default: <stage>.pub).")

    @field_validator("instance", "trust_config", "identity_token_env")
    @classmethod
    def _sigstore_only(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("backend") == "key":
            raise ValueError(f"`{_alias(cls, info)}` belongs to `backend: sigstore`, "
                             "not `backend: key`")
        if info.field_name == "trust_config" and value and info.data.get("instance"):
            raise ValueError("give `instance` or `trust-config`, not both")
        return value

    @field_validator("key", "passphrase_env", "public_key_name")
    @classmethod
    def _key_only(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("backend", "sigstore") == "sigstore":
            raise ValueError(f"`{_alias(cls, info)}` belongs to `backend: key`; this stage "
                             "signs keyless (backend: sigstore)")
        return value

    @model_validator(mode="after")
    def _key_given(self) -> SigningConfig:
        if self.backend == "key" and not self.key:
            raise ValueError("`backend: key` needs `key`: the path of a PEM private key")
        return self

    @property
    def ambient_oidc(self) -> bool:
        """Keyless with GitHub Actions' ambient OIDC token."""
        return self.backend == "sigstore" and self.identity_token_env is None


def _alias(cls: type[SigningConfig], info: ValidationInfo) -> str:
    assert info.field_name is not None
    return cls.model_fields[info.field_name].alias or info.field_name


class SigningKind(StageKind[C]):
    """What the stage kinds that sign (``sign``, ``attest``) share: their privileges."""

    def permissions(self, config: C) -> PermissionSet:
        """``id-token: write`` for keyless signing with ambient OIDC; nothing otherwise."""
        if config.ambient_oidc:
            return PermissionSet({"id-token": Level.WRITE})
        return PermissionSet()

    def effects(self, config: C) -> Effect:
        """Keyless signing writes to a public transparency log; key signing stays local."""
        return Effect.EXTERNAL if config.backend == "sigstore" else Effect.LOCAL

    def secret_variables(self, config: C) -> frozenset[str]:
        """The outside variables the configuration reads (their values are never printed)."""
        names = {config.identity_token_env, config.passphrase_env}
        return frozenset(n for n in names if n)


def repository_path(ctx: StageContext[C], value: str) -> Path:
    """A configured path: absolute as given, else relative to the released folder of the
    working tree (``source.path``, the repository root by default)."""
    path = Path(value)
    return path if path.is_absolute() else ctx.source.folder / path


def describe_signer(ctx: StageContext[C]) -> tuple[str, str]:
    """``(identity, where)`` for plans: no token, key or network is touched."""
    from release.signing.keyless import describe_instance
    from release.signing.oidc import expected_identity

    cfg = ctx.config
    if cfg.backend == "key":
        assert cfg.key is not None
        passphrase = f", passphrase from ${cfg.passphrase_env}" if cfg.passphrase_env else ""
        # the key file is not read in a plan, not even to hash it: it is a credential
        return f"the key in {cfg.key}{passphrase}", "offline (no transparency log)"
    identity = expected_identity(ctx.env, ctx.source.repository, ctx.source.ref,
                                 cfg.identity_token_env)
    trust = repository_path(ctx, cfg.trust_config) if cfg.trust_config else None
    return identity, describe_instance(cfg.instance, trust, cfg.trust_config or "")


def open_signer(ctx: StageContext[C]) -> Signer:
    """The configured backend, ready to sign; reads the token or key now."""
    cfg = ctx.config
    if cfg.backend == "key":
        from release.signing.keys import KeySigner

        assert cfg.key is not None
        passphrase = None
        if cfg.passphrase_env:
            passphrase = ctx.secrets.get(cfg.passphrase_env)
            if not passphrase:
                from release.errors import StageFailed

                raise StageFailed(f"the passphrase variable {cfg.passphrase_env} is not set",
                                  f"export {cfg.passphrase_env} with the key's passphrase")
        return KeySigner.load(repository_path(ctx, cfg.key), passphrase, shown=cfg.key)
    from release.signing.keyless import KeylessSigner, load_trust_config
    from release.signing.oidc import check_token, identity_token

    token = identity_token(ctx.secrets, cfg.identity_token_env)
    check_token(token)
    trust_path = repository_path(ctx, cfg.trust_config) if cfg.trust_config else None
    trust = load_trust_config(cfg.instance, trust_path, cfg.trust_config or "")
    return KeylessSigner(trust, token)


def public_key_name(ctx: StageContext[C]) -> str:
    """Artifact name of the key backend's public key."""
    return ctx.config.public_key_name or f"{ctx.stage_id}.pub"
