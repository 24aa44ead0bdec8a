"""`starter.py client <verb>`: onboarding and the life of a client's service.

Every body is validated here with the domain models first, so a refusal names the field (or the
questionnaire question) before anything reaches Temporal; the workflow's update validators check
what only the workflow knows (is a callback open, is the service paused).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationError
from temporalio.client import (
    WithStartWorkflowOperation,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from commands.base import Command, CommandContext, CommandError, engine_for, id_arg, in_database
from commands.sealing import (
    reveal,
    seal_changes,
    seal_file,
    seal_notes,
    seal_reason,
    sealer_for,
)
from domain.client import ClientFile
from domain.enums import ServiceStatus
from domain.priorities import CLIENT_SERVICE
from domain.questionnaire import questionnaire_json
from workflows import search_attributes as sa
from workflows.client_service import ClientServiceWorkflow
from workflows.client_service.models import (
    CallbackOutcome,
    ClientServiceInput,
    ClientView,
    OffboardClient,
    OnboardClient,
    OnboardResult,
    OwedDuty,
    PauseService,
    ProfileUpdate,
    ResumeService,
    workflow_id_for,
)
from workflows.refusals import describe

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")


SETTLE_POLL = 0.05  # seconds between two looks at the workflow's queue


async def settle(ctx: CommandContext, client_id: str) -> bool:
    """Waits, at most `ctx.settle_within` seconds, until the client's workflow has performed
    every effect it queued, so a caller reading the read models next sees its change. The
    workflow never makes its commands wait for this (a hung projection must not hold up
    `pause` or `erase`); the command line does, briefly. False: not yet, answered anyway."""
    handle = ctx.client.get_workflow_handle(workflow_id_for(client_id))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ctx.settle_within
    while True:
        try:
            pending = await handle.query(ClientServiceWorkflow.unsettled)
            if pending == 0:
                return True
        except (WorkflowQueryFailedError, RPCError):
            return False
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(SETTLE_POLL)


def parse(model: type[M], body: dict[str, Any], command: str) -> M:
    """The body as `model`, or a refusal naming every bad field (never echoing values)."""
    try:
        return model.model_validate(body)
    except ValidationError as err:
        raise CommandError(f"{command}: {describe(err)}", "invalid") from None


async def guarded(not_found: str, call: Callable[[], Awaitable[R]]) -> R:
    """Temporal's answers as command errors: a refused update says why; a workflow that does
    not exist, or no longer runs, is `not_found` with the given message."""
    try:
        return await call()
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        message = cause.message if isinstance(cause, ApplicationError) else str(cause)
        raise CommandError(message, "rejected") from None
    except WorkflowQueryFailedError as err:  # e.g. asked before onboarding has finished
        raise CommandError(err.message, "rejected") from None
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise CommandError(not_found, "not_found") from None
        raise


async def questionnaire(
    ctx: CommandContext, _id: str | None, body: dict[str, Any]
) -> dict[str, Any]:
    return questionnaire_json()


class _Owed(BaseModel):
    owed_duties: list[OwedDuty] = Field(default=[], max_length=4)


async def onboard(ctx: CommandContext, _id: str | None, body: dict[str, Any]) -> dict[str, Any]:
    """Starts the client's workflow, or updates the running one: onboarding twice is safe.

    `owed_duties` (optional, read at first onboarding only): callbacks or plan reviews a client
    brought over from an earlier system was already owed there, each `{"kind", "due_at"}` with
    the instant it fell due (not in the future); they are open from the start, and one past its
    grace is overdue at once."""
    rest, owed = split_owed(body)
    return await onboard_file(ctx, parse(ClientFile, rest, "client onboard"), owed=owed)


def split_owed(body: dict[str, Any]) -> tuple[dict[str, Any], list[OwedDuty]]:
    """An onboard body's file fields, and its `owed_duties` checked (refused naming them)."""
    rest = {k: v for k, v in body.items() if k != "owed_duties"}
    given = {"owed_duties": body.get("owed_duties") or []}
    owed = parse(_Owed, given, "client onboard").owed_duties
    if any(d.due_at > datetime.now(UTC) for d in owed):
        raise CommandError("client onboard: owed_duties.due_at is in the future", "invalid")
    return rest, owed


async def onboard_file(
    ctx: CommandContext,
    file: ClientFile,
    *,
    rpc_timeout: timedelta | None = None,
    read_your_writes: bool = True,
    update_id: str | None = None,
    owed: list[OwedDuty] | None = None,
) -> dict[str, Any]:
    """`onboard` of a file already validated (`client import` validates every row first);
    with `rpc_timeout`, waiting longer for the answer raises the SDK's timeout error; without
    `read_your_writes`, it answers without waiting for the read models (see `settle`); sent
    again with the same `update_id`, it is answered rather than applied again."""

    # Validated already; sealed before it goes anywhere near Temporal (commands.sealing).
    file = await in_database(ctx, seal_file, sealer_for(ctx), file)

    async def attempt() -> OnboardResult:
        try:
            return await _onboard(ctx, file, rpc_timeout, update_id, owed or [])
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            if not (isinstance(cause, ApplicationError) and cause.type == "ClientClosed"):
                raise
        # Offboarded a moment ago, its run still finishing its last writes: a returning
        # client is served by a new run once that one has ended.
        await _ended(ctx, workflow_id_for(file.client_id))
        return await _onboard(ctx, file, rpc_timeout, update_id, owed or [])

    result = await guarded(f"client onboard: no worker took client {file.client_id}", attempt)
    if read_your_writes:
        await settle(ctx, file.client_id)
    return result.model_dump(mode="json")


