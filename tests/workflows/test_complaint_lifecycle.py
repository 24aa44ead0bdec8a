"""A complaint's whole life through the commands (time-skipping server, real PostgreSQL)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select
from temporalio.testing import WorkflowEnvironment

from activities.complaints import sealing_context
from commands import complaint_replies
from commands.base import CommandContext, CommandError
from commands.complaints import COMMANDS
from domain.policy import Policy
from infra.keys import KeyRing
from projections.tables import complaint_events, complaints
from tests.helpers.complaint_env import (
    assert_healthy,
    complaint_context,
    complaint_worker,
    intake,
    outcome,
    save_history,
    seed_client,
    sent,
)
from tests.helpers.sealing import opening_cipher
from workflows import search_attributes as sa
from workflows.complaint import ComplaintWorkflow


@pytest.fixture
async def ctx(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing, policy: Policy
) -> AsyncIterator[CommandContext]:
    async with complaint_context(ts_env.client, db, keyring, policy) as ctx:
        yield ctx


def row(engine: Engine, complaint_id: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(
            select(complaints).where(complaints.c.complaint_id == complaint_id)
        ).one()


def event_kinds(engine: Engine, complaint_id: str) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(complaint_events.c.kind)
                .where(complaint_events.c.complaint_id == complaint_id)
                .order_by(complaint_events.c.seq)
            ).scalars()
        )


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def in_days(state: dict[str, Any], days: int, policy: Policy) -> str:
    """A date `days` after the decision period began (receipt or reopening) in the firm's
    calendar: server time, which the time-skipping server has moved far from the test's clock."""
    received = datetime.fromisoformat(state["decision_from"]).astimezone(policy.zone())
    return (received.date() + timedelta(days=days)).isoformat()


ASSESS = {"category": "fees", "severity": "medium", "department": "wealth-ops", "handler": "h-17"}


async def run_to_resolution(ctx: CommandContext, cid: str) -> dict[str, Any]:
    await COMMANDS["assess"](ctx, cid, ASSESS)
    await COMMANDS["investigate"](
        ctx, cid, {"findings": "fee schedule v2 applied", "evidence": ["statement 2027-02"]}
    )
    done = await COMMANDS["investigate"](
        ctx, cid, {"findings": "adviser quoted v1", "root_cause": "disclosure_gap", "done": True}
    )
    assert done["stage"] == "resolution"
    return await COMMANDS["resolve"](
        ctx,
        cid,
        {"measures": "refund the difference", "owner": "h-17", "due": in_days(done, 7, ctx.policy)},
    )


