"""PEP 740 attestations, built and checked with ``pypi-attestations``.

An attestation is a Sigstore-signed DSSE envelope over an in-toto Statement v1 with
exactly one subject, the distribution (file name, sha256): a *publish* attestation
(predicate type ``https://docs.pypi.org/attestations/publish/v1``) or SLSA provenance
(``https://slsa.dev/provenance/v1``). PyPI accepts at most one of each per file, only
with trusted publishing, and only when the signing certificate names the trusted
publisher's workflow (https://docs.pypi.org/attestations/producing-attestations/).

Checking: ``Attestation.verify`` of pypi-attestations knows only Sigstore's public
instances; :func:`check` makes the same checks with the verifier of any trust root
(a private instance, a test stack): the library's own policy for the publisher
(``GitHubPublisher``: the certificate's Build Config URI must be the publisher's
workflow in its repository), then exactly one subject, equal to the file by name and
digest, and a predicate type PyPI knows.
"""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Any

from release.errors import ReleaseError, StageFailed
from release.signing import checked_digest
from release.signing.dsse import statement_bytes

if TYPE_CHECKING:
    from pypi_attestations import Attestation, GitHubPublisher
    from sigstore.models import ClientTrustConfig
    from sigstore.verify import Verifier

    from release.pypi.distmeta import DistFile

PUBLISH_V1 = "https://docs.pypi.org/attestations/publish/v1"
SLSA_V1 = "https://slsa.dev/provenance/v1"


class AttestationRejected(ReleaseError):
    """An attestation does not hold for a file; exit code 1."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=1)


class Attester:
    """Signs attestations with one Fulcio certificate (one OIDC token) for the whole stage."""

    def __init__(self, trust: ClientTrustConfig, token: str) -> None:
        from sigstore.oidc import IdentityToken
        from sigstore.sign import SigningContext

        from release.signing.keyless import _sigstore_errors

        self._stack = contextlib.ExitStack()
        self._errors = _sigstore_errors
        with _sigstore_errors("preparing to sign attestations"):
            context = SigningContext.from_trust_config(trust)
            self._signer = self._stack.enter_context(context.signer(IdentityToken(token)))

    def publish(self, dist: DistFile) -> dict[str, Any]:
        """The publish attestation of ``dist`` (its bytes re-hashed: a swapped file fails)."""
        from pypi_attestations import Attestation, AttestationError, Distribution

        checked_digest(dist.path, dist.sha256)
        with self._errors(f"attesting {dist.filename}"):
            try:
                att = Attestation.sign(self._signer, Distribution(name=dist.filename,
                                                                  digest=dist.sha256))
            except AttestationError as exc:
                raise StageFailed(f"cannot attest {dist.filename}: {exc}") from None
        return _as_json(att)

    def statement(self, statement: dict[str, Any], filename: str) -> dict[str, Any]:
        """Sign an in-toto statement (one subject) and convert it to an attestation."""
        from pypi_attestations import Attestation, ConversionError
        from sigstore import dsse

        with self._errors(f"signing the provenance of {filename}"):
            bundle = self._signer.sign_dsse(dsse.Statement(statement_bytes(statement)))
        try:
            return _as_json(Attestation.from_bundle(bundle))
        except ConversionError as exc:
            raise StageFailed(f"cannot convert the provenance of {filename}: {exc}") from None

    def close(self) -> None:
        self._stack.close()


def _as_json(att: Attestation) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(att.model_dump_json())
    return data


def parse(data: bytes | str, where: str) -> Attestation:
    """An attestation object from JSON; a malformed one is a rejection naming ``where``."""
    from pydantic import ValidationError
    from pypi_attestations import Attestation

    try:
        return Attestation.model_validate_json(data)
    except ValidationError as exc:
        raise AttestationRejected(f"{where}: not a PEP 740 attestation "
                                  f"({' '.join(str(exc).split())[:200]})") from None


def check(att: Attestation, filename: str, sha256: str, publisher: GitHubPublisher,
          verifier: Verifier) -> str:
    """Verify ``att`` for the file ``filename`` with ``sha256``, signed by ``publisher``'s
    workflow; returns the predicate type. Raises :class:`AttestationRejected`."""
    from packaging.utils import (
        InvalidSdistFilename,
        InvalidWheelFilename,
        parse_sdist_filename,
        parse_wheel_filename,
    )
    from pypi_attestations import ConversionError

    try:
        bundle = att.to_bundle()
        # pypi-attestations' own policy for a trusted publisher (what PyPI enforces)
        policy = publisher._as_policy()
        payload_type, payload = verifier.verify_dsse(bundle, policy)
    except ConversionError as exc:
        raise AttestationRejected(f"malformed attestation: {exc}") from None
    except Exception as exc:  # sigstore raises several kinds; any is a rejection
        text = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise AttestationRejected(f"signature or signer rejected: {text}") from None
    if payload_type != "application/vnd.in-toto+json":
        raise AttestationRejected(f"payload type {payload_type!r} is not an in-toto statement")
    try:
        statement = json.loads(payload)
        [subject] = statement["subject"]
        name, digest = subject["name"], subject["digest"]["sha256"]
        predicate_type = statement["predicateType"]
    except (ValueError, KeyError, TypeError, RecursionError):
        raise AttestationRejected("the statement does not have exactly one subject with a "
                                  "name and a sha256 digest") from None

    def parsed(text: str) -> object:
        return parse_wheel_filename(text) if text.endswith(".whl") \
            else parse_sdist_filename(text)

    try:
        same_name = parsed(name) == parsed(filename)
    except (InvalidWheelFilename, InvalidSdistFilename):
        same_name = False
    if not same_name:
        raise AttestationRejected(f"the attestation is for {name!r}, not {filename!r}")
    if digest != sha256:
        raise AttestationRejected(f"the attestation's subject has sha256 {digest}, the file "
                                  f"{sha256}")
    if predicate_type not in (PUBLISH_V1, SLSA_V1):
        raise AttestationRejected(f"unknown predicate type {predicate_type!r}")
    return str(predicate_type)