async def _onboard(
    ctx: CommandContext,
    file: ClientFile,
    rpc_timeout: timedelta | None,
    update_id: str | None,
    owed: list[OwedDuty],
) -> OnboardResult:
    start = WithStartWorkflowOperation(
        ClientServiceWorkflow.run,
        ClientServiceInput(client_id=file.client_id, policy=ctx.policy, versions=ctx.versions),
        id=workflow_id_for(file.client_id),
        task_queue=ctx.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(sa.CLIENT_ID, file.client_id),
                SearchAttributePair(sa.SERVICE_STATUS, ServiceStatus.ACTIVE.value),
            ]
        ),
        static_summary=f"client service for {file.client_id}",
        priority=ctx.priority(CLIENT_SERVICE),
    )
    return await ctx.client.execute_update_with_start_workflow(
        ClientServiceWorkflow.onboard,
        OnboardClient(file=file, owed=owed),
        id=update_id,
        start_workflow_operation=start,
        rpc_timeout=rpc_timeout,
    )


async def _ended(ctx: CommandContext, workflow_id: str) -> None:
    handle = ctx.client.get_workflow_handle(workflow_id)
    with contextlib.suppress(Exception):  # whatever it ended with, a new run can start
        await asyncio.wait_for(handle.result(), ctx.settle_within)


async def show(ctx: CommandContext, client_id: str | None, body: dict[str, Any]) -> dict[str, Any]:
    cid = id_arg(client_id, "client", "show")
    handle = ctx.client.get_workflow_handle(workflow_id_for(cid))
    view = await guarded(
        f"client show: no client {cid}", lambda: handle.query(ClientServiceWorkflow.view)
    )
    # The file is shown to a person: recorded first, and not shown if it cannot be (PIPL).
    await in_database(ctx, _record_profile_read, ctx, cid, handle.id)
    return await in_database(ctx, reveal, sealer_for(ctx), view)


def _record_profile_read(ctx: CommandContext, client_id: str, workflow_id: str) -> None:
    from projections.access import AccessAction, AccessLogError, current_actor, record_access

    try:
        actor = current_actor()
    except AccessLogError as exc:
        raise CommandError(f"client show: CLIENT_CARE_ACTOR: {exc}", "invalid") from None
    with engine_for(ctx).begin() as conn:
        record_access(
            conn,
            actor,
            AccessAction.PROFILE_READ,
            client_id=client_id,
            workflow_id=workflow_id,
            purpose="client show",
        )


def _update_command(verb: str, update: Any, model: type[BaseModel]) -> Command:
    async def command(
        ctx: CommandContext, client_id: str | None, body: dict[str, Any]
    ) -> dict[str, Any]:
        cid = id_arg(client_id, "client", verb)
        arg = parse(model, body, f"client {verb}")
        if isinstance(arg, ProfileUpdate) and arg.basic is not None:
            sealer = sealer_for(ctx)
            basic = await in_database(ctx, seal_changes, sealer, cid, arg.basic, verb)
            arg = arg.model_copy(update={"basic": basic})
        elif isinstance(arg, CallbackOutcome):
            arg = await in_database(ctx, seal_notes, sealer_for(ctx), cid, arg, verb)
        elif isinstance(arg, PauseService | OffboardClient) and arg.reason:
            arg = await in_database(ctx, seal_reason, sealer_for(ctx), cid, arg, verb)
        handle = ctx.client.get_workflow_handle(workflow_id_for(cid))
        result = await guarded(
            f"client {verb}: no client {cid} is being served (unknown or offboarded)",
            lambda: handle.execute_update(update, arg, id=ctx.update_id(verb)),
        )
        await settle(ctx, cid)
        if isinstance(result, ClientView):  # the file as the caller knows it, opened again
            return await in_database(ctx, reveal, sealer_for(ctx), result)
        return dict(result.model_dump(mode="json"))

    command.__name__ = verb
    command.__doc__ = f"`client {verb} ID`: the {update.__name__} update of the client's workflow."
    return command


update = _update_command("update", ClientServiceWorkflow.update_profile, ProfileUpdate)
callback = _update_command("callback", ClientServiceWorkflow.record_callback, CallbackOutcome)
pause = _update_command("pause", ClientServiceWorkflow.pause, PauseService)
resume = _update_command("resume", ClientServiceWorkflow.resume, ResumeService)
offboard = _update_command("offboard", ClientServiceWorkflow.offboard, OffboardClient)

COMMANDS: dict[str, Command] = {
    "questionnaire": questionnaire,
    "onboard": onboard,
    "show": show,
    "update": update,
    "callback": callback,
    "pause": pause,
    "resume": resume,
    "offboard": offboard,
}
