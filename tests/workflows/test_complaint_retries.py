"""A request sent again with the same `--request-id` is answered, not applied a second time."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from commands.base import CommandContext, CommandError, request_id_arg
from commands.complaints import COMMANDS
from domain.policy import Policy
from infra.keys import KeyRing
from tests.helpers.complaint_env import assert_healthy, complaint_context, intake
from tests.workflows.test_complaint_refusals import ASSESS, accepted_updates

STEP = {"findings": "ledger checked", "evidence": ["statement"], "root_cause": "pricing_error"}


@pytest.fixture
async def ctx(
    dev_env: WorkflowEnvironment, db: Engine, keyring: KeyRing, policy: Policy
) -> AsyncIterator[CommandContext]:
    async with complaint_context(dev_env.client, db, keyring, policy) as ctx:
        yield ctx


async def test_a_retried_update_is_applied_once(ctx: CommandContext) -> None:
    opened = await COMMANDS["open"](ctx, None, intake("c-8101"))
    cid = opened["complaint_id"]
    handle = ctx.client.get_workflow_handle(opened["workflow_id"])
    await COMMANDS["assess"](ctx, cid, ASSESS)
    before = await accepted_updates(handle)

    keyed = dataclasses.replace(ctx, request_id="req-7f3a")
    first = await COMMANDS["investigate"](keyed, cid, STEP)
    again = await COMMANDS["investigate"](keyed, cid, STEP)  # the caller's retry
    assert again == first
    assert first["evidence_count"] == 1  # the step's evidence counted once, not twice
    assert await accepted_updates(handle) == before + 1

    # The key is per verb: the same key on another command is another request.
    done = await COMMANDS["investigate"](ctx, cid, {**STEP, "done": True})
    assert done["evidence_count"] == 2
    resolved = await COMMANDS["resolve"](
        keyed, cid, {"measures": "refund", "owner": "h-31", "due": "2099-01-01"}
    )
    assert resolved["stage"] == "follow_up"
    await assert_healthy(handle)


def test_a_malformed_request_id_is_refused() -> None:
    assert request_id_arg("ok-1.2:3") == "ok-1.2:3"
    for bad in ("", "-lead", "x" * 65, "spa ce", "nul\x00"):
        with pytest.raises(CommandError) as err:
            request_id_arg(bad)
        assert err.value.code == "usage"
