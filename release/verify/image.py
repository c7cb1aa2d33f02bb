"""``release verify oci://REGISTRY/NAME@sha256:DIGEST``: an image's signatures and
attestations, read from its registry.

The referrers come from the registry's referrers API, or the ``sha256-<hex>`` tag of the
referrers tag schema (:mod:`release.oci.referrers`). Each Sigstore bundle among them is
verified against the expected identity (keyless) or ``--key``
(:mod:`release.verify.image_signer`: another signer's bundle is skipped), and its
statement must be about this image: every subject is the image digest. A cosign
signature (``https://sigstore.dev/cosign/sign/v1``) is required; ``--require-provenance``
also requires provenance (``--predicate-type``, SLSA v1 by default), and its source must
be ``--repository`` and ``--commit`` (or the certificate's commit), as for a folder. With
``--key``, only the provenance can say where an image was built from, so ``--commit`` or
``--repository`` requires it. A tag is resolved once, printed, and verified by digest.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import TYPE_CHECKING

from release.errors import ReleaseError, UsageError
from release.verify.report import Report

if TYPE_CHECKING:
    from release.oci.reference import Reference
    from release.oci.referrers import Referrer
    from release.oci.registry import Registry
    from release.verify.image_signer import ImageSigner

PREFIX = "oci://"
COSIGN_SIGN = "https://sigstore.dev/cosign/sign/v1"
BUNDLE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
#: More bundles than this are refused rather than fetched one by one from the registry.
MAX_BUNDLES = 100
_PORT = re.compile(r"(?::(\d{1,5}))?")


def verify_image(args: argparse.Namespace, target: str) -> int:
    """Verify the image ``oci://...`` named by ``target``; print the report; 0 if it passed."""
    from release.oci.registry import Registry

    ref = _reference(target)
    policy = _Policy.of(args)
    name = f"{ref.host}/{ref.repository}"
    with Registry(ref.api_host, ref.repository) as reg:
        digest = ref.digest
        if digest is None:
            assert ref.tag is not None
            digest = reg.manifest_digest(ref.tag)
            if digest is None:
                raise UsageError(f"{target}: no tag {ref.tag} in the registry")
            print(f"warning: {target} resolved to {name}@{digest}; a tag can move, so "
                  f"verify by digest: oci://{name}@{digest}", file=sys.stderr)
        report = Report(f"oci://{name}@{digest}")
        _verify(reg, digest, report, policy)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(report.render())
    return 0 if report.ok else 1


def _reference(target: str) -> Reference:
    """The image named by ``target``: a digest or a tag, on a valid port."""
    from release.oci.reference import Reference

    hint = "name the image as oci://REGISTRY/OWNER/NAME@sha256:DIGEST (or :TAG)"
    try:
        ref = Reference.parse(target.removeprefix(PREFIX))
    except ValueError as exc:
        raise UsageError(f"{target}: {exc}", hint) from None
    port = _PORT.fullmatch(ref.host.rpartition("]")[2] if ref.host.startswith("[")
                           else ref.host[ref.host.find(":"):] if ":" in ref.host else "")
    if port is None or (port.group(1) is not None and not 0 < int(port.group(1)) < 65536):
        raise UsageError(f"{target}: {ref.host!r} has no valid port (1-65535)", hint)
    if ref.digest is None and ref.tag is None:
        raise UsageError(f"{target} names neither a digest nor a tag",
                         "verify by digest (@sha256:...); a tag (:TAG) is resolved once; "
                         "there is no implicit :latest")
    return ref


