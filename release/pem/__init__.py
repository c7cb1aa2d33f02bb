"""Certificates for ``pem-bundle``: parsing, fetching pinned files, rendering a bundle.

The modules here import ``cryptography`` at module level; only the ``pem-bundle``
stage imports them, and only inside ``run()``, so plans stay fast.
"""
