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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from projections.tables import PERSONAL_COLUMNS, clients, complaints

if TYPE_CHECKING:
    from projections.registry import Write


def _subjects(conn: Connection, writes: Sequence[Write]) -> list[list[Any]]:
    """The client each row of each write is about (None for tables with no personal column)."""
    # complaint_events rows name their complaint only: its owner comes from a complaints row
    # in the same batch (the projector writes both), else from the table.
    owners = {
        row["complaint_id"]: row["client_id"]
        for w in writes
        if w.table.name == "complaints"
        for row in w.rows
    }
    wanted = sorted(
        {
            row["complaint_id"]
            for w in writes
            if w.table.name in PERSONAL_COLUMNS and "client_id" not in w.table.c
            for row in w.rows
        }
        - owners.keys()
    )
    if wanted:
        owners |= dict(
            conn.execute(
                select(complaints.c.complaint_id, complaints.c.client_id).where(
                    complaints.c.complaint_id.in_(wanted)
                )
            ).all()
        )
    out: list[list[Any]] = []
    for w in writes:
        if w.table.name not in PERSONAL_COLUMNS:
            out.append([None] * len(w.rows))
        elif "client_id" in w.table.c:
            out.append([row.get("client_id") for row in w.rows])
        else:
            out.append([owners.get(row["complaint_id"]) for row in w.rows])
    return out


def erased_among(conn: Connection, client_ids: Iterable[Any]) -> dict[str, datetime]:
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


def hold_erasures(conn: Connection, writes: Sequence[Write]) -> list[Write]:
    """`writes` with the personal columns of erased clients' rows emptied (and, for their
    `clients` row, the erasure's date and do-not-contact kept): one lookup for the batch."""
    if not any(w.table.name in PERSONAL_COLUMNS and w.rows for w in writes):
        return list(writes)
    subjects = _subjects(conn, writes)
    erased = erased_among(conn, (s for per_write in subjects for s in per_write))
    if not erased:
        return list(writes)
    return [
        _held(w, per_write, erased) if w.table.name in PERSONAL_COLUMNS else w
        for w, per_write in zip(writes, subjects, strict=True)
    ]


def _held(w: Write, subjects: Sequence[Any], erased: Mapping[str, datetime]) -> Write:
    personal = PERSONAL_COLUMNS[w.table.name]
    rows: list[dict[str, Any]] = []
    for row, subject in zip(w.rows, subjects, strict=True):
        if subject not in erased:
            rows.append(dict(row))
            continue
        emptied = {**row, **{c: None for c in personal if c in row}}
        if w.table.name == "clients":
            emptied["erased_at"] = row.get("erased_at") or erased[subject]
            emptied["do_not_contact"] = True
        rows.append(emptied)
    return replace(w, rows=rows)
