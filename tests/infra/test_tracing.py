"""Traces: one trace from `complaint open` through the workflow to the projection's write, with
nothing personal in any span; off without an endpoint; over OTLP/HTTP from `starter.py`."""

from __future__ import annotations

import asyncio
import os
import sys
from urllib.parse import urlparse

import yaml
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanContext, Status, StatusCode, TraceFlags
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from commands.base import CommandError
from commands.complaints import COMMANDS
from domain.policy import Policy
from infra.embedded_pg import free_port
from infra.keys import KeyRing
from infra.settings import ROOT, Settings
from infra.tracing import (
    SPAN_ATTRIBUTES,
    TracingSettingsError,
    client_interceptors,
    command_span,
    failed,
    scrub,
    traces_endpoint,
    tracing,
)
from tests.helpers.complaint_env import complaint_context, intake

PERSONAL = ("Li Lei", "13800138000", "138 0013 8000", "li@example.cn", "fees were higher")


def _everything(span: ReadableSpan) -> str:
    """All the text a span carries to a collector."""
    parts = [span.name, repr(dict(span.attributes or {})), span.status.description or ""]
    parts += [e.name + repr(dict(e.attributes or {})) for e in span.events]
    parts += [repr(dict(link.attributes or {})) for link in span.links]
    return " ".join(parts)


