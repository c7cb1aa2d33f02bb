"""Rendering plans, live progress, summaries and review reports."""
