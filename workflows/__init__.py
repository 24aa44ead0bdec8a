"""Deterministic Temporal workflows; they import only `domain` and activity stubs."""
