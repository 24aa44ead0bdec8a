"""An erased client stays erased: the projection writer never fills a personal column of theirs.

Workflows carry a client's personal data in their state and projection inputs (an open
complaint re-sends its intake with every event, a timer fires with nobody acting), and
`auditor.py rebuild-projections` replays inputs recorded before the erasure. Rather than trust
every caller to drop it, `apply_writes` passes each batch through `hold_erasures`, which empties
the personal columns (`tables.PERSONAL_COLUMNS`) of rows whose client's `clients.erased_at` is
set, in the write's own transaction.

Ordering against a concurrent erasure: the erasure takes the client's row `FOR UPDATE` before it
empties anything; the writer takes it `FOR KEY SHARE` before it writes. So either the erasure
waits for the write and then empties what it wrote, or the write waits for the erasure and then
sees `erased_at` (READ COMMITTED: the locking read returns the committed row). A row whose
client has no `clients` row cannot have been erased (the erasure refuses unknown clients).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, select

from projections.tables import PERSONAL_COLUMNS, clients, complaints


def _subjects(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
    """The client each row is about."""
    if "client_id" in table.c:
        return [row.get("client_id") for row in rows]
    # complaint_events: its complaint's row is written first, in the same transaction.
    ids = sorted({row["complaint_id"] for row in rows})
    owners = dict(
        conn.execute(
            select(complaints.c.complaint_id, complaints.c.client_id).where(
                complaints.c.complaint_id.in_(ids)
            )
        ).all()
    )
    return [owners.get(row["complaint_id"]) for row in rows]


def erased_among(conn: Connection, client_ids: Sequence[Any]) -> dict[str, datetime]:
    """The erased clients among `client_ids`, locking their rows against an erasure in flight."""
    wanted = sorted({c for c in client_ids if c is not None})
    if not wanted:
        return {}
    found = conn.execute(
        select(clients.c.client_id, clients.c.erased_at)
        .where(clients.c.client_id.in_(wanted))
        .order_by(clients.c.client_id)
        .with_for_update(key_share=True)
    ).all()
    return {client_id: at for client_id, at in found if at is not None}


def hold_erasures(
    conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]
) -> Sequence[Mapping[str, Any]]:
    """`rows` with the personal columns of erased clients emptied (and, for their `clients`
    row, the erasure's date and do-not-contact kept)."""
    personal = PERSONAL_COLUMNS.get(table.name)
    if not personal or not rows:
        return rows
    subjects = _subjects(conn, table, rows)
    erased = erased_among(conn, subjects)
    if not erased:
        return rows
    held: list[Mapping[str, Any]] = []
    for row, subject in zip(rows, subjects, strict=True):
        if subject not in erased:
            held.append(row)
            continue
        emptied = {**row, **{c: None for c in personal if c in row}}
        if table.name == "clients":
            emptied["erased_at"] = row.get("erased_at") or erased[subject]
            emptied["do_not_contact"] = True
        held.append(emptied)
    return held
