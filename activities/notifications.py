"""The one way anything reaches a person: a consent-checked row committed to the outbox.

Delivery is `activities.delivery.Dispatcher`'s, after the commit (a transactional outbox).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Connection, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.deps import ActivityDeps
from domain.consent import Consents, ContactChannel, Purpose
from domain.personal_data import mask_value
from projections.tables import clients, notifications
from projections.writer import insert_once

RecipientKind = Literal["client", "advisor", "handler", "supervisor"]


class NotifyRequest(BaseModel):
    notification_id: str = Field(description="idempotency key: <workflow_id>:<seq>:<purpose>")
    workflow_id: str
    client_id: str | None = None
    recipient_kind: RecipientKind = "client"
    recipient_id: str | None = None
    purpose: Purpose
    template: str
    channel: ContactChannel | None = Field(
        default=None, description="client messages: the preferred channel, if consented"
    )
    params: dict[str, Any] = {}


class NotifyResult(BaseModel):
    """`queued`: committed to the outbox, the dispatcher delivers it (`activities.delivery`);
    `suppressed`: no consent on record for it. (`sent` is what the activity answered while it
    also sent the message; histories of that time keep it.)"""

    status: Literal["queued", "sent", "suppressed"]
    channel: str | None = None
    reason: str | None = None


class NotificationActivities:
    def __init__(self, deps: ActivityDeps, on_queued: Callable[[], None] | None = None) -> None:
        self._deps = deps
        self._on_queued = on_queued

    def _client_consents(self, client_id: str) -> Consents | None:
        with self._deps.engine.connect() as conn:
            row = conn.execute(
                select(clients.c.consents, clients.c.do_not_contact, clients.c.erased_at).where(
                    clients.c.client_id == client_id
                )
            ).first()
        if row is None or row.erased_at is not None:
            return None
        return Consents.model_validate({**row.consents, "do_not_contact": row.do_not_contact})

    def _decide(self, req: NotifyRequest) -> NotifyResult:
        if req.recipient_kind != "client":
            return NotifyResult(status="queued", channel="internal")
        consents = self._client_consents(req.client_id) if req.client_id else None
        if consents is None:
            return NotifyResult(status="suppressed", reason="no client file or consents on record")
        allowed = consents.channels_for(req.purpose)
        if req.channel is not None and req.channel in allowed:
            return NotifyResult(status="queued", channel=req.channel.value)
        if allowed:
            return NotifyResult(status="queued", channel=allowed[0].value)
        reason = "do_not_contact" if consents.do_not_contact else f"no consent for {req.purpose}"
        return NotifyResult(status="suppressed", reason=reason)

    @staticmethod
    def _existing(conn: Connection, notification_id: str) -> NotifyResult | None:
        row = conn.execute(
            select(
                notifications.c.status,
                notifications.c.channel,
                notifications.c.suppressed_reason,
                notifications.c.next_attempt_at,
            ).where(notifications.c.notification_id == notification_id)
        ).first()
        if row is None:
            return None
        # What the outbox decided when the row was committed; its delivery is the row's own
        # business from then on (a later `failed` or `suppressed` is on the row).
        # (A row suppressed when committed was never due: it has no `next_attempt_at`.)
        suppressed = row.status == "suppressed" and row.next_attempt_at is None
        return NotifyResult(
            status="suppressed" if suppressed else "queued",
            channel=None if suppressed else row.channel,  # the outbox stores "none"
            reason=row.suppressed_reason if suppressed else None,
        )

    @activity.defn(name="notify")
    def notify(self, req: NotifyRequest) -> NotifyResult:
        """Commits the message to the outbox and returns: delivery is the dispatcher's, so no
        workflow ever waits for a gateway. Idempotent on `notification_id`: a retry finds the
        row and answers what it recorded."""
        personal = sorted(k for k, v in req.params.items() if mask_value(k, v) != v)
        if personal:
            # The outbox is not encrypted; names the keys only, never the values.
            raise ApplicationError(
                f"notification params must not carry personal data (keys: {', '.join(personal)})",
                type="PersonalDataInParams",
                non_retryable=True,
            )
        with self._deps.engine.begin() as conn:
            existing = self._existing(conn, req.notification_id)
            if existing is not None:
                return existing
            result = self._decide(req)
            now = datetime.now(UTC)
            queued = result.status == "queued"
            inserted = insert_once(
                conn,
                notifications,
                [
                    {
                        "notification_id": req.notification_id,
                        "workflow_id": req.workflow_id,
                        "client_id": req.client_id,
                        "recipient_kind": req.recipient_kind,
                        "recipient_id": req.recipient_id,
                        "channel": result.channel or "none",
                        "purpose": req.purpose.value,
                        "template": req.template,
                        "status": "queued" if queued else "suppressed",
                        "suppressed_reason": result.reason,
                        "params": req.params,
                        "created_at": now,
                        "updated_at": now,
                        "next_attempt_at": now if queued else None,
                    }
                ],
                ("notification_id",),
            )
            if not inserted:
                # A concurrent attempt (a retry after a timeout) committed the row first.
                return self._existing(conn, req.notification_id) or result
        if queued and self._on_queued is not None:
            self._on_queued()
        return result
