"""Against the real dev server: a payload opens only in the namespace and workflow it was
written for (infra.codec). Ciphertext lifted from one workflow's history and fed to another as
its start input or a signal makes that workflow's task fail with the codec's refusal (its code
never sees the moved data), while what the SDK legitimately moves between workflows — a child's
input and result, a signal through an external handle, continue-as-new, an activity's heartbeat
carried to its retry, a workflow failure, update-with-start, a query, a schedule's input and the
previous scheduled run's result — all still open, live and on replay."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.common.v1 import Payload, Payloads, WorkflowExecution, WorkflowType
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    RegisterNamespaceRequest,
    SignalWorkflowExecutionRequest,
    StartWorkflowExecutionRequest,
)
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleBackfill,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    ScheduleSpec,
    ScheduleState,
    WithStartWorkflowOperation,
    WorkflowFailureError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.converter import WorkflowSerializationContext
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from audit import plaintext, replay
from audit.payloads import payloads_in
from infra.codec import EncryptionCodec, PayloadPlace
from tests.security.place_probes import (
    FamilyInput,
    FamilyProbeWorkflow,
    FamilyResult,
    ScheduledProbeWorkflow,
    probe_resume,
)
from tests.security.probe_app import Confirm, Note, Person, ProbeInput, probe_greet, probe_reject
from tests.security.probe_workflows import PiiProbeWorkflow, WaitForNoteWorkflow

STARTED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
SIGNALED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
TASK_FAILED = EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
TASK_COMPLETED = EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED


@asynccontextmanager
async def _worker(client: Client, task_queue: str) -> AsyncIterator[Worker]:
    with ThreadPoolExecutor(max_workers=4) as executor:
        worker = Worker(
            client,
            task_queue=task_queue,
            workflows=[
                WaitForNoteWorkflow,
                PiiProbeWorkflow,
                FamilyProbeWorkflow,
                ScheduledProbeWorkflow,
            ],
            activities=[probe_greet, probe_reject, probe_resume],
            activity_executor=executor,
        )
        async with worker:
            yield worker


def _id(kind: str) -> str:
    return f"place-{kind}-{uuid.uuid4().hex[:10]}"


async def _events(client: Client, workflow_id: str) -> list[HistoryEvent]:
    return list((await client.get_workflow_handle(workflow_id).fetch_history()).events)


def _encrypted(event: HistoryEvent) -> list[Payload]:
    return [p for p in payloads_in(event) if EncryptionCodec.is_encrypted(p)]


async def _task_failure(client: Client, workflow_id: str) -> tuple[str, list[HistoryEvent]]:
    """The message of the workflow's first failed task, decoded as its worker encoded it."""
    converter = client.data_converter.with_context(
        WorkflowSerializationContext(client.namespace, workflow_id)
    )
    for _ in range(100):
        events = await _events(client, workflow_id)
        failed = [e for e in events if e.event_type == TASK_FAILED]
        if failed:
            error = await converter.decode_failure(
                failed[0].workflow_task_failed_event_attributes.failure
            )
            return str(error), events
        await asyncio.sleep(0.2)
    raise AssertionError(f"{workflow_id}: no workflow task failed")


async def _raw_start(client: Client, workflow_id: str, task_queue: str, payload: Payload) -> None:
    """A start as any holder of the namespace could send it: the payload as given, no codec."""
    await client.workflow_service.start_workflow_execution(
        StartWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_id=workflow_id,
            workflow_type=WorkflowType(name="WaitForNoteWorkflow"),
            task_queue=TaskQueue(name=task_queue),
            input=Payloads(payloads=[payload]),
            request_id=str(uuid.uuid4()),
            identity="transplant-test",
        )
    )


