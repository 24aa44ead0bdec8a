"""What every fault test asserts afterwards: the histories are clean, the workflows answer, and
the read models equal what the histories say (`audit.verify`, the auditor's own comparison)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from sqlalchemy import Engine, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistory

from audit.sources import on_server
from audit.verify import VerifyReport, verify
from domain.complaint_state import Complaint
from infra.keys import KeyRing
from projections.tables import complaint_events, complaints, notifications
from workflows.complaint import ComplaintWorkflow

BAD_TASKS = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED: "workflow task failed",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: "workflow failed",
}


def trouble(history: WorkflowHistory) -> list[str]:
    """What went wrong in a history: failed workflow tasks or a failed execution. (Timed-out
    workflow tasks are expected after a SIGKILL: a dead worker never answers.)"""
    return [
        f"{history.workflow_id} event {e.event_id}: {BAD_TASKS[e.event_type]}"
        for e in history.events
        if e.event_type in BAD_TASKS
    ]


async def histories(client: Client, query: str = "") -> list[WorkflowHistory]:
    """Every run the query lists (closed continued-as-new runs included)."""
    listed = [(e.id, e.run_id) async for e in client.list_workflows(query)]
    return list(
        await asyncio.gather(
            *(client.get_workflow_handle(wid, run_id=rid).fetch_history() for wid, rid in listed)
        )
    )


async def listed(client: Client, query: str, count: int) -> None:
    """Waits (up to a minute, a liveness bound) until visibility lists `count` runs: workflows
    finish after their last answer, and the dev server indexes asynchronously."""
    for _ in range(600):
        if (await client.count_workflows(query)).count == count:
            return
        await asyncio.sleep(0.1)
    found = (await client.count_workflows(query)).count
    raise AssertionError(f"visibility lists {found} runs for {query!r}, expected {count}")


def updates_accepted(history: WorkflowHistory) -> Counter[str]:
    """How many times each update was accepted: a command applied twice shows up here."""
    accepted = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    return Counter(
        e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        for e in history.events
        if e.event_type == accepted
    )


async def final_state(client: Client, workflow_id: str) -> Complaint:
    """The result a completed complaint's history records, once a query (a replay of that
    history on the current worker) answers the same."""
    handle = client.get_workflow_handle(workflow_id, result_type=Complaint)
    description = await handle.describe()
    assert description.status == WorkflowExecutionStatus.COMPLETED, (workflow_id, description)
    recorded = (await handle.result()).model_dump()
    queried = (await handle.query(ComplaintWorkflow.state)).model_dump()
    differ = {k: (v, queried[k]) for k, v in recorded.items() if queried[k] != v}
    assert not differ, f"{workflow_id}: recorded result vs query: {differ}"
    return Complaint.model_validate(recorded)


def projected(engine: Engine, complaint_id: str) -> dict[str, Any]:
    """The complaint's read-model row, its event kinds by seq and its notification templates."""
    with engine.connect() as conn:
        row = conn.execute(
            select(complaints.c.stage, complaints.c.seq).where(
                complaints.c.complaint_id == complaint_id
            )
        ).one()
        events = conn.execute(
            select(complaint_events.c.seq, complaint_events.c.kind)
            .where(complaint_events.c.complaint_id == complaint_id)
            .order_by(complaint_events.c.seq)
        ).all()
        sent = conn.execute(
            select(notifications.c.template).where(
                notifications.c.workflow_id == f"complaint-{complaint_id}"
            )
        ).scalars()
        return {
            "stage": row.stage,
            "seq": row.seq,
            "events": [(e.seq, e.kind) for e in events],
            "notifications": sorted(sent),
        }


async def verified(client: Client, engine: Engine, keyring: KeyRing) -> VerifyReport:
    """Rebuilds every read model from every history in the namespace and compares."""
    report = await verify(await on_server(client), engine, keyring, schema="fault_verify")
    assert report.ok, report.as_text()
    return report
