"""What the fuzzers found, pinned down as plain examples: a fuzzer finds such inputs in most
runs, not all, and these keep them covered in every run. Each of them failed until 4fd2934
("Fixes from fuzzing")."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)

from commands import complaints, demo, events, improvements, report
from commands.base import CommandError
from tests.faults.drive import intake
from tests.fuzz.rig import FuzzRig, event_body, fresh_id, judge_refusal

LONG = "x" * 5000


async def refusal(call: Any) -> CommandError:
    try:
        await call
    except CommandError as err:
        return err
    raise AssertionError("accepted")


async def test_demo_load_refuses_an_infinite_count(rig: FuzzRig) -> None:
    # int(float("inf")) raises OverflowError, which the command does not catch.
    err = await refusal(demo.load(rig.ctx, None, {"clients": 2, "complaints": float("inf")}))
    assert err.code == "invalid"


@pytest.mark.parametrize("measure_id", ["\x00", "im-\x00-1"])
async def test_improvement_done_refuses_an_id_postgresql_cannot_hold(
    rig: FuzzRig, measure_id: str
) -> None:
    # A NUL byte reaches PostgreSQL, whose DataError escapes the command.
    await refusal(improvements.done(rig.ctx, measure_id, {}))


async def test_improvement_add_refuses_text_postgresql_cannot_hold(rig: FuzzRig) -> None:
    body = {"cause": "pricing_error", "measure": "a\x00b", "owner": "ops-1", "due": "2027-01-31"}
    await refusal(improvements.add(rig.ctx, None, body))


async def test_report_kpi_does_not_echo_a_long_period(rig: FuzzRig) -> None:
    body = {"period": LONG}
    judge_refusal("report kpi", await refusal(report.kpi(rig.ctx, None, body)), body)


async def test_event_attend_does_not_echo_long_client_ids(rig: FuzzRig) -> None:
    event_id = fresh_id("fze")
    await events.create(rig.ctx, None, event_body(event_id))
    body = {"attended": [LONG]}
    err = await refusal(events.COMMANDS["attend"](rig.ctx, event_id, body))
    judge_refusal("event attend", err, body)


async def failed_tasks(handle: WorkflowHandle[Any, Any]) -> int:
    failed = EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    return len([e async for e in handle.fetch_history_events() if e.event_type == failed])


async def send_null(handle: WorkflowHandle[Any, Any], update: str) -> None:
    """A JSON null where the update's model belongs: refused, or left hanging when the handler
    reads it and fails the workflow task (then the history shows it)."""
    sent = asyncio.ensure_future(handle.execute_update(update, None))
    await asyncio.wait({sent}, timeout=15)
    sent.cancel()
    with contextlib.suppress(WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError):
        await sent


async def test_a_null_claim_does_not_wedge_the_matter_registry(rig: FuzzRig) -> None:
    # `ComplaintMatterWorkflow.claim` has no validator; its handler reads `req.complaint_id`.
    client_id = fresh_id("fzm")
    opening = {**intake("x"), "complaint_id": None, "client_id": client_id, "category": "fees"}
    await complaints.COMMANDS["open"](rig.ctx, None, opening)
    registry = rig.ctx.client.get_workflow_handle(f"complaint-matter:{client_id}:fees")
    await send_null(registry, "claim")
    assert await failed_tasks(registry) == 0


async def test_a_null_erasure_does_not_wedge_the_client(rig: FuzzRig) -> None:
    # The `erase_personal_data` validator never reads its argument; the handler does, after it
    # has already erased the state.
    client = rig.ctx.client.get_workflow_handle(f"client-{await rig.target('client')}")
    rig.retire("client")
    await send_null(client, "erase_personal_data")
    assert await failed_tasks(client) == 0
