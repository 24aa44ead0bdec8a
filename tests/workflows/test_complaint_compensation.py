"""Compensation on a resolution, from the command through the workflow and its projection to the
regulator's return (time-skipping server, real PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select
from temporalio.testing import WorkflowEnvironment

from commands.base import CommandContext
from commands.complaints import COMMANDS
from domain.kpi_period import ReportingPeriod
from domain.policy import Policy
from domain.regulatory import regulator_return
from infra.keys import KeyRing
from projections.tables import complaints
from reports.queries import load_regulatory_facts
from tests.helpers.complaint_env import complaint_context, intake, save_history
from tests.workflows.test_complaint_lifecycle import ASSESS, in_days


@pytest.fixture
async def ctx(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing, policy: Policy
) -> AsyncIterator[CommandContext]:
    async with complaint_context(ts_env.client, db, keyring, policy) as ctx:
        yield ctx


async def test_the_latest_decisions_compensation_reaches_the_return(
    ctx: CommandContext, db: Engine
) -> None:
    cid = (await COMMANDS["open"](ctx, None, intake("c-7007")))["complaint_id"]
    await COMMANDS["assess"](ctx, cid, ASSESS)
    done = await COMMANDS["investigate"](ctx, cid, {"findings": "overcharged", "done": True})
    plan = {"measures": "refund", "owner": "h-17", "due": in_days(done, 7, ctx.policy)}
    first = await COMMANDS["resolve"](ctx, cid, {**plan, "compensation": "300"})
    assert first["compensation"] == "300"
    await COMMANDS["follow-up"](ctx, cid, {"satisfaction": 2, "comment": "not enough"})
    done = await COMMANDS["investigate"](ctx, cid, {"findings": "second look", "done": True})
    await COMMANDS["resolve"](ctx, cid, {**plan, "due": in_days(done, 7, ctx.policy),
                                         "compensation": "500.00"})  # fmt: skip
    closed = await COMMANDS["follow-up"](ctx, cid, {"satisfaction": 4})
    assert (closed["stage"], closed["compensation"]) == ("closed", "500.00")
    assert (closed["regulatory_category"], closed["reportable"]) == ("fees_and_charges", True)

    with db.connect() as conn:
        received: datetime = conn.execute(
            select(complaints.c.received_at).where(complaints.c.complaint_id == cid)
        ).scalar_one()
        quarter = ReportingPeriod.quarter_of(received, ctx.policy.zone())
        facts = load_regulatory_facts(conn, quarter.start, quarter.end)
    assert [(f.complaint_id, f.compensation) for f in facts] == [(cid, Decimal("500.00"))]
    firm = regulator_return(facts, quarter.start, quarter.end, 4)[0].figures
    # decided twice, counted once; the decision is the latest, so the days run to it
    assert (firm.received, firm.compensated, firm.compensation_total) == (1, 1, Decimal("500.00"))
    assert (firm.rated, firm.satisfied) == (1, 1)
    # a resolve update carrying a compensation, for the replay corpus
    await save_history(ctx.client, f"complaint-{cid}", "resolved_with_compensation")
