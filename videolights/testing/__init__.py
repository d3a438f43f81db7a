"""Helpers for tests and fixtures: tiny offline models and media, parity harnesses. Not needed to use the package."""