class _Policy:
    """What a verified image must show: the signer, and which provenance says what."""

    def __init__(self, signer: ImageSigner, args: argparse.Namespace,
                 commit: str | None) -> None:
        from release.verify.policy import AttestationPolicy

        self.signer, self.commit = signer, commit
        self.repository: str | None = args.repository
        self.predicate_type: str = args.predicate_type
        identity = signer.identity
        self.workflow = AttestationPolicy(identity) if identity is not None else None
        # with a key, only a signed provenance can bind the source
        self.require_provenance = bool(args.require_provenance) or (
            signer.key is not None and bool(commit or args.repository))

    @classmethod
    def of(cls, args: argparse.Namespace) -> _Policy:
        """The policy of the command line; options that do not apply to an image, and
        misuse, are usage errors."""
        import dataclasses

        from release.verify.image_signer import ImageSigner
        from release.verify.keys import PublicKey
        from release.verify.options import check_attestation_options, signer_options
        from release.verify.sigstore_bundles import Trust

        if args.ignore:
            raise UsageError("--ignore leaves out files of a folder; an oci:// image has none",
                             "drop --ignore")
        if args.github_trusted_root is not None and \
                str(args.github_trusted_root) != os.environ.get("RELEASE_GITHUB_TRUSTED_ROOT"):
            raise UsageError("--github-trusted-root checks release attestations; an oci:// "
                             "image has none", "drop --github-trusted-root")
        args.github_trusted_root = None
        identity, commit = signer_options(args)
        check_attestation_options(args)
        if args.deny_self_hosted_runners:
            if identity is None:
                raise UsageError("--deny-self-hosted-runners checks Sigstore certificates; "
                                 "a key signature has none", "pass --repository and --tag")
            identity = dataclasses.replace(identity, deny_self_hosted=True)
        key = PublicKey.load(args.key) if args.key is not None else None
        return cls(ImageSigner(identity, key, Trust(args.trusted_root, args.staging)), args,
                   commit)


def _verify(reg: Registry, digest: str, report: Report, policy: _Policy) -> None:
    from release.oci.referrers import list_referrers

    subject = f"{reg.where}@{digest}"
    try:
        reg.get_manifest(digest)
        report.passed("image", subject, "the registry serves the image by this digest")
        referrers, via, foreign = list_referrers(reg, digest)
    except ReleaseError as exc:
        report.failed("image", subject, exc.message)
        return
    where = "referrers API" if via == "api" else f"tag {via}"
    for entry in foreign:
        report.skipped("referrer", f"{subject} ({where})", f"{entry}: not a sha256 "
                       "descriptor, another tool's; not read")
    for other in (r for r in referrers if r.artifact_type != BUNDLE_TYPE):
        report.skipped("referrer", f"{reg.where}@{other.descriptor.digest}",
                       f"a {other.artifact_type or 'untyped'} artifact, not a Sigstore bundle; "
                       "not read")
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
        predicate = _check_referrer(reg, digest, ref, policy, report)
        if predicate is not None:
            found.add(predicate)
    seen = ", ".join(sorted(found)) or "none"
    if COSIGN_SIGN not in found:
        report.failed("signature", subject, "no verified signature of the image by "
                      "the expected signer", expected=COSIGN_SIGN, found=seen)
    if policy.require_provenance and policy.predicate_type not in found:
        why = "--require-provenance" if policy.signer.key is None else \
            "--require-provenance, or --key with --commit or --repository"
        report.failed("provenance", subject, f"no verified provenance of the image ({why})",
                      expected=policy.predicate_type, found=seen)


def _check_referrer(reg: Registry, digest: str, ref: Referrer, policy: _Policy,
                    report: Report) -> str | None:
    """Verify one bundle referrer; its predicate type when it passed."""
    from release.oci.descriptor import Descriptor, load_json
    from release.verify import statements

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
    try:
        data = load_json(bundle)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        report.failed("bundle", label, "the bundle is malformed (not a JSON object)")
        return None
    signed = policy.signer.check(data, bundle)
    if signed.outcome == "skip":
        report.skipped("bundle", label, signed.message)
        return None
    if signed.outcome != "ok" or signed.payload is None:
        report.failed("bundle", label, signed.message)
        return None
    try:
        statement = load_json(signed.payload)
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
    st = statements.parse_statement(signed.payload_type, signed.payload, label,
                                    signed.signer_commit)
    if isinstance(st, str):
        report.failed("statement", label, "not a usable in-toto statement", found=st)
        return None
    before = len(report.failures())
    if policy.workflow is not None and signed.keyless:
        for what, expected, have in policy.workflow.workflow_problems(statement):
            report.failed("workflow", label, f"the provenance names another workflow: {what}",
                          expected=expected, found=have)
    provenance = st.is_provenance or predicate == policy.predicate_type
    if provenance:
        statements.check_source(st, policy.commit, policy.repository, report)
    if len(report.failures()) > before:
        return None
    check = "signature" if predicate == COSIGN_SIGN else \
        "provenance" if provenance else "attestation"
    report.passed(check, label, f"{predicate} about {digest}, signed by {signed.message}")
    return predicate
