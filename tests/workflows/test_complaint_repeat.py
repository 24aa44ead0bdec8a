"""Repeat complaints on one matter merge into the open complaint, through the matter registry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Engine, select
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from commands.base import CommandContext
from commands.complaints import COMMANDS
from domain.complaint import ComplaintIntake
from domain.policy import Policy
from infra.keys import KeyRing
from projections.tables import complaint_events, complaints
from tests.helpers.complaint_env import assert_healthy, complaint_context, intake, save_history
from workflows.complaint import ComplaintWorkflow
from workflows.complaint_matter import ComplaintMatterWorkflow
from workflows.complaint_models import ComplaintInput, matter_workflow_id


@pytest.fixture
async def ctx(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing, policy: Policy
) -> AsyncIterator[CommandContext]:
    async with complaint_context(ts_env.client, db, keyring, policy) as ctx:
        yield ctx


def complaint_ids(engine: Engine, client_id: str) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(complaints.c.complaint_id).where(complaints.c.client_id == client_id)
            ).scalars()
        )


async def test_a_repeat_on_the_same_matter_is_merged(ctx: CommandContext, db: Engine) -> None:
    first = await COMMANDS["open"](ctx, None, intake("c-1313", matter="FUND-X12"))
    again = await COMMANDS["open"](
        ctx, None, intake("c-1313", matter="fund-x12", channel="email", content="Still no answer!")
    )
    assert (again["complaint_id"], again["merged"], again["merged_count"]) == (
        first["complaint_id"],
        True,
        1,
    )
    other_matter = await COMMANDS["open"](ctx, None, intake("c-1313", matter="fund-y"))
    other_client = await COMMANDS["open"](ctx, None, intake("c-1414", matter="fund-x12"))
    assert not other_matter["merged"] and not other_client["merged"]
    assert len({first["complaint_id"], other_matter["complaint_id"]}) == 2
    assert sorted(complaint_ids(db, "c-1313")) == sorted(
        [first["complaint_id"], other_matter["complaint_id"]]
    )

    with db.connect() as conn:
        merged = conn.execute(
            select(complaint_events.c.data, complaint_events.c.detail_enc).where(
                complaint_events.c.complaint_id == first["complaint_id"],
                complaint_events.c.kind == "merged",
            )
        ).one()
    assert merged.data == {"channel": "email", "merged_count": 1}
    assert b"Still no answer" not in merged.detail_enc  # the repeat's text is sealed
    handle = ctx.client.get_workflow_handle(first["workflow_id"])
    await assert_healthy(handle)
    await save_history(ctx.client, first["workflow_id"], "merged")
    await save_history(ctx.client, matter_workflow_id("c-1313:fund-x12"), "matter_registry")


async def test_concurrent_submissions_open_one_complaint(
    dev_env: WorkflowEnvironment, db: Engine, keyring: KeyRing, policy: Policy
) -> None:
    """On the real dev server: the time-skipping test server itself mishandles concurrent
    starts of one workflow id (it leaks a time-skipping lock for the rest of the session)."""
    async with complaint_context(dev_env.client, db, keyring, policy) as ctx:
        answers = await asyncio.gather(
            *(COMMANDS["open"](ctx, None, intake("c-1515", category="fees")) for _ in range(4))
        )
        assert len({a["complaint_id"] for a in answers}) == 1
        assert sorted(a["merged"] for a in answers) == [False, True, True, True]
        state = await COMMANDS["show"](ctx, answers[0]["complaint_id"], {})
        assert state["merged_count"] == 3
        assert complaint_ids(db, "c-1515") == [answers[0]["complaint_id"]]


async def test_after_the_complaint_ends_the_matter_opens_a_new_one(
    ctx: CommandContext, ts_env: WorkflowEnvironment
) -> None:
    first = await COMMANDS["open"](ctx, None, intake("c-1616", matter="order-77"))
    await COMMANDS["withdraw"](ctx, first["complaint_id"], {"reason": "sorted out"})
    registry = ctx.client.get_workflow_handle(matter_workflow_id("c-1616:order-77"))
    async with ts_env.time_skipping_unlocked():
        await registry.result()  # released by the complaint as it ended
    second = await COMMANDS["open"](ctx, None, intake("c-1616", matter="order-77"))
    assert second["complaint_id"] != first["complaint_id"] and second["merged"] is False
    owner = await registry.query(ComplaintMatterWorkflow.owner)
    assert owner is not None and owner.owner == second["complaint_id"]


async def test_a_stale_owner_never_blocks_the_matter(ctx: CommandContext) -> None:
    first = await COMMANDS["open"](ctx, None, intake("c-1717", matter="order-88"))
    # Ended without a chance to release the registry (an operator terminated it).
    await ctx.client.get_workflow_handle(first["workflow_id"]).terminate("test")
    second = await COMMANDS["open"](ctx, None, intake("c-1717", matter="order-88"))
    assert second["complaint_id"] != first["complaint_id"] and second["merged"] is False
    handle = ctx.client.get_workflow_handle_for(ComplaintWorkflow.run, second["workflow_id"])
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING


async def test_a_missing_registry_does_not_stop_the_complaint(ctx: CommandContext) -> None:
    """The complaint confirms and releases its matter by signal; if the registry is gone, it
    carries on (the next claim on the matter replaces an ended owner anyway)."""
    body = intake("c-1919", matter="gone-1")
    handle = await ctx.client.start_workflow(
        ComplaintWorkflow.run,
        ComplaintInput(
            complaint_id="k-1919",
            intake=ComplaintIntake.model_validate(body),
            policy=ctx.policy,
            matter_workflow_id=matter_workflow_id("c-1919:never-started"),
        ),
        id="complaint-k-1919",
        task_queue=ctx.task_queue,
    )
    state = await handle.execute_update(ComplaintWorkflow.acknowledgement)
    assert state.stage == "assessment"
    await COMMANDS["withdraw"](ctx, "k-1919", {"reason": "test"})
    assert (await handle.result()).stage == "withdrawn"  # this handle unlocks time itself
    await assert_healthy(handle, running=False)
