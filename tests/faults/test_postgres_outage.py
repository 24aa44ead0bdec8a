"""PostgreSQL is stopped for 20 seconds in the middle of a run.

Commands sent meanwhile wait rather than fail: their workflows record the change, and the
projection activity that must follow it retries until the database is back (Temporal's default
retry policy, no attempt limit). Nothing may fail: no workflow, no workflow task; every complaint
and client reaches where it was driven, and the read models catch up to exactly what the
histories say.
"""

from __future__ import annotations

import asyncio
from functools import partial

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory

from bench.localstack import WorkerProcess
from commands import clients
from commands.base import CommandContext
from domain.complaint import Stage
from tests.faults.checks import final_state, histories, listed, trouble, verified
from tests.faults.conftest import FaultStack
from tests.faults.drive import bounded, client_file, lifecycle, open_complaint, wave

COMPLAINTS = 30
CLIENTS = 10
OUTAGE_SECONDS = 20


def retried(history: WorkflowHistory) -> int:
    """Activities that succeeded only on a later attempt."""
    return sum(
        1
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and e.activity_task_started_event_attributes.attempt > 1
    )


async def test_a_postgres_outage_delays_projections_and_fails_nothing(
    stack: FaultStack, client: Client, ctx: CommandContext, worker: WorkerProcess
) -> None:
    ids = [f"pg-{n:02d}" for n in range(COMPLAINTS)]
    client_ids = [f"pgc-{n:02d}" for n in range(CLIENTS)]
    half = CLIENTS // 2
    await bounded([partial(open_complaint, ctx, cid) for cid in ids], 10)
    await bounded(
        [partial(clients.onboard, ctx, None, client_file(c)) for c in client_ids[:half]], 10
    )
    assess, investigate, resolve, follow_up = lifecycle()
    await wave(ctx, *assess, ids, 10)

    stack.pg.stop()
    try:
        # Sent while the database is down: each update is recorded, then waits on its projection.
        during = asyncio.gather(
            wave(ctx, *investigate, ids, COMPLAINTS),
            bounded(
                [partial(clients.onboard, ctx, None, client_file(c)) for c in client_ids[half:]],
                CLIENTS,
            ),
        )
        await asyncio.sleep(OUTAGE_SECONDS)
        assert not during.done(), "commands were answered without their projections"
    finally:
        stack.pg.start()
    investigated, onboarded = await during
    assert {a["stage"] for a in investigated} == {Stage.RESOLUTION.value}
    assert [o["client_id"] for o in onboarded] == client_ids[half:]

    await wave(ctx, *resolve, ids, 10)
    closed = await wave(ctx, *follow_up, ids, 10)
    assert {a["stage"] for a in closed} == {Stage.CLOSED.value}

    await listed(client, "WorkflowType='ComplaintWorkflow' AND ExecutionStatus='Running'", 0)
    assert (await client.count_workflows("ExecutionStatus='Failed'")).count == 0
    runs = await histories(client)
    assert [t for h in runs for t in trouble(h)] == []
    assert sum(retried(h) for h in runs) > 0, "no activity ever needed a second attempt"
    finals = await bounded([partial(final_state, client, f"complaint-{c}") for c in ids], 10)
    assert {f.stage for f in finals} == {Stage.CLOSED}

    report = await verified(client, stack.engine, stack.keyring)
    assert report.compared["complaints"] == COMPLAINTS
    assert report.compared["clients"] == CLIENTS
