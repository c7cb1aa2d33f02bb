"""Storing Sigstore attestation bundles with GitHub, so ``gh attestation verify`` finds them.

POST /repos/{owner}/{repo}/attestations is not idempotent, so a failed post is retried
only after listing the attestations of the bundle's subject and not finding it.
https://docs.github.com/en/rest/repos/attestations#create-an-attestation
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from release.errors import StageFailed
from release.github.client import ScopedGitHub
from release.github.failures import TransientError

ATTEMPTS = 3


def is_attestation_bundle(name: str, kind: str) -> bool:
    """Artifacts the attest stage produces: kind ``attestation-bundle`` or the file suffix."""
    return kind == "attestation-bundle" or name.endswith(".intoto.sigstore.json")


def read_bundle(path: Path, name: str) -> tuple[dict[str, Any], list[str]]:
    """The bundle and the ``sha256:`` digests of its in-toto statement's subjects."""
    try:
        bundle = json.loads(path.read_text(encoding="utf-8"))
        payload = base64.b64decode(bundle["dsseEnvelope"]["payload"], validate=True)
        statement = json.loads(payload)
        subjects = [f"sha256:{s['digest']['sha256']}" for s in statement["subject"]]
    except (OSError, ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise StageFailed(f"{name} is not a Sigstore bundle with a DSSE in-toto statement "
                          f"({type(exc).__name__}: {exc})",
                          "only DSSE attestation bundles can be stored with GitHub") from None
    if not subjects:
        raise StageFailed(f"{name}: the in-toto statement has no subjects")
    return bundle, subjects


def stored(gh: ScopedGitHub, bundle: dict[str, Any], subject: str) -> bool:
    data = gh.call("repos/list-attestations", {"subject_digest": subject}, missing_ok=True)
    found = (data or {}).get("attestations") or []
    return any(item.get("bundle") == bundle for item in found)


def upload_attestations(gh: ScopedGitHub, bundles: list[tuple[str, Path]], *,
                        log: Callable[[str], None],
                        pause: Callable[[float], None] = time.sleep) -> list[str]:
    """Store each bundle once; returns the names stored by this run."""
    done = []
    for name, path in bundles:
        bundle, subjects = read_bundle(path, name)
        if stored(gh, bundle, subjects[0]):
            log(f"attestation {name}: already stored for {subjects[0]}")
            continue
        for attempt in range(1, ATTEMPTS + 1):
            try:
                result = gh.call("repos/create-attestation", body={"bundle": bundle})
            except TransientError as exc:
                if attempt == ATTEMPTS:
                    raise
                pause(exc.retry_after)
                if exc.maybe_applied and stored(gh, bundle, subjects[0]):
                    break
                continue
            log(f"attestation {name}: stored as {result.get('id')} for "
                f"{', '.join(subjects)}")
            break
        done.append(name)
    return done
