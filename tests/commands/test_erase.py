"""PIPL deletion through the client's workflow: nothing personal stays in its state or the read
models, the audit facts do, and a later write cannot bring the data back."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Engine, select
from temporalio.testing import WorkflowEnvironment

from activities.deps import ActivityDeps
from commands import clients, complaints
from commands.base import CommandContext, CommandError
from commands.privacy import erase
from domain.enums import Tier
from domain.policy import Policy
from infra.keys import KeyRing
from projections.crypto import FieldCipher
from projections.tables import access_log
from projections.tables import clients as clients_table
from projections.tables import complaints as complaints_table
from tests.workflows.test_client_support import client_body
from worker import build_worker
from workflows.client_service.models import ClientView


@pytest.fixture
async def ctx(ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing) -> AsyncIterator[Any]:
    queue = f"erase-{uuid.uuid4().hex[:8]}"
    deps = ActivityDeps(engine=db, cipher=FieldCipher(keyring))
    with ThreadPoolExecutor(max_workers=8) as pool:
        async with build_worker(ts_env.client, queue, deps, pool):
            yield CommandContext(client=ts_env.client, policy=Policy(), task_queue=queue, engine=db)


async def test_erasure_runs_through_the_workflow_and_holds(ctx: CommandContext, db: Engine) -> None:
    await clients.onboard(ctx, None, client_body("c-erase", Tier.GOLD))
    opened = await complaints.COMMANDS["open"](
        ctx,
        None,
        {
            "client_id": "c-erase",
            "channel": "email",
            "content": "Fee dispute",
            "complainant": {"name": "Test Client", "phone": "13800138000"},
        },
    )
    answer = await erase(ctx, "c-erase", {"requested_by": "dpo-01", "reason": "REQ-7"})
    assert answer["via"] == "workflow" and answer["erased_at"]
    assert answer["complaints_told"] == 1, "the open complaint drops the person from its intake"

    handle = ctx.client.get_workflow_handle("client-c-erase", result_type=ClientView)
    result = await handle.result()
    assert result is not None and result.file.basic.name == "(erased)"
    assert result.file.basic.phone is None and result.file.basic.email is None

    with db.connect() as conn:
        row = conn.execute(
            select(clients_table).where(clients_table.c.client_id == "c-erase")
        ).one()
        complaint = conn.execute(
            select(complaints_table).where(
                complaints_table.c.complaint_id == opened["complaint_id"]
            )
        ).one()
        logged = conn.execute(
            select(access_log.c.action).where(access_log.c.client_id == "c-erase")
        ).all()
    assert row.erased_at is not None and row.status == "closed"
    assert (row.profile_enc, row.name_enc, row.phone_hash, row.email_hash) == (None,) * 4
    assert row.tier == "gold" and row.aum is not None  # audit facts stay
    assert complaint.complainant_enc is None and complaint.content_enc is None
    assert complaint.stage == "assessment"
    assert [a for (a,) in logged] == ["erase"], "the erasure is recorded once in the access log"

    # The workflow is gone, so a second request erases the read models directly and refuses
    # nothing; an unknown client is refused.
    again = await erase(ctx, "c-erase", {"requested_by": "dpo-01", "reason": "REQ-7"})
    assert again["via"] == "read models"
    with pytest.raises(CommandError) as err:
        await erase(ctx, "nobody", {"requested_by": "dpo-01", "reason": "REQ-8"})
    assert err.value.code == "not_found"


async def test_an_erasure_with_nothing_else_to_shred_is_still_recorded_once(
    ctx: CommandContext, db: Engine
) -> None:
    await clients.onboard(ctx, None, client_body("c-quiet", Tier.REGULAR))
    await erase(ctx, "c-quiet", {"requested_by": "dpo-01", "reason": "REQ-9"})
    await erase(ctx, "c-quiet", {"requested_by": "dpo-01", "reason": "REQ-9"})
    with db.connect() as conn:
        actions = conn.execute(
            select(access_log.c.action).where(access_log.c.client_id == "c-quiet")
        ).all()
    assert [a for (a,) in actions] == ["erase"]


async def test_a_bad_erasure_body_is_refused_before_anything_runs(ctx: CommandContext) -> None:
    with pytest.raises(CommandError) as err:
        await erase(ctx, "c-x", {"requested_by": "", "reason": "REQ"})
    assert "requested_by" in err.value.message
