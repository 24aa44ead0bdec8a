"""`client erase ID` (PIPL deletion on the client's request).

Body: `{"requested_by": "<staff id>", "reason": "<request reference>"}`.

A client still served is erased through its workflow (the `erase_personal_data` Update), which
holds the same personal data in its state and would otherwise project it again: the workflow
drops it, writes the emptied `clients` row, runs the `erase_client_personal_data` activity on
the other read models and ends the service. A client whose workflow has already ended (offboarded
earlier) is erased in the read models directly. docs/security.md describes what remains
(encrypted histories until retention).

Under a retention hold (`[privacy]` in the policy: the AML law keeps identity and transaction
records 10 years after the relationship ends) the request restricts instead: the workflow stops
serving, showing and messaging the client at once and shreds (the same erasure) when the hold
ends, on a durable timer. A client whose service had ended gets a run of its workflow started
for that (`ClientServiceInput.ended`); with no hold in the policy it is erased in the read
models at once, as before. The answer says which: `erased_at`, or `restricted_until`.

Once the client is erased, its complaints still open are told (`forget_personal_data`): they
keep their intake without the person, so no later projection input carries it. They are found by
visibility, which lags a little behind: a complaint started in the second before the erasure
may not be listed and keeps its intake (the projection writer keeps the read models empty
regardless, `projections.erasure`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine, select
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import (
    WithStartWorkflowOperation,
    WorkflowFailureError,
    WorkflowUpdateFailedError,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.privacy import EraseRequest, UnknownClientError, erase_personal_data
from commands.base import CommandContext, CommandError, engine_for
from domain.enums import ClientKind, ServiceStatus, Tier
from domain.priorities import CLIENT_SERVICE
from domain.refusals import field_problems
from projections.tables import clients, complaints
from workflows import search_attributes as sa
from workflows.client_service.models import ClientView, ErasePersonalData


def _request(client_id: str | None, body: dict[str, Any]) -> EraseRequest:
    if not client_id:
        raise CommandError("client erase needs the client id: `client erase <ID>`", "usage")
    unknown = set(body) - {"requested_by", "reason"}
    if unknown:
        raise CommandError(f"client erase: unknown field(s) {', '.join(sorted(unknown))}")
    try:
        return EraseRequest(client_id=client_id, **body)
    except ValidationError as exc:
        # Field names and rules only: pydantic's own text would echo the input.
        raise CommandError(f"client erase: {field_problems(exc)}", "invalid") from None


def run_erase(engine: Engine, client_id: str | None, body: dict[str, Any]) -> dict[str, Any]:
    request = _request(client_id, body)
    try:
        result = erase_personal_data(engine, request)
    except UnknownClientError as exc:
        raise CommandError(str(exc), "not_found") from None
    return result.model_dump(mode="json")


async def running_complaints(ctx: CommandContext, client_id: str) -> list[str] | None:
    """The workflow ids of the client's complaints still running, by visibility (the
    complaint's `ClientId`): a complaint whose receipt is not projected yet is running all the
    same. A server without visibility (the time-skipping test server) is answered from the read
    models when the context carries an engine; None when neither can be asked."""
    from workflows.search_attributes import CLIENT_ID

    query = (
        f"WorkflowType = 'ComplaintWorkflow' AND ExecutionStatus = 'Running' "
        f"AND {CLIENT_ID.name} = '{client_id}'"
    )
    try:
        return [e.id async for e in ctx.client.list_workflows(query)]
    except RPCError as err:
        if err.status != RPCStatusCode.UNIMPLEMENTED:
            raise
    if ctx.engine is None:
        return None
    return await asyncio.to_thread(_open_in_read_models, ctx.engine, client_id)


def _open_in_read_models(engine: Engine, client_id: str) -> list[str]:
    ended = ("closed", "withdrawn")
    with engine.connect() as conn:
        rows = conn.execute(
            select(complaints.c.workflow_id)
            .where(complaints.c.client_id == client_id, complaints.c.stage.not_in(ended))
            .order_by(complaints.c.workflow_id)
        )
        return list(rows.scalars())


async def forget_in_complaints(
    ctx: CommandContext, client_id: str, requested_by: str
) -> int | None:
    """Signals each running complaint of an erased client to drop the person from its intake;
    returns how many were told (None: they could not be listed). One that ended meanwhile has
    nothing left to forget."""
    from workflows.complaint import ComplaintWorkflow
    from workflows.complaint_models import ForgetPersonalData

    running = await running_complaints(ctx, client_id)
    if running is None:
        return None
    told = 0
    for workflow_id in running:
        try:
            await ctx.client.get_workflow_handle(workflow_id).signal(
                ComplaintWorkflow.forget_personal_data,
                ForgetPersonalData(requested_by=requested_by),
            )
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            continue
        told += 1
    return told


async def erase(ctx: CommandContext, client_id: str | None, body: dict[str, Any]) -> dict[str, Any]:
    request = _request(client_id, body)  # refuse a bad body before anything else
    from commands.clients import _ended, guarded, settle
    from workflows.client_service import ClientServiceWorkflow
    from workflows.client_service.models import ErasePersonalData, workflow_id_for

    wid = workflow_id_for(request.client_id)
    handle = ctx.client.get_workflow_handle(wid)
    update = ErasePersonalData(requested_by=request.requested_by, reason=request.reason)

    async def in_workflow() -> ClientView | None:
        try:
            return await handle.execute_update(ClientServiceWorkflow.erase_personal_data, update)
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.type == "ClientClosed":
                return None  # offboarded a moment ago, its run finishing: as an ended one
            raise

    view: ClientView | None = None
    try:
        view = await guarded(
            f"client erase: no client {request.client_id} is being served", in_workflow
        )
    except CommandError as err:
        if err.code != "not_found":  # not_found: never onboarded, or its workflow has ended
            raise
    else:
        if view is None:
            await _ended(ctx, wid)
    if view is None and ctx.policy.privacy.holds:
        view = await guarded(
            f"client erase: no worker took client {request.client_id}",
            lambda: _after_the_service(ctx, request.client_id, update),
        )
    if view is not None:
        await settle(ctx, request.client_id)
        if view.restricted:
            return {
                "client_id": request.client_id,
                "erased_at": None,
                "restricted_until": view.restricted_until,
                "hold": view.restricted_hold,
                "via": "workflow",
            }
        told = await forget_in_complaints(ctx, request.client_id, request.requested_by)
        return {
            "client_id": request.client_id,
            "erased_at": view.erased_at,
            "via": "workflow",
            "complaints_told": told,
        }
    result = await asyncio.to_thread(run_erase, engine_for(ctx), client_id, body)
    told = await forget_in_complaints(ctx, request.client_id, request.requested_by)
    return result | {"via": "read models", "complaints_told": told}


async def _after_the_service(
    ctx: CommandContext, client_id: str, update: ErasePersonalData
) -> ClientView | None:
    """A deletion request for a client whose service has ended, under the policy's holds: its
    workflow is started again, only to keep the hold (restricted now, shredded when it ends; at
    once when it has run out). None: nothing to hold (never served, or erased already), for the
    read models to answer."""
    from workflows.client_service import ClientServiceWorkflow
    from workflows.client_service.models import ClientServiceInput, EndedService, workflow_id_for

    wid = workflow_id_for(client_id)
    handle = ctx.client.get_workflow_handle(wid, result_type=ClientView)
    try:
        last: ClientView | EndedView | None = await handle.result(follow_runs=False)
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        return None
    except WorkflowFailureError:  # terminated or failed: what its row says of it
        last = await asyncio.to_thread(_last_row, engine_for(ctx), client_id)
    if last is None or last.erased_at is not None:
        return None
    # Runs offboarded before `ended_at` was kept, or terminated: the service ended with the run.
    ended_at = last.ended_at or await _closed_at(ctx, wid)
    if ended_at is None:
        return None
    start = WithStartWorkflowOperation(
        ClientServiceWorkflow.run,
        ClientServiceInput(
            client_id=client_id,
            policy=ctx.policy,
            versions=ctx.versions,
            ended=EndedService(
                ended_at=ended_at,
                kind=last.file.kind if isinstance(last, ClientView) else last.kind,
                tier=last.tier,
                advisor_id=last.advisor_id,
            ),
        ),
        id=wid,
        task_queue=ctx.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(sa.CLIENT_ID, client_id),
                SearchAttributePair(sa.SERVICE_STATUS, ServiceStatus.CLOSED.value),
            ]
        ),
        static_summary=f"deletion request hold for {client_id}",
        priority=ctx.priority(CLIENT_SERVICE),
    )
    return await ctx.client.execute_update_with_start_workflow(
        ClientServiceWorkflow.erase_personal_data, update, start_workflow_operation=start
    )


async def _closed_at(ctx: CommandContext, workflow_id: str) -> datetime | None:
    # Raw: the SDK's typed `describe()` cannot parse an unset datetime search attribute as the
    # test server keeps it.
    described = await ctx.client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=ctx.client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
        )
    )
    info = described.workflow_execution_info
    return info.close_time.ToDatetime(tzinfo=UTC) if info.HasField("close_time") else None


def _last_row(engine: Engine, client_id: str) -> EndedView | None:
    with engine.connect() as conn:
        row = conn.execute(
            select(clients.c.kind, clients.c.tier, clients.c.advisor_id, clients.c.erased_at).where(
                clients.c.client_id == client_id
            )
        ).first()
    if row is None:
        return None
    return EndedView(
        kind=ClientKind(row.kind),
        tier=Tier(row.tier),
        advisor_id=row.advisor_id,
        erased_at=row.erased_at,
    )


@dataclass(frozen=True)
class EndedView:
    """The little a terminated run's `clients` row tells of it, shaped as its last view."""

    kind: ClientKind
    tier: Tier
    advisor_id: str | None
    erased_at: datetime | None
    ended_at: datetime | None = None
