"""Foundations every other part uses: errors, files, the typed config, spans and provenance (no torch)."""