def _ancestors(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[str]:
    names = []
    while span.parent is not None:
        parent = by_id.get(span.parent.span_id)
        assert parent is not None, f"{span.name}: its parent was not exported: a broken trace"
        names.append(parent.name)
        span = parent
    return names


async def test_complaint_open_is_one_trace_down_to_the_projection(
    ts_env: WorkflowEnvironment, db: Engine, keyring: KeyRing, policy: Policy
) -> None:
    exported = InMemorySpanExporter()
    with tracing(Settings(), "test", exporter=exported):
        config = ts_env.client.config()
        config["interceptors"] = [*config["interceptors"], *client_interceptors()]
        client = Client(**config)
        async with complaint_context(client, db, keyring, policy) as ctx:
            with command_span("complaint", "open"):
                opened = await COMMANDS["open"](ctx, None, intake("c-9601"))
            with command_span("complaint", "follow-up"):
                try:
                    await COMMANDS["follow-up"](ctx, opened["complaint_id"], {"satisfaction": 2})
                except CommandError as err:
                    failed(err.code)
            for _ in range(50):  # the activity's own span ends just after its result is sent
                names = {s.name for s in exported.get_finished_spans()}
                if "RunActivity:project_complaint" in names:
                    break
                await asyncio.sleep(0.1)
    spans = list(exported.get_finished_spans())
    by_id = {s.context.span_id: s for s in spans}
    opening = next(s for s in spans if s.name == "complaint open")
    trace = [s for s in spans if s.context.trace_id == opening.context.trace_id]
    names = {s.name for s in trace}
    assert {
        "StartWorkflow:ComplaintWorkflow",
        "RunWorkflow:ComplaintWorkflow",
        "StartActivity:project_complaint",
        "RunActivity:project_complaint",
        "projection write",
    } <= names, names
    # connected: every span reaches the command's through exported parents
    for span in trace:
        if span is not opening:
            assert _ancestors(span, by_id)[-1] == "complaint open", span.name
    write = next(s for s in trace if s.name == "projection write")
    # the interceptor's shape: the workflow's spans (run, activities it starts) continue the
    # client's start, the activity's run continues its start, the write sits in the run
    assert _ancestors(write, by_id) == [
        "RunActivity:project_complaint",
        "StartActivity:project_complaint",
        "StartWorkflow:ComplaintWorkflow",
        "complaint open",
    ]
    run = next(s for s in trace if s.name == "RunWorkflow:ComplaintWorkflow")
    assert _ancestors(run, by_id) == ["StartWorkflow:ComplaintWorkflow", "complaint open"]
    assert "complaints" in write.attributes["client_care.projection.tables"]
    assert write.attributes["client_care.projection.rows"] >= 1
    # the refused command is a trace of its own, failed with our code only
    refused = next(s for s in spans if s.name == "complaint follow-up")
    assert refused.status.status_code is StatusCode.ERROR
    assert refused.status.description == "rejected"
    # nothing personal, and only the allow-listed attributes, anywhere
    for span in spans:
        assert set(span.attributes or {}) <= SPAN_ATTRIBUTES, span.name
        text = _everything(span)
        for secret in PERSONAL:
            assert secret not in text, (span.name, secret)


def test_the_exporter_keeps_ids_and_error_types_only() -> None:
    context = SpanContext(1, 2, is_remote=False, trace_flags=TraceFlags(1))
    span = ReadableSpan(
        name="RunActivity:project_complaint",
        context=context,
        attributes={
            "temporalWorkflowID": "complaint-k7",
            "client.name": "Li Lei",
            "db.statement": "INSERT … 13800138000",
        },
        events=[
            Event(
                "exception",
                {
                    "exception.type": "IntegrityError",
                    "exception.message": "Key (phone)=(13800138000) already exists",
                    "exception.stacktrace": "Traceback … li@example.cn",
                },
            )
        ],
        status=Status(StatusCode.ERROR, "IntegrityError: Key (phone)=(13800138000)"),
    )
    clean = scrub(span)
    assert dict(clean.attributes or {}) == {"temporalWorkflowID": "complaint-k7"}
    assert [dict(e.attributes or {}) for e in clean.events] == [
        {"exception.type": "IntegrityError"}
    ]
    assert clean.status.description == "IntegrityError"
    assert clean.status.status_code is StatusCode.ERROR
    assert "13800138000" not in _everything(clean)


def test_off_without_an_endpoint() -> None:
    plain = Settings(_env_file=None)  # type: ignore[call-arg]
    assert traces_endpoint(plain) is None
    with tracing(plain, "test") as provider:
        assert provider is None
        assert client_interceptors() == []
    base = Settings(otel_exporter_otlp_endpoint="http://collector:4318/")  # type: ignore[call-arg]
    assert traces_endpoint(base) == "http://collector:4318/v1/traces"
    own = base.model_copy(update={"otel_exporter_otlp_traces_endpoint": "http://t:4318/x"})
    assert traces_endpoint(own) == "http://t:4318/x"
    assert traces_endpoint(base.model_copy(update={"otel_sdk_disabled": True})) is None
    assert traces_endpoint(base.model_copy(update={"otel_traces_exporter": "none"})) is None
    grpc = base.model_copy(update={"otel_exporter_otlp_protocol": "grpc"})
    try:
        with tracing(grpc, "test"):
            raise AssertionError("grpc is refused")
    except TracingSettingsError as err:
        assert "http/protobuf" in str(err)


async def test_starter_exports_its_command_span_over_otlp_http() -> None:
    """The standard setting is all it takes: a collector (here a stub) receives the span."""
    received: list[ExportTraceServiceRequest] = []

    async def traces(request: web.Request) -> web.Response:
        received.append(ExportTraceServiceRequest.FromString(await request.read()))
        return web.Response(content_type="application/x-protobuf", body=b"")

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        env = {
            "PATH": os.environ["PATH"],
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
            "LOG_FORMAT": "json",
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "starter.py", "client", "questionnaire", cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        assert b"questions" in out
    finally:
        await runner.cleanup()
    spans = [
        (resource.resource, span)
        for request in received
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    assert [s.name for _, s in spans] == ["client questionnaire"]
    resource, span = spans[0]
    service = {a.key: a.value.string_value for a in resource.attributes}["service.name"]
    assert service == "client-care-starter"
    assert {a.key: a.value.string_value for a in span.attributes} == {
        "client_care.command": "client questionnaire"
    }


def test_compose_sends_the_worker_s_traces_to_jaeger_and_grafana_reads_them() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    worker = services["worker"]["environment"]
    otel = {k.lower(): v for k, v in worker.items() if k.startswith("OTEL_")}
    endpoint = traces_endpoint(Settings(**otel))
    assert endpoint == "http://jaeger:4318/v1/traces"
    assert worker["OTEL_SERVICE_NAME"] == "client-care-worker"
    jaeger = services["jaeger"]
    assert "ports" not in jaeger  # inside the network only
    host, inside = jaeger["volumes"][0].split(":")[:2]
    assert jaeger["command"] == ["--config", inside]
    config = yaml.safe_load((ROOT / host).read_text())
    receiver = config["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    assert receiver == f"0.0.0.0:{urlparse(endpoint).port}"
    assert str(urlparse(endpoint).port) in jaeger["expose"]
    pipeline = config["service"]["pipelines"]["traces"]
    assert pipeline["receivers"] == ["otlp"]
    assert set(pipeline["exporters"]) <= set(config["exporters"])
    assert set(config["service"]["extensions"]) <= set(config["extensions"])
    query = config["extensions"]["jaeger_query"]
    assert query["storage"]["traces"] in config["extensions"]["jaeger_storage"]["backends"]
    query_port = query["http"]["endpoint"].rsplit(":", 1)[1]
    sources = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"]
    source = next(s for s in sources if s["type"] == "jaeger")
    assert source["url"] == f"http://jaeger:{query_port}" and query_port in jaeger["expose"]
