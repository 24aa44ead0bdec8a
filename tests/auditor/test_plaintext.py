"""A signal sent by hand with the real `temporal` CLI, past the codec, wedges a client workflow;
`auditor.py find-plaintext` names it and `repair-plaintext` resets the workflow to before it."""

from __future__ import annotations

import asyncio
import json
import uuid

from sqlalchemy import Engine
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.testing import WorkflowEnvironment

from audit import plaintext
from commands.base import CommandError
from commands.clients import COMMANDS
from domain.enums import Tier
from infra.binaries import temporal_cli
from infra.keys import KeyRing
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


async def test_a_plain_signal_is_found_and_repaired(
    dev_env: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> None:
    client_id = f"pt-{uuid.uuid4().hex[:8]}"
    workflow_id = f"client-{client_id}"
    client = dev_env.client
    async with client_worker(client, db, keyring, ends=[workflow_id]) as queue:
        c = ctx(client, queue)
        await COMMANDS["onboard"](c, None, client_body(client_id, Tier.GOLD))
        # Plain JSON, as an operator would type it: no codec, so stored in clear.
        sent = await asyncio.create_subprocess_exec(
            temporal_cli(), "workflow", "signal", "--address",
            client.service_client.config.target_host, "--namespace", client.namespace,
            "--workflow-id", workflow_id, "--name", "change_tier",
            "--input", json.dumps({"review_id": "by-hand", "new_tier": "diamond"}),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await asyncio.wait_for(sent.communicate(), 60)
        assert sent.returncode == 0, err
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
