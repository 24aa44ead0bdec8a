"""`complaint open`: record a complaint, or merge a repeat into the one open on its matter.

Opening on a matter (`matter`, or `category` given at intake; see `domain.complaint`) goes through
that matter's registry workflow (`workflows.complaint_matter`): a submission on a matter with an
open complaint is merged into it instead of starting a second complaint.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import (
    WithStartWorkflowOperation,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from commands import complaint_replies as replies
from commands.base import CommandContext, CommandError, in_database
from commands.sealing import seal_intake, sealer_for
from domain.complaint import ComplaintIntake, RepeatSubmission
from domain.complaint_state import receive
from domain.identifiers import Ref, fresh_identifier
from domain.priorities import COMPLAINT
from workflows.complaint import ComplaintWorkflow
from workflows.complaint_effects import opening_search_attributes, opening_summary
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
    today = datetime.now(UTC).astimezone(ctx.policy.zone()).date()
    if intake.incident_date and intake.incident_date > today:
        raise CommandError("invalid complaint: incident_date is in the future", code="invalid")
    if req.complaint_id and await replies.exists(ctx, req.complaint_id):
        raise CommandError(f"complaint {req.complaint_id} already exists", code="conflict")
    # Checked above; sealed under the client's own key before it enters any history. The
    # advisor is asked of Temporal meanwhile (sealing touches no `conflicted`): the two waits
    # overlap instead of adding up.
    asking = asyncio.ensure_future(_advisor_of(ctx, intake.client_id))
    try:
        intake = await in_database(ctx, seal_intake, sealer_for(ctx), intake)
    except BaseException:
        asking.cancel()
        raise
    advisor = await asking
    if advisor is not None and advisor not in intake.conflicted:
        # The client's own advisor has a direct interest: recorded, so they cannot handle it.
        intake = intake.model_copy(update={"conflicted": [*intake.conflicted, advisor]})
    new_id = req.complaint_id or fresh_identifier(lambda: uuid.uuid4().hex)
    matter = intake.matter_key()
    if matter is None:
        return await _start(ctx, new_id, intake)
    return await _open_on_matter(ctx, new_id, intake, matter)


_ADVISOR_WITHIN = timedelta(seconds=3)


async def _advisor_of(ctx: CommandContext, client_id: str) -> str | None:
    """The client's advisor, from its workflow; None when it has none or cannot say (not
    onboarded, ended, no worker answering in time: the complaint is recorded regardless)."""
    from temporalio.api.common.v1 import WorkflowExecution
    from temporalio.api.enums.v1 import WorkflowExecutionStatus
    from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
    from temporalio.client import WorkflowQueryFailedError

    from workflows.client_service import ClientServiceWorkflow
    from workflows.client_service.models import workflow_id_for

    wid = workflow_id_for(client_id)
    try:
        # Raw: the typed describe() cannot parse an unset datetime attribute of the test server.
        described = await ctx.client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=ctx.client.namespace, execution=WorkflowExecution(workflow_id=wid)
            )
        )
        running = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING
        if described.workflow_execution_info.status != running:
            return None  # no worker replays an ended client just for this
        view = await ctx.client.get_workflow_handle(wid).query(
            ClientServiceWorkflow.view, rpc_timeout=_ADVISOR_WITHIN
        )
    except (RPCError, WorkflowQueryFailedError):
        return None
    return view.advisor_id


async def _start(ctx: CommandContext, complaint_id: str, intake: ComplaintIntake) -> dict[str, Any]:
    try:
        handle = await ctx.client.start_workflow(
            ComplaintWorkflow.run,
            _complaint_input(ctx, complaint_id, intake),
            id=complaint_workflow_id(complaint_id),
            task_queue=ctx.complaint_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=opening_search_attributes(intake),
            static_summary=opening_summary(complaint_id, intake),
            priority=ctx.priority(COMPLAINT),
        )
    except WorkflowAlreadyStartedError:
        raise CommandError(f"complaint {complaint_id} already exists", code="conflict") from None
    return await _acknowledged(ctx, handle, complaint_id, intake)


def _complaint_input(
    ctx: CommandContext, complaint_id: str, intake: ComplaintIntake
) -> ComplaintInput:
    return ComplaintInput(
        complaint_id=complaint_id, intake=intake, policy=ctx.policy, versions=ctx.versions
    )


async def _acknowledged(
    ctx: CommandContext,
    handle: WorkflowHandle[Any, Any],
    complaint_id: str,
    intake: ComplaintIntake,
) -> dict[str, Any]:
    try:
        state = await handle.execute_update(
            ComplaintWorkflow.acknowledgement, rpc_timeout=replies.ACKNOWLEDGEMENT_WITHIN
        )
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        # Recorded but not yet taken up (is a worker running? is the read model reachable?):
        # answer with the receipt as the workflow recorded it, received at its start.
        started = (await handle.describe()).start_time
        state = receive(complaint_id, intake, intake.received_at or started, ctx.policy).complaint
    return replies.answer(state, merged=False)


async def _open_on_matter(
    ctx: CommandContext, complaint_id: str, intake: ComplaintIntake, matter: str
) -> dict[str, Any]:
    """Claims the matter through its registry, which starts this complaint if nobody owns it;
    otherwise merges into the owner. An owner refusing the merge has ended or is ending: the
    next claim names it, and the registry answers once it has seen that complaint end."""
    ended: str | None = None
    for _ in range(_CLAIM_ATTEMPTS):
        claim = MatterClaim(
            complaint_id=complaint_id,
            complaint=_complaint_input(ctx, complaint_id, intake),
            replace_closed=ended,
        )
        try:
            owner = await ctx.client.execute_update_with_start_workflow(
                ComplaintMatterWorkflow.claim,
                claim,
                start_workflow_operation=_registry(ctx, matter),
                rpc_timeout=replies.ANSWER_WITHIN,
            )
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            raise replies.unanswered(complaint_id) from None
        except WorkflowUpdateFailedError as err:
            if isinstance(err.cause, ApplicationError) and err.cause.type == "ComplaintExists":
                raise CommandError(f"complaint {complaint_id} already exists", "conflict") from None
            raise replies.refusal(err) from None
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:  # it completed as the claim arrived
                continue
            raise
        if not owner.merged:
            handle = ctx.client.get_workflow_handle(complaint_workflow_id(complaint_id))
            return await _acknowledged(ctx, handle, complaint_id, intake)
        merged = await _merge(ctx, owner.owner, intake)
        if merged is not None:
            return merged
        ended = owner.owner
    raise CommandError(
        "the complaint's matter is changing hands too fast; try again", code="unavailable"
    )


def _registry(ctx: CommandContext, matter: str) -> WithStartWorkflowOperation[Any, Any]:
    """The matter's registry, started by the claim unless it runs (one per attempt: an
    operation is used up by its call)."""
    return WithStartWorkflowOperation(
        ComplaintMatterWorkflow.run,
        MatterInput(matter_key=matter),
        id=matter_workflow_id(matter),
        task_queue=ctx.complaint_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary="Open-complaint registry of one client matter",
        # the claim waits on it: it goes before client-service work as the complaint does
        priority=ctx.priority(COMPLAINT),
    )


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
