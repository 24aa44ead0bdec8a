"""The outbox, for staff: what was sent to whom (ids only), what is waiting and what failed.

    notification list {optional "client_id", "complaint_id", "workflow_id",
                       "status": "queued|sending|sent|suppressed|failed", "limit" (1-1000, 100)}

Each row is an outbox row as the dispatcher (activities.delivery) leaves it: `status`,
`attempts`, `next_attempt_at`, `last_error` (an error class and status, never a message text or
an address) or `suppressed_reason`. The rows hold template ids and non-personal parameters only,
so the listing shows no personal data. Newest first. Needs PostgreSQL, not Temporal.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Engine, select

from commands.base import Command, CommandContext, CommandError, engine_for
from domain.identifiers import ClientId, Ref
from domain.refusals import field_problems
from projections.tables import notifications

Status = Literal["queued", "sending", "sent", "suppressed", "failed"]
_SHOWN = (
    "notification_id", "workflow_id", "client_id", "recipient_kind", "recipient_id", "channel",
    "purpose", "template", "status", "attempts", "next_attempt_at", "last_error",
    "suppressed_reason", "created_at", "sent_at",
)  # fmt: skip


class OutboxFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: ClientId | None = None
    complaint_id: Ref | None = None
    workflow_id: Ref | None = None
    status: Status | None = None
    limit: int = Field(default=100, ge=1, le=1000)


def list_outbox(engine: Engine, flt: OutboxFilter) -> list[dict[str, Any]]:
    n = notifications.c
    query = select(*(n[c] for c in _SHOWN)).order_by(n.created_at.desc(), n.notification_id)
    if flt.client_id:
        query = query.where(n.client_id == flt.client_id)
    if flt.complaint_id:
        query = query.where(n.workflow_id == f"complaint-{flt.complaint_id}")
    if flt.workflow_id:
        query = query.where(n.workflow_id == flt.workflow_id)
    if flt.status:
        query = query.where(n.status == flt.status)
    with engine.connect() as conn:
        rows = conn.execute(query.limit(flt.limit)).mappings()
        return [
            {k: v.isoformat() if isinstance(v, datetime) else v for k, v in r.items()} for r in rows
        ]


async def list_(ctx: CommandContext, _id: str | None, body: dict[str, Any]) -> dict[str, Any]:
    try:
        flt = OutboxFilter.model_validate(body)
    except ValidationError as exc:
        raise CommandError(f"invalid filter: {field_problems(exc)}", "invalid") from exc
    rows = await asyncio.to_thread(list_outbox, engine_for(ctx), flt)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return {"notifications": rows, "counts": counts}


COMMANDS: dict[str, Command] = {"list": list_}
