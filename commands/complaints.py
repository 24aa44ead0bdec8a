"""`starter.py complaint <verb>`: open a complaint and drive it, as importable functions.

Bodies are validated with the domain's models before anything is sent, and the workflow's
validators check them again against the complaint's current stage; either refusal becomes a
`CommandError` whose message says what was wrong (never echoing personal data). A complaint that
does not answer within `complaint_replies.ANSWER_WITHIN` (no worker running) is reported as
`unavailable` rather than left hanging.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from temporalio.client import (
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError, RPCStatusCode

from commands import complaint_replies as replies
from commands.base import Command, CommandContext, CommandError, engine_for, in_database
from commands.complaint_open import open_complaint
from commands.sealing import COMPLAINT_TEXT, seal_complaint_text, sealer_for
from domain.complaint import (
    Assessment,
    ExtensionRequest,
    FollowUpAnswer,
    InvestigationStep,
    Reassignment,
    ResolutionPlan,
    Withdrawal,
)
from domain.complaint_state import Complaint
from projections.subject_keys import Sealer
from workflows.complaint import ComplaintWorkflow
from workflows.complaint_models import complaint_workflow_id


async def _update(
    ctx: CommandContext, complaint_id: str | None, update: Any, cmd: BaseModel
) -> dict[str, Any]:
    cid = replies.complaint_id_of(complaint_id)
    handle: WorkflowHandle[Any, Any] = ctx.client.get_workflow_handle(complaint_workflow_id(cid))
    try:
        if any(getattr(cmd, f, None) for f in COMPLAINT_TEXT):
            # Checked by the model already; sealed under the client's key before it is sent.
            cmd = await _sealed(ctx, handle, cid, cmd)
        state: Complaint = await handle.execute_update(
            update,
            cmd,
            id=ctx.update_id(update.__name__),
            result_type=Complaint,
            rpc_timeout=replies.ANSWER_WITHIN,
        )
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise replies.unanswered(cid) from None
    except WorkflowQueryFailedError as err:  # asked for its client before it could answer
        raise CommandError(err.message, "rejected") from None
    except WorkflowUpdateFailedError as err:
        raise replies.refusal(err) from None
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise await replies.gone(ctx, cid) from None
        raise
    return replies.answer(state)


async def _sealed(
    ctx: CommandContext, handle: WorkflowHandle[Any, Any], cid: str, cmd: BaseModel
) -> BaseModel:
    """`cmd` with its free text sealed under the key of the complaint's client, found in the
    complaint's read-model row, else (not projected yet) by asking the workflow. Finding the
    row and sealing go to a thread together: the command's trips to the database are on the
    way to its answer, one hop fewer is the one it waits less."""
    sealer = sealer_for(ctx)
    sealed = await in_database(ctx, _sealed_if_projected, ctx, sealer, cid, cmd)
    if sealed is not None:
        return sealed
    try:
        state: Complaint = await handle.query(
            ComplaintWorkflow.state, result_type=Complaint, rpc_timeout=replies.ANSWER_WITHIN
        )
    except RPCError as err:
        if err.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
            raise replies.unanswered(cid) from None  # no worker answered, as for the update
        raise
    return await in_database(ctx, seal_complaint_text, sealer, state.client_id, cmd)


def _sealed_if_projected(
    ctx: CommandContext, sealer: Sealer, cid: str, cmd: BaseModel
) -> BaseModel | None:
    client_id = _client_in_read_models(ctx, cid)
    return None if client_id is None else seal_complaint_text(sealer, client_id, cmd)


def _client_in_read_models(ctx: CommandContext, cid: str) -> str | None:
    from sqlalchemy import select

    from projections.tables import complaints

    with engine_for(ctx).connect() as conn:
        found = conn.execute(
            select(complaints.c.client_id).where(complaints.c.complaint_id == cid)
        ).scalar()
    return None if found is None else str(found)


def _verb(update: Any, model: type[BaseModel], what: str) -> Command:
    """`complaint <verb> ID --json BODY`: the body as `model`, sent as the workflow's `update`."""

    async def command(ctx: CommandContext, cid: str | None, body: dict[str, Any]) -> dict[str, Any]:
        return await _update(ctx, cid, update, replies.parse(model, body, what))

    command.__name__ = update.__name__
    command.__doc__ = f"`complaint`: the {update.__name__} update, with a {what}."
    return command


assess = _verb(ComplaintWorkflow.assess, Assessment, "assessment")
investigate = _verb(ComplaintWorkflow.investigate, InvestigationStep, "investigation step")
resolve = _verb(ComplaintWorkflow.resolve, ResolutionPlan, "resolution plan")
follow_up = _verb(ComplaintWorkflow.follow_up, FollowUpAnswer, "follow-up")
extend = _verb(ComplaintWorkflow.extend, ExtensionRequest, "extension")
reassign = _verb(ComplaintWorkflow.reassign, Reassignment, "reassignment")
withdraw = _verb(ComplaintWorkflow.withdraw, Withdrawal, "withdrawal")


async def show(ctx: CommandContext, cid: str | None, body: dict[str, Any]) -> dict[str, Any]:
    """The state and the timeline's non-personal facts (free-text details stay encrypted)."""
    complaint_id = replies.complaint_id_of(cid)
    handle = ctx.client.get_workflow_handle(complaint_workflow_id(complaint_id))
    try:
        state = await handle.query(ComplaintWorkflow.state, rpc_timeout=replies.ANSWER_WITHIN)
        timeline = await handle.query(ComplaintWorkflow.timeline, rpc_timeout=replies.ANSWER_WITHIN)
        versions = await handle.query(ComplaintWorkflow.policy, rpc_timeout=replies.ANSWER_WITHIN)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise await replies.gone(ctx, complaint_id) from None
        if err.status == RPCStatusCode.DEADLINE_EXCEEDED:
            raise replies.unanswered(complaint_id) from None
        raise
    except WorkflowQueryFailedError as err:
        raise CommandError(f"complaint {complaint_id} cannot be read: {err}") from None
    events = [e.model_dump(mode="json", exclude={"detail"}) for e in timeline.events]
    pending = versions.pending.version_id if versions.pending else None
    return replies.answer(
        state, timeline=events, policy_version=versions.version_id, policy_pending=pending
    )


COMMANDS: dict[str, Command] = {
    "open": open_complaint,
    "assess": assess,
    "investigate": investigate,
    "resolve": resolve,
    "follow-up": follow_up,
    "extend": extend,
    "reassign": reassign,
    "withdraw": withdraw,
    "show": show,
}
