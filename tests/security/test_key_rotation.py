"""Key rotation through a real workflow: the new key encrypts, the old one still decrypts, and a
ring without the old key fails loudly instead of running on plaintext or garbage."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import History
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from infra.codec import EncryptionCodec
from infra.keys import KeyRing, KeyRingError, new_key_entry
from infra.temporal import data_converter
from tests.security.conftest import probe_worker
from tests.security.probe_workflows import WaitForNoteWorkflow

OLD = new_key_entry("old")
NEW = new_key_entry("new")


def _client(env: WorkflowEnvironment, ring: str) -> Client:
    return Client(
        env.client.service_client,
        namespace=env.client.namespace,
        data_converter=data_converter(KeyRing.parse(ring)),
    )


def _kid(payloads: object) -> str:
    return EncryptionCodec.key_id(payloads.payloads[0])  # type: ignore[attr-defined]


async def _history(client: Client, workflow_id: str) -> History:
    fetched = await client.get_workflow_handle(workflow_id).fetch_history()
    return History(events=fetched.events)


async def test_rotated_ring_reads_old_payloads_and_writes_new_ones(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    before, after = _client(dev_env, OLD), _client(dev_env, f"{NEW},{OLD}")
    workflow_id = f"rotation-{uuid.uuid4().hex[:8]}"
    async with probe_worker(before, task_queue):
        await before.start_workflow(
            WaitForNoteWorkflow.run, "written under old", id=workflow_id, task_queue=task_queue
        )
    # the rotation: new primary first, the old key kept for what it encrypted
    async with probe_worker(after, task_queue):
        handle = after.get_workflow_handle(workflow_id)
        await handle.signal(WaitForNoteWorkflow.note, "written under new")
        assert await handle.result() == "written under old / written under new"

    events = (await _history(after, workflow_id)).events
    started = events[0].workflow_execution_started_event_attributes
    signalled = next(
        e for e in events if e.HasField("workflow_execution_signaled_event_attributes")
    )
    completed = events[-1].workflow_execution_completed_event_attributes
    assert _kid(started.input) == "old"
    assert _kid(signalled.workflow_execution_signaled_event_attributes.input) == "new"
    assert _kid(completed.result) == "new"
    assert await after.data_converter.decode(started.input.payloads) == ["written under old"]


async def test_a_ring_without_the_old_key_fails_loudly(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    writer, reader = _client(dev_env, OLD), _client(dev_env, NEW)
    workflow_id = f"rotation-lost-{uuid.uuid4().hex[:8]}"
    await writer.start_workflow(
        WaitForNoteWorkflow.run, "written under old", id=workflow_id, task_queue=task_queue
    )
    started = (await _history(reader, workflow_id)).events[0]
    with pytest.raises(KeyRingError, match="no key with id 'old'"):
        await reader.data_converter.decode(
            started.workflow_execution_started_event_attributes.input.payloads
        )

    # a worker holding only the new key refuses the workflow task rather than running on it
    async with probe_worker(reader, task_queue):
        failed = None
        for _ in range(100):
            events = (await _history(reader, workflow_id)).events
            failed = next(
                (e for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED),
                None,
            )
            if failed:
                break
            await asyncio.sleep(0.1)
    assert failed is not None, "the workflow task should have failed"
    kinds = {e.event_type for e in events}
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED not in kinds
    error = await reader.data_converter.decode_failure(
        failed.workflow_task_failed_event_attributes.failure
    )
    assert "no key with id 'old'" in str(error)
    await writer.get_workflow_handle(workflow_id).terminate()
