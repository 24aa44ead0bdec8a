"""Against the real dev server: every payload Temporal stores for us is ciphertext.

One probe workflow writes personal data through each kind of payload (start input, memo, static
summary and details, memo upsert, timer and activity summaries, activity input and result, an
activity failure with details, a signal, an update and its result, the workflow result or its
failure); the history must hold none of it in clear, yet the same client decrypts all of it.
"""

from __future__ import annotations

import json
import uuid

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import History
from temporalio.client import WorkflowFailureError
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from infra.codec import EncryptionCodec
from tests.security.conftest import probe_worker
from tests.security.pii_scan import (
    captured_logs,
    iter_failures,
    scan_history,
    scan_workflow,
    unencrypted_payloads,
)
from tests.security.probe_app import Confirm, Note, Person, ProbeInput
from tests.security.probe_workflows import PiiProbeWorkflow
from workflows.search_attributes import CLIENT_ID

# Each of these events carries payloads in the probe's history; a missing one would mean the
# test stopped checking that kind of payload.
EXPECTED_EVENTS = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED,
    EventType.EVENT_TYPE_TIMER_STARTED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
}


async def _run_probe(env: WorkflowEnvironment, task_queue: str, person: Person, fail: bool):
    client = env.client
    workflow_id = f"probe-{uuid.uuid4().hex[:12]}"
    async with probe_worker(client, task_queue):
        handle = await client.start_workflow(
            PiiProbeWorkflow.run,
            ProbeInput(client_id="C-PROBE", person=person, fail=fail),
            id=workflow_id,
            task_queue=task_queue,
            memo={"intake": {"email": person.email}},
            static_summary=f"client {person.name}",
            static_details=f"ID {person.id_number}, phone {person.phone}",
            search_attributes=TypedSearchAttributes([SearchAttributePair(CLIENT_ID, "C-PROBE")]),
        )
        await handle.signal(PiiProbeWorkflow.add_note, Note(text=f"prefers {person.phone}"))
        ack = await handle.execute_update(
            PiiProbeWorkflow.confirm, Confirm(by="A-7", text=f"spoke to {person.name}")
        )
        assert ack.text == f"confirmed: spoke to {person.name}"
        if fail:
            with pytest.raises(WorkflowFailureError) as failed:
                await handle.result()
            outcome: object = failed.value.cause
        else:
            outcome = await handle.result()
    history = await handle.fetch_history()
    return handle, History(events=history.events), outcome


@pytest.mark.parametrize("fail", [False, True], ids=["completes", "fails"])
async def test_every_payload_in_the_history_is_ciphertext(
    dev_env: WorkflowEnvironment, task_queue: str, person: Person, fail: bool
) -> None:
    with captured_logs() as logs:
        handle, history, outcome = await _run_probe(dev_env, task_queue, person, fail)

    kinds = {e.event_type for e in history.events}
    assert EXPECTED_EVENTS <= kinds
    final = (
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED
        if fail
        else EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    )
    assert final in kinds

    # user metadata is there, and encrypted like any payload
    started = history.events[0].workflow_execution_started_event_attributes
    assert history.events[0].user_metadata.HasField("summary")
    assert history.events[0].user_metadata.HasField("details")
    assert started.memo.fields["intake"].metadata["encoding"] == b"binary/encrypted"
    timer = next(e for e in history.events if e.HasField("timer_started_event_attributes"))
    assert timer.user_metadata.HasField("summary")
    assert unencrypted_payloads(history) == []

    # failure messages and stack traces travel inside the encrypted encoded_attributes
    failures = list(iter_failures(history))
    assert failures, "the probe's history has at least the failed activity"
    for path, failure in failures:
        assert failure.message == "Encoded failure", path
        assert failure.stack_trace == "", path
        assert EncryptionCodec.is_encrypted(failure.encoded_attributes), path

    secrets = person.secrets()
    assert scan_history(history, secrets) == []
    assert await scan_workflow(dev_env.client, handle.id, secrets) == []

    # ...and the data converter still reads every bit of it back
    described = await handle.describe()
    assert await described.static_summary() == f"client {person.name}"
    assert await described.static_details() == f"ID {person.id_number}, phone {person.phone}"
    assert await described.memo() == {
        "intake": {"email": person.email},
        "callback_to": person.phone,
    }
    assert described.typed_search_attributes.get(CLIENT_ID) == "C-PROBE"
    if fail:
        assert isinstance(outcome, ApplicationError)
        assert str(outcome) == f"refused ID {person.id_number}, phone {person.phone}"
    else:
        assert outcome.greeting == f"Dear {person.name}, we will call {person.phone}"
        assert outcome.notes == [f"prefers {person.phone}"]
        assert outcome.rejection == (
            f"Unreachable: cannot reach {person.phone} / {person.email} for ID {person.id_number}"
        )
        assert outcome.confirmation == f"spoke to {person.name}"

    # logs: the worker's own lines (including the failed activity's traceback) went through
    # the masking, and none of the person's data survived it
    text = logs.getvalue()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    events = [line.get("event", "") for line in lines]
    assert "probe finishing" in " ".join(events)
    assert any("exception" in line and "Unreachable" in line["exception"] for line in lines)
    assert "<phone>" in text and "<redacted>" in text
    from tests.security.pii_scan import find_secrets

    assert find_secrets(text.encode(), secrets, "logs") == []
