"""Complaints on a task queue of their own (`TEMPORAL_COMPLAINT_TASK_QUEUE`), served by a worker
pool of their own (`WORKER_SERVES=complaints`), while a second `worker.py` serves client
service (`WORKER_SERVES=service`): every task of a complaint's lifecycle (its workflow tasks and
its activities) is taken by the complaint pool and none by the other, a client's by the service
pool; and with the complaint pool stopped, client service goes on and a complaint waits for its
own pool instead of being served by the other.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import uuid

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench.localstack import WorkerProcess
from commands import clients
from commands.base import CommandContext
from domain.complaint import Stage
from domain.complaint_state import Complaint
from domain.policy import Policy
from infra.settings import Settings, SettingsError
from tests.faults.checks import trouble
from tests.faults.conftest import FaultStack
from tests.faults.drive import command, lifecycle, open_complaint
from tests.workflows.test_client_support import client_body
from worker import served_queues
from workflows.complaint import ComplaintWorkflow
from workflows.complaint_models import matter_workflow_id

SERVICE, COMPLAINTS = "cq-service", "cq-complaints"
HOST = socket.gethostname()


def split_env(serves: str) -> dict[str, str]:
    return {
        "TEMPORAL_COMPLAINT_TASK_QUEUE": COMPLAINTS,
        "WORKER_SERVES": serves,
        "TEMPORAL_WORKER_SET_CURRENT": "always",
    }


async def taken_by(client: Client, workflow_id: str) -> tuple[set[str], set[str]]:
    """(identities that took its workflow and activity tasks, queues its activities went to)."""
    who: set[str] = set()
    queues: set[str] = set()
    async for e in client.get_workflow_handle(workflow_id).fetch_history_events():
        # the completion names the worker: an update's speculative task is recorded as started
        # with no identity
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            who.add(e.workflow_task_completed_event_attributes.identity)
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            who.add(e.activity_task_started_event_attributes.identity)
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            queues.add(e.activity_task_scheduled_event_attributes.task_queue.name)
    return who, queues


async def acknowledged(client: Client, workflow_id: str, within: float = 120) -> None:
    """Until the complaint has left intake (generous: a loaded machine slows every worker)."""
    handle = client.get_workflow_handle(workflow_id)
    async with asyncio.timeout(within):
        while True:
            state = await handle.query(ComplaintWorkflow.state, result_type=Complaint)
            if state.stage is not Stage.INTAKE:
                return
            await asyncio.sleep(0.2)


def test_which_queues_a_worker_polls() -> None:
    one = Settings(temporal_task_queue="q")
    assert served_queues(one) == ["q"]
    split = Settings(temporal_task_queue="q", temporal_complaint_task_queue="c")
    assert served_queues(split) == ["c", "q"]  # the complaint queue's worker entered first
    assert served_queues(split.model_copy(update={"worker_serves": "service"})) == ["q"]
    assert served_queues(split.model_copy(update={"worker_serves": "complaints"})) == ["c"]
    same = Settings(temporal_task_queue="q", temporal_complaint_task_queue="q")
    assert served_queues(same) == ["q"]
    for lone in (one, same):
        with pytest.raises(SettingsError, match="TEMPORAL_COMPLAINT_TASK_QUEUE"):
            served_queues(lone.model_copy(update={"worker_serves": "complaints"}))


async def test_complaints_run_on_their_own_pool_and_client_service_on_the_other(
    stack: FaultStack, client: Client
) -> None:
    endpoints = dataclasses.replace(stack.endpoints, task_queue=SERVICE)
    service = WorkerProcess(endpoints, stack.workdir, "service-pool")
    complaints = WorkerProcess(endpoints, stack.workdir, "complaint-pool")
    ctx = CommandContext(
        client=client,
        policy=Policy(),
        task_queue=SERVICE,
        complaint_task_queue=COMPLAINTS,
        engine=stack.engine,
    )
    service.start(**split_env("service"))
    complaints.start(**split_env("complaints"))
    try:
        service_id, complaint_id = f"{service.pid}@{HOST}", f"{complaints.pid}@{HOST}"
        client_id = f"cq-{uuid.uuid4().hex[:8]}"
        await clients.onboard(ctx, None, client_body(client_id))
        complaint = f"cq-{uuid.uuid4().hex[:8]}"
        opened = await open_complaint(ctx, complaint, on_matter=True)  # registry and child too
        await acknowledged(client, opened["workflow_id"])  # by the complaint pool
        for verb, body in lifecycle():
            await command(ctx, verb, complaint, body)
        described = await client.get_workflow_handle(opened["workflow_id"]).describe()
        assert described.task_queue == COMPLAINTS
        who, queues = await taken_by(client, opened["workflow_id"])
        assert who == {complaint_id} and queues == {COMPLAINTS}
        who, queues = await taken_by(client, f"client-{client_id}")
        assert who == {service_id} and queues == {SERVICE}

        # Without its pool a complaint waits (the open answers with the receipt alone), while
        # client service goes on; the pool back, the waiting complaint is acknowledged.
        complaints.stop()
        waiting = f"cq-{uuid.uuid4().hex[:8]}"
        receipt = await open_complaint(ctx, waiting)
        assert receipt["stage"] == "intake"
        other = f"cq-{uuid.uuid4().hex[:8]}"
        await clients.onboard(ctx, None, client_body(other))
        complaints.start(**split_env("complaints"))
        pool = {complaint_id, f"{complaints.pid}@{HOST}"}  # the pool before and after
        await acknowledged(client, receipt["workflow_id"])
        who, _ = await taken_by(client, receipt["workflow_id"])
        assert who and who <= pool
        # the registry may still be finishing when the pool stops: the pool's next worker ends it
        who, _ = await taken_by(client, matter_workflow_id(f"cl-{complaint}:fees"))
        assert who and who <= pool
        for wid in (opened["workflow_id"], receipt["workflow_id"], f"client-{client_id}"):
            history = await client.get_workflow_handle(wid).fetch_history()
            assert trouble(history) == []
    finally:
        service.stop()
        complaints.stop()
