"""Certificates for ``pem-bundle``: reading, pinning, fetching, and rendering a bundle.

Certificates are read with a lenient DER reader of this package's own
(:mod:`release.pem.der`), never re-encoded, so real roots that are not strict DER pass
and keep their exact bytes. The ``pem-bundle`` stage imports the heavier modules only
inside ``run()``, so plans stay fast.
"""
