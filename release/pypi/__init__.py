"""Publishing to a Python package index: trusted publishing, PEP 740 attestations, upload.

The modules, in the order a publish uses them:

- :mod:`release.pypi.urls`: the index's endpoints, https only (http for loopback tests);
- :mod:`release.pypi.transport`: the HTTP client: timeouts, no redirects, the token only
  for the host it belongs to;
- :mod:`release.pypi.distmeta`: a distribution's core metadata, the upload form fields and
  the preflight checks (what ``twine check`` checks, and more);
- :mod:`release.pypi.trusted`: PyPI's trusted publishing exchange (GitHub OIDC -> a
  short-lived API token held in memory only);
- :mod:`release.pypi.attestations`: PEP 740 attestations, built and checked with
  ``pypi-attestations``;
- :mod:`release.pypi.upload`: the legacy upload API, streaming, with retries;
- :mod:`release.pypi.index`: reading back what the index serves (simple API, integrity API).

Heavy libraries (httpx, sigstore, pypi-attestations, readme-renderer) are imported inside
functions, so plans and ``release --help`` stay fast.
"""

from __future__ import annotations

#: The artifact kinds a publish takes, and the ``filetype`` form value of each.
FILETYPES = {"sdist": "sdist", "wheel": "bdist_wheel"}
#: Suffix of a PEP 740 publish attestation written beside the stage's outputs.
PUBLISH_SUFFIX = ".publish.attestation"
#: Suffix of the SLSA provenance attestation (``provenance: true``).
PROVENANCE_SUFFIX = ".slsa.attestation"
#: Artifact kind of an attestation file.
KIND_PEP740 = "pep740-attestation"
