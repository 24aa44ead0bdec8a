"""`starter.py privacy <verb>`: data-subject requests (PIPL Art. 44-47), as importable functions.

- `privacy request` (body: `client_id`, `kind` access|correction|deletion, optional
  `request_id`, `channel`, `received_at`, and for a correction `correction` {`basic`,
  `financial`}) starts `DataSubjectRequestWorkflow` `dsr-<request_id>` and answers its state
  (`due_at`: the answer deadline from the policy's `privacy.subject_request_within`).
- `privacy fulfil ID` (`by`, `identity_verified`: true) carries it out: the sealed copy, the
  correction through the client's workflow, or the erasure; `privacy reject ID` (`by`,
  `reason`); `privacy show ID` (state and timeline).

Sent again with the same `--request-id`, `request` answers the request it started and the
updates are not applied twice.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, TypeAdapter
from temporalio.client import (
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from commands import complaint_replies as replies
from commands.base import Command, CommandContext, CommandError, in_database
from commands.sealing import seal_changes, sealer_for
from domain.identifiers import Ref, fresh_identifier
from domain.subject_request import SubjectRequest, request_due
from workflows import search_attributes as sa
from workflows.client_service.models import workflow_id_for
from workflows.subject_request import DataSubjectRequestWorkflow
from workflows.subject_request_models import (
    FulfilRequest,
    RejectRequest,
    SubjectRequestFiling,
    SubjectRequestInput,
    subject_request_workflow_id,
)

_CLOCK_SKEW = timedelta(minutes=5)


class _Id(BaseModel):
    request_id: Ref


def request_id_of(value: str | None, verb: str) -> str:
    if not value:
        raise CommandError(f"privacy {verb} needs the request id: privacy {verb} ID", "usage")
    return replies.parse(_Id, {"request_id": value}, "request id").request_id


def _answer(state: SubjectRequest, **extra: Any) -> dict[str, Any]:
    return {
        "workflow_id": subject_request_workflow_id(state.request_id),
        **state.model_dump(mode="json"),
        **extra,
    }


async def _client_known(ctx: CommandContext, client_id: str) -> None:
    from temporalio.api.common.v1 import WorkflowExecution
    from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest

    try:
        # Raw: the typed describe() cannot parse an unset datetime attribute of the test server.
        await ctx.client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=ctx.client.namespace,
                execution=WorkflowExecution(workflow_id=workflow_id_for(client_id)),
            )
        )
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise CommandError(f"no client {client_id} is known", "not_found") from None
        raise


async def _state(handle: WorkflowHandle[Any, Any], request_id: str) -> SubjectRequest:
    try:
        state: SubjectRequest = await handle.query(
            DataSubjectRequestWorkflow.state, rpc_timeout=replies.ANSWER_WITHIN
        )
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise CommandError(f"no data-subject request {request_id}", "not_found") from None
        if err.status == RPCStatusCode.DEADLINE_EXCEEDED:
            raise _unanswered(request_id) from None
        raise
    except WorkflowQueryFailedError as err:
        raise CommandError(f"request {request_id} cannot be read: {err}") from None
    return state


def _unanswered(request_id: str) -> CommandError:
    return CommandError(
        f"request {request_id} did not answer within {replies.ANSWER_WITHIN.seconds}s (is a "
        "worker running?); check with `privacy show`, or send it again with the same "
        "--request-id, which cannot apply it twice",
        code="unavailable",
    )


_REF: TypeAdapter[str] = TypeAdapter(Ref)


def _made_id(client_id: str, key: str | None) -> str:
    """`<client>-r<8 hex>`: random, or from the caller's request key (a retry names the same
    request, so it is answered rather than filed twice); `r<16 hex>` when the client's id
    leaves no room for that within a reference's 64 characters."""

    def made(tail: str) -> str:
        candidate = f"{client_id}-r{tail[:8]}"
        try:
            return _REF.validate_python(candidate)
        except ValueError:
            return f"r{tail[:16]}"

    if key is None:
        return fresh_identifier(lambda: made(uuid.uuid4().hex))
    return made(hashlib.sha256(key.encode()).hexdigest())


