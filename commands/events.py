"""`starter.py event <verb>`: client events (seminars, exchange meetings, outdoor activities).

`create` starts the event's workflow, which invites the target segment in the background
(through the consent-checked outbox); `show` reports the invitation and attendance counts;
`attend` records who came (and, optionally, who did not); `close` ends attendance taking:
the workflow accepts it at once and records the no-shows in the background, and the command
waits up to `CLOSE_SETTLES` for that (phase `closed`), else answers with phase `closing`.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from commands.base import Command, CommandContext, CommandError, id_arg
from commands.clients import guarded, parse
from domain.priorities import CLIENT_SERVICE
from workflows.client_events import (
    Attendance,
    ClientEventInput,
    ClientEventWorkflow,
    CloseEvent,
    event_workflow_id,
)

CLOSE_SETTLES = 10.0  # seconds: a small segment's no-shows are recorded well within it


async def create(ctx: CommandContext, _id: str | None, body: dict[str, Any]) -> dict[str, Any]:
    """Body: `event_id`, `kind` (seminar|exchange|outdoor), `title`, `starts_at`, optional
    `segment` {`tiers`, `risk_profiles`, `kinds`} and `attendance_window` (ISO 8601)."""
    fields = {k: body[k] for k in ("attendance_window",) if k in body}
    event_body = {k: v for k, v in body.items() if k not in fields}
    inp = parse(
        ClientEventInput, {"event": event_body, "policy": ctx.policy, **fields}, "event create"
    )
    workflow_id = event_workflow_id(inp.event.event_id)
    try:
        await ctx.client.start_workflow(
            ClientEventWorkflow.run,
            inp,
            id=workflow_id,
            task_queue=ctx.task_queue,
            # An event id names one event for good: its rows and invitation ids are keyed by it.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=f"client event {inp.event.event_id} ({inp.event.kind.value})",
            priority=ctx.priority(CLIENT_SERVICE),
        )
    except WorkflowAlreadyStartedError:
        raise CommandError(
            f"event create: event {inp.event.event_id} already exists", "conflict"
        ) from None
    return {"workflow_id": workflow_id, "event_id": inp.event.event_id, "phase": "inviting"}


async def show(ctx: CommandContext, event_id: str | None, body: dict[str, Any]) -> dict[str, Any]:
    eid = id_arg(event_id, "event", "show")
    handle = ctx.client.get_workflow_handle(event_workflow_id(eid))
    view = await guarded(
        f"event show: no event {eid}", lambda: handle.query(ClientEventWorkflow.view)
    )
    return view.model_dump(mode="json")


def _update(verb: str, update: Any, model: Any) -> Command:
    async def command(
        ctx: CommandContext, event_id: str | None, body: dict[str, Any]
    ) -> dict[str, Any]:
        eid = id_arg(event_id, "event", verb)
        arg = parse(model, body, f"event {verb}")
        handle = ctx.client.get_workflow_handle(event_workflow_id(eid))
        view = await guarded(
            f"event {verb}: no open event {eid}", lambda: handle.execute_update(update, arg)
        )
        return dict(view.model_dump(mode="json"))

    command.__name__ = verb
    return command


async def close(ctx: CommandContext, event_id: str | None, body: dict[str, Any]) -> dict[str, Any]:
    view = await _close(ctx, event_id, body)
    loop = asyncio.get_running_loop()
    until = loop.time() + CLOSE_SETTLES
    while view["phase"] == "closing" and loop.time() < until:
        await asyncio.sleep(0.2)
        with contextlib.suppress(RPCError, CommandError):  # between two runs a query can miss
            view = await show(ctx, event_id, {})
    return view


_close = _update("close", ClientEventWorkflow.close, CloseEvent)

COMMANDS: dict[str, Command] = {
    "create": create,
    "show": show,
    "attend": _update("attend", ClientEventWorkflow.record_attendance, Attendance),
    "close": close,
}
