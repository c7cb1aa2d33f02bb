"""Consumer-side verification of a downloaded release: checksums, signatures, provenance.

``release verify DIR`` (:mod:`release.verify.command`) runs :func:`release.verify.run.
verify_release`, which reports every check on its own line; sigstore and
cryptography are imported only when a check needs them.
"""