async def request(ctx: CommandContext, ident: str | None, body: dict[str, Any]) -> dict[str, Any]:
    """→ the request's state: `workflow_id`, `request_id`, `kind`, `status`, `due_at`, ..."""
    filing = replies.parse(
        SubjectRequestFiling, {**body, **({"request_id": ident} if ident else {})}, "request"
    )
    now = datetime.now(UTC)
    if filing.received_at and filing.received_at > now + _CLOCK_SKEW:
        raise CommandError("invalid request: received_at is in the future", code="invalid")
    await _client_known(ctx, filing.client_id)
    if filing.correction is not None and filing.correction.basic is not None:
        # the corrected values enter this workflow's history and the client's: sealed first,
        # under the client's own key, after the same checks `client update` makes
        sealer = sealer_for(ctx)
        basic = await in_database(
            ctx, seal_changes, sealer, filing.client_id, filing.correction.basic, "request"
        )
        correction = filing.correction.model_copy(update={"basic": basic})
        filing = filing.model_copy(update={"correction": correction})
    request_id = filing.request_id or _made_id(filing.client_id, ctx.request_id)
    inp = SubjectRequestInput(
        request_id=request_id,
        filing=filing.model_copy(update={"request_id": request_id}),
        policy=ctx.policy,
        versions=ctx.versions,
    )
    due = request_due(filing.received_at or now, ctx.policy)
    workflow_id = subject_request_workflow_id(request_id)
    try:
        handle = await ctx.client.start_workflow(
            DataSubjectRequestWorkflow.run,
            inp,
            id=workflow_id,
            task_queue=ctx.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(sa.CLIENT_ID, filing.client_id),
                    SearchAttributePair(sa.SLA_DEADLINE, due),
                    SearchAttributePair(sa.SLA_BREACHED, False),
                ]
            ),
            static_summary=f"Data-subject request {request_id} · {filing.kind.value}",
        )
    except WorkflowAlreadyStartedError:
        if not ctx.request_id:
            raise CommandError(f"request {request_id} already exists", "conflict") from None
        handle = ctx.client.get_workflow_handle(workflow_id)  # a retry: answered, not redone
    return _answer(await _state(handle, request_id))


async def _update(
    ctx: CommandContext, ident: str | None, verb: str, update: Any, cmd: BaseModel
) -> dict[str, Any]:
    request_id = request_id_of(ident, verb)
    handle: WorkflowHandle[Any, Any] = ctx.client.get_workflow_handle(
        subject_request_workflow_id(request_id)
    )
    try:
        state: SubjectRequest = await handle.execute_update(
            update,
            cmd,
            id=ctx.update_id(verb),
            result_type=SubjectRequest,
            rpc_timeout=replies.ANSWER_WITHIN,
        )
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise _unanswered(request_id) from None
    except WorkflowUpdateFailedError as err:
        raise replies.refusal(err) from None
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise await _gone(ctx, request_id) from None
        raise
    return _answer(state)


async def _gone(ctx: CommandContext, request_id: str) -> CommandError:
    try:
        await ctx.client.get_workflow_handle(subject_request_workflow_id(request_id)).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return CommandError(f"no data-subject request {request_id}", "not_found")
        raise
    return CommandError(f"request {request_id} was answered and takes no more commands")


def _verb(verb: str, update: Any, model: type[BaseModel], what: str) -> Command:
    async def command(
        ctx: CommandContext, ident: str | None, body: dict[str, Any]
    ) -> dict[str, Any]:
        return await _update(ctx, ident, verb, update, replies.parse(model, body, what))

    command.__name__ = verb
    command.__doc__ = f"`privacy {verb} ID`: the {verb} update, with a {what}."
    return command


fulfil = _verb("fulfil", DataSubjectRequestWorkflow.fulfil, FulfilRequest, "fulfilment")
reject = _verb("reject", DataSubjectRequestWorkflow.reject, RejectRequest, "rejection")


async def show(ctx: CommandContext, ident: str | None, body: dict[str, Any]) -> dict[str, Any]:
    request_id = request_id_of(ident, "show")
    handle = ctx.client.get_workflow_handle(subject_request_workflow_id(request_id))
    state = await _state(handle, request_id)
    timeline = await handle.query(
        DataSubjectRequestWorkflow.timeline, rpc_timeout=replies.ANSWER_WITHIN
    )
    return _answer(state, timeline=[e.model_dump(mode="json") for e in timeline.events])


COMMANDS: dict[str, Command] = {
    "request": request,
    "fulfil": fulfil,
    "reject": reject,
    "show": show,
}
