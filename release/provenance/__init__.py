"""Pure builders of release metadata documents: SLSA provenance statements and SBOMs.

Nothing here signs, reads credentials or touches the network; the ``attest`` and
``sbom`` stages call these builders and the ``verify`` package reads what they wrote.
"""
