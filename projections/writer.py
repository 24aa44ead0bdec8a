"""Idempotent, ordered upserts: the one way projection rows are written."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects.postgresql import insert


def upsert_newer(
    conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], key: Sequence[str]
) -> int:
    """Insert rows, or update an existing row only when the incoming `seq` is newer.

    Retries and duplicates carry the same seq and change nothing; a late, older event never
    overwrites newer state. Returns how many rows were written.
    """
    if not rows:
        return 0
    stmt = insert(table)
    updates = {c: stmt.excluded[c] for c in rows[0] if c not in key}
    stmt = stmt.on_conflict_do_update(
        index_elements=list(key), set_=updates, where=table.c.seq < stmt.excluded.seq
    )
    return _many(conn, stmt, rows)


def insert_once(
    conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], key: Sequence[str]
) -> int:
    """Append-only facts (events, tier changes): the first write wins, repeats are no-ops."""
    if not rows:
        return 0
    return _many(conn, insert(table).on_conflict_do_nothing(index_elements=list(key)), rows)


def _many(conn: Connection, stmt: Any, rows: Sequence[Mapping[str, Any]]) -> int:
    """Rows as executemany parameters, not literal VALUES: the statement then has one shape
    whatever the row count, so SQLAlchemy compiles it once and caches it."""
    return conn.execute(stmt, list(rows), execution_options={"preserve_rowcount": True}).rowcount
