"""Fixtures the attacks share: the publishing fixtures (the warehouse-like index, the GitHub
OIDC endpoint, running the pypi stage) and the local Sigstore stack."""

from __future__ import annotations

from tests.oci.conftest import registry  # noqa: F401
from tests.pypi.conftest import github_oidc, run_pypi, warehouse  # noqa: F401
from tests.signing.conftest import make_key  # noqa: F401
from tests.sigstore_stack import sigstore_stack  # noqa: F401
