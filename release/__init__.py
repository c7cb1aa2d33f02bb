"""A secure release pipeline orchestrator: hermetic builds, least privilege, verifiable releases."""

__version__ = "0.1.0"