async def test_ciphertext_moved_into_another_workflow_is_refused_and_never_runs(
    dev_env: WorkflowEnvironment, task_queue: str, person: Person
) -> None:
    client = dev_env.client
    source = _id("source")
    async with _worker(client, task_queue):
        handle = await client.start_workflow(
            WaitForNoteWorkflow.run, f"file of {person.name}", id=source, task_queue=task_queue
        )
        await handle.signal(WaitForNoteWorkflow.note, f"call {person.phone}")
        assert await handle.result() == f"file of {person.name} / call {person.phone}"
        events = await _events(client, source)
        [stolen_input] = _encrypted(next(e for e in events if e.event_type == STARTED))
        [stolen_signal] = _encrypted(next(e for e in events if e.event_type == SIGNALED))
        for payload in (stolen_input, stolen_signal):
            assert EncryptionCodec.place_of(payload) == PayloadPlace(client.namespace, source)

        # the start input, as another workflow's start: its first task fails, nothing runs
        target = _id("target")
        await _raw_start(client, target, task_queue, stolen_input)
        message, events = await _task_failure(client, target)
        assert "ciphertext moved between places" in message
        assert f"bound to workflow {source!r}" in message
        assert all(secret not in message for secret in person.secrets())
        assert TASK_COMPLETED not in {e.event_type for e in events}
        await client.get_workflow_handle(target).terminate("test: refused as it should be")

        # the same raw start with a payload written for it runs: only the place was wrong
        control = _id("control")
        [fresh] = await client.data_converter.with_context(
            WorkflowSerializationContext(client.namespace, control)
        ).encode(["own input"])
        await _raw_start(client, control, task_queue, fresh)
        await client.get_workflow_handle(control).signal(WaitForNoteWorkflow.note, "own note")
        assert await client.get_workflow_handle(control).result() == "own input / own note"

        # the signal, sent to a running workflow: the task that would deliver it fails
        running = await client.start_workflow(
            WaitForNoteWorkflow.run, "waiting", id=_id("signalled"), task_queue=task_queue
        )
        for _ in range(100):  # waiting for its note: a reset can go back to that task
            if TASK_COMPLETED in {e.event_type for e in await _events(client, running.id)}:
                break
            await asyncio.sleep(0.1)
        await client.workflow_service.signal_workflow_execution(
            SignalWorkflowExecutionRequest(
                namespace=client.namespace,
                workflow_execution=WorkflowExecution(workflow_id=running.id),
                signal_name="note",
                input=Payloads(payloads=[stolen_signal]),
                identity="transplant-test",
                request_id=str(uuid.uuid4()),
            )
        )
        message, _ = await _task_failure(client, running.id)
        assert "ciphertext moved between places" in message
        assert (await running.describe()).status.name == "RUNNING"  # the note never arrived
        # the operator's remedy, as for a payload in clear: find it, reset to before it
        [found] = await plaintext.find(client, running.id)
        assert (found.kind, found.name, found.plaintext, found.moved) == (
            "signal",
            "note",
            False,
            True,
        )
        repaired = await plaintext.repair(client, running.id, "test: moved signal")
        assert [(d.name, d.moved) for d in repaired.dropped] == [("note", True)]
        latest = client.get_workflow_handle(running.id)  # the reset's new run
        await latest.signal(WaitForNoteWorkflow.note, "its own note")
        assert await latest.result() == "waiting / its own note"


def _places(events: list[HistoryEvent]) -> set[PayloadPlace | None]:
    return {EncryptionCodec.place_of(p) for e in events for p in _encrypted(e)}


async def test_what_the_sdk_moves_between_workflows_still_opens(
    dev_env: WorkflowEnvironment, task_queue: str, person: Person
) -> None:
    client, ns = dev_env.client, dev_env.client.namespace
    parent = _id("family")
    async with _worker(client, task_queue):
        # continue-as-new, a child, a signal to it through an external handle, a heartbeat
        handle = await client.start_workflow(
            FamilyProbeWorkflow.run, FamilyInput(text=person.name), id=parent, task_queue=task_queue
        )
        assert await handle.result() == FamilyResult(
            child=f"child of {person.name} / note for {person.name}",
            resumed=f"heartbeat of {person.name}",
            runs=2,
        )
        child = f"{parent}-child"
        # a query (its argument and answer bound too) of the closed run, which the worker replays
        said = await handle.query(FamilyProbeWorkflow.said, "q: ")
        assert said == f"q: child of {person.name} / note for {person.name}"
        parent_events = await _events(client, parent)
        child_events = await _events(client, child)
        assert _places(parent_events) == {PayloadPlace(ns, parent), PayloadPlace(ns, child)}
        assert _places(child_events) == {PayloadPlace(ns, child)}
        for events in (parent_events, child_events):
            assert TASK_FAILED not in {e.event_type for e in events}

        # update-with-start, a signal, activities (one failing), a workflow failure
        probe = _id("probe")
        start = WithStartWorkflowOperation(
            PiiProbeWorkflow.run,
            ProbeInput(client_id="C-PLACE", person=person, fail=True),
            id=probe,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            task_queue=task_queue,
        )
        ack = await client.execute_update_with_start_workflow(
            PiiProbeWorkflow.confirm,
            Confirm(by="A-7", text=f"spoke to {person.name}"),
            start_workflow_operation=start,
        )
        assert ack.text == f"confirmed: spoke to {person.name}"
        probe_handle = await start.workflow_handle()
        await probe_handle.signal(PiiProbeWorkflow.add_note, Note(text="note"))
        with pytest.raises(WorkflowFailureError) as failed:
            await probe_handle.result()
        assert str(failed.value.cause) == f"refused ID {person.id_number}, phone {person.phone}"
        probe_events = await _events(client, probe)
        assert _places(probe_events) == {PayloadPlace(ns, probe)}
        assert TASK_FAILED not in {e.event_type for e in probe_events}

        # replayed where they were written; the SDK's own replay namespace is another place
        histories = [
            await client.get_workflow_handle(w).fetch_history() for w in (parent, child, probe)
        ]
        workflows = [FamilyProbeWorkflow, WaitForNoteWorkflow, PiiProbeWorkflow]
        here = Replayer(workflows=workflows, data_converter=client.data_converter, namespace=ns)
        for history in histories:
            await here.replay_workflow(history)
        elsewhere = Replayer(workflows=workflows, data_converter=client.data_converter)
        result = await elsewhere.replay_workflow(histories[0], raise_on_replay_failure=False)
        # the core reports the failed activation; its (encrypted) failure is the refusal, and
        # the auditor's finding names its type
        assert result.replay_failure is not None
        finding = replay._finding(histories[0], result.replay_failure)
        assert finding.kind == "failure" and "PayloadPlaceError" in finding.message


