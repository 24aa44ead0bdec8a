"""A complaint's timer path cannot wedge the workflow, whatever a rule says when it fires.

`next_due` and the clock's guards agree today, so nothing in the shipped rules refuses a due
deadline; this test stands in a clock rule that disagrees (as a future rule change could) and
checks that the refusal stays a logged non-event: no failed workflow task, and the complaint
still answers and keeps its later deadlines.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from commands.base import CommandContext
from commands.complaints import COMMANDS
from domain.complaint import ComplaintRuleError
from domain.complaint_state import Change, Complaint
from domain.policy import Policy
from infra.keys import KeyRing
from tests.helpers.complaint_env import assert_healthy, complaint_context, intake
from workflows import complaint_timers
from workflows.complaint import ComplaintWorkflow
from workflows.complaint_timers import Due, DueKind


@pytest.fixture
async def ctx(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing, policy: Policy
) -> AsyncIterator[CommandContext]:
    async with complaint_context(ts_env.client, db, keyring, policy) as ctx:
        yield ctx


async def test_a_deadline_the_rules_refuse_when_it_fires_leaves_the_complaint_running(
    ctx: CommandContext, ts_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = complaint_timers.apply_due

    def disagreeing(c: Complaint, due: Due, now: datetime, supervision: str) -> Change:
        if due.kind is DueKind.ASSESSMENT_OVERDUE:
            raise ComplaintRuleError(f"cannot escalate: complaint {c.complaint_id} (refused)")
        return real(c, due, now, supervision)

    # Passed through into the sandbox: the workflow module binds it when a run starts.
    monkeypatch.setattr(complaint_timers, "apply_due", disagreeing)
    opened = await COMMANDS["open"](ctx, None, intake("c-7007"))
    cid, wid = opened["complaint_id"], opened["workflow_id"]
    handle = ctx.client.get_workflow_handle_for(ComplaintWorkflow.run, wid)

    # Past the assessment target (refused when it fires) and past the decision deadline.
    await ts_env.sleep(timedelta(days=16))
    state = await asyncio.wait_for(COMMANDS["show"](ctx, cid, {}), 20)
    kinds = [e["kind"] for e in state["timeline"]]
    assert "assessment_overdue" not in kinds
    assert "sla_breached" in kinds  # the later deadline still fired
    assessed = await asyncio.wait_for(
        COMMANDS["assess"](
            ctx, cid, {"category": "fees", "severity": "low", "department": "ops", "handler": "h-1"}
        ),
        20,
    )
    assert assessed["stage"] == "investigation"
    await assert_healthy(handle)
