"""What answering a data-subject request does outside its workflow (PIPL Art. 44-47).

- An access request's copy: everything the read models hold about the client, decrypted,
  gathered into one JSON document and sealed with the field cipher (bound to the request id),
  written to `<copies dir>/<request id>.sealed`. A file, not an outbox attachment: the outbox is
  plain text by design and its channels (SMS) carry no files; staff hand the sealed file over
  through the firm's secure channel, and anyone holding the key ring can open it
  (`open_copy`). The read is recorded in the access log once per request.
- A correction: the client workflow's own `update_profile` update, so the change is validated,
  recorded and projected exactly as any other profile change.
- A deletion: the client workflow's own `erase_personal_data` update (whatever that path
  checks first - a legal hold - it checks for this request too), or the read models directly
  when the client's workflow has already ended, as `client erase` does; then the client's open
  complaints are told to forget the person.

Activities cannot import the workflows, so the client workflow's updates and the complaint's
signal are called by name with plain JSON bodies (the models' field names are the contract).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, JsonValue
from sqlalchemy import Engine, select
from temporalio import activity
from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.complaints import sealing_context
from activities.deps import ActivityDeps
from activities.privacy import EraseRequest, UnknownClientError, erase_personal_data
from domain.identifiers import ClientId, Ref
from domain.subject_request import SealedCopy
from infra.settings import DATA_DIR
from projections.access import record_access
from projections.crypto import FieldCipher
from projections.tables import access_log, clients, complaints, service_tasks, tier_changes

COPIES_DIR = DATA_DIR / "subject-copies"
SUBJECT_COPY = "subject-copy"
"""The access-log action of an access request's copy."""


def copy_context(request_id: str) -> str:
    return f"subject-copy:{request_id}"


class CopyRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    request_id: Ref
    client_id: ClientId
    requested_by: Ref


class CorrectionRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    request_id: Ref
    client_id: ClientId
    requested_by: Ref
    correction: dict[str, JsonValue]
    """A `ProfileUpdate` body (basic and/or financial), as the client workflow takes it."""


