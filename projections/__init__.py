"""PostgreSQL read models derived from the workflow histories (always rebuildable from them)."""
