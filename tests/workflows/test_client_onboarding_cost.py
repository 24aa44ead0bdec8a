"""What onboarding costs in a client's history: its answer waits for no scheduled activity.

The projection it must write is queued and performed by the drain loop after the answer, and the
holiday table is read by a local activity (a marker, in the first workflow task), so onboarding
is answered from the first workflow task."""

from __future__ import annotations

from sqlalchemy import Engine
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from commands.clients import COMMANDS
from infra.keys import KeyRing
from tests.workflows.test_client_support import client_body, client_worker, ctx


async def test_onboarding_waits_for_no_scheduled_activity(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    async with client_worker(ts_env.client, db, keyring, ends=["client-c-cost-1"]) as queue:
        # Care consent: greetings are planned, so the holiday table is needed at onboarding.
        await COMMANDS["onboard"](
            ctx(ts_env.client, queue), None, client_body("c-cost-1", care=True)
        )
        history = await ts_env.client.get_workflow_handle("client-c-cost-1").fetch_history()
    events = list(history.events)
    completed = next(
        n
        for n, e in enumerate(events)
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED
    )
    before = [e.event_type for e in events[:completed]]
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED not in before
    assert before.count(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) == 1  # the first task
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert "project_client_service" in scheduled  # written all the same, after the answer
    assert "load_holiday_table" not in scheduled
    assert any(
        e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and e.marker_recorded_event_attributes.marker_name == "core_local_activity"
        for e in events
    )
