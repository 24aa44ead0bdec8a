"""Servers each fault-test module owns as processes: a Temporal dev server on its own SQLite
file, an embedded PostgreSQL, and `worker.py` in a child process.

The session fixtures (`dev_env`, `pg_server`) cannot be used: these tests restart Temporal, stop
PostgreSQL and SIGKILL the worker, and `audit.verify` compares whole tables and rebuilds from
every history in the namespace, so nobody else's rows or workflows may be there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine
from temporalio.client import Client

from bench.localstack import DevServer, Endpoints, WorkerProcess
from commands.base import CommandContext
from domain.policy import Policy
from infra.database import make_engine
from infra.embedded_pg import EmbeddedPostgres, free_port
from infra.keys import KeyRing, new_key_entry
from projections.migrate import upgrade


@dataclass
class FaultStack:
    workdir: Path
    temporal: DevServer
    pg: EmbeddedPostgres
    endpoints: Endpoints
    engine: Engine

    @property
    def keyring(self) -> KeyRing:
        return self.endpoints.keyring

    async def client(self) -> Client:
        return await self.temporal.client(self.keyring, self.endpoints.namespace)

    def worker(self, name: str = "worker") -> WorkerProcess:
        return WorkerProcess(self.endpoints, self.workdir, name)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    workdir = tmp_path_factory.mktemp("faults")
    temporal = DevServer(workdir / "temporal.db")
    pg = EmbeddedPostgres(workdir / "pg", free_port())
    try:
        temporal.start()
        pg.start()
        upgrade(pg.url)
        endpoints = Endpoints(
            temporal_address=temporal.address,
            database_url=pg.url,
            keys=new_key_entry("faults1"),
        )
        engine = make_engine(pg.url)
        try:
            yield FaultStack(workdir, temporal, pg, endpoints, engine)
        finally:
            engine.dispose()
    finally:
        temporal.stop()
        pg.stop()


@pytest.fixture(scope="module")
async def client(stack: FaultStack) -> Client:
    return await stack.client()


@pytest.fixture
def ctx(client: Client, stack: FaultStack) -> CommandContext:
    return CommandContext(
        client=client, policy=Policy(), task_queue=stack.endpoints.task_queue, engine=stack.engine
    )


@pytest.fixture
def worker(stack: FaultStack) -> Iterator[WorkerProcess]:
    proc = stack.worker()
    proc.start()
    yield proc
    proc.stop()
