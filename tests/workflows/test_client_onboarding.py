"""Onboarding and the client commands: validation, the first tier, idempotency, refusals and
offboarding."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from commands.base import CommandError
from commands.clients import COMMANDS
from domain.enums import Tier
from domain.questionnaire import QUESTIONS
from infra.keys import KeyRing
from projections.crypto import FieldCipher, column_context
from projections.tables import clients
from simulation.year import sleep_until
from tests.helpers.sealing import opened, opening_cipher
from tests.workflows.test_client_support import (
    client_body,
    client_worker,
    ctx,
    outbox,
    tasks,
)
from workflows.client_service import ClientServiceWorkflow


async def raw_search_attributes(env: WorkflowEnvironment, workflow_id: str) -> dict[str, Any]:
    """Decoded by hand: the test server keeps an unset attribute as an empty value, which the
    SDK's typed decoding of `describe()` cannot parse."""
    described = await env.client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=env.client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
        )
    )
    fields = described.workflow_execution_info.search_attributes.indexed_fields
    return {name: json.loads(p.data) if p.data else None for name, p in fields.items()}


def client_rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(clients)))


async def test_onboard_assigns_tier_and_risk_and_seals_personal_data(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    async with client_worker(ts_env.client, db, keyring, ends=["client-c-on-1"]) as queue:
        body = client_body("c-on-1", Tier.PLATINUM)
        out = await COMMANDS["onboard"](ctx(ts_env.client, queue), None, body)
    assert out == {
        "workflow_id": "client-c-on-1",
        "client_id": "c-on-1",
        "tier": "platinum",
        "risk_profile": "aggressive",
        "risk_level": "C4",
    }
    (row,) = client_rows(db)
    assert (row.tier, row.risk_profile, row.risk_level, row.status) == (
        "platinum",
        "aggressive",
        "C4",
        "active",
    )
    assert row.next_service_kind == "callback" and row.next_service_due is not None
    assert "basic.address" in row.missing_fields and "risk_answers" not in row.missing_fields
    cipher = opening_cipher(db, keyring)
    # sealed under the ring, and inside that under the client's own key
    name, profile = (column_context("clients", c, "c-on-1") for c in ("name_enc", "profile_enc"))
    assert cipher.open(row.name_enc, context=name).startswith("pii:v1:c-on-1:name:")
    assert opened(cipher, row.name_enc, name) == "Test Client"
    assert row.phone_hash == cipher.blind("+8613800138000")
    assert row.email_hash == cipher.blind("c-on-1@example.com")
    assert opened(cipher, row.profile_enc, profile)["basic"]["phone"] == (  # type: ignore[index]
        "+8613800138000"
    )
    plain = " ".join(str(v) for k, v in row._mapping.items() if not k.endswith("_enc"))
    assert "Test Client" not in plain and "13800138000" not in plain and "@example" not in plain


async def test_onboarding_twice_updates_the_same_workflow_and_row(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    async with client_worker(ts_env.client, db, keyring, ends=["client-c-twice"]) as queue:
        c = ctx(ts_env.client, queue)
        first = await COMMANDS["onboard"](c, None, client_body("c-twice", Tier.GOLD))
        run_id = (await ts_env.client.get_workflow_handle("client-c-twice").describe()).run_id
        (before,) = client_rows(db)
        changed = client_body("c-twice", Tier.GOLD)
        changed["basic"]["email"] = "new.address@example.com"
        second = await COMMANDS["onboard"](c, None, changed)
        described = await ts_env.client.get_workflow_handle("client-c-twice").describe()
    assert second == first
    assert described.run_id == run_id
    (after,) = client_rows(db)
    assert after.seq > before.seq
    assert after.email_hash == FieldCipher(keyring).blind("new.address@example.com")
    assert after.onboarded_at == before.onboarded_at


async def test_unassessed_client_owes_a_risk_assessment_at_once(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    async with client_worker(ts_env.client, db, keyring, ends=["client-c-unassessed"]) as queue:
        c = ctx(ts_env.client, queue)
        start = await ts_env.get_current_time()
        out = await COMMANDS["onboard"](c, None, client_body("c-unassessed", answers=None))
        assert (out["risk_profile"], out["risk_level"]) == ("unassessed", None)
        await sleep_until(ts_env, start + timedelta(minutes=5))
        (task,) = tasks(db, "c-unassessed", "risk_assessment")
        assert task.status == "due" and task.due_at - start < timedelta(minutes=1)

        answers = [0] * len(QUESTIONS)  # the most cautious answer to every question
        view = await COMMANDS["update"](c, "c-unassessed", {"risk_answers": answers})
    assert (view["risk_profile"], view["risk_level"]) == ("conservative", "C1")
    assert view["open_tasks"] == []
    (task,) = tasks(db, "c-unassessed", "risk_assessment")
    assert task.status == "done"
    (row,) = client_rows(db)
    assert (row.risk_profile, row.risk_level) == ("conservative", "C1")


@pytest.mark.parametrize(
    ("answers", "named"),
    [
        ([1, 1, 2], "horizon"),  # three answers: the fourth question onward is unanswered
        ([1, 1, 2, 1, 2, 2, 2, 2, 2, 9], "liquidity_needs"),  # out of range
        ([1, 1, "2", 1, 2, 2, 2, 2, 2, 2], "investment_experience"),  # not an index
    ],
)
async def test_bad_risk_answers_are_refused_naming_the_question(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing, answers: list[Any], named: str
) -> None:
    async with client_worker(ts_env.client, db, keyring) as queue:
        with pytest.raises(CommandError) as refused:
            await COMMANDS["onboard"](
                ctx(ts_env.client, queue), None, client_body("c-bad-answers", answers=answers)
            )
        with pytest.raises(RPCError):  # refused before anything was started
            await ts_env.client.get_workflow_handle("client-c-bad-answers").describe()
    assert refused.value.code == "invalid"
    assert named in refused.value.message
    assert client_rows(db) == []


async def test_questionnaire_lists_every_question_with_scored_options(
    ts_env: WorkflowEnvironment,
) -> None:
    out = await COMMANDS["questionnaire"](ctx(ts_env.client, "unused"), None, {})
    assert [q["id"] for q in out["questions"]] == [q.id for q in QUESTIONS]
    assert all(o.keys() == {"text", "score"} for q in out["questions"] for o in q["options"])


async def test_bad_input_is_refused_and_never_fails_a_workflow_task(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    async with client_worker(ts_env.client, db, keyring, ends=["client-c-robust"]) as queue:
        c = ctx(ts_env.client, queue)
        await COMMANDS["onboard"](c, None, client_body("c-robust", Tier.GOLD))
        handle = ts_env.client.get_workflow_handle("client-c-robust")
        refusals: dict[str, str] = {}
        for name, call in {
            "no open callback": lambda: handle.execute_update(
                "record_callback", {"satisfaction": 4}
            ),
            "satisfaction 9": lambda: handle.execute_update("record_callback", {"satisfaction": 9}),
            "resume when active": lambda: handle.execute_update("resume", {}),
            "empty update": lambda: handle.execute_update("update_profile", {}),
            "bad phone": lambda: handle.execute_update(
                "update_profile", {"basic": {"phone": "12"}}
            ),
            "unknown field": lambda: handle.execute_update("update_profile", {"shoe_size": 44}),
            "other client's file": lambda: handle.execute_update(
                "onboard", {"file": client_body("c-someone-else")}
            ),
        }.items():
            with pytest.raises(WorkflowUpdateFailedError) as failed:
                await call()
            refusals[name] = str(failed.value.cause)
        await handle.signal("change_tier", {"not": "a tier change"})  # dropped, never applied
        await COMMANDS["pause"](c, "c-robust", {})
        with pytest.raises(CommandError) as twice:
            await COMMANDS["pause"](c, "c-robust", {})
        view = await COMMANDS["show"](c, "c-robust", {})
        history = await handle.fetch_history()

    assert "no open callback" in refusals["no open callback"]
    assert "basic.phone" in refusals["bad phone"]
    assert "nothing to change" in refusals["empty update"]
    assert "c-someone-else" in refusals["other client's file"]
    assert "12" not in refusals["bad phone"].replace("basic.phone", "")  # the value is not echoed
    assert twice.value.code == "rejected" and "already paused" in twice.value.message
    assert (view["status"], view["tier"]) == ("paused", "gold")
    failed_tasks = [
        e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    ]
    assert failed_tasks == []
    accepted = [
        e
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    ]
    assert len(accepted) == 2  # only the onboarding and the one good pause were accepted


async def test_unknown_client_is_not_found(ts_env: WorkflowEnvironment) -> None:
    c = ctx(ts_env.client, "unused")
    for verb, body in [("show", {}), ("update", {"metrics": {"aum": "1"}}), ("pause", {})]:
        with pytest.raises(CommandError) as missing:
            await COMMANDS[verb](c, "c-nobody", body)
        assert missing.value.code == "not_found", verb
    with pytest.raises(CommandError) as usage:
        await COMMANDS["show"](c, None, {})
    assert usage.value.code == "usage"


async def test_offboarding_closes_the_service_and_its_open_tasks(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    async with client_worker(ts_env.client, db, keyring) as queue:
        c = ctx(ts_env.client, queue)
        start = await ts_env.get_current_time()
        await COMMANDS["onboard"](c, None, client_body("c-leaving", answers=None))
        await sleep_until(ts_env, start + timedelta(minutes=5))
        closed = await COMMANDS["offboard"](c, "c-leaving", {"reason": "account closed"})
        handle = ts_env.client.get_workflow_handle_for(
            ClientServiceWorkflow.run, "client-c-leaving"
        )
        result = await handle.result()
        with pytest.raises(CommandError) as after:
            await COMMANDS["pause"](c, "c-leaving", {})
        shown = await COMMANDS["show"](c, "c-leaving", {})
        attributes = await raw_search_attributes(ts_env, "client-c-leaving")
    assert closed["status"] == "closed" and shown["status"] == "closed"
    assert result is not None and result.status == "closed"
    assert after.value.code == "not_found"
    (row,) = client_rows(db)
    assert (row.status, row.next_service_due) == ("closed", None)
    assert [t.status for t in tasks(db, "c-leaving")] == ["cancelled"]
    assert attributes["ServiceStatus"] == "closed"
    assert attributes["NextServiceDue"] is None  # unset: a closed client owes nothing
    assert outbox(db, "c-leaving") == []


async def test_a_returning_client_is_served_again_by_a_new_workflow(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    async with client_worker(ts_env.client, db, keyring, ends=["client-c-back"]) as queue:
        c = ctx(ts_env.client, queue)
        await COMMANDS["onboard"](c, None, client_body("c-back", Tier.GOLD, care=True))
        handle = ts_env.client.get_workflow_handle("client-c-back")
        first_run = (await handle.describe()).run_id
        await COMMANDS["offboard"](c, "c-back", {})
        (closed,) = client_rows(db)
        again = await COMMANDS["onboard"](c, None, client_body("c-back", Tier.PLATINUM))
        second_run = (await handle.describe()).run_id
    assert second_run != first_run
    assert again["tier"] == "platinum"
    (row,) = client_rows(db)
    # The new chain's writes win over the old chain's: its counter starts later.
    assert row.seq > closed.seq
    assert (closed.status, row.status, row.tier) == ("closed", "active", "platinum")


async def test_changing_advisor_moves_open_duties_to_the_new_worklist(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    async with client_worker(ts_env.client, db, keyring, ends=["client-c-handover"]) as queue:
        c = ctx(ts_env.client, queue)
        start = await ts_env.get_current_time()
        await COMMANDS["onboard"](c, None, client_body("c-handover", answers=None))
        await sleep_until(ts_env, start + timedelta(minutes=5))
        assert [t.advisor_id for t in tasks(db, "c-handover")] == ["adv-07"]
        view = await COMMANDS["update"](c, "c-handover", {"advisor_id": "adv-12"})
    assert view["advisor_id"] == "adv-12"
    (task,) = tasks(db, "c-handover")
    assert (task.kind, task.status, task.advisor_id) == ("risk_assessment", "due", "adv-12")
