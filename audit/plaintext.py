"""Payloads written without the codec, and the repair: reset the workflow to before them.

A payload sent past the data converter (e.g. `temporal workflow signal --input '{…}'` by hand)
is stored in clear, and the worker's codec refuses it (`PlaintextPayloadError`), so every later
workflow task of that workflow fails for good. So does ciphertext moved in from another workflow
or namespace (`PayloadPlaceError`: a signal or update whose payload names another place than
this workflow's, infra.codec); those are found and repaired the same way, by the place their
metadata names (no key needed; a forged place would fail authentication in the worker anyway).
`find` names such events (workflow id, event id, event type, signal or update name — never the
payload's content); `repair` resets the workflow to the last completed workflow task before the
first of them, with nothing reapplied, so the workflow runs on from there, and reports every
signal and update the reset dropped (the offending one and any sent after it, which their
senders must send again). A moved start input leaves no task to reset to: terminate the run.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from temporalio.api.common.v1 import Payload, WorkflowExecution
from temporalio.api.enums.v1 import EventType, ResetReapplyType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client

from infra.codec import EncryptionCodec, PayloadPlace
from infra.keys import KeyRingError
from infra.logging import get_logger

log = get_logger("audit.plaintext")

_MESSAGES = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: "signal",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: "update",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ADMITTED: "update",
}


@dataclass(frozen=True)
class Dropped:
    event_id: int
    kind: str
    name: str
    plaintext: bool
    moved: bool = False
    """Its payload is bound to another workflow or namespace."""

    def as_json(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "kind": self.kind, "name": self.name,
                "plaintext": self.plaintext, "moved": self.moved}  # fmt: skip


@dataclass
class Repair:
    workflow_id: str
    run_id: str
    reset_to_event: int = 0
    new_run_id: str | None = None
    dropped: list[Dropped] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "workflow_id": self.workflow_id,
            "run_id": self.run_id,
            "reset_to_event": self.reset_to_event,
            "new_run_id": self.new_run_id,
            "dropped": [d.as_json() for d in self.dropped],
        }


def _payloads(event: HistoryEvent) -> list[Payload]:
    """The payloads a sender wrote: a signal's or an update's arguments. (Search attributes are
    plain by design; what workflows and activities write goes through the converter.)"""
    if event.HasField("workflow_execution_signaled_event_attributes"):
        return list(event.workflow_execution_signaled_event_attributes.input.payloads)
    if event.HasField("workflow_execution_update_accepted_event_attributes"):
        attrs = event.workflow_execution_update_accepted_event_attributes
        return list(attrs.accepted_request.input.args.payloads)
    if event.HasField("workflow_execution_update_admitted_event_attributes"):
        return list(
            event.workflow_execution_update_admitted_event_attributes.request.input.args.payloads
        )
    return []


def _name(event: HistoryEvent) -> str:
    if event.HasField("workflow_execution_signaled_event_attributes"):
        return event.workflow_execution_signaled_event_attributes.signal_name
    if event.HasField("workflow_execution_update_accepted_event_attributes"):
        return event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
    if event.HasField("workflow_execution_update_admitted_event_attributes"):
        return event.workflow_execution_update_admitted_event_attributes.request.input.name
    return ""


def is_plaintext(event: HistoryEvent) -> bool:
    return any(not EncryptionCodec.is_encrypted(p) for p in _payloads(event))


def is_moved(event: HistoryEvent, place: PayloadPlace) -> bool:
    """Whether a sender's payload names a place that a codec bound to `place` refuses."""
    for payload in _payloads(event):
        if not EncryptionCodec.is_encrypted(payload):
            continue
        try:
            named = EncryptionCodec.place_of(payload)
        except KeyRingError:
            return True  # a malformed context: refused by the worker too
        if named is not None and not place.admits(named):
            return True
    return False


def _refused(event: HistoryEvent, place: PayloadPlace) -> bool:
    return is_plaintext(event) or is_moved(event, place)


async def _events(client: Client, workflow_id: str) -> tuple[str, list[HistoryEvent]]:
    handle = client.get_workflow_handle(workflow_id)
    run_id = (await handle.describe()).run_id
    events = [e async for e in client.get_workflow_handle(workflow_id, run_id=run_id)
              .fetch_history_events()]  # fmt: skip
    return run_id, events


async def find(client: Client, workflow_id: str) -> list[Dropped]:
    """The current run's events that carry a payload in clear; each is logged by ids only."""
    run_id, events = await _events(client, workflow_id)
    place = PayloadPlace(client.namespace, workflow_id)
    found = [
        Dropped(
            e.event_id,
            _MESSAGES.get(e.event_type, EventType.Name(e.event_type)),
            _name(e),
            is_plaintext(e),
            is_moved(e, place),
        )
        for e in events
        if _refused(e, place)
    ]
    for d in found:
        log.warning(
            "payload written without the codec" if d.plaintext else "payload of another place",
            workflow_id=workflow_id,
            run_id=run_id,
            event_id=d.event_id,
            kind=d.kind,
        )
    return found


async def repair(client: Client, workflow_id: str, reason: str) -> Repair:
    """Resets to the last completed workflow task before the first plaintext (or moved) event."""
    run_id, events = await _events(client, workflow_id)
    place = PayloadPlace(client.namespace, workflow_id)
    report = Repair(workflow_id=workflow_id, run_id=run_id)
    first = next((e.event_id for e in events if _refused(e, place)), None)
    if first is None:
        return report
    completed = [
        e.event_id
        for e in events
        if e.event_id < first and e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    ]
    if not completed:
        raise ValueError(f"{workflow_id}: no completed workflow task before event {first}")
    report.reset_to_event = completed[-1]
    report.dropped = [
        Dropped(e.event_id, _MESSAGES[e.event_type], _name(e), is_plaintext(e), is_moved(e, place))
        for e in events
        if e.event_id > report.reset_to_event and e.event_type in _MESSAGES
    ]
    answer = await client.workflow_service.reset_workflow_execution(
        ResetWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
            reason=reason,
            workflow_task_finish_event_id=report.reset_to_event,
            request_id=str(uuid.uuid4()),
            # Reapplying would bring the plaintext signal back: nothing after the point is.
            reset_reapply_type=ResetReapplyType.RESET_REAPPLY_TYPE_NONE,
        )
    )
    report.new_run_id = answer.run_id
    log.warning(
        "workflow reset past a plaintext payload",
        workflow_id=workflow_id,
        run_id=run_id,
        new_run_id=answer.run_id,
        reset_to_event=report.reset_to_event,
        dropped=len(report.dropped),
    )
    return report
