"""Fixtures of the auditor tests: sample-workflow rigs on each server, the CLI's environment."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from google.protobuf.duration_pb2 import Duration
from sqlalchemy import Engine
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from infra.keys import KeyRing
from tests.auditor.rig import SampleRig, ring_text, running


@pytest.fixture
async def ts_rig(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> AsyncIterator[SampleRig]:
    async for rig in running(ts_env.client, db, keyring):
        yield rig


@pytest.fixture
async def dev_rig(
    dev_env: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> AsyncIterator[SampleRig]:
    async for rig in running(dev_env.client, db, keyring):
        yield rig


@pytest.fixture
async def own_namespace_rig(
    dev_env: WorkflowEnvironment, db: Engine, keyring: KeyRing
) -> AsyncIterator[SampleRig]:
    """A rig in a namespace of its own on the dev server: the whole namespace is this test's,
    so rebuilds need no query (the shared default namespace holds other tests' workflows)."""
    namespace = f"audit-{uuid.uuid4().hex[:8]}"
    await dev_env.client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=namespace,
            workflow_execution_retention_period=Duration(seconds=86400),
        )
    )
    config = dev_env.client.config()
    client = await Client.connect(
        dev_env.client.service_client.config.target_host,
        namespace=namespace,
        data_converter=config["data_converter"],
    )
    async for rig in running(client, db, keyring):
        yield rig


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, pg_url: str, keyring: KeyRing) -> pytest.MonkeyPatch:
    """The environment `auditor.py` reads, minus the Temporal address (per server)."""
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("CLIENT_CARE_KEYS", ring_text(keyring))
    monkeypatch.setenv("CLIENT_CARE_ACTOR", "auditor-under-test")
    return monkeypatch
