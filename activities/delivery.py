"""Delivery of the outbox: a dispatcher that sends each committed `notifications` row once.

The `notify` activity only commits the row (template id, non-personal parameters, the channel
chosen then); nothing is sent inside a transaction or inside a workflow's activity. Every worker
runs a `Dispatcher` that claims due rows (`FOR UPDATE SKIP LOCKED`, so two workers never claim
the same row), and for each:

1. checks again, at send time, what the client allows: a consent withdrawn, a do-not-contact or
   an erasure since the row was queued stops the message (`suppressed`, with the reason);
2. keeps the firm's contact window (`service.contact_window_*`, local time) for everything but
   complaint correspondence and staff notices: a message due at night waits for the morning,
   except a greeting whose day would be over by then, which is dropped (`domain.greetings`: a
   day late is worse than none);
3. renders the message in the client's language from the templates, filling in the name, the
   complaint's measures or the extension's reason read and decrypted from the read models now;
4. sends it with `notification_id` as the gateway's idempotency key, and records the outcome on
   the row: `sent`; or, for a failure worth retrying, `queued` again after a backoff that doubles
   from `first_backoff` up to `max_backoff`; after `max_attempts`, or at once for a final
   refusal, `failed` with the error's class and status in `last_error` (never its text).

A dispatcher that dies mid-send leaves its claim to lapse (`claim_for`); the row is then claimed
again and sent with the same idempotency key, which the gateway answers without a second SMS.
Why a dispatcher and not an activity per message: see README, "Messages and delivery".
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import Row, and_, or_, select, update

from activities.channels import Channel, DeliveryError, Outgoing, channels_from
from activities.complaints import sealing_context
from activities.deps import ActivityDeps
from activities.messages import (
    DEFAULT_LANGUAGE,
    VARIABLES,
    MessageCatalogue,
    holiday_template,
    templates_for,
)
from domain.consent import Consents, ContactChannel, Purpose
from domain.localtime import local_date, to_utc
from domain.policy import Policy
from infra.logging import get_logger
from infra.settings import Settings
from projections.tables import client_events, clients, complaint_events, complaints, notifications

log = get_logger("delivery")

# Reach clients only within the contact window; complaint correspondence runs on legal deadlines.
WINDOWED = frozenset({Purpose.CARE.value, Purpose.EVENTS.value, Purpose.SERVICE.value})


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 10
    first_backoff: timedelta = timedelta(seconds=10)
    max_backoff: timedelta = timedelta(minutes=10)
    claim_for: timedelta = timedelta(minutes=2)

    def backoff(self, attempts: int) -> timedelta:
        doubled: timedelta = self.first_backoff * (2 ** max(attempts - 1, 0))
        return min(doubled, self.max_backoff)


class Suppressed(Exception):
    """The message must not go out (consent, erasure, no address): final, not an error."""


def contact_window_opens(now: datetime, policy: Policy) -> datetime | None:
    """None when `now` is inside the firm's contact window; else when it next opens (UTC)."""
    zone, svc = policy.zone(), policy.service
    local = now.astimezone(zone)
    if svc.contact_window_start <= local.hour < svc.contact_window_end:
        return None
    day = local_date(now, zone)
    if local.hour >= svc.contact_window_end:
        day += timedelta(days=1)
    return to_utc(day, time(hour=svc.contact_window_start), zone)


def _local(value: str | None, policy: Policy, *, last_day: bool = False) -> str | None:
    """An instant as the firm writes it: a date, or a date and time. A deadline at local
    midnight is shown as the day it ends (the period runs to 24:00 of its last day)."""
    if not value:
        return None
    at = datetime.fromisoformat(value).astimezone(policy.zone())
    if at.time() == time() and last_day:
        return (at - timedelta(days=1)).date().isoformat()
    return at.strftime("%Y-%m-%d %H:%M") if at.time() != time() else at.date().isoformat()


