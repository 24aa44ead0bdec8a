"""OpenTelemetry traces: off unless an OTLP endpoint is set, then one trace per command.

With `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) set, a process
entering `tracing(...)` gets a tracer provider of its own, exporting over OTLP/HTTP; `connect`
then gives its client the SDK's `TracingInterceptor` (`temporalio.contrib.opentelemetry`), which
every worker built on that client inherits. A command's span (`starter.py`) is the root; the
interceptor carries its context in the headers of the start or update it sends, the worker's
workflow spans continue it, the activities' spans continue those, and the projections' writes
(`projection_span`) sit inside the activity's. The interceptor rather than the contrib
`OpenTelemetryPlugin`: the plugin is marked experimental, and the interceptor's spans appear
as they happen instead of when a workflow that may live for decades completes.

No personal data leaves in a span. The provider is the process's own, not the global one (the
global can be set once per process, and a library calling `trace.get_tracer` must not export
unscrubbed spans), and its exporter is wrapped in `ScrubbingExporter`, the last line of defence
as `infra.redact` is for logs: it keeps an attribute only under a key on `SPAN_ATTRIBUTES`
(Temporal's ids and ours; the ids a caller chooses never have a phone's or an ID number's shape),
shape-masks every string kept, and cuts exception messages and stack traces down to the error's
type (a database error's message can quote the row it refused). The other `OTEL_*` settings
(headers, certificates, timeout, sampler, resource attributes) are read by the OpenTelemetry SDK.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import Link, Status

from domain.personal_data import mask_text

if TYPE_CHECKING:
    from temporalio.client import Interceptor

    from infra.settings import Settings

TRACER_NAME = "client_care"

SPAN_ATTRIBUTES = frozenset(
    {
        # the SDK's TracingInterceptor
        "temporalWorkflowID", "temporalRunID", "temporalActivityID", "temporalUpdateID",
        # ours
        "client_care.command", "client_care.projection.tables", "client_care.projection.rows",
        # an exception event keeps its type only
        "exception.type",
    }
)  # fmt: skip


class TracingSettingsError(ValueError):
    pass


def traces_endpoint(settings: Settings) -> str | None:
    """Where spans go, or None: tracing off. The signal's own endpoint is used as given; the
    general one gets `/v1/traces`, as the OTLP/HTTP specification says."""
    if settings.otel_sdk_disabled or (settings.otel_traces_exporter or "otlp") == "none":
        return None
    if settings.otel_exporter_otlp_traces_endpoint:
        return settings.otel_exporter_otlp_traces_endpoint
    if settings.otel_exporter_otlp_endpoint:
        return settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
    return None


def _scrub_attributes(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for key, value in (attributes or {}).items():
        if key not in SPAN_ATTRIBUTES:
            continue
        if isinstance(value, str):
            value = mask_text(value)
        elif isinstance(value, Sequence) and not isinstance(value, bytes):
            value = [mask_text(v) if isinstance(v, str) else v for v in value]
        kept[key] = value
    return kept


def scrub(span: ReadableSpan) -> ReadableSpan:
    """The span with only allow-listed attributes, and errors named by their type alone."""
    status = span.status
    if status.description:
        # the interceptor writes "Type: message"; the message can echo input
        status = Status(status.status_code, status.description.split(":", 1)[0])
    events = [
        Event(e.name, _scrub_attributes(e.attributes), timestamp=e.timestamp) for e in span.events
    ]
    links = [Link(link.context, _scrub_attributes(link.attributes)) for link in span.links]
    return ReadableSpan(
        name=mask_text(span.name),
        context=span.get_span_context(),
        parent=span.parent,
        resource=span.resource,
        attributes=_scrub_attributes(span.attributes),
        events=events,
        links=links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class ScrubbingExporter(SpanExporter):
    def __init__(self, inner: SpanExporter) -> None:
        self._inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self._inner.export([scrub(s) for s in spans])

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


_provider: TracerProvider | None = None


@contextlib.contextmanager
def tracing(
    settings: Settings, service: str, exporter: SpanExporter | None = None
) -> Iterator[TracerProvider | None]:
    """The process's tracer provider for the block, when tracing is on (or `exporter` is given,
    as tests do); its spans are flushed on leaving. `service` names the process in the traces
    unless `OTEL_SERVICE_NAME` does."""
    global _provider
    endpoint = traces_endpoint(settings)
    if exporter is None and endpoint is None:
        yield None
        return
    resource = Resource.create({SERVICE_NAME: settings.otel_service_name or service})
    provider = TracerProvider(resource=resource)
    if exporter is None:
        protocol = settings.otel_exporter_otlp_protocol or "http/protobuf"
        if protocol != "http/protobuf":
            raise TracingSettingsError(
                f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol}: only http/protobuf is supported "
                "(collectors and Jaeger take it on port 4318)"
            )
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(
            BatchSpanProcessor(ScrubbingExporter(OTLPSpanExporter(endpoint=endpoint)))
        )
    else:  # a test's: exported as each span ends
        provider.add_span_processor(SimpleSpanProcessor(ScrubbingExporter(exporter)))
    previous, _provider = _provider, provider
    try:
        yield provider
    finally:
        _provider = previous
        provider.shutdown()


def tracer() -> trace.Tracer:
    """The process's tracer; a no-op one while tracing is off."""
    return _provider.get_tracer(TRACER_NAME) if _provider else trace.NoOpTracer()


def client_interceptors() -> list[Interceptor]:
    """For `Client.connect`: the SDK's tracing interceptor while tracing is on (a worker built
    on the client inherits it), none otherwise."""
    if _provider is None:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor(_provider.get_tracer(TRACER_NAME))]


def command_span(noun: str, verb: str) -> contextlib.AbstractContextManager[trace.Span]:
    """The root of a command's trace: `complaint open`, `client onboard`, …"""
    name = f"{noun} {verb}"
    return tracer().start_as_current_span(name, attributes={"client_care.command": name})


def projection_span(tables: Sequence[str]) -> contextlib.AbstractContextManager[trace.Span]:
    """A projection's write to the read models, inside its activity's span; the caller sets
    `client_care.projection.rows` once written."""
    return tracer().start_as_current_span(
        "projection write", attributes={"client_care.projection.tables": sorted(set(tables))}
    )


def failed(code: str) -> None:
    """Marks the current span failed with a code from ours (`rejected`, `usage`, …), never a
    message."""
    trace.get_current_span().set_status(trace.StatusCode.ERROR, code)
