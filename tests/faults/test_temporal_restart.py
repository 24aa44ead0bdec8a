"""The Temporal dev server restarts on its persistent file in the middle of a run.

Timers started before the restart must still fire (an assessment escalation, a decision deadline
breach), timers started after it too, and updates, queries, new starts and visibility queries
must all work against the restarted server, served by the same worker process, which rides
through the outage by itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from temporalio.client import Client

from bench.localstack import WorkerProcess
from commands import clients
from commands.base import CommandContext
from domain.complaint import Stage
from domain.complaint_state import Complaint
from domain.policy import Policy
from tests.faults.checks import histories, trouble, verified
from tests.faults.conftest import FaultStack
from tests.faults.drive import ASSESS, client_file, drive, lifecycle, open_complaint
from workflows.complaint import ComplaintWorkflow

# Seconds instead of days, so deadlines fall due around the restart.
FAST = Policy.model_validate(
    {"complaints": {"assess_within": "PT20S", "decision_within": "PT40S", "warn_before": "PT10S"}}
)
WITHIN = 120  # seconds a timer may take to show: a liveness bound, not a speed target


async def complaint_state(client: Client, complaint_id: str) -> Complaint:
    handle = client.get_workflow_handle(f"complaint-{complaint_id}")
    return await handle.query(ComplaintWorkflow.state)


async def state_reaches(
    client: Client, complaint_id: str, done: Callable[[Complaint], bool]
) -> Complaint:
    for _ in range(WITHIN * 4):
        state = await complaint_state(client, complaint_id)
        if done(state):
            return state
        await asyncio.sleep(0.25)
    raise AssertionError(f"complaint {complaint_id} never got there: {state}")


async def test_timers_and_updates_go_on_after_a_temporal_restart(
    stack: FaultStack, client: Client, worker: WorkerProcess
) -> None:
    ctx = CommandContext(client=client, policy=FAST, task_queue=stack.endpoints.task_queue)
    await clients.onboard(ctx, None, client_file("rs-client"))
    await open_complaint(ctx, "rs-waiting")  # its assessment falls overdue after 20s
    await open_complaint(ctx, "rs-breach")
    await drive(ctx, "rs-breach", [("assess", ASSESS)])  # its decision falls due 40s after receipt
    await open_complaint(ctx, "rs-later")
    pending = [await complaint_state(client, c) for c in ("rs-waiting", "rs-breach")]
    assert [(c.assessment_escalated, c.sla_breached) for c in pending] == [(False, False)] * 2

    stack.temporal.stop()
    stack.temporal.start()

    # The same client object and the same worker process, reconnected by themselves.
    assert (await state_reaches(client, "rs-waiting", lambda c: c.assessment_escalated)).escalated
    breached = await state_reaches(client, "rs-breach", lambda c: c.sla_breached)
    assert breached.stage is Stage.INVESTIGATION
    await drive(ctx, "rs-later", lifecycle())
    await open_complaint(ctx, "rs-after")  # started after the restart: its timer must fire too
    await state_reaches(client, "rs-after", lambda c: c.assessment_escalated)
    updated = await clients.update(
        ctx, "rs-client", {"metrics": {"aum": 12000000, "annual_contribution": 150000}}
    )
    assert updated["file"]["metrics"]["aum"] == "12000000"
    assert worker.alive(), worker.log_tail()

    supervisor_query = "ComplaintStage='investigation' AND SlaBreached=true"
    for _ in range(100):
        found = [e.id async for e in client.list_workflows(supervisor_query)]
        if found:
            break
        await asyncio.sleep(0.1)
    assert found == ["complaint-rs-breach"]

    assert [t for h in await histories(client) for t in trouble(h)] == []
    await verified(client, stack.engine, stack.keyring)
