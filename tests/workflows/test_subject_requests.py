"""Data-subject requests end to end on the time-skipping server, with the production workflows
and activities: an access request produces a sealed copy of what the firm holds, a correction
changes the client's file through the client workflow, a deletion erases the client through its
erase update; each client is acknowledged and answered through the outbox; an unanswered one
escalates at its deadline; bad commands are refused by the validators, never by a failed task.

`RECORD_SUBJECT_REQUEST_HISTORIES=1` saves the access request's history into the replay corpus.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.deps import ActivityDeps
from activities.registry import activity_methods, build_activities
from activities.subject_requests import SUBJECT_COPY, SubjectRequestActivities, open_copy
from audit.sources import saved_json
from commands import clients, complaints, subject_requests
from commands.base import CommandContext, CommandError
from domain.periods import Period
from domain.policy import Policy, PrivacyPolicy
from infra.deployment import versioned_worker
from infra.keys import KeyRing
from projections.crypto import FieldCipher
from projections.tables import access_log, notifications
from projections.tables import clients as clients_table
from tests.helpers.histories import recording_dir
from tests.helpers.sealing import opening_cipher
from tests.workflows.test_client_support import activity_name, client_body
from workflows import search_attributes as sa
from workflows.registry import ALL_WORKFLOWS
from workflows.subject_request_models import subject_request_workflow_id


@asynccontextmanager
async def dsr_worker(
    client: Client, engine: Engine, keyring: KeyRing, copies: Path
) -> AsyncIterator[str]:
    """Every workflow and activity of the worker; the copies go to the test's directory."""
    queue = f"dsr-{uuid.uuid4().hex[:8]}"
    deps = ActivityDeps(engine=engine, cipher=FieldCipher(keyring))
    mine = activity_methods(SubjectRequestActivities(deps, client, copies))
    names = {activity_name(fn) for fn in mine}
    rest = [fn for fn in build_activities(deps, client) if activity_name(fn) not in names]
    with ThreadPoolExecutor(max_workers=16) as pool:
        async with versioned_worker(
            client, task_queue=queue, workflows=ALL_WORKFLOWS, activities=[*rest, *mine],
            activity_executor=pool,
        ):  # fmt: skip
            yield queue


@asynccontextmanager
async def dsr_commands(
    client: Client, engine: Engine, keyring: KeyRing, copies: Path, policy: Policy
) -> AsyncIterator[CommandContext]:
    """The commands' context on a `dsr_worker` of their own, under `policy`."""
    async with dsr_worker(client, engine, keyring, copies) as queue:
        yield CommandContext(client=client, policy=policy, task_queue=queue)


async def _client(ctx: CommandContext) -> str:
    client_id = f"dsr-c{uuid.uuid4().hex[:8]}"
    await clients.onboard(ctx, None, client_body(client_id))
    return client_id


def _outbox(engine: Engine, request_id: str) -> list[Any]:
    wid = subject_request_workflow_id(request_id)
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(notifications)
                .where(notifications.c.workflow_id == wid)
                .order_by(notifications.c.created_at)
            )
        )


async def _no_failed_task(client: Client, request_id: str) -> None:
    handle = client.get_workflow_handle(subject_request_workflow_id(request_id))
    kinds = [e.event_type async for e in handle.fetch_history_events()]
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in kinds


async def _acknowledged(ctx: CommandContext, request_id: str) -> dict[str, Any]:
    for _ in range(100):
        shown = await subject_requests.show(ctx, request_id, {})
        if shown["status"] == "open":
            return shown
        import asyncio

        await asyncio.sleep(0.1)
    raise AssertionError(f"request {request_id} was never acknowledged")


