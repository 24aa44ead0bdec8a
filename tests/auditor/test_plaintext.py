"""A signal sent by hand with the real `temporal` CLI, past the codec, wedges a client workflow;
the worker says so at once (a warning and a counter naming the workflow), `auditor.py
find-plaintext` names the event and `repair-plaintext` resets the workflow to before it."""

from __future__ import annotations

import asyncio
import json
import uuid

import structlog
from sqlalchemy import Engine
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.client import Client
from temporalio.runtime import Runtime, TelemetryConfig
from temporalio.testing import WorkflowEnvironment

from audit import plaintext
from commands.base import CommandError
from commands.clients import COMMANDS
from domain.enums import Tier
from infra.binaries import temporal_cli
from infra.codec import PlaintextAlarm
from infra.embedded_pg import free_port
from infra.keys import KeyRing
from infra.metrics import prometheus
from infra.temporal import data_converter
from tests.infra.test_metrics import _scrape
from tests.workflows.test_client_support import client_body, client_worker, ctx


async def failed_tasks(handle: object) -> int:
    """Failed workflow tasks, but for the one a reset records at its reset point."""
    return len(
        [
            e
            async for e in handle.fetch_history_events()  # type: ignore[attr-defined]
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
            and e.workflow_task_failed_event_attributes.cause
            != WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW
        ]
    )


async def send_by_hand(client: Client, workflow_id: str) -> None:
    """Plain JSON, as an operator would type it: no codec, so stored in clear."""
    sent = await asyncio.create_subprocess_exec(
        temporal_cli(), "workflow", "signal", "--address",
        client.service_client.config.target_host, "--namespace", client.namespace,
        "--workflow-id", workflow_id, "--name", "change_tier",
        "--input", json.dumps({"review_id": "by-hand", "new_tier": "diamond"}),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(sent.communicate(), 60)
    assert sent.returncode == 0, err


async def test_the_worker_names_the_wedged_workflow_in_its_log_and_metrics(
    dev_env: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    port = free_port()
    runtime = Runtime(telemetry=TelemetryConfig(metrics=prometheus(f"127.0.0.1:{port}")))
    # the worker's own client, as worker.py builds it: the alarm counts on its runtime's meter
    client = await Client.connect(
        dev_env.client.service_client.config.target_host,
        namespace=dev_env.client.namespace,
        data_converter=data_converter(keyring, PlaintextAlarm(runtime.metric_meter)),
        runtime=runtime,
    )
    client_id = f"pt-{uuid.uuid4().hex[:8]}"
    workflow_id = f"client-{client_id}"
    series = "client_care_plaintext_payloads_total"
    async with client_worker(client, db, keyring, ends=[workflow_id]) as queue:
        await COMMANDS["onboard"](ctx(client, queue), None, client_body(client_id, Tier.GOLD))
        assert not [k for k, _ in (await _scrape(port)) if k == series]
        with structlog.testing.capture_logs() as logs:
            await send_by_hand(client, workflow_id)
            counted = 0.0
            for _ in range(200):
                scraped = await _scrape(port)
                counted = sum(v for (n, labels), v in scraped.items() if n == series)
                if counted:
                    break
                await asyncio.sleep(0.1)
        assert counted >= 1
        labelled = {dict(labels).get("workflow_id") for (n, labels) in scraped if n == series}
        assert labelled == {workflow_id}
        warned = [e for e in logs if e["event"].startswith("plaintext payload refused")]
        assert warned and {e["workflow_id"] for e in warned} == {workflow_id}
        assert all(e["encoding"] == "json/plain" for e in warned)
        assert "repair-plaintext" in warned[0]["event"]
        await plaintext.repair(client, workflow_id, "test: hand-made signal")


async def test_a_plain_signal_is_found_and_repaired(
    dev_env: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    client_id = f"pt-{uuid.uuid4().hex[:8]}"
    workflow_id = f"client-{client_id}"
    client = dev_env.client
    async with client_worker(client, db, keyring, ends=[workflow_id]) as queue:
        c = ctx(client, queue)
        await COMMANDS["onboard"](c, None, client_body(client_id, Tier.GOLD))
        await send_by_hand(client, workflow_id)
        handle = client.get_workflow_handle(workflow_id)
        for _ in range(100):  # the worker's codec refuses the clear payload: the task fails
            if await failed_tasks(handle):
                break
            await asyncio.sleep(0.1)
        assert await failed_tasks(handle) > 0

        found = await plaintext.find(client, workflow_id)
        assert [(d.kind, d.name) for d in found] == [("signal", "change_tier")]
        repaired = await plaintext.repair(client, workflow_id, "test: hand-made signal")
        assert repaired.new_run_id and repaired.new_run_id != repaired.run_id
        assert [(d.name, d.plaintext) for d in repaired.dropped] == [("change_tier", True)]

        shown = None
        for _ in range(100):  # the new run replays up to the reset point, then answers
            try:
                shown = await COMMANDS["show"](c, client_id, {})
                break
            except CommandError:
                await asyncio.sleep(0.1)
        assert shown is not None and shown["tier"] == "gold"
        paused = await COMMANDS["pause"](c, client_id, {"reason": "client abroad"})
        assert paused["status"] == "paused"
        assert await plaintext.find(client, workflow_id) == []
        new_run = client.get_workflow_handle(workflow_id, run_id=repaired.new_run_id)
        assert await failed_tasks(new_run) == 0
