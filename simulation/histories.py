"""Keeping the simulated year's histories: the time-skipping server lists nothing and forgets
everything when it stops, so every workflow the year starts is noted as it starts, and each
one's whole continue-as-new chain is written out as JSON before the server goes.

The files are what `temporal workflow show --output json` writes (payloads still encrypted), so
`auditor.py replay --history-dir` and `verify-projections --history-dir` read them as they
would a real export.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, WorkflowExecutionStatus
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import (
    Interceptor,
    OutboundInterceptor,
    StartWorkflowInput,
    StartWorkflowUpdateWithStartInput,
)
from temporalio.service import RPCError, RPCStatusCode

from audit import sources
from infra.concurrency import gather_bounded


class StartedWorkflows(Interceptor):
    """A client interceptor noting the id of every workflow started through the client."""

    def __init__(self) -> None:
        self.ids: set[str] = set()

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _Noting(next, self.ids)


class _Noting(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, ids: set[str]) -> None:
        super().__init__(next)
        self._ids = ids

    async def start_workflow(self, input: StartWorkflowInput) -> Any:
        self._ids.add(input.id)
        return await super().start_workflow(input)

    async def start_update_with_start_workflow(
        self, input: StartWorkflowUpdateWithStartInput
    ) -> Any:
        self._ids.add(input.start_workflow_input.id)
        return await super().start_update_with_start_workflow(input)


async def with_children(client: Any, workflow_ids: set[str]) -> set[str]:
    """The workflows and every child they started, transitively: a matter's registry starts
    its complaints itself, so the client never saw those starts."""
    found = set(workflow_ids)
    todo = sorted(found)
    while todo:
        children = await gather_bounded(todo, partial(_children, client), 8)
        todo = sorted({c for cs in children for c in cs} - found)
        found.update(todo)
    return found


async def _children(client: Any, workflow_id: str) -> list[str]:
    started = EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED
    try:
        return [
            e.child_workflow_execution_started_event_attributes.workflow_execution.workflow_id
            async for e in client.get_workflow_handle(workflow_id).fetch_history_events()
            if e.event_type == started
        ]
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:  # a start that was refused
            return []
        raise


async def settle(client: Any, workflow_ids: set[str], patience: float = 60.0) -> None:
    """Waits (wall clock; the simulated clock stands still meanwhile) until no workflow has a
    workflow task or an activity in flight, so that stopping the worker strands nothing its
    history already promises (an activity scheduled but never run would be in the history and
    missing from the read models)."""
    busy = set(workflow_ids)
    deadline = asyncio.get_running_loop().time() + patience
    while busy:
        ordered = sorted(busy)
        flags = await gather_bounded(ordered, partial(_in_flight, client), 8)
        busy = {w for w, flag in zip(ordered, flags, strict=True) if flag}
        if busy and asyncio.get_running_loop().time() > deadline:
            raise RuntimeError(f"{len(busy)} workflow(s) still busy after {patience}s")
        if busy:
            await asyncio.sleep(0.2)


_TASK_PENDING = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
}


async def _in_flight(client: Any, workflow_id: str) -> bool:
    """Asks the raw describe call (the SDK's `describe()` also decodes search attributes, which
    the time-skipping server returns in a form it rejects), and the history's last event,
    because that server does not report a pending workflow task in the description."""
    described = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
        )
    )
    if described.pending_activities or described.HasField("pending_workflow_task"):
        return True
    if (
        described.workflow_execution_info.status
        != WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING
    ):
        return False
    last = None
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        last = event.event_type
    return last in _TASK_PENDING


def file_name(workflow_id: str, run_number: int) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in workflow_id)
    return f"{safe}.run{run_number:02d}.json"


async def export_all(
    client: Any,
    workflow_ids: set[str],
    out_dir: Path,
    advance: Callable[..., None] | None = None,
    concurrency: int = 8,
) -> int:
    """Writes every run of every workflow in `workflow_ids` to `out_dir`; returns the run count."""
    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)

    async def one(workflow_id: str) -> int:
        runs = await sources.chain(client, workflow_id)
        for number, history in enumerate(runs, start=1):
            text = await sources.saved_json(history, None)
            await asyncio.to_thread((out_dir / file_name(workflow_id, number)).write_text, text)
        if advance is not None:
            advance()
        return len(runs)

    return sum(await gather_bounded(sorted(workflow_ids), one, concurrency))