class Dispatcher:
    def __init__(
        self,
        deps: ActivityDeps,
        channels: Mapping[str, Channel],
        catalogue: MessageCatalogue,
        policy: Policy,
        *,
        retry: RetryPolicy | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        batch: int = 20,
        concurrency: int = 8,
    ) -> None:
        self._deps, self._channels, self._catalogue = deps, channels, catalogue
        self._policy, self._retry, self._clock, self._batch = (
            policy,
            retry or RetryPolicy(),
            clock,
            batch,
        )
        self.wake = threading.Event()
        # A batch's rows are independent: sent side by side, so a slow gateway answer does not
        # hold up the others (a 100,000-client invitation goes out at several per second).
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="delivery")

    # -- the loop ---------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, poll_interval: float = 1.0) -> None:
        """Delivers until `stop` is set (then finishes the batch in hand and closes); a database
        outage is logged and waited out."""
        try:
            await self._loop(stop, poll_interval)
        finally:
            self.close()

    async def _loop(self, stop: asyncio.Event, poll_interval: float) -> None:
        while not stop.is_set():
            try:
                handled = await asyncio.to_thread(self.deliver_due)
            except Exception as exc:  # the loop must outlive a database outage
                log.warning("delivery round failed", error=type(exc).__name__)
                handled = 0
            if handled == 0:
                # Woken by a newly queued message, or polls (a retry's backoff ran out).
                await asyncio.to_thread(self.wake.wait, poll_interval)
                self.wake.clear()

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def notify_queued(self) -> None:
        self.wake.set()

    def deliver_due(self) -> int:
        """Claims and delivers one batch of due rows; returns how many it handled."""
        rows = self._claim()
        list(self._pool.map(self._deliver, rows))
        return len(rows)

    def _claim(self) -> list[Row[Any]]:
        now = self._clock()
        n = notifications.c
        due = (
            select(n.notification_id)
            .where(
                or_(
                    and_(n.status == "queued", n.next_attempt_at <= now),
                    and_(n.status == "sending", n.claimed_until < now),
                )
            )
            .order_by(n.next_attempt_at)
            .limit(self._batch)
            .with_for_update(skip_locked=True)
        )
        claim = now + self._retry.claim_for
        with self._deps.engine.begin() as conn:
            return list(
                conn.execute(
                    update(notifications)
                    .where(n.notification_id.in_(due.scalar_subquery()))
                    .values(
                        status="sending",
                        claimed_until=claim,
                        attempts=n.attempts + 1,
                        updated_at=now,
                    )
                    .returning(*notifications.c)
                )
            )

    # -- one message ------------------------------------------------------------------------------

    def _deliver(self, row: Row[Any]) -> None:
        now = self._clock()
        try:
            if row.recipient_kind == "client" and row.purpose in WINDOWED:
                opens = contact_window_opens(now, self._policy)
                zone = self._policy.zone()
                if opens is not None and row.purpose == Purpose.CARE.value:
                    if local_date(opens, zone) > local_date(row.created_at, zone):
                        # As the calendar has it (domain.greetings): a day late, none at all.
                        raise Suppressed("greeting past its day")
                if opens is not None:
                    self._settle(
                        row, status="queued", next_attempt_at=opens, attempts=row.attempts - 1
                    )
                    return
            outgoing = self._compose(row)
            self._channels[row.channel].send(outgoing)
        except Suppressed as why:
            self._settle(row, status="suppressed", suppressed_reason=str(why))
            log.info("notification suppressed", template=row.template, channel=row.channel)
            return
        except DeliveryError as exc:
            self._failed(row, exc.code, exc.retryable, now)
            return
        except Exception as exc:  # a template or read-model fault: recorded, tried again
            self._failed(row, type(exc).__name__, True, now)
            return
        self._settle(row, status="sent", sent_at=self._clock(), last_error=None)

    def _failed(self, row: Row[Any], code: str, retryable: bool, now: datetime) -> None:
        if retryable and row.attempts < self._retry.max_attempts:
            self._settle(
                row,
                status="queued",
                next_attempt_at=now + self._retry.backoff(row.attempts),
                last_error=code,
            )
        else:
            self._settle(row, status="failed", last_error=code)
            log.warning(
                "notification failed", template=row.template, channel=row.channel, error=code
            )

    def _settle(self, row: Row[Any], **values: Any) -> None:
        """Records the outcome, unless this claim lapsed and another dispatcher took the row."""
        n = notifications.c
        with self._deps.engine.begin() as conn:
            conn.execute(
                update(notifications)
                .where(
                    n.notification_id == row.notification_id,
                    n.status == "sending",
                    n.claimed_until == row.claimed_until,
                )
                .values(claimed_until=None, updated_at=self._clock(), **values)
            )

    def _compose(self, row: Row[Any]) -> Outgoing:
        params: dict[str, Any] = dict(row.params or {})
        language, to = DEFAULT_LANGUAGE, None
        values: dict[str, Any] = {}
        if row.recipient_kind == "client":
            language, to, values = self._client_side(row)
        else:
            to = row.recipient_id
            values = {"recipient_id": row.recipient_id}
        template = row.template
        if template == "holiday_greeting":
            _, holiday, _year = str(params.get("occasion", "::")).split(":", 2)
            template = holiday_template(holiday)
        values |= self._values(row, params)
        # Each template is checked at start to use only its message's variables (all given).
        values = dict.fromkeys(VARIABLES.get(template, VARIABLES["holiday_greeting"])) | values
        rendered = self._catalogue.render(template, language, values)
        return Outgoing(
            notification_id=row.notification_id,
            template=template,
            channel=row.channel,
            to=to,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            language=language,
        )

    def _client_side(self, row: Row[Any]) -> tuple[str, str | None, dict[str, Any]]:
        """The consent check at send time, the language, the address and the name."""
        c = clients.c
        with self._deps.engine.connect() as conn:
            client = conn.execute(
                select(c.consents, c.do_not_contact, c.erased_at, c.language, c.profile_enc).where(
                    c.client_id == row.client_id
                )
            ).first()
            complainant = None
            if row.purpose == Purpose.COMPLAINT.value:
                complainant = conn.execute(
                    select(complaints.c.complaint_id, complaints.c.complainant_enc).where(
                        complaints.c.workflow_id == row.workflow_id
                    )
                ).first()
        if client is None or client.erased_at is not None:
            raise Suppressed("no client file on record")
        consents = Consents.model_validate(
            {**client.consents, "do_not_contact": client.do_not_contact}
        )
        channel = ContactChannel(row.channel)
        if not consents.allows(channel, Purpose(row.purpose)):
            raise Suppressed("consent withdrawn")
        cipher = self._deps.cipher
        profile = cipher.reveal(
            cipher.open(
                client.profile_enc,
                context=sealing_context("clients", "profile_enc", row.client_id),
            )
            or {}
        )
        basic = profile.get("basic", {})
        contact = {
            "name": basic.get("name"),
            "phone": basic.get("phone"),
            "email": basic.get("email"),
        }
        if complainant is not None and complainant.complainant_enc is not None:
            # The complaint is answered to whoever made it (a representative or an heir too).
            ctx = sealing_context("complaints", "complainant_enc", complainant.complaint_id)
            person = cipher.reveal(cipher.open(complainant.complainant_enc, context=ctx))
            contact = {k: person.get(k) or contact[k] for k in contact}
        to = {"sms": contact["phone"], "email": contact["email"]}.get(row.channel)
        if row.channel in ("sms", "email") and not to:
            raise Suppressed(f"no {row.channel} address on file")
        return client.language or DEFAULT_LANGUAGE, to, {"name": contact["name"]}

    def _values(self, row: Row[Any], params: dict[str, Any]) -> dict[str, Any]:
        """Every variable a template may use, from the row's parameters and the read models."""
        p = self._policy
        values: dict[str, Any] = {
            k: params.get(k)
            for k in (
                "complaint_id",
                "event",
                "stage",
                "severity",
                "outcome",
                "task_id",
                "advisor_id",
            )
        }
        values["deadline"] = _local(params.get("sla_deadline"), p, last_day=True)
        values["due_at"] = _local(params.get("due_at"), p)
        values["tier"] = params.get("tier")
        values |= {k: params.get(k) for k in ("request_id", "request_kind", "rejection", "hold")}
        values["restricted_until"] = _local(params.get("restricted_until"), p, last_day=True)
        values["client_id"] = row.client_id
        occasion = str(params.get("occasion", ""))
        parts = occasion.split(":")
        values["year"] = parts[-1] if len(parts) > 1 else None
        values["holiday"] = parts[1] if len(parts) == 3 else None
        values |= {"reason": None, "measures": None, "owner": None, "due": None}
        if row.template in ("complaint_extended", "complaint_resolution"):
            values |= self._complaint_event(
                row, "extended" if "extended" in row.template else "resolved"
            )
        values |= {"event_id": params.get("event_id"), "event_title": None}
        values["starts_at"] = _local(params.get("starts_at"), p)
        if params.get("event_id"):
            with self._deps.engine.connect() as conn:
                values["event_title"] = conn.execute(
                    select(client_events.c.title).where(
                        client_events.c.event_id == params["event_id"]
                    )
                ).scalar()
        return values

    def _complaint_event(self, row: Row[Any], kind: str) -> dict[str, Any]:
        """The decision's measures or the extension's reason, decrypted from the event that
        queued the message (its seq is the notification id's second part)."""
        seq = int(row.notification_id.rsplit(":", 3)[1])  # <workflow_id>:<seq>:<template>:<to>
        e = complaint_events.c
        with self._deps.engine.connect() as conn:
            event = conn.execute(
                select(e.seq, e.data, e.detail_enc)
                .where(e.workflow_id == row.workflow_id, e.kind == kind, e.seq <= seq)
                .order_by(e.seq.desc())
                .limit(1)
            ).first()
        if event is None:
            raise LookupError("the complaint event is not in the read model yet")
        detail: dict[str, Any] = {}
        if event.detail_enc is not None:
            ctx = sealing_context("complaint_events", "detail_enc", row.workflow_id, event.seq)
            # the text is sealed under the client's key inside the ring's seal: opened for the
            # message (an erased client is sent nothing, see `_client_side`)
            detail = self._deps.cipher.reveal(
                self._deps.cipher.open(event.detail_enc, context=ctx) or {}
            )
        data = event.data or {}
        return {
            "reason": detail.get("reason"),
            "measures": detail.get("measures"),
            "owner": data.get("owner"),
            "due": data.get("due"),
        }


def checked_catalogue(settings: Settings, policy: Policy) -> MessageCatalogue:
    """The templates, validated against every message the policy can make the workflows send;
    raises `TemplateError` naming what is missing (the worker then refuses to start)."""
    catalogue = MessageCatalogue(settings.client_care_templates)
    catalogue.validate(templates_for(policy))
    return catalogue


def build_dispatcher(
    settings: Settings, deps: ActivityDeps, catalogue: MessageCatalogue, policy: Policy
) -> Dispatcher:
    retry = RetryPolicy(
        max_attempts=settings.delivery_max_attempts,
        first_backoff=timedelta(seconds=settings.delivery_first_backoff),
        max_backoff=timedelta(seconds=settings.delivery_max_backoff),
    )
    return Dispatcher(deps, channels_from(settings), catalogue, policy, retry=retry)
