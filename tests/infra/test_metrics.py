"""The worker's `/metrics` during a scenario: the SDK's series and the service's gauges move, on
one endpoint, with no personal data and no ids in any label."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import sys
import uuid
from datetime import UTC, datetime, timedelta

import aiohttp
from aiohttp.test_utils import TestServer
from google.protobuf import json_format
from sqlalchemy import Engine, select
from temporalio.api.common.v1 import Payload
from temporalio.runtime import Runtime, TelemetryConfig
from temporalio.testing import WorkflowEnvironment

from commands.complaints import COMMANDS
from domain.policy import Policy
from infra.binaries import temporal_test_server
from infra.codec import EncryptionCodec
from infra.codec_server import make_app
from infra.embedded_pg import free_port
from infra.keys import KeyRing, new_key_entry
from infra.metrics import ServiceMetrics, prometheus
from infra.settings import ROOT
from infra.temporal import data_converter, register_search_attributes
from projections.tables import complaints, notifications, service_tasks
from tests.helpers.complaint_env import complaint_context, intake
from tests.workflows.test_complaint_refusals import ASSESS
from workflows import search_attributes

_LINE = re.compile(r"^(\w+)(?:\{(.*)\})? (\S+)$")
# `service_name` is the runtime's own global label
SERVICE_LABELS = {"stage", "breached", "kind", "tier", "state", "service_name"}


def _series(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found = {}
    for line in text.splitlines():
        match = _LINE.match(line)
        if match:
            name, labels, value = match.groups()
            pairs = frozenset(re.findall(r'(\w+)="([^"]*)"', labels or ""))
            found[(name, pairs)] = float(value)
    return found


def _value(series: dict, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    values = [v for (n, pairs), v in series.items() if n == name and wanted <= pairs]
    assert values, f"no series {name}{labels}"
    return sum(values)


async def _scrape(port: int) -> dict:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as r:
        assert r.status == 200
        return _series(await r.text())


async def _until(check, within: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "the scenario did not get there"
        await asyncio.sleep(0.2)


async def test_metrics_move_during_a_complaint_past_its_deadline(
    db: Engine, keyring: KeyRing, policy: Policy
) -> None:
    port = free_port()
    runtime = Runtime(telemetry=TelemetryConfig(metrics=prometheus(f"127.0.0.1:{port}")))
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(keyring),
        runtime=runtime,
        test_server_existing_path=temporal_test_server(),
    )
    metrics = ServiceMetrics(runtime.metric_meter, db)
    try:
        await register_search_attributes(env.client, search_attributes.ALL)
        metrics.collect()
        before = await _scrape(port)
        assert _value(before, "client_care_open_complaints", stage="investigation") == 0
        assert _value(before, "client_care_complaint_deadline_events", kind="breach") == 0
        assert _value(before, "client_care_overdue_callbacks", tier="diamond") == 0
        assert _value(before, "client_care_outbox_notifications", state="failed") == 0

        body = intake("c-9301")
        async with complaint_context(env.client, db, keyring, policy) as ctx:
            opened = await COMMANDS["open"](ctx, None, body)
            await COMMANDS["assess"](ctx, opened["complaint_id"], ASSESS)
            # past the 15-day decision deadline: the handler is warned, then it is breached
            await env.sleep(timedelta(days=16))

            def breached() -> bool:
                with db.connect() as conn:
                    return bool(conn.execute(select(complaints.c.sla_breached)).scalar())

            await _until(breached)
        with db.begin() as conn:  # what other workflows would have written meanwhile
            now = datetime.now(UTC)
            conn.execute(
                service_tasks.insert().values(
                    task_id="client-c-9302:callback:2027-01-01", workflow_id="client-c-9302",
                    seq=1, client_id="c-9302", kind="callback", due_at=now, status="overdue",
                    tier="diamond", updated_at=now,
                )
            )  # fmt: skip
            conn.execute(
                notifications.insert().values(
                    notification_id="n-9302", workflow_id="client-c-9302", recipient_kind="client",
                    channel="sms", purpose="care", template="greeting", status="failed",
                    created_at=now,
                )
            )  # fmt: skip
        metrics.collect()
        after = await _scrape(port)
    finally:
        await env.shutdown()

    open_now = {
        (dict(p)["stage"], dict(p)["breached"]): v
        for (n, p), v in after.items()
        if n == "client_care_open_complaints" and v
    }
    assert open_now == {("investigation", "true"): 1}
    assert _value(after, "client_care_complaint_deadline_events", kind="warning") == 1
    assert _value(after, "client_care_complaint_deadline_events", kind="breach") == 1
    assert _value(after, "client_care_overdue_callbacks", tier="diamond") == 1
    assert _value(after, "client_care_outbox_notifications", state="failed") == 1
    # the SDK's own series, on the same endpoint, moved with the workflow tasks it ran
    tasks = "temporal_workflow_task_execution_latency_count"
    assert not [n for n, _ in before if n == tasks]  # no workflow task had run
    assert _value(after, tasks) > 0
    assert _value(after, "temporal_activity_task_received_total") > 0
    assert _value(after, "temporal_request_total") > _value(before, "temporal_request_total")
    # no label of ours holds anything but the states it names; nothing personal anywhere
    for name, pairs in after:
        if name.startswith("client_care_"):
            assert {k for k, _ in pairs} <= SERVICE_LABELS, (name, pairs)
    text = repr(after)
    for secret in ("c-9301", "c-9302", body["complainant"]["name"], "13800138000", "example.cn"):
        assert secret not in text


async def test_worker_py_serves_metrics_when_asked(
    dev_env: WorkflowEnvironment, pg_url: str, keyring: KeyRing
) -> None:
    """`METRICS_BIND_ADDRESS` set, `python worker.py` serves the SDK's and the service's series."""
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "TEMPORAL_TASK_QUEUE": f"metrics-{uuid.uuid4().hex[:8]}",
        "DATABASE_URL": pg_url,
        "CLIENT_CARE_KEYS": ",".join(
            f"{k}:{base64.b64encode(v).decode()}" for k, v in keyring.keys.items()
        ),
        "METRICS_BIND_ADDRESS": f"127.0.0.1:{port}",
        "LOG_FORMAT": "json",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "worker.py", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(150):
            try:
                series = await _scrape(port)
                if any(n == "client_care_open_complaints" for n, _ in series):
                    break
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("worker.py served no service metrics within 30 s")
        assert _value(series, "temporal_num_pollers") > 0  # the SDK's, from the same endpoint
        assert _value(series, "client_care_outbox_notifications", state="queued") >= 0
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 40)


async def test_the_codec_server_counts_requests_and_decoded_payloads(keyring: KeyRing) -> None:
    port = free_port()
    runtime = Runtime(telemetry=TelemetryConfig(metrics=prometheus(f"127.0.0.1:{port}")))
    token = "metrics-codec-token-" + "z" * 24
    app = make_app(keyring, token, "http://localhost:8233", meter=runtime.metric_meter)
    sealed = EncryptionCodec(keyring).encrypt(Payload(metadata={"encoding": b"json/plain"}))
    foreign = EncryptionCodec(KeyRing.parse(new_key_entry("other"))).encrypt(Payload())
    body = {"payloads": [json_format.MessageToDict(p) for p in (sealed, foreign)]}
    async with TestServer(app, host="127.0.0.1") as srv, aiohttp.ClientSession() as http:
        auth = {"Authorization": f"Bearer {token}"}
        async with http.post(srv.make_url("/default/decode"), json=body, headers=auth) as r:
            assert r.status == 200
        async with http.post(srv.make_url("/decode"), json=body) as r:
            assert r.status == 401
        series = await _scrape(port)
    requests = "client_care_codec_requests_total"
    assert _value(series, requests, action="decode", status="200") == 1
    assert _value(series, requests, action="decode", status="401") == 1
    payloads = "client_care_codec_payloads_total"
    assert _value(series, payloads, result="decoded") == 1
    assert _value(series, payloads, result="undecryptable") == 1
    for name, pairs in series:
        if name.startswith("client_care_codec"):
            assert {k for k, _ in pairs} <= {"action", "status", "result", "service_name"}
