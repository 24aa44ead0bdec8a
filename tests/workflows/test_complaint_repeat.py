"""Repeat complaints on one matter merge into the open complaint, through the matter registry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import Engine, select
from temporalio.client import (
    WithStartWorkflowOperation,
    WorkflowExecutionStatus,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from commands.base import CommandContext
from commands.complaints import COMMANDS
from domain.complaint import ComplaintIntake
from domain.policy import Policy
from infra.keys import KeyRing
from projections.tables import complaint_events, complaints
from tests.helpers.complaint_env import assert_healthy, complaint_context, intake, save_history
from workflows.complaint import ComplaintWorkflow
from workflows.complaint_matter import (
    ComplaintMatterWorkflow,
    MatterClaim,
    MatterInput,
    MatterOwner,
)
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
    await save_history(ctx.client, first["workflow_id"], "matter_owner")
    await save_history(ctx.client, matter_workflow_id("c-1313:fund-x12"), "matter_registry_v2")


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
        await registry.result()  # its child ended
    await save_history(ctx.client, registry.id, "matter_registry_ended")
    second = await COMMANDS["open"](ctx, None, intake("c-1616", matter="order-77"))
    assert second["complaint_id"] != first["complaint_id"] and second["merged"] is False
    owner = await registry.query(ComplaintMatterWorkflow.owner)
    assert owner is not None and owner.owner == second["complaint_id"]


async def test_a_terminated_owner_never_blocks_the_matter(
    dev_env: WorkflowEnvironment, db: Engine, keyring: KeyRing, policy: Policy
) -> None:
    """An operator terminated the owner: the registry learns it from its child's end (on the
    dev server: the time-skipping server does not report a terminated child to its parent)."""
    async with complaint_context(dev_env.client, db, keyring, policy) as ctx:
        first = await COMMANDS["open"](ctx, None, intake("c-1717", matter="order-88"))
        await ctx.client.get_workflow_handle(first["workflow_id"]).terminate("test")
        second = await COMMANDS["open"](ctx, None, intake("c-1717", matter="order-88"))
        assert second["complaint_id"] != first["complaint_id"] and second["merged"] is False
        handle = ctx.client.get_workflow_handle_for(ComplaintWorkflow.run, second["workflow_id"])
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        registry = ctx.client.get_workflow_handle(matter_workflow_id("c-1717:order-88"))
        owner = await registry.query(ComplaintMatterWorkflow.owner)
        assert owner is not None and owner.owner == second["complaint_id"]


def claim_for(ctx: CommandContext, complaint_id: str, body: dict[str, object], **kw: Any) -> Any:
    return MatterClaim(
        complaint_id=complaint_id,
        complaint=ComplaintInput(
            complaint_id=complaint_id,
            intake=ComplaintIntake.model_validate(body),
            policy=ctx.policy,
        ),
        **kw,
    )


async def test_the_registry_never_takes_a_callers_word_that_the_owner_ended(
    ctx: CommandContext,
) -> None:
    """A claim naming the owner as ended waits until the registry sees that complaint end."""
    body = intake("c-1818", matter="order-99")
    first = await COMMANDS["open"](ctx, None, body)
    registry = ctx.client.get_workflow_handle(matter_workflow_id("c-1818:order-99"))
    claim = claim_for(ctx, "k-1818", body, replace_closed=first["complaint_id"])
    pending = asyncio.ensure_future(registry.execute_update(ComplaintMatterWorkflow.claim, claim))
    await asyncio.sleep(1)
    assert not pending.done()
    owner = await registry.query(ComplaintMatterWorkflow.owner)
    assert owner is not None and owner.owner == first["complaint_id"]
    await COMMANDS["withdraw"](ctx, first["complaint_id"], {"reason": "sorted out"})
    assert await pending == MatterOwner(owner="k-1818", merged=False)  # started it only now
    state = await ctx.client.get_workflow_handle("complaint-k-1818").query(ComplaintWorkflow.state)
    assert state.stage in ("intake", "assessment")


async def test_a_refused_start_leaves_no_registry_behind(ctx: CommandContext) -> None:
    """The claim's complaint cannot start (its id is taken): the claim is refused with the
    reason and the registry, owning nothing, ends."""
    taken = await COMMANDS["open"](ctx, None, intake("c-2020"))
    body = intake("c-2020", matter="order-11")
    start = WithStartWorkflowOperation(
        ComplaintMatterWorkflow.run,
        MatterInput(matter_key="c-2020:order-11"),
        id=matter_workflow_id("c-2020:order-11"),
        task_queue=ctx.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await ctx.client.execute_update_with_start_workflow(
            ComplaintMatterWorkflow.claim,
            claim_for(ctx, taken["complaint_id"], body),
            start_workflow_operation=start,
        )
    assert isinstance(refused.value.cause, ApplicationError)
    assert refused.value.cause.type == "ComplaintExists"
    registry = await start.workflow_handle()
    await registry.result()
    await assert_healthy(registry, running=False)


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
