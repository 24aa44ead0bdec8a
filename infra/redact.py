"""The log masker: the last line of defence, run on every log event, ours or Temporal's.

A log event keeps a value only under a key on the allow-list `LOGGABLE_KEYS` (identifiers,
states, counts, the frameworks' bookkeeping), at every level of nesting: a name cannot be
recognised by its shape, and guessing which keys are personal (`clientName`, `姓名`,
`beneficiary_name`, pydantic's `input`) always misses one. Every string kept is masked for the
shapes of contact and identity numbers (`domain.personal_data.mask_text`). Free text that
merely mentions a name is out of reach of both; that is why personal data must never be logged.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import MutableMapping
from typing import Any

from domain.personal_data import REDACTED, is_empty, mask_nested

# Every key a log event may carry a value under. A key the code logs must be added here (a test
# scans the code's log calls), so what reaches the logs is a decision, never an accident.
LOGGABLE_KEYS = frozenset(
    {
        # structlog and stdlib bookkeeping
        "event", "level", "logger", "timestamp", "exception", "stack",
        # the SDK's `temporal_workflow` / `temporal_activity` extras and their fields
        "temporal_workflow", "temporal_activity", "namespace", "task_queue", "workflow_id",
        "run_id", "workflow_run_id", "workflow_type", "activity_id", "activity_type", "attempt",
        "update_id", "update_name",
        # ours: identifiers, states and counts
        "client_id", "complaint_id", "review_id", "period", "seq", "kind", "stage", "status",
        "tier", "via", "template", "channel", "purpose", "signal", "snapshots", "not_running",
        "error", "url", "cors_origin", "due", "signalled", "changes", "deployment_version",
        "hold",  # a retention hold's name in the policy (`privacy.holds`), e.g. aml
        # the plaintext repair's event ids and counts (audit.plaintext)
        "event_id", "new_run_id", "reset_to_event", "dropped", "sqlstate",
        # a refused plaintext payload's declared encoding (infra.codec.PlaintextAlarm)
        "encoding",
        # a refusal's message names fields and rules, never values (domain.refusals); a
        # `reason` is not here: commands carry free-text reasons written by staff
        "refusal",
        # pydantic's error dicts (their `input` and `ctx` echo the value, so they are not here)
        "errors", "type", "loc", "msg",
    }
)  # fmt: skip


def mask_log_value(key: str, value: Any, _depth: int = 0) -> Any:
    """In a log event: a value kept only under a key on `LOGGABLE_KEYS`, and shape-masked."""
    if key not in LOGGABLE_KEYS:
        return value if is_empty(value) else REDACTED
    return mask_nested(value, _depth, mask_log_value)


def _format_exc_info(exc_info: Any) -> str | None:
    if exc_info is True:
        exc_info = sys.exc_info()
    elif isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if not isinstance(exc_info, tuple) or len(exc_info) != 3 or exc_info[0] is None:
        return None
    return "".join(traceback.format_exception(*exc_info))


def redact_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: the last line of defence, run on every event, ours or Temporal's.

    A traceback is rendered and masked here rather than by a later renderer: exception messages
    often echo their input, and rich tracebacks would print local variables.
    """
    exc_info = event_dict.pop("exc_info", None)
    if exc_info:
        rendered = _format_exc_info(exc_info)
        if rendered:
            event_dict["exception"] = rendered
    for key in list(event_dict):
        if key.startswith("_"):  # structlog's bookkeeping (`_record`, `_from_structlog`)
            continue
        event_dict[key] = mask_log_value(key, event_dict[key])
    return event_dict
