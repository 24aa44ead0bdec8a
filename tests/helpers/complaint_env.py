"""What the complaint workflow tests share: a worker, sample data, health checks, saved histories.

Saved histories (`tests/histories/<release>/complaint_*.json`) are stored decrypted, as the
project keeps all of its saved histories (`audit.sources.saved_json`): the suite's key ring is
new every session, and a decrypted file replays under any key ring — through the production
converter without its codec (`plain_converter`). Their content is synthetic. Set
`RECORD_COMPLAINT_HISTORIES=1` to record them from a fresh run into the current release's
folder (`tests.helpers.histories.RELEASE`).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
)
from temporalio.converter import DataConverter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.complaints import ComplaintActivities
from activities.deps import ActivityDeps
from activities.notifications import NotificationActivities
from audit.sources import saved_json
from commands.base import CommandContext
from commands.complaints import COMMANDS
from domain.complaint_state import Complaint
from domain.policy import Policy
from infra.deployment import versioned_worker
from infra.keys import KeyRing, new_key_entry
from projections.crypto import FieldCipher
from projections.tables import clients, notifications
from simulation.histories import StartedWorkflows, with_children
from tests.helpers.histories import recording_dir, uncoded_converter
from workflows.complaint import ComplaintWorkflow
from workflows.complaint_matter import ComplaintMatterWorkflow
from workflows.metering import RefusalCounter

# No complaint history is encrypted any more; `tests/test_replay_saved_histories.py` still offers
# this ring for encrypted files. A fixture key, not a secret.
HISTORY_KEYRING = KeyRing.parse("complaint-fixture:FF6xC26zfcVyUfDbrprbvCbRIpx8QY2vXWgZML0B4vA=")
WORKFLOWS = [ComplaintWorkflow, ComplaintMatterWorkflow]


def plain_converter() -> DataConverter:
    """The production converter without its payload codec: for decrypted, saved histories."""
    return uncoded_converter(KeyRing.parse(new_key_entry()))


@asynccontextmanager
async def complaint_worker(
    client: Client, engine: Engine, keyring: KeyRing, queue: str | None = None
) -> AsyncIterator[str]:
    """Runs a worker (on a fresh task queue unless named) for the duration; yields the queue."""
    deps = ActivityDeps(engine=engine, cipher=FieldCipher(keyring))
    queue = queue or f"complaints-{uuid.uuid4().hex[:8]}"
    with ThreadPoolExecutor(max_workers=8) as pool:
        async with versioned_worker(
            client,
            task_queue=queue,
            workflows=WORKFLOWS,
            activities=[ComplaintActivities(deps).project, NotificationActivities(deps).notify],
            activity_executor=pool,
            interceptors=[RefusalCounter()],
        ):
            yield queue


@asynccontextmanager
async def complaint_context(
    client: Client, engine: Engine, keyring: KeyRing, policy: Policy
) -> AsyncIterator[CommandContext]:
    """A command context whose task queue has a complaint worker.

    Every workflow started through it is terminated when the test ends: the time-skipping
    server is shared by the session, and a complaint left running without its worker would hold
    up time skipping for later tests the moment one of its timers fires.
    """
    started = StartedWorkflows()
    config = client.config()
    config["interceptors"] = [*config["interceptors"], started]
    client = Client(**config)
    try:
        async with complaint_worker(client, engine, keyring) as queue:
            yield CommandContext(client=client, policy=policy, task_queue=queue)
    finally:
        for workflow_id in sorted(await with_children(client, started.ids)):
            with contextlib.suppress(RPCError):  # already ended
                await client.get_workflow_handle(workflow_id).terminate("test finished")


def intake(client_id: str = "c-1001", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "client_id": client_id,
        "channel": "hotline",
        "content": "The fund's fees were higher than I was told at purchase.",
        "complainant": {"name": "Li Lei", "phone": "+86 138 0013 8000", "email": "li@example.cn"},
    }
    return {**body, **overrides}


async def local_today(ctx: CommandContext, complaint_id: str) -> date:
    """The firm's date on the server's clock (time skipping moves it far from the test's), read
    from the complaint's latest event."""
    timeline = (await COMMANDS["show"](ctx, complaint_id, {}))["timeline"]
    return datetime.fromisoformat(timeline[-1]["at"]).astimezone(ctx.policy.zone()).date()


def seed_client(engine: Engine, client_id: str) -> None:
    """A client file whose consents let complaint correspondence go out by phone and e-mail."""
    with engine.begin() as conn:
        conn.execute(
            clients.insert().values(
                client_id=client_id,
                workflow_id=f"client-{client_id}",
                seq=1,
                kind="individual",
                tier="gold",
                risk_profile="balanced",
                status="active",
                consents={"granted": {"phone": ["service"], "email": ["service"]}},
                updated_at=datetime.now(UTC),
            )
        )


def sent(engine: Engine, workflow_id: str) -> list[tuple[str, str, str | None]]:
    """(recipient kind, template, status) of every notification the workflow wrote, in order."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                notifications.c.recipient_kind,
                notifications.c.template,
                notifications.c.status,
            )
            .where(notifications.c.workflow_id == workflow_id)
            .order_by(notifications.c.created_at)
        ).all()
    return [(r.recipient_kind, r.template, r.status) for r in rows]


async def assert_healthy(handle: WorkflowHandle[Any, Any], *, running: bool = True) -> None:
    """No workflow task ever failed (a bad command never reached the workflow's code path that
    retries forever), and the complaint is still running."""
    failed = [
        e
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    ]
    assert failed == [], f"workflow task failures: {failed}"
    if running:
        status = (await handle.describe()).status
        assert status == WorkflowExecutionStatus.RUNNING


async def outcome(env: WorkflowEnvironment, handle: WorkflowHandle[Any, Complaint]) -> Complaint:
    """The workflow's result, letting the server skip time meanwhile (a handle got by id is not
    the environment's own, which would unlock time skipping by itself)."""
    async with env.time_skipping_unlocked():
        return await handle.result()


async def save_history(client: Client, workflow_id: str, name: str) -> None:
    if os.environ.get("RECORD_COMPLAINT_HISTORIES") != "1":
        return
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    text = await saved_json(history, client.data_converter.payload_codec)
    (recording_dir() / f"complaint_{name}.json").write_text(text)