async def test_a_schedules_runs_open_its_input_and_the_previous_runs_result(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    client, ns = dev_env.client, dev_env.client.namespace
    schedule_id = _id("schedule")
    action = ScheduleActionStartWorkflow(
        ScheduledProbeWorkflow.run, "tick", id=schedule_id, task_queue=task_queue
    )
    hourly = ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))])
    schedule = await client.create_schedule(
        schedule_id, Schedule(action=action, spec=hourly, state=ScheduleState(paused=True))
    )
    hour_before = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)

    async def ran(runs: list[str], expected: str) -> None:
        for _ in range(100):
            recent = (await schedule.describe()).info.recent_actions
            if len(recent) > len(runs):
                break
            await asyncio.sleep(0.2)
        run = recent[-1].action.workflow_id
        assert await client.get_workflow_handle(run).result() == expected, run
        runs.append(run)

    try:
        async with _worker(client, task_queue):
            runs: list[str] = []
            for expected in ("tick#1", "tick#2"):
                await asyncio.sleep(1.1)  # runs are named by the second they were due
                await schedule.trigger()
                await ran(runs, expected)
            # a backfill of an earlier hour, run after them: this server hands it no result
            await schedule.backfill(
                ScheduleBackfill(
                    start_at=hour_before - timedelta(minutes=1),
                    end_at=hour_before + timedelta(minutes=1),
                    overlap=ScheduleOverlapPolicy.ALLOW_ALL,
                )
            )
            await ran(runs, "tick#1")
    finally:
        await schedule.delete()
    for run in runs:
        assert re.fullmatch(rf"{schedule_id}-\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ", run), run
    assert runs[2] == f"{schedule_id}-{hour_before.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    histories = [await _events(client, run) for run in runs]
    # the SDK bound the input to the action's id; the server handed run two run one's result
    for events in histories:
        started = events[0].workflow_execution_started_event_attributes
        assert EncryptionCodec.place_of(started.input.payloads[0]) == PayloadPlace(ns, schedule_id)
        assert TASK_FAILED not in {e.event_type for e in events}
    second = histories[1][0].workflow_execution_started_event_attributes
    assert EncryptionCodec.place_of(second.last_completion_result.payloads[0]) == PayloadPlace(
        ns, runs[0]
    )
    backfilled = histories[2][0].workflow_execution_started_event_attributes
    assert not backfilled.HasField("last_completion_result")


async def test_ciphertext_of_another_namespace_is_refused_under_the_same_workflow_id(
    dev_env: WorkflowEnvironment, task_queue: str, person: Person
) -> None:
    """Same key ring, same workflow id, another namespace: only the namespace differs."""
    namespace = f"place-{uuid.uuid4().hex[:8]}"
    await dev_env.client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=namespace, workflow_execution_retention_period=Duration(seconds=86400)
        )
    )
    other = await Client.connect(
        dev_env.client.service_client.config.target_host,
        namespace=namespace,
        data_converter=dev_env.client.data_converter,
    )
    workflow_id = _id("twin")
    async with _worker(dev_env.client, task_queue):
        handle = await dev_env.client.start_workflow(
            WaitForNoteWorkflow.run, f"file of {person.name}", id=workflow_id, task_queue=task_queue
        )
        events = await _events(dev_env.client, workflow_id)
        [stolen] = _encrypted(next(e for e in events if e.event_type == STARTED))
        await handle.terminate("test: source taken")
    async with _worker(other, task_queue):
        await _raw_start(other, workflow_id, task_queue, stolen)
        message, events = await _task_failure(other, workflow_id)
        assert f"in namespace {dev_env.client.namespace!r}, not to {workflow_id!r} in" in message
        assert TASK_COMPLETED not in {e.event_type for e in events}
        await other.get_workflow_handle(workflow_id).terminate("test: refused as it should be")
