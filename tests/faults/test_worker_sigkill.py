"""The worker is SIGKILLed with 200 complaints in flight; a new worker finishes every one.

The dead worker's workflow tasks time out and its activities run out their start-to-close
timeout; the server hands both to the replacement, and the updates callers were waiting on are
delivered to it. Afterwards every complaint must look exactly like one that was never disturbed:
the same final state (recorded result and live query), the same events in its read model, the
same notifications, each command applied once, and `audit.verify` finds the read models equal to
a rebuild from the histories.
"""

from __future__ import annotations

import asyncio
from functools import partial

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory

from bench.localstack import WorkerProcess
from commands.base import CommandContext
from domain.complaint import Stage
from tests.faults.checks import (
    final_state,
    histories,
    listed,
    projected,
    trouble,
    updates_accepted,
    verified,
)
from tests.faults.conftest import FaultStack
from tests.faults.drive import (
    Progress,
    bounded,
    drive,
    lifecycle,
    open_complaint,
    reached_or_failed,
    wave,
)

COMPLAINTS = 200
IN_FLIGHT = 50  # commands outstanding at once: enough that the kill interrupts dozens
KILL_AT = 0.5  # the share of the `resolve` wave answered when the worker is killed


def disturbed(history: WorkflowHistory) -> bool:
    """Whether the kill touched this run: a workflow task that timed out, or an activity that
    needed another attempt."""
    for e in history.events:
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
            return True
        if (
            e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
            and e.activity_task_started_event_attributes.attempt > 1
        ):
            return True
    return False


async def test_a_sigkilled_worker_loses_nothing_and_doubles_nothing(
    stack: FaultStack, client: Client, ctx: CommandContext, worker: WorkerProcess
) -> None:
    # One complaint driven undisturbed first: what every other one must look like afterwards.
    await open_complaint(ctx, "control")
    await drive(ctx, "control", lifecycle())

    ids = [f"kill-{n:03d}" for n in range(COMPLAINTS)]
    opens = [partial(open_complaint, ctx, cid, on_matter=n % 2 == 0) for n, cid in enumerate(ids)]
    await bounded(opens, IN_FLIGHT)
    (assess, assess_body), (investigate, investigate_body), resolve, follow_up = lifecycle()
    await wave(ctx, assess, assess_body, ids, IN_FLIGHT)
    await wave(ctx, investigate, investigate_body, ids, IN_FLIGHT)

    progress = Progress()
    resolving = wave(ctx, *resolve, ids, IN_FLIGHT, progress)
    await reached_or_failed(progress, int(COMPLAINTS * KILL_AT), resolving)
    worker.kill()
    answered_before_kill = progress.done
    # Queries on closed complaints replay them, so the replacement serves the checks too.
    replacement = stack.worker("replacement")
    await asyncio.to_thread(replacement.start)
    try:
        await resolving
        assert answered_before_kill < COMPLAINTS, "the whole wave was answered before the kill"
        answers = await wave(ctx, *follow_up, ids, IN_FLIGHT)
        assert [a["stage"] for a in answers] == [Stage.CLOSED.value] * COMPLAINTS
        await check(stack, client, ids)
    finally:
        replacement.stop()


async def check(stack: FaultStack, client: Client, ids: list[str]) -> None:
    await listed(client, "ExecutionStatus='Running'", 0)
    runs = await histories(client)
    assert [t for h in runs for t in trouble(h)] == []
    complaint_runs = [h for h in runs if h.workflow_id.startswith("complaint-kill-")]
    assert len(complaint_runs) == COMPLAINTS
    assert any(disturbed(h) for h in complaint_runs), "the kill interrupted nothing"
    control_run = next(h for h in runs if h.workflow_id == "complaint-control")
    once_each = updates_accepted(control_run)
    assert {h.workflow_id: updates_accepted(h) for h in complaint_runs} == {
        h.workflow_id: once_each for h in complaint_runs
    }

    control = projected(stack.engine, "control")
    assert control["stage"] == Stage.CLOSED.value
    finals = await bounded([partial(final_state, client, f"complaint-{cid}") for cid in ids], 20)
    assert {f.stage for f in finals} == {Stage.CLOSED}
    for cid in ids:
        assert projected(stack.engine, cid) == control, cid

    report = await verified(client, stack.engine, stack.keyring)
    assert report.compared["complaints"] == COMPLAINTS + 1
