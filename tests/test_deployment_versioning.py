"""A deploy on the real dev server: Worker Deployment Versioning with the production worker.

A v1 worker (the shipped workflows) is current; complaints and clients start on it. A v2 worker
whose workflow code differs is deployed next to it, ramped, then made current. In-flight
complaints are pinned: they finish on v1 (v2's complaint code would not replay their histories,
so any task that reached v2 would fail). New complaints start on v2. Clients auto-upgrade: their
next task runs on v2, which takes a `workflow.patched` branch from there on, with no
non-determinism error. A rollback to v1 then sends new work back, but a client that took v2's
patch cannot replay on v1: it waits, its task failing, until v2 is current again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.common import WorkerDeploymentVersion
from temporalio.testing import WorkflowEnvironment

from activities.deps import ActivityDeps
from commands import clients, complaints
from commands.base import CommandContext
from domain.enums import Tier
from domain.policy import Policy
from infra import deployment
from infra.binaries import temporal_cli
from infra.keys import KeyRing
from infra.temporal import data_converter, search_attribute_flags
from projections.crypto import FieldCipher
from tests.helpers.complaint_env import intake
from tests.helpers.workflows_v2 import V2_PATCH, v2_workflows
from tests.workflows.test_client_support import client_body, metrics_for
from worker import build_activities, build_worker
from workflows import search_attributes


@pytest.fixture(scope="module")
async def server(
    keyring: KeyRing, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[WorkflowEnvironment]:
    """A dev server of this module's own: the test changes a deployment's routing."""
    env = await WorkflowEnvironment.start_local(
        data_converter=data_converter(keyring),
        dev_server_existing_path=temporal_cli(),
        dev_server_extra_args=[
            *search_attribute_flags(search_attributes.ALL),
            *deployment.dev_server_flags(),
            "--db-filename",
            str(tmp_path_factory.mktemp("temporal-versioning") / "dev.db"),
        ],
        ui=False,
    )
    yield env
    await env.shutdown()


@dataclass
class Task:
    build_id: str
    failed: bool


async def tasks_of(handle: WorkflowHandle[Any, Any]) -> list[Task]:
    """Every workflow task of the run, by the build id of the worker that completed it."""
    seen = []
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            attrs = event.workflow_task_completed_event_attributes
            seen.append(Task(attrs.deployment_version.build_id, failed=False))
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            seen.append(Task("", failed=True))
    return seen


async def builds(handle: WorkflowHandle[Any, Any]) -> set[str]:
    tasks = await tasks_of(handle)
    assert not any(t.failed for t in tasks), f"{handle.id}: a workflow task failed"
    return {t.build_id for t in tasks}


async def has_marker(handle: WorkflowHandle[Any, Any], patch: str) -> bool:
    async for event in handle.fetch_history_events():
        details = event.marker_recorded_event_attributes.details
        if "patch-data" in details:
            if json.loads(details["patch-data"].payloads[0].data)["id"] == patch:
                return True
    return False


async def memo_code(handle: WorkflowHandle[Any, Any]) -> str | None:
    code: str | None = await (await handle.describe()).memo_value("code", None)
    return code


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Up to 30 s, a liveness bound: a workflow task runs after the command that caused it."""
    for _ in range(150):
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"never true: {check}")


