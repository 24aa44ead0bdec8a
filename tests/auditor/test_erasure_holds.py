"""An erasure holds whatever happens after it: complaints open in every stage when the client is
erased, then driven to their end, and a complaint opened after the erasure (the README's order),
leave no personal column of that client sealed, and `verify-projections` agrees with the live
tables."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

import auditor
from activities.complaints import ComplaintProjection
from commands.base import CommandContext
from commands.clients import COMMANDS as CLIENT
from commands.complaints import COMMANDS as COMPLAINT
from commands.privacy import erase
from domain.complaint import ERASED_TEXT
from domain.policy import Policy
from infra.keys import KeyRing
from projections.tables import clients, complaint_events, complaints, service_tasks
from tests.auditor.rig import point_at
from tests.helpers.complaint_env import complaint_worker, intake, save_history
from tests.helpers.scan import quiet
from tests.workflows.test_client_support import client_body, client_worker

ASSESSED = {"category": "fees", "severity": "medium", "department": "ops", "handler": "h-1"}
INVESTIGATED = {"findings": "quoted v1", "root_cause": "disclosure_gap", "done": True}


def _plan() -> dict[str, Any]:
    return {"measures": "refund", "owner": "h-1", "due": (date.today() + timedelta(20)).isoformat()}


def _sealed_left(db: Engine, client_id: str) -> dict[str, int]:
    """How many personal cells of the client still hold anything, per table.column."""
    theirs = select(complaints.c.complaint_id).where(complaints.c.client_id == client_id)
    checks = {
        "clients": (clients, clients.c.client_id == client_id),
        "complaints": (complaints, complaints.c.client_id == client_id),
        "complaint_events": (
            complaint_events,
            complaint_events.c.complaint_id.in_(theirs.scalar_subquery()),
        ),
        "service_tasks": (service_tasks, service_tasks.c.client_id == client_id),
    }
    left: dict[str, int] = {}
    with db.connect() as conn:
        for name, (table, where) in checks.items():
            for column in table.columns:
                if not (
                    column.name.endswith(("_enc", "_hash")) or column.name == "birth_month_day"
                ):
                    continue
                n = len(conn.execute(select(column).where(where, column.is_not(None))).all())
                if n:
                    left[f"{name}.{column.name}"] = n
    return left


async def _last_projection_input(client: Client, workflow_id: str) -> ComplaintProjection:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    scheduled = [
        e.activity_task_scheduled_event_attributes
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == "project_complaint"
    ]
    [model] = await client.data_converter.decode(
        scheduled[-1].input.payloads, [ComplaintProjection]
    )
    assert isinstance(model, ComplaintProjection)
    return model


async def test_erasure_holds_for_complaints_in_every_stage_and_after(
    dev_env: WorkflowEnvironment,
    db: Engine,
    keyring: KeyRing,
    policy: Policy,
    cli_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    point_at(cli_env, dev_env)
    client = dev_env.client
    client_id = f"c-erh-{uuid.uuid4().hex[:6]}"
    async with (
        client_worker(client, db, keyring, ends=[f"client-{client_id}"]) as clients_queue,
        complaint_worker(client, db, keyring) as complaints_queue,
    ):
        care = CommandContext(client=client, policy=policy, task_queue=clients_queue, engine=db)
        desk = CommandContext(client=client, policy=policy, task_queue=complaints_queue)
        await CLIENT["onboard"](care, None, client_body(client_id))

        async def opened(matter: str) -> str:
            body = intake(client_id, matter=matter)
            return str((await COMPLAINT["open"](desk, None, body))["complaint_id"])

        # One complaint in each stage an erasure can meet: assessment, investigation,
        # resolution, follow-up.
        at_assessment = await opened("m-1")
        at_investigation = await opened("m-2")
        await COMPLAINT["assess"](desk, at_investigation, ASSESSED)
        at_resolution = await opened("m-3")
        await COMPLAINT["assess"](desk, at_resolution, ASSESSED)
        await COMPLAINT["investigate"](desk, at_resolution, INVESTIGATED)
        at_follow_up = await opened("m-4")
        await COMPLAINT["assess"](desk, at_follow_up, ASSESSED)
        await COMPLAINT["investigate"](desk, at_follow_up, INVESTIGATED)
        await COMPLAINT["resolve"](desk, at_follow_up, _plan())

        await erase(care, client_id, {"requested_by": "dpo-1", "reason": "REQ-2027-101"})
        assert _sealed_left(db, client_id) == {}

        # Driven to their end after the erasure: every one of these writes the complaint's row.
        for cid in (at_assessment, at_investigation, at_resolution, at_follow_up):
            stage = (await COMPLAINT["show"](desk, cid, {}))["stage"]
            if stage == "assessment":
                await COMPLAINT["assess"](desk, cid, ASSESSED)
                stage = "investigation"
            if stage == "investigation":
                await COMPLAINT["investigate"](desk, cid, INVESTIGATED)
                stage = "resolution"
            if stage == "resolution":
                await COMPLAINT["resolve"](desk, cid, _plan())
            await COMPLAINT["follow-up"](desk, cid, {"satisfaction": 4})
        # The README's order: a complaint opened for the client after its erasure.
        late = await opened("m-5")
        await COMPLAINT["assess"](desk, late, ASSESSED)

        query = f"TaskQueue='{clients_queue}' OR TaskQueue='{complaints_queue}'"
        await quiet(client, query, 6)
        assert _sealed_left(db, client_id) == {}
        with db.connect() as conn:
            stages = conn.execute(
                select(complaints.c.complaint_id, complaints.c.stage).where(
                    complaints.c.client_id == client_id
                )
            ).all()
        assert {s for _, s in stages if _ != late} == {"closed"}

        # The complaints open at the erasure dropped the intake from their state: the projection
        # inputs they scheduled after it (recorded in their histories) carry none of it.
        for cid in (at_assessment, at_investigation, at_resolution, at_follow_up):
            last = await _last_projection_input(client, f"complaint-{cid}")
            assert last.intake.content == ERASED_TEXT
            assert last.intake.complainant.model_dump(exclude_none=True) == {"name": ERASED_TEXT}

        # The replay corpus's complaint told to forget its person (a signal: state only).
        await save_history(client, f"complaint-{at_investigation}", "forgotten_after_erasure")

        code = await auditor.run(["verify-projections", "--query", query, "--json"])
        report = json.loads(capsys.readouterr().out)
        assert code == 0, report["differences"]
        assert report["compared"]["complaints"] == 5

        await client.get_workflow_handle(f"complaint-{late}").terminate("test over")
