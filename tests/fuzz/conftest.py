"""A dev server of the fuzz suite's own, with the production worker (`worker.build_worker`:
every workflow and activity) running in-process against the session's PostgreSQL.

Its own server, because the fuzzers start workflows with fixed ids (`kpi-report-<period>`, the
schedules, matter registries) that must not meet other tests' runs, and the aftermath check
reads every workflow in the namespace.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine
from temporalio.client import Client

from activities.deps import ActivityDeps
from bench.localstack import DevServer
from commands.base import CommandContext
from domain.policy import Policy
from infra.keys import KeyRing
from projections.crypto import FieldCipher
from tests.fuzz.rig import FuzzRig
from worker import build_worker

TASK_QUEUE = "fuzz"


@pytest.fixture(scope="session")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    server = DevServer(Path(tmp_path_factory.mktemp("fuzz-temporal")) / "temporal.db")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
async def fuzz_client(fuzz_server: DevServer, keyring: KeyRing) -> Client:
    return await fuzz_server.client(keyring)


@pytest.fixture(scope="session")
async def rig(
    fuzz_client: Client,
    engine: Engine,
    keyring: KeyRing,
    policy: Policy,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[FuzzRig]:
    deps = ActivityDeps(engine=engine, cipher=FieldCipher(keyring))
    with ThreadPoolExecutor(max_workers=16, thread_name_prefix="fuzz-activity") as executor:
        async with build_worker(fuzz_client, TASK_QUEUE, deps, executor):
            ctx = CommandContext(
                client=fuzz_client, policy=policy, task_queue=TASK_QUEUE, engine=engine
            )
            rig = FuzzRig(ctx, out_dir=tmp_path_factory.mktemp("fuzz-reports"))
            yield rig
            print("\nfuzz outcomes:", dict(rig.tally))
