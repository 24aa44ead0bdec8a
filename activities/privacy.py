"""PIPL deletion: a client's personal data leaves the read models; the audit facts stay.

Destroyed: the client's data key (`projections.subject_keys`), which every sealed personal field
of theirs in the workflow histories, exports and read models was sealed under, so those copies
read `[erased]` from now on, wherever they are kept.

Removed: everything sealed or blind-indexed about the person - the client file (`profile_enc`,
`name_enc`), the lookup hashes, the birthday, complaint content and complainant details, the
free text of complaint events and callback outcomes. Kept: ids, stages, dates, tiers and tier
changes, figures, consents on record, notifications sent (their params never hold personal
data) - what supervisors and KPIs need, none of which identifies the person without the file.

What this cannot reach is documented in docs/security.md: database backups taken before the
erasure (they hold the wrapped key, which the ring opens), dead row versions until VACUUM, and
what histories recorded before sealing hold in plaintext (encrypted under the ring only). The
client workflow must drop the data from its own state too, or its next projection would write
it back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, or_, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.deps import ActivityDeps
from domain.identifiers import ClientId, Ref
from domain.text import FreeText
from projections.access import AccessAction, record_access
from projections.subject_keys import destroy_key
from projections.tables import access_log, clients, complaint_events, complaints, service_tasks

ErasureReason = Annotated[str, FreeText(min_length=1, max_length=120)]
"""The deletion request's reference: one line, no personal data."""


class EraseRequest(BaseModel):
    model_config = ConfigDict(frozen=True, str_strip_whitespace=True)

    client_id: ClientId
    requested_by: Ref = Field(description="staff id, not a name")
    reason: ErasureReason = Field(description="e.g. the request's reference; no personal data")


class EraseResult(BaseModel):
    client_id: str
    erased_at: datetime
    already_erased: bool = Field(description="nothing personal was left to remove")
    complaints: int = 0
    complaint_events: int = 0
    service_tasks: int = 0
    key_destroyed: bool = Field(
        default=False, description="the client's data key was destroyed by this erasure"
    )


class UnknownClientError(LookupError):
    pass


_CLIENT_PERSONAL = ("profile_enc", "name_enc", "phone_hash", "email_hash", "id_number_hash")


def erase_personal_data(engine: Engine, req: EraseRequest) -> EraseResult:
    """One transaction, idempotent: a repeat finds nothing left and records nothing new."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        # The row lock orders this against a projection write for the same client.
        row = conn.execute(
            select(clients.c.erased_at, *(clients.c[c] for c in _CLIENT_PERSONAL))
            .where(clients.c.client_id == req.client_id)
            .with_for_update()
        ).first()
        if row is None:
            raise UnknownClientError(f"no client {req.client_id!r} in the read models")
        had_personal = any(getattr(row, c) is not None for c in _CLIENT_PERSONAL)
        erased_at = row.erased_at or now
        conn.execute(
            clients.update()
            .where(clients.c.client_id == req.client_id)
            .values(
                **dict.fromkeys(_CLIENT_PERSONAL),
                birth_month_day=None,
                do_not_contact=True,
                erased_at=erased_at,
                updated_at=now,
            )
        )
        client_complaints = select(complaints.c.complaint_id).where(
            complaints.c.client_id == req.client_id
        )
        n_complaints = conn.execute(
            complaints.update()
            .where(complaints.c.client_id == req.client_id)
            .where(
                or_(
                    complaints.c.content_enc.is_not(None), complaints.c.complainant_enc.is_not(None)
                )
            )
            .values(content_enc=None, complainant_enc=None, updated_at=now)
        ).rowcount
        n_events = conn.execute(
            complaint_events.update()
            .where(complaint_events.c.complaint_id.in_(client_complaints.scalar_subquery()))
            .where(complaint_events.c.detail_enc.is_not(None))
            .values(detail_enc=None)
        ).rowcount
        n_tasks = conn.execute(
            service_tasks.update()
            .where(service_tasks.c.client_id == req.client_id)
            .where(service_tasks.c.outcome_enc.is_not(None))
            .values(outcome_enc=None, updated_at=now)
        ).rowcount
        # Crypto-shredding: the client's data key goes, and with it every copy of their sealed
        # fields in histories, exports and backups of the read models taken from now on.
        key_destroyed = destroy_key(conn, req.client_id)
        removed = had_personal or n_complaints or n_events or n_tasks or key_destroyed
        # The client workflow empties its own row first, so "already erased" is what the access
        # log says: every erasure is recorded once, repeats that find nothing are not.
        recorded = conn.execute(
            select(access_log.c.id)
            .where(access_log.c.client_id == req.client_id)
            .where(access_log.c.action == AccessAction.ERASE)
            .limit(1)
        ).first()
        already = recorded is not None and not removed
        if not already:
            record_access(
                conn,
                actor=req.requested_by,
                action=AccessAction.ERASE,
                client_id=req.client_id,
                purpose=f"PIPL erasure: {req.reason}",
            )
    return EraseResult(
        client_id=req.client_id,
        erased_at=erased_at,
        already_erased=already,
        complaints=n_complaints,
        complaint_events=n_events,
        service_tasks=n_tasks,
        key_destroyed=key_destroyed,
    )


class PrivacyActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self._deps = deps

    @activity.defn(name="erase_client_personal_data")
    def erase_client_personal_data(self, req: EraseRequest) -> EraseResult:
        try:
            return erase_personal_data(self._deps.engine, req)
        except UnknownClientError as err:
            raise ApplicationError(str(err), type="UnknownClient", non_retryable=True) from None
