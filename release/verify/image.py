"""``release verify oci://REGISTRY/NAME@sha256:DIGEST``: an image's signatures and
attestations, read from its registry.

The referrers come from the registry's referrers API, or the ``sha256-<hex>`` tag of the
referrers tag schema (:mod:`release.oci.referrers`). Each Sigstore bundle among them is
verified against the expected identity (keyless) or ``--key``, and its statement must be
about this image: every subject is the image digest. A cosign signature
(``https://sigstore.dev/cosign/sign/v1``) is required; ``--require-provenance`` also
requires SLSA provenance. A tag is resolved once, printed, and verified by digest.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from typing import TYPE_CHECKING, Any

from release.errors import ReleaseError, UsageError
from release.verify.policy import SLSA_PROVENANCE_V1
from release.verify.report import Report

if TYPE_CHECKING:
    from release.oci.referrers import Referrer
    from release.oci.registry import Registry
    from release.verify.identity import ExpectedIdentity
    from release.verify.keys import PublicKey
    from release.verify.sigstore_bundles import Verdict

PREFIX = "oci://"
COSIGN_SIGN = "https://sigstore.dev/cosign/sign/v1"
BUNDLE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
#: More bundles than this are refused rather than fetched one by one from the registry.
MAX_BUNDLES = 100


def verify_image(args: argparse.Namespace, target: str) -> int:
    """Verify the image ``oci://...`` named by ``target``; print the report; 0 if it passed."""
    from release.oci.reference import Reference
    from release.oci.registry import Registry
    from release.verify.identity import ExpectedIdentity
    from release.verify.keys import PublicKey

    try:
        ref = Reference.parse(target.removeprefix(PREFIX))
    except ValueError as exc:
        raise UsageError(f"{target}: {exc}", "name the image as "
                         "oci://REGISTRY/OWNER/NAME@sha256:DIGEST") from None
    if bool(args.repository) != bool(args.tag):
        raise UsageError(f"{'--tag' if args.repository else '--repository'} is missing",
                         "the signer's identity needs both --repository and --tag")
    if not args.repository and args.key is None:
        raise UsageError("nothing to verify the signatures against",
                         "pass --repository and --tag (Sigstore), or --key PUB.pem")
    identity = (ExpectedIdentity.parse(args.repository, args.tag, args.workflow, args.commit)
                if args.repository else None)
    key = PublicKey.load(args.key) if args.key is not None else None
    name = f"{ref.host}/{ref.repository}"
    with Registry(ref.api_host, ref.repository) as reg:
        digest = ref.digest
        if digest is None:
            digest = reg.manifest_digest(ref.tag or "latest")
            if digest is None:
                raise UsageError(f"{target}: no such tag in the registry")
            print(f"warning: {target} resolved to {name}@{digest}; a tag can move, so "
                  f"verify by digest: oci://{name}@{digest}", file=sys.stderr)
        report = Report(f"oci://{name}@{digest}")
        _verify(reg, digest, report, _Verifier(args, identity, key))
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(report.render())
    return 0 if report.ok else 1


class _Verifier:
    """The expected signer: a Sigstore identity (with its trust root) or a public key."""

    def __init__(self, args: argparse.Namespace, identity: ExpectedIdentity | None,
                 key: PublicKey | None) -> None:
        from release.verify.sigstore_bundles import Trust

        self.identity, self.key = identity, key
        self.trust = Trust(args.trusted_root, args.staging)
        self.require_provenance = bool(args.require_provenance)
        self._loaded: Any = None

    def check(self, bundle: bytes) -> tuple[str | None, bytes | None, str]:
        """``(error, payload, who)``: a verified payload, or why the bundle is refused."""
        from release.oci.descriptor import load_json

        try:
            data = load_json(bundle)
        except ValueError:
            return "the bundle is not JSON", None, ""
        material = data.get("verificationMaterial") if isinstance(data, dict) else None
        if isinstance(material, dict) and "publicKey" in material:
            return self._check_key(data)
        if self.identity is None:
            return "a keyless bundle, and no --repository/--tag to check it against", None, ""
        from release.verify.sigstore_bundles import verify_dsse

        if self._loaded is None:
            self._loaded = self.trust.verifier()
        verdict: Verdict = verify_dsse(self._loaded, bundle, self.identity)
        if verdict.error is None and verdict.identity_ok:
            return None, verdict.payload, self.identity.describe()
        if verdict.mismatches:
            what = "; ".join(f"{w}: expected {e}, found {f}" for w, e, f in verdict.mismatches)
            return f"signed by another identity ({what})", None, ""
        return f"the signature does not verify: {verdict.error}", None, ""

    def _check_key(self, data: dict[str, Any]) -> tuple[str | None, bytes | None, str]:
        from release.signing.dsse import pae

        if self.key is None:
            return "a key-signed bundle, and no --key to check it with", None, ""
        try:
            envelope = data["dsseEnvelope"]
            payload = base64.b64decode(envelope["payload"], validate=True)
            kind = str(envelope["payloadType"])
            signatures = [base64.b64decode(s["sig"], validate=True)
                          for s in envelope["signatures"]]
        except (KeyError, TypeError, ValueError):
            return "the bundle holds no well-formed DSSE envelope", None, ""
        if any(self.key.verify_bytes(sig, pae(kind, payload)) for sig in signatures):
            return None, payload, f"key {self.key.fingerprint}"
        return f"no signature verifies with key {self.key.fingerprint}", None, ""


