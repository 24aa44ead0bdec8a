"""Two complaints on one matter are opened while PostgreSQL is down for 90 seconds.

Opening a complaint on a matter must decide ownership and start the complaint in one step: the
first submission's complaint cannot confirm anything while its projection waits for the
database, and a registry that gave up on an owner after a wall-clock window would let the
second submission open a second complaint on the same matter. Afterwards exactly one complaint
is open, the other submission is merged into it, and no matter registry runs without a running
owner; once that complaint ends, the registry ends too.
"""

from __future__ import annotations

import asyncio

from temporalio.client import Client, WorkflowExecutionStatus

from bench.localstack import WorkerProcess
from commands.base import CommandContext
from commands.complaints import COMMANDS
from tests.faults.checks import histories, listed, trouble
from tests.faults.conftest import FaultStack
from tests.faults.drive import intake
from workflows.complaint import ComplaintWorkflow
from workflows.complaint_matter import ComplaintMatterWorkflow
from workflows.complaint_models import complaint_workflow_id

OUTAGE_SECONDS = 90
CLIENT = "cl-outage"


def on_matter(complaint_id: str, content: str) -> dict[str, object]:
    return {**intake(complaint_id, on_matter=True), "client_id": CLIENT, "content": content}


async def owners(client: Client) -> dict[str, str | None]:
    """Every running matter registry and the owner it names."""
    running = "WorkflowType='ComplaintMatterWorkflow' AND ExecutionStatus='Running'"
    found: dict[str, str | None] = {}
    async for e in client.list_workflows(running):
        owner = await client.get_workflow_handle(e.id).query(ComplaintMatterWorkflow.owner)
        found[e.id] = owner.owner if owner else None
    return found


async def test_an_outage_while_opening_on_one_matter_opens_one_complaint(
    stack: FaultStack, client: Client, ctx: CommandContext, worker: WorkerProcess
) -> None:
    stack.pg.stop()
    try:
        first = asyncio.ensure_future(
            COMMANDS["open"](ctx, None, on_matter("out-1", "Fees higher than disclosed"))
        )
        await asyncio.sleep(5)
        second = asyncio.ensure_future(
            COMMANDS["open"](ctx, None, on_matter("out-2", "Still no answer about the fees"))
        )
        await asyncio.sleep(OUTAGE_SECONDS - 5)
    finally:
        stack.pg.start()
    answers = [await first, await second]

    # Both opens wait for the database (the intake is sealed under the client's key, which is
    # kept there), so either may reach the registry first once it is back: that one owns the
    # matter, the other is merged into it.
    owning = [a for a in answers if not a["merged"]]
    assert len(owning) == 1, answers
    owner_id = owning[0]["complaint_id"]
    merged = next(a for a in answers if a["merged"])
    assert {a["complaint_id"] for a in answers} == {owner_id} and owner_id in ("out-1", "out-2")
    assert merged["merged_count"] == 1
    open_on_client = f"WorkflowType='ComplaintWorkflow' AND ClientId='{CLIENT}'"
    await listed(client, f"{open_on_client} AND ExecutionStatus='Running'", 1)
    assert (await client.count_workflows(open_on_client)).count == 1  # the other never started
    registries = await owners(client)
    assert list(registries.values()) == [owner_id], registries
    owner = client.get_workflow_handle(complaint_workflow_id(owner_id))
    assert (await owner.describe()).status == WorkflowExecutionStatus.RUNNING
    assert (await owner.query(ComplaintWorkflow.state)).merged_count == 1

    await COMMANDS["withdraw"](ctx, owner_id, {"reason": "sorted out with the branch"})
    await listed(client, "WorkflowType='ComplaintMatterWorkflow' AND ExecutionStatus='Running'", 0)
    assert [t for h in await histories(client) for t in trouble(h)] == []
