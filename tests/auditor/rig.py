"""The sample workflow running against the shared servers, and the CLI pointed at them."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.deps import ActivityDeps
from infra.keys import KeyRing
from projections.crypto import FieldCipher
from tests.auditor.sample import Advance, AuditSample, Note, SampleActivities, SampleInput


@dataclass(frozen=True)
class SampleRig:
    client: Client
    task_queue: str

    @property
    def query(self) -> str:
        """Visibility query for exactly this test's runs (the servers are shared)."""
        return f"TaskQueue='{self.task_queue}'"

    async def start(self, case: str, *, advances_per_run: int = 100) -> WorkflowHandle[Any, str]:
        return await self.client.start_workflow(
            AuditSample.run,
            SampleInput(
                case_id=case,
                client_id=f"cl-{case}",
                content=f"confidential complaint text of {case}",
                advances_per_run=advances_per_run,
            ),
            id=f"{self.task_queue}-{case}",
            task_queue=self.task_queue,
        )

    async def lifecycle(self, case: str, *, close: bool = True, advances_per_run: int = 2) -> str:
        """Update (alice), signal (bob), then close (carol): with 2 advances per run, two runs."""
        handle = await self.start(case, advances_per_run=advances_per_run)
        await handle.execute_update(AuditSample.advance, Advance(actor="alice", stage="assessment"))
        await handle.signal(AuditSample.note, Note(actor="bob", text="called the client back"))
        if close:
            await handle.execute_update(AuditSample.advance, Advance(actor="carol", stage="closed"))
            await handle.result()
        else:
            await self.projected(handle.id, 3)
        return handle.id

    async def projected(self, workflow_id: str, seq: int) -> None:
        handle = self.client.get_workflow_handle(workflow_id)
        for _ in range(200):
            if await handle.query(AuditSample.projected) >= seq:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{workflow_id} did not project seq {seq}")

    async def listed(self, runs: int) -> None:
        """Waits until visibility lists `runs` runs: the dev server indexes asynchronously."""
        for _ in range(200):
            if (await self.client.count_workflows(self.query)).count >= runs:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"visibility never listed {runs} runs for {self.query}")


async def running(client: Client, engine: Engine, keyring: KeyRing) -> AsyncIterator[SampleRig]:
    rig = SampleRig(client, f"audit-{uuid.uuid4().hex[:8]}")
    deps = ActivityDeps(engine=engine, cipher=FieldCipher(keyring))
    with ThreadPoolExecutor(max_workers=4) as pool:
        async with Worker(
            client,
            task_queue=rig.task_queue,
            workflows=[AuditSample],
            activities=[SampleActivities(deps).project],
            activity_executor=pool,
        ):
            yield rig


def ring_text(keyring: KeyRing) -> str:
    """The CLIENT_CARE_KEYS form of a key ring."""
    return ",".join(f"{kid}:{base64.b64encode(key).decode()}" for kid, key in keyring.keys.items())


def point_at(monkeypatch: pytest.MonkeyPatch, env: WorkflowEnvironment | SampleRig) -> None:
    """Points the CLI at a server (and, for a rig, at the rig's namespace)."""
    client = env.client
    monkeypatch.setenv("TEMPORAL_ADDRESS", client.service_client.config.target_host)
    monkeypatch.setenv("TEMPORAL_NAMESPACE", client.namespace)
