"""Every refused command is refused before the history: the validator says why, no workflow task
fails, nothing is recorded, and the complaint keeps running."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import Engine
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from commands.base import CommandContext, CommandError
from commands.complaints import COMMANDS
from domain.policy import Policy
from infra.keys import KeyRing
from tests.helpers.complaint_env import assert_healthy, complaint_context, intake

ASSESS = {"category": "fees", "severity": "low", "department": "wealth-ops", "handler": "h-31"}


@pytest.fixture
async def ctx(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing, policy: Policy
) -> AsyncIterator[CommandContext]:
    async with complaint_context(ts_env.client, db, keyring, policy) as ctx:
        yield ctx


async def accepted_updates(handle: WorkflowHandle[Any, Any]) -> int:
    accepted = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    return len([e async for e in handle.fetch_history_events() if e.event_type == accepted])


async def refused(ctx: CommandContext, verb: str, cid: str | None, body: dict[str, Any]) -> str:
    with pytest.raises(CommandError) as err:
        await COMMANDS[verb](ctx, cid, body)
    return err.value.message


async def test_out_of_order_commands_name_the_stage(ctx: CommandContext) -> None:
    opened = await COMMANDS["open"](ctx, None, intake("c-8008"))
    cid = opened["complaint_id"]
    handle = ctx.client.get_workflow_handle(opened["workflow_id"])
    before = await accepted_updates(handle)

    message = await refused(
        ctx, "resolve", cid, {"measures": "x", "owner": "h-31", "due": "2099-01-01"}
    )
    assert "stage 'assessment'" in message and "resolve is allowed only in 'resolution'" in message
    assert "Allowed now: assess, withdraw" in message
    message = await refused(ctx, "follow-up", cid, {"satisfaction": 5})
    assert "stage 'assessment'" in message
    message = await refused(ctx, "extend", cid, {"reason": "busy", "approved_by": "m-1"})
    assert "extend is allowed only in 'investigation', 'resolution'" in message
    message = await refused(ctx, "reassign", cid, {"handler": "h-99"})
    assert "stage 'assessment'" in message

    assert await accepted_updates(handle) == before
    await assert_healthy(handle)
    assert (await COMMANDS["show"](ctx, cid, {}))["stage"] == "assessment"


async def test_bad_input_is_refused_by_the_command_and_by_the_workflow(
    ctx: CommandContext,
) -> None:
    opened = await COMMANDS["open"](ctx, None, intake("c-9009"))
    cid = opened["complaint_id"]
    await COMMANDS["assess"](ctx, cid, ASSESS)
    handle = ctx.client.get_workflow_handle(opened["workflow_id"])
    before = await accepted_updates(handle)

    with pytest.raises(CommandError) as err:
        await COMMANDS["investigate"](ctx, cid, {"findings": "", "root_cause": "gremlins"})
    assert err.value.code == "invalid"
    assert "findings" in err.value.message and "root_cause" in err.value.message

    # Straight to the workflow, past the command's checks: payloads the model cannot accept.
    for name, payload in [
        ("follow_up", {"satisfaction": 9}),
        ("investigate", {"findings": "x", "root_cause": "gremlins"}),
        ("assess", {"category": "fees"}),
        ("extend", "not an object"),
    ]:
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(name, payload)

    assert await accepted_updates(handle) == before
    await assert_healthy(handle)


async def test_a_second_extension_and_self_approval_are_refused(ctx: CommandContext) -> None:
    opened = await COMMANDS["open"](ctx, None, intake("c-1010"))
    cid = opened["complaint_id"]
    await COMMANDS["assess"](ctx, cid, {**ASSESS, "complex": True})
    handle = ctx.client.get_workflow_handle(opened["workflow_id"])

    message = await refused(ctx, "extend", cid, {"reason": "mine", "approved_by": "h-31"})
    assert "the handler cannot approve their own extension" in message
    first = await COMMANDS["extend"](ctx, cid, {"reason": "issuer records", "approved_by": "m-2"})
    before = await accepted_updates(handle)
    message = await refused(ctx, "extend", cid, {"reason": "more", "approved_by": "m-2"})
    assert "already extended 1 time(s); the policy allows 1" in message
    assert "stage 'investigation'" in message

    assert await accepted_updates(handle) == before
    assert (await COMMANDS["show"](ctx, cid, {}))["sla_deadline"] == first["sla_deadline"]
    await assert_healthy(handle)


async def test_the_person_complained_about_never_handles_the_complaint(
    ctx: CommandContext,
) -> None:
    opened = await COMMANDS["open"](ctx, None, intake("c-1111", subject="adv-7"))
    cid = opened["complaint_id"]
    handle = ctx.client.get_workflow_handle(opened["workflow_id"])

    message = await refused(ctx, "assess", cid, {**ASSESS, "handler": "adv-7"})
    assert "handler 'adv-7' is the staff member complained about" in message
    assert "stage 'assessment'" in message
    await COMMANDS["assess"](ctx, cid, ASSESS)
    message = await refused(ctx, "reassign", cid, {"handler": "adv-7"})
    assert "handler 'adv-7' is the staff member complained about" in message
    message = await refused(ctx, "reassign", cid, {"handler": "h-31"})
    assert "nothing to change" in message
    moved = await COMMANDS["reassign"](ctx, cid, {"handler": "h-32", "department": "compliance"})
    assert (moved["handler"], moved["department"]) == ("h-32", "compliance")
    await assert_healthy(handle)


async def test_commands_on_missing_or_ended_complaints(ctx: CommandContext) -> None:
    with pytest.raises(CommandError) as err:
        await COMMANDS["assess"](ctx, "no-such-complaint", ASSESS)
    assert (err.value.code, err.value.message) == (
        "not_found",
        "no complaint with id no-such-complaint",
    )
    with pytest.raises(CommandError) as err:
        await COMMANDS["show"](ctx, "no-such-complaint", {})
    assert err.value.code == "not_found"
    with pytest.raises(CommandError) as err:
        await COMMANDS["assess"](ctx, None, ASSESS)
    assert err.value.code == "invalid"

    opened = await COMMANDS["open"](ctx, None, intake("c-1212"))
    cid = opened["complaint_id"]
    await COMMANDS["withdraw"](ctx, cid, {"reason": "resolved informally"})
    handle = ctx.client.get_workflow_handle(opened["workflow_id"])
    await handle.result()
    message = await refused(ctx, "assess", cid, ASSESS)
    assert message == f"complaint {cid} has ended and takes no more commands"
    with pytest.raises(CommandError) as err:
        await COMMANDS["open"](ctx, None, {**intake("c-1212"), "complaint_id": cid})
    assert err.value.code == "conflict"
