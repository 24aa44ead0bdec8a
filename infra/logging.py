"""structlog set up once: console when interactive, JSON otherwise; stdlib records too."""

from __future__ import annotations

import atexit
import contextlib
import gc
import logging
import os
import sys
import time
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from temporalio.runtime import PrometheusConfig

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


@contextlib.contextmanager
def core_runtime(level: str = "WARN", metrics: PrometheusConfig | None = None) -> Iterator[None]:
    """The SDK's core runtime for one process: its Rust logs forwarded into stdlib logging (by
    default they go to stdout, where starter and auditor print JSON) so they share the renderer
    and the masking; with `metrics` (`infra.metrics.prometheus`) it serves Prometheus metrics
    too. It is the SDK's default runtime inside the block (`Runtime.default()`), so every client,
    worker, replayer and test server of the process runs on it.

    It is torn down on leaving the block, while the interpreter is still whole. Its Tokio threads
    call into Python (each batch of core logs, each RPC's result), and one still running when the
    interpreter finalises aborts the process (`Fatal Python error: PyGILState_Release ... runtime
    state: finalizing`, SIGABRT, temporalio/sdk-python#300) after the command's answer was
    printed, forwarding or not. Clients made inside the block must be gone when it ends (they
    hold the runtime); `asyncio.run` returning is enough.
    """
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
    Runtime.set_default(runtime, error_if_already_set=False)
    try:
        yield
    finally:
        # Core hands logs over in batches at most 10 ms old: let the last one arrive, with room
        # for a busy machine.
        time.sleep(0.1)
        left = weakref.ref(runtime)
        del runtime
        # The SDK has no call to drop its default; setting none is what its lazy getter reads
        # as unset. The last reference gone, the core runtime stops and joins its threads.
        Runtime.set_default(None, error_if_already_set=False)  # type: ignore[arg-type]
        gc.collect()
        if left() is not None:
            get_logger("infra.logging").warning(
                "the Temporal core runtime is still referenced at exit; the process may abort"
            )


def core_runtime_until_exit(level: str = "WARN") -> None:
    """`core_runtime` for a process whose end is not ours to wrap (a process pool's workers):
    torn down by `atexit`, which runs before the interpreter starts finalising. What holds the
    runtime (replayers, clients) must be let go by an `atexit` handler registered after this one
    (they run last in, first out)."""
    stack = contextlib.ExitStack()
    stack.enter_context(core_runtime(level))
    atexit.register(stack.close)
