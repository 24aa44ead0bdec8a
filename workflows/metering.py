"""Refused commands, counted: a worker interceptor around every update's validator and handler.

Workflow code cannot reach Prometheus, and must not: a counter bumped on every replay would
count a refusal again each time a worker rebuilds the workflow from its history. The workflow's
own meter (`workflow.metric_meter()`) drops what is recorded while replaying, and carries the
`namespace`, `task_queue` and `workflow_type` labels itself; this adds the update's name, the
refusal's kind (the `ApplicationError` type our code gives, a name from the code such as
`ComplaintRuleError` or `InvalidInput`) and where it was refused. No id, no message: a
message may echo what the caller sent.

Where: `validator` refuses before anything is recorded (the usual case); `handler` refuses an
accepted update whose rule no longer held when its turn came (`workflows.refusals.refusing`).
An update whose argument the payload converter cannot decode is rejected by the SDK before any
interceptor runs, and is not counted here (commands build their models before sending).
"""

from __future__ import annotations

import re
from typing import Any

from temporalio import workflow
from temporalio.common import MetricCounter
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    HandleUpdateInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

REFUSED_COMMANDS = "client_care_refused_commands"
"""Exported as `client_care_refused_commands_total` (the runtime adds `_total` to counters)."""

_KIND = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


def refusal_kind(err: BaseException) -> str:
    """A label value from the code's vocabulary only: an error type that is not a plain name
    (it never is, but a label must not be where that is assumed) is reported as `other`."""
    kind = (err.type if isinstance(err, ApplicationError) else None) or type(err).__name__
    return kind if _KIND.fullmatch(kind) else "other"


class RefusalCounter(Interceptor):
    """Give it to the worker (`interceptors=[RefusalCounter()]`)."""

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        return _CountingInbound


class _CountingInbound(WorkflowInboundInterceptor):
    _counter: MetricCounter | None = None

    def _count(self, update: str, err: BaseException, phase: str) -> None:
        if self._counter is None:
            self._counter = workflow.metric_meter().create_counter(
                REFUSED_COMMANDS, "updates refused, by update, refusal kind and phase"
            )
        self._counter.add(1, {"update": update, "kind": refusal_kind(err), "phase": phase})

    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        try:
            super().handle_update_validator(input)
        except Exception as err:  # whatever a validator raises rejects the update
            self._count(input.update, err, "validator")
            raise

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        try:
            return await super().handle_update_handler(input)
        except ApplicationError as err:  # anything else fails the task: not a refusal
            self._count(input.update, err, "handler")
            raise