async def test_an_access_request_produces_a_sealed_copy_of_the_clients_data(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    client = ts_env.client
    async with dsr_commands(client, db, keyring, tmp_path, Policy()) as ctx:
        client_id = await _client(ctx)
        complaint = {
            "client_id": client_id,
            "channel": "branch",
            "content": "The fees were higher than disclosed.",
            "complainant": {"name": "Test Client", "phone": "13800138000"},
        }
        await complaints.COMMANDS["open"](ctx, None, complaint)
        opened = await subject_requests.request(
            ctx, None, {"client_id": client_id, "kind": "access"}
        )
        request_id = opened["request_id"]
        assert opened["workflow_id"] == f"dsr-{request_id}" and request_id.startswith(client_id)
        # 15 calendar days from receipt, ending at 24:00 local (Civil Code Arts. 201, 203)
        assert opened["due_at"] > opened["received_at"]
        shown = await _acknowledged(ctx, request_id)
        assert [e["kind"] for e in shown["timeline"]] == ["received", "acknowledged"]
        done = await subject_requests.fulfil(
            ctx, request_id, {"by": "dpo-1", "identity_verified": True}
        )
        assert done["status"] == "fulfilled" and done["answered_by"] == "dpo-1"
        copy = done["sealed_copy"]
        path = Path(copy["path"])
        assert path.parent == tmp_path and path.name == f"{request_id}.sealed"
        sealed = path.read_bytes()  # noqa: ASYNC240 - a small file in a test
        assert b"Test Client" not in sealed  # sealed, not plain JSON
        document = open_copy(opening_cipher(db, keyring), path, request_id)
        assert document["client"]["file"]["basic"]["name"] == "Test Client"
        assert document["request_id"] == request_id
        [filed] = document["complaints"]
        assert filed["content"] == complaint["content"]
        assert filed["complainant"]["name"] == "Test Client"
        assert copy["sections"] == {
            "client": 1,
            "complaints": 1,
            "service_tasks": len(document["service_tasks"]),
            "tier_changes": 0,
        }
        with db.connect() as conn:
            reads = conn.execute(
                select(access_log.c.actor).where(
                    access_log.c.client_id == client_id, access_log.c.action == SUBJECT_COPY
                )
            ).all()
        assert [r.actor for r in reads] == ["dpo-1"]
        sent = _outbox(db, request_id)
        assert [(n.template, n.recipient_kind, n.purpose) for n in sent] == [
            ("subject_request_acknowledged", "client", "privacy"),
            ("subject_request_answered", "client", "privacy"),
        ]
        assert all(n.status == "queued" for n in sent)
        assert sent[1].params["outcome"] == "fulfilled"
        with pytest.raises(CommandError) as again:
            await subject_requests.fulfil(
                ctx, request_id, {"by": "dpo-1", "identity_verified": True}
            )
        assert "was answered" in again.value.message
        await _no_failed_task(client, request_id)
        if os.environ.get("RECORD_SUBJECT_REQUEST_HISTORIES") == "1":
            handle = client.get_workflow_handle(subject_request_workflow_id(request_id))
            await handle.result()
            history = await handle.fetch_history()
            text = await saved_json(history, client.data_converter.payload_codec)
            (recording_dir() / "subject_request_access.json").write_text(text)


async def test_a_correction_changes_the_file_through_the_client_workflow(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    client = ts_env.client
    async with dsr_commands(client, db, keyring, tmp_path, Policy()) as ctx:
        client_id = await _client(ctx)
        body = {
            "client_id": client_id,
            "kind": "correction",
            "correction": {"basic": {"phone": "13900139009", "occupation": "engineer"}},
        }
        request_id = (await subject_requests.request(ctx, None, body))["request_id"]
        done = await subject_requests.fulfil(
            ctx, request_id, {"by": "dpo-1", "identity_verified": True}
        )
        assert done["status"] == "fulfilled" and done["sealed_copy"] is None
        view = await clients.show(ctx, client_id, {})
        basic = view["file"]["basic"]
        assert basic["phone"] == "+8613900139009" and basic["occupation"] == "engineer"
        assert basic["name"] == "Test Client"  # what was not corrected stays
        await _no_failed_task(client, request_id)


async def test_a_deletion_erases_the_client_through_its_erase_update(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    client = ts_env.client
    async with dsr_commands(client, db, keyring, tmp_path, Policy()) as ctx:
        client_id = await _client(ctx)
        body = {"client_id": client_id, "kind": "deletion"}
        request_id = (await subject_requests.request(ctx, None, body))["request_id"]
        done = await subject_requests.fulfil(
            ctx, request_id, {"by": "dpo-1", "identity_verified": True}
        )
        assert done["status"] == "fulfilled" and done["erased_complaints"] == 0
        view = await client.get_workflow_handle(f"client-{client_id}").query("view")
        assert view["erased_at"] is not None
        with db.connect() as conn:
            row = conn.execute(
                select(clients_table.c.name_enc, clients_table.c.erased_at).where(
                    clients_table.c.client_id == client_id
                )
            ).one()
            erasures = conn.execute(
                select(access_log.c.purpose).where(
                    access_log.c.client_id == client_id, access_log.c.action == "erase"
                )
            ).all()
        assert row.name_enc is None and row.erased_at is not None
        assert [e.purpose for e in erasures] == [f"PIPL erasure: {request_id}"]
        await _no_failed_task(client, request_id)


async def test_an_unanswered_request_escalates_at_its_deadline(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    policy = Policy(privacy=PrivacyPolicy(subject_request_within=Period.parse("PT20S")))
    client = ts_env.client
    async with dsr_commands(client, db, keyring, tmp_path, policy) as ctx:
        client_id = await _client(ctx)
        body = {"client_id": client_id, "kind": "access"}
        request_id = (await subject_requests.request(ctx, None, body))["request_id"]
        await _acknowledged(ctx, request_id)
        handle = client.get_workflow_handle(subject_request_workflow_id(request_id))
        before = (await handle.describe()).typed_search_attributes
        assert before.get(sa.SLA_BREACHED) is False and before.get(sa.CLIENT_ID) == client_id
        await ts_env.sleep(30)
        shown = await subject_requests.show(ctx, request_id, {})
        assert shown["overdue"] and shown["escalated_to"] == "privacy-officer"
        assert shown["status"] == "open"  # still to be answered
        assert (await handle.describe()).typed_search_attributes.get(sa.SLA_BREACHED) is True
        staff = [n for n in _outbox(db, request_id) if n.recipient_kind == "supervisor"]
        assert [(n.template, n.recipient_id) for n in staff] == [
            ("subject_request_overdue", "privacy-officer")
        ]
        assert set(staff[0].params) >= {"request_id", "request_kind", "sla_deadline"}
        rejected = await subject_requests.reject(
            ctx, request_id, {"by": "dpo-1", "reason": "identity_not_verified"}
        )
        assert rejected["status"] == "rejected" and rejected["overdue"]
        assert [e["kind"] for e in (await subject_requests.show(ctx, request_id, {}))[
            "timeline"]] == ["received", "acknowledged", "overdue", "rejected"]  # fmt: skip
        await _no_failed_task(client, request_id)


async def test_bad_commands_are_refused_by_the_validators(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    client = ts_env.client
    async with dsr_commands(client, db, keyring, tmp_path, Policy()) as ctx:
        client_id = await _client(ctx)
        with pytest.raises(CommandError) as no_correction:
            await subject_requests.request(
                ctx, None, {"client_id": client_id, "kind": "correction"}
            )
        assert no_correction.value.code == "invalid"
        with pytest.raises(CommandError) as unknown:
            await subject_requests.request(ctx, None, {"client_id": "nobody-x1", "kind": "access"})
        assert unknown.value.code == "not_found"
        body = {"client_id": client_id, "kind": "access"}
        request_id = (await subject_requests.request(ctx, None, body))["request_id"]
        handle = client.get_workflow_handle(subject_request_workflow_id(request_id))
        refused = [
            ("fulfil", {"by": "dpo-1", "identity_verified": False}, "verify"),
            ("reject", {"by": "dpo-1", "reason": "nothing_to_correct"}, "correction requests"),
        ]
        for verb, cmd, says in refused:
            with pytest.raises(CommandError) as err:
                await subject_requests.COMMANDS[verb](ctx, request_id, cmd)
            assert says in err.value.message
        for raw in (None, {"by": "dpo 1"}, {"by": "dpo-1", "reason": "because"}, [1]):
            from temporalio.client import WorkflowUpdateFailedError

            with pytest.raises(WorkflowUpdateFailedError):
                await handle.execute_update("reject", raw)
        assert (await subject_requests.show(ctx, request_id, {}))["status"] in ("received", "open")
        await _no_failed_task(client, request_id)


async def test_a_deletion_under_a_retention_hold_restricts_the_client_and_says_so(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    """The erase update's own hold decides (the `hold` branch's legal hold): the request is
    fulfilled as a restriction, the client is told, nothing is shredded yet."""
    from tests.workflows.test_legal_hold import HELD

    client = ts_env.client
    async with dsr_commands(client, db, keyring, tmp_path, HELD) as ctx:
        client_id = await _client(ctx)
        body = {"client_id": client_id, "kind": "deletion"}
        request_id = (await subject_requests.request(ctx, None, body))["request_id"]
        done = await subject_requests.fulfil(
            ctx, request_id, {"by": "dpo-1", "identity_verified": True}
        )
        assert done["status"] == "fulfilled" and done["hold"] == "aml"
        assert done["restricted_until"] is None  # still served: the hold has no end yet
        view = await client.get_workflow_handle(f"client-{client_id}").query("view")
        assert view["restricted"] and view["erased_at"] is None
        with db.connect() as conn:
            stored = conn.execute(
                select(clients_table.c.profile_enc, clients_table.c.erased_at).where(
                    clients_table.c.client_id == client_id
                )
            ).one()
        assert stored.profile_enc is not None and stored.erased_at is None, "stored only"
        answered = [n for n in _outbox(db, request_id) if n.template == "subject_request_answered"]
        assert answered[0].params["hold"] == "aml"
        await _no_failed_task(client, request_id)


async def test_a_deletion_for_an_ended_client_under_a_hold_goes_through_client_erase(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    """The request alone cannot keep the hold for a client whose service has ended (that takes
    `client erase`, which starts a run to keep it): it is refused naming the command and stays
    open; once the client is restricted, fulfilling answers with the hold."""
    from commands.privacy import erase
    from tests.workflows.test_legal_hold import HELD

    client = ts_env.client
    async with dsr_commands(client, db, keyring, tmp_path, HELD) as ctx:
        client_id = await _client(ctx)
        await clients.offboard(ctx, client_id, {"reason": "account closed"})
        await client.get_workflow_handle(f"client-{client_id}").result()
        body = {"client_id": client_id, "kind": "deletion"}
        request_id = (await subject_requests.request(ctx, None, body))["request_id"]
        fulfil = {"by": "dpo-1", "identity_verified": True}
        with pytest.raises(CommandError) as refused:
            await subject_requests.fulfil(ctx, request_id, fulfil)
        assert f"client erase {client_id}" in refused.value.message
        assert (await subject_requests.show(ctx, request_id, {}))["status"] in ("received", "open")
        with db.connect() as conn:
            kept = conn.execute(
                select(clients_table.c.profile_enc).where(clients_table.c.client_id == client_id)
            ).scalar_one()
        assert kept is not None, "nothing was shredded past the hold"
        restricted = await erase(ctx, client_id, {"requested_by": "dpo-1", "reason": request_id})
        assert restricted["hold"] == "aml"
        done = await subject_requests.fulfil(ctx, request_id, fulfil)
        assert done["status"] == "fulfilled" and done["hold"] == "aml"
        assert done["restricted_until"] == restricted["restricted_until"].isoformat().replace(
            "+00:00", "Z"
        )
        await _no_failed_task(client, request_id)
        await client.get_workflow_handle(f"client-{client_id}").terminate("test over")
