"""structlog set up once: console when interactive, JSON otherwise; stdlib records too."""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from temporalio.runtime import PrometheusConfig, Runtime

from infra.redact import redact_processor

_configured = False


def configure_logging(level: int = logging.INFO, fmt: str | None = None) -> None:
    """Temporal's workflow.logger/activity.logger are stdlib loggers, so stdlib records are sent
    through the same processors and renderer as structlog's own events."""
    global _configured
    if _configured:
        return
    _configured = True
    fmt = fmt or os.environ.get("LOG_FORMAT") or ("console" if sys.stderr.isatty() else "json")
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer() if fmt == "console" else structlog.processors.JSONRenderer()
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        redact_processor,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)  # type: ignore[no-any-return]


def forward_core_logs(level: str = "WARN", metrics: PrometheusConfig | None = None) -> Runtime:
    """The SDK's Rust core logs to stdout by default, where starter and auditor print JSON;
    forward its records into stdlib logging so they share the renderer (and the masking).
    With `metrics` (`infra.metrics.prometheus`), the same runtime serves Prometheus metrics."""
    from temporalio.runtime import (
        LogForwardingConfig,
        LoggingConfig,
        Runtime,
        TelemetryConfig,
        TelemetryFilter,
    )

    forward = LogForwardingConfig(logger=logging.getLogger("temporalio.core"))
    logs = LoggingConfig(TelemetryFilter(core_level=level, other_level=level), forward)
    runtime = Runtime(telemetry=TelemetryConfig(logging=logs, metrics=metrics))
    Runtime.set_default(runtime)
    return runtime
