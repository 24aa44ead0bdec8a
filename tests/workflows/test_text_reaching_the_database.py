"""No input wedges a workflow through the database: text PostgreSQL cannot hold is refused at
the edge, naming the field and never the value, and a projection the database refuses anyway
fails once, visibly, instead of retrying for ever.

PostgreSQL text (and JSONB) cannot hold NUL: an enterprise's `segment.industry` or an event's
`title` of "a\\x00b" used to pass validation, then its projection activity retried for ever and
the client's `onboard`, and every later command on it, timed out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from temporalio.api.enums.v1 import EventType, RetryState
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.client_events import (
    ClientEvent,
    ClientEventActivities,
    EventKind,
    EventProjection,
    EventSegment,
)
from activities.clients import ClientActivities, ClientServiceProjection
from activities.deps import ActivityDeps
from activities.notifications import NotificationActivities
from activities.projection import REFUSED
from commands import events
from commands.base import CommandError
from commands.clients import COMMANDS
from commands.complaints import COMMANDS as complaint_commands
from domain.client import ClientFile
from domain.enums import Tier
from domain.policy import Policy
from infra.keys import KeyRing
from projections.crypto import FieldCipher
from projections.tables import client_events, clients, complaints
from tests.faults.drive import ASSESS
from tests.helpers.complaint_env import assert_healthy, complaint_context, intake
from tests.helpers.records import client_record
from tests.workflows.test_client_onboarding import client_rows
from tests.workflows.test_client_support import client_body, client_worker, ctx

NUL = "a\x00b"
AT = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
NOT_RETRIED = RetryState.RETRY_STATE_NON_RETRYABLE_FAILURE
WITHIN = 60  # seconds: an answer takes well under one; a wedged command never gives one


def enterprise(client_id: str, industry: str) -> dict[str, Any]:
    body = client_body(client_id, answers=None)
    body["kind"] = "enterprise"
    body["basic"] = {"name": "Acme Trading Ltd", "phone": "13800138000"}
    body["segment"] = {
        "kind": "enterprise",
        "size": "small",
        "industry": industry,
        "financial_condition": "sound",
    }
    return body


async def refused(call: Any) -> CommandError:
    try:
        await asyncio.wait_for(call, WITHIN)
    except CommandError as err:
        return err
    raise AssertionError("accepted")


def assert_names_field_not_value(err: CommandError, field: str) -> None:
    assert err.code == "invalid", err.as_json()
    assert field in err.message, err.message
    assert "\x00" not in err.message and "a\\x00b" not in err.message, err.message


async def absent(env: WorkflowEnvironment, workflow_id: str) -> bool:
    try:
        await env.client.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        return err.status == RPCStatusCode.NOT_FOUND
    return False


async def test_onboarding_refuses_a_nul_in_the_industry(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    async with client_worker(ts_env.client, db, keyring, ends=["client-c-nul-1"]) as queue:
        err = await refused(
            COMMANDS["onboard"](ctx(ts_env.client, queue), None, enterprise("c-nul-1", NUL))
        )
        assert_names_field_not_value(err, "industry")
        assert await absent(ts_env, "client-c-nul-1")  # refused before anything started

        # The same client, onboarded right, then sent the same text in an update: refused too,
        # and the client still answers.
        ok = await COMMANDS["onboard"](ctx(ts_env.client, queue), None, enterprise("c-nul-1", "C"))
        assert ok["client_id"] == "c-nul-1"
        change = {"segment": {**enterprise("c-nul-1", NUL)["segment"]}}
        err = await refused(COMMANDS["update"](ctx(ts_env.client, queue), "c-nul-1", change))
        assert_names_field_not_value(err, "industry")
        shown = await asyncio.wait_for(
            COMMANDS["show"](ctx(ts_env.client, queue), "c-nul-1", {}), WITHIN
        )
        assert shown["file"]["segment"]["industry"] == "C"


async def test_an_event_title_with_a_nul_is_refused(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    body = {
        "event_id": "ev-nul-1",
        "kind": "seminar",
        "title": NUL,
        "starts_at": "2027-03-01T09:30:00+08:00",
    }
    async with client_worker(ts_env.client, db, keyring, ends=["event-ev-nul-1"]) as queue:
        err = await refused(events.create(ctx(ts_env.client, queue), None, body))
    assert_names_field_not_value(err, "title")
    assert await absent(ts_env, "event-ev-nul-1")


@pytest.mark.parametrize(
    ("figure", "value"),
    [("aum", 10**18 + 7), ("transactions_12m", 2**31 + 5)],  # past NUMERIC(20, 2), INTEGER
)
async def test_onboarding_refuses_figures_the_read_model_cannot_hold(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing, figure: str, value: int
) -> None:
    body = client_body("c-big-1")
    body["metrics"] = {**body["metrics"], figure: value}
    async with client_worker(ts_env.client, db, keyring, ends=["client-c-big-1"]) as queue:
        err = await refused(COMMANDS["onboard"](ctx(ts_env.client, queue), None, body))
    assert err.code == "invalid" and f"metrics.{figure}" in err.message, err.message
    assert str(value) not in err.message
    assert await absent(ts_env, "client-c-big-1")


def deps(engine: Engine, keyring: KeyRing) -> ActivityDeps:
    return ActivityDeps(engine=engine, cipher=FieldCipher(keyring))


def assert_refused_once(err: ApplicationError, sqlstate: str) -> None:
    assert err.type == REFUSED and err.non_retryable, err
    assert sqlstate in err.message, err.message
    assert "\x00" not in err.message and "u0000" not in err.message and "Acme" not in err.message


async def test_a_row_the_database_refuses_fails_its_projection_once_not_for_ever(
    db: Engine, keyring: KeyRing
) -> None:
    # What a history recorded before the text rule still carries: the client row's segment is a
    # plain JSON object, written to JSONB, which cannot hold NUL.
    file = ClientFile.model_validate(enterprise("c-nul-2", "C"))
    record = client_record(
        file, AT, tier=Tier.REGULAR, segment={"kind": "enterprise", "industry": NUL}
    )
    projection = ClientServiceProjection(
        workflow_id="client-c-nul-2", client_id="c-nul-2", seq=1, at=AT, client=record
    )
    with pytest.raises(ApplicationError) as err:
        ActivityEnvironment().run(
            ClientActivities(deps(db, keyring)).project_client_service, projection
        )
    assert_refused_once(err.value, "22P05")  # untranslatable_character
    with db.connect() as conn:
        assert conn.execute(select(clients).where(clients.c.client_id == "c-nul-2")).all() == []


async def test_a_title_the_database_refuses_fails_the_event_projection_once(
    db: Engine, keyring: KeyRing
) -> None:
    event = ClientEvent.model_construct(  # past validation, as an old history holds it
        event_id="ev-nul-2",
        kind=EventKind.SEMINAR,
        title=NUL,
        starts_at=AT,
        segment=EventSegment(),
    )
    projection = EventProjection(
        workflow_id="event-ev-nul-2", seq=1, at=AT, event=event, write_event=True
    )
    activities = ClientEventActivities(deps(db, keyring), NotificationActivities(deps(db, keyring)))
    with pytest.raises(ApplicationError) as err:
        ActivityEnvironment().run(activities.project_client_event, projection)
    assert_refused_once(err.value, "none")  # the driver refuses NUL before sending anything
    with db.connect() as conn:
        assert conn.execute(select(client_events)).all() == []


@contextmanager
def narrowed(engine: Engine, table: str, column: str) -> Iterator[None]:
    """The column made too short for the values the test sends: a real refusal by the database
    (string_data_right_truncation, a DataError) on the real projection path."""
    with engine.begin() as conn:
        conn.execute(text(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE varchar(3)"))
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE varchar(64)"))


async def refused_projections(handle: WorkflowHandle[Any, Any]) -> list[RetryState.ValueType]:
    """How each failed activity whose failure is a refused projection ended its retries."""
    return [
        e.activity_task_failed_event_attributes.retry_state
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED
        and e.activity_task_failed_event_attributes.failure.application_failure_info.type == REFUSED
    ]


async def test_a_refused_projection_is_recorded_once_and_the_client_is_still_served(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    body = client_body("c-ref-1")  # advisor "adv-07": longer than the narrowed column
    async with client_worker(ts_env.client, db, keyring, ends=["client-c-ref-1"]) as queue:
        c = ctx(ts_env.client, queue)
        with narrowed(db, "clients", "advisor_id"):
            out = await asyncio.wait_for(COMMANDS["onboard"](c, None, body), WITHIN)
            assert out["tier"] == "regular"  # the history holds the onboarding
            shown = await asyncio.wait_for(COMMANDS["show"](c, "c-ref-1", {}), WITHIN)
            assert shown["advisor_id"] == "adv-07"
        handle = ts_env.client.get_workflow_handle("client-c-ref-1")
        refused = await refused_projections(handle)
        assert refused and set(refused) == {NOT_RETRIED}

        # The next change is answered and brings the read model up to date.
        metrics = {"aum": "2000", "annual_contribution": "10", "transactions_12m": 1}
        view = await asyncio.wait_for(
            COMMANDS["update"](c, "c-ref-1", {"metrics": metrics}), WITHIN
        )
        assert view["status"] == "active"
        assert [(r.client_id, r.advisor_id) for r in client_rows(db)] == [("c-ref-1", "adv-07")]
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        await assert_healthy(handle)


async def test_a_refused_projection_does_not_stop_a_complaint(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing, policy: Policy
) -> None:
    async with complaint_context(ts_env.client, db, keyring, policy) as c:
        opened = await complaint_commands["open"](c, None, intake("c-ref-2"))
        cid = opened["complaint_id"]
        handle = ts_env.client.get_workflow_handle(opened["workflow_id"])
        assessment = {**ASSESS, "handler": "h-1234"}  # longer than the narrowed column
        with narrowed(db, "complaints", "handler"):
            state = await asyncio.wait_for(complaint_commands["assess"](c, cid, assessment), WITHIN)
        assert state["stage"] == "investigation"
        assert set(await refused_projections(handle)) == {NOT_RETRIED}
        step = {"findings": "ledger checked", "done": True}
        state = await asyncio.wait_for(complaint_commands["investigate"](c, cid, step), WITHIN)
        assert state["stage"] == "resolution"
        with db.connect() as conn:
            row = conn.execute(select(complaints).where(complaints.c.complaint_id == cid)).one()
        assert (row.stage, row.handler) == ("resolution", "h-1234")
        await assert_healthy(handle)
