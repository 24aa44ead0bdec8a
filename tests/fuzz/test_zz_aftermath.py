"""After the fuzzers (this module runs last): every workflow they started or touched, running or
ended, has no failed workflow task, none pending and retrying, and answers a query."""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowQueryFailedError
from temporalio.service import RPCError

from tests.fuzz.rig import FuzzRig

QUERIES = {
    "ComplaintWorkflow": "state",
    "ClientServiceWorkflow": "view",
    "ClientEventWorkflow": "view",
    "ComplaintMatterWorkflow": "owner",
    "DataSubjectRequestWorkflow": "state",
}
STACK_TRACE = "__stack_trace"  # built in: any workflow answers it once a worker replays it


async def failure_text(client: Client, event: HistoryEvent) -> str:
    """The failure's message; payloads and failures are encrypted, so it is decoded first."""
    failure = event.workflow_task_failed_event_attributes.failure
    return str(await client.data_converter.decode_failure(failure))[:300]


async def health(client: Client, workflow_id: str, run_id: str, kind: str) -> list[str]:
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    problems = [
        f"{workflow_id}: workflow task failed: {await failure_text(client, e)}"
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    ]
    description = await handle.describe()
    pending = description.raw_description.pending_workflow_task
    if description.status == WorkflowExecutionStatus.RUNNING and pending.attempt > 1:
        problems.append(f"{workflow_id}: workflow task on attempt {pending.attempt}")
    if description.status == WorkflowExecutionStatus.FAILED:
        problems.append(f"{workflow_id}: failed")
    try:
        await handle.query(QUERIES.get(kind, STACK_TRACE))
    except (RPCError, WorkflowQueryFailedError) as err:
        problems.append(f"{workflow_id}: does not answer a query: {err}")
    return problems


async def test_every_fuzzed_workflow_is_healthy_and_answers(rig: FuzzRig) -> None:
    client = rig.ctx.client
    runs = [(e.id, e.run_id, e.workflow_type) async for e in client.list_workflows()]
    assert len(runs) > 50, "the fuzzers started almost nothing"
    problems = [p for run in runs for p in await health(client, *run)]
    assert problems == []