class SubjectErasure(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    request_id: Ref
    client_id: ClientId
    requested_by: Ref
    holds: bool = False
    """The policy sets retention holds: a client whose service has ended is then not erased in
    the read models here (that would skip the hold); `client erase` keeps the hold for it."""


class SubjectErasureResult(BaseModel):
    via: str  # "workflow" or "read models"
    complaints_told: int
    restricted_until: datetime | None = None
    """Under a retention hold: restricted (stored only) until then, shredded when it ends."""
    hold: str | None = None


def _iso(value: Any) -> Any:
    return value.isoformat() if value is not None and hasattr(value, "isoformat") else value


def gather(engine: Engine, cipher: FieldCipher, client_id: str) -> dict[str, Any]:
    """The client's data as the read models hold it, decrypted: the file, complaints, service
    tasks with what the client told the advisor, and the tier changes with their figures."""
    with engine.connect() as conn:
        row = conn.execute(select(clients).where(clients.c.client_id == client_id)).first()
        if row is None:
            raise UnknownClientError(f"no client {client_id!r} in the read models")
        complaint_rows = conn.execute(
            select(complaints)
            .where(complaints.c.client_id == client_id)
            .order_by(complaints.c.received_at, complaints.c.complaint_id)
        ).all()
        task_rows = conn.execute(
            select(service_tasks)
            .where(service_tasks.c.client_id == client_id)
            .order_by(service_tasks.c.due_at, service_tasks.c.task_id)
        ).all()
        tier_rows = conn.execute(
            select(tier_changes)
            .where(tier_changes.c.client_id == client_id)
            .order_by(tier_changes.c.at, tier_changes.c.review_id)
        ).all()
    profile = (
        cipher.open(row.profile_enc, context=sealing_context("clients", "profile_enc", client_id))
        if row.profile_enc
        else None
    )
    own = {
        "client_id": client_id,
        "kind": row.kind,
        "tier": row.tier,
        "risk_profile": row.risk_profile,
        "risk_level": row.risk_level,
        "risk_assessed_at": _iso(row.risk_assessed_at),
        "advisor_id": row.advisor_id,
        "status": row.status,
        "consents": row.consents,
        "do_not_contact": row.do_not_contact,
        "language": row.language,
        "onboarded_at": _iso(row.onboarded_at),
        "erased_at": _iso(row.erased_at),
        "file": profile,
    }
    complaint_list = []
    for c in complaint_rows:
        cid = c.complaint_id
        complaint_list.append(
            {
                "complaint_id": cid,
                "channel": c.channel,
                "stage": c.stage,
                "category": c.category,
                "received_at": _iso(c.received_at),
                "closed_at": _iso(c.closed_at),
                "outcome": c.outcome,
                "content": cipher.open(
                    c.content_enc, context=sealing_context("complaints", "content_enc", cid)
                )
                if c.content_enc
                else None,
                "complainant": cipher.open(
                    c.complainant_enc,
                    context=sealing_context("complaints", "complainant_enc", cid),
                )
                if c.complainant_enc
                else None,
            }
        )
    tasks = [
        {
            "task_id": t.task_id,
            "kind": t.kind,
            "due_at": _iso(t.due_at),
            "status": t.status,
            "completed_at": _iso(t.completed_at),
            "outcome": t.outcome,
            "notes": cipher.open(
                t.outcome_enc, context=sealing_context("service_tasks", "outcome_enc", t.task_id)
            )
            if t.outcome_enc
            else None,
        }
        for t in task_rows
    ]
    tiers = [
        {
            "review_id": t.review_id,
            "old_tier": t.old_tier,
            "new_tier": t.new_tier,
            "reason": t.reason,
            "figures": t.figures,
            "at": _iso(t.at),
        }
        for t in tier_rows
    ]
    return {
        "client": own,
        "complaints": complaint_list,
        "service_tasks": tasks,
        "tier_changes": tiers,
    }


def write_copy(
    engine: Engine, cipher: FieldCipher, directory: Path, req: CopyRequest
) -> SealedCopy:
    document = gather(engine, cipher, req.client_id)
    document["request_id"] = req.request_id
    sealed = cipher.seal(document, context=copy_context(req.request_id))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{req.request_id}.sealed"
    # Written whole or not at all: a retry after a crash replaces a partial file.
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(sealed)
    os.chmod(tmp, 0o600)
    tmp.replace(path)
    with engine.begin() as conn:
        purpose = f"PIPL access request {req.request_id}"
        seen = conn.execute(
            select(access_log.c.id)
            .where(access_log.c.client_id == req.client_id)
            .where(access_log.c.action == SUBJECT_COPY)
            .where(access_log.c.purpose == purpose)
            .limit(1)
        ).first()
        if seen is None:
            record_access(
                conn,
                actor=req.requested_by,
                action=SUBJECT_COPY,
                client_id=req.client_id,
                purpose=purpose,
            )
    sections = {
        "client": 1,
        "complaints": len(document["complaints"]),
        "service_tasks": len(document["service_tasks"]),
        "tier_changes": len(document["tier_changes"]),
    }
    return SealedCopy(
        path=str(path),
        sha256=hashlib.sha256(sealed).hexdigest(),
        size=len(sealed),
        sections=sections,
    )


def open_copy(cipher: FieldCipher, path: Path, request_id: str) -> Any:
    """The copy for the person who asked. The file on disk keeps the client's fields sealed
    under the client's own key (as the read models do), so a copy kept past an erasure shows
    `[erased]` there; opened while the key lives, it reads whole."""
    return cipher.reveal(_open_sealed_copy(cipher, path, request_id))


def _open_sealed_copy(cipher: FieldCipher, path: Path, request_id: str) -> Any:
    """The copy's document (for whoever holds the key ring and hands it over)."""
    return cipher.open(path.read_bytes(), context=copy_context(request_id))


SETTLE_POLLS = 600
SETTLE_POLL = 0.1  # seconds: a minute in all, inside the activity's two


async def settled(handle: WorkflowHandle[Any, Any]) -> None:
    """Waits until the client workflow has performed the effects its update queued (the read
    models show the correction or the erasure), so the request is answered only once it is
    true there too. A workflow that cannot be asked (it ended and is gone) has none left."""
    for _ in range(SETTLE_POLLS):
        try:
            pending = await handle.query("unsettled", result_type=int)
        except (WorkflowQueryFailedError, RPCError):
            return
        if pending == 0:
            return
        activity.heartbeat()
        await asyncio.sleep(SETTLE_POLL)
    # retried: the update is answered again by its id (or the read models are erased directly)
    raise ApplicationError("the client's change has not reached the read models yet")


ALREADY = frozenset({"AlreadyErased", "AlreadyRestricted"})
"""The client workflow's refusals of an erasure that mean it was done before."""


def _refused(err: WorkflowUpdateFailedError) -> ApplicationError:
    cause = err.cause
    message = getattr(cause, "message", None) or str(cause)
    kind = getattr(cause, "type", None) or "Refused"
    return ApplicationError(message, type=kind, non_retryable=True)


class SubjectRequestActivities:
    def __init__(self, deps: ActivityDeps, client: Client, copies_dir: Path | None = None) -> None:
        self._deps = deps
        self._client = client
        self._dir = copies_dir or COPIES_DIR

    @activity.defn(name="produce_subject_copy")
    def produce_subject_copy(self, req: CopyRequest) -> SealedCopy:
        try:
            return write_copy(self._deps.engine, self._deps.cipher, self._dir, req)
        except UnknownClientError as err:
            raise ApplicationError(str(err), type="UnknownClient", non_retryable=True) from None

    @activity.defn(name="correct_client_profile")
    async def correct_client_profile(self, req: CorrectionRequest) -> str:
        """The client workflow's answer id; its refusal (say, a bad value) answers for good."""
        handle = self._client.get_workflow_handle(f"client-{req.client_id}")
        try:
            await handle.execute_update(
                "update_profile", req.correction, id=f"{req.request_id}:correction",
                result_type=dict,
            )  # fmt: skip
        except WorkflowUpdateFailedError as err:
            raise _refused(err) from None
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise ApplicationError(
                    f"client {req.client_id} is not being served; nothing to correct",
                    type="ClientNotServed",
                    non_retryable=True,
                ) from None
            raise
        await settled(handle)
        return req.client_id

    @activity.defn(name="erase_client_for_subject_request")
    async def erase_client_for_subject_request(self, req: SubjectErasure) -> SubjectErasureResult:
        handle = self._client.get_workflow_handle(f"client-{req.client_id}")
        body = {"requested_by": req.requested_by, "reason": req.request_id}
        via = "workflow"
        view: dict[str, Any] = {}
        try:
            view = await handle.execute_update(
                "erase_personal_data", body, id=f"{req.request_id}:erase", result_type=dict
            )
            await settled(handle)
        except WorkflowUpdateFailedError as err:
            kind = getattr(err.cause, "type", None)
            if kind in ALREADY:
                # Erased or restricted before (by `client erase`, or an earlier request): what
                # was asked is done; the client's view says which.
                view = await handle.query("view", result_type=dict)
            elif kind == "ClientClosed":
                via = "read models"
            else:
                raise _refused(err) from None
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            via = "read models"
        if view.get("restricted"):
            # The client is stored only until the hold ends; its complaints forget the person
            # when the workflow shreds it, as `client erase` leaves them.
            return SubjectErasureResult(
                via=via,
                complaints_told=0,
                restricted_until=view.get("restricted_until"),
                hold=view.get("restricted_hold"),
            )
        if (
            via == "read models"
            and req.holds
            and not await asyncio.to_thread(self._erased_in_read_models, req.client_id)
        ):
            raise ApplicationError(
                f"client {req.client_id}'s service has ended and the policy sets retention "
                f"holds: `client erase {req.client_id}` keeps the hold for it; then answer this "
                "request (fulfil once it is erased or restricted, or reject: retention_required)",
                type="ServiceEnded",
                non_retryable=True,
            )
        if via == "read models":
            erase = EraseRequest(
                client_id=req.client_id, requested_by=req.requested_by, reason=req.request_id
            )
            try:
                await asyncio.to_thread(erase_personal_data, self._deps.engine, erase)
            except UnknownClientError as err:
                raise ApplicationError(str(err), type="UnknownClient", non_retryable=True) from None
        told = await self._forget_in_complaints(req)
        return SubjectErasureResult(via=via, complaints_told=told)

    async def _forget_in_complaints(self, req: SubjectErasure) -> int:
        """As `client erase` does: each running complaint drops the person from its intake."""
        query = (
            "WorkflowType = 'ComplaintWorkflow' AND ExecutionStatus = 'Running' "
            f"AND ClientId = '{req.client_id}'"
        )
        try:
            running = [e.id async for e in self._client.list_workflows(query)]
        except RPCError as err:
            if err.status != RPCStatusCode.UNIMPLEMENTED:
                raise
            running = await asyncio.to_thread(self._open_in_read_models, req.client_id)
        told = 0
        for workflow_id in running:
            try:
                await self._client.get_workflow_handle(workflow_id).signal(
                    "forget_personal_data", {"requested_by": req.requested_by}
                )
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
                continue
            told += 1
        return told

    def _erased_in_read_models(self, client_id: str) -> bool:
        with self._deps.engine.connect() as conn:
            erased = conn.execute(
                select(clients.c.erased_at).where(clients.c.client_id == client_id)
            ).scalar()
        return erased is not None

    def _open_in_read_models(self, client_id: str) -> list[str]:
        with self._deps.engine.connect() as conn:
            rows = conn.execute(
                select(complaints.c.workflow_id)
                .where(
                    complaints.c.client_id == client_id,
                    complaints.c.stage.not_in(("closed", "withdrawn")),
                )
                .order_by(complaints.c.workflow_id)
            )
            return list(rows.scalars())
