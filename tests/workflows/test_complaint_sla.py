"""Deadlines as durable timers: warning, breach and escalation, extension, overdue assessment."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from commands.base import CommandContext
from commands.complaints import COMMANDS
from domain import deadlines
from domain.policy import Policy
from infra.keys import KeyRing
from tests.helpers.complaint_env import (
    assert_healthy,
    complaint_context,
    intake,
    save_history,
    seed_client,
    sent,
)
from workflows import search_attributes as sa
from workflows.complaint import ComplaintWorkflow

ASSESS = {"category": "suitability", "severity": "medium", "department": "compliance"}


@pytest.fixture
async def ctx(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing, policy: Policy
) -> AsyncIterator[CommandContext]:
    async with complaint_context(ts_env.client, db, keyring, policy) as ctx:
        yield ctx


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_fifteen_days_pass_in_seconds_and_a_breach_escalates(
    ctx: CommandContext, db: Engine, ts_env: WorkflowEnvironment
) -> None:
    opened = await COMMANDS["open"](ctx, None, intake("c-5005"))
    cid, wid = opened["complaint_id"], opened["workflow_id"]
    await COMMANDS["assess"](ctx, cid, {**ASSESS, "handler": "h-21"})
    deadline = at(opened["sla_deadline"])
    # 15 calendar days from receipt, ending at the close of the firm's local day.
    assert deadline == deadlines.decision_due(at(opened["received_at"]), ctx.policy)
    assert (deadline - at(opened["received_at"])) > timedelta(days=15)
    assert deadline.astimezone(ctx.policy.zone()).time().isoformat() == "00:00:00"

    # Sixteen days pass on the server's clock (how fast in wall time is a benchmark's
    # business, bench/complaint_throughput.py, not a test's).
    before = await ts_env.get_current_time()
    await ts_env.sleep(timedelta(days=16))
    assert await ts_env.get_current_time() - before >= timedelta(days=16)

    state = await COMMANDS["show"](ctx, cid, {})
    assert state["sla_breached"] is True and state["escalated"] is True
    assert state["severity"] == "high"  # medium, one level up
    assert state["supervisor"] == "complaint-supervision"
    assert state["stage"] == "investigation"  # the work carries on
    kinds = [e["kind"] for e in state["timeline"]]
    assert kinds[-2:] == ["deadline_warning", "sla_breached"]
    warning = next(e for e in state["timeline"] if e["kind"] == "deadline_warning")
    assert at(warning["at"]) >= deadlines.warning_at(deadline, ctx.policy)
    breach = next(e for e in state["timeline"] if e["kind"] == "sla_breached")
    assert at(breach["at"]) >= deadline

    assert ("handler", "complaint_deadline_warning", "queued") in sent(db, wid)
    assert ("supervisor", "complaint_sla_breached", "queued") in sent(db, wid)
    handle = ctx.client.get_workflow_handle_for(ComplaintWorkflow.run, wid)
    attrs = (await handle.describe()).typed_search_attributes
    assert attrs.get(sa.SLA_BREACHED) is True
    assert attrs.get(sa.COMPLAINT_SEVERITY) == "high"
    assert attrs.get(sa.SLA_DEADLINE) == deadline

    after = await COMMANDS["investigate"](ctx, cid, {"findings": "late but going", "done": True})
    assert after["stage"] == "resolution" and after["sla_breached"] is True
    await assert_healthy(handle)
    await save_history(ctx.client, wid, "breached")


async def test_extension_moves_the_deadline_and_rearms_the_timer(
    ctx: CommandContext, db: Engine, ts_env: WorkflowEnvironment
) -> None:
    seed_client(db, "c-6006")
    opened = await COMMANDS["open"](ctx, None, intake("c-6006"))
    cid = opened["complaint_id"]
    assessed = await COMMANDS["assess"](ctx, cid, {**ASSESS, "handler": "h-22", "complex": True})
    complex_deadline = at(assessed["sla_deadline"])
    assert complex_deadline == deadlines.decision_due(
        at(opened["received_at"]), ctx.policy, complex_case=True
    )
    extended = await COMMANDS["extend"](
        ctx, cid, {"reason": "needs the product issuer's records", "approved_by": "head-cs"}
    )
    new_deadline = at(extended["sla_deadline"])
    assert new_deadline == complex_deadline + timedelta(days=30)  # local midnight stays midnight
    assert extended["extensions"] == 1

    await ts_env.sleep(complex_deadline - at(opened["received_at"]) + timedelta(days=1))
    between = await COMMANDS["show"](ctx, cid, {})
    assert between["sla_breached"] is False  # the old deadline passed harmlessly

    await ts_env.sleep(timedelta(days=31))
    late = await COMMANDS["show"](ctx, cid, {})
    assert late["sla_breached"] is True
    breach = next(e for e in late["timeline"] if e["kind"] == "sla_breached")
    assert breach["data"]["sla_deadline"] == new_deadline.isoformat()
    assert ("client", "complaint_extended", "queued") in sent(db, opened["workflow_id"])
    handle = ctx.client.get_workflow_handle(opened["workflow_id"])
    assert (await handle.describe()).typed_search_attributes.get(sa.SLA_DEADLINE) == new_deadline
    await save_history(ctx.client, opened["workflow_id"], "extended")


async def test_unassessed_complaint_escalates_at_its_assessment_target(
    ctx: CommandContext, db: Engine, ts_env: WorkflowEnvironment
) -> None:
    opened = await COMMANDS["open"](ctx, None, intake("c-7007", severity="high"))
    cid = opened["complaint_id"]
    await ts_env.sleep(timedelta(days=3))
    state = await COMMANDS["show"](ctx, cid, {})
    assert (state["stage"], state["severity"], state["assessment_escalated"]) == (
        "assessment",
        "critical",
        True,
    )
    assert state["sla_breached"] is False
    assert ("supervisor", "complaint_assessment_overdue", "queued") in sent(
        db, opened["workflow_id"]
    )
    # Escalated once only; assessing afterwards is still allowed.
    await ts_env.sleep(timedelta(days=1))
    assert (await COMMANDS["show"](ctx, cid, {}))["severity"] == "critical"
    assessed = await COMMANDS["assess"](ctx, cid, {**ASSESS, "handler": "h-23"})
    assert assessed["stage"] == "investigation"
