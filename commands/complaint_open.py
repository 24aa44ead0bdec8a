"""`complaint open`: record a complaint, or merge a repeat into the one open on its matter.

Opening on a matter (`matter`, or `category` given at intake; see `domain.complaint`) goes through
that matter's registry workflow (`workflows.complaint_matter`): a submission on a matter with an
open complaint is merged into it instead of starting a second complaint.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import (
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from commands import complaint_replies as replies
from commands.base import CommandContext, CommandError
from domain.complaint import ComplaintIntake, Ref, RepeatSubmission
from domain.complaint_state import receive
from workflows import search_attributes as sa
from workflows.complaint import ComplaintWorkflow
from workflows.complaint_matter import ComplaintMatterWorkflow, MatterClaim, MatterInput
from workflows.complaint_models import ComplaintInput, complaint_workflow_id, matter_workflow_id

_CLOCK_SKEW = timedelta(minutes=5)
_CLAIM_ATTEMPTS = 5


class OpenComplaint(ComplaintIntake):
    complaint_id: Ref | None = None


async def open_complaint(
    ctx: CommandContext, complaint_id: str | None, body: dict[str, Any]
) -> dict[str, Any]:
    """→ {workflow_id, complaint_id, stage, sla_deadline, merged, ...the complaint's state}."""
    req = replies.parse(
        OpenComplaint,
        {**body, **({"complaint_id": complaint_id} if complaint_id else {})},
        "complaint",
    )
    if req.received_at and req.received_at > datetime.now(UTC) + _CLOCK_SKEW:
        raise CommandError("invalid complaint: received_at is in the future", code="invalid")
    intake = ComplaintIntake.model_validate(req.model_dump(exclude={"complaint_id"}))
    if req.complaint_id and await replies.exists(ctx, req.complaint_id):
        raise CommandError(f"complaint {req.complaint_id} already exists", code="conflict")
    new_id = req.complaint_id or uuid.uuid4().hex
    matter = intake.matter_key()
    if matter is None:
        return await _start(ctx, new_id, intake, None)
    return await _open_on_matter(ctx, new_id, intake, matter)


async def _start(
    ctx: CommandContext, complaint_id: str, intake: ComplaintIntake, registry: str | None
) -> dict[str, Any]:
    try:
        handle = await ctx.client.start_workflow(
            ComplaintWorkflow.run,
            ComplaintInput(
                complaint_id=complaint_id,
                intake=intake,
                policy=ctx.policy,
                matter_workflow_id=registry,
            ),
            id=complaint_workflow_id(complaint_id),
            task_queue=ctx.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(sa.CLIENT_ID, intake.client_id),
                    SearchAttributePair(sa.COMPLAINT_STAGE, "intake"),
                    SearchAttributePair(sa.COMPLAINT_CHANNEL, intake.channel.value),
                    SearchAttributePair(sa.SLA_BREACHED, False),
                    SearchAttributePair(sa.REOPEN_COUNT, 0),
                ]
            ),
            static_summary=f"Complaint {complaint_id} · {intake.channel.value}",
        )
    except WorkflowAlreadyStartedError:
        raise CommandError(f"complaint {complaint_id} already exists", code="conflict") from None
    try:
        state = await handle.execute_update(
            ComplaintWorkflow.acknowledgement, rpc_timeout=replies.ACKNOWLEDGEMENT_WITHIN
        )
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        # Recorded but not yet taken up (is a worker running?): answer with the receipt as the
        # workflow will record it, received at its start, still in intake.
        started = (await handle.describe()).start_time
        state = receive(complaint_id, intake, intake.received_at or started, ctx.policy).complaint
    return replies.answer(state, merged=False)


async def _open_on_matter(
    ctx: CommandContext, complaint_id: str, intake: ComplaintIntake, matter: str
) -> dict[str, Any]:
    registry_id = matter_workflow_id(matter)
    stale: str | None = None
    for _ in range(_CLAIM_ATTEMPTS):
        registry = await _registry(
            ctx, registry_id, MatterInput(matter_key=matter, owner=complaint_id)
        )
        try:
            claim = await registry.execute_update(
                ComplaintMatterWorkflow.claim,
                MatterClaim(complaint_id=complaint_id, replace_closed=stale),
                rpc_timeout=replies.ANSWER_WITHIN,
            )
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            raise replies.unanswered(complaint_id) from None
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:  # it completed between start and claim
                continue
            raise
        if not claim.merged:
            return await _start(ctx, complaint_id, intake, registry_id)
        merged = await _merge(ctx, claim.owner, intake)
        if merged is not None:
            return merged
        stale = claim.owner  # that complaint has ended: take the matter over from it
    raise CommandError(
        "the complaint's matter is changing hands too fast; try again", code="unavailable"
    )


async def _registry(
    ctx: CommandContext, registry_id: str, inp: MatterInput
) -> WorkflowHandle[Any, Any]:
    """Starts the matter's registry, or attaches to the one running.

    Not `id_conflict_policy=USE_EXISTING`: the time-skipping test server leaks a time-skipping
    lock on every start that attaches that way, freezing the clock for the whole test session.
    """
    try:
        return await ctx.client.start_workflow(
            ComplaintMatterWorkflow.run,
            inp,
            id=registry_id,
            task_queue=ctx.task_queue,
            static_summary="Open-complaint registry of one client matter",
        )
    except WorkflowAlreadyStartedError:
        return ctx.client.get_workflow_handle(registry_id)


async def _merge(ctx: CommandContext, owner: str, intake: ComplaintIntake) -> dict[str, Any] | None:
    """The owner's state after merging, or None when the owner no longer takes submissions."""
    handle = ctx.client.get_workflow_handle(complaint_workflow_id(owner))
    submission = RepeatSubmission(
        client_id=intake.client_id,
        channel=intake.channel,
        content=intake.content,
        complainant=intake.complainant,
        received_at=intake.received_at,
    )
    try:
        state = await handle.execute_update(
            ComplaintWorkflow.merge_repeat, submission, rpc_timeout=replies.ANSWER_WITHIN
        )
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise replies.unanswered(owner) from None
    except WorkflowUpdateFailedError:
        return None
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return replies.answer(state, merged=True)
