"""One line per history event for people: what happened, in the terms of the event type.

Events refer back to earlier ones by id (a completion to its scheduling, a fired timer to its
start), so the formatters keep per-run references to name things where they are concluded.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

_TEXT_VALUE_LIMIT = 240


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _TEXT_VALUE_LIMIT else text[: _TEXT_VALUE_LIMIT - 1] + "…"


def _args(value: Any) -> str:
    """A payload list as `a, b`, one value unwrapped."""
    if isinstance(value, list):
        return ", ".join(_short(v) for v in value)
    return _short(value) if value not in (None, {}) else ""


@dataclass
class RunRefs:
    """What later events refer back to by event id."""

    activities: dict[int, str] = field(default_factory=dict)
    attempts: dict[int, int] = field(default_factory=dict)
    updates: dict[str, str] = field(default_factory=dict)
    timers: dict[int, str] = field(default_factory=dict)
    children: dict[int, str] = field(default_factory=dict)


def _failure(attrs: dict[str, Any]) -> str:
    failure = attrs.get("failure") or {}
    kind = (failure.get("application_failure_info") or {}).get("type")
    message = failure.get("message", "")
    return f"{kind}: {message}" if kind else str(message)


Headline = Callable[[RunRefs, int, dict[str, Any], str | None], str]


def _started(r: RunRefs, i: int, a: dict[str, Any], s: str | None) -> str:
    head = f"{a['workflow_type']['name']} started on {a.get('task_queue', {}).get('name', '?')}"
    if a.get("continued_execution_run_id"):
        head += f", continuing run {a['continued_execution_run_id']}"
    return f"{head}: {_args(a.get('input'))}"


def _scheduled(r: RunRefs, i: int, a: dict[str, Any], s: str | None) -> str:
    r.activities[i] = a["activity_type"]["name"]
    return f"activity {r.activities[i]}: {_args(a.get('input'))}"


def _attempt(r: RunRefs, i: int, a: dict[str, Any], s: str | None) -> str:
    r.attempts[int(a.get("scheduled_event_id", 0))] = int(a.get("attempt", 1))
    return f"attempt {a.get('attempt', 1)}"


def _activity(verb: str) -> Headline:
    def headline(r: RunRefs, i: int, a: dict[str, Any], s: str | None) -> str:
        scheduled = int(a.get("scheduled_event_id", 0))
        name = r.activities.get(scheduled, "?")
        attempts = r.attempts.get(scheduled, 1)
        if attempts > 1:
            name += f" (attempt {attempts})"
        if verb == "completed":
            return f"activity {name} completed: {_args(a.get('result'))}"
        return f"activity {name} {verb}: {_failure(a)}"

    return headline


def _accepted(r: RunRefs, i: int, a: dict[str, Any], s: str | None) -> str:
    request = a.get("accepted_request", {})
    name = request.get("input", {}).get("name", "?")
    r.updates[request.get("meta", {}).get("update_id", "")] = name
    return f"update {name} accepted: {_args(request.get('input', {}).get('args'))}"


def _update_done(r: RunRefs, i: int, a: dict[str, Any], s: str | None) -> str:
    name = r.updates.get(a.get("meta", {}).get("update_id", ""), "?")
    outcome = a.get("outcome", {})
    if "failure" in outcome:
        return f"update {name} refused: {_failure(outcome)}"
    return f"update {name} decided: {_args(outcome.get('success'))}"


def _duration(text: Any) -> str:
    """`"233501.682487s"` (protobuf JSON) as `2 days, 16:51:42`."""
    try:
        seconds = round(float(str(text).rstrip("s")))
    except ValueError:
        return str(text)
    return str(timedelta(seconds=seconds))


def _timer(r: RunRefs, i: int, a: dict[str, Any], s: str | None) -> str:
    r.timers[i] = s or f"timer {a['timer_id']}"
    return f"timer set for {_duration(a.get('start_to_fire_timeout'))}: {r.timers[i]}"


def _timer_end(verb: str) -> Headline:
    def headline(r: RunRefs, i: int, a: dict[str, Any], s: str | None) -> str:
        return f"timer {verb}: {r.timers.get(int(a.get('started_event_id', 0)), a.get('timer_id'))}"

    return headline


def _child(r: RunRefs, i: int, a: dict[str, Any], s: str | None) -> str:
    r.children[i] = f"{a['workflow_type']['name']} {a['workflow_id']}"
    return f"child {r.children[i]} requested: {_args(a.get('input'))}"


def _child_end(verb: str) -> Headline:
    def headline(r: RunRefs, i: int, a: dict[str, Any], s: str | None) -> str:
        child = r.children.get(int(a.get("initiated_event_id", 0)), "?")
        detail = _args(a.get("result")) if verb == "completed" else _failure(a)
        return f"child {child} {verb}: {detail}"

    return headline


def _generic(r: RunRefs, i: int, a: dict[str, Any], s: str | None) -> str:
    return _args(a)


HEADLINES: dict[str, Headline] = {
    "WorkflowExecutionStarted": _started,
    "ActivityTaskScheduled": _scheduled,
    "ActivityTaskStarted": _attempt,
    "ActivityTaskCompleted": _activity("completed"),
    "ActivityTaskFailed": _activity("failed"),
    "ActivityTaskTimedOut": _activity("timed out"),
    "ActivityTaskCanceled": _activity("canceled"),
    "ActivityTaskCancelRequested": _activity("cancel requested"),
    "WorkflowExecutionUpdateAccepted": _accepted,
    "WorkflowExecutionUpdateCompleted": _update_done,
    "TimerStarted": _timer,
    "TimerFired": _timer_end("fired"),
    "TimerCanceled": _timer_end("canceled"),
    "StartChildWorkflowExecutionInitiated": _child,
    "ChildWorkflowExecutionCompleted": _child_end("completed"),
    "ChildWorkflowExecutionFailed": _child_end("failed"),
    "WorkflowExecutionSignaled": lambda r, i, a, s: (
        f"signal {a['signal_name']}: " + _args(a.get("input"))
    ),
    "WorkflowExecutionCompleted": lambda r, i, a, s: f"completed: {_args(a.get('result'))}",
    "WorkflowExecutionFailed": lambda r, i, a, s: f"failed: {_failure(a)}",
    "WorkflowExecutionContinuedAsNew": lambda r, i, a, s: (
        "continued as new in run " + a.get("new_execution_run_id", "?")
    ),
    "WorkflowExecutionTerminated": lambda r, i, a, s: f"terminated: {a.get('reason', '')}",
    "WorkflowExecutionCancelRequested": lambda r, i, a, s: (
        "cancel requested: " + a.get("cause", "")
    ),
    "WorkflowTaskFailed": lambda r, i, a, s: (
        f"workflow task failed ({a.get('cause')}): " + _failure(a)
    ),
    "MarkerRecorded": lambda r, i, a, s: (
        f"marker {a.get('marker_name')}: " + _args(a.get("details"))
    ),
    "UpsertWorkflowSearchAttributes": lambda r, i, a, s: (
        "search attributes: " + _args(a.get("search_attributes", {}).get("indexed_fields"))
    ),
    "WorkflowPropertiesModified": lambda r, i, a, s: (
        "memo: " + _args(a.get("upserted_memo", {}).get("fields"))
    ),
}


def headline(refs: RunRefs, kind: str, event_id: int, attrs: dict[str, Any], summary: Any) -> str:
    """`kind` is the event type's name (`TimerFired`); `attrs` its decoded attributes."""
    text = HEADLINES.get(kind, _generic)(refs, event_id, attrs, summary)
    return text.removesuffix(": ")