def _verify(reg: Registry, digest: str, report: Report, verifier: _Verifier) -> None:
    from release.oci.referrers import list_referrers

    subject = f"{reg.where}@{digest}"
    try:
        reg.get_manifest(digest)
        report.passed("image", subject, "the registry serves the image by this digest")
        referrers, via = list_referrers(reg, digest)
    except ReleaseError as exc:
        report.failed("image", subject, exc.message)
        return
    where = "referrers API" if via == "api" else f"tag {via}"
    bundles = [r for r in referrers if r.artifact_type == BUNDLE_TYPE]
    if not bundles:
        report.failed("referrers", subject, f"no Sigstore bundle refers to the image ({where})")
        return
    if len(bundles) > MAX_BUNDLES:
        report.failed("referrers", subject, f"{len(bundles)} Sigstore bundles refer to the "
                      f"image ({where}); more than {MAX_BUNDLES} are not read")
        return
    found: set[str] = set()
    for ref in bundles:
        predicate = _check_referrer(reg, digest, ref, verifier, report)
        if predicate is not None:
            found.add(predicate)
    if COSIGN_SIGN not in found:
        report.failed("signature", subject, "no verified signature of the image",
                      expected=COSIGN_SIGN, found=", ".join(sorted(found)) or "none")
    if verifier.require_provenance and SLSA_PROVENANCE_V1 not in found:
        report.failed("provenance", subject, "no verified SLSA provenance of the image "
                      "(--require-provenance)", expected=SLSA_PROVENANCE_V1,
                      found=", ".join(sorted(found)) or "none")


def _check_referrer(reg: Registry, digest: str, ref: Referrer, verifier: _Verifier,
                    report: Report) -> str | None:
    """Verify one bundle referrer; its predicate type when it passed."""
    from release.oci.descriptor import Descriptor, load_json

    label = f"{reg.where}@{ref.descriptor.digest}"
    try:
        manifest = load_json(reg.get_manifest(ref.descriptor.digest)[0])
        about = manifest.get("subject", {}).get("digest")
        layer = Descriptor.from_json(manifest["layers"][0])
        bundle = reg.get_blob(layer, "Sigstore bundle")
    except ReleaseError as exc:
        report.failed("referrer", label, exc.message)
        return None
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        report.failed("referrer", label, "the referrer's manifest is malformed")
        return None
    if about != digest:
        report.failed("referrer", label, "the referrer is about another image",
                      expected=digest, found=str(about))
        return None
    error, payload, who = verifier.check(bundle)
    if error is not None or payload is None:
        report.failed("bundle", label, error or "no payload")
        return None
    try:
        statement = load_json(payload)
        predicate = str(statement["predicateType"])
        digests = [s["digest"]["sha256"] for s in statement["subject"]]
    except (ValueError, KeyError, TypeError):
        report.failed("statement", label, "the signed statement is malformed")
        return None
    want = digest.removeprefix("sha256:")
    if not digests or any(d != want for d in digests):
        report.failed("statement", label, "the signed statement is about another digest",
                      expected=digest, found=", ".join(f"sha256:{d}" for d in digests))
        return None
    noted = ref.descriptor.annotations.get("dev.sigstore.bundle.predicateType")
    if noted is not None and noted != predicate:
        report.failed("statement", label, "the referrer's annotation names another "
                      "predicate type than the signed statement", expected=predicate,
                      found=noted)
        return None
    check = "signature" if predicate == COSIGN_SIGN else \
        "provenance" if predicate == SLSA_PROVENANCE_V1 else "attestation"
    report.passed(check, label, f"{predicate} about {digest}, signed by {who}")
    return predicate
