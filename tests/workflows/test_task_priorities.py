"""On the dev server: a complaint is served before a backlog of client-service work drains.

Onboardings are queued with no worker polling, then two complaints are opened (one straight,
one through its matter's registry), then a worker with one workflow-task slot starts. The
complaints' acknowledgements complete before most of the onboardings do: their starts carry a
lower priority key (`domain.priorities`), which the server dispatches first. When they were
started without keys, the queue was first in, first out, and the complaints came last.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.deps import ActivityDeps
from commands.base import CommandContext
from commands.clients import onboard
from commands.complaint_open import open_complaint
from domain import priorities
from domain.policy import Policy
from infra.keys import KeyRing
from projections.crypto import FieldCipher
from tests.helpers.complaint_env import intake
from tests.workflows.test_client_support import client_body
from worker import Tuning, build_worker
from workflows.client_service.models import workflow_id_for
from workflows.complaint_models import complaint_workflow_id, matter_workflow_id

BACKLOG = 60


async def _started(
    client: Client, workflow_id: str, command: asyncio.Task[Any]
) -> WorkflowHandle[Any, Any]:
    handle = client.get_workflow_handle(workflow_id)
    for _ in range(600):
        if command.done():
            command.result()  # raises what refused it
        with contextlib.suppress(RPCError):
            await handle.describe()
            return handle
        await asyncio.sleep(0.05)
    raise AssertionError(f"{workflow_id} never started")


async def _priority_key(handle: WorkflowHandle[Any, Any]) -> int:
    described = await handle.describe()
    return described.raw_description.workflow_execution_info.priority.priority_key


async def _first_update_completed(handle: WorkflowHandle[Any, Any]) -> datetime:
    done = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED
    async for event in handle.fetch_history_events():
        if event.event_type == done:
            return event.event_time.ToDatetime()
    raise AssertionError(f"{handle.id}: no update completed")


async def test_complaints_go_before_a_backlog_of_client_service_work(
    dev_env: WorkflowEnvironment, db: Engine, keyring: KeyRing, policy: Policy
) -> None:
    client = dev_env.client
    queue, run = f"prio-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:6]
    ctx = CommandContext(client=client, policy=policy, task_queue=queue, engine=db)
    clients = [f"prio-{run}-{n:03d}" for n in range(BACKLOG)]
    onboarding = [asyncio.create_task(onboard(ctx, None, client_body(cid))) for cid in clients]
    backlog = [
        await _started(client, workflow_id_for(cid), task)
        for cid, task in zip(clients, onboarding, strict=True)
    ]

    # the complaints' caller has a connection of its own, as a caller elsewhere would: sixty
    # updates waiting on one connection hold up its other calls
    caller = await Client.connect(
        client.service_client.config.target_host,
        namespace=client.namespace,
        data_converter=client.data_converter,
    )
    complaint_ctx = CommandContext(client=caller, policy=policy, task_queue=queue, engine=db)
    straight, on_matter = f"p{run}a", f"p{run}b"
    opening = [
        asyncio.create_task(open_complaint(complaint_ctx, straight, intake("prio-c-1"))),
        asyncio.create_task(
            open_complaint(complaint_ctx, on_matter, intake("prio-c-2", category="fees"))
        ),
    ]
    await _started(client, complaint_workflow_id(straight), opening[0])
    # the registry starts its complaint as a child, once a worker runs it
    registry = await _started(client, matter_workflow_id("prio-c-2:fees"), opening[1])

    deps = ActivityDeps(engine=db, cipher=FieldCipher(keyring))
    one_slot = Tuning(workflow_task_slots=1, max_pollers=2)
    with ThreadPoolExecutor(max_workers=2) as pool:
        async with build_worker(client, queue, deps, pool, tuning=one_slot, activity_slots=2):
            answers = await asyncio.gather(*opening)
            await asyncio.gather(*onboarding)
            complaints = [
                client.get_workflow_handle(complaint_workflow_id(c)) for c in (straight, on_matter)
            ]
            assert await _priority_key(registry) == priorities.COMPLAINT
            for handle in complaints:  # the registry's child carries the key of its own
                assert await _priority_key(handle) == priorities.COMPLAINT
            assert await _priority_key(backlog[0]) == priorities.CLIENT_SERVICE

    assert [a["merged"] for a in answers] == [False, False]
    served = sorted([await _first_update_completed(h) for h in backlog])
    for handle in complaints:
        acknowledged = await _first_update_completed(handle)
        before = sum(1 for at in served if at < acknowledged)
        # FIFO puts both complaints behind (nearly) all 60 (53 and 60 measured with the keys
        # off); priority lets the onboardings already in flight (the slot's current task, sticky
        # tasks, activities taken) finish first: 3, 9 and 20 of 60 seen on this machine
        assert before < BACKLOG // 2, f"{handle.id}: {before} of {BACKLOG} onboardings first"