async def test_happy_path_projects_every_stage(
    ctx: CommandContext, db: Engine, keyring: KeyRing, ts_env: WorkflowEnvironment
) -> None:
    seed_client(db, "c-1001")
    opened = await COMMANDS["open"](ctx, None, intake("c-1001"))
    cid = opened["complaint_id"]
    assert opened["workflow_id"] == f"complaint-{cid}"
    assert (opened["stage"], opened["merged"], opened["reopen_count"]) == ("assessment", False, 0)
    assert opened["sla_deadline"] and opened["sla_breached"] is False
    assert row(db, cid).stage == "assessment"

    assessed = await COMMANDS["assess"](ctx, cid, ASSESS)
    assert (assessed["stage"], assessed["handler"]) == ("investigation", "h-17")
    assert row(db, cid).stage == "investigation"

    await COMMANDS["investigate"](ctx, cid, {"findings": "v2 schedule", "evidence": ["stmt"]})
    done = await COMMANDS["investigate"](
        ctx, cid, {"findings": "quoted v1", "root_cause": "disclosure_gap", "done": True}
    )
    assert row(db, cid).stage == "resolution"
    plan = {"measures": "refund", "owner": "h-17", "due": in_days(done, 7, ctx.policy)}
    following = await COMMANDS["resolve"](ctx, cid, plan)
    assert following["stage"] == "follow_up" and row(db, cid).stage == "follow_up"

    closed = await COMMANDS["follow-up"](ctx, cid, {"satisfaction": 5, "comment": "thank you"})
    assert (closed["stage"], closed["outcome"], closed["satisfaction"]) == ("closed", "resolved", 5)

    handle = ctx.client.get_workflow_handle_for(ComplaintWorkflow.run, f"complaint-{cid}")
    final = await outcome(ts_env, handle)
    assert final.stage == "closed" and final.evidence_count == 1
    assert final.root_cause == "disclosure_gap"

    r = row(db, cid)
    assert (r.stage, r.outcome, r.category, r.handler, r.root_cause) == (
        "closed",
        "resolved",
        "fees",
        "h-17",
        "disclosure_gap",
    )
    assert event_kinds(db, cid) == [
        "received",
        "acknowledged",
        "assessed",
        "investigation_noted",
        "investigation_done",
        "resolved",
        "closed",
    ]
    assert r.seq == 7
    cipher = opening_cipher(db, keyring)
    assert cipher.open(r.content_enc, context=sealing_context("complaints", "content_enc", cid))
    person = cipher.open(
        r.complainant_enc, context=sealing_context("complaints", "complainant_enc", cid)
    )
    # under the ring, and inside that under the client's own key
    assert person["name"].startswith("pii:v1:")
    assert cipher.reveal(person)["name"] == "Li Lei"
    assert b"Li Lei" not in r.complainant_enc

    assert sent(db, f"complaint-{cid}") == [
        ("client", "complaint_acknowledged", "queued"),
        ("handler", "complaint_assigned", "queued"),
        ("client", "complaint_progress", "queued"),
        ("client", "complaint_resolution", "queued"),
        ("client", "complaint_survey", "queued"),
        ("client", "complaint_closed", "queued"),
    ]
    attrs = (await handle.describe()).typed_search_attributes
    assert attrs.get(sa.COMPLAINT_STAGE) == "closed"
    assert attrs.get(sa.COMPLAINT_CATEGORY) == "fees"
    assert attrs.get(sa.RESPONSIBLE_DEPARTMENT) == "wealth-ops"
    assert attrs.get(sa.CLIENT_ID) == "c-1001"
    await assert_healthy(handle, running=False)
    await save_history(ctx.client, f"complaint-{cid}", "happy_path_ack_while_projecting")


async def test_dissatisfied_client_reopens_then_closes(
    ctx: CommandContext, db: Engine, ts_env: WorkflowEnvironment
) -> None:
    opened = await COMMANDS["open"](ctx, None, intake("c-2002"))
    cid = opened["complaint_id"]
    await run_to_resolution(ctx, cid)
    await ts_env.sleep(timedelta(days=5))  # the client answers the survey after a reminder

    reopened = await COMMANDS["follow-up"](ctx, cid, {"satisfaction": 2, "comment": "not enough"})
    assert (reopened["stage"], reopened["reopen_count"]) == ("investigation", 1)
    assert reopened["sla_deadline"] > opened["sla_deadline"]  # a fresh decision period
    assert (row(db, cid).stage, row(db, cid).reopen_count) == ("investigation", 1)
    handle = ctx.client.get_workflow_handle_for(ComplaintWorkflow.run, f"complaint-{cid}")
    assert (await handle.describe()).typed_search_attributes.get(sa.REOPEN_COUNT) == 1

    done = await COMMANDS["investigate"](ctx, cid, {"findings": "second look", "done": True})
    await COMMANDS["resolve"](
        ctx,
        cid,
        {"measures": "refund + fee waiver", "owner": "h-17", "due": in_days(done, 3, ctx.policy)},
    )
    closed = await COMMANDS["follow-up"](ctx, cid, {"satisfaction": 4})
    assert (closed["stage"], closed["outcome"], closed["reopen_count"]) == ("closed", "resolved", 1)
    assert (await outcome(ts_env, handle)).stage == "closed"
    assert row(db, cid).stage == "closed"
    assert "reopened" in event_kinds(db, cid)
    await save_history(ctx.client, f"complaint-{cid}", "reopened")


