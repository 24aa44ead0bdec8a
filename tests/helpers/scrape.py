"""One scrape of everything the service exports: a worker's `/metrics` after a scenario that makes
every series the dashboards and alerts read exist at least once.

The SDK's core runtime shows a counter or histogram only once something was recorded on it, so
the scenario provokes each one for real: a complaint opened and a command of it refused, a
workflow task that fails, an activity that fails, the service's gauges collected from the read
models, a plaintext payload refused by the codec's alarm and a codec-server request, all on the
one runtime whose endpoint is scraped. What is scraped is what the code exports; nothing is
listed by hand.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import aiohttp
from aiohttp.test_utils import TestServer
from google.protobuf import json_format
from sqlalchemy import Engine
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError
from temporalio.runtime import Runtime, TelemetryConfig
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from commands.base import CommandError
from commands.complaints import COMMANDS
from domain.policy import Policy
from infra.binaries import temporal_test_server
from infra.codec import EncryptionCodec, PlaintextAlarm
from infra.codec_server import make_app
from infra.embedded_pg import free_port
from infra.keys import KeyRing
from infra.metrics import ServiceMetrics, prometheus
from infra.temporal import data_converter, register_search_attributes
from tests.helpers.complaint_env import complaint_context, intake
from workflows import search_attributes
from workflows.metering import RefusalCounter

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]
_LINE = re.compile(r"^(\w+)(?:\{(.*)\})? (\S+)$")


def parse(text: str) -> Series:
    found: Series = {}
    for line in text.splitlines():
        match = _LINE.match(line)
        if match:
            name, labels, value = match.groups()
            pairs = frozenset(re.findall(r'(\w+)="([^"]*)"', labels or ""))
            found[(name, pairs)] = float(value)
    return found


async def scrape(port: int) -> Series:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as r:
        assert r.status == 200
        return parse(await r.text())


@activity.defn(name="probe_fails")
async def probe_fails() -> None:
    raise RuntimeError("an activity that fails")


@workflow.defn(sandboxed=False)
class ActivityFailureProbe:
    @workflow.run
    async def run(self) -> None:
        try:
            await workflow.execute_activity(
                probe_fails,
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=RetryPolicy(maximum_attempts=1),
            )
        except ActivityError:
            pass


@workflow.defn(sandboxed=False)
class TaskFailureProbe:
    @workflow.run
    async def run(self) -> None:
        raise RuntimeError("a bug: not an ApplicationError, so the workflow task fails")


async def _until(check: object, within: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():  # type: ignore[operator]
        assert loop.time() < deadline, "the scenario did not get there"
        await asyncio.sleep(0.2)


async def everything_exported(engine: Engine, keyring: KeyRing, policy: Policy) -> Series:
    port = free_port()
    runtime = Runtime(telemetry=TelemetryConfig(metrics=prometheus(f"127.0.0.1:{port}")))
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(keyring),
        runtime=runtime,
        test_server_existing_path=temporal_test_server(),
    )
    try:
        await register_search_attributes(env.client, search_attributes.ALL)
        async with complaint_context(env.client, engine, keyring, policy) as ctx:
            opened = await COMMANDS["open"](ctx, None, intake("c-9501"))
            try:
                await COMMANDS["follow-up"](ctx, opened["complaint_id"], {"satisfaction": 5})
            except CommandError:
                pass
            else:
                raise AssertionError("a follow-up at assessment is refused")
        queue = f"probes-{uuid.uuid4().hex[:8]}"
        with ThreadPoolExecutor(max_workers=2) as pool:
            async with Worker(
                env.client,
                task_queue=queue,
                workflows=[ActivityFailureProbe, TaskFailureProbe],
                activities=[probe_fails],
                activity_executor=pool,
                interceptors=[RefusalCounter()],
            ):
                await env.client.execute_workflow(
                    ActivityFailureProbe.run, id=f"probe-a-{uuid.uuid4().hex[:8]}", task_queue=queue
                )
                failing = await env.client.start_workflow(
                    TaskFailureProbe.run, id=f"probe-t-{uuid.uuid4().hex[:8]}", task_queue=queue
                )
                seen: Series = {}

                async def failed_once() -> bool:
                    seen.update(await scrape(port))
                    return any(
                        n == "temporal_workflow_task_execution_failed_total" for n, _ in seen
                    )

                for _ in range(150):
                    if await failed_once():
                        break
                    await asyncio.sleep(0.2)
                else:
                    raise AssertionError("the probe's workflow task never failed")
                await failing.terminate("probe done")
        ServiceMetrics(runtime.metric_meter, engine).collect()
        alarm = PlaintextAlarm(runtime.metric_meter)
        alarm("probe-plaintext", "json/plain")
        alarm.moved("probe-moved", "default")
        token = "scrape-codec-token-" + "z" * 24
        app = make_app(keyring, token, "http://localhost:8233", meter=runtime.metric_meter)
        sealed = EncryptionCodec(keyring).encrypt(Payload(metadata={"encoding": b"json/plain"}))
        body = {"payloads": [json_format.MessageToDict(sealed)]}
        async with TestServer(app, host="127.0.0.1") as srv, aiohttp.ClientSession() as http:
            auth = {"Authorization": f"Bearer {token}"}
            async with http.post(srv.make_url("/default/decode"), json=body, headers=auth) as r:
                assert r.status == 200
        return await scrape(port)
    finally:
        await env.shutdown()
