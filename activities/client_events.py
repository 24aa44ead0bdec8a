"""Client events (DOMAIN §5: seminars, exchange meetings, outdoor activities): invitations to a
target segment, and the `client_events` / `event_invitations` read models.

Invitations go out through `NotificationActivities.notify` itself, the one consent-checked path
to a client, one keyset page of the segment per activity so an event for thousands of clients
costs a handful of history events. The rows are then written by a `@projector` from what the
page reported, so they can be rebuilt from the event workflow's history.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict
from sqlalchemy import select
from temporalio import activity

from activities.deps import ActivityDeps
from activities.notifications import NotificationActivities, NotifyRequest
from activities.projection import write_rows
from domain.client import ClientId
from domain.consent import Purpose
from domain.enums import ClientKind, RiskProfile, ServiceStatus, Tier
from domain.text import FreeText
from projections.crypto import FieldCipher
from projections.registry import Write, projector
from projections.tables import client_events, clients, event_invitations

PROJECT_CLIENT_EVENT = "project_client_event"

InvitationStatus = Literal["invited", "suppressed", "attended", "absent"]


class EventKind(StrEnum):
    SEMINAR = "seminar"  # themed seminar: macro outlook, strategy, risk management
    EXCHANGE = "exchange"  # client exchange meeting
    OUTDOOR = "outdoor"  # hiking, golf


class EventSegment(BaseModel):
    """Who is invited: clients matching every non-empty list (empty lists match everyone)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    tiers: list[Tier] = []
    risk_profiles: list[RiskProfile] = []
    kinds: list[ClientKind] = []


class ClientEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    event_id: ClientId
    kind: EventKind
    title: Annotated[str, FreeText(min_length=1, max_length=200)]
    starts_at: AwareDatetime
    segment: EventSegment = EventSegment()


class Invitation(BaseModel):
    client_id: str
    status: InvitationStatus


class InvitePage(BaseModel):
    workflow_id: str
    event: ClientEvent
    after_client_id: str | None
    limit: int


class InvitePageResult(BaseModel):
    invitations: list[Invitation]
    next_after: str | None


class InviteProgress(BaseModel):
    """`invite_page`'s heartbeat: the page's invitations sent so far, in page order."""

    invitations: list[Invitation] = []


class StatusQuery(BaseModel):
    event_id: str
    client_ids: list[str]


class InvitedPage(BaseModel):
    """A keyset page of the event's invitations still in `invited` (the no-shows at close)."""

    event_id: str
    after_client_id: str | None
    limit: int


class EventProjection(BaseModel):
    """Rows of one event workflow step: the event itself (once) and invitation statuses."""

    workflow_id: str
    seq: int
    at: datetime
    event: ClientEvent
    write_event: bool = False
    invitations: list[Invitation] = []


@projector(PROJECT_CLIENT_EVENT, EventProjection)
def client_event_rows(inp: EventProjection, _cipher: FieldCipher) -> list[Write]:
    ev = inp.event
    writes: list[Write] = []
    if inp.write_event:
        row = {
            "event_id": ev.event_id,
            "kind": ev.kind.value,
            "title": ev.title,
            "starts_at": ev.starts_at,
            "segment": ev.segment.model_dump(mode="json"),
            "created_at": inp.at,
        }
        writes.append(Write(client_events, [row], ("event_id",), mode="once"))
    rows = [
        {
            "event_id": ev.event_id,
            "client_id": i.client_id,
            "status": i.status,
            "seq": inp.seq,
            "updated_at": inp.at,
        }
        for i in inp.invitations
    ]
    writes.append(Write(event_invitations, rows, ("event_id", "client_id")))
    return writes


class ClientEventActivities:
    def __init__(self, deps: ActivityDeps, notifier: NotificationActivities) -> None:
        self._deps = deps
        self._notifier = notifier

    @activity.defn(name="invite_page")
    def invite_page(self, req: InvitePage) -> InvitePageResult:
        """Invites one page of the segment's active clients; a retry re-sends nothing, since
        each invitation's notification id is fixed by event and client."""
        seg, c = req.event.segment, clients.c
        query = (
            select(c.client_id)
            .where(c.status == ServiceStatus.ACTIVE.value, c.erased_at.is_(None))
            .order_by(c.client_id)
            .limit(req.limit)
        )
        if seg.tiers:
            query = query.where(c.tier.in_([t.value for t in seg.tiers]))
        if seg.risk_profiles:
            query = query.where(c.risk_profile.in_([p.value for p in seg.risk_profiles]))
        if seg.kinds:
            query = query.where(c.kind.in_([k.value for k in seg.kinds]))
        if req.after_client_id is not None:
            query = query.where(c.client_id > req.after_client_id)
        with self._deps.engine.connect() as conn:
            ids = list(conn.execute(query).scalars())
        # A retried attempt resumes after the invitations its predecessor heartbeated: a
        # throttled gateway must not make every attempt start the page again.
        details = activity.info().heartbeat_details
        progress = InviteProgress.model_validate(details[0]) if details else InviteProgress()
        invitations = list(progress.invitations)
        done = {i.client_id for i in invitations}
        for client_id in ids:
            if client_id in done:
                continue
            result = self._notifier.notify(
                NotifyRequest(
                    notification_id=f"{req.workflow_id}:invite:{client_id}",
                    workflow_id=req.workflow_id,
                    client_id=client_id,
                    purpose=Purpose.EVENTS,
                    template=f"event_invitation_{req.event.kind.value}",
                    params={
                        "event_id": req.event.event_id,
                        "event_kind": req.event.kind.value,
                        "starts_at": req.event.starts_at.isoformat(),
                    },
                )
            )
            status: InvitationStatus = "suppressed" if result.status == "suppressed" else "invited"
            invitations.append(Invitation(client_id=client_id, status=status))
            activity.heartbeat(InviteProgress(invitations=invitations))
        return InvitePageResult(
            invitations=invitations, next_after=ids[-1] if len(ids) == req.limit else None
        )

    @activity.defn(name="invitation_statuses")
    def invitation_statuses(self, req: StatusQuery) -> dict[str, InvitationStatus]:
        """The listed clients' invitation statuses (a client not invited is not in the answer):
        the event workflow keeps counts, not the list of its invitees."""
        t = event_invitations.c
        with self._deps.engine.connect() as conn:
            rows = conn.execute(
                select(t.client_id, t.status).where(
                    t.event_id == req.event_id, t.client_id.in_(req.client_ids)
                )
            ).all()
        return {r.client_id: r.status for r in rows}

    @activity.defn(name="still_invited_page")
    def still_invited_page(self, req: InvitedPage) -> InvitePageResult:
        """A page of invitees never marked attended or absent, as the absentees they become."""
        t = event_invitations.c
        query = (
            select(t.client_id)
            .where(t.event_id == req.event_id, t.status == "invited")
            .order_by(t.client_id)
            .limit(req.limit)
        )
        if req.after_client_id is not None:
            query = query.where(t.client_id > req.after_client_id)
        with self._deps.engine.connect() as conn:
            ids = list(conn.execute(query).scalars())
        return InvitePageResult(
            invitations=[Invitation(client_id=c, status="absent") for c in ids],
            next_after=ids[-1] if len(ids) == req.limit else None,
        )

    @activity.defn(name=PROJECT_CLIENT_EVENT)
    def project_client_event(self, inp: EventProjection) -> int:
        return write_rows(self._deps, client_event_rows(inp, self._deps.cipher))
