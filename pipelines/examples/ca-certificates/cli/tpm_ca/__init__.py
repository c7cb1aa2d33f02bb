"""tpm-ca: list and check the certificates of a CA bundle (the example's CLI)."""

__version__ = "1.0.0"
