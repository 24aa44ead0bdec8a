"""A complaint's record is complete (CBIRC 2020, issue 20): the incident date beside the
received date (the clock still runs from receipt), a complaint filed by a representative or an
heir recorded as such with their contact details sealed, an extension only by a holder of the
policy's approval role, and staff with a direct interest refused as handler, supervisor or
approver (the client's advisor among them). On the time-skipping server with every workflow and
activity of the worker; no command leaves a failed workflow task."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.complaints import sealing_context
from commands import clients, complaints
from commands.base import CommandContext, CommandError
from domain import deadlines
from domain.policy import ComplaintPolicy, Policy
from infra.keys import KeyRing
from projections.crypto import FieldCipher
from projections.tables import complaints as complaints_table
from tests.faults.drive import ASSESS
from tests.helpers.complaint_env import save_history
from tests.helpers.sealing import opening_cipher
from tests.workflows.test_client_support import client_body
from tests.workflows.test_legal_hold import details
from tests.workflows.test_subject_requests import dsr_commands

REPRESENTATIVE = {
    "name": "Wang Fang",
    "phone": "+86 139 0013 9000",
    "capacity": "representative",
    "authority": "poa-2026-044",
}


def _body(client_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "client_id": client_id,
        "channel": "branch",
        "content": "The fund's fees were higher than disclosed.",
        "complainant": {"name": "Li Lei", "phone": "+86 138 0013 8000"},
        **extra,
    }


async def _no_failed_task(client: Client, complaint_id: str) -> None:
    handle = client.get_workflow_handle(f"complaint-{complaint_id}")
    kinds = [e.event_type async for e in handle.fetch_history_events()]
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in kinds


async def _refused(ctx: CommandContext, verb: str, cid: str | None, body: dict[str, Any]) -> str:
    with pytest.raises(CommandError) as err:
        await complaints.COMMANDS[verb](ctx, cid, body)
    return err.value.message


async def test_incident_date_and_a_representative_are_recorded_and_shown(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    client = ts_env.client
    async with dsr_commands(client, db, keyring, tmp_path, Policy()) as ctx:
        received = datetime.now(UTC) - timedelta(days=1)
        incident = (received - timedelta(days=40)).date()
        cid = f"rec-{uuid.uuid4().hex[:8]}"
        body = _body(
            "c-rep-1",
            complaint_id=cid,
            received_at=received.isoformat(),
            incident_date=incident.isoformat(),
            complainant=REPRESENTATIVE,
        )
        opened = await complaints.COMMANDS["open"](ctx, None, body)
        # the decision clock runs from receipt, not from the incident
        due = datetime.fromisoformat(opened["sla_deadline"])
        assert due == deadlines.decision_due(received, ctx.policy)
        shown = await complaints.COMMANDS["show"](ctx, cid, {})
        assert shown["incident_date"] == incident.isoformat()
        assert shown["complainant_capacity"] == "representative"
        assert shown["timeline"][0]["data"]["complainant_capacity"] == "representative"
        assert "Wang Fang" not in str(shown), "the representative's details stay sealed"
        with db.connect() as conn:
            sealed = conn.execute(
                select(complaints_table.c.complainant_enc).where(
                    complaints_table.c.complaint_id == cid
                )
            ).scalar_one()
        assert b"Wang Fang" not in sealed
        person = opening_cipher(db, keyring).reveal(
            FieldCipher(keyring).open(
                sealed, context=sealing_context("complaints", "complainant_enc", cid)
            )
        )
        assert person["name"] == "Wang Fang" and person["capacity"] == "representative"
        assert person["authority"] == "poa-2026-044"
        await _no_failed_task(client, cid)
        shown_in_ui = await details(client, f"complaint-{cid}")
        assert f"filed by a representative · incident {incident.isoformat()}" in shown_in_ui
        await save_history(client, f"complaint-{cid}", "by_representative")


async def test_an_incomplete_or_impossible_record_is_refused(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    client = ts_env.client
    async with dsr_commands(client, db, keyring, tmp_path, Policy()) as ctx:
        no_authority = {k: v for k, v in REPRESENTATIVE.items() if k != "authority"}
        message = await _refused(ctx, "open", None, _body("c-rep-2", complainant=no_authority))
        assert "authority" in message and "Wang" not in message
        heir = {**no_authority, "capacity": "heir"}
        assert "authority" in await _refused(ctx, "open", None, _body("c-rep-2", complainant=heir))
        received = datetime.now(UTC) - timedelta(days=2)
        late = (received + timedelta(days=1)).date().isoformat()
        body = _body("c-rep-2", received_at=received.isoformat(), incident_date=late)
        assert "incident_date" in await _refused(ctx, "open", None, body)
        future = (date.today() + timedelta(days=3)).isoformat()
        body = _body("c-rep-2", incident_date=future)
        assert "future" in await _refused(ctx, "open", None, body)


async def test_an_extension_needs_the_approval_role(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    policy = Policy(complaints=ComplaintPolicy(extension_approvers=["sen-1", "sen-2"]))
    client = ts_env.client
    async with dsr_commands(client, db, keyring, tmp_path, policy) as ctx:
        cid = f"ext-{uuid.uuid4().hex[:8]}"
        await complaints.COMMANDS["open"](ctx, None, _body("c-ext-1", complaint_id=cid))
        await complaints.COMMANDS["assess"](ctx, cid, {**ASSESS, "complex": True})
        message = await _refused(ctx, "extend", cid, {"reason": "records", "approved_by": "m-2"})
        assert "extension-approval role" in message
        done = await complaints.COMMANDS["extend"](
            ctx, cid, {"reason": "issuer records", "approved_by": "sen-1"}
        )
        assert done["extensions"] == 1 and done["extension_approved_by"] == "sen-1"
        shown = await complaints.COMMANDS["show"](ctx, cid, {})
        assert shown["timeline"][-1]["kind"] == "extended"
        assert shown["timeline"][-1]["actor"] == "sen-1"
        await _no_failed_task(client, cid)
        assert "extended 1x (approved by sen-1)" in await details(client, f"complaint-{cid}")
        await save_history(client, f"complaint-{cid}", "extended_by_approver")


async def test_staff_with_a_direct_interest_are_refused(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    """The client's advisor (found by the open command) and anyone named as conflicted may not
    handle, supervise or approve."""
    client = ts_env.client
    async with dsr_commands(client, db, keyring, tmp_path, Policy()) as ctx:
        client_id = f"cc{uuid.uuid4().hex[:8]}"
        await clients.onboard(ctx, None, client_body(client_id))  # advisor adv-07
        cid = f"rcs-{uuid.uuid4().hex[:8]}"
        body = _body(client_id, complaint_id=cid, conflicted=["h-99"])
        await complaints.COMMANDS["open"](ctx, None, body)
        shown = await complaints.COMMANDS["show"](ctx, cid, {})
        assert shown["conflicted"] == ["adv-07", "h-99"]
        for handler in ("adv-07", "h-99"):
            message = await _refused(ctx, "assess", cid, {**ASSESS, "handler": handler})
            assert "direct interest" in message and handler in message
        supervised = {**ASSESS, "supervisor": "adv-07"}
        assert "direct interest" in await _refused(ctx, "assess", cid, supervised)
        await complaints.COMMANDS["assess"](ctx, cid, {**ASSESS, "complex": True})
        assert "direct interest" in await _refused(ctx, "reassign", cid, {"handler": "h-99"})
        approved = {"reason": "records", "approved_by": "adv-07"}
        assert "direct interest" in await _refused(ctx, "extend", cid, approved)
        await _no_failed_task(client, cid)
        await client.get_workflow_handle(f"client-{client_id}").terminate("test over")