async def test_a_deploy_pins_complaints_and_moves_clients(
    server: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    client: Client = server.client
    run = uuid.uuid4().hex[:6]
    queue = f"deploy-{run}"
    name = f"client-care-{run}"
    v1 = WorkerDeploymentVersion(deployment_name=name, build_id="v1")
    v2 = WorkerDeploymentVersion(deployment_name=name, build_id="v2")
    ctx = CommandContext(client=client, policy=Policy(), task_queue=queue)
    deps = ActivityDeps(engine=db, cipher=FieldCipher(keyring))

    async def open_complaint(client_id: str) -> str:
        return str(
            (await complaints.COMMANDS["open"](ctx, None, intake(client_id)))["complaint_id"]
        )

    async def close(cid: str) -> None:
        assess = {"category": "fees", "severity": "low", "department": "ops", "handler": "h-1"}
        await complaints.COMMANDS["assess"](ctx, cid, assess)
        await complaints.COMMANDS["investigate"](ctx, cid, {"findings": "fee table", "done": True})
        due = (date.today() + timedelta(days=20)).isoformat()
        resolve = {"measures": "refund", "owner": "h-1", "due": due}
        await complaints.COMMANDS["resolve"](ctx, cid, resolve)
        await complaints.COMMANDS["follow-up"](ctx, cid, {"satisfaction": 5, "comment": "ok"})

    def complaint(cid: str) -> WorkflowHandle[Any, Any]:
        return client.get_workflow_handle(f"complaint-{cid}")

    def client_wf(client_id: str) -> WorkflowHandle[Any, Any]:
        return client.get_workflow_handle(f"client-{client_id}")

    async def closed(handle: WorkflowHandle[Any, Any]) -> bool:
        return (await handle.describe()).close_time is not None

    async def marked_v2(handle: WorkflowHandle[Any, Any]) -> bool:
        return await memo_code(handle) == "v2"

    with ThreadPoolExecutor(max_workers=16) as pool:
        async with AsyncExitStack() as workers:
            # v1 on a new cluster: it makes itself current (the worker's default, `if-none`)
            first = await workers.enter_async_context(
                build_worker(client, queue, deps, pool, version=v1)
            )
            assert first.claimed
            old_client = f"dv-{run}-old"
            await clients.onboard(ctx, None, client_body(old_client, Tier.PLATINUM))
            in_flight = await open_complaint(old_client)
            assert await builds(complaint(in_flight)) == {"v1"}
            assert await builds(client_wf(old_client)) == {"v1"}

            # v2 rolls out next to it: a running deployment's routing is not its to change
            second = await workers.enter_async_context(
                build_worker(client, queue, deps, pool, version=v2, workflows=v2_workflows())
            )
            assert not second.claimed
            async with asyncio.timeout(60):
                await deployment.set_ramping(client, v2, 10)
                routed = await deployment.routing(client, name)
                assert routed is not None
                assert (routed.current, routed.ramping, routed.ramping_percentage) == (
                    "v1",
                    "v2",
                    10,
                )
                # all of the ramp: what a new complaint does while v1 is still current
                await deployment.set_ramping(client, v2, 100)
            ramped = await open_complaint(f"dv-{run}-ramp")
            await eventually(lambda: marked_v2(complaint(ramped)))
            assert await builds(complaint(ramped)) == {"v2"}
            async with asyncio.timeout(60):
                await deployment.set_current(client, v2)
            routed = await deployment.routing(client, name)
            assert routed is not None and (routed.current, routed.ramping) == ("v2", None)

            # in flight, pinned: every later step still runs on v1, to the end
            await close(in_flight)
            await eventually(lambda: closed(complaint(in_flight)))
            assert await builds(complaint(in_flight)) == {"v1"}
            assert await memo_code(complaint(in_flight)) is None

            # new complaints start on v2's code
            fresh = await open_complaint(old_client)
            await eventually(lambda: marked_v2(complaint(fresh)))
            assert await builds(complaint(fresh)) == {"v2"}

            # the client started on v1 moves to v2 at its next task and takes the patch
            diamond = metrics_for(Tier.DIAMOND)
            await clients.COMMANDS["update"](ctx, old_client, {"metrics": diamond})
            await eventually(lambda: marked_v2(client_wf(old_client)))
            tasks = await tasks_of(client_wf(old_client))
            assert not any(t.failed for t in tasks), "a task failed: non-determinism on v2"
            order = [t.build_id for t in tasks]
            assert order[0] == "v1" and order[-1] == "v2"
            assert order == sorted(order), "moved once, never back"
            assert await has_marker(client_wf(old_client), V2_PATCH)
            view = await clients.show(ctx, old_client, {})
            assert view["file"]["metrics"]["aum"] == diamond["aum"]

            # and a new client runs on v2 from its first task
            new_client = f"dv-{run}-new"
            await clients.onboard(ctx, None, client_body(new_client, Tier.GOLD))
            assert await builds(client_wf(new_client)) == {"v2"}

            # roll back: v1 is current again. New complaints start on v1; `fresh`, pinned to
            # v2, finishes there; a client that never reached v2's change moves back cleanly.
            async with asyncio.timeout(60):
                await deployment.set_current(client, v1)
            back = await open_complaint(f"dv-{run}-back")
            assert await builds(complaint(back)) == {"v1"}
            await close(fresh)
            await eventually(lambda: closed(complaint(fresh)))
            assert await builds(complaint(fresh)) == {"v2"}
            await clients.COMMANDS["update"](ctx, new_client, {"metrics": diamond})
            order = [t.build_id for t in await tasks_of(client_wf(new_client))]
            assert order[-1] == "v1" and not await has_marker(client_wf(new_client), V2_PATCH)
            assert await builds(client_wf(new_client)) == {"v1", "v2"}  # no task failed

            # but a client that took v2's patch cannot replay on v1 (its history has v2's
            # marker and command): its next task fails there, and it waits, stuck, until the
            # version with its change is current again (README, step 5: fix forward)
            gold = metrics_for(Tier.GOLD)
            with contextlib.suppress(WorkflowUpdateRPCTimeoutOrCancelledError, TimeoutError):
                async with asyncio.timeout(5):
                    await clients.COMMANDS["update"](ctx, old_client, {"metrics": gold})

            async def stuck_on_v1() -> bool:
                return (await tasks_of(client_wf(old_client)))[-1].failed

            await eventually(stuck_on_v1)
            async with asyncio.timeout(60):
                await deployment.set_current(client, v2)

            async def recovered_on_v2() -> bool:
                last = (await tasks_of(client_wf(old_client)))[-1]
                return not last.failed and last.build_id == "v2"

            await eventually(recovered_on_v2)
            await clients.COMMANDS["update"](ctx, old_client, {"metrics": gold})
            view = await clients.show(ctx, old_client, {})
            assert view["file"]["metrics"]["aum"] == gold["aum"]

            for cid in (ramped, back):
                await complaint(cid).terminate("test over")
            for cid in (old_client, new_client):
                await clients.COMMANDS["offboard"](ctx, cid, {"reason": "test over"})


async def test_routing_waits_for_every_task_queue_of_the_current_version(
    server: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    """A new version is listed as soon as one of its pollers is seen, say its workflow poller;
    the server refuses to route to it until it also polls every task queue (workflow and
    activity) the current version serves. A rollout waits for that, it does not fail."""
    client: Client = server.client
    run = uuid.uuid4().hex[:6]
    queue = f"tq-{run}"
    v1 = WorkerDeploymentVersion(deployment_name=f"cc-tq-{run}", build_id="v1")
    v2 = WorkerDeploymentVersion(deployment_name=f"cc-tq-{run}", build_id="v2")
    deps = ActivityDeps(engine=db, cipher=FieldCipher(keyring))
    with ThreadPoolExecutor(max_workers=4) as pool:
        async with AsyncExitStack() as workers:
            await workers.enter_async_context(build_worker(client, queue, deps, pool, version=v1))
            # v2's workflow poller alone: v2 is listed, but serves no activity task queue yet
            await workers.enter_async_context(
                deployment.versioned_worker(
                    client, version=v2, claim="never", task_queue=queue, workflows=v2_workflows()
                )
            )
            async with asyncio.timeout(30):
                await deployment.wait_until_polling(client, v2)
            ramp = asyncio.create_task(deployment.set_ramping(client, v2, 50))
            await asyncio.sleep(3)
            assert not ramp.done(), "routed to a version that does not serve every task queue"
            await workers.enter_async_context(
                deployment.versioned_worker(
                    client,
                    version=v2,
                    claim="never",
                    task_queue=queue,
                    activities=build_activities(deps, client),
                    activity_executor=pool,
                )
            )
            async with asyncio.timeout(60):
                await ramp
            routed = await deployment.routing(client, v1.deployment_name)
            assert routed is not None and (routed.current, routed.ramping) == ("v1", "v2")