async def test_withdrawal_ends_the_procedure(
    ctx: CommandContext, db: Engine, ts_env: WorkflowEnvironment
) -> None:
    opened = await COMMANDS["open"](ctx, None, intake("c-3003"))
    cid = opened["complaint_id"]
    await COMMANDS["assess"](ctx, cid, ASSESS)
    out = await COMMANDS["withdraw"](ctx, cid, {"reason": "settled with the branch"})
    assert (out["stage"], out["outcome"]) == ("withdrawn", "withdrawn")
    handle = ctx.client.get_workflow_handle_for(ComplaintWorkflow.run, f"complaint-{cid}")
    assert (await outcome(ts_env, handle)).stage == "withdrawn"
    assert (row(db, cid).stage, row(db, cid).outcome) == ("withdrawn", "withdrawn")
    after = await COMMANDS["show"](ctx, cid, {})
    assert after["stage"] == "withdrawn"
    assert [e["kind"] for e in after["timeline"]][-1] == "withdrawn"
    await save_history(ctx.client, f"complaint-{cid}", "withdrawn")


async def test_unanswered_survey_closes_with_no_response(
    ctx: CommandContext, db: Engine, ts_env: WorkflowEnvironment
) -> None:
    opened = await COMMANDS["open"](ctx, None, intake("c-4004"))
    cid = opened["complaint_id"]
    await run_to_resolution(ctx, cid)
    handle = ctx.client.get_workflow_handle_for(ComplaintWorkflow.run, f"complaint-{cid}")
    final = await outcome(ts_env, handle)  # the server skips the survey's 14 days
    assert (final.stage, final.outcome, final.survey_reminders_sent) == ("closed", "no_response", 2)
    assert final.closed_at is not None and final.resolved_at is not None
    assert final.closed_at - final.resolved_at >= ctx.policy.complaints.survey_timeout.exact
    assert (row(db, cid).stage, row(db, cid).outcome) == ("closed", "no_response")
    templates = [t for _, t, _ in sent(db, f"complaint-{cid}")]
    assert templates.count("complaint_survey_reminder") == 2
    assert templates[-1] == "complaint_closed"
    timeline = await handle.query(ComplaintWorkflow.timeline)
    assert [e.kind for e in timeline.events][-3:] == [
        "survey_reminder",
        "survey_reminder",
        "survey_expired",
    ]


async def test_open_answers_even_before_a_worker_takes_the_complaint(
    ctx: CommandContext, db: Engine, keyring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    for wait in ("ANSWER_WITHIN", "ACKNOWLEDGEMENT_WITHIN"):
        monkeypatch.setattr(complaint_replies, wait, timedelta(milliseconds=300))
    idle = dataclasses.replace(ctx, task_queue=f"idle-{ctx.task_queue}")
    early = await COMMANDS["open"](idle, None, intake("c-5055"))
    assert early["stage"] == "intake"
    handle = ctx.client.get_workflow_handle_for(ComplaintWorkflow.run, early["workflow_id"])
    assert at(early["received_at"]) == (await handle.describe()).start_time
    with pytest.raises(CommandError) as err:
        await COMMANDS["assess"](idle, early["complaint_id"], ASSESS)
    assert err.value.code == "unavailable" and "is a worker running?" in err.value.message

    async with complaint_worker(ctx.client, db, keyring, idle.task_queue):
        state = await handle.execute_update(ComplaintWorkflow.acknowledgement)
    assert state.stage == "assessment"
    assert (state.received_at, state.sla_deadline) == (
        at(early["received_at"]),
        at(early["sla_deadline"]),
    )
