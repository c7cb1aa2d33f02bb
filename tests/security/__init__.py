"""Adversarial tests: a hostile build, a tampered hand-off or approval, a hostile release folder."""
